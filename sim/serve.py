"""Serve protocol simulators on TCP loopback, so real drivers reach them over a real socket.

Each simulator (``handle(bytes) -> bytes``) gets a TCP server; whatever a client sends is fed
to it and its reply written back, byte for byte.  ``serial.serial_for_url("socket://...")``
in :class:`labctl.devices.transports.SerialTransport` connects to these exactly as to a
serial-over-TCP adapter.  A simulator raising ``ConnectionDropped`` closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from labctl.devices.transports import ConnectionDropped, LineSimulator

logger = logging.getLogger(__name__)


async def serve_simulator(simulator: LineSimulator, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """Start a TCP server for one simulator; the bound port is ``server.sockets[0].getsockname()[1]``."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(4096):
                try:
                    reply = simulator.handle(data)
                except ConnectionDropped:
                    break
                if reply:
                    writer.write(reply)
                    await writer.drain()
        except (ConnectionError, OSError) as exc:
            logger.info("client went away: %s", exc)
        finally:
            writer.close()

    return await asyncio.start_server(client, host, port)


def bound_port(server: Any) -> int:
    return int(server.sockets[0].getsockname()[1])
