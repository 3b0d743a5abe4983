"""The growth and assembly models: the features SCIENCE.md names, and the trends a growth run shows."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.sim.instruments.probe_optics import ProbeOptics
from labctl.sim.instruments.spectrometer import SimulatedSpectrometer
from labctl.sim.physics.growth import (
    GrowthFlask,
    SuprastructureFlask,
    expected_growth,
    find_precursor,
    run_recipe,
)
from labctl.sim.physics.response import GrowthResponse

WL = np.linspace(200.0, 1100.0, 2048)


def peak_nm(spectrum: np.ndarray, lo: float, hi: float) -> float:
    window = (lo < WL) & (hi > WL)
    return float(WL[window][np.argmax(spectrum[window])])


@pytest.mark.parametrize(
    ("name", "features"),
    [("InAs MSC", (420.0, 460.0)), ("InP MSC", (386.0,)), ("InAs amorphous cluster", (400.0,))],
)
def test_the_precursors_absorb_where_the_literature_says(name, features):
    flask = GrowthFlask(precursor=name, supply_ml=lambda t: min(t, 600.0) / 600.0, temperature_c=lambda t: 25.0, t0=0.0)
    a = flask.absorbance(600.0, WL)  # at room temperature nothing decomposes: the clusters' own bands
    for nm in features:
        assert abs(peak_nm(a, nm - 12, nm + 12) - nm) < 1.5


def test_mn_cdse13_assembles_at_fixed_peaks_under_a_rising_rayleigh_baseline():
    flask = SuprastructureFlask(sample="Mn:(CdSe)13 MSC", temperature_c=lambda t: 120.0, t0=0.0, seed=None)
    start, end = flask.absorbance(60.0, WL), flask.absorbance(4 * 3600.0, WL)
    for nm in (353.0, 340.0):
        assert abs(peak_nm(end, nm - 6, nm + 6) - nm) < 1.5
    assert end[np.searchsorted(WL, 600.0)] > 20 * start[np.searchsorted(WL, 600.0)]
    ratio = end[np.searchsorted(WL, 500.0)] / end[np.searchsorted(WL, 700.0)]
    assert ratio == pytest.approx((700.0 / 500.0) ** 4, rel=0.05)


def test_the_peak_red_shifts_during_injection_and_the_short_wavelength_tracks_the_volume():
    rate = 2.0 / 3600.0
    flask = GrowthFlask(
        precursor="InAs amorphous cluster",
        supply_ml=lambda t: rate * t,
        temperature_c=lambda t: 280.0,
        t0=0.0,
        seed=None,
    )
    truths = [flask.truth(t) for t in (7200.0, 10800.0, 14400.0)]
    peaks = [t.first_exciton_nm for t in truths]
    assert peaks[0] < peaks[1] < peaks[2]
    shorts = [t.short_wavelength_absorbance for t in truths]
    assert shorts[0] < shorts[1] < shorts[2]


def test_a_fast_injection_nucleates_more_smaller_dots_with_a_broader_peak():
    slow = run_recipe(injection_rate_ml_per_h=4.0, temperature_c=260.0, volume_ml=10.0)
    fast = run_recipe(injection_rate_ml_per_h=40.0, temperature_c=260.0, volume_ml=10.0)
    assert fast.particles_per_l > 3 * slow.particles_per_l
    assert fast.first_exciton_nm < slow.first_exciton_nm - 200.0
    assert fast.first_exciton_fwhm_mev > 1.3 * slow.first_exciton_fwhm_mev
    # at one target wavelength, the fastest injection cannot get there with the volume a slow one needs
    assert not expected_growth(injection_rate_ml_per_h=40.0, temperature_c=260.0, volume_ml=20.0, target_nm=850.0)[
        "reached_target"
    ]


def test_stopping_the_supply_defocuses_the_ensemble():
    rate = 8.0 / 3600.0
    flask = GrowthFlask(
        precursor="InAs amorphous cluster",
        supply_ml=lambda t: rate * min(t, 4500.0),
        temperature_c=lambda t: 300.0,
        t0=0.0,
        seed=None,
    )
    at_stop = flask.truth(4500.0).size_dispersion_percent
    later = flask.truth(4500.0 + 6 * 3600.0).size_dispersion_percent
    assert later > at_stop


def test_the_narrowest_recipe_at_a_target_is_inside_the_box_not_at_an_edge():
    grid = {
        (rate, t): expected_growth(injection_rate_ml_per_h=rate, temperature_c=t, volume_ml=20.0, target_nm=850.0)
        for rate in (2.0, 8.0, 40.0)
        for t in (240.0, 280.0, 300.0)
    }
    best = min((f["fwhm_mev"], k) for k, f in grid.items() if f["reached_target"])[1]
    assert best == (8.0, 280.0)


def test_the_growth_response_gives_the_campaigns_figures_with_noise():
    response = GrowthResponse()
    kwargs = {"injection_rate_ml_per_h": 8.0, "temperature_c": 280.0, "injection_volume_ml": 20.0, "target_nm": 850.0}
    exact = response(kwargs, None)
    noisy = [response(kwargs, np.random.default_rng(s))["fwhm_mev"] for s in range(3)]
    assert exact["reached_target"] is True and 850.0 <= exact["first_exciton_nm"] < 870.0
    assert len({round(v, 6) for v in noisy}) == 3  # the batch scatter shows


def test_unknown_precursors_are_named_with_the_known_ones():
    with pytest.raises(KeyError, match=r"no simulated precursor named 'PbS'; known: InAs amorphous cluster"):
        find_precursor("PbS")


async def test_a_clear_reference_sits_in_the_range_through_a_real_spectrometer_and_dark_when_shuttered():
    import asyncio

    loop = asyncio.get_running_loop()
    lamp = {"on": True}
    optics = ProbeOptics(absorbance=lambda t, wl: np.zeros_like(wl), lamp_on=lambda: lamp["on"])
    spec = SimulatedSpectrometer(loop.time, optics.photons, wavelength_range_nm=(200.0, 1100.0), seed=1)
    spec.integration_time_micros(20_000)
    counts = spec.intensities()
    assert 0.70 * 65535 < counts.max() < 0.85 * 65535
    lamp["on"] = False
    assert spec.intensities().max() < 1700.0  # baseline and read noise only


def test_run_recipe_stops_at_the_target():
    truth = run_recipe(injection_rate_ml_per_h=8.0, temperature_c=280.0, volume_ml=20.0, target_nm=800.0)
    assert 800.0 <= truth.first_exciton_nm < 830.0 and truth.injected_ml < 20.0
