"""GasChromatograph device: trigger box + export folder, against the GC simulator."""

from __future__ import annotations

import asyncio

import pytest

from labctl.devices.drivers.numato_relay import NumatoRelay
from labctl.devices.gc import GasChromatograph, GcTimeoutError, PeakAmount
from labctl.devices.transports import InProcessTransport, InstrumentNotResponding
from labctl.sim.instruments.gc import GcSimulator


def processor(path):
    text = path.read_text()
    assert text.startswith("# format: gc-trace-csv/1")
    return {"H2": PeakAmount(123.0, 1.5, True)}


@pytest.fixture
async def gc_and_sim(tmp_path):
    loop = asyncio.get_running_loop()
    sim = GcSimulator(loop.time, lambda: {"H2": 1.0, "Ar": 20.0}, tmp_path, run_time_s=0.3)
    gc = GasChromatograph(
        NumatoRelay(InProcessTransport("gc", sim)),
        tmp_path,
        processor,
        run_time_s=0.3,
        poll_s=0.05,
        export_timeout_s=1.0,
        name="gc",
    )
    await gc.connect()
    return gc, sim


async def test_trigger_injects_waits_for_the_export_and_publishes_amounts(gc_and_sim):
    gc, sim = gc_and_sim
    await gc.trigger()
    reading = await gc.read()
    assert reading["gc-h2_umol"]["value"] == 1.5
    assert reading["gc-h2_area"]["value"] == 123.0
    assert reading["gc-chromatogram"]["value"].endswith(".csv")
    assert len(sim.completed) == 1


async def test_relay_box_protocol_bytes(gc_and_sim):
    _, sim = gc_and_sim
    assert sim.handle(b"ver\r") == b"ver\n\r00000008\n\r>"
    assert sim.handle(b"relay on 0\r") == b"relay on 0\n\r>"
    assert sim.handle(b"relay read 0\r") == b"relay read 0\n\ron\n\r>"


async def test_no_export_is_a_clear_timeout(gc_and_sim):
    gc, sim = gc_and_sim
    sim.stall_exports(True)
    with pytest.raises(GcTimeoutError, match="no chromatogram appeared"):
        await gc.trigger()


async def test_check_connection_asks_the_relay_box_its_version_and_the_ready_line(gc_and_sim):
    gc, _sim = gc_and_sim
    assert await gc.check_connection() == {"gc-trigger_box_version": "00000008", "gc-ready": True}


async def test_check_connection_of_a_silent_relay_box_names_the_gc_and_its_address(gc_and_sim):
    gc, sim = gc_and_sim
    sim.inject_silence(True)
    with pytest.raises(InstrumentNotResponding) as err:
        await gc.check_connection()
    assert str(err.value) == (
        "gc at inprocess://GcSimulator did not respond to 'ver' after 4 attempts (no reply); check that it is "
        "powered, cabled and in remote mode, and that the address in the bench file is right"
    )
