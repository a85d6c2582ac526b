"""Interceptor reach against a scenario's threat routes: who can catch what, when, and how fast
an interceptor would have to be.

In: a loaded ``Scenario``; optionally interceptor-type and site names (default: every interceptor
type of the scenario at every site that holds a fire unit) and commit rules (``launch``,
``burnout``, ``burnout+N`` or N seconds after the threat's launch). Out: ``ReachResult`` -- one
row per (site, interceptor type, threat route) with, per commit rule, whether an intercept is
feasible, what limit forbids it when it is not (the kinematics, or the type's caps), the intercept
time, altitude and ground range; the latest commit time; the minimum burnout speed that would
make the route feasible; and the "checkable criteria" of each interceptor type at each site.
Everything is computed in batches: all routes against all units at once through the engagement
stage's intercept geometry.

Routes. Each raid of the scenario gives a route (threat type, launch area, aimpoint, trajectory
shape); duplicates are merged. A route is flown from the launch area's centre, launched at
t = 0, by the trajectory stage's targeting on the scenario's Earth model (``jointbmd.trajectory
.aim``) and sampled every ``STEP_S`` seconds.

Feasibility. An interceptor launched at L meets the threat at time t if the threat's position
then is inside the type's envelope (floor, caps) and L <= t - T_fly(s(t), h(t)) (the reach
table's minimum flyout time, ``jointbmd.engagement``). With launch allowed from the commit time
c, the route is feasible iff L_max >= c, where L_max = max_t (t - T_fly) over the envelope: the
*latest commit*. Feasibility is therefore monotone in the commit time by construction. In the
burnout speed it is monotone when a faster type (same burn time) reaches every point no later
than a slower one: a property of the boost-programme family, not a theorem. The family's direct
branch (fixed attitudes) keeps the low points close to the site, passed early in a fast burn,
reachable at every speed (docs/modelling.md, Engagement), and ``tests/test_reach.py`` checks
monotonicity from 1 to 9 km/s. The speed search assumes it. A commit rule is an earliest
launch time: ``launch`` (0: the physical upper bound, no warning time at all), ``burnout``
(the threat's burnout), ``burnout+N``, or N seconds after launch.

Which limit. Each answer is computed twice: with the type's caps (``max_range_km``,
``max_altitude_km``) and with the kinematics alone; an infeasible answer that the kinematics
would allow is bound by the cap, otherwise by the kinematics.

Minimum burnout speed. For each (route, unit) L_max(v) is computed for interceptor types that
differ only in burnout speed (burn time, floor and caps kept); for each commit rule the smallest
v in [``SPEED_MIN_MPS``, ``SPEED_MAX_MPS``] with L_max(v) >= c is found by bisection to
``SPEED_RESOLUTION_MPS``, all rows of one bisection level evaluated together (tables shared by
the rows whose midpoints coincide). ``None`` when even ``SPEED_MAX_MPS`` does not suffice (a
cap binds, or the threat outruns any interceptor from that site).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jointbmd import earth
from jointbmd.arrays import FloatArray
from jointbmd.engagement import (
    FireUnits,
    InterceptorType,
    ReachTable,
    build_reach_tables,
    intercept_geometry,
    reach_table,
)
from jointbmd.errors import UserError

STEP_S = 2.0  # threat sampling step (s)
SPEED_MIN_MPS = 500.0
SPEED_MAX_MPS = 11000.0
SPEED_RESOLUTION_MPS = 100.0
DEFAULT_RULES = ("launch", "burnout", "burnout+60", "burnout+120")

_RULE = re.compile(r"^(launch|burnout)(?:\+(\d+(?:\.\d+)?))?$|^(\d+(?:\.\d+)?)$")


# --------------------------------------------------------------------------------------------
# Commit rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitRule:
    """When the interceptor may launch: ``base`` (launch, burnout or time) plus ``offset_s``."""

    text: str
    base: str
    offset_s: float

    def time_s(self, burnout_s: FloatArray) -> FloatArray:
        """Earliest launch (s after the threat's launch) for threats burning out at
        ``burnout_s``."""
        b = np.asarray(burnout_s, float)
        if self.base == "burnout":
            return b + self.offset_s
        return np.full(b.shape, self.offset_s)


def parse_commit_rule(text: str) -> CommitRule:
    """``launch``, ``burnout``, ``burnout+N`` or ``N`` (seconds after the threat's launch)."""
    t = text.strip()
    m = _RULE.match(t)
    if m is None:
        raise UserError(
            f"bad commit rule {text!r}: expected launch, burnout, burnout+N or N (seconds after "
            "the threat's launch)",
            field="--commit",
        )
    if m.group(3) is not None:
        return CommitRule(t, "time", float(m.group(3)))
    base, offset = m.group(1), float(m.group(2) or 0.0)
    if base == "launch" and m.group(2) is not None:
        return CommitRule(t, "time", offset)
    return CommitRule(t, base, offset if base == "burnout" else 0.0)


# --------------------------------------------------------------------------------------------
# Routes and units
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A threat route: type, launch area (flown from its centre) and aimpoint (degrees)."""

    threat: str
    launch: str
    aimpoint: str
    launch_lat_deg: float
    launch_lon_deg: float
    aim_lat_deg: float
    aim_lon_deg: float
    apogee_km: float | None = None
    flight_time_s: float | None = None

    @property
    def label(self) -> str:
        return f"{self.threat} {self.launch}->{self.aimpoint}"


@dataclass(frozen=True)
class Unit:
    """An interceptor type at a site (a fire unit, or one the scenario could have there)."""

    site: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    interceptor: InterceptorType
    inventory: int | None  # the scenario's, when it has this type at this site


def routes_of(scenario: Any) -> list[Route]:
    """The distinct threat routes of the scenario's raids, in raid order."""
    seen: dict[tuple, Route] = {}
    for raid in scenario.raids:
        area = scenario.launch_area(raid.launch_area)
        asset = scenario.defended_asset(raid.aimpoint)
        route = Route(
            raid.threat_type, area.name, asset.name, area.lat_deg, area.lon_deg,
            asset.lat_deg, asset.lon_deg, raid.trajectory.apogee_km, raid.trajectory.flight_time_s,
        )  # fmt: skip
        seen.setdefault(dataclasses.astuple(route)[:3] + dataclasses.astuple(route)[7:], route)
    return list(seen.values())


def units_of(
    scenario: Any, interceptors: Sequence[str] | None = None, sites: Sequence[str] | None = None
) -> list[Unit]:
    """Every selected interceptor type at every selected site. Sites default to those with a
    fire unit, types to every interceptor type of the scenario; unknown names are errors."""
    type_names = [t.name for t in scenario.interceptor_types]
    site_names = [s.name for s in scenario.sites if s.fire_units]
    all_sites = [s.name for s in scenario.sites]
    for name in interceptors or ():
        if name not in type_names:
            known = ", ".join(type_names) or "none"
            raise UserError(f"unknown interceptor type {name!r} (known: {known})",
                            field="--interceptor")  # fmt: skip
    for name in sites or ():
        if name not in all_sites:
            raise UserError(f"unknown site {name!r} (known: {', '.join(all_sites) or 'none'})",
                            field="--site")  # fmt: skip
    chosen_types = list(interceptors) if interceptors else type_names
    chosen_sites = list(sites) if sites else site_names
    units = []
    for site_name in chosen_sites:
        site = next(s for s in scenario.sites if s.name == site_name)
        for type_name in chosen_types:
            spec = scenario.interceptor_type(type_name)
            it = InterceptorType.from_km(**spec.model_dump(exclude={"source"}))
            inventory = [fu.inventory for fu in site.fire_units if fu.interceptor_type == type_name]
            units.append(Unit(site.name, site.lat_deg, site.lon_deg, site.alt_m, it,
                              sum(inventory) if inventory else None))  # fmt: skip
    if not units:
        raise UserError("no fire-unit sites or interceptor types to analyse", field="--site")
    return units


@dataclass(frozen=True)
class Flights:
    """The routes flown: sampling times (T,), ECEF positions (n, T, 3) (NaN off the flight),
    burnout and impact times (n,), s after launch."""

    times: FloatArray
    r_ecef: FloatArray
    burnout_s: FloatArray
    impact_s: FloatArray


def fly_routes(scenario: Any, routes: Sequence[Route]) -> Flights:
    """Fly every route from t = 0 (batched targeting); a route out of the type's reach is an
    error naming the raid's threat type and places."""
    from jointbmd.missiles import ThreatMissile
    from jointbmd.trajectory import aim

    missiles = [ThreatMissile.from_threat_type(scenario.threat_type(r.threat)) for r in routes]
    rad = np.radians
    nan_or = [(np.nan if r.apogee_km is None else 1e3 * r.apogee_km) for r in routes]
    sol = aim(
        rad([r.launch_lat_deg for r in routes]), rad([r.launch_lon_deg for r in routes]),
        rad([r.aim_lat_deg for r in routes]), rad([r.aim_lon_deg for r in routes]),
        model=scenario.model, missile=missiles, apogee_m=np.array(nan_or),
        flight_time_s=np.array([np.nan if r.flight_time_s is None else r.flight_time_s
                                for r in routes]),
    )  # fmt: skip
    if not np.all(sol.converged):
        bad = int(np.flatnonzero(~sol.converged)[0])
        r = routes[bad]
        raise UserError(f"threat type {r.threat!r} cannot reach {r.aimpoint!r} from {r.launch!r} "
                        f"(best attempt misses by {sol.miss_m[bad] / 1e3:.0f} km)",
                        file=scenario.name, field="raids")  # fmt: skip
    traj = sol.trajectories
    times = np.arange(0.0, float(np.nanmax(traj.impact_time)) + STEP_S, STEP_S)
    return Flights(times, traj.position_ecef(times), traj.burnout_time - traj.launch_time,
                   traj.impact_time - traj.launch_time)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Latest commit (the core: batched over routes and units)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Geometry:
    """Ground range and height of every route sample from every unit's site: (n, m, T)."""

    times: FloatArray
    range_m: FloatArray
    height_m: FloatArray  # above the site


def _site_geometry(flights: Flights, units: Sequence[Unit], model: str) -> _Geometry:
    lat = np.radians([u.lat_deg for u in units])
    lon = np.radians([u.lon_deg for u in units])
    alt = np.array([u.alt_m for u in units])
    site = earth.geodetic_to_ecef(lat, lon, alt, model)  # (m, 3)
    r = flights.r_ecef[:, None]  # (n, 1, T, 3)
    a = site[None, :, None, :]
    cross = np.linalg.norm(np.cross(a, r), axis=-1)
    dot = np.sum(a * r, axis=-1)
    s = earth.R_IDEAL * np.arctan2(cross, dot)
    h = earth.altitude(flights.r_ecef.reshape(-1, 3), model).reshape(flights.r_ecef.shape[:2])
    return _Geometry(flights.times, s, h[:, None, :] - alt[None, :, None])


SEARCH_GRID = {"max_points": 201, "dt": 2.0, "programmes": 100}


def search_tables(interceptors: Sequence[InterceptorType]) -> dict[InterceptorType, ReachTable]:
    """The coarser reach tables the speed search uses (``SEARCH_GRID``: 100 lofted boost
    programmes and 33 direct ones, 2 s samples, at most 201 nodes per axis; conservative by one
    cell, like every table), the missing ones flown in one batch."""
    distinct = list(dict.fromkeys(interceptors))
    return dict(zip(distinct, build_reach_tables(distinct, **SEARCH_GRID), strict=True))


def latest_commit(
    geometry: _Geometry,
    types: Sequence[InterceptorType],
    pairs: tuple[FloatArray, FloatArray],
    table: Callable[[InterceptorType], ReachTable] = reach_table,
) -> FloatArray:
    """Latest launch time (s after the threat's launch) that still allows an intercept, for
    the (route i, unit j) pairs ``pairs`` each with its own interceptor type ``types[k]``
    (one per pair); -inf where none. Pairs sharing a type share its reach table."""
    i, j = pairs
    out = np.full(i.shape, -np.inf)
    for it in dict.fromkeys(types):
        sel = np.flatnonzero([t is it or t == it for t in types])
        s = geometry.range_m[i[sel], j[sel]]
        h = geometry.height_m[i[sel], j[sel]]
        fly = table(it).flyout_time(s, h)
        inside = (h >= it.min_altitude_m) & (h <= it.max_altitude_m) & (s <= it.max_range_m)
        launch = np.where(inside & np.isfinite(fly), geometry.times[None, :] - fly, -np.inf)
        out[sel] = launch.max(axis=1)
    return out


def _uncapped(it: InterceptorType) -> InterceptorType:
    return dataclasses.replace(it, max_range_m=math.inf, max_altitude_m=math.inf)


def minimum_speeds(geometry: _Geometry, units: Sequence[Unit], commit_s: FloatArray) -> FloatArray:
    """Minimum burnout speed (m/s, NaN if none up to ``SPEED_MAX_MPS``) per (route, unit, rule):
    bisection on L_max(v) >= c, every row of a level in one batched evaluation (speeds on the
    dyadic grid of the bracket, so rows share their tables: ``search_table``)."""
    n, m = geometry.range_m.shape[:2]
    k = commit_s.shape[-1]
    ii, jj, rr = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(m), np.arange(k),
                                                 indexing="ij"))  # fmt: skip
    c = commit_s[ii, rr]
    lo = np.full(ii.shape, SPEED_MIN_MPS)
    hi = np.full(ii.shape, SPEED_MAX_MPS)

    def feasible(v: FloatArray, rows: FloatArray) -> FloatArray:
        types = [dataclasses.replace(units[jj[q]].interceptor, burnout_speed_mps=float(v[q]))
                 for q in rows]  # fmt: skip
        tables = search_tables(types)
        return latest_commit(geometry, types, (ii[rows], jj[rows]), tables.__getitem__) >= c[rows]

    all_rows = np.arange(ii.shape[0])
    ok_hi = feasible(hi, all_rows)
    ok_lo = feasible(lo, all_rows)
    result = np.where(ok_lo, SPEED_MIN_MPS, np.nan)
    active = np.flatnonzero(ok_hi & ~ok_lo)
    while active.size and np.max(hi[active] - lo[active]) > SPEED_RESOLUTION_MPS:
        mid = 0.5 * (lo + hi)
        good = feasible(mid, active)
        hi[active[good]] = mid[active[good]]
        lo[active[~good]] = mid[active[~good]]
    result[active] = hi[active]
    return result.reshape(n, m, k)


# --------------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReachResult:
    """Rows per (site, interceptor, route) and the criteria per (interceptor, site), as plain
    dicts (SI inside; km and degrees named so), plus the arrays the plots draw."""

    scenario: str
    rules: tuple[CommitRule, ...]
    routes: tuple[Route, ...]
    units: tuple[Unit, ...]
    rows: list[dict[str, Any]]
    criteria: list[dict[str, Any]]
    flights: Flights
    intercept_ecef: FloatArray  # (n, m, K, 3), NaN where infeasible
    latest_commit_s: FloatArray  # (n, m)
    min_speed_mps: FloatArray  # (n, m, K)
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "commit_rules": [r.text for r in self.rules],
            "rows": self.rows,
            "criteria": self.criteria,
            "assumptions": list(self.assumptions),
        }


ASSUMPTIONS = (
    "threat routes flown from each launch area's centre, launched at t = 0, on the scenario's "
    "Earth model; minimum energy unless the raid sets an apogee or a flight time",
    "interceptor flyout: boost under gravity with the type's burnout speed and burn time "
    "(jointbmd.engagement), no drag, ideal sphere; launch the instant the commit rule allows",
    "perfect track at the commit time (no sensor model): reach is an upper bound on engagement",
    f"minimum burnout speed by bisection to {SPEED_RESOLUTION_MPS:.0f} m/s in "
    f"[{SPEED_MIN_MPS:.0f}, {SPEED_MAX_MPS:.0f}] m/s, burn time, floor and caps kept",
)


def reach_analysis(
    scenario: Any,
    *,
    interceptors: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    rules: Sequence[str | CommitRule] = DEFAULT_RULES,
    min_speed: bool = True,
) -> ReachResult:
    """The reach of every selected unit against every route of ``scenario`` (see the module
    docstring). ``min_speed=False`` skips the bisection (the slow part)."""
    commit_rules = tuple(r if isinstance(r, CommitRule) else parse_commit_rule(r) for r in rules)
    if not commit_rules:
        raise UserError("give at least one commit rule", field="--commit")
    routes = routes_of(scenario)
    if not routes:
        raise UserError("the scenario has no raids: no threat routes", file=scenario.name,
                        field="raids")  # fmt: skip
    units = units_of(scenario, interceptors, sites)
    flights = fly_routes(scenario, routes)
    n, m, k = len(routes), len(units), len(commit_rules)
    commit = np.stack([rule.time_s(flights.burnout_s) for rule in commit_rules], axis=1)  # (n,K)

    fire = FireUnits.create(
        lat_rad=np.radians([u.lat_deg for u in units]),
        lon_rad=np.radians([u.lon_deg for u in units]),
        alt_m=[u.alt_m for u in units], interceptor=[u.interceptor for u in units], inventory=1,
        name=[f"{u.site} {u.interceptor.name}" for u in units],
    )  # fmt: skip
    geometry = intercept_geometry(flights.times, flights.r_ecef, fire, model=scenario.model)
    solutions = [geometry.earliest_all(np.repeat(commit[:, q, None], m, 1)) for q in range(k)]

    site_geo = _site_geometry(flights, units, scenario.model)
    i, j = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(m), indexing="ij"))
    latest = latest_commit(site_geo, [units[q].interceptor for q in j], (i, j)).reshape(n, m)
    latest_kin = latest_commit(site_geo, [_uncapped(units[q].interceptor) for q in j],
                               (i, j)).reshape(n, m)  # fmt: skip
    speeds = minimum_speeds(site_geo, units, commit) if min_speed else np.full((n, m, k), np.nan)
    closest = np.nanmin(np.where(np.isfinite(site_geo.height_m), site_geo.range_m, np.nan), 2)

    rows = [
        _row(routes[a], units[b], commit_rules, [s for s in solutions], a, b, commit[a],
             flights.burnout_s[a], latest[a, b], latest_kin[a, b], speeds[a, b], closest[a, b],
             min_speed)
        for b in range(m) for a in range(n)
    ]  # fmt: skip
    criteria = [_criteria(u, routes, closest[:, b]) for b, u in enumerate(units)]
    intercept = np.stack([s.r_intercept_ecef for s in solutions], axis=2)
    return ReachResult(scenario.name, commit_rules, tuple(routes), tuple(units), rows, criteria,
                       flights, intercept, latest, speeds, ASSUMPTIONS)  # fmt: skip


def _row(route, unit, rules, solutions, a, b, commit, burnout_s, latest, latest_kin, speeds,
         closest_m, min_speed) -> dict[str, Any]:  # fmt: skip
    feasible, limit, intercept, min_v = {}, {}, {}, {}
    for q, rule in enumerate(rules):
        sol = solutions[q]
        ok = bool(sol.feasible[a, b])
        feasible[rule.text] = ok
        limit[rule.text] = None if ok else ("cap" if latest_kin >= commit[q] else "kinematic")
        intercept[rule.text] = (
            {
                "time_s": float(sol.t_intercept[a, b]),
                "launch_s": float(sol.t_launch[a, b]),
                "altitude_km": float(sol.altitude_m[a, b]) / 1e3,
                "ground_range_km": float(sol.range_m[a, b]) / 1e3,
            }
            if ok
            else None
        )
        v = speeds[q]
        min_v[rule.text] = float(v) if min_speed and np.isfinite(v) else None
    after = latest - burnout_s
    return {
        "site": unit.site,
        "interceptor": unit.interceptor.name,
        "threat": route.threat,
        "launch": route.launch,
        "aimpoint": route.aimpoint,
        "feasible": feasible,
        "limit": limit,
        "intercept": intercept,
        "threat_burnout_s": float(burnout_s),
        # None when only an interceptor launched before the threat could meet it.
        "latest_commit_s": float(latest) if np.isfinite(latest) and latest >= 0 else None,
        "latest_commit_after_burnout_s": float(after)
        if np.isfinite(latest) and after >= 0
        else None,
        "latest_commit_limit": "cap" if latest_kin > latest + 1e-6 else "kinematic",
        "min_burnout_speed_mps": min_v,
        "burnout_speed_mps": unit.interceptor.burnout_speed_mps,
        "closest_approach_km": float(closest_m) / 1e3,
    }


def _criteria(unit: Unit, routes: Sequence[Route], closest_m: FloatArray) -> dict[str, Any]:
    it = unit.interceptor
    table = reach_table(it)
    rng, rng_by = table.range_limit
    alt, alt_by = table.altitude_limit
    cap = lambda x: None if not math.isfinite(x) else x / 1e3  # noqa: E731
    return {
        "interceptor": it.name,
        "site": unit.site,
        "burnout_speed_mps": it.burnout_speed_mps,
        "burn_time_s": it.burn_time_s,
        "range_kinematic_km": table.kinematic_range_m / 1e3,
        "range_cap_km": cap(it.max_range_m),
        "range_km": rng / 1e3,
        "range_limit": rng_by,
        "ceiling_kinematic_km": table.kinematic_altitude_m / 1e3,
        "ceiling_cap_km": cap(it.max_altitude_m),
        "ceiling_km": alt / 1e3,
        "ceiling_limit": alt_by,
        "floor_km": it.min_altitude_m / 1e3,
        "max_flyout_s": table.max_flyout_s,
        "inventory": unit.inventory,
        "closest_approach_km": {
            r.label: float(d) / 1e3 for r, d in zip(routes, closest_m, strict=True)
        },
    }
