"""A syringe pump (New Era NE-1000 family) as an ophyd-async device: volumes delivered, read back.

``SyringePump`` exposes what an injection plan needs, re-read from the pump on every read: the
volume dispensed (``DIS``, mL, hinted: never assumed from rate x time), the rate (mL/h; may be
changed while pumping) and the status letter; the syringe and the bench limits as configuration.

* ``pump.infused`` — ``set(V)`` delivers V mL: it checks the volume and the rate against the
  syringe and the bench limits, clears the dispensed counter, sets the volume and the direction,
  runs, and polls every ``poll_s`` (the polls also feed the pump's safe-mode watchdog); it
  completes when the pump has stopped with V read back, and fails with :class:`PumpAlarmError`
  (the alarm, its reason and the volume delivered so far) on an alarm or an early stop.
* ``pump.running`` — ``set(False)`` stops the pump (``STP``), the plans' safe state; pumping
  starts only through ``infused.set(V)``.

With ``safe_mode`` on the driver, ``connect()`` switches the pump to safe-mode frames with a
``watchdog_s`` timeout: a pump the computer lost (labctl killed, cable pulled) stops by itself.
``check_safe()`` is the runtime check between infusions (an alarm; during one, the infusion's polls
watch the pump and end it) and ``make_safe()`` sends ``STP``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from bluesky.protocols import Movable
from ophyd_async.core import AsyncStatus, Device, StandardReadable, soft_signal_r_and_setter, soft_signal_rw
from ophyd_async.core import StandardReadableFormat as Format

from labctl.devices.drivers.ne1000 import NE1000, PumpAlarm, PumpError, rate_range_ml_per_h

VOLUME_TOLERANCE_ML = 0.002  # the pump's display resolution with mL units (three decimals) is 0.001 mL


class PumpLimitError(ValueError):
    """A rate or volume outside the syringe's range or the bench limits."""


class PumpAlarmError(RuntimeError):
    """The pump stopped before delivering the volume: an alarm (stall, watchdog) or an early stop."""

    def __init__(self, message: str, *, code: str, delivered_ml: float) -> None:
        super().__init__(message)
        self.code = code
        self.delivered_ml = delivered_ml


class Infusion(Device, Movable[float]):
    """The volume to deliver; ``set(V)`` completes when the pump has delivered V mL (read back)."""

    _pump: SyringePump

    def __init__(self, pump: SyringePump, name: str = "") -> None:
        object.__setattr__(self, "_pump", pump)  # a back-reference, not a child device
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def set(self, value: float) -> None:
        p = self._pump
        p.check_volume(value)
        rate = await p._call(p.driver.rate)
        p.check_rate(rate)
        await p._call(p.driver.clear_dispensed)
        await p._call(p.driver.set_volume, value)
        await p._call(p.driver.set_direction, "INF")
        p.last_alarm = None
        p._pumping = True
        try:
            await p._call(p.driver.run)
            while True:
                await asyncio.sleep(p.poll_s)
                try:
                    status = await p._call(p.driver.status)
                    delivered, _ = await p._call(p.driver.dispensed)
                except PumpAlarm as exc:
                    delivered, _ = await p.driver.dispensed()
                    raise p._alarm_error(exc.code, exc.reason, delivered, value) from exc
                if p.last_alarm is not None:  # seen first by another exchange (the watchdog's check)
                    code, reason = p.last_alarm
                    raise p._alarm_error(code, reason, delivered, value)
                if not status.pumping:
                    if delivered >= value - VOLUME_TOLERANCE_ML:
                        return
                    raise p._alarm_error(
                        "",
                        f"the pump stopped ({status.text}) with {delivered:.3f} of {value:g} mL delivered",
                        delivered,
                        value,
                    )
        finally:
            p._pumping = False


class PumpSwitch(Device, Movable[bool]):
    """``set(False)`` stops the pump; pumping starts only through ``pump.infused.set(V)``."""

    _pump: SyringePump

    def __init__(self, pump: SyringePump, name: str = "") -> None:
        object.__setattr__(self, "_pump", pump)  # a back-reference, not a child device
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def set(self, value: bool) -> None:
        if value:
            raise PumpLimitError(f"{self._pump.name}: pumping starts by setting a volume: pump.infused.set(V)")
        await self._pump.make_safe()


class SyringePump(StandardReadable):
    """A syringe pump with a syringe of known diameter and volume, and the bench's limits.

    :param driver: the pump's driver.
    :param diameter_mm: the syringe's inner diameter (the rate range follows from it).
    :param syringe_volume_ml: the syringe's volume.
    :param max_rate_ml_per_h: the bench limit on the rate.
    :param max_volume_ml: the bench limit on one injection.
    :param watchdog_s: safe-mode timeout when the driver is in safe mode (1-255 s).
    :param poll_s: how often an infusion reads the pump back (keep it well under ``watchdog_s``).
    """

    def __init__(
        self,
        driver: NE1000,
        *,
        diameter_mm: float,
        syringe_volume_ml: float,
        max_rate_ml_per_h: float,
        max_volume_ml: float,
        watchdog_s: float = 30.0,
        poll_s: float = 2.0,
        name: str = "pump",
    ) -> None:
        if not 0 < poll_s < watchdog_s / 2:
            raise ValueError(f"{name}: poll_s={poll_s:g} must be > 0 and under half of watchdog_s={watchdog_s:g}")
        self.driver = driver
        self.diameter_mm = diameter_mm
        self.syringe_volume_ml = syringe_volume_ml
        self.max_rate_ml_per_h = max_rate_ml_per_h
        self.max_volume_ml = min(max_volume_ml, syringe_volume_ml)
        self.watchdog_s = watchdog_s
        self.poll_s = poll_s
        self.last_alarm: tuple[str, str] | None = None
        self._pumping = False
        self.infused = Infusion(self)
        self.running = PumpSwitch(self)
        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):
            self.dispensed = soft_signal_r_and_setter(float, units="mL", getter=self._dispensed)[0]
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.rate = soft_signal_rw(float, units="mL/h", getter=self._rate, setter=self._set_rate)
            self.status = soft_signal_r_and_setter(str, getter=self._status_text)[0]
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.syringe_diameter = soft_signal_r_and_setter(float, float(diameter_mm), units="mm")[0]
            self.syringe_volume = soft_signal_r_and_setter(float, float(syringe_volume_ml), units="mL")[0]
            self.limit_rate = soft_signal_r_and_setter(float, float(max_rate_ml_per_h), units="mL/h")[0]
            self.limit_volume = soft_signal_r_and_setter(float, float(self.max_volume_ml), units="mL")[0]
        super().__init__(name=name)

    async def connect(self, *args: Any, **kwargs: Any) -> None:
        await super().connect(*args, **kwargs)
        if kwargs.get("mock"):
            return
        await self.driver.version()
        await self.driver.set_diameter(self.diameter_mm)
        if self.driver.safe_mode:
            await self.driver.enable_safe_mode(self.watchdog_s)

    # -- limits ---------------------------------------------------------------------------------
    def rate_range_ml_per_h(self) -> tuple[float, float]:
        """The rates this pump gives with this syringe, within the bench limit (mL/h)."""
        lo, hi = rate_range_ml_per_h(self.diameter_mm)
        return lo, min(hi, self.max_rate_ml_per_h)

    def check_rate(self, ml_per_h: float) -> None:
        lo, hi = self.rate_range_ml_per_h()
        if not (math.isfinite(ml_per_h) and lo <= ml_per_h <= hi):
            raise PumpLimitError(
                f"{self.name}: rate {ml_per_h:g} mL/h is outside {lo:.3g}-{hi:g} mL/h, what this pump gives with a "
                f"{self.diameter_mm:g} mm syringe within the bench limit of {self.max_rate_ml_per_h:g} mL/h; give a "
                "rate in that range, or mount a syringe of another diameter"
            )

    def check_volume(self, ml: float) -> None:
        if not (math.isfinite(ml) and 0 < ml <= self.max_volume_ml):
            raise PumpLimitError(
                f"{self.name}: volume {ml:g} mL is outside 0-{self.max_volume_ml:g} mL (the {self.syringe_volume_ml:g} "
                f"mL syringe and the bench limit); give at most {self.max_volume_ml:g} mL, or refill and inject twice"
            )

    # -- reads ----------------------------------------------------------------------------------
    async def _call(self, func: Any, *args: Any) -> Any:
        """A driver call; an alarm it meets is remembered (the reply it replaced says nothing else)."""
        try:
            return await func(*args)
        except PumpAlarm as exc:
            self.last_alarm = (exc.code, exc.reason)
            raise

    async def _dispensed(self) -> float:
        return float((await self._call(self.driver.dispensed))[0])

    async def _rate(self) -> float:
        return float(await self._call(self.driver.rate))

    async def _set_rate(self, ml_per_h: float) -> None:
        self.check_rate(ml_per_h)
        await self._call(self.driver.set_rate, ml_per_h)

    async def _status_text(self) -> str:
        return (await self._call(self.driver.status)).text

    async def pumping(self) -> bool:
        """Whether the pump reports that it pumps (read back)."""
        try:
            return (await self._call(self.driver.status)).pumping
        except PumpAlarm:
            return False  # an alarm stops the pump

    def _alarm_error(self, code: str, reason: str, delivered: float, target: float) -> PumpAlarmError:
        what = f"alarm A?{code}: {reason}" if code else reason
        return PumpAlarmError(
            f"{self.name}: {what}; {delivered:.3f} of {target:g} mL delivered", code=code, delivered_ml=delivered
        )

    # -- safety -----------------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """True while an infusion runs."""
        return self._pumping

    async def check_safe(self) -> str | None:
        """Why the pump is not as it should be (an alarm), or None.  During an infusion the infusion's own
        polls read the pump and end it on an alarm (with the volume delivered), so this check leaves it be."""
        if self._pumping:
            return None
        try:
            await self._call(self.driver.status)
        except PumpAlarm as exc:
            return f"{self.name}: alarm A?{exc.code}: {exc.reason}"
        return None

    async def make_safe(self) -> None:
        """Stop the pump (``STP``)."""
        self._pumping = False
        try:
            await self.driver.stop()
        except PumpAlarm:
            await self.driver.stop()  # the alarm replaced the first STP's reply; it was not executed
        except PumpError as exc:
            raise RuntimeError(f"{self.name}: could not stop the pump: {exc}") from exc
