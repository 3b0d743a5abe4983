"""Tests of the H2-evolution figures of merit: rate fit, linear window, dark rate, AQY, leak flag."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from labctl.analysis.gas_phase import (
    amount_from_ideal_gas,
    h2_figures_of_merit,
    linear_fit,
    photon_moles,
)

HOUR = 3600.0
MASS_G = 0.010


def run_times(dark_h: float = 1.0, lit_h: float = 5.0) -> np.ndarray:
    """Sample times (s): dark every 15 min from 0, lamp on at ``dark_h``, then every 30 min."""
    dark = np.arange(0.0, dark_h - 1e-9, 0.25)
    lit = dark_h + np.arange(0.0, lit_h + 1e-9, 0.5)
    return np.concatenate([dark, lit]) * HOUR


def linear_run(slope_umol_per_h: float, noise_umol: float = 0.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    t = run_times()
    irradiated_h = np.clip(t / HOUR - 1.0, 0.0, None)
    rng = np.random.default_rng(seed)
    return t, slope_umol_per_h * irradiated_h + noise_umol * rng.standard_normal(t.size)


def test_known_slope_is_recovered_with_a_sensible_stderr() -> None:
    t, h2 = linear_run(30.0, noise_umol=0.2)
    result = h2_figures_of_merit(t, h2, MASS_G, lamp_on_s=HOUR)
    assert result.rate_umol_per_g_h == pytest.approx(3000.0, rel=0.01)
    # the slope's standard error of an ordinary least-squares line (n - 2 degrees of freedom),
    # computed independently over the 11 lit points 0..5 h
    lit = t >= HOUR
    independent = stats.linregress((t[lit] - HOUR) / HOUR, h2[lit])
    assert result.rate_stderr == pytest.approx(independent.stderr / MASS_G, rel=1e-9)
    assert result.rate_umol_per_g_h == pytest.approx(independent.slope / MASS_G, rel=1e-9)
    # and it is of the size the noise implies: sigma / sqrt(Sxx) / mass
    lit_h = np.arange(0.0, 5.01, 0.5)
    expected_se = 0.2 / math.sqrt(np.sum((lit_h - lit_h.mean()) ** 2)) / MASS_G
    assert expected_se / 3 < result.rate_stderr < expected_se * 3
    assert abs(result.rate_umol_per_g_h - 3000.0) < 4 * result.rate_stderr
    assert result.linear_points == 11
    assert result.fit_window_h == pytest.approx((0.0, 5.0))
    assert result.r_squared > 0.999
    assert result.duration_h == pytest.approx(5.0)
    assert result.total_umol == pytest.approx(150.0, abs=1.0)
    assert result.times_h[0] == 0.0
    assert result.cumulative_umol.size == 11


def test_noise_free_line_is_exact() -> None:
    t, h2 = linear_run(12.5)
    result = h2_figures_of_merit(t, h2, 0.005, lamp_on_s=HOUR)
    assert result.rate_umol_per_g_h == pytest.approx(2500.0, rel=1e-9)
    assert result.rate_stderr == pytest.approx(0.0, abs=1e-6)
    assert result.fit_intercept_umol == pytest.approx(0.0, abs=1e-9)


def test_dark_points_are_excluded_and_the_dark_rate_is_about_zero() -> None:
    t, h2 = linear_run(30.0, noise_umol=0.1, seed=7)
    result = h2_figures_of_merit(t, h2, MASS_G, lamp_on_s=HOUR)
    assert result.dark_rate is not None
    assert result.dark_rate_stderr is not None
    assert abs(result.dark_rate) < 3 * result.dark_rate_stderr + 1e-9
    assert abs(result.dark_rate) < 0.05 * result.rate_umol_per_g_h
    assert result.baseline_umol == pytest.approx(0.0, abs=0.5)
    # the dark points are not in the fit: no dark-induced bias on the slope
    assert result.rate_umol_per_g_h == pytest.approx(3000.0, rel=0.01)
    assert result.times_h.min() == 0.0
    assert result.to_dict()["dark_rate"] == pytest.approx(result.dark_rate)


def test_dark_h2_rise_is_noted() -> None:
    t = run_times()
    h2 = np.where(t < HOUR, 2.0 * t / HOUR, 2.0 + 30.0 * (t / HOUR - 1.0))
    result = h2_figures_of_merit(t, h2, MASS_G, lamp_on_s=HOUR)
    assert result.dark_rate == pytest.approx(200.0, rel=1e-6)
    assert any("in the dark" in note for note in result.notes)


def test_the_dark_baseline_is_carried_forward_to_lamp_on() -> None:
    """A headspace rising in the dark: the evolved amount counts from the dark line at lamp-on.

    Dark at 0, 0.25, 0.5, 0.75 h: 1.0 + 0.4 t umol (exactly a line); its value at lamp-on (1 h)
    is 1.4 umol, not its intercept (1.0), its mean (1.15) nor its last point (1.3).  Under light
    H2 = 1.4 + 10 (t - 1) umol to 21.4 umol at 3 h: 20.0 umol evolved, an AQY of 2 x 20.0 umol
    over the photons of 0.1 W at 420 nm for 2 h.
    """
    t_h = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0])
    h2 = np.where(t_h < 1.0, 1.0 + 0.4 * t_h, 1.4 + 10.0 * (t_h - 1.0))
    result = h2_figures_of_merit(t_h * HOUR, h2, MASS_G, lamp_on_s=HOUR, light_power_w=0.1, wavelength_nm=420.0)
    assert result.baseline_umol == pytest.approx(1.4, rel=1e-12)
    assert result.total_umol == pytest.approx(20.0, rel=1e-12)
    photons_umol = 0.1 * 2 * HOUR * 420e-9 / (6.62607015e-34 * 299792458.0 * 6.02214076e23) * 1e6
    assert result.aqy_percent == pytest.approx(2 * 20.0 / photons_umol * 100, rel=1e-12)
    assert result.dark_rate == pytest.approx(0.4 / MASS_G, rel=1e-12)
    assert result.to_dict()["baseline_umol"] == pytest.approx(1.4, rel=1e-12)


def test_without_dark_points_the_baseline_is_zero() -> None:
    t = np.arange(0.0, 5.01, 0.5) * HOUR
    result = h2_figures_of_merit(t, 30.0 * t / HOUR + 1.0, MASS_G, lamp_on_s=0.0)
    assert result.dark_rate is None
    assert result.total_umol == pytest.approx(151.0)
    assert any("no dark points" in note for note in result.notes)


def test_a_bending_curve_uses_its_early_linear_part() -> None:
    # 30 umol/h for 4 h, then the rate decays with a 1 h time constant (donor used up)
    t_h = np.arange(0.0, 12.01, 0.5)
    h2 = np.where(t_h <= 4.0, 30.0 * t_h, 120.0 + 30.0 * (1.0 - np.exp(-(t_h - 4.0))))
    rng = np.random.default_rng(5)
    noisy = h2 + 0.3 * rng.standard_normal(t_h.size)
    for data in (h2, noisy):
        result = h2_figures_of_merit(t_h * HOUR, data, MASS_G, lamp_on_s=0.0)
        assert result.fit_window_h[0] == 0.0
        assert 3.5 <= result.fit_window_h[1] <= 5.0
        assert result.linear_points < t_h.size
        assert result.rate_umol_per_g_h == pytest.approx(3000.0, rel=0.02)
        assert any("linear part" in note for note in result.notes)
        overall = linear_fit(t_h, data).slope / MASS_G
        assert result.rate_umol_per_g_h > 1.5 * overall


def test_a_saturating_curve_keeps_only_its_first_points() -> None:
    r0, tau_h = 30.0, 3.0  # umol/h; strong deactivation, bending from the start
    t_h = np.arange(0.0, 12.01, 0.5)
    h2 = r0 * tau_h * (1.0 - np.exp(-t_h / tau_h))
    result = h2_figures_of_merit(t_h * HOUR, h2, MASS_G, lamp_on_s=0.0)
    assert result.fit_window_h == pytest.approx((0.0, 1.0))
    assert result.rate_umol_per_g_h == pytest.approx(r0 / MASS_G, rel=0.2)


def test_a_mild_deactivation_gives_about_the_initial_rate() -> None:
    tau_h = -1.0 / math.log(1 - 0.03)  # 3 % per hour
    t_h = np.arange(0.0, 24.01, 0.5)
    h2 = 30.0 * tau_h * (1.0 - np.exp(-t_h / tau_h))
    result = h2_figures_of_merit(t_h * HOUR, h2, MASS_G, lamp_on_s=0.0)
    assert result.fit_window_h[1] >= 2.5
    assert result.rate_umol_per_g_h == pytest.approx(3000.0, rel=0.05)
    overall = linear_fit(t_h, h2).slope / MASS_G
    assert overall < 0.8 * result.rate_umol_per_g_h


def test_a_noisy_straight_line_uses_every_point() -> None:
    t_h = np.arange(0.0, 8.01, 0.5)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        h2 = 30.0 * t_h + 1.0 * rng.standard_normal(t_h.size)
        result = h2_figures_of_merit(t_h * HOUR, h2, MASS_G, lamp_on_s=0.0)
        assert result.linear_points == t_h.size


def test_photon_moles_by_hand() -> None:
    # 0.1 W for 1 h at 420 nm: P t lambda / (h c N_A)
    hand = 0.1 * 3600.0 * 420e-9 / (6.62607015e-34 * 299792458.0 * 6.02214076e23)
    assert hand == pytest.approx(1.26393e-3, rel=1e-5)
    assert photon_moles(0.1, 3600.0, 420.0) == pytest.approx(hand, rel=1e-12)


def test_aqy_matches_a_hand_calculation() -> None:
    photons_umol = 1263.93  # 0.1 W, 1 h, 420 nm
    evolved = 6.3197  # umol H2 -> AQY = 2 x 6.3197 / 1263.93 x 100 = 1.000 %
    t = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]) * HOUR
    h2 = np.where(t < HOUR, 0.0, evolved * (t / HOUR - 1.0))
    result = h2_figures_of_merit(t, h2, MASS_G, lamp_on_s=HOUR, light_power_w=0.1, wavelength_nm=420.0)
    assert result.photons_umol == pytest.approx(photons_umol, rel=1e-5)
    assert result.aqy_percent == pytest.approx(2 * evolved / photons_umol * 100, rel=1e-5)
    assert result.aqy_percent == pytest.approx(1.000, abs=1e-3)
    assert result.to_dict()["aqy"] == pytest.approx(1.000, abs=1e-3)


def test_aqy_uses_the_given_irradiation_time() -> None:
    t = np.array([0.0, 1.0, 2.0]) * HOUR
    h2 = np.array([0.0, 3.0, 6.3197])
    half = h2_figures_of_merit(
        t,
        h2,
        MASS_G,
        lamp_on_s=0.0,
        light_power_w=0.1,
        wavelength_nm=420.0,
        irradiated_s=HOUR,
    )
    assert half.aqy_percent == pytest.approx(1.000, abs=1e-3)


def test_aqy_is_none_under_broadband_light() -> None:
    t, h2 = linear_run(30.0)
    result = h2_figures_of_merit(t, h2, MASS_G, lamp_on_s=HOUR, light_power_w=30.0)
    assert result.aqy_percent is None
    assert result.to_dict()["aqy"] is None
    assert any("broadband" in note for note in result.notes)


def test_rising_n2_flags_a_leak() -> None:
    t, h2 = linear_run(30.0, noise_umol=0.1)
    rng = np.random.default_rng(3)
    n2 = 0.5 + 0.1 * t / HOUR + 0.01 * rng.standard_normal(t.size)
    o2 = 0.21 / 0.78 * n2
    result = h2_figures_of_merit(t, h2, MASS_G, lamp_on_s=HOUR, n2_umol=n2, o2_umol=o2)
    assert result.leak_suspect
    assert "N2 rose" in result.leak_message
    assert "O2 rose" in result.leak_message
    assert "leak" in result.leak_message
    assert result.to_dict()["leak_suspect"] is True


def test_n2_rising_from_zero_after_the_purge_flags_a_leak() -> None:
    t, h2 = linear_run(30.0)
    n2 = 0.8 * t / HOUR  # none after the Ar purge, then a steady inflow of air
    result = h2_figures_of_merit(t, h2, MASS_G, lamp_on_s=HOUR, n2_umol=n2)
    assert result.leak_suspect
    assert result.leak_message.startswith("N2 rose from about zero to 4.8 (slope 0.8")


def test_flat_n2_is_not_a_leak() -> None:
    t, h2 = linear_run(30.0, noise_umol=0.1)
    rng = np.random.default_rng(4)
    noisy = 0.5 + 0.01 * rng.standard_normal(t.size)
    for n2 in (noisy, np.full(t.size, 0.5), np.zeros(t.size)):
        result = h2_figures_of_merit(t, h2, MASS_G, lamp_on_s=HOUR, n2_umol=n2)
        assert not result.leak_suspect
        assert result.leak_message == ""


def test_a_tiny_significant_n2_drift_is_not_a_leak() -> None:
    t, h2 = linear_run(30.0)
    n2 = 100.0 + 0.001 * t / HOUR  # significant but 0.006 % over the run
    result = h2_figures_of_merit(t, h2, MASS_G, lamp_on_s=HOUR, n2_umol=n2)
    assert not result.leak_suspect


def test_to_dict_is_json_serializable() -> None:
    t = np.array([0.0, 1.0, 2.0]) * HOUR
    result = h2_figures_of_merit(t, [0.0, 0.0, 30.0], MASS_G, lamp_on_s=HOUR)
    data = json.loads(json.dumps(result.to_dict()))
    for key in ("rate", "rate_stderr", "r_squared", "total_umol", "aqy", "leak_suspect", "duration_h"):
        assert key in data
    assert data["rate"] == pytest.approx(3000.0)
    assert data["rate_stderr"] is None  # two lit points: no degrees of freedom
    assert data["duration_h"] == pytest.approx(1.0)


def test_amount_from_ideal_gas() -> None:
    # 1 mmol of ideal gas occupies R T / p = 24.465 mL at 298.15 K and 1 atm
    volume_ml = 8.314462618 * 298.15 / 101325.0 * 1e6 * 1e-3
    assert amount_from_ideal_gas(1.0, 101325.0, volume_ml, 298.15) == pytest.approx(1000.0)
    fractions = amount_from_ideal_gas([0.5, 0.25], 101325.0, volume_ml, 298.15)
    assert fractions == pytest.approx([500.0, 250.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"times_s": [0.0, 3600.0, 7200.0], "h2_umol": [0.0, 0.0, 1.0], "lamp_on_s": 7200.0},
            "at least 2 points at or after lamp-on",
        ),
        ({"catalyst_mass_g": 0.0}, "catalyst_mass_g must be > 0"),
        ({"catalyst_mass_g": -0.01}, "catalyst_mass_g must be > 0"),
        ({"h2_umol": [0.0, 1.0]}, "h2_umol has 2 values but times_s has 3"),
        ({"n2_umol": [0.5, 0.5]}, "n2_umol has 2 values"),
        ({"times_s": [0.0, 7200.0, 3600.0]}, "strictly increasing"),
        ({"h2_umol": [0.0, math.nan, 1.0]}, r"h2_umol\[1\] is nan"),
        ({"wavelength_nm": 420.0}, "without light_power_w"),
        ({"wavelength_nm": 420.0, "light_power_w": -0.1}, "power_w must be"),
    ],
)
def test_bad_inputs_raise(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "times_s": [0.0, 3600.0, 7200.0],
        "h2_umol": [0.0, 1.0, 2.0],
        "catalyst_mass_g": MASS_G,
        "lamp_on_s": 0.0,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        h2_figures_of_merit(**args)  # type: ignore[arg-type]


def test_photon_moles_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="wavelength_nm must be"):
        photon_moles(0.1, 3600.0, 0.0)
    with pytest.raises(ValueError, match="seconds must be"):
        photon_moles(0.1, -1.0, 420.0)


def test_samples_below_the_detection_limit_do_not_flatten_the_rate() -> None:
    """A product the GC cannot see yet reads exactly 0; the rate comes from the detected points, flagged."""
    t_h = np.arange(0.0, 6.01, 1.0)  # lamp on at 0, samples every hour
    true = 0.5 * t_h  # umol
    seen = np.where(true < 1.2, 0.0, true)  # the first two samples after lamp-on are below the limit
    result = h2_figures_of_merit(t_h * HOUR, seen, MASS_G, lamp_on_s=0.0)
    assert result.rate_umol_per_g_h == pytest.approx(0.5 / MASS_G, rel=1e-6)
    assert any("below the GC detection limit" in n for n in result.notes)
    naive = linear_fit(t_h[1:], seen[1:]).slope / MASS_G  # what a line through the zeros would say
    assert naive > 1.1 * result.rate_umol_per_g_h
