"""Watchdog: live hazards every period, idle ones less often, a trip makes everything safe."""

from __future__ import annotations

import asyncio
import threading

import pytest

from labctl.clock import VirtualTimeLoop
from labctl.devices.transports import InstrumentNotResponding
from labctl.safety import Hazard, Watchdog


class Pauses:
    """The RunEngine's ``request_pause`` as the watchdog sees it; it is called from a helper thread."""

    def __init__(self) -> None:
        self.calls = 0
        self._called = threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        self._called.set()

    def wait(self) -> int:
        """How many pauses were requested, once the trip's thread has run (or 10 s of wall time)."""
        self._called.wait(timeout=10)
        return self.calls


def test_idle_hazards_are_checked_less_often_and_a_trip_makes_all_safe():
    loop = VirtualTimeLoop()
    calls = {"lamp": 0, "parr": 0}
    safe: list[str] = []
    paused = Pauses()

    def hazard(name: str, live: bool, fail_after: int | None = None) -> Hazard:
        async def check() -> str | None:
            calls[name] += 1
            return f"{name} failed" if fail_after is not None and calls[name] >= fail_after else None

        async def make_safe() -> None:
            safe.append(name)

        return Hazard(name, check, make_safe, lambda: live)

    async def main() -> Watchdog:
        dog = Watchdog([hazard("lamp", False), hazard("parr", True, fail_after=300)], paused)
        dog.start()
        while dog.reason is None:
            await asyncio.sleep(1)
        await asyncio.sleep(0.1)
        return dog

    dog = loop.run_until_complete(main())
    loop.close()
    assert dog.reason == "parr failed"
    assert calls["parr"] == 300  # live: every second
    assert calls["lamp"] == 5  # idle: at 1, 61, 121, 181 and 241 s of the same 300 s
    assert safe == ["lamp", "parr"]  # every hazard is made safe on a trip, in order
    assert paused.wait() == 1  # and the run is paused, once


def _trip(hazards: list[Hazard], run_s: float = 10.0) -> tuple[Watchdog, int]:
    """Watch ``hazards`` for ``run_s`` of virtual time; the watchdog and the pauses it requested."""
    loop = VirtualTimeLoop()
    paused = Pauses()

    async def main() -> Watchdog:
        dog = Watchdog(hazards, paused)
        dog.start()
        await asyncio.sleep(run_s)
        dog.cancel()
        await asyncio.sleep(0.1)  # let a cancelled watchdog wind down
        return dog

    try:
        dog = loop.run_until_complete(main())
    finally:
        loop.close()
    return dog, (paused.wait() if dog.reason is not None else paused.calls)


def test_a_check_that_raises_trips_the_watchdog_like_a_reason():
    """An instrument that stopped answering is a hazard out of sight: everything is made safe."""
    safe: list[str] = []

    async def silent() -> str | None:
        raise InstrumentNotResponding("lamp at sim://lamp did not respond within 2 s")

    async def fine() -> str | None:
        return None

    def making_safe(name: str):
        async def make_safe() -> None:
            safe.append(name)

        return make_safe

    lamp = Hazard("lamp", silent, making_safe("lamp"), lambda: True)
    dog, pauses = _trip([lamp, Hazard("parr", fine, making_safe("parr"), lambda: True)])
    assert dog.reason == "InstrumentNotResponding: lamp at sim://lamp did not respond within 2 s"
    assert safe == ["lamp", "parr"]
    assert dog.safe_errors == []
    assert pauses == 1


def test_one_hazard_that_cannot_be_made_safe_does_not_stop_the_others():
    attempts: list[str] = []

    async def interlock_open() -> str | None:
        return "lamp: interlock opened"

    async def fine() -> str | None:
        return None

    async def lamp_off() -> None:
        attempts.append("lamp")
        raise InstrumentNotResponding("lamp at sim://lamp did not respond within 2 s")

    async def heater_off() -> None:
        attempts.append("parr")

    dog, pauses = _trip(
        [Hazard("lamp", interlock_open, lamp_off, lambda: True), Hazard("parr", fine, heater_off, lambda: False)]
    )
    assert dog.reason == "lamp: interlock opened"
    assert attempts == ["lamp", "parr"]  # the heater went off although the lamp did not answer
    assert dog.safe_errors == [
        "lamp: could not reach the safe state (InstrumentNotResponding: lamp at sim://lamp did not respond within 2 s)"
    ]
    assert pauses == 1


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
        await asyncio.sleep(5.5)  # half a period past the 5th live tick: no tie with it
        dog.cancel()
        await asyncio.sleep(0.1)  # let the cancelled task wind down
        assert idle_checks == 10  # at 1, 61, ..., 541 s: every 60 s while idle, not every second
        # one period after the poke.  The virtual clock also counts the wall time the loop spends
        # working between timers (microseconds here), so this is 1 s plus that; 0.05 s allows for a
        # loaded machine and still tells one tick from none (0 s) or two (2 s).
        assert state["first_live_check"] - t_on == pytest.approx(1.0, abs=0.05)
        assert state["checks"] - idle_checks == 5  # then at 1 Hz: 1, 2, 3, 4 and 5 s after the poke

    loop.run_until_complete(main())
    loop.close()
