"""Protocol simulator of a Newport/Oriel arc-lamp power supply (69907 OPS-A, 69911, 69920).

It speaks the wire protocol described in :mod:`labctl.devices.drivers.oriel_lamp` (CR-terminated ASCII
lines, ``STBxx``/``ESRxx`` status bytes, an ``ESRxx`` reply to every command) and keeps the
state of the supply and its lamp.  Time comes only from the ``clock`` callable given to the
constructor (seconds), so a dry run in virtual time is exact.

From the sources: the command set, the STB/ESR bit layout, ignition ~5-6 s after ``START``
(STB bit 7 high from then), ``RST`` ~5 s, mode changes only with the lamp off, a preset must not
exceed its limit, ``START`` refused with the interlock open, ESR bit 7 (power on) reported by the
first ESR read after power-up.

Our choices (plausible, not documented by the sources):

* Reply formats as in the driver: ``IDN?`` -> ``Newport Corporation,<model>,<serial>,<fw>``;
  ``AMPS?``/``VOLTS?``/``A-PRESET?``/``A-LIM?`` -> ``12.3``; ``WATTS?`` -> ``300``;
  ``LAMP HRS?`` -> integer hours ``121``; ``P-PRESET?``/``P-LIM?`` -> ``0300``.
* Strict syntax, case sensitive: ``A-PRESET=``/``A-LIM=`` take ``\\d{1,2}.\\d``,
  ``P-PRESET=``/``P-LIM=`` exactly four digits.  Anything unparsable -> command error
  (``ESR`` bit 5); an unknown query (a line ending in ``?``) -> query error (bit 2), both answered
  with ``ESRxx``.  Empty lines are ignored.
* The event-status register is read-and-clear: every ``ESRxx`` reply (to ``ESR?`` or to a
  command) reports all events since the previous one.  Events: power on (bit 7, at
  construction), command/execution/query errors, device error (bit 3, on :meth:`fail_lamp`),
  operation complete (bit 0, when an ignition or a reset completes).
* ``RST``: the lamp goes out at once, the supply is busy for ``reset_time``; then the fault latch
  clears.  Presets, limits, mode and front-panel lock are kept.  While busy, every command is an
  execution error; queries are still answered.
* ``START`` while lit or igniting does nothing; ``STOP`` while off does nothing.
* Arc model: V = ``arc_voltage_v`` + ``lamp_resistance_ohm`` * I (a Xe arc: 14 V + 0.1 Ω gives
  ~16 V at 20 A).  Power mode regulates W = power preset; current mode regulates I = current
  preset.  If the other quantity's limit would be exceeded (current limit in power mode, power
  limit in current mode) the output is clamped to it and STB bit 1 (limit reached) is set.
  Output steps to its value at ignition and on each preset change (no ramp); it is 0 while the
  lamp is off or igniting.  STB bits 6 (ext) and 4 (cal) are always 0.
* Faults on demand: :meth:`inject_silence` (input discarded, no reply), :meth:`inject_garbage`
  (commands executed, every reply replaced by ``b"\\x8f\\xff?#\\r"``), :meth:`drop_connection`,
  :meth:`open_interlock`, :meth:`fail_lamp`.

Physics-facing API: :meth:`is_lit`, :meth:`output_watts`, :meth:`energy_joules` and the
piecewise-constant histories :attr:`events` (``(t, "on"|"off")``) and :attr:`power_steps`
(``(t, watts)`` from each change on), so a photoreactor model can integrate the light exactly
between polls.  Times in the future are answered assuming no further command or fault.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Callable
from typing import Final

from labctl.sim.instruments.line import LineProtocolSimulator

GARBAGE: Final = b"\x8f\xff?#\r"

# Bit layout, written out here rather than imported so that the driver's tests compare two
# independent readings of the manual.
_STB_LAMP_ON: Final = 0x80
_STB_POWER_MODE: Final = 0x20
_STB_FAULT: Final = 0x08
_STB_LOCKED: Final = 0x04
_STB_LIMIT: Final = 0x02
_STB_INTERLOCK_OK: Final = 0x01

_ESR_POWER_ON: Final = 0x80
_ESR_COMMAND_ERROR: Final = 0x20
_ESR_EXECUTION_ERROR: Final = 0x10
_ESR_DEVICE_ERROR: Final = 0x08
_ESR_QUERY_ERROR: Final = 0x04
_ESR_OPERATION_COMPLETE: Final = 0x01

_AMPS_RE: Final = re.compile(r"(A-PRESET|A-LIM)=(\d{1,2})\.(\d)")
_WATTS_RE: Final = re.compile(r"(P-PRESET|P-LIM)=(\d{4})")
_FLAG_RE: Final = re.compile(r"(MODE|COMM)=([01])")


class OrielLampSimulator(LineProtocolSimulator):
    """Stateful line-protocol simulator; see the module docstring for its behaviour.

    :param clock: returns the current time in seconds (the only time source).
    :param lamp_hours: hour counter at construction.
    :param power_limit: ``P-LIM`` (W) at power-up; ``current_limit`` is ``A-LIM`` (A).
    :param power_preset: ``P-PRESET`` (W); ``current_preset`` is ``A-PRESET`` (A).
    :param power_mode: True for power mode (``MODE=0``), False for current mode.
    :param ignition_time: seconds from ``START`` to a lit lamp.
    :param reset_time: seconds the supply is busy after ``RST``.
    :param arc_voltage_v: arc voltage extrapolated to zero current (V).
    :param lamp_resistance_ohm: dynamic resistance of the arc (V/A).
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        model: str = "69907",
        serial: str = "SIM0001",
        firmware: str = "1.0",
        lamp_hours: float = 120.0,
        power_limit: int = 1000,
        current_limit: float = 25.0,
        power_preset: int = 300,
        current_preset: float = 15.0,
        power_mode: bool = True,
        ignition_time: float = 5.5,
        reset_time: float = 5.0,
        arc_voltage_v: float = 14.0,
        lamp_resistance_ohm: float = 0.1,
    ) -> None:
        if not 0 <= power_preset <= power_limit <= 9999:
            raise ValueError(
                f"power preset {power_preset} W and limit {power_limit} W must satisfy 0 <= preset <= limit <= 9999"
            )
        if not 0 <= current_preset <= current_limit <= 99.9:
            raise ValueError(
                f"current preset {current_preset} A and limit {current_limit} A must satisfy "
                f"0 <= preset <= limit <= 99.9"
            )
        if ignition_time < 0 or reset_time < 0 or arc_voltage_v <= 0 or lamp_resistance_ohm < 0:
            raise ValueError(
                "ignition_time and reset_time must be >= 0, arc_voltage_v > 0 and lamp_resistance_ohm >= 0"
            )
        self._clock = clock
        self.model = model
        self.serial = serial
        self.firmware = firmware
        self.ignition_time = float(ignition_time)
        self.reset_time = float(reset_time)
        self.arc_voltage_v = float(arc_voltage_v)
        self.lamp_resistance_ohm = float(lamp_resistance_ohm)

        self._power_limit = int(power_limit)
        self._power_preset = int(power_preset)
        self._current_limit_da = round(current_limit * 10)  # tenths of an amp
        self._current_preset_da = round(current_preset * 10)
        self._power_mode = power_mode
        self._locked = False
        self._interlock_ok = True
        self._fault = False
        self._esr = _ESR_POWER_ON

        t0 = float(clock())
        self._hours0 = float(lamp_hours)
        self._lit = False
        self._ignite_at: float | None = None
        self._reset_until: float | None = None
        self._events: list[tuple[float, str]] = []
        self._power_steps: list[tuple[float, float]] = [(t0, 0.0)]

        super().__init__(line_end=b"\r", reply_end=b"\r", garbage=GARBAGE)

    # -- wire side -----------------------------------------------------------------------------
    def _process(self, raw: bytes) -> str | None:
        now = self._now()
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            return self._read_esr(_ESR_COMMAND_ERROR)
        if not line:
            return None
        if line.endswith("?"):
            return self._query(line)
        return self._command(line, now)

    def _read_esr(self, extra: int = 0) -> str:
        esr, self._esr = self._esr | extra, 0
        return f"ESR{esr:02X}"

    def _query(self, line: str) -> str:
        amps, volts, watts, _ = self._output()
        answers: dict[str, Callable[[], str]] = {
            "IDN?": lambda: f"Newport Corporation,{self.model},{self.serial},{self.firmware}",
            "AMPS?": lambda: f"{amps:.1f}",
            "VOLTS?": lambda: f"{volts:.1f}",
            "WATTS?": lambda: f"{round(watts):d}",
            "LAMP HRS?": lambda: f"{int(self.lamp_hours())}",
            "A-PRESET?": lambda: f"{self._current_preset_da / 10:.1f}",
            "P-PRESET?": lambda: f"{self._power_preset:04d}",
            "A-LIM?": lambda: f"{self._current_limit_da / 10:.1f}",
            "P-LIM?": lambda: f"{self._power_limit:04d}",
            "STB?": lambda: f"STB{self.stb():02X}",
            "ESR?": self._read_esr,
        }
        answer = answers.get(line)
        return answer() if answer is not None else self._read_esr(_ESR_QUERY_ERROR)

    def _command(self, line: str, now: float) -> str:
        setter: Callable[[float, int], bool]
        if line in ("START", "STOP", "RST"):
            setter = {"START": self._start, "STOP": self._stop, "RST": self._reset}[line]
            arg = 0
        elif m := _AMPS_RE.fullmatch(line):
            setter = self._set_current_preset if m[1] == "A-PRESET" else self._set_current_limit
            arg = int(m[2]) * 10 + int(m[3])  # tenths of an amp
        elif m := _WATTS_RE.fullmatch(line):
            setter = self._set_power_preset if m[1] == "P-PRESET" else self._set_power_limit
            arg = int(m[2])
        elif m := _FLAG_RE.fullmatch(line):
            setter = self._set_mode if m[1] == "MODE" else self._set_lock
            arg = int(m[2])
        else:
            return self._read_esr(_ESR_COMMAND_ERROR)
        if self._reset_until is not None:
            return self._read_esr(_ESR_EXECUTION_ERROR)
        return self._read_esr(0 if setter(now, arg) else _ESR_EXECUTION_ERROR)

    # -- command actions at time ``now``: return False for an execution error ------------------
    def _start(self, now: float, value: int = 0) -> bool:
        if not self._interlock_ok or self._fault:
            return False
        if not self._lit and self._ignite_at is None:
            self._ignite_at = now + self.ignition_time
            self._advance(now)  # a zero ignition_time lights at once
        return True

    def _stop(self, now: float, value: int = 0) -> bool:
        self._off(now)
        return True

    def _reset(self, now: float, value: int = 0) -> bool:
        self._off(now)
        self._reset_until = now + self.reset_time
        self._advance(now)  # a zero reset_time completes at once
        return True

    def _set_current_preset(self, now: float, value: int) -> bool:
        if value > self._current_limit_da:
            return False
        self._current_preset_da = value
        self._step(now)
        return True

    def _set_current_limit(self, now: float, value: int) -> bool:
        if value < self._current_preset_da:
            return False
        self._current_limit_da = value
        self._step(now)
        return True

    def _set_power_preset(self, now: float, value: int) -> bool:
        if value > self._power_limit:
            return False
        self._power_preset = value
        self._step(now)
        return True

    def _set_power_limit(self, now: float, value: int) -> bool:
        if value < self._power_preset:
            return False
        self._power_limit = value
        self._step(now)
        return True

    def _set_mode(self, now: float, value: int) -> bool:
        if self._lit or self._ignite_at is not None:
            return False
        self._power_mode = value == 0  # MODE=0 is power mode
        return True

    def _set_lock(self, now: float, value: int) -> bool:
        self._locked = value == 1
        return True

    # -- state ---------------------------------------------------------------------------------
    def _now(self) -> float:
        now = float(self._clock())
        self._advance(now)
        return now

    def _advance(self, now: float) -> None:
        """Carry out the scheduled transitions up to ``now``, each at its own time."""
        if self._ignite_at is not None and self._ignite_at <= now:
            t, self._ignite_at = self._ignite_at, None
            self._lit = True
            self._events.append((t, "on"))
            self._step(t)
            self._esr |= _ESR_OPERATION_COMPLETE
        if self._reset_until is not None and self._reset_until <= now:
            self._reset_until = None
            self._fault = False
            self._esr |= _ESR_OPERATION_COMPLETE

    def _off(self, t: float) -> None:
        self._ignite_at = None
        if self._lit:
            self._lit = False
            self._events.append((t, "off"))
            self._step(t)

    def _step(self, t: float) -> None:
        watts = self._output()[2]
        if self._power_steps[-1][0] == t:
            self._power_steps.pop()
        if not self._power_steps or self._power_steps[-1][1] != watts:
            self._power_steps.append((t, watts))

    def _operating_point(self) -> tuple[float, float, float, bool]:
        """(amps, volts, watts, limited) of a lit lamp with the present settings."""
        v0, r = self.arc_voltage_v, self.lamp_resistance_ohm
        current_limit = self._current_limit_da / 10

        def amps_for(watts: float) -> float:
            if r == 0:
                return watts / v0
            return (-v0 + math.sqrt(v0 * v0 + 4 * r * watts)) / (2 * r)

        limited = False
        if self._power_mode:
            watts = float(self._power_preset)
            amps = amps_for(watts)
            if amps > current_limit:
                amps, limited = current_limit, True
                watts = amps * (v0 + r * amps)
        else:
            amps = self._current_preset_da / 10
            watts = amps * (v0 + r * amps)
            if watts > self._power_limit:
                watts, limited = float(self._power_limit), True
                amps = amps_for(watts)
        return amps, v0 + r * amps, watts, limited

    def _output(self) -> tuple[float, float, float, bool]:
        return self._operating_point() if self._lit else (0.0, 0.0, 0.0, False)

    def stb(self) -> int:
        """The status byte as ``STB?`` reports it now."""
        self._now()
        limited = self._output()[3]
        return (
            (_STB_LAMP_ON if self._lit else 0)
            | (_STB_POWER_MODE if self._power_mode else 0)
            | (_STB_FAULT if self._fault else 0)
            | (_STB_LOCKED if self._locked else 0)
            | (_STB_LIMIT if limited else 0)
            | (_STB_INTERLOCK_OK if self._interlock_ok else 0)
        )

    # -- faults on demand ----------------------------------------------------------------------
    def open_interlock(self, open: bool) -> None:
        """Open (True) or close (False) the housing interlock; opening puts out the lamp."""
        now = self._now()
        self._interlock_ok = not open
        if open:
            self._off(now)

    def fail_lamp(self) -> None:
        """The lamp goes out; the fault bit stays set until a reset completes."""
        now = self._now()
        self._off(now)
        self._fault = True
        self._esr |= _ESR_DEVICE_ERROR

    # -- physics-facing API --------------------------------------------------------------------
    @property
    def events(self) -> list[tuple[float, str]]:
        """``(t, "on"|"off")`` transitions of the lamp so far."""
        self._now()
        return list(self._events)

    @property
    def power_steps(self) -> list[tuple[float, float]]:
        """``(t, watts)``: the electrical output is ``watts`` from ``t`` to the next step."""
        self._now()
        return list(self._power_steps)

    def _steps_ahead(self) -> list[tuple[float, float]]:
        steps = list(self._power_steps)
        if self._ignite_at is not None:
            steps.append((self._ignite_at, self._operating_point()[2]))
        return steps

    def is_lit(self, t: float | None = None) -> bool:
        """Whether the arc burns at time ``t`` (default: now)."""
        now = self._now()
        t = now if t is None else t
        if self._ignite_at is not None and t >= self._ignite_at:
            return True
        i = bisect_right([e[0] for e in self._events], t) - 1
        return i >= 0 and self._events[i][1] == "on"

    def output_watts(self, t: float | None = None) -> float:
        """Electrical power into the lamp at time ``t`` (default: now), in W."""
        now = self._now()
        t = now if t is None else t
        steps = self._steps_ahead()
        i = bisect_right([s[0] for s in steps], t) - 1
        return steps[i][1] if i >= 0 else 0.0

    def energy_joules(self, t0: float, t1: float) -> float:
        """Electrical energy into the lamp between ``t0`` and ``t1`` (J)."""
        self._now()
        steps = self._steps_ahead()
        total = 0.0
        for k, (ts, watts) in enumerate(steps):
            te = steps[k + 1][0] if k + 1 < len(steps) else math.inf
            lo, hi = max(ts, t0), min(te, t1)
            if hi > lo:
                total += watts * (hi - lo)
        return total

    def lamp_hours(self, t: float | None = None) -> float:
        """The supply's hour counter at time ``t`` (default: now)."""
        now = self._now()
        t = now if t is None else t
        lit_s = 0.0
        on_since: float | None = None
        for te, what in self._events:
            if te > t:
                break
            if what == "on":
                on_since = te
            elif on_since is not None:
                lit_s += te - on_since
                on_since = None
        if on_since is not None:
            lit_s += t - on_since
        elif self._ignite_at is not None and t > self._ignite_at:
            lit_s += t - self._ignite_at
        return self._hours0 + lit_s / 3600.0

    # -- read-outs for tests and models --------------------------------------------------------
    @property
    def power_preset(self) -> int:
        return self._power_preset

    @property
    def current_preset(self) -> float:
        return self._current_preset_da / 10

    @property
    def power_limit(self) -> int:
        return self._power_limit

    @property
    def current_limit(self) -> float:
        return self._current_limit_da / 10

    @property
    def power_mode(self) -> bool:
        return self._power_mode

    @property
    def fault(self) -> bool:
        self._now()
        return self._fault

    @property
    def interlock_ok(self) -> bool:
        return self._interlock_ok

    @property
    def front_panel_locked(self) -> bool:
        return self._locked

    @property
    def resetting(self) -> bool:
        self._now()
        return self._reset_until is not None
