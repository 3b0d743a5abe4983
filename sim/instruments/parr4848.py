"""Parr reactor simulation: a 150 mL heated, stirred pressure vessel and its 4848-class controller on Modbus.

Three layers:

* :class:`ParrVessel`, the physics.  Time comes only from the clock passed in; the state is
  advanced explicitly (:meth:`ParrVessel.advance`, which every query and action calls first) in
  substeps of at most :data:`MAX_SUBSTEP_S`.
* :class:`ParrControllerSimulator`, the controller: a PI loop on temperature (output 0-100 %),
  setpoint ramp, stirrer and valve relays, and the LATCHING high-limit relay, behind a pymodbus
  datastore (``SimDevice``) whose action hook brings the model up to date and refreshes the
  registers on every request and turns every write into a model change.
* :func:`serve_parr`, which serves that datastore with pymodbus' own server on the running loop:
  RTU framing over a TCP socket (what a serial-to-TCP adapter gives) or Modbus TCP.

Model choices (ours; the constants are tuned to bench experience, not measured on a unit):

* Heat.  One lumped heat capacity (vessel body, 3 mL of liquid and the heater jacket,
  8 kJ/K) heated by up to 400 W and losing 4 W/K to the room: a first-order lag of
  C/G = 2000 s.  Flat out the vessel heats at 3 K/min at room temperature; with the default PI
  (10 %/K, Ti 600 s) it reaches 70 °C from 22 °C in about 30 min without overshoot, holds
  it at about 48 % output, and cools back to 25 °C in about 1.5 h in air or about 18 min in an
  ice bath (6 W/K more, to 0 °C).  Within a substep the heater power is constant and the
  temperature follows the exact exponential.
* Gas.  Ideal gas in the headspace (vessel volume - liquid volume) at the vessel temperature;
  CO2 and air tracked in mmol.  ``charge(p)`` fills CO2 from a regulator up to ``p`` (inflow
  only); the inlet valve, while open, holds the headspace at the regulator pressure; ``vent()``
  (or the vent valve, with a 2 s time constant) brings it to ambient pressure; a leak bleeds a
  fixed Pa/s while above ambient.  Gas dissolved in the liquid is ignored.
* Reaction.  Any object with the :class:`Reaction` ``advance`` method, told each substep's
  temperature, CO2 partial pressure and stirring; the mmol it returns leave the headspace.
* High limit.  Its own sensors (true temperature, not the offset PV; the pressure) trip a relay
  in series with the heater at the trip points; it latches until
  :meth:`ParrControllerSimulator.press_front_panel_reset` and only resets once both readings
  are below their trip points.  Nothing on the bus resets it: the alarm word, the trip points
  and the tripped input are read-only (a write is refused with Modbus exception 2, illegal data
  address, by pymodbus' read-only registers), and heater enable is accepted but the open relay
  still cuts the heater.
* Writes.  A write to an address the register map does not have, or to one it does not mark
  writable, is refused with exception 2 (illegal data address), a value outside a register's
  limits with exception 3 (illegal data value); a multi-register or multi-coil write is checked
  whole before any of it acts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from labctl.devices.drivers.parr4848 import ALARM_BITS, BIT_TABLES, RegisterMap, RegisterSpec

GAS_CONSTANT_J_PER_MOL_K = 8.314462618
STANDARD_PRESSURE_PA = 101_325.0
ZERO_CELSIUS_K = 273.15
PA_PER_BAR = 1e5
M3_PER_ML = 1e-6
MMOL_PER_MOL = 1e3
MAX_SUBSTEP_S = 5.0  # s, longest step over which heater power and valves are held constant

_ALARM_BIT = {name: bit for bit, name in ALARM_BITS.items()}
_FUNCTION_TABLE = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 4: "input", 3: "holding", 6: "holding"}
_FUNCTION_TABLE.update({16: "holding", 22: "holding", 23: "holding"})


class Reaction(Protocol):
    """Chemistry consuming CO2 in the vessel."""

    def advance(self, dt_s: float, temperature_k: float, co2_pressure_pa: float, stirring_rpm: float) -> float:
        """Advance by ``dt_s`` at these conditions; return the mmol of CO2 consumed in the step."""
        ...


@dataclass(frozen=True)
class VesselState:
    """A snapshot of the vessel."""

    time_s: float
    temperature_k: float
    pressure_pa: float
    co2_pressure_pa: float
    co2_mmol: float
    co2_consumed_mmol: float
    stirrer_rpm: float
    heater_power_w: float
    ice_bath: bool
    inlet_open: bool
    vent_open: bool


class ParrVessel:
    """A stirred, heated pressure vessel (physics only; the controller acts through its attributes).

    :param clock: returns the current time in seconds (e.g. ``loop.time``); the only time source.
    :param volume_ml / liquid_volume_ml: the headspace is their difference.
    :param heat_capacity_j_per_k: lumped heat capacity of vessel, contents and heater jacket.
    :param loss_w_per_k: heat loss to the room; ``ice_bath_w_per_k``: extra conductance to the bath.
    :param reaction: consumes CO2 (optional).

    The controller drives ``heater_percent`` (0-100), ``heater_relay_closed`` (the high-limit
    relay) and is called back after every substep through :meth:`attach`.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        volume_ml: float = 150.0,
        liquid_volume_ml: float = 3.0,
        ambient_k: float = 295.15,
        ambient_pressure_pa: float = STANDARD_PRESSURE_PA,
        heater_w: float = 400.0,
        heat_capacity_j_per_k: float = 8000.0,
        loss_w_per_k: float = 4.0,
        ice_bath_w_per_k: float = 6.0,
        ice_bath_k: float = ZERO_CELSIUS_K,
        stirrer_ramp_rpm_per_s: float = 100.0,
        vent_time_constant_s: float = 2.0,
        reaction: Reaction | None = None,
    ) -> None:
        if not 0 <= liquid_volume_ml < volume_ml:
            raise ValueError(f"liquid_volume_ml {liquid_volume_ml} must be >= 0 and below volume_ml {volume_ml}")
        for label, value in (
            ("heat_capacity_j_per_k", heat_capacity_j_per_k),
            ("loss_w_per_k", loss_w_per_k),
            ("ambient_k", ambient_k),
            ("ambient_pressure_pa", ambient_pressure_pa),
            ("vent_time_constant_s", vent_time_constant_s),
        ):
            if not value > 0:
                raise ValueError(f"{label} must be > 0, got {value}")
        self.clock = clock
        self.volume_ml = volume_ml
        self.liquid_volume_ml = liquid_volume_ml
        self.ambient_k = ambient_k
        self.ambient_pressure_pa = ambient_pressure_pa
        self.heater_w = heater_w
        self.heat_capacity_j_per_k = heat_capacity_j_per_k
        self.loss_w_per_k = loss_w_per_k
        self.ice_bath_w_per_k = ice_bath_w_per_k
        self.ice_bath_k = ice_bath_k
        self.stirrer_ramp_rpm_per_s = stirrer_ramp_rpm_per_s
        self.vent_time_constant_s = vent_time_constant_s
        self.reaction = reaction

        self.time_s = clock()
        self.temperature_k = ambient_k
        self.heater_percent = 0.0  # commanded by the controller
        self.heater_relay_closed = True  # the high-limit relay in series with the heater
        self.heater_stuck = False
        self.ice_bath_on = False
        self.stirrer_setpoint_rpm = 0.0
        self.stirrer_rpm = 0.0
        self.air_mmol = self._mmol_at(ambient_pressure_pa, ambient_k)
        self.co2_mmol = 0.0
        self.co2_consumed_mmol = 0.0
        self.regulator_pa: float | None = None
        self.inlet_open = False
        self.vent_open = False
        self.leak_pa_per_s = 0.0
        self._hooks: list[Callable[[float], None]] = []

    # -- derived quantities (no advance) --------------------------------------------------------
    @property
    def headspace_m3(self) -> float:
        return (self.volume_ml - self.liquid_volume_ml) * M3_PER_ML

    @property
    def total_mmol(self) -> float:
        return self.co2_mmol + self.air_mmol

    @property
    def pressure_pa(self) -> float:
        return self._pressure_of(self.total_mmol)

    @property
    def co2_pressure_pa(self) -> float:
        return self._pressure_of(self.co2_mmol)

    @property
    def heater_power_w(self) -> float:
        if not self.heater_relay_closed:
            return 0.0
        percent = 100.0 if self.heater_stuck else min(100.0, max(0.0, self.heater_percent))
        return self.heater_w * percent / 100.0

    @property
    def max_heating_rate_k_per_s(self) -> float:
        """Heating rate at full power with no losses (the most the vessel can do)."""
        return self.heater_w / self.heat_capacity_j_per_k

    def _pressure_of(self, mmol: float) -> float:
        return mmol / MMOL_PER_MOL * GAS_CONSTANT_J_PER_MOL_K * self.temperature_k / self.headspace_m3

    def _mmol_at(self, pressure_pa: float, temperature_k: float) -> float:
        return pressure_pa * self.headspace_m3 / (GAS_CONSTANT_J_PER_MOL_K * temperature_k) * MMOL_PER_MOL

    # -- time ---------------------------------------------------------------------------------
    def attach(self, hook: Callable[[float], None]) -> None:
        """Call ``hook(dt_s)`` after every substep (a controller acting on the vessel)."""
        self._hooks.append(hook)

    def advance(self) -> None:
        """Bring the state up to ``clock()``."""
        total = self.clock() - self.time_s
        if total <= 0:
            return
        steps = max(1, math.ceil(total / MAX_SUBSTEP_S))
        dt = total / steps
        for _ in range(steps):
            self._step(dt)
            self.time_s += dt
            for hook in self._hooks:
                hook(dt)

    def state(self) -> VesselState:
        self.advance()
        return VesselState(
            time_s=self.time_s,
            temperature_k=self.temperature_k,
            pressure_pa=self.pressure_pa,
            co2_pressure_pa=self.co2_pressure_pa,
            co2_mmol=self.co2_mmol,
            co2_consumed_mmol=self.co2_consumed_mmol,
            stirrer_rpm=self.stirrer_rpm,
            heater_power_w=self.heater_power_w,
            ice_bath=self.ice_bath_on,
            inlet_open=self.inlet_open,
            vent_open=self.vent_open,
        )

    def _step(self, dt: float) -> None:
        # Temperature: constant power over the substep, exact first-order response.
        conductance = self.loss_w_per_k + (self.ice_bath_w_per_k if self.ice_bath_on else 0.0)
        sink = self.loss_w_per_k * self.ambient_k + (self.ice_bath_w_per_k * self.ice_bath_k if self.ice_bath_on else 0)
        t_inf = (self.heater_power_w + sink) / conductance
        self.temperature_k = t_inf + (self.temperature_k - t_inf) * math.exp(
            -dt * conductance / self.heat_capacity_j_per_k
        )
        # Stirrer ramps towards its setpoint.
        step = self.stirrer_ramp_rpm_per_s * dt
        delta = self.stirrer_setpoint_rpm - self.stirrer_rpm
        self.stirrer_rpm = (
            self.stirrer_setpoint_rpm if abs(delta) <= step else self.stirrer_rpm + math.copysign(step, delta)
        )
        # Chemistry.
        if self.reaction is not None:
            used = self.reaction.advance(dt, self.temperature_k, self.co2_pressure_pa, self.stirrer_rpm)
            used = min(float(used), self.co2_mmol)
            self.co2_mmol -= used
            self.co2_consumed_mmol += used
        # Gas handling.
        if self.inlet_open and self.regulator_pa is not None:
            self._fill_co2_to(self.regulator_pa)
        if self.vent_open:
            target = self.ambient_pressure_pa
            self._set_pressure(target + (self.pressure_pa - target) * math.exp(-dt / self.vent_time_constant_s))
        if self.leak_pa_per_s > 0 and self.pressure_pa > self.ambient_pressure_pa:
            self._set_pressure(max(self.ambient_pressure_pa, self.pressure_pa - self.leak_pa_per_s * dt))

    def _fill_co2_to(self, pressure_pa: float) -> None:
        missing = self._mmol_at(pressure_pa, self.temperature_k) - self.total_mmol
        if missing > 0:
            self.co2_mmol += missing

    def _set_pressure(self, pressure_pa: float) -> None:
        """Set the headspace pressure: gas leaves in proportion (same composition), or air enters."""
        current = self.pressure_pa
        if pressure_pa < current and current > 0:
            keep = pressure_pa / current
            self.co2_mmol *= keep
            self.air_mmol *= keep
        elif pressure_pa > current:
            self.air_mmol += self._mmol_at(pressure_pa, self.temperature_k) - self.total_mmol

    # -- operator actions and faults -----------------------------------------------------------
    def charge(self, gas_pressure_pa: float, *, purge: bool = False) -> None:
        """Fill CO2 from a regulator set at ``gas_pressure_pa`` (absolute) and close the inlet.

        Gas only flows in: a headspace already above the regulator pressure keeps its pressure.
        ``purge=True`` first flushes the air out (headspace: pure CO2 at ambient pressure).
        """
        if not gas_pressure_pa > 0:
            raise ValueError(f"gas_pressure_pa must be > 0 Pa (absolute), got {gas_pressure_pa}")
        self.advance()
        self.regulator_pa = gas_pressure_pa
        if purge:
            self.air_mmol = 0.0
            self.co2_mmol = self._mmol_at(self.ambient_pressure_pa, self.temperature_k)
        self._fill_co2_to(gas_pressure_pa)

    def vent(self) -> None:
        """Open the vent to the room until the headspace is at ambient pressure, then close it."""
        self.advance()
        self._set_pressure(self.ambient_pressure_pa)

    def ice_bath(self, on: bool) -> None:
        self.advance()
        self.ice_bath_on = bool(on)

    def set_stirrer_setpoint(self, rpm: float) -> None:
        self.advance()
        self.stirrer_setpoint_rpm = max(0.0, float(rpm))

    def set_inlet_valve(self, open_: bool) -> None:
        self.advance()
        self.inlet_open = bool(open_)

    def set_vent_valve(self, open_: bool) -> None:
        self.advance()
        self.vent_open = bool(open_)

    def stick_heater(self, on: bool) -> None:
        """Fault: the heater's switch fails closed (100 % whatever the controller says)."""
        self.advance()
        self.heater_stuck = bool(on)

    def leak(self, rate_pa_per_s: float) -> None:
        """Fault: lose ``rate_pa_per_s`` while above ambient pressure (0 stops the leak)."""
        if rate_pa_per_s < 0:
            raise ValueError(f"leak rate must be >= 0 Pa/s, got {rate_pa_per_s}")
        self.advance()
        self.leak_pa_per_s = float(rate_pa_per_s)


class ParrControllerSimulator:
    """The controller in front of a :class:`ParrVessel`, with its registers in a pymodbus datastore.

    :param register_map: which registers it serves (the stand-in map by default).  Registers are
        recognised by name; names it does not know are served as plain storage.
    :param high_limit_temperature_k / high_limit_pressure_pa: the high-limit relay's trip points
        (front-panel settings, read-only over the bus).
    :param kp_percent_per_k / ti_s: the PI loop's gain and integral time.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        vessel: ParrVessel,
        *,
        register_map: RegisterMap | None = None,
        device_id: int = 1,
        high_limit_temperature_k: float = 373.15,
        high_limit_pressure_pa: float = 10e5,
        kp_percent_per_k: float = 10.0,
        ti_s: float = 600.0,
        setpoint_c: float = 25.0,
    ) -> None:
        self.clock = clock
        self.vessel = vessel
        self.register_map = register_map if register_map is not None else RegisterMap.default()
        self.device_id = device_id
        self.high_limit_temperature_k = high_limit_temperature_k
        self.high_limit_pressure_pa = high_limit_pressure_pa
        self.kp_percent_per_k = kp_percent_per_k
        self.ti_s = ti_s
        self.target_c = setpoint_c
        self.working_c = setpoint_c
        self.rate_c_per_min = 0.0
        self.offset_c = 0.0
        self.heater_enabled = False
        self.output_percent = 0.0
        self._integral = 0.0
        self.tripped = False
        self.trip_reason = ""
        self.requests = 0  # requests that reached the datastore
        self.fault_timeout = False
        self.fault_crc = False
        self.fault_exception: ExcCodes | None = None
        self._writers: dict[str, Callable[[float | int | bool], ExcCodes | None]] = {
            "temperature_setpoint": self.set_setpoint,
            "temperature_setpoint_rate": self.set_setpoint_rate,
            "temperature_offset": self.set_offset,
            "stirrer_setpoint": lambda v: self.vessel.set_stirrer_setpoint(float(v)),
            "heater_enable": self.enable_heater,
            "gas_inlet": lambda v: self.vessel.set_inlet_valve(bool(v)),
            "vent": lambda v: self.vessel.set_vent_valve(bool(v)),
        }
        vessel.attach(self._on_substep)
        self._control(0.0)

    # -- the controller ---------------------------------------------------------------------------
    @property
    def pv_c(self) -> float:
        return self.vessel.temperature_k - ZERO_CELSIUS_K + self.offset_c

    def over_temperature(self) -> bool:
        return self.vessel.temperature_k >= self.high_limit_temperature_k

    def over_pressure(self) -> bool:
        return self.vessel.pressure_pa >= self.high_limit_pressure_pa

    def update(self) -> None:
        """Bring vessel and controller up to ``clock()``."""
        self.vessel.advance()

    def _on_substep(self, dt: float) -> None:
        self._check_high_limit()
        if self.rate_c_per_min > 0:
            step = self.rate_c_per_min / 60.0 * dt
            delta = self.target_c - self.working_c
            self.working_c = self.target_c if abs(delta) <= step else self.working_c + math.copysign(step, delta)
        else:
            self.working_c = self.target_c
        self._control(dt)

    def _check_high_limit(self) -> None:
        if self.tripped:
            return
        reasons = []
        if self.over_temperature():
            reasons.append(
                f"temperature {self.vessel.temperature_k - ZERO_CELSIUS_K:.1f} °C >= "
                f"{self.high_limit_temperature_k - ZERO_CELSIUS_K:.1f} °C"
            )
        if self.over_pressure():
            reasons.append(
                f"pressure {self.vessel.pressure_pa / PA_PER_BAR:.2f} bar >= "
                f"{self.high_limit_pressure_pa / PA_PER_BAR:.2f} bar"
            )
        if reasons:
            self.tripped = True
            self.trip_reason = "; ".join(reasons)
            self.vessel.heater_relay_closed = False

    def _control(self, dt: float) -> None:
        """PI on the PV with clamping anti-windup; output 0-100 %."""
        if not self.heater_enabled:
            self._integral = 0.0
            self.output_percent = 0.0
        else:
            error = self.working_c - self.pv_c
            unclamped = self.kp_percent_per_k * error + self._integral
            saturated = (unclamped >= 100.0 and error > 0) or (unclamped <= 0.0 and error < 0)
            if dt > 0 and not saturated:
                self._integral += self.kp_percent_per_k * error * dt / self.ti_s
                self._integral = min(100.0, max(0.0, self._integral))
            self.output_percent = min(100.0, max(0.0, self.kp_percent_per_k * error + self._integral))
        self.vessel.heater_percent = self.output_percent

    def press_front_panel_reset(self) -> bool:
        """The front-panel reset button: clears the latch only if neither limit is exceeded now."""
        self.update()
        if not self.tripped:
            return True
        if self.over_temperature() or self.over_pressure():
            return False
        self.tripped = False
        self.trip_reason = ""
        self.vessel.heater_relay_closed = True
        return True

    def alarm_word(self) -> int:
        word = 0
        for name, active in (
            ("high_limit_latched", self.tripped),
            ("over_temperature", self.over_temperature()),
            ("over_pressure", self.over_pressure()),
        ):
            if active:
                word |= 1 << _ALARM_BIT[name]
        return word

    # -- settings (what a bus write, or the front panel, does) ------------------------------------
    def set_setpoint(self, value: float | int | bool) -> None:
        """Temperature setpoint, °C; with a ramp rate set, the working setpoint ramps from the PV."""
        self.update()
        self.target_c = float(value)
        self.working_c = self.pv_c if self.rate_c_per_min > 0 else self.target_c
        self._control(0.0)

    def set_setpoint_rate(self, value: float | int | bool) -> None:
        """Setpoint ramp rate, °C/min (0: the working setpoint steps at once)."""
        self.update()
        self.rate_c_per_min = float(value)

    def set_offset(self, value: float | int | bool) -> None:
        """Offset added to the measured temperature to give the PV, °C."""
        self.update()
        self.offset_c = float(value)
        self._control(0.0)

    def enable_heater(self, value: float | int | bool) -> None:
        """Heater enable; accepted while the high limit is latched, but the open relay still cuts the heater."""
        self.update()
        self.heater_enabled = bool(value)
        self._control(0.0)

    def values(self) -> dict[str, float | int | bool]:
        """Every known quantity, in the map's engineering units (no advance)."""
        v = self.vessel
        return {
            "temperature": self.pv_c,
            "temperature_target_setpoint": self.target_c,
            "temperature_working_setpoint": self.working_c,
            "temperature_setpoint": self.target_c,
            "temperature_setpoint_rate": self.rate_c_per_min,
            "heater_output": self.output_percent,
            "stirrer_setpoint": v.stirrer_setpoint_rpm,
            "temperature_offset": self.offset_c,
            "alarm_summary": self.alarm_word(),
            "high_limit_temperature": self.high_limit_temperature_k - ZERO_CELSIUS_K,
            "high_limit_pressure": self.high_limit_pressure_pa / PA_PER_BAR,
            "pressure": v.pressure_pa / PA_PER_BAR,
            "stirrer_speed": v.stirrer_rpm,
            "status_temperature": self.pv_c,
            "status_alarms": self.alarm_word(),
            "heater_enable": self.heater_enabled,
            "gas_inlet": v.inlet_open,
            "vent": v.vent_open,
            "high_limit_tripped": self.tripped,
        }

    # -- faults on demand -------------------------------------------------------------------------
    def inject_timeout(self, on: bool) -> None:
        """Answer nothing: requests are refused unexecuted and the reply is never sent."""
        self.fault_timeout = bool(on)

    def inject_crc_error(self, on: bool) -> None:
        """Execute requests but corrupt every reply frame on its way out (see :func:`serve_parr`)."""
        self.fault_crc = bool(on)

    def inject_exception(self, code: int | None) -> None:
        """Answer every request with Modbus exception ``code`` (None: normal service)."""
        if code is None:
            self.fault_exception = None
            return
        try:
            self.fault_exception = ExcCodes(code)
        except ValueError:
            valid = ", ".join(str(int(c)) for c in ExcCodes)
            raise ValueError(f"Modbus exception code {code} does not exist; use one of {valid}") from None

    def outgoing(self, frame: bytes, framing: Literal["rtu", "tcp"]) -> bytes:
        """What actually leaves the server for a reply ``frame`` under the injected faults."""
        if self.fault_timeout:
            return b""
        if self.fault_crc and len(frame) >= 4:
            if framing == "rtu":
                return frame[:-2] + bytes(b ^ 0xFF for b in frame[-2:])
            # Modbus TCP has no CRC; the nearest fault is a corrupt MBAP header (protocol id != 0),
            # which pymodbus' socket framer also refuses.
            return frame[:2] + b"\xff\xff" + frame[4:]
        return frame

    # -- the pymodbus datastore -------------------------------------------------------------------
    def sim_device(self) -> SimDevice:
        """A fresh pymodbus ``SimDevice`` for one server, wired to this simulator."""
        tables: dict[str, list[SimData]] = {t: [] for t in ("coil", "discrete", "holding", "input")}
        for spec in self.register_map.values():
            if spec.is_bit:
                tables[spec.table].append(SimData(spec.address, values=False, datatype=DataType.BITS))
            else:
                tables[spec.table].append(
                    SimData(spec.address, values=0, datatype=DataType.REGISTERS, readonly=not spec.writable)
                )
        # pymodbus needs every table non-empty: an absent table gets one invalid register / one
        # spare bit at the top of the address range.
        for table, entries in tables.items():
            if not entries:
                if table in BIT_TABLES:
                    entries.append(SimData(0xFFFF, values=False, datatype=DataType.BITS))
                else:
                    entries.append(SimData(0xFFFF, datatype=DataType.INVALID))
        return SimDevice(
            id=self.device_id,
            simdata=(tables["coil"], tables["discrete"], tables["holding"], tables["input"]),
            action=self._action,
        )

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.requests += 1
        if self.fault_timeout:
            return ExcCodes.DEVICE_BUSY  # never seen: outgoing() swallows the reply
        if self.fault_exception is not None:
            return self.fault_exception
        table = _FUNCTION_TABLE[function_code]
        self.update()
        if set_values is not None:
            # Check the whole write before any of it acts, as the controller would: every address in the
            # map (pymodbus' store holds coils 16 to a register, so it would take coils the map has not),
            # every value within its limits.
            writes = []
            for offset, raw in enumerate(set_values):
                spec = self.register_map.at(table, address + offset)
                if spec is None or not spec.writable:
                    return ExcCodes.ILLEGAL_ADDRESS
                value = spec.decode(raw)
                if not spec.is_bit and (
                    (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max)
                ):
                    return ExcCodes.ILLEGAL_VALUE
                writes.append((spec, value))
            for spec, value in writes:
                writer = self._writers.get(spec.name)
                if writer is not None and (code := writer(value)) is not None:
                    return code
        self._refresh(table, start_address, registers)
        return None

    def _refresh(self, table: str, start: int, registers: list[int]) -> None:
        values = self.values()
        for spec in self.register_map.in_table(table):
            if spec.name not in values:
                continue
            self._store(spec, spec.encode_raw(values[spec.name]), start, registers)

    @staticmethod
    def _store(spec: RegisterSpec, raw: int | bool, start: int, registers: list[int]) -> None:
        if spec.is_bit:
            index, bit = spec.address // 16 - start, spec.address % 16
            if 0 <= index < len(registers):
                registers[index] = registers[index] | (1 << bit) if raw else registers[index] & ~(1 << bit)
        else:
            index = spec.address - start
            if 0 <= index < len(registers):
                registers[index] = int(raw)


@dataclass
class ParrServer:
    """A running pymodbus server for one :class:`ParrControllerSimulator`."""

    server: ModbusSerialServer | ModbusTcpServer
    host: str
    port: int
    framing: Literal["rtu", "tcp"]

    @property
    def url(self) -> str:
        """The address a :class:`labctl.devices.drivers.parr4848.ParrController` connects to."""
        return f"{'socket' if self.framing == 'rtu' else 'tcp'}://{self.host}:{self.port}"

    async def close(self) -> None:
        await self.server.shutdown()


async def serve_parr(
    simulator: ParrControllerSimulator,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    framing: Literal["rtu", "tcp"] = "rtu",
) -> ParrServer:
    """Serve ``simulator`` with pymodbus on the running loop (no threads).

    ``framing="rtu"``: ``ModbusSerialServer`` on ``socket://host:port`` with the RTU framer (RTU
    frames, CRC included, over TCP); ``"tcp"``: ``ModbusTcpServer`` (MBAP).  ``port=0`` picks a
    free port, given back as ``.port``.  Timeout and CRC faults act on the outgoing bytes through
    pymodbus' ``trace_packet`` hook.
    """
    if framing not in ("rtu", "tcp"):
        raise ValueError(f"framing must be 'rtu' or 'tcp', got {framing!r}")

    def trace_packet(sending: bool, data: bytes) -> bytes:
        return simulator.outgoing(data, framing) if sending else data

    server: ModbusSerialServer | ModbusTcpServer
    if framing == "rtu":
        server = ModbusSerialServer(
            simulator.sim_device(), framer=FramerType.RTU, port=f"socket://{host}:{port}", trace_packet=trace_packet
        )
    else:
        server = ModbusTcpServer(simulator.sim_device(), address=(host, port), trace_packet=trace_packet)
    await server.serve_forever(background=True)
    listener = server.transport
    bound = int(listener.sockets[0].getsockname()[1]) if hasattr(listener, "sockets") else port
    return ParrServer(server=server, host=host, port=bound, framing=framing)
