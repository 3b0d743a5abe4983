"""Wall time of a 6-hour CO2 cycloaddition dry run (1 Hz watchdog on the Parr over Modbus RTU)
and of a 10-cycle recycling dry run."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from labctl.config import load_bench
from labctl.experiments import get_experiment, split_runs
from labctl.session import Session


def dry_run(name: str, params: dict[str, str]) -> tuple[float, float, int, str]:
    exp = get_experiment(name)
    kw = exp.resolve(params)
    with tempfile.TemporaryDirectory() as tmp, Session(data_dir=Path(tmp), speed=math.inf, record=False) as s:
        bench = s.open_bench(load_bench("sim"))
        bench.load_sample(**kw)
        t0 = time.perf_counter()
        out = s.run(exp.build(bench, kw), md=bench.metadata())
        wall = time.perf_counter() - t0
    return wall, out.virtual_s, len(split_runs(out.documents)), out.exit_status


def main() -> None:
    wall, virtual, _, status = dry_run("co2-cycloaddition", {})
    print(f"6 h cycloaddition dry run: exit={status} virtual={virtual / 3600:.2f} h wall={wall:.2f} s (target: < 10 s)")
    wall, virtual, runs, status = dry_run("recycle", {"cycles": "10", "catalyst_mass": "25mg"})
    print(
        f"10-cycle recycling dry run: exit={status} runs={runs} virtual={virtual / 3600:.1f} h wall={wall:.1f} s "
        f"(target: < 60 s)"
    )


if __name__ == "__main__":
    main()
