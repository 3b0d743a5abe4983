"""Simulated gas chromatograph: a Numato relay box on the wire, chromatogram files on disk.

The simulator is the far side of :class:`labctl.devices.drivers.numato_relay.NumatoRelay` and of the
GC device's export-folder watcher.  It speaks the relay module's echo-and-prompt ASCII protocol
(``relay on 0`` / ``relay off 0`` pulse the GC's Start; ``gpio read 0`` reads its Ready line).
On the falling edge of a Start pulse while Ready it samples the photoreactor's headspace through
the gas sampling loop (the physics model gives µmol of each gas in the loop), and
``run_time_s`` later writes the chromatogram (``labctl.sim.instruments.chromatogram``) into the export folder, as a
data system would.  Time comes only from the clock it is given; file completion is scheduled on
the running asyncio loop, so it happens at the right virtual instant in a dry run.

Faults on demand: ``kill()`` (the box stops answering: every exchange drops the connection),
``inject_silence``, ``inject_garbage``, ``stall_exports`` (runs start but no file ever appears).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labctl.devices.transports import ConnectionDropped
from labctl.sim.instruments.chromatogram import (
    MOLSIEVE_5A_AR,
    ColumnMethod,
    synthesize_chromatogram,
    write_chromatogram,
)

Clock = Callable[[], float]
HeadspaceSampler = Callable[[], dict[str, float]]


@dataclass
class _PendingRun:
    number: int
    injected_at: float
    done_at: float
    injected_umol: dict[str, float]
    sample: str


class GcSimulator:
    """A GC behind a Numato relay box.

    :param clock: seconds, from the event loop.
    :param sampler: returns µmol of each gas injected by the sampling loop right now.
    :param export_dir: where chromatograms are written.
    :param run_time_s: the method's run time.
    :param method: column/detector model for the chromatograms.
    :param seed: noise seed (runs are reproducible).
    """

    def __init__(
        self,
        clock: Clock,
        sampler: HeadspaceSampler,
        export_dir: Path,
        *,
        run_time_s: float = 420.0,
        method: ColumnMethod = MOLSIEVE_5A_AR,
        seed: int = 7,
        start_channel: int = 0,
        ready_channel: int = 0,
    ) -> None:
        self.clock = clock
        self.sampler = sampler
        self.export_dir = Path(export_dir)
        self.export_dir.mkdir(parents=True, exist_ok=True)
        self.run_time_s = run_time_s
        self.method = method
        self.rng = np.random.default_rng(seed)
        self.start_channel = start_channel
        self.ready_channel = ready_channel
        self.relays: dict[int, bool] = {}
        self.pending: list[_PendingRun] = []
        self.completed: list[_PendingRun] = []
        self._buffer = b""
        self._runs = 0
        self._standard: tuple[str, float] | None = None
        self._dead = False
        self._silent = False
        self._garbage = False
        self._stalled = False

    # -- faults ----------------------------------------------------------------------------
    def kill(self, dead: bool = True) -> None:
        self._dead = dead

    def inject_silence(self, on: bool = True) -> None:
        self._silent = on

    def inject_garbage(self, on: bool = True) -> None:
        self._garbage = on

    def stall_exports(self, on: bool = True) -> None:
        self._stalled = on

    # -- wire ------------------------------------------------------------------------------
    def handle(self, data: bytes) -> bytes:
        if self._dead:
            raise ConnectionDropped("GC relay box: connection closed (device unplugged)")
        self._buffer += data
        out = b""
        while b"\r" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\r", 1)
            line = raw.decode("ascii", "replace").strip()
            reply = self._command(line)
            if self._silent:
                continue
            if self._garbage:
                out += b"\xfe\x81?" + b">"
                continue
            out += line.encode() + b"\n\r" + (reply.encode() + b"\n\r" if reply else b"") + b">"
        return out

    def _command(self, line: str) -> str:
        self.poll()
        parts = line.split()
        if parts == ["ver"]:
            return "00000008"
        if parts == ["id", "get"]:
            return "LABCTLGC"
        if len(parts) == 3 and parts[0] == "relay" and parts[2].isdigit():
            ch = int(parts[2])
            if parts[1] == "read":
                return "on" if self.relays.get(ch, False) else "off"
            if parts[1] in ("on", "off"):
                was = self.relays.get(ch, False)
                self.relays[ch] = parts[1] == "on"
                if ch == self.start_channel and was and parts[1] == "off":
                    self._start_run()
                return ""
        if len(parts) == 3 and parts[:2] == ["gpio", "read"] and parts[2].isdigit():
            return "1" if int(parts[2]) == self.ready_channel and self.ready else "0"
        return ""  # the module ignores what it does not know, after echoing it

    # -- behaviour -------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        self.poll()
        return not self.pending

    def _start_run(self) -> None:
        if self.pending:
            return  # Start while not Ready is ignored, as on the real GC
        now = self.clock()
        self._runs += 1
        if self._standard is not None:
            gas, umol = self._standard
            self._standard = None
            run = _PendingRun(self._runs, now, now + self.run_time_s, {gas: umol, "Ar": 20.0}, f"standard {gas}")
        else:
            run = _PendingRun(self._runs, now, now + self.run_time_s, self.sampler(), "headspace")
        self.pending.append(run)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_later(self.run_time_s, self.poll)

    def poll(self) -> None:
        """Finish every run whose time has come (writes its chromatogram)."""
        now = self.clock()
        for run in [r for r in self.pending if r.done_at <= now + 1e-9]:
            self.pending.remove(run)
            if not self._stalled:
                self._export(run)
            self.completed.append(run)

    def _export(self, run: _PendingRun) -> Path:
        t, signal = synthesize_chromatogram(run.injected_umol, self.method, self.rng)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        path = self.export_dir / f"run{run.number:04d}_{stamp}.csv"
        write_chromatogram(
            path,
            t,
            signal,
            metadata={
                "sample": run.sample,
                "run": str(run.number),
                "injected_at_s": f"{run.injected_at:.3f}",
                "method": self.method.name,
                "detector": "TCD",
            },
        )
        return path

    def load_standard(self, gas: str, umol: float) -> None:
        """A standard of ``umol`` of ``gas`` (in Ar) is in the sampling loop: the next run injects it."""
        self._standard = (gas, float(umol))

    def inject_standard(self, gas: str, umol: float) -> Path:
        """Inject a known amount of a standard gas (calibration) and export at once."""
        self._runs += 1
        now = self.clock()
        run = _PendingRun(self._runs, now, now, {gas: umol, "Ar": 20.0}, f"standard {gas} {umol:g} umol")
        return self._export(run)
