"""Cheaper "plan was never iterated" warnings for bluesky's plan stubs, inside labctl's runs only.

bluesky 1.15 wraps every plan stub (``trigger_and_read``, ``rd``, ``sleep`` ...) in
``bluesky.utils.Plan``, whose constructor formats the whole call stack -- reading the source
line of every frame -- so that it can warn, if the plan is dropped without being iterated,
where it was made.  On a long run that formatting dominates: it was ~40 % of the wall time of
a 12 h photostability dry run (4,320 points, a dozen stubs each).

:func:`installed` keeps the warning and its stack but records only (file, line, function) of
each frame when a plan is made, and reads the source lines only if the warning is raised.
No frame is kept alive.  The behaviour seen by a user is the same message.

Importing labctl changes nothing in bluesky: the lean constructor is in place only while a
labctl RunEngine runs a plan (``with installed(): RE(plan)``) and bluesky's own is put back
afterwards.  A plan made inside and dropped un-iterated after it still warns (with its name,
without the stack) under bluesky's own ``__del__``.
"""

from __future__ import annotations

import sys
import threading
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_depth = 0
_original: tuple[Any, Any] | None = None
_global = False


class _LazyStack(list):
    """The creation stack of a plan as (file, line, function) tuples, formatted only if needed.

    As a list it holds bluesky's one-line warning, so bluesky's own ``Plan.__del__`` (back in
    place after a labctl run) still warns about a plan dropped un-iterated.
    """

    __slots__ = ("frames", "name")


def _summary(depth: int) -> list[tuple[str, int, str, None]]:
    out = []
    frame = sys._getframe(depth)
    while frame is not None:
        out.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, None))
        frame = frame.f_back
    out.reverse()
    return out


def _message(name: str) -> str:
    return f"RuntimeWarning: plan `{name}` was never iterated, did you mean to use `yield from`?"


def _init(self: Any, f: Any, *args: Any, **kwargs: Any) -> None:
    self._iter = f(*args, **kwargs)
    stack = _LazyStack((_message(f.__name__),))
    stack.frames = _summary(3)
    stack.name = f.__name__
    self._stack = stack


def _del(self: Any) -> None:
    stack = self._stack
    if not stack:
        return
    if isinstance(stack, _LazyStack):
        lines = traceback.StackSummary.from_list(stack.frames).format()
        lines.append(_message(stack.name))
    else:  # made by bluesky's own constructor
        lines = list(stack)
    warnings.warn("\n" + "".join(lines), RuntimeWarning, stacklevel=1)


def _swap_in() -> None:
    global _original
    from bluesky.utils import Plan

    _original = (Plan.__init__, Plan.__del__)
    Plan.__init__ = _init  # type: ignore[method-assign]
    Plan.__del__ = _del  # type: ignore[method-assign]


def _swap_out() -> None:
    global _original
    from bluesky.utils import Plan

    if _original is not None:
        Plan.__init__, Plan.__del__ = _original  # type: ignore[method-assign]
        _original = None


@contextmanager
def installed() -> Iterator[None]:
    """Within the block, ``bluesky.utils.Plan`` records its creation stack lazily (re-entrant)."""
    global _depth
    with _lock:
        if _depth == 0 and not _global:
            _swap_in()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and not _global:
                _swap_out()


def install() -> None:
    """Make ``bluesky.utils.Plan`` record its creation stack lazily for the rest of the process.

    For a benchmark's bare RunEngine or a user who wants it everywhere; labctl itself never calls
    it (its RunEngines use :func:`installed` around each run).  Idempotent.
    """
    global _global
    with _lock:
        if _global:
            return
        if _depth == 0:
            _swap_in()
        _global = True
