"""The Python API: open a bench, record runs, from IPython, a notebook or a plain script.

Two ways to run labctl's devices with Bluesky:

* **The bench's own RunEngine.** ``labctl.open_bench("sim", data_dir=...)`` builds a RunEngine
  for the bench (``bench.RE``) and connects the devices on its loop.  A bench of in-process
  simulators (addresses ``"sim"``) runs in *virtual time*: while ``bench.RE`` runs a plan the
  loop's clock jumps ahead whenever nothing is ready, so a 12 h plan takes seconds.  Between
  runs the clock stands still.  Recording (JSON-lines files, the catalog, the bench's metadata)
  is attached to ``bench.RE`` unless ``record=False``.
* **Your RunEngine.** ``labctl.open_bench("sim", RE=RE)`` connects the devices on ``RE.loop``
  (ophyd-async devices live on the loop of the RunEngine that drives them).  Time is real time,
  simulated bench or not; ``labctl.record(RE, data_dir=..., bench=bench)`` attaches the recording
  and returns a handle whose ``detach()`` takes it off again.

Either way ``scan_id`` goes on from the data folder's last one (``RE.md`` of the bench's own
RunEngine is kept in the data folder; ``record`` does the same for yours unless ``md=False``),
and importing labctl changes nothing in bluesky.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labctl import lean_plans
from labctl.bench import Bench
from labctl.bench import open_bench as _connect_bench
from labctl.catalog import JsonLinesWriter, default_data_dir
from labctl.clock import VirtualTimeLoop
from labctl.config import SIM, BenchConfig, load_bench
from labctl.session import RunEngineMetadata, _cancel_tasks, start_catalog_writer

__all__ = ["BenchHandle", "Recording", "open_bench", "open_catalog", "record"]


class Recording:
    """labctl's recording attached to a RunEngine: each run to ``<data_dir>/runs/<uid>.jsonl``
    (flushed per document) and to the data folder's catalog, with the bench's metadata in the
    start document.  When a run's stop document is written it is in the catalog too.

    ``detach()`` (or leaving a ``with`` block) unsubscribes, waits for the catalog, stops its
    worker and restores ``RE.md``.  ``errors`` lists catalog writes that failed (the JSON-lines
    file has the run; ``labctl runs repair`` completes the catalog).
    """

    def __init__(self, RE: Any, data_dir: Path, *, bench: Any = None, md: bool = True) -> None:
        self.RE = RE
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.errors: list[str] = []
        self._writer = start_catalog_writer(self.data_dir)
        self._jsonl = JsonLinesWriter(self.data_dir / "runs")
        self._old_md = RE.md
        if md and not isinstance(RE.md, RunEngineMetadata):
            persistent = RunEngineMetadata(self.data_dir / "runengine-md.json")
            for key, value in dict(RE.md).items():
                if key != "scan_id" or value > persistent.get("scan_id", 0):
                    persistent[key] = value
            RE.md = persistent
        self._added: dict[str, Any] = {}
        bench_obj = getattr(bench, "bench", bench)
        if bench_obj is not None:
            for key, value in bench_obj.metadata().items():
                self._added[key] = RE.md.get(key, _MISSING)
                RE.md[key] = value
        self._tokens = [RE.subscribe(self._jsonl), RE.subscribe(self._on_document)]

    def _on_document(self, name: str, doc: dict[str, Any]) -> None:
        self._writer(name, doc)
        if name == "stop":
            self._writer.drain()
            self.errors.extend(self._writer.errors)
            self._writer.errors.clear()

    def detach(self) -> None:
        """Take the recording off the RunEngine (idempotent)."""
        if not self._tokens:
            return
        for token in self._tokens:
            self.RE.unsubscribe(token)
        self._tokens = []
        for key, old in self._added.items():
            if old is _MISSING:
                self.RE.md.pop(key, None)
            else:
                self.RE.md[key] = old
        if self.RE.md is not self._old_md:
            self._old_md["scan_id"] = self.RE.md.get("scan_id", self._old_md.get("scan_id", 0))
            self.RE.md = self._old_md
        self._jsonl.close()
        self._writer.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()


_MISSING = object()


def _folder(data_dir: Path | str | None) -> Path:
    """The data folder as an absolute path (the catalog stores its storage's absolute URI)."""
    return (Path(data_dir) if data_dir is not None else default_data_dir()).expanduser().resolve()


def record(RE: Any, *, data_dir: Path | str | None = None, bench: Any = None, md: bool = True) -> Recording:
    """Attach labctl's recording to any RunEngine; returns the handle that detaches it.

    :param RE: a ``bluesky.RunEngine``.
    :param data_dir: the data folder (catalog, JSON-lines files); labctl's default if None.
    :param bench: an open bench, whose metadata (name, limits, GC calibrations) goes in every
        start document.
    :param md: keep ``RE.md`` in the data folder so that ``scan_id`` goes on across sessions.
    """
    return Recording(RE, _folder(data_dir), bench=bench, md=md)


class BenchHandle:
    """An open bench: its devices by name (``bench.lamp``, ``bench.gc`` ...), ``bench.devices``,
    its configuration, and a RunEngine (``bench.RE``) on whose loop the devices live."""

    def __init__(
        self,
        bench: Bench,
        RE: Any,
        *,
        data_dir: Path,
        owns_loop: bool,
        recording: Recording | None,
    ) -> None:
        self.bench = bench
        self.RE = RE
        self.data_dir = data_dir
        self.recording = recording
        self._owns_loop = owns_loop

    @property
    def devices(self) -> dict[str, Any]:
        return self.bench.devices

    @property
    def config(self) -> BenchConfig:
        return self.bench.config

    @property
    def simulated(self) -> bool:
        return self.bench.simulated

    def __getattr__(self, name: str) -> Any:
        devices = self.__dict__.get("bench")
        if devices is not None and name in devices.devices:
            return devices.devices[name]
        raise AttributeError(
            f"bench has no device or attribute {name!r}; its devices: {', '.join(self.devices) if devices else ''}"
        )

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.devices))

    def metadata(self) -> dict[str, Any]:
        return self.bench.metadata()

    def load_sample(self, **sample: Any) -> None:
        """On a simulated bench, put the sample a plan describes into the model."""
        self.bench.load_sample(**sample)

    def call(self, coro: Any, timeout: float | None = None) -> Any:
        """Run a coroutine on the devices' loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.RE.loop).result(timeout)

    @contextmanager
    def catalog(self) -> Iterator[Any]:
        """The data folder's catalog (a Tiled container of BlueskyRuns): ``with bench.catalog() as cat``."""
        with open_catalog(self.data_dir) as client:
            yield client

    def close(self) -> None:
        """Detach the recording, close the instruments' connections and, if the bench made its
        RunEngine, stop its loop."""
        if self.recording is not None:
            self.recording.detach()
            self.recording = None
        loop = self.RE.loop
        if loop.is_running():
            self.call(self.bench.close(), timeout=30)
        if self._owns_loop and loop.is_running():
            self.call(_cancel_tasks(), timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread = getattr(self.RE, "_th", None)
            if thread is not None:
                thread.join(timeout=10)
            if not loop.is_running():
                loop.close()

    def __enter__(self) -> BenchHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "simulated" if self.simulated else "real"
        return f"<labctl bench {self.config.name!r} ({kind}): {', '.join(self.devices)}>"


def _bench_run_engine(loop: asyncio.AbstractEventLoop, md: Any) -> Any:
    """A RunEngine on ``loop`` that fast-forwards a virtual-time loop while it runs a plan."""
    from bluesky import RunEngine

    class BenchRunEngine(RunEngine):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            virtual = isinstance(self.loop, VirtualTimeLoop)
            with lean_plans.installed():
                if virtual:
                    self.loop.accelerate = True
                try:
                    return super().__call__(*args, **kwargs)
                finally:
                    if virtual:
                        self.loop.accelerate = False

    RE = BenchRunEngine(md, loop=loop)
    return RE


def open_bench(
    name: str | Path | BenchConfig = "sim",
    *,
    data_dir: Path | str | None = None,
    RE: Any = None,
    simulate: bool | None = None,
    speed: float | None = None,
    record: bool = True,
) -> BenchHandle:
    """Open a bench and connect its devices; use it as ``with labctl.open_bench(...) as bench:``.

    :param name: a packaged bench (``"sim"``, ``"sim-led"``), a bench ``.toml`` file, or a
        loaded :class:`~labctl.config.BenchConfig`.
    :param data_dir: the data folder (catalog, JSON-lines files, GC calibrations); labctl's
        default (``$LABCTL_DATA_DIR`` ...) if None.
    :param RE: your RunEngine: the devices connect on its loop, in real time, and nothing is
        attached to it (use :func:`record`).  If None the bench makes its own, ``bench.RE``.
    :param simulate: force the in-process simulators (a real bench's file, simulated).
    :param speed: the bench's own RunEngine only, on in-process simulators: ``math.inf``
        (virtual time, the default), a speed-up factor, or ``1`` for real time.
    :param record: attach :func:`record` to the bench's own RunEngine.
    """
    cfg = name if isinstance(name, BenchConfig) else load_bench(str(name))
    ddir = _folder(data_dir)
    ddir.mkdir(parents=True, exist_ok=True)
    in_process = simulate if simulate is not None else (cfg.lamp.address == SIM and cfg.gc.trigger_address == SIM)
    owns_loop = RE is None
    if RE is None:
        if not in_process and speed not in (None, 1, 1.0):
            raise ValueError(
                f"speed={speed!r}: time compression needs a bench of in-process simulators "
                f'(addresses "sim"); {cfg.name!r} talks to instruments across a wire, in real time'
            )
        loop: asyncio.AbstractEventLoop = (
            VirtualTimeLoop(math.inf if speed is None else speed) if in_process else asyncio.new_event_loop()
        )
        if isinstance(loop, VirtualTimeLoop):
            loop.accelerate = False
        RE = _bench_run_engine(loop, RunEngineMetadata(ddir / "runengine-md.json") if record else {})
    elif speed is not None:
        raise ValueError("speed= applies to the bench's own RunEngine; a given RE= runs in real time")
    bench = asyncio.run_coroutine_threadsafe(_connect_bench(cfg, data_dir=ddir, simulate=simulate), RE.loop).result()
    recording = Recording(RE, ddir, bench=bench) if (owns_loop and record) else None
    return BenchHandle(bench, RE, data_dir=ddir, owns_loop=owns_loop, recording=recording)


@contextmanager
def open_catalog(data_dir: Path | str | None = None) -> Iterator[Any]:
    """The data folder's catalog, a Tiled container of BlueskyRuns (``cat[-1]``, ``cat[uid]``)."""
    from labctl.catalog import open_catalog as _open

    with _open(_folder(data_dir)) as client:
        yield client
