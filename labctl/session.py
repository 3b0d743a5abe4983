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
import contextlib
import fcntl
import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator, MutableMapping
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
    disk_error: str | None = None

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
    """Progress bar over the plan's planned duration, advanced by the loop's (bench) clock.

    It shows the bench time elapsed of the planned, the sample (primary-stream point) k of N
    when the start document plans a count (``num_points``), and the wall-clock time it should end
    at, from the pace so far.  ``bench_clock`` (default: the running loop's time), ``wall_clock`` (monotonic) and
    ``wall_time`` (epoch, for the ETA's time of day) are for tests; ``draw=False`` keeps the
    state without a screen.
    """

    def __init__(
        self,
        enabled: bool,
        *,
        bench_clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] = time.monotonic,
        wall_time: Callable[[], float] = time.time,
        draw: bool = True,
    ) -> None:
        self.enabled = enabled
        self._bench_clock = bench_clock or (lambda: asyncio.get_running_loop().time())
        self._wall_clock = wall_clock
        self._wall_time = wall_time
        self._draw = draw
        self._progress: Any = None
        self._task: Any = None
        self._t0 = 0.0
        self._wall0 = 0.0
        self._total = 0.0
        self._last_draw = -math.inf
        self._planned: int | None = None
        self._what = "point"
        self._primary: set[str] = set()
        self.count = 0
        self.elapsed = 0.0

    def fields(self) -> dict[str, str]:
        """The text columns as drawn now: ``bench``, ``samples`` and ``eta``."""
        bench = f"{_hms(self.elapsed)} / {_hms(self._total)} bench time"
        if self._planned:
            samples = f"{self._what} {min(self.count, self._planned)} of {self._planned}"
        else:
            samples = f"{self._what}s {self.count}"
        wall = self._wall_clock() - self._wall0
        if self.elapsed <= 0 or wall <= 0:
            eta = "ETA --"
        else:
            left = max(self._total - self.elapsed, 0.0) * wall / self.elapsed
            at = time.strftime("%H:%M:%S", time.localtime(self._wall_time() + left))
            eta = f"ETA {at}"
        return {"bench": bench, "samples": samples, "eta": eta}

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if not self.enabled:
            return
        now = self._bench_clock()
        if name == "start":
            self._total = float(doc.get("planned_duration_s") or 1.0)
            self._t0, self._wall0 = now, self._wall_clock()
            planned = doc.get("num_points") or doc.get("planned_samples")
            self._planned = int(planned) if planned else None
            self._what = "sample" if "gc" in (doc.get("detectors") or []) else "point"
            self._primary.clear()
            self.count, self.elapsed = 0, 0.0
            if self._draw:
                from rich.progress import BarColumn, Progress, TextColumn

                self._progress = Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(bar_width=10),  # the line fits 80 columns
                    TextColumn("{task.fields[bench]}"),
                    TextColumn("{task.fields[samples]}"),
                    TextColumn("{task.fields[eta]}"),
                    transient=False,
                )
                self._progress.start()
                self._task = self._progress.add_task(doc.get("plan_name", "run"), total=self._total, **self.fields())
            return
        if name == "descriptor" and doc.get("name") == "primary":
            self._primary.add(doc.get("uid", ""))
        elif name == "event" and doc.get("descriptor") in self._primary:
            self.count += 1
        elif name == "event_page" and doc.get("descriptor") in self._primary:
            self.count += len(doc.get("seq_num") or [])
        self.elapsed = max(now - self._t0, 0.0)
        if self._progress is None:
            return
        wall = self._wall_clock()  # screen refresh pacing only; never the experiment's clock
        if name != "stop" and wall - self._last_draw < 0.1:
            return
        self._last_draw = wall
        self._progress.update(self._task, completed=min(self.elapsed, self._total), **self.fields())
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
        # a recorded run's scan_id follows on from the data folder's last one (a dry run's does not)
        md = RunEngineMetadata(data_dir / "runengine-md.json") if record else {}
        self.RE = RunEngine(md, loop=self.loop, context_managers=[], call_returns_result=True)
        self._engine_close_run = self.RE._close_run
        self.RE.register_command("close_run", self._close_run)
        self.record = record
        self.progress = progress
        self.bench: Bench | None = None
        # the catalog writer starts now, so that its start-up overlaps opening the bench
        self._writer: CatalogWriter | None = start_catalog_writer(data_dir) if record else None
        self._state: _RunState | None = None

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
            self._writer = start_catalog_writer(self.data_dir)
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
    def hazards(self) -> list[Hazard]:
        """Everything on the bench that must be off when no run needs it: the light source, the
        Parr vessel's heater and stirrer, the fluorometer's excitation shutter.  Each has its check,
        its action to make it safe, and a read-back that confirms it is safe."""
        if self.bench is None:
            return []
        hazards: list[Hazard] = []
        lamp = self.bench.devices.get("lamp")
        if lamp is not None:
            from labctl.devices.lamp import LampState

            async def lamp_off() -> None:
                await lamp.set(LampState.OFF)

            async def lamp_dark() -> str | None:
                return f"{lamp.name}: still lit after STOP" if await lamp.lit.get_value() else None

            hazards.append(Hazard("lamp", lamp.check_safe, lamp_off, lambda: lamp.expect_on, lamp_dark))
        parr = self.bench.devices.get("parr")
        if parr is not None:

            async def parr_cold() -> str | None:
                heater = await parr.heater.get_value()
                rpm = await parr.stirrer.setpoint.get_value()
                if heater or rpm:
                    return (
                        f"{parr.name}: heater {'on' if heater else 'off'}, stirrer set to {rpm:g} rpm after make-safe"
                    )
                return None

            hazards.append(Hazard("parr", parr.check_safe, parr.make_safe, lambda: parr.live, parr_cold))
        pump = self.bench.devices.get("pump")
        if pump is not None:

            async def pump_stopped() -> str | None:
                return None if not await pump.pumping() else f"{pump.name}: still pumping after STP"

            hazards.append(Hazard("pump", pump.check_safe, pump.make_safe, lambda: pump.live, pump_stopped))
        hotplate = self.bench.devices.get("hotplate")
        if hotplate is not None:

            async def heater_off() -> str | None:
                return None if not await hotplate.heating() else f"{hotplate.name}: heater still on after STOP_1"

            hazards.append(
                Hazard("hotplate", hotplate.check_safe, hotplate.make_safe, lambda: hotplate.live, heater_off)
            )
        absorbance = self.bench.devices.get("absorbance")
        if absorbance is not None:

            async def source_shuttered() -> str | None:
                return None if not await absorbance.shutter_open.get_value() else f"{absorbance.name}: shutter open"

            hazards.append(Hazard("source", _all_well, absorbance.make_safe, lambda: False, source_shuttered))
        fluor = self.bench.devices.get("fluor")
        if fluor is not None:
            from labctl.devices.fluorometer import ShutterState

            shutter = fluor.excitation.shutter

            async def close_shutter() -> None:
                await shutter.set(ShutterState.CLOSED.value)

            async def shutter_closed() -> str | None:
                state = await shutter.get_value()
                return None if state == ShutterState.CLOSED.value else f"{fluor.name}: excitation shutter {state}"

            hazards.append(Hazard("shutter", _all_well, close_shutter, lambda: False, shutter_closed))
        return hazards

    def _watchdog(self, hazards: list[Hazard]) -> Watchdog | None:
        """A watch over the hazards that have a runtime check: the lamp, the Parr vessel."""
        watched = [h for h in hazards if h.check is not _all_well]
        if not watched:
            return None
        return Watchdog(watched, request_pause=lambda: self.RE.request_pause(defer=False))

    def make_safe(self) -> list[str]:
        """Make every hazard safe and confirm it by reading back (outside a run); the failures."""
        return self.call(make_all_safe(self.hazards()), timeout=120)

    async def _close_run(self, msg: Any) -> Any:
        """The RunEngine's ``close_run``, preceded by the end-of-run safety sweep.

        Before a run closes, on every exit path, every hazard is made safe and read back; the
        stop document gets the reason labctl ended the run (bluesky leaves it empty on an
        abort) and, loudly, any failure to reach the safe state.
        """
        from bluesky.utils import Msg

        state = self._state
        if state is None:
            return await self._engine_close_run(msg)
        failures = await make_all_safe(state.hazards)
        state.swept = True
        state.safe_state_errors.extend(failures)
        reason = state.why() or msg.kwargs.get("reason") or ""
        if failures:
            failed = "SAFE STATE NOT CONFIRMED: " + "; ".join(failures)
            reason = f"{reason}; {failed}" if reason else failed
        kwargs = {**msg.kwargs, "reason": reason}
        if state.watchdog is not None and state.watchdog.reason and kwargs.get("exit_status") == "fail":
            # the interlock tripped first; what the plan raised after the bench was made safe under it (a
            # pump stopped mid-injection) is a consequence, not the cause
            kwargs["exit_status"] = "abort"
        return await self._engine_close_run(Msg(msg.command, msg.obj, *msg.args, run=msg.run, **kwargs))

    def run(
        self,
        plan: Generator[Any, Any, Any],
        *,
        md: dict[str, Any] | None = None,
        msg_log: Callable[[float, Any], None] | None = None,
    ) -> RunOutcome:
        """Run ``plan`` to its end, whatever happens; return what it left behind.

        Every way a run can end (success, a plan error, Ctrl-C, SIGTERM, SIGHUP, an interlock
        trip, a disk that fills) ends with every hazard made safe and read back, and a stop
        document whose ``reason`` says what happened, in the JSON-lines file and the catalog.
        """
        from bluesky.utils import RunEngineInterrupted

        docs: Documents = []
        uids: list[str] = []

        def keep(name: str, doc: dict[str, Any]) -> None:
            if name == "start":
                uids.append(doc["uid"])
            if not self.record or name not in ("event", "event_page"):
                docs.append((name, doc))

        state = _RunState(self.hazards())
        watchdog = state.watchdog = self._watchdog(state.hazards)
        self._state = state
        subs = [self.RE.subscribe(keep)]
        jsonl = catalog_writer = None
        if self.record:
            jsonl = JsonLinesWriter(self.data_dir / "runs", on_error=self._on_disk_error)
            catalog_writer = self._catalog_writer()
            subs += [self.RE.subscribe(jsonl), self.RE.subscribe(catalog_writer)]
        subs.append(self.RE.subscribe(_Progress(self.progress)))

        def hook(msg: Any) -> None:
            if self.RE.state == "pausing":
                # A pause (Ctrl-C, a signal, a tripped interlock, a full disk) cancels the engine's
                # task; on Python 3.11 asyncio.wait_for drops a cancel that lands as the read it
                # awaits completes, and the engine would go on running the plan, 'pausing', to its
                # end.  The engine takes this as the pause's cancel: it pauses before this message.
                raise asyncio.CancelledError
            if watchdog is not None and msg.command == "set":
                watchdog.poke()  # a hazard may just have become live (lamp lit, heater on)
            if msg_log is not None:
                msg_log(self.loop.time(), msg)

        self.RE.msg_hook = hook
        old_handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                old_handlers[sig] = signal.signal(sig, self._on_signal)
        t_wall, t_loop = time.perf_counter(), self.loop.time()
        reason = ""
        try:
            if watchdog is not None:
                self.call(_start(watchdog))
            self._set_accelerate(True)
            try:
                with lean_plans.installed():
                    self.RE(plan, **(md or {}))
            except RunEngineInterrupted:
                try:
                    self.RE.abort(reason=state.why() or "paused")
                except Exception as exc:
                    logger.error("abort cleanup raised: %s", exc)
            except Exception as exc:  # plan failure: the stop document has it, as bluesky words it
                logger.info("plan ended with %s: %s", type(exc).__name__, exc)
                reason = _explain(exc)
        finally:
            self._set_accelerate(False)
            if watchdog is not None:
                self.loop.call_soon_threadsafe(watchdog.cancel)
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
            self.RE.msg_hook = None
            for token in subs:
                self.RE.unsubscribe(token)
            if not state.swept:  # no run reached its close (it never opened, or the engine broke)
                state.safe_state_errors.extend(self._sweep_after(state))
            if catalog_writer is not None:
                catalog_writer.drain()
            if jsonl is not None:
                jsonl.close()
            self._state = None
        stop = next((d for n, d in docs if n == "stop"), {})
        start = next((d for n, d in docs if n == "start"), {})
        exit_status = stop.get("exit_status", "fail" if docs else "not started")
        reason = state.why() or reason or stop.get("reason", "")
        if state.safe_state_errors and "SAFE STATE NOT CONFIRMED" not in reason:
            reason = (
                (f"{reason}; " if reason else "") + "SAFE STATE NOT CONFIRMED: " + "; ".join(state.safe_state_errors)
            )
        files = [self.data_dir / "runs" / f"{uid}.jsonl" for uid in uids] if self.record else []
        catalog_errors = _take(catalog_writer.errors) if catalog_writer else []
        if catalog_errors:
            catalog_errors += self._repair(files)
        if catalog_writer is not None and not catalog_writer.alive:
            self._writer = None  # a new worker for the next run
        return RunOutcome(
            uid=start.get("uid"),
            exit_status=exit_status,
            reason=reason,
            kept=docs,
            virtual_s=self.loop.time() - t_loop,
            wall_s=time.perf_counter() - t_wall,
            jsonl=(self.data_dir / "runs" / f"{start['uid']}.jsonl") if self.record and start else None,
            catalog_errors=catalog_errors,
            safe_state_errors=list(state.safe_state_errors),
            files=files,
            disk_error=jsonl.error if jsonl is not None else None,
        )

    def _sweep_after(self, state: _RunState) -> list[str]:
        try:
            return self.call(make_all_safe(state.hazards), timeout=120)
        except Exception as exc:
            return [f"make-safe after the run: {type(exc).__name__}: {exc}"]

    def _repair(self, files: list[Path]) -> list[str]:
        """Complete the catalog from the JSON-lines files after a failed catalog write."""
        from labctl.catalog import open_catalog, repair_run

        notes = []
        try:
            with open_catalog(self.data_dir) as client:
                for path in files:
                    if path.exists():
                        notes.append(f"{path.stem}: catalog {repair_run(client, path)} from its JSON-lines file")
        except Exception as exc:
            notes.append(f"catalog not repaired ({type(exc).__name__}: {exc}); run `labctl runs repair`")
        return notes

    def _interrupt_run(self, why: str) -> None:
        """End the running plan with this reason, from any thread (signal handler, writer)."""
        state = self._state
        if state is None or state.interrupt is not None:
            return
        state.interrupt = why
        threading.Thread(target=lambda: _quiet(lambda: self.RE.request_pause(defer=False)), daemon=True).start()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._interrupt_run(SIGNAL_REASONS.get(signum, f"stopped by signal {signum}"))

    def _on_disk_error(self, message: str) -> None:
        self._interrupt_run(f"disk: {message}")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SIGNAL_REASONS = {
    signal.SIGINT: "interrupted by the operator (Ctrl-C)",
    signal.SIGTERM: "terminated (SIGTERM: the system, a scheduler or a service manager asked labctl to stop)",
    signal.SIGHUP: "hung up (SIGHUP: the terminal or the session that started labctl closed)",
}


@dataclass
class _RunState:
    """What a run's end needs to know: its hazards, its watchdog, and why it was stopped."""

    hazards: list[Hazard]
    watchdog: Watchdog | None = None
    interrupt: str | None = None
    swept: bool = False
    safe_state_errors: list[str] = field(default_factory=list)

    def why(self) -> str | None:
        """The reason labctl ended the run (None: it ended on its own)."""
        if self.watchdog is not None and self.watchdog.reason:
            return f"interlock tripped: {self.watchdog.reason}"
        return self.interrupt


async def _all_well() -> str | None:
    return None


async def make_all_safe(hazards: list[Hazard]) -> list[str]:
    """Make every hazard safe, each on its own, then read each back; the failures, by name."""
    failures: list[str] = []
    for hazard in hazards:
        try:
            await hazard.make_safe()
        except Exception as exc:
            failures.append(f"{hazard.name}: could not be made safe ({type(exc).__name__}: {exc})")
            continue
        if hazard.confirm is None:
            continue
        try:
            why = await hazard.confirm()
        except Exception as exc:
            why = f"{hazard.name}: read-back failed ({type(exc).__name__}: {exc})"
        if why:
            failures.append(why)
    for failure in failures:
        logger.error("safe state not reached: %s", failure)
    return failures


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


_spawn_lock = threading.Lock()


@contextlib.contextmanager
def _spawn_without_main() -> Iterator[None]:
    """Processes started within do not re-run the ``__main__`` module in the child.

    The ``spawn`` start method re-imports the parent's main script in the child so that functions
    defined there can be unpickled.  A user's script without an ``if __name__ == "__main__":``
    guard would then run again in the child, whose attempt to start its own worker fails
    ("An attempt has been made to start a new process before the current process has finished
    its bootstrapping phase").  The catalog worker's target lives in ``labctl.catalog``, so its
    child never needs the main module: it starts as ``python -c`` would.
    """
    from multiprocessing import spawn

    with _spawn_lock:
        original = spawn.get_preparation_data

        def preparation_data(name: str) -> dict[str, Any]:
            data = original(name)
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
            return data

        spawn.get_preparation_data = preparation_data
        try:
            yield
        finally:
            spawn.get_preparation_data = original


def start_catalog_writer(data_dir: Path) -> CatalogWriter:
    """A :class:`~labctl.catalog.CatalogWriter` whose worker starts from any caller: the CLI, a
    plain script without a ``__main__`` guard, IPython or a notebook."""
    with _spawn_without_main():
        return CatalogWriter(data_dir)


class RunEngineMetadata(MutableMapping[str, Any]):
    """``RE.md`` kept in a JSON file of the data folder, so ``scan_id`` goes on across sessions.

    Every read sees the file as it is now and every write replaces it atomically under a lock,
    so two sessions on one data folder (the CLI and IPython, say) never reuse a scan_id.  Values
    that are not JSON are stored as their ``str``.  (``bluesky.utils.PersistentDict`` needs zict,
    which allows one process per folder.)
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            data = self._load()
            yield data
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(data, default=str, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        with self._editing() as data:
            data[key] = value

    def __delitem__(self, key: str) -> None:
        with self._editing() as data:
            del data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"RunEngineMetadata({self._load()!r})"
