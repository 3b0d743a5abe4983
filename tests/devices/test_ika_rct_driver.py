"""Byte-exact protocol tests of the IKA RCT digital driver against scripted exchanges."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from labctl.devices.drivers.ika_rct import (
    ERROR_MEANINGS,
    IkaErrorLatched,
    IkaProbeMissing,
    IkaRangeError,
    IkaRct,
    IkaSetpointNotAccepted,
)
from labctl.devices.transports import GarbledReply, InProcessTransport, InstrumentNotResponding
from tests.devices.scripted import Scripted

ADDRESS = "/dev/ttyUSB5"


def make(*exchanges: tuple[bytes, bytes], **kwargs: Any) -> tuple[IkaRct, Scripted]:
    script = Scripted(list(exchanges))
    transport = InProcessTransport("hotplate", script, address=ADDRESS, timeout=0.5, retries=0)
    return IkaRct(transport, **kwargs), script


async def run(call: Callable[[IkaRct], Awaitable[Any]], *exchanges: tuple[bytes, bytes], **kwargs: Any) -> Any:
    driver, script = make(*exchanges, **kwargs)
    result = await call(driver)
    script.assert_done()
    return result


# -- queries ---------------------------------------------------------------------------------


async def test_driver_sets_crlf_terminations() -> None:
    transport = InProcessTransport("hotplate", Scripted([]))
    IkaRct(transport)
    assert (transport.write_termination, transport.read_termination) == ("\r\n", "\r\n")


async def test_identify() -> None:
    assert await run(lambda d: d.identify(), (b"IN_NAME\r\n", b"RCT digital\r\n")) == "RCT digital"


@pytest.mark.parametrize(
    ("method", "sent", "reply", "value"),
    [
        ("flask_temperature", b"IN_PV_1\r\n", b"25.3 1\r\n", 25.3),
        ("flask_temperature", b"IN_PV_1\r\n", b"-12.0 1\r\n", -12.0),
        ("plate_temperature", b"IN_PV_2\r\n", b"287.4 2\r\n", 287.4),
        ("speed", b"IN_PV_4\r\n", b"500.0 4\r\n", 500.0),
        ("speed", b"IN_PV_4\r\n", b"500 4\r\n", 500.0),
        ("speed_setpoint", b"IN_SP_4\r\n", b"750.0 4\r\n", 750.0),
        ("setpoint", b"IN_SP_1\r\n", b"120.0 1\r\n", 120.0),
        ("safety_temperature", b"IN_SP_3\r\n", b"300.0 3\r\n", 300.0),
    ],
)
async def test_value_queries(method: str, sent: bytes, reply: bytes, value: float) -> None:
    result = await run(lambda d: getattr(d, method)(), (sent, reply))
    assert result == value
    assert type(result) is float


async def test_reply_on_the_wrong_channel_is_garbled() -> None:
    with pytest.raises(
        GarbledReply,
        match=r"hotplate at /dev/ttyUSB5 answered 'IN_PV_2' with b'25.3 1', expected a value on channel 2, "
        r"not channel 1; check the port settings \(9600 baud, 7E1\)",
    ):
        await run(lambda d: d.plate_temperature(), (b"IN_PV_2\r\n", b"25.3 1\r\n"))


@pytest.mark.parametrize("reply", [b"25.3\r\n", b"abc 1\r\n", b"\r\n", b"25,3 1\r\n"])
async def test_malformed_value_is_garbled(reply: bytes) -> None:
    with pytest.raises(GarbledReply, match=r"answered 'IN_PV_1' with .*, expected '<value> 1'"):
        await run(lambda d: d.flask_temperature(), (b"IN_PV_1\r\n", reply))


@pytest.mark.parametrize("raw", [b"-100.0 1\r\n", b"1500.0 1\r\n"])
async def test_missing_probe_is_a_named_error(raw: bytes) -> None:
    with pytest.raises(IkaProbeMissing) as info:
        await run(lambda d: d.flask_temperature(), (b"IN_PV_1\r\n", raw))
    value = float(raw.split()[0])
    assert str(info.value) == (
        f"hotplate: the flask probe reads {value:g} °C (IN_PV_1), outside the PT1000 range -50 to 450 °C: "
        "the probe is not connected or its cable is open; plug the PT1000 into the hotplate and put its tip "
        "in the liquid"
    )
    assert info.value.raw == value


async def test_probe_range_is_a_setting() -> None:
    value = await run(lambda d: d.flask_temperature(), (b"IN_PV_1\r\n", b"-100.0 1\r\n"), probe_range_c=(-200, 500))
    assert value == -100.0


async def test_latched_error_is_a_named_error_with_its_meaning() -> None:
    with pytest.raises(IkaErrorLatched) as info:
        await run(lambda d: d.plate_temperature(), (b"IN_PV_2\r\n", b"Er02\r\n"))
    assert info.value.code == 2
    assert info.value.meaning == ERROR_MEANINGS[2]
    assert str(info.value) == (
        "hotplate: error Er02 latched (watchdog expired: the controlling computer did not re-send OUT_WD1 in "
        "time (heater and stirrer off)); answered 'IN_PV_2' with 'Er02'; find and remove the cause, then send "
        "RESET (reset()) before heating again"
    )


async def test_unknown_error_code_points_to_the_manual() -> None:
    with pytest.raises(IkaErrorLatched, match=r"error Er47 latched \(see the error table in the operating manual\)"):
        await run(lambda d: d.identify(), (b"IN_NAME\r\n", b"Er 47\r\n"))


# -- settings and switches -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "sent"),
    [
        (lambda d: d.set_temperature(120), b"OUT_SP_1 120.0\r\n"),
        (lambda d: d.set_temperature(280.26), b"OUT_SP_1 280.3\r\n"),
        (lambda d: d.set_temperature(0), b"OUT_SP_1 0.0\r\n"),
        (lambda d: d.set_temperature(310), b"OUT_SP_1 310.0\r\n"),
        (lambda d: d.start_heater(), b"START_1\r\n"),
        (lambda d: d.stop_heater(), b"STOP_1\r\n"),
        (lambda d: d.set_speed(500), b"OUT_SP_4 500\r\n"),
        (lambda d: d.set_speed(1500), b"OUT_SP_4 1500\r\n"),
        (lambda d: d.set_speed(249.6), b"OUT_SP_4 250\r\n"),
        (lambda d: d.start_stirrer(), b"START_4\r\n"),
        (lambda d: d.stop_stirrer(), b"STOP_4\r\n"),
        (lambda d: d.reset(), b"RESET\r\n"),
        (lambda d: d.arm_watchdog(60), b"OUT_WD1@60\r\n"),
    ],
)
async def test_commands_send_exact_bytes_and_read_nothing(
    call: Callable[[IkaRct], Awaitable[None]], sent: bytes
) -> None:
    await run(call, (sent, b""), watchdog_echo=False)


async def test_watchdog_with_echo_reads_the_echo() -> None:
    await run(lambda d: d.arm_watchdog(60), (b"OUT_WD1@60\r\n", b"60\r\n"))
    await run(lambda d: d.arm_watchdog(1500), (b"OUT_WD1@1500\r\n", b"OUT_WD1@1500\r\n"))


async def test_watchdog_echo_of_another_time_is_garbled() -> None:
    with pytest.raises(
        GarbledReply, match=r"answered 'OUT_WD1@60' with b'30', expected an echo of the watchdog time 60"
    ):
        await run(lambda d: d.arm_watchdog(60), (b"OUT_WD1@60\r\n", b"30\r\n"))


async def test_watchdog_echo_while_latched_raises_the_error() -> None:
    with pytest.raises(IkaErrorLatched, match="Er02"):
        await run(lambda d: d.arm_watchdog(60), (b"OUT_WD1@60\r\n", b"Er02\r\n"))


async def test_watchdog_without_echo_would_time_out_when_an_echo_is_expected() -> None:
    with pytest.raises(InstrumentNotResponding, match=r"hotplate at /dev/ttyUSB5 did not respond to 'OUT_WD1@60'"):
        await run(lambda d: d.arm_watchdog(60), (b"OUT_WD1@60\r\n", b""))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda d: d.set_temperature(311),
            "hotplate: setpoint 311 °C is outside the 0-310 °C the hotplate accepts; give a setpoint from 0 to 310 °C",
        ),
        (
            lambda d: d.set_temperature(-5),
            "hotplate: setpoint -5 °C is outside the 0-310 °C the hotplate accepts; give a setpoint from 0 to 310 °C",
        ),
        (
            lambda d: d.set_temperature(float("nan")),
            "hotplate: setpoint nan °C is outside the 0-310 °C the hotplate accepts; give a setpoint from 0 to 310 °C",
        ),
        (
            lambda d: d.set_speed(1600),
            "hotplate: stirrer speed 1600 rpm is outside the 0-1500 rpm the hotplate accepts; give a speed from 0 "
            "to 1500 rpm",
        ),
        (
            lambda d: d.arm_watchdog(19),
            "hotplate: watchdog time 19 s is outside the 20-1500 s (whole seconds) the hotplate accepts; give a "
            "whole number of seconds in that range",
        ),
        (
            lambda d: d.arm_watchdog(1501),
            "hotplate: watchdog time 1501 s is outside the 20-1500 s (whole seconds) the hotplate accepts; give a "
            "whole number of seconds in that range",
        ),
        (
            lambda d: d.arm_watchdog(30.5),
            "hotplate: watchdog time 30.5 s is outside the 20-1500 s (whole seconds) the hotplate accepts; give a "
            "whole number of seconds in that range",
        ),
    ],
)
async def test_out_of_range_settings_are_refused_before_anything_is_sent(
    call: Callable[[IkaRct], Awaitable[None]], message: str
) -> None:
    with pytest.raises(IkaRangeError) as info:
        await run(call)  # no exchange scripted: a write would fail the script
    assert str(info.value) == message


# -- the setpoint quirk ------------------------------------------------------------------------------


async def test_start_heating_when_the_setpoint_reads_back_at_once() -> None:
    await run(
        lambda d: d.start_heating(120),
        (b"OUT_SP_1 120.0\r\n", b""),
        (b"START_1\r\n", b""),
        (b"IN_SP_1\r\n", b"120.0 1\r\n"),
    )


async def test_start_heating_resends_the_setpoint_when_it_reads_zero() -> None:
    await run(
        lambda d: d.start_heating(280),
        (b"OUT_SP_1 280.0\r\n", b""),
        (b"START_1\r\n", b""),
        (b"IN_SP_1\r\n", b"0.0 1\r\n"),
        (b"OUT_SP_1 280.0\r\n", b""),
        (b"IN_SP_1\r\n", b"0.0 1\r\n"),
        (b"OUT_SP_1 280.0\r\n", b""),
        (b"IN_SP_1\r\n", b"280.0 1\r\n"),
    )


async def test_start_heating_gives_up_after_the_bounded_tries_and_switches_the_heater_off() -> None:
    with pytest.raises(IkaSetpointNotAccepted) as info:
        await run(
            lambda d: d.start_heating(120),
            (b"OUT_SP_1 120.0\r\n", b""),
            (b"START_1\r\n", b""),
            (b"IN_SP_1\r\n", b"0.0 1\r\n"),
            (b"OUT_SP_1 120.0\r\n", b""),
            (b"IN_SP_1\r\n", b"0.0 1\r\n"),
            (b"STOP_1\r\n", b""),
            setpoint_tries=2,
        )
    assert str(info.value) == (
        "hotplate: the setpoint reads 0 °C (IN_SP_1) after 2 sends of OUT_SP_1 120.0; the heater was switched off "
        "again; check that the hotplate is in remote mode and not locked, then retry (or RESET it)"
    )


async def test_start_heating_refuses_an_out_of_range_setpoint_before_sending() -> None:
    with pytest.raises(IkaRangeError, match="setpoint 320 °C is outside"):
        await run(lambda d: d.start_heating(320))


def test_setpoint_tries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="hotplate: setpoint_tries=0 must be at least 1"):
        IkaRct(InProcessTransport("hotplate", Scripted([])), setpoint_tries=0)
