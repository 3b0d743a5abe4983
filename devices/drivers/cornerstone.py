"""Newport/Oriel Cornerstone 130/260 monochromators over RS-232 or USB.

Wire facts (from the Cornerstone manual):

* RS-232 at 9600 baud, 8N1, or USB (USBTMC); CR LF (``\\r\\n``) ends every command and reply.
* Quirk: on RS-232 the instrument echoes every character it receives (unless ``ECHO 0`` was
  sent), so a command ``GOWAVE 350.000`` is answered by its echo line ``GOWAVE 350.000`` and a
  query ``WAVE?`` by its echo line, then the answer line ``350.000``.  Over USB there is no
  echo; construct the driver with ``echo=False`` there.
* Commands: ``GOWAVE <nm>``, ``GRAT <n>``, ``SHUTTER O|C``, ``SLIT<n>MICRONS <µm>`` (n = 1
  entrance, 2 exit), ``FILTER <n>``, ``ABORT``.  Queries: ``WAVE?`` (nm, three decimals),
  ``GRAT?`` (``<number>,<lines/mm>,<blaze nm>``), ``SHUTTER?`` (``O``/``C``),
  ``SLIT<n>MICRONS?``, ``FILTER?``, ``INFO?`` (``Cornerstone 130 Ver 1.2.0``), ``STB?``,
  ``ERROR?``.
* Commands have no reply of their own: a failure is only seen as a pending error.  ``STB?`` bit 5
  (32) is set while one is pending; ``ERROR?`` returns its code and clears it (0 none,
  1 command not understood, 2 bad parameter, 3 destination position not allowed, 6 accessory
  not present, 8 could not home, 10 system error).

Our choices:

* After every command the driver reads ``STB?``; if bit 5 is set it reads ``ERROR?`` and raises
  :class:`MonochromatorError` (:class:`MonochromatorHomeError` for code 8).  Queries are not
  followed by ``STB?``.
* With ``echo=True`` the echo line must repeat the command exactly, else the reply is garbled
  (usually a driver set up for echo on a USB link, or the reverse).
* Numbers are sent as the instrument takes them: wavelength with three decimals
  (``GOWAVE 350.000``), slit widths in whole microns (``SLIT1MICRONS 1515``, rounded).
* :meth:`CornerstoneDriver.go_wave` and :meth:`CornerstoneDriver.set_grating` return once the
  move is over, polling ``WAVE?`` / ``GRAT?`` every ``move_poll_s`` of loop time; cancelling
  ``go_wave`` sends ``ABORT``, and an :meth:`CornerstoneDriver.abort` from another task ends
  a ``go_wave`` in progress with a :class:`MonochromatorError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from typing import Final

from labctl.devices.transports import GarbledReply, InstrumentNotResponding, Transport, TransportError

STB_ERROR: Final = 0x20
"""STB? bit 5: an error is pending (read it with ERROR?)."""

WAVELENGTH_TOLERANCE_NM: Final = 0.01

ERROR_MEANINGS: Final[dict[int, str]] = {
    0: "no error",
    1: "command not understood",
    2: "bad parameter",
    3: "destination position not allowed",
    6: "accessory not present",
    8: "could not home",
    10: "system error",
}

_ERROR_FIXES: Final[dict[int, str]] = {
    0: "check the monochromator and the move timeout",
    1: "check the command spelling and that this model supports it",
    2: (
        "the value is outside what the instrument takes; check the grating number, the filter "
        "position (1..6) and the slit width against the instrument's limits"
    ),
    3: (
        "the wavelength is outside the current grating's range; choose a wavelength the grating "
        "covers or select another grating with set_grating()"
    ),
    6: "the addressed accessory (filter wheel, motorised slit) is not installed; check the instrument's configuration",
    8: (
        "the wavelength drive could not find its home position; check that nothing blocks the "
        "grating turret, power-cycle the monochromator and retry"
    ),
    10: (
        "the controller reports an internal fault; power-cycle the monochromator and call Newport "
        "service if it persists"
    ),
}

_FLOAT_RE: Final = re.compile(r"-?\d+(?:\.\d+)?")
_INT_RE: Final = re.compile(r"\d+")
_GRAT_RE: Final = re.compile(r"(\d+)\s*,\s*(\d+)\s*,\s*(\d+)")


def describe_error(code: int) -> str:
    """The meaning of an ``ERROR?`` code, as the manual words it."""
    return ERROR_MEANINGS.get(code, "unknown error code")


class MonochromatorError(Exception):
    """The monochromator reported an error (``ERROR?`` code), or a move did not finish."""

    def __init__(self, message: str, *, code: int, command: str) -> None:
        super().__init__(message)
        self.code = code
        self.command = command


class MonochromatorHomeError(MonochromatorError):
    """Error 8: the wavelength drive could not home."""


class CornerstoneDriver:
    """Command set of a Newport/Oriel Cornerstone 130/260 monochromator.

    :param transport: the link; its terminations are set to CR LF.
    :param echo: True on RS-232 (the instrument echoes every line), False over USB.
    :param move_poll_s: loop-time interval between ``WAVE?``/``GRAT?`` polls while moving.
    :param move_timeout_s: loop time after which an unfinished move or grating change raises.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        echo: bool = True,
        move_poll_s: float = 0.1,
        move_timeout_s: float = 60.0,
    ) -> None:
        if not (math.isfinite(move_poll_s) and move_poll_s > 0):
            raise ValueError(f"move_poll_s={move_poll_s!r} must be a positive number of seconds, e.g. 0.1")
        if not (math.isfinite(move_timeout_s) and move_timeout_s > 0):
            raise ValueError(f"move_timeout_s={move_timeout_s!r} must be a positive number of seconds, e.g. 60")
        transport.write_termination = "\r\n"
        transport.read_termination = "\r\n"
        self.transport = transport
        self.echo = echo
        self.move_poll_s = float(move_poll_s)
        self.move_timeout_s = float(move_timeout_s)
        self._aborts = 0

    # -- low level ---------------------------------------------------------------------------
    def _where(self) -> str:
        return f"{self.transport.name} at {self.transport.address}"

    def _garbled(self, command: str, reply: str, expected: str) -> GarbledReply:
        raw = reply.encode("ascii", "backslashreplace")
        if not self.echo and reply.strip() == command:
            hint = "that is the echo of the command; the link echoes (RS-232), so construct the driver with echo=True"
        else:
            hint = "check the baud rate (9600 8N1), the cable and that the instrument is a Cornerstone 130/260"
        return GarbledReply(f"{self._where()} answered {command!r} with {raw!r}, expected {expected}; {hint}")

    def _check_echo(self, command: str, echo: str) -> None:
        if echo != command:
            raw = echo.encode("ascii", "backslashreplace")
            raise GarbledReply(
                f"{self._where()} answered {command!r} with {raw!r}, expected its echo {command!r}; "
                f"if the link does not echo (USB, or ECHO 0 was sent) construct the driver with "
                f"echo=False, else check the baud rate (9600 8N1) and the cable"
            )

    async def _echoed(self, command: str, n: int) -> list[str]:
        """Send ``command`` on an echoing link; return its ``n`` reply lines, the echo first."""
        try:
            lines = await self.transport.query_lines(command, n)
        except InstrumentNotResponding as exc:
            raise InstrumentNotResponding(
                f"{exc}; the driver waits for the RS-232 echo of every line: over USB, or after "
                f"ECHO 0, construct it with echo=False"
            ) from exc
        self._check_echo(command, lines[0])
        return lines

    async def _query(self, command: str) -> str:
        if not self.echo:
            return (await self.transport.query(command)).strip()
        return (await self._echoed(command, 2))[1].strip()

    async def _query_int(self, command: str, expected: str) -> int:
        reply = await self._query(command)
        if _INT_RE.fullmatch(reply) is None:
            raise self._garbled(command, reply, expected)
        return int(reply)

    async def _query_float(self, command: str, expected: str) -> float:
        reply = await self._query(command)
        if _FLOAT_RE.fullmatch(reply) is None:
            raise self._garbled(command, reply, expected)
        return float(reply)

    async def _command(self, command: str) -> None:
        """Send a command, then check ``STB?`` and raise the pending error, if any."""
        if self.echo:
            await self._echoed(command, 1)
        else:
            await self.transport.write(command)
        if await self.status_byte() & STB_ERROR:
            code = await self.error_code()
            if code != 0:
                raise self._error(command, code)

    def _error(self, command: str, code: int) -> MonochromatorError:
        fix = _ERROR_FIXES.get(code, "look the code up in the Cornerstone manual and power-cycle if it persists")
        message = f"{self._where()}: {command!r} failed with error {code} ({describe_error(code)}); {fix}"
        cls = MonochromatorHomeError if code == 8 else MonochromatorError
        return cls(message, code=code, command=command)

    # -- identification and read-backs ---------------------------------------------------------
    async def identify(self) -> str:
        """Model and firmware, e.g. ``Cornerstone 130 Ver 1.2.0``."""
        reply = await self._query("INFO?")
        if not reply or not reply.isprintable():
            raise self._garbled("INFO?", reply, "a model and firmware such as 'Cornerstone 130 Ver 1.2.0'")
        return reply

    async def wavelength(self) -> float:
        """Present wavelength (nm); during a move, where the drive is now."""
        return await self._query_float("WAVE?", "a wavelength in nm such as '350.000'")

    async def grating(self) -> tuple[int, int, int]:
        """The grating in the beam: (number, lines/mm, blaze nm)."""
        reply = await self._query("GRAT?")
        match = _GRAT_RE.fullmatch(reply)
        if match is None:
            raise self._garbled("GRAT?", reply, "'<number>,<lines/mm>,<blaze nm>' such as '1,1200,350'")
        return int(match[1]), int(match[2]), int(match[3])

    async def shutter_open(self) -> bool:
        reply = await self._query("SHUTTER?")
        if reply not in ("O", "C"):
            raise self._garbled("SHUTTER?", reply, "'O' (open) or 'C' (closed)")
        return reply == "O"

    async def slit_um(self, n: int = 1) -> float:
        """Width of slit ``n`` (1 entrance, 2 exit) in µm."""
        command = f"SLIT{_slit_number(n)}MICRONS?"
        return await self._query_float(command, "a slit width in µm such as '1515'")

    async def filter(self) -> int:
        """Filter-wheel position."""
        return await self._query_int("FILTER?", "a filter position such as '1'")

    async def status_byte(self) -> int:
        """``STB?``; bit 5 (:data:`STB_ERROR`) is set while an error is pending."""
        value = await self._query_int("STB?", "a status byte 0..255 such as '0' or '32'")
        if value > 255:
            raise self._garbled("STB?", str(value), "a status byte 0..255 such as '0' or '32'")
        return value

    async def error_code(self) -> int:
        """``ERROR?``: the pending error code (0 for none); reading it clears it."""
        return await self._query_int("ERROR?", "an error code such as '0'")

    # -- commands ------------------------------------------------------------------------------
    async def go_wave(self, nm: float) -> float:
        """Move to ``nm`` and wait until the drive is within 0.01 nm of it; return where it ended.

        Cancelling the call sends ``ABORT``; :meth:`abort` from another task ends it with a
        :class:`MonochromatorError`.
        """
        if isinstance(nm, bool) or not isinstance(nm, int | float) or not math.isfinite(nm) or nm < 0:
            raise ValueError(f"wavelength {nm!r} is not a wavelength in nm; pass a finite number >= 0, e.g. 350.0")
        command = f"GOWAVE {nm:.3f}"
        target = round(float(nm), 3)
        aborts = self._aborts
        loop = asyncio.get_running_loop()
        try:
            await self._command(command)
            deadline = loop.time() + self.move_timeout_s
            while True:
                here = await self.wavelength()
                if abs(here - target) <= WAVELENGTH_TOLERANCE_NM:
                    return here
                if self._aborts != aborts:
                    raise MonochromatorError(
                        f"{self._where()}: the move to {target:.3f} nm was aborted at {here:.3f} nm; "
                        f"call go_wave() again to reach the target",
                        code=0,
                        command=command,
                    )
                if loop.time() >= deadline:
                    raise MonochromatorError(
                        f"{self._where()}: the move to {target:.3f} nm did not finish within "
                        f"{self.move_timeout_s:g} s (last position {here:.3f} nm); check that the drive "
                        f"is free to move, or raise move_timeout_s",
                        code=0,
                        command=command,
                    )
                await asyncio.sleep(self.move_poll_s)
        except asyncio.CancelledError:
            with contextlib.suppress(TransportError, MonochromatorError):
                await self.abort()
            raise

    async def abort(self) -> None:
        """Stop the wavelength drive where it is."""
        self._aborts += 1
        await self._command("ABORT")

    async def set_grating(self, n: int) -> None:
        """Select grating ``n`` and wait until ``GRAT?`` reports it in the beam."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"grating {n!r} is not a grating number; pass an integer >= 1, e.g. 1")
        command = f"GRAT {n}"
        await self._command(command)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.move_timeout_s
        while True:
            number = (await self.grating())[0]
            if number == n:
                return
            if loop.time() >= deadline:
                raise MonochromatorError(
                    f"{self._where()}: grating {n} was not in the beam within {self.move_timeout_s:g} s "
                    f"(GRAT? still reports {number}); check the turret, or raise move_timeout_s",
                    code=0,
                    command=command,
                )
            await asyncio.sleep(self.move_poll_s)

    async def set_shutter(self, open_: bool) -> None:
        if not isinstance(open_, bool):
            raise ValueError(f"open_={open_!r} must be True (open the shutter) or False (close it)")
        await self._command(f"SHUTTER {'O' if open_ else 'C'}")

    async def set_slit_um(self, um: float, n: int = 1) -> None:
        """Set slit ``n`` (1 entrance, 2 exit) to ``um`` µm, rounded to whole microns."""
        if isinstance(um, bool) or not isinstance(um, int | float) or not math.isfinite(um) or um <= 0:
            raise ValueError(f"slit width {um!r} is not a width in µm; pass a finite number > 0, e.g. 1515")
        width = round(um)
        if width < 1:
            raise ValueError(f"slit width {um!r} µm rounds to 0 µm; the slits take whole microns, pass at least 1")
        await self._command(f"SLIT{_slit_number(n)}MICRONS {width}")

    async def set_filter(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"filter {n!r} is not a filter position; pass an integer >= 1, e.g. 1")
        await self._command(f"FILTER {n}")


def _slit_number(n: int) -> int:
    if isinstance(n, bool) or n not in (1, 2):
        raise ValueError(f"slit {n!r} does not exist; pass 1 (entrance) or 2 (exit)")
    return n
