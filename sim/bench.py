"""The simulated bench: protocol simulators sharing one physics model, and the wires to them.

``build_sim_bench`` makes one photoreactor physics model lit by the simulated arc lamp and a GC
simulator that samples that model's headspace, and gives the in-process transports through
which the bench loader connects the *real* drivers and devices, built exactly as for the real
bench.  A plan on this bench runs the same driver and device code as on the real bench; only
the far end of the wire differs.

Must be called on the RunEngine's loop (the simulators read that loop's clock).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labctl.chemistry import po_mmol
from labctl.devices.operator import HandStep
from labctl.devices.transports import InProcessTransport
from labctl.sim.instruments.dc2200 import DC2200Simulator
from labctl.sim.instruments.fluorometer import FluorometerSim, build_fluorometer_sim
from labctl.sim.instruments.gc import GcSimulator
from labctl.sim.instruments.ika_rct import IkaRctSimulator
from labctl.sim.instruments.ne1000 import NE1000Simulator
from labctl.sim.instruments.oriel_lamp import OrielLampSimulator
from labctl.sim.instruments.parr4848 import ParrControllerSimulator, ParrServer, ParrVessel, serve_parr
from labctl.sim.instruments.probe_optics import ProbeOptics
from labctl.sim.instruments.spectrometer import SimulatedSpectrometer
from labctl.sim.physics.cycloaddition import CycloadditionReaction, suprastructure_catalyst
from labctl.sim.physics.cycloaddition import find_catalyst as find_cyclo_catalyst
from labctl.sim.physics.photoreactor import (
    CDS_TIO2_CU,
    CO_CDSE13_NETWORK,
    REFERENCE_SAMPLE,
    PhotocatalystSpec,
    SampleConditions,
)
from labctl.sim.physics.photoreactor import Photoreactor as PhotoreactorModel

CATALYSTS: Mapping[str, PhotocatalystSpec] = {CO_CDSE13_NETWORK.name: CO_CDSE13_NETWORK, CDS_TIO2_CU.name: CDS_TIO2_CU}
# What a photoreactor loading step may say about the sample besides its catalyst and mass.
SAMPLE_CONDITION_KEYS = ("co_doping_percent", "donor_mol_per_l", "ph")
# The stream of the bench's random numbers that draws each loaded sample's activity factor (the
# model's batch factor and the GC's noise have their own).
SAMPLE_RNG_STREAM = 3


def loop_clock() -> Callable[[], float]:
    """The running loop's clock (virtual in a dry run)."""
    loop = asyncio.get_running_loop()
    return loop.time


def find_catalyst(name: str) -> PhotocatalystSpec:
    for key, spec in CATALYSTS.items():
        if name.strip().lower() in (key.lower(), spec.name.lower()):
            return spec
    raise KeyError(f"no simulated photocatalyst named {name!r}; known: {', '.join(CATALYSTS)}")


@dataclass
class SimBench:
    """The simulators and model behind a simulated bench, and the wires to its instruments."""

    lamp_sim: Any  # OrielLampSimulator or DC2200Simulator
    gc_sim: GcSimulator
    model: PhotoreactorModel
    lamp_transport: InProcessTransport
    gc_transport: InProcessTransport
    parr_vessel: ParrVessel | None = None
    parr_controller: ParrControllerSimulator | None = None
    parr_server: ParrServer | None = None
    fluorometer: FluorometerSim | None = None
    synthesis: SynthesisSim | None = None
    seed: int = 0  # the bench file's simulation seed, for a loaded cycloaddition's noise and each sample's scatter
    _recovered: bool = False  # a recycled catalyst is in the vessel: the next load keeps it
    _sample_rng: np.random.Generator | None = None  # made from ``seed`` at the first loaded sample

    def start_fluorometer(self, **kwargs: Any) -> FluorometerSim:
        """Make the fluorometer's simulators (monochromator, spectrometer, scaler) on this loop's clock."""
        self.fluorometer = build_fluorometer_sim(deferred_loop_clock(), **kwargs)
        return self.fluorometer

    def start_synthesis(
        self,
        *,
        syringe_diameter_mm: float,
        syringe_volume_ml: float,
        pump_address: int = 0,
        safety_temperature_c: float = 320.0,
        path_length_cm: float = 0.2,
    ) -> SynthesisSim:
        """Make the synthesis flask's simulators (pump, hotplate, spectrometer behind a dip probe) on the
        loop's clock; the flask holds only solvent until a plan's loading step puts a precursor in."""
        self.synthesis = SynthesisSim(
            deferred_loop_clock(),
            seed=self.seed,
            syringe_diameter_mm=syringe_diameter_mm,
            syringe_volume_ml=syringe_volume_ml,
            pump_address=pump_address,
            safety_temperature_c=safety_temperature_c,
            path_length_cm=path_length_cm,
        )
        return self.synthesis

    async def start_parr(self, *, volume_ml: float = 150.0, high_limit_pressure_bar: float | None = None) -> str:
        """Make the Parr vessel and controller and serve them over Modbus RTU on loopback; return the URL.

        ``high_limit_pressure_bar``: the controller's high-limit pressure trip (the vessel limit of the
        bench file); default the controller simulator's own."""
        self.parr_vessel, self.parr_controller, self.parr_server = await start_parr(
            volume_ml=volume_ml, high_limit_pressure_bar=high_limit_pressure_bar
        )
        return self.parr_server.url

    async def close(self) -> None:
        if self.parr_server is not None:
            await self.parr_server.close()
            self.parr_server = None

    def load_cycloaddition(
        self,
        *,
        catalyst: str,
        catalyst_mass_mg: float,
        epoxide_volume_ml: float,
        tbab_mg: float,
        seed: int = 0,
        zn_fraction: float | None = None,
    ) -> None:
        """What the operator loads into the Parr vessel before a cycloaddition run: the catalyst named
        ``catalyst``, or the Mn:(Cd1-xZnxSe)13 SS of ``zn_fraction`` when that is given."""
        if self.parr_vessel is None:
            raise RuntimeError("this simulated bench has no Parr reactor")
        spec = find_cyclo_catalyst(catalyst) if zn_fraction is None else suprastructure_catalyst(zn_fraction)
        self.parr_vessel.reaction = CycloadditionReaction(
            spec, catalyst_mass_mg, epoxide_mmol=po_mmol(epoxide_volume_ml), tbab_mg=tbab_mg, rng_seed=seed
        )
        self.parr_vessel.liquid_volume_ml = epoxide_volume_ml

    def icp_surface_metal_umol(self) -> float:
        """What the simulated ICP-AES reports for the loaded catalyst (µmol surface metal)."""
        reaction = self._reaction()
        return float(reaction.icp_surface_metal_umol())

    def _reaction(self) -> CycloadditionReaction:
        if self.parr_vessel is None or not isinstance(self.parr_vessel.reaction, CycloadditionReaction):
            raise RuntimeError("no cycloaddition loaded in the simulated Parr vessel")
        return self.parr_vessel.reaction

    async def operator_step(self, step: HandStep) -> None:
        """The simulated operator does each hand step on the simulators at once."""
        if step.key.startswith("load_sample:"):
            self.load_step(step.key.split(":", 1)[1], dict(step.sample or {}))
            return
        if self.fluorometer is not None and self.fluorometer.operator_step(step):
            return
        if self.synthesis is not None and self.synthesis.operator_step(step):
            return
        if step.key.startswith("gc_standard:") and step.value is not None:
            self.gc_sim.load_standard(step.key.split(":", 1)[1], float(step.value))
            return
        if step.key.startswith("purge:"):
            self.model.purge(step.key.split(":", 1)[1])
            return
        vessel = self.parr_vessel
        if vessel is None:
            return
        if step.key == "regulator":
            vessel.advance()
            vessel.regulator_pa = float(step.value) * 1e5
        elif step.key == "charge":
            vessel.advance()
            vessel.charge(float(step.value) * 1e5)
        elif step.key == "vent":
            vessel.advance()
            vessel.vent()
        elif step.key == "ice_bath":
            vessel.advance()
            vessel.ice_bath(True)
        elif step.key == "load":
            vessel.advance()
            vessel.ice_bath(False)
        elif step.key == "recover":
            vessel.advance()
            vessel.ice_bath(False)
            vessel.reaction = self._reaction().recycle()
            self._recovered = True

    def load_step(self, where: str, sample: dict[str, Any]) -> None:
        """A plan's loading step: the sample it names goes into the model it names
        (``photoreactor``, ``fluorometer`` or ``parr``)."""
        if where == "photoreactor":
            given = {k: float(sample[k]) if sample.get(k) is not None else None for k in SAMPLE_CONDITION_KEYS}
            self.load_sample(
                catalyst_mass_g=float(sample["catalyst_mass_g"]),
                catalyst=sample.get("catalyst"),
                co_doping_percent=given["co_doping_percent"],
                donor_mol_per_l=given["donor_mol_per_l"],
                ph=given["ph"],
            )
        elif where in ("flask", "clusters"):
            if self.synthesis is None:
                raise RuntimeError("this simulated bench has no synthesis flask")
            self.synthesis.load(where, sample)
        elif where == "fluorometer":
            if sample.get("sample"):
                self.load_film(str(sample["sample"]))
        elif where == "parr":
            if self.parr_vessel is not None:
                self.parr_vessel.advance()
                self.parr_vessel.ice_bath(False)
                # opening, cleaning and loading the vessel take longer than it takes to reach room
                # temperature: a new sample's leak check does not see the last run's cooling
                self.parr_vessel.temperature_k = self.parr_vessel.ambient_k
            if self._recovered and self.parr_vessel is not None and self.parr_vessel.reaction is not None:
                self._recovered = False  # the recovered catalyst, reloaded with fresh epoxide
                return
            self.load_cycloaddition(
                catalyst=str(sample.get("catalyst") or "Mn:(Cd0.5Zn0.5Se)13 SS"),
                catalyst_mass_mg=float(sample["catalyst_mass_mg"]),
                epoxide_volume_ml=float(sample.get("epoxide_volume_ml", 3.0)),
                tbab_mg=float(sample.get("tbab_mg", 100.0)),
                seed=self.seed,
                zn_fraction=None if sample.get("zn_fraction") is None else float(sample["zn_fraction"]),
            )
        else:
            raise ValueError(f"no simulated place to load a sample named {where!r}")

    async def nmr_percent(self, prompt: str) -> float:
        """The simulated NMR: PO conversion in %, with the spectrometer's noise."""
        return 100.0 * float(self._reaction().nmr_conversion())

    async def pressure_gauge(self) -> float:
        """The vessel's pressure transducer (Pa), read from the model."""
        return float(self.model.pressure_pa())

    def load_sample(
        self,
        *,
        catalyst_mass_g: float,
        catalyst: str | None = None,
        co_doping_percent: float | None = None,
        donor_mol_per_l: float | None = None,
        ph: float | None = None,
        new_sample: bool = True,
    ) -> None:
        """What the operator does before a run: weigh the catalyst (a simulated catalyst when the
        name is one the model knows; else the bench's own) into the donor solution at its pH, seal
        and purge with Ar.  Conditions not given are the reference sample's.

        A new sample (the plan's loading step, on the bench's loop) is fresh, purged, and scatters
        from the last one by its own activity factor, drawn from the bench's sample generator
        (seeded by the bench file's seed, so a run is repeatable and two loads differ as two
        samples do).  With ``new_sample=False`` the model only takes the sample's make-up: what a
        plan is about to load, set ahead of the run from any thread.
        """
        conditions = SampleConditions(
            catalyst_mass_g,
            REFERENCE_SAMPLE.co_doping_percent if co_doping_percent is None else co_doping_percent,
            REFERENCE_SAMPLE.donor_mol_per_l if donor_mol_per_l is None else donor_mol_per_l,
            REFERENCE_SAMPLE.ph if ph is None else ph,
        )
        spec = None
        if catalyst and any(catalyst.strip().lower() == k.lower() for k in CATALYSTS):
            spec = find_catalyst(catalyst)
        if not new_sample:
            self.model.set_sample(conditions, catalyst=spec)
            return
        if self._sample_rng is None:
            self._sample_rng = np.random.default_rng((self.seed, SAMPLE_RNG_STREAM))
        self.model.load_sample(conditions, catalyst=spec, rng=self._sample_rng)

    def load_film(self, name: str) -> None:
        """What the operator does before a PL run: a fresh film of ``name`` in the fluorometer."""
        if self.fluorometer is None:
            raise RuntimeError("this simulated bench has no fluorometer")
        self.fluorometer.load_film(name)


class SynthesisSim:
    """The synthesis flask's simulators: the syringe pump, the hotplate and the flask on it, and the
    spectrometer reading the dip probe.  The growth model in the flask is driven by the pump's
    delivered volume and the hotplate's flask temperature, both exact at any instant; the flask
    holds only solvent until a plan's loading step puts a precursor in."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        seed: int,
        syringe_diameter_mm: float,
        syringe_volume_ml: float,
        pump_address: int = 0,
        safety_temperature_c: float = 320.0,
        path_length_cm: float = 0.2,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.flask: Any = None  # a GrowthFlask or SuprastructureFlask once loaded
        self.pump = NE1000Simulator(
            clock, address=pump_address, diameter_mm=syringe_diameter_mm, syringe_volume_ml=syringe_volume_ml
        )
        self.hotplate = IkaRctSimulator(clock, safety_temperature_c=safety_temperature_c)
        self.optics = ProbeOptics(absorbance=self.absorbance, lamp_on=self.lamp_on, path_length_cm=path_length_cm)
        self.spectrometer = SimulatedSpectrometer(
            clock,
            self.optics.photons,
            model="HR2000+ES",
            serial_number="HR2B0ABS",
            wavelength_range_nm=(200.0, 1100.0),
            seed=seed + 300,
        )

    def absorbance(self, t: float, wavelengths_nm: np.ndarray) -> np.ndarray:
        """The flask's absorbance per cm at time ``t`` (none for the solvent alone)."""
        if self.flask is None:
            return np.zeros_like(wavelengths_nm, dtype=float)
        return np.asarray(self.flask.absorbance(t, wavelengths_nm), dtype=float)

    def lamp_on(self) -> bool:
        """The source's shutter, driven by the spectrometer's Lamp Enable line."""
        return bool(self.spectrometer.lamp_enabled)

    def load(self, where: str, sample: Mapping[str, Any]) -> None:
        """A plan's loading step: solvent (and the precursor in the syringe) into the flask, or the
        clusters into the hot solvent."""
        from labctl.sim.physics.growth import GrowthFlask, SuprastructureFlask

        now = self.clock()
        if where == "flask":
            precursor = sample.get("precursor")
            if not precursor:
                self.flask = None
                return
            self.pump.refill()  # the syringe of precursor is mounted full
            v0 = self.pump.infused_ml(now)
            pump = self.pump
            self.flask = GrowthFlask(
                precursor=str(precursor),
                supply_ml=lambda t: pump.infused_ml(t) - v0,
                temperature_c=self.hotplate.flask_temperature_c,
                t0=now,
                solvent_volume_ml=float(sample.get("solvent_volume_ml", 10.0)),
                seed=self.seed,
            )
        elif where == "clusters":
            self.flask = SuprastructureFlask(
                sample=str(sample["sample"]),
                temperature_c=self.hotplate.flask_temperature_c,
                t0=now,
                seed=self.seed,
            )

    def operator_step(self, step: HandStep) -> bool:
        """Hand steps at the flask (cooling is left to the hotplate simulator's own physics)."""
        return step.key == "cool"


def build_models(
    *,
    export_dir: Path,
    headspace_volume_ml: float,
    temperature_k: float,
    loop_volume_ml: float,
    loop_temperature_k: float,
    loop_pressure_pa: float,
    gc_run_time_s: float,
    catalyst: str,
    catalyst_mass_g: float = 0.010,
    leak_rate_ml_per_h: float = 0.0,
    seed: int = 1,
    lamp_power_limit_w: int = 1000,
    light: str = "oriel",
    led_wavelength_nm: float = 420.0,
    led_max_current_a: float = 1.0,
) -> tuple[Any, PhotoreactorModel, GcSimulator]:
    """The three simulators sharing one physics model (usable on any loop, or served on TCP).

    ``light`` is ``"oriel"`` (a 300 W Xe arc lamp on an Oriel supply) or ``"dc2200"`` (a
    monochromatic LED head on a Thorlabs DC2200 driver).
    """
    clock = deferred_loop_clock()
    lamp_sim: Any
    if light == "dc2200":
        lamp_sim = DC2200Simulator(clock, wavelength_nm=led_wavelength_nm, head_max_current_a=led_max_current_a)
    else:
        lamp_sim = OrielLampSimulator(clock, power_limit=lamp_power_limit_w)
    model = PhotoreactorModel(
        clock,
        lamp_sim,
        catalyst=find_catalyst(catalyst),
        catalyst_mass_g=catalyst_mass_g,
        headspace_volume_ml=headspace_volume_ml,
        temperature_k=temperature_k,
        leak_rate_ml_air_per_h=leak_rate_ml_per_h,
        rng_seed=seed,
    )

    def sampler() -> dict[str, float]:
        return model.sample(loop_volume_ml, loop_temperature_k, loop_pressure_pa)

    gc_sim = GcSimulator(clock, sampler, export_dir, run_time_s=gc_run_time_s, seed=seed + 100)
    return lamp_sim, model, gc_sim


def deferred_loop_clock() -> Callable[[], float]:
    """A clock that reads whichever asyncio loop is running when it is called."""

    def now() -> float:
        return asyncio.get_running_loop().time()

    return now


async def start_parr(
    *,
    volume_ml: float = 150.0,
    host: str = "127.0.0.1",
    port: int = 0,
    high_limit_pressure_bar: float | None = None,
) -> tuple[ParrVessel, ParrControllerSimulator, ParrServer]:
    """A Parr vessel and its controller simulator, served over Modbus RTU on TCP (on the running loop).

    ``high_limit_pressure_bar`` sets the high-limit relay's pressure trip (a front-panel setting;
    the bench loader gives the bench file's vessel limit, so a charge the plan allows does not
    trip it); None keeps the simulator's default."""
    clock = deferred_loop_clock()
    vessel = ParrVessel(clock, volume_ml=volume_ml)
    controller = ParrControllerSimulator(clock, vessel)
    if high_limit_pressure_bar is not None:
        controller.high_limit_pressure_pa = high_limit_pressure_bar * 1e5
    server = await serve_parr(controller, host=host, port=port, framing="rtu")
    return vessel, controller, server


def build_sim_bench(**model_kwargs: Any) -> SimBench:
    """The simulators of a bench and the in-process transports the real drivers use to reach them."""
    lamp_sim, model, gc_sim = build_models(**model_kwargs)
    return SimBench(
        lamp_sim=lamp_sim,
        gc_sim=gc_sim,
        model=model,
        lamp_transport=(
            InProcessTransport("lamp", lamp_sim, address="sim://lamp", write_termination="\n", read_termination="\n")
            if isinstance(lamp_sim, DC2200Simulator)
            else InProcessTransport("lamp", lamp_sim, address="sim://lamp")
        ),
        gc_transport=InProcessTransport("gc", gc_sim, address="sim://gc-trigger"),
    )
