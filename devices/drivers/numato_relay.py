"""Numato Lab USB relay/GPIO module: the box that starts the GC and reads its Ready line.

A GC's remote-start connector (Agilent "APG Remote": Start is low-true, pulse >= 500 µs;
Ready is high-true) is wired to one relay contact and one opto-isolated GPIO input of a Numato
USB relay module, which enumerates as a CDC serial port (any baud).  Its documented ASCII
command set:

=====================  ==========================================
``ver``                firmware version, e.g. ``00000008``
``id get``             the module's 8-character id
``relay on N``         close relay N (no reply besides the echo)
``relay off N``        open relay N
``relay read N``       ``on`` or ``off``
``gpio read N``        ``0`` or ``1``
=====================  ==========================================

Wire quirk: the module echoes every command, ends each line with ``\\n\\r`` and then sends a
``>`` prompt.  We read up to the prompt and drop the echo, so ``relay read 0`` yields ``on``.
"""

from __future__ import annotations

import asyncio

from labctl.devices.transports import GarbledReply, Transport


class NumatoRelay:
    """Driver for a Numato USB relay/GPIO module.  Channels are 0-based integers."""

    def __init__(self, transport: Transport) -> None:
        transport.read_termination = ">"
        transport.write_termination = "\r"
        self.transport = transport

    async def _command(self, command: str) -> str:
        raw = await self.transport.query(command)
        lines = [ln for ln in raw.replace("\r", "").split("\n")]
        if not lines or lines[0].strip() != command:
            raise GarbledReply(
                f"{self.transport.name} at {self.transport.address}: expected the echo of {command!r}, got {raw!r}"
            )
        return "\n".join(ln for ln in lines[1:] if ln.strip()).strip()

    async def version(self) -> str:
        return await self._command("ver")

    async def relay(self, channel: int, closed: bool) -> None:
        await self._command(f"relay {'on' if closed else 'off'} {int(channel)}")

    async def relay_state(self, channel: int) -> bool:
        reply = await self._command(f"relay read {int(channel)}")
        if reply not in ("on", "off"):
            raise GarbledReply(
                f"{self.transport.name}: 'relay read {channel}' answered {reply!r}, expected 'on' or 'off'"
            )
        return reply == "on"

    async def gpio(self, channel: int) -> bool:
        reply = await self._command(f"gpio read {int(channel)}")
        if reply not in ("0", "1"):
            raise GarbledReply(f"{self.transport.name}: 'gpio read {channel}' answered {reply!r}, expected 0 or 1")
        return reply == "1"

    async def pulse(self, channel: int, seconds: float = 0.1) -> None:
        """Close then open a relay: a remote-start pulse (>= 500 µs for an Agilent GC)."""
        await self.relay(channel, True)
        try:
            await asyncio.sleep(seconds)
        finally:
            await self.relay(channel, False)
