"""Cheaper "plan was never iterated" warnings for bluesky's plan stubs.

bluesky 1.15 wraps every plan stub (``trigger_and_read``, ``rd``, ``sleep`` ...) in
``bluesky.utils.Plan``, whose constructor formats the whole call stack -- reading the source
line of every frame -- so that it can warn, if the plan is dropped without being iterated,
where it was made.  On a long run that formatting dominates: it was ~40 % of the wall time of
a 12 h photostability dry run (4,320 points, a dozen stubs each).

:func:`install` keeps the warning and its stack but records only (file, line, function) of
each frame when a plan is made, and reads the source lines only if the warning is raised.
No frame is kept alive.  The behaviour seen by a user is the same message.
"""

from __future__ import annotations

import sys
import traceback
import warnings
from typing import Any

_installed = False


def _summary(depth: int) -> list[tuple[str, int, str, None]]:
    out = []
    frame = sys._getframe(depth)
    while frame is not None:
        out.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, None))
        frame = frame.f_back
    out.reverse()
    return out


def _init(self: Any, f: Any, *args: Any, **kwargs: Any) -> None:
    self._iter = f(*args, **kwargs)
    self._stack = (_summary(3), f.__name__)


def _del(self: Any) -> None:
    if self._stack:
        frames, name = self._stack
        stack = traceback.StackSummary.from_list(frames).format()
        stack.append(f"RuntimeWarning: plan `{name}` was never iterated, did you mean to use `yield from`?")
        warnings.warn("\n" + "".join(stack), RuntimeWarning, stacklevel=1)


def install() -> None:
    """Make ``bluesky.utils.Plan`` record its creation stack lazily (idempotent)."""
    global _installed
    if _installed:
        return
    from bluesky.utils import Plan

    Plan.__init__ = _init  # type: ignore[method-assign]
    Plan.__del__ = _del  # type: ignore[method-assign]
    _installed = True
