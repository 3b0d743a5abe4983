"""Plots of the photoluminescence runs: the picture a chemist checks before trusting the number.

* photostability -- PL retention (%) vs irradiation time (h), the bleaching fit, the 30 min mark;
* pl-decay -- counts vs time (µs) on a log scale, with the fitted mono- or bi-exponential;
* plqy -- blank and sample spectra in the sphere (log scale), both windows shaded;
* emission-scan / excitation-scan -- the spectrum, its peak marked.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

PL_LABELS: dict[str, str] = {
    "retention_percent": "PL retention at the end (%)",
    "retention_30min": "retention after 30 min (fraction)",
    "half_life_h": "half-life, fitted (h)",
    "half_life_observed_h": "half-life, observed (h)",
    "stable_fraction": "photostable fraction (fit)",
    "bleach_rate_per_h": "bleaching rate (h⁻¹)",
    "points": "PL points",
    "plqy_percent": "PLQY (%)",
    "plqy_err": "± standard error (fraction)",
    "absorbed_fraction": "absorbed fraction",
    "n_components": "exponential components",
    "lifetimes": "lifetimes (µs)",
    "fractions": "amplitude fractions",
    "average_lifetime_us": "average lifetime (µs)",
    "reduced_chi2": "reduced χ²",
    "peak_nm": "emission peak (nm)",
    "fwhm_nm": "FWHM (nm)",
    "excitation_peak_nm": "excitation peak (nm)",
}

PL_EXPERIMENTS = ("photostability", "pl-decay", "plqy", "emission-scan", "excitation-scan")


def _axes() -> tuple[Any, Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    return plt, fig, ax


def _save(plt: Any, fig: Any, ax: Any, path: Path, title: str) -> Path:
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_pl(
    folder: Path,
    experiment: str,
    start: Mapping[str, Any],
    tables: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, Any] | None,
    title: str,
) -> Path | None:
    """The experiment's plot in ``folder`` (None if the run holds nothing to plot)."""
    figures = figures or {}
    primary = tables.get("primary", {})
    if experiment == "photostability" and "fluor-point-pl" in primary:
        t = np.asarray(primary["clock-elapsed"], dtype=float)
        pl = np.asarray(primary["fluor-point-pl"], dtype=float)
        plt, fig, ax = _axes()
        ax.plot(t / 3600, 100 * pl / pl[0], ".", ms=2, color="tab:purple", label="PL (first point = 100 %)")
        if figures.get("stable_fraction") is not None and figures.get("bleach_rate_per_h") is not None:
            r_inf, k = figures["stable_fraction"], figures["bleach_rate_per_h"]
            x = np.linspace(0, t[-1] / 3600, 400)
            ax.plot(
                x,
                100 * (r_inf + (1 - r_inf) * np.exp(-k * x)),
                "-",
                color="k",
                lw=1,
                label=f"fit: {100 * r_inf:.0f} % stable, k = {k:.2f} h$^{{-1}}$",
            )
        if t[-1] >= 1800:
            ax.axvline(0.5, color="gray", ls=":", lw=1, label="30 min")
        ax.set_xlabel("irradiation time (h)")
        ax.set_ylabel("PL retention (%)")
        ax.set_ylim(bottom=0)
        return _save(plt, fig, ax, folder / "photostability.png", title)
    if experiment == "pl-decay" and "fluor-decay-counts" in primary:
        t = np.asarray(primary["fluor-decay-time"], dtype=float)[-1]
        counts = np.asarray(primary["fluor-decay-counts"], dtype=float).sum(axis=0)
        plt, fig, ax = _axes()
        ax.semilogy(t * 1e6, np.clip(counts, 0.5, None), ".", ms=2, color="tab:blue", label="counts")
        if figures.get("lifetimes"):
            taus = ", ".join(f"{x:.0f}" for x in figures["lifetimes"])
            fr = ", ".join(f"{x:.1%}" for x in figures.get("fractions", []))
            ax.plot([], [], " ", label=f"τ = {taus} µs ({fr})")
        ax.set_xlabel("time after the pulse (µs)")
        ax.set_ylabel("counts per bin")
        return _save(plt, fig, ax, folder / "decay.png", title)
    if experiment == "plqy" and "blank" in tables and "sample" in tables:
        wl = np.asarray(tables["blank"]["fluor-spectrum-wavelengths"], dtype=float)[-1]
        plt, fig, ax = _axes()
        for stream, color in (("blank", "tab:gray"), ("sample", "tab:red")):
            y = np.asarray(tables[stream]["fluor-spectrum-counts"], dtype=float).mean(axis=0)
            ax.semilogy(wl, np.clip(y, 1, None), "-", lw=0.8, color=color, label=f"{stream} in the sphere")
        for key, color in (("excitation_window_nm", "tab:blue"), ("emission_window_nm", "tab:orange")):
            if start.get(key):
                ax.axvspan(*start[key], color=color, alpha=0.1)
        if figures.get("plqy") is not None:
            ax.plot([], [], " ", label=f"PLQY = {100 * figures['plqy']:.1f} ± {100 * figures['plqy_err']:.1f} %")
        ax.set_xlabel("wavelength (nm)")
        ax.set_ylabel("counts (dark-subtracted)")
        return _save(plt, fig, ax, folder / "plqy.png", title)
    if experiment == "emission-scan" and "fluor-spectrum-corrected" in primary:
        wl = np.asarray(primary["fluor-spectrum-wavelengths"], dtype=float)[-1]
        y = np.asarray(primary["fluor-spectrum-corrected"], dtype=float).mean(axis=0)
        lo, hi = figures.get("window_nm") or (wl[0], wl[-1])
        m = (wl >= lo) & (wl <= hi)
        plt, fig, ax = _axes()
        ax.plot(wl[m], y[m], "-", color="tab:red", label="emission (spectrally corrected)")
        if figures.get("peak_nm"):
            ax.axvline(figures["peak_nm"], color="k", ls=":", lw=1, label=f"peak {figures['peak_nm']:.0f} nm")
        ax.set_xlabel("wavelength (nm)")
        ax.set_ylabel("photons s$^{-1}$ (relative)")
        return _save(plt, fig, ax, folder / "emission.png", title)
    if experiment == "excitation-scan" and "fluor-point-pl" in primary:
        plt, fig, ax = _axes()
        ax.plot(primary["fluor-excitation-wavelength"], primary["fluor-point-pl"], "-o", ms=2, color="tab:blue")
        ax.set_xlabel("excitation wavelength (nm)")
        ax.set_ylabel("PL (counts/s)")
        return _save(plt, fig, ax, folder / "excitation.png", title)
    return None
