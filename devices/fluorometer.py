"""A fluorometer built from documented parts, as one ophyd-async device a plan uses without knowing them.

Parts: a Newport Cornerstone 130/260 excitation monochromator in front of a CW Xe lamp (its
shutter is the only way light reaches the sample), an Ocean Insight spectrometer on the
emission side, and for µs decays a pulsed source triggering an SRS SR430 multichannel scaler
counting a PMT behind an emission band-pass filter.

What a plan sees:

* ``fluor.excitation`` -- movable to a wavelength (nm; refused outside the grating's range
  before anything moves); ``bandwidth`` (nm, set through the entrance/exit slits with the
  grating's dispersion; refused above the widest slit); ``shutter`` (``Open``/``Closed``).
* ``fluor.integration_time`` (s, the spectrometer's dwell), ``fluor.emission`` and
  ``fluor.emission_bandwidth`` (nm: the band integrated into a PL point).
* ``fluor.calibration`` -- trigger and read: the spectrometer's wavelengths and the emission
  path's relative spectral responsivity (ones when the bench gives none).
* ``fluor.dark`` -- trigger: closes the shutter, records a dark spectrum at the current
  integration time, restores the shutter; later readings subtract it.
* ``fluor.point`` -- trigger: one acquisition, read ``pl`` (dark-subtracted counts per second
  in the emission band), ``peak_counts`` and ``saturated``.  Cheap: one number per point.
* ``fluor.spectrum`` -- trigger: one acquisition, read the wavelength axis, the
  dark-subtracted counts and the spectrally corrected spectrum (relative photons s^-1 nm^-1).
* ``fluor.decay`` -- trigger: one multichannel-scaling histogram (``records`` pulses), read
  the bin times (s) and counts.

Saturation never raises here: it is read as ``saturated`` with ``suggested_integration_time``
so that the point is kept; plans decide what to do.  A spectrometer that stops answering
raises :class:`labctl.devices.transports.InstrumentNotResponding` from the trigger.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from bluesky.protocols import Movable
from ophyd_async.core import (
    Array1D,
    AsyncStatus,
    StandardReadable,
    StrictEnum,
    soft_signal_r_and_setter,
    soft_signal_rw,
)
from ophyd_async.core import StandardReadableFormat as Format

from labctl.devices.drivers.cornerstone import CornerstoneDriver
from labctl.devices.drivers.spectrometer import Spectrometer
from labctl.devices.drivers.sr430 import MultichannelScaler, scaler_settings

SATURATION_FRACTION = 0.98  # a pixel at or above this fraction of full scale is saturated
SCALER_FULL_BIN = 32767  # an SR430 bin stops counting here
SCALER_DEAD_PER_BIN_S = 250e-9  # SR430 busy time after a trigger: N x (bin width + 250 ns) + 150 µs
SCALER_DEAD_PER_RECORD_S = 150e-6


class ShutterState(StrictEnum):
    OPEN = "Open"
    CLOSED = "Closed"


class FluorometerLimitError(ValueError):
    """A fluorometer setting outside what the parts or the bench allow."""


@dataclass(frozen=True)
class Grating:
    """One grating of the excitation monochromator (from the bench file)."""

    number: int
    lines_per_mm: int
    range_nm: tuple[float, float]
    dispersion_nm_per_mm: float


@dataclass(frozen=True)
class Acquisition:
    """One spectrometer frame, dark-subtracted, with its saturation verdict."""

    wavelengths: np.ndarray
    counts: np.ndarray
    peak_raw: float
    saturated: bool
    integration_s: float


class ExcitationMonochromator(StandardReadable, Movable[float]):
    """The Cornerstone as a movable wavelength with band-pass and shutter settings."""

    def __init__(
        self,
        driver: CornerstoneDriver,
        *,
        grating: Grating,
        max_slit_um: float,
        min_slit_um: float = 10.0,
        name: str = "",
    ) -> None:
        self.driver = driver
        self.grating = grating
        self.max_slit_um = max_slit_um
        self.min_slit_um = min_slit_um
        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):  # re-read on every read, even staged
            self.wavelength = soft_signal_r_and_setter(float, units="nm", getter=driver.wavelength)[0]
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.bandwidth = soft_signal_rw(float, units="nm", getter=self._bandwidth, setter=self._set_bandwidth)
            self.shutter = soft_signal_rw(str, getter=self._shutter, setter=self._set_shutter)
        super().__init__(name=name)

    @property
    def max_bandwidth_nm(self) -> float:
        return self.max_slit_um / 1000 * self.grating.dispersion_nm_per_mm

    def check_wavelength(self, nm: float) -> None:
        lo, hi = self.grating.range_nm
        if not (math.isfinite(nm) and lo <= nm <= hi):
            raise FluorometerLimitError(
                f"{self.name}: excitation wavelength {nm:g} nm is outside grating {self.grating.number} "
                f"({self.grating.lines_per_mm} lines/mm) range {lo:g}-{hi:g} nm; choose a wavelength in that "
                "range or install/select a grating that covers it in the bench file"
            )

    def check_bandwidth(self, nm: float) -> None:
        lo = self.min_slit_um / 1000 * self.grating.dispersion_nm_per_mm
        if not (math.isfinite(nm) and lo <= nm <= self.max_bandwidth_nm):
            slit_um = nm / self.grating.dispersion_nm_per_mm * 1000
            raise FluorometerLimitError(
                f"{self.name}: excitation bandwidth {nm:g} nm needs a {slit_um:.0f} "
                f"µm slit, outside {self.min_slit_um:g}-{self.max_slit_um:g} µm (bandwidth {lo:.2g}-"
                f"{self.max_bandwidth_nm:.3g} nm at {self.grating.dispersion_nm_per_mm:g} nm/mm); choose a "
                "bandwidth in that range"
            )

    @AsyncStatus.wrap
    async def set(self, value: float) -> None:
        self.check_wavelength(float(value))
        await self.driver.go_wave(float(value))

    async def _bandwidth(self) -> float:
        return await self.driver.slit_um(1) / 1000 * self.grating.dispersion_nm_per_mm

    async def _set_bandwidth(self, nm: float) -> None:
        self.check_bandwidth(nm)
        um = round(nm / self.grating.dispersion_nm_per_mm * 1000)
        await self.driver.set_slit_um(um, 1)
        await self.driver.set_slit_um(um, 2)

    async def _shutter(self) -> str:
        return (ShutterState.OPEN if await self.driver.shutter_open() else ShutterState.CLOSED).value

    async def _set_shutter(self, value: str) -> None:
        await self.driver.set_shutter(ShutterState(value) is ShutterState.OPEN)


class _Reader(StandardReadable):
    """A child whose ``trigger`` is done by a callable of the fluorometer."""

    def __init__(self, action: Callable[[], Any], name: str = "") -> None:
        self._action = action
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        await self._action()


class Fluorometer(StandardReadable):
    """Excitation monochromator + emission spectrometer + time-resolved counter, as one device.

    :param monochromator: the excitation monochromator's driver.
    :param spectrometer: the emission spectrometer.
    :param scaler: the multichannel scaler of the time-resolved path (None: no decays).
    :param grating: the grating in use and its range and dispersion.
    :param max_slit_um: the widest slit the bench allows.
    :param responsivity: relative spectral responsivity of the emission path at the
        spectrometer's wavelengths (counts per photon, any scale); None: uncorrected.
    :param pulse_rate_hz: repetition rate of the pulsed source (for the decay timeout).
    :param pulsed_excitation_nm: the pulsed source's wavelength (recorded with each decay).
    :param pmt_filters_nm: centre wavelengths of the PMT's band-pass filters.
    :param pmt_filter_width_nm: their band-pass (FWHM).
    """

    def __init__(
        self,
        monochromator: CornerstoneDriver,
        spectrometer: Spectrometer,
        scaler: MultichannelScaler | None = None,
        *,
        grating: Grating,
        max_slit_um: float,
        responsivity: np.ndarray | None = None,
        pulse_rate_hz: float = 100.0,
        pulsed_excitation_nm: float = 355.0,
        pmt_filters_nm: tuple[float, ...] = (),
        pmt_filter_width_nm: float = 40.0,
        name: str = "",
    ) -> None:
        self.spectrometer_driver = spectrometer
        self.scaler_driver = scaler
        self.responsivity = responsivity
        self.pulse_rate_hz = pulse_rate_hz
        self.pulsed_excitation_nm = pulsed_excitation_nm
        self.pmt_filters_nm = pmt_filters_nm
        self.pmt_filter_width_nm = pmt_filter_width_nm
        self._dark: tuple[float, np.ndarray] | None = None
        self.excitation = ExcitationMonochromator(monochromator, grating=grating, max_slit_um=max_slit_um)
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.integration_time = soft_signal_rw(
                float, units="s", getter=self._integration, setter=self._set_integration
            )
            self.emission = soft_signal_rw(float, 593.0, units="nm")
            self.emission_bandwidth = soft_signal_rw(float, 10.0, units="nm")
            self.spectrometer_model = soft_signal_r_and_setter(
                str, f"{spectrometer.model} {spectrometer.serial_number}"
            )[0]

        self.calibration = _Reader(self._read_calibration)
        with self.calibration.add_children_as_readables():
            self.calibration.wavelengths, self._set_cal_wl = soft_signal_r_and_setter(Array1D[np.float64], units="nm")
            self.calibration.responsivity, self._set_cal_resp = soft_signal_r_and_setter(
                Array1D[np.float64], units="counts/photon (relative)"
            )
        self.dark = _Reader(self._take_dark)
        with self.dark.add_children_as_readables():
            self.dark.counts, self._set_dark_counts = soft_signal_r_and_setter(Array1D[np.float64], units="counts")
        self.point = _Reader(self._acquire_point)
        with self.point.add_children_as_readables(Format.HINTED_SIGNAL):
            self.point.pl, self._set_pl = soft_signal_r_and_setter(float, units="counts/s")
        with self.point.add_children_as_readables():
            self.point.peak_counts, self._set_peak = soft_signal_r_and_setter(float, units="counts")
            self.point.saturated, self._set_saturated = soft_signal_r_and_setter(bool)
            self.point.suggested_integration_time, self._set_suggested = soft_signal_r_and_setter(float, units="s")
        self.spectrum = _Reader(self._acquire_spectrum)
        with self.spectrum.add_children_as_readables():
            self.spectrum.wavelengths, self._set_wl = soft_signal_r_and_setter(Array1D[np.float64], units="nm")
            self.spectrum.counts, self._set_counts = soft_signal_r_and_setter(Array1D[np.float64], units="counts")
            self.spectrum.corrected, self._set_corrected = soft_signal_r_and_setter(
                Array1D[np.float64], units="photons/s/nm (relative)"
            )
            self.spectrum.saturated, self._set_spec_saturated = soft_signal_r_and_setter(bool)
            self.spectrum.integration, self._set_spec_integration = soft_signal_r_and_setter(float, units="s")
        self.decay = _Reader(self._acquire_decay)
        with self.decay.add_children_as_readables():
            self.decay.time, self._set_decay_time = soft_signal_r_and_setter(Array1D[np.float64], units="s")
            self.decay.counts, self._set_decay_counts = soft_signal_r_and_setter(Array1D[np.float64], units="counts")
            self.decay.saturated, self._set_decay_saturated = soft_signal_r_and_setter(bool)
        with self.decay.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.decay.bin_width = soft_signal_rw(float, 10e-6, units="s")
            self.decay.bins = soft_signal_rw(int, 256)
            self.decay.records = soft_signal_rw(int, 10000)
            self.decay.excitation = soft_signal_r_and_setter(float, pulsed_excitation_nm, units="nm")[0]
        super().__init__(name=name)

    # -- checks (before anything moves) ------------------------------------------------------
    def check_emission_window(self, lo_nm: float, hi_nm: float, excitation_nm: float, bandwidth_nm: float) -> None:
        """Refuse an emission window that overlaps the excitation line (± one band-pass: the slit function's base)."""
        half = bandwidth_nm  # the triangular slit function spans ± one band-pass
        if lo_nm >= hi_nm:
            raise FluorometerLimitError(
                f"{self.name}: emission window {lo_nm:g}-{hi_nm:g} nm is empty; give start < stop"
            )
        if lo_nm <= excitation_nm + half and hi_nm >= excitation_nm - half:
            raise FluorometerLimitError(
                f"{self.name}: emission window {lo_nm:g}-{hi_nm:g} nm overlaps the excitation line at "
                f"{excitation_nm:g} nm (± {half:g} nm with a {bandwidth_nm:g} nm band-pass); start the window above "
                f"{excitation_nm + half:g} nm (or end it below {excitation_nm - half:g} nm)"
            )

    def spectral_range(self) -> tuple[float, float]:
        wl = self._wl_cache
        if wl is None:
            raise RuntimeError(f"{self.name}: not connected")
        return float(wl[0]), float(wl[-1])

    def check_in_spectral_range(self, lo_nm: float, hi_nm: float) -> None:
        a, b = self.spectral_range()
        if lo_nm < a or hi_nm > b:
            raise FluorometerLimitError(
                f"{self.name}: emission window {lo_nm:g}-{hi_nm:g} nm is outside the spectrometer's range "
                f"{a:.0f}-{b:.0f} nm; choose a window inside it"
            )

    def check_integration(self, seconds: float) -> None:
        lo, hi = self.spectrometer_driver.integration_limits_s
        if not (math.isfinite(seconds) and lo <= seconds <= hi):
            raise FluorometerLimitError(
                f"{self.name}: integration time {seconds:g} s is outside the spectrometer's {lo:g}-{hi:g} s; "
                "choose a dwell in that range"
            )

    def pmt_filter_for(self, emission_nm: float) -> float:
        """The PMT band-pass filter whose band contains ``emission_nm`` (closest centre)."""
        if not self.pmt_filters_nm:
            raise FluorometerLimitError(
                f"{self.name}: no PMT band-pass filters are listed in the bench file ([fluorometer] pmt_filters)"
            )
        best = min(self.pmt_filters_nm, key=lambda c: abs(c - emission_nm))
        if abs(best - emission_nm) > self.pmt_filter_width_nm / 2:
            listed = ", ".join(f"{c:g}" for c in self.pmt_filters_nm)
            raise FluorometerLimitError(
                f"{self.name}: no PMT filter passes {emission_nm:g} nm (filters {listed} nm, each "
                f"{self.pmt_filter_width_nm:g} nm wide); choose an emission wavelength within a filter's band"
            )
        return best

    def check_decay(self, bin_width_s: float, bins: int) -> None:
        """Refuse a histogram the scaler could not record after every pulse (rounding and dead time)."""
        period = 1.0 / self.pulse_rate_hz
        if bins * bin_width_s > period:
            raise FluorometerLimitError(
                f"{self.name}: a record of {bins} bins x {bin_width_s * 1e6:g} µs = {bins * bin_width_s * 1e3:g} ms "
                f"is longer than the pulse period {period * 1e3:g} ms; shorten the time range or the bins"
            )
        try:
            width, n = scaler_settings(bin_width_s, bins)
        except ValueError as exc:
            raise FluorometerLimitError(f"{self.name}: {exc}") from exc
        busy = n * (width + SCALER_DEAD_PER_BIN_S) + SCALER_DEAD_PER_RECORD_S
        if busy > period:
            raise FluorometerLimitError(
                f"{self.name}: the scaler rounds {bins} bins of {bin_width_s * 1e6:g} µs up to {n} bins of "
                f"{width * 1e6:g} µs and is busy {busy * 1e3:.3g} ms after each trigger, longer than the pulse "
                f"period {period * 1e3:g} ms, so it would skip pulses; use a smaller bin width (e.g. 2.5 µs)"
            )

    # -- connection ---------------------------------------------------------------------------
    _wl_cache: np.ndarray | None = None

    _band: tuple[float, float] = (593.0, 10.0)
    _mask: tuple[tuple[float, float], np.ndarray] | None = None

    async def connect(self, *args: Any, **kwargs: Any) -> None:
        await super().connect(*args, **kwargs)
        self._wl_cache = await self.spectrometer_driver.wavelengths()
        # the PL band, kept current by the signals themselves (no read per point)
        emission, bandwidth = self.emission.name, self.emission_bandwidth.name
        self.emission.subscribe_reading(lambda r: self._set_band(centre=float(r[emission]["value"])))
        self.emission_bandwidth.subscribe_reading(lambda r: self._set_band(width=float(r[bandwidth]["value"])))

    def _set_band(self, *, centre: float | None = None, width: float | None = None) -> None:
        c, w = self._band
        self._band = (c if centre is None else centre, w if width is None else width)

    def _band_mask(self, wavelengths: np.ndarray) -> np.ndarray:
        if self._mask is None or self._mask[0] != self._band:
            centre, width = self._band
            self._mask = (self._band, np.abs(wavelengths - centre) <= width / 2)
        return self._mask[1]

    # -- acquisitions ---------------------------------------------------------------------------
    async def _integration(self) -> float:
        return self.spectrometer_driver.integration_time_s

    async def _set_integration(self, seconds: float) -> None:
        self.check_integration(seconds)
        await self.spectrometer_driver.set_integration_time(seconds)

    async def _frame(self) -> Acquisition:
        spec = self.spectrometer_driver
        wl = self._wl_cache if self._wl_cache is not None else await spec.wavelengths()
        # Uncorrected counts: saturation is judged against full scale on the raw frame (the
        # electric-dark correction would pull a clipped pixel below the threshold), and the dark
        # frame taken at the same integration time removes baseline and dark current together.
        raw = await spec.acquire(correct_dark_counts=False)
        t = spec.integration_time_s
        counts = np.asarray(raw, dtype=float)
        if self._dark is not None and math.isclose(self._dark[0], t, rel_tol=1e-9):
            counts = counts - self._dark[1]
        peak = float(np.max(raw))
        return Acquisition(wl, counts, peak, peak >= SATURATION_FRACTION * spec.max_intensity, t)

    async def _read_calibration(self) -> None:
        wl = self._wl_cache if self._wl_cache is not None else await self.spectrometer_driver.wavelengths()
        self._set_cal_wl(np.asarray(wl, dtype=float))
        resp = self.responsivity if self.responsivity is not None else np.ones_like(wl, dtype=float)
        self._set_cal_resp(np.asarray(resp, dtype=float))

    async def _take_dark(self) -> None:
        was_open = await self.excitation.driver.shutter_open()
        if was_open:
            await self.excitation.driver.set_shutter(False)
        try:
            raw = await self.spectrometer_driver.acquire(correct_dark_counts=False)
        finally:
            if was_open:
                await self.excitation.driver.set_shutter(True)
        dark = np.asarray(raw, dtype=float)
        self._dark = (self.spectrometer_driver.integration_time_s, dark)
        self._set_dark_counts(dark)

    def _suggest(self, frame: Acquisition) -> float:
        """An integration time that keeps the peak near 70 % of full scale."""
        full = self.spectrometer_driver.max_intensity
        if frame.saturated:
            return frame.integration_s / 4
        if frame.peak_raw <= 0:
            return frame.integration_s
        return frame.integration_s * 0.7 * full / frame.peak_raw

    async def _acquire_point(self) -> None:
        frame = await self._frame()
        mask = self._band_mask(frame.wavelengths)
        self._set_pl(float(np.sum(frame.counts[mask])) / frame.integration_s)
        self._set_peak(frame.peak_raw)
        self._set_saturated(frame.saturated)
        self._set_suggested(self._suggest(frame))

    async def _acquire_spectrum(self) -> None:
        frame = await self._frame()
        self._set_wl(np.asarray(frame.wavelengths, dtype=float))
        self._set_counts(frame.counts)
        # photons per second per nm: each pixel's counts over its responsivity and its own width
        # (the dispersion varies along the array)
        per_nm = frame.counts / np.gradient(frame.wavelengths)
        if self.responsivity is not None:
            per_nm = per_nm / np.clip(self.responsivity, 1e-12, None)
        self._set_corrected(per_nm / frame.integration_s)
        self._set_spec_saturated(frame.saturated)
        self._set_spec_integration(frame.integration_s)

    async def _acquire_decay(self) -> None:
        if self.scaler_driver is None:
            raise FluorometerLimitError(
                f"{self.name}: this bench has no time-resolved path; add [fluorometer] scaler_address to the bench file"
            )
        width = await self.decay.bin_width.get_value()
        bins = await self.decay.bins.get_value()
        records = await self.decay.records.get_value()
        self.check_decay(width, bins)
        actual_width, _ = await self.scaler_driver.configure(bin_width_s=width, bins=bins, records=records)
        period = 1.0 / self.pulse_rate_hz
        timeout = records * period * 1.5 + 30.0
        counts = await self.scaler_driver.acquire(timeout_s=timeout)
        counts = np.asarray(counts, dtype=float)
        self._set_decay_time((np.arange(len(counts)) + 0.5) * actual_width)
        self._set_decay_counts(counts)
        self._set_decay_saturated(bool(np.any(counts >= SCALER_FULL_BIN)))
