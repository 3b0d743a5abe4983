"""Tests of the CO2 cycloaddition kinetic model: calibration to the paper, trends, kinetics, noise, recycling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.analysis.cycloaddition import cycloaddition_figures, po_mmol, recycling_summary
from labctl.chemistry import pressure_at_temperature_bar
from labctl.sim.physics.cycloaddition import (
    BEST_CATALYST,
    CATALYSTS,
    GAS_CONSTANT_J_PER_MOL_K,
    PAPER_CONDITIONS,
    RELATIVE_ACTIVITY,
    CycloadditionReaction,
    cluster_molar_mass,
    cycloaddition_optimum,
    deactivation_rate_per_s,
    expected_conversion,
    expected_ton,
    find_catalyst,
    relative_activity,
    suprastructure_catalyst,
    surface_metal_umol_per_mg,
    tbab_factor,
    vessel_refuses,
)

HOUR = 3600.0
T70 = 343.15
T60 = 333.15
P_CO2 = 3e5  # Pa, 3 bar
RPM = 800.0
HOLD_S = 6 * HOUR


def run(spec=BEST_CATALYST, mass_mg: float = 4.5, hold_s: float = HOLD_S, **kwargs) -> CycloadditionReaction:
    """A batch run at the paper's conditions, advanced in 1-minute steps."""
    reaction = CycloadditionReaction(spec, mass_mg, **kwargs)
    steps = round(hold_s / 60.0)
    for _ in range(steps):
        reaction.advance(hold_s / steps, T70, P_CO2, RPM)
    return reaction


def test_calibration_reproduces_paper_ton_and_tof() -> None:
    reaction = run(epoxide_mmol=po_mmol(3.0), tbab_mg=100.0, rng_seed=0)
    figures = cycloaddition_figures(
        conversion=reaction.nmr_conversion(),
        epoxide_mmol=reaction.epoxide_mmol,
        surface_metal_umol=reaction.icp_surface_metal_umol(),
        hold_s=HOLD_S,
    )
    assert figures.ton == pytest.approx(17_964, rel=0.05)
    assert figures.tof == pytest.approx(2_994, rel=0.05)


def test_calibration_noise_free_is_close() -> None:
    reaction = run()
    figures = cycloaddition_figures(
        conversion=reaction.conversion,
        epoxide_mmol=reaction.epoxide_mmol,
        surface_metal_umol=reaction.surface_metal_mmol * 1000.0,
        hold_s=HOLD_S,
    )
    assert figures.ton == pytest.approx(17_964, rel=0.01)
    assert figures.tof == pytest.approx(2_994, rel=0.01)


def test_calibration_holds_for_several_seeds() -> None:
    tons = []
    for seed in range(20):
        reaction = run(rng_seed=seed)
        tons.append(
            cycloaddition_figures(
                conversion=reaction.nmr_conversion(),
                epoxide_mmol=reaction.epoxide_mmol,
                surface_metal_umol=reaction.icp_surface_metal_umol(),
                hold_s=HOLD_S,
            ).ton
        )
    assert np.mean(tons) == pytest.approx(17_964, rel=0.02)


def test_surface_metal_from_formula() -> None:
    molar_mass = cluster_molar_mass(0.5, 4 * 12.011 + 12 * 1.008 + 2 * 14.007, 6.5)
    assert 2700 < molar_mass < 2780
    assert BEST_CATALYST.surface_metal_umol_per_mg == pytest.approx(13_000 / molar_mass)
    assert surface_metal_umol_per_mg(molar_mass) == pytest.approx(BEST_CATALYST.surface_metal_umol_per_mg)
    # lighter Zn gives more clusters per mg
    assert CATALYSTS["Mn:(ZnSe)13 SS"].surface_metal_umol_per_mg > CATALYSTS["Mn:(CdSe)13 SS"].surface_metal_umol_per_mg


def test_screening_50_mg_gives_nearly_full_conversion() -> None:
    assert run(mass_mg=50.0).conversion > 0.95


def test_rate_scales_with_catalyst_mass() -> None:
    small = CycloadditionReaction(BEST_CATALYST, 5.0)
    large = CycloadditionReaction(BEST_CATALYST, 50.0)
    ratio = large.rate_constant_per_s(T70, P_CO2, RPM) / small.rate_constant_per_s(T70, P_CO2, RPM)
    assert ratio == pytest.approx(10.0)


def ton_at_ton_run(name: str) -> float:
    reaction = run(find_catalyst(name))
    return cycloaddition_figures(
        conversion=reaction.conversion,
        epoxide_mmol=reaction.epoxide_mmol,
        surface_metal_umol=reaction.surface_metal_mmol * 1000.0,
        hold_s=HOLD_S,
    ).ton


def test_composition_ordering() -> None:
    ton = {x: ton_at_ton_run(f"x={x}") for x in (0.0, 0.25, 0.5, 0.75, 1.0)}
    assert ton[0.0] < ton[0.25] < ton[0.5]
    assert ton[0.75] < ton[0.5]
    assert ton[1.0] < ton[0.5]
    assert ton[1.0] > ton[0.0]  # Zn SS beats Cd SS
    assert ton_at_ton_run("Cd-MSC") < ton[0.0]
    # the same order in conversion at equal mass
    conversion = {x: run(find_catalyst(f"x={x}")).conversion for x in (0.0, 0.25, 0.5, 0.75, 1.0)}
    assert max(conversion, key=conversion.__getitem__) == 0.5
    assert conversion[0.0] < conversion[0.25] < conversion[0.5]
    assert conversion[1.0] > conversion[0.0]


def test_find_catalyst_names_and_aliases() -> None:
    for name in ("Mn:(Cd0.5Zn0.5Se)13 SS", "CdZn-SS", "x=0.5", "x = 0.50", "mn2+:(cd0.5zn0.5se)13(bda) ss"):
        assert find_catalyst(name) is BEST_CATALYST
    assert find_catalyst("Cd-SS").zn_fraction == 0.0
    assert find_catalyst("x=0").suprastructure
    assert not find_catalyst("Mn:(CdSe)13 MSC").suprastructure
    assert find_catalyst("Zn-SS").zn_fraction == 1.0
    with pytest.raises(ValueError, match=r"unknown catalyst 'Pt/C'.*Mn:\(Cd0\.5Zn0\.5Se\)13 SS"):
        find_catalyst("Pt/C")


def test_arrhenius() -> None:
    reaction = CycloadditionReaction(BEST_CATALYST, 4.5)
    k70 = reaction.rate_constant_per_s(T70, P_CO2, RPM)
    k60 = reaction.rate_constant_per_s(T60, P_CO2, RPM)
    ea = BEST_CATALYST.activation_energy_j_per_mol
    assert 50_000 <= ea <= 70_000
    assert k70 / k60 == pytest.approx(math.exp(ea / GAS_CONSTANT_J_PER_MOL_K * (1 / T60 - 1 / T70)))
    # and over a run: -ln(1 - X) scales with k
    hot, cold = CycloadditionReaction(BEST_CATALYST, 4.5), CycloadditionReaction(BEST_CATALYST, 4.5)
    hot.advance(HOUR, T70, P_CO2, RPM)
    cold.advance(HOUR, T60, P_CO2, RPM)
    assert math.log(1 - hot.conversion) / math.log(1 - cold.conversion) == pytest.approx(k70 / k60)


def test_first_order_kinetics() -> None:
    reaction = CycloadditionReaction(BEST_CATALYST, 4.5)
    times, lns = [], []
    for i in range(1, 13):
        reaction.advance(0.5 * HOUR, T70, P_CO2, RPM)
        times.append(i * 0.5 * HOUR)
        lns.append(math.log(1.0 - reaction.conversion))
    slope, intercept = np.polyfit(times, lns, 1)
    assert intercept == pytest.approx(0.0, abs=1e-9)
    assert -slope == pytest.approx(reaction.rate_constant_per_s(T70, P_CO2, RPM), rel=1e-9)
    assert np.allclose(np.polyval([slope, intercept], times), lns, atol=1e-9)


def test_step_size_does_not_matter() -> None:
    one = CycloadditionReaction(BEST_CATALYST, 4.5)
    one.advance(HOLD_S, T70, P_CO2, RPM)
    many = run()
    assert many.conversion == pytest.approx(one.conversion, rel=1e-12)


def test_co2_consumed_equals_po_converted() -> None:
    reaction = CycloadditionReaction(BEST_CATALYST, 4.5)
    consumed = sum(reaction.advance(600.0, T70, P_CO2, RPM) for _ in range(36))
    assert consumed == pytest.approx(reaction.po_converted_mmol)
    assert reaction.co2_consumed_mmol == pytest.approx(reaction.po_converted_mmol)
    assert reaction.po_converted_mmol == pytest.approx(reaction.conversion * reaction.epoxide_mmol)


def test_co2_pressure_tbab_and_stirring() -> None:
    reaction = CycloadditionReaction(BEST_CATALYST, 4.5)
    k = reaction.rate_constant_per_s(T70, P_CO2, RPM)
    assert reaction.rate_constant_per_s(T70, 1e5, RPM) < k < reaction.rate_constant_per_s(T70, 1e6, RPM)
    assert reaction.rate_constant_per_s(T70, 0.0, RPM) == 0.0
    assert reaction.rate_constant_per_s(T70, P_CO2, 50.0) < k
    assert reaction.rate_constant_per_s(T70, P_CO2, 100.0) == pytest.approx(k)
    no_tbab = CycloadditionReaction(BEST_CATALYST, 4.5, tbab_mg=0.0)
    assert 0 < no_tbab.rate_constant_per_s(T70, P_CO2, RPM) < 0.05 * k


def test_nmr_noise_is_about_one_percent() -> None:
    reaction = run()
    readings = np.array([reaction.nmr_conversion() for _ in range(4000)])
    assert np.all((readings >= 0) & (readings <= 1))
    assert np.mean(readings) == pytest.approx(reaction.conversion, rel=0.002)
    assert np.std(readings) / reaction.conversion == pytest.approx(0.01, rel=0.1)
    # clipped at full conversion
    full = run(mass_mg=50.0)
    assert max(full.nmr_conversion() for _ in range(200)) <= 1.0


def test_icp_report_noise_and_seed() -> None:
    a, b = CycloadditionReaction(BEST_CATALYST, 4.5, rng_seed=7), CycloadditionReaction(BEST_CATALYST, 4.5, rng_seed=7)
    assert a.icp_surface_metal_umol() == b.icp_surface_metal_umol()
    reports = np.array([a.icp_surface_metal_umol() for _ in range(4000)])
    true = BEST_CATALYST.surface_metal_umol_per_mg * 4.5
    assert np.mean(reports) == pytest.approx(true, rel=0.003)
    assert np.std(reports) / true == pytest.approx(0.02, rel=0.1)


def test_recycling_ten_cycles_at_25_mg() -> None:
    reaction = CycloadditionReaction(BEST_CATALYST, 25.0)
    conversions = []
    for _ in range(10):
        reaction.advance(HOLD_S, T70, P_CO2, RPM)
        conversions.append(reaction.nmr_conversion())
        reaction = reaction.recycle()
    summary = recycling_summary(conversions)
    assert summary["stable"]
    assert abs(summary["drop_points"]) <= 3.0
    assert reaction.catalyst is BEST_CATALYST
    assert reaction.catalyst_mass_mg == pytest.approx(25.0 * (1 - 0.005) ** 10)
    assert reaction.conversion == 0.0


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="catalyst_mass_mg"):
        CycloadditionReaction(BEST_CATALYST, 0.0)
    reaction = CycloadditionReaction(BEST_CATALYST, 4.5)
    with pytest.raises(ValueError, match="dt_s"):
        reaction.advance(-1.0, T70, P_CO2, RPM)
    with pytest.raises(ValueError, match="temperature_k"):
        reaction.advance(1.0, 0.0, P_CO2, RPM)
    with pytest.raises(ValueError, match="loss_fraction"):
        reaction.recycle(1.0)


# -- campaign variables: composition, pressure, TBAB, temperature, mass; expected values; the optimum --------
C0 = 273.15


def test_zn_fraction_is_a_smooth_variable_through_the_presets() -> None:
    for x, r in RELATIVE_ACTIVITY.items():
        assert relative_activity(x) == r
        assert suprastructure_catalyst(x) is find_catalyst(f"x={x}")
    xs = np.linspace(0.0, 1.0, 2001)
    r = np.array([relative_activity(x) for x in xs])
    peak = float(xs[np.argmax(r)])
    assert 0.45 <= peak <= 0.55
    assert np.all(np.diff(r[xs <= 0.5]) > 0)  # rises up to x = 0.5
    assert np.all(np.diff(r[xs >= 0.52]) < 0)  # and falls beyond the peak
    assert np.max(np.abs(np.diff(r, 2))) < 1e-5  # smooth: no kinks at the presets
    # any x is a catalyst, by x= or by its formula, with its own surface metal per mg
    spec = find_catalyst("Mn:(Cd0.7Zn0.3Se)13 SS")
    assert spec is find_catalyst("x=0.3") and spec.zn_fraction == 0.3 and spec.suprastructure
    assert spec.k70_per_s_per_mmol_site == pytest.approx(BEST_CATALYST.k70_per_s_per_mmol_site * relative_activity(0.3))
    assert (
        CATALYSTS["Mn:(CdSe)13 SS"].surface_metal_umol_per_mg
        < spec.surface_metal_umol_per_mg
        < BEST_CATALYST.surface_metal_umol_per_mg
    )
    with pytest.raises(ValueError, match=r"zn_fraction must be within 0\.\.1"):
        suprastructure_catalyst(1.2)


def test_conversion_and_ton_follow_the_papers_composition_trend() -> None:
    conversion = {x: expected_conversion({"zn_fraction": x}) for x in (0.0, 0.25, 0.5, 0.75, 1.0)}
    ton = {x: expected_ton({"zn_fraction": x}) for x in (0.0, 0.25, 0.5, 0.75, 1.0)}
    for figure in (conversion, ton):
        assert figure[0.0] < figure[0.25] < figure[0.5]
        assert figure[0.75] < figure[0.5] and figure[1.0] < figure[0.5]
        assert figure[1.0] > figure[0.0]  # the Zn SS beats the Cd SS
    # the best composition on a fine grid is near x = 0.5
    xs = np.linspace(0.0, 1.0, 101)
    assert 0.45 <= xs[np.argmax([expected_conversion({"zn_fraction": x}) for x in xs])] <= 0.6


def test_rate_saturates_with_co2_pressure() -> None:
    k = [expected_conversion({"pressure_bar": p, "catalyst_mass_mg": 1.0, "hold_s": 3600.0}) for p in range(1, 11)]
    assert np.all(np.diff(k) > 0)
    steps = np.diff(k)
    assert np.all(np.diff(steps) < 0)  # every bar adds less than the one before
    assert steps[-1] < steps[0] / 10  # levelled off by 10 bar


def test_tbab_is_needed_saturates_and_costs_a_little_in_excess() -> None:
    assert tbab_factor(0.0) == pytest.approx(0.02)
    assert tbab_factor(100.0) == pytest.approx(1.0)
    assert tbab_factor(10.0) < 0.5 < tbab_factor(50.0) < tbab_factor(100.0)  # rises ...
    grid = np.linspace(0.0, 2000.0, 4001)
    best = float(grid[np.argmax([tbab_factor(m) for m in grid])])
    assert 150.0 <= best <= 250.0  # ... to an optimum a little above the paper's loading
    assert 1.0 < tbab_factor(best) < 1.1
    assert 0.7 < tbab_factor(1000.0) < tbab_factor(best)  # a small penalty at very high loading
    assert expected_conversion({"tbab_mg": 200.0}) > expected_conversion({}) > expected_conversion({"tbab_mg": 20.0})


def test_temperature_has_an_interior_optimum_from_deactivation() -> None:
    for t in (40.0, 60.0, 70.0, 80.0):
        assert deactivation_rate_per_s(t + C0) == 0.0  # stable where the paper recycled it
    kd = [deactivation_rate_per_s(t + C0) for t in (90.0, 100.0, 110.0, 120.0)]
    assert kd[0] > 0 and np.all(np.diff(kd) > 0)
    assert math.log(2) / kd[1] / HOUR == pytest.approx(4.9, abs=0.2)  # half-life at 100 °C
    temperatures = np.arange(40.0, 120.5, 1.0)
    for hold_h in (6.0, 12.0):
        for figure in (expected_conversion, expected_ton):
            values = [
                figure({"temperature_c": t, "catalyst_mass_mg": 1.0, "hold_s": hold_h * HOUR}) for t in temperatures
            ]
            best = float(temperatures[np.argmax(values)])
            assert 85.0 <= best <= 105.0, (figure.__name__, hold_h, best)
            assert values[-1] < 0.9 * max(values) and values[0] < 0.5 * max(values)


def test_deactivation_is_integrated_exactly_and_stays_with_a_recycled_catalyst() -> None:
    t = 110.0 + C0
    one = CycloadditionReaction(BEST_CATALYST, 4.5)
    one.advance(4 * HOUR, t, P_CO2, RPM)
    many = CycloadditionReaction(BEST_CATALYST, 4.5)
    for _ in range(240):
        many.advance(60.0, t, P_CO2, RPM)
    assert many.conversion == pytest.approx(one.conversion, rel=1e-9)
    assert one.active_fraction == pytest.approx(math.exp(-deactivation_rate_per_s(t) * 4 * HOUR))
    # what a run reaches is bounded: k0 / kd in ln(1 - X)
    k0 = CycloadditionReaction(BEST_CATALYST, 4.5).rate_constant_per_s(t, P_CO2, RPM)
    bound = k0 / deactivation_rate_per_s(t)
    assert -math.log(1 - one.conversion) == pytest.approx(bound * (1 - one.active_fraction), rel=1e-9)
    recycled = one.recycle(0.0)
    assert recycled.activity == pytest.approx(one.active_fraction) and recycled.active_fraction == 1.0
    assert recycled.rate_constant_per_s(T70, P_CO2, RPM) < 0.5 * k0 / 8  # at 70 °C too


def test_ton_falls_and_conversion_saturates_with_catalyst_mass() -> None:
    masses = [1.0, 2.0, 4.5, 10.0, 20.0, 50.0]
    ton = [expected_ton({"catalyst_mass_mg": m}) for m in masses]
    conversion = [expected_conversion({"catalyst_mass_mg": m}) for m in masses]
    assert np.all(np.diff(ton) < 0)
    assert np.all(np.diff(conversion) > 0)
    assert conversion[-1] > 0.999 and ton[-1] < 0.3 * ton[0]
    # longer holds convert more
    holds = [expected_conversion({"hold_s": h * HOUR}) for h in (1, 3, 6, 12)]
    assert np.all(np.diff(holds) > 0)


def test_expected_values_are_the_simulators_reaction_without_noise() -> None:
    # the paper's conditions: the calibration
    assert expected_ton(PAPER_CONDITIONS) == pytest.approx(17_964, rel=0.01)
    assert expected_conversion({}) == pytest.approx(run().conversion, rel=1e-12)
    conditions = {"temperature_c": 95.0, "pressure_bar": 8.0, "tbab_mg": 150.0, "catalyst_mass_mg": 2.0}
    conditions |= {"hold_s": 9 * HOUR, "zn_fraction": 0.4}
    reaction = CycloadditionReaction(suprastructure_catalyst(0.4), 2.0, epoxide_mmol=po_mmol(3.0), tbab_mg=150.0)
    reaction.advance(9 * HOUR, 95.0 + C0, 8e5, 800.0)
    assert expected_conversion(conditions) == pytest.approx(reaction.conversion, rel=1e-12)
    assert expected_ton(conditions) == pytest.approx(
        13 * reaction.po_converted_mmol / reaction.surface_metal_mmol, rel=1e-12
    )
    with pytest.raises(ValueError, match="unknown conditions colour"):
        expected_conversion({"colour": 1.0})


CAMPAIGN_BOX = {
    "temperature_c": (40.0, 120.0),
    "pressure_bar": (1.0, 10.0),
    "tbab_mg": (10.0, 300.0),
    "catalyst_mass_mg": (1.0, 20.0),
    "hold_s": (1 * HOUR, 12 * HOUR),
    "zn_fraction": (0.0, 1.0),
}


def _grid_best(figure, box, levels: int = 4, limit: float = 30.0) -> float:
    axes = [np.linspace(lo, hi, levels) for lo, hi in box.values()]
    best = -math.inf
    for point in np.stack(np.meshgrid(*axes), -1).reshape(-1, len(box)):
        c = dict(zip(box, point, strict=True))
        if not vessel_refuses(c, limit):
            best = max(best, figure(c))
    return best


@pytest.mark.parametrize(("objective", "figure"), [("ton", expected_ton), ("conversion", expected_conversion)])
def test_the_optimum_is_inside_the_box_and_beats_a_grid(objective, figure) -> None:
    best, value = cycloaddition_optimum(objective, CAMPAIGN_BOX)
    for name, (lo, hi) in CAMPAIGN_BOX.items():
        assert lo <= best[name] <= hi
    assert value == pytest.approx(figure(best), rel=1e-12)
    assert value >= _grid_best(figure, CAMPAIGN_BOX) * (1 - 1e-9)
    assert value > figure(PAPER_CONDITIONS)
    if objective == "ton":
        # neither the hottest corner nor the coldest; the least catalyst; a composition near x = 0.5
        assert 85.0 < best["temperature_c"] < 105.0
        assert best["catalyst_mass_mg"] == pytest.approx(1.0, abs=0.01)
        assert 0.4 < best["zn_fraction"] < 0.6
        assert 150.0 < best["tbab_mg"] < 250.0
        assert value > 4 * expected_ton(PAPER_CONDITIONS)
    else:
        assert value > 0.999


def test_the_optimum_skips_what_the_vessel_limit_refuses() -> None:
    box = {"temperature_c": (60.0, 150.0), "pressure_bar": (1.0, 25.0), "catalyst_mass_mg": (1.0, 4.0)}
    fixed = {"hold_s": 1 * HOUR}
    unlimited, _ = cycloaddition_optimum("conversion", box, fixed, max_pressure_bar=1000.0)
    assert vessel_refuses(unlimited)  # hot and at the highest pressure: over 30 bar at temperature
    best, value = cycloaddition_optimum("conversion", box, fixed)
    assert not vessel_refuses(best)
    # the best allowed point presses against the limit
    assert pressure_at_temperature_bar(best["pressure_bar"], best["temperature_c"]) == pytest.approx(30.0, abs=0.1)
    assert best["hold_s"] == HOUR and value >= _grid_best(expected_conversion, box | {"hold_s": (HOUR, HOUR)}, 8)
    with pytest.raises(ValueError, match="vessel limit 30 bar"):
        cycloaddition_optimum("ton", {"temperature_c": (100.0, 150.0)}, {"pressure_bar": 25.0})
    with pytest.raises(ValueError, match="objective='tof' must be 'ton' or 'conversion'"):
        cycloaddition_optimum("tof", CAMPAIGN_BOX)  # type: ignore[arg-type]
