"""Plan stubs shared by the experiments: light on/off, timed waits on the bench clock, GC samples.

Stubs open no run.  They are typed generators of Bluesky messages and never block.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import Msg

from devices.lamp import ArcLamp, LampState
from devices.photoreactor import BenchClock

MsgGen = Generator[Msg, Any, Any]


class PlanArgumentError(ValueError):
    """A plan argument outside what the plan or the bench allows."""


class Checks(list[str]):
    """Argument checks run before a plan's first message; keeps what passed for a dry run's report."""

    def need(self, ok: bool, failure: str, passed: str) -> None:
        """Raise :class:`PlanArgumentError` with ``failure`` unless ``ok``; else record ``passed``."""
        if not ok:
            raise PlanArgumentError(failure)
        self.append(passed)


def lamp_on(lamp: ArcLamp, power_w: float) -> MsgGen:
    """Set the power preset, then strike the lamp; returns when the arc is lit."""
    yield from bps.mv(lamp.power, power_w)
    yield from bps.mv(lamp, LampState.ON)


def lamp_off(lamp: ArcLamp) -> MsgGen:
    """Switch the lamp off and wait for the supply to confirm."""
    yield from bps.mv(lamp, LampState.OFF)


def sleep_until(clock: BenchClock, t_s: float) -> MsgGen:
    """Sleep until ``clock.elapsed`` reaches ``t_s`` (no-op if already past)."""
    now = yield from bps.rd(clock.elapsed)
    if t_s > now:
        yield from bps.sleep(t_s - now)


def sample(detectors: Sequence[Any], *, stream: str = "primary") -> MsgGen:
    """One checkpointed reading of ``detectors`` into ``stream``."""
    yield from bps.checkpoint()
    return (yield from bps.trigger_and_read(list(detectors), name=stream))
