"""The experiments labctl knows: their parameters (with units), plans, and figures of merit.

Each :class:`Experiment` names a plan, declares its user-facing parameters (``-p name=value``
on the command line, with the unit each is converted to, once), builds the plan on an open
bench, and computes the figures of merit from a run's tables (``{stream: {field: array}}``),
which come either from the documents of a run just made or from the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from labctl.units import UnitError, to_unit

Tables = dict[str, dict[str, np.ndarray]]


class ParameterError(ValueError):
    """An unknown parameter or a value the experiment cannot take."""


@dataclass(frozen=True)
class Param:
    """A plan parameter as users give it: ``name`` on the CLI, ``arg`` in the plan."""

    name: str
    arg: str
    unit: str | None  # None: a plain string; "int": an integer
    default: str | None
    help: str

    def convert(self, text: str) -> Any:
        if self.unit is None:
            return text
        if self.unit == "int":
            try:
                return int(text)
            except ValueError as exc:
                raise ParameterError(f"{self.name}={text!r} must be a whole number") from exc
        return to_unit(self.name, text, self.unit, example=self.default or f"1 {self.unit}")


@dataclass(frozen=True)
class Experiment:
    name: str
    summary: str
    params: tuple[Param, ...]
    build: Callable[[Any, dict[str, Any]], Any]
    analyze: Callable[[Mapping[str, Any], Tables], dict[str, Any]]

    def resolve(self, given: Mapping[str, str]) -> dict[str, Any]:
        """User parameters (strings with units) -> plan keyword arguments."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ParameterError(
                f"{self.name} has no parameter {', '.join(unknown)}; its parameters are: {', '.join(known)}"
            )
        kwargs: dict[str, Any] = {}
        for p in self.params:
            text = given.get(p.name, p.default)
            if text is None:
                continue
            try:
                kwargs[p.arg] = p.convert(text)
            except UnitError as exc:
                raise ParameterError(str(exc)) from exc
        return kwargs


# -- tables -----------------------------------------------------------------------------------
def tables_from_documents(docs: list[tuple[str, dict[str, Any]]]) -> Tables:
    """Event data by stream and field, from a run's documents."""
    stream_of: dict[str, str] = {}
    rows: dict[str, dict[str, list[Any]]] = {}
    for name, doc in docs:
        if name == "descriptor":
            stream_of[doc["uid"]] = doc.get("name", "primary")
        elif name == "event":
            stream = stream_of.get(doc["descriptor"], "primary")
            cols = rows.setdefault(stream, {})
            for key, value in doc["data"].items():
                cols.setdefault(key, []).append(value)
        elif name == "event_page":
            stream = stream_of.get(doc["descriptor"], "primary")
            cols = rows.setdefault(stream, {})
            for key, values in doc["data"].items():
                cols.setdefault(key, []).extend(values)
    return {s: {k: np.asarray(v) for k, v in cols.items()} for s, cols in rows.items()}


def tables_from_catalog(run: Any) -> Tables:
    """Event data by stream and field, read back through the Tiled client (xarray)."""
    out: Tables = {}
    for stream in run:
        try:
            ds = run[stream].read()
        except Exception:  # an empty or unreadable stream
            continue
        out[stream] = {k: np.asarray(ds[k].values) for k in ds.data_vars}
    return out


# -- H2 evolution -------------------------------------------------------------------------------
def _build_h2(bench: Any, kwargs: dict[str, Any]) -> Any:
    from plans.h2_evolution import h2_evolution

    d = bench.devices
    return h2_evolution(d["lamp"], d["gc"], d["reactor"], d["clock"], **kwargs)


def h2_series(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    """Times (s) and headspace µmol per gas of an H2 evolution run."""
    from labctl.chromatography import headspace_amount_umol

    primary = tables.get("primary", {})
    if "clock-elapsed" not in primary:
        raise ValueError("this run has no GC samples (no primary stream); nothing to analyze")
    t = np.asarray(primary["clock-elapsed"], dtype=float)
    if "gc-injected_at" in primary and "clock-origin" in primary:
        # the headspace was sampled at injection, minutes before the GC result was read
        t = np.asarray(primary["gc-injected_at"], dtype=float) - np.asarray(primary["clock-origin"], dtype=float)
    hs, loop = start.get("headspace", {}), start.get("gc_loop", {})
    pressures = primary.get("reactor-pressure")

    def headspace(gas: str) -> np.ndarray | None:
        key = f"gc-{gas.lower()}_umol"
        if key not in primary:
            return None
        return np.array(
            [
                headspace_amount_umol(
                    float(v),
                    loop_volume_ml=loop["volume_ml"],
                    loop_temperature_k=loop["temperature_k"],
                    loop_pressure_pa=loop["pressure_pa"],
                    headspace_volume_ml=hs["volume_ml"],
                    headspace_temperature_k=hs["temperature_k"],
                    headspace_pressure_pa=float(p) if pressures is not None else hs["pressure_pa"],
                )
                for v, p in zip(primary[key], pressures if pressures is not None else primary[key], strict=True)
            ]
        )

    lamp_on = tables.get("lamp_on", {}).get("clock-elapsed")
    return {
        "times_s": t,
        "H2": headspace("H2"),
        "N2": headspace("N2"),
        "O2": headspace("O2"),
        "lamp_on_s": float(lamp_on[0]) if lamp_on is not None and len(lamp_on) else None,
        "in_range": primary.get("gc-h2_in_range"),
    }


def _analyze_h2(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    from labctl.analysis import h2_figures_of_merit

    s = h2_series(start, tables)
    if s["lamp_on_s"] is None:
        raise ValueError("the lamp was never switched on in this run; no H2 evolution figures")
    res = h2_figures_of_merit(
        s["times_s"],
        s["H2"],
        float(start["catalyst_mass_g"]),
        lamp_on_s=s["lamp_on_s"],
        n2_umol=s["N2"],
        o2_umol=s["O2"],
        light_power_w=start.get("light_power_w"),
        wavelength_nm=start.get("wavelength_nm"),
    )
    out = res.to_dict()
    if s["in_range"] is not None and not bool(np.all(s["in_range"])):
        n_out = int(np.sum(~np.asarray(s["in_range"], dtype=bool)))
        out["notes"].append(f"{n_out} H2 amount(s) outside the GC calibration's range (extrapolated)")
    return out


H2_EVOLUTION = Experiment(
    name="h2-evolution",
    summary="Photocatalytic H2 evolution: dark baseline, lamp on, GC headspace samples",
    params=(
        Param("catalyst_mass", "catalyst_mass_g", "g", "10mg", "catalyst mass in the reactor"),
        Param("lamp_power", "lamp_power_w", "W", "300W", "lamp power preset"),
        Param("duration", "duration_s", "s", "4h", "irradiation time"),
        Param("sample_interval", "sample_interval_s", "s", "30min", "time between GC samples"),
        Param("dark_samples", "dark_samples", "int", "2", "GC samples before the lamp is on"),
        Param("wavelength", "wavelength_nm", "nm", None, "monochromatic wavelength (for AQY)"),
        Param("light_power", "light_power_w", "W", None, "optical power at the sample (for AQY)"),
        Param("catalyst", "catalyst", None, "Co2+:(CdSe)13 network", "catalyst name"),
        Param("sample", "sample_name", None, "", "sample label"),
        Param("operator", "operator", None, "", "who ran it"),
    ),
    build=_build_h2,
    analyze=_analyze_h2,
)

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (H2_EVOLUTION,)}


def get_experiment(name: str) -> Experiment:
    key = name.replace("_", "-")
    if key not in EXPERIMENTS:
        raise ParameterError(f"no experiment named {name!r}; known: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[key]


def parse_params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"-p {pair!r} must be name=value, e.g. -p duration=4h")
        out[name.strip()] = value.strip()
    return out
