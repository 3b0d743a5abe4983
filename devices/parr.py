"""Parr pressure reactor (4848-class controller) as an ophyd-async device.

``ParrReactor`` exposes what a plan needs, re-read from the controller on every read:
temperature (°C) and pressure (bar) as hinted readings; heater output (%), stirrer speed (rpm),
the high-limit relay and the alarm word as readings; the vessel's limits as configuration.
Setpoint devices own "done":

* ``reactor.temperature`` — ``set(T)`` writes the setpoint and completes when the
  temperature has stayed within ``settle_tolerance_c`` of it for ``settle_dwell_s``; its timeout
  is computed from the distance and the vessel's maximum heating rate (plus margin).
* ``reactor.stirrer`` — ``set(rpm)`` completes when the speed is within 5 % of the setpoint.
* ``reactor.heater`` — heater enable (the controller's heater relay).
* ``reactor.gas_inlet`` / ``reactor.vent`` — valves on the controller's relay outputs, when the
  bench has them (``automated_valves``); otherwise plans ask the operator and watch the pressure.

Every set outside the bench limits is refused before anything is sent.  ``check_safe()`` is the
runtime interlock check (over-temperature, over-pressure, the latched high-limit relay, and a
pressure rising while ``pressure_watch`` is armed), and ``make_safe()`` puts the vessel in its safe
state (heater off, setpoint to ambient, stirring stopped) without ever venting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from bluesky.protocols import Movable
from ophyd_async.core import AsyncStatus, StandardReadable, soft_signal_r_and_setter, soft_signal_rw
from ophyd_async.core import StandardReadableFormat as Format

#: Role of each quantity -> register name in the controller's register map.
DEFAULT_REGISTERS: Mapping[str, str] = {
    "temperature": "temperature",
    "temperature_setpoint": "temperature_setpoint",
    "heater_output": "heater_output",
    "heater_enable": "heater_enable",
    "pressure": "pressure",
    "stirrer_speed": "stirrer_speed",
    "stirrer_setpoint": "stirrer_setpoint",
    "setpoint_rate": "temperature_setpoint_rate",
    "gas_inlet": "gas_inlet",
    "vent": "vent",
    "high_limit_tripped": "high_limit_tripped",
    "alarms": "alarm_summary",
    "status_temperature": "status_temperature",
    "status_alarms": "status_alarms",
}

HIGH_LIMIT_ALARM_BIT = 0x01


class ReactorLimitError(ValueError):
    """A reactor setting outside the bench limits."""


class ReactorSettleError(TimeoutError):
    """The temperature did not settle at its setpoint in the time the vessel should take."""


class HotVentError(RuntimeError):
    """Refusal to vent a vessel that is still hot."""


class ParrTemperature(StandardReadable, Movable[float]):
    """Temperature setpoint whose ``set()`` completes when the vessel has settled at it."""

    def __init__(self, reactor: ParrReactor, name: str = "") -> None:
        object.__setattr__(self, "_reactor", reactor)  # a back-reference, not a child device
        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):
            self.readback = soft_signal_r_and_setter(float, units="degC", getter=lambda: reactor._read("temperature"))[
                0
            ]
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.setpoint = soft_signal_rw(
                float,
                units="degC",
                getter=lambda: reactor._read("temperature_setpoint"),
                setter=reactor._write_setpoint,
            )
        super().__init__(name=name)

    def timeout_for(self, start_c: float, target_c: float) -> float:
        r = self._reactor
        ramp_s = abs(target_c - start_c) / max(r.max_heating_rate_c_per_min, 1e-6) * 60.0
        return 2.0 * ramp_s + 3.0 * r.settle_dwell_s + 1800.0

    @AsyncStatus.wrap
    async def set(self, value: float) -> None:
        r = self._reactor
        r.check_temperature(value)
        start = float(await r._read("temperature"))
        timeout = self.timeout_for(start, value)
        await r._write_setpoint(value)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        inside_since: float | None = None
        while True:
            now = loop.time()
            t = float(await r._read("temperature"))
            if abs(t - value) <= r.settle_tolerance_c:
                inside_since = now if inside_since is None else inside_since
                if now - inside_since >= r.settle_dwell_s:
                    return
            else:
                inside_since = None
            if now >= deadline:
                raise ReactorSettleError(
                    f"{r.name}: temperature {t:.1f} °C did not settle at {value:g} ± "
                    f"{r.settle_tolerance_c:g} °C within {timeout / 60:.0f} min (from {start:.1f} °C at "
                    f"<= {r.max_heating_rate_c_per_min:g} °C/min); check the heater, the thermocouple "
                    "and the controller's high-limit relay"
                )
            await asyncio.sleep(r.poll_s)


class ParrStirrer(StandardReadable, Movable[float]):
    """Stirrer whose ``set(rpm)`` completes when the speed is within 5 % of the setpoint."""

    def __init__(self, reactor: ParrReactor, name: str = "") -> None:
        object.__setattr__(self, "_reactor", reactor)  # a back-reference, not a child device
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.speed = soft_signal_r_and_setter(float, units="rpm", getter=lambda: reactor._read("stirrer_speed"))[0]
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.setpoint = soft_signal_rw(
                float, units="rpm", getter=lambda: reactor._read("stirrer_setpoint"), setter=self._write
            )
        super().__init__(name=name)

    async def _write(self, rpm: float) -> None:
        r = self._reactor
        if not 0 <= rpm <= r.max_stirrer_rpm:
            raise ReactorLimitError(
                f"{r.name}: stirrer {rpm:g} rpm is outside 0-{r.max_stirrer_rpm:g} rpm; choose a speed in range"
            )
        await r._write("stirrer_setpoint", rpm)

    @AsyncStatus.wrap
    async def set(self, value: float) -> None:
        await self._write(value)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120.0
        while abs(float(await self._reactor._read("stirrer_speed")) - value) > max(0.05 * value, 5.0):
            if loop.time() >= deadline:
                raise ReactorSettleError(
                    f"{self._reactor.name}: stirrer did not reach {value:g} rpm within 2 min; check the "
                    "magnetic coupling and the stir bar"
                )
            await asyncio.sleep(self._reactor.poll_s)


class ParrReactor(StandardReadable):
    """A Parr vessel on its controller.

    :param controller: the controller driver (register read/write by name).
    :param max_temperature_c / max_pressure_bar: bench limits (vessel rating, gasket, ...).
    :param max_heating_rate_c_per_min: the fastest the vessel heats; sets settle timeouts and
        the plan's feasibility check.
    :param settle_tolerance_c / settle_dwell_s: "at temperature" means within tolerance for dwell.
    :param safe_vent_temperature_c: the vessel is vented only below this temperature.
    :param automated_valves: the gas inlet and vent are relay-driven valves on the controller.
    :param pressure_rise_tolerance_bar: while ``pressure_watch`` is armed, a rise above the armed
        pressure by more than this trips the interlock.
    """

    def __init__(
        self,
        controller: Any,
        *,
        max_temperature_c: float,
        max_pressure_bar: float,
        max_heating_rate_c_per_min: float = 5.0,
        max_stirrer_rpm: float = 1500.0,
        settle_tolerance_c: float = 1.0,
        settle_dwell_s: float = 120.0,
        safe_vent_temperature_c: float = 35.0,
        automated_valves: bool = True,
        pressure_rise_tolerance_bar: float = 0.3,
        poll_s: float = 5.0,
        vessel_volume_ml: float = 150.0,
        registers: Mapping[str, str] = DEFAULT_REGISTERS,
        name: str = "",
    ) -> None:
        self.controller = controller
        self.max_temperature_c = max_temperature_c
        self.max_pressure_bar = max_pressure_bar
        self.max_heating_rate_c_per_min = max_heating_rate_c_per_min
        self.max_stirrer_rpm = max_stirrer_rpm
        self.settle_tolerance_c = settle_tolerance_c
        self.settle_dwell_s = settle_dwell_s
        self.safe_vent_temperature_c = safe_vent_temperature_c
        self.automated_valves = automated_valves
        self.pressure_rise_tolerance_bar = pressure_rise_tolerance_bar
        self.poll_s = poll_s
        self.vessel_volume_ml = vessel_volume_ml
        self.registers = dict(registers)
        self._watch_reference_bar: float | None = None
        self._heating = False
        with self.add_children_as_readables():
            self.temperature = ParrTemperature(self)
            self.stirrer = ParrStirrer(self)
        # readbacks uncached: a staged or monitored signal would put its last update in events
        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):
            self.pressure = soft_signal_r_and_setter(float, units="bar", getter=lambda: self._read("pressure"))[0]
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.heater_output = soft_signal_r_and_setter(float, units="%", getter=lambda: self._read("heater_output"))[
                0
            ]
            self.high_limit_tripped = soft_signal_r_and_setter(bool, getter=lambda: self._read("high_limit_tripped"))[0]
            self.alarms = soft_signal_r_and_setter(int, getter=self._alarms)[0]
        self.heater = soft_signal_rw(bool, getter=lambda: self._read("heater_enable"), setter=self._set_heater)
        self.gas_inlet = soft_signal_rw(bool, getter=lambda: self._read("gas_inlet"), setter=self._set_inlet)
        self.vent = soft_signal_rw(bool, getter=lambda: self._read("vent"), setter=self._set_vent)
        self.pressure_watch = soft_signal_rw(bool, False, setter=self._arm_watch)
        self.ramp = soft_signal_rw(
            float, units="degC/min", getter=lambda: self._read("setpoint_rate"), setter=self._set_ramp
        )
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.limit_temperature = soft_signal_r_and_setter(float, max_temperature_c, units="degC")[0]
            self.limit_pressure = soft_signal_r_and_setter(float, max_pressure_bar, units="bar")[0]
            self.limit_heating_rate = soft_signal_r_and_setter(float, max_heating_rate_c_per_min, units="degC/min")[0]
        super().__init__(name=name)

    # -- register access --------------------------------------------------------------------
    async def _read(self, role: str) -> Any:
        return await self.controller.read(self.registers[role])

    async def _write(self, role: str, value: Any) -> None:
        await self.controller.write(self.registers[role], value)

    async def _alarms(self) -> int:
        return int(await self._read("alarms"))

    # -- limits -----------------------------------------------------------------------------
    def check_temperature(self, celsius: float) -> None:
        if not -20.0 <= celsius <= self.max_temperature_c:
            raise ReactorLimitError(
                f"{self.name}: temperature {celsius:g} °C is above the bench limit of "
                f"{self.max_temperature_c:g} °C (allowed up to {self.max_temperature_c:g} °C); lower the "
                "temperature or raise max_temperature for this reactor in the bench file"
            )

    def check_pressure(self, bar: float) -> None:
        if not 0.0 <= bar <= self.max_pressure_bar:
            raise ReactorLimitError(
                f"{self.name}: pressure {bar:g} bar is above the vessel limit of {self.max_pressure_bar:g} bar "
                f"(allowed 0-{self.max_pressure_bar:g} bar); lower the pressure or check the vessel rating "
                "in the bench file"
            )

    def check_ramp(self, c_per_min: float) -> None:
        if not 0 < c_per_min <= self.max_heating_rate_c_per_min:
            raise ReactorLimitError(
                f"{self.name}: heating rate {c_per_min:g} °C/min is outside the bench limit "
                f"0-{self.max_heating_rate_c_per_min:g} °C/min; ramp more slowly or check max_heating_rate"
            )

    async def _set_ramp(self, c_per_min: float) -> None:
        self.check_ramp(c_per_min)
        await self._write("setpoint_rate", c_per_min)

    async def _write_setpoint(self, celsius: float) -> None:
        self.check_temperature(celsius)
        await self._write("temperature_setpoint", celsius)

    async def _set_heater(self, on: bool) -> None:
        await self._write("heater_enable", bool(on))
        self._heating = bool(on)

    def _need_valves(self, what: str) -> None:
        if not self.automated_valves:
            raise RuntimeError(f"{self.name}: this bench has no automated {what} valve; the plan must ask the operator")

    async def _set_inlet(self, open_: bool) -> None:
        self._need_valves("gas inlet")
        await self._write("gas_inlet", bool(open_))

    async def _set_vent(self, open_: bool) -> None:
        self._need_valves("vent")
        if open_:
            t = float(await self._read("temperature"))
            if t > self.safe_vent_temperature_c:
                raise HotVentError(
                    f"{self.name}: refusing to vent at {t:.1f} °C (safe below "
                    f"{self.safe_vent_temperature_c:g} °C); cool the vessel first (ice bath)"
                )
        await self._write("vent", bool(open_))

    async def _arm_watch(self, on: bool) -> None:
        self._watch_reference_bar = float(await self._read("pressure")) if on else None

    # -- safety -------------------------------------------------------------------------------
    async def _status(self) -> tuple[bool, float, float]:
        """High-limit tripped, temperature (°C), pressure (bar): in one request when the map has the
        contiguous status block, else three."""
        # pressure, stirrer speed, temperature, alarms: input registers 0-3 of the stand-in map
        names = [self.registers[r] for r in ("pressure", "stirrer_speed", "status_temperature", "status_alarms")]
        regmap = getattr(self.controller, "register_map", None)
        if regmap is not None and all(n in regmap for n in names):
            v = await self.controller.read_many(names)
            return bool(int(v[names[3]]) & HIGH_LIMIT_ALARM_BIT), float(v[names[2]]), float(v[names[0]])
        tripped = bool(await self._read("high_limit_tripped"))
        return tripped, float(await self._read("temperature")), float(await self._read("pressure"))

    @property
    def live(self) -> bool:
        """True while the heater is on or the pressure watch is armed (watch closely)."""
        return self._heating or self._watch_reference_bar is not None

    async def check_safe(self) -> str | None:
        """Why the vessel is unsafe, or None."""
        tripped, t, p = await self._status()
        if tripped:
            return f"{self.name}: high-limit relay tripped (latched; reset it on the controller's front panel)"
        if t > self.max_temperature_c:
            return f"{self.name}: over-temperature {t:.1f} °C > limit {self.max_temperature_c:g} °C"
        if p > self.max_pressure_bar:
            return f"{self.name}: over-pressure {p:.2f} bar > limit {self.max_pressure_bar:g} bar"
        ref = self._watch_reference_bar
        if ref is not None and p - ref > self.pressure_rise_tolerance_bar:
            return (
                f"{self.name}: pressure rising while it should not ({ref:.2f} -> {p:.2f} bar, more than "
                f"{self.pressure_rise_tolerance_bar:g} bar): possible runaway or gas inflow"
            )
        return None

    async def make_safe(self) -> None:
        """Heater off, setpoint to ambient, stirring stopped, watch disarmed.  Never vents."""
        self._watch_reference_bar = None
        self._heating = False
        errors: list[str] = []
        for role, value in (("heater_enable", False), ("temperature_setpoint", 20.0), ("stirrer_setpoint", 0.0)):
            try:
                await self._write(role, value)
            except Exception as exc:
                errors.append(f"{role}: {type(exc).__name__}: {exc}")
        if self.automated_valves:
            try:
                await self._write("gas_inlet", False)
            except Exception as exc:
                errors.append(f"gas_inlet: {type(exc).__name__}: {exc}")
        if errors:
            raise RuntimeError(f"{self.name}: could not complete the safe state: {'; '.join(errors)}")
