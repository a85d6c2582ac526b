"""``scenario check`` warnings (jointbmd.scenario.advice): the range bound against the free-flight
range equation, and each warning on a scenario built to trigger it; the exit status stays 0."""

from __future__ import annotations

import copy
import json
import math

import pytest
import yaml
from scipy.optimize import minimize_scalar

from jointbmd.earth import MU, OMEGA, WGS84_A
from jointbmd.scenario import validate_data
from jointbmd.scenario.advice import advise, max_range_angle_rad
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
