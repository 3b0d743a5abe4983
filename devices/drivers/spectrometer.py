"""Ocean Insight (Ocean Optics) array spectrometers through python-seabreeze, as an async driver.

The emission spectrometer (a FLAME-S or any model python-seabreeze supports) is a USB device, not
a line-protocol instrument, so this driver wraps a *backend* object with the attributes of
``seabreeze.spectrometers.Spectrometer`` instead of a :class:`~devices.transports.Transport`:

* ``integration_time_micros(us)`` sets the integration time (integer microseconds) and raises
  ``seabreeze.spectrometers.SeaBreezeError`` when it is out of range;
  ``integration_time_micros_limits`` is ``(min_us, max_us)``.  There is no getter, so the driver
  remembers the last value it set (:attr:`Spectrometer.integration_time_s`).
* ``wavelengths()`` returns one wavelength (nm) per pixel; it does not change, so it is read once.
* ``intensities(correct_dark_counts=False, correct_nonlinearity=False)`` blocks for one
  integration and returns raw counts per pixel.  ``correct_dark_counts=True`` subtracts the mean of
  the optically black ("electric dark") pixels, which removes the electronic baseline.
* ``max_intensity`` is the saturation level in counts (65535 on a 16-bit FLAME-S);
  ``model``, ``serial_number``, ``pixels`` and ``close()`` complete the set.
* The Lamp Enable line (a TTL output on the accessory connector, J2 pin 4 on a USB2000+/FLAME-S)
  is reached through the backend's feature accessor ``f``, where python-seabreeze gives ``None``
  for a feature the model lacks.  The cseabreeze backend has ``f.strobe_lamp.enable_lamp(bool)``;
  the pure-Python pyseabreeze backend has no strobe-lamp feature but drives the same line with
  ``f.continuous_strobe.set_enable(bool)`` on the USB2000+ and FLAME-S (OOI command 0x03, "Lamp
  Enable HIGH/On").  The driver uses the first of the two that exists
  (:attr:`Spectrometer.lamp_enable_feature`).  There is no getter for the line either, so the
  driver remembers what it last set (:attr:`Spectrometer.lamp_enabled`).

python-seabreeze is an optional dependency, imported only by :meth:`Spectrometer.open_seabreeze`;
the simulator :class:`labctl.sim.instruments.spectrometer.SimulatedSpectrometer` has the same attributes.

Timing: a blocking ``intensities()`` call on real hardware runs in a worker thread under a
timeout of one integration plus ``timeout_s``.  A thread cannot be cancelled, so after a timeout
the USB read may still be pending; the driver reports the spectrometer as not responding and the
fix is to re-plug it.  With ``in_process=True`` (a simulator on the same event loop) the driver
waits one integration time with ``asyncio.sleep`` and then reads the backend directly, so the
simulator integrates the light over the window that ends "now", in virtual time.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np

from labctl.devices.transports import InstrumentNotResponding

__all__ = ["Spectrometer", "SpectrometerError"]


class SpectrometerError(Exception):
    """A setting the spectrometer refuses, or a spectrometer that cannot be opened."""


class Spectrometer:
    """Async access to one array spectrometer (python-seabreeze or a simulator with its attributes).

    :param name: the spectrometer's name in the bench, used in every error message.
    :param backend: an object with the attributes of ``seabreeze.spectrometers.Spectrometer``.
    :param in_process: True for a simulator on the running event loop (virtual time).
    :param timeout_s: extra seconds, beyond one integration, an acquisition may take on hardware.
    """

    def __init__(self, name: str, backend: Any, *, in_process: bool = False, timeout_s: float = 5.0) -> None:
        if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s={timeout_s!r} must be a positive number of seconds, e.g. 5.0")
        self.name = name
        self.backend = backend
        self.in_process = in_process
        self.timeout_s = float(timeout_s)
        self.model: str = str(backend.model)
        self.serial_number: str = str(backend.serial_number)
        self.max_intensity: float = float(backend.max_intensity)
        lo_us, hi_us = backend.integration_time_micros_limits
        self._limits_us: tuple[int, int] = (int(lo_us), int(hi_us))
        self.integration_limits_s: tuple[float, float] = (lo_us / 1e6, hi_us / 1e6)
        self.integration_time_s: float = math.nan
        """The last integration time set (s); NaN until :meth:`set_integration_time` is called."""
        self._wavelengths: np.ndarray | None = None
        self.lamp_enabled: bool | None = None
        """The last Lamp Enable state set (True: line high); None until :meth:`set_lamp_enable` is called."""

    @classmethod
    def open_seabreeze(cls, name: str, serial_number: str | None = None, *, timeout_s: float = 5.0) -> Spectrometer:
        """Open a USB spectrometer with python-seabreeze (the first one found, or by serial number)."""
        try:
            from seabreeze.spectrometers import (  # type: ignore[import-not-found]  # optional dependency
                Spectrometer as SeaBreezeSpectrometer,
            )
            from seabreeze.spectrometers import list_devices  # type: ignore[import-not-found]
        except ImportError as exc:
            raise SpectrometerError(
                f"spectrometer {name!r}: python-seabreeze is not installed, so no Ocean Insight "
                f"spectrometer can be opened; install it with 'pip install seabreeze' (then run "
                f"'seabreeze_os_setup' once for the USB rules/driver), or use the simulated bench"
            ) from exc
        wanted = f"serial number {serial_number!r}" if serial_number else "any serial number"
        try:
            devices = list_devices()
        except Exception as exc:
            raise SpectrometerError(
                f"spectrometer {name!r}: python-seabreeze could not list USB devices ({exc}); check "
                f"that 'seabreeze_os_setup' was run and that the user may access USB devices"
            ) from exc
        if not devices:
            raise SpectrometerError(
                f"spectrometer {name!r}: no Ocean Insight spectrometer found on USB ({wanted} "
                f"wanted); check the USB cable and power, re-plug the spectrometer, and close "
                f"OceanView or any other program holding it"
            )
        try:
            if serial_number:
                backend = SeaBreezeSpectrometer.from_serial_number(serial_number)
            else:
                backend = SeaBreezeSpectrometer.from_first_available()
        except Exception as exc:
            found = ", ".join(str(d) for d in devices)
            raise SpectrometerError(
                f"spectrometer {name!r}: could not open the spectrometer with {wanted} ({exc}); "
                f"found {found}; fix the serial number in the bench file, or close the program "
                f"holding the device and re-plug it"
            ) from exc
        return cls(name, backend, timeout_s=timeout_s)

    # -- helpers -------------------------------------------------------------------------------
    def _who(self) -> str:
        return f"spectrometer {self.name!r} ({self.model}, serial {self.serial_number})"

    async def _call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a backend call: directly in process, in a worker thread for hardware."""
        if self.in_process:
            return func(*args, **kwargs)
        return await asyncio.to_thread(func, *args, **kwargs)

    # -- settings ------------------------------------------------------------------------------
    async def set_integration_time(self, seconds: float) -> None:
        """Set the integration time (s), checked against the limits before the backend sees it."""
        lo_s, hi_s = self.integration_limits_s
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise SpectrometerError(
                f"{self._who()}: integration time {seconds!r} is not a number of seconds; pass a "
                f"value in {lo_s:g}..{hi_s:g} s"
            )
        micros = round(seconds * 1e6)
        lo_us, hi_us = self._limits_us
        if micros < lo_us:
            raise SpectrometerError(
                f"{self._who()}: integration time {seconds:g} s is below the minimum {lo_s:g} s "
                f"(limits {lo_s:g}..{hi_s:g} s); use at least {lo_s:g} s, and attenuate the light "
                f"(neutral density filter, smaller aperture) if that saturates"
            )
        if micros > hi_us:
            raise SpectrometerError(
                f"{self._who()}: integration time {seconds:g} s is above the maximum {hi_s:g} s "
                f"(limits {lo_s:g}..{hi_s:g} s); use at most {hi_s:g} s and sum several frames "
                f"for a weak signal"
            )
        try:
            await self._call(self.backend.integration_time_micros, micros)
        except Exception as exc:
            raise SpectrometerError(
                f"{self._who()}: refused integration time {seconds:g} s ({micros} µs, limits "
                f"{lo_s:g}..{hi_s:g} s): {exc}; choose another value in the limits, or re-plug "
                f"the spectrometer if it keeps refusing"
            ) from exc
        self.integration_time_s = micros / 1e6

    # -- lamp enable -------------------------------------------------------------------------
    def _lamp_enable_call(self) -> tuple[str, Any] | None:
        features = getattr(self.backend, "f", None)
        enable_lamp = getattr(getattr(features, "strobe_lamp", None), "enable_lamp", None)
        if callable(enable_lamp):
            return "strobe_lamp.enable_lamp", enable_lamp
        set_enable = getattr(getattr(features, "continuous_strobe", None), "set_enable", None)
        if callable(set_enable):
            return "continuous_strobe.set_enable", set_enable
        return None

    @property
    def lamp_enable_feature(self) -> str | None:
        """The backend feature that drives the Lamp Enable line, or None when the backend has none.

        ``"strobe_lamp.enable_lamp"`` (cseabreeze) or ``"continuous_strobe.set_enable"``
        (pyseabreeze on a USB2000+/FLAME-S).
        """
        found = self._lamp_enable_call()
        return None if found is None else found[0]

    @property
    def supports_lamp_enable(self) -> bool:
        """Whether :meth:`set_lamp_enable` can drive the Lamp Enable line of this spectrometer."""
        return self._lamp_enable_call() is not None

    async def set_lamp_enable(self, on: bool) -> None:
        """Drive the Lamp Enable TTL line high (``on=True``) or low.

        Raises :class:`SpectrometerError` when the backend has no Lamp Enable feature for this
        model (the fix is a relay driven from elsewhere) or refuses the command.
        """
        if not isinstance(on, bool):
            raise SpectrometerError(f"{self._who()}: lamp enable {on!r} is not a bool; pass True (line high) or False")
        found = self._lamp_enable_call()
        if found is None:
            raise SpectrometerError(
                f"{self._who()}: this model has no Lamp Enable control in python-seabreeze (the backend "
                f"offers neither f.strobe_lamp.enable_lamp nor f.continuous_strobe.set_enable); drive the "
                f"light source's TTL shutter from a relay instead and give that relay as the shutter"
            )
        feature, call = found
        try:
            await self._call(call, on)
        except Exception as exc:
            self.lamp_enabled = None  # the line's state is unknown now
            raise SpectrometerError(
                f"{self._who()}: refused lamp enable {'on' if on else 'off'} through {feature} "
                f"({type(exc).__name__}: {exc}); re-plug the spectrometer, or drive the source's "
                f"shutter from a relay"
            ) from exc
        self.lamp_enabled = on

    # -- reads ---------------------------------------------------------------------------------
    async def wavelengths(self) -> np.ndarray:
        """Wavelength (nm) of each pixel, read once and cached (a copy is returned)."""
        if self._wavelengths is None:
            try:
                values = await self._call(self.backend.wavelengths)
            except Exception as exc:
                raise InstrumentNotResponding(
                    f"{self._who()} did not return its wavelength calibration ({type(exc).__name__}: "
                    f"{exc}); check the USB cable and power, then re-plug the spectrometer"
                ) from exc
            self._wavelengths = np.asarray(values, dtype=float).copy()
        return self._wavelengths.copy()

    async def acquire(self, *, correct_dark_counts: bool = True) -> np.ndarray:
        """One spectrum (counts per pixel) over one integration time, ending when it returns."""
        seconds = self.integration_time_s
        if math.isnan(seconds):
            lo_s, hi_s = self.integration_limits_s
            raise SpectrometerError(
                f"{self._who()}: no integration time set; call set_integration_time() with a "
                f"value in {lo_s:g}..{hi_s:g} s before acquiring"
            )
        try:
            if self.in_process:
                await asyncio.sleep(seconds)
                values = self.backend.intensities(correct_dark_counts=correct_dark_counts, correct_nonlinearity=False)
            else:
                async with asyncio.timeout(seconds + self.timeout_s):
                    values = await asyncio.to_thread(
                        self.backend.intensities, correct_dark_counts=correct_dark_counts, correct_nonlinearity=False
                    )
        except TimeoutError as exc:
            raise InstrumentNotResponding(
                f"{self._who()} returned no spectrum within {seconds + self.timeout_s:g} s "
                f"({seconds:g} s integration + {self.timeout_s:g} s); check the USB cable and "
                f"power, then re-plug the spectrometer (the pending USB read cannot be cancelled)"
            ) from exc
        except Exception as exc:
            raise InstrumentNotResponding(
                f"{self._who()} failed to return a spectrum ({type(exc).__name__}: {exc}); check "
                f"the USB cable and power, then re-plug the spectrometer"
            ) from exc
        return np.asarray(values, dtype=float)

    async def close(self) -> None:
        """Release the USB device."""
        await self._call(self.backend.close)
