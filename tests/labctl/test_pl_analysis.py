"""Tests of the photoluminescence figures of merit: photobleaching, sphere PLQY and decay fits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.analysis.photoluminescence import (
    BleachFit,
    DecayFit,
    PlqyResult,
    fit_decay,
    fit_decay_auto,
    fit_photobleaching,
    observed_half_life,
    plqy_sphere,
    retention,
    retention_at,
)

HOUR = 3600.0
US = 1e-6


# -- photostability ---------------------------------------------------------------------------


def bleach_trace(
    r_inf: float, k_per_h: float, hours: float, noise: float, seed: int, step_s: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """Retention every ``step_s`` s with relative Gaussian noise ``noise``."""
    t = np.arange(0.0, hours * HOUR + step_s / 2, step_s)
    r = r_inf + (1.0 - r_inf) * np.exp(-k_per_h * t / HOUR)
    rng = np.random.default_rng(seed)
    return t, r * (1.0 + noise * rng.standard_normal(t.size))


def test_retention_normalizes_to_the_first_points() -> None:
    t = np.arange(5.0) * 60.0
    pl = np.array([200.0, 220.0, 180.0, 150.0, 100.0])
    assert retention(t, pl) == pytest.approx([1.0, 1.1, 0.9, 0.75, 0.5])
    assert retention(t, pl, baseline_points=3) == pytest.approx(pl / 200.0)
    assert retention(t, pl, baseline_points=2) == pytest.approx(pl / 210.0)


@pytest.mark.parametrize(
    ("pl", "match"),
    [
        ([0.0, 1.0, 1.0], r"first PL value is 0\.0.*> 0"),
        ([-5.0, 1.0, 1.0], r"first PL value is -5\.0"),
        ([math.nan, 1.0, 1.0], r"pl\[0\] is nan.*finite"),
        ([1.0, math.inf, 1.0], r"pl\[1\] is inf"),
        ([1.0, 1.0], r"pl has 2 values but t_s has 3"),
    ],
)
def test_retention_rejects_bad_traces(pl: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        retention([0.0, 1.0, 2.0], pl)


def test_retention_rejects_a_bad_baseline_count() -> None:
    with pytest.raises(ValueError, match=r"baseline_points must be an integer within 1\.\.3"):
        retention([0.0, 1.0, 2.0], [1.0, 1.0, 1.0], baseline_points=4)


def test_partial_bleaching_parameters_are_recovered() -> None:
    t, r = bleach_trace(0.83, 1.06, hours=12.0, noise=0.005, seed=7)
    fit = fit_photobleaching(t, r)
    assert isinstance(fit, BleachFit)
    assert fit.stable_fraction == pytest.approx(0.83, rel=0.05)
    assert fit.rate_per_h == pytest.approx(1.06, rel=0.05)
    # the standard errors are sensible: positive, and cover the truth within 4 sigma
    assert 0 < fit.stable_fraction_err < 0.01
    assert 0 < fit.rate_per_h_err < 0.05
    assert abs(fit.rate_per_h - 1.06) < 4 * fit.rate_per_h_err
    assert fit.half_life_s == math.inf  # 83 % stays: the model never reaches 0.5
    assert fit.n_points == t.size
    assert 0.9 < fit.r2 <= 1.0
    assert fit.predict(np.array([0.0, 1e9])) == pytest.approx([1.0, fit.stable_fraction])
    assert math.isnan(observed_half_life(t, r))


def test_full_bleaching_half_life_is_ln2_over_k() -> None:
    t, r = bleach_trace(0.0, 3.0, hours=4.0, noise=0.005, seed=11)
    fit = fit_photobleaching(t, r)
    expected_s = math.log(2.0) / 3.0 * HOUR
    assert fit.stable_fraction == pytest.approx(0.0, abs=0.01)
    assert fit.rate_per_h == pytest.approx(3.0, rel=0.05)
    assert fit.half_life_s == pytest.approx(expected_s, rel=0.05)
    assert observed_half_life(t, r) == pytest.approx(expected_s, rel=0.05)


def test_model_half_life_formula_with_a_stable_fraction() -> None:
    t, r = bleach_trace(0.2, 2.0, hours=6.0, noise=0.0, seed=0, step_s=60.0)
    fit = fit_photobleaching(t, r)
    expected_s = -math.log((0.5 - 0.2) / (1 - 0.2)) / 2.0 * HOUR
    assert fit.half_life_s == pytest.approx(expected_s, rel=1e-4)
    assert observed_half_life(t, r) == pytest.approx(expected_s, rel=1e-3)


def test_a_day_of_points_every_10_s_recovers_the_bleaching() -> None:
    t, r = bleach_trace(0.5, 0.4, hours=24.0, noise=0.005, seed=3)
    assert t.size == 8641
    fit = fit_photobleaching(t, r)
    assert fit.stable_fraction == pytest.approx(0.5, rel=0.05)
    assert fit.rate_per_h == pytest.approx(0.4, rel=0.05)


def test_a_flat_trace_fits_without_error_and_never_halves() -> None:
    t, r = bleach_trace(1.0, 0.0, hours=2.0, noise=0.005, seed=5, step_s=30.0)
    fit = fit_photobleaching(t, r)
    assert fit.stable_fraction == pytest.approx(1.0, abs=0.01)
    assert fit.half_life_s == math.inf
    assert fit.predict(t) == pytest.approx(np.ones_like(t), abs=0.01)


def test_fit_photobleaching_rejects_too_few_or_non_finite_points() -> None:
    with pytest.raises(ValueError, match=r"at least 4 points.*got 3"):
        fit_photobleaching([0.0, 10.0, 20.0], [1.0, 0.9, 0.8])
    with pytest.raises(ValueError, match=r"retention\[2\] is nan.*drop or fill"):
        fit_photobleaching([0.0, 10.0, 20.0, 30.0, 40.0], [1.0, 0.9, math.nan, 0.8, 0.7])
    with pytest.raises(ValueError, match=r"t_s\[1\] is inf"):
        fit_photobleaching([0.0, math.inf, 20.0, 30.0], [1.0, 0.9, 0.8, 0.7])
    with pytest.raises(ValueError, match=r"strictly increasing"):
        fit_photobleaching([0.0, 20.0, 10.0, 30.0], [1.0, 0.9, 0.8, 0.7])


def test_observed_half_life_interpolates_the_first_crossing() -> None:
    t = np.array([0.0, 100.0, 200.0, 300.0, 400.0])
    r = np.array([1.0, 0.8, 0.6, 0.4, 0.55])
    assert observed_half_life(t, r) == pytest.approx(250.0)
    assert math.isnan(observed_half_life(t, np.array([1.0, 0.9, 0.8, 0.7, 0.6])))


def test_retention_at_interpolates_inside_the_data_only() -> None:
    t = np.array([0.0, 100.0, 200.0])
    r = np.array([1.0, 0.8, 0.7])
    assert retention_at(t, r, 50.0) == pytest.approx(0.9)
    assert retention_at(t, r, 200.0) == pytest.approx(0.7)
    with pytest.raises(ValueError, match=r"at_s=250\.0 s lies outside the data, 0\.0\.\.200\.0 s"):
        retention_at(t, r, 250.0)
    with pytest.raises(ValueError, match=r"outside the data"):
        retention_at(t, r, -1.0)


# -- PLQY -------------------------------------------------------------------------------------

WL = np.arange(300.0, 800.01, 0.5)
EX_WINDOW = (320.0, 380.0)
EM_WINDOW = (450.0, 780.0)


def gaussian_density(center_nm: float, fwhm_nm: float) -> np.ndarray:
    sigma = fwhm_nm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    return np.exp(-0.5 * ((WL - center_nm) / sigma) ** 2) / (sigma * math.sqrt(2.0 * math.pi))


def responsivity_curve() -> np.ndarray:
    """Counts per photon: ~0.44 at 350 nm rising to ~1 at 600 nm."""
    return 0.4 + 0.6 * np.exp(-(((WL - 600.0) / 150.0) ** 2))


def sphere_spectra(
    plqy: float,
    absorbed: float,
    *,
    replicates: int = 3,
    dark_counts: float = 0.0,
    photons: float = 2e6,
    seed: int = 21,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(blank, sample, dark) counts with Poisson noise; blank and sample are (replicates, pixels)."""
    rng = np.random.default_rng(seed)
    step = WL[1] - WL[0]
    excitation = photons * gaussian_density(350.0, 20.0) * step  # photons per pixel
    emission = photons * gaussian_density(593.0, 60.0) * step
    resp = responsivity_curve()
    blank_mean = excitation * resp + dark_counts
    sample_mean = ((1.0 - absorbed) * excitation + plqy * absorbed * emission) * resp + dark_counts
    blank = rng.poisson(np.broadcast_to(blank_mean, (replicates, WL.size))).astype(float)
    sample = rng.poisson(np.broadcast_to(sample_mean, (replicates, WL.size))).astype(float)
    dark = rng.poisson(np.full((5, WL.size), dark_counts)).astype(float)
    return blank, sample, dark


def test_plqy_and_absorbed_fraction_are_recovered_with_spectral_correction() -> None:
    blank, sample, _ = sphere_spectra(0.72, 0.6)
    result = plqy_sphere(
        WL,
        blank,
        sample,
        excitation_window_nm=EX_WINDOW,
        emission_window_nm=EM_WINDOW,
        responsivity=responsivity_curve(),
    )
    assert isinstance(result, PlqyResult)
    assert result.plqy == pytest.approx(0.72, rel=0.05)
    assert result.absorbed_fraction == pytest.approx(0.6, rel=0.05)
    assert result.plqy_err > 0
    assert abs(result.plqy - 0.72) < 5 * result.plqy_err
    assert result.replicates == 3
    assert result.excitation_window_nm == EX_WINDOW
    assert result.emission_window_nm == EM_WINDOW


def test_without_spectral_correction_the_plqy_is_wrong() -> None:
    blank, sample, _ = sphere_spectra(0.72, 0.6)
    kwargs = {"excitation_window_nm": EX_WINDOW, "emission_window_nm": EM_WINDOW}
    corrected = plqy_sphere(WL, blank, sample, responsivity=responsivity_curve(), **kwargs)
    uncorrected = plqy_sphere(WL, blank, sample, **kwargs)
    # the detector sees ~2.3x more counts per photon at 593 nm than at 350 nm
    assert uncorrected.plqy > 1.5 * corrected.plqy
    assert abs(uncorrected.plqy - 0.72) > 0.2
    # the absorbed fraction uses the excitation window only, where the correction nearly cancels
    assert uncorrected.absorbed_fraction == pytest.approx(corrected.absorbed_fraction, rel=0.02)


def test_dark_spectra_are_subtracted() -> None:
    blank, sample, dark = sphere_spectra(0.72, 0.6, dark_counts=1000.0)
    kwargs = {"excitation_window_nm": EX_WINDOW, "emission_window_nm": EM_WINDOW, "responsivity": responsivity_curve()}
    with_dark = plqy_sphere(WL, blank, sample, blank_dark=dark, sample_dark=dark, **kwargs)
    assert with_dark.plqy == pytest.approx(0.72, rel=0.05)
    assert with_dark.absorbed_fraction == pytest.approx(0.6, rel=0.05)
    without_dark = plqy_sphere(WL, blank, sample, **kwargs)
    # the dark floor adds to both excitation integrals and dilutes the absorbed fraction
    assert without_dark.absorbed_fraction < 0.56


def test_single_spectra_still_get_a_counting_error() -> None:
    blank, sample, _ = sphere_spectra(0.72, 0.6, replicates=1)
    result = plqy_sphere(
        WL,
        blank[0],
        sample[0],
        excitation_window_nm=EX_WINDOW,
        emission_window_nm=EM_WINDOW,
        responsivity=responsivity_curve(),
    )
    assert result.replicates == 1
    assert result.plqy == pytest.approx(0.72, rel=0.05)
    assert 0 < result.plqy_err < 0.05


def test_the_error_grows_with_fewer_photons() -> None:
    kwargs = {"excitation_window_nm": EX_WINDOW, "emission_window_nm": EM_WINDOW, "responsivity": responsivity_curve()}
    bright = plqy_sphere(WL, *sphere_spectra(0.72, 0.6, photons=2e7)[:2], **kwargs)
    dim = plqy_sphere(WL, *sphere_spectra(0.72, 0.6, photons=2e5)[:2], **kwargs)
    assert dim.plqy_err > 3 * bright.plqy_err


def test_plqy_rejects_overlapping_windows() -> None:
    blank, sample, _ = sphere_spectra(0.72, 0.6)
    with pytest.raises(ValueError, match=r"overlap.*leave a gap"):
        plqy_sphere(WL, blank, sample, excitation_window_nm=(320.0, 460.0), emission_window_nm=EM_WINDOW)


def test_plqy_rejects_a_window_outside_the_axis() -> None:
    blank, sample, _ = sphere_spectra(0.72, 0.6)
    with pytest.raises(ValueError, match=r"emission_window_nm \(450\.0, 900\.0\) nm lies outside.*300\.\.800 nm"):
        plqy_sphere(WL, blank, sample, excitation_window_nm=EX_WINDOW, emission_window_nm=(450.0, 900.0))
    with pytest.raises(ValueError, match=r"excitation_window_nm .* lies outside"):
        plqy_sphere(WL, blank, sample, excitation_window_nm=(250.0, 380.0), emission_window_nm=EM_WINDOW)


def test_plqy_rejects_a_sample_that_hardly_absorbs() -> None:
    blank, sample, _ = sphere_spectra(0.72, 0.002, photons=2e7)
    with pytest.raises(ValueError, match=r"absorbs -?0\.\d+ % of the excitation.*1 %.*thicker.*wavelength"):
        plqy_sphere(WL, blank, sample, excitation_window_nm=EX_WINDOW, emission_window_nm=EM_WINDOW)


def test_plqy_rejects_mismatched_shapes() -> None:
    blank, sample, _ = sphere_spectra(0.72, 0.6)
    windows = {"excitation_window_nm": EX_WINDOW, "emission_window_nm": EM_WINDOW}
    with pytest.raises(ValueError, match=r"sample has shape \(3, 1000\) but wavelengths_nm has 1001 pixels"):
        plqy_sphere(WL, blank, sample[:, :-1], **windows)
    with pytest.raises(ValueError, match=r"responsivity has shape \(10,\)"):
        plqy_sphere(WL, blank, sample, responsivity=np.ones(10), **windows)
    with pytest.raises(ValueError, match=r"blank_dark has shape"):
        plqy_sphere(WL, blank, sample, blank_dark=np.zeros(5), **windows)


def test_plqy_rejects_a_zero_responsivity_inside_a_window() -> None:
    blank, sample, _ = sphere_spectra(0.72, 0.6)
    resp = responsivity_curve()
    resp[WL == 500.0] = 0.0
    with pytest.raises(ValueError, match=r"responsivity is 0\.0 at 500 nm, inside the emission window"):
        plqy_sphere(WL, blank, sample, excitation_window_nm=EX_WINDOW, emission_window_nm=EM_WINDOW, responsivity=resp)


# -- decays -----------------------------------------------------------------------------------

BIN_S = 10 * US
BINS_T = (np.arange(200) + 0.5) * BIN_S  # 10 us bins over 2 ms


def decay_histogram(
    lifetimes_s: tuple[float, ...], fractions: tuple[float, ...], seed: int, total: float = 1e6, background: float = 5.0
) -> np.ndarray:
    """Poisson counts with ~``total`` decay counts plus ``background`` per bin."""
    shape = sum(f * np.exp(-BINS_T / tau) for f, tau in zip(fractions, lifetimes_s, strict=True))
    scale = total / float(np.sum(shape))
    rng = np.random.default_rng(seed)
    return rng.poisson(scale * shape + background).astype(float)


def test_biexponential_decay_is_recovered_and_chosen() -> None:
    counts = decay_histogram((305 * US, 84 * US), (0.535, 0.465), seed=2024)
    assert counts.sum() == pytest.approx(1e6 + 1000, rel=0.01)
    fit = fit_decay(BINS_T, counts, n_components=2)
    assert isinstance(fit, DecayFit)
    assert fit.n_components == 2
    assert fit.lifetimes_s[0] == pytest.approx(305 * US, rel=0.05)
    assert fit.lifetimes_s[1] == pytest.approx(84 * US, rel=0.05)
    assert fit.fractions[0] == pytest.approx(0.535, rel=0.05)
    assert fit.fractions[1] == pytest.approx(0.465, rel=0.05)
    assert sum(fit.fractions) == pytest.approx(1.0)
    assert all(0 < e < 0.05 * tau for e, tau in zip(fit.lifetimes_err_s, fit.lifetimes_s, strict=True))
    assert all(0 < e < 0.02 for e in fit.fractions_err)
    assert fit.background == pytest.approx(5.0, abs=2.0)
    assert fit.reduced_chi2 == pytest.approx(1.0, abs=0.3)
    assert fit.n_bins == 200
    tau = np.array([305.0, 84.0])
    f = np.array([0.535, 0.465])
    assert fit.average_lifetime_s() == pytest.approx(float(np.sum(f * tau**2) / np.sum(f * tau)) * US, rel=0.03)
    # the model reproduces the histogram to within counting noise
    assert np.sum((counts - fit.predict(BINS_T)) ** 2 / np.maximum(fit.predict(BINS_T), 1)) < 1.5 * 200

    auto = fit_decay_auto(BINS_T, counts)
    assert auto.n_components == 2
    assert auto.lifetimes_s == pytest.approx(fit.lifetimes_s, rel=1e-3)


def test_monoexponential_decay_is_recognized() -> None:
    counts = decay_histogram((303 * US,), (1.0,), seed=99)
    auto = fit_decay_auto(BINS_T, counts)
    assert auto.n_components == 1
    assert auto.lifetimes_s[0] == pytest.approx(303 * US, rel=0.05)
    assert auto.fractions == (1.0,)
    assert auto.average_lifetime_s() == pytest.approx(auto.lifetimes_s[0])
    mono = fit_decay(BINS_T, counts)
    assert mono.lifetimes_s == pytest.approx(auto.lifetimes_s)
    assert 0 < mono.lifetimes_err_s[0] < 0.01 * mono.lifetimes_s[0]


def test_the_rise_before_the_maximum_is_skipped() -> None:
    rng = np.random.default_rng(8)
    t = (np.arange(300) + 0.5) * BIN_S
    pulse_s = 0.5e-3
    expected = np.where(t >= pulse_s, 20000.0 * np.exp(-(t - pulse_s) / (150 * US)), 0.0) + 3.0
    counts = rng.poisson(expected).astype(float)
    fit = fit_decay(t, counts)
    assert fit.lifetimes_s[0] == pytest.approx(150 * US, rel=0.05)
    assert fit.n_bins == int(np.sum(t >= pulse_s))
    # amplitudes are referred to t = 0 of the caller's axis
    assert fit.predict(np.array([pulse_s + BIN_S / 2]))[0] == pytest.approx(expected[t > pulse_s][0], rel=0.05)
    late = fit_decay(t, counts, fit_start_s=pulse_s + 100 * US)
    assert late.n_bins == int(np.sum(t >= pulse_s + 100 * US))
    assert late.lifetimes_s[0] == pytest.approx(150 * US, rel=0.05)


def test_fit_decay_rejects_bad_histograms() -> None:
    t = (np.arange(50) + 0.5) * BIN_S
    with pytest.raises(ValueError, match=r"9 bins, fewer than the 10"):
        fit_decay(t[:9], np.ones(9))
    with pytest.raises(ValueError, match=r"all zero"):
        fit_decay(t, np.zeros(50))
    counts = np.full(50, 10.0)
    counts[4] = -1.0
    with pytest.raises(ValueError, match=r"counts\[4\] is -1\.0.*cannot be negative.*raw histogram"):
        fit_decay(t, counts)
    with pytest.raises(ValueError, match=r"only 5 bins"):
        fit_decay(t, np.full(50, 10.0), fit_start_s=float(t[45]))
    with pytest.raises(ValueError, match=r"n_components must be an integer within 1\.\.3"):
        fit_decay(t, np.full(50, 10.0), n_components=4)
    with pytest.raises(ValueError, match=r"counts has 49 values but t_s has 50"):
        fit_decay_auto(t, np.ones(49))
