"""Heated flask on an IKA RCT digital hotplate as an ophyd-async device, its watchdog fed while it heats.

``Hotplate`` exposes what a growth or assembly plan needs, re-read from the hotplate on every read:
the flask temperature (the PT1000 in the liquid, °C) as the hinted reading; the plate temperature,
the setpoint and the stirrer speed as readings; the bench limit, the device's safety temperature
and the supervision settings as configuration.  Setpoint devices own "done":

* ``hotplate.temperature`` — ``set(T)`` refuses T above the bench limit (``max_temperature_c``,
  before anything is sent) and above the safety temperature set on the hotplate (``IN_SP_3``);
  then arms the hotplate's watchdog 1, starts heating with the setpoint quirk handled
  (:meth:`IkaRct.start_heating`), and completes when the flask has stayed within
  ``settle_tolerance_c`` of T for ``settle_dwell_s``.  Its timeout comes from the distance and
  ``heating_rate_c_per_min`` (plus margin).
* ``hotplate.stirrer`` — ``set(rpm)`` completes when the speed is within 5 % (at least 5 rpm).

While the heater is on, a background task on the running loop re-sends ``OUT_WD1@m`` every
``watchdog_s / 3``: if labctl stops (a crash, a hung loop, a pulled cable), the hotplate itself
switches heater and stirrer off ``watchdog_s`` after the last feed and latches Er02.

``check_safe()`` is the runtime interlock check: a latched error, a missing flask probe (the
controller then heats blind: the runaway), the plate more than ``runaway_delta_c`` above the flask
while heating (probe out of the liquid, flask out of the block), the flask above the bench limit.
``make_safe()`` (and ``hotplate.heater.set(False)``, the plans' last step) switches the heater off,
sets the setpoint to 0, stops feeding the watchdog and sends ``RESET``, which disarms watchdog 1:
watchdog 1 cannot be set longer than 1500 s nor switched off, so a hotplate left armed and unfed
would latch Er02 after every run and refuse the next one.  ``RESET`` also stops the stirrer.  An
error found latched at that moment (Er02 after labctl died mid-run: the hotplate did its job) is
logged before it is cleared.  ``hotplate.heating()`` reads the setpoint back: 0 means nothing heats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from bluesky.protocols import Movable
from ophyd_async.core import AsyncStatus, Device, StandardReadable, soft_signal_r_and_setter
from ophyd_async.core import StandardReadableFormat as Format

from labctl.devices.drivers.ika_rct import (
    SPEED_MAX_RPM,
    WATCHDOG_MAX_S,
    WATCHDOG_MIN_S,
    IkaError,
    IkaErrorLatched,
    IkaProbeMissing,
    IkaRct,
)
from labctl.devices.transports import TransportError

logger = logging.getLogger(__name__)


class HotplateLimitError(ValueError):
    """A hotplate setting outside the bench limit or the device's safety temperature."""


class HotplateFault(RuntimeError):
    """The hotplate cannot heat (or stopped heating) because of a latched error or a missing probe."""


class HotplateSettleError(TimeoutError):
    """The flask did not settle at its setpoint in the time it should take."""


class HotplateTemperature(Device, Movable[float]):
    """The flask temperature setpoint, whose ``set()`` completes when the flask has settled at it."""

    _hotplate: Hotplate

    def __init__(self, hotplate: Hotplate, name: str = "") -> None:
        object.__setattr__(self, "_hotplate", hotplate)  # a back-reference, not a child device
        super().__init__(name=name)

    def timeout_for(self, start_c: float, target_c: float) -> float:
        """Seconds ``set()`` allows: twice the ramp at ``heating_rate_c_per_min``, three dwells and 10 min."""
        hp = self._hotplate
        ramp_s = abs(target_c - start_c) / hp.heating_rate_c_per_min * 60.0
        return 2.0 * ramp_s + 3.0 * hp.settle_dwell_s + 600.0

    @AsyncStatus.wrap
    async def set(self, value: float) -> None:
        hp = self._hotplate
        hp.check_temperature(value)
        driver = hp.driver
        try:
            safety = await driver.safety_temperature()
            start = await driver.flask_temperature()
        except (IkaErrorLatched, IkaProbeMissing) as exc:
            raise HotplateFault(f"{hp.name}: refusing to heat: {exc}") from exc
        if value > safety:
            raise HotplateLimitError(
                f"{hp.name}: temperature {value:g} °C is above the hotplate's safety temperature of {safety:g} °C "
                f"(IN_SP_3, set on the device; the bench limit is {hp.max_temperature_c:g} °C); choose at most "
                f"{min(safety, hp.max_temperature_c):g} °C, or raise the safety temperature on the hotplate's front "
                "panel (keep it at least 25 °C below the solvent's flash point)"
            )
        timeout = self.timeout_for(start, value)
        await driver.arm_watchdog(hp.watchdog_s)  # never heat unwatched, not even for one exchange
        hp._start_feeding()
        try:
            await driver.start_heating(value)
        except BaseException:
            await hp._stop_feeding()
            raise
        hp._heating = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        inside_since: float | None = None
        while True:
            now = loop.time()
            try:
                t = await driver.flask_temperature()
            except (IkaErrorLatched, IkaProbeMissing) as exc:
                await hp.make_safe()
                raise HotplateFault(f"{hp.name}: heating to {value:g} °C stopped, heater switched off: {exc}") from exc
            if abs(t - value) <= hp.settle_tolerance_c:
                inside_since = now if inside_since is None else inside_since
                if now - inside_since >= hp.settle_dwell_s:
                    return
            else:
                inside_since = None
            if now >= deadline:
                raise HotplateSettleError(
                    f"{hp.name}: flask at {t:.1f} °C did not settle at {value:g} ± {hp.settle_tolerance_c:g} °C "
                    f"within {timeout / 60:.0f} min (from {start:.1f} °C at >= {hp.heating_rate_c_per_min:g} °C/min); "
                    "the heater is still on; check that the flask sits in the block, the PT1000 is in the liquid and "
                    "the setpoint is well below the safety temperature (the plate stops there)"
                )
            await asyncio.sleep(hp.poll_s)


class HotplateHeater(Device, Movable[bool]):
    """The heater switch: ``set(False)`` switches it off (the safe state); heating starts only through
    ``hotplate.temperature.set(T)``, which checks the limits and arms the watchdog first."""

    _hotplate: Hotplate

    def __init__(self, hotplate: Hotplate, name: str = "") -> None:
        object.__setattr__(self, "_hotplate", hotplate)  # a back-reference, not a child device
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def set(self, value: bool) -> None:
        hp = self._hotplate
        if value:
            raise HotplateLimitError(
                f"{hp.name}: the heater is switched on by setting a temperature (hotplate.temperature.set(T)), "
                "which checks the limits and arms the watchdog first"
            )
        await hp.make_safe()


class HotplateStirrer(Device, Movable[float]):
    """The stirrer, whose ``set(rpm)`` completes when the speed is within 5 % (at least 5 rpm) of it."""

    _hotplate: Hotplate

    def __init__(self, hotplate: Hotplate, name: str = "") -> None:
        object.__setattr__(self, "_hotplate", hotplate)  # a back-reference, not a child device
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def set(self, value: float) -> None:
        hp = self._hotplate
        if not (math.isfinite(value) and 0 <= value <= SPEED_MAX_RPM):
            raise HotplateLimitError(
                f"{hp.name}: stirrer {value:g} rpm is outside 0-{SPEED_MAX_RPM} rpm; choose a speed in range"
            )
        await hp.driver.set_speed(value)
        if value > 0:
            await hp.driver.start_stirrer()
        else:
            await hp.driver.stop_stirrer()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60.0
        while abs((speed := await hp.driver.speed()) - value) > max(0.05 * value, 5.0):
            if loop.time() >= deadline:
                raise HotplateSettleError(
                    f"{hp.name}: stirrer at {speed:g} rpm did not reach {value:g} rpm within 1 min; check the stir "
                    "bar, the flask's position over the magnet and the hotplate's error display"
                )
            await asyncio.sleep(min(hp.poll_s, 1.0))


class Hotplate(StandardReadable):
    """A round-bottom flask in an aluminium block on an IKA RCT digital, with a PT1000 in the liquid.

    :param driver: the hotplate's driver.
    :param max_temperature_c: the bench limit on the flask setpoint (solvent, glassware, septa).
    :param watchdog_s: watchdog 1's time (whole seconds, 20-1500); fed every third of it.
    :param runaway_delta_c: while heating, the plate more than this above the flask is a runaway.
    :param settle_tolerance_c / settle_dwell_s: "at temperature" means within tolerance for dwell.
    :param poll_s: how often ``temperature.set()`` reads the flask while it settles.
    :param heating_rate_c_per_min: the slowest the flask should heat; sets ``set()``'s timeout.
    :param solvent: what the flask holds (the bench file's solvent), for the plans' instructions.
    """

    def __init__(
        self,
        driver: IkaRct,
        *,
        max_temperature_c: float,
        watchdog_s: float = 60.0,
        runaway_delta_c: float = 80.0,
        settle_tolerance_c: float = 1.0,
        settle_dwell_s: float = 60.0,
        poll_s: float = 5.0,
        heating_rate_c_per_min: float = 5.0,
        solvent: str = "",
        name: str = "hotplate",
    ) -> None:
        if int(watchdog_s) != watchdog_s or not WATCHDOG_MIN_S <= watchdog_s <= WATCHDOG_MAX_S:
            raise ValueError(
                f"{name}: watchdog_s={watchdog_s:g} must be a whole number of seconds from {WATCHDOG_MIN_S} to "
                f"{WATCHDOG_MAX_S} (the range of OUT_WD1@m)"
            )
        if not (runaway_delta_c > 0 and settle_tolerance_c > 0 and settle_dwell_s >= 0 and poll_s > 0):
            raise ValueError(f"{name}: runaway_delta_c, settle_tolerance_c and poll_s must be > 0, settle_dwell_s >= 0")
        if not heating_rate_c_per_min > 0:
            raise ValueError(f"{name}: heating_rate_c_per_min={heating_rate_c_per_min:g} must be > 0")
        self.driver = driver
        self.max_temperature_c = max_temperature_c
        self.watchdog_s = int(watchdog_s)
        self.runaway_delta_c = runaway_delta_c
        self.settle_tolerance_c = settle_tolerance_c
        self.settle_dwell_s = settle_dwell_s
        self.poll_s = poll_s
        self.heating_rate_c_per_min = heating_rate_c_per_min
        self.solvent = solvent
        self._heating = False
        self._feeder: asyncio.Task[None] | None = None
        self.temperature = HotplateTemperature(self)
        self.stirrer = HotplateStirrer(self)
        self.heater = HotplateHeater(self)
        # readbacks uncached: a staged or monitored signal would put its last update in events
        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):
            self.flask_temperature = soft_signal_r_and_setter(float, units="degC", getter=self._flask)[0]
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.plate_temperature = soft_signal_r_and_setter(float, units="degC", getter=driver.plate_temperature)[0]
            self.setpoint = soft_signal_r_and_setter(float, units="degC", getter=driver.setpoint)[0]
            self.stirrer_speed = soft_signal_r_and_setter(float, units="rpm", getter=driver.speed)[0]
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.limit_temperature = soft_signal_r_and_setter(float, float(max_temperature_c), units="degC")[0]
            self.safety_temperature = soft_signal_r_and_setter(float, units="degC", getter=driver.safety_temperature)[0]
            self.watchdog_time = soft_signal_r_and_setter(float, float(self.watchdog_s), units="s")[0]
            self.runaway_delta = soft_signal_r_and_setter(float, float(runaway_delta_c), units="degC")[0]
        super().__init__(name=name)

    async def _flask(self) -> float:
        """The flask temperature; NaN while the probe is missing (``check_safe()`` says why)."""
        try:
            return await self.driver.flask_temperature()
        except IkaProbeMissing:
            return math.nan

    # -- limits ---------------------------------------------------------------------------------
    def check_temperature(self, celsius: float) -> None:
        """Refuse a flask setpoint outside 0 °C to the bench limit (nothing is sent)."""
        if not (math.isfinite(celsius) and 0.0 <= celsius <= self.max_temperature_c):
            raise HotplateLimitError(
                f"{self.name}: temperature {celsius:g} °C is outside the bench limit of "
                f"0-{self.max_temperature_c:g} °C; lower the temperature or raise max_temperature_c for this hotplate "
                "in the bench file"
            )

    def heating_time_s(self, target_c: float, from_c: float = 25.0) -> float:
        """About how long heating the flask from ``from_c`` to ``target_c`` and settling takes (for planning)."""
        return abs(target_c - from_c) / self.heating_rate_c_per_min * 60.0 + self.settle_dwell_s

    async def heating(self) -> bool:
        """Whether the hotplate may be heating, read back: a setpoint above 0 with no error latched."""
        try:
            return await self.driver.setpoint() > 0.0
        except IkaErrorLatched:
            return False  # a latched error switches the heater off

    # -- watchdog feeding ---------------------------------------------------------------------------
    @property
    def watchdog_task(self) -> asyncio.Task[None] | None:
        """The background task re-sending ``OUT_WD1@m`` while heating (None when not feeding)."""
        return self._feeder

    def _start_feeding(self) -> None:
        if self._feeder is None or self._feeder.done():
            self._feeder = asyncio.get_running_loop().create_task(self._feed(), name=f"{self.name}-watchdog")

    async def _feed(self) -> None:
        period = self.watchdog_s / 3.0
        while True:
            await asyncio.sleep(period)
            try:
                await self.driver.arm_watchdog(self.watchdog_s)
            except (TransportError, IkaError) as exc:
                # Keep trying: the hotplate switches itself off if the feeds stay away.
                logger.warning("%s: could not feed the watchdog: %s", self.name, exc)

    async def _stop_feeding(self) -> None:
        task, self._feeder = self._feeder, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- safety -------------------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """True while the heater is on (watch closely)."""
        return self._heating

    async def check_safe(self) -> str | None:
        """Why the heated flask is unsafe, or None."""
        try:
            plate = await self.driver.plate_temperature()
            flask = await self.driver.flask_temperature()
        except IkaErrorLatched as exc:
            return f"{self.name}: error Er{exc.code:02d} latched ({exc.meaning})"
        except IkaProbeMissing as exc:
            return (
                f"{self.name}: flask probe missing (IN_PV_1 reads {exc.raw:g} °C): the controller cannot see the "
                "flask and may drive the plate to its limit"
            )
        if self._heating and plate - flask > self.runaway_delta_c:
            return (
                f"{self.name}: runaway: the plate at {plate:.1f} °C is {plate - flask:.1f} °C above the flask at "
                f"{flask:.1f} °C (more than {self.runaway_delta_c:g} °C) while heating: is the probe in the liquid "
                "and the flask in the block?"
            )
        if flask > self.max_temperature_c:
            return f"{self.name}: over-temperature: flask at {flask:.1f} °C > bench limit {self.max_temperature_c:g} °C"
        return None

    async def _reset_logged(self) -> None:
        """``RESET`` (disarms watchdog 1), logging an error it clears."""
        try:
            await self.driver.setpoint()
        except IkaErrorLatched as exc:
            logger.warning("%s: clearing latched error Er%02d (%s)", self.name, exc.code, exc.meaning)
        except Exception:  # an unanswered query: RESET is sent all the same
            pass
        await self.driver.reset()

    async def make_safe(self) -> None:
        """Heater off, setpoint 0, watchdog no longer fed and disarmed (``RESET``; see the module doc)."""
        self._heating = False
        await self._stop_feeding()
        errors: list[str] = []
        for what, action in (
            ("STOP_1", self.driver.stop_heater),
            ("OUT_SP_1 0", lambda: self.driver.set_temperature(0)),
            ("RESET", self._reset_logged),
        ):
            try:
                await action()
            except Exception as exc:
                errors.append(f"{what}: {type(exc).__name__}: {exc}")
        if errors:
            raise RuntimeError(
                f"{self.name}: could not complete the safe state ({'; '.join(errors)}); the hotplate's watchdog "
                f"switches the heater off within {self.watchdog_s} s of the last feed; check the hotplate"
            )

    async def reset(self) -> None:
        """Clear a latched error (``RESET``); heater and stirrer stay off until set again."""
        await self._stop_feeding()
        self._heating = False
        await self.driver.reset()
