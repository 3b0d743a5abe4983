"""What labctl tells a user about its experiments, figures and progress: the experiment list,
each parameter's unit, default, range and meaning, figures with their units, the progress
bar's fields, and no library chatter on the terminal."""

from __future__ import annotations

import json
import re
import time

from typer.testing import CliRunner

from labctl.cli import _print_run_summary, app
from labctl.reports.run_report import write_report
from labctl.session import _Progress

runner = CliRunner(env={"COLUMNS": "200"})


def _rows(text: str) -> list[list[str]]:
    """The cells of each row of a rich table in ``text`` (box-drawing separators)."""
    return [[c.strip() for c in line.strip().strip("│").split("│")] for line in text.splitlines() if "│" in line]


def test_experiments_lists_every_experiment_with_its_summary():
    res = runner.invoke(app, ["experiments", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    names = [r["name"] for r in rows]
    assert names[:3] == ["h2-evolution", "co2-photoreduction", "gc-calibration"]
    assert {"plqy", "pl-decay", "recycle", "co2-cycloaddition"} <= set(names)
    assert rows[0]["summary"] == "Photocatalytic H2 evolution: dark baseline, lamp on, GC headspace samples"
    text = runner.invoke(app, ["experiments"]).output
    assert "h2-evolution" in text and "labctl run EXPERIMENT --help" in text


def test_experiment_parameters_as_json_carry_unit_default_range_and_meaning():
    res = runner.invoke(app, ["experiments", "h2-evolution", "--json"])
    assert res.exit_code == 0, res.output
    params = {p["name"]: p for p in json.loads(res.output)["params"]}
    assert params["duration"] == {
        "name": "duration",
        "unit": "s",
        "default": "4h",
        "range": "1 min to 30 d",
        "help": "irradiation time",
    }
    assert params["dark_samples"] == {
        "name": "dark_samples",
        "unit": "count",
        "default": "2",
        "range": "0 to 50",
        "help": "GC samples before the lamp is on",
    }
    assert params["light_power"]["range"] == "1 µW to 10 W" and params["light_power"]["default"] is None


def test_run_help_with_an_experiment_prints_its_parameter_table():
    res = runner.invoke(app, ["run", "h2-evolution", "--help"])
    assert res.exit_code == 0, res.output
    rows = _rows(res.output)
    assert ["catalyst_mass", "g", "10mg", "0.1 mg to 10 g", "catalyst mass in the reactor"] in rows
    assert ["sample_interval", "s", "30min", "1 min to 1 d", "time between GC samples"] in rows
    assert ["wavelength", "nm", "(none)", "200 nm to 1100 nm", "monochromatic wavelength (for AQY)"] in rows
    cyclo = _rows(runner.invoke(app, ["run", "co2-cycloaddition", "--help"]).output)
    assert ["temperature", "°C", "70degC", "-20 °C to 350 °C", "reaction temperature"] in cyclo
    # without an experiment, the help says where the parameters are
    plain = runner.invoke(app, ["run", "--help"]).output
    assert "labctl run h2-evolution --help" in plain and "catalyst_mass" not in plain
    same = _rows(runner.invoke(app, ["experiments", "h2-evolution"]).output)
    assert ["catalyst_mass", "g", "10mg", "0.1 mg to 10 g", "catalyst mass in the reactor"] in same


def test_run_help_names_an_unknown_experiment():
    res = runner.invoke(app, ["run", "h2-evolutionn", "--help"])
    assert res.exit_code == 0
    assert "no experiment named 'h2-evolutionn'" in res.output


H2_FIGURES = {
    "rate": 3171.4,
    "rate_stderr": 31.9,
    "model_rate": 3122.0,
    "r_squared": 0.9993,
    "total_umol": 342.1,
    "aqy": None,
    "dark_rate": 0.0,
    "leak_suspect": False,
    "notes": [],
}
PLQY_FIGURES = {
    "plqy": 0.3524,
    "plqy_err": 0.0007,
    "plqy_percent": 35.24,
    "absorbed_fraction": 0.412,
    "notes": [],
}


def _summary(capsys, experiment: str, figures: dict) -> list[list[str]]:
    _print_run_summary({"uid": "0123", "exit_status": "success", "experiment": experiment, "figures": figures})
    return _rows(capsys.readouterr().out)


def test_h2_figures_are_printed_with_their_units(capsys):
    rows = _summary(capsys, "h2-evolution", H2_FIGURES)
    assert ["rate", "3171", "µmol g⁻¹ h⁻¹"] in rows
    assert ["rate_stderr", "31.9", "µmol g⁻¹ h⁻¹"] in rows
    assert ["total_umol", "342.1", "µmol"] in rows
    assert ["aqy", "n/a", ""] in rows


def test_plqy_and_its_error_are_both_printed_in_percent(capsys):
    rows = _summary(capsys, "plqy", PLQY_FIGURES)
    assert ["plqy_percent", "35.24", "%"] in rows
    assert ["plqy_err", "0.07", "%"] in rows
    assert ["absorbed_fraction", "41.2", "%"] in rows


def test_cycloaddition_figures_carry_units(capsys):
    figs = {"conversion_percent": 62.5, "ton": 4210.0, "tof": 701.7, "hold_h": 6.0, "notes": []}
    rows = _summary(capsys, "co2-cycloaddition", figs)
    assert ["ton", "4210", "per cluster"] in rows
    assert ["tof", "701.7", "h⁻¹ per cluster"] in rows
    assert ["conversion_percent", "62.5", "%"] in rows


def test_report_md_prints_plqy_and_its_error_in_percent(tmp_path):
    start = {"uid": "0123", "experiment": "plqy", "plan_name": "plqy", "bench": "sim", "simulated": True}
    files = write_report(tmp_path, start=start, stop={"exit_status": "success"}, figures=PLQY_FIGURES, series=None,
                         tables={}, error=None)  # fmt: skip
    md = files["markdown"].read_text(encoding="utf-8")
    assert "| PLQY (%) | 35.24 |" in md
    assert "| ± standard error (%) | 0.07 |" in md
    assert "fraction" not in md.split("## Figures of merit")[1].replace("absorbed fraction (%)", "")


def test_progress_fields_show_bench_time_samples_and_wall_clock_eta():
    bench, wall = [0.0], [100.0]
    epoch = 1_800_000_000.0
    prog = _Progress(True, bench_clock=lambda: bench[0], wall_clock=lambda: wall[0], wall_time=lambda: epoch,
                     draw=False)  # fmt: skip
    prog("start", {"planned_duration_s": 4 * 3600, "num_points": 10, "detectors": ["gc", "clock", "lamp"]})
    assert prog.fields() == {"bench": "0:00:00 / 4:00:00 bench time", "samples": "sample 0 of 10", "eta": "ETA --"}
    prog("descriptor", {"name": "baseline", "uid": "b"})
    prog("descriptor", {"name": "primary", "uid": "p"})
    prog("event", {"descriptor": "b"})
    for _ in range(3):
        prog("event", {"descriptor": "p"})
    bench[0], wall[0] = 5400.0, 102.0  # 1.5 h of bench time in 2 s: 9000 s left take 3.33 s
    prog("event", {"descriptor": "b"})
    fields = prog.fields()
    assert fields["bench"] == "1:30:00 / 4:00:00 bench time"
    assert fields["samples"] == "sample 3 of 10"
    at = time.strftime("%H:%M:%S", time.localtime(epoch + 9000 * 2 / 5400))
    assert fields["eta"] == f"ETA {at}"


def test_progress_without_a_planned_count_counts_points():
    prog = _Progress(True, bench_clock=lambda: 0.0, wall_clock=lambda: 0.0, draw=False)
    prog("start", {"planned_duration_s": 60, "detectors": ["fluor"]})
    prog("descriptor", {"name": "primary", "uid": "p"})
    prog("event_page", {"descriptor": "p", "seq_num": [1, 2]})
    assert prog.fields()["samples"] == "points 2"
    assert re.fullmatch(r"0:00:00 / 0:01:00 bench time", prog.fields()["bench"])
