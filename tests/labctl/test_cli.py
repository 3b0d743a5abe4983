"""The labctl command line, as a user types it (bad input included)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from labctl.cli import app

runner = CliRunner()


def _json(text: str):
    """The first JSON value in ``text`` (progress or library chatter may surround it)."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    return json.JSONDecoder().raw_decode(text[min(starts) :])[0]


def test_help_does_not_import_the_heavy_stack():
    heavy = "('bluesky', 'ophyd_async', 'tiled', 'matplotlib')"
    code = f"import sys, labctl.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dry_run_reports_duration_timeline_checks_and_rate_as_json():
    res = runner.invoke(
        app,
        [
            "dry-run",
            "h2-evolution",
            "--bench",
            "sim",
            "-p",
            "duration=12h",
            "-p",
            "sample_interval=30min",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = _json(res.output)
    assert out["estimated_duration_s"] == pytest.approx(13 * 3600 + 7 * 60, rel=0.02)
    assert out["rate"] > 0 and out["figures"]["rate"] == out["rate"]
    assert any("lamp_power 300 W <= limit 500 W" in c for c in out["checks"])
    steps = [s["step"] for s in out["timeline"]]
    assert steps.count("GC sample (inject headspace, wait for chromatogram)") == 2 + 24
    assert "lamp on (ignite, wait for arc)" in steps and steps[-2:] == ["lamp off", "run closes"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dry-run", "h2-evolutionn"], "no experiment named 'h2-evolutionn'"),
        (["dry-run", "h2-evolution", "-p", "colour=blue"], "has no parameter colour"),
        (["dry-run", "h2-evolution", "-p", "duration=4"], "has no unit; give it with units"),
        (["dry-run", "h2-evolution", "-p", "duration=4kg"], "cannot be converted to s"),
        (
            ["dry-run", "h2-evolution", "-p", "lamp_power=900W"],
            "lamp_power=900 W is outside the bench limit 0-500 W",
        ),
        (["dry-run", "h2-evolution", "--bench", "nowhere"], "no bench named 'nowhere'"),
        (["run", "h2-evolution", "-p", "duration"], "must be name=value"),
    ],
)
def test_bad_input_gets_a_clear_error(args, message, tmp_path):
    res = runner.invoke(app, [*args, "--data-dir", str(tmp_path)] if args[0] == "run" else args)
    assert res.exit_code == 2
    assert message in res.output.replace("\n", " ") or message in (res.stderr or "")


def test_run_then_list_show_export_report(tmp_path):
    d = str(tmp_path)
    res = runner.invoke(
        app,
        [
            "run",
            "h2-evolution",
            "--bench",
            "sim",
            "-p",
            "duration=2h",
            "--data-dir",
            d,
            "--json",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    run = _json(res.output)
    uid = run["uid"]
    assert run["simulated"] is True and run["figures"]["rate"] > 0
    assert (tmp_path / "reports" / uid / "h2.png").stat().st_size > 10_000
    assert "simulated bench" in (tmp_path / "reports" / uid / "report.md").read_text()
    listed = _json(runner.invoke(app, ["runs", "list", "--data-dir", d, "--json"]).output)
    assert [r["uid"] for r in listed] == [uid]
    shown = _json(runner.invoke(app, ["runs", "show", uid[:8], "--data-dir", d, "--json"]).output)
    assert shown["rate"] == pytest.approx(run["figures"]["rate"], rel=1e-9)
    assert shown["exit_status"] == "success" and shown["simulated"] is True
    runner.invoke(app, ["runs", "export", uid, "--format", "csv", "--data-dir", d, "-o", str(tmp_path / "x.csv")])
    csv = (tmp_path / "x.csv").read_text()
    assert "gc-h2_loop_umol" in csv.splitlines()[0] and len(csv.splitlines()) == 1 + 2 + 4
    rep = runner.invoke(app, ["runs", "report", uid, "--data-dir", d])
    assert rep.exit_code == 0 and "h2.png" in rep.output


def test_devices_check_reads_every_instrument(tmp_path):
    res = runner.invoke(app, ["devices", "check", "--bench", "sim", "--data-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = _json(res.output)
    assert {r["device"] for r in out} == {
        "lamp",
        "gc",
        "reactor",
        "clock",
        "parr",
        "operator",
        "nmr",
        "fluor",
        "gc_calibrations",
    }
    assert all(r["ok"] for r in out)


def test_dry_run_of_the_cycloaddition_reports_conversion_ton_tof():
    res = runner.invoke(app, ["dry-run", "co2-cycloaddition", "--bench", "sim", "-p", "hold=2h", "--json"])
    assert res.exit_code == 0, res.output
    out = _json(res.output)
    assert 0 < out["conversion"] < 1 and out["ton"] > 0 and out["tof"] > 0
    assert any("pressure 3 bar <= vessel limit 30 bar" in c for c in out["checks"])
    assert "heat to 70.0 °C (until settled)" in [s["step"] for s in out["timeline"]]


def test_cycloaddition_above_the_vessel_rating_is_refused():
    res = runner.invoke(app, ["dry-run", "co2-cycloaddition", "-p", "pressure=45bar"])
    assert res.exit_code == 2
    assert "pressure=45 bar is outside the vessel limit 0-30 bar" in res.output


def test_cycloaddition_run_reads_back_from_the_catalog(tmp_path):
    d = str(tmp_path)
    res = runner.invoke(app, ["run", "co2-cycloaddition", "-p", "hold=1h", "--data-dir", d, "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    run = _json(res.output)
    assert (tmp_path / "reports" / run["uid"] / "trace.png").stat().st_size > 10_000
    shown = _json(runner.invoke(app, ["runs", "show", run["uid"], "--data-dir", d, "--json"]).output)
    assert shown["experiment"] == "co2-cycloaddition"
    assert shown["ton"] == pytest.approx(run["figures"]["ton"], rel=1e-9)
    assert shown["conversion"] == pytest.approx(run["figures"]["conversion"], rel=1e-9)


def test_dry_run_of_co2_photoreduction_reports_rates_and_selectivity_by_name():
    res = runner.invoke(app, ["dry-run", "co2-photoreduction", "--bench", "sim", "-p", "duration=3h", "--json"])
    assert res.exit_code == 0, res.output
    out = _json(res.output)
    assert out["CO_rate"] > 0 and out["H2_rate"] > out["CO_rate"]
    assert set(out["selectivity"]) == {"CO", "CH4", "H2"}
    assert any("CO2" in s["step"] for s in out["timeline"])


def test_a_growth_dry_run_that_outgrows_the_spectrometer_says_so():
    # 12 mL at 2 mL/h grows the dots past the spectrometer's 1100 nm: the end values are an earlier
    # spectrum's, and the summary says which and why
    args = ["dry-run", "cluster-growth", "--bench", "sim-synthesis", "-p", "injection_rate=2mL/h",
            "-p", "injection_volume=12mL", "-p", "temperature=280degC", "-p", "spectrum_interval=120s"]  # fmt: skip
    out = _json(runner.invoke(app, [*args, "--json"]).output)
    assert out["exit_status"] == "success"
    assert out["figures"]["first_exciton_time_s"] < 23000.0
    assert out["end_note"].startswith(
        f"the end values are the last fitted spectrum's, at {out['figures']['first_exciton_time_s']:.0f} s of 23044 s; "
        "the last spectrum gave none: the absorbance rises again to the red of the band at"
    )
    assert out["end_note"].endswith("at or beyond the range's end (1100.0 nm); extend the range to the red")


def test_calibrations_list_and_show_after_a_calibration_run(tmp_path):
    d = str(tmp_path)
    run = runner.invoke(app, ["run", "gc-calibration", "--bench", "sim", "-p", "gas=CO", "-p", "amounts=0.5,1,2,5umol",
                              "--data-dir", d, "--json", "--no-progress"])  # fmt: skip
    assert run.exit_code == 0, run.output
    listed = _json(runner.invoke(app, ["calibrations", "list", "--data-dir", d, "--json"]).output)
    co = next(c for c in listed["calibrations"] if c["gas"] == "CO")
    assert co["range_umol"] == [0.5, 5.0] and co["r_squared"] > 0.999 and co["history"] == 2  # bench-open + run
    shown = _json(runner.invoke(app, ["calibrations", "show", "CO", "--data-dir", d, "--json"]).output)
    assert shown["in_force"]["amount_max_umol"] == 5.0 and len(shown["in_force"]["residuals"]) == 4
    assert [r["exit_status"] for r in shown["calibration_runs"]] == ["success"]
    missing = runner.invoke(app, ["calibrations", "show", "NO", "--data-dir", d])
    assert missing.exit_code != 0 and "no calibration in force for 'NO'" in missing.output


def test_dry_run_sample_count_agrees_with_its_timeline_and_the_lamp_goes_off_once():
    res = runner.invoke(app, ["dry-run", "h2-evolution", "-p", "duration=12h", "-p", "sample_interval=30min", "--json"])
    assert res.exit_code == 0, res.output
    out = _json(res.output)
    steps = [s["step"] for s in out["timeline"]]
    gc = [s for s in steps if s.startswith("GC sample")]
    assert out["samples"] == len(gc) == out["planned_samples"] == 26
    assert steps.count("lamp off") == 1
    assert any(c.endswith("gives 24 samples under light (+ 2 in the dark = 26 GC samples)") for c in out["checks"])
    text = runner.invoke(app, ["dry-run", "h2-evolution", "-p", "duration=12h"]).output
    assert "GC samples: 26 (2 in the dark, 24 under light)" in text
    assert text.count("lamp off") == 1


def test_run_prints_no_library_log_lines(tmp_path):
    """Tiled's "Tiled version ..." and pymodbus's "Cancel send ..." stay off the terminal; the
    figures carry their units."""
    env = {**os.environ, "LABCTL_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "labctl.cli", "run", "h2-evolution", "--bench", "sim", "-p", "duration=1h"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    both = res.stdout + res.stderr
    assert "Cancel send" not in both
    assert re.search(r"│ rate +│ +[\d.]+ │ µmol g⁻¹ h⁻¹ │", res.stdout), res.stdout
    assert re.search(r"bench time +sample 4 of 4", both), both


def test_run_prints_no_tiled_version_line(tmp_path):
    env = {**os.environ, "LABCTL_DATA_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "labctl.cli", "run", "h2-evolution", "--bench", "sim", "-p", "duration=1h"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Tiled version" not in res.stdout + res.stderr


def test_verbose_lets_library_log_lines_through():
    import logging

    from labctl.cli import setup_logging

    try:
        setup_logging(True)
        assert logging.getLogger("pymodbus.logging").filters[0](logging.makeLogRecord({"name": "pymodbus.logging"}))
        setup_logging(False)
        record = logging.makeLogRecord({"name": "tiled.server.app", "levelno": logging.INFO})
        assert not logging.getLogger("tiled.server.app").filters[0](record)
        assert logging.getLogger("labctl").getEffectiveLevel() == logging.WARNING
    finally:
        setup_logging(False)
