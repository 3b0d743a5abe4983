"""Where runs land: a JSON-lines file per run (flushed per document) and the embedded Tiled catalog.

The data folder (``--data-dir``, else ``$LABCTL_DATA_DIR``, else ``$XDG_DATA_HOME/labctl`` or
``~/.local/share/labctl``) holds::

    catalog.db        Tiled catalog (SQLite): run metadata and structure
    tables.sqlite     Tiled table storage (event data)
    files/            Tiled file storage
    runs/<uid>.jsonl  every document of every run, in order, one JSON object per line
    reports/<uid>/    figures of merit and plots
    calibrations/     GC calibrations (one JSON per gas and bench)
    tiled-serve.yml   Tiled server configuration of this catalog (``tiled serve config``)

The catalog is a standard Tiled catalog whose root carries the ``CatalogOfBlueskyRuns`` spec:
``tiled serve catalog DATA/catalog.db -r DATA/files -r sqlite:///DATA/tables.sqlite --public``
serves it (both storages, or no event can be read), ``tiled serve config DATA/tiled-serve.yml``
serves it with that root spec, and :func:`open_catalog` returns the ordinary Tiled client
(databroker's ``CatalogOfBlueskyRuns`` and ``BlueskyRun`` objects: ``cat[-1]``, ``cat[scan_id]``,
``run["primary"].read()`` gives xarray, with each variable's units from its descriptor).
A run is written to the catalog by bluesky-tiled-plugins' ``TiledWriter`` in a worker process,
so the RunEngine never waits on the database; the JSON-lines file is written on the spot, so a crash loses nothing
already measured, and :func:`ingest_jsonl` can replay it into the catalog.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import queue
import re
import shutil
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def default_data_dir() -> Path:
    env = os.environ.get("LABCTL_DATA_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "labctl"


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, set | tuple):
        return list(obj)
    return str(obj)


class JsonLinesWriter:
    """Bluesky callback: append every document to ``<folder>/<run uid>.jsonl``, flushed per document.

    The open file holds an exclusive ``flock`` for as long as its run is open, so that
    :func:`unclosed_runs` can tell a run being written (locked) from one whose writer died
    (SIGKILL, power loss).  A write that fails (a full or read-only disk) never raises into the
    RunEngine, which would end the run with no stop document: the error is kept in ``error`` and
    ``on_error`` is called once, so the session can end the run safely; the documents already on
    disk stay there.
    """

    def __init__(self, folder: Path, *, on_error: Callable[[str], None] | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file: Any = None
        self.path: Path | None = None
        self.error: str | None = None
        self._on_error = on_error

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        try:
            if name == "start":
                self.close()
                self.error = None
                self.path = self.folder / f"{doc['uid']}.jsonl"
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            if self._file is None or (self.error is not None and name != "stop"):
                return
            self._file.write(json.dumps({"name": name, "doc": doc}, default=_json_default) + "\n")
            self._file.flush()
            if name == "stop":
                os.fsync(self._file.fileno())
                self.close()
        except OSError as exc:
            self._failed(name, exc)

    def _failed(self, name: str, exc: OSError) -> None:
        first = self.error is None
        free = _free_bytes(self.folder)
        self.error = (
            f"could not write the {name} document to {self.path or self.folder} "
            f"({exc.strerror or exc}; {free / 1e6:.1f} MB free on that disk)"
        )
        logger.error("%s", self.error)
        if name == "stop":
            self.close()
        if first and self._on_error is not None:
            self._on_error(self.error)

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:  # the last buffered bytes could not reach the disk
                logger.error("closing %s: %s", self.path, exc)
            self._file = None


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 0


def read_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Documents of a JSON-lines run file.

    A torn line (a crash mid-write) or a line that is not valid UTF-8 (a disk error) is skipped
    with a warning; every whole line before and after it is read.
    """
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                item = json.loads(raw.decode("utf-8"))
                yield item["name"], item["doc"]
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
                logger.warning("%s: skipping line %d, which is not a whole document", path, number)


class Catalog:
    """The embedded Tiled catalog of a data folder (opened in-process, no server, no port)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._context: Any = None
        self.client: Any = None

    def open(self) -> Catalog:
        import warnings

        from tiled.catalog import from_uri
        from tiled.client import Context, from_context
        from tiled.server.app import build_app

        d = self.data_dir
        (d / "files").mkdir(parents=True, exist_ok=True)
        db = d / "catalog.db"
        if db.exists() and _unfinished(db):
            _set_aside(db)
        if db.exists():
            relocate_catalog(d)
        write_serve_config(d)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adapter = from_uri(
                f"sqlite:///{db}",
                writable_storage=[f"file://{d / 'files'}", f"sqlite:///{d / 'tables.sqlite'}"],
                init_if_not_exists=not db.exists(),
                specs=[{"name": ROOT_SPEC, "version": ROOT_SPEC_VERSION}],
            )
            self._context = Context.from_app(build_app(adapter))
            self.client = from_context(self._context, structure_clients=structure_clients())
        return self

    def close(self) -> None:
        if self._context is not None:
            self._context.close()
            self._context = None
            self.client = None


# The catalog root's spec: databroker's and bluesky-tiled-plugins' clients then give the root as a
# CatalogOfBlueskyRuns (``cat[-1]``, ``cat[scan_id]``, ``cat[uid[:8]]``, ``cat.v1``).  Tiled keeps
# the root's specs in the server's configuration, not in catalog.db, so every open (and a served
# catalog's configuration, see :func:`write_serve_config`) sets it.
ROOT_SPEC = "CatalogOfBlueskyRuns"
ROOT_SPEC_VERSION = "3.0"


def structure_clients() -> dict[str, Any]:
    """Tiled's client classes for this catalog: the standard ones, with event streams whose
    ``read()`` gives each variable its descriptor's ``units`` (and ``description``, ``source``,
    ``shape``) as xarray attributes.

    Tiled builds the Dataset of a stream without attributes; the units live in the stream's
    descriptor (``data_keys``), which is the stream node's metadata.  Pass the result as
    ``structure_clients=`` to ``tiled.client.from_uri``/``from_context`` to get the same from a
    served catalog.
    """
    from bluesky_tiled_plugins.clients.bluesky_event_stream import BlueskyEventStreamV3
    from tiled.client.container import DEFAULT_STRUCTURE_CLIENT_DISPATCH, Container

    if Container.STRUCTURE_CLIENTS_FROM_ENTRYPOINTS is None:
        Container.discover_clients_from_entrypoints()

    class EventStreamWithUnits(BlueskyEventStreamV3):
        def read(self, *args: Any, **kwargs: Any) -> Any:
            return with_units(super().read(*args, **kwargs), self.metadata)

    clients = dict(DEFAULT_STRUCTURE_CLIENT_DISPATCH["numpy"])
    clients["BlueskyEventStream"] = EventStreamWithUnits
    return clients


def with_units(ds: Any, metadata: Mapping[str, Any]) -> Any:
    """Copy each data key's ``units``/``description``/``source``/``shape`` from a stream's
    descriptor metadata onto the variables of its xarray Dataset (in place; returns it)."""
    keys = metadata.get("data_keys") or {}
    for name in ds.data_vars:
        dk = keys.get(name)
        if not dk:
            continue
        for attr in ("units", "description", "source", "shape", "dtype_numpy"):
            value = dk.get(attr)
            if value not in (None, ""):
                ds[name].attrs[attr] = value
    return ds


SERVE_CONFIG = "tiled-serve.yml"


def serve_commands(data_dir: Path) -> tuple[list[str], list[str]]:
    """The two ways to serve a data folder's catalog with Tiled's own server (read-only for
    anonymous clients): ``tiled serve catalog`` with the file *and* table storage (a plain
    container of runs), and ``tiled serve config`` with the configuration this module keeps in
    the folder (the same, with the CatalogOfBlueskyRuns root: ``cat[-1]``, ``cat[scan_id]``)."""
    d = Path(data_dir).resolve()
    plain = [
        "tiled", "serve", "catalog", str(d / "catalog.db"),
        "-r", str(d / "files"), "-r", f"sqlite:///{d / 'tables.sqlite'}", "--public",
    ]  # fmt: skip
    return plain, ["tiled", "serve", "config", str(d / SERVE_CONFIG)]


def write_serve_config(data_dir: Path) -> Path:
    """Write (or bring up to date, after the folder moved) ``tiled-serve.yml`` in the data folder:
    Tiled's server configuration for this catalog, with its root's CatalogOfBlueskyRuns spec,
    both storages readable and anonymous reading allowed (writing still needs the server's API
    key).  ``tiled serve config DATA/tiled-serve.yml [--port N]`` serves it."""
    d = Path(data_dir).resolve()
    path = d / SERVE_CONFIG
    db_uri, tables_uri = f"sqlite:///{d / 'catalog.db'}", f"sqlite:///{d / 'tables.sqlite'}"
    text = (
        "# Tiled server configuration of this labctl catalog (rewritten by labctl when the folder moves)\n"
        "# serve with: tiled serve config tiled-serve.yml [--host 127.0.0.1] [--port 8000]\n"
        "authentication:\n"
        "  allow_anonymous_access: true\n"
        "trees:\n"
        "  - path: /\n"
        "    tree: catalog\n"
        "    args:\n"
        f"      uri: {json.dumps(db_uri)}\n"
        "      readable_storage:\n"
        f"        - {json.dumps(str(d / 'files'))}\n"
        f"        - {json.dumps(tables_uri)}\n"
        "      specs:\n"
        f"        - name: {ROOT_SPEC}\n"
        f'          version: "{ROOT_SPEC_VERSION}"\n'
    )
    try:
        if path.exists() and path.read_text(encoding="utf-8") == text:
            return path
        tmp = path.with_name(f".{SERVE_CONFIG}.{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a read-only or full disk: the catalog itself still opens
        logger.warning("could not write %s: %s", path, exc)
    return path


def _unfinished(db: Path) -> bool:
    """Whether a catalog file's creation was cut short: Tiled stamps its revision last, after the tables.

    Tiled creates a catalog in a ``tiled catalog init`` subprocess; a labctl killed meanwhile
    (SIGKILL, a Ctrl-C) leaves an empty file, or tables with no stamp, which Tiled neither opens
    nor finishes creating.  Anything else (a catalog in use, a damaged file) is left to Tiled.
    """
    if db.stat().st_size == 0:
        return True
    try:
        con = sqlite3.connect(db, timeout=30)
        try:
            return con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 0
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        return "no such table" in str(exc)
    except sqlite3.Error:
        return False


def _set_aside(db: Path) -> None:
    """Remove an empty catalog file, or rename one left unfinished, so that it is created again."""
    if db.stat().st_size == 0:
        db.unlink()
        logger.warning("%s was empty (its creation was cut short); it is created again", db)
        return
    aside = db.with_name(f"{db.name}.unfinished-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("-wal", "-shm"):
        side = db.with_name(db.name + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    db.rename(aside)
    logger.warning("%s has no revision stamp (its creation was cut short): kept as %s, created again", db, aside.name)


@contextmanager
def open_catalog(data_dir: Path) -> Iterator[Any]:
    """The Tiled client of the data folder's catalog (a container of BlueskyRuns)."""
    cat = Catalog(data_dir).open()
    try:
        yield cat.client
    finally:
        cat.close()


def relocate_catalog(data_dir: Path) -> bool:
    """Point a copied or moved catalog at the storage beside it; True if anything was rewritten.

    Tiled records each data source's storage as an absolute URI (``sqlite://localhost/<old
    folder>/tables.sqlite``, ``file://localhost/<old folder>/files/...``), so a data folder that
    was copied or moved would read its run metadata but not one row of data.  The folder a
    catalog was written in is read off its table storage's URI, and every URI under it is
    rewritten to this folder.
    """
    here = str(Path(data_dir).resolve())
    with sqlite3.connect(Path(here) / "catalog.db") as db:
        try:
            assets = db.execute("SELECT id, data_uri FROM assets").fetchall()
        except sqlite3.Error:  # a catalog with no assets table yet
            return False
        split = {i: _split_uri(uri) for i, uri in assets}
        old_roots = {
            path.removesuffix("/tables.sqlite") for _, path in split.values() if path.endswith("/tables.sqlite")
        }
        old_roots.discard(here)
        for old in old_roots:
            for i, (head, path) in split.items():
                if path.startswith(old + "/"):
                    db.execute("UPDATE assets SET data_uri = ? WHERE id = ?", (head + here + path[len(old) :], i))
            logger.info("catalog in %s was written in %s; its storage paths now point here", here, old)
    return bool(old_roots)


def _split_uri(uri: str) -> tuple[str, str]:
    """``sqlite://localhost//a/b`` -> (``sqlite://localhost/``, ``/a/b``): the part before the
    absolute path, kept as Tiled wrote it, and the path."""
    _, sep, rest = uri.partition("://")
    if not sep:
        return "", uri
    path = "/" + rest.partition("/")[2].lstrip("/")
    return uri[: len(uri) - len(path)], path


class CatalogWriter:
    """Bluesky callback: write documents into the catalog from a separate process.

    The RunEngine's thread only enqueues (a pickle onto a pipe); a worker *process* runs
    bluesky-tiled-plugins' ``TiledWriter`` against the data folder's catalog, so writing the
    database never competes with the RunEngine for the interpreter lock.  Events are written in
    batches by time: whatever arrived is in the catalog within ``flush_s`` (and a stop document
    at once), so a killed run loses at most that much from the catalog, and the JSON-lines file
    has it all.  ``drain()`` waits until everything enqueued is written (called at the end of a
    run, on every exit path) and gives up at once if the worker is gone.  A failed write is kept
    in ``errors`` without stopping the run: :func:`repair_run` completes the catalog from the
    JSON-lines file.

    The worker ignores the terminal's signals (a Ctrl-C goes to the whole process group: the
    run, not its writer, decides what a Ctrl-C means) and exits as soon as its parent is gone.
    """

    def __init__(self, data_dir: Path, *, flush_s: float = 0.5) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._docs: Any = ctx.Queue()
        self._replies: Any = ctx.Queue()
        self._process = ctx.Process(
            target=_catalog_worker,
            args=(str(data_dir), flush_s, self._docs, self._replies, os.getpid()),
            name="labctl-catalog",
            daemon=True,
        )
        self._process.start()
        self.errors: list[str] = []
        self._flushes = 0

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if self._process.is_alive():
            self._docs.put((name, doc))

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def drain(self, timeout: float = 600.0) -> None:
        """Block until the worker has written everything enqueued so far (or has died)."""
        if not self._process.is_alive():
            self.errors.append(_DEAD_WORKER)
            return
        self._flushes += 1
        token = self._flushes
        self._docs.put(("__flush__", token))
        deadline = time.monotonic() + timeout
        while True:
            try:
                kind, payload = self._replies.get(timeout=0.2)
            except queue.Empty:
                if not self._process.is_alive():
                    self.errors.append(_DEAD_WORKER)
                    return
                if time.monotonic() > deadline:
                    self.errors.append(f"catalog writer did not confirm within {timeout:g} s")
                    return
                continue
            if kind == "error":
                self.errors.append(payload)
            elif kind == "flushed" and payload == token:
                return

    def close(self) -> None:
        if self._process.is_alive():
            self.drain()
            self._docs.put(None)
            self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self._docs.close()
        self._replies.close()
        self._docs.cancel_join_thread()  # never block an exit on a pipe nobody reads


_DEAD_WORKER = "the catalog writer process is gone; `labctl runs repair` completes the catalog from the JSON-lines file"


class _TimedTiledWriter:
    """A ``TiledWriter`` whose cached events are written by time, not only by count.

    ``TiledWriter`` caches events per stream and writes them ``batch_size`` at a time (one
    write costs tens of ms, so writing each event alone is far too slow); it has no public way
    to write what it holds.  :meth:`flush` writes each run's cached rows through the run
    writer's own method.  The run writers are found by their type among the callbacks the
    normalizer feeds, which is how bluesky-tiled-plugins 2.0 wires them (pinned in
    pyproject.toml); if that changes, the writer falls back to batches by count and says so.
    """

    def __init__(self, client: Any) -> None:
        from bluesky_tiled_plugins import TiledWriter
        from bluesky_tiled_plugins.writing import tiled_writer as tw

        self._run_writer_type = getattr(tw, "_RunWriter", None)
        self._run_writers: dict[str, Any] = {}
        outer = self

        class _Writer(TiledWriter):  # type: ignore[misc]
            def _factory(self, name: str, doc: dict[str, Any]) -> Any:
                cbs, subs = super()._factory(name, doc)
                outer._remember(doc["uid"], cbs)
                return cbs, subs

        self.writer = _Writer(client, batch_size=100_000)

    def _remember(self, uid: str, callbacks: list[Any]) -> None:
        for cb in callbacks:
            for target in [cb, *getattr(cb, "_token_refs", {}).values()]:
                if self._run_writer_type is not None and isinstance(target, self._run_writer_type):
                    self._run_writers[uid] = target
                    return
        logger.warning("catalog events will be written in batches of 100,000 (run writer not found)")

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        self.writer(name, doc)
        if name == "stop":
            self._run_writers.pop(doc.get("run_start", ""), None)

    def flush(self) -> None:
        for rw in list(self._run_writers.values()):
            for desc_name, cache in rw._internal_data_cache.items():
                if cache:
                    rw._write_internal_data(cache, desc_node=rw._desc_nodes[desc_name])
                    cache.clear()


def _parent_gone(parent_pid: int) -> bool:
    return os.getppid() != parent_pid


def _catalog_worker(data_dir: str, flush_s: float, docs: Any, replies: Any, parent_pid: int) -> None:
    """Worker process: feed documents to a TiledWriter, writing cached events every ``flush_s``."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    if os.environ.get("LABCTL_LIBRARY_LOGS", "quiet") != "shown":  # the CLI's -v shows them
        import tiled.server.app  # noqa: F401  (it sets its own logger to INFO, with a handler, on import)

        logging.getLogger("tiled.server.app").setLevel(logging.WARNING)
    try:  # Linux: be told when the parent dies, whatever killed it
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if _parent_gone(parent_pid):
        return
    cat = Catalog(Path(data_dir)).open()
    writer = _TimedTiledWriter(cat.client)
    due: float | None = None

    def report(what: str, exc: Exception) -> None:
        logger.error("catalog write failed for %s: %s", what, exc)
        with suppress(OSError, ValueError):
            replies.put(("error", f"{what}: {type(exc).__name__}: {exc}"))

    try:
        while True:
            try:
                item = docs.get(timeout=0.1 if due is None else max(0.0, due - time.monotonic()))
            except queue.Empty:
                item = "__tick__"
            except (EOFError, OSError):  # the parent is gone
                return
            if item is None:
                return
            if item == "__tick__":
                if _parent_gone(parent_pid):
                    return
            else:
                name, doc = item
                if name == "__flush__":
                    try:
                        writer.flush()
                    except Exception as exc:
                        report("events", exc)
                    due = None
                    replies.put(("flushed", doc))
                    continue
                try:
                    writer(name, doc)
                except Exception as exc:
                    report(f"a {name} document", exc)
                if name == "event" and due is None:
                    due = time.monotonic() + flush_s
            if due is not None and time.monotonic() >= due:
                try:
                    writer.flush()
                except Exception as exc:
                    report("events", exc)
                due = None
    finally:
        cat.close()


# -- recovery -----------------------------------------------------------------------------------
def is_locked(path: Path) -> bool:
    """Whether a live writer holds this run file (its run is still going)."""
    try:
        with open(path, "rb") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def jsonl_closed(path: Path) -> bool:
    """Whether a run's JSON-lines file ends with its stop document (read from its tail only)."""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - 65536))
        lines = [line for line in fh.read().splitlines() if line.strip()]
    return bool(lines) and lines[-1].startswith(b'{"name": "stop"')


def unclosed_runs(data_dir: Path) -> list[Path]:
    """Run files with no stop document whose writer is gone (killed, or the power failed)."""
    folder = Path(data_dir) / "runs"
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.glob("*.jsonl")) if not jsonl_closed(p) and not is_locked(p)]


INTERRUPTED = "interrupted"


def close_unclosed_run(path: Path) -> dict[str, Any] | None:
    """Append the stop document a killed run never wrote: ``exit_status='abort'``, the reason, the
    bench time of its last point, and the events it has per stream.  A torn last line is cut off
    first (everything before it is kept).  Returns the stop document, or None if the file holds no
    start document.
    """
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        with path.open("r+b") as fh:
            fh.truncate(cut)
    start: dict[str, Any] | None = None
    streams: dict[str, str] = {}
    counts: dict[str, int] = {}
    last = 0.0
    bench_s: float | None = None  # the bench clock's elapsed time at the last point, where recorded
    for name, doc in read_jsonl(path):
        if name == "start":
            start = doc
            last = float(doc.get("time", 0.0))
        elif name == "descriptor":
            streams[doc["uid"]] = doc.get("name", "primary")
            counts.setdefault(streams[doc["uid"]], 0)
        elif name in ("event", "event_page"):
            stream = streams.get(doc["descriptor"], "primary")
            times = doc["time"] if name == "event_page" else [doc["time"]]
            counts[stream] = counts.get(stream, 0) + len(times)
            last = max([last, *map(float, times)])
            elapsed = doc["data"].get("clock-elapsed")
            if elapsed is not None:
                bench_s = max(bench_s or 0.0, *(elapsed if name == "event_page" else [elapsed]))
    if start is None:
        return None
    elapsed_s = bench_s if bench_s is not None else last - float(start.get("time", last))
    stop = {
        "run_start": start["uid"],
        "time": last,
        "uid": str(uuid.uuid4()),
        "exit_status": "abort",
        "reason": (
            f"{INTERRUPTED}: labctl stopped without closing the run (killed, or the power failed); it was "
            f"closed when labctl next started; its last point is at {hms(elapsed_s)} of bench time"
        ),
        "num_events": counts,
    }
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"name": "stop", "doc": stop}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return stop


def hms(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _jsonl_summary(path: Path) -> tuple[str, dict[str, int] | None]:
    """(run uid, num_events of its stop document or None) of a run file, read from its ends."""
    with path.open("rb") as fh:
        first = json.loads(fh.readline().decode("utf-8"))
    uid = first["doc"]["uid"] if first.get("name") == "start" else ""
    if not jsonl_closed(path):
        return uid, None
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - 65536))
        last = json.loads(fh.read().splitlines()[-1].decode("utf-8"))
    return uid, dict(last["doc"].get("num_events") or {})


def catalog_complete(client: Any, uid: str, num_events: Mapping[str, int]) -> bool:
    """Whether the catalog holds the run, closed, with every event of each stream."""
    if uid not in client:
        return False
    run = client[uid]
    stop = run.metadata.get("stop")
    if not stop:
        return False
    for stream, n in num_events.items():
        if n == 0:
            continue
        if stream not in run:
            return False
        try:
            rows = _stream_rows(run[stream].base)
        except Exception:
            return False
        if rows is not None and rows < n:
            return False
    return True


def _stream_rows(node: Any) -> int | None:
    """Rows written to a stream's event table (None when the stream has no table)."""
    if "internal" not in node:
        return None
    return len(node["internal"].read(columns=["seq_num"]))


def repair_run(client: Any, path: Path) -> str:
    """Make the catalog's copy of a run match its JSON-lines file; returns what was done.

    Idempotent: a run the catalog holds whole is left alone ("ok"); one it lacks is written
    ("added"); one it holds in part (a killed writer, a failed write) is removed and written
    again from the file ("rewritten").  A file with no stop document is closed first
    (:func:`close_unclosed_run`), unless its run is still being written ("running").
    """
    if not jsonl_closed(path):
        if is_locked(path):
            return "running"
        if close_unclosed_run(path) is None:
            return "empty"
    uid, num_events = _jsonl_summary(path)
    if not uid:
        return "empty"
    _check_run_uid(uid, path)
    if catalog_complete(client, uid, num_events or {}):
        return "ok"
    done = "rewritten" if uid in client else "added"
    if uid in client:
        client.delete_contents(uid, recursive=True, external_only=False)
    ingest_jsonl(client, path)
    return done


def repair_data_dir(data_dir: Path, uids: list[str] | None = None) -> dict[str, str]:
    """Repair every run of a data folder (or those named): close the unclosed, complete the catalog."""
    folder = Path(data_dir) / "runs"
    paths = [folder / f"{u}.jsonl" for u in uids] if uids else sorted(folder.glob("*.jsonl"))
    done: dict[str, str] = {}
    with open_catalog(Path(data_dir)) as client:
        for path in paths:
            try:
                done[path.stem] = repair_run(client, path)
            except Exception as exc:
                done[path.stem] = f"failed: {type(exc).__name__}: {exc}"
    return done


def ingest_jsonl(client: Any, path: Path) -> str:
    """Replay a JSON-lines run file into the catalog (recovery); returns the run uid."""
    from bluesky_tiled_plugins import TiledWriter

    writer = TiledWriter(client)
    uid = ""
    for name, doc in read_jsonl(path):
        if name == "start":
            uid = _check_run_uid(doc["uid"], path)
        writer(name, doc)
    return uid


_RUN_UID = re.compile(r"[0-9a-fA-F-]{1,36}")


def _check_run_uid(uid: Any, path: Path) -> str:
    """A run file's start uid, if it is one (hex digits and '-'): the catalog takes it as a path."""
    if not isinstance(uid, str) or not _RUN_UID.fullmatch(uid):
        raise ValueError(f"{path.name}: its start document's uid {uid!r} is not a run uid; not put in the catalog")
    return uid
