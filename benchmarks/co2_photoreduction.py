"""Wall time of a 6-hour CO2 photoreduction dry run with hourly GC samples (target < 10 s).

The real plan, devices and drivers against the simulators in virtual time, as
``labctl dry-run co2-photoreduction`` runs it: a 30 min CO2 purge, one dark sample, 6 h of
light on the 300 W Xe lamp with a GC sample (7 min chromatogram) every hour.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from labctl.config import load_bench
from labctl.experiments import get_experiment, tables_from_documents
from labctl.session import Session


def main() -> None:
    exp = get_experiment("co2-photoreduction")
    kw = exp.resolve({"duration": "6h", "sample_interval": "1h"})
    with tempfile.TemporaryDirectory() as tmp, Session(data_dir=Path(tmp), speed=math.inf, record=False) as s:
        bench = s.open_bench(load_bench("sim"))
        bench.load_sample(**kw)
        t0 = time.perf_counter()
        out = s.run(exp.build(bench, kw), md=bench.metadata())
        wall = time.perf_counter() - t0
    fig = exp.analyze(out.start, tables_from_documents(out.documents))
    print(
        f"6 h CO2 photoreduction dry run: exit={out.exit_status} virtual={out.virtual_s / 3600:.2f} h "
        f"wall={wall:.2f} s (target < 10 s); CO {fig['CO_rate']:.0f}, H2 {fig['H2_rate']:.0f} umol g-1 h-1, "
        f"CO electron selectivity {100 * fig['selectivity']['CO']:.1f} %"
    )


if __name__ == "__main__":
    main()
