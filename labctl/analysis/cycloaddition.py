"""Figures of merit of a CO2 + epoxide cycloaddition run: conversion, TON, TOF, CO2 uptake, recycling.

Definitions follow Baek et al., Nature Materials 2021 (doi 10.1038/s41563-020-00880-6):

* PO charged: volume x density / molar mass (3 mL x 0.83 g/mL / 58.08 g/mol = 42.9 mmol).
* TON per cluster = 13 x (mmol PO converted) / (mmol surface metal, from ICP-AES): each
  (M13Se13) cluster carries 13 surface metals, so this is PO converted per cluster.
* TOF per cluster = TON / hold time in hours.
* CO2 uptake from the headspace pressure, ideal gas in a fixed headspace volume V:
  n = p V / (R T) at each reading, and uptake = n(before) - n(after).  Two comparisons:

  - ``co2_uptake_mmol``: the first reading vs the last reading of the record (cold before
    heat-up vs cold after cool-down, both near the same temperature), which counts all the CO2
    consumed, including during heat-up and cool-down.  This is the one compared with PO.
  - ``co2_uptake_hold_mmol``: readings interpolated at the start and the end of the hold window
    (both at the hold temperature); misses what reacts while heating and cooling.

  Each reading is divided by its own temperature, so the uptake is exact for an ideal gas even
  when the two temperatures differ slightly.  CO2 dissolved in the liquid is not counted: the
  cold readings are comparable only if the solubility is the same at both ends.

Inputs in the units named in each argument: conversion as a fraction 0..1, amounts in mmol or
umol, times in s, pressures in Pa (absolute), temperatures in K, volumes in mL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

GAS_CONSTANT_J_PER_MOL_K = 8.314462618
METALS_PER_CLUSTER = 13
S_PER_H = 3600.0
PO_DENSITY_G_PER_ML = 0.83
PO_MOLAR_MASS_G_PER_MOL = 58.08
RECYCLING_TOLERANCE_POINTS = 3.0  # percentage points of conversion allowed to drop over the cycles
UPTAKE_MISMATCH_TOLERANCE = 0.10  # relative mismatch of CO2 uptake vs PO converted worth a note


def po_mmol(
    volume_ml: float,
    density_g_per_ml: float = PO_DENSITY_G_PER_ML,
    molar_mass: float = PO_MOLAR_MASS_G_PER_MOL,
) -> float:
    """mmol of epoxide in ``volume_ml`` mL: volume x density (g/mL) / molar mass (g/mol) x 1000."""
    _require_positive("volume_ml", volume_ml, "give the epoxide volume in mL, e.g. 3.0")
    _require_positive("density_g_per_ml", density_g_per_ml, "give the density in g/mL, e.g. 0.83 for PO")
    _require_positive("molar_mass", molar_mass, "give the molar mass in g/mol, e.g. 58.08 for PO")
    return volume_ml * density_g_per_ml / molar_mass * 1000.0


@dataclass(frozen=True)
class CycloResult:
    """Figures of merit of one cycloaddition run (units in the names; TOF per hour)."""

    conversion: float
    conversion_percent: float
    ton: float
    tof: float
    po_converted_mmol: float
    surface_metal_umol: float
    hold_h: float
    co2_uptake_mmol: float | None = None
    co2_uptake_hold_mmol: float | None = None
    co2_uptake_vs_po: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the figures (notes as a list), JSON-serializable."""
        d = asdict(self)
        d["notes"] = list(self.notes)
        return d


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _require_positive(name: str, value: Any, fix: str) -> None:
    f = _as_float(value)
    if not (math.isfinite(f) and f > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}; {fix}")


def _require_fraction(name: str, value: Any, fix: str) -> None:
    f = _as_float(value)
    if not (math.isfinite(f) and 0.0 <= f <= 1.0):
        raise ValueError(f"{name} must be a fraction within 0..1, got {value!r}; {fix}")


def _as_series(name: str, values: Sequence[float], n: int | None) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if n is not None and arr.shape != (n,):
        raise ValueError(f"{name} has {arr.size} readings but pressures_pa has {n}; give one per pressure reading")
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(
            f"{name} must be a 1-D sequence of at least 2 readings, got shape {arr.shape}; give the whole record"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {values!r}; drop or fix the bad readings")
    return arr


def _moles_mmol(p_pa: float, t_k: float, v_ml: float) -> float:
    return p_pa * v_ml * 1e-6 / (GAS_CONSTANT_J_PER_MOL_K * t_k) * 1000.0


def cycloaddition_figures(
    *,
    conversion: float,
    epoxide_mmol: float,
    surface_metal_umol: float,
    hold_s: float,
    pressures_pa: Sequence[float] | None = None,
    temperatures_k: Sequence[float] | None = None,
    times_s: Sequence[float] | None = None,
    headspace_ml: float | None = None,
    hold_window: tuple[float, float] | None = None,
) -> CycloResult:
    """TON and TOF per cluster, and CO2 uptake from the headspace pressure if given.

    :param conversion: PO conversion (fraction 0..1, e.g. from 1H NMR).
    :param epoxide_mmol: PO charged, mmol (see :func:`po_mmol`).
    :param surface_metal_umol: surface metal of the loaded catalyst from ICP-AES, umol.
    :param hold_s: time at reaction temperature, s (TOF = TON / hours).
    :param pressures_pa: headspace pressure readings, Pa absolute; needs ``temperatures_k``
        (same length) and ``headspace_ml``.
    :param temperatures_k: headspace temperature at each pressure reading, K.
    :param times_s: time of each reading, s, increasing; needed with ``hold_window``.
    :param headspace_ml: gas volume over the liquid, mL.
    :param hold_window: (start, end) of the hold in the time base of ``times_s``, s.
    """
    _require_fraction("conversion", conversion, "pass the conversion as a fraction (e.g. 0.69, not 69 %)")
    _require_positive("epoxide_mmol", epoxide_mmol, "give the epoxide charged in mmol, e.g. po_mmol(3.0) = 42.9")
    _require_positive("surface_metal_umol", surface_metal_umol, "give the ICP-AES surface metal in umol (not mmol)")
    _require_positive("hold_s", hold_s, "give the hold time at temperature in seconds, e.g. 6 h = 21600")

    conversion, epoxide_mmol, surface_metal_umol, hold_s = (
        float(conversion),
        float(epoxide_mmol),
        float(surface_metal_umol),
        float(hold_s),
    )
    po_converted = conversion * epoxide_mmol
    ton = METALS_PER_CLUSTER * po_converted / (surface_metal_umol / 1000.0)
    hold_h = hold_s / S_PER_H
    notes: list[str] = []
    if conversion == 0.0:
        notes.append("no PO converted: TON and TOF are 0")
    if conversion >= 0.99:
        notes.append("conversion near 100 %: TON is limited by the epoxide charged, use less catalyst for TON")

    uptake: float | None = None
    uptake_hold: float | None = None
    ratio: float | None = None
    if pressures_pa is None:
        if temperatures_k is not None or times_s is not None or hold_window is not None:
            raise ValueError(
                "temperatures_k, times_s or hold_window given without pressures_pa; pass the pressures too"
            )
    else:
        p = _as_series("pressures_pa", pressures_pa, None)
        if np.any(p < 0):
            raise ValueError(
                f"pressures_pa must be >= 0 Pa absolute, got min {p.min()!r}; pass absolute pressures in Pa"
            )
        if temperatures_k is None:
            raise ValueError(
                "temperatures_k is required with pressures_pa; give the headspace temperature (K) per reading"
            )
        t_k = _as_series("temperatures_k", temperatures_k, p.size)
        if np.any(t_k <= 0):
            raise ValueError(f"temperatures_k must be > 0 K, got min {t_k.min()!r}; pass kelvin, not degC")
        if headspace_ml is None:
            raise ValueError("headspace_ml is required with pressures_pa; give the gas volume over the liquid in mL")
        _require_positive("headspace_ml", headspace_ml, "give the gas volume over the liquid in mL, e.g. 147")
        headspace_ml = float(headspace_ml)
        uptake = _moles_mmol(p[0], t_k[0], headspace_ml) - _moles_mmol(p[-1], t_k[-1], headspace_ml)
        if hold_window is not None:
            if times_s is None:
                raise ValueError("times_s is required with hold_window; give the time (s) of each reading")
            ts = _as_series("times_s", times_s, p.size)
            if np.any(np.diff(ts) <= 0):
                raise ValueError("times_s must be strictly increasing; sort the readings by time")
            start, end = (float(v) for v in hold_window)
            if not (ts[0] <= start < end <= ts[-1]):
                raise ValueError(
                    f"hold_window must satisfy {ts[0]!r} <= start < end <= {ts[-1]!r} s, got {hold_window!r}; "
                    "give (start, end) of the hold within the readings"
                )
            n_start = _moles_mmol(float(np.interp(start, ts, p)), float(np.interp(start, ts, t_k)), headspace_ml)
            n_end = _moles_mmol(float(np.interp(end, ts, p)), float(np.interp(end, ts, t_k)), headspace_ml)
            uptake_hold = n_start - n_end
        if po_converted > 0:
            ratio = uptake / po_converted
            if abs(ratio - 1.0) > UPTAKE_MISMATCH_TOLERANCE:
                notes.append(
                    f"CO2 uptake from the pressure drop is {ratio:.2f} x the PO converted: check for a leak, "
                    "CO2 resupply, dissolved CO2 or the headspace volume"
                )
        if abs(t_k[0] - t_k[-1]) > 5.0:
            notes.append("first and last readings differ by more than 5 K: dissolved CO2 may bias the uptake")

    return CycloResult(
        conversion=float(conversion),
        conversion_percent=100.0 * float(conversion),
        ton=float(ton),
        tof=float(ton / hold_h),
        po_converted_mmol=float(po_converted),
        surface_metal_umol=float(surface_metal_umol),
        hold_h=float(hold_h),
        co2_uptake_mmol=None if uptake is None else float(uptake),
        co2_uptake_hold_mmol=None if uptake_hold is None else float(uptake_hold),
        co2_uptake_vs_po=None if ratio is None else float(ratio),
        notes=tuple(notes),
    )


def recycling_summary(
    conversions: Sequence[float], *, tolerance_points: float = RECYCLING_TOLERANCE_POINTS
) -> dict[str, Any]:
    """Conversion over recycling cycles: per cycle, mean, min, drop first -> last, stability.

    ``drop_points`` is (first - last) x 100, in percentage points; ``stable`` is True when it is
    at most ``tolerance_points`` (3 by default).
    """
    values = list(conversions)
    if not values:
        raise ValueError("conversions is empty; give one conversion (fraction 0..1) per cycle")
    for i, c in enumerate(values):
        _require_fraction(f"conversions[{i}]", c, "pass each cycle's conversion as a fraction (e.g. 0.98, not 98 %)")
    if not (math.isfinite(tolerance_points) and tolerance_points >= 0):
        raise ValueError(f"tolerance_points must be >= 0, got {tolerance_points!r}; e.g. 3.0 percentage points")
    arr = np.asarray(values, dtype=float)
    drop = 100.0 * float(arr[0] - arr[-1])
    return {
        "cycles": len(values),
        "conversions": [float(c) for c in arr],
        "conversion_percent": [100.0 * float(c) for c in arr],
        "mean": float(arr.mean()),
        "min": float(arr.min()),
        "drop_points": drop,
        "stable": bool(drop <= tolerance_points),
    }
