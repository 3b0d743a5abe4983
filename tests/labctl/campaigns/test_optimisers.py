"""The engines: blop's protocols, batches, failures, constraints, and GP-ARD against random search."""

from __future__ import annotations

import math

import numpy as np
import pytest
from blop.protocols import (
    CanRegisterSuggestions,
    Checkpointable,
    Optimizer,
    SupportsStoppingCriteria,
    TrialFaultAware,
)

from labctl.campaigns.optimisers import ENGINES, GpArd, make_optimiser
from labctl.campaigns.spec import CampaignError, parse_campaign

SPACE = """
[campaign]
experiment = "co2-cycloaddition"
[objective]
figure = "ton"
{target}
[budget]
experiments = 40
{stop}
[parameters]
temperature = {{ min = "40 degC", max = "120 degC" }}
pressure = {{ min = "1 bar", max = "10 bar" }}
tbab = {{ min = "10 mg", max = "300 mg", scale = "log" }}
{extra}
"""


def _spec(target: str = "", stop: str = "", extra: str = "") -> object:
    return parse_campaign(SPACE.format(target=target, stop=stop, extra=extra), where="c.toml")


def _bowl(p: dict) -> float:
    """A smooth optimum inside the box, nowhere near its centre: 100 at (93 °C, 7.7 bar, 41 mg)."""
    return 100.0 * math.exp(
        -(((p["temperature"] - 93.0) / 25.0) ** 2)
        - ((p["pressure"] - 7.7) / 4.0) ** 2
        - ((math.log(p["tbab"]) - math.log(41.0)) / 1.2) ** 2
    )


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_every_engine_speaks_blops_protocols(name):
    engine = make_optimiser(_spec(), strategy=name, seed=1)
    for protocol in (Optimizer, TrialFaultAware, CanRegisterSuggestions, Checkpointable, SupportsStoppingCriteria):
        assert isinstance(engine, protocol), protocol.__name__
    points = engine.suggest(3)
    assert len(points) == 3 and len({p["_id"] for p in points}) == 3
    for p in points:
        assert 40.0 <= p["temperature"] <= 120.0 and 1.0 <= p["pressure"] <= 10.0 and 10.0 <= p["tbab"] <= 300.0
    engine.ingest([{"_id": p["_id"], "ton": _bowl(p)} for p in points])
    best_id, best_params, best_out = engine.get_best_points()[0]
    assert best_out["ton"] == max(_bowl(p) for p in points)
    assert best_params == {k: v for k, v in points[[p["_id"] for p in points].index(best_id)].items() if k != "_id"}


def _run(engine, n, f=_bowl):
    for _ in range(n):
        (p,) = engine.suggest(1)
        engine.ingest([{"_id": p["_id"], "ton": f(p)}])
    return [f(params) for _, params, _ in engine.results]


def _first_within(values, fraction=0.95, optimum=100.0):
    return next((i + 1 for i, v in enumerate(values) if v >= fraction * optimum), math.inf)


def test_gp_ard_reaches_the_optimum_in_fewer_experiments_than_random():
    spec = _spec()
    gp = [_first_within(_run(make_optimiser(spec, strategy="gp-ard", seed=s), 30)) for s in range(3)]
    rnd = [_first_within(_run(make_optimiser(spec, strategy="random", seed=s), 150)) for s in range(3)]
    assert max(gp) <= 30, gp
    assert np.median(rnd) >= 3 * np.median(gp), (gp, rnd)


def test_the_fitted_length_scales_tell_which_parameter_matters():
    spec = _spec()
    engine = make_optimiser(spec, strategy="gp-ard", seed=2)

    def only_temperature(p):  # tbab and pressure do nothing
        return 100.0 * math.exp(-(((p["temperature"] - 93.0) / 20.0) ** 2))

    _run(engine, 18, only_temperature)
    scales = engine.length_scales()
    assert scales["temperature"] < 0.5 * min(scales["pressure"], scales["tbab"]), scales


def test_a_batch_from_the_constant_liar_spreads_out():
    engine = make_optimiser(_spec(), strategy="gp-ard", seed=4)
    _run(engine, 5)
    batch = engine.suggest(4)
    xs = np.array([[p["temperature"] / 80, p["pressure"] / 9, math.log(p["tbab"])] for p in batch])
    gaps = [np.linalg.norm(xs[i] - xs[j]) for i in range(4) for j in range(i)]
    assert min(gaps) > 0.05, batch
    assert all(engine.last_prediction[p["_id"]][1] > 0 for p in batch)  # a prediction with its uncertainty


def test_a_refused_point_is_scored_as_the_worst_result_so_the_model_avoids_it():
    engine = make_optimiser(_spec(), strategy="gp-ard", seed=5)
    ok = engine.suggest(2)
    engine.ingest([{"_id": p["_id"], "ton": v} for p, v in zip(ok, (10.0, 50.0), strict=True)])
    (bad,) = engine.suggest(1)
    engine.register_failures([bad])
    scored = engine.scored()
    assert [s for p, s in scored if p == {k: v for k, v in bad.items() if k != "_id"}] == [10.0]
    assert [b[2]["ton"] for b in engine.get_best_points()] == [50.0]  # a failure is never a best point


@pytest.mark.parametrize("name", ["gp-ard", "random", "sobol"])
def test_parameter_constraints_hold_for_every_suggestion(name):
    spec = parse_campaign(
        """
[campaign]
experiment = "co2-cycloaddition"
[objective]
figure = "ton"
[budget]
experiments = 20
[parameters]
epoxide_volume = { min = "1 mL", max = "10 mL" }
catalyst_mass = { min = "1 mg", max = "10 mg" }
[[constraints]]
sum = ["epoxide_volume", "epoxide_volume"]
max = "8 mL"
""",
        where="c.toml",
    )
    engine = make_optimiser(spec, strategy=name, seed=6)
    for _ in range(8):
        (p,) = engine.suggest(1)
        assert 2 * p["epoxide_volume"] <= 8.0 + 1e-9, p
        engine.ingest([{"_id": p["_id"], "ton": p["epoxide_volume"] * 10}])


def test_stopping_rules_target_and_no_improvement():
    engine = make_optimiser(_spec(target="target = 60", stop="[stop]\nno_improvement = 3"), strategy="random", seed=7)
    (a,) = engine.suggest(1)
    engine.ingest([{"_id": a["_id"], "ton": 50.0}])
    assert engine.should_stop() == (False, None)
    for v in (10.0, 20.0, 30.0):
        (p,) = engine.suggest(1)
        engine.ingest([{"_id": p["_id"], "ton": v}])
    assert engine.should_stop() == (True, "no improvement in the last 3 experiments")
    (b,) = engine.suggest(1)
    engine.ingest([{"_id": b["_id"], "ton": 61.0}])
    assert engine.should_stop() == (True, "target reached: ton = 61")


def test_sobol_and_random_continue_their_streams_after_a_restart():
    spec = _spec()
    for name in ("sobol", "random"):
        first = make_optimiser(spec, strategy=name, seed=8)
        a = [first.suggest(1)[0] for _ in range(4)]
        again = make_optimiser(spec, strategy=name, seed=8)
        again.draws = 2
        b = [again.suggest(1)[0] for _ in range(2)]
        strip = [{k: v for k, v in p.items() if k != "_id"} for p in a[2:]]
        assert [{k: v for k, v in p.items() if k != "_id"} for p in b] == strip


def test_with_100_results_the_gp_proposes_near_the_optimum():
    engine = GpArd(_spec(), seed=9)
    rng = np.random.default_rng(0)
    for i in range(100):
        p = engine.space.point(rng.random(3))
        engine.suggested[str(i)] = p
        engine.results.append((str(i), p, {"ton": _bowl(p)}))
    (p,) = engine.suggest(1)
    assert _bowl(p) > 80.0


def test_ax_needs_its_extra_or_says_how_to_install_it(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ax(name, *args, **kwargs):
        if name.startswith("ax") or name.startswith("blop.ax"):
            raise ImportError(name=name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ax)
    with pytest.raises(CampaignError, match=r"strategy 'ax' needs blop's Ax backend.*pip install 'labctl\[ax\]'"):
        make_optimiser(_spec(), strategy="ax")
