"""Experiment parameters as users give them (``-p name=value``): checked before anything moves.

Each value must be finite, within a plausible range for what it is (the range is in the message),
and within the bench's limits; names are known and given once.
"""

from __future__ import annotations

import math

import pytest

from labctl.clock import parse_speed
from labctl.experiments import EXPERIMENTS, ParameterError, get_experiment, parse_params
from labctl.plans.stubs import PlanArgumentError

H2 = get_experiment("h2-evolution")
CO2 = get_experiment("co2-photoreduction")
CYCLO = get_experiment("co2-cycloaddition")
RECYCLE = get_experiment("recycle")
PHOTOSTABILITY = get_experiment("photostability")
CALIBRATION = get_experiment("gc-calibration")


# -- 1, 11: durations are finite and plausible -----------------------------------------------------
@pytest.mark.parametrize(
    ("exp", "given", "match"),
    [
        (H2, {"duration": "inf h"}, r"duration='inf h' must be finite; give a value between 1 min and 30 d, "),
        (H2, {"duration": "nan h"}, r"duration='nan h' must be finite"),
        (CYCLO, {"hold": "inf h"}, r"hold='inf h' must be finite; give a value between 1 min and 30 d"),
        (H2, {"duration": "1000d"}, r"duration='1000d' is outside the plausible range 1 min to 30 d; give a value"),
        (CO2, {"duration": "1000d"}, r"duration='1000d' is outside the plausible range 1 min to 30 d"),
        (CYCLO, {"hold": "1000d"}, r"hold='1000d' is outside the plausible range 1 min to 30 d"),
        (PHOTOSTABILITY, {"duration": "30d"}, r"duration='30d' is outside the plausible range 1 min to 7 d"),
        (H2, {"catalyst_mass": "1e400 mg"}, r"catalyst_mass='1e400 mg' must be finite"),
    ],
)
def test_non_finite_and_implausible_durations_are_refused(exp, given, match):
    with pytest.raises(ParameterError, match=match):
        exp.resolve(given)


def test_the_refusal_gives_an_example_of_a_good_value():
    with pytest.raises(ParameterError, match=r"e\.g\. duration=4h$"):
        H2.resolve({"duration": "inf h"})


# -- 2: intervals ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exp", "given", "match"),
    [
        (CYCLO, {"trace_interval": "0s"}, r"trace_interval='0s' is outside the plausible range 1 s to 1 h"),
        (CYCLO, {"trace_interval": "-1s"}, r"trace_interval='-1s' is outside the plausible range 1 s to 1 h"),
        (H2, {"sample_interval": "0s"}, r"sample_interval='0s' is outside the plausible range 1 min to 1 d"),
        (PHOTOSTABILITY, {"interval": "0s"}, r"interval='0s' is outside the plausible range 1 s to 1 d"),
        (PHOTOSTABILITY, {"spectrum_interval": "0s"}, r"spectrum_interval='0s' is outside the plausible range"),
    ],
)
def test_intervals_must_be_at_least_a_sensible_minimum(exp, given, match):
    with pytest.raises(ParameterError, match=match):
        exp.resolve(given)


def test_a_trace_interval_longer_than_the_hold_is_refused_in_the_check(dry_session):
    with pytest.raises(
        PlanArgumentError, match=r"trace_interval=3000 s \(50 min\) is longer than hold=1800 s; give trace_interval"
    ):
        CYCLO.check(dry_session.bench, CYCLO.resolve({"hold": "30min", "trace_interval": "50min"}))


# -- 3: counts and amounts ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exp", "given", "match"),
    [
        (CYCLO, {"purge_cycles": "-1"}, r"purge_cycles='-1' is outside 0-20; give a whole number between 0 and 20"),
        (CYCLO, {"purge_cycles": "1000"}, r"purge_cycles='1000' is outside 0-20"),
        (CYCLO, {"tbab": "-100mg"}, r"tbab='-100mg' is outside the plausible range 0 mg to 5 g"),
        (CYCLO, {"catalyst_mass": "-4mg"}, r"catalyst_mass='-4mg' is outside the plausible range 0.01 mg to 5 g"),
        (CYCLO, {"epoxide_volume": "-3mL"}, r"epoxide_volume='-3mL' is outside the plausible range 0.1 mL to 50 mL"),
        (RECYCLE, {"cycles": "0"}, r"cycles='0' is outside 1-50"),
        (H2, {"dark_samples": "-1"}, r"dark_samples='-1' is outside 0-50"),
        (H2, {"catalyst_mass": "50kg"}, r"catalyst_mass='50kg' is outside the plausible range 0.1 mg to 10 g"),
        (CALIBRATION, {"replicates": "0"}, r"replicates='0' is outside 1-10"),
        (CALIBRATION, {"amounts": "1,2,-5umol"}, r"amounts='-5umol' is outside the plausible range"),
        (CALIBRATION, {"amounts": "1,2,nan umol"}, r"amounts='nan umol' must be finite"),
        (CALIBRATION, {"min_r2": "nan"}, r"min_r2='nan' must be a finite number"),
        (CALIBRATION, {"min_r2": "2"}, r"min_r2='2' is outside 0.9-1"),
        (CALIBRATION, {"standard": "inf%"}, r"standard='inf%' must be a finite fraction"),
        (CALIBRATION, {"standard": "150%"}, r"standard='150%' is outside 0-1"),
        (PHOTOSTABILITY, {"stop_below": "nan"}, r"stop_below='nan' must be a finite fraction"),
    ],
)
def test_counts_masses_and_volumes_are_plausible(exp, given, match):
    with pytest.raises(ParameterError, match=match):
        exp.resolve(given)


def test_plan_checks_refuse_negative_counts_and_amounts_when_called_directly(dry_session):
    from labctl.plans.co2_cycloaddition import co2_cycloaddition

    d = dry_session.bench.devices
    devices = (d["parr"], d["operator"], d["nmr"], d["clock"])
    base = dict(catalyst="SS", catalyst_mass_mg=4.5, surface_metal_umol=21.0, hold_s=3600)
    for kw, match in (
        ({"purge_cycles": -1}, r"purge_cycles=-1 must be between 0 and 20"),
        ({"tbab_mg": -100}, r"tbab_mg=-100 mg must be between 0 and 5000 mg"),
        ({"trace_interval_s": 0}, r"trace_interval_s=0 s must be at least 1 s"),
        ({"leak_check_s": math.inf}, r"leak_check_s=inf s must be a finite number"),
        ({"hold_s": math.nan}, r"hold_s=nan s must be a finite number"),
        ({"tbab_mg": "-100 mg"}, r"tbab_mg=-100 mg must be between 0 and 5000 mg"),
        ({"hold_s": "ten minutes"}, r"hold_s='ten minutes'"),
    ):
        with pytest.raises(PlanArgumentError, match=match):
            next(co2_cycloaddition(*devices, **{**base, **kw}))


# -- 5: an LED current on an arc-lamp bench ------------------------------------------------------------
def test_an_led_current_on_an_arc_lamp_bench_is_refused(dry_session):
    with pytest.raises(ParameterError, match=r"led_current='25A' is outside the plausible range 1 mA to 10 A"):
        H2.resolve({"led_current": "25A"})  # above any LED driver here (a DC2200 gives 10 A)
    with pytest.raises(
        ParameterError, match=r"led_current=5 A is an LED drive current, but bench 'sim' is lit by an arc"
    ):
        H2.check(dry_session.bench, H2.resolve({"led_current": "5A"}))
    with pytest.raises(
        ParameterError, match=r"set the arc lamp's power with lamp_power instead, e\.g\. -p lamp_power="
    ):
        CO2.check(dry_session.bench, CO2.resolve({"led_current": "0.5A"}))


def test_the_h2_plan_refuses_an_led_current_for_an_arc_lamp(dry_session):
    from labctl.plans.h2_evolution import h2_evolution

    d = dry_session.bench.devices
    plan = h2_evolution(
        d["lamp"],
        d["gc"],
        d["reactor"],
        d["operator"],
        d["clock"],
        catalyst_mass_g=0.01,
        led_current_a=25.0,
        duration_s=7200,
    )
    with pytest.raises(PlanArgumentError, match=r"led_current_a=25 A is an LED drive current; lamp is an arc lamp"):
        next(plan)


# -- the sample's make-up: Co2+ doping, donor, pH ----------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"co_doping": "25%"},
            "co_doping='25%' is outside the plausible range 0 % to 20 %; give a value between 0 % and 20 %, "
            "e.g. co_doping=1%",
        ),
        ({"co_doping": "1.5"}, "co_doping='1.5' has no unit; give it with units, e.g. co_doping='1%'"),
        (
            {"donor": "6 mol/L"},
            "donor='6 mol/L' is outside the plausible range 0 mol/L to 5 mol/L; give a value between 0 mol/L and "
            "5 mol/L, e.g. donor=0.5mol/L",
        ),
        ({"donor": "0.5 g"}, "donor='0.5 g' is in g, which cannot be converted to mol/L; give it like '0.5mol/L'"),
        ({"ph": "15"}, "ph='15' is outside 0-14; give a value between 0 and 14, e.g. ph=10.7"),
        ({"ph": "-1"}, "ph='-1' is outside 0-14; give a value between 0 and 14, e.g. ph=10.7"),
        ({"ph": "nan"}, "ph='nan' must be a finite number; give a value between 0 and 14, e.g. ph=10.7"),
    ],
)
def test_bad_sample_conditions_are_refused_with_the_range(given, message):
    with pytest.raises(ParameterError) as refused:
        H2.resolve(given)
    assert str(refused.value) == message


def test_sample_conditions_take_their_units_and_reach_the_plan_check(dry_session):
    kw = H2.resolve({"co_doping": "1.74 mol%", "donor": "700mM", "ph": "9.2"})
    assert (kw["co_doping_percent"], kw["donor_mol_per_l"], kw["ph"]) == pytest.approx((1.74, 0.7, 9.2), rel=1e-12)
    checks = H2.check(dry_session.bench, kw)
    assert {"co_doping 1.74 % in 0-20 %", "donor 0.7 mol/L in 0-5 mol/L", "pH 9.2 in 0-14"} <= set(checks)
    # the plan's own limits hold whoever calls the check
    with pytest.raises(PlanArgumentError, match=r"^ph=14.5 is outside 0-14, the pH scale of a water dispersion"):
        H2.check(dry_session.bench, {**kw, "ph": 14.5})


# -- 6: co2_supply ---------------------------------------------------------------------------------------
def test_an_unknown_co2_supply_is_refused_listing_the_allowed_values():
    with pytest.raises(ParameterError, match=r"co2_supply='bogus' is not one of: regulated, sealed"):
        CYCLO.resolve({"co2_supply": "bogus"})


def test_the_cycloaddition_check_refuses_an_unknown_co2_supply_before_anything_moves(dry_session):
    kwargs = CYCLO.resolve({})
    kwargs["co2_supply"] = "bogus"  # as a caller of the check with plan arguments would pass it
    with pytest.raises(PlanArgumentError, match=r"co2_supply='bogus' must be 'regulated' .* or 'sealed'"):
        CYCLO.check(dry_session.bench, kwargs)


def test_the_cycloaddition_takes_a_zn_fraction_instead_of_a_catalyst_name(dry_session):
    kwargs = CYCLO.resolve({"zn_fraction": "30%"})
    assert kwargs["zn_fraction"] == pytest.approx(0.3) and "catalyst" not in kwargs
    assert "zn_fraction 0.3 in 0-1" in CYCLO.check(dry_session.bench, kwargs)
    assert "catalyst named" in CYCLO.check(dry_session.bench, CYCLO.resolve({}))  # the default catalyst
    with pytest.raises(PlanArgumentError, match=r"catalyst='CdZn-SS' and zn_fraction=0\.3 both name the catalyst"):
        CYCLO.check(dry_session.bench, CYCLO.resolve({"zn_fraction": "0.3", "catalyst": "CdZn-SS"}))
    with pytest.raises(ParameterError, match=r"zn_fraction='1\.5' is outside 0-1; give a value between 0 and 1"):
        CYCLO.resolve({"zn_fraction": "1.5"})


def test_the_cycloaddition_check_refuses_a_charge_over_the_vessel_limit_at_temperature(dry_session):
    with pytest.raises(PlanArgumentError, match=r"gives about 37\.3 bar in parr .* above the vessel limit 30 bar"):
        CYCLO.check(dry_session.bench, CYCLO.resolve({"pressure": "20bar", "temperature": "120degC"}))
    assert any("<= vessel limit 30 bar" in c for c in CYCLO.check(dry_session.bench, CYCLO.resolve({})))


# -- 9: duplicate and unknown names ----------------------------------------------------------------------
def test_a_parameter_given_twice_is_refused():
    with pytest.raises(
        ParameterError, match=r"-p duration is given twice \(duration=4h and duration=5h\); give it once"
    ):
        parse_params(["duration=4h", "catalyst_mass=10mg", "duration=5h"])
    with pytest.raises(ParameterError, match=r"given twice"):
        parse_params(["duration=4h", " duration =4h"])


def test_unknown_parameters_are_refused_listing_the_known_ones():
    with pytest.raises(
        ParameterError, match=r"h2-evolution has no parameter colour; its parameters are: catalyst_mass"
    ):
        H2.resolve({"colour": "blue"})


# -- every parameter has a plausible range ----------------------------------------------------------------
@pytest.mark.parametrize("exp", list(EXPERIMENTS.values()), ids=list(EXPERIMENTS))
def test_every_numeric_parameter_declares_a_plausible_range_and_its_default_is_within_it(exp):
    for p in exp.params:
        if p.unit in (None, "list"):
            continue
        assert p.within is not None, f"{exp.name}: {p.name} has no plausible range"
        if p.default is not None:
            p.convert(p.default)
    exp.resolve({})


def test_string_parameters_with_few_values_list_them():
    supply = next(p for p in CYCLO.params if p.name == "co2_supply")
    from labctl.plans.co2_cycloaddition import CO2_SUPPLIES

    assert supply.choices == CO2_SUPPLIES == ("regulated", "sealed")


# -- 10: --time speed factors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("xnan", r"--time 'xnan' is not a speed factor: it must be a finite number > 0"),
        ("x0", r"--time 'x0' is not a speed factor: it must be a finite number > 0"),
        ("x-1", r"--time 'x-1' is not a speed factor"),
        ("xinf", r"--time 'xinf' is not a speed factor.*use --time virtual to run as fast as possible"),
        ("x1e999", r"--time 'x1e999' is not a speed factor"),
        ("fast", r"--time 'fast' is not understood; use 'virtual', 'real' or a speed factor like 'x60'"),
    ],
)
def test_bad_speed_factors_are_refused_with_a_clear_message(text, match):
    with pytest.raises(ValueError, match=match):
        parse_speed(text)


@pytest.mark.parametrize(("text", "speed"), [("virtual", math.inf), ("real", 1.0), ("x60", 60.0), ("60", 60.0)])
def test_good_speed_factors(text, speed):
    assert parse_speed(text) == speed


def test_a_name_listed_twice_in_a_list_parameter_is_refused():
    with pytest.raises(ParameterError, match=r"gas='H2,CO,H2' lists H2 twice; give each once, e\.g\. gas=H2"):
        CALIBRATION.resolve({"gas": "H2,CO,H2"})
    assert CALIBRATION.resolve({"gas": "H2, CO"})["gases"] == ["H2", "CO"]
