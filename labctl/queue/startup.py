"""Startup code for bluesky-queueserver's RE Manager: one bench, its devices, labctl's plans.

    LABCTL_BENCH=sim start-re-manager --startup-module labctl.queue.startup --keep-re \
        --existing-plans-devices <folder>/existing_plans_and_devices.yaml \
        --user-group-permissions <folder>/user_group_permissions.yaml --update-existing-plans-devices ENVIRONMENT_OPEN

The worker imports this module when the environment opens.  It opens the bench named by
``$LABCTL_BENCH`` (a packaged bench or a bench file; default ``sim``), on the data folder
``$LABCTL_DATA_DIR`` (as the CLI), in virtual time on a bench of in-process simulators (real time
otherwise; ``$LABCTL_TIME`` = ``real`` or ``xN`` changes that).  The names the queue sees:

* devices by their bench names (``lamp``, ``gc``, ``reactor``, ``operator``, ``clock``,
  ``gc_calibrations``, ``parr``, ``nmr``, ``fluor``, ``pump``, ``hotplate``, ``absorbance``),
  whatever the bench has;
* plans by their function names (``h2_evolution``, ``co2_photoreduction``, ``gc_calibration``,
  ``co2_cycloaddition``, ``recycle``, ``emission_scan``, ``excitation_scan``, ``plqy``,
  ``photostability``, ``pl_decay``, and on a bench with the synthesis flask ``cluster_growth`` and
  ``ss_assembly``), each device parameter restricted to the bench's devices of
  its annotated class, so the queue lists the right ones;
* ``run_campaign`` and ``resume_campaign``: a whole campaign (:mod:`labctl.campaigns`) as one item.

Every run is recorded as a CLI run is: its JSON-lines file and the catalog in the data folder,
with the bench's metadata (bench, limits, GC calibrations) in its start document.
"""

import atexit
import inspect
import math
import os
import types
import typing
from collections.abc import Callable, Generator
from typing import Any

import bluesky.preprocessors as bpp
from bluesky_queueserver import parameter_annotation_decorator

from labctl.catalog import JsonLinesWriter, resolve_data_dir
from labctl.config import load_bench
from labctl.plans import cluster_growth as _growth
from labctl.plans import co2_cycloaddition as _cyclo
from labctl.plans import co2_photoreduction as _co2
from labctl.plans import gc_calibration as _gc_cal
from labctl.plans import h2_evolution as _h2
from labctl.plans import photoluminescence as _pl
from labctl.session import Session, _RunState, speed_for

BENCH_ENV = "LABCTL_BENCH"
TIME_ENV = "LABCTL_TIME"

# the plans the queue runs, by the name it lists them under, and what each needs of the bench
PLANS: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {
    "h2_evolution": (_h2.h2_evolution, ("lamp", "gc", "reactor")),
    "co2_photoreduction": (_co2.co2_photoreduction, ("lamp", "gc", "reactor")),
    "gc_calibration": (_gc_cal.gc_calibration, ("gc", "gc_calibrations")),
    "co2_cycloaddition": (_cyclo.co2_cycloaddition, ("parr", "nmr")),
    "recycle": (_cyclo.recycle, ("parr", "nmr")),
    "emission_scan": (_pl.emission_scan, ("fluor",)),
    "excitation_scan": (_pl.excitation_scan, ("fluor",)),
    "plqy": (_pl.plqy, ("fluor",)),
    "photostability": (_pl.photostability, ("fluor",)),
    "pl_decay": (_pl.pl_decay, ("fluor",)),
    "cluster_growth": (_growth.cluster_growth, ("pump", "hotplate", "absorbance")),
    "ss_assembly": (_growth.ss_assembly, ("hotplate", "absorbance")),
}


def _speed(text: str | None, in_process: bool) -> float | None:
    if text in (None, "", "virtual"):
        requested = None
    elif text == "real":
        requested = 1.0
    else:
        requested = float(str(text).lstrip("x"))
    return speed_for(in_process, requested)


def _device_classes(annotation: Any) -> list[type]:
    """The classes a device parameter's annotation names (``ArcLamp | LedSource`` -> both)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [c for a in typing.get_args(annotation) for c in _device_classes(a)]
    return [annotation] if inspect.isclass(annotation) and hasattr(annotation, "connect") else []


def for_queue(plan: Callable[..., Any], devices: dict[str, Any]) -> Callable[..., Any]:
    """``plan`` with each device parameter limited to the bench devices of its annotated classes.

    The queue server cannot resolve labctl's device classes from their names; this tells it, per
    parameter, which device names it takes (and that it turns them into the devices)."""
    hints = typing.get_type_hints(plan)
    parameters: dict[str, Any] = {}
    for name in inspect.signature(plan).parameters:
        classes = _device_classes(hints.get(name))
        if not classes:
            continue
        names = sorted(n for n, d in devices.items() if isinstance(d, tuple(classes)))
        group = "".join(c.__name__ for c in classes)
        parameters[name] = {
            "annotation": group,
            "devices": {group: names},
            "convert_device_names": True,
        }
    return parameter_annotation_decorator({"parameters": parameters})(plan)


def _queued_run(session: Session) -> Callable[[Generator[Any, Any, Any]], Generator[Any, Any, Any]]:
    """A preprocessor: each queued plan gets the session's end-of-run safety sweep (every hazard
    made safe and read back before its run closes), on a bench in virtual time the loop's clock
    jumps ahead while the plan runs and keeps wall pace between plans, and the catalog has the
    run before the next item starts."""

    def wrap(plan: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
        session._state = _RunState(session.hazards())
        session._set_accelerate(True)
        try:
            return (yield from plan)
        finally:
            session._set_accelerate(False)
            session._state = None
            # the run is in the catalog before the queue goes on (or the environment closes)
            session._catalog_writer().drain(timeout=120)

    return wrap


def campaign_plans(session: Session, bench: Any) -> dict[str, Callable[..., Any]]:
    """``run_campaign`` and ``resume_campaign``: a campaign as one queue item, on this bench."""
    from pathlib import Path

    from labctl.campaigns.loop import CampaignState, campaign, campaigns_folder, find_campaign, prepare_resume, replay
    from labctl.campaigns.optimisers import make_optimiser
    from labctl.campaigns.spec import check_against_bench, load_campaign

    def _go(state: CampaignState, spec: Any) -> Generator[Any, Any, Any]:
        optimiser = make_optimiser(
            spec, strategy=state.strategy, seed=state.seed, checkpoint_path=state.path.with_name("optimiser.json")
        )
        replay(state, optimiser, spec)
        yield from campaign(bench, spec, state, optimiser)
        return state.status

    def run_campaign(campaign_file: str, strategy: str = "", seed: int = -1) -> Generator[Any, Any, Any]:
        """Run a campaign (suggest, check, run, analyse, ingest) until its budget, target or stopping rule.

        Parameters
        ----------
        campaign_file : str
            The campaign file (TOML) on the queue server's machine, or the name of an example that
            ships with labctl (e.g. "cyclo-ton").
        strategy : str
            Override the file's strategy: gp-ard, random, sobol, grid or ax ("" keeps the file's).
        seed : int
            Override the file's seed (-1 keeps the file's).
        """
        spec = load_campaign(Path(campaign_file))
        check_against_bench(spec, bench)
        state = CampaignState.new(
            spec,
            bench=bench.config.name,
            folder=campaigns_folder(session.data_dir),
            strategy=strategy or None,
            seed=None if seed < 0 else seed,
        )
        return (yield from _go(state, spec))

    def resume_campaign(campaign_id: str) -> Generator[Any, Any, Any]:
        """Go on with a campaign after a crash or a stop; the experiment it cut short is repeated or
        abandoned as its file says, and nothing done is run again.

        Parameters
        ----------
        campaign_id : str
            The campaign's id, or a unique start of it (labctl campaign list).
        """
        state = find_campaign(session.data_dir, campaign_id)
        spec = state.spec()
        prepare_resume(state, spec)
        return (yield from _go(state, spec))

    return {"run_campaign": run_campaign, "resume_campaign": resume_campaign}


def open_environment(bench_name: str | None = None) -> dict[str, Any]:
    """Open the bench and the recording chain; return the namespace the queue server reads."""
    cfg = load_bench(bench_name or os.environ.get(BENCH_ENV) or "sim")
    data_dir = resolve_data_dir(None)
    speed = _speed(os.environ.get(TIME_ENV), cfg.in_process)
    session = Session(data_dir=data_dir, speed=speed, record=True)
    atexit.register(session.close)
    bench = session.open_bench(cfg)
    unsafe = session.make_safe()
    if unsafe:
        raise RuntimeError(f"bench {cfg.name} could not be made safe: {'; '.join(unsafe)}")
    RE = session.RE
    # the recording chain of a CLI run: JSON-lines file, catalog, bench metadata in every start
    RE.subscribe(JsonLinesWriter(data_dir / "runs"))
    RE.subscribe(session._catalog_writer())
    bench_md = bench.metadata()
    bench_md["time_mode"] = "real" if speed in (None, 1.0) else ("virtual" if math.isinf(speed) else f"x{speed:g}")
    bench_md["queue"] = True
    RE.preprocessors.append(lambda plan: bpp.inject_md_wrapper(plan, bench_md))
    RE.preprocessors.append(_queued_run(session))
    namespace: dict[str, Any] = {"RE": RE, "labctl_session": session, "labctl_bench": bench}
    namespace.update(bench.devices)
    for name, (plan, needs) in PLANS.items():
        if all(n in bench.devices for n in needs):
            namespace[name] = for_queue(plan, bench.devices)
    namespace.update(campaign_plans(session, bench))
    return namespace


globals().update(open_environment())
