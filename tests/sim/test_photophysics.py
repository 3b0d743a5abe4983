"""The photophysics model of the fluorometer's sample compartment: published numbers, bleaching, sphere consistency."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.sim.physics.photophysics import (
    MATERIALS,
    Excitation,
    Material,
    SampleCompartment,
    find_material,
    slit_function,
    xe_photon_flux,
)


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Beam:
    """A mutable excitation the compartment reads through a callable."""

    def __init__(self, wavelength_nm: float = 350.0, bandpass_nm: float = 20.0, shutter_open: bool = True) -> None:
        self.now = Excitation(wavelength_nm, bandpass_nm, shutter_open)

    def __call__(self) -> Excitation:
        return self.now


def absorbed_rate(material: Material, ex: Excitation) -> float:
    """Photons/s absorbed, integrated here on a fine grid (independent of the model's own quadrature)."""
    wl = np.linspace(ex.wavelength_nm - ex.bandpass_nm, ex.wavelength_nm + ex.bandpass_nm, 20001)
    incident = xe_photon_flux(wl) * slit_function(wl, ex.wavelength_nm, ex.bandpass_nm)
    return float(np.trapezoid(incident * material.absorptance(wl), wl))


def local_maxima(wl: np.ndarray, y: np.ndarray) -> np.ndarray:
    inner = (y[1:-1] > y[:-2]) & (y[1:-1] > y[2:])
    return wl[1:-1][inner]


# -- published numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "published"),
    [("BA-MSC", 0.22), ("NR", 0.35), ("BDA-MSC", 0.87), ("SS", 0.93)],
)
def test_retention_after_30_min_matches_the_paper(name: str, published: float) -> None:
    assert float(find_material(name).retention(0.5)) == pytest.approx(published, abs=0.02)


@pytest.mark.parametrize(("name", "published"), [("SS", 0.83), ("BDA-MSC", 0.69)])
def test_retention_after_the_12_h_run_matches_the_paper(name: str, published: float) -> None:
    assert float(find_material(name).retention(12.0)) == pytest.approx(published, abs=0.02)


def test_retention_starts_at_one_and_falls_monotonically() -> None:
    doses = np.linspace(0.0, 12.0, 50)
    for m in MATERIALS:
        r = np.asarray(m.retention(doses))
        assert r[0] == pytest.approx(1.0)
        assert np.all(np.diff(r) < 0), m.name


def test_unstable_materials_bleach_towards_zero() -> None:
    for name in ("BA-MSC", "NR"):
        assert float(find_material(name).retention(12.0)) < 0.01


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SS", "Mn:(CdSe)13(BDA) SS"),
        ("BDA-MSC", "Mn:(CdSe)13(BDA) MSC"),
        ("BA-MSC", "Mn:(CdSe)13(BA) MSC"),
        ("NR", "Mn:CdSe NR"),
        ("ZnSe-SS", "Mn:(ZnSe)13(BDA) SS"),
        ("Mn:(CdSe)13(BDA) SS", "Mn:(CdSe)13(BDA) SS"),
        ("Mn2+:(CdSe)13(BDA) SS", "Mn:(CdSe)13(BDA) SS"),
        ("  ss ", "Mn:(CdSe)13(BDA) SS"),
        ("Mn2+:(CdSe)13(BDA) MSC", "Mn:(CdSe)13(BDA) MSC"),
    ],
)
def test_names_resolve(name: str, expected: str) -> None:
    assert find_material(name).name == expected


def test_unknown_name_is_a_key_error_listing_the_known_ones() -> None:
    with pytest.raises(KeyError) as info:
        find_material("CdTe QD")
    message = str(info.value)
    assert "CdTe QD" in message
    for m in MATERIALS:
        assert m.name in message


@pytest.mark.parametrize(
    ("name", "peaks"),
    [("SS", (353.0, 340.0)), ("BDA-MSC", (353.0, 340.0)), ("NR", (450.0, 421.0)), ("ZnSe-SS", (290.0, 280.0))],
)
def test_absorption_peaks_are_local_maxima(name: str, peaks: tuple[float, ...]) -> None:
    wl = np.linspace(240.0, 520.0, 28001)  # 0.01 nm steps
    maxima = local_maxima(wl, find_material(name).absorbance(wl))
    for peak in peaks:
        assert np.min(np.abs(maxima - peak)) < 0.5, f"{name}: no absorption maximum near {peak} nm in {maxima}"


def test_first_absorption_peak_is_the_strongest_at_045() -> None:
    m = find_material("SS")
    wl = np.linspace(250.0, 500.0, 25001)
    a = m.absorbance(wl)
    assert wl[np.argmax(a)] == pytest.approx(353.0, abs=0.5)
    assert float(a.max()) == pytest.approx(0.45, rel=0.05)


@pytest.mark.parametrize(("name", "peak"), [("SS", 593.0), ("BDA-MSC", 593.0), ("BA-MSC", 593.0), ("NR", 611.0)])
def test_emission_peak(name: str, peak: float) -> None:
    m = find_material(name)
    wl = np.linspace(450.0, 800.0, 35001)
    shape = m.emission_shape(wl)
    assert wl[np.argmax(shape)] == pytest.approx(peak, abs=0.05)
    assert float(np.trapezoid(shape, wl)) == pytest.approx(1.0, abs=1e-3)


def test_plqy_values() -> None:
    assert find_material("SS").plqy == pytest.approx(0.72)
    assert find_material("BDA-MSC").plqy == pytest.approx(0.35)
    assert find_material("ODA-SS").plqy == pytest.approx(0.62)
    assert 0 < find_material("BA-MSC").plqy < 0.01
    assert 0 < find_material("NR").plqy < 0.01


def test_decay_components() -> None:
    msc = dict(find_material("BDA-MSC").decay)
    assert msc == pytest.approx({305e-6: 0.535, 84e-6: 0.465})
    ((tau, amp),) = find_material("SS").decay
    assert (tau, amp) == pytest.approx((303e-6, 1.0))


def test_decay_fractions_add_up_to_one() -> None:
    for m in MATERIALS:
        assert float(m.decay_fraction_in(np.array(0.0), np.array(np.inf))) == pytest.approx(1.0, abs=1e-12), m.name


def test_mono_exponential_decay_fraction_in_one_lifetime() -> None:
    ss = find_material("SS")
    assert float(ss.decay_fraction_in(np.array(0.0), np.array(303e-6))) == pytest.approx(1 - math.exp(-1), rel=1e-9)
    edges = np.linspace(0.0, 3e-3, 301)
    per_bin = ss.decay_fraction_in(edges[:-1], edges[1:])
    assert np.all(np.diff(per_bin) < 0)
    assert float(per_bin.sum()) == pytest.approx(1 - math.exp(-3e-3 / 303e-6), rel=1e-9)


def test_bi_exponential_photon_weights() -> None:
    """Photons emitted after t: the amplitude-weighted sum of a tau e^(-t/tau), normalised."""
    msc = find_material("BDA-MSC")
    t = 200e-6
    num = 0.535 * 305e-6 * math.exp(-t / 305e-6) + 0.465 * 84e-6 * math.exp(-t / 84e-6)
    den = 0.535 * 305e-6 + 0.465 * 84e-6
    assert float(msc.decay_fraction_in(np.array(t), np.array(np.inf))) == pytest.approx(num / den, rel=1e-9)


# -- sample compartment dynamics ---------------------------------------------------------------


def loaded(material: str = "SS", **beam: float | bool) -> tuple[SampleCompartment, FakeClock, Beam]:
    clock = FakeClock()
    light = Beam(**beam)  # type: ignore[arg-type]
    c = SampleCompartment(clock, light)
    c.load(material)
    c.advance()
    return c, clock, light


def test_30_min_at_the_reference_excitation_is_half_an_hour_of_dose() -> None:
    c, clock, _ = loaded("SS")
    clock.t += 1800.0
    assert c.retention() == pytest.approx(0.93, abs=1e-6)
    assert c.dose_h == pytest.approx(0.5, rel=1e-9)


def test_no_dose_while_the_shutter_is_closed() -> None:
    c, clock, _ = loaded("BA-MSC", shutter_open=False)
    clock.t += 3600.0
    assert c.dose_h == 0.0
    assert c.retention() == 1.0


def test_halving_the_bandpass_roughly_halves_the_bleaching_rate() -> None:
    wide, wide_clock, _ = loaded("BA-MSC", bandpass_nm=20.0)
    narrow, narrow_clock, _ = loaded("BA-MSC", bandpass_nm=10.0)
    wide_clock.t += 600.0
    narrow_clock.t += 600.0
    wide.advance()
    narrow.advance()
    ratio = narrow.dose_h / wide.dose_h
    # half the incident photons; a little over half absorbed, as the narrower band sits on the 353 nm peak
    assert 0.45 < ratio < 0.65
    assert narrow.retention() > wide.retention()


def test_piecewise_excitation_integrates_each_rate_over_its_own_interval() -> None:
    """excitation_changed(t) before each change: the old rate counts up to t, the new one after."""
    m = find_material("SS")
    c, clock, light = loaded("SS")  # 350 nm, 20 nm, open: one dose-hour per hour by construction
    t0 = clock.t

    clock.t = t0 + 600.0
    c.excitation_changed(clock.t)
    light.now = Excitation(350.0, 20.0, False)

    clock.t = t0 + 1200.0
    c.excitation_changed(clock.t)
    light.now = Excitation(350.0, 10.0, True)

    clock.t = t0 + 2100.0
    c.advance()

    r10 = absorbed_rate(m, Excitation(350.0, 10.0, True)) / absorbed_rate(m, Excitation(350.0, 20.0, True))
    expected = 600.0 / 3600.0 + 0.0 + r10 * 900.0 / 3600.0
    assert c.dose_h == pytest.approx(expected, rel=1e-3)
    assert c.retention() == pytest.approx(float(m.retention(expected)), rel=1e-6)


def test_a_change_reported_late_still_charges_the_old_rate_only_up_to_the_given_time() -> None:
    c, clock, light = loaded("SS")
    t0 = clock.t
    clock.t = t0 + 900.0  # the clock has moved past the change time
    c.excitation_changed(t0 + 300.0)
    light.now = Excitation(350.0, 20.0, False)
    c.advance()
    # the old (open) rate up to t0 + 300, the new (closed) rate after
    assert c.dose_h == pytest.approx(300.0 / 3600.0, rel=1e-9)


def test_reloading_starts_a_fresh_film() -> None:
    c, clock, _ = loaded("SS")
    clock.t += 1800.0
    assert c.retention() < 0.95
    c.load("SS")
    assert c.dose_h == 0.0
    assert c.retention() == 1.0


def test_a_film_given_to_the_constructor_bleaches_too() -> None:
    clock = FakeClock()
    c = SampleCompartment(clock, Beam(), material=find_material("SS"))
    c.advance()
    clock.t += 1800.0
    assert c.retention() == pytest.approx(0.93, abs=0.01)


# -- what reaches the detectors ----------------------------------------------------------------

PIXELS = np.linspace(200.0, 850.0, 65001)


def sphere_frames(material: Material, ex: Excitation, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(blank, sample) photons per pixel in the sphere, each over a window of ``dt`` s."""
    clock = FakeClock()
    c = SampleCompartment(clock, lambda: ex)
    c.load(material, in_sphere=True, blank=True)
    clock.t += dt
    blank = c.photons(clock.t - dt, clock.t, PIXELS)
    c.load(material, in_sphere=True)
    c.advance()
    clock.t += dt
    sample = c.photons(clock.t - dt, clock.t, PIXELS)
    return blank, sample


def test_the_blank_in_the_sphere_emits_nothing() -> None:
    ex = Excitation(350.0, 20.0, True)
    blank, _ = sphere_frames(find_material("SS"), ex)
    outside = np.abs(PIXELS - 350.0) > 20.0
    assert np.all(blank[outside] == 0.0)
    assert blank.sum() > 0
    clock = FakeClock()
    c = SampleCompartment(clock, lambda: ex)
    c.load("SS", in_sphere=True, blank=True)
    assert np.all(c.decay_counts(np.linspace(0, 1e-3, 11), 1000, (573.0, 613.0)) == 0.0)
    clock.t += 3600.0
    assert c.retention() == 1.0  # the blank substrate has nothing to bleach


@pytest.mark.parametrize("material", MATERIALS, ids=lambda m: m.aliases[0])
def test_sphere_spectra_give_back_the_plqy_by_the_de_mello_formula(material: Material) -> None:
    """PLQY = emitted / (excitation seen with the blank - excitation seen with the sample)."""
    ex = Excitation(material.reference_excitation_nm, 20.0, True)
    blank, sample = sphere_frames(material, ex)
    line = np.abs(PIXELS - ex.wavelength_nm) <= ex.bandpass_nm
    absorbed = blank[line].sum() - sample[line].sum()
    emitted = sample[~line].sum()
    assert absorbed > 0
    assert emitted / absorbed == pytest.approx(material.plqy, rel=1e-3)


def test_film_holder_collects_the_same_emission_scaled_by_its_collection() -> None:
    ex = Excitation(350.0, 20.0, True)
    clock = FakeClock()
    c = SampleCompartment(clock, lambda: ex)
    c.load("SS")
    c.advance()
    clock.t += 1.0
    film = c.photons(clock.t - 1.0, clock.t, PIXELS)
    _, sphere = sphere_frames(find_material("SS"), ex)
    em = PIXELS > 450.0
    assert film[em].sum() / sphere[em].sum() == pytest.approx(c.collection / c.sphere_collection, rel=1e-4)
    # front face: only 5 % of the unabsorbed light is scattered into the optics
    line = np.abs(PIXELS - 350.0) <= 20.0
    assert film[line].sum() / sphere[line].sum() == pytest.approx(
        c.collection * c.scatter / c.sphere_collection, rel=2e-2
    )


def test_nothing_reaches_the_detectors_with_the_shutter_closed() -> None:
    clock = FakeClock()
    c = SampleCompartment(clock, lambda: Excitation(350.0, 20.0, False))
    c.load("SS")
    clock.t += 1.0
    assert np.all(c.photons(clock.t - 1.0, clock.t, PIXELS) == 0.0)


def test_emission_scales_with_window_and_bleached_retention() -> None:
    c, clock, _ = loaded("BA-MSC")
    clock.t += 1.0
    first = c.photons(clock.t - 1.0, clock.t, PIXELS)[PIXELS > 450.0].sum()
    clock.t += 1799.0
    c.advance()
    clock.t += 2.0
    later = c.photons(clock.t - 2.0, clock.t, PIXELS)[PIXELS > 450.0].sum()
    # twice the window, at ~22 % retention after 30 min
    assert later / first == pytest.approx(2 * 0.22, abs=0.02)


def test_decay_counts_follow_the_decay_model_through_the_band() -> None:
    c, _, _ = loaded("SS")
    edges = np.linspace(0.0, 2e-3, 201)
    on_band = c.decay_counts(edges, 1000, (573.0, 613.0))
    off_band = c.decay_counts(edges, 1000, (680.0, 720.0))
    m = find_material("SS")
    shape = on_band / on_band.sum()
    model = m.decay_fraction_in(edges[:-1], edges[1:])
    np.testing.assert_allclose(shape, model / model.sum(), rtol=1e-9)
    assert off_band.sum() < 0.01 * on_band.sum()
    assert c.decay_counts(edges, 2000, (573.0, 613.0)).sum() == pytest.approx(2 * on_band.sum(), rel=1e-9)
