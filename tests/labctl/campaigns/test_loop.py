"""The campaign loop on the simulated bench in virtual time: runs, refusals, faults, failures,
the operator's step, the saved state and the catalog's record of every decision."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest

from labctl.campaigns.loop import CampaignState, campaign, prepare_resume, replay
from labctl.campaigns.optimisers import RandomSearch, make_optimiser
from labctl.campaigns.spec import parse_campaign
from labctl.devices.transports import InstrumentNotResponding

H2 = """
[campaign]
name = "loop-test"
experiment = "h2-evolution"
seed = 2
retries = {retries}
on_interrupt = "{on_interrupt}"

[objective]
figure = "rate"

[budget]
experiments = {n}

[parameters]
catalyst_mass = {{ min = "2 mg", max = "40 mg", scale = "log" }}
{extra}

[fixed]
duration = "1 h"
sample_interval = "30 min"
dark_samples = 1
"""


def _spec(n: int = 3, retries: int = 1, on_interrupt: str = "repeat", extra: str = "") -> Any:
    return parse_campaign(H2.format(n=n, retries=retries, on_interrupt=on_interrupt, extra=extra), where="t.toml")


class Scripted(RandomSearch):
    """Proposes the given points in order (then random ones)."""

    name = "scripted"

    def __init__(self, spec: Any, points: list[dict[str, Any]]) -> None:
        super().__init__(spec, seed=0)
        self.script = list(points)

    def _propose(self, n: int) -> list[dict[str, Any]]:
        out = [self.script.pop(0) for _ in range(min(n, len(self.script)))]
        return out + (super()._propose(n - len(out)) if len(out) < n else [])


def _run(session: Any, spec: Any, optimiser: Any, tmp_path: Any, **kw: Any) -> tuple[CampaignState, Any, list[Any]]:
    state = CampaignState.new(spec, bench="sim", folder=tmp_path / "campaigns")
    msgs: list[Any] = []
    outcome = session.run(campaign(session.bench, spec, state, optimiser, **kw), msg_log=lambda t, m: msgs.append(m))
    return state, outcome, msgs


def test_a_campaign_runs_each_experiment_as_its_own_run_and_saves_its_state(dry_session, tmp_path):
    spec = _spec(n=3)
    optimiser = make_optimiser(spec, strategy="random", seed=2)
    state, outcome, msgs = _run(dry_session, spec, optimiser, tmp_path)
    assert (state.status, state.stop_reason) == ("done", "budget: 3 experiments run")
    assert [t.status for t in state.trials] == ["done"] * 3
    starts = [d for n, d in outcome.documents if n == "start"]
    experiments = [d for d in starts if d.get("plan_name") == "h2_evolution"]
    ingests = [d for d in starts if d.get("plan_name") == "campaign_ingest"]
    assert len(experiments) == 3 and len(ingests) == 3
    for t, run, ingest in zip(state.trials, experiments, ingests, strict=True):
        assert run["campaign"]["id"] == state.id == run["campaign_id"] == ingest["campaign_id"]
        assert run["campaign"]["trial"] == t.index
        assert run["catalyst_mass_g"] == pytest.approx(t.params["catalyst_mass"])
        assert t.run_uids == [run["uid"]]
        assert ingest["campaign"]["run_uids"] == [run["uid"]] and ingest["campaign"]["ingested"] is True
        assert ingest["campaign"]["objective"]["value"] == pytest.approx(t.objective)
    # what the optimiser was given is what the runs measured
    assert [r[2]["rate"] for r in optimiser.results] == [t.objective for t in state.trials]
    # the state on disk says the same
    saved = json.loads(state.path.read_text())
    assert [t["objective"] for t in saved["trials"]] == [t.objective for t in state.trials]
    assert saved["status"] == "done"
    assert state.bench_hours() > 3 * 1.0  # each experiment is its hour of light and more
    # a new sample each time, prepared by the operator (completed by the simulated bench)
    prep = [m.args[0] for m in msgs if m.command == "set" and getattr(m.args[0], "key", "") == "prepare_batch"]
    assert len(prep) == 3
    mg = state.trials[0].params["catalyst_mass"] * 1e3
    assert prep[0].text.startswith(f"Prepare the samples: experiment 1: catalyst_mass {mg:.4g} mg")


def test_a_campaign_of_settings_the_bench_makes_itself_needs_no_hands(dry_session, tmp_path):
    spec = parse_campaign(
        H2.format(n=2, retries=1, on_interrupt="repeat", extra="").replace(
            'catalyst_mass = { min = "2 mg", max = "40 mg", scale = "log" }',
            'lamp_power = { min = "50 W", max = "300 W" }',
        ),
        where="t.toml",
    )
    state, _, msgs = _run(dry_session, spec, make_optimiser(spec, strategy="sobol", seed=1), tmp_path)
    assert state.status == "done"
    assert not [m for m in msgs if m.command == "set" and getattr(m.args[0], "key", "") == "prepare_batch"]


def test_a_proposal_past_a_bench_limit_is_never_run_and_the_optimiser_is_told(dry_session, tmp_path):
    spec = _spec(n=1, extra='lamp_power = { min = "50 W", max = "300 W" }')
    points = [{"catalyst_mass": 0.01, "lamp_power": 900.0}, {"catalyst_mass": 0.01, "lamp_power": 200.0}]
    optimiser = Scripted(spec, points)
    state, outcome, _ = _run(dry_session, spec, optimiser, tmp_path)
    refused, ran = state.trials
    assert refused.status == "refused"
    assert refused.reason == (
        "lamp_power=900 W is outside the bench limit 0-500 W for lamp; "
        "lower lamp_power or raise max_power in the bench file"
    )
    assert refused.run_uids == [] and refused.id in optimiser.failed
    experiments = [d for n, d in outcome.documents if n == "start" and d.get("plan_name") == "h2_evolution"]
    assert [d["plan_args"]["lamp_power_w"] for d in experiments] == [200.0]
    assert ran.status == "done" and state.status == "done"


def _faulty(spec: Any, failures: int, exc: BaseException) -> Any:
    """The spec with an experiment whose GC stops answering, after the lamp is on, ``failures`` times."""
    real = spec.experiment.build
    left = {"n": failures}

    def build(bench: Any, kwargs: dict[str, Any]) -> Any:
        plan = real(bench, kwargs)
        if left["n"] <= 0:
            return plan
        left["n"] -= 1
        gc = bench.devices["gc"]

        def fail_at_second_gc_sample(msg: Any) -> Any:
            if msg.command == "trigger" and msg.obj is gc:
                fail_at_second_gc_sample.seen += 1
                if fail_at_second_gc_sample.seen == 2:

                    def boom() -> Any:
                        yield from bps.null()
                        raise exc

                    return boom(), None
            return None, None

        fail_at_second_gc_sample.seen = 0
        return bpp.plan_mutator(plan, fail_at_second_gc_sample)

    return dataclasses.replace(spec, experiment=dataclasses.replace(spec.experiment, build=build))


def test_an_instrument_fault_is_retried_and_never_given_to_the_optimiser(dry_session, tmp_path):
    spec = _faulty(_spec(n=2, retries=1), 1, InstrumentNotResponding("gc: no reply to RUN within 5 s"))
    optimiser = make_optimiser(spec, strategy="random", seed=3)
    state, outcome, _ = _run(dry_session, spec, optimiser, tmp_path)
    first = state.trials[0]
    assert (first.status, first.attempts, len(first.run_uids)) == ("done", 2, 2)
    stops = {d["run_start"]: d for n, d in outcome.documents if n == "stop"}
    assert stops[first.run_uids[0]]["exit_status"] == "fail"
    assert stops[first.run_uids[0]]["reason"] == "gc: no reply to RUN within 5 s"
    assert "SAFE STATE NOT CONFIRMED" not in stops[first.run_uids[0]]["reason"]
    assert stops[first.run_uids[1]]["exit_status"] == "success"
    assert len(optimiser.results) == 2  # one result per experiment: the failed attempt was not ingested
    assert state.status == "done"
    assert dry_session.call(dry_session.bench.devices["lamp"].lit.get_value()) is False


def test_an_instrument_fault_past_its_retries_stops_the_campaign_with_the_fault(dry_session, tmp_path):
    spec = _faulty(_spec(n=3, retries=0), 1, InstrumentNotResponding("gc: no reply to RUN within 5 s"))
    optimiser = make_optimiser(spec, strategy="random", seed=3)
    state, _, _ = _run(dry_session, spec, optimiser, tmp_path)
    assert [t.status for t in state.trials] == ["fault"]
    assert state.status == "stopped"
    assert state.stop_reason == (
        "experiment 1 failed 1 time(s) for an instrument fault "
        "(InstrumentNotResponding: gc: no reply to RUN within 5 s); "
        f"fix the instrument, then labctl campaign resume {state.id}"
    )
    assert optimiser.results == [] and optimiser.failed == {}


def test_a_chemical_failure_is_data_an_unacceptable_result(dry_session, tmp_path):
    from labctl.plans.co2_cycloaddition import LeakCheckError

    spec = _faulty(_spec(n=2), 1, LeakCheckError("parr: lost 0.300 bar in 10 min (limit 0.05 bar): the vessel leaks"))
    optimiser = make_optimiser(spec, strategy="random", seed=4)
    state, _, _ = _run(dry_session, spec, optimiser, tmp_path)
    leak = state.trials[0]
    assert (leak.status, leak.attempts, leak.acceptable, leak.objective) == ("done", 1, False, None)
    why = "LeakCheckError: parr: lost 0.300 bar in 10 min (limit 0.05 bar): the vessel leaks"
    assert leak.figures == {"failure": why}
    assert leak.id in optimiser.failed  # the optimiser knows it, as the worst result
    assert len(state.experiments_run()) == 2 and state.status == "done"


def test_resume_marks_the_cut_experiment_and_repeats_it_without_running_anything_twice(dry_session, tmp_path):
    spec = _spec(n=3)
    optimiser = make_optimiser(spec, strategy="random", seed=5)
    state, _, _ = _run(dry_session, spec, optimiser, tmp_path)
    # as a crash leaves it: the third experiment was running when the process died
    state.trials[2].status = "running"
    state.trials[2].figures = state.trials[2].objective = None
    state.status = "running"
    state.save()
    again = CampaignState.load(state.path)
    cut = prepare_resume(again, spec)
    assert [t.index for t in cut] == [3]
    assert [(t.index, t.status, t.repeat_of) for t in again.trials] == [
        (1, "done", None),
        (2, "done", None),
        (3, "interrupted", None),
        (4, "proposed", 3),
    ]
    fresh = make_optimiser(spec, strategy="random", seed=5)
    replay(again, fresh, spec)
    assert [r[2]["rate"] for r in fresh.results] == [t.objective for t in again.trials[:2]]
    dry_session.run(campaign(dry_session.bench, spec, again, fresh))
    assert [t.status for t in again.trials] == ["done", "done", "interrupted", "done"]
    assert again.trials[3].params == again.trials[2].params
    assert again.status == "done" and len(again.experiments_run()) == 3


def test_resume_abandons_the_cut_experiment_when_the_file_says_so(tmp_path):
    spec = _spec(n=3, on_interrupt="abandon")
    state = CampaignState.new(spec, bench="sim", folder=tmp_path)
    from labctl.campaigns.loop import Trial

    state.trials = [Trial(index=1, id="a", params={"catalyst_mass": 0.01}, status="running")]
    prepare_resume(state, spec)
    assert [(t.status, t.reason) for t in state.trials] == [
        ("abandoned", "the campaign stopped while this experiment ran (its run is closed as aborted)")
    ]


def test_back_to_back_vessel_experiments_at_high_pressure_pass_their_leak_checks(dry_session, tmp_path):
    """A new sample goes into a vessel at room temperature: the last run's cooling is no leak."""
    spec = parse_campaign(
        """
[campaign]
experiment = "co2-cycloaddition"
[objective]
figure = "ton"
[budget]
experiments = 2
[parameters]
pressure = { min = "1 bar", max = "10 bar" }
[fixed]
hold = "1 h"
catalyst_mass = "1 mg"
""",
        where="c.toml",
    )
    optimiser = Scripted(spec, [{"pressure": 9.0}, {"pressure": 9.0}])
    state, _, _ = _run(dry_session, spec, optimiser, tmp_path)
    assert [(t.status, t.acceptable) for t in state.trials] == [("done", True), ("done", True)], [
        t.reason for t in state.trials
    ]
