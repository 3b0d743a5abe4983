"""Simulator tests run on a virtual-time loop: an hour of vessel heating takes no wall time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from labctl.clock import VirtualTimeLoop


def pytest_asyncio_loop_factories(config: Any, item: Any) -> Mapping[str, Callable[[], Any]]:
    return {"virtual-time": VirtualTimeLoop}
