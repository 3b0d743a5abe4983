"""Campaigns before a sample is spent: rehearsal in virtual time, baselines and benchmarks.

* :func:`rehearse` runs the whole campaign, optimiser included, with the real plans on the
  simulated bench in virtual time (a dry run: nothing is recorded), once per seed: experiments
  and bench hours to the target, the timeline, and the samples and materials it consumes.
* :func:`benchmark_strategies` compares strategies on the simulated bench's response -- the same
  physics model the simulated instruments run, with its sample-to-sample and measurement noise,
  evaluated directly (no instrument protocol, no virtual clock) so that 20 seeds of several
  strategies take minutes -- against the simulator's own optimum, which nothing else reads.
* :func:`random_baseline` is random search's best-so-far on that response, for a report.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labctl.campaigns.spec import CampaignError, CampaignSpec


# -- rehearsal on the simulated bench ------------------------------------------------------------------
def rehearse(
    spec: CampaignSpec, *, bench: str = "sim", seeds: int = 1, strategy: str | None = None, data_dir: Path | None = None
) -> dict[str, Any]:
    """The campaign ``seeds`` times on the simulated bench in virtual time; see the module docstring."""
    import tempfile

    from labctl.campaigns.loop import CampaignState, campaign
    from labctl.campaigns.optimisers import make_optimiser
    from labctl.campaigns.spec import check_against_bench
    from labctl.config import BenchError, load_bench
    from labctl.reports.campaign import param_text, param_value
    from labctl.session import Session

    try:
        cfg = load_bench(bench)
    except BenchError as exc:
        raise CampaignError(str(exc)) from exc
    if not cfg.in_process:
        raise CampaignError(
            f"bench {cfg.name!r} is not a bench of in-process simulators; a rehearsal runs in virtual time "
            "on one (--bench sim)"
        )
    t_wall = time.perf_counter()
    per_seed: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    materials: dict[str, float] = {}
    samples = 0
    with tempfile.TemporaryDirectory(prefix="labctl-rehearsal-") as tmp:
        ddir = data_dir if data_dir is not None else Path(tmp)
        with Session(data_dir=ddir, speed=math.inf, record=False) as session:
            bench_obj = session.open_bench(cfg)
            check_against_bench(spec, bench_obj)
            for k in range(seeds):
                state = CampaignState.new(spec, bench=cfg.name, folder=None, strategy=strategy, seed=spec.seed + k)
                optimiser = make_optimiser(spec, strategy=state.strategy, seed=state.seed)
                outcome = session.run(campaign(bench_obj, spec, state, optimiser))
                if state.status == "running":
                    raise CampaignError(f"the rehearsal stopped: {outcome.reason or outcome.exit_status}")
                hours = 0.0
                reached_at = reached_h = None
                n_done = 0
                for t in state.trials:
                    start_h = hours
                    hours += t.bench_s / 3600.0
                    if t.status == "done":
                        n_done += 1
                        if (
                            reached_at is None
                            and t.acceptable
                            and t.objective is not None
                            and spec.objective.reached(t.objective)
                        ):
                            reached_at, reached_h = n_done, hours
                    if t.status in ("done", "fault") and any(d.hands for d in spec.dimensions):
                        samples += 1
                        for d in spec.dimensions:
                            v = param_value(d, t.params[d.name])
                            if d.hands and isinstance(v, float):
                                key = f"{d.name} ({_unit(d)})"
                                materials[key] = materials.get(key, 0.0) + v
                    if k == 0:
                        timeline.append(
                            {
                                "trial": t.index,
                                "start_h": round(start_h, 3),
                                "status": t.status,
                                "params": ", ".join(
                                    f"{d.name} {param_text(d, t.params[d.name])}" for d in spec.dimensions
                                ),
                                "objective": t.objective,
                            }
                        )
                best = state.best(spec)
                per_seed.append(
                    {
                        "seed": state.seed,
                        "experiments": len(state.experiments_run()),
                        "bench_hours": state.bench_hours(),
                        "best": None if best is None else best.objective,
                        "experiments_to_target": reached_at,
                        "hours_to_target": reached_h,
                        "stop_reason": state.stop_reason,
                        "best_so_far": state.best_so_far(spec),
                    }
                )
    reached = [s for s in per_seed if s["experiments_to_target"] is not None]
    result: dict[str, Any] = {
        "name": spec.name,
        "experiment": spec.experiment.name,
        "strategy": strategy or spec.strategy,
        "bench": cfg.name,
        "seeds": seeds,
        "wall_s": time.perf_counter() - t_wall,
        "per_seed": per_seed,
        "timeline": timeline,
        "materials": {k: f"{v / seeds:.4g}" for k, v in materials.items()},
        "samples_mean": samples / seeds,
        "to_target": None,
    }
    if spec.objective.target is not None and reached:
        n = [float(s["experiments_to_target"]) for s in reached]
        h = [float(s["hours_to_target"]) for s in reached]
        q = np.percentile(n, [25, 75])
        result["to_target"] = {
            "reached": len(reached),
            "experiments_median": statistics.median(n),
            "experiments_q25": float(q[0]),
            "experiments_q75": float(q[1]),
            "hours_median": statistics.median(h),
        }
    return result


def _unit(d: Any) -> str:
    from labctl.reports.campaign import display_unit

    return display_unit(d) or "-"


# -- the simulated bench's response ---------------------------------------------------------------
def _response(spec: CampaignSpec) -> Any:
    from labctl.bench import simulated_response

    return simulated_response(spec.experiment.name)


def random_baseline(spec: CampaignSpec, bench: Any, *, n: int, seeds: int = 20) -> dict[str, Any] | None:
    """Random search's best-so-far (median, quartiles over ``seeds``) for ``n`` experiments on the
    simulated bench's response, or None when the bench's experiment has no simulated response."""
    response = _response(spec)
    if response is None:
        return None
    curves = [_campaign_on_response(spec, response, "random", seed, n)["measured"] for seed in range(seeds)]
    arr = np.array(curves, dtype=float)
    with np.errstate(all="ignore"):
        return {
            "median": np.nanmedian(arr, axis=0).tolist(),
            "q25": np.nanpercentile(arr, 25, axis=0).tolist(),
            "q75": np.nanpercentile(arr, 75, axis=0).tolist(),
            "seeds": seeds,
        }


def _campaign_on_response(spec: CampaignSpec, response: Any, strategy: str, seed: int, n: int) -> dict[str, Any]:
    """One campaign of ``n`` experiments on the response: measured and true best-so-far, suggestion times."""
    from labctl.campaigns.optimisers import make_optimiser

    engine = make_optimiser(spec, strategy=strategy, seed=seed)
    rng = np.random.default_rng([seed, 11])
    sign = 1.0 if spec.objective.goal == "maximise" else -1.0
    measured: list[float] = []
    true: list[float] = []
    seconds: list[float] = []
    best_m = best_t = -math.inf
    refused = 0
    while len(measured) < n:
        t0 = time.perf_counter()
        batch = engine.suggest(min(spec.batch_size, n - len(measured)))
        seconds.append(time.perf_counter() - t0)
        for s in batch:
            params = {d.name: s[d.name] for d in spec.dimensions}
            kwargs = spec.plan_kwargs(params)
            if spec.broken_constraints(params) or not response.allowed(kwargs):
                engine.register_failures([s])
                refused += 1
                if refused > 50 * n:
                    raise CampaignError(f"campaign {spec.name}: the strategy keeps proposing refused points")
                continue
            figures = response(kwargs, rng)
            value = figures.get(spec.objective.figure)
            engine.ingest([{"_id": s["_id"], **figures}])
            if value is not None and all(c.holds(figures) for c in spec.outcome_constraints):
                best_m = max(best_m, sign * float(value))
                exact = response(kwargs, None).get(spec.objective.figure)
                if exact is not None:
                    best_t = max(best_t, sign * float(exact))
            measured.append(sign * best_m if math.isfinite(best_m) else math.nan)
            true.append(sign * best_t if math.isfinite(best_t) else math.nan)
    return {"measured": measured, "true": true, "seconds": seconds, "refused": refused}


def benchmark_strategies(
    spec: CampaignSpec,
    strategies: Sequence[str],
    *,
    seeds: int = 20,
    budget: int | None = None,
    baseline_budget: int | None = None,
    fraction: float = 0.95,
    bench: str = "sim",
) -> dict[str, Any]:
    """Experiments to reach ``fraction`` of the simulator's optimum, per strategy over ``seeds``.

    A campaign reaches the target when an experiment's noise-free value (the simulator's model at
    the conditions run) is within ``fraction`` of the optimum.  Baselines (random, sobol, grid) run
    ``baseline_budget`` experiments (default 50x the budget, at most 5000) so that their medians
    are measured rather than cut off; a strategy that never gets there counts as infinity (its
    median then reads "not reached" and an acceleration factor against it is a lower bound).
    AF = median experiments of random / of each strategy; EF(n) = median true best of a strategy /
    of random after n experiments, at n = 10 d and 20 d (d parameters).
    """
    response = _response(spec)
    if response is None:
        raise CampaignError(f"the simulated bench has no response model for {spec.experiment.name}")
    if any(d.kind == "choice" for d in spec.dimensions):
        raise CampaignError(
            "the simulator's optimum is known for numeric parameters only; drop the choices to benchmark"
        )
    bounds = {d.arg: (d.low, d.high) for d in spec.dimensions}
    optimum = response.optimum(spec.objective.figure, spec.objective.goal, bounds, spec.fixed)
    sign = 1.0 if spec.objective.goal == "maximise" else -1.0
    target = optimum * fraction if sign > 0 else optimum / fraction
    n = budget or spec.max_experiments
    d = len(spec.dimensions)
    nb = baseline_budget or min(max(50 * n, 20 * d), 5000)
    out: dict[str, Any] = {
        "optimum": optimum,
        "target": target,
        "budget": n,
        "baseline_budget": nb,
        "seeds": seeds,
        "dimensions": d,
        "strategies": {},
    }
    curves: dict[str, np.ndarray] = {}
    for name in strategies:
        steps = max(n, 20 * d) if name in ("gp-ard", "ax") else nb  # 20 d: the enhancement factor's second point
        hits: list[float] = []
        times: list[float] = []
        trues = []
        for seed in range(seeds):
            run = _campaign_on_response(spec, response, name, seed, steps)
            trues.append(run["true"])
            times += run["seconds"][-10:]
            k = next((i + 1 for i, v in enumerate(run["true"]) if sign * v >= sign * target), math.inf)
            hits.append(k)
        finite = [h for h in hits if math.isfinite(h)]
        q25, q75 = np.percentile(hits, [25, 75], method="lower")  # inf where a campaign never got there
        curves[name] = np.array([c[: min(len(x) for x in trues)] for c in trues], dtype=float)
        out["strategies"][name] = {
            "experiments_median": float(np.median(hits)),
            "experiments_q25": float(q25),
            "experiments_q75": float(q75),
            "reached": len(finite),
            "experiments": hits,
            "suggest_s_median": float(np.median(times)) if times else math.nan,
            "suggest_s_max": float(np.max(times)) if times else math.nan,
        }
    if "random" in out["strategies"]:
        ref = out["strategies"]["random"]["experiments_median"]
        # random never getting there in nb experiments: the factor is at least nb / ours
        bound = not math.isfinite(ref)
        out["acceleration"] = {
            f"{name} vs random" + (" (at least)" if bound else ""): (nb if bound else ref) / s["experiments_median"]
            for name, s in out["strategies"].items()
            if name != "random" and 0 < s["experiments_median"] < math.inf
        }
        out["enhancement"] = {}
        for name, arr in curves.items():
            if name == "random":
                continue
            for per_dim in (10, 20):
                k = per_dim * d
                if arr.shape[1] >= k and curves["random"].shape[1] >= k:
                    ours = float(np.nanmedian(arr[:, k - 1]))
                    theirs = float(np.nanmedian(curves["random"][:, k - 1]))
                    out["enhancement"][f"{name} vs random at {per_dim}d = {k} experiments"] = (
                        ours / theirs if sign > 0 else theirs / ours
                    )
    return out
