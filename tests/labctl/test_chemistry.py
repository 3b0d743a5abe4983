"""PO properties, its vapour pressure and the pressure of a sealed vessel at temperature."""

import math

import numpy as np
import pytest

from labctl.chemistry import (
    CHARGE_TEMPERATURE_C,
    max_charge_pressure_bar,
    max_temperature_c,
    po_mmol,
    po_vapour_pressure_bar,
    pressure_at_temperature_bar,
)


def test_po_amount_of_the_papers_charge() -> None:
    assert po_mmol(3.0) == pytest.approx(42.87, abs=0.01)


def test_po_vapour_pressure_matches_its_known_points() -> None:
    # about 59 kPa at 20 °C; 1 atm at the normal boiling point, 34.2 °C
    assert po_vapour_pressure_bar(20.0) == pytest.approx(0.59, abs=0.01)
    assert po_vapour_pressure_bar(34.2) == pytest.approx(1.013, rel=0.01)
    # the extrapolation stays close to Clausius-Clapeyron between the boiling and the critical point
    tb, tc, pc = 307.35, 482.2, 49.2
    slope = math.log(pc / 1.01325) / (1 / tb - 1 / tc)
    for t_c in (70.0, 100.0, 120.0, 150.0):
        cc = 1.01325 * math.exp(slope * (1 / tb - 1 / (t_c + 273.15)))
        assert po_vapour_pressure_bar(t_c) == pytest.approx(cc, rel=0.04)
    values = [po_vapour_pressure_bar(t) for t in range(0, 160, 10)]
    assert np.all(np.diff(values) > 0)


def test_pressure_at_temperature_is_the_isochoric_charge_plus_po_vapour() -> None:
    assert CHARGE_TEMPERATURE_C == 20.0
    p = pressure_at_temperature_bar(3.0, 70.0)
    assert p == pytest.approx(3.0 * 343.15 / 293.15 + po_vapour_pressure_bar(70.0))
    assert 6.5 < p < 6.8
    assert pressure_at_temperature_bar(10.0, 120.0) == pytest.approx(23.85, abs=0.01)


def test_the_largest_charge_and_temperature_reach_the_limit_exactly() -> None:
    p_max = max_charge_pressure_bar(30.0, 120.0)
    assert p_max == pytest.approx(14.59, abs=0.01)
    assert pressure_at_temperature_bar(p_max, 120.0) == pytest.approx(30.0)
    t_max = max_temperature_c(20.0, 30.0)
    assert t_max is not None and t_max == pytest.approx(89.46, abs=0.02)
    assert pressure_at_temperature_bar(20.0, t_max) <= 30.0 < pressure_at_temperature_bar(20.0, t_max + 0.02)
    # already over the limit when charged: no temperature helps
    assert max_temperature_c(29.5, 30.0) is None
