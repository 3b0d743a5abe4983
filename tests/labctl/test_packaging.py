"""Packaging: one import name, and the layer arrows the design fixes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_wheel_installs_one_name_and_runs_beside_a_users_own_plans_devices_and_sim(tmp_path: Path) -> None:
    wheels, target, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True, timeout=600)
    (wheel,) = wheels.glob("labctl-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True, timeout=600)
    installed = sorted(p.name for p in target.iterdir() if p.name != "bin")
    assert installed == ["labctl", f"labctl-{wheel.name.split('-')[1]}.dist-info"]
    assert (target / "labctl" / "benches" / "sim.toml").is_file()
    assert (target / "labctl" / "devices" / "drivers" / "parr4848_map.toml").is_file()
    # a Bluesky user's working folder, with modules named like labctl's folders
    work.mkdir()
    for name in ("plans", "devices", "sim"):
        (work / f"{name}.py").write_text(f"raise RuntimeError('the user\\'s own {name}.py was imported')\n")
    env = {**os.environ, "PYTHONPATH": str(target), "LABCTL_DATA_DIR": str(tmp_path / "data")}
    code = "import labctl.cli, labctl.sim.bench, labctl.plans.h2_evolution; print(labctl.__file__)"
    probe = subprocess.run(
        [sys.executable, "-c", code],
        cwd=work, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert Path(probe.stdout.strip()).is_relative_to(target)
    res = subprocess.run(
        [sys.executable, "-m", "labctl.cli", "dry-run", "h2-evolution", "-p", "duration=1h", "--json"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout)["exit_status"] == "success"


def test_the_layer_contracts_hold() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "0 broken" in res.stdout
