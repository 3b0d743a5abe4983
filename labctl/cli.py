"""The ``labctl`` command line: run and dry-run experiments, browse runs, serve simulators, check devices.

Heavy packages (bluesky, ophyd-async, tiled, matplotlib) are imported inside the commands
that need them, so ``labctl --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

app = typer.Typer(
    help="Instrument control and autonomous experiments for a photocatalysis bench.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runs_app = typer.Typer(help="Browse the runs in the catalog.", no_args_is_help=True)
sim_app = typer.Typer(help="Protocol simulators.", no_args_is_help=True)
devices_app = typer.Typer(help="Check a bench's instruments.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(sim_app, name="sim")
app.add_typer(devices_app, name="devices")
cal_app = typer.Typer(help="GC calibrations: the line in force per gas, and their history.", no_args_is_help=True)
app.add_typer(cal_app, name="calibrations")

from labctl.campaigns.commands import campaign_app  # noqa: E402 (typer only; the commands import the rest)

app.add_typer(campaign_app, name="campaign")

BenchOpt = Annotated[str, typer.Option("--bench", "-b", help="packaged bench name (sim) or bench .toml file")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="plan parameter name=value (with units)")]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="LABCTL_DATA_DIR", help="data folder (catalog, runs, reports)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


# Loggers of libraries that log on their own (tiled's server adds its own handler at INFO).
_CHATTY = ("tiled.server.app", "pymodbus", "pymodbus.logging")
_verbose = False


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes (a test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def _quiet_libraries(record: logging.LogRecord) -> bool:
    return _verbose or record.name == "labctl" or record.name.startswith("labctl.")


_root_level: int | None = None  # the root logger's level before labctl first set it


def setup_logging(verbose: bool) -> None:
    """labctl's own warnings reach stderr; a library's log lines (tiled's "Tiled version ...",
    pymodbus's "Cancel send, because not connected!") only with ``verbose``, which also shows
    labctl's and the libraries' INFO lines."""
    global _verbose
    _verbose = verbose
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(handler)
    handler = _Stderr(logging.INFO if verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"))
    handler.addFilter(_quiet_libraries)
    root.addHandler(handler)
    global _root_level
    if _root_level is None:
        _root_level = root.level
    root.setLevel(logging.INFO if verbose else _root_level)
    logging.getLogger("labctl").setLevel(logging.INFO if verbose else logging.WARNING)
    for name in _CHATTY:
        chatty = logging.getLogger(name)
        if _quiet_libraries not in chatty.filters:
            chatty.addFilter(_quiet_libraries)
    # read by worker processes (the catalog writer), which do not run this callback
    os.environ["LABCTL_LIBRARY_LOGS"] = "shown" if verbose else "quiet"


@app.callback()
def _main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="show INFO log lines of labctl and of the libraries it uses")
    ] = False,
) -> None:
    setup_logging(verbose)


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _data_dir(data_dir: Path | None, *, write: bool = True) -> Path:
    """The data folder, made if needed, or a clear refusal (a file, a read-only folder)."""
    from labctl.catalog import resolve_data_dir

    try:
        ddir = resolve_data_dir(data_dir)
    except OSError as exc:
        _fail(f"data folder {data_dir}: {exc.strerror or exc}; give --data-dir a folder you can write to")
    if write and not os.access(ddir, os.W_OK | os.X_OK):
        _fail(f"data folder {ddir} is not writable; give --data-dir a folder you can write to")
    return ddir


def _recover(ddir: Path) -> None:
    """Close the runs a killed labctl left open and complete the catalog from their files."""
    from labctl.catalog import repair_data_dir, unclosed_runs

    torn = unclosed_runs(ddir)
    if not torn:
        return
    for uid, what in repair_data_dir(ddir, [p.stem for p in torn]).items():
        typer.echo(f"run {uid[:8]} never closed (labctl was killed or lost power): closed, catalog {what}", err=True)


# Bytes a recorded point takes in the JSON-lines file and the catalog together, and a spectrum.
_POINT_BYTES = 4_000
_SPECTRUM_BYTES = 120_000
_MARGIN_BYTES = 20_000_000


def needed_bytes(kwargs: dict[str, Any]) -> int:
    """Disk a recorded run needs, from the plan's timeline: its duration over its sampling interval
    (points), its spectra, its cycles; with a margin for the reports and the catalog's pages."""
    duration = float(kwargs.get("duration_s") or kwargs.get("hold_s") or 6 * 3600)
    interval = min((float(v) for k, v in kwargs.items() if k.endswith("interval_s") and v), default=60.0)
    spectra = duration / float(kwargs["spectrum_interval_s"]) if kwargs.get("spectrum_interval_s") else 0.0
    points = (duration / interval + 1) * _POINT_BYTES + spectra * _SPECTRUM_BYTES
    return int(points * int(kwargs.get("cycles") or 1)) + _MARGIN_BYTES


def _check_space(ddir: Path, kwargs: dict[str, Any]) -> None:
    import shutil

    need, free = needed_bytes(kwargs), shutil.disk_usage(ddir).free
    if free < need:
        _fail(
            f"not enough disk for this run in {ddir}: it needs about {need / 1e6:.0f} MB and {free / 1e6:.0f} MB "
            "are free; free some space, or give --data-dir a folder on a larger disk"
        )


def _prepare(experiment: str, bench: str, params: list[str] | None) -> tuple[Any, Any, dict[str, Any]]:
    from labctl.config import BenchError, load_bench
    from labctl.experiments import ParameterError, get_experiment, parse_params

    try:
        exp = get_experiment(experiment)
        kwargs = exp.resolve(parse_params(params or []))
        cfg = load_bench(bench)
    except (ParameterError, BenchError) as exc:
        _fail(str(exc))
    return exp, cfg, kwargs


def _validate(exp: Any, bench_obj: Any, kwargs: dict[str, Any]) -> list[str]:
    """Run the plan's own argument checks against the bench limits before anything moves."""
    from labctl.experiments import ParameterError
    from labctl.plans.stubs import PlanArgumentError

    try:
        return exp.check(bench_obj, kwargs)
    except (PlanArgumentError, ParameterError) as exc:
        _fail(str(exc))
    return []


def _analyze(exp: Any, start: dict[str, Any], tables: Any) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return exp.analyze(start, tables), None
    except ValueError as exc:
        return None, str(exc)


def _param_table(name: str) -> Any:
    """A rich table of an experiment's parameters: unit, default, allowed range, meaning."""
    from rich.table import Table

    from labctl.experiments import get_experiment

    exp = get_experiment(name)
    t = Table(title=f"{exp.name}: {exp.summary}", title_justify="left")
    for col in ("parameter", "unit", "default", "allowed", "meaning"):
        t.add_column(col)
    for p in exp.describe()["params"]:
        default = "(none)" if p["default"] is None else (p["default"] or "''")
        t.add_row(p["name"], p["unit"], default, p["range"], p["help"])
    return t


_PARAM_NOTE = "give each as -p name=value; a quantity takes any unit of its kind (duration=90min, catalyst_mass=5mg)"


class _RunCommand(typer.core.TyperCommand):
    """``labctl run EXPERIMENT --help`` adds the named experiment's parameter table to the help."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta["labctl_args"] = list(args)
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        words = [a for a in ctx.meta.get("labctl_args", []) if not a.startswith("-")]
        if not words:
            return
        from rich.console import Console

        from labctl.experiments import ParameterError

        console = Console(soft_wrap=True)
        try:
            console.print(_param_table(words[0]))
        except ParameterError as exc:
            console.print(str(exc))
            return
        console.print(_PARAM_NOTE)


@app.command("experiments")
def experiments(
    experiment: Annotated[str | None, typer.Argument(help="an experiment: list its parameters")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the experiments, or one experiment's parameters with unit, default, allowed range and meaning."""
    from labctl.experiments import ParameterError, get_experiment, list_experiments

    if experiment is not None:
        try:
            exp = get_experiment(experiment)
        except ParameterError as exc:
            _fail(str(exc))
        if as_json:
            typer.echo(json.dumps(exp.describe(), indent=2))
            return
        from rich.console import Console

        c = Console(soft_wrap=True)
        c.print(_param_table(exp.name))
        c.print(_PARAM_NOTE)
        return
    rows = list_experiments()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="experiments")
    t.add_column("experiment")
    t.add_column("summary")
    for r in rows:
        t.add_row(r["name"], r["summary"])
    c = Console(soft_wrap=True)
    c.print(t)
    c.print("parameters of one: labctl run EXPERIMENT --help, or labctl experiments EXPERIMENT")


@app.command(
    cls=_RunCommand,
    epilog="The parameters of an experiment: labctl run EXPERIMENT --help (e.g. labctl run h2-evolution --help).",
)
def run(
    experiment: Annotated[str, typer.Argument(help="experiment name, e.g. h2-evolution (see: labctl experiments)")],
    bench: BenchOpt = "sim",
    param: ParamOpt = None,
    time_mode: Annotated[
        str | None,
        typer.Option("--time", help="simulated benches: 'virtual' (default), 'real' or a speed factor 'x60'"),
    ] = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Run an experiment on a bench; record it in the catalog and write its report."""
    from labctl.clock import parse_speed
    from labctl.session import Session, speed_for

    exp, cfg, kwargs = _prepare(experiment, bench, param)
    try:
        speed = speed_for(cfg.in_process, parse_speed(time_mode) if time_mode else None)
    except ValueError as exc:
        _fail(str(exc))
    ddir = _data_dir(data_dir)
    _recover(ddir)
    _check_space(ddir, kwargs)
    # bluesky prints its pause and abort notices on stdout: keep stdout for the JSON alone
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with quiet, Session(data_dir=ddir, speed=speed, record=True, progress=progress and not as_json) as session:
        bench_obj = session.open_bench(cfg)
        for note in bench_obj.notes:
            typer.echo(note, err=True)
        unsafe = session.make_safe()
        if unsafe:
            _fail(f"bench {cfg.name} could not be made safe before the run: {'; '.join(unsafe)}", code=3)
        _validate(exp, bench_obj, kwargs)
        bench_obj.load_sample(**kwargs)
        md = bench_obj.metadata()
        md["time_mode"] = "real" if speed in (None, 1.0) else ("virtual" if math.isinf(speed) else f"x{speed:g}")
        outcome = session.run(exp.build(bench_obj, kwargs), md=md)
        try:
            per_run = _per_run(exp, outcome, session, bench_obj, ddir)
        except Exception as exc:  # a bug in analysis or reporting: the run itself is recorded
            per_run = []
            report_error = f"{type(exc).__name__}: {exc}"
        else:
            report_error = None
    campaign = _campaign(per_run, ddir, outcome) if per_run else None
    figures = per_run[-1]["figures"] if per_run else None
    error = per_run[-1]["analysis_error"] if per_run else (report_error or "no run was opened")
    files = per_run[-1]["report"] if per_run else {}
    result = {
        "uid": outcome.uid,
        "experiment": exp.name,
        "simulated": cfg.simulated,
        "exit_status": outcome.exit_status,
        "reason": outcome.reason,
        "figures": figures,
        "analysis_error": error,
        "virtual_duration_s": outcome.virtual_s,
        "wall_s": outcome.wall_s,
        "jsonl": str(outcome.jsonl) if outcome.jsonl else None,
        "report": files,
        "runs": per_run if len(per_run) > 1 else None,
        "campaign": campaign,
        "catalog_errors": outcome.catalog_errors,
        "safe_state_errors": outcome.safe_state_errors,
        "disk_error": outcome.disk_error,
    }
    with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP): the run is on disk
        if as_json:
            typer.echo(json.dumps(result, indent=2, default=str))
        else:
            _print_run_summary(result)
    if outcome.exit_status != "success" or outcome.safe_state_errors or outcome.disk_error or report_error:
        raise typer.Exit(_exit_code(outcome.reason, outcome.safe_state_errors))


def _exit_code(reason: str, safe_state_errors: list[str]) -> int:
    """128 + the signal that ended the run (the shell's convention), 4 when the safe state was not
    confirmed, else 1."""
    import signal as sig

    from labctl.session import SIGNAL_REASONS

    if safe_state_errors:
        return 4
    for signum, text in SIGNAL_REASONS.items():
        if reason.startswith(text):
            return 128 + int(signum) if signum != sig.SIGINT else 130
    return 1


def _per_run(exp: Any, outcome: Any, session: Any, bench_obj: Any, ddir: Path | None) -> list[dict[str, Any]]:
    """Figures of merit (and, with a data folder, the report files) of each run in an outcome."""
    from labctl.experiments import h2_series, split_runs, tables_from_documents
    from labctl.reports.run_report import write_report

    out = []
    for docs in split_runs(outcome.documents):
        start = docs[0][1]
        stop = next((d for n, d in docs if n == "stop"), {})
        tables = tables_from_documents(docs)
        figures, error = _analyze(exp, start, tables)
        series = None
        if figures is not None and exp.name in ("h2-evolution", "co2-photoreduction"):
            series = h2_series(start, tables)
            if bench_obj.sim is not None and exp.name == "h2-evolution":
                figures["model_rate"] = _model_rate(session, bench_obj, series, figures)
            if bench_obj.sim is not None and exp.name == "co2-photoreduction":
                for name, prod in figures["products"].items():
                    rate = _model_rate(session, bench_obj, series, prod, product=name)
                    prod["model_rate"] = figures[f"{name}_model_rate"] = rate
        files = {}
        if ddir is not None:
            files = write_report(
                ddir / "reports" / start["uid"],
                start=start,
                stop=stop,
                figures=figures,
                series=series,
                tables=tables,
                error=error,
            )
        out.append(
            {
                "uid": start["uid"],
                "cycle": start.get("cycle"),
                "exit_status": stop.get("exit_status", "interrupted"),
                "reason": stop.get("reason", ""),
                "figures": figures,
                "analysis_error": error,
                "report": {k: str(v) for k, v in files.items()},
            }
        )
    return out


def _campaign(per_run: list[dict[str, Any]], ddir: Path | None, outcome: Any) -> dict[str, Any] | None:
    """Recycling summary (conversion per cycle, plot) when the outcome holds several cycles."""
    cycles = [r for r in per_run if r.get("cycle") is not None]
    if len(cycles) < 2 and not (cycles and outcome.start.get("plan_name") == "recycle"):
        return None
    from labctl.analysis.cycloaddition import recycling_summary

    conversions = [r["figures"]["conversion"] for r in cycles if r["figures"]]
    if not conversions:
        return None
    summary = recycling_summary(conversions)
    summary["run_uids"] = [r["uid"] for r in cycles]
    summary["campaign_id"] = outcome.start.get("campaign_id")
    if ddir is not None:
        from labctl.reports.run_report import plot_recycling

        folder = ddir / "reports" / f"campaign-{summary['campaign_id']}"
        folder.mkdir(parents=True, exist_ok=True)
        summary["plot"] = str(plot_recycling(folder / "recycling.png", conversions, "catalyst recycling"))
        (folder / "campaign.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return summary


def _model_rate(
    session: Any, bench_obj: Any, series: dict[str, Any], figures: dict[str, Any], *, product: str = "H2"
) -> float | None:
    """The simulator's own rate of ``product`` over the fitted window (ground truth, simulated benches only)."""
    origin = getattr(bench_obj.devices["clock"], "_origin", None)
    w0, w1 = figures.get("fit_window_h") or (None, None)
    if origin is None or w0 is None or series.get("lamp_on_s") is None:
        return None
    t_on = origin + series["lamp_on_s"]

    async def truth() -> float:
        rates = bench_obj.sim.model.true_rates_umol_per_g_h(t_on + w0 * 3600, t_on + w1 * 3600)
        return float(rates.get(product, 0.0))

    return float(session.call(truth()))


def _print_run_summary(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from labctl.reports.photoluminescence import PL_EXPERIMENTS, PL_LABELS
    from labctl.reports.run_report import figure_rows

    c = Console(soft_wrap=True)
    sim = " [yellow](simulated)[/yellow]" if result.get("simulated") else ""
    status = result["exit_status"]
    color = "green" if status == "success" else "red"
    c.print(f"run [bold]{result['uid']}[/bold]{sim}: [{color}]{status}[/{color}] {result.get('reason') or ''}")
    figs = result.get("figures")
    if figs:
        t = Table(title="figures of merit")
        t.add_column("figure")
        t.add_column("value", justify="right")
        t.add_column("unit")
        keys: tuple[str, ...] = (
            "rate",
            "rate_stderr",
            "model_rate",
            "r_squared",
            "total_umol",
            "aqy",
            "dark_rate",
            "leak_suspect",
        )
        if result.get("experiment") in PL_EXPERIMENTS:
            keys = tuple(k for k in PL_LABELS if k in figs)
        elif "products" in figs:
            for name, prod in figs["products"].items():
                sel = 100 * (figs.get("selectivity") or {}).get(name, 0.0)
                aqy = f", AQY {prod['aqy']:.3g} %" if prod.get("aqy") is not None else ""
                t.add_row(
                    f"{name} rate",
                    f"{prod['rate']:.4g} ± {prod.get('rate_stderr') or 0:.2g} ({sel:.1f} % e⁻){aqy}",
                    "µmol g⁻¹ h⁻¹",
                )
            keys = ("electron_rate", "leak_suspect")
        elif "calibrations" in figs:
            for gas, cal in figs["calibrations"].items():
                lo, hi = cal["amount_range_umol"]
                t.add_row(f"{gas} calibration", f"R² {cal['r_squared']:.5f}, {lo:g}-{hi:g}", "µmol")
            keys = ()
        elif result.get("experiment") in ("cluster-growth", "ss-assembly"):
            from labctl.reports.run_report import LABELS

            keys = tuple(k for k in LABELS[str(result["experiment"])] if k in figs)
        elif "ton" in figs:
            keys = (
                "conversion_percent",
                "ton",
                "tof",
                "po_converted_mmol",
                "surface_metal_umol",
                "hold_h",
                "co2_uptake_mmol",
            )
        for row in figure_rows(figs, keys):
            t.add_row(*row)
        c.print(t)
        for note in figs.get("notes", []):
            c.print(f"  note: {note}")
    elif result.get("analysis_error"):
        c.print(f"no figures of merit: {result['analysis_error']}")
    for kind, path in (result.get("report") or {}).items():
        c.print(f"  {kind}: {path}")
    campaign = result.get("campaign")
    if campaign:
        c.print(
            "campaign: conversion per cycle "
            + ", ".join(f"{x * 100:.1f} %" for x in campaign["conversions"])
            + f"; drop {campaign['drop_points']:.1f} points; "
            + ("stable" if campaign["stable"] else "NOT stable")
        )
        if campaign.get("plot"):
            c.print(f"  plot: {campaign['plot']}")
    if result.get("jsonl"):
        c.print(f"  documents: {result['jsonl']}")


@app.command("dry-run")
def dry_run(
    experiment: Annotated[str, typer.Argument(help="experiment name, e.g. h2-evolution")],
    bench: BenchOpt = "sim",
    param: ParamOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the real plan on the simulated twin of a bench in virtual time; record nothing.

    Reports the estimated duration, a timeline of the steps, the limit checks and the
    predicted figures of merit.
    """
    from labctl.session import Session

    exp, cfg, kwargs = _prepare(experiment, bench, param)
    timeline: list[dict[str, Any]] = []

    def log(t: float, msg: Any) -> None:
        if msg.command in ("open_run", "close_run") or (msg.command in ("set", "trigger") and msg.obj is not None):
            obj = getattr(msg.obj, "name", "") if msg.obj is not None else ""
            timeline.append({"t": t, "command": msg.command, "object": obj, "args": [str(a) for a in msg.args]})

    with (
        contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext(),
        tempfile.TemporaryDirectory(prefix="labctl-dry-") as tmp,
        Session(data_dir=Path(tmp), speed=math.inf, record=False) as session,
    ):
        bench_obj = session.open_bench(cfg, simulate=True)
        checks = _validate(exp, bench_obj, kwargs)
        bench_obj.load_sample(**kwargs)
        md = bench_obj.metadata()
        md.update(simulated=True, dry_run=True)
        outcome = session.run(exp.build(bench_obj, kwargs), md=md, msg_log=log)
        per_run = _per_run(exp, outcome, session, bench_obj, None)
    campaign = _campaign(per_run, None, outcome)
    figures = per_run[-1]["figures"] if per_run else None
    error = per_run[-1]["analysis_error"] if per_run else "no run was opened"
    t0 = timeline[0]["t"] if timeline else 0.0
    steps = _condense(timeline, t0)
    # from the run opening to the plan's last message, on the loop's (virtual) clock
    estimated = (timeline[-1]["t"] - t0) if timeline else outcome.virtual_s
    samples = sum(1 for step in steps if step["step"].startswith("GC sample"))
    dark = int(kwargs.get("dark_samples") or 0)
    checks = [_sample_check(chk, dark) for chk in checks]
    result = {
        "experiment": exp.name,
        "bench": cfg.name,
        "exit_status": outcome.exit_status,
        "reason": outcome.reason,
        "estimated_duration_s": estimated,
        "wall_s": outcome.wall_s,
        "samples": samples if samples else None,
        "planned_samples": outcome.start.get("num_points"),
        "checks": checks,
        "limits": cfg.limits(),
        "timeline": steps,
        "figures": figures,
        "analysis_error": error,
        "runs": per_run if len(per_run) > 1 else None,
        "campaign": campaign,
    }
    if figures:
        named = (
            "rate",
            "aqy",
            "total_umol",
            "leak_suspect",
            "conversion",
            "ton",
            "tof",
            "co2_uptake_mmol",
            "retention",
            "retention_30min",
            "half_life",
            "plqy",
            "plqy_err",
            "lifetimes",
            "fractions",
            "peak_nm",
            "selectivity",
            "electron_rate",
            "first_exciton_nm",
            "fwhm_mev",
            "end_note",
            "min_fwhm_mev",
            "second_population",
            "reached_target",
            "endpoint",
            "injected_ml",
            "scattering_exponent",
            "ripening",
        )
        result.update({k: v for k, v in figures.items() if k in named or k.endswith(("_rate", "_aqy"))})
    if campaign:
        result["conversions"] = campaign.get("conversions")
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    else:
        from rich.console import Console

        c = Console(soft_wrap=True)
        c.print(f"[bold]dry run of {exp.name}[/bold] on the simulated twin of bench '{cfg.name}'")
        c.print(
            f"estimated duration: [bold]{_hms(estimated)}[/bold] "
            f"(simulated in {outcome.wall_s:.1f} s); exit status {outcome.exit_status}"
        )
        if samples:
            light = f" ({dark} in the dark, {samples - dark} under light)" if 0 < dark < samples else ""
            c.print(f"GC samples: [bold]{samples}[/bold]{light}")
        c.print("limit checks passed:")
        for chk in checks:
            c.print(f"  ✓ {chk}")
        c.print("timeline:")
        for step in steps:
            c.print(f"  {_hms(step['t_s'])}  {step['step']}")
        if figures and "rate" in figures:
            c.print(
                f"predicted rate: {figures['rate']:.4g} ± {figures.get('rate_stderr') or 0:.2g} "
                f"µmol g⁻¹ h⁻¹; H2 evolved {figures['total_umol']:.3g} µmol"
            )
        elif figures and "products" in figures:
            c.print(
                "predicted rates: "
                + ", ".join(
                    f"{p} {f['rate']:.4g} µmol g⁻¹ h⁻¹ ({100 * figures['selectivity'].get(p, 0):.1f} % e⁻)"
                    for p, f in figures["products"].items()
                )
            )
        elif figures and "retention" in figures:
            half = figures.get("half_life_h")
            c.print(
                f"predicted PL retention {100 * figures['retention']:.1f} % after {figures['duration_h']:.3g} h"
                + (f"; half-life {half:.3g} h" if half is not None else "; the PL stays above half")
            )
        elif figures and "plqy" in figures:
            c.print(f"predicted PLQY {100 * figures['plqy']:.1f} ± {100 * figures['plqy_err']:.1f} %")
        elif figures and "lifetimes" in figures:
            c.print(
                "predicted lifetimes "
                + ", ".join(
                    f"{t:.0f} µs ({f:.1%})" for t, f in zip(figures["lifetimes"], figures["fractions"], strict=True)
                )
            )
        elif figures and "fwhm_mev" in figures:
            c.print(
                f"predicted first exciton {figures['first_exciton_nm']:.1f} nm, FWHM {figures['fwhm_mev']:.0f} meV "
                f"(narrowest {figures['min_fwhm_mev']:.0f} meV); {figures['endpoint']}"
                + ("; a second population nucleated" if figures.get("second_population") else "")
            )
            if figures.get("end_note"):
                c.print(str(figures["end_note"]))
        elif figures and "ton" in figures:
            c.print(
                f"predicted conversion {figures['conversion_percent']:.1f} %, TON {figures['ton']:.0f} per "
                f"cluster, TOF {figures['tof']:.0f} h⁻¹"
            )
        if campaign:
            c.print("conversion per cycle: " + ", ".join(f"{x * 100:.1f} %" for x in campaign["conversions"]))
    if outcome.exit_status != "success":
        raise typer.Exit(1)


def _sample_check(check: str, dark: int) -> str:
    """The plan's "duration 12 h gives 24 samples" counts the samples under light: say so, with
    the dark ones, so that it agrees with the timeline's GC samples."""
    m = re.search(r"gives (\d+) samples$", check)
    if not m or not dark:
        return check
    n = int(m.group(1))
    return f"{check} under light (+ {dark} in the dark = {n + dark} GC samples)"


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _condense(timeline: list[dict[str, Any]], t0: float) -> list[dict[str, Any]]:
    """Collapse raw messages into readable steps (a GC sample, lamp on/off, waits)."""
    steps: list[dict[str, Any]] = []
    last_set: dict[str, list[str]] = {}
    for m in timeline:
        t = m["t"] - t0
        cmd, obj, args = m["command"], m["object"], m["args"]
        if cmd == "set":
            # a device set to what it already is (the safety sweep after the run turns off a lamp
            # the plan turned off) is not a step
            if last_set.get(obj) == args:
                continue
            last_set[obj] = args
        if cmd == "open_run":
            text = "run opens"
        elif cmd == "close_run":
            text = "run closes"
        elif cmd == "trigger" and obj == "gc":
            text = "GC sample (inject headspace, wait for chromatogram)"
        elif cmd == "set" and obj == "lamp":
            text = "lamp on (ignite, wait for arc)" if args and args[0] == "On" else "lamp off"
        elif cmd == "set" and obj == "lamp-power":
            text = f"lamp power preset {args[0] if args else ''} W"
        elif cmd == "set" and obj == "operator":
            text = f"operator: {args[0] if args else ''}"
        elif cmd == "set" and obj == "parr-temperature":
            text = f"heat to {args[0] if args else ''} °C (until settled)"
        elif cmd == "set" and obj == "parr-heater":
            text = "heater " + ("on" if args and args[0] == "True" else "off")
        elif cmd == "set" and obj in ("parr-gas_inlet", "parr-vent"):
            valve = "gas inlet" if obj.endswith("inlet") else "vent"
            text = f"{valve} " + ("open" if args and args[0] == "True" else "closed")
        elif cmd == "set" and obj == "parr-stirrer":
            text = f"stirrer {args[0] if args else ''} rpm"
        elif cmd == "trigger" and obj == "nmr":
            text = "NMR conversion"
        elif cmd == "set" and obj == "fluor-excitation-shutter":
            text = "excitation shutter " + ("open (light on the sample)" if args and args[0] == "Open" else "closed")
        elif cmd == "set" and obj == "fluor-excitation":
            text = f"excitation monochromator to {args[0] if args else ''} nm"
        elif cmd == "trigger" and obj == "fluor-dark":
            text = "dark spectrum"
        elif cmd == "trigger" and obj == "fluor-decay":
            text = "decay histogram (pulsed source, multichannel scaler)"
        elif cmd == "trigger" and obj in ("fluor-point", "fluor-spectrum"):
            what = "PL point" if obj == "fluor-point" else "spectrum"
            if steps and steps[-1]["step"].startswith(what):
                steps[-1]["count"] = steps[-1].get("count", 1) + 1
                steps[-1]["until_s"] = round(t, 1)
                steps[-1]["step"] = f"{what}s x{steps[-1]['count']} (until {_hms(t)})"
                continue
            text = what
        else:
            continue
        steps.append({"t_s": round(t, 1), "step": text})
    return steps


# -- runs ------------------------------------------------------------------------------------
_UID = re.compile(r"[0-9a-fA-F-]{1,36}")


def _check_uid(uid: str) -> str:
    """A run uid or a prefix of one: hex digits and dashes only (never a path)."""
    if not _UID.fullmatch(uid or ""):
        _fail(f"run uid {uid!r} is not a uid or a prefix of one (hex digits and '-'); see 'labctl runs list'")
    return uid


def _find_run(client: Any, uid: str) -> Any:
    _check_uid(uid)
    if uid in client:
        return client[uid]
    matches = [k for k in client if k.startswith(uid)]
    if len(matches) == 1:
        return client[matches[0]]
    if not matches:
        _fail(f"no run with uid {uid!r} in the catalog; see 'labctl runs list'")
    _fail(f"uid prefix {uid!r} is ambiguous ({len(matches)} runs); give more characters")


@runs_app.command("list")
def runs_list(data_dir: DataDirOpt = None, as_json: JsonOpt = False, limit: int = 50) -> None:
    """List the runs in the catalog, newest last."""
    from labctl.catalog import open_catalog

    ddir = _data_dir(data_dir)
    _recover(ddir)
    rows = []
    with open_catalog(ddir) as client:
        for uid in list(client)[-limit:]:
            md = client[uid].metadata
            start, stop = md.get("start", {}), md.get("stop") or {}
            rows.append(
                {
                    "uid": uid,
                    "experiment": start.get("experiment", start.get("plan_name")),
                    "time": start.get("time"),
                    "simulated": start.get("simulated", False),
                    "exit_status": stop.get("exit_status", "running/interrupted"),
                    "num_events": stop.get("num_events", {}),
                }
            )
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    import datetime as dt

    from rich.console import Console
    from rich.table import Table

    t = Table(title="runs")
    for col in ("uid", "experiment", "started", "sim", "status", "points"):
        t.add_column(col)
    for r in rows:
        when = dt.datetime.fromtimestamp(r["time"]).strftime("%Y-%m-%d %H:%M") if r["time"] else ""
        t.add_row(
            r["uid"][:8],
            str(r["experiment"]),
            when,
            "yes" if r["simulated"] else "",
            str(r["exit_status"]),
            str(r["num_events"].get("primary", 0)),
        )
    Console(soft_wrap=True).print(t)


def _run_figures(run: Any) -> tuple[dict[str, Any], dict[str, Any], Any, Any, dict[str, Any] | None, str | None]:
    """start, stop, H2 series (or None), tables, figures of merit, analysis error of a catalog run."""
    from labctl.experiments import CatalogReadError, tables_from_catalog

    start = dict(run.metadata.get("start", {}))
    stop = dict(run.metadata.get("stop") or {})
    try:
        tables = tables_from_catalog(run)
    except CatalogReadError as exc:
        _fail(
            f"{exc}; nothing was written. If the data folder was moved, open it once with this labctl (it "
            "re-points the catalog), or run 'labctl runs repair UID' to rebuild the run from its JSON-lines file"
        )
    return (start, stop, *_figures_of(start, tables))


def _figures_of(start: dict[str, Any], tables: Any) -> tuple[Any, Any, dict[str, Any] | None, str | None]:
    """(gas series or None, tables, figures of merit, analysis error) of a run's tables."""
    from labctl.experiments import get_experiment, h2_series

    try:
        exp = get_experiment(start.get("experiment", start.get("plan_name", "")))
    except ValueError as exc:
        return None, tables, None, str(exc)
    figures, error = _analyze(exp, start, tables)
    gas_runs = ("h2-evolution", "co2-photoreduction")
    series = h2_series(start, tables) if figures is not None and exp.name in gas_runs else None
    return series, tables, figures, error


@runs_app.command("show")
def runs_show(uid: str, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Show a run's metadata, exit status and figures of merit."""
    from labctl.catalog import open_catalog

    _check_uid(uid)
    ddir = _data_dir(data_dir)
    _recover(ddir)
    with open_catalog(ddir) as client:
        run = _find_run(client, uid)
        start, stop, _, _, figures, error = _run_figures(run)
    out = {
        "uid": start.get("uid"),
        "experiment": start.get("experiment"),
        "simulated": start.get("simulated", False),
        "bench": start.get("bench"),
        "plan_args": start.get("plan_args"),
        "exit_status": stop.get("exit_status"),
        "reason": stop.get("reason", ""),
        "num_events": stop.get("num_events"),
        "figures": figures,
        "analysis_error": error,
    }
    if figures:
        named = (
            "rate",
            "rate_stderr",
            "aqy",
            "total_umol",
            "leak_suspect",
            "conversion",
            "ton",
            "tof",
            "co2_uptake_mmol",
        )
        out.update({k: figures.get(k) for k in named if k in figures})
    if start.get("campaign_id"):
        out.update(campaign_id=start["campaign_id"], cycle=start.get("cycle"))
    if as_json:
        typer.echo(json.dumps(out, indent=2, default=str))
    else:
        _print_run_summary({**out, "report": {}})


@runs_app.command("export")
def runs_export(
    uid: str,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    stream: str = "primary",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Export a run's stream as CSV (read back through Tiled/xarray) or its documents as JSON lines."""
    from labctl.catalog import open_catalog

    if fmt not in ("csv", "jsonl"):
        _fail(f"--format {fmt!r} is not supported; use csv or jsonl")
    ddir = _data_dir(data_dir, write=False)
    with open_catalog(ddir) as client:
        run = _find_run(client, uid)
        full = run.metadata["start"]["uid"]
        if fmt == "csv":
            if stream not in run:
                _fail(f"run {full[:8]} has no stream {stream!r}; streams: {', '.join(run)}")
            try:
                ds = run[stream].read()
                # one row per event: array fields (a GC injection's raw trace) stay in the catalog
                text = ds[[v for v in ds.data_vars if ds[v].ndim == 1]].to_dataframe().to_csv()
            except Exception as exc:
                _fail(
                    f"run {full[:8]} stream {stream!r} could not be read from the catalog ({exc}); "
                    f"'labctl runs repair {full[:8]}' rebuilds it from its JSON-lines file"
                )
        else:
            src = ddir / "runs" / f"{full}.jsonl"
            if not src.exists():
                _fail(f"{src} is missing")
            text = src.read_text(encoding="utf-8", errors="replace")
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"could not write {output}: {exc.strerror or exc}; give --output a path in a folder you can write to")
    typer.echo(f"wrote {output}", err=True)


@runs_app.command("report")
def runs_report(uid: str, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """(Re)write a run's report files (figures of merit, Markdown, plot) from the catalog.

    A run that never closed (the computer crashed or lost power) is closed from its JSON-lines
    file first, which holds every point written before the end.  A run whose data cannot be
    read is refused: its earlier report is never overwritten with empty figures.
    """
    from labctl.catalog import open_catalog
    from labctl.reports.run_report import write_report

    _check_uid(uid)
    ddir = _data_dir(data_dir)
    _recover(ddir)
    with open_catalog(ddir) as client:
        run = _find_run(client, uid)
        start, stop, series, tables, figures, error = _run_figures(run)
    folder = (ddir / "reports" / _check_uid(str(start.get("uid", "")))).resolve()
    if folder.parent != (ddir / "reports").resolve():
        _fail(f"run {uid!r} names a report folder outside {ddir / 'reports'}; refused")
    files = write_report(folder, start=start, stop=stop, figures=figures, series=series, tables=tables, error=error)
    if as_json:
        typer.echo(json.dumps({k: str(v) for k, v in files.items()}, indent=2))
    else:
        for kind, path in files.items():
            typer.echo(f"{kind}: {path}")


@runs_app.command("repair")
def runs_repair(
    uids: Annotated[list[str] | None, typer.Argument(help="run uids (default: every run in the data folder)")] = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close runs that never closed and complete the catalog from the JSON-lines files (idempotent)."""
    from labctl.catalog import repair_data_dir

    ddir = _data_dir(data_dir)
    full = []
    for uid in uids or []:
        _check_uid(uid)
        found = sorted((ddir / "runs").glob(f"{uid}*.jsonl"))
        if len(found) != 1:
            _fail(f"run {uid!r}: {'no' if not found else len(found)} JSON-lines files match in {ddir / 'runs'}")
        full.append(found[0].stem)
    done = repair_data_dir(ddir, full or None)
    if as_json:
        typer.echo(json.dumps(done, indent=2))
    else:
        for uid, what in done.items():
            typer.echo(f"{uid}: {what}")
    if any(what.startswith("failed") for what in done.values()):
        raise typer.Exit(1)


# -- calibrations ------------------------------------------------------------------------------
def _calibration_records(bench: str, data_dir: Path | None) -> tuple[Path, dict[str, Any], dict[str, list[Any]]]:
    """(folder, in force by gas, history by gas newest last) of a bench's GC calibrations."""
    from labctl.analysis.chromatography import Calibration, CalibrationError
    from labctl.bench import calibration_folder
    from labctl.catalog import resolve_data_dir
    from labctl.config import BenchError, load_bench

    try:
        cfg = load_bench(bench)
    except BenchError as exc:
        _fail(str(exc))
    folder = calibration_folder(cfg, resolve_data_dir(data_dir), simulated=cfg.in_process)
    in_force: dict[str, Any] = {}
    history: dict[str, list[Any]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            in_force[path.stem] = Calibration.load(path)
        except CalibrationError as exc:
            typer.echo(f"skipping {path}: {exc}", err=True)
    for path in sorted((folder / "history").glob("*.json")):
        try:
            cal = Calibration.load(path)
        except CalibrationError:
            continue
        history.setdefault(cal.gas, []).append(cal)
    for cals in history.values():
        cals.sort(key=lambda c: c.created)
    return folder, in_force, history


@cal_app.command("list")
def calibrations_list(bench: BenchOpt = "sim", data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """The calibration in force for each gas of a bench: date, method, range, R²."""
    folder, in_force, history = _calibration_records(bench, data_dir)
    rows = [
        {
            "gas": gas,
            "created": cal.created,
            "method": cal.method,
            "range_umol": [cal.amount_min_umol, cal.amount_max_umol],
            "r_squared": cal.r_squared,
            "n_points": cal.n_points,
            "slope": cal.slope,
            "history": len(history.get(gas, [])),
        }
        for gas, cal in in_force.items()
    ]
    if as_json:
        typer.echo(json.dumps({"folder": str(folder), "calibrations": rows}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"GC calibrations in force ({folder})")
    for col in ("gas", "created", "method", "range (µmol)", "R²", "points", "earlier"):
        t.add_column(col)
    for r in rows:
        lo, hi = r["range_umol"]
        t.add_row(
            r["gas"], r["created"], r["method"], f"{lo:g}-{hi:g}", f"{r['r_squared']:.5f}", str(r["n_points"]),
            str(max(r["history"] - 1, 0)),
        )  # fmt: skip
    Console(soft_wrap=True).print(t)
    if not rows:
        typer.echo(f"no calibration yet in {folder}; run: labctl run gc-calibration --bench {bench} -p gas=H2")


@cal_app.command("show")
def calibrations_show(gas: str, bench: BenchOpt = "sim", data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """One gas: the line in force (fit, residuals, range, date, method), its history, and the runs that made it."""
    from labctl.catalog import open_catalog, resolve_data_dir

    folder, in_force, history = _calibration_records(bench, data_dir)
    if gas not in in_force:
        known = ", ".join(in_force) or "none"
        _fail(f"no calibration in force for {gas!r} in {folder} (calibrated: {known})")
    runs = []
    try:
        from tiled.queries import Eq

        with open_catalog(resolve_data_dir(data_dir)) as client:
            for uid, run in client.search(Eq("start.experiment", "gc-calibration")).items():
                start = run.metadata.get("start", {})
                if gas in start.get("plan_args", {}).get("gases", []):
                    stop = run.metadata.get("stop") or {}
                    runs.append({"uid": uid, "time": start.get("time"), "exit_status": stop.get("exit_status")})
    except Exception as exc:  # the catalog is optional for this view
        typer.echo(f"(catalog not read: {exc})", err=True)
    result = {
        "gas": gas,
        "in_force": in_force[gas].to_dict(),
        "history": [c.to_dict() for c in history.get(gas, [])],
        "calibration_runs": runs,
    }
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    cal = in_force[gas]
    typer.echo(f"{gas}: area = {cal.slope:.6g} x amount + {cal.intercept:.6g} µV·s, R² = {cal.r_squared:.5f}")
    typer.echo(f"  range {cal.amount_min_umol:g}-{cal.amount_max_umol:g} µmol ({cal.n_points} standards), "
               f"made {cal.created}, method {cal.method}")  # fmt: skip
    typer.echo("  residuals (µV·s): " + ", ".join(f"{r:.4g}" for r in cal.residuals))
    for c in history.get(gas, [])[:-1]:
        typer.echo(f"  earlier: {c.created}  R² {c.r_squared:.5f}  slope {c.slope:.6g}")
    for r in runs:
        typer.echo(f"  calibration run {r['uid'][:8]}: {r['exit_status']}")


# -- simulators and devices ----------------------------------------------------------------------
@sim_app.command("serve")
def sim_serve(
    bench: BenchOpt = "sim",
    host: str = "127.0.0.1",
    lamp_port: int = 0,
    gc_port: int = 0,
    parr_port: int = 0,
    pump_port: int = 0,
    hotplate_port: int = 0,
    data_dir: DataDirOpt = None,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
) -> None:
    """Serve the bench's protocol simulators on TCP loopback (real wire bytes), sharing one model."""
    import asyncio

    from labctl.bench import serve_simulators
    from labctl.catalog import resolve_data_dir
    from labctl.config import load_bench

    cfg = load_bench(bench)
    ddir = resolve_data_dir(data_dir)
    try:
        asyncio.run(
            serve_simulators(
                cfg,
                ddir,
                host=host,
                lamp_port=lamp_port,
                gc_port=gc_port,
                parr_port=parr_port,
                pump_port=pump_port,
                hotplate_port=hotplate_port,
                duration=duration,
                echo=typer.echo,
            )
        )
    except KeyboardInterrupt:
        typer.echo("stopped")


@devices_app.command("check")
def devices_check(bench: BenchOpt = "sim", data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Connect to each instrument of a bench and exchange with it once; report what answers.

    Each device is read with its readable parts (a fluorometer's monochromator), and a device
    with an instrument no signal reads (the GC's relay box) is asked through ``check_connection``.
    Exits 1 naming every device whose instrument does not answer.
    """
    from ophyd_async.core import StandardReadable

    from labctl.catalog import resolve_data_dir
    from labctl.config import BenchError, load_bench
    from labctl.session import Session

    try:
        cfg = load_bench(bench)
    except BenchError as exc:
        _fail(str(exc))
    results: list[dict[str, Any]] = []
    with Session(
        data_dir=resolve_data_dir(data_dir), speed=math.inf if cfg.in_process else None, record=False
    ) as session:
        try:
            bench_obj = session.open_bench(cfg)
        except Exception as exc:
            _fail(f"could not open bench {cfg.name}: {exc}")
        for name, dev in bench_obj.devices.items():
            try:
                values: dict[str, Any] = {}
                exchange = getattr(dev, "check_connection", None)
                if exchange is not None:
                    values.update(session.call(exchange(), timeout=60))
                parts = [dev, *(c for _, c in dev.children() if isinstance(c, StandardReadable))]
                for part in parts:
                    reading = session.call(part.read(), timeout=30)
                    config = session.call(part.read_configuration(), timeout=30)
                    values.update({k: v["value"] for k, v in {**reading, **config}.items()})
                results.append({"device": name, "ok": True, "values": values})
            except Exception as exc:
                results.append({"device": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    if as_json:
        typer.echo(json.dumps(results, indent=2, default=str))
    else:
        for r in results:
            mark = "[ok]" if r["ok"] else "[FAIL]"
            detail = ", ".join(f"{k}={v}" for k, v in list(r.get("values", {}).items())[:6]) if r["ok"] else r["error"]
            typer.echo(f"{mark:7}{r['device']}: {detail}")
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
