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
        dog = Watchdog([hazard("lamp", False), hazard("parr", True, fail_after=300)], lambda: paused.append(True))
        dog.start()
        while dog.reason is None:
            await asyncio.sleep(1)
        await asyncio.sleep(0.1)
        return dog

    dog = loop.run_until_complete(main())
    loop.close()
    assert dog.reason == "parr failed"
    assert calls["parr"] == 300  # live: every second
    assert 5 <= calls["lamp"] <= 7  # idle: every 60 s over the same 5 minutes
    assert sorted(safe) == ["lamp", "parr"]  # every hazard is made safe on a trip


def test_an_idle_watchdog_sleeps_until_due_and_a_poke_catches_a_hazard_going_live():
    loop = VirtualTimeLoop()
    state = {"live": False, "checks": 0, "first_live_check": None}

    async def check() -> str | None:
        state["checks"] += 1
        if state["live"] and state["first_live_check"] is None:
            state["first_live_check"] = asyncio.get_running_loop().time()
        return None

    async def noop() -> None:
        return None

    async def main() -> None:
        dog = Watchdog([Hazard("lamp", check, noop, lambda: bool(state["live"]))], lambda: None)
        dog.start()
        await asyncio.sleep(600)
        idle_checks = state["checks"]
        state["live"] = True  # the plan lit the lamp ...
        t_on = asyncio.get_running_loop().time()
        dog.poke()  # ... with a set, which the session passes on
        await asyncio.sleep(5)
        dog.cancel()
        await asyncio.sleep(0.1)  # let the cancelled task wind down
        assert 10 <= idle_checks <= 11  # every 60 s while idle, not every second
        assert state["first_live_check"] is not None and state["first_live_check"] - t_on <= 1.01
        assert state["checks"] - idle_checks >= 4  # then at 1 Hz

    loop.run_until_complete(main())
    loop.close()
