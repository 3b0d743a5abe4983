"""CO2 cycloaddition end to end in virtual time on the simulated Parr reactor, and its safety trips."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from labctl.experiments import get_experiment, split_runs, tables_from_documents

CYCLO = get_experiment("co2-cycloaddition")
RECYCLE = get_experiment("recycle")


def on_loop(session, fn):
    """Call a simulator method on the session's loop (simulators read that loop's clock)."""

    async def call():
        return fn()

    return session.call(call())


def _run(session, exp, params, at=None, fault=None):
    kw = exp.resolve(params)
    bench = session.bench
    bench.load_sample(**kw)
    token = None
    if fault is not None:

        def arm(name, doc):
            if token_holder["armed"]:
                return
            token_holder["armed"] = True
            asyncio.get_running_loop().call_later(at, fault)

        token_holder = {"armed": False}
        token = session.RE.subscribe(arm, "start")
    try:
        return session.run(exp.build(bench, kw), md=bench.metadata())
    finally:
        if token is not None:
            session.RE.unsubscribe(token)


def test_paper_conditions_reproduce_ton_and_tof(dry_session):
    out = _run(dry_session, CYCLO, {})
    assert out.exit_status == "success", out.reason
    fig = CYCLO.analyze(out.start, tables_from_documents(out.documents))
    assert fig["ton"] == pytest.approx(17964, rel=0.05)
    assert fig["tof"] == pytest.approx(2994, rel=0.05)
    assert 0.6 < fig["conversion"] < 0.8
    assert not dry_session.bench.sim.parr_controller.heater_enabled


def test_stuck_heater_trips_the_high_limit_and_aborts_heater_off(dry_session):
    sim = dry_session.bench.sim
    out = _run(dry_session, CYCLO, {"hold": "3h"}, at=1.5 * 3600, fault=lambda: sim.parr_vessel.stick_heater(True))
    on_loop(dry_session, lambda: sim.parr_vessel.stick_heater(False))
    assert out.exit_status == "abort"
    assert "interlock tripped" in out.reason and ("high-limit" in out.reason or "over-temperature" in out.reason)
    assert not sim.parr_controller.heater_enabled
    trace = tables_from_documents(out.documents)["primary"]["parr-temperature-readback"]
    assert len(trace) > 30  # what was measured before the trip is kept


def test_a_leaking_vessel_fails_the_leak_check_before_heating(dry_session):
    vessel = dry_session.bench.sim.parr_vessel
    on_loop(dry_session, lambda: vessel.leak(20.0))  # Pa/s
    try:
        out = _run(dry_session, CYCLO, {"hold": "1h"})
    finally:
        on_loop(dry_session, lambda: vessel.leak(0.0))
    assert out.exit_status == "fail"
    assert "the vessel leaks" in out.reason
    sets = [d for n, d in out.documents if n == "event"]
    assert sets  # the leak-check pressures are recorded
    assert not dry_session.bench.sim.parr_controller.heater_enabled


def test_ctrl_c_during_the_hold_switches_the_heater_off(dry_session):
    def press_ctrl_c():
        os.kill(os.getpid(), signal.SIGINT)

    out = _run(dry_session, CYCLO, {"hold": "3h"}, at=2 * 3600, fault=press_ctrl_c)
    assert out.exit_status == "abort" and "Ctrl-C" in out.reason
    assert not dry_session.bench.sim.parr_controller.heater_enabled


def test_recycling_campaign_links_its_runs_and_keeps_conversion(dry_session):
    out = _run(dry_session, RECYCLE, {"cycles": "3", "catalyst_mass": "25mg", "hold": "2h"})
    assert out.exit_status == "success", out.reason
    runs = split_runs(out.documents)
    assert len(runs) == 3
    starts = [r[0][1] for r in runs]
    assert len({s["campaign_id"] for s in starts}) == 1 and [s["cycle"] for s in starts] == [1, 2, 3]
    conversions = [RECYCLE.analyze(r[0][1], tables_from_documents(r))["conversion"] for r in runs]
    assert max(conversions) - min(conversions) < 0.03


def test_the_zn_fraction_moves_the_conversion_the_way_the_model_says(dry_session):
    from labctl.sim.physics.cycloaddition import expected_conversion

    conversion = {}
    for x in (0.0, 0.5):
        out = _run(dry_session, CYCLO, {"zn_fraction": f"{x:g}", "hold": "2h"})
        assert out.exit_status == "success", out.reason
        assert out.start["zn_fraction"] == x and out.start["plan_args"]["catalyst"] is None
        assert dry_session.bench.sim.parr_vessel.reaction.catalyst.zn_fraction == x
        conversion[x] = CYCLO.analyze(out.start, tables_from_documents(out.documents))["conversion"]
        # the model's hold at constant conditions; the bench also reacts while heating and cooling
        expected = expected_conversion({"zn_fraction": x, "hold_s": 7200.0})
        assert 0.98 * expected < conversion[x] < 1.25 * expected
    assert conversion[0.5] > 1.5 * conversion[0.0]


def test_a_10_bar_charge_allowed_by_the_vessel_limit_runs_without_tripping(dry_session):
    controller = dry_session.bench.sim.parr_controller
    assert controller.high_limit_pressure_pa == pytest.approx(30e5)  # the bench file's max_pressure
    out = _run(dry_session, CYCLO, {"pressure": "10bar", "hold": "1h"})
    assert out.exit_status == "success", out.reason
    assert not controller.tripped
    assert out.start["expected_pressure_bar"] == pytest.approx(10 * 343.15 / 293.15 + 3.16, abs=0.01)
