"""Physics model of a sealed photoreactor evolving H2 from a cluster photocatalyst under light.

The model tracks the gas in a sealed reactor (headspace of known volume over a liquid) in which
a photocatalyst suspension evolves H2 while lit: Ar from the purge, H2 from the catalyst, and
N2/O2/Ar from an optional air leak.  Time comes only from the clock passed in; the state is
advanced explicitly with :meth:`Photoreactor.advance` (queries advance it to ``clock()`` first).

**This model is ours, not the paper's.**  The published work on Co2+-doped (CdSe)13 cluster
networks gives no rates, so the numbers here are physically sensible model choices:

* Light.  A broadband lamp delivers ``optical_efficiency`` x electrical W into the useful band at
  the reactor; a monochromatic LED delivers its optical W at its wavelength.  Power becomes a
  photon flux at a representative wavelength: flux = P lambda / (h c N_A).  For a 300 W Xe lamp
  behind a >420 nm cutoff we take 10 % of the electrical power in the 420-780 nm band at the
  reactor (:data:`XE_OPTICAL_EFFICIENCY`, the low end of the 0.1-0.2 bench estimate; measure it
  with a power meter and override when known) and 450 nm as the representative wavelength.
* Absorption.  The catalyst absorbs only photons shorter than its absorption edge (photons are
  taken as evenly spread over the band), and a fraction ``1 - exp(-m / m0)`` of those, which
  saturates with the mass m of catalyst in the fixed dispersion volume.
* H2.  rate(H2) = 0.5 x quantum_yield x absorbed photon flux x exp(-t_irr / tau): two electrons
  per H2, and a slow deactivation with the irradiation time t_irr (tau from the fractional loss
  of activity per hour).  No H2 in the dark.  The default :data:`CO_CDSE13_NETWORK` gives a
  10 mg sample under the 300 W Xe lamp about 3.3e3 umol g^-1 h^-1 initially, an order typical
  of good cluster photocatalysts.
* Leak.  A fixed inflow of ambient air (mL at 1 atm and the reactor temperature per hour) adds
  N2, O2 and Ar in the ratio 78:21:1, whatever the headspace pressure (a simplification), and
  O2 does not react.
* Gas.  Ideal gas: n = pV/RT in the headspace at the actual temperature.  Optionally
  (``henry_partition=True``) each gas is split between headspace and liquid at Henry's-law
  equilibrium at every instant; off by default, so all gas is in the headspace.
* Sampling.  :meth:`Photoreactor.sample` returns the amounts in a GC sample loop filled from the
  headspace but does not remove gas from it: the loop (tens to hundreds of uL) is small next to
  the headspace (tens of mL), a model simplification.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

# -- physical constants (exact SI values) --------------------------------------------------------
PLANCK_J_S = 6.62607015e-34
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0
AVOGADRO_PER_MOL = 6.02214076e23
GAS_CONSTANT_J_PER_MOL_K = 8.314462618
STANDARD_PRESSURE_PA = 101_325.0
UMOL_PER_MOL = 1e6
M3_PER_ML = 1e-6
S_PER_H = 3600.0

# -- light ---------------------------------------------------------------------------------------
XE_ELECTRICAL_W = 300.0  # W, nominal electrical power of the Xe arc lamp
XE_OPTICAL_EFFICIENCY = 0.10  # in-band optical W at the reactor per electrical W (model choice)
XE_CUTOFF_BAND_NM = (420.0, 780.0)  # nm, band passed by the >420 nm cutoff filter (+ IR cut)
XE_REPRESENTATIVE_WAVELENGTH_NM = 450.0  # nm, wavelength used to turn in-band W into photons

# -- gases ---------------------------------------------------------------------------------------
AIR_MOLE_FRACTIONS: Mapping[str, float] = {"N2": 0.78, "O2": 0.21, "Ar": 0.01}  # dry air
# Henry's-law solubility in water at 298 K, mol m^-3 Pa^-1 (Sander, ACP 15, 4399 (2015));
# used only with henry_partition=True, temperature dependence ignored.
HENRY_MOL_PER_M3_PA: Mapping[str, float] = {"H2": 7.8e-6, "N2": 6.4e-6, "O2": 1.3e-5, "Ar": 1.4e-5}
REPORTED_GASES = ("H2", "O2", "N2", "Ar")  # always present in headspace_umol(), even at zero

# -- integration ---------------------------------------------------------------------------------
MAX_SUBSTEP_S = 60.0  # s, longest step over which the light is taken as constant
TRANSITION_TOLERANCE_S = 1e-3  # s, precision to which a lamp on/off instant is located


def molar_photon_energy_j_per_mol(wavelength_nm: float) -> float:
    """Energy of one mole of photons at ``wavelength_nm`` (J/mol): h c N_A / lambda."""
    if not wavelength_nm > 0:
        raise ValueError(f"wavelength_nm must be > 0 nm, got {wavelength_nm!r}")
    return PLANCK_J_S * SPEED_OF_LIGHT_M_PER_S * AVOGADRO_PER_MOL / (wavelength_nm * 1e-9)


@dataclass(frozen=True)
class Spectrum:
    """What a light source's output W means optically.

    :param optical_efficiency: optical W in ``band_nm`` reaching the reactor per W of
        ``output_watts`` (about 0.1 for an arc lamp's electrical W; 1.0 when the source reports
        optical W, as an LED calibrated with a power meter).
    :param band_nm: (shortest, longest) wavelength of the useful band, nm; equal for a
        monochromatic source.
    :param representative_wavelength_nm: wavelength at which in-band W are turned into photons.
    """

    optical_efficiency: float
    band_nm: tuple[float, float]
    representative_wavelength_nm: float

    def __post_init__(self) -> None:
        lo, hi = self.band_nm
        if not (0 < lo <= hi):
            raise ValueError(f"band_nm must be (shortest, longest) with 0 < shortest <= longest, got {self.band_nm!r}")
        if not self.optical_efficiency >= 0:
            raise ValueError(f"optical_efficiency must be >= 0, got {self.optical_efficiency!r}")
        if not self.representative_wavelength_nm > 0:
            raise ValueError(f"representative_wavelength_nm must be > 0 nm, got {self.representative_wavelength_nm!r}")

    @classmethod
    def monochromatic(cls, wavelength_nm: float) -> Spectrum:
        """A source at one wavelength whose output W are optical W."""
        return cls(1.0, (wavelength_nm, wavelength_nm), wavelength_nm)

    def optical_watts(self, output_watts: float) -> float:
        """In-band optical W at the reactor for a source output of ``output_watts``."""
        return max(0.0, output_watts) * self.optical_efficiency

    def photon_flux_umol_per_s(self, output_watts: float) -> float:
        """In-band photon flux at the reactor, umol photons per s."""
        energy = molar_photon_energy_j_per_mol(self.representative_wavelength_nm)
        return self.optical_watts(output_watts) / energy * UMOL_PER_MOL

    def fraction_below(self, edge_nm: float) -> float:
        """Fraction of the band's photons at wavelengths <= ``edge_nm`` (flat photon spectrum)."""
        lo, hi = self.band_nm
        if hi == lo:
            return 1.0 if lo <= edge_nm else 0.0
        return min(1.0, max(0.0, (edge_nm - lo) / (hi - lo)))


XE_420NM_CUTOFF = Spectrum(XE_OPTICAL_EFFICIENCY, XE_CUTOFF_BAND_NM, XE_REPRESENTATIVE_WAVELENGTH_NM)


@runtime_checkable
class LightSource(Protocol):
    """A light source as the reactor sees it.

    ``output_watts(t)`` is the source's power at time t (s on the reactor clock): electrical W
    for an arc lamp, optical W for a calibrated LED; its :class:`Spectrum` says which.  A source
    may also carry a ``spectrum`` attribute (:class:`HasSpectrum`) and a ``transitions(t0, t1)``
    method (:class:`HasTransitions`) listing the instants in (t0, t1) where its output changes,
    for exact integration; without it on/off instants are located by bisection.
    """

    def output_watts(self, t: float) -> float: ...

    def is_lit(self, t: float) -> bool: ...


@runtime_checkable
class HasSpectrum(Protocol):
    """A light source that says what its output W mean optically."""

    @property
    def spectrum(self) -> Spectrum: ...


@runtime_checkable
class HasTransitions(Protocol):
    """A piecewise-constant light source that lists the instants where its output changes."""

    def transitions(self, t0: float, t1: float) -> Sequence[float]: ...


class ScheduledLight:
    """A light source following a schedule of piecewise-constant output set at given times.

    :param spectrum: optical meaning of the output W.
    :param rated_watts: output used by :meth:`switch_on` when no power is given.
    """

    def __init__(self, spectrum: Spectrum, rated_watts: float) -> None:
        self.spectrum = spectrum
        self.rated_watts = rated_watts
        self._times: list[float] = []
        self._watts: list[float] = []

    def set_output(self, t: float, watts: float) -> None:
        """From time ``t`` on, output ``watts`` (W); times must not go backwards."""
        if watts < 0:
            raise ValueError(f"light output must be >= 0 W, got {watts!r} W at t={t!r} s")
        if self._times and t < self._times[-1]:
            raise ValueError(
                f"light schedule must go forward in time: t={t!r} s is before the last change at {self._times[-1]!r} s"
            )
        if self._times and t == self._times[-1]:
            self._watts[-1] = watts
        else:
            self._times.append(t)
            self._watts.append(watts)

    def switch_on(self, t: float, watts: float | None = None) -> None:
        """Light at time ``t`` with ``watts`` (default: the rated output)."""
        self.set_output(t, self.rated_watts if watts is None else watts)

    def switch_off(self, t: float) -> None:
        """Dark from time ``t`` on."""
        self.set_output(t, 0.0)

    def output_watts(self, t: float) -> float:
        i = bisect.bisect_right(self._times, t) - 1
        return self._watts[i] if i >= 0 else 0.0

    def is_lit(self, t: float) -> bool:
        return self.output_watts(t) > 0.0

    def transitions(self, t0: float, t1: float) -> list[float]:
        return [t for t in self._times if t0 < t < t1]


class XenonLamp(ScheduledLight):
    """Broadband Xe arc lamp behind a >420 nm cutoff; ``output_watts`` is electrical W."""

    def __init__(
        self,
        electrical_w: float = XE_ELECTRICAL_W,
        *,
        optical_efficiency: float = XE_OPTICAL_EFFICIENCY,
        band_nm: tuple[float, float] = XE_CUTOFF_BAND_NM,
        representative_wavelength_nm: float = XE_REPRESENTATIVE_WAVELENGTH_NM,
    ) -> None:
        super().__init__(Spectrum(optical_efficiency, band_nm, representative_wavelength_nm), electrical_w)


class MonochromaticSource(ScheduledLight):
    """Monochromatic source (LED, or lamp + band-pass) at ``wavelength_nm``; output is optical W."""

    def __init__(self, wavelength_nm: float, optical_w: float) -> None:
        super().__init__(Spectrum.monochromatic(wavelength_nm), optical_w)
        self.wavelength_nm = wavelength_nm


@dataclass(frozen=True)
class PhotocatalystSpec:
    """Photocatalytic behaviour of one catalyst in the reactor's standard dispersion.

    :param name: catalyst name.
    :param quantum_yield: electrons delivered to H2 per absorbed photon for the fresh catalyst,
        i.e. 2 n(H2) / n(absorbed photons), a fraction.
    :param absorption_edge_nm: no photon absorbed at longer wavelengths, nm.
    :param saturation_mass_mg: m0 in the absorbed fraction 1 - exp(-m / m0), mg.
    :param deactivation_per_h: fractional loss of activity per hour of irradiation (0.03 = 3 %).
    :param batch_variation: relative standard deviation of the activity between samples; each
        :class:`Photoreactor` draws its sample's factor from its ``rng_seed``.
    """

    name: str
    quantum_yield: float
    absorption_edge_nm: float
    saturation_mass_mg: float
    deactivation_per_h: float = 0.03
    batch_variation: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.quantum_yield <= 2:
            raise ValueError(
                f"{self.name}: quantum_yield must be within 0..2 (fraction of "
                f"absorbed photons), got {self.quantum_yield!r}"
            )
        if not self.saturation_mass_mg > 0:
            raise ValueError(f"{self.name}: saturation_mass_mg must be > 0 mg, got {self.saturation_mass_mg!r}")
        if not 0 <= self.deactivation_per_h < 1:
            raise ValueError(
                f"{self.name}: deactivation_per_h must be within 0..1 (fraction "
                f"lost per hour), got {self.deactivation_per_h!r}"
            )
        if not self.batch_variation >= 0:
            raise ValueError(f"{self.name}: batch_variation must be >= 0, got {self.batch_variation!r}")

    @property
    def deactivation_time_s(self) -> float:
        """tau in exp(-t_irr / tau), s; infinite without deactivation."""
        if self.deactivation_per_h == 0:
            return math.inf
        return -S_PER_H / math.log1p(-self.deactivation_per_h)

    def absorbed_fraction(self, mass_g: float, spectrum: Spectrum) -> float:
        """Fraction of the incident in-band photons the catalyst absorbs."""
        mass_mg = mass_g * 1e3
        saturation = -math.expm1(-mass_mg / self.saturation_mass_mg)
        return spectrum.fraction_below(self.absorption_edge_nm) * saturation


# Co2+-doped (CdSe)13 cluster network (model choice, not from the paper): absorption reaching
# 470 nm, absorption saturating near 50 mg in the standard dispersion (m0 = 20 mg), 0.3 % of
# absorbed photons give H2 electrons, 3 % activity lost per hour of light, 5 % batch spread.
CO_CDSE13_NETWORK = PhotocatalystSpec(
    name="Co2+:(CdSe)13 network",
    quantum_yield=0.003,
    absorption_edge_nm=470.0,
    saturation_mass_mg=20.0,
    deactivation_per_h=0.03,
    batch_variation=0.05,
)


class Photoreactor:
    """A sealed photoreactor: headspace gas, catalyst under a light source, an optional leak.

    :param clock: returns the current time, s (the only source of time).
    :param light: the light source (:class:`LightSource`).
    :param catalyst: the photocatalyst.
    :param catalyst_mass_g: catalyst mass in the reactor, g.
    :param headspace_volume_ml: gas volume above the liquid, mL.
    :param liquid_volume_ml: liquid volume, mL (used with ``henry_partition``).
    :param temperature_k: gas temperature, K; the attribute may be changed later.
    :param initial_gas: umol of each gas in the headspace at the start; default Ar filling the
        headspace at 1 atm and ``temperature_k`` (after an Ar purge).
    :param leak_rate_ml_air_per_h: inflow of ambient air, mL (1 atm, reactor T) per hour.
    :param spectrum: optical meaning of the light's output; default the light's own ``spectrum``
        attribute, else :data:`XE_420NM_CUTOFF`.
    :param henry_partition: split each gas between headspace and liquid by Henry's law.
    :param rng_seed: seed for the sample's activity factor (``catalyst.batch_variation``).
    """

    def __init__(
        self,
        clock: Callable[[], float],
        light: LightSource,
        *,
        catalyst: PhotocatalystSpec = CO_CDSE13_NETWORK,
        catalyst_mass_g: float = 0.010,
        headspace_volume_ml: float = 20.0,
        liquid_volume_ml: float = 50.0,
        temperature_k: float = 298.15,
        initial_gas: Mapping[str, float] | None = None,
        leak_rate_ml_air_per_h: float = 0.0,
        spectrum: Spectrum | None = None,
        henry_partition: bool = False,
        rng_seed: int | None = 0,
    ) -> None:
        for label, value in (
            ("catalyst_mass_g", catalyst_mass_g),
            ("headspace_volume_ml", headspace_volume_ml),
            ("temperature_k", temperature_k),
        ):
            if not value > 0:
                raise ValueError(f"Photoreactor: {label} must be > 0, got {value!r}")
        if not liquid_volume_ml >= 0:
            raise ValueError(f"Photoreactor: liquid_volume_ml must be >= 0, got {liquid_volume_ml!r}")
        if not leak_rate_ml_air_per_h >= 0:
            raise ValueError(f"Photoreactor: leak_rate_ml_air_per_h must be >= 0 mL/h, got {leak_rate_ml_air_per_h!r}")
        self.clock = clock
        self.light = light
        self.catalyst = catalyst
        self.catalyst_mass_g = catalyst_mass_g
        self.headspace_volume_ml = headspace_volume_ml
        self.liquid_volume_ml = liquid_volume_ml
        self.temperature_k = temperature_k
        self.leak_rate_ml_air_per_h = leak_rate_ml_air_per_h
        self.henry_partition = henry_partition
        if spectrum is None:
            spectrum = light.spectrum if isinstance(light, HasSpectrum) else XE_420NM_CUTOFF
        self.spectrum = spectrum
        rng = np.random.default_rng(rng_seed)
        spread = catalyst.batch_variation
        self.activity_factor = float(np.clip(1.0 + spread * rng.standard_normal(), 0.5, 1.5)) if spread else 1.0

        if initial_gas is None:
            initial_gas = {"Ar": self._ideal_gas_umol(STANDARD_PRESSURE_PA)}
        self._total_umol: dict[str, float] = dict.fromkeys(REPORTED_GASES, 0.0)
        for gas, umol in initial_gas.items():
            if not umol >= 0:
                raise ValueError(f"Photoreactor: initial_gas[{gas!r}] must be >= 0 umol, got {umol!r}")
            self._total_umol[gas] = umol * self._partition_factor(gas)
        self._t = float(clock())
        self._h2_produced_umol = 0.0
        self._irradiated_s = 0.0
        self._history_t: list[float] = [self._t]
        self._history_h2: list[float] = [0.0]

    # -- state ----------------------------------------------------------------------------------
    @property
    def time_s(self) -> float:
        """Time up to which the state has been integrated, s."""
        return self._t

    @property
    def h2_produced_umol(self) -> float:
        """H2 produced since the start (headspace + dissolved), umol (advanced to clock())."""
        self._auto_advance()
        return self._h2_produced_umol

    @property
    def irradiated_s(self) -> float:
        """Total time the catalyst has been lit, s (advanced to clock())."""
        self._auto_advance()
        return self._irradiated_s

    @property
    def history(self) -> tuple[list[float], list[float]]:
        """(times s, cumulative H2 produced umol), one point per integration substep."""
        return list(self._history_t), list(self._history_h2)

    # -- integration ----------------------------------------------------------------------------
    def advance(self, t: float | None = None) -> None:
        """Integrate the state from the last time to ``t`` (default ``clock()``), s."""
        target = float(self.clock()) if t is None else float(t)
        if target < self._t:
            raise ValueError(
                f"Photoreactor.advance: t={target!r} s is before the state time "
                f"{self._t!r} s; time must not go backwards"
            )
        if target == self._t:
            return
        bounds = [self._t]
        if isinstance(self.light, HasTransitions):
            bounds += sorted(x for x in self.light.transitions(self._t, target) if self._t < x < target)
        bounds.append(target)
        for a, b in itertools.pairwise(bounds):
            start = a
            while start < b:
                end = self._next_lit_change(start, min(b, start + MAX_SUBSTEP_S))
                self._integrate(start, end)
                start = end

    def _auto_advance(self) -> None:
        now = float(self.clock())
        if now > self._t:
            self.advance(now)

    def _lit(self, t: float) -> bool:
        return bool(self.light.is_lit(t)) and self.light.output_watts(t) > 0

    def _next_lit_change(self, a: float, b: float) -> float:
        """End of the first stretch of [a, b) with one lit state (bisection to the tolerance)."""
        state = self._lit(a)
        mid = 0.5 * (a + b)
        probe_end = b - 0.5 * TRANSITION_TOLERANCE_S
        if self._lit(mid) != state:
            lo, hi = a, mid
        elif probe_end > mid and self._lit(probe_end) != state:
            lo, hi = mid, probe_end
        else:
            return b
        while hi - lo > TRANSITION_TOLERANCE_S:
            m = 0.5 * (lo + hi)
            if self._lit(m) == state:
                lo = m
            else:
                hi = m
        return hi

    def _integrate(self, a: float, b: float) -> None:
        """Advance over [a, b), the light taken at the midpoint and constant."""
        dt = b - a
        mid = 0.5 * (a + b)
        if self._lit(mid):
            r0 = self._fresh_h2_rate_umol_per_s(self.light.output_watts(mid))
            tau = self.catalyst.deactivation_time_s
            if math.isinf(tau):
                produced = r0 * dt
            else:
                produced = r0 * tau * math.exp(-self._irradiated_s / tau) * -math.expm1(-dt / tau)
            self._h2_produced_umol += produced
            self._total_umol["H2"] += produced
            self._irradiated_s += dt
        if self.leak_rate_ml_air_per_h > 0:
            air_umol = self._ideal_gas_umol(STANDARD_PRESSURE_PA, self.leak_rate_ml_air_per_h * dt / S_PER_H)
            for gas, fraction in AIR_MOLE_FRACTIONS.items():
                self._total_umol[gas] = self._total_umol.get(gas, 0.0) + fraction * air_umol
        self._t = b
        self._history_t.append(b)
        self._history_h2.append(self._h2_produced_umol)

    # -- model ----------------------------------------------------------------------------------
    def _ideal_gas_umol(self, pressure_pa: float, volume_ml: float | None = None) -> float:
        volume_ml = self.headspace_volume_ml if volume_ml is None else volume_ml
        return pressure_pa * volume_ml * M3_PER_ML / (GAS_CONSTANT_J_PER_MOL_K * self.temperature_k) * UMOL_PER_MOL

    def _partition_factor(self, gas: str) -> float:
        """(headspace + dissolved) / headspace amount at Henry's-law equilibrium."""
        if not self.henry_partition:
            return 1.0
        henry = HENRY_MOL_PER_M3_PA.get(gas, 0.0)
        return 1.0 + (
            henry * GAS_CONSTANT_J_PER_MOL_K * self.temperature_k * self.liquid_volume_ml / self.headspace_volume_ml
        )

    def absorbed_fraction(self) -> float:
        """Fraction of the incident in-band photons absorbed by the catalyst."""
        return self.catalyst.absorbed_fraction(self.catalyst_mass_g, self.spectrum)

    def _fresh_h2_rate_umol_per_s(self, output_watts: float) -> float:
        absorbed = self.spectrum.photon_flux_umol_per_s(output_watts) * self.absorbed_fraction()
        return 0.5 * self.catalyst.quantum_yield * self.activity_factor * absorbed

    def photon_flux_umol_per_s(self, t: float) -> float:
        """In-band photon flux incident on the reactor at time ``t`` (umol photons per s)."""
        if not self.light.is_lit(t):
            return 0.0
        return self.spectrum.photon_flux_umol_per_s(self.light.output_watts(t))

    def initial_rate_umol_per_g_h(self, output_watts: float) -> float:
        """H2 rate of the fresh catalyst at a source output of ``output_watts``, umol g^-1 h^-1."""
        return self._fresh_h2_rate_umol_per_s(output_watts) * S_PER_H / self.catalyst_mass_g

    def rate_umol_per_h(self) -> float:
        """Instantaneous H2 rate at the current state time, umol/h (after advancing to clock())."""
        self._auto_advance()
        if not self._lit(self._t):
            return 0.0
        tau = self.catalyst.deactivation_time_s
        decay = 1.0 if math.isinf(tau) else math.exp(-self._irradiated_s / tau)
        return self._fresh_h2_rate_umol_per_s(self.light.output_watts(self._t)) * decay * S_PER_H

    def true_rate_umol_per_g_h(self, t0: float, t1: float) -> float:
        """H2 produced between ``t0`` and ``t1`` (s) per g of catalyst per hour: ground truth.

        Interpolated in the recorded history; both times must lie within the integrated span.
        """
        self._auto_advance()
        if not t1 > t0:
            raise ValueError(f"true_rate_umol_per_g_h: t1={t1!r} s must be after t0={t0!r} s")
        first, last = self._history_t[0], self._history_t[-1]
        if t0 < first or t1 > last:
            raise ValueError(
                f"true_rate_umol_per_g_h: ({t0!r}, {t1!r}) s is outside the "
                f"integrated span ({first!r}, {last!r}) s; advance the reactor first"
            )
        h0, h1 = np.interp([t0, t1], self._history_t, self._history_h2)
        return float(h1 - h0) / (self.catalyst_mass_g * (t1 - t0) / S_PER_H)

    # -- headspace ------------------------------------------------------------------------------
    def headspace_umol(self) -> dict[str, float]:
        """Amount of each gas in the headspace gas phase, umol (advanced to clock() first)."""
        self._auto_advance()
        return {gas: n / self._partition_factor(gas) for gas, n in self._total_umol.items()}

    def pressure_pa(self) -> float:
        """Headspace pressure, Pa: ideal gas n R T / V of the headspace amount."""
        total_mol = sum(self.headspace_umol().values()) / UMOL_PER_MOL
        volume_m3 = self.headspace_volume_ml * M3_PER_ML
        return total_mol * GAS_CONSTANT_J_PER_MOL_K * self.temperature_k / volume_m3

    def mole_fractions(self) -> dict[str, float]:
        """Mole fraction of each gas in the headspace."""
        amounts = self.headspace_umol()
        total = sum(amounts.values())
        if total <= 0:
            return dict.fromkeys(amounts, 0.0)
        return {gas: n / total for gas, n in amounts.items()}

    def sample(
        self,
        loop_volume_ml: float,
        loop_temperature_k: float | None = None,
        loop_pressure_pa: float | None = None,
    ) -> dict[str, float]:
        """Amount of each gas in a GC sample loop filled from the headspace, umol.

        n_loop = p V / (R T) of the loop (defaults: the headspace pressure and the reactor
        temperature), split by the headspace mole fractions.  The headspace is not depleted: the
        loop is small next to it (a model simplification).
        """
        if not loop_volume_ml > 0:
            raise ValueError(f"sample: loop_volume_ml must be > 0 mL, got {loop_volume_ml!r}")
        fractions = self.mole_fractions()
        t_loop = self.temperature_k if loop_temperature_k is None else loop_temperature_k
        p_loop = self.pressure_pa() if loop_pressure_pa is None else loop_pressure_pa
        if not t_loop > 0 or not p_loop >= 0:
            raise ValueError(
                f"sample: loop temperature must be > 0 K and pressure >= 0 Pa, got {t_loop!r} K, {p_loop!r} Pa"
            )
        n_loop_umol = p_loop * loop_volume_ml * M3_PER_ML / (GAS_CONSTANT_J_PER_MOL_K * t_loop) * UMOL_PER_MOL
        return {gas: x * n_loop_umol for gas, x in fractions.items()}
