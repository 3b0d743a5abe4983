"""Cluster growth: a 6 h dry run's wall time vs a bare RunEngine, and memory over a 24 h recorded run.

1. **6 h growth dry run** (2 mL/h for 12 mL at 280 °C, a spectrum every 30 s: 721 spectra of 2,048
   pixels, each the mean of 10 frames): the real plan, devices, drivers and protocol simulators in
   virtual time, as ``labctl dry-run cluster-growth`` runs it; printed: the plan's wall time and the
   whole command's (opening the bench, the figures of 721 spectra).  Baseline: a bare RunEngine on
   the same virtual-time loop emitting the same primary events (two 2,048-pixel arrays and four
   numbers each, every 30 s of virtual time), no subscriber but a no-op.
2. **24 h recorded assembly run** (a spectrum every 30 s: 2,881 spectra; JSON-lines file and Tiled
   catalog written as measured, as ``labctl run`` does): resident memory sampled every simulated hour.

Targets: the 6 h dry run under 15 s wall; memory flat over 24 h (growth < 50 MB from hour 1).
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
from labctl.experiments import get_experiment, tables_from_documents
from labctl.session import Session

PIXELS = 2048
GROWTH = {"injection_rate": "2mL/h", "injection_volume": "12mL", "temperature": "280degC", "spectrum_interval": "30s"}


class Spectrum(StandardReadable):
    """The fields of one absorbance reading; trigger = the time ten 20 ms frames take."""

    def __init__(self, name: str = "") -> None:
        with self.add_children_as_readables():
            self.absorbance = soft_signal_rw(Array1D[np.float64], np.zeros(PIXELS), units="OD")
            self.sample_counts = soft_signal_rw(Array1D[np.float64], np.ones(PIXELS), units="counts")
            self.masked = soft_signal_rw(int, 0)
            self.dispensed = soft_signal_rw(float, 0.0, units="mL")
            self.flask = soft_signal_rw(float, 280.0, units="degC")
            self.elapsed = soft_signal_rw(float, 0.0, units="s")
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        await asyncio.sleep(0.32)


def bare_run(n: int) -> float:
    lean_plans.install()  # the same bluesky as labctl's session runs
    loop = VirtualTimeLoop()
    RE = RunEngine({}, loop=loop, context_managers=[])
    spectrum = Spectrum(name="absorbance")
    asyncio.run_coroutine_threadsafe(spectrum.connect(), loop).result()
    RE.subscribe(lambda name, doc: None)

    @bpp.run_decorator(md={"plan_name": "bare"})
    def plan() -> Any:
        for _ in range(n):
            yield from bps.sleep(30.0)
            yield from bps.checkpoint()
            yield from bps.trigger_and_read([spectrum])

    t0 = time.perf_counter()
    RE(plan())
    return time.perf_counter() - t0


def dry_run() -> tuple[float, float, int, dict[str, Any]]:
    exp = get_experiment("cluster-growth")
    kw = exp.resolve(GROWTH)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, Session(data_dir=Path(tmp), speed=math.inf, record=False) as s:
        bench = s.open_bench(load_bench("sim-synthesis"))
        t0 = time.perf_counter()
        out = s.run(exp.build(bench, kw), md=bench.metadata())
        wall = time.perf_counter() - t0
        figures = exp.analyze(out.start, tables_from_documents(out.documents))
    spectra = sum(1 for n, d in out.documents if n == "event" and "absorbance-absorbance" in d["data"])
    return wall, time.perf_counter() - t_all, spectra, figures


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def recorded_memory(duration: str) -> list[tuple[float, float]]:
    exp = get_experiment("ss-assembly")
    kw = exp.resolve({"duration": duration, "spectrum_interval": "30s"})
    samples: list[tuple[float, float]] = []

    def on_event(name: str, doc: dict[str, Any]) -> None:
        t = doc.get("data", {}).get("clock-elapsed")
        if t is not None and "absorbance-absorbance" in doc["data"] and (not samples or t >= samples[-1][0] + 3600):
            samples.append((t, rss_mb()))

    with tempfile.TemporaryDirectory() as tmp, Session(data_dir=Path(tmp), speed=math.inf, record=True) as s:
        bench = s.open_bench(load_bench("sim-synthesis"))
        token = s.RE.subscribe(on_event, "event")
        out = s.run(exp.build(bench, kw), md=bench.metadata())
        s.RE.unsubscribe(token)
        samples.append((out.virtual_s, rss_mb()))
    return samples


def main() -> None:
    bares, plans, totals = [], [], []
    for _ in range(3):  # interleaved, best of 3: machine noise hits both alike
        bares.append(bare_run(721))
        wall, total, spectra, figures = dry_run()
        plans.append(wall)
        totals.append(total)
    bare, ours = min(bares), min(plans)
    print(
        f"6 h cluster-growth dry run: {spectra} spectra; plan wall {ours:.2f} s best of 3 "
        f"({', '.join(f'{x:.2f}' for x in plans)}); with opening the bench and the figures {min(totals):.2f} s "
        f"(target < 15 s); bare RunEngine, same events: {bare:.2f} s; ratio {ours / bare:.2f}x; "
        f"first exciton {figures['first_exciton_nm']:.1f} nm, FWHM {figures['fwhm_mev']:.0f} meV"
    )
    samples = recorded_memory("24h")
    (t1, m1), (t_end, m_end) = samples[1], samples[-1]
    slope = (m_end - m1) / max((t_end - t1) / 3600, 1e-9)
    print(
        f"24 h recorded assembly run ({len(samples) - 1} hourly samples): RSS {samples[0][1]:.0f} MB at the first "
        f"spectrum, {m1:.0f} MB at hour 1, {m_end:.0f} MB at the end; growth {m_end - m1:+.1f} MB from hour 1 "
        f"({slope:+.2f} MB/h) (target < 50 MB)"
    )


if __name__ == "__main__":
    main()
