"""Cluster growth by slow continuous injection, followed by in-situ absorbance; suprastructure assembly.

One run of ``cluster_growth`` (temperatures in °C, volumes in mL, rates in mL/h, times in s):

0. the arguments are checked before anything moves: the rate against what the pump gives with its
   syringe and the bench's limit, the volume against the syringe and the bench, the temperature
   against the hotplate's bench limit (below the solvent's boiling point), the spectrum interval
   against the time one averaged spectrum takes, a target wavelength inside the spectrometer's range;
1. the operator fills the flask with solvent, dips the probe and mounts the precursor syringe;
2. stirring on; heat to ``temperature_c`` and settle (the flask's trace in stream ``heat``); the
   dark (source shuttered, stream ``dark``) and the reference: the solvent at temperature, before
   any injection (stream ``reference``); the pixels' wavelengths are in the start document;
3. injection at ``injection_rate_ml_per_h``; a spectrum every ``spectrum_interval_s`` (stream
   ``primary``: absorbance, the pump's dispensed volume read back, the flask temperature), from the
   first drop on.  The injection ends when the volume has been delivered, when the first exciton
   reaches ``target_nm``, or (``stop_when_narrowing_stops``) when its width has stopped narrowing;
   ``hold_after_s`` more spectra follow with the supply stopped;
4. pump stopped, heater off, source shuttered: in a ``finalize_wrapper`` on every exit path, the
   pump first and the heater last.  A pump alarm (a stall) ends the run with the alarm in the
   reason; every spectrum already taken is in the run.

``ss_assembly`` holds a flask of magic-sized clusters at ~120 °C (Mn2+:(CdSe)13 into
suprastructures): reference at temperature, a spectrum every interval for ``duration_s``, cool.
"""

import math
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import FailedStatus

from labctl.analysis.growth import ExcitonPeak, first_exciton, narrowing_stopped
from labctl.devices.absorbance import AbsorbanceProbe
from labctl.devices.hotplate import Hotplate
from labctl.devices.operator import HandStep, Operator
from labctl.devices.photoreactor import BenchClock
from labctl.devices.syringe_pump import PumpAlarmError, SyringePump
from labctl.plans.stubs import Checks, MsgGen, PlanArgumentError, load_step, si_args, sleep_until

MAX_RUN_S = 7 * 86400.0
MIN_TRACE_INTERVAL_S = 1.0
SPECTRUM_OVERHEAD_S = 0.5  # reading and storing one averaged spectrum, beyond its integrations (ours)
MAX_SPECTRA = 20_000  # a run's spectra (2,048 pixels each) held in memory for its figures: ~330 MB at most
ASSEMBLY_SAMPLES = ("Mn:(CdSe)13 MSC",)


class PumpStoppedError(RuntimeError):
    """The pump stopped before the injection was over (an alarm: a stall, a watchdog timeout)."""


def spectrum_time_s(absorbance: AbsorbanceProbe) -> float:
    """How long one averaged spectrum takes: its integrations plus reading it out."""
    return absorbance.integration_time_s * absorbance.frames_averaged + SPECTRUM_OVERHEAD_S


def check_growth(
    pump: SyringePump,
    hotplate: Hotplate,
    absorbance: AbsorbanceProbe,
    *,
    precursor: str,
    injection_rate_ml_per_h: float,
    injection_volume_ml: float,
    temperature_c: float,
    spectrum_interval_s: float,
    solvent_volume_ml: float,
    stir_rpm: float,
    target_nm: float | None,
    hold_after_s: float,
    narrowing_window: int,
    narrowing_tolerance_mev: float,
) -> list[str]:
    """Every argument against the plan's and the bench's limits; raises :class:`PlanArgumentError`."""
    checks = Checks()
    checks.finite(
        injection_rate_ml_per_h=injection_rate_ml_per_h,
        injection_volume_ml=injection_volume_ml,
        temperature_c=temperature_c,
        spectrum_interval_s=spectrum_interval_s,
        solvent_volume_ml=solvent_volume_ml,
        stir_rpm=stir_rpm,
        target_nm=target_nm,
        hold_after_s=hold_after_s,
        narrowing_tolerance_mev=narrowing_tolerance_mev,
    )
    checks.need(bool(precursor.strip()), "precursor is empty; name what the syringe holds", "precursor named")
    _device_check(checks, pump.check_rate, injection_rate_ml_per_h, f"rate {injection_rate_ml_per_h:g} mL/h")
    _device_check(checks, pump.check_volume, injection_volume_ml, f"volume {injection_volume_ml:g} mL")
    _flask_checks(checks, hotplate, absorbance, temperature_c, solvent_volume_ml, stir_rpm, spectrum_interval_s)
    injection_s = injection_volume_ml / injection_rate_ml_per_h * 3600.0
    checks.need(
        injection_s + hold_after_s <= MAX_RUN_S,
        f"injecting {injection_volume_ml:g} mL at {injection_rate_ml_per_h:g} mL/h takes {injection_s / 3600:.1f} h; "
        f"with hold_after {hold_after_s / 3600:g} h that is above the {MAX_RUN_S / 86400:g} d a run may take; "
        "inject faster or less",
        f"run {(injection_s + hold_after_s) / 3600:.2f} h <= {MAX_RUN_S / 86400:g} d",
    )
    _spectra_check(checks, injection_s + hold_after_s, spectrum_interval_s)
    if target_nm is not None:
        lo, hi = absorbance.wavelength_range_nm
        checks.within("target_nm", target_nm, lo, hi, example=f"{(lo + hi) / 2:.0f}")
    checks.within("hold_after_s", hold_after_s, 0.0, MAX_RUN_S, example="0")
    checks.within("narrowing_window", narrowing_window, 3, 1000, example="10")
    checks.within("narrowing_tolerance_mev", narrowing_tolerance_mev, 0.0, 100.0, example="1")
    return list(checks)


def _device_check(checks: Checks, check: Any, value: float, passed: str) -> None:
    try:
        check(value)
    except ValueError as exc:
        raise PlanArgumentError(str(exc)) from exc
    checks.append(f"{passed} within the pump's range and the bench limit")


def _temperature_check(checks: Checks, hotplate: Hotplate, temperature_c: float) -> None:
    try:
        hotplate.check_temperature(temperature_c)
    except ValueError as exc:
        raise PlanArgumentError(str(exc)) from exc
    checks.append(f"temperature {temperature_c:g} °C <= bench limit {hotplate.max_temperature_c:g} °C")


def _flask_checks(
    checks: Checks,
    hotplate: Hotplate,
    absorbance: AbsorbanceProbe,
    temperature_c: float,
    solvent_volume_ml: float,
    stir_rpm: float,
    spectrum_interval_s: float,
) -> None:
    """What every flask run checks: the temperature, the solvent, the stirrer and the spectrum interval."""
    _temperature_check(checks, hotplate, temperature_c)
    checks.within("solvent_volume_ml", solvent_volume_ml, 1.0, 500.0, example="10")
    checks.within("stir_rpm", stir_rpm, 0.0, 1500.0, example="600")
    _interval_check(checks, absorbance, spectrum_interval_s)


def _spectra_check(checks: Checks, run_s: float, spectrum_interval_s: float) -> None:
    spectra = run_s / spectrum_interval_s
    checks.need(
        spectra <= MAX_SPECTRA,
        f"spectrum_interval_s={spectrum_interval_s:g} s gives {spectra:.0f} spectra over the run, above the "
        f"{MAX_SPECTRA} a run holds; give spectrum_interval_s at least {math.ceil(run_s / MAX_SPECTRA):g} s",
        f"{spectra:.0f} spectra <= {MAX_SPECTRA}",
    )


def _interval_check(checks: Checks, absorbance: AbsorbanceProbe, spectrum_interval_s: float) -> None:
    need = spectrum_time_s(absorbance)
    checks.need(
        spectrum_interval_s >= need,
        f"spectrum_interval_s={spectrum_interval_s:g} s is shorter than one averaged spectrum takes "
        f"({absorbance.frames_averaged} x {absorbance.integration_time_s * 1e3:g} ms + readout = {need:.2f} s); "
        "give at "
        f"least {math.ceil(need):g} s, or fewer averages in the bench file",
        f"spectrum interval {spectrum_interval_s:g} s >= {need:.2f} s per spectrum",
    )


def flask_safe(pump: SyringePump, hotplate: Hotplate, absorbance: AbsorbanceProbe) -> MsgGen:
    """Pump stopped, source shuttered, heater off (the last set)."""
    yield from bps.abs_set(pump.running, False, wait=True)
    yield from bps.abs_set(absorbance.shutter, False, wait=True)
    yield from bps.abs_set(hotplate.heater, False, wait=True)


def dark_and_reference(absorbance: AbsorbanceProbe, what: str) -> MsgGen:
    """The reference (``what``, at temperature), with the dark taken just before it: stream ``reference``."""
    yield from bps.trigger_and_read([absorbance.dark], name="dark")
    yield from bps.trigger_and_read([absorbance.reference], name="reference")
    yield from bps.checkpoint()
    return what


def heat_and_settle(hotplate: Hotplate, clock: BenchClock, temperature_c: float, interval_s: float) -> MsgGen:
    """Heater on, setpoint sent; the flask's trace in stream ``heat`` until it has settled."""
    status = yield from bps.abs_set(hotplate.temperature, temperature_c, group="heat")
    while not status.done:
        yield from bps.trigger_and_read([hotplate, clock], name="heat")
        yield from bps.sleep(interval_s)
    yield from bps.wait(group="heat")
    yield from bps.trigger_and_read([hotplate, clock], name="heat")


def _peak(reading: dict[str, Any], absorbance: AbsorbanceProbe, previous: ExcitonPeak | None) -> ExcitonPeak:
    """The spectrum's first exciton, its fit started from the previous spectrum's as the run's analysis does."""
    spectrum = np.asarray(reading[absorbance.absorbance.name]["value"], dtype=float)
    return first_exciton(absorbance.wavelengths_nm, spectrum, previous=previous)


def cluster_growth(
    pump: SyringePump,
    hotplate: Hotplate,
    absorbance: AbsorbanceProbe,
    operator: Operator,
    clock: BenchClock,
    *,
    precursor: str = "InAs amorphous cluster",
    injection_rate_ml_per_h: float | str = 2.0,
    injection_volume_ml: float | str = 10.0,
    temperature_c: float | str = 280.0,
    spectrum_interval_s: float | str = 30.0,
    solvent_volume_ml: float | str = 10.0,
    stir_rpm: float | str = 600.0,
    target_nm: float | str | None = None,
    stop_when_narrowing_stops: bool = False,
    narrowing_window: int = 10,
    narrowing_tolerance_mev: float | str = 1.0,
    hold_after_s: float | str = 0.0,
    sample: str = "",
    operator_name: str = "",
    md: dict[str, Any] | None = None,
) -> MsgGen:
    """Grow clusters by slow continuous injection into a hot flask, with a spectrum every interval.

    See the module docstring for the steps.  Numbers are in the unit the parameter name says; a
    string with a unit (``"2 mL/h"``, ``"280 degC"``, ``"30 s"``) is converted at the start.

    Parameters
    ----------
    pump : SyringePump
        The syringe pump holding the precursor solution.
    hotplate : Hotplate
        The hotplate heating the flask (PT1000 in the flask).
    absorbance : AbsorbanceProbe
        The in-situ absorbance probe (spectrometer, source shutter, dip probe).
    operator : Operator
        The person at the bench: fills the flask and mounts the syringe.
    clock : BenchClock
        The bench clock.
    precursor : str
        What the syringe holds (text, no unit), e.g. "InAs amorphous cluster".
    injection_rate_ml_per_h : float or str
        Injection rate, in mL/h.
    injection_volume_ml : float or str
        Volume to inject, in mL.
    temperature_c : float or str
        Flask temperature during the injection, in degC.
    spectrum_interval_s : float or str
        Time between spectra, in s.
    solvent_volume_ml : float or str
        Solvent in the flask before the injection, in mL.
    stir_rpm : float or str
        Stirring speed, in rpm.
    target_nm : float or str, optional
        Stop the injection when the first exciton reaches this wavelength, in nm.
    stop_when_narrowing_stops : bool
        Stop the injection when the first exciton's width has stopped narrowing.
    narrowing_window : int
        Spectra over which the width must narrow by ``narrowing_tolerance_mev``.
    narrowing_tolerance_mev : float or str
        Narrowing, in meV, below which the width has stopped narrowing.
    hold_after_s : float or str
        Spectra taken for this long after the injection ends, in s.
    sample : str
        Sample label.
    operator_name : str
        Who ran it.
    md : dict, optional
        Metadata added to the start document.
    """
    (
        injection_rate_ml_per_h,
        injection_volume_ml,
        temperature_c,
        spectrum_interval_s,
        solvent_volume_ml,
        stir_rpm,
        target_nm,
        narrowing_tolerance_mev,
        hold_after_s,
    ) = si_args(
        injection_rate_ml_per_h=injection_rate_ml_per_h,
        injection_volume_ml=injection_volume_ml,
        temperature_c=temperature_c,
        spectrum_interval_s=spectrum_interval_s,
        solvent_volume_ml=solvent_volume_ml,
        stir_rpm=stir_rpm,
        target_nm=target_nm,
        narrowing_tolerance_mev=narrowing_tolerance_mev,
        hold_after_s=hold_after_s,
    )
    checks = check_growth(
        pump,
        hotplate,
        absorbance,
        precursor=precursor,
        injection_rate_ml_per_h=injection_rate_ml_per_h,
        injection_volume_ml=injection_volume_ml,
        temperature_c=temperature_c,
        spectrum_interval_s=spectrum_interval_s,
        solvent_volume_ml=solvent_volume_ml,
        stir_rpm=stir_rpm,
        target_nm=target_nm,
        hold_after_s=hold_after_s,
        narrowing_window=narrowing_window,
        narrowing_tolerance_mev=narrowing_tolerance_mev,
    )
    injection_s = injection_volume_ml / injection_rate_ml_per_h * 3600.0
    heat_s = hotplate.heating_time_s(temperature_c)
    _md: dict[str, Any] = {
        "plan_name": "cluster_growth",
        "experiment": "cluster-growth",
        "plan_args": {
            "precursor": precursor,
            "injection_rate_ml_per_h": injection_rate_ml_per_h,
            "injection_volume_ml": injection_volume_ml,
            "temperature_c": temperature_c,
            "spectrum_interval_s": spectrum_interval_s,
            "solvent_volume_ml": solvent_volume_ml,
            "stir_rpm": stir_rpm,
            "target_nm": target_nm,
            "stop_when_narrowing_stops": stop_when_narrowing_stops,
            "narrowing_window": narrowing_window,
            "narrowing_tolerance_mev": narrowing_tolerance_mev,
            "hold_after_s": hold_after_s,
        },
        "detectors": [absorbance.name, pump.name, hotplate.name, clock.name],
        "hints": {"dimensions": [([clock.elapsed.name], "primary")]},
        "precursor": precursor,
        "injection_rate_ml_per_h": injection_rate_ml_per_h,
        "injection_volume_ml": injection_volume_ml,
        "temperature_c": temperature_c,
        "solvent": hotplate.solvent,
        "solvent_volume_ml": solvent_volume_ml,
        "target_nm": target_nm,
        "path_length_cm": absorbance.path_length_cm,
        "wavelengths_nm": [round(float(w), 4) for w in absorbance.wavelengths_nm],
        "sample": sample,
        "operator": operator_name,
        "planned_duration_s": heat_s + injection_s + hold_after_s,
        "num_points": math.floor((injection_s + hold_after_s) / spectrum_interval_s) + 1,
        "checks": checks,
    }
    _md.update(md or {})
    detectors = [absorbance, pump, hotplate, clock]

    @bpp.run_decorator(md=_md)
    def inner() -> MsgGen:
        yield from bps.mv(clock, 0.0)
        yield from load_step(
            operator,
            "flask",
            f"Fill the flask with {solvent_volume_ml:g} mL {hotplate.solvent}, dip the probe, and mount the "
            f"syringe of {precursor} on the pump",
            precursor=precursor,
            solvent_volume_ml=solvent_volume_ml,
        )
        yield from bps.mv(hotplate.stirrer, stir_rpm)
        yield from heat_and_settle(hotplate, clock, temperature_c, spectrum_interval_s)
        yield from dark_and_reference(absorbance, f"{hotplate.solvent} at {temperature_c:g} °C")
        yield from bps.abs_set(pump.rate, injection_rate_ml_per_h, wait=True)
        status = yield from bps.abs_set(pump.infused, injection_volume_ml, group="inject")
        try:
            reason = yield from inject_and_watch(status)
        except (PumpAlarmError, FailedStatus) as exc:
            cause = exc if isinstance(exc, PumpAlarmError) else (status.exception() or exc)
            raise _pump_error(pump, cause, spectra[0]) from exc
        if not status.done:
            yield from bps.abs_set(pump.running, False, wait=True)
        yield from bps.trigger_and_read([pump, clock], name="injection_end")
        t_end = yield from bps.rd(clock.elapsed)
        for j in range(1, math.floor(hold_after_s / spectrum_interval_s) + 1):
            yield from sleep_until(clock, t_end + j * spectrum_interval_s)
            yield from bps.checkpoint()
            yield from bps.trigger_and_read(detectors)
        return reason

    spectra = [0]

    def inject_and_watch(status: Any) -> MsgGen:
        """A spectrum every interval from the first drop on, until a stop rule or the pump ends the injection."""
        t0 = yield from bps.rd(clock.elapsed)
        widths: list[float] = []
        peak: ExcitonPeak | None = None  # the last spectrum's band: the next fit starts from it
        k = 0
        reason = "volume delivered"
        while True:
            yield from sleep_until(clock, t0 + k * spectrum_interval_s)
            yield from bps.checkpoint()
            reading = yield from bps.trigger_and_read(detectors)
            k += 1
            spectra[0] = k
            if status.done:
                if not status.success:
                    raise PumpAlarmError(str(status.exception()), code="", delivered_ml=math.nan)
                break
            if target_nm is None and not stop_when_narrowing_stops:
                continue  # no stop rule reads the spectrum: the figures come after the run
            peak = _peak(reading, absorbance, peak)
            if peak.ok:
                widths.append(peak.fwhm_mev)
                if target_nm is not None and peak.wavelength_nm >= target_nm:
                    reason = f"first exciton at {peak.wavelength_nm:.1f} nm reached the target {target_nm:g} nm"
                    break
                if stop_when_narrowing_stops and narrowing_stopped(
                    widths, window=narrowing_window, tolerance_mev=narrowing_tolerance_mev
                ):
                    reason = f"the first exciton stopped narrowing ({peak.fwhm_mev:.1f} meV)"
                    break
        return reason

    return (yield from bpp.finalize_wrapper(inner(), flask_safe(pump, hotplate, absorbance)))


def _pump_error(pump: SyringePump, exc: BaseException, spectra: int) -> PumpStoppedError:
    why = str(exc) or "the pump stopped"
    return PumpStoppedError(
        f"{pump.name} stopped before the injection was over: {why}; the injection ended, the heater is "
        f"switched off and the {spectra} spectra taken are kept"
    )


def check_assembly(
    hotplate: Hotplate,
    absorbance: AbsorbanceProbe,
    *,
    sample: str,
    temperature_c: float,
    duration_s: float,
    spectrum_interval_s: float,
    solvent_volume_ml: float,
    stir_rpm: float,
    cool_to_c: float,
) -> list[str]:
    """An assembly run's arguments against the plan's and the bench's limits."""
    checks = Checks()
    checks.finite(
        temperature_c=temperature_c,
        duration_s=duration_s,
        spectrum_interval_s=spectrum_interval_s,
        solvent_volume_ml=solvent_volume_ml,
        stir_rpm=stir_rpm,
        cool_to_c=cool_to_c,
    )
    checks.need(bool(sample.strip()), "sample is empty; name the clusters, e.g. 'Mn:(CdSe)13 MSC'", "sample named")
    _flask_checks(checks, hotplate, absorbance, temperature_c, solvent_volume_ml, stir_rpm, spectrum_interval_s)
    checks.within("duration_s", duration_s, spectrum_interval_s, MAX_RUN_S, example="7200")
    _spectra_check(checks, duration_s, spectrum_interval_s)
    checks.within("cool_to_c", cool_to_c, 20.0, max(temperature_c - 5.0, 20.0), example="40")
    return list(checks)


def ss_assembly(
    hotplate: Hotplate,
    absorbance: AbsorbanceProbe,
    operator: Operator,
    clock: BenchClock,
    *,
    sample: str = "Mn:(CdSe)13 MSC",
    temperature_c: float | str = 120.0,
    duration_s: float | str = 2 * 3600.0,
    spectrum_interval_s: float | str = 60.0,
    solvent_volume_ml: float | str = 10.0,
    stir_rpm: float | str = 300.0,
    cool_to_c: float | str = 40.0,
    operator_name: str = "",
    md: dict[str, Any] | None = None,
) -> MsgGen:
    """Assemble magic-sized clusters into suprastructures at temperature, followed by absorbance.

    Reference (the solvent at temperature, before the clusters go in), then the clusters are added,
    a spectrum every interval for ``duration_s``, then the heater off and the flask cooled to
    ``cool_to_c`` with spectra still taken (stream ``cool``).

    Parameters
    ----------
    hotplate : Hotplate
        The hotplate heating the flask.
    absorbance : AbsorbanceProbe
        The in-situ absorbance probe.
    operator : Operator
        The person at the bench: fills the flask and adds the clusters.
    clock : BenchClock
        The bench clock.
    sample : str
        The clusters (text, no unit), e.g. "Mn:(CdSe)13 MSC".
    temperature_c : float or str
        Assembly temperature, in degC.
    duration_s : float or str
        Time at temperature, in s.
    spectrum_interval_s : float or str
        Time between spectra, in s.
    solvent_volume_ml : float or str
        Solvent (the amine) in the flask, in mL.
    stir_rpm : float or str
        Stirring speed, in rpm.
    cool_to_c : float or str
        The run ends when the flask has cooled below this, in degC.
    operator_name : str
        Who ran it.
    md : dict, optional
        Metadata added to the start document.
    """
    temperature_c, duration_s, spectrum_interval_s, solvent_volume_ml, stir_rpm, cool_to_c = si_args(
        temperature_c=temperature_c,
        duration_s=duration_s,
        spectrum_interval_s=spectrum_interval_s,
        solvent_volume_ml=solvent_volume_ml,
        stir_rpm=stir_rpm,
        cool_to_c=cool_to_c,
    )
    checks = check_assembly(
        hotplate,
        absorbance,
        sample=sample,
        temperature_c=temperature_c,
        duration_s=duration_s,
        spectrum_interval_s=spectrum_interval_s,
        solvent_volume_ml=solvent_volume_ml,
        stir_rpm=stir_rpm,
        cool_to_c=cool_to_c,
    )
    _md: dict[str, Any] = {
        "plan_name": "ss_assembly",
        "experiment": "ss-assembly",
        "plan_args": {
            "sample": sample,
            "temperature_c": temperature_c,
            "duration_s": duration_s,
            "spectrum_interval_s": spectrum_interval_s,
            "solvent_volume_ml": solvent_volume_ml,
            "stir_rpm": stir_rpm,
            "cool_to_c": cool_to_c,
        },
        "detectors": [absorbance.name, hotplate.name, clock.name],
        "hints": {"dimensions": [([clock.elapsed.name], "primary")]},
        "sample": sample,
        "temperature_c": temperature_c,
        "solvent": hotplate.solvent,
        "path_length_cm": absorbance.path_length_cm,
        "wavelengths_nm": [round(float(w), 4) for w in absorbance.wavelengths_nm],
        "operator": operator_name,
        "planned_duration_s": hotplate.heating_time_s(temperature_c) + duration_s,
        "num_points": math.floor(duration_s / spectrum_interval_s) + 1,
        "checks": checks,
    }
    _md.update(md or {})
    detectors = [absorbance, hotplate, clock]

    @bpp.run_decorator(md=_md)
    def inner() -> MsgGen:
        yield from bps.mv(clock, 0.0)
        yield from load_step(
            operator,
            "flask",
            f"Fill the flask with {solvent_volume_ml:g} mL {hotplate.solvent} and dip the probe",
            solvent_volume_ml=solvent_volume_ml,
        )
        yield from bps.mv(hotplate.stirrer, stir_rpm)
        yield from heat_and_settle(hotplate, clock, temperature_c, spectrum_interval_s)
        yield from dark_and_reference(absorbance, f"{hotplate.solvent} at {temperature_c:g} °C")
        yield from load_step(
            operator, "clusters", f"Add the {sample} to the flask", sample=sample, temperature_c=temperature_c
        )
        t0 = yield from bps.rd(clock.elapsed)
        for k in range(math.floor(duration_s / spectrum_interval_s) + 1):
            yield from sleep_until(clock, t0 + k * spectrum_interval_s)
            yield from bps.checkpoint()
            yield from bps.trigger_and_read(detectors)
        yield from bps.abs_set(hotplate.heater, False, wait=True)
        yield from bps.mv(operator, HandStep("cool", f"Let the flask cool below {cool_to_c:g} °C"))
        while True:
            t = yield from bps.rd(hotplate.flask_temperature)
            yield from bps.trigger_and_read(detectors, name="cool")
            if t < cool_to_c:
                break
            yield from bps.sleep(spectrum_interval_s)

    return (yield from bpp.finalize_wrapper(inner(), _heater_safe(hotplate, absorbance)))


def _heater_safe(hotplate: Hotplate, absorbance: AbsorbanceProbe) -> MsgGen:
    yield from bps.abs_set(absorbance.shutter, False, wait=True)
    yield from bps.abs_set(hotplate.heater, False, wait=True)
