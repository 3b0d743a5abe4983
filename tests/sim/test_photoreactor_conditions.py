"""How the H2 rate answers to the sample and the light: loading, Co2+ doping, donor, pH, light, wavelength.

Also the noise-free rate and optimum the simulator reports for benchmarks, the sample-to-sample
scatter of loaded samples, and that the reference sample still gives the rate it always gave.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from labctl.sim.bench import build_models
from labctl.sim.physics.photoreactor import (
    CDS_TIO2_CU,
    CO_CDSE13_NETWORK,
    CO_CDSE13_RESPONSE,
    REFERENCE_SAMPLE,
    SAMPLE_TO_SAMPLE_RSD,
    XE_420NM_CUTOFF,
    MonochromaticSource,
    Photoreactor,
    SampleConditions,
    Spectrum,
    XenonLamp,
    expected_h2_rate,
    h2_optimum,
)

HOUR = 3600.0
STEADY = dataclasses.replace(CO_CDSE13_NETWORK, batch_variation=0.0)
# the campaign box of the brief: catalyst 1-50 mg, doping 0-5 %, donor 0.05-2 mol/L, pH 6-12, lamp 50-300 W
BOX = {
    "catalyst_mass_g": (0.001, 0.050),
    "co_doping_percent": (0.0, 5.0),
    "donor_mol_per_l": (0.05, 2.0),
    "ph": (6.0, 12.0),
    "lamp_power_w": (50.0, 300.0),
}


def rate(**conditions: float) -> float:
    return expected_h2_rate(conditions)


def argmax(key: str, grid: np.ndarray, **fixed: float) -> float:
    return float(grid[int(np.argmax([rate(**{key: float(x)}, **fixed) for x in grid]))])


class FakeClock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# -- the reference sample ---------------------------------------------------------------------------
def test_the_reference_sample_gives_the_rate_the_model_always_gave() -> None:
    # 0.3 % of the photons 10 mg absorbs (m0 = 20 mg, edge 470 nm in the 420-780 nm band) under 300 W Xe
    photons = XE_420NM_CUTOFF.photon_flux_umol_per_s(300.0) * (50.0 / 360.0) * -math.expm1(-0.5)
    before = 0.003 * photons / 2 * HOUR / 0.010
    assert before == pytest.approx(3330.26, abs=0.01)
    assert expected_h2_rate() == pytest.approx(before, rel=1e-12)
    assert rate(catalyst_mass_g=0.010, co_doping_percent=1.0, donor_mol_per_l=0.5, ph=10.7, lamp_power_w=300.0) == (
        pytest.approx(before, rel=1e-12)
    )
    # and the model integrates the same law
    lamp = XenonLamp(300.0)
    lamp.switch_on(0.0)
    reactor = Photoreactor(FakeClock(), lamp, catalyst=STEADY)
    assert reactor.sample_conditions == REFERENCE_SAMPLE
    assert reactor.initial_rate_umol_per_g_h(300.0) == pytest.approx(before, rel=1e-12)


def test_a_catalyst_without_a_response_ignores_the_sample() -> None:
    base = expected_h2_rate(catalyst=CDS_TIO2_CU)
    odd = expected_h2_rate({"co_doping_percent": 4.0, "donor_mol_per_l": 2.0, "ph": 7.0}, catalyst=CDS_TIO2_CU)
    assert odd == pytest.approx(base, rel=1e-12)
    assert expected_h2_rate({"lamp_power_w": 150.0}, catalyst=CDS_TIO2_CU) == pytest.approx(base / 2, rel=1e-12)


# -- loading ------------------------------------------------------------------------------------------
def test_rate_per_gram_falls_at_high_loading_while_the_total_saturates() -> None:
    masses = [0.001, 0.005, 0.010, 0.020, 0.050, 0.100]
    per_g = [rate(catalyst_mass_g=m) for m in masses]
    assert all(b < a for a, b in itertools.pairwise(per_g))
    assert per_g[-1] < 0.35 * per_g[2]  # 100 mg: a third of the per-gram rate of 10 mg
    total = {m: rate(catalyst_mass_g=m) * m for m in (0.010, 0.050, 0.100, 0.200, 0.400)}  # umol/h
    assert total[0.050] > 2 * total[0.010]
    # saturated: four times the catalyst above 100 mg gives no more H2 (backscatter takes a little)
    assert total[0.400] == pytest.approx(total[0.100], rel=0.03)
    assert total[0.400] <= total[0.100]


def test_backscatter_is_what_stops_the_total_from_growing_past_saturation() -> None:
    no_scatter = dataclasses.replace(
        CO_CDSE13_NETWORK, response=dataclasses.replace(CO_CDSE13_RESPONSE, backscatter_max=0.0)
    )

    def total(m: float, spec=CO_CDSE13_NETWORK) -> float:
        return expected_h2_rate({"catalyst_mass_g": m}, catalyst=spec) * m

    # without backscatter, recombination relieved by spreading the light still adds H2 at high loading
    assert total(0.400, no_scatter) > 1.05 * total(0.100, no_scatter)
    assert total(0.400) < total(0.100)


# -- Co2+ doping --------------------------------------------------------------------------------------
def test_doping_has_one_optimum_inside_the_box_at_1_74_percent() -> None:
    grid = np.linspace(0.0, 5.0, 501)
    rates = np.array([rate(co_doping_percent=float(d)) for d in grid])
    best = int(np.argmax(rates))
    assert grid[best] == pytest.approx(1.74, abs=0.011)
    # one optimum: rising before it, falling after it
    assert np.all(np.diff(rates[: best + 1]) > 0) and np.all(np.diff(rates[best:]) < 0)
    # too little: poor charge separation; too much: recombination centres
    assert rates[0] == pytest.approx(0.46 * rates[best], rel=0.01)
    assert rate(co_doping_percent=5.0) == pytest.approx(0.56 * rates[best], rel=0.01)
    assert rate(co_doping_percent=10.0) < 0.12 * rates[best]
    assert rate(co_doping_percent=1.0) == pytest.approx(0.929 * rates[best], rel=0.001)


# -- donor --------------------------------------------------------------------------------------------
def test_donor_saturates_then_inner_filters() -> None:
    assert rate(donor_mol_per_l=0.0) == 0.0  # no donor, no H2
    # Langmuir: proportional to the donor while it is scarce
    assert rate(donor_mol_per_l=0.002) / rate(donor_mol_per_l=0.001) == pytest.approx(2.0, rel=0.01)
    grid = np.linspace(0.05, 2.0, 391)
    best = argmax("donor_mol_per_l", grid)
    assert 0.5 < best < 1.0
    assert rate(donor_mol_per_l=2.0) < 0.85 * rate(donor_mol_per_l=best)
    assert rate(donor_mol_per_l=5.0) < 0.35 * rate(donor_mol_per_l=best)
    # without the inner filter the donor only saturates: no optimum, a plateau
    clear = dataclasses.replace(
        CO_CDSE13_NETWORK, response=dataclasses.replace(CO_CDSE13_RESPONSE, donor_inner_filter_mol_per_l=1e9)
    )
    plateau = [expected_h2_rate({"donor_mol_per_l": c}, catalyst=clear) for c in (0.5, 1.0, 2.0, 5.0)]
    assert all(b > a for a, b in itertools.pairwise(plateau))
    assert plateau[-1] == pytest.approx(plateau[-2], rel=0.05)


# -- pH -----------------------------------------------------------------------------------------------
def test_ph_has_one_smooth_optimum_set_by_the_donor() -> None:
    grid = np.linspace(6.0, 12.0, 601)
    rates = np.array([rate(ph=float(p)) for p in grid])
    best = int(np.argmax(rates))
    assert 8.5 < grid[best] < 10.0
    assert np.all(np.diff(rates[: best + 1]) > 0) and np.all(np.diff(rates[best:]) < 0)
    # smooth: no step between neighbouring points of a 0.01 grid
    assert np.max(np.abs(np.diff(rates))) < 0.01 * rates[best]
    # protonated amine below the pKa, no protons at high pH
    assert rates[0] < 0.1 * rates[best] and rates[-1] < 0.2 * rates[best]
    # only the unprotonated donor counts: the more donor, the less the pH must deprotonate it
    scarce = argmax("ph", grid, donor_mol_per_l=0.1)
    plenty = argmax("ph", grid, donor_mol_per_l=2.0)
    assert scarce > plenty + 0.3


def test_donor_protonation_follows_the_teoa_pka() -> None:
    at_pka = CO_CDSE13_RESPONSE.donor_coverage(1.0, 7.76)
    assert at_pka == pytest.approx(CO_CDSE13_RESPONSE.donor_coverage(0.5, 14.0), rel=1e-3)


# -- light --------------------------------------------------------------------------------------------
def log_slope(**conditions: float) -> float:
    p = conditions.pop("lamp_power_w")
    return math.log(rate(lamp_power_w=1.01 * p, **conditions) / rate(lamp_power_w=p, **conditions)) / math.log(1.01)


def test_rate_is_linear_at_low_flux_and_goes_as_the_square_root_at_high_flux() -> None:
    assert log_slope(lamp_power_w=0.5) > 0.99
    assert 0.5 < log_slope(lamp_power_w=300.0) < 0.8
    assert log_slope(lamp_power_w=1e6) == pytest.approx(0.5, abs=0.01)
    # in the bench lamp's range, doubling the power gives well under double the rate
    assert rate(lamp_power_w=300.0) / rate(lamp_power_w=150.0) == pytest.approx(1.64, abs=0.01)
    # the crossover is in absorbed photons per gram: at G_c the useful fraction is (sqrt(5) - 1) / 2
    crossover = CO_CDSE13_RESPONSE.recombination_crossover_umol_per_g_s
    assert CO_CDSE13_RESPONSE.light_efficiency(crossover) == pytest.approx((math.sqrt(5) - 1) / 2)
    assert CO_CDSE13_RESPONSE.light_efficiency(0.0) == 1.0


# -- wavelength -----------------------------------------------------------------------------------------
def test_monochromatic_rate_is_flat_per_photon_below_the_edge_and_zero_above_it() -> None:
    def led(nm: float, photons_umol_per_s: float = 1.0) -> float:
        watts = photons_umol_per_s * 1e-6 * 6.62607015e-34 * 299_792_458.0 * 6.02214076e23 / (nm * 1e-9)
        return rate(wavelength_nm=nm, light_power_w=watts)

    assert led(400.0) == pytest.approx(led(440.0), rel=1e-12)
    assert led(460.0) == pytest.approx(led(440.0), rel=1e-12)
    across = [led(nm) for nm in np.arange(460.0, 481.0, 1.0)]
    assert all(b < a for a, b in itertools.pairwise(across[:-1]))
    assert led(470.0) == pytest.approx(0.5 * led(440.0), rel=0.1)  # half absorbed at the edge (less recombination)
    assert led(480.0) == 0.0 and led(520.0) == 0.0


def test_a_smooth_edge_absorbs_as_the_sharp_one_over_the_lamp_band() -> None:
    assert XE_420NM_CUTOFF.fraction_below(470.0, 20.0) == pytest.approx(50.0 / 360.0, rel=1e-12)
    assert Spectrum.monochromatic(470.0).fraction_below(470.0, 20.0) == pytest.approx(0.5)
    assert Spectrum.monochromatic(459.0).fraction_below(470.0, 20.0) == 1.0
    assert Spectrum.monochromatic(481.0).fraction_below(470.0, 20.0) == 0.0
    # a band ending inside the step: the integral of the cubic step
    band = Spectrum(1.0, (460.0, 470.0), 465.0)
    assert band.fraction_below(470.0, 20.0) == pytest.approx(1 - (0.5**3 - 0.5**4 / 2) * 20 / 10, rel=1e-12)


def test_the_led_bench_model_answers_to_its_heads_wavelength(tmp_path: Path) -> None:
    async def initial_rate(nm: float) -> float:
        _, model, _ = build_models(
            export_dir=tmp_path,
            headspace_volume_ml=20.0,
            temperature_k=298.15,
            loop_volume_ml=0.1,
            loop_temperature_k=298.15,
            loop_pressure_pa=101325.0,
            gc_run_time_s=420.0,
            catalyst=CO_CDSE13_NETWORK.name,
            light="dc2200",
            led_wavelength_nm=nm,
        )
        return model.initial_rate_umol_per_g_h(0.4) / model.activity_factor

    for nm in (420.0, 465.0, 475.0, 500.0):
        got = asyncio.run(initial_rate(nm))
        assert got == pytest.approx(rate(wavelength_nm=nm, light_power_w=0.4), rel=1e-12)
    assert asyncio.run(initial_rate(420.0)) > 0 and asyncio.run(initial_rate(500.0)) == 0.0


# -- the optimum ----------------------------------------------------------------------------------------
def test_the_optimum_is_inside_the_box_and_beats_every_grid_point() -> None:
    best, best_rate = h2_optimum(BOX)
    assert set(best) == set(BOX)
    for key, (lo, hi) in BOX.items():
        assert lo <= best[key] <= hi, key
    assert best_rate == pytest.approx(expected_h2_rate(best), rel=1e-12)
    grids = [np.linspace(lo, hi, 6) for lo, hi in BOX.values()]
    grid_best = max(expected_h2_rate(dict(zip(BOX, point, strict=True))) for point in itertools.product(*grids))
    assert best_rate >= grid_best
    # interior in doping, donor and pH; more light and less catalyst per gram are better
    assert best["co_doping_percent"] == pytest.approx(1.74, abs=0.01)
    assert 0.5 < best["donor_mol_per_l"] < 1.0 and 8.5 < best["ph"] < 10.0
    assert best["lamp_power_w"] == pytest.approx(300.0) and best["catalyst_mass_g"] == pytest.approx(0.001)
    # better than the reference sample, by a margin a campaign can find (GC noise 1-2 %, samples 3 %)
    assert 1.4 < best_rate / expected_h2_rate() < 2.0


def test_the_optimum_keeps_what_is_fixed() -> None:
    best, best_rate = h2_optimum({"ph": (6.0, 12.0)}, {"donor_mol_per_l": 0.1, "lamp_power_w": 100.0})
    assert best["donor_mol_per_l"] == 0.1 and best["lamp_power_w"] == 100.0
    grid = np.linspace(6.0, 12.0, 601)
    assert best["ph"] == pytest.approx(argmax("ph", grid, donor_mol_per_l=0.1, lamp_power_w=100.0), abs=0.011)
    assert best_rate == pytest.approx(rate(ph=best["ph"], donor_mol_per_l=0.1, lamp_power_w=100.0))


@pytest.mark.parametrize(
    ("bounds", "fixed", "match"),
    [
        ({"ph": (6.0, 12.0)}, {"ph": 7.0}, r"h2_optimum: ph both bounded and fixed"),
        ({"ph": (12.0, 6.0)}, {}, r"bounds\['ph'\] must be finite \(low, high\) with low <= high"),
        ({"ph": (6.0, 15.0)}, {}, r"ph must be within 0-14, got 15"),
        ({"temperature_k": (280.0, 320.0)}, {}, r"unknown condition\(s\) temperature_k"),
        ({"wavelength_nm": (400.0, 480.0)}, {}, r"needs both wavelength_nm .* and light_power_w"),
    ],
)
def test_the_optimum_refuses_a_bad_box(bounds, fixed, match) -> None:
    with pytest.raises(ValueError, match=match):
        h2_optimum(bounds, fixed)


# -- samples ------------------------------------------------------------------------------------------
def test_sample_conditions_refuse_impossible_values() -> None:
    with pytest.raises(ValueError, match=r"co_doping_percent must be a finite value >= 0 %, got -1"):
        SampleConditions(co_doping_percent=-1.0)
    with pytest.raises(ValueError, match=r"donor_mol_per_l must be a finite value >= 0 mol/L, got nan"):
        SampleConditions(donor_mol_per_l=math.nan)
    with pytest.raises(ValueError, match=r"catalyst_mass_g must be a finite value > 0 g, got 0"):
        SampleConditions(catalyst_mass_g=0.0)
    with pytest.raises(ValueError, match=r"ph must be within 0-14, got -0.5"):
        SampleConditions(ph=-0.5)


def test_each_loaded_sample_scatters_by_a_few_percent() -> None:
    led = MonochromaticSource(420.0, 0.4)
    reactor = Photoreactor(FakeClock(), led, catalyst=STEADY)
    rng = np.random.default_rng(7)
    factors = []
    for _ in range(2000):
        reactor.load_sample(REFERENCE_SAMPLE, rng=rng)
        factors.append(reactor.sample_factor)
    assert np.std(factors) == pytest.approx(SAMPLE_TO_SAMPLE_RSD, rel=0.1)
    assert np.mean(factors) == pytest.approx(1.0, abs=0.003)
    assert 0.02 <= SAMPLE_TO_SAMPLE_RSD <= 0.05
    # the same generator state gives the same samples; no generator, no scatter
    again = Photoreactor(FakeClock(), led, catalyst=STEADY)
    again.load_sample(REFERENCE_SAMPLE, rng=np.random.default_rng(7))
    assert again.sample_factor == factors[0]
    again.load_sample(REFERENCE_SAMPLE)
    assert again.sample_factor == 1.0


def test_a_loaded_sample_is_fresh_and_the_reactor_purged() -> None:
    clock = FakeClock()
    lamp = XenonLamp(300.0)
    lamp.switch_on(0.0)
    reactor = Photoreactor(clock, lamp, catalyst=STEADY)
    clock.t = 10 * HOUR
    tired = reactor.rates_umol_per_h()["H2"]
    assert reactor.headspace_umol()["H2"] > 0
    sample = SampleConditions(catalyst_mass_g=0.020, co_doping_percent=1.74, donor_mol_per_l=0.7, ph=9.2)
    reactor.load_sample(sample)
    assert reactor.sample_conditions == sample
    assert reactor.headspace_umol()["H2"] == 0.0 and reactor.atmosphere == "Ar"
    assert reactor.irradiated_s == 0.0
    fresh = reactor.rates_umol_per_h()["H2"] / 0.020
    assert fresh == pytest.approx(expected_h2_rate(dataclasses.asdict(sample)), rel=1e-12)
    assert fresh > tired / 0.010


def test_the_sim_bench_draws_a_new_factor_for_every_sample_it_loads(tmp_path: Path) -> None:
    from labctl.sim.bench import build_sim_bench

    async def factors(seed: int) -> list[float]:
        sim = build_sim_bench(
            export_dir=tmp_path,
            headspace_volume_ml=20.0,
            temperature_k=298.15,
            loop_volume_ml=0.1,
            loop_temperature_k=298.15,
            loop_pressure_pa=101325.0,
            gc_run_time_s=420.0,
            catalyst=CO_CDSE13_NETWORK.name,
        )
        sim.seed = seed
        out = []
        for _ in range(3):
            sim.load_step("photoreactor", {"catalyst_mass_g": 0.010, "co_doping_percent": 1.74, "ph": 9.2})
            out.append(sim.model.sample_factor)
        # a preview of the next sample's make-up draws nothing
        sim.load_sample(catalyst_mass_g=0.005, new_sample=False)
        assert sim.model.sample_factor == out[-1] and sim.model.catalyst_mass_g == 0.005
        assert sim.model.co_doping_percent == REFERENCE_SAMPLE.co_doping_percent
        return out

    first = asyncio.run(factors(1))
    assert len(set(first)) == 3 and all(abs(f - 1) < 0.15 for f in first)
    assert asyncio.run(factors(1)) == first
    assert asyncio.run(factors(2)) != first
