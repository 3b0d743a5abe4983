"""Plots of growth and assembly runs: the spectra as a map, a waterfall, and the traces over time.

* :func:`plot_growth` -- ``spectra.png`` (absorbance vs time and wavelength as a heat map, and a
  waterfall of ~12 spectra, those with a second population in red) and ``peak.png`` (first
  exciton, nm, and its FWHM, meV, vs time; the injected volume on a twin axis when given; times
  with a second population marked).
* :func:`plot_assembly` -- ``spectra.png`` as above and ``assembly.png`` (MSC peak drift, the
  scattering baseline and its exponent, new red bands marked).

The heat map places the pixels on a uniform axis between the first and last wavelength (the
spectrometer's dispersion is close to linear); masked pixels (NaN) are left blank.  Plots are
drawn from the arrays given: the heat map is the only copy of the spectra matplotlib makes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from labctl.analysis.growth import AssemblyTraces, GrowthTraces

WATERFALL_SPECTRA = 12


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _hours(times_s: ArrayLike) -> np.ndarray:
    return np.asarray(times_s, dtype=float) / 3600.0


def _spectra_png(
    path: Path,
    times_s: ArrayLike,
    wavelengths_nm: ArrayLike,
    spectra: ArrayLike,
    title: str,
    highlight: np.ndarray | None,
) -> Path:
    plt = _pyplot()
    wl = np.asarray(wavelengths_nm, dtype=float)
    rows = np.asarray(spectra, dtype=float)
    hours = _hours(times_s)
    fig, (ax_map, ax_fall) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=120)
    picks = np.unique(np.linspace(0, rows.shape[0] - 1, min(WATERFALL_SPECTRA, rows.shape[0])).round().astype(int))
    sample = rows[picks]  # the colour scale from the waterfall's spectra: no second copy of the matrix
    vmax = float(np.nanpercentile(sample, 99.5)) if np.any(np.isfinite(sample)) else 1.0
    t_hi = float(hours[-1]) if hours[-1] > hours[0] else float(hours[0]) + 1e-3
    image = ax_map.imshow(
        rows,
        aspect="auto",
        origin="lower",
        extent=(float(wl[0]), float(wl[-1]), float(hours[0]), t_hi),
        vmin=0.0,
        vmax=vmax if vmax > 0 else None,
        cmap="viridis",
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax_map, label="absorbance (OD)")
    ax_map.set_xlabel("wavelength (nm)")
    ax_map.set_ylabel("time (h)")
    ax_map.set_title("absorbance map")
    spread = float(np.nanmax(sample)) if np.any(np.isfinite(sample)) else 1.0
    offset = 0.15 * spread
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, picks.size))
    for n, (k, color) in enumerate(zip(picks, colors, strict=True)):
        flagged = highlight is not None and bool(highlight[k])
        ax_fall.plot(wl, rows[k] + n * offset, lw=0.8, color="tab:red" if flagged else color)
        tail = rows[k][-20:]
        level = float(np.nanmedian(tail)) if np.any(np.isfinite(tail)) else 0.0
        ax_fall.annotate(f"{hours[k]:.2f} h", (float(wl[-1]), level + n * offset), fontsize=6)
    if highlight is not None and bool(np.any(highlight[picks])):
        ax_fall.plot([], [], color="tab:red", label="second population")
        ax_fall.legend(fontsize=8)
    ax_fall.set_xlabel("wavelength (nm)")
    ax_fall.set_ylabel(f"absorbance + offset ({offset:.2g} OD per spectrum)")
    ax_fall.set_title("waterfall")
    ax_fall.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_growth(
    folder: Path,
    times_s: ArrayLike,
    wavelengths_nm: ArrayLike,
    spectra: ArrayLike,
    traces: GrowthTraces,
    title: str,
    *,
    injected_ml: ArrayLike | None = None,
) -> list[Path]:
    """``spectra.png`` and ``peak.png`` of a growth run in ``folder``; ``injected_ml`` is the
    injected volume (mL) at each spectrum's time."""
    folder.mkdir(parents=True, exist_ok=True)
    spectra_png = _spectra_png(
        folder / "spectra.png", times_s, wavelengths_nm, spectra, title, np.asarray(traces.second_population)
    )
    plt = _pyplot()
    hours = _hours(traces.times_s)
    fig, (ax_nm, ax_fwhm) = plt.subplots(2, 1, sharex=True, figsize=(7, 6), dpi=120)
    ax_nm.plot(hours, traces.first_exciton_nm, ".", ms=2, color="tab:blue", label="first exciton")
    flagged = np.asarray(traces.second_population, dtype=bool)
    if flagged.any():
        ax_nm.plot(
            hours[flagged], traces.first_exciton_nm[flagged], "x", ms=4, color="tab:red", label="second population"
        )
    ax_nm.set_ylabel("first exciton (nm)")
    ax_nm.grid(alpha=0.3)
    if injected_ml is not None:
        twin = ax_nm.twinx()
        twin.plot(hours, np.asarray(injected_ml, dtype=float), "-", lw=1, color="tab:gray", label="injected")
        twin.set_ylabel("injected volume (mL)")
        twin.legend(fontsize=8, loc="lower right")
    ax_nm.legend(fontsize=8, loc="upper left")
    ax_fwhm.plot(hours, traces.fwhm_mev, ".", ms=2, color="tab:purple")
    ok = np.isfinite(traces.fwhm_mev)
    if ok.any():
        i = int(np.nanargmin(np.where(ok, traces.fwhm_mev, np.inf)))
        ax_fwhm.plot(
            [hours[i]], [traces.fwhm_mev[i]], "o", mfc="none", color="k", label=f"min {traces.fwhm_mev[i]:.0f} meV"
        )
        ax_fwhm.legend(fontsize=8)
    ax_fwhm.set_ylabel("FWHM (meV)")
    ax_fwhm.set_xlabel("time (h)")
    ax_fwhm.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    peak_png = folder / "peak.png"
    fig.savefig(peak_png)
    plt.close(fig)
    return [spectra_png, peak_png]


def plot_assembly(
    folder: Path,
    times_s: ArrayLike,
    wavelengths_nm: ArrayLike,
    spectra: ArrayLike,
    traces: AssemblyTraces,
    title: str,
) -> list[Path]:
    """``spectra.png`` and ``assembly.png`` of a suprastructure assembly run in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    red = np.isfinite(traces.red_band_nm)
    spectra_png = _spectra_png(folder / "spectra.png", times_s, wavelengths_nm, spectra, title, None)
    plt = _pyplot()
    hours = _hours(traces.times_s)
    fig, (ax_msc, ax_base) = plt.subplots(2, 1, sharex=True, figsize=(7, 6), dpi=120)
    for nominal, positions in traces.msc_peak_nm.items():
        ax_msc.plot(hours, positions - nominal, ".", ms=2, label=f"MSC {nominal:g} nm")
    ax_msc.set_ylabel("MSC peak drift (nm)")
    ax_msc.grid(alpha=0.3)
    if red.any():
        ax_msc.plot([], [], "v", color="tab:red", label="red band (ripening)")
    ax_msc.legend(fontsize=8)
    ax_base.plot(hours, traces.baseline, ".", ms=2, color="tab:brown", label=f"A at {traces.baseline_nm:g} nm")
    if red.any():
        ax_base.plot(hours[red], traces.baseline[red], "v", ms=4, color="tab:red")
    ax_base.set_ylabel("scattering baseline (OD)")
    ax_base.set_xlabel("time (h)")
    ax_base.grid(alpha=0.3)
    twin = ax_base.twinx()
    lo, hi = traces.exponent_range_nm
    twin.plot(hours, traces.exponent, "-", lw=1, color="tab:gray", label=f"exponent n ({lo:g}-{hi:g} nm)")
    twin.set_ylabel("λ⁻ⁿ exponent n")
    twin.legend(fontsize=8, loc="lower right")
    ax_base.legend(fontsize=8, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    assembly_png = folder / "assembly.png"
    fig.savefig(assembly_png)
    plt.close(fig)
    return [spectra_png, assembly_png]
