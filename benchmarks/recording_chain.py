"""Per-event cost of labctl's recording chain vs a bare RunEngine with a no-op callback.

Both run the same plan (``count`` of an ophyd-async readable, N events) on their own
RunEngine.  "ours" subscribes the JSON-lines writer (flushed per document), the catalog writer
(enqueue on the RunEngine thread, TiledWriter on a worker thread) and the progress callback.
Printed: wall per event on the RunEngine's path (best of 3 interleaved runs each), and the
longest time the catalog took to catch up after a run.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import bluesky.plans as bp
from bluesky import RunEngine
from ophyd_async.core import StandardReadable, soft_signal_rw

from labctl.catalog import CatalogWriter, JsonLinesWriter
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

    with tempfile.TemporaryDirectory() as tmp:
        ours = RunEngine({}, context_managers=[])
        det2 = Det(name="det")
        asyncio.run_coroutine_threadsafe(det2.connect(), ours.loop).result()
        writer = CatalogWriter(Path(tmp))
        ours.subscribe(JsonLinesWriter(Path(tmp) / "runs"))
        ours.subscribe(writer)
        ours.subscribe(_Progress(True))
        timed(ours, det2)
        writer.drain()
        # interleave the two so that machine noise hits both alike; keep the best of each
        bares, ourss, drains = [], [], []
        for _ in range(3):
            bares.append(timed(bare, det))
            ourss.append(timed(ours, det2))
            t1 = time.perf_counter()
            writer.drain()
            drains.append(time.perf_counter() - t1)
        t_bare, t_ours, t_drain = min(bares), min(ourss), max(drains)
        writer.close()
    print(f"bare RunEngine + no-op callback: {t_bare / N * 1e6:.0f} us/event")
    print(
        f"labctl chain (JSONL + catalog + progress): {t_ours / N * 1e6:.0f} us/event on the RunEngine path "
        f"-> ratio {t_ours / t_bare:.2f}x (target <= 1.5x); catalog drain after the run {t_drain:.2f} s"
    )


if __name__ == "__main__":
    main()
