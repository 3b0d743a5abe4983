"""Runs that end badly still end well: the reason is recorded, the bench is safe, the data is readable.

Every way a run can end early (Ctrl-C, a tripped interlock, a lamp that stops answering, a disk
that fills) leaves a stop document with the reason in the JSON-lines file and the catalog, the
hazards off, and every document that reached the disk readable.  A data folder can be copied or
moved and still gives its figures; a run uid is never a path; a damaged catalog never replaces a
good report with empty figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labctl.catalog import JsonLinesWriter, open_catalog, read_jsonl
from labctl.cli import app
from labctl.config import load_bench
from labctl.experiments import get_experiment
from labctl.session import Session

pytestmark = pytest.mark.slow

H2 = get_experiment("h2-evolution")
PHOTOSTABILITY = get_experiment("photostability")
runner = CliRunner()

CTRL_C = "interrupted by the operator (Ctrl-C)"
INTERLOCK = "interlock tripped: lamp: interlock opened"
ADVICE = "check that it is powered, cabled and in remote mode, and that the address in the bench file is right"


def _silent_lamp(command: str) -> str:
    return (
        f"InstrumentNotResponding: lamp at sim://lamp did not respond to '{command}' after 4 attempts (no reply); "
        + ADVICE
    )


LAMP_NOT_SAFE = f"lamp: could not be made safe ({_silent_lamp('STOP')})"
SILENT_LAMP_REASON = f"interlock tripped: {_silent_lamp('STB?')}; SAFE STATE NOT CONFIRMED: {LAMP_NOT_SAFE}"


# -- helpers ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def _recording(data_dir: Path) -> Iterator[Session]:
    """A virtual-time session on the packaged simulated bench, recording into ``data_dir``."""
    with Session(data_dir=data_dir, speed=math.inf, record=True) as s:
        s.open_bench(load_bench("sim"))
        yield s


def _run(session: Session, exp, params, *, at: float | None = None, fault=None):
    """Run ``exp`` with ``params``; call ``fault`` (on the loop) ``at`` seconds of bench time after the start."""
    kw = exp.resolve(params)
    session.bench.load_sample(**kw)
    token = None
    if fault is not None:

        def arm(name, doc):
            asyncio.get_running_loop().call_later(at, fault)

        token = session.RE.subscribe(arm, "start")
    try:
        return session.run(exp.build(session.bench, kw), md=session.bench.metadata())
    finally:
        if token is not None:
            session.RE.unsubscribe(token)


def on_loop(session: Session, fn):
    """Call a simulator method on the session's loop (simulators read that loop's clock)."""

    async def call():
        return fn()

    return session.call(call())


def _cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _err(text: str) -> str:
    """What labctl wrote on stderr, without the line Tiled logs when a catalog is opened."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("Tiled version "))


def _labctl(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m labctl.cli ARGS`` in a fresh process (run from ``cwd``, so PYTHONPATH decides the code)."""
    return subprocess.run(
        [sys.executable, "-m", "labctl.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def _stop(path: Path) -> dict:
    stops = [d for n, d in read_jsonl(path) if n == "stop"]
    assert len(stops) == 1, f"{path.name}: {len(stops)} stop documents"
    return stops[0]


def _files_outside(root: Path, inside: Path) -> set[Path]:
    return {p for p in root.rglob("*") if inside not in (p, *p.parents)}


@contextlib.contextmanager
def _tmpfs(folder: Path, size: str = "4m") -> Iterator[Path]:
    """A small tmpfs mounted on ``folder`` for the test's duration."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill a disk needs root")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _record_h2(data_dir: Path) -> str:
    """A short H2 evolution run recorded with the command line; its uid."""
    res = _cli(
        "run", "h2-evolution", "--bench", "sim", "-p", "duration=1h", "-p", "sample_interval=30min",
        "--data-dir", data_dir, "--json", "--no-progress",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["exit_status"] == "success"
    return out["uid"]


# -- 1. the reason of an abort is recorded everywhere -------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (lambda session: os.kill(os.getpid(), signal.SIGINT), CTRL_C),
        (lambda session: session.bench.sim.lamp_sim.open_interlock(True), INTERLOCK),
    ],
    ids=["ctrl-c", "interlock"],
)
def test_the_reason_of_an_abort_is_in_the_file_the_catalog_show_and_the_report(tmp_path, fault, reason):
    with _recording(tmp_path) as session:
        lamp_sim = session.bench.sim.lamp_sim
        out = _run(
            session, H2, {"duration": "2h", "sample_interval": "30min"}, at=1.2 * 3600, fault=lambda: fault(session)
        )
        lit = on_loop(session, lamp_sim.is_lit)
        on_loop(session, lambda: lamp_sim.open_interlock(False))
    assert (out.exit_status, out.reason) == ("abort", reason)
    assert out.safe_state_errors == []
    assert not lit
    stop = _stop(out.jsonl)
    assert (stop["exit_status"], stop["reason"]) == ("abort", reason)
    with open_catalog(tmp_path) as client:
        md = client[out.uid].metadata["stop"]
        assert (md["exit_status"], md["reason"]) == ("abort", reason)

    shown = _cli("runs", "show", out.uid, "--data-dir", tmp_path, "--json")
    assert shown.exit_code == 0, shown.output
    assert (json.loads(shown.stdout)["exit_status"], json.loads(shown.stdout)["reason"]) == ("abort", reason)

    reported = _cli("runs", "report", out.uid, "--data-dir", tmp_path, "--json")
    assert reported.exit_code == 0, reported.output
    folder = tmp_path / "reports" / out.uid
    assert f"- exit status: **abort** — {reason}\n" in (folder / "report.md").read_text(encoding="utf-8")
    assert json.loads((folder / "figures.json").read_text(encoding="utf-8"))["reason"] == reason


# -- 2. a safe state that could not be reached is recorded with the run ------------------------------
def test_a_lamp_that_stops_answering_is_recorded_as_safe_state_not_confirmed(tmp_path):
    with _recording(tmp_path) as session:
        lamp_sim = session.bench.sim.lamp_sim
        out = _run(
            session,
            H2,
            {"duration": "2h", "sample_interval": "30min"},
            at=1.2 * 3600,
            fault=lambda: lamp_sim.inject_silence(True),
        )
        on_loop(session, lambda: lamp_sim.inject_silence(False))
    assert out.exit_status == "abort"
    assert out.safe_state_errors == [LAMP_NOT_SAFE]
    assert out.reason == SILENT_LAMP_REASON
    assert _stop(out.jsonl)["reason"] == SILENT_LAMP_REASON
    with open_catalog(tmp_path) as client:
        assert client[out.uid].metadata["stop"]["reason"] == SILENT_LAMP_REASON


def test_labctl_run_exits_4_when_the_safe_state_was_not_confirmed(tmp_path, monkeypatch):
    """The lamp stops answering 1.2 h into a run started from the command line."""
    plain_run = Session.run

    def run_with_a_silent_lamp(self, plan, **kwargs):
        lamp_sim = self.bench.sim.lamp_sim

        def arm(name, doc):
            asyncio.get_running_loop().call_later(1.2 * 3600, lambda: lamp_sim.inject_silence(True))

        token = self.RE.subscribe(arm, "start")
        try:
            return plain_run(self, plan, **kwargs)
        finally:
            self.RE.unsubscribe(token)
            on_loop(self, lambda: lamp_sim.inject_silence(False))

    monkeypatch.setattr(Session, "run", run_with_a_silent_lamp)
    res = _cli(
        "run", "h2-evolution", "-p", "duration=2h", "-p", "sample_interval=30min",
        "--data-dir", tmp_path, "--json", "--no-progress",
    )  # fmt: skip
    assert res.exit_code == 4, res.output
    out = json.loads(res.stdout)
    assert out["exit_status"] == "abort"
    assert out["safe_state_errors"] == [LAMP_NOT_SAFE]
    assert out["reason"] == SILENT_LAMP_REASON
    assert _stop(Path(out["jsonl"]))["reason"] == SILENT_LAMP_REASON


# -- 3. a full disk ----------------------------------------------------------------------------------
def _disk_full(path: Path, name: str) -> str:
    return f"could not write the {name} document to {path} (No space left on device; 0.0 MB free on that disk)"


def test_a_disk_that_fills_ends_the_run_safely_with_the_data_on_disk_readable(tmp_path):
    """Only runs/ is on the small disk: the catalog, on the large one, records the end of the run."""
    data = tmp_path.resolve()
    with _tmpfs(data / "runs"), _recording(data) as session:
        fluor = session.bench.sim.fluorometer
        out = _run(session, PHOTOSTABILITY, {"duration": "12h", "spectrum_interval": "2min"})
        shutter_open = on_loop(session, lambda: fluor.monochromator.shutter_open)
        lit = on_loop(session, session.bench.sim.lamp_sim.is_lit)
        docs = list(read_jsonl(out.jsonl))
    path = data / "runs" / f"{out.uid}.jsonl"
    assert out.exit_status == "abort"
    assert out.reason == "disk: " + _disk_full(path, "event")
    assert out.disk_error == _disk_full(path, "stop")
    assert out.safe_state_errors == []
    assert out.virtual_s < 6 * 3600  # it did not go on to the 12 h end
    assert not shutter_open and not lit
    names = [n for n, _ in docs]
    assert names[0] == "start" and docs[0][1]["uid"] == out.uid
    assert "stop" not in names
    events = [d for n, d in docs if n == "event"]
    assert len(events) > 100
    with open_catalog(data) as client:
        run = client[out.uid]
        stop = run.metadata["stop"]
        assert (stop["exit_status"], stop["reason"]) == ("abort", out.reason)
        written = len(run["primary"].read()["clock-elapsed"])
    on_disk = sum(1 for d in events if "fluor-point-pl" in d["data"])
    assert written >= on_disk > 100


def test_labctl_run_on_a_disk_that_fills_ends_with_an_error_naming_the_disk(tmp_path):
    data = tmp_path.resolve() / "data"
    with _tmpfs(data / "runs"):
        try:
            res = _labctl(
                "run", "photostability", "-p", "duration=12h", "-p", "spectrum_interval=2min",
                "--data-dir", data, "--json", "--no-progress", cwd=tmp_path, timeout=240,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail("labctl run did not end within 4 minutes of the disk filling")
        (path,) = list((data / "runs").glob("*.jsonl"))
        docs = list(read_jsonl(path))
    assert res.returncode == 1, res.stderr[-3000:]
    assert _disk_full(path, "event") + "\n" in res.stderr
    out = json.loads(res.stdout)
    assert (out["exit_status"], out["reason"]) == ("abort", "disk: " + _disk_full(path, "event"))
    assert out["disk_error"] == _disk_full(path, "stop")
    assert out["safe_state_errors"] == []
    assert docs[0][0] == "start" and docs[0][1]["uid"] == out["uid"] == path.stem
    assert sum(1 for n, _ in docs if n == "event") > 100


def test_a_run_the_disk_cannot_hold_is_refused_before_anything_starts(tmp_path):
    data = tmp_path.resolve() / "small"
    with _tmpfs(data):
        res = _labctl(
            "run", "photostability", "-p", "duration=12h", "--data-dir", data, "--json", cwd=tmp_path, timeout=120
        )
        left = sorted(p.name for p in data.iterdir())
    assert res.returncode == 2
    assert res.stdout == ""
    assert _err(res.stderr) == (
        f"error: not enough disk for this run in {data}: it needs about 40 MB and 4 MB are free; free some space, "
        "or give --data-dir a folder on a larger disk\n"
    )
    assert left == []


# -- 4. a copied or moved data folder; a catalog that cannot be read ---------------------------------
def test_a_moved_data_folder_shows_and_reports_the_same_figures(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    uid = _record_h2(a)
    res = _cli("runs", "report", uid, "--data-dir", a, "--json")
    assert res.exit_code == 0, res.output
    before = (a / "reports" / uid / "figures.json").read_bytes()
    shutil.copytree(a, b)
    shutil.rmtree(a)

    shown = _cli("runs", "show", uid, "--data-dir", b, "--json")
    assert shown.exit_code == 0, shown.output
    out = json.loads(shown.stdout)
    assert out["analysis_error"] is None
    assert out["figures"] == json.loads(before)["figures"]
    assert out["rate"] > 0

    res = _cli("runs", "report", uid, "--data-dir", b, "--json")
    assert res.exit_code == 0, res.output
    assert (b / "reports" / uid / "figures.json").read_bytes() == before
    assert not a.exists()


def test_a_catalog_whose_data_cannot_be_read_fails_the_report_and_keeps_the_old_one(tmp_path):
    uid = _record_h2(tmp_path)
    figures = tmp_path / "reports" / uid / "figures.json"
    before = figures.read_bytes()
    assert json.loads(before)["figures"]["rate"] > 0
    (tmp_path / "tables.sqlite").unlink()

    res = _labctl("runs", "report", uid, "--data-dir", tmp_path, "--json", cwd=tmp_path, timeout=120)
    assert res.returncode == 2
    assert res.stdout == ""
    assert _err(res.stderr).startswith(
        f"error: run {uid[:8]}: stream 'lamp_monitor' could not be read from the catalog (ProgrammingError: "
    )
    assert "no such table: table_" in res.stderr
    assert res.stderr.endswith(
        "); nothing was written. If the data folder was moved, open it once with this labctl (it re-points the "
        "catalog), or run 'labctl runs repair UID' to rebuild the run from its JSON-lines file\n"
    )
    assert figures.read_bytes() == before


# -- 5. a run uid is never a path --------------------------------------------------------------------
def _not_a_uid(uid: str) -> str:
    return f"error: run uid {uid!r} is not a uid or a prefix of one (hex digits and '-'); see 'labctl runs list'\n"


def test_uids_that_are_paths_read_and_write_nothing_outside_the_data_folder(tmp_path):
    data = tmp_path / "o1" / "o2" / "o3" / "data"
    uid = _record_h2(data)
    outside = _files_outside(tmp_path, data)

    for args, bad in [
        (("runs", "report", "../../../x"), "../../../x"),
        (("runs", "show", "../x"), "../x"),
        (("runs", "export", "../x"), "../x"),
        (("runs", "export", "../x", "--format", "jsonl"), "../x"),
        (("runs", "show", ""), ""),
    ]:
        res = _labctl(*args, "--data-dir", data, cwd=tmp_path, timeout=120)
        assert (res.returncode, res.stdout, _err(res.stderr)) == (2, "", _not_a_uid(bad)), args

    # a run file planted in runs/ whose start document names a path as its uid, left open
    planted = data / "runs" / "abcdef12-0000-4000-8000-000000000000.jsonl"
    with planted.open("w", encoding="utf-8") as fh:
        for name, doc in read_jsonl(data / "runs" / f"{uid}.jsonl"):
            if name == "stop":
                break
            doc = {**doc, "uid": "../../../evil"} if name == "start" else doc
            doc = {**doc, "run_start": "../../../evil"} if "run_start" in doc else doc
            fh.write(json.dumps({"name": name, "doc": doc}) + "\n")

    res = _labctl("runs", "report", "abcdef12", "--data-dir", data, cwd=tmp_path, timeout=120)
    assert res.returncode == 2
    assert _err(res.stderr) == (
        "run abcdef12 never closed (labctl was killed or lost power): closed, catalog failed: ValueError: "
        f"{planted.name}: its start document's uid '../../../evil' is not a run uid; not put in the catalog\n"
        "error: no run with uid 'abcdef12' in the catalog; see 'labctl runs list'\n"
    )
    listed = _labctl("runs", "list", "--data-dir", data, "--json", cwd=tmp_path, timeout=120)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert [r["uid"] for r in json.loads(listed.stdout)] == [uid]
    assert _files_outside(tmp_path, data) == outside


# -- 6. the JSON-lines file ----------------------------------------------------------------------------
def test_every_document_is_on_disk_as_soon_as_it_is_written(tmp_path):
    writer = JsonLinesWriter(tmp_path / "runs")
    uid = "0b9a3e2c-0000-4000-8000-000000000001"
    writer("start", {"uid": uid, "time": 0.0})
    for i in range(20):
        writer("event", {"uid": f"e{i}", "descriptor": "d", "seq_num": i + 1, "time": float(i), "data": {"x": i}})
    try:
        path = tmp_path / "runs" / f"{uid}.jsonl"
        with path.open("rb") as other_reader:
            assert other_reader.read().count(b"\n") == 21
        docs = list(read_jsonl(path))
        assert [n for n, _ in docs] == ["start"] + ["event"] * 20
        assert [d["data"]["x"] for _, d in docs[1:]] == list(range(20))
    finally:
        writer.close()


def test_a_line_of_invalid_utf8_is_skipped_and_every_other_line_kept(tmp_path, caplog):
    path = tmp_path / "torn.jsonl"
    lines = [json.dumps({"name": "start", "doc": {"uid": "u"}}).encode()]
    lines += [json.dumps({"name": "event", "doc": {"seq_num": i}}).encode() for i in (1, 2)]
    lines += [b'{"name": "event", "doc": {"seq_num": \xff\xfe\x80}}']  # a disk error mid-file
    lines += [json.dumps({"name": "event", "doc": {"seq_num": i}}).encode() for i in (4, 5)]
    lines += [json.dumps({"name": "stop", "doc": {"exit_status": "success"}}).encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    docs = list(read_jsonl(path))
    assert [n for n, _ in docs] == ["start", "event", "event", "event", "event", "stop"]
    assert [d["seq_num"] for n, d in docs if n == "event"] == [1, 2, 4, 5]
    assert f"{path}: skipping line 4, which is not a whole document" in caplog.messages


# -- 7. --json on an aborted run ---------------------------------------------------------------------
def test_run_json_on_a_run_stopped_by_ctrl_c_prints_json_only_and_exits_130(tmp_path):
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labctl.cli", "run", "h2-evolution", "-p", "duration=1h", "-p", "sample_interval=30min",
         "--time", "real", "--json", "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            files = list((data / "runs").glob("*.jsonl")) if (data / "runs").is_dir() else []
            if files and files[0].read_bytes().startswith(b'{"name": "start"') and b"\n" in files[0].read_bytes():
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr[-3000:]
    out = json.loads(stdout)  # the whole of stdout is one JSON document
    assert (out["exit_status"], out["reason"]) == ("abort", CTRL_C)
    assert "Pausing..." in stderr and "Pausing..." not in stdout
    assert _stop(Path(out["jsonl"]))["reason"] == CTRL_C
