"""Protocol simulator of a Newport/Oriel Cornerstone 130/260 monochromator.

It speaks the wire protocol described in :mod:`labctl.devices.drivers.cornerstone` (ASCII lines ended
by CR LF, the RS-232 character echo, ``ERROR?``/``STB?`` error reporting) and keeps the state of
the wavelength drive, grating turret, shutter, slits and filter wheel.  Time comes only from the
``clock`` callable given to the constructor (seconds), so a dry run in virtual time is exact.

From the manual: the command set (``GOWAVE``, ``WAVE?``, ``GRAT``/``GRAT?``, ``SHUTTER``,
``SLIT<n>MICRONS``, ``FILTER``, ``ABORT``, ``INFO?``, ``ERROR?``, ``STB?``, ``ECHO``), the echo of
every received character on RS-232 (none over USB, or after ``ECHO 0``), the ``GRAT?`` reply
``<number>,<lines/mm>,<label>``, the error codes (0 none, 1 command not understood, 2 bad
parameter, 3 destination position not allowed, 6 accessory not present, 8 could not home,
10 system error), read-and-clear by ``ERROR?``, and STB bit 5 (32) set while an error is pending.

Our choices (plausible, not documented by the manual):

* Gratings: a table of :class:`Grating` given to the constructor; by default grating 1 =
  1200 lines/mm, blaze 350 nm, 180-1000 nm, 6.6 nm/mm and grating 2 = 600 lines/mm, blaze 500 nm,
  250-1600 nm, 13.2 nm/mm; grating 1 is in the beam at power-up, at 500 nm.
* Line ends: CR or LF (either, or both) ends a line; empty lines are ignored; commands are case
  insensitive.  ``WAVE?`` answers three decimals (``350.000``), ``SLIT<n>MICRONS?`` whole microns
  (``1515``), ``SHUTTER?`` ``O``/``C``, ``FILTER?``/``ERROR?``/``STB?`` decimal integers.
* A ``GOWAVE`` takes ``0.2 s + |Δλ| / 250 nm/s``; ``WAVE?`` during a move reports the position
  interpolated linearly between start and target over that whole time.  A ``GOWAVE`` during a
  move retargets from the present position; ``ABORT`` stops the drive where it is.  A
  ``GOWAVE`` outside the current grating's range is error 3 and nothing moves; an unparsable
  argument is error 2.
* ``GRAT n`` re-homes the turret: 5 s during which ``GRAT?`` still reports the previous grating;
  the wavelength is kept.  A grating not in the table is error 2; the grating in the beam is
  accepted and does nothing.
* Slits: ``SLIT1MICRONS`` (entrance) and ``SLIT2MICRONS`` (exit) take 4..3100 µm (rounded to
  whole microns), else error 2; other slit numbers are error 6.  3100 µm keeps a 20 nm bandpass
  reachable on grating 1 (20 nm / 6.6 nm/mm = 3030 µm).  Slits start at 1000 µm.
* Filter wheel positions 1..6 (error 2 otherwise; error 6 if the wheel is absent); position 1 at
  power-up.  The shutter starts closed.
* The error register holds one code: a newer error replaces a pending one.  An unknown command
  or query is error 1; an unknown query gets its echo only, no answer line.
* Faults on demand: :meth:`fail_homing` (every ``GOWAVE``/``GRAT`` while on is error 8 and
  nothing moves), :meth:`inject_error`, :meth:`inject_silence` (input discarded, no reply, no
  echo), :meth:`drop_connection`.

Physics-facing API: :meth:`wavelength_nm`, :meth:`moving`, :attr:`shutter_open`,
:meth:`slit_um`, :attr:`grating` (the selected grating, in the beam once :meth:`moving` is
False), :meth:`bandpass_nm` and the ``on_change`` callback, called with the clock time *before*
a change of wavelength, grating, shutter, slit or filter is applied, so a light model can
integrate the old state up to that instant.  While :meth:`moving` is True the drive or the
turret is in motion.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from labctl.sim.instruments.line import LineProtocolSimulator

# Error codes and the STB bit, written out here rather than imported so that the driver's tests
# compare two independent readings of the manual.
ERR_NONE: Final = 0
ERR_NOT_UNDERSTOOD: Final = 1
ERR_BAD_PARAMETER: Final = 2
ERR_POSITION_NOT_ALLOWED: Final = 3
ERR_NO_ACCESSORY: Final = 6
ERR_HOMING: Final = 8
ERR_SYSTEM: Final = 10
_STB_ERROR: Final = 0x20

SLIT_MIN_UM: Final = 4.0
SLIT_MAX_UM: Final = 3100.0
FILTER_POSITIONS: Final = 6
MOVE_SETTLE_S: Final = 0.2
MOVE_SPEED_NM_S: Final = 250.0
GRATING_CHANGE_S: Final = 5.0

_NUMBER: Final = r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))"
_GOWAVE_RE: Final = re.compile(rf"GOWAVE\s+{_NUMBER}")
_GRAT_RE: Final = re.compile(r"GRAT\s+(\d+)")
_SHUTTER_RE: Final = re.compile(r"SHUTTER\s+([OC])")
_SLIT_RE: Final = re.compile(rf"SLIT(\d+)MICRONS\s+{_NUMBER}")
_SLIT_Q_RE: Final = re.compile(r"SLIT(\d+)MICRONS\?")
_FILTER_RE: Final = re.compile(r"FILTER\s+(\d+)")
_ECHO_RE: Final = re.compile(r"ECHO\s+([01])")
_KNOWN_HEADS: Final = ("GOWAVE", "GRAT", "SHUTTER", "FILTER", "ECHO")


@dataclass(frozen=True)
class Grating:
    """One grating on the turret."""

    lines_per_mm: int
    blaze_nm: int
    min_nm: float
    max_nm: float
    dispersion_nm_per_mm: float


DEFAULT_GRATINGS: Final[Mapping[int, Grating]] = {
    1: Grating(lines_per_mm=1200, blaze_nm=350, min_nm=180.0, max_nm=1000.0, dispersion_nm_per_mm=6.6),
    2: Grating(lines_per_mm=600, blaze_nm=500, min_nm=250.0, max_nm=1600.0, dispersion_nm_per_mm=13.2),
}


@dataclass(frozen=True)
class _Move:
    """A straight move of the wavelength drive from ``start_nm`` at ``t0`` to ``end_nm`` at ``t1``."""

    t0: float
    t1: float
    start_nm: float
    end_nm: float

    def at(self, t: float) -> float:
        if t >= self.t1:
            return self.end_nm
        if t <= self.t0:
            return self.start_nm
        return self.start_nm + (self.end_nm - self.start_nm) * (t - self.t0) / (self.t1 - self.t0)


class CornerstoneSimulator(LineProtocolSimulator):
    """A Cornerstone 130/260 that answers the driver's lines; see the module docstring."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        model: str = "Cornerstone 130",
        firmware: str = "1.2.0",
        gratings: Mapping[int, Grating] | None = None,
        grating: int = 1,
        wavelength_nm: float = 500.0,
        slit_um: float = 1000.0,
        filter_wheel: bool = True,
        echo: bool = True,
        on_change: Callable[[float], None] | None = None,
    ) -> None:
        table = dict(DEFAULT_GRATINGS if gratings is None else gratings)
        if grating not in table:
            raise ValueError(f"grating {grating} is not in the gratings table {sorted(table)}; pick one of those")
        if not table[grating].min_nm <= wavelength_nm <= table[grating].max_nm:
            raise ValueError(
                f"start wavelength {wavelength_nm} nm is outside grating {grating}'s range "
                f"{table[grating].min_nm}..{table[grating].max_nm} nm; choose one inside it"
            )
        if not SLIT_MIN_UM <= slit_um <= SLIT_MAX_UM:
            raise ValueError(f"start slit width {slit_um} µm is outside {SLIT_MIN_UM:g}..{SLIT_MAX_UM:g} µm")
        self._clock = clock
        self.model = model
        self.firmware = firmware
        self.gratings: Mapping[int, Grating] = table
        self.on_change = on_change
        self.has_filter_wheel = filter_wheel
        super().__init__(line_end=b"\r\n", reply_end=b"\r\n", garbage=b"\x8f\xff?#\r\n", echo=echo)

        t0 = float(clock())
        self._grating = grating
        self._previous_grating = grating
        self._grating_done_at = t0
        self._move = _Move(t0, t0, float(wavelength_nm), float(wavelength_nm))
        self._shutter_open = False
        self._slits = {1: float(round(slit_um)), 2: float(round(slit_um))}
        self._filter = 1
        self._error = ERR_NONE

        self._homing_fails = False

    # -- wire side -----------------------------------------------------------------------------
    def _process(self, raw: bytes) -> str | None:
        try:
            line = raw.decode("ascii").strip().upper()
        except UnicodeDecodeError:
            self._error = ERR_NOT_UNDERSTOOD
            return None
        if not line:
            return None
        now = float(self._clock())
        if line.endswith("?"):
            return self._query(line, now)
        code = self._command(line, now)
        if code != ERR_NONE:
            self._error = code
        return None

    def _query(self, line: str, now: float) -> str | None:
        if line == "WAVE?":
            return f"{self._move.at(now):.3f}"
        if line == "GRAT?":
            n = self._grating if now >= self._grating_done_at else self._previous_grating
            g = self.gratings[n]
            return f"{n},{g.lines_per_mm},{g.blaze_nm}"
        if line == "SHUTTER?":
            return "O" if self._shutter_open else "C"
        if line == "FILTER?":
            if not self.has_filter_wheel:
                self._error = ERR_NO_ACCESSORY
                return None
            return str(self._filter)
        if line == "INFO?":
            return f"{self.model} Ver {self.firmware}"
        if line == "ERROR?":
            code, self._error = self._error, ERR_NONE
            return str(code)
        if line == "STB?":
            return str(self.status_byte())
        if m := _SLIT_Q_RE.fullmatch(line):
            n = int(m[1])
            if n not in self._slits:
                self._error = ERR_NO_ACCESSORY
                return None
            return f"{round(self._slits[n])}"
        self._error = ERR_NOT_UNDERSTOOD
        return None

    def _command(self, line: str, now: float) -> int:
        """Carry out one command at time ``now``; return its error code (0 for none)."""
        if line == "ABORT":
            if self.moving(now):
                self._changing(now)
                here = self._move.at(now)
                self._move = _Move(now, now, here, here)
            return ERR_NONE
        if m := _GOWAVE_RE.fullmatch(line):
            return self._go_wave(now, float(m[1]))
        if m := _GRAT_RE.fullmatch(line):
            return self._set_grating(now, int(m[1]))
        if m := _SHUTTER_RE.fullmatch(line):
            opened = m[1] == "O"
            if opened != self._shutter_open:
                self._changing(now)
                self._shutter_open = opened
            return ERR_NONE
        if m := _SLIT_RE.fullmatch(line):
            return self._set_slit(now, int(m[1]), float(m[2]))
        if m := _FILTER_RE.fullmatch(line):
            return self._set_filter(now, int(m[1]))
        if m := _ECHO_RE.fullmatch(line):
            self.echo = m[1] == "1"
            return ERR_NONE
        head = line.split()[0]
        if head in _KNOWN_HEADS or re.fullmatch(r"SLIT\d+MICRONS", head):
            return ERR_BAD_PARAMETER  # a known command with a missing or unparsable argument
        return ERR_NOT_UNDERSTOOD

    def _go_wave(self, now: float, target: float) -> int:
        if self._homing_fails:
            return ERR_HOMING
        g = self.gratings[self._grating]
        if not g.min_nm <= target <= g.max_nm:
            return ERR_POSITION_NOT_ALLOWED
        self._changing(now)
        here = self._move.at(now)
        duration = MOVE_SETTLE_S + abs(target - here) / MOVE_SPEED_NM_S
        self._move = _Move(now, now + duration, here, target)
        return ERR_NONE

    def _set_grating(self, now: float, n: int) -> int:
        if self._homing_fails:
            return ERR_HOMING
        if n not in self.gratings:
            return ERR_BAD_PARAMETER
        if n == self._grating:
            return ERR_NONE
        self._changing(now)
        here = self._move.at(now)
        self._move = _Move(now, now, here, here)  # the drive stops; the position is kept
        self._previous_grating = self._grating if now >= self._grating_done_at else self._previous_grating
        self._grating = n
        self._grating_done_at = now + GRATING_CHANGE_S
        return ERR_NONE

    def _set_slit(self, now: float, n: int, um: float) -> int:
        if n not in self._slits:
            return ERR_NO_ACCESSORY
        if not SLIT_MIN_UM <= um <= SLIT_MAX_UM:
            return ERR_BAD_PARAMETER
        width = float(round(um))
        if width != self._slits[n]:
            self._changing(now)
            self._slits[n] = width
        return ERR_NONE

    def _set_filter(self, now: float, n: int) -> int:
        if not self.has_filter_wheel:
            return ERR_NO_ACCESSORY
        if not 1 <= n <= FILTER_POSITIONS:
            return ERR_BAD_PARAMETER
        if n != self._filter:
            self._changing(now)
            self._filter = n
        return ERR_NONE

    def _changing(self, now: float) -> None:
        if self.on_change is not None:
            self.on_change(now)

    def status_byte(self) -> int:
        """The status byte as ``STB?`` reports it now: bit 5 while an error is pending."""
        return _STB_ERROR if self._error != ERR_NONE else 0

    # -- faults on demand ----------------------------------------------------------------------
    def fail_homing(self, on: bool) -> None:
        """While on, every ``GOWAVE`` and ``GRAT`` is error 8 (could not home) and nothing moves."""
        self._homing_fails = on

    def inject_error(self, code: int) -> None:
        """Make ``code`` the pending error (e.g. 10, system error), as if a command had failed."""
        if not 0 <= code <= 255:
            raise ValueError(f"error code {code} is outside 0..255; the instrument reports small codes such as 10")
        self._error = code

    # -- physics-facing API --------------------------------------------------------------------
    def _at(self, t: float | None) -> float:
        return float(self._clock()) if t is None else t

    def wavelength_nm(self, t: float | None = None) -> float:
        """Wavelength at the exit slit at time ``t`` (default: now), assuming no further command."""
        return self._move.at(self._at(t))

    def moving(self, t: float | None = None) -> bool:
        """Whether the wavelength drive or the grating turret is in motion at ``t`` (default: now)."""
        t = self._at(t)
        return self._move.t0 <= t < self._move.t1 or t < self._grating_done_at

    @property
    def shutter_open(self) -> bool:
        return self._shutter_open

    def slit_um(self, n: int = 1) -> float:
        """Width of slit ``n`` (1 entrance, 2 exit) in µm."""
        if n not in self._slits:
            raise ValueError(f"slit {n} does not exist; pass 1 (entrance) or 2 (exit)")
        return self._slits[n]

    @property
    def grating(self) -> int:
        """The selected grating (in the beam once :meth:`moving` is False)."""
        return self._grating

    @property
    def filter(self) -> int:
        return self._filter

    @property
    def error(self) -> int:
        """The pending error code (0 for none), without clearing it."""
        return self._error

    def bandpass_nm(self) -> float:
        """Spectral bandpass: the entrance slit (mm) times the selected grating's dispersion (nm/mm)."""
        return self._slits[1] / 1000.0 * self.gratings[self._grating].dispersion_nm_per_mm
