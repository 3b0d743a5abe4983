"""ArcLamp device against its protocol simulator (the real driver over an in-process transport)."""

from __future__ import annotations

import asyncio

import pytest
from ophyd_async.core import init_devices

from labctl.devices.drivers.oriel_lamp import OrielLampDriver
from labctl.devices.lamp import ArcLamp, LampIgnitionError, LampLimitError, LampState
from labctl.devices.transports import InProcessTransport
from labctl.sim.instruments.oriel_lamp import OrielLampSimulator


@pytest.fixture
async def lamp_and_sim():
    sim = OrielLampSimulator(asyncio.get_running_loop().time)
    async with init_devices():
        lamp = ArcLamp(
            OrielLampDriver(InProcessTransport("lamp", sim)), max_power_w=500, max_current_a=20, ignition_timeout_s=10
        )
    return lamp, sim


async def test_set_on_completes_only_when_the_arc_is_lit(lamp_and_sim):
    lamp, sim = lamp_and_sim
    loop = asyncio.get_running_loop()
    await lamp.power.set(300)
    t0 = loop.time()
    await lamp.set(LampState.ON)
    # The arc strikes 5.5 s after START and set() polls STB every 0.5 s: it completes at the poll
    # 5.5 s after START.  The virtual clock also counts the wall time the loop spends working
    # between timers (under 1 ms over these polls here); 0.1 s allows a loaded machine and still
    # tells 5.5 s from a poll early (5.0 s) or late (6.0 s).
    assert loop.time() - t0 == pytest.approx(5.5, abs=0.1)
    assert sim.is_lit() and await lamp.lit.get_value()
    reading = await lamp.read()
    assert reading["lamp-watts"]["value"] == pytest.approx(300)
    await lamp.set(LampState.OFF)
    assert not sim.is_lit()


async def test_power_above_the_bench_limit_is_refused_before_anything_is_sent(lamp_and_sim):
    lamp, sim = lamp_and_sim
    before = sim.power_preset
    with pytest.raises(LampLimitError, match=r"power 600 W is above the bench limit of 500 W"):
        await lamp.power.set(600)
    assert sim.power_preset == before


async def test_open_interlock_refuses_ignition(lamp_and_sim):
    lamp, sim = lamp_and_sim
    sim.open_interlock(True)
    with pytest.raises(LampIgnitionError, match="interlock open"):
        await lamp.set(LampState.ON)
    assert not sim.is_lit()


async def test_check_safe_reports_a_supply_fault(lamp_and_sim):
    lamp, sim = lamp_and_sim
    await lamp.set(LampState.ON)
    assert await lamp.check_safe() is None
    sim.fail_lamp()
    assert await lamp.check_safe() == "lamp: supply fault"
    await lamp.set(LampState.OFF)  # a faulted supply still lets the lamp be confirmed off


async def test_check_safe_reports_an_arc_that_went_out_without_a_fault_bit(lamp_and_sim):
    lamp, _sim = lamp_and_sim
    await lamp.set(LampState.ON)
    await lamp.driver.stop()  # STOP from elsewhere (the front panel): dark, no fault bit, interlock closed
    status = await lamp.status()
    assert (status.lamp_on, status.fault, status.interlock_ok) == (False, False, True)
    assert await lamp.check_safe() == "lamp: lamp went out while it should be lit"
    await lamp.set(LampState.OFF)
    assert await lamp.check_safe() is None  # dark as expected


async def test_describe_carries_units(lamp_and_sim):
    lamp, _ = lamp_and_sim
    desc = await lamp.describe()
    assert desc["lamp-watts"]["units"] == "W" and desc["lamp-amps"]["units"] == "A"
    cfg = await lamp.describe_configuration()
    assert cfg["lamp-power"]["units"] == "W"


async def test_current_mode_setpoint_and_its_limit(lamp_and_sim):
    lamp, sim = lamp_and_sim
    with pytest.raises(LampLimitError, match=r"current 21 A is above the bench limit of 20 A"):
        await lamp.current.set(21)
    await lamp.current.set(15.5)
    assert not sim.power_mode and sim.current_preset == pytest.approx(15.5)
    assert await lamp.power_mode.get_value() is False
    await lamp.set(LampState.ON)
    assert (await lamp.amps.get_value()) == pytest.approx(15.5)
    await lamp.set(LampState.OFF)
    await lamp.power.set(200)
    assert sim.power_mode and await lamp.power_mode.get_value()


async def test_identity_reads_as_one_line_of_text(lamp_and_sim):
    lamp, _sim = lamp_and_sim
    assert await lamp.identity.get_value() == "Newport Corporation 69907 SN SIM0001 fw 1.0"


async def test_a_monitored_and_staged_lamp_reads_its_supply_on_every_read(lamp_and_sim):
    """``bps.monitor(lamp.watts)`` polls watts once a minute; events must not carry that poll's value."""
    lamp, _sim = lamp_and_sim
    await lamp.stage()
    polled: list[float] = []
    lamp.watts.subscribe_reading(lambda r: polled.append(r["lamp-watts"]["value"]))
    try:
        await lamp.power.set(300)
        await lamp.set(LampState.ON)
        on = await lamp.read()
        await lamp.set(LampState.OFF)
        off = await lamp.read()
    finally:
        await lamp.unstage()
    values = ("lamp-watts", "lamp-amps", "lamp-volts", "lamp-lit")
    assert [on[k]["value"] for k in values] == [300.0, 18.9, 15.9, True]
    assert [off[k]["value"] for k in values] == [0.0, 0.0, 0.0, False]
    assert polled == [0.0, 300.0, 0.0]  # the monitor saw the subscription's first value, then each read


async def test_one_read_asks_the_status_byte_once_and_the_next_read_asks_again(lamp_and_sim):
    lamp, sim = lamp_and_sim
    asked: list[float] = []
    real_status = lamp.driver.status

    async def counting_status():
        asked.append(asyncio.get_running_loop().time())
        return await real_status()

    lamp.driver.status = counting_status
    first = await lamp.read()
    assert len(asked) == 1  # lit, interlock_ok and fault share one STB? exchange
    sim.open_interlock(True)  # no time passes: a status cache of any age would hide this
    second = await lamp.read()
    assert len(asked) == 2
    assert (first["lamp-interlock_ok"]["value"], second["lamp-interlock_ok"]["value"]) == (True, False)
