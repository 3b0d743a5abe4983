"""Transports: retries with backoff, errors naming the instrument, real sockets via serial_for_url."""

from __future__ import annotations

import asyncio

import pytest

from labctl.devices.drivers.oriel_lamp import OrielLampDriver
from labctl.devices.transports import (
    ConnectionDropped,
    GarbledReply,
    InProcessTransport,
    InstrumentNotResponding,
    SerialTransport,
)
from labctl.sim.instruments.oriel_lamp import OrielLampSimulator
from labctl.sim.serve import bound_port, serve_simulator


class Flaky:
    """Drops the first ``n`` exchanges, then echoes."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def handle(self, data: bytes) -> bytes:
        self.calls += 1
        if self.calls <= self.n:
            raise ConnectionDropped("cable pulled")
        return b"OK:" + data


async def test_dropped_connection_is_retried_with_backoff():
    t = InProcessTransport("box", Flaky(2), retries=3, backoff=0.01)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await t.query("PING") == "OK:PING"
    assert loop.time() - t0 == pytest.approx(0.01 + 0.02, abs=1e-9)  # two backoffs, doubling


async def test_dead_instrument_error_names_instrument_address_and_fix():
    t = InProcessTransport("lamp", Flaky(99), address="COM7", retries=2, backoff=0.001)
    with pytest.raises(InstrumentNotResponding, match=r"lamp at COM7 did not respond to 'PING' after 3 attempts"):
        await t.query("PING")


async def test_one_exchange_at_a_time_per_port():
    class Slow:
        def __init__(self) -> None:
            self.log: list[str] = []

        def handle(self, data: bytes) -> bytes:
            self.log.append(data.decode())
            return data

    sim = Slow()
    t = InProcessTransport("x", sim)
    replies = await asyncio.gather(*(t.query(f"Q{i}") for i in range(20)))
    assert replies == [f"Q{i}" for i in range(20)]


async def test_undecodable_reply_is_garbled():
    class Bad:
        def handle(self, data: bytes) -> bytes:
            return b"\xff\xfe\r"

    with pytest.raises(GarbledReply, match="undecodable bytes"):
        await InProcessTransport("lamp", Bad()).query("STB?")


async def test_serial_transport_reaches_a_served_simulator_over_a_real_socket():
    loop = asyncio.get_running_loop()
    sim = OrielLampSimulator(loop.time)
    server = await serve_simulator(sim)
    try:
        url = f"socket://127.0.0.1:{bound_port(server)}"
        driver = OrielLampDriver(SerialTransport("lamp", url, timeout=2.0))
        ident = await driver.identify()
        assert ident.model == "69907"
        await driver.set_power_preset(250)
        assert await driver.power_preset() == 250
        assert (await driver.status()).interlock_ok
        await driver.transport.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_visa_transport_through_pyvisa_sim():
    from labctl.devices.transports import VisaTransport

    t = VisaTransport("siggen", "ASRL1::INSTR", backend="@sim", read_termination="\n", write_termination="\r\n")
    assert await t.query("?IDN") == "LSG Serial #1234"
    assert await t.query("!FREQ 250.00") == "OK"
    assert await t.query("?FREQ") == "250.00"
    await t.close()
