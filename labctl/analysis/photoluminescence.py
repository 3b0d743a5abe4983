"""Photoluminescence figures of merit from plain arrays: photostability, PLQY and decay lifetimes.

Pure functions on numpy arrays; the caller reads the data from a run and passes times in s,
wavelengths in nm and raw detector counts.

* Photostability.  :func:`retention` normalizes a PL-versus-time trace to its start,
  R(t) = PL(t) / PL(0).  :func:`fit_photobleaching` fits a photolabile fraction bleaching
  first-order plus a photostable fraction, R(t) = R_inf + (1 - R_inf) exp(-k t) (t in h inside
  the fit), and gives the model half-life t_1/2 = -ln((0.5 - R_inf) / (1 - R_inf)) / k (infinite
  when R_inf >= 0.5).  :func:`observed_half_life` and :func:`retention_at` read the data directly
  (linear interpolation).
* PLQY with an integrating sphere, two-measurement method of de Mello, Wittmann and Friend
  (Adv. Mater. 1997, 9, 230) as used for films: a blank (empty substrate) and the sample, each in
  the direct excitation beam.  With L the excitation photons scattered in the excitation window and
  E the emitted photons in the emission window, PLQY = (E_sample - E_blank) / (L_blank - L_sample)
  and the absorbed fraction A = 1 - L_sample / L_blank.  Counts are turned into photons by dividing
  by the relative responsivity (counts per photon) at each pixel, then integrated over wavelength.
* Decays (TCSPC or multichannel-scaling histograms): counts(t) = sum_i a_i exp(-t / tau_i) + b,
  fitted by Poisson-weighted least squares; :func:`fit_decay_auto` chooses one or two components
  with an F-test.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

S_PER_H = 3600.0
HALF = 0.5  # retention level that defines the half-life
BLEACH_MIN_POINTS = 4  # fewest points fit_photobleaching accepts
PLQY_MIN_ABSORBED_FRACTION = 0.01  # below this the sample hardly absorbs and the PLQY is meaningless
DECAY_MIN_BINS = 10  # fewest histogram bins in the fit range
DECAY_MAX_COMPONENTS = 3  # most exponential components fit_decay accepts
DECAY_F_TEST_P = 0.01  # the F-test p-value below which fit_decay_auto keeps the second component
DECAY_MIN_FRACTION = 0.02  # ... provided each component carries more than this amplitude fraction
DECAY_MIN_LIFETIME_RATIO = 1.2  # ... and the longer lifetime exceeds the shorter by more than 20 %
DECAY_IRLS_PASSES = 3  # weighted fits; weights from the counts first, then from the model

FloatArray = NDArray[np.float64]


# -- input checks -----------------------------------------------------------------------------


def _vector(func: str, name: str, values: ArrayLike, n: int | None = None, ref: str = "t_s") -> FloatArray:
    """``values`` as a finite 1-D float array, of length ``n`` when given."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{func}: {name} must be a 1-D array, got shape {arr.shape}; pass one value per point")
    if n is not None and arr.size != n:
        raise ValueError(f"{func}: {name} has {arr.size} values but {ref} has {n}; pass one value per point of {ref}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(
            f"{func}: {name}[{bad}] is {float(arr[bad])}, but every value must be finite; "
            f"drop or fill non-finite points before the analysis"
        )
    return arr


def _times(func: str, t_s: ArrayLike, name: str = "t_s") -> FloatArray:
    """``t_s`` as a finite, strictly increasing 1-D float array."""
    t = _vector(func, name, t_s)
    if t.size > 1 and not np.all(np.diff(t) > 0):
        bad = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise ValueError(
            f"{func}: {name} must be strictly increasing, but {name}[{bad + 1}]={t[bad + 1]!r} "
            f"follows {t[bad]!r}; sort the points and drop duplicates"
        )
    return t


def _series(func: str, t_s: ArrayLike, values: ArrayLike, name: str) -> tuple[FloatArray, FloatArray]:
    t = _times(func, t_s)
    return t, _vector(func, name, values, t.size)


def _std_errors(cov: NDArray[np.floating]) -> FloatArray:
    """Square roots of the covariance diagonal; infinite where the covariance is not finite."""
    diag = np.diag(cov).astype(float)
    out = np.full(diag.shape, math.inf)
    ok = np.isfinite(diag)
    out[ok] = np.sqrt(np.clip(diag[ok], 0.0, None))
    return out


# -- photostability ---------------------------------------------------------------------------


def retention(t_s: ArrayLike, pl: ArrayLike, *, baseline_points: int = 1) -> FloatArray:
    """PL retention R = PL / mean(PL of the first ``baseline_points`` points).

    :param t_s: measurement times, s, strictly increasing.
    :param pl: PL signal at each time (any unit, e.g. integrated counts).
    :param baseline_points: how many leading points average into the reference PL(0).
    """
    _, y = _series("retention", t_s, pl, "pl")
    if y.size == 0:
        raise ValueError("retention: pl is empty; pass at least one PL value")
    if not (isinstance(baseline_points, int | np.integer) and 1 <= baseline_points <= y.size):
        raise ValueError(
            f"retention: baseline_points must be an integer within 1..{y.size} (the number of points), "
            f"got {baseline_points!r}; pass how many leading points define the initial PL"
        )
    if not y[0] > 0:
        raise ValueError(
            f"retention: the first PL value is {float(y[0])!r}, but it must be > 0 to normalize by; "
            f"subtract the dark level correctly or start the trace once the light is on"
        )
    reference = float(np.mean(y[:baseline_points]))
    if not reference > 0:
        raise ValueError(
            f"retention: the mean of the first {baseline_points} PL values is {reference!r}, but it must be > 0; "
            f"use fewer baseline_points or check the dark subtraction"
        )
    return y / reference


@dataclass(frozen=True)
class BleachFit:
    """Fit of R(t) = R_inf + (1 - R_inf) exp(-k t): a photostable fraction R_inf plus a
    photolabile fraction 1 - R_inf that bleaches first-order with rate constant k.

    Errors are standard errors from the fit covariance (infinite when a parameter is not
    determined, e.g. k of a flat trace).  ``half_life_s`` is the model's time to R = 0.5,
    t_1/2 = -ln((0.5 - R_inf) / (1 - R_inf)) / k, and ``math.inf`` when R_inf >= 0.5 or k = 0.
    """

    stable_fraction: float
    stable_fraction_err: float
    rate_per_h: float
    rate_per_h_err: float
    half_life_s: float
    r2: float
    n_points: int

    def predict(self, t_s: ArrayLike) -> FloatArray:
        """Model retention at times ``t_s`` (s)."""
        t_h = np.asarray(t_s, dtype=float) / S_PER_H
        r_inf = self.stable_fraction
        return r_inf + (1.0 - r_inf) * np.exp(-self.rate_per_h * t_h)


def _bleach_model(t_h: FloatArray, r_inf: float, k: float) -> FloatArray:
    return r_inf + (1.0 - r_inf) * np.exp(-k * t_h)


def _bleach_jacobian(t_h: FloatArray, r_inf: float, k: float) -> FloatArray:
    e = np.exp(-k * t_h)
    return np.column_stack([1.0 - e, -(1.0 - r_inf) * t_h * e])


def _bleach_initial_guess(t_h: FloatArray, r: FloatArray) -> tuple[float, float]:
    """(R_inf, k) minimizing the squared error over a log grid of k, R_inf solved linearly for each.

    For fixed k the model is linear in R_inf: R - e = R_inf (1 - e) with e = exp(-k t), so the grid
    search is cheap and finds the right basin for flat, partly and fully bleached traces alike.
    """
    span = float(t_h[-1] - t_h[0])
    step = float(np.min(np.diff(t_h)))
    k_grid = np.geomspace(1e-3 / span, max(10.0 / step, 1e-1 / span), 200)
    tt = t_h - t_h[0]
    best = (1.0, k_grid[0])
    best_sse = math.inf
    for k in k_grid:
        e = np.exp(-k * tt)
        u = 1.0 - e
        denom = float(u @ u)
        r_inf = float(np.clip((r - e) @ u / denom, 0.0, 1.0)) if denom > 0 else 1.0
        sse = float(np.sum((_bleach_model(t_h, r_inf, k) - r) ** 2))
        if sse < best_sse:
            best, best_sse = (r_inf, float(k)), sse
    return best


def fit_photobleaching(t_s: ArrayLike, retention: ArrayLike) -> BleachFit:
    """Least-squares fit of R(t) = R_inf + (1 - R_inf) exp(-k t) to a retention trace.

    t is in hours inside the fit (k in h^-1); bounds 0 <= R_inf <= 1 and k >= 0.  The time origin is
    the caller's: R = 1 at t = 0, as :func:`retention` gives when the trace starts at t_s = 0.

    :param t_s: times, s, strictly increasing.
    :param retention: PL retention at each time (1 at the start), e.g. from :func:`retention`.
    """
    t, r = _series("fit_photobleaching", t_s, retention, "retention")
    if t.size < BLEACH_MIN_POINTS:
        raise ValueError(
            f"fit_photobleaching: need at least {BLEACH_MIN_POINTS} points to fit R_inf and k, got {t.size}; "
            f"record the PL more often or for longer"
        )
    t_h = t / S_PER_H
    r_inf0, k0 = _bleach_initial_guess(t_h, r)
    p0 = (float(np.clip(r_inf0, 1e-6, 1.0 - 1e-6)), max(k0, 1e-12))
    with warnings.catch_warnings():
        # a flat trace leaves k undetermined: the covariance is then reported as infinite
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        popt, pcov = optimize.curve_fit(
            _bleach_model,
            t_h,
            r,
            p0=p0,
            bounds=([0.0, 0.0], [1.0, np.inf]),
            jac=_bleach_jacobian,
            method="trf",
        )
    r_inf, k = float(popt[0]), float(popt[1])
    errs = _std_errors(np.asarray(pcov, dtype=float))
    residuals = r - _bleach_model(t_h, r_inf, k)
    ss_res = float(residuals @ residuals)
    ss_tot = float(np.sum((r - r.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float(ss_res == 0)
    bleaches_past_half = r_inf < HALF and k > 0
    half_life_s = -math.log((HALF - r_inf) / (1.0 - r_inf)) / k * S_PER_H if bleaches_past_half else math.inf
    return BleachFit(
        stable_fraction=r_inf,
        stable_fraction_err=float(errs[0]),
        rate_per_h=k,
        rate_per_h_err=float(errs[1]),
        half_life_s=half_life_s,
        r2=r2,
        n_points=int(t.size),
    )


def observed_half_life(t_s: ArrayLike, retention: ArrayLike) -> float:
    """Time (s) at which the retention first falls to 0.5, interpolated linearly between the two
    points that straddle it; ``t_s[0]`` if the trace starts at or below 0.5, ``math.nan`` if it
    never reaches 0.5."""
    t, r = _series("observed_half_life", t_s, retention, "retention")
    below = np.flatnonzero(r <= HALF)
    if below.size == 0:
        return math.nan
    i = int(below[0])
    if i == 0:
        return float(t[0])
    t0, t1, r0, r1 = float(t[i - 1]), float(t[i]), float(r[i - 1]), float(r[i])
    return t0 + (r0 - HALF) / (r0 - r1) * (t1 - t0)


def retention_at(t_s: ArrayLike, retention: ArrayLike, at_s: float) -> float:
    """Retention at time ``at_s`` (s), linearly interpolated between the measured points."""
    t, r = _series("retention_at", t_s, retention, "retention")
    if t.size == 0:
        raise ValueError("retention_at: the trace is empty; pass at least one point")
    if not (math.isfinite(at_s) and t[0] <= at_s <= t[-1]):
        raise ValueError(
            f"retention_at: at_s={at_s!r} s lies outside the data, {float(t[0])!r}..{float(t[-1])!r} s; "
            f"ask for a time within the trace (no extrapolation), or use BleachFit.predict"
        )
    return float(np.interp(at_s, t, r))


# -- PLQY, integrating sphere -----------------------------------------------------------------


@dataclass(frozen=True)
class PlqyResult:
    """PLQY from an integrating-sphere blank/sample pair.

    ``plqy`` is a fraction 0..1 with its standard error ``plqy_err``; ``absorbed_fraction`` is
    A = 1 - L_sample / L_blank; windows in nm; ``replicates`` is the smaller of the numbers of
    blank and sample spectra.
    """

    plqy: float
    plqy_err: float
    absorbed_fraction: float
    excitation_window_nm: tuple[float, float]
    emission_window_nm: tuple[float, float]
    replicates: int


def _spectra(name: str, values: ArrayLike, n: int) -> FloatArray:
    """Spectra as a (replicates, pixels) array."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2 or arr.shape[1] != n or arr.shape[0] == 0:
        raise ValueError(
            f"plqy_sphere: {name} has shape {np.shape(values)} but wavelengths_nm has {n} pixels; "
            f"pass shape ({n},) for one spectrum or (replicates, {n}) for several"
        )
    if not np.all(np.isfinite(arr)):
        rep, pix = (int(i[0]) for i in np.nonzero(~np.isfinite(arr)))
        raise ValueError(
            f"plqy_sphere: {name} is {float(arr[rep, pix])} at replicate {rep}, pixel {pix}; "
            f"every count must be finite, so re-acquire or drop that spectrum"
        )
    return arr


def _window(name: str, window: tuple[float, float], wl: FloatArray) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(f"plqy_sphere: {name} must be a (low, high) pair in nm, got {window!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"plqy_sphere: {name} must be finite with low < high, got {window!r} nm; pass (low, high)")
    if lo < wl[0] or hi > wl[-1]:
        raise ValueError(
            f"plqy_sphere: {name} {(lo, hi)} nm lies outside the wavelength axis "
            f"{float(wl[0]):g}..{float(wl[-1]):g} nm; choose a window within the measured range"
        )
    n_pix = int(np.count_nonzero((wl >= lo) & (wl <= hi)))
    if n_pix < 2:
        raise ValueError(
            f"plqy_sphere: {name} {(lo, hi)} nm holds {n_pix} pixel(s), but integrating needs at least 2; "
            f"widen the window"
        )
    return lo, hi


@dataclass(frozen=True)
class _Integral:
    mean: float
    var: float  # variance of the mean: replicate scatter plus Poisson counting noise


def _integrate(
    wl: FloatArray,
    raw: FloatArray,
    dark: FloatArray,
    dark_var: FloatArray,
    responsivity: FloatArray,
    mask: NDArray[np.bool_],
) -> _Integral:
    """Photons in a window, averaged over replicates, with the variance of that average.

    A spectrometer's counts are per pixel (each pixel collects its own band), so the photons in a
    window are the sum over its pixels -- not an integral over wavelength, which would weight
    each pixel by its width and bias L against E where the dispersion varies along the array.
    """
    photons = (raw[:, mask] - dark[mask]) / responsivity[mask]
    per_replicate = photons.sum(axis=1)
    n = per_replicate.size
    mean = float(per_replicate.mean())
    replicate_var = float(per_replicate.var(ddof=1)) / n if n > 1 else 0.0
    g = (1.0 / responsivity[mask]) ** 2
    counts_var = np.clip(raw[:, mask], 0.0, None) + dark_var[mask]
    poisson_var = float(np.sum(counts_var @ g)) / n**2
    return _Integral(mean, replicate_var + poisson_var)


def _dark(name: str, values: ArrayLike | None, n: int) -> tuple[FloatArray, FloatArray]:
    """(dark spectrum averaged over its rows, its Poisson variance per pixel)."""
    if values is None:
        return np.zeros(n), np.zeros(n)
    arr = _spectra(name, values, n)
    mean = arr.mean(axis=0)
    return mean, np.clip(mean, 0.0, None) / arr.shape[0]


def plqy_sphere(
    wavelengths_nm: ArrayLike,
    blank: ArrayLike,
    sample: ArrayLike,
    *,
    excitation_window_nm: tuple[float, float],
    emission_window_nm: tuple[float, float],
    responsivity: ArrayLike | None = None,
    blank_dark: ArrayLike | None = None,
    sample_dark: ArrayLike | None = None,
) -> PlqyResult:
    """PLQY of a film in an integrating sphere (de Mello two-measurement method, excitation in the beam).

    For each spectrum, photons per pixel = (counts - dark) / responsivity, summed over the pixels
    of the excitation window (L) and of the emission window (E), then averaged over replicates:

        PLQY = (E_sample - E_blank) / (L_blank - L_sample),    A = 1 - L_sample / L_blank.

    Uncertainty: the variance of each averaged integral is the replicate scatter (squared standard
    error over replicates) plus the Poisson variance of the raw counts (and of the dark spectrum)
    propagated through the integral.  Replicate scatter already contains counting noise, so the sum
    is conservative by at most a factor sqrt(2).  The four integrals are treated as independent.

    :param wavelengths_nm: pixel wavelengths, nm, strictly increasing.
    :param blank: counts per pixel with the empty substrate, shape (pixels,) or (replicates, pixels).
    :param sample: counts per pixel with the sample, shape (pixels,) or (replicates, pixels).
    :param excitation_window_nm: (low, high) nm around the excitation line.
    :param emission_window_nm: (low, high) nm covering the emission band; must not overlap the
        excitation window.
    :param responsivity: relative responsivity (counts per photon) at each pixel, > 0 in both
        windows; default flat (no spectral correction).
    :param blank_dark: dark counts for the blank spectra, shape (pixels,) or (rows, pixels), averaged.
    :param sample_dark: dark counts for the sample spectra, likewise.
    """
    wl = _times("plqy_sphere", wavelengths_nm, "wavelengths_nm")
    n = wl.size
    if n < 2:
        raise ValueError(f"plqy_sphere: wavelengths_nm has {n} pixel(s); pass the full wavelength axis")
    blank_counts = _spectra("blank", blank, n)
    sample_counts = _spectra("sample", sample, n)
    if responsivity is None:
        resp = np.ones(n)
    else:
        resp = np.asarray(responsivity, dtype=float)
        if resp.shape != (n,):
            raise ValueError(
                f"plqy_sphere: responsivity has shape {resp.shape} but wavelengths_nm has {n} pixels; "
                f"pass one responsivity value per pixel"
            )
    b_dark, b_dark_var = _dark("blank_dark", blank_dark, n)
    s_dark, s_dark_var = _dark("sample_dark", sample_dark, n)

    ex = _window("excitation_window_nm", excitation_window_nm, wl)
    em = _window("emission_window_nm", emission_window_nm, wl)
    if ex[0] <= em[1] and em[0] <= ex[1]:
        raise ValueError(
            f"plqy_sphere: excitation_window_nm {ex} nm and emission_window_nm {em} nm overlap; "
            f"the windows must be disjoint, so leave a gap between the excitation line and the emission band"
        )
    ex_mask = (wl >= ex[0]) & (wl <= ex[1])
    em_mask = (wl >= em[0]) & (wl <= em[1])
    for label, mask in (("excitation", ex_mask), ("emission", em_mask)):
        bad = mask & ~(np.isfinite(resp) & (resp > 0))
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"plqy_sphere: responsivity is {float(resp[i])!r} at {float(wl[i]):g} nm, inside the {label} window, "
                f"but it must be finite and > 0 there; fix the calibration or narrow the window"
            )

    l_blank = _integrate(wl, blank_counts, b_dark, b_dark_var, resp, ex_mask)
    l_sample = _integrate(wl, sample_counts, s_dark, s_dark_var, resp, ex_mask)
    e_blank = _integrate(wl, blank_counts, b_dark, b_dark_var, resp, em_mask)
    e_sample = _integrate(wl, sample_counts, s_dark, s_dark_var, resp, em_mask)
    if not l_blank.mean > 0:
        raise ValueError(
            f"plqy_sphere: the blank has {l_blank.mean:.4g} photons in the excitation window {ex} nm, but it "
            f"must be > 0; check that the window covers the excitation line and the dark subtraction"
        )
    absorbed = 1.0 - l_sample.mean / l_blank.mean
    if absorbed < PLQY_MIN_ABSORBED_FRACTION:
        raise ValueError(
            f"plqy_sphere: the sample absorbs {100 * absorbed:.2f} % of the excitation, below the "
            f"{100 * PLQY_MIN_ABSORBED_FRACTION:.0f} % needed for a meaningful PLQY; use a thicker or more "
            f"concentrated film, or excite at a wavelength the sample absorbs more strongly"
        )
    numerator = e_sample.mean - e_blank.mean
    denominator = l_blank.mean - l_sample.mean
    plqy = numerator / denominator
    var_num = e_sample.var + e_blank.var
    var_den = l_blank.var + l_sample.var
    plqy_var = var_num / denominator**2 + numerator**2 * var_den / denominator**4
    return PlqyResult(
        plqy=float(plqy),
        plqy_err=math.sqrt(plqy_var),
        absorbed_fraction=float(absorbed),
        excitation_window_nm=ex,
        emission_window_nm=em,
        replicates=int(min(blank_counts.shape[0], sample_counts.shape[0])),
    )


# -- decays -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecayFit:
    """Multi-exponential fit counts(t) = sum_i a_i exp(-t / tau_i) + b of a decay histogram.

    Components are sorted longest lifetime first.  ``amplitudes`` are counts per bin extrapolated to
    t = 0 of the caller's time axis; ``fractions`` are a_i / sum(a) with standard errors;
    ``background`` is in counts per bin.  Errors come from the Poisson-weighted fit covariance,
    scaled up by the reduced chi^2 when that exceeds 1.  ``reduced_chi2`` is
    sum((counts - model)^2 / max(model, 1)) / (n_bins - 2 n_components - 1) over the ``n_bins`` bins
    of the fit range.
    """

    n_components: int
    lifetimes_s: tuple[float, ...]
    lifetimes_err_s: tuple[float, ...]
    amplitudes: tuple[float, ...]
    fractions: tuple[float, ...]
    fractions_err: tuple[float, ...]
    background: float
    reduced_chi2: float
    n_bins: int

    def predict(self, t_s: ArrayLike) -> FloatArray:
        """Model counts per bin at times ``t_s`` (s)."""
        t = np.asarray(t_s, dtype=float)
        out = np.full(t.shape, self.background, dtype=float)
        for a, tau in zip(self.amplitudes, self.lifetimes_s, strict=True):
            out = out + a * np.exp(-t / tau)
        return out

    def average_lifetime_s(self) -> float:
        """Average lifetime sum(a_i tau_i^2) / sum(a_i tau_i), s.

        Each component weighted by its share of the emitted photons (a_i tau_i), often called the
        intensity-weighted average; equals the lifetime for a single component.
        """
        a = np.asarray(self.amplitudes)
        tau = np.asarray(self.lifetimes_s)
        return float(np.sum(a * tau**2) / np.sum(a * tau))


@dataclass(frozen=True)
class _DecayData:
    t: FloatArray  # bin times relative to the fit start, in units of ``time_scale``
    counts: FloatArray  # counts in units of ``count_scale``
    raw_counts: FloatArray
    t0_s: float
    time_scale_s: float
    count_scale: float


def _decay_data(func: str, t_s: ArrayLike, counts: ArrayLike, fit_start_s: float | None) -> _DecayData:
    t, c = _series(func, t_s, counts, "counts")
    if t.size < DECAY_MIN_BINS:
        raise ValueError(
            f"{func}: the histogram has {t.size} bins, fewer than the {DECAY_MIN_BINS} needed; "
            f"record more bins (finer time resolution or a longer window)"
        )
    if np.any(c < 0):
        i = int(np.flatnonzero(c < 0)[0])
        raise ValueError(
            f"{func}: counts[{i}] is {float(c[i])!r}, but histogram counts cannot be negative; "
            f"pass the raw histogram, not a background-subtracted one"
        )
    if not np.any(c > 0):
        raise ValueError(f"{func}: the histogram is all zero; check the detector and the acquisition time")
    if fit_start_s is None:
        start = int(np.argmax(c))
    else:
        if not (math.isfinite(fit_start_s) and fit_start_s <= t[-1]):
            raise ValueError(
                f"{func}: fit_start_s={fit_start_s!r} s is beyond the last bin at {float(t[-1])!r} s; "
                f"pass a start time within the histogram, or None to start at the maximum"
            )
        start = int(np.searchsorted(t, fit_start_s, side="left"))
    tt, cc = t[start:], c[start:]
    if tt.size < DECAY_MIN_BINS:
        raise ValueError(
            f"{func}: only {tt.size} bins from {float(tt[0])!r} s to the end, fewer than the {DECAY_MIN_BINS} needed; "
            f"start the fit earlier (fit_start_s) or record a longer window"
        )
    if not np.any(cc > 0):
        raise ValueError(
            f"{func}: all counts from {float(tt[0])!r} s on are zero; start the fit earlier or check the acquisition"
        )
    t0 = float(tt[0])
    time_scale = float(tt[-1] - t0)
    count_scale = float(cc.max())
    return _DecayData((tt - t0) / time_scale, cc / count_scale, cc, t0, time_scale, count_scale)


def _exp_basis(t: FloatArray, taus: FloatArray) -> FloatArray:
    return np.exp(-t[:, np.newaxis] / taus[np.newaxis, :])


def _decay_model(x: FloatArray, t: FloatArray, n: int) -> FloatArray:
    return _exp_basis(t, x[n : 2 * n]) @ x[:n] + x[2 * n]


def _linear_amplitudes(data: _DecayData, taus: FloatArray, weights: FloatArray) -> tuple[FloatArray, float]:
    """Non-negative amplitudes and background for fixed lifetimes (weighted NNLS); (x, chi2)."""
    design = np.column_stack([_exp_basis(data.t, taus), np.ones_like(data.t)])
    coef, norm = optimize.nnls(design * weights[:, np.newaxis], data.counts * weights)
    return np.concatenate([coef[:-1], taus, coef[-1:]]), float(norm) ** 2


def _decay_candidates(data: _DecayData, n: int, weights: FloatArray) -> list[FloatArray]:
    """Starting points: the best lifetimes on a log grid (amplitudes by NNLS) and spreads around a
    log-linear estimate of a single lifetime."""
    step = float(np.min(np.diff(data.t)))
    grid = np.geomspace(max(step / 2.0, 1e-4), 3.0, 24 if n == 1 else (16 if n == 2 else 10))
    scored = []
    for combo in itertools.combinations(grid, n):
        x, chi2 = _linear_amplitudes(data, np.asarray(combo[::-1]), weights)
        scored.append((chi2, x))
    scored.sort(key=lambda item: item[0])
    candidates = [x for _, x in scored[:2]]

    # log-linear estimate of one lifetime from the counts above the tail level
    tail = data.counts[-max(3, data.counts.size // 10) :]
    y = data.counts - float(tail.mean())
    noise = math.sqrt(max(float(tail.mean()) * data.count_scale, 1.0)) / data.count_scale
    keep = y > max(3.0 * noise, 0.05)
    tau1 = 0.3
    if np.count_nonzero(keep) >= 3:
        slope = np.polyfit(data.t[keep], np.log(y[keep]), 1, w=np.sqrt(y[keep]))[0]
        if slope < 0:
            tau1 = float(np.clip(-1.0 / slope, step / 2.0, 3.0))
    spreads: dict[int, list[tuple[float, ...]]] = {1: [(1.0,)], 2: [(2.0, 0.3), (1.5, 0.5)], 3: [(2.5, 1.0, 0.2)]}
    for spread in spreads.get(n, []):
        taus = np.clip(tau1 * np.asarray(spread), step / 2.0, 3.0)
        candidates.append(_linear_amplitudes(data, taus, weights)[0])
    return candidates


def _decay_jacobian(x: FloatArray, t: FloatArray, n: int, weights: FloatArray) -> FloatArray:
    a, taus = x[:n], x[n : 2 * n]
    basis = _exp_basis(t, taus)
    jac = np.empty((t.size, 2 * n + 1))
    jac[:, :n] = basis
    jac[:, n : 2 * n] = basis * a * t[:, np.newaxis] / taus**2
    jac[:, 2 * n] = 1.0
    return jac * weights[:, np.newaxis]


def _poisson_weights(data: _DecayData, model_scaled: FloatArray | None) -> FloatArray:
    """1 / sigma in scaled units, sigma = sqrt(max(model or counts, 1)) counts."""
    level = data.raw_counts if model_scaled is None else model_scaled * data.count_scale
    return data.count_scale / np.sqrt(np.maximum(level, 1.0))


def _fit_decay_data(data: _DecayData, n: int) -> tuple[DecayFit, float]:
    """The fit and its chi^2."""
    step = float(np.min(np.diff(data.t)))
    lower = np.concatenate([np.zeros(n), np.full(n, step * 1e-3), [0.0]])
    upper = np.concatenate([np.full(n, np.inf), np.full(n, 1e3), [np.inf]])
    weights = _poisson_weights(data, None)
    best_x: FloatArray | None = None
    best_chi2 = math.inf
    for x0 in _decay_candidates(data, n, weights):
        x = np.clip(x0, lower, upper)
        w = weights
        for _ in range(DECAY_IRLS_PASSES):
            result = optimize.least_squares(
                lambda p, w=w: (_decay_model(p, data.t, n) - data.counts) * w,
                x,
                jac=lambda p, w=w: _decay_jacobian(p, data.t, n, w),
                bounds=(lower, upper),
                method="trf",
                x_scale="jac",
            )
            x = result.x
            w = _poisson_weights(data, _decay_model(x, data.t, n))
        chi2 = float(np.sum(((_decay_model(x, data.t, n) - data.counts) * w) ** 2))
        if chi2 < best_chi2:
            best_x, best_chi2 = x, chi2
    assert best_x is not None
    x = best_x
    w = _poisson_weights(data, _decay_model(x, data.t, n))
    dof = data.t.size - (2 * n + 1)
    reduced = best_chi2 / dof

    # covariance in physical units: amplitudes (counts/bin at the fit start), lifetimes (s), background
    jac = _decay_jacobian(x, data.t, n, w)
    scales = np.concatenate([np.full(n, data.count_scale), np.full(n, data.time_scale_s), [data.count_scale]])
    cov = np.linalg.pinv(jac.T @ jac) * np.outer(scales, scales) * max(1.0, reduced)
    a_start = x[:n] * data.count_scale
    taus = x[n : 2 * n] * data.time_scale_s
    background = float(x[2 * n] * data.count_scale)

    # amplitudes extrapolated from the fit start to t = 0: a_i(0) = a_i(t0) exp(t0 / tau_i)
    with np.errstate(over="ignore"):
        growth = np.exp(data.t0_s / taus)
    amplitudes = a_start * growth
    g = np.eye(2 * n + 1)
    g[np.arange(n), np.arange(n)] = growth
    g[np.arange(n), n + np.arange(n)] = -amplitudes * data.t0_s / taus**2
    with np.errstate(invalid="ignore", over="ignore"):
        cov = g @ cov @ g.T

    total = float(amplitudes.sum())
    if total > 0 and math.isfinite(total):
        fractions = amplitudes / total
        # d f_i / d a_j = (delta_ij - f_i) / sum(a)
        df = (np.eye(n) - fractions[:, np.newaxis]) / total
        with np.errstate(invalid="ignore", over="ignore"):
            fractions_err = _std_errors(df @ cov[:n, :n] @ df.T)
    else:
        fractions = np.full(n, math.nan)
        fractions_err = np.full(n, math.nan)
    tau_err = _std_errors(np.asarray(cov[n : 2 * n, n : 2 * n], dtype=np.float64))
    order = np.argsort(-taus, kind="stable")
    fit = DecayFit(
        n_components=n,
        lifetimes_s=tuple(float(v) for v in taus[order]),
        lifetimes_err_s=tuple(float(v) for v in tau_err[order]),
        amplitudes=tuple(float(v) for v in amplitudes[order]),
        fractions=tuple(float(v) for v in fractions[order]),
        fractions_err=tuple(float(v) for v in fractions_err[order]),
        background=background,
        reduced_chi2=float(reduced),
        n_bins=int(data.t.size),
    )
    return fit, best_chi2


def fit_decay(
    t_s: ArrayLike, counts: ArrayLike, *, n_components: int = 1, fit_start_s: float | None = None
) -> DecayFit:
    """Poisson-weighted least-squares fit of counts(t) = sum_i a_i exp(-t / tau_i) + b.

    Weights 1 / sigma^2 with sigma = sqrt(max(counts, 1)) in a first pass, then
    sigma = sqrt(max(model, 1)) from the previous pass (iteratively reweighted).  Starting
    lifetimes come from a log grid (amplitudes and background by non-negative linear least squares
    for each) and from a log-linear estimate; the best final chi^2 wins.  Bounds: a_i >= 0, b >= 0.

    :param t_s: bin centres, s, strictly increasing, with t = 0 at the excitation pulse.
    :param counts: raw counts per bin (not background-subtracted).
    :param n_components: number of exponentials, 1..3.
    :param fit_start_s: first time fitted, s; default the bin of the maximum, which skips the rise.
    """
    if not (isinstance(n_components, int | np.integer) and 1 <= n_components <= DECAY_MAX_COMPONENTS):
        raise ValueError(
            f"fit_decay: n_components must be an integer within 1..{DECAY_MAX_COMPONENTS}, got {n_components!r}; "
            f"use 1 or 2, or fit_decay_auto to choose"
        )
    data = _decay_data("fit_decay", t_s, counts, fit_start_s)
    return _fit_decay_data(data, int(n_components))[0]


def fit_decay_auto(t_s: ArrayLike, counts: ArrayLike, *, fit_start_s: float | None = None) -> DecayFit:
    """The mono- or bi-exponential fit of a decay, whichever the data support.

    The bi-exponential fit is kept when an F-test on chi^2,
    F = ((chi2_1 - chi2_2) / 2) / (chi2_2 / (N - 5)), gives p < 0.01, and the fit is well
    conditioned: both amplitude fractions above 2 % and the longer lifetime more than 20 % above the
    shorter.  Otherwise the mono-exponential fit is returned.
    """
    data = _decay_data("fit_decay_auto", t_s, counts, fit_start_s)
    mono, chi2_1 = _fit_decay_data(data, 1)
    bi, chi2_2 = _fit_decay_data(data, 2)
    n = data.t.size
    dof_1, dof_2 = n - 3, n - 5
    if not (chi2_2 > 0 and dof_2 > 0):
        return mono
    f_stat = ((chi2_1 - chi2_2) / (dof_1 - dof_2)) / (chi2_2 / dof_2)
    p_value = float(stats.f.sf(f_stat, dof_1 - dof_2, dof_2)) if f_stat > 0 else 1.0
    well_conditioned = (
        all(math.isfinite(f) and f > DECAY_MIN_FRACTION for f in bi.fractions)
        and bi.lifetimes_s[0] > DECAY_MIN_LIFETIME_RATIO * bi.lifetimes_s[1]
    )
    return bi if p_value < DECAY_F_TEST_P and well_conditioned else mono


# -- figures of merit of a run ------------------------------------------------------------------------
def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def local_retention(t_s: ArrayLike, retention: ArrayLike, at_s: float, *, half_window_s: float = 90.0) -> float:
    """Retention at ``at_s`` from a straight line through the points within ± ``half_window_s``.

    Averages the counting noise of single points (a 0.2 s dwell on a weak emitter is noisy);
    falls back to interpolation between the two nearest points when the window holds fewer than 3.
    """
    t = np.asarray(t_s, dtype=float)
    r = np.asarray(retention, dtype=float)
    near = np.abs(t - at_s) <= half_window_s
    if np.count_nonzero(near) < 3:
        return retention_at(t, r, at_s)
    _slope, intercept = np.polyfit(t[near] - at_s, r[near], 1)
    return float(intercept)


def photostability_figures(t_s: ArrayLike, pl: ArrayLike, *, saturated: ArrayLike | None = None) -> dict[str, Any]:
    """Retention at the end and at 30 min, half-life (fitted and observed), bleaching fit, from PL points.

    ``t_s`` is the irradiation time of each point, the first point is the 100 % reference.
    """
    t = np.asarray(t_s, dtype=float)
    r = retention(t, pl)
    notes: list[str] = []
    out: dict[str, Any] = {
        "retention": float(r[-1]),
        "retention_percent": 100 * float(r[-1]),
        "points": len(t),
        "duration_h": float(t[-1] - t[0]) / S_PER_H,
    }
    if saturated is not None and bool(np.any(saturated)):
        notes.append(
            f"{int(np.sum(saturated))} point(s) saturated the spectrometer; their PL is clipped -- shorten the dwell"
        )
    out["retention_30min"] = local_retention(t, r, 1800.0) if t[0] <= 1800.0 <= t[-1] else None
    observed = observed_half_life(t, r)
    out["half_life_observed_h"] = _finite(observed / S_PER_H)
    if len(t) >= BLEACH_MIN_POINTS:
        fit = fit_photobleaching(t, r)
        out.update(
            stable_fraction=fit.stable_fraction,
            stable_fraction_err=_finite(fit.stable_fraction_err),
            bleach_rate_per_h=fit.rate_per_h,
            bleach_rate_per_h_err=_finite(fit.rate_per_h_err),
            fit_r2=_finite(fit.r2),
            half_life=_finite(fit.half_life_s),
            half_life_h=_finite(fit.half_life_s / S_PER_H),
        )
        if not math.isfinite(fit.half_life_s):
            notes.append(
                f"the PL never falls to half: the fit's photostable fraction is {fit.stable_fraction:.0%} "
                "(half_life is reported as null)"
            )
    else:
        out.update(half_life=None, half_life_h=None)
        notes.append(f"fewer than {BLEACH_MIN_POINTS} points: no bleaching fit")
    out["notes"] = notes
    return out


def decay_figures(t_s: ArrayLike, counts: ArrayLike, *, saturated: bool = False) -> dict[str, Any]:
    """Lifetimes (µs), amplitude fractions and the chosen model of a decay histogram."""
    fit = fit_decay_auto(t_s, counts)
    notes = []
    if saturated:
        notes.append("a scan reached the scaler's 32767 counts per bin; lower records per scan and rerun")
    return {
        "n_components": fit.n_components,
        "lifetimes": [t * 1e6 for t in fit.lifetimes_s],
        "lifetimes_err": [_finite(e * 1e6) for e in fit.lifetimes_err_s],
        "lifetimes_unit": "us",
        "fractions": list(fit.fractions),
        "fractions_err": [_finite(e) for e in fit.fractions_err],
        "average_lifetime_us": fit.average_lifetime_s() * 1e6,
        "background_per_bin": fit.background,
        "reduced_chi2": fit.reduced_chi2,
        "total_counts": float(np.sum(counts)),
        "notes": notes,
    }


def spectrum_figures(
    wavelengths_nm: ArrayLike, spectrum: ArrayLike, window_nm: tuple[float, float], *, saturated: bool = False
) -> dict[str, Any]:
    """Peak wavelength, FWHM and integrated intensity of a spectrum inside ``window_nm``."""
    wl = np.asarray(wavelengths_nm, dtype=float)
    y = np.asarray(spectrum, dtype=float)
    mask = (wl >= window_nm[0]) & (wl <= window_nm[1])
    if np.count_nonzero(mask) < 3:
        raise ValueError(f"emission window {window_nm[0]:g}-{window_nm[1]:g} nm holds fewer than 3 pixels")
    w, s = wl[mask], y[mask]
    # the peak of the band, not of one noisy pixel: a running mean over ~5 nm of pixels
    k = max(1, min(len(s) // 3, round(5.0 / max(float(np.median(np.diff(w))), 1e-9))))
    s = np.convolve(s, np.ones(k) / k, mode="same")
    i = int(np.argmax(s))
    half = s[i] / 2
    above = np.nonzero(s >= half)[0]
    lo, hi = int(above[0]), int(above[-1])

    def cross(a: int, b: int) -> float:
        if s[b] == s[a]:
            return float(w[a])
        return float(w[a] + (half - s[a]) * (w[b] - w[a]) / (s[b] - s[a]))

    left = cross(lo - 1, lo) if lo > 0 else float(w[0])
    right = cross(hi, hi + 1) if hi < len(s) - 1 else float(w[-1])
    notes = []
    if saturated:
        notes.append("the spectrometer saturated: peak and FWHM are clipped -- shorten the integration time")
    if lo == 0 or hi == len(s) - 1:
        notes.append("the band reaches the window's edge: FWHM is a lower bound")
    return {
        "peak_nm": float(w[i]),
        "fwhm_nm": right - left,
        "integrated": float(np.trapezoid(s, w)),
        "window_nm": [float(window_nm[0]), float(window_nm[1])],
        "saturated": saturated,
        "notes": notes,
    }
