"""Protocol simulator of a Stanford Research Systems SR430 multichannel scaler counting PMT photons.

It speaks the wire protocol described in :mod:`labctl.devices.drivers.sr430` (LF-terminated ASCII lines,
commands without replies, ``BWTH``/``BREC``/``RSCN``/``DCLV``/``DCSL`` settings, ``SSCN``/``CLRS``,
``MCSS?``, ``SCAN?``, ``BINA? j,k``, ``*IDN?``, ``*ESR?``, ``*CLS``).  Time comes only from the
``clock`` callable given to the constructor (seconds), so a dry run in virtual time is exact.

Physics: a pulsed source triggers the scaler at ``trigger_rate_hz``.  After each trigger the unit
is busy for N x (bin width + 250 ns) + 150 µs (N bins, from the manual); a trigger arriving
meanwhile is ignored, so records complete every ``ceil(busy x rate) / rate`` seconds (one trigger
period when the record fits).  ``source(bin_edges_s, n_records)`` gives the expected PMT photon
counts per bin summed over ``n_records`` (edges in seconds after the trigger); the dark count rate
adds ``dark_count_rate_hz x bin width`` per bin per record.  Counts are drawn as Poisson numbers
each time the accumulated records grow (a sum of Poisson draws is Poisson), and a bin stays at
32,767 once it overflows, as on the instrument.

Our choices (plausible, not documented by the sources):

* Power-on settings: ``BWTH 1`` (40 ns), ``BREC 1`` (1024 bins), ``RSCN 1000``, ``DCLV -0.0100``,
  ``DCSL 1``.  ``*IDN?`` -> ``Stanford_Research_Systems,SR430,s/n<serial>,ver<firmware>``.
* A malformed or unknown command sets the command-error bit (5, value 32) of the ``*ESR?`` byte
  and is not answered; a setting changed during a scan, or a ``BINA?`` outside the record, sets the
  execution-error bit (4, value 16) and is ignored.  ``*ESR?`` reads and clears the byte.
* ``SSCN`` resumes an unfinished scan, starts a new one (cleared) after a complete scan, and is
  ignored during a scan; ``CLRS`` stops and clears.  Changing ``BWTH`` or ``BREC`` clears the data.
* ``MCSS?`` bits: 0 (1) scan in progress, 1 (2) scan complete, 2 (4) a bin overflowed.

Faults on demand: :meth:`SR430Simulator.inject_silence` (input discarded, no reply),
:meth:`SR430Simulator.stop_triggers` (no trigger pulses: the scan never progresses) and
:meth:`SR430Simulator.drop_connection`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Final

import numpy as np

from labctl.sim.instruments.line import LineProtocolSimulator

# Written out here rather than imported, so that the driver's tests compare two readings.
BIN_WIDTHS_S: Final[tuple[float, ...]] = (5e-9, *(40e-9 * 2**k for k in range(19)))
_MAX_COUNT: Final = 32_767
_MAX_RECORDS: Final = 65_535
_CHUNK_MAX: Final = 256
_BUSY_PER_BIN_S: Final = 250e-9
_BUSY_FIXED_S: Final = 150e-6

_MCSS_BUSY: Final = 0x01
_MCSS_DONE: Final = 0x02
_MCSS_OVERFLOW: Final = 0x04
_ESR_EXECUTION_ERROR: Final = 0x10
_ESR_COMMAND_ERROR: Final = 0x20

_SET_RE: Final = re.compile(r"(BWTH|BREC|RSCN|DCSL)\s+([+-]?\d+)")
_DCLV_RE: Final = re.compile(r"DCLV\s+([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)")
_BINA_RE: Final = re.compile(r"BINA\?\s*(\d+)\s*,\s*(\d+)")


class SR430Simulator(LineProtocolSimulator):
    model = "SR430"

    """Stateful line-protocol simulator; see the module docstring for its behaviour.

    :param clock: returns the current time in seconds (the only time source).
    :param source: ``source(bin_edges_s, n_records)`` -> expected photon counts per bin summed
        over ``n_records`` (length ``len(bin_edges_s) - 1``).
    :param trigger_rate_hz: repetition rate of the pulsed source's trigger.
    :param dark_count_rate_hz: PMT dark counts per second (after the discriminator).
    :param seed: seed of the counting noise.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        source: Callable[[np.ndarray, int], np.ndarray],
        *,
        trigger_rate_hz: float = 100.0,
        dark_count_rate_hz: float = 50.0,
        seed: int = 0,
        serial: str = "00001",
        firmware: str = "1.04",
    ) -> None:
        if not trigger_rate_hz > 0 or dark_count_rate_hz < 0:
            raise ValueError(
                f"trigger_rate_hz={trigger_rate_hz} must be > 0 and dark_count_rate_hz={dark_count_rate_hz} >= 0"
            )
        self._clock = clock
        self._source = source
        self.trigger_rate_hz = float(trigger_rate_hz)
        self.dark_count_rate_hz = float(dark_count_rate_hz)
        self.serial = serial
        self.firmware = firmware
        self._rng = np.random.default_rng(seed)

        self.bwth = 1
        self.brec = 1
        self.rscn = 1000
        self.dclv = -0.01
        self.dcsl = 1
        self._esr = 0

        self._running = False
        self._records = 0
        self._anchor_t = 0.0
        self._anchor_records = 0
        self._sampled = 0
        self._hist = np.zeros(self.bins, dtype=np.int64)

        super().__init__(line_end=b"\r\n", reply_end=b"\n", garbage=b"\x8f\xff?#\n")
        self._triggers = True

    # -- derived settings ------------------------------------------------------------------------
    @property
    def bin_width_s(self) -> float:
        return BIN_WIDTHS_S[self.bwth]

    @property
    def bins(self) -> int:
        return 1024 * self.brec

    @property
    def bin_edges_s(self) -> np.ndarray:
        return np.arange(self.bins + 1) * self.bin_width_s

    @property
    def record_period_s(self) -> float:
        """Time between accumulated records: trigger period, or more when the unit is still busy."""
        busy = self.bins * (self.bin_width_s + _BUSY_PER_BIN_S) + _BUSY_FIXED_S
        triggers = max(1, math.ceil(busy * self.trigger_rate_hz - 1e-9))
        return triggers / self.trigger_rate_hz

    # -- wire side -----------------------------------------------------------------------------
    def _process(self, raw: bytes) -> str | None:
        try:
            line = raw.decode("ascii").strip().upper()
        except UnicodeDecodeError:
            self._esr |= _ESR_COMMAND_ERROR
            return None
        if not line:
            return None
        self._advance(float(self._clock()))
        queries: dict[str, Callable[[], str]] = {
            "*IDN?": lambda: f"Stanford_Research_Systems,SR430,s/n{self.serial},ver{self.firmware}",
            "*ESR?": self._read_esr,
            "BWTH?": lambda: str(self.bwth),
            "BREC?": lambda: str(self.brec),
            "RSCN?": lambda: str(self.rscn),
            "DCSL?": lambda: str(self.dcsl),
            "DCLV?": lambda: f"{self.dclv:.4f}",
            "MCSS?": lambda: str(self.mcss()),
            "SCAN?": lambda: str(self._records),
        }
        if line in queries:
            return queries[line]()
        if m := _BINA_RE.fullmatch(line):
            return self._bina(int(m[1]), int(m[2]))
        if line == "SSCN":
            self._start()
        elif line == "CLRS":
            self._clear()
        elif line == "*CLS":
            self._esr = 0
        elif m := _SET_RE.fullmatch(line):
            self._set(m[1], int(m[2]))
        elif m := _DCLV_RE.fullmatch(line):
            self._set_level(float(m[1]))
        else:
            self._esr |= _ESR_COMMAND_ERROR
        return None

    def _read_esr(self) -> str:
        esr, self._esr = self._esr, 0
        return str(esr)

    def _set(self, name: str, value: int) -> None:
        valid = {"BWTH": 0 <= value < len(BIN_WIDTHS_S), "BREC": 1 <= value <= 16, "RSCN": 1 <= value <= _MAX_RECORDS}
        if not valid.get(name, value in (0, 1)):
            self._esr |= _ESR_COMMAND_ERROR
            return
        if self._running:
            self._esr |= _ESR_EXECUTION_ERROR
            return
        if name == "BWTH":
            self.bwth = value
            self._clear()
        elif name == "BREC":
            self.brec = value
            self._clear()
        elif name == "RSCN":
            self.rscn = value
        else:
            self.dcsl = value

    def _set_level(self, volts: float) -> None:
        if not -0.3 <= volts <= 0.3:
            self._esr |= _ESR_COMMAND_ERROR
            return
        if self._running:
            self._esr |= _ESR_EXECUTION_ERROR
            return
        self.dclv = round(volts / 0.0002) * 0.0002  # stored in 0.2 mV steps

    def _bina(self, start: int, count: int) -> str | None:
        if count < 1 or count > _CHUNK_MAX or start + count > self.bins:
            self._esr |= _ESR_EXECUTION_ERROR
            return None
        self._sample()
        return ",".join(str(int(c)) for c in self._hist[start : start + count])

    # -- scan ------------------------------------------------------------------------------------
    def _start(self) -> None:
        if self._running:
            return
        if self._records >= self.rscn:
            self._clear()
        self._running = True
        self._anchor_t = float(self._clock())
        self._anchor_records = self._records

    def _clear(self) -> None:
        self._running = False
        self._records = 0
        self._anchor_records = 0
        self._sampled = 0
        self._hist = np.zeros(self.bins, dtype=np.int64)

    def _advance(self, now: float) -> None:
        if not self._running or not self._triggers:
            return
        n = self._anchor_records + math.floor((now - self._anchor_t) / self.record_period_s + 1e-9)
        self._records = min(max(n, self._records), self.rscn)
        if self._records >= self.rscn:
            self._running = False

    def _sample(self) -> None:
        """Draw the counts of the records accumulated since the last draw."""
        new = self._records - self._sampled
        if new <= 0:
            return
        edges = self.bin_edges_s
        expected = np.asarray(self._source(edges.copy(), new), dtype=float)
        if expected.shape != (self.bins,):
            raise ValueError(f"source returned shape {expected.shape}, expected ({self.bins},) counts per bin")
        expected = np.clip(expected, 0.0, None) + self.dark_count_rate_hz * self.bin_width_s * new
        self._hist = np.minimum(self._hist + self._rng.poisson(expected), _MAX_COUNT)
        self._sampled = self._records

    def mcss(self) -> int:
        """The MCS status byte as ``MCSS?`` reports it now."""
        self._advance(float(self._clock()))
        self._sample()
        return (
            (_MCSS_BUSY if self._running else 0)
            | (_MCSS_DONE if not self._running and self._records >= self.rscn else 0)
            | (_MCSS_OVERFLOW if bool((self._hist >= _MAX_COUNT).any()) else 0)
        )

    @property
    def records_done(self) -> int:
        """Records accumulated in the current scan, now."""
        self._advance(float(self._clock()))
        return self._records

    def histogram(self) -> np.ndarray:
        """The accumulated counts per bin, now."""
        self._advance(float(self._clock()))
        self._sample()
        return self._hist.copy()

    # -- faults on demand ----------------------------------------------------------------------
    def stop_triggers(self, on: bool) -> None:
        """While on, no trigger reaches the scaler: a running scan stops progressing."""
        now = float(self._clock())
        self._advance(now)
        self._triggers = not on
        self._anchor_t = now
        self._anchor_records = self._records
