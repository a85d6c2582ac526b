"""Truth: the scenario's raids as threat missiles in flight.

In: a loaded ``Scenario``. Out: ``Truth`` -- one row per threat missile (its raid, type,
aimpoint, launch point and time) and their batched ``Trajectories``, sampled once on a regular
time grid (ECEF positions) for the sensors and the intercept solutions.

The truth does not depend on the replication: launch points are spread deterministically over
each launch area (a golden-angle spiral filling the disc), so every replication and every
arrangement faces the same raid and differs only in what is random -- detections, noise, link
losses, votes and kill draws. That is the common-random-numbers design that lets arrangements be
compared with few replications, and it lets a campaign compute the trajectories once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from jointbmd.arrays import FloatArray

from .. import earth
from ..errors import UserError
from ..missiles import ThreatMissile
from ..trajectory import Trajectories, aim

#: Spacing of the truth sampling grid (s). Sensors interpolate between samples (Hermite on
#: position would be better; linear on a 1 s grid errs by metres at most, below radar noise).
TRUTH_STEP_S = 1.0

_GOLDEN_ANGLE = np.pi * (3.0 - np.sqrt(5.0))


@dataclass(frozen=True)
class Truth:
    """The raid in flight. Arrays are indexed by threat id ``0 .. n-1``."""

    raid: tuple[str, ...]
    threat_type: tuple[str, ...]
    aimpoint: tuple[str, ...]
    aimpoint_partner: tuple[str, ...]
    launch_lat: FloatArray  # rad
    launch_lon: FloatArray  # rad
    aim_lat: FloatArray  # rad
    aim_lon: FloatArray  # rad
    launch_time: FloatArray  # s
    heading: FloatArray  # launch azimuth, rad from north
    burn_time: FloatArray  # s
    rcs_m2: FloatArray  # re-entry vehicle cross-section
    trajectories: Trajectories
    times: FloatArray  # (T,) sampling grid
    r_ecef: FloatArray  # (n, T, 3), NaN before launch and after impact
    miss_m: FloatArray  # targeting miss distance

    @property
    def n(self) -> int:
        return len(self.raid)

    @property
    def impact_time(self) -> FloatArray:
        return self.trajectories.impact_time


_CACHE: dict[str, Truth] = {}
_CACHE_SIZE = 8


def truth_key(scenario) -> str:
    """A content hash of what the truth is made of -- the fields ``_build_truth`` reads: the
    model, threat types, launch areas, defended assets and raids. Points of a sweep or a study
    that change only sensors, links, interceptors or decisions share one truth."""
    parts = {
        "model": scenario.model,
        "threat_types": [t.model_dump(mode="json") for t in scenario.threat_types],
        "launch_areas": [a.model_dump(mode="json") for a in scenario.launch_areas],
        "defended_assets": [a.model_dump(mode="json") for a in scenario.defended_assets],
        "raids": [r.model_dump(mode="json") for r in scenario.raids],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def build_truth(scenario) -> Truth:
    """The scenario's threats and their trajectories (cached per truth content, ``truth_key``,
    so a campaign worker solves the targeting once, not once per sweep or design point)."""
    key = truth_key(scenario)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _build_truth(scenario)
    return _CACHE[key]


def _spiral_offsets(k: int, radius_m: float) -> tuple[FloatArray, FloatArray]:
    """Bearings and distances of k points filling a disc evenly (Vogel's spiral)."""
    i = np.arange(k)
    distance = radius_m * np.sqrt((i + 0.5) / max(k, 1))
    if k == 1:
        distance = np.zeros(1)
    return np.mod(i * _GOLDEN_ANGLE, 2.0 * np.pi), distance


def _build_truth(scenario) -> Truth:
    model = scenario.model
    rows: list[tuple] = []
    per_area: dict[str, int] = {}
    for raid in scenario.raids:
        asset = scenario.defended_asset(raid.aimpoint)
        for t_launch in raid.launch_times_s():
            slot = per_area.get(raid.launch_area, 0)
            per_area[raid.launch_area] = slot + 1
            rows.append((raid, asset, t_launch, slot))
    # Launch points: each area's missiles fill its disc in launch order.
    launch_lat = np.zeros(len(rows))
    launch_lon = np.zeros(len(rows))
    for area_name, count in per_area.items():
        area = scenario.launch_area(area_name)
        bearing, distance = _spiral_offsets(count, area.radius_km * 1e3)
        idx = [i for i, row in enumerate(rows) if row[0].launch_area == area_name]
        lat, lon = earth.destination(
            np.radians(area.lat_deg), np.radians(area.lon_deg), bearing, distance, model
        )
        launch_lat[idx], launch_lon[idx] = lat, lon
    aim_lat = np.radians([row[1].lat_deg for row in rows])
    aim_lon = np.radians([row[1].lon_deg for row in rows])
    launch_time = np.array([row[2] for row in rows], float)
    types = [scenario.threat_type(row[0].threat_type) for row in rows]
    missiles = {t.name: ThreatMissile.from_threat_type(t) for t in scenario.threat_types}
    apogee = np.array(
        [
            np.nan if r[0].trajectory.apogee_km is None else r[0].trajectory.apogee_km * 1e3
            for r in rows
        ]
    )
    flight_time = np.array(
        [
            np.nan if r[0].trajectory.flight_time_s is None else r[0].trajectory.flight_time_s
            for r in rows
        ]
    )
    solution = aim(
        launch_lat,
        launch_lon,
        aim_lat,
        aim_lon,
        model=model,
        launch_time=launch_time,
        missile=[missiles[t.name] for t in types],
        apogee_m=apogee,
        flight_time_s=flight_time,
    )
    if not np.all(solution.converged):
        bad = int(np.flatnonzero(~solution.converged)[0])
        raid = rows[bad][0]
        raise UserError(
            f"threat type {raid.threat_type!r} cannot reach {raid.aimpoint!r} from "
            f"{raid.launch_area!r} (best attempt misses by {solution.miss_m[bad] / 1e3:.0f} km)",
            file=scenario.name,
            field=f"raids[{raid.name}]",
        )
    trajectories = solution.trajectories
    t0 = float(np.floor(launch_time.min()))
    t1 = float(np.ceil(np.nanmax(trajectories.impact_time)))
    times = np.arange(t0, t1 + TRUTH_STEP_S, TRUTH_STEP_S)
    return Truth(
        raid=tuple(row[0].name for row in rows),
        threat_type=tuple(t.name for t in types),
        aimpoint=tuple(row[1].name for row in rows),
        aimpoint_partner=tuple(row[1].partner for row in rows),
        launch_lat=launch_lat,
        launch_lon=launch_lon,
        aim_lat=aim_lat,
        aim_lon=aim_lon,
        launch_time=launch_time,
        heading=np.asarray(solution.azimuth, float),
        burn_time=np.array([missiles[t.name].burn_time_s for t in types]),
        rcs_m2=np.array([t.reentry_vehicle.rcs_m2 for t in types]),
        trajectories=trajectories,
        times=times,
        r_ecef=trajectories.position_ecef(times),
        miss_m=np.asarray(solution.miss_m, float),
    )
