"""Photoluminescence experiments end to end on the simulated fluorometer: the published numbers come back.

Each test runs the real plan, devices and drivers against the protocol simulators in virtual
time, then computes the figures of merit from the run's documents exactly as ``labctl run``
does.  The simulator's parameters come from SCIENCE.md; the fits must recover them.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labctl.catalog import hms, open_catalog, read_jsonl
from labctl.experiments import get_experiment, tables_from_documents
from labctl.sim.physics.photophysics import find_material

PHOTOSTABILITY = get_experiment("photostability")
PLQY = get_experiment("plqy")
PL_DECAY = get_experiment("pl-decay")


def _run(session, exp, params):
    kw = exp.resolve(params)
    exp.check(session.bench, kw)
    session.bench.load_sample(**kw)
    out = session.run(exp.build(session.bench, kw), md=session.bench.metadata())
    assert out.exit_status == "success", out.reason
    return exp.analyze(out.start, tables_from_documents(out.documents))


@pytest.mark.parametrize(
    ("sample", "excitation", "emission", "published"),
    [("BA-MSC", "350nm", "593nm", 0.22), ("NR", "448nm", "611nm", 0.35), ("BDA-MSC", "350nm", "593nm", 0.87),
     ("SS", "350nm", "593nm", 0.93)],
)  # fmt: skip
def test_retention_after_30_min_matches_the_paper(dry_session, sample, excitation, emission, published):
    fig = _run(
        dry_session,
        PHOTOSTABILITY,
        {"sample": sample, "excitation": excitation, "emission": emission, "duration": "40min"},
    )
    assert fig["retention_30min"] == pytest.approx(published, abs=0.02)
    assert fig["points"] == 241


@pytest.mark.parametrize(("sample", "published"), [("SS", 0.83), ("BDA-MSC", 0.69)])
def test_overnight_retention_and_bleaching_fit_recover_the_model(dry_session, sample, published):
    fig = _run(dry_session, PHOTOSTABILITY, {"sample": sample, "duration": "12h", "interval": "60s"})
    material = find_material(sample)
    assert fig["retention"] == pytest.approx(published, abs=0.02)
    assert fig["stable_fraction"] == pytest.approx(material.stable_fraction, rel=0.05)
    assert fig["bleach_rate_per_h"] == pytest.approx(material.bleach_rate_per_h, rel=0.05)
    assert fig["half_life"] is None  # more than half stays: no half-life to report
    assert any("never falls to half" in n for n in fig["notes"])


def test_fast_bleacher_half_life_is_recovered(dry_session):
    fig = _run(dry_session, PHOTOSTABILITY, {"sample": "BA-MSC", "duration": "2h", "interval": "20s"})
    k = find_material("BA-MSC").bleach_rate_per_h
    assert fig["half_life_h"] == pytest.approx(math.log(2) / k, rel=0.05)
    assert fig["half_life_observed_h"] == pytest.approx(math.log(2) / k, rel=0.1)


def test_stop_below_ends_the_run_when_the_pl_halves(dry_session):
    fig = _run(dry_session, PHOTOSTABILITY, {"sample": "BA-MSC", "duration": "12h", "stop_below": "50%"})
    assert fig["duration_h"] < 0.5
    assert fig["retention"] < 0.5
    assert not dry_session.bench.sim.fluorometer.monochromator.shutter_open


@pytest.mark.parametrize(("sample", "published"), [("SS", 0.72), ("BDA-MSC", 0.35)])
def test_plqy_in_the_sphere_matches_the_paper(dry_session, sample, published):
    fig = _run(dry_session, PLQY, {"sample": sample})
    assert fig["plqy"] == pytest.approx(published, rel=0.05)
    assert 0 < fig["plqy_err"] < 0.05 * published
    assert 0.3 < fig["absorbed_fraction"] < 0.9


def test_plqy_of_a_weak_emitter_is_below_one_percent(dry_session):
    fig = _run(dry_session, PLQY, {"sample": "BA-MSC", "replicates": "5"})
    assert fig["plqy"] + 2 * fig["plqy_err"] < 0.02  # the paper: < 1 %


def test_bi_exponential_decay_of_bda_msc_is_recovered(dry_session):
    fig = _run(dry_session, PL_DECAY, {"sample": "BDA-MSC"})
    assert fig["n_components"] == 2
    assert fig["lifetimes"] == pytest.approx([305.0, 84.0], rel=0.05)
    assert fig["fractions"] == pytest.approx([0.535, 0.465], rel=0.05)


def test_mono_exponential_decay_of_the_suprastructure(dry_session):
    fig = _run(dry_session, PL_DECAY, {"sample": "SS"})
    assert fig["n_components"] == 1
    assert fig["lifetimes"][0] == pytest.approx(303.0, rel=0.05)


def _events_up_to(path: Path) -> float:
    """Largest bench-clock time among the PL points written so far (0 if none)."""
    latest = 0.0
    if not path.exists():
        return latest
    for name, doc in read_jsonl(path):
        if name == "event" and "fluor-point-pl" in doc["data"]:
            latest = max(latest, float(doc["data"]["clock-elapsed"]))
    return latest


def test_a_crash_at_hour_7_leaves_7_hours_readable(tmp_path):
    """Kill -9 the process of an overnight run at hour 7: the JSON-lines file holds every point so far."""
    env = dict(os.environ, LABCTL_DATA_DIR=str(tmp_path))
    log = tmp_path / "stderr.txt"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labctl.cli", "run", "photostability", "--bench", "sim", "-p", "duration=12h",
             "--no-progress", "--json"],
            env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        runs = tmp_path / "runs"
        reached = 0.0
        while time.monotonic() < deadline and proc.poll() is None:
            files = list(runs.glob("*.jsonl")) if runs.is_dir() else []
            reached = _events_up_to(files[0]) if files else 0.0
            if reached >= 7 * 3600:
                break
            time.sleep(0.5)
        assert proc.poll() is None, f"the run ended before hour 7: {log.read_text()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    (path,) = list((tmp_path / "runs").glob("*.jsonl"))
    docs = list(read_jsonl(path))
    assert not any(n == "stop" for n, _ in docs)  # it really died mid-run
    tables = tables_from_documents(docs)
    t = tables["primary"]["clock-elapsed"]
    assert t[-1] >= 7 * 3600 and len(t) >= 7 * 360
    start = docs[0][1]
    fig = PHOTOSTABILITY.analyze(start, tables)
    assert fig["retention_30min"] == pytest.approx(0.93, abs=0.02)
    # the morning after: the report of the torn run, from the command line
    res = subprocess.run(
        [sys.executable, "-m", "labctl.cli", "runs", "report", start["uid"][:8], "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    files = json.loads(res.stdout)
    report = json.loads(Path(files["json"]).read_text())
    assert report["exit_status"] == "abort"
    assert report["reason"] == (
        "interrupted: labctl stopped without closing the run (killed, or the power failed); it was closed when "
        f"labctl next started; its last point is at {hms(t[-1])} of bench time"
    )
    assert report["figures"]["points"] == len(t)
    assert Path(files["plot"]).name == "photostability.png"
    # ... and the catalog now holds every point the file has
    with open_catalog(tmp_path) as client:
        assert len(client[start["uid"]]["primary"].read()["clock-elapsed"]) == len(t)
