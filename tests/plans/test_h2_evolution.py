"""Message order of the H2 evolution plan, checked without hardware (RunEngineSimulator)."""

from __future__ import annotations

import pytest
from bluesky.simulators import RunEngineSimulator

from devices.lamp import LampState
from plans.h2_evolution import h2_evolution
from plans.stubs import PlanArgumentError


@pytest.fixture
def devices(dry_session):
    return dry_session.bench.devices


def _plan(devices, **kw):
    d = devices
    args = dict(catalyst_mass_g=0.01, lamp_power_w=300, duration_s=7200, sample_interval_s=1800)
    args.update(kw)
    return h2_evolution(d["lamp"], d["gc"], d["reactor"], d["clock"], **args)


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
        ({"lamp_power_w": 600}, r"lamp_power=600 W is outside the bench limit 0-500 W"),
        ({"catalyst_mass_g": 0}, r"catalyst_mass=0 mg must be > 0"),
        ({"sample_interval_s": 60}, r"shorter than the GC run time 7 min"),
        ({"duration_s": 1800}, r"fewer than 2 samples"),
        ({"wavelength_nm": 50}, r"wavelength=50 nm is outside 200-1100 nm"),
    ],
)
def test_bad_arguments_are_refused_before_the_first_message(devices, kw, match):
    plan = _plan(devices, **kw)
    with pytest.raises(PlanArgumentError, match=match):
        next(plan)
