"""``labctl campaign ...`` end to end on the simulated bench: run, inspect, report, rehearse, and
resume after SIGKILL and Ctrl-C, with the catalog holding every decision."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labctl.cli import app
from tests.labctl.test_signals import documents, kill_group, wait_exit

runner = CliRunner()

SMALL = """
[campaign]
name = "small"
experiment = "h2-evolution"
strategy = "random"
seed = 4

[objective]
figure = "rate"

[budget]
experiments = {n}

[parameters]
catalyst_mass = {{ min = "2 mg", max = "40 mg", scale = "log" }}
lamp_power = {{ min = "100 W", max = "300 W" }}

[fixed]
duration = "{duration}"
sample_interval = "30 min"
dark_samples = 1
"""


def _file(tmp_path: Path, n: int = 2, duration: str = "1 h") -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(n=n, duration=duration))
    return path


def _json(*args: str) -> Any:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_a_campaign_runs_and_its_history_reads_back_from_the_catalog(tmp_path):
    from labctl.catalog import open_catalog

    data = tmp_path / "data"
    out = _json("campaign", "run", str(_file(tmp_path)), "--bench", "sim", "--data-dir", str(data))
    assert (out["status"], out["stop_reason"], out["experiments"]) == ("done", "budget: 2 experiments run", 2)
    folder = Path(out["folder"])
    for name in ("state.json", "campaign.toml", "report.md", "progress.png", "parameters.png"):
        assert (folder / name).is_file(), name
    state = json.loads((folder / "state.json").read_text())
    # the catalog: each experiment's run carries the campaign and its suggestion; each ingest run what was learnt
    with open_catalog(data) as client:
        starts = [client[uid].metadata["start"] for uid in client]
    starts = [s for s in starts if s.get("campaign_id") == out["id"]]
    experiments = {s["uid"]: s for s in starts if s["plan_name"] == "h2_evolution"}
    ingests = [s["campaign"] for s in starts if s["plan_name"] == "campaign_ingest"]
    assert len(experiments) == 2 and len(ingests) == 2
    replayed = sorted((i["trial"], i["params"], i["objective"]["value"], i["run_uids"]) for i in ingests)
    assert replayed == [(t["index"], t["params"], t["objective"], t["run_uids"]) for t in state["trials"]]
    for i in ingests:
        assert experiments[i["run_uids"][0]]["campaign"]["params"] == i["params"]
    # the other commands read the same state
    listed = _json("campaign", "list", "--data-dir", str(data))
    assert [c["id"] for c in listed] == [out["id"]]
    shown = _json("campaign", "show", out["id"][:12], "--data-dir", str(data))
    assert [t["objective"] for t in shown["trials"]] == [t["objective"] for t in state["trials"]]
    assert _json("campaign", "status", "--data-dir", str(data))["id"] == out["id"]
    report = _json("campaign", "report", out["id"], "--data-dir", str(data))["report"]
    text = Path(report).read_text()
    assert "## Every experiment" in text and state["trials"][0]["run_uids"][0][:8] in text


def test_a_bad_campaign_file_is_refused_before_the_bench_opens(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.format(n=0, duration="1 h"))
    res = runner.invoke(app, ["campaign", "run", str(bad), "--data-dir", str(tmp_path / "data")])
    assert res.exit_code == 2
    assert f"error: {bad}: [budget] experiments = 0: give a whole number of experiments from 1 to 10000" in res.output
    assert not (tmp_path / "data" / "campaigns").exists()
    res = runner.invoke(app, ["campaign", "run", str(tmp_path / "nope.toml"), "--data-dir", str(tmp_path / "data")])
    assert res.exit_code == 2 and "does not exist; give a campaign file, or one of the examples" in res.output


def test_bounds_past_the_bench_limits_leave_no_campaign_behind(tmp_path):
    path = tmp_path / "hot.toml"
    path.write_text(SMALL.format(n=2, duration="1 h").replace('max = "300 W"', 'max = "900 W"'))
    res = runner.invoke(app, ["campaign", "run", str(path), "--data-dir", str(tmp_path / "data")])
    assert res.exit_code == 2, res.output
    assert (
        "[parameters] lamp_power max = 900 W: the bench refuses it: lamp_power=900 W is outside the bench limit"
        in res.output
    )
    assert not list((tmp_path / "data" / "campaigns").glob("*/state.json"))


def test_a_rehearsal_runs_the_whole_campaign_per_seed_and_records_nothing(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    out = _json("campaign", "dry-run", str(_file(tmp_path, n=2)), "--seeds", "2", "--data-dir", str(data))
    assert [s["seed"] for s in out["per_seed"]] == [4, 5]
    assert all(s["experiments"] == 2 and s["bench_hours"] > 2.0 for s in out["per_seed"])
    assert out["samples_mean"] == 2.0 and set(out["materials"]) == {"catalyst_mass (mg)"}
    assert [step["trial"] for step in out["timeline"]] == [1, 2]
    assert not (data / "runs").exists() and not (data / "catalog.db").exists() and not (data / "campaigns").exists()


# -- crashes and Ctrl-C --------------------------------------------------------------------------------
def _start(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    with (tmp_path / "campaign.out").open("wb") as out, (tmp_path / "campaign.err").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "labctl.cli", "campaign", *args],
            cwd=tmp_path,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )


def _wait_running(data: Path, proc: subprocess.Popen[bytes], tmp_path: Path, trial: int, seconds: float = 240) -> Path:
    """The campaign's state file once trial ``trial`` runs (and its run's first event is on disk)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in (data / "campaigns").glob("*/state.json"):
            with_trial = json.loads(path.read_text())["trials"]
            if len(with_trial) >= trial and with_trial[trial - 1]["status"] == "running":
                runs = sorted((data / "runs").glob("*.jsonl"), key=os.path.getmtime)
                if runs and any(n == "event" for n, _ in documents(runs[-1])):
                    return path
        assert proc.poll() is None, (tmp_path / "campaign.err").read_text()[-3000:]
        time.sleep(0.05)
    raise AssertionError(f"trial {trial} never ran: {(tmp_path / 'campaign.err').read_text()[-3000:]}")


@pytest.mark.slow
def test_resume_after_sigkill_loses_nothing_and_runs_nothing_twice(tmp_path):
    data = tmp_path / "data"
    campaign_file = str(_file(tmp_path, n=3, duration="2 h"))
    proc = _start(tmp_path, "run", campaign_file, "--data-dir", str(data), "--time", "x3000")
    try:
        state_path = _wait_running(data, proc, tmp_path, trial=2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        kill_group(proc)
    before = json.loads(state_path.read_text())
    assert [t["status"] for t in before["trials"]] == ["done", "running"]
    cut_uid = before["trials"][1]["run_uids"] or None

    out = _json("campaign", "resume", before["id"], "--data-dir", str(data))
    after = json.loads(state_path.read_text())
    assert out["status"] == "done"
    assert [(t["index"], t["status"], t["repeat_of"]) for t in after["trials"]] == [
        (1, "done", None),
        (2, "interrupted", None),
        (3, "done", 2),
        (4, "done", None),
    ]
    assert after["trials"][0] == before["trials"][0]  # the experiment done before the kill is kept as it was
    assert after["trials"][2]["params"] == before["trials"][1]["params"]  # the cut one is repeated
    done_runs = [uid for t in after["trials"] if t["status"] == "done" for uid in t["run_uids"]]
    assert len(done_runs) == len(set(done_runs)) == 3
    # the run the kill cut short was closed on the next start, as interrupted
    runs = {p.stem: documents(p) for p in (data / "runs").glob("*.jsonl")}
    cut = [uid for uid, docs in runs.items() if docs[-1][1].get("exit_status") == "abort"]
    assert len(cut) == 1 and cut_uid in (None, [cut[0]])
    assert runs[cut[0]][-1][1]["reason"].startswith("interrupted: labctl stopped without closing the run")


@pytest.mark.slow
def test_ctrl_c_ends_the_campaign_with_the_lamp_off_and_its_state_saved(tmp_path):
    data = tmp_path / "data"
    campaign_file = str(_file(tmp_path, n=3, duration="2 h"))
    proc = _start(tmp_path, "run", campaign_file, "--data-dir", str(data), "--time", "x3000")
    try:
        state_path = _wait_running(data, proc, tmp_path, trial=1)
        os.killpg(proc.pid, signal.SIGINT)
        code, _ = wait_exit(proc, 60)
    finally:
        kill_group(proc)
    assert code == 130, (tmp_path / "campaign.err").read_text()[-3000:]
    state = json.loads(state_path.read_text())
    assert state["status"] == "interrupted"
    assert state["stop_reason"] == "interrupted by the operator (Ctrl-C)"
    assert [t["status"] for t in state["trials"]] == ["running"]  # resume marks it interrupted
    (run,) = [documents(p) for p in (data / "runs").glob("*.jsonl")]
    name, stop = run[-1]
    assert name == "stop" and stop["exit_status"] == "abort"
    # every hazard was made safe and read back before the stop document (else the reason says so)
    assert stop["reason"] == "interrupted by the operator (Ctrl-C)"


def test_the_readmes_campaign_from_python_runs_as_a_plain_script(tmp_path):
    import re

    text = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Autonomous campaigns", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    script = tmp_path / "campaign_session.py"
    script.write_text(code)
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    status, best = res.stdout.split()
    assert status == "done" and float(best) > 0
    (state,) = (tmp_path / "labctl-data" / "campaigns").glob("*/state.json")
    assert [t["status"] for t in json.loads(state.read_text())["trials"]] == ["done"] * 3
