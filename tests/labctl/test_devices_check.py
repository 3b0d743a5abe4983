"""`labctl devices check` exchanges with every instrument a bench names, and fails naming the one that is silent."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labctl.cli import app
from tests.labctl.test_sim_serve import served


@pytest.fixture(scope="module")
def served_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The simulators served on TCP loopback, and the bench file that reaches them."""
    data_dir = tmp_path_factory.mktemp("served")
    with served(data_dir) as bench_toml:
        yield data_dir, bench_toml


def closed_port() -> int:
    """A loopback port nothing listens on (bound once to pick it, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(data_dir: Path, bench_toml: str, name: str) -> tuple[int, list[str]]:
    bench = data_dir / name
    bench.write_text(bench_toml)
    res = CliRunner().invoke(app, ["devices", "check", "--bench", str(bench), "--data-dir", str(data_dir)])
    return res.exit_code, res.output.splitlines()


def test_every_instrument_answers_and_the_check_passes(served_bench):
    data_dir, bench_toml = served_bench
    code, lines = check(data_dir, bench_toml, "all-good.toml")
    assert code == 0, lines
    devices = ("lamp", "gc", "reactor", "clock", "gc_calibrations", "operator", "parr", "nmr")
    assert {line.split(":")[0].strip() for line in lines} == {f"[ok]   {d}" for d in devices}
    # the GC line shows what its relay box answered: firmware version and the Ready line
    (gc,) = [line for line in lines if line.startswith("[ok]   gc: ")]
    assert gc.startswith("[ok]   gc: gc-trigger_box_version=00000008, gc-ready=True, ")


def test_a_silent_gc_relay_box_fails_the_check_naming_the_gc(served_bench):
    data_dir, bench_toml = served_bench
    port = closed_port()
    bench_toml = re.sub(
        r'trigger_address = "socket://127\.0\.0\.1:\d+"', f'trigger_address = "socket://127.0.0.1:{port}"', bench_toml
    )
    code, lines = check(data_dir, bench_toml, "silent-gc.toml")
    assert code == 1, lines
    # the check's report lines (the transport's retry warnings may come between them)
    failed = [line for line in lines if line.startswith("[") and not line.startswith("[ok]")]
    assert failed == [
        f"[FAIL] gc: InstrumentNotResponding: gc at socket://127.0.0.1:{port} did not respond to 'ver' after 4 "
        f"attempts (ConnectionDropped: Could not open port socket://127.0.0.1:{port}: [Errno 111] Connection "
        "refused); check that it is powered, cabled and in remote mode, and that the address in the bench file is right"
    ]
    assert any(line.startswith("[ok]   lamp: lamp-watts=") for line in lines)  # the lamp, served, still answers
