"""NE-1000 syringe pump: the driver's bytes (basic and safe mode), the simulator, and the device in virtual time."""

from __future__ import annotations

import asyncio

import pytest

from labctl.devices.drivers.ne1000 import (
    NE1000,
    PumpAlarm,
    PumpCommandError,
    crc16_xmodem,
    format_number,
    rate_range_ml_per_h,
    rate_with_units,
    safe_frame,
    safe_frame_end,
)
from labctl.devices.syringe_pump import PumpAlarmError, PumpLimitError, SyringePump
from labctl.devices.transports import InProcessTransport
from labctl.sim.instruments.ne1000 import NE1000Simulator
from tests.devices.scripted import Scripted

STX, ETX = b"\x02", b"\x03"


def basic(text: str) -> bytes:
    return STX + text.encode() + ETX


def driver_for(exchanges: list[tuple[bytes, bytes]], **kwargs) -> tuple[NE1000, Scripted]:
    fake = Scripted(exchanges)
    return NE1000(InProcessTransport("pump", fake, timeout=0.5, retries=0), **kwargs), fake


# -- wire format ---------------------------------------------------------------------------------
def test_crc16_xmodem_check_value():
    assert crc16_xmodem(b"123456789") == 0x31C3  # the catalogue check value of CRC-16/XMODEM


@pytest.mark.parametrize(
    ("value", "text"),
    [(2.0, "2.000"), (19.13, "19.13"), (123.45, "123.5"), (1234.4, "1234"), (0.0015, "0.002"), (9999, "9999")],
)
def test_numbers_have_at_most_four_digits_and_three_decimals(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize(("value", "match"), [(10000.0, "more than 4 digits"), (0.0004, "below 0.001"), (-1, ">= 0")])
def test_numbers_the_pump_cannot_take_are_refused(value, match):
    with pytest.raises(ValueError, match=match):
        format_number(value)


def test_rates_pick_the_units_that_keep_the_most_digits():
    assert rate_with_units(2.0) == ("2.000", "MH")
    assert rate_with_units(0.05) == ("50.00", "UH")
    assert rate_with_units(0.05, "MH") == ("0.050", "MH")


def test_a_safe_frame_is_read_by_its_length_even_when_its_crc_holds_an_etx():
    data = next(
        f"00RAT{x:.3f}MH".encode()
        for x in range(1, 10000)
        if 0x03 in crc16_xmodem(f"00RAT{x:.3f}MH".encode()).to_bytes(2, "big")
    )
    frame = safe_frame(data)
    assert frame[0] == 0x02 and frame[1] == len(data) + 4 and frame[-1] == 0x03
    assert 0x03 in frame[-3:-1]
    assert safe_frame_end(frame + b"\x02\x05") == len(frame)
    assert safe_frame_end(frame[:-1]) is None


# -- driver, byte-exact ----------------------------------------------------------------------------
async def test_basic_mode_commands_and_replies_byte_exact():
    drv, fake = driver_for(
        [
            (b"00VER\r", basic("00SNE1000V3.928")),
            (b"00DIA19.13\r", basic("00S")),
            (b"00\r", basic("00S")),
            (b"00RAT2.000MH\r", basic("00S")),
            (b"00VOLML\r", basic("00S")),
            (b"00VOL10.00\r", basic("00S")),
            (b"00DIRINF\r", basic("00S")),
            (b"00RUN\r", basic("00I")),
            (b"00DIS\r", basic("00II1.234W0.000ML")),
            (b"00RAT\r", basic("00I2.000MH")),
            (b"00STP\r", basic("00S")),
        ]
    )
    assert await drv.version() == "NE1000V3.928"
    await drv.set_diameter(19.13)
    await drv.set_rate(2.0)
    await drv.set_volume(10.0)
    await drv.set_direction("INF")
    await drv.run()
    assert await drv.dispensed() == (pytest.approx(1.234), 0.0)
    assert await drv.rate() == pytest.approx(2.0)
    await drv.stop()
    fake.assert_done()


async def test_a_rate_change_while_pumping_keeps_the_units_in_use():
    drv, fake = driver_for(
        [
            (b"00\r", basic("00S")),
            (b"00RAT50.00UH\r", basic("00S")),
            (b"00\r", basic("00I")),
            (b"00RAT2.000UH\r", basic("00I")),
        ]
    )
    await drv.set_rate(0.05)
    await drv.set_rate(0.002)  # 2 µL/h: kept in UH while pumping, though MH would also do
    fake.assert_done()


@pytest.mark.parametrize(
    ("reply", "exc", "text"),
    [
        (basic("00A?S"), PumpAlarm, "pump: alarm A?S: motor stalled"),
        (basic("00A?T"), PumpAlarm, "pump: alarm A?T: safe-mode timeout"),
        (basic("00S?OOR"), PumpCommandError, "pump: 'RUN' refused: value out of range (?OOR)"),
        (basic("00S?NA"), PumpCommandError, "pump: 'RUN' refused: command not applicable now (?NA)"),
        (basic("00S?"), PumpCommandError, "pump: 'RUN' refused: unrecognised command (?)"),
    ],
)
async def test_alarms_and_errors_are_raised_with_their_meaning(reply, exc, text):
    drv, _ = driver_for([(b"00RUN\r", reply)])
    with pytest.raises(exc) as info:
        await drv.run()
    assert str(info.value).startswith(text)


async def test_safe_mode_frames_byte_exact():
    drv, fake = driver_for(
        [
            (b"00SAF30\r", basic("00S")),
            (safe_frame(b"00DIS"), safe_frame(b"00II0.500W0.000ML")),
        ]
    )
    await drv.enable_safe_mode(30)
    assert (await drv.dispensed())[0] == pytest.approx(0.5)
    fake.assert_done()


async def test_a_safe_frame_with_a_bad_crc_is_refused():
    bad = bytearray(safe_frame(b"00S"))
    bad[-2] ^= 0xFF
    drv, _ = driver_for([(b"00SAF10\r", basic("00S")), (safe_frame(b"00"), bytes(bad))])
    await drv.enable_safe_mode(10)
    with pytest.raises(Exception, match="bad CRC"):
        await drv.status()


# -- simulator ---------------------------------------------------------------------------------------
def make_sim() -> NE1000Simulator:
    loop = asyncio.get_running_loop()
    return NE1000Simulator(loop.time, diameter_mm=19.13, syringe_volume_ml=20.0)


async def test_the_simulator_answers_the_drivers_bytes_and_pumps_in_time():
    sim = make_sim()
    assert sim.handle(b"00VER\r") == basic("00SNE1000V3.928")
    assert sim.handle(b"00RAT2.000MH\r") == basic("00S")
    assert sim.handle(b"00VOL1.000\r") == basic("00S")
    assert sim.handle(b"00RUN\r") == basic("00I")
    t0 = asyncio.get_running_loop().time()
    await asyncio.sleep(900.0)  # 15 min at 2 mL/h
    assert sim.handle(b"00DIS\r") == basic("00II0.500W0.000ML")
    assert sim.handle(b"00RAT4.000MH\r") == basic("00I")  # rate change while pumping
    await asyncio.sleep(3600.0)
    assert sim.handle(b"00\r") == basic("00S")  # stopped by itself at 1 mL
    assert sim.infused_ml(t0 + 900 + 450) == pytest.approx(1.0)
    assert sim.infused_ml(t0 + 900 + 449) < 1.0
    assert sim.handle(b"00RAT2.000UM\r") == basic("00S")
    assert sim.handle(b"00RAT9999MH\r") == basic("00S?OOR")


async def test_a_unit_change_while_pumping_is_not_applicable():
    sim = make_sim()
    sim.handle(b"00RAT2.000MH\r")
    sim.handle(b"00RUN\r")
    assert sim.handle(b"00RAT30.00UM\r") == basic("00I?NA")


async def test_the_safe_mode_watchdog_stops_a_pump_nobody_talks_to():
    sim = make_sim()
    sim.handle(b"00RAT2.000MH\r")
    sim.handle(b"00VOL10.00\r")
    assert sim.handle(b"00SAF20\r") == basic("00S")
    assert sim.handle(safe_frame(b"00RUN")) == safe_frame(b"00I")
    t0 = asyncio.get_running_loop().time()
    for _ in range(5):  # fed every 10 s: pumping goes on
        await asyncio.sleep(10.0)
        assert sim.handle(safe_frame(b"00")) == safe_frame(b"00I")
    await asyncio.sleep(25.0)  # then silence for more than 20 s
    assert sim.handle(safe_frame(b"00DIS")) == safe_frame(b"00A?T")
    assert sim.handle(safe_frame(b"00")) == safe_frame(b"00S")
    stopped = t0 + 50.0 + 20.0
    assert sim.infused_ml(stopped + 100) == pytest.approx(2.0 * stopped / 3600 - 2.0 * t0 / 3600)
    assert sim.handle(b"00DIS\r") == safe_frame(b"00S?COM")  # basic mode is refused in safe mode


async def test_a_stall_stops_the_pump_and_the_next_reply_is_the_alarm():
    sim = make_sim()
    sim.handle(b"00RAT60.00MH\r")
    sim.handle(b"00VOL10.00\r")
    sim.stall(at_ml=0.5)
    sim.handle(b"00RUN\r")
    await asyncio.sleep(60.0)
    assert sim.handle(b"00STP\r") == basic("00A?S")  # STP not executed: already stopped
    assert sim.handle(b"00DIS\r") == basic("00SI0.500W0.000ML")


# -- device ------------------------------------------------------------------------------------------
async def make_pump(**kwargs) -> tuple[SyringePump, NE1000Simulator]:
    sim = make_sim()
    drv = NE1000(InProcessTransport("pump", sim, timeout=1.0), safe_mode=True)
    pump = SyringePump(
        drv,
        diameter_mm=19.13,
        syringe_volume_ml=20.0,
        max_rate_ml_per_h=60.0,
        max_volume_ml=20.0,
        watchdog_s=30.0,
        **kwargs,
    )
    await pump.connect()
    return pump, sim


async def test_an_infusion_completes_when_the_volume_is_delivered_read_back():
    pump, sim = await make_pump()
    await pump.rate.set(2.0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await pump.infused.set(1.0)
    assert loop.time() - t0 == pytest.approx(1800.0, abs=2 * pump.poll_s + 0.1)
    assert await pump.dispensed.get_value() == pytest.approx(1.0)
    assert sim.safe_timeout_s == 30 and not pump.live


async def test_the_whole_syringe_as_the_target_ends_at_the_target_not_in_an_alarm():
    # found in a campaign: 20 mL asked of a 20 mL syringe ended "A?S ... 20.000 of 20 mL delivered"
    pump, sim = await make_pump()
    await pump.rate.set(60.0)
    await pump.infused.set(20.0)
    assert await pump.dispensed.get_value() == pytest.approx(20.0)
    assert sim.handle(safe_frame(b"00")) == safe_frame(b"00S")


async def test_a_stall_mid_injection_fails_with_the_alarm_and_the_volume_delivered():
    pump, sim = await make_pump()
    await pump.rate.set(6.0)
    sim.stall(at_ml=0.3)
    with pytest.raises(PumpAlarmError) as info:
        await pump.infused.set(1.0)
    assert str(info.value) == (
        "pump: alarm A?S: motor stalled (the plunger is blocked or the syringe is empty); 0.300 of 1 mL delivered"
    )
    assert info.value.delivered_ml == pytest.approx(0.3) and info.value.code == "S"


async def test_a_rate_the_syringe_cannot_give_is_refused_with_its_range():
    pump, _ = await make_pump()
    lo, _ = rate_range_ml_per_h(19.13)
    with pytest.raises(PumpLimitError) as info:
        pump.check_rate(100.0)
    assert str(info.value) == (
        f"pump: rate 100 mL/h is outside {lo:.3g}-60 mL/h, what this pump gives with a 19.13 mm syringe within the "
        "bench limit of 60 mL/h; give a rate in that range, or mount a syringe of another diameter"
    )
    with pytest.raises(PumpLimitError, match=r"volume 25 mL is outside 0-20 mL"):
        await pump.infused.set(25.0)


async def test_a_pump_labctl_stops_talking_to_stops_by_itself():
    pump, sim = await make_pump()
    await pump.rate.set(2.0)
    status = pump.infused.set(5.0)
    await asyncio.sleep(60.0)
    status.task.cancel()  # labctl dies: nothing polls the pump any more
    await asyncio.sleep(0)
    died = asyncio.get_running_loop().time()
    await asyncio.sleep(120.0)
    assert not sim.running
    assert sim.infused_ml() == pytest.approx(sim.infused_ml(died + 30.0), abs=1e-9)
    assert sim.infused_ml() < 2.0 * (died + 31.0 - (died - 60.0)) / 3600


async def test_make_safe_stops_the_pump():
    pump, sim = await make_pump()
    await pump.rate.set(2.0)
    status = pump.infused.set(5.0)
    await asyncio.sleep(10.0)
    await pump.running.set(False)
    assert not sim.running and not await pump.pumping()
    with pytest.raises(PumpAlarmError, match=r"the pump stopped \(stopped\)"):
        await status
