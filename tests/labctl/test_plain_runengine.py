"""A plan gives the same figures from the CLI and from a plain RunEngine: it loads its own sample.

The catalyst mass given to the plan reaches the simulated photoreactor through the plan's loading
step (the operator device; the simulator's own action on a simulated bench), not through anything
the CLI does first.
"""

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest
from bluesky import RunEngine
from typer.testing import CliRunner

from labctl.bench import open_bench
from labctl.cli import app
from labctl.clock import VirtualTimeLoop
from labctl.config import load_bench
from labctl.experiments import get_experiment, tables_from_documents
from labctl.plans.h2_evolution import h2_evolution

pytestmark = pytest.mark.slow

H2 = get_experiment("h2-evolution")


def _cli_rate(data_dir: Path) -> float:
    res = CliRunner().invoke(
        app,
        [
            "run",
            "h2-evolution",
            "--bench",
            "sim",
            "-p",
            "catalyst_mass=50mg",
            "-p",
            "duration=2h",
            "-p",
            "sample_interval=30min",
            "--data-dir",
            str(data_dir),
            "--json",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    text = res.output
    run = json.JSONDecoder().raw_decode(text[text.find("{") :])[0]
    return float(run["figures"]["rate"])


def _plain_runengine_rate(data_dir: Path) -> tuple[float, float, dict[str, Any]]:
    """h2_evolution under a bare bluesky RunEngine on the bench's devices (virtual time)."""
    loop = VirtualTimeLoop(math.inf)
    RE = RunEngine({}, loop=loop, context_managers=[])
    bench = asyncio.run_coroutine_threadsafe(open_bench(load_bench("sim"), data_dir=data_dir), loop).result(120)
    try:
        d = bench.devices
        docs: list[tuple[str, dict[str, Any]]] = []
        RE.subscribe(lambda name, doc: docs.append((name, doc)))
        RE(
            h2_evolution(
                d["lamp"],
                d["gc"],
                d["reactor"],
                d["operator"],
                d["clock"],
                catalyst_mass_g="50 mg",
                duration_s="2 h",
                sample_interval_s="30 min",
            )
        )
        start = docs[0][1]
        figures = H2.analyze(start, tables_from_documents(docs))
        return float(figures["rate"]), float(bench.sim.model.catalyst_mass_g), start
    finally:
        asyncio.run_coroutine_threadsafe(bench.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        RE._th.join(timeout=10)
        loop.close()


def test_h2_evolution_gives_the_same_rate_from_the_cli_and_a_plain_runengine(tmp_path: Path) -> None:
    cli = _cli_rate(tmp_path / "cli")
    plain, simulated_mass_g, start = _plain_runengine_rate(tmp_path / "plain")
    assert simulated_mass_g == pytest.approx(0.05)  # the simulator saw 50 mg, loaded by the plan
    assert start["catalyst_mass_g"] == pytest.approx(0.05)
    assert plain == pytest.approx(cli, rel=0.05)


def test_co2_cycloaddition_runs_under_a_plain_runengine_with_the_sample_it_names(tmp_path: Path) -> None:
    from labctl.plans.co2_cycloaddition import co2_cycloaddition

    loop = VirtualTimeLoop(math.inf)
    RE = RunEngine({}, loop=loop, context_managers=[])
    bench = asyncio.run_coroutine_threadsafe(open_bench(load_bench("sim"), data_dir=tmp_path), loop).result(120)
    try:
        d = bench.devices
        docs: list[tuple[str, dict[str, Any]]] = []
        RE.subscribe(lambda name, doc: docs.append((name, doc)))
        RE(
            co2_cycloaddition(
                d["parr"],
                d["operator"],
                d["nmr"],
                d["clock"],
                catalyst="Mn:(Cd0.5Zn0.5Se)13 SS",
                catalyst_mass_mg="4.5 mg",
                hold_s="1 h",
                temperature_c="70 degC",
                pressure_bar="3 bar",
            )
        )
        stop = next(doc for name, doc in docs if name == "stop")
        assert stop["exit_status"] == "success", stop.get("reason")
        nmr = [doc["data"] for name, doc in docs if name == "event" and "nmr-value" in doc["data"]]
        assert len(nmr) == 1 and 0 < nmr[0]["nmr-value"] <= 100
        reaction = bench.sim.parr_vessel.reaction
        assert reaction is not None and float(reaction.catalyst_mass_mg) == pytest.approx(4.5)
    finally:
        asyncio.run_coroutine_threadsafe(bench.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        RE._th.join(timeout=10)
        loop.close()
