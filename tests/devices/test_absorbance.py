"""The absorbance probe on the simulated spectrometer in virtual time, lit by a shuttered source of known absorbance."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
import pytest
from bluesky import RunEngine

from labctl.devices.absorbance import (
    AbsorbanceError,
    AbsorbanceProbe,
    AbsorbanceSettingError,
    ReferenceRefused,
    compute_absorbance,
)
from labctl.devices.drivers.spectrometer import Spectrometer, SpectrometerError
from labctl.sim.instruments.spectrometer import BLACK_PIXELS, SimulatedSpectrometer, responsivity

FULL = 65535.0
BASELINE = 1500.0  # the simulator's electronic offset
DARK_PER_S = 40.0  # the simulator's dark current, counts/s
READ_VAR = 12.0**2 + 1.0 / 12.0  # read noise and rounding to whole counts
# counts/s above dark at the lamp's peak: in the default 0.02 s the reference's peak lands at 77.5 % of full scale
RATE = (0.775 * FULL - BASELINE - DARK_PER_S * 0.02) / 0.02
WEAK = 0.01 * FULL


def lamp_shape(wl: np.ndarray) -> np.ndarray:
    """Detected counts per second (relative) of a deuterium-halogen source through the solvent."""
    halogen = np.exp(-0.5 * ((wl - 520.0) / 100.0) ** 2)
    deuterium = 0.6 * np.exp(-0.5 * ((wl - 250.0) / 35.0) ** 2)
    return halogen + deuterium


def band(wl: np.ndarray) -> np.ndarray:
    """The sample's true absorbance: one Gaussian band, 0.9 OD at 420 nm."""
    return 0.9 * np.exp(-0.5 * ((wl - 420.0) / 30.0) ** 2)


class Relay:
    """A relay driving the source's shutter: ``await relay(open)``; logs every change with its time."""

    def __init__(self) -> None:
        self.calls: list[bool] = []
        self.changes: list[tuple[float, bool]] = []
        self.closed = True

    async def __call__(self, open_: bool) -> None:
        self.calls.append(open_)
        if open_ == self.closed:
            self.changes.append((asyncio.get_running_loop().time(), open_))
        self.closed = not open_


class FlaskLight:
    """The light reaching the spectrometer: the source through its shutter, the flask and the probe.

    The shutter follows the simulator's Lamp Enable line (open when the line is at ``active_high``)
    or a :class:`Relay`; the light is integrated over the part of each window it was open.
    """

    def __init__(self, *, active_high: bool = True) -> None:
        self.sim: SimulatedSpectrometer | None = None
        self.relay: Relay | None = None
        self.active_high = active_high
        self.scale = 1.0
        self.lamp_on = True
        self.sample: Callable[[np.ndarray], np.ndarray] | None = None  # the sample's A(λ); None: solvent
        self.spike_nm: tuple[float, float] | None = None  # a lamp line far above full scale
        self.emission_nm: tuple[float, float] | None = None  # the sample's bright emission (under the probe light)
        self._peak: float | None = None

    def _timeline(self) -> tuple[bool, list[tuple[float, bool]]]:
        if self.relay is not None:
            return False, self.relay.changes
        assert self.sim is not None
        return (not self.active_high), [(t, on == self.active_high) for t, on in self.sim.lamp_changes]

    def open_seconds(self, t0: float, t1: float) -> float:
        state, changes = self._timeline()
        total, t = 0.0, t0
        for tc, opened in changes:
            if tc <= t0:
                state = opened
                continue
            if tc >= t1:
                break
            if state:
                total += tc - t
            state, t = opened, tc
        if state:
            total += t1 - t
        return total

    def counts_per_s(self, wl: np.ndarray) -> np.ndarray:
        """Mean detected counts per second above dark of each pixel with the shutter open."""
        if self._peak is None:
            self._peak = float(lamp_shape(wl).max())
        rate = RATE * self.scale * lamp_shape(wl) / self._peak * (1.0 if self.lamp_on else 0.0)
        if self.sample is not None:
            rate = rate * 10 ** (-self.sample(wl))
        return rate

    def __call__(self, t0: float, t1: float, wl: np.ndarray) -> np.ndarray:
        counts = self.counts_per_s(wl)
        for window in (self.spike_nm, self.emission_nm if self.sample is not None else None):
            if window is not None:
                counts = counts + np.where((wl >= window[0]) & (wl <= window[1]), 100 * FULL / 0.001, 0.0)
        return counts * self.open_seconds(t0, t1) / responsivity(wl)


@dataclass
class Rig:
    probe: AbsorbanceProbe
    sim: SimulatedSpectrometer
    light: FlaskLight


async def make_rig(
    *,
    light_active_high: bool | None = None,
    relay: Relay | None = None,
    no_lamp_enable: bool = False,
    seed: int = 3,
    **kwargs: Any,
) -> Rig:
    loop = asyncio.get_running_loop()
    active_high = kwargs.get("active_high", True)
    light = FlaskLight(active_high=active_high if light_active_high is None else light_active_high)
    sim = SimulatedSpectrometer(loop.time, light, seed=seed)
    light.sim, light.relay = sim, relay
    if no_lamp_enable:
        sim.f.strobe_lamp = None
    spec = Spectrometer("spectrometer", sim, in_process=True)
    probe = AbsorbanceProbe(spec, shutter=relay, **kwargs)
    await probe.connect()
    return Rig(probe, sim, light)


async def value(signal: Any) -> Any:
    return await signal.get_value()


def chain(exc: BaseException | None) -> list[BaseException]:
    """The exception and its causes/contexts (ophyd-async may wrap what a setter raised)."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


# -- connection, descriptors --------------------------------------------------------------------


async def test_connect_closes_the_shutter_and_describes_arrays() -> None:
    rig = await make_rig()
    probe, sim = rig.probe, rig.sim
    assert sim.lamp_changes == [] and sim.lamp_enabled is False  # driven low: closed (active high)
    assert probe.spectrometer.lamp_enabled is False
    assert await value(probe.shutter_open) is False
    assert probe.live is False
    described = await probe.describe()
    assert set(described) == {
        "absorbance-absorbance",
        "absorbance-sample_counts",
        "absorbance-masked_pixels",
        "absorbance-shutter_open",
    }
    a = described["absorbance-absorbance"]
    assert (a["dtype"], a["shape"], a["dtype_numpy"], a["units"]) == ("array", [2048], "<f8", "OD")
    counts = described["absorbance-sample_counts"]
    assert (counts["shape"], counts["units"]) == ([2048], "counts")
    assert described["absorbance-masked_pixels"]["dtype"] == "integer"
    assert probe.hints == {"fields": ["absorbance-absorbance"]}
    config = await probe.describe_configuration()
    for key, unit in (("wavelengths", "nm"), ("dark_counts", "counts"), ("reference_counts", "counts")):
        assert (config[f"absorbance-{key}"]["shape"], config[f"absorbance-{key}"]["units"]) == ([2048], unit)
    assert config["absorbance-integration_time"]["units"] == "s"
    assert config["absorbance-path_length"]["units"] == "cm"
    assert config["absorbance-reference_time"]["units"] == "s"
    values = {k.removeprefix("absorbance-"): v["value"] for k, v in (await probe.read_configuration()).items()}
    assert values["integration_time"] == 0.02 and values["averages"] == 10 and values["boxcar"] == 0
    assert values["path_length"] == 0.2 and math.isnan(values["reference_time"])
    assert values["spectrometer_model"] == "FLAME-S FLMS0SIM"
    np.testing.assert_array_equal(values["wavelengths"], sim.wavelengths())
    assert np.isnan(values["dark_counts"]).all() and np.isnan(values["reference_counts"]).all()


# -- the measurement ----------------------------------------------------------------------------


def expected_sigma(sample: np.ndarray, reference: np.ndarray, t: float, n: int) -> np.ndarray:
    """Standard deviation of A from shot, dark and read noise of S, R and D (counts s, r per frame)."""
    s, r, d = sample * t, reference * t, DARK_PER_S * t
    var_s, var_r, var_d = (s + d + READ_VAR) / n, (r + d + READ_VAR) / n, (d + READ_VAR) / n
    return np.sqrt(var_s / s**2 + var_r / r**2 + var_d * (1 / s - 1 / r) ** 2) / math.log(10)


async def test_recovers_a_known_absorbance_within_its_noise() -> None:
    rig = await make_rig()
    probe, sim, light = rig.probe, rig.sim, rig.light
    loop = asyncio.get_running_loop()
    await probe.take_dark()
    assert sim.lamp_changes == []  # the dark never opened the shutter
    await probe.take_reference()
    t_reference = loop.time()
    assert await value(probe.reference_time) == t_reference
    wl = sim.wavelengths()
    reference_rate = light.counts_per_s(wl)
    light.sample = band
    await probe.trigger()
    reading = await probe.read()
    a = reading["absorbance-absorbance"]["value"]
    sample_rate = reference_rate * 10 ** (-band(wl))
    strong = reference_rate * 0.02 > 0.2 * FULL
    strong[:BLACK_PIXELS] = False  # no light reaches them
    assert strong.sum() > 1000
    z = (a[strong] - band(wl)[strong]) / expected_sigma(sample_rate[strong], reference_rate[strong], 0.02, 10)
    assert np.abs(z).max() < 5.5
    assert abs(z.mean()) < 0.15 and 0.85 < z.std() < 1.15
    peak = int(np.argmin(np.abs(wl - 420.0)))
    assert a[peak - 3 : peak + 4].mean() == pytest.approx(0.9, abs=0.01)
    assert np.isnan(a[:BLACK_PIXELS]).all()  # optically black: R - D is ~0
    assert reading["absorbance-masked_pixels"]["value"] == int(np.isnan(a).sum())
    np.testing.assert_allclose(
        reading["absorbance-sample_counts"]["value"][strong],
        BASELINE + DARK_PER_S * 0.02 + sample_rate[strong] * 0.02,
        rtol=0.02,
    )
    # the shutter was open only while the reference and the sample were measured, and is closed now
    assert [on for _, on in sim.lamp_changes] == [True, False, True, False]
    assert sim.lamp_enabled is False and reading["absorbance-shutter_open"]["value"] is False


async def test_masked_pixels_are_exactly_the_weak_and_saturated_ones() -> None:
    rig = await make_rig(ignore_saturation_nm=((650.0, 662.0),))
    probe, sim, light = rig.probe, rig.sim, rig.light
    light.spike_nm = (653.0, 659.0)  # the lamp's own line: saturated in R and S, tolerated in the reference
    light.emission_nm = (600.0, 606.0)  # the sample's emission: saturated in S only
    await probe.take_dark()
    await probe.take_reference()
    light.sample = band
    wl = sim.wavelengths()
    config = {k.removeprefix("absorbance-"): v["value"] for k, v in (await probe.read_configuration()).items()}
    weak = config["reference_counts"] - config["dark_counts"] < WEAK
    spike = (wl >= 653.0) & (wl <= 659.0)
    emission = (wl >= 600.0) & (wl <= 606.0)
    assert weak[:BLACK_PIXELS].all() and weak[-50:].all() and not weak[BLACK_PIXELS:1500].any()
    for boxcar in (0, 2):
        await probe.boxcar.set(boxcar)
        await probe.trigger()
        a = await value(probe.absorbance)
        saturated = spike | emission
        if boxcar:
            saturated = np.convolve(saturated.astype(float), np.ones(2 * boxcar + 1), mode="same") > 0.5
        expected = weak | saturated
        np.testing.assert_array_equal(np.isnan(a), expected)
        assert await value(probe.masked_pixels) == int(expected.sum())
    assert (saturated & ~(spike | emission)).sum() == 8  # two pixels each side of each band


def test_compute_absorbance_masks_and_smooths() -> None:
    dark = np.full(7, 100.0)
    reference = np.array([105.0, 1100.0, 1100.0, 1100.0, 1100.0, 1100.0, 1100.0])
    sample = np.array([105.0, 200.0, 100.0, 90.0, 600.0, 600.0, 1100.0])
    saturated = np.array([False, False, False, False, False, False, True])
    a = compute_absorbance(sample, dark, reference, weak_counts=10.0, saturated=saturated)
    np.testing.assert_allclose(a[[1, 4, 5]], [1.0, -math.log10(0.5), -math.log10(0.5)])
    assert np.isnan(a[[0, 2, 3, 6]]).all()  # weak, no light through (S - D = 0, < 0), saturated
    smooth = compute_absorbance(sample, dark, reference, weak_counts=10.0, saturated=saturated, boxcar=1)
    assert smooth[4] == pytest.approx(-math.log10(np.mean([-10.0, 500.0, 500.0]) / 1000.0))
    assert np.isnan(smooth[[0, 5, 6]]).all()  # 5 is next to the saturated pixel


# -- the reference's checks -----------------------------------------------------------------------

NUMBER = r"(\d+(?:\.\d+)?)"


async def test_saturated_reference_refused_and_the_time_suggested_lands_in_the_range() -> None:
    rig = await make_rig()
    probe, sim, light = rig.probe, rig.sim, rig.light
    light.scale = 2.0
    await probe.take_dark()
    with pytest.raises(ReferenceRefused) as info:
        await probe.take_reference()
    suggested = info.value.suggested_integration_time_s
    assert suggested is not None and 0.0095 < suggested < 0.0105
    match = re.fullmatch(
        r"absorbance: reference refused: (\d+) pixels saturated \(at or above 98% of full scale, 64224 counts\) "
        rf"near {NUMBER} nm at integration time 0\.02 s; use integration time {re.escape(f'{suggested:g}')} s "
        rf"\(puts the peak at ~{NUMBER}% of full scale, reference_range 70%-85%\), then take_dark\(\) and "
        r"take_reference\(\) again",
        str(info.value),
    )
    assert match, str(info.value)
    wl = sim.wavelengths()
    over = light.counts_per_s(wl) * 0.02 + BASELINE
    assert (over > 64224 + 1500).sum() <= int(match[1]) <= (over > 64224 - 1500).sum()
    assert 420 < float(match[2]) < 620 and float(match[3]) == pytest.approx(77.5, abs=0.1)
    assert sim.lamp_enabled is False and await value(probe.shutter_open) is False
    with pytest.raises(AbsorbanceError, match=r"no reference spectrum taken"):
        await probe.trigger()
    # the suggestion, taken
    await probe.integration_time.set(suggested)
    await probe.take_dark()
    await probe.take_reference()
    peak = float(np.max(await value(probe.reference_counts))) / FULL
    assert 0.70 <= peak <= 0.85
    assert peak == pytest.approx(0.775, abs=0.02)


async def test_reference_saturated_even_at_the_shortest_time_asks_to_attenuate() -> None:
    rig = await make_rig()
    rig.light.scale = 1000.0
    await rig.probe.take_dark()
    with pytest.raises(ReferenceRefused) as info:
        await rig.probe.take_reference()
    assert info.value.suggested_integration_time_s is None
    assert re.fullmatch(
        r"absorbance: reference refused: \d+ pixels saturated \(at or above 98% of full scale, 64224 counts\) near "
        r"\d+\.\d nm at integration time 0\.02 s, and still saturated at the shortest integration time 0\.001 s; "
        r"attenuate the light \(lower the source's power, add a neutral-density filter or use a thinner fibre\), "
        r"then take_dark\(\) and take_reference\(\) again",
        str(info.value),
    ), str(info.value)
    assert rig.probe.spectrometer.integration_time_s == 0.001  # probed down to the limit
    assert rig.sim.lamp_enabled is False


async def test_dim_reference_refused_with_a_longer_time_that_lands_in_the_range() -> None:
    rig = await make_rig()
    probe, light = rig.probe, rig.light
    light.scale = 0.2
    await probe.take_dark()
    with pytest.raises(ReferenceRefused) as info:
        await probe.take_reference()
    suggested = info.value.suggested_integration_time_s
    assert suggested is not None and suggested == pytest.approx(0.1, rel=0.02)
    assert re.fullmatch(
        rf"absorbance: reference refused: too dark, peak {NUMBER} counts \({NUMBER}% of full scale, under the 35% "
        rf"accepted; reference_range 70%-85%\) near {NUMBER} nm at integration time 0\.02 s; use integration time "
        rf"{re.escape(f'{suggested:g}')} s \(puts the peak at ~77\.5% of full scale\), then take_dark\(\) and "
        r"take_reference\(\) again",
        str(info.value),
    ), str(info.value)
    await probe.integration_time.set(suggested)
    await probe.take_dark()
    await probe.take_reference()
    assert 0.70 <= float(np.max(await value(probe.reference_counts))) / FULL <= 0.85


async def test_reference_with_the_source_off_asks_to_check_the_source() -> None:
    rig = await make_rig()
    rig.light.lamp_on = False
    await rig.probe.take_dark()
    with pytest.raises(ReferenceRefused) as info:
        await rig.probe.take_reference()
    assert info.value.suggested_integration_time_s is None
    match = re.fullmatch(
        r"absorbance: reference refused: no light, its peak (\d+) counts is only (-?\d+) counts above the dark "
        r"\(a usable pixel needs 655, 1% of full scale\) at integration time 0\.02 s; check the source: lamp on "
        r"and warmed up, its shutter opening when the Lamp Enable line goes high \(active_high=True\), fibres "
        r"connected and the probe immersed; then take_reference\(\) again",
        str(info.value),
    )
    assert match, str(info.value)
    assert 1500 < int(match[1]) < 1560 and int(match[2]) < 30


async def test_reference_too_dim_even_at_the_longest_time() -> None:
    rig = await make_rig(integration_time_s=10.0, averages=2)
    rig.light.scale = 2000.0 / (RATE * 10.0)  # 2000 counts above the dark at the peak in 10 s
    await rig.probe.take_dark()
    with pytest.raises(ReferenceRefused) as info:
        await rig.probe.take_reference()
    assert info.value.suggested_integration_time_s == 65.0
    assert re.fullmatch(
        rf"absorbance: reference refused: too dark, peak {NUMBER} counts \({NUMBER}% of full scale, under the 35% "
        rf"accepted; reference_range 70%-85%\) near {NUMBER} nm at integration time 10 s; even the longest "
        rf"integration time 65 s puts the peak at only ~{NUMBER}% of full scale: check the source \(lamp on and "
        r"warmed up, shutter opening, fibres connected, probe immersed\), or use integration time 65 s, then "
        r"take_dark\(\) and take_reference\(\) again",
        str(info.value),
    ), str(info.value)


async def test_saturated_reference_in_an_unignored_lamp_line_is_refused() -> None:
    rig = await make_rig()
    rig.light.spike_nm = (653.0, 659.0)
    await rig.probe.take_dark()
    with pytest.raises(ReferenceRefused, match=r"reference refused: \d+ pixels saturated .* near 65\d\.\d nm"):
        await rig.probe.take_reference()


async def test_no_dark_refused_before_the_shutter_opens() -> None:
    rig = await make_rig()
    with pytest.raises(AbsorbanceError) as info:
        await rig.probe.take_reference()
    assert str(info.value) == (
        "absorbance: no dark spectrum taken; call take_dark() (shutter closed) at 0.02 s x 10 averages first, "
        "then take_reference()"
    )
    with pytest.raises(AbsorbanceError) as info:
        await rig.probe.trigger()
    assert str(info.value) == (
        "absorbance: no dark spectrum taken; call take_dark() (shutter closed) at 0.02 s x 10 averages first, "
        "then take_reference() and measure"
    )
    assert rig.sim.acquisitions == 0 and rig.sim.lamp_changes == []


async def test_settings_changed_since_the_dark_and_reference_are_refused() -> None:
    rig = await make_rig()
    probe = rig.probe
    await probe.take_dark()
    await probe.take_reference()
    await probe.integration_time.set(0.01)
    with pytest.raises(AbsorbanceError) as info:
        await probe.trigger()
    assert str(info.value) == (
        "absorbance: the dark spectrum was taken at 0.02 s x 10 averages, not the 0.01 s x 10 averages now set; "
        "call take_dark() again, then take_reference() and measure"
    )
    await probe.take_dark()
    with pytest.raises(AbsorbanceError) as info:
        await probe.trigger()
    assert str(info.value) == (
        "absorbance: the reference spectrum was taken at 0.02 s x 10 averages, not the 0.01 s x 10 averages now "
        "set; take_dark() and take_reference() again (solvent in the flask) or set the settings back"
    )


# -- averaging ---------------------------------------------------------------------------------------


async def test_averaging_reduces_the_noise_by_sqrt_n() -> None:
    rig = await make_rig()
    probe, sim, light = rig.probe, rig.sim, rig.light
    strong = light.counts_per_s(sim.wavelengths()) * 0.02 > 0.3 * FULL
    strong[:BLACK_PIXELS] = False
    spread = {}
    for n in (1, 16):
        await probe.averages.set(n)
        light.sample = None
        await probe.take_dark()
        await probe.take_reference()
        light.sample = band
        await probe.trigger()
        a = await value(probe.absorbance)
        spread[n] = float(np.std(a[strong] - band(sim.wavelengths())[strong]))
    assert spread[1] / spread[16] == pytest.approx(4.0, rel=0.12)


# -- shutter and safety ------------------------------------------------------------------------------


async def test_active_low_polarity_inverts_the_line() -> None:
    rig = await make_rig(active_high=False)
    probe, sim, light = rig.probe, rig.sim, rig.light
    assert sim.lamp_enabled is True  # closed: the line held high
    await probe.take_dark()
    await probe.take_reference()
    light.sample = band
    await probe.trigger()
    assert [on for _, on in sim.lamp_changes] == [True, False, True, False, True]
    assert sim.lamp_enabled is True and await value(probe.shutter_open) is False
    a = await value(probe.absorbance)
    peak = int(np.argmin(np.abs(sim.wavelengths() - 420.0)))
    assert a[peak - 3 : peak + 4].mean() == pytest.approx(0.9, abs=0.01)
    await probe.set_shutter(True)
    assert sim.lamp_enabled is False
    await probe.make_safe()
    assert sim.lamp_enabled is True


async def test_wrong_polarity_is_detected_at_the_reference() -> None:
    rig = await make_rig(light_active_high=False)  # the source opens on a low line; the probe thinks high
    await rig.probe.take_dark()  # lit, in fact
    with pytest.raises(ReferenceRefused) as info:
        await rig.probe.take_reference()
    assert info.value.suggested_integration_time_s is None
    assert re.fullmatch(
        r"absorbance: reference refused: \d+ pixels are darker than the dark by more than 655 counts at integration "
        r"time 0\.02 s, so the dark had the light and the reference did not: the shutter opens on the other level "
        r"of the Lamp Enable line: check active_high \(now True\) against the source's TTL input; fix it, then "
        r"take_dark\(\) and take_reference\(\) again",
        str(info.value),
    ), str(info.value)


async def test_make_safe_closes_the_shutter() -> None:
    rig = await make_rig()
    probe, sim = rig.probe, rig.sim
    await probe.set_shutter(True)
    assert sim.lamp_enabled is True and await value(probe.shutter_open) is True
    await probe.make_safe()
    assert sim.lamp_enabled is False and await value(probe.shutter_open) is False
    assert probe.spectrometer.lamp_enabled is False
    await probe.make_safe()  # drives the line even when it believes it closed
    assert [on for _, on in sim.lamp_changes] == [True, False]


async def test_make_safe_during_a_sample_closes_the_shutter_and_voids_the_sample() -> None:
    rig = await make_rig(averages=50)
    probe, sim, light = rig.probe, rig.sim, rig.light
    await probe.take_dark()
    await probe.take_reference()
    light.sample = band
    status = probe.trigger()
    await asyncio.sleep(0.5)  # inside the 50 frames
    assert sim.lamp_enabled is True
    await probe.make_safe()
    assert sim.lamp_enabled is False
    with pytest.raises(AbsorbanceError) as info:
        await status
    assert str(info.value) == (
        "absorbance: make_safe() closed the shutter during the measurement, so it is not kept; measure again"
    )
    assert np.isnan(await value(probe.absorbance)).all()
    assert sim.lamp_enabled is False


NO_LAMP_ENABLE = (
    "spectrometer 'spectrometer' (FLAME-S, serial FLMS0SIM): this model has no Lamp Enable control in "
    "python-seabreeze (the backend offers neither f.strobe_lamp.enable_lamp nor f.continuous_strobe.set_enable); "
    "drive the light source's TTL shutter from a relay instead and give that relay as the shutter"
)


async def test_backend_without_lamp_enable_is_refused_at_connect() -> None:
    with pytest.raises(SpectrometerError) as info:
        await make_rig(no_lamp_enable=True)
    assert str(info.value) == NO_LAMP_ENABLE
    loop = asyncio.get_running_loop()
    sim = SimulatedSpectrometer(loop.time, FlaskLight())
    sim.f.strobe_lamp = None
    spec = Spectrometer("spectrometer", sim, in_process=True)
    assert not spec.supports_lamp_enable
    with pytest.raises(SpectrometerError) as info:
        await spec.set_lamp_enable(False)
    assert str(info.value) == NO_LAMP_ENABLE


async def test_a_relay_drives_the_shutter_instead() -> None:
    relay = Relay()
    rig = await make_rig(no_lamp_enable=True, relay=relay)
    probe, light = rig.probe, rig.light
    await probe.take_dark()
    await probe.take_reference()
    light.sample = band
    await probe.trigger()
    assert relay.calls == [False, True, False, True, False]
    assert rig.sim.lamp_changes == []
    a = await value(probe.absorbance)
    peak = int(np.argmin(np.abs(rig.sim.wavelengths() - 420.0)))
    assert a[peak - 3 : peak + 4].mean() == pytest.approx(0.9, abs=0.01)
    await probe.set_shutter(True)
    await probe.make_safe()
    assert relay.calls[-2:] == [True, False] and relay.closed


# -- settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signal", "bad", "match"),
    [
        ("integration_time", 100.0, r"absorbance: integration time 100\.0 s is outside the spectrometer's 0\.001-65 s"),
        ("averages", 0, r"absorbance: averages 0 must be a whole number of frames >= 1"),
        ("boxcar", -1, r"absorbance: boxcar -1 must be a whole number of pixels each side >= 0"),
        ("path_length", 0.0, r"absorbance: path length 0\.0 cm must be a positive number of cm"),
    ],
)
async def test_settings_are_checked(signal: str, bad: Any, match: str) -> None:
    rig = await make_rig()
    sig = getattr(rig.probe, signal)
    before = await value(sig)
    with pytest.raises(Exception) as info:
        await sig.set(bad)
    errors = [e for e in chain(info.value) if isinstance(e, AbsorbanceSettingError)]
    assert errors and re.match(match, str(errors[0])), repr(info.value)
    assert await value(sig) == before


def test_constructor_checks() -> None:
    sim = SimulatedSpectrometer(lambda: 0.0, FlaskLight())
    spec = Spectrometer("spectrometer", sim, in_process=True)
    with pytest.raises(AbsorbanceSettingError, match=r"absorbance: reference_range \(0\.85, 0\.7\) must be"):
        AbsorbanceProbe(spec, reference_range=(0.85, 0.70))
    with pytest.raises(AbsorbanceSettingError, match=r"absorbance: weak_fraction 0\.8 must be above 0 and under"):
        AbsorbanceProbe(spec, weak_fraction=0.8)
    with pytest.raises(AbsorbanceSettingError, match=r"probe: integration time 0\.0001 s is outside"):
        AbsorbanceProbe(spec, integration_time_s=0.0001, name="probe")


# -- in a RunEngine ------------------------------------------------------------------------------------


def test_in_a_run_engine() -> None:
    from labctl.clock import VirtualTimeLoop

    loop = VirtualTimeLoop()
    RE = RunEngine({}, loop=loop, context_managers=[], call_returns_result=True)
    try:
        rig = asyncio.run_coroutine_threadsafe(make_rig(), loop).result(10)
        probe, light = rig.probe, rig.light
        docs: list[tuple[str, dict]] = []

        def plan():  # type: ignore[no-untyped-def]
            yield from bps.open_run()
            yield from bps.wait_for([probe.take_dark])
            yield from bps.wait_for([probe.take_reference])
            light.sample = band
            yield from bps.trigger_and_read([probe])
            yield from bps.close_run()

        RE(plan(), lambda name, doc: docs.append((name, doc)))
        descriptor = next(doc for name, doc in docs if name == "descriptor")
        key = descriptor["data_keys"]["absorbance-absorbance"]
        assert (key["shape"], key["dtype_numpy"], key["units"]) == ([2048], "<f8", "OD")
        config = descriptor["configuration"]["absorbance"]
        assert config["data_keys"]["absorbance-reference_counts"]["shape"] == [2048]
        assert not np.isnan(np.asarray(config["data"]["absorbance-reference_counts"])).any()
        event = next(doc for name, doc in docs if name == "event")
        a = np.asarray(event["data"]["absorbance-absorbance"])
        peak = int(np.argmin(np.abs(rig.sim.wavelengths() - 420.0)))
        assert a.shape == (2048,) and a[peak - 3 : peak + 4].mean() == pytest.approx(0.9, abs=0.01)
        assert event["data"]["absorbance-shutter_open"] is False
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread = getattr(RE, "_th", None)
        if thread is not None:
            thread.join(timeout=10)
        if not loop.is_running():
            loop.close()
