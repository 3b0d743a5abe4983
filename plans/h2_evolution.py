"""Photocatalytic H2 evolution: dark baseline, lamp on, GC samples of the headspace at fixed times.

The run, as done on the bench (catalyst dispersed in water + sacrificial donor, sealed reactor
purged with Ar):

1. ``dark_samples`` GC samples of the headspace with the lamp off (checks the purge and that
   nothing evolves in the dark), ``sample_interval_s`` apart;
2. light on -- an arc lamp at its power preset (ignition confirmed) or an LED at its drive
   current (``led_current_a``; current confirmed) -- recorded in stream ``lamp_on``;
3. a GC sample every ``sample_interval_s`` of irradiation until ``duration_s``, each with the
   bench clock and the lamp readbacks, in stream ``primary``; an arc lamp's power is also logged
   in stream ``lamp_monitor``, while the session's watchdog checks the light at 1 Hz;
4. lamp off, on every exit path (success, error, abort, Ctrl-C), via ``finalize_wrapper``.

The sample is described by the catalyst's mass and Co2+ level, the sacrificial electron donor's
concentration and the pH of the dispersion; the operator loads it as described (a simulated
bench puts it into its model), and the start document records it.

Times in s, mass in g, power in W, wavelength in nm, Co2+ level in mol %, donor concentration in
mol/L.  Arguments are checked before the first message; the error repeats the bad value with its
unit and names the limit.
"""

import math
from typing import Any

import bluesky.preprocessors as bpp

from labctl.devices.gc import GasChromatograph
from labctl.devices.lamp import ArcLamp
from labctl.devices.led import LedSource
from labctl.devices.operator import Operator
from labctl.devices.photoreactor import BenchClock, Photoreactor
from labctl.plans.stubs import (
    Checks,
    MsgGen,
    PlanArgumentError,
    gas_volumes,
    lamp_off,
    load_photoreactor,
    sampled_irradiation,
    si_args,
)

MAX_DURATION_S = 30 * 86400.0  # the longest irradiation a gas-phase run takes
MAX_CATALYST_MASS_G = 10.0  # more than any photoreactor here holds
MAX_DARK_SAMPLES = 50
MAX_CO_DOPING_PERCENT = 20.0  # Co2+ as mol % of the metal; beyond this it is no longer a doped cluster
MAX_DONOR_MOL_PER_L = 5.0  # a donor solution in water (neat triethanolamine is 7.5 mol/L)
PH_LIMITS = (0.0, 14.0)  # the pH scale of a water dispersion
SAMPLE_CONDITIONS = ("co_doping_percent", "donor_mol_per_l", "ph")  # recorded in the start document


def check_h2_evolution(
    lamp: ArcLamp,
    gc: GasChromatograph,
    *,
    catalyst_mass_g: float,
    lamp_power_w: float,
    led_current_a: float | None = None,
    duration_s: float,
    sample_interval_s: float,
    dark_samples: int,
    wavelength_nm: float | None,
    light_power_w: float | None,
    co_doping_percent: float | None = None,
    donor_mol_per_l: float | None = None,
    ph: float | None = None,
) -> list[str]:
    """Validate arguments against the plan's needs and the bench limits.

    The sample conditions (``co_doping_percent``, ``donor_mol_per_l``, ``ph``) are checked when
    given.  Returns the list of checks passed (for a dry run's report); raises
    :class:`PlanArgumentError` on the first failure.
    """
    checks = Checks()
    need = checks.need

    checks.finite(
        co_doping_percent=co_doping_percent,
        donor_mol_per_l=donor_mol_per_l,
        ph=ph,
        catalyst_mass_g=catalyst_mass_g,
        lamp_power_w=lamp_power_w,
        led_current_a=led_current_a,
        duration_s=duration_s,
        sample_interval_s=sample_interval_s,
        dark_samples=dark_samples,
        wavelength_nm=wavelength_nm,
        light_power_w=light_power_w,
    )
    need(
        catalyst_mass_g > 0,
        f"catalyst_mass_g={catalyst_mass_g:g} g ({catalyst_mass_g * 1e3:g} "
        f"mg) must be > 0 g; give the weighed mass, e.g. catalyst_mass=10mg",
        f"catalyst_mass {catalyst_mass_g * 1e3:g} mg > 0",
    )
    need(
        catalyst_mass_g <= MAX_CATALYST_MASS_G,
        f"catalyst_mass_g={catalyst_mass_g:g} g is above {MAX_CATALYST_MASS_G:g} g, more than a photoreactor holds; "
        "give the weighed mass, e.g. catalyst_mass=10mg",
        f"catalyst_mass <= {MAX_CATALYST_MASS_G:g} g",
    )
    check_sample(checks, co_doping_percent=co_doping_percent, donor_mol_per_l=donor_mol_per_l, ph=ph)
    check_light(checks, lamp, lamp_power_w=lamp_power_w, led_current_a=led_current_a)
    need(
        sample_interval_s >= gc.run_time_s,
        f"sample_interval_s={sample_interval_s:g} s ({sample_interval_s / 60:g} min) is shorter than the GC run time "
        f"{gc.run_time_s / 60:g} min; the GC cannot sample faster; use sample_interval >= "
        f"{math.ceil(gc.run_time_s / 60):g}min",
        f"sample_interval {sample_interval_s / 60:g} min >= GC run time {gc.run_time_s / 60:g} min",
    )
    need(
        duration_s >= 2 * sample_interval_s,
        f"duration_s={duration_s:g} s ({duration_s / 3600:g} h) gives fewer than 2 samples at sample_interval="
        f"{sample_interval_s / 60:g} min; a rate needs >= 2 points under light; lengthen duration "
        "or shorten sample_interval",
        f"duration {duration_s / 3600:g} h gives {int(duration_s // sample_interval_s)} samples",
    )
    need(
        duration_s <= MAX_DURATION_S,
        f"duration_s={duration_s:g} s ({duration_s / 86400:g} d) is "
        f"above {MAX_DURATION_S / 86400:g} d, the longest run this plan "
        "takes; give a duration between 1 min and 30 d, e.g. duration=4h",
        f"duration <= {MAX_DURATION_S / 86400:g} d",
    )
    checks.within("dark_samples", dark_samples, 0, MAX_DARK_SAMPLES, example="2")
    if wavelength_nm is not None:
        need(
            200 <= wavelength_nm <= 1100,
            f"wavelength_nm={wavelength_nm:g} nm is outside 200-1100 nm; give the monochromatic "
            "wavelength of the light, e.g. wavelength=420nm",
            f"wavelength {wavelength_nm:g} nm in 200-1100 nm",
        )
    if light_power_w is not None:
        need(
            light_power_w > 0,
            f"light_power_w={light_power_w:g} W ({light_power_w * 1e3:g} mW) must be > 0; give the power measured at "
            "the sample, e.g. light_power=50mW",
            f"light_power {light_power_w * 1e3:g} mW > 0",
        )
    return checks


def check_sample(
    checks: Checks, *, co_doping_percent: float | None, donor_mol_per_l: float | None, ph: float | None
) -> None:
    """The sample's make-up within what a dispersion of a doped catalyst can be (None: not given)."""
    need = checks.need
    if co_doping_percent is not None:
        need(
            0 <= co_doping_percent <= MAX_CO_DOPING_PERCENT,
            f"co_doping_percent={co_doping_percent:g} % is outside 0-{MAX_CO_DOPING_PERCENT:g} %, the Co2+ levels "
            "(mol % of the metal) of a doped cluster catalyst; give the catalyst's Co2+ level, e.g. co_doping=1.5%",
            f"co_doping {co_doping_percent:g} % in 0-{MAX_CO_DOPING_PERCENT:g} %",
        )
    if donor_mol_per_l is not None:
        need(
            0 <= donor_mol_per_l <= MAX_DONOR_MOL_PER_L,
            f"donor_mol_per_l={donor_mol_per_l:g} mol/L is outside 0-{MAX_DONOR_MOL_PER_L:g} mol/L, the range of a "
            "sacrificial donor solution (neat triethanolamine is 7.5 mol/L); give the donor's concentration in the "
            "dispersion, e.g. donor=0.5mol/L",
            f"donor {donor_mol_per_l:g} mol/L in 0-{MAX_DONOR_MOL_PER_L:g} mol/L",
        )
    if ph is not None:
        lo, hi = PH_LIMITS
        need(
            lo <= ph <= hi,
            f"ph={ph:g} is outside {lo:g}-{hi:g}, the pH scale of a water dispersion; give the pH the dispersion "
            "is adjusted to, e.g. ph=10.7",
            f"pH {ph:g} in {lo:g}-{hi:g}",
        )


def check_light(checks: Checks, lamp: Any, *, lamp_power_w: float, led_current_a: float | None) -> None:
    """The light's level against the bench limit: an LED by its current, an arc lamp by its power."""
    need = checks.need
    arc_limit = getattr(lamp, "max_power_w", None)
    if led_current_a is not None and arc_limit is not None:
        # an arc supply driven by current would run in current mode, past the power check
        raise PlanArgumentError(
            f"led_current_a={led_current_a:g} A is an LED drive current; {lamp.name} is an arc lamp, set by its "
            f"power: leave led_current out and give lamp_power (at most {arc_limit:g} W), e.g. lamp_power=300W"
        )
    if led_current_a is not None:
        limit = getattr(lamp, "max_current_a", None)
        need(
            led_current_a > 0 and (limit is None or led_current_a <= limit),
            f"led_current_a={led_current_a:g} A is outside 0-{limit:g} A, the limit of the LED head on {lamp.name}; "
            "lower led_current (the head's datasheet maximum is in the bench file as max_current)",
            f"led_current {led_current_a:g} A <= head limit {limit:g} A",
        )
        return
    limit = getattr(lamp, "max_power_w", None)
    need(
        limit is not None,
        f"{lamp.name} is an LED source: give its drive current, e.g. led_current=0.5A",
        "arc lamp power given",
    )
    need(
        0 < lamp_power_w <= limit,
        f"lamp_power_w={lamp_power_w:g} W is outside the bench limit 0-{limit:g} W "
        f"for {lamp.name}; lower lamp_power or raise max_power in the bench file",
        f"lamp_power {lamp_power_w:g} W <= limit {limit:g} W",
    )


def gas_run_md(
    lamp: Any,
    gc: GasChromatograph,
    reactor: Photoreactor,
    clock: BenchClock,
    *,
    plan_name: str,
    experiment: str,
    plan_args: dict[str, Any],
    catalyst: str,
    sample: str,
    operator: str,
    checks: list[str],
    before_s: float = 0.0,
) -> MsgGen:
    """Start document of a gas-phase run (sampled irradiation), its detectors and its number of lit samples.

    ``plan_args`` holds at least the light and timing arguments of :func:`check_h2_evolution`;
    the sample conditions in it (:data:`SAMPLE_CONDITIONS`) are recorded beside the catalyst mass.
    ``before_s`` is time spent before the first sample (a purge).  Returns (md, detectors, n_light).
    """
    duration_s, interval_s = plan_args["duration_s"], plan_args["sample_interval_s"]
    dark_samples, led_current_a = plan_args["dark_samples"], plan_args["led_current_a"]
    n_light = math.floor(duration_s / interval_s + 1e-9)
    headspace, gc_loop = yield from gas_volumes(reactor, gc)
    detectors = [gc, clock, lamp, reactor]
    md: dict[str, Any] = {
        "plan_name": plan_name,
        "experiment": experiment,
        "plan_args": plan_args,
        "detectors": [d.name for d in detectors],
        "hints": {"dimensions": [([clock.elapsed.name], "primary")]},
        "catalyst": catalyst,
        "catalyst_mass_g": plan_args["catalyst_mass_g"],
        **{key: plan_args[key] for key in SAMPLE_CONDITIONS if key in plan_args},
        "sample": sample,
        "operator": operator,
        "lamp": {
            "name": lamp.name,
            "power_w": None if led_current_a else plan_args["lamp_power_w"],
            "led_current_a": led_current_a,
        },
        "wavelength_nm": plan_args["wavelength_nm"],
        "light_power_w": plan_args["light_power_w"],
        "planned_duration_s": before_s + (dark_samples + n_light) * interval_s + gc.run_time_s,
        "headspace": headspace,
        "gc_loop": gc_loop,
        "num_points": dark_samples + n_light,
        "checks": list(checks),
    }
    return md, detectors, n_light


def h2_evolution(
    lamp: ArcLamp | LedSource,
    gc: GasChromatograph,
    reactor: Photoreactor,
    operator: Operator,
    clock: BenchClock,
    *,
    catalyst_mass_g: float | str,
    co_doping_percent: float | str = 1.0,
    donor_mol_per_l: float | str = 0.5,
    ph: float = 10.7,
    lamp_power_w: float | str = 300.0,
    led_current_a: float | str | None = None,
    duration_s: float | str = 4 * 3600.0,
    sample_interval_s: float | str = 1800.0,
    dark_samples: int = 2,
    wavelength_nm: float | str | None = None,
    light_power_w: float | str | None = None,
    catalyst: str = "",
    sample: str = "",
    operator_name: str = "",
    md: dict[str, Any] | None = None,
) -> MsgGen:
    """Run a photocatalytic H2 evolution experiment (see module docstring).

    Numbers are in the unit the parameter names say; a string with a unit (``"10 mg"``,
    ``"30 min"``, ``"1.5 %"``, ``"0.5 mol/L"``) is converted at the start.

    Parameters
    ----------
    lamp : ArcLamp or LedSource
        The light source.
    gc : GasChromatograph
        The GC sampling the reactor headspace.
    reactor : Photoreactor
        The photoreactor holding the catalyst.
    operator : Operator
        The person at the bench: loads the catalyst (shown what to load).
    clock : BenchClock
        The bench clock the samples are timed on.
    catalyst_mass_g : float or str
        Catalyst mass in the reactor, in g (or e.g. "10 mg").
    co_doping_percent : float or str
        Co2+ level of the catalyst, in mol % of the metal (or e.g. "1.5 %"), 0-20 %.
    donor_mol_per_l : float or str
        Sacrificial electron donor concentration in the dispersion, in mol/L (or e.g.
        "0.5 mol/L", "500 mM"), 0-5 mol/L.
    ph : float
        pH of the dispersion (dimensionless, 0-14).
    lamp_power_w : float or str
        Arc lamp power preset, in W.
    led_current_a : float or str, optional
        LED drive current, in A, for an LED source (then ``lamp_power_w`` is unused).
    duration_s : float or str
        Irradiation time, in s (or e.g. "4 h").
    sample_interval_s : float or str
        Time between GC samples, in s, at least the GC run time.
    dark_samples : int
        GC samples taken in the dark before the light goes on.
    wavelength_nm : float or str, optional
        Monochromatic wavelength of the light, in nm (for AQY).
    light_power_w : float or str, optional
        Optical power measured at the sample, in W (for AQY).
    catalyst : str
        Catalyst name.
    sample : str
        Sample label.
    operator_name : str
        Who ran it.
    md : dict, optional
        Metadata added to the start document (wins over the plan's).
    """
    catalyst_mass_g, co_doping_percent, donor_mol_per_l, ph = si_args(
        catalyst_mass_g=catalyst_mass_g, co_doping_percent=co_doping_percent, donor_mol_per_l=donor_mol_per_l, ph=ph
    )
    lamp_power_w, led_current_a, duration_s, sample_interval_s, wavelength_nm, light_power_w = si_args(
        lamp_power_w=lamp_power_w,
        led_current_a=led_current_a,
        duration_s=duration_s,
        sample_interval_s=sample_interval_s,
        wavelength_nm=wavelength_nm,
        light_power_w=light_power_w,
    )
    checks = check_h2_evolution(
        lamp,
        gc,
        catalyst_mass_g=catalyst_mass_g,
        lamp_power_w=lamp_power_w,
        led_current_a=led_current_a,
        duration_s=duration_s,
        sample_interval_s=sample_interval_s,
        dark_samples=dark_samples,
        wavelength_nm=wavelength_nm,
        light_power_w=light_power_w,
        co_doping_percent=co_doping_percent,
        donor_mol_per_l=donor_mol_per_l,
        ph=ph,
    )
    _md, detectors, n_light = yield from gas_run_md(
        lamp,
        gc,
        reactor,
        clock,
        plan_name="h2_evolution",
        experiment="h2-evolution",
        plan_args={
            "catalyst_mass_g": catalyst_mass_g,
            "co_doping_percent": co_doping_percent,
            "donor_mol_per_l": donor_mol_per_l,
            "ph": ph,
            "lamp_power_w": lamp_power_w,
            "led_current_a": led_current_a,
            "duration_s": duration_s,
            "sample_interval_s": sample_interval_s,
            "dark_samples": dark_samples,
            "wavelength_nm": wavelength_nm,
            "light_power_w": light_power_w,
        },
        catalyst=catalyst,
        sample=sample,
        operator=operator_name,
        checks=checks,
    )
    _md.update(md or {})

    @bpp.run_decorator(md=_md)
    def inner() -> MsgGen:
        yield from load_photoreactor(
            operator,
            catalyst_mass_g=catalyst_mass_g,
            catalyst=catalyst,
            co_doping_percent=co_doping_percent,
            donor_mol_per_l=donor_mol_per_l,
            ph=ph,
        )
        yield from sampled_irradiation(
            lamp,
            detectors,
            clock,
            dark_samples=dark_samples,
            n_light=n_light,
            sample_interval_s=sample_interval_s,
            power_w=lamp_power_w,
            current_a=led_current_a,
        )

    return (yield from bpp.finalize_wrapper(inner(), lamp_off(lamp)))
