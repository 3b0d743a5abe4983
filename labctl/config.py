"""Bench files: which instruments a bench has, how each is reached, and its safety limits.

A bench is a TOML file.  Quantities carry units (``"500 W"``, ``"7 min"``) and are converted
once, here.  An address of ``"sim"`` means the instrument's protocol simulator in-process;
``socket://host:port`` reaches a simulator served by ``labctl sim serve`` (or a serial-over-TCP
adapter); anything else is a serial port or VISA resource.  The packaged simulated bench is
``labctl/benches/sim.toml``; ``--bench sim`` names it.

Example::

    [bench]
    name = "photoreactor-1"

    [lamp]
    driver = "oriel-69907"
    address = "/dev/ttyUSB0"
    max_power = "500 W"

    [gc]
    trigger_address = "/dev/ttyACM0"
    export_dir = "D:/GC/export"
    run_time = "7 min"
    loop_volume = "0.5 mL"
    calibrations = "calibrations/"      # one <GAS>.json per gas, made by labctl's calibration

    [reactor]
    headspace_volume = "20 mL"
    temperature = "25 degC"
    pressure = "1 atm"

    [parr]                              # optional: a Parr pressure reactor on a 4848 controller
    address = "/dev/ttyUSB1"            # Modbus RTU; "socket://host:port" (RTU over TCP), "tcp://host:port"
    register_map = "parr-map.toml"      # the site's register map; default: the shipped stand-in map
    max_temperature = "150 degC"
    max_pressure = "50 bar"             # vessel/gasket rating
    max_heating_rate = "5 delta_degC/min"
    automated_valves = false            # no relay valves: the operator charges and vents

    [pump]                              # optional, with [hotplate] and [absorbance]: the synthesis flask
    address = "/dev/ttyUSB2"            # New Era NE-1000, RS-232 8N1 (baudrate 19200 by default)
    syringe_volume = "10 mL"
    syringe_diameter = "14.5 mm"
    max_rate = "20 mL/h"

    [hotplate]
    address = "/dev/ttyUSB3"            # IKA RCT digital, NAMUR over RS-232 7E1
    solvent = "1-octadecene"
    solvent_boiling_point = "315 degC"
    max_temperature = "300 degC"        # below the solvent's boiling point and the plate's 310 degC

    [absorbance]
    spectrometer = "first"              # Ocean Insight spectrometer; the source's shutter on its Lamp Enable line
    path_length = "0.2 cm"              # a transmission dip probe: twice its gap

Every value is checked as it is read: quantities are finite and within a plausible range for
what they are (the range is in the refusal), limits are > 0 and within the instrument's own
rating (:data:`ORIEL_MAX_POWER_W`, the DC2200's 10 A, :data:`PARR_MAX_PRESSURE_BAR`,
:data:`PARR_MAX_TEMPERATURE_C`), switches are TOML booleans, ``gases`` is a list of known gas names,
the bench ``name`` is a safe folder name, and an unknown section or key (a misspelt limit) is refused.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from labctl.devices.drivers.dc2200 import DRIVER_MAX_CURRENT_A
from labctl.devices.drivers.oriel_lamp import CURRENT_MAX_A as ORIEL_MAX_CURRENT_A
from labctl.units import UnitError, to_unit

SIM = "sim"

# -- the instruments' own maxima: a bench limit above them is refused ----------------------------------
# Oriel arc-lamp supplies, rated output in W.  The drivers hold only the protocol's range (P-LIM
# takes 0-9999 W) and the simulator powers up with P-LIM = 1000 W; these ratings are our choice
# (69907 and 69911 up to 1000 W, 69920 up to 1600 W), not read from Newport's datasheets: check them
# against the manual of the unit at hand.  Current: the protocol's A-LIM range, 0-99.9 A.
ORIEL_MAX_POWER_W = {"oriel-69907": 1000.0, "oriel-69911": 1000.0, "oriel-69920": 1600.0}
# Thorlabs DC2200: 10 A, the driver's own bound (devices.drivers.dc2200.DRIVER_MAX_CURRENT_A).
# Parr vessel: a 4560-series mini reactor of 150 mL is rated 200 bar (3000 psi); for temperature we take
# 250 °C, the stand-in register map's setpoint maximum (devices/drivers/parr4848_map.toml), below the
# vessel's 350 °C with a PTFE gasket.  A site's vessel may be rated lower: its bench file says so.
PARR_MAX_PRESSURE_BAR = 200.0
PARR_MAX_TEMPERATURE_C = 250.0

KNOWN_GASES = ("H2", "O2", "N2", "CH4", "CO")
"""The gases the GC method integrates (labctl.chromatography.DEFAULT_WINDOWS: MS-5A column, Ar carrier, TCD)."""

SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
"""A bench name: it becomes a folder under the data folder (calibrations, simulator exports)."""

# The keys each section takes; anything else (a misspelt limit above all) is refused.
SECTION_KEYS: dict[str, frozenset[str]] = {
    "bench": frozenset({"name", "simulated"}),
    "lamp": frozenset(
        {"driver", "address", "max_power", "max_current", "baudrate", "timeout", "wavelength", "calibration"}
    ),
    "gc": frozenset(
        {
            "trigger_address",
            "export_dir",
            "run_time",
            "loop_volume",
            "loop_temperature",
            "loop_pressure",
            "gases",
            "calibrations",
            "poll",
            "method",
        }
    ),
    "reactor": frozenset({"headspace_volume", "temperature", "pressure", "max_temperature"}),
    "simulation": frozenset({"catalyst", "leak_rate", "seed"}),
    "parr": frozenset(
        {
            "address",
            "max_temperature",
            "max_pressure",
            "max_heating_rate",
            "automated_valves",
            "register_map",
            "device_id",
            "vessel_volume",
            "safe_vent_temperature",
            "timeout",
        }
    ),
    "fluorometer": frozenset(
        {
            "monochromator_address",
            "spectrometer",
            "grating",
            "max_slit",
            "monochromator_echo",
            "monochromator_baudrate",
            "responsivity",
            "scaler_address",
            "pulse_rate",
            "pulsed_excitation",
            "pmt_filters",
            "pmt_filter_width",
            "timeout",
        }
    ),
    "fluorometer.grating": frozenset({"number", "lines_per_mm", "range", "dispersion"}),
    "pump": frozenset(
        {
            "driver",
            "address",
            "baudrate",
            "pump_address",
            "safe_mode",
            "watchdog",
            "syringe_volume",
            "syringe_diameter",
            "max_rate",
            "max_volume",
            "timeout",
        }
    ),
    "hotplate": frozenset(
        {
            "driver",
            "address",
            "max_temperature",
            "solvent",
            "solvent_boiling_point",
            "watchdog",
            "runaway_delta",
            "timeout",
        }
    ),
    "absorbance": frozenset(
        {"spectrometer", "shutter", "active_high", "integration_time", "averages", "boxcar", "path_length"}
    ),
}
BAUDRATES = (300, 921_600)


class BenchError(ValueError):
    """A bench file that cannot be used as it is."""


ARC_DRIVERS = ("oriel-69907", "oriel-69911", "oriel-69920")
PUMP_DRIVERS = ("ne1000",)
HOTPLATE_DRIVERS = ("ika-rct-digital",)
SHUTTER_LINES = ("lamp-enable",)  # the spectrometer's Lamp Enable output drives the source's TTL shutter
IKA_MAX_SETPOINT_C = 310.0  # OUT_SP_1 takes 0-310 °C (PROTOCOLS.md, IKA RCT digital)
LED_DRIVERS = ("thorlabs-dc2200",)


@dataclass(frozen=True)
class LampConfig:
    """The light source: an Oriel arc-lamp supply (power limit) or a DC2200-driven LED head
    (current limit, wavelength, and its output calibrated with a power meter: (A, W) pairs)."""

    driver: str
    address: str
    max_power_w: float
    max_current_a: float | None = None
    baudrate: int = 9600
    timeout_s: float = 2.0
    wavelength_nm: float | None = None
    calibration: tuple[tuple[float, float], ...] = ()

    @property
    def is_led(self) -> bool:
        return self.driver in LED_DRIVERS


@dataclass(frozen=True)
class GcConfig:
    trigger_address: str
    export_dir: str
    run_time_s: float
    loop_volume_ml: float
    loop_temperature_k: float
    loop_pressure_pa: float
    gases: tuple[str, ...]
    calibrations: str
    poll_s: float = 2.0
    method: str = "external standard, TCD"  # the GC method's name, recorded with each calibration


@dataclass(frozen=True)
class ReactorConfig:
    headspace_volume_ml: float
    temperature_k: float
    pressure_pa: float
    max_temperature_k: float


@dataclass(frozen=True)
class ParrConfig:
    address: str
    max_temperature_c: float
    max_pressure_bar: float
    max_heating_rate_c_per_min: float
    automated_valves: bool = True
    register_map: str = ""
    device_id: int = 1
    vessel_volume_ml: float = 150.0
    safe_vent_temperature_c: float = 35.0
    timeout_s: float = 1.0


@dataclass(frozen=True)
class FluorometerConfig:
    """Excitation monochromator + emission spectrometer (+ optional time-resolved path)."""

    monochromator_address: str
    spectrometer: str  # "sim", a serial number, or "first"
    grating: int = 1
    grating_lines_per_mm: int = 1200
    grating_range_nm: tuple[float, float] = (180.0, 1000.0)
    dispersion_nm_per_mm: float = 6.6
    max_slit_um: float = 3100.0
    monochromator_echo: bool = True
    monochromator_baudrate: int = 9600
    responsivity: str = ""  # CSV: wavelength nm, relative counts per photon
    scaler_address: str = ""
    pulse_rate_hz: float = 100.0
    pulsed_excitation_nm: float = 355.0
    pmt_filters_nm: tuple[float, ...] = ()
    pmt_filter_width_nm: float = 40.0
    timeout_s: float = 2.0


@dataclass(frozen=True)
class PumpConfig:
    """A syringe pump (New Era NE-1000 family, RS-232) with the syringe in it and its limits."""

    address: str
    syringe_volume_ml: float
    syringe_diameter_mm: float
    max_rate_ml_per_h: float
    max_volume_ml: float
    driver: str = "ne1000"
    baudrate: int = 19200
    pump_address: int = 0
    safe_mode: bool = True
    watchdog_s: float = 30.0
    timeout_s: float = 1.0


@dataclass(frozen=True)
class HotplateConfig:
    """A heated flask on an IKA RCT digital hotplate (NAMUR over RS-232 7E1) and its limits."""

    address: str
    max_temperature_c: float
    solvent: str
    solvent_boiling_point_c: float
    driver: str = "ika-rct-digital"
    watchdog_s: float = 60.0
    runaway_delta_c: float = 80.0
    timeout_s: float = 2.0


@dataclass(frozen=True)
class AbsorbanceConfig:
    """In-situ absorbance: the array spectrometer, the source's shutter line and the dip probe."""

    spectrometer: str  # "sim", a serial number, or "first"
    shutter: str = "lamp-enable"
    active_high: bool = True
    integration_time_s: float = 0.02
    averages: int = 10
    boxcar: int = 0
    path_length_cm: float = 0.2


@dataclass(frozen=True)
class SimulationConfig:
    catalyst: str = "Co2+:(CdSe)13 network"
    leak_rate_ml_per_h: float = 0.0
    seed: int = 1


@dataclass(frozen=True)
class BenchConfig:
    name: str
    path: Path | None
    lamp: LampConfig
    gc: GcConfig
    reactor: ReactorConfig
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    parr: ParrConfig | None = None
    fluorometer: FluorometerConfig | None = None
    pump: PumpConfig | None = None
    hotplate: HotplateConfig | None = None
    absorbance: AbsorbanceConfig | None = None

    @property
    def synthesis(self) -> bool:
        """True when the bench has the synthesis flask: pump, hotplate and in-situ absorbance."""
        return self.pump is not None and self.hotplate is not None and self.absorbance is not None

    @property
    def simulated(self) -> bool:
        """True when every instrument is a simulator (in-process or served)."""
        return self._simulated

    _simulated: bool = False

    @property
    def in_process(self) -> bool:
        """True when every instrument is an in-process simulator (time can be compressed)."""
        return (
            self.lamp.address == SIM
            and self.gc.trigger_address == SIM
            and (self.parr is None or self.parr.address == SIM)
            and (self.fluorometer is None or self.fluorometer.monochromator_address == SIM)
            and (self.pump is None or self.pump.address == SIM)
            and (self.hotplate is None or self.hotplate.address == SIM)
            and (self.absorbance is None or self.absorbance.spectrometer == SIM)
        )

    def limits(self) -> dict[str, str]:
        light = (
            {"led_max_current": f"{self.lamp.max_current_a:g} A", "led_wavelength": f"{self.lamp.wavelength_nm:g} nm"}
            if self.lamp.is_led
            else {}
        )
        return {
            **light,
            "lamp_max_power": f"{self.lamp.max_power_w:g} W",
            "lamp_max_current": f"{self.lamp.max_current_a:g} A" if self.lamp.max_current_a else "supply limit",
            "reactor_max_temperature": f"{self.reactor.max_temperature_k - 273.15:g} degC",
            **(
                {
                    "parr_max_temperature": f"{self.parr.max_temperature_c:g} degC",
                    "parr_max_pressure": f"{self.parr.max_pressure_bar:g} bar",
                    "parr_max_heating_rate": f"{self.parr.max_heating_rate_c_per_min:g} degC/min",
                }
                if self.parr
                else {}
            ),
            **(
                {
                    "pump_max_rate": f"{self.pump.max_rate_ml_per_h:g} mL/h",
                    "pump_max_volume": f"{self.pump.max_volume_ml:g} mL",
                    "syringe": f"{self.pump.syringe_volume_ml:g} mL, {self.pump.syringe_diameter_mm:g} mm",
                }
                if self.pump
                else {}
            ),
            **(
                {
                    "hotplate_max_temperature": f"{self.hotplate.max_temperature_c:g} degC",
                    "solvent": f"{self.hotplate.solvent} (boils at {self.hotplate.solvent_boiling_point_c:g} degC)",
                }
                if self.hotplate
                else {}
            ),
        }


def _q(
    section: str,
    table: dict[str, Any],
    key: str,
    unit: str,
    default: str | None = None,
    *,
    within: tuple[str, str] | None = None,
    example: str | None = None,
) -> float:
    """``table[key]`` (or ``default``) in ``unit``: finite, and inside ``within`` (the plausible range) if given."""
    value = table.get(key, default)
    if value is None:
        raise BenchError(f"[{section}] needs '{key}' (a quantity in {unit}, e.g. \"{example or f'1 {unit}'}\")")
    example = example or default or (within[0] if within else None)
    try:
        return to_unit(f"[{section}] {key}", value, unit, example=example, within=within)
    except UnitError as exc:
        raise BenchError(str(exc)) from exc


def _limit(
    section: str,
    table: dict[str, Any],
    key: str,
    unit: str,
    default: str | None = None,
    *,
    maximum: float,
    rating: str,
    example: str,
    positive: bool = True,
) -> float:
    """A bench limit: finite, > 0 (if ``positive``) and at most the instrument's ``maximum`` (``rating`` says whose)."""
    value = _q(section, table, key, unit, default, example=example)
    given = table.get(key, default)
    if positive and not value > 0:
        raise BenchError(
            f"[{section}] {key}={given!r} must be > 0; give the limit in {unit}, at most {maximum:g} {unit}"
        )
    if value > maximum:
        raise BenchError(
            f"[{section}] {key}={given!r} is above {maximum:g} {unit}, {rating}; give {key} at most {maximum:g} {unit}"
        )
    return value


def _bool(section: str, table: dict[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise BenchError(
            f"[{section}] {key}={value!r} must be true or false (no quotes), e.g. {key} = {str(default).lower()}"
        )
    return value


def _int(section: str, table: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BenchError(f"[{section}] {key}={value!r} must be a whole number (no quotes), e.g. {key} = {default}")
    if not lo <= value <= hi:
        raise BenchError(
            f"[{section}] {key}={value} is outside {lo}-{hi}; give a whole number in that range, e.g. {key} = {default}"
        )
    return value


def _table(data: dict[str, Any], name: str, origin: str, *, required: bool = True) -> dict[str, Any]:
    table = data.get(name)
    if table is None and not required:
        return {}
    if not isinstance(table, dict):
        if table is None:
            raise BenchError(f"{origin}: missing [{name}] section; see the example in labctl.config")
        raise BenchError(f"{origin}: [{name}] must be a table (a [{name}] header with key = value lines)")
    _known_keys(table, name, origin)
    return table


def _known_keys(table: dict[str, Any], section: str, origin: str) -> None:
    known = SECTION_KEYS[section]
    unknown = sorted(set(table) - known)
    if unknown:
        raise BenchError(
            f"{origin}: [{section}] has no key {', '.join(repr(k) for k in unknown)}; its keys are: "
            f"{', '.join(sorted(known))} (check the spelling: an unknown key would be ignored)"
        )


def _gases(gc: dict[str, Any], origin: str) -> tuple[str, ...]:
    gases = gc.get("gases", list(KNOWN_GASES))
    if not isinstance(gases, list):
        raise BenchError(f'{origin}: [gc] gases={gases!r} must be a list of gas names; write gases = ["{gases}"]')
    if not gases:
        raise BenchError(f'{origin}: [gc] gases is empty; list the gases the GC reports, e.g. gases = ["H2", "O2"]')
    seen: set[str] = set()
    for gas in gases:
        if not isinstance(gas, str):
            raise BenchError(f'{origin}: [gc] gases: {gas!r} is not a gas name; write them as strings, e.g. ["H2"]')
        if gas not in KNOWN_GASES:
            raise BenchError(
                f"{origin}: [gc] gases: {gas!r} is not a gas this GC method reports; known: {', '.join(KNOWN_GASES)}"
            )
        if gas in seen:
            raise BenchError(f"{origin}: [gc] gases: {gas!r} is listed twice; list each gas once")
        seen.add(gas)
    return tuple(gases)


def _bench_name(bench: dict[str, Any], path: Path | None, origin: str) -> str:
    """The bench's name, a safe folder name under the data folder (calibrations, simulator exports)."""
    rule = (
        "use letters, digits, '-', '_' and '.', at most 64 characters, not starting with '.' "
        "(it names a folder under the data folder)"
    )
    if "name" not in bench:
        stem = path.stem if path else "bench"
        if SAFE_NAME.fullmatch(stem):
            return stem
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:64] or "bench"
        raise BenchError(
            f"{origin}: the bench file's name {stem!r} is not a safe bench name: {rule}; "
            f'give the bench a name in the file, e.g. [bench] name = "{slug}"'
        )
    name = bench["name"]
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.")[:64] or "bench-1"
        raise BenchError(f'{origin}: [bench] name={name!r} is not a safe bench name: {rule}; e.g. name = "{slug}"')
    return name


def parse_bench(data: dict[str, Any], *, origin: str = "<bench>", path: Path | None = None) -> BenchConfig:
    bench = _table(data, "bench", origin, required=False)
    lamp = _table(data, "lamp", origin)
    gc = _table(data, "gc", origin)
    reactor = _table(data, "reactor", origin)
    sim = _table(data, "simulation", origin, required=False)
    unknown = sorted(set(data) - {s for s in SECTION_KEYS if "." not in s})
    if unknown:
        sections = ", ".join(
            ("bench", "lamp", "gc", "reactor", "parr", "fluorometer", "pump", "hotplate", "absorbance", "simulation")
        )
        raise BenchError(
            f"{origin}: unknown section {', '.join(f'[{u}]' for u in unknown)}; the sections are: {sections}"
        )
    driver = str(lamp.get("driver", "oriel-69907"))
    if driver not in ARC_DRIVERS + LED_DRIVERS:
        raise BenchError(
            f"{origin}: [lamp] driver={driver!r} is not known; use one of {', '.join(ARC_DRIVERS + LED_DRIVERS)}"
        )
    led = driver in LED_DRIVERS
    pairs = lamp.get("calibration", [])
    if not isinstance(pairs, list) or any(not (isinstance(p, list) and len(p) == 2) for p in pairs):
        raise BenchError(
            f'{origin}: [lamp] calibration must be a list of [current, optical power] pairs, e.g. [["0.5 A", "420 mW"]]'
        )
    model = driver.removeprefix("oriel-")
    if led:
        max_power_w = _q("lamp", lamp, "max_power", "W", "0 W")
        max_current_a: float | None = _limit(
            "lamp",
            lamp,
            "max_current",
            "A",
            maximum=DRIVER_MAX_CURRENT_A,
            rating="the most the Thorlabs DC2200 driver delivers",
            example="1 A",
        )
    else:
        max_power_w = _limit(
            "lamp",
            lamp,
            "max_power",
            "W",
            maximum=ORIEL_MAX_POWER_W[driver],
            rating=f"the rating of the Oriel {model} supply",
            example="500 W",
        )
        max_current_a = (
            _limit(
                "lamp",
                lamp,
                "max_current",
                "A",
                maximum=ORIEL_MAX_CURRENT_A,
                rating="the most an Oriel supply takes (A-LIM)",
                example="25 A",
            )
            if "max_current" in lamp
            else None
        )
    calibration = tuple(
        (
            _q("lamp", {"calibration": a}, "calibration", "A", within=("0 A", f"{DRIVER_MAX_CURRENT_A:g} A")),
            _q("lamp", {"calibration": w}, "calibration", "W", within=("0 W", "100 W")),
        )
        for a, w in pairs
    )
    for amps, _ in calibration:
        if max_current_a is not None and amps > max_current_a:
            raise BenchError(
                f"{origin}: [lamp] calibration current {amps:g} A is above max_current {max_current_a:g} A; "
                "calibrate within the head's limit"
            )
    lamp_cfg = LampConfig(
        driver=driver,
        address=str(lamp.get("address", "")),
        max_power_w=max_power_w,
        max_current_a=max_current_a,
        baudrate=_int("lamp", lamp, "baudrate", 9600, *BAUDRATES),
        timeout_s=_q("lamp", lamp, "timeout", "s", "2 s", within=("0.05 s", "1 min")),
        wavelength_nm=_q("lamp", lamp, "wavelength", "nm", within=("200 nm", "1100 nm")) if led else None,
        calibration=calibration,
    )
    if led and not lamp_cfg.calibration and lamp_cfg.address != SIM:
        raise BenchError(
            f"{origin}: [lamp] an LED head needs its output calibration: measure the optical power at the "
            'reactor with a power meter at a few currents and give calibration = [["0.2 A", "170 mW"], ...]'
        )
    gc_cfg = GcConfig(
        trigger_address=str(gc.get("trigger_address", "")),
        export_dir=str(gc.get("export_dir", "gc-export")),
        run_time_s=_q("gc", gc, "run_time", "s", "7 min", within=("10 s", "4 h")),
        loop_volume_ml=_q("gc", gc, "loop_volume", "mL", "0.5 mL", within=("1 uL", "10 mL")),
        loop_temperature_k=_q("gc", gc, "loop_temperature", "K", "25 degC", within=("-20 degC", "400 degC")),
        loop_pressure_pa=_q("gc", gc, "loop_pressure", "Pa", "1 atm", within=("1 kPa", "10 bar")),
        gases=_gases(gc, origin),
        calibrations=str(gc.get("calibrations", "")),
        poll_s=_q("gc", gc, "poll", "s", "2 s", within=("0.1 s", "1 min")),
        method=str(gc.get("method", GcConfig.method)),
    )
    reactor_cfg = ReactorConfig(
        headspace_volume_ml=_q("reactor", reactor, "headspace_volume", "mL", within=("0.1 mL", "10 L")),
        temperature_k=_q("reactor", reactor, "temperature", "K", "25 degC", within=("-20 degC", "200 degC")),
        pressure_pa=_q("reactor", reactor, "pressure", "Pa", "1 atm", within=("1 kPa", "10 bar")),
        max_temperature_k=_q("reactor", reactor, "max_temperature", "K", "60 degC", within=("0 degC", "200 degC")),
    )
    sim_cfg = SimulationConfig(
        catalyst=str(sim.get("catalyst", SimulationConfig.catalyst)),
        leak_rate_ml_per_h=_q("simulation", sim, "leak_rate", "mL/h", "0 mL/h", within=("0 mL/h", "100 mL/h")),
        seed=_int("simulation", sim, "seed", 1, 0, 2**32 - 1),
    )
    parr_cfg = None
    if "parr" in data:
        parr = _table(data, "parr", origin)
        parr_cfg = ParrConfig(
            address=str(parr.get("address", "")),
            max_temperature_c=_limit(
                "parr",
                parr,
                "max_temperature",
                "degC",
                maximum=PARR_MAX_TEMPERATURE_C,
                rating="the vessel rating labctl assumes (the stand-in register map's setpoint maximum)",
                example="150 degC",
                positive=False,
            ),
            max_pressure_bar=_limit(
                "parr",
                parr,
                "max_pressure",
                "bar",
                maximum=PARR_MAX_PRESSURE_BAR,
                rating="the vessel rating of a 150 mL Parr mini reactor",
                example="30 bar",
            ),
            max_heating_rate_c_per_min=_q(
                "parr",
                parr,
                "max_heating_rate",
                "delta_degC/min",
                "5 delta_degC/min",
                within=("0.1 delta_degC/min", "100 delta_degC/min"),
            ),
            automated_valves=_bool("parr", parr, "automated_valves", True),
            register_map=str(parr.get("register_map", "")),
            device_id=_int("parr", parr, "device_id", 1, 1, 247),
            vessel_volume_ml=_q("parr", parr, "vessel_volume", "mL", "150 mL", within=("5 mL", "2 L")),
            safe_vent_temperature_c=_q(
                "parr", parr, "safe_vent_temperature", "degC", "35 degC", within=("0 degC", "60 degC")
            ),
            timeout_s=_q("parr", parr, "timeout", "s", "1 s", within=("0.05 s", "1 min")),
        )
        if not parr_cfg.address:
            raise BenchError(f'{origin}: [parr] address is empty; give a port, socket:// or tcp:// URL, or "sim"')
        if not parr_cfg.max_temperature_c > parr_cfg.safe_vent_temperature_c:
            raise BenchError(
                f"{origin}: [parr] max_temperature {parr_cfg.max_temperature_c:g} degC must be above "
                f"safe_vent_temperature {parr_cfg.safe_vent_temperature_c:g} degC (a run heats above it and cools "
                "below it before venting)"
            )
    fluor_cfg = _parse_fluorometer(_table(data, "fluorometer", origin), origin) if "fluorometer" in data else None
    pump_cfg = _parse_pump(_table(data, "pump", origin), origin) if "pump" in data else None
    hotplate_cfg = _parse_hotplate(_table(data, "hotplate", origin), origin) if "hotplate" in data else None
    absorbance_cfg = _parse_absorbance(_table(data, "absorbance", origin), origin) if "absorbance" in data else None
    synthesis = [s for s in ("pump", "hotplate", "absorbance") if s in data]
    if synthesis and len(synthesis) < 3:
        missing = [s for s in ("pump", "hotplate", "absorbance") if s not in data]
        raise BenchError(
            f"{origin}: the synthesis flask needs [pump], [hotplate] and [absorbance] together; "
            f"{', '.join(f'[{s}]' for s in missing)} missing (see labctl/benches/sim-synthesis.toml)"
        )
    addresses = [lamp_cfg.address, gc_cfg.trigger_address] + ([parr_cfg.address] if parr_cfg else [])
    if fluor_cfg is not None:
        addresses.append(fluor_cfg.monochromator_address)
    for part in (pump_cfg, hotplate_cfg):
        if part is not None:
            addresses.append(part.address)
    if absorbance_cfg is not None:
        addresses.append(absorbance_cfg.spectrometer)
    for what, addr in (
        ("[lamp] address", lamp_cfg.address),
        ("[gc] trigger_address", gc_cfg.trigger_address),
    ):
        if not addr:
            raise BenchError(f'{origin}: {what} is empty; give a port, URL, or "sim"')
    simulated = _bool("bench", bench, "simulated", all(a == SIM for a in addresses))
    cfg = BenchConfig(
        name=_bench_name(bench, path, origin),
        path=path,
        lamp=lamp_cfg,
        gc=gc_cfg,
        reactor=reactor_cfg,
        simulation=sim_cfg,
        parr=parr_cfg,
        fluorometer=fluor_cfg,
        pump=pump_cfg,
        hotplate=hotplate_cfg,
        absorbance=absorbance_cfg,
        _simulated=simulated,
    )
    return cfg


def _parse_fluorometer(f: dict[str, Any], origin: str) -> FluorometerConfig:
    grating = f.get("grating", {})
    if not isinstance(grating, dict):
        raise BenchError(f"{origin}: [fluorometer.grating] must be a table (number, lines_per_mm, range, dispersion)")
    _known_keys(grating, "fluorometer.grating", origin)
    rng = grating.get("range", ["180 nm", "1000 nm"])
    if not (isinstance(rng, list) and len(rng) == 2):
        raise BenchError(f'{origin}: [fluorometer.grating] range must be two wavelengths, e.g. ["180 nm", "1000 nm"]')
    lo, hi = (_q("fluorometer.grating", {"range": v}, "range", "nm", within=("100 nm", "3000 nm")) for v in rng)
    filters = f.get("pmt_filters", [])
    if not isinstance(filters, list):
        raise BenchError(f'{origin}: [fluorometer] pmt_filters must be a list of wavelengths, e.g. ["593 nm"]')
    cfg = FluorometerConfig(
        monochromator_address=str(f.get("monochromator_address", "")),
        spectrometer=str(f.get("spectrometer", "first")),
        grating=_int("fluorometer.grating", grating, "number", 1, 1, 16),
        grating_lines_per_mm=_int("fluorometer.grating", grating, "lines_per_mm", 1200, 1, 10_000),
        grating_range_nm=(lo, hi),
        dispersion_nm_per_mm=_q(
            "fluorometer.grating", grating, "dispersion", "nm/mm", "6.6 nm/mm", within=("0.01 nm/mm", "1000 nm/mm")
        ),
        max_slit_um=_q("fluorometer", f, "max_slit", "um", "3100 um", within=("1 um", "10 mm")),
        monochromator_echo=_bool("fluorometer", f, "monochromator_echo", True),
        monochromator_baudrate=_int("fluorometer", f, "monochromator_baudrate", 9600, *BAUDRATES),
        responsivity=str(f.get("responsivity", "")),
        scaler_address=str(f.get("scaler_address", "")),
        pulse_rate_hz=_q("fluorometer", f, "pulse_rate", "Hz", "100 Hz", within=("0.01 Hz", "10 MHz")),
        pulsed_excitation_nm=_q("fluorometer", f, "pulsed_excitation", "nm", "355 nm", within=("150 nm", "2000 nm")),
        pmt_filters_nm=tuple(
            _q("fluorometer", {"pmt_filters": v}, "pmt_filters", "nm", within=("150 nm", "2000 nm")) for v in filters
        ),
        pmt_filter_width_nm=_q("fluorometer", f, "pmt_filter_width", "nm", "40 nm", within=("0.1 nm", "500 nm")),
        timeout_s=_q("fluorometer", f, "timeout", "s", "2 s", within=("0.05 s", "1 min")),
    )
    if not cfg.monochromator_address:
        raise BenchError(f'{origin}: [fluorometer] monochromator_address is empty; give a port, URL, or "sim"')
    if not lo < hi:
        raise BenchError(f"{origin}: [fluorometer.grating] range {lo:g}-{hi:g} nm must be increasing")
    return cfg


def _parse_pump(p: dict[str, Any], origin: str) -> PumpConfig:
    from labctl.devices.drivers.ne1000 import rate_range_ml_per_h

    driver = str(p.get("driver", "ne1000"))
    if driver not in PUMP_DRIVERS:
        raise BenchError(f"{origin}: [pump] driver={driver!r} is not known; use one of {', '.join(PUMP_DRIVERS)}")
    syringe_ml = _q("pump", p, "syringe_volume", "mL", example="10 mL", within=("0.01 mL", "200 mL"))
    diameter = _q("pump", p, "syringe_diameter", "mm", example="14.5 mm", within=("0.1 mm", "50 mm"))
    lo, hi = rate_range_ml_per_h(diameter)
    max_rate = _limit(
        "pump",
        p,
        "max_rate",
        "mL/h",
        maximum=hi,
        rating=f"the most an NE-1000 gives with a {diameter:g} mm syringe",
        example="20 mL/h",
    )
    max_volume = _limit(
        "pump",
        p,
        "max_volume",
        "mL",
        f"{syringe_ml:g} mL",
        maximum=syringe_ml,
        rating=f"the syringe's {syringe_ml:g} mL",
        example=f"{syringe_ml:g} mL",
    )
    if max_rate < lo:
        raise BenchError(
            f"{origin}: [pump] max_rate={p.get('max_rate')!r} is below the {lo:.3g} mL/h an NE-1000 can give "
            f"with a {diameter:g} mm syringe; give max_rate at least {lo:.3g} mL/h or use a narrower syringe"
        )
    cfg = PumpConfig(
        address=str(p.get("address", "")),
        syringe_volume_ml=syringe_ml,
        syringe_diameter_mm=diameter,
        max_rate_ml_per_h=max_rate,
        max_volume_ml=max_volume,
        driver=driver,
        baudrate=_int("pump", p, "baudrate", 19200, *BAUDRATES),
        pump_address=_int("pump", p, "pump_address", 0, 0, 99),
        safe_mode=_bool("pump", p, "safe_mode", True),
        watchdog_s=_q("pump", p, "watchdog", "s", "30 s", within=("1 s", "255 s")),
        timeout_s=_q("pump", p, "timeout", "s", "1 s", within=("0.05 s", "1 min")),
    )
    if not cfg.address:
        raise BenchError(f'{origin}: [pump] address is empty; give a port, socket:// URL, or "sim"')
    return cfg


def _parse_hotplate(h: dict[str, Any], origin: str) -> HotplateConfig:
    driver = str(h.get("driver", "ika-rct-digital"))
    if driver not in HOTPLATE_DRIVERS:
        raise BenchError(
            f"{origin}: [hotplate] driver={driver!r} is not known; use one of {', '.join(HOTPLATE_DRIVERS)}"
        )
    boiling = _q("hotplate", h, "solvent_boiling_point", "degC", example="315 degC", within=("30 degC", "500 degC"))
    max_t = _limit(
        "hotplate",
        h,
        "max_temperature",
        "degC",
        maximum=IKA_MAX_SETPOINT_C,
        rating="the IKA RCT digital's highest setpoint",
        example="300 degC",
    )
    solvent = str(h.get("solvent", "")).strip()
    if not solvent:
        raise BenchError(
            f'{origin}: [hotplate] solvent is empty; name the flask\'s solvent, e.g. solvent = "1-octadecene"'
        )
    if not max_t < boiling:
        raise BenchError(
            f"{origin}: [hotplate] max_temperature {max_t:g} degC is not below the boiling point of {solvent} "
            f"({boiling:g} degC); give max_temperature below {boiling:g} degC (at least 10 degC below is usual)"
        )
    cfg = HotplateConfig(
        address=str(h.get("address", "")),
        max_temperature_c=max_t,
        solvent=solvent,
        solvent_boiling_point_c=boiling,
        driver=driver,
        watchdog_s=_q("hotplate", h, "watchdog", "s", "60 s", within=("20 s", "1500 s")),
        runaway_delta_c=_q(
            "hotplate", h, "runaway_delta", "delta_degC", "80 delta_degC", within=("5 delta_degC", "300 delta_degC")
        ),
        timeout_s=_q("hotplate", h, "timeout", "s", "2 s", within=("0.05 s", "1 min")),
    )
    if not cfg.address:
        raise BenchError(f'{origin}: [hotplate] address is empty; give a port, socket:// URL, or "sim"')
    return cfg


def _parse_absorbance(a: dict[str, Any], origin: str) -> AbsorbanceConfig:
    shutter = str(a.get("shutter", "lamp-enable"))
    if shutter not in SHUTTER_LINES:
        raise BenchError(
            f"{origin}: [absorbance] shutter={shutter!r} is not known; use one of {', '.join(SHUTTER_LINES)}"
        )
    return AbsorbanceConfig(
        spectrometer=str(a.get("spectrometer", "first")),
        shutter=shutter,
        active_high=_bool("absorbance", a, "active_high", True),
        integration_time_s=_q("absorbance", a, "integration_time", "s", "20 ms", within=("1 ms", "10 s")),
        averages=_int("absorbance", a, "averages", 10, 1, 1000),
        boxcar=_int("absorbance", a, "boxcar", 0, 0, 50),
        path_length_cm=_q("absorbance", a, "path_length", "cm", "0.2 cm", within=("0.01 cm", "10 cm")),
    )


def packaged_benches() -> list[str]:
    return sorted(
        p.name.removesuffix(".toml")
        for p in resources.files("labctl").joinpath("benches").iterdir()
        if p.name.endswith(".toml")
    )


def load_bench(name_or_path: str) -> BenchConfig:
    """Load a packaged bench by name (``sim``) or a bench file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise BenchError(f"bench file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        origin = str(path)
    else:
        res = resources.files("labctl").joinpath("benches", f"{name_or_path}.toml")
        if not res.is_file():
            raise BenchError(
                f"no bench named {name_or_path!r}; packaged benches: {', '.join(packaged_benches())}, "
                "or give the path of a bench .toml file"
            )
        text = res.read_text(encoding="utf-8")
        origin, path = f"packaged bench {name_or_path!r}", None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{origin}: not valid TOML: {exc}") from exc
    return parse_bench(data, origin=origin, path=path)
