"""Tests of the cycloaddition figures of merit: PO amount, TON/TOF, CO2 uptake, recycling summary."""

from __future__ import annotations

import json

import pytest

from labctl.analysis.cycloaddition import CycloResult, cycloaddition_figures, po_mmol, recycling_summary

R = 8.314462618


def test_po_mmol() -> None:
    assert po_mmol(3.0) == pytest.approx(3.0 * 0.83 / 58.08 * 1000.0)
    assert po_mmol(3.0) == pytest.approx(42.9, abs=0.05)
    assert po_mmol(1.0, density_g_per_ml=1.0, molar_mass=100.0) == pytest.approx(10.0)
    with pytest.raises(ValueError, match=r"volume_ml must be .* > 0.*mL"):
        po_mmol(0.0)


def test_ton_tof_against_hand_calculation() -> None:
    result = cycloaddition_figures(conversion=0.7, epoxide_mmol=42.9, surface_metal_umol=21.0, hold_s=6 * 3600.0)
    po_converted = 0.7 * 42.9  # 30.03 mmol
    ton = 13 * po_converted / 0.021  # 18,590
    assert result.po_converted_mmol == pytest.approx(po_converted)
    assert result.ton == pytest.approx(ton)
    assert result.ton == pytest.approx(18_590.0)
    assert result.tof == pytest.approx(ton / 6.0)
    assert result.conversion_percent == pytest.approx(70.0)
    assert result.hold_h == pytest.approx(6.0)
    assert result.co2_uptake_mmol is None and result.co2_uptake_vs_po is None


def test_co2_uptake_from_pressure_drop() -> None:
    v_ml = 147.0
    # cold 3.0 bar before heat-up, hot during the hold, cold 1.5 bar after cool-down
    times = [0.0, 1800.0, 1800.0 + 21600.0, 1800.0 + 21600.0 + 1800.0]
    temps = [295.0, 343.15, 343.15, 295.0]
    pressures = [3.0e5, 3.4e5, 1.8e5, 1.5e5]
    po_converted_expected = (3.0e5 - 1.5e5) * v_ml * 1e-6 / (R * 295.0) * 1000.0  # mmol, same T
    conversion = po_converted_expected / 42.9
    result = cycloaddition_figures(
        conversion=conversion,
        epoxide_mmol=42.9,
        surface_metal_umol=21.0,
        hold_s=21600.0,
        pressures_pa=pressures,
        temperatures_k=temps,
        times_s=times,
        headspace_ml=v_ml,
        hold_window=(1800.0, 23400.0),
    )
    assert result.co2_uptake_mmol == pytest.approx(po_converted_expected)
    assert result.co2_uptake_mmol == pytest.approx(8.99, abs=0.01)
    assert result.co2_uptake_hold_mmol == pytest.approx((3.4e5 - 1.8e5) * v_ml * 1e-6 / (R * 343.15) * 1000.0)
    assert result.co2_uptake_vs_po == pytest.approx(1.0)
    assert not any("uptake" in note for note in result.notes)


def test_co2_uptake_mismatch_is_noted() -> None:
    result = cycloaddition_figures(
        conversion=0.7,
        epoxide_mmol=42.9,
        surface_metal_umol=21.0,
        hold_s=21600.0,
        pressures_pa=[3.0e5, 2.9e5],
        temperatures_k=[295.0, 295.0],
        headspace_ml=147.0,
    )
    assert result.co2_uptake_vs_po is not None and result.co2_uptake_vs_po < 0.1
    assert any("CO2 uptake" in note for note in result.notes)


def test_to_dict_names_and_json() -> None:
    result = cycloaddition_figures(conversion=1.0, epoxide_mmol=42.9, surface_metal_umol=237.0, hold_s=21600.0)
    d = result.to_dict()
    for key in (
        "conversion",
        "conversion_percent",
        "ton",
        "tof",
        "po_converted_mmol",
        "surface_metal_umol",
        "hold_h",
        "co2_uptake_mmol",
        "co2_uptake_vs_po",
        "notes",
    ):
        assert key in d
    assert isinstance(result, CycloResult)
    assert any("limited by the epoxide" in note for note in d["notes"])
    json.dumps(d)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"conversion": 69.0}, r"conversion must be a fraction within 0\.\.1, got 69\.0.*not 69 %"),
        ({"conversion": -0.1}, r"conversion must be a fraction"),
        ({"conversion": float("nan")}, r"conversion must be a fraction"),
        ({"epoxide_mmol": 0.0}, r"epoxide_mmol must be .* > 0, got 0\.0.*po_mmol"),
        ({"surface_metal_umol": -1.0}, r"surface_metal_umol must be .* > 0.*umol"),
        ({"hold_s": 0.0}, r"hold_s must be .* > 0.*seconds"),
        ({"pressures_pa": [3e5, 2e5]}, r"temperatures_k is required"),
        ({"pressures_pa": [3e5, 2e5], "temperatures_k": [295.0, 295.0]}, r"headspace_ml is required"),
        ({"pressures_pa": [3e5, 2e5], "temperatures_k": [22.0, -5.0], "headspace_ml": 147.0}, r"kelvin"),
        ({"pressures_pa": [3e5, 2e5], "temperatures_k": [295.0], "headspace_ml": 147.0}, r"temperatures_k has 1"),
        ({"pressures_pa": [3e5, 2e5], "temperatures_k": [295.0, 295.0], "headspace_ml": 0.0}, r"headspace_ml must"),
        (
            {
                "pressures_pa": [3e5, 2e5],
                "temperatures_k": [295.0, 295.0],
                "headspace_ml": 147.0,
                "hold_window": (0, 1),
            },
            r"times_s is required",
        ),
        (
            {
                "pressures_pa": [3e5, 2e5],
                "temperatures_k": [295.0, 295.0],
                "headspace_ml": 147.0,
                "times_s": [0.0, 10.0],
                "hold_window": (5.0, 20.0),
            },
            r"hold_window must satisfy",
        ),
        ({"temperatures_k": [295.0, 295.0]}, r"without pressures_pa"),
    ],
)
def test_bad_inputs_raise(kwargs: dict, match: str) -> None:
    args = {"conversion": 0.5, "epoxide_mmol": 42.9, "surface_metal_umol": 21.0, "hold_s": 21600.0} | kwargs
    with pytest.raises(ValueError, match=match):
        cycloaddition_figures(**args)


def test_recycling_summary() -> None:
    summary = recycling_summary([0.99, 0.985, 0.98, 0.975])
    assert summary["cycles"] == 4
    assert summary["mean"] == pytest.approx(0.9825)
    assert summary["min"] == pytest.approx(0.975)
    assert summary["drop_points"] == pytest.approx(1.5)
    assert summary["conversion_percent"][0] == pytest.approx(99.0)
    assert summary["stable"] is True
    unstable = recycling_summary([0.99, 0.95, 0.90])
    assert unstable["drop_points"] == pytest.approx(9.0)
    assert unstable["stable"] is False
    assert recycling_summary([0.90, 0.95])["stable"] is True  # a rise is not a drop
    with pytest.raises(ValueError, match=r"conversions is empty"):
        recycling_summary([])
    with pytest.raises(ValueError, match=r"conversions\[1\] must be a fraction.*98"):
        recycling_summary([0.98, 98.0])
