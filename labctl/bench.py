"""Open a bench: build and connect its devices, on the real instruments or on the simulators.

``open_bench`` is the one place that reaches ``sim`` (and only when a simulated bench is asked
for).  It also wires the GC's chromatogram processor: peak integration and the latest valid
calibration per gas (``labctl.analysis.chromatography``).  On a simulated bench with
``calibrations = "auto"`` the GC is calibrated once against the simulated instrument itself
(standards injected, peaks integrated, lines fitted) and the result is saved like any other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.analysis.chromatography import (
    DEFAULT_WINDOWS,
    Calibration,
    CalibrationError,
    fit_calibration,
    integrate_peaks,
    read_chromatogram,
)
from labctl.config import SIM, BenchConfig
from labctl.devices.gc import CalibrationRequest, PeakAmount

# Standards injected to calibrate a simulated GC (µmol in the sample loop).
SIM_STANDARDS_UMOL: Mapping[str, tuple[float, ...]] = {
    "H2": (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0),
    "O2": (0.02, 0.05, 0.1, 0.5, 1.0, 5.0),
    "N2": (0.02, 0.05, 0.1, 0.5, 1.0, 5.0),
    "CH4": (0.02, 0.05, 0.1, 0.5, 1.0, 5.0),
    "CO": (0.02, 0.05, 0.1, 0.5, 1.0, 5.0),
}


class ChromatogramProcessor:
    """Chromatogram file -> per-gas area and µmol injected, with the calibrations in force.

    ``folder`` holds the calibration in force per gas (``<GAS>.json``) and every calibration ever
    made (``history/<GAS>-<date>.json``); :meth:`fit_and_save` adds one and puts it in force.
    """

    def __init__(self, calibrations: Mapping[str, Calibration], folder: Path | None = None, method: str = "") -> None:
        self.calibrations = dict(calibrations)
        self.folder = folder
        self.method = method

    async def fit_and_save(self, request: CalibrationRequest) -> dict[str, Any]:
        """Fit a gas's standards (refusing a poor fit, with the fit in the message), save it, use it."""
        cal = fit_calibration(
            request.gas, list(request.amounts_umol), list(request.areas), method=self.method, min_r2=request.min_r2
        )
        if self.folder is not None:
            history = self.folder / "history"
            history.mkdir(parents=True, exist_ok=True)
            stem = f"{cal.gas}-{cal.created.replace(':', '')}"
            path, n = history / f"{stem}.json", 1
            while path.exists():  # two calibrations within one second
                n += 1
                path = history / f"{stem}-{n}.json"
            cal.save(path)
            cal.save(self.folder / f"{cal.gas}.json")
        self.calibrations[cal.gas] = cal
        return cal.to_dict()

    def __call__(self, path: Path) -> dict[str, PeakAmount]:
        chrom = read_chromatogram(path)
        peaks = integrate_peaks(chrom, DEFAULT_WINDOWS)
        out: dict[str, PeakAmount] = {}
        for gas, peak in peaks.items():
            cal = self.calibrations.get(gas)
            if cal is None:
                out[gas] = PeakAmount(peak.area, math.nan, False)
            elif not peak.detected:
                out[gas] = PeakAmount(peak.area, 0.0, True)
            else:
                res = cal.amount(peak.area)
                out[gas] = PeakAmount(peak.area, res.amount_umol, res.in_range)
        return out

    def describe(self) -> dict[str, Any]:
        return {gas: cal.to_dict() for gas, cal in self.calibrations.items()}


@dataclass
class Bench:
    """An open bench: its configuration, connected devices and, if simulated, its simulators."""

    config: BenchConfig
    devices: dict[str, Any]
    simulated: bool
    processor: ChromatogramProcessor
    sim: Any = None
    notes: list[str] = field(default_factory=list)

    def simulated_film(self, sample: str) -> str:
        """The simulator's film for a sample name (KeyError, naming the films it has, if none)."""
        from labctl.sim.physics.photophysics import find_material

        return str(find_material(sample).name)

    def load_sample(self, **sample: Any) -> None:
        """On a simulated bench, put the sample the plan describes into the model."""
        if self.sim is None:
            return
        gas_or_parr = "catalyst_mass_g" in sample or "catalyst_mass_mg" in sample
        if sample.get("sample") and self.sim.fluorometer is not None and not gas_or_parr:
            self.sim.load_film(str(sample["sample"]))
        if "catalyst_mass_g" in sample:
            # the make-up only: the plan's own loading step puts the fresh sample in
            self.sim.load_sample(
                catalyst_mass_g=sample["catalyst_mass_g"],
                catalyst=sample.get("catalyst"),
                co_doping_percent=sample.get("co_doping_percent"),
                donor_mol_per_l=sample.get("donor_mol_per_l"),
                ph=sample.get("ph"),
                new_sample=False,
            )
        if "catalyst_mass_mg" in sample:
            self.sim.load_cycloaddition(
                catalyst=sample.get("catalyst", "Mn:(Cd0.5Zn0.5Se)13 SS"),
                catalyst_mass_mg=sample["catalyst_mass_mg"],
                epoxide_volume_ml=sample.get("epoxide_volume_ml", 3.0),
                tbab_mg=sample.get("tbab_mg", 100.0),
                seed=self.config.simulation.seed,
                zn_fraction=sample.get("zn_fraction"),
            )

    async def close(self) -> None:
        """Close connections and stop simulators the bench started."""
        parr = self.devices.get("parr")
        if parr is not None:
            await parr.controller.close()
        if self.sim is not None:
            await self.sim.close()

    def metadata(self) -> dict[str, Any]:
        return {
            "bench": self.config.name,
            "bench_file": str(self.config.path) if self.config.path else f"packaged:{self.config.name}",
            "simulated": self.simulated,
            "limits": self.config.limits(),
            "gc_calibrations": self.processor.describe(),
        }


def calibration_folder(cfg: BenchConfig, data_dir: Path, *, simulated: bool) -> Path:
    """Where a bench's GC calibrations live: the simulated twin keeps its own, apart from the real GC's."""
    if simulated:
        return data_dir / "calibrations" / f"sim-{cfg.name}"
    folder = Path(cfg.gc.calibrations) if cfg.gc.calibrations else data_dir / "calibrations" / cfg.name
    if not folder.is_absolute():
        folder = (cfg.path.parent if cfg.path else Path.cwd()) / folder
    return folder


def load_calibrations(folder: Path, gases: tuple[str, ...]) -> dict[str, Calibration]:
    cals: dict[str, Calibration] = {}
    for gas in gases:
        path = folder / f"{gas}.json"
        if path.is_file():
            cals[gas] = Calibration.load(path)
    return cals


async def calibrate_sim_gc(gc_sim: Any, processor: ChromatogramProcessor, gases: tuple[str, ...]) -> list[str]:
    """Inject standards into the simulated GC, integrate, fit and put in force; return the gases done."""
    import asyncio

    done = []
    for gas in gases:
        amounts = SIM_STANDARDS_UMOL.get(gas)
        if not amounts:
            continue
        areas = []
        for umol in amounts:
            path = gc_sim.inject_standard(gas, umol)
            chrom = await asyncio.to_thread(read_chromatogram, path)
            areas.append(integrate_peaks(chrom, DEFAULT_WINDOWS)[gas].area)
            path.unlink()
        try:
            await processor.fit_and_save(CalibrationRequest(gas, amounts, areas, min_r2=0.999))
        except CalibrationError:
            continue
        done.append(gas)
    return done


async def open_bench(cfg: BenchConfig, *, data_dir: Path, simulate: bool | None = None) -> Bench:
    """Build and connect the bench's devices; must run on the RunEngine's loop.

    :param simulate: force the in-process simulators (a dry run of a real bench's file);
        by default the instruments addressed ``"sim"`` are simulated.
    """
    use_sim = simulate if simulate is not None else (cfg.lamp.address == SIM and cfg.gc.trigger_address == SIM)
    if use_sim:
        return await _open_sim(cfg, data_dir=data_dir)
    return await _open_real(cfg, data_dir=data_dir)


def _model_kwargs(cfg: BenchConfig, export_dir: Path) -> dict[str, Any]:
    """What the simulators need to know of a bench file."""
    return {
        "export_dir": export_dir,
        "headspace_volume_ml": cfg.reactor.headspace_volume_ml,
        "temperature_k": cfg.reactor.temperature_k,
        "loop_volume_ml": cfg.gc.loop_volume_ml,
        "loop_temperature_k": cfg.gc.loop_temperature_k,
        "loop_pressure_pa": cfg.gc.loop_pressure_pa,
        "gc_run_time_s": cfg.gc.run_time_s,
        "catalyst": cfg.simulation.catalyst,
        "leak_rate_ml_per_h": cfg.simulation.leak_rate_ml_per_h,
        "seed": cfg.simulation.seed,
        "light": "dc2200" if cfg.lamp.is_led else "oriel",
        "led_wavelength_nm": cfg.lamp.wavelength_nm or 420.0,
        "led_max_current_a": cfg.lamp.max_current_a or 1.0,
    }


async def _open_sim(cfg: BenchConfig, *, data_dir: Path) -> Bench:
    from labctl.sim.bench import build_sim_bench

    export_dir = data_dir / "sim" / cfg.name / "gc-export"
    cal_dir = calibration_folder(cfg, data_dir, simulated=True)
    sim = build_sim_bench(**_model_kwargs(cfg, export_dir))
    sim.seed = cfg.simulation.seed
    processor = ChromatogramProcessor(load_calibrations(cal_dir, cfg.gc.gases), cal_dir, sim.gc_sim.method.name)
    parr_address = (
        await sim.start_parr(volume_ml=cfg.parr.vessel_volume_ml, high_limit_pressure_bar=cfg.parr.max_pressure_bar)
        if cfg.parr
        else None
    )
    fluor_parts = None
    if cfg.fluorometer is not None:
        from labctl.devices.drivers.spectrometer import Spectrometer
        from labctl.devices.transports import InProcessTransport

        fc = cfg.fluorometer
        fsim = sim.start_fluorometer(
            seed=cfg.simulation.seed,
            echo=fc.monochromator_echo,
            pulse_rate_hz=fc.pulse_rate_hz,
            pulsed_excitation_nm=fc.pulsed_excitation_nm,
            pmt_filter_width_nm=fc.pmt_filter_width_nm,
        )
        fluor_parts = FluorometerParts(
            InProcessTransport("monochromator", fsim.monochromator, address="sim://monochromator"),
            Spectrometer("spectrometer", fsim.spectrometer, in_process=True),
            InProcessTransport("scaler", fsim.scaler, address="sim://sr430") if fc.scaler_address else None,
            fsim.factory_responsivity(),
        )
    synth_parts = None
    if cfg.synthesis:
        assert cfg.pump is not None and cfg.absorbance is not None
        from labctl.devices.drivers.spectrometer import Spectrometer
        from labctl.devices.transports import InProcessTransport

        synth = sim.start_synthesis(
            syringe_diameter_mm=cfg.pump.syringe_diameter_mm,
            syringe_volume_ml=cfg.pump.syringe_volume_ml,
            pump_address=cfg.pump.pump_address,
            path_length_cm=cfg.absorbance.path_length_cm,
        )
        synth_parts = SynthesisParts(
            InProcessTransport("pump", synth.pump, address="sim://pump", timeout=cfg.pump.timeout_s),
            InProcessTransport(
                "hotplate",
                synth.hotplate,
                address="sim://hotplate",
                write_termination="\r\n",
                read_termination="\r\n",
                timeout=cfg.hotplate.timeout_s if cfg.hotplate else 2.0,
            ),
            Spectrometer("absorbance", synth.spectrometer, in_process=True),
        )
    devices = await _build_devices(
        cfg,
        sim.lamp_transport,
        sim.gc_transport,
        processor,
        export_dir,
        pressure_gauge=sim.pressure_gauge,
        parr_address=parr_address,
        person=(sim.operator_step, sim.nmr_percent),
        fluor_parts=fluor_parts,
        synth_parts=synth_parts,
        lamp_calibration=sim.lamp_sim.calibration() if cfg.lamp.is_led else None,
    )
    notes = []
    missing = [g for g in cfg.gc.gases if g not in processor.calibrations]
    if missing:
        await calibrate_sim_gc(sim.gc_sim, processor, tuple(missing))
        notes.append(f"calibrated the simulated GC for {', '.join(missing)} (saved in {cal_dir})")
    return Bench(cfg, devices, True, processor, sim=sim, notes=notes)


@dataclass
class FluorometerParts:
    """The fluorometer's wires: monochromator line, spectrometer, scaler line, emission responsivity."""

    monochromator: Any
    spectrometer: Any
    scaler: Any
    responsivity: Any


@dataclass
class SynthesisParts:
    """The synthesis flask's wires: the pump's and the hotplate's lines, the absorbance spectrometer."""

    pump: Any
    hotplate: Any
    spectrometer: Any


def _synthesis_devices(cfg: BenchConfig, parts: SynthesisParts) -> dict[str, Any]:
    """The syringe pump, the hotplate under the flask and the in-situ absorbance probe."""
    from labctl.devices.absorbance import AbsorbanceProbe
    from labctl.devices.drivers.ika_rct import IkaRct
    from labctl.devices.drivers.ne1000 import NE1000
    from labctl.devices.hotplate import Hotplate
    from labctl.devices.syringe_pump import SyringePump

    pc, hc, ac = cfg.pump, cfg.hotplate, cfg.absorbance
    assert pc is not None and hc is not None and ac is not None
    return {
        "pump": SyringePump(
            NE1000(parts.pump, address=pc.pump_address, safe_mode=pc.safe_mode, name="pump"),
            diameter_mm=pc.syringe_diameter_mm,
            syringe_volume_ml=pc.syringe_volume_ml,
            max_rate_ml_per_h=pc.max_rate_ml_per_h,
            max_volume_ml=pc.max_volume_ml,
            watchdog_s=pc.watchdog_s,
            name="pump",
        ),
        "hotplate": Hotplate(
            IkaRct(parts.hotplate, name="hotplate"),
            max_temperature_c=hc.max_temperature_c,
            solvent=hc.solvent,
            watchdog_s=hc.watchdog_s,
            runaway_delta_c=hc.runaway_delta_c,
            name="hotplate",
        ),
        "absorbance": AbsorbanceProbe(
            parts.spectrometer,
            active_high=ac.active_high,
            integration_time_s=ac.integration_time_s,
            averages=ac.averages,
            boxcar=ac.boxcar,
            path_length_cm=ac.path_length_cm,
            name="absorbance",
        ),
    }


def read_responsivity(path: Path, wavelengths: Any) -> Any:
    """A responsivity CSV (wavelength nm, relative counts per photon) interpolated at ``wavelengths``."""
    import numpy as np

    try:
        data = np.loadtxt(path, delimiter=",", comments="#", ndmin=2)
    except (OSError, ValueError) as exc:
        raise CalibrationError(
            f"responsivity file {path}: {exc}; give a CSV of 'wavelength_nm,relative_counts_per_photon' rows"
        ) from exc
    return np.interp(wavelengths, data[:, 0], data[:, 1])


def _light_source(cfg: BenchConfig, transport: Any, calibration: Any) -> Any:
    """The bench's light: an arc lamp on an Oriel supply, or an LED head on a DC2200 driver."""
    if cfg.lamp.is_led:
        from labctl.devices.drivers.dc2200 import DC2200Driver
        from labctl.devices.led import LedSource

        return LedSource(
            DC2200Driver(transport, name="lamp"),
            wavelength_nm=float(cfg.lamp.wavelength_nm or 0.0),
            max_current_a=float(cfg.lamp.max_current_a or 0.0),
            calibration=cfg.lamp.calibration or calibration,
            name="lamp",
        )
    from labctl.devices.drivers.oriel_lamp import OrielLampDriver
    from labctl.devices.lamp import ArcLamp

    return ArcLamp(
        OrielLampDriver(transport),
        max_power_w=cfg.lamp.max_power_w,
        max_current_a=cfg.lamp.max_current_a,
        name="lamp",
    )


async def _build_devices(
    cfg: BenchConfig,
    lamp_transport: Any,
    gc_transport: Any,
    processor: ChromatogramProcessor,
    export_dir: Path,
    *,
    pressure_gauge: Any = None,
    parr_address: str | None = None,
    person: tuple[Any, Any] | None = None,
    fluor_parts: FluorometerParts | None = None,
    synth_parts: SynthesisParts | None = None,
    lamp_calibration: Any = None,
) -> dict[str, Any]:
    """The bench's devices on the given wires (real ports or simulators alike), connected.

    ``person`` is who does the hand steps and enters values: (perform step, enter value);
    the terminal by default, the simulators on a simulated bench.
    """
    from labctl.devices.drivers.numato_relay import NumatoRelay
    from labctl.devices.gc import CalibrationStore, GasChromatograph
    from labctl.devices.photoreactor import BenchClock, Photoreactor

    devices: dict[str, Any] = {
        "lamp": _light_source(cfg, lamp_transport, lamp_calibration),
        "gc": GasChromatograph(
            NumatoRelay(gc_transport),
            export_dir,
            processor,
            gases=cfg.gc.gases,
            run_time_s=cfg.gc.run_time_s,
            poll_s=cfg.gc.poll_s,
            loop_volume_ml=cfg.gc.loop_volume_ml,
            loop_temperature_k=cfg.gc.loop_temperature_k,
            loop_pressure_pa=cfg.gc.loop_pressure_pa,
            name="gc",
        ),
        "reactor": Photoreactor(
            headspace_volume_ml=cfg.reactor.headspace_volume_ml,
            temperature_k=cfg.reactor.temperature_k,
            pressure_pa=cfg.reactor.pressure_pa,
            pressure_gauge=pressure_gauge,
            name="reactor",
        ),
        "clock": BenchClock(name="clock"),
        "gc_calibrations": CalibrationStore(processor.fit_and_save, name="gc_calibrations"),
    }
    reactor = devices["reactor"]
    devices["gc"].sample_headspace_of(reactor.headspace_volume, reactor.temperature, reactor.pressure)
    from labctl.devices.operator import EnteredReading, Operator, simulated_person, terminal_person

    # a bench of simulators served elsewhere has nobody at it: its hand steps take themselves as done
    person = person or (simulated_person() if cfg.simulated else terminal_person())
    operator = Operator(*person, name="operator")
    devices["operator"] = operator
    if cfg.fluorometer is not None and fluor_parts is not None:
        from labctl.devices.drivers.cornerstone import CornerstoneDriver
        from labctl.devices.drivers.sr430 import MultichannelScaler
        from labctl.devices.fluorometer import Fluorometer, Grating

        fc = cfg.fluorometer
        devices["fluor"] = Fluorometer(
            CornerstoneDriver(fluor_parts.monochromator, echo=fc.monochromator_echo),
            fluor_parts.spectrometer,
            MultichannelScaler(fluor_parts.scaler) if fluor_parts.scaler is not None else None,
            grating=Grating(fc.grating, fc.grating_lines_per_mm, fc.grating_range_nm, fc.dispersion_nm_per_mm),
            max_slit_um=fc.max_slit_um,
            responsivity=fluor_parts.responsivity,
            pulse_rate_hz=fc.pulse_rate_hz,
            pulsed_excitation_nm=fc.pulsed_excitation_nm,
            pmt_filters_nm=fc.pmt_filters_nm,
            pmt_filter_width_nm=fc.pmt_filter_width_nm,
            name="fluor",
        )
    if cfg.parr is not None:
        from labctl.devices.drivers.parr4848 import ParrController, RegisterMap
        from labctl.devices.parr import ParrReactor

        pc = cfg.parr
        map_path = Path(pc.register_map)
        if pc.register_map and not map_path.is_absolute() and cfg.path is not None:
            map_path = cfg.path.parent / map_path
        register_map = RegisterMap.load(map_path) if pc.register_map else None
        controller = ParrController(
            "parr",
            parr_address or pc.address,
            register_map=register_map,
            device_id=pc.device_id,
            timeout=pc.timeout_s,
        )
        await controller.connect()
        devices["parr"] = ParrReactor(
            controller,
            max_temperature_c=pc.max_temperature_c,
            max_pressure_bar=pc.max_pressure_bar,
            max_heating_rate_c_per_min=pc.max_heating_rate_c_per_min,
            safe_vent_temperature_c=pc.safe_vent_temperature_c,
            automated_valves=pc.automated_valves,
            vessel_volume_ml=pc.vessel_volume_ml,
            name="parr",
        )
        devices["nmr"] = EnteredReading(
            operator.ask_value, prompt="PO conversion from the 1H NMR spectrum (%)", units="%", name="nmr"
        )
    if cfg.synthesis and synth_parts is not None:
        devices.update(_synthesis_devices(cfg, synth_parts))
    for dev in devices.values():
        await dev.connect()
    return devices


async def _open_real(cfg: BenchConfig, *, data_dir: Path) -> Bench:
    from labctl.devices.transports import SerialTransport

    base = cfg.path.parent if cfg.path else Path.cwd()
    cal_dir = calibration_folder(cfg, data_dir, simulated=False)
    processor = ChromatogramProcessor(load_calibrations(cal_dir, cfg.gc.gases), cal_dir, cfg.gc.method)
    export_dir = Path(cfg.gc.export_dir)
    if not export_dir.is_absolute():
        export_dir = base / export_dir
    fluor_parts = None
    if cfg.fluorometer is not None:
        from labctl.devices.drivers.spectrometer import Spectrometer

        fc = cfg.fluorometer
        spectrometer = Spectrometer.open_seabreeze(
            "spectrometer", None if fc.spectrometer in ("", "first") else fc.spectrometer
        )
        responsivity = None
        if fc.responsivity:
            resp_path = Path(fc.responsivity) if Path(fc.responsivity).is_absolute() else base / fc.responsivity
            responsivity = read_responsivity(resp_path, await spectrometer.wavelengths())
        fluor_parts = FluorometerParts(
            SerialTransport(
                "monochromator", fc.monochromator_address, baudrate=fc.monochromator_baudrate, timeout=fc.timeout_s
            ),
            spectrometer,
            SerialTransport("scaler", fc.scaler_address, timeout=fc.timeout_s) if fc.scaler_address else None,
            responsivity,
        )
    synth_parts = None
    if cfg.synthesis:
        assert cfg.pump is not None and cfg.hotplate is not None and cfg.absorbance is not None
        from labctl.devices.drivers.spectrometer import Spectrometer

        ac = cfg.absorbance
        synth_parts = SynthesisParts(
            SerialTransport("pump", cfg.pump.address, baudrate=cfg.pump.baudrate, timeout=cfg.pump.timeout_s),
            SerialTransport(
                "hotplate",
                cfg.hotplate.address,
                baudrate=9600,
                bytesize=7,
                parity="E",
                write_termination="\r\n",
                read_termination="\r\n",
                timeout=cfg.hotplate.timeout_s,
            ),
            Spectrometer.open_seabreeze("absorbance", None if ac.spectrometer in ("", "first") else ac.spectrometer),
        )
    if cfg.lamp.is_led:
        from labctl.devices.transports import VisaTransport

        lamp_transport: Any = VisaTransport("lamp", cfg.lamp.address, timeout=cfg.lamp.timeout_s)
    else:
        lamp_transport = SerialTransport(
            "lamp", cfg.lamp.address, baudrate=cfg.lamp.baudrate, timeout=cfg.lamp.timeout_s
        )
    devices = await _build_devices(
        cfg,
        lamp_transport,
        SerialTransport("gc", cfg.gc.trigger_address, timeout=2.0),
        processor,
        export_dir,
        fluor_parts=fluor_parts,
        synth_parts=synth_parts,
    )
    notes = []
    missing = [g for g in cfg.gc.gases if g not in processor.calibrations]
    if missing:
        notes.append(f"no GC calibration for {', '.join(missing)} in {cal_dir}; their amounts will be NaN")
    return Bench(cfg, devices, bool(cfg.simulated), processor, notes=notes)


async def serve_simulators(
    cfg: BenchConfig,
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    lamp_port: int = 0,
    gc_port: int = 0,
    parr_port: int = 0,
    pump_port: int = 0,
    hotplate_port: int = 0,
    duration: float | None = None,
    echo: Any = print,
) -> dict[str, int]:
    """Serve the bench's simulators on TCP (lamp and GC trigger as raw serial-over-TCP, the Parr
    controller as Modbus RTU over TCP); print a bench file that uses them."""
    import asyncio

    from labctl.sim.bench import build_models
    from labctl.sim.serve import bound_port, serve_simulator

    export_dir = data_dir / "sim" / f"{cfg.name}-served" / "gc-export"
    lamp_sim, _, gc_sim = build_models(**_model_kwargs(cfg, export_dir))
    lamp_srv = await serve_simulator(lamp_sim, host, lamp_port)
    gc_srv = await serve_simulator(gc_sim, host, gc_port)
    ports = {"lamp": bound_port(lamp_srv), "gc": bound_port(gc_srv)}
    parr_section = ""
    parr_server = None
    if cfg.parr is not None:
        from labctl.sim.bench import start_parr

        _vessel, _controller, parr_server = await start_parr(
            volume_ml=cfg.parr.vessel_volume_ml,
            host=host,
            port=parr_port,
            high_limit_pressure_bar=cfg.parr.max_pressure_bar,
        )
        ports["parr"] = parr_server.port
        echo(f"parr controller (Modbus RTU over TCP):   {parr_server.url}")
        parr_section = (
            f'\n[parr]\naddress = "{parr_server.url}"\nmax_temperature = "{cfg.parr.max_temperature_c:g} degC"\n'
            f'max_pressure = "{cfg.parr.max_pressure_bar:g} bar"\n'
            f'max_heating_rate = "{cfg.parr.max_heating_rate_c_per_min:g} delta_degC/min"\n'
            f"automated_valves = {'true' if cfg.parr.automated_valves else 'false'}\n"
        )
    synth_section = ""
    synth_servers: list[Any] = []
    if cfg.synthesis:
        assert cfg.pump is not None and cfg.hotplate is not None
        from labctl.sim.bench import SynthesisSim, deferred_loop_clock

        synth = SynthesisSim(
            deferred_loop_clock(),
            seed=cfg.simulation.seed,
            syringe_diameter_mm=cfg.pump.syringe_diameter_mm,
            syringe_volume_ml=cfg.pump.syringe_volume_ml,
            pump_address=cfg.pump.pump_address,
        )
        synth_servers = [
            await serve_simulator(synth.pump, host, pump_port),
            await serve_simulator(synth.hotplate, host, hotplate_port),
        ]
        ports["pump"], ports["hotplate"] = (bound_port(srv) for srv in synth_servers)
        echo(f"syringe pump (NE-1000, RS-232 bytes):   socket://{host}:{ports['pump']}")
        echo(f"hotplate (IKA RCT digital, NAMUR):       socket://{host}:{ports['hotplate']}")
        echo("the absorbance spectrometer is a USB device: it is simulated in the process that opens the bench")
        synth_section = (
            f'\n[pump]\naddress = "socket://{host}:{ports["pump"]}"\nsafe_mode = '
            f"{'true' if cfg.pump.safe_mode else 'false'}\n"
            f'syringe_volume = "{cfg.pump.syringe_volume_ml:g} mL"\n'
            f'syringe_diameter = "{cfg.pump.syringe_diameter_mm:g} mm"\n'
            f'max_rate = "{cfg.pump.max_rate_ml_per_h:g} mL/h"\n'
            f'\n[hotplate]\naddress = "socket://{host}:{ports["hotplate"]}"\nsolvent = "{cfg.hotplate.solvent}"\n'
            f'solvent_boiling_point = "{cfg.hotplate.solvent_boiling_point_c:g} degC"\n'
            f'max_temperature = "{cfg.hotplate.max_temperature_c:g} degC"\n'
            "\n# [absorbance]: the spectrometer is a USB device; give its serial number here\n"
        )
    if cfg.lamp.is_led:
        lamp_address = f"TCPIP::{host}::{ports['lamp']}::SOCKET"
        calibration = ", ".join(f'["{a:g} A", "{w * 1e3:.4g} mW"]' for a, w in lamp_sim.calibration())
        lamp_section = (
            f'[lamp]\ndriver = "thorlabs-dc2200"\naddress = "{lamp_address}"\n'
            f'wavelength = "{cfg.lamp.wavelength_nm:g} nm"\nmax_current = "{cfg.lamp.max_current_a:g} A"\n'
            f"calibration = [{calibration}]\n\n"
        )
        echo(f"lamp (Thorlabs DC2200, SCPI over VISA TCPIP socket):  {lamp_address}")
    else:
        lamp_section = (
            f'[lamp]\ndriver = "oriel-69907"\naddress = "socket://{host}:{ports["lamp"]}"\n'
            f'max_power = "{cfg.lamp.max_power_w:g} W"\n\n'
        )
        echo(f"lamp (Oriel 69907, CR-terminated ASCII): socket://{host}:{ports['lamp']}")
    echo(f"gc trigger (Numato relay box):          socket://{host}:{ports['gc']}")
    echo(f"gc export folder:                       {export_dir}")
    echo("bench file for these simulators:\n")
    echo(
        '[bench]\nname = "sim-tcp"\nsimulated = true\n\n'
        + lamp_section
        + f'[gc]\ntrigger_address = "socket://{host}:{ports["gc"]}"\nexport_dir = "{export_dir}"\n'
        f'run_time = "{cfg.gc.run_time_s:g} s"\nloop_volume = "{cfg.gc.loop_volume_ml:g} mL"\n\n'
        f'[reactor]\nheadspace_volume = "{cfg.reactor.headspace_volume_ml:g} mL"\n' + parr_section + synth_section
    )
    echo("serving; Ctrl-C to stop")
    try:
        if duration is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(duration)
    finally:
        lamp_srv.close()
        gc_srv.close()
        for srv in synth_servers:
            srv.close()
        if parr_server is not None:
            await parr_server.close()
    return ports


def simulated_response(experiment: str) -> Any:
    """The simulated bench's response for an experiment's campaign (its physics model with its
    noise, evaluated without the instruments), or None when the simulator has none for it."""
    from labctl.sim.physics.response import RESPONSES

    return RESPONSES.get(experiment)
