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
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from labctl.units import UnitError, to_unit

SIM = "sim"


class BenchError(ValueError):
    """A bench file that cannot be used as it is."""


ARC_DRIVERS = ("oriel-69907", "oriel-69911", "oriel-69920")
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
        }


def _q(section: str, table: dict[str, Any], key: str, unit: str, default: str | None = None) -> float:
    value = table.get(key, default)
    if value is None:
        raise BenchError(f"[{section}] needs '{key}' (a quantity in {unit}, e.g. \"1 {unit}\")")
    try:
        return to_unit(f"[{section}] {key}", value, unit)
    except UnitError as exc:
        raise BenchError(str(exc)) from exc


def _table(data: dict[str, Any], name: str, origin: str) -> dict[str, Any]:
    table = data.get(name)
    if not isinstance(table, dict):
        raise BenchError(f"{origin}: missing [{name}] section; see the example in labctl.config")
    return table


def parse_bench(data: dict[str, Any], *, origin: str = "<bench>", path: Path | None = None) -> BenchConfig:
    bench = data.get("bench", {})
    lamp = _table(data, "lamp", origin)
    gc = _table(data, "gc", origin)
    reactor = _table(data, "reactor", origin)
    sim = data.get("simulation", {})
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
    lamp_cfg = LampConfig(
        driver=driver,
        address=str(lamp.get("address", "")),
        max_power_w=_q("lamp", lamp, "max_power", "W", "0 W" if led else None),
        max_current_a=_q("lamp", lamp, "max_current", "A") if "max_current" in lamp or led else None,
        baudrate=int(lamp.get("baudrate", 9600)),
        timeout_s=_q("lamp", lamp, "timeout", "s", "2 s"),
        wavelength_nm=_q("lamp", lamp, "wavelength", "nm") if led else None,
        calibration=tuple(
            (_q("lamp", {"calibration": a}, "calibration", "A"), _q("lamp", {"calibration": w}, "calibration", "W"))
            for a, w in pairs
        ),
    )
    if led and not lamp_cfg.calibration and lamp_cfg.address != SIM:
        raise BenchError(
            f"{origin}: [lamp] an LED head needs its output calibration: measure the optical power at the "
            'reactor with a power meter at a few currents and give calibration = [["0.2 A", "170 mW"], ...]'
        )
    gc_cfg = GcConfig(
        trigger_address=str(gc.get("trigger_address", "")),
        export_dir=str(gc.get("export_dir", "gc-export")),
        run_time_s=_q("gc", gc, "run_time", "s", "7 min"),
        loop_volume_ml=_q("gc", gc, "loop_volume", "mL", "0.5 mL"),
        loop_temperature_k=_q("gc", gc, "loop_temperature", "K", "25 degC"),
        loop_pressure_pa=_q("gc", gc, "loop_pressure", "Pa", "1 atm"),
        gases=tuple(gc.get("gases", ("H2", "O2", "N2", "CH4", "CO"))),
        calibrations=str(gc.get("calibrations", "")),
        poll_s=_q("gc", gc, "poll", "s", "2 s"),
        method=str(gc.get("method", GcConfig.method)),
    )
    reactor_cfg = ReactorConfig(
        headspace_volume_ml=_q("reactor", reactor, "headspace_volume", "mL"),
        temperature_k=_q("reactor", reactor, "temperature", "K", "25 degC"),
        pressure_pa=_q("reactor", reactor, "pressure", "Pa", "1 atm"),
        max_temperature_k=_q("reactor", reactor, "max_temperature", "K", "60 degC"),
    )
    sim_cfg = SimulationConfig(
        catalyst=str(sim.get("catalyst", SimulationConfig.catalyst)),
        leak_rate_ml_per_h=_q("simulation", sim, "leak_rate", "mL/h", "0 mL/h"),
        seed=int(sim.get("seed", 1)),
    )
    parr_cfg = None
    if "parr" in data:
        parr = data["parr"]
        parr_cfg = ParrConfig(
            address=str(parr.get("address", "")),
            max_temperature_c=_q("parr", parr, "max_temperature", "degC"),
            max_pressure_bar=_q("parr", parr, "max_pressure", "bar"),
            max_heating_rate_c_per_min=_q("parr", parr, "max_heating_rate", "delta_degC/min", "5 delta_degC/min"),
            automated_valves=bool(parr.get("automated_valves", True)),
            register_map=str(parr.get("register_map", "")),
            device_id=int(parr.get("device_id", 1)),
            vessel_volume_ml=_q("parr", parr, "vessel_volume", "mL", "150 mL"),
            safe_vent_temperature_c=_q("parr", parr, "safe_vent_temperature", "degC", "35 degC"),
            timeout_s=_q("parr", parr, "timeout", "s", "1 s"),
        )
        if not parr_cfg.address:
            raise BenchError(f'{origin}: [parr] address is empty; give a port, socket:// or tcp:// URL, or "sim"')
    fluor_cfg = _parse_fluorometer(data["fluorometer"], origin) if "fluorometer" in data else None
    addresses = [lamp_cfg.address, gc_cfg.trigger_address] + ([parr_cfg.address] if parr_cfg else [])
    if fluor_cfg is not None:
        addresses.append(fluor_cfg.monochromator_address)
    for what, addr in (
        ("[lamp] address", lamp_cfg.address),
        ("[gc] trigger_address", gc_cfg.trigger_address),
    ):
        if not addr:
            raise BenchError(f'{origin}: {what} is empty; give a port, URL, or "sim"')
    simulated = bool(bench.get("simulated", all(a == SIM for a in addresses)))
    cfg = BenchConfig(
        name=str(bench.get("name", path.stem if path else "bench")),
        path=path,
        lamp=lamp_cfg,
        gc=gc_cfg,
        reactor=reactor_cfg,
        simulation=sim_cfg,
        parr=parr_cfg,
        fluorometer=fluor_cfg,
        _simulated=simulated,
    )
    return cfg


def _parse_fluorometer(f: dict[str, Any], origin: str) -> FluorometerConfig:
    grating = f.get("grating", {})
    if not isinstance(grating, dict):
        raise BenchError(f"{origin}: [fluorometer.grating] must be a table (number, lines_per_mm, range, dispersion)")
    rng = grating.get("range", ["180 nm", "1000 nm"])
    if not (isinstance(rng, list) and len(rng) == 2):
        raise BenchError(f'{origin}: [fluorometer.grating] range must be two wavelengths, e.g. ["180 nm", "1000 nm"]')
    lo, hi = (_q("fluorometer.grating", {"range": v}, "range", "nm") for v in rng)
    cfg = FluorometerConfig(
        monochromator_address=str(f.get("monochromator_address", "")),
        spectrometer=str(f.get("spectrometer", "first")),
        grating=int(grating.get("number", 1)),
        grating_lines_per_mm=int(grating.get("lines_per_mm", 1200)),
        grating_range_nm=(lo, hi),
        dispersion_nm_per_mm=_q("fluorometer.grating", grating, "dispersion", "nm/mm", "6.6 nm/mm"),
        max_slit_um=_q("fluorometer", f, "max_slit", "um", "3100 um"),
        monochromator_echo=bool(f.get("monochromator_echo", True)),
        monochromator_baudrate=int(f.get("monochromator_baudrate", 9600)),
        responsivity=str(f.get("responsivity", "")),
        scaler_address=str(f.get("scaler_address", "")),
        pulse_rate_hz=_q("fluorometer", f, "pulse_rate", "Hz", "100 Hz"),
        pulsed_excitation_nm=_q("fluorometer", f, "pulsed_excitation", "nm", "355 nm"),
        pmt_filters_nm=tuple(
            _q("fluorometer", {"pmt_filters": v}, "pmt_filters", "nm") for v in f.get("pmt_filters", [])
        ),
        pmt_filter_width_nm=_q("fluorometer", f, "pmt_filter_width", "nm", "40 nm"),
        timeout_s=_q("fluorometer", f, "timeout", "s", "2 s"),
    )
    if not cfg.monochromator_address:
        raise BenchError(f'{origin}: [fluorometer] monochromator_address is empty; give a port, URL, or "sim"')
    if not lo < hi:
        raise BenchError(f"{origin}: [fluorometer.grating] range {lo:g}-{hi:g} nm must be increasing")
    return cfg


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
