"""``scenario check`` warnings (jointbmd.scenario.advice): the range bound and the low range
estimate against the free-flight range equation, and each warning on a scenario built to trigger
it (a threat type's class against the NASIC range bands among them); the exit status stays 0."""

from __future__ import annotations

import copy
import json
import math

import pytest
import yaml
from scipy.optimize import minimize_scalar

from jointbmd.earth import G0, MU, OMEGA, WGS84_A
from jointbmd.scenario import validate_data
from jointbmd.scenario.advice import advise, max_range_angle_rad, range_bracket_km
from jointbmd.scenario.loader import builtin_text


@pytest.fixture(scope="module")
def lisbon() -> dict:
    return yaml.safe_load(builtin_text("lisbon2010"))


def _free_flight_range(nu: float, gamma: float) -> float:
    """Range angle of a free flight from and back to radius r, burnout speed v (nu = v^2 r/mu)
    at flight-path angle gamma above the horizontal: tan(psi/2) = nu sin g cos g / (1 - nu cos^2 g)
    (Bate, Mueller & White 1971, eq. 6.2-8 in flight-path-angle form)."""
    return 2.0 * math.atan2(nu * math.sin(gamma) * math.cos(gamma), 1.0 - nu * math.cos(gamma) ** 2)


@pytest.mark.parametrize("delta_v", [2000.0, 4160.0, 5900.0])
def test_range_bound_is_the_best_free_flight_range(delta_v):
    v = delta_v + OMEGA * WGS84_A
    nu = v * v * WGS84_A / MU
    best = minimize_scalar(lambda g: -_free_flight_range(nu, g), bounds=(0.01, 1.56),
                           method="bounded", options={"xatol": 1e-10})  # fmt: skip
    assert max_range_angle_rad(delta_v) == pytest.approx(-best.fun, rel=1e-7)


def test_orbital_speed_reaches_anywhere():
    assert max_range_angle_rad(8000.0) == math.pi


def _best_range_km(v: float) -> float:
    nu = v * v * WGS84_A / MU
    best = minimize_scalar(lambda g: -_free_flight_range(nu, g), bounds=(0.01, 1.56),
                           method="bounded", options={"xatol": 1e-10})  # fmt: skip
    return -best.fun * WGS84_A / 1000.0


def test_range_bracket_is_the_free_flight_range_before_and_after_gravity_loss(lisbon):
    # Two stages given by their velocity gains: 2 500 + 2 000 m/s over 70 + 50 s of burn.
    data = copy.deepcopy(lisbon)
    data["threat_types"][0]["stages"] = [
        {"burn_time_s": 70.0, "delta_v_mps": 2500.0, "source": "test"},
        {"burn_time_s": 50.0, "delta_v_mps": 2000.0, "source": "test"},
    ]
    low, high = range_bracket_km(validate_data(data).threat_types[0])
    assert low == pytest.approx(_best_range_km(4500.0 - G0 * 120.0), rel=1e-6)
    assert high == pytest.approx(_best_range_km(4500.0 + OMEGA * WGS84_A), rel=1e-6)


def _classed(lisbon: dict, name: str, cls: str) -> list[str]:
    data = copy.deepcopy(lisbon)
    next(t for t in data["threat_types"] if t["name"] == name)["class"] = cls
    return [a.line() for a in advise(validate_data(data)) if a.field.startswith("threat_types")]


def test_a_class_its_range_does_not_fit_is_flagged(lisbon):
    # Shahab-3 as lisbon2010 gives it: one stage, Tsiolkovsky with the payload on board.
    shahab = next(t for t in lisbon["threat_types"] if t["name"] == "Shahab-3")
    (stage,) = shahab["stages"]
    full = stage["propellant_mass_kg"] + stage["dry_mass_kg"] + shahab["payload_mass_kg"]
    delta_v = stage["isp_s"] * G0 * math.log(full / (full - stage["propellant_mass_kg"]))
    low = _best_range_km(delta_v - G0 * stage["burn_time_s"])
    high = _best_range_km(delta_v + OMEGA * WGS84_A)
    assert 1000.0 < low < high < 3000.0  # inside the MRBM band: its class fits
    assert _classed(lisbon, "Shahab-3", "MRBM") == []
    # It cannot be an ICBM (5 500 km at least) or an IRBM (3 000 km) ...
    (line,) = _classed(lisbon, "Shahab-3", "ICBM")
    assert line == (
        "threat_types[Shahab-3].class: an ICBM flies at least 5,500 km, but this type reaches at "
        f"most about {high:,.0f} km even without gravity and drag losses"
    )
    assert len(_classed(lisbon, "Shahab-3", "IRBM")) == 1
    # ... nor an SRBM (1 000 km at most): even after the greatest gravity loss it flies farther.
    (line,) = _classed(lisbon, "Shahab-3", "SRBM")
    assert f"an SRBM flies at most 1,000 km, but this type reaches about {low:,.0f} km" in line
    # IRBM-X fits its class and outflies an MRBM; as an ICBM it passes: its loss-free bound
    # (over 5 500 km) leaves room, and the check warns only where the bracket misses the band.
    assert _classed(lisbon, "IRBM-X", "IRBM") == []
    assert len(_classed(lisbon, "IRBM-X", "MRBM")) == 1
    assert _classed(lisbon, "IRBM-X", "ICBM") == []


def test_lisbon2010_raids_are_all_within_reach(lisbon):
    # Every raid of the built-in flies (the simulation solves them): the bound must not flag one.
    advice = advise(validate_data(lisbon))
    assert not [a for a in advice if a.field.startswith(("raids", "defended_assets"))]


def test_an_asset_out_of_every_threats_reach_is_flagged(lisbon):
    data = copy.deepcopy(lisbon)
    data["defended_assets"].append(
        {"name": "Buenos Aires", "partner": "NATO", "lat_deg": -34.6, "lon_deg": -58.4,
         "value": 1.0, "source": "test"}
    )  # fmt: skip
    fields = [a.field for a in advise(validate_data(data))]
    assert "defended_assets[Buenos Aires]" in fields
    assert "defended_assets[Moscow]" not in fields


def test_a_self_intersecting_territory_is_flagged(lisbon):
    data = copy.deepcopy(lisbon)
    data["partners"][0]["territory"] = [[40.0, 0.0], [50.0, 10.0], [50.0, 0.0], [40.0, 10.0]]
    advice = [a for a in advise(validate_data(data)) if a.field == "partners[NATO].territory"]
    assert len(advice) == 1 and "self-intersection" in advice[0].reason
    assert "lat 45.00, lon 5.00" in advice[0].reason  # where the bow tie crosses itself


def test_gap_between_sectors(lisbon):
    # lisbon2010's outlines leave Finland (in neither alliance in 2010) enclosed between them.
    gaps = [a for a in advise(validate_data(lisbon)) if a.field == "arrangements[sectoral].sectors"]
    assert any("lat 6" in a.reason and "gap" in a.reason for a in gaps)
    # Two sectors drawn to share their border exactly leave none.
    data = copy.deepcopy(lisbon)
    sectoral = next(a for a in data["arrangements"] if a["kind"] == "sectoral")
    sectoral["sectors"] = {
        "NATO": [[30.0, -10.0], [60.0, -10.0], [60.0, 30.0], [30.0, 30.0]],
        "Russia": [[30.0, 30.0], [60.0, 30.0], [60.0, 60.0], [30.0, 60.0]],
    }
    assert not [a for a in advise(validate_data(data)) if "gap" in a.reason]
    # A U (NATO, open to the north) closed by a bar (Russia) around an empty square: lat 3-7,
    # lon 3-7.
    sectoral["sectors"] = {
        "NATO": [[0.0, 0.0], [10.0, 0.0], [10.0, 3.0], [3.0, 3.0], [3.0, 7.0], [10.0, 7.0],
                 [10.0, 10.0], [0.0, 10.0]],
        "Russia": [[7.0, 3.0], [10.0, 3.0], [10.0, 7.0], [7.0, 7.0]],
    }  # fmt: skip
    (gap,) = [a for a in advise(validate_data(data)) if "gap" in a.reason]
    # The hole: lat 3-7, lon 3-7 on a sphere: R^2 * dlon * (sin 7 - sin 3).
    expected = (
        WGS84_A**2 * math.radians(4.0) * (math.sin(math.radians(7)) - math.sin(math.radians(3)))
    )
    shown = float(gap.reason.split("about ")[1].split(" km")[0].replace(",", ""))
    assert shown == pytest.approx(expected / 1e6, rel=1e-3)


def test_check_warns_on_stderr_and_still_succeeds(lisbon, tmp_path, capsys):
    from jointbmd.cli import main

    data = copy.deepcopy(lisbon)
    data["partners"][0]["territory"] = [[40.0, 0.0], [50.0, 10.0], [50.0, 0.0], [40.0, 10.0]]
    path = tmp_path / "bowtie.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SystemExit) as done:
        main(["scenario", "check", str(path), "--json"])
    assert done.value.code == 0
    captured = capsys.readouterr()
    assert f"jointbmd: warning: {path}: partners[NATO].territory: not a simple polygon" in (
        captured.err
    )
    fields = [w["field"] for w in json.loads(captured.out)["warnings"]]
    assert "partners[NATO].territory" in fields
