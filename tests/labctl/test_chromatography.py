"""Tests of GC trace reading, peak integration, calibration and headspace conversion."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from labctl.analysis.chromatography import (
    DEFAULT_WINDOWS,
    Calibration,
    CalibrationError,
    Chromatogram,
    ChromatogramFormatError,
    RetentionWindow,
    estimate_noise_uv,
    fit_calibration,
    headspace_amount_umol,
    integrate_peaks,
    read_chromatogram,
)
from labctl.sim.instruments.chromatogram import MOLSIEVE_5A_AR, synthesize_chromatogram, write_chromatogram

METHOD = MOLSIEVE_5A_AR.name
STANDARDS_UMOL = (0.5, 1.0, 2.0, 5.0, 10.0)


def _chrom(injected: dict[str, float], seed: int, *, noise_uv: float | None = None) -> Chromatogram:
    """A synthesized trace with the default 1.5 % area noise."""
    method = MOLSIEVE_5A_AR
    if noise_uv is not None:
        method = dataclasses.replace(method, baseline_noise_uv=noise_uv)
    t, y = synthesize_chromatogram(injected, method, np.random.default_rng(seed))
    return Chromatogram(t, y, {"method": METHOD})


def _calibrate(gas: str, seed: int) -> Calibration:
    areas = [integrate_peaks(_chrom({gas: a}, seed + i))[gas].area for i, a in enumerate(STANDARDS_UMOL)]
    return fit_calibration(gas, STANDARDS_UMOL, areas, method=METHOD)


def _cal(**overrides: object) -> Calibration:
    base: dict[str, object] = {
        "gas": "H2",
        "slope": 40000.0,
        "intercept": 100.0,
        "r_squared": 0.9998,
        "residuals": (1.0, -2.0, 1.0),
        "amount_min_umol": 0.5,
        "amount_max_umol": 10.0,
        "created": "2024-05-01T10:00:00+00:00",
        "method": METHOD,
        "n_points": 3,
    }
    base.update(overrides)
    return Calibration(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- windows


def test_default_windows_bracket_the_method_peaks() -> None:
    windows = {w.gas: w for w in DEFAULT_WINDOWS}
    assert set(windows) == set(MOLSIEVE_5A_AR.gases)
    for spec in MOLSIEVE_5A_AR.peaks:
        w = windows[spec.gas]
        assert w.start_min <= spec.retention_min - 5 * spec.sigma_min
        assert w.end_min >= spec.retention_min + 5 * spec.sigma_min + 8 * spec.tau_min
        assert w.end_min < MOLSIEVE_5A_AR.run_time_min


def test_window_must_have_start_before_end() -> None:
    with pytest.raises(ValueError, match="start < end"):
        RetentionWindow("H2", 1.0, 0.5)


# ----------------------------------------------------------------------------- integration


@pytest.mark.parametrize("drift", [0.0, 15.0, -25.0])
def test_integration_recovers_known_areas_with_drift(drift: float) -> None:
    injected = {"H2": 3.0, "O2": 2.0, "N2": 8.0, "CH4": 2.0, "CO": 3.0}
    method = dataclasses.replace(MOLSIEVE_5A_AR, baseline_drift_uv_per_min=drift)
    t, y = synthesize_chromatogram(injected, method, np.random.default_rng(11), area_noise=0.0)
    peaks = integrate_peaks(Chromatogram(t, y))
    for spec in MOLSIEVE_5A_AR.peaks:
        peak = peaks[spec.gas]
        assert peak.detected and peak.signal_to_noise > 50
        assert peak.area == pytest.approx(spec.response_factor * injected[spec.gas], rel=0.02)
        assert abs(peak.retention_min - spec.retention_min) <= spec.tau_min + 0.01
        assert peak.area_unit == "uV*s"


def test_noise_estimate_matches_the_configured_noise() -> None:
    chrom = _chrom({"H2": 5.0, "N2": 5.0}, 12, noise_uv=3.0)
    assert estimate_noise_uv(chrom.signal) == pytest.approx(3.0, rel=0.1)


def test_empty_window_is_not_detected() -> None:
    peaks = integrate_peaks(_chrom({"H2": 1.0}, 13))
    assert peaks["H2"].detected
    co_small = MOLSIEVE_5A_AR.peak("CO").response_factor * 0.5
    for gas in ("O2", "N2", "CH4", "CO"):
        peak = peaks[gas]
        assert not peak.detected
        assert peak.area >= 0.0
        assert peak.area < 0.05 * co_small


def test_integration_after_file_round_trip(tmp_path: Path) -> None:
    injected = {"H2": 1.0, "CO": 2.0}
    t, y = synthesize_chromatogram(injected, MOLSIEVE_5A_AR, np.random.default_rng(14), area_noise=0.0)
    path = write_chromatogram(tmp_path / "x.csv", t, y, metadata={"method": METHOD})
    peaks = integrate_peaks(read_chromatogram(path))
    for gas, amount in injected.items():
        expected = MOLSIEVE_5A_AR.peak(gas).response_factor * amount
        assert peaks[gas].area == pytest.approx(expected, rel=0.02)


# ----------------------------------------------------------------------------- calibration


@pytest.mark.parametrize(("gas", "seed"), [("H2", 100), ("CO", 200), ("CH4", 300)])
def test_calibration_from_standards_recovers_unknown(gas: str, seed: int) -> None:
    cal = _calibrate(gas, seed)
    assert cal.r_squared >= 0.999
    assert cal.n_points == 5 and len(cal.residuals) == 5
    assert (cal.amount_min_umol, cal.amount_max_umol) == (0.5, 10.0)
    assert cal.units == "area_per_umol" and cal.method == METHOD
    unknown = 3.7
    # The unknown is injected in triplicate and the mean area used, as on the bench.
    area = float(np.mean([integrate_peaks(_chrom({gas: unknown}, seed + 50 + k))[gas].area for k in range(3)]))
    result = cal.amount(area)
    assert result.in_range and not result.extrapolated and not result.below_intercept
    assert result.amount_umol == pytest.approx(unknown, rel=0.03)
    assert gas in result.message


def test_too_few_points_raise() -> None:
    with pytest.raises(CalibrationError, match=r"H2 calibration needs at least 3 standards, got 2"):
        fit_calibration("H2", [1.0, 2.0], [40000.0, 80000.0], method=METHOD)


def test_poor_fit_raises_with_r2_and_limit() -> None:
    amounts = [0.5, 1.0, 2.0, 5.0, 10.0]
    areas = [1500.0, 3000.0, 9000.0, 12000.0, 30000.0]
    with pytest.raises(CalibrationError) as info:
        fit_calibration("CO", amounts, areas, method=METHOD)
    message = str(info.value)
    assert re.search(r"CO calibration rejected: R\^2 = 0\.9\d+ is below the limit 0\.999", message)
    assert "n = 5 points" in message and "area = " in message and "Fix:" in message


def test_identical_amounts_raise() -> None:
    with pytest.raises(CalibrationError, match="2 different amounts"):
        fit_calibration("O2", [1.0, 1.0, 1.0], [3500.0, 3510.0, 3490.0], method=METHOD)


def test_amount_flags_extrapolation_and_below_intercept() -> None:
    cal = _cal()
    high = cal.amount(cal.slope * 20.0 + cal.intercept)
    assert high.extrapolated and not high.in_range
    assert high.amount_umol == pytest.approx(20.0)
    assert "above the calibrated range" in high.message

    low = cal.amount(cal.slope * 0.1 + cal.intercept)
    assert low.extrapolated and not low.below_intercept
    assert "below the calibrated range" in low.message

    under = cal.amount(cal.intercept / 2)
    assert under.amount_umol == 0.0 and under.below_intercept and under.extrapolated
    assert "intercept" in under.message

    edge = cal.amount(cal.slope * 10.0 + cal.intercept)
    assert edge.in_range and not edge.extrapolated


def test_save_load_round_trip(tmp_path: Path) -> None:
    cal = fit_calibration(
        "N2",
        STANDARDS_UMOL,
        [3200.0 * a + 15.0 + e for a, e in zip(STANDARDS_UMOL, (3, -5, 2, 4, -4), strict=True)],
        method=METHOD,
        created=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
    )
    path = cal.save(tmp_path / "n2.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["units"] == "area_per_umol" and data["slope_unit"] == "uV*s/umol"
    assert data["created"] == "2024-05-01T10:00:00+00:00"
    assert Calibration.load(path) == cal
    assert Calibration.from_dict(cal.to_dict()) == cal
    assert [p.name for p in tmp_path.iterdir()] == ["n2.json"]


def test_from_dict_refuses_other_units() -> None:
    data = _cal().to_dict()
    data["area_unit"] = "uV*min"
    with pytest.raises(CalibrationError, match="uV\\*min"):
        Calibration.from_dict(data)


# ------------------------------------------------------------------------------ headspace


def test_headspace_amount_against_hand_calculation() -> None:
    # 0.5 mL at 298.15 K, 101325 Pa holds 101325 * 0.5e-6 / (8.314462618 * 298.15) = 20.44 µmol;
    # 1 µmol there is a mole fraction 0.0489; 20 mL holds 40x as much gas -> 40 µmol.
    common = {"loop_temperature_k": 298.15, "loop_pressure_pa": 101325.0}
    got = headspace_amount_umol(
        1.0,
        loop_volume_ml=0.5,
        headspace_volume_ml=20.0,
        headspace_temperature_k=298.15,
        headspace_pressure_pa=101325.0,
        **common,
    )
    assert got == pytest.approx(40.0, rel=1e-12)


def test_headspace_amount_uses_actual_temperature_and_pressure() -> None:
    r = 8.314462618
    n_loop = 90000.0 * 0.5e-6 / (r * 303.15) * 1e6
    n_head = 150000.0 * 35.0e-6 / (r * 318.15) * 1e6
    got = headspace_amount_umol(
        0.8,
        loop_volume_ml=0.5,
        loop_temperature_k=303.15,
        loop_pressure_pa=90000.0,
        headspace_volume_ml=35.0,
        headspace_temperature_k=318.15,
        headspace_pressure_pa=150000.0,
    )
    assert got == pytest.approx(0.8 / n_loop * n_head, rel=1e-9)


def test_headspace_amount_refuses_impossible_input() -> None:
    kw = {
        "loop_volume_ml": 0.5,
        "loop_temperature_k": 298.15,
        "loop_pressure_pa": 101325.0,
        "headspace_volume_ml": 20.0,
        "headspace_temperature_k": 298.15,
    }
    with pytest.raises(ValueError, match="headspace_pressure_pa"):
        headspace_amount_umol(1.0, headspace_pressure_pa=0.0, **kw)
    with pytest.raises(ValueError, match="mole fraction"):
        headspace_amount_umol(100.0, headspace_pressure_pa=101325.0, **kw)


# ------------------------------------------------------------------------------ file format


def test_reader_parses_a_hand_written_file(tmp_path: Path) -> None:
    path = tmp_path / "hand.csv"
    path.write_text(
        "# sample: blank\n# injected_at: 2024-05-01T10:00:00+00:00\n# units: min,uV\n"
        "time_min,signal_uV\n0.0,1.5\n0.1,2.5\n\n0.2,3.5\n",
        encoding="utf-8",
    )
    chrom = read_chromatogram(path)
    assert chrom.metadata["injected_at"] == "2024-05-01T10:00:00+00:00"
    np.testing.assert_allclose(chrom.time_min, [0.0, 0.1, 0.2])
    np.testing.assert_allclose(chrom.signal, [1.5, 2.5, 3.5])
    assert chrom.source == path


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("time_min,signal_uV\n0.0,1.0\n0.1,abc\n", 3, "not two numbers"),
        ("# sample: x\n0.0,1.0\n", 2, "column header"),
        ("time_min,signal_uV\n0.0,1.0\n0.0,2.0\n", 3, "does not increase"),
        ("# units: s,mV\ntime_min,signal_uV\n0.0,1.0\n0.1,1.0\n", 1, "units"),
        ("time_min,signal_uV\n0.0,1.0,2.0\n", 2, "2 columns"),
    ],
)
def test_malformed_file_error_names_file_line_and_format(tmp_path: Path, body: str, line: int, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ChromatogramFormatError, match=re.escape(f"{path}:{line}:")) as info:
        read_chromatogram(path)
    assert problem in str(info.value)
    assert "expected gc-trace-csv/1" in str(info.value)


def test_file_without_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("# sample: x\ntime_min,signal_uV\n", encoding="utf-8")
    with pytest.raises(ChromatogramFormatError, match=re.escape(str(path))):
        read_chromatogram(path)
