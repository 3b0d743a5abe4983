"""The simulated fluorometer end to end: monochromator, spectrometer and SR430 simulators on one sample compartment."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.devices.operator import HandStep
from labctl.sim.instruments.fluorometer import FluorometerSim, build_fluorometer_sim
from labctl.sim.physics.photophysics import find_material


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def send(fsim: FluorometerSim, line: str) -> None:
    """A command to the monochromator over its wire protocol; it must leave no error pending."""
    fsim.monochromator.handle(line.encode("ascii") + b"\r\n")
    assert fsim.monochromator.error == 0, f"{line!r} left error {fsim.monochromator.error}"


def frame(fsim: FluorometerSim, clock: FakeClock, seconds: float = 0.1) -> np.ndarray:
    """One electric-dark-corrected spectrum integrated over the ``seconds`` that just ended."""
    fsim.spectrometer.integration_time_micros(round(seconds * 1e6))
    clock.t += seconds
    return np.asarray(fsim.spectrometer.intensities(correct_dark_counts=True), dtype=float)


@pytest.fixture
def rig() -> tuple[FluorometerSim, FakeClock]:
    clock = FakeClock()
    return build_fluorometer_sim(clock, seed=7), clock


def test_starts_with_an_ss_film_at_350_nm_behind_a_closed_shutter(rig: tuple[FluorometerSim, FakeClock]) -> None:
    fsim, _ = rig
    assert fsim.sample is not None and fsim.sample.name == "Mn:(CdSe)13(BDA) SS"
    assert fsim.compartment.material is fsim.sample
    assert fsim.monochromator.wavelength_nm() == pytest.approx(350.0)
    assert not fsim.monochromator.shutter_open


def test_closed_shutter_shows_only_the_dark(rig: tuple[FluorometerSim, FakeClock]) -> None:
    fsim, clock = rig
    dark = frame(fsim, clock)
    wl = fsim.spectrometer.wavelengths()
    band = (wl > 560) & (wl < 620)
    # dark current 40 counts/s x 0.1 s, read noise 12 counts rms: nothing like an emission band
    assert abs(float(dark[band].mean())) < 10.0
    assert float(dark.max()) < 100.0


def test_open_shutter_shows_the_ss_emission_band_near_593_nm(rig: tuple[FluorometerSim, FakeClock]) -> None:
    fsim, clock = rig
    wl = fsim.spectrometer.wavelengths()
    closed = frame(fsim, clock)
    send(fsim, "SHUTTER O")
    opened = frame(fsim, clock)
    emission = wl > 450.0
    band = np.abs(wl - 593.0) < 20.0
    assert float(opened[band].mean()) > 100 * max(abs(float(closed[band].mean())), 1.0)
    # in photons (counts over the detector's responsivity) the band peaks at the Mn2+ emission
    photons = opened / fsim.spectrometer.true_responsivity()
    window = np.abs(wl - 593.0) < 100.0  # symmetric about the band: its centroid is its centre

    def centroid(y: np.ndarray) -> float:
        return float(np.sum(wl[window] * y[window]) / np.sum(y[window]))

    assert centroid(photons) == pytest.approx(593.0, abs=3.0)
    # in raw counts it is pulled towards the detector's ~560 nm maximum
    assert centroid(opened) < centroid(photons) - 0.3
    assert emission.any()


def test_the_monochromator_slits_set_the_excitation_bandpass_and_the_signal(
    rig: tuple[FluorometerSim, FakeClock],
) -> None:
    fsim, clock = rig
    wl = fsim.spectrometer.wavelengths()
    band = np.abs(wl - 593.0) < 20.0
    send(fsim, "SHUTTER O")
    narrow = frame(fsim, clock)[band].sum()
    send(fsim, "SLIT1MICRONS 3030")
    send(fsim, "SLIT2MICRONS 3030")
    assert fsim.monochromator.bandpass_nm() == pytest.approx(20.0, abs=0.01)
    wide = frame(fsim, clock)[band].sum()
    assert 2.0 < wide / narrow < 4.0  # 3x the band-pass, a little less absorbed per photon


def test_bleaching_through_the_monochromator_matches_the_paper(rig: tuple[FluorometerSim, FakeClock]) -> None:
    """350 nm, 20 nm slit, 30 min of open shutter: SS keeps 93 %; closed time does not count."""
    fsim, clock = rig
    send(fsim, "SLIT1MICRONS 3030")
    send(fsim, "SLIT2MICRONS 3030")
    clock.t += 600.0  # shutter still closed
    assert fsim.compartment.retention() == 1.0
    send(fsim, "SHUTTER O")
    clock.t += 1800.0
    send(fsim, "SHUTTER C")
    clock.t += 3600.0
    assert fsim.compartment.retention() == pytest.approx(0.93, abs=0.005)


def test_moving_the_monochromator_off_the_absorption_slows_bleaching(rig: tuple[FluorometerSim, FakeClock]) -> None:
    fsim, clock = rig
    send(fsim, "GOWAVE 500.000")
    clock.t += 5.0  # the move is over
    send(fsim, "SHUTTER O")
    clock.t += 1800.0
    assert fsim.compartment.retention() > 0.999  # SS barely absorbs at 500 nm


def test_load_film_puts_a_fresh_film_and_refuses_unknown_names(rig: tuple[FluorometerSim, FakeClock]) -> None:
    fsim, clock = rig
    send(fsim, "SHUTTER O")
    clock.t += 1800.0
    assert fsim.compartment.retention() < 1.0
    material = fsim.load_film("BDA-MSC")
    assert material.name == "Mn:(CdSe)13(BDA) MSC"
    assert fsim.sample is material and fsim.compartment.material is material
    assert fsim.compartment.retention() == 1.0
    with pytest.raises(KeyError, match="known"):
        fsim.load_film("perovskite")


def test_operator_steps_move_the_film_and_the_blank(rig: tuple[FluorometerSim, FakeClock]) -> None:
    fsim, clock = rig
    c = fsim.compartment
    ss = find_material("SS")
    wl = fsim.spectrometer.wavelengths()
    emission = np.abs(wl - 593.0) < 30.0
    line = np.abs(wl - 350.0) < 6.0
    dark = frame(fsim, clock, 1.0)  # dark current, shutter closed
    send(fsim, "SHUTTER O")

    assert fsim.operator_step(HandStep("sphere_blank", "blank substrate into the sphere")) is True
    assert c.in_sphere and c.blank_in_sphere and c.material is ss
    blank = frame(fsim, clock, 1.0)

    assert fsim.operator_step(HandStep("sphere_sample", "film into the sphere")) is True
    assert c.in_sphere and not c.blank_in_sphere and c.material is ss
    sample = frame(fsim, clock, 1.0)

    assert fsim.operator_step(HandStep("film", "film back into the holder")) is True
    assert not c.in_sphere and not c.blank_in_sphere and c.material is ss

    # the blank sends no emission (its frame is the dark); the film absorbs part of the excitation line and emits
    # (each frame's electric-dark correction from 18 black pixels shifts it by a few counts)
    assert abs(float((blank - dark)[emission].mean())) < 20.0
    assert float((sample - dark)[emission].mean()) > 100.0
    assert float(sample[line].sum()) < 0.8 * float(blank[line].sum())


def test_operator_step_places_the_pmt_filter(rig: tuple[FluorometerSim, FakeClock]) -> None:
    fsim, _ = rig
    assert fsim.pmt_band_nm == (573.0, 613.0)
    assert fsim.operator_step(HandStep("pmt_filter", "611 nm band-pass before the PMT", 611.0)) is True
    assert fsim.pmt_band_nm == pytest.approx((591.0, 631.0))


def test_steps_that_are_not_the_fluorometers_are_declined(rig: tuple[FluorometerSim, FakeClock]) -> None:
    fsim, _ = rig
    c = fsim.compartment
    assert fsim.operator_step(HandStep("co2_cylinder", "open the CO2 cylinder")) is False
    assert fsim.operator_step(HandStep("pmt_filter", "a filter without a wavelength")) is False
    assert fsim.pmt_band_nm == (573.0, 613.0)
    assert not c.in_sphere and not c.blank_in_sphere


def scan(fsim: FluorometerSim, clock: FakeClock, records: int) -> tuple[np.ndarray, np.ndarray]:
    """An SR430 scan of 1024 bins of 2.56 µs over its wire protocol; (bin edges, counts)."""
    fsim.scaler.handle(f"BWTH 6\nBREC 1\nRSCN {records}\nSSCN\n".encode("ascii"))
    clock.t += records / fsim.scaler.trigger_rate_hz + 1.0
    assert fsim.scaler.handle(b"MCSS?\n").strip() == b"2"  # scan complete, no overflow
    return fsim.scaler.bin_edges_s, fsim.scaler.histogram().astype(float)


def test_sr430_counts_the_compartments_decay_through_the_pmt_band(rig: tuple[FluorometerSim, FakeClock]) -> None:
    fsim, clock = rig
    records = 2000
    edges, counts = scan(fsim, clock, records)
    dark = fsim.scaler.dark_count_rate_hz * fsim.scaler.bin_width_s * records
    expected = fsim.compartment.decay_counts(edges, records, fsim.pmt_band_nm) + dark
    assert expected.sum() > 1e4
    assert counts.sum() == pytest.approx(expected.sum(), abs=5 * np.sqrt(expected.sum()))
    # early bins follow the 303 µs mono-exponential decay of the SS film
    early = edges[:-1] < 100e-6
    assert counts[early].sum() == pytest.approx(expected[early].sum(), abs=5 * np.sqrt(expected[early].sum()))
    t = 0.5 * (edges[:-1] + edges[1:])
    fit = (t > 10e-6) & (t < 900e-6)
    slope = np.polyfit(t[fit], np.log(np.clip(counts[fit] - dark, 1.0, None)), 1)[0]
    assert -1.0 / slope == pytest.approx(303e-6, rel=0.1)


def test_the_pmt_filter_band_decides_what_the_sr430_sees(rig: tuple[FluorometerSim, FakeClock]) -> None:
    fsim, clock = rig
    records = 2000
    _, on_band = scan(fsim, clock, records)
    fsim.operator_step(HandStep("pmt_filter", "700 nm band-pass", 700.0))
    assert fsim.pmt_band_nm == pytest.approx((680.0, 720.0))
    _, off_band = scan(fsim, clock, records)
    assert off_band.sum() < 0.05 * on_band.sum()


def test_the_blank_gives_the_sr430_only_dark_counts(rig: tuple[FluorometerSim, FakeClock]) -> None:
    fsim, clock = rig
    fsim.operator_step(HandStep("sphere_blank", "blank into the sphere"))
    records = 2000
    _, counts = scan(fsim, clock, records)
    dark = fsim.scaler.dark_count_rate_hz * fsim.scaler.bin_width_s * records * len(counts)
    assert counts.sum() == pytest.approx(dark, abs=5 * np.sqrt(dark) + 1)
