"""A simulated Ocean Insight array spectrometer with the attributes of python-seabreeze's ``Spectrometer``.

:class:`SimulatedSpectrometer` stands in for ``seabreeze.spectrometers.Spectrometer`` behind
:class:`labctl.devices.drivers.spectrometer.Spectrometer`: ``integration_time_micros(us)``,
``integration_time_micros_limits``, ``wavelengths()``, ``intensities(correct_dark_counts,
correct_nonlinearity)``, ``max_intensity``, ``model``, ``serial_number``, ``pixels`` and
``close()``, and the feature accessor ``f`` with cseabreeze's ``f.strobe_lamp.enable_lamp(on)``
driving the Lamp Enable TTL line (``f.continuous_strobe`` is ``None``, as python-seabreeze gives
for a feature it does not offer).  Time comes only from the ``clock`` callable given to the
constructor (seconds).

The Lamp Enable line drives nothing inside the simulator: a ``source`` that models a shuttered
lamp reads :attr:`SimulatedSpectrometer.lamp_enabled`, or :attr:`SimulatedSpectrometer.lamp_changes`
(every change with its time) to integrate the light over the part of a window the shutter was open.

The light comes from ``source(t0, t1, wavelengths_nm)``: the expected number of photons reaching
each pixel during ``[t0, t1]``, before the detector.  :meth:`SimulatedSpectrometer.intensities`
integrates over ``[clock() - integration time, clock()]``, i.e. the read returns the integration
that just ended.  Detector model, per pixel:

* photoelectrons: mean photons x :func:`responsivity` x ``ELECTRONS_PER_COUNT``, with Poisson
  (shot) noise, so the signal's variance in counts is mean / ``ELECTRONS_PER_COUNT``;
* dark current: ``dark_counts_per_s`` x integration, in counts of one electron each, also
  Poisson;
* Gaussian read noise (``read_noise_counts`` rms) and the electronic baseline
  (``baseline_counts``); the sum is rounded to whole counts and clipped to
  ``[0, max_intensity]`` (saturation).
* Shot and read noise are drawn together as one Gaussian per pixel of variance shot + read:
  the exact mean and variance; the shape is the Poisson's normal limit where the shot noise
  counts (> :data:`POISSON_NORMAL_LIMIT` electrons) and read-noise-dominated below it.
* The first :data:`BLACK_PIXELS` pixels are optically black: no light and, in this model, no dark
  current, only baseline and read noise.  ``correct_dark_counts=True`` subtracts their mean from
  every pixel (as python-seabreeze does with the electric dark pixels), so a corrected dark frame
  averages the dark current, ~0.
* ``correct_nonlinearity`` is accepted and ignored: the simulated detector is linear.

Our choices (plausible, not taken from a data sheet): the wavelength calibration is a gentle
quadratic in pixel index spanning ``wavelength_range_nm``; :func:`responsivity` is a smooth curve
(silicon CCD quantum efficiency x grating efficiency) peaking near 560 nm at 0.15 counts/photon
and falling to ~0.016 at 250 nm and ~0.026 at 850 nm; ``ELECTRONS_PER_COUNT = 1`` (a ~62 ke- full well on a
16-bit ADC, as on the ILX511B of a FLAME-S).

:meth:`SimulatedSpectrometer.irradiance_calibration` returns ``(wavelengths, relative
responsivity)`` the way a factory calibration file gives it: relative to the peak (~1 there) and
off the true curve by a smooth error of at most :data:`CALIBRATION_ERROR` (1.5 %).

Faults on demand: :meth:`SimulatedSpectrometer.stop_answering` makes ``intensities`` raise
:class:`SeaBreezeError` (a USB transfer timing out).  :attr:`SimulatedSpectrometer.acquisitions`
counts the spectra returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np

BLACK_PIXELS: Final = 18
"""Number of optically black pixels at the start of the array."""

CALIBRATION_ERROR: Final = 0.015
"""Largest relative error of :meth:`SimulatedSpectrometer.irradiance_calibration`."""

_PEAK_COUNTS_PER_PHOTON: Final = 0.15


POISSON_NORMAL_LIMIT: Final = 20.0  # electrons: the shot noise is normal above, under the read noise below


class SeaBreezeError(Exception):
    """Stand-in for ``seabreeze.spectrometers.SeaBreezeError`` (same name, same role)."""


class _StrobeLamp:
    """cseabreeze's ``SeaBreezeStrobeLampFeature``: ``enable_lamp(state)`` sets the Lamp Enable line."""

    def __init__(self, spectrometer: SimulatedSpectrometer) -> None:
        self._spectrometer = spectrometer

    def enable_lamp(self, state: bool) -> None:
        self._spectrometer._set_lamp_line(bool(state))


class _Features:
    """The feature accessor ``f``: a feature the model lacks is ``None``, as in python-seabreeze."""

    def __init__(self, spectrometer: SimulatedSpectrometer) -> None:
        self.strobe_lamp: _StrobeLamp | None = _StrobeLamp(spectrometer)
        self.continuous_strobe: object | None = None


def _shape(wavelengths_nm: np.ndarray) -> np.ndarray:
    wl = np.asarray(wavelengths_nm, dtype=float)
    ccd_qe = np.exp(-0.5 * ((wl - 620.0) / 200.0) ** 2)  # silicon: weak in the UV, falls past ~800 nm
    grating = np.exp(-0.5 * ((wl - 500.0) / 230.0) ** 2)  # blazed near 500 nm
    return ccd_qe * grating


_SHAPE_PEAK: Final = float(_shape(np.linspace(150.0, 1100.0, 9501)).max())


def responsivity(wavelengths_nm: np.ndarray) -> np.ndarray:
    """True detector responsivity in counts per photon reaching the pixel (our smooth model)."""
    return _PEAK_COUNTS_PER_PHOTON * _shape(wavelengths_nm) / _SHAPE_PEAK


class SimulatedSpectrometer:
    """A python-seabreeze ``Spectrometer`` look-alike; see the module docstring for the model.

    :param clock: returns the current time in seconds (the only time source).
    :param source: ``source(t0, t1, wavelengths_nm)`` -> expected photons per pixel in ``[t0, t1]``.
    :param integration_limits_us: ``(min, max)`` integration time in µs.
    :param baseline_counts: electronic offset added to every pixel.
    :param read_noise_counts: rms Gaussian read noise.
    :param dark_counts_per_s: dark current of an illuminable pixel, counts per second.
    :param seed: seed of the noise generator (same seed, same frames).
    """

    ELECTRONS_PER_COUNT: Final = 1.0

    def __init__(
        self,
        clock: Callable[[], float],
        source: Callable[[float, float, np.ndarray], np.ndarray],
        *,
        model: str = "FLAME-S",
        serial_number: str = "FLMS0SIM",
        pixels: int = 2048,
        wavelength_range_nm: tuple[float, float] = (200.0, 850.0),
        max_intensity: float = 65535.0,
        integration_limits_us: tuple[int, int] = (1000, 65_000_000),
        baseline_counts: float = 1500.0,
        read_noise_counts: float = 12.0,
        dark_counts_per_s: float = 40.0,
        seed: int = 0,
    ) -> None:
        lo_nm, hi_nm = wavelength_range_nm
        lo_us, hi_us = integration_limits_us
        if pixels <= BLACK_PIXELS:
            raise ValueError(f"pixels={pixels} must exceed the {BLACK_PIXELS} black pixels; use e.g. 2048")
        if not 0 < lo_nm < hi_nm:
            raise ValueError(f"wavelength_range_nm={wavelength_range_nm} must be (low, high) with 0 < low < high")
        if not 0 < lo_us <= hi_us:
            raise ValueError(f"integration_limits_us={integration_limits_us} must be (min, max) with 0 < min <= max")
        if not 0 <= baseline_counts < max_intensity:
            raise ValueError(f"baseline_counts={baseline_counts} must be in [0, max_intensity={max_intensity})")
        if read_noise_counts < 0 or dark_counts_per_s < 0:
            raise ValueError("read_noise_counts and dark_counts_per_s must be >= 0")
        self._clock = clock
        self._source = source
        self.model = model
        self.serial_number = serial_number
        self.pixels = int(pixels)
        self.max_intensity = float(max_intensity)
        self.integration_time_micros_limits: tuple[int, int] = (int(lo_us), int(hi_us))
        self.baseline_counts = float(baseline_counts)
        self.read_noise_counts = float(read_noise_counts)
        self.dark_counts_per_s = float(dark_counts_per_s)
        self._rng = np.random.default_rng(seed)
        x = np.linspace(0.0, 1.0, self.pixels)
        self._wavelengths = lo_nm + (hi_nm - lo_nm) * (x + 0.06 * x * (1.0 - x))
        self._responsivity = responsivity(self._wavelengths)
        self._integration_us = min(max(10_000, int(lo_us)), int(hi_us))  # 10 ms until set
        self._answering = True
        self._closed = False
        self.acquisitions = 0
        """Number of spectra returned by :meth:`intensities`."""
        self.f = _Features(self)
        self._lamp_line = False
        self.lamp_changes: list[tuple[float, bool]] = []
        """Every change of the Lamp Enable line as ``(clock time, new state)``; the line starts low."""

    # -- python-seabreeze API --------------------------------------------------------------------
    def integration_time_micros(self, integration_time_micros: int) -> None:
        lo, hi = self.integration_time_micros_limits
        value = int(integration_time_micros)
        if not lo <= value <= hi:
            raise SeaBreezeError(f"Integration not in [{lo:d}, {hi:d}]")
        self._integration_us = value

    def wavelengths(self) -> np.ndarray:
        return self._wavelengths.copy()

    def intensities(self, correct_dark_counts: bool = False, correct_nonlinearity: bool = False) -> np.ndarray:
        if self._closed:
            raise SeaBreezeError("Device is closed")
        if not self._answering:
            raise SeaBreezeError("Data transfer error: USB read timed out")
        t1 = float(self._clock())
        seconds = self._integration_us / 1e6
        photons = np.asarray(self._source(t1 - seconds, t1, self._wavelengths), dtype=float)
        if photons.shape != (self.pixels,):
            raise ValueError(f"source returned shape {photons.shape}, expected ({self.pixels},) photons per pixel")
        photons = np.clip(photons, 0.0, None)
        photons[:BLACK_PIXELS] = 0.0
        g = self.ELECTRONS_PER_COUNT
        # Signal and dark current are independent Poisson processes (one draw of their sum), the
        # read noise is Gaussian.  Where a pixel expects fewer than POISSON_NORMAL_LIMIT electrons
        # the read noise (12 counts rms) dominates its shot noise, and where it expects more the
        # Poisson count is in its normal limit: so the frame is drawn as one Gaussian per pixel of
        # variance shot + read -- exact mean and variance, ~5x cheaper than a Poisson draw, which
        # matters on a 4,000-spectrum overnight run.
        mean = photons * self._responsivity * g + self._dark_mean(seconds, g)
        sigma = np.sqrt(mean / g**2 + self.read_noise_counts**2)
        counts = np.rint(mean / g + sigma * self._rng.standard_normal(self.pixels) + self.baseline_counts)
        counts = np.clip(counts, 0.0, self.max_intensity)
        if correct_dark_counts:
            counts = counts - counts[:BLACK_PIXELS].mean()
        self.acquisitions += 1
        return counts

    def close(self) -> None:
        self._closed = True

    def _dark_mean(self, seconds: float, g: float) -> np.ndarray:
        """Mean dark electrons per pixel in ``seconds`` (none on the black pixels)."""
        dark = np.full(self.pixels, self.dark_counts_per_s * seconds * g)
        dark[:BLACK_PIXELS] = 0.0
        return dark

    def _set_lamp_line(self, on: bool) -> None:
        if self._closed:
            raise SeaBreezeError("Device is closed")
        if on != self._lamp_line:
            self.lamp_changes.append((float(self._clock()), on))
        self._lamp_line = on

    # -- simulation extras -------------------------------------------------------------------------
    @property
    def lamp_enabled(self) -> bool:
        """The Lamp Enable line's state (True: high)."""
        return self._lamp_line

    @property
    def integration_time_s(self) -> float:
        """The integration time in use (s)."""
        return self._integration_us / 1e6

    def true_responsivity(self) -> np.ndarray:
        """The responsivity (counts per photon) of each pixel used by the detector model."""
        return self._responsivity.copy()

    def irradiance_calibration(self) -> tuple[np.ndarray, np.ndarray]:
        """``(wavelengths_nm, relative responsivity)`` as a factory calibration file gives it.

        Relative to the true peak responsivity (so ~1 at the peak); it differs from the true
        relative curve by a smooth relative error of at most :data:`CALIBRATION_ERROR` (a slow
        ripple and a tilt across the range).
        """
        wl = self._wavelengths.copy()
        x = (wl - wl[0]) / (wl[-1] - wl[0])
        error = CALIBRATION_ERROR * (0.6 * np.sin(2.0 * np.pi * 1.3 * x + 0.4) + 0.4 * (2.0 * x - 1.0))
        return wl, self._responsivity * (1.0 + error) / self._responsivity.max()

    def stop_answering(self, on: bool = True) -> None:
        """While on, :meth:`intensities` raises :class:`SeaBreezeError` (a USB transfer timing out)."""
        self._answering = not on
