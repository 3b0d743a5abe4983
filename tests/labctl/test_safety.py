"""Watchdog: live hazards every period, idle ones less often, a trip makes everything safe."""

from __future__ import annotations

import asyncio

from labctl.clock import VirtualTimeLoop
from labctl.safety import Hazard, Watchdog


def test_idle_hazards_are_checked_less_often_and_a_trip_makes_all_safe():
    loop = VirtualTimeLoop()
    calls = {"lamp": 0, "parr": 0}
    safe: list[str] = []
    paused: list[bool] = []

    def hazard(name: str, live: bool, fail_after: int | None = None) -> Hazard:
        async def check() -> str | None:
            calls[name] += 1
            return f"{name} failed" if fail_after is not None and calls[name] >= fail_after else None

        async def make_safe() -> None:
            safe.append(name)

        return Hazard(name, check, make_safe, lambda: live)

    async def main() -> Watchdog:
        dog = Watchdog([hazard("lamp", False), hazard("parr", True, fail_after=60)], lambda: paused.append(True))
        dog.start()
        while dog.reason is None:
            await asyncio.sleep(1)
        await asyncio.sleep(0.1)
        return dog

    dog = loop.run_until_complete(main())
    loop.close()
    assert dog.reason == "parr failed"
    assert calls["parr"] == 60  # live: every second
    assert 5 <= calls["lamp"] <= 7  # idle: every 10 s over the same minute
    assert sorted(safe) == ["lamp", "parr"]  # every hazard is made safe on a trip
