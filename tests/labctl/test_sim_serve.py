"""`labctl sim serve`: the simulators on TCP loopback, reached by the real drivers over sockets."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from labctl.cli import app


@contextmanager
def served(tmp_path: Path, *args: str, duration_s: float = 60) -> Iterator[str]:
    """Start ``labctl sim serve`` and yield the bench file it prints, until the block ends."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labctl.cli",
            "sim",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--duration",
            f"{duration_s:g}",
            *args,
        ],
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
        yield text[text.index("[bench]") : text.index("serving")]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def check_devices(tmp_path: Path, bench_toml: str) -> str:
    bench = tmp_path / "served.toml"
    bench.write_text(bench_toml)
    res = CliRunner().invoke(app, ["devices", "check", "--bench", str(bench), "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    return res.output


def test_served_simulators_answer_a_bench_file_of_socket_addresses(tmp_path):
    with served(tmp_path) as bench_toml:
        assert re.search(r'address = "socket://127\.0\.0\.1:\d+"', bench_toml)
        output = check_devices(tmp_path, bench_toml)
        assert "[ok]   lamp: " in output and "watts" in output
        assert "[ok]   gc: " in output
        assert "[ok]   parr: " in output


def test_the_served_led_driver_is_reached_over_visa(tmp_path):
    """The DC2200 simulator on TCP, reached by pyvisa-py as a TCPIP socket resource by the real driver."""
    with served(tmp_path, "--bench", "sim-led") as bench_toml:
        assert re.search(r'address = "TCPIP::127\.0\.0\.1::\d+::SOCKET"', bench_toml)
        assert 'driver = "thorlabs-dc2200"' in bench_toml and "calibration = [[" in bench_toml
        output = check_devices(tmp_path, bench_toml)
        assert "[ok]   lamp: " in output and "applied_current" in output
