"""A campaign's report: best-so-far against experiment number beside the random baseline, each
parameter against the objective, the model's view of the best region, the best conditions, and a
table of every experiment with its run uid (Markdown and PNG, like the run reports)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labctl.campaigns.loop import CampaignState
from labctl.campaigns.spec import CampaignSpec, Dimension
from labctl.reports.run_report import FIGURE_UNITS, figure_text

_UNIT_OF = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*(?P<unit>.*)$")


def display_unit(d: Dimension) -> str:
    """The unit the campaign file wrote a parameter's bounds in (its plan unit if none)."""
    if d.kind != "float":
        return ""
    m = _UNIT_OF.match(d.written[0] or "")
    unit = (m.group("unit") if m else "").strip()
    unit = unit or (d.param.unit if d.param.unit not in (None, "number", "fraction", "int") else "") or ""
    return unit.replace("degC", "°C")


def param_value(d: Dimension, value: Any) -> float | str:
    """A point's value in the unit the campaign file wrote (mg rather than g)."""
    if d.kind != "float":
        return value
    unit = display_unit(d)
    if not unit or unit == d.param.unit:
        return float(value)
    from labctl.units import registry

    ureg = registry()
    try:
        return float(
            ureg.Quantity(float(value), d.param.unit.replace("°C", "degC")).to(unit.replace("°C", "degC")).magnitude
        )
    except Exception:
        return float(value)


def param_text(d: Dimension, value: Any) -> str:
    v = param_value(d, value)
    if isinstance(v, str):
        return v
    if d.kind == "int":
        return str(int(v))
    unit = display_unit(d) or ""
    return f"{v:.4g} {unit}".strip()


def _figure_unit(figure: str) -> str:
    return FIGURE_UNITS.get(figure, "")


def write_campaign_report(
    state: CampaignState,
    spec: CampaignSpec,
    folder: Path,
    *,
    baseline: Mapping[str, Sequence[float]] | None = None,
    model: Any = None,
) -> Path:
    """Write report.md, progress.png, parameters.png (and model.png given a model) in ``folder``.

    ``baseline`` holds the random strategy's best-so-far on the simulated bench (``median``,
    ``q25``, ``q75`` per experiment number); ``model`` is the engine (its ``predict``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    obj = spec.objective
    unit = _figure_unit(obj.figure)
    done = state.experiments_run()
    best = state.best(spec)
    progress = _plot_progress(folder / "progress.png", state, spec, baseline)
    params_png = _plot_parameters(folder / "parameters.png", state, spec)
    model_png = _plot_model(folder / "model.png", state, spec, model) if model is not None and best else None

    lines = [
        f"# Campaign {state.name} ({state.id})",
        "",
        f"- experiment: {state.experiment} on bench {state.bench}",
        f"- objective: {obj.goal} {obj.figure}"
        + (f" ({unit})" if unit else "")
        + (f", target {obj.target:.4g}" if obj.target is not None else ""),
        f"- strategy: {state.strategy}, batch size {spec.batch_size}, seed {state.seed}",
        f"- status: {state.status}" + (f" ({state.stop_reason})" if state.stop_reason else ""),
        f"- experiments run: {len(done)} of {spec.max_experiments}; bench time {state.bench_hours():.1f} h",
        f"- refused before running: {sum(t.status == 'refused' for t in state.trials)}; "
        f"instrument faults: {sum(t.status == 'fault' for t in state.trials)}; "
        f"interrupted: {sum(t.status in ('interrupted', 'abandoned') for t in state.trials)}",
        "",
        "## Best conditions",
        "",
    ]
    if best is None:
        lines.append("No acceptable result yet.")
    else:
        lines.append(
            f"Experiment {best.index} (run {best.run_uids[-1] if best.run_uids else 'n/a'}): "
            f"**{obj.figure} = {figure_text(obj.figure, best.objective)} {unit}**".rstrip()
        )
        err = (best.figures or {}).get(f"{obj.figure}_stderr")
        if isinstance(err, int | float) and math.isfinite(err):
            lines[-1] += f" ± {figure_text(obj.figure, err)} (standard error of the fit)"
        lines.append("")
        for d in spec.dimensions:
            lines.append(f"- {d.name}: {param_text(d, best.params[d.name])}")
        if best.prediction:
            lines.append(f"- the model predicted {best.prediction[0]:.4g} ± {best.prediction[1]:.3g} before it ran")
    if baseline and best is not None and done:
        lines += ["", "## Against random search", "", *_against_baseline(state, spec, baseline)]
    lines += ["", f"![best so far]({progress.name})", "", f"![parameters]({params_png.name})"]
    if model_png is not None:
        lines += [
            "",
            "The model's view around the best point (each parameter varied alone, the others at the best):",
            "",
            f"![model]({model_png.name})",
        ]
    lines += ["", "## Every experiment", ""]
    head = [
        "#",
        "status",
        *(f"{d.name} ({display_unit(d)})" if display_unit(d) else d.name for d in spec.dimensions),
        f"{obj.figure}",
        "predicted",
        "run uid",
        "note",
    ]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t in state.trials:
        row = [str(t.index), t.status]
        for d in spec.dimensions:
            v = param_value(d, t.params.get(d.name))
            row.append(v if isinstance(v, str) else f"{v:.4g}")
        row.append(figure_text(obj.figure, t.objective) if t.objective is not None else "")
        row.append(f"{t.prediction[0]:.4g} ± {t.prediction[1]:.2g}" if t.prediction else "")
        row.append(t.run_uids[-1][:8] if t.run_uids else "")
        row.append((t.reason or "").replace("|", "/")[:120])
        lines.append("| " + " | ".join(row) + " |")
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _against_baseline(state: CampaignState, spec: CampaignSpec, baseline: Mapping[str, Sequence[float]]) -> list[str]:
    ours = state.best_so_far(spec)
    med = list(baseline["median"])
    n = min(len(ours), len(med))
    out = []
    if n:
        out.append(
            f"After {n} experiments: this campaign's best {ours[n - 1]:.4g}; random search (median of "
            f"{baseline.get('seeds', '?')} "
            f"seeds on the simulated bench) {med[n - 1]:.4g}."
        )
        final = ours[n - 1]
        better = spec.objective.better
        k = next((i + 1 for i, v in enumerate(med) if not math.isnan(v) and (v == final or better(v, final))), None)
        if k is not None:
            out.append(
                f"Random search needs {k} experiments (median) to match it; this campaign needed "
                f"{next(i + 1 for i, v in enumerate(ours) if v == final)}."
            )
        else:
            out.append(f"Random search does not match it within {len(med)} experiments.")
    return out


def _plot_progress(
    path: Path, state: CampaignState, spec: CampaignSpec, baseline: Mapping[str, Sequence[float]] | None
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    done = state.experiments_run()
    xs = list(range(1, len(done) + 1))
    ys = [t.objective if t.objective is not None else math.nan for t in done]
    ax.plot(xs, ys, "o", color="0.6", ms=4, label="each experiment")
    ax.step(xs, state.best_so_far(spec), where="post", color="C0", lw=2, label=f"best so far ({state.strategy})")
    if baseline:
        bx = list(range(1, len(baseline["median"]) + 1))
        ax.step(bx, baseline["median"], where="post", color="C3", lw=1.5, label="random search (median)")
        if "q25" in baseline and "q75" in baseline:
            ax.fill_between(
                bx, baseline["q25"], baseline["q75"], step="post", color="C3", alpha=0.15, label="random, IQR"
            )
    unit = _figure_unit(spec.objective.figure)
    ax.set_xlabel("experiment")
    ax.set_ylabel(f"{spec.objective.figure}" + (f" ({unit})" if unit else ""))
    ax.set_title(f"{state.name}: {spec.objective.goal} {spec.objective.figure}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_parameters(path: Path, state: CampaignState, spec: CampaignSpec) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = spec.dimensions
    cols = min(3, len(dims))
    rows = math.ceil(len(dims) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.7 * rows), squeeze=False)
    done = [t for t in state.experiments_run() if t.objective is not None]
    for ax, d in zip(axes.flat, dims, strict=False):
        xs = [param_value(d, t.params[d.name]) for t in done]
        ys = [t.objective for t in done]
        colors = list(range(len(done)))
        if d.kind == "choice":
            idx = {c: i for i, c in enumerate(d.choices)}
            ax.scatter([idx[x] for x in xs], ys, c=colors, cmap="viridis", s=14)
            ax.set_xticks(range(len(d.choices)), d.choices, rotation=30, fontsize=7)
        else:
            ax.scatter(xs, ys, c=colors, cmap="viridis", s=14)
            if d.scale == "log":
                ax.set_xscale("log")
        unit = display_unit(d)
        ax.set_xlabel(f"{d.name}" + (f" ({unit})" if unit else ""), fontsize=8)
        ax.set_ylabel(spec.objective.figure, fontsize=8)
    for ax in list(axes.flat)[len(dims) :]:
        ax.axis("off")
    fig.suptitle("each parameter against the objective (colour: experiment order)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_model(path: Path, state: CampaignState, spec: CampaignSpec, model: Any) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    best = state.best(spec)
    if best is None or not hasattr(model, "predict"):
        return None
    numeric = [d for d in spec.dimensions if d.kind != "choice"]
    if not numeric:
        return None
    cols = min(3, len(numeric))
    rows = math.ceil(len(numeric) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.7 * rows), squeeze=False)
    for ax, d in zip(axes.flat, numeric, strict=False):
        if d.scale == "log":
            grid = np.exp(np.linspace(math.log(d.low), math.log(d.high), 40))
        else:
            grid = np.linspace(d.low, d.high, 40)
        points = [{**best.params, d.name: (round(g) if d.kind == "int" else float(g))} for g in grid]
        pred = model.predict(points)
        mean = np.array([m for m, _ in pred])
        std = np.array([s for _, s in pred])
        xs = [param_value(d, g) for g in grid]
        ax.plot(xs, mean, color="C0")
        ax.fill_between(xs, mean - 2 * std, mean + 2 * std, color="C0", alpha=0.2)
        ax.axvline(param_value(d, best.params[d.name]), color="C3", lw=1)
        if d.scale == "log":
            ax.set_xscale("log")
        unit = display_unit(d)
        ax.set_xlabel(f"{d.name}" + (f" ({unit})" if unit else ""), fontsize=8)
        ax.set_ylabel(f"model {spec.objective.figure}", fontsize=8)
    for ax in list(axes.flat)[len(numeric) :]:
        ax.axis("off")
    fig.suptitle("model mean ± 2 sd through the best point", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
