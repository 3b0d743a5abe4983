"""Protocol tests of the Parr 4848 driver against the pymodbus-served controller simulator.

Every test that touches the wire runs over RTU-in-TCP (``socket://``) and Modbus TCP (``tcp://``)
on 127.0.0.1, on a virtual-time loop.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.framer import FramerType

from labctl.devices.drivers.parr4848 import (
    DEFAULT_MAP_PATH,
    MODBUS_EXCEPTIONS,
    ModbusCrcError,
    ModbusExceptionError,
    ModbusTimeoutError,
    ParrController,
    ReadOnlyRegisterError,
    RegisterMap,
    RegisterSpec,
    UnknownRegisterError,
    decode_alarms,
    port_lock,
)
from labctl.devices.transports import GarbledReply, InstrumentNotResponding
from labctl.sim.instruments.parr4848 import ParrControllerSimulator, ParrServer, ParrVessel, serve_parr

MIN = 60.0
Framing = Literal["rtu", "tcp"]


@dataclass
class Rig:
    driver: ParrController
    sim: ParrControllerSimulator
    vessel: ParrVessel
    server: ParrServer


async def make_rig(framing: Framing, *, register_map: RegisterMap | None = None, timeout: float = 0.5) -> Rig:
    loop = asyncio.get_running_loop()
    vessel = ParrVessel(loop.time)
    sim = ParrControllerSimulator(loop.time, vessel, register_map=register_map)
    server = await serve_parr(sim, framing=framing)
    driver = ParrController("reactor", server.url, register_map=register_map, timeout=timeout)
    await driver.connect()
    return Rig(driver, sim, vessel, server)


@pytest.fixture(params=["rtu", "tcp"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    r = await make_rig(request.param)
    yield r
    await r.driver.close()
    await r.server.close()


async def raw_client(server: ParrServer) -> AsyncModbusTcpClient:
    """A plain pymodbus client, to do what the driver refuses to do."""
    framer = FramerType.RTU if server.framing == "rtu" else FramerType.SOCKET
    client = AsyncModbusTcpClient(server.host, port=server.port, framer=framer, timeout=0.5, reconnect_delay=0)
    assert await client.connect()
    return client


# -- the register map ----------------------------------------------------------------------------


def test_default_map_is_the_documented_stand_in() -> None:
    m = RegisterMap.default()
    header = DEFAULT_MAP_PATH.read_text(encoding="utf-8")
    assert "stand-in" in header.lower() and "Eurotherm 3500" in header
    eurotherm = {
        "temperature": 289,
        "temperature_target_setpoint": 2,
        "temperature_working_setpoint": 5,
        "temperature_setpoint": 24,
        "temperature_setpoint_rate": 35,
        "heater_output": 85,
    }
    for name, address in eurotherm.items():
        assert (m[name].table, m[name].address, m[name].scale) == ("holding", address, 10)
    assert m["temperature"].signed and m["temperature"].units == "degC"
    assert (m["pressure"].table, m["pressure"].scale, m["pressure"].units) == ("input", 100, "bar")
    assert {n: m[n].table for n in ("heater_enable", "gas_inlet", "vent")} == dict.fromkeys(
        ("heater_enable", "gas_inlet", "vent"), "coil"
    )
    assert m["high_limit_tripped"].table == "discrete"
    assert not m["high_limit_temperature"].writable and not m["high_limit_pressure"].writable
    assert not m["alarm_summary"].writable
    assert set(m.writable()) == {
        "temperature_setpoint",
        "temperature_setpoint_rate",
        "stirrer_setpoint",
        "temperature_offset",
        "heater_enable",
        "gas_inlet",
        "vent",
    }
    assert not any("ice" in name for name in m)


@pytest.mark.parametrize(
    ("spec", "raw", "value"),
    [
        (RegisterSpec("t", "holding", 1, scale=10, signed=True), 700, 70.0),
        (RegisterSpec("t", "holding", 1, scale=10, signed=True), 0xFFF1, -1.5),
        (RegisterSpec("t", "holding", 1, scale=10, signed=False), 0xFFF1, 6552.1),
        (RegisterSpec("p", "input", 1, scale=100), 301, 3.01),
        (RegisterSpec("n", "input", 1), 600, 600),
        (RegisterSpec("b", "coil", 1), True, True),
    ],
)
def test_decode(spec: RegisterSpec, raw: int, value: float) -> None:
    decoded = spec.decode(raw)
    assert decoded == pytest.approx(value)
    assert type(decoded) is type(value)


def test_encode_checks_limits_and_register_range() -> None:
    spec = RegisterSpec("sp", "holding", 24, scale=10, signed=True, units="degC", writable=True, min=-50, max=250)
    assert spec.encode(-2.5) == 0xFFE7
    assert spec.encode(70.04) == 700
    with pytest.raises(ValueError, match=r"300 degC .* above its maximum 250 degC; write a value between -50 and 250"):
        spec.encode(300)
    with pytest.raises(ValueError, match="below its minimum -50"):
        spec.encode(-60)
    with pytest.raises(ValueError, match="finite number"):
        spec.encode(float("nan"))
    wide = RegisterSpec("x", "holding", 1, scale=10, writable=True)
    with pytest.raises(ValueError, match="does not fit the register"):
        wide.encode(7000)
    with pytest.raises(ValueError, match="True or False"):
        RegisterSpec("c", "coil", 0, writable=True).encode(2)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('table = "holding"\naddress = 1\ncolour = "red"', "unknown keys"),
        ('table = "input"\naddress = 1\nwritable = true', "cannot be written"),
        ('table = "register"\naddress = 1', "is not one of"),
        ('table = "holding"\naddress = 70000', "0-65535"),
        ('table = "coil"\naddress = 1\nscale = 10', "is a bit"),
        ('table = "holding"', "lacks 'address'"),
    ],
)
def test_bad_map_files_are_refused_with_the_file_named(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "site.toml"
    path.write_text(f"[registers.x]\n{entry}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        RegisterMap.load(path)
    assert str(path) in str(info.value)


def test_two_registers_on_one_address_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        '[registers.a]\ntable = "holding"\naddress = 3\n[registers.b]\ntable = "holding"\naddress = 3\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="share an address"):
        RegisterMap.load(path)


def test_unknown_register_lists_the_known_ones() -> None:
    with pytest.raises(UnknownRegisterError, match=r"no register 'temp'.*known: temperature"):
        RegisterMap.default()["temp"]


def test_decode_alarms() -> None:
    assert decode_alarms(0) == []
    assert decode_alarms(0b101) == ["high_limit_latched", "over_pressure"]
    assert decode_alarms(1 << 9) == ["bit 9"]


# -- reads and writes on the wire ---------------------------------------------------------------


async def test_reads_in_engineering_units(rig: Rig) -> None:
    d = rig.driver
    assert await d.read("temperature") == 22.0
    assert await d.read("pressure") == 1.01  # 101 hundredths of bar
    assert await d.read("stirrer_speed") == 0 and isinstance(await d.read("stirrer_speed"), int)
    assert await d.read("high_limit_temperature") == 100.0
    assert await d.read("high_limit_pressure") == 10.0
    assert await d.read("heater_enable") is False
    assert await d.read("high_limit_tripped") is False


async def test_raw_registers_carry_tenths_and_hundredths(rig: Rig) -> None:
    await rig.driver.write("temperature_setpoint", 70.0)
    rig.vessel.charge(3.456e5)
    client = await raw_client(rig.server)
    try:
        assert (await client.read_holding_registers(24, count=1, device_id=1)).registers == [700]
        assert (await client.read_input_registers(0, count=1, device_id=1)).registers == [346]
    finally:
        client.close()
    assert await rig.driver.read("pressure") == 3.46


async def test_signed_values_round_trip(rig: Rig) -> None:
    d = rig.driver
    await d.write("temperature_offset", -2.5)
    assert await d.read("temperature_offset") == -2.5
    assert await d.read("temperature") == 19.5  # 22.0 - 2.5
    await d.write("temperature_setpoint", -5.0)
    assert await d.read("temperature_setpoint") == -5.0
    assert await d.read("temperature_working_setpoint") == -5.0
    client = await raw_client(rig.server)
    try:
        raw = (await client.read_holding_registers(1001, count=1, device_id=1)).registers[0]
    finally:
        client.close()
    assert raw == 0x10000 - 25


async def test_read_many_merges_contiguous_registers(rig: Rig) -> None:
    names = ["vent", "temperature", "pressure", "stirrer_speed", "heater_enable", "gas_inlet", "alarm_summary"]
    before = rig.sim.requests
    values = await rig.driver.read_many(names)
    assert list(values) == names
    assert values == {
        "vent": False,
        "temperature": 22.0,
        "pressure": 1.01,
        "stirrer_speed": 0,
        "heater_enable": False,
        "gas_inlet": False,
        "alarm_summary": 0,
    }
    # coils 0-2 in one request, input 0-1 in one, holding 289 and 1002 apart: 4 requests.
    assert rig.sim.requests - before == 4


async def test_writes_drive_the_model(rig: Rig) -> None:
    d = rig.driver
    await d.write("stirrer_setpoint", 600)
    await d.write("gas_inlet", True)
    await d.write("vent", True)
    await d.write("temperature_setpoint_rate", 2.5)
    await asyncio.sleep(10)
    assert await d.read("stirrer_speed") == 600
    assert rig.vessel.inlet_open and rig.vessel.vent_open
    assert await d.read_many(["gas_inlet", "vent"]) == {"gas_inlet": True, "vent": True}
    assert await d.read("temperature_setpoint_rate") == 2.5
    await d.write("vent", False)
    assert await d.read("vent") is False


async def test_heat_up_over_modbus_in_virtual_time(rig: Rig) -> None:
    d = rig.driver
    loop = asyncio.get_running_loop()
    await d.write("temperature_setpoint", 70.0)
    await d.write("heater_enable", True)
    assert await d.read("heater_output") == 100.0
    t0 = loop.time()
    while await d.read("temperature") < 69.5:
        assert loop.time() - t0 < 2 * 3600
        await asyncio.sleep(30)
    assert 20 * MIN <= loop.time() - t0 <= 40 * MIN
    await asyncio.sleep(3600)
    assert await d.read("temperature") == pytest.approx(70.0, abs=0.2)
    assert 40.0 < await d.read("heater_output") < 60.0


# -- refusals before anything is sent ----------------------------------------------------------


@pytest.mark.parametrize("name", ["temperature", "alarm_summary", "high_limit_tripped", "high_limit_pressure"])
async def test_write_to_read_only_register_is_refused_before_sending(name: str) -> None:
    driver = ParrController("reactor", "socket://127.0.0.1:9")  # nothing listens; nothing is sent
    with pytest.raises(ReadOnlyRegisterError) as info:
        await driver.write(name, 0)
    message = str(info.value)
    assert repr(name) in message and "read-only" in message
    assert "writable registers: temperature_setpoint" in message and "heater_enable" in message
    assert driver._client is None


async def test_out_of_range_write_is_refused_before_sending(rig: Rig) -> None:
    before = rig.sim.requests
    with pytest.raises(ValueError, match=r"400 degC for 'temperature_setpoint' .*maximum 250 degC.*between -50"):
        await rig.driver.write("temperature_setpoint", 400)
    with pytest.raises(ValueError, match=r"2000 rpm .*maximum 1500 rpm"):
        await rig.driver.write("stirrer_setpoint", 2000)
    with pytest.raises(ValueError, match="True or False"):
        await rig.driver.write("vent", 5)
    assert rig.sim.requests == before
    assert rig.sim.target_c == 25.0


# -- faults -------------------------------------------------------------------------------------


async def test_timeout_names_instrument_address_and_register(rig: Rig) -> None:
    loop = asyncio.get_running_loop()
    rig.sim.inject_timeout(True)
    t0 = loop.time()
    with pytest.raises(ModbusTimeoutError) as info:
        await rig.driver.read("temperature")
    assert isinstance(info.value, InstrumentNotResponding)
    message = str(info.value)
    assert "reactor" in message and rig.server.url in message
    assert "'temperature' (holding register 289)" in message and "3 attempts" in message
    assert loop.time() - t0 == pytest.approx(3 * 0.5, abs=0.1)  # timeout x (retries + 1)


async def test_driver_recovers_after_many_timeouts(rig: Rig) -> None:
    rig.sim.inject_timeout(True)
    for _ in range(8):  # enough for pymodbus to drop the connection
        with pytest.raises(ModbusTimeoutError):
            await rig.driver.read("pressure")
    rig.sim.inject_timeout(False)
    assert await rig.driver.read("pressure") == 1.01


async def test_bad_crc_raises_modbus_crc_error(rig: Rig) -> None:
    rig.sim.inject_crc_error(True)
    with pytest.raises(ModbusCrcError) as info:
        await rig.driver.read("temperature")
    assert isinstance(info.value, GarbledReply)
    message = str(info.value)
    assert "reactor" in message and rig.server.url in message and "'temperature'" in message
    assert "no valid reply frame" in message
    if rig.server.framing == "rtu":
        assert "CRC 0x" in message and "computed" in message
    rig.sim.inject_crc_error(False)
    assert await rig.driver.read("temperature") == 22.0


@pytest.mark.parametrize("code", [1, 2, 3, 4, 6])
async def test_exception_response_carries_code_and_meaning(rig: Rig, code: int) -> None:
    rig.sim.inject_exception(code)
    with pytest.raises(ModbusExceptionError) as info:
        await rig.driver.write("temperature_setpoint", 50.0)
    err = info.value
    assert err.code == code and err.register == "temperature_setpoint"
    assert err.meaning == MODBUS_EXCEPTIONS[code]
    assert f"Modbus exception {code} ({MODBUS_EXCEPTIONS[code]})" in str(err)
    assert "'temperature_setpoint' (holding register 24)" in str(err)
    rig.sim.inject_exception(None)
    assert rig.sim.target_c == 25.0


def test_exception_meanings() -> None:
    assert MODBUS_EXCEPTIONS[1].startswith("illegal function")
    assert MODBUS_EXCEPTIONS[2].startswith("illegal data address")
    assert MODBUS_EXCEPTIONS[3].startswith("illegal data value")
    assert MODBUS_EXCEPTIONS[4].startswith("server device failure")
    assert MODBUS_EXCEPTIONS[6].startswith("server device busy")


async def test_unreachable_controller() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connection refused
        driver = ParrController("reactor", f"tcp://127.0.0.1:{port}", timeout=0.5)
        with pytest.raises(InstrumentNotResponding, match=f"reactor at tcp://127.0.0.1:{port} could not be reached"):
            await driver.connect()
        await driver.close()


def test_bad_address_is_refused() -> None:
    with pytest.raises(ValueError, match="host:port"):
        ParrController("reactor", "socket://localhost")
    with pytest.raises(ValueError, match="device_id"):
        ParrController("reactor", "/dev/ttyUSB0", device_id=300)


# -- the high-limit relay -----------------------------------------------------------------------


async def test_stuck_heater_trips_the_high_limit_which_latches_and_ignores_the_bus(rig: Rig) -> None:
    d, sim = rig.driver, rig.sim
    sim.high_limit_temperature_k = 273.15 + 80.0
    await d.write("temperature_setpoint", 70.0)
    await d.write("heater_enable", True)
    rig.vessel.stick_heater(True)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while not await d.read("high_limit_tripped"):
        assert loop.time() - t0 < 3 * 3600, "runaway never tripped the high limit"
        await asyncio.sleep(60)
    assert await d.read("temperature") >= 79.0
    assert (await d.read_alarms())[0] == "high_limit_latched"
    # the relay acts on the simulator's physics step, within one step (< 0.2 °C) of crossing 80 °C
    tripped_at = re.match(r"temperature (\d+\.\d) °C >= 80\.0 °C", sim.trip_reason)
    assert tripped_at is not None, sim.trip_reason
    assert 80.0 <= float(tripped_at.group(1)) < 80.2

    # Nothing on the bus resets it: the driver refuses, and the controller refuses a raw write.
    with pytest.raises(ReadOnlyRegisterError):
        await d.write("alarm_summary", 0)
    with pytest.raises(ReadOnlyRegisterError):
        await d.write("high_limit_tripped", False)
    client = await raw_client(rig.server)
    try:
        rr = await client.write_register(1002, 0, device_id=1)
        assert rr.isError() and rr.exception_code == 2
        rr = await client.write_register(1003, 2000, device_id=1)
        assert rr.isError() and rr.exception_code == 2
    finally:
        client.close()
    await d.write("heater_enable", False)
    await d.write("heater_enable", True)
    assert await d.read("high_limit_tripped") is True

    # The heater stays cut (stuck switch or not): the vessel cools, the latch holds.
    await asyncio.sleep(30 * MIN)
    assert await d.read("temperature") < 75.0
    assert await d.read("high_limit_tripped") is True
    assert await d.read_alarms() == ["high_limit_latched"]

    # Only the front panel resets it, once the condition has cleared.
    rig.vessel.stick_heater(False)
    assert sim.press_front_panel_reset() is True
    assert await d.read("high_limit_tripped") is False
    assert await d.read("alarm_summary") == 0


async def test_front_panel_reset_refused_while_over_pressure(rig: Rig) -> None:
    rig.sim.high_limit_pressure_pa = 3e5
    rig.vessel.charge(3.2e5)
    await asyncio.sleep(10)
    assert await rig.driver.read("high_limit_tripped") is True
    assert await rig.driver.read_alarms() == ["high_limit_latched", "over_pressure"]
    assert rig.sim.press_front_panel_reset() is False
    await rig.driver.write("vent", True)
    await asyncio.sleep(30)
    assert await rig.driver.read("pressure") == 1.01
    assert rig.sim.press_front_panel_reset() is True


# -- a site's own map ---------------------------------------------------------------------------

SITE_MAP = """
[instrument]
model = "Parr 4848, site map"

[registers.temperature]
table = "input"
address = 10
scale = 10
signed = true
units = "degC"

[registers.temperature_setpoint]
table = "holding"
address = 100
scale = 10
signed = true
units = "degC"
writable = true
min = 0
max = 200

[registers.pressure]
table = "input"
address = 11
scale = 10
units = "bar"

[registers.heater_enable]
table = "coil"
address = 7
writable = true

[registers.high_limit_tripped]
table = "discrete"
address = 3
"""


@pytest.mark.parametrize("framing", ["rtu", "tcp"])
async def test_site_map_file_is_loaded_and_used(tmp_path: Path, framing: Framing) -> None:
    path = tmp_path / "parr_site.toml"
    path.write_text(SITE_MAP, encoding="utf-8")
    site = RegisterMap.load(path)
    assert site.model == "Parr 4848, site map" and site.source == str(path)
    assert site["pressure"].scale == 10
    r = await make_rig(framing, register_map=site)
    try:
        assert await r.driver.read("temperature") == 22.0
        assert await r.driver.read("pressure") == 1.0  # tenths of bar in this map
        await r.driver.write("temperature_setpoint", 60.0)
        await r.driver.write("heater_enable", True)
        assert r.sim.target_c == 60.0 and r.sim.heater_enabled
        with pytest.raises(ValueError, match="maximum 200"):
            await r.driver.write("temperature_setpoint", 210.0)
        with pytest.raises(UnknownRegisterError, match=str(path)):
            await r.driver.read("stirrer_speed")
        # A driver with the stand-in map finds nothing at the stand-in's addresses.
        stand_in = ParrController("reactor", r.server.url, timeout=0.5)
        with pytest.raises(ModbusExceptionError) as info:
            await stand_in.read("temperature")
        assert info.value.code == 2
        await stand_in.close()
    finally:
        await r.driver.close()
        await r.server.close()


# -- sharing a port -----------------------------------------------------------------------------


async def test_controllers_on_one_port_share_a_lock(rig: Rig) -> None:
    assert port_lock(rig.server.url) is port_lock(rig.server.url)
    assert port_lock(rig.server.url) is not port_lock("socket://127.0.0.1:1")
    other = ParrController("reactor-2", rig.server.url, timeout=0.5)
    try:
        results = await asyncio.gather(
            *(c.read(n) for c in (rig.driver, other) for n in ("temperature", "pressure", "vent"))
        )
    finally:
        await other.close()
    assert results == [22.0, 1.01, False] * 2
