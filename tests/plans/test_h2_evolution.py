"""Message order of the H2 evolution plan, checked without hardware (RunEngineSimulator)."""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bluesky.simulators import RunEngineSimulator

from labctl.clock import VirtualTimeLoop
from labctl.config import load_bench
from labctl.devices.lamp import LampState
from labctl.devices.operator import HandStep
from labctl.devices.photoreactor import BenchClock
from labctl.experiments import get_experiment, tables_from_documents
from labctl.plans.h2_evolution import h2_evolution
from labctl.plans.stubs import PlanArgumentError
from labctl.session import Session
from labctl.sim.physics.photoreactor import REFERENCE_SAMPLE, expected_h2_rate


@pytest.fixture
def devices(dry_session):
    return dry_session.bench.devices


def _plan(devices, **kw):
    d = devices
    args = dict(catalyst_mass_g=0.01, lamp_power_w=300, duration_s=7200, sample_interval_s=1800)
    args.update(kw)
    return h2_evolution(d["lamp"], d["gc"], d["reactor"], d["operator"], d["clock"], **args)


def _sim(devices):
    sim = RunEngineSimulator()
    for sig in (
        devices["reactor"].headspace_volume,
        devices["reactor"].temperature,
        devices["reactor"].pressure,
        devices["gc"].loop_volume,
        devices["gc"].loop_temperature,
        devices["gc"].loop_pressure,
    ):
        sim.add_read_handler_for(sig, 1.0)
    sim.add_read_handler_for(devices["clock"].elapsed, 0.0)
    return sim


def test_lamp_off_is_the_last_set_and_samples_follow_every_interval(devices):
    msgs = _sim(devices).simulate_plan(_plan(devices))
    sets = [m for m in msgs if m.command == "set"]
    assert sets[-1].obj is devices["lamp"] and sets[-1].args[0] == LampState.OFF
    cmds = [(m.command, getattr(m.obj, "name", None)) for m in msgs]
    lamp_on = next(
        i for i, m in enumerate(msgs) if m.command == "set" and m.obj is devices["lamp"] and m.args[0] == LampState.ON
    )
    gc_before = [i for i, c in enumerate(cmds) if c == ("trigger", "gc") and i < lamp_on]
    gc_after = [i for i, c in enumerate(cmds) if c == ("trigger", "gc") and i > lamp_on]
    assert len(gc_before) == 2  # dark samples
    assert len(gc_after) == 4  # 2 h / 30 min
    # every GC sample under light is preceded by a wait for its time slot
    for i in gc_after:
        since_last_save = [c for c, _ in cmds[:i]][::-1]
        since_last_save = since_last_save[: since_last_save.index("save")]
        assert "sleep" in since_last_save
    assert cmds.index(("open_run", None)) < lamp_on < cmds.index(("close_run", None))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"lamp_power_w": 600}, r"lamp_power_w=600 W is outside the bench limit 0-500 W"),
        ({"catalyst_mass_g": 0}, r"catalyst_mass_g=0 g \(0 mg\) must be > 0"),
        ({"sample_interval_s": 60}, r"shorter than the GC run time 7 min"),
        ({"duration_s": 1800}, r"fewer than 2 samples"),
        ({"wavelength_nm": 50}, r"wavelength_nm=50 nm is outside 200-1100 nm"),
    ],
)
def test_bad_arguments_are_refused_before_the_first_message(devices, kw, match):
    plan = _plan(devices, **kw)
    with pytest.raises(PlanArgumentError, match=match):
        next(plan)


# -- the real plan on the simulated benches: every lamp readback in every stream is read at that moment


@pytest.fixture
def led_session(tmp_path: Path) -> Iterator[Session]:
    with Session(data_dir=tmp_path, speed=math.inf, record=False) as s:
        s.open_bench(load_bench("sim-led"))
        yield s


def _run_h2(session: Session, params: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Run h2-evolution on the session's bench; return each stream's event data, in order."""
    exp = get_experiment("h2-evolution")
    kw = exp.resolve(params)
    exp.check(session.bench, kw)
    session.bench.load_sample(**kw)
    out = session.run(exp.build(session.bench, kw), md=session.bench.metadata())
    assert out.exit_status == "success", out.reason
    streams = {d["uid"]: d["name"] for n, d in out.documents if n == "descriptor"}
    events: dict[str, list[dict[str, Any]]] = {}
    for n, d in out.documents:
        if n == "event":
            events.setdefault(streams[d["descriptor"]], []).append(d["data"])
    return events


def _assert_readbacks(events: dict[str, list[dict[str, Any]]], lit: dict[str, Any], dark: dict[str, Any]) -> None:
    """The light's readbacks in each stream of a 1 h run sampled every 30 min after 2 dark samples."""
    # a baseline stream, if the session records one, is read before lamp-on and after lamp-off
    baseline = [{k: e[k] for k in lit if k in e} for e in events.pop("baseline", [])]
    assert all(reading in ({}, dark) for reading in baseline)
    readbacks = {stream: [{k: e[k] for k in lit} for e in evs] for stream, evs in events.items()}
    assert readbacks == {"primary": [dark, dark, lit, lit], "lamp_on": [lit], "lamp_off": [dark]}


def test_arc_lamp_readbacks_agree_with_its_lit_state_in_every_stream(dry_session):
    events = _run_h2(dry_session, {"duration": "1h", "sample_interval": "30min", "dark_samples": "2"})
    # the sim supply at its 300 W preset: 18.9 A at 15.9 V once the arc is lit
    lit = {"lamp-watts": 300.0, "lamp-amps": 18.9, "lamp-volts": 15.9, "lamp-lit": True}
    dark = {"lamp-watts": 0.0, "lamp-amps": 0.0, "lamp-volts": 0.0, "lamp-lit": False}
    monitor = events.pop("lamp_monitor")
    _assert_readbacks(events, lit, dark)
    # the monitored power (a 60 s poll) ends on the lamp-off read, not on the last poll of the lit lamp
    assert monitor[-1] == {"lamp-watts": 0.0}


def test_led_readbacks_agree_with_its_lit_state_in_every_stream(led_session):
    events = _run_h2(
        led_session, {"duration": "1h", "sample_interval": "30min", "dark_samples": "2", "led_current": "0.5A"}
    )
    # the sim head at 0.5 A through its calibration: 0.41625 W optical
    lit = {"lamp-applied_current": 0.5, "lamp-optical_power": 0.41625, "lamp-lit": True}
    dark = {"lamp-applied_current": 0.0, "lamp-optical_power": 0.0, "lamp-lit": False}
    _assert_readbacks(events, lit, dark)


def test_a_staged_bench_clock_reads_the_loop_clock_on_every_read():
    """The plan's time axis: staging caches a signal at its last update; the clock must not be."""
    loop = VirtualTimeLoop()

    async def staged_read() -> float:
        clock = BenchClock(name="clock")
        await clock.connect()
        await clock.stage()
        try:
            await clock.set(0.0)
            await clock.read()
            await asyncio.sleep(1800)
            return (await clock.read())["clock-elapsed"]["value"]
        finally:
            await clock.unstage()

    try:
        elapsed = loop.run_until_complete(staged_read())
    finally:
        loop.close()
    # 1800 s of virtual time, plus the wall time the virtual clock counts while the loop works
    # (microseconds here; 0.05 s allows for a loaded machine and is far below a sample interval)
    assert elapsed == pytest.approx(1800.0, abs=1e-9)


# -- the sample's make-up: Co2+ doping, sacrificial donor, pH


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"co_doping_percent": 25},
            "co_doping_percent=25 % is outside 0-20 %, the Co2+ levels (mol % of the metal) of a doped cluster "
            "catalyst; give the catalyst's Co2+ level, e.g. co_doping=1.5%",
        ),
        (
            {"co_doping_percent": -0.5},
            "co_doping_percent=-0.5 % is outside 0-20 %, the Co2+ levels (mol % of the metal) of a doped cluster "
            "catalyst; give the catalyst's Co2+ level, e.g. co_doping=1.5%",
        ),
        (
            {"donor_mol_per_l": "6 mol/L"},
            "donor_mol_per_l=6 mol/L is outside 0-5 mol/L, the range of a sacrificial donor solution (neat "
            "triethanolamine is 7.5 mol/L); give the donor's concentration in the dispersion, e.g. donor=0.5mol/L",
        ),
        (
            {"ph": 15},
            "ph=15 is outside 0-14, the pH scale of a water dispersion; give the pH the dispersion is adjusted to, "
            "e.g. ph=10.7",
        ),
        ({"ph": math.nan}, "ph=nan must be a finite number; give a finite value"),
        ({"ph": "9"}, "ph='9' must be a number"),
        (
            {"co_doping_percent": "1.5 mg"},
            "co_doping_percent='1.5 mg' is in mg, which cannot be converted to percent; give it like '1 %'",
        ),
    ],
)
def test_bad_sample_conditions_are_refused_before_the_first_message(devices, kw, message):
    plan = _plan(devices, **kw)
    with pytest.raises(PlanArgumentError) as refused:
        next(plan)
    assert str(refused.value) == message


def test_sample_conditions_as_unit_strings_are_loaded_and_recorded(devices):
    msgs = _sim(devices).simulate_plan(
        _plan(devices, co_doping_percent="1.5 %", donor_mol_per_l="500 mM", ph=9.2, catalyst="Co2+:(CdSe)13 network")
    )
    md = next(m for m in msgs if m.command == "open_run").kwargs
    assert (md["co_doping_percent"], md["donor_mol_per_l"], md["ph"]) == (1.5, 0.5, 9.2)
    assert {k: md["plan_args"][k] for k in ("co_doping_percent", "donor_mol_per_l", "ph")} == {
        "co_doping_percent": 1.5,
        "donor_mol_per_l": 0.5,
        "ph": 9.2,
    }
    load = next(m.args[0] for m in msgs if m.command == "set" and m.obj is devices["operator"])
    assert isinstance(load, HandStep) and load.key == "load_sample:photoreactor"
    assert load.sample == {
        "catalyst_mass_g": 0.01,
        "catalyst": "Co2+:(CdSe)13 network",
        "co_doping_percent": 1.5,
        "donor_mol_per_l": 0.5,
        "ph": 9.2,
    }
    assert load.text == (
        "Load 10 mg of Co2+:(CdSe)13 network (1.5 mol % Co2+) dispersed in 0.5 mol/L sacrificial donor, "
        "adjusted to pH 9.2 into the photoreactor, seal and purge it"
    )


def test_plan_and_experiment_defaults_are_the_simulators_reference_sample():
    """The reference sample is where the simulator's rate is calibrated: the defaults must be it."""
    signature = inspect.signature(h2_evolution).parameters
    kw = get_experiment("h2-evolution").resolve({})
    for key in ("co_doping_percent", "donor_mol_per_l", "ph"):
        assert signature[key].default == getattr(REFERENCE_SAMPLE, key), key
        assert kw[key] == getattr(REFERENCE_SAMPLE, key), key
    assert kw["catalyst_mass_g"] == REFERENCE_SAMPLE.catalyst_mass_g


def _rate(session: Session, params: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """The fitted H2 rate of a run on the session's bench, and its start document."""
    exp = get_experiment("h2-evolution")
    kw = exp.resolve(params)
    exp.check(session.bench, kw)
    session.bench.load_sample(**kw)
    out = session.run(exp.build(session.bench, kw), md=session.bench.metadata())
    assert out.exit_status == "success", out.reason
    return exp.analyze(out.start, tables_from_documents(out.documents))["rate"], out.start


def test_doping_given_to_the_plan_reaches_the_simulated_catalyst(dry_session):
    common = {"duration": "2h", "sample_interval": "30min", "donor": "0.7mol/L", "ph": "9.2"}
    undoped, start = _rate(dry_session, {**common, "co_doping": "0%"})
    assert (start["co_doping_percent"], start["donor_mol_per_l"], start["ph"]) == (0.0, 0.7, 9.2)
    model = dry_session.bench.sim.model
    assert (model.co_doping_percent, model.donor_mol_per_l, model.ph) == (0.0, 0.7, 9.2)
    best, start = _rate(dry_session, {**common, "co_doping": "1.74%"})
    assert start["co_doping_percent"] == 1.74 and model.co_doping_percent == 1.74
    # the direction and size the model gives (each sample scatters by ~3 %, the GC by 1-2 %)
    conditions = {"donor_mol_per_l": 0.7, "ph": 9.2}
    predicted = expected_h2_rate({**conditions, "co_doping_percent": 0.0}) / expected_h2_rate(
        {**conditions, "co_doping_percent": 1.74}
    )
    assert undoped < best
    assert undoped / best == pytest.approx(predicted, rel=0.15)


def test_repeated_identical_runs_differ_as_two_samples_do(dry_session):
    params = {"duration": "2h", "sample_interval": "30min"}
    first, _ = _rate(dry_session, params)
    factor = dry_session.bench.sim.model.sample_factor
    second, _ = _rate(dry_session, params)
    assert dry_session.bench.sim.model.sample_factor != factor
    assert first != second and second == pytest.approx(first, rel=0.2)
    # each near the reference rate
    reference = expected_h2_rate() * dry_session.bench.sim.model.activity_factor
    assert first == pytest.approx(reference, rel=0.15) and second == pytest.approx(reference, rel=0.15)
