"""Tests of the CO2-reduction figures of merit: per-product rates, electron selectivity, AQY, leak, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from labctl.analysis.gas_phase import ELECTRONS, co2_reduction_figures, h2_figures_of_merit, photon_moles

HOUR = 3600.0
MASS_G = 0.010


def run_times(dark_h: float = 1.0, lit_h: float = 4.0) -> np.ndarray:
    """Sample times (s): dark every 30 min from 0, lamp on at ``dark_h``, then every 30 min."""
    dark = np.arange(0.0, dark_h - 1e-9, 0.5)
    lit = dark_h + np.arange(0.0, lit_h + 1e-9, 0.5)
    return np.concatenate([dark, lit]) * HOUR


def linear(t: np.ndarray, umol_per_h: float, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return umol_per_h * np.clip(t / HOUR - 1.0, 0.0, None) + noise * rng.standard_normal(t.size)


def test_electron_counts() -> None:
    assert dict(ELECTRONS) == {"CO": 2, "HCOOH": 2, "HCHO": 4, "CH3OH": 6, "CH4": 8, "H2": 2}


def test_rates_and_electron_selectivity_of_the_reference_composite() -> None:
    t = run_times()
    rates = {"CO": 781.3, "CH4": 15.0, "H2": 5875.1}  # umol g^-1 h^-1
    amounts = {p: linear(t, r * MASS_G) for p, r in rates.items()}
    fig = co2_reduction_figures(t, amounts, MASS_G, lamp_on_s=HOUR)
    for p, r in rates.items():
        assert fig.products[p].rate == pytest.approx(r, rel=1e-9)
        assert fig.products[p].electrons == ELECTRONS[p]
        assert fig.products[p].total_umol == pytest.approx(4.0 * r * MASS_G, rel=1e-9)
        assert fig.products[p].detected
    electrons = 2 * 781.3 + 8 * 15.0 + 2 * 5875.1
    assert fig.electron_rate == pytest.approx(electrons)
    assert fig.selectivity["CO"] == pytest.approx(2 * 781.3 / electrons)
    assert fig.selectivity["CO"] == pytest.approx(0.1163, abs=1e-4)
    assert fig.selectivity["CH4"] == pytest.approx(8 * 15.0 / electrons)
    assert sum(fig.selectivity.values()) == pytest.approx(1.0, abs=1e-12)
    assert fig.duration_h == pytest.approx(4.0)
    assert fig.catalyst_mass_g == MASS_G
    assert fig.leak_suspect is False
    assert any("AQY not computed" in n for n in fig.notes)
    assert sum("AQY not computed" in n for n in fig.notes) == 1


def test_without_ch4_the_co_share_is_the_published_11_7_percent() -> None:
    t = run_times()
    fig = co2_reduction_figures(
        t, {"CO": linear(t, 7.813), "H2": linear(t, 58.751), "CH4": np.zeros(t.size)}, MASS_G, lamp_on_s=HOUR
    )
    assert fig.selectivity["CO"] == pytest.approx(781.3 / (781.3 + 5875.1), rel=1e-9)
    assert round(100 * fig.selectivity["CO"], 1) == 11.7
    assert fig.products["CH4"].rate == 0.0
    assert fig.products["CH4"].detected is False
    assert fig.selectivity["CH4"] == 0.0
    assert "CH4: never detected; rate 0" in fig.notes


def test_noisy_rates_come_with_standard_errors() -> None:
    t = run_times(lit_h=5.0)
    amounts = {"CO": linear(t, 8.0, noise=0.05, seed=1), "H2": linear(t, 60.0, noise=0.3, seed=2)}
    fig = co2_reduction_figures(t, amounts, MASS_G, lamp_on_s=HOUR)
    for p, true in (("CO", 800.0), ("H2", 6000.0)):
        f = fig.products[p]
        assert f.rate_stderr is not None and f.rate_stderr > 0
        assert abs(f.rate - true) < 4 * f.rate_stderr
        assert f.r_squared > 0.99


def test_each_product_matches_the_h2_analysis_of_its_own_series() -> None:
    t = run_times()
    co = 6.0 * (1 - np.exp(-np.clip(t / HOUR - 1.0, 0, None) / 2.0))  # bends: only the linear part is fitted
    h2 = linear(t, 50.0, noise=0.2, seed=3)
    n2 = 10.0 + 0.01 * np.random.default_rng(4).standard_normal(t.size)
    fig = co2_reduction_figures(t, {"CO": co, "H2": h2}, MASS_G, lamp_on_s=HOUR, n2_umol=n2)
    for p, y in (("CO", co), ("H2", h2)):
        ref = h2_figures_of_merit(t, y, MASS_G, lamp_on_s=HOUR, n2_umol=n2)
        assert fig.products[p].rate == ref.rate_umol_per_g_h
        assert fig.products[p].rate_stderr == ref.rate_stderr
        assert fig.products[p].r_squared == ref.r_squared
        assert fig.products[p].detail.linear_points == ref.linear_points
    assert fig.products["CO"].detail.linear_points < fig.products["H2"].detail.linear_points
    assert any(n.startswith("CO: linear part") for n in fig.notes)


def test_aqy_per_product_is_electrons_times_amount_over_photons() -> None:
    t = run_times()
    amounts = {"CO": linear(t, 0.2), "CH4": linear(t, 0.01), "H2": linear(t, 1.5)}
    fig = co2_reduction_figures(t, amounts, MASS_G, lamp_on_s=HOUR, light_power_w=0.05, wavelength_nm=420.0)
    photons_umol = photon_moles(0.05, 4.0 * HOUR, 420.0) * 1e6
    for p in amounts:
        expected = ELECTRONS[p] * float(amounts[p][-1]) / photons_umol * 100.0
        assert fig.products[p].aqy == pytest.approx(expected, rel=1e-9)
        # equivalently n_e x rate x mass / photon flux
        flux_umol_per_h = photons_umol / 4.0
        assert fig.products[p].aqy == pytest.approx(
            ELECTRONS[p] * fig.products[p].rate * MASS_G / flux_umol_per_h * 100.0, rel=1e-9
        )
    assert fig.products["CH4"].aqy == pytest.approx(8 * 0.04 / photons_umol * 100.0)
    assert not any("AQY not computed" in n for n in fig.notes)
    broadband = co2_reduction_figures(t, amounts, MASS_G, lamp_on_s=HOUR, light_power_w=3.0)
    assert all(f.aqy is None for f in broadband.products.values())
    assert any("broadband" in n for n in broadband.notes)


def test_to_dict_is_json_with_flat_keys() -> None:
    t = run_times()
    amounts = {"CO": linear(t, 7.8), "CH4": np.zeros(t.size), "H2": linear(t, 58.8)}
    fig = co2_reduction_figures(
        t,
        amounts,
        MASS_G,
        lamp_on_s=HOUR,
        light_power_w=0.05,
        wavelength_nm=420.0,
        in_range={"CO": np.ones(t.size, bool), "H2": np.r_[np.ones(t.size - 1, bool), False]},
    )
    d = json.loads(json.dumps(fig.to_dict()))
    assert d["CO_rate"] == pytest.approx(780.0)
    assert d["H2_rate"] == pytest.approx(5880.0)
    assert d["CH4_rate"] == 0.0
    assert d["CO_aqy"] == pytest.approx(fig.products["CO"].aqy)
    assert d["selectivity"]["CO"] == pytest.approx(fig.selectivity["CO"])
    assert d["CO_selectivity"] == d["selectivity"]["CO"]
    assert d["electron_rate"] == pytest.approx(2 * 780.0 + 2 * 5880.0)
    assert d["products"]["CO"]["in_range"] is True
    assert d["products"]["H2"]["in_range"] is False
    assert d["products"]["CH4"]["in_range"] is None
    assert "1 H2 amount(s) outside the GC calibration's range (extrapolated)" in d["notes"]
    assert d["leak_suspect"] is False


def test_negative_rate_takes_no_electrons() -> None:
    t = run_times()
    fig = co2_reduction_figures(t, {"CO": linear(t, 8.0), "CH4": -linear(t, 0.01)}, MASS_G, lamp_on_s=HOUR)
    assert fig.products["CH4"].rate < 0
    assert fig.selectivity == {"CO": 1.0, "CH4": 0.0}
    assert any("CH4: rate" in n and "negative" in n for n in fig.notes)


def test_nothing_formed_gives_zero_selectivity_and_a_note() -> None:
    t = run_times()
    fig = co2_reduction_figures(t, {"CO": np.zeros(t.size), "H2": np.zeros(t.size)}, MASS_G, lamp_on_s=HOUR)
    assert fig.electron_rate == 0.0
    assert fig.selectivity == {"CO": 0.0, "H2": 0.0}
    assert any("selectivity undefined" in n for n in fig.notes)


def test_leak_is_flagged_for_the_whole_run() -> None:
    t = run_times()
    n2 = 5.0 + 2.0 * t / HOUR
    fig = co2_reduction_figures(t, {"CO": linear(t, 8.0)}, MASS_G, lamp_on_s=HOUR, n2_umol=n2, o2_umol=0.27 * n2)
    assert fig.leak_suspect is True
    assert "N2 rose" in fig.leak_message and "O2 rose" in fig.leak_message
    assert "CO2-reduction figures with caution" in fig.leak_message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"amounts_umol": {}}, r"amounts_umol must map product names"),
        ({"amounts_umol": {"C2H4": [0, 1, 2, 3]}}, r"unknown product\(s\) 'C2H4'.*use one of CO"),
        ({"amounts_umol": {"CO": [0, 1, 2]}}, r"amounts_umol\['CO'\] has 3 values but times_s has 4"),
        ({"amounts_umol": {"CO": [0, 1, math.nan, 3]}}, r"amounts_umol\['CO'\]\[2\] is nan; drop or fill"),
        ({"catalyst_mass_g": 0.0}, r"catalyst_mass_g must be > 0 g, got 0.0; pass the weighed"),
        ({"lamp_on_s": 3 * HOUR}, r"need at least 2 points at or after lamp-on .* got 1"),
        ({"times_s": [0, HOUR, HOUR, 3 * HOUR]}, r"times_s must be strictly increasing"),
        ({"wavelength_nm": 420.0}, r"wavelength_nm was given without light_power_w"),
        ({"in_range": {"H2": [True] * 4}}, r"in_range names 'H2', which is not in amounts_umol"),
        ({"in_range": {"CO": [True] * 3}}, r"in_range\['CO'\] has shape \(3,\) but times_s has 4 points"),
        ({"n2_umol": [1.0, 2.0]}, r"n2_umol has 2 values but times_s has 4"),
    ],
)
def test_errors_name_the_value_and_the_fix(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "times_s": [0.0, HOUR, 2 * HOUR, 3 * HOUR],
        "amounts_umol": {"CO": [0.0, 0.0, 1.0, 2.0]},
        "catalyst_mass_g": MASS_G,
        "lamp_on_s": HOUR,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match) as info:
        co2_reduction_figures(**args)  # type: ignore[arg-type]
    assert str(info.value).startswith("co2_reduction_figures: ")
