"""Newport/Oriel arc-lamp power supplies (69907 OPS-A, 69911, 69920) over RS-232.

Wire facts (from the Oriel manual and three open drivers):

* 9600 baud, 8N1; a CR (``\\r``) ends every command and every reply.
* Queries: ``IDN?``, ``AMPS?``, ``VOLTS?``, ``WATTS?``, ``LAMP HRS?``, ``A-PRESET?``,
  ``P-PRESET?``, ``A-LIM?``, ``P-LIM?``; ``STB?`` answers ``STBxx`` and ``ESR?`` answers ``ESRxx``
  (two upper-case hex digits).
* Commands: ``START``, ``STOP``, ``RST``, ``A-PRESET=x.x`` (amps, one decimal), ``P-PRESET=nnnn``
  (watts, four digits, zero padded), ``A-LIM=x.x``, ``P-LIM=nnnn``, ``MODE=0|1`` (0 = power mode,
  1 = current mode), ``COMM=1|0`` (lock | unlock the front panel).
* Quirk: every command, not only the queries, is answered with an ``ESRxx`` line, so a command is
  an exchange (write, read one line) and its reply carries the event-status byte.
* STB bits: 7 lamp on, 6 ext, 5 power mode (0 = current mode), 4 cal, 3 fault, 2 front panel
  locked, 1 limit reached, 0 interlock OK (0 = interlock open).
* ESR bits: 7 power on, 6 user request, 5 command error, 4 execution error, 3 device error,
  2 query error, 1 request control, 0 operation complete.
* Ignition takes ~5-6 s after ``START`` (STB bit 7 goes high then); ``RST`` takes ~5 s; the mode
  changes only with the lamp off; a preset must not exceed its limit; ``START`` with the interlock
  open is refused (all three are execution errors).  Bits are decoded with masks (an open driver
  compared with ``>`` and misread the byte).

Our choices (not documented by the sources, kept identical in ``labctl.sim.instruments.oriel_lamp``):

* Reply formats: ``IDN?`` -> ``Newport Corporation,69907,<serial>,<firmware>``; ``AMPS?``,
  ``VOLTS?``, ``A-PRESET?``, ``A-LIM?`` -> one decimal (``12.3``); ``WATTS?`` -> integer watts
  (leading spaces tolerated, ``  300``); ``LAMP HRS?`` -> hours (integer, a decimal part is
  tolerated); ``P-PRESET?``, ``P-LIM?`` -> four digits (``0300``).
* The ESR byte is read-and-clear: a command's reply holds every event since the last ESR read.
  The informational bits (power on, user request, request control, operation complete) and a
  stale query error never make a command fail.  Command error, execution error and device error
  do, checked in that order (:class:`LampCommandError`, :class:`LampExecutionError`,
  :class:`LampDeviceError`); except that ``RST`` tolerates a device error, since a reset is how a
  latched fault is cleared.
* A query answered with ``ESRxx`` instead of a value (the unit refused it) raises the matching
  :class:`LampError` (:class:`LampQueryError` for the query-error bit).
* After an execution error the driver reads one more value to explain it (``P-LIM?`` after a
  refused ``P-PRESET``, ``STB?`` after a refused ``START`` ...); if that read fails, the message
  is generic.

The driver never sleeps: ignition and reset are followed by polling :meth:`OrielLampDriver.status`.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Final

from labctl.devices.transports import GarbledReply, Transport, TransportError

# -- status bytes ------------------------------------------------------------------------------

STB_LAMP_ON: Final = 0x80
STB_EXT: Final = 0x40
STB_POWER_MODE: Final = 0x20
STB_CAL: Final = 0x10
STB_FAULT: Final = 0x08
STB_FRONT_PANEL_LOCKED: Final = 0x04
STB_LIMIT_REACHED: Final = 0x02
STB_INTERLOCK_OK: Final = 0x01

ESR_POWER_ON: Final = 0x80
ESR_USER_REQUEST: Final = 0x40
ESR_COMMAND_ERROR: Final = 0x20
ESR_EXECUTION_ERROR: Final = 0x10
ESR_DEVICE_ERROR: Final = 0x08
ESR_QUERY_ERROR: Final = 0x04
ESR_REQUEST_CONTROL: Final = 0x02
ESR_OPERATION_COMPLETE: Final = 0x01

POWER_MAX_W: Final = 9999
CURRENT_MAX_A: Final = 99.9

_STB_RE: Final = re.compile(r"STB([0-9A-F]{2})")
_ESR_RE: Final = re.compile(r"ESR([0-9A-F]{2})")
_FLOAT_RE: Final = re.compile(r"\s*\d+(\.\d+)?\s*")
_INT_RE: Final = re.compile(r"\s*\d+\s*")

_ERROR_NAMES: Final = (
    (ESR_COMMAND_ERROR, "command error"),
    (ESR_EXECUTION_ERROR, "execution error"),
    (ESR_DEVICE_ERROR, "device error"),
    (ESR_QUERY_ERROR, "query error"),
)


class LampMode(enum.Enum):
    """Regulation mode; the value is the argument of ``MODE=``."""

    POWER = 0
    CURRENT = 1


@dataclass(frozen=True)
class LampStatus:
    """The status byte (``STB?``), decoded bit by bit."""

    raw: int
    lamp_on: bool
    ext: bool
    power_mode: bool
    cal: bool
    fault: bool
    front_panel_locked: bool
    limit_reached: bool
    interlock_ok: bool

    @classmethod
    def from_byte(cls, value: int) -> LampStatus:
        return cls(
            raw=value,
            lamp_on=bool(value & STB_LAMP_ON),
            ext=bool(value & STB_EXT),
            power_mode=bool(value & STB_POWER_MODE),
            cal=bool(value & STB_CAL),
            fault=bool(value & STB_FAULT),
            front_panel_locked=bool(value & STB_FRONT_PANEL_LOCKED),
            limit_reached=bool(value & STB_LIMIT_REACHED),
            interlock_ok=bool(value & STB_INTERLOCK_OK),
        )

    @property
    def mode(self) -> LampMode:
        return LampMode.POWER if self.power_mode else LampMode.CURRENT


@dataclass(frozen=True)
class EventStatus:
    """The event-status byte (``ESR?`` or a command's reply), decoded bit by bit."""

    raw: int
    power_on: bool
    user_request: bool
    command_error: bool
    execution_error: bool
    device_error: bool
    query_error: bool
    request_control: bool
    operation_complete: bool

    @classmethod
    def from_byte(cls, value: int) -> EventStatus:
        return cls(
            raw=value,
            power_on=bool(value & ESR_POWER_ON),
            user_request=bool(value & ESR_USER_REQUEST),
            command_error=bool(value & ESR_COMMAND_ERROR),
            execution_error=bool(value & ESR_EXECUTION_ERROR),
            device_error=bool(value & ESR_DEVICE_ERROR),
            query_error=bool(value & ESR_QUERY_ERROR),
            request_control=bool(value & ESR_REQUEST_CONTROL),
            operation_complete=bool(value & ESR_OPERATION_COMPLETE),
        )


@dataclass(frozen=True)
class LampIdentity:
    """The fields of the ``IDN?`` reply (missing trailing fields are empty strings)."""

    manufacturer: str
    model: str
    serial: str
    firmware: str


class LampError(Exception):
    """The supply refused a command or a query (an error bit in its event-status byte)."""

    def __init__(self, message: str, *, command: str, esr: int) -> None:
        super().__init__(message)
        self.command = command
        self.esr = esr


class LampCommandError(LampError):
    """ESR bit 5: the supply did not understand the command or its argument."""


class LampExecutionError(LampError):
    """ESR bit 4: the command was understood but cannot be carried out now."""


class LampDeviceError(LampError):
    """ESR bit 3: the supply reports a hardware fault (lamp failed, arc lost)."""


class LampQueryError(LampError):
    """ESR bit 2: the supply could not answer a query."""


def _describe(esr: int) -> str:
    names = [name for bit, name in _ERROR_NAMES if esr & bit]
    return ", ".join([f"ESR 0x{esr:02X}", *names])


class OrielLampDriver:
    """Command set of an Oriel 69907/69911/69920 arc-lamp power supply."""

    def __init__(self, transport: Transport) -> None:
        transport.write_termination = "\r"
        transport.read_termination = "\r"
        self.transport = transport
        self.last_event_status: EventStatus | None = None
        """The event status carried by the last command reply (or ``ESR?``), if any."""

    # -- low level ---------------------------------------------------------------------------
    def _garbled(self, command: str, reply: str, expected: str) -> GarbledReply:
        raw = reply.encode("ascii", "backslashreplace")
        return GarbledReply(
            f"{self.transport.name} at {self.transport.address} answered {command!r} with "
            f"{raw!r}, expected {expected}; check the baud rate (9600 8N1), the cable and that "
            f"the supply is an Oriel 69907/69911/69920"
        )

    def _raise_for_esr(self, command: str, esr: int, *, hint: str = "", tolerate: int = 0) -> None:
        errors = esr & ~tolerate
        desc = _describe(esr)
        if errors & ESR_COMMAND_ERROR:
            raise LampCommandError(
                f"{command} not understood ({desc}): the supply did not recognise the command "
                f"or its argument; check the command spelling and argument format for this model",
                command=command,
                esr=esr,
            )
        if errors & ESR_EXECUTION_ERROR:
            hint = hint or (
                "the supply cannot carry it out now (a reset takes ~5 s, the lamp may be "
                "igniting); read status() and retry"
            )
            raise LampExecutionError(f"{command} refused ({desc}): {hint}", command=command, esr=esr)
        if errors & ESR_DEVICE_ERROR:
            raise LampDeviceError(
                f"{command} answered with a device error ({desc}): the supply reports a hardware "
                f"fault (lamp failed or arc lost); the command may have been carried out; check "
                f"the lamp and send RST (reset()) to clear the fault",
                command=command,
                esr=esr,
            )

    def _parse_esr(self, command: str, reply: str) -> int:
        match = _ESR_RE.fullmatch(reply.strip())
        if match is None:
            raise self._garbled(command, reply, "'ESRxx' (two hex digits)")
        esr = int(match.group(1), 16)
        self.last_event_status = EventStatus.from_byte(esr)
        return esr

    async def _command(self, command: str, *, tolerate: int = 0) -> int:
        """Send a command, check its ``ESRxx`` reply and return the ESR byte."""
        reply = await self.transport.query(command)
        esr = self._parse_esr(command, reply)
        if esr & ESR_EXECUTION_ERROR and not esr & ESR_COMMAND_ERROR:
            hint = await self._explain_execution_error(command)
            self._raise_for_esr(command, esr, hint=hint, tolerate=tolerate)
        self._raise_for_esr(command, esr, tolerate=tolerate)
        return esr

    async def _query(self, command: str) -> str:
        """Send a query; an ``ESRxx`` reply in place of a value is the unit refusing it."""
        reply = await self.transport.query(command)
        match = _ESR_RE.fullmatch(reply.strip())
        if match is not None:
            esr = int(match.group(1), 16)
            self._raise_for_esr(command, esr)
            if esr & ESR_QUERY_ERROR:
                raise LampQueryError(
                    f"{command} not answered ({_describe(esr)}): the supply could not answer the "
                    f"query; check that this model supports it",
                    command=command,
                    esr=esr,
                )
            raise self._garbled(command, reply, "a value, not an event-status byte")
        return reply

    async def _query_float(self, command: str) -> float:
        reply = await self._query(command)
        if _FLOAT_RE.fullmatch(reply) is None:
            raise self._garbled(command, reply, "a decimal number such as '12.3'")
        return float(reply)

    async def _query_int(self, command: str) -> int:
        reply = await self._query(command)
        if _INT_RE.fullmatch(reply) is None:
            raise self._garbled(command, reply, "an integer such as '0300'")
        return int(reply)

    async def _explain_execution_error(self, command: str) -> str:
        """Best effort: read what made the supply refuse ``command``."""
        name, _, arg = command.partition("=")
        try:
            if name == "P-PRESET":
                limit = await self._query_int("P-LIM?")
                if int(arg) > limit:
                    return f"the preset must not exceed the power limit {limit} W; lower the preset or raise P-LIM"
            elif name == "P-LIM":
                preset = await self._query_int("P-PRESET?")
                if int(arg) < preset:
                    return (
                        f"the limit must not be below the power preset {preset} W; lower "
                        f"P-PRESET first or raise the limit"
                    )
            elif name == "A-PRESET":
                limit_a = await self._query_float("A-LIM?")
                if float(arg) > limit_a:
                    return (
                        f"the preset must not exceed the current limit {limit_a:.1f} A; lower the preset or raise A-LIM"
                    )
            elif name == "A-LIM":
                preset_a = await self._query_float("A-PRESET?")
                if float(arg) < preset_a:
                    return (
                        f"the limit must not be below the current preset {preset_a:.1f} A; "
                        f"lower A-PRESET first or raise the limit"
                    )
            elif name == "MODE":
                return "the mode can only change with the lamp off; STOP the lamp first"
            elif name == "START":
                status = await self.status()
                if not status.interlock_ok:
                    return (
                        "the interlock is open (STB bit 0 = 0); close the lamp housing and "
                        "check the interlock cable, then START again"
                    )
                if status.fault:
                    return "a fault is latched (STB bit 3); check the lamp, then RST and START"
        except (LampError, TransportError, ValueError):
            return ""
        return ""

    # -- identification and read-backs ---------------------------------------------------------
    async def identify(self) -> LampIdentity:
        reply = await self._query("IDN?")
        fields = [f.strip() for f in reply.split(",")]
        if len(fields) < 2 or len(fields) > 4 or not all(f.isprintable() for f in fields):
            raise self._garbled("IDN?", reply, "'Newport Corporation,<model>,<serial>,<fw>'")
        fields += [""] * (4 - len(fields))
        return LampIdentity(*fields)

    async def amps(self) -> float:
        """Lamp current (A); 0 while the lamp is off."""
        return await self._query_float("AMPS?")

    async def volts(self) -> float:
        """Lamp voltage (V)."""
        return await self._query_float("VOLTS?")

    async def watts(self) -> float:
        """Electrical power into the lamp (W)."""
        return await self._query_float("WATTS?")

    async def lamp_hours(self) -> float:
        """Hours the lamp has been lit, as counted by the supply."""
        return await self._query_float("LAMP HRS?")

    async def current_preset(self) -> float:
        return await self._query_float("A-PRESET?")

    async def power_preset(self) -> int:
        return await self._query_int("P-PRESET?")

    async def current_limit(self) -> float:
        return await self._query_float("A-LIM?")

    async def power_limit(self) -> int:
        return await self._query_int("P-LIM?")

    async def status(self) -> LampStatus:
        reply = await self.transport.query("STB?")
        match = _STB_RE.fullmatch(reply.strip())
        if match is None:
            raise self._garbled("STB?", reply, "'STBxx' (two hex digits)")
        return LampStatus.from_byte(int(match.group(1), 16))

    async def event_status(self) -> EventStatus:
        """Read (and thereby clear) the event-status byte."""
        reply = await self.transport.query("ESR?")
        return EventStatus.from_byte(self._parse_esr("ESR?", reply))

    async def mode(self) -> LampMode:
        """Regulation mode, from STB bit 5."""
        return (await self.status()).mode

    # -- settings ------------------------------------------------------------------------------
    async def set_current_preset(self, amps: float) -> None:
        await self._command(f"A-PRESET={_format_amps(amps, 'current preset')}")

    async def set_power_preset(self, watts: int) -> None:
        await self._command(f"P-PRESET={_format_watts(watts, 'power preset')}")

    async def set_current_limit(self, amps: float) -> None:
        await self._command(f"A-LIM={_format_amps(amps, 'current limit')}")

    async def set_power_limit(self, watts: int) -> None:
        await self._command(f"P-LIM={_format_watts(watts, 'power limit')}")

    async def set_mode(self, mode: LampMode) -> None:
        if not isinstance(mode, LampMode):
            raise ValueError(f"mode {mode!r} is not a LampMode; pass LampMode.POWER or LampMode.CURRENT")
        await self._command(f"MODE={mode.value}")

    async def lock_front_panel(self, locked: bool) -> None:
        if not isinstance(locked, bool):
            raise ValueError(f"locked={locked!r} must be True (lock) or False (unlock)")
        await self._command(f"COMM={1 if locked else 0}")

    # -- actions -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Ignite the lamp; it is lit ~5-6 s later (poll :meth:`status`)."""
        await self._command("START")

    async def stop(self) -> None:
        await self._command("STOP")

    async def reset(self) -> None:
        """Reset the supply (lamp off, latched fault cleared); it is busy for ~5 s."""
        await self._command("RST", tolerate=ESR_DEVICE_ERROR)


def _format_watts(value: float, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} {value!r} is not a number of watts; pass an integer 0..9999")
    if value != int(value):
        raise ValueError(
            f"{what} {value!r} W is not a whole number of watts; the supply takes integer "
            f"watts 0..{POWER_MAX_W}; round it to {round(value)}"
        )
    if not 0 <= value <= POWER_MAX_W:
        raise ValueError(
            f"{what} {value!r} W is out of range: the supply takes 0..{POWER_MAX_W} W; choose a value in that range"
        )
    return f"{int(value):04d}"


def _format_amps(value: float, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} {value!r} is not a number of amps; pass 0..{CURRENT_MAX_A}")
    if not 0 <= value <= CURRENT_MAX_A + 1e-9:
        raise ValueError(
            f"{what} {value!r} A is out of range: the supply takes 0..{CURRENT_MAX_A} A; choose a value in that range"
        )
    if abs(value - round(value, 1)) > 1e-9:
        raise ValueError(
            f"{what} {value!r} A has more than one decimal: the supply takes 0.1 A steps; round "
            f"it to {round(value, 1):.1f}"
        )
    return f"{value:.1f}"
