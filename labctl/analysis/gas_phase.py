"""Figures of merit of a photocatalytic H2-evolution or CO2-reduction run, from plain arrays.

The caller extracts time and amounts from a run (H2 in the headspace in umol, and optionally
N2/O2 for the leak check) and gets back an :class:`H2Result`: cumulative H2 against irradiation
time, the H2 evolution rate in umol g^-1 h^-1 (least-squares slope of the linear part), the
apparent quantum yield under monochromatic light, the dark rate, and a leak flag.

* Rate: only points at or after lamp-on are fitted.  The "linear part" is the longest initial
  window (from the first lit point, at least 3 points) whose straight-line fit has
  R^2 >= :data:`LINEAR_R_SQUARED_MIN` (0.99) and that does not bend: a quadratic fit over the
  window may not show the slope changing by more than 10 % across it, unless that curvature is
  within 3 standard errors of zero (noise).  R^2 alone barely sees curvature (a saturating
  curve keeps R^2 >= 0.99 with a slope 25 % below its initial one), hence the second test.  A
  curve linear throughout uses every point; one that bends (deactivation, donor used up) its
  early part, whose mean slope is then up to ~5 % below the initial slope.  If no window passes
  (noisy or flat data), all lit points are fitted and a note says so.
* Detection limit: samples after lamp-on that read exactly 0 (the GC saw no peak) while later
  ones are detected are left out of the fit, with a note: a line through those zeros and the
  first detections would overstate the rate.
* Dark: points before lamp-on give the baseline and the dark rate (expected ~0).
* AQY = 2 n(H2) / n(photons) x 100 %, with n(H2) evolved during irradiation (last point minus
  the baseline at lamp-on) and n(photons) = P t lambda / (h c N_A); only for monochromatic light
  (a wavelength given), else None with a note.
* Leak: N2 or O2 (umol, or any proportional signal such as a GC peak area) whose slope against
  time is significantly positive (> 3 standard errors) and rises by more than 2 % over the run
  marks the run as suspect.

CO2 reduction (:func:`co2_reduction_figures`) applies the same machinery to each product the GC
sees (CO, CH4, H2, ...): per product the rate of its linear part, its total, and AQY =
n_e x n(product) / n(photons) x 100 % with n_e from :data:`ELECTRONS`; over the products the
electron rate sum n_e r and the electron selectivity n_e r / sum(n_e r) (products with a rate
<= 0 take no electrons); one leak check from N2/O2 for the whole run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import constants

S_PER_H = 3600.0
UMOL_PER_MOL = 1e6
M3_PER_ML = 1e-6
LINEAR_R_SQUARED_MIN = 0.99  # R^2 a window must reach to count as the linear part
LINEAR_MIN_POINTS = 3  # smallest window fitted for the linear part
LINEAR_MAX_SLOPE_CHANGE = 0.10  # a window whose slope changes more than this across it bends ...
LINEAR_CURVATURE_SIGMA = 3.0  # ... if that curvature exceeds this many standard errors
LEAK_SIGMA = 3.0  # N2/O2 slope must exceed this many standard errors ...
LEAK_MIN_RISE = 0.02  # ... and rise by more than this fraction over the run
DARK_SIGMA = 3.0  # a dark rate this many standard errors above zero ...
DARK_MIN_FRACTION = 0.01  # ... and above this fraction of the lit rate earns a note
H2_CALLER = "h2_figures_of_merit"
CO2_CALLER = "co2_reduction_figures"
# electrons per molecule of product: CO2 + 2 H+ + 2 e- -> CO + H2O, ..., 2 H+ + 2 e- -> H2
ELECTRONS: Mapping[str, int] = MappingProxyType({"CO": 2, "HCOOH": 2, "HCHO": 4, "CH3OH": 6, "CH4": 8, "H2": 2})


def photon_moles(power_w: float, seconds: float, wavelength_nm: float) -> float:
    """Moles of photons delivered by ``power_w`` W for ``seconds`` s at ``wavelength_nm`` nm.

    n = P t lambda / (h c N_A).
    """
    for label, value, unit in (
        ("power_w", power_w, "W"),
        ("seconds", seconds, "s"),
        ("wavelength_nm", wavelength_nm, "nm"),
    ):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"photon_moles: {label} must be a finite number > 0 {unit}, got {value!r}")
    energy_j = constants.h * constants.c / (wavelength_nm * 1e-9)
    return power_w * seconds / energy_j / constants.N_A


def amount_from_ideal_gas(
    mole_fraction: ArrayLike, pressure_pa: float, volume_ml: float, temperature_k: float
) -> NDArray[np.float64]:
    """Amount of a gas in a volume, umol: x p V / (R T) (ideal gas)."""
    if not (pressure_pa >= 0 and volume_ml > 0 and temperature_k > 0):
        raise ValueError(
            f"amount_from_ideal_gas: need pressure >= 0 Pa, volume > 0 mL and "
            f"temperature > 0 K, got {pressure_pa!r} Pa, {volume_ml!r} mL, "
            f"{temperature_k!r} K"
        )
    x = np.asarray(mole_fraction, dtype=float)
    n_mol = pressure_pa * volume_ml * M3_PER_ML / (constants.R * temperature_k)
    return x * n_mol * UMOL_PER_MOL


@dataclass(frozen=True)
class LinearFit:
    """Least-squares straight line y = slope x + intercept, with standard errors and R^2.

    Standard errors are NaN with 2 points (no degrees of freedom left).
    """

    slope: float
    intercept: float
    slope_stderr: float
    intercept_stderr: float
    r_squared: float
    residual_std: float
    n: int


def linear_fit(x: ArrayLike, y: ArrayLike) -> LinearFit:
    """Ordinary least-squares line through (x, y); needs 2 or more points with distinct x."""
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    n = xa.size
    if n < 2 or ya.size != n:
        raise ValueError(f"linear_fit: need 2 or more (x, y) pairs of equal length, got {xa.size} x and {ya.size} y")
    xm, ym = xa.mean(), ya.mean()
    sxx = float(np.sum((xa - xm) ** 2))
    if sxx == 0:
        raise ValueError("linear_fit: all x values are equal; the slope is undefined")
    slope = float(np.sum((xa - xm) * (ya - ym)) / sxx)
    intercept = float(ym - slope * xm)
    residuals = ya - (slope * xa + intercept)
    ss_res = float(np.sum(residuals**2))
    ss_tot = float(np.sum((ya - ym) ** 2))
    # a constant y is fitted perfectly by a flat line
    r_squared = 1.0 - ss_res / ss_tot if ss_tot > 0 else float(ss_res == 0)
    if n > 2:
        s2 = ss_res / (n - 2)
        slope_se = math.sqrt(s2 / sxx)
        intercept_se = math.sqrt(s2 * (1.0 / n + xm**2 / sxx))
        residual_std = math.sqrt(s2)
    else:
        slope_se = intercept_se = residual_std = math.nan
    return LinearFit(slope, intercept, slope_se, intercept_se, r_squared, residual_std, n)


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class H2Result:
    """Figures of merit of one H2-evolution run.

    Times are hours of irradiation (0 at lamp-on); amounts umol; rates umol g^-1 h^-1.
    ``rate_stderr`` and ``aqy_stderr`` are None when they cannot be estimated (2 points).
    """

    times_h: NDArray[np.float64]
    cumulative_umol: NDArray[np.float64]
    rate_umol_per_g_h: float
    rate_stderr: float | None
    fit_intercept_umol: float
    fit_window_h: tuple[float, float]
    r_squared: float
    linear_points: int
    total_umol: float
    duration_h: float
    baseline_umol: float
    catalyst_mass_g: float
    dark_rate_umol_per_g_h: float | None = None
    dark_rate_stderr: float | None = None
    aqy_percent: float | None = None
    aqy_stderr: float | None = None
    photons_umol: float | None = None
    leak_suspect: bool = False
    leak_message: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def dark_rate(self) -> float | None:
        """H2 rate before lamp-on, umol g^-1 h^-1 (None without 2 dark points)."""
        return self.dark_rate_umol_per_g_h

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable figures of merit (NaN becomes None)."""
        return {
            "rate": _finite_or_none(self.rate_umol_per_g_h),
            "rate_stderr": _finite_or_none(self.rate_stderr),
            "r_squared": _finite_or_none(self.r_squared),
            "total_umol": _finite_or_none(self.total_umol),
            "aqy": _finite_or_none(self.aqy_percent),
            "aqy_stderr": _finite_or_none(self.aqy_stderr),
            "leak_suspect": bool(self.leak_suspect),
            "leak_message": self.leak_message,
            "duration_h": _finite_or_none(self.duration_h),
            "dark_rate": _finite_or_none(self.dark_rate_umol_per_g_h),
            "dark_rate_stderr": _finite_or_none(self.dark_rate_stderr),
            "fit_window_h": [float(self.fit_window_h[0]), float(self.fit_window_h[1])],
            "linear_points": int(self.linear_points),
            "fit_intercept_umol": _finite_or_none(self.fit_intercept_umol),
            "baseline_umol": _finite_or_none(self.baseline_umol),
            "catalyst_mass_g": float(self.catalyst_mass_g),
            "notes": list(self.notes),
        }


def _as_series(name: str, values: ArrayLike, n: int | None = None, caller: str = H2_CALLER) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{caller}: {name} must be a 1-D sequence, got shape {arr.shape}")
    if n is not None and arr.size != n:
        raise ValueError(f"{caller}: {name} has {arr.size} values but times_s has {n}; pass one value per time point")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(
            f"{caller}: {name}[{bad}] is {float(arr[bad])}; drop or fill non-finite points before the analysis"
        )
    return arr


def _curvature(t_h: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    """(relative slope change across the window, its significance in standard errors).

    From a quadratic least-squares fit y = a + b x + c x^2 (x centred on the window): the slope
    changes by 2 c (x_end - x_start) across the window, relative to b, the slope at its centre.
    Significance is |c| / stderr(c), infinite for noise-free data; needs 4 or more points.
    """
    x = t_h - 0.5 * (t_h[0] + t_h[-1])
    design = np.column_stack([np.ones_like(x), x, x**2])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    b, c = float(coef[1]), float(coef[2])
    change = abs(2.0 * c * (x[-1] - x[0]))
    relative = change / abs(b) if b != 0 else (0.0 if change == 0 else math.inf)
    residuals = y - design @ coef
    dof = x.size - 3
    s2 = float(residuals @ residuals) / dof
    c_var = s2 * float(np.linalg.inv(design.T @ design)[2, 2])
    if c_var <= 0:
        return relative, (0.0 if c == 0 else math.inf)
    return relative, abs(c) / math.sqrt(c_var)


def _linear_window(t_h: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[LinearFit, bool]:
    """Fit of the linear part: (fit, whether some window passed the tests).

    The longest initial window of at least :data:`LINEAR_MIN_POINTS` points with
    R^2 >= :data:`LINEAR_R_SQUARED_MIN` whose slope changes across it by no more than
    :data:`LINEAR_MAX_SLOPE_CHANGE` unless that curvature is within
    :data:`LINEAR_CURVATURE_SIGMA` standard errors of zero (noise).
    """
    n = t_h.size
    if n < LINEAR_MIN_POINTS:
        return linear_fit(t_h, y), True
    best: LinearFit | None = None
    for k in range(LINEAR_MIN_POINTS, n + 1):
        if k < n and np.ptp(y[:k]) == 0:
            continue  # a flat start (nothing detected yet) is not a linear part with slope 0
        fit = linear_fit(t_h[:k], y[:k])
        if fit.r_squared < LINEAR_R_SQUARED_MIN:
            continue
        if k > LINEAR_MIN_POINTS:
            change, sigma = _curvature(t_h[:k], y[:k])
            if change > LINEAR_MAX_SLOPE_CHANGE and sigma > LINEAR_CURVATURE_SIGMA:
                continue
        best = fit
    if best is None:
        return linear_fit(t_h, y), False
    return best, True


def _leak_check(
    name: str, times_h: NDArray[np.float64], amounts: NDArray[np.float64], what: str = "H2 figures"
) -> str | None:
    """A message if ``amounts`` climbs significantly over the run, else None."""
    fit = linear_fit(times_h, amounts)
    span_h = float(times_h[-1] - times_h[0])
    start = fit.intercept + fit.slope * times_h[0]
    end = fit.intercept + fit.slope * times_h[-1]
    rise = end - start
    se = fit.slope_stderr if math.isfinite(fit.slope_stderr) else 0.0
    significant = fit.slope > LEAK_SIGMA * se and fit.slope > 0
    reference = max(abs(start), abs(float(np.mean(amounts))))
    large = rise > LEAK_MIN_RISE * reference if reference > 0 else rise > 0
    if not (significant and large):
        return None
    if start > LEAK_MIN_RISE * abs(end):
        change = f"rose from {start:.4g} to {end:.4g} (+{100 * rise / start:.0f} %, "
    else:
        change = f"rose from about zero to {end:.4g} ("
    return (
        f"{name} {change}slope {fit.slope:.3g} +/- {se:.2g} per h) over {span_h:.3g} h: "
        f"air is leaking into the reactor; check the septum and fittings and treat the {what} "
        f"with caution"
    )


def _check_run(caller: str, times_s: ArrayLike, catalyst_mass_g: float, lamp_on_s: float) -> NDArray[np.float64]:
    """The validated time axis of a run (s); checks the mass, lamp-on time and lit points too."""
    t = _as_series("times_s", times_s, caller=caller)
    n = t.size
    if not (math.isfinite(catalyst_mass_g) and catalyst_mass_g > 0):
        raise ValueError(
            f"{caller}: catalyst_mass_g must be > 0 g, got {catalyst_mass_g!r}; pass the weighed catalyst mass in grams"
        )
    if not math.isfinite(lamp_on_s):
        raise ValueError(f"{caller}: lamp_on_s must be a finite time in s, got {lamp_on_s!r}")
    if n > 1 and not np.all(np.diff(t) > 0):
        bad = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise ValueError(
            f"{caller}: times_s must be strictly increasing, but "
            f"times_s[{bad + 1}]={t[bad + 1]!r} follows {t[bad]!r}; sort the points "
            f"and drop duplicates"
        )
    n_lit = int((t >= lamp_on_s).sum())
    if n_lit < 2:
        raise ValueError(
            f"{caller}: need at least 2 points at or after lamp-on "
            f"(lamp_on_s={lamp_on_s!r}), got {n_lit}; sample more during "
            f"irradiation or check lamp_on_s"
        )
    return t


def _evolution(
    caller: str,
    product: str,
    electrons: int,
    t: NDArray[np.float64],
    y_all: NDArray[np.float64],
    catalyst_mass_g: float,
    lamp_on_s: float,
    light_power_w: float | None,
    wavelength_nm: float | None,
    irradiated_s: float | None,
    aqy_notes: bool = True,
) -> H2Result:
    """Rate, dark rate, totals and AQY of one product over a validated run (no leak check)."""
    lit = t >= lamp_on_s
    n_lit = int(lit.sum())
    notes: list[str] = []

    # -- dark period: baseline and dark rate -------------------------------------------------
    t_dark, y_dark = t[~lit], y_all[~lit]
    dark_rate: float | None = None
    dark_se: float | None = None
    if t_dark.size >= 2:
        dark_fit = linear_fit(t_dark / S_PER_H, y_dark)
        dark_rate = dark_fit.slope / catalyst_mass_g
        dark_se = _finite_or_none(dark_fit.slope_stderr / catalyst_mass_g)
        baseline = dark_fit.intercept + dark_fit.slope * lamp_on_s / S_PER_H
    elif t_dark.size == 1:
        baseline = float(y_dark[0])
        notes.append("one dark point: used as the baseline, no dark rate")
    else:
        baseline = 0.0
        notes.append("no dark points: baseline taken as 0 umol, no dark rate")

    # -- irradiation: linear part ------------------------------------------------------------
    t_h = (t[lit] - lamp_on_s) / S_PER_H
    y = y_all[lit]
    t_fit, y_fit = t_h, y
    # exactly 0 after lamp-on: the GC saw no peak (a noisy small amount can be negative, and stays)
    below = (y == 0) & (t_h > 0)
    if below.any() and (~below).sum() >= 2 and not below[-1]:
        # the first samples held too little to see (amount 0: below the GC detection limit); a line
        # through those zeros and the first detections would overstate the rate: fit what was seen
        t_fit, y_fit = t_h[~below], y[~below]
        notes.append(
            f"{int(below.sum())} of {n_lit} lit points below the GC detection limit: rate from the "
            f"{int((~below).sum())} detected points only (an estimate near the limit; sample longer or load more)"
        )
    fit, reached = _linear_window(t_fit, y_fit)
    if not reached:
        notes.append(
            f"no initial window of {LINEAR_MIN_POINTS}+ points reached R^2 >= "
            f"{LINEAR_R_SQUARED_MIN}; rate fitted over all {t_fit.size} lit points"
        )
    if t_fit.size == 2:
        notes.append("only 2 points after lamp-on: no standard error for the rate")
    elif fit.n < t_fit.size:
        notes.append(f"linear part: first {fit.n} of {t_fit.size} lit points ({t_fit[0]:.3g}-{t_fit[fit.n - 1]:.3g} h)")
    rate = fit.slope / catalyst_mass_g
    rate_se = _finite_or_none(fit.slope_stderr / catalyst_mass_g)
    if (
        dark_rate is not None
        and dark_rate > DARK_SIGMA * (dark_se or 0.0)
        and dark_rate > DARK_MIN_FRACTION * abs(rate)
    ):
        notes.append(
            f"{product} rose in the dark ({dark_rate:.3g} +/- {dark_se or 0.0:.2g} umol g^-1 h^-1): "
            f"check for {product} carried over from a previous run or stray light"
        )
    total = float(y[-1] - baseline)
    duration_h = float(t_h[-1])

    # -- apparent quantum yield --------------------------------------------------------------
    aqy: float | None = None
    aqy_se: float | None = None
    photons_umol: float | None = None
    if wavelength_nm is not None:
        if light_power_w is None:
            raise ValueError(
                f"{caller}: wavelength_nm was given without "
                "light_power_w; pass the optical power measured at the reactor in W"
            )
        seconds = duration_h * S_PER_H if irradiated_s is None else irradiated_s
        photons_umol = photon_moles(light_power_w, seconds, wavelength_nm) * UMOL_PER_MOL
        aqy = float(electrons) * total / photons_umol * 100.0
        if math.isfinite(fit.residual_std):
            # the last point and the baseline each carry about one point's scatter
            aqy_se = abs(aqy) * math.sqrt(2.0) * fit.residual_std / abs(total) if total else None
    elif not aqy_notes:
        pass
    elif light_power_w is not None:
        notes.append("AQY not computed: broadband light; give wavelength_nm for monochromatic light")
    else:
        notes.append("AQY not computed: no monochromatic wavelength and light power given")

    return H2Result(
        times_h=t_h,
        cumulative_umol=y.copy(),
        rate_umol_per_g_h=rate,
        rate_stderr=rate_se,
        fit_intercept_umol=fit.intercept,
        fit_window_h=(float(t_fit[0]), float(t_fit[fit.n - 1])),
        r_squared=fit.r_squared,
        linear_points=fit.n,
        total_umol=total,
        duration_h=duration_h,
        baseline_umol=float(baseline),
        catalyst_mass_g=float(catalyst_mass_g),
        dark_rate_umol_per_g_h=dark_rate,
        dark_rate_stderr=dark_se,
        aqy_percent=aqy,
        aqy_stderr=aqy_se,
        photons_umol=photons_umol,
        notes=notes,
    )


def _leak_messages(
    caller: str,
    t: NDArray[np.float64],
    n2_umol: ArrayLike | None,
    o2_umol: ArrayLike | None,
    what: str,
) -> list[str]:
    """Leak messages from the N2 and O2 series (none with fewer than 3 points)."""
    n = t.size
    messages: list[str] = []
    for name, values in (("N2", n2_umol), ("O2", o2_umol)):
        if values is None:
            continue
        series = _as_series(f"{name.lower()}_umol", values, n, caller=caller)
        message = _leak_check(name, t / S_PER_H, series, what) if n >= 3 else None
        if message:
            messages.append(message)
    return messages


def h2_figures_of_merit(
    times_s: Sequence[float] | ArrayLike,
    h2_umol: Sequence[float] | ArrayLike,
    catalyst_mass_g: float,
    *,
    lamp_on_s: float,
    n2_umol: Sequence[float] | ArrayLike | None = None,
    o2_umol: Sequence[float] | ArrayLike | None = None,
    light_power_w: float | None = None,
    wavelength_nm: float | None = None,
    irradiated_s: float | None = None,
) -> H2Result:
    """Figures of merit of an H2-evolution run.

    :param times_s: sample times, s (any origin, strictly increasing).
    :param h2_umol: H2 in the headspace at each time, umol.
    :param catalyst_mass_g: catalyst mass, g.
    :param lamp_on_s: time the light went on, s, on the same axis as ``times_s``.
    :param n2_umol: N2 at each time (umol or peak area) for the leak check.
    :param o2_umol: O2 at each time (umol or peak area) for the leak check.
    :param light_power_w: optical power on the reactor, W (measured at the sample position).
    :param wavelength_nm: wavelength of monochromatic light, nm; AQY is computed only with it.
    :param irradiated_s: irradiation time for the AQY photon count, s; default the span from
        lamp-on to the last point.
    """
    t = _as_series("times_s", times_s)
    h2 = _as_series("h2_umol", h2_umol, t.size)
    t = _check_run(H2_CALLER, t, catalyst_mass_g, lamp_on_s)
    result = _evolution(
        H2_CALLER, "H2", ELECTRONS["H2"], t, h2, catalyst_mass_g, lamp_on_s, light_power_w, wavelength_nm, irradiated_s
    )
    messages = _leak_messages(H2_CALLER, t, n2_umol, o2_umol, "H2 figures")
    result.leak_suspect = bool(messages)
    result.leak_message = "; ".join(messages)
    return result


@dataclass
class ProductFigures:
    """Figures of merit of one product of a CO2-reduction run.

    ``rate`` is umol g^-1 h^-1 (slope of the linear part), ``aqy`` percent (None without
    monochromatic light), ``in_range`` whether every amount was inside the GC calibration's range
    (None when not given), ``detected`` whether any amount differed from 0; ``detail`` holds the
    full fit (cumulative curve, window, dark rate, baseline).
    """

    product: str
    electrons: int
    rate: float
    rate_stderr: float | None
    r_squared: float
    total_umol: float
    aqy: float | None
    aqy_stderr: float | None
    in_range: bool | None
    detected: bool
    detail: H2Result = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable figures of this product (NaN becomes None)."""
        return {
            "product": self.product,
            "electrons": int(self.electrons),
            "rate": _finite_or_none(self.rate),
            "rate_stderr": _finite_or_none(self.rate_stderr),
            "r_squared": _finite_or_none(self.r_squared),
            "total_umol": _finite_or_none(self.total_umol),
            "aqy": _finite_or_none(self.aqy),
            "aqy_stderr": _finite_or_none(self.aqy_stderr),
            "in_range": None if self.in_range is None else bool(self.in_range),
            "detected": bool(self.detected),
            "dark_rate": _finite_or_none(self.detail.dark_rate_umol_per_g_h),
            "fit_window_h": [float(self.detail.fit_window_h[0]), float(self.detail.fit_window_h[1])],
            "linear_points": int(self.detail.linear_points),
        }


@dataclass
class Co2ReductionFigures:
    """Figures of merit of a CO2-reduction run: per product, electron selectivity, leak flag.

    ``selectivity`` maps every product to its share of the electrons n_e r / sum(n_e r) over the
    products with a rate > 0 (those sum to 1; the others are 0); ``electron_rate`` is
    sum(n_e r) over those products, umol e- g^-1 h^-1.
    """

    products: dict[str, ProductFigures]
    selectivity: dict[str, float]
    electron_rate: float
    leak_suspect: bool
    leak_message: str
    notes: list[str]
    catalyst_mass_g: float
    duration_h: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable figures; flat ``<product>_rate`` / ``_rate_stderr`` / ``_aqy`` /
        ``_selectivity`` / ``_total_umol`` keys besides the nested ``products``."""
        out: dict[str, Any] = {
            "products": {p: f.to_dict() for p, f in self.products.items()},
            "selectivity": {p: float(x) for p, x in self.selectivity.items()},
            "electron_rate": _finite_or_none(self.electron_rate),
            "leak_suspect": bool(self.leak_suspect),
            "leak_message": self.leak_message,
            "notes": list(self.notes),
            "catalyst_mass_g": float(self.catalyst_mass_g),
            "duration_h": _finite_or_none(self.duration_h),
        }
        for p, f in self.products.items():
            out[f"{p}_rate"] = _finite_or_none(f.rate)
            out[f"{p}_rate_stderr"] = _finite_or_none(f.rate_stderr)
            out[f"{p}_aqy"] = _finite_or_none(f.aqy)
            out[f"{p}_total_umol"] = _finite_or_none(f.total_umol)
            out[f"{p}_selectivity"] = float(self.selectivity[p])
        return out


def co2_reduction_figures(
    times_s: Sequence[float] | ArrayLike,
    amounts_umol: Mapping[str, Sequence[float] | ArrayLike],
    catalyst_mass_g: float,
    *,
    lamp_on_s: float,
    n2_umol: Sequence[float] | ArrayLike | None = None,
    o2_umol: Sequence[float] | ArrayLike | None = None,
    light_power_w: float | None = None,
    wavelength_nm: float | None = None,
    irradiated_s: float | None = None,
    in_range: Mapping[str, Sequence[bool] | ArrayLike] | None = None,
) -> Co2ReductionFigures:
    """Figures of merit of a CO2-reduction run.

    :param times_s: sample times, s (any origin, strictly increasing).
    :param amounts_umol: each product (keys from :data:`ELECTRONS`, e.g. "CO", "CH4", "H2") in
        the headspace at each time, umol; a product never detected is all zeros (rate 0).
    :param catalyst_mass_g: catalyst mass, g.
    :param lamp_on_s: time the light went on, s, on the same axis as ``times_s``.
    :param n2_umol: N2 at each time (umol or peak area) for the leak check.
    :param o2_umol: O2 at each time (umol or peak area) for the leak check.
    :param light_power_w: optical power on the reactor, W (measured at the sample position).
    :param wavelength_nm: wavelength of monochromatic light, nm; AQY is computed only with it.
    :param irradiated_s: irradiation time for the AQY photon count, s; default the span from
        lamp-on to the last point.
    :param in_range: per product, whether each amount was inside the GC calibration's range.
    """
    if not isinstance(amounts_umol, Mapping) or not amounts_umol:
        raise ValueError(
            f"{CO2_CALLER}: amounts_umol must map product names to amounts, got {amounts_umol!r}; "
            f"pass e.g. {{'CO': [...], 'H2': [...]}}"
        )
    unknown = [p for p in amounts_umol if p not in ELECTRONS]
    if unknown:
        raise ValueError(
            f"{CO2_CALLER}: unknown product(s) {', '.join(map(repr, unknown))} in amounts_umol; "
            f"use one of {', '.join(ELECTRONS)}"
        )
    t = _as_series("times_s", times_s, caller=CO2_CALLER)
    series = {p: _as_series(f"amounts_umol[{p!r}]", v, t.size, caller=CO2_CALLER) for p, v in amounts_umol.items()}
    t = _check_run(CO2_CALLER, t, catalyst_mass_g, lamp_on_s)
    notes: list[str] = []
    flags: dict[str, bool] = {}
    for p, values in (in_range or {}).items():
        if p not in series:
            raise ValueError(
                f"{CO2_CALLER}: in_range names {p!r}, which is not in amounts_umol "
                f"({', '.join(series)}); give in_range only for the products analysed"
            )
        arr = np.asarray(values, dtype=bool)
        if arr.shape != t.shape:
            raise ValueError(
                f"{CO2_CALLER}: in_range[{p!r}] has shape {arr.shape} but times_s has {t.size} points; "
                f"pass one flag per time point"
            )
        flags[p] = bool(np.all(arr))
        if not flags[p]:
            notes.append(f"{int(np.sum(~arr))} {p} amount(s) outside the GC calibration's range (extrapolated)")

    products: dict[str, ProductFigures] = {}
    for p, y in series.items():
        detail = _evolution(
            CO2_CALLER,
            p,
            ELECTRONS[p],
            t,
            y,
            catalyst_mass_g,
            lamp_on_s,
            light_power_w,
            wavelength_nm,
            irradiated_s,
            aqy_notes=False,
        )
        detected = bool(np.any(y != 0))
        if not detected:
            notes.append(f"{p}: never detected; rate 0")
        notes.extend(f"{p}: {note}" for note in detail.notes if detected)
        products[p] = ProductFigures(
            product=p,
            electrons=ELECTRONS[p],
            rate=detail.rate_umol_per_g_h if detected else 0.0,
            rate_stderr=detail.rate_stderr,
            r_squared=detail.r_squared,
            total_umol=detail.total_umol,
            aqy=detail.aqy_percent,
            aqy_stderr=detail.aqy_stderr,
            in_range=flags.get(p),
            detected=detected,
            detail=detail,
        )
    if wavelength_nm is None:
        if light_power_w is not None:
            notes.append("AQY not computed: broadband light; give wavelength_nm for monochromatic light")
        else:
            notes.append("AQY not computed: no monochromatic wavelength and light power given")

    # -- electron selectivity ----------------------------------------------------------------
    electron_rates = {p: f.electrons * f.rate if f.rate > 0 else 0.0 for p, f in products.items()}
    electron_rate = math.fsum(electron_rates.values())
    if electron_rate > 0:
        selectivity = {p: r / electron_rate for p, r in electron_rates.items()}
    else:
        selectivity = dict.fromkeys(products, 0.0)
        notes.append("no product formed at a rate > 0: electron selectivity undefined (all 0)")
    for p, f in products.items():
        if f.detected and f.rate < 0:
            notes.append(f"{p}: rate {f.rate:.3g} umol g^-1 h^-1 is negative; counted as no electrons")

    messages = _leak_messages(CO2_CALLER, t, n2_umol, o2_umol, "CO2-reduction figures")
    first = next(iter(products.values()))
    return Co2ReductionFigures(
        products=products,
        selectivity=selectivity,
        electron_rate=electron_rate,
        leak_suspect=bool(messages),
        leak_message="; ".join(messages),
        notes=notes,
        catalyst_mass_g=float(catalyst_mass_g),
        duration_h=first.detail.duration_h,
    )
