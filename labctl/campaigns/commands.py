"""``labctl campaign ...``: run, rehearse, resume, inspect and benchmark campaigns.

Only typer is imported here; everything heavy is imported by the command that needs it, so that
``labctl --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

campaign_app = typer.Typer(
    help="Autonomous campaigns: the bench proposes, runs and learns from its next experiment.",
    no_args_is_help=True,
)

FileArg = Annotated[Path, typer.Argument(help="campaign file (TOML), e.g. h2-optimise.toml")]
IdArg = Annotated[str, typer.Argument(help="campaign id (or a unique start of it; see: labctl campaign list)")]
BenchOpt = Annotated[str, typer.Option("--bench", "-b", help="packaged bench name (sim) or bench .toml file")]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="LABCTL_DATA_DIR", help="data folder (catalog, runs, campaigns)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
StrategyOpt = Annotated[
    str | None, typer.Option("--strategy", help="override the file's strategy: gp-ard, random, sobol, grid, ax")
]


def _cli() -> Any:
    import labctl.cli as cli

    return cli


def _spec(path: Path) -> Any:
    from labctl.campaigns.spec import CampaignError, load_campaign

    try:
        return load_campaign(path)
    except CampaignError as exc:
        _cli()._fail(str(exc))


def _echo_step(as_json: bool) -> Any:
    from labctl.reports.campaign import param_text

    def step(state: Any, t: Any) -> None:
        if as_json:
            return
        spec = state.spec()
        params = ", ".join(f"{d.name} {param_text(d, t.params[d.name])}" for d in spec.dimensions)
        if t.status == "done":
            value = "n/a" if t.objective is None else f"{t.objective:.4g}"
            best = state.best(spec)
            tail = f"; best {best.objective:.4g} (#{best.index})" if best else ""
            line = f"#{t.index} {params}: {spec.objective.figure} {value}{tail}"
        else:
            line = f"#{t.index} {params}: {t.status}: {t.reason}"
        with contextlib.suppress(OSError):
            typer.echo(line, err=True)

    return step


def _run_state(
    state_for: Callable[[Any], Any], spec: Any, bench: str, ddir: Path, *, time_mode: str | None, as_json: bool
) -> None:
    """Run (or go on with) a campaign on a bench, then write its report and print the outcome.

    ``state_for(bench config)`` gives the campaign's state once the bench is open and the search
    space is checked against its limits (a refused campaign leaves nothing behind)."""
    from labctl.campaigns.loop import campaign, replay
    from labctl.campaigns.optimisers import make_optimiser
    from labctl.campaigns.spec import CampaignError, check_against_bench
    from labctl.clock import parse_speed
    from labctl.config import BenchError, load_bench
    from labctl.session import Session, speed_for

    cli = _cli()
    try:
        cfg = load_bench(bench)
        speed = speed_for(cfg.in_process, parse_speed(time_mode) if time_mode else None)
    except (BenchError, ValueError) as exc:
        cli._fail(str(exc))
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with quiet, Session(data_dir=ddir, speed=speed, record=True, progress=False) as session:
        bench_obj = session.open_bench(cfg)
        for note in bench_obj.notes:
            typer.echo(note, err=True)
        unsafe = session.make_safe()
        if unsafe:
            cli._fail(f"bench {cfg.name} could not be made safe before the campaign: {'; '.join(unsafe)}", code=3)
        try:
            check_against_bench(spec, bench_obj)
            state = state_for(cfg)
            optimiser = make_optimiser(
                spec, strategy=state.strategy, seed=state.seed, checkpoint_path=state.path.with_name("optimiser.json")
            )
        except CampaignError as exc:
            cli._fail(str(exc))
        replay(state, optimiser, spec)
        state.status = "running"
        state.save()
        md = bench_obj.metadata()
        outcome = session.run(campaign(bench_obj, spec, state, optimiser, on_step=_echo_step(as_json)), md=md)
        if state.status == "running":  # the loop did not end by itself: a signal, a fault outside the loop
            state.status = "interrupted"
            state.stop_reason = outcome.reason or outcome.exit_status
            state.save()
        report = _report(state, spec, bench_obj, optimiser)
    result = _summary(state, spec)
    result["report"] = str(report) if report else None
    result["safe_state_errors"] = outcome.safe_state_errors
    _print(result, as_json)
    if state.status == "interrupted":
        raise typer.Exit(cli._exit_code(state.stop_reason, outcome.safe_state_errors))
    if state.status != "done" or outcome.safe_state_errors:
        raise typer.Exit(4 if outcome.safe_state_errors else 1)


def _report(state: Any, spec: Any, bench_obj: Any, optimiser: Any) -> Path | None:
    from labctl.campaigns.rehearsal import random_baseline
    from labctl.reports.campaign import write_campaign_report

    if state.path is None:
        return None
    baseline = random_baseline(spec, bench_obj, n=max(len(state.experiments_run()), 1))
    try:
        return write_campaign_report(
            state,
            spec,
            state.path.parent,
            baseline=baseline,
            model=optimiser if hasattr(optimiser, "predict") else None,
        )
    except Exception as exc:  # a report is never worth losing a campaign's state over
        typer.echo(f"campaign report failed: {type(exc).__name__}: {exc}", err=True)
        return None


def _summary(state: Any, spec: Any) -> dict[str, Any]:
    best = state.best(spec)
    return {
        "id": state.id,
        "name": state.name,
        "experiment": state.experiment,
        "strategy": state.strategy,
        "status": state.status,
        "stop_reason": state.stop_reason,
        "experiments": len(state.experiments_run()),
        "bench_hours": round(state.bench_hours(), 3),
        "objective": spec.objective.figure,
        "best": None
        if best is None
        else {
            "trial": best.index,
            "value": best.objective,
            "params": best.params,
            "run_uid": (best.run_uids or [None])[-1],
        },
        "folder": str(state.path.parent) if state.path else None,
    }


def _print(result: dict[str, Any], as_json: bool) -> None:
    with contextlib.suppress(OSError):
        if as_json:
            typer.echo(json.dumps(result, indent=2, default=str))
            return
        typer.echo(f"campaign {result['id']}: {result['status']} ({result['stop_reason']})")
        typer.echo(f"  {result['experiments']} experiments, {result['bench_hours']:.1f} bench hours")
        best = result.get("best")
        if best:
            typer.echo(
                f"  best: {result['objective']} {best['value']:.4g} in experiment {best['trial']} "
                f"(run {best['run_uid']})"
            )
        if result.get("report"):
            typer.echo(f"  report: {result['report']}")


@campaign_app.command("run")
def run(
    file: FileArg,
    bench: BenchOpt = "sim",
    data_dir: DataDirOpt = None,
    strategy: StrategyOpt = None,
    seed: Annotated[int | None, typer.Option(help="override the file's seed")] = None,
    time_mode: Annotated[
        str | None, typer.Option("--time", help="simulated benches: 'virtual' (default), 'real' or 'x60'")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a campaign until its budget, its target or its stopping rule; state saved after every experiment."""
    from labctl.campaigns.loop import CampaignState, campaigns_folder
    from labctl.campaigns.spec import STRATEGIES

    cli = _cli()
    spec = _spec(file)
    if strategy is not None and strategy not in STRATEGIES:
        cli._fail(f"--strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    ddir = cli._data_dir(data_dir)
    cli._recover(ddir)

    def new_state(cfg: Any) -> Any:
        state = CampaignState.new(spec, bench=bench, folder=campaigns_folder(ddir), strategy=strategy, seed=seed)
        typer.echo(
            f"campaign {state.id}: {spec.experiment.name}, {spec.objective.goal} {spec.objective.figure}, "
            f"{state.strategy}, up to {spec.max_experiments} experiments",
            err=True,
        )
        return state

    _run_state(new_state, spec, bench, ddir, time_mode=time_mode, as_json=as_json)


@campaign_app.command("resume")
def resume(
    ident: IdArg,
    data_dir: DataDirOpt = None,
    bench: Annotated[str | None, typer.Option("--bench", "-b", help="bench (default: the campaign's own)")] = None,
    time_mode: Annotated[str | None, typer.Option("--time", help="simulated benches: virtual, real or x60")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Go on with a campaign after a crash, a reboot or Ctrl-C: the experiment it cut short is marked
    interrupted and repeated or abandoned as the file says; nothing done is run again."""
    from labctl.campaigns.loop import find_campaign, prepare_resume
    from labctl.campaigns.spec import CampaignError

    cli = _cli()
    ddir = cli._data_dir(data_dir)
    cli._recover(ddir)
    try:
        state = find_campaign(ddir, ident)
        spec = state.spec()
    except CampaignError as exc:
        cli._fail(str(exc))
    if state.status == "done":
        cli._fail(f"campaign {state.id} is done ({state.stop_reason}); start a new one with labctl campaign run")
    cut = prepare_resume(state, spec)
    for t in cut:
        typer.echo(
            f"experiment {t.index} was cut short: {'repeated' if spec.on_interrupt == 'repeat' else 'abandoned'}",
            err=True,
        )
    _run_state(lambda cfg: state, spec, bench or state.bench, ddir, time_mode=time_mode, as_json=as_json)


@campaign_app.command("list")
def list_(data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """The campaigns in the data folder, oldest first."""
    from labctl.campaigns.loop import list_campaigns

    ddir = _cli()._data_dir(data_dir, write=False)
    rows = []
    for s in list_campaigns(ddir):
        spec = s.spec()
        rows.append(_summary(s, spec))
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"campaigns in {ddir}")
    for col in ("id", "experiment", "strategy", "status", "experiments", "best"):
        t.add_column(col)
    for r in rows:
        best = r["best"]
        t.add_row(
            r["id"],
            r["experiment"],
            r["strategy"],
            r["status"],
            str(r["experiments"]),
            "" if best is None else f"{r['objective']} {best['value']:.4g}",
        )
    Console(soft_wrap=True).print(t)


@campaign_app.command("status")
def status(data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """One line for the newest campaign: where it is and how it stands."""
    from labctl.campaigns.loop import list_campaigns

    states = list_campaigns(_cli()._data_dir(data_dir, write=False))
    if not states:
        typer.echo("no campaigns yet; start one with labctl campaign run FILE")
        return
    s = states[-1]
    r = _summary(s, s.spec())
    if as_json:
        typer.echo(json.dumps(r, indent=2, default=str))
        return
    best = r["best"]
    typer.echo(
        f"{r['id']}: {r['status']}, {r['experiments']} experiments, {r['bench_hours']:.1f} bench h"
        + (f", best {r['objective']} {best['value']:.4g}" if best else "")
        + (f" ({r['stop_reason']})" if r["stop_reason"] else "")
    )


@campaign_app.command("show")
def show(ident: IdArg, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """A campaign's settings and every experiment: parameters, result, run uid."""
    from labctl.campaigns.loop import find_campaign
    from labctl.campaigns.spec import CampaignError
    from labctl.reports.campaign import param_text

    cli = _cli()
    try:
        state = find_campaign(cli._data_dir(data_dir, write=False), ident)
        spec = state.spec()
    except CampaignError as exc:
        cli._fail(str(exc))
    r = _summary(state, spec)
    r["trials"] = [
        {
            "index": t.index,
            "status": t.status,
            "params": t.params,
            "objective": t.objective,
            "acceptable": t.acceptable,
            "prediction": t.prediction,
            "run_uids": t.run_uids,
            "reason": t.reason,
            "attempts": t.attempts,
        }
        for t in state.trials
    ]
    if as_json:
        typer.echo(json.dumps(r, indent=2, default=str))
        return
    _print(r, False)
    for t in state.trials:
        params = ", ".join(f"{d.name} {param_text(d, t.params[d.name])}" for d in spec.dimensions)
        value = "" if t.objective is None else f" -> {t.objective:.4g}"
        typer.echo(f"  #{t.index} [{t.status}] {params}{value}" + (f" ({t.reason})" if t.reason else ""))


@campaign_app.command("report")
def report(ident: IdArg, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Write a campaign's report (Markdown and PNG) in its folder."""
    from labctl.campaigns.loop import find_campaign, replay
    from labctl.campaigns.optimisers import make_optimiser
    from labctl.campaigns.rehearsal import random_baseline
    from labctl.campaigns.spec import CampaignError
    from labctl.reports.campaign import write_campaign_report

    cli = _cli()
    try:
        state = find_campaign(cli._data_dir(data_dir, write=False), ident)
        spec = state.spec()
        model = make_optimiser(spec, strategy="gp-ard", seed=state.seed)
    except CampaignError as exc:
        cli._fail(str(exc))
    replay(state, model, spec)
    baseline = random_baseline(spec, state.bench, n=max(len(state.experiments_run()), 1))
    path = write_campaign_report(state, spec, state.path.parent, baseline=baseline, model=model)
    typer.echo(json.dumps({"report": str(path)}) if as_json else f"report: {path}")


@campaign_app.command("dry-run")
def dry_run(
    file: FileArg,
    bench: BenchOpt = "sim",
    seeds: Annotated[int, typer.Option(help="rehearse this many times (seeds) for a distribution")] = 1,
    strategy: StrategyOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rehearse a whole campaign in virtual time on the simulated bench, optimiser included:
    experiments and bench hours to the target, the timeline, the samples and materials it uses.
    Nothing lands in the catalog."""
    from labctl.campaigns.rehearsal import rehearse
    from labctl.campaigns.spec import CampaignError

    cli = _cli()
    spec = _spec(file)
    if not 1 <= seeds <= 1000:
        cli._fail(f"--seeds {seeds}: give 1 to 1000")
    ddir = cli._data_dir(data_dir, write=False)
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    try:
        with quiet:
            result = rehearse(spec, bench=bench, seeds=seeds, strategy=strategy, data_dir=ddir)
    except CampaignError as exc:
        cli._fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    _print_rehearsal(result)


def _print_rehearsal(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    c = Console(soft_wrap=True)
    c.print(
        f"rehearsal of [bold]{r['name']}[/bold] ({r['experiment']}, {r['strategy']}) on bench {r['bench']}, "
        f"{r['seeds']} seed(s), in {r['wall_s']:.1f} s wall"
    )
    t = Table()
    for col in ("seed", "experiments", "bench h", "best", "to target (exp.)", "to target (bench h)", "stop"):
        t.add_column(col)
    for s in r["per_seed"]:
        t.add_row(
            str(s["seed"]),
            str(s["experiments"]),
            f"{s['bench_hours']:.1f}",
            f"{s['best']:.4g}" if s["best"] is not None else "",
            str(s["experiments_to_target"] or "-"),
            f"{s['hours_to_target']:.1f}" if s["hours_to_target"] else "-",
            s["stop_reason"],
        )
    c.print(t)
    if r.get("to_target"):
        tt = r["to_target"]
        c.print(
            f"to the target: median {tt['experiments_median']:g} experiments "
            f"(IQR {tt['experiments_q25']:g}-{tt['experiments_q75']:g}), {tt['hours_median']:.1f} bench h; "
            f"reached in {tt['reached']} of {r['seeds']} seeds"
        )
    c.print("materials (all seeds' mean per campaign): " + ", ".join(f"{k} {v}" for k, v in r["materials"].items()))
    c.print(f"samples to prepare: {r['samples_mean']:.1f} per campaign")
    c.print("timeline (first seed):")
    for step in r["timeline"][:60]:
        c.print(
            f"  {step['start_h']:7.1f} h  #{step['trial']} {step['status']}: {step['params']}"
            + (f" -> {step['objective']:.4g}" if step.get("objective") is not None else "")
        )


@campaign_app.command("benchmark")
def benchmark(
    file: FileArg,
    seeds: Annotated[int, typer.Option(help="campaigns per strategy")] = 20,
    strategies: Annotated[str, typer.Option(help="comma-separated strategies")] = "gp-ard,random,sobol",
    budget: Annotated[int | None, typer.Option(help="experiments per campaign (default: the file's budget)")] = None,
    fraction: Annotated[float, typer.Option(help="target as a fraction of the simulator's optimum")] = 0.95,
    bench: BenchOpt = "sim",
    as_json: JsonOpt = False,
) -> None:
    """Strategies against each other on the simulated bench's response: experiments to reach a
    fraction of the simulator's own optimum (median, IQR), acceleration and enhancement factors."""
    from labctl.campaigns.rehearsal import benchmark_strategies
    from labctl.campaigns.spec import STRATEGIES, CampaignError

    cli = _cli()
    spec = _spec(file)
    names = [s.strip() for s in strategies.split(",") if s.strip()]
    bad = [s for s in names if s not in STRATEGIES]
    if bad or not names:
        cli._fail(f"--strategies {strategies!r}: use names from {', '.join(STRATEGIES)}")
    if not 1 <= seeds <= 1000 or not 0 < fraction <= 1:
        cli._fail("--seeds must be 1 to 1000 and --fraction within (0, 1]")
    try:
        result = benchmark_strategies(spec, names, seeds=seeds, budget=budget, fraction=fraction, bench=bench)
    except CampaignError as exc:
        cli._fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    typer.echo(
        f"{spec.name}: {len(spec.dimensions)} parameters, simulator optimum {result['optimum']:.4g} "
        f"({spec.objective.figure}); target {fraction:.0%} of it; {seeds} seeds x {result['budget']} experiments"
    )
    for name, s in result["strategies"].items():
        med = s["experiments_median"]
        typer.echo(
            f"  {name:8s} experiments to target: median {med if math.isfinite(med) else 'not reached'} "
            f"(IQR {s['experiments_q25']}-{s['experiments_q75']}), reached {s['reached']}/{seeds}, "
            f"{s['suggest_s_median'] * 1e3:.0f} ms per suggestion"
        )
    for k, v in result.get("acceleration", {}).items():
        typer.echo(f"  acceleration factor {k}: {v:.2f}")
    for k, v in result.get("enhancement", {}).items():
        typer.echo(f"  enhancement factor {k}: {v:.2f}")
