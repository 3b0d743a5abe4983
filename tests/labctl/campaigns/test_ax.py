"""blop's own Ax optimiser (the ``ax`` extra) plugs into the campaign loop unchanged."""

from __future__ import annotations

import pytest

from labctl.campaigns.loop import CampaignState, campaign
from labctl.campaigns.optimisers import make_optimiser
from labctl.campaigns.rehearsal import _campaign_on_response
from labctl.campaigns.spec import parse_campaign

pytest.importorskip("blop.ax.optimizer", reason="the ax extra: pip install 'labctl[ax]'")

CONSTRAINED = """
[campaign]
name = "ax-constrained"
experiment = "co2-cycloaddition"
strategy = "ax"
seed = 1

[objective]
figure = "ton"

[budget]
experiments = {n}

[parameters]
temperature = {{ min = "50 degC", max = "98 degC" }}
pressure = {{ min = "1 bar", max = "10 bar" }}

[fixed]
catalyst_mass = "1 mg"
hold = "{hold}"

[[outcome_constraints]]
figure = "conversion"
min = 0.2
"""


def test_blops_ax_optimiser_runs_an_outcome_constrained_campaign():
    from blop.ax.optimizer import AxOptimizer

    from labctl.bench import simulated_response

    spec = parse_campaign(CONSTRAINED.format(n=7, hold="12 h"), where="ax.toml")
    engine = make_optimiser(spec, seed=1)
    assert isinstance(engine, AxOptimizer)
    run = _campaign_on_response(spec, simulated_response("co2-cycloaddition"), "ax", 1, 7)
    assert len(run["true"]) == 7 and run["true"][-1] > 0
    # the constraint reached Ax as an outcome constraint on the conversion figure
    config = engine._client._experiment.optimization_config
    assert [list(c.metric_names) for c in config.outcome_constraints] == [["conversion"]]


def test_the_loop_drives_blops_ax_optimiser_on_the_simulated_bench(dry_session, tmp_path):
    spec = parse_campaign(CONSTRAINED.format(n=2, hold="1 h"), where="ax.toml")
    optimiser = make_optimiser(spec, seed=2)
    state = CampaignState.new(spec, bench="sim", folder=tmp_path)
    dry_session.run(campaign(dry_session.bench, spec, state, optimiser))
    assert [t.status for t in state.trials] == ["done", "done"]
    trials = optimiser._client._experiment.trials
    assert sorted(trials) == [0, 1], trials
    assert all(t.status.is_completed for t in trials.values()), [t.reason for t in state.trials]
    assert {t.id for t in state.trials} == {"0", "1"}  # Ax's own trial indices as the suggestion ids
