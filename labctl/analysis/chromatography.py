"""Gas-chromatography analysis: read GC traces, integrate peaks, calibrate, get headspace µmol.

This module turns exported TCD traces of a photoreactor's headspace (molecular sieve 5A column,
Ar carrier; elution order H2, O2, N2, CH4, CO; CO2 is retained and never seen) into amounts:

1. :func:`read_chromatogram` parses the ``gc-trace-csv/1`` export (format below).
2. :func:`integrate_peaks` integrates each :class:`RetentionWindow` over a valley-to-valley
   linear baseline and reports area, apex time, height and signal-to-noise.
3. :func:`fit_calibration` fits an external-standard line (area vs µmol injected) and
   :meth:`Calibration.amount` converts an area back to µmol injected, flagging extrapolation.
4. :func:`headspace_amount_umol` scales µmol in the sample loop to µmol in the headspace with
   the ideal-gas law at the actual temperatures and pressures.

No response factors are built in: calibrations are always fitted from measured standards.

Units
-----
* Trace: time in min, signal in µV.
* Peak area: **µV·s** (the trapezoid over the time axis in minutes, times 60). Calibration
  slopes are in µV·s per µmol injected (``units = "area_per_umol"``), intercepts in µV·s.

File format ``gc-trace-csv/1`` (the contract with whatever writes the traces)
-----------------------------------------------------------------------------
UTF-8 text::

    # format: gc-trace-csv/1
    # sample: reactor-A t=60min
    # injected_at: 2024-05-01T10:00:00+00:00
    # method: MS5A-Ar
    # detector: TCD
    # units: min,uV
    time_min,signal_uV
    0.000000,50.1234
    0.001667,49.8765

* Optional header lines ``# key: value`` (split at the first ``:``, both sides trimmed) come
  first; blank lines are ignored anywhere. If ``format`` is given it must be ``gc-trace-csv/1``;
  if ``units`` is given it must be ``min,uV``.
* Exactly one column-header line ``time_min,signal_uV``.
* At least 2 data rows ``time,signal`` of finite decimal numbers, time strictly increasing.

Writers should create the file under a temporary name and rename it into place, so readers
never see a partial file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy.constants import gas_constant

__all__ = [
    "AREA_UNIT",
    "DEFAULT_WINDOWS",
    "FORMAT_VERSION",
    "AmountResult",
    "Calibration",
    "CalibrationError",
    "Chromatogram",
    "ChromatogramFormatError",
    "Peak",
    "RetentionWindow",
    "estimate_noise_uv",
    "fit_calibration",
    "headspace_amount_umol",
    "integrate_peaks",
    "read_chromatogram",
]

AREA_UNIT = "uV*s"
"""Unit of every peak area in this module (µV·s)."""

FORMAT_VERSION = "gc-trace-csv/1"
COLUMN_HEADER = "time_min,signal_uV"
UNITS = "min,uV"
_ACCEPTED_UNITS = {"min,uv", "min,µv"}

_FORMAT_HELP = (
    "expected gc-trace-csv/1: optional '# key: value' header lines, then the line "
    f"'{COLUMN_HEADER}', then at least 2 rows 'time,signal' (min, µV) with time strictly "
    "increasing"
)

# Detection limit: smoothed apex height >= 3x the rms noise of the raw trace. The height is
# read after a 5-point moving average: on the raw samples, white noise alone reaches ~3x rms
# somewhere in a window of a few hundred samples and would pose as a peak.
DEFAULT_MIN_SNR = 3.0
DEFAULT_SMOOTH_POINTS = 5
# Samples averaged on each side of a window for its baseline (1 s at 10 Hz).
DEFAULT_BASELINE_POINTS = 10


# --------------------------------------------------------------------------- reading traces


class ChromatogramFormatError(ValueError):
    """A trace file does not follow ``gc-trace-csv/1``; the message names file and line."""


@dataclass(eq=False)
class Chromatogram:
    """One detector trace: time in min, signal in µV, and the header metadata."""

    time_min: np.ndarray
    signal: np.ndarray
    metadata: dict[str, str] = field(default_factory=dict)
    source: Path | None = None

    def __post_init__(self) -> None:
        self.time_min = np.asarray(self.time_min, dtype=float)
        self.signal = np.asarray(self.signal, dtype=float)
        if self.time_min.ndim != 1 or self.time_min.shape != self.signal.shape:
            raise ValueError(
                f"time_min and signal must be 1-D of equal length, got {self.time_min.shape} and {self.signal.shape}"
            )
        if self.time_min.size < 2 or not np.all(np.diff(self.time_min) > 0):
            raise ValueError("a chromatogram needs >= 2 samples with strictly increasing time")


def _format_error(path: Path, line_no: int | None, problem: str) -> ChromatogramFormatError:
    where = f"{path}:{line_no}" if line_no is not None else str(path)
    return ChromatogramFormatError(f"{where}: {problem}; {_FORMAT_HELP}")


def read_chromatogram(path: str | os.PathLike[str]) -> Chromatogram:
    """Parse a ``gc-trace-csv/1`` file (see the module docstring) into a :class:`Chromatogram`.

    Raises :class:`ChromatogramFormatError` naming the file, the line and the expected format
    when the file is malformed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _format_error(path, None, f"not UTF-8 text ({exc})") from exc

    metadata: dict[str, str] = {}
    times: list[float] = []
    values: list[float] = []
    seen_header = False
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if seen_header:
                raise _format_error(path, line_no, "header line after the data started")
            body = line[1:].strip()
            key, sep, value = body.partition(":")
            key, value = key.strip(), value.strip()
            if not sep or not key:
                raise _format_error(path, line_no, f"header line {raw!r} is not '# key: value'")
            if key in metadata:
                raise _format_error(path, line_no, f"header key {key!r} given twice")
            if key == "format" and value != FORMAT_VERSION:
                raise _format_error(path, line_no, f"unsupported format {value!r}")
            if key == "units" and value.replace(" ", "").lower() not in _ACCEPTED_UNITS:
                raise _format_error(path, line_no, f"units {value!r} are not {UNITS!r}")
            metadata[key] = value
            continue
        if not seen_header:
            if line.replace(" ", "") != COLUMN_HEADER:
                raise _format_error(path, line_no, f"found {raw!r} where the column header was expected")
            seen_header = True
            continue
        cells = line.split(",")
        if len(cells) != 2:
            raise _format_error(path, line_no, f"row {raw!r} does not have 2 columns")
        try:
            t, s = float(cells[0]), float(cells[1])
        except ValueError as exc:
            raise _format_error(path, line_no, f"row {raw!r} is not two numbers") from exc
        if not (math.isfinite(t) and math.isfinite(s)):
            raise _format_error(path, line_no, f"row {raw!r} is not finite")
        if times and t <= times[-1]:
            raise _format_error(path, line_no, f"time {t} does not increase (previous {times[-1]})")
        times.append(t)
        values.append(s)

    if not seen_header:
        raise _format_error(path, None, f"no '{COLUMN_HEADER}' column header")
    if len(times) < 2:
        raise _format_error(path, None, f"{len(times)} data rows")
    return Chromatogram(np.array(times), np.array(values), metadata, source=path)


# ------------------------------------------------------------------------- peak integration


@dataclass(frozen=True)
class RetentionWindow:
    """Time window (min) in which ``gas`` elutes; its edges must lie on baseline."""

    gas: str
    start_min: float
    end_min: float

    def __post_init__(self) -> None:
        if not self.end_min > self.start_min >= 0:
            raise ValueError(f"{self.gas}: window needs 0 <= start < end, got {self.start_min}..{self.end_min}")


DEFAULT_WINDOWS: tuple[RetentionWindow, ...] = (
    RetentionWindow("H2", 0.60, 1.30),
    RetentionWindow("O2", 1.30, 2.00),
    RetentionWindow("N2", 2.00, 3.00),
    RetentionWindow("CH4", 3.10, 4.30),
    RetentionWindow("CO", 4.60, 6.00),
)
"""Windows for the MS-5A / Ar / TCD method (H2 ~0.95, O2 ~1.6, N2 ~2.4, CH4 ~3.6, CO ~5.2 min)."""


@dataclass(frozen=True)
class Peak:
    """Integration result of one window.

    ``area`` (µV·s) is the baseline-corrected trapezoid clipped at 0; ``raw_area`` is the same
    before clipping. ``detected`` is ``signal_to_noise >= min_snr``; when it is False the area
    is noise and the gas is below the detection limit. ``signal_to_noise`` is apex height over
    rms baseline noise (not the 2H/h_pp pharmacopoeia convention).
    """

    gas: str
    area: float
    raw_area: float
    retention_min: float
    height_uv: float
    noise_uv: float
    signal_to_noise: float
    detected: bool
    window: RetentionWindow
    baseline_start_uv: float
    baseline_end_uv: float
    area_unit: str = AREA_UNIT


def estimate_noise_uv(signal: np.ndarray, *, block: int = 50) -> float:
    """Rms white noise of a trace: median over blocks of the rms point-to-point difference / √2.

    Differencing removes slow drift; taking the median over blocks of ``block`` samples keeps
    the few blocks that hold a peak from inflating the estimate.
    """
    d = np.diff(np.asarray(signal, dtype=float))
    if d.size < 2:
        return 0.0
    n_blocks = max(1, d.size // block)
    blocks = np.array_split(d, n_blocks)
    per_block = [float(np.std(b)) for b in blocks if b.size > 1]
    return float(np.median(per_block)) / math.sqrt(2.0)


def _moving_average(y: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average; the ends average over the samples available."""
    if width <= 1:
        return y
    kernel = np.ones(width)
    total = np.convolve(y, kernel, mode="same")
    count = np.convolve(np.ones_like(y), kernel, mode="same")
    return total / count


def _edge_mean(t: np.ndarray, y: np.ndarray, idx: np.ndarray, fallback: np.ndarray) -> tuple[float, float]:
    use = idx if idx.size else fallback
    return float(np.mean(t[use])), float(np.mean(y[use]))


def integrate_peaks(
    chrom: Chromatogram,
    windows: Sequence[RetentionWindow] = DEFAULT_WINDOWS,
    *,
    baseline_points: int = DEFAULT_BASELINE_POINTS,
    min_snr: float = DEFAULT_MIN_SNR,
    smooth_points: int = DEFAULT_SMOOTH_POINTS,
) -> dict[str, Peak]:
    """Integrate each window of ``chrom``; return ``{gas: Peak}``.

    The baseline is the straight line between the mean (time, signal) of the
    ``baseline_points`` samples just before the window start and of those just after its end
    (when the window touches an end of the trace, its own first/last samples are used). The
    area is the trapezoid of signal minus baseline over the samples inside the window,
    converted to µV·s. Apex time and height are taken on the baseline-corrected signal after a
    centred moving average of ``smooth_points`` samples (1 = none), which keeps single noise
    spikes from posing as peaks; ``signal_to_noise`` is that height over the rms noise of the
    raw trace (:func:`estimate_noise_uv`), and the peak is ``detected`` when it reaches
    ``min_snr``.
    """
    if baseline_points < 1:
        raise ValueError(f"baseline_points must be >= 1, got {baseline_points}")
    if smooth_points < 1:
        raise ValueError(f"smooth_points must be >= 1, got {smooth_points}")
    t, y = chrom.time_min, chrom.signal
    noise = estimate_noise_uv(y)
    smooth = _moving_average(y, smooth_points)
    peaks: dict[str, Peak] = {}
    for w in windows:
        if w.gas in peaks:
            raise ValueError(f"two retention windows for {w.gas}")
        inside = np.flatnonzero((t >= w.start_min) & (t <= w.end_min))
        if inside.size < 2:
            raise ValueError(
                f"{w.gas}: window {w.start_min}-{w.end_min} min holds {inside.size} samples of "
                f"a trace spanning {t[0]:.3f}-{t[-1]:.3f} min"
            )
        i0, i1 = int(inside[0]), int(inside[-1])
        before = np.arange(max(0, i0 - baseline_points), i0)
        after = np.arange(i1 + 1, min(t.size, i1 + 1 + baseline_points))
        tb0, yb0 = _edge_mean(t, y, before, inside[:baseline_points])
        tb1, yb1 = _edge_mean(t, y, after, inside[-baseline_points:])
        slope = (yb1 - yb0) / (tb1 - tb0) if tb1 > tb0 else 0.0
        tw = t[inside]
        corrected = y[inside] - (yb0 + slope * (tw - tb0))
        raw_area = float(np.trapezoid(corrected, tw)) * 60.0
        smooth_corrected = smooth[inside] - (yb0 + slope * (tw - tb0))
        k = int(np.argmax(smooth_corrected))
        height = float(smooth_corrected[k])
        snr = height / noise if noise > 0 else (math.inf if height > 0 else 0.0)
        peaks[w.gas] = Peak(
            gas=w.gas,
            area=max(raw_area, 0.0),
            raw_area=raw_area,
            retention_min=float(tw[k]),
            height_uv=height,
            noise_uv=noise,
            signal_to_noise=snr,
            detected=bool(snr >= min_snr),
            window=w,
            baseline_start_uv=yb0 + slope * (tw[0] - tb0),
            baseline_end_uv=yb0 + slope * (tw[-1] - tb0),
        )
    return peaks


# ------------------------------------------------------------------------------ calibration


class CalibrationError(ValueError):
    """A calibration cannot be fitted or trusted; the message says why and how to fix it."""


@dataclass(frozen=True)
class AmountResult:
    """An amount read off a calibration, with its range flags and a human-readable message.

    ``amount_umol`` is µmol injected (0 when the area is below the intercept). ``in_range`` is
    True when the unclipped amount lies within the calibrated standards; otherwise
    ``extrapolated`` is True. ``below_intercept`` marks an area under the line's intercept.
    """

    gas: str
    area: float
    amount_umol: float
    in_range: bool
    extrapolated: bool
    below_intercept: bool
    message: str


@dataclass(frozen=True)
class Calibration:
    """External-standard calibration ``area = slope * amount + intercept`` of one gas.

    ``slope`` is in µV·s per µmol injected (``units = "area_per_umol"``), ``intercept`` and
    ``residuals`` (area minus fit, one per standard) in µV·s. The amount range is that of the
    standards, in µmol injected.
    """

    gas: str
    slope: float
    intercept: float
    r_squared: float
    residuals: tuple[float, ...]
    amount_min_umol: float
    amount_max_umol: float
    created: str
    method: str
    n_points: int
    units: str = "area_per_umol"
    area_unit: str = AREA_UNIT
    amount_unit: str = "umol"

    def amount(self, area: float) -> AmountResult:
        """µmol injected giving ``area`` (µV·s), flagged when outside the calibrated range."""
        if not math.isfinite(area):
            raise ValueError(f"{self.gas}: area must be finite, got {area}")
        raw = (area - self.intercept) / self.slope
        lo, hi = self.amount_min_umol, self.amount_max_umol
        tol = 1e-9 * max(abs(hi), 1.0)
        rng = f"{lo:g}-{hi:g} µmol"
        if raw < 0:
            return AmountResult(
                gas=self.gas,
                area=area,
                amount_umol=0.0,
                in_range=False,
                extrapolated=True,
                below_intercept=True,
                message=(
                    f"{self.gas}: area {area:.4g} {self.area_unit} is below the calibration "
                    f"intercept {self.intercept:.4g} {self.area_unit}; reported as 0 µmol "
                    f"(below the calibrated range {rng})"
                ),
            )
        if raw < lo - tol or raw > hi + tol:
            side = "below" if raw < lo else "above"
            fix = "a smaller" if raw < lo else "a larger"
            return AmountResult(
                gas=self.gas,
                area=area,
                amount_umol=raw,
                in_range=False,
                extrapolated=True,
                below_intercept=False,
                message=(
                    f"{self.gas}: {raw:.4g} µmol is extrapolated, {side} the calibrated range "
                    f"{rng}; add {fix} standard to cover it"
                ),
            )
        return AmountResult(
            gas=self.gas,
            area=area,
            amount_umol=raw,
            in_range=True,
            extrapolated=False,
            below_intercept=False,
            message=f"{self.gas}: {raw:.4g} µmol, within the calibrated range {rng}",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the units of every quantity spelled out."""
        return {
            "gas": self.gas,
            "method": self.method,
            "created": self.created,
            "model": "area = slope * amount + intercept",
            "slope": self.slope,
            "slope_unit": f"{self.area_unit}/{self.amount_unit}",
            "intercept": self.intercept,
            "intercept_unit": self.area_unit,
            "r_squared": self.r_squared,
            "residuals": list(self.residuals),
            "residuals_unit": self.area_unit,
            "amount_min_umol": self.amount_min_umol,
            "amount_max_umol": self.amount_max_umol,
            "n_points": self.n_points,
            "units": self.units,
            "area_unit": self.area_unit,
            "amount_unit": self.amount_unit,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Rebuild from :meth:`to_dict` output; refuses units other than µV·s and µmol."""
        try:
            units = str(data.get("units", "area_per_umol"))
            area_unit = str(data.get("area_unit", AREA_UNIT))
            amount_unit = str(data.get("amount_unit", "umol"))
            if (units, area_unit, amount_unit) != ("area_per_umol", AREA_UNIT, "umol"):
                raise CalibrationError(
                    f"calibration units {units}, {area_unit}, {amount_unit} are not area_per_umol, {AREA_UNIT}, umol"
                )
            return cls(
                gas=str(data["gas"]),
                slope=float(data["slope"]),
                intercept=float(data["intercept"]),
                r_squared=float(data["r_squared"]),
                residuals=tuple(float(r) for r in data["residuals"]),
                amount_min_umol=float(data["amount_min_umol"]),
                amount_max_umol=float(data["amount_max_umol"]),
                created=str(data["created"]),
                method=str(data["method"]),
                n_points=int(data["n_points"]),
                units=units,
                area_unit=area_unit,
                amount_unit=amount_unit,
            )
        except KeyError as exc:
            raise CalibrationError(f"calibration record lacks the field {exc}") from exc

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON (atomically: temporary file, then rename)."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Calibration:
        """Read a calibration written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CalibrationError(f"{path}: not a JSON calibration ({exc})") from exc
        if not isinstance(data, dict):
            raise CalibrationError(f"{path}: expected a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)


def _fit_text(slope: float, intercept: float, r2: float) -> str:
    return f"area = {slope:.6g} * amount + {intercept:.6g} {AREA_UNIT}, R^2 = {r2:.5f}"


def fit_calibration(
    gas: str,
    amounts_umol: Sequence[float] | np.ndarray,
    areas: Sequence[float] | np.ndarray,
    *,
    method: str,
    min_r2: float = 0.999,
    min_points: int = 3,
    created: datetime | None = None,
) -> Calibration:
    """Least-squares line ``area = slope * amount + intercept`` through external standards.

    ``amounts_umol`` are µmol injected per standard, ``areas`` their peak areas in µV·s.
    Raises :class:`CalibrationError` (naming the gas, the fit, the limit and the fix) when
    there are fewer than ``min_points`` standards, fewer than 2 distinct amounts, a slope
    that is not positive, or ``R^2 < min_r2``.
    """
    x = np.asarray(amounts_umol, dtype=float)
    y = np.asarray(areas, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise CalibrationError(f"{gas}: amounts and areas must be 1-D of equal length, got {x.shape}, {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise CalibrationError(f"{gas}: amounts and areas must be finite numbers")
    if np.any(x < 0):
        raise CalibrationError(f"{gas}: standard amounts must be >= 0 µmol, got {x.tolist()}")
    n = int(x.size)

    fit = "fit: not computed"
    slope = intercept = r2 = math.nan
    residuals = np.full(n, math.nan)
    if n >= 2 and np.ptp(x) > 0:
        slope, intercept = (float(v) for v in np.polyfit(x, y, 1))
        residuals = y - (slope * x + intercept)
        ss_res = float(np.sum(residuals**2))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
        fit = "fit: " + _fit_text(slope, intercept, r2)

    if n < min_points:
        raise CalibrationError(
            f"{gas} calibration needs at least {min_points} standards, got {n} ({fit}). "
            f"Fix: inject at least {min_points} standards spanning the expected amounts."
        )
    if not np.ptp(x) > 0:
        raise CalibrationError(
            f"{gas} calibration needs at least 2 different amounts, got {x.tolist()} µmol. "
            "Fix: inject standards of different amounts spanning the expected range."
        )
    if not slope > 0:
        raise CalibrationError(
            f"{gas} calibration slope is not positive ({fit}, n = {n} points). "
            "Fix: check that the areas belong to this gas and to the right standards."
        )
    if r2 < min_r2:
        raise CalibrationError(
            f"{gas} calibration rejected: R^2 = {r2:.5f} is below the limit {min_r2} "
            f"(n = {n} points, {fit}; residuals {np.round(residuals, 1).tolist()} {AREA_UNIT}). "
            "Fix: repeat the outlying standards (check leaks, loop purge and pressure), or "
            "narrow the range to where the detector is linear."
        )
    stamp = (created or datetime.now(UTC)).isoformat(timespec="seconds")
    return Calibration(
        gas=gas,
        slope=slope,
        intercept=intercept,
        r_squared=r2,
        residuals=tuple(float(r) for r in residuals),
        amount_min_umol=float(x.min()),
        amount_max_umol=float(x.max()),
        created=stamp,
        method=method,
        n_points=n,
    )


# -------------------------------------------------------------------------- loop -> headspace


def headspace_amount_umol(
    injected_umol: float,
    *,
    loop_volume_ml: float,
    loop_temperature_k: float,
    loop_pressure_pa: float,
    headspace_volume_ml: float,
    headspace_temperature_k: float,
    headspace_pressure_pa: float,
) -> float:
    """µmol of a gas in the reactor headspace from the µmol found in the sample loop.

    The loop holds ``n_loop = p V / (R T)`` of headspace gas at its own temperature and
    pressure, so the mole fraction is ``injected / n_loop``; the headspace holds
    ``n_head = p V / (R T)`` (gas volume, i.e. reactor volume minus liquid), giving
    ``fraction * n_head``. Ideal gas at the actual conditions (never 22.4 L/mol).
    A mole fraction above 1.1 raises ``ValueError`` (the loop cannot hold that much;
    check the loop volume, T, p or the calibration).
    """
    named = {
        "loop_volume_ml": loop_volume_ml,
        "loop_temperature_k": loop_temperature_k,
        "loop_pressure_pa": loop_pressure_pa,
        "headspace_volume_ml": headspace_volume_ml,
        "headspace_temperature_k": headspace_temperature_k,
        "headspace_pressure_pa": headspace_pressure_pa,
    }
    for name, value in named.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value}")
    if not (math.isfinite(injected_umol) and injected_umol >= 0):
        raise ValueError(f"injected_umol must be a finite number >= 0, got {injected_umol}")
    ml_to_m3 = 1e-6
    n_loop_umol = loop_pressure_pa * loop_volume_ml * ml_to_m3 / (gas_constant * loop_temperature_k) * 1e6
    n_head_umol = (
        headspace_pressure_pa * headspace_volume_ml * ml_to_m3 / (gas_constant * headspace_temperature_k) * 1e6
    )
    fraction = injected_umol / n_loop_umol
    if fraction > 1.1:
        raise ValueError(
            f"{injected_umol} µmol injected is a mole fraction of {fraction:.3g} of the "
            f"{n_loop_umol:.4g} µmol the loop holds; check the loop volume, T, p or calibration"
        )
    return fraction * n_head_umol
