"""Tests of CO2 photoreduction in the photoreactor model: atmosphere, product branching, calibration."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from labctl.analysis.gas_phase import co2_reduction_figures
from labctl.sim.bench import find_catalyst
from labctl.sim.instruments.chromatogram import MOLSIEVE_5A_AR, synthesize_chromatogram
from labctl.sim.physics.photoreactor import (
    CDS_TIO2_CU,
    CDS_TIO2_CU_RATES_UMOL_PER_G_H,
    CO2_REFERENCE_SETTING,
    CO_CDSE13_NETWORK,
    ELECTRONS_PER_PRODUCT,
    STANDARD_PRESSURE_PA,
    Co2ReferenceSetting,
    MonochromaticSource,
    PhotocatalystSpec,
    Photoreactor,
    Spectrum,
    XenonLamp,
    calibrate_co2_photocatalyst,
)

HOUR = 3600.0
PAPER_CO = 781.3
PAPER_H2 = 5875.1


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def reference_reactor(
    catalyst: PhotocatalystSpec = CDS_TIO2_CU, *, gas: str | None = "CO2", **kwargs: object
) -> tuple[Photoreactor, FakeClock, XenonLamp]:
    """The reference setting: 300 W Xe behind the >420 nm cutoff, 10 mg, default reactor, lamp on at t=0."""
    clock = FakeClock()
    lamp = XenonLamp()
    reactor = Photoreactor(clock, lamp, catalyst=catalyst, catalyst_mass_g=0.010, **kwargs)  # type: ignore[arg-type]
    if gas is not None:
        reactor.purge(gas)
    lamp.switch_on(0.0)
    return reactor, clock, lamp


def paper_electron_rate(ch4: float = CDS_TIO2_CU_RATES_UMOL_PER_G_H["CH4"]) -> float:
    return 2 * PAPER_CO + 2 * PAPER_H2 + 8 * ch4


# -- reference rates ------------------------------------------------------------------------------
def test_reference_setting_is_the_bench_lamp_10_mg_co2_first_hour() -> None:
    ref = CO2_REFERENCE_SETTING
    assert ref.output_watts == 300.0
    assert ref.spectrum.band_nm == (420.0, 780.0)
    assert ref.catalyst_mass_g == 0.010
    assert ref.co2_pressure_pa == STANDARD_PRESSURE_PA
    assert ref.window_h == (0.0, 1.0)
    assert CDS_TIO2_CU_RATES_UMOL_PER_G_H["CO"] == PAPER_CO
    assert CDS_TIO2_CU_RATES_UMOL_PER_G_H["H2"] == PAPER_H2


def test_true_rates_reproduce_the_published_rates_in_the_first_hour() -> None:
    reactor, clock, _ = reference_reactor()
    clock.t = HOUR
    rates = reactor.true_rates_umol_per_g_h(0.0, HOUR)
    assert rates["CO"] == pytest.approx(PAPER_CO, rel=0.05)
    assert rates["H2"] == pytest.approx(PAPER_H2, rel=0.05)
    # the calibration is exact up to the small CO2 use and the coverage drift over the hour
    assert rates["CO"] == pytest.approx(PAPER_CO, rel=2e-3)
    assert rates["H2"] == pytest.approx(PAPER_H2, rel=2e-3)
    assert rates["CH4"] == pytest.approx(CDS_TIO2_CU_RATES_UMOL_PER_G_H["CH4"], rel=2e-3)
    assert reactor.true_rate_umol_per_g_h(0.0, HOUR) == rates["H2"]


def test_sampled_amounts_and_the_analysis_reproduce_the_published_rates() -> None:
    loop_ml = 1.0
    times = np.arange(-1800.0, HOUR + 1.0, 600.0)  # three dark points, then every 10 min for an hour
    clock = FakeClock(-1800.0)
    lamp = XenonLamp()
    reactor = Photoreactor(clock, lamp, catalyst=CDS_TIO2_CU, catalyst_mass_g=0.010)
    reactor.purge("CO2")
    lamp.switch_on(0.0)
    amounts: dict[str, list[float]] = {"CO": [], "CH4": [], "H2": []}
    n2: list[float] = []
    for t in times:
        clock.t = float(t)
        loop = reactor.sample(loop_ml)
        scale = reactor.headspace_volume_ml / loop_ml  # same p and T in loop and headspace
        for gas in amounts:
            amounts[gas].append(loop[gas] * scale)
        n2.append(loop["N2"] * scale)
    assert loop["CO2"] > 0  # CO2 is in the sample, though the MS-5A column never shows it
    fig = co2_reduction_figures(times, amounts, 0.010, lamp_on_s=0.0, n2_umol=n2)
    assert fig.products["CO"].rate == pytest.approx(PAPER_CO, rel=0.05)
    assert fig.products["H2"].rate == pytest.approx(PAPER_H2, rel=0.05)
    assert fig.products["CO"].rate == pytest.approx(reactor.true_rates_umol_per_g_h(0.0, HOUR)["CO"], rel=0.02)
    assert fig.leak_suspect is False
    expected = 2 * PAPER_CO / paper_electron_rate()
    assert expected == pytest.approx(0.1163, abs=5e-4)
    assert fig.selectivity["CO"] == pytest.approx(expected, rel=0.01)
    assert fig.selectivity["CO"] == pytest.approx(0.117, abs=0.002)
    assert sum(fig.selectivity.values()) == pytest.approx(1.0)


def test_electron_selectivity_of_the_model_matches_the_published_split() -> None:
    reactor, clock, _ = reference_reactor()
    clock.t = HOUR
    rates = reactor.true_rates_umol_per_g_h(0.0, HOUR)
    electrons = {p: ELECTRONS_PER_PRODUCT[p] * r for p, r in rates.items()}
    share_co = electrons["CO"] / sum(electrons.values())
    assert share_co == pytest.approx(2 * PAPER_CO / paper_electron_rate(), rel=1e-3)
    assert electrons["CH4"] / sum(electrons.values()) == pytest.approx(8 * 15.0 / paper_electron_rate(), rel=1e-3)


def test_calibrated_parameters_follow_from_the_rates() -> None:
    spec = CDS_TIO2_CU
    assert sum(spec.co2_selectivity.values()) == pytest.approx(1.0, abs=1e-12)
    theta = spec.co2_coverage(STANDARD_PRESSURE_PA)
    assert theta == pytest.approx(101.325 / 102.325)
    assert theta * spec.co2_selectivity["CO"] == pytest.approx(2 * PAPER_CO / paper_electron_rate(), rel=1e-12)
    # QY: electron rate = QY x absorbed flux x mean decay over the first hour
    ref = CO2_REFERENCE_SETTING
    absorbed = ref.spectrum.photon_flux_umol_per_s(300.0) * spec.absorbed_fraction(0.010, ref.spectrum)
    assert spec.absorbed_fraction(0.010, ref.spectrum) == pytest.approx(
        (520 - 420) / (780 - 420) * -math.expm1(-10 / 20)
    )
    mean_decay = 0.02 / -math.log1p(-0.02)
    e_rate = paper_electron_rate() * 0.010 / HOUR
    assert spec.quantum_yield == pytest.approx(e_rate / (absorbed * mean_decay), rel=1e-12)
    assert 0.001 < spec.quantum_yield < 0.01


def test_catalyst_is_registered_on_the_simulated_bench() -> None:
    assert find_catalyst("CdS/TiO2:Cu hollow spheres") is CDS_TIO2_CU
    assert find_catalyst("  cds/tio2:cu hollow spheres ") is CDS_TIO2_CU


def test_nothing_absorbed_beyond_the_cds_edge() -> None:
    clock = FakeClock()
    red = MonochromaticSource(560.0, 0.1)
    reactor = Photoreactor(clock, red, catalyst=CDS_TIO2_CU)
    reactor.purge("CO2")
    red.switch_on(0.0)
    clock.t = HOUR
    assert all(v == 0.0 for v in reactor.produced_umol().values())


# -- atmosphere ----------------------------------------------------------------------------------
def test_no_co_or_ch4_under_ar_all_electrons_to_h2() -> None:
    reactor, clock, _ = reference_reactor(gas=None)
    assert reactor.atmosphere == "Ar"
    clock.t = HOUR
    rates = reactor.true_rates_umol_per_g_h(0.0, HOUR)
    assert rates["CO"] == 0.0
    assert rates["CH4"] == 0.0
    assert rates["H2"] == pytest.approx(paper_electron_rate() / 2, rel=1e-3)
    headspace = reactor.headspace_umol()
    assert "CO" not in headspace and "CH4" not in headspace and "CO2" not in headspace
    assert set(headspace) == {"H2", "O2", "N2", "Ar"}


def test_non_reducing_catalyst_under_co2_makes_only_h2_at_the_ar_rate() -> None:
    steady = dataclasses.replace(CO_CDSE13_NETWORK, batch_variation=0.0)
    under_ar, clock_ar, _ = reference_reactor(steady, gas=None)
    under_co2, clock_co2, _ = reference_reactor(steady)
    clock_ar.t = clock_co2.t = HOUR
    assert under_co2.headspace_umol()["CO"] == 0.0
    assert under_co2.true_rates_umol_per_g_h(0, HOUR)["H2"] == pytest.approx(
        under_ar.true_rate_umol_per_g_h(0, HOUR), rel=1e-12
    )


def test_purge_fills_the_headspace_with_co2_at_one_atmosphere() -> None:
    reactor, _, _ = reference_reactor(gas=None)
    reactor.purge("CO2")
    assert reactor.atmosphere == "CO2"
    headspace = reactor.headspace_umol()
    assert headspace["Ar"] == 0.0
    assert headspace["CO"] == 0.0 and headspace["CH4"] == 0.0
    assert reactor.pressure_pa() == pytest.approx(STANDARD_PRESSURE_PA)
    assert reactor.mole_fractions()["CO2"] == pytest.approx(1.0)
    assert reactor.co2_coverage() == pytest.approx(101.325 / 102.325)


def test_purge_resets_products_but_production_keeps_counting() -> None:
    reactor, clock, _ = reference_reactor()
    clock.t = HOUR
    before = reactor.produced_umol()
    assert reactor.headspace_umol()["CO"] > 7.0
    reactor.purge("CO2")
    headspace = reactor.headspace_umol()
    assert headspace["CO"] == 0.0 and headspace["H2"] == 0.0 and headspace["CH4"] == 0.0
    assert reactor.pressure_pa() == pytest.approx(STANDARD_PRESSURE_PA)
    assert reactor.produced_umol() == before
    clock.t = 2 * HOUR
    second = reactor.headspace_umol()["CO"]
    assert second == pytest.approx(reactor.produced_umol()["CO"] - before["CO"], rel=1e-12)
    # deactivation carries over: the second hour gives 2 % less
    assert second == pytest.approx(before["CO"] * 0.98, rel=2e-3)


def test_purge_back_to_ar_stops_co2_reduction() -> None:
    reactor, clock, _ = reference_reactor()
    clock.t = HOUR
    reactor.purge("Ar", 1.5 * HOUR)
    assert reactor.time_s == 1.5 * HOUR
    headspace = reactor.headspace_umol()
    assert "CO2" not in headspace and "CO" not in headspace
    clock.t = 2.5 * HOUR
    assert reactor.true_rates_umol_per_g_h(1.5 * HOUR, 2.5 * HOUR)["CO"] == 0.0
    assert "CO" not in reactor.headspace_umol()


def test_co2_is_used_up_one_per_c1_product() -> None:
    reactor, clock, _ = reference_reactor()
    start = reactor.headspace_umol()["CO2"]
    clock.t = HOUR
    headspace = reactor.headspace_umol()
    assert start - headspace["CO2"] == pytest.approx(headspace["CO"] + headspace["CH4"], rel=1e-9)


def test_reduction_follows_the_co2_partial_pressure() -> None:
    reactor, _, _ = reference_reactor(gas=None)
    reactor.purge("CO2", pressure_pa=1000.0)  # p = p_half: half coverage
    assert reactor.co2_coverage() == pytest.approx(0.5, rel=1e-3)
    rates = reactor.initial_rates_umol_per_g_h(300.0)
    full = dataclasses.replace(CDS_TIO2_CU, co2_half_saturation_kpa=0.0)
    assert full.co2_coverage(1.0) == 1.0
    assert rates["CO"] == pytest.approx(
        0.5 * CDS_TIO2_CU.co2_selectivity["CO"] * sum(ELECTRONS_PER_PRODUCT[p] * r for p, r in rates.items()) / 2,
        rel=1e-3,
    )


def test_co2_partitions_into_the_liquid_with_henry() -> None:
    reactor, clock, _ = reference_reactor(henry_partition=True)
    assert reactor.pressure_pa() == pytest.approx(STANDARD_PRESSURE_PA)
    clock.t = HOUR
    assert reactor.true_rates_umol_per_g_h(0, HOUR)["CO"] == pytest.approx(PAPER_CO, rel=0.01)


def test_purge_errors_name_the_value_and_the_fix() -> None:
    reactor, clock, _ = reference_reactor()
    with pytest.raises(ValueError, match=r"gas must be one of .*CO2.*got 'Xe'"):
        reactor.purge("Xe")
    with pytest.raises(ValueError, match=r"pressure_pa must be .* > 0 Pa, got -1"):
        reactor.purge("CO2", pressure_pa=-1.0)
    clock.t = 100.0
    reactor.advance()
    with pytest.raises(ValueError, match="before the state time"):
        reactor.purge("CO2", 50.0)


# -- spec and calibration ------------------------------------------------------------------------
def test_selectivity_must_sum_to_one_and_name_known_products() -> None:
    base = dict(name="x", quantum_yield=0.01, absorption_edge_nm=500.0, saturation_mass_mg=20.0)
    with pytest.raises(ValueError, match=r"must sum to 1 .* got 0\.9"):
        PhotocatalystSpec(**base, co2_selectivity={"CO": 0.5, "H2": 0.4})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'C2H4', which is not a known product"):
        PhotocatalystSpec(**base, co2_selectivity={"C2H4": 0.5, "H2": 0.5})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"co2_selectivity\['CO'\] must be .* got -0\.1"):
        PhotocatalystSpec(**base, co2_selectivity={"CO": -0.1, "H2": 1.1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="co2_half_saturation_kpa"):
        PhotocatalystSpec(**base, co2_half_saturation_kpa=-1.0)  # type: ignore[arg-type]
    selectivity = {"CO": 0.25, "H2": 0.75}
    spec = PhotocatalystSpec(**base, co2_selectivity=selectivity)  # type: ignore[arg-type]
    selectivity["CO"] = 0.9
    assert spec.co2_selectivity["CO"] == 0.25
    assert hash(spec) == hash(dataclasses.replace(spec))


def test_calibration_handles_liquid_products_and_other_settings() -> None:
    setting = Co2ReferenceSetting(spectrum=Spectrum.monochromatic(420.0), output_watts=0.2, catalyst_mass_g=0.020)
    rates = {"CO": 100.0, "HCOOH": 50.0, "CH3OH": 20.0, "H2": 300.0}
    spec = calibrate_co2_photocatalyst(
        "test", rates, absorption_edge_nm=500.0, saturation_mass_mg=20.0, deactivation_per_h=0.0, reference=setting
    )
    clock = FakeClock()
    led = MonochromaticSource(420.0, 0.2)
    reactor = Photoreactor(clock, led, catalyst=spec, catalyst_mass_g=0.020)
    reactor.purge("CO2")
    led.switch_on(0.0)
    clock.t = HOUR
    got = reactor.true_rates_umol_per_g_h(0.0, HOUR)
    for product, rate in rates.items():
        assert got[product] == pytest.approx(rate, rel=2e-3)
    assert "HCOOH" not in reactor.headspace_umol() and "CH3OH" not in reactor.headspace_umol()
    assert reactor.produced_umol()["HCOOH"] == pytest.approx(50.0 * 0.020, rel=2e-3)
    with pytest.raises(ValueError, match="unknown product"):
        calibrate_co2_photocatalyst("bad", {"C2H6": 1.0}, absorption_edge_nm=500.0, saturation_mass_mg=20.0)
    with pytest.raises(ValueError, match="absorbs no photons"):
        calibrate_co2_photocatalyst("red", rates, absorption_edge_nm=400.0, saturation_mass_mg=20.0)


# -- AQY and the GC ------------------------------------------------------------------------------
def test_aqy_per_product_under_monochromatic_light_is_electrons_over_photons() -> None:
    clock = FakeClock(-1200.0)
    led = MonochromaticSource(450.0, 0.050)
    reactor = Photoreactor(clock, led, catalyst=CDS_TIO2_CU, catalyst_mass_g=0.010)
    reactor.purge("CO2")
    led.switch_on(0.0)
    times = np.arange(-1200.0, 2 * HOUR + 1.0, 600.0)
    amounts: dict[str, list[float]] = {"CO": [], "CH4": [], "H2": []}
    for t in times:
        clock.t = float(t)
        headspace = reactor.headspace_umol()
        for gas in amounts:
            amounts[gas].append(headspace[gas])
    fig = co2_reduction_figures(times, amounts, 0.010, lamp_on_s=0.0, light_power_w=0.050, wavelength_nm=450.0)
    photons_umol = reactor.photon_flux_umol_per_s(HOUR) * 2 * HOUR
    produced = reactor.produced_umol()
    for product in amounts:
        expected = ELECTRONS_PER_PRODUCT[product] * produced[product] / photons_umol * 100.0
        assert fig.products[product].aqy == pytest.approx(expected, rel=1e-6)
    # the electrons in all products over the incident photons: QY x absorbed fraction x mean decay
    total_aqy = sum(f.aqy or 0.0 for f in fig.products.values())
    mean_decay = 0.02 / -math.log1p(-0.02) * (1 + 0.98) / 2
    expected_total = 100.0 * CDS_TIO2_CU.quantum_yield * reactor.absorbed_fraction() * mean_decay
    assert total_aqy == pytest.approx(expected_total, rel=1e-3)


def test_gc_trace_shows_co_and_ch4_peaks_from_the_sample() -> None:
    reactor, clock, _ = reference_reactor()
    clock.t = 4 * HOUR
    sample = reactor.sample(1.0)
    assert sample["CO"] > 0 and sample["CH4"] > 0 and sample["CO2"] > 0
    quiet = dataclasses.replace(MOLSIEVE_5A_AR, baseline_noise_uv=0.0)
    t_min, signal = synthesize_chromatogram(sample, quiet, np.random.default_rng(0), area_noise=0.0)
    _, blank = synthesize_chromatogram(
        {k: v for k, v in sample.items() if k not in ("CO", "CH4")}, quiet, np.random.default_rng(0), area_noise=0.0
    )
    _, no_co2 = synthesize_chromatogram(
        {k: v for k, v in sample.items() if k != "CO2"}, quiet, np.random.default_rng(0), area_noise=0.0
    )
    np.testing.assert_array_equal(signal, no_co2)  # CO2 never elutes from MS-5A
    gases = {p.gas: p for p in quiet.peaks}
    for gas in ("CO", "CH4"):
        spec = gases[gas]
        window = abs(t_min - spec.retention_min) < 3 * spec.sigma_min
        peak = (signal - blank)[window]
        # several times the bench method's baseline noise at the peak
        assert peak.max() > 3 * MOLSIEVE_5A_AR.baseline_noise_uv
        area_uv_s = float(np.trapezoid(signal - blank, t_min * 60.0))
        assert area_uv_s == pytest.approx(sum(gases[g].response_factor * sample[g] for g in ("CO", "CH4")), rel=0.02)
