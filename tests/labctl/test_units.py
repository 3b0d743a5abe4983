"""Quantity strings: a strict grammar (a number, then a unit expression), finite values, plausible ranges."""

from __future__ import annotations

import re

import pytest

from labctl.units import MAX_QUANTITY_LENGTH, UnitError, registry, to_unit


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("10mg", "g", 0.01),
        ("300 W", "W", 300.0),
        ("0.4 kW", "W", 400.0),
        ("2 mL/h", "mL/h", 2.0),
        ("5 delta_degC/min", "delta_degC/min", 5.0),
        ("2 degC/min", "delta_degC/min", 2.0),
        ("70 degC", "K", 343.15),
        ("25 °C", "K", 298.15),
        ("1.5e-3 g", "g", 0.0015),
        ("1.5E+3 mg", "g", 1.5),
        ("-5 degC", "K", 268.15),
        ("+3 bar", "bar", 3.0),
        (".5 s", "s", 0.5),
        ("µmol", "umol", 1.0),
        ("μmol", "umol", 1.0),  # Greek mu, not the micro sign
        ("420nm", "nm", 420.0),
        ("3bar", "bar", 3.0),
        ("6.6 nm/mm", "nm/mm", 6.6),
        ("1 m**2", "m**2", 1.0),
        ("1 m^2", "m**2", 1.0),
        ("3100 um", "um", 3100.0),
        ("1 atm", "Pa", 101325.0),
        ("nanometer", "nm", 1.0),
        ("2 N m", "J", 2.0),
        ("1.5 %", "percent", 1.5),
        ("1.5%", "percent", 1.5),
        ("1.5 mol %", "percent", 1.5),
        ("1.5 mol%", "percent", 1.5),
        ("0.5 mol/L", "mol/L", 0.5),
        ("500 mM", "mol/L", 0.5),
        ("0.5 M", "mol/L", 0.5),
    ],
)
def test_valid_quantities_parse(text, unit, expected):
    assert to_unit("x", text, unit) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        "9**9**9 mg",
        "2**10 mg",
        "2*3 mg",
        "1e3*1e3 mg",
        "(2+3) mg",
        "2+3 mg",
        "10 mg*2",
        "mg**99",
        "mg**9**9",
        "10 (mg)",
        "1/2 mg",
        "10 mg; import os",
        "__import__('os') mg",
        "10 mg.__class__",
        "10 mg 5",
        "0.5,",
        "1,000 mg",
    ],
)
def test_arithmetic_and_code_are_refused_before_pint_sees_them(text, monkeypatch):
    import pint

    def boom(*args, **kwargs):  # pragma: no cover - reached only if the grammar lets the text through
        raise AssertionError(f"pint was asked to parse {text!r}")

    monkeypatch.setattr(type(registry()), "parse_expression", boom, raising=False)
    monkeypatch.setattr(pint.UnitRegistry, "parse_expression", boom, raising=False)
    with pytest.raises(UnitError, match=r"catalyst_mass=.* is not a quantity; write a plain number and a unit"):
        to_unit("catalyst_mass", text, "g", example="10mg")


def test_a_long_string_is_refused_by_its_length():
    text = "1" * 10_000 + " mg"
    with pytest.raises(
        UnitError, match=rf"catalyst_mass=.* is {len(text)} characters long; at most {MAX_QUANTITY_LENGTH}"
    ):
        to_unit("catalyst_mass", text, "g")


@pytest.mark.parametrize("text", ["inf h", "-inf h", "nan s", "NaN min", "infinity d", "1e400 s", "+inf s"])
def test_non_finite_quantities_are_refused_naming_them(text):
    with pytest.raises(
        UnitError, match=rf"duration={re.escape(repr(text))} must be finite; give a value between 1 min and 30 d"
    ):
        to_unit("duration", text, "s", example="4h", within=("1 min", "30 d"))


def test_non_finite_quantities_are_refused_without_a_range():
    with pytest.raises(UnitError, match=r"hold='inf h' must be finite; give it like '6h'"):
        to_unit("hold", "inf h", "s", example="6h")


def test_a_pint_quantity_that_is_not_finite_is_refused():
    q = registry().Quantity(float("nan"), "s")
    with pytest.raises(UnitError, match=r"duration=.* must be finite"):
        to_unit("duration", q, "s")


def test_values_outside_the_plausible_range_are_refused_stating_the_range():
    with pytest.raises(
        UnitError,
        match=r"duration='1000d' is outside the plausible range 1 min to 30 d; give a value between 1 min and 30 d, "
        r"e\.g\. duration=4h",
    ):
        to_unit("duration", "1000d", "s", example="4h", within=("1 min", "30 d"))
    assert to_unit("duration", "30 d", "s", within=("1 min", "30 d")) == 30 * 86400
    assert to_unit("duration", "1 min", "s", within=("1 min", "30 d")) == 60


@pytest.mark.parametrize(("value", "match"), [(4, "has no unit"), (True, "has no unit"), ([1, "s"], "has no unit")])
def test_values_that_are_not_quantity_strings_are_refused(value, match):
    with pytest.raises(UnitError, match=match):
        to_unit("duration", value, "s")


def test_unknown_units_and_wrong_dimensions_still_say_what_to_write():
    with pytest.raises(UnitError, match=r"duration='4 fortnights_x' is not a quantity pint understands"):
        to_unit("duration", "4 fortnights_x", "s", example="4h")
    with pytest.raises(UnitError, match=r"cannot be converted to s"):
        to_unit("duration", "4 kg", "s")
