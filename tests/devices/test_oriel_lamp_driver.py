"""Byte-exact protocol tests of the Oriel arc-lamp driver against scripted exchanges."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from labctl.devices.drivers.oriel_lamp import (
    EventStatus,
    LampCommandError,
    LampDeviceError,
    LampError,
    LampExecutionError,
    LampIdentity,
    LampMode,
    LampQueryError,
    LampStatus,
    OrielLampDriver,
)
from labctl.devices.transports import GarbledReply, InProcessTransport, InstrumentNotResponding
from tests.devices.scripted import Scripted

ADDRESS = "/dev/ttyUSB3"


def make(*exchanges: tuple[bytes, bytes], **kwargs: Any) -> tuple[OrielLampDriver, Scripted]:
    script = Scripted(list(exchanges))
    transport = InProcessTransport("arc_lamp", script, address=ADDRESS, **kwargs)
    return OrielLampDriver(transport), script


async def run(call: Callable[[OrielLampDriver], Awaitable[Any]], *exchanges: tuple[bytes, bytes]) -> Any:
    driver, script = make(*exchanges)
    result = await call(driver)
    script.assert_done()
    return result


# -- queries ---------------------------------------------------------------------------------


async def test_identify() -> None:
    ident = await run(lambda d: d.identify(), (b"IDN?\r", b"Newport Corporation,69907,SIM0001,1.0\r"))
    assert ident == LampIdentity("Newport Corporation", "69907", "SIM0001", "1.0")


async def test_identify_short_reply_pads_missing_fields() -> None:
    ident = await run(lambda d: d.identify(), (b"IDN?\r", b"Newport Corporation,69920\r"))
    assert ident == LampIdentity("Newport Corporation", "69920", "", "")


@pytest.mark.parametrize(
    ("method", "sent", "reply", "value"),
    [
        ("amps", b"AMPS?\r", b"12.3\r", 12.3),
        ("amps", b"AMPS?\r", b"0.0\r", 0.0),
        ("volts", b"VOLTS?\r", b"16.5\r", 16.5),
        ("watts", b"WATTS?\r", b"300\r", 300.0),
        ("watts", b"WATTS?\r", b"  300\r", 300.0),
        ("lamp_hours", b"LAMP HRS?\r", b"1234\r", 1234.0),
        ("lamp_hours", b"LAMP HRS?\r", b"1234.5\r", 1234.5),
        ("current_preset", b"A-PRESET?\r", b"12.5\r", 12.5),
        ("power_preset", b"P-PRESET?\r", b"0300\r", 300),
        ("current_limit", b"A-LIM?\r", b"25.0\r", 25.0),
        ("power_limit", b"P-LIM?\r", b"1000\r", 1000),
    ],
)
async def test_numeric_queries(method: str, sent: bytes, reply: bytes, value: float) -> None:
    result = await run(lambda d: getattr(d, method)(), (sent, reply))
    assert result == value
    assert type(result) is type(value)


# -- commands --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "args", "sent"),
    [
        ("set_current_preset", (12.5,), b"A-PRESET=12.5\r"),
        ("set_current_preset", (5,), b"A-PRESET=5.0\r"),
        ("set_current_preset", (0.0,), b"A-PRESET=0.0\r"),
        ("set_current_preset", (99.9,), b"A-PRESET=99.9\r"),
        ("set_current_preset", (0.3,), b"A-PRESET=0.3\r"),
        ("set_power_preset", (300,), b"P-PRESET=0300\r"),
        ("set_power_preset", (0,), b"P-PRESET=0000\r"),
        ("set_power_preset", (9999,), b"P-PRESET=9999\r"),
        ("set_power_preset", (450.0,), b"P-PRESET=0450\r"),
        ("set_current_limit", (25,), b"A-LIM=25.0\r"),
        ("set_current_limit", (7.5,), b"A-LIM=7.5\r"),
        ("set_power_limit", (500,), b"P-LIM=0500\r"),
        ("set_power_limit", (1000,), b"P-LIM=1000\r"),
        ("set_mode", (LampMode.POWER,), b"MODE=0\r"),
        ("set_mode", (LampMode.CURRENT,), b"MODE=1\r"),
        ("lock_front_panel", (True,), b"COMM=1\r"),
        ("lock_front_panel", (False,), b"COMM=0\r"),
        ("start", (), b"START\r"),
        ("stop", (), b"STOP\r"),
        ("reset", (), b"RST\r"),
    ],
)
async def test_commands_bytes(method: str, args: tuple[Any, ...], sent: bytes) -> None:
    assert await run(lambda d: getattr(d, method)(*args), (sent, b"ESR00\r")) is None


@pytest.mark.parametrize("esr", [b"ESR80", b"ESR40", b"ESR04", b"ESR02", b"ESR01", b"ESRC7"])
async def test_informational_esr_bits_do_not_fail_a_command(esr: bytes) -> None:
    driver, script = make((b"STOP\r", esr + b"\r"))
    await driver.stop()
    script.assert_done()
    assert driver.last_event_status is not None
    assert driver.last_event_status.raw == int(esr[3:], 16)


async def test_power_on_bit_kept_in_last_event_status() -> None:
    driver, _ = make((b"COMM=1\r", b"ESR80\r"))
    assert driver.last_event_status is None
    await driver.lock_front_panel(True)
    assert driver.last_event_status is not None
    assert driver.last_event_status.power_on


# -- status bytes ----------------------------------------------------------------------------

STB_FIELDS = [
    (0x80, "lamp_on"),
    (0x40, "ext"),
    (0x20, "power_mode"),
    (0x10, "cal"),
    (0x08, "fault"),
    (0x04, "front_panel_locked"),
    (0x02, "limit_reached"),
    (0x01, "interlock_ok"),
]
ESR_FIELDS = [
    (0x80, "power_on"),
    (0x40, "user_request"),
    (0x20, "command_error"),
    (0x10, "execution_error"),
    (0x08, "device_error"),
    (0x04, "query_error"),
    (0x02, "request_control"),
    (0x01, "operation_complete"),
]


@pytest.mark.parametrize(("bit", "field"), STB_FIELDS)
async def test_stb_each_bit(bit: int, field: str) -> None:
    status = await run(lambda d: d.status(), (b"STB?\r", f"STB{bit:02X}\r".encode()))
    assert isinstance(status, LampStatus)
    assert status.raw == bit
    for _, other in STB_FIELDS:
        assert getattr(status, other) is (other == field), other


@pytest.mark.parametrize(("raw", "expected"), [(b"STB00", False), (b"STBFF", True)])
async def test_stb_all_clear_and_all_set(raw: bytes, expected: bool) -> None:
    status = await run(lambda d: d.status(), (b"STB?\r", raw + b"\r"))
    assert all(getattr(status, f) is expected for _, f in STB_FIELDS)


async def test_stb_hex_is_not_decimal() -> None:
    # 0x21 = power mode + interlock OK; read as decimal it would be 21 = 0x15 (cal, fault...).
    status = await run(lambda d: d.status(), (b"STB?\r", b"STB21\r"))
    assert (status.power_mode, status.interlock_ok, status.cal, status.fault) == (
        True,
        True,
        False,
        False,
    )


@pytest.mark.parametrize(("reply", "mode"), [(b"STB21\r", LampMode.POWER), (b"STB81\r", LampMode.CURRENT)])
async def test_mode_from_stb_bit5(reply: bytes, mode: LampMode) -> None:
    assert await run(lambda d: d.mode(), (b"STB?\r", reply)) is mode


@pytest.mark.parametrize(("bit", "field"), ESR_FIELDS)
async def test_esr_each_bit(bit: int, field: str) -> None:
    event = await run(lambda d: d.event_status(), (b"ESR?\r", f"ESR{bit:02X}\r".encode()))
    assert isinstance(event, EventStatus)
    assert event.raw == bit
    for _, other in ESR_FIELDS:
        assert getattr(event, other) is (other == field), other


async def test_esr_query_does_not_raise_on_error_bits() -> None:
    event = await run(lambda d: d.event_status(), (b"ESR?\r", b"ESR3C\r"))
    assert event.command_error and event.execution_error and event.device_error


# -- ESR errors on commands ------------------------------------------------------------------


async def test_command_error() -> None:
    driver, _ = make((b"P-PRESET=0300\r", b"ESR20\r"))
    with pytest.raises(LampCommandError, match=r"P-PRESET=0300 not understood \(ESR 0x20, command"):
        await driver.set_power_preset(300)


async def test_command_error_wins_over_execution_error() -> None:
    driver, _ = make((b"START\r", b"ESRB0\r"))
    with pytest.raises(LampCommandError, match=r"ESR 0xB0, command error, execution error"):
        await driver.start()


async def test_power_preset_above_limit_names_the_limit() -> None:
    driver, script = make((b"P-PRESET=0600\r", b"ESR10\r"), (b"P-LIM?\r", b"0500\r"))
    with pytest.raises(LampExecutionError) as info:
        await driver.set_power_preset(600)
    script.assert_done()
    assert str(info.value) == (
        "P-PRESET=0600 refused (ESR 0x10, execution error): the preset must not exceed the power "
        "limit 500 W; lower the preset or raise P-LIM"
    )
    assert info.value.command == "P-PRESET=0600"
    assert info.value.esr == 0x10


async def test_power_limit_below_preset_names_the_preset() -> None:
    driver, script = make((b"P-LIM=0200\r", b"ESR10\r"), (b"P-PRESET?\r", b"0300\r"))
    with pytest.raises(LampExecutionError, match=r"below the power preset 300 W; lower P-PRESET"):
        await driver.set_power_limit(200)
    script.assert_done()


async def test_current_preset_above_limit_names_the_limit() -> None:
    driver, script = make((b"A-PRESET=30.0\r", b"ESR10\r"), (b"A-LIM?\r", b"25.0\r"))
    with pytest.raises(LampExecutionError, match=r"exceed the current limit 25\.0 A; lower"):
        await driver.set_current_preset(30)
    script.assert_done()


async def test_current_limit_below_preset_names_the_preset() -> None:
    driver, script = make((b"A-LIM=10.0\r", b"ESR10\r"), (b"A-PRESET?\r", b"12.5\r"))
    with pytest.raises(LampExecutionError, match=r"below the current preset 12\.5 A"):
        await driver.set_current_limit(10)
    script.assert_done()


async def test_refused_preset_within_limit_gets_generic_reason() -> None:
    driver, script = make((b"P-PRESET=0300\r", b"ESR10\r"), (b"P-LIM?\r", b"0500\r"))
    with pytest.raises(LampExecutionError, match=r"cannot carry it out now \(a reset takes"):
        await driver.set_power_preset(300)
    script.assert_done()


async def test_explanation_read_failing_falls_back_to_generic_reason() -> None:
    driver, script = make((b"P-PRESET=0600\r", b"ESR10\r"), (b"P-LIM?\r", b"??\r"))
    with pytest.raises(LampExecutionError, match=r"P-PRESET=0600 refused .*read status\(\)"):
        await driver.set_power_preset(600)
    script.assert_done()


async def test_mode_change_refused() -> None:
    driver, _ = make((b"MODE=1\r", b"ESR10\r"))
    with pytest.raises(LampExecutionError, match=r"MODE=1 refused .*lamp off; STOP the lamp"):
        await driver.set_mode(LampMode.CURRENT)


@pytest.mark.parametrize(
    ("stb", "reason"),
    [
        (b"STB20", r"the interlock is open .*close the lamp housing"),
        (b"STB29", r"a fault is latched .*RST and START"),
        (b"STB21", r"the supply cannot carry it out now"),
    ],
)
async def test_start_refused_explained_from_stb(stb: bytes, reason: str) -> None:
    driver, script = make((b"START\r", b"ESR10\r"), (b"STB?\r", stb + b"\r"))
    prefix = r"START refused \(ESR 0x10, execution error\): "
    with pytest.raises(LampExecutionError, match=prefix + reason):
        await driver.start()
    script.assert_done()


async def test_device_error() -> None:
    driver, _ = make((b"STOP\r", b"ESR08\r"))
    with pytest.raises(LampDeviceError, match=r"STOP answered .*ESR 0x08, device error.*RST"):
        await driver.stop()


async def test_reset_tolerates_device_error() -> None:
    await run(lambda d: d.reset(), (b"RST\r", b"ESR08\r"))


async def test_reset_still_raises_execution_error() -> None:
    driver, _ = make((b"RST\r", b"ESR18\r"))
    with pytest.raises(LampExecutionError, match="RST refused"):
        await driver.reset()


def test_error_hierarchy() -> None:
    for cls in (LampCommandError, LampExecutionError, LampDeviceError, LampQueryError):
        assert issubclass(cls, LampError)


@pytest.mark.parametrize(
    ("reply", "error", "match"),
    [
        (b"ESR04", LampQueryError, r"AMPS\? not answered \(ESR 0x04, query error\)"),
        (b"ESR10", LampExecutionError, r"AMPS\? refused \(ESR 0x10"),
        (b"ESR20", LampCommandError, r"AMPS\? not understood"),
        (b"ESR00", GarbledReply, r"expected a value, not an event-status byte"),
    ],
)
async def test_query_answered_with_esr(reply: bytes, error: type[Exception], match: str) -> None:
    driver, _ = make((b"AMPS?\r", reply + b"\r"))
    with pytest.raises(error, match=match):
        await driver.amps()


# -- argument validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "value", "match"),
    [
        ("set_power_preset", -1, r"power preset -1 W is out of range.*0\.\.9999"),
        ("set_power_preset", 10000, r"power preset 10000 W is out of range"),
        ("set_power_preset", 300.5, r"300\.5 W is not a whole number.*round it to 300"),
        ("set_power_preset", True, r"power preset True is not a number"),
        ("set_power_preset", "300", r"power preset '300' is not a number"),
        ("set_power_preset", math.nan, r"power preset nan is not a number"),
        ("set_power_limit", 12000, r"power limit 12000 W is out of range"),
        ("set_current_preset", -0.1, r"current preset -0\.1 A is out of range.*0\.\.99\.9"),
        ("set_current_preset", 100.0, r"current preset 100\.0 A is out of range"),
        ("set_current_preset", 12.34, r"12\.34 A has more than one decimal.*round it to 12\.3"),
        ("set_current_preset", math.inf, r"current preset inf is not a number"),
        ("set_current_limit", 150, r"current limit 150 A is out of range"),
        ("set_mode", 0, r"mode 0 is not a LampMode"),
        ("lock_front_panel", 1, r"locked=1 must be True"),
    ],
)
async def test_arguments_rejected_before_sending(method: str, value: Any, match: str) -> None:
    driver, script = make()  # any write would fail the script
    with pytest.raises(ValueError, match=match):
        await getattr(driver, method)(value)
    script.assert_done()


# -- garbled and missing replies -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "sent", "reply"),
    [
        ("status", b"STB?\r", b"STBZZ\r"),
        ("status", b"STB?\r", b"STB1\r"),
        ("status", b"STB?\r", b"stb21\r"),
        ("status", b"STB?\r", b"ESR21\r"),
        ("event_status", b"ESR?\r", b"ESR123\r"),
        ("event_status", b"ESR?\r", b"STB00\r"),
        ("amps", b"AMPS?\r", b"abc\r"),
        ("amps", b"AMPS?\r", b"\r"),
        ("volts", b"VOLTS?\r", b"-1.0\r"),
        ("watts", b"WATTS?\r", b"3e2\r"),
        ("power_preset", b"P-PRESET?\r", b"03.0\r"),
        ("power_limit", b"P-LIM?\r", b"x\r"),
        ("current_limit", b"A-LIM?\r", b"25,0\r"),
        ("identify", b"IDN?\r", b"\r"),
        ("identify", b"IDN?\r", b"a,b,c,d,e\r"),
        ("stop", b"STOP\r", b"OK\r"),
    ],
)
async def test_garbled_reply(method: str, sent: bytes, reply: bytes) -> None:
    driver, _ = make((sent, reply))
    command = sent[:-1].decode()
    with pytest.raises(GarbledReply) as info:
        await getattr(driver, method)()
    message = str(info.value)
    assert "arc_lamp" in message
    assert ADDRESS in message
    assert repr(command) in message
    assert repr(reply[:-1]) in message


async def test_undecodable_bytes_are_garbled() -> None:
    driver, _ = make((b"AMPS?\r", b"\x8f\xff?#\r"))
    with pytest.raises(GarbledReply, match=r"arc_lamp at /dev/ttyUSB3 sent undecodable bytes"):
        await driver.amps()


async def test_silent_instrument_not_responding() -> None:
    driver, script = make((b"STB?\r", b""), (b"STB?\r", b""), timeout=0.05, retries=1, backoff=0.01)
    with pytest.raises(InstrumentNotResponding, match=r"arc_lamp at /dev/ttyUSB3 .*'STB\?'"):
        await driver.status()
    script.assert_done()
