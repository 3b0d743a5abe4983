"""Tests of the GC trace synthesizer and its CSV export (sim.chromatogram)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from labctl.analysis.chromatography import read_chromatogram
from labctl.sim.instruments.chromatogram import (
    MOLSIEVE_5A_AR,
    ColumnMethod,
    PeakSpec,
    peak_profile,
    synthesize_chromatogram,
    write_chromatogram,
)

INJECTED = {"H2": 2.0, "O2": 1.0, "N2": 4.0, "CH4": 0.5, "CO": 1.5}


def _quiet(method: ColumnMethod = MOLSIEVE_5A_AR) -> ColumnMethod:
    return dataclasses.replace(method, baseline_noise_uv=0.0)


def _area_uv_s(t: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    m = (t >= lo) & (t <= hi)
    return float(np.trapezoid(y[m], t[m])) * 60.0


def test_default_method_elution_order_and_widths() -> None:
    specs = MOLSIEVE_5A_AR.peaks
    assert MOLSIEVE_5A_AR.gases == ("H2", "O2", "N2", "CH4", "CO")
    rts = [p.retention_min for p in specs]
    sigmas = [p.sigma_min for p in specs]
    assert rts == sorted(rts) and 0.9 <= rts[0] <= 1.0 and rts[-1] < MOLSIEVE_5A_AR.run_time_min
    assert sigmas == sorted(sigmas)
    assert "CO2" not in MOLSIEVE_5A_AR.gases
    # Ar carrier: H2 responds far more than the others.
    h2 = MOLSIEVE_5A_AR.peak("H2").response_factor
    assert all(h2 > 5 * p.response_factor for p in specs if p.gas != "H2")
    with pytest.raises(KeyError, match="CO2"):
        MOLSIEVE_5A_AR.peak("CO2")


def test_time_axis_follows_run_time_and_sampling_rate() -> None:
    t, y = synthesize_chromatogram({}, MOLSIEVE_5A_AR, np.random.default_rng(0))
    assert t[0] == 0.0 and t[-1] == pytest.approx(MOLSIEVE_5A_AR.run_time_min)
    assert np.diff(t) == pytest.approx(1.0 / (60.0 * MOLSIEVE_5A_AR.sampling_rate_hz))
    assert y.shape == t.shape


@pytest.mark.parametrize("tau", [0.0, 0.02, 0.2])
def test_peak_profile_has_the_requested_area(tau: float) -> None:
    t = np.linspace(0.0, 10.0, 20001)
    y = peak_profile(t, area_uv_s=1234.0, retention_min=3.0, sigma_min=0.05, tau_min=tau)
    assert np.all(np.isfinite(y)) and np.all(y >= 0)
    assert float(np.trapezoid(y, t)) * 60.0 == pytest.approx(1234.0, rel=1e-4)


def test_peaks_sit_at_the_method_retention_times() -> None:
    t, y = synthesize_chromatogram(INJECTED, MOLSIEVE_5A_AR, np.random.default_rng(1))
    dt = t[1] - t[0]
    for spec in MOLSIEVE_5A_AR.peaks:
        m = np.abs(t - spec.retention_min) < 5 * spec.sigma_min
        apex = float(t[m][np.argmax(y[m])])
        assert spec.retention_min - 2 * dt <= apex <= spec.retention_min + spec.tau_min + 2 * dt


def test_areas_recovered_by_plain_integration() -> None:
    method = MOLSIEVE_5A_AR
    t, y = synthesize_chromatogram(INJECTED, method, np.random.default_rng(2), area_noise=0.0)
    corrected = y - method.baseline_uv(t)
    for spec in method.peaks:
        lo = spec.retention_min - 8 * spec.sigma_min
        hi = spec.retention_min + 8 * spec.sigma_min + 12 * spec.tau_min
        expected = spec.response_factor * INJECTED[spec.gas]
        assert _area_uv_s(t, corrected, lo, hi) == pytest.approx(expected, rel=0.03)


def test_area_noise_has_the_configured_spread() -> None:
    method = dataclasses.replace(
        _quiet(),
        peaks=(PeakSpec("H2", retention_min=1.0, sigma_min=0.03, response_factor=1000.0),),
    )
    rng = np.random.default_rng(3)
    areas = []
    for _ in range(300):
        t, y = synthesize_chromatogram({"H2": 1.0}, method, rng, area_noise=0.015)
        areas.append(_area_uv_s(t, y - method.baseline_uv(t), 0.5, 1.5))
    rel = np.array(areas) / 1000.0
    assert np.mean(rel) == pytest.approx(1.0, abs=0.004)
    assert np.std(rel) == pytest.approx(0.015, rel=0.2)


def test_baseline_noise_and_drift_as_configured() -> None:
    method = dataclasses.replace(MOLSIEVE_5A_AR, baseline_noise_uv=3.0, baseline_drift_uv_per_min=4.0)
    t, y = synthesize_chromatogram({}, method, np.random.default_rng(4))
    slope, offset = np.polyfit(t, y, 1)
    assert slope == pytest.approx(4.0, abs=0.3)
    assert offset == pytest.approx(method.baseline_offset_uv, abs=1.0)
    assert np.std(y - method.baseline_uv(t)) == pytest.approx(3.0, rel=0.05)


def test_gases_not_on_the_method_are_ignored() -> None:
    t1, y1 = synthesize_chromatogram({"H2": 1.0, "CO2": 50.0, "Ar": 10.0}, MOLSIEVE_5A_AR, np.random.default_rng(5))
    t2, y2 = synthesize_chromatogram({"H2": 1.0}, MOLSIEVE_5A_AR, np.random.default_rng(5))
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(y1, y2)


def test_negative_amount_is_refused() -> None:
    with pytest.raises(ValueError, match="H2"):
        synthesize_chromatogram({"H2": -1.0}, MOLSIEVE_5A_AR, np.random.default_rng(0))


def test_write_round_trips_through_the_reader(tmp_path: Path) -> None:
    t, y = synthesize_chromatogram(INJECTED, MOLSIEVE_5A_AR, np.random.default_rng(6))
    meta = {
        "sample": "reactor-A t=60min",
        "injected_at": "2024-05-01T10:00:00+00:00",
        "method": MOLSIEVE_5A_AR.name,
        "detector": "TCD",
    }
    path = write_chromatogram(tmp_path / "run1.csv", t, y, metadata=meta)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# format: gc-trace-csv/1\n")
    assert "# units: min,uV\n" in text and "\ntime_min,signal_uV\n" in text
    chrom = read_chromatogram(path)
    np.testing.assert_allclose(chrom.time_min, t, atol=1e-6)
    np.testing.assert_allclose(chrom.signal, y, atol=1e-4)
    for key, value in meta.items():
        assert chrom.metadata[key] == value
    assert chrom.metadata["units"] == "min,uV"


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t, y = synthesize_chromatogram({"H2": 1.0}, MOLSIEVE_5A_AR, np.random.default_rng(7))
    target = tmp_path / "run2.csv"
    seen: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def checking_replace(src: str, dst: os.PathLike[str]) -> None:
        src_path, dst_path = Path(src), Path(dst)
        assert not dst_path.exists(), "target appeared before the rename"
        assert src_path.parent == dst_path.parent and src_path.name.startswith(".")
        assert src_path.name.endswith(".tmp")
        # The temporary file is complete before it takes the final name.
        assert len(read_chromatogram(src_path).time_min) == t.size
        seen.append((src_path, dst_path))
        real_replace(src, dst)

    monkeypatch.setattr("labctl.sim.instruments.chromatogram.os.replace", checking_replace)
    write_chromatogram(target, t, y, metadata={"sample": "s"})
    assert len(seen) == 1 and seen[0][1] == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run2.csv"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "run3.csv"
    target.write_text("old\n", encoding="utf-8")
    t, y = synthesize_chromatogram({}, MOLSIEVE_5A_AR, np.random.default_rng(8))

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("labctl.sim.instruments.chromatogram.os.replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_chromatogram(target, t, y, metadata={})
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run3.csv"]


def test_bad_metadata_is_refused(tmp_path: Path) -> None:
    t, y = synthesize_chromatogram({}, MOLSIEVE_5A_AR, np.random.default_rng(9))
    with pytest.raises(ValueError, match="units"):
        write_chromatogram(tmp_path / "a.csv", t, y, metadata={"units": "s,mV"})
    with pytest.raises(ValueError, match="single line"):
        write_chromatogram(tmp_path / "b.csv", t, y, metadata={"sample": "a\nb"})
    assert list(tmp_path.iterdir()) == []
