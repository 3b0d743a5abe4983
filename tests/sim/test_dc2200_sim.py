"""DC2200 LED-driver simulator: SCPI state and errors, the L-I curve, the LightSource API, TCP/VISA."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator

import pytest

from labctl.devices.drivers.dc2200 import DC2200Driver, LedError
from labctl.devices.transports import ConnectionDropped, InProcessTransport, InstrumentNotResponding, VisaTransport
from labctl.sim.instruments.dc2200 import GARBAGE, DC2200Simulator, serve_dc2200
from labctl.sim.physics.photoreactor import HasSpectrum, HasTransitions, LightSource, Photoreactor, Spectrum
from labctl.sim.serve import bound_port


class Clock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def talk(sim: DC2200Simulator, *lines: str) -> list[str]:
    """Send lines, return the reply lines (without LF)."""
    out = b"".join(sim.handle(line.encode() + b"\n") for line in lines)
    return [r for r in out.decode().split("\n") if r]


def errors(sim: DC2200Simulator) -> list[str]:
    found = []
    while (reply := talk(sim, "SYSTEM:ERROR?")[0]) != '0,"No error"':
        found.append(reply)
    return found


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> DC2200Simulator:
    return DC2200Simulator(clock)


# -- SCPI surface --------------------------------------------------------------------------


def test_identity_and_power_up_state(sim: DC2200Simulator) -> None:
    assert talk(sim, "*IDN?") == ["Thorlabs,DC2200,M00000001,1.0.0"]
    assert talk(sim, "SOURCE1:MODE?", "OUTPUT1:STATE?", "SENSE3:CURRENT:DATA?", "SOURCE1:CURRENT:LIMIT?") == [
        "CC",
        "0",
        "0.000000E+00",
        "1.000000E+00",
    ]
    assert errors(sim) == []


def test_both_spellings_short_forms_and_case(sim: DC2200Simulator) -> None:
    assert talk(sim, "SOURCE1:CCURENT:CURRENT 0.25") == []
    assert talk(sim, "SOURCE1:CCURRENT:CURRENT?") == ["2.500000E-01"]
    assert talk(sim, "sour:ccur:curr 0.3", ":SOUR1:CCUR:CURR?") == ["3.000000E-01"]
    assert talk(sim, "OUTP:STAT ON", "OUTPUT1:STATE?") == ["1"]
    assert talk(sim, "SENS3:CURR:DATA?") == ["3.000000E-01"]
    assert errors(sim) == []


def test_firmware_with_one_spelling_refuses_the_other(clock: Clock) -> None:
    sim = DC2200Simulator(clock, ccurrent_spellings=("CCURRENT",))
    assert talk(sim, "SOURCE1:CCURENT:CURRENT 0.25", "SOURCE1:CCURENT:CURRENT?") == []  # query unanswered
    assert errors(sim) == ['-113,"Undefined header"', '-113,"Undefined header"']
    assert talk(sim, "SOURCE1:CCURRENT:CURRENT 0.25", "SOUR1:CCUR:CURR?") == ["2.500000E-01"]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("SOURCE1:CCURENT:CURRENT 1.5", '-222,"Data out of range"'),
        ("SOURCE1:CCURENT:CURRENT -0.1", '-222,"Data out of range"'),
        ("SOURCE1:CCURENT:CURRENT abc", '-104,"Data type error"'),
        ("SOURCE1:CCURENT:CURRENT", '-109,"Missing parameter"'),
        ("SOURCE1:CURRENT:LIMIT 1.2", '-222,"Data out of range"'),
        ("SOURCE1:CBRIGHTNESS:BRIGHTNESS 120", '-222,"Data out of range"'),
        ("SOURCE1:PWM:FREQUENCY 0", '-222,"Data out of range"'),
        ("SOURCE1:PWM:DCYCLE 101", '-222,"Data out of range"'),
        ("SOURCE1:MODE CV", '-224,"Illegal parameter value"'),
        ("OUTPUT1:STATE MAYBE", '-224,"Illegal parameter value"'),
        ("SOURCE2:CCURENT:CURRENT 0.1", '-113,"Undefined header"'),
        ("SENSE:CURRENT:DATA?", '-113,"Undefined header"'),
        ("FOO:BAR 1", '-113,"Undefined header"'),
    ],
)
def test_scpi_error_codes(sim: DC2200Simulator, line: str, code: str) -> None:
    assert talk(sim, line) == []
    assert errors(sim) == [code]
    assert sim.current_setpoint == 0.0 and sim.current_limit == 1.0


def test_setpoint_above_the_limit_is_a_settings_conflict(sim: DC2200Simulator) -> None:
    talk(sim, "SOURCE1:CURRENT:LIMIT 0.5")
    talk(sim, "SOURCE1:CCURENT:CURRENT 0.7")
    assert errors(sim) == ['-221,"Settings conflict"']
    talk(sim, "SOURCE1:CCURENT:CURRENT 0.4", "SOURCE1:CURRENT:LIMIT 0.3")
    assert errors(sim) == ['-221,"Settings conflict"']  # a limit below the setpoint
    assert sim.current_setpoint == 0.4 and sim.current_limit == 0.5


def test_mode_change_with_the_output_on_is_a_conflict(sim: DC2200Simulator) -> None:
    talk(sim, "OUTPUT1:STATE ON", "SOURCE1:MODE CB")
    assert errors(sim) == ['-221,"Settings conflict"'] and sim.mode == "CC"
    talk(sim, "OUTPUT1:STATE OFF", "SOURCE1:MODE PWM")
    assert errors(sim) == [] and sim.mode == "PWM"


def test_error_queue_overflow_and_cls(sim: DC2200Simulator) -> None:
    talk(sim, *["BAD"] * 20)
    queue = sim.error_queue
    assert len(queue) == 16 and queue[-1] == (-350, "Queue overflow")
    talk(sim, "*CLS")
    assert errors(sim) == []


def test_rst_restores_power_up(sim: DC2200Simulator) -> None:
    talk(sim, "SOURCE1:CCURENT:CURRENT 0.5", "OUTPUT1:STATE ON", "*RST")
    assert not sim.output_on and sim.current_setpoint == 0.0 and sim.applied_current == 0.0


def test_applied_current_follows_the_output_and_mode(sim: DC2200Simulator) -> None:
    talk(sim, "SOURCE1:CCURENT:CURRENT 0.5")
    assert sim.applied_current == 0.0
    talk(sim, "OUTPUT1:STATE ON")
    assert talk(sim, "SENSE3:CURRENT:DATA?") == ["5.000000E-01"]
    talk(sim, "OUTPUT1:STATE OFF", "SOURCE1:MODE CB", "SOURCE1:CBRIGHTNESS:BRIGHTNESS 40", "OUTPUT1:STATE ON")
    assert sim.applied_current == pytest.approx(0.4)  # 40 % of the 1 A limit
    talk(sim, "OUTPUT1:STATE OFF", "SOURCE1:MODE PWM")
    talk(sim, "SOURCE1:PWM:CURRENT 0.8", "SOURCE1:PWM:FREQUENCY 1000", "SOURCE1:PWM:DCYCLE 25", "OUTPUT1:STATE ON")
    assert sim.pwm == (0.8, 1000.0, 25.0)
    assert sim.applied_current == pytest.approx(0.2)  # the average
    assert sim.output_watts() == pytest.approx(sim.calibrated_output_w(0.8) * 0.25)
    assert errors(sim) == []


# -- faults --------------------------------------------------------------------------------


def test_open_head_switches_off_and_refuses_output(sim: DC2200Simulator, clock: Clock) -> None:
    talk(sim, "SOURCE1:CCURENT:CURRENT 0.5", "OUTPUT1:STATE ON")
    clock.t = 10.0
    sim.open_head(True)
    assert not sim.output_on and not sim.is_lit() and sim.applied_current == 0.0
    talk(sim, "OUTPUT1:STATE ON")
    assert errors(sim) == ['-300,"Device-specific error;LED head open"'] * 2
    sim.open_head(False)
    talk(sim, "OUTPUT1:STATE ON")
    assert sim.is_lit() and errors(sim) == []


def test_silence_garbage_drop_and_injected_error(sim: DC2200Simulator) -> None:
    sim.inject_silence(True)
    assert sim.handle(b"*IDN?\n") == b""
    sim.inject_silence(False)
    sim.inject_garbage(True)
    assert sim.handle(b"*IDN?\n") == GARBAGE
    sim.inject_garbage(False)
    sim.drop_connection(1)
    with pytest.raises(ConnectionDropped):
        sim.handle(b"*IDN?\n")
    assert talk(sim, "*IDN?")[0].startswith("Thorlabs")
    sim.inject_error(-310, "System error")
    sim.inject_error(-222)
    assert errors(sim) == ['-310,"System error"', '-222,"Data out of range"']


def test_received_records_what_the_instrument_saw(sim: DC2200Simulator) -> None:
    sim.handle(b"*IDN")
    assert sim.received == []  # no complete line yet
    sim.handle(b"?\r\nSOURCE1:MODE CC\n")
    assert sim.received == ["*IDN?", "SOURCE1:MODE CC"]


# -- L-I curve and LightSource API ----------------------------------------------------------


def test_li_curve_is_rising_and_slightly_sublinear(sim: DC2200Simulator) -> None:
    p = sim.calibrated_output_w
    assert p(0.0) == 0.0
    assert p(1.0) == pytest.approx(0.765)
    assert p(0.5) > p(1.0) / 2  # sublinear
    assert p(0.5) / 0.5 < 0.9 and p(1.0) / 1.0 > 0.7  # mild droop
    values = [p(i / 100) for i in range(101)]
    assert all(b > a for a, b in itertools.pairwise(values))
    table = sim.calibration(5)
    assert table[0] == (0.0, 0.0) and table[-1] == (1.0, pytest.approx(0.765)) and len(table) == 5


def test_light_source_protocol_and_history(sim: DC2200Simulator, clock: Clock) -> None:
    assert isinstance(sim, LightSource) and isinstance(sim, HasSpectrum) and isinstance(sim, HasTransitions)
    assert sim.spectrum == Spectrum.monochromatic(420.0)
    talk(sim, "SOURCE1:CCURENT:CURRENT 0.5")
    clock.t = 100.0
    talk(sim, "OUTPUT1:STATE ON")
    clock.t = 200.0
    talk(sim, "SOURCE1:CCURENT:CURRENT 1.0")
    clock.t = 300.0
    talk(sim, "OUTPUT1:STATE OFF")
    w05, w10 = sim.calibrated_output_w(0.5), sim.calibrated_output_w(1.0)
    assert sim.output_watts(50.0) == 0.0 and not sim.is_lit(50.0)
    assert sim.output_watts(150.0) == pytest.approx(w05) and sim.is_lit(150.0)
    assert sim.output_watts(250.0) == pytest.approx(w10)
    assert sim.output_watts(350.0) == 0.0
    assert sim.transitions(0.0, 400.0) == [100.0, 200.0, 300.0]
    assert sim.transitions(100.0, 300.0) == [200.0]
    assert sim.energy_joules(0.0, 400.0) == pytest.approx(100 * w05 + 100 * w10)


def test_settle_time_delays_current_and_light(clock: Clock) -> None:
    sim = DC2200Simulator(clock, settle_time_s=2.0, current_a=0.5)
    clock.t = 10.0
    talk(sim, "OUTPUT1:STATE ON")
    assert sim.applied_current == 0.0 and not sim.is_lit()
    assert sim.is_lit(12.5)  # the future, assuming nothing else happens
    assert sim.transitions(0.0, 20.0) == [12.0]
    clock.t = 12.0
    assert talk(sim, "SENSE3:CURRENT:DATA?") == ["5.000000E-01"]


async def test_lights_a_photoreactor_in_virtual_time() -> None:
    loop = asyncio.get_running_loop()
    sim = DC2200Simulator(loop.time, current_a=1.0)
    reactor = Photoreactor(loop.time, sim)
    driver = DC2200Driver(InProcessTransport("led", sim))
    await asyncio.sleep(600)
    assert reactor.headspace_umol()["H2"] == 0.0  # dark
    await driver.set_output(True)
    t_on = loop.time()
    await asyncio.sleep(3600)
    await driver.set_output(False)
    h2 = reactor.headspace_umol()["H2"]
    # 0.765 W at 420 nm -> photon flux; the model turns it into H2 (exact value is the model's business)
    expected_flux = Spectrum.monochromatic(420.0).photon_flux_umol_per_s(sim.calibrated_output_w(1.0))
    assert reactor.photon_flux_umol_per_s(t_on + 100) == pytest.approx(expected_flux)
    assert reactor.photon_flux_umol_per_s(loop.time() + 10) == 0.0
    assert expected_flux == pytest.approx(2.686, rel=1e-3)
    assert h2 > 0
    await asyncio.sleep(600)
    assert reactor.headspace_umol()["H2"] == pytest.approx(h2)  # no H2 in the dark


# -- TCP for real VISA (pyvisa-py) ---------------------------------------------------------------


class ServedSim:
    """A simulator served on TCP loopback from a loop in its own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim = DC2200Simulator(self.loop.time)

        async def start() -> asyncio.Server:
            return await serve_dc2200(self.sim)

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)
        self.resource = f"TCPIP::127.0.0.1::{bound_port(self.server)}::SOCKET"

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


@pytest.fixture
def served() -> Iterator[ServedSim]:
    s = ServedSim()
    yield s
    s.close()


def test_reached_through_pyvisa_py_over_tcp(served: ServedSim) -> None:
    async def scenario() -> None:
        transport = VisaTransport("led", served.resource, backend="@py", timeout=2.0, retries=0)
        driver = DC2200Driver(transport)
        try:
            assert (await driver.identify()).startswith("Thorlabs,DC2200,")
            await driver.set_current(0.6)
            await driver.set_output(True)
            assert await driver.output() is True
            assert await driver.applied_current() == pytest.approx(0.6)
            with pytest.raises(LedError, match=r'-222,"Data out of range"') as info:
                await driver.set_current(1.5)
            assert info.value.code == -222
            await driver.set_output(False)
            assert await driver.applied_current() == 0.0
        finally:
            await transport.close()

    asyncio.run(scenario())
    assert served.sim.current_setpoint == pytest.approx(0.6)
    assert "SOURCE1:CCURENT:CURRENT 1.5000" in served.sim.received


def test_silent_over_tcp_is_not_responding(served: ServedSim) -> None:
    served.sim.inject_silence(True)

    async def scenario() -> None:
        transport = VisaTransport("led", served.resource, backend="@py", timeout=0.2, retries=0)
        try:
            with pytest.raises(InstrumentNotResponding, match="did not respond"):
                await DC2200Driver(transport).identify()
        finally:
            await transport.close()

    asyncio.run(scenario())
