"""IKA RCT digital / C-MAG HS 7 hotplate-stirrers over RS-232 (NAMUR commands).

Wire facts (from the IKA operating manual's NAMUR table):

* 9600 baud, 7 data bits, even parity, 1 stop bit.  Every command and every reply ends with
  CR LF (the manual's hex shows ``20 0D 20 0A``, a space before each; plain ``\\r\\n`` works too).
  The device only answers; it never speaks first.
* Queries reply ``<value> <channel>``: ``IN_NAME`` (the name), ``IN_PV_1`` (the external PT1000,
  here in the flask, °C), ``IN_PV_2`` (the plate, °C), ``IN_PV_4`` (stirrer speed, rpm),
  ``IN_SP_1`` (temperature setpoint, °C), ``IN_SP_3`` (safety temperature, °C; set on the device
  only), ``IN_SP_4`` (speed setpoint, rpm).
* Settings and switches reply nothing: ``OUT_SP_1 x`` (0-310 °C), ``OUT_SP_4 n`` (0-1500 rpm),
  ``START_1``/``STOP_1`` (heater), ``START_4``/``STOP_4`` (stirrer), ``RESET``.
* Watchdog [M]: ``OUT_WD1@m`` (m = 20-1500 s) arms watchdog 1 and echoes the time; it must be
  sent again within m seconds, or the device switches heater and stirrer off and shows Er 2.
* Quirk [D1]: the temperature setpoint may read back 0 after ``START_1``; the cure is to send
  ``OUT_SP_1`` again and check it with ``IN_SP_1`` (:meth:`IkaRct.start_heating`).

Our choices (not documented by the sources; kept identical in ``labctl.sim.instruments.ika_rct``):

* [I] Formats sent: ``OUT_SP_1 120.0`` (one decimal), ``OUT_SP_4 500`` (integer rpm),
  ``OUT_WD1@60`` (integer seconds).
* [I] Reply values are decimals (``25.3 1``, ``500.0 4``); the channel after the value must be the
  one asked for, or the reply is :class:`~labctl.devices.transports.GarbledReply`.
* [I] The watchdog echo is the armed time (``60``); any reply carrying the number m is accepted.
  Whether the device echoes at all is unconfirmed, so ``watchdog_echo=False`` sends it as a plain
  command instead.
* [I] A missing or open PT1000 reads as a value outside the probe's range: ``IN_PV_1`` outside
  ``probe_range_c`` (default -50 to 450 °C) raises :class:`IkaProbeMissing`.
* [I] While an error is latched the device answers every query with ``Er<nn>`` (``Er02``) in
  place of the value: :class:`IkaErrorLatched`, carrying the code and its meaning from
  :data:`ERROR_MEANINGS`.  ``RESET`` clears the latch (and leaves heater and stirrer off).
"""

from __future__ import annotations

import math
import re
from typing import Final

from labctl.devices.transports import GarbledReply, Transport

SETPOINT_MAX_C: Final = 310.0  # OUT_SP_1 range, from the manual
SPEED_MAX_RPM: Final = 1500  # OUT_SP_4 range, from the manual
WATCHDOG_MIN_S: Final = 20  # OUT_WD1@m range, from the manual
WATCHDOG_MAX_S: Final = 1500

#: Error codes shown by the device ([D2] from the manual's troubleshooting table; wording ours).
ERROR_MEANINGS: Final[dict[int, str]] = {
    2: "watchdog expired: the controlling computer did not re-send OUT_WD1 in time (heater and stirrer off)",
    3: "temperature inside the device too high",
    4: "stirrer motor blocked or speed off its setpoint",
    5: "no temperature rise at the external probe: the PT1000 is not in the medium",
    6: "safety circuit tripped: the plate reached the safety temperature",
}

_VALUE_RE: Final = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s+(\d+)\s*")
_ERROR_RE: Final = re.compile(r"\s*Er\s*(\d{1,2})\s*")
_INT_RE: Final = re.compile(r"\d+")


class IkaError(Exception):
    """The hotplate reported a condition that stops the requested action."""


class IkaErrorLatched(IkaError):
    """The hotplate answers ``Er<nn>``: an error is latched until ``RESET``."""

    def __init__(self, message: str, *, code: int, meaning: str) -> None:
        super().__init__(message)
        self.code = code
        self.meaning = meaning


class IkaProbeMissing(IkaError):
    """``IN_PV_1`` reads outside the PT1000's range: no probe, or an open probe cable."""

    def __init__(self, message: str, *, raw: float) -> None:
        super().__init__(message)
        self.raw = raw


class IkaSetpointNotAccepted(IkaError):
    """``IN_SP_1`` did not read back the setpoint sent, even after the bounded re-sends."""


class IkaRangeError(ValueError):
    """A setting outside the range the hotplate accepts (refused before anything is sent)."""


class IkaRct:
    """Command set of an IKA RCT digital (or C-MAG HS 7) hotplate-stirrer.

    :param transport: the port (7E1 at 9600 baud on the real device); its terminations are set
        to CR LF here.
    :param name: the hotplate's name in the bench, used in every message.
    :param watchdog_echo: the device answers ``OUT_WD1@m`` with an echo line (see above).
    :param probe_range_c: ``IN_PV_1`` readings outside this range mean "no probe".
    :param setpoint_tries: how many times :meth:`start_heating` sends ``OUT_SP_1`` in all.
    :param setpoint_tolerance_c: how close ``IN_SP_1`` must read to the setpoint sent.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        name: str = "hotplate",
        watchdog_echo: bool = True,
        probe_range_c: tuple[float, float] = (-50.0, 450.0),
        setpoint_tries: int = 3,
        setpoint_tolerance_c: float = 0.15,
    ) -> None:
        if setpoint_tries < 1:
            raise ValueError(f"{name}: setpoint_tries={setpoint_tries} must be at least 1")
        transport.write_termination = "\r\n"
        transport.read_termination = "\r\n"
        self.transport = transport
        self.name = name
        self.watchdog_echo = watchdog_echo
        self.probe_range_c = probe_range_c
        self.setpoint_tries = setpoint_tries
        self.setpoint_tolerance_c = setpoint_tolerance_c

    # -- low level ---------------------------------------------------------------------------
    def _garbled(self, command: str, reply: str, expected: str) -> GarbledReply:
        raw = reply.encode("ascii", "backslashreplace")
        return GarbledReply(
            f"{self.name} at {self.transport.address} answered {command!r} with {raw!r}, expected "
            f"{expected}; check the port settings (9600 baud, 7E1), the cable and that the device is "
            f"an IKA RCT digital / C-MAG HS 7"
        )

    def _raise_if_error(self, command: str, reply: str) -> None:
        match = _ERROR_RE.fullmatch(reply)
        if match is None:
            return
        code = int(match.group(1))
        meaning = ERROR_MEANINGS.get(code, "see the error table in the operating manual")
        raise IkaErrorLatched(
            f"{self.name}: error Er{code:02d} latched ({meaning}); answered {command!r} with {reply.strip()!r}; "
            f"find and remove the cause, then send RESET (reset()) before heating again",
            code=code,
            meaning=meaning,
        )

    async def _query_value(self, command: str, channel: int) -> float:
        reply = await self.transport.query(command)
        self._raise_if_error(command, reply)
        match = _VALUE_RE.fullmatch(reply)
        if match is None:
            raise self._garbled(command, reply, f"'<value> {channel}'")
        if int(match.group(2)) != channel:
            raise self._garbled(command, reply, f"a value on channel {channel}, not channel {match.group(2)}")
        return float(match.group(1))

    # -- identification and read-backs -------------------------------------------------------
    async def identify(self) -> str:
        """The device's name (``IN_NAME``), e.g. ``RCT digital``."""
        reply = await self.transport.query("IN_NAME")
        self._raise_if_error("IN_NAME", reply)
        name = reply.strip()
        if not name or not name.isprintable():
            raise self._garbled("IN_NAME", reply, "the device name, e.g. 'RCT digital'")
        return name

    async def flask_temperature(self) -> float:
        """The external PT1000 in the flask (``IN_PV_1``), °C; :class:`IkaProbeMissing` if none."""
        value = await self._query_value("IN_PV_1", 1)
        low, high = self.probe_range_c
        if not low <= value <= high:
            raise IkaProbeMissing(
                f"{self.name}: the flask probe reads {value:g} °C (IN_PV_1), outside the PT1000 range "
                f"{low:g} to {high:g} °C: the probe is not connected or its cable is open; plug the PT1000 "
                "into the hotplate and put its tip in the liquid",
                raw=value,
            )
        return value

    async def plate_temperature(self) -> float:
        """The heating plate (``IN_PV_2``), °C."""
        return await self._query_value("IN_PV_2", 2)

    async def speed(self) -> float:
        """The stirrer's actual speed (``IN_PV_4``), rpm."""
        return await self._query_value("IN_PV_4", 4)

    async def speed_setpoint(self) -> float:
        """The stirrer's speed setpoint (``IN_SP_4``), rpm."""
        return await self._query_value("IN_SP_4", 4)

    async def setpoint(self) -> float:
        """The temperature setpoint (``IN_SP_1``), °C."""
        return await self._query_value("IN_SP_1", 1)

    async def safety_temperature(self) -> float:
        """The safety temperature set on the device (``IN_SP_3``), °C: the plate never exceeds it."""
        return await self._query_value("IN_SP_3", 3)

    # -- settings and switches (no reply) ------------------------------------------------------
    async def set_temperature(self, celsius: float) -> None:
        """Send the temperature setpoint (``OUT_SP_1``, 0-310 °C, sent to 0.1 °C)."""
        if not (math.isfinite(celsius) and 0.0 <= celsius <= SETPOINT_MAX_C):
            raise IkaRangeError(
                f"{self.name}: setpoint {celsius:g} °C is outside the 0-{SETPOINT_MAX_C:g} °C the hotplate "
                f"accepts; give a setpoint from 0 to {SETPOINT_MAX_C:g} °C"
            )
        await self.transport.write(f"OUT_SP_1 {celsius:.1f}")

    async def start_heater(self) -> None:
        await self.transport.write("START_1")

    async def stop_heater(self) -> None:
        await self.transport.write("STOP_1")

    async def set_speed(self, rpm: float) -> None:
        """Send the stirrer speed setpoint (``OUT_SP_4``, 0-1500 rpm, sent as an integer)."""
        if not (math.isfinite(rpm) and 0 <= rpm <= SPEED_MAX_RPM):
            raise IkaRangeError(
                f"{self.name}: stirrer speed {rpm:g} rpm is outside the 0-{SPEED_MAX_RPM} rpm the hotplate "
                f"accepts; give a speed from 0 to {SPEED_MAX_RPM} rpm"
            )
        await self.transport.write(f"OUT_SP_4 {round(rpm):d}")

    async def start_stirrer(self) -> None:
        await self.transport.write("START_4")

    async def stop_stirrer(self) -> None:
        await self.transport.write("STOP_4")

    async def reset(self) -> None:
        """``RESET``: clears a latched error; heater and stirrer stay off, the watchdog is disarmed."""
        await self.transport.write("RESET")

    async def arm_watchdog(self, seconds: int) -> None:
        """Arm (or feed) watchdog 1 with ``OUT_WD1@m``; send it again within ``seconds``."""
        if isinstance(seconds, bool) or int(seconds) != seconds or not WATCHDOG_MIN_S <= seconds <= WATCHDOG_MAX_S:
            raise IkaRangeError(
                f"{self.name}: watchdog time {seconds!r} s is outside the {WATCHDOG_MIN_S}-{WATCHDOG_MAX_S} s "
                f"(whole seconds) the hotplate accepts; give a whole number of seconds in that range"
            )
        command = f"OUT_WD1@{int(seconds)}"
        if not self.watchdog_echo:
            await self.transport.write(command)
            return
        reply = await self.transport.query(command)
        self._raise_if_error(command, reply)
        if str(int(seconds)) not in _INT_RE.findall(reply):
            raise self._garbled(command, reply, f"an echo of the watchdog time {int(seconds)}")

    async def start_heating(self, celsius: float) -> None:
        """Set the temperature and switch the heater on, working around the setpoint quirk.

        Sends ``OUT_SP_1``, ``START_1``, then reads ``IN_SP_1``; while it does not read back the
        setpoint (the device may show 0 after ``START_1``), sends ``OUT_SP_1`` again, up to
        ``setpoint_tries`` sends in all.  Raises :class:`IkaSetpointNotAccepted` (heater left
        switched off) if it never reads back.
        """
        await self.set_temperature(celsius)
        await self.start_heater()
        readback = math.nan
        for attempt in range(1, self.setpoint_tries + 1):
            readback = await self.setpoint()
            if abs(readback - celsius) <= self.setpoint_tolerance_c:
                return
            if attempt < self.setpoint_tries:
                await self.set_temperature(celsius)
        await self.stop_heater()
        raise IkaSetpointNotAccepted(
            f"{self.name}: the setpoint reads {readback:g} °C (IN_SP_1) after {self.setpoint_tries} sends of "
            f"OUT_SP_1 {celsius:.1f}; the heater was switched off again; check that the hotplate is in "
            "remote mode and not locked, then retry (or RESET it)"
        )
