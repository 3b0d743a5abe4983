"""Gas-phase photocatalysis end to end: CO2 photoreduction on the arc-lamp bench, AQY on the LED bench."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.config import load_bench
from labctl.experiments import ParameterError, get_experiment, h2_series, tables_from_documents
from labctl.plans.stubs import PlanArgumentError
from labctl.session import Session
from labctl.sim.physics.photoreactor import CDS_TIO2_CU, molar_photon_energy_j_per_mol

CO2 = get_experiment("co2-photoreduction")
H2 = get_experiment("h2-evolution")


@pytest.fixture
def led_session(tmp_path: Path) -> Iterator[Session]:
    with Session(data_dir=tmp_path, speed=math.inf, record=False) as s:
        s.open_bench(load_bench("sim-led"))
        yield s


def _run(session, exp, params):
    kw = exp.resolve(params)
    exp.check(session.bench, kw)
    session.bench.load_sample(**kw)
    out = session.run(exp.build(session.bench, kw), md=session.bench.metadata())
    assert out.exit_status == "success", out.reason
    tables = tables_from_documents(out.documents)
    return out, tables, exp.analyze(out.start, tables)


def on_loop(session, fn):
    """Call a simulator method on the session's loop (simulators read that loop's clock)."""

    async def call():
        return fn()

    return session.call(call())


def _truth(session, series, product_fig, product):
    """The model's own rate of a product over the run's fitted window."""
    origin = session.bench.devices["clock"]._origin
    t_on = origin + series["lamp_on_s"]
    w0, w1 = product_fig["fit_window_h"]

    async def truth():
        return session.bench.sim.model.true_rates_umol_per_g_h(t_on + w0 * 3600, t_on + w1 * 3600)[product]

    return session.call(truth())


def test_co2_photoreduction_measures_the_models_rates_and_selectivity(dry_session):
    out, tables, fig = _run(dry_session, CO2, {"catalyst_mass": "10mg", "duration": "6h", "sample_interval": "1h"})
    series = h2_series(out.start, tables)
    for product in ("CO", "H2"):
        assert fig[f"{product}_rate"] == pytest.approx(
            _truth(dry_session, series, fig["products"][product], product), rel=0.05
        )
    # the catalyst's electron split: 2 x CO over 2 x CO + 2 x H2 (+ 8 x CH4, a trace)
    expected_co = 2 * 781.3 / (2 * 781.3 + 2 * 5875.1 + 8 * 15.0)
    assert fig["selectivity"]["CO"] == pytest.approx(expected_co, rel=0.1)
    assert sum(fig["selectivity"].values()) == pytest.approx(1.0)
    assert out.start["atmosphere"] == "CO2" and out.start["gc_calibrations"]["CO"]["method"] == "MS5A-Ar"
    assert fig["gc_calibrations"]["CO"]["r_squared"] > 0.999  # the calibration used is in the figures
    assert not on_loop(dry_session, dry_session.bench.sim.lamp_sim.is_lit)


def test_the_reference_catalyst_reproduces_the_published_rates_in_the_first_hour(dry_session):
    """The model's own first-hour rates under the reference setting are the paper's (CO 781.3, H2 5875.1)."""
    _run(dry_session, CO2, {"catalyst_mass": "10mg", "duration": "1h", "sample_interval": "30min", "dark_samples": "1"})
    model = dry_session.bench.sim.model
    assert model.catalyst is CDS_TIO2_CU

    async def first_hour():
        return model.initial_rates_umol_per_g_h(300.0)

    rates = dry_session.call(first_hour())
    assert rates["CO"] == pytest.approx(781.3, rel=0.05) and rates["H2"] == pytest.approx(5875.1, rel=0.05)


def test_without_a_co_method_the_gc_is_refused(dry_session):
    gc = dry_session.bench.devices["gc"]
    gases = gc.gases
    gc.gases = ("H2", "O2", "N2")
    try:
        with pytest.raises(PlanArgumentError, match="but not CO, CH4; CO2 reduction needs"):
            CO2.check(dry_session.bench, CO2.resolve({}))
    finally:
        gc.gases = gases


def test_aqy_of_h2_on_the_led_bench_follows_the_photon_flux(led_session):
    out, tables, fig = _run(
        led_session, H2, {"wavelength": "420nm", "led_current": "0.5A", "duration": "3h", "sample_interval": "30min"}
    )
    lamp = led_session.bench.devices["lamp"]
    light_w = lamp.optical_power_for(0.5)
    assert out.start["light_power_w"] == pytest.approx(light_w) and out.start["wavelength_nm"] == 420.0
    series = h2_series(out.start, tables)
    irradiated_s = series["times_s"][-1] - series["lamp_on_s"]
    photons_umol = light_w / molar_photon_energy_j_per_mol(420.0) * 1e6 * irradiated_s
    expected = 2 * fig["total_umol"] / photons_umol * 100  # AQY = 2 n(H2) / n(photons)
    assert fig["aqy"] == pytest.approx(expected, rel=0.05)
    assert 0 < fig["aqy"] < 100
    assert out.start["lamp"]["led_current_a"] == 0.5
    lamp_on = tables["lamp_on"]["lamp-applied_current"]
    assert lamp_on[0] == pytest.approx(0.5, rel=0.02)
    assert not led_session.bench.sim.lamp_sim.output_on  # off at the end


def test_an_led_current_above_the_head_limit_is_refused_before_anything_moves(led_session):
    sim = led_session.bench.sim.lamp_sim
    sent = len(sim.received)
    with pytest.raises(PlanArgumentError, match=r"led_current=1\.5 A is outside 0-1 A"):
        H2.check(led_session.bench, H2.resolve({"led_current": "1.5A"}))
    assert len(sim.received) == sent


def test_an_led_bench_needs_a_drive_current(led_session):
    with pytest.raises(ParameterError, match="lit by an LED: give its drive current"):
        H2.check(led_session.bench, H2.resolve({}))
