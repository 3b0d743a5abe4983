"""Nanocluster growth in a hot flask fed by a syringe pump, and suprastructure assembly, as absorbance.

:class:`GrowthFlask` is a flask of hot solvent into which a precursor solution (amorphous InAs
clusters, InAs or InP magic-size clusters) is injected slowly; :class:`SuprastructureFlask` holds
Mn2+:(CdSe)13 MSCs at ~120 °C.  Both answer ``advance(t)``, ``absorbance(t, wavelengths_nm)`` (the
noise-free Beer-Lambert spectrum per cm) and ``truth(t)``: what a perfect measurement would give.
Time, the injected volume and the temperature come from callables (the pump and hotplate
simulators' exact histories), so the model knows no wires.

From the sources (SCIENCE.md sections 3, 4 and 6): InAs MSC features at 420 and 460 nm and thermal
stability; amorphous InAs clusters absorb broadly near 400 nm, decompose easily when heated and feed
growth; slow continuous injection (2 mL/h) keeps the monomer supply steady and gives monodisperse
dots, too fast an injection nucleates a second population; InP MSC at 386 nm; Mn2+:(CdSe)13 MSC at
353 and 340 nm (broad 305 nm), assembly at ~120 °C as near-fixed MSC peaks with a rising ~λ^-4
scattering baseline, ripening as new red-shifting bands; the first-exciton cross-section of InAs
dots grows as R^1.28 (Yu et al., J. Phys. Chem. B 2005: 3.15e-16 R^1.28 cm², R in nm).

Our model (every constant below marked "ours" is a plausible choice, not a measurement):

* the precursor decomposes to monomer, first order, Arrhenius (amorphous clusters fast, MSCs slow);
* particles are cohorts (a radius and a number per litre) born by classical nucleation
  ``J = A exp(-B / ln² S)`` at the supersaturation S = [monomer] / solubility, and grown by the
  diffusion-reaction law with the Gibbs-Thomson term (Talapin et al., J. Phys. Chem. B 2001):
  ``dr/dt = K (S - exp(l_c / r)) / (r + δ)``: small particles grow faster in absolute terms while
  S is high and the size distribution focuses; when the supply stops S falls towards the small
  particles' solubility, they dissolve and the distribution defocuses (Ostwald ripening);
* the monomer balance is integrated semi-implicitly (supply minus growth minus nucleation), on a
  fixed time grid (``step_s``), so the state at t does not depend on how often it was read;
* optics: each cohort's first exciton is a Gaussian in photon energy at E1(d) with a homogeneous
  width, a second transition above it, and a band-edge continuum proportional to its volume; the
  remaining precursor absorbs with its own bands; a Rayleigh term (~λ^-4) for scattering.

``truth(t).first_exciton_nm`` and ``first_exciton_fwhm_mev`` are the peak and the full width at half
maximum (in energy) of the main population's first-exciton band as the model draws it: the sum of
its cohorts' first-exciton Gaussians, without the higher transitions, the continuum or scattering
under it (what a measurement has to see through); the FWHM is twice the half width on the band's
low-energy side, the side free of the higher transitions and of the smallest particles' tail.  The band
is skewed: the late, small cohorts trail to the blue, so it is not a Gaussian and a Gaussian fit of a
spectrum misreads it by 10-20 % (``labctl.analysis.growth`` fits it with a blue tail and reads the same
two numbers off the fit).  A second population is a group of cohorts separated from the main one by
more than :data:`SECOND_GAP_SIGMA` widths in E1, holding more than :data:`SECOND_MIN_FRACTION` of the
first-exciton absorbance; the main population is the red one (the larger dots), whose band is the
first exciton a spectrum shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HC_EV_NM = 1239.841984  # h c / e in eV nm
R_GAS = 8.314462618
N_A = 6.02214076e23


@dataclass(frozen=True)
class Band:
    """An absorption band of a molecular species (cluster): centre nm, FWHM nm, molar absorbance per mol/L per cm."""

    nm: float
    fwhm_nm: float
    epsilon: float


@dataclass(frozen=True)
class Material:
    """A semiconductor's numbers for the growth and the optics (ours unless the docstring says)."""

    name: str
    bulk_gap_ev: float
    confinement_ev_nm: float  # E1 = gap + a / d**p (ours: a sizing curve placed among reported positions)
    confinement_power: float
    unit_volume_nm3: float  # volume of one formula unit in the crystal (molar mass / density / N_A)
    homogeneous_fwhm_mev: float = 110.0  # ours

    def e1_ev(self, d_nm: np.ndarray) -> np.ndarray:
        return self.bulk_gap_ev + self.confinement_ev_nm / np.power(d_nm, self.confinement_power)


# InAs: 189.74 g/mol, 5.67 g/cm3; InP: 145.79 g/mol, 4.81 g/cm3 (handbook values).  Bulk gaps 0.354 and
# 1.344 eV at room temperature (handbook).  The confinement terms are ours.
INAS = Material("InAs", 0.354, 2.72, 0.96, 189.74 / 5.67 / N_A * 1e21)
INP = Material("InP", 1.344, 1.70, 1.05, 145.79 / 4.81 / N_A * 1e21)


@dataclass(frozen=True)
class Precursor:
    """What the syringe holds: the clusters, the material they grow, and how readily they feed it."""

    name: str
    aliases: tuple[str, ...]
    material: Material | None
    bands: tuple[Band, ...]
    k_decompose_553_per_s: float  # first-order decomposition to monomer at 280 °C (ours)
    activation_kj_per_mol: float = 120.0  # ours
    units_per_cluster: float = 1.0  # formula units released per cluster formula (molar absorbance per cluster)


PRECURSORS: dict[str, Precursor] = {
    p.name: p
    for p in (
        # amorphous InAs: absorbs broadly near 400 nm, decomposes easily (SCIENCE.md 6)
        Precursor(
            "InAs amorphous cluster",
            ("amorphous InAs", "InAs amorphous", "a-InAs"),
            INAS,
            (Band(400.0, 90.0, 2.0e3),),
            1.2e-2,
        ),
        # InAs MSC: sharp 420/460 nm features, thermally stable (slow to decompose)
        Precursor(
            "InAs MSC", ("InAs magic-size cluster",), INAS, (Band(460.0, 14.0, 4.0e3), Band(420.0, 16.0, 3.0e3)), 6.0e-4
        ),
        # InP MSC In37P20(O2CR)51: 386 nm
        Precursor("InP MSC", ("In37P20", "InP magic-size cluster"), INP, (Band(386.0, 16.0, 4.0e3),), 1.5e-3),
        # Mn2+:(CdSe)13: 353/340 nm, broad 305 nm (for assembly, not growth)
        Precursor(
            "Mn:(CdSe)13 MSC",
            ("Mn2+:(CdSe)13 MSC", "Mn:(CdSe)13", "(CdSe)13 MSC", "BDA-MSC"),
            None,
            (Band(353.0, 9.0, 5.0e3), Band(340.0, 9.0, 3.5e3), Band(305.0, 30.0, 4.0e3)),
            0.0,
        ),
    )
}


def find_precursor(name: str) -> Precursor:
    """The precursor named ``name`` (or an alias), any case; KeyError naming the known ones."""
    key = name.strip().lower()
    for p in PRECURSORS.values():
        if key == p.name.lower() or key in (a.lower() for a in p.aliases):
            return p
    raise KeyError(f"no simulated precursor named {name!r}; known: {', '.join(PRECURSORS)}")


# -- the growth model's constants (ours) -------------------------------------------------------------
PRECURSOR_MOL_PER_L = 0.004  # formula units per litre of the injected solution
SOLUBILITY_553_MOL_PER_L = 2.0e-4  # monomer solubility over a flat surface at 280 °C
SOLUBILITY_ENTHALPY_KJ = 90.0  # solubility rises with T
CAPILLARY_LENGTH_NM = 0.55  # 2 γ Vm / (R T) at 280 °C, scaled as 1/T
GROWTH_K_553_NM2_PER_S = 0.00015  # D Vm C∞ lumped: the diffusion-limited growth constant at 280 °C
GROWTH_ACTIVATION_KJ = 20.0
REACTION_LENGTH_NM = 0.3  # δ = D / k_r: diffusion-limited for r >> δ, reaction-limited for r << δ
NUCLEATION_PREFACTOR_PER_L_S = 1.0e31
NUCLEATION_B = 60.0  # J = A exp(-B / ln² S)
NUCLEUS_RADIUS_NM = 0.6
MIN_RADIUS_NM = 0.35  # a cohort smaller than this has dissolved
MAX_COHORTS = 160
SECOND_GAP_SIGMA = 2.5
SECOND_MIN_FRACTION = 0.05
SHORT_NM = 350.0  # the short wavelength whose absorbance tracks the semiconductor volume
# optics of the dots (ours, except the R^1.28 law of the first exciton from Yu et al. 2005)
EXCITON_CROSS_SECTION_CM2 = 3.15e-16  # x R^1.28, R in nm
SECOND_TRANSITION_EV_NM = 0.9  # the next transition sits 0.9 eV nm / d above E1
SECOND_TRANSITION_RATIO = 0.55
CONTINUUM_CM2_PER_NM3 = 4.0e-16  # continuum cross-section per nm³ of crystal at 2 eV above its onset
CONTINUUM_ONSET_EV = 0.45  # the continuum starts this far above the first exciton, rising as x^1.5
RAYLEIGH_CM2_PER_NM6 = 4.0e-25  # scattering per particle ~ d^6 / λ^4, at 400 nm
SAMPLE_SCATTER_RSD = 0.03  # batch-to-batch scatter of the precursor's reactivity (ours)


def _arrhenius(k_ref: float, kj: float, t_k: float, t_ref_k: float = 553.15) -> float:
    """A rate ``k_ref`` at ``t_ref_k`` (280 °C by default), at ``t_k`` with activation energy ``kj`` kJ/mol."""
    return k_ref * math.exp(-kj * 1e3 / R_GAS * (1.0 / t_k - 1.0 / t_ref_k))


@dataclass(frozen=True)
class GrowthTruth:
    """What a perfect measurement of the flask would give at one instant."""

    t_s: float
    first_exciton_nm: float
    first_exciton_fwhm_mev: float
    mean_diameter_nm: float
    size_dispersion_percent: float
    second_population: bool
    second_population_fraction: float
    short_wavelength_absorbance: float
    msc_absorbance: Mapping[float, float]
    injected_ml: float
    monomer_mmol_per_l: float
    particles_per_l: float


@dataclass
class _State:
    t: float
    precursor_mol: float = 0.0  # undecomposed precursor, formula units, in the flask
    monomer_mol_per_l: float = 0.0
    radii: np.ndarray = field(default_factory=lambda: np.zeros(0))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0))  # particles (absolute, not per litre)
    injected_ml: float = 0.0


class GrowthFlask:
    """Slow continuous injection of a precursor into hot solvent: see the module docstring.

    :param precursor: what the syringe holds (a name :func:`find_precursor` knows).
    :param supply_ml: cumulative volume injected at time t (mL).
    :param temperature_c: the flask's temperature at time t (°C).
    :param t0: when the flask was filled (s on the same clock).
    :param solvent_volume_ml: the solvent in the flask before the injection.
    :param precursor_mol_per_l: formula units per litre of the injected solution.
    :param seed: the batch's scatter of reactivity (None: the nominal precursor).
    :param step_s: the model's time step.
    """

    def __init__(
        self,
        *,
        precursor: str,
        supply_ml: Callable[[float], float],
        temperature_c: Callable[[float], float],
        t0: float,
        solvent_volume_ml: float = 10.0,
        precursor_mol_per_l: float | None = None,
        seed: int | None = 0,
        step_s: float = 5.0,
    ) -> None:
        self.precursor = find_precursor(precursor)
        if self.precursor.material is None:
            raise ValueError(
                f"{self.precursor.name} does not grow dots here: it assembles (use SuprastructureFlask / ss-assembly)"
            )
        self.material: Material = self.precursor.material
        self.supply_ml = supply_ml
        self.temperature_c = temperature_c
        self.solvent_ml = solvent_volume_ml
        self.c_inj = PRECURSOR_MOL_PER_L if precursor_mol_per_l is None else precursor_mol_per_l
        self.step_s = step_s
        self.reactivity = 1.0
        if seed is not None:
            self.reactivity = float(1.0 + SAMPLE_SCATTER_RSD * np.random.default_rng((seed, 7)).standard_normal())
        self._s = _State(t0)
        self._last_spectrum: tuple[float, int, np.ndarray] | None = None

    # -- dynamics -----------------------------------------------------------------------------------
    def advance(self, t: float) -> None:
        """Integrate to the last grid point at or before ``t`` (never backwards)."""
        s = self._s
        while s.t + self.step_s <= t + 1e-9:
            self._step(s.t + self.step_s)

    def _step(self, t_new: float) -> None:
        s, dt = self._s, self.step_s
        mat = self.material
        t_k = self.temperature_c(t_new) + 273.15
        injected = max(self.supply_ml(t_new), 0.0)
        volume_l = (self.solvent_ml + injected) * 1e-3
        # precursor in, then decomposed (exact for first order over the step)
        added = (injected - s.injected_ml) * 1e-3 * self.c_inj
        s.injected_ml = injected
        k_d = _arrhenius(self.precursor.k_decompose_553_per_s, self.precursor.activation_kj_per_mol, t_k)
        k_d *= self.reactivity
        p_total = s.precursor_mol + added
        released = p_total * (1.0 - math.exp(-k_d * dt))
        s.precursor_mol = p_total - released
        # growth law, linear in the monomer: dr/dt = g (M / C∞ - exp(l_c / r))
        c_inf = _arrhenius(SOLUBILITY_553_MOL_PER_L, SOLUBILITY_ENTHALPY_KJ, t_k)
        k_g = _arrhenius(GROWTH_K_553_NM2_PER_S, GROWTH_ACTIVATION_KJ, t_k)
        l_c = CAPILLARY_LENGTH_NM * 553.15 / t_k
        r, n = s.radii, s.counts
        mol_per_nm3 = 1.0 / (mat.unit_volume_nm3 * N_A)
        m_old = s.monomer_mol_per_l
        if r.size:
            g = k_g / (r + REACTION_LENGTH_NM)
            gt = np.exp(np.minimum(l_c / r, 50.0))
            area = 4.0 * np.pi * r**2 * n * mol_per_nm3 / volume_l  # mol/L per nm of radius growth
            a = float(np.sum(area * g)) / c_inf  # consumption = a M - b
            b = float(np.sum(area * g * gt))
        else:
            a = b = 0.0
        m = (m_old + released / volume_l + dt * b) / (1.0 + dt * a)
        m = max(m, 0.0)
        if r.size:
            dr = dt * g * (m / c_inf - gt)
            r_new = np.maximum(r + dr, 0.0)
            # monomer released by shrinking particles or consumed by growth, exactly from the volumes
            dv = float(np.sum((r_new**3 - r**3) * n)) * 4.0 / 3.0 * np.pi * mol_per_nm3 / volume_l
            m = max(m_old + released / volume_l - dv, 0.0)
            keep = r_new >= MIN_RADIUS_NM
            if not keep.all():
                m += float(np.sum(r_new[~keep] ** 3 * n[~keep])) * 4.0 / 3.0 * np.pi * mol_per_nm3 / volume_l
                r_new, n = r_new[keep], n[keep]
            r = r_new
        # nucleation at the supersaturation reached
        sat = m / c_inf
        if sat > 1.0:
            ln_s = math.log(sat)
            j = NUCLEATION_PREFACTOR_PER_L_S * self.reactivity * math.exp(-NUCLEATION_B / (ln_s * ln_s))
            nuclei = j * dt * volume_l
            per = 4.0 / 3.0 * np.pi * NUCLEUS_RADIUS_NM**3 * mol_per_nm3
            nuclei = min(nuclei, 0.5 * m * volume_l / per)
            if nuclei * per / volume_l > 1e-12:
                m -= nuclei * per / volume_l
                r = np.append(r, NUCLEUS_RADIUS_NM)
                n = np.append(n, nuclei)
        s.radii, s.counts = self._merge(r, n)
        s.monomer_mol_per_l = m
        s.t = t_new

    @staticmethod
    def _merge(r: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keep at most MAX_COHORTS cohorts: merge the closest neighbours in radius, volume conserved."""
        while r.size > MAX_COHORTS:
            order = np.argsort(r)
            r, n = r[order], n[order]
            gaps = np.diff(r)
            i = int(np.argmin(gaps))
            nn = n[i] + n[i + 1]
            rr = ((r[i] ** 3 * n[i] + r[i + 1] ** 3 * n[i + 1]) / nn) ** (1.0 / 3.0)
            r = np.concatenate([r[:i], [rr], r[i + 2 :]])
            n = np.concatenate([n[:i], [nn], n[i + 2 :]])
        return r, n

    # -- optics -------------------------------------------------------------------------------------
    def _volume_l(self) -> float:
        return (self.solvent_ml + self._s.injected_ml) * 1e-3

    def _exciton(self) -> tuple[np.ndarray, np.ndarray]:
        """Each cohort's first-exciton energy (eV) and its peak absorbance per cm (the band's weight)."""
        s = self._s
        d = 2.0 * s.radii
        e1 = self.material.e1_ev(d)
        n_per_cm3 = s.counts / (self._volume_l() * 1e3)
        a1 = EXCITON_CROSS_SECTION_CM2 * np.power(s.radii, 1.28) * n_per_cm3 / math.log(10.0)
        return e1, a1

    def absorbance(self, t: float, wavelengths_nm: np.ndarray, path_cm: float = 1.0) -> np.ndarray:
        """The noise-free absorbance over ``path_cm`` at ``t`` (state on the model's grid)."""
        self.advance(t)
        wl = np.asarray(wavelengths_nm, dtype=float)
        key = (self._s.t, id(wavelengths_nm), wl.size)
        if (
            self._last_spectrum is not None
            and self._last_spectrum[:2] == key[:2]
            and self._last_spectrum[2].size == wl.size
        ):
            return self._last_spectrum[2] * path_cm
        e = HC_EV_NM / wl
        s = self._s
        out = np.zeros_like(wl)
        if s.radii.size:
            e1, a1 = self._exciton()
            sig_h = self.material.homogeneous_fwhm_mev * 1e-3 / 2.3548
            d = 2.0 * s.radii
            e2 = e1 + SECOND_TRANSITION_EV_NM / d
            # one Gaussian per cohort: the matrix is cohorts x pixels (<= 160 x 2048)
            out += a1 @ np.exp(-0.5 * ((e[None, :] - e1[:, None]) / sig_h) ** 2)
            out += (SECOND_TRANSITION_RATIO * a1) @ np.exp(-0.5 * ((e[None, :] - e2[:, None]) / (1.6 * sig_h)) ** 2)
            vol_nm3 = float(np.sum(4.0 / 3.0 * np.pi * s.radii**3 * s.counts)) / (self._volume_l() * 1e3)
            above = np.clip(e - float(np.average(e1, weights=a1)) - CONTINUUM_ONSET_EV, 0.0, None)
            out += CONTINUUM_CM2_PER_NM3 * vol_nm3 * np.power(above / 2.0, 1.5) / math.log(10.0)
            d6 = float(np.sum(np.power(d, 6) * s.counts)) / (self._volume_l() * 1e3)
            out += RAYLEIGH_CM2_PER_NM6 * d6 * (400.0 / wl) ** 4 / math.log(10.0)
        conc = s.precursor_mol / self._volume_l() / self.precursor.units_per_cluster
        for band in self.precursor.bands:
            out += band.epsilon * conc * np.exp(-0.5 * ((wl - band.nm) / (band.fwhm_nm / 2.3548)) ** 2)
        self._last_spectrum = (key[0], key[1], out)
        return out * path_cm

    def truth(self, t: float) -> GrowthTruth:
        """What a perfect measurement gives at ``t`` (see the module docstring for the band's definition)."""
        self.advance(t)
        s = self._s
        wl_short = np.array([SHORT_NM])
        short = float(self.absorbance(t, wl_short)[0])
        msc = {b.nm: float(b.epsilon * s.precursor_mol / self._volume_l()) for b in self.precursor.bands}
        if not s.radii.size:
            return GrowthTruth(
                s.t,
                math.nan,
                math.nan,
                math.nan,
                math.nan,
                False,
                0.0,
                short,
                msc,
                s.injected_ml,
                s.monomer_mol_per_l * 1e3,
                0.0,
            )
        e1, a1 = self._exciton()
        main, second_fraction = _main_population(e1, a1, self.material.homogeneous_fwhm_mev)
        sig_h = self.material.homogeneous_fwhm_mev * 1e-3 / 2.3548
        e_mean, fwhm = _band_peak_and_fwhm(e1[main], a1[main], sig_h)
        d = 2.0 * s.radii[main]
        nd = s.counts[main]
        d_mean = float(np.average(d, weights=nd))
        d_sd = math.sqrt(float(np.average((d - d_mean) ** 2, weights=nd)))
        return GrowthTruth(
            t_s=s.t,
            first_exciton_nm=HC_EV_NM / e_mean,
            first_exciton_fwhm_mev=fwhm * 1e3,
            mean_diameter_nm=d_mean,
            size_dispersion_percent=100.0 * d_sd / d_mean,
            second_population=second_fraction > SECOND_MIN_FRACTION,
            second_population_fraction=second_fraction,
            short_wavelength_absorbance=short,
            msc_absorbance=msc,
            injected_ml=s.injected_ml,
            monomer_mmol_per_l=s.monomer_mol_per_l * 1e3,
            particles_per_l=float(np.sum(s.counts)) / self._volume_l(),
        )


def _band_peak_and_fwhm(e1: np.ndarray, a1: np.ndarray, sigma_ev: float) -> tuple[float, float]:
    """The peak energy and the width (eV) of the summed band of Gaussians (centres ``e1``, heights ``a1``,
    width ``sigma_ev``), read off the band itself on a 0.2 meV grid: the FWHM as chemists read it from
    the band's red side, twice its low-energy half width at half maximum."""
    grid = np.arange(float(e1.min()) - 5 * sigma_ev, float(e1.max()) + 5 * sigma_ev, 2e-4)
    band = a1 @ np.exp(-0.5 * ((grid[None, :] - e1[:, None]) / sigma_ev) ** 2)
    k = int(np.argmax(band))
    if 0 < k < grid.size - 1:  # the parabola through the top three points
        y0, y1, y2 = band[k - 1 : k + 2]
        shift = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) if (y0 - 2 * y1 + y2) != 0 else 0.0
        peak_e = float(grid[k] + shift * (grid[1] - grid[0]))
    else:
        peak_e = float(grid[k])
    half = band[k] / 2.0
    lo = k
    while lo > 0 and band[lo] > half:
        lo -= 1
    hi = k
    while hi < grid.size - 1 and band[hi] > half:
        hi += 1
    e_lo = np.interp(half, [band[lo], band[lo + 1]], [grid[lo], grid[lo + 1]])
    e_hi = np.interp(half, [band[hi], band[hi - 1]], [grid[hi], grid[hi - 1]])
    del e_hi  # the blue side carries the smallest particles' tail and, in a spectrum, the next transition
    return peak_e, 2.0 * float(peak_e - e_lo)


def _main_population(e1: np.ndarray, a1: np.ndarray, hom_fwhm_mev: float) -> tuple[np.ndarray, float]:
    """The cohorts of the main population (a mask) and the first-exciton fraction of the rest.

    Cohorts sorted by E1 are split at the widest gap larger than SECOND_GAP_SIGMA homogeneous widths;
    the red side (the larger dots, whose band is the first exciton a spectrum shows) is the main
    population unless it holds under SECOND_MIN_FRACTION of the first-exciton weight; the other side
    is the second population."""
    order = np.argsort(e1)
    es, ws = e1[order], a1[order]
    total = float(ws.sum())
    mask = np.ones(e1.size, dtype=bool)
    if e1.size < 2 or total <= 0:
        return mask, 0.0
    sig = hom_fwhm_mev * 1e-3 / 2.3548
    gaps = np.diff(es)
    i = int(np.argmax(gaps))
    if gaps[i] < SECOND_GAP_SIGMA * sig:
        return mask, 0.0
    left, right = ws[: i + 1].sum(), ws[i + 1 :].sum()
    main_sorted = np.zeros(e1.size, dtype=bool)
    # the first exciton is the reddest band that counts: the larger dots', unless they are a trace
    if left >= SECOND_MIN_FRACTION * total:
        main_sorted[: i + 1] = True
        second = right
    else:
        main_sorted[i + 1 :] = True
        second = left
    mask = np.zeros(e1.size, dtype=bool)
    mask[order] = main_sorted
    return mask, float(second / total)


# -- suprastructure assembly -------------------------------------------------------------------------
ASSEMBLY_RATE_393_PER_H = 0.35  # ours: the MSC-to-SS conversion rate at 120 °C
ASSEMBLY_ACTIVATION_KJ = 70.0
RIPENING_RATE_393_PER_H = 0.004  # ours: MSCs into larger crystals (slow at 120 °C)
RIPENING_ACTIVATION_KJ = 110.0
MSC_MOL_PER_L = 1.0e-4  # clusters per litre in the flask (ours)
SS_SCATTER_PER_CM_AT_600 = 0.25  # baseline at 600 nm when all has assembled (ours)
RIPENED_BANDS_NM = (421.0, 450.0)  # CdSe nanoribbon-like bands (Baek 2021) the ripened fraction shows


@dataclass(frozen=True)
class AssemblyTruth:
    t_s: float
    msc_peaks_nm: tuple[float, ...]
    assembled_fraction: float
    ripened_fraction: float
    scattering_600nm: float


class SuprastructureFlask:
    """Mn2+:(CdSe)13 MSCs held hot: assembly (scattering rises, MSC peaks stay) and slow ripening."""

    def __init__(
        self,
        *,
        sample: str,
        temperature_c: Callable[[float], float],
        t0: float,
        seed: int | None = 0,
        step_s: float = 5.0,
    ) -> None:
        self.precursor = find_precursor(sample)
        if self.precursor.material is not None:
            raise ValueError(f"{self.precursor.name} grows dots rather than assembling; use GrowthFlask")
        self.temperature_c = temperature_c
        self.step_s = step_s
        self.rate_scale = 1.0
        if seed is not None:
            self.rate_scale = float(1.0 + SAMPLE_SCATTER_RSD * np.random.default_rng((seed, 9)).standard_normal())
        self._t = t0
        self.assembled = 0.0
        self.ripened = 0.0

    def advance(self, t: float) -> None:
        while self._t + self.step_s <= t + 1e-9:
            t_k = self.temperature_c(self._t + self.step_s) + 273.15
            k_a = _arrhenius(ASSEMBLY_RATE_393_PER_H / 3600.0, ASSEMBLY_ACTIVATION_KJ, t_k, 393.15) * self.rate_scale
            k_r = _arrhenius(RIPENING_RATE_393_PER_H / 3600.0, RIPENING_ACTIVATION_KJ, t_k, 393.15)
            free = 1.0 - self.assembled - self.ripened
            ripen = k_r * (1.0 - self.ripened) * self.step_s
            self.assembled = max(self.assembled + k_a * free * self.step_s - ripen * self.assembled, 0.0)
            self.ripened = min(self.ripened + ripen, 1.0)
            self.assembled = min(self.assembled, 1.0 - self.ripened)
            self._t += self.step_s

    def absorbance(self, t: float, wavelengths_nm: np.ndarray, path_cm: float = 1.0) -> np.ndarray:
        self.advance(t)
        wl = np.asarray(wavelengths_nm, dtype=float)
        msc = 1.0 - self.ripened  # MSCs, free or assembled, keep their peaks (shifted by < 1 nm)
        out = np.zeros_like(wl)
        for band in self.precursor.bands:
            centre = band.nm + 0.8 * self.assembled
            out += band.epsilon * MSC_MOL_PER_L * msc * np.exp(-0.5 * ((wl - centre) / (band.fwhm_nm / 2.3548)) ** 2)
        out += SS_SCATTER_PER_CM_AT_600 * self.assembled * (600.0 / wl) ** 4
        red_shift = 25.0 * self.ripened  # ripening: new bands that move to the red as the crystals grow
        for i, nm in enumerate(RIPENED_BANDS_NM):
            amp = 0.6 * self.ripened * (1.0 if i else 0.7)
            out += amp * np.exp(-0.5 * ((wl - nm - red_shift) / 8.0) ** 2)
        return out * path_cm

    def truth(self, t: float) -> AssemblyTruth:
        self.advance(t)
        return AssemblyTruth(
            t_s=self._t,
            msc_peaks_nm=tuple(b.nm + 0.8 * self.assembled for b in self.precursor.bands[:2]),
            assembled_fraction=self.assembled,
            ripened_fraction=self.ripened,
            scattering_600nm=SS_SCATTER_PER_CM_AT_600 * self.assembled,
        )


# -- a run of a recipe without instruments (campaigns) -------------------------------------------------
def run_recipe(
    *,
    precursor: str = "InAs amorphous cluster",
    injection_rate_ml_per_h: float,
    temperature_c: float,
    volume_ml: float,
    target_nm: float | None = None,
    solvent_volume_ml: float = 10.0,
    seed: int | None = None,
    spectrum_interval_s: float = 30.0,
) -> GrowthTruth:
    """The truth at the end of a growth run of this recipe: injection at the rate until the volume is in,
    or until the first exciton reaches ``target_nm`` (checked every spectrum interval, as the plan does).
    The flask is at temperature from the start (the plan heats and settles before injecting)."""
    rate_ml_per_s = injection_rate_ml_per_h / 3600.0
    t_end = volume_ml / rate_ml_per_s
    stop = [t_end]

    def supply(t: float) -> float:
        return rate_ml_per_s * min(t, stop[0])

    flask = GrowthFlask(
        precursor=precursor,
        supply_ml=supply,
        temperature_c=lambda t: temperature_c,
        t0=0.0,
        solvent_volume_ml=solvent_volume_ml,
        seed=seed,
    )
    t = 0.0
    while t < t_end:
        t = min(t + spectrum_interval_s, t_end)
        if target_nm is not None:
            truth = flask.truth(t)
            if truth.first_exciton_nm >= target_nm:
                stop[0] = t
                return truth
    return flask.truth(t_end)


def expected_growth(
    *,
    precursor: str = "InAs amorphous cluster",
    injection_rate_ml_per_h: float,
    temperature_c: float,
    volume_ml: float,
    target_nm: float | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The figures of a run of this recipe (noise-free with ``seed=None``)."""
    truth = run_recipe(
        precursor=precursor,
        injection_rate_ml_per_h=injection_rate_ml_per_h,
        temperature_c=temperature_c,
        volume_ml=volume_ml,
        target_nm=target_nm,
        seed=seed,
    )
    reached = target_nm is None or (math.isfinite(truth.first_exciton_nm) and truth.first_exciton_nm >= target_nm)
    return {
        "first_exciton_nm": truth.first_exciton_nm,
        "fwhm_mev": truth.first_exciton_fwhm_mev,
        "second_population": truth.second_population,
        "reached_target": reached,
        "injected_ml": truth.injected_ml,
    }


def growth_optimum(
    *,
    precursor: str = "InAs amorphous cluster",
    target_nm: float,
    bounds: Mapping[str, tuple[float, float]],
    fixed: Mapping[str, float] | None = None,
    points: int = 7,
) -> tuple[dict[str, float], float]:
    """The recipe in ``bounds`` (keys ``injection_rate_ml_per_h``, ``temperature_c``, ``volume_ml``) with
    the narrowest first exciton among those reaching ``target_nm``, by a grid search then a local refinement."""
    fixed = dict(fixed or {})
    keys = ("injection_rate_ml_per_h", "temperature_c", "volume_ml")
    base = {"injection_rate_ml_per_h": 2.0, "temperature_c": 280.0, "volume_ml": 10.0, **fixed}
    axes = {k: np.linspace(*bounds[k], points) if k in bounds else np.array([base[k]]) for k in keys}
    best: tuple[float, dict[str, float]] = (math.inf, {})

    def score(recipe: dict[str, float]) -> float:
        f = expected_growth(precursor=precursor, target_nm=target_nm, **recipe)
        return f["fwhm_mev"] if f["reached_target"] and math.isfinite(f["fwhm_mev"]) else math.inf

    for a in axes[keys[0]]:
        for b in axes[keys[1]]:
            for c in axes[keys[2]]:
                recipe = {keys[0]: float(a), keys[1]: float(b), keys[2]: float(c)}
                value = score(recipe)
                if value < best[0]:
                    best = (value, recipe)
    value, recipe = best
    step = {k: (bounds[k][1] - bounds[k][0]) / (points - 1) for k in bounds}
    for _ in range(3):
        for k in bounds:
            step[k] /= 2.0
            for sign in (-1.0, 1.0):
                trial = dict(recipe)
                trial[k] = float(np.clip(trial[k] + sign * step[k], *bounds[k]))
                v = score(trial)
                if v < value:
                    value, recipe = v, trial
    return recipe, value
