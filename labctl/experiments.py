"""The experiments labctl knows: their parameters (with units), plans, and figures of merit.

Each :class:`Experiment` names a plan, declares its user-facing parameters (``-p name=value``
on the command line, with the unit each is converted to, once), builds the plan on an open
bench, and computes the figures of merit from a run's tables (``{stream: {field: array}}``),
which come either from the documents of a run just made or from the catalog.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from labctl.units import UnitError, to_unit

Tables = dict[str, dict[str, np.ndarray]]
MAX_LIST_ITEMS = 100
CO2_SUPPLIES = ("regulated", "sealed")  # as plans.co2_cycloaddition.CO2_SUPPLIES (not imported: plans are heavy)
CYCLO_DEFAULT_CATALYST = "Mn:(Cd0.5Zn0.5Se)13 SS"  # the paper's best catalyst
_NUMBER_PREFIX = re.compile(
    r"^\s*[-+]?(?:(?:inf(?:inity)?|nan)(?![a-z_])|(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*", re.IGNORECASE
)


# How a listing names a parameter's unit (the unit it is converted to; any unit of the same kind is taken).
_UNIT_TEXT: dict[str | None, str] = {
    None: "text",
    "int": "count",
    "number": "number",
    "fraction": "fraction (0.5 or 50%)",
    "list": "list",
    "list:umol": "µmol, a list",
    "umol": "µmol",
    "degC": "°C",
    "delta_degC/min": "°C/min",
    "percent": "%",
    "mL/h": "mL/h",
}


def _pretty_unit(text: str) -> str:
    """``"1 uW"`` -> ``"1 µW"``, ``"70 degC"`` -> ``"70 °C"``: a quantity string as a listing prints it."""
    text = text.replace("delta_degC", "°C").replace("degC", "°C")
    return re.sub(r"(?<=[\d\s])u(?=[a-zA-Z])", "µ", text)


class ParameterError(ValueError):
    """An unknown parameter or a value the experiment cannot take."""


@dataclass(frozen=True)
class Param:
    """A plan parameter as users give it: ``name`` on the CLI, ``arg`` in the plan.

    ``within`` is the plausible range for what the parameter is, checked when the text is
    converted and stated in the refusal: two quantity strings for a quantity (``("1 min", "30 d")``),
    two numbers for a count or a number.  The bench's own limits are the plan check's business.
    ``choices`` lists the values a string parameter takes.
    """

    name: str
    arg: str
    unit: str | None  # None: a string; "int"; "number"; "fraction" (0.5 or 50%); "list" (of strings);
    # "list:<unit>" (numbers, the unit written once at the end: "0.5,1,2umol")
    default: str | None
    help: str
    within: tuple[Any, Any] | None = None
    choices: tuple[str, ...] | None = None

    def convert(self, text: str) -> Any:
        if self.unit is None:
            if self.choices is not None and text not in self.choices:
                raise ParameterError(
                    f"{self.name}={text!r} is not one of: {', '.join(self.choices)}; "
                    f"e.g. {self.name}={self.default or self.choices[0]}"
                )
            return text
        if self.unit == "list":
            items = [part.strip() for part in text.split(",") if part.strip()]
            twice = sorted({item for item in items if items.count(item) > 1})
            if twice:
                raise ParameterError(
                    f"{self.name}={text!r} lists {', '.join(twice)} twice; give each once, "
                    f"e.g. {self.name}={self.default}"
                )
            return items
        if self.unit.startswith("list:"):
            return _quantity_list(self.name, text, self.unit.removeprefix("list:"), self.within)
        if self.unit == "number":
            try:
                value = float(text)
            except ValueError as exc:
                raise ParameterError(f"{self.name}={text!r} must be a number, e.g. {self.default or 0.995}") from exc
            if not math.isfinite(value):
                raise ParameterError(f"{self.name}={text!r} must be a finite number{self._fix()}")
            return self._in_range(text, value)
        if self.unit == "fraction":
            text_ = text.strip()
            try:
                value = float(text_.rstrip("%")) / (100.0 if text_.endswith("%") else 1.0)
            except ValueError as exc:
                raise ParameterError(
                    f"{self.name}={text!r} must be a fraction like 0.5 or a percentage like 50%"
                ) from exc
            if not math.isfinite(value):
                raise ParameterError(f"{self.name}={text!r} must be a finite fraction{self._fix()}")
            return self._in_range(text, value)
        if self.unit == "int":
            try:
                value = int(text)
            except ValueError as exc:
                raise ParameterError(f"{self.name}={text!r} must be a whole number{self._fix()}") from exc
            return self._in_range(text, value, what="a whole number")
        return to_unit(self.name, text, self.unit, example=self.default or f"1 {self.unit}", within=self.within)

    def describe(self) -> dict[str, Any]:
        """The parameter as a listing shows it: name, unit, default, allowed range, meaning."""
        if self.choices is not None:
            allowed = "one of: " + ", ".join(self.choices)
        elif self.within is not None:
            lo, hi = self.within
            numeric = self.unit in ("int", "number", "fraction")
            allowed = f"{lo:g} to {hi:g}" if numeric else f"{_pretty_unit(lo)} to {_pretty_unit(hi)}"
        else:
            allowed = ""
        return {
            "name": self.name,
            "unit": _UNIT_TEXT.get(self.unit, self.unit),
            "default": self.default,
            "range": allowed,
            "help": self.help,
        }

    def _fix(self, what: str = "a value") -> str:
        if self.within is None:
            return ""
        lo, hi = self.within
        example = f", e.g. {self.name}={self.default}" if self.default is not None else ""
        return f"; give {what} between {lo:g} and {hi:g}{example}"

    def _in_range(self, text: str, value: float, *, what: str = "a value") -> Any:
        if self.within is not None and not self.within[0] <= value <= self.within[1]:
            lo, hi = self.within
            raise ParameterError(f"{self.name}={text!r} is outside {lo:g}-{hi:g}{self._fix(what)}")
        return value


def _quantity_list(name: str, text: str, unit: str, within: tuple[str, str] | None = None) -> list[float]:
    """``"0.5,1,2,5,10umol"`` -> [0.5, 1, 2, 5, 10] in ``unit``; an item may carry its own unit."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ParameterError(f"{name}={text!r} is empty; give a comma-separated list, e.g. {name}=0.5,1,2,5,10{unit}")
    if len(parts) > MAX_LIST_ITEMS:
        raise ParameterError(f"{name}= has {len(parts)} items; give at most {MAX_LIST_ITEMS}")
    trailing = _NUMBER_PREFIX.sub("", parts[-1])
    if not trailing:
        raise ParameterError(f"{name}={text!r} has no unit; write it once at the end, e.g. {name}=0.5,1,2,5,10{unit}")
    out = []
    for part in parts:
        has_unit = bool(_NUMBER_PREFIX.sub("", part))
        try:
            out.append(to_unit(name, part if has_unit else f"{part} {trailing}", unit, within=within))
        except UnitError as exc:
            raise ParameterError(str(exc)) from exc
    return out


@dataclass(frozen=True)
class Experiment:
    name: str
    summary: str
    params: tuple[Param, ...]
    build: Callable[[Any, dict[str, Any]], Any]
    analyze: Callable[[Mapping[str, Any], Tables], dict[str, Any]]
    check: Callable[[Any, dict[str, Any]], list[str]]

    def describe(self) -> dict[str, Any]:
        """The experiment as ``labctl experiments`` shows it: name, summary, each parameter described."""
        return {"name": self.name, "summary": self.summary, "params": [p.describe() for p in self.params]}

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


def run_check(
    check: Callable[..., list[str]],
    plan: Callable[..., Any],
    devices: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    keys: tuple[str, ...] | None = None,
) -> list[str]:
    """Call a plan's argument check with the user's arguments and the plan's defaults for the rest.

    ``keys`` are the arguments passed (default: the check's keyword-only parameters).
    """
    import inspect

    plan_params = inspect.signature(plan).parameters
    if keys is None:
        params = inspect.signature(check).parameters.values()
        keys = tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)
    args = {k: kwargs.get(k, plan_params[k].default) for k in keys if k in kwargs or k in plan_params}
    return list(check(*devices, **args))


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


class CatalogReadError(RuntimeError):
    """A run's data that the catalog holds but cannot read (moved storage, a damaged file)."""


def tables_from_catalog(run: Any) -> Tables:
    """Event data by stream and field, read back through the Tiled client (xarray).

    A stream the catalog cannot read is an error, never "no data": figures computed from
    nothing would replace good ones.
    """
    out: Tables = {}
    for stream in run:
        node = run[stream]
        if "internal" not in getattr(node, "base", node):  # a stream declared but never given an event
            continue
        try:
            ds = node.read()
        except Exception as exc:
            uid = run.metadata.get("start", {}).get("uid", "?")
            raise CatalogReadError(
                f"run {uid[:8]}: stream {stream!r} could not be read from the catalog ({type(exc).__name__}: {exc})"
            ) from exc
        out[stream] = {k: np.asarray(ds[k].values) for k in ds.data_vars}
    return out


# -- H2 evolution -------------------------------------------------------------------------------
def _light_defaults(bench: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """On an LED bench: the head's wavelength and its calibrated output at the drive current (for AQY)."""
    kwargs = dict(kwargs)
    lamp = bench.devices["lamp"]
    if not bench.config.lamp.is_led and kwargs.get("led_current_a") is not None:
        # the arc supply would take it as a current preset (current mode), past the power check
        raise ParameterError(
            f"led_current={kwargs['led_current_a']:g} A is an LED drive current, but bench {bench.config.name!r} "
            f"is lit by an arc lamp ({bench.config.lamp.driver}); leave led_current out and set the arc lamp's "
            f"power with lamp_power instead, e.g. -p lamp_power=300W (limit {bench.config.lamp.max_power_w:g} W)"
        )
    if bench.config.lamp.is_led:
        if kwargs.get("led_current_a") is None:
            raise ParameterError(
                f"bench {bench.config.name!r} is lit by an LED: give its drive current, e.g. -p led_current=0.5A"
            )
        kwargs.setdefault("wavelength_nm", None)
        kwargs.setdefault("light_power_w", None)
        if kwargs["wavelength_nm"] is None:
            kwargs["wavelength_nm"] = lamp.wavelength_nm
        if kwargs["light_power_w"] is None:
            kwargs["light_power_w"] = lamp.optical_power_for(kwargs["led_current_a"])
    return kwargs


def _build_h2(bench: Any, kwargs: dict[str, Any]) -> Any:
    from labctl.plans.h2_evolution import h2_evolution

    d = bench.devices
    return h2_evolution(d["lamp"], d["gc"], d["reactor"], d["operator"], d["clock"], **_light_defaults(bench, kwargs))


def h2_series(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    """Times (s) and headspace µmol per gas of an H2 evolution run."""
    from labctl.analysis.chromatography import headspace_amount_umol

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
        recorded = primary.get(f"gc-{gas.lower()}_headspace_umol")
        if recorded is not None and len(recorded) and not np.any(np.isnan(np.asarray(recorded, dtype=float))):
            return np.asarray(recorded, dtype=float)  # recorded at injection by the GC device
        # runs recorded before the headspace amount was: computed from the loop amount
        key = f"gc-{gas.lower()}_loop_umol"
        if key not in primary:
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
    gases = ("H2", "N2", "O2", "CO", "CH4")
    return {
        "times_s": t,
        **{gas: headspace(gas) for gas in gases},
        "lamp_on_s": float(lamp_on[0]) if lamp_on is not None and len(lamp_on) else None,
        "in_range": primary.get("gc-h2_in_range"),
        "in_range_by_gas": {
            gas: np.asarray(primary[f"gc-{gas.lower()}_in_range"], dtype=bool)
            for gas in gases
            if f"gc-{gas.lower()}_in_range" in primary
        },
    }


def _analyze_h2(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    from labctl.analysis.gas_phase import h2_figures_of_merit

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


def _check_h2(bench: Any, kwargs: dict[str, Any]) -> list[str]:
    from labctl.plans.h2_evolution import check_h2_evolution

    kwargs = _light_defaults(bench, kwargs)
    d = bench.devices
    return check_h2_evolution(d["lamp"], d["gc"], **{k: kwargs.get(k) for k in _H2_CHECK_KEYS})


_H2_CHECK_KEYS = (
    "catalyst_mass_g",
    "lamp_power_w",
    "led_current_a",
    "duration_s",
    "sample_interval_s",
    "dark_samples",
    "wavelength_nm",
    "light_power_w",
    "co_doping_percent",
    "donor_mol_per_l",
    "ph",
)


H2_EVOLUTION = Experiment(
    name="h2-evolution",
    summary="Photocatalytic H2 evolution: dark baseline, lamp on, GC headspace samples",
    params=(
        Param(
            "catalyst_mass", "catalyst_mass_g", "g", "10mg", "catalyst mass in the reactor", within=("0.1 mg", "10 g")
        ),
        Param(
            "co_doping",
            "co_doping_percent",
            "percent",
            "1%",
            "Co2+ level of the catalyst (mol % of the metal)",
            within=("0 %", "20 %"),
        ),
        Param(
            "donor",
            "donor_mol_per_l",
            "mol/L",
            "0.5mol/L",
            "sacrificial electron donor concentration",
            within=("0 mol/L", "5 mol/L"),
        ),
        Param("ph", "ph", "number", "10.7", "pH of the dispersion", within=(0, 14)),
        Param("lamp_power", "lamp_power_w", "W", "300W", "lamp power preset (arc lamp)", within=("1 W", "2 kW")),
        Param(
            "led_current",
            "led_current_a",
            "A",
            None,
            "LED drive current (LED source; sets AQY's photon flux)",
            within=("1 mA", "10 A"),
        ),
        Param("duration", "duration_s", "s", "4h", "irradiation time", within=("1 min", "30 d")),
        Param("sample_interval", "sample_interval_s", "s", "30min", "time between GC samples", within=("1 min", "1 d")),
        Param("dark_samples", "dark_samples", "int", "2", "GC samples before the lamp is on", within=(0, 50)),
        Param(
            "wavelength",
            "wavelength_nm",
            "nm",
            None,
            "monochromatic wavelength (for AQY)",
            within=("200 nm", "1100 nm"),
        ),
        Param(
            "light_power", "light_power_w", "W", None, "optical power at the sample (for AQY)", within=("1 uW", "10 W")
        ),
        Param("catalyst", "catalyst", None, "Co2+:(CdSe)13 network", "catalyst name"),
        Param("sample", "sample", None, "", "sample label"),
        Param("operator", "operator_name", None, "", "who ran it"),
    ),
    build=_build_h2,
    analyze=_analyze_h2,
    check=_check_h2,
)


# -- CO2 photoreduction --------------------------------------------------------------------------
def _build_co2_photoreduction(bench: Any, kwargs: dict[str, Any]) -> Any:
    from labctl.plans.co2_photoreduction import co2_photoreduction

    d = bench.devices
    return co2_photoreduction(
        d["lamp"], d["gc"], d["reactor"], d["operator"], d["clock"], **_light_defaults(bench, kwargs)
    )


def _check_co2_photoreduction(bench: Any, kwargs: dict[str, Any]) -> list[str]:
    from labctl.plans.co2_photoreduction import check_co2_photoreduction, co2_photoreduction

    d = bench.devices
    return run_check(
        check_co2_photoreduction,
        co2_photoreduction,
        (d["lamp"], d["gc"]),
        _light_defaults(bench, kwargs),
        keys=(*_H2_CHECK_KEYS, "purge_s"),
    )


def _analyze_co2_photoreduction(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    from labctl.analysis.gas_phase import co2_reduction_figures

    s = h2_series(start, tables)
    if s["lamp_on_s"] is None:
        raise ValueError("the lamp was never switched on in this run; no CO2 reduction figures")
    products = [p for p in start.get("products", ("CO", "CH4", "H2")) if s.get(p) is not None]
    res = co2_reduction_figures(
        s["times_s"],
        {p: s[p] for p in products},
        float(start["catalyst_mass_g"]),
        lamp_on_s=s["lamp_on_s"],
        n2_umol=s["N2"],
        o2_umol=s["O2"],
        light_power_w=start.get("light_power_w"),
        wavelength_nm=start.get("wavelength_nm"),
        in_range={p: v for p, v in s["in_range_by_gas"].items() if p in products},
    )
    out = res.to_dict()
    out["gc_calibrations"] = {
        p: {k: c.get(k) for k in ("created", "method", "amount_min_umol", "amount_max_umol", "r_squared")}
        for p, c in (start.get("gc_calibrations") or {}).items()
        if p in products
    }
    return out


# -- CO2 cycloaddition ---------------------------------------------------------------------------
def _parr_devices(bench: Any) -> tuple[Any, Any, Any, Any]:
    d = bench.devices
    if "parr" not in d:
        raise ParameterError(f"bench {bench.config.name!r} has no Parr reactor; add a [parr] section to the bench file")
    return d["parr"], d["operator"], d["nmr"], d["clock"]


def _cyclo_catalyst(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's arguments with the default catalyst when neither a name nor a Zn fraction is given."""
    kwargs = dict(kwargs)
    if kwargs.get("catalyst") is None and kwargs.get("zn_fraction") is None:
        kwargs["catalyst"] = CYCLO_DEFAULT_CATALYST
    return kwargs


def _cyclo_defaults(bench: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs = _cyclo_catalyst(kwargs)
    if kwargs.get("surface_metal_umol") is None:
        if bench.sim is None:
            raise ParameterError(
                "surface_metal is required on a real bench: give the surface metal of the loaded catalyst "
                "from ICP-AES, e.g. -p surface_metal=21.4umol"
            )
        kwargs["surface_metal_umol"] = bench.sim.icp_surface_metal_umol()
    return kwargs


def _build_cyclo(bench: Any, kwargs: dict[str, Any]) -> Any:
    from labctl.plans.co2_cycloaddition import co2_cycloaddition

    return co2_cycloaddition(*_parr_devices(bench), **_cyclo_defaults(bench, kwargs))


def _build_recycle(bench: Any, kwargs: dict[str, Any]) -> Any:
    from labctl.plans.co2_cycloaddition import recycle

    return recycle(*_parr_devices(bench), **_cyclo_defaults(bench, kwargs))


def _check_cyclo(bench: Any, kwargs: dict[str, Any]) -> list[str]:
    from labctl.plans.co2_cycloaddition import check_cycloaddition, co2_cycloaddition

    reactor = _parr_devices(bench)[0]
    args = {"surface_metal_umol": None, **_cyclo_catalyst(kwargs)}  # surface metal: from ICP-AES (or the model)
    checks = run_check(check_cycloaddition, co2_cycloaddition, (reactor,), args)
    if "cycles" in kwargs and not 1 <= kwargs["cycles"] <= 50:
        raise ParameterError(f"cycles={kwargs['cycles']} must be between 1 and 50")
    return checks


def _analyze_cyclo(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    from labctl.analysis.cycloaddition import cycloaddition_figures

    nmr = tables.get("nmr", {}).get("nmr-value")
    if nmr is None or len(nmr) == 0:
        raise ValueError("this run has no NMR conversion (it ended before the work-up); no TON/TOF")
    primary = tables.get("primary", {})
    hold_start = tables.get("hold_start", {}).get("clock-elapsed")
    hold_end = tables.get("hold_end", {}).get("clock-elapsed")
    hold_s = (
        float(hold_end[0] - hold_start[0])
        if hold_start is not None and hold_end is not None
        else float(start["plan_args"]["hold_s"])
    )
    kw: dict[str, Any] = {}
    if "parr-pressure" in primary and "parr-temperature-readback" in primary:
        kw = {
            "pressures_pa": np.asarray(primary["parr-pressure"], dtype=float) * 1e5,
            "temperatures_k": np.asarray(primary["parr-temperature-readback"], dtype=float) + 273.15,
            "times_s": np.asarray(primary["clock-elapsed"], dtype=float),
            "headspace_ml": float(start["headspace_ml"]),
        }
        if hold_start is not None and hold_end is not None:
            kw["hold_window"] = (float(hold_start[0]), float(hold_end[0]))
    res = cycloaddition_figures(
        conversion=float(nmr[-1]) / 100.0,
        epoxide_mmol=float(start["epoxide_mmol"]),
        surface_metal_umol=float(start["surface_metal_umol"]),
        hold_s=hold_s,
        **kw,
    )
    out = res.to_dict()
    if start.get("co2_supply") == "regulated":
        # the pressure says nothing about uptake with the supply open: do not report a number
        out.update(co2_uptake_mmol=None, co2_uptake_hold_mmol=None, co2_uptake_vs_po=None)
        out["notes"] = [n for n in out["notes"] if "CO2 uptake" not in n and "first and last readings" not in n]
        out["notes"].append(
            "CO2 was fed from the regulator during the hold, so the headspace pressure does not show the "
            "uptake; run with co2_supply=sealed to see it as a pressure drop"
        )
    return out


CO2_PHOTOREDUCTION = Experiment(
    name="co2-photoreduction",
    summary="Photocatalytic CO2 reduction: CO2 purge, light on, GC samples of CO, CH4, H2; rates and selectivity",
    params=(
        Param(
            "catalyst_mass", "catalyst_mass_g", "g", "10mg", "catalyst mass in the reactor", within=("0.1 mg", "10 g")
        ),
        Param("lamp_power", "lamp_power_w", "W", "300W", "lamp power preset (arc lamp)", within=("1 W", "2 kW")),
        Param("led_current", "led_current_a", "A", None, "LED drive current (LED source)", within=("1 mA", "10 A")),
        Param("duration", "duration_s", "s", "6h", "irradiation time", within=("1 min", "30 d")),
        Param("sample_interval", "sample_interval_s", "s", "1h", "time between GC samples", within=("1 min", "1 d")),
        Param("dark_samples", "dark_samples", "int", "1", "GC samples before the light is on", within=(0, 50)),
        Param("purge", "purge_s", "s", "30min", "CO2 purge before sealing", within=("1 min", "4 h")),
        Param(
            "wavelength",
            "wavelength_nm",
            "nm",
            None,
            "monochromatic wavelength (for AQY)",
            within=("200 nm", "1100 nm"),
        ),
        Param(
            "light_power", "light_power_w", "W", None, "optical power at the sample (for AQY)", within=("1 uW", "10 W")
        ),
        Param("catalyst", "catalyst", None, "CdS/TiO2:Cu hollow spheres", "catalyst name"),
        Param("sample", "sample", None, "", "sample label"),
        Param("operator", "operator_name", None, "", "who ran it"),
    ),
    build=_build_co2_photoreduction,
    analyze=_analyze_co2_photoreduction,
    check=_check_co2_photoreduction,
)


_CYCLO_PARAMS = (
    Param("catalyst", "catalyst", None, None, f"catalyst name (without zn_fraction: {CYCLO_DEFAULT_CATALYST})"),
    Param(
        "zn_fraction",
        "zn_fraction",
        "fraction",
        None,
        "Zn fraction x: the catalyst is Mn:(Cd1-xZnxSe)13 SS (instead of a name)",
        within=(0, 1),
    ),
    Param("catalyst_mass", "catalyst_mass_mg", "mg", "4.5mg", "catalyst mass", within=("0.01 mg", "5 g")),
    Param(
        "surface_metal",
        "surface_metal_umol",
        "umol",
        None,
        "surface metal from ICP-AES",
        within=("0.001 umol", "10 mmol"),
    ),
    Param("epoxide_volume", "epoxide_volume_ml", "mL", "3mL", "propylene oxide volume", within=("0.1 mL", "50 mL")),
    Param("tbab", "tbab_mg", "mg", "100mg", "TBAB co-catalyst", within=("0 mg", "5 g")),
    Param("pressure", "pressure_bar", "bar", "3bar", "CO2 charge pressure", within=("0.1 bar", "200 bar")),
    Param("temperature", "temperature_c", "degC", "70degC", "reaction temperature", within=("-20 degC", "350 degC")),
    Param("hold", "hold_s", "s", "6h", "time at temperature", within=("1 min", "30 d")),
    Param("stir", "stir_rpm", "rpm", "800rpm", "stirrer speed", within=("0 rpm", "3000 rpm")),
    Param(
        "ramp",
        "ramp_c_per_min",
        "delta_degC/min",
        None,
        "heating rate (setpoint ramp), within the bench limit",
        within=("0.1 delta_degC/min", "100 delta_degC/min"),
    ),
    Param("co2_supply", "co2_supply", None, "regulated", "regulated (fed at pressure) or sealed", choices=CO2_SUPPLIES),
    Param("purge_cycles", "purge_cycles", "int", "3", "CO2 fill-and-vent purges before the charge", within=(0, 20)),
    Param("leak_check", "leak_check_s", "s", "10min", "pressure-hold leak check", within=("0 s", "24 h")),
    Param("trace_interval", "trace_interval_s", "s", "1min", "time between recorded T/P points", within=("1 s", "1 h")),
    Param("sample", "sample", None, "", "sample label"),
    Param("operator", "operator_name", None, "", "who ran it"),
)

CO2_CYCLOADDITION = Experiment(
    name="co2-cycloaddition",
    summary="Epoxide + CO2 -> cyclic carbonate in the Parr reactor: TON/TOF per cluster",
    params=_CYCLO_PARAMS,
    build=_build_cyclo,
    analyze=_analyze_cyclo,
    check=_check_cyclo,
)

RECYCLE = Experiment(
    name="recycle",
    summary="One catalyst through N cycloaddition cycles, recovered between runs",
    params=(Param("cycles", "cycles", "int", "10", "number of cycles", within=(1, 50)), *_CYCLO_PARAMS),
    build=_build_recycle,
    analyze=_analyze_cyclo,
    check=_check_cyclo,
)


# -- cluster growth and suprastructure assembly (the synthesis flask) ---------------------------------
def _flask_devices(bench: Any) -> dict[str, Any]:
    d = bench.devices
    if not all(k in d for k in ("pump", "hotplate", "absorbance")):
        raise ParameterError(
            f"bench {bench.config.name!r} has no synthesis flask; use --bench sim-synthesis, or add [pump], "
            "[hotplate] and [absorbance] sections to the bench file"
        )
    return d


def _growth_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    kwargs = dict(kwargs)
    if "stop_when_narrowing_stops" in kwargs:
        kwargs["stop_when_narrowing_stops"] = kwargs["stop_when_narrowing_stops"] == "yes"
    return kwargs


def _build_growth(bench: Any, kwargs: dict[str, Any]) -> Any:
    from labctl.plans.cluster_growth import cluster_growth

    d = _flask_devices(bench)
    return cluster_growth(
        d["pump"], d["hotplate"], d["absorbance"], d["operator"], d["clock"], **_growth_kwargs(kwargs)
    )


def _check_growth(bench: Any, kwargs: dict[str, Any]) -> list[str]:
    from labctl.plans.cluster_growth import check_growth, cluster_growth

    d = _flask_devices(bench)
    return run_check(check_growth, cluster_growth, (d["pump"], d["hotplate"], d["absorbance"]), _growth_kwargs(kwargs))


def _spectra(start: Mapping[str, Any], tables: Tables, stream: str = "primary") -> tuple[Any, Any, Any]:
    """Times (s), wavelengths (nm) and the absorbance spectra (one row per spectrum) of a flask run."""
    rows = tables.get(stream, {})
    spectra = rows.get("absorbance-absorbance")
    if spectra is None or len(spectra) == 0:
        raise ValueError("this run has no absorbance spectrum (it ended before the first one)")
    wavelengths = np.asarray(start["wavelengths_nm"], dtype=float)
    return np.asarray(rows["clock-elapsed"], dtype=float), wavelengths, np.asarray(spectra, dtype=float)


def _analyze_growth(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    from labctl.analysis.growth import growth_figures, growth_traces, material_of

    times, wavelengths, spectra = _spectra(start, tables)
    injected = tables["primary"].get("pump-dispensed")
    traces = growth_traces(times, wavelengths, spectra, material=material_of(str(start.get("precursor", ""))))
    figures = dict(growth_figures(traces, injected_ml=None if injected is None else np.asarray(injected, dtype=float)))
    target = start.get("target_nm")
    peak = figures.get("first_exciton_nm")
    if target is not None:
        figures["reached_target"] = bool(peak is not None and math.isfinite(peak) and peak >= float(target))
    figures["endpoint"] = _growth_endpoint(start, tables, figures)
    return figures


def _growth_endpoint(start: Mapping[str, Any], tables: Tables, figures: Mapping[str, Any]) -> str:
    """Why the injection ended, from what was recorded: the target, the volume, or the peak's narrowing."""
    end = tables.get("injection_end", {}).get("pump-dispensed")
    if end is None or len(end) == 0:
        return "the run ended before the injection did (see the run's exit status and reason)"
    volume = float(start.get("injection_volume_ml") or 0.0)
    if figures.get("reached_target"):
        return f"first exciton reached the target {float(start['target_nm']):g} nm"
    if float(end[0]) >= volume - 0.002:
        return f"volume delivered ({volume:g} mL)"
    if (start.get("plan_args") or {}).get("stop_when_narrowing_stops"):
        return "the first exciton stopped narrowing"
    return f"injection stopped at {float(end[0]):.3f} mL"


def _build_assembly(bench: Any, kwargs: dict[str, Any]) -> Any:
    from labctl.plans.cluster_growth import ss_assembly

    d = _flask_devices(bench)
    return ss_assembly(d["hotplate"], d["absorbance"], d["operator"], d["clock"], **kwargs)


def _check_assembly(bench: Any, kwargs: dict[str, Any]) -> list[str]:
    from labctl.plans.cluster_growth import check_assembly, ss_assembly

    d = _flask_devices(bench)
    return run_check(check_assembly, ss_assembly, (d["hotplate"], d["absorbance"]), kwargs)


def _analyze_assembly(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    from labctl.analysis.growth import assembly_figures, assembly_traces

    times, wavelengths, spectra = _spectra(start, tables)
    return dict(assembly_figures(assembly_traces(times, wavelengths, spectra)))


CLUSTER_GROWTH = Experiment(
    name="cluster-growth",
    summary="Clusters grown by slow injection into a hot flask, followed by in-situ absorbance: peak and width",
    params=(
        Param("precursor", "precursor", None, "InAs amorphous cluster", "what the syringe holds"),
        Param(
            "injection_rate",
            "injection_rate_ml_per_h",
            "mL/h",
            "2mL/h",
            "injection rate (within the syringe's range)",
            within=("0.001 mL/h", "2000 mL/h"),
        ),
        Param("injection_volume", "injection_volume_ml", "mL", "10mL", "volume to inject", within=("1 uL", "200 mL")),
        Param("temperature", "temperature_c", "degC", "280degC", "flask temperature", within=("20 degC", "350 degC")),
        Param("spectrum_interval", "spectrum_interval_s", "s", "30s", "time between spectra", within=("1 s", "1 h")),
        Param("solvent_volume", "solvent_volume_ml", "mL", "10mL", "solvent in the flask", within=("1 mL", "500 mL")),
        Param("stir", "stir_rpm", "rpm", "600rpm", "stirring speed", within=("0 rpm", "1500 rpm")),
        Param(
            "target",
            "target_nm",
            "nm",
            None,
            "stop when the first exciton reaches this wavelength",
            within=("200 nm", "1100 nm"),
        ),
        Param(
            "stop_when_narrowing_stops",
            "stop_when_narrowing_stops",
            None,
            "no",
            "stop the injection when the peak stops narrowing",
            choices=("yes", "no"),
        ),
        Param("hold_after", "hold_after_s", "s", "0s", "spectra after the injection ends", within=("0 s", "7 d")),
        Param("sample", "sample", None, "", "sample label"),
        Param("operator", "operator_name", None, "", "who ran it"),
    ),
    build=_build_growth,
    analyze=_analyze_growth,
    check=_check_growth,
)

SS_ASSEMBLY = Experiment(
    name="ss-assembly",
    summary="Magic-sized clusters held at ~120 °C assemble into suprastructures: MSC peaks and scattering",
    params=(
        Param("sample", "sample", None, "Mn:(CdSe)13 MSC", "the clusters added to the hot solvent"),
        Param(
            "temperature", "temperature_c", "degC", "120degC", "assembly temperature", within=("20 degC", "350 degC")
        ),
        Param("duration", "duration_s", "s", "2h", "time at temperature", within=("1 min", "7 d")),
        Param("spectrum_interval", "spectrum_interval_s", "s", "60s", "time between spectra", within=("1 s", "1 h")),
        Param("solvent_volume", "solvent_volume_ml", "mL", "10mL", "solvent in the flask", within=("1 mL", "500 mL")),
        Param("stir", "stir_rpm", "rpm", "300rpm", "stirring speed", within=("0 rpm", "1500 rpm")),
        Param("cool_to", "cool_to_c", "degC", "40degC", "end when cooled below", within=("20 degC", "200 degC")),
        Param("operator", "operator_name", None, "", "who ran it"),
    ),
    build=_build_assembly,
    analyze=_analyze_assembly,
    check=_check_assembly,
)


def split_runs(docs: list[tuple[str, dict[str, Any]]]) -> list[list[tuple[str, dict[str, Any]]]]:
    """The documents of each run, in order, from a stream holding several runs."""
    runs: list[list[tuple[str, dict[str, Any]]]] = []
    for name, doc in docs:
        if name == "start":
            runs.append([])
        if runs:
            runs[-1].append((name, doc))
    return runs


def list_experiments() -> list[dict[str, str]]:
    """Each experiment's name and one-line summary, in the order labctl knows them."""
    return [{"name": e.name, "summary": e.summary} for e in EXPERIMENTS.values()]


def get_experiment(name: str) -> Experiment:
    key = name.replace("_", "-")
    if key not in EXPERIMENTS:
        raise ParameterError(f"no experiment named {name!r}; known: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[key]


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["duration=4h", ...]`` -> ``{"duration": "4h"}``; a name given twice is refused, not overwritten."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"-p {pair!r} must be name=value, e.g. -p duration=4h")
        if name in out:
            raise ParameterError(
                f"-p {name} is given twice ({name}={out[name]} and {name}={value.strip()}); give it once"
            )
        out[name] = value.strip()
    return out


# -- photoluminescence (fluorometer) ---------------------------------------------------------------
_SAMPLE = Param("sample", "sample", None, "Mn:(CdSe)13(BDA) SS", "film in the fluorometer (name or BDA-MSC, SS, ...)")


def _fluor(bench: Any) -> Any:
    d = bench.devices
    if "fluor" not in d:
        raise ParameterError(
            f"bench {bench.config.name!r} has no fluorometer; add a [fluorometer] section to the bench file"
        )
    return d["fluor"]


def _pl_check(name: str) -> Callable[[Any, dict[str, Any]], list[str]]:
    def check(bench: Any, kwargs: dict[str, Any]) -> list[str]:
        import labctl.plans.photoluminescence as pl

        checks = run_check(getattr(pl, f"check_{name}"), getattr(pl, name), (_fluor(bench),), kwargs)
        if bench.sim is not None:
            try:
                checks.append(f"simulated film: {bench.simulated_film(kwargs['sample'])}")
            except KeyError as exc:
                raise ParameterError(f"sample={kwargs['sample']!r}: {exc.args[0]}") from exc
        return checks

    return check


def _pl_build(name: str) -> Callable[[Any, dict[str, Any]], Any]:
    def build(bench: Any, kwargs: dict[str, Any]) -> Any:
        import labctl.plans.photoluminescence as pl

        d = bench.devices
        return getattr(pl, name)(_fluor(bench), d["operator"], d["clock"], **kwargs)

    return build


def _stream(tables: Tables, stream: str, key: str, what: str) -> np.ndarray:
    data = tables.get(stream, {}).get(key)
    if data is None or len(data) == 0:
        raise ValueError(f"this run has no {what} (stream {stream!r}, field {key!r}); it ended before measuring")
    return np.asarray(data, dtype=float)


def _responsivity(tables: Tables) -> np.ndarray | None:
    resp = tables.get("calibration", {}).get("fluor-calibration-responsivity")
    return None if resp is None or len(resp) == 0 else np.asarray(resp[-1], dtype=float)


def _analyze_emission(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    from labctl.analysis.photoluminescence import spectrum_figures

    wl = _stream(tables, "primary", "fluor-spectrum-wavelengths", "emission spectrum")[-1]
    spectra = _stream(tables, "primary", "fluor-spectrum-corrected", "emission spectrum")
    args = start["plan_args"]
    saturated = bool(np.any(tables["primary"].get("fluor-spectrum-saturated", [False])))
    return spectrum_figures(wl, spectra.mean(axis=0), (args["start_nm"], args["stop_nm"]), saturated=saturated)


def _analyze_excitation(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    wl = _stream(tables, "primary", "fluor-excitation-wavelength", "excitation scan")
    pl = _stream(tables, "primary", "fluor-point-pl", "excitation scan")
    i = int(np.argmax(pl))
    return {
        "excitation_peak_nm": float(wl[i]),
        "peak_pl": float(pl[i]),
        "points": len(wl),
        "notes": ["excitation spectrum not corrected for the lamp's spectral output"],
    }


def _analyze_plqy(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    from labctl.analysis.photoluminescence import plqy_sphere

    wl = _stream(tables, "blank", "fluor-spectrum-wavelengths", "blank spectrum")[-1]
    blank = _stream(tables, "blank", "fluor-spectrum-counts", "blank spectrum")
    sample = _stream(tables, "sample", "fluor-spectrum-counts", "sample spectrum in the sphere")
    res = plqy_sphere(
        wl,
        blank,
        sample,
        excitation_window_nm=tuple(start["excitation_window_nm"]),  # type: ignore[arg-type]
        emission_window_nm=tuple(start["emission_window_nm"]),  # type: ignore[arg-type]
        responsivity=_responsivity(tables),
    )
    return {
        "plqy": res.plqy,
        "plqy_err": res.plqy_err,
        "plqy_percent": 100 * res.plqy,
        "absorbed_fraction": res.absorbed_fraction,
        "replicates": res.replicates,
        "excitation_window_nm": list(res.excitation_window_nm),
        "emission_window_nm": list(res.emission_window_nm),
        "notes": ([] if _responsivity(tables) is not None else ["no spectral correction on this bench"])
        + (
            [
                f"PLQY is within 2 standard errors of zero: below the detection limit of ~{200 * res.plqy_err:.1g} % "
                "here; add replicates or integration time to go lower"
            ]
            if res.plqy < 2 * res.plqy_err
            else []
        ),
    }


def _analyze_photostability(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    from labctl.analysis.photoluminescence import photostability_figures

    t = _stream(tables, "primary", "clock-elapsed", "PL points")
    pl = _stream(tables, "primary", "fluor-point-pl", "PL points")
    dwell = float(start["plan_args"]["dwell_s"])
    saturated = tables["primary"].get("fluor-point-saturated")
    return photostability_figures(
        t - dwell / 2, pl, saturated=None if saturated is None else np.asarray(saturated, dtype=bool)
    )


def _analyze_decay(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    from labctl.analysis.photoluminescence import decay_figures

    t = _stream(tables, "primary", "fluor-decay-time", "decay histogram")[-1]
    counts = _stream(tables, "primary", "fluor-decay-counts", "decay histogram").sum(axis=0)
    saturated = bool(np.any(tables["primary"].get("fluor-decay-saturated", [False])))
    return decay_figures(t, counts, saturated=saturated)


EMISSION_SCAN = Experiment(
    name="emission-scan",
    summary="Emission spectrum of a film at a fixed excitation wavelength",
    params=(
        _SAMPLE,
        Param("excitation", "excitation_nm", "nm", "350nm", "excitation wavelength", within=("100 nm", "2000 nm")),
        Param("start", "start_nm", "nm", "450nm", "emission window start", within=("100 nm", "2000 nm")),
        Param("stop", "stop_nm", "nm", "750nm", "emission window end", within=("100 nm", "2000 nm")),
        Param(
            "excitation_bandwidth",
            "excitation_bandwidth_nm",
            "nm",
            "5nm",
            "excitation band-pass",
            within=("0.1 nm", "200 nm"),
        ),
        Param(
            "integration_time",
            "integration_s",
            "s",
            "100ms",
            "spectrometer integration time",
            within=("10 us", "10 min"),
        ),
        Param("averages", "averages", "int", "3", "spectra averaged", within=(1, 1000)),
    ),
    build=_pl_build("emission_scan"),
    analyze=_analyze_emission,
    check=_pl_check("emission_scan"),
)

EXCITATION_SCAN = Experiment(
    name="excitation-scan",
    summary="Excitation spectrum: PL in an emission band vs excitation wavelength",
    params=(
        _SAMPLE,
        Param("emission", "emission_nm", "nm", "593nm", "emission wavelength watched", within=("100 nm", "2000 nm")),
        Param("start", "start_nm", "nm", "280nm", "first excitation wavelength", within=("100 nm", "2000 nm")),
        Param("stop", "stop_nm", "nm", "420nm", "last excitation wavelength", within=("100 nm", "2000 nm")),
        Param("step", "step_nm", "nm", "2nm", "excitation step", within=("0.01 nm", "100 nm")),
        Param(
            "excitation_bandwidth",
            "excitation_bandwidth_nm",
            "nm",
            "5nm",
            "excitation band-pass",
            within=("0.1 nm", "200 nm"),
        ),
        Param(
            "emission_bandwidth",
            "emission_bandwidth_nm",
            "nm",
            "10nm",
            "emission band integrated",
            within=("0.1 nm", "200 nm"),
        ),
        Param(
            "integration_time", "integration_s", "s", "200ms", "spectrometer dwell per step", within=("10 us", "10 min")
        ),
    ),
    build=_pl_build("excitation_scan"),
    analyze=_analyze_excitation,
    check=_pl_check("excitation_scan"),
)

PLQY = Experiment(
    name="plqy",
    summary="Absolute PLQY of a film in the integrating sphere (blank, then sample)",
    params=(
        _SAMPLE,
        Param("excitation", "excitation_nm", "nm", "350nm", "excitation wavelength", within=("100 nm", "2000 nm")),
        Param(
            "excitation_bandwidth",
            "excitation_bandwidth_nm",
            "nm",
            "20nm",
            "excitation band-pass",
            within=("0.1 nm", "200 nm"),
        ),
        Param(
            "emission_start", "emission_start_nm", "nm", "450nm", "emission window start", within=("100 nm", "2000 nm")
        ),
        Param("emission_stop", "emission_stop_nm", "nm", "800nm", "emission window end", within=("100 nm", "2000 nm")),
        Param(
            "integration_time",
            "integration_s",
            "s",
            "200ms",
            "spectrometer integration time",
            within=("10 us", "10 min"),
        ),
        Param("replicates", "replicates", "int", "3", "spectra of blank and of sample", within=(2, 50)),
    ),
    build=_pl_build("plqy"),
    analyze=_analyze_plqy,
    check=_pl_check("plqy"),
)

PHOTOSTABILITY = Experiment(
    name="photostability",
    summary="Overnight photostability: continuous excitation, PL followed at an interval",
    params=(
        _SAMPLE,
        Param(
            "excitation",
            "excitation_nm",
            "nm",
            "350nm",
            "excitation wavelength (448nm for NRs)",
            within=("100 nm", "2000 nm"),
        ),
        Param("emission", "emission_nm", "nm", "593nm", "emission wavelength followed", within=("100 nm", "2000 nm")),
        Param(
            "excitation_bandwidth",
            "excitation_bandwidth_nm",
            "nm",
            "20nm",
            "excitation band-pass (slit)",
            within=("0.1 nm", "200 nm"),
        ),
        Param(
            "emission_bandwidth",
            "emission_bandwidth_nm",
            "nm",
            "10nm",
            "emission band integrated",
            within=("0.1 nm", "200 nm"),
        ),
        Param("dwell", "dwell_s", "s", "0.2s", "spectrometer dwell per PL point", within=("1 ms", "1 min")),
        Param("interval", "interval_s", "s", "10s", "time between PL points", within=("1 s", "1 d")),
        Param("duration", "duration_s", "s", "12h", "irradiation time", within=("1 min", "7 d")),
        Param(
            "spectrum_interval", "spectrum_interval_s", "s", "30min", "time between full spectra", within=("1 s", "7 d")
        ),
        Param(
            "stop_below",
            "stop_below",
            "fraction",
            None,
            "stop when PL falls below this fraction, e.g. 0.5",
            within=(0, 1),
        ),
    ),
    build=_pl_build("photostability"),
    analyze=_analyze_photostability,
    check=_pl_check("photostability"),
)

PL_DECAY = Experiment(
    name="pl-decay",
    summary="Mn2+ PL decay: pulsed excitation, multichannel-scaling histogram, lifetimes",
    params=(
        _SAMPLE,
        Param(
            "emission", "emission_nm", "nm", "593nm", "emission wavelength (PMT filter)", within=("100 nm", "2000 nm")
        ),
        Param("time_range", "time_range_s", "s", "2.5ms", "histogram length after each pulse", within=("1 us", "1 s")),
        Param(
            "bin_width",
            "bin_width_s",
            "s",
            "2.5us",
            "histogram bin width (the scaler rounds to its own)",
            within=("5 ns", "10 ms"),
        ),
        Param("records", "records", "int", "10000", "pulses summed per scan", within=(100, 10_000_000)),
        Param(
            "scans",
            "scans",
            "int",
            "5",
            "scans summed (each within the scaler's 32767 counts per bin)",
            within=(1, 1000),
        ),
    ),
    build=_pl_build("pl_decay"),
    analyze=_analyze_decay,
    check=_pl_check("pl_decay"),
)


# -- GC calibration --------------------------------------------------------------------------------
def _build_gc_calibration(bench: Any, kwargs: dict[str, Any]) -> Any:
    from labctl.plans.gc_calibration import gc_calibration

    d = bench.devices
    return gc_calibration(d["gc"], d["gc_calibrations"], d["operator"], d["clock"], **kwargs)


def _check_gc_calibration(bench: Any, kwargs: dict[str, Any]) -> list[str]:
    from labctl.plans.gc_calibration import check_gc_calibration, gc_calibration

    return run_check(check_gc_calibration, gc_calibration, (bench.devices["gc"],), kwargs)


def _analyze_gc_calibration(start: Mapping[str, Any], tables: Tables) -> dict[str, Any]:
    cal = tables.get("calibration", {})
    # the store is the device gc_calibrations (gc_calibration in runs recorded before the rename)
    store = "gc_calibrations" if "gc_calibrations-gas" in cal else "gc_calibration"
    if not cal or len(cal.get(f"{store}-gas", [])) == 0:
        raise ValueError("this calibration run stored no calibration (a fit was refused, or it ended early)")
    out: dict[str, Any] = {"calibrations": {}}
    for i, gas in enumerate(cal[f"{store}-gas"]):
        out["calibrations"][str(gas)] = {
            "slope": float(cal[f"{store}-slope"][i]),
            "intercept": float(cal[f"{store}-intercept"][i]),
            "r_squared": float(cal[f"{store}-r_squared"][i]),
            "amount_range_umol": [
                float(cal[f"{store}-amount_min"][i]),
                float(cal[f"{store}-amount_max"][i]),
            ],
            "residuals": json.loads(str(cal[f"{store}-residuals"][i])),
            "created": str(cal[f"{store}-created"][i]),
            "method": str(cal[f"{store}-method"][i]),
        }
    first = next(iter(out["calibrations"].values()))
    out.update(r_squared=first["r_squared"], slope=first["slope"], notes=[])
    return out


GC_CALIBRATION = Experiment(
    name="gc-calibration",
    summary="GC external-standard calibration: known amounts injected, area vs amount fitted and kept",
    params=(
        Param("gas", "gases", "list", "H2", "gas(es) to calibrate, comma-separated"),
        Param(
            "amounts",
            "amounts_umol",
            "list:umol",
            "0.5,1,2,5,10umol",
            "µmol of each standard injected",
            within=("0.001 umol", "10 mmol"),
        ),
        Param(
            "standard",
            "standard_fraction",
            "fraction",
            "100%",
            "mole fraction of the gas in the standard",
            within=(0, 1),
        ),
        Param(
            "standard_temperature",
            "standard_temperature_k",
            "K",
            "25degC",
            "temperature of the standard",
            within=("-20 degC", "100 degC"),
        ),
        Param(
            "standard_pressure",
            "standard_pressure_pa",
            "Pa",
            "1atm",
            "pressure of the standard",
            within=("10 kPa", "10 bar"),
        ),
        Param("replicates", "replicates", "int", "1", "injections per amount", within=(1, 10)),
        Param("min_r2", "min_r2", "number", "0.995", "lowest R² accepted", within=(0.9, 1)),
    ),
    build=_build_gc_calibration,
    analyze=_analyze_gc_calibration,
    check=_check_gc_calibration,
)


def _named_as_given(exp: Experiment) -> Experiment:
    """``exp`` whose check names the CLI's parameters: a plan's own check names its keyword
    (``tbab_mg=-100 mg``), a ``labctl run`` user gave ``-p tbab=...``."""
    from labctl.plans.stubs import PlanArgumentError

    renames = [(re.compile(rf"\b{re.escape(p.arg)}="), f"{p.name}=") for p in exp.params if p.arg != p.name]
    plan_check = exp.check

    def check(bench: Any, kwargs: dict[str, Any]) -> list[str]:
        try:
            return plan_check(bench, kwargs)
        except PlanArgumentError as exc:
            message = str(exc)
            for pattern, name in renames:
                message = pattern.sub(name, message)
            raise PlanArgumentError(message) from exc

    return dataclasses.replace(exp, check=check)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: _named_as_given(e)
    for e in (
        H2_EVOLUTION,
        CO2_PHOTOREDUCTION,
        GC_CALIBRATION,
        CO2_CYCLOADDITION,
        RECYCLE,
        EMISSION_SCAN,
        EXCITATION_SCAN,
        PLQY,
        PHOTOSTABILITY,
        PL_DECAY,
        CLUSTER_GROWTH,
        SS_ASSEMBLY,
    )
}
