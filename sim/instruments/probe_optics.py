"""The light path of in-situ absorbance: a deuterium-halogen source, a fibre, a dip probe in the flask.

:class:`ProbeOptics` gives ``photons(t0, t1, wavelengths_nm)``, the expected photons per pixel that
reach the spectrometer in ``[t0, t1]`` (the :class:`~labctl.sim.instruments.spectrometer.SimulatedSpectrometer`'s
``source``): the source's spectrum x the fibre and probe throughput x the flask's transmission
10^-A over the probe's path, and nothing while the source's TTL shutter is closed.

From the sources (PROTOCOLS.md, in-situ UV-vis): a deuterium source is needed below ~360 nm, the
shutter is driven by the spectrometer's Lamp Enable line, a transmission dip probe's path is twice
its gap, the reference should sit at 70-85 % of full scale.
Our choices: the deuterium continuum falls as exp(-(λ - 200 nm) / 90 nm) with the Balmer lines at
486 and 656 nm (each 1.5 nm wide, 40 % above the local continuum); the halogen bulb is a 2,900 K
black body; the two are balanced so that they cross near 380 nm; the overall level is set so that a
clear solvent's reference peaks at :data:`REFERENCE_FRACTION` of a FLAME-S's full scale (65535
counts) at :data:`REFERENCE_INTEGRATION_S`, through that spectrometer's responsivity.

Faults on demand: :meth:`burn_out` (the source gives no light: the reference comes out dark) and
:meth:`set_throughput` (a fouled or misaligned probe; 2.0 doubles the light and saturates the
reference at the usual integration time).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labctl.sim.instruments.spectrometer import responsivity

REFERENCE_FRACTION = 0.78
REFERENCE_INTEGRATION_S = 0.02
FULL_SCALE = 65535.0
BASELINE_COUNTS = 1500.0  # the simulated spectrometer's electronic offset


def lamp_shape(wavelengths_nm: np.ndarray) -> np.ndarray:
    """The deuterium-halogen source's relative photon spectrum (see the module docstring)."""
    wl = np.asarray(wavelengths_nm, dtype=float)
    deuterium = np.exp(-(wl - 200.0) / 90.0) * (wl > 185.0)
    for line in (486.0, 656.0):
        deuterium = deuterium + 0.4 * np.exp(-(line - 200.0) / 90.0) * np.exp(-0.5 * ((wl - line) / 0.64) ** 2)
    x = 1.4388e7 / (wl * 2900.0)  # h c / (λ k T), λ in nm
    planck = np.power(wl, -4.0) / np.expm1(np.minimum(x, 700.0))  # photon radiance ~ λ^-4 / (e^x - 1)
    ref = 380.0
    planck_ref = ref**-4.0 / np.expm1(1.4388e7 / (ref * 2900.0))
    halogen = planck / planck_ref * np.exp(-(ref - 200.0) / 90.0)
    return deuterium + halogen


class ProbeOptics:
    """Source, fibre and dip probe; see the module docstring.

    :param absorbance: ``absorbance(t, wavelengths_nm)``: the flask's absorbance per cm at time t.
    :param lamp_on: whether the source's shutter is open now.
    :param path_length_cm: the probe's optical path (twice the gap of a transmission dip probe).
    """

    def __init__(
        self,
        *,
        absorbance: Callable[[float, np.ndarray], np.ndarray],
        lamp_on: Callable[[], bool],
        path_length_cm: float = 0.2,
        wavelength_range_nm: tuple[float, float] = (200.0, 1100.0),
        pixels: int = 2048,
    ) -> None:
        self._absorbance = absorbance
        self._lamp_on = lamp_on
        self.path_length_cm = path_length_cm
        self.throughput = 1.0
        self._burnt = False
        # photons per second per pixel at the shape's unit: the level that puts a clear reference's peak at
        # REFERENCE_FRACTION of full scale over the baseline at REFERENCE_INTEGRATION_S
        wl = np.linspace(*wavelength_range_nm, pixels)
        counts_per_s = lamp_shape(wl) * responsivity(wl)
        self._scale = REFERENCE_FRACTION * FULL_SCALE - BASELINE_COUNTS
        self._scale /= float(counts_per_s.max()) * REFERENCE_INTEGRATION_S
        self._shape_cache: tuple[int, np.ndarray] | None = None

    def burn_out(self, on: bool = True) -> None:
        """The source gives no light (a burnt-out lamp, an unplugged fibre)."""
        self._burnt = on

    def set_throughput(self, factor: float) -> None:
        """Scale the light reaching the spectrometer (fouled probe < 1 < a cleaner or brighter path)."""
        self.throughput = float(factor)

    def photons(self, t0: float, t1: float, wavelengths_nm: np.ndarray) -> np.ndarray:
        """Expected photons per pixel in ``[t0, t1]`` (the flask's absorbance taken at ``t1``)."""
        if self._burnt or not self._lamp_on():
            return np.zeros(np.shape(wavelengths_nm))
        if self._shape_cache is None or self._shape_cache[0] != id(wavelengths_nm):
            self._shape_cache = (id(wavelengths_nm), lamp_shape(wavelengths_nm) * self._scale)
        light = self._shape_cache[1] * self.throughput * (t1 - t0)
        absorbance = np.asarray(self._absorbance(t1, wavelengths_nm), dtype=float) * self.path_length_cm
        return light * np.power(10.0, -absorbance)
