"""labctl's plans from a real queue: Redis and bluesky-queueserver's RE Manager with labctl's startup code.

Every plan validates at ``queue add``; a short H2 evolution on the simulated bench runs from the queue
to its end and lands in the data folder's catalog with its JSON-lines file.
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("bluesky_queueserver")

from bluesky_queueserver import ZMQCommSendThreads

pytestmark = pytest.mark.slow

DEVICES_H2 = ["lamp", "gc", "reactor", "operator", "clock"]
PLANS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "h2_evolution": (
        DEVICES_H2,
        {"catalyst_mass_g": "50 mg", "duration_s": "1 h", "sample_interval_s": "30 min", "dark_samples": 1},
    ),
    "co2_photoreduction": (DEVICES_H2, {"catalyst_mass_g": 0.01, "duration_s": 7200.0, "sample_interval_s": 3600.0}),
    "gc_calibration": (["gc", "gc_calibrations", "operator", "clock"], {"gases": ["H2"], "amounts_umol": [1, 2, 5]}),
    "co2_cycloaddition": (
        ["parr", "operator", "nmr", "clock"],
        {"catalyst": "SS", "catalyst_mass_mg": "4.5 mg", "hold_s": "2 h", "temperature_c": "70 degC"},
    ),
    "recycle": (["parr", "operator", "nmr", "clock"], {"cycles": 2}),
    "emission_scan": (
        ["fluor", "operator", "clock"],
        {"sample": "SS", "excitation_nm": 350.0, "start_nm": 450.0, "stop_nm": 750.0},
    ),
    "excitation_scan": (
        ["fluor", "operator", "clock"],
        {"sample": "SS", "emission_nm": 593.0, "start_nm": 300.0, "stop_nm": 400.0},
    ),
    "plqy": (["fluor", "operator", "clock"], {"sample": "SS"}),
    "photostability": (["fluor", "operator", "clock"], {"sample": "SS"}),
    "pl_decay": (["fluor", "operator", "clock"], {"sample": "SS"}),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], check=False, capture_output=True)
        path = shutil.which("redis-server")
    if path is None:
        pytest.skip("redis-server is not installed and cannot be installed here (apt-get install redis-server)")
    return path


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def _redis(tmp: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp), "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)


class Manager:
    """The RE Manager's control socket: ``qs("status")`` sends a request and returns the reply."""

    def __init__(self, control: str) -> None:
        self.comm = ZMQCommSendThreads(zmq_server_address=control)

    def __call__(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        reply = self.comm.send_message(method=method, params=params, timeout=int(timeout * 1000), raise_exceptions=True)
        return dict(reply)

    def wait(self, what: str, ok: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self("status")
            if ok(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: the manager did not get there in {timeout:g} s: {status}")
            time.sleep(0.5)


@contextlib.contextmanager
def _re_manager(tmp: Path, redis_addr: str, data_dir: Path) -> Iterator[Manager]:
    import bluesky_queueserver

    packaged = Path(bluesky_queueserver.__file__).parent / "profile_collection_sim" / "user_group_permissions.yaml"
    permissions = tmp / "user_group_permissions.yaml"
    shutil.copy(packaged, permissions)
    control, info = f"tcp://127.0.0.1:{_free_port()}", f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "LABCTL_BENCH": "sim", "LABCTL_DATA_DIR": str(data_dir)}
    log = open(tmp / "re-manager.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("start-re-manager")),
            "--startup-module",
            "labctl.queue.startup",
            "--keep-re",
            "--redis-addr",
            redis_addr,
            "--redis-name-prefix",
            f"labctl_test_{os.getpid()}",
            "--existing-plans-devices",
            str(tmp / "existing_plans_and_devices.yaml"),
            "--update-existing-plans-devices",
            "ENVIRONMENT_OPEN",
            "--user-group-permissions",
            str(permissions),
            "--zmq-control-addr",
            control,
            "--zmq-info-addr",
            info,
        ],
        env=env,
        cwd=tmp,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    manager = Manager(control)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                manager("status", timeout=1.0)
                break
            except Exception as exc:
                if time.monotonic() > deadline or proc.poll() is not None:
                    log_text = (tmp / "re-manager.log").read_text()
                    raise RuntimeError(f"start-re-manager did not answer:\n{log_text}") from exc
                time.sleep(0.5)
        yield manager
    finally:
        with contextlib.suppress(Exception):
            manager("environment_close")
            manager.wait("environment closed", lambda s: not s["worker_environment_exists"], 60)
        with contextlib.suppress(Exception):
            manager("manager_stop", {"option": "safe_off"})
            proc.wait(timeout=30)
        with contextlib.suppress(Exception):
            manager.comm.close()
            # ZMQCommSendThreads.close() closes its socket but leaves its zmq.Context open (a
            # ResourceWarning when the interpreter collects it): end the context here
            manager.comm._ctx.destroy(linger=0)
        _stop(proc)
        log.close()


def _campaign_file(tmp_path: Path) -> Path:
    path = tmp_path / "queued.toml"
    path.write_text(
        '[campaign]\nexperiment = "h2-evolution"\nstrategy = "sobol"\n[objective]\nfigure = "rate"\n'
        "[budget]\nexperiments = 2\n"
        '[parameters]\ncatalyst_mass = { min = "5 mg", max = "20 mg" }\n'
        '[fixed]\nduration = "1 h"\nsample_interval = "30 min"\n'
    )
    return path


def _item(name: str) -> dict[str, Any]:
    args, kwargs = PLANS[name]
    return {"name": name, "args": args, "kwargs": kwargs, "item_type": "plan"}


def test_every_plan_validates_at_queue_add_and_a_short_run_lands_in_the_catalog(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with _redis(tmp_path) as redis_addr, _re_manager(tmp_path, redis_addr, data_dir) as qs:
        assert qs("environment_open")["success"]
        qs.wait("environment open", lambda s: s["worker_environment_exists"] and s["manager_state"] == "idle", 180)
        allowed = qs("plans_allowed", {"user_group": "primary"})["plans_allowed"]
        assert set(PLANS) <= set(allowed)
        # each device parameter lists the bench's devices of its class
        params = {p["name"]: p for p in allowed["h2_evolution"]["parameters"]}
        assert params["lamp"]["annotation"]["devices"] == {"ArcLampLedSource": ["lamp"]}
        assert params["operator"]["annotation"]["devices"] == {"Operator": ["operator"]}
        assert "in g" in params["catalyst_mass_g"]["description"]  # numpydoc descriptions, with units
        assert "in mol %" in params["co_doping_percent"]["description"]
        assert "in mol/L" in params["donor_mol_per_l"]["description"]
        devices = qs("devices_allowed", {"user_group": "primary"})["devices_allowed"]
        assert {"gc_calibrations", "lamp", "operator"} <= set(devices)
        assert "gc_calibration" not in devices  # the plan's name, not a device's

        for name in PLANS:
            out = qs("queue_item_add", {"item": _item(name), "user": "test", "user_group": "primary"})
            assert out["success"], f"{name}: {out['msg']}"
        # a device of the wrong class is refused at queue add
        wrong = dict(_item("h2_evolution"), args=["gc", "gc", "reactor", "operator", "clock"])
        out = qs("queue_item_add", {"item": wrong, "user": "test", "user_group": "primary"})
        assert not out["success"] and "lamp" in out["msg"], out
        bad = dict(_item("co2_photoreduction"), kwargs={"catalyst_mass_g": 0.01, "purge_s": 10.0})
        qs("queue_clear")

        # one short plan run from the queue, to its end
        assert qs("queue_item_add", {"item": _item("h2_evolution"), "user": "test", "user_group": "primary"})["success"]
        assert qs("queue_start")["success"]
        qs.wait(
            "the run",
            lambda s: s["manager_state"] == "idle" and s["items_in_queue"] == 0 and s["items_in_history"] >= 1,
            300,
        )
        history = qs("history_get")["items"]
        result = history[-1]["result"]
        assert result["exit_status"] == "completed", result["msg"] + result.get("traceback", "")
        (uid,) = result["run_uids"]

        # the refused argument names the keyword sent, before anything moves
        assert qs("queue_item_add", {"item": bad, "user": "test", "user_group": "primary"})["success"]
        assert qs("queue_start")["success"]
        qs.wait("the refused run", lambda s: s["manager_state"] == "idle" and s["items_in_history"] >= 2, 120)
        refused = qs("history_get")["items"][-1]["result"]
        assert refused["exit_status"] == "failed" and "purge_s=10 s" in refused["msg"], refused

        # a campaign as one queue item: its experiments land in the catalog, its state in the data folder
        qs("queue_clear")  # the failed item went back to the front of the queue
        item = {"name": "run_campaign", "kwargs": {"campaign_file": str(_campaign_file(tmp_path))}, "item_type": "plan"}
        assert qs("queue_item_add", {"item": item, "user": "test", "user_group": "primary"})["success"]
        assert qs("queue_start")["success"]
        qs.wait(
            "the campaign",
            lambda s: s["manager_state"] == "idle" and s["items_in_queue"] == 0 and s["items_in_history"] >= 3,
            300,
        )
        result = qs("history_get")["items"][-1]["result"]
        assert result["exit_status"] == "completed", result["msg"] + result.get("traceback", "")
        (state_file,) = (data_dir / "campaigns").glob("*/state.json")
        state = json.loads(state_file.read_text())
        assert (state["status"], [t["status"] for t in state["trials"]]) == ("done", ["done", "done"])
        assert len(result["run_uids"]) == 4  # two experiments, each with its ingest record

    # the run is in labctl's catalog and has its JSON-lines file, with the bench's metadata
    lines = (data_dir / "runs" / f"{uid}.jsonl").read_text().splitlines()
    start = json.loads(lines[0])["doc"]
    assert start["bench"] == "sim" and start["queue"] is True and start["catalyst_mass_g"] == pytest.approx(0.05)
    assert json.loads(lines[-1])["name"] == "stop"
    from labctl.catalog import open_catalog

    with open_catalog(data_dir) as cat:
        assert uid in cat
