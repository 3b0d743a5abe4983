"""The photoluminescence plans: argument checks, message order, and runs on the simulated fluorometer.

Message order is checked without hardware (RunEngineSimulator, or the plan driven message by
message with an exception thrown in, as the RunEngine does when a device fails); what the plans
measure is checked by running them in virtual time on the simulated bench.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from bluesky.protocols import Reading
from bluesky.simulators import RunEngineSimulator
from bluesky.utils import Msg

from labctl.config import load_bench
from labctl.devices.fluorometer import ShutterState
from labctl.devices.operator import HandStep
from labctl.plans.photoluminescence import (
    DetectorSaturated,
    emission_scan,
    excitation_scan,
    photostability,
    pl_decay,
    plqy,
)
from labctl.plans.stubs import PlanArgumentError
from labctl.session import Session

CLOSED = ShutterState.CLOSED.value
OPEN = ShutterState.OPEN.value

# short runs: 10 min of photostability with a point every 10 s and a spectrum every 2 min
SHORT_PHOTOSTABILITY = dict(duration_s=600.0, interval_s=10.0, spectrum_interval_s=120.0, dwell_s=0.2)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    """The simulated bench's fluorometer, operator and clock, for plans that are only inspected."""
    with Session(data_dir=tmp_path_factory.mktemp("pl-plans"), speed=math.inf, record=False) as s:
        s.open_bench(load_bench("sim"))
        d = s.bench.devices
        yield d["fluor"], d["operator"], d["clock"]


@pytest.fixture
def live(dry_session) -> tuple[Any, Any, Any]:
    """The same devices on a fresh session, for plans that are run."""
    d = dry_session.bench.devices
    return d["fluor"], d["operator"], d["clock"]


def _emission(fluor, operator, clock, **kw):
    args = dict(sample="SS", excitation_nm=350.0, start_nm=450.0, stop_nm=750.0)
    return emission_scan(fluor, operator, clock, **{**args, **kw})


def _excitation(fluor, operator, clock, **kw):
    args = dict(sample="SS", emission_nm=593.0, start_nm=300.0, stop_nm=400.0, step_nm=10.0)
    return excitation_scan(fluor, operator, clock, **{**args, **kw})


def _plqy(fluor, operator, clock, **kw):
    return plqy(fluor, operator, clock, **{"sample": "SS", **kw})


def _photostability(fluor, operator, clock, **kw):
    return photostability(fluor, operator, clock, **{"sample": "SS", **SHORT_PHOTOSTABILITY, **kw})


def _decay(fluor, operator, clock, **kw):
    return pl_decay(fluor, operator, clock, **{"sample": "SS", "records": 1000, "scans": 2, **kw})


PLANS: dict[str, Callable[..., Any]] = {
    "emission_scan": _emission,
    "excitation_scan": _excitation,
    "plqy": _plqy,
    "photostability": _photostability,
    "pl_decay": _decay,
}


# -- helpers ------------------------------------------------------------------------------------
def _sets(msgs: list[Msg]) -> list[Msg]:
    return [m for m in msgs if m.command == "set"]


def _shutter_sets(msgs: list[Msg], fluor) -> list[str]:
    return [m.args[0] for m in _sets(msgs) if m.obj is fluor.excitation.shutter]


def _hand_steps(msgs: list[Msg], operator) -> list[HandStep]:
    return [m.args[0] for m in _sets(msgs) if m.obj is operator]


def _stream_of_each_save(msgs: list[Msg]) -> list[str]:
    """The stream of each event the plan saves, in order (from the ``create`` before each ``save``)."""
    out, current = [], None
    for m in msgs:
        if m.command == "create":
            current = m.kwargs.get("name", "primary")
        elif m.command == "save":
            out.append(current)
    return out


class _SpectrometerGone(RuntimeError):
    pass


def _drive(
    plan, *, fail_at: Callable[[Msg], bool] | None = None, respond: Callable[[Msg], Any] | None = None
) -> tuple[list[Msg], BaseException | None]:
    """Feed a plan its messages' answers (None unless ``respond`` gives one) as the RunEngine does.

    At the first message matching ``fail_at`` the exception a failed device status raises is
    thrown into the plan; the messages it yields afterwards (its cleanup) are recorded too.
    Returns the messages and the exception the plan ended with (None if it ended normally).
    """
    msgs: list[Msg] = []
    try:
        msg = next(plan)
        while True:
            msgs.append(msg)
            if fail_at is not None and fail_at(msg):
                fail_at = None
                msg = plan.throw(_SpectrometerGone("spectrometer stopped answering"))
            else:
                msg = plan.send(respond(msg) if respond is not None else None)
    except StopIteration:
        return msgs, None
    except Exception as exc:
        return msgs, exc


def _events(out, stream: str) -> list[dict[str, Any]]:
    names = {d["uid"]: d["name"] for n, d in out.documents if n == "descriptor"}
    return [d["data"] for n, d in out.documents if n == "event" and names[d["descriptor"]] == stream]


def _stream_order(out) -> list[str]:
    """Streams in the order their first event was recorded."""
    names = {d["uid"]: d["name"] for n, d in out.documents if n == "descriptor"}
    order: list[str] = []
    for n, d in out.documents:
        if n == "event" and names[d["descriptor"]] not in order:
            order.append(names[d["descriptor"]])
    return order


def _shutter_open_on_sim(session) -> bool:
    async def read() -> bool:
        return bool(session.bench.sim.fluorometer.monochromator.shutter_open)

    return session.call(read())


def _run(session, plan, *, at_s: float | None = None, fault: Callable[[], None] | None = None):
    """Run ``plan`` on the simulated bench; ``fault`` is called ``at_s`` (virtual) after the run starts."""
    token = None
    if fault is not None:
        armed = []

        def arm(name, doc):
            if not armed:
                armed.append(True)
                asyncio.get_running_loop().call_later(at_s, fault)

        token = session.RE.subscribe(arm, "start")
    try:
        return session.run(plan, md=session.bench.metadata())
    finally:
        if token is not None:
            session.RE.unsubscribe(token)


# -- argument checks ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("plan", "kw", "match"),
    [
        (
            "emission_scan",
            {"excitation_nm": 1200.0, "start_nm": 450.0},
            r"excitation wavelength 1200 nm is outside grating 1 \(1200 lines/mm\) range 180-1000 nm",
        ),
        (
            "emission_scan",
            {"excitation_bandwidth_nm": 30.0},
            r"excitation bandwidth 30 nm needs a 4545 µm slit, outside 10-3100 µm \(bandwidth 0\.066-20\.5 nm",
        ),
        (
            "emission_scan",
            {"start_nm": 340.0},
            r"emission window 340-750 nm overlaps the excitation line at 350 nm .*start the window above 355 nm",
        ),
        (
            "emission_scan",
            {"stop_nm": 900.0},
            r"emission window 450-900 nm is outside the spectrometer's range 200-850 nm",
        ),
        ("emission_scan", {"averages": 0}, r"averages=0 must be 1-1000"),
        (
            "excitation_scan",
            {"start_nm": 300.0, "stop_nm": 1200.0, "emission_nm": 593.0},
            r"excitation wavelength 1200 nm is outside .*range 180-1000 nm",
        ),
        (
            "excitation_scan",
            {"start_nm": 400.0, "stop_nm": 300.0},
            r"excitation scan 400-300 nm in steps of 10 nm: give start < stop and step > 0",
        ),
        ("excitation_scan", {"excitation_bandwidth_nm": 30.0}, r"excitation bandwidth 30 nm .*0\.066-20\.5 nm"),
        ("plqy", {"replicates": 1}, r"replicates=1 must be 2-50 \(an uncertainty needs at least 2\)"),
        ("plqy", {"excitation_nm": 1200.0}, r"excitation wavelength 1200 nm is outside .*180-1000 nm"),
        ("plqy", {"excitation_bandwidth_nm": 30.0}, r"excitation bandwidth 30 nm .*0\.066-20\.5 nm"),
        (
            "photostability",
            {"emission_nm": 355.0},
            r"emission window 350-360 nm overlaps the excitation line at 350 nm .*start the window above 370 nm",
        ),
        ("photostability", {"excitation_nm": 1200.0}, r"excitation wavelength 1200 nm is outside .*180-1000 nm"),
        ("photostability", {"excitation_bandwidth_nm": 30.0}, r"excitation bandwidth 30 nm .*0\.066-20\.5 nm"),
        (
            "photostability",
            {"interval_s": 0.2, "dwell_s": 0.2},
            r"interval_s=0\.2 s is shorter than the dwell 0\.2 s plus 0\.05 s of readout; use interval >= 0\.25s",
        ),
        (
            "photostability",
            {"duration_s": 15.0, "interval_s": 10.0},
            r"duration_s=15 s gives fewer than 3 points at interval_s=10 s",
        ),
        (
            "photostability",
            {"spectrum_interval_s": 5.0},
            r"spectrum_interval_s=5 s is shorter than interval_s=10 s",
        ),
        ("photostability", {"stop_below": 1.5}, r"stop_below=1\.5 must be a retention fraction between 0 and 1"),
        ("photostability", {"stop_below": 0.0}, r"stop_below=0 must be a retention fraction between 0 and 1"),
        (
            "pl_decay",
            {"emission_nm": 700.0},
            r"no PMT filter passes 700 nm \(filters 585, 593, 611 nm, each 40 nm wide\)",
        ),
        (
            "pl_decay",
            {"time_range_s": 20e-3},
            r"= 20 ms is longer than the pulse period 10 ms",
        ),
        ("pl_decay", {"records": 10}, r"records=10 must be 100-10,000,000 pulses"),
        ("pl_decay", {"scans": 0}, r"scans=0 must be 1-1000"),
    ],
)
def test_bad_arguments_are_refused_before_the_first_message(bench, plan, kw, match):
    gen = PLANS[plan](*bench, **kw)
    with pytest.raises(PlanArgumentError, match=match):
        next(gen)


@pytest.mark.parametrize("plan", sorted(PLANS))
def test_good_arguments_pass_and_the_checks_are_in_the_start_document(bench, plan):
    msgs = RunEngineSimulator().simulate_plan(PLANS[plan](*bench))
    open_run = next(m for m in msgs if m.command == "open_run")
    assert open_run.kwargs["plan_name"] == plan
    assert open_run.kwargs["checks"] and all(isinstance(c, str) for c in open_run.kwargs["checks"])
    # nothing moves before the run is open
    assert msgs.index(open_run) < msgs.index(_sets(msgs)[0])


# -- message order, without hardware --------------------------------------------------------------
@pytest.mark.parametrize("plan", sorted(PLANS))
def test_the_last_set_of_every_plan_closes_the_shutter(bench, plan):
    fluor = bench[0]
    msgs = RunEngineSimulator().simulate_plan(PLANS[plan](*bench))
    last = _sets(msgs)[-1]
    assert last.obj is fluor.excitation.shutter and last.args[0] == CLOSED
    # the shutter's first word is also "Closed": no light before the plan decides
    assert _shutter_sets(msgs, fluor)[0] == CLOSED
    if plan == "pl_decay":
        assert OPEN not in _shutter_sets(msgs, fluor)  # CW excitation stays shut during decays
    else:
        assert OPEN in _shutter_sets(msgs, fluor)


@pytest.mark.parametrize("plan", sorted(PLANS))
def test_a_device_failure_mid_run_still_closes_the_shutter_last(bench, plan):
    fluor = bench[0]
    measuring = (fluor.decay,) if plan == "pl_decay" else (fluor.spectrum, fluor.point)
    seen = []

    def second_measurement(msg: Msg) -> bool:
        if msg.command == "trigger" and msg.obj in measuring:
            seen.append(msg)
        return len(seen) == 2

    msgs, exc = _drive(PLANS[plan](*bench), fail_at=second_measurement)
    assert isinstance(exc, _SpectrometerGone)
    failed_at = msgs.index(seen[1])
    close_run = next(m for m in msgs[failed_at:] if m.command == "close_run")
    assert close_run.kwargs["exit_status"] == "fail"
    after = msgs[failed_at + 1 :]
    last = _sets(after)[-1]
    assert last.obj is fluor.excitation.shutter and last.args[0] == CLOSED
    assert _stream_of_each_save(msgs[:failed_at])  # the measurement before the failure was saved


def test_emission_scan_records_dark_and_calibration_before_the_spectra(bench):
    fluor, _, _ = bench
    msgs = RunEngineSimulator().simulate_plan(_emission(*bench, averages=4))
    assert _stream_of_each_save(msgs) == ["dark", "calibration"] + ["primary"] * 4
    # the dark is taken with the shutter closed, the spectra with it open
    dark = next(i for i, m in enumerate(msgs) if m.command == "trigger" and m.obj is fluor.dark)
    first_spectrum = next(i for i, m in enumerate(msgs) if m.command == "trigger" and m.obj is fluor.spectrum)
    opened = next(i for i, m in enumerate(msgs) if m.command == "set" and m.args[0] == OPEN)
    assert dark < opened < first_spectrum


def test_excitation_scan_steps_the_monochromator_and_reads_a_point_at_each_step(bench):
    fluor, _, _ = bench
    msgs = RunEngineSimulator().simulate_plan(_excitation(*bench, start_nm=300.0, stop_nm=340.0, step_nm=10.0))
    moves = [m.args[0] for m in _sets(msgs) if m.obj is fluor.excitation]
    assert moves == [300.0, 300.0, 310.0, 320.0, 330.0, 340.0]  # configure, then one per step
    assert _stream_of_each_save(msgs) == ["dark", "calibration"] + ["primary"] * 5
    emission = [m.args[0] for m in _sets(msgs) if m.obj is fluor.emission]
    assert emission == [593.0]


def test_plqy_asks_for_the_blank_then_the_sample_with_the_shutter_closed(bench):
    fluor, operator, _ = bench
    msgs = RunEngineSimulator().simulate_plan(_plqy(*bench, replicates=4))
    steps = _hand_steps(msgs, operator)
    assert [s.key for s in steps] == ["load_sample:fluorometer", "sphere_blank", "sphere_sample"]
    assert steps[0].sample == {"sample": "SS"}
    assert _stream_of_each_save(msgs) == ["dark", "calibration"] + ["blank"] * 4 + ["sample"] * 4
    # every hand step happens in the dark
    shutter_state = CLOSED
    for m in _sets(msgs):
        if m.obj is fluor.excitation.shutter:
            shutter_state = m.args[0]
        elif m.obj is operator:
            assert shutter_state == CLOSED, m.args[0].key
    # the blank frames come between the two hand steps
    _, i_blank, i_sample = (i for i, m in enumerate(msgs) if m.command == "set" and m.obj is operator)
    blank_saves = [i for i, m in enumerate(msgs) if m.command == "create" and m.kwargs.get("name") == "blank"]
    assert blank_saves and all(i_blank < i < i_sample for i in blank_saves)


def test_plqy_saturation_stops_with_a_shorter_integration_and_keeps_the_frame(bench):
    fluor, _, _ = bench

    def respond(msg: Msg) -> Any:
        if msg.command == "read" and msg.obj is fluor.spectrum.saturated:
            return {fluor.spectrum.saturated.name: Reading(value=True, timestamp=time.time())}
        return None

    msgs, exc = _drive(_plqy(*bench, integration_s=2.0), respond=respond)
    assert isinstance(exc, DetectorSaturated)
    assert "blank spectrum saturated" in str(exc) and "integration_time=0.5s" in str(exc)
    assert _stream_of_each_save(msgs) == ["dark", "calibration", "blank"]  # the clipped frame is kept
    assert next(m for m in msgs if m.command == "close_run").kwargs["exit_status"] == "fail"
    assert _sets(msgs)[-1].obj is fluor.excitation.shutter and _sets(msgs)[-1].args[0] == CLOSED


def test_photostability_sleeps_to_each_slot_and_takes_spectra_every_spectrum_interval(bench):
    _, _, clock = bench
    state = {"t": 0.0}
    sim = RunEngineSimulator()

    def sleep(msg: Msg) -> None:
        state["t"] += float(msg.args[0])

    def elapsed(msg: Msg) -> dict[str, Reading]:
        return {clock.elapsed.name: Reading(value=state["t"], timestamp=0.0)}

    sim.add_handler("sleep", sleep)
    sim.add_handler("read", elapsed, clock.elapsed.name)
    sim.add_handler("set", lambda msg: state.update(t=float(msg.args[0])), lambda m: m.obj is clock)
    msgs = sim.simulate_plan(_photostability(*bench))
    streams = _stream_of_each_save(msgs)
    assert streams.count("primary") == 61  # 0..600 s every 10 s
    assert streams.count("spectra") == 6  # 0, 2, 4, 6, 8, 10 min
    assert state["t"] == pytest.approx(600.0)  # the last slot starts at the end of the duration
    # the bench clock is zeroed once the shutter is open: irradiation time counts from there
    opened = next(i for i, m in enumerate(msgs) if m.command == "set" and m.args[0] == OPEN)
    zeroed = next(i for i, m in enumerate(msgs) if m.command == "set" and m.obj is clock)
    assert opened < zeroed


def test_pl_decay_asks_for_the_pmt_filter_before_the_first_histogram(bench):
    fluor, operator, _ = bench
    msgs = RunEngineSimulator().simulate_plan(_decay(*bench, emission_nm=611.0, scans=3))
    load, step = _hand_steps(msgs, operator)
    assert load.key == "load_sample:fluorometer"
    assert step.key == "pmt_filter" and step.value == 611.0
    i_step = msgs.index(next(m for m in msgs if m.command == "set" and m.obj is operator and m.args[0] is step))
    triggers = [i for i, m in enumerate(msgs) if m.command == "trigger" and m.obj is fluor.decay]
    assert len(triggers) == 3 and i_step < triggers[0]
    config = {m.obj.name: m.args[0] for m in _sets(msgs) if m.obj.parent is fluor.decay}
    assert config == {"fluor-decay-bin_width": 2.5e-6, "fluor-decay-bins": 1000, "fluor-decay-records": 1000}
    assert _stream_of_each_save(msgs) == ["primary"] * 3


# -- on the simulated bench, in virtual time ---------------------------------------------------------
def test_emission_scan_on_the_bench(dry_session, live):
    out = _run(dry_session, _emission(*live, averages=3))
    assert out.exit_status == "success", out.reason
    assert _stream_order(out) == ["dark", "calibration", "primary"]
    spectra = _events(out, "primary")
    assert len(spectra) == 3
    wl = np.asarray(spectra[0]["fluor-spectrum-wavelengths"])
    cal = _events(out, "calibration")[0]
    assert np.allclose(cal["fluor-calibration-wavelengths"], wl)
    # the Mn2+ emission (~593 nm) stands out of the dark-subtracted spectrum
    counts = np.mean([s["fluor-spectrum-counts"] for s in spectra], axis=0)
    in_band = (wl > 570) & (wl < 620)
    far = (wl > 750) & (wl < 800)
    assert counts[in_band].mean() > 10 * max(abs(counts[far].mean()), 1.0)
    assert not _shutter_open_on_sim(dry_session)


def test_plqy_on_the_bench_records_blank_then_sample(dry_session, live):
    out = _run(dry_session, _plqy(*live, replicates=4))
    assert out.exit_status == "success", out.reason
    assert _stream_order(out) == ["dark", "calibration", "blank", "sample"]
    assert len(_events(out, "blank")) == 4 and len(_events(out, "sample")) == 4
    assert out.start["excitation_window_nm"] == [330.0, 370.0]
    assert not _shutter_open_on_sim(dry_session)


def test_plqy_saturation_on_the_bench_fails_the_run_and_keeps_the_frames(dry_session, live):
    out = _run(dry_session, _plqy(*live, integration_s=2.0))
    assert out.exit_status == "fail"
    assert "integration_time=0.5s" in out.reason
    assert len(_events(out, "blank")) >= 1
    assert not _shutter_open_on_sim(dry_session)


def test_photostability_points_follow_the_bench_clock(dry_session, live):
    out = _run(dry_session, _photostability(*live))
    assert out.exit_status == "success", out.reason
    t = np.array([e["clock-elapsed"] for e in _events(out, "primary")])
    assert len(t) == 61
    assert np.allclose(np.diff(t), 10.0, atol=0.01)
    assert 0.0 < t[0] < 1.0
    ts = np.array([e["clock-elapsed"] for e in _events(out, "spectra")])
    assert len(ts) == 6
    assert np.allclose(np.diff(ts), 120.0, atol=0.01)
    assert _stream_order(out) == ["dark", "calibration", "primary", "spectra"]
    assert not _shutter_open_on_sim(dry_session)


def test_stop_below_ends_the_run_early_for_a_fast_bleaching_film(dry_session, live):
    # the plan loads the film it names
    out = _run(
        dry_session,
        _photostability(*live, sample="BA-MSC", duration_s=1800.0, spectrum_interval_s=300.0, stop_below=0.5),
    )
    assert out.exit_status == "success", out.reason
    points = _events(out, "primary")
    pl = np.array([p["fluor-point-pl"] for p in points])
    assert 3 < len(pl) < 181  # stopped before the 30 min were up
    assert pl[-1] < 0.5 * pl[0] and np.all(pl[:-1] >= 0.5 * pl[0])
    # a last spectrum closes the record at the stopping point
    assert _events(out, "spectra")[-1]["clock-elapsed"] > points[-1]["clock-elapsed"]
    assert not _shutter_open_on_sim(dry_session)


def test_a_spectrometer_that_stops_answering_fails_photostability_with_the_shutter_closed(dry_session, live):
    spectrometer = dry_session.bench.sim.fluorometer.spectrometer

    async def answer_again() -> None:
        spectrometer.stop_answering(False)

    try:
        out = _run(dry_session, _photostability(*live), at_s=300.0, fault=lambda: spectrometer.stop_answering(True))
    finally:
        dry_session.call(answer_again())
    assert out.exit_status == "fail"
    assert "spectrometer" in out.reason and "failed to return a spectrum" in out.reason
    assert not _shutter_open_on_sim(dry_session)
    t = [e["clock-elapsed"] for e in _events(out, "primary")]
    assert 25 <= len(t) <= 31 and max(t) < 300.0  # the points before the fault are kept
    assert len(_events(out, "spectra")) >= 3


def test_pl_decay_on_the_bench_places_the_filter_and_records_the_scans(dry_session, live):
    out = _run(dry_session, _decay(*live, emission_nm=611.0, scans=2))
    assert out.exit_status == "success", out.reason
    assert dry_session.bench.sim.fluorometer.pmt_band_nm == (591.0, 631.0)
    scans = _events(out, "primary")
    assert len(scans) == 2
    assert out.start["pmt_filter_nm"] == [611.0, 40.0]
    assert sum(np.sum(s["fluor-decay-counts"]) for s in scans) > 0
    assert not _shutter_open_on_sim(dry_session)


# -- checks the plans should make but do not ----------------------------------------------------------
def test_an_excitation_scan_across_the_emission_band_is_refused(bench):
    with pytest.raises(PlanArgumentError, match=r"overlaps the excitation line"):
        next(_excitation(*bench, emission_nm=593.0, start_nm=500.0, stop_nm=700.0))


def test_decay_settings_the_scaler_cannot_keep_up_with_are_refused_before_the_first_message(bench):
    with pytest.raises(PlanArgumentError, match=r"pulse period"):
        next(_decay(*bench, time_range_s=2.5e-3, bin_width_s=10e-6))
