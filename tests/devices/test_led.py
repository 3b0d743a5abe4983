"""LedSource device against the DC2200 simulator (the real driver over an in-process transport)."""

from __future__ import annotations

import asyncio

import bluesky.plan_stubs as bps
import pytest
from bluesky.run_engine import RunEngine
from ophyd_async.core import init_devices

from labctl.devices.drivers.dc2200 import DC2200Driver
from labctl.devices.lamp import LampIgnitionError, LampLimitError, LampState
from labctl.devices.led import LedSource
from labctl.devices.transports import InProcessTransport
from labctl.sim.instruments.dc2200 import DC2200Simulator

# The bench's calibration of the head: what a power meter gives (here the simulator's own curve).
CALIBRATION = [(0.0, 0.0), (0.25, 0.2166), (0.5, 0.4163), (0.75, 0.5991), (1.0, 0.765)]


async def make(sim: DC2200Simulator, **kwargs: float) -> LedSource:
    async with init_devices():
        led = LedSource(
            DC2200Driver(InProcessTransport("led", sim)),
            wavelength_nm=420.0,
            max_current_a=kwargs.pop("max_current_a", 0.8),
            calibration=CALIBRATION,
            **kwargs,
        )
    return led


@pytest.fixture
async def led_and_sim() -> tuple[LedSource, DC2200Simulator]:
    sim = DC2200Simulator(asyncio.get_running_loop().time)
    return await make(sim), sim


async def test_on_and_off(led_and_sim: tuple[LedSource, DC2200Simulator]) -> None:
    led, sim = led_and_sim
    await led.current.set(0.5)
    await led.set(LampState.ON)
    assert led.expect_on and sim.output_on and sim.is_lit()
    assert await led.lit.get_value()
    reading = await led.read()
    assert reading["led-applied_current"]["value"] == pytest.approx(0.5)
    assert reading["led-optical_power"]["value"] == pytest.approx(0.4163)
    assert await led.check_safe() is None
    await led.set("Off")
    assert not led.expect_on and not sim.output_on and not sim.is_lit()
    assert await led.lit.get_value() is False


async def test_a_staged_and_monitored_led_reads_the_instrument_on_every_read(
    led_and_sim: tuple[LedSource, DC2200Simulator],
) -> None:
    led, _sim = led_and_sim
    await led.stage()
    led.applied_current.subscribe_reading(lambda r: None)
    try:
        await led.current.set(0.5)
        await led.set(LampState.ON)
        on = await led.read()
        await led.set(LampState.OFF)
        off = await led.read()
    finally:
        await led.unstage()
    values = ("led-applied_current", "led-optical_power", "led-lit")
    assert [on[k]["value"] for k in values] == [0.5, 0.4163, True]  # 0.5 A is a calibration point
    assert [off[k]["value"] for k in values] == [0.0, 0.0, False]


async def test_on_switches_to_constant_current_mode(led_and_sim: tuple[LedSource, DC2200Simulator]) -> None:
    led, sim = led_and_sim
    driver = led.driver
    await driver.set_mode("CB")
    await driver.set_brightness(30)
    await driver.set_output(True)
    await led.current.set(0.2)
    await led.set(LampState.ON)
    assert sim.mode == "CC" and sim.applied_current == pytest.approx(0.2)


async def test_current_above_the_head_limit_is_refused_before_anything_is_written(
    led_and_sim: tuple[LedSource, DC2200Simulator],
) -> None:
    led, sim = led_and_sim
    sim.received.clear()
    with pytest.raises(LampLimitError, match=r"current 0.9 A is above the LED head limit of 0.8 A.*bench file"):
        await led.current.set(0.9)
    with pytest.raises(LampLimitError, match=r"current -0.1 A is negative"):
        led.check_current(-0.1)
    assert sim.received == []
    assert sim.current_setpoint == 0.0


async def test_on_refuses_a_setpoint_left_above_the_bench_limit(
    led_and_sim: tuple[LedSource, DC2200Simulator],
) -> None:
    led, sim = led_and_sim
    await led.driver.set_current(0.95)  # behind the device's back, below the head's own maximum
    with pytest.raises(LampLimitError, match=r"0\.95 A"):
        await led.set(LampState.ON)
    assert not sim.output_on


async def test_optical_power_from_the_calibration_table(led_and_sim: tuple[LedSource, DC2200Simulator]) -> None:
    led, sim = led_and_sim
    assert led.optical_power_for(0.0) == 0.0
    assert led.optical_power_for(0.375) == pytest.approx((0.2166 + 0.4163) / 2)
    assert led.optical_power_for(2.0) == pytest.approx(0.765)  # clamped to the table
    for amps, watts in CALIBRATION:
        assert sim.calibrated_output_w(amps) == pytest.approx(watts, abs=1e-4)
    assert await led.optical_power.get_value() == 0.0  # output off


async def test_describe_carries_units_and_configuration(led_and_sim: tuple[LedSource, DC2200Simulator]) -> None:
    led, _ = led_and_sim
    desc = await led.describe()
    assert desc["led-applied_current"]["units"] == "A" and desc["led-optical_power"]["units"] == "W"
    cfg = await led.read_configuration()
    assert cfg["led-wavelength"]["value"] == 420.0
    assert cfg["led-current_limit"]["value"] == 1.0
    assert cfg["led-identity"]["value"].startswith("Thorlabs,DC2200,")
    assert (await led.describe_configuration())["led-current"]["units"] == "A"
    assert led.hints == {"fields": ["led-applied_current"]}


async def test_check_safe_when_the_head_opens(led_and_sim: tuple[LedSource, DC2200Simulator]) -> None:
    led, sim = led_and_sim
    await led.current.set(0.5)
    await led.set(LampState.ON)
    sim.open_head(True)
    why = await led.check_safe() or ""
    assert "output went off while the LED should be lit" in why
    assert '-300,"Device-specific error;LED head open"' in why
    with pytest.raises(LampIgnitionError, match=r"refused to switch the LED on at 0.5 A: -300"):
        await led.set(LampState.ON)
    await led.set(LampState.OFF)
    assert await led.check_safe() is None


async def test_check_safe_reports_an_instrument_error(led_and_sim: tuple[LedSource, DC2200Simulator]) -> None:
    led, sim = led_and_sim
    sim.inject_error(-310, "System error")
    assert await led.check_safe() == 'led: instrument error -310,"System error"'


async def test_set_on_waits_for_the_current_to_settle() -> None:
    loop = asyncio.get_running_loop()
    sim = DC2200Simulator(loop.time, settle_time_s=0.95)
    led = await make(sim)
    await led.current.set(0.4)
    t0 = loop.time()
    await led.set(LampState.ON)
    # The current reaches the setpoint 0.95 s after output on and set() polls every 0.1 s: done at
    # the first poll after that, 1.0 s after (virtual time is exact: it stands still between timers).
    assert loop.time() - t0 == pytest.approx(1.0, abs=1e-9)
    assert sim.applied_current == pytest.approx(0.4)


async def test_set_on_times_out_naming_setpoint_and_readback() -> None:
    loop = asyncio.get_running_loop()
    sim = DC2200Simulator(loop.time, settle_time_s=60.0)
    led = await make(sim, settle_timeout_s=2.0)
    await led.current.set(0.4)
    with pytest.raises(LampIgnitionError, match=r"applied current read 0 A, not the setpoint 0.4 A, 2 s after"):
        await led.set(LampState.ON)
    assert not sim.output_on and not led.expect_on


def test_in_a_run_engine() -> None:
    from labctl.clock import VirtualTimeLoop

    loop = VirtualTimeLoop()
    RE = RunEngine({}, loop=loop, context_managers=[], call_returns_result=True)
    try:
        sim = DC2200Simulator(loop.time)
        led = asyncio.run_coroutine_threadsafe(make(sim), loop).result(10)
        docs: list[tuple[str, dict]] = []

        times: dict[str, float] = {}

        def plan():  # type: ignore[no-untyped-def]
            yield from bps.mv(led.current, 0.3)
            yield from bps.open_run()
            times["before_on"] = loop.time()
            yield from bps.mv(led, LampState.ON)
            times["on"] = loop.time()
            yield from bps.trigger_and_read([led])
            yield from bps.sleep(30)
            times["before_off"] = loop.time()
            yield from bps.mv(led, LampState.OFF)
            times["off"] = loop.time()
            yield from bps.close_run()

        RE(plan(), lambda name, doc: docs.append((name, doc)))
        events = [doc for name, doc in docs if name == "event"]
        assert events[0]["data"]["led-applied_current"] == pytest.approx(0.3)
        assert events[0]["data"]["led-optical_power"] == pytest.approx(sim.calibrated_output_w(0.3), abs=3e-3)
        assert not sim.output_on
        energy = sim.energy_joules(0.0, loop.time() + 100)
        # Lit for the 30 s sleep plus the wall time the RunEngine spends between its messages, which
        # the virtual clock counts (~0.05 s here): bracketed by the loop times around the two moves.
        watts = sim.calibrated_output_w(0.3)
        assert times["before_off"] - times["on"] >= 30.0
        assert watts * (times["before_off"] - times["on"]) <= energy <= watts * (times["off"] - times["before_on"])
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread = getattr(RE, "_th", None)
        if thread is not None:
            thread.join(timeout=10)
        if not loop.is_running():
            loop.close()
