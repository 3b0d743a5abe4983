"""Protocol simulator of an IKA RCT digital hotplate heating a round-bottom flask in an aluminium block.

It speaks the NAMUR line protocol described in :mod:`labctl.devices.drivers.ika_rct` (ASCII lines
ending CR LF; the 7E1 framing is physical and does not show in the bytes) and keeps the state of
the hotplate, its heating block and the flask.  Time comes only from the ``clock`` callable given to
the constructor (seconds), so a dry run in virtual time is exact.

From the sources: the command set and reply form ``<value> <channel>``; setpoints 0-310 °C and
0-1500 rpm; the safety temperature is set on the device only and the plate never exceeds it (the
device's own safety circuit); watchdog 1 (``OUT_WD1@m``, 20-1500 s) switches heater and stirrer off
and shows Er 2 when not re-sent within m s; the setpoint may read 0 after ``START_1``
(``quirk_setpoint_zero``); the plate reaches 310 °C at most and the heater gives 600 W.

Our choices (plausible, not documented by the sources):

* Replies as in the driver: temperatures and speeds with one decimal (``25.3 1``, ``500.0 4``),
  ``IN_NAME`` -> ``RCT digital``, the watchdog echo is the armed time (``60``; ``watchdog_echo``).
  While an error is latched every query is answered ``Er02`` (two digits); ``START_1``/``START_4``
  are ignored, settings are still taken; ``RESET`` clears the latch, switches heater and stirrer
  off and disarms the watchdog.  A missing probe reads ``-100.0 1`` (``probe_missing_reply_c``).
  Unknown or malformed commands are ignored (no reply); empty lines too.
* The quirk: with ``quirk_setpoint_zero``, ``START_1`` with the heater off sets the setpoint to 0
  (it reads and regulates 0) until ``OUT_SP_1`` is sent again.
* Watchdog: only a re-sent ``OUT_WD1@m`` feeds it (other traffic does not); it fires at exactly
  m s after the last ``OUT_WD1``, evaluated lazily when the state is next brought up to date.
* Thermal model: three lumped heat capacities in a chain, plate -> block -> flask (with its
  liquid), each coupled to the next and losing heat to the room (constants below; with the
  defaults a 50 mL flask holding 40 mL of 1-octadecene reaches 280 °C in about 23 min from 25 °C,
  overshoots it by about 0.5 °C and holds it with the plate near 287 °C; 300 °C is about the
  most it can hold with the plate limited to 310 °C).
  The heater power is held constant over each step of ``step_s`` (1 s) on a grid that restarts
  at every command and event, and the temperatures are integrated by RK4 over it; a state at a
  time between grid points is integrated from the grid point before it.  So any reading at
  time t is the same however often the state was read before.
* Controller: with the probe connected at ``START_1`` it regulates the flask: the plate's target
  is the plate temperature that holds the flask at the setpoint in steady state, plus
  ``FLASK_GAIN`` times the flask's error, never more than ``plate_lead_c`` above the flask; with no
  probe at ``START_1`` it regulates the plate on the setpoint.  The plate follows its target
  with time constant ``PLATE_TAU_S``, rising at most ``max_plate_rate_c_per_min``, within the
  heater's power.  The target never exceeds the lower of ``plate_max_c`` and the safety
  temperature, and the safety circuit clamps the plate at the safety temperature.
* :meth:`unplug_probe` while regulating the flask: ``IN_PV_1`` reads the missing-probe value and
  the controller, blind, drives the plate to its limit (the runaway a supervisor must catch).
* Stirring: the speed ramps at ``STIR_RAMP_RPM_PER_S`` to the setpoint while the stirrer is on,
  to 0 when off; stirring improves the block-to-flask transfer by up to ``STIR_TRANSFER_GAIN``.
* Faults on demand: :meth:`inject_silence`, :meth:`inject_garbage` (every reply becomes
  :data:`GARBAGE`), :meth:`drop_connection`, :meth:`unplug_probe` / :meth:`plug_probe`.

Physics-facing API: :meth:`flask_temperature_c`, :meth:`plate_temperature_c` and
:meth:`speed_rpm` at any time t (past: from the recorded grid; future: assuming no further
command, the pending watchdog included).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from labctl.sim.instruments.line import LineProtocolSimulator

GARBAGE: Final = b"#\xff*\r\n"

# -- thermal constants (ours; lumped, tuned to bench experience, not measured on a unit) -------
HEATER_POWER_W: Final = 600.0  # RCT digital heating output (datasheet)
PLATE_HEAT_CAPACITY_J_PER_K: Final = 700.0  # aluminium top plate and heater
PLATE_LOSS_W_PER_K: Final = 1.0  # plate to the room
PLATE_TO_BLOCK_W_PER_K: Final = 20.0  # flat block on a flat plate
BLOCK_HEAT_CAPACITY_J_PER_K: Final = 550.0  # ~0.6 kg aluminium block for a 50 mL flask
BLOCK_LOSS_W_PER_K: Final = 0.2
BLOCK_TO_FLASK_W_PER_K: Final = 3.0  # unstirred; glass wall and the block's fit
STIR_TRANSFER_GAIN: Final = 0.6  # block-to-flask transfer x (1 + gain) at >= 1000 rpm
FLASK_LOSS_W_PER_K: Final = 0.06  # neck and stopper
GLASS_HEAT_CAPACITY_J_PER_K: Final = 24.0  # ~30 g of borosilicate
LIQUID_DENSITY_G_PER_ML: Final = 0.79  # 1-octadecene
LIQUID_HEAT_CAPACITY_J_PER_G_K: Final = 2.2  # 1-octadecene, roughly
PLATE_TAU_S: Final = 30.0  # the heater controller's plate time constant
FLASK_GAIN: Final = 0.5  # K of plate target per K of flask error
STIR_RAMP_RPM_PER_S: Final = 250.0

_VALUE_CMD_RE: Final = re.compile(r"(OUT_SP_1|OUT_SP_4) (\d+(?:\.\d+)?)")
_WD1_RE: Final = re.compile(r"OUT_WD1@(\d+)")


@dataclass
class _State:
    """Everything that evolves or steers the evolution, at time ``t``."""

    t: float
    plate_c: float
    block_c: float
    flask_c: float
    rpm: float
    setpoint_c: float = 0.0
    speed_setpoint_rpm: float = 0.0
    heater_on: bool = False
    stirrer_on: bool = False
    regulate_flask: bool = False
    probe_connected: bool = True
    error: int | None = None
    watchdog_s: int | None = None
    watchdog_deadline: float | None = None


class IkaRctSimulator(LineProtocolSimulator):
    """Stateful NAMUR line-protocol simulator with a thermal model; see the module docstring.

    :param clock: returns the current time in seconds (the only time source).
    :param safety_temperature_c: the device's safety temperature (``IN_SP_3``): the plate never exceeds it.
    :param ambient_c: room temperature; everything starts there.
    :param quirk_setpoint_zero: ``START_1`` zeroes the setpoint until ``OUT_SP_1`` is re-sent.
    :param probe_connected: the flask PT1000 is plugged in at power-up.
    :param liquid_ml: liquid in the flask (1-octadecene); sets the flask's heat capacity.
    :param plate_max_c: the highest plate temperature the controller drives to.
    :param max_plate_rate_c_per_min: the fastest the controller lets the plate rise.
    :param plate_lead_c: the most the controller lets the plate lead the flask.
    :param probe_missing_reply_c: what ``IN_PV_1`` reads with no probe.
    :param watchdog_echo: answer ``OUT_WD1@m`` with the armed time.
    :param step_s: the integration grid.
    """

    model = "IKA RCT digital"

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        safety_temperature_c: float = 350.0,
        ambient_c: float = 25.0,
        quirk_setpoint_zero: bool = True,
        probe_connected: bool = True,
        liquid_ml: float = 40.0,
        plate_max_c: float = 310.0,
        max_plate_rate_c_per_min: float = 12.0,
        plate_lead_c: float = 50.0,
        probe_missing_reply_c: float = -100.0,
        watchdog_echo: bool = True,
        name: str = "RCT digital",
        step_s: float = 1.0,
    ) -> None:
        if not ambient_c < safety_temperature_c:
            raise ValueError(
                f"safety temperature {safety_temperature_c:g} °C must be above the ambient {ambient_c:g} °C"
            )
        if liquid_ml < 0 or step_s <= 0 or max_plate_rate_c_per_min <= 0 or plate_lead_c <= 0:
            raise ValueError("liquid_ml must be >= 0; step_s, max_plate_rate_c_per_min and plate_lead_c > 0")
        self._clock = clock
        self.name = name
        self.safety_temperature_c = float(safety_temperature_c)
        self.ambient_c = float(ambient_c)
        self.quirk_setpoint_zero = quirk_setpoint_zero
        self.plate_max_c = float(plate_max_c)
        self.max_plate_rate_c_per_s = max_plate_rate_c_per_min / 60.0
        self.plate_lead_c = float(plate_lead_c)
        self.probe_missing_reply_c = float(probe_missing_reply_c)
        self.watchdog_echo = watchdog_echo
        self.step_s = float(step_s)
        self.flask_heat_capacity_j_per_k = (
            GLASS_HEAT_CAPACITY_J_PER_K + liquid_ml * LIQUID_DENSITY_G_PER_ML * LIQUID_HEAT_CAPACITY_J_PER_G_K
        )
        t0 = float(clock())
        self._state = _State(t0, ambient_c, ambient_c, ambient_c, 0.0, probe_connected=probe_connected)
        self._history: list[_State] = [replace(self._state)]
        self._history_t: list[float] = [t0]
        super().__init__(line_end=b"\r\n", reply_end=b"\r\n", garbage=GARBAGE)

    # -- wire side -------------------------------------------------------------------------------
    def _process(self, raw: bytes) -> str | None:
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            return None
        if not line:
            return None
        s = self._now()
        if line.startswith("IN_"):
            return self._query(s, line)
        return self._command(s, line)

    def _query(self, s: _State, line: str) -> str | None:
        answers: dict[str, Callable[[], str]] = {
            "IN_NAME": lambda: self.name,
            "IN_PV_1": lambda: f"{(s.flask_c if s.probe_connected else self.probe_missing_reply_c):.1f} 1",
            "IN_PV_2": lambda: f"{s.plate_c:.1f} 2",
            "IN_PV_4": lambda: f"{s.rpm:.1f} 4",
            "IN_SP_1": lambda: f"{s.setpoint_c:.1f} 1",
            "IN_SP_3": lambda: f"{self.safety_temperature_c:.1f} 3",
            "IN_SP_4": lambda: f"{s.speed_setpoint_rpm:.1f} 4",
        }
        answer = answers.get(line)
        if answer is None:
            return None
        if s.error is not None:
            return f"Er{s.error:02d}"
        return answer()

    def _command(self, s: _State, line: str) -> str | None:
        if m := _VALUE_CMD_RE.fullmatch(line):
            value = float(m[2])
            if m[1] == "OUT_SP_1" and value <= 310.0:
                self._change(lambda st: setattr(st, "setpoint_c", round(value, 1)))
            elif m[1] == "OUT_SP_4" and value <= 1500.0:
                self._change(lambda st: setattr(st, "speed_setpoint_rpm", float(round(value))))
            return None
        if m := _WD1_RE.fullmatch(line):
            period = int(m[1])
            if not 20 <= period <= 1500:
                return None
            self._change(lambda st: self._arm(st, period))
            if self.watchdog_echo:
                return f"Er{s.error:02d}" if s.error is not None else f"{period}"
            return None
        actions: dict[str, Callable[[_State], None]] = {
            "START_1": self._start_heater,
            "STOP_1": lambda st: setattr(st, "heater_on", False),
            "START_4": lambda st: setattr(st, "stirrer_on", st.error is None),
            "STOP_4": lambda st: setattr(st, "stirrer_on", False),
            "RESET": self._reset,
            "SET_MODE_A": lambda st: None,
            "SET_MODE_B": lambda st: None,
            "SET_MODE_D": lambda st: None,
        }
        action = actions.get(line)
        if action is not None:
            self._change(action)
        return None

    def _start_heater(self, st: _State) -> None:
        if st.error is not None or st.heater_on:
            return
        st.heater_on = True
        st.regulate_flask = st.probe_connected
        if self.quirk_setpoint_zero:
            st.setpoint_c = 0.0

    def _arm(self, st: _State, period: int) -> None:
        if st.error is None:
            st.watchdog_s = period
            st.watchdog_deadline = st.t + period

    @staticmethod
    def _reset(st: _State) -> None:
        st.error = None
        st.heater_on = st.stirrer_on = False
        st.watchdog_s = st.watchdog_deadline = None

    # -- state ------------------------------------------------------------------------------------
    def _now(self) -> _State:
        """Bring the recorded state up to the clock's time (grid points and due events) and return
        the state at exactly that time (not recorded beyond the last grid point)."""
        now = float(self._clock())
        return self._evolve(self._state, now, record=True)

    def _change(self, action: Callable[[_State], None]) -> None:
        """Apply a command at the present instant: the grid restarts here."""
        now = float(self._clock())
        s = self._evolve(self._state, now, record=True)
        action(s)
        self._commit(s)

    def _commit(self, s: _State) -> None:
        self._state = replace(s)
        self._history.append(replace(s))
        self._history_t.append(s.t)

    def _evolve(self, start: _State, t: float, *, record: bool) -> _State:
        """The state at time ``t >= start.t``: grid steps of ``step_s`` from ``start``, the watchdog
        firing at its exact instant; with ``record`` the grid points and events are committed."""
        s = replace(start)
        while s.t < t:
            deadline = s.watchdog_deadline
            if deadline is not None and deadline <= t and deadline <= s.t + self.step_s:
                self._step(s, deadline - s.t)
                s.t = deadline
                self._fire_watchdog(s)
                if record:
                    self._commit(s)
                continue
            if s.t + self.step_s <= t:
                self._step(s, self.step_s)
                s.t += self.step_s
                if record:
                    self._commit(s)
            else:
                self._step(s, t - s.t)
                s.t = t
        return s

    @staticmethod
    def _fire_watchdog(s: _State) -> None:
        s.heater_on = s.stirrer_on = False
        s.error = 2
        s.watchdog_s = s.watchdog_deadline = None

    def _transfer_bf(self, rpm: float) -> float:
        return BLOCK_TO_FLASK_W_PER_K * (1.0 + STIR_TRANSFER_GAIN * min(rpm, 1000.0) / 1000.0)

    def _plate_target(self, s: _State) -> float:
        limit = min(self.plate_max_c, self.safety_temperature_c)
        if s.regulate_flask and not s.probe_connected:
            return limit  # blind: the open probe reads far below any setpoint
        if not s.regulate_flask:
            return min(s.setpoint_c, limit)
        a, sp = self.ambient_c, s.setpoint_c
        g_bf = self._transfer_bf(s.rpm)
        q_flask = FLASK_LOSS_W_PER_K * (sp - a)
        block_ss = sp + q_flask / g_bf
        plate_ss = block_ss + (BLOCK_LOSS_W_PER_K * (block_ss - a) + q_flask) / PLATE_TO_BLOCK_W_PER_K
        target = plate_ss + FLASK_GAIN * (sp - s.flask_c)
        return min(target, s.flask_c + self.plate_lead_c, limit)

    def _heater_power(self, s: _State) -> float:
        if not s.heater_on:
            return 0.0
        rise = min((self._plate_target(s) - s.plate_c) / PLATE_TAU_S, self.max_plate_rate_c_per_s)
        losses = PLATE_LOSS_W_PER_K * (s.plate_c - self.ambient_c) + PLATE_TO_BLOCK_W_PER_K * (s.plate_c - s.block_c)
        return min(max(PLATE_HEAT_CAPACITY_J_PER_K * rise + losses, 0.0), HEATER_POWER_W)

    def _step(self, s: _State, dt: float) -> None:
        """Advance temperatures and speed by ``dt`` with the heater power held at its value at ``s.t``."""
        if dt <= 0:
            return
        power = self._heater_power(s)
        a = self.ambient_c
        target_rpm = s.speed_setpoint_rpm if s.stirrer_on else 0.0
        rpm0 = s.rpm
        rpm1 = rpm0 + max(-STIR_RAMP_RPM_PER_S * dt, min(STIR_RAMP_RPM_PER_S * dt, target_rpm - rpm0))
        c_f = self.flask_heat_capacity_j_per_k

        def derivs(tp: float, tb: float, tf: float, rpm: float) -> tuple[float, float, float]:
            q_pb = PLATE_TO_BLOCK_W_PER_K * (tp - tb)
            q_bf = self._transfer_bf(rpm) * (tb - tf)
            dp = (power - PLATE_LOSS_W_PER_K * (tp - a) - q_pb) / PLATE_HEAT_CAPACITY_J_PER_K
            db = (q_pb - BLOCK_LOSS_W_PER_K * (tb - a) - q_bf) / BLOCK_HEAT_CAPACITY_J_PER_K
            df = (q_bf - FLASK_LOSS_W_PER_K * (tf - a)) / c_f
            return dp, db, df

        rpm_mid = (rpm0 + rpm1) / 2  # the transfer sees the mean speed over the step
        y = (s.plate_c, s.block_c, s.flask_c)

        def shifted(k: tuple[float, float, float], h: float) -> tuple[float, float, float]:
            return y[0] + h * k[0], y[1] + h * k[1], y[2] + h * k[2]

        k1 = derivs(*y, rpm_mid)
        k2 = derivs(*shifted(k1, dt / 2), rpm_mid)
        k3 = derivs(*shifted(k2, dt / 2), rpm_mid)
        k4 = derivs(*shifted(k3, dt), rpm_mid)
        tp, tb, tf = (
            yi + dt / 6 * (a1 + 2 * a2 + 2 * a3 + a4) for yi, a1, a2, a3, a4 in zip(y, k1, k2, k3, k4, strict=True)
        )
        s.plate_c = min(tp, self.safety_temperature_c)  # the safety circuit cuts the heater at the limit
        s.block_c, s.flask_c, s.rpm = tb, tf, rpm1

    def _at(self, t: float | None) -> _State:
        now = float(self._clock())
        current = self._evolve(self._state, now, record=True)
        if t is None or t == now:
            return current
        if t > now:
            return self._evolve(current, t, record=False)
        i = bisect_right(self._history_t, t) - 1
        if i < 0:
            return replace(self._history[0])
        return self._evolve(self._history[i], t, record=False)

    # -- faults on demand -----------------------------------------------------------------------------
    def unplug_probe(self) -> None:
        """Pull the flask PT1000 out of the hotplate: ``IN_PV_1`` reads the missing-probe value, and
        a controller regulating the flask drives the plate to its limit."""
        self._change(lambda st: setattr(st, "probe_connected", False))

    def plug_probe(self) -> None:
        """Plug the PT1000 back in (regulation on it resumes at the next ``START_1``)."""
        self._change(lambda st: setattr(st, "probe_connected", True))

    # -- physics-facing API ----------------------------------------------------------------------------
    def flask_temperature_c(self, t: float | None = None) -> float:
        """The liquid in the flask at time ``t`` (default: now), °C."""
        return self._at(t).flask_c

    def plate_temperature_c(self, t: float | None = None) -> float:
        """The heating plate at time ``t`` (default: now), °C."""
        return self._at(t).plate_c

    def block_temperature_c(self, t: float | None = None) -> float:
        """The aluminium heating block at time ``t`` (default: now), °C."""
        return self._at(t).block_c

    def speed_rpm(self, t: float | None = None) -> float:
        """The stirrer's speed at time ``t`` (default: now), rpm."""
        return self._at(t).rpm

    # -- read-outs for tests and models --------------------------------------------------------------
    @property
    def heater_on(self) -> bool:
        return self._now().heater_on

    @property
    def stirrer_on(self) -> bool:
        return self._now().stirrer_on

    @property
    def error(self) -> int | None:
        """The latched error code (2: watchdog), or None."""
        return self._now().error

    @property
    def setpoint_c(self) -> float:
        return self._now().setpoint_c

    @property
    def speed_setpoint_rpm(self) -> float:
        return self._now().speed_setpoint_rpm

    @property
    def probe_connected(self) -> bool:
        return self._state.probe_connected

    @property
    def watchdog_deadline(self) -> float | None:
        """When watchdog 1 fires unless fed (None when disarmed)."""
        return self._now().watchdog_deadline
