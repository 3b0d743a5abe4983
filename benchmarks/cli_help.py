"""Wall time of `labctl --help` (best of 5 fresh processes)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time


def main() -> None:
    exe = shutil.which("labctl")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "labctl.cli", "--help"]
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    print(f"labctl --help: best {min(times):.3f} s, median {sorted(times)[2]:.3f} s (target: < 0.5 s)")


if __name__ == "__main__":
    main()
