"""Tests of the Parr vessel physics, its controller simulator and the pymodbus server in front of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.framer import FramerRTU, FramerType

from labctl.sim.instruments.parr4848 import (
    GAS_CONSTANT_J_PER_MOL_K,
    MAX_SUBSTEP_S,
    STANDARD_PRESSURE_PA,
    ParrControllerSimulator,
    ParrServer,
    ParrVessel,
    serve_parr,
)

MIN = 60.0
C0 = 273.15


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeReaction:
    """Consumes CO2 at a fixed rate (mmol/s) and records what it was told."""

    def __init__(self, mmol_per_s: float) -> None:
        self.mmol_per_s = mmol_per_s
        self.calls: list[tuple[float, float, float, float]] = []

    def advance(self, dt_s: float, temperature_k: float, co2_pressure_pa: float, stirring_rpm: float) -> float:
        self.calls.append((dt_s, temperature_k, co2_pressure_pa, stirring_rpm))
        return self.mmol_per_s * dt_s


def rig() -> tuple[FakeClock, ParrVessel, ParrControllerSimulator]:
    clock = FakeClock()
    vessel = ParrVessel(clock)
    return clock, vessel, ParrControllerSimulator(clock, vessel)


def run_until(
    clock: FakeClock, sim: ParrControllerSimulator, done: Callable[[], bool], *, limit_s: float, step_s: float = 5.0
) -> float:
    """Advance until ``done()`` is true; return the elapsed seconds."""
    start = clock.t
    while not done():
        assert clock.t - start < limit_s, "condition not reached in time"
        clock.t += step_s
        sim.update()
    return clock.t - start


def heated_to_70() -> tuple[FakeClock, ParrVessel, ParrControllerSimulator]:
    clock, vessel, sim = rig()
    sim.set_setpoint(70.0)
    sim.enable_heater(True)
    clock.t += 3 * 3600
    sim.update()
    return clock, vessel, sim


def headspace_m3(vessel: ParrVessel) -> float:
    return (vessel.volume_ml - vessel.liquid_volume_ml) * 1e-6


# -- heat ----------------------------------------------------------------------------------------


def test_heat_up_22_to_70_takes_20_to_40_min_without_overshoot() -> None:
    clock, vessel, sim = rig()
    assert vessel.temperature_k == pytest.approx(295.15)
    sim.set_setpoint(70.0)
    sim.enable_heater(True)
    peak = 0.0

    def at_setpoint() -> bool:
        nonlocal peak
        peak = max(peak, vessel.temperature_k - C0)
        return vessel.temperature_k - C0 >= 69.5

    elapsed = run_until(clock, sim, at_setpoint, limit_s=2 * 3600)
    assert 20 * MIN <= elapsed <= 40 * MIN
    for _ in range(720):  # one more hour
        clock.t += 5.0
        sim.update()
        peak = max(peak, vessel.temperature_k - C0)
    assert peak < 71.0
    assert vessel.temperature_k - C0 == pytest.approx(70.0, abs=0.1)
    # Holding 70 °C against 4 W/K of loss from 22 °C takes about 48 % of 400 W.
    assert sim.output_percent == pytest.approx(48.0, abs=1.0)


def test_full_power_heating_rate_is_limited_by_the_heater() -> None:
    clock, vessel, sim = rig()
    sim.set_setpoint(200.0)
    sim.enable_heater(True)
    clock.t = 60.0
    sim.update()
    rise_per_min = vessel.temperature_k - 295.15
    assert vessel.max_heating_rate_k_per_s * 60 == pytest.approx(3.0)
    assert rise_per_min == pytest.approx(3.0, rel=0.02)
    assert sim.output_percent == 100.0


def test_ambient_cool_down_70_to_25_takes_1_to_2_h() -> None:
    clock, vessel, sim = heated_to_70()
    sim.enable_heater(False)
    elapsed = run_until(clock, sim, lambda: vessel.temperature_k - C0 <= 25.0, limit_s=4 * 3600)
    assert 60 * MIN <= elapsed <= 120 * MIN


def test_ice_bath_cool_down_70_to_25_takes_15_to_25_min() -> None:
    clock, vessel, sim = heated_to_70()
    sim.enable_heater(False)
    vessel.ice_bath(True)
    elapsed = run_until(clock, sim, lambda: vessel.temperature_k - C0 <= 25.0, limit_s=2 * 3600)
    assert 15 * MIN <= elapsed <= 25 * MIN
    vessel.ice_bath(False)
    assert vessel.state().ice_bath is False


def test_setpoint_rate_ramps_the_working_setpoint() -> None:
    clock, _, sim = rig()
    sim.set_setpoint_rate(1.0)
    sim.enable_heater(True)
    sim.set_setpoint(70.0)
    assert sim.working_c == pytest.approx(22.0)
    clock.t = 10 * MIN
    sim.update()
    assert sim.working_c == pytest.approx(32.0)
    assert sim.target_c == 70.0


def test_offset_shifts_the_pv_and_the_loop_controls_the_pv() -> None:
    clock, vessel, sim = rig()
    sim.set_offset(-2.0)
    assert sim.pv_c == pytest.approx(20.0)
    sim.set_setpoint(50.0)
    sim.enable_heater(True)
    clock.t = 3 * 3600
    sim.update()
    assert sim.pv_c == pytest.approx(50.0, abs=0.1)
    assert vessel.temperature_k - C0 == pytest.approx(52.0, abs=0.1)


def test_heater_disabled_means_no_output() -> None:
    clock, vessel, sim = rig()
    sim.set_setpoint(70.0)
    clock.t = 600
    sim.update()
    assert sim.output_percent == 0.0
    assert vessel.heater_power_w == 0.0
    assert vessel.temperature_k == pytest.approx(295.15)


# -- time ----------------------------------------------------------------------------------------


def test_time_comes_only_from_the_clock_in_substeps_of_at_most_5_s() -> None:
    clock = FakeClock(100.0)
    reaction = FakeReaction(0.0)
    vessel = ParrVessel(clock, reaction=reaction)
    vessel.advance()
    assert reaction.calls == []
    clock.t = 163.0
    vessel.advance()
    assert len(reaction.calls) == 13
    assert all(dt <= MAX_SUBSTEP_S for dt, *_ in reaction.calls)
    assert sum(dt for dt, *_ in reaction.calls) == pytest.approx(63.0)
    assert vessel.state().time_s == pytest.approx(163.0)


# -- gas -----------------------------------------------------------------------------------------


def test_starts_with_air_at_ambient_pressure() -> None:
    _, vessel, _ = rig()
    state = vessel.state()
    assert state.pressure_pa == pytest.approx(STANDARD_PRESSURE_PA)
    assert state.co2_mmol == 0.0


def test_charge_gives_ideal_gas_pressure_and_scales_with_temperature() -> None:
    clock, vessel, sim = rig()
    vessel.charge(3e5)
    v = headspace_m3(vessel)
    assert vessel.pressure_pa == pytest.approx(3e5)
    expected_co2 = (3e5 - STANDARD_PRESSURE_PA) * v / (GAS_CONSTANT_J_PER_MOL_K * 295.15) * 1e3
    assert vessel.co2_mmol == pytest.approx(expected_co2)
    sim.set_setpoint(70.0)
    sim.enable_heater(True)
    clock.t = 3 * 3600
    sim.update()
    # Sealed vessel: p/T constant.
    assert vessel.pressure_pa == pytest.approx(3e5 * vessel.temperature_k / 295.15, rel=1e-9)


def test_charge_with_purge_leaves_pure_co2() -> None:
    _, vessel, _ = rig()
    vessel.charge(3e5, purge=True)
    v = headspace_m3(vessel)
    assert vessel.co2_pressure_pa == pytest.approx(3e5)
    assert vessel.co2_mmol == pytest.approx(3e5 * v / (GAS_CONSTANT_J_PER_MOL_K * 295.15) * 1e3)
    assert vessel.air_mmol == 0.0


def test_charge_only_lets_gas_in() -> None:
    _, vessel, _ = rig()
    vessel.charge(5e5)
    vessel.charge(2e5)
    assert vessel.pressure_pa == pytest.approx(5e5)
    with pytest.raises(ValueError, match="absolute"):
        vessel.charge(0.0)


def test_reaction_consumption_lowers_the_pressure_as_an_ideal_gas() -> None:
    clock = FakeClock()
    reaction = FakeReaction(0.001)  # 1 umol/s
    vessel = ParrVessel(clock, reaction=reaction)
    vessel.set_stirrer_setpoint(600)
    vessel.charge(3e5, purge=True)
    n0 = vessel.co2_mmol
    clock.t = 3600.0
    state = vessel.state()
    assert state.co2_consumed_mmol == pytest.approx(3.6)
    assert state.co2_mmol == pytest.approx(n0 - 3.6)
    expected = (n0 - 3.6) * 1e-3 * GAS_CONSTANT_J_PER_MOL_K * 295.15 / headspace_m3(vessel)
    assert state.pressure_pa == pytest.approx(expected)
    _, temperature_k, co2_pa, rpm = reaction.calls[-1]
    assert temperature_k == pytest.approx(295.15)
    assert co2_pa == pytest.approx(state.co2_pressure_pa, rel=1e-3)
    assert rpm == 600


def test_reaction_cannot_consume_more_co2_than_there_is() -> None:
    clock = FakeClock()
    vessel = ParrVessel(clock, reaction=FakeReaction(1.0))
    vessel.charge(2e5)
    clock.t = 3600.0
    state = vessel.state()
    assert state.co2_mmol == 0.0
    assert state.pressure_pa == pytest.approx(STANDARD_PRESSURE_PA)


def test_open_inlet_holds_the_regulator_pressure_while_co2_is_consumed() -> None:
    clock = FakeClock()
    vessel = ParrVessel(clock, reaction=FakeReaction(0.001))
    vessel.charge(3e5, purge=True)
    vessel.set_inlet_valve(True)
    clock.t = 3600.0
    state = vessel.state()
    assert state.pressure_pa == pytest.approx(3e5)
    assert state.co2_consumed_mmol == pytest.approx(3.6)


def test_vent_returns_to_ambient_pressure() -> None:
    _, vessel, _ = rig()
    vessel.charge(3e5, purge=True)
    vessel.vent()
    assert vessel.pressure_pa == pytest.approx(STANDARD_PRESSURE_PA)
    assert vessel.air_mmol == 0.0  # gas left in proportion: what stays is still CO2


def test_vent_valve_brings_the_pressure_to_ambient_within_seconds() -> None:
    clock, vessel, _ = rig()
    vessel.charge(3e5)
    vessel.set_vent_valve(True)
    clock.t = 30.0
    assert vessel.state().pressure_pa == pytest.approx(STANDARD_PRESSURE_PA, abs=1.0)


def test_leak_bleeds_pressure_down_to_ambient() -> None:
    clock, vessel, _ = rig()
    vessel.charge(3e5)
    vessel.leak(10.0)
    clock.t = 1000.0
    assert vessel.state().pressure_pa == pytest.approx(3e5 - 1e4)
    clock.t = 100_000.0
    assert vessel.state().pressure_pa == pytest.approx(STANDARD_PRESSURE_PA)
    with pytest.raises(ValueError, match=">= 0"):
        vessel.leak(-1.0)


def test_stirrer_ramps_to_its_setpoint() -> None:
    clock, vessel, _ = rig()
    vessel.set_stirrer_setpoint(600)
    clock.t = 3.0
    assert vessel.state().stirrer_rpm == pytest.approx(300.0)
    clock.t = 10.0
    assert vessel.state().stirrer_rpm == 600.0


def test_invalid_geometry_is_refused() -> None:
    with pytest.raises(ValueError, match="liquid_volume_ml"):
        ParrVessel(FakeClock(), liquid_volume_ml=200.0)


# -- the high-limit relay -----------------------------------------------------------------------


def test_stuck_heater_runs_away_until_the_high_limit_trips_and_latches() -> None:
    clock, vessel, sim = heated_to_70()
    sim.high_limit_temperature_k = C0 + 85.0
    vessel.stick_heater(True)
    elapsed = run_until(clock, sim, lambda: sim.tripped, limit_s=2 * 3600)
    assert 5 * MIN < elapsed < 60 * MIN
    assert "temperature" in sim.trip_reason
    assert vessel.heater_power_w == 0.0
    assert sim.alarm_word() & 0b011 == 0b011  # latched + over-temperature
    peak = vessel.temperature_k
    assert peak < C0 + 86.0
    # Still stuck, still latched: the vessel cools.
    clock.t += 10 * MIN
    sim.update()
    assert vessel.temperature_k < peak
    assert sim.tripped
    # Re-enabling the heater does not close the relay.
    sim.enable_heater(False)
    sim.enable_heater(True)
    assert sim.tripped and vessel.heater_power_w == 0.0


def test_front_panel_reset_only_once_the_condition_has_cleared() -> None:
    clock, vessel, sim = heated_to_70()
    sim.high_limit_temperature_k = C0 + 85.0
    vessel.stick_heater(True)
    run_until(clock, sim, lambda: sim.tripped, limit_s=2 * 3600)
    assert sim.press_front_panel_reset() is False  # still at the trip point
    assert sim.tripped
    vessel.stick_heater(False)
    clock.t += 30 * MIN
    assert sim.press_front_panel_reset() is True
    assert not sim.tripped and sim.alarm_word() == 0
    assert vessel.heater_relay_closed


def test_over_pressure_trips_the_high_limit() -> None:
    clock, vessel, sim = rig()
    sim.high_limit_pressure_pa = 3.3e5
    vessel.charge(3e5)
    sim.set_setpoint(70.0)
    sim.enable_heater(True)
    run_until(clock, sim, lambda: sim.tripped, limit_s=2 * 3600)
    assert "pressure" in sim.trip_reason
    assert vessel.pressure_pa == pytest.approx(3.3e5, rel=0.01)
    assert sim.alarm_word() == 0b101
    vessel.vent()
    clock.t += 60
    assert sim.press_front_panel_reset() is True


def test_injecting_an_unknown_exception_code_is_refused() -> None:
    _, _, sim = rig()
    with pytest.raises(ValueError, match="does not exist"):
        sim.inject_exception(9)


# -- served by pymodbus -------------------------------------------------------------------------


@pytest.fixture(params=["rtu", "tcp"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ParrControllerSimulator, ParrServer]]:
    loop = asyncio.get_running_loop()
    vessel = ParrVessel(loop.time)
    sim = ParrControllerSimulator(loop.time, vessel)
    server = await serve_parr(sim, framing=request.param)
    yield sim, server
    await server.close()


async def raw_client(server: ParrServer, **kwargs: Any) -> AsyncModbusTcpClient:
    framer = FramerType.RTU if server.framing == "rtu" else FramerType.SOCKET
    client = AsyncModbusTcpClient(
        server.host, port=server.port, framer=framer, timeout=0.5, retries=0, reconnect_delay=0, **kwargs
    )
    assert await client.connect()
    return client


async def test_serve_parr_reports_its_url(served: tuple[ParrControllerSimulator, ParrServer]) -> None:
    _, server = served
    assert server.port > 0
    scheme: Literal["socket", "tcp"] = "socket" if server.framing == "rtu" else "tcp"
    assert server.url == f"{scheme}://127.0.0.1:{server.port}"


async def test_registers_are_refreshed_from_the_model_on_every_request(
    served: tuple[ParrControllerSimulator, ParrServer],
) -> None:
    sim, server = served
    client = await raw_client(server)
    try:
        rr = await client.read_holding_registers(289, count=1, device_id=1)
        assert rr.registers == [220]  # 22.0 °C in tenths
        await client.write_register(24, 700, device_id=1)
        await client.write_coil(0, True, device_id=1)
        await asyncio.sleep(30 * MIN)  # virtual time
        rr = await client.read_holding_registers(289, count=1, device_id=1)
        assert rr.registers[0] > 600
        assert sim.target_c == 70.0 and sim.heater_enabled
        ir = await client.read_input_registers(0, count=2, device_id=1)
        assert ir.registers[0] == round(sim.vessel.pressure_pa / 1e3)  # bar x100
    finally:
        client.close()


async def test_read_only_registers_are_refused_by_the_datastore(
    served: tuple[ParrControllerSimulator, ParrServer],
) -> None:
    _, server = served
    client = await raw_client(server)
    try:
        for address in (289, 85, 1002, 1003, 1004):
            rr = await client.write_register(address, 0, device_id=1)
            assert rr.isError() and rr.exception_code == 2
        rr = await client.write_register(24, 9999, device_id=1)  # 999.9 °C, above the map's max
        assert rr.isError() and rr.exception_code == 3
    finally:
        client.close()


async def test_injected_exception_answers_every_request(served: tuple[ParrControllerSimulator, ParrServer]) -> None:
    sim, server = served
    client = await raw_client(server)
    try:
        sim.inject_exception(4)
        rr = await client.read_coils(0, count=1, device_id=1)
        assert rr.isError() and rr.exception_code == 4
        sim.inject_exception(None)
        rr = await client.read_coils(0, count=1, device_id=1)
        assert not rr.isError() and rr.bits[0] is False
    finally:
        client.close()


async def test_injected_crc_error_corrupts_the_reply_frame() -> None:
    loop = asyncio.get_running_loop()
    sim = ParrControllerSimulator(loop.time, ParrVessel(loop.time))
    server = await serve_parr(sim, framing="rtu")
    frames: list[bytes] = []

    def trace(sending: bool, data: bytes) -> bytes:
        if not sending:
            frames.append(data)
        return data

    client = await raw_client(server, trace_packet=trace)
    try:
        rr = await client.read_holding_registers(289, count=1, device_id=1)
        assert FramerRTU.check_CRC(frames[-1][:-2], int.from_bytes(frames[-1][-2:], "big"))
        sim.inject_crc_error(True)
        with pytest.raises(Exception, match="No response"):
            await client.read_holding_registers(289, count=1, device_id=1)
        bad = frames[-1]
        assert bad[:-2] == b"\x01\x03\x02" + rr.registers[0].to_bytes(2, "big")
        assert not FramerRTU.check_CRC(bad[:-2], int.from_bytes(bad[-2:], "big"))
    finally:
        client.close()
        await server.close()


async def test_injected_timeout_is_silence_and_executes_nothing(
    served: tuple[ParrControllerSimulator, ParrServer],
) -> None:
    sim, server = served
    client = await raw_client(server)
    try:
        sim.inject_timeout(True)
        t0 = asyncio.get_running_loop().time()
        with pytest.raises(Exception, match="No response"):
            await client.write_register(24, 500, device_id=1)
        assert asyncio.get_running_loop().time() - t0 == pytest.approx(0.5, abs=1e-9)
        assert sim.target_c == 25.0
        sim.inject_timeout(False)
        rr = await client.read_holding_registers(24, count=1, device_id=1)
        assert rr.registers == [250]
    finally:
        client.close()


async def test_writes_to_coils_the_map_does_not_have_are_refused_as_illegal_data_address(
    served: tuple[ParrControllerSimulator, ParrServer],
) -> None:
    sim, server = served
    client = await raw_client(server)
    try:
        for address in (3, 5, 15):  # the map has coils 0-2 (heater, gas inlet, vent) only
            rr = await client.write_coil(address, True, device_id=1)
            assert rr.isError() and rr.exception_code == 2, address
        # a multi-coil write reaching past the map is refused whole: the valves it covers stay shut
        rr = await client.write_coils(1, [True, True, True], device_id=1)
        assert rr.isError() and rr.exception_code == 2
        assert not sim.vessel.inlet_open and not sim.vessel.vent_open
        rr = await client.read_coils(0, count=3, device_id=1)
        assert not rr.isError() and rr.bits[:3] == [False, False, False]
        # the coils it has still take writes
        rr = await client.write_coils(1, [True, False], device_id=1)
        assert not rr.isError() and sim.vessel.inlet_open
    finally:
        client.close()


async def test_writes_to_holding_registers_the_map_does_not_have_are_refused(
    served: tuple[ParrControllerSimulator, ParrServer],
) -> None:
    _, server = served
    client = await raw_client(server)
    try:
        for address in (3, 1005, 4000):
            rr = await client.write_register(address, 1, device_id=1)
            assert rr.isError() and rr.exception_code == 2, address
    finally:
        client.close()
