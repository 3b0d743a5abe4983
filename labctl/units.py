"""Quantities with units at the edges: parse ``"30min"``, ``"10mg"``, ``"300W"``, ``"420nm"`` once.

Plans take plain floats in the units stated in their signatures (s, g, W, nm, K, Pa ...).
The CLI and the bench file accept strings with units; :func:`to_unit` converts them with pint,
exactly once, and refuses a bare number or a wrong dimension with a message that names the
parameter, the value and the unit expected.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any


class UnitError(ValueError):
    """A value with missing or wrong units."""


@cache
def registry() -> Any:
    import pint

    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    ureg.define("umol = micromole")
    return ureg


def to_unit(name: str, value: Any, unit: str, *, example: str | None = None) -> float:
    """Convert ``value`` (a string with units, or a pint quantity) to a float in ``unit``.

    >>> to_unit("duration", "4h", "s")
    14400.0
    """
    ureg = registry()
    example = example or f"1 {unit}"
    if isinstance(value, int | float):
        raise UnitError(f"{name}={value!r} has no unit; give it with units, e.g. {name}={example!r}")
    if isinstance(value, str):
        text = value.strip().replace("µ", "u").replace("°C", "degC").replace("°", "deg")
        if "/" in unit and "delta_degC" in unit:
            # a rate like "2 degC/min" means temperature differences, not an offset temperature
            text = re.sub(r"(?<!delta_)degC", "delta_degC", text)
        try:
            q = ureg.Quantity(text)
        except Exception as exc:
            raise UnitError(f"{name}={value!r} is not a quantity pint understands; write it like {example!r}") from exc
    else:
        q = value
    if not hasattr(q, "units") or not dict(q.unit_items()):
        raise UnitError(f"{name}={value!r} has no unit; give it with units, e.g. {name}={example!r}")
    try:
        return float(q.to(unit).magnitude)
    except Exception as exc:
        raise UnitError(
            f"{name}={value!r} is in {q.units:~}, which cannot be converted to {unit}; give it like {example!r}"
        ) from exc
