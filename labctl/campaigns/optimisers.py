"""The engines that propose experiments, all speaking blop's optimiser protocols.

Every engine here implements blop's ``Optimizer`` (``suggest(n)``, ``ingest(points)``,
``get_best_points()``), ``TrialFaultAware`` (``register_failures``), ``CanRegisterSuggestions``,
``Checkpointable`` and ``SupportsStoppingCriteria``, so the campaign loop drives them and blop's own
optimisers (its ``AxOptimizer``, strategy ``ax``) the same way.  A point is a mapping of parameter
names to values in the plan's units (a choice is its string), plus ``"_id"``; an outcome is the
same ``"_id"`` with the experiment's figures of merit.

* ``gp-ard`` (the default): Bayesian optimisation with a Gaussian process whose Matérn-5/2
  kernel has one length scale per dimension (ARD), a fitted noise term and expected improvement,
  from the bayesian-optimization package (scikit-learn's GP; no torch; installs in seconds).
  The parameters are mapped onto the unit cube (log-scaled ones by their logarithm) so the
  length scales compare.  The first ``d + 1`` experiments (d dimensions) are a scrambled Sobol
  design.  A batch of n is proposed by the constant liar (Ginsbourger et al. 2010, bayes_opt's
  ``ConstantLiar`` with the lie at the worst result seen): each proposal is added as a pending
  result so the next one goes elsewhere.
* ``random``: uniform in the box (log-uniform on log-scaled parameters).
* ``sobol``: a scrambled Sobol sequence (scipy.stats.qmc).
* ``grid``: a full factorial grid fine enough for the budget, visited in a seeded random order.
* ``ax``: blop's AxOptimizer (``pip install 'labctl[ax]'``), for multi-objective and
  outcome-constrained campaigns.

Points the bench refused (``register_failures``) and results that break an outcome constraint
are kept; the GP sees them at the worst score observed, so it learns to avoid the region and
never takes them for good results.  Linear parameter constraints are met by drawing again.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import math
import os
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labctl.campaigns.spec import CampaignError, CampaignSpec, Dimension

ID_KEY = "_id"
MAX_DRAWS = 2000


def _quiet() -> contextlib.AbstractContextManager[Any]:
    return contextlib.redirect_stdout(io.StringIO())


class Space:
    """The search space of a campaign: points <-> coordinates in the unit cube."""

    def __init__(self, spec: CampaignSpec) -> None:
        self.spec = spec
        self.numeric = [d for d in spec.dimensions if d.kind != "choice"]
        self.choice = [d for d in spec.dimensions if d.kind == "choice"]

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.spec.dimensions]

    def to_unit(self, d: Dimension, value: float) -> float:
        if d.scale == "log":
            return (math.log(value) - math.log(d.low)) / (math.log(d.high) - math.log(d.low))
        return (value - d.low) / (d.high - d.low)

    def from_unit(self, d: Dimension, u: float) -> float | int:
        u = min(max(float(u), 0.0), 1.0)
        if d.scale == "log":
            value = math.exp(math.log(d.low) + u * (math.log(d.high) - math.log(d.low)))
        else:
            value = d.low + u * (d.high - d.low)
        if d.kind == "int":
            return int(min(max(round(value), math.ceil(d.low)), math.floor(d.high)))
        return min(max(value, d.low), d.high)

    def point(self, u: Sequence[float]) -> dict[str, Any]:
        """A point from cube coordinates: numeric dimensions first, then one coordinate per choice."""
        out: dict[str, Any] = {}
        k = len(self.numeric)
        for d, x in zip(self.numeric, u[:k], strict=True):
            out[d.name] = self.from_unit(d, x)
        for d, x in zip(self.choice, u[k:], strict=True):
            out[d.name] = d.choices[min(int(float(x) * len(d.choices)), len(d.choices) - 1)]
        return {name: out[name] for name in self.names}

    @property
    def cube_dims(self) -> int:
        return len(self.numeric) + len(self.choice)

    def feasible(self, point: Mapping[str, Any]) -> bool:
        return not self.spec.broken_constraints(point)


class Engine:
    """What every engine shares: bookkeeping of suggestions, results and failures (blop's protocols)."""

    name = "engine"

    def __init__(self, spec: CampaignSpec, *, seed: int = 0, checkpoint_path: Path | None = None) -> None:
        self.spec = spec
        self.space = Space(spec)
        self.seed = seed
        self.checkpoint_path = checkpoint_path
        self.suggested: dict[str, dict[str, Any]] = {}
        self.results: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (_id, params, outcomes)
        self.failed: dict[str, dict[str, Any]] = {}
        self.draws = 0  # points drawn so far (the random streams continue from here)

    # -- blop: Optimizer ------------------------------------------------------------------------
    def suggest(self, num_points: int | None = None) -> list[dict[str, Any]]:
        n = 1 if num_points is None else int(num_points)
        points = self._propose(n)
        return list(self.register_suggestions(points))

    def ingest(self, points: Sequence[Mapping[str, Any]]) -> None:
        for p in points:
            pid = p.get(ID_KEY)
            if pid is None or pid not in self.suggested:  # an outside point: its parameters are in it
                pid = str(pid) if pid is not None else uuid.uuid4().hex[:12]
                params = {name: p[name] for name in self.space.names}
                self.suggested[pid] = params
            outcomes = {k: v for k, v in p.items() if k != ID_KEY and k not in self.space.names}
            self.results.append((pid, dict(self.suggested[pid]), outcomes))

    def get_best_points(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        best = None
        for pid, params, outcomes in self.results:
            value = self.value(outcomes)
            if value is None or not self.acceptable(outcomes):
                continue
            if best is None or self.spec.objective.better(value, self.value(best[2])):  # type: ignore[arg-type]
                best = (pid, params, outcomes)
        return [best] if best is not None else []

    # -- blop: CanRegisterSuggestions, TrialFaultAware, Checkpointable, SupportsStoppingCriteria --
    def register_suggestions(self, suggestions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for s in suggestions:
            pid = f"s{len(self.suggested) + 1:04d}-{uuid.uuid4().hex[:6]}"
            params = {name: s[name] for name in self.space.names}
            self.suggested[pid] = params
            out.append({ID_KEY: pid, **params})
        return out

    def register_failures(self, suggestions: Sequence[Mapping[str, Any]]) -> None:
        for s in suggestions:
            pid = s.get(ID_KEY)
            params = self.suggested.get(pid) if pid is not None else None
            key = str(pid) if pid is not None else f"outside-{len(self.failed) + 1}"
            self.failed[key] = dict(params or {name: s[name] for name in self.space.names})

    def checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        tmp = self.checkpoint_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state(), indent=1, default=str))
        os.replace(tmp, self.checkpoint_path)

    def should_stop(self) -> tuple[bool, str | None]:
        obj = self.spec.objective
        best = self.get_best_points()
        if best and obj.reached(self.value(best[0][2])):  # type: ignore[arg-type]
            return True, f"target reached: {obj.figure} = {self.value(best[0][2]):.4g}"
        k = self.spec.no_improvement
        if k is not None and len(self.results) > k:
            pids = [r[0] for r in self.results]
            if best and pids.index(best[0][0]) < len(pids) - k:
                return True, f"no improvement in the last {k} experiments"
        return False, None

    def state(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "seed": self.seed,
            "draws": self.draws,
            "suggested": self.suggested,
            "results": [list(r) for r in self.results],
            "failed": self.failed,
        }

    # -- scoring --------------------------------------------------------------------------------
    def value(self, outcomes: Mapping[str, Any]) -> float | None:
        v = outcomes.get(self.spec.objective.figure)
        if v is None or isinstance(v, bool):
            return None
        v = float(v)
        return v if math.isfinite(v) else None

    def acceptable(self, outcomes: Mapping[str, Any]) -> bool:
        return all(c.holds(outcomes) for c in self.spec.outcome_constraints)

    def scored(self) -> list[tuple[dict[str, Any], float]]:
        """(point, score to maximise) of every result and failure; an unacceptable or failed point
        scores as the worst acceptable result seen."""
        sign = 1.0 if self.spec.objective.goal == "maximise" else -1.0
        good = []
        bad = []
        for _, params, outcomes in self.results:
            v = self.value(outcomes)
            if v is not None and self.acceptable(outcomes):
                good.append((params, sign * v))
            else:
                bad.append(params)
        bad += list(self.failed.values())
        if not good:
            return []
        worst = min(s for _, s in good)
        return good + [(p, worst) for p in bad if p]

    def _propose(self, n: int) -> list[dict[str, Any]]:  # pragma: no cover - each engine has its own
        raise NotImplementedError

    def _feasible(self, draw: Any, n: int) -> list[dict[str, Any]]:
        """n feasible points from ``draw()`` (a callable giving one cube point per call)."""
        out: list[dict[str, Any]] = []
        tries = 0
        while len(out) < n:
            tries += 1
            if tries > MAX_DRAWS:
                raise CampaignError(
                    f"campaign {self.spec.name}: no point in {MAX_DRAWS} draws meets the constraints "
                    f"({'; '.join(c.text for c in self.spec.constraints)}); widen the bounds or relax them"
                )
            p = self.space.point(draw())
            self.draws += 1
            if self.space.feasible(p):
                out.append(p)
        return out


class RandomSearch(Engine):
    name = "random"

    def _propose(self, n: int) -> list[dict[str, Any]]:
        def draw() -> np.ndarray:
            return np.random.default_rng([self.seed, self.draws, 1]).random(self.space.cube_dims)

        return self._feasible(draw, n)


class SobolSearch(Engine):
    name = "sobol"

    def _propose(self, n: int) -> list[dict[str, Any]]:
        from scipy.stats import qmc

        sampler = qmc.Sobol(d=self.space.cube_dims, scramble=True, seed=self.seed)
        if self.draws:
            sampler.fast_forward(self.draws)

        def draw() -> np.ndarray:
            return sampler.random(1)[0]

        return self._feasible(draw, n)


class GridSearch(Engine):
    name = "grid"

    def _grid(self) -> list[tuple[float, ...]]:
        numeric = len(self.space.numeric)
        n_choices = math.prod(len(d.choices) for d in self.space.choice)
        per_numeric = max(2, math.ceil((self.spec.max_experiments / n_choices) ** (1 / numeric))) if numeric else 1
        axes = [[i / (per_numeric - 1) for i in range(per_numeric)] for _ in range(numeric)]
        axes += [[(i + 0.5) / len(d.choices) for i in range(len(d.choices))] for d in self.space.choice]
        cells = list(itertools.product(*axes))
        order = np.random.default_rng([self.seed, 3]).permutation(len(cells))
        return [cells[i] for i in order]

    def _propose(self, n: int) -> list[dict[str, Any]]:
        cells = self._grid()

        def draw() -> tuple[float, ...]:
            if self.draws >= len(cells):
                raise CampaignError(f"campaign {self.spec.name}: the grid's {len(cells)} points are all proposed")
            return cells[self.draws]

        return self._feasible(draw, n)


class GpArd(Engine):
    """GP-ARD Bayesian optimisation (bayesian-optimization), batches by the constant liar."""

    name = "gp-ard"

    def __init__(
        self, spec: CampaignSpec, *, seed: int = 0, checkpoint_path: Path | None = None, xi: float = 0.01
    ) -> None:
        super().__init__(spec, seed=seed, checkpoint_path=checkpoint_path)
        self.xi = xi
        self.initial = self.space.cube_dims + 1
        self.last_prediction: dict[str, tuple[float, float]] = {}

    def _coordinates(self, point: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            f"x{i}": self.space.to_unit(d, float(point[d.name])) for i, d in enumerate(self.space.numeric)
        }
        for d in self.space.choice:
            out[d.name] = point[d.name]
        return out

    def _model(self, scored: list[tuple[dict[str, Any], float]], rng: np.random.RandomState) -> tuple[Any, Any]:
        """The target space holding the results, and the GP fitted to them."""
        from bayes_opt.parameter import wrap_kernel
        from bayes_opt.target_space import TargetSpace
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        pbounds: dict[str, Any] = {f"x{i}": (0.0, 1.0) for i in range(len(self.space.numeric))}
        for d in self.space.choice:
            pbounds[d.name] = tuple(d.choices)
        space = TargetSpace(None, pbounds, random_state=rng, allow_duplicate_points=True)
        with _quiet():  # bayes_opt prints a line for every repeated point (a repeat is data here)
            for point, score in scored:
                space.register(self._coordinates(point), score)
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=np.full(space.dim, 0.3), length_scale_bounds=(1e-2, 1e2), nu=2.5
        ) + WhiteKernel(1e-2, (1e-6, 1.0))
        gp = GaussianProcessRegressor(
            kernel=wrap_kernel(kernel, transform=space.kernel_transform),
            alpha=1e-8,
            normalize_y=True,
            n_restarts_optimizer=1,
            random_state=rng,
        )
        with warnings.catch_warnings():  # a length scale at its bound is an answer (that parameter does not matter)
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(space.params, space.target)
        return space, gp

    def _propose(self, n: int) -> list[dict[str, Any]]:
        from bayes_opt import acquisition

        scored = self.scored()
        if len(scored) < self.initial:
            sobol = SobolSearch(self.spec, seed=self.seed)
            sobol.draws = self.draws
            out = sobol._propose(n)
            self.draws = sobol.draws
            self.pending_predictions = []
            return out
        rng = np.random.RandomState(np.random.default_rng([self.seed, self.draws, 2]).integers(2**31))
        space, gp = self._model(scored, rng)
        acq: Any = acquisition.ExpectedImprovement(xi=self.xi)
        if n > 1:
            acq = acquisition.ConstantLiar(acq, strategy="min")
        worst = min(s for _, s in scored)
        out: list[dict[str, Any]] = []
        tries = 0
        while len(out) < n:
            tries += 1
            with warnings.catch_warnings(), _quiet():
                warnings.simplefilter("ignore")
                x = acq.suggest(gp=gp, target_space=space, n_random=5000, n_smart=3, fit_gp=tries > 1, random_state=rng)
            raw = space.array_to_params(x)
            self.draws += 1
            k = len(self.space.numeric)
            u = [float(raw[f"x{i}"]) for i in range(k)]
            point = self.space.point(
                u + [(d.choices.index(raw[d.name]) + 0.5) / len(d.choices) for d in self.space.choice]
            )
            if self.space.feasible(point):
                out.append(point)
            elif tries > 20:
                # the model keeps proposing what the constraints forbid: a random feasible point
                out += self._feasible(
                    lambda: np.random.default_rng([self.seed, self.draws, 4]).random(self.space.cube_dims), 1
                )
            else:  # a known-infeasible point: the GP sees it at the worst score and looks elsewhere
                with _quiet():
                    space.register(self._coordinates(point), worst)
        _, gp = self._model(scored, rng) if n > 1 else (space, gp)
        mean, std = gp.predict(np.array([space.params_to_array(self._coordinates(p)) for p in out]), return_std=True)
        sign = 1.0 if self.spec.objective.goal == "maximise" else -1.0
        self.pending_predictions = [(sign * float(m), float(sd)) for m, sd in zip(mean, std, strict=True)]
        return out

    def suggest(self, num_points: int | None = None) -> list[dict[str, Any]]:
        self.pending_predictions: list[tuple[float, float]] = []
        out = super().suggest(num_points)
        for s, pred in zip(out, self.pending_predictions, strict=False):
            self.last_prediction[s[ID_KEY]] = pred
        return out

    def predict(self, points: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
        """The model's mean and standard deviation of the objective at points (for the report)."""
        scored = self.scored()
        if len(scored) < 2 or not points:
            return [(math.nan, math.nan) for _ in points]
        space, gp = self._model(scored, np.random.RandomState(0))
        mean, std = gp.predict(np.array([space.params_to_array(self._coordinates(p)) for p in points]), return_std=True)
        sign = 1.0 if self.spec.objective.goal == "maximise" else -1.0
        return [(sign * float(m), float(sd)) for m, sd in zip(mean, std, strict=True)]

    def length_scales(self) -> dict[str, float]:
        """The fitted ARD length scale of each numeric parameter (in unit-cube widths)."""
        scored = self.scored()
        if len(scored) < 2:
            return {}
        _, gp = self._model(scored, np.random.RandomState(0))
        scales = next(
            (v for k, v in gp.kernel_.get_params().items() if k.endswith("length_scale") and np.ndim(v) == 1), None
        )
        if scales is None:
            return {}
        return {d.name: float(s) for d, s in zip(self.space.numeric, scales, strict=False)}


ENGINES: dict[str, type[Engine]] = {e.name: e for e in (GpArd, RandomSearch, SobolSearch, GridSearch)}


def make_optimiser(
    spec: CampaignSpec, *, strategy: str | None = None, seed: int | None = None, checkpoint_path: Path | None = None
) -> Any:
    """The engine a campaign names (``strategy`` overrides it), seeded."""
    strategy = strategy or spec.strategy
    seed = spec.seed if seed is None else seed
    if strategy == "ax":
        return make_ax_optimiser(spec, seed=seed, checkpoint_path=checkpoint_path)
    if strategy not in ENGINES:
        raise CampaignError(f"strategy {strategy!r} is not known; use one of {', '.join([*ENGINES, 'ax'])}")
    return ENGINES[strategy](spec, seed=seed, checkpoint_path=checkpoint_path)


def make_ax_optimiser(spec: CampaignSpec, *, seed: int = 0, checkpoint_path: Path | None = None) -> Any:
    """blop's AxOptimizer over the campaign's space, objective and constraints (the ``ax`` extra)."""
    try:
        from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig
        from blop.ax.optimizer import AxOptimizer
    except ImportError as exc:
        raise CampaignError(
            f"strategy 'ax' needs blop's Ax backend, which is not installed ({exc.name}); "
            "install it with: pip install 'labctl[ax]'"
        ) from exc
    if os.environ.get("LABCTL_LIBRARY_LOGS") != "shown":  # Ax logs every trial at INFO; labctl -v shows it
        logging.getLogger("ax").setLevel(logging.WARNING)
    parameters: list[Any] = []
    for d in spec.dimensions:
        if d.kind == "choice":
            parameters.append(ChoiceParameterConfig(name=d.name, parameter_type="str", values=list(d.choices)))
        else:
            parameters.append(
                RangeParameterConfig(
                    name=d.name,
                    parameter_type="int" if d.kind == "int" else "float",
                    bounds=(int(d.low), int(d.high)) if d.kind == "int" else (d.low, d.high),
                    scaling="log" if d.scale == "log" else "linear",
                )
            )
    objective = spec.objective.figure if spec.objective.goal == "maximise" else f"-{spec.objective.figure}"
    outcome = []
    for c in spec.outcome_constraints:
        if c.op == "==":
            value = float(c.value)
            outcome += [f"{c.figure} <= {value + 0.5}", f"{c.figure} >= {value - 0.5}"]
        else:
            outcome.append(f"{c.figure} {c.op} {float(c.value)}")
    constraints = []
    for lc in spec.constraints:
        terms = " + ".join(f"{w} * {n}" if w != 1.0 else n for n, w in zip(lc.names, lc.coefficients, strict=True))
        constraints.append(f"{terms} <= {lc.bound}")
    return AxOptimizer(
        parameters=parameters,
        objective=objective,
        parameter_constraints=constraints or None,
        outcome_constraints=outcome or None,
        checkpoint_path=str(checkpoint_path) if checkpoint_path else None,
        client_kwargs={"random_seed": seed},
    )
