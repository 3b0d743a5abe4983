"""The Cornerstone monochromator simulator: its wire behaviour, its physics read-outs, and the driver against it."""

from __future__ import annotations

import asyncio

import pytest

from labctl.devices.drivers.cornerstone import CornerstoneDriver, MonochromatorError, MonochromatorHomeError
from labctl.devices.transports import ConnectionDropped, InProcessTransport, InstrumentNotResponding
from labctl.sim.instruments.cornerstone import DEFAULT_GRATINGS, CornerstoneSimulator, Grating

T0 = 1000.0


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def changes() -> list[float]:
    return []


@pytest.fixture
def sim(clock: FakeClock, changes: list[float]) -> CornerstoneSimulator:
    return CornerstoneSimulator(clock, on_change=changes.append)


def say(sim: CornerstoneSimulator, line: str) -> bytes:
    return sim.handle(line.encode() + b"\r\n")


def answer(sim: CornerstoneSimulator, line: str) -> str:
    """The answer line to a query, after checking the echo."""
    reply = say(sim, line)
    echo = line.encode() + b"\r\n"
    assert reply.startswith(echo), reply
    rest = reply[len(echo) :]
    assert rest.endswith(b"\r\n") and rest.count(b"\r\n") == 1, reply
    return rest[:-2].decode()


def error(sim: CornerstoneSimulator) -> int:
    return int(answer(sim, "ERROR?"))


# -- wire behaviour --------------------------------------------------------------------------


def test_power_up_state(sim: CornerstoneSimulator) -> None:
    assert answer(sim, "INFO?") == "Cornerstone 130 Ver 1.2.0"
    assert answer(sim, "WAVE?") == "500.000"
    assert answer(sim, "GRAT?") == "1,1200,350"
    assert answer(sim, "SHUTTER?") == "C"
    assert answer(sim, "SLIT1MICRONS?") == "1000"
    assert answer(sim, "SLIT2MICRONS?") == "1000"
    assert answer(sim, "FILTER?") == "1"
    assert answer(sim, "STB?") == "0"
    assert answer(sim, "ERROR?") == "0"


def test_command_answered_by_echo_only(sim: CornerstoneSimulator) -> None:
    assert say(sim, "SHUTTER O") == b"SHUTTER O\r\n"
    assert sim.shutter_open


def test_echo_of_partial_writes_comes_at_once(sim: CornerstoneSimulator) -> None:
    assert sim.handle(b"WAV") == b"WAV"
    assert sim.handle(b"E?\r\n") == b"E?\r\n500.000\r\n"


def test_no_echo_over_usb(clock: FakeClock) -> None:
    sim = CornerstoneSimulator(clock, echo=False)
    assert sim.handle(b"WAVE?\r\n") == b"500.000\r\n"
    assert sim.handle(b"SHUTTER O\r\n") == b""


def test_echo_command_turns_echo_off_and_on(sim: CornerstoneSimulator) -> None:
    assert say(sim, "ECHO 0") == b"ECHO 0\r\n"  # the line that turns it off is still echoed
    assert sim.handle(b"WAVE?\r\n") == b"500.000\r\n"
    assert sim.handle(b"ECHO 1\r\n") == b""
    assert say(sim, "STB?") == b"STB?\r\n0\r\n"


def test_lower_case_and_lone_line_ends(sim: CornerstoneSimulator) -> None:
    assert sim.handle(b"wave?\r") == b"wave?\r500.000\r\n"
    assert sim.handle(b"\n") == b"\n"  # an empty line is ignored
    assert answer(sim, "ERROR?") == "0"


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("HELLO", 1),
        ("GOWAVE", 2),
        ("GOWAVE abc", 2),
        ("GOWAVE 100", 3),
        ("GOWAVE 1000.001", 3),
        ("GRAT 3", 2),
        ("GRAT x", 2),
        ("SHUTTER X", 2),
        ("SLIT1MICRONS 3", 2),
        ("SLIT1MICRONS 3101", 2),
        ("SLIT2MICRONS -10", 2),
        ("SLIT3MICRONS 100", 6),
        ("FILTER 0", 2),
        ("FILTER 7", 2),
        ("ECHO 2", 2),
    ],
)
def test_command_errors(sim: CornerstoneSimulator, line: str, code: int) -> None:
    assert say(sim, line) == line.encode() + b"\r\n"
    assert answer(sim, "STB?") == "32"
    assert error(sim) == code
    assert answer(sim, "STB?") == "0"  # read-and-clear
    assert error(sim) == 0


def test_rejected_commands_change_nothing(sim: CornerstoneSimulator, changes: list[float]) -> None:
    for line in ("GOWAVE 100", "GRAT 3", "SLIT1MICRONS 5000", "FILTER 9"):
        say(sim, line)
    assert (sim.wavelength_nm(), sim.grating, sim.slit_um(1), sim.filter) == (500.0, 1, 1000.0, 1)
    assert not sim.moving()
    assert changes == []


@pytest.mark.parametrize("line", ["FOO?", "SLIT3MICRONS?"])
def test_unknown_query_gets_echo_only(sim: CornerstoneSimulator, line: str) -> None:
    assert say(sim, line) == line.encode() + b"\r\n"
    assert error(sim) == (6 if line.startswith("SLIT") else 1)


def test_newer_error_replaces_pending_one(sim: CornerstoneSimulator) -> None:
    say(sim, "HELLO")
    say(sim, "FILTER 9")
    assert error(sim) == 2


def test_filter_wheel_absent(clock: FakeClock) -> None:
    sim = CornerstoneSimulator(clock, filter_wheel=False)
    say(sim, "FILTER 2")
    assert error(sim) == 6
    assert say(sim, "FILTER?") == b"FILTER?\r\n"
    assert error(sim) == 6


def test_slits_rounded_to_whole_microns(sim: CornerstoneSimulator) -> None:
    say(sim, "SLIT2MICRONS 250.6")
    assert answer(sim, "SLIT2MICRONS?") == "251"
    assert sim.slit_um(2) == 251.0
    assert sim.slit_um(1) == 1000.0


def test_custom_model_and_gratings(clock: FakeClock) -> None:
    gratings = {3: Grating(lines_per_mm=300, blaze_nm=1000, min_nm=500.0, max_nm=3000.0, dispersion_nm_per_mm=26.4)}
    sim = CornerstoneSimulator(clock, model="Cornerstone 260", firmware="2.0", gratings=gratings, grating=3,
                               wavelength_nm=1500.0)  # fmt: skip
    assert answer(sim, "INFO?") == "Cornerstone 260 Ver 2.0"
    assert answer(sim, "GRAT?") == "3,300,1000"
    assert sim.bandpass_nm() == pytest.approx(26.4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grating": 5}, r"grating 5 is not in the gratings table \[1, 2\]"),
        ({"wavelength_nm": 100.0}, r"start wavelength 100\.0 nm is outside grating 1's range 180\.0\.\.1000\.0"),
        ({"slit_um": 2.0}, r"start slit width 2\.0 µm is outside 4\.\.3100"),
    ],
)
def test_bad_construction(clock: FakeClock, kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CornerstoneSimulator(clock, **kwargs)  # type: ignore[arg-type]


# -- moves in time ---------------------------------------------------------------------------


def test_move_interpolates_linearly(sim: CornerstoneSimulator, clock: FakeClock) -> None:
    say(sim, "GOWAVE 350")
    duration = 0.2 + 150 / 250
    assert sim.moving()
    clock.advance(duration / 2)
    assert answer(sim, "WAVE?") == "425.000"
    assert sim.wavelength_nm() == pytest.approx(425.0)
    assert sim.wavelength_nm(T0 + duration / 4) == pytest.approx(462.5)
    clock.advance(duration / 2)
    assert answer(sim, "WAVE?") == "350.000"
    assert not sim.moving()
    assert sim.moving(T0 + duration - 1e-6)


def test_move_to_same_wavelength_takes_settle_time(sim: CornerstoneSimulator, clock: FakeClock) -> None:
    say(sim, "GOWAVE 500.000")
    assert sim.moving()
    assert not sim.moving(T0 + 0.2)


def test_abort_stops_where_it_is(sim: CornerstoneSimulator, clock: FakeClock, changes: list[float]) -> None:
    say(sim, "GOWAVE 750")  # 0.2 s + 1.0 s
    clock.advance(0.6)
    say(sim, "ABORT")
    assert error(sim) == 0
    assert not sim.moving()
    clock.advance(10)
    assert answer(sim, "WAVE?") == "625.000"
    assert changes == [T0, T0 + 0.6]


def test_abort_when_idle_changes_nothing(sim: CornerstoneSimulator, changes: list[float]) -> None:
    say(sim, "ABORT")
    assert error(sim) == 0
    assert changes == []


def test_gowave_during_move_retargets_from_present_position(sim: CornerstoneSimulator, clock: FakeClock) -> None:
    say(sim, "GOWAVE 750")
    clock.advance(0.6)  # at 625 nm
    say(sim, "GOWAVE 600")
    assert sim.wavelength_nm() == pytest.approx(625.0)
    clock.advance((0.2 + 25 / 250) / 2)
    assert sim.wavelength_nm() == pytest.approx(612.5)
    clock.advance(1)
    assert answer(sim, "WAVE?") == "600.000"


def test_grating_change_takes_five_seconds_and_keeps_wavelength(
    sim: CornerstoneSimulator, clock: FakeClock, changes: list[float]
) -> None:
    say(sim, "GRAT 2")
    assert error(sim) == 0
    assert changes == [T0]
    assert sim.grating == 2 and sim.moving()
    clock.advance(4.9)
    assert answer(sim, "GRAT?") == "1,1200,350"  # turret still turning
    clock.advance(0.1)
    assert answer(sim, "GRAT?") == "2,600,500"
    assert not sim.moving()
    assert answer(sim, "WAVE?") == "500.000"
    say(sim, "GRAT 2")  # already in the beam: nothing happens
    assert not sim.moving() and changes == [T0]


def test_range_follows_the_selected_grating(sim: CornerstoneSimulator, clock: FakeClock) -> None:
    say(sim, "GOWAVE 1500")
    assert error(sim) == 3
    say(sim, "GRAT 2")
    clock.advance(5)
    say(sim, "GOWAVE 1500")
    assert error(sim) == 0
    say(sim, "GOWAVE 200")
    assert error(sim) == 3


# -- physics read-outs and the change callback -----------------------------------------------


def test_on_change_called_before_each_change(clock: FakeClock) -> None:
    seen: list[tuple[float, bool, float, int]] = []
    sim: CornerstoneSimulator

    def record(t: float) -> None:
        seen.append((t, sim.shutter_open, sim.slit_um(1), sim.filter))

    sim = CornerstoneSimulator(clock, on_change=record)
    say(sim, "SHUTTER O")
    clock.advance(1)
    say(sim, "SHUTTER O")  # no change, no call
    say(sim, "SLIT1MICRONS 2000")
    clock.advance(1)
    say(sim, "FILTER 4")
    assert seen == [(T0, False, 1000.0, 1), (T0 + 1, True, 1000.0, 1), (T0 + 2, True, 2000.0, 1)]
    assert (sim.shutter_open, sim.slit_um(1), sim.filter) == (True, 2000.0, 4)


def test_bandpass_is_entrance_slit_times_dispersion(sim: CornerstoneSimulator, clock: FakeClock) -> None:
    assert sim.bandpass_nm() == pytest.approx(1.0 * 6.6)
    say(sim, "SLIT1MICRONS 3030")
    assert sim.bandpass_nm() == pytest.approx(20.0, abs=0.01)  # a 20 nm bandpass is reachable on grating 1
    say(sim, "SLIT2MICRONS 10")  # the exit slit does not enter
    assert sim.bandpass_nm() == pytest.approx(20.0, abs=0.01)
    say(sim, "GRAT 2")
    assert sim.bandpass_nm() == pytest.approx(3.03 * 13.2)


def test_default_gratings_table() -> None:
    assert DEFAULT_GRATINGS[1] == Grating(1200, 350, 180.0, 1000.0, 6.6)
    assert DEFAULT_GRATINGS[2] == Grating(600, 500, 250.0, 1600.0, 13.2)


def test_slit_readout_rejects_unknown_slit(sim: CornerstoneSimulator) -> None:
    with pytest.raises(ValueError, match=r"slit 3 does not exist"):
        sim.slit_um(3)


# -- faults on demand ------------------------------------------------------------------------


def test_fail_homing(sim: CornerstoneSimulator, clock: FakeClock, changes: list[float]) -> None:
    sim.fail_homing(True)
    say(sim, "GOWAVE 400")
    assert error(sim) == 8
    say(sim, "GRAT 2")
    assert error(sim) == 8
    assert not sim.moving() and sim.grating == 1 and sim.wavelength_nm() == 500.0
    assert changes == []
    sim.fail_homing(False)
    say(sim, "GOWAVE 400")
    assert error(sim) == 0 and sim.moving()


def test_inject_error(sim: CornerstoneSimulator) -> None:
    sim.inject_error(10)
    assert sim.error == 10
    assert answer(sim, "STB?") == "32"
    assert error(sim) == 10
    with pytest.raises(ValueError, match=r"outside 0\.\.255"):
        sim.inject_error(-1)


def test_silence(sim: CornerstoneSimulator) -> None:
    sim.inject_silence(True)
    assert say(sim, "WAVE?") == b""
    assert say(sim, "SHUTTER O") == b""
    assert not sim.shutter_open  # discarded, not executed
    sim.inject_silence(False)
    assert answer(sim, "WAVE?") == "500.000"


def test_drop_connection(sim: CornerstoneSimulator) -> None:
    sim.drop_connection(2)
    for _ in range(2):
        with pytest.raises(ConnectionDropped, match="simulated Cornerstone 130 dropped"):
            say(sim, "WAVE?")
    assert answer(sim, "WAVE?") == "500.000"


# -- the driver against the simulator, in virtual time ---------------------------------------


def connect(
    sim_kwargs: dict[str, object] | None = None, *, echo: bool = True, **driver_kwargs: float
) -> tuple[CornerstoneDriver, CornerstoneSimulator]:
    loop = asyncio.get_running_loop()
    sim = CornerstoneSimulator(loop.time, echo=echo, **(sim_kwargs or {}))  # type: ignore[arg-type]
    transport = InProcessTransport("monochromator", sim, timeout=0.5, retries=2, backoff=0.05)
    return CornerstoneDriver(transport, echo=echo, **driver_kwargs), sim


@pytest.mark.parametrize("echo", [True, False], ids=["echo", "no-echo"])
async def test_driver_round_trip(echo: bool) -> None:
    driver, sim = connect(echo=echo)
    assert await driver.identify() == "Cornerstone 130 Ver 1.2.0"
    await driver.set_shutter(True)
    assert await driver.shutter_open() and sim.shutter_open
    await driver.set_slit_um(3030.3)
    await driver.set_slit_um(500, 2)
    assert (await driver.slit_um(), await driver.slit_um(2)) == (3030.0, 500.0)
    assert sim.bandpass_nm() == pytest.approx(20.0, abs=0.01)
    await driver.set_filter(5)
    assert await driver.filter() == 5
    assert await driver.status_byte() == 0
    assert await driver.error_code() == 0


async def test_go_wave_polls_interpolated_positions() -> None:
    driver, sim = connect(move_poll_s=0.25)
    seen: list[float] = []
    real_wavelength = driver.wavelength

    async def spy() -> float:
        seen.append(await real_wavelength())
        return seen[-1]

    driver.wavelength = spy  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await driver.go_wave(750) == 750.0  # 0.2 s + 250 nm / 250 nm/s = 1.2 s
    elapsed = loop.time() - t0
    assert elapsed == pytest.approx(1.25, abs=1e-9)  # the first poll (every 0.25 s) after the move ends
    assert seen[0] == 500.0  # read at once, as the move starts
    assert seen == sorted(seen) and len(seen) == 6
    # each intermediate reading is the linear interpolation at the time it was taken
    assert seen[1] == pytest.approx(500 + 250 * 0.25 / 1.2, abs=5e-4)  # WAVE? replies to 0.001 nm
    assert sim.wavelength_nm() == 750.0 and not sim.moving()


async def test_go_wave_outside_grating_range() -> None:
    driver, sim = connect()
    with pytest.raises(MonochromatorError, match=r"'GOWAVE 1200\.000' failed with error 3 .*grating's range") as info:
        await driver.go_wave(1200)
    assert info.value.code == 3
    assert not sim.moving() and await driver.status_byte() == 0
    await driver.set_grating(2)
    assert await driver.grating() == (2, 600, 500)
    assert await driver.go_wave(1200) == 1200.0


async def test_set_grating_waits_five_seconds() -> None:
    driver, sim = connect()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await driver.set_grating(2)
    assert 5.0 <= loop.time() - t0 <= 5.2
    assert sim.grating == 2 and not sim.moving()
    with pytest.raises(MonochromatorError, match=r"'GRAT 7' failed with error 2 \(bad parameter\)"):
        await driver.set_grating(7)


async def test_slit_out_of_range_is_bad_parameter() -> None:
    driver, sim = connect()
    with pytest.raises(MonochromatorError, match=r"'SLIT1MICRONS 5000' failed with error 2 \(bad parameter\)"):
        await driver.set_slit_um(5000)
    assert sim.slit_um(1) == 1000.0


async def test_homing_failure() -> None:
    driver, sim = connect()
    sim.fail_homing(True)
    with pytest.raises(MonochromatorHomeError, match=r"'GOWAVE 400\.000' failed with error 8 \(could not home\)"):
        await driver.go_wave(400)
    with pytest.raises(MonochromatorHomeError, match=r"'GRAT 2' failed with error 8"):
        await driver.set_grating(2)
    assert await driver.wavelength() == 500.0
    sim.fail_homing(False)
    assert await driver.go_wave(400) == 400.0


async def test_injected_system_error_surfaces_on_next_command() -> None:
    driver, sim = connect()
    sim.inject_error(10)
    with pytest.raises(MonochromatorError, match=r"'SHUTTER O' failed with error 10 \(system error\)") as info:
        await driver.set_shutter(True)
    assert info.value.code == 10
    await driver.set_shutter(True)  # the error was read and cleared


async def test_abort_from_another_task_ends_go_wave() -> None:
    driver, sim = connect(move_poll_s=0.1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    move = asyncio.create_task(driver.go_wave(1000))  # 0.2 s + 2.0 s
    await asyncio.sleep(1.0)
    await driver.abort()
    stopped = sim.wavelength_nm()
    assert 500 < stopped < 1000 and not sim.moving()
    with pytest.raises(MonochromatorError, match=r"move to 1000\.000 nm was aborted at \d+\.\d{3} nm") as info:
        await move
    assert info.value.code == 0
    assert loop.time() - t0 < 1.2  # ended at the next poll, long before the drive would have arrived
    assert await driver.wavelength() == pytest.approx(stopped, abs=0.001)


async def test_cancelling_go_wave_aborts_the_move() -> None:
    driver, sim = connect()
    move = asyncio.create_task(driver.go_wave(1000))
    await asyncio.sleep(0.7)
    move.cancel()
    with pytest.raises(asyncio.CancelledError):
        await move
    assert not sim.moving()
    assert 500 < sim.wavelength_nm() < 1000


async def test_go_wave_timeout_against_slow_drive() -> None:
    driver, _ = connect(move_timeout_s=1.0)
    with pytest.raises(MonochromatorError, match=r"did not finish within 1 s \(last position \d+\.\d{3} nm\)"):
        await driver.go_wave(1000)  # needs 2.2 s


async def test_silence_is_instrument_not_responding() -> None:
    driver, sim = connect()
    sim.inject_silence(True)
    with pytest.raises(InstrumentNotResponding, match=r"monochromator at inprocess://CornerstoneSimulator .*'WAVE\?'"):
        await driver.wavelength()
    sim.inject_silence(False)
    assert await driver.wavelength() == 500.0


async def test_dropped_connection_reconnects() -> None:
    driver, sim = connect()
    sim.drop_connection(2)
    assert await driver.go_wave(600) == 600.0  # two drops, then the retry gets through
    sim.drop_connection(3)  # more drops than retries
    with pytest.raises(InstrumentNotResponding, match=r"ConnectionDropped: simulated Cornerstone 130 dropped"):
        await driver.wavelength()
    assert await driver.wavelength() == 600.0


async def test_driver_with_echo_on_a_usb_link_is_garbled() -> None:
    loop = asyncio.get_running_loop()
    sim = CornerstoneSimulator(loop.time, echo=False)
    driver = CornerstoneDriver(InProcessTransport("monochromator", sim, timeout=0.5, retries=0), echo=True)
    with pytest.raises(InstrumentNotResponding, match=r"'WAVE\?' after 1 attempts .*construct it with echo=False"):
        await driver.wavelength()
