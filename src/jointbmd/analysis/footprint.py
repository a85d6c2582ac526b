"""Defended-area footprints: which aimpoints of a region each fire unit can defend.

In: a loaded ``Scenario``, one threat type and one launch area, the fire units to map (all by
default), one arrangement, a region (a partner's territory or a lat/lon box), a cell size and a
cue (a fixed delay after threat launch, or ``"sensors"``). Out: a :class:`Footprint` -- per cell
of an equal-area grid over the region and per fire unit whether a threat aimed there can be
engaged, the earliest and latest feasible launch, the shots the unit's doctrine fires and the
resulting kill probability; the reachable and defended areas; the same for the scenario's
defended assets -- and its JSON, GeoJSON and PNG forms. ``footprints`` maps every (threat type,
launch area) pair of the scenario's raids.

Method, all aimpoints at once (no loop over cells):

1. *Grid.* Rows of height ``cell_km`` in latitude; in each row the longitude step makes every
   cell's area exactly ``cell_km²`` on the sphere of radius R = 6 371 km (a cell between φ₀ and
   φ₁ spanning Δλ has area R² Δλ (sin φ₁ - sin φ₀)). A cell belongs to the region when its
   centre does (even-odd rule on the partner's territory polygon, ``arrangements.inside_polygon``).
2. *Threats.* One threat per cell, launched at t = 0 from the launch area's centre on the
   scenario's default (minimum-energy) trajectory: ``trajectory.loft_table`` solves the
   minimum-energy problem exactly on a coarse (bearing, range) table covering the cells, out to
   the missile's maximum range, and ``trajectory.aim_from_table`` lands every cell in one batch
   with the table's loft (cut-off time and azimuth solved per cell); a cell the missile cannot
   reach (beyond the maximum range, or targeting does not converge) is outside the *reachable*
   area. ``exact=True`` solves every cell with ``trajectory.aim`` instead (slower, the same
   answers within the tolerances ``tests/test_footprint.py`` states). Trajectories are
   sampled every ``FOOTPRINT_STEP_S``, ``CHUNK_CELLS`` cells at a time from here on, the
   unreachable cells apart (they have nothing to sample).
3. *Cue.* ``--cue SECONDS``: every unit is cued that long after launch. ``sensors``: the first
   time a radar the arrangement lets the unit use (``Arrangement.usable_radars``) holds a firm
   track, plus that radar's data latency. Deterministic: a radar "detects" a threat when it is in
   the field of view and above the refracted horizon (``Radar.visible``) and within the radar's
   detection range against the threat's cross-section (``Radar.detection_range``: the range at
   which the mean SNR reaches the radar's floor); its track is firm ``confirm_m - 1`` revisits
   after the first detection (the tracker's M-of-N rule with every look a hit). Probability of
   detection below 1 near the edge of cover, the track-accuracy part of "firm" and launch-report
   cueing are not modelled here; the Monte Carlo simulation (``jointbmd run``) has them.
4. *Permission.* Launch is allowed from the cue plus the arrangement's decision latency (plus,
   under ``joint``, the deciding vote's latency, ``arrangements.order_time``). Who may engage
   whom follows ``arrangements.engagement_mask`` with the cell's owner (the partner whose
   territory holds it, none outside every territory); under ``sectoral`` a unit may intercept
   only over its partner's sector, sample by sample.
5. *Geometry.* ``engagement.intercept_geometry`` on every (cell, unit) pair at once. The earliest
   feasible intercept (``InterceptGeometry.earliest``) gives the first shot; the latest feasible
   launch is the largest launch time L(t) = t - T_fly over the trajectory samples inside the
   envelope (sample resolution, ``FOOTPRINT_STEP_S``). The *margin* is latest minus allowed.
6. *Doctrine.* Shots are flown as ``engagement.execute_engagements`` fires them, vectorised over
   the pairs: a salvo's shots ``launch_interval_s`` apart, each at the earliest feasible
   intercept; a shoot-look-shoot unit fires again after the last intercept of a salvo plus the
   kill-assessment delay while an intercept remains feasible and inventory lasts; a barrage unit
   fires one salvo. With a perfect kill assessment, the kill probability of a unit is
   1 - (1 - SSPK)^k for the k shots it can fire (a later salvo is fired only at a survivor).
   The set of units together: defended when any unit is; its kill probability is the best
   single unit's (the simulation's weapon-target assignment gives each threat one unit).

The footprint of one unit for one aimpoint is the same computation as the single-case
``intercept_geometry`` on that threat (``tests/test_footprint.py``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from jointbmd import earth
from jointbmd.arrangements import Arrangement, inside_polygon
from jointbmd.arrays import BoolArray, FloatArray
from jointbmd.engagement import intercept_geometry
from jointbmd.errors import UserError

#: Sampling step of the threat trajectories (s). Intercepts are refined between samples by the
#: intercept geometry; the latest launch and the cue are found at this resolution.
FOOTPRINT_STEP_S = 5.0
#: Cells per geometry batch (bounds the memory of the sampled trajectories: cells x samples x 3
#: x units); targeting flies all the cells of a process in one batch.
CHUNK_CELLS = 1500
#: Every shot a unit may fire is followed; no unit fires more than this many at one threat.
MAX_SHOTS = 64
ALL = "all"
#: Sphere for the cell areas (the same radius as the flyout's ideal sphere).
R_KM = earth.R_IDEAL / 1e3


# --------------------------------------------------------------------------------------------
# Region and grid
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """A partner's territory (``polygon``: (k, 2) [lat_deg, lon_deg]) or a box."""

    name: str
    polygon: FloatArray

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(lat_min, lon_min, lat_max, lon_max) in degrees."""
        lat, lon = self.polygon[:, 0], self.polygon[:, 1]
        return float(lat.min()), float(lon.min()), float(lat.max()), float(lon.max())

    def contains(self, lat_deg: FloatArray, lon_deg: FloatArray) -> BoolArray:
        return inside_polygon(lat_deg, lon_deg, self.polygon)

    @classmethod
    def box(cls, lat0: float, lon0: float, lat1: float, lon1: float) -> Region:
        la0, la1 = sorted((lat0, lat1))
        lo0, lo1 = sorted((lon0, lon1))
        polygon = np.array([[la0, lo0], [la0, lo1], [la1, lo1], [la1, lo0]], float)
        return cls(f"{la0:g},{lo0:g},{la1:g},{lo1:g}", polygon)


def region_of(scenario, spec: str | None) -> Region:
    """``PARTNER`` (its territory) or ``LAT0,LON0,LAT1,LON1``; default: the first partner with
    a territory."""
    if spec is None:
        for partner in scenario.partners:
            if partner.territory:
                return Region(partner.name, np.asarray(partner.territory, float))
        raise UserError("no partner of the scenario has a territory: give a box", field="--region")
    names = [p.name for p in scenario.partners]
    if spec in names:
        territory = scenario.partner(spec).territory
        if not territory:
            raise UserError(f"partner {spec!r} has no territory in the scenario", field="--region")
        return Region(spec, np.asarray(territory, float))
    parts = spec.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise UserError(
            f"expected a partner ({', '.join(names)}) or LAT0,LON0,LAT1,LON1, got {spec!r}",
            field="--region",
        )
    lat0, lon0, lat1, lon1 = values
    if not (-90 <= lat0 <= 90 and -90 <= lat1 <= 90 and lat0 != lat1 and lon0 != lon1):
        raise UserError(f"not a box of latitudes in [-90, 90]: {spec!r}", field="--region")
    if not (-180 <= lon0 <= 360 and -180 <= lon1 <= 360):
        raise UserError(f"longitudes must lie in [-180, 360]: {spec!r}", field="--region")
    return Region.box(lat0, lon0, lat1, lon1)


@dataclass(frozen=True)
class Grid:
    """Equal-area cells (N,): centre, edges (degrees) and area (km²)."""

    cell_km: float
    lat_deg: FloatArray
    lon_deg: FloatArray
    lat_edges_deg: FloatArray  # (N, 2) south, north
    lon_edges_deg: FloatArray  # (N, 2) west, east
    area_km2: FloatArray

    @property
    def n(self) -> int:
        return int(self.lat_deg.shape[0])


def equal_area_grid(region: Region, cell_km: float) -> Grid:
    """Cells of ``cell_km²`` whose centres lie in the region (module docstring, step 1)."""
    lat_min, lon_min, lat_max, lon_max = region.bounds
    dphi = math.degrees(cell_km / R_KM)
    south = np.arange(lat_min, lat_max, dphi)
    rows = []
    for s in south:
        n_ = min(s + dphi, 90.0)
        band = math.sin(math.radians(n_)) - math.sin(math.radians(s))
        dlon = math.degrees(cell_km**2 / (R_KM**2 * band))
        west = np.arange(lon_min, lon_max, dlon)
        rows.append((np.full(west.shape, s), np.full(west.shape, n_), west, west + dlon))
    s_, n_, w_, e_ = (np.concatenate(parts) for parts in zip(*rows, strict=True))
    lat_c, lon_c = 0.5 * (s_ + n_), 0.5 * (w_ + e_)
    keep = region.contains(lat_c, lon_c)
    area = R_KM**2 * np.radians(e_ - w_) * (np.sin(np.radians(n_)) - np.sin(np.radians(s_)))
    return Grid(
        cell_km=float(cell_km),
        lat_deg=lat_c[keep],
        lon_deg=lon_c[keep],
        lat_edges_deg=np.column_stack([s_, n_])[keep],
        lon_edges_deg=np.column_stack([w_, e_])[keep],
        area_km2=area[keep],
    )


# --------------------------------------------------------------------------------------------
# Which radars a unit may use, and when they hold a firm track
# --------------------------------------------------------------------------------------------


def latency_to_centre(scenario) -> dict[str, float]:
    """Each partner's link latency (s) to the fusion centre (partners without a link absent)."""
    from jointbmd.simulation.picture import centre_name

    centre = centre_name(scenario)
    out: dict[str, float] = {}
    for link in scenario.links:
        ends = {link.a, link.b}
        if centre in ends and len(ends) == 2:
            (partner,) = ends - {centre}
            out[partner] = float(link.latency_s)
    return out


def firm_track_time(
    radar, times: FloatArray, r_ecef: FloatArray, rcs_m2: float, confirm_scans: int
) -> FloatArray:
    """First time (s, NaN: never) each trajectory ``r_ecef (n, T, 3)`` sampled at ``times`` is
    held in firm track by one radar (module docstring, step 3)."""
    _, _, slant = radar.aer(r_ecef)
    with np.errstate(invalid="ignore"):
        detectable = radar.visible(r_ecef) & (slant <= radar.detection_range(rcs_m2))
    first = np.argmax(detectable, axis=1)
    seen = detectable.any(axis=1)
    t_first = np.where(seen, times[first], np.nan)
    return t_first + (confirm_scans - 1) * radar.revisit


# --------------------------------------------------------------------------------------------
# The footprint of a set of aimpoints
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """Everything but the aimpoints: the threat, the launch point, the units, the arrangement
    and the cue, resolved from the scenario."""

    scenario: Any
    threat: str
    launch: str
    missile: Any
    rcs_m2: float
    launch_lat_rad: float
    launch_lon_rad: float
    unit_names: tuple[str, ...]
    unit_partner: tuple[str, ...]
    units: Any  # engagement.FireUnits
    rules: Arrangement
    cue: float | None  # None: sensors
    decision_delay_s: float
    radars: tuple[Any, ...]
    unit_radars: tuple[tuple[tuple[Any, float], ...], ...]
    confirm_scans: int
    step_s: float = FOOTPRINT_STEP_S

    @property
    def m(self) -> int:
        return len(self.unit_names)


def setup(
    scenario,
    threat: str,
    launch: str,
    *,
    units: Sequence[str] | None = None,
    arrangement: str | None = None,
    cue: float | str = "sensors",
    step_s: float = FOOTPRINT_STEP_S,
) -> Setup:
    """Resolve names against the scenario (``UserError`` naming the flag when one is unknown)."""
    from jointbmd.engagement import FireUnits
    from jointbmd.missiles import ThreatMissile
    from jointbmd.simulation.decide import fire_units_of
    from jointbmd.simulation.picture import PictureSettings, radar_data_use, radars_of
    from jointbmd.tracking import Tracker

    types = [t.name for t in scenario.threat_types]
    if threat not in types:
        raise UserError(f"unknown threat type {threat!r} (known: {', '.join(types)})",
                        field="--threat")  # fmt: skip
    areas = [a.name for a in scenario.launch_areas]
    if launch not in areas:
        raise UserError(f"unknown launch area {launch!r} (known: {', '.join(areas)})",
                        field="--launch")  # fmt: skip
    all_units = fire_units_of(scenario)
    if all_units is None:
        raise UserError("the scenario has no fire units", field="--units")
    names = list(all_units.units.name)
    chosen = names if not units else list(dict.fromkeys(units))
    for name in chosen:
        if name not in names:
            raise UserError(f"unknown fire unit {name!r} (known: {', '.join(names)})",
                            field="--units")  # fmt: skip
    idx = [names.index(name) for name in chosen]
    u = all_units.units
    fire_units = FireUnits.create(
        lat_rad=u.lat_rad[idx],
        lon_rad=u.lon_rad[idx],
        alt_m=u.alt_m[idx],
        interceptor=[u.types[u.type_index[j]] for j in idx],
        inventory=u.inventory[idx],
        salvo=u.salvo[idx],
        launch_interval_s=u.launch_interval_s[idx],
        doctrine=["shoot-look-shoot" if u.shoot_look_shoot[j] else "barrage" for j in idx],
        kill_assessment_delay_s=u.kill_assessment_delay_s[idx],
        name=chosen,
    )
    partners = tuple(all_units.partner[j] for j in idx)
    arrangement_names = [a.name for a in scenario.arrangements]
    name = arrangement if arrangement is not None else arrangement_names[0]
    if name not in arrangement_names:
        raise UserError(f"unknown arrangement {name!r} (known: {', '.join(arrangement_names)})",
                        field="--arrangement")  # fmt: skip
    rules = Arrangement.from_scenario(scenario, name)
    fixed = None if cue == "sensors" else float(cue)
    if fixed is not None and not (math.isfinite(fixed) and fixed >= 0):
        raise UserError(f"must be 'sensors' or seconds >= 0, got {cue!r}", field="--cue")
    voters = [p.name for p in scenario.partners]
    decision = rules.launch_permitted_at(rules.order_time(0.0, voters))
    radars = tuple(radars_of(scenario))
    data_use = {name: level for name, (level, _) in radar_data_use(scenario).items()}
    latency = latency_to_centre(scenario) if scenario.links else {}
    cycle = PictureSettings().report_interval_s
    threat_type = scenario.threat_type(threat)
    area = scenario.launch_area(launch)
    return Setup(
        scenario=scenario,
        threat=threat,
        launch=launch,
        missile=ThreatMissile.from_threat_type(threat_type),
        rcs_m2=float(threat_type.reentry_vehicle.rcs_m2),
        launch_lat_rad=math.radians(area.lat_deg),
        launch_lon_rad=math.radians(area.lon_deg),
        unit_names=tuple(chosen),
        unit_partner=partners,
        units=fire_units,
        rules=rules,
        cue=fixed,
        decision_delay_s=float(decision),
        radars=radars,
        unit_radars=tuple(
            tuple(rules.usable_radars(p, radars, latency, cycle, data_use)) for p in partners
        ),
        confirm_scans=Tracker(model=scenario.model).confirm_m,
        step_s=step_s,
    )


@dataclass(frozen=True)
class AimpointResults:
    """Per aimpoint (N,) and per (aimpoint, unit) (N, m); times in s after threat launch, NaN
    where not applicable."""

    reachable: BoolArray  # (N,) the threat can reach the aimpoint
    flight_time_s: FloatArray  # (N,)
    cue_s: FloatArray  # (N, m) firm track (or fixed cue) available to the unit
    allowed_launch_s: FloatArray  # (N, m) cue + decision delay (inf: never allowed)
    permitted: BoolArray  # (N, m) the arrangement lets the unit engage a threat to this point
    defended: BoolArray  # (N, m) at least one shot can be fired
    earliest_launch_s: FloatArray  # (N, m) first feasible launch
    latest_launch_s: FloatArray  # (N, m) last feasible launch (sample resolution)
    first_intercept_s: FloatArray  # (N, m)
    first_intercept_altitude_km: FloatArray  # (N, m)
    margin_s: FloatArray  # (N, m) latest feasible launch - allowed launch
    shots: NDArray[np.int64]  # (N, m) interceptors the doctrine fires (at most)
    engagements: NDArray[np.int64]  # (N, m) salvos (shot opportunities)
    p_kill: FloatArray  # (N, m)

    @property
    def defended_any(self) -> BoolArray:
        return self.defended.any(axis=1)

    @property
    def p_kill_all(self) -> FloatArray:
        return self.p_kill.max(axis=1, initial=0.0)


def aimpoint_results(
    setup_: Setup,
    aim_lat_deg: FloatArray,
    aim_lon_deg: FloatArray,
    aimpoint_partner: Sequence[str | None],
    *,
    workers: int = 1,
    exact: bool = False,
) -> AimpointResults:
    """The footprint quantities of every aimpoint, in batches of ``CHUNK_CELLS`` (spread over
    ``workers`` processes when > 1; the results do not depend on it: nothing is random).
    ``exact``: targeting by ``trajectory.aim`` per aimpoint rather than from one loft table
    (module docstring, step 2)."""
    from jointbmd.trajectory import loft_table

    lat = np.atleast_1d(np.asarray(aim_lat_deg, float))
    lon = np.atleast_1d(np.asarray(aim_lon_deg, float))
    owners = list(aimpoint_partner)
    table = None
    if not exact:
        # One table for all chunks: the same loft whatever the chunking.
        table = loft_table(setup_.launch_lat_rad, setup_.launch_lon_rad, setup_.missile,
                           np.radians(lat), np.radians(lon),
                           model=setup_.scenario.model)  # fmt: skip
    # Targeting flies a group's cells together (a propagation's cost is mostly per step, not
    # per trajectory: one batch of every cell takes a few times less than chunk by chunk);
    # the geometry goes chunk by chunk (its arrays are cells x samples x units). One group, or
    # one per worker; ``exact`` keeps groups of a chunk (``aim``'s own batches). Every cell's
    # answer is its own, whatever its group and chunk.
    n = lat.shape[0]
    size = CHUNK_CELLS if exact else max(1, -(-n // max(1, workers)))
    args = [(lat[a : a + size], lon[a : a + size], owners[a : a + size]) for a in range(0, n, size)]
    if workers <= 1 or len(args) == 1:
        parts = [_group(setup_, *arg, table) for arg in args]
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(
                pool.map(_group, [setup_] * len(args), *zip(*args, strict=True),
                         [table] * len(args))
            )  # fmt: skip
    return _concatenate(parts)


def _concatenate(parts: Sequence[AimpointResults]) -> AimpointResults:
    return AimpointResults(
        **{
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in AimpointResults.__dataclass_fields__
        }
    )


def _group(s: Setup, lat_deg, lon_deg, owners, table=None) -> AimpointResults:
    """Target a group of cells in one batch (from the loft table, or exactly), then the rest of
    the footprint chunk by chunk (``CHUNK_CELLS``)."""
    from jointbmd.trajectory import aim, aim_from_table

    if table is not None:
        solution = aim_from_table(table, np.radians(lat_deg), np.radians(lon_deg))
    else:
        solution = aim(
            s.launch_lat_rad, s.launch_lon_rad, np.radians(lat_deg), np.radians(lon_deg),
            model=s.scenario.model, missile=s.missile,
        )  # fmt: skip
    starts = range(0, lat_deg.shape[0], CHUNK_CELLS)
    return _concatenate([
        _chunk(s, _rows(solution, slice(a, a + CHUNK_CELLS)), owners[a : a + CHUNK_CELLS])
        for a in starts
    ])  # fmt: skip


def _rows(solution, rows: slice | NDArray):
    """The solution (``trajectory.Solution``) of some of its aimpoints: every per-aimpoint array
    sliced, its trajectories' too (dense output included)."""
    traj = solution.trajectories
    sliced = {
        name: getattr(traj, name)[rows]
        for name in traj.__dataclass_fields__
        if isinstance(getattr(traj, name), np.ndarray)
    }
    return dataclasses.replace(
        solution,
        trajectories=dataclasses.replace(traj, **sliced),
        **{
            name: getattr(solution, name)[rows]
            for name in solution.__dataclass_fields__
            if isinstance(getattr(solution, name), np.ndarray)
        },
    )


def _chunk(s: Setup, solution, owners) -> AimpointResults:
    """The footprint quantities of a chunk of targeted cells. The cells the threat cannot reach
    go apart: they have no trajectory to sample, so they are done on two samples rather than
    on the reachable cells' whole flight (the same answers, row by row)."""
    reachable = np.asarray(solution.converged, bool)
    if reachable.all() or not reachable.any():
        return _cells(s, solution, owners)
    parts = [
        (rows, _cells(s, _rows(solution, rows), [owners[k] for k in rows]))
        for rows in (np.flatnonzero(reachable), np.flatnonzero(~reachable))
    ]
    merged = {}
    for name in AimpointResults.__dataclass_fields__:
        first = getattr(parts[0][1], name)
        out = np.empty((reachable.shape[0],) + first.shape[1:], first.dtype)
        for rows, part in parts:
            out[rows] = getattr(part, name)
        merged[name] = out
    return AimpointResults(**merged)


def _cells(s: Setup, solution, owners) -> AimpointResults:
    n, m = solution.n, s.m
    model = s.scenario.model
    reachable = np.asarray(solution.converged, bool)
    flight = np.where(reachable, solution.flight_time, np.nan)
    t_end = np.nanmax(flight) if reachable.any() else s.step_s
    times = np.arange(0.0, t_end + s.step_s, s.step_s)
    r = solution.trajectories.position_ecef(times)
    r[~reachable] = np.nan
    cue = _cue(s, times, r, n)
    permitted = _permitted(s, owners)
    allowed = np.where(permitted & reachable[:, None], cue + s.decision_delay_s, np.inf)
    allowed = np.nan_to_num(allowed, nan=np.inf)
    geometry = intercept_geometry(times, r, s.units, model=model)
    if s.rules.kind == "sectoral":
        geometry = _in_sectors(s, geometry, r, model)
    e = allowed.ravel()
    first = geometry.earliest(e)
    with np.errstate(invalid="ignore"):
        late_ok = geometry.ok & (geometry.launch_time >= e[:, None])
    latest = np.where(late_ok, geometry.launch_time, -np.inf).max(axis=1)
    latest = np.where(first.feasible, np.maximum(latest, first.t_launch), np.nan)
    shots, salvos = _doctrine(s, geometry, e, first)
    sspk = s.units.sspk
    shape = (n, m)
    shots = shots.reshape(shape)
    return AimpointResults(
        reachable=reachable,
        flight_time_s=flight,
        cue_s=cue,
        allowed_launch_s=allowed,
        permitted=permitted & reachable[:, None],
        defended=first.feasible.reshape(shape),
        earliest_launch_s=first.t_launch.reshape(shape),
        latest_launch_s=latest.reshape(shape),
        first_intercept_s=first.t_intercept.reshape(shape),
        first_intercept_altitude_km=first.altitude_m.reshape(shape) / 1e3,
        margin_s=(latest - np.where(first.feasible, e, np.nan)).reshape(shape),
        shots=shots,
        engagements=salvos.reshape(shape),
        p_kill=1.0 - (1.0 - sspk[None, :]) ** shots,
    )


def _cue(s: Setup, times: FloatArray, r: FloatArray, n: int) -> FloatArray:
    """(n, m) time each unit is cued: the fixed cue, or its usable radars' first firm track."""
    if s.cue is not None:
        return np.full((n, s.m), s.cue)
    firm = {
        radar.name: firm_track_time(radar, times, r, s.rcs_m2, s.confirm_scans)
        for radar in s.radars
    }
    out = np.full((n, s.m), np.nan)
    for j, usable in enumerate(s.unit_radars):
        for radar, delay in usable:
            out[:, j] = np.fmin(out[:, j], firm[radar.name] + delay)
    return out


def _permitted(s: Setup, owners: Sequence[str | None]) -> BoolArray:
    """(n, m) whether the arrangement lets each unit engage a threat to each aimpoint (sectoral:
    any, the sector is applied to the intercept points)."""
    n = len(owners)
    if s.rules.kind == "sectoral":
        return np.ones((n, s.m), bool)
    targets = np.array([o if o is not None else "" for o in owners], dtype=object)
    return s.rules.may_engage(s.unit_partner, targets)


def _in_sectors(s: Setup, geometry, r: FloatArray, model: str):
    """Sectoral: a unit intercepts only over its own partner's sector (both samples of the
    refinement interval inside)."""
    import dataclasses

    lat, lon, _ = earth.ecef_to_geodetic(r, model)
    owner = s.rules.sector_owner(np.degrees(lat), np.degrees(lon))
    row_partner = np.asarray(s.unit_partner, dtype=object)[geometry.unit_idx]
    inside = owner[geometry.threat_idx] == row_partner[:, None]
    inside[:, 1:] &= inside[:, :-1]
    return dataclasses.replace(geometry, ok=geometry.ok & inside)


def _doctrine(s: Setup, geometry, e: FloatArray, first) -> tuple[NDArray, NDArray]:
    """Shots and salvos each pair's unit can fire (module docstring, step 6), every pair at
    once, shot by shot."""
    units = s.units
    j = geometry.unit_idx
    salvo, interval = units.salvo[j], units.launch_interval_s[j]
    sls, delay = units.shoot_look_shoot[j], units.kill_assessment_delay_s[j]
    budget = np.minimum(units.inventory[j], MAX_SHOTS)
    p = e.shape[0]
    shots = np.zeros(p, np.int64)
    salvos = np.zeros(p, np.int64)
    in_salvo = np.zeros(p, np.int64)  # shots fired in the current salvo
    last_intercept = np.full(p, -np.inf)
    next_allowed = e.copy()
    sol_t_launch, sol_t_int = first.t_launch.copy(), first.t_intercept.copy()
    active = first.feasible & (budget > 0)
    rows = np.flatnonzero(active)
    feasible = first.feasible.copy()
    while rows.size:
        # Fire the shot found for each active row.
        shots[rows] += 1
        salvos[rows] += in_salvo[rows] == 0
        in_salvo[rows] += 1
        last_intercept[rows] = np.maximum(last_intercept[rows], sol_t_int[rows])
        next_allowed[rows] = sol_t_launch[rows] + interval[rows]
        # Next shot: the rest of the salvo, or (shoot-look-shoot) the next salvo after a look.
        done = in_salvo[rows] >= salvo[rows]
        look = done & sls[rows]
        stop = (done & ~sls[rows]) | (shots[rows] >= budget[rows])
        nxt = rows[look & ~stop]
        next_allowed[nxt] = np.maximum(next_allowed[nxt], last_intercept[nxt] + delay[nxt])
        in_salvo[rows[done]] = 0
        rows = rows[~stop]
        if rows.size == 0:
            break
        sol = geometry.earliest(next_allowed[rows], rows)
        feasible[rows] = sol.feasible
        sol_t_launch[rows], sol_t_int[rows] = sol.t_launch, sol.t_intercept
        rows = rows[sol.feasible]
    return shots, salvos


# --------------------------------------------------------------------------------------------
# The footprint of a region
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssetRow:
    name: str
    partner: str
    reachable: bool
    defended: bool
    units: tuple[str, ...]
    margin_s: dict[str, float]
    p_kill: float


@dataclass(frozen=True)
class Footprint:
    """One (threat, launch area) footprint over a region (module docstring)."""

    setup: Setup
    region: Region
    grid: Grid
    cells: AimpointResults
    assets: tuple[AssetRow, ...]
    assumptions: tuple[str, ...] = field(default=())

    @property
    def reachable_area_km2(self) -> float:
        return float(self.grid.area_km2[self.cells.reachable].sum())

    def defended_mask(self, unit: str = ALL) -> BoolArray:
        c = self.cells
        if unit == ALL:
            return c.defended_any & c.reachable
        return c.defended[:, self.setup.unit_names.index(unit)] & c.reachable

    def defended_area_km2(self) -> dict[str, float]:
        keys = [ALL, *self.setup.unit_names]
        return {k: float(self.grid.area_km2[self.defended_mask(k)].sum()) for k in keys}

    def defended_fraction(self) -> dict[str, float | None]:
        reach = self.reachable_area_km2
        return {k: (v / reach if reach > 0 else None) for k, v in self.defended_area_km2().items()}

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object (its documented keys and what drives them)."""
        s = self.setup
        c = self.cells
        reach = c.reachable
        per_unit = {}
        for j, name in enumerate(s.unit_names):
            sel = c.defended[:, j] & reach
            per_unit[name] = {
                "partner": s.unit_partner[j],
                "interceptor": s.units.types[s.units.type_index[j]].name,
                "doctrine": "shoot-look-shoot" if s.units.shoot_look_shoot[j] else "barrage",
                "mean_shots_where_defended": _mean(c.shots[sel, j]),
                "mean_p_kill_where_defended": _mean(c.p_kill[sel, j]),
                "median_margin_s_where_defended": _median(c.margin_s[sel, j]),
                "radars": [radar.name for radar, _ in s.unit_radars[j]],
            }
        sel_all = self.defended_mask()
        return {
            "threat": s.threat,
            "launch": s.launch,
            "arrangement": s.rules.name,
            "cue": "sensors" if s.cue is None else s.cue,
            "decision_delay_s": s.decision_delay_s,
            "region": self.region.name,
            "cell_km": self.grid.cell_km,
            "cells": self.grid.n,
            "region_area_km2": float(self.grid.area_km2.sum()),
            "reachable_area_km2": self.reachable_area_km2,
            "defended_area_km2": self.defended_area_km2(),
            "defended_fraction": self.defended_fraction(),
            "mean_p_kill_where_defended": {ALL: _mean(c.p_kill_all[sel_all])},
            "units": per_unit,
            "assets": [
                {
                    "name": a.name,
                    "partner": a.partner,
                    "reachable": a.reachable,
                    "defended": a.defended,
                    "units": list(a.units),
                    "margin_s": a.margin_s,
                    "p_kill": a.p_kill,
                }
                for a in self.assets
            ],
            "assumptions": list(self.assumptions),
        }


def _mean(x: FloatArray) -> float | None:
    return float(np.mean(x)) if np.size(x) else None


def _median(x: FloatArray) -> float | None:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else None


def owner_of(scenario, lat_deg: FloatArray, lon_deg: FloatArray) -> list[str | None]:
    """The partner whose territory holds each point (the first listed; None outside all)."""
    owner: list[str | None] = [None] * int(np.size(lat_deg))
    for partner in scenario.partners:
        if not partner.territory:
            continue
        inside = inside_polygon(lat_deg, lon_deg, np.asarray(partner.territory, float))
        for k in np.flatnonzero(inside):
            if owner[k] is None:
                owner[k] = partner.name
    return owner


def footprint(
    scenario,
    threat: str,
    launch: str,
    *,
    units: Sequence[str] | None = None,
    arrangement: str | None = None,
    cell_km: float = 50.0,
    region: str | Region | None = None,
    cue: float | str = "sensors",
) -> Footprint:
    """The footprint of one threat type from one launch area (module docstring)."""
    if not (math.isfinite(cell_km) and 1.0 <= cell_km <= 2000.0):
        raise UserError(f"must be a cell size in km within [1, 2000], got {cell_km:g}",
                        field="--grid-km")  # fmt: skip
    s = setup(scenario, threat, launch, units=units, arrangement=arrangement, cue=cue)
    reg = region if isinstance(region, Region) else region_of(scenario, region)
    grid = equal_area_grid(reg, cell_km)
    if grid.n == 0:
        raise UserError(f"no cell of {cell_km:g} km falls inside the region", field="--grid-km")
    assets = scenario.defended_assets
    # The assets go into the same batch as the cells (one targeting solve for all).
    both = aimpoint_results(
        s,
        np.concatenate([grid.lat_deg, [a.lat_deg for a in assets]]),
        np.concatenate([grid.lon_deg, [a.lon_deg for a in assets]]),
        owner_of(scenario, grid.lat_deg, grid.lon_deg) + [a.partner for a in assets],
    )
    cells = _take(both, slice(0, grid.n))
    asset_rows = _assets(s, _take(both, slice(grid.n, None)))
    return Footprint(s, reg, grid, cells, asset_rows, _assumptions(s))


def _take(res: AimpointResults, rows: slice) -> AimpointResults:
    return AimpointResults(
        **{name: getattr(res, name)[rows] for name in AimpointResults.__dataclass_fields__}
    )


def _assets(s: Setup, res: AimpointResults) -> tuple[AssetRow, ...]:
    assets = s.scenario.defended_assets
    rows = []
    for k, asset in enumerate(assets):
        by = tuple(name for j, name in enumerate(s.unit_names) if res.defended[k, j])
        rows.append(
            AssetRow(
                name=asset.name,
                partner=asset.partner,
                reachable=bool(res.reachable[k]),
                defended=bool(res.defended[k].any()),
                units=by,
                margin_s={name: float(res.margin_s[k, s.unit_names.index(name)]) for name in by},
                p_kill=float(res.p_kill_all[k]),
            )
        )
    return tuple(rows)


def _assumptions(s: Setup) -> tuple[str, ...]:
    cue = (
        f"cue: fixed, {s.cue:g} s after threat launch"
        if s.cue is not None
        else f"cue: first firm track of a usable radar (detection range against the threat's "
        f"{s.rcs_m2:g} m^2, field of view, refracted horizon; firm {s.confirm_scans - 1} "
        "revisits after first detection; P_d = 1 inside the detection range)"
    )
    return (
        f"threat launched at t = 0 from the centre of launch area {s.launch!r} on the "
        "minimum-energy trajectory",
        cue,
        f"launch allowed {s.decision_delay_s:g} s after the cue ({s.rules.name}: decision "
        "latency, and under joint the deciding vote)",
        "kill probability 1 - (1 - SSPK)^shots with a perfect kill assessment; the set of units: "
        "the best single unit",
        f"latest feasible launch at {s.step_s:g} s resolution",
    )


def footprint_pairs(scenario, threat: str | None, launch: str | None) -> list[tuple[str, str]]:
    """(threat type, launch area) pairs: the given ones, or those of the scenario's raids."""
    if threat is not None and launch is not None:
        return [(threat, launch)]
    pairs = [
        (r.threat_type, r.launch_area)
        for r in scenario.raids
        if (threat is None or r.threat_type == threat)
        and (launch is None or r.launch_area == launch)
    ]
    pairs = list(dict.fromkeys(pairs))
    if not pairs:
        field_ = "--threat" if threat is not None else "--launch"
        raise UserError(f"no raid of the scenario has {threat or launch!r}", field=field_)
    return pairs


def footprints(scenario, threat=None, launch=None, **options) -> list[Footprint]:
    """One footprint per (threat type, launch area) pair (``footprint_pairs``)."""
    return [
        footprint(scenario, t, a, **options) for t, a in footprint_pairs(scenario, threat, launch)
    ]


# --------------------------------------------------------------------------------------------
# GeoJSON (RFC 7946) and the map
# --------------------------------------------------------------------------------------------


def _cells_polygon(fp: Footprint, mask: BoolArray):
    """The union of the cells in ``mask`` as a shapely (Multi)Polygon in (lon, lat)."""
    import shapely
    from shapely.geometry import box
    from shapely.geometry.polygon import orient

    g = fp.grid
    boxes = [
        box(g.lon_edges_deg[k, 0], g.lat_edges_deg[k, 0], g.lon_edges_deg[k, 1],
            g.lat_edges_deg[k, 1])
        for k in np.flatnonzero(mask)
    ]  # fmt: skip
    if not boxes:
        return None
    merged = shapely.union_all(boxes, grid_size=1e-6)
    if merged.geom_type == "Polygon":
        return orient(merged, 1.0)
    return shapely.MultiPolygon([orient(p, 1.0) for p in merged.geoms])


def geojson(fps: Iterable[Footprint]) -> dict[str, Any]:
    """A FeatureCollection (RFC 7946: WGS84 lon/lat, counter-clockwise exterior rings): per
    footprint the reachable area and the defended area of each unit and of all together."""
    from shapely.geometry import mapping

    features = []
    for fp in fps:
        s = fp.setup
        areas, fractions = fp.defended_area_km2(), fp.defended_fraction()
        layers = [("reachable", fp.cells.reachable)] + [
            (name, fp.defended_mask(name)) for name in (ALL, *s.unit_names)
        ]
        for layer, mask in layers:
            shape = _cells_polygon(fp, mask)
            if shape is None:
                continue
            props = {
                "threat": s.threat,
                "launch": s.launch,
                "arrangement": s.rules.name,
                "region": fp.region.name,
                "cell_km": fp.grid.cell_km,
                "layer": "reachable" if layer == "reachable" else "defended",
                "unit": None if layer == "reachable" else layer,
                "area_km2": fp.reachable_area_km2 if layer == "reachable" else areas[layer],
                "defended_fraction": None if layer == "reachable" else fractions[layer],
            }
            geometry = json.loads(json.dumps(mapping(shape)))
            geometry["coordinates"] = _rounded(geometry["coordinates"])
            features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return {"type": "FeatureCollection", "features": features}


def _rounded(coords: Any) -> Any:
    if coords and isinstance(coords[0], int | float):
        return [round(float(coords[0]), 6), round(float(coords[1]), 6)]
    return [_rounded(c) for c in coords]


def write_geojson(fps: Sequence[Footprint], path: str | Path) -> Path:
    out = Path(path)
    try:
        out.write_text(json.dumps(geojson(fps)), encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot write: {error.strerror}", file=str(out),
                        field="--geojson") from None  # fmt: skip
    return out


def plot_footprint(fp: Footprint, path: str | Path) -> Path:
    """A PNG map: defended cells per unit on the offline coastlines, sites, assets, launch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jointbmd.report.plots import read_polylines

    s, g = fp.setup, fp.grid
    lat_min, lon_min, lat_max, lon_max = fp.region.bounds
    area = s.scenario.launch_area(s.launch)
    lon_min, lon_max = min(lon_min, area.lon_deg) - 2, max(lon_max, area.lon_deg) + 2
    lat_min, lat_max = min(lat_min, area.lat_deg) - 2, max(lat_max, area.lat_deg) + 2
    fig, ax = plt.subplots(figsize=(10, 7.5))
    for kind, colour in (("gshhs", "0.55"), ("countries", "0.8")):
        for level, line in read_polylines(kind, (lon_min, lon_max, lat_min, lat_max)):
            if level in (1, -1):
                ax.plot(line[:, 0], line[:, 1], color=colour, lw=0.5)
    count = np.zeros(g.n, int)
    for name in s.unit_names:
        count += fp.defended_mask(name)
    reach = fp.cells.reachable
    colours = np.where(~reach, np.nan, count)
    sc = ax.scatter(g.lon_deg, g.lat_deg, c=colours, s=max(1.0, 2000.0 / math.sqrt(g.n)),
                    marker="s", cmap="viridis", vmin=0, vmax=max(1, s.m), alpha=0.55)  # fmt: skip
    fig.colorbar(sc, ax=ax, label="fire units that can engage (reachable cells)")
    poly = np.vstack([fp.region.polygon, fp.region.polygon[:1]])
    ax.plot(poly[:, 1], poly[:, 0], "k-", lw=0.8, label=f"region {fp.region.name}")
    units = s.units
    ax.plot(np.degrees(units.lon_rad), np.degrees(units.lat_rad), "r^", ms=8, label="fire units")
    for j, name in enumerate(s.unit_names):
        ax.annotate(name, (math.degrees(units.lon_rad[j]), math.degrees(units.lat_rad[j])),
                    fontsize=7, xytext=(4, 4), textcoords="offset points")  # fmt: skip
    for a in fp.assets:
        asset = s.scenario.defended_asset(a.name)
        ax.plot(asset.lon_deg, asset.lat_deg, "o", color="tab:green" if a.defended else "tab:red",
                ms=5)  # fmt: skip
        ax.annotate(a.name, (asset.lon_deg, asset.lat_deg), fontsize=6)
    ax.plot(area.lon_deg, area.lat_deg, "kx", ms=9, label=f"launch area {s.launch}")
    frac = fp.defended_fraction()[ALL]
    ax.set_title(
        f"{s.scenario.name}: {s.threat} from {s.launch}, {s.rules.name}; defended "
        f"{'-' if frac is None else f'{100 * frac:.0f} %'} of the reachable {fp.region.name}"
    )
    ax.set_xlim(lon_min, lon_max)
    ax.set_ylim(lat_min, lat_max)
    ax.set_aspect(1.0 / math.cos(math.radians(0.5 * (lat_min + lat_max))))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.legend(loc="lower left", fontsize=7)
    out = Path(path)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out
