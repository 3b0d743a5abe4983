"""The Python API: the README's session as a plain script, any RunEngine, scan_id across
sessions, no change to bluesky on import, and mock devices that open no port."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.utils
import pytest
from bluesky import RunEngine

import labctl
from labctl.session import RunEngineMetadata

ROOT = Path(__file__).resolve().parents[2]
BLUESKY_PLAN = (bluesky.utils.Plan.__init__, bluesky.utils.Plan.__del__)


def readme_session() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's Python API section has no python block"
    return match.group(1)


def test_readme_session_runs_as_a_plain_script_without_a_main_guard(tmp_path: Path) -> None:
    """The README's code, saved as a script with no ``__main__`` guard (the catalog writer's
    worker must not re-run it), run twice: the second session's scan_ids follow the first's."""
    script = tmp_path / "session.py"
    script.write_text(readme_session() + "\nprint('EXIT', run.metadata['start']['scan_id'])\n", encoding="utf-8")
    for expected in ("EXIT 2", "EXIT 4"):
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=400)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "bootstrapping" not in done.stderr
        lines = done.stdout.strip().splitlines()
        assert lines[-1] == expected, done.stdout
        assert lines[-3].split() == [expected.split()[1], "success"]
        amounts = lines[-2]
        assert amounts.startswith("[") and "nan" not in amounts
    assert len(list((tmp_path / "labctl-data" / "runs").glob("*.jsonl"))) == 4


def test_import_and_a_session_leave_bluesky_alone(dry_session) -> None:
    assert (bluesky.utils.Plan.__init__, bluesky.utils.Plan.__del__) == BLUESKY_PLAN
    outcome = dry_session.run(bp.count([dry_session.bench.devices["reactor"]], num=2))
    assert outcome.exit_status == "success"
    dry_session.close()
    assert (bluesky.utils.Plan.__init__, bluesky.utils.Plan.__del__) == BLUESKY_PLAN


def test_import_labctl_in_a_fresh_interpreter_changes_nothing() -> None:
    code = (
        "import bluesky.utils as u; before = (u.Plan.__init__, u.Plan.__del__); import labctl, labctl.session;"
        "assert (u.Plan.__init__, u.Plan.__del__) == before; print('same')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "same", done.stderr


def test_record_on_any_run_engine_and_scan_id_across_sessions(tmp_path: Path) -> None:
    def one_run():
        yield from bps.open_run(md={"plan_name": "empty"})
        yield from bps.close_run()

    for expected in (1, 2):
        RE = RunEngine({})
        with labctl.record(RE, data_dir=tmp_path) as rec:
            (uid,) = RE(one_run())
            assert not rec.errors
        assert not isinstance(RE.md, RunEngineMetadata)  # detached: the RunEngine's own md again
        with labctl.open_catalog(tmp_path) as cat:
            assert cat[uid].metadata["start"]["scan_id"] == expected
    assert RunEngineMetadata(tmp_path / "runengine-md.json")["scan_id"] == 2


def test_open_bench_on_a_given_run_engine(tmp_path: Path) -> None:
    RE = RunEngine({})
    with labctl.open_bench("sim", data_dir=tmp_path, RE=RE) as bench, labctl.record(RE, data_dir=tmp_path, bench=bench):
        assert bench.RE is RE and bench.recording is None
        assert set(bench.devices) >= {"lamp", "gc", "reactor", "operator", "clock"}
        assert bench.reactor is bench.devices["reactor"]
        (uid,) = RE(bp.count([bench.reactor], num=2))
        with pytest.raises(AttributeError, match="its devices: lamp"):
            _ = bench.no_such_device
    with labctl.open_catalog(tmp_path) as cat:
        start = cat[uid].metadata["start"]
    assert start["bench"] == "sim" and start["simulated"] is True
    assert "bench" not in RE.md  # detached


def test_session_keeps_run_engine_md_in_the_data_folder(tmp_path: Path) -> None:
    from labctl.session import Session

    with Session(data_dir=tmp_path, record=True) as s:
        assert isinstance(s.RE.md, RunEngineMetadata)
    with Session(data_dir=tmp_path / "dry", record=False) as s:
        assert not isinstance(s.RE.md, RunEngineMetadata)


def test_mock_devices_of_a_real_bench_open_no_port(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``init_devices(mock=True)`` on devices wired to ports that do not exist: no port is opened."""
    import serial
    from ophyd_async.core import init_devices

    from labctl.bench import ChromatogramProcessor
    from labctl.devices.drivers.numato_relay import NumatoRelay
    from labctl.devices.drivers.oriel_lamp import OrielLampDriver
    from labctl.devices.gc import GasChromatograph
    from labctl.devices.lamp import ArcLamp
    from labctl.devices.transports import SerialTransport

    opened: list[str] = []

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        opened.append(url)
        raise AssertionError(f"port {url} opened in mock mode")

    monkeypatch.setattr(serial, "serial_for_url", refuse)
    RunEngine({})  # init_devices connects on the RunEngine's loop
    with init_devices(mock=True):
        lamp = ArcLamp(OrielLampDriver(SerialTransport("lamp", "/dev/ttyUSB9")), max_power_w=300.0)
        gc = GasChromatograph(NumatoRelay(SerialTransport("gc", "/dev/ttyUSB8")), tmp_path, ChromatogramProcessor({}))
    assert lamp.name == "lamp" and gc.name == "gc"
    assert opened == []
