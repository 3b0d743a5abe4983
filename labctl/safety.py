"""Runtime interlocks: a watchdog that polls hazard checks and trips the run to a safe state.

Bluesky's suspenders subscribe with ``event_type=``, which ophyd-async signals do not accept,
so labctl watches with its own task on the RunEngine loop.  Each :class:`Hazard` (a lamp, a
vessel) has a check (an async callable returning ``None`` when all is well, or a reason), an
action that makes it safe, and a predicate saying whether it is live right now (lamp lit, vessel
heated).  A live hazard is checked every ``period_s`` of loop time, an idle one every
``idle_period_s`` (an interlock opening on a dark lamp endangers nothing, and each check costs an
exchange with the instrument); while nothing is live the watchdog sleeps until the next idle check
is due, and :meth:`Watchdog.poke` (the session calls it on every ``set`` a plan sends: a lamp
being lit, a heater switched on) wakes it to look again one tick later.  A reason, or an
exception from a check (an instrument that stopped answering), trips the watchdog:

1. every hazard's ``make_safe`` runs at once (lamp off, heater off), each on its own, errors logged;
2. the RunEngine is asked to pause from a helper thread (``RE.request_pause`` is thread-safe);
3. the session then aborts the run with the recorded reason, so the plan's ``finally`` paths
   run and the stop document carries ``exit_status='abort'`` and the reason.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

Check = Callable[[], Awaitable[str | None]]
Action = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Hazard:
    """Something the watchdog keeps safe."""

    name: str
    check: Check
    make_safe: Action
    live: Callable[[], bool]
    confirm: Check | None = None  # reads the hazard back after make_safe: None when it is safe, else why not


@dataclass
class Watchdog:
    hazards: Sequence[Hazard]
    request_pause: Callable[[], None]
    period_s: float = 1.0
    idle_period_s: float = 60.0
    reason: str | None = None
    safe_errors: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False
    _sleeping: bool = False
    _wake: asyncio.Future[bool] | None = None

    def poke(self) -> None:
        """Something may have changed (a set was sent): look again now, not at the next idle check."""
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(True)

    def _next_wait(self, now: float, last_checked: dict[str, float]) -> float:
        """Tick at ``period_s`` while a hazard is live; otherwise sleep until the next idle check is due."""
        if any(h.live() for h in self.hazards):
            return self.period_s
        due = min(last_checked[h.name] + self.idle_period_s for h in self.hazards)
        return max(self.period_s, due - now)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_checked = {h.name: -math.inf for h in self.hazards}
        wait = self.period_s
        while self.reason is None and not self._stopping:
            self._sleeping = True
            # a plain timer, as cheap as asyncio.sleep, that a poke can end early
            self._wake = loop.create_future()
            timer = loop.call_later(wait, _resolve, self._wake, False)
            poked = await self._wake
            timer.cancel()
            if poked:  # a setting changed: give it one tick to take effect before checking
                await asyncio.sleep(self.period_s)
            self._sleeping = False
            for hazard in self.hazards:
                now = loop.time()
                if not hazard.live() and now - last_checked[hazard.name] < self.idle_period_s:
                    continue
                last_checked[hazard.name] = now
                try:
                    why = await hazard.check()
                except Exception as exc:
                    why = f"{type(exc).__name__}: {exc}"
                if why:
                    await self.trip(why)
                    return
            wait = self._next_wait(loop.time(), last_checked)

    async def trip(self, reason: str) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        logger.error("interlock tripped: %s", reason)
        for hazard in self.hazards:
            try:
                await hazard.make_safe()
            except Exception as exc:
                msg = f"{hazard.name}: could not reach the safe state ({type(exc).__name__}: {exc})"
                logger.error(msg)
                self.safe_errors.append(msg)
        threading.Thread(target=self._pause, name="labctl-trip", daemon=True).start()

    def _pause(self) -> None:
        try:
            self.request_pause()
        except Exception as exc:  # the run may have just ended on its own
            logger.info("pause after trip not needed: %s", exc)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def cancel(self) -> None:
        """Stop watching (call on the loop); does not wait for the task to wind down.

        A watchdog between polls is cancelled at once; one in the middle of a poll finishes that
        exchange with the instrument first (so no reply arrives for a request nobody awaits).
        """
        self._stopping = True
        if self._task is not None and self._sleeping:
            self._task.cancel()
        self._task = None


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)
