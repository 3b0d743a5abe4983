"""Fluorometer device on its simulators (the real drivers over in-process links), as the simulated bench wires it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from labctl.devices.drivers.cornerstone import CornerstoneDriver, MonochromatorHomeError
from labctl.devices.drivers.spectrometer import Spectrometer
from labctl.devices.drivers.sr430 import MultichannelScaler
from labctl.devices.fluorometer import Fluorometer, FluorometerLimitError, Grating, ShutterState
from labctl.devices.transports import InProcessTransport, InstrumentNotResponding
from labctl.sim.instruments.fluorometer import FluorometerSim, build_fluorometer_sim

Rig = tuple[Fluorometer, FluorometerSim]


async def make_fluorometer(**sim_kwargs: Any) -> Rig:
    """The fluorometer on the simulators, wired as ``labctl.bench`` does for the simulated bench."""
    fsim = build_fluorometer_sim(asyncio.get_running_loop().time, **sim_kwargs)
    fluor = Fluorometer(
        CornerstoneDriver(InProcessTransport("monochromator", fsim.monochromator, address="sim://monochromator")),
        Spectrometer("spectrometer", fsim.spectrometer, in_process=True),
        MultichannelScaler(InProcessTransport("scaler", fsim.scaler, address="sim://sr430")),
        grating=Grating(1, 1200, (180.0, 1000.0), 6.6),
        max_slit_um=3100,
        responsivity=fsim.factory_responsivity(),
        pmt_filters_nm=(585.0, 593.0, 611.0),
        name="fluor",
    )
    await fluor.connect()
    return fluor, fsim


@pytest.fixture
async def rig() -> Rig:
    return await make_fluorometer()


async def lit(fluor: Fluorometer, *, bandwidth_nm: float = 6.6, integration_s: float = 0.1) -> None:
    """350 nm excitation at ``bandwidth_nm``, a dark at ``integration_s``, then the shutter open."""
    await fluor.excitation.set(350.0)
    await fluor.excitation.bandwidth.set(bandwidth_nm)
    await fluor.integration_time.set(integration_s)
    await fluor.dark.trigger()
    await fluor.excitation.shutter.set(ShutterState.OPEN.value)


def chain(exc: BaseException | None) -> list[BaseException]:
    """The exception and its causes/contexts (ophyd-async may wrap what a setter raised)."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


# -- excitation ---------------------------------------------------------------------------------


async def test_connects_and_reads_its_configuration(rig: Rig) -> None:
    fluor, fsim = rig
    assert fluor.spectral_range() == pytest.approx((200.0, 850.0))
    config = await fluor.read_configuration()
    assert config["fluor-spectrometer_model"]["value"] == "FLAME-S FLMS0SIM"
    assert config["fluor-emission"]["value"] == pytest.approx(593.0)
    excitation = await fluor.excitation.read_configuration()
    assert excitation["fluor-excitation-shutter"]["value"] == "Closed"
    assert excitation["fluor-excitation-bandwidth"]["value"] == pytest.approx(6.6)
    assert fsim.monochromator.bandpass_nm() == pytest.approx(6.6)


async def test_excitation_moves_to_350_nm(rig: Rig) -> None:
    fluor, fsim = rig
    await fluor.excitation.set(420.0)
    assert fsim.monochromator.wavelength_nm() == pytest.approx(420.0)
    await fluor.excitation.set(350.0)
    assert await fluor.excitation.wavelength.get_value() == pytest.approx(350.0)
    assert fsim.monochromator.wavelength_nm() == pytest.approx(350.0)
    assert not fsim.monochromator.moving()
    reading = await fluor.excitation.read()
    assert reading["fluor-excitation-wavelength"]["value"] == pytest.approx(350.0)


async def test_wavelength_outside_the_grating_is_refused_before_anything_is_sent(rig: Rig) -> None:
    fluor, fsim = rig
    before = fsim.monochromator.wavelength_nm()
    with pytest.raises(FluorometerLimitError, match=r"1200 nm is outside grating 1 .*range 180-1000 nm"):
        await fluor.excitation.set(1200.0)
    await asyncio.sleep(5.0)
    assert fsim.monochromator.wavelength_nm() == before
    assert fsim.monochromator.error == 0


async def test_bandwidth_beyond_the_widest_slit_is_refused(rig: Rig) -> None:
    fluor, fsim = rig
    with pytest.raises(Exception) as info:
        await fluor.excitation.bandwidth.set(25.0)
    limit = [e for e in chain(info.value) if isinstance(e, FluorometerLimitError)]
    assert limit, f"expected a FluorometerLimitError, got {info.value!r}"
    message = str(limit[0])
    assert "25 nm" in message and "3788 µm" in message and "3100 µm" in message and "20.5 nm" in message
    assert fsim.monochromator.slit_um(1) == 1000.0 and fsim.monochromator.slit_um(2) == 1000.0


async def test_20_nm_bandwidth_sets_both_slits_to_3030_um(rig: Rig) -> None:
    fluor, fsim = rig
    await fluor.excitation.bandwidth.set(20.0)
    assert fsim.monochromator.slit_um(1) == pytest.approx(3030.0, abs=1.0)
    assert fsim.monochromator.slit_um(2) == pytest.approx(3030.0, abs=1.0)
    assert fsim.monochromator.bandpass_nm() == pytest.approx(20.0, abs=0.01)
    assert await fluor.excitation.bandwidth.get_value() == pytest.approx(20.0, abs=0.01)


async def test_shutter_signal_drives_the_monochromator(rig: Rig) -> None:
    fluor, fsim = rig
    await fluor.excitation.shutter.set(ShutterState.OPEN.value)
    assert fsim.monochromator.shutter_open
    assert await fluor.excitation.shutter.get_value() == "Open"
    await fluor.excitation.shutter.set(ShutterState.CLOSED.value)
    assert not fsim.monochromator.shutter_open


async def test_homing_failure_raises_the_drivers_error(rig: Rig) -> None:
    fluor, fsim = rig
    fsim.monochromator.fail_homing(True)
    with pytest.raises(Exception, match="could not home") as info:
        await fluor.excitation.set(400.0)
    assert any(isinstance(e, MonochromatorHomeError) for e in chain(info.value))
    assert fsim.monochromator.wavelength_nm() == pytest.approx(350.0)


# -- checks ---------------------------------------------------------------------------------


async def test_emission_window_must_clear_the_excitation_line(rig: Rig) -> None:
    fluor, _ = rig
    with pytest.raises(FluorometerLimitError, match=r"overlaps the excitation line at 350 nm.*above 370 nm"):
        fluor.check_emission_window(360.0, 700.0, 350.0, 20.0)
    with pytest.raises(FluorometerLimitError, match="overlaps"):
        fluor.check_emission_window(300.0, 345.0, 350.0, 20.0)
    with pytest.raises(FluorometerLimitError, match="empty"):
        fluor.check_emission_window(700.0, 500.0, 350.0, 20.0)
    fluor.check_emission_window(380.0, 800.0, 350.0, 20.0)
    fluor.check_emission_window(250.0, 320.0, 350.0, 20.0)


async def test_spectral_range_and_integration_checks(rig: Rig) -> None:
    fluor, fsim = rig
    fluor.check_in_spectral_range(400.0, 800.0)
    with pytest.raises(FluorometerLimitError, match="outside the spectrometer's range 200-850 nm"):
        fluor.check_in_spectral_range(400.0, 900.0)
    with pytest.raises(FluorometerLimitError, match="integration time 100 s"):
        fluor.check_integration(100.0)
    with pytest.raises(Exception) as info:
        await fluor.integration_time.set(0.0001)
    assert any(isinstance(e, FluorometerLimitError) for e in chain(info.value))
    assert fsim.spectrometer.integration_time_s == pytest.approx(0.01)  # untouched


async def test_pmt_filter_for_an_emission(rig: Rig) -> None:
    fluor, _ = rig
    assert fluor.pmt_filter_for(593.0) == 593.0
    assert fluor.pmt_filter_for(600.0) == 593.0
    assert fluor.pmt_filter_for(615.0) == 611.0
    with pytest.raises(FluorometerLimitError, match=r"no PMT filter passes 700 nm \(filters 585, 593, 611 nm"):
        fluor.pmt_filter_for(700.0)


# -- spectrometer ---------------------------------------------------------------------------------


async def test_dark_closes_the_shutter_while_it_integrates_and_restores_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    fluor, fsim = rig
    shutter_during: list[bool] = []
    read_spectrum: Callable[..., np.ndarray] = fsim.spectrometer.intensities

    def watched(*args: Any, **kwargs: Any) -> np.ndarray:
        shutter_during.append(fsim.monochromator.shutter_open)
        return read_spectrum(*args, **kwargs)

    monkeypatch.setattr(fsim.spectrometer, "intensities", watched)
    await fluor.integration_time.set(0.1)
    await fluor.excitation.shutter.set(ShutterState.OPEN.value)
    await fluor.dark.trigger()
    assert shutter_during == [False]
    assert fsim.monochromator.shutter_open
    dark = await fluor.dark.counts.get_value()
    assert dark.shape == (fsim.spectrometer.pixels,)
    # the raw dark frame: the electronic baseline, dark current and read noise, no emission band
    assert float(np.max(dark) - np.median(dark)) < 100.0

    await fluor.excitation.shutter.set(ShutterState.CLOSED.value)
    await fluor.dark.trigger()
    assert shutter_during == [False, False]
    assert not fsim.monochromator.shutter_open  # a closed shutter stays closed


async def test_point_pl_is_per_second_so_counts_grow_linearly_with_integration(rig: Rig) -> None:
    fluor, _ = rig
    await lit(fluor, integration_s=0.05)
    await fluor.point.trigger()
    pl_short = await fluor.point.pl.get_value()
    peak_short = await fluor.point.peak_counts.get_value()

    await fluor.integration_time.set(0.2)
    await fluor.dark.trigger()
    await fluor.point.trigger()
    pl_long = await fluor.point.pl.get_value()
    peak_long = await fluor.point.peak_counts.get_value()

    assert pl_short > 1e5
    assert pl_long == pytest.approx(pl_short, rel=0.05)  # counts x4 over 4x the time
    baseline = fluor.spectrometer_driver.backend.baseline_counts  # raw peaks carry the electronic offset
    assert (peak_long - baseline) / (peak_short - baseline) == pytest.approx(4.0, rel=0.1)
    reading = await fluor.point.read()
    assert reading["fluor-point-pl"]["value"] == pytest.approx(pl_long)
    assert reading["fluor-point-saturated"]["value"] is False


async def test_point_pl_is_about_zero_with_the_shutter_closed(rig: Rig) -> None:
    fluor, _ = rig
    await lit(fluor)
    await fluor.point.trigger()
    pl_open = await fluor.point.pl.get_value()
    await fluor.excitation.shutter.set(ShutterState.CLOSED.value)
    await fluor.point.trigger()
    pl_closed = await fluor.point.pl.get_value()
    assert pl_open > 1e5
    assert abs(pl_closed) < 0.005 * pl_open


async def test_point_follows_the_emission_window(rig: Rig) -> None:
    fluor, _ = rig
    await lit(fluor)
    await fluor.point.trigger()
    on_peak = await fluor.point.pl.get_value()
    await fluor.emission.set(750.0)
    await fluor.point.trigger()
    off_peak = await fluor.point.pl.get_value()
    assert off_peak < 0.02 * on_peak


async def test_a_long_integration_suggests_a_shorter_one(rig: Rig) -> None:
    fluor, _ = rig
    await lit(fluor, bandwidth_nm=20.0, integration_s=2.0)
    await fluor.point.trigger()
    assert await fluor.point.peak_counts.get_value() > 0.9 * 65535 - 1500
    assert await fluor.point.suggested_integration_time.get_value() < 2.0


async def test_a_clipped_frame_is_saturated(rig: Rig) -> None:
    fluor, _ = rig
    await lit(fluor, bandwidth_nm=20.0, integration_s=2.0)
    await fluor.point.trigger()
    assert await fluor.point.saturated.get_value() is True
    assert await fluor.point.suggested_integration_time.get_value() == pytest.approx(0.5)


async def test_not_saturated_at_a_tenth_of_a_second(rig: Rig) -> None:
    fluor, _ = rig
    await lit(fluor, bandwidth_nm=20.0, integration_s=0.1)
    await fluor.point.trigger()
    peak = await fluor.point.peak_counts.get_value()
    assert await fluor.point.saturated.get_value() is False
    assert peak < 0.9 * 65535
    suggested = await fluor.point.suggested_integration_time.get_value()
    assert suggested > 0.1  # room to integrate longer
    assert suggested == pytest.approx(0.1 * 0.7 * 65535 / peak, rel=1e-9)


async def test_spectrum_arrays_and_responsivity_correction(rig: Rig) -> None:
    fluor, fsim = rig
    await lit(fluor, integration_s=0.1)
    await fluor.spectrum.trigger()
    wl = await fluor.spectrum.wavelengths.get_value()
    counts = await fluor.spectrum.counts.get_value()
    corrected = await fluor.spectrum.corrected.get_value()
    n = fsim.spectrometer.pixels
    assert wl.shape == counts.shape == corrected.shape == (n,)
    np.testing.assert_allclose(wl, fsim.spectrometer.wavelengths())
    responsivity = fsim.factory_responsivity()
    np.testing.assert_allclose(corrected, counts / np.gradient(wl) / responsivity / 0.1, rtol=1e-9)
    assert await fluor.spectrum.integration.get_value() == pytest.approx(0.1)
    assert await fluor.spectrum.saturated.get_value() is False
    # the correction moves the apparent maximum from the counts' towards the true 593 nm emission
    window = np.abs(wl - 593.0) < 100.0  # symmetric about the band: its centroid is its centre

    def centroid(y: np.ndarray) -> float:
        return float(np.sum(wl[window] * y[window]) / np.sum(y[window]))

    assert centroid(corrected) == pytest.approx(593.0, abs=4.0)
    assert centroid(counts) < centroid(corrected) - 0.3


async def test_calibration_reads_the_wavelengths_and_responsivity(rig: Rig) -> None:
    fluor, fsim = rig
    await fluor.calibration.trigger()
    np.testing.assert_allclose(await fluor.calibration.wavelengths.get_value(), fsim.spectrometer.wavelengths())
    np.testing.assert_allclose(await fluor.calibration.responsivity.get_value(), fsim.factory_responsivity())


async def test_a_silent_spectrometer_raises_instrument_not_responding(rig: Rig) -> None:
    fluor, fsim = rig
    await fluor.integration_time.set(0.1)
    fsim.spectrometer.stop_answering(True)
    with pytest.raises(InstrumentNotResponding, match="failed to return a spectrum"):
        await fluor.point.trigger()


# -- decays ---------------------------------------------------------------------------------------


async def test_decay_histogram_decays_with_the_ss_lifetime(rig: Rig) -> None:
    fluor, fsim = rig
    await fluor.decay.bin_width.set(2.5e-6)
    await fluor.decay.bins.set(1000)
    await fluor.decay.records.set(2000)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await fluor.decay.trigger()
    assert loop.time() - t0 >= 2000 / 100.0  # one record per 10 ms pulse
    time = await fluor.decay.time.get_value()
    counts = await fluor.decay.counts.get_value()
    assert time.shape == counts.shape == (1024,)  # the SR430 records whole kilobins
    assert time[1] - time[0] == pytest.approx(2.56e-6)  # the nearest SR430 bin width
    assert fsim.scaler.records_done == 2000
    assert counts[:40].mean() > 20 * max(counts[-200:].mean(), 1.0)
    fit = (time > 10e-6) & (time < 900e-6)
    slope = np.polyfit(time[fit], np.log(np.clip(counts[fit], 1.0, None)), 1)[0]
    assert -1.0 / slope == pytest.approx(303e-6, rel=0.1)
    assert await fluor.decay.saturated.get_value() is False
    reading = await fluor.decay.read_configuration()
    assert reading["fluor-decay-excitation"]["value"] == pytest.approx(355.0)


async def test_a_record_longer_than_the_pulse_period_is_refused(rig: Rig) -> None:
    fluor, fsim = rig
    await fluor.decay.bin_width.set(10e-6)
    await fluor.decay.bins.set(5000)
    with pytest.raises(FluorometerLimitError, match=r"5000 bins x 10 µs = 50 ms is longer than the pulse period 10 ms"):
        await fluor.decay.trigger()
    assert fsim.scaler.bwth == 1 and fsim.scaler.brec == 1  # nothing was sent


async def test_a_record_the_scaler_rounds_beyond_the_period_is_refused(rig: Rig) -> None:
    fluor, fsim = rig
    await fluor.decay.bin_width.set(9e-6)  # 1000 x 9 µs fits; the SR430's 10.24 µs x 1024 does not
    await fluor.decay.bins.set(1000)
    with pytest.raises(FluorometerLimitError, match="would skip pulses"):
        await fluor.decay.trigger()
    assert not fsim.scaler.mcss() & 0x01  # no scan was started
