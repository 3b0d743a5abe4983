"""`labctl sim serve`: the simulators on TCP loopback, reached by the real drivers over sockets."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from typer.testing import CliRunner

from labctl.cli import app


def test_served_simulators_answer_a_bench_file_of_socket_addresses(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "labctl.cli", "sim", "serve", "--data-dir", str(tmp_path), "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("serving"):
                break
        text = "".join(lines)
        bench_toml = text[text.index("[bench]") : text.index("serving")]
        assert re.search(r'address = "socket://127\.0\.0\.1:\d+"', bench_toml)
        bench = tmp_path / "sim-tcp.toml"
        bench.write_text(bench_toml)
        res = CliRunner().invoke(app, ["devices", "check", "--bench", str(bench), "--data-dir", str(tmp_path)])
        assert res.exit_code == 0, res.output
        assert "[ok]   lamp: " in res.output and "watts" in res.output
        assert "[ok]   gc: " in res.output
        assert "[ok]   parr: " in res.output
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def test_the_served_led_driver_is_reached_over_visa(tmp_path):
    """The DC2200 simulator on TCP, reached by pyvisa-py as a TCPIP socket resource by the real driver."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "labctl.cli", "sim", "serve", "--bench", "sim-led", "--data-dir", str(tmp_path),
         "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("serving"):
                break
        text = "".join(lines)
        bench_toml = text[text.index("[bench]") : text.index("serving")]
        assert re.search(r'address = "TCPIP::127\.0\.0\.1::\d+::SOCKET"', bench_toml)
        assert 'driver = "thorlabs-dc2200"' in bench_toml and "calibration = [[" in bench_toml
        bench = tmp_path / "sim-led-tcp.toml"
        bench.write_text(bench_toml)
        res = CliRunner().invoke(app, ["devices", "check", "--bench", str(bench), "--data-dir", str(tmp_path)])
        assert res.exit_code == 0, res.output
        assert "[ok]   lamp: " in res.output and "applied_current" in res.output
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
