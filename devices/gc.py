"""Gas chromatograph as an ophyd-async device: a start trigger plus a watched export folder.

No GC publishes a full remote protocol, so the device is what labs really automate:

1. wait for the GC's Ready line, pulse its remote Start through a relay box (which also
   switches the gas sampling valve: the headspace is injected at that instant);
2. wait for the chromatography data system to export the run's chromatogram into a folder;
3. hand the file to a *processor* (peak integration + calibration, supplied by the bench
   loader) and publish, per gas, the peak area, the amount in the sample loop
   (``<gas>_loop_umol``) and the amount in the reactor headspace (``<gas>_headspace_umol``,
   scaled by the ideal-gas law from the loop to the headspace conditions at injection, see
   :meth:`GasChromatograph.sample_headspace_of`), and the raw trace itself
   (``chromatogram_time`` in min, ``chromatogram_signal`` in µV) for re-integration.

``trigger()`` completes when the chromatogram has been processed; a GC that never becomes ready
or never exports fails the status with an error naming the instrument, folder and wait.
:class:`CalibrationStore` is where the calibrations that processor uses are fitted and kept.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from bluesky.protocols import Movable
from ophyd_async.core import (
    Array1D,
    AsyncStatus,
    SignalR,
    StandardReadable,
    soft_signal_r_and_setter,
)
from ophyd_async.core import StandardReadableFormat as Format

from labctl.devices.drivers.numato_relay import NumatoRelay


@dataclass(frozen=True)
class PeakAmount:
    """One gas in one chromatogram: area (detector units), µmol injected, and whether the
    amount lies inside the calibrated range."""

    area: float
    umol: float
    in_range: bool = True


ChromatogramProcessor = Callable[[Path], Mapping[str, PeakAmount]]


class GcTimeoutError(TimeoutError):
    """The GC did not become ready, or did not export its result in time."""


class GasChromatograph(StandardReadable):
    """A GC run by remote start, read back from its exported chromatograms.

    :param trigger_box: relay box wired to the GC's Start (relay) and Ready (GPIO) lines.
    :param export_dir: folder the data system writes one chromatogram file per run into.
    :param processor: turns a chromatogram file into per-gas :class:`PeakAmount`.
    :param gases: the gases reported, in elution order.
    :param run_time_s: the method's run time.
    :param export_timeout_s: how long Ready and the export are awaited (default 2x run time + 120 s).
    :param start_channel / ready_channel: relay and GPIO numbers on the box.
    :param pattern: file-name suffix of exported chromatograms.
    :param poll_s: how often the export folder and the Ready line are polled.
    :param loop_volume_ml / loop_temperature_k / loop_pressure_pa: the gas sampling loop.
    """

    def __init__(
        self,
        trigger_box: NumatoRelay,
        export_dir: Path,
        processor: ChromatogramProcessor,
        *,
        gases: Sequence[str] = ("H2", "O2", "N2", "CH4", "CO"),
        run_time_s: float = 420.0,
        start_channel: int = 0,
        ready_channel: int = 0,
        pattern: str = ".csv",
        poll_s: float = 2.0,
        export_timeout_s: float | None = None,
        loop_volume_ml: float = 0.5,
        loop_temperature_k: float = 298.15,
        loop_pressure_pa: float = 101325.0,
        name: str = "",
    ) -> None:
        self.trigger_box = trigger_box
        self.export_dir = Path(export_dir)
        self.processor = processor
        self.gases = tuple(gases)
        self.run_time_s = run_time_s
        self.start_channel = start_channel
        self.ready_channel = ready_channel
        self.pattern = pattern
        self.poll_s = poll_s
        self.export_timeout_s = export_timeout_s if export_timeout_s is not None else 2 * run_time_s + 120
        self._setters: dict[str, Callable] = {}
        with self.add_children_as_readables(Format.HINTED_SIGNAL):
            for gas in self.gases:
                # two amounts, never to be confused: what the sample loop held (what the GC measures)
                # and what the reactor headspace held (what a chemist reports)
                sig, setter = soft_signal_r_and_setter(float, units="umol")
                setattr(self, f"{gas.lower()}_loop_umol", sig)
                self._setters[f"{gas}_loop_umol"] = setter
                sig, setter = soft_signal_r_and_setter(float, math.nan, units="umol")
                setattr(self, f"{gas.lower()}_headspace_umol", sig)
                self._setters[f"{gas}_headspace_umol"] = setter
        with self.add_children_as_readables():
            for gas in self.gases:
                sig, setter = soft_signal_r_and_setter(float, units="uV*s")
                setattr(self, f"{gas.lower()}_area", sig)
                self._setters[f"{gas}_area"] = setter
                sig, setter = soft_signal_r_and_setter(bool, True)
                setattr(self, f"{gas.lower()}_in_range", sig)
                self._setters[f"{gas}_in_range"] = setter
            self.chromatogram, self._set_chromatogram = soft_signal_r_and_setter(str)
            # the raw detector trace of the injection, for re-integration later
            self.chromatogram_time, self._set_trace_time = soft_signal_r_and_setter(Array1D[np.float64], units="min")
            self.chromatogram_signal, self._set_trace_signal = soft_signal_r_and_setter(Array1D[np.float64], units="uV")
            self.injected_at, self._set_injected_at = soft_signal_r_and_setter(float, units="s")
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.run_time = soft_signal_r_and_setter(float, run_time_s, units="s")[0]
            self.export_folder = soft_signal_r_and_setter(str, str(self.export_dir))[0]
            self.loop_volume = soft_signal_r_and_setter(float, loop_volume_ml, units="mL")[0]
            self.loop_temperature = soft_signal_r_and_setter(float, loop_temperature_k, units="K")[0]
            self.loop_pressure = soft_signal_r_and_setter(float, loop_pressure_pa, units="Pa")[0]
        self._headspace: tuple[SignalR[float], SignalR[float], SignalR[float]] | None = None
        self._trace_points: int | None = None
        self._raw_trace: tuple[np.ndarray, np.ndarray] | None = None
        super().__init__(name=name)

    def sample_headspace_of(
        self, volume: SignalR[float], temperature: SignalR[float], pressure: SignalR[float]
    ) -> None:
        """The reactor whose headspace the GC samples: its gas volume (mL), temperature (K) and
        pressure (Pa), read at each injection to record ``<gas>_headspace_umol``.  Without them
        the headspace amounts are NaN (and the loop amounts are still recorded)."""
        self._headspace = (volume, temperature, pressure)

    async def describe(self) -> dict[str, Any]:
        described = await super().describe()
        for key, dk in described.items():
            field = key.removeprefix(f"{self.name}-")
            gas, _, what = field.partition("_")
            text = _DESCRIPTIONS.get(what) or _DESCRIPTIONS.get(field)
            if text:
                dk["description"] = text.format(gas=gas.upper())  # type: ignore[typeddict-unknown-key]
        return described

    async def _headspace_factor(self) -> float:
        """µmol in the headspace per µmol found in the loop: ideal gas at each one's conditions
        (the gas constant cancels: n_head / n_loop = p_h V_h T_loop / (p_loop V_loop T_h))."""
        if self._headspace is None:
            return math.nan
        v_h, t_h, p_h = await asyncio.gather(*(sig.get_value() for sig in self._headspace))
        v_l, t_l, p_l = await asyncio.gather(
            self.loop_volume.get_value(), self.loop_temperature.get_value(), self.loop_pressure.get_value()
        )
        if min(v_h, t_h, p_h, v_l, t_l, p_l) <= 0:
            return math.nan
        return (p_h * v_h * t_l) / (p_l * v_l * t_h)

    async def check_connection(self) -> dict[str, Any]:
        """One exchange with the trigger box, which no signal of this device reads: the box's
        firmware version and the GC's Ready line, keyed like readings.  A silent box raises the
        transport's error, which names the box and its address (``labctl devices check``)."""
        version = await self.trigger_box.version()
        ready = await self.trigger_box.gpio(self.ready_channel)
        return {f"{self.name}-trigger_box_version": version, f"{self.name}-ready": ready}

    async def _existing(self) -> set[str]:
        def scan() -> set[str]:
            if not self.export_dir.is_dir():
                return set()
            with os.scandir(self.export_dir) as it:
                return {e.name for e in it if e.is_file() and e.name.endswith(self.pattern)}

        return await asyncio.to_thread(scan)

    async def wait_ready(self, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not await self.trigger_box.gpio(self.ready_channel):
            if loop.time() >= deadline:
                raise GcTimeoutError(
                    f"{self.name}: the GC did not signal Ready within {timeout_s:g} s; check the "
                    f"oven/flows have equilibrated and that the Ready line is wired to GPIO "
                    f"{self.ready_channel}"
                )
            await asyncio.sleep(self.poll_s)

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        loop = asyncio.get_running_loop()
        await self.wait_ready(timeout_s=self.export_timeout_s)
        before = await self._existing()
        self._set_injected_at(loop.time())
        await self.trigger_box.pulse(self.start_channel)
        factor = await self._headspace_factor()  # the headspace as it was when the loop was filled
        wait_s = self.export_timeout_s
        deadline = loop.time() + wait_s
        while True:
            await asyncio.sleep(self.poll_s)
            new = sorted((await self._existing()) - before)
            if new:
                path = self.export_dir / new[-1]
                break
            if loop.time() >= deadline:
                raise GcTimeoutError(
                    f"{self.name}: no chromatogram appeared in {self.export_dir} within "
                    f"{wait_s:g} s of the start pulse; check the data system exports "
                    f"'*{self.pattern}' files to that folder"
                )
        result = await asyncio.to_thread(self.processor, path)
        time_min, signal_uv = await asyncio.to_thread(read_trace, path)
        for gas in self.gases:
            peak = result.get(gas, PeakAmount(0.0, 0.0, True))
            self._setters[f"{gas}_loop_umol"](peak.umol)
            self._setters[f"{gas}_headspace_umol"](peak.umol * factor)
            self._setters[f"{gas}_area"](peak.area)
            self._setters[f"{gas}_in_range"](peak.in_range)
        self._set_chromatogram(path.name)
        self._raw_trace = (time_min, signal_uv)
        self._publish_trace(self._trace_points or time_min.size)

    def _publish_trace(self, points: int) -> None:
        """Events keep one trace length, their descriptor's shape: an export of another length
        is cut or padded with NaN to that of the first since the device was staged (or, for a
        plan that does not stage it, since it was connected)."""
        self._trace_points = points
        if self._raw_trace is not None:
            self._set_trace_time(_fit(self._raw_trace[0], points))
            self._set_trace_signal(_fit(self._raw_trace[1], points))

    @AsyncStatus.wrap
    async def stage(self) -> None:
        self._trace_points = None
        await super().stage()


_DESCRIPTIONS = {
    "loop_umol": "{gas} found in the GC sample loop (µmol injected), from the peak area and calibration",
    "headspace_umol": "{gas} in the reactor headspace (µmol), the loop amount scaled by the ideal-gas law "
    "to the headspace volume, temperature and pressure at injection",
    "area": "{gas} peak area (µV·s)",
    "in_range": "whether the {gas} amount lies inside the calibrated range",
    "chromatogram": "file name of the exported chromatogram",
    "chromatogram_time": "time axis of the raw detector trace (min)",
    "chromatogram_signal": "raw detector signal of the injection (µV), for re-integration",
    "injected_at": "loop time of the injection (s)",
}


def _fit(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` cut to, or padded with NaN to, ``n`` points (an export longer or shorter than
    the run's first, say after a method's run time was changed mid-run)."""
    if values.size == n:
        return values
    out = np.full(n, np.nan)
    out[: min(n, values.size)] = values[:n]
    return out


def read_trace(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Time (min) and signal (µV) of an exported ``gc-trace-csv/1`` chromatogram (``#`` header
    lines, one ``time_min,signal_uV`` column-header line, then rows); labctl's chromatography
    analysis reads the same files with full checks."""
    rows = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("time_min")
    ]
    data = np.loadtxt(rows, delimiter=",", ndmin=2) if rows else np.empty((0, 2))
    return np.ascontiguousarray(data[:, 0]), np.ascontiguousarray(data[:, 1])


@dataclass(frozen=True)
class CalibrationRequest:
    """Standards of one gas to fit: µmol injected and the peak areas they gave."""

    gas: str
    amounts_umol: Sequence[float]
    areas: Sequence[float]
    min_r2: float = 0.995


FitAndSave = Callable[[CalibrationRequest], Awaitable[Mapping[str, Any]]]


class CalibrationStore(StandardReadable, Movable[CalibrationRequest]):
    """Where the GC's calibrations live, as a device: ``set(request)`` fits and stores one gas.

    ``fit_and_save`` (supplied by the bench loader) fits ``area = slope * amount + intercept``,
    refuses a poor fit with an error that shows it, saves the calibration (dated, with its method
    and range) and puts it in force for the runs that follow; it returns the calibration as a
    dict.  The readback signals then hold that calibration, so a plan records it in its run with
    ``trigger_and_read([gc_calibration], name="calibration")``.
    """

    def __init__(self, fit_and_save: FitAndSave, *, name: str = "") -> None:
        self._fit_and_save = fit_and_save
        with self.add_children_as_readables():
            self.gas, self._set_gas = soft_signal_r_and_setter(str)
            self.slope, self._set_slope = soft_signal_r_and_setter(float, units="uV*s/umol")
            self.intercept, self._set_intercept = soft_signal_r_and_setter(float, units="uV*s")
            self.r_squared, self._set_r2 = soft_signal_r_and_setter(float)
            # JSON text, not an array: the catalog's table storage keeps no short per-event arrays
            self.residuals, self._set_residuals = soft_signal_r_and_setter(str, units="uV*s")
            self.amount_min, self._set_min = soft_signal_r_and_setter(float, units="umol")
            self.amount_max, self._set_max = soft_signal_r_and_setter(float, units="umol")
            self.created, self._set_created = soft_signal_r_and_setter(str)
            self.method, self._set_method = soft_signal_r_and_setter(str)
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def set(self, value: CalibrationRequest) -> None:
        cal = await self._fit_and_save(value)
        self._set_gas(str(cal["gas"]))
        self._set_slope(float(cal["slope"]))
        self._set_intercept(float(cal["intercept"]))
        self._set_r2(float(cal["r_squared"]))
        self._set_residuals(json.dumps([round(float(r), 3) for r in cal["residuals"]]))
        self._set_min(float(cal["amount_min_umol"]))
        self._set_max(float(cal["amount_max_umol"]))
        self._set_created(str(cal["created"]))
        self._set_method(str(cal["method"]))
