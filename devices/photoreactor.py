"""The sealed photoreactor vessel and the bench clock, as ophyd-async devices.

``Photoreactor`` carries what turns a GC mole fraction into an amount in the headspace
(n = pV/RT): the headspace volume and the gas temperature and pressure.  On a vessel without
sensors these are the operator's values from the bench file; they are configuration, recorded
with every run.  ``BenchClock`` reads the RunEngine loop's clock, so the time axis of a run is
right on the real bench, in real time, and in a virtual-time dry run alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bluesky.protocols import Movable
from ophyd_async.core import AsyncStatus, StandardReadable, soft_signal_r_and_setter, soft_signal_rw
from ophyd_async.core import StandardReadableFormat as Format


class Photoreactor(StandardReadable):
    """A sealed photoreactor of known headspace volume (mL) at temperature (K) and pressure (Pa).

    :param pressure_gauge: an async callable reading the headspace pressure in Pa; with one,
        ``pressure`` is measured at every read (a sealed vessel's pressure rises as gas
        evolves, and n = pV/RT needs the actual p); without, it is the configured value.
    """

    def __init__(
        self,
        *,
        headspace_volume_ml: float,
        temperature_k: float = 298.15,
        pressure_pa: float = 101325.0,
        pressure_gauge: Callable[[], Awaitable[float]] | None = None,
        name: str = "",
    ) -> None:
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            if pressure_gauge is not None:
                self.pressure = soft_signal_r_and_setter(float, pressure_pa, units="Pa", getter=pressure_gauge)[0]
            else:
                self.pressure = soft_signal_rw(float, pressure_pa, units="Pa")
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.headspace_volume = soft_signal_rw(float, headspace_volume_ml, units="mL")
            self.temperature = soft_signal_rw(float, temperature_k, units="K")
        super().__init__(name=name)


class BenchClock(StandardReadable, Movable[float]):
    """Seconds elapsed on the RunEngine loop's clock; ``set(t)`` makes ``elapsed`` read ``t`` now."""

    def __init__(self, name: str = "") -> None:
        self._origin: float | None = None
        # uncached: a staged or monitored clock would put its last update in events
        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):
            self.elapsed = soft_signal_r_and_setter(float, units="s", getter=self._elapsed)[0]
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.origin = soft_signal_r_and_setter(float, units="s", getter=self._get_origin)[0]
        super().__init__(name=name)

    async def _get_origin(self) -> float:
        """Loop time at which ``elapsed`` was 0 (to place other loop-time stamps on the axis)."""
        await self._elapsed()
        return float(self._origin or 0.0)

    @AsyncStatus.wrap
    async def set(self, value: float) -> None:
        self._origin = asyncio.get_running_loop().time() - value

    async def _elapsed(self) -> float:
        now = asyncio.get_running_loop().time()
        if self._origin is None:
            self._origin = now
        return now - self._origin
