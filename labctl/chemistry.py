"""Reagent properties and the gas law of a sealed vessel, shared by plans, simulators and analysis.

This module imports nothing of labctl, so that a plan (which must not reach the simulators) and a
physics model (which must not reach the plans) compute the same numbers from one formula.

Propylene oxide (PO, methyloxirane, CAS 75-56-9): density 0.83 g/mL and molar mass 58.08 g/mol
(the values of Baek et al., Nature Materials 2021: 3 mL = 42.9 mmol).  Vapour pressure from the
Antoine equation ``log10(p / bar) = A - B / (T / K + C)`` with A = 4.09487, B = 1065.27,
C = -46.867, the parameters the NIST Chemistry WebBook (SRD 69) gives for propylene oxide from the
data of Bott and Sadler (1966), fitted over 234-308 K.  It gives 0.59 bar at 20 °C and 1.01 bar at
34.2 °C (the normal boiling point).  Above 308 K it is an extrapolation: up to 150 °C it stays
within 4 % of a Clausius-Clapeyron line through the normal boiling point and the critical point
(482 K, 49 bar), 6.8 bar at 100 °C and 10.4 bar at 120 °C.

Pressure in a sealed vessel at temperature (:func:`pressure_at_temperature_bar`): the CO2 charged
to ``p`` at the charge temperature ``T0`` (room temperature, taken as 20 °C) is heated at constant
volume as an ideal gas, ``p T / T0``, and the liquid PO adds its vapour pressure at ``T``.  This
is an upper estimate, as a safety check wants: it counts the PO vapour already in the charge
pressure twice (about 0.6 bar at 20 °C) and ignores the CO2 that dissolves in the liquid.
"""

import math

ZERO_CELSIUS_K = 273.15
PO_DENSITY_G_PER_ML = 0.83
PO_MOLAR_MASS_G_PER_MOL = 58.08
PO_ANTOINE_BAR_K = (4.09487, 1065.27, -46.867)  # NIST WebBook, from Bott and Sadler (1966), 234-308 K
CHARGE_TEMPERATURE_C = 20.0  # the vessel is charged with CO2 at room temperature


def po_mmol(volume_ml: float) -> float:
    """mmol of propylene oxide in ``volume_ml`` mL (3 mL -> 42.9 mmol)."""
    return volume_ml * PO_DENSITY_G_PER_ML / PO_MOLAR_MASS_G_PER_MOL * 1e3


def po_vapour_pressure_bar(temperature_c: float) -> float:
    """Vapour pressure of propylene oxide at ``temperature_c`` °C, in bar (Antoine, see the module docstring)."""
    a, b, c = PO_ANTOINE_BAR_K
    temperature_k = temperature_c + ZERO_CELSIUS_K
    if not temperature_k + c > 0:
        raise ValueError(f"temperature_c={temperature_c:g} °C is below the range of the PO vapour pressure equation")
    return float(10.0 ** (a - b / (temperature_k + c)))


def pressure_at_temperature_bar(
    charge_pressure_bar: float, temperature_c: float, *, charge_temperature_c: float = CHARGE_TEMPERATURE_C
) -> float:
    """Pressure (bar) in the sealed vessel at ``temperature_c`` after a CO2 charge to ``charge_pressure_bar``
    at ``charge_temperature_c``: the charge heated at constant volume plus the PO vapour pressure."""
    t_k = temperature_c + ZERO_CELSIUS_K
    t0_k = charge_temperature_c + ZERO_CELSIUS_K
    if not t0_k > 0:
        raise ValueError(f"charge_temperature_c={charge_temperature_c:g} °C is below absolute zero")
    return charge_pressure_bar * t_k / t0_k + po_vapour_pressure_bar(temperature_c)


def max_charge_pressure_bar(
    limit_bar: float, temperature_c: float, *, charge_temperature_c: float = CHARGE_TEMPERATURE_C
) -> float:
    """The highest CO2 charge whose pressure at ``temperature_c`` stays at ``limit_bar`` (may be <= 0)."""
    t_k = temperature_c + ZERO_CELSIUS_K
    t0_k = charge_temperature_c + ZERO_CELSIUS_K
    return (limit_bar - po_vapour_pressure_bar(temperature_c)) * t0_k / t_k


def max_temperature_c(
    charge_pressure_bar: float,
    limit_bar: float,
    *,
    charge_temperature_c: float = CHARGE_TEMPERATURE_C,
    tolerance_c: float = 0.01,
) -> float | None:
    """The highest temperature (°C) at which a charge of ``charge_pressure_bar`` stays at ``limit_bar``;
    None if it exceeds the limit already at the charge temperature.  (The pressure rises with T.)"""

    def over(t: float) -> bool:
        p = pressure_at_temperature_bar(charge_pressure_bar, t, charge_temperature_c=charge_temperature_c)
        return p > limit_bar

    lo = charge_temperature_c
    if over(lo):
        return None
    hi = lo + 50.0
    while not over(hi):
        if hi > 1000.0:
            return math.inf
        hi += 50.0
    while hi - lo > tolerance_c:
        mid = 0.5 * (lo + hi)
        if over(mid):
            hi = mid
        else:
            lo = mid
    return lo
