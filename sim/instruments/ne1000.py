"""Protocol simulator of a New Era NE-1000 syringe pump: basic and safe mode, the plunger in time.

It answers the bytes :mod:`labctl.devices.drivers.ne1000` describes (basic mode ``[addr]CMD`` + CR
-> ``STX addr status data ETX``; safe mode framed with a length byte and CRC-16/XMODEM), and moves
the plunger exactly in the clock's time: the volume infused is piecewise linear in time, so
:meth:`NE1000Simulator.infused_ml` is exact at any instant however seldom the pump is polled.

From the sources: the command set, status letters, alarms replacing the next reply (that command
not executed), error codes, number format, rate units (a rate change while pumping keeps its
units; a change of units is ``?NA``), ``VOL 0`` pumping until stopped, ``DIS`` as
``I<v>W<v><UL|ML>``, ``SAF n`` and the safe-mode timeout stopping the pump with ``A?T``.

Our choices: replies to commands that set something carry no data; queries answer the value in the
units in use (``RAT`` -> ``2.000MH``, ``DIA`` -> ``19.13``, ``VOL`` -> ``10.00ML``); the pump
stops by itself when the target volume is delivered or the syringe is empty (the plunger at its
end: ``A?S``); ``SAF n`` with n > 0 switches to safe mode, and while in safe mode a basic-mode
command is answered ``?COM`` (in a safe frame); the watchdog counts only while pumping (an idle pump
that hears nothing stays idle); ``RUN`` with no volume target set (``VOL`` never sent) pumps until
stopped; the rate range is the driver's :func:`~labctl.devices.drivers.ne1000.rate_range_ml_per_h`.

Faults on demand: :meth:`stall` (now, or when a given volume has been infused: the pump stops and
the next reply is ``A?S``), and the line faults of every simulator (:meth:`inject_silence`,
:meth:`inject_garbage`, :meth:`drop_connection`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from labctl.devices.drivers.ne1000 import (
    ETX,
    RATE_UNITS,
    STX,
    VOLUME_UNITS,
    crc16_xmodem,
    format_number,
    rate_range_ml_per_h,
    safe_frame,
)
from labctl.devices.transports import ConnectionDropped

GARBAGE = b"\x7f\xfe?"


END_ORDER = ("target", "stall", "timeout", "empty")  # which way a pump stops when two fall together


@dataclass
class _Segment:
    """The plunger from ``t0`` on: ``v0`` mL infused then, ``rate`` mL/s (0 when stopped), ending at ``t_end``."""

    t0: float
    v0: float
    rate: float
    t_end: float = math.inf
    why: str = ""  # "target", "stall", "timeout", "empty" when the pump stops by itself at t_end


class NE1000Simulator:
    """An NE-1000 on a line: see the module docstring.

    :param clock: the time in seconds (the running loop's clock).
    :param address: the pump's network address.
    :param diameter_mm: the syringe's inner diameter set at power-up.
    :param syringe_volume_ml: the syringe's volume (what it can deliver from full).
    """

    model = "NE-1000"

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        address: int = 0,
        diameter_mm: float = 14.5,
        syringe_volume_ml: float = 10.0,
        firmware: str = "NE1000V3.928",
    ) -> None:
        self._clock = clock
        self.address = address
        self.diameter_mm = diameter_mm
        self.syringe_volume_ml = syringe_volume_ml
        self.firmware = firmware
        self.rate_value, self.rate_units = 1.0, "MH"
        self.volume_units = "ML"
        self.target_ml: float | None = None
        self.direction = "INF"
        self.safe_timeout_s = 0
        self.withdrawn_ml = 0.0
        self._cleared_at_ml = 0.0  # infused volume at the last CLD INF
        self._filled_at_ml = 0.0  # infused volume when the syringe was last mounted full
        self._alarm: str | None = None
        self._stall_at_ml: float | None = None
        self._last_frame = clock()
        self._segments: list[_Segment] = [_Segment(clock(), 0.0, 0.0)]
        self._buffer = b""
        self._silent = False
        self._garbage = False
        self._drops = 0

    # -- the plunger in time --------------------------------------------------------------------
    def infused_ml(self, t: float | None = None) -> float:
        """Volume infused since power-up at time ``t`` (default now); exact, piecewise linear."""
        t = self._clock() if t is None else t
        for seg in reversed(self._segments):
            if t >= seg.t0:
                return seg.v0 + seg.rate * (min(t, seg.t_end) - seg.t0)
        return 0.0

    def rate_ml_per_h_at(self, t: float | None = None) -> float:
        """The plunger's rate (mL/h) at ``t``: 0 while stopped."""
        t = self._clock() if t is None else t
        for seg in reversed(self._segments):
            if t >= seg.t0:
                return seg.rate * 3600.0 if t < seg.t_end else 0.0
        return 0.0

    @property
    def running(self) -> bool:
        self._settle(self._clock())
        seg = self._segments[-1]
        return seg.rate > 0 and self._clock() < seg.t_end

    def _rate_ml_per_s(self) -> float:
        return self.rate_value * RATE_UNITS[self.rate_units] / 3600.0

    def _settle(self, now: float) -> None:
        """Stop the pump at the instant it stopped by itself (target, stall, empty, timeout), if that has passed."""
        seg = self._segments[-1]
        if seg.rate > 0 and now >= seg.t_end:
            self._segments.append(_Segment(seg.t_end, seg.v0 + seg.rate * (seg.t_end - seg.t0), 0.0))
            if seg.why == "stall":
                self._alarm, self._stall_at_ml = "S", None
            elif seg.why == "empty":
                self._alarm = "S"
            elif seg.why == "timeout":
                self._alarm = "T"

    def _plan_end(self, seg: _Segment) -> None:
        """When a running segment ends by itself: the earliest of target, stall, empty syringe, watchdog."""
        ends: list[tuple[float, str]] = []
        if self.target_ml is not None and self.target_ml > 0:
            ends.append((seg.t0 + max(self._run_v0 + self.target_ml - seg.v0, 0.0) / seg.rate, "target"))
        if self._stall_at_ml is not None:
            ends.append((seg.t0 + max(self._stall_at_ml - seg.v0, 0.0) / seg.rate, "stall"))
        ends.append((seg.t0 + max(self._filled_at_ml + self.syringe_volume_ml - seg.v0, 0.0) / seg.rate, "empty"))
        if self.safe_timeout_s > 0:
            ends.append((self._last_frame + self.safe_timeout_s, "timeout"))
        # at the same instant the pump's own count ends the dispense first: a target of the syringe's
        # whole contents is delivered, not an empty-syringe alarm (ties judged to the nanosecond)
        seg.t_end, seg.why = min(ends, key=lambda end: (round(end[0], 9), END_ORDER.index(end[1])))

    def _start(self, now: float) -> None:
        v = self.infused_ml(now)
        self._run_v0 = v
        seg = _Segment(now, v, self._rate_ml_per_s())
        self._segments.append(seg)
        self._plan_end(seg)
        self._trim()

    def _change_rate(self, now: float) -> None:
        """A rate change while pumping: a new segment from now, the same run (target counted from its start)."""
        v = self.infused_ml(now)
        seg = _Segment(now, v, self._rate_ml_per_s())
        self._segments.append(seg)
        self._plan_end(seg)
        self._trim()

    def _stop(self, now: float) -> None:
        v = self.infused_ml(now)
        self._segments.append(_Segment(now, v, 0.0))
        self._trim()

    def _trim(self) -> None:
        # the physics reads back at most a run's worth of history: keep memory flat over days
        if len(self._segments) > 64:
            del self._segments[:-64]

    _run_v0 = 0.0

    def refill(self) -> None:
        """A full syringe is mounted (the operator's loading step): it can deliver its volume again."""
        now = self._clock()
        self._settle(now)
        self._filled_at_ml = self.infused_ml(now)

    # -- faults -----------------------------------------------------------------------------------
    def stall(self, at_ml: float | None = None) -> None:
        """The motor stalls now, or when ``at_ml`` (infused since power-up) is reached: pumping stops, ``A?S``."""
        now = self._clock()
        self._settle(now)
        seg = self._segments[-1]
        if at_ml is None:
            if seg.rate > 0 and now < seg.t_end:
                self._stop(now)
            self._alarm = "S"
            return
        self._stall_at_ml = at_ml
        if seg.rate > 0 and now < seg.t_end:
            self._change_rate(now)

    def inject_silence(self, on: bool) -> None:
        self._silent = on

    def inject_garbage(self, on: bool) -> None:
        self._garbage = on

    def drop_connection(self, n_exchanges: int = 1) -> None:
        self._drops = n_exchanges

    # -- the wire -------------------------------------------------------------------------------
    def handle(self, data: bytes) -> bytes:
        if self._drops > 0:
            self._drops -= 1
            self._buffer = b""
            raise ConnectionDropped("simulated NE-1000 dropped the connection")
        if self._silent:
            self._buffer = b""
            return b""
        self._buffer += data
        out = []
        while True:
            item = self._next_message()
            if item is None:
                break
            body, framed = item
            reply = self._reply(body, framed)
            if reply is not None:
                out.append(GARBAGE if self._garbage else reply)
        return b"".join(out)

    def _next_message(self) -> tuple[bytes | None, bool] | None:
        """The next complete message in the buffer: (body, framed); body None for a bad frame."""
        buf = self._buffer
        if not buf:
            return None
        if buf[0] == STX:
            if len(buf) < 2 or len(buf) < buf[1] + 1:
                return None
            total = buf[1] + 1
            frame, self._buffer = buf[:total], buf[total:]
            data, crc = frame[2:-3], (frame[-3] << 8) | frame[-2]
            if frame[-1] != ETX or crc16_xmodem(data) != crc:
                return None, True
            return data, True
        idx = buf.find(b"\r")
        if idx < 0:
            return None
        line, self._buffer = buf[:idx], buf[idx + 1 :]
        return line, False

    def _frame(self, text: str, framed: bool) -> bytes:
        data = text.encode("ascii")
        return safe_frame(data) if framed else bytes([STX]) + data + bytes([ETX])

    def _reply(self, body: bytes | None, framed: bool) -> bytes | None:
        now = self._clock()
        self._settle(now)
        in_safe = self.safe_timeout_s > 0
        if body is None:
            return self._frame(f"{self.address:02d}{self._status()}?COM", True)
        if in_safe and framed:
            self._last_frame = now  # a valid frame feeds the watchdog
            seg = self._segments[-1]
            if seg.rate > 0 and now < seg.t_end:
                self._plan_end(seg)
        text = body.decode("ascii", errors="replace").replace(" ", "").upper()
        addr = f"{self.address:02d}"
        digits = len(text) - len(text.lstrip("0123456789"))
        if digits:
            if int(text[:digits]) != self.address:
                return None  # another pump's command
            text = text[digits:]
        if in_safe and not framed and not text.startswith("SAF"):
            return self._frame(f"{addr}{self._status()}?COM", True)
        if self._alarm is not None:
            alarm, self._alarm = self._alarm, None
            return self._frame(f"{addr}A?{alarm}", framed)
        try:
            data = self._execute(text, now)
        except _Refused as exc:
            return self._frame(f"{addr}{self._status()}{exc.code}", framed)
        return self._frame(f"{addr}{self._status()}{data}", framed)

    def _status(self) -> str:
        seg = self._segments[-1]
        if seg.rate > 0 and self._clock() < seg.t_end:
            return "I" if self.direction == "INF" else "W"
        return "S"

    def _execute(self, text: str, now: float) -> str:
        pumping = self._status() != "S"
        if text == "":
            return ""
        if text == "VER":
            return self.firmware
        if text.startswith("DIA"):
            arg = text[3:]
            if not arg:
                return format_number(self.diameter_mm)
            if pumping:
                raise _Refused("?NA")
            self.diameter_mm = _number(arg, 0.1, 50.0)
            return ""
        if text.startswith("RAT"):
            arg = text[3:]
            if not arg:
                return f"{format_number(self.rate_value)}{self.rate_units}"
            units = arg[-2:]
            if units not in RATE_UNITS:
                raise _Refused("?")
            value = _number(arg[:-2], 0.0, 9999.0)
            if pumping and units != self.rate_units:
                raise _Refused("?NA")
            lo, hi = rate_range_ml_per_h(self.diameter_mm)
            ml_per_h = value * RATE_UNITS[units]
            if not lo * 0.999 <= ml_per_h <= hi * 1.001:
                raise _Refused("?OOR")
            self.rate_value, self.rate_units = value, units
            if pumping:
                self._change_rate(now)
            return ""
        if text.startswith("VOL"):
            arg = text[3:]
            if not arg:
                vol = 0.0 if self.target_ml is None else self.target_ml / VOLUME_UNITS[self.volume_units]
                return f"{format_number(vol)}{self.volume_units}"
            if arg in VOLUME_UNITS:
                self.volume_units = arg
                return ""
            value = _number(arg, 0.0, 9999.0) * VOLUME_UNITS[self.volume_units]
            if value > self.syringe_volume_ml * 1.0001:
                raise _Refused("?OOR")
            self.target_ml = value
            return ""
        if text.startswith("DIR"):
            arg = text[3:]
            if arg not in ("INF", "WDR", "REV"):
                raise _Refused("?")
            if pumping:
                raise _Refused("?NA")
            self.direction = {"REV": "WDR" if self.direction == "INF" else "INF"}.get(arg, arg)
            return ""
        if text == "RUN":
            if not pumping:
                if self.direction != "INF":
                    raise _Refused("?NA")  # withdrawing is not modelled: refused rather than faked
                self._start(now)
            return ""
        if text == "STP":
            if pumping:
                self._stop(now)
            return ""
        if text == "DIS":
            infused = self.infused_ml(now) - self._cleared_at_ml
            scale = VOLUME_UNITS[self.volume_units]
            return f"I{_shown(infused / scale)}W{_shown(self.withdrawn_ml / scale)}{self.volume_units}"
        if text.startswith("CLD"):
            arg = text[3:]
            if arg == "INF":
                self._cleared_at_ml = self.infused_ml(now)
            elif arg == "WDR":
                self.withdrawn_ml = 0.0
            else:
                raise _Refused("?")
            return ""
        if text.startswith("SAF"):
            arg = text[3:]
            if not arg:
                return str(self.safe_timeout_s)
            n = int(_number(arg, 0, 255))
            self.safe_timeout_s = n
            self._last_frame = now
            return ""
        raise _Refused("?")


def _shown(value: float) -> str:
    """A volume as the pump displays it: rounded to its digits, 0.000 below the last one."""
    return "0.000" if value < 0.0005 else format_number(value)


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _number(text: str, lo: float, hi: float) -> float:
    """A number as the pump reads it (at most 4 digits and a point, 3 decimals), within ``lo``-``hi``."""
    digits = text.replace(".", "")
    if not digits.isdigit() or text.count(".") > 1 or len(digits) > 4 or len(text.partition(".")[2]) > 3:
        raise _Refused("?")
    value = float(text)
    if not lo <= value <= hi:
        raise _Refused("?OOR")
    return value
