"""Overnight photostability: dry-run wall time vs a bare RunEngine, and memory over a 24 h recorded run.

1. **12 h dry run** (a PL point every 10 s: 4,321 points, a spectrum every 30 min): the real plan,
   device, drivers and protocol simulators in virtual time, as ``labctl dry-run photostability``
   runs it.  Baseline: a bare RunEngine on the same virtual-time loop emitting the same events
   (same streams, fields and array sizes, from soft signals whose trigger waits one dwell, with
   the same sleeps), no subscriber but a no-op: the cost of bluesky itself.  Printed: both wall times and their ratio.
2. **24 h recorded run** (8,641 points; JSON-lines file and Tiled catalog written as measured,
   as ``labctl run`` does): resident memory of this process sampled every simulated hour;
   printed: growth from hour 1 to the end, and its slope.

Targets: dry run < 20 s and <= 1.5x the bare RunEngine; memory growth over 24 h < 50 MB.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky import RunEngine
from ophyd_async.core import Array1D, AsyncStatus, StandardReadable, soft_signal_rw

from labctl import lean_plans
from labctl.clock import VirtualTimeLoop
from labctl.config import load_bench
from labctl.experiments import get_experiment
from labctl.session import Session

PIXELS = 2048


class Point(StandardReadable):
    """The fields of ``fluor.point``; trigger = wait one dwell (what the acquisition costs in time)."""

    def __init__(self, name: str = "") -> None:
        with self.add_children_as_readables():
            self.pl = soft_signal_rw(float, 1e6, units="counts/s")
            self.peak_counts = soft_signal_rw(float, 3e4, units="counts")
            self.saturated = soft_signal_rw(bool, False)
            self.suggested_integration_time = soft_signal_rw(float, 0.2, units="s")
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        await asyncio.sleep(0.2)


class Spectrum(StandardReadable):
    def __init__(self, name: str = "") -> None:
        with self.add_children_as_readables():
            self.wavelengths = soft_signal_rw(Array1D[np.float64], np.linspace(200, 850, PIXELS), units="nm")
            self.counts = soft_signal_rw(Array1D[np.float64], np.ones(PIXELS), units="counts")
            self.corrected = soft_signal_rw(Array1D[np.float64], np.ones(PIXELS), units="photons")
            self.saturated = soft_signal_rw(bool, False)
            self.integration = soft_signal_rw(float, 0.2, units="s")
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        await asyncio.sleep(0.2)


class Clock(StandardReadable):
    def __init__(self, name: str = "") -> None:
        with self.add_children_as_readables():
            self.elapsed = soft_signal_rw(float, 0.0, units="s")
            self.origin = soft_signal_rw(float, 0.0, units="s")
        super().__init__(name=name)


def bare_plan(point: Point, spectrum: Spectrum, clock: Clock, n: int, every: int) -> Any:
    @bpp.run_decorator(md={"plan_name": "bare"})
    def inner() -> Any:
        for k in range(n):
            yield from bps.rd(clock.elapsed)
            yield from bps.sleep(10.0)
            yield from bps.checkpoint()
            yield from bps.trigger_and_read([point, clock])
            if k % every == 0 or k == n - 1:
                yield from bps.trigger_and_read([spectrum, clock], name="spectra")

    return (yield from inner())


def bare_run(n: int, every: int) -> float:
    lean_plans.install()  # the same bluesky as labctl's session runs
    loop = VirtualTimeLoop()
    RE = RunEngine({}, loop=loop, context_managers=[])  # runs the loop in its own thread
    devices = Point(name="fluor-point"), Spectrum(name="fluor-spectrum"), Clock(name="clock")
    for d in devices:
        asyncio.run_coroutine_threadsafe(d.connect(), loop).result()
    RE.subscribe(lambda name, doc: None)
    t0 = time.perf_counter()
    RE(bare_plan(*devices, n=n, every=every))
    return time.perf_counter() - t0


def dry_run(duration: str) -> tuple[float, int, str]:
    exp = get_experiment("photostability")
    kw = exp.resolve({"duration": duration})
    with tempfile.TemporaryDirectory() as tmp, Session(data_dir=Path(tmp), speed=math.inf, record=False) as s:
        bench = s.open_bench(load_bench("sim"))
        bench.load_sample(**kw)
        t0 = time.perf_counter()
        out = s.run(exp.build(bench, kw), md=bench.metadata())
        wall = time.perf_counter() - t0
    points = sum(1 for n, d in out.documents if n == "event" and "fluor-point-pl" in d["data"])
    return wall, points, out.exit_status


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def recorded_memory(duration: str) -> list[tuple[float, float]]:
    exp = get_experiment("photostability")
    kw = exp.resolve({"duration": duration})
    samples: list[tuple[float, float]] = []

    def on_event(name: str, doc: dict[str, Any]) -> None:
        t = doc.get("data", {}).get("clock-elapsed")
        if t is not None and "fluor-point-pl" in doc["data"] and (not samples or t >= samples[-1][0] + 3600):
            samples.append((t, rss_mb()))

    with tempfile.TemporaryDirectory() as tmp, Session(data_dir=Path(tmp), speed=math.inf, record=True) as s:
        bench = s.open_bench(load_bench("sim"))
        bench.load_sample(**kw)
        token = s.RE.subscribe(on_event, "event")
        out = s.run(exp.build(bench, kw), md=bench.metadata())
        s.RE.unsubscribe(token)
        samples.append((out.virtual_s, rss_mb()))
    return samples


def main() -> None:
    # interleaved so that machine noise hits both alike; best of 3 each
    bares, ourss = [], []
    for _ in range(3):
        bares.append(bare_run(4321, 180))
        wall, points, status = dry_run("12h")
        ourss.append(wall)
    bare, ours = min(bares), min(ourss)
    print(
        f"12 h photostability dry run: exit={status} points={points} wall={ours:.2f} s best of 3 "
        f"({', '.join(f'{x:.2f}' for x in ourss)}) (target < 20 s); bare RunEngine, same events: {bare:.2f} s "
        f"({', '.join(f'{x:.2f}' for x in bares)}); ratio {ours / bare:.2f}x (target <= 1.5x)"
    )
    samples = recorded_memory("24h")
    (t1, m1), (t_end, m_end) = samples[1], samples[-1]
    slope = (m_end - m1) / max((t_end - t1) / 3600, 1e-9)
    print(
        f"24 h recorded photostability run: RSS {samples[0][1]:.0f} MB at the first point, {m1:.0f} MB at hour 1, "
        f"{m_end:.0f} MB at the end; growth {m_end - m1:+.1f} MB from hour 1 ({slope:+.2f} MB/h) "
        f"(target < 50 MB)"
    )


if __name__ == "__main__":
    main()
