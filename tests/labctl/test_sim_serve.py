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


def test_the_served_pump_and_hotplate_answer_their_real_drivers_over_sockets(tmp_path):
    """NE-1000 frames and NAMUR lines over TCP loopback, through SerialTransport, as on a serial-over-TCP adapter."""
    import asyncio

    from labctl.devices.drivers.ika_rct import IkaRct
    from labctl.devices.drivers.ne1000 import NE1000
    from labctl.devices.transports import SerialTransport

    with served(tmp_path, "--bench", "sim-synthesis") as bench_toml:
        pump_at = re.search(r'\[pump\]\naddress = "(socket://127\.0\.0\.1:\d+)"', bench_toml).group(1)
        plate_at = re.search(r'\[hotplate\]\naddress = "(socket://127\.0\.0\.1:\d+)"', bench_toml).group(1)

        async def talk() -> tuple[str, str, float, str]:
            pump = NE1000(SerialTransport("pump", pump_at, baudrate=19200, timeout=2.0))
            version = await pump.version()
            await pump.enable_safe_mode(30)
            status = (await pump.status()).code  # a safe-mode frame, CRC and all, over the socket
            plate = IkaRct(SerialTransport("hotplate", plate_at, bytesize=7, parity="E", timeout=2.0))
            return version, status, await plate.flask_temperature(), await plate.identify()

        version, status, flask_c, name = asyncio.run(talk())
    assert (version, status) == ("NE1000V3.928", "S")
    assert 15.0 < flask_c < 35.0 and name
