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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from labctl.catalog import open_catalog, serve_commands
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


@contextmanager
def _served(cmd: list[str]) -> Iterator[Any]:
    """Run a ``tiled serve ...`` command on a free loopback port; yield the plain Tiled client."""
    from tiled.client import from_uri

    port = _free_port()
    argv = [str(Path(sys.executable).with_name("tiled")), *cmd[1:], "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
        yield client
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


def test_the_documented_serve_command_serves_the_event_data(recorded):
    data, uid = recorded
    plain, _ = serve_commands(data)
    assert plain[:3] == ["tiled", "serve", "catalog"] and f"sqlite:///{data / 'tables.sqlite'}" in plain
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert "-r DATA/files -r sqlite:///DATA/tables.sqlite --public" in readme
    with _served(plain) as client:
        ds = client[uid]["primary"].read()
        assert len(ds["gc-h2_loop_umol"]) == 4
        assert ds["gc-h2_headspace_umol"].values[-1] > ds["gc-h2_loop_umol"].values[-1] > 0
        assert ds["gc-chromatogram_signal"].shape[0] == 4


def test_the_served_configuration_gives_a_catalog_of_bluesky_runs(recorded, tmp_path):
    import os

    data, uid = recorded
    _, with_config = serve_commands(data)
    assert (data / "tiled-serve.yml").exists()
    with _served(with_config) as cat:
        assert cat[-1].metadata["start"]["uid"] == uid
        assert cat[1].metadata["start"]["uid"] == uid
        assert cat[uid[:8]]["primary"].read()["gc-h2_loop_umol"].values[-1] > 0
        # databroker's own entry point, through a Tiled profile naming the server
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "bench.yml").write_text(f"bench:\n  uri: {cat.uri}\n", encoding="utf-8")
        script = (
            "import databroker; cat = databroker.from_profile('bench'); run = cat[-1]; "
            f"assert cat[1].metadata['start']['uid'] == cat['{uid[:8]}'].metadata['start']['uid']; "
            "print(run.metadata['start']['uid'], len(run.primary.read()['gc-h2_loop_umol']))"
        )
        env = {**os.environ, "TILED_PROFILES": str(tmp_path / "profiles")}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split()[-2:] == [uid, "4"]


def test_a_moved_data_folder_reads_its_events_and_serves_from_where_it_is(recorded, tmp_path):
    import shutil

    data, _ = recorded
    moved = tmp_path / "moved"
    shutil.copytree(data, moved)
    with open_catalog(moved) as cat:
        ds = cat[-1]["primary"].read()
        assert ds["gc-h2_loop_umol"].attrs["units"] == "umol" and len(ds["gc-chromatogram_time"]) == 4
    config = (moved / "tiled-serve.yml").read_text(encoding="utf-8")
    assert str(moved / "tables.sqlite") in config and str(data) not in config


def test_the_h2_analysis_uses_the_recorded_headspace_amount_and_computes_it_for_older_runs(recorded):
    import numpy as np

    from labctl.experiments import h2_series, tables_from_catalog

    data, uid = recorded
    with open_catalog(data) as cat:
        run = cat[uid]
        start, tables = run.metadata["start"], tables_from_catalog(run)
    primary = tables["primary"]
    recorded_h2 = np.asarray(primary["gc-h2_headspace_umol"], dtype=float)
    assert np.array_equal(h2_series(start, tables)["H2"], recorded_h2)
    assert recorded_h2[-1] > 10 * primary["gc-h2_loop_umol"][-1] > 0
    # a run recorded before the headspace amount was: loop amounts named gc-<gas>_umol
    older = {k.replace("_loop_umol", "_umol"): v for k, v in primary.items() if "_headspace_umol" not in k}
    computed = h2_series(start, {**tables, "primary": older})["H2"]
    # the same within 1%: the recorded amount takes the headspace pressure at injection, the older
    # computation the pressure read with the result, minutes later (the evolved H2 raised it)
    np.testing.assert_allclose(computed, recorded_h2, rtol=1e-2)
