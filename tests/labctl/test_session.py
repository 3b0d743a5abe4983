"""End to end in virtual time: H2 evolution on the simulated bench, recorded, and every fault."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import numpy as np
import pytest

from labctl.catalog import open_catalog, read_jsonl
from labctl.experiments import get_experiment, h2_series, tables_from_catalog, tables_from_documents

EXP = get_experiment("h2-evolution")


def _run(session, at=None, fault=None, **params):
    kw = EXP.resolve(params)
    bench = session.bench
    bench.load_sample(**kw)
    token = None
    if fault is not None:

        def arm(name, doc):
            asyncio.get_running_loop().call_later(at, fault)

        token = session.RE.subscribe(arm, "start")
    try:
        return session.run(EXP.build(bench, kw), md=bench.metadata())
    finally:
        if token is not None:
            session.RE.unsubscribe(token)


def on_loop(session, fn):
    """Call a simulator method on the session's loop (simulators read that loop's clock)."""

    async def call():
        return fn()

    return session.call(call())


def _model_rate(session, outcome, figures):
    clock = session.bench.devices["clock"]
    series = h2_series(outcome.start, tables_from_documents(outcome.documents))
    w0, w1 = figures["fit_window_h"]
    t_on = clock._origin + series["lamp_on_s"]

    async def truth():
        return session.bench.sim.model.true_rate_umol_per_g_h(t_on + w0 * 3600, t_on + w1 * 3600)

    return session.call(truth())


def test_four_hour_run_is_recorded_and_its_rate_matches_the_model(recording_session, data_dir):
    out = _run(recording_session, duration="4h", sample_interval="30min")
    assert out.exit_status == "success", out.reason
    assert out.start["simulated"] is True
    assert out.virtual_s > 4 * 3600
    figures = EXP.analyze(out.start, tables_from_documents(out.documents))
    model = _model_rate(recording_session, out, figures)
    assert figures["rate"] == pytest.approx(model, rel=0.05)
    assert figures["leak_suspect"] is False
    assert abs(figures["dark_rate"]) < 0.05 * figures["rate"]
    # every document is on disk, in order
    names = [n for n, _ in read_jsonl(out.jsonl)]
    assert names[0] == "start" and names[-1] == "stop"
    assert names.count("event") == sum(1 for n, _ in out.documents if n == "event")
    # and the catalog gives the same figures through the standard client
    with open_catalog(data_dir) as client:
        run = client[out.uid]
        assert run.metadata["stop"]["exit_status"] == "success"
        again = EXP.analyze(dict(run.metadata["start"]), tables_from_catalog(run))
    assert again["rate"] == pytest.approx(figures["rate"], rel=1e-9)


def test_gc_dropped_mid_run_switches_the_lamp_off_and_keeps_the_data(recording_session, data_dir):
    gc_sim = recording_session.bench.sim.gc_sim
    out = _run(recording_session, at=2.6 * 3600, fault=gc_sim.kill, duration="4h")
    on_loop(recording_session, lambda: gc_sim.kill(False))
    assert out.exit_status == "fail", (out.exit_status, out.reason)
    assert "gc at sim://gc-trigger did not respond" in out.reason
    assert not on_loop(recording_session, recording_session.bench.sim.lamp_sim.is_lit)
    measured = tables_from_documents(out.documents)["primary"]["gc-h2_loop_umol"]
    assert len(measured) >= 4
    on_disk = [d for n, d in read_jsonl(out.jsonl) if n == "event"]
    assert sum("gc-h2_loop_umol" in d["data"] for d in on_disk) == len(measured)
    with open_catalog(data_dir) as client:
        run = client[out.uid]
        assert run.metadata["stop"]["exit_status"] == "fail"
        assert len(run["primary"].read()["gc-h2_loop_umol"]) == len(measured)


def test_interlock_opening_trips_the_run_to_lamp_off(dry_session):
    lamp_sim = dry_session.bench.sim.lamp_sim
    out = _run(dry_session, at=1.5 * 3600, fault=lambda: lamp_sim.open_interlock(True), duration="4h")
    on_loop(dry_session, lambda: lamp_sim.open_interlock(False))
    assert out.exit_status == "abort"
    assert "interlock tripped" in out.reason and "interlock opened" in out.reason
    assert not on_loop(dry_session, lamp_sim.is_lit)


def test_lamp_failure_mid_run_aborts_with_the_reason(dry_session):
    lamp_sim = dry_session.bench.sim.lamp_sim
    out = _run(dry_session, at=1.6 * 3600, fault=lamp_sim.fail_lamp, duration="4h")
    assert out.exit_status == "abort"
    assert "supply fault" in out.reason or "went out" in out.reason


def test_ctrl_c_aborts_the_run_lamp_off_and_data_kept(recording_session):
    def press_ctrl_c():
        os.kill(os.getpid(), signal.SIGINT)

    out = _run(recording_session, at=1.7 * 3600, fault=press_ctrl_c, duration="4h")
    assert out.exit_status == "abort"
    assert "Ctrl-C" in out.reason
    assert not on_loop(recording_session, recording_session.bench.sim.lamp_sim.is_lit)
    assert sum(1 for n, d in read_jsonl(out.jsonl) if n == "event") > 2


def test_silent_lamp_fails_the_run_with_the_instrument_and_address(dry_session):
    lamp_sim = dry_session.bench.sim.lamp_sim
    lamp_sim.inject_silence(True)
    try:
        out = _run(dry_session, duration="2h")
    finally:
        lamp_sim.inject_silence(False)
    assert out.exit_status in ("fail", "abort", "not started")
    assert "lamp at sim://lamp did not respond" in out.reason


def test_garbage_from_the_lamp_is_a_clear_error(dry_session):
    lamp_sim = dry_session.bench.sim.lamp_sim
    out = _run(dry_session, at=0.2 * 3600, fault=lambda: lamp_sim.inject_garbage(True), duration="2h")
    lamp_sim.inject_garbage(False)
    assert out.exit_status in ("fail", "abort")
    assert "lamp" in out.reason


def test_air_leak_is_flagged(tmp_path):
    import dataclasses
    import math

    from labctl.config import load_bench
    from labctl.session import Session

    cfg = load_bench("sim")
    cfg = dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation, leak_rate_ml_per_h=0.05))
    with Session(data_dir=tmp_path, speed=math.inf, record=False) as s:
        s.open_bench(cfg)
        out = _run(s, duration="4h")
    figures = EXP.analyze(out.start, tables_from_documents(out.documents))
    assert figures["leak_suspect"] is True
    assert "N2" in figures["leak_message"] or "O2" in figures["leak_message"]
    assert np.isfinite(figures["rate"])
    json.dumps(figures)
