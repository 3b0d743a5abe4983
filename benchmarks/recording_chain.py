"""Per-event cost of labctl's recording chain vs a bare RunEngine with a no-op callback.

Both run the same plan (``count`` of an ophyd-async readable, N events) on their own
RunEngine.  "ours" subscribes the JSON-lines writer (flushed per document), the catalog writer
(enqueue on the RunEngine thread, TiledWriter on a worker thread) and the progress callback.
Printed: wall per event on the RunEngine's path, and the extra time to drain the catalog.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import bluesky.plans as bp
from bluesky import RunEngine
from ophyd_async.core import StandardReadable, soft_signal_rw

from labctl.catalog import Catalog, CatalogWriter, JsonLinesWriter
from labctl.session import _Progress

N = 2000


class Det(StandardReadable):
    def __init__(self, name: str = "") -> None:
        with self.add_children_as_readables():
            self.a = soft_signal_rw(float, 1.0, units="umol")
            self.b = soft_signal_rw(float, 2.0, units="uV*s")
        super().__init__(name=name)


def timed(RE: RunEngine, det: Det) -> float:
    t0 = time.perf_counter()
    RE(bp.count([det], num=N))
    return time.perf_counter() - t0


def main() -> None:
    bare = RunEngine({}, context_managers=[])
    det = Det(name="det")
    asyncio.run_coroutine_threadsafe(det.connect(), bare.loop).result()
    bare.subscribe(lambda name, doc: None)
    timed(bare, det)  # warm-up
    t_bare = timed(bare, det)

    with tempfile.TemporaryDirectory() as tmp:
        cat = Catalog(Path(tmp)).open()
        ours = RunEngine({}, context_managers=[])
        det2 = Det(name="det")
        asyncio.run_coroutine_threadsafe(det2.connect(), ours.loop).result()
        writer = CatalogWriter(cat.client)
        ours.subscribe(JsonLinesWriter(Path(tmp) / "runs"))
        ours.subscribe(writer)
        ours.subscribe(_Progress(False))
        timed(ours, det2)
        writer.drain()
        t_ours = timed(ours, det2)
        t1 = time.perf_counter()
        writer.drain()
        t_drain = time.perf_counter() - t1
        writer.close()
        cat.close()
    print(f"bare RunEngine + no-op callback: {t_bare / N * 1e6:.0f} us/event")
    print(
        f"labctl chain (JSONL + catalog + progress): {t_ours / N * 1e6:.0f} us/event on the RunEngine path "
        f"-> ratio {t_ours / t_bare:.2f}x (target <= 1.5x); catalog drain after the run {t_drain:.2f} s"
    )


if __name__ == "__main__":
    main()
