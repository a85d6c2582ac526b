"""Defended-area footprints: equal-area cells, monotone in units and in shared data, the same
answer as the single-case intercept geometry and the simulation's doctrine, valid GeoJSON,
the ``--json`` keys and one-line errors."""

from __future__ import annotations

import json
import math

import jsonschema
import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from jointbmd.analysis import footprint as fpm
from jointbmd.cli import main
from jointbmd.engagement import execute_engagements, intercept_geometry
from jointbmd.scenario import load_scenario
from jointbmd.trajectory import aim

LISBON = load_scenario("lisbon2010")
# Aimpoints over NATO Europe and European Russia (deterministic).
_RNG = np.random.default_rng(8)
POINTS_LAT = _RNG.uniform(37.0, 57.0, 40)
POINTS_LON = _RNG.uniform(12.0, 45.0, 40)
OWNERS = fpm.owner_of(LISBON, POINTS_LAT, POINTS_LON)


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


# ---------------------------------------------------------------------------------------------
# The grid
# ---------------------------------------------------------------------------------------------


def test_cells_are_equal_area_and_cover_the_box():
    region = fpm.Region.box(40.0, 10.0, 60.0, 40.0)
    grid = fpm.equal_area_grid(region, 100.0)
    np.testing.assert_allclose(grid.area_km2, 100.0**2, rtol=1e-9)
    # Spherical box: R^2 dlon (sin lat1 - sin lat0); the grid misses at most a cell per row edge.
    exact = (
        fpm.R_KM**2 * math.radians(30.0) * (math.sin(math.radians(60)) - math.sin(math.radians(40)))
    )
    rows = len(np.unique(grid.lat_edges_deg[:, 0]))
    assert abs(grid.area_km2.sum() - exact) <= 2 * rows * 100.0**2
    assert np.all(region.contains(grid.lat_deg, grid.lon_deg))


# ---------------------------------------------------------------------------------------------
# Monotone: more units, more shared data
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def by_arrangement():
    """lisbon2010 with Russia's early-warning radars allowed to commit interceptors (their
    data use raised from cue to launch-on-remote), so that sharing them can change a footprint;
    as the scenario stands they may only cue, and data exchange adds nothing here."""
    from jointbmd.scenario.loader import set_field

    scenario = LISBON
    for radar in ("Daryal", "Voronezh-DM"):
        scenario = set_field(scenario, f"sensor_types[{radar}].data_use", "launch-on-remote")
    out = {}
    for name in ("independent", "data-exchange"):
        s = fpm.setup(scenario, "IRBM-X", "Semnan", arrangement=name)
        out[name] = fpm.aimpoint_results(s, POINTS_LAT, POINTS_LON, OWNERS)
    return out


def test_sharing_more_data_never_shrinks_the_footprint(by_arrangement):
    alone, shared = by_arrangement["independent"], by_arrangement["data-exchange"]
    # Same decision latency in both arrangements of lisbon2010: only the radars differ.
    never = np.inf  # NaN: no usable radar ever holds a firm track
    assert np.all(np.nan_to_num(shared.cue_s, nan=never) <= np.nan_to_num(alone.cue_s, nan=never))
    assert np.all(shared.defended >= alone.defended)
    assert shared.defended.sum() > alone.defended.sum()  # Russia's radars cue NATO's units


def test_adding_a_unit_never_shrinks_the_footprint():
    one = fpm.setup(LISBON, "IRBM-X", "Semnan", units=["Deveselu SM-3 IB"], cue=120.0)
    two = fpm.setup(LISBON, "IRBM-X", "Semnan", units=["Deveselu SM-3 IB", "Ship SM-3 IA"],
                    cue=120.0)  # fmt: skip
    a = fpm.aimpoint_results(one, POINTS_LAT, POINTS_LON, OWNERS)
    b = fpm.aimpoint_results(two, POINTS_LAT, POINTS_LON, OWNERS)
    np.testing.assert_array_equal(a.defended[:, 0], b.defended[:, 0])
    assert np.all(b.defended_any >= a.defended_any)
    assert np.all(b.p_kill_all >= a.p_kill_all)


# ---------------------------------------------------------------------------------------------
# The loft table: the same answers as exact per-cell targeting
# ---------------------------------------------------------------------------------------------

EPAA = load_scenario("epaa2018")
# A 12 x 12 grid over Europe from Semnan: its far corners lie beyond IRBM-X's maximum range.
_GRID_LAT, _GRID_LON = (a.ravel() for a in np.meshgrid(np.linspace(36.0, 60.0, 12),
                                                        np.linspace(-5.0, 40.0, 12),
                                                        indexing="ij"))  # fmt: skip
#: Cells this close (km) to the table's maximum range may be judged reachable by one path and
#: not the other: the exact search finds the best loft to a few tenths of a degree only.
EDGE_MARGIN_KM = 25.0
#: A (cell, unit) may be engageable on one path only where that path's margin is this small
#: (s): the window between the allowed and the latest launch closes at the footprint's edge.
ENGAGE_MARGIN_S = 10.0


@pytest.fixture(scope="module")
def fast_and_exact():
    s = fpm.setup(EPAA, "IRBM-X", "Semnan", cue=60.0)
    owners = fpm.owner_of(EPAA, _GRID_LAT, _GRID_LON)
    fast = fpm.aimpoint_results(s, _GRID_LAT, _GRID_LON, owners)
    exact = fpm.aimpoint_results(s, _GRID_LAT, _GRID_LON, owners, exact=True)
    return s, fast, exact


def test_answers_do_not_depend_on_the_batching(fast_and_exact, monkeypatch):
    # Each cell's answer is its own: the same with one targeting batch and many small geometry
    # chunks (the unreachable cells apart in each), and over two processes.
    s, fast, _ = fast_and_exact
    owners = fpm.owner_of(EPAA, _GRID_LAT, _GRID_LON)
    assert 0 < fast.reachable.sum() < fast.reachable.size  # chunks mix reachable and not
    monkeypatch.setattr(fpm, "CHUNK_CELLS", 25)
    for workers in (1, 2):
        other = fpm.aimpoint_results(s, _GRID_LAT, _GRID_LON, owners, workers=workers)
        for name in fpm.AimpointResults.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(other, name), getattr(fast, name), name)


def test_loft_table_lands_on_every_aimpoint_like_exact_targeting():
    from jointbmd import earth
    from jointbmd.trajectory import aim_from_table, loft_table

    s = fpm.setup(EPAA, "IRBM-X", "Semnan", cue=60.0)
    lat, lon = np.radians(_GRID_LAT), np.radians(_GRID_LON)
    table = loft_table(s.launch_lat_rad, s.launch_lon_rad, s.missile, lat, lon, model=EPAA.model)
    fast = aim_from_table(table, lat, lon)
    exact = aim(s.launch_lat_rad, s.launch_lon_rad, lat, lon, missile=s.missile,
                model=EPAA.model)  # fmt: skip
    # Distance (km) from each cell to the maximum range along its bearing.
    psi = earth.central_angle(s.launch_lat_rad, s.launch_lon_rad, lat, lon)
    bearing = earth.initial_bearing(s.launch_lat_rad, s.launch_lon_rad, lat, lon, model="ideal")
    to_edge_km = (table.max_range(bearing) - psi) * earth.R_IDEAL / 1e3
    near_edge = np.abs(to_edge_km) < EDGE_MARGIN_KM
    assert 0 < exact.converged.sum() < exact.n  # the grid crosses the envelope edge
    np.testing.assert_array_equal(fast.converged[~near_edge], exact.converged[~near_edge])
    both = fast.converged & exact.converged
    # Each fast trajectory lands on its aimpoint (targeting's own 10 m acceptance) ...
    assert np.all(fast.miss_m[fast.converged] < 10.0)
    # ... on nearly the same flight: minimum energy is flat in the loft, the paths are not.
    np.testing.assert_allclose(fast.cutoff_time[both], exact.cutoff_time[both], atol=0.05)
    np.testing.assert_allclose(fast.flight_time[both], exact.flight_time[both], atol=2.0)
    times = np.arange(0.0, np.nanmax(exact.flight_time[both]), 5.0)
    apart = np.linalg.norm(
        fast.trajectories.position_ecef(times)[both]
        - exact.trajectories.position_ecef(times)[both],
        axis=-1,
    )
    assert np.nanmax(apart) < 5e3


def test_footprint_from_the_loft_table_engages_like_exact_targeting(fast_and_exact):
    s, fast, exact = fast_and_exact
    same_reach = fast.reachable == exact.reachable
    assert same_reach.mean() > 0.95
    rows = same_reach & exact.reachable
    assert fast.defended[rows].sum() > 0
    differ = fast.defended[rows] != exact.defended[rows]
    # Where the two disagree, the side that engages does so with almost no margin.
    margin = np.where(fast.defended[rows], fast.margin_s[rows], exact.margin_s[rows])
    assert np.all(margin[differ] < ENGAGE_MARGIN_S)
    agree = fast.defended[rows] & exact.defended[rows]
    # The earliest launch: where the threat's path grazes the interceptor's envelope it moves
    # by seconds for a few hundred metres of path (a 10 s case on the benchmark's grid); most
    # pairs agree to well under a second.
    late = np.abs(fast.earliest_launch_s[rows][agree] - exact.earliest_launch_s[rows][agree])
    assert np.percentile(late, 95) < 1.0


# ---------------------------------------------------------------------------------------------
# Agreement with the single-case API and the simulation's doctrine
# ---------------------------------------------------------------------------------------------


def _single_case(setup_, lat_deg, lon_deg, allowed_s):
    """What a user writes for one aimpoint: aim, sample every second, intercept geometry."""
    sol = aim(setup_.launch_lat_rad, setup_.launch_lon_rad, math.radians(lat_deg),
              math.radians(lon_deg), missile=setup_.missile, model=LISBON.model)  # fmt: skip
    times = np.arange(0.0, float(sol.flight_time[0]) + 1.0, 1.0)
    geometry = intercept_geometry(times, sol.trajectories.position_ecef(times), setup_.units)
    return geometry, geometry.earliest(np.full(setup_.m, allowed_s))


@pytest.mark.slow
@pytest.mark.parametrize(("lat", "lon"), [(44.43, 26.10), (41.0, 28.9)])
def test_one_unit_one_aimpoint_agrees_with_the_single_case_geometry(lat, lon):
    s = fpm.setup(LISBON, "IRBM-X", "Semnan", units=["Deveselu SM-3 IB"], cue=150.0)
    batched = fpm.aimpoint_results(s, [lat], [lon], ["NATO"])
    allowed = 150.0 + s.decision_delay_s
    geometry, single = _single_case(s, lat, lon, allowed)
    assert bool(batched.defended[0, 0]) == bool(single.feasible[0])
    assert single.feasible[0], "the case is meant to be defended"
    # 5 s samples against 1 s samples: the intercept is refined between samples in both.
    assert batched.earliest_launch_s[0, 0] == pytest.approx(single.t_launch[0], abs=2.0)
    assert batched.first_intercept_s[0, 0] == pytest.approx(single.t_intercept[0], abs=2.0)
    ok_launch = np.where(geometry.ok[0], geometry.launch_time[0], np.nan)
    latest = np.nanmax(ok_launch)
    # The latest launch is found at the footprint's sample spacing: it errs by at most the
    # spacing times the steepest slope of the launch time L(t) = t - T_fly inside the envelope.
    tol = s.step_s * max(1.0, float(np.nanmax(np.abs(np.diff(ok_launch)))))
    assert batched.latest_launch_s[0, 0] == pytest.approx(latest, abs=tol)
    assert batched.latest_launch_s[0, 0] <= latest + 1e-6  # never later than the truth
    assert batched.margin_s[0, 0] == pytest.approx(latest - allowed, abs=tol)


@pytest.mark.parametrize("doctrine", ["shoot-look-shoot", "barrage"])
def test_shots_match_the_simulation_when_every_shot_misses(doctrine):
    """``execute_engagements`` with kill draws that never kill fires every shot the doctrine
    allows: the footprint's shot count must be the same."""
    base = fpm.setup(LISBON, "IRBM-X", "Semnan", units=["Deveselu SM-3 IB"], cue=100.0)
    units = base.units
    if doctrine == "barrage":
        from jointbmd.engagement import FireUnits

        units = FireUnits.create(
            lat_rad=units.lat_rad, lon_rad=units.lon_rad, alt_m=units.alt_m,
            interceptor=units.types[0], inventory=units.inventory, salvo=3,
            launch_interval_s=10.0, doctrine="barrage", name=units.name,
        )  # fmt: skip
    import dataclasses

    s = dataclasses.replace(base, units=units)
    lat, lon = 44.43, 26.10
    batched = fpm.aimpoint_results(s, [lat], [lon], ["NATO"])
    geometry, _ = _single_case(s, lat, lon, 0.0)
    outcome = execute_engagements(
        geometry, [0], [0], [100.0 + s.decision_delay_s], np.random.default_rng(0),
        kill_draws=np.ones((1, 100)),
    )  # fmt: skip
    assert outcome.shots.threat_idx.size >= 1
    assert batched.shots[0, 0] == outcome.shots.threat_idx.size
    assert batched.engagements[0, 0] == outcome.shots.salvo_number.max() + 1
    sspk = units.types[0].sspk
    assert batched.p_kill[0, 0] == pytest.approx(1 - (1 - sspk) ** batched.shots[0, 0])


def test_sensor_cue_follows_the_detection_range():
    """A smaller cross-section is detected later: range scales as sigma^(1/4)."""
    s = fpm.setup(LISBON, "IRBM-X", "Semnan", arrangement="data-exchange")
    radar = next(r for r in s.radars if r.name == "Armavir Voronezh-DM")
    sol = aim(s.launch_lat_rad, s.launch_lon_rad, math.radians(55.76), math.radians(37.62),
              missile=s.missile)  # fmt: skip
    times = np.arange(0.0, float(sol.flight_time[0]), 1.0)
    r = sol.trajectories.position_ecef(times)
    big = fpm.firm_track_time(radar, times, r, 1.0, 3)[0]
    small = fpm.firm_track_time(radar, times, r, 0.01, 3)[0]
    assert big < small
    # At the first detection the slant range equals the detection range (within a sample).
    first = int(round(small - 2 * radar.revisit))
    _, _, slant = radar.aer(r[0, first])
    assert slant <= radar.detection_range(0.01)
    assert radar.detection_range(0.01) == pytest.approx(radar.detection_range(1.0) * 0.1**0.5)


def test_usable_radars_follow_the_arrangement():
    radars = fpm.setup(LISBON, "IRBM-X", "Semnan").radars
    latency = fpm.latency_to_centre(LISBON)
    from jointbmd.arrangements import Arrangement

    independent = Arrangement.from_scenario(LISBON, "independent")
    alone = independent.usable_radars("NATO", radars, latency, 5.0)
    assert {r.partner for r, _ in alone} == {"NATO"} and all(d == 0 for _, d in alone)
    for name in ("data-exchange", "sectoral", "joint-consensus"):
        rules = Arrangement.from_scenario(LISBON, name)
        shared = rules.usable_radars("NATO", radars, latency, 5.0)
        assert {r.partner for r, _ in shared} == {"NATO", "Russia"}
        assert {d for r, d in shared if r.partner == "Russia"} == {2.0 + 5.0 + 2.0}


# ---------------------------------------------------------------------------------------------
# Outputs: GeoJSON, --json, errors
# ---------------------------------------------------------------------------------------------

_POSITION = {
    "type": "array",
    "minItems": 2,
    "maxItems": 3,
    "prefixItems": [
        {"type": "number", "minimum": -180, "maximum": 180},
        {"type": "number", "minimum": -90, "maximum": 90},
    ],
}
_RING = {"type": "array", "minItems": 4, "items": _POSITION}
_POLYGON = {
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {"type": {"const": "Polygon"}, "coordinates": {"type": "array", "items": _RING}},
}
_MULTI = {
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"const": "MultiPolygon"},
        "coordinates": {"type": "array", "items": {"type": "array", "items": _RING}},
    },
}
#: The parts of RFC 7946 (sections 3.1.6-3.3) that a footprint file uses.
GEOJSON_SCHEMA = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "geometry", "properties"],
                "properties": {
                    "type": {"const": "Feature"},
                    "geometry": {"oneOf": [_POLYGON, _MULTI]},
                    "properties": {"type": ["object", "null"]},
                },
            },
        },
    },
}


@pytest.fixture(scope="module")
def small_footprint():
    return fpm.footprint(LISBON, "IRBM-X", "Semnan", arrangement="data-exchange", cell_km=250.0,
                         region="NATO")  # fmt: skip


def _rings(geometry):
    polygons = (
        geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    )
    for polygon in polygons:
        yield from ((k, ring) for k, ring in enumerate(polygon))


def _signed_area(ring):
    x, y = np.asarray(ring, float).T
    return 0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def test_geojson_is_rfc7946(small_footprint, tmp_path):
    path = fpm.write_geojson([small_footprint], tmp_path / "fp.geojson")
    data = json.loads(path.read_text())
    jsonschema.Draft202012Validator(GEOJSON_SCHEMA).validate(data)
    layers = {(f["properties"]["layer"], f["properties"]["unit"]) for f in data["features"]}
    assert ("reachable", None) in layers and ("defended", "all") in layers
    for feature in data["features"]:
        geometry = feature["geometry"]
        assert shape(geometry).is_valid
        for k, ring in _rings(geometry):
            assert ring[0] == ring[-1]  # closed
            # Right-hand rule: exterior rings counter-clockwise, holes clockwise.
            assert (_signed_area(ring) > 0) == (k == 0)
    all_defended = next(f for f in data["features"] if f["properties"]["unit"] == "all")
    cells = small_footprint.defended_mask()
    # The dissolved contour holds exactly the defended cells (in degree space).
    g = small_footprint.grid
    union = shape(all_defended["geometry"])
    centres = shapely.points(g.lon_deg, g.lat_deg)
    np.testing.assert_array_equal(shapely.contains(union, centres), cells)


def test_json_keys(small_footprint):
    d = small_footprint.to_dict()
    for key in ("reachable_area_km2", "defended_fraction", "defended_area_km2", "threat",
                "launch", "cell_km", "region", "assets"):  # fmt: skip
        assert key in d
    assert set(d["defended_area_km2"]) == {"all", *small_footprint.setup.unit_names}
    assert set(d["defended_fraction"]) == set(d["defended_area_km2"])
    assert d["defended_area_km2"]["all"] <= d["reachable_area_km2"] <= d["region_area_km2"]
    assert d["defended_area_km2"]["all"] >= max(
        v for k, v in d["defended_area_km2"].items() if k != "all"
    )
    for asset in d["assets"]:
        assert {"name", "defended", "units"} <= set(asset)
        assert asset["defended"] == bool(asset["units"])


@pytest.mark.slow
def test_cli_json_is_a_list_without_threat_and_launch(capsys, tmp_path):
    code, out, _ = run_cli(
        ["footprint", "epaa2011", "--launch", "Tabriz", "--grid-km", "800", "--cue", "60", "--json",
         "--geojson", str(tmp_path / "x.geojson"), "--plot", str(tmp_path / "plots")],
        capsys,
    )  # fmt: skip
    assert code == 0
    rows = json.loads(out)
    raids = load_scenario("epaa2011").raids
    pairs = {(r.threat_type, r.launch_area) for r in raids if r.launch_area == "Tabriz"}
    assert isinstance(rows, list) and {(d["threat"], d["launch"]) for d in rows} == pairs
    assert len(list((tmp_path / "plots").glob("*.png"))) == len(pairs)
    jsonschema.validate(json.loads((tmp_path / "x.geojson").read_text()), GEOJSON_SCHEMA)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--grid-km", "0"], "--grid-km"),
        (["--grid-km", "nan"], "--grid-km"),
        (["--cue", "soon"], "--cue"),
        (["--cue", "-5"], "--cue"),
        (["--region", "1,2,3"], "--region"),
        (["--region", "Atlantis"], "--region"),
        (["--units", "nobody"], "--units"),
        (["--threat", "Scud"], "--threat"),
        (["--launch", "Nowhere"], "--launch"),
        (["--arrangement", "alliance"], "--arrangement"),
    ],
)
def test_bad_flags_are_one_line_errors(args, flag, capsys):
    code, out, err = run_cli(["footprint", "lisbon2010", *args], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "Traceback" not in err
