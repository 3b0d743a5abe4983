"""The simulated bench's response to a campaign's parameters, evaluated without the instruments.

A campaign benchmark compares strategies over many seeds; running every experiment through the
protocol simulators in virtual time would take hours.  A response here evaluates the same physics
model the simulated instruments run (the very functions they call), with the measurement's noise,
for a plan's keyword arguments, in microseconds:

* ``response(kwargs, rng)`` -> the figures of merit a run would report (``rng=None``: noise-free);
* ``response.allowed(kwargs)`` -> False where the plan's own checks would refuse the run (the
  vessel's pressure at temperature above its limit);
* ``response.optimum(figure, goal, bounds, fixed)`` -> the simulator's own best value in a box
  (the benchmark's target; nothing else reads it).

Noise: the cycloaddition's NMR conversion carries the simulator's 1 % relative noise
(:data:`labctl.sim.physics.cycloaddition.NMR_RELATIVE_NOISE`); an H2 rate carries the
sample-to-sample scatter of the photoreactor model
(:data:`labctl.sim.physics.photoreactor.SAMPLE_TO_SAMPLE_RSD`, 3 %) and about 1 % from the GC
areas' slope (ours: the rate's standard error in a 4 h run of 8 samples).  The H2 response is the
initial rate; a run's fitted rate over hours is a few per cent lower (the slow deactivation), the
same factor everywhere in the box.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

import numpy as np

from labctl.sim.physics import cycloaddition as cyclo
from labctl.sim.physics import growth
from labctl.sim.physics import photoreactor as pr

GC_SLOPE_RSD = 0.01  # relative sd of a fitted H2 rate from the GC areas' noise (ours)


class H2Response:
    """Photocatalytic H2 evolution: the initial rate per gram (see :func:`...photoreactor.expected_h2_rate`)."""

    figures = ("rate",)

    @staticmethod
    def conditions(kwargs: Mapping[str, Any]) -> dict[str, float]:
        return {k: float(kwargs[k]) for k in pr.CONDITION_KEYS if kwargs.get(k) is not None}

    def allowed(self, kwargs: Mapping[str, Any]) -> bool:
        return True

    def __call__(self, kwargs: Mapping[str, Any], rng: np.random.Generator | None) -> dict[str, Any]:
        rate = pr.expected_h2_rate(self.conditions(kwargs))
        if rng is not None:
            sample, slope = rng.standard_normal(2)
            rate *= (1.0 + pr.SAMPLE_TO_SAMPLE_RSD * sample) * (1.0 + GC_SLOPE_RSD * slope)
        return {"rate": rate}

    def optimum(
        self, figure: str, goal: str, bounds: Mapping[str, tuple[float, float]], fixed: Mapping[str, Any]
    ) -> float:
        if figure != "rate" or goal != "maximise":
            raise ValueError(f"the simulator knows its optimum of the maximal rate, not {goal} {figure}")
        fixed_c = {k: v for k, v in self.conditions(fixed).items() if k not in bounds}
        _, value = pr.h2_optimum(dict(bounds), fixed_c)
        return float(value)


class CycloadditionResponse:
    """CO2 cycloaddition: conversion, TON and TOF after the hold (see :mod:`...cycloaddition`)."""

    figures = ("conversion", "conversion_percent", "ton", "tof", "po_converted_mmol")

    def __init__(self, max_pressure_bar: float = cyclo.DEFAULT_MAX_PRESSURE_BAR) -> None:
        self.max_pressure_bar = max_pressure_bar

    @staticmethod
    def conditions(kwargs: Mapping[str, Any]) -> dict[str, float]:
        out = {k: float(kwargs[k]) for k in cyclo.PAPER_CONDITIONS if kwargs.get(k) is not None}
        return out

    def allowed(self, kwargs: Mapping[str, Any]) -> bool:
        return not cyclo.vessel_refuses(self.conditions(kwargs), self.max_pressure_bar)

    def __call__(self, kwargs: Mapping[str, Any], rng: np.random.Generator | None) -> dict[str, Any]:
        c = self.conditions(kwargs)
        reaction = cyclo.hold_reaction(c)
        conversion = reaction.conversion
        if rng is not None:
            conversion = min(max(conversion * (1.0 + cyclo.NMR_RELATIVE_NOISE * rng.standard_normal()), 0.0), 1.0)
        po_converted = conversion * reaction.epoxide_mmol
        ton = cyclo.METALS_PER_CLUSTER * po_converted / reaction.surface_metal_mmol
        hours = c.get("hold_s", cyclo.PAPER_CONDITIONS["hold_s"]) / 3600.0
        return {
            "conversion": conversion,
            "conversion_percent": 100.0 * conversion,
            "ton": ton,
            "tof": ton / hours,
            "po_converted_mmol": po_converted,
        }

    def optimum(
        self, figure: str, goal: str, bounds: Mapping[str, tuple[float, float]], fixed: Mapping[str, Any]
    ) -> float:
        if figure not in ("ton", "conversion") or goal != "maximise":
            raise ValueError(f"the simulator knows its optimum of maximal ton or conversion, not {goal} {figure}")
        fixed_c = {k: v for k, v in self.conditions(fixed).items() if k not in bounds}
        _, value = cyclo.cycloaddition_optimum(figure, dict(bounds), fixed_c, max_pressure_bar=self.max_pressure_bar)
        return float(value)


class GrowthResponse:
    """Cluster growth: the first exciton and its width when the injection ends (at the target wavelength,
    or with the volume in), from the growth model run on the recipe (see :mod:`...growth`).

    Noise: the batch-to-batch scatter of the precursor's reactivity
    (:data:`labctl.sim.physics.growth.SAMPLE_SCATTER_RSD`, 3 %), drawn from ``rng``."""

    figures = ("fwhm_mev", "first_exciton_nm", "reached_target", "second_population")
    KEYS: typing.ClassVar[dict[str, float]] = {
        "injection_rate_ml_per_h": 2.0,
        "temperature_c": 280.0,
        "injection_volume_ml": 10.0,
    }

    def recipe(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        r = {k: float(kwargs[k]) if kwargs.get(k) is not None else v for k, v in self.KEYS.items()}
        return {
            "precursor": str(kwargs.get("precursor") or "InAs amorphous cluster"),
            "injection_rate_ml_per_h": r["injection_rate_ml_per_h"],
            "temperature_c": r["temperature_c"],
            "volume_ml": r["injection_volume_ml"],
            "target_nm": None if kwargs.get("target_nm") is None else float(kwargs["target_nm"]),
        }

    def allowed(self, kwargs: Mapping[str, Any]) -> bool:
        return True

    def __call__(self, kwargs: Mapping[str, Any], rng: np.random.Generator | None) -> dict[str, Any]:
        seed = None if rng is None else int(rng.integers(2**31))
        out = growth.expected_growth(seed=seed, **self.recipe(kwargs))
        return {k: out[k] for k in self.figures}

    def optimum(
        self, figure: str, goal: str, bounds: Mapping[str, tuple[float, float]], fixed: Mapping[str, Any]
    ) -> float:
        if figure != "fwhm_mev" or goal != "minimise":
            raise ValueError(f"the simulator knows its optimum of the minimal fwhm_mev, not {goal} {figure}")
        recipe = self.recipe(fixed)
        if recipe["target_nm"] is None:
            raise ValueError("the growth optimum is the narrowest peak at a target: fix target (e.g. 850 nm)")
        names = {"injection_rate_ml_per_h": "injection_rate_ml_per_h", "temperature_c": "temperature_c"}
        names["injection_volume_ml"] = "volume_ml"
        box = {names[k]: v for k, v in bounds.items() if k in names}
        fixed_r = {k: recipe[k] for k in ("injection_rate_ml_per_h", "temperature_c", "volume_ml") if k not in box}
        _, value = growth.growth_optimum(
            precursor=recipe["precursor"], target_nm=recipe["target_nm"], bounds=box, fixed=fixed_r
        )
        return float(value)


RESPONSES: dict[str, Any] = {
    "h2-evolution": H2Response(),
    "co2-cycloaddition": CycloadditionResponse(),
    "cluster-growth": GrowthResponse(),
}
