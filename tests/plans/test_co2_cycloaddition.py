"""Message order and argument checks of the cycloaddition plans, without hardware."""

from __future__ import annotations

import pytest
from bluesky.protocols import Reading
from bluesky.simulators import RunEngineSimulator

from labctl.plans.co2_cycloaddition import co2_cycloaddition, recycle
from labctl.plans.stubs import PlanArgumentError


@pytest.fixture
def parr_devices(dry_session):
    d = dry_session.bench.devices
    return d["parr"], d["operator"], d["nmr"], d["clock"]


def _args(**kw):
    args = dict(catalyst="Mn:(Cd0.5Zn0.5Se)13 SS", catalyst_mass_mg=4.5, surface_metal_umol=21.0, hold_s=3600)
    args.update(kw)
    return args


class _Done:
    done = True
    success = True


def _sim(parr_devices):
    """A RunEngineSimulator with a vessel that follows the valves and a clock that follows the sleeps."""
    reactor, _, _, clock = parr_devices
    state = {"t": 0.0, "p": 1.0}
    sim = RunEngineSimulator()

    def sleep(msg):
        state["t"] += float(msg.args[0])

    def valve(msg):
        if msg.args[0] is True:
            state["p"] = 3.0 if msg.obj is reactor.gas_inlet else 1.0

    def reading(name, key):
        return lambda msg: {name: Reading(value=state[key], timestamp=0.0)}

    sim.add_handler("sleep", sleep)
    sim.add_handler("set", valve, lambda m: m.obj in (reactor.gas_inlet, reactor.vent))
    sim.add_handler("set", lambda msg: _Done(), reactor.temperature.name)
    sim.add_handler("read", reading(clock.elapsed.name, "t"), clock.elapsed.name)
    sim.add_handler("read", reading(reactor.pressure.name, "p"), reactor.pressure.name)
    sim.add_read_handler_for(reactor.temperature.readback, 20.0)
    return sim


def test_heater_off_is_the_last_set(parr_devices):
    reactor = parr_devices[0]
    msgs = _sim(parr_devices).simulate_plan(co2_cycloaddition(*parr_devices, **_args()))
    sets = [m for m in msgs if m.command == "set"]
    assert sets[-1].obj is reactor.heater and sets[-1].args[0] is False
    names = [getattr(m.obj, "name", None) for m in sets]
    # the heater goes on only after the leak check and the stirrer
    assert names.index("parr-heater") > names.index("parr-stirrer")
    # after the heater goes on, the vent opens only once it is off again (never vent hot)
    heat_on = names.index("parr-heater")
    heat_off = next(i for i in range(heat_on + 1, len(sets)) if sets[i].obj is reactor.heater)
    vents = [i for i, m in enumerate(sets) if m.obj is reactor.vent and m.args[0] is True]
    assert vents and all(i < heat_on or i > heat_off for i in vents)
    assert any(m.command == "trigger" and getattr(m.obj, "name", "") == "nmr" for m in msgs)


def test_recycle_opens_one_run_per_cycle_with_a_shared_campaign(parr_devices):
    msgs = _sim(parr_devices).simulate_plan(recycle(*parr_devices, cycles=3, **_args()))
    opens = [m for m in msgs if m.command == "open_run"]
    assert len(opens) == 3
    assert len({m.kwargs["campaign_id"] for m in opens}) == 1
    assert [m.kwargs["cycle"] for m in opens] == [1, 2, 3]
    recovers = [m for m in msgs if m.command == "set" and getattr(m.args[0], "key", "") == "recover"]
    assert len(recovers) == 2


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"pressure_bar": 40}, r"pressure_bar=40 bar is outside the vessel limit 0-30 bar"),
        ({"temperature_c": 200}, r"temperature_c=200 °C is above the bench limit 150 °C"),
        ({"catalyst_mass_mg": 0}, r"catalyst_mass_mg=0 mg must be > 0"),
        ({"surface_metal_umol": -1}, r"surface_metal_umol=-1 umol must be > 0"),
        ({"hold_s": 0}, r"hold_s=0 s \(0 h\) must be > 0"),
        ({"co2_supply": "bubbling"}, r"co2_supply='bubbling' must be 'regulated'"),
        ({"ramp_c_per_min": 12}, r"ramp_c_per_min=12 °C/min is outside the bench limit 0-5 °C/min"),
        (
            {"catalyst": None},
            r"give the catalyst: catalyst='Mn:\(Cd0\.5Zn0\.5Se\)13 SS' \(a name\) or zn_fraction=0\.5",
        ),
        (
            {"zn_fraction": 0.3},
            r"catalyst='Mn:\(Cd0\.5Zn0\.5Se\)13 SS' and zn_fraction=0\.3 both name the catalyst; give one",
        ),
        (
            {"catalyst": None, "zn_fraction": 1.5},
            r"zn_fraction=1\.5 must be between 0 \(Mn:\(CdSe\)13 SS\) and 1 \(Mn:\(ZnSe\)13 SS\), "
            r"e\.g\. zn_fraction=0\.5",
        ),
        ({"catalyst": None, "zn_fraction": float("nan")}, r"zn_fraction=nan must be a finite number"),
        (
            {"catalyst": None, "zn_fraction": "half"},
            r"zn_fraction='half' must be a fraction like 0\.5 or a percentage like 50%, e\.g\. zn_fraction=0\.5",
        ),
    ],
)
def test_bad_arguments_are_refused_before_the_first_message(parr_devices, kw, match):
    with pytest.raises(PlanArgumentError, match=match):
        next(co2_cycloaddition(*parr_devices, **_args(**kw)))


class _TooManySleeps(RuntimeError):
    pass


def _loop_clock_sim(parr_devices, loop_time: float):
    """Like :func:`_sim`, but the bench clock is read the way the device reads it: a loop time minus
    an origin, both floats that grow with the sleeps (so a sleep shorter than the clock's
    resolution does not move it)."""
    sim = _sim(parr_devices)
    clock = parr_devices[3]
    state = {"loop": loop_time, "origin": loop_time, "sleeps": 0}

    def sleep(msg):
        state["loop"] += float(msg.args[0])
        state["sleeps"] += 1
        if state["sleeps"] > 10_000:
            raise _TooManySleeps(f"{state['sleeps']} sleeps: the plan does not let the bench clock advance")

    def set_clock(msg):
        state["origin"] = state["loop"] - float(msg.args[0])
        return _Done()

    def elapsed(msg):
        return {clock.elapsed.name: Reading(value=state["loop"] - state["origin"], timestamp=0.0)}

    sim.add_handler("sleep", sleep)
    sim.add_handler("set", set_clock, clock.name)
    sim.add_handler("read", elapsed, clock.elapsed.name)
    return sim, state


# Loop times at which the hold's last sleep, the hold's remainder, was shorter than the clock's
# resolution at that loop time: the old hold loop then read the same elapsed time for ever.
@pytest.mark.parametrize("loop_time", [11_185.1, 12_791.1, 29_001.2, 61_617.9])
def test_the_hold_ends_on_a_clock_of_any_resolution(parr_devices, loop_time):
    sim, state = _loop_clock_sim(parr_devices, loop_time)
    msgs = sim.simulate_plan(co2_cycloaddition(*parr_devices, **_args(hold_s=7200, trace_interval_s=60)))
    opens = [m for m in msgs if m.command == "open_run"]
    assert len(opens) == 1
    assert state["sleeps"] < 1000
    # the hold records every minute: its start, 120 samples at 0, 60, ... 7140 s, then its end
    names = [m.kwargs.get("name") for m in msgs if m.command == "create"]
    hold = names[names.index("hold_start") + 1 : names.index("hold_end")]
    assert hold == ["primary"] * 120


# the CO2 charge heated at constant volume plus PO's vapour pressure: 20 bar at 120 °C gives 37.3 bar
HOT_REFUSAL = (
    "pressure_bar=20 bar charged at 20 °C and heated to temperature_c=120 °C gives about 37.3 bar in parr "
    "(the CO2 at constant volume 26.8 bar + propylene oxide vapour 10.4 bar), above the vessel limit 30 bar; "
    "lower pressure_bar to at most 14.5 bar at 120 °C or lower temperature_c to at most 89 °C at 20 bar"
)


def test_a_charge_over_the_vessel_limit_at_temperature_is_refused_before_the_first_message(parr_devices):
    plan = co2_cycloaddition(*parr_devices, **_args(pressure_bar=20, temperature_c=120))
    with pytest.raises(PlanArgumentError) as refused:
        next(plan)
    assert str(refused.value) == HOT_REFUSAL
    # the same charge is fine cooler, and the fixes it names are allowed
    for fix in ({"pressure_bar": 20, "temperature_c": 89}, {"pressure_bar": 14.5, "temperature_c": 120}):
        assert next(co2_cycloaddition(*parr_devices, **_args(**fix))).command == "open_run"
    # unit strings are converted first; a charge at the vessel limit has no temperature fix
    with pytest.raises(PlanArgumentError, match=r"pressure_bar=29\.5 bar .* lower pressure_bar to at most \d"):
        next(co2_cycloaddition(*parr_devices, **_args(pressure_bar="29.5 bar", temperature_c="50 degC")))


def test_the_zn_fraction_names_the_catalyst_and_is_recorded(parr_devices):
    msgs = _sim(parr_devices).simulate_plan(
        co2_cycloaddition(*parr_devices, **_args(catalyst=None, zn_fraction="30%", hold_s="1 h"))
    )
    start = next(m for m in msgs if m.command == "open_run").kwargs
    assert start["zn_fraction"] == pytest.approx(0.3)
    assert start["catalyst"] == "Mn:(Cd0.7Zn0.3Se)13 SS"
    assert start["plan_args"]["zn_fraction"] == pytest.approx(0.3) and start["plan_args"]["catalyst"] is None
    assert start["pressure_bar"] == 3.0 and start["temperature_c"] == 70.0 and start["hold_s"] == 3600
    assert start["expected_pressure_bar"] == pytest.approx(3 * 343.15 / 293.15 + 3.16, abs=0.01)
    load = next(m for m in msgs if m.command == "set" and getattr(m.args[0], "key", "") == "load_sample:parr")
    assert load.args[0].sample["zn_fraction"] == pytest.approx(0.3)
    assert load.args[0].sample["catalyst"] == "Mn:(Cd0.7Zn0.3Se)13 SS"
    # a named catalyst records no Zn fraction
    named = _sim(parr_devices).simulate_plan(co2_cycloaddition(*parr_devices, **_args()))
    start = next(m for m in named if m.command == "open_run").kwargs
    assert start["zn_fraction"] is None and start["catalyst"] == "Mn:(Cd0.5Zn0.5Se)13 SS"


@pytest.mark.parametrize(
    ("x", "name"), [(0, "Mn:(CdSe)13 SS"), (1, "Mn:(ZnSe)13 SS"), (0.25, "Mn:(Cd0.75Zn0.25Se)13 SS")]
)
def test_zn_catalyst_names_are_the_simulators_presets(x, name):
    from labctl.plans.co2_cycloaddition import zn_catalyst_name

    assert zn_catalyst_name(x) == name
