"""Event loops whose clock runs faster than the wall: virtual time for dry runs, a speed factor for demos.

The RunEngine owns one asyncio loop; every device and simulator reads time from that loop
(``loop.time()``) and waits with asyncio.  Swap the loop and the whole bench changes pace:

* :class:`VirtualTimeLoop` jumps its clock straight to the next scheduled timer whenever nothing
  is ready to run, so a 12-hour plan of sleeps and polls finishes as fast as the CPU allows.
* ``VirtualTimeLoop(speed=60)`` runs 60 virtual seconds per wall second instead (a watchable demo).

In virtual time the clock is exact: it stands still while code on the loop runs and moves only
when it jumps to the next timer, so a plan's timeline does not depend on how loaded the machine
is.  While a worker thread is busy on the loop's behalf (``run_in_executor``/``asyncio.to_thread``,
e.g. a file read), the clock does not jump: the loop waits for real and counts that wait, so a
pending blocking call is never overtaken by a timeout, and one that hangs still times out.
"""

from __future__ import annotations

import asyncio
import math
import selectors
import time
from collections.abc import Callable
from typing import Any


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that turns 'sleep until the next timer' into 'jump the clock to it'."""

    def __init__(self, loop_ref: Callable[[], VirtualTimeLoop]) -> None:
        super().__init__()
        self._loop_ref = loop_ref

    def select(self, timeout: float | None = None) -> list[Any]:
        loop = self._loop_ref()
        if timeout is None or timeout <= 0 or not loop.accelerate:
            return super().select(timeout)
        if loop._executor_busy():
            # Real work in a thread: wait for real, in short slices, and let the clock count the
            # wait (a blocking call that hangs must still meet its timeout).
            start = time.monotonic()
            events = super().select(min(timeout / loop.speed, 0.01) if math.isfinite(loop.speed) else 0.01)
            if loop._frozen is not None:
                loop._advance(time.monotonic() - start)
            return events
        if math.isinf(loop.speed):
            events = super().select(0)
            if not events:
                loop._advance(timeout)
            return events
        # Scaled time: wait timeout/speed wall seconds, then credit the virtual remainder.
        wall = timeout / loop.speed
        start = time.monotonic()
        events = super().select(wall)
        waited = time.monotonic() - start
        loop._advance(max(0.0, min(timeout, waited * loop.speed) - waited))
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose ``time()`` is virtual.

    :param speed: virtual seconds per wall second; ``math.inf`` (default) jumps straight to the
        next timer whenever the loop is idle.

    ``accelerate`` can be set False to let the clock run at wall pace (a session does so
    between runs, so that leftover periodic tasks do not push virtual time ahead while the
    caller prepares the next plan).
    """

    def __init__(self, speed: float = math.inf) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0 (virtual s per wall s), got {speed}")
        super().__init__(_JumpingSelector(lambda: self))
        self.speed = speed
        self._offset = 0.0
        self._frozen: float | None = None  # virtual time while it stands still between jumps
        self._executor_futures: set[Any] = set()
        self.accelerate = True

    @property
    def accelerate(self) -> bool:
        return self._accelerate

    @accelerate.setter
    def accelerate(self, on: bool) -> None:
        now = self.time()
        self._accelerate = on
        if on and math.isinf(self.speed):
            self._frozen = now
        else:
            self._frozen = None
            self._offset = now - super().time()

    def _advance(self, seconds: float) -> None:
        if self._frozen is not None:
            self._frozen += seconds
        else:
            self._offset += seconds

    def time(self) -> float:
        frozen = self._frozen
        return frozen if frozen is not None else super().time() + self._offset

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> Any:
        fut = super().run_in_executor(executor, func, *args)
        self._executor_futures.add(fut)
        return fut

    def _executor_busy(self) -> bool:
        """True while a worker thread runs a job for this loop (its future is not done)."""
        if self._executor_futures:
            self._executor_futures = {f for f in self._executor_futures if not f.done()}
        return bool(self._executor_futures)


def parse_speed(text: str) -> float:
    """``"virtual"`` -> inf, ``"real"`` -> 1, ``"60"``/``"x60"`` -> 60.

    A speed factor must be a finite number > 0 (``x0``, ``x-1``, ``xnan`` and ``xinf`` are
    refused: ``virtual`` is the way to run as fast as possible); ValueError says so.
    """
    t = text.strip().lower()
    if t in ("virtual", "inf", "max"):
        return math.inf
    if t in ("real", "realtime", "1"):
        return 1.0
    try:
        value = float(t.removeprefix("x"))
    except ValueError as exc:
        raise ValueError(
            f"--time {text!r} is not understood; use 'virtual', 'real' or a speed factor like 'x60'"
        ) from exc
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"--time {text!r} is not a speed factor: it must be a finite number > 0 (virtual seconds per wall "
            "second), e.g. --time x60; use --time virtual to run as fast as possible"
        )
    return value
