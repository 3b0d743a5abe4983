"""The simulated array spectrometer: seabreeze attributes, detector statistics, calibration, faults."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from labctl.sim.instruments.spectrometer import (
    BLACK_PIXELS,
    CALIBRATION_ERROR,
    SeaBreezeError,
    SimulatedSpectrometer,
    responsivity,
)

T0 = 500.0


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class RecordingSource:
    """Flat illumination of ``rate`` photons/s per pixel; remembers the windows asked for."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.windows: list[tuple[float, float]] = []

    def __call__(self, t0: float, t1: float, wl: np.ndarray) -> np.ndarray:
        self.windows.append((t0, t1))
        return np.full(wl.shape, self.rate * (t1 - t0))


def make(rate: float = 0.0, **kwargs: Any) -> tuple[SimulatedSpectrometer, RecordingSource, FakeClock]:
    clock, source = FakeClock(), RecordingSource(rate)
    return SimulatedSpectrometer(clock, source, **kwargs), source, clock


def test_seabreeze_attributes() -> None:
    sim, _, _ = make()
    assert (sim.model, sim.serial_number, sim.pixels, sim.max_intensity) == ("FLAME-S", "FLMS0SIM", 2048, 65535.0)
    assert sim.integration_time_micros_limits == (1000, 65_000_000)
    wl = sim.wavelengths()
    assert wl.shape == (2048,) and np.all(np.diff(wl) > 0)
    assert (wl[0], wl[-1]) == pytest.approx((200.0, 850.0))
    assert sim.intensities().shape == (2048,)


@pytest.mark.parametrize("micros", [999, 65_000_001, 0])
def test_integration_out_of_range_raises_seabreeze_error(micros: int) -> None:
    sim, _, _ = make()
    with pytest.raises(SeaBreezeError, match=r"Integration not in \[1000, 65000000\]"):
        sim.integration_time_micros(micros)
    assert sim.integration_time_s == 0.01  # unchanged


def test_integrates_over_the_window_ending_now() -> None:
    sim, source, clock = make(rate=1.0)
    sim.integration_time_micros(250_000)
    clock.t = 1234.5
    sim.intensities()
    assert source.windows == [(pytest.approx(1234.25), 1234.5)]


def test_responsivity_curve() -> None:
    wl = np.linspace(200.0, 900.0, 701)
    r = responsivity(wl)
    assert 500.0 <= wl[np.argmax(r)] <= 600.0
    assert 0.1 <= r.max() <= 0.2
    assert responsivity(np.array([250.0]))[0] < 0.2 * r.max()
    assert responsivity(np.array([850.0]))[0] < 0.2 * r.max()
    assert np.all(np.abs(np.diff(r, 2)) < 1e-4)  # smooth


def test_saturation_clips_at_max_intensity() -> None:
    sim, _, _ = make(rate=1e9)
    sim.integration_time_micros(1_000_000)
    raw = sim.intensities()
    assert raw.max() == 65535.0
    lit = raw[BLACK_PIXELS:]
    assert np.mean(lit == 65535.0) > 0.9
    assert raw[:BLACK_PIXELS].mean() == pytest.approx(1500.0, abs=10)  # black pixels still read the baseline


def test_smaller_max_intensity() -> None:
    sim, _, _ = make(rate=1e9, max_intensity=4095.0, baseline_counts=100.0)
    assert sim.intensities().max() == 4095.0


def test_shot_noise_variance_is_mean_over_gain() -> None:
    sim, _, _ = make(rate=2e5, read_noise_counts=0.0, dark_counts_per_s=0.0, seed=3)
    sim.integration_time_micros(100_000)
    frames = np.array([sim.intensities(correct_dark_counts=True) for _ in range(400)])
    peak = int(np.argmax(sim.true_responsivity()))
    pixels = slice(peak - 50, peak + 50)
    mean = frames[:, pixels].mean(axis=0)
    variance = frames[:, pixels].var(axis=0, ddof=1)
    expected_mean = 2e5 * 0.1 * sim.true_responsivity()[pixels]
    assert mean.mean() == pytest.approx(expected_mean.mean(), rel=0.01)
    # Var(counts) = mean counts / (electrons per count); rounding adds 1/12 count^2.
    ratio = variance.mean() / (mean.mean() / sim.ELECTRONS_PER_COUNT + 1 / 12)
    assert ratio == pytest.approx(1.0, abs=0.05)
    assert sim.acquisitions == 400


def test_read_noise_on_black_pixels() -> None:
    sim, _, _ = make(read_noise_counts=12.0, seed=5)
    frames = np.array([sim.intensities()[:BLACK_PIXELS] for _ in range(300)])
    assert frames.std() == pytest.approx(np.hypot(12.0, 1 / np.sqrt(12)), rel=0.05)


def test_dark_correction_removes_the_baseline() -> None:
    sim, _, _ = make(rate=0.0, dark_counts_per_s=40.0, read_noise_counts=12.0, seed=2)
    sim.integration_time_micros(2_000_000)
    raw = np.array([sim.intensities() for _ in range(50)])
    corrected = np.array([sim.intensities(correct_dark_counts=True) for _ in range(50)])
    assert raw[:, BLACK_PIXELS:].mean() == pytest.approx(1500.0 + 80.0, abs=2.0)
    assert corrected[:, BLACK_PIXELS:].mean() == pytest.approx(80.0, abs=2.0)  # only the dark current is left
    assert corrected[:, :BLACK_PIXELS].mean() == pytest.approx(0.0, abs=1e-9)


def test_twice_the_integration_twice_the_signal() -> None:
    sim, _, _ = make(rate=1e5, seed=4)
    sim.integration_time_micros(100_000)
    short = np.mean([sim.intensities(correct_dark_counts=True)[BLACK_PIXELS:] for _ in range(20)], axis=0)
    sim.integration_time_micros(200_000)
    long = np.mean([sim.intensities(correct_dark_counts=True)[BLACK_PIXELS:] for _ in range(20)], axis=0)
    bright = short > 500
    assert bright.sum() > 1000
    assert long[bright].sum() / short[bright].sum() == pytest.approx(2.0, rel=0.01)


def test_same_seed_same_frames() -> None:
    a, _, _ = make(rate=1e4, seed=9)
    b, _, _ = make(rate=1e4, seed=9)
    assert np.array_equal(a.intensities(), b.intensities())


def test_irradiance_calibration_is_close_to_the_truth() -> None:
    sim, _, _ = make()
    wl, relative = sim.irradiance_calibration()
    assert np.array_equal(wl, sim.wavelengths())
    true = sim.true_responsivity() / sim.true_responsivity().max()
    error = relative / true - 1.0
    assert np.abs(error).max() <= CALIBRATION_ERROR + 1e-12
    assert np.abs(error).max() > 0.005  # a real calibration is not exact
    assert relative.max() == pytest.approx(1.0, abs=CALIBRATION_ERROR)


def test_stop_answering() -> None:
    sim, _, _ = make()
    sim.stop_answering()
    with pytest.raises(SeaBreezeError, match="USB read timed out"):
        sim.intensities()
    assert sim.acquisitions == 0
    sim.stop_answering(False)
    sim.intensities()
    assert sim.acquisitions == 1


def test_closed_device_refuses() -> None:
    sim, _, _ = make()
    sim.close()
    with pytest.raises(SeaBreezeError, match="closed"):
        sim.intensities()


def test_source_with_wrong_shape_is_reported() -> None:
    sim = SimulatedSpectrometer(FakeClock(), lambda t0, t1, wl: np.zeros(3))
    with pytest.raises(ValueError, match=r"source returned shape \(3,\), expected \(2048,\)"):
        sim.intensities()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pixels": 10},
        {"wavelength_range_nm": (800.0, 200.0)},
        {"integration_limits_us": (0, 10)},
        {"baseline_counts": 70000.0},
        {"read_noise_counts": -1.0},
    ],
)
def test_bad_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimulatedSpectrometer(FakeClock(), RecordingSource(0.0), **kwargs)
