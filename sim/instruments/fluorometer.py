"""The simulated fluorometer: the parts' protocol simulators sharing one sample compartment.

``build_fluorometer_sim`` makes a :class:`labctl.sim.physics.photophysics.SampleCompartment` lit through a
Cornerstone monochromator simulator (wavelength, slit and shutter decide the excitation; every
change is reported to the compartment so the bleaching dose integrates exactly), a simulated
Ocean spectrometer that collects what the compartment sends to it, and an SR430 simulator
counting the pulsed decays through the PMT's band-pass filter.  The bench loader connects the
real drivers to these, exactly as to the instruments.

Hand steps of the PL plans are done here by the simulated operator: ``sphere_blank`` /
``sphere_sample`` move the blank substrate / the film into the integrating sphere, ``film``
puts the film back in the front-face holder, ``pmt_filter`` places a band-pass filter
(``value`` = centre nm) before the PMT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labctl.devices.operator import HandStep
from labctl.sim.instruments.cornerstone import CornerstoneSimulator
from labctl.sim.instruments.spectrometer import SimulatedSpectrometer
from labctl.sim.instruments.sr430 import SR430Simulator
from labctl.sim.physics.photophysics import Excitation, Material, SampleCompartment, find_material


@dataclass
class FluorometerSim:
    """The fluorometer's simulators and the sample compartment they share."""

    compartment: SampleCompartment
    monochromator: CornerstoneSimulator
    spectrometer: SimulatedSpectrometer
    scaler: SR430Simulator
    pmt_band_nm: tuple[float, float] = (573.0, 613.0)
    pmt_filter_width_nm: float = 40.0
    sample: Material | None = None

    def load_film(self, name: str) -> Material:
        """A fresh film of ``name`` in the front-face holder (raises KeyError naming the known ones)."""
        material = find_material(name)
        self.sample = material
        self.compartment.load(material)
        return material

    def operator_step(self, step: HandStep) -> bool:
        """Do a fluorometer hand step; False if the step is not the fluorometer's."""
        c = self.compartment
        if step.key == "sphere_blank":
            c.load(self.sample, in_sphere=True, blank=True)
        elif step.key == "sphere_sample":
            c.load(self.sample, in_sphere=True)
        elif step.key == "film":
            c.load(self.sample)
        elif step.key == "pmt_filter" and step.value is not None:
            half = self.pmt_filter_width_nm / 2
            self.pmt_band_nm = (float(step.value) - half, float(step.value) + half)
        else:
            return False
        return True

    def factory_responsivity(self) -> np.ndarray:
        """The spectrometer's factory irradiance calibration, at its pixels."""
        _wl, resp = self.spectrometer.irradiance_calibration()
        return np.asarray(resp, dtype=float)


def build_fluorometer_sim(
    clock: Callable[[], float],
    *,
    seed: int = 1,
    echo: bool = True,
    pulse_rate_hz: float = 100.0,
    pulsed_excitation_nm: float = 355.0,
    pmt_filter_width_nm: float = 40.0,
    material: str | None = "SS",
) -> FluorometerSim:
    """The fluorometer's simulators on one compartment (call where ``clock`` can be read)."""
    mono_ref: list[CornerstoneSimulator] = []

    def excitation() -> Excitation:
        mono = mono_ref[0]
        return Excitation(mono.wavelength_nm(), mono.bandpass_nm(), mono.shutter_open)

    compartment = SampleCompartment(clock, excitation, pulsed_excitation_nm=pulsed_excitation_nm)
    monochromator = CornerstoneSimulator(
        clock, echo=echo, wavelength_nm=350.0, on_change=compartment.excitation_changed
    )
    mono_ref.append(monochromator)
    sim = FluorometerSim(
        compartment=compartment,
        monochromator=monochromator,
        spectrometer=SimulatedSpectrometer(clock, compartment.photons, seed=seed + 200),
        scaler=SR430Simulator(
            clock,
            lambda edges, n: compartment.decay_counts(edges, n, sim.pmt_band_nm),
            trigger_rate_hz=pulse_rate_hz,
            seed=seed + 300,
        ),
        pmt_filter_width_nm=pmt_filter_width_nm,
    )
    if material is not None:
        sim.load_film(material)
    return sim
