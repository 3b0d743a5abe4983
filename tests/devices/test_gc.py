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
    assert reading["gc-h2_loop_umol"]["value"] == 1.5
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


async def test_the_raw_trace_and_the_headspace_amount_are_recorded_beside_the_loop_amount(gc_and_sim):
    import math

    import numpy as np
    from ophyd_async.core import soft_signal_rw

    from labctl.analysis.chromatography import headspace_amount_umol, read_chromatogram

    gc, _sim = gc_and_sim
    reading = await gc.read()
    assert math.isnan(reading["gc-h2_headspace_umol"]["value"])  # no reactor wired: not made up
    volume, temperature, pressure = (
        soft_signal_rw(float, 20.0, units="mL"),
        soft_signal_rw(float, 303.15, units="K"),
        soft_signal_rw(float, 110000.0, units="Pa"),
    )
    for sig in (volume, temperature, pressure):
        await sig.connect()
    gc.sample_headspace_of(volume, temperature, pressure)
    await gc.trigger()
    reading = await gc.read()
    expected = headspace_amount_umol(
        1.5,
        loop_volume_ml=0.5,
        loop_temperature_k=298.15,
        loop_pressure_pa=101325.0,
        headspace_volume_ml=20.0,
        headspace_temperature_k=303.15,
        headspace_pressure_pa=110000.0,
    )
    assert reading["gc-h2_headspace_umol"]["value"] == pytest.approx(expected, rel=1e-12)
    assert reading["gc-h2_loop_umol"]["value"] == 1.5
    trace = read_chromatogram(gc.export_dir / reading["gc-chromatogram"]["value"])
    np.testing.assert_array_equal(reading["gc-chromatogram_time"]["value"], trace.time_min)
    np.testing.assert_array_equal(reading["gc-chromatogram_signal"]["value"], trace.signal)
    described = await gc.describe()
    assert described["gc-chromatogram_signal"]["units"] == "uV"
    assert described["gc-chromatogram_signal"]["shape"] == [trace.signal.size]
    assert "sample loop" in described["gc-h2_loop_umol"]["description"]
    assert "headspace" in described["gc-h2_headspace_umol"]["description"]


async def test_a_runs_traces_keep_the_length_of_its_first(gc_and_sim, monkeypatch):
    import numpy as np

    import labctl.devices.gc as gc_module

    gc, _sim = gc_and_sim
    await gc.stage()
    await gc.trigger()
    n = (await gc.read())["gc-chromatogram_signal"]["value"].size
    real = gc_module.read_trace
    monkeypatch.setattr(gc_module, "read_trace", lambda path: tuple(a[:-5] for a in real(path)))
    await gc.trigger()
    short = (await gc.read())["gc-chromatogram_signal"]["value"]
    assert short.size == n and np.isnan(short[-5:]).all() and not np.isnan(short[:-5]).any()
    await gc.unstage()
    await gc.stage()  # a new run takes its own first length
    await gc.trigger()
    assert (await gc.read())["gc-chromatogram_signal"]["value"].size == n - 5
    monkeypatch.setattr(gc_module, "read_trace", real)
    await gc.trigger()
    assert (await gc.read())["gc-chromatogram_signal"]["value"].size == n - 5  # padded
    assert (await gc.describe())["gc-chromatogram_signal"]["shape"] == [n - 5]
