"""Where runs land: a JSON-lines file per run (flushed per document) and the embedded Tiled catalog.

The data folder (``--data-dir``, else ``$LABCTL_DATA_DIR``, else ``$XDG_DATA_HOME/labctl`` or
``~/.local/share/labctl``) holds::

    catalog.db        Tiled catalog (SQLite): run metadata and structure
    tables.sqlite     Tiled table storage (event data)
    files/            Tiled file storage
    runs/<uid>.jsonl  every document of every run, in order, one JSON object per line
    reports/<uid>/    figures of merit and plots
    calibrations/     GC calibrations (one JSON per gas and bench)

The catalog is a standard Tiled catalog: ``tiled serve catalog DATA/catalog.db -r DATA/files``
serves it, and :func:`open_catalog` returns the ordinary Tiled client (databroker's
``BlueskyRun`` objects, ``run["primary"].read()`` gives xarray).  A run is written to the
catalog by bluesky-tiled-plugins' ``TiledWriter`` in a worker process, so the RunEngine never
waits on the database; the JSON-lines file is written on the spot, so a crash loses nothing
already measured, and :func:`ingest_jsonl` can replay it into the catalog.
"""

from __future__ import annotations

import json
import logging
import os
import queue
from collections.abc import Iterator
from contextlib import contextmanager
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
    """Bluesky callback: append every document to ``<folder>/<run uid>.jsonl``, flushed per document."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file: Any = None
        self.path: Path | None = None

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.close()
            self.path = self.folder / f"{doc['uid']}.jsonl"
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        if self._file is None:
            return
        self._file.write(json.dumps({"name": name, "doc": doc}, default=_json_default) + "\n")
        self._file.flush()
        if name == "stop":
            os.fsync(self._file.fileno())
            self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Documents of a JSON-lines run file; a torn last line (crash mid-write) is skipped."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s: skipping a torn line at the end of the file", path)
                continue
            yield item["name"], item["doc"]


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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adapter = from_uri(
                f"sqlite:///{db}",
                writable_storage=[f"file://{d / 'files'}", f"sqlite:///{d / 'tables.sqlite'}"],
                init_if_not_exists=not db.exists(),
            )
            self._context = Context.from_app(build_app(adapter))
            self.client = from_context(self._context)
        return self

    def close(self) -> None:
        if self._context is not None:
            self._context.close()
            self._context = None
            self.client = None


@contextmanager
def open_catalog(data_dir: Path) -> Iterator[Any]:
    """The Tiled client of the data folder's catalog (a container of BlueskyRuns)."""
    cat = Catalog(data_dir).open()
    try:
        yield cat.client
    finally:
        cat.close()


class CatalogWriter:
    """Bluesky callback: write documents into the catalog from a separate process.

    The RunEngine's thread only enqueues (a pickle onto a pipe); a worker *process* runs
    bluesky-tiled-plugins' ``TiledWriter`` against the data folder's catalog, so writing the
    database never competes with the RunEngine for the interpreter lock.  ``drain()`` waits until
    everything enqueued is written (called at the end of a run, on every exit path).  A failed
    write is logged and kept in ``errors`` without stopping the run: the JSON-lines file has the
    data, and :func:`ingest_jsonl` can replay it.
    """

    def __init__(self, data_dir: Path, *, batch_size: int = 1000) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._docs: Any = ctx.Queue()
        self._replies: Any = ctx.Queue()
        self._process = ctx.Process(
            target=_catalog_worker,
            args=(str(data_dir), batch_size, self._docs, self._replies),
            name="labctl-catalog",
            daemon=True,
        )
        self._process.start()
        self.errors: list[str] = []
        self._flushes = 0

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        self._docs.put((name, doc))

    def drain(self, timeout: float = 600.0) -> None:
        """Block until the worker has written everything enqueued so far."""
        self._flushes += 1
        token = self._flushes
        self._docs.put(("__flush__", token))
        while True:
            try:
                kind, payload = self._replies.get(timeout=timeout)
            except queue.Empty:
                self.errors.append(f"catalog writer did not confirm within {timeout:g} s")
                return
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
        self._docs.close()
        self._replies.close()


def _catalog_worker(data_dir: str, batch_size: int, docs: Any, replies: Any) -> None:
    """Worker process: feed documents to a TiledWriter until told to stop."""
    from bluesky_tiled_plugins import TiledWriter

    cat = Catalog(Path(data_dir)).open()
    writer = TiledWriter(cat.client, batch_size=batch_size)
    try:
        while True:
            try:
                item = docs.get()
            except (EOFError, OSError):  # the parent is gone: what was sent has been written
                return
            if item is None:
                return
            name, doc = item
            if name == "__flush__":
                replies.put(("flushed", doc))
                continue
            try:
                writer(name, doc)
            except Exception as exc:
                logger.exception("catalog write failed for a %s document", name)
                replies.put(("error", f"{name}: {type(exc).__name__}: {exc}"))
    finally:
        cat.close()


def ingest_jsonl(client: Any, path: Path) -> str:
    """Replay a JSON-lines run file into the catalog (recovery); returns the run uid."""
    from bluesky_tiled_plugins import TiledWriter

    writer = TiledWriter(client)
    uid = ""
    for name, doc in read_jsonl(path):
        if name == "start":
            uid = doc["uid"]
        writer(name, doc)
    return uid
