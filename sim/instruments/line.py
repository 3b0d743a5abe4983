"""The wire side shared by the ASCII line-protocol simulators: framing and the faults of a cable.

A :class:`LineProtocolSimulator` (a :class:`labctl.devices.transports.LineSimulator`) buffers what a
driver writes (in any chunks), hands every complete line to the instrument's ``_process``
(which returns the reply text, or None for no reply), and frames the replies.  It also plays the
faults every serial or socket link can show, on demand: silence (input discarded, nothing
answered), garbage (the instrument acts, but every reply is :attr:`garbage`) and a dropped
connection (``handle`` raises :class:`labctl.devices.transports.ConnectionDropped` for the next few
exchanges).  The instrument simulators (Oriel lamp supply, Cornerstone monochromator, SR430
scaler, DC2200 LED driver) subclass it and supply only their command set.
"""

from __future__ import annotations

import re

from labctl.devices.transports import ConnectionDropped


class LineProtocolSimulator:
    """Buffering, line splitting, reply framing and link faults of a line-protocol simulator.

    :param line_end: the characters any of which ends a received line (e.g. ``b"\\r\\n"``).
    :param reply_end: appended to every reply.
    :param garbage: what every reply becomes while :meth:`inject_garbage` is on.
    :param echo: send back every byte received before the replies (an RS-232 echo).
    """

    model = "instrument"

    def __init__(
        self, *, line_end: bytes = b"\n", reply_end: bytes = b"\n", garbage: bytes = b"", echo: bool = False
    ) -> None:
        self._line_end = re.compile(b"[" + re.escape(line_end) + b"]")
        self._reply_end = reply_end
        self.garbage = garbage
        self.echo = echo
        self._buffer = b""
        self._silent = False
        self._garbage = False
        self._drops = 0

    def handle(self, data: bytes) -> bytes:
        """Take the bytes a driver wrote; return the echo (if on) and the replies to every complete line."""
        if self._drops > 0:
            self._drops -= 1
            self._buffer = b""
            raise ConnectionDropped(f"simulated {self.model} dropped the connection")
        if self._silent:
            self._buffer = b""
            return b""
        out = [data] if self.echo else []
        self._buffer += data
        while (match := self._line_end.search(self._buffer)) is not None:
            line, self._buffer = self._buffer[: match.start()], self._buffer[match.end() :]
            reply = self._process(line)
            if reply is not None:
                out.append(self.garbage if self._garbage else reply.encode("ascii") + self._reply_end)
        return b"".join(out)

    def _process(self, raw: bytes) -> str | None:
        """The instrument's answer to one received line (without its end), or None for none."""
        raise NotImplementedError

    # -- faults on demand --------------------------------------------------------------------
    def inject_silence(self, on: bool) -> None:
        """While on, input is discarded and nothing is answered (a dead or unplugged instrument)."""
        self._silent = on

    def inject_garbage(self, on: bool) -> None:
        """While on, commands still act but every reply is :attr:`garbage` (wrong baud rate, noise)."""
        self._garbage = on

    def drop_connection(self, n_exchanges: int = 1) -> None:
        """The next ``n_exchanges`` calls of :meth:`handle` raise ``ConnectionDropped``."""
        self._drops = n_exchanges
