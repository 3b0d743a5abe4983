"""Byte-exact SCPI tests of the DC2200 LED driver against scripted exchanges, and on pyvisa-sim."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib.resources import as_file
from typing import Any

import pytest

from labctl.devices.drivers.dc2200 import SIM_RESOURCE, DC2200Driver, LedError, LedLimitError, pyvisa_sim_file
from labctl.devices.transports import GarbledReply, InProcessTransport, InstrumentNotResponding, VisaTransport
from labctl.sim.instruments.dc2200 import DC2200Simulator
from tests.devices.scripted import Scripted

ADDRESS = "USB0::0x1313::0x80C8::M00123456::INSTR"
OK = (b"SYSTEM:ERROR?\n", b'0,"No error"\n')


def make(*exchanges: tuple[bytes, bytes], **kwargs: Any) -> tuple[DC2200Driver, Scripted]:
    script = Scripted(list(exchanges))
    transport = InProcessTransport("led", script, address=ADDRESS, **kwargs)
    return DC2200Driver(transport), script


async def run(call: Callable[[DC2200Driver], Awaitable[Any]], *exchanges: tuple[bytes, bytes]) -> Any:
    driver, script = make(*exchanges)
    result = await call(driver)
    script.assert_done()
    return result


# -- queries ---------------------------------------------------------------------------------


async def test_identify() -> None:
    ident = await run(lambda d: d.identify(), (b"*IDN?\n", b"Thorlabs,DC2200,M00123456,1.0.3\n"))
    assert ident == "Thorlabs,DC2200,M00123456,1.0.3"


@pytest.mark.parametrize(
    ("method", "sent", "reply", "value"),
    [
        ("current_setpoint", b"SOURCE1:CCURENT:CURRENT?\n", b"5.000000E-01\n", 0.5),
        ("current_setpoint", b"SOURCE1:CCURENT:CURRENT?\n", b"0.25\n", 0.25),
        ("brightness", b"SOURCE1:CBRIGHTNESS:BRIGHTNESS?\n", b"4.250000E+01\n", 42.5),
        ("applied_current", b"SENSE3:CURRENT:DATA?\n", b"0.000000E+00\n", 0.0),
        ("applied_current", b"SENSE3:CURRENT:DATA?\n", b"+4.998000E-01\n", 0.4998),
        ("current_limit", b"SOURCE1:CURRENT:LIMIT?\n", b"1.000000E+00\n", 1.0),
        ("mode", b"SOURCE1:MODE?\n", b"CC\n", "CC"),
        ("mode", b"SOURCE1:MODE?\n", b"PWM\n", "PWM"),
        ("output", b"OUTPUT1:STATE?\n", b"1\n", True),
        ("output", b"OUTPUT1:STATE?\n", b"0\n", False),
        ("output", b"OUTPUT1:STATE?\n", b"OFF\n", False),
    ],
)
async def test_queries(method: str, sent: bytes, reply: bytes, value: Any) -> None:
    result = await run(lambda d: getattr(d, method)(), (sent, reply))
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    ("method", "sent", "reply"),
    [
        ("current_setpoint", b"SOURCE1:CCURENT:CURRENT?\n", b"0.5A\n"),
        ("current_setpoint", b"SOURCE1:CCURENT:CURRENT?\n", b"\n"),
        ("mode", b"SOURCE1:MODE?\n", b"CV\n"),
        ("output", b"OUTPUT1:STATE?\n", b"2\n"),
        ("identify", b"*IDN?\n", b"garbage\n"),
    ],
)
async def test_nonsense_replies_are_garbled(method: str, sent: bytes, reply: bytes) -> None:
    driver, _ = make((sent, reply))
    with pytest.raises(GarbledReply, match=r"led \(DC2200 at USB0::0x1313::0x80C8::M00123456::INSTR\) answered"):
        await getattr(driver, method)()


async def test_garbled_error_queue_reply() -> None:
    driver, _ = make((b"OUTPUT1:STATE ON\n", b""), (b"SYSTEM:ERROR?\n", b"what?\n"))
    with pytest.raises(GarbledReply, match="SYSTEM:ERROR"):
        await driver.set_output(True)


# -- commands: each followed by SYSTEM:ERROR? ------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "sent"),
    [
        (lambda d: d.set_current(0.5), b"SOURCE1:CCURENT:CURRENT 0.5000\n"),
        (lambda d: d.set_current(1), b"SOURCE1:CCURENT:CURRENT 1.0000\n"),
        (lambda d: d.set_current(0.12345), b"SOURCE1:CCURENT:CURRENT 0.1235\n"),
        (lambda d: d.set_mode("CC"), b"SOURCE1:MODE CC\n"),
        (lambda d: d.set_mode("pwm"), b"SOURCE1:MODE PWM\n"),
        (lambda d: d.set_brightness(42.5), b"SOURCE1:CBRIGHTNESS:BRIGHTNESS 42.50\n"),
        (lambda d: d.set_output(True), b"OUTPUT1:STATE ON\n"),
        (lambda d: d.set_output(False), b"OUTPUT1:STATE OFF\n"),
        (lambda d: d.set_current_limit(0.8), b"SOURCE1:CURRENT:LIMIT 0.8000\n"),
    ],
)
async def test_commands_bytes(call: Callable[[DC2200Driver], Awaitable[None]], sent: bytes) -> None:
    await run(call, (sent, b""), OK)


async def test_set_pwm_sends_three_settings() -> None:
    await run(
        lambda d: d.set_pwm(current_a=0.3, frequency_hz=500, duty_percent=25),
        (b"SOURCE1:PWM:CURRENT 0.3000\n", b""),
        OK,
        (b"SOURCE1:PWM:FREQUENCY 500.0\n", b""),
        OK,
        (b"SOURCE1:PWM:DCYCLE 25.00\n", b""),
        OK,
    )


async def test_error_queue_raises_with_the_instruments_message() -> None:
    driver, script = make(
        (b"SOURCE1:CCURENT:CURRENT 0.9000\n", b""),
        (b"SYSTEM:ERROR?\n", b'-222,"Data out of range"\n'),
        OK,
    )
    with pytest.raises(LedError) as info:
        await driver.set_current(0.9)
    script.assert_done()
    err = info.value
    assert err.code == -222 and err.instrument_message == "Data out of range"
    assert err.command == "SOURCE1:CCURENT:CURRENT 0.9000"
    msg = str(err)
    assert '-222,"Data out of range"' in msg and "SOURCE1:CCURENT:CURRENT 0.9000" in msg
    assert "choose a value within" in msg  # the fix


async def test_settings_conflict_names_the_limit() -> None:
    driver, _ = make(
        (b"SOURCE1:CCURENT:CURRENT 0.9000\n", b""),
        (b"SYSTEM:ERROR?\n", b'-221,"Settings conflict"\n'),
        OK,
    )
    with pytest.raises(LedError, match=r"SOURCE1:CURRENT:LIMIT.*raise the limit"):
        await driver.set_current(0.9)


async def test_errors_drains_the_queue() -> None:
    errors = await run(
        lambda d: d.errors(),
        (b"SYSTEM:ERROR?\n", b'-113,"Undefined header"\n'),
        (b"SYSTEM:ERROR?\n", b'-300,"Device-specific error;LED head open"\n'),
        OK,
    )
    assert errors == [(-113, "Undefined header"), (-300, "Device-specific error;LED head open")]
    assert await run(lambda d: d.errors(), OK) == []


# -- spelling fallback ---------------------------------------------------------------------


async def test_setter_falls_back_to_the_other_spelling_and_remembers_it() -> None:
    driver, script = make(
        (b"SOURCE1:CCURENT:CURRENT 0.5000\n", b""),
        (b"SYSTEM:ERROR?\n", b'-113,"Undefined header"\n'),
        OK,
        (b"SOURCE1:CCURRENT:CURRENT 0.5000\n", b""),
        OK,
        # remembered: the next setting and the query go straight to the working spelling
        (b"SOURCE1:CCURRENT:CURRENT 0.6000\n", b""),
        OK,
        (b"SOURCE1:CCURRENT:CURRENT?\n", b"6.000000E-01\n"),
    )
    await driver.set_current(0.5)
    await driver.set_current(0.6)
    assert await driver.current_setpoint() == 0.6
    script.assert_done()


async def test_setter_falls_back_to_the_short_form_last() -> None:
    undefined = (b"SYSTEM:ERROR?\n", b'-113,"Undefined header"\n')
    await run(
        lambda d: d.set_current(0.5),
        (b"SOURCE1:CCURENT:CURRENT 0.5000\n", b""),
        undefined,
        OK,
        (b"SOURCE1:CCURRENT:CURRENT 0.5000\n", b""),
        undefined,
        OK,
        (b"SOUR1:CCUR:CURR 0.5000\n", b""),
        OK,
    )


async def test_every_spelling_undefined_raises_the_last_error() -> None:
    undefined = (b"SYSTEM:ERROR?\n", b'-113,"Undefined header"\n')
    driver, _ = make(
        (b"SOURCE1:CCURENT:CURRENT 0.5000\n", b""),
        undefined,
        OK,
        (b"SOURCE1:CCURRENT:CURRENT 0.5000\n", b""),
        undefined,
        OK,
        (b"SOUR1:CCUR:CURR 0.5000\n", b""),
        undefined,
        OK,
    )
    with pytest.raises(LedError, match=r"-113.*does not know the command header") as info:
        await driver.set_current(0.5)
    assert info.value.command == "SOUR1:CCUR:CURR 0.5000"


async def test_once_confirmed_a_spelling_is_not_abandoned() -> None:
    driver, script = make(
        (b"SOURCE1:CCURENT:CURRENT 0.5000\n", b""),
        OK,
        (b"SOURCE1:CCURENT:CURRENT 0.6000\n", b""),
        (b"SYSTEM:ERROR?\n", b'-113,"Undefined header"\n'),
        OK,
    )
    await driver.set_current(0.5)
    with pytest.raises(LedError, match="-113"):
        await driver.set_current(0.6)
    script.assert_done()


async def test_unanswered_query_falls_back_on_undefined_header() -> None:
    # A SCPI instrument does not answer a query with an unknown header; it queues -113.
    driver, script = make(
        (b"SOURCE1:CCURENT:CURRENT?\n", b""),
        (b"SYSTEM:ERROR?\n", b'-113,"Undefined header"\n'),
        OK,
        (b"SOURCE1:CCURRENT:CURRENT?\n", b"2.500000E-01\n"),
        (b"SOURCE1:CCURRENT:CURRENT?\n", b"2.500000E-01\n"),
        retries=0,
        timeout=0.5,
    )
    assert await driver.current_setpoint() == 0.25
    assert await driver.current_setpoint() == 0.25
    script.assert_done()


async def test_unanswered_query_without_undefined_header_is_not_responding() -> None:
    driver, _ = make((b"SOURCE1:CCURENT:CURRENT?\n", b""), OK, retries=0, timeout=0.5)
    with pytest.raises(InstrumentNotResponding):
        await driver.current_setpoint()


# -- refused before sending ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d: d.set_current(-0.1), r"current setpoint -0.1 A is outside the DC2200 range 0-10 A"),
        (lambda d: d.set_current(11), r"outside the DC2200 range"),
        (lambda d: d.set_current(float("nan")), r"not a finite number"),
        (lambda d: d.set_current(True), r"not a finite number"),
        (lambda d: d.set_brightness(101), r"brightness 101 % is outside 0-100 %"),
        (lambda d: d.set_mode("CV"), r"mode 'CV' is not a DC2200 mode"),
        (lambda d: d.set_pwm(current_a=0.1, frequency_hz=0, duty_percent=50), r"PWM frequency 0 Hz"),
        (lambda d: d.set_pwm(current_a=0.1, frequency_hz=100, duty_percent=-1), r"PWM duty cycle -1 %"),
        (lambda d: d.set_output(1), r"must be True"),
    ],
)
async def test_impossible_values_are_refused_before_anything_is_sent(
    call: Callable[[DC2200Driver], Awaitable[None]], match: str
) -> None:
    driver, script = make()  # any write would fail the script
    with pytest.raises(LedLimitError, match=match):
        await call(driver)
    script.assert_done()
    assert isinstance(LedLimitError("x"), ValueError)


# -- against the stateful simulator --------------------------------------------------------


async def test_silent_instrument_is_not_responding() -> None:
    sim = DC2200Simulator(asyncio.get_running_loop().time)
    sim.inject_silence(True)
    driver = DC2200Driver(InProcessTransport("led", sim, address=ADDRESS, timeout=1.0, retries=1))
    with pytest.raises(InstrumentNotResponding, match=r"led at USB0::0x1313::0x80C8::M00123456::INSTR did not respond"):
        await driver.identify()


async def test_fallback_against_a_firmware_that_knows_only_ccurrent() -> None:
    sim = DC2200Simulator(asyncio.get_running_loop().time, ccurrent_spellings=("CCURRENT",))
    driver = DC2200Driver(InProcessTransport("led", sim, address=ADDRESS))
    await driver.set_current(0.4)
    assert sim.current_setpoint == pytest.approx(0.4)
    assert await driver.current_setpoint() == pytest.approx(0.4)
    assert sim.received[0] == "SOURCE1:CCURENT:CURRENT 0.4000"
    assert "SOURCE1:CCURRENT:CURRENT 0.4000" in sim.received
    assert sim.received[-1] == "SOURCE1:CCURRENT:CURRENT?"
    assert await driver.errors() == []


# -- pyvisa-sim ----------------------------------------------------------------------------


def test_pyvisa_sim_file_opens_and_the_driver_works_through_visa() -> None:
    import pyvisa

    with as_file(pyvisa_sim_file()) as path:
        backend = f"{path}@sim"
        rm = pyvisa.ResourceManager(backend)
        try:
            res = rm.open_resource(SIM_RESOURCE, read_termination="\n", write_termination="\n")
            assert res.query("*IDN?").startswith("Thorlabs,DC2200,")
            res.close()
        finally:
            rm.close()

        async def scenario() -> None:
            transport = VisaTransport("led", SIM_RESOURCE, backend=backend, timeout=1.0, retries=0)
            driver = DC2200Driver(transport)
            try:
                assert (await driver.identify()).startswith("Thorlabs,DC2200,M00000001")
                await driver.set_current(0.35)
                assert await driver.current_setpoint() == pytest.approx(0.35)
                assert await driver.mode() == "CC"
                await driver.set_output(True)
                assert await driver.output() is True
                assert await driver.applied_current() == 0.0  # static: pyvisa-sim has no output model
                # out of the head's range: pyvisa-sim queues its one generic write error
                with pytest.raises(LedError, match=r'-100,"Command error"') as info:
                    await driver.set_current(2.0)
                assert info.value.code == -100
                assert await driver.current_setpoint() == pytest.approx(0.35)
                assert await driver.errors() == []
            finally:
                await transport.close()

        asyncio.run(scenario())
