"""Photoreactor light source as an ophyd-async device: an Oriel arc-lamp supply behind its driver.

``ArcLamp`` is movable between ``LampState.ON`` and ``LampState.OFF``; ``set(ON)`` completes only
when the supply reports the arc lit (ignition takes ~5-6 s), and fails with a clear error if the
interlock is open, the supply reports a fault, or the arc does not strike in time.  ``power``
(W) and ``current`` (A) are the presets; setting one puts the supply in that mode.  The device
refuses a preset above the bench limit before anything is sent.  Readbacks (W, A, V), lamp
hours, interlock and fault are re-read from the supply on every read.
"""

from __future__ import annotations

import asyncio

from bluesky.protocols import Movable
from ophyd_async.core import (
    AsyncStatus,
    StandardReadable,
    StrictEnum,
    soft_signal_r_and_setter,
    soft_signal_rw,
)
from ophyd_async.core import StandardReadableFormat as Format

from labctl.devices.drivers.oriel_lamp import LampDeviceError, LampMode, LampStatus, OrielLampDriver


class LampState(StrictEnum):
    ON = "On"
    OFF = "Off"


class LampLimitError(ValueError):
    """A lamp setting outside the bench limit."""


class LampIgnitionError(RuntimeError):
    """The lamp did not light, or went out."""


class ArcLamp(StandardReadable, Movable[LampState | str]):
    """Arc lamp on an Oriel 69907/69911/69920 supply, driven in power mode.

    :param driver: the supply's driver.
    :param max_power_w: bench limit on the power preset (W).
    :param max_current_a: bench limit on the current preset (A); None: the supply's own limit.
    :param ignition_timeout_s: how long ``set(ON)`` waits for the arc to strike.
    :param monitor_period_s: how often ``watts`` is polled while monitored (``bps.monitor``); reads
        of ``watts`` (events) always ask the supply.
    """

    def __init__(
        self,
        driver: OrielLampDriver,
        *,
        max_power_w: float,
        max_current_a: float | None = None,
        ignition_timeout_s: float = 30.0,
        monitor_period_s: float = 60.0,
        name: str = "",
    ) -> None:
        self.driver = driver
        self.max_power_w = max_power_w
        self.max_current_a = max_current_a
        self.ignition_timeout_s = ignition_timeout_s
        self._status_request: asyncio.Future[LampStatus] | None = None
        self.expect_on = False
        # Readbacks go into events uncached: a monitored signal (``bps.monitor(lamp.watts)``) or a
        # staged one would otherwise be read from its last poll, not from the supply.
        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):
            self.watts = soft_signal_r_and_setter(float, units="W", getter=driver.watts, poll_period=monitor_period_s)[
                0
            ]
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.amps = soft_signal_r_and_setter(float, units="A", getter=driver.amps)[0]
            self.volts = soft_signal_r_and_setter(float, units="V", getter=driver.volts)[0]
            self.lit = soft_signal_r_and_setter(bool, getter=self._lit)[0]
            self.interlock_ok = soft_signal_r_and_setter(bool, getter=self._interlock_ok)[0]
            self.fault = soft_signal_r_and_setter(bool, getter=self._fault)[0]
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.power = soft_signal_rw(float, units="W", getter=driver.power_preset, setter=self._set_power)
            self.current = soft_signal_rw(float, units="A", getter=driver.current_preset, setter=self._set_current)
            self.power_mode = soft_signal_r_and_setter(bool, getter=self._power_mode)[0]
            self.power_limit = soft_signal_r_and_setter(float, units="W", getter=driver.power_limit)[0]
            self.lamp_hours = soft_signal_r_and_setter(float, units="h", getter=driver.lamp_hours)[0]
            self.identity = soft_signal_r_and_setter(str, getter=self._identity)[0]
        super().__init__(name=name)

    async def _identity(self) -> str:
        """``IDN?`` as one line: manufacturer, model, serial number, firmware."""
        idn = await self.driver.identify()
        return " ".join(f for f in (idn.manufacturer, idn.model, f"SN {idn.serial}", f"fw {idn.firmware}") if f)

    # -- status: one STB? per read ---------------------------------------------------------------
    async def status(self) -> LampStatus:
        """The supply's status byte, asked now.  Callers waiting at the same time (``lit``,
        ``interlock_ok`` and ``fault`` of one read) share the one ``STB?`` exchange in flight; a call
        after it has answered asks again."""
        request = self._status_request
        if request is None or request.done():
            request = self._status_request = asyncio.ensure_future(self.driver.status())
        return await asyncio.shield(request)

    def _forget_status(self) -> None:
        """The next :meth:`status` asks again even if a request is in flight (a command was just sent)."""
        self._status_request = None

    async def _lit(self) -> bool:
        return (await self.status()).lamp_on

    async def _interlock_ok(self) -> bool:
        return (await self.status()).interlock_ok

    async def _fault(self) -> bool:
        return (await self.status()).fault

    # -- settings ------------------------------------------------------------------------------
    def check_power(self, watts: float) -> None:
        """Raise :class:`LampLimitError` if ``watts`` is outside 0..max_power_w."""
        if not 0 <= watts <= self.max_power_w:
            raise LampLimitError(
                f"{self.name}: power {watts:g} W is above the bench limit of "
                f"{self.max_power_w:g} W (allowed 0-{self.max_power_w:g} W); lower lamp_power "
                f"or raise max_power for this lamp in the bench file"
            )

    def check_current(self, amps: float) -> None:
        """Raise :class:`LampLimitError` if ``amps`` is outside 0..max_current_a."""
        if self.max_current_a is not None and not 0 <= amps <= self.max_current_a:
            raise LampLimitError(
                f"{self.name}: current {amps:g} A is above the bench limit of {self.max_current_a:g} A "
                f"(allowed 0-{self.max_current_a:g} A); lower the current or raise max_current for this "
                "lamp in the bench file"
            )

    async def _power_mode(self) -> bool:
        return (await self.status()).power_mode

    async def _ensure_mode(self, mode: LampMode) -> None:
        self._forget_status()
        if (await self.status()).power_mode != (mode is LampMode.POWER):
            await self.driver.set_mode(mode)  # the supply refuses this while lit
            self._forget_status()

    async def _set_power(self, watts: float) -> None:
        """Power preset (W); puts the supply in power mode."""
        self.check_power(watts)
        await self._ensure_mode(LampMode.POWER)
        await self.driver.set_power_preset(round(watts))

    async def _set_current(self, amps: float) -> None:
        """Current preset (A); puts the supply in current mode."""
        self.check_current(amps)
        await self._ensure_mode(LampMode.CURRENT)
        await self.driver.set_current_preset(round(amps, 1))

    @AsyncStatus.wrap
    async def set(self, value: LampState | str) -> None:
        state = LampState(value)
        if state is LampState.OFF:
            self.expect_on = False
            try:
                await self.driver.stop()
            except LampDeviceError:
                # A faulted supply answers STOP with a device error; what matters is the arc.
                self._forget_status()
                if (await self.status()).lamp_on:
                    raise
            self._forget_status()
            return
        self._forget_status()
        st = await self.status()
        if st.power_mode:
            self.check_power(await self.driver.power_preset())
        else:
            self.check_current(await self.driver.current_preset())
        if not st.interlock_ok:
            raise LampIgnitionError(
                f"{self.name}: interlock open, the lamp cannot be started; close the lamp "
                f"housing / reactor interlock and try again"
            )
        if st.fault:
            raise LampIgnitionError(
                f"{self.name}: the supply reports a fault; check the lamp and send RST (power-cycle) before starting"
            )
        await self.driver.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ignition_timeout_s
        while True:
            self._forget_status()
            st = await self.status()
            if st.lamp_on:
                self.expect_on = True
                return
            if st.fault or not st.interlock_ok:
                await self.driver.stop()
                why = "a fault" if st.fault else "the interlock opened"
                raise LampIgnitionError(f"{self.name}: ignition failed with {why}; lamp stopped")
            if loop.time() >= deadline:
                await self.driver.stop()
                raise LampIgnitionError(
                    f"{self.name}: the arc did not strike within {self.ignition_timeout_s:g} s "
                    f"of START; check the lamp bulb and igniter (lamp hours: "
                    f"{await self.driver.lamp_hours():g} h)"
                )
            await asyncio.sleep(0.5)

    async def check_safe(self) -> str | None:
        """Return why the lamp is unsafe or has failed, or None when all is well."""
        expect_on = self.expect_on
        self._forget_status()
        st = await self.status()
        if not st.interlock_ok:
            return f"{self.name}: interlock opened"
        if st.fault:
            return f"{self.name}: supply fault"
        if expect_on and not st.lamp_on:
            return f"{self.name}: lamp went out while it should be lit"
        return None
