"""The person at the bench, as a device: steps no actuator does, and values typed in.

Some steps of a protocol are done by hand on most benches: opening the CO2 cylinder to the
regulator, putting the vessel in an ice bath, recovering a catalyst by centrifugation, reading a
conversion off an NMR spectrum.  Plans ask for them with ``bps.mv(operator, HandStep(key, text))``;
the status completes when the step is confirmed.  ``TerminalOperator`` asks a person at the
terminal; a simulated bench's operator performs the step on the simulator at once (so dry runs
need nobody).  Entered values (``ask_value``) are recorded like any reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bluesky.protocols import Movable
from ophyd_async.core import AsyncStatus, StandardReadable, soft_signal_r_and_setter

logger = logging.getLogger(__name__)

ValueSource = Callable[[str], Awaitable[float]]


@dataclass(frozen=True)
class HandStep:
    """One step for the operator: a machine-readable ``key``, the words a person reads, and the
    step's number if it has one (e.g. the regulator pressure in bar).  A loading step
    (``key`` ``load_sample:<where>``) carries what is loaded in ``sample`` (catalyst, mass,
    volumes, film), so a simulated bench puts the same sample in its model as the plan records."""

    key: str
    text: str
    value: float | None = None
    sample: dict[str, Any] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return self.text


Step = Callable[[HandStep], Awaitable[None]]


class Operator(StandardReadable, Movable[HandStep]):
    """Hand steps and entered values.

    :param perform: does (or asks for) a step, returns when it is done.
    :param value: returns a value the operator enters for a prompt (e.g. an NMR conversion).
    """

    def __init__(self, perform: Step, value: ValueSource, *, name: str = "") -> None:
        self._perform = perform
        self._value = value
        self.last_step, self._set_last_step = soft_signal_r_and_setter(str)
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def set(self, value: HandStep) -> None:
        self._set_last_step(value.text)
        await self._perform(value)

    async def ask_value(self, prompt: str) -> float:
        return await self._value(prompt)


def terminal_person() -> tuple[Step, ValueSource]:
    """A person at the terminal: reads each step and answers with Enter, or types a number."""

    async def perform(step: HandStep) -> None:
        await asyncio.to_thread(input, f"\n[operator] {step.text}\nPress Enter when done: ")

    async def value(prompt: str) -> float:
        while True:
            text = await asyncio.to_thread(input, f"\n[operator] {prompt}: ")
            try:
                return float(text)
            except ValueError:
                print(f"'{text}' is not a number; type the value, e.g. 87.5")

    return perform, value


def simulated_person() -> tuple[Step, ValueSource]:
    """The operator of a simulated bench whose simulators run elsewhere (served over the wire): each
    hand step is announced and taken as done, as a simulated bench's own operator does; a value is
    still typed at the terminal (nothing in this process can measure it)."""
    perform_value = terminal_person()[1]

    async def perform(step: HandStep) -> None:
        logger.info("[operator, simulated bench] %s: done", step.text)

    return perform, perform_value


class EnteredReading(StandardReadable):
    """A value the operator measures off-line and enters (e.g. PO conversion from 1H NMR).

    ``trigger()`` asks for it (prompt text fixed at construction); ``read()`` gives it with its
    units, so it lands in the run like any other reading.
    """

    def __init__(self, source: ValueSource, *, prompt: str, units: str, name: str = "") -> None:
        self._source = source
        self.prompt = prompt
        with self.add_children_as_readables():
            self.value, self._set_value = soft_signal_r_and_setter(float, units=units)
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        self._set_value(float(await self._source(self.prompt)))
