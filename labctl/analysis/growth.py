"""Nanocluster growth and suprastructure assembly read from in-situ absorbance spectra.

Pure functions on numpy arrays: wavelengths in nm (increasing), absorbance in OD with NaN where
the spectrometer's reference was too weak (masked pixels), times in s.

* First exciton (:func:`first_exciton`).  The lowest-energy absorption band.  The spectrum is put
  on a uniform photon-energy grid (E = hc / lambda, masked spans bridged linearly for the search
  only) and smoothed (Savitzky-Golay, quadratic, over :data:`SMOOTH_MEV`).  The band is the
  reddest local maximum whose prominence exceeds :data:`PROMINENCE_NOISE` times the noise (the
  noise is estimated from the second differences of the raw pixels); failing that, the reddest
  minimum of the smoothed second derivative (a shoulder).  With ``expected_nm`` the candidate
  nearest to it is taken instead of the reddest.  A starting width comes from the band's red
  half-width at half maximum.  Then weighted least squares (scipy's trust-region reflective
  method, analytic Jacobian), in energy, on the unmasked pixels merged into bins of at most
  :data:`FIT_BIN_EV`, each weighted by the inverse square of its own noise (estimated along the
  detector: a spectrum is much noisier where the detector sees few photons), of

      A(E) = B(E) + h2 exp(-(E - E2)^2 / 2 s2^2) + b0 + b1 (E - Ec)

  over a window from 5 sigma below to 3 sigma above the band: the first-exciton band B, a Gaussian
  standing for the next transition(s) of the same crystals (its centre held at least
  :data:`NEXT_MIN_SIGMA` sigma above the band) and a linear background.  Three rounds fit B as a
  Gaussian (on the red side with the line alone, then with the next transition, then re-centred);
  the last sets B's blue tail free: B is a Gaussian convolved with a one-sided exponential towards
  higher energy (an exponentially modified Gaussian), the shape of an ensemble whose smallest
  crystals trail to the blue.  A Gaussian cannot follow that tail, and with it the fit trades the
  tail against the next transition and reports a band too narrow and too red (10-20 % on the
  simulated flask).  The band's position is B's maximum; its FWHM is read as twice B's half width
  at half maximum on the red side (the side free of the higher transitions and of the small
  crystals' tail, as chemists read it; for a Gaussian band it is the FWHM).  Uncertainties are
  standard errors from the fit covariance, scaled by the reduced chi^2 and carried through B's
  maximum and half width.  A band is refused (``ok`` False, ``note`` says why) when it is at the
  range's red edge or masked, narrower than :data:`MIN_FWHM_MEV`, not settled between the last
  two Gaussian rounds, its width known worse than :data:`MAX_RELATIVE_ERROR`, below the noise, or
  when the absorbance rises again to its red (the first exciton then lies beyond the range and
  the band found is a higher one).
* Second population (:func:`second_population`).  See its docstring: a band of the first
  exciton's own width to the blue, found in the second derivative of the spectrum minus the fitted
  first-exciton band.
* Sizing (:func:`diameter_nm`).  CdSe: Yu, Qu, Guo and Peng, Chem. Mater. 15, 2854 (2003), the
  empirical fit D (nm) = 1.6122e-9 L^4 - 2.6575e-6 L^3 + 1.6242e-3 L^2 - 0.4277 L + 41.57 with
  L the first-exciton wavelength in nm, used only for L within :data:`CDSE_VALID_NM` (the
  nanocrystals the fit was made from, about 2.2-8.7 nm).  It does not describe magic-size clusters:
  (CdSe)13 at 353 nm is not a 1.1 nm dot.  InAs: Yu et al., J. Phys. Chem. B 109, 7084 (2005)
  give absorption cross-sections as functions of the radius (3.15e-16 R^1.28 cm^2 at the first
  exciton, 6.2e-16 R^3 cm^2 at 2.76 eV, R in nm), not a radius from the peak wavelength; labctl
  holds no published InAs sizing curve, so InAs (and any other material) is not sized.
* Growth runs (:func:`growth_traces`, :func:`growth_figures`, :func:`narrowing_stopped`) and
  assembly runs (:func:`assembly_traces`, :func:`assembly_figures`): per-spectrum traces and the
  numbers a report quotes.

Our choices (not from a source): the smoothing widths, noise multiples, window extents, bin
widths, the tail's bounds, the second-population thresholds and the ripening thresholds below.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import constants, optimize, signal, special

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

HC_EV_NM = constants.h * constants.c / constants.e * 1e9  # photon energy (eV) x wavelength (nm)
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
MEV_PER_EV = 1000.0

# -- our choices -----------------------------------------------------------------------------
GRID_MIN_STEP_EV = 0.001  # finest energy grid the search uses
SMOOTH_MEV = 16.0  # Savitzky-Golay window for finding bands
CURVATURE_SMOOTH_MEV = 40.0  # ... and for the second derivative that finds shoulders
PROMINENCE_NOISE = 5.0  # a band must stand this many noise standard deviations above its surroundings
RED_WINDOW_SIGMA = (3.5, 0.5)  # first fit (band + line): from this many sigma below the peak to this many above
FIT_WINDOW_SIGMA = (5.0, 3.0)  # then band + next transition + line over this window
NEXT_MIN_SIGMA = 2.0  # the next transition's centre is held this many sigma above the first exciton ...
NEXT_MAX_SIGMA = 6.0  # ... and at most this many
FIT_HALF_WINDOW_SIGMA = 3.0  # the masked fraction is judged from this many sigma below the peak to the peak
EDGE_SIGMA = 2.0  # the data must reach this many sigma below the peak, else the band is at the red edge
MASKED_MAX_FRACTION = 0.3  # a band whose red side is more masked than this (in energy) is refused
MIN_FIT_PIXELS = 12  # fewest unmasked pixels a fit window must hold
TAIL_MIN = 0.02  # the band's blue tail, as a multiple of its Gaussian sigma: from a Gaussian ...
TAIL_MAX = 8.0  # ... to a band skewed by a tail of small crystals
RISE_PIXELS = 32  # pixels averaged together when looking for a band beyond the one found
NOISE_BLOCK_PIXELS = 64  # the pixel noise is estimated over blocks of this many pixels
FIT_BIN_EV = 0.002  # pixels are merged into bins this wide for the fit (or FIT_BIN_SIGMA sigma if narrower)
FIT_BIN_SIGMA = 0.1
FIT_MAX_EVALUATIONS = 200  # of the model, per fit
START_TOLERANCE = 1e-3  # relative change of cost and parameters that ends a round giving a start ...
FIT_TOLERANCE = 1e-6  # ... and the last round
MIN_FWHM_MEV = 40.0  # a narrower 'band' is noise or a fit gone wrong: no nanocrystal band is that sharp hot (ours)
MAX_RELATIVE_ERROR = 0.1  # a width known worse than this (standard error) is not reported
STABLE_SIGMA = 0.25  # the last two fits must agree on centre and sigma within this many sigma
SECOND_MIN_SHIFT_FWHM = 1.0  # a second population is looked for from this many FWHM above the peak ...
SECOND_MAX_SHIFT_EV = 0.7  # ... up to this far above it
SECOND_MIN_RELATIVE = 0.08  # its height must be at least this fraction of the first exciton's ...
SECOND_MAX_WIDTH_RATIO = 1.5  # ... and its width at most this multiple of the first exciton's
SECOND_NOISE = 5.0  # ... and its curvature this many noise standard deviations
SECOND_SMOOTH_SIGMA = 2.0  # the second derivative is smoothed over this many sigma of the first exciton
GAUSS_D2_HWHM = (
    0.626  # half-width at half height of a Gaussian's -d2/dE2 profile, in sigma ((1 - u^2) exp(-u^2 / 2) = 1/2)
)
RIPENING_MIN_OD = 0.01  # a new red band in an assembly run must rise this far above the scattering fit
RIPENING_MATCH_NM = 10.0  # bands within this of a band in the first spectrum are not new
MSC_SEARCH_NM = 6.0  # an MSC peak is looked for within this of its nominal wavelength

# -- from the sources ------------------------------------------------------------------------
# Yu, Qu, Guo, Peng, Chem. Mater. 15, 2854 (2003): CdSe diameter (nm) from the first-exciton
# wavelength (nm), highest power first.
CDSE_YU_2003 = (1.6122e-9, -2.6575e-6, 1.6242e-3, -0.4277, 41.57)
CDSE_VALID_NM = (480.0, 660.0)  # the first-exciton range of the nanocrystals behind that fit (~2.2-8.7 nm)
CDSE_MSC_NM = 353.0  # Mn2+:(CdSe)13 MSC absorption (Baek et al., Nature Materials 2021)


# -- input checks ----------------------------------------------------------------------------


def _wavelengths(func: str, wavelengths_nm: ArrayLike) -> FloatArray:
    wl = np.asarray(wavelengths_nm, dtype=float)
    if wl.ndim != 1 or wl.size < 3:
        raise ValueError(
            f"{func}: wavelengths_nm must be a 1-D array of at least 3 pixels, got shape {wl.shape}; "
            f"pass the spectrometer's wavelength axis"
        )
    if not np.all(np.isfinite(wl)) or not np.all(wl > 0):
        bad = int(np.flatnonzero(~(np.isfinite(wl) & (wl > 0)))[0])
        raise ValueError(
            f"{func}: wavelengths_nm[{bad}] is {float(wl[bad])!r}, but every wavelength must be a finite "
            f"number > 0 nm; pass the calibrated axis"
        )
    if not np.all(np.diff(wl) > 0):
        bad = int(np.flatnonzero(np.diff(wl) <= 0)[0])
        raise ValueError(
            f"{func}: wavelengths_nm must increase, but wavelengths_nm[{bad + 1}]={float(wl[bad + 1])!r} "
            f"follows {float(wl[bad])!r}; sort the pixels (and the absorbance with them)"
        )
    return wl


def _spectrum(func: str, absorbance: ArrayLike, n: int) -> FloatArray:
    a = np.asarray(absorbance, dtype=float)
    if a.shape != (n,):
        raise ValueError(
            f"{func}: absorbance has shape {a.shape} but wavelengths_nm has {n} pixels; "
            f"pass one absorbance per pixel (NaN where masked)"
        )
    return a


def _spectra(func: str, spectra: ArrayLike, n_times: int, n_pixels: int) -> FloatArray:
    s = np.asarray(spectra, dtype=float)
    if s.shape != (n_times, n_pixels):
        raise ValueError(
            f"{func}: spectra has shape {s.shape} but times_s has {n_times} values and wavelengths_nm "
            f"{n_pixels} pixels; pass one row per time, shape ({n_times}, {n_pixels})"
        )
    return s


def _times(func: str, times_s: ArrayLike) -> FloatArray:
    t = np.asarray(times_s, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"{func}: times_s must be a non-empty 1-D array, got shape {t.shape}; pass one time per row")
    if not np.all(np.isfinite(t)):
        bad = int(np.flatnonzero(~np.isfinite(t))[0])
        raise ValueError(f"{func}: times_s[{bad}] is {float(t[bad])}, but times must be finite")
    if t.size > 1 and not np.all(np.diff(t) > 0):
        bad = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise ValueError(
            f"{func}: times_s must increase, but times_s[{bad + 1}]={float(t[bad + 1])!r} follows "
            f"{float(t[bad])!r}; sort the spectra by time"
        )
    return t


def _range(func: str, name: str, window: tuple[float, float], wl: FloatArray) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(f"{func}: {name} must be a (low, high) pair in nm, got {window!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{func}: {name} must be finite with low < high, got {window!r} nm; pass (low, high)")
    if hi <= wl[0] or lo >= wl[-1]:
        raise ValueError(
            f"{func}: {name} {(lo, hi)} nm lies outside the wavelength axis {float(wl[0]):g}..{float(wl[-1]):g} nm; "
            f"choose a range within the measured one"
        )
    return lo, hi


# -- energy grid and noise -------------------------------------------------------------------


def _noise(a: FloatArray) -> float:
    """Standard deviation of the pixel noise, from the median absolute second difference."""
    finite = a[np.isfinite(a)]
    if finite.size < 5:
        return math.nan
    d2 = finite[2:] - 2.0 * finite[1:-1] + finite[:-2]
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


def _pixel_noise(a: FloatArray) -> FloatArray:
    """Each pixel's noise standard deviation (absorbance noise grows where the detector sees few
    photons): the median absolute second difference over blocks of NOISE_BLOCK_PIXELS pixels,
    interpolated between block centres; NaN pixels take their neighbours' value."""
    n = a.size
    d2 = np.full(n, np.nan)
    d2[1:-1] = (a[2:] - 2.0 * a[1:-1] + a[:-2]) / math.sqrt(6.0)
    blocks = max(n // NOISE_BLOCK_PIXELS, 1)
    edges = np.linspace(0, n, blocks + 1).astype(int)
    centres, sigmas = [], []
    for lo, hi in itertools.pairwise(edges):
        block = d2[lo:hi]
        block = block[np.isfinite(block)]
        if block.size >= 5:
            centres.append(0.5 * (lo + hi - 1))
            sigmas.append(1.4826 * float(np.median(np.abs(block - np.median(block)))))
    if not centres:
        return np.full(n, 1e-4)
    sigma = np.interp(np.arange(n), centres, sigmas)
    floor = max(float(np.median(sigmas)) * 1e-3, 1e-9)  # a noise-free spectrum: equal weights
    return np.maximum(sigma, floor)


@dataclass(frozen=True, eq=False)
class _Grid:
    """A spectrum on a uniform, increasing energy grid."""

    e: FloatArray  # eV
    a: FloatArray  # absorbance, masked spans bridged linearly
    masked: BoolArray  # grid points inside a masked span
    step: float  # eV
    smooth: FloatArray  # ``a`` smoothed over SMOOTH_MEV


def _energy_grid(wl: FloatArray, a: FloatArray, lo_nm: float, hi_nm: float) -> _Grid | None:
    inside = (wl >= lo_nm) & (wl <= hi_nm)
    good = inside & np.isfinite(a)
    if np.count_nonzero(good) < 5:
        return None
    e_all = HC_EV_NM / wl[inside][::-1]
    ok_all = np.isfinite(a[inside][::-1])
    e_pix = e_all[ok_all]
    a_pix = a[inside][::-1][ok_all]
    step = max(float(np.median(np.diff(e_all))), GRID_MIN_STEP_EV)
    e = np.arange(e_all[0], e_all[-1] + step / 2, step)
    grid_a = np.interp(e, e_pix, a_pix)
    masked = np.interp(e, e_all, ok_all.astype(float)) < 0.5
    smooth = _savgol(grid_a, _odd(SMOOTH_MEV / 1000.0 / step))
    return _Grid(e=e, a=grid_a, masked=masked, step=step, smooth=smooth)


def _odd(n: float, minimum: int = 5) -> int:
    k = max(minimum, round(n))
    return k if k % 2 else k + 1


@cache
def _savgol_kernel(points: int, deriv: int, delta: float) -> FloatArray:
    """Convolution kernel of a quadratic Savitzky-Golay filter (cached: a run reuses a few)."""
    coeffs = signal.savgol_coeffs(points, 2, deriv=deriv, delta=delta, use="conv")
    return np.asarray(coeffs, dtype=float)


def _savgol(y: FloatArray, points: int, deriv: int = 0, delta: float = 1.0) -> FloatArray:
    """Quadratic Savitzky-Golay smoothing (or derivative); the ends are padded with the end values."""
    points = min(points, y.size if y.size % 2 else y.size - 1)
    if points < 3:
        return y.copy()
    kernel = _savgol_kernel(points, deriv, round(delta, 12))
    half = points // 2
    padded = np.concatenate([np.full(half, y[0]), y, np.full(half, y[-1])])
    return np.convolve(padded, kernel, mode="valid")


def _kernel_noise(points: int, deriv: int, delta: float) -> float:
    """Standard deviation of the filter's output per unit of white input noise."""
    return float(np.sqrt(np.sum(_savgol_kernel(points, deriv, round(delta, 12)) ** 2)))


# -- the fit ---------------------------------------------------------------------------------


def _gauss(e: FloatArray, h: float, c: float, s: float) -> FloatArray:
    return h * np.exp(-0.5 * ((e - c) / s) ** 2)


SQRT_HALF_PI = math.sqrt(math.pi / 2.0)


def _band(e: FloatArray, a: float, mu: float, s: float, k: float) -> FloatArray:
    """The first-exciton band: a Gaussian (centre ``mu``, sigma ``s``) convolved with a one-sided
    exponential of decay ``k s`` towards higher energy (an exponentially modified Gaussian), scaled so
    that it tends to ``a exp(-(e - mu)^2 / 2 s^2)`` as ``k`` tends to 0."""
    u = (e - mu) / s
    z = (1.0 / k - u) / math.sqrt(2.0)
    # exp(-u^2/2) erfcx(z), written for z < 0 (far into the tail) without overflow
    with np.errstate(over="ignore"):
        g = np.where(z >= 0.0, np.exp(-0.5 * u * u) * special.erfcx(np.maximum(z, 0.0)), 0.0)
        g = np.where(z < 0.0, np.exp(np.minimum(0.5 / k**2 - u / k, 700.0)) * special.erfc(np.minimum(z, 0.0)), g)
    return a * g * (SQRT_HALF_PI / k)


@dataclass(frozen=True, eq=False)
class _Fit:
    p: FloatArray  # a, mu, s1, h2, e2, s2, b0, b1, k (see _model)
    err: FloatArray
    cov: FloatArray  # covariance of all parameters (zero rows and columns for the fixed ones)
    converged: bool
    at_bound: bool


def _model(p: FloatArray, e: FloatArray, ec: float) -> FloatArray:
    a, mu, s1, h2, e2, s2, b0, b1, k = p
    return _band(e, a, mu, s1, k) + h2 * np.exp(-0.5 * ((e - e2) / s2) ** 2) + b0 + b1 * (e - ec)


def _jacobian(p: FloatArray, e: FloatArray, ec: float) -> FloatArray:
    a, mu, s1, h2, e2, s2, _b0, _b1, k = p
    u1 = (e - mu) / s1
    z = (1.0 / k - u1) / math.sqrt(2.0)
    scale = SQRT_HALF_PI / k
    shape = _band(e, 1.0, mu, s1, k) / scale  # exp(-u^2/2) erfcx(z)
    band = a * scale * shape
    # d/du [exp(-u^2/2) erfcx(z)] = -u shape + exp(-u^2/2) erfcx'(z) dz/du, erfcx' = 2 z erfcx - 2/sqrt(pi)
    g1 = np.exp(-0.5 * u1 * u1)
    g1_dfz = 2.0 * z * shape - 2.0 / math.sqrt(math.pi) * g1  # exp(-u^2/2) erfcx'(z)
    d_u = a * scale * (-u1 * shape - g1_dfz / math.sqrt(2.0))  # d band / d u1
    u2 = (e - e2) / s2
    g2 = np.exp(-0.5 * u2 * u2)
    jac = np.empty((e.size, 9))
    jac[:, 0] = shape * scale
    jac[:, 1] = -d_u / s1
    jac[:, 2] = -d_u * u1 / s1
    jac[:, 3] = g2
    jac[:, 4] = h2 * g2 * u2 / s2
    jac[:, 5] = jac[:, 4] * u2
    jac[:, 6] = 1.0
    jac[:, 7] = e - ec
    jac[:, 8] = -band / k - a * scale * g1_dfz / (math.sqrt(2.0) * k * k)
    return jac


def _least_squares(
    p0: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    free: BoolArray,
    e: FloatArray,
    y: FloatArray,
    w: FloatArray,
    ec: float,
    tolerance: float = 1e-6,
) -> _Fit:
    """Weighted least squares over the ``free`` parameters within the bounds (scipy's trust-region
    reflective method with the analytic Jacobian); standard errors from the covariance at the
    minimum scaled by the reduced chi^2."""
    sw = np.sqrt(w)
    idx = np.flatnonzero(free)
    p = np.clip(p0, lo, hi)
    # a start on a bound is moved just inside it (the method needs a strictly feasible start)
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    p = np.clip(p, lo + 1e-9 * span, hi - 1e-9 * span)

    def residuals(q: FloatArray) -> FloatArray:
        p[idx] = q
        return (_model(p, e, ec) - y) * sw

    def jacobian(q: FloatArray) -> FloatArray:
        p[idx] = q
        return _jacobian(p, e, ec)[:, idx] * sw[:, None]

    result = optimize.least_squares(
        residuals,
        p[idx],
        jac=jacobian,
        bounds=(lo[idx], hi[idx]),
        method="trf",
        x_scale="jac",
        max_nfev=FIT_MAX_EVALUATIONS,
        ftol=tolerance,
        xtol=tolerance,
    )
    p[idx] = result.x
    cost = 2.0 * float(result.cost)
    jw = np.asarray(result.jac)
    dof = max(e.size - idx.size, 1)
    err = np.full(p.size, math.nan)
    cov = np.zeros((p.size, p.size))
    try:
        cov[np.ix_(idx, idx)] = np.linalg.pinv(jw.T @ jw) * (cost / dof)
        err[idx] = np.sqrt(np.clip(np.diag(cov)[idx], 0.0, None))
    except np.linalg.LinAlgError:
        err[idx] = math.inf
        cov[np.ix_(idx, idx)] = math.inf
    span = hi[1:3] - lo[1:3]
    at_bound = bool(np.any((p[1:3] - lo[1:3] < 1e-6 * span) | (hi[1:3] - p[1:3] < 1e-6 * span)))
    return _Fit(p=p.copy(), err=err, cov=cov, converged=bool(result.success), at_bound=at_bound)


@dataclass(frozen=True)
class ExcitonPeak:
    """The first-exciton band of one spectrum.

    ``wavelength_nm`` = hc / ``energy_ev``, the band's maximum; ``fwhm_mev`` its full width at half
    maximum read as twice the half width on the band's red side (the side free of the higher
    transitions; for a symmetric band the two are the same); ``height`` the maximum (OD above the
    fitted background); ``*_err`` are standard errors.  ``parameters`` are the fitted model's
    (band amplitude, Gaussian centre eV, Gaussian sigma eV; next transition height, centre eV and
    sigma eV; background offset and slope; the band's tail as a multiple of its sigma), empty when
    nothing was fitted: :meth:`band` draws the band, and ``first_exciton(..., previous=peak)``
    starts the next spectrum of a run from them.  ``ok`` is False when the band could not be
    measured, ``note`` says why (empty when ok).  Values are NaN when no band was found; for a band
    at the range's edge or in a masked span they hold the best estimate.
    """

    wavelength_nm: float
    energy_ev: float
    fwhm_mev: float
    height: float
    wavelength_err_nm: float
    energy_err_ev: float
    fwhm_err_mev: float
    height_err: float
    ok: bool
    note: str
    parameters: tuple[float, ...] = ()

    @property
    def sigma_ev(self) -> float:
        """Standard deviation of the Gaussian with the band's red side, eV."""
        return self.fwhm_mev / MEV_PER_EV / FWHM_PER_SIGMA

    def band(self, energy_ev: ArrayLike) -> FloatArray:
        """The fitted band (OD) at photon energies ``energy_ev``; without a fitted shape, the
        Gaussian of ``height``, ``energy_ev`` and ``fwhm_mev``."""
        e = np.asarray(energy_ev, dtype=float)
        if len(self.parameters) == 9:
            a, mu, s, *_, k = self.parameters
            return _band(e, a, mu, s, k)
        return _gauss(e, self.height, self.energy_ev, self.sigma_ev)


def _missing(note: str) -> ExcitonPeak:
    nan = math.nan
    return ExcitonPeak(nan, nan, nan, nan, nan, nan, nan, nan, ok=False, note=note)


def _no_fit(note: str) -> tuple[ExcitonPeak, None]:
    return _missing(note), None


def _candidates(grid: _Grid, noise: float) -> tuple[FloatArray, str]:
    """Energies of the bands found, reddest first, and how they were found."""
    smooth = grid.smooth
    threshold = PROMINENCE_NOISE * noise
    peaks, _ = signal.find_peaks(smooth, prominence=threshold)
    peaks = peaks[~grid.masked[peaks]]
    if peaks.size:
        return grid.e[peaks], "maximum"
    points = _odd(CURVATURE_SMOOTH_MEV / 1000.0 / grid.step)
    points = min(points, grid.e.size if grid.e.size % 2 else grid.e.size - 1)
    if points < 5:
        return np.empty(0), ""
    curvature = -_savgol(grid.a, points, deriv=2, delta=grid.step)
    curvature_noise = noise * _kernel_noise(points, 2, grid.step)
    dips, _ = signal.find_peaks(curvature, height=PROMINENCE_NOISE * curvature_noise)
    dips = dips[~grid.masked[dips]]
    return grid.e[dips], "shoulder"


def _red_hwhm(grid: _Grid, e_peak: float) -> float:
    """Half-width at half maximum of the band at ``e_peak`` on its low-energy side, eV (NaN if it
    does not fall to half before the red end)."""
    smooth = grid.smooth
    i = int(np.clip(np.searchsorted(grid.e, e_peak), 0, grid.e.size - 1))
    red = smooth[: i + 1]
    base = float(np.min(red))
    half = 0.5 * (float(smooth[i]) + base)
    below = np.flatnonzero(red[::-1] <= half)
    if below.size == 0 or smooth[i] - base <= 0:
        return math.nan
    j = i - int(below[0])
    if j >= i:
        return grid.step
    # linear interpolation between j (below half) and j + 1 (above)
    y0, y1 = float(smooth[j]), float(smooth[j + 1])
    e_cross = grid.e[j] + (half - y0) / (y1 - y0) * grid.step if y1 != y0 else grid.e[j]
    return max(float(e_peak - e_cross), grid.step)


def first_exciton(
    wavelengths_nm: ArrayLike,
    absorbance: ArrayLike,
    *,
    search_nm: tuple[float, float] | None = None,
    expected_nm: float | None = None,
    previous: ExcitonPeak | None = None,
) -> ExcitonPeak:
    """The first-exciton (lowest-energy) absorption band of one spectrum; see the module docstring.

    :param wavelengths_nm: pixel wavelengths, nm, increasing.
    :param absorbance: absorbance (OD) per pixel, NaN where masked.
    :param search_nm: the range to look in, nm; default the whole spectrum.
    :param expected_nm: take the band nearest this wavelength instead of the reddest.
    :param previous: the band of the run's previous spectrum: the fit starts from it, as
        :func:`growth_traces` does (ignored unless ``ok``).
    """
    func = "first_exciton"
    wl = _wavelengths(func, wavelengths_nm)
    a = _spectrum(func, absorbance, wl.size)
    lo_nm, hi_nm = _range(func, "search_nm", search_nm, wl) if search_nm is not None else (wl[0], wl[-1])
    if expected_nm is not None and not (math.isfinite(expected_nm) and lo_nm <= expected_nm <= hi_nm):
        raise ValueError(
            f"{func}: expected_nm={expected_nm!r} lies outside the search range {lo_nm:g}..{hi_nm:g} nm; "
            f"give a wavelength inside it or widen search_nm"
        )
    start = np.array(previous.parameters) if previous is not None and previous.ok and previous.parameters else None
    return _first_exciton(wl, a, lo_nm, hi_nm, expected_nm, start)[0]


def _first_exciton(
    wl: FloatArray,
    a: FloatArray,
    lo_nm: float,
    hi_nm: float,
    expected_nm: float | None,
    start: FloatArray | None = None,
) -> tuple[ExcitonPeak, FloatArray | None]:
    """The first exciton of one spectrum (see the module docstring) and the fitted parameters.

    ``start``: the parameters fitted to the previous spectrum of a run.  When the band found lies
    within a sigma of it, the last round alone is fitted from it; the result is kept when its centre
    and sigma moved by at most STABLE_SIGMA sigma from the start (a run changes slowly between
    spectra), else the spectrum is fitted from its own start."""
    if start is not None:
        peak, params = _fit_band(wl, a, lo_nm, hi_nm, expected_nm, start)
        if peak.ok:
            return peak, params
    return _fit_band(wl, a, lo_nm, hi_nm, expected_nm, None)


def _fit_band(
    wl: FloatArray, a: FloatArray, lo_nm: float, hi_nm: float, expected_nm: float | None, start: FloatArray | None
) -> tuple[ExcitonPeak, FloatArray | None]:
    inside = (wl >= lo_nm) & (wl <= hi_nm)
    grid = _energy_grid(wl, a, lo_nm, hi_nm)
    if grid is None:
        return _no_fit(f"fewer than 5 unmasked pixels in {lo_nm:g}-{hi_nm:g} nm: the range is masked")
    noise = _noise(a[inside])
    if not math.isfinite(noise) or noise <= 0:
        noise = 1e-4
    energies, how = _candidates(grid, noise)
    if energies.size == 0:
        smooth = grid.smooth
        n_edge = max(3, grid.e.size // 20)
        if int(np.argmax(smooth[:n_edge])) == 0 and smooth[0] - np.min(smooth) > PROMINENCE_NOISE * noise:
            return _no_fit(
                f"no band in {lo_nm:g}-{hi_nm:g} nm, but the absorbance rises to the red end ({hi_nm:g} nm): "
                f"the band is at the edge of the range; extend the range to the red"
            )
        return _no_fit(
            f"no absorption band in {lo_nm:g}-{hi_nm:g} nm stands {PROMINENCE_NOISE:g}x above the noise "
            f"({noise:.2g} OD)"
        )
    if expected_nm is not None:
        e_peak = float(energies[np.argmin(np.abs(energies - HC_EV_NM / expected_nm))])
    else:
        e_peak = float(energies[0])
    hwhm = _red_hwhm(grid, e_peak)
    e_red_end = float(HC_EV_NM / wl[inside][-1])
    if not math.isfinite(hwhm):
        hwhm = max(e_peak - e_red_end, 3 * grid.step)
    sigma = max(hwhm / math.sqrt(2.0 * math.log(2.0)), 2 * grid.step)
    e_pix_all = HC_EV_NM / wl
    good = inside & np.isfinite(a)
    fit: _Fit | None = None
    free_first = np.array([True, True, True, False, False, False, True, True, False])
    free_gauss = np.array([True, True, True, True, True, True, True, True, False])
    free_all = np.ones(9, dtype=bool)
    # a Gaussian band on its red side, then with the next transition (twice: the window follows the
    # band), then the band's blue tail set free from the Gaussian found
    rounds: tuple[tuple[tuple[float, float], BoolArray], ...] = (
        (RED_WINDOW_SIGMA, free_first),
        (FIT_WINDOW_SIGMA, free_gauss),
        (FIT_WINDOW_SIGMA, free_gauss),
        (FIT_WINDOW_SIGMA, free_all),
    )
    p_prev: FloatArray | None = None
    if start is not None:
        if abs(float(start[1]) - e_peak) > 2.0 * float(start[2]) * (1.0 + float(start[8])):
            return _no_fit("the band moved away from the previous spectrum's")
        p_prev = start.copy()
        e_peak, sigma = float(start[1]), float(start[2]) * math.sqrt(1.0 + float(start[8]) ** 2)
        rounds = rounds[-1:]
    weight = 1.0 / _pixel_noise(a) ** 2  # the noise varies along the detector: the quiet pixels count more
    stable = False
    for (below, above), free in rounds:
        if free[8] and fit is not None and not _worth_a_tail(fit, stable, e_pix_all, a, good, weight, e_red_end):
            break  # the Gaussian is refused already: the tail round would not change that
        sel = good & (e_pix_all >= e_peak - below * sigma) & (e_pix_all <= e_peak + above * sigma)
        if np.count_nonzero(sel) < MIN_FIT_PIXELS:
            fit = None
            break
        e, y, w = _binned(e_pix_all[sel], a[sel], weight[sel], min(FIT_BIN_EV, FIT_BIN_SIGMA * sigma))
        if p_prev is None:
            top = float(np.interp(e_peak, grid.e, grid.a))
            red_base = float(np.min(y[e <= e_peak])) if np.any(e <= e_peak) else float(np.min(y))
            h0 = max(top - red_base, PROMINENCE_NOISE * noise)
            p0 = np.array([h0, e_peak, sigma, 0.0, e_peak + 2.5 * sigma, 1.5 * sigma, red_base, 0.0, TAIL_MIN])
        else:
            p0 = p_prev.copy()
            if p0[3] <= 0:
                # the next transition starts where the spectrum most exceeds the first band + line
                rest = y - _band(e, p0[0], p0[1], p0[2], p0[8]) - p0[6] - p0[7] * (e - e_peak)
                blue = e > e_peak + 1.5 * sigma
                if np.any(blue):
                    j = int(np.argmax(np.where(blue, rest, -np.inf)))
                    p0[3:6] = (max(float(rest[j]), 0.1 * p0[0]), float(e[j]), 1.5 * sigma)
        tail = free[8]  # with a tail the Gaussian's centre sits to the red of the band's maximum
        lo = np.array([0.0, e_peak - (2.0 if tail else 1.0) * sigma, (0.2 if tail else 0.3) * sigma, 0.0])
        hi = np.array([np.inf, e_peak + sigma, 3.0 * sigma, np.inf])
        lo = np.concatenate([lo, [e_peak + NEXT_MIN_SIGMA * sigma, 0.5 * sigma, -np.inf, -np.inf, TAIL_MIN]])
        hi = np.concatenate([hi, [e_peak + NEXT_MAX_SIGMA * sigma, 3.0 * sigma, np.inf, np.inf, TAIL_MAX]])
        fit = _least_squares(p0, lo, hi, free, e, y, w, e_peak, FIT_TOLERANCE if tail else START_TOLERANCE)
        if tail:
            if start is not None:
                shift = max(abs(float(fit.p[1]) - float(start[1])), abs(float(fit.p[2]) - float(start[2])))
                stable = shift <= STABLE_SIGMA * float(fit.p[2])
            break
        if free[3] and p_prev is not None:
            shift = max(abs(float(fit.p[1]) - float(p_prev[1])), abs(float(fit.p[2]) - float(p_prev[2])))
            stable = shift <= STABLE_SIGMA * float(fit.p[2])
        # the line's offset is referred to the previous centre: move it to the new one
        p_prev = fit.p.copy()
        new_centre = float(fit.p[1])
        p_prev[6] += p_prev[7] * (new_centre - e_peak)
        e_peak, sigma = new_centre, float(fit.p[2])
    if fit is None:
        return _no_fit(
            f"the band near {HC_EV_NM / e_peak:.1f} nm has fewer than {MIN_FIT_PIXELS} unmasked pixels in its fit "
            f"window: it is masked"
        )
    shape = (float(fit.p[0]), float(fit.p[1]), float(fit.p[2]), float(fit.p[8]))
    e1, h, hwhm = _band_figures(*shape)
    # standard errors: the figures' gradients in the band's parameters, through the fit's covariance
    gradient = np.zeros((3, 4))
    for j, idx in enumerate((0, 1, 2, 8)):
        step = max(1e-6 * abs(float(fit.p[idx])), 1e-9)
        shifted = list(shape)
        shifted[j] += step
        gradient[:, j] = (np.array(_band_figures(*shifted)) - (e1, h, hwhm)) / step
    cov = fit.cov[np.ix_((0, 1, 2, 8), (0, 1, 2, 8))]
    e1e, he, hwhm_e = (float(v) for v in np.sqrt(np.clip(np.einsum("ij,jk,ik->i", gradient, cov, gradient), 0, None)))
    fwhm = 2.0 * hwhm
    red_sigma = hwhm / math.sqrt(2.0 * math.log(2.0))  # the Gaussian with this red side
    lam = HC_EV_NM / e1
    peak = {
        "wavelength_nm": lam,
        "energy_ev": e1,
        "fwhm_mev": fwhm * MEV_PER_EV,
        "height": h,
        "wavelength_err_nm": HC_EV_NM / e1**2 * e1e,
        "energy_err_ev": e1e,
        "fwhm_err_mev": 2.0 * hwhm_e * MEV_PER_EV,
        "height_err": he,
        "parameters": tuple(float(v) for v in fit.p),
    }
    notes = []
    redder = _rise_to_the_red(e_pix_all, np.where(good, a, np.nan), weight**-0.5, e1, hwhm)
    if math.isfinite(redder):
        notes.append(
            f"the absorbance rises again to the red of the band at {lam:.1f} nm (to {redder:.2g} OD above the dip "
            f"between them): the first exciton lies further to the red, at or beyond the range's end "
            f"({HC_EV_NM / e_red_end:.1f} nm); extend the range to the red"
        )
    elif e1 - EDGE_SIGMA * red_sigma < e_red_end:
        notes.append(
            f"the band at {lam:.1f} nm is at the edge of the range: its red side is cut at "
            f"{HC_EV_NM / e_red_end:.1f} nm; extend the range to the red"
        )
    e_win = np.linspace(e1 - FIT_HALF_WINDOW_SIGMA * red_sigma, e1, 31)  # the red side, which carries the width
    masked_fraction = float(np.mean(np.interp(e_win, grid.e, grid.masked.astype(float)) >= 0.5))
    if masked_fraction > MASKED_MAX_FRACTION or bool(
        np.any(grid.masked[np.clip(np.searchsorted(grid.e, [e1]), 0, grid.e.size - 1)])
    ):
        notes.append(
            f"the band at {lam:.1f} nm is masked: {masked_fraction:.0%} of its red side has no valid pixels "
            f"(at most {MASKED_MAX_FRACTION:.0%})"
        )
    if fwhm * MEV_PER_EV < MIN_FWHM_MEV:
        notes.append(
            f"the fitted band near {lam:.1f} nm is {fwhm * MEV_PER_EV:.1f} meV wide, narrower than "
            f"{MIN_FWHM_MEV:g} meV: noise, not a band"
        )
    elif not stable or fit.at_bound or not (h > 0 and math.isfinite(e1e) and math.isfinite(hwhm_e)):
        why = "its centre or width sits at a bound" if fit.at_bound else "centre and width do not settle between fits"
        notes.append(f"the fit failed for the {how} near {lam:.1f} nm: {why}")
    elif not hwhm_e <= MAX_RELATIVE_ERROR * hwhm:
        notes.append(
            f"the width of the band near {lam:.1f} nm is not determined: {fwhm * MEV_PER_EV:.0f} "
            f"+/- {2.0 * hwhm_e * MEV_PER_EV:.0f} meV (at most {MAX_RELATIVE_ERROR:.0%})"
        )
    elif h < PROMINENCE_NOISE * noise:
        notes.append(f"the fitted band is {h:.2g} OD high, below {PROMINENCE_NOISE:g}x the noise ({noise:.2g} OD)")
    result = ExcitonPeak(**peak, ok=not notes, note="; ".join(notes))
    return result, (fit.p.copy() if result.ok else None)


def _worth_a_tail(
    fit: _Fit, stable: bool, e: FloatArray, a: FloatArray, good: BoolArray, weight: FloatArray, e_red_end: float
) -> bool:
    """Whether the Gaussian band found can pass the checks that do not depend on its tail: settled
    between rounds, clear of the range's red end, no band beyond it to the red."""
    e1, s1 = float(fit.p[1]), float(fit.p[2])
    if not stable or e1 - EDGE_SIGMA * s1 < e_red_end:
        return False
    hwhm = s1 * math.sqrt(2.0 * math.log(2.0))
    return not math.isfinite(_rise_to_the_red(e, np.where(good, a, np.nan), weight**-0.5, e1, hwhm))


def _rise_to_the_red(e: FloatArray, a: FloatArray, noise: FloatArray, e1: float, hwhm: float) -> float:
    """How far (OD) the spectrum rises again, beyond a dip, to the red of the band at ``e1``: the
    unmasked pixels from the band's red half maximum to the range's end are averaged in
    runs of RISE_PIXELS; the largest rise of a run's mean over the lowest mean between it and the
    band counts when it is PROMINENCE_NOISE times both runs' noise.  NaN when there is no such rise."""
    red = np.flatnonzero(np.isfinite(a) & (e < e1 - hwhm))
    n = red.size // RISE_PIXELS
    if n < 2:
        return math.nan
    order = red[np.argsort(-e[red])][: n * RISE_PIXELS]  # from the band towards the red end
    means = a[order].reshape(n, RISE_PIXELS).mean(axis=1)
    sigmas = np.sqrt((noise[order] ** 2).reshape(n, RISE_PIXELS).mean(axis=1) / RISE_PIXELS)
    best = math.nan
    for j in range(1, n):
        i = int(np.argmin(means[:j]))
        rise = float(means[j] - means[i])
        if rise > PROMINENCE_NOISE * math.hypot(sigmas[i], sigmas[j]) and not rise <= best:
            best = rise
    return best


def _binned(e: FloatArray, y: FloatArray, w: FloatArray, width: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Pixels merged into energy bins ``width`` wide: weighted mean energy and absorbance, summed
    weight (the same least-squares problem, to second order in the bin width, with fewer points)."""
    k = np.floor((e - float(e.min())) / width).astype(int)
    w_sum = np.bincount(k, weights=w)
    used = w_sum > 0
    w_sum = w_sum[used]
    e_bin = np.bincount(k, weights=w * e)[used] / w_sum
    y_bin = np.bincount(k, weights=w * y)[used] / w_sum
    return e_bin, y_bin, w_sum


def _band_figures(a: float, mu: float, s: float, k: float) -> tuple[float, float, float]:
    """The band's maximum (energy eV and height) and its half width at half maximum on the red
    side (eV), read off the band on a grid of s/100 and refined (a parabola through the top, a line
    through the half-height crossing)."""
    step = s / 100.0
    grid = np.arange(mu - 5.0 * s, mu + 3.0 * s + 6.0 * k * s, step)
    band = _band(grid, a, mu, s, k)
    i = int(np.argmax(band))
    if 0 < i < grid.size - 1:
        y0, y1, y2 = (float(v) for v in band[i - 1 : i + 2])
        curve = y0 - 2.0 * y1 + y2
        shift = 0.5 * (y0 - y2) / curve if curve < 0 else 0.0
        top_e = float(grid[i]) + shift * step
        top = y1 - 0.25 * (y0 - y2) * shift
    else:
        top_e, top = float(grid[i]), float(band[i])
    half = 0.5 * top
    below = np.flatnonzero(band[: i + 1] <= half)
    if below.size == 0:
        return top_e, top, math.nan
    j = int(below[-1])
    y0, y1 = float(band[j]), float(band[j + 1])
    crossing = float(grid[j]) + (half - y0) / (y1 - y0) * step if y1 != y0 else float(grid[j])
    return top_e, top, top_e - crossing


# -- second population ------------------------------------------------------------------------


def second_population(
    wavelengths_nm: ArrayLike,
    absorbance: ArrayLike,
    main: ExcitonPeak,
    *,
    min_relative: float = SECOND_MIN_RELATIVE,
    max_width_ratio: float = SECOND_MAX_WIDTH_RATIO,
) -> tuple[bool, float]:
    """Whether a second, smaller population absorbs to the blue of the first exciton, and its
    height relative to the first exciton's.

    How: the fitted first-exciton Gaussian (``main``) is subtracted from the spectrum on the
    uniform energy grid, and the remainder's second derivative is taken with a Savitzky-Golay
    window as wide as the band's sigma.  Every band to the blue shows as a peak of -d2A/dE^2; from
    ``SECOND_MIN_SHIFT_FWHM`` FWHM to ``SECOND_MAX_SHIFT_EV`` eV above the first exciton, the
    strongest such peak is measured: its height c and its half-width at half height w give a
    Gaussian sigma_b = w / 0.625 (the half-height half-width of a Gaussian's second derivative is
    0.625 sigma) and height h_b = c sigma_b^2.  It is a second population when sigma_b is at most
    ``max_width_ratio`` times the first exciton's sigma (a population's own first exciton), h_b is at
    least ``min_relative`` of the first exciton's height and c is ``SECOND_NOISE`` times the
    noise of the derivative.  Broader bands are taken as the crystals' own higher transitions
    and continuum, which in a single population are broader than the first exciton.  Limit: a
    resolved second transition as narrow as the first exciton is reported as a second
    population.  Returns (False, relative height of the strongest narrow band or 0.0) when there is
    none, and (False, NaN) when ``main`` is not ok.
    """
    func = "second_population"
    wl = _wavelengths(func, wavelengths_nm)
    a = _spectrum(func, absorbance, wl.size)
    if not main.ok:
        return False, math.nan
    return _second_population(wl, a, main, min_relative, max_width_ratio)


def _second_population(
    wl: FloatArray, a: FloatArray, main: ExcitonPeak, min_relative: float, max_width_ratio: float
) -> tuple[bool, float]:
    s1 = main.sigma_ev
    e_lo = main.energy_ev + SECOND_MIN_SHIFT_FWHM * main.fwhm_mev / MEV_PER_EV
    e_hi = main.energy_ev + SECOND_MAX_SHIFT_EV
    pad = 2.0 * s1
    lo_nm = max(float(wl[0]), HC_EV_NM / (e_hi + pad))
    hi_nm = min(float(wl[-1]), HC_EV_NM / max(main.energy_ev - pad, 1e-6))
    if lo_nm >= hi_nm:
        return False, 0.0
    grid = _energy_grid(wl, a, lo_nm, hi_nm)
    if grid is None:
        return False, 0.0
    remainder = grid.a - main.band(grid.e)
    points = _odd(SECOND_SMOOTH_SIGMA * s1 / grid.step)
    points = min(points, grid.e.size if grid.e.size % 2 else grid.e.size - 1)
    if points < 5:
        return False, 0.0
    curvature = -_savgol(remainder, points, deriv=2, delta=grid.step)
    noise = _noise(a[(wl >= lo_nm) & (wl <= hi_nm)])
    curvature_noise = (noise if math.isfinite(noise) else 0.0) * _kernel_noise(points, 2, grid.step)
    region = (grid.e >= e_lo) & (grid.e <= e_hi) & ~grid.masked
    peaks, _ = signal.find_peaks(curvature)
    peaks = peaks[region[peaks] & (curvature[peaks] > 0)]
    if peaks.size == 0:
        return False, 0.0
    i = int(peaks[np.argmax(curvature[peaks])])
    c = float(curvature[i])
    above = curvature > 0.5 * c
    left = i
    while left > 0 and above[left - 1]:
        left -= 1
    right = i
    while right < curvature.size - 1 and above[right + 1]:
        right += 1
    sigma_b = 0.5 * (grid.e[right] - grid.e[left] + grid.step) / GAUSS_D2_HWHM
    relative = c * sigma_b**2 / main.height
    narrow = sigma_b <= max_width_ratio * s1
    found = narrow and relative >= min_relative and c >= SECOND_NOISE * curvature_noise
    return bool(found), float(relative)


# -- features and single wavelengths --------------------------------------------------------------


def _window_means(wl: FloatArray, rows: FloatArray, lo: float, hi: float) -> FloatArray:
    sel = (wl >= lo) & (wl <= hi)
    if not np.any(sel):
        return np.full(rows.shape[0], math.nan)
    block = rows[:, sel]
    counts = np.sum(np.isfinite(block), axis=1)
    sums = np.nansum(block, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), math.nan)


def _feature_rows(wl: FloatArray, rows: FloatArray, feature_nm: float, halfwidth_nm: float) -> FloatArray:
    hw = halfwidth_nm
    top = _window_means(wl, rows, feature_nm - hw, feature_nm + hw)
    left = _window_means(wl, rows, feature_nm - 3 * hw, feature_nm - 2 * hw)
    right = _window_means(wl, rows, feature_nm + 2 * hw, feature_nm + 3 * hw)
    return top - 0.5 * (left + right)


def _check_feature(func: str, wl: FloatArray, feature_nm: float, halfwidth_nm: float) -> None:
    if not (math.isfinite(halfwidth_nm) and halfwidth_nm > 0):
        raise ValueError(f"{func}: halfwidth_nm must be a finite number > 0 nm, got {halfwidth_nm!r}")
    lo, hi = feature_nm - 3 * halfwidth_nm, feature_nm + 3 * halfwidth_nm
    if not (math.isfinite(feature_nm) and lo >= wl[0] and hi <= wl[-1]):
        raise ValueError(
            f"{func}: the feature at {feature_nm!r} nm with its baseline flanks ({lo:g}-{hi:g} nm) does not fit in "
            f"the wavelength axis {float(wl[0]):g}..{float(wl[-1]):g} nm; choose a feature inside it or a smaller "
            f"halfwidth_nm"
        )


def feature_absorbance(
    wavelengths_nm: ArrayLike, absorbance: ArrayLike, feature_nm: float, *, halfwidth_nm: float = 3.0
) -> float:
    """A narrow feature's (an MSC peak's) absorbance above a local straight baseline, OD.

    The mean absorbance within ``feature_nm`` +- ``halfwidth_nm`` minus the mean of the two flanks
    ``feature_nm`` -+ 2..3 ``halfwidth_nm`` (the line through the flanks, evaluated at the feature).
    Masked pixels are skipped; NaN if a window is entirely masked.
    """
    func = "feature_absorbance"
    wl = _wavelengths(func, wavelengths_nm)
    a = _spectrum(func, absorbance, wl.size)
    _check_feature(func, wl, float(feature_nm), float(halfwidth_nm))
    return float(_feature_rows(wl, a[np.newaxis, :], float(feature_nm), float(halfwidth_nm))[0])


def absorbance_at(
    wavelengths_nm: ArrayLike, absorbance: ArrayLike, at_nm: float, *, halfwidth_nm: float = 1.0
) -> float:
    """Mean absorbance within ``at_nm`` +- ``halfwidth_nm`` (OD), masked pixels skipped; NaN if all
    are masked."""
    func = "absorbance_at"
    wl = _wavelengths(func, wavelengths_nm)
    a = _spectrum(func, absorbance, wl.size)
    _check_at(func, wl, float(at_nm), float(halfwidth_nm))
    return float(_window_means(wl, a[np.newaxis, :], at_nm - halfwidth_nm, at_nm + halfwidth_nm)[0])


def _check_at(func: str, wl: FloatArray, at_nm: float, halfwidth_nm: float) -> None:
    if not (math.isfinite(halfwidth_nm) and halfwidth_nm > 0):
        raise ValueError(f"{func}: halfwidth_nm must be a finite number > 0 nm, got {halfwidth_nm!r}")
    if not (math.isfinite(at_nm) and wl[0] <= at_nm <= wl[-1]):
        raise ValueError(
            f"{func}: {at_nm!r} nm lies outside the wavelength axis {float(wl[0]):g}..{float(wl[-1]):g} nm; "
            f"choose a wavelength inside it"
        )


# -- sizing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizing:
    """A diameter from a first-exciton wavelength: ``diameter_nm`` (None when no valid curve
    applies) and ``note`` (the curve used, or why none)."""

    diameter_nm: float | None
    note: str


MATERIALS = ("InAs", "InP", "CdSe", "ZnSe")


def material_of(precursor: str) -> str:
    """The semiconductor a precursor's name says it grows ("InAs amorphous cluster" -> InAs), or ""."""
    return next((m for m in MATERIALS if m.lower() in precursor.lower()), "")


def diameter_nm(material: str, first_exciton_nm: float) -> Sizing:
    """Nanocrystal diameter from the first-exciton wavelength; see the module docstring for the curves."""
    name = material.strip()
    lam = float(first_exciton_nm)
    if not math.isfinite(lam) or lam <= 0:
        return Sizing(None, f"no first exciton ({first_exciton_nm!r} nm): nothing to size")
    if name.lower() == "cdse":
        lo, hi = CDSE_VALID_NM
        if lo <= lam <= hi:
            d = float(np.polyval(CDSE_YU_2003, lam))
            return Sizing(d, f"CdSe, Yu et al., Chem. Mater. 15, 2854 (2003), valid for {lo:g}-{hi:g} nm")
        if abs(lam - CDSE_MSC_NM) <= 10.0:
            return Sizing(
                None,
                f"{lam:.1f} nm is the (CdSe)13 magic-size cluster's absorption, not a nanocrystal's first exciton: "
                f"the Yu 2003 CdSe curve (valid {lo:g}-{hi:g} nm) does not apply to magic-size clusters",
            )
        return Sizing(
            None,
            f"{lam:.1f} nm is outside {lo:g}-{hi:g} nm, where the Yu 2003 CdSe curve is valid "
            f"(it does not apply to magic-size clusters either)",
        )
    if name.lower() == "inas":
        return Sizing(
            None,
            "no valid sizing curve in labctl for InAs: Yu et al., J. Phys. Chem. B 109, 7084 (2005) give "
            "absorption cross-sections from the radius, not the radius from the first exciton",
        )
    return Sizing(None, f"no valid sizing curve in labctl for {material!r} (only CdSe, Yu 2003)")


# -- growth runs -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GrowthTraces:
    """Per-spectrum results of a growth run (one entry per row of the spectra).

    ``first_exciton_nm``, ``fwhm_mev``, ``height``, ``energy_ev`` are NaN where ``ok`` is False
    (``notes`` then says why); ``diameter_nm`` is NaN where no valid sizing applies
    (``sizing_note`` says which curve or why not, for the last fitted spectrum);
    ``second_population`` flags and ``second_relative`` heights come from
    :func:`second_population`; ``features`` maps each MSC feature (nm) to its absorbance above a
    local baseline; ``short_absorbance`` is the absorbance at ``short_nm``.
    """

    times_s: FloatArray
    first_exciton_nm: FloatArray
    fwhm_mev: FloatArray
    height: FloatArray
    energy_ev: FloatArray
    diameter_nm: FloatArray
    second_population: BoolArray
    second_relative: FloatArray
    features: Mapping[float, FloatArray]
    short_nm: float
    short_absorbance: FloatArray
    ok: BoolArray
    notes: tuple[str, ...]
    material: str
    sizing_note: str


def growth_traces(
    times_s: ArrayLike,
    wavelengths_nm: ArrayLike,
    spectra: ArrayLike,
    *,
    material: str,
    msc_features_nm: Sequence[float] = (),
    short_nm: float = 350.0,
    search_nm: tuple[float, float] | None = None,
) -> GrowthTraces:
    """First exciton, width, size, second population, MSC features and short-wavelength absorbance
    for every spectrum of a run (rows of ``spectra``, one per time).

    Each spectrum's band is fitted first from the previous spectrum's (the last round alone, a
    third of the work) and kept when its centre and sigma moved by at most STABLE_SIGMA sigma;
    otherwise, and after a spectrum without a band, it is fitted from its own start as
    :func:`first_exciton` does."""
    func = "growth_traces"
    t = _times(func, times_s)
    wl = _wavelengths(func, wavelengths_nm)
    rows = _spectra(func, spectra, t.size, wl.size)
    lo_nm, hi_nm = _range(func, "search_nm", search_nm, wl) if search_nm is not None else (wl[0], wl[-1])
    features = tuple(float(f) for f in msc_features_nm)
    for f in features:
        _check_feature(func, wl, f, 3.0)
    _check_at(func, wl, float(short_nm), 1.0)
    n = t.size
    lam = np.full(n, math.nan)
    fwhm = np.full(n, math.nan)
    height = np.full(n, math.nan)
    energy = np.full(n, math.nan)
    size = np.full(n, math.nan)
    flag = np.zeros(n, dtype=bool)
    relative = np.full(n, math.nan)
    ok = np.zeros(n, dtype=bool)
    notes: list[str] = []
    sizing_note = ""
    start: FloatArray | None = None  # the last fitted spectrum's band: the next one starts from it
    for k in range(n):
        peak, start = _first_exciton(wl, rows[k], lo_nm, hi_nm, None, start)
        notes.append(peak.note)
        if not peak.ok:
            continue
        ok[k] = True
        lam[k], fwhm[k], height[k], energy[k] = peak.wavelength_nm, peak.fwhm_mev, peak.height, peak.energy_ev
        sizing = diameter_nm(material, peak.wavelength_nm)
        sizing_note = sizing.note
        if sizing.diameter_nm is not None:
            size[k] = sizing.diameter_nm
        flag[k], relative[k] = _second_population(wl, rows[k], peak, SECOND_MIN_RELATIVE, SECOND_MAX_WIDTH_RATIO)
    if not sizing_note:
        sizing_note = "no spectrum gave a first exciton: nothing to size"
    feature_traces = {f: _feature_rows(wl, rows, f, 3.0) for f in features}
    short = _window_means(wl, rows, short_nm - 1.0, short_nm + 1.0)
    return GrowthTraces(
        times_s=t,
        first_exciton_nm=lam,
        fwhm_mev=fwhm,
        height=height,
        energy_ev=energy,
        diameter_nm=size,
        second_population=flag,
        second_relative=relative,
        features=MappingProxyType(feature_traces),
        short_nm=float(short_nm),
        short_absorbance=short,
        ok=ok,
        notes=tuple(notes),
        material=material,
        sizing_note=sizing_note,
    )


def _last(values: ArrayLike) -> float:
    v = np.asarray(values, dtype=float)
    finite = np.flatnonzero(np.isfinite(v))
    return float(v[finite[-1]]) if finite.size else math.nan


def growth_figures(
    traces: GrowthTraces, *, injected_ml: float | ArrayLike | None = None
) -> dict[str, float | bool | str]:
    """The numbers a growth run reports: end values (last fitted spectrum) and extrema.

    Keys: ``first_exciton_nm``, ``fwhm_mev`` and ``first_exciton_time_s`` (the last fitted spectrum;
    ``end_note`` says why when it is not the last spectrum), ``first_exciton_shift_nm`` (last minus first fitted),
    ``min_fwhm_mev`` and ``min_fwhm_time_s``, ``diameter_nm`` (absent when not sized) and always
    ``sizing_note``, ``second_population`` (any spectrum flagged) and
    ``second_population_time_s`` (the first flagged), ``msc_<nm>_absorbance`` (end value, nm
    printed with ``:g``), ``absorbance_<nm>nm`` (the short wavelength, end value), ``injected_ml``
    (the last value when a series is given), ``spectra`` and ``spectra_fitted``; without any fitted
    spectrum the first-exciton keys are absent and ``note`` says so.
    """
    out: dict[str, float | bool | str] = {}
    t = traces.times_s
    fitted = np.flatnonzero(traces.ok)
    if fitted.size:
        out["first_exciton_nm"] = float(traces.first_exciton_nm[fitted[-1]])
        out["fwhm_mev"] = float(traces.fwhm_mev[fitted[-1]])
        out["first_exciton_time_s"] = float(t[fitted[-1]])
        if fitted[-1] != t.size - 1:
            out["end_note"] = (
                f"the end values are the last fitted spectrum's, at {float(t[fitted[-1]]):.0f} s of "
                f"{float(t[-1]):.0f} s; the last spectrum gave none: {traces.notes[-1]}"
            )
        out["first_exciton_shift_nm"] = float(traces.first_exciton_nm[fitted[-1]] - traces.first_exciton_nm[fitted[0]])
        i_min = int(fitted[np.argmin(traces.fwhm_mev[fitted])])
        out["min_fwhm_mev"] = float(traces.fwhm_mev[i_min])
        out["min_fwhm_time_s"] = float(t[i_min])
        if math.isfinite(float(traces.diameter_nm[fitted[-1]])):
            out["diameter_nm"] = float(traces.diameter_nm[fitted[-1]])
    else:
        out["note"] = "no spectrum gave a first exciton: " + (traces.notes[-1] if traces.notes else "no spectra")
    out["sizing_note"] = traces.sizing_note
    flagged = np.flatnonzero(traces.second_population)
    out["second_population"] = bool(flagged.size)
    if flagged.size:
        out["second_population_time_s"] = float(t[flagged[0]])
    for f, values in traces.features.items():
        out[f"msc_{f:g}_absorbance"] = _last(values)
    out[f"absorbance_{traces.short_nm:g}nm"] = _last(traces.short_absorbance)
    if injected_ml is not None:
        out["injected_ml"] = _last(np.atleast_1d(np.asarray(injected_ml, dtype=float)))
    out["spectra"] = float(t.size)
    out["spectra_fitted"] = float(fitted.size)
    return out


def narrowing_stopped(fwhm_series: ArrayLike, *, window: int, tolerance_mev: float) -> bool:
    """True when the first exciton has stopped narrowing: over the last ``window`` finite FWHM
    values (meV), the least-squares line falls by no more than ``tolerance_mev`` from its start to
    its end (a widening peak has stopped narrowing too).  False while fewer than ``window`` finite
    values exist."""
    if not (isinstance(window, int | np.integer) and window >= 3):
        raise ValueError(f"narrowing_stopped: window must be an integer >= 3 spectra, got {window!r}; pass e.g. 10")
    if not (math.isfinite(tolerance_mev) and tolerance_mev >= 0):
        raise ValueError(
            f"narrowing_stopped: tolerance_mev must be a finite number >= 0 meV, got {tolerance_mev!r}; pass e.g. 1.0"
        )
    v = np.asarray(fwhm_series, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size < window:
        return False
    tail = v[-window:]
    x = np.arange(window, dtype=float)
    slope = float(np.polyfit(x, tail, 1)[0])
    return -slope * (window - 1) <= tolerance_mev


# -- assembly runs ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AssemblyTraces:
    """Per-spectrum results of a suprastructure assembly run.

    ``msc_peak_nm`` maps each nominal MSC peak (nm) to the measured peak position per spectrum
    (NaN where not found); ``baseline`` is the absorbance at ``baseline_nm`` (scattering);
    ``exponent`` the n of A = a lambda^-n fitted over ``exponent_range_nm`` (NaN where the
    absorbance there is not all positive); ``red_band_nm`` a new band to the red of the MSC
    features (NaN where none), ``red_band_od`` its height above the scattering fit.
    """

    times_s: FloatArray
    msc_peak_nm: Mapping[float, FloatArray]
    baseline_nm: float
    baseline: FloatArray
    exponent_range_nm: tuple[float, float]
    exponent: FloatArray
    red_band_nm: FloatArray
    red_band_od: FloatArray


def _msc_peak(wl: FloatArray, a: FloatArray, nominal: float) -> float:
    sel = (wl >= nominal - MSC_SEARCH_NM) & (wl <= nominal + MSC_SEARCH_NM) & np.isfinite(a)
    if np.count_nonzero(sel) < 5:
        return math.nan
    x, y = wl[sel], a[sel]
    y = _savgol(y, _odd(1.5 / max(float(np.median(np.diff(x))), 1e-9)))
    i = int(np.argmax(y))
    if i == 0 or i == y.size - 1:
        return math.nan  # no maximum inside the window: a slope, not a peak
    denom = y[i - 1] - 2 * y[i] + y[i + 1]
    shift = 0.5 * (y[i - 1] - y[i + 1]) / denom if denom < 0 else 0.0
    return float(x[i] + shift * (x[i + 1] - x[i - 1]) / 2)


def assembly_traces(
    times_s: ArrayLike,
    wavelengths_nm: ArrayLike,
    spectra: ArrayLike,
    *,
    msc_peaks_nm: Sequence[float] = (353.0, 340.0),
    baseline_nm: float = 600.0,
    exponent_range_nm: tuple[float, float] = (500.0, 800.0),
    red_from_nm: float = 380.0,
) -> AssemblyTraces:
    """MSC peak positions, scattering baseline and its exponent, and new red bands, per spectrum.

    The scattering fit is log A = log a - n log lambda over ``exponent_range_nm`` (least squares on
    the unmasked, positive pixels).  A red band is a local maximum of (A - a lambda^-n), smoothed
    over ~5 nm, between ``red_from_nm`` and the top of ``exponent_range_nm`` that rises
    :data:`RIPENING_MIN_OD` and 5x the noise above its surroundings (the strongest is kept).
    """
    func = "assembly_traces"
    t = _times(func, times_s)
    wl = _wavelengths(func, wavelengths_nm)
    rows = _spectra(func, spectra, t.size, wl.size)
    lo_fit, hi_fit = _range(func, "exponent_range_nm", exponent_range_nm, wl)
    _check_at(func, wl, float(baseline_nm), 1.0)
    peaks_nm = tuple(float(p) for p in msc_peaks_nm)
    for p in peaks_nm:
        _check_at(func, wl, p, MSC_SEARCH_NM)
    n = t.size
    positions = {p: np.full(n, math.nan) for p in peaks_nm}
    exponent = np.full(n, math.nan)
    red_nm = np.full(n, math.nan)
    red_od = np.full(n, math.nan)
    fit_sel = (wl >= lo_fit) & (wl <= hi_fit)
    red_sel = (wl >= red_from_nm) & (wl <= hi_fit)
    log_wl = np.log(wl)
    step = float(np.median(np.diff(wl[red_sel]))) if np.count_nonzero(red_sel) > 1 else 1.0
    for k in range(n):
        a = rows[k]
        for p in peaks_nm:
            positions[p][k] = _msc_peak(wl, a, p)
        sel = fit_sel & np.isfinite(a)
        if np.count_nonzero(sel) < 5 or not np.all(a[sel] > 0):
            continue
        slope, intercept = np.polyfit(log_wl[sel], np.log(a[sel]), 1)
        exponent[k] = -slope
        good = red_sel & np.isfinite(a)
        if np.count_nonzero(good) < 10:
            continue
        residual = a[good] - np.exp(intercept + slope * log_wl[good])
        smooth = _savgol(residual, _odd(5.0 / step))
        noise = _noise(a[good])
        prominence = max(RIPENING_MIN_OD, PROMINENCE_NOISE * (noise if math.isfinite(noise) else 0.0))
        found, props = signal.find_peaks(smooth, prominence=prominence)
        if found.size:
            best = int(np.argmax(props["prominences"]))
            red_nm[k] = float(wl[good][found[best]])
            red_od[k] = float(props["prominences"][best])
    baseline = _window_means(wl, rows, baseline_nm - 1.0, baseline_nm + 1.0)
    return AssemblyTraces(
        times_s=t,
        msc_peak_nm=MappingProxyType(positions),
        baseline_nm=float(baseline_nm),
        baseline=baseline,
        exponent_range_nm=(lo_fit, hi_fit),
        exponent=exponent,
        red_band_nm=red_nm,
        red_band_od=red_od,
    )


def assembly_figures(traces: AssemblyTraces) -> dict[str, float | bool | str]:
    """The numbers an assembly run reports.

    Keys: ``msc_<nm>_peak_nm`` (end position) and ``msc_<nm>_drift_nm`` (end minus start) per MSC
    peak; ``baseline_<nm>nm`` at the start and the end (``_start``/``_end``) and its rise
    ``baseline_<nm>nm_rise``; ``scattering_exponent`` (end value); ``ripening`` (a red band present
    at the end that was not in the first spectrum), with ``red_band_nm`` and
    ``ripening_time_s`` (when a new band first appeared) if so; ``spectra``.
    """
    out: dict[str, float | bool | str] = {}
    t = traces.times_s
    for p, pos in traces.msc_peak_nm.items():
        finite = np.flatnonzero(np.isfinite(pos))
        if finite.size:
            out[f"msc_{p:g}_peak_nm"] = float(pos[finite[-1]])
            out[f"msc_{p:g}_drift_nm"] = float(pos[finite[-1]] - pos[finite[0]])
    b = traces.baseline
    finite_b = np.flatnonzero(np.isfinite(b))
    key = f"baseline_{traces.baseline_nm:g}nm"
    if finite_b.size:
        out[f"{key}_start"] = float(b[finite_b[0]])
        out[f"{key}_end"] = float(b[finite_b[-1]])
        out[f"{key}_rise"] = float(b[finite_b[-1]] - b[finite_b[0]])
    out["scattering_exponent"] = _last(traces.exponent)
    first = float(traces.red_band_nm[0])

    def new(x: float) -> bool:
        return math.isfinite(x) and not (math.isfinite(first) and abs(x - first) <= RIPENING_MATCH_NM)

    is_new = np.array([new(float(x)) for x in traces.red_band_nm], dtype=bool)
    out["ripening"] = bool(is_new[-1])
    if is_new.any():
        i = int(np.flatnonzero(is_new)[0])
        out["ripening_time_s"] = float(t[i])
        out["red_band_nm"] = float(traces.red_band_nm[np.flatnonzero(is_new)[-1]])
    out["spectra"] = float(t.size)
    return out
