"""GC calibration workflow end to end on the simulated GC: fit, refuse, keep, use, flag."""

from __future__ import annotations

import json

import pytest

from labctl.experiments import get_experiment, tables_from_documents
from labctl.plans.stubs import PlanArgumentError

CALIBRATION = get_experiment("gc-calibration")
H2 = get_experiment("h2-evolution")


def _run(session, exp, params):
    kw = exp.resolve(params)
    exp.check(session.bench, kw)
    session.bench.load_sample(**kw)
    return session.run(exp.build(session.bench, kw), md=session.bench.metadata())


def test_a_calibration_is_fitted_saved_and_used_by_the_next_run(dry_session):
    processor = dry_session.bench.processor
    before = processor.calibrations["H2"]
    out = _run(dry_session, CALIBRATION, {"gas": "H2", "amounts": "0.5,1,2,5,10umol"})
    assert out.exit_status == "success", out.reason
    fig = CALIBRATION.analyze(out.start, tables_from_documents(out.documents))
    cal = fig["calibrations"]["H2"]
    assert cal["r_squared"] > 0.999 and cal["amount_range_umol"] == [0.5, 10.0]
    assert len(cal["residuals"]) == 5 and cal["method"] == "MS5A-Ar"
    # the simulated GC's own response: the fitted slope matches the auto-calibration's within 3 %
    assert cal["slope"] == pytest.approx(before.slope, rel=0.03)
    now = processor.calibrations["H2"]
    assert now is not before and now.amount_max_umol == 10.0
    saved = json.loads((processor.folder / "H2.json").read_text())
    assert saved["created"] == cal["created"] and saved["amount_min_umol"] == 0.5
    assert list((processor.folder / "history").glob("H2-*.json"))
    # the next run records the calibration it used
    assert dry_session.bench.metadata()["gc_calibrations"]["H2"]["created"] == cal["created"]


def test_fewer_than_three_standards_are_refused_before_anything_is_injected(dry_session):
    kw = CALIBRATION.resolve({"gas": "H2", "amounts": "1,5umol"})
    with pytest.raises(PlanArgumentError, match=r"2 distinct standard\(s\); a calibration needs at least 3"):
        CALIBRATION.check(dry_session.bench, kw)
    assert dry_session.bench.sim.gc_sim.completed == []


def test_a_poor_fit_is_refused_with_the_fit_shown_and_the_injections_kept(dry_session):
    gc_sim = dry_session.bench.sim.gc_sim
    processor = dry_session.bench.processor
    before = processor.calibrations["H2"]
    load = gc_sim.load_standard

    def misfilled(gas, umol):  # the 2 µmol standard was filled with the 5 µmol syringe
        load(gas, 5.0 if umol == 2.0 else umol)

    gc_sim.load_standard = misfilled
    try:
        out = _run(dry_session, CALIBRATION, {"gas": "H2", "amounts": "0.5,1,2,5,10umol"})
    finally:
        gc_sim.load_standard = load
    assert out.exit_status == "fail"
    assert "R^2 =" in out.reason and "below the limit 0.995" in out.reason
    assert "area = " in out.reason and "residuals" in out.reason  # the fit is shown
    assert len(tables_from_documents(out.documents)["primary"]["gc-h2_area"]) == 5  # nothing measured is lost
    assert processor.calibrations["H2"] is before  # the old line stays in force


def test_amounts_outside_the_calibrated_range_are_flagged(dry_session):
    out = _run(dry_session, CALIBRATION, {"gas": "H2", "amounts": "5,10,20umol"})
    assert out.exit_status == "success", out.reason
    run = _run(dry_session, H2, {"duration": "2h", "sample_interval": "30min", "catalyst_mass": "2mg"})
    assert run.exit_status == "success", run.reason
    primary = tables_from_documents(run.documents)["primary"]
    assert not all(primary["gc-h2_in_range"])
    fig = H2.analyze(run.start, tables_from_documents(run.documents))
    assert any("outside the GC calibration's range" in n for n in fig["notes"])
    assert run.start["gc_calibrations"]["H2"]["amount_min_umol"] == 5.0
