"""New Era NE-1000 family syringe pumps (NE-300, NE-1000, NE-4000) over RS-232: the wire protocol.

Basic mode [M, D2]: the host sends ``[addr]CMD[args]`` and a CR; the pump answers
``STX <2-digit address><status>[data] ETX`` (0x02 ... 0x03), e.g. ``\\x0200S\\x03`` or
``\\x0200I2.000MH\\x03``.  Status letters: I infusing, W withdrawing, S stopped, P paused, T pause
phase, U waiting for a trigger, X purging.  An alarm replaces the reply to the next command, which
is then *not* executed, and clears: ``A?R`` reset, ``A?S`` stalled, ``A?T`` safe-mode timeout,
``A?E`` program error, ``A?O`` out of range.  Errors follow the status: ``?`` unknown command,
``?NA`` not applicable, ``?OOR`` out of range, ``?COM`` framing, ``?IGN`` ignored.

Safe mode [M]: every message is ``STX <len> <data> <CRC-16/XMODEM of data, high byte first> ETX``
with ``len`` = len(data) + 4 (it counts itself, the CRC and the ETX); replies too.  Frames are read
by their length byte, since the CRC bytes may equal STX or ETX.  ``SAF n`` (sent in basic mode) sets
an n-second watchdog (1-255 s): a pump that hears no valid frame for n s while it pumps stops by
itself and answers the next command with ``A?T``.  ``SAF 0`` goes back to basic mode.

Numbers [M]: at most four digits and a decimal point, at most three decimals.  Rates carry units
``UM`` µL/min, ``MM`` mL/min, ``UH`` µL/h, ``MH`` mL/h; a rate may change while pumping but its
units may not.  ``VOL`` takes a number (in the volume units, ``VOL UL|ML``); ``VOL 0`` pumps until
stopped.  ``DIS`` answers ``I<infused>W<withdrawn><UL|ML>``.  ``*RESET`` (which wipes the stored
program) is never sent.

The rate range of a syringe [I]: the pump's plunger speed range times the syringe's cross-section,
with the speeds derived from New Era's quoted pumping-rate range for the NE-1000 (0.73 µL/h with a
1 mL syringe of 4.699 mm, 2100 mL/h with a 60 mL syringe of 26.59 mm): see
:data:`PLUNGER_SPEED_CM_PER_H`.  Check them against the manual of the model at hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

STX: Final = 0x02
ETX: Final = 0x03
CR: Final = b"\r"

STATUS: Final = {
    "I": "infusing",
    "W": "withdrawing",
    "S": "stopped",
    "P": "paused",
    "T": "pause phase",
    "U": "waiting for trigger",
    "X": "purging",
}
ALARMS: Final = {
    "R": "pump reset (power was interrupted)",
    "S": "motor stalled (the plunger is blocked or the syringe is empty)",
    "T": "safe-mode timeout (no valid command within the watchdog time)",
    "E": "pumping program error",
    "O": "pumping program parameter out of range",
}
ERRORS: Final = {
    "?": "unrecognised command",
    "?NA": "command not applicable now",
    "?OOR": "value out of range",
    "?COM": "invalid communications frame",
    "?IGN": "command ignored (a new phase started)",
}
RATE_UNITS: Final = {"UM": 60e-3, "MM": 60.0, "UH": 1e-3, "MH": 1.0}  # -> mL/h
VOLUME_UNITS: Final = {"UL": 1e-3, "ML": 1.0}  # -> mL

# [I] derived from New Era's quoted NE-1000 range (module docstring): cm of plunger travel per hour.
_AREA_1ML_CM2 = math.pi * (0.4699 / 2) ** 2
_AREA_60ML_CM2 = math.pi * (2.659 / 2) ** 2
PLUNGER_SPEED_CM_PER_H: Final = (0.73e-3 / _AREA_1ML_CM2, 2100.0 / _AREA_60ML_CM2)
MAX_NUMBER: Final = 9999.0
SAFE_TIMEOUT_RANGE_S: Final = (1, 255)


class PumpError(Exception):
    """Base class of the pump's errors."""


class PumpCommandError(PumpError):
    """The pump refused a command (``?``, ``?NA``, ``?OOR``, ``?COM``, ``?IGN``)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class PumpAlarm(PumpError):
    """An alarm replaced the reply (the command was not executed): ``code`` is R, S, T, E or O."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = ALARMS.get(code, f"alarm {code}")


class PumpReplyError(PumpError):
    """A reply that is not a valid frame (wrong address, bad CRC, garbage)."""


def crc16_xmodem(data: bytes) -> int:
    """CRC-16/XMODEM (polynomial 0x1021, initial 0, no reflection)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def safe_frame(data: bytes) -> bytes:
    """A safe-mode frame of ``data``: STX, length, data, CRC (high byte first), ETX."""
    crc = crc16_xmodem(data)
    return bytes([STX, len(data) + 4]) + data + bytes([crc >> 8, crc & 0xFF, ETX])


def basic_frame_end(buffer: bytes) -> int | None:
    """Length of a complete basic-mode reply at the start of ``buffer`` (up to its ETX), or None."""
    idx = buffer.find(bytes([ETX]))
    return None if idx < 0 else idx + 1


def safe_frame_end(buffer: bytes) -> int | None:
    """Length of a complete safe-mode frame at the start of ``buffer`` (read by its length byte), or None."""
    if len(buffer) < 2:
        return None
    total = buffer[1] + 1  # the length byte counts everything after the STX
    return total if len(buffer) >= total else None


def unframe_safe(frame: bytes) -> bytes:
    """The data of a safe-mode frame, its length and CRC checked."""
    if len(frame) < 5 or frame[0] != STX or frame[-1] != ETX or frame[1] != len(frame) - 1:
        raise PumpReplyError(f"not a safe-mode frame: {frame!r}")
    data, crc = frame[2:-3], (frame[-3] << 8) | frame[-2]
    if crc16_xmodem(data) != crc:
        raise PumpReplyError(
            f"safe-mode frame {frame!r} has a bad CRC (0x{crc:04X}, computed 0x{crc16_xmodem(data):04X})"
        )
    return data


def format_number(value: float, *, what: str = "value") -> str:
    """``value`` as the pump takes it: at most 4 digits and a point, at most 3 decimals (``2.000``, ``19.13``)."""
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{what} {value!r} must be a finite number >= 0")
    if value >= MAX_NUMBER + 0.5:
        raise ValueError(f"{what} {value:g} has more than 4 digits; the pump takes at most {MAX_NUMBER:g}")
    digits = len(str(int(value))) if value >= 1 else 1
    decimals = max(0, min(3, 4 - digits))
    text = f"{value:.{decimals}f}"
    if len(text.replace(".", "")) > 4:  # rounding carried into a fifth digit (999.96 -> 1000.0)
        text = f"{value:.{decimals - 1}f}" if decimals else text
    if float(text) == 0 and value > 0:
        raise ValueError(f"{what} {value:g} is below 0.001, the smallest number the pump takes; use smaller units")
    return text


def rate_range_ml_per_h(diameter_mm: float) -> tuple[float, float]:
    """(slowest, fastest) rate in mL/h the NE-1000 gives with a syringe of ``diameter_mm`` inner diameter."""
    area_cm2 = math.pi * (diameter_mm / 20.0) ** 2
    lo, hi = PLUNGER_SPEED_CM_PER_H
    return lo * area_cm2, hi * area_cm2


def rate_with_units(ml_per_h: float, units: str | None = None) -> tuple[str, str]:
    """The number and units to send for a rate: the given units, or the ones that keep the most digits."""
    choices = [units] if units else ["MH", "UH", "MM", "UM"]
    last: ValueError | None = None
    best: tuple[int, str, str] | None = None
    for u in choices:
        value = ml_per_h / RATE_UNITS[u]
        try:
            text = format_number(value, what="rate")
        except ValueError as exc:
            last = exc
            continue
        significant = len(text.replace(".", "").lstrip("0"))
        if best is None or significant > best[0]:
            best = (significant, text, u)
    if best is None:
        raise ValueError(f"rate {ml_per_h:g} mL/h cannot be written in {'/'.join(choices)}: {last}")
    return best[1], best[2]


@dataclass(frozen=True)
class PumpStatus:
    """The status letter of a reply and its data."""

    code: str
    data: str

    @property
    def text(self) -> str:
        return STATUS.get(self.code, self.code)

    @property
    def pumping(self) -> bool:
        return self.code in ("I", "W", "X")


class NE1000:
    """One NE-1000 family pump on a transport (basic mode, or safe mode once :meth:`enable_safe_mode` ran).

    :param transport: the pump's line (any :class:`labctl.devices.transports.Transport`).
    :param address: the pump's network address, 0-99 (``ADR`` on the pump).
    :param safe_mode: whether the device should switch the pump to safe mode on connect.
    """

    def __init__(self, transport: Any, *, address: int = 0, safe_mode: bool = False, name: str = "pump") -> None:
        if not 0 <= address <= 99:
            raise ValueError(f"{name}: address {address} must be 0-99 (the pump's ADR setting)")
        self.transport = transport
        self.address = address
        self.safe_mode = safe_mode
        self.name = name
        self._framed = False  # True once the pump speaks safe mode
        self._rate_units: str | None = None

    # -- framing ------------------------------------------------------------------------------
    def _encode(self, command: str) -> tuple[bytes, Callable[[bytes], int | None]]:
        body = f"{self.address:02d}{command}".encode("ascii")
        if self._framed:
            return safe_frame(body), safe_frame_end
        return body + CR, basic_frame_end

    def _decode(self, raw: bytes, command: str) -> PumpStatus:
        if self._framed:
            data = unframe_safe(raw)
        else:
            if not raw or raw[0] != STX or raw[-1] != ETX:
                raise PumpReplyError(f"{self.name}: reply {raw!r} to {command!r} is not STX ... ETX")
            data = raw[1:-1]
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise PumpReplyError(f"{self.name}: undecodable reply {raw!r} to {command!r}") from exc
        if len(text) < 3 or text[:2] != f"{self.address:02d}":
            raise PumpReplyError(f"{self.name}: reply {raw!r} to {command!r} is not from address {self.address:02d}")
        code, rest = text[2], text[3:]
        if code == "A" and rest.startswith("?"):
            alarm = rest[1:]
            raise PumpAlarm(
                f"{self.name}: alarm A?{alarm}: {ALARMS.get(alarm, 'unknown alarm')} (the command {command!r} was "
                "not executed)",
                alarm,
            )
        if rest.startswith("?"):
            raise PumpCommandError(f"{self.name}: {command!r} refused: {ERRORS.get(rest, rest)} ({rest})", rest)
        return PumpStatus(code, rest)

    async def command(self, command: str) -> PumpStatus:
        """Send one command; its status and data (alarms and errors raised)."""
        data, end = self._encode(command)
        raw = await self.transport.query_frame(data, end)
        return self._decode(raw, command)

    # -- commands -----------------------------------------------------------------------------
    async def status(self) -> PumpStatus:
        """The status (an empty command is a status poll)."""
        return await self.command("")

    async def version(self) -> str:
        return (await self.command("VER")).data

    async def set_diameter(self, mm: float) -> None:
        await self.command(f"DIA{format_number(mm, what='diameter')}")

    async def diameter(self) -> float:
        return float((await self.command("DIA")).data)

    async def set_rate(self, ml_per_h: float) -> None:
        """Set the rate; while pumping the units in use are kept (the pump refuses a change of units)."""
        st = await self.status()
        keep = self._rate_units if st.pumping else None
        number, units = rate_with_units(ml_per_h, keep)
        await self.command(f"RAT{number}{units}")
        self._rate_units = units

    async def rate(self) -> float:
        """The rate in mL/h."""
        data = (await self.command("RAT")).data
        units = data[-2:]
        if units not in RATE_UNITS:
            raise PumpReplyError(f"{self.name}: rate reply {data!r} has no units UM/MM/UH/MH")
        self._rate_units = units
        return float(data[:-2]) * RATE_UNITS[units]

    async def set_volume(self, ml: float) -> None:
        """The volume to pump (mL; 0 pumps until stopped); sent in mL, or in µL below 1 mL for precision."""
        units = "UL" if 0 < ml < 1.0 else "ML"
        await self.command(f"VOL{units}")
        await self.command(f"VOL{format_number(ml / VOLUME_UNITS[units], what='volume')}")

    async def set_direction(self, direction: str) -> None:
        if direction not in ("INF", "WDR", "REV"):
            raise ValueError(f"{self.name}: direction {direction!r} must be INF, WDR or REV")
        await self.command(f"DIR{direction}")

    async def run(self) -> None:
        await self.command("RUN")

    async def stop(self) -> None:
        await self.command("STP")

    async def dispensed(self) -> tuple[float, float]:
        """(infused, withdrawn) in mL since the last clear."""
        data = (await self.command("DIS")).data
        try:
            i_at, w_at = data.index("I"), data.index("W")
            units = data[-2:]
            infused, withdrawn = float(data[i_at + 1 : w_at]), float(data[w_at + 1 : -2])
            scale = VOLUME_UNITS[units]
        except (ValueError, KeyError) as exc:
            raise PumpReplyError(f"{self.name}: dispensed reply {data!r} is not I<v>W<v><UL|ML>") from exc
        return infused * scale, withdrawn * scale

    async def clear_dispensed(self) -> None:
        await self.command("CLDINF")
        await self.command("CLDWDR")

    async def enable_safe_mode(self, timeout_s: float) -> None:
        """``SAF n`` (sent in basic mode); every later exchange uses safe-mode frames."""
        n = round(timeout_s)
        lo, hi = SAFE_TIMEOUT_RANGE_S
        if not lo <= n <= hi:
            raise ValueError(f"{self.name}: safe-mode timeout {timeout_s:g} s must be {lo}-{hi} s")
        self._framed = False
        await self.command(f"SAF{n}")
        self._framed = True
