"""Sample efficiency of the campaign engines on the simulated bench's response, in one run.

For each packaged example campaign (or the files given): experiments to reach a fraction of the
simulator's own optimum (median and IQR over the seeds) for the default engine (GP-ARD), random
search and Sobol; the acceleration factor against random; the enhancement factor at 10 d and 20 d
experiments (d parameters); milliseconds per suggestion.

    python benchmarks/campaign_efficiency.py                       # 20 seeds, 95 %
    python benchmarks/campaign_efficiency.py --seeds 5 cyclo-ton   # quicker
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path


def main() -> None:
    from labctl.campaigns.rehearsal import benchmark_strategies
    from labctl.campaigns.spec import load_campaign

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaigns", nargs="*", default=["h2-optimise", "cyclo-ton"])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--fraction", type=float, default=0.95)
    ap.add_argument("--strategies", default="gp-ard,random,sobol")
    args = ap.parse_args()
    for name in args.campaigns:
        spec = load_campaign(Path(name))
        t0 = time.perf_counter()
        r = benchmark_strategies(spec, args.strategies.split(","), seeds=args.seeds, fraction=args.fraction)
        wall = time.perf_counter() - t0
        print(
            f"\n{spec.name} ({spec.experiment.name}): {r['dimensions']} parameters, {args.seeds} seeds, "
            f"target {args.fraction:.0%} of the simulator's optimum {spec.objective.figure} = {r['optimum']:.4g} "
            f"({wall:.0f} s wall)"
        )
        for strategy, s in r["strategies"].items():
            med = s["experiments_median"]
            med_text = f"{med:g}" if math.isfinite(med) else "not reached"
            print(
                f"  {strategy:7s} experiments to target: median {med_text}, IQR {s['experiments_q25']:g}-"
                f"{s['experiments_q75']:g}, reached {s['reached']}/{args.seeds}; "
                f"suggestion {s['suggest_s_median'] * 1e3:.0f} ms median, {s['suggest_s_max'] * 1e3:.0f} ms max"
            )
        for key, value in r.get("acceleration", {}).items():
            print(f"  acceleration factor {key}: {value:.1f}")
        for key, value in r.get("enhancement", {}).items():
            print(f"  enhancement factor {key}: {value:.3f}")


if __name__ == "__main__":
    main()
