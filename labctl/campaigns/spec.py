"""A campaign file: the experiment, the objective, the search space, the budget and the strategy.

A campaign is a TOML file with units everywhere::

    [campaign]
    name = "h2-optimise"
    experiment = "h2-evolution"
    strategy = "gp-ard"            # gp-ard (default) | random | sobol | grid | ax
    batch_size = 1                 # experiments prepared and run per round
    seed = 1
    on_interrupt = "repeat"        # an experiment cut short by a crash: "repeat" or "abandon"
    retries = 1                    # repeats of an experiment that failed for an instrument fault

    [objective]
    figure = "rate"                # any figure of merit the experiment reports
    goal = "maximise"              # or "minimise"
    target = "6000 umol/g/h"       # optional: stop when reached

    [budget]
    experiments = 40
    bench_hours = "200 h"          # optional

    [stop]
    no_improvement = 15            # optional: experiments without a better result

    [parameters]
    catalyst_mass = { min = "2 mg", max = "40 mg", scale = "log" }
    lamp_power = { min = "50 W", max = "300 W" }
    catalyst = { choices = ["A", "B"] }

    [fixed]
    duration = "4 h"

    [[constraints]]                # a linear limit on parameters of one kind
    sum = ["epoxide_volume", "tbab"]
    max = "5 mL"

    [[outcome_constraints]]        # results that are data, but not acceptable ones
    figure = "leak_suspect"
    equals = false

Parameters are the experiment's own (``labctl experiments NAME`` lists them) and their values go
through the same conversion and plausibility checks as ``-p name=value``; the bench's limits are
checked when the bench is open (:func:`check_against_bench`).  Every error names the file, the
entry, the value, the limit and the fix.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from labctl.experiments import Experiment, Param, ParameterError, get_experiment

STRATEGIES = ("gp-ard", "random", "sobol", "grid", "ax")
MAX_EXPERIMENTS = 10_000

# Parameters the bench sets itself (lamp, LED, temperature, pressure, timing): a new value needs no
# hands.  Any other parameter (catalyst, its mass, doping, donor, pH, TBAB, ...) is a new sample.
BENCH_SET = frozenset(
    {
        "lamp_power",
        "led_current",
        "wavelength",
        "light_power",
        "duration",
        "sample_interval",
        "dark_samples",
        "temperature",
        "pressure",
        "hold",
        "stir",
        "ramp",
        "trace_interval",
        "leak_check",
        "purge_cycles",
        "co2_supply",
        "excitation",
        "interval",
        "injection_rate",
        "injection_volume",
        "spectrum_interval",
        "target",
        "stop_when_narrowing_stops",
        "hold_after",
    }
)

# The pint unit of figures of merit a target may be given in with units (others are plain numbers).
FIGURE_UNITS: dict[str, str] = {
    "rate": "umol/g/h",
    "total_umol": "umol",
    "aqy": "percent",
    "conversion": "dimensionless",
    "conversion_percent": "percent",
    "tof": "1/h",
    "retention_percent": "percent",
    "half_life_h": "h",
    "plqy_percent": "percent",
    "fwhm_mev": "meV",
    "min_fwhm_mev": "meV",
    "first_exciton_nm": "nm",
}

# The figures each experiment reports that a campaign can optimise or constrain.
OBJECTIVE_FIGURES: dict[str, tuple[str, ...]] = {
    "h2-evolution": ("rate", "aqy", "total_umol", "leak_suspect", "r_squared", "dark_rate"),
    "co2-photoreduction": ("rate", "aqy", "total_umol", "leak_suspect"),
    "co2-cycloaddition": ("conversion", "conversion_percent", "ton", "tof", "po_converted_mmol"),
    "photostability": ("retention_percent", "half_life_h", "stable_fraction", "bleach_rate_per_h"),
    "plqy": ("plqy_percent",),
    "cluster-growth": ("fwhm_mev", "first_exciton_nm", "reached_target", "min_fwhm_mev", "second_population"),
}


class CampaignError(ValueError):
    """A campaign file or a campaign state labctl cannot use; the message says what to change."""


@dataclass(frozen=True)
class Dimension:
    """One searched parameter, bounds in the plan's unit (``param.unit``)."""

    param: Param
    kind: Literal["float", "int", "choice"]
    low: float = 0.0
    high: float = 0.0
    scale: Literal["linear", "log"] = "linear"
    choices: tuple[str, ...] = ()
    written: tuple[str, str] = ("", "")  # the bounds as the file wrote them

    @property
    def name(self) -> str:
        return self.param.name

    @property
    def arg(self) -> str:
        return self.param.arg

    @property
    def hands(self) -> bool:
        """True when a new value needs a new sample (an operator's hands)."""
        return self.name not in BENCH_SET


@dataclass(frozen=True)
class Objective:
    figure: str
    goal: Literal["maximise", "minimise"] = "maximise"
    target: float | None = None

    def better(self, a: float, b: float) -> bool:
        return a > b if self.goal == "maximise" else a < b

    def reached(self, value: float) -> bool:
        if self.target is None:
            return False
        return value >= self.target if self.goal == "maximise" else value <= self.target


@dataclass(frozen=True)
class OutcomeConstraint:
    figure: str
    op: Literal["<=", ">=", "=="]
    value: Any

    def holds(self, figures: Mapping[str, Any]) -> bool:
        v = figures.get(self.figure)
        if v is None:
            return False
        if self.op == "==":
            return bool(v == self.value)
        return float(v) <= float(self.value) if self.op == "<=" else float(v) >= float(self.value)

    def text(self) -> str:
        return f"{self.figure} {self.op} {self.value!r}"


@dataclass(frozen=True)
class LinearConstraint:
    """sum(coefficient x parameter) <= bound, all in the plan's units."""

    names: tuple[str, ...]
    coefficients: tuple[float, ...]
    bound: float
    text: str

    def holds(self, point: Mapping[str, Any], dims: Mapping[str, Dimension], fixed: Mapping[str, Any]) -> bool:
        total = 0.0
        for name, c in zip(self.names, self.coefficients, strict=True):
            value = point.get(name, fixed.get(dims[name].arg) if name in dims else None)
            total += c * float(value if value is not None else 0.0)
        return total <= self.bound * (1 + 1e-12)


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    experiment: Experiment
    dimensions: tuple[Dimension, ...]
    objective: Objective
    max_experiments: int
    bench_hours: float | None = None
    fixed: dict[str, Any] = field(default_factory=dict)  # plan keyword -> value (plan units), defaults included
    fixed_text: dict[str, str] = field(default_factory=dict)  # as written
    constraints: tuple[LinearConstraint, ...] = ()
    outcome_constraints: tuple[OutcomeConstraint, ...] = ()
    strategy: str = "gp-ard"
    batch_size: int = 1
    seed: int = 0
    no_improvement: int | None = None
    on_interrupt: Literal["repeat", "abandon"] = "repeat"
    retries: int = 1
    source: str = ""  # the file's text, kept with the campaign's state

    @property
    def dims(self) -> dict[str, Dimension]:
        return {d.name: d for d in self.dimensions}

    def plan_kwargs(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """The plan's keyword arguments for a point (parameter name -> value in plan units)."""
        kwargs = dict(self.fixed)
        for d in self.dimensions:
            kwargs[d.arg] = d.param.convert(point[d.name]) if d.kind == "choice" else point[d.name]
        return kwargs

    def broken_constraints(self, point: Mapping[str, Any]) -> list[str]:
        return [c.text for c in self.constraints if not c.holds(point, self.dims, self.fixed)]


# -- reading ------------------------------------------------------------------------------------
def packaged_campaigns() -> list[str]:
    """The names of the example campaigns that ship with labctl (``labctl campaign run NAME``)."""
    return sorted(p.stem for p in (Path(__file__).parent / "examples").glob("*.toml"))


def load_campaign(path: Path) -> CampaignSpec:
    """Read and check a campaign file -- a path, or the name of a packaged example (``h2-optimise``);
    :class:`CampaignError` says what is wrong and how to fix it."""
    if not path.exists() and path.parent == Path(".") and path.stem in packaged_campaigns():
        path = Path(__file__).parent / "examples" / f"{path.stem}.toml"
    elif not path.exists():
        raise CampaignError(
            f"campaign file {path} does not exist; give a campaign file, or one of the examples that ship "
            f"with labctl: {', '.join(packaged_campaigns())}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CampaignError(f"campaign file {path}: cannot be read ({exc.strerror or exc})") from exc
    return parse_campaign(text, where=str(path))


def parse_campaign(text: str, *, where: str = "campaign") -> CampaignSpec:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(f"{where}: not valid TOML: {exc}") from exc
    known = {"campaign", "objective", "budget", "stop", "parameters", "fixed", "constraints", "outcome_constraints"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise CampaignError(
            f"{where}: unknown section(s) {', '.join(unknown)}; the sections are {', '.join(sorted(known))}"
        )
    head = _table(doc, "campaign", where)
    try:
        experiment = get_experiment(str(_required(head, "experiment", "campaign", where)))
    except ParameterError as exc:
        raise CampaignError(f"{where}: [campaign] experiment: {exc}") from exc
    params = {p.name: p for p in experiment.params}
    figures = OBJECTIVE_FIGURES.get(experiment.name)
    if figures is None:
        raise CampaignError(
            f"{where}: experiment {experiment.name!r} reports no figure a campaign can optimise; "
            f"campaigns run {', '.join(OBJECTIVE_FIGURES)}"
        )

    dims = tuple(_dimension(name, spec, params, where) for name, spec in _table(doc, "parameters", where).items())
    if not dims:
        raise CampaignError(
            f"{where}: [parameters] is empty; give at least one parameter to search, e.g. "
            f"{experiment.params[0].name} = {{ min = ..., max = ... }}"
        )
    fixed_text: dict[str, str] = {}
    fixed: dict[str, Any] = {}
    for name, value in _table(doc, "fixed", where, required=False).items():
        p = _param(name, params, where, "fixed")
        if name in {d.name for d in dims}:
            raise CampaignError(f"{where}: {name} is both searched ([parameters]) and fixed ([fixed]); keep one")
        fixed_text[name] = str(value)
        fixed[p.arg] = _convert(p, value, where, f"[fixed] {name}")
    try:  # every other parameter at its default, as labctl run would give it
        fixed = {**experiment.resolve({}), **fixed}
    except ParameterError as exc:
        raise CampaignError(f"{where}: {exc}") from exc
    for d in dims:
        fixed.pop(d.arg, None)

    objective = _objective(_table(doc, "objective", where), experiment.name, figures, where)
    budget = _table(doc, "budget", where)
    n = _required(budget, "experiments", "budget", where)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_EXPERIMENTS:
        raise CampaignError(
            f"{where}: [budget] experiments = {n!r}: give a whole number of experiments from 1 to {MAX_EXPERIMENTS}"
        )
    hours = None
    if "bench_hours" in budget:
        hours = _hours(budget["bench_hours"], where)
    stop = _table(doc, "stop", where, required=False)
    no_improvement = stop.get("no_improvement")
    if no_improvement is not None and (not isinstance(no_improvement, int) or no_improvement < 1):
        raise CampaignError(
            f"{where}: [stop] no_improvement = {no_improvement!r}: give a whole number of experiments >= 1"
        )
    if "target" in stop:
        raise CampaignError(f"{where}: [stop] target: give the target in [objective] target")

    strategy = str(head.get("strategy", "gp-ard"))
    if strategy not in STRATEGIES:
        raise CampaignError(f"{where}: [campaign] strategy = {strategy!r}: use one of {', '.join(STRATEGIES)}")
    batch = head.get("batch_size", 1)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= min(n, 96):
        raise CampaignError(
            f"{where}: [campaign] batch_size = {batch!r}: give 1 to {min(n, 96)} (and at most the budget)"
        )
    on_interrupt = head.get("on_interrupt", "repeat")
    if on_interrupt not in ("repeat", "abandon"):
        raise CampaignError(f'{where}: [campaign] on_interrupt = {on_interrupt!r}: use "repeat" or "abandon"')
    retries = head.get("retries", 1)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise CampaignError(f"{where}: [campaign] retries = {retries!r}: give 0 to 10")
    seed = head.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise CampaignError(f"{where}: [campaign] seed = {seed!r}: give a whole number >= 0")
    unknown_head = sorted(
        set(head) - {"name", "experiment", "strategy", "batch_size", "seed", "on_interrupt", "retries"}
    )
    if unknown_head:
        raise CampaignError(f"{where}: [campaign] has no entry {', '.join(unknown_head)}")

    spec = CampaignSpec(
        name=str(head.get("name") or Path(where).stem),
        experiment=experiment,
        dimensions=dims,
        objective=objective,
        max_experiments=n,
        bench_hours=hours,
        fixed=fixed,
        fixed_text=fixed_text,
        constraints=tuple(
            _linear(c, {d.name: d for d in dims}, params, where) for c in _list(doc, "constraints", where)
        ),
        outcome_constraints=tuple(_outcome(c, figures, where) for c in _list(doc, "outcome_constraints", where)),
        strategy=strategy,
        batch_size=batch,
        seed=seed,
        no_improvement=no_improvement,
        on_interrupt=on_interrupt,
        retries=retries,
        source=text,
    )
    return spec


def _table(doc: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        if required:
            raise CampaignError(f"{where}: no [{key}] section; see `labctl campaign --help` for a complete file")
        return {}
    if not isinstance(value, dict):
        raise CampaignError(f"{where}: [{key}] must be a table of entries")
    return value


def _list(doc: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise CampaignError(f"{where}: {key} must be written as [[{key}]] tables")
    return value


def _required(table: Mapping[str, Any], key: str, section: str, where: str) -> Any:
    if key not in table:
        raise CampaignError(f"{where}: [{section}] has no {key}")
    return table[key]


def _param(name: str, params: Mapping[str, Param], where: str, section: str) -> Param:
    if name not in params:
        raise CampaignError(
            f"{where}: [{section}] {name}: the experiment has no parameter {name!r}; its parameters are "
            f"{', '.join(params)}"
        )
    return params[name]


def _convert(p: Param, value: Any, where: str, entry: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise CampaignError(f"{where}: {entry} = {value!r}: give a value like {p.default or 'a string'!r}")
    if isinstance(value, int | float) and p.unit not in ("int", "number", "fraction"):
        raise CampaignError(
            f'{where}: {entry} = {value!r} has no unit; give it with its unit, e.g. "{p.default or "1 " + str(p.unit)}"'
        )
    try:
        return p.convert(str(value))
    except (ParameterError, ValueError) as exc:
        raise CampaignError(f"{where}: {entry}: {exc}") from exc


def _dimension(name: str, spec: Any, params: Mapping[str, Param], where: str) -> Dimension:
    p = _param(name, params, where, "parameters")
    entry = f"[parameters] {name}"
    if not isinstance(spec, dict):
        raise CampaignError(f"{where}: {entry} must be a table, e.g. {name} = {{ min = ..., max = ... }}")
    unknown = sorted(set(spec) - {"min", "max", "scale", "choices"})
    if unknown:
        raise CampaignError(f"{where}: {entry}: unknown key(s) {', '.join(unknown)}; use min, max, scale or choices")
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise CampaignError(f"{where}: {entry}: choices must list at least two values as strings")
        if len(set(choices)) != len(choices):
            raise CampaignError(f"{where}: {entry}: choices lists a value twice")
        for c in choices:
            _convert(p, c, where, f"{entry} choice")
        return Dimension(p, "choice", choices=tuple(choices))
    if p.unit is None or p.unit.startswith("list"):
        raise CampaignError(f"{where}: {entry}: {name} is not a number; give choices = [...]")
    if "min" not in spec or "max" not in spec:
        raise CampaignError(f"{where}: {entry}: give both min and max (or choices)")
    low = _convert(p, spec["min"], where, f"{entry} min")
    high = _convert(p, spec["max"], where, f"{entry} max")
    if not low < high:
        raise CampaignError(
            f"{where}: {entry}: the range {spec['min']} to {spec['max']} is "
            f"{'empty' if low == high else 'inverted'}; give min < max"
        )
    scale = spec.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise CampaignError(f'{where}: {entry}: scale = {scale!r}: use "linear" or "log"')
    if scale == "log" and low <= 0:
        raise CampaignError(f"{where}: {entry}: a log scale needs min > 0, got {spec['min']}")
    kind: Literal["float", "int"] = "int" if p.unit == "int" else "float"
    return Dimension(p, kind, float(low), float(high), scale, written=(str(spec["min"]), str(spec["max"])))


def _objective(table: Mapping[str, Any], experiment: str, figures: tuple[str, ...], where: str) -> Objective:
    figure = str(_required(table, "figure", "objective", where))
    if figure not in figures:
        raise CampaignError(
            f"{where}: [objective] figure = {figure!r}: {experiment} reports no such figure; "
            f"use one of {', '.join(figures)}"
        )
    goal = table.get("goal", "maximise")
    goal = {"maximize": "maximise", "minimize": "minimise"}.get(goal, goal)
    if goal not in ("maximise", "minimise"):
        raise CampaignError(f'{where}: [objective] goal = {goal!r}: use "maximise" or "minimise"')
    target = table.get("target")
    if target is not None:
        target = _figure_value(figure, target, where, "[objective] target")
    return Objective(figure, goal, target)


def _figure_value(figure: str, value: Any, where: str, entry: str) -> float:
    from labctl.units import UnitError, to_unit

    if isinstance(value, bool):
        raise CampaignError(f"{where}: {entry} = {value!r}: give a number")
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str) and figure in FIGURE_UNITS:
        try:
            out = to_unit(entry, value, FIGURE_UNITS[figure], example=f"1 {FIGURE_UNITS[figure]}")
        except UnitError as exc:
            raise CampaignError(f"{where}: {exc}") from exc
    else:
        raise CampaignError(f"{where}: {entry} = {value!r}: give a number (the figure {figure} has no unit)")
    if not math.isfinite(out):
        raise CampaignError(f"{where}: {entry} = {value!r} must be finite")
    return out


def _hours(value: Any, where: str) -> float:
    from labctl.units import UnitError, to_unit

    try:
        hours = to_unit("[budget] bench_hours", str(value), "h", example="200 h") if isinstance(value, str) else None
    except UnitError as exc:
        raise CampaignError(f"{where}: {exc}") from exc
    if hours is None:
        raise CampaignError(f'{where}: [budget] bench_hours = {value!r} has no unit; write it like "200 h"')
    if not hours > 0:
        raise CampaignError(f'{where}: [budget] bench_hours = {value!r}: give a time > 0, e.g. "200 h"')
    return hours


def _linear(
    c: Mapping[str, Any], dims: Mapping[str, Dimension], params: Mapping[str, Param], where: str
) -> LinearConstraint:
    names = c.get("sum")
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise CampaignError(f"{where}: [[constraints]] sum must list two or more parameter names")
    if "max" not in c or set(c) - {"sum", "max", "weights"}:
        raise CampaignError(f'{where}: [[constraints]] takes sum = [...], max = "..." and optional weights = [...]')
    units = set()
    for n in names:
        p = _param(n, params, where, "constraints")
        units.add(p.unit)
        if n in dims and dims[n].kind == "choice":
            raise CampaignError(f"{where}: [[constraints]] {n} is a choice, not a number")
    if len(units) != 1:
        raise CampaignError(
            f"{where}: [[constraints]] sum {names}: the parameters are of different kinds; sum like with like"
        )
    p0 = params[names[0]]
    bound = _convert(p0, c["max"], where, "[[constraints]] max")
    weights = c.get("weights", [1.0] * len(names))
    if not isinstance(weights, list) or len(weights) != len(names):
        raise CampaignError(f"{where}: [[constraints]] weights must give one number per summed parameter")
    return LinearConstraint(
        tuple(names), tuple(float(w) for w in weights), float(bound), f"sum({', '.join(names)}) <= {c['max']}"
    )


def _outcome(c: Mapping[str, Any], figures: tuple[str, ...], where: str) -> OutcomeConstraint:
    figure = c.get("figure")
    if figure not in figures:
        raise CampaignError(f"{where}: [[outcome_constraints]] figure = {figure!r}: use one of {', '.join(figures)}")
    ops = [k for k in ("equals", "max", "min") if k in c]
    if len(ops) != 1 or set(c) - {"figure", "equals", "max", "min"}:
        raise CampaignError(f"{where}: [[outcome_constraints]] {figure}: give exactly one of equals, max or min")
    op = ops[0]
    if op == "equals":
        return OutcomeConstraint(figure, "==", c["equals"])
    value = _figure_value(figure, c[op], where, f"[[outcome_constraints]] {figure} {op}")
    return OutcomeConstraint(figure, "<=" if op == "max" else ">=", value)


# -- against the open bench -----------------------------------------------------------------------
def check_against_bench(spec: CampaignSpec, bench: Any) -> list[str]:
    """Refuse a search space that reaches past the bench's limits: each bound (and each choice) is
    put through the plan's own checks with the other parameters at their midpoints.  Returns the
    checks passed; raises :class:`CampaignError` naming the entry, the value and the limit."""
    mid = {d.name: _midpoint(d) for d in spec.dimensions}
    passed: list[str] = []
    for d in spec.dimensions:
        values = list(d.choices) if d.kind == "choice" else [d.low, d.high]
        labels = list(d.choices) if d.kind == "choice" else [f"min = {d.written[0]}", f"max = {d.written[1]}"]
        for value, label in zip(values, labels, strict=True):
            point = {**mid, d.name: value}
            try:
                passed += spec.experiment.check(bench, spec.plan_kwargs(point))
            except Exception as exc:
                raise CampaignError(
                    f"campaign {spec.name}: [parameters] {d.name} {label}: the bench refuses it: {exc}"
                ) from exc
    return passed


def _midpoint(d: Dimension) -> Any:
    if d.kind == "choice":
        return d.choices[0]
    value = math.sqrt(d.low * d.high) if d.scale == "log" else 0.5 * (d.low + d.high)
    return round(value) if d.kind == "int" else value
