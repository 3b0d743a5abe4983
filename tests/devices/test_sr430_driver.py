"""Byte-exact protocol tests of the SR430 multichannel-scaler driver against scripted exchanges."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from labctl.devices.drivers.sr430 import BIN_WIDTHS_S, RECORD_LENGTHS, MultichannelScaler, ScalerError
from labctl.devices.transports import GarbledReply, InProcessTransport, InstrumentNotResponding
from tests.devices.scripted import Scripted

ADDRESS = "/dev/ttyUSB5"


def make(*exchanges: tuple[bytes, bytes], poll_s: float = 0.5, **kwargs: Any) -> tuple[MultichannelScaler, Scripted]:
    script = Scripted(list(exchanges))
    transport = InProcessTransport("mcs", script, address=ADDRESS, **kwargs)
    return MultichannelScaler(transport, poll_s=poll_s), script


async def run(call: Callable[[MultichannelScaler], Awaitable[Any]], *exchanges: tuple[bytes, bytes]) -> Any:
    scaler, script = make(*exchanges)
    result = await call(scaler)
    script.assert_done()
    return result


def configure_script(bwth: int, brec: int, rscn: int, dcsl: int, dclv: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (f"BWTH {bwth}\n".encode(), b""),
        (f"BREC {brec}\n".encode(), b""),
        (f"RSCN {rscn}\n".encode(), b""),
        (f"DCSL {dcsl}\n".encode(), b""),
        (b"DCLV " + dclv + b"\n", b""),
        (b"BWTH?\n", f"{bwth}\n".encode()),
        (b"BREC?\n", f"{brec}\n".encode()),
        (b"RSCN?\n", f"{rscn}\n".encode()),
    ]


def test_tables_from_the_manual() -> None:
    assert len(BIN_WIDTHS_S) == 20
    assert BIN_WIDTHS_S[:4] == pytest.approx((5e-9, 40e-9, 80e-9, 160e-9))
    assert BIN_WIDTHS_S[-1] == pytest.approx(10.486e-3, rel=1e-4)
    assert RECORD_LENGTHS[0] == 1024 and RECORD_LENGTHS[-1] == 16384 and len(RECORD_LENGTHS) == 16


async def test_identify() -> None:
    reply = b"Stanford_Research_Systems,SR430,s/n00001,ver1.04\n"
    assert await run(lambda s: s.identify(), (b"*IDN?\n", reply)) == reply[:-1].decode()


@pytest.mark.parametrize(
    ("kwargs", "script", "result"),
    [
        (
            {"bin_width_s": 1.28e-6, "bins": 1024, "records": 1000},
            configure_script(6, 1, 1000, 1, b"-0.0100"),
            (1.28e-6, 1024),
        ),
        (
            {"bin_width_s": 5e-9, "bins": 1025, "records": 1, "discriminator_v": 0.05},
            configure_script(0, 2, 1, 0, b"0.0500"),
            (5e-9, 2048),
        ),
        (  # 20 ns does not exist: nearest by ratio is 40 ns
            {"bin_width_s": 20e-9, "bins": 16384, "records": 65535, "discriminator_v": -0.3},
            configure_script(1, 16, 65535, 1, b"-0.3000"),
            (40e-9, 16384),
        ),
        (  # 1 µs lies between 640 ns and 1.28 µs, nearer 1.28 µs by ratio
            {"bin_width_s": 1e-6, "bins": 3000, "records": 500, "discriminator_v": 0.0},
            configure_script(6, 3, 500, 0, b"0.0000"),
            (1.28e-6, 3072),
        ),
        (
            {"bin_width_s": 0.0105, "bins": 1, "records": 10},
            configure_script(19, 1, 10, 1, b"-0.0100"),
            (BIN_WIDTHS_S[19], 1024),
        ),
    ],
)
async def test_configure_rounds_to_allowed_values(
    kwargs: dict[str, Any], script: list[tuple[bytes, bytes]], result: tuple[float, int]
) -> None:
    scaler, fake = make(*script)
    width, bins = await scaler.configure(**kwargs)
    fake.assert_done()
    assert width == pytest.approx(result[0])
    assert bins == result[1]
    assert (scaler.bin_width_s, scaler.bins, scaler.records) == (width, bins, kwargs["records"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bin_width_s": 1e-9}, r"bin width 1e-09 s is outside the SR430 range 5 ns to 10\.4858 ms .*5 ns, 40 ns"),
        ({"bin_width_s": 0.1}, r"bin width 0\.1 s is outside the SR430 range"),
        ({"bin_width_s": -1e-6}, r"bin width -1e-06 s is outside"),
        ({"bin_width_s": float("nan")}, r"bin width nan is not a number"),
        ({"bins": 0}, r"bins 0 is outside 1\.\.16384: the SR430 records 1024 to 16384 bins in steps of 1024"),
        ({"bins": 20000}, r"bins 20000 is outside 1\.\.16384"),
        ({"bins": 10.5}, r"bins 10\.5 is not an integer"),
        ({"records": 0}, r"records 0 is outside 1\.\.65535"),
        ({"records": 70000}, r"records 70000 is outside 1\.\.65535 .*split a longer accumulation"),
        ({"discriminator_v": -0.5}, r"discriminator level -0\.5 V is outside -0\.3\.\.0\.3 V"),
        ({"discriminator_v": True}, r"discriminator level True is not a number"),
    ],
)
async def test_configure_refusals_send_nothing(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"bin_width_s": 1e-6, "bins": 1024, "records": 100} | kwargs
    scaler, script = make()
    with pytest.raises(ValueError, match=match):
        await scaler.configure(**args)
    script.assert_done()


async def test_configure_read_back_mismatch() -> None:
    script = configure_script(6, 1, 1000, 1, b"-0.0100")
    script[-1] = (b"RSCN?\n", b"999\n")
    scaler, fake = make(*script)
    match = r"did not take the settings: sent BWTH 6, BREC 1, RSCN 1000, read back .*RSCN 999"
    with pytest.raises(ScalerError, match=match):
        await scaler.configure(bin_width_s=1.28e-6, bins=1024, records=1000)
    fake.assert_done()


@pytest.mark.parametrize(("method", "sent"), [("clear", b"CLRS\n"), ("start", b"SSCN\n")])
async def test_scan_commands(method: str, sent: bytes) -> None:
    await run(lambda s: getattr(s, method)(), (sent, b""))


async def test_records_done_and_status() -> None:
    assert await run(lambda s: s.records_done(), (b"SCAN?\n", b"417\n")) == 417
    assert await run(lambda s: s.status(), (b"MCSS?\n", b"2\n")) == 2


async def test_wait_done_polls_status() -> None:
    scaler, script = make((b"MCSS?\n", b"1\n"), (b"MCSS?\n", b"1\n"), (b"MCSS?\n", b"2\n"), poll_s=0.5)
    await scaler.wait_done(10.0)
    script.assert_done()


async def test_wait_done_timeout_names_records() -> None:
    polls = [(b"MCSS?\n", b"1\n")] * 3
    scaler, script = make(*polls, (b"SCAN?\n", b"12\n"), (b"RSCN?\n", b"1000\n"), poll_s=0.5)
    match = r"mcs at /dev/ttyUSB5: scan not complete after 1 s: 12 of 1000 records .*TRIGGER"
    with pytest.raises(ScalerError, match=match):
        await scaler.wait_done(1.0)
    script.assert_done()


async def test_wait_done_when_not_scanning() -> None:
    scaler, script = make((b"MCSS?\n", b"0\n"), (b"SCAN?\n", b"0\n"), (b"RSCN?\n", b"10\n"))
    with pytest.raises(ScalerError, match=r"is not scanning \(0 of 10 records, MCSS 0\); call start\(\)"):
        await scaler.wait_done(5.0)
    script.assert_done()


def chunk(start: int, values: list[int]) -> tuple[bytes, bytes]:
    return (f"BINA? {start},{len(values)}\n".encode(), (",".join(map(str, values)) + "\n").encode())


async def test_histogram_reads_in_chunks_of_256() -> None:
    data = list(range(1024))
    scaler, script = make(
        (b"BREC?\n", b"1\n"), *(chunk(start, data[start : start + 256]) for start in range(0, 1024, 256))
    )
    hist = await scaler.histogram()
    script.assert_done()
    assert hist.dtype == np.int64
    assert hist.tolist() == data


@pytest.mark.parametrize("reply", [b"1,2,3\n", b"1,2,x" + b",0" * 253 + b"\n", b"\n"])
async def test_histogram_garbled_chunk(reply: bytes) -> None:
    scaler, _ = make((b"BREC?\n", b"1\n"), (b"BINA? 0,256\n", reply))
    with pytest.raises(GarbledReply, match=r"mcs at /dev/ttyUSB5 answered 'BINA\? 0,256' .*256 comma-separated"):
        await scaler.histogram()


async def test_acquire_sequence() -> None:
    script = configure_script(1, 1, 20, 1, b"-0.0100")
    script += [
        (b"CLRS\n", b""),
        (b"SSCN\n", b""),
        (b"MCSS?\n", b"1\n"),
        (b"MCSS?\n", b"2\n"),
        *(chunk(start, [1] * 256) for start in range(0, 1024, 256)),
    ]
    scaler, fake = make(*script)
    await scaler.configure(bin_width_s=40e-9, bins=1000, records=20)
    hist = await scaler.acquire(timeout_s=30.0)
    fake.assert_done()
    assert hist.sum() == 1024


@pytest.mark.parametrize(
    ("method", "sent", "reply"),
    [
        ("records_done", b"SCAN?\n", b"many\n"),
        ("status", b"MCSS?\n", b"0x02\n"),
        ("identify", b"*IDN?\n", b"\n"),
    ],
)
async def test_garbled_reply(method: str, sent: bytes, reply: bytes) -> None:
    scaler, _ = make((sent, reply))
    with pytest.raises(GarbledReply, match=r"mcs at /dev/ttyUSB5 answered"):
        await getattr(scaler, method)()


async def test_silent_instrument_not_responding() -> None:
    scaler, script = make((b"MCSS?\n", b""), (b"MCSS?\n", b""), timeout=0.05, retries=1, backoff=0.01)
    with pytest.raises(InstrumentNotResponding, match=r"mcs at /dev/ttyUSB5 .*'MCSS\?'"):
        await scaler.status()
    script.assert_done()


def test_poll_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"poll_s=0 must be > 0"):
        make(poll_s=0)
