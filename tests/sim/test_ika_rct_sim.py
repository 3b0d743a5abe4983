"""The IKA RCT digital simulator: byte-exact replies, the heated flask, the safety cap, watchdog 1, the probe."""

from __future__ import annotations

from itertools import pairwise

import pytest

from labctl.devices.transports import ConnectionDropped
from labctl.sim.instruments.ika_rct import GARBAGE, IkaRctSimulator


class Clock:
    """A hand-moved clock: the simulator reads time only through it."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(**kwargs: object) -> tuple[IkaRctSimulator, Clock]:
    clock = Clock()
    return IkaRctSimulator(clock, **kwargs), clock  # type: ignore[arg-type]


def trace(sim: IkaRctSimulator, clock: Clock, dt: float, n: int) -> tuple[list[float], list[float]]:
    """Flask and plate temperatures at ``n + 1`` instants ``dt`` apart, moving the clock from now."""
    flask, plate = [], []
    for k in range(n + 1):
        if k:
            clock.t += dt
        flask.append(sim.flask_temperature_c())
        plate.append(sim.plate_temperature_c())
    return flask, plate


def heat(sim: IkaRctSimulator, celsius: float, rpm: int = 500) -> None:
    """What the driver sends to stir and heat (the quirk cured by a second OUT_SP_1)."""
    for line in (f"OUT_SP_4 {rpm}", "START_4", f"OUT_SP_1 {celsius:.1f}", "START_1", f"OUT_SP_1 {celsius:.1f}"):
        assert sim.handle(line.encode() + b"\r\n") == b""


# -- replies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "reply"),
    [
        (b"IN_NAME\r\n", b"RCT digital\r\n"),
        (b"IN_PV_1\r\n", b"22.0 1\r\n"),
        (b"IN_PV_2\r\n", b"22.0 2\r\n"),
        (b"IN_PV_4\r\n", b"0.0 4\r\n"),
        (b"IN_SP_1\r\n", b"0.0 1\r\n"),
        (b"IN_SP_3\r\n", b"250.0 3\r\n"),
        (b"IN_SP_4\r\n", b"0.0 4\r\n"),
        (b"IN_PV_1 \r \n", b"22.0 1\r\n"),  # the manual's form, a space before CR and before LF
        (b"OUT_SP_1 120.0\r\n", b""),
        (b"OUT_SP_4 500\r\n", b""),
        (b"START_1\r\n", b""),
        (b"STOP_1\r\n", b""),
        (b"START_4\r\n", b""),
        (b"STOP_4\r\n", b""),
        (b"RESET\r\n", b""),
        (b"SET_MODE_A\r\n", b""),
        (b"OUT_WD1@60\r\n", b"60\r\n"),
        (b"OUT_WD1@19\r\n", b""),  # out of range: ignored
        (b"IN_PV_9\r\n", b""),  # unknown: ignored
        (b"BOGUS\r\n", b""),
    ],
)
def test_replies_are_byte_exact(sent: bytes, reply: bytes) -> None:
    sim, _ = make(ambient_c=22.0, safety_temperature_c=250.0)
    assert sim.handle(sent) == reply


def test_settings_read_back() -> None:
    sim, _ = make(quirk_setpoint_zero=False)
    assert sim.handle(b"OUT_SP_1 120.04\r\nOUT_SP_4 749.6\r\nIN_SP_1\r\nIN_SP_4\r\n") == b"120.0 1\r\n750.0 4\r\n"


def test_a_command_split_across_writes_is_assembled() -> None:
    sim, _ = make()
    assert sim.handle(b"IN_S") == b""
    assert sim.handle(b"P_3\r") == b"350.0 3\r\n"
    assert sim.handle(b"\n") == b""


def test_watchdog_echo_is_a_setting() -> None:
    sim, _ = make(watchdog_echo=False)
    assert sim.handle(b"OUT_WD1@60\r\n") == b""
    assert sim.watchdog_deadline == 1060.0


def test_quirk_setpoint_reads_zero_after_start_until_resent() -> None:
    sim, _ = make()
    assert sim.handle(b"OUT_SP_1 120.0\r\nSTART_1\r\nIN_SP_1\r\n") == b"0.0 1\r\n"
    assert sim.handle(b"OUT_SP_1 120.0\r\nIN_SP_1\r\n") == b"120.0 1\r\n"
    assert sim.handle(b"START_1\r\nIN_SP_1\r\n") == b"120.0 1\r\n"  # already heating: no second zeroing


def test_without_the_quirk_the_setpoint_survives_start() -> None:
    sim, _ = make(quirk_setpoint_zero=False)
    assert sim.handle(b"OUT_SP_1 120.0\r\nSTART_1\r\nIN_SP_1\r\n") == b"120.0 1\r\n"


def test_the_quirk_really_stops_the_heating_until_the_setpoint_is_resent() -> None:
    sim, clock = make()
    sim.handle(b"OUT_SP_1 120.0\r\nSTART_1\r\n")
    clock.t += 600
    assert sim.flask_temperature_c() == pytest.approx(25.0, abs=1e-9)


# -- thermal model --------------------------------------------------------------------------------------


def test_heat_up_to_280_takes_20_to_30_min_without_overshoot_and_holds() -> None:
    sim, clock = make()
    t0 = clock.t
    heat(sim, 280.0)
    flask, plate = trace(sim, clock, 10.0, 360)  # one hour
    reached = next(k for k, f in enumerate(flask) if f >= 279.0)
    assert 20 * 60 <= reached * 10.0 <= 30 * 60
    rising = flask[:reached]
    assert all(b > a for a, b in pairwise(rising))
    assert max(flask) < 281.0
    assert all(abs(f - 280.0) < 0.1 for f in flask[240:])  # from 40 min on
    assert max(plate) <= 310.0
    assert max(p - f for p, f in zip(plate, flask, strict=True)) < 50.0  # the plate never leads by more
    # The reply at t carries the same temperatures, rounded to 0.1 °C.
    assert sim.flask_temperature_c(t0 + 1800.0) == flask[180]
    clock.t = t0 + 1800.0
    assert sim.handle(b"IN_PV_1\r\n") == f"{flask[180]:.1f} 1\r\n".encode()
    assert sim.handle(b"IN_PV_2\r\n") == f"{plate[180]:.1f} 2\r\n".encode()


def test_assembly_hold_at_120() -> None:
    sim, clock = make()
    heat(sim, 120.0)
    flask, _ = trace(sim, clock, 10.0, 360)
    assert max(flask) < 121.0
    assert all(abs(f - 120.0) < 0.1 for f in flask[120:])


def test_stop_heater_lets_the_flask_cool() -> None:
    sim, clock = make()
    heat(sim, 120.0)
    clock.t += 1800
    hot = sim.flask_temperature_c()
    sim.handle(b"STOP_1\r\n")
    later = trace(sim, clock, 600.0, 5)[0][1:]
    assert hot > later[0] > later[1] > later[2] > later[3] > later[4] > 25.0


def test_readings_do_not_depend_on_how_often_the_state_was_read() -> None:
    polled, clock_a = make()
    jumped, clock_b = make()
    for sim in (polled, jumped):
        heat(sim, 200.0)
    for _ in range(1234):
        clock_a.t += 1.37
        polled.handle(b"IN_PV_1\r\n")
    clock_b.t = clock_a.t
    assert polled.flask_temperature_c() == jumped.flask_temperature_c()
    assert polled.plate_temperature_c() == jumped.plate_temperature_c()
    # The past, read back, is what was read then.
    t_past = clock_a.t - 700.3
    assert polled.flask_temperature_c(t_past) == jumped.flask_temperature_c(t_past)


def test_the_future_is_what_the_present_becomes() -> None:
    sim, clock = make()
    heat(sim, 150.0)
    forecast = sim.flask_temperature_c(clock.t + 900.5)
    clock.t += 900.5
    assert sim.flask_temperature_c() == forecast


def test_stirrer_ramps_to_its_setpoint_and_back() -> None:
    sim, clock = make()
    sim.handle(b"OUT_SP_4 500\r\nSTART_4\r\n")
    clock.t += 1.0
    assert sim.handle(b"IN_PV_4\r\n") == b"250.0 4\r\n"
    clock.t += 1.0
    assert sim.handle(b"IN_PV_4\r\n") == b"500.0 4\r\n"
    sim.handle(b"STOP_4\r\n")
    clock.t += 1.0
    assert sim.handle(b"IN_PV_4\r\n") == b"250.0 4\r\n"


def test_stirring_speeds_up_the_heating() -> None:
    still, clock_a = make()
    stirred, _ = make()
    heat(still, 200.0, rpm=0)
    heat(stirred, 200.0, rpm=1000)
    t = clock_a.t + 600
    assert stirred.flask_temperature_c(t) > still.flask_temperature_c(t) + 1.0


# -- safety temperature --------------------------------------------------------------------------------------


@pytest.mark.parametrize("unplug", [False, True])
def test_the_plate_never_exceeds_the_safety_temperature(unplug: bool) -> None:
    sim, clock = make(safety_temperature_c=180.0)
    heat(sim, 250.0)
    if unplug:
        sim.unplug_probe()
    flask, plate = trace(sim, clock, 5.0, 1440)
    assert max(plate) <= 180.0
    assert max(plate) > 179.0  # it does get there: the cap, not a weak heater, holds it
    assert max(flask) < 180.0


def test_without_a_probe_at_start_the_plate_is_regulated_on_the_setpoint() -> None:
    sim, clock = make(probe_connected=False)
    heat(sim, 150.0)
    flask, plate = trace(sim, clock, 10.0, 360)
    assert max(plate) < 151.0
    assert plate[-1] == pytest.approx(150.0, abs=0.1)
    assert flask[-1] < 150.0
    assert sim.handle(b"IN_PV_1\r\n") == b"-100.0 1\r\n"


# -- watchdog ----------------------------------------------------------------------------------------------


def test_watchdog_fires_exactly_m_seconds_after_the_last_feed() -> None:
    sim, clock = make()
    heat(sim, 120.0)
    assert sim.handle(b"OUT_WD1@60\r\n") == b"60\r\n"
    clock.t += 50.0
    assert sim.handle(b"OUT_WD1@60\r\n") == b"60\r\n"  # fed: now due at +110
    fed_at = clock.t
    clock.t = fed_at + 60.0 - 1e-6
    assert (sim.heater_on, sim.stirrer_on, sim.error) == (True, True, None)
    assert sim.handle(b"IN_PV_2\r\n").endswith(b" 2\r\n")
    clock.t = fed_at + 60.0
    assert (sim.heater_on, sim.stirrer_on, sim.error) == (False, False, 2)
    for query in (b"IN_PV_1\r\n", b"IN_PV_2\r\n", b"IN_SP_1\r\n", b"IN_NAME\r\n"):
        assert sim.handle(query) == b"Er02\r\n"
    assert sim.handle(b"START_1\r\nSTART_4\r\n") == b""  # ignored while latched
    assert (sim.heater_on, sim.stirrer_on) == (False, False)
    assert sim.handle(b"OUT_WD1@60\r\n") == b"Er02\r\n"
    assert sim.watchdog_deadline is None


def test_watchdog_fires_at_its_instant_even_when_nobody_looks() -> None:
    lazy, clock_a = make()
    watched, clock_b = make()
    for sim in (lazy, watched):
        heat(sim, 200.0)
        sim.handle(b"OUT_WD1@100\r\n")
    for _ in range(800):
        clock_b.t += 1.0
        watched.handle(b"IN_PV_2\r\n")
    clock_a.t = clock_b.t
    assert lazy.plate_temperature_c() == watched.plate_temperature_c()
    fired = clock_a.t - 700.0
    # Heated up to the firing instant, cooling from it.
    assert lazy.plate_temperature_c(fired - 1.0) < lazy.plate_temperature_c(fired)
    assert lazy.plate_temperature_c(fired + 1.0) < lazy.plate_temperature_c(fired)


def test_watchdog_does_not_fire_while_fed() -> None:
    sim, clock = make()
    heat(sim, 120.0)
    for _ in range(100):
        assert sim.handle(b"OUT_WD1@60\r\n") == b"60\r\n"
        clock.t += 59.9
    assert (sim.heater_on, sim.stirrer_on, sim.error) == (True, True, None)


def test_other_traffic_does_not_feed_the_watchdog() -> None:
    sim, clock = make()
    heat(sim, 120.0)
    sim.handle(b"OUT_WD1@30\r\n")
    for _ in range(29):
        clock.t += 1.0
        sim.handle(b"IN_PV_1\r\nOUT_SP_1 120.0\r\n")
    clock.t += 1.0
    assert sim.error == 2


def test_reset_clears_the_latch_and_leaves_everything_off() -> None:
    sim, clock = make()
    heat(sim, 120.0)
    sim.handle(b"OUT_WD1@20\r\n")
    clock.t += 25.0
    assert sim.error == 2
    assert sim.handle(b"RESET\r\nIN_SP_1\r\n") == b"120.0 1\r\n"
    assert (sim.heater_on, sim.stirrer_on, sim.error, sim.watchdog_deadline) == (False, False, None, None)
    clock.t += 1000.0
    assert sim.error is None  # disarmed: nothing fires later


# -- probe ----------------------------------------------------------------------------------------------


def test_unplugged_probe_reads_missing_and_the_plate_runs_away() -> None:
    sim, clock = make()
    heat(sim, 120.0)
    clock.t += 1800.0
    assert sim.handle(b"IN_PV_1\r\n") == b"120.0 1\r\n"
    sim.unplug_probe()
    assert sim.handle(b"IN_PV_1\r\n") == b"-100.0 1\r\n"
    clock.t += 1800.0
    assert sim.plate_temperature_c() == pytest.approx(310.0, abs=0.5)  # towards its own limit
    assert sim.flask_temperature_c() > 250.0
    sim.plug_probe()
    assert sim.handle(b"IN_PV_1\r\n") == f"{sim.flask_temperature_c():.1f} 1\r\n".encode()


def test_probe_missing_reply_is_a_setting() -> None:
    sim, _ = make(probe_connected=False, probe_missing_reply_c=1999.9)
    assert sim.handle(b"IN_PV_1\r\n") == b"1999.9 1\r\n"


# -- line faults ----------------------------------------------------------------------------------------


def test_line_faults() -> None:
    sim, _ = make()
    sim.inject_silence(True)
    assert sim.handle(b"IN_PV_1\r\n") == b""
    sim.inject_silence(False)
    sim.inject_garbage(True)
    assert sim.handle(b"IN_PV_1\r\n") == GARBAGE
    assert sim.handle(b"OUT_SP_1 50.0\r\n") == b""  # a command still acts and still says nothing
    sim.inject_garbage(False)
    assert sim.setpoint_c == 50.0
    sim.drop_connection(1)
    with pytest.raises(ConnectionDropped, match="simulated IKA RCT digital dropped the connection"):
        sim.handle(b"IN_PV_1\r\n")
    assert sim.handle(b"IN_PV_1\r\n") == b"25.0 1\r\n"


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="safety temperature 20 °C must be above the ambient 25 °C"):
        make(safety_temperature_c=20.0)
