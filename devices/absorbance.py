"""In-situ UV-vis absorbance through a dip probe: dark, reference and sample spectra on an array spectrometer.

The probe sits in the hot flask; a deuterium-halogen source lights it through a fibre, and the
source's TTL shutter is driven by the spectrometer's Lamp Enable line (or by a relay).  With the
dark D (shutter closed), the reference R (solvent in the flask at temperature, before injection)
and a sample S, all at the same integration time and number of averaged frames,

    A(λ) = -log10((S - D) / (R - D)).

What a plan sees:

* ``take_dark()`` -- closes the shutter and records the mean of ``averages`` frames.
* ``take_reference()`` -- opens the shutter, records the reference and closes the shutter.  It
  refuses (:class:`ReferenceRefused`, with the integration time to use) a reference with any
  pixel at full scale, outside the ranges in ``ignore_saturation_nm``, or one far too dark (its
  peak under half of ``reference_range``'s low end); the integration time suggested puts the
  reference's peak at the middle of ``reference_range``.  It refuses when no dark was taken at the
  current integration time and averages.
* ``trigger()`` then ``read()`` -- one sample spectrum (shutter open only while it is measured):
  ``absorbance`` (OD per pixel, hinted), ``sample_counts`` (raw counts, averaged),
  ``masked_pixels`` (how many pixels are NaN) and ``shutter_open``.
* configuration: ``wavelengths`` (nm, read once), ``integration_time`` (s), ``averages``,
  ``boxcar`` (pixels each side), ``path_length`` (cm, recorded for Beer-Lambert),
  ``dark_counts``, ``reference_counts`` and ``reference_time`` (loop clock, s).
* safety: ``live`` is False (the probe light is harmless); ``make_safe()`` closes the shutter.

A pixel's absorbance is NaN (masked) where R - D is under ``weak_fraction`` of full scale, where S
or R reached full scale in any frame (with a boxcar, also the pixels whose window holds one), and
where no light came through the sample (S - D <= 0).  Averaging (the mean of ``averages`` frames)
and the boxcar (the mean of 2 x boxcar + 1 neighbouring pixels, fewer at the array's ends) are done
here, in software, as the spectrometer's own averaging is not reachable through python-seabreeze.

From the sources: the formula, R at 70-85 % of full scale, masking where R - D is under ~1 % of
full scale, a dip probe's path length is twice its gap (so 0.2 cm for a 1 mm gap), the Lamp Enable
line as the source's shutter, the polarity a bench setting.
Our choices: a pixel is at full scale at :data:`SATURATION_FRACTION` of ``max_intensity`` (as in
:mod:`labctl.devices.fluorometer`); "far too dark" is :data:`DIM_REFERENCE_FACTOR` of the range's
low end; after the shutter moves the probe waits ``shutter_settle_s`` and, as after a change of
integration time, discards one frame (on hardware the frame in progress straddles the change);
the shutter is open only while a reference or sample is measured (the least light on the sample).
A saturated reference is probed at shorter integration times (one frame each, 1/8 of the last)
until it is not, so the suggestion comes from the true peak and not from a clipped one.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from bluesky.protocols import Movable
from ophyd_async.core import Array1D, AsyncStatus, Device, StandardReadable, soft_signal_r_and_setter, soft_signal_rw
from ophyd_async.core import StandardReadableFormat as Format

from labctl.devices.drivers.spectrometer import Spectrometer

__all__ = [
    "DIM_REFERENCE_FACTOR",
    "SATURATION_FRACTION",
    "AbsorbanceError",
    "AbsorbanceProbe",
    "AbsorbanceSettingError",
    "ReferenceRefused",
    "compute_absorbance",
]

SATURATION_FRACTION: Final = 0.98
"""A pixel at or above this fraction of ``max_intensity`` in any frame is saturated (ours, as the fluorometer)."""

DIM_REFERENCE_FACTOR: Final = 0.5
"""A reference whose peak is under this fraction of ``reference_range``'s low end is refused (ours)."""

PROBE_STEP: Final = 8.0
"""A saturated reference is probed at 1/PROBE_STEP of the last integration time, until it is not (ours)."""


class AbsorbanceError(RuntimeError):
    """A measurement the probe refuses: no dark or reference, or settings changed since they were taken."""


class AbsorbanceSettingError(ValueError):
    """A probe setting outside what the spectrometer or the method allows."""


class ReferenceRefused(AbsorbanceError):
    """A saturated or too dark reference; ``suggested_integration_time_s`` is the time to use (None: no time helps)."""

    def __init__(self, message: str, suggested_integration_time_s: float | None) -> None:
        super().__init__(message)
        self.suggested_integration_time_s = suggested_integration_time_s


@dataclass(frozen=True)
class _Averaged:
    """The mean of several raw frames, the pixels saturated in any of them, and how it was taken."""

    counts: np.ndarray
    saturated: np.ndarray
    integration_s: float
    averages: int


def _boxcar(values: np.ndarray, half_width: int) -> np.ndarray:
    """Mean over 2 x half_width + 1 pixels centred on each pixel (fewer at the ends)."""
    if half_width <= 0:
        return values.astype(float, copy=True)
    kernel = np.ones(2 * half_width + 1)
    sums = np.convolve(values, kernel, mode="same")
    counts = np.convolve(np.ones_like(values, dtype=float), kernel, mode="same")
    return sums / counts


def _dilate(mask: np.ndarray, half_width: int) -> np.ndarray:
    """Pixels within half_width of a True pixel."""
    if half_width <= 0:
        return mask.copy()
    return np.convolve(mask.astype(float), np.ones(2 * half_width + 1), mode="same") > 0.5


def compute_absorbance(
    sample: np.ndarray,
    dark: np.ndarray,
    reference: np.ndarray,
    *,
    weak_counts: float,
    saturated: np.ndarray | None = None,
    boxcar: int = 0,
) -> np.ndarray:
    """A = -log10((S - D) / (R - D)) per pixel, NaN where masked (see the module docstring).

    :param sample: S, averaged raw counts.
    :param dark: D, averaged raw counts at the same integration time.
    :param reference: R, averaged raw counts at the same integration time.
    :param weak_counts: pixels with R - D under this many counts are masked.
    :param saturated: pixels at full scale in S or R (masked, with their boxcar neighbours).
    :param boxcar: half-width of the boxcar applied to S - D and R - D (0: none).
    """
    s = np.asarray(sample, dtype=float) - dark
    r = np.asarray(reference, dtype=float) - dark
    masked = r < weak_counts
    if saturated is not None:
        masked |= _dilate(np.asarray(saturated, dtype=bool), boxcar)
    s, r = _boxcar(s, boxcar), _boxcar(r, boxcar)
    masked |= (s <= 0) | (r <= 0)
    out = np.full(s.shape, np.nan)
    ok = ~masked
    out[ok] = -np.log10(s[ok] / r[ok])
    return out


class _Frame(StandardReadable):
    """The dark or the reference as a plan takes it: ``trigger()`` measures it, ``read()`` gives its counts."""

    _probe: AbsorbanceProbe

    def __init__(self, probe: AbsorbanceProbe, kind: str, name: str = "") -> None:
        object.__setattr__(self, "_probe", probe)  # a back-reference, not a child device
        self._kind = kind
        with self.add_children_as_readables():
            self.counts, self._set_counts = soft_signal_r_and_setter(Array1D[np.float64], units="counts")
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        probe = self._probe
        if self._kind == "dark":
            await probe.take_dark()
            self._set_counts(await probe.dark_counts.get_value())
        else:
            await probe.take_reference()
            self._set_counts(await probe.reference_counts.get_value())


class _Shutter(Device, Movable[bool]):
    """The source's shutter as a plan moves it (``set(False)`` closes it, the safe state)."""

    _probe: AbsorbanceProbe

    def __init__(self, probe: AbsorbanceProbe, name: str = "") -> None:
        object.__setattr__(self, "_probe", probe)  # a back-reference, not a child device
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def set(self, value: bool) -> None:
        if value:
            await self._probe.set_shutter(True)
        else:
            await self._probe.make_safe()


class AbsorbanceProbe(StandardReadable):
    """A dip probe's absorbance spectrum from an array spectrometer and a shuttered source.

    :param spectrometer: the spectrometer behind the probe.
    :param shutter: ``await shutter(open)`` lets light through (True) or blocks it; None: the
        spectrometer's Lamp Enable line drives the source's TTL shutter.
    :param active_high: with the Lamp Enable line, whether a high line opens the shutter (a
        bench setting: it depends on the source and its cable).
    :param integration_time_s: integration time of every frame (s).
    :param averages: frames averaged into each dark, reference and sample spectrum.
    :param boxcar: boxcar half-width in pixels (0: none).
    :param path_length_cm: the probe's optical path (twice the gap of a transmission dip probe), cm.
    :param reference_range: where the reference's peak should be, as fractions of full scale.
    :param weak_fraction: pixels with R - D under this fraction of full scale are masked.
    :param ignore_saturation_nm: wavelength ranges (nm) where a saturated reference pixel is
        masked instead of refused, e.g. ``((650.0, 662.0),)`` for the deuterium lamp's 656 nm line.
    :param shutter_settle_s: wait after the shutter moves, before the frame that is discarded (s).
    :param name: the device's name.
    """

    def __init__(
        self,
        spectrometer: Spectrometer,
        *,
        shutter: Callable[[bool], Awaitable[None]] | None = None,
        active_high: bool = True,
        integration_time_s: float = 0.02,
        averages: int = 10,
        boxcar: int = 0,
        path_length_cm: float = 0.2,
        reference_range: tuple[float, float] = (0.70, 0.85),
        weak_fraction: float = 0.01,
        ignore_saturation_nm: tuple[tuple[float, float], ...] = (),
        shutter_settle_s: float = 0.1,
        name: str = "absorbance",
    ) -> None:
        self.spectrometer = spectrometer
        self._shutter = shutter
        self.active_high = bool(active_high)
        lo, hi = reference_range
        if not 0 < lo < hi < SATURATION_FRACTION:
            raise AbsorbanceSettingError(
                f"{name}: reference_range {reference_range!r} must be (low, high) fractions of full scale "
                f"with 0 < low < high < {SATURATION_FRACTION:g} (saturation); use e.g. (0.70, 0.85)"
            )
        if not 0 < weak_fraction < lo:
            raise AbsorbanceSettingError(
                f"{name}: weak_fraction {weak_fraction!r} must be above 0 and under reference_range's low "
                f"end {lo:g}; use e.g. 0.01 (mask pixels where R - D is under 1 % of full scale)"
            )
        for band in ignore_saturation_nm:
            if len(band) != 2 or not band[0] < band[1]:
                raise AbsorbanceSettingError(
                    f"{name}: ignore_saturation_nm entry {band!r} must be (low_nm, high_nm) with low < high, "
                    f"e.g. (650.0, 662.0)"
                )
        if not (math.isfinite(shutter_settle_s) and shutter_settle_s >= 0):
            raise AbsorbanceSettingError(
                f"{name}: shutter_settle_s {shutter_settle_s!r} must be a number of seconds >= 0, e.g. 0.1"
            )
        self.reference_range = (float(lo), float(hi))
        self.weak_fraction = float(weak_fraction)
        self.ignore_saturation_nm = tuple((float(a), float(b)) for a, b in ignore_saturation_nm)
        self.shutter_settle_s = float(shutter_settle_s)
        self._name_for_errors = name
        self._check_integration(integration_time_s)
        self._check_averages(averages)
        self._check_boxcar(boxcar)
        self._check_path_length(path_length_cm)
        self._integration_s = float(integration_time_s)
        self._averages = int(averages)
        self._boxcar_half = int(boxcar)
        self._path_length_cm = float(path_length_cm)
        self._dark: _Averaged | None = None
        self._reference: _Averaged | None = None
        self._shutter_is_open: bool | None = None  # None: unknown (not driven yet, or a drive failed)
        self._generation = 0  # bumped by make_safe(): a measurement that sees it change is void
        self._lock = asyncio.Lock()
        self._wl: np.ndarray | None = None
        self._considered: np.ndarray | None = None

        with self.add_children_as_readables(Format.HINTED_SIGNAL):
            self.absorbance, self._set_absorbance = soft_signal_r_and_setter(Array1D[np.float64], units="OD")
        with self.add_children_as_readables():
            self.sample_counts, self._set_sample_counts = soft_signal_r_and_setter(Array1D[np.float64], units="counts")
            self.masked_pixels, self._set_masked = soft_signal_r_and_setter(int, 0)
            self.shutter_open, self._set_shutter_open = soft_signal_r_and_setter(bool, False)
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.wavelengths, self._set_wavelengths = soft_signal_r_and_setter(Array1D[np.float64], units="nm")
            self.integration_time = soft_signal_rw(
                float, units="s", getter=self._get_integration, setter=self._put_integration
            )
            self.averages = soft_signal_rw(int, getter=self._get_averages, setter=self._put_averages)
            self.boxcar = soft_signal_rw(int, units="pixels", getter=self._get_boxcar, setter=self._put_boxcar)
            self.path_length = soft_signal_rw(
                float, units="cm", getter=self._get_path_length, setter=self._put_path_length
            )
            self.dark_counts, self._set_dark_counts = soft_signal_r_and_setter(Array1D[np.float64], units="counts")
            self.reference_counts, self._set_reference_counts = soft_signal_r_and_setter(
                Array1D[np.float64], units="counts"
            )
            self.reference_time, self._set_reference_time = soft_signal_r_and_setter(float, math.nan, units="s")
            self.spectrometer_model = soft_signal_r_and_setter(
                str, f"{spectrometer.model} {spectrometer.serial_number}"
            )[0]
        self.dark = _Frame(self, "dark")
        self.reference = _Frame(self, "reference")
        self.shutter = _Shutter(self)
        super().__init__(name=name)

    # -- what plans check against ---------------------------------------------------------------
    @property
    def integration_time_s(self) -> float:
        """The integration time of every frame (s)."""
        return self._integration_s

    @property
    def frames_averaged(self) -> int:
        """Frames averaged into each spectrum."""
        return self._averages

    @property
    def path_length_cm(self) -> float:
        """The probe's optical path (cm)."""
        return self._path_length_cm

    @property
    def wavelengths_nm(self) -> np.ndarray:
        """The wavelength of each pixel (nm), read once at connect."""
        wl, _ = self._pixels()
        return wl

    @property
    def wavelength_range_nm(self) -> tuple[float, float]:
        """The spectrometer's range (nm)."""
        wl = self.wavelengths_nm
        return float(wl.min()), float(wl.max())

    # -- checks -----------------------------------------------------------------------------
    def _who(self) -> str:
        try:
            return self.name or self._name_for_errors
        except AttributeError:  # checks made before Device.__init__ has run
            return self._name_for_errors

    def _check_integration(self, seconds: float) -> None:
        lo, hi = self.spectrometer.integration_limits_s
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (lo <= seconds <= hi):
            raise AbsorbanceSettingError(
                f"{self._who()}: integration time {seconds!r} s is outside the spectrometer's {lo:g}-{hi:g} s; "
                f"choose a time in that range"
            )

    def _check_averages(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise AbsorbanceSettingError(
                f"{self._who()}: averages {n!r} must be a whole number of frames >= 1, e.g. 10"
            )

    def _check_boxcar(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise AbsorbanceSettingError(
                f"{self._who()}: boxcar {n!r} must be a whole number of pixels each side >= 0 (0: no smoothing)"
            )

    def _check_path_length(self, cm: float) -> None:
        if isinstance(cm, bool) or not isinstance(cm, int | float) or not (math.isfinite(cm) and cm > 0):
            raise AbsorbanceSettingError(
                f"{self._who()}: path length {cm!r} cm must be a positive number of cm; a transmission dip "
                f"probe's path is twice its gap (0.2 cm for a 1 mm gap)"
            )

    # -- settings as signals ------------------------------------------------------------------
    async def _get_integration(self) -> float:
        return self._integration_s

    async def _put_integration(self, seconds: float) -> None:
        self._check_integration(seconds)
        self._integration_s = float(seconds)

    async def _get_averages(self) -> int:
        return self._averages

    async def _put_averages(self, n: int) -> None:
        self._check_averages(n)
        self._averages = int(n)

    async def _get_boxcar(self) -> int:
        return self._boxcar_half

    async def _put_boxcar(self, n: int) -> None:
        self._check_boxcar(n)
        self._boxcar_half = int(n)

    async def _get_path_length(self) -> float:
        return self._path_length_cm

    async def _put_path_length(self, cm: float) -> None:
        self._check_path_length(cm)
        self._path_length_cm = float(cm)

    # -- connection -------------------------------------------------------------------------------
    async def connect(self, *args: Any, **kwargs: Any) -> None:
        """Connect the signals, read the wavelengths once, and close the shutter (a known state)."""
        await super().connect(*args, **kwargs)
        if self._wl is None:
            wl = await self.spectrometer.wavelengths()
            self._wl = wl
            considered = np.ones(wl.shape, dtype=bool)
            for a, b in self.ignore_saturation_nm:
                considered &= ~((wl >= a) & (wl <= b))
            self._considered = considered
            self._set_wavelengths(wl)
            # NaN until measured, so the descriptors give the arrays' shape from the start
            for setter in (
                self._set_absorbance,
                self._set_sample_counts,
                self._set_dark_counts,
                self._set_reference_counts,
            ):
                setter(np.full(len(wl), np.nan, dtype=np.float64))
        await self._drive_shutter(False)

    def _pixels(self) -> tuple[np.ndarray, np.ndarray]:
        if self._wl is None or self._considered is None:
            raise AbsorbanceError(f"{self._who()}: not connected; await connect() first")
        return self._wl, self._considered

    # -- shutter ----------------------------------------------------------------------------------
    async def _drive_shutter(self, open_: bool) -> None:
        self._shutter_is_open = None
        if self._shutter is not None:
            await self._shutter(open_)
        else:
            await self.spectrometer.set_lamp_enable(open_ == self.active_high)
        self._shutter_is_open = open_
        self._set_shutter_open(open_)

    async def set_shutter(self, open_: bool) -> None:
        """Open or close the shutter by hand (alignment, looking at the lamp); measurements close it after."""
        async with self._lock:
            await self._drive_shutter(bool(open_))

    @property
    def live(self) -> bool:
        """Never live: the probe's light is harmless, closing its shutter is only tidy."""
        return False

    async def make_safe(self) -> None:
        """Close the shutter (Lamp Enable to its closed level), now, even during a measurement (which is then void)."""
        self._generation += 1
        await self._drive_shutter(False)

    # -- acquisition ------------------------------------------------------------------------------
    async def _prepare(self, open_: bool) -> None:
        """Set the integration time and the shutter; after any change wait, and discard one frame."""
        spec = self.spectrometer
        changed = False
        if spec.integration_time_s != self._integration_s:
            await spec.set_integration_time(self._integration_s)
            changed = True
        if self._shutter_is_open is not open_:
            await self._drive_shutter(open_)
            await asyncio.sleep(self.shutter_settle_s)
            changed = True
        if changed:
            await spec.acquire(correct_dark_counts=False)

    async def _average(self) -> _Averaged:
        spec = self.spectrometer
        n = self._averages
        full = SATURATION_FRACTION * spec.max_intensity
        total: np.ndarray | None = None
        saturated: np.ndarray | None = None
        for _ in range(n):
            # raw counts: the dark removes baseline and dark current; saturation is judged on raw frames
            frame = await spec.acquire(correct_dark_counts=False)
            total = frame.copy() if total is None else total + frame
            hit = frame >= full
            saturated = hit if saturated is None else saturated | hit
        assert total is not None and saturated is not None
        return _Averaged(total / n, saturated, self._integration_s, n)

    def _settings(self) -> str:
        return f"{self._integration_s:g} s x {self._averages} averages"

    def _require_dark(self, then: str) -> _Averaged:
        dark = self._dark
        if dark is None:
            raise AbsorbanceError(
                f"{self._who()}: no dark spectrum taken; call take_dark() (shutter closed) at {self._settings()} "
                f"first, then {then}"
            )
        if (dark.integration_s, dark.averages) != (self._integration_s, self._averages):
            raise AbsorbanceError(
                f"{self._who()}: the dark spectrum was taken at {dark.integration_s:g} s x {dark.averages} "
                f"averages, not the {self._settings()} now set; call take_dark() again, then {then}"
            )
        return dark

    def _require_reference(self) -> _Averaged:
        ref = self._reference
        if ref is None:
            raise AbsorbanceError(
                f"{self._who()}: no reference spectrum taken; with the solvent in the flask at temperature, call "
                f"take_reference() at {self._settings()} before measuring a sample"
            )
        if (ref.integration_s, ref.averages) != (self._integration_s, self._averages):
            raise AbsorbanceError(
                f"{self._who()}: the reference spectrum was taken at {ref.integration_s:g} s x {ref.averages} "
                f"averages, not the {self._settings()} now set; take_dark() and take_reference() again "
                f"(solvent in the flask) or set the settings back"
            )
        return ref

    def _check_not_interrupted(self, generation: int) -> None:
        if self._generation != generation:
            raise AbsorbanceError(
                f"{self._who()}: make_safe() closed the shutter during the measurement, so it is not kept; "
                f"measure again"
            )

    async def take_dark(self) -> None:
        """Record the dark: the mean of ``averages`` frames with the shutter closed."""
        self._pixels()
        async with self._lock:
            await self._prepare(open_=False)
            dark = await self._average()
            self._dark = dark
            self._set_dark_counts(dark.counts.copy())

    async def take_reference(self) -> None:
        """Record the reference (solvent in the flask, at temperature): shutter open, averaged, shutter closed.

        :raises AbsorbanceError: no dark at the current settings.
        :raises ReferenceRefused: saturated, or far too dark; with the integration time to use.
        """
        self._pixels()
        async with self._lock:
            dark = self._require_dark("take_reference()")
            generation = self._generation
            await self._prepare(open_=True)
            try:
                ref = await self._average()
                self._check_not_interrupted(generation)
                await self._judge_reference(ref, dark)
            finally:
                await self._drive_shutter(False)
            self._reference = ref
            self._set_reference_counts(ref.counts.copy())
            self._set_reference_time(asyncio.get_running_loop().time())

    async def _judge_reference(self, ref: _Averaged, dark: _Averaged) -> None:
        """Raise :class:`ReferenceRefused` for a saturated or far too dark reference."""
        wl, considered = self._pixels()
        spec = self.spectrometer
        full = spec.max_intensity
        lo_s, hi_s = spec.integration_limits_s
        lo, hi = self.reference_range
        target = (lo + hi) / 2 * full
        t = ref.integration_s
        where = f"at integration time {t:g} s"
        again = "then take_dark() and take_reference() again"
        saturated = ref.saturated & considered
        if saturated.any():
            n_sat = int(saturated.sum())
            near = float(wl[int(np.argmax(np.where(considered, ref.counts, -np.inf)))])
            head = (
                f"{self._who()}: reference refused: {n_sat} pixel{'s' if n_sat != 1 else ''} saturated (at or "
                f"above {SATURATION_FRACTION:.0%} of full scale, {SATURATION_FRACTION * full:.0f} counts) near "
                f"{near:.1f} nm {where}"
            )
            probe = await self._probe_unsaturated(t, considered)
            if probe is None:
                raise ReferenceRefused(
                    f"{head}, and still saturated at the shortest integration time {lo_s:g} s; attenuate the "
                    f"light (lower the source's power, add a neutral-density filter or use a thinner fibre), "
                    f"{again}",
                    None,
                )
            t_probe, frame = probe
            pixel = int(np.argmax(np.where(considered, frame, -np.inf)))
            rate = (frame[pixel] - dark.counts[pixel]) / t_probe
            suggested = self._clip_time((target - dark.counts[pixel]) / rate)
            landing = (dark.counts[pixel] + rate * suggested) / full
            raise ReferenceRefused(
                f"{head}; use integration time {suggested:g} s (puts the peak at ~{landing:.1%} of full scale, "
                f"reference_range {lo:.0%}-{hi:.0%}), {again}",
                suggested,
            )
        weak = self.weak_fraction * full
        darker = int(((ref.counts - dark.counts) < -weak)[considered].sum())
        if darker:
            raise ReferenceRefused(
                f"{self._who()}: reference refused: {darker} pixels are darker than the dark by more than "
                f"{weak:.0f} counts {where}, so the dark had the light and the reference did not: the shutter "
                f"{self._polarity_hint()}; fix it, {again}",
                None,
            )
        counts = np.where(considered, ref.counts, -np.inf)
        pixel = int(np.argmax(counts))
        peak = float(ref.counts[pixel])
        if peak >= DIM_REFERENCE_FACTOR * lo * full:
            return
        signal = peak - float(dark.counts[pixel])
        if signal < weak:
            shutter = (
                f"its shutter opening when the Lamp Enable line goes {'high' if self.active_high else 'low'} "
                f"(active_high={self.active_high})"
                if self._shutter is None
                else "its shutter opening"
            )
            raise ReferenceRefused(
                f"{self._who()}: reference refused: no light, its peak {peak:.0f} counts is only {signal:.0f} "
                f"counts above the dark (a usable pixel needs {weak:.0f}, {self.weak_fraction:.0%} of full scale) "
                f"{where}; check the source: lamp on and warmed up, {shutter}, fibres connected and the probe "
                f"immersed; then take_reference() again",
                None,
            )
        rate = signal / t
        wanted = (target - float(dark.counts[pixel])) / rate
        suggested = self._clip_time(wanted)
        landing = (float(dark.counts[pixel]) + rate * suggested) / full
        head = (
            f"{self._who()}: reference refused: too dark, peak {peak:.0f} counts ({peak / full:.1%} of full scale, "
            f"under the {DIM_REFERENCE_FACTOR * lo:.0%} accepted; reference_range {lo:.0%}-{hi:.0%}) near "
            f"{float(wl[pixel]):.1f} nm {where}"
        )
        if suggested < wanted:
            raise ReferenceRefused(
                f"{head}; even the longest integration time {hi_s:g} s puts the peak at only ~{landing:.1%} of "
                f"full scale: check the source (lamp on and warmed up, shutter opening, fibres connected, probe "
                f"immersed), or use integration time {suggested:g} s, {again}",
                suggested,
            )
        raise ReferenceRefused(
            f"{head}; use integration time {suggested:g} s (puts the peak at ~{landing:.1%} of full scale), {again}",
            suggested,
        )

    def _polarity_hint(self) -> str:
        if self._shutter is None:
            return (
                f"opens on the other level of the Lamp Enable line: check active_high (now {self.active_high}) "
                f"against the source's TTL input"
            )
        return "callable opens when asked to close: check its wiring or its polarity"

    def _clip_time(self, seconds: float) -> float:
        lo_s, hi_s = self.spectrometer.integration_limits_s
        return min(max(round(seconds, 6), lo_s), hi_s)

    async def _probe_unsaturated(self, seconds: float, considered: np.ndarray) -> tuple[float, np.ndarray] | None:
        """One frame at ever shorter integration times until none of the considered pixels saturates."""
        spec = self.spectrometer
        lo_s, _ = spec.integration_limits_s
        full = SATURATION_FRACTION * spec.max_intensity
        t = seconds
        while t > lo_s:
            t = max(lo_s, round(t / PROBE_STEP, 6))
            await spec.set_integration_time(t)
            await spec.acquire(correct_dark_counts=False)  # the frame in progress straddles the change
            frame = await spec.acquire(correct_dark_counts=False)
            if not (frame >= full)[considered].any():
                return t, frame
        return None

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        """One sample spectrum: shutter open, ``averages`` frames, shutter closed; A computed against R and D."""
        self._pixels()
        async with self._lock:
            dark = self._require_dark("take_reference() and measure")
            ref = self._require_reference()
            generation = self._generation
            await self._prepare(open_=True)
            try:
                sample = await self._average()
                self._check_not_interrupted(generation)
            finally:
                await self._drive_shutter(False)
            absorbance = compute_absorbance(
                sample.counts,
                dark.counts,
                ref.counts,
                weak_counts=self.weak_fraction * self.spectrometer.max_intensity,
                saturated=sample.saturated | ref.saturated,
                boxcar=self._boxcar_half,
            )
            self._set_sample_counts(sample.counts.copy())
            self._set_absorbance(absorbance)
            self._set_masked(int(np.isnan(absorbance).sum()))
