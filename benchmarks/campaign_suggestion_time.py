"""Seconds per suggestion at 100 observations: the default engine (GP-ARD) and blop's Ax optimiser.

python benchmarks/campaign_suggestion_time.py            # both (Ax needs: pip install 'labctl[ax]')
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from labctl.campaigns.optimisers import make_optimiser
    from labctl.campaigns.spec import load_campaign

    spec = load_campaign(Path("h2-optimise"))
    rng = np.random.default_rng(0)
    for strategy in ("gp-ard", "ax"):
        try:
            engine = make_optimiser(spec, strategy=strategy, seed=1)
        except Exception as exc:  # the ax extra not installed
            print(f"{strategy}: not measured ({exc})")
            continue
        points = []
        for _ in range(100):
            u = rng.random(len(spec.dimensions))
            p = {}
            for d, x in zip(spec.dimensions, u, strict=True):
                p[d.name] = (d.low * (d.high / d.low) ** x) if d.scale == "log" else d.low + x * (d.high - d.low)
                if d.kind == "int":
                    p[d.name] = round(p[d.name])
            points.append({**p, spec.objective.figure: float(rng.normal(1000, 100))})
        engine.ingest(points)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            (s,) = engine.suggest(1)
            times.append(time.perf_counter() - t0)
            engine.ingest([{"_id": s["_id"], spec.objective.figure: float(rng.normal(1000, 100))}])
        print(f"{strategy}: {statistics.median(times):.2f} s per suggestion (median of 5) at 100-105 observations")


if __name__ == "__main__":
    main()
