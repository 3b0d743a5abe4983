"""ParrReactor device against the pymodbus-served controller simulator (virtual time)."""

from __future__ import annotations

import asyncio

import pytest

from labctl.devices.drivers.parr4848 import ParrController
from labctl.devices.parr import HotVentError, ParrReactor, ReactorLimitError, ReactorSettleError
from labctl.sim.instruments.parr4848 import ParrControllerSimulator, ParrVessel, serve_parr


@pytest.fixture
async def parr():
    loop = asyncio.get_running_loop()
    vessel = ParrVessel(loop.time)
    sim = ParrControllerSimulator(loop.time, vessel)
    server = await serve_parr(sim)
    controller = ParrController("parr", server.url, timeout=1.0)
    await controller.connect()
    reactor = ParrReactor(
        controller, max_temperature_c=150, max_pressure_bar=30, settle_dwell_s=60, poll_s=5, name="parr"
    )
    await reactor.connect()
    yield reactor, sim, vessel
    await controller.close()
    await server.close()


async def test_temperature_set_completes_when_settled(parr):
    reactor, _sim, _ = parr
    loop = asyncio.get_running_loop()
    await reactor.heater.set(True)
    t0 = loop.time()
    await reactor.temperature.set(70.0)
    elapsed = loop.time() - t0
    t = await reactor.temperature.readback.get_value()
    assert abs(t - 70.0) <= reactor.settle_tolerance_c
    # a 150 mL vessel takes tens of minutes (about 28 min for this model): a range on the heating,
    # not a timing tolerance (the wall time the virtual clock adds here is about 0.05 s)
    assert 15 * 60 < elapsed < 60 * 60
    reading = await reactor.read()
    # read again at the same virtual instant give or take the wall time of one exchange: the same
    # register value, or the next 0.1 degC step if the vessel sits at a rounding edge
    assert reading["parr-temperature-readback"]["value"] == pytest.approx(t, abs=0.1)
    assert (await reactor.describe())["parr-pressure"]["units"] == "bar"


async def test_setpoints_outside_the_limits_are_refused_before_sending(parr):
    reactor, sim, _ = parr
    before = sim.target_c
    with pytest.raises(ReactorLimitError, match=r"temperature 200 °C is above the bench limit of 150 °C"):
        await reactor.temperature.set(200.0)
    assert sim.target_c == before
    with pytest.raises(ReactorLimitError, match=r"stirrer 5000 rpm is outside 0-1500 rpm"):
        await reactor.stirrer.setpoint.set(5000)


async def test_settle_times_out_when_the_heater_is_off(parr):
    reactor, _, _ = parr
    reactor.settle_dwell_s = 10
    with pytest.raises(ReactorSettleError, match="did not settle at 70"):
        await reactor.temperature.set(70.0)  # heater never enabled


async def test_never_vents_a_hot_vessel(parr):
    reactor, _, vessel = parr
    vessel.temperature_k = 273.15 + 60
    with pytest.raises(HotVentError, match="refusing to vent at 60"):
        await reactor.vent.set(True)


async def test_check_safe_sees_the_latched_high_limit_and_over_pressure(parr):
    reactor, sim, vessel = parr
    assert await reactor.check_safe() is None
    vessel.charge(12e5)  # above the relay's 10 bar trip point
    await asyncio.sleep(2)
    why = await reactor.check_safe()
    assert why is not None and "high-limit relay tripped" in why
    vessel.vent()
    await asyncio.sleep(30)
    assert "high-limit" in (await reactor.check_safe() or "")  # latched: not cleared by venting
    await reactor.heater.set(True)  # a bus write cannot reset it either
    assert sim.tripped
    assert sim.press_front_panel_reset()
    assert await reactor.check_safe() is None


async def test_pressure_rising_while_watched_trips(parr):
    reactor, _, vessel = parr
    vessel.charge(3e5)
    await reactor.pressure_watch.set(True)
    vessel.charge(4e5)
    await asyncio.sleep(1)
    assert "pressure rising while it should not" in (await reactor.check_safe() or "")
    assert reactor.live
    await reactor.make_safe()
    assert not reactor.live and await reactor.check_safe() is None  # the watch is disarmed


async def test_make_safe_turns_the_heater_off_and_stops_stirring(parr):
    reactor, sim, vessel = parr
    await reactor.heater.set(True)
    await reactor.stirrer.set(600)
    await reactor.make_safe()
    assert not sim.heater_enabled
    assert vessel.stirrer_setpoint_rpm == 0


async def test_a_staged_reactor_reads_the_controller_on_every_read(parr):
    """Staging caches a signal that is read from its last update; the readbacks must not be."""
    reactor, _sim, vessel = parr
    await reactor.stage()
    try:
        before = (await reactor.read())["parr-pressure"]["value"]
        vessel.charge(10e5)  # 10 bar of CO2 on the gauge
        after = (await reactor.read())["parr-pressure"]["value"]
    finally:
        await reactor.unstage()
    assert (before, after) == (1.01, 10.0)  # 1 atm sealed, then 10 bar; the register holds hundredths of bar
