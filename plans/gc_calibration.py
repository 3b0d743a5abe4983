"""GC calibration by external standards: inject known amounts, fit area vs amount, keep the line.

For each gas and each amount, the operator fills the sampling loop (or syringe) with the
standard -- the plan says which volume of which standard at which temperature and pressure,
from n = x p V / (R T) -- and the GC runs it (stream ``primary``: areas and µmol of every gas,
one event per injection, in the order listed in the start document's ``standards``).  Then the
bench's calibration store fits ``area = slope * amount + intercept``; a fit with R² below
``min_r2`` is refused with the fit and its residuals in the message (the injections stay in the
run), a good one is saved with its date, method and range, recorded in stream ``calibration``
and used by every run that follows.

Fewer than 3 amounts are refused before anything is injected.  Amounts in µmol injected,
volumes in µL, temperature in K, pressure in Pa.
"""

import math
from collections.abc import Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from labctl.devices.gc import CalibrationRequest, CalibrationStore, GasChromatograph
from labctl.devices.operator import HandStep, Operator
from labctl.devices.photoreactor import BenchClock
from labctl.plans.stubs import Checks, MsgGen, si_args

GAS_CONSTANT = 8.314462618  # J mol^-1 K^-1
MIN_STANDARDS = 3


def standard_volume_ul(umol: float, *, fraction: float, temperature_k: float, pressure_pa: float) -> float:
    """Volume of a standard gas (mole fraction ``fraction``) holding ``umol`` of the gas, µL."""
    return umol * 1e-6 * GAS_CONSTANT * temperature_k / (fraction * pressure_pa) * 1e9


def check_gc_calibration(
    gc: GasChromatograph,
    *,
    gases: Sequence[str],
    amounts_umol: Sequence[float],
    standard_fraction: float,
    standard_temperature_k: float,
    standard_pressure_pa: float,
    replicates: int,
    min_r2: float,
) -> Checks:
    checks = Checks()
    need = checks.need
    checks.finite(
        amounts_umol=list(amounts_umol),
        standard_fraction=standard_fraction,
        standard_temperature_k=standard_temperature_k,
        standard_pressure_pa=standard_pressure_pa,
        replicates=replicates,
        min_r2=min_r2,
    )
    need(bool(gases), "give at least one gas, e.g. gas=H2", "gases given")
    for gas in gases:
        need(
            gas in gc.gases,
            f"gas={gas} is not one this GC method reports ({', '.join(gc.gases)}); choose one of those",
            f"{gas} reported by the GC",
        )
    distinct = sorted(set(amounts_umol))
    need(
        len(distinct) >= MIN_STANDARDS,
        f"amounts={','.join(f'{a:g}' for a in amounts_umol)} µmol gives {len(distinct)} distinct standard(s); a "
        f"calibration needs at least {MIN_STANDARDS} to fit a line and judge it; add standards spanning the "
        "expected amounts, e.g. amounts=0.5,1,2,5,10umol",
        f"{len(distinct)} standards",
    )
    need(
        all(a > 0 and math.isfinite(a) for a in amounts_umol),
        f"amounts must be > 0 µmol, got {list(amounts_umol)}",
        "amounts > 0",
    )
    need(
        0 < standard_fraction <= 1,
        f"standard_fraction={standard_fraction:g} must be a mole fraction in (0, 1], e.g. 0.01 for 1 %",
        f"standard at {100 * standard_fraction:g} %",
    )
    need(
        standard_temperature_k > 0 and standard_pressure_pa > 0,
        "the standard's temperature and pressure must be > 0",
        "standard T and p",
    )
    need(1 <= replicates <= 10, f"replicates={replicates} must be 1-10", f"{replicates} injection(s) per amount")
    need(0.9 <= min_r2 < 1, f"min_r2={min_r2:g} must be in [0.9, 1)", f"fit accepted at R² >= {min_r2:g}")
    return checks


def gc_calibration(
    gc: GasChromatograph,
    store: CalibrationStore,
    operator: Operator,
    clock: BenchClock,
    *,
    gases: Sequence[str],
    amounts_umol: Sequence[float | str],
    standard_fraction: float = 1.0,
    standard_temperature_k: float | str = 298.15,
    standard_pressure_pa: float | str = 101_325.0,
    replicates: int = 1,
    min_r2: float = 0.995,
    md: dict[str, Any] | None = None,
) -> MsgGen:
    """Calibrate the GC for ``gases`` with standards of ``amounts_umol`` (see module docstring).

    Parameters
    ----------
    gc : GasChromatograph
        The GC to calibrate.
    store : CalibrationStore
        Where the fitted calibrations are saved (the device ``gc_calibrations``).
    operator : Operator
        The person at the bench: injects each standard.
    clock : BenchClock
        The bench clock.
    gases : list of str
        Gases to calibrate, e.g. ["H2"].
    amounts_umol : list of float or str
        Amounts of each standard, in umol (or e.g. "2 umol").
    standard_fraction : float
        Mole fraction of the gas in the standard (1 for a pure gas).
    standard_temperature_k : float or str
        Temperature of the standard gas, in K.
    standard_pressure_pa : float or str
        Pressure of the standard gas, in Pa.
    replicates : int
        Injections per amount.
    min_r2 : float
        Lowest R² of a fit that is saved.
    md : dict, optional
        Metadata added to the start document.
    """
    amounts_umol, standard_temperature_k, standard_pressure_pa = si_args(
        amounts_umol=list(amounts_umol),
        standard_temperature_k=standard_temperature_k,
        standard_pressure_pa=standard_pressure_pa,
    )
    args = {
        "gases": list(gases),
        "amounts_umol": list(amounts_umol),
        "standard_fraction": standard_fraction,
        "standard_temperature_k": standard_temperature_k,
        "standard_pressure_pa": standard_pressure_pa,
        "replicates": replicates,
        "min_r2": min_r2,
    }
    checks = check_gc_calibration(gc, **args)  # type: ignore[arg-type]
    order = [(gas, a) for gas in gases for a in amounts_umol for _ in range(replicates)]
    _md: dict[str, Any] = {
        "plan_name": "gc_calibration",
        "experiment": "gc-calibration",
        "plan_args": args,
        "standards": [{"gas": g, "umol": a} for g, a in order],
        "detectors": [gc.name],
        "planned_duration_s": len(order) * (gc.run_time_s + 60),
        "checks": list(checks),
    }
    _md.update(md or {})

    @bpp.run_decorator(md=_md)
    def inner() -> MsgGen:
        yield from bps.mv(clock, 0.0)
        for gas in gases:
            areas: list[float] = []
            for umol in [a for g, a in order if g == gas]:
                ul = standard_volume_ul(
                    umol,
                    fraction=standard_fraction,
                    temperature_k=standard_temperature_k,
                    pressure_pa=standard_pressure_pa,
                )
                text = (
                    f"Fill the GC sampling loop with {ul:.3g} µL of the {gas} standard ({100 * standard_fraction:g} % "
                    f"in Ar) at {standard_temperature_k - 273.15:.1f} °C and {standard_pressure_pa / 1000:.1f} kPa "
                    f"({umol:g} µmol {gas})"
                )
                yield from bps.mv(operator, HandStep(f"gc_standard:{gas}", text, umol))
                yield from bps.checkpoint()
                yield from bps.trigger_and_read([gc, clock])
                areas.append((yield from bps.rd(getattr(gc, f"{gas.lower()}_area"))))
            amounts = [a for g, a in order if g == gas]
            yield from bps.mv(store, CalibrationRequest(gas, amounts, areas, min_r2))
            yield from bps.trigger_and_read([store], name="calibration")

    return (yield from inner())
