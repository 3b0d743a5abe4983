"""A RunEngine session: one loop (real or virtual time), a bench, the recording chain, progress.

``Session`` owns the RunEngine and its event loop.  For each run it subscribes

* a :class:`~labctl.catalog.JsonLinesWriter` (every document on disk at once, flushed),
* a :class:`~labctl.catalog.CatalogWriter` into the embedded Tiled catalog (worker thread),
* a progress bar (rich) driven by the loop's clock against the plan's planned duration,
* in memory, the documents of a dry run; a recorded run keeps only its non-event documents
  and reads its events back from the JSON-lines file at the end (for the figures of merit and
  the report), so that an overnight run's memory stays flat,

and runs the plan under a :class:`~labctl.safety.Watchdog` of the bench's hazards.  Ctrl-C
pauses the RunEngine at once and the run is aborted with the reason "interrupted by the
operator (Ctrl-C)"; a tripped interlock aborts it with the interlock's reason.  In every case
the plan's own ``finally`` paths switch the hazards off, the stop document records the exit
status and reason, and everything measured is in the JSON-lines file and the catalog.
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from labctl import lean_plans
from labctl.bench import Bench, open_bench
from labctl.catalog import CatalogWriter, JsonLinesWriter, read_jsonl
from labctl.clock import VirtualTimeLoop
from labctl.config import BenchConfig
from labctl.safety import Hazard, Watchdog

logger = logging.getLogger(__name__)

Documents = list[tuple[str, dict[str, Any]]]


@dataclass
class RunOutcome:
    """What a run left behind."""

    uid: str | None
    exit_status: str
    reason: str
    kept: Documents  # every document of a dry run; all but the events of a recorded run
    virtual_s: float
    wall_s: float
    jsonl: Path | None = None
    catalog_errors: list[str] = field(default_factory=list)
    safe_state_errors: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # the JSON-lines file of each run, in order

    @property
    def start(self) -> dict[str, Any]:
        return next((d for n, d in self.kept if n == "start"), {})

    @cached_property
    def documents(self) -> Documents:
        """Every document, in order: read back from the JSON-lines files of a recorded run (its
        events were not kept in memory, so an overnight run's memory stays flat)."""
        if not self.files:
            return self.kept
        return [doc for path in self.files if path.exists() for doc in read_jsonl(path)]


class _Progress:
    """Progress bar over the plan's planned duration, advanced by loop time."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        self._t0 = 0.0
        self._total = 0.0
        self._last_draw = 0.0

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if not self.enabled:
            return
        now = asyncio.get_running_loop().time()
        if name == "start":
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._total = float(doc.get("planned_duration_s") or 1.0)
            self._t0 = now
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[clock]}"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(doc.get("plan_name", "run"), total=self._total, clock="0:00:00")
        elif self._progress is not None:
            wall = time.monotonic()  # screen refresh pacing only; never the experiment's clock
            if name != "stop" and wall - self._last_draw < 0.1:
                return
            self._last_draw = wall
            done = min(now - self._t0, self._total)
            self._progress.update(self._task, completed=done, clock=_hms(now - self._t0))
            if name == "stop":
                self._progress.stop()
                self._progress = None


def _hms(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _explain(exc: BaseException) -> str:
    """The device's own error inside bluesky's ``FailedStatus`` wrapping, as ``Type: message``."""
    from bluesky.utils import FailedStatus

    inner: BaseException = exc
    while isinstance(inner, FailedStatus) and inner.__cause__ is not None:
        inner = inner.__cause__
    return f"{type(inner).__name__}: {inner}"


class Session:
    """A RunEngine with a bench and a recording chain.

    :param speed: ``None`` for the ordinary loop (real bench, real time); ``math.inf`` for
        virtual time; a number for a speed factor (simulated benches only).
    :param data_dir: the data folder (catalog, JSON-lines, reports, calibrations).
    :param record: write runs to the JSON-lines files and the catalog (False for a dry run).
    :param progress: show a progress bar.
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        speed: float | None = None,
        record: bool = True,
        progress: bool = False,
    ) -> None:
        from bluesky import RunEngine

        self.data_dir = data_dir
        self.speed = speed
        self.loop: asyncio.AbstractEventLoop = VirtualTimeLoop(speed) if speed is not None else asyncio.new_event_loop()
        self._set_accelerate(False)
        lean_plans.install()
        self.RE = RunEngine({}, loop=self.loop, context_managers=[], call_returns_result=True)
        self.record = record
        self.progress = progress
        self.bench: Bench | None = None
        self._writer: CatalogWriter | None = None
        self._interrupt: str | None = None

    # -- plumbing ------------------------------------------------------------------------------
    def _set_accelerate(self, on: bool) -> None:
        if isinstance(self.loop, VirtualTimeLoop):
            self.loop.accelerate = on

    def call(self, coro: Any, timeout: float | None = None) -> Any:
        """Run a coroutine on the session's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def open_bench(self, cfg: BenchConfig, *, simulate: bool | None = None) -> Bench:
        self.bench = self.call(open_bench(cfg, data_dir=self.data_dir, simulate=simulate))
        return self.bench

    def _catalog_writer(self) -> CatalogWriter:
        if self._writer is None:
            self._writer = CatalogWriter(self.data_dir)
        return self._writer

    def close(self) -> None:
        if self.bench is not None and self.loop.is_running():
            try:
                self.call(self.bench.close(), timeout=30)
            except Exception as exc:
                logger.warning("closing the bench: %s", exc)
            self.bench = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.loop.is_running():
            self.call(_cancel_tasks(), timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            thread = getattr(self.RE, "_th", None)
            if thread is not None:
                thread.join(timeout=10)
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running --------------------------------------------------------------------------------
    def _watchdog(self) -> Watchdog | None:
        """A watch over every hazard on the bench: the lamp, the Parr vessel."""
        if self.bench is None:
            return None
        hazards: list[Hazard] = []
        lamp = self.bench.devices.get("lamp")
        if lamp is not None:
            from devices.lamp import LampState

            async def lamp_off() -> None:
                await lamp.set(LampState.OFF)

            hazards.append(Hazard("lamp", lamp.check_safe, lamp_off, lambda: lamp.expect_on))
        parr = self.bench.devices.get("parr")
        if parr is not None:
            hazards.append(Hazard("parr", parr.check_safe, parr.make_safe, lambda: parr.live))
        if not hazards:
            return None
        return Watchdog(hazards, request_pause=lambda: self.RE.request_pause(defer=False))

    def run(
        self,
        plan: Generator[Any, Any, Any],
        *,
        md: dict[str, Any] | None = None,
        msg_log: Callable[[float, Any], None] | None = None,
    ) -> RunOutcome:
        """Run ``plan`` to its end, whatever happens; return what it left behind."""
        from bluesky.utils import RunEngineInterrupted

        docs: Documents = []
        uids: list[str] = []

        def keep(name: str, doc: dict[str, Any]) -> None:
            if name == "start":
                uids.append(doc["uid"])
            if not self.record or name not in ("event", "event_page"):
                docs.append((name, doc))

        subs = [self.RE.subscribe(keep)]
        jsonl = catalog_writer = None
        if self.record:
            jsonl = JsonLinesWriter(self.data_dir / "runs")
            catalog_writer = self._catalog_writer()
            subs += [self.RE.subscribe(jsonl), self.RE.subscribe(catalog_writer)]
        subs.append(self.RE.subscribe(_Progress(self.progress)))
        watchdog = self._watchdog()

        def hook(msg: Any) -> None:
            if watchdog is not None and msg.command == "set":
                watchdog.poke()  # a hazard may just have become live (lamp lit, heater on)
            if msg_log is not None:
                msg_log(self.loop.time(), msg)

        self.RE.msg_hook = hook
        self._interrupt = None
        old_handler = None
        if threading.current_thread() is threading.main_thread():
            old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        t_wall, t_loop = time.perf_counter(), self.loop.time()
        exit_status, reason = "success", ""
        try:
            if watchdog is not None:
                self.call(_start(watchdog))
            self._set_accelerate(True)
            try:
                self.RE(plan, **(md or {}))
            except RunEngineInterrupted:
                why = (watchdog.reason if watchdog else None) or self._interrupt or "paused"
                if watchdog and watchdog.reason:
                    why = f"interlock tripped: {why}"
                try:
                    self.RE.abort(reason=why)
                except Exception as exc:
                    logger.error("abort cleanup raised: %s", exc)
            except Exception as exc:  # plan failure: the stop document has it, as bluesky words it
                logger.info("plan ended with %s: %s", type(exc).__name__, exc)
                reason = _explain(exc)
        finally:
            self._set_accelerate(False)
            if watchdog is not None:
                self.loop.call_soon_threadsafe(watchdog.cancel)
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
            self.RE.msg_hook = None
            for token in subs:
                self.RE.unsubscribe(token)
            if catalog_writer is not None:
                catalog_writer.drain()
            if jsonl is not None:
                jsonl.close()
        stop = next((d for n, d in docs if n == "stop"), {})
        start = next((d for n, d in docs if n == "start"), {})
        exit_status = stop.get("exit_status", "fail" if docs else "not started")
        ours = f"interlock tripped: {watchdog.reason}" if watchdog and watchdog.reason else self._interrupt
        reason = ours or reason or stop.get("reason", "")
        return RunOutcome(
            uid=start.get("uid"),
            exit_status=exit_status,
            reason=reason,
            kept=docs,
            virtual_s=self.loop.time() - t_loop,
            wall_s=time.perf_counter() - t_wall,
            jsonl=(self.data_dir / "runs" / f"{start['uid']}.jsonl") if self.record and start else None,
            catalog_errors=_take(catalog_writer.errors) if catalog_writer else [],
            safe_state_errors=list(watchdog.safe_errors) if watchdog else [],
            files=[self.data_dir / "runs" / f"{uid}.jsonl" for uid in uids] if self.record else [],
        )

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self._interrupt = "interrupted by the operator (Ctrl-C)"
        threading.Thread(target=lambda: _quiet(lambda: self.RE.request_pause(defer=False)), daemon=True).start()


async def _cancel_tasks() -> None:
    """Cancel what is left on the loop (pollers, a watchdog winding down) before it stops."""
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _take(errors: list[str]) -> list[str]:
    taken = list(errors)
    errors.clear()
    return taken


async def _start(watchdog: Watchdog) -> None:
    watchdog.start()


def _quiet(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception as exc:
        logger.info("%s", exc)


def speed_for(in_process_sim: bool, requested: float | None) -> float | None:
    """The loop speed: virtual by default on an in-process simulated bench, real time otherwise.

    Instruments across a wire (real ones, or simulators served on TCP in another process) keep
    their own clock, so their bench runs in real time.
    """
    if not in_process_sim:
        if requested not in (None, 1.0):
            raise ValueError(
                "time compression (--time virtual or xN) is only possible on a bench of in-process "
                'simulators (addresses "sim"); instruments across a wire run in real time'
            )
        return None
    return math.inf if requested is None else requested
