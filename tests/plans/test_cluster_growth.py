"""Cluster growth and suprastructure assembly on the simulated synthesis bench, in virtual time: the
plans' message order, the figures against the simulator's own truth, and every fault a run can meet."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labctl.config import load_bench
from labctl.experiments import get_experiment, tables_from_documents
from labctl.plans.cluster_growth import cluster_growth, ss_assembly
from labctl.plans.stubs import PlanArgumentError
from labctl.session import Session


@pytest.fixture(scope="module")
def flask_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flask")  # the simulated GC's calibration is made once for the module


@pytest.fixture
def flask(flask_data: Path) -> Iterator[Session]:
    with Session(data_dir=flask_data, speed=math.inf, record=False) as s:
        s.open_bench(load_bench("sim-synthesis"))
        yield s


def _devices(session: Session) -> tuple[Any, ...]:
    d = session.bench.devices
    return d["pump"], d["hotplate"], d["absorbance"], d["operator"], d["clock"]


def on_loop(session: Session, fn: Any) -> Any:
    """``fn()`` evaluated on the session's loop (the simulators read its clock)."""

    async def call() -> Any:
        return fn()

    return session.call(call())


def _run(session: Session, plan: Any) -> tuple[Any, list[tuple[float, Any]]]:
    log: list[tuple[float, Any]] = []
    out = session.run(plan, md=session.bench.metadata(), msg_log=lambda t, m: log.append((t, m)))
    return out, log


SHORT = {
    "injection_rate_ml_per_h": 6.0,
    "injection_volume_ml": 1.0,
    "temperature_c": 280.0,
    "spectrum_interval_s": 30.0,
}


def test_a_growth_run_goes_heat_reference_inject_and_ends_safe(flask):
    pump, hotplate, absorbance, *_ = _devices(flask)
    out, log = _run(flask, cluster_growth(*_devices(flask), **SHORT))
    assert (out.exit_status, out.reason) == ("success", "")
    descriptors = {d["uid"]: d["name"] for n, d in out.documents if n == "descriptor"}
    streams = [descriptors[d["descriptor"]] for n, d in out.documents if n == "event"]
    first = {name: streams.index(name) for name in ("heat", "dark", "reference", "primary", "injection_end")}
    assert first["heat"] < first["dark"] < first["reference"] < first["primary"] < first["injection_end"]
    assert streams.count("primary") == 21  # 10 min of injection at 30 s: the first drop and 20 more
    sets = [m for _, m in log if m.command == "set"]
    assert [m.obj for m in sets[-3:]] == [pump.running, absorbance.shutter, hotplate.heater]
    assert [m.args[0] for m in sets[-3:]] == [False, False, False]
    syn = flask.bench.sim.synthesis
    assert on_loop(flask, lambda: (syn.pump.running, syn.hotplate.heater_on, syn.spectrometer.lamp_enabled)) == (
        False,
        False,
        False,
    )
    tables = tables_from_documents(out.documents)
    assert tables["primary"]["pump-dispensed"][-1] == pytest.approx(1.0, abs=0.002)


@pytest.mark.parametrize(
    ("rate", "volume", "temperature"),
    [(2.0, 5.0, 280.0), (4.0, 4.0, 270.0)],
    ids=["2mL/h-280C", "4mL/h-270C"],
)
def test_the_figures_recover_the_simulators_own_peak(flask, rate, volume, temperature):
    args = {
        **SHORT,
        "injection_rate_ml_per_h": rate,
        "injection_volume_ml": volume,
        "temperature_c": temperature,
    }
    out, log = _run(flask, cluster_growth(*_devices(flask), **args))
    absorbance = flask.bench.devices["absorbance"]
    t_spectrum = max(t for t, m in log if m.command == "trigger" and m.obj is absorbance)
    assert out.exit_status == "success"
    tables = tables_from_documents(out.documents)
    figures = get_experiment("cluster-growth").analyze(out.start, tables)
    syn = flask.bench.sim.synthesis
    truth = on_loop(flask, lambda: syn.flask.truth(t_spectrum))  # the flask when the last spectrum began
    assert figures["injected_ml"] == pytest.approx(volume, abs=0.002)
    # the band's maximum, and twice its red half width at half maximum, as the simulator draws them
    assert figures["first_exciton_nm"] == pytest.approx(truth.first_exciton_nm, rel=0.02)
    assert figures["fwhm_mev"] == pytest.approx(truth.first_exciton_fwhm_mev, rel=0.02)


def test_a_stall_mid_injection_ends_the_run_with_the_alarm_heater_off_and_spectra_kept(flask):
    syn = flask.bench.sim.synthesis
    on_loop(flask, lambda: syn.pump.stall(at_ml=syn.pump.infused_ml() + 0.4))
    out, _ = _run(flask, cluster_growth(*_devices(flask), **SHORT))
    assert out.exit_status == "fail"
    assert out.reason == (
        "PumpStoppedError: pump stopped before the injection was over: pump: alarm A?S: motor stalled (the plunger "
        "is blocked or the "
        "syringe is empty); 0.400 of 1 mL delivered; the injection ended, the heater is switched off and the 8 "
        "spectra taken are kept"
    )
    assert on_loop(flask, lambda: (syn.hotplate.heater_on, syn.pump.running)) == (False, False)
    spectra = [d for n, d in out.documents if n == "event" and "absorbance-absorbance" in d["data"]]
    assert len(spectra) >= 5


def test_the_hotplates_watchdog_stops_the_heater_when_labctl_stops_feeding_it(flask):
    hotplate = flask.bench.devices["hotplate"]
    syn = flask.bench.sim.synthesis
    plan = cluster_growth(*_devices(flask), **{**SHORT, "injection_volume_ml": 3.0})

    def starve(t: float, msg: Any) -> None:
        if msg.command == "set" and msg.obj is flask.bench.devices["pump"].infused and hotplate.watchdog_task:
            hotplate.watchdog_task.cancel()  # the feeding stops as if labctl had hung

    out = flask.run(plan, md=flask.bench.metadata(), msg_log=starve)
    assert out.exit_status == "abort"
    assert out.reason.startswith("interlock tripped: hotplate: error Er02 latched (watchdog expired")
    assert on_loop(flask, lambda: (syn.hotplate.heater_on, syn.pump.running)) == (False, False)


def test_an_unplugged_probe_trips_the_runaway_interlock(flask):
    syn = flask.bench.sim.synthesis

    def unplug(t: float, msg: Any) -> None:
        if msg.command == "set" and msg.obj is flask.bench.devices["pump"].infused:
            syn.hotplate.unplug_probe()

    out = flask.run(cluster_growth(*_devices(flask), **SHORT), md=flask.bench.metadata(), msg_log=unplug)
    assert out.exit_status == "abort"
    assert out.reason.startswith("interlock tripped: hotplate: flask probe missing (IN_PV_1 reads -100 °C)")
    assert on_loop(flask, lambda: (syn.hotplate.heater_on, syn.pump.running)) == (False, False)


@pytest.mark.parametrize(
    ("fault", "text"),
    [
        ("saturated", "saturated"),
        ("dark", "check the source"),
    ],
)
def test_a_saturated_or_dark_reference_is_refused_with_the_integration_time_to_use(flask, fault, text):
    syn = flask.bench.sim.synthesis
    if fault == "saturated":
        syn.optics.set_throughput(3.0)
    else:
        syn.optics.burn_out()
    out, _ = _run(flask, cluster_growth(*_devices(flask), **SHORT))
    assert out.exit_status == "fail"
    assert text in out.reason and ("integration time" in out.reason or "source" in out.reason)
    assert on_loop(flask, lambda: (syn.pump.infused_ml(), syn.hotplate.heater_on)) == (0.0, False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"injection_rate_ml_per_h": 500.0}, r"pump: rate 500 mL/h is outside .*-60 mL/h, what this pump gives"),
        ({"injection_volume_ml": 30.0}, r"pump: volume 30 mL is outside 0-20 mL"),
        ({"temperature_c": 305.0}, r"hotplate: temperature 305 °C is outside the bench limit of 0-300 °C"),
        ({"spectrum_interval_s": 0.2}, r"spectrum_interval_s=0.2 s is shorter than one averaged spectrum takes"),
        ({"target_nm": 1500.0}, r"target_nm=1500 nm must be between 200 and 1100 nm"),
    ],
)
def test_bad_arguments_are_refused_before_anything_moves(flask, change, message):
    with pytest.raises(PlanArgumentError, match=message):
        next(iter(cluster_growth(*_devices(flask), **{**SHORT, **change})))


def test_the_injection_stops_at_the_target_wavelength(flask):
    out, _ = _run(flask, cluster_growth(*_devices(flask), **{**SHORT, "injection_volume_ml": 10.0, "target_nm": 700.0}))
    assert out.exit_status == "success"
    tables = tables_from_documents(out.documents)
    figures = get_experiment("cluster-growth").analyze(out.start, tables)
    assert figures["reached_target"] is True
    assert 700.0 <= figures["first_exciton_nm"] < 760.0
    assert tables["injection_end"]["pump-dispensed"][0] < 10.0


def test_an_assembly_run_keeps_the_msc_peaks_and_its_scattering_rises(flask):
    _, hotplate, absorbance, operator, clock = _devices(flask)
    plan = ss_assembly(hotplate, absorbance, operator, clock, temperature_c=120.0, duration_s=2 * 3600.0)
    out, log = _run(flask, plan)
    assert out.exit_status == "success"
    figures = get_experiment("ss-assembly").analyze(out.start, tables_from_documents(out.documents))
    assert abs(figures["msc_353_drift_nm"]) < 2.0
    assert figures["baseline_600nm_rise"] > 0.0
    sets = [m for _, m in log if m.command == "set"]
    assert sets[-1].obj is hotplate.heater and sets[-1].args[0] is False
    wl = np.asarray(out.start["wavelengths_nm"])
    assert wl.size == 2048
