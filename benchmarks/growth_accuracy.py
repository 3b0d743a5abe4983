"""Cluster growth: how well the run's figures recover the simulator's own first exciton.

For each recipe, a growth run on the simulated synthesis bench in virtual time (the real plan,
devices, drivers, protocol simulators and spectrometer noise); at every spectrum the flask's truth
(the main population's band maximum and twice its red half width at half maximum, from the growth
model without noise, higher transitions or scattering) is recorded beside the measured spectrum.
Printed per recipe: the run's end figures against the truth when the last spectrum began, and the
error of the width over every fitted spectrum of the run's second half (median and largest).

Target (the "done when" of the growth work): end figures within 2 % of the truth.

    python benchmarks/growth_accuracy.py
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from labctl.analysis.growth import growth_traces, material_of
from labctl.config import load_bench
from labctl.experiments import get_experiment, tables_from_documents
from labctl.plans.cluster_growth import cluster_growth
from labctl.session import Session

RECIPES = (  # injection rate mL/h, volume mL, temperature °C
    (2.0, 5.0, 280.0),
    (4.0, 4.0, 270.0),
    (3.0, 6.0, 290.0),
    (6.0, 5.0, 280.0),
)


def run(session: Session, rate: float, volume: float, temperature: float) -> dict[str, Any]:
    devices = session.bench.devices
    absorbance = devices["absorbance"]
    synthesis = session.bench.sim.synthesis
    truths: list[tuple[float, float]] = []

    def at_spectrum(t: float, msg: Any) -> None:
        if msg.command == "trigger" and msg.obj is absorbance and synthesis.flask is not None:
            truth = synthesis.flask.truth(synthesis.clock())
            truths.append((truth.first_exciton_nm, truth.first_exciton_fwhm_mev))

    plan = cluster_growth(
        devices["pump"],
        devices["hotplate"],
        absorbance,
        devices["operator"],
        devices["clock"],
        injection_rate_ml_per_h=rate,
        injection_volume_ml=volume,
        temperature_c=temperature,
        spectrum_interval_s=30.0,
    )
    out = session.run(plan, md=session.bench.metadata(), msg_log=at_spectrum)
    tables = tables_from_documents(out.documents)
    figures = get_experiment("cluster-growth").analyze(out.start, tables)
    spectra = np.asarray(tables["primary"]["absorbance-absorbance"], dtype=float)
    times = np.asarray(tables["primary"]["clock-elapsed"], dtype=float)
    truth = np.array(truths[-len(spectra) :])
    wavelengths = np.asarray(out.start["wavelengths_nm"], dtype=float)
    traces = growth_traces(times, wavelengths, spectra, material=material_of(str(out.start["precursor"])))
    half = np.arange(len(spectra)) >= len(spectra) // 2
    fitted = traces.ok & half & np.isfinite(truth[:, 1])
    width_error = 100.0 * np.abs(traces.fwhm_mev[fitted] / truth[fitted, 1] - 1.0)
    return {
        "status": out.exit_status,
        "spectra": len(spectra),
        "figures": (figures["first_exciton_nm"], figures["fwhm_mev"]),
        "truth": tuple(truth[-1]),
        "second_half": (int(fitted.sum()), int(half.sum()), float(np.median(width_error)), float(width_error.max())),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for rate, volume, temperature in RECIPES:
            with Session(data_dir=Path(tmp), speed=math.inf, record=False) as session:
                session.open_bench(load_bench("sim-synthesis"))
                r = run(session, rate, volume, temperature)
            (lam, fwhm), (lam_true, fwhm_true) = r["figures"], r["truth"]
            n_fit, n_half, median, largest = r["second_half"]
            print(
                f"{rate:g} mL/h, {volume:g} mL, {temperature:g} °C ({r['status']}, {r['spectra']} spectra): "
                f"end {lam:.1f} nm / {fwhm:.1f} meV vs truth {lam_true:.1f} nm / {fwhm_true:.1f} meV "
                f"({100 * (lam / lam_true - 1):+.2f} %, {100 * (fwhm / fwhm_true - 1):+.2f} %); "
                f"second half: {n_fit} of {n_half} spectra fitted, width error median {median:.1f} %, "
                f"largest {largest:.1f} %",
                flush=True,
            )


if __name__ == "__main__":
    main()
