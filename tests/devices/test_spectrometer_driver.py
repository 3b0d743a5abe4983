"""The spectrometer driver against a recording fake backend and the simulator, in virtual time."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import numpy as np
import pytest

from labctl.devices.drivers.spectrometer import Spectrometer, SpectrometerError
from labctl.devices.transports import InstrumentNotResponding
from labctl.sim.instruments.spectrometer import SeaBreezeError, SimulatedSpectrometer


class FakeBackend:
    """The python-seabreeze attributes, recording every call."""

    model = "FLAME-S"
    serial_number = "FLMS01234"
    pixels = 4
    max_intensity = 65535.0
    integration_time_micros_limits = (1000, 65_000_000)

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail: Exception | None = None
        self.block: threading.Event | None = None

    def integration_time_micros(self, us: int) -> None:
        self.calls.append(("integration_time_micros", us))
        if self.fail is not None:
            raise self.fail

    def wavelengths(self) -> np.ndarray:
        self.calls.append(("wavelengths", None))
        return np.array([400.0, 500.0, 600.0, 700.0])

    def intensities(self, correct_dark_counts: bool = False, correct_nonlinearity: bool = False) -> np.ndarray:
        self.calls.append(("intensities", (correct_dark_counts, correct_nonlinearity)))
        if self.block is not None:
            self.block.wait(5.0)
        if self.fail is not None:
            raise self.fail
        return np.array([1, 2, 3, 4])

    def close(self) -> None:
        self.calls.append(("close", None))


def make(**kwargs: Any) -> tuple[Spectrometer, FakeBackend]:
    backend = FakeBackend()
    return Spectrometer("emission", backend, **kwargs), backend


def test_identity_and_limits_from_backend() -> None:
    spec, _ = make()
    assert (spec.model, spec.serial_number, spec.max_intensity) == ("FLAME-S", "FLMS01234", 65535.0)
    assert spec.integration_limits_s == (0.001, 65.0)
    assert np.isnan(spec.integration_time_s)


@pytest.mark.parametrize("in_process", [True, False])
async def test_set_integration_time_sends_micros(in_process: bool) -> None:
    spec, backend = make(in_process=in_process)
    await spec.set_integration_time(0.25)
    assert backend.calls == [("integration_time_micros", 250_000)]
    assert spec.integration_time_s == 0.25
    await spec.set_integration_time(0.001)  # the limits themselves are allowed
    await spec.set_integration_time(65)
    assert backend.calls[-1] == ("integration_time_micros", 65_000_000)


@pytest.mark.parametrize(
    ("seconds", "match"),
    [
        (0.0005, r"integration time 0\.0005 s is below the minimum 0\.001 s \(limits 0\.001\.\.65 s\)"),
        (0.0, r"integration time 0 s is below the minimum"),
        (-1.0, r"is below the minimum"),
        (66.0, r"integration time 66 s is above the maximum 65 s \(limits 0\.001\.\.65 s\); use at most"),
        (float("nan"), r"integration time nan is not a number of seconds; pass a value in 0\.001\.\.65 s"),
        ("1", r"integration time '1' is not a number"),
        (True, r"integration time True is not a number"),
    ],
)
async def test_integration_time_checked_before_the_backend(seconds: Any, match: str) -> None:
    spec, backend = make()
    with pytest.raises(SpectrometerError, match=match) as info:
        await spec.set_integration_time(seconds)
    assert "spectrometer 'emission' (FLAME-S, serial FLMS01234)" in str(info.value)
    assert backend.calls == []
    assert np.isnan(spec.integration_time_s)


async def test_backend_refusal_becomes_spectrometer_error() -> None:
    spec, backend = make(in_process=True)
    backend.fail = SeaBreezeError("Integration not in [1000, 65000000]")
    match = r"refused integration time 0\.5 s \(500000 µs.*Integration not in"
    with pytest.raises(SpectrometerError, match=match) as info:
        await spec.set_integration_time(0.5)
    assert isinstance(info.value.__cause__, SeaBreezeError)
    assert np.isnan(spec.integration_time_s)


async def test_acquire_needs_an_integration_time() -> None:
    spec, backend = make(in_process=True)
    with pytest.raises(SpectrometerError, match=r"no integration time set; call set_integration_time\(\)"):
        await spec.acquire()
    assert backend.calls == []


@pytest.mark.parametrize("in_process", [True, False])
@pytest.mark.parametrize("dark", [True, False])
async def test_acquire_passes_dark_correction_and_returns_floats(in_process: bool, dark: bool) -> None:
    spec, backend = make(in_process=in_process)
    await spec.set_integration_time(0.2)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    counts = await spec.acquire(correct_dark_counts=dark)
    assert counts.dtype == float
    assert counts.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert backend.calls[-1] == ("intensities", (dark, False))
    if in_process:
        assert loop.time() - t0 == pytest.approx(0.2, abs=1e-9)  # waited one integration, in virtual time


async def test_wavelengths_read_once_and_copied() -> None:
    spec, backend = make(in_process=True)
    first = await spec.wavelengths()
    first[0] = -1.0
    second = await spec.wavelengths()
    assert second.tolist() == [400.0, 500.0, 600.0, 700.0]
    assert [c for c, _ in backend.calls].count("wavelengths") == 1


async def test_close() -> None:
    spec, backend = make()
    await spec.close()
    assert backend.calls == [("close", None)]


@pytest.mark.parametrize("in_process", [True, False])
async def test_backend_failure_during_acquire_is_not_responding(in_process: bool) -> None:
    spec, backend = make(in_process=in_process)
    await spec.set_integration_time(0.01)
    backend.fail = SeaBreezeError("Data transfer error")
    with pytest.raises(InstrumentNotResponding) as info:
        await spec.acquire()
    message = str(info.value)
    assert "spectrometer 'emission' (FLAME-S, serial FLMS01234) failed to return a spectrum" in message
    assert "SeaBreezeError: Data transfer error" in message
    assert "USB cable and power" in message and "re-plug" in message
    assert isinstance(info.value.__cause__, SeaBreezeError)


async def test_hung_usb_read_times_out() -> None:
    spec, backend = make(timeout_s=0.05)
    await spec.set_integration_time(0.001)
    backend.block = threading.Event()
    try:
        with pytest.raises(InstrumentNotResponding, match=r"returned no spectrum within 0\.051 s .*re-plug"):
            await spec.acquire()
    finally:
        backend.block.set()


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"timeout_s=0 must be a positive number"):
        Spectrometer("emission", FakeBackend(), timeout_s=0)


def test_open_seabreeze_without_seabreeze_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "seabreeze", None)
    monkeypatch.setitem(sys.modules, "seabreeze.spectrometers", None)
    with pytest.raises(SpectrometerError, match=r"spectrometer 'emission': python-seabreeze is not installed") as info:
        Spectrometer.open_seabreeze("emission")
    assert "pip install seabreeze" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


class _FakeSeaBreezeModule:
    """A stand-in ``seabreeze.spectrometers`` module with no devices attached."""

    class Spectrometer:
        @classmethod
        def from_first_available(cls) -> Any:
            raise SeaBreezeError("No unused spectrometer available")

        @classmethod
        def from_serial_number(cls, serial: str) -> Any:
            raise SeaBreezeError(f"No device attached with serial number '{serial}'")

    def __init__(self, devices: list[str]) -> None:
        self._devices = devices

    def list_devices(self) -> list[str]:
        return self._devices


def test_open_seabreeze_without_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "seabreeze", object())
    monkeypatch.setitem(sys.modules, "seabreeze.spectrometers", _FakeSeaBreezeModule([]))
    with pytest.raises(SpectrometerError, match=r"no Ocean Insight spectrometer found on USB \(serial number 'X1'"):
        Spectrometer.open_seabreeze("emission", "X1")


def test_open_seabreeze_wrong_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "seabreeze", object())
    monkeypatch.setitem(sys.modules, "seabreeze.spectrometers", _FakeSeaBreezeModule(["<FLAME-S:FLMS01234>"]))
    with pytest.raises(SpectrometerError, match=r"could not open .*'X1'.*found <FLAME-S:FLMS01234>; fix the serial"):
        Spectrometer.open_seabreeze("emission", "X1")


# -- against the simulator, on the virtual-time loop ---------------------------------------------


def flat(photons_per_s: float) -> Any:
    def source(t0: float, t1: float, wl: np.ndarray) -> np.ndarray:
        return np.full(wl.shape, photons_per_s * (t1 - t0))

    return source


async def test_simulated_spectrometer_through_the_driver() -> None:
    loop = asyncio.get_running_loop()
    sim = SimulatedSpectrometer(loop.time, flat(2e5), seed=1)
    spec = Spectrometer("emission", sim, in_process=True)
    assert (spec.model, spec.serial_number, spec.max_intensity) == ("FLAME-S", "FLMS0SIM", 65535.0)
    with pytest.raises(SpectrometerError, match=r"above the maximum 65 s"):
        await spec.set_integration_time(100)
    await spec.set_integration_time(0.1)
    wl = await spec.wavelengths()
    assert wl.shape == (2048,) and wl[0] == pytest.approx(200.0) and wl[-1] == pytest.approx(850.0)
    counts = await spec.acquire()
    assert sim.acquisitions == 1
    peak = int(np.argmax(sim.true_responsivity()))
    expected = 2e5 * 0.1 * sim.true_responsivity()[peak]
    assert counts[peak - 20 : peak + 20].mean() == pytest.approx(expected, rel=0.05)


async def test_simulator_that_stops_answering_raises_not_responding() -> None:
    loop = asyncio.get_running_loop()
    sim = SimulatedSpectrometer(loop.time, flat(1e4))
    spec = Spectrometer("emission", sim, in_process=True)
    await spec.set_integration_time(0.05)
    sim.stop_answering()
    with pytest.raises(InstrumentNotResponding, match=r"FLAME-S, serial FLMS0SIM\) failed .*SeaBreezeError"):
        await spec.acquire()
    sim.stop_answering(False)
    assert (await spec.acquire()).shape == (2048,)


# -- the Lamp Enable line -------------------------------------------------------------------------


class _Recorder:
    """One python-seabreeze feature whose single method records its argument."""

    def __init__(self, calls: list[tuple[str, Any]], method: str, fail: Exception | None = None) -> None:
        def call(state: Any) -> None:
            calls.append((method, state))
            if fail is not None:
                raise fail

        setattr(self, method, call)


class _Features:
    def __init__(self, strobe_lamp: object | None, continuous_strobe: object | None) -> None:
        self.strobe_lamp = strobe_lamp
        self.continuous_strobe = continuous_strobe


def with_features(*, strobe_lamp: bool, continuous_strobe: bool, fail: Exception | None = None) -> FakeBackend:
    """A backend with cseabreeze's strobe lamp and/or pyseabreeze's continuous strobe (None when absent)."""
    backend = FakeBackend()
    backend.f = _Features(  # type: ignore[attr-defined]
        _Recorder(backend.calls, "enable_lamp", fail) if strobe_lamp else None,
        _Recorder(backend.calls, "set_enable", fail) if continuous_strobe else None,
    )
    return backend


NO_LAMP_ENABLE = (
    "spectrometer 'emission' (FLAME-S, serial FLMS01234): this model has no Lamp Enable control in "
    "python-seabreeze (the backend offers neither f.strobe_lamp.enable_lamp nor f.continuous_strobe.set_enable); "
    "drive the light source's TTL shutter from a relay instead and give that relay as the shutter"
)


@pytest.mark.parametrize("features", [False, True])
async def test_lamp_enable_without_the_feature_is_refused(features: bool) -> None:
    backend = with_features(strobe_lamp=False, continuous_strobe=False) if features else FakeBackend()
    spec = Spectrometer("emission", backend, in_process=True)
    assert spec.lamp_enable_feature is None and not spec.supports_lamp_enable
    with pytest.raises(SpectrometerError) as info:
        await spec.set_lamp_enable(True)
    assert str(info.value) == NO_LAMP_ENABLE
    assert backend.calls == [] and spec.lamp_enabled is None


@pytest.mark.parametrize("in_process", [True, False])
async def test_lamp_enable_through_cseabreeze_strobe_lamp_first(in_process: bool) -> None:
    backend = with_features(strobe_lamp=True, continuous_strobe=True)
    spec = Spectrometer("emission", backend, in_process=in_process)
    assert spec.lamp_enable_feature == "strobe_lamp.enable_lamp" and spec.supports_lamp_enable
    assert spec.lamp_enabled is None
    await spec.set_lamp_enable(True)
    assert spec.lamp_enabled is True
    await spec.set_lamp_enable(False)
    assert backend.calls == [("enable_lamp", True), ("enable_lamp", False)]
    assert spec.lamp_enabled is False


async def test_lamp_enable_through_pyseabreeze_continuous_strobe() -> None:
    backend = with_features(strobe_lamp=False, continuous_strobe=True)
    spec = Spectrometer("emission", backend, in_process=True)
    assert spec.lamp_enable_feature == "continuous_strobe.set_enable"
    await spec.set_lamp_enable(True)
    assert backend.calls == [("set_enable", True)] and spec.lamp_enabled is True


@pytest.mark.parametrize("value", [1, 0, "on", None])
async def test_lamp_enable_needs_a_bool(value: Any) -> None:
    backend = with_features(strobe_lamp=True, continuous_strobe=False)
    spec = Spectrometer("emission", backend, in_process=True)
    with pytest.raises(SpectrometerError, match=r"lamp enable .* is not a bool; pass True \(line high\) or False"):
        await spec.set_lamp_enable(value)
    assert backend.calls == []


async def test_lamp_enable_refused_by_the_backend_leaves_the_state_unknown() -> None:
    backend = with_features(strobe_lamp=True, continuous_strobe=False)
    spec = Spectrometer("emission", backend, in_process=True)
    await spec.set_lamp_enable(True)
    backend.f.strobe_lamp = _Recorder(backend.calls, "enable_lamp", SeaBreezeError("Data transfer error"))  # type: ignore[attr-defined]
    with pytest.raises(SpectrometerError) as info:
        await spec.set_lamp_enable(False)
    assert str(info.value) == (
        "spectrometer 'emission' (FLAME-S, serial FLMS01234): refused lamp enable off through "
        "strobe_lamp.enable_lamp (SeaBreezeError: Data transfer error); re-plug the spectrometer, or drive "
        "the source's shutter from a relay"
    )
    assert isinstance(info.value.__cause__, SeaBreezeError)
    assert spec.lamp_enabled is None


async def test_simulator_lamp_enable_line_through_the_driver() -> None:
    loop = asyncio.get_running_loop()
    sim = SimulatedSpectrometer(loop.time, flat(1e4))
    spec = Spectrometer("emission", sim, in_process=True)
    assert spec.lamp_enable_feature == "strobe_lamp.enable_lamp"
    assert sim.lamp_enabled is False and sim.lamp_changes == []
    t0 = loop.time()
    await spec.set_lamp_enable(True)
    await asyncio.sleep(2.5)
    await spec.set_lamp_enable(True)  # no change, not logged
    await spec.set_lamp_enable(False)
    assert sim.lamp_enabled is False
    assert sim.lamp_changes == [(t0, True), (t0 + 2.5, False)]
    sim.close()
    with pytest.raises(SpectrometerError, match=r"refused lamp enable on .*SeaBreezeError: Device is closed"):
        await spec.set_lamp_enable(True)
