"""Bench files: units converted once, clear errors for what is missing or wrong."""

from __future__ import annotations

import pytest

from labctl.config import BenchError, load_bench

GOOD = """
[bench]
name = "photoreactor-1"
[lamp]
driver = "oriel-69907"
address = "/dev/ttyUSB0"
max_power = "0.4 kW"
[gc]
trigger_address = "/dev/ttyACM0"
export_dir = "export"
run_time = "6 min"
[reactor]
headspace_volume = "25 mL"
temperature = "30 degC"
"""


def test_packaged_sim_bench_is_simulated_and_in_process():
    cfg = load_bench("sim")
    assert cfg.simulated and cfg.in_process
    assert cfg.lamp.max_power_w == 500 and cfg.lamp.max_current_a == 25


def test_units_are_converted_once(tmp_path):
    path = tmp_path / "bench.toml"
    path.write_text(GOOD)
    cfg = load_bench(str(path))
    assert cfg.name == "photoreactor-1" and not cfg.simulated and not cfg.in_process
    assert cfg.lamp.max_power_w == pytest.approx(400)
    assert cfg.gc.run_time_s == pytest.approx(360)
    assert cfg.reactor.temperature_k == pytest.approx(303.15)
    assert cfg.reactor.pressure_pa == pytest.approx(101325)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (('max_power = "0.4 kW"', 'max_power = "400"'), r"\[lamp\] max_power='400' has no unit"),
        (('max_power = "0.4 kW"', 'max_power = "4 bar"'), r"cannot be converted to W"),
        (('headspace_volume = "25 mL"\n', ""), r"\[reactor\] needs 'headspace_volume'"),
        (('driver = "oriel-69907"', 'driver = "acme-9000"'), r"driver='acme-9000' is not known"),
        (("[gc]", "[gcx]"), r"missing \[gc\] section"),
        (("name =", "name ="), None),
    ],
)
def test_bad_bench_files_say_what_to_fix(tmp_path, edit, match):
    path = tmp_path / "bench.toml"
    path.write_text(GOOD.replace(*edit))
    if match is None:
        load_bench(str(path))
        return
    with pytest.raises(BenchError, match=match):
        load_bench(str(path))


def test_missing_bench_file_and_unknown_name():
    with pytest.raises(BenchError, match="does not exist"):
        load_bench("nowhere.toml")
    with pytest.raises(BenchError, match="no bench named 'nowhere'; packaged benches: sim"):
        load_bench("nowhere")


# -- every bench value is finite, plausible and within the instrument's own rating --------------------
def _load(tmp_path, text):
    path = tmp_path / "bench.toml"
    path.write_text(text, encoding="utf-8")
    return load_bench(str(path))


PARR = """
[parr]
address = "sim"
max_temperature = "150 degC"
max_pressure = "30 bar"
"""

LED = GOOD.replace('driver = "oriel-69907"', 'driver = "thorlabs-dc2200"').replace(
    'max_power = "0.4 kW"', 'wavelength = "420 nm"\nmax_current = "1 A"\ncalibration = [["0.5 A", "400 mW"]]'
)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (('max_power = "0.4 kW"', 'max_power = "-400 W"'), r"\[lamp\] max_power='-400 W' must be > 0"),
        (('max_power = "0.4 kW"', 'max_power = "nan W"'), r"\[lamp\] max_power='nan W' must be finite"),
        (('max_power = "0.4 kW"', 'max_power = "inf W"'), r"\[lamp\] max_power='inf W' must be finite"),
        (('max_power = "0.4 kW"', 'max_power = "0 W"'), r"\[lamp\] max_power='0 W' must be > 0"),
        (
            ('max_power = "0.4 kW"', 'max_power = "5000 W"'),
            r"\[lamp\] max_power='5000 W' is above 1000 W, the rating of the Oriel 69907 supply; give max_power at "
            r"most 1000 W",
        ),
        (
            ('driver = "oriel-69907"', 'driver = "oriel-69920"'),
            None,
        ),
        (
            ('max_power = "0.4 kW"', 'max_power = "0.4 kW"\nmax_current = "150 A"'),
            r"\[lamp\] max_current='150 A' is above 99.9 A, the most an Oriel supply takes",
        ),
        (
            ('max_power = "0.4 kW"', 'max_power = "0.4 kW"\nmax_current = "-1 A"'),
            r"\[lamp\] max_current='-1 A' must be > 0",
        ),
        (('run_time = "6 min"', 'run_time = "-6 min"'), r"\[gc\] run_time='-6 min' is outside the plausible range"),
        (('run_time = "6 min"', 'run_time = "inf min"'), r"\[gc\] run_time='inf min' must be finite"),
        (('run_time = "6 min"', 'run_time = "2**60 min"'), r"\[gc\] run_time='2\*\*60 min' is not a quantity"),
        (
            ('headspace_volume = "25 mL"', 'headspace_volume = "-25 mL"'),
            r"\[reactor\] headspace_volume='-25 mL' is outside the plausible range 0.1 mL to 10 L",
        ),
        (('temperature = "30 degC"', 'temperature = "nan degC"'), r"\[reactor\] temperature='nan degC' must be finite"),
        (
            ('temperature = "30 degC"', 'temperature = "30 degC"\nmax_temperature = "-300 degC"'),
            r"\[reactor\] max_temperature='-300 degC' is outside the plausible range",
        ),
    ],
)
def test_bench_quantities_are_finite_positive_and_within_the_instrument(tmp_path, edit, match):
    text = GOOD.replace(*edit)
    if match is None:
        assert _load(tmp_path, text).lamp.max_power_w == 400
        return
    with pytest.raises(BenchError, match=match):
        _load(tmp_path, text)


def test_an_oriel_69920_takes_up_to_1600_w(tmp_path):
    text = GOOD.replace('driver = "oriel-69907"', 'driver = "oriel-69920"').replace("0.4 kW", "1600 W")
    assert _load(tmp_path, text).lamp.max_power_w == 1600
    with pytest.raises(BenchError, match=r"is above 1600 W, the rating of the Oriel 69920 supply"):
        _load(tmp_path, text.replace("1600 W", "1700 W"))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (('max_current = "1 A"', 'max_current = "25 A"'), r"\[lamp\] max_current='25 A' is above 10 A, the most the "),
        (('max_current = "1 A"', 'max_current = "0 A"'), r"\[lamp\] max_current='0 A' must be > 0"),
        (
            ('wavelength = "420 nm"', 'wavelength = "42 nm"'),
            r"\[lamp\] wavelength='42 nm' is outside the plausible range",
        ),
        (('["0.5 A", "400 mW"]', '["0.5 A", "-400 mW"]'), r"\[lamp\] calibration='-400 mW' is outside the plausible"),
        (('["0.5 A", "400 mW"]', '["5 A", "400 mW"]'), r"\[lamp\] calibration current 5 A is above max_current 1 A"),
    ],
)
def test_led_bench_values_are_within_the_driver(tmp_path, edit, match):
    assert _load(tmp_path, LED).lamp.max_current_a == 1
    with pytest.raises(BenchError, match=match):
        _load(tmp_path, LED.replace(*edit))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (('max_pressure = "30 bar"', 'max_pressure = "-30 bar"'), r"\[parr\] max_pressure='-30 bar' must be > 0"),
        (('max_pressure = "30 bar"', 'max_pressure = "nan bar"'), r"\[parr\] max_pressure='nan bar' must be finite"),
        (
            ('max_pressure = "30 bar"', 'max_pressure = "500 bar"'),
            r"\[parr\] max_pressure='500 bar' is above 200 bar, the vessel rating .*; "
            r"give max_pressure at most 200 bar",
        ),
        (
            ('max_temperature = "150 degC"', 'max_temperature = "400 degC"'),
            r"\[parr\] max_temperature='400 degC' is above 250 degC, the vessel rating",
        ),
        (
            ('max_temperature = "150 degC"', 'max_temperature = "30 degC"'),
            r"\[parr\] max_temperature 30 degC must be above safe_vent_temperature 35 degC",
        ),
        (
            ('max_pressure = "30 bar"', 'max_pressure = "30 bar"\nmax_heating_rate = "500 delta_degC/min"'),
            r"\[parr\] max_heating_rate='500 delta_degC/min' is outside the plausible range",
        ),
        (
            ('max_pressure = "30 bar"', 'max_pressure = "30 bar"\ndevice_id = 300'),
            r"\[parr\] device_id=300 is outside 1-247",
        ),
        (
            ('max_pressure = "30 bar"', 'max_pressure = "30 bar"\nautomated_valves = "false"'),
            r"\[parr\] automated_valves='false' must be true or false \(no quotes\)",
        ),
    ],
)
def test_parr_limits_are_within_the_vessel_rating(tmp_path, edit, match):
    assert _load(tmp_path, GOOD + PARR).parr.max_pressure_bar == 30
    with pytest.raises(BenchError, match=match):
        _load(tmp_path, (GOOD + PARR).replace(*edit))


def test_packaged_benches_pass_every_check():
    from labctl.config import packaged_benches

    for name in packaged_benches():
        load_bench(name)


# -- gases ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("gases", "match"),
    [
        ('"H2"', r"\[gc\] gases='H2' must be a list of gas names; write gases = \[\"H2\"\]"),
        ('["H2", "Xe"]', r"\[gc\] gases: 'Xe' is not a gas this GC method reports; known: H2, O2, N2, CH4, CO"),
        ('["H2", "H2"]', r"\[gc\] gases: 'H2' is listed twice"),
        ('["../../etc"]', r"'\.\./\.\./etc' is not a gas this GC method reports"),
        ("[]", r"\[gc\] gases is empty"),
        ("[2]", r"\[gc\] gases: 2 is not a gas name"),
    ],
)
def test_gases_are_a_list_of_known_names(tmp_path, gases, match):
    with pytest.raises(BenchError, match=match):
        _load(tmp_path, GOOD.replace('run_time = "6 min"', f'run_time = "6 min"\ngases = {gases}'))


def test_a_list_of_known_gases_loads(tmp_path):
    cfg = _load(tmp_path, GOOD.replace('run_time = "6 min"', 'run_time = "6 min"\ngases = ["H2", "CO"]'))
    assert cfg.gc.gases == ("H2", "CO")


def test_the_known_gases_are_those_the_gc_method_integrates():
    from labctl.analysis.chromatography import DEFAULT_WINDOWS
    from labctl.config import KNOWN_GASES

    assert tuple(w.gas for w in DEFAULT_WINDOWS) == KNOWN_GASES


# -- names that become folders under the data folder ------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["../../..", "..", ".hidden", "a/b", "a\\\\b", "", "x" * 65, "photo reactor", "/abs", "C:", "nul\\u0000"],
)
def test_unsafe_bench_names_are_refused(tmp_path, name):
    with pytest.raises(BenchError, match=r"\[bench\] name=.* is not a safe bench name: use letters, digits, "):
        _load(tmp_path, GOOD.replace('name = "photoreactor-1"', f'name = "{name}"'))


@pytest.mark.parametrize("name", ["photoreactor-1", "sim", "sim-led", "bench_2.v3", "x" * 64])
def test_safe_bench_names_load(tmp_path, name):
    assert _load(tmp_path, GOOD.replace('name = "photoreactor-1"', f'name = "{name}"')).name == name


def test_a_bench_file_whose_name_is_not_a_safe_name_needs_a_name_in_the_file(tmp_path):
    path = tmp_path / "my bench.toml"
    path.write_text(GOOD.replace('name = "photoreactor-1"\n', ""), encoding="utf-8")
    with pytest.raises(BenchError, match=r"give the bench a name in the file, e.g. \[bench\] name = \"my-bench\""):
        load_bench(str(path))


# -- unknown and misspelt names --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (('max_power = "0.4 kW"', 'max_powr = "0.4 kW"'), r"\[lamp\] has no key 'max_powr'; its keys are: "),
        (('run_time = "6 min"', 'run_time = "6 min"\nruntime = "7 min"'), r"\[gc\] has no key 'runtime'"),
        (("[reactor]", "[reactor]\nmax_temp = '50 degC'"), r"\[reactor\] has no key 'max_temp'"),
        (("[bench]", "[lamps]\n[bench]"), r"unknown section \[lamps\]; the sections are: bench, lamp, gc"),
    ],
)
def test_unknown_keys_and_sections_are_refused(tmp_path, edit, match):
    with pytest.raises(BenchError, match=match):
        _load(tmp_path, GOOD.replace(*edit))


def test_a_key_given_twice_is_refused(tmp_path):
    with pytest.raises(BenchError, match=r"not valid TOML: .*(Cannot overwrite|already)"):
        _load(tmp_path, GOOD.replace('run_time = "6 min"', 'run_time = "6 min"\nrun_time = "7 min"'))


# -- the synthesis flask: pump, hotplate and in-situ absorbance --------------------------------------
FLASK = """
[pump]
address = "/dev/ttyUSB2"
syringe_volume = "20 mL"
syringe_diameter = "19.13 mm"
max_rate = "60 mL/h"
[hotplate]
address = "/dev/ttyUSB3"
solvent = "1-octadecene"
solvent_boiling_point = "315 degC"
max_temperature = "300 degC"
[absorbance]
spectrometer = "FLMS12345"
path_length = "2 mm"
"""


def _flask_bench(tmp_path, text: str = FLASK):
    path = tmp_path / "bench.toml"
    path.write_text(GOOD + text)
    return load_bench(str(path))


def test_packaged_synthesis_bench_has_the_flask_and_is_in_process():
    cfg = load_bench("sim-synthesis")
    assert cfg.synthesis and cfg.simulated and cfg.in_process
    assert cfg.pump is not None and cfg.hotplate is not None and cfg.absorbance is not None
    assert (cfg.pump.syringe_volume_ml, cfg.pump.max_rate_ml_per_h, cfg.pump.safe_mode) == (20.0, 60.0, True)
    assert cfg.hotplate.max_temperature_c == pytest.approx(300.0)
    assert cfg.absorbance.integration_time_s == pytest.approx(0.02)
    assert cfg.limits()["hotplate_max_temperature"] == "300 degC"


def test_flask_sections_are_read_with_their_units(tmp_path):
    cfg = _flask_bench(tmp_path)
    assert cfg.synthesis and not cfg.in_process
    assert cfg.pump.max_volume_ml == pytest.approx(20.0)  # the syringe, when no max_volume is given
    assert cfg.pump.watchdog_s == pytest.approx(30.0) and cfg.pump.baudrate == 19200
    assert cfg.absorbance.path_length_cm == pytest.approx(0.2)
    assert cfg.hotplate.solvent_boiling_point_c == pytest.approx(315.0)


def test_a_flask_limit_at_or_above_the_solvents_boiling_point_is_refused(tmp_path):
    with pytest.raises(BenchError) as info:
        _flask_bench(
            tmp_path,
            FLASK.replace('max_temperature = "300 degC"', 'max_temperature = "305 degC"').replace(
                '"315 degC"', '"290 degC"'
            ),
        )
    assert str(info.value).endswith(
        "[hotplate] max_temperature 305 degC is not below the boiling point of 1-octadecene (290 degC); give "
        "max_temperature below 290 degC (at least 10 degC below is usual)"
    )


def test_a_flask_limit_above_the_hotplates_setpoint_range_is_refused(tmp_path):
    with pytest.raises(
        BenchError, match=r"max_temperature='320 degC' is above 310 degC, the IKA RCT digital's highest"
    ):
        _flask_bench(tmp_path, FLASK.replace('max_temperature = "300 degC"', 'max_temperature = "320 degC"'))


def test_a_rate_limit_the_syringe_cannot_give_is_refused_with_the_pumps_range(tmp_path):
    from labctl.devices.drivers.ne1000 import rate_range_ml_per_h

    _, hi = rate_range_ml_per_h(19.13)
    too_fast = f"{hi * 1.5:.0f} mL/h"
    with pytest.raises(BenchError) as info:
        _flask_bench(tmp_path, FLASK.replace('max_rate = "60 mL/h"', f'max_rate = "{too_fast}"'))
    assert f"is above {hi:g} mL/h, the most an NE-1000 gives with a 19.13 mm syringe" in str(info.value)


def test_a_volume_limit_larger_than_the_syringe_is_refused(tmp_path):
    with pytest.raises(BenchError, match=r"\[pump\] max_volume='25 mL' is above 20 mL, the syringe's 20 mL"):
        _flask_bench(tmp_path, FLASK.replace('max_rate = "60 mL/h"', 'max_rate = "60 mL/h"\nmax_volume = "25 mL"'))


def test_the_flask_needs_all_three_sections(tmp_path):
    text = FLASK[: FLASK.index("[absorbance]")]
    with pytest.raises(BenchError) as info:
        _flask_bench(tmp_path, text)
    assert "the synthesis flask needs [pump], [hotplate] and [absorbance] together; [absorbance] missing" in str(
        info.value
    )
