"""CO2 cycloaddition of an epoxide in the Parr reactor, and recycling campaigns of one catalyst.

One run of ``co2_cycloaddition`` (temperatures in °C, pressures in bar, times in s):

0. the arguments are checked before anything moves, among them the pressure the CO2 charge will
   reach at the hold temperature (heated at constant volume, plus propylene oxide's vapour
   pressure: :func:`labctl.chemistry.pressure_at_temperature_bar`) against the vessel limit;
1. the operator loads catalyst, epoxide and TBAB and seals the vessel; the catalyst is named
   (``catalyst``) or given by its Zn fraction x (``zn_fraction``: the Mn:(Cd1-xZnxSe)13 SS);
2. purge the air with CO2 (``purge_cycles`` fills and vents), then leak check: charge CO2 to
   ``pressure_bar``, close the inlet, hold ``leak_check_s``; a drop
   of more than ``leak_tolerance_bar`` stops the run before anything is heated;
3. stirring on; heater on; heat to ``temperature_c`` (recording the trace every
   ``trace_interval_s``) until the vessel has settled;
4. hold for ``hold_s`` with the pressure watch armed (a rising pressure trips the interlock);
   with ``co2_supply="regulated"`` the inlet stays open to the regulator from heat-up to the end
   of the hold (CO2 fed at the charge pressure: 3 bar in a 150 mL vessel holds ~18 mmol, less
   than a 3 mL PO charge can take up), with ``"sealed"`` it stays closed and the uptake shows as
   a pressure drop;
   pressures at the start and end of the hold go to streams ``hold_start`` / ``hold_end``;
5. heater off, cool (ice bath) below ``safe_vent_temperature_c``; vent (never while hot);
6. PO conversion by 1H NMR (entered by the operator; the model's on a simulated bench), stream
   ``nmr``.

Heater off, setpoint to ambient and stirring stopped run in a ``finalize_wrapper`` on every exit
path; the heater-off set is the last one.  ``recycle`` runs ``cycles`` such runs on one catalyst,
each its own run sharing a ``campaign_id``, with the catalyst recovered in between.
"""

import math
import uuid
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from labctl.chemistry import (
    CHARGE_TEMPERATURE_C,
    max_charge_pressure_bar,
    max_temperature_c,
    po_mmol,
    po_vapour_pressure_bar,
    pressure_at_temperature_bar,
)
from labctl.devices.operator import EnteredReading, HandStep, Operator
from labctl.devices.parr import ParrReactor
from labctl.devices.photoreactor import BenchClock
from labctl.plans.stubs import Checks, MsgGen, PlanArgumentError, load_step, si_args, sleep_until

CO2_SUPPLIES = ("regulated", "sealed")
MAX_HOLD_S = 30 * 86400.0
MAX_TBAB_MG = 5000.0  # co-catalyst: about 100 mg per 3 mL of epoxide
MAX_PURGE_CYCLES = 20
MAX_LEAK_CHECK_S = 24 * 3600.0
MIN_TRACE_INTERVAL_S = 1.0  # the trace is read from the controller over Modbus; faster only fills the disk


def zn_catalyst_name(zn_fraction: float) -> str:
    """The name of the Mn:(Cd1-xZnxSe)13 SS with Zn fraction ``zn_fraction``: 0.3 -> ``Mn:(Cd0.7Zn0.3Se)13 SS``
    (``Mn:(CdSe)13 SS`` at 0, ``Mn:(ZnSe)13 SS`` at 1)."""
    x = float(zn_fraction)
    if x == 0.0:
        label = "CdSe"
    elif x == 1.0:
        label = "ZnSe"
    else:
        label = f"Cd{1.0 - x:g}Zn{x:g}Se"
    return f"Mn:({label})13 SS"


def _vessel_pressure_check(reactor: ParrReactor, checks: Checks, pressure_bar: float, temperature_c: float) -> None:
    """The CO2 charge heated to the hold temperature, plus PO's vapour pressure, within the vessel limit."""
    limit = reactor.max_pressure_bar
    p_vap = po_vapour_pressure_bar(temperature_c)
    p_hot = pressure_at_temperature_bar(pressure_bar, temperature_c)
    if p_hot <= limit:
        checks.append(f"pressure at {temperature_c:g} °C about {p_hot:.1f} bar <= vessel limit {limit:g} bar")
        return
    fixes = []
    p_max = math.floor(max_charge_pressure_bar(limit, temperature_c) * 10.0) / 10.0
    if p_max > 0:
        fixes.append(f"lower pressure_bar to at most {p_max:g} bar at {temperature_c:g} °C")
    t_max = max_temperature_c(pressure_bar, limit)
    if t_max is not None:
        fixes.append(f"lower temperature_c to at most {math.floor(t_max):g} °C at {pressure_bar:g} bar")
    checks.need(
        False,
        f"pressure_bar={pressure_bar:g} bar charged at {CHARGE_TEMPERATURE_C:g} °C and heated to "
        f"temperature_c={temperature_c:g} °C gives about {p_hot:.1f} bar in {reactor.name} (the CO2 at constant "
        f"volume {p_hot - p_vap:.1f} bar + propylene oxide vapour {p_vap:.1f} bar), above the vessel limit "
        f"{limit:g} bar; " + (" or ".join(fixes) if fixes else "lower temperature_c"),
        "",
    )


class LeakCheckError(RuntimeError):
    """The sealed vessel lost pressure during the leak check."""


class PressureNotReachedError(TimeoutError):
    """A gas step did not reach its pressure in time."""


def check_cycloaddition(
    reactor: ParrReactor,
    *,
    catalyst_mass_mg: float,
    surface_metal_umol: float | None,
    epoxide_volume_ml: float,
    pressure_bar: float,
    temperature_c: float,
    hold_s: float,
    stir_rpm: float,
    ramp_c_per_min: float | None = None,
    tbab_mg: float = 100.0,
    purge_cycles: int = 3,
    leak_check_s: float = 600.0,
    leak_tolerance_bar: float = 0.05,
    trace_interval_s: float = 60.0,
    co2_supply: str = "regulated",
    catalyst: str | None = None,
    zn_fraction: float | None = None,
) -> list[str]:
    """Validate against the plan's needs and the bench limits; return the checks passed.

    One of ``catalyst`` (a name) and ``zn_fraction`` (x of Mn:(Cd1-xZnxSe)13 SS) names the catalyst."""
    checks = Checks()
    need = checks.need

    need(
        catalyst is not None or zn_fraction is not None,
        "give the catalyst: catalyst='Mn:(Cd0.5Zn0.5Se)13 SS' (a name) or zn_fraction=0.5 (the Zn fraction x "
        "of Mn:(Cd1-xZnxSe)13 SS)",
        "catalyst named",
    )
    need(
        catalyst is None or zn_fraction is None,
        f"catalyst={catalyst!r} and zn_fraction={zn_fraction!r} both name the catalyst; give one "
        "(zn_fraction alone means Mn:(Cd1-xZnxSe)13 SS)",
        "catalyst named once",
    )
    if zn_fraction is not None:
        checks.finite(zn_fraction=zn_fraction)
        need(
            0.0 <= zn_fraction <= 1.0,
            f"zn_fraction={zn_fraction:g} must be between 0 (Mn:(CdSe)13 SS) and 1 (Mn:(ZnSe)13 SS), "
            "e.g. zn_fraction=0.5",
            f"zn_fraction {zn_fraction:g} in 0-1",
        )

    need(
        co2_supply in CO2_SUPPLIES,
        f"co2_supply={co2_supply!r} must be 'regulated' (CO2 fed at the charge pressure during the hold) "
        "or 'sealed' (inlet closed: the uptake shows as a pressure drop)",
        f"co2_supply {co2_supply}",
    )
    need(
        co2_supply != "regulated" or reactor.automated_valves,
        f"co2_supply='regulated' needs an automated gas inlet on {reactor.name}; use co2_supply=sealed",
        "gas inlet automated" if co2_supply == "regulated" else "inlet closed during the hold",
    )
    checks.finite(
        catalyst_mass_mg=catalyst_mass_mg,
        surface_metal_umol=surface_metal_umol,
        epoxide_volume_ml=epoxide_volume_ml,
        pressure_bar=pressure_bar,
        temperature_c=temperature_c,
        hold_s=hold_s,
        stir_rpm=stir_rpm,
        ramp_c_per_min=ramp_c_per_min,
        tbab_mg=tbab_mg,
        purge_cycles=purge_cycles,
        leak_check_s=leak_check_s,
        leak_tolerance_bar=leak_tolerance_bar,
        trace_interval_s=trace_interval_s,
    )
    need(
        catalyst_mass_mg > 0,
        f"catalyst_mass_mg={catalyst_mass_mg:g} mg must be > 0 mg, e.g. 4.5mg",
        f"catalyst_mass {catalyst_mass_mg:g} mg > 0",
    )
    if surface_metal_umol is not None:
        need(
            surface_metal_umol > 0,
            f"surface_metal_umol={surface_metal_umol:g} umol must be > 0 (from ICP-AES), e.g. surface_metal=0.14umol",
            f"surface_metal {surface_metal_umol:g} umol > 0",
        )
    need(
        0 < epoxide_volume_ml <= 50,
        f"epoxide_volume_ml={epoxide_volume_ml:g} mL is outside 0-50 mL for a 150 mL vessel",
        f"epoxide_volume {epoxide_volume_ml:g} mL",
    )
    need(
        0 < pressure_bar <= reactor.max_pressure_bar,
        f"pressure_bar={pressure_bar:g} bar is outside the vessel limit 0-{reactor.max_pressure_bar:g} bar of "
        f"{reactor.name}; lower pressure or check max_pressure in the bench file",
        f"pressure {pressure_bar:g} bar <= vessel limit {reactor.max_pressure_bar:g} bar",
    )
    need(
        temperature_c <= reactor.max_temperature_c,
        f"temperature_c={temperature_c:g} °C is above the bench limit {reactor.max_temperature_c:g} °C of "
        f"{reactor.name}; lower temperature or raise max_temperature in the bench file",
        f"temperature {temperature_c:g} °C <= limit {reactor.max_temperature_c:g} °C",
    )
    _vessel_pressure_check(reactor, checks, pressure_bar, temperature_c)
    need(
        temperature_c > reactor.safe_vent_temperature_c,
        f"temperature_c={temperature_c:g} °C must be above the safe vent temperature "
        f"{reactor.safe_vent_temperature_c:g} °C (the cool-down waits for it)",
        f"temperature {temperature_c:g} °C > vent temperature {reactor.safe_vent_temperature_c:g} °C",
    )
    need(
        hold_s > 0,
        f"hold_s={hold_s:g} s ({hold_s / 3600:g} h) must be > 0, e.g. hold_s=21600 or '6 h'",
        f"hold {hold_s / 3600:g} h",
    )
    need(
        hold_s <= MAX_HOLD_S,
        f"hold_s={hold_s:g} s ({hold_s / 86400:g} d) is above "
        f"{MAX_HOLD_S / 86400:g} d; give a hold between 1 min and 30 d, "
        "e.g. hold=6h",
        f"hold <= {MAX_HOLD_S / 86400:g} d",
    )
    checks.within("tbab_mg", tbab_mg, 0, MAX_TBAB_MG, example="100mg")
    checks.within("purge_cycles", purge_cycles, 0, MAX_PURGE_CYCLES, example="3")
    checks.within("leak_check_s", leak_check_s, 0, MAX_LEAK_CHECK_S, example="10min")
    need(
        0 < leak_tolerance_bar <= pressure_bar,
        f"leak_tolerance_bar={leak_tolerance_bar:g} bar must be > 0 and at most the charge pressure "
        f"{pressure_bar:g} bar",
        f"leak tolerance {leak_tolerance_bar:g} bar",
    )
    need(
        trace_interval_s >= MIN_TRACE_INTERVAL_S,
        f"trace_interval_s={trace_interval_s:g} s must be at least {MIN_TRACE_INTERVAL_S:g} s (a point every "
        "controller read at most); give e.g. trace_interval=1min",
        f"trace_interval {trace_interval_s:g} s >= {MIN_TRACE_INTERVAL_S:g} s",
    )
    need(
        trace_interval_s <= hold_s,
        f"trace_interval_s={trace_interval_s:g} s ({trace_interval_s / 60:g} "
        f"min) is longer than hold_s={hold_s:g} s; give trace_interval "
        "at most the hold, e.g. trace_interval=1min",
        f"trace_interval {trace_interval_s / 60:g} min <= hold",
    )
    need(
        0 <= stir_rpm <= reactor.max_stirrer_rpm,
        f"stir_rpm={stir_rpm:g} rpm is outside 0-{reactor.max_stirrer_rpm:g} rpm",
        f"stir {stir_rpm:g} rpm",
    )
    if ramp_c_per_min is not None:
        need(
            0 < ramp_c_per_min <= reactor.max_heating_rate_c_per_min,
            f"ramp_c_per_min={ramp_c_per_min:g} °C/min is outside the bench limit "
            f"0-{reactor.max_heating_rate_c_per_min:g} °C/min of {reactor.name}; ramp more slowly or check "
            "max_heating_rate in the bench file",
            f"ramp {ramp_c_per_min:g} °C/min <= limit {reactor.max_heating_rate_c_per_min:g} °C/min",
        )
    return checks


def _wait_pressure(
    reactor: ParrReactor,
    clock: BenchClock,
    *,
    above: float | None = None,
    below: float | None = None,
    timeout_s: float,
    what: str,
    poll_s: float = 5.0,
) -> MsgGen:
    t0 = yield from bps.rd(clock.elapsed)
    while True:
        p = yield from bps.rd(reactor.pressure)
        if (above is None or p >= above) and (below is None or p <= below):
            return p
        now = yield from bps.rd(clock.elapsed)
        if now - t0 > timeout_s:
            target = f">= {above:g}" if above is not None else f"<= {below:g}"
            raise PressureNotReachedError(
                f"{reactor.name}: {what}: pressure {p:.2f} bar did not reach {target} bar within "
                f"{timeout_s / 60:g} min; check the cylinder, regulator and valves"
            )
        yield from bps.sleep(poll_s)


def charge_gas(
    reactor: ParrReactor, operator: Operator, clock: BenchClock, pressure_bar: float, purge_cycles: int = 3
) -> MsgGen:
    """Purge the air out with CO2 (fill and vent ``purge_cycles`` times), then charge CO2 to
    ``pressure_bar`` through the inlet (or by the operator), each step confirmed by the pressure."""
    yield from bps.mv(
        operator, HandStep("regulator", f"Set the CO2 cylinder regulator to {pressure_bar:g} bar", pressure_bar)
    )
    for _ in range(purge_cycles):
        if reactor.automated_valves:
            yield from bps.mv(reactor.gas_inlet, True)
            yield from _wait_pressure(reactor, clock, above=pressure_bar * 0.97, timeout_s=600, what="CO2 purge")
            yield from bps.mv(reactor.gas_inlet, False)
        else:
            yield from bps.mv(
                operator, HandStep("charge", f"Purge: fill with CO2 to {pressure_bar:g} bar", pressure_bar)
            )
        yield from vent_gas(reactor, operator, clock)
    if reactor.automated_valves:
        yield from bps.mv(reactor.gas_inlet, True)
        yield from _wait_pressure(reactor, clock, above=pressure_bar * 0.97, timeout_s=600, what="CO2 charge")
        yield from bps.mv(reactor.gas_inlet, False)
    else:
        yield from bps.mv(
            operator,
            HandStep(
                "charge", f"Open the gas inlet, charge CO2 to {pressure_bar:g} bar, close the inlet", pressure_bar
            ),
        )
        yield from _wait_pressure(reactor, clock, above=pressure_bar * 0.97, timeout_s=1800, what="CO2 charge")


def vent_gas(reactor: ParrReactor, operator: Operator, clock: BenchClock) -> MsgGen:
    """Vent to ambient; the reactor refuses while the vessel is hot."""
    if reactor.automated_valves:
        yield from bps.mv(reactor.vent, True)
        yield from _wait_pressure(reactor, clock, below=1.2, timeout_s=600, what="vent")
        yield from bps.mv(reactor.vent, False)
    else:
        yield from bps.mv(
            operator, HandStep("vent", "Vent the unreacted CO2 slowly through the vent valve, then close it")
        )
        yield from _wait_pressure(reactor, clock, below=1.2, timeout_s=1800, what="vent")


def reactor_safe(reactor: ParrReactor) -> MsgGen:
    """Stirring stopped, setpoint to ambient, heater off (the last set).  Never vents."""
    yield from bps.abs_set(reactor.stirrer.setpoint, 0.0, wait=True)
    yield from bps.abs_set(reactor.temperature.setpoint, 20.0, wait=True)
    yield from bps.abs_set(reactor.heater, False, wait=True)


def co2_cycloaddition(
    reactor: ParrReactor,
    operator: Operator,
    nmr: EnteredReading,
    clock: BenchClock,
    *,
    catalyst: str | None = None,
    zn_fraction: float | str | None = None,
    catalyst_mass_mg: float | str,
    surface_metal_umol: float | str | None = None,
    epoxide_volume_ml: float | str = 3.0,
    tbab_mg: float | str = 100.0,
    pressure_bar: float | str = 3.0,
    temperature_c: float | str = 70.0,
    hold_s: float | str = 6 * 3600.0,
    stir_rpm: float | str = 800.0,
    co2_supply: str = "regulated",
    ramp_c_per_min: float | str | None = None,
    purge_cycles: int = 3,
    leak_check_s: float | str = 600.0,
    leak_tolerance_bar: float | str = 0.05,
    trace_interval_s: float | str = 60.0,
    sample: str = "",
    operator_name: str = "",
    md: dict[str, Any] | None = None,
) -> MsgGen:
    """One CO2 cycloaddition run in the Parr reactor (see the module docstring).

    Numbers are in the unit the parameter name says; a string with a unit (``"4.5 mg"``,
    ``"70 degC"``, ``"6 h"``) is converted at the start.  Give the catalyst by name or by its Zn
    fraction, not both.  A charge pressure that would exceed the vessel limit at the hold
    temperature (CO2 heated at constant volume plus propylene oxide's vapour pressure) is refused.

    Parameters
    ----------
    reactor : ParrReactor
        The Parr pressure reactor.
    operator : Operator
        The person at the bench: loads the vessel, sets the regulator, cools and vents.
    nmr : EnteredReading
        The PO conversion from 1H NMR, in %.
    clock : BenchClock
        The bench clock.
    catalyst : str, optional
        Catalyst name (text, no unit), e.g. "Mn:(Cd0.5Zn0.5Se)13 SS"; give this or ``zn_fraction``.
    zn_fraction : float or str, optional
        Zn fraction x of the catalyst Mn:(Cd1-xZnxSe)13 SS, dimensionless, 0 (CdSe) to 1 (ZnSe);
        a number or a string such as "0.5" or "50%".  When given it names the catalyst.
    catalyst_mass_mg : float or str
        Catalyst mass, in mg.
    surface_metal_umol : float or str, optional
        Surface metal of the loaded catalyst from ICP-AES, in umol (for TON/TOF).
    epoxide_volume_ml : float or str
        Propylene oxide volume, in mL.
    tbab_mg : float or str
        TBAB co-catalyst mass, in mg.
    pressure_bar : float or str
        CO2 charge pressure at room temperature, in bar (absolute, as the vessel's gauge reads it).
    temperature_c : float or str
        Reaction temperature, in degC.
    hold_s : float or str
        Hold time at temperature, in s.
    stir_rpm : float or str
        Stirring speed, in rpm.
    co2_supply : str
        "regulated" (inlet open to the regulator) or "sealed".
    ramp_c_per_min : float or str, optional
        Heating ramp, in degC/min.
    purge_cycles : int
        CO2 fill-and-vent purges before the leak check.
    leak_check_s : float or str
        Leak check hold, in s.
    leak_tolerance_bar : float or str
        Largest pressure drop allowed during the leak check, in bar.
    trace_interval_s : float or str
        Time between trace readings, in s.
    sample : str
        Sample label.
    operator_name : str
        Who ran it.
    md : dict, optional
        Metadata added to the start document.
    """
    (
        zn_fraction,
        catalyst_mass_mg,
        surface_metal_umol,
        epoxide_volume_ml,
        tbab_mg,
        pressure_bar,
        temperature_c,
        hold_s,
        stir_rpm,
        ramp_c_per_min,
        leak_check_s,
        leak_tolerance_bar,
        trace_interval_s,
    ) = si_args(
        zn_fraction=zn_fraction,
        catalyst_mass_mg=catalyst_mass_mg,
        surface_metal_umol=surface_metal_umol,
        epoxide_volume_ml=epoxide_volume_ml,
        tbab_mg=tbab_mg,
        pressure_bar=pressure_bar,
        temperature_c=temperature_c,
        hold_s=hold_s,
        stir_rpm=stir_rpm,
        ramp_c_per_min=ramp_c_per_min,
        leak_check_s=leak_check_s,
        leak_tolerance_bar=leak_tolerance_bar,
        trace_interval_s=trace_interval_s,
    )
    checks = check_cycloaddition(
        reactor,
        catalyst_mass_mg=catalyst_mass_mg,
        surface_metal_umol=surface_metal_umol,
        epoxide_volume_ml=epoxide_volume_ml,
        pressure_bar=pressure_bar,
        temperature_c=temperature_c,
        hold_s=hold_s,
        stir_rpm=stir_rpm,
        ramp_c_per_min=ramp_c_per_min,
        tbab_mg=tbab_mg,
        purge_cycles=purge_cycles,
        leak_check_s=leak_check_s,
        leak_tolerance_bar=leak_tolerance_bar,
        trace_interval_s=trace_interval_s,
        co2_supply=co2_supply,
        catalyst=catalyst,
        zn_fraction=zn_fraction,
    )
    catalyst_name = catalyst if zn_fraction is None else zn_catalyst_name(zn_fraction)
    epoxide_mmol = po_mmol(epoxide_volume_ml)
    heat_s = abs(temperature_c - 25.0) / reactor.max_heating_rate_c_per_min * 60 + reactor.settle_dwell_s
    planned = leak_check_s + 2 * heat_s + hold_s + 1800.0
    _md: dict[str, Any] = {
        "plan_name": "co2_cycloaddition",
        "experiment": "co2-cycloaddition",
        "plan_args": {
            "catalyst": catalyst,
            "zn_fraction": zn_fraction,
            "catalyst_mass_mg": catalyst_mass_mg,
            "surface_metal_umol": surface_metal_umol,
            "epoxide_volume_ml": epoxide_volume_ml,
            "tbab_mg": tbab_mg,
            "pressure_bar": pressure_bar,
            "temperature_c": temperature_c,
            "hold_s": hold_s,
            "stir_rpm": stir_rpm,
            "co2_supply": co2_supply,
            "ramp_c_per_min": ramp_c_per_min,
            "purge_cycles": purge_cycles,
            "leak_check_s": leak_check_s,
            "leak_tolerance_bar": leak_tolerance_bar,
            "trace_interval_s": trace_interval_s,
        },
        "detectors": [reactor.name, clock.name],
        "hints": {"dimensions": [([clock.elapsed.name], "primary")]},
        "catalyst": catalyst_name,
        "zn_fraction": zn_fraction,
        "catalyst_mass_mg": catalyst_mass_mg,
        "surface_metal_umol": surface_metal_umol,
        "epoxide": "propylene oxide",
        "epoxide_mmol": epoxide_mmol,
        "tbab_mg": tbab_mg,
        "pressure_bar": pressure_bar,
        "temperature_c": temperature_c,
        "hold_s": hold_s,
        "expected_pressure_bar": round(pressure_at_temperature_bar(pressure_bar, temperature_c), 2),
        "co2_supply": co2_supply,
        "headspace_ml": reactor.vessel_volume_ml - epoxide_volume_ml,
        "sample": sample,
        "operator": operator_name,
        "planned_duration_s": planned,
        "checks": checks,
    }
    _md.update(md or {})
    trace = [reactor, clock]

    def record_until_done(status: Any) -> MsgGen:
        while not status.done:
            yield from bps.trigger_and_read(trace)
            yield from bps.sleep(trace_interval_s)

    @bpp.run_decorator(md=_md)
    def inner() -> MsgGen:
        yield from bps.mv(clock, 0.0)
        yield from load_step(
            operator,
            "parr",
            f"Load {catalyst_mass_mg:g} mg {catalyst_name}, {epoxide_volume_ml:g} "
            f"mL propylene oxide and {tbab_mg:g} mg TBAB; seal the vessel",
            catalyst=catalyst_name,
            zn_fraction=zn_fraction,
            catalyst_mass_mg=catalyst_mass_mg,
            epoxide_volume_ml=epoxide_volume_ml,
            tbab_mg=tbab_mg,
        )
        yield from bps.trigger_and_read(trace)
        # leak check by pressure hold
        yield from charge_gas(reactor, operator, clock, pressure_bar, purge_cycles)
        p0 = yield from bps.rd(reactor.pressure)
        yield from bps.trigger_and_read(trace, name="leak_check")
        yield from bps.sleep(leak_check_s)
        p1 = yield from bps.rd(reactor.pressure)
        yield from bps.trigger_and_read(trace, name="leak_check")
        if p0 - p1 > leak_tolerance_bar:
            raise LeakCheckError(
                f"{reactor.name}: lost {p0 - p1:.3f} bar in {leak_check_s / 60:g} min (limit "
                f"{leak_tolerance_bar:g} bar): the vessel leaks; check the gasket and fittings before heating"
            )
        # heat, recording the trace; a regulated supply stays open from here to the end of the hold
        if co2_supply == "regulated":
            yield from bps.mv(reactor.gas_inlet, True)
        yield from bps.mv(reactor.stirrer, stir_rpm)
        if ramp_c_per_min is not None:
            yield from bps.mv(reactor.ramp, ramp_c_per_min)
        yield from bps.mv(reactor.heater, True)
        status = yield from bps.abs_set(reactor.temperature, temperature_c, group="heat")
        yield from record_until_done(status)
        yield from bps.wait(group="heat")
        # hold at temperature with the pressure watch armed
        yield from bps.mv(reactor.pressure_watch, True)
        t_hold = yield from bps.rd(clock.elapsed)
        yield from bps.trigger_and_read(trace, name="hold_start")
        # a counted loop to times on the bench clock: a loop that slept the hold's remainder could
        # be left a remainder shorter than the clock's resolution, which no sleep moves
        for k in range(math.ceil(hold_s / trace_interval_s)):
            yield from sleep_until(clock, t_hold + k * trace_interval_s)
            yield from bps.trigger_and_read(trace)
        yield from sleep_until(clock, t_hold + hold_s)
        yield from bps.trigger_and_read(trace, name="hold_end")
        yield from bps.mv(reactor.pressure_watch, False)
        if co2_supply == "regulated":
            yield from bps.mv(reactor.gas_inlet, False)
        # cool (heater off first), then vent only when cold
        yield from bps.mv(reactor.heater, False)
        yield from bps.abs_set(reactor.temperature.setpoint, 20.0, wait=True)
        yield from bps.mv(operator, HandStep("ice_bath", "Put the vessel in an ice bath"))
        while True:
            t = yield from bps.rd(reactor.temperature.readback)
            if t < reactor.safe_vent_temperature_c:
                break
            yield from bps.trigger_and_read(trace)
            yield from bps.sleep(trace_interval_s)
        yield from bps.trigger_and_read(trace, name="cold")
        yield from vent_gas(reactor, operator, clock)
        yield from bps.mv(operator, HandStep("sample", "Open the vessel and take 30-50 µL for 1H NMR"))
        yield from bps.trigger_and_read([nmr, clock], name="nmr")

    return (yield from bpp.finalize_wrapper(inner(), reactor_safe(reactor)))


def recycle(
    reactor: ParrReactor,
    operator: Operator,
    nmr: EnteredReading,
    clock: BenchClock,
    *,
    cycles: int,
    md: dict[str, Any] | None = None,
    **run_kwargs: Any,
) -> MsgGen:
    """``cycles`` cycloaddition runs on one catalyst, recovered between runs; runs share a campaign id.

    Parameters
    ----------
    reactor : ParrReactor
        The Parr pressure reactor.
    operator : Operator
        The person at the bench: loads the first cycle, recovers the catalyst between cycles.
    nmr : EnteredReading
        The PO conversion from 1H NMR, in %.
    clock : BenchClock
        The bench clock.
    cycles : int
        Runs on the one catalyst (1-50).
    md : dict, optional
        Metadata added to each run's start document.
    **run_kwargs
        Keyword arguments of each :func:`co2_cycloaddition` run (catalyst, catalyst_mass_mg, hold_s ...).
    """
    if not 1 <= cycles <= 50:
        raise PlanArgumentError(f"cycles={cycles} must be between 1 and 50")
    # each cycle validates its arguments before its first message; the first cycle's check
    # therefore runs before anything moves
    campaign = str(uuid.uuid4())
    uids = []
    for cycle in range(1, cycles + 1):
        if cycle > 1:
            yield from bps.mv(
                operator,
                HandStep(
                    "recover",
                    "Recover the catalyst: centrifuge 8,000 rpm 6-8 min, wash "
                    "twice with methanol, vacuum dry; reload with fresh epoxide and TBAB",
                ),
            )
        cycle_md = {"campaign_id": campaign, "cycle": cycle, "cycles": cycles, "plan_name": "recycle"}
        cycle_md.update(md or {})
        uid = yield from co2_cycloaddition(reactor, operator, nmr, clock, md=cycle_md, **run_kwargs)
        uids.append(uid)
    return uids
