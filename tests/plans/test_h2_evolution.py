"""Message order of the H2 evolution plan, checked without hardware (RunEngineSimulator)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bluesky.simulators import RunEngineSimulator

from labctl.clock import VirtualTimeLoop
from labctl.config import load_bench
from labctl.devices.lamp import LampState
from labctl.devices.photoreactor import BenchClock
from labctl.experiments import get_experiment
from labctl.plans.h2_evolution import h2_evolution
from labctl.plans.stubs import PlanArgumentError
from labctl.session import Session


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
