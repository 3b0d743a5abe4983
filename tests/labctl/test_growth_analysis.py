"""Tests of the growth-run analysis (first exciton, second population, sizing, traces) and its plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from labctl.analysis.growth import (
    HC_EV_NM,
    ExcitonPeak,
    absorbance_at,
    assembly_figures,
    assembly_traces,
    diameter_nm,
    feature_absorbance,
    first_exciton,
    growth_figures,
    growth_traces,
    narrowing_stopped,
    second_population,
)
from labctl.reports.growth import plot_assembly, plot_growth

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
WIDE = np.linspace(300.0, 1100.0, 2048)  # a grid reaching 900 nm bands' red sides
BENCH = np.linspace(200.0, 850.0, 2048)  # the in-situ spectrometer's range


def gauss_e(wl: np.ndarray, centre_nm: float, fwhm_mev: float, height: float) -> np.ndarray:
    """A Gaussian in photon energy, sampled at wavelengths ``wl``."""
    e = HC_EV_NM / wl
    sigma = fwhm_mev / 1000.0 / FWHM_PER_SIGMA
    return height * np.exp(-0.5 * ((e - HC_EV_NM / centre_nm) / sigma) ** 2)


def spectrum(
    wl: np.ndarray,
    centre_nm: float,
    fwhm_mev: float,
    *,
    height: float = 0.8,
    next_mev: float = 200.0,
    scattering: float = 0.03,
    noise: float = 0.002,
    seed: int = 0,
    second: tuple[float, float] | None = None,
) -> np.ndarray:
    """First exciton + the next transition (half as high, 1.8x as wide, ``next_mev`` above) + a
    continuum rising to the blue from 250 meV above that + lambda^-4 scattering + noise; optionally
    a second population ``second`` = (nm to the blue, relative height) with its own next transition."""
    e = HC_EV_NM / wl
    e1 = HC_EV_NM / centre_nm
    sigma = fwhm_mev / 1000.0 / FWHM_PER_SIGMA

    def population(e_first: float, h: float) -> np.ndarray:
        band = h * np.exp(-0.5 * ((e - e_first) / sigma) ** 2)
        nxt = 0.5 * h * np.exp(-0.5 * ((e - e_first - next_mev / 1000.0) / (1.8 * sigma)) ** 2)
        return band + nxt

    a = population(e1, height)
    onset = e1 + next_mev / 1000.0 + 0.25
    a += height * 0.5 * (1.0 + np.tanh((e - onset) / 0.1)) * (1.0 + np.clip(e - onset, 0.0, None))
    a += scattering * (400.0 / wl) ** 4
    if second is not None:
        shift_nm, relative = second
        a += population(HC_EV_NM / (centre_nm - shift_nm), relative * height)
    return a + noise * np.random.default_rng(seed).standard_normal(wl.size)


# -- first exciton ---------------------------------------------------------------------------


@pytest.mark.parametrize("centre_nm", [380.0, 450.0, 520.0, 600.0, 700.0, 800.0, 900.0])
@pytest.mark.parametrize(("fwhm_mev", "next_mev"), [(60, 150), (100, 150), (150, 150), (150, 250), (250, 250)])
def test_first_exciton_recovers_centre_and_width_within_one_percent(
    centre_nm: float, fwhm_mev: float, next_mev: float
) -> None:
    a = spectrum(WIDE, centre_nm, fwhm_mev, next_mev=next_mev, seed=int(centre_nm + fwhm_mev + next_mev))
    peak = first_exciton(WIDE, a)
    assert peak.ok, peak.note
    assert peak.note == ""
    assert peak.wavelength_nm == pytest.approx(centre_nm, rel=0.01)
    assert peak.fwhm_mev == pytest.approx(fwhm_mev, rel=0.01)
    assert peak.energy_ev == pytest.approx(HC_EV_NM / peak.wavelength_nm)
    assert peak.height == pytest.approx(0.8, rel=0.05)
    assert 0 < peak.fwhm_err_mev < 0.05 * fwhm_mev
    assert 0 < peak.wavelength_err_nm < 0.005 * centre_nm


def skewed_band(e: np.ndarray, e0: float, sigma: float, tail: float) -> np.ndarray:
    """An ensemble's first exciton: Gaussians of width ``sigma`` whose centres spread to the blue of
    ``e0`` as a gamma distribution (shape 2, scale ``tail``; the small crystals' tail), height ~1."""
    offsets = np.linspace(0.0, 12.0 * tail, 400)
    weights = offsets * np.exp(-offsets / tail)
    band = weights @ np.exp(-0.5 * ((e[None, :] - e0 - offsets[:, None]) / sigma) ** 2)
    return band / band.max()


@pytest.mark.parametrize("centre_nm", [560.0, 700.0, 850.0])
@pytest.mark.parametrize(("sigma_mev", "tail_mev"), [(45.0, 15.0), (45.0, 35.0), (30.0, 30.0)])
def test_a_skewed_band_gives_its_maximum_and_red_half_width(
    centre_nm: float, sigma_mev: float, tail_mev: float
) -> None:
    e = HC_EV_NM / WIDE
    e0 = HC_EV_NM / centre_nm
    band = 0.6 * skewed_band(e, e0, sigma_mev / 1000.0, tail_mev / 1000.0)
    nxt = 0.3 * np.exp(-0.5 * ((e - e0 - 0.35) / 0.09) ** 2)  # the next transition, 350 meV above
    a = band + nxt + 0.03 * (400.0 / WIDE) ** 4 + 0.002 * np.random.default_rng(int(centre_nm)).standard_normal(e.size)
    # the band's own maximum and red half width, read off it on a fine grid
    fine = np.linspace(e0 - 0.5, e0 + 0.8, 130001)
    drawn = skewed_band(fine, e0, sigma_mev / 1000.0, tail_mev / 1000.0)
    top = int(np.argmax(drawn))
    red_half = fine[np.flatnonzero(drawn[:top] <= 0.5)[-1]]
    peak = first_exciton(WIDE, a)
    assert peak.ok, peak.note
    assert peak.wavelength_nm == pytest.approx(HC_EV_NM / fine[top], rel=0.002)
    assert peak.fwhm_mev == pytest.approx(2000.0 * (fine[top] - red_half), rel=0.01)
    assert peak.height == pytest.approx(0.6, rel=0.03)


def test_a_first_exciton_beyond_the_range_is_not_taken_for_the_band_below_it() -> None:
    # found in a trial: 12 mL at 2 mL/h grows InAs dots past the spectrometer's 1100 nm; the reddest
    # band left in range is the next transition, which was reported as the first exciton
    from labctl.sim.physics.growth import GrowthFlask

    flask = GrowthFlask(
        precursor="InAs amorphous cluster",
        supply_ml=lambda t: 2.0 / 3600.0 * t,
        temperature_c=lambda t: 280.0,
        t0=0.0,
        seed=0,
    )
    wl = np.linspace(200.0, 1100.0, 2048)
    a = flask.absorbance(16200.0, wl, 0.2) + 0.002 * np.random.default_rng(1).standard_normal(wl.size)
    a[wl > 1060.0] = np.nan  # the reference is too weak there
    assert flask.truth(16200.0).first_exciton_nm > 1040.0
    peak = first_exciton(wl, a)
    assert not peak.ok
    assert peak.note.split("; ")[0] == (
        "the absorbance rises again to the red of the band at 844.1 nm (to 0.079 OD above the dip between them): "
        "the first exciton lies further to the red, at or beyond the range's end (1100.0 nm)"
    )


def test_a_band_whose_width_the_noise_hides_is_not_reported() -> None:
    # the precursor's broad band, 0.012 OD in 0.002 OD of noise: a fit is found, its width is not known
    wl = np.linspace(200.0, 1100.0, 2048)
    a = 0.012 * np.exp(-0.5 * ((wl - 400.0) / (90.0 / FWHM_PER_SIGMA)) ** 2)
    a = a + 0.002 * np.random.default_rng(9).standard_normal(wl.size)
    peak = first_exciton(wl, a)
    assert not peak.ok
    assert peak.note == "the width of the band near 400.8 nm is not determined: 632 +/- 342 meV (at most 10%)"


def test_first_exciton_bridges_a_masked_span_beside_the_band() -> None:
    a = spectrum(BENCH, 560.0, 100.0)
    a[(BENCH > 530.0) & (BENCH < 545.0)] = np.nan  # on the band's blue flank
    a[(BENCH > 580.0) & (BENCH < 585.0)] = np.nan  # and a little of its red flank
    peak = first_exciton(BENCH, a, search_nm=(380.0, 850.0))
    assert peak.ok, peak.note
    assert peak.wavelength_nm == pytest.approx(560.0, rel=0.01)
    assert peak.fwhm_mev == pytest.approx(100.0, rel=0.01)


def test_first_exciton_refuses_a_masked_band() -> None:
    a = spectrum(BENCH, 560.0, 100.0)
    a[(BENCH > 540.0) & (BENCH < 600.0)] = np.nan
    peak = first_exciton(BENCH, a, search_nm=(380.0, 850.0))
    assert not peak.ok
    assert "masked" in peak.note


def test_no_band_gives_ok_false_and_says_why() -> None:
    e = HC_EV_NM / BENCH
    a = 0.05 * (400.0 / BENCH) ** 4 + 0.5 * (1 + np.tanh((e - 4.5) / 0.2))  # scattering and a UV continuum
    a = a + 0.002 * np.random.default_rng(3).standard_normal(BENCH.size)
    peak = first_exciton(BENCH, a, search_nm=(380.0, 850.0))
    assert not peak.ok
    assert peak.note == "no absorption band in 380-850 nm stands 5x above the noise (0.002 OD)"
    assert math.isnan(peak.wavelength_nm) and math.isnan(peak.fwhm_mev)
    assert second_population(BENCH, a, peak) == (False, pytest.approx(math.nan, nan_ok=True))


def test_band_at_the_red_edge_is_not_ok() -> None:
    a = spectrum(BENCH, 845.0, 150.0)
    peak = first_exciton(BENCH, a, search_nm=(380.0, 850.0))
    assert not peak.ok
    assert "edge of the range" in peak.note


def test_expected_nm_picks_the_band_nearest_it() -> None:
    a = spectrum(BENCH, 600.0, 80.0) + gauss_e(BENCH, 450.0, 80.0, 0.3)
    assert first_exciton(BENCH, a).wavelength_nm == pytest.approx(600.0, rel=0.01)


def test_first_exciton_input_errors_name_the_value() -> None:
    with pytest.raises(ValueError, match=r"wavelengths_nm must increase, but wavelengths_nm\[2\]=1\.0 follows 3\.0"):
        first_exciton([1.0, 3.0, 1.0, 4.0], [0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"absorbance has shape \(3,\) but wavelengths_nm has 4 pixels"):
        first_exciton([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"expected_nm=900\.0 lies outside the search range 400\.\.800 nm"):
        first_exciton(BENCH, np.zeros(BENCH.size), search_nm=(400.0, 800.0), expected_nm=900.0)


# -- second population -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("centre_nm", "fwhm_mev", "shift_nm", "relative"),
    [(560.0, 80.0, 40.0, 0.3), (600.0, 100.0, 60.0, 0.3), (620.0, 80.0, 80.0, 0.4), (520.0, 60.0, 50.0, 0.4)],
)
def test_a_second_population_to_the_blue_is_flagged(
    centre_nm: float, fwhm_mev: float, shift_nm: float, relative: float
) -> None:
    a = spectrum(BENCH, centre_nm, fwhm_mev, second=(shift_nm, relative), seed=7)
    main = first_exciton(BENCH, a, search_nm=(380.0, 850.0))
    assert main.ok, main.note
    flagged, found = second_population(BENCH, a, main)
    assert flagged
    assert found == pytest.approx(relative, abs=0.3)


@pytest.mark.parametrize(("centre_nm", "fwhm_mev", "next_mev"), [(560.0, 80.0, 150.0), (600.0, 100.0, 250.0)])
def test_a_single_population_is_not_flagged(centre_nm: float, fwhm_mev: float, next_mev: float) -> None:
    a = spectrum(BENCH, centre_nm, fwhm_mev, next_mev=next_mev, seed=11)
    main = first_exciton(BENCH, a, search_nm=(380.0, 850.0))
    flagged, _relative = second_population(BENCH, a, main)
    assert not flagged


# -- features --------------------------------------------------------------------------------


def test_feature_absorbance_is_the_step_above_a_sloping_baseline() -> None:
    wl = np.arange(300.0, 400.001, 0.25)
    a = 0.1 + 0.001 * wl + 0.05 * (np.abs(wl - 353.0) <= 3.0)
    assert feature_absorbance(wl, a, 353.0) == pytest.approx(0.05, abs=1e-12)
    assert absorbance_at(wl, a, 320.0, halfwidth_nm=1.0) == pytest.approx(0.1 + 0.32, abs=1e-12)
    with pytest.raises(ValueError, match=r"the feature at 398\.0 nm with its baseline flanks \(389-407 nm\)"):
        feature_absorbance(wl, a, 398.0)


# -- sizing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("wavelength", "diameter"), [(500.0, 2.345), (550.0, 3.0403137), (600.0, 4.58312)])
def test_cdse_sizing_follows_yu_2003(wavelength: float, diameter: float) -> None:
    # by hand: 1.6122e-9 L^4 - 2.6575e-6 L^3 + 1.6242e-3 L^2 - 0.4277 L + 41.57
    sizing = diameter_nm("CdSe", wavelength)
    assert sizing.diameter_nm == pytest.approx(diameter, abs=1e-6)
    assert sizing.note == "CdSe, Yu et al., Chem. Mater. 15, 2854 (2003), valid for 480-660 nm"


def test_sizing_refuses_msc_out_of_range_and_inas() -> None:
    msc = diameter_nm("CdSe", 353.0)
    assert msc.diameter_nm is None
    assert msc.note == (
        "353.0 nm is the (CdSe)13 magic-size cluster's absorption, not a nanocrystal's first exciton: "
        "the Yu 2003 CdSe curve (valid 480-660 nm) does not apply to magic-size clusters"
    )
    red = diameter_nm("CdSe", 700.0)
    assert red.diameter_nm is None
    assert red.note.startswith("700.0 nm is outside 480-660 nm")
    inas = diameter_nm("InAs", 900.0)
    assert inas.diameter_nm is None
    assert inas.note.startswith("no valid sizing curve in labctl for InAs")


# -- narrowing -------------------------------------------------------------------------------


def test_narrowing_stopped() -> None:
    narrowing = 140.0 - 2.0 * np.arange(20)
    assert not narrowing_stopped(narrowing, window=10, tolerance_mev=2.0)
    flat = np.concatenate([narrowing, np.full(10, 102.0) + 0.3 * np.random.default_rng(1).standard_normal(10)])
    assert narrowing_stopped(flat, window=10, tolerance_mev=2.0)
    assert narrowing_stopped(np.linspace(80.0, 90.0, 10), window=10, tolerance_mev=0.0)  # broadening
    assert not narrowing_stopped([100.0, 100.0, math.nan], window=3, tolerance_mev=1.0)  # too few values
    with pytest.raises(ValueError, match=r"window must be an integer >= 3 spectra, got 2"):
        narrowing_stopped(flat, window=2, tolerance_mev=1.0)


# -- a growth run ----------------------------------------------------------------------------


def growth_run(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` spectra every 30 s: the first exciton red-shifts 520 -> 580 nm and narrows 140 -> 80 meV,
    a (CdSe)13 feature at 353 nm fades from 0.2 to 0 OD, a masked span at 250-262 nm."""
    times = np.arange(n) * 30.0
    rows = np.empty((n, BENCH.size))
    for k in range(n):
        f = k / max(n - 1, 1)
        rows[k] = spectrum(BENCH, 520.0 + 60.0 * f, 140.0 - 60.0 * f, seed=seed + k)
        rows[k] += 0.2 * (1.0 - f) * np.exp(-0.5 * ((BENCH - 353.0) / 2.0) ** 2)
    rows[:, (BENCH > 250.0) & (BENCH < 262.0)] = np.nan
    return times, rows


def test_growth_traces_and_figures() -> None:
    times, rows = growth_run(40)
    traces = growth_traces(times, BENCH, rows, material="CdSe", msc_features_nm=(353.0,), search_nm=(380.0, 850.0))
    assert traces.ok.all()
    expected_nm = 520.0 + 60.0 * np.arange(40) / 39
    np.testing.assert_allclose(traces.first_exciton_nm, expected_nm, rtol=0.005)
    # 2.5 %: at 520 nm / 140 meV with the next transition 1.4 FWHM above, one noise draw fits 2 % narrow
    np.testing.assert_allclose(traces.fwhm_mev, 140.0 - 60.0 * np.arange(40) / 39, rtol=0.025)
    np.testing.assert_allclose(
        traces.diameter_nm, [diameter_nm("CdSe", x).diameter_nm for x in traces.first_exciton_nm]
    )
    assert not traces.second_population.any()
    figures = growth_figures(traces, injected_ml=np.linspace(0.0, 0.65, 40))
    assert figures["first_exciton_nm"] == pytest.approx(580.0, rel=0.005)
    assert figures["fwhm_mev"] == pytest.approx(80.0, rel=0.02)
    assert figures["min_fwhm_time_s"] == 39 * 30.0
    assert figures["diameter_nm"] == pytest.approx(diameter_nm("CdSe", 580.0).diameter_nm, rel=0.03)
    assert figures["second_population"] is False
    assert figures["msc_353_absorbance"] == pytest.approx(0.0, abs=0.005)
    # the fresh MSC feature: a 0.2 OD Gaussian (sigma 2 nm) averaged over 353 +- 3 nm is 0.2 x 0.724
    assert traces.features[353.0][0] == pytest.approx(0.2 * 0.724, abs=0.005)
    assert figures["injected_ml"] == pytest.approx(0.65)
    assert figures["spectra"] == 40.0 and figures["spectra_fitted"] == 40.0
    assert figures["first_exciton_time_s"] == 39 * 30.0 and "end_note" not in figures
    assert narrowing_stopped(traces.fwhm_mev, window=10, tolerance_mev=1.0) is False


def test_the_end_figures_say_when_the_last_spectrum_gave_no_band() -> None:
    times, rows = growth_run(6)
    rows[-2:] = 0.002 * np.random.default_rng(2).standard_normal((2, BENCH.size))  # the band has gone
    figures = growth_figures(growth_traces(times, BENCH, rows, material="CdSe", search_nm=(380.0, 850.0)))
    assert figures["first_exciton_time_s"] == 3 * 30.0
    assert figures["end_note"] == (
        "the end values are the last fitted spectrum's, at 90 s of 150 s; the last spectrum gave none: no absorption "
        "band in 380-850 nm stands 5x above the noise (0.002 OD)"
    )


def test_growth_figures_without_sizing_say_why() -> None:
    times, rows = growth_run(5)
    traces = growth_traces(times, BENCH, rows, material="InAs", search_nm=(380.0, 850.0))
    figures = growth_figures(traces)
    assert "diameter_nm" not in figures
    assert str(figures["sizing_note"]).startswith("no valid sizing curve in labctl for InAs")
    assert np.isnan(traces.diameter_nm).all()


def test_growth_traces_reject_a_misshapen_matrix() -> None:
    with pytest.raises(ValueError, match=r"spectra has shape \(2, 2048\) but times_s has 3 values"):
        growth_traces([0.0, 30.0, 60.0], BENCH, np.zeros((2, BENCH.size)), material="CdSe")


def test_720_spectra_are_analysed_and_plotted(tmp_path: Path) -> None:
    times, rows = growth_run(720)
    traces = growth_traces(times, BENCH, rows, material="CdSe", msc_features_nm=(353.0,), search_nm=(380.0, 850.0))
    assert traces.ok.sum() == 720
    paths = plot_growth(tmp_path, times, BENCH, rows, traces, "CdSe growth", injected_ml=times / 3600.0 * 2.0)
    assert [p.name for p in paths] == ["spectra.png", "peak.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_plot_growth_marks_a_second_population(tmp_path: Path) -> None:
    times = np.arange(6) * 30.0
    rows = np.array([spectrum(BENCH, 600.0, 100.0, seed=k, second=(60.0, 0.3) if k > 2 else None) for k in range(6)])
    traces = growth_traces(times, BENCH, rows, material="CdSe", search_nm=(380.0, 850.0))
    assert traces.second_population.tolist() == [False, False, False, True, True, True]
    figures = growth_figures(traces)
    assert figures["second_population"] is True
    assert figures["second_population_time_s"] == 90.0
    paths = plot_growth(tmp_path, times, BENCH, rows, traces, "two populations")
    assert all(p.stat().st_size > 10_000 for p in paths)


# -- an assembly run -------------------------------------------------------------------------


def test_assembly_traces_figures_and_plot(tmp_path: Path) -> None:
    n = 30
    times = np.arange(n) * 600.0
    rows = np.empty((n, BENCH.size))
    for k in range(n):
        a = 0.4 * np.exp(-0.5 * ((BENCH - 353.0) / 3.0) ** 2) + 0.3 * np.exp(-0.5 * ((BENCH - 340.0) / 3.0) ** 2)
        a += (0.01 + 0.004 * k) * (600.0 / BENCH) ** 4  # the rising scattering baseline
        if k >= 20:  # ripening: a new band at 450 nm
            a += 0.05 * np.exp(-0.5 * ((BENCH - 450.0) / 8.0) ** 2)
        rows[k] = a + 0.001 * np.random.default_rng(k).standard_normal(BENCH.size)
    traces = assembly_traces(times, BENCH, rows)
    figures = assembly_figures(traces)
    assert figures["msc_353_drift_nm"] == pytest.approx(0.0, abs=0.3)
    assert figures["msc_340_peak_nm"] == pytest.approx(340.0, abs=0.5)  # the rising scattering pulls it blue
    assert figures["baseline_600nm_end"] == pytest.approx(0.01 + 0.004 * 29, abs=0.003)
    assert figures["scattering_exponent"] == pytest.approx(4.0, abs=0.2)
    assert figures["ripening"] is True
    assert figures["ripening_time_s"] == 20 * 600.0
    assert figures["red_band_nm"] == pytest.approx(450.0, abs=3.0)
    assert np.isnan(traces.red_band_nm[:20]).all()
    paths = plot_assembly(tmp_path, times, BENCH, rows, traces, "SS assembly")
    assert [p.name for p in paths] == ["spectra.png", "assembly.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_exciton_peak_sigma() -> None:
    peak = ExcitonPeak(500.0, 2.48, 100.0, 0.5, 0.1, 0.001, 1.0, 0.01, ok=True, note="")
    assert peak.sigma_ev == pytest.approx(0.1 / FWHM_PER_SIGMA)
