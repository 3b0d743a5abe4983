"""Photoreactor light source as an ophyd-async device: a mounted LED on a Thorlabs DC2200 driver.

``LedSource`` has the plan-facing interface of :class:`labctl.devices.lamp.ArcLamp`: it is movable
between ``LampState.ON`` and ``LampState.OFF``, keeps ``expect_on``, answers ``check_safe()``
and refuses a setting above the bench limit with :class:`LampLimitError` before anything is
sent.  ``set(ON)`` puts the DC2200 in constant-current mode, switches the output on and
completes only when the applied current reads back the setpoint (within 2 % or 5 mA); if it
does not within ``settle_timeout_s``, or the instrument refuses the output (LED head open), the
output is switched off and :class:`LampIgnitionError` names the setpoint and the readback.

Signals: ``current`` (A, the constant-current setpoint, settable, configuration),
``applied_current`` (A, hinted), ``optical_power`` (W, the applied current through the head's
calibration table, linearly interpolated and clamped to the table's ends), ``lit``, and as
configuration ``wavelength`` (nm), ``current_limit`` (the instrument's limit, A) and ``identity``.
Readbacks are re-read from the instrument on every read.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
from collections.abc import Sequence

from bluesky.protocols import Movable
from ophyd_async.core import AsyncStatus, StandardReadable, soft_signal_r_and_setter, soft_signal_rw
from ophyd_async.core import StandardReadableFormat as Format

from labctl.devices.drivers.dc2200 import DC2200Driver, LedError
from labctl.devices.lamp import LampIgnitionError, LampLimitError, LampState

SETTLE_RELATIVE: float = 0.02  # readback within 2 % of the setpoint ...
SETTLE_ABSOLUTE_A: float = 0.005  # ... or within 5 mA
LIT_THRESHOLD_A: float = 0.001  # the LED counts as lit above 1 mA applied
POLL_PERIOD_S: float = 0.1


class LedSource(StandardReadable, Movable[LampState | str]):
    """A mounted LED on a DC2200, driven in constant-current mode.

    :param driver: the DC2200's driver.
    :param wavelength_nm: the LED head's wavelength (configuration).
    :param max_current_a: bench limit on the current, the LED head's rating.
    :param calibration: (A, optical W) pairs of the head measured with a power meter, at least
        two, currents strictly increasing.
    :param settle_timeout_s: how long ``set(ON)`` waits for the applied current to read back.
    """

    def __init__(
        self,
        driver: DC2200Driver,
        *,
        wavelength_nm: float,
        max_current_a: float,
        calibration: Sequence[tuple[float, float]],
        settle_timeout_s: float = 5.0,
        name: str = "",
    ) -> None:
        if not max_current_a > 0:
            raise ValueError(f"max_current_a {max_current_a!r} must be > 0 A (the LED head's rating)")
        if not wavelength_nm > 0:
            raise ValueError(f"wavelength_nm {wavelength_nm!r} must be > 0 nm")
        table = [(float(a), float(w)) for a, w in calibration]
        if len(table) < 2 or any(not (math.isfinite(a) and math.isfinite(w) and w >= 0) for a, w in table):
            raise ValueError(
                f"calibration {calibration!r} needs at least two (A, W) pairs with finite values and W >= 0; "
                "give the power-meter calibration of the LED head"
            )
        if any(b[0] <= a[0] for a, b in itertools.pairwise(table)):
            raise ValueError(f"calibration currents must be strictly increasing, got {[a for a, _ in table]!r}")
        self.driver = driver
        self.wavelength_nm = float(wavelength_nm)
        self.max_current_a = float(max_current_a)
        self.calibration = table
        self.settle_timeout_s = settle_timeout_s
        self.expect_on = False
        # uncached: a staged or monitored signal would otherwise put its last update in events
        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):
            self.applied_current = soft_signal_r_and_setter(float, units="A", getter=driver.applied_current)[0]
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.optical_power = soft_signal_r_and_setter(float, units="W", getter=self._optical_power)[0]
            self.lit = soft_signal_r_and_setter(bool, getter=self._lit)[0]
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.current = soft_signal_rw(float, units="A", getter=driver.current_setpoint, setter=self._set_current)
            self.wavelength = soft_signal_r_and_setter(float, self.wavelength_nm, units="nm")[0]
            self.current_limit = soft_signal_r_and_setter(float, units="A", getter=driver.current_limit)[0]
            self.identity = soft_signal_r_and_setter(str, getter=driver.identify)[0]
        super().__init__(name=name)

    # -- calibration ---------------------------------------------------------------------------
    def optical_power_for(self, amps: float) -> float:
        """Optical W at ``amps`` from the calibration table (linear, clamped to its ends)."""
        currents = [a for a, _ in self.calibration]
        if amps <= currents[0]:
            return self.calibration[0][1]
        if amps >= currents[-1]:
            return self.calibration[-1][1]
        i = bisect.bisect_right(currents, amps)
        (a0, w0), (a1, w1) = self.calibration[i - 1], self.calibration[i]
        return w0 + (w1 - w0) * (amps - a0) / (a1 - a0)

    async def _optical_power(self) -> float:
        return self.optical_power_for(await self.driver.applied_current())

    async def _lit(self) -> bool:
        return await self.driver.output() and await self.driver.applied_current() > LIT_THRESHOLD_A

    # -- settings ------------------------------------------------------------------------------
    def check_current(self, amps: float) -> None:
        """Raise :class:`LampLimitError` if ``amps`` is outside 0..max_current_a."""
        if isinstance(amps, bool) or not isinstance(amps, int | float) or not math.isfinite(amps):
            raise LampLimitError(
                f"{self.name}: current {amps!r} is not a number of amps; pass 0-{self.max_current_a:g} A"
            )
        if not 0 <= amps <= self.max_current_a:
            where = f"above the LED head limit of {self.max_current_a:g} A" if amps > 0 else "negative"
            raise LampLimitError(
                f"{self.name}: current {amps:g} A is {where} (allowed 0-{self.max_current_a:g} A); lower the "
                "current, or raise max_current for this LED in the bench file (never above the head's rating)"
            )

    async def _set_current(self, amps: float | None) -> None:
        """Constant-current setpoint (A); refused above the head limit before anything is sent."""
        if amps is None:
            raise LampLimitError(f"{self.name}: current None is not a number of amps; pass 0-{self.max_current_a:g} A")
        self.check_current(amps)
        await self.driver.set_current(amps)

    @staticmethod
    def _settled(setpoint: float, readback: float) -> bool:
        return abs(readback - setpoint) <= max(SETTLE_RELATIVE * setpoint, SETTLE_ABSOLUTE_A)

    @AsyncStatus.wrap
    async def set(self, value: LampState | str) -> None:
        state = LampState(value)
        if state is LampState.OFF:
            self.expect_on = False
            await self.driver.set_output(False)
            return
        setpoint = await self.driver.current_setpoint()
        self.check_current(setpoint)
        if await self.driver.mode() != "CC":
            await self.driver.set_output(False)  # the mode changes only with the output off
            await self.driver.set_mode("CC")
        try:
            await self.driver.set_output(True)
        except LedError as exc:
            raise LampIgnitionError(
                f"{self.name}: the DC2200 refused to switch the LED on at {setpoint:g} A: "
                f'{exc.code},"{exc.instrument_message}"; check that the LED head is connected and its cable seated'
            ) from exc
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_timeout_s
        while True:
            readback = await self.driver.applied_current()
            if self._settled(setpoint, readback):
                self.expect_on = True
                return
            if loop.time() >= deadline:
                await self.driver.set_output(False)
                raise LampIgnitionError(
                    f"{self.name}: the applied current read {readback:g} A, not the setpoint {setpoint:g} A, "
                    f"{self.settle_timeout_s:g} s after output on; output switched off; check the LED head and "
                    "its cable (an open or high-voltage head cannot carry the current)"
                )
            await asyncio.sleep(POLL_PERIOD_S)

    async def check_safe(self) -> str | None:
        """Return why the LED is unsafe or has failed, or None when all is well."""
        expect_on = self.expect_on
        problems: list[str] = []
        on = await self.driver.output()
        if expect_on and not on:
            problems.append("output went off while the LED should be lit")
        if expect_on and on:
            setpoint = await self.driver.current_setpoint()
            readback = await self.driver.applied_current()
            if not self._settled(setpoint, readback):
                problems.append(f"applied current {readback:g} A is far from the setpoint {setpoint:g} A")
        errors = await self.driver.errors()
        if errors:
            problems.append("instrument error " + "; ".join(f'{code},"{text}"' for code, text in errors))
        return f"{self.name}: " + "; ".join(problems) if problems else None
