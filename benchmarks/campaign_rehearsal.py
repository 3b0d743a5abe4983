"""Wall time of rehearsing a 40-experiment H2 campaign of 4 h experiments (160 bench hours) in
virtual time on the simulated bench, optimiser included (target: at most 120 s).

    python benchmarks/campaign_rehearsal.py
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path


def main() -> None:
    from labctl.campaigns.rehearsal import rehearse
    from labctl.campaigns.spec import load_campaign

    spec = load_campaign(Path("h2-optimise"))
    no_target = dataclasses.replace(spec.objective, target=None)
    spec = dataclasses.replace(spec, max_experiments=40, no_improvement=None, objective=no_target)
    t0 = time.perf_counter()
    r = rehearse(spec, seeds=1)
    wall = time.perf_counter() - t0
    s = r["per_seed"][0]
    print(
        f"rehearsal: {s['experiments']} experiments, {s['bench_hours']:.0f} bench hours in {wall:.1f} s wall "
        f"({s['bench_hours'] * 3600 / wall:.0f}x real time); best {spec.objective.figure} {s['best']:.4g}"
    )


if __name__ == "__main__":
    main()
