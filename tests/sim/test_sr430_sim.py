"""The SR430 simulator, exercised through the real driver in virtual time and on the wire."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from labctl.devices.drivers.sr430 import MultichannelScaler, ScalerError
from labctl.devices.transports import InProcessTransport, InstrumentNotResponding
from labctl.sim.instruments.sr430 import SR430Simulator

TAU_S = 200e-9
PHOTONS_PER_RECORD = 2.0


def decay(edges: np.ndarray, n_records: int) -> np.ndarray:
    """A fluorescence decay (lifetime TAU_S) of PHOTONS_PER_RECORD detected photons per pulse."""
    cdf = 1.0 - np.exp(-edges / TAU_S)
    return PHOTONS_PER_RECORD * n_records * np.diff(cdf)


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def wire(sim: SR430Simulator, line: str) -> str:
    return sim.handle(line.encode() + b"\n").decode()


def make_driver(sim: SR430Simulator, **kwargs: Any) -> MultichannelScaler:
    transport = InProcessTransport("mcs", sim, timeout=0.2, retries=1, backoff=0.01)
    return MultichannelScaler(transport, **kwargs)


# -- through the driver, on the virtual-time loop ----------------------------------------------------


async def test_full_acquisition_counts_match_the_source() -> None:
    loop = asyncio.get_running_loop()
    sim = SR430Simulator(loop.time, decay, trigger_rate_hz=100.0, dark_count_rate_hz=50.0, seed=7)
    scaler = make_driver(sim)
    assert "SR430" in await scaler.identify()
    width, bins = await scaler.configure(bin_width_s=10e-9, bins=1000, records=2000)
    assert (width, bins) == (pytest.approx(5e-9), 1024)
    width, bins = await scaler.configure(bin_width_s=40e-9, bins=1000, records=2000)
    assert (width, bins) == (pytest.approx(40e-9), 1024)
    t0 = loop.time()
    hist = await scaler.acquire()
    elapsed = loop.time() - t0
    assert elapsed == pytest.approx(20.0, abs=1.0)  # 2000 records at 100 Hz, polled every 0.5 s
    assert hist.shape == (1024,)
    assert await scaler.records_done() == 2000
    edges = np.arange(1025) * 40e-9
    expected = decay(edges, 2000) + 50.0 * 40e-9 * 2000
    total = expected.sum()
    assert abs(hist.sum() - total) < 5 * np.sqrt(total)
    early = slice(0, 5)
    assert hist[early].sum() == pytest.approx(expected[early].sum(), rel=0.05)
    # The decay is recovered: counts fall by e over one lifetime (5 bins of 40 ns).
    assert hist[:5].sum() / hist[5:10].sum() == pytest.approx(np.e, rel=0.1)


async def test_stopped_triggers_time_out_with_records_named() -> None:
    loop = asyncio.get_running_loop()
    sim = SR430Simulator(loop.time, decay, trigger_rate_hz=100.0)
    scaler = make_driver(sim, poll_s=0.25)
    await scaler.configure(bin_width_s=40e-9, bins=1024, records=1000)
    await scaler.clear()
    await scaler.start()
    await asyncio.sleep(1.0)
    sim.stop_triggers(True)
    with pytest.raises(ScalerError) as info:
        await scaler.wait_done(5.0)
    message = str(info.value)
    assert "scan not complete after 5 s: 100 of 1000 records accumulated" in message
    assert "TRIGGER input" in message
    sim.stop_triggers(False)
    await scaler.wait_done(20.0)
    assert await scaler.records_done() == 1000


async def test_acquire_times_out_when_no_trigger_ever_comes() -> None:
    loop = asyncio.get_running_loop()
    sim = SR430Simulator(loop.time, decay)
    sim.stop_triggers(True)
    scaler = make_driver(sim)
    await scaler.configure(bin_width_s=40e-9, bins=1024, records=10)
    t0 = loop.time()
    with pytest.raises(ScalerError, match=r"after 60 s: 0 of 10 records"):
        await scaler.acquire()  # default timeout: at least 60 s
    assert loop.time() - t0 == pytest.approx(60.0, abs=1.0)


async def test_silence_is_not_responding() -> None:
    loop = asyncio.get_running_loop()
    sim = SR430Simulator(loop.time, decay)
    scaler = make_driver(sim)
    sim.inject_silence(True)
    with pytest.raises(InstrumentNotResponding, match=r"mcs at inprocess://SR430Simulator did not respond to 'MCSS\?'"):
        await scaler.status()
    sim.inject_silence(False)
    assert await scaler.status() == 0


async def test_dropped_connection_is_retried() -> None:
    loop = asyncio.get_running_loop()
    sim = SR430Simulator(loop.time, decay)
    scaler = make_driver(sim)
    sim.drop_connection(1)
    assert await scaler.records_done() == 0


# -- on the wire, with a hand-moved clock --------------------------------------------------------------


def test_power_on_settings_and_identity() -> None:
    sim = SR430Simulator(FakeClock(), decay, serial="12345")
    assert wire(sim, "*IDN?") == "Stanford_Research_Systems,SR430,s/n12345,ver1.04\n"
    assert [wire(sim, q) for q in ("BWTH?", "BREC?", "RSCN?", "DCSL?", "DCLV?", "MCSS?", "SCAN?")] == [
        "1\n",
        "1\n",
        "1000\n",
        "1\n",
        "-0.0100\n",
        "0\n",
        "0\n",
    ]


def test_records_grow_with_time_and_the_scan_completes() -> None:
    clock = FakeClock()
    sim = SR430Simulator(clock, decay, trigger_rate_hz=50.0)
    for line in ("RSCN 100", "SSCN"):
        assert wire(sim, line) == ""
    assert wire(sim, "MCSS?") == "1\n"
    clock.t += 1.0
    assert wire(sim, "SCAN?") == "50\n"
    clock.t += 1.5
    assert wire(sim, "SCAN?") == "100\n"
    assert wire(sim, "MCSS?") == "2\n"
    assert wire(sim, "*ESR?") == "0\n"


def test_busy_time_skips_triggers() -> None:
    clock = FakeClock()
    sim = SR430Simulator(clock, decay, trigger_rate_hz=1000.0)
    # 16k bins of 10.24 µs: busy 16384 x (10.24 µs + 250 ns) + 150 µs = 172.02 ms, so one trigger in 173 counts.
    wire(sim, "BWTH 9")
    wire(sim, "BREC 16")
    assert sim.record_period_s == pytest.approx(0.173)
    wire(sim, "SSCN")
    clock.t += 1.0
    assert wire(sim, "SCAN?") == "5\n"


def test_histogram_matches_poisson_statistics() -> None:
    clock = FakeClock()
    flat = 4.0  # expected counts per bin per record

    def source(edges: np.ndarray, n: int) -> np.ndarray:
        return np.full(len(edges) - 1, flat * n)

    sim = SR430Simulator(clock, source, trigger_rate_hz=100.0, dark_count_rate_hz=0.0, seed=11)
    wire(sim, "RSCN 25")
    wire(sim, "SSCN")
    clock.t += 0.1  # 10 records, read mid-scan
    partial = np.array(wire(sim, "BINA? 0,256").strip().split(","), dtype=float)
    assert partial.mean() == pytest.approx(40.0, rel=0.05)
    clock.t += 1.0
    hist = sim.histogram()
    assert hist.mean() == pytest.approx(100.0, rel=0.02)
    assert hist.var() == pytest.approx(100.0, rel=0.15)


def test_bins_saturate_at_32767() -> None:
    clock = FakeClock()
    sim = SR430Simulator(clock, lambda edges, n: np.full(len(edges) - 1, 100.0 * n))
    wire(sim, "RSCN 1000")
    wire(sim, "SSCN")
    clock.t += 20.0
    assert sim.histogram().max() == 32767
    assert int(wire(sim, "MCSS?")) == 2 | 4


def test_restart_after_a_complete_scan_clears() -> None:
    clock = FakeClock()
    sim = SR430Simulator(clock, decay, seed=1)
    wire(sim, "RSCN 10")
    wire(sim, "SSCN")
    clock.t += 1.0
    first = sim.histogram().sum()
    assert first > 0
    wire(sim, "SSCN")
    assert wire(sim, "SCAN?") == "0\n"
    clock.t += 1.0
    assert wire(sim, "SCAN?") == "10\n"
    wire(sim, "CLRS")
    assert wire(sim, "SCAN?") == "0\n" and sim.histogram().sum() == 0


@pytest.mark.parametrize(
    ("line", "esr"),
    [
        ("BWTH 20", "32"),
        ("BREC 0", "32"),
        ("RSCN 70000", "32"),
        ("DCLV 1.5", "32"),
        ("FOO", "32"),
        ("BINA? 1000,100", "16"),
        ("BINA? 0,300", "16"),
    ],
)
def test_errors_are_silent_and_flagged(line: str, esr: str) -> None:
    sim = SR430Simulator(FakeClock(), decay)
    assert wire(sim, line) == ""
    assert wire(sim, "*ESR?") == esr + "\n"
    assert wire(sim, "*ESR?") == "0\n"


def test_settings_refused_during_a_scan() -> None:
    sim = SR430Simulator(FakeClock(), decay)
    wire(sim, "SSCN")
    wire(sim, "BWTH 3")
    assert wire(sim, "*ESR?") == "16\n"
    assert wire(sim, "BWTH?") == "1\n"


def test_discriminator_level_stored_in_steps() -> None:
    sim = SR430Simulator(FakeClock(), decay)
    wire(sim, "DCLV 10E-3")
    assert wire(sim, "DCLV?") == "0.0100\n"
    wire(sim, "dclv -0.01234")
    assert wire(sim, "DCLV?") == "-0.0124\n"


def test_multiple_lines_in_one_write() -> None:
    sim = SR430Simulator(FakeClock(), decay)
    assert sim.handle(b"BREC 2\nBREC?\r*ESR?\n") == b"2\n0\n"


def test_bad_construction() -> None:
    with pytest.raises(ValueError, match="trigger_rate_hz"):
        SR430Simulator(FakeClock(), decay, trigger_rate_hz=0.0)
