"""Protocol simulator of a Thorlabs DC2200 LED driver with a 420 nm mounted LED head.

It speaks the SCPI subset described in :mod:`labctl.devices.drivers.dc2200` (LF-terminated lines,
commands unanswered, a SCPI error queue read with ``SYSTEM:ERROR?``), keeps the state of the
driver and its LED, and is a light source for :mod:`labctl.sim.physics.photoreactor` (``output_watts`` in
optical W, ``is_lit``, ``spectrum``, ``transitions``).  Time comes only from the ``clock``
callable given to the constructor (seconds), so a dry run in virtual time is exact.

From the sources: the command set, ``OUTPUT1:STATE?`` -> ``1``/``0``, the error queue format
``<code>,"<text>"`` with the SCPI codes, and the two spellings ``CCURENT``/``CCURRENT``.

Our choices (plausible, not documented by the sources):

* Headers are case-insensitive; every node takes its SCPI long or short form (``SOURce1`` ->
  ``SOURCE1``/``SOUR1``, a missing numeric suffix is 1, ``SENSe3`` needs its 3).  Which long
  spellings of the constant-current node exist is a constructor argument
  (``ccurrent_spellings``) to play different firmware; the short form ``CCUR`` always works.
  Compound lines (``;``) are not supported (-113).
* Errors (queue of 16, the last entry becomes ``-350,"Queue overflow"`` when full):
  -113 undefined header (a query with one is not answered), -109 missing parameter, -104 data
  type error (not a number), -224 illegal parameter value (a mode or state word), -222 data
  out of range (current above the head's maximum, percent outside 0-100, frequency outside
  1 Hz-20 kHz), -221 settings conflict (a setpoint above the current limit, a limit below a
  setpoint, a mode change with the output on), -300 device-specific error (the LED head is
  open).  ``*CLS`` empties the queue; ``*RST`` switches the output off and restores the
  power-up settings.
* Replies: numbers as SCPI NR3 (``5.000000E-01``), ``*IDN?`` ->
  ``Thorlabs,DC2200,<serial>,<firmware>``, ``SOURCE1:MODE?`` -> ``CC``/``CB``/``PWM``.
* Applied current (``SENSE3:CURRENT:DATA?``): 0 while the output is off; while on, the CC
  setpoint, or limit x brightness / 100 in CB mode, or PWM current x duty / 100 (the average)
  in PWM mode.  It reaches that value ``settle_time_s`` after the output goes on (0: at once).
* LED head: a 420 nm mounted LED of the Thorlabs M420L-type class, rated ``head_max_current_a``
  (1.0 A by default).  Its L-I curve is P(I) = ``watts_per_amp`` x I x (1 - ``droop`` x I /
  ``head_max_current_a``): slightly sublinear (efficiency droop), 0.765 W optical at 1.0 A with
  the defaults.  **These numbers are ours, not datasheet values**: calibrate the real head with
  a power meter and give the table to the device.  In PWM mode the optical output is the
  average P(I_pwm) x duty / 100 (the pulses themselves are not modelled).
* Faults on demand: :meth:`inject_silence`, :meth:`inject_garbage`, :meth:`drop_connection`,
  :meth:`inject_error` (queued as if the instrument had raised it), :meth:`open_head` (the LED
  head is disconnected: the output switches off with ``-300`` queued, and switching it on is
  refused with ``-300`` until the head is back).

Physics-facing API: :meth:`output_watts`, :meth:`is_lit`, :attr:`spectrum`,
:meth:`transitions`, :meth:`energy_joules`, :meth:`calibrated_output_w`; histories are
piecewise constant and times in the future are answered assuming no further command or fault.
:func:`serve_dc2200` serves a simulator on TCP for pyvisa-py (``TCPIP::127.0.0.1::PORT::SOCKET``).
"""

from __future__ import annotations

import asyncio
import math
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from labctl.sim.instruments.line import LineProtocolSimulator
from labctl.sim.physics.photoreactor import Spectrum
from labctl.sim.serve import serve_simulator

GARBAGE: Final = b"\x8f\xff?#\n"
ERROR_QUEUE_LENGTH: Final = 16
PWM_FREQUENCY_RANGE_HZ: Final = (1.0, 20_000.0)
DEFAULT_WATTS_PER_AMP: Final = 0.90  # W optical per A at low current (ours)
DEFAULT_DROOP: Final = 0.15  # fractional efficiency loss at the head's max current (ours)

_MESSAGES: Final[dict[int, str]] = {
    -104: "Data type error",
    -109: "Missing parameter",
    -113: "Undefined header",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -300: "Device-specific error;LED head open",
    -350: "Queue overflow",
}

_TOKEN_RE: Final = re.compile(r"(\*?[A-Z]+)(\d*)")
_NUMBER_RE: Final = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class _Node:
    """One header node: accepted names (long and short forms) and its numeric suffix."""

    names: frozenset[str]
    suffix: int = 1

    def matches(self, token: str) -> bool:
        m = _TOKEN_RE.fullmatch(token)
        if m is None or m[1] not in self.names:
            return False
        return (int(m[2]) if m[2] else 1) == self.suffix


def _node(*mnemonics: str, suffix: int = 1) -> _Node:
    """A node from SCPI mnemonics such as ``SOURce``: long form all upper, short form the capitals."""
    names: set[str] = set()
    for mnemonic in mnemonics:
        names.add(mnemonic.upper())
        names.add("".join(c for c in mnemonic if c.isupper()))
    return _Node(frozenset(names), suffix)


class _Error(Exception):
    """A SCPI error raised while executing one line."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class _Setting:
    path: tuple[_Node, ...]
    query: Callable[[], str] | None = None
    command: Callable[[str], None] | None = None


class DC2200Simulator(LineProtocolSimulator):
    model = "DC2200"

    """Stateful SCPI simulator of a DC2200 with one LED head; see the module docstring.

    :param clock: returns the current time in seconds (the only time source).
    :param wavelength_nm: the LED head's (peak) wavelength.
    :param head_max_current_a: the LED head's maximum current; the current limit cannot exceed it.
    :param watts_per_amp: slope of the L-I curve at low current (W optical per A).
    :param droop: fractional loss of efficiency at ``head_max_current_a`` (0 = linear).
    :param current_limit_a: ``SOURCE1:CURRENT:LIMIT`` at power-up (default: the head's maximum).
    :param current_a: constant-current setpoint at power-up.
    :param settle_time_s: delay from output on to the full applied current and light.
    :param ccurrent_spellings: long spellings of the CC node this firmware knows.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        wavelength_nm: float = 420.0,
        head_max_current_a: float = 1.0,
        watts_per_amp: float = DEFAULT_WATTS_PER_AMP,
        droop: float = DEFAULT_DROOP,
        current_limit_a: float | None = None,
        current_a: float = 0.0,
        settle_time_s: float = 0.0,
        serial: str = "M00000001",
        firmware: str = "1.0.0",
        ccurrent_spellings: Sequence[str] = ("CCURENT", "CCURRENT"),
    ) -> None:
        limit = head_max_current_a if current_limit_a is None else current_limit_a
        if not wavelength_nm > 0 or not head_max_current_a > 0 or not watts_per_amp > 0:
            raise ValueError("wavelength_nm, head_max_current_a and watts_per_amp must be > 0")
        if not 0 <= droop < 0.5:
            raise ValueError(f"droop {droop!r} must be in [0, 0.5) for a rising L-I curve")
        if not 0 <= current_a <= limit <= head_max_current_a:
            raise ValueError(
                f"current {current_a!r} A, limit {limit!r} A and head max {head_max_current_a!r} A must satisfy "
                "0 <= current <= limit <= head max"
            )
        if settle_time_s < 0:
            raise ValueError(f"settle_time_s {settle_time_s!r} must be >= 0")
        self._clock = clock
        self.wavelength_nm = float(wavelength_nm)
        self.head_max_current_a = float(head_max_current_a)
        self.watts_per_amp = float(watts_per_amp)
        self.droop = float(droop)
        self.settle_time_s = float(settle_time_s)
        self.serial = serial
        self.firmware = firmware
        self._power_up = (float(limit), float(current_a))

        self._mode = "CC"
        self._limit = float(limit)
        self._cc_current = float(current_a)
        self._brightness = 0.0
        self._pwm_current = 0.0
        self._pwm_frequency = 1000.0
        self._pwm_duty = 50.0
        self._output = False
        self._on_since = 0.0
        self._head_open = False
        self._errors: list[tuple[int, str]] = []

        t0 = float(clock())
        self._steps: list[tuple[float, float, float]] = [(t0, 0.0, 0.0)]  # (t, applied A, optical W)

        self.received: list[str] = []
        """Every line received, decoded and stripped (what the instrument saw)."""
        super().__init__(line_end=b"\n", reply_end=b"\n", garbage=GARBAGE)
        self._settings = self._build_settings(ccurrent_spellings)

    # -- command tree --------------------------------------------------------------------------
    def _build_settings(self, ccurrent_spellings: Sequence[str]) -> list[_Setting]:
        source = _node("SOURce")
        ccurrent_names = {s.upper() for s in ccurrent_spellings} | {"CCUR"}
        ccurrent = _Node(frozenset(ccurrent_names))
        current = _node("CURRent")

        def settable(getter: Callable[[], float], setter: Callable[[float], None]) -> dict[str, Any]:
            return {"query": lambda: _nr3(getter()), "command": lambda arg: setter(_parse_number(arg))}

        return [
            _Setting((_node("*IDN"),), query=lambda: f"Thorlabs,DC2200,{self.serial},{self.firmware}"),
            _Setting((_node("*CLS"),), command=lambda arg: self._errors.clear()),
            _Setting((_node("*RST"),), command=lambda arg: self._reset()),
            _Setting((_node("*OPC"),), query=lambda: "1"),
            _Setting((_node("SYSTem"), _node("ERRor")), query=self._pop_error),
            _Setting((_node("SYSTem"), _node("ERRor"), _node("NEXT")), query=self._pop_error),
            _Setting((source, _node("MODE")), query=lambda: self._mode, command=self._set_mode),
            _Setting((source, ccurrent, current), **settable(lambda: self._cc_current, self._set_cc_current)),
            _Setting(
                (source, _node("CBRightness"), _node("BRIGhtness")),
                **settable(lambda: self._brightness, self._set_brightness),
            ),
            _Setting((source, _node("PWM"), current), **settable(lambda: self._pwm_current, self._set_pwm_current)),
            _Setting(
                (source, _node("PWM"), _node("FREQuency")),
                **settable(lambda: self._pwm_frequency, self._set_pwm_frequency),
            ),
            _Setting((source, _node("PWM"), _node("DCYCle")), **settable(lambda: self._pwm_duty, self._set_pwm_duty)),
            _Setting((source, current, _node("LIMit")), **settable(lambda: self._limit, self._set_limit)),
            _Setting(
                (_node("OUTPut"), _node("STATe")), query=lambda: "1" if self._output else "0", command=self._set_output
            ),
            _Setting((_node("SENSe", suffix=3), current, _node("DATA")), query=lambda: _nr3(self.applied_current)),
        ]

    def _find(self, header: str) -> _Setting | None:
        tokens = header.lstrip(":").upper().split(":")
        for setting in self._settings:
            if len(setting.path) == len(tokens) and all(
                n.matches(t) for n, t in zip(setting.path, tokens, strict=True)
            ):
                return setting
        return None

    # -- wire side -----------------------------------------------------------------------------
    def _process(self, raw: bytes) -> str | None:
        now = self._now()
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            self._push(-113)
            return None
        if not line:
            return None
        self.received.append(line)
        header, _, arg = line.partition(" ")
        arg = arg.strip()
        is_query = header.endswith("?")
        setting = self._find(header[:-1] if is_query else header)
        if setting is None or (is_query and setting.query is None) or (not is_query and setting.command is None):
            self._push(-113)
            return None
        try:
            if is_query:
                assert setting.query is not None
                return setting.query()
            assert setting.command is not None
            setting.command(arg)
        except _Error as exc:
            self._push(exc.code)
        self._record(now)
        return None

    # -- error queue ---------------------------------------------------------------------------
    def _push(self, code: int, message: str | None = None) -> None:
        text = message if message is not None else _MESSAGES.get(code, "Unknown error")
        if len(self._errors) >= ERROR_QUEUE_LENGTH:
            self._errors[-1] = (-350, _MESSAGES[-350])
            return
        self._errors.append((code, text))

    def _pop_error(self) -> str:
        code, text = self._errors.pop(0) if self._errors else (0, "No error")
        return f'{code},"{text}"'

    @property
    def error_queue(self) -> list[tuple[int, str]]:
        """The errors waiting in the queue, oldest first (not consumed)."""
        return list(self._errors)

    # -- command actions (raise _Error for a SCPI error) ------------------------------------------
    def _set_mode(self, arg: str) -> None:
        if not arg:
            raise _Error(-109)
        mode = arg.upper()
        if mode not in ("CC", "CB", "PWM"):
            raise _Error(-224)
        if self._output and mode != self._mode:
            raise _Error(-221)
        self._mode = mode

    def _check_current(self, amps: float) -> None:
        if not 0 <= amps <= self.head_max_current_a:
            raise _Error(-222)
        if amps > self._limit + 1e-12:
            raise _Error(-221)

    def _set_cc_current(self, amps: float) -> None:
        self._check_current(amps)
        self._cc_current = amps

    def _set_pwm_current(self, amps: float) -> None:
        self._check_current(amps)
        self._pwm_current = amps

    def _set_brightness(self, percent: float) -> None:
        if not 0 <= percent <= 100:
            raise _Error(-222)
        self._brightness = percent

    def _set_pwm_frequency(self, hertz: float) -> None:
        lo, hi = PWM_FREQUENCY_RANGE_HZ
        if not lo <= hertz <= hi:
            raise _Error(-222)
        self._pwm_frequency = hertz

    def _set_pwm_duty(self, percent: float) -> None:
        if not 0 <= percent <= 100:
            raise _Error(-222)
        self._pwm_duty = percent

    def _set_limit(self, amps: float) -> None:
        if not 0 <= amps <= self.head_max_current_a:
            raise _Error(-222)
        if amps < max(self._cc_current, self._pwm_current) - 1e-12:
            raise _Error(-221)
        self._limit = amps

    def _set_output(self, arg: str) -> None:
        if not arg:
            raise _Error(-109)
        word = arg.upper()
        if word not in ("ON", "OFF", "1", "0"):
            raise _Error(-224)
        on = word in ("ON", "1")
        if on and self._head_open:
            raise _Error(-300)
        if on and not self._output:
            self._on_since = float(self._clock())
        self._output = on

    def _reset(self) -> None:
        self._output = False
        self._mode = "CC"
        self._limit, self._cc_current = self._power_up
        self._brightness, self._pwm_current, self._pwm_frequency, self._pwm_duty = 0.0, 0.0, 1000.0, 50.0

    # -- state ---------------------------------------------------------------------------------
    def _now(self) -> float:
        return float(self._clock())

    def _target(self) -> tuple[float, float]:
        """(applied A, optical W) with the output fully on in the present mode."""
        if self._mode == "CC":
            amps = self._cc_current
            return amps, self.calibrated_output_w(amps)
        if self._mode == "CB":
            amps = self._limit * self._brightness / 100
            return amps, self.calibrated_output_w(amps)
        duty = self._pwm_duty / 100
        return self._pwm_current * duty, self.calibrated_output_w(self._pwm_current) * duty

    def _record(self, now: float) -> None:
        """Rewrite the history from ``now`` on for the present state."""
        while self._steps and self._steps[-1][0] > now:
            self._steps.pop()
        if self._output and not self._head_open:
            amps, watts = self._target()
            full_at = self._on_since + self.settle_time_s
            if now < full_at:
                self._append(now, 0.0, 0.0)
                self._append(full_at, amps, watts)
            else:
                self._append(now, amps, watts)
        else:
            self._append(now, 0.0, 0.0)

    def _append(self, t: float, amps: float, watts: float) -> None:
        if self._steps and self._steps[-1][0] == t:
            self._steps.pop()
        if not self._steps or self._steps[-1][1:] != (amps, watts):
            self._steps.append((t, amps, watts))

    def _step_at(self, t: float) -> tuple[float, float, float]:
        i = bisect_right([s[0] for s in self._steps], t) - 1
        return self._steps[i] if i >= 0 else (t, 0.0, 0.0)

    # -- faults on demand ----------------------------------------------------------------------

    def inject_error(self, code: int, message: str | None = None) -> None:
        """Queue an error as if the instrument had raised it (message: the SCPI text for ``code``)."""
        self._push(code, message)

    def open_head(self, on: bool) -> None:
        """Disconnect (True) or reconnect (False) the LED head; opening it switches the output off."""
        now = self._now()
        self._head_open = on
        if on and self._output:
            self._output = False
            self._push(-300)
        self._record(now)

    # -- read-outs for tests and models --------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    @property
    def current_setpoint(self) -> float:
        return self._cc_current

    @property
    def current_limit(self) -> float:
        return self._limit

    @property
    def brightness(self) -> float:
        return self._brightness

    @property
    def pwm(self) -> tuple[float, float, float]:
        """(current A, frequency Hz, duty %)."""
        return self._pwm_current, self._pwm_frequency, self._pwm_duty

    @property
    def output_on(self) -> bool:
        return self._output

    @property
    def head_open(self) -> bool:
        return self._head_open

    @property
    def applied_current(self) -> float:
        """LED current now (A), as ``SENSE3:CURRENT:DATA?`` reports it."""
        return self._step_at(self._now())[1]

    # -- physics-facing API --------------------------------------------------------------------
    @property
    def spectrum(self) -> Spectrum:
        """Monochromatic at the head's wavelength; ``output_watts`` are optical W."""
        return Spectrum.monochromatic(self.wavelength_nm)

    def calibrated_output_w(self, amps: float) -> float:
        """Optical W of the head at ``amps`` (the L-I curve a power-meter calibration gives)."""
        i = min(max(float(amps), 0.0), self.head_max_current_a)
        return self.watts_per_amp * i * (1 - self.droop * i / self.head_max_current_a)

    def calibration(self, points: int = 11) -> list[tuple[float, float]]:
        """``points`` (A, optical W) pairs from 0 to the head's maximum, as a bench would store them."""
        if points < 2:
            raise ValueError(f"points={points} must be at least 2")
        amps = [self.head_max_current_a * k / (points - 1) for k in range(points)]
        return [(a, self.calibrated_output_w(a)) for a in amps]

    def output_watts(self, t: float | None = None) -> float:
        """Optical power of the LED at time ``t`` (default: now), W."""
        return self._step_at(self._now() if t is None else t)[2]

    def is_lit(self, t: float | None = None) -> bool:
        """Whether the LED emits at time ``t`` (default: now)."""
        return self.output_watts(t) > 0.0

    def transitions(self, t0: float, t1: float) -> list[float]:
        """Instants in (t0, t1) where the optical output changes."""
        return [t for t, _, _ in self._steps if t0 < t < t1]

    def energy_joules(self, t0: float, t1: float) -> float:
        """Optical energy emitted between ``t0`` and ``t1`` (J)."""
        total = 0.0
        for k, (ts, _, watts) in enumerate(self._steps):
            te = self._steps[k + 1][0] if k + 1 < len(self._steps) else math.inf
            lo, hi = max(ts, t0), min(te, t1)
            if hi > lo:
                total += watts * (hi - lo)
        return total


def _parse_number(arg: str) -> float:
    if not arg:
        raise _Error(-109)
    if _NUMBER_RE.fullmatch(arg) is None:
        raise _Error(-104)
    value = float(arg)
    if not math.isfinite(value):
        raise _Error(-222)
    return value


def _nr3(value: float) -> str:
    return f"{value:.6E}"


async def serve_dc2200(sim: DC2200Simulator, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """Serve ``sim`` on TCP; pyvisa-py reaches it as ``TCPIP::<host>::<port>::SOCKET`` (LF terminations)."""
    return await serve_simulator(sim, host, port)
