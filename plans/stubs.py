"""Plan stubs shared by the experiments: light on/off, timed waits on the bench clock, GC samples.

Stubs open no run.  They are typed generators of Bluesky messages and never block.
"""

import math
from collections.abc import Generator, Sequence
from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import Msg

from labctl.devices.lamp import LampState
from labctl.devices.operator import HandStep, Operator
from labctl.devices.photoreactor import BenchClock
from labctl.units import UnitError, to_unit

MsgGen = Generator[Msg, Any, Any]


class PlanArgumentError(ValueError):
    """A plan argument outside what the plan or the bench allows."""


# Plan arguments carry their unit in the name: ``hold_s``, ``tbab_mg``, ``ramp_c_per_min``.
_ARG_UNITS = {
    "s": "s",
    "g": "g",
    "mg": "mg",
    "ml": "mL",
    "bar": "bar",
    "c": "°C",
    "c_per_min": "°C/min",
    "rpm": "rpm",
    "umol": "umol",
    "nm": "nm",
    "w": "W",
    "a": "A",
    "k": "K",
    "pa": "Pa",
    "percent": "%",
    "mol_per_l": "mol/L",
    "ml_per_h": "mL/h",
    "mev": "meV",
}


# the same, spelt for pint: a unit string given to a plan is converted to these
_PINT_UNITS = {
    "c": "degC",
    "c_per_min": "delta_degC/min",
    "ml": "mL",
    "rpm": "1/min",
    "umol": "umol",
    "percent": "percent",
    "mol_per_l": "mol/L",
    "ml_per_h": "mL/h",
}


def si_args(**values: Any) -> tuple[Any, ...]:
    """Plan arguments as numbers in the unit their keyword names: ``catalyst_mass_g="10 mg"`` ->
    ``0.01``.  Numbers and None pass unchanged (checked later by the plan); a string is converted
    with :func:`labctl.units.to_unit`, and a bad one is refused naming the keyword sent."""
    out = []
    for arg, value in values.items():
        if isinstance(value, str) and arg.endswith("_fraction"):
            value = _fraction(arg, value)
        elif isinstance(value, str):
            suffix = next((u for u in sorted(_ARG_UNITS, key=len, reverse=True) if arg.endswith(f"_{u}")), "")
            if not suffix:
                raise PlanArgumentError(f"{arg}={value!r} must be a number")
            unit = _PINT_UNITS.get(suffix, _ARG_UNITS[suffix])
            try:
                value = to_unit(arg, value, unit, example=f"1 {_ARG_UNITS[suffix]}")
            except UnitError as exc:
                raise PlanArgumentError(str(exc)) from exc
        elif isinstance(value, list | tuple):
            value = list(si_args(**{arg: v})[0] for v in value)
        out.append(value)
    return tuple(out)


def _fraction(arg: str, text: str) -> float:
    """``"0.5"`` or ``"50%"`` -> 0.5 (a dimensionless argument, ``..._fraction``)."""
    t = text.strip()
    scale = 100.0 if t.endswith("%") else 1.0
    try:
        return float(t.removesuffix("%").strip()) / scale
    except ValueError:
        raise PlanArgumentError(
            f"{arg}={text!r} must be a fraction like 0.5 or a percentage like 50%, e.g. {arg}=0.5"
        ) from None


def load_step(operator: Operator, where: str, text: str, **sample: Any) -> MsgGen:
    """The operator loads the sample the plan describes (``where``: ``photoreactor``, ``parr`` or
    ``fluorometer``); on a real bench they are shown ``text``, on a simulated one the simulator
    takes the sample into its model.  The step is recorded as the operator's last step."""
    yield from bps.mv(operator, HandStep(f"load_sample:{where}", text, sample=dict(sample)))


def load_photoreactor(
    operator: Operator,
    *,
    catalyst_mass_g: float,
    catalyst: str = "",
    co_doping_percent: float | None = None,
    donor_mol_per_l: float | None = None,
    ph: float | None = None,
) -> MsgGen:
    """Weigh the catalyst into the photoreactor (a gas-phase run's loading step).

    The sample's make-up -- the catalyst's Co2+ level (mol %), the sacrificial donor's
    concentration (mol/L) and the pH -- goes with the step when given (None: the operator's
    usual dispersion, which the step does not state).
    """
    what = f"{catalyst_mass_g * 1e3:g} mg" + (f" of {catalyst}" if catalyst else " of catalyst")
    if co_doping_percent is not None:
        what += f" ({co_doping_percent:g} mol % Co2+)"
    liquid = []
    if donor_mol_per_l is not None:
        liquid.append(f"{donor_mol_per_l:g} mol/L sacrificial donor")
    if ph is not None:
        liquid.append(f"adjusted to pH {ph:g}")
    into = f" dispersed in {', '.join(liquid)}" if liquid else ""
    conditions = {"co_doping_percent": co_doping_percent, "donor_mol_per_l": donor_mol_per_l, "ph": ph}
    yield from load_step(
        operator,
        "photoreactor",
        f"Load {what}{into} into the photoreactor, seal and purge it",
        catalyst_mass_g=catalyst_mass_g,
        catalyst=catalyst,
        **{k: v for k, v in conditions.items() if v is not None},
    )


def arg_name_and_unit(arg: str) -> tuple[str, str]:
    """``"hold_s"`` -> ``("hold", "s")``; ``"purge_cycles"`` -> ``("purge_cycles", "")``."""
    for suffix in sorted(_ARG_UNITS, key=len, reverse=True):
        if arg.endswith(f"_{suffix}"):
            return arg.removesuffix(f"_{suffix}"), _ARG_UNITS[suffix]
    return arg, ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Checks(list[str]):
    """Argument checks run before a plan's first message; keeps what passed for a dry run's report."""

    def need(self, ok: bool, failure: str, passed: str) -> None:
        """Raise :class:`PlanArgumentError` with ``failure`` unless ``ok``; else record ``passed``."""
        if not ok:
            raise PlanArgumentError(failure)
        self.append(passed)

    def finite(self, **values: Any) -> None:
        """Every number given (None skipped) is finite; named by its argument, e.g. ``hold=nan s``."""
        for arg, value in values.items():
            if value is None or isinstance(value, str):
                continue
            numbers = list(value) if isinstance(value, list | tuple) else [value]
            for v in numbers:
                name, unit = arg, arg_name_and_unit(arg)[1]
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise PlanArgumentError(f"{name}={v!r} must be a number{f' in {unit}' if unit else ''}")
                if not math.isfinite(v):
                    raise PlanArgumentError(
                        f"{name}={v:g}{f' {unit}' if unit else ''} must be a finite number; give a finite value"
                        f"{f' in {unit}' if unit else ''}"
                    )
        self.append("arguments finite")

    def within(self, arg: str, value: float, lo: float, hi: float, *, example: str = "") -> None:
        """``lo <= value <= hi``, the message naming the argument, the value, the range and an example."""
        name, unit = arg, arg_name_and_unit(arg)[1]
        u = f" {unit}" if unit else ""
        self.need(
            lo <= value <= hi,
            f"{name}={value:g}{u} must be between {lo:g} and {hi:g}{u}"
            + (f", e.g. {name}={example if _is_number(example) else repr(example)}" if example else ""),
            f"{name} {value:g}{u} in {lo:g}-{hi:g}{u}",
        )


def lamp_on(lamp: Any, power_w: float | None = None, *, current_a: float | None = None) -> MsgGen:
    """Set the light's level -- an arc lamp's power preset, or a drive current (an LED) -- then
    switch it on; returns when the source confirms it is lit."""
    if current_a is not None:
        yield from bps.mv(lamp.current, current_a)
    elif power_w is not None:
        yield from bps.mv(lamp.power, power_w)
    yield from bps.mv(lamp, LampState.ON)


def lamp_off(lamp: Any) -> MsgGen:
    """Switch the lamp off and wait for the supply to confirm."""
    yield from bps.mv(lamp, LampState.OFF)


def sleep_until(clock: BenchClock, t_s: float) -> MsgGen:
    """Sleep until ``clock.elapsed`` reaches ``t_s`` (no-op if already past)."""
    now = yield from bps.rd(clock.elapsed)
    if t_s > now:
        yield from bps.sleep(t_s - now)


def gas_volumes(reactor: Any, gc: Any) -> MsgGen:
    """The reactor headspace and the GC sample loop (volume mL, temperature K, pressure Pa), as recorded
    in a gas-phase run's start document to turn µmol injected into µmol in the headspace."""
    headspace = {
        "volume_ml": (yield from bps.rd(reactor.headspace_volume)),
        "temperature_k": (yield from bps.rd(reactor.temperature)),
        "pressure_pa": (yield from bps.rd(reactor.pressure)),
    }
    gc_loop = {
        "volume_ml": (yield from bps.rd(gc.loop_volume)),
        "temperature_k": (yield from bps.rd(gc.loop_temperature)),
        "pressure_pa": (yield from bps.rd(gc.loop_pressure)),
    }
    return headspace, gc_loop


def sampled_irradiation(
    lamp: Any,
    detectors: Sequence[Any],
    clock: BenchClock,
    *,
    dark_samples: int,
    n_light: int,
    sample_interval_s: float,
    power_w: float | None = None,
    current_a: float | None = None,
) -> MsgGen:
    """Samples in the dark, light on (stream ``lamp_on``), samples under light, light off (``lamp_off``).

    Sample k is taken at ``k * sample_interval_s`` on the bench clock (zeroed here); the light
    goes on after the dark samples.  The caller wraps this so that the light is off on every
    exit path.
    """
    yield from bps.mv(clock, 0.0)
    if hasattr(lamp, "watts"):  # an arc lamp's power, polled by the device; an LED's current is in every sample
        yield from bps.monitor(lamp.watts, name="lamp_monitor")
    for i in range(dark_samples):
        yield from sleep_until(clock, i * sample_interval_s)
        yield from sample(detectors)
    t_on = dark_samples * sample_interval_s
    yield from sleep_until(clock, t_on)
    yield from lamp_on(lamp, power_w, current_a=current_a)
    yield from bps.trigger_and_read([clock, lamp], name="lamp_on")
    for k in range(1, n_light + 1):
        yield from sleep_until(clock, t_on + k * sample_interval_s)
        yield from sample(detectors)
    yield from lamp_off(lamp)
    yield from bps.trigger_and_read([clock, lamp], name="lamp_off")


def sample(detectors: Sequence[Any], *, stream: str = "primary") -> MsgGen:
    """One checkpointed reading of ``detectors`` into ``stream``."""
    yield from bps.checkpoint()
    return (yield from bps.trigger_and_read(list(detectors), name=stream))
