"""Quantities with units at the edges: parse ``"30min"``, ``"10mg"``, ``"300W"``, ``"420nm"`` once.

Plans take plain floats in the units stated in their signatures (s, g, W, nm, K, Pa ...).
The CLI and the bench file accept strings with units; :func:`to_unit` converts them with pint,
exactly once, and refuses a bare number or a wrong dimension with a message that names the
parameter, the value and the unit expected.

A quantity string is read with a strict grammar before pint sees any of it: an optional plain
decimal number (sign, decimal point and exponent allowed) followed by a unit expression made of
unit names joined by ``*``, ``/``, ``·`` or spaces, each with an optional one-digit power
(``m**2``, ``m^2``).  Nothing else: no arithmetic between numbers (pint would evaluate
``"9**9**9 mg"`` and never return), no parentheses, no second number.  Only the unit expression
goes to pint (:meth:`pint.UnitRegistry.parse_units`); the number is converted by ``float``.
Non-finite values (``inf``, ``nan``, or a number that overflows) are refused by name, and an
optional plausible range (``within``) is checked after conversion.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any

MAX_QUANTITY_LENGTH = 64
"""Longest quantity string read; anything longer is refused unread."""

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NON_FINITE = r"[+-]?(?:inf(?:inity)?|nan)(?![A-Za-z_])"
_NAME = r"[A-Za-z_][A-Za-z_]*"
_FACTOR = rf"{_NAME}(?:\s*(?:\*\*|\^)\s*[+-]?\d)?"
_UNIT = rf"{_FACTOR}(?:\s*[*/]\s*{_FACTOR}|\s+{_FACTOR})*"
_QUANTITY_RE = re.compile(rf"\s*(?P<number>{_NON_FINITE}|{_NUMBER})?\s*(?P<unit>{_UNIT})?\s*", re.IGNORECASE)

# Spellings read as pint's ASCII names.
_SPELLINGS = (
    ("µ", "u"),
    ("μ", "u"),
    ("°C", "degC"),
    ("°F", "degF"),
    ("°", "deg"),
    ("Ω", "ohm"),
    ("·", "*"),
    ("mol %", "percent"),  # a dopant level in mol % is a plain percentage
    ("mol%", "percent"),
    ("%", "percent"),
)


class UnitError(ValueError):
    """A value with missing or wrong units."""


@cache
def registry() -> Any:
    import pint

    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    ureg.define("umol = micromole")
    return ureg


def _split(name: str, value: str, example: str) -> tuple[float | None, str]:
    """``"1.5e-3 g"`` -> (0.0015, "g") by the grammar in the module docstring; raise :class:`UnitError` otherwise."""
    if len(value) > MAX_QUANTITY_LENGTH:
        raise UnitError(
            f"{name}={value[:20]!r}... is {len(value)} characters long; at most {MAX_QUANTITY_LENGTH} are read; "
            f"write a plain number and a unit, e.g. {name}={example!r}"
        )
    text = value.strip()
    for old, new in _SPELLINGS:
        text = text.replace(old, new)
    m = _QUANTITY_RE.fullmatch(text)
    if m is None or not (m["number"] or m["unit"]):
        raise UnitError(
            f"{name}={value!r} is not a quantity; write a plain number and a unit, with no arithmetic or "
            f"parentheses, e.g. {name}={example!r}"
        )
    number = float(m["number"]) if m["number"] else None
    return number, m["unit"] or ""


def _range_text(within: tuple[str, str] | None) -> str:
    return f"a value between {within[0]} and {within[1]}" if within else ""


@cache
def _bounds(within: tuple[str, str], unit: str) -> tuple[float, float]:
    lo, hi = (to_unit("range", v, unit) for v in within)
    return lo, hi


def to_unit(
    name: str, value: Any, unit: str, *, example: str | None = None, within: tuple[str, str] | None = None
) -> float:
    """Convert ``value`` (a string with units, or a pint quantity) to a float in ``unit``.

    :param within: the plausible range as two quantity strings, e.g. ``("1 min", "30 d")``
        (inclusive); a value outside it is refused with the range in the message.

    >>> to_unit("duration", "4h", "s")
    14400.0
    """
    ureg = registry()
    example = example or f"1 {unit}"
    fix = f"give {_range_text(within)}, e.g. {name}={example}" if within else f"give it like {example!r}"
    if isinstance(value, bool | int | float):
        raise UnitError(f"{name}={value!r} has no unit; give it with units, e.g. {name}={example!r}")
    if isinstance(value, str):
        number, unit_text = _split(name, value, example)
        if number is not None and not math.isfinite(number):
            raise UnitError(f"{name}={value!r} must be finite; {fix}")
        if not unit_text:
            raise UnitError(f"{name}={value!r} has no unit; give it with units, e.g. {name}={example!r}")
        if "/" in unit and "delta_degC" in unit:
            # a rate like "2 degC/min" means temperature differences, not an offset temperature
            unit_text = re.sub(r"(?<!delta_)degC", "delta_degC", unit_text)
        try:
            units = ureg.parse_units(unit_text)
            q = ureg.Quantity(1.0 if number is None else number, units)
        except Exception as exc:
            raise UnitError(f"{name}={value!r} is not a quantity pint understands; write it like {example!r}") from exc
    elif hasattr(value, "units") and hasattr(value, "to"):
        q = value  # a pint quantity
    else:
        raise UnitError(f"{name}={value!r} has no unit; give it with units as a string, e.g. {name}={example!r}")
    if not dict(q.unit_items()):
        raise UnitError(f"{name}={value!r} has no unit; give it with units, e.g. {name}={example!r}")
    try:
        magnitude = q.to(unit).magnitude
    except Exception as exc:
        raise UnitError(
            f"{name}={value!r} is in {q.units:~}, which cannot be converted to {unit}; give it like {example!r}"
        ) from exc
    try:
        out = float(magnitude)
    except (TypeError, ValueError) as exc:
        raise UnitError(f"{name}={value!r} is not a single number; give it like {example!r}") from exc
    if not math.isfinite(out):
        raise UnitError(f"{name}={value!r} must be finite; {fix}")
    if within is not None:
        lo, hi = _bounds(within, unit)
        slack = 1e-9 * max(abs(lo), abs(hi))  # the same quantity spelt in other units may differ in the last bit
        if not lo - slack <= out <= hi + slack:
            raise UnitError(f"{name}={value!r} is outside the plausible range {within[0]} to {within[1]}; {fix}")
    return out
