"""Photocatalytic CO2 reduction: CO2-purged reactor, light on, GC samples of CO, CH4 and H2.

The run, as done on the bench (catalyst dispersed in water in a sealed reactor):

1. the reactor is purged with CO2 and sealed (a hand step: CO2 at a few mL/min for
   ``purge_s``; the sample's products start from zero);
2. ``dark_samples`` GC samples in the dark, ``sample_interval_s`` apart (nothing may form
   without light; O2/N2 check the seal);
3. light on -- an arc lamp at its power preset or an LED at its drive current -- then a GC
   sample every ``sample_interval_s`` until ``duration_s`` (stream ``primary``: CO, CH4, H2,
   O2, N2 in µmol injected, areas and calibration-range flags);
4. light off on every exit path.

The figures (rates per product, electron selectivity, AQY per product when monochromatic) are
computed from the run by :mod:`labctl.analysis.gas_phase`.  Arguments are checked as for
:func:`labctl.plans.h2_evolution.h2_evolution`, plus the GC must report CO, CH4 and H2.
"""

from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from labctl.devices.gc import GasChromatograph
from labctl.devices.lamp import ArcLamp
from labctl.devices.led import LedSource
from labctl.devices.operator import HandStep, Operator
from labctl.devices.photoreactor import BenchClock, Photoreactor
from labctl.plans.h2_evolution import check_h2_evolution, gas_run_md
from labctl.plans.stubs import Checks, MsgGen, lamp_off, load_photoreactor, sampled_irradiation, si_args

PRODUCTS = ("CO", "CH4", "H2")


def check_co2_photoreduction(lamp: Any, gc: GasChromatograph, *, purge_s: float, **light_and_timing: Any) -> list[str]:
    """The H2 evolution checks (light, timing, AQY inputs), the CO2 purge, and the GC's gases."""
    checks = Checks(check_h2_evolution(lamp, gc, **light_and_timing))
    checks.finite(purge_s=purge_s)
    missing = [g for g in PRODUCTS if g not in gc.gases]
    checks.need(
        not missing,
        f"the GC method reports {', '.join(gc.gases)} but not {', '.join(missing)}; CO2 reduction needs CO, CH4 and "
        "H2 (a molecular-sieve 5A column with Ar carrier): add them to [gc] gases and calibrate them",
        "GC reports CO, CH4, H2",
    )
    checks.need(
        60 <= purge_s <= 4 * 3600,
        f"purge_s={purge_s:g} s ({purge_s / 60:g} min) must be between 60 s (1 min) and 14400 s (4 h)",
        f"CO2 purge {purge_s / 60:g} min",
    )
    return checks


def co2_photoreduction(
    lamp: ArcLamp | LedSource,
    gc: GasChromatograph,
    reactor: Photoreactor,
    operator: Operator,
    clock: BenchClock,
    *,
    catalyst_mass_g: float | str,
    lamp_power_w: float | str = 300.0,
    led_current_a: float | str | None = None,
    duration_s: float | str = 6 * 3600.0,
    sample_interval_s: float | str = 3600.0,
    dark_samples: int = 1,
    purge_s: float | str = 1800.0,
    wavelength_nm: float | str | None = None,
    light_power_w: float | str | None = None,
    catalyst: str = "",
    sample: str = "",
    operator_name: str = "",
    md: dict[str, Any] | None = None,
) -> MsgGen:
    """Run a CO2 photoreduction experiment (see module docstring).

    Numbers are in the unit the parameter name says; a string with a unit (``"10 mg"``) is
    converted at the start.

    Parameters
    ----------
    lamp : ArcLamp or LedSource
        The light source.
    gc : GasChromatograph
        The GC sampling the reactor headspace.
    reactor : Photoreactor
        The photoreactor holding the catalyst.
    operator : Operator
        The person at the bench: loads the catalyst and purges with CO2.
    clock : BenchClock
        The bench clock the samples are timed on.
    catalyst_mass_g : float or str
        Catalyst mass in the reactor, in g (or e.g. "10 mg").
    lamp_power_w : float or str
        Arc lamp power preset, in W.
    led_current_a : float or str, optional
        LED drive current, in A, for an LED source.
    duration_s : float or str
        Irradiation time, in s.
    sample_interval_s : float or str
        Time between GC samples, in s.
    dark_samples : int
        GC samples taken in the dark before the light goes on.
    purge_s : float or str
        CO2 purge time before the first sample, in s.
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
        Metadata added to the start document.
    """
    (catalyst_mass_g, lamp_power_w, led_current_a, duration_s, sample_interval_s, purge_s, wavelength_nm) = si_args(
        catalyst_mass_g=catalyst_mass_g,
        lamp_power_w=lamp_power_w,
        led_current_a=led_current_a,
        duration_s=duration_s,
        sample_interval_s=sample_interval_s,
        purge_s=purge_s,
        wavelength_nm=wavelength_nm,
    )
    (light_power_w,) = si_args(light_power_w=light_power_w)
    timing = {
        "catalyst_mass_g": catalyst_mass_g,
        "lamp_power_w": lamp_power_w,
        "led_current_a": led_current_a,
        "duration_s": duration_s,
        "sample_interval_s": sample_interval_s,
        "dark_samples": dark_samples,
        "wavelength_nm": wavelength_nm,
        "light_power_w": light_power_w,
    }
    checks = check_co2_photoreduction(lamp, gc, purge_s=purge_s, **timing)
    _md, detectors, n_light = yield from gas_run_md(
        lamp,
        gc,
        reactor,
        clock,
        plan_name="co2_photoreduction",
        experiment="co2-photoreduction",
        plan_args={**timing, "purge_s": purge_s},
        catalyst=catalyst,
        sample=sample,
        operator=operator_name,
        checks=checks,
        before_s=purge_s,
    )
    _md.update(atmosphere="CO2", products=list(PRODUCTS))
    _md.update(md or {})

    @bpp.run_decorator(md=_md)
    def inner() -> MsgGen:
        yield from load_photoreactor(operator, catalyst_mass_g=catalyst_mass_g, catalyst=catalyst)
        yield from bps.mv(
            operator,
            HandStep("purge:CO2", f"Purge the reactor with CO2 for {purge_s / 60:g} min, then seal it", purge_s),
        )
        yield from bps.sleep(purge_s)
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
