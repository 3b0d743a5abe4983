"""The campaign loop as a Bluesky plan: suggest, check, run, analyse, ingest, and again.

:func:`campaign` is a plain plan: it runs from labctl's CLI, a plain RunEngine or the queue
server.  Each experiment is its own run, its start document carrying the campaign id, the trial
and the suggestion that produced it with the model's prediction; after the analysis a short
``campaign_ingest`` run records what was learnt (figures, the objective, whether the optimiser
was given it), so every decision can be replayed from the catalog.

Faults and failures:

* a proposal that breaks a parameter constraint or a bench limit (the plan's own argument
  checks) is never run; it is marked ``refused`` and the optimiser is told
  (``register_failures``);
* an experiment that fails for a chemical reason (a vessel that leaks) is data: it is ingested
  as an unacceptable result;
* an experiment that fails for an instrument fault is never given to the optimiser: it is
  repeated up to ``retries`` times, then the campaign stops with the fault as its reason;
* a campaign cut short (Ctrl-C, SIGTERM, SIGKILL, a reboot) leaves its running trial as it was;
  :func:`prepare_resume` marks it ``interrupted`` and repeats or abandons it as the file says.

The campaign's state (:class:`CampaignState`, a JSON file in ``<data>/campaigns/<id>/``) is
saved after every step, atomically, so nothing done is lost and nothing is run twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labctl.campaigns.spec import BENCH_SET, CampaignError, CampaignSpec, parse_campaign

MsgGen = Generator[Any, Any, Any]
logger = logging.getLogger(__name__)
STATE_FILE = "state.json"
CHEMICAL_FAILURES = ("LeakCheckError",)  # failures that are results, by exception class name


@dataclass
class Trial:
    """One proposed experiment and what became of it."""

    index: int
    id: str
    params: dict[str, Any]
    status: str = "proposed"  # proposed, running, done, refused, fault, interrupted, abandoned
    prediction: list[float] | None = None  # the model's mean and standard deviation of the objective
    attempts: int = 0
    run_uids: list[str] = field(default_factory=list)
    figures: dict[str, Any] | None = None
    objective: float | None = None
    acceptable: bool | None = None
    reason: str = ""
    bench_s: float = 0.0
    repeat_of: int | None = None


@dataclass
class CampaignState:
    """Everything a campaign has done, saved after every step."""

    id: str
    name: str
    experiment: str
    strategy: str
    seed: int
    bench: str
    source: str  # the campaign file's text
    created: str
    status: str = "running"  # running, done, stopped, interrupted
    stop_reason: str = ""
    trials: list[Trial] = field(default_factory=list)
    path: Path | None = None

    @classmethod
    def new(
        cls,
        spec: CampaignSpec,
        *,
        bench: str,
        folder: Path | None,
        strategy: str | None = None,
        seed: int | None = None,
    ) -> CampaignState:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        cid = f"{_slug(spec.name)}-{stamp}-{uuid.uuid4().hex[:4]}"
        state = cls(
            id=cid,
            name=spec.name,
            experiment=spec.experiment.name,
            strategy=strategy or spec.strategy,
            seed=spec.seed if seed is None else seed,
            bench=bench,
            source=spec.source,
            created=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        )
        if folder is not None:
            state.path = folder / cid / STATE_FILE
            state.path.parent.mkdir(parents=True, exist_ok=True)
            (state.path.parent / "campaign.toml").write_text(spec.source, encoding="utf-8")
            state.save()
        return state

    def spec(self) -> CampaignSpec:
        return parse_campaign(self.source, where=f"campaign {self.id}")

    def save(self) -> None:
        if self.path is None:
            return
        data = asdict(self)
        data.pop("path")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, default=_jsonable)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, path: Path) -> CampaignState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CampaignError(f"campaign state {path} cannot be read: {exc}") from exc
        trials = [Trial(**t) for t in data.pop("trials")]
        return cls(**data, trials=trials, path=path)

    # -- what the state says ---------------------------------------------------------------------
    def experiments_run(self) -> list[Trial]:
        """Trials that ran to a result the optimiser was given."""
        return [t for t in self.trials if t.status == "done"]

    def bench_hours(self) -> float:
        return sum(t.bench_s for t in self.trials) / 3600.0

    def best(self, spec: CampaignSpec) -> Trial | None:
        best = None
        for t in self.experiments_run():
            if t.objective is None or not t.acceptable:
                continue
            if best is None or spec.objective.better(t.objective, best.objective):  # type: ignore[arg-type]
                best = t
        return best

    def best_so_far(self, spec: CampaignSpec) -> list[float]:
        """The best acceptable objective after each experiment run (NaN until there is one)."""
        out: list[float] = []
        best = math.nan
        for t in self.experiments_run():
            if (
                t.objective is not None
                and t.acceptable
                and (math.isnan(best) or spec.objective.better(t.objective, best))
            ):
                best = t.objective
            out.append(best)
        return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "campaign"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def campaigns_folder(data_dir: Path) -> Path:
    return data_dir / "campaigns"


def list_campaigns(data_dir: Path) -> list[CampaignState]:
    folder = campaigns_folder(data_dir)
    out = []
    for path in sorted(folder.glob(f"*/{STATE_FILE}")):
        try:
            out.append(CampaignState.load(path))
        except CampaignError:
            continue
    return sorted(out, key=lambda s: s.created)


def find_campaign(data_dir: Path, ident: str) -> CampaignState:
    """A campaign by its id or a unique prefix of it."""
    states = list_campaigns(data_dir)
    exact = [s for s in states if s.id == ident]
    matches = exact or [s for s in states if s.id.startswith(ident)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(s.id for s in states[-5:]) or "none yet"
        raise CampaignError(f"no campaign {ident!r} in {campaigns_folder(data_dir)}; recent: {known}")
    raise CampaignError(
        f"{ident!r} names {len(matches)} campaigns ({', '.join(s.id for s in matches)}); give more of the id"
    )


# -- the optimiser's view -------------------------------------------------------------------------
def replay(state: CampaignState, optimiser: Any, spec: CampaignSpec) -> None:
    """Give a fresh optimiser everything the campaign learnt (after a resume, or a new engine)."""
    from blop.protocols import TrialFaultAware

    names = [d.name for d in spec.dimensions]
    for t in state.trials:
        if t.status == "done":
            optimiser.ingest([{**{n: t.params[n] for n in names}, **_outcomes(spec, t.figures or {}, t.acceptable)}])
        elif t.status in ("refused", "abandoned") and isinstance(optimiser, TrialFaultAware):
            optimiser.register_failures([dict(t.params)])
    if hasattr(optimiser, "draws"):
        optimiser.draws = max(optimiser.draws, len(state.trials))


def _outcomes(spec: CampaignSpec, figures: Mapping[str, Any], acceptable: bool | None) -> dict[str, Any]:
    """The figures the optimiser is given: the objective and every constrained figure, as numbers."""
    keys = [spec.objective.figure, *(c.figure for c in spec.outcome_constraints)]
    out: dict[str, Any] = {}
    for k in keys:
        v = figures.get(k)
        if isinstance(v, bool):
            v = float(v)
        out[k] = v
    if acceptable is False and not spec.outcome_constraints and out.get(spec.objective.figure) is None:
        out[spec.objective.figure] = None
    return out


def prepare_resume(state: CampaignState, spec: CampaignSpec) -> list[Trial]:
    """Mark the trials a crash cut short as interrupted, and repeat or abandon each as the file says.
    Returns the interrupted trials."""
    cut = [t for t in state.trials if t.status == "running"]
    for t in cut:
        t.status = "interrupted"
        t.reason = t.reason or "the campaign stopped while this experiment ran (its run is closed as aborted)"
        if spec.on_interrupt == "repeat":
            state.trials.append(
                Trial(
                    index=len(state.trials) + 1,
                    id=f"{t.id}-r",
                    params=dict(t.params),
                    prediction=t.prediction,
                    repeat_of=t.index,
                )
            )
        else:
            t.status = "abandoned"
    if state.status in ("running", "interrupted"):
        state.status = "running"
    state.save()
    return cut


# -- the plan ----------------------------------------------------------------------------------------
class _Collect:
    """The documents of the runs a sub-plan makes (subscribed for its duration only)."""

    def __init__(self) -> None:
        self.docs: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        self.docs.append((name, doc))


def recipe(spec: CampaignSpec, trials: list[Trial]) -> str:
    """What the operator prepares for a batch: each new sample's parameters, with units."""
    from labctl.reports.campaign import param_text

    lines = []
    for t in trials:
        hands = [f"{d.name} {param_text(d, t.params[d.name])}" for d in spec.dimensions if d.hands]
        fixed = [f"{name} {value}" for name, value in spec.fixed_text.items() if name not in BENCH_SET]
        if hands:
            lines.append(f"experiment {t.index}: " + ", ".join(hands + fixed))
    return "; ".join(lines)


def campaign(
    bench: Any,
    spec: CampaignSpec,
    state: CampaignState,
    optimiser: Any,
    *,
    on_step: Callable[[CampaignState, Trial], None] | None = None,
) -> MsgGen:
    """Run a campaign on an open bench until its budget, its target or its stopping rule.

    Parameters
    ----------
    bench : Bench
        The open bench (labctl.open_bench or the CLI's); its devices run the experiment.
    spec : CampaignSpec
        The campaign (labctl.campaigns.spec.load_campaign).
    state : CampaignState
        Where the campaign's history is kept and saved after every step.
    optimiser : blop Optimizer
        Any object with blop's optimiser protocols (labctl.campaigns.optimisers.make_optimiser).
    on_step : callable, optional
        Called with the state and the trial after every experiment (progress, alerts).
    """
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp
    from blop.protocols import Checkpointable, SupportsStoppingCriteria, TrialFaultAware
    from bluesky.utils import RequestAbort, RequestStop

    from labctl.devices.operator import HandStep
    from labctl.experiments import tables_from_documents

    bench = getattr(bench, "bench", bench)  # labctl.open_bench's handle holds the bench itself
    exp = spec.experiment
    devices = bench.devices
    clock = devices.get("clock")

    def loop_time() -> MsgGen:
        if clock is None:
            return 0.0
        elapsed = yield from bps.rd(clock.elapsed)
        origin = yield from bps.rd(clock.origin)
        return float(origin) + float(elapsed)

    def stop(status: str, reason: str) -> MsgGen:
        state.status = status
        state.stop_reason = reason
        state.save()
        yield from bps.null()

    suggested_here: dict[str, Any] = {}  # ids this optimiser gave, as it gave them (a repeated or resumed
    # trial is an outside point)

    def tell_failure(t: Trial) -> None:
        if isinstance(optimiser, TrialFaultAware):
            point = {"_id": suggested_here[t.id], **t.params} if t.id in suggested_here else dict(t.params)
            optimiser.register_failures([point])

    while True:
        done = state.experiments_run()
        if len(done) >= spec.max_experiments:
            yield from stop("done", f"budget: {len(done)} experiments run")
            return state
        if spec.bench_hours is not None and state.bench_hours() >= spec.bench_hours:
            yield from stop("done", f"budget: {state.bench_hours():.1f} bench hours used of {spec.bench_hours:g}")
            return state
        best = state.best(spec)
        if best is not None and spec.objective.reached(best.objective):  # type: ignore[arg-type]
            yield from stop(
                "done", f"target reached: {spec.objective.figure} = {best.objective:.4g} in experiment {best.index}"
            )
            return state
        if isinstance(optimiser, SupportsStoppingCriteria) and done:
            halt, why = optimiser.should_stop()
            if halt:
                yield from stop("done", why or "the optimiser's stopping rule")
                return state

        batch = [t for t in state.trials if t.status == "proposed"]
        if not batch:
            n = min(spec.batch_size, spec.max_experiments - len(done))
            predictions = getattr(optimiser, "last_prediction", {})
            for s in optimiser.suggest(n):
                suggested_here[str(s.get("_id"))] = s.get("_id")
                params = {d.name: s[d.name] for d in spec.dimensions}
                pred = predictions.get(s.get("_id"))
                state.trials.append(
                    Trial(
                        index=len(state.trials) + 1,
                        id=str(s.get("_id")),
                        params=params,
                        prediction=list(pred) if pred else None,
                    )
                )
                batch.append(state.trials[-1])
            state.save()

        runnable = []
        for t in batch:  # checked before anything moves
            why = "; ".join(spec.broken_constraints(t.params))
            if not why:
                try:
                    exp.check(bench, spec.plan_kwargs(t.params))
                except Exception as exc:
                    why = str(exc)
            if why:
                t.status, t.reason = "refused", why
                tell_failure(t)
                state.save()
                if on_step:
                    on_step(state, t)
            else:
                runnable.append(t)
        if not runnable:
            if sum(t.status == "refused" for t in state.trials) > 20 * spec.max_experiments:
                yield from stop("stopped", "the optimiser keeps proposing experiments the bench refuses")
                return state
            continue

        text = recipe(spec, runnable)
        if text and "operator" in devices:
            yield from bps.mv(devices["operator"], HandStep("prepare_batch", f"Prepare the samples: {text}"))

        for t in runnable:
            while True:
                t.status = "running"
                t.attempts += 1
                state.save()
                collect = _Collect()
                md = {
                    "campaign": {
                        "id": state.id,
                        "name": state.name,
                        "trial": t.index,
                        "suggestion_id": t.id,
                        "attempt": t.attempts,
                        "strategy": state.strategy,
                        "params": t.params,
                        "prediction": t.prediction,
                    },
                    "campaign_id": state.id,
                }
                t0 = yield from loop_time()
                fault: BaseException | None = None
                try:
                    kwargs = spec.plan_kwargs(t.params)
                    if hasattr(bench, "load_sample"):  # a simulated bench takes the sample (as labctl run does)
                        bench.load_sample(**kwargs)
                    plan = exp.build(bench, kwargs)
                    yield from bpp.subs_wrapper(bpp.inject_md_wrapper(plan, md), collect)
                except (RequestAbort, RequestStop):
                    raise  # Ctrl-C, a signal, an interlock: the campaign ends here (resume goes on)
                except Exception as exc:  # the run closed itself (and made the bench safe) before this
                    fault = _device_error(exc)
                t1 = yield from loop_time()
                t.bench_s += max(0.0, t1 - t0)
                t.run_uids += [d["uid"] for n, d in collect.docs if n == "start"]
                if fault is not None and type(fault).__name__ not in CHEMICAL_FAILURES:
                    t.reason = f"instrument fault: {type(fault).__name__}: {fault}"
                    if t.attempts <= spec.retries:
                        t.status = "proposed"
                        state.save()
                        continue  # the same experiment again
                    t.status = "fault"
                    state.save()
                    if on_step:
                        on_step(state, t)
                    yield from stop(
                        "stopped",
                        f"experiment {t.index} failed {t.attempts} time(s) for an instrument fault "
                        f"({type(fault).__name__}: {fault}); fix the instrument, then "
                        f"labctl campaign resume {state.id}",
                    )
                    return state
                break
            if fault is not None:  # a chemical failure: data, and not an acceptable one
                t.figures = {"failure": f"{type(fault).__name__}: {fault}"}
                t.objective, t.acceptable = None, False
                t.reason = t.figures["failure"]
            else:
                start = next((d for n, d in collect.docs if n == "start"), {})
                try:
                    figures = exp.analyze(start, tables_from_documents(collect.docs))
                except Exception as exc:
                    t.status, t.reason = "fault", f"analysis failed: {type(exc).__name__}: {exc}"
                    state.save()
                    yield from stop("stopped", f"experiment {t.index}: {t.reason}")
                    return state
                t.figures = {k: v for k, v in figures.items() if _is_scalar(v)}
                value = t.figures.get(spec.objective.figure)
                t.objective = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
                t.acceptable = t.objective is not None and all(c.holds(t.figures) for c in spec.outcome_constraints)
            outcomes = _outcomes(spec, t.figures, t.acceptable)
            if t.objective is None:
                tell_failure(t)
            elif t.id in suggested_here:
                optimiser.ingest([{"_id": suggested_here[t.id], **outcomes}])
            else:
                optimiser.ingest([{**t.params, **outcomes}])
            t.status = "done"
            state.save()
            if isinstance(optimiser, Checkpointable):
                try:
                    optimiser.checkpoint()
                except ValueError as exc:  # blop's AxOptimizer without a checkpoint path: the state file has it all
                    logger.debug("optimiser checkpoint skipped: %s", exc)
            yield from _record_ingest(state, t, spec)
            if on_step:
                on_step(state, t)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def _record_ingest(state: CampaignState, t: Trial, spec: CampaignSpec) -> MsgGen:
    """A short run whose start document records what the campaign learnt from one experiment."""
    import bluesky.plan_stubs as bps

    best = state.best(spec)
    md = {
        "plan_name": "campaign_ingest",
        "campaign_id": state.id,
        "campaign": {
            "id": state.id,
            "trial": t.index,
            "suggestion_id": t.id,
            "params": t.params,
            "prediction": t.prediction,
            "run_uids": t.run_uids,
            "objective": {"figure": spec.objective.figure, "value": t.objective, "goal": spec.objective.goal},
            "acceptable": t.acceptable,
            "ingested": t.objective is not None,
            "figures": t.figures,
            "best_trial": best.index if best else None,
            "best_value": best.objective if best else None,
        },
    }
    yield from bps.open_run(md=md)
    yield from bps.close_run()


def _device_error(exc: BaseException) -> BaseException:
    """A failed status's own error (a pump alarm, a heater fault) rather than bluesky's wrapper of it."""
    from bluesky.utils import FailedStatus

    if isinstance(exc, FailedStatus) and exc.args:
        status = exc.args[0]
        inner = status.exception() if hasattr(status, "exception") else None
        if isinstance(inner, BaseException):
            return inner
    return exc
