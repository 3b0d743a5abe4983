"""Campaign files: what is read, and every refusal with the entry, the value, the limit and the fix."""

from __future__ import annotations

import pytest

from labctl.campaigns.spec import CampaignError, check_against_bench, parse_campaign

GOOD = """
[campaign]
name = "h2-optimise"
experiment = "h2-evolution"
seed = 3

[objective]
figure = "rate"
target = "3000 umol/g/h"

[budget]
experiments = 12
bench_hours = "60 h"

[stop]
no_improvement = 5

[parameters]
catalyst_mass = { min = "2 mg", max = "40 mg", scale = "log" }
lamp_power = { min = "50 W", max = "300 W" }

[fixed]
duration = "2 h"
"""


def _with(**sections: str) -> str:
    """GOOD with whole sections replaced (key: section name, value: its body)."""
    text = GOOD
    for name, body in sections.items():
        start = text.index(f"[{name}]")
        end = text.find("\n[", start + 1)
        text = text[:start] + f"[{name}]\n{body}\n" + (text[end + 1 :] if end != -1 else "")
    return text


def test_a_campaign_file_is_read_in_the_plans_units():
    spec = parse_campaign(GOOD, where="h2.toml")
    assert spec.name == "h2-optimise" and spec.experiment.name == "h2-evolution"
    mass, power = spec.dimensions
    assert (mass.arg, mass.scale) == ("catalyst_mass_g", "log")
    assert (mass.low, mass.high) == (pytest.approx(0.002), pytest.approx(0.04))
    assert (power.low, power.high) == (50.0, 300.0)
    assert spec.objective.target == pytest.approx(3000.0)
    assert spec.bench_hours == pytest.approx(60.0) and spec.max_experiments == 12 and spec.no_improvement == 5
    kwargs = spec.plan_kwargs({"catalyst_mass": 0.01, "lamp_power": 100.0})
    # the fixed duration in s, every other parameter at its default, the searched ones from the point
    assert kwargs["duration_s"] == 7200.0 and kwargs["sample_interval_s"] == 1800.0
    assert kwargs["catalyst_mass_g"] == 0.01 and kwargs["lamp_power_w"] == 100.0
    assert mass.hands and not power.hands  # a new mass is a new sample; the lamp is set by the bench


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace('experiment = "h2-evolution"', 'experiment = "h3-evolution"'),
            "h2.toml: [campaign] experiment: no experiment named 'h3-evolution'; known: h2-evolution",
        ),
        (
            GOOD.replace("lamp_power = {", "lamp_watts = {"),
            "h2.toml: [parameters] lamp_watts: the experiment has no parameter 'lamp_watts'; its parameters are "
            "catalyst_mass, co_doping, donor, ph, lamp_power",
        ),
        (
            GOOD.replace('max = "300 W"', 'max = "300 bar"'),
            "h2.toml: [parameters] lamp_power max: lamp_power='300 bar' is in bar, which cannot be converted to W",
        ),
        (
            GOOD.replace('max = "300 W"', "max = 300"),
            'h2.toml: [parameters] lamp_power max = 300 has no unit; give it with its unit, e.g. "300W"',
        ),
        (
            GOOD.replace('figure = "rate"', 'figure = "yield"'),
            "h2.toml: [objective] figure = 'yield': h2-evolution reports no such figure; use one of rate, aqy",
        ),
        (
            GOOD.replace('min = "50 W"', 'min = "300 W"'),
            "h2.toml: [parameters] lamp_power: the range 300 W to 300 W is empty; give min < max",
        ),
        (
            GOOD.replace('min = "50 W"', 'min = "400 W"'),
            "h2.toml: [parameters] lamp_power: the range 400 W to 300 W is inverted; give min < max",
        ),
        (
            GOOD.replace("experiments = 12", "experiments = 0"),
            "h2.toml: [budget] experiments = 0: give a whole number of experiments from 1 to 10000",
        ),
        (
            GOOD.replace('bench_hours = "60 h"', 'bench_hours = "0 h"'),
            "h2.toml: [budget] bench_hours = '0 h': give a time > 0",
        ),
        (
            GOOD.replace('target = "3000 umol/g/h"', 'target = "3000 W"'),
            "h2.toml: [objective] target='3000 W' is in W, which cannot be converted to umol/g/h",
        ),
        (GOOD.replace("[fixed]", "[fixd]"), "h2.toml: unknown section(s) fixd"),
        (
            GOOD.replace('duration = "2 h"', 'duration = "2 h"\nlamp_power = "100 W"'),
            "h2.toml: lamp_power is both searched ([parameters]) and fixed ([fixed]); keep one",
        ),
        (
            GOOD.replace('scale = "log"', 'scale = "log10"'),
            'h2.toml: [parameters] catalyst_mass: scale = \'log10\': use "linear" or "log"',
        ),
        (
            GOOD.replace('max = "40 mg"', 'max = "40 kg"'),
            "h2.toml: [parameters] catalyst_mass max: catalyst_mass='40 kg' is outside",
        ),
    ],
)
def test_bad_campaign_files_are_refused_naming_the_entry_value_and_fix(text, message):
    with pytest.raises(CampaignError) as err:
        parse_campaign(text, where="h2.toml")
    assert str(err.value).startswith(message), str(err.value)


def test_a_categorical_value_the_experiment_does_not_take_is_refused():
    text = """
[campaign]
experiment = "co2-cycloaddition"
[objective]
figure = "ton"
[budget]
experiments = 5
[parameters]
co2_supply = { choices = ["regulated", "bubbled"] }
"""
    match = r"^c.toml: \[parameters\] co2_supply choice: co2_supply='bubbled' is not one of: "
    with pytest.raises(CampaignError, match=match):
        parse_campaign(text, where="c.toml")


def test_bounds_past_the_bench_limit_are_refused_with_the_limit(dry_session):
    spec = parse_campaign(GOOD.replace('max = "300 W"', 'max = "800 W"'), where="h2.toml")
    with pytest.raises(CampaignError) as err:
        check_against_bench(spec, dry_session.bench)
    assert str(err.value) == (
        "campaign h2-optimise: [parameters] lamp_power max = 800 W: the bench refuses it: lamp_power=800 W is "
        "outside the bench limit 0-500 W for lamp; lower lamp_power or raise max_power in the bench file"
    )
    assert check_against_bench(parse_campaign(GOOD), dry_session.bench)  # within the limits: the checks passed


def test_a_linear_constraint_is_checked_on_points():
    text = """
[campaign]
experiment = "co2-cycloaddition"
[objective]
figure = "ton"
[budget]
experiments = 5
[parameters]
epoxide_volume = { min = "1 mL", max = "5 mL" }
[[constraints]]
sum = ["epoxide_volume", "epoxide_volume"]
max = "6 mL"
"""
    spec = parse_campaign(text, where="c.toml")
    assert spec.broken_constraints({"epoxide_volume": 2.9}) == []
    assert spec.broken_constraints({"epoxide_volume": 3.1}) == ["sum(epoxide_volume, epoxide_volume) <= 6 mL"]
