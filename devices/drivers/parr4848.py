"""Parr 4848-class reactor controller over Modbus: a register map kept as data, and an async driver.

The driver reads and writes named registers in engineering units (``read("temperature")`` ->
70.0 °C) using a :class:`RegisterMap` (table, address, scale, signedness, units, writability,
limits) loaded from TOML.  The stack underneath is pymodbus; nothing here frames Modbus by hand.

Wire quirks, once:

* Parr publishes no Modbus map for the 4848.  ``parr4848_map.toml`` is a documented stand-in
  (temperature loop at the Eurotherm 3500 addresses, the rest ours); a site passes its own file
  with the same schema to :meth:`RegisterMap.load`.
* Addresses are 0-based protocol addresses, as sent on the wire (a manual's "40290" is 289).
  Values are 16-bit integers with a fixed scale (tenths of °C: 700 means 70.0 °C; hundredths
  of bar), signed ones in two's complement.
* Addresses: ``socket://host:port`` is Modbus RTU (address byte + PDU + CRC) tunnelled through
  TCP, as a serial-over-TCP adapter passes it; ``tcp://host:port`` is Modbus TCP (MBAP header, no
  CRC); anything else is a serial port (``/dev/ttyUSB0``, ``COM3``) spoken in RTU, 8N1.
* Bad CRC.  pymodbus 3.16's RTU framer drops a reply whose CRC does not match (a debug log line,
  "Frame CRC check failed") and reports nothing: the request simply times out and is retried.
  The driver watches the raw bytes through pymodbus' ``trace_packet`` hook: if bytes arrived but
  no reply could be decoded it raises :class:`ModbusCrcError` (a :class:`GarbledReply`) with the
  CRC the frame carried and the one computed; if nothing arrived, :class:`ModbusTimeoutError`.
* The high-limit relay cuts the heater on over-temperature or over-pressure and LATCHES.  Only
  the front-panel button resets it; no register does, and the driver offers no way to try.
* RS-485 has one master and one transaction at a time: every exchange holds a lock shared by all
  controllers on the same port.  A serial port is opened by pymodbus on the loop (a quick local
  open); ``socket://`` and ``tcp://`` connect asynchronously.
"""

from __future__ import annotations

import asyncio
import math
import tomllib
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusIOException
from pymodbus.framer import FramerRTU, FramerType

from labctl.devices.transports import GarbledReply, InstrumentNotResponding, TransportError

Table = Literal["holding", "input", "coil", "discrete"]
TABLES: tuple[Table, ...] = ("holding", "input", "coil", "discrete")
BIT_TABLES = frozenset({"coil", "discrete"})
WRITABLE_TABLES = frozenset({"holding", "coil"})
TABLE_TITLES: Mapping[str, str] = {
    "holding": "holding register",
    "input": "input register",
    "coil": "coil",
    "discrete": "discrete input",
}
DEFAULT_MAP_PATH = Path(__file__).with_name("parr4848_map.toml")

#: Bits of the ``alarm_summary`` register in the stand-in map.
ALARM_BITS: Mapping[int, str] = {0: "high_limit_latched", 1: "over_temperature", 2: "over_pressure"}

#: Modbus exception codes and what they mean.
MODBUS_EXCEPTIONS: Mapping[int, str] = {
    1: "illegal function: the controller does not support this function code",
    2: "illegal data address: the controller has no such register (check the register map)",
    3: "illegal data value: the controller refused the value",
    4: "server device failure: the controller failed while handling the request",
    5: "acknowledge: the controller accepted a long-running request",
    6: "server device busy: the controller is busy; try again later",
    7: "negative acknowledge: the controller cannot perform the request",
    8: "memory parity error in the controller",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}

MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000
_SPEC_KEYS = frozenset({"table", "address", "scale", "signed", "units", "writable", "description", "min", "max"})


# -- errors ------------------------------------------------------------------------------------


class ReadOnlyRegisterError(ValueError):
    """A write to a register the map marks read-only (refused before anything is sent)."""


class UnknownRegisterError(KeyError):
    """A register name the map does not define."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ModbusTimeoutError(InstrumentNotResponding):
    """No reply at all from the controller (after pymodbus' retries)."""


class ModbusCrcError(GarbledReply):
    """Bytes came back but never formed a valid reply frame (bad CRC, or a garbled MBAP frame)."""


class ModbusExceptionError(TransportError):
    """The controller answered with a Modbus exception response."""

    def __init__(self, message: str, *, code: int, meaning: str, register: str) -> None:
        super().__init__(message)
        self.code = code
        self.meaning = meaning
        self.register = register


# -- the register map --------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterSpec:
    """One register: where it lives and how its raw 16-bit value becomes engineering units.

    ``value = raw / scale`` (raw taken as two's complement when ``signed``); bits are booleans.
    ``min``/``max`` bound the engineering value of a write.
    """

    name: str
    table: Table
    address: int
    scale: float = 1.0
    signed: bool = False
    units: str = ""
    writable: bool = False
    description: str = ""
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        where = f"register {self.name!r}"
        if self.table not in TABLES:
            raise ValueError(f"{where}: table {self.table!r} is not one of {', '.join(TABLES)}")
        if isinstance(self.address, bool) or not isinstance(self.address, int) or not 0 <= self.address <= 0xFFFF:
            raise ValueError(f"{where}: address {self.address!r} must be an integer 0-65535 (0-based)")
        if not (isinstance(self.scale, int | float) and math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"{where}: scale {self.scale!r} must be a positive number (value = raw / scale)")
        if self.writable and self.table not in WRITABLE_TABLES:
            raise ValueError(f"{where}: a {TABLE_TITLES[self.table]} cannot be written; set writable = false")
        if self.is_bit and (self.scale != 1 or self.signed):
            raise ValueError(f"{where}: a {TABLE_TITLES[self.table]} is a bit; leave scale = 1 and signed = false")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{where}: min {self.min} is above max {self.max}")

    @property
    def is_bit(self) -> bool:
        return self.table in BIT_TABLES

    @property
    def where(self) -> str:
        """``'temperature' (holding register 289)``: how errors name the register."""
        return f"{self.name!r} ({TABLE_TITLES[self.table]} {self.address})"

    @property
    def raw_range(self) -> tuple[int, int]:
        return (-0x8000, 0x7FFF) if self.signed else (0, 0xFFFF)

    def decode(self, raw: int | bool) -> float | int | bool:
        """Raw wire value (uint16 or bit) -> engineering value."""
        if self.is_bit:
            return bool(raw)
        value = int(raw) & 0xFFFF
        if self.signed and value >= 0x8000:
            value -= 0x10000
        if self.scale == 1:
            return value
        return value / self.scale

    def encode(self, value: float | int | bool) -> int | bool:
        """Engineering value -> raw wire value, checking type and range (:class:`ValueError`)."""
        if self.is_bit:
            if isinstance(value, bool) or value in (0, 1):
                return bool(value)
            raise ValueError(f"{self.where} is a bit: write True or False, not {value!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{self.where} takes a finite number in {self.units or 'its units'}, not {value!r}")
        units = f" {self.units}" if self.units else ""
        fix = f"write a value between {_fmt(self.min)} and {_fmt(self.max)}{units}"
        if self.min is not None and value < self.min:
            raise ValueError(f"{value:g}{units} for {self.where} is below its minimum {_fmt(self.min)}{units}; {fix}")
        if self.max is not None and value > self.max:
            raise ValueError(f"{value:g}{units} for {self.where} is above its maximum {_fmt(self.max)}{units}; {fix}")
        raw = round(value * self.scale)
        lo, hi = self.raw_range
        if not lo <= raw <= hi:
            raise ValueError(
                f"{value:g}{units} for {self.where} does not fit the register (raw {raw} outside {lo}-{hi} "
                f"at scale {self.scale:g}); write a value between {lo / self.scale:g} and {hi / self.scale:g}{units}"
            )
        return raw & 0xFFFF

    def encode_raw(self, value: float | int | bool) -> int | bool:
        """Like :meth:`encode` without the min/max check (a simulator showing a state)."""
        if self.is_bit:
            return bool(value)
        lo, hi = self.raw_range
        return max(lo, min(hi, round(float(value) * self.scale))) & 0xFFFF


def _fmt(x: float | None) -> str:
    return "-inf" if x is None else f"{x:g}"


class RegisterMap(Mapping[str, RegisterSpec]):
    """Named registers of one controller; read-only mapping name -> :class:`RegisterSpec`."""

    def __init__(self, registers: Iterable[RegisterSpec], *, source: str = "", model: str = "") -> None:
        self.source = source
        self.model = model
        self._specs: dict[str, RegisterSpec] = {}
        self._by_address: dict[tuple[str, int], RegisterSpec] = {}
        for spec in registers:
            if spec.name in self._specs:
                raise ValueError(f"{source or 'register map'}: register {spec.name!r} is defined twice")
            key = (spec.table, spec.address)
            if key in self._by_address:
                raise ValueError(
                    f"{source or 'register map'}: {spec.where} and {self._by_address[key].name!r} share an address"
                )
            self._specs[spec.name] = spec
            self._by_address[key] = spec

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> RegisterMap:
        """Read a map from TOML: ``[registers.<name>]`` tables with the :class:`RegisterSpec` fields."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"register map {path}: not valid TOML ({exc})") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "register map") -> RegisterMap:
        registers = data.get("registers")
        if not isinstance(registers, Mapping) or not registers:
            raise ValueError(f"{source}: no [registers.<name>] tables found")
        specs = []
        for name, entry in registers.items():
            if not isinstance(entry, Mapping):
                raise ValueError(f"{source}: [registers.{name}] must be a table")
            unknown = set(entry) - _SPEC_KEYS
            if unknown:
                raise ValueError(
                    f"{source}: [registers.{name}] has unknown keys {sorted(unknown)}; allowed: {sorted(_SPEC_KEYS)}"
                )
            for key in ("table", "address"):
                if key not in entry:
                    raise ValueError(f"{source}: [registers.{name}] lacks {key!r}")
            try:
                specs.append(RegisterSpec(name=name, **entry))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{source}: {exc}") from exc
        instrument = data.get("instrument", {})
        model = str(instrument.get("model", "")) if isinstance(instrument, Mapping) else ""
        return cls(specs, source=source, model=model)

    @classmethod
    def default(cls) -> RegisterMap:
        """The shipped stand-in map (``parr4848_map.toml``)."""
        return cls.load(DEFAULT_MAP_PATH)

    # -- mapping ------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> RegisterSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownRegisterError(
                f"no register {name!r} in {self.source or 'the register map'}; known: {', '.join(self._specs)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def writable(self) -> list[str]:
        return [name for name, spec in self._specs.items() if spec.writable]

    def at(self, table: str, address: int) -> RegisterSpec | None:
        """The register at ``address`` of ``table``, if any."""
        return self._by_address.get((table, address))

    def in_table(self, table: str) -> list[RegisterSpec]:
        return sorted((s for s in self._specs.values() if s.table == table), key=lambda s: s.address)


def decode_alarms(word: int) -> list[str]:
    """Names of the bits set in an ``alarm_summary`` value (unknown bits as ``bit N``)."""
    return [ALARM_BITS.get(bit, f"bit {bit}") for bit in range(16) if int(word) >> bit & 1]


# -- one lock per port -------------------------------------------------------------------------

_PORT_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def port_lock(address: str) -> asyncio.Lock:
    """The lock shared by every controller on ``address`` (one transaction at a time on a bus)."""
    locks = _PORT_LOCKS.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(address, asyncio.Lock())


# -- the driver --------------------------------------------------------------------------------


@dataclass
class _Request:
    table: str
    start: int
    count: int
    specs: list[RegisterSpec] = field(default_factory=list)


class ParrController:
    """Async driver of one Parr 4848-class controller.

    :param name: the instrument's name in the bench, used in every error message.
    :param address: ``socket://host:port`` (RTU through TCP), ``tcp://host:port`` (Modbus TCP) or a
        serial port (RTU).
    :param register_map: the controller's map; the shipped stand-in when omitted.
    :param device_id: Modbus device (slave) id, 1-247.
    :param timeout: seconds to wait for each reply.
    :param retries: how many times pymodbus re-sends an unanswered request.
    :param baudrate: serial ports only.
    """

    def __init__(
        self,
        name: str,
        address: str,
        *,
        register_map: RegisterMap | None = None,
        device_id: int = 1,
        timeout: float = 1.0,
        retries: int = 2,
        baudrate: int = 9600,
    ) -> None:
        if not 0 <= device_id <= 247:
            raise ValueError(f"{name}: device_id {device_id} must be 0-247 (the controller's Modbus address)")
        if not timeout > 0:
            raise ValueError(f"{name}: timeout must be > 0 s, got {timeout}")
        if retries < 0:
            raise ValueError(f"{name}: retries must be >= 0, got {retries}")
        self.name = name
        self.address = address
        self.register_map = register_map if register_map is not None else RegisterMap.default()
        self.device_id = device_id
        self.timeout = timeout
        self.retries = retries
        self.baudrate = baudrate
        self.framing: Literal["rtu", "tcp"] = "tcp" if address.startswith("tcp://") else "rtu"
        self._endpoint: tuple[str, int] | None = None  # host, port for socket:// and tcp://
        if address.startswith(("socket://", "tcp://")):
            scheme, _, rest = address.partition("://")
            host, sep, port = rest.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{name}: address {address!r} must look like {scheme}://host:port")
            self._endpoint = (host.strip("[]"), int(port))
        self._client: Any = None
        self._rx = b""  # raw bytes received since the current request was first sent
        self._rx_chunks = 0

    # -- connection -----------------------------------------------------------------------------
    def _make_client(self) -> Any:
        common: dict[str, Any] = {
            "timeout": self.timeout,
            "retries": self.retries,
            "reconnect_delay": 0,  # no background reconnect task; the driver reconnects itself
            "trace_packet": self._trace_packet,
            "name": self.name,
        }
        if self._endpoint is not None:
            host, port = self._endpoint
            framer = FramerType.RTU if self.framing == "rtu" else FramerType.SOCKET
            return AsyncModbusTcpClient(host, port=port, framer=framer, **common)
        return AsyncModbusSerialClient(
            self.address, framer=FramerType.RTU, baudrate=self.baudrate, bytesize=8, parity="N", stopbits=1, **common
        )

    async def connect(self) -> None:
        """Open the port or socket (raises :class:`InstrumentNotResponding` if it cannot)."""
        if self._client is not None and self._client.connected:
            return
        if self._client is None:
            self._client = self._make_client()
        try:
            ok = await self._client.connect()
        except Exception as exc:  # pyserial raises its own errors for a missing port
            ok = False
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = "connection refused or timed out"
        if not ok:
            raise InstrumentNotResponding(
                f"{self.name} at {self.address} could not be reached ({reason}); check that the controller "
                "(or its serial-to-TCP adapter) is powered and cabled and that the address is right"
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def __aenter__(self) -> ParrController:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._rx = data  # pymodbus hands over its whole receive buffer each time
            self._rx_chunks += 1
        return data

    # -- public API -------------------------------------------------------------------------------
    async def read(self, name: str) -> float | int | bool:
        """Read one register in engineering units (bits as bool, scale 1 as int, else float)."""
        spec = self.register_map[name]
        values = await self._read_block(_Request(spec.table, spec.address, 1, [spec]))
        return values[name]

    async def read_many(self, names: Sequence[str]) -> dict[str, float | int | bool]:
        """Read several registers, merging contiguous addresses of a table into one request."""
        specs = [self.register_map[n] for n in names]
        out: dict[str, float | int | bool] = {}
        for request in self._plan(specs):
            out.update(await self._read_block(request))
        return {n: out[n] for n in names}

    async def write(self, name: str, value: float | int | bool) -> None:
        """Write one register; type, writability and limits are checked before anything is sent."""
        spec = self.register_map[name]
        if not spec.writable:
            writable = ", ".join(self.register_map.writable()) or "none"
            raise ReadOnlyRegisterError(
                f"{self.name}: {spec.where} is read-only in {self.register_map.source or 'the register map'}; "
                f"writable registers: {writable}"
            )
        raw = spec.encode(value)
        if spec.table == "coil":
            await self._call(spec, "write", lambda c: c.write_coil(spec.address, bool(raw), device_id=self.device_id))
        else:
            await self._call(
                spec, "write", lambda c: c.write_register(spec.address, int(raw), device_id=self.device_id)
            )

    async def read_alarms(self, name: str = "alarm_summary") -> list[str]:
        """Names of the alarm bits set (see :data:`ALARM_BITS`)."""
        return decode_alarms(int(await self.read(name)))

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _plan(specs: Sequence[RegisterSpec]) -> list[_Request]:
        requests: list[_Request] = []
        by_table: dict[str, list[RegisterSpec]] = {}
        for spec in specs:
            by_table.setdefault(spec.table, []).append(spec)
        for table, group in by_table.items():
            limit = MAX_BITS_PER_READ if table in BIT_TABLES else MAX_REGISTERS_PER_READ
            current: _Request | None = None
            for spec in sorted(set(group), key=lambda s: s.address):
                if current is not None and spec.address == current.start + current.count and current.count < limit:
                    current.count += 1
                    current.specs.append(spec)
                else:
                    current = _Request(table, spec.address, 1, [spec])
                    requests.append(current)
        return requests

    async def _read_block(self, request: _Request) -> dict[str, float | int | bool]:
        functions = {
            "holding": "read_holding_registers",
            "input": "read_input_registers",
            "coil": "read_coils",
            "discrete": "read_discrete_inputs",
        }
        method = functions[request.table]
        first = request.specs[0]
        response = await self._call(
            first,
            "read",
            lambda c: getattr(c, method)(request.start, count=request.count, device_id=self.device_id),
            span=request.count,
        )
        raw: list[Any] = list(response.bits if request.table in BIT_TABLES else response.registers)
        if len(raw) < request.count:
            raise GarbledReply(
                f"{self.name} at {self.address} returned {len(raw)} values for {request.count} requested "
                f"from {first.where}; check the register map"
            )
        return {spec.name: spec.decode(raw[spec.address - request.start]) for spec in request.specs}

    async def _call(self, spec: RegisterSpec, what: str, action: Any, span: int = 1) -> Any:
        if self._client is None:
            await self.connect()
        target = spec.where if span == 1 else f"{span} {TABLE_TITLES[spec.table]}s from {spec.where}"
        async with port_lock(self.address):
            self._rx, self._rx_chunks = b"", 0
            try:
                try:
                    response = await action(self._client)
                except ConnectionException:
                    # pymodbus dropped the link after repeated silence: reopen once and retry.
                    self._client.close()
                    await self.connect()
                    self._rx, self._rx_chunks = b"", 0
                    response = await action(self._client)
            except ModbusIOException as exc:
                raise self._no_reply_error(what, target, exc) from exc
            except ConnectionException as exc:
                raise InstrumentNotResponding(
                    f"{self.name} at {self.address}: connection lost during a {what} of {target} ({exc}); "
                    "check the cable or the serial-to-TCP adapter"
                ) from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            meaning = MODBUS_EXCEPTIONS.get(code, "unknown exception code")
            raise ModbusExceptionError(
                f"{self.name} at {self.address} (device {self.device_id}) answered the {what} of {target} with "
                f"Modbus exception {code} ({meaning})",
                code=code,
                meaning=meaning,
                register=spec.name,
            )
        return response

    def _no_reply_error(self, what: str, target: str, exc: ModbusIOException) -> TransportError:
        attempts = self.retries + 1
        head = f"{self.name} at {self.address} (device {self.device_id})"
        if self._rx:
            if self.framing == "rtu" and len(self._rx) >= 4:
                carried = int.from_bytes(self._rx[-2:], "big")
                computed = FramerRTU.compute_CRC(self._rx[:-2])
                detail = f"last frame {self._rx.hex(' ')}: CRC 0x{carried:04x} sent, 0x{computed:04x} computed"
            else:
                detail = f"last bytes {self._rx[:32].hex(' ')}"
            fix = (
                "check the RS-485 wiring, termination and ground, and that the baud rate and parity match the "
                "controller"
                if self.framing == "rtu"
                else "check the Modbus TCP gateway and that the address really speaks Modbus TCP (not RTU)"
            )
            return ModbusCrcError(
                f"{head} sent {self._rx_chunks} chunk(s) of bytes in reply to the {what} of {target} but no valid "
                f"reply frame in {attempts} attempts (CRC errors or garbled frames; {detail}); {fix}"
            )
        return ModbusTimeoutError(
            f"{head} did not answer the {what} of {target} within {self.timeout:g} s in {attempts} attempts "
            f"(no reply: silence); check that it is powered and cabled, that its Modbus address is "
            f"{self.device_id} and that the baud rate matches ({exc})"
        )
