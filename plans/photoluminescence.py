"""Photoluminescence experiments on the fluorometer: spectra, PLQY, photostability, decays.

* :func:`emission_scan` -- excitation fixed, emission spectra (``averages`` frames) in ``primary``;
* :func:`excitation_scan` -- emission band fixed, the excitation stepped, one PL point per step;
* :func:`plqy` -- integrating-sphere method: blank then sample in the sphere (hand steps),
  ``replicates`` spectra of each in streams ``blank`` and ``sample``;
* :func:`photostability` -- continuous excitation, a PL point every ``interval_s`` (stream
  ``primary``) and a full spectrum every ``spectrum_interval_s`` (stream ``spectra``), until
  ``duration_s`` or until the PL falls below ``stop_below`` of its first value;
* :func:`pl_decay` -- pulsed excitation, one multichannel-scaling histogram per acquisition.

Every spectrometer plan records a dark spectrum first (stream ``dark``) and the emission path's
spectral responsivity (stream ``calibration``, with the spectrometer's wavelengths); every plan
closes the excitation shutter on every exit path (``finalize_wrapper``).  Arguments are checked before the
first message; the error repeats the bad value with its unit and names the limit.
Wavelengths in nm, times in s.
"""

import math
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from labctl.devices.fluorometer import Fluorometer, FluorometerLimitError, ShutterState
from labctl.devices.operator import HandStep, Operator
from labctl.devices.photoreactor import BenchClock
from labctl.plans.stubs import Checks, MsgGen, PlanArgumentError, load_step, si_args, sleep_until


class DetectorSaturated(RuntimeError):
    """The spectrometer clipped during a measurement whose result would be wrong."""


def _limit(checks: Checks, call: Any, passed: str) -> None:
    """Run a device check; its :class:`FluorometerLimitError` becomes a plan argument error."""
    try:
        call()
    except FluorometerLimitError as exc:
        raise PlanArgumentError(str(exc)) from exc
    checks.append(passed)


def _check_excitation(
    fluor: Fluorometer, checks: Checks, excitation_nm: float, bandwidth_nm: float, integration_s: float
) -> None:
    ex = fluor.excitation
    _limit(checks, lambda: ex.check_wavelength(excitation_nm), f"excitation {excitation_nm:g} nm in grating range")
    _limit(checks, lambda: ex.check_bandwidth(bandwidth_nm), f"excitation bandwidth {bandwidth_nm:g} nm within slits")
    _limit(checks, lambda: fluor.check_integration(integration_s), f"integration {integration_s:g} s within limits")


def _check_window(
    fluor: Fluorometer, checks: Checks, lo_nm: float, hi_nm: float, excitation_nm: float, bandwidth_nm: float
) -> None:
    _limit(
        checks,
        lambda: fluor.check_emission_window(lo_nm, hi_nm, excitation_nm, bandwidth_nm),
        f"emission {lo_nm:g}-{hi_nm:g} nm clear of the excitation line",
    )
    _limit(checks, lambda: fluor.check_in_spectral_range(lo_nm, hi_nm), "emission window inside the spectrometer range")


def _md(plan: str, experiment: str, sample: str, args: dict[str, Any], checks: Checks, **extra: Any) -> dict[str, Any]:
    return {
        "plan_name": plan,
        "experiment": experiment,
        "plan_args": args,
        "sample": sample,
        "checks": list(checks),
        **extra,
    }


def load_film(operator: Operator, sample: str) -> MsgGen:
    """The operator puts a fresh film of ``sample`` in the fluorometer's sample holder."""
    yield from load_step(operator, "fluorometer", f"Put a fresh film of {sample} in the sample holder", sample=sample)


def configure(fluor: Fluorometer, *, excitation_nm: float, bandwidth_nm: float, integration_s: float) -> MsgGen:
    """Shutter closed, excitation and slits set, integration set; then the dark and calibration records."""
    yield from bps.mv(fluor.excitation.shutter, ShutterState.CLOSED.value)
    yield from bps.mv(fluor.excitation.bandwidth, bandwidth_nm, fluor.integration_time, integration_s)
    yield from bps.mv(fluor.excitation, excitation_nm)
    yield from bps.trigger_and_read([fluor.dark], name="dark")
    yield from bps.trigger_and_read([fluor.calibration], name="calibration")


def shutter(fluor: Fluorometer, state: ShutterState) -> MsgGen:
    yield from bps.mv(fluor.excitation.shutter, state.value)


def close_shutter(fluor: Fluorometer) -> MsgGen:
    """The last word of every PL plan: no light on the sample."""
    yield from shutter(fluor, ShutterState.CLOSED)


# -- emission scan --------------------------------------------------------------------------------
def check_emission_scan(
    fluor: Fluorometer,
    *,
    excitation_nm: float,
    start_nm: float,
    stop_nm: float,
    excitation_bandwidth_nm: float,
    integration_s: float,
    averages: int,
) -> Checks:
    checks = Checks()
    checks.finite(
        excitation_nm=excitation_nm,
        start_nm=start_nm,
        stop_nm=stop_nm,
        excitation_bandwidth_nm=excitation_bandwidth_nm,
        integration_s=integration_s,
        averages=averages,
    )
    _check_excitation(fluor, checks, excitation_nm, excitation_bandwidth_nm, integration_s)
    _check_window(fluor, checks, start_nm, stop_nm, excitation_nm, excitation_bandwidth_nm)
    checks.need(1 <= averages <= 1000, f"averages={averages} must be 1-1000", f"averages {averages}")
    return checks


def emission_scan(
    fluor: Fluorometer,
    operator: Operator,
    clock: BenchClock,
    *,
    sample: str,
    excitation_nm: float | str,
    start_nm: float | str,
    stop_nm: float | str,
    excitation_bandwidth_nm: float | str = 5.0,
    integration_s: float | str = 0.1,
    averages: int = 3,
    md: dict[str, Any] | None = None,
) -> MsgGen:
    """Emission spectrum of ``sample`` excited at ``excitation_nm``: ``averages`` frames, window start-stop.

    Parameters
    ----------
    fluor : Fluorometer
        The fluorometer (excitation monochromator, spectrometer, scaler).
    operator : Operator
        The person at the bench: puts the film in (and the sphere samples, the PMT filter).
    clock : BenchClock
        The bench clock.
    sample : str
        The film measured (a simulated film name on the simulated bench).
    excitation_nm : float or str
        Excitation wavelength, in nm (or e.g. "350 nm").
    start_nm : float or str
        Start of the scanned window, in nm.
    stop_nm : float or str
        End of the scanned window, in nm.
    excitation_bandwidth_nm : float or str
        Excitation bandwidth, in nm.
    integration_s : float or str
        Spectrometer integration time, in s.
    averages : int
        Frames averaged.
    md : dict, optional
        Metadata added to the start document.
    """
    (
        excitation_nm,
        start_nm,
        stop_nm,
        excitation_bandwidth_nm,
        integration_s,
    ) = si_args(
        excitation_nm=excitation_nm,
        start_nm=start_nm,
        stop_nm=stop_nm,
        excitation_bandwidth_nm=excitation_bandwidth_nm,
        integration_s=integration_s,
    )
    args = {
        "excitation_nm": excitation_nm,
        "start_nm": start_nm,
        "stop_nm": stop_nm,
        "excitation_bandwidth_nm": excitation_bandwidth_nm,
        "integration_s": integration_s,
        "averages": averages,
    }
    checks = check_emission_scan(fluor, **args)
    _m = _md("emission_scan", "emission-scan", sample, args, checks, planned_duration_s=averages * integration_s + 5)
    _m.update(md or {})

    @bpp.run_decorator(md=_m)
    def inner() -> MsgGen:
        yield from load_film(operator, sample)
        yield from bps.mv(clock, 0.0)
        yield from configure(
            fluor, excitation_nm=excitation_nm, bandwidth_nm=excitation_bandwidth_nm, integration_s=integration_s
        )
        yield from shutter(fluor, ShutterState.OPEN)
        for _ in range(averages):
            yield from bps.checkpoint()
            yield from bps.trigger_and_read([fluor.spectrum, clock])
        yield from close_shutter(fluor)

    return (yield from bpp.finalize_wrapper(inner(), close_shutter(fluor)))


# -- excitation scan ------------------------------------------------------------------------------
def check_excitation_scan(
    fluor: Fluorometer,
    *,
    emission_nm: float,
    start_nm: float,
    stop_nm: float,
    step_nm: float,
    excitation_bandwidth_nm: float,
    emission_bandwidth_nm: float,
    integration_s: float,
) -> Checks:
    checks = Checks()
    checks.finite(
        emission_nm=emission_nm,
        start_nm=start_nm,
        stop_nm=stop_nm,
        step_nm=step_nm,
        excitation_bandwidth_nm=excitation_bandwidth_nm,
        emission_bandwidth_nm=emission_bandwidth_nm,
        integration_s=integration_s,
    )
    checks.need(
        start_nm < stop_nm and step_nm > 0,
        f"excitation scan {start_nm:g}-{stop_nm:g} nm in steps of {step_nm:g} nm: give start < stop and step > 0",
        f"excitation {start_nm:g}-{stop_nm:g} nm step {step_nm:g} nm",
    )
    for nm in (start_nm, stop_nm):
        _check_excitation(fluor, checks, nm, excitation_bandwidth_nm, integration_s)
    half = emission_bandwidth_nm / 2
    # the excitation line sweeps start..stop: the emission band must stay clear of all of it
    _check_window(
        fluor,
        checks,
        emission_nm - half,
        emission_nm + half,
        (start_nm + stop_nm) / 2,
        (stop_nm - start_nm) / 2 + excitation_bandwidth_nm,
    )
    checks.need(
        (stop_nm - start_nm) / step_nm <= 2000,
        f"{(stop_nm - start_nm) / step_nm:.0f} steps is more than 2000; use a larger step",
        "steps <= 2000",
    )
    return checks


def excitation_scan(
    fluor: Fluorometer,
    operator: Operator,
    clock: BenchClock,
    *,
    sample: str,
    emission_nm: float | str,
    start_nm: float | str,
    stop_nm: float | str,
    step_nm: float | str = 1.0,
    excitation_bandwidth_nm: float | str = 5.0,
    emission_bandwidth_nm: float | str = 10.0,
    integration_s: float | str = 0.2,
    md: dict[str, Any] | None = None,
) -> MsgGen:
    """PL at ``emission_nm`` (± half the emission bandwidth) vs excitation wavelength (not lamp-corrected).

    Parameters
    ----------
    fluor : Fluorometer
        The fluorometer (excitation monochromator, spectrometer, scaler).
    operator : Operator
        The person at the bench: puts the film in (and the sphere samples, the PMT filter).
    clock : BenchClock
        The bench clock.
    sample : str
        The film measured (a simulated film name on the simulated bench).
    emission_nm : float or str
        Emission wavelength followed, in nm.
    start_nm : float or str
        Start of the scanned window, in nm.
    stop_nm : float or str
        End of the scanned window, in nm.
    step_nm : float or str
        Excitation step, in nm.
    excitation_bandwidth_nm : float or str
        Excitation bandwidth, in nm.
    emission_bandwidth_nm : float or str
        Emission bandwidth, in nm.
    integration_s : float or str
        Spectrometer integration time, in s.
    md : dict, optional
        Metadata added to the start document.
    """
    (
        emission_nm,
        start_nm,
        stop_nm,
        step_nm,
        excitation_bandwidth_nm,
        emission_bandwidth_nm,
        integration_s,
    ) = si_args(
        emission_nm=emission_nm,
        start_nm=start_nm,
        stop_nm=stop_nm,
        step_nm=step_nm,
        excitation_bandwidth_nm=excitation_bandwidth_nm,
        emission_bandwidth_nm=emission_bandwidth_nm,
        integration_s=integration_s,
    )
    args = {
        "emission_nm": emission_nm,
        "start_nm": start_nm,
        "stop_nm": stop_nm,
        "step_nm": step_nm,
        "excitation_bandwidth_nm": excitation_bandwidth_nm,
        "emission_bandwidth_nm": emission_bandwidth_nm,
        "integration_s": integration_s,
    }
    checks = check_excitation_scan(fluor, **args)
    n = math.floor((stop_nm - start_nm) / step_nm + 1e-9) + 1
    points = [start_nm + i * step_nm for i in range(n)]
    _m = _md(
        "excitation_scan",
        "excitation-scan",
        sample,
        args,
        checks,
        planned_duration_s=n * (integration_s + 0.3),
        hints={"dimensions": [([fluor.excitation.wavelength.name], "primary")]},
    )
    _m.update(md or {})

    @bpp.run_decorator(md=_m)
    def inner() -> MsgGen:
        yield from load_film(operator, sample)
        yield from bps.mv(clock, 0.0, fluor.emission, emission_nm, fluor.emission_bandwidth, emission_bandwidth_nm)
        yield from configure(
            fluor, excitation_nm=start_nm, bandwidth_nm=excitation_bandwidth_nm, integration_s=integration_s
        )
        yield from shutter(fluor, ShutterState.OPEN)
        for nm in points:
            yield from bps.checkpoint()
            yield from bps.mv(fluor.excitation, nm)
            yield from bps.trigger_and_read([fluor.point, fluor.excitation, clock])
        yield from close_shutter(fluor)

    return (yield from bpp.finalize_wrapper(inner(), close_shutter(fluor)))


# -- PLQY -------------------------------------------------------------------------------------------
def check_plqy(
    fluor: Fluorometer,
    *,
    excitation_nm: float,
    excitation_bandwidth_nm: float,
    emission_start_nm: float,
    emission_stop_nm: float,
    integration_s: float,
    replicates: int,
) -> Checks:
    checks = Checks()
    checks.finite(
        excitation_nm=excitation_nm,
        excitation_bandwidth_nm=excitation_bandwidth_nm,
        emission_start_nm=emission_start_nm,
        emission_stop_nm=emission_stop_nm,
        integration_s=integration_s,
        replicates=replicates,
    )
    _check_excitation(fluor, checks, excitation_nm, excitation_bandwidth_nm, integration_s)
    _check_window(fluor, checks, emission_start_nm, emission_stop_nm, excitation_nm, excitation_bandwidth_nm)
    checks.need(
        2 <= replicates <= 50,
        f"replicates={replicates} must be 2-50 (an uncertainty needs at least 2)",
        f"replicates {replicates}",
    )
    return checks


def plqy(
    fluor: Fluorometer,
    operator: Operator,
    clock: BenchClock,
    *,
    sample: str,
    excitation_nm: float | str = 350.0,
    excitation_bandwidth_nm: float | str = 20.0,
    emission_start_nm: float | str = 450.0,
    emission_stop_nm: float | str = 800.0,
    integration_s: float | str = 0.2,
    replicates: int = 3,
    md: dict[str, Any] | None = None,
) -> MsgGen:
    """Absolute PLQY in the integrating sphere: blank, then sample, ``replicates`` spectra each.

    A saturated frame (the excitation line in the sphere is bright) stops the run with the
    integration time to use; the frames already taken are kept.

    Parameters
    ----------
    fluor : Fluorometer
        The fluorometer (excitation monochromator, spectrometer, scaler).
    operator : Operator
        The person at the bench: puts the film in (and the sphere samples, the PMT filter).
    clock : BenchClock
        The bench clock.
    sample : str
        The film measured (a simulated film name on the simulated bench).
    excitation_nm : float or str
        Excitation wavelength, in nm (or e.g. "350 nm").
    excitation_bandwidth_nm : float or str
        Excitation bandwidth, in nm.
    emission_start_nm : float or str
        Start of the emission window integrated, in nm.
    emission_stop_nm : float or str
        End of the emission window integrated, in nm.
    integration_s : float or str
        Spectrometer integration time, in s.
    replicates : int
        Spectra of the blank and of the sample each.
    md : dict, optional
        Metadata added to the start document.
    """
    (
        excitation_nm,
        excitation_bandwidth_nm,
        emission_start_nm,
        emission_stop_nm,
        integration_s,
    ) = si_args(
        excitation_nm=excitation_nm,
        excitation_bandwidth_nm=excitation_bandwidth_nm,
        emission_start_nm=emission_start_nm,
        emission_stop_nm=emission_stop_nm,
        integration_s=integration_s,
    )
    args = {
        "excitation_nm": excitation_nm,
        "excitation_bandwidth_nm": excitation_bandwidth_nm,
        "emission_start_nm": emission_start_nm,
        "emission_stop_nm": emission_stop_nm,
        "integration_s": integration_s,
        "replicates": replicates,
    }
    checks = check_plqy(fluor, **args)
    _m = _md(
        "plqy",
        "plqy",
        sample,
        args,
        checks,
        excitation_window_nm=[excitation_nm - excitation_bandwidth_nm, excitation_nm + excitation_bandwidth_nm],
        emission_window_nm=[emission_start_nm, emission_stop_nm],
        planned_duration_s=2 * replicates * integration_s + 10,
    )
    _m.update(md or {})

    def measure(stream: str) -> MsgGen:
        yield from shutter(fluor, ShutterState.OPEN)
        for _ in range(replicates):
            yield from bps.checkpoint()
            yield from bps.trigger_and_read([fluor.spectrum, clock], name=stream)
            if (yield from bps.rd(fluor.spectrum.saturated)):
                raise DetectorSaturated(
                    f"{fluor.name}: the {stream} spectrum saturated the spectrometer at {integration_s:g} s "
                    f"integration; rerun with integration_time={integration_s / 4:.3g}s (or a narrower "
                    "excitation bandwidth)"
                )
        yield from close_shutter(fluor)

    @bpp.run_decorator(md=_m)
    def inner() -> MsgGen:
        yield from load_film(operator, sample)
        yield from bps.mv(clock, 0.0)
        yield from configure(
            fluor, excitation_nm=excitation_nm, bandwidth_nm=excitation_bandwidth_nm, integration_s=integration_s
        )
        yield from bps.mv(operator, HandStep("sphere_blank", "Put the blank substrate in the integrating sphere"))
        yield from measure("blank")
        yield from bps.mv(operator, HandStep("sphere_sample", f"Put the film of {sample} in the integrating sphere"))
        yield from measure("sample")

    return (yield from bpp.finalize_wrapper(inner(), close_shutter(fluor)))


# -- photostability ---------------------------------------------------------------------------------
def check_photostability(
    fluor: Fluorometer,
    *,
    excitation_nm: float,
    emission_nm: float,
    excitation_bandwidth_nm: float,
    emission_bandwidth_nm: float,
    dwell_s: float,
    interval_s: float,
    duration_s: float,
    spectrum_interval_s: float,
    stop_below: float | None,
) -> Checks:
    checks = Checks()
    checks.finite(
        excitation_nm=excitation_nm,
        emission_nm=emission_nm,
        excitation_bandwidth_nm=excitation_bandwidth_nm,
        emission_bandwidth_nm=emission_bandwidth_nm,
        dwell_s=dwell_s,
        interval_s=interval_s,
        duration_s=duration_s,
        spectrum_interval_s=spectrum_interval_s,
        stop_below=stop_below,
    )
    _check_excitation(fluor, checks, excitation_nm, excitation_bandwidth_nm, dwell_s)
    half = emission_bandwidth_nm / 2
    _check_window(fluor, checks, emission_nm - half, emission_nm + half, excitation_nm, excitation_bandwidth_nm)
    checks.need(
        interval_s >= dwell_s + 0.05,
        f"interval_s={interval_s:g} s is shorter than the dwell {dwell_s:g} s plus 0.05 s of readout; "
        f"use interval >= {dwell_s + 0.05:g}s",
        f"interval {interval_s:g} s >= dwell {dwell_s:g} s",
    )
    checks.need(
        duration_s >= 2 * interval_s,
        f"duration_s={duration_s:g} s gives fewer than 3 points at interval_s={interval_s:g} s; lengthen duration",
        f"duration {duration_s / 3600:g} h gives {int(duration_s // interval_s) + 1} points",
    )
    checks.need(
        duration_s <= 7 * 86400,
        f"duration_s={duration_s:g} s ({duration_s / 3600:g} h) is above the 168 h limit; split the run",
        "duration <= 168 h",
    )
    checks.need(
        spectrum_interval_s >= interval_s,
        f"spectrum_interval_s={spectrum_interval_s:g} s is shorter than interval_s={interval_s:g} s",
        f"a spectrum every {spectrum_interval_s / 60:g} min",
    )
    if stop_below is not None:
        checks.need(
            0 < stop_below < 1,
            f"stop_below={stop_below:g} must be a retention fraction between 0 and 1, e.g. stop_below=0.5",
            f"stops when PL < {stop_below:.0%} of the first point",
        )
    return checks


def photostability(
    fluor: Fluorometer,
    operator: Operator,
    clock: BenchClock,
    *,
    sample: str,
    excitation_nm: float | str = 350.0,
    emission_nm: float | str = 593.0,
    excitation_bandwidth_nm: float | str = 20.0,
    emission_bandwidth_nm: float | str = 10.0,
    dwell_s: float | str = 0.2,
    interval_s: float | str = 10.0,
    duration_s: float | str = 12 * 3600.0,
    spectrum_interval_s: float | str = 1800.0,
    stop_below: float | None = None,
    md: dict[str, Any] | None = None,
) -> MsgGen:
    """Irradiate continuously at ``excitation_nm`` and follow the PL at ``emission_nm`` (see module docstring).

    Point k integrates from ``k * interval_s`` after the shutter opened for one dwell; the
    first point is the 100 % reference.

    Parameters
    ----------
    fluor : Fluorometer
        The fluorometer (excitation monochromator, spectrometer, scaler).
    operator : Operator
        The person at the bench: puts the film in (and the sphere samples, the PMT filter).
    clock : BenchClock
        The bench clock.
    sample : str
        The film measured (a simulated film name on the simulated bench).
    excitation_nm : float or str
        Excitation wavelength, in nm (or e.g. "350 nm").
    emission_nm : float or str
        Emission wavelength followed, in nm.
    excitation_bandwidth_nm : float or str
        Excitation bandwidth, in nm.
    emission_bandwidth_nm : float or str
        Emission bandwidth, in nm.
    dwell_s : float or str
        Integration of each point, in s.
    interval_s : float or str
        Time between points, in s.
    duration_s : float or str
        Irradiation time, in s (or e.g. "12 h").
    spectrum_interval_s : float or str
        Time between full spectra, in s.
    stop_below : float, optional
        Retention fraction (0-1) below which the run stops early.
    md : dict, optional
        Metadata added to the start document.
    """
    (
        excitation_nm,
        emission_nm,
        excitation_bandwidth_nm,
        emission_bandwidth_nm,
        dwell_s,
        interval_s,
        duration_s,
        spectrum_interval_s,
    ) = si_args(
        excitation_nm=excitation_nm,
        emission_nm=emission_nm,
        excitation_bandwidth_nm=excitation_bandwidth_nm,
        emission_bandwidth_nm=emission_bandwidth_nm,
        dwell_s=dwell_s,
        interval_s=interval_s,
        duration_s=duration_s,
        spectrum_interval_s=spectrum_interval_s,
    )
    args = {
        "excitation_nm": excitation_nm,
        "emission_nm": emission_nm,
        "excitation_bandwidth_nm": excitation_bandwidth_nm,
        "emission_bandwidth_nm": emission_bandwidth_nm,
        "dwell_s": dwell_s,
        "interval_s": interval_s,
        "duration_s": duration_s,
        "spectrum_interval_s": spectrum_interval_s,
        "stop_below": stop_below,
    }
    checks = check_photostability(fluor, **args)
    n = math.floor(duration_s / interval_s + 1e-9) + 1
    every = max(1, round(spectrum_interval_s / interval_s))
    _m = _md(
        "photostability",
        "photostability",
        sample,
        args,
        checks,
        planned_duration_s=duration_s + dwell_s,
        num_points=n,
        hints={"dimensions": [([clock.elapsed.name], "primary")]},
    )
    _m.update(md or {})

    @bpp.run_decorator(md=_m)
    def inner() -> MsgGen:
        yield from load_film(operator, sample)
        yield from bps.mv(fluor.emission, emission_nm, fluor.emission_bandwidth, emission_bandwidth_nm)
        yield from configure(
            fluor, excitation_nm=excitation_nm, bandwidth_nm=excitation_bandwidth_nm, integration_s=dwell_s
        )
        yield from shutter(fluor, ShutterState.OPEN)
        yield from bps.mv(clock, 0.0)  # irradiation starts
        first: float | None = None
        for k in range(n):
            yield from sleep_until(clock, k * interval_s)
            yield from bps.checkpoint()
            yield from bps.trigger_and_read([fluor.point, clock])
            spectrum_taken = k % every == 0 or k == n - 1
            if spectrum_taken:
                yield from bps.trigger_and_read([fluor.spectrum, clock], name="spectra")
            if stop_below is not None:
                pl = yield from bps.rd(fluor.point.pl)
                first = pl if first is None else first
                if first > 0 and pl < stop_below * first:
                    if not spectrum_taken:
                        yield from bps.trigger_and_read([fluor.spectrum, clock], name="spectra")
                    break
        yield from close_shutter(fluor)

    return (yield from bpp.finalize_wrapper(inner(), close_shutter(fluor)))


# -- PL decay ---------------------------------------------------------------------------------------
def check_pl_decay(
    fluor: Fluorometer, *, emission_nm: float, time_range_s: float, bin_width_s: float, records: int, scans: int = 1
) -> Checks:
    checks = Checks()
    checks.finite(
        emission_nm=emission_nm, time_range_s=time_range_s, bin_width_s=bin_width_s, records=records, scans=scans
    )
    if fluor.scaler_driver is None:
        raise PlanArgumentError(
            f"{fluor.name}: this bench has no time-resolved path; add [fluorometer] scaler_address to the bench file"
        )
    _limit(checks, lambda: fluor.pmt_filter_for(emission_nm), f"a PMT filter passes {emission_nm:g} nm")
    checks.need(
        5e-9 <= bin_width_s <= time_range_s / 10,
        f"bin_width_s={bin_width_s:g} s ({bin_width_s * 1e6:g} µs) "
        f"must be between 0.005 µs and a tenth of the time range "
        f"({time_range_s * 1e6 / 10:g} µs)",
        f"bin width {bin_width_s * 1e6:g} µs",
    )
    bins = max(10, round(time_range_s / bin_width_s))
    _limit(
        checks,
        lambda: fluor.check_decay(bin_width_s, bins),
        f"{bins} bins of {bin_width_s * 1e6:g} µs fit in the pulse period with the scaler's dead time",
    )
    checks.need(
        100 <= records <= 10_000_000,
        f"records={records} must be 100-10,000,000 pulses",
        f"{records} pulses ({records / fluor.pulse_rate_hz:g} s)",
    )
    checks.need(1 <= scans <= 1000, f"scans={scans} must be 1-1000", f"{scans} scans summed")
    return checks


def pl_decay(
    fluor: Fluorometer,
    operator: Operator,
    clock: BenchClock,
    *,
    sample: str,
    emission_nm: float | str = 593.0,
    time_range_s: float | str = 2.5e-3,
    bin_width_s: float | str = 2.5e-6,
    records: int = 10_000,
    scans: int = 5,
    md: dict[str, Any] | None = None,
) -> MsgGen:
    """Mn2+ emission decay: CW excitation shut, PMT filter in, ``scans`` histograms of ``records`` pulses.

    Each scan is one event in ``primary``; the analysis sums them (a scan must stay below the
    scaler's 32767 counts per bin: ``fluor-decay-saturated`` says when it did not).

    Parameters
    ----------
    fluor : Fluorometer
        The fluorometer (excitation monochromator, spectrometer, scaler).
    operator : Operator
        The person at the bench: puts the film in (and the sphere samples, the PMT filter).
    clock : BenchClock
        The bench clock.
    sample : str
        The film measured (a simulated film name on the simulated bench).
    emission_nm : float or str
        Emission wavelength followed, in nm.
    time_range_s : float or str
        Decay histogram range, in s.
    bin_width_s : float or str
        Decay histogram bin width, in s.
    records : int
        Excitation pulses per histogram.
    scans : int
        Histograms recorded.
    md : dict, optional
        Metadata added to the start document.
    """
    (
        emission_nm,
        time_range_s,
        bin_width_s,
    ) = si_args(
        emission_nm=emission_nm,
        time_range_s=time_range_s,
        bin_width_s=bin_width_s,
    )
    args = {
        "emission_nm": emission_nm,
        "time_range_s": time_range_s,
        "bin_width_s": bin_width_s,
        "records": records,
        "scans": scans,
    }
    checks = check_pl_decay(fluor, **args)
    filt = fluor.pmt_filter_for(emission_nm)
    bins = max(10, round(time_range_s / bin_width_s))
    _m = _md(
        "pl_decay",
        "pl-decay",
        sample,
        args,
        checks,
        pmt_filter_nm=[filt, fluor.pmt_filter_width_nm],
        pulsed_excitation_nm=fluor.pulsed_excitation_nm,
        planned_duration_s=scans * records / fluor.pulse_rate_hz + 5,
    )
    _m.update(md or {})

    @bpp.run_decorator(md=_m)
    def inner() -> MsgGen:
        yield from load_film(operator, sample)
        yield from bps.mv(clock, 0.0)
        yield from close_shutter(fluor)
        yield from bps.mv(
            operator,
            HandStep(
                "pmt_filter", f"Put the {filt:g}/{fluor.pmt_filter_width_nm:g} nm band-pass filter before the PMT", filt
            ),
        )
        yield from bps.mv(fluor.decay.bin_width, bin_width_s, fluor.decay.bins, bins, fluor.decay.records, records)
        for _ in range(scans):
            yield from bps.checkpoint()
            yield from bps.trigger_and_read([fluor.decay, clock])

    return (yield from bpp.finalize_wrapper(inner(), close_shutter(fluor)))
