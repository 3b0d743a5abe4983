"""Thorlabs DC2200 high-power LED driver over VISA (USBTMC, SCPI): the command set, no Bluesky.

Wire facts (from Thorlabs' "DC2200 with PyVISA.py" example):

* USBTMC, VISA resource ``USB0::0x1313::0x80C8::<serial>::INSTR``; SCPI lines end with LF.
* ``*IDN?``; ``SOURCE1:MODE CC|CB|PWM`` (constant current, constant brightness, PWM);
  ``SOURCE1:CCURENT:CURRENT <A>`` (sic, one R: the firmware's spelling; other firmware accepts
  ``SOURCE1:CCURRENT:CURRENT``); ``SOURCE1:CBRIGHTNESS:BRIGHTNESS <%>``;
  ``OUTPUT1:STATE ON|OFF`` and ``OUTPUT1:STATE?`` -> ``1``/``0``; ``SENSE3:CURRENT:DATA?`` (the
  LED current actually applied, A); ``SOURCE1:CURRENT:LIMIT <A>`` and ``SOURCE1:CURRENT:LIMIT?``.
* Commands are not answered.  Errors go to the SCPI error queue, read with ``SYSTEM:ERROR?``
  one entry at a time (``-222,"Data out of range"``) until ``0,"No error"``.
* Long and short header forms differ between firmware versions, so the driver must not depend
  on one spelling.

Our choices (not in the sources; the same in ``labctl.sim.instruments.dc2200`` and ``dc2200.yaml``):

* After every command the driver drains ``SYSTEM:ERROR?`` until ``0``; a non-zero first entry
  raises :class:`LedError` with the instrument's own text, the command and a fix.
* Spelling fallback: the constant-current setpoint is tried as ``SOURCE1:CCURENT:CURRENT``, then
  ``SOURCE1:CCURRENT:CURRENT``, then the short form ``SOUR1:CCUR:CURR`` (SCPI short forms are
  the same for both spellings).  A ``-113`` (undefined header) moves to the next spelling; the
  first one accepted is remembered for the setter and the query.  A query with an unknown
  header is not answered at all (SCPI), so a query falls back only after the transport gives up
  (:class:`InstrumentNotResponding`) and ``SYSTEM:ERROR?`` then shows ``-113``: on real VISA
  that costs the transport's timeout and retries once per session, never again.  Setting the
  current first (as :class:`labctl.devices.led.LedSource` does) learns the spelling without that cost.
* PWM commands ``SOURCE1:PWM:CURRENT``, ``SOURCE1:PWM:FREQUENCY``, ``SOURCE1:PWM:DCYCLE`` (duty
  cycle, %) follow the same tree; they are unverified against a manual.  :meth:`set_pwm` sets
  the three values, not the mode.
* Numbers sent: amps with 4 decimals (0.1 mA), percent with 2, hertz with 1.  Numbers read:
  any SCPI decimal (``0.5``, ``5.000000E-01``), nothing else.  ``OUTPUT1:STATE?`` may answer
  ``1``/``0`` or ``ON``/``OFF`` (pyvisa-sim can only echo what was set).
* Values the instrument can never take (negative or non-finite currents, currents above
  10 A, percentages outside 0-100, frequencies outside 1 Hz-20 kHz, an unknown mode) raise
  :class:`LedLimitError` before anything is sent.  The 10 A and 1 Hz-20 kHz bounds are ours,
  chosen wide; check them against the manual of the unit at hand.  The LED
  head's own limit is the instrument's business (``SOURCE1:CURRENT:LIMIT``) and the device's
  (bench ``max_current``).

A pyvisa-sim description of the static SCPI surface ships beside this module
(:func:`pyvisa_sim_file`, resource :data:`SIM_RESOURCE`).
"""

from __future__ import annotations

import math
import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Final

from labctl.devices.transports import GarbledReply, InstrumentNotResponding, Transport

SIM_RESOURCE: Final = "USB0::0x1313::0x80C8::M00000001::INSTR"
"""The VISA resource of the DC2200 described by :func:`pyvisa_sim_file`."""

MODES: Final = ("CC", "CB", "PWM")
DRIVER_MAX_CURRENT_A: Final = 10.0
PWM_FREQUENCY_RANGE_HZ: Final = (1.0, 20_000.0)

NO_ERROR: Final = 0
UNDEFINED_HEADER: Final = -113
MAX_ERRORS_DRAINED: Final = 32

# Spellings of each setting, tried in order until one is not an undefined header.
_SPELLINGS: Final[dict[str, tuple[str, ...]]] = {
    "mode": ("SOURCE1:MODE",),
    "cc_current": ("SOURCE1:CCURENT:CURRENT", "SOURCE1:CCURRENT:CURRENT", "SOUR1:CCUR:CURR"),
    "brightness": ("SOURCE1:CBRIGHTNESS:BRIGHTNESS",),
    "pwm_current": ("SOURCE1:PWM:CURRENT",),
    "pwm_frequency": ("SOURCE1:PWM:FREQUENCY",),
    "pwm_duty": ("SOURCE1:PWM:DCYCLE",),
    "output": ("OUTPUT1:STATE",),
    "applied_current": ("SENSE3:CURRENT:DATA",),
    "current_limit": ("SOURCE1:CURRENT:LIMIT",),
}

_NUMBER_RE: Final = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")
_ERROR_RE: Final = re.compile(r'\s*([+-]?\d+)\s*,\s*"([^"]*)"\s*')

_FIXES: Final[dict[int, str]] = {
    -100: "the command was not accepted; check its spelling and argument against the DC2200 manual",
    -104: "the argument has the wrong type; send a plain decimal number",
    -109: "the command needs an argument; send one",
    -113: "this firmware does not know the command header; check the spelling for this firmware version",
    -221: (
        "the value conflicts with another setting (a current above SOURCE1:CURRENT:LIMIT, or a limit below "
        "the setpoint); lower the current or raise the limit, within the LED head's maximum"
    ),
    -222: "the value is outside the instrument's range for the connected LED head; choose a value within it",
    -224: "the argument is not one of the allowed values; check the manual",
    -300: "the instrument reports a hardware problem; check that the LED head is connected and its cable seated",
    -350: "errors were lost (queue overflow); read errors() more often and send *CLS",
}


class LedError(Exception):
    """The DC2200 reported an error in its SCPI queue after a command.

    :ivar code: the SCPI error code of the first error (e.g. -222).
    :ivar command: the command line that caused it.
    :ivar instrument_message: the instrument's own text (``Data out of range``).
    :ivar errors: every entry drained from the queue, first first.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int,
        command: str,
        instrument_message: str = "",
        errors: tuple[tuple[int, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.command = command
        self.instrument_message = instrument_message
        self.errors = errors


class LedLimitError(ValueError):
    """A value the DC2200 can never take, refused before anything is sent."""


def pyvisa_sim_file() -> Traversable:
    """The pyvisa-sim device file of the DC2200 (open with ``pyvisa.ResourceManager(f"{path}@sim")``)."""
    return files("labctl.devices.drivers") / "dc2200.yaml"


class DC2200Driver:
    """Command set of a Thorlabs DC2200 LED driver (channel 1); see the module docstring."""

    def __init__(self, transport: Transport, *, name: str = "led") -> None:
        transport.write_termination = "\n"
        transport.read_termination = "\n"
        self.transport = transport
        self.name = name
        self._spelling: dict[str, int] = {}  # setting -> index into _SPELLINGS, once confirmed

    # -- low level ---------------------------------------------------------------------------
    def _where(self) -> str:
        return f"{self.name} (DC2200 at {self.transport.address})"

    def _garbled(self, command: str, reply: str, expected: str) -> GarbledReply:
        raw = reply.encode("ascii", "backslashreplace")
        return GarbledReply(
            f"{self._where()} answered {command!r} with {raw!r}, expected {expected}; check that the "
            f"resource is a Thorlabs DC2200 and that the read termination is LF"
        )

    def _header(self, key: str) -> str:
        return _SPELLINGS[key][self._spelling.get(key, 0)]

    def _can_fall_back(self, key: str, index: int) -> bool:
        return key not in self._spelling and index + 1 < len(_SPELLINGS[key])

    def _error(self, command: str, errors: list[tuple[int, str]]) -> LedError:
        code, text = errors[0]
        fix = _FIXES.get(code, "see the error list in the DC2200 manual; *CLS clears the queue")
        more = f" (then {', '.join(f'{c},{t!r}' for c, t in errors[1:])})" if len(errors) > 1 else ""
        return LedError(
            f'{self._where()} refused {command!r}: {code},"{text}"{more}; {fix}',
            code=code,
            command=command,
            instrument_message=text,
            errors=tuple(errors),
        )

    async def _read_error(self) -> tuple[int, str]:
        reply = await self.transport.query("SYSTEM:ERROR?")
        match = _ERROR_RE.fullmatch(reply)
        if match is None:
            raise self._garbled("SYSTEM:ERROR?", reply, "'<code>,\"<message>\"' such as '0,\"No error\"'")
        return int(match.group(1)), match.group(2)

    async def errors(self) -> list[tuple[int, str]]:
        """Drain the SCPI error queue (``SYSTEM:ERROR?`` until code 0); [] when it was empty."""
        found: list[tuple[int, str]] = []
        for _ in range(MAX_ERRORS_DRAINED):
            code, text = await self._read_error()
            if code == NO_ERROR:
                break
            found.append((code, text))
        return found

    async def _set(self, key: str, argument: str) -> None:
        """Send one setting, then check the error queue; fall back to another spelling on -113."""
        index = self._spelling.get(key, 0)
        while True:
            command = f"{_SPELLINGS[key][index]} {argument}"
            await self.transport.write(command)
            errors = await self.errors()
            if errors and errors[0][0] == UNDEFINED_HEADER and self._can_fall_back(key, index):
                index += 1
                continue
            if errors:
                raise self._error(command, errors)
            self._spelling[key] = index
            return

    async def _ask(self, key: str) -> str:
        """Send one query; fall back to another spelling if it goes unanswered with a -113 queued."""
        index = self._spelling.get(key, 0)
        while True:
            query = f"{_SPELLINGS[key][index]}?"
            try:
                reply = await self.transport.query(query)
            except InstrumentNotResponding:
                if not self._can_fall_back(key, index):
                    raise
                errors = await self.errors()
                if not any(code == UNDEFINED_HEADER for code, _ in errors):
                    raise
                index += 1
                continue
            if len(_SPELLINGS[key]) > 1:
                self._spelling[key] = index
            return reply

    async def _ask_float(self, key: str) -> float:
        reply = await self._ask(key)
        if _NUMBER_RE.fullmatch(reply) is None:
            raise self._garbled(f"{self._header(key)}?", reply, "a decimal number such as '5.000000E-01'")
        return float(reply)

    # -- identification ----------------------------------------------------------------------
    async def identify(self) -> str:
        """The ``*IDN?`` reply, ``Thorlabs,DC2200,<serial>,<firmware>``."""
        reply = (await self.transport.query("*IDN?")).strip()
        fields = reply.split(",")
        if len(fields) < 2 or not reply.isprintable() or not all(f.strip() for f in fields[:2]):
            raise self._garbled("*IDN?", reply, "'Thorlabs,DC2200,<serial>,<firmware>'")
        return reply

    # -- mode --------------------------------------------------------------------------------
    async def mode(self) -> str:
        """``"CC"`` (constant current), ``"CB"`` (constant brightness) or ``"PWM"``."""
        reply = (await self._ask("mode")).strip().upper()
        if reply not in MODES:
            raise self._garbled("SOURCE1:MODE?", reply, "CC, CB or PWM")
        return reply

    async def set_mode(self, mode: str) -> None:
        value = str(mode).strip().upper()
        if value not in MODES:
            raise LedLimitError(
                f"{self.name}: mode {mode!r} is not a DC2200 mode (allowed: CC, CB, PWM); pass one of those"
            )
        await self._set("mode", value)

    # -- constant current ---------------------------------------------------------------------
    async def current_setpoint(self) -> float:
        """Constant-current setpoint (A)."""
        return await self._ask_float("cc_current")

    async def set_current(self, amps: float) -> None:
        """Constant-current setpoint (A); the instrument refuses it above its current limit (-221)."""
        await self._set("cc_current", _amps(self.name, amps, "current setpoint"))

    # -- constant brightness --------------------------------------------------------------------
    async def brightness(self) -> float:
        """Constant-brightness setpoint (% of the current limit)."""
        return await self._ask_float("brightness")

    async def set_brightness(self, percent: float) -> None:
        await self._set("brightness", _percent(self.name, percent, "brightness"))

    # -- PWM --------------------------------------------------------------------------------------
    async def set_pwm(self, *, current_a: float, frequency_hz: float, duty_percent: float) -> None:
        """PWM peak current (A), frequency (Hz) and duty cycle (%); the mode is not changed."""
        current = _amps(self.name, current_a, "PWM current")
        frequency = _hertz(self.name, frequency_hz)
        duty = _percent(self.name, duty_percent, "PWM duty cycle")
        await self._set("pwm_current", current)
        await self._set("pwm_frequency", frequency)
        await self._set("pwm_duty", duty)

    # -- output ---------------------------------------------------------------------------------
    async def output(self) -> bool:
        """Whether the LED output is switched on."""
        reply = (await self._ask("output")).strip().upper()
        if reply in ("1", "ON"):
            return True
        if reply in ("0", "OFF"):
            return False
        raise self._garbled("OUTPUT1:STATE?", reply, "1 or 0")

    async def set_output(self, on: bool) -> None:
        if not isinstance(on, bool):
            raise LedLimitError(f"{self.name}: output {on!r} must be True (on) or False (off)")
        await self._set("output", "ON" if on else "OFF")

    async def applied_current(self) -> float:
        """LED current actually applied (A): the setpoint while on, 0 while off."""
        return await self._ask_float("applied_current")

    # -- limit ------------------------------------------------------------------------------------
    async def current_limit(self) -> float:
        """The instrument's current limit (A), at most the LED head's maximum."""
        return await self._ask_float("current_limit")

    async def set_current_limit(self, amps: float) -> None:
        await self._set("current_limit", _amps(self.name, amps, "current limit"))


def _number(name: str, value: float, what: str, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LedLimitError(f"{name}: {what} {value!r} is not a finite number of {unit}; pass a number")
    return float(value)


def _amps(name: str, value: float, what: str) -> str:
    amps = _number(name, value, what, "A")
    if not 0 <= amps <= DRIVER_MAX_CURRENT_A:
        raise LedLimitError(
            f"{name}: {what} {amps:g} A is outside the DC2200 range 0-{DRIVER_MAX_CURRENT_A:g} A; "
            f"choose a value within the LED head's rating"
        )
    return f"{amps:.4f}"


def _percent(name: str, value: float, what: str) -> str:
    percent = _number(name, value, what, "%")
    if not 0 <= percent <= 100:
        raise LedLimitError(f"{name}: {what} {percent:g} % is outside 0-100 %; choose a percentage in that range")
    return f"{percent:.2f}"


def _hertz(name: str, value: float) -> str:
    hertz = _number(name, value, "PWM frequency", "Hz")
    lo, hi = PWM_FREQUENCY_RANGE_HZ
    if not lo <= hertz <= hi:
        raise LedLimitError(
            f"{name}: PWM frequency {hertz:g} Hz is outside {lo:g}-{hi:g} Hz; choose a frequency in that range"
        )
    return f"{hertz:.1f}"
