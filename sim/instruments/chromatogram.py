"""Synthesize gas-chromatograph TCD traces of a photoreactor headspace and export them as CSV.

This module is the simulator side of the GC: given the µmol of each gas injected through the
gas sampling valve, it produces the detector trace (time in min, signal in µV) a packed
molecular-sieve 5A column with Ar carrier and a thermal-conductivity detector would give, and
writes it in the chromatography-data-system style CSV export that the analysis side reads.

Units
-----
* time: minutes; signal: µV.
* Peak area: **µV·s** (signal integrated over time in seconds). A response factor is therefore
  in µV·s per µmol injected, and a trace integrated with the time axis in minutes must be
  multiplied by 60 to get the area in µV·s.

Export format (``write_chromatogram``), version ``gc-trace-csv/1``
------------------------------------------------------------------
UTF-8 text, ``\\n`` line ends::

    # format: gc-trace-csv/1
    # sample: reactor-A t=60min
    # injected_at: 2024-05-01T10:00:00+00:00
    # method: MS5A-Ar
    # detector: TCD
    # units: min,uV
    time_min,signal_uV
    0.000000,50.1234
    0.001667,49.8765
    ...

* A header block of ``# key: value`` lines (key without ``:``, split at the first ``:``; values
  are free text on one line). ``format`` and ``units`` are always written; ``units`` is
  ``min,uV``.
* Then exactly one column-header line ``time_min,signal_uV``.
* Then one ``time,signal`` row per sample, decimal numbers, time strictly increasing.

The file is written to a hidden temporary name (``.<name>.<random>.tmp``) in the destination
folder and moved into place with ``os.replace``, so a folder watcher that ignores dot-files and
``*.tmp`` never sees a half-written trace.

Only numpy and the standard library are used here; the analysis side keeps its own reader of
the same format (the format above is the contract between the two).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "AREA_UNIT",
    "FORMAT_VERSION",
    "MOLSIEVE_5A_AR",
    "ColumnMethod",
    "PeakSpec",
    "peak_profile",
    "synthesize_chromatogram",
    "write_chromatogram",
]

AREA_UNIT = "uV*s"
"""Unit of peak areas and of the numerator of response factors (µV·s)."""

FORMAT_VERSION = "gc-trace-csv/1"
"""Value of the ``# format:`` header line written by :func:`write_chromatogram`."""

COLUMN_HEADER = "time_min,signal_uV"
UNITS = "min,uV"

_SQRT2 = math.sqrt(2.0)
_SQRT_PI = math.sqrt(math.pi)
_ERFCX_ASYMPTOTIC_FROM = 20.0


@dataclass(frozen=True)
class PeakSpec:
    """How one gas elutes and responds on a method.

    ``retention_min`` is the centre of the Gaussian component; with tailing (``tau_min > 0``)
    the peak is an exponentially modified Gaussian whose apex lags the centre by less than
    ``tau_min``. ``response_factor`` is the TCD area per µmol injected, in µV·s/µmol.
    """

    gas: str
    retention_min: float
    sigma_min: float
    response_factor: float
    tau_min: float = 0.0

    def __post_init__(self) -> None:
        if not self.gas:
            raise ValueError("PeakSpec.gas must be a non-empty gas name")
        if not self.retention_min > 0:
            raise ValueError(f"{self.gas}: retention_min must be > 0, got {self.retention_min}")
        if not self.sigma_min > 0:
            raise ValueError(f"{self.gas}: sigma_min must be > 0, got {self.sigma_min}")
        if not self.response_factor > 0:
            raise ValueError(f"{self.gas}: response_factor must be > 0 µV·s/µmol, got {self.response_factor}")
        if not self.tau_min >= 0:
            raise ValueError(f"{self.gas}: tau_min must be >= 0, got {self.tau_min}")


@dataclass(frozen=True)
class ColumnMethod:
    """A GC method: column, carrier, detector response, acquisition and baseline behaviour.

    Baseline: ``baseline_offset_uv + baseline_drift_uv_per_min * t`` plus white noise of
    ``baseline_noise_uv`` µV rms. Samples are taken every ``1 / sampling_rate_hz`` s from 0 to
    ``run_time_min`` inclusive.
    """

    name: str
    peaks: tuple[PeakSpec, ...]
    run_time_min: float = 7.0
    sampling_rate_hz: float = 10.0
    baseline_offset_uv: float = 50.0
    baseline_drift_uv_per_min: float = 1.5
    baseline_noise_uv: float = 2.0
    detector: str = "TCD"
    carrier: str = "Ar"
    area_unit: str = field(default=AREA_UNIT)

    def __post_init__(self) -> None:
        gases = [p.gas for p in self.peaks]
        if len(set(gases)) != len(gases):
            raise ValueError(f"method {self.name}: duplicate gases in {gases}")
        if not self.run_time_min > 0:
            raise ValueError(f"method {self.name}: run_time_min must be > 0")
        if not self.sampling_rate_hz > 0:
            raise ValueError(f"method {self.name}: sampling_rate_hz must be > 0")
        if not self.baseline_noise_uv >= 0:
            raise ValueError(f"method {self.name}: baseline_noise_uv must be >= 0")
        for p in self.peaks:
            if p.retention_min >= self.run_time_min:
                raise ValueError(
                    f"method {self.name}: {p.gas} elutes at {p.retention_min} min, after the "
                    f"end of the run ({self.run_time_min} min)"
                )

    @property
    def gases(self) -> tuple[str, ...]:
        """Gases this method separates and detects, in elution order as listed."""
        return tuple(p.gas for p in self.peaks)

    def peak(self, gas: str) -> PeakSpec:
        """The peak description of ``gas``; ``KeyError`` if the method does not see it."""
        for p in self.peaks:
            if p.gas == gas:
                return p
        raise KeyError(f"method {self.name} has no peak for {gas!r} (it sees {self.gases})")

    def time_axis_min(self) -> np.ndarray:
        """Sample times in minutes, from 0 to ``run_time_min`` inclusive."""
        n = round(self.run_time_min * 60.0 * self.sampling_rate_hz) + 1
        return np.arange(n, dtype=float) / (60.0 * self.sampling_rate_hz)

    def baseline_uv(self, time_min: np.ndarray) -> np.ndarray:
        """The noise-free baseline (offset plus linear drift) at ``time_min``."""
        return self.baseline_offset_uv + self.baseline_drift_uv_per_min * np.asarray(time_min)


MOLSIEVE_5A_AR = ColumnMethod(
    name="MS5A-Ar",
    # 2 m packed molecular sieve 5A, ~50 °C isothermal, Ar carrier, TCD. Widths grow with
    # retention (roughly constant plate count). With Ar carrier H2 gives a large response
    # (its thermal conductivity is ~10x that of Ar); O2, N2, CH4 and CO differ from Ar far
    # less. CO2 is retained on MS-5A and never elutes, so it has no peak here.
    peaks=(
        PeakSpec("H2", retention_min=0.95, sigma_min=0.026, response_factor=40000.0, tau_min=0.010),
        PeakSpec("O2", retention_min=1.60, sigma_min=0.036, response_factor=3500.0, tau_min=0.015),
        PeakSpec("N2", retention_min=2.40, sigma_min=0.048, response_factor=3200.0, tau_min=0.020),
        PeakSpec("CH4", retention_min=3.60, sigma_min=0.066, response_factor=5000.0, tau_min=0.030),
        PeakSpec("CO", retention_min=5.20, sigma_min=0.090, response_factor=3000.0, tau_min=0.040),
    ),
    run_time_min=7.0,
    sampling_rate_hz=10.0,
    baseline_offset_uv=50.0,
    baseline_drift_uv_per_min=1.5,
    baseline_noise_uv=2.0,
)
"""Default method: MS-5A packed column, Ar carrier, TCD; H2, O2, N2, CH4, CO in that order."""


_erfc = np.vectorize(math.erfc, otypes=[float])


def _erfcx_nonneg(z: np.ndarray) -> np.ndarray:
    """Scaled complementary error function exp(z²)·erfc(z) for z >= 0, without overflow."""
    out = np.empty_like(z)
    small = z < _ERFCX_ASYMPTOTIC_FROM
    zs = z[small]
    out[small] = np.exp(zs * zs) * _erfc(zs)
    zl = z[~small]
    inv2 = 1.0 / (zl * zl)
    out[~small] = (1.0 - 0.5 * inv2 + 0.75 * inv2 * inv2) / (zl * _SQRT_PI)
    return out


def peak_profile(
    time_min: np.ndarray,
    *,
    area_uv_s: float,
    retention_min: float,
    sigma_min: float,
    tau_min: float = 0.0,
) -> np.ndarray:
    """Signal in µV of one peak of area ``area_uv_s`` (µV·s) sampled at ``time_min``.

    A Gaussian centred at ``retention_min`` when ``tau_min == 0``, otherwise an exponentially
    modified Gaussian (Gaussian convolved with a one-sided exponential of time constant
    ``tau_min``), which gives the tail of packed-column peaks.
    """
    t = np.asarray(time_min, dtype=float)
    # Integral over t in minutes must be area/60 µV·min so that over seconds it is area µV·s.
    scale = area_uv_s / 60.0
    d = t - retention_min
    gauss = np.exp(-0.5 * (d / sigma_min) ** 2)
    if tau_min <= 0.0:
        return scale * gauss / (sigma_min * _SQRT2 * _SQRT_PI)
    lam = 1.0 / tau_min
    z = (sigma_min * lam - d / sigma_min) / _SQRT2
    density = np.empty_like(t)
    # Before the apex region (z >= 0): Gaussian times the scaled erfc, both bounded.
    lead = z >= 0
    density[lead] = gauss[lead] * _erfcx_nonneg(z[lead])
    # In the tail (z < 0) the textbook form exp(lam*(mu - t) + (lam*sigma)²/2)·erfc(z) has a
    # negative exponent and erfc(z) in (1, 2], so nothing overflows.
    tail = ~lead
    density[tail] = np.exp(-lam * d[tail] + 0.5 * (lam * sigma_min) ** 2) * _erfc(z[tail])
    return scale * 0.5 * lam * density


def synthesize_chromatogram(
    injected_umol: Mapping[str, float],
    method: ColumnMethod,
    rng: np.random.Generator,
    area_noise: float = 0.015,
) -> tuple[np.ndarray, np.ndarray]:
    """Time (min) and TCD signal (µV) of one injection of ``injected_umol`` on ``method``.

    Each gas the method sees gets a peak of area
    ``response_factor * µmol * (1 + area_noise * N(0, 1))`` µV·s (clipped at 0), on a baseline
    with the method's offset, linear drift and white noise. Gases the method does not elute
    (CO2 on MS-5A, the Ar carrier itself, ...) are ignored and draw no random numbers, so
    adding them never changes the trace.
    """
    if area_noise < 0:
        raise ValueError(f"area_noise must be >= 0, got {area_noise}")
    for gas, amount in injected_umol.items():
        if not math.isfinite(amount) or amount < 0:
            raise ValueError(f"injected amount of {gas} must be a finite µmol >= 0, got {amount}")
    t = method.time_axis_min()
    signal = method.baseline_uv(t)
    for spec in method.peaks:
        if spec.gas not in injected_umol:
            continue
        factor = 1.0 + area_noise * float(rng.standard_normal())
        area = max(0.0, spec.response_factor * float(injected_umol[spec.gas]) * factor)
        signal = signal + peak_profile(
            t,
            area_uv_s=area,
            retention_min=spec.retention_min,
            sigma_min=spec.sigma_min,
            tau_min=spec.tau_min,
        )
    if method.baseline_noise_uv > 0:
        signal = signal + rng.normal(0.0, method.baseline_noise_uv, size=t.shape)
    return t, signal


def _check_header_text(key: str, value: str) -> None:
    if not key or ":" in key or "\n" in key or "\r" in key or key != key.strip():
        raise ValueError(f"metadata key {key!r} must be non-empty, trimmed, without ':' or newline")
    if "\n" in value or "\r" in value:
        raise ValueError(f"metadata value of {key!r} must be a single line, got {value!r}")


def write_chromatogram(
    path: str | os.PathLike[str],
    time_min: np.ndarray,
    signal_uv: np.ndarray,
    *,
    metadata: Mapping[str, object],
) -> Path:
    """Write a trace as ``gc-trace-csv/1`` (see the module docstring) atomically; return the path.

    ``metadata`` becomes the ``# key: value`` header (values converted with ``str``); typical
    keys are ``sample``, ``injected_at`` (ISO 8601), ``method`` and ``detector``. ``format`` and
    ``units`` are added; a ``units`` entry other than ``min,uV`` is refused.
    """
    path = Path(path)
    t = np.asarray(time_min, dtype=float)
    s = np.asarray(signal_uv, dtype=float)
    if t.ndim != 1 or t.shape != s.shape:
        raise ValueError(f"time and signal must be 1-D of equal length, got {t.shape}, {s.shape}")
    if t.size < 2:
        raise ValueError("a chromatogram needs at least 2 samples")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(s))):
        raise ValueError("time and signal must be finite")
    if not np.all(np.diff(t) > 0):
        raise ValueError("time must be strictly increasing")

    header: dict[str, str] = {"format": FORMAT_VERSION}
    for key, value in metadata.items():
        text = str(value)
        _check_header_text(key, text)
        if key == "units" and text.replace(" ", "") != UNITS:
            raise ValueError(f"units must be {UNITS!r} (time in min, signal in µV), got {text!r}")
        if key == "format" and text != FORMAT_VERSION:
            raise ValueError(f"format must be {FORMAT_VERSION!r}, got {text!r}")
        header[key] = text
    header["units"] = UNITS

    lines = [f"# {key}: {value}" for key, value in header.items()]
    lines.append(COLUMN_HEADER)
    lines.extend(f"{ti:.6f},{si:.4f}" for ti, si in zip(t, s, strict=True))
    text = "\n".join(lines) + "\n"

    folder = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; make the export readable
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path
