"""The Oriel arc-lamp simulator, exercised through the real driver in virtual time."""

from __future__ import annotations

import pytest

from labctl.devices.drivers.oriel_lamp import (
    LampDeviceError,
    LampExecutionError,
    LampIdentity,
    LampMode,
    OrielLampDriver,
)
from labctl.devices.transports import GarbledReply, InProcessTransport, InstrumentNotResponding
from labctl.sim.instruments.oriel_lamp import GARBAGE, OrielLampSimulator

T0 = 1000.0


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> OrielLampSimulator:
    return OrielLampSimulator(clock)


@pytest.fixture
def transport(sim: OrielLampSimulator) -> InProcessTransport:
    return InProcessTransport("arc_lamp", sim, timeout=0.05, retries=1, backoff=0.01)


@pytest.fixture
def driver(transport: InProcessTransport) -> OrielLampDriver:
    return OrielLampDriver(transport)


async def ignite(driver: OrielLampDriver, clock: FakeClock) -> None:
    await driver.start()
    clock.advance(6.0)
    assert (await driver.status()).lamp_on


# -- identity and power-on ---------------------------------------------------------------------


async def test_identify(driver: OrielLampDriver) -> None:
    assert await driver.identify() == LampIdentity("Newport Corporation", "69907", "SIM0001", "1.0")


async def test_power_on_bit_only_in_first_esr_read(driver: OrielLampDriver) -> None:
    first = await driver.event_status()
    assert first.power_on and first.raw == 0x80
    assert (await driver.event_status()).raw == 0


async def test_power_on_bit_in_first_command_reply(driver: OrielLampDriver) -> None:
    await driver.lock_front_panel(True)
    assert driver.last_event_status is not None and driver.last_event_status.power_on
    await driver.lock_front_panel(False)
    assert not driver.last_event_status.power_on


async def test_power_up_state(driver: OrielLampDriver) -> None:
    status = await driver.status()
    assert status.raw == 0x21  # power mode, interlock OK, lamp off
    assert await driver.mode() is LampMode.POWER
    assert (await driver.power_preset(), await driver.power_limit()) == (300, 1000)
    assert (await driver.current_preset(), await driver.current_limit()) == (15.0, 25.0)
    assert (await driver.amps(), await driver.volts(), await driver.watts()) == (0.0, 0.0, 0.0)
    assert await driver.lamp_hours() == 120.0


# -- ignition, output, hours -------------------------------------------------------------------


async def test_ignition_timing(driver: OrielLampDriver, sim: OrielLampSimulator, clock: FakeClock) -> None:
    await driver.start()
    clock.advance(5.0)
    status = await driver.status()
    assert not status.lamp_on and not sim.is_lit()
    assert await driver.watts() == 0.0
    clock.advance(1.0)
    assert (await driver.status()).lamp_on and sim.is_lit()
    assert sim.events == [(T0 + 5.5, "on")]
    assert not sim.is_lit(T0 + 5.4)
    assert sim.is_lit(T0 + 5.5)
    assert (await driver.event_status()).operation_complete


async def test_start_while_lit_or_igniting_is_harmless(
    driver: OrielLampDriver, sim: OrielLampSimulator, clock: FakeClock
) -> None:
    await driver.start()
    clock.advance(3.0)
    await driver.start()  # does not restart the ignition
    clock.advance(2.6)
    assert sim.is_lit()
    await driver.start()
    assert sim.events == [(T0 + 5.5, "on")]


async def test_power_mode_output(driver: OrielLampDriver, sim: OrielLampSimulator, clock: FakeClock) -> None:
    await ignite(driver, clock)
    amps, volts, watts = await driver.amps(), await driver.volts(), await driver.watts()
    assert watts == 300.0
    assert (amps, volts) == (18.9, 15.9)  # 14 V + 0.1 Ω arc
    assert amps * volts == pytest.approx(watts, rel=0.01)
    assert sim.output_watts() == pytest.approx(300.0)
    assert not (await driver.status()).limit_reached


async def test_output_watts_tracks_preset(driver: OrielLampDriver, sim: OrielLampSimulator, clock: FakeClock) -> None:
    await ignite(driver, clock)
    t_change = clock.t
    await driver.set_power_preset(350)
    assert await driver.watts() == 350.0
    assert sim.output_watts() == pytest.approx(350.0)
    assert sim.output_watts(t_change - 0.1) == pytest.approx(300.0)
    assert sim.output_watts(T0 + 1.0) == 0.0
    clock.advance(10.0)
    await driver.stop()
    assert sim.output_watts() == 0.0
    expected = 300.0 * (t_change - (T0 + 5.5)) + 350.0 * 10.0
    assert sim.energy_joules(T0, clock.t + 100) == pytest.approx(expected)
    assert [t for t, _ in sim.power_steps] == [T0, T0 + 5.5, t_change, t_change + 10.0]


async def test_events_are_exact_between_polls(
    driver: OrielLampDriver, sim: OrielLampSimulator, clock: FakeClock
) -> None:
    await driver.start()
    assert sim.is_lit(T0 + 6.0)  # prediction, assuming no further command
    assert sim.output_watts(T0 + 6.0) == pytest.approx(300.0)
    clock.advance(100.0)  # no poll at ignition
    await driver.stop()
    assert sim.events == [(T0 + 5.5, "on"), (T0 + 100.0, "off")]
    assert sim.energy_joules(T0, T0 + 200.0) == pytest.approx(300.0 * 94.5)


async def test_current_mode_output(driver: OrielLampDriver, sim: OrielLampSimulator, clock: FakeClock) -> None:
    await driver.set_mode(LampMode.CURRENT)
    await driver.set_current_preset(20.0)
    assert await driver.mode() is LampMode.CURRENT
    await ignite(driver, clock)
    assert (await driver.amps(), await driver.volts(), await driver.watts()) == (
        20.0,
        16.0,
        320.0,
    )
    assert sim.output_watts() == pytest.approx(320.0)


async def test_limit_reached_clamps_current_in_power_mode(driver: OrielLampDriver, clock: FakeClock) -> None:
    await driver.set_current_limit(20.0)
    await driver.set_power_preset(400)  # would need 24.3 A
    await ignite(driver, clock)
    assert (await driver.status()).limit_reached
    assert (await driver.amps(), await driver.watts()) == (20.0, 320.0)


async def test_lamp_hours_accumulate_only_while_lit(
    driver: OrielLampDriver, sim: OrielLampSimulator, clock: FakeClock
) -> None:
    await driver.start()
    clock.advance(5.5 + 2 * 3600)
    assert await driver.lamp_hours() == 122.0
    await driver.stop()
    clock.advance(3600)
    assert await driver.lamp_hours() == 122.0
    assert sim.lamp_hours() == pytest.approx(122.0)
    assert sim.lamp_hours(T0 + 5.5 + 3600) == pytest.approx(121.0)


# -- refusals ----------------------------------------------------------------------------------


async def test_preset_above_limit_refused(driver: OrielLampDriver) -> None:
    await driver.set_power_limit(500)
    with pytest.raises(LampExecutionError, match=r"P-PRESET=0600 refused .*power limit 500 W"):
        await driver.set_power_preset(600)
    assert await driver.power_preset() == 300
    await driver.set_power_preset(500)  # equal to the limit is allowed
    with pytest.raises(LampExecutionError, match=r"current limit 25\.0 A"):
        await driver.set_current_preset(25.1)
    with pytest.raises(LampExecutionError, match=r"below the power preset 500 W"):
        await driver.set_power_limit(499)
    with pytest.raises(LampExecutionError, match=r"below the current preset 15\.0 A"):
        await driver.set_current_limit(14.9)
    assert (await driver.power_limit(), await driver.current_limit()) == (500, 25.0)


async def test_mode_change_with_lamp_on_refused(driver: OrielLampDriver, clock: FakeClock) -> None:
    await driver.start()
    with pytest.raises(LampExecutionError, match=r"MODE=1 refused .*lamp off"):
        await driver.set_mode(LampMode.CURRENT)  # igniting
    clock.advance(6.0)
    with pytest.raises(LampExecutionError, match=r"MODE=1 refused"):
        await driver.set_mode(LampMode.CURRENT)  # lit
    await driver.stop()
    await driver.set_mode(LampMode.CURRENT)
    assert await driver.mode() is LampMode.CURRENT


async def test_interlock_open_turns_lamp_off_and_blocks_start(
    driver: OrielLampDriver, sim: OrielLampSimulator, clock: FakeClock
) -> None:
    await ignite(driver, clock)
    sim.open_interlock(True)
    status = await driver.status()
    assert not status.lamp_on and not status.interlock_ok
    assert sim.events[-1] == (clock.t, "off")
    with pytest.raises(LampExecutionError, match=r"START refused .*interlock is open"):
        await driver.start()
    sim.open_interlock(False)
    assert not sim.is_lit()
    await ignite(driver, clock)


async def test_lamp_failure_sets_fault_until_reset(
    driver: OrielLampDriver, sim: OrielLampSimulator, clock: FakeClock
) -> None:
    await ignite(driver, clock)
    sim.fail_lamp()  # ESR 0x19: device error + operation complete (the ignition)
    status = await driver.status()
    assert status.fault and not status.lamp_on
    with pytest.raises(LampExecutionError, match=r"START refused \(ESR 0x19, .*fault is latched"):
        await driver.start()
    await driver.reset()
    assert (await driver.status()).fault  # cleared when the reset completes
    with pytest.raises(LampExecutionError, match="START refused"):
        await driver.start()  # busy resetting
    clock.advance(5.0)
    assert not (await driver.status()).fault
    assert (await driver.event_status()).operation_complete
    await ignite(driver, clock)


async def test_lamp_failure_reported_as_device_error(
    driver: OrielLampDriver, sim: OrielLampSimulator, clock: FakeClock
) -> None:
    await ignite(driver, clock)
    assert (await driver.event_status()).operation_complete  # the ignition
    sim.fail_lamp()
    with pytest.raises(LampDeviceError, match=r"STOP answered .*ESR 0x08, device error"):
        await driver.stop()
    await driver.stop()  # the event register was cleared by the previous reply


async def test_reset_right_after_failure_does_not_raise(
    driver: OrielLampDriver, sim: OrielLampSimulator, clock: FakeClock
) -> None:
    await ignite(driver, clock)
    sim.fail_lamp()
    await driver.reset()
    assert driver.last_event_status is not None and driver.last_event_status.device_error
    clock.advance(5.0)
    assert not sim.fault


async def test_reset_keeps_settings(driver: OrielLampDriver, clock: FakeClock) -> None:
    await driver.set_power_preset(250)
    await driver.lock_front_panel(True)
    await driver.reset()
    clock.advance(5.0)
    assert await driver.power_preset() == 250
    assert (await driver.status()).front_panel_locked


# -- faults on demand --------------------------------------------------------------------------


async def test_silence_not_responding(driver: OrielLampDriver, sim: OrielLampSimulator) -> None:
    sim.inject_silence(True)
    with pytest.raises(InstrumentNotResponding, match=r"arc_lamp at inprocess://OrielLampSimulator .*'STB\?'"):
        await driver.status()
    sim.inject_silence(False)
    assert (await driver.status()).interlock_ok


async def test_garbage_garbled(driver: OrielLampDriver, sim: OrielLampSimulator) -> None:
    sim.inject_garbage(True)
    with pytest.raises(GarbledReply, match="arc_lamp"):
        await driver.amps()
    with pytest.raises(GarbledReply):
        await driver.lock_front_panel(True)  # carried out, but the reply is garbage
    assert sim.front_panel_locked
    sim.inject_garbage(False)
    assert (await driver.status()).front_panel_locked


async def test_dropped_connection_recovers_by_retry(driver: OrielLampDriver, sim: OrielLampSimulator) -> None:
    sim.drop_connection(1)
    assert await driver.power_preset() == 300


async def test_connection_dropped_too_often(driver: OrielLampDriver, sim: OrielLampSimulator) -> None:
    sim.drop_connection(2)  # the transport tries twice
    with pytest.raises(InstrumentNotResponding, match="ConnectionDropped"):
        await driver.status()
    assert (await driver.status()).interlock_ok


# -- raw protocol --------------------------------------------------------------------------------


async def test_unknown_command_and_query(transport: InProcessTransport) -> None:
    assert await transport.query("FOO") == "ESRA0"  # command error + power on
    assert await transport.query("FOO?") == "ESR04"
    assert await transport.query("P-PRESET=300") == "ESR20"  # four digits required
    assert await transport.query("A-PRESET=12") == "ESR20"  # one decimal required
    assert await transport.query("start") == "ESR20"  # case sensitive
    assert await transport.query("P-PRESET=0300") == "ESR00"


def test_partial_and_batched_input(sim: OrielLampSimulator) -> None:
    assert sim.handle(b"STB") == b""
    assert sim.handle(b"?\rP-PRESET?\r\rWATTS?\r") == b"STB21\r0300\r0\r"
    assert sim.handle(b"\xff\r") == b"ESRA0\r"
    assert sim.handle(b"IDN?\r") == b"Newport Corporation,69907,SIM0001,1.0\r"


def test_garbage_bytes(sim: OrielLampSimulator) -> None:
    sim.inject_garbage(True)
    assert sim.handle(b"STB?\rAMPS?\r") == GARBAGE * 2


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="power preset"):
        OrielLampSimulator(lambda: 0.0, power_preset=600, power_limit=500)
    with pytest.raises(ValueError, match="current preset"):
        OrielLampSimulator(lambda: 0.0, current_preset=30.0)
