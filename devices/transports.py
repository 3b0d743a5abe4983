"""Byte transports between a driver and its instrument, with timeouts, retries and one lock per port.

A driver speaks ASCII lines to an instrument through a :class:`Transport`.  Three kinds:

* :class:`SerialTransport` opens ports with ``serial.serial_for_url`` so that the same driver
  reaches a COM port (``/dev/ttyUSB0``), a simulator on TCP loopback (``socket://127.0.0.1:PORT``)
  or an in-memory loop (``loop://``).  Blocking pyserial calls run in a worker thread.
* :class:`VisaTransport` goes through pyvisa (real VISA, pyvisa-py, or pyvisa-sim ``@sim``).
* :class:`InProcessTransport` hands the bytes straight to a protocol simulator living on the
  same event loop: no thread and no socket, so a dry run in virtual time stays exact.

Every transport serialises its exchanges with an :class:`asyncio.Lock` (one command, one reply),
retries a dropped connection with exponential backoff, and raises
:class:`InstrumentNotResponding` naming the instrument and its address when it gives up.
Timeouts are measured with the running loop's clock (``asyncio.wait_for``), never the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TransportError(Exception):
    """Base class of the errors a transport raises."""


class InstrumentNotResponding(TransportError):
    """The instrument did not answer in time, or its connection could not be (re)opened."""


class ConnectionDropped(TransportError):
    """The connection closed under us; the transport reconnects on the next exchange."""


class GarbledReply(TransportError):
    """The instrument answered with bytes that are not a valid reply."""


class LineSimulator(Protocol):
    """What :class:`InProcessTransport` needs from a protocol simulator.

    ``handle(data)`` takes the raw bytes written by a driver (any chunking) and returns the raw
    bytes the instrument would send back (possibly ``b""`` for silence).  A simulator raises
    :class:`ConnectionDropped` to emulate a cable pulled or a socket closed.
    """

    def handle(self, data: bytes) -> bytes: ...


class Transport:
    """Line-oriented exchange with one instrument.

    :param name: the instrument's name in the bench, used in every error message.
    :param address: where it is reached (URL, VISA resource), also used in errors.
    :param write_termination: appended to every line written.
    :param read_termination: ends every line read (stripped from the result).
    :param timeout: seconds to wait for a reply line.
    :param retries: how many times a failed exchange is retried after reconnecting.
    :param backoff: first wait (s) before a retry; doubles each time.
    """

    def __init__(
        self,
        name: str,
        address: str,
        *,
        write_termination: str = "\r",
        read_termination: str = "\r",
        encoding: str = "ascii",
        timeout: float = 2.0,
        retries: int = 3,
        backoff: float = 0.2,
    ) -> None:
        self.name = name
        self.address = address
        self.write_termination = write_termination
        self.read_termination = read_termination
        self.encoding = encoding
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.lock = asyncio.Lock()

    # -- to be provided by subclasses -------------------------------------------------------
    async def _open(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    async def _write(self, data: bytes) -> None:
        raise NotImplementedError

    async def _read_line(self) -> bytes:
        """Read up to and including the read termination (raise TimeoutError if none comes)."""
        raise NotImplementedError

    async def _flush_input(self) -> None:
        """Discard anything waiting to be read (a late reply to a timed-out query)."""

    # -- public API ---------------------------------------------------------------------------
    async def connect(self) -> None:
        await self._with_retries(self._open, what="connect")

    async def close(self) -> None:
        await self._close()

    async def query(self, line: str) -> str:
        """Write ``line`` and return the reply line, without its termination."""

        async def exchange() -> str:
            await self._flush_input()
            await self._write((line + self.write_termination).encode(self.encoding))
            async with asyncio.timeout(self.timeout):
                raw = await self._read_line()
            return self._decode(raw, line)

        return await self._with_retries(exchange, what=repr(line))

    async def query_lines(self, line: str, n: int) -> list[str]:
        """Write ``line`` and return the next ``n`` reply lines (an echo, then the answer, say).

        Each line is waited for with the transport's timeout and returned without its termination.
        """
        if n < 1:
            raise ValueError(f"query_lines({line!r}, n={n}): n must be at least 1 reply line")

        async def exchange() -> list[str]:
            await self._flush_input()
            await self._write((line + self.write_termination).encode(self.encoding))
            lines: list[str] = []
            for _ in range(n):
                async with asyncio.timeout(self.timeout):
                    raw = await self._read_line()
                lines.append(self._decode(raw, line))
            return lines

        return await self._with_retries(exchange, what=repr(line))

    async def query_frame(self, data: bytes, frame_end: Callable[[bytes], int | None]) -> bytes:
        """Write raw ``data`` and return the reply frame: ``frame_end(buffer)`` says how long a complete
        frame at the start of the buffer is (None: not complete yet).  For binary or length-prefixed
        replies that no line termination delimits."""

        async def exchange() -> bytes:
            await self._flush_input()
            await self._write(data)
            async with asyncio.timeout(self.timeout):
                return await self._read_frame(frame_end)

        return await self._with_retries(exchange, what=repr(data))

    async def _read_frame(self, frame_end: Callable[[bytes], int | None]) -> bytes:
        raise NotImplementedError(f"{type(self).__name__} does not read binary frames")

    async def write(self, line: str) -> None:
        """Write ``line`` and expect no reply."""

        async def send() -> None:
            await self._write((line + self.write_termination).encode(self.encoding))

        await self._with_retries(send, what=repr(line))

    def _decode(self, raw: bytes, sent: str) -> str:
        term = self.read_termination.encode(self.encoding)
        if raw.endswith(term):
            raw = raw[: -len(term)]
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise GarbledReply(
                f"{self.name} at {self.address} sent undecodable bytes {raw!r} in reply to "
                f"{sent!r}; check the baud rate and cable, or the instrument's remote mode"
            ) from exc

    async def _with_retries(self, action: Callable[[], Awaitable[T]], *, what: str) -> T:
        async with self.lock:
            delay = self.backoff
            last: Exception | None = None
            for attempt in range(self.retries + 1):
                try:
                    return await action()
                except (TimeoutError, ConnectionDropped, OSError) as exc:
                    last = exc
                    logger.warning(
                        "%s at %s: %s on %s (attempt %d/%d)",
                        self.name,
                        self.address,
                        type(exc).__name__,
                        what,
                        attempt + 1,
                        self.retries + 1,
                    )
                    if attempt == self.retries:
                        break
                    await asyncio.sleep(delay)
                    delay *= 2
                    try:
                        await self._close()
                        await self._open()
                    except (OSError, ConnectionDropped, TimeoutError) as reopen_exc:
                        last = reopen_exc
            reason = "no reply" if isinstance(last, TimeoutError) else f"{type(last).__name__}: {last}"
            raise InstrumentNotResponding(
                f"{self.name} at {self.address} did not respond to {what} after "
                f"{self.retries + 1} attempts ({reason}); check that it is powered, cabled and "
                f"in remote mode, and that the address in the bench file is right"
            ) from last


class InProcessTransport(Transport):
    """Transport wired straight to a protocol simulator on the same event loop."""

    def __init__(self, name: str, simulator: LineSimulator, *, address: str = "", **kwargs: Any):
        super().__init__(name, address or f"inprocess://{type(simulator).__name__}", **kwargs)
        self.simulator = simulator
        self._buffer = b""

    async def _open(self) -> None:
        self._buffer = b""

    async def _close(self) -> None:
        self._buffer = b""

    async def _flush_input(self) -> None:
        self._buffer = b""

    async def _write(self, data: bytes) -> None:
        self._buffer += self.simulator.handle(data)

    async def _read_line(self) -> bytes:
        term = self.read_termination.encode(self.encoding)
        idx = self._buffer.find(term)
        if idx < 0:
            # A silent instrument: nothing will ever come; let the caller's timeout fire.
            await asyncio.sleep(self.timeout * 2)
            raise TimeoutError
        line, self._buffer = self._buffer[: idx + len(term)], self._buffer[idx + len(term) :]
        return line

    async def _read_frame(self, frame_end: Callable[[bytes], int | None]) -> bytes:
        n = frame_end(self._buffer)
        if n is None:
            await asyncio.sleep(self.timeout * 2)  # a silent instrument: let the caller's timeout fire
            raise TimeoutError
        frame, self._buffer = self._buffer[:n], self._buffer[n:]
        return frame


class SerialTransport(Transport):
    """Serial port (or ``socket://``/``loop://`` URL) through ``serial.serial_for_url``."""

    def __init__(
        self,
        name: str,
        address: str,
        *,
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: int = 1,
        **kwargs: Any,
    ):
        super().__init__(name, address, **kwargs)
        self.baudrate = baudrate
        self.bytesize = bytesize  # 7 or 8 data bits (NAMUR instruments use 7E1)
        self.parity = parity  # "N", "E" or "O"
        self.stopbits = stopbits
        self._port: Any = None

    async def _open(self) -> None:
        import serial  # pyserial; imported lazily to keep the CLI fast

        def open_port() -> Any:
            return serial.serial_for_url(
                self.address,
                baudrate=self.baudrate,
                bytesize=self.bytesize,
                parity=self.parity,
                stopbits=self.stopbits,
                timeout=0.05,
                write_timeout=self.timeout,
            )

        try:
            self._port = await asyncio.to_thread(open_port)
        except serial.SerialException as exc:
            raise ConnectionDropped(str(exc)) from exc

    async def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            await asyncio.to_thread(port.close)

    async def _ensure_open(self) -> Any:
        if self._port is None:
            await self._open()
        return self._port

    async def _flush_input(self) -> None:
        port = await self._ensure_open()
        await asyncio.to_thread(port.reset_input_buffer)

    async def _write(self, data: bytes) -> None:
        import serial

        port = await self._ensure_open()
        try:
            await asyncio.to_thread(port.write, data)
        except serial.SerialException as exc:
            raise ConnectionDropped(str(exc)) from exc

    async def _read_line(self) -> bytes:
        import serial

        port = await self._ensure_open()
        term = self.read_termination.encode(self.encoding)
        buf = b""
        while not buf.endswith(term):
            try:
                chunk = await asyncio.to_thread(port.read_until, term)
            except serial.SerialException as exc:
                raise ConnectionDropped(str(exc)) from exc
            if not chunk:
                await asyncio.sleep(0)
                continue
            buf += chunk
        return buf

    async def _read_frame(self, frame_end: Callable[[bytes], int | None]) -> bytes:
        import serial

        port = await self._ensure_open()
        buf = b""
        while (n := frame_end(buf)) is None:
            try:
                chunk = await asyncio.to_thread(port.read, max(1, port.in_waiting))
            except serial.SerialException as exc:
                raise ConnectionDropped(str(exc)) from exc
            if not chunk:
                await asyncio.sleep(0)
            buf += chunk
        return buf[:n]


class VisaTransport(Transport):
    """A VISA resource through pyvisa (``@py`` for pyvisa-py, a YAML path + ``@sim`` for pyvisa-sim)."""

    def __init__(self, name: str, address: str, *, backend: str = "", **kwargs: Any):
        kwargs.setdefault("write_termination", "\n")
        kwargs.setdefault("read_termination", "\n")
        super().__init__(name, address, **kwargs)
        self.backend = backend
        self._rm: Any = None
        self._res: Any = None

    async def _open(self) -> None:
        import pyvisa

        def open_resource() -> Any:
            self._rm = self._rm or pyvisa.ResourceManager(self.backend)
            res = self._rm.open_resource(self.address)
            res.write_termination = self.write_termination
            res.read_termination = self.read_termination
            res.timeout = int(self.timeout * 1000)
            return res

        try:
            self._res = await asyncio.to_thread(open_resource)
        except (pyvisa.errors.VisaIOError, ValueError) as exc:
            raise ConnectionDropped(str(exc)) from exc

    async def _close(self) -> None:
        res, self._res = self._res, None
        if res is not None:
            await asyncio.to_thread(res.close)

    async def query(self, line: str) -> str:
        import pyvisa

        async def exchange() -> str:
            if self._res is None:
                await self._open()
            try:
                return str(await asyncio.to_thread(self._res.query, line)).strip()
            except pyvisa.errors.VisaIOError as exc:
                if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                    raise TimeoutError(str(exc)) from exc
                raise ConnectionDropped(str(exc)) from exc

        return await self._with_retries(exchange, what=repr(line))

    async def query_lines(self, line: str, n: int) -> list[str]:
        import pyvisa

        if n < 1:
            raise ValueError(f"query_lines({line!r}, n={n}): n must be at least 1 reply line")

        def talk() -> list[str]:
            self._res.write(line)
            return [str(self._res.read()).strip() for _ in range(n)]

        async def exchange() -> list[str]:
            if self._res is None:
                await self._open()
            try:
                return await asyncio.to_thread(talk)
            except pyvisa.errors.VisaIOError as exc:
                if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                    raise TimeoutError(str(exc)) from exc
                raise ConnectionDropped(str(exc)) from exc

        return await self._with_retries(exchange, what=repr(line))

    async def write(self, line: str) -> None:
        import pyvisa

        async def send() -> None:
            if self._res is None:
                await self._open()
            try:
                await asyncio.to_thread(self._res.write, line)
            except pyvisa.errors.VisaIOError as exc:
                raise ConnectionDropped(str(exc)) from exc

        await self._with_retries(send, what=repr(line))
