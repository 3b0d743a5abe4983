"""Wall time of a 12-hour H2 evolution dry run (30-min GC sampling, 1 Hz lamp watchdog)."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from labctl.config import load_bench
from labctl.experiments import get_experiment
from labctl.session import Session


def main() -> None:
    exp = get_experiment("h2-evolution")
    kw = exp.resolve({"duration": "12h", "sample_interval": "30min"})
    with tempfile.TemporaryDirectory() as tmp, Session(data_dir=Path(tmp), speed=math.inf, record=False) as s:
        bench = s.open_bench(load_bench("sim"))
        bench.load_sample(**kw)
        t0 = time.perf_counter()
        out = s.run(exp.build(bench, kw), md=bench.metadata())
        wall = time.perf_counter() - t0
    n_events = sum(1 for n, _ in out.documents if n == "event")
    print(
        f"12 h H2 evolution dry run: exit={out.exit_status} virtual={out.virtual_s / 3600:.2f} h "
        f"wall={wall:.2f} s events={n_events} speed-up={out.virtual_s / wall:.0f}x (target: wall <= 10 s)"
    )


if __name__ == "__main__":
    main()
