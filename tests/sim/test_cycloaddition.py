"""Tests of the CO2 cycloaddition kinetic model: calibration to the paper, trends, kinetics, noise, recycling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.analysis.cycloaddition import cycloaddition_figures, po_mmol, recycling_summary
from labctl.sim.physics.cycloaddition import (
    BEST_CATALYST,
    CATALYSTS,
    GAS_CONSTANT_J_PER_MOL_K,
    CycloadditionReaction,
    cluster_molar_mass,
    find_catalyst,
    surface_metal_umol_per_mg,
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
