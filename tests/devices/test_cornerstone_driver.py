"""Byte-exact protocol tests of the Cornerstone monochromator driver against scripted exchanges."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from labctl.devices.drivers.cornerstone import (
    ERROR_MEANINGS,
    CornerstoneDriver,
    MonochromatorError,
    MonochromatorHomeError,
    describe_error,
)
from labctl.devices.transports import GarbledReply, InProcessTransport, InstrumentNotResponding
from tests.devices.scripted import Scripted

ADDRESS = "/dev/ttyUSB5"


def q(line: str, answer: str, *, echo: bool = True) -> tuple[bytes, bytes]:
    """A query exchange: the line, then (echo and) the answer, each ended by CR LF."""
    sent = f"{line}\r\n".encode()
    return sent, (sent if echo else b"") + f"{answer}\r\n".encode()


def c(line: str, *, echo: bool = True) -> tuple[bytes, bytes]:
    """A command exchange: the line, answered by its echo only (nothing without echo)."""
    sent = f"{line}\r\n".encode()
    return sent, sent if echo else b""


def ok(*, echo: bool = True) -> tuple[bytes, bytes]:
    """``STB?`` with no error pending."""
    return q("STB?", "0", echo=echo)


def make(
    *exchanges: tuple[bytes, bytes], echo: bool = True, driver_kwargs: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[CornerstoneDriver, Scripted]:
    script = Scripted(list(exchanges))
    transport = InProcessTransport("monochromator", script, address=ADDRESS, **kwargs)
    return CornerstoneDriver(transport, echo=echo, **(driver_kwargs or {})), script


async def run(
    call: Callable[[CornerstoneDriver], Awaitable[Any]], *exchanges: tuple[bytes, bytes], echo: bool = True
) -> Any:
    driver, script = make(*exchanges, echo=echo)
    result = await call(driver)
    script.assert_done()
    return result


def test_driver_sets_cr_lf_terminations() -> None:
    driver, _ = make()
    assert driver.transport.write_termination == "\r\n"
    assert driver.transport.read_termination == "\r\n"


# -- queries ---------------------------------------------------------------------------------

QUERIES = [
    ("identify", (), "INFO?", "Cornerstone 130 Ver 1.2.0", "Cornerstone 130 Ver 1.2.0"),
    ("wavelength", (), "WAVE?", "350.000", 350.0),
    ("wavelength", (), "WAVE?", "1234.567", 1234.567),
    ("wavelength", (), "WAVE?", "0.000", 0.0),
    ("grating", (), "GRAT?", "1,1200,500", (1, 1200, 500)),
    ("grating", (), "GRAT?", "2, 600, 500", (2, 600, 500)),
    ("shutter_open", (), "SHUTTER?", "O", True),
    ("shutter_open", (), "SHUTTER?", "C", False),
    ("slit_um", (), "SLIT1MICRONS?", "1515", 1515.0),
    ("slit_um", (1,), "SLIT1MICRONS?", "4", 4.0),
    ("slit_um", (2,), "SLIT2MICRONS?", "3100", 3100.0),
    ("filter", (), "FILTER?", "3", 3),
    ("status_byte", (), "STB?", "0", 0),
    ("status_byte", (), "STB?", "32", 32),
    ("error_code", (), "ERROR?", "0", 0),
    ("error_code", (), "ERROR?", "10", 10),
]


@pytest.mark.parametrize("echo", [True, False], ids=["echo", "no-echo"])
@pytest.mark.parametrize(("method", "args", "line", "answer", "value"), QUERIES)
async def test_queries(method: str, args: tuple[Any, ...], line: str, answer: str, value: Any, echo: bool) -> None:
    result = await run(lambda d: getattr(d, method)(*args), q(line, answer, echo=echo), echo=echo)
    assert result == value
    assert type(result) is type(value)


async def test_answer_surrounded_by_spaces_is_accepted() -> None:
    assert await run(lambda d: d.wavelength(), q("WAVE?", "  350.000 ")) == 350.0


async def test_echo_and_answer_in_separate_chunks_are_the_same_exchange() -> None:
    # The echo arrives as the bytes are written; the answer line follows in the same read.
    driver, script = make((b"FILTER?\r\n", b"FILTER?\r\n2\r\n"))
    assert await driver.filter() == 2
    script.assert_done()


# -- commands --------------------------------------------------------------------------------

COMMANDS = [
    ("set_shutter", (True,), "SHUTTER O"),
    ("set_shutter", (False,), "SHUTTER C"),
    ("set_slit_um", (1515,), "SLIT1MICRONS 1515"),
    ("set_slit_um", (1515.4,), "SLIT1MICRONS 1515"),
    ("set_slit_um", (3030.3, 1), "SLIT1MICRONS 3030"),
    ("set_slit_um", (250.0, 2), "SLIT2MICRONS 250"),
    ("set_slit_um", (4, 2), "SLIT2MICRONS 4"),
    ("set_filter", (1,), "FILTER 1"),
    ("set_filter", (6,), "FILTER 6"),
    ("abort", (), "ABORT"),
]


@pytest.mark.parametrize("echo", [True, False], ids=["echo", "no-echo"])
@pytest.mark.parametrize(("method", "args", "line"), COMMANDS)
async def test_commands_then_stb(method: str, args: tuple[Any, ...], line: str, echo: bool) -> None:
    assert await run(lambda d: getattr(d, method)(*args), c(line, echo=echo), ok(echo=echo), echo=echo) is None


@pytest.mark.parametrize("echo", [True, False], ids=["echo", "no-echo"])
@pytest.mark.parametrize(
    ("nm", "line", "final"),
    [
        (350, "GOWAVE 350.000", "350.000"),
        (350.0, "GOWAVE 350.000", "350.000"),
        (532.1234, "GOWAVE 532.123", "532.123"),
        (0, "GOWAVE 0.000", "0.000"),
        (1199.9996, "GOWAVE 1200.000", "1200.000"),
    ],
)
async def test_go_wave_already_there(nm: float, line: str, final: str, echo: bool) -> None:
    result = await run(
        lambda d: d.go_wave(nm), c(line, echo=echo), ok(echo=echo), q("WAVE?", final, echo=echo), echo=echo
    )
    assert result == float(final)


async def test_go_wave_polls_until_within_tolerance() -> None:
    driver, script = make(
        c("GOWAVE 400.000"),
        ok(),
        q("WAVE?", "500.000"),
        q("WAVE?", "460.000"),
        q("WAVE?", "400.020"),
        q("WAVE?", "400.009"),
        driver_kwargs={"move_poll_s": 0.5},
    )
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await driver.go_wave(400) == 400.009
    assert loop.time() - t0 == pytest.approx(1.5, abs=1e-9)  # three polls apart
    script.assert_done()


async def test_go_wave_timeout_names_target_and_last_position() -> None:
    driver, script = make(
        c("GOWAVE 400.000"),
        ok(),
        q("WAVE?", "500.000"),
        q("WAVE?", "480.000"),
        q("WAVE?", "470.125"),
        driver_kwargs={"move_poll_s": 1.0, "move_timeout_s": 2.0},
    )
    with pytest.raises(
        MonochromatorError, match=r"move to 400\.000 nm did not finish within 2 s \(last position 470\.125"
    ):
        await driver.go_wave(400)
    script.assert_done()


async def test_set_grating_waits_until_grat_reports_it() -> None:
    driver, script = make(
        c("GRAT 2"),
        ok(),
        q("GRAT?", "1,1200,350"),
        q("GRAT?", "1,1200,350"),
        q("GRAT?", "2,600,500"),
        driver_kwargs={"move_poll_s": 2.5},
    )
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await driver.set_grating(2)
    assert loop.time() - t0 == pytest.approx(5.0, abs=1e-9)
    script.assert_done()


@pytest.mark.parametrize("echo", [True, False], ids=["echo", "no-echo"])
async def test_set_grating_bytes(echo: bool) -> None:
    await run(
        lambda d: d.set_grating(1),
        c("GRAT 1", echo=echo),
        ok(echo=echo),
        q("GRAT?", "1,1200,350", echo=echo),
        echo=echo,
    )


async def test_set_grating_timeout() -> None:
    driver, _ = make(
        c("GRAT 2"),
        ok(),
        *[q("GRAT?", "1,1200,350")] * 3,
        driver_kwargs={"move_poll_s": 1.0, "move_timeout_s": 2.0},
    )
    with pytest.raises(
        MonochromatorError, match=r"grating 2 was not in the beam within 2 s \(GRAT\? still reports 1\)"
    ):
        await driver.set_grating(2)


# -- errors reported by the instrument -------------------------------------------------------


def test_error_meanings_follow_the_manual() -> None:
    assert ERROR_MEANINGS == {
        0: "no error",
        1: "command not understood",
        2: "bad parameter",
        3: "destination position not allowed",
        6: "accessory not present",
        8: "could not home",
        10: "system error",
    }
    assert describe_error(99) == "unknown error code"


@pytest.mark.parametrize("echo", [True, False], ids=["echo", "no-echo"])
@pytest.mark.parametrize(
    ("call", "line", "code", "error", "match"),
    [
        (
            lambda d: d.set_filter(1),
            "FILTER 1",
            1,
            MonochromatorError,
            r"'FILTER 1' failed with error 1 \(command not understood\); check the command spelling",
        ),
        (
            lambda d: d.set_slit_um(5000),
            "SLIT1MICRONS 5000",
            2,
            MonochromatorError,
            r"'SLIT1MICRONS 5000' failed with error 2 \(bad parameter\); the value is outside",
        ),
        (
            lambda d: d.go_wave(2000),
            "GOWAVE 2000.000",
            3,
            MonochromatorError,
            r"'GOWAVE 2000\.000' failed with error 3 \(destination position not allowed\); the wavelength is "
            r"outside the current grating's range; .*set_grating\(\)",
        ),
        (
            lambda d: d.set_filter(2),
            "FILTER 2",
            6,
            MonochromatorError,
            r"'FILTER 2' failed with error 6 \(accessory not present\); the addressed accessory",
        ),
        (
            lambda d: d.go_wave(500),
            "GOWAVE 500.000",
            8,
            MonochromatorHomeError,
            r"'GOWAVE 500\.000' failed with error 8 \(could not home\); .*power-cycle",
        ),
        (
            lambda d: d.set_grating(2),
            "GRAT 2",
            8,
            MonochromatorHomeError,
            r"'GRAT 2' failed with error 8 \(could not home\)",
        ),
        (
            lambda d: d.set_shutter(True),
            "SHUTTER O",
            10,
            MonochromatorError,
            r"'SHUTTER O' failed with error 10 \(system error\); .*power-cycle the monochromator",
        ),
        (
            lambda d: d.abort(),
            "ABORT",
            42,
            MonochromatorError,
            r"'ABORT' failed with error 42 \(unknown error code\); look the code up",
        ),
    ],
)
async def test_instrument_errors(
    call: Callable[[CornerstoneDriver], Awaitable[Any]],
    line: str,
    code: int,
    error: type[MonochromatorError],
    match: str,
    echo: bool,
) -> None:
    driver, script = make(c(line, echo=echo), q("STB?", "32", echo=echo), q("ERROR?", str(code), echo=echo), echo=echo)
    with pytest.raises(error, match=match) as info:
        await call(driver)
    script.assert_done()
    assert type(info.value) is error
    assert info.value.code == code
    assert info.value.command == line
    assert f"monochromator at {ADDRESS}" in str(info.value)


async def test_home_error_is_a_monochromator_error() -> None:
    assert issubclass(MonochromatorHomeError, MonochromatorError)


async def test_other_stb_bits_do_not_read_error() -> None:
    await run(lambda d: d.set_filter(1), c("FILTER 1"), q("STB?", str(0xFF & ~0x20)))


async def test_stb_error_bit_with_error_already_cleared_is_not_an_error() -> None:
    await run(lambda d: d.set_filter(1), c("FILTER 1"), q("STB?", "32"), q("ERROR?", "0"))


# -- argument validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "args", "match"),
    [
        ("go_wave", (math.nan,), r"wavelength nan is not a wavelength in nm; pass a finite number >= 0"),
        ("go_wave", (math.inf,), r"wavelength inf is not a wavelength"),
        ("go_wave", (-1.0,), r"wavelength -1\.0 is not a wavelength"),
        ("go_wave", ("350",), r"wavelength '350' is not a wavelength"),
        ("go_wave", (True,), r"wavelength True is not a wavelength"),
        ("set_slit_um", (-5.0,), r"slit width -5\.0 is not a width in µm; pass a finite number > 0"),
        ("set_slit_um", (0,), r"slit width 0 is not a width"),
        ("set_slit_um", (math.nan,), r"slit width nan is not a width"),
        ("set_slit_um", (0.2,), r"slit width 0\.2 µm rounds to 0 µm"),
        ("set_slit_um", (100, 3), r"slit 3 does not exist; pass 1 \(entrance\) or 2 \(exit\)"),
        ("slit_um", (0,), r"slit 0 does not exist"),
        ("set_grating", (0,), r"grating 0 is not a grating number; pass an integer >= 1"),
        ("set_grating", (1.0,), r"grating 1\.0 is not a grating number"),
        ("set_filter", (0,), r"filter 0 is not a filter position; pass an integer >= 1"),
        ("set_filter", (True,), r"filter True is not a filter position"),
        ("set_shutter", (1,), r"open_=1 must be True \(open the shutter\) or False"),
    ],
)
async def test_arguments_rejected_before_sending(method: str, args: tuple[Any, ...], match: str) -> None:
    driver, script = make()  # any write would fail the script
    with pytest.raises(ValueError, match=match):
        await getattr(driver, method)(*args)
    script.assert_done()


@pytest.mark.parametrize("kwargs", [{"move_poll_s": 0}, {"move_timeout_s": -1.0}, {"move_poll_s": math.nan}])
def test_bad_polling_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be a positive number of seconds"):
        make(driver_kwargs=kwargs)


# -- garbled and missing replies -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "line", "answer"),
    [
        ("wavelength", "WAVE?", "abc"),
        ("wavelength", "WAVE?", ""),
        ("wavelength", "WAVE?", "350,000"),
        ("wavelength", "WAVE?", "3.5e2"),
        ("grating", "GRAT?", "1"),
        ("grating", "GRAT?", "1,1200"),
        ("grating", "GRAT?", "a,b,c"),
        ("shutter_open", "SHUTTER?", "OPEN"),
        ("shutter_open", "SHUTTER?", "1"),
        ("slit_um", "SLIT1MICRONS?", "wide"),
        ("filter", "FILTER?", "1.5"),
        ("status_byte", "STB?", "-1"),
        ("status_byte", "STB?", "256"),
        ("error_code", "ERROR?", "E1"),
        ("identify", "INFO?", ""),
    ],
)
async def test_garbled_answer(method: str, line: str, answer: str) -> None:
    driver, _ = make(q(line, answer))
    with pytest.raises(GarbledReply) as info:
        await getattr(driver, method)()
    message = str(info.value)
    assert f"monochromator at {ADDRESS}" in message
    assert repr(line) in message
    assert repr(answer.strip().encode()) in message


async def test_wrong_echo_is_garbled_and_suggests_echo_false() -> None:
    # echo=True on a link that does not echo: the answer is taken for the echo.
    driver, _ = make((b"WAVE?\r\n", b"350.000\r\nxyz\r\n"))
    with pytest.raises(
        GarbledReply, match=r"answered 'WAVE\?' with b'350\.000', expected its echo 'WAVE\?'; .*echo=False"
    ):
        await driver.wavelength()


async def test_wrong_echo_of_command_is_garbled() -> None:
    driver, _ = make((b"SHUTTER O\r\n", b"SHUTTER C\r\n"))
    with pytest.raises(GarbledReply, match=r"answered 'SHUTTER O' with b'SHUTTER C', expected its echo"):
        await driver.set_shutter(True)


async def test_echo_taken_for_answer_suggests_echo_true() -> None:
    driver, _ = make((b"WAVE?\r\n", b"WAVE?\r\n350.000\r\n"), echo=False)
    with pytest.raises(GarbledReply, match=r"that is the echo of the command; .*echo=True"):
        await driver.wavelength()


async def test_undecodable_bytes_are_garbled() -> None:
    driver, _ = make((b"WAVE?\r\n", b"WAVE?\r\n\x8f\xff\r\n"))
    with pytest.raises(GarbledReply, match=r"monochromator at /dev/ttyUSB5 sent undecodable bytes"):
        await driver.wavelength()


async def test_echo_without_answer_is_not_responding() -> None:
    # An unknown query gets its echo only: the answer line never comes.
    driver, script = make(
        (b"WAVE?\r\n", b"WAVE?\r\n"), (b"WAVE?\r\n", b"WAVE?\r\n"), timeout=0.05, retries=1, backoff=0.01
    )
    with pytest.raises(InstrumentNotResponding, match=r"monochromator at /dev/ttyUSB5 .*'WAVE\?' after 2 attempts"):
        await driver.wavelength()
    script.assert_done()


@pytest.mark.parametrize("echo", [True, False], ids=["echo", "no-echo"])
async def test_silent_instrument_not_responding(echo: bool) -> None:
    driver, script = make((b"STB?\r\n", b""), (b"STB?\r\n", b""), echo=echo, timeout=0.05, retries=1, backoff=0.01)
    with pytest.raises(InstrumentNotResponding, match=r"monochromator at /dev/ttyUSB5 .*'STB\?'"):
        await driver.status_byte()
    script.assert_done()


# -- Transport.query_lines on the other transports -------------------------------------------


async def test_query_lines_rejects_zero_lines() -> None:
    driver, script = make()
    with pytest.raises(ValueError, match=r"n must be at least 1"):
        await driver.transport.query_lines("WAVE?", 0)
    script.assert_done()


async def test_query_lines_over_serial_loopback_reads_the_echo() -> None:
    from labctl.devices.transports import SerialTransport

    transport = SerialTransport("monochromator", "loop://", write_termination="\r\n", read_termination="\r\n")
    try:
        assert await transport.query_lines("GOWAVE 350.000", 1) == ["GOWAVE 350.000"]
    finally:
        await transport.close()


async def test_query_lines_through_pyvisa_sim() -> None:
    from labctl.devices.transports import VisaTransport

    transport = VisaTransport("siggen", "ASRL1::INSTR", backend="@sim", read_termination="\n", write_termination="\r\n")
    try:
        assert await transport.query_lines("?IDN", 1) == ["LSG Serial #1234"]
    finally:
        await transport.close()
