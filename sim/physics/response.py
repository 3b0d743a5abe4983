"""The simulated bench's response to a campaign's parameters (filled below)."""

from typing import Any

RESPONSES: dict[str, Any] = {}
