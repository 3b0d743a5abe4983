"""The catalog read with the standard clients: the root is a CatalogOfBlueskyRuns, units reach
xarray, the GC's raw chromatograms and headspace amounts are in the run, and the documented
``tiled serve catalog`` command serves the event data."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.catalog import open_catalog
from labctl.config import load_bench
from labctl.experiments import get_experiment
from labctl.session import Session


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A data folder holding one recorded 1 h H2 evolution run (30-min GC samples)."""
    data = tmp_path_factory.mktemp("standard-catalog")
    exp = get_experiment("h2-evolution")
    kw = exp.resolve({"duration": "1h", "sample_interval": "30min"})
    with Session(data_dir=data, speed=math.inf, record=True) as s:
        bench = s.open_bench(load_bench("sim"))
        bench.load_sample(**kw)
        out = s.run(exp.build(bench, kw), md=bench.metadata())
    assert out.exit_status == "success", out.reason
    yield data, out.uid


def test_the_root_is_a_catalog_of_bluesky_runs(recorded):
    data, uid = recorded
    with open_catalog(data) as cat:
        assert "CatalogOfBlueskyRuns" in {s.name for s in cat.specs}
        run = cat[-1]
        assert run.metadata["start"]["uid"] == uid
        scan_id = run.metadata["start"]["scan_id"]
        assert cat[scan_id].metadata["start"]["uid"] == uid
        assert cat[uid[:8]].metadata["start"]["uid"] == uid
        h2 = run.primary.read()["gc-h2_loop_umol"]
        assert list(h2.values) == list(run["primary"].read()["gc-h2_loop_umol"].values)
        assert len(h2) == 4


def test_units_reach_the_xarray_attributes(recorded):
    data, _ = recorded
    with open_catalog(data) as cat:
        run = cat[-1]
        ds = run["primary"].read()
        units = {k: v.get("units") for k, v in run["primary"].metadata["data_keys"].items()}
        assert ds["gc-h2_loop_umol"].attrs["units"] == units["gc-h2_loop_umol"] == "umol"
        assert ds["gc-h2_headspace_umol"].attrs["units"] == "umol"
        assert ds["reactor-pressure"].attrs["units"] == units["reactor-pressure"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_documented_serve_command_serves_the_event_data(recorded):
    from tiled.client import from_uri

    data, uid = recorded
    port = _free_port()
    tiled = Path(sys.executable).with_name("tiled")
    # the command README.md documents, on a free loopback port
    cmd = [
        str(tiled), "serve", "catalog", str(data / "catalog.db"),
        "-r", str(data / "files"), "-r", f"sqlite:///{data / 'tables.sqlite'}",
        "--public", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = None
    try:
        deadline = time.monotonic() + 60
        while client is None:
            try:
                client = from_uri(f"http://127.0.0.1:{port}")
            except Exception:
                if server.poll() is not None:
                    raise AssertionError(server.stderr.read().decode()) from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        ds = client[uid]["primary"].read()
        assert len(ds["gc-h2_loop_umol"]) == 4
        assert ds["gc-h2_headspace_umol"].values[-1] > ds["gc-h2_loop_umol"].values[-1] > 0
    finally:
        if client is not None:
            client.context.close()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stderr.close()
