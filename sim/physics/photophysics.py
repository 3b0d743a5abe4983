"""Photophysics of the Mn2+-doped (CdSe)13 cluster films in the fluorometer's sample compartment.

The model behind the simulated fluorometer: what a film absorbs, emits, how its
photoluminescence (PL) bleaches under the excitation beam and how it decays after a pulse.
The protocol simulators of the monochromator, the spectrometer and the multichannel scaler
read it through three calls: :meth:`SampleCompartment.advance` (the excitation is about to
change), :meth:`SampleCompartment.photons` (photons reaching each spectrometer pixel in a time
window) and :meth:`SampleCompartment.decay_counts` (expected PMT counts per time bin after the
pulsed source fires).

From Baek et al., Nature Materials 2021 (doi 10.1038/s41563-020-00880-6), via SCIENCE.md:

* absorption: Mn2+:(CdSe)13 clusters 353 and 340 nm with a broad band at 305 nm; (ZnSe)13
  analogues 290 and 280 nm; CdSe nanoribbons (NR) 450 and 421 nm;
* Mn2+ emission ~593 nm (NR 611 nm); the excitation spectrum follows the absorption;
* solid-state PLQY: BA-MSC < 1 %, NR < 1 %, BDA-MSC ~35 %, BDA-SS ~72 %, ODA-SS ~62 %;
* decays: BDA-MSC bi-exponential 305 µs (53.5 %) + 84 µs (46.5 %); SS mono-exponential 303 µs;
* photostability under 350 nm (448 nm for NR), 20 nm excitation slit: after 30 min BA-MSC lost
  78 %, NR 65 %, BDA-MSC 13 %, SS 7 %; after prolonged irradiation SS kept 83 %, BDA-MSC 69 %.

Our model and choices (plausible, not given by the paper):

* Bleaching: a photolabile fraction of the emitting Mn2+ sites bleaches first order in the
  absorbed photon dose, the rest is photostable:
  R(D) = R_inf + (1 - R_inf) exp(-k D), with the dose D in "hours at the reference absorbed
  photon rate" (the rate the film absorbs under the paper's conditions on this simulator).
  R_inf and k per material are solved from the two published retentions, "prolonged" being
  the 12 h overnight run; for BA-MSC and NR (no long-time number) R_inf = 0.  Halving the
  slit halves the absorbed rate and so the bleaching rate.  Only the CW excitation bleaches;
  the pulsed source of the decay measurements delivers too few photons to matter.
* Band shapes: Gaussian absorption bands of our widths; the film's absorbance at its first
  peak is 0.45 (about 65 % absorbed); Mn2+ emission a Gaussian of 65 nm FWHM; the ZnSe analogue
  emits at 585 nm and has PLQY 0.50, ODA-SS decays mono-exponentially in 290 µs, and BA-MSC and
  NR decay faster (their PL is quenched) -- all our values.
* Light: the CW Xe lamp behind the excitation monochromator gives a 6000 K blackbody-shaped
  photon flux of 2e12 photons s^-1 nm^-1 at 350 nm, with the monochromator's triangular slit
  function of FWHM = band-pass.  The film scatters 5 % of the light it does not absorb into
  the collection optics; the collection optics pass a fixed fraction of what the film emits.
  In the integrating sphere every photon leaving the sample is collected with one efficiency
  (no re-absorption), which is what the sphere method assumes.
* Numbers are expected photon counts; the detectors add the noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

H_C_OVER_K_NM_K = 1.438777e7  # h c / k_B in nm K


@dataclass(frozen=True)
class Material:
    """One film material: optics, PLQY, bleaching and decay.

    :param absorption_bands: (centre nm, FWHM nm, relative height) of each band.
    :param peak_absorbance: film absorbance at the strongest band.
    :param retention_30min: PL fraction left after 30 min at the reference excitation.
    :param retention_long: PL fraction left after ``long_s`` (None: bleaches to zero).
    :param decay: (lifetime s, amplitude fraction) of each exponential component.
    :param reference_excitation_nm: the excitation of the published photostability run.
    """

    name: str
    aliases: tuple[str, ...]
    absorption_bands: tuple[tuple[float, float, float], ...]
    emission_nm: float
    plqy: float
    retention_30min: float
    retention_long: float | None
    decay: tuple[tuple[float, float], ...]
    emission_fwhm_nm: float = 65.0
    peak_absorbance: float = 0.45
    reference_excitation_nm: float = 350.0
    long_s: float = 12 * 3600.0

    @property
    def stable_fraction(self) -> float:
        """R_inf: the photostable fraction (the long-time retention, 0 when not published)."""
        return 0.0 if self.retention_long is None else self.retention_long

    @property
    def bleach_rate_per_h(self) -> float:
        """k (h^-1 at the reference absorbed rate) from R(30 min) = R_inf + (1 - R_inf) e^(-k/2)."""
        r_inf = self.stable_fraction
        return -2.0 * math.log((self.retention_30min - r_inf) / (1.0 - r_inf))

    def retention(self, dose_h: float | np.ndarray) -> float | np.ndarray:
        """PL retention after ``dose_h`` hours at the reference absorbed photon rate."""
        r_inf = self.stable_fraction
        return r_inf + (1.0 - r_inf) * np.exp(-self.bleach_rate_per_h * np.asarray(dose_h))

    def absorbance(self, wavelengths_nm: np.ndarray) -> np.ndarray:
        """Film absorbance (base 10) at each wavelength."""
        wl = np.asarray(wavelengths_nm, dtype=float)
        a = np.zeros_like(wl)
        top = max(h for _, _, h in self.absorption_bands)
        for centre, fwhm, height in self.absorption_bands:
            a += height / top * np.exp(-4 * math.log(2) * ((wl - centre) / fwhm) ** 2)
        return self.peak_absorbance * a

    def absorptance(self, wavelengths_nm: np.ndarray) -> np.ndarray:
        """Fraction of the incident light the film absorbs."""
        return 1.0 - 10.0 ** (-self.absorbance(wavelengths_nm))

    def emission_shape(self, wavelengths_nm: np.ndarray) -> np.ndarray:
        """Emission spectrum normalised to unit area (per nm)."""
        sigma = self.emission_fwhm_nm / (2 * math.sqrt(2 * math.log(2)))
        wl = np.asarray(wavelengths_nm, dtype=float)
        return np.exp(-0.5 * ((wl - self.emission_nm) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))

    def decay_fraction_in(self, t0_s: np.ndarray, t1_s: np.ndarray) -> np.ndarray:
        """Fraction of all emitted photons emitted between t0 and t1 after the pulse."""
        amps = np.array([a for _, a in self.decay])
        taus = np.array([t for t, _ in self.decay])
        weights = amps * taus / np.sum(amps * taus)
        t0 = np.asarray(t0_s, dtype=float)[..., None]
        t1 = np.asarray(t1_s, dtype=float)[..., None]
        return np.sum(weights * (np.exp(-np.clip(t0, 0, None) / taus) - np.exp(-np.clip(t1, 0, None) / taus)), axis=-1)


_CDSE_BANDS = ((353.0, 9.0, 1.0), (340.0, 10.0, 0.8), (305.0, 30.0, 0.9))

MATERIALS: tuple[Material, ...] = (
    Material(
        name="Mn:(CdSe)13(BDA) SS",
        aliases=("SS", "BDA-SS", "Mn2+:(CdSe)13(BDA) SS"),
        absorption_bands=_CDSE_BANDS,
        emission_nm=593.0,
        plqy=0.72,
        retention_30min=0.93,
        retention_long=0.83,
        decay=((303e-6, 1.0),),
    ),
    Material(
        name="Mn:(CdSe)13(BDA) MSC",
        aliases=("BDA-MSC", "MSC", "Mn2+:(CdSe)13(BDA) MSC"),
        absorption_bands=_CDSE_BANDS,
        emission_nm=593.0,
        plqy=0.35,
        retention_30min=0.87,
        retention_long=0.69,
        decay=((305e-6, 0.535), (84e-6, 0.465)),
    ),
    Material(
        name="Mn:(CdSe)13(BA) MSC",
        aliases=("BA-MSC", "Mn2+:(CdSe)13(BA) MSC"),
        absorption_bands=_CDSE_BANDS,
        emission_nm=593.0,
        plqy=0.008,
        retention_30min=0.22,
        retention_long=None,
        decay=((180e-6, 0.3), (40e-6, 0.7)),
    ),
    Material(
        name="Mn:CdSe NR",
        aliases=("NR", "Mn2+:CdSe NR", "Mn:CdSe nanoribbons"),
        absorption_bands=((450.0, 12.0, 1.0), (421.0, 14.0, 0.7), (380.0, 40.0, 0.6)),
        emission_nm=611.0,
        plqy=0.006,
        retention_30min=0.35,
        retention_long=None,
        decay=((150e-6, 0.4), (30e-6, 0.6)),
        reference_excitation_nm=448.0,
    ),
    Material(
        name="Mn:(CdSe)13(ODA) SS",
        aliases=("ODA-SS", "Mn2+:(CdSe)13(ODA) SS"),
        absorption_bands=_CDSE_BANDS,
        emission_nm=593.0,
        plqy=0.62,
        retention_30min=0.92,
        retention_long=0.80,
        decay=((290e-6, 1.0),),
    ),
    Material(
        name="Mn:(ZnSe)13(BDA) SS",
        aliases=("ZnSe-SS", "Mn2+:(ZnSe)13(BDA) SS"),
        absorption_bands=((290.0, 8.0, 1.0), (280.0, 9.0, 0.8), (250.0, 25.0, 0.9)),
        emission_nm=585.0,
        plqy=0.50,
        retention_30min=0.94,
        retention_long=0.85,
        decay=((320e-6, 1.0),),
        reference_excitation_nm=290.0,
    ),
)


def _key(name: str) -> str:
    return name.strip().lower().replace("2+", "").replace(" ", "")


def find_material(name: str) -> Material:
    """A material by its full name or a short name (``SS``, ``BDA-MSC``, ``BA-MSC``, ``NR``, ``ZnSe-SS``)."""
    key = _key(name)
    for m in MATERIALS:
        if key in {_key(m.name), *(_key(a) for a in m.aliases)}:
            return m
    known = ", ".join(f"{m.name} ({'/'.join(m.aliases[:2])})" for m in MATERIALS)
    raise KeyError(f"no simulated material named {name!r}; known: {known}")


def xe_photon_flux(wavelengths_nm: np.ndarray, *, at_350nm: float = 2e12) -> np.ndarray:
    """CW Xe lamp behind the monochromator: photons s^-1 nm^-1, a 6000 K blackbody shape."""
    wl = np.asarray(wavelengths_nm, dtype=float)

    def planck_photons(x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return x**-4 / np.expm1(H_C_OVER_K_NM_K / (x * 6000.0))

    return at_350nm * planck_photons(wl) / planck_photons(350.0)


def slit_function(wavelengths_nm: np.ndarray, centre_nm: float, bandpass_nm: float) -> np.ndarray:
    """The monochromator's triangular transmission (peak 1, FWHM = band-pass)."""
    return np.clip(1.0 - np.abs(np.asarray(wavelengths_nm) - centre_nm) / max(bandpass_nm, 1e-6), 0.0, None)


@dataclass(frozen=True)
class Excitation:
    """What the excitation monochromator delivers: wavelength, band-pass, shutter."""

    wavelength_nm: float
    bandpass_nm: float
    shutter_open: bool


def _grid(excitation: Excitation) -> np.ndarray:
    half = max(excitation.bandpass_nm, 0.5)
    return np.linspace(excitation.wavelength_nm - half, excitation.wavelength_nm + half, 201)


@dataclass
class SampleCompartment:
    """The film under the excitation beam, its bleaching history, and what reaches the detectors.

    :param clock: seconds (the only time source).
    :param excitation: the monochromator's state now.
    :param holder: ``"film"`` (front-face film holder), ``"sphere"`` (integrating sphere) .
    :param collection: fraction of the film's emission reaching the spectrometer (film holder).
    :param sphere_collection: fraction of every photon leaving the sample in the sphere collected.
    :param pmt_photons_per_pulse: photons the PMT sees per pulse from a film of unit
        PLQY x absorptance, before its emission filter.
    :param pulsed_excitation_nm: the pulsed source's fixed wavelength.
    """

    clock: Callable[[], float]
    excitation: Callable[[], Excitation]
    material: Material | None = None
    in_sphere: bool = False
    blank_in_sphere: bool = False
    collection: float = 2.8e-5
    sphere_collection: float = 4e-6
    scatter: float = 0.05
    pmt_photons_per_pulse: float = 250.0
    pulsed_excitation_nm: float = 355.0
    dose_h: float = 0.0
    _t: float | None = field(default=None, init=False)
    _rate: float = field(default=0.0, init=False)  # dose-hours per second now
    _stale: bool = field(default=True, init=False)
    _reference: dict[str, float] = field(default_factory=dict, init=False)
    _cache: tuple[Any, np.ndarray, np.ndarray | None] | None = field(default=None, init=False)

    # -- loading -----------------------------------------------------------------------------
    def load(self, material: Material | str | None, *, in_sphere: bool = False, blank: bool = False) -> None:
        """Put a fresh film (or nothing, or the blank substrate) in the beam (its dose counts from now)."""
        self._t = None
        self.material = find_material(material) if isinstance(material, str) else material
        self.in_sphere = in_sphere
        self.blank_in_sphere = blank
        self.dose_h = 0.0
        self._stale = True

    # -- bleaching -----------------------------------------------------------------------------
    def reference_absorbed_rate(self, material: Material) -> float:
        """Photons/s the film absorbs under the paper's conditions (20 nm slit)."""
        if material.name not in self._reference:
            ref = Excitation(material.reference_excitation_nm, 20.0, True)
            self._reference[material.name] = self._absorbed_rate(material, ref)
        return self._reference[material.name]

    @staticmethod
    def _absorbed_rate(material: Material, ex: Excitation) -> float:
        if not ex.shutter_open:
            return 0.0
        wl = _grid(ex)
        incident = xe_photon_flux(wl) * slit_function(wl, ex.wavelength_nm, ex.bandpass_nm)
        return float(np.trapezoid(incident * material.absorptance(wl), wl))

    def _dose_rate(self, ex: Excitation) -> float:
        m = self.material
        if m is None or self.blank_in_sphere:
            return 0.0
        return self._absorbed_rate(m, ex) / self.reference_absorbed_rate(m) / 3600.0

    def advance(self, t: float | None = None) -> None:
        """Integrate the dose up to ``t`` (default now) with the excitation in force since the last change."""
        now = float(self.clock()) if t is None else float(t)
        if self._stale:
            # the excitation changed at self._t; what the monochromator gives now holds since then
            self._rate = self._dose_rate(self.excitation())
            self._stale = False
        if self._t is None:
            self._t = now
        elif now > self._t:
            self.dose_h += self._rate * (now - self._t)
            self._t = now

    def excitation_changed(self, t: float | None = None) -> None:
        """The monochromator is about to change wavelength, slit or shutter at ``t``."""
        self.advance(t)
        self._stale = True

    def retention(self) -> float:
        """The film's PL retention now."""
        self.advance()
        return 1.0 if self.material is None else float(self.material.retention(self.dose_h))

    def _mean_retention(self, t0: float, t1: float) -> float:
        """Average retention over [t0, t1], t1 <= now, assuming the excitation constant over it."""
        m = self.material
        if m is None:
            return 1.0
        self.advance()
        d1 = self.dose_h - self._rate * ((t1 if self._t is None else self._t) - t1)
        d0 = max(d1 - self._rate * (t1 - t0), 0.0)
        k = m.bleach_rate_per_h
        if d1 - d0 < 1e-12:
            return float(m.retention(d1))
        mean_exp = (math.exp(-k * d0) - math.exp(-k * d1)) / (k * (d1 - d0))
        return m.stable_fraction + (1.0 - m.stable_fraction) * mean_exp

    # -- detectors -----------------------------------------------------------------------------
    def photons(self, t0: float, t1: float, wavelengths_nm: np.ndarray) -> np.ndarray:
        """Expected photons reaching each spectrometer pixel during [t0, t1] (t1 is now).

        Scattered excitation plus emission: ``dt * (scatter + R * emission)`` with R the mean
        retention over the window; the two spectra depend only on the optical state and are
        computed once per state (a long run repeats the same state thousands of times).
        """
        dt = max(t1 - t0, 0.0)
        ex = self.excitation()
        if not ex.shutter_open or dt == 0.0:
            return np.zeros(len(wavelengths_nm))
        scatter, emission = self._spectra(ex, wavelengths_nm)
        if emission is None:
            return dt * scatter
        return dt * (scatter + self._mean_retention(t0, t1) * emission)

    def _spectra(self, ex: Excitation, wavelengths_nm: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(scattered excitation, unbleached emission) reaching each pixel per second."""
        m = None if self.blank_in_sphere else self.material
        key = (ex, None if m is None else m.name, self.in_sphere, self.blank_in_sphere, id(wavelengths_nm))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1], self._cache[2]
        wl = np.asarray(wavelengths_nm, dtype=float)
        width = np.gradient(wl)
        incident = xe_photon_flux(wl) * slit_function(wl, ex.wavelength_nm, ex.bandpass_nm)
        absorbed = m.absorptance(wl) if m is not None else np.zeros_like(wl)
        scale = self.sphere_collection if self.in_sphere else self.collection * self.scatter
        scatter = scale * incident * (1.0 - absorbed) * width
        emission = None
        if m is not None:
            eff = self.sphere_collection if self.in_sphere else self.collection
            emission = eff * m.plqy * self._absorbed_rate(m, ex) * m.emission_shape(wl) * width
        self._cache = (key, scatter, emission)
        return scatter, emission

    def decay_counts(
        self, bin_edges_s: np.ndarray, n_records: int, emission_band_nm: tuple[float, float]
    ) -> np.ndarray:
        """Expected PMT counts per bin summed over ``n_records`` pulses, through the emission filter."""
        edges = np.asarray(bin_edges_s, dtype=float)
        m = None if self.blank_in_sphere else self.material
        if m is None:
            return np.zeros(len(edges) - 1)
        lo, hi = emission_band_nm
        wl = np.linspace(lo, hi, 101)
        in_band = float(np.trapezoid(m.emission_shape(wl), wl))
        absorbed = float(m.absorptance(np.array([self.pulsed_excitation_nm]))[0])
        per_pulse = self.pmt_photons_per_pulse * m.plqy * absorbed * in_band * self.retention()
        return n_records * per_pulse * m.decay_fraction_in(edges[:-1], edges[1:])


def materials_table(names: Sequence[str] | None = None) -> list[dict[str, object]]:
    """The simulated materials' headline numbers (for docs and ``labctl`` listings)."""
    chosen = MATERIALS if names is None else tuple(find_material(n) for n in names)
    return [
        {
            "name": m.name,
            "short": m.aliases[0],
            "emission_nm": m.emission_nm,
            "plqy": m.plqy,
            "retention_30min": m.retention_30min,
            "stable_fraction": m.stable_fraction,
            "bleach_rate_per_h": round(m.bleach_rate_per_h, 4),
            "decay": [{"lifetime_us": t * 1e6, "fraction": a} for t, a in m.decay],
        }
        for m in chosen
    ]
