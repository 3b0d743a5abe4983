"""Per-run report: figures of merit as JSON and Markdown, and the plot a chemist opens first.

``write_report`` makes ``reports/<uid>/`` with ``figures.json`` (the figures of merit by
name), ``report.md`` (run, bench, simulated or not, exit status and reason, figures, notes)
and the plots: ``h2.png`` (µmol H2 in the headspace vs time, the fitted line over the linear
part, the lamp-on instant, and N2/O2 for leaks) or ``trace.png`` (the Parr vessel's temperature
and pressure, with the hold); a recycling campaign also gets ``recycling.png`` (conversion per
cycle); the photoluminescence runs get their own plot (``labctl.reports.photoluminescence``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labctl.reports.photoluminescence import PL_EXPERIMENTS, PL_LABELS, plot_pl

# The unit each figure of merit is printed in (terminal and report.md).  The figures that are
# fractions in figures.json (AS_PERCENT) are printed as percentages, so that a percentage never
# stands next to a fraction (PLQY 35.2 % ± 0.07 %, not 35.2 next to 0.0007).
FIGURE_UNITS: dict[str, str] = {
    "rate": "µmol g⁻¹ h⁻¹",
    "rate_stderr": "µmol g⁻¹ h⁻¹",
    "model_rate": "µmol g⁻¹ h⁻¹",
    "dark_rate": "µmol g⁻¹ h⁻¹",
    "electron_rate": "µmol e⁻ g⁻¹ h⁻¹",
    "r_squared": "",
    "total_umol": "µmol",
    "aqy": "%",
    "leak_suspect": "",
    "conversion_percent": "%",
    "ton": "per cluster",
    "tof": "h⁻¹ per cluster",
    "po_converted_mmol": "mmol",
    "surface_metal_umol": "µmol",
    "hold_h": "h",
    "co2_uptake_mmol": "mmol",
    "retention_percent": "%",
    "retention_30min": "%",
    "half_life_h": "h",
    "half_life_observed_h": "h",
    "stable_fraction": "%",
    "bleach_rate_per_h": "h⁻¹",
    "points": "",
    "plqy_percent": "%",
    "plqy_err": "%",
    "absorbed_fraction": "%",
    "n_components": "",
    "lifetimes": "µs",
    "fractions": "%",
    "average_lifetime_us": "µs",
    "reduced_chi2": "",
    "peak_nm": "nm",
    "fwhm_nm": "nm",
    "excitation_peak_nm": "nm",
    "first_exciton_nm": "nm",
    "fwhm_mev": "meV",
    "first_exciton_shift_nm": "nm",
    "min_fwhm_mev": "meV",
    "min_fwhm_time_s": "s",
    "diameter_nm": "nm",
    "second_population_time_s": "s",
    "injected_ml": "mL",
    "ripening_time_s": "s",
    "red_band_nm": "nm",
}
AS_PERCENT = frozenset({"retention_30min", "stable_fraction", "plqy_err", "absorbed_fraction", "fractions"})
# report.md labels of the figures printed as percentages (the PL labels name them fractions)
_PERCENT_LABELS = {
    "retention_30min": "retention after 30 min (%)",
    "stable_fraction": "photostable fraction, fit (%)",
    "plqy_err": "± standard error (%)",
    "absorbed_fraction": "absorbed fraction (%)",
    "fractions": "amplitude fractions (%)",
}


def figure_text(key: str, value: Any, digits: int = 4) -> str:
    """A figure's value as printed, without its unit: fractions in AS_PERCENT times 100, lists
    comma-separated, None as n/a."""
    scale = 100.0 if key in AS_PERCENT else 1.0
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(x * scale if isinstance(x, int | float) else x, digits) for x in value)
    if isinstance(value, float | int) and not isinstance(value, bool):
        return _fmt(float(value) * scale, digits)
    return _fmt(value, digits)


def figure_rows(figures: Mapping[str, Any], keys: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(figure, value, unit) for each key in ``figures``; a missing value's unit is left out."""
    rows = []
    for key in keys:
        if key not in figures:
            continue
        value = figures[key]
        unit = FIGURE_UNITS.get(key, "") if value is not None else ""
        rows.append((key, figure_text(key, value), unit))
    return rows


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def plot_h2(path: Path, series: Mapping[str, Any], figures: Mapping[str, Any], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_h = np.asarray(series["times_s"], dtype=float) / 3600.0
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.plot(t_h, series["H2"], "o", color="tab:blue", label="H$_2$ (GC, headspace)")
    lamp_on_h = (series.get("lamp_on_s") or 0.0) / 3600.0
    ax.axvline(lamp_on_h, color="goldenrod", ls="--", lw=1, label="lamp on")
    w0, w1 = figures.get("fit_window_h") or (None, None)
    rate, mass = figures.get("rate"), figures.get("catalyst_mass_g")
    if rate is not None and w0 is not None and mass:
        x = np.linspace(lamp_on_h + w0, lamp_on_h + w1, 20)
        y = (
            (figures.get("baseline_umol") or 0.0)
            + figures.get("fit_intercept_umol", 0.0)
            + rate * mass * (x - lamp_on_h)
        )
        ax.plot(x, y, "-", color="tab:red", label=f"fit: {rate:.0f} µmol g$^{{-1}}$ h$^{{-1}}$")
    for gas, color in (("N2", "tab:gray"), ("O2", "tab:green")):
        if series.get(gas) is not None:
            ax.plot(t_h, series[gas], "s", ms=3, color=color, alpha=0.7, label=f"{gas} (leak check)")
    ax.set_xlabel("time (h)")
    ax.set_ylabel("amount in headspace (µmol)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_reactor_trace(path: Path, tables: Mapping[str, Mapping[str, Any]], title: str) -> Path | None:
    """Temperature and pressure of the Parr vessel against time (h), and the hold window."""
    primary = tables.get("primary", {})
    if "parr-temperature-readback" not in primary:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_h = np.asarray(primary["clock-elapsed"], dtype=float) / 3600.0
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.plot(t_h, primary["parr-temperature-readback"], "-", color="tab:red", label="temperature")
    ax.set_xlabel("time (h)")
    ax.set_ylabel("temperature (°C)", color="tab:red")
    ax2 = ax.twinx()
    ax2.plot(t_h, primary["parr-pressure"], "-", color="tab:blue", label="pressure")
    ax2.set_ylabel("pressure (bar, absolute)", color="tab:blue")
    hs, he = tables.get("hold_start", {}).get("clock-elapsed"), tables.get("hold_end", {}).get("clock-elapsed")
    if hs is not None and he is not None and len(hs) and len(he):
        ax.axvspan(hs[0] / 3600.0, he[0] / 3600.0, color="gold", alpha=0.15, label="hold")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_co2_reduction(path: Path, series: Mapping[str, Any], figures: Mapping[str, Any], title: str) -> Path:
    """Amount vs time per product with its rate fit line, and the electron selectivity as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_h = np.asarray(series["times_s"], dtype=float) / 3600.0
    on_h = (series.get("lamp_on_s") or 0.0) / 3600.0
    fig, (ax, bar) = plt.subplots(1, 2, figsize=(10, 4.5), dpi=120, gridspec_kw={"width_ratios": [3, 1.3]})
    products = figures.get("products") or {}
    for name, prod in products.items():
        y = series.get(name)
        if y is None:
            continue
        y = np.asarray(y, dtype=float)
        (pts,) = ax.plot(t_h, y, "o", label=f"{name}: {prod['rate']:.0f} µmol g$^{{-1}}$ h$^{{-1}}$")
        w0, w1 = prod.get("fit_window_h") or (None, None)
        if prod.get("detected") and w0 is not None:
            m = (t_h - on_h >= w0 - 1e-6) & (t_h - on_h <= w1 + 1e-6)
            if np.count_nonzero(m) >= 2:
                k, b = np.polyfit(t_h[m], y[m], 1)
                xs = np.linspace(t_h[m][0], t_h[m][-1], 20)
                ax.plot(xs, k * xs + b, "--", color=pts.get_color(), lw=1)
    ax.axvline(on_h, color="goldenrod", ls=":", lw=1, label="light on")
    ax.set_xlabel("time (h)")
    ax.set_ylabel("amount in headspace (µmol)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    sel = figures.get("selectivity") or {}
    names = list(sel)
    bar.bar(
        names, [100 * sel[n] for n in names], color=["tab:blue", "tab:orange", "tab:green", "tab:red"][: len(names)]
    )
    bar.set_ylabel("electron selectivity (%)")
    bar.set_ylim(0, 105)
    bar.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_calibration(
    path: Path,
    start: Mapping[str, Any],
    tables: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, Any],
    title: str,
) -> Path | None:
    """Area vs µmol injected per gas with the fitted line, and the residuals beneath."""
    primary = tables.get("primary", {})
    standards = start.get("standards") or []
    cals = (figures or {}).get("calibrations") or {}
    if not standards or not primary:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, res) = plt.subplots(2, 1, figsize=(7, 6), dpi=120, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for gas in dict.fromkeys(s["gas"] for s in standards):
        idx = [i for i, s in enumerate(standards) if s["gas"] == gas]
        key = f"gc-{gas.lower()}_area"
        if key not in primary:
            continue
        areas = np.asarray(primary[key], dtype=float)
        idx = [i for i in idx if i < len(areas)]
        x = np.array([standards[i]["umol"] for i in idx])
        (line,) = ax.plot(x, areas[idx], "o", label=f"{gas} standards")
        cal = cals.get(gas)
        if cal:
            xs = np.linspace(0, x.max() * 1.05, 50)
            ax.plot(xs, cal["slope"] * xs + cal["intercept"], "-", color=line.get_color(),
                    label=f"{gas}: R² = {cal['r_squared']:.5f}")  # fmt: skip
            fit = cal["slope"] * x + cal["intercept"]
            res.plot(x, 100 * (areas[idx] - fit) / fit, "o", color=line.get_color())
    res.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("peak area (µV·s)")
    res.set_ylabel("residual (%)")
    res.set_xlabel("injected (µmol)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    res.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_recycling(path: Path, conversions: list[float], title: str) -> Path:
    """Conversion per cycle of a recycling campaign."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cycles = np.arange(1, len(conversions) + 1)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.bar(cycles, np.asarray(conversions) * 100.0, color="tab:green")
    ax.set_xlabel("cycle")
    ax.set_ylabel("PO conversion (%)")
    ax.set_ylim(0, 105)
    ax.set_xticks(cycles)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


LABELS: dict[str, dict[str, str]] = {
    "cluster-growth": {
        "first_exciton_nm": "first exciton at the end (nm)",
        "fwhm_mev": "its width, FWHM (meV)",
        "first_exciton_time_s": "measured at (s)",
        "end_note": "the end values",
        "first_exciton_shift_nm": "red shift over the run (nm)",
        "min_fwhm_mev": "narrowest width (meV)",
        "min_fwhm_time_s": "reached at (s)",
        "diameter_nm": "diameter from the sizing curve (nm)",
        "sizing_note": "sizing",
        "second_population": "second population",
        "second_population_time_s": "second population first seen at (s)",
        "reached_target": "target wavelength reached",
        "endpoint": "the injection ended by",
        "injected_ml": "injected volume (mL)",
        "spectra": "spectra",
        "spectra_fitted": "spectra fitted",
    },
    "ss-assembly": {
        "scattering_exponent": "scattering exponent n (A ∝ λ^-n)",
        "baseline_600nm_start": "baseline at 600 nm, start",
        "baseline_600nm_end": "baseline at 600 nm, end",
        "baseline_600nm_rise": "baseline rise at 600 nm",
        "ripening": "ripening (new red bands)",
        "ripening_time_s": "ripening first seen at (s)",
        "red_band_nm": "red band (nm)",
        "spectra": "spectra",
    },
    "h2": {
        "rate": "H2 rate (µmol g⁻¹ h⁻¹)",
        "rate_stderr": "± standard error (µmol g⁻¹ h⁻¹)",
        "model_rate": "simulator's own rate (µmol g⁻¹ h⁻¹)",
        "r_squared": "R² of the linear fit",
        "total_umol": "H2 evolved (µmol)",
        "aqy": "AQY (%)",
        "dark_rate": "rate in the dark (µmol g⁻¹ h⁻¹)",
        "leak_suspect": "air leak suspected",
    },
    "cyclo": {
        "conversion_percent": "PO conversion (%)",
        "ton": "TON per cluster",
        "tof": "TOF per cluster (h⁻¹)",
        "po_converted_mmol": "PO converted (mmol)",
        "surface_metal_umol": "surface metal (µmol, ICP)",
        "hold_h": "hold at temperature (h)",
        "co2_uptake_mmol": "CO2 uptake from the pressure drop (mmol)",
    },
}


def plot_flask_run(
    folder: Path, start: Mapping[str, Any], tables: Mapping[str, Mapping[str, Any]], title: str
) -> list[Path]:
    """A growth or assembly run's spectra (heat map and waterfall) and its peak traces."""
    from labctl.analysis.growth import assembly_traces, growth_traces, material_of
    from labctl.reports.growth import plot_assembly, plot_growth

    rows = tables.get("primary", {})
    spectra = rows.get("absorbance-absorbance")
    if spectra is None or len(spectra) == 0:
        return []
    times = np.asarray(rows["clock-elapsed"], dtype=float)
    wavelengths = np.asarray(start["wavelengths_nm"], dtype=float)
    spectra = np.asarray(spectra, dtype=float)
    if start.get("experiment") == "ss-assembly":
        return plot_assembly(folder, times, wavelengths, spectra, assembly_traces(times, wavelengths, spectra), title)
    traces = growth_traces(times, wavelengths, spectra, material=material_of(str(start.get("precursor", ""))))
    injected = rows.get("pump-dispensed")
    return plot_growth(folder, times, wavelengths, spectra, traces, title, injected_ml=injected)


def write_report(
    folder: Path,
    *,
    start: Mapping[str, Any],
    stop: Mapping[str, Any],
    figures: Mapping[str, Any] | None,
    series: Mapping[str, Any] | None = None,
    tables: Mapping[str, Mapping[str, Any]] | None = None,
    error: str | None = None,
) -> dict[str, Path]:
    """Write the report files of one run into ``folder``; return their paths by kind."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    sim = bool(start.get("simulated"))
    doc = {
        "uid": start.get("uid"),
        "experiment": start.get("experiment", start.get("plan_name")),
        "simulated": sim,
        "bench": start.get("bench"),
        "exit_status": stop.get("exit_status"),
        "reason": stop.get("reason", ""),
        "figures": dict(figures or {}),
        "analysis_error": error,
    }
    out["json"] = folder / "figures.json"
    out["json"].write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    title = f"{doc['experiment']} {str(doc['uid'])[:8]}" + (" (SIMULATED)" if sim else "")
    if figures and series and "products" in figures:
        out["plot"] = plot_co2_reduction(folder / "co2_reduction.png", series, figures, title)
    elif figures and series and series.get("H2") is not None:
        out["plot"] = plot_h2(folder / "h2.png", series, figures, title)
    if tables is not None:
        trace = plot_reactor_trace(folder / "trace.png", tables, title)
        if trace is not None:
            out["trace"] = trace
        if doc["experiment"] in PL_EXPERIMENTS:
            pl_plot = plot_pl(folder, str(doc["experiment"]), start, tables, figures, title)
            if pl_plot is not None:
                out["plot"] = pl_plot
        if doc["experiment"] in ("cluster-growth", "ss-assembly") and start.get("wavelengths_nm"):
            flask_plots = plot_flask_run(folder, start, tables, title)
            if flask_plots:
                out["plot"], out["spectra"] = flask_plots[-1], flask_plots[0]
        if doc["experiment"] == "gc-calibration":
            cal_plot = plot_calibration(folder / "calibration.png", start, tables, figures or {}, title)
            if cal_plot is not None:
                out["plot"] = cal_plot
    lines = [
        f"# {title}",
        "",
        f"- run uid: `{doc['uid']}`",
        f"- bench: {doc['bench']}" + (" — **simulated bench: these are not measured data**" if sim else ""),
        (
            f"- flask: {start.get('precursor') or start.get('sample', '')} in {start.get('solvent', '')} at "
            f"{_fmt(start.get('temperature_c'))} °C"
            if doc["experiment"] in ("cluster-growth", "ss-assembly")
            else f"- catalyst: {start.get('catalyst', '')} "
            f"({_fmt(start.get('catalyst_mass_mg') or (start.get('catalyst_mass_g') or 0) * 1e3)} mg)"
        ),
        f"- sample: {start.get('sample', '')}  operator: {start.get('operator', '')}",
        f"- exit status: **{doc['exit_status']}**" + (f" — {doc['reason']}" if doc["reason"] else ""),
        "",
        "## Figures of merit",
        "",
    ]
    if start.get("campaign_id"):
        lines.insert(2, f"- campaign: `{start['campaign_id']}`, cycle {start.get('cycle')} of {start.get('cycles')}")
    if figures:
        if doc["experiment"] in PL_EXPERIMENTS:
            labels = {k: _PERCENT_LABELS.get(k, v) for k, v in PL_LABELS.items() if k in figures}
        elif "products" in figures:
            labels = {"electron_rate": "electrons (µmol e⁻ g⁻¹ h⁻¹)", "leak_suspect": "air leak suspected"}
            lines += ["| product | rate (µmol g⁻¹ h⁻¹) | ± | e⁻ selectivity (%) | AQY (%) |", "|---|---|---|---|---|"]
            for name, prod in figures["products"].items():
                sel = 100 * (figures.get("selectivity") or {}).get(name, 0.0)
                lines.append(
                    f"| {name} | {_fmt(prod.get('rate'))} | {_fmt(prod.get('rate_stderr'))} | {sel:.1f} | "
                    f"{_fmt(prod.get('aqy'))} |"
                )
            lines.append("")
            for gas, cal in (figures.get("gc_calibrations") or {}).items():
                lines.append(
                    f"- GC calibration used for {gas}: {cal.get('created')}, {cal.get('method')}, "
                    f"{_fmt(cal.get('amount_min_umol'))}-{_fmt(cal.get('amount_max_umol'))} µmol, "
                    f"R² {_fmt(cal.get('r_squared'), 6)}"
                )
            lines.append("")
        elif doc["experiment"] == "gc-calibration":
            labels = {}
            for gas, cal in (figures.get("calibrations") or {}).items():
                lo, hi = cal["amount_range_umol"]
                lines.append(
                    f"- {gas}: area = {cal['slope']:.6g} x µmol + {cal['intercept']:.6g} µV·s, "
                    f"R² = {cal['r_squared']:.5f}, range {lo:g}-{hi:g} µmol, {cal['created']}, {cal['method']}"
                )
        elif doc["experiment"] in ("cluster-growth", "ss-assembly"):
            labels = {k: v for k, v in LABELS[str(doc["experiment"])].items() if k in figures}
            labels.update({k: k.replace("_", " ") for k in figures if k.startswith("msc_") and k not in labels})
        else:
            labels = LABELS["cyclo"] if "ton" in figures else LABELS["h2"]
        lines += ["| figure | value |", "|---|---|"]
        lines += [f"| {label} | {figure_text(key, figures.get(key))} |" for key, label in labels.items()]
        if figures.get("leak_message"):
            lines += ["", f"**Leak:** {figures['leak_message']}"]
        if doc["experiment"] == "h2-evolution" and start.get("gc_calibrations", {}).get("H2"):
            cal = start["gc_calibrations"]["H2"]
            lines += [
                "",
                f"GC calibration used for H2: {cal.get('created')}, {cal.get('method')}, "
                f"{_fmt(cal.get('amount_min_umol'))}-{_fmt(cal.get('amount_max_umol'))} µmol, "
                f"R² {_fmt(cal.get('r_squared'), 6)}",
            ]
        notes = figures.get("notes") or []
        if notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    else:
        lines.append(f"No figures of merit: {error or 'no data'}")
    if "spectra" in out:
        lines += ["", f"![absorbance spectra]({out['spectra'].name})"]
    if "plot" in out:
        lines += ["", f"![plot]({out['plot'].name})"]
    if "trace" in out:
        lines += ["", "![temperature and pressure](trace.png)"]
    out["markdown"] = folder / "report.md"
    out["markdown"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
