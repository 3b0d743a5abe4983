"""Tests of the photoreactor physics model: light, H2 evolution, deactivation, leak, gas sampling."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np
import pytest

from labctl.sim.physics.photoreactor import (
    CO_CDSE13_NETWORK,
    GAS_CONSTANT_J_PER_MOL_K,
    XE_420NM_CUTOFF,
    MonochromaticSource,
    PhotocatalystSpec,
    Photoreactor,
    Spectrum,
    XenonLamp,
)

HOUR = 3600.0
# The default catalyst without the sample-to-sample spread, for exact comparisons.
STEADY = dataclasses.replace(CO_CDSE13_NETWORK, batch_variation=0.0)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeLight:
    """On between t_on and t_off at a given power; lists no transitions (bisection path)."""

    def __init__(
        self,
        watts: float,
        t_on: float,
        t_off: float = math.inf,
        spectrum: Spectrum = XE_420NM_CUTOFF,
    ) -> None:
        self.watts = watts
        self.t_on = t_on
        self.t_off = t_off
        self.spectrum = spectrum

    def is_lit(self, t: float) -> bool:
        return self.t_on <= t < self.t_off

    def output_watts(self, t: float) -> float:
        return self.watts if self.is_lit(t) else 0.0


def make_reactor(
    light: FakeLight | XenonLamp | MonochromaticSource,
    clock: FakeClock | None = None,
    *,
    catalyst: PhotocatalystSpec = STEADY,
    mass_g: float = 0.010,
    **kwargs: Any,
) -> tuple[Photoreactor, FakeClock]:
    clock = clock or FakeClock()
    reactor = Photoreactor(clock, light, catalyst=catalyst, catalyst_mass_g=mass_g, **kwargs)
    return reactor, clock


def h2_after(watts: float, seconds: float, mass_g: float = 0.010, catalyst: PhotocatalystSpec = STEADY) -> float:
    reactor, clock = make_reactor(FakeLight(watts, t_on=0.0), mass_g=mass_g, catalyst=catalyst)
    clock.t = seconds
    return reactor.headspace_umol()["H2"]


def test_no_h2_in_the_dark() -> None:
    reactor, clock = make_reactor(FakeLight(300.0, t_on=2 * HOUR))
    clock.t = 2 * HOUR - 1.0
    amounts = reactor.headspace_umol()
    assert amounts["H2"] == 0.0
    assert reactor.h2_produced_umol == 0.0
    assert reactor.irradiated_s == 0.0
    assert reactor.rate_umol_per_h() == 0.0
    assert reactor.photon_flux_umol_per_s(clock.t) == 0.0
    clock.t = 2 * HOUR + 60.0
    assert reactor.headspace_umol()["H2"] > 0.0
    assert reactor.irradiated_s == pytest.approx(60.0, abs=2e-3)


def test_no_h2_after_the_lamp_goes_off() -> None:
    reactor, clock = make_reactor(FakeLight(300.0, t_on=0.0, t_off=HOUR))
    clock.t = HOUR
    at_off = reactor.headspace_umol()["H2"]
    clock.t = 3 * HOUR
    assert reactor.headspace_umol()["H2"] == pytest.approx(at_off, rel=1e-6)
    assert reactor.irradiated_s == pytest.approx(HOUR, abs=2e-3)


def test_doubling_power_doubles_the_initial_rate_of_a_catalyst_without_recombination() -> None:
    linear = dataclasses.replace(STEADY, response=None)
    one = h2_after(150.0, 300.0, catalyst=linear)
    two = h2_after(300.0, 300.0, catalyst=linear)
    assert two / one == pytest.approx(2.0, rel=0.01)


def test_rate_increases_with_mass_and_saturates() -> None:
    amounts = [h2_after(300.0, 600.0, mass_g=m) for m in (0.002, 0.005, 0.010, 0.020, 0.100)]
    assert all(b > a for a, b in itertools.pairwise(amounts))
    # Nearly proportional for small masses; 10x the mass gives far less than 10x at 100 mg.
    assert amounts[1] / amounts[0] == pytest.approx(2.5, rel=0.15)
    assert amounts[4] / amounts[2] < 3.0


def test_deactivation_a_few_percent_per_hour() -> None:
    reactor, clock = make_reactor(FakeLight(300.0, t_on=0.0))
    clock.t = 10 * HOUR
    first = reactor.true_rate_umol_per_g_h(0.0, 0.1 * HOUR)
    later = reactor.true_rate_umol_per_g_h(9.0 * HOUR, 9.1 * HOUR)
    loss_per_h = 1.0 - (later / first) ** (1 / 9.0)
    assert 0.01 <= loss_per_h <= 0.06
    assert loss_per_h == pytest.approx(STEADY.deactivation_per_h, rel=0.02)


def test_deactivation_counts_irradiation_time_only() -> None:
    reactor, clock = make_reactor(FakeLight(300.0, t_on=5 * HOUR))
    clock.t = 5.1 * HOUR
    early = reactor.true_rate_umol_per_g_h(5 * HOUR, 5.1 * HOUR)
    # the mean over the first 0.1 h of light is 0.15 % below the fresh rate at 3 %/h
    assert early == pytest.approx(reactor.initial_rate_umol_per_g_h(300.0), rel=3e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_10_mg_under_300_w_xe_evolves_a_few_thousand_umol_per_g_h(seed: int) -> None:
    lamp = XenonLamp(300.0)
    lamp.switch_on(0.0)
    clock = FakeClock()
    reactor = Photoreactor(clock, lamp, catalyst=CO_CDSE13_NETWORK, catalyst_mass_g=0.010, rng_seed=seed)
    clock.t = 600.0
    rate = reactor.true_rate_umol_per_g_h(0.0, 600.0)
    assert 2000.0 <= rate <= 5000.0
    assert rate == pytest.approx(reactor.initial_rate_umol_per_g_h(300.0), rel=0.005)


def test_monochromatic_photon_flux_and_absorption_edge() -> None:
    led = MonochromaticSource(420.0, 0.1)
    led.switch_on(0.0)
    reactor, clock = make_reactor(led)
    # 0.1 W at 420 nm: P lambda / (h c N_A) = 0.3511 umol/s
    assert reactor.photon_flux_umol_per_s(10.0) == pytest.approx(0.35111, rel=1e-4)
    clock.t = HOUR
    assert reactor.headspace_umol()["H2"] > 0.0

    green = MonochromaticSource(520.0, 0.1)  # beyond the 470 nm absorption edge
    green.switch_on(0.0)
    reactor, clock = make_reactor(green)
    clock.t = HOUR
    assert reactor.headspace_umol()["H2"] == 0.0


def test_air_leak_adds_n2_and_o2_in_the_ratio_of_air() -> None:
    clock = FakeClock()
    reactor = Photoreactor(
        clock,
        FakeLight(0.0, t_on=math.inf),
        catalyst=STEADY,
        catalyst_mass_g=0.01,
        leak_rate_ml_air_per_h=0.5,
    )
    ar0 = reactor.headspace_umol()["Ar"]
    clock.t = 2 * HOUR
    gas = reactor.headspace_umol()
    air_umol = 101325.0 * 1.0e-6 / (GAS_CONSTANT_J_PER_MOL_K * 298.15) * 1e6  # 1.0 mL of air
    assert gas["N2"] / gas["O2"] == pytest.approx(78 / 21, rel=1e-9)
    assert gas["N2"] == pytest.approx(0.78 * air_umol, rel=1e-9)
    assert gas["O2"] == pytest.approx(0.21 * air_umol, rel=1e-9)
    assert gas["Ar"] > ar0
    clock.t = 4 * HOUR
    assert reactor.headspace_umol()["N2"] == pytest.approx(2 * gas["N2"], rel=1e-9)


def test_sealed_reactor_has_no_n2_or_o2() -> None:
    reactor, clock = make_reactor(FakeLight(300.0, t_on=0.0))
    clock.t = 5 * HOUR
    gas = reactor.headspace_umol()
    assert gas["N2"] == 0.0
    assert gas["O2"] == 0.0


def test_initial_ar_fills_the_headspace_at_one_atmosphere() -> None:
    reactor, _ = make_reactor(FakeLight(300.0, t_on=HOUR), headspace_volume_ml=20.0)
    assert reactor.pressure_pa() == pytest.approx(101325.0, rel=1e-12)
    assert reactor.mole_fractions()["Ar"] == 1.0


def test_pressure_is_n_r_t_over_v() -> None:
    reactor, clock = make_reactor(
        FakeLight(300.0, t_on=0.0),
        headspace_volume_ml=25.0,
        temperature_k=303.0,
        leak_rate_ml_air_per_h=0.2,
    )
    clock.t = 3 * HOUR
    total_mol = sum(reactor.headspace_umol().values()) * 1e-6
    expected = total_mol * GAS_CONSTANT_J_PER_MOL_K * 303.0 / 25e-6
    assert reactor.pressure_pa() == pytest.approx(expected, rel=1e-12)
    assert reactor.pressure_pa() > 101325.0  # H2 and air added to 1 atm of Ar
    reactor.temperature_k = 313.0
    assert reactor.pressure_pa() == pytest.approx(expected * 313.0 / 303.0, rel=1e-12)


def test_sample_splits_the_loop_amount_by_mole_fraction() -> None:
    reactor, clock = make_reactor(FakeLight(300.0, t_on=0.0), leak_rate_ml_air_per_h=0.3)
    clock.t = 4 * HOUR
    before = reactor.headspace_umol()
    fractions = reactor.mole_fractions()
    assert sum(fractions.values()) == pytest.approx(1.0, rel=1e-12)
    loop = reactor.sample(0.25, 300.0, 100_000.0)
    n_loop = 100_000.0 * 0.25e-6 / (GAS_CONSTANT_J_PER_MOL_K * 300.0) * 1e6
    assert sum(loop.values()) == pytest.approx(n_loop, rel=1e-12)
    for gas, x in fractions.items():
        assert loop[gas] == pytest.approx(x * n_loop, rel=1e-12)
    assert fractions["H2"] == pytest.approx(before["H2"] / sum(before.values()), rel=1e-12)
    assert reactor.headspace_umol() == before  # sampling does not deplete the headspace
    default = reactor.sample(0.25)  # loop at the headspace pressure and reactor temperature
    assert sum(default.values()) == pytest.approx(sum(before.values()) * 0.25 / reactor.headspace_volume_ml, rel=1e-12)


def test_true_rate_matches_a_numerical_integral() -> None:
    t_on, t_off = 1000.0, 1000.0 + 5 * HOUR
    reactor, clock = make_reactor(FakeLight(300.0, t_on=t_on, t_off=t_off))
    clock.t = t_off + HOUR
    r0 = reactor.initial_rate_umol_per_g_h(300.0) * reactor.catalyst_mass_g / HOUR  # umol/s
    tau = -HOUR / math.log(1 - STEADY.deactivation_per_h)
    t0, t1 = 2 * HOUR, t_off + 0.5 * HOUR  # ends in the dark
    grid = np.linspace(t0, t_off, 20_001)
    produced = np.trapezoid(r0 * np.exp(-(grid - t_on) / tau), grid)
    expected = produced / (reactor.catalyst_mass_g * (t1 - t0) / HOUR)
    assert reactor.true_rate_umol_per_g_h(t0, t1) == pytest.approx(expected, rel=1e-4)
    assert reactor.true_rate_umol_per_g_h(t_off + 1.0, clock.t) == pytest.approx(0.0, abs=1e-9)


def test_one_big_step_and_many_small_steps_agree() -> None:
    def run(step: float | None) -> tuple[dict[str, float], float]:
        light = FakeLight(300.0, t_on=1234.5, t_off=1234.5 + 3.3 * HOUR)
        reactor, clock = make_reactor(light, leak_rate_ml_air_per_h=0.1)
        end = 5 * HOUR
        if step is None:
            reactor.advance(end)
        else:
            for t in np.arange(step, end, step):
                clock.t = float(t)
                reactor.advance()
            reactor.advance(end)
        return reactor.headspace_umol(), reactor.irradiated_s

    big, big_irr = run(None)
    small, small_irr = run(7.0)
    for gas in ("H2", "N2", "O2", "Ar"):
        assert small[gas] == pytest.approx(big[gas], rel=0.005)
    assert small_irr == pytest.approx(big_irr, abs=0.01)
    assert big_irr == pytest.approx(3.3 * HOUR, abs=0.01)


def test_scheduled_lamp_switches_exactly() -> None:
    lamp = XenonLamp(300.0)
    lamp.switch_on(100.0)
    lamp.switch_off(100.0 + HOUR)
    lamp.switch_on(200.0 + HOUR, 150.0)
    reactor, clock = make_reactor(lamp)
    clock.t = 3 * HOUR
    assert reactor.irradiated_s == pytest.approx(3 * HOUR - 200.0, abs=1e-6)
    with pytest.raises(ValueError, match="forward in time"):
        lamp.set_output(50.0, 300.0)


def test_henry_partition_keeps_some_h2_in_the_liquid() -> None:
    clock = FakeClock()
    light = FakeLight(300.0, t_on=0.0)
    dry = Photoreactor(clock, light, catalyst=STEADY, catalyst_mass_g=0.01)
    wet = Photoreactor(clock, light, catalyst=STEADY, catalyst_mass_g=0.01, henry_partition=True, liquid_volume_ml=50.0)
    clock.t = HOUR
    assert wet.h2_produced_umol == pytest.approx(dry.h2_produced_umol, rel=1e-12)
    assert wet.headspace_umol()["H2"] < dry.headspace_umol()["H2"]
    assert wet.headspace_umol()["H2"] / dry.headspace_umol()["H2"] > 0.9
    assert wet.pressure_pa() == pytest.approx(dry.pressure_pa(), rel=0.01)


def test_time_only_from_the_clock_and_never_backwards() -> None:
    reactor, clock = make_reactor(FakeLight(300.0, t_on=0.0))
    assert reactor.headspace_umol()["H2"] == 0.0  # clock not moved: nothing happened
    clock.t = 100.0
    reactor.advance()
    assert reactor.time_s == 100.0
    with pytest.raises(ValueError, match="backwards"):
        reactor.advance(50.0)
    with pytest.raises(ValueError, match="outside the integrated span"):
        reactor.true_rate_umol_per_g_h(0.0, 200.0)


def test_bad_parameters_raise() -> None:
    with pytest.raises(ValueError, match="catalyst_mass_g"):
        make_reactor(FakeLight(300.0, t_on=0.0), mass_g=0.0)
    with pytest.raises(ValueError, match="deactivation_per_h"):
        dataclasses.replace(STEADY, deactivation_per_h=1.5)
