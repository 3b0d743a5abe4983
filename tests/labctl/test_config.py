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
