"""Stanford Research Systems SR430 multichannel scaler/averager over RS-232, for time-resolved photon counting.

A pulsed excitation source triggers the SR430; the photon pulses of a PMT that cross the
discriminator are counted into consecutive time bins after each trigger (a *record*); a *scan*
sums a programmed number of records bin by bin.  :meth:`MultichannelScaler.acquire` runs one scan
and returns the summed histogram.

From the SR430 user manual (rev. 1.5/1.6: specifications p. 6, overview pp. 11-13, remote
programming p. 80, file formats p. 95):

* Commands end with a line feed (``<lf>``); the manual's examples: ``DCSL 0`` (discriminator slope
  positive), ``DCLV 10E-3`` (discriminator level, volts), ``*IDN?``, ``SSCN`` (start acquisition,
  same as the START key), ``RSCN?`` (records per scan).  Commands set; the same header with ``?``
  queries.  A command has no reply.  Status queries: ``*STB?``, ``*ESR?``, ``ERRS?``, ``MCSS?``.
* ``BWTH i``, i = 0..19: bin width 5 ns, 40 ns, 80 ns, 160 ns, ... 10.486 ms (40 ns x 2^(i-1) for
  i >= 1; 10 ns and 20 ns bins do not exist).
* ``BREC i``, i = 1..16: 1k to 16k bins per record in 1k steps (1024 x i bins).
* Records per scan 1..65,535 (``RSCN n``).  A bin holds at most 32,767 counts; more overflow and
  stay at 32,767.  Discriminator range ±300 mV, stored in 0.2 mV steps.
* After each trigger the unit is busy for N x (bin width + 250 ns) + 150 µs (N bins); triggers
  arriving meanwhile are ignored.

Our choices (not confirmed against the manual's command pages; kept identical in ``labctl.sim.instruments.sr430``):

* Replies also end with a line feed.  Setting queries ``BWTH?``, ``BREC?`` answer the index as an
  integer; :meth:`MultichannelScaler.configure` reads them back with ``RSCN?`` to check the unit
  took the settings.
* ``DCSL`` follows the sign of the level: ``DCSL 1`` (negative slope) for a negative level, as PMT
  pulses are negative-going; ``DCLV`` is sent in volts with four decimals (``DCLV -0.0100``).
* ``CLRS`` clears the accumulated data and stops a scan; ``SCAN?`` returns the number of records
  accumulated so far.
* ``MCSS?`` returns the MCS status byte as a decimal integer, bits: 0 (1) scan in progress,
  1 (2) scan complete, 2 (4) a bin overflowed (32,767).
* ``BINA? j,k`` returns bins j..j+k-1 (k <= 256) as comma-separated decimal counts; a 1024-bin
  histogram takes four exchanges.  (The manual's binary transfer is not used: RS-232 lines stay
  ASCII.)
"""

from __future__ import annotations

import asyncio
import math
import re
from typing import Final

import numpy as np

from labctl.devices.transports import GarbledReply, Transport

BIN_WIDTHS_S: Final[tuple[float, ...]] = (5e-9, *(40e-9 * 2**k for k in range(19)))
"""Bin width (s) of each ``BWTH`` index 0..19."""

RECORD_LENGTHS: Final[tuple[int, ...]] = tuple(1024 * i for i in range(1, 17))
"""Bins per record of each ``BREC`` index 1..16 (``RECORD_LENGTHS[i - 1]``)."""

MAX_RECORDS: Final = 65_535
MAX_BIN_COUNT: Final = 32_767
DISCRIMINATOR_MAX_V: Final = 0.3
READ_CHUNK: Final = 256
"""Bins per ``BINA?`` exchange."""

MCSS_BUSY: Final = 0x01
MCSS_DONE: Final = 0x02
MCSS_OVERFLOW: Final = 0x04

_INT_RE: Final = re.compile(r"\s*[+-]?\d+\s*")
_DEFAULT_MIN_TRIGGER_HZ: Final = 10.0


class ScalerError(Exception):
    """The scaler refused a setting or a scan did not finish."""


def _format_width(seconds: float) -> str:
    for unit, scale in (("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:g} {unit}"
    return f"{seconds:g} s"


class MultichannelScaler:
    """Command set of an SR430 multichannel scaler; see the module docstring for the wire facts.

    :param transport: the RS-232 line (its terminations are set to LF here).
    :param poll_s: seconds between status polls while waiting for a scan.
    """

    def __init__(self, transport: Transport, *, poll_s: float = 0.5) -> None:
        if not poll_s > 0:
            raise ValueError(f"poll_s={poll_s!r} must be > 0 seconds, e.g. 0.5")
        transport.write_termination = "\n"
        transport.read_termination = "\n"
        self.transport = transport
        self.poll_s = float(poll_s)
        self.bin_width_s: float | None = None
        self.bins: int | None = None
        self.records: int | None = None

    # -- low level -----------------------------------------------------------------------------
    def _who(self) -> str:
        return f"{self.transport.name} at {self.transport.address}"

    def _garbled(self, command: str, reply: str, expected: str) -> GarbledReply:
        raw = reply.encode("ascii", "backslashreplace")
        return GarbledReply(
            f"{self._who()} answered {command!r} with {raw!r}, expected {expected}; check the baud "
            f"rate and cable, and that the instrument is an SR430"
        )

    async def _query_int(self, command: str) -> int:
        reply = await self.transport.query(command)
        if _INT_RE.fullmatch(reply) is None:
            raise self._garbled(command, reply, "an integer")
        return int(reply)

    # -- identification ----------------------------------------------------------------------------
    async def identify(self) -> str:
        """The ``*IDN?`` string (maker, model, serial number, firmware)."""
        reply = (await self.transport.query("*IDN?")).strip()
        if not reply or not reply.isprintable():
            raise self._garbled("*IDN?", reply, "'Stanford_Research_Systems,SR430,<serial>,<firmware>'")
        return reply

    # -- settings ------------------------------------------------------------------------------------
    async def configure(
        self, *, bin_width_s: float, bins: int, records: int, discriminator_v: float = -0.01
    ) -> tuple[float, int]:
        """Set bin width, record length, records per scan and discriminator; return (bin width s, bins).

        The bin width is the allowed one nearest ``bin_width_s`` (by ratio), the record length the
        shortest allowed one holding ``bins``.  Values the SR430 cannot approach raise ``ValueError``.
        """
        index = _bin_width_index(bin_width_s)
        brec = _record_index(bins)
        n_records = _check_records(records)
        level = _check_discriminator(discriminator_v)
        slope = 1 if level < 0 else 0
        await self.transport.write(f"BWTH {index}")
        await self.transport.write(f"BREC {brec}")
        await self.transport.write(f"RSCN {n_records}")
        await self.transport.write(f"DCSL {slope}")
        await self.transport.write(f"DCLV {level:.4f}")
        read_back = (await self._query_int("BWTH?"), await self._query_int("BREC?"), await self._query_int("RSCN?"))
        if read_back != (index, brec, n_records):
            raise ScalerError(
                f"{self._who()} did not take the settings: sent BWTH {index}, BREC {brec}, RSCN "
                f"{n_records}, read back BWTH {read_back[0]}, BREC {read_back[1]}, RSCN "
                f"{read_back[2]}; stop any running scan (clear()) and configure again"
            )
        self.bin_width_s = BIN_WIDTHS_S[index]
        self.bins = RECORD_LENGTHS[brec - 1]
        self.records = n_records
        return self.bin_width_s, self.bins

    # -- scan control ------------------------------------------------------------------------------
    async def clear(self) -> None:
        """Stop any scan and clear the accumulated data."""
        await self.transport.write("CLRS")

    async def start(self) -> None:
        """Start (or resume) a scan; records accumulate with each trigger."""
        await self.transport.write("SSCN")

    async def status(self) -> int:
        """The MCS status byte (``MCSS?``)."""
        return await self._query_int("MCSS?")

    async def records_done(self) -> int:
        """Records accumulated in the current scan."""
        return await self._query_int("SCAN?")

    async def _records_asked(self) -> int:
        if self.records is None:
            self.records = await self._query_int("RSCN?")
        return self.records

    async def wait_done(self, timeout_s: float) -> None:
        """Poll ``MCSS?`` every ``poll_s`` until the scan-complete bit; ``ScalerError`` on timeout."""
        if not timeout_s > 0:
            raise ValueError(f"timeout_s={timeout_s!r} must be > 0 seconds")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            status = await self.status()
            if status & MCSS_DONE:
                return
            if not status & MCSS_BUSY:
                done, asked = await self.records_done(), await self._records_asked()
                raise ScalerError(
                    f"{self._who()} is not scanning ({done} of {asked} records, MCSS {status}); "
                    f"call start() (acquire() does) before waiting"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                done, asked = await self.records_done(), await self._records_asked()
                raise ScalerError(
                    f"{self._who()}: scan not complete after {timeout_s:g} s: {done} of {asked} "
                    f"records accumulated; check that the pulsed source is running and its trigger "
                    f"reaches the SR430 TRIGGER input (cable, trigger level and slope), or allow a "
                    f"longer timeout for a slow trigger rate"
                )
            await asyncio.sleep(min(self.poll_s, remaining))

    # -- data ----------------------------------------------------------------------------------------
    async def histogram(self) -> np.ndarray:
        """Counts per bin summed over the records so far (length: the configured record length)."""
        if self.bins is None:
            self.bins = RECORD_LENGTHS[await self._query_int("BREC?") - 1]
        out = np.empty(self.bins, dtype=np.int64)
        for start in range(0, self.bins, READ_CHUNK):
            count = min(READ_CHUNK, self.bins - start)
            command = f"BINA? {start},{count}"
            reply = await self.transport.query(command)
            fields = reply.strip().split(",")
            if len(fields) != count or not all(_INT_RE.fullmatch(f) for f in fields):
                raise self._garbled(command, reply[:80], f"{count} comma-separated integers")
            out[start : start + count] = [int(f) for f in fields]
        return out

    async def acquire(self, timeout_s: float | None = None) -> np.ndarray:
        """Clear, start, wait for the scan and read the histogram.

        The default timeout lets the scan run at a trigger rate down to 10 Hz (at least 60 s);
        pass ``timeout_s`` for a slower source.
        """
        if timeout_s is None:
            timeout_s = max(60.0, 2.0 * await self._records_asked() / _DEFAULT_MIN_TRIGGER_HZ)
        await self.clear()
        await self.start()
        await self.wait_done(timeout_s)
        return await self.histogram()


def _number(value: float, what: str, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} {value!r} is not a number; {fix}")
    return float(value)


def _bin_width_index(bin_width_s: float) -> int:
    allowed = ", ".join(_format_width(w) for w in BIN_WIDTHS_S[:4]) + ", ... " + _format_width(BIN_WIDTHS_S[-1])
    width = _number(bin_width_s, "bin width", f"pass seconds, one of {allowed}")
    if not BIN_WIDTHS_S[0] * 0.99 <= width <= BIN_WIDTHS_S[-1] * 1.01:
        raise ValueError(
            f"bin width {width:g} s is outside the SR430 range {_format_width(BIN_WIDTHS_S[0])} to "
            f"{_format_width(BIN_WIDTHS_S[-1])} (allowed: {allowed}, doubling); choose a width in "
            f"that range, or use an external bin clock for other widths"
        )
    return int(np.argmin([abs(math.log(width / w)) for w in BIN_WIDTHS_S]))


def _record_index(bins: int) -> int:
    if isinstance(bins, bool) or not isinstance(bins, int):
        raise ValueError(f"bins {bins!r} is not an integer; pass a number of bins 1..{RECORD_LENGTHS[-1]}")
    if not 1 <= bins <= RECORD_LENGTHS[-1]:
        raise ValueError(
            f"bins {bins} is outside 1..{RECORD_LENGTHS[-1]}: the SR430 records 1024 to "
            f"{RECORD_LENGTHS[-1]} bins in steps of 1024; ask for at most {RECORD_LENGTHS[-1]} bins, "
            f"or a wider bin to cover the same time"
        )
    return math.ceil(bins / 1024)


def _check_records(records: int) -> int:
    if isinstance(records, bool) or not isinstance(records, int) or not 1 <= records <= MAX_RECORDS:
        raise ValueError(
            f"records {records!r} is outside 1..{MAX_RECORDS} (records per scan of the SR430); "
            f"split a longer accumulation into several scans and add them"
        )
    return records


def _check_discriminator(level_v: float) -> float:
    level = _number(level_v, "discriminator level", f"pass volts in -{DISCRIMINATOR_MAX_V}..{DISCRIMINATOR_MAX_V}")
    if not -DISCRIMINATOR_MAX_V <= level <= DISCRIMINATOR_MAX_V:
        raise ValueError(
            f"discriminator level {level:g} V is outside -{DISCRIMINATOR_MAX_V}..{DISCRIMINATOR_MAX_V} V "
            f"(the SR430 input range); use a level in that range, e.g. -0.01 V for PMT pulses"
        )
    return level


def scaler_settings(bin_width_s: float, bins: int) -> tuple[float, int]:
    """(bin width s, bins per record) the SR430 uses for the asked ones; ``ValueError`` if impossible."""
    return BIN_WIDTHS_S[_bin_width_index(bin_width_s)], RECORD_LENGTHS[_record_index(bins) - 1]
