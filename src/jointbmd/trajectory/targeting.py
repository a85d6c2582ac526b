"""Targeting: the launch azimuth and loft that land a missile on its aimpoint, for N at once.

In: launch points and aimpoints (geodetic, rad), launch times, an Earth model, and either
nothing (impulsive burnout at the launch point) or a ``ThreatMissile`` per trajectory; optionally
a required apogee height or flight time per trajectory. Out: a ``Solution`` with the solved
parameters, the burnout conditions and the ``Trajectories`` (dense output) of the solved flights.

Unknowns. Impulsive mode (no missile; a point mass without drag, as in the textbook): burnout
speed v and flight-path angle γ relative to the rotating Earth, and azimuth α, at the launch point.
Missile mode: the pitch programme's final pitch θ_f (the loft), the thrust cut-off time t_c
(energy management by thrust termination) and the azimuth α. The missile rises vertically, then
pitches linearly in time from 90° to θ_f at cut-off (``BoostProgramme``); its stages fire in
order until t_c (at most the total burn time: a target needing more is out of reach); the
re-entry vehicle then flies alone, with drag on ``full``.

Conditions. The impact lands on the aimpoint on the rotating Earth: down-range and cross-range
misses (spherical along-track / cross-track distances from the launch-aimpoint great circle)
are zero; and then

* minimum energy (default): the loft minimises the energy spent -- the burnout speed v
  (impulsive) or the cut-off time t_c, i.e. the propellant burnt (missile); found by successive
  parabolic fits of v(γ) or t_c(θ_f), each point solved for (v or t_c, α);
* a given apogee height or flight time: a third residual, all three unknowns solved together.

Many aimpoints from one launch point (``loft_table``, ``aim_from_table``; the footprint's
thousands of cells): minimum energy is solved forwards on a coarse table of (bearing, range)
-- the minimum-energy loft for a range is the loft of greatest range at that cut-off time --
and each aimpoint takes the table's loft and is landed by a chord-Newton iteration on
(t_c, α) with the table's Jacobian, one propagation per iteration; beyond the table's maximum
range it is out of reach without a flight.

Every solve is Newton's method with finite-difference Jacobians, all trajectories of the batch
and their perturbed copies propagated in one call (``propagate``); converged trajectories leave
the batch. The first guess comes from the closed-form formulas on the sphere (``kepler``) and,
for a missile, from matching the burnout speed and angle those formulas ask for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jointbmd import earth
from jointbmd.missiles import ThreatMissile

from . import kepler
from .propagate import (
    DEFAULT_MAX_FLIGHT_S,
    BoostProgramme,
    Trajectories,
    propagate,
    surface_normal,
)

_SPHERE_R = earth.R_IDEAL  # radius for the down/cross-range coordinates of the miss


# --------------------------------------------------------------------------------------------
# States at launch and burnout
# --------------------------------------------------------------------------------------------


def local_axes_eci(lat: np.ndarray, lon: np.ndarray, t: np.ndarray, model: str) -> np.ndarray:
    """East, north, up unit vectors (rows, (n, 3, 3)) at a geodetic point, in ECI at time t."""
    axes = earth.enu_matrix(lat, lon)
    return earth.ecef_to_eci(axes, np.asarray(t, float)[..., None], model)


def burnout_state_eci(
    lat: np.ndarray,
    lon: np.ndarray,
    alt: np.ndarray,
    speed: np.ndarray,
    flight_path_angle: np.ndarray,
    azimuth: np.ndarray,
    t: np.ndarray,
    model: str = "full",
) -> np.ndarray:
    """ECI state (n, 6) of a body at a geodetic point moving, relative to the rotating Earth,
    at ``speed`` (m/s), ``flight_path_angle`` above the horizontal and ``azimuth`` (rad)."""
    lat, lon, alt, speed, fpa, az, t = np.broadcast_arrays(
        *(np.asarray(x, float) for x in (lat, lon, alt, speed, flight_path_angle, azimuth, t))
    )
    enu = np.stack(
        [speed * np.cos(fpa) * np.sin(az), speed * np.cos(fpa) * np.cos(az), speed * np.sin(fpa)],
        -1,
    )
    v_ecef = np.einsum("...ji,...j->...i", earth.enu_matrix(lat, lon), enu)
    r_ecef = earth.geodetic_to_ecef(lat, lon, alt, model)
    return earth.state_ecef_to_eci(np.concatenate([r_ecef, v_ecef], -1), t, model)


def relative_speed_and_angle(
    state_eci: np.ndarray, t: np.ndarray, model: str = "full"
) -> tuple[np.ndarray, np.ndarray]:
    """Speed (m/s) and flight-path angle (rad) relative to the rotating Earth of ECI states."""
    x = earth.state_eci_to_ecef(state_eci, t, model)
    v = x[..., 3:]
    speed = np.linalg.norm(v, axis=-1)
    up = surface_normal(x[..., :3], model)
    with np.errstate(invalid="ignore", divide="ignore"):
        angle = np.arcsin(np.clip(np.einsum("...i,...i->...", up, v) / speed, -1.0, 1.0))
    return speed, angle


# --------------------------------------------------------------------------------------------
# The batch of problems
# --------------------------------------------------------------------------------------------


@dataclass
class _Batch:
    model: str
    lat0: np.ndarray
    lon0: np.ndarray
    lat1: np.ndarray
    lon1: np.ndarray
    t0: np.ndarray
    axes0: np.ndarray  # (m, 3, 3) ENU rows at launch, ECI
    r0: np.ndarray  # (m, 3) launch position, ECI
    psi: np.ndarray  # spherical range angle launch -> aimpoint
    bearing: np.ndarray  # spherical initial bearing launch -> aimpoint
    missile: bool
    beta: np.ndarray
    stage_end: np.ndarray | None = None
    accel_a: np.ndarray | None = None
    accel_b: np.ndarray | None = None
    accel_c: np.ndarray | None = None
    burn: np.ndarray | None = None
    rise: np.ndarray | None = None

    def take(self, idx: np.ndarray) -> _Batch:
        out = {}
        for name in self.__dataclass_fields__:  # type: ignore[attr-defined]
            value = getattr(self, name)
            out[name] = value[idx] if isinstance(value, np.ndarray) else value
        return _Batch(**out)

    @property
    def m(self) -> int:
        return int(self.lat0.shape[0])

    def boost(self, cutoff: np.ndarray, pitch_final: np.ndarray, az: np.ndarray) -> BoostProgramme:
        east, north, up = self.axes0[:, 0], self.axes0[:, 1], self.axes0[:, 2]
        heading = np.sin(az)[:, None] * east + np.cos(az)[:, None] * north
        normal = np.cross(up, heading)
        return BoostProgramme(
            stage_end=self.stage_end,
            accel_a=self.accel_a,
            accel_b=self.accel_b,
            accel_c=self.accel_c,
            cutoff=cutoff,
            vertical_rise=self.rise,
            pitch_start=np.full(self.m, 0.5 * np.pi),
            pitch_final=pitch_final,
            plane_normal_eci=normal / np.linalg.norm(normal, axis=-1, keepdims=True),
        )

    def shoot(
        self, p1: np.ndarray, p2: np.ndarray, az: np.ndarray, *, dense: bool = False, **kw
    ) -> Trajectories:
        """Fly the trajectories of parameters (p1, p2, α): (v, γ, α) or (t_c, θ_f, α)."""
        if not self.missile:
            x0 = burnout_state_eci(self.lat0, self.lon0, 0.0, p1, p2, az, self.t0, self.model)
            return propagate(x0, self.t0, self.model, dense=dense, **kw)
        v0 = np.cross(np.array([0.0, 0.0, _omega(self.model)]), self.r0)
        x0 = np.concatenate([self.r0, v0], -1)
        return propagate(
            x0,
            self.t0,
            self.model,
            boost=self.boost(p1, p2, az),
            ballistic_coefficient=self.beta,
            dense=dense,
            **kw,
        )

    def residuals(self, traj: Trajectories) -> tuple[np.ndarray, np.ndarray]:
        """Down-range and cross-range miss (m) of the impacts (NaN where there is none)."""
        lat, lon = traj.impact_lat_lon
        d13 = earth.central_angle(self.lat0, self.lon0, lat, lon)
        b13 = _bearing(self.lat0, self.lon0, lat, lon)
        rel = b13 - self.bearing
        cross = _SPHERE_R * np.arcsin(np.clip(np.sin(d13) * np.sin(rel), -1.0, 1.0))
        along = np.arctan2(np.sin(d13) * np.cos(rel), np.cos(d13))
        return _SPHERE_R * (along - self.psi), cross


def _omega(model: str) -> float:
    return earth.OMEGA if model == "full" else 0.0


def _bearing(lat1, lon1, lat2, lon2):
    dlon = lon2 - lon1
    y = np.sin(dlon) * np.cos(lat2)
    x = np.cos(lat1) * np.sin(lat2) - np.sin(lat1) * np.cos(lat2) * np.cos(dlon)
    return np.arctan2(y, x)


def _make_batch(
    model, lat0, lon0, lat1, lon1, t0, missiles: Sequence[ThreatMissile] | None
) -> _Batch:
    axes0 = local_axes_eci(lat0, lon0, t0, model)
    r0 = earth.ecef_to_eci(earth.geodetic_to_ecef(lat0, lon0, 0.0, model), t0, model)
    psi = earth.central_angle(lat0, lon0, lat1, lon1)
    batch = _Batch(
        model=model,
        lat0=lat0,
        lon0=lon0,
        lat1=lat1,
        lon1=lon1,
        t0=t0,
        axes0=axes0,
        r0=r0,
        psi=psi,
        bearing=_bearing(lat0, lon0, lat1, lon1),
        missile=missiles is not None,
        beta=np.full(lat0.shape, np.inf),
    )
    if missiles is not None:
        n_stages = max(len(m.stages) for m in missiles)
        shape = (len(missiles), n_stages)
        batch.stage_end = np.full(shape, np.inf)
        batch.accel_a = np.zeros(shape)
        batch.accel_b = np.full(shape, np.inf)
        batch.accel_c = np.zeros(shape)
        for i, missile in enumerate(missiles):
            end, a, b, c = missile.thrust_coefficients()
            k = len(end)
            batch.stage_end[i, :k], batch.accel_a[i, :k] = end, a
            batch.accel_b[i, :k], batch.accel_c[i, :k] = b, c
        batch.burn = np.array([m.burn_time_s for m in missiles])
        batch.rise = np.array([m.vertical_rise_s for m in missiles])
        batch.beta = np.array([m.ballistic_coefficient_kg_m2 for m in missiles])
    return batch


# --------------------------------------------------------------------------------------------
# Newton solvers
# --------------------------------------------------------------------------------------------


@dataclass
class _Settings:
    tol_m: float = 1.0
    tol_apogee_m: float = 10.0
    tol_time_s: float = 0.05
    max_iter: int = 20


def _bounds(batch: _Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper bounds of p1 and p2."""
    m = batch.m
    if batch.missile:
        return (
            batch.rise + 1.0,
            batch.burn.astype(float),
            np.full(m, np.radians(1.0)),
            np.full(m, np.radians(89.0)),
        )
    v_esc = np.sqrt(2.0 * earth.MU / earth.R_IDEAL)
    return (
        np.full(m, 10.0),
        np.full(m, 0.99 * v_esc),
        np.full(m, np.radians(0.5)),
        np.full(m, np.radians(89.5)),
    )


def _steps(batch: _Batch) -> tuple[float, float, float]:
    """Finite-difference steps for p1, p2 and the azimuth."""
    return (0.02, 2e-4, 2e-5) if batch.missile else (0.2, 2e-4, 2e-5)


def _solve(
    batch: _Batch,
    p1: np.ndarray,
    p2: np.ndarray,
    az: np.ndarray,
    *,
    third: str | None,
    goal: np.ndarray | None,
    settings: _Settings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Newton on (p1, α) with p2 fixed (third None), or on (p1, p2, α) with a third residual
    ``third`` in ("apogee", "time") equal to ``goal``. Returns p1, p2, α, converged."""
    p1, p2, az = p1.astype(float).copy(), p2.astype(float).copy(), az.astype(float).copy()
    lo1, hi1, lo2, hi2 = _bounds(batch)
    d1, d2, daz = _steps(batch)
    k = 2 if third is None else 3
    converged = np.zeros(batch.m, bool)
    active = np.arange(batch.m)
    last_step = np.zeros((batch.m, k))
    for _ in range(settings.max_iter):
        if active.size == 0:
            break
        sub = batch.take(active)
        q1, q2, qa = p1[active], p2[active], az[active]
        # Base point and one perturbed copy per unknown, in one propagation.
        # Forward differences, backward at the upper bound of p1.
        h1 = np.where(q1 + d1 > hi1[active], -d1, d1)
        shots1 = [q1, q1 + h1, q1, q1]
        shots2 = [q2, q2, q2, q2 + d2]
        shotsa = [qa, qa, qa + daz, qa]
        rep = 4 if k == 3 else 3
        big = sub.take(np.tile(np.arange(active.size), rep))
        traj = big.shoot(
            np.concatenate(shots1[:rep]), np.concatenate(shots2[:rep]), np.concatenate(shotsa[:rep])
        )
        down, cross = big.residuals(traj)
        cols = [down, cross]
        if third == "apogee":
            cols.append(traj.apogee_altitude - np.tile(goal[active], rep))
        elif third == "time":
            cols.append(traj.flight_time - np.tile(goal[active], rep))
        f_all = np.stack(cols, -1).reshape(rep, active.size, k)
        f0 = f_all[0]
        jac = np.stack(
            [(f_all[1] - f0) / h1[:, None], (f_all[2] - f0) / daz]
            + ([(f_all[3] - f0) / d2] if k == 3 else []),
            -1,
        )  # (m, k, k): columns p1, az, (p2)
        ok = np.hypot(f0[:, 0], f0[:, 1]) < settings.tol_m
        if k == 3:
            tol3 = settings.tol_apogee_m if third == "apogee" else settings.tol_time_s
            ok &= np.abs(f0[:, 2]) < tol3
        converged[active[ok]] = True
        bad = ~np.all(np.isfinite(f_all), axis=(0, 2))
        with np.errstate(invalid="ignore"):
            det_ok = np.abs(np.linalg.det(np.where(bad[:, None, None], 1.0, jac))) > 0
        solvable = ~bad & ~ok & det_ok
        step = np.zeros((active.size, k))
        if np.any(solvable):
            step[solvable] = -np.linalg.solve(jac[solvable], f0[solvable][..., None])[..., 0]
        # Damping: limit the step; back off half-way where the shot failed.
        lim = np.array([0.2, 0.15, 0.1])[:k]  # p1 relative; azimuth and p2 in rad
        scale1 = np.maximum(np.abs(q1), 1.0)
        shrink = np.maximum(
            np.abs(step[:, 0]) / (lim[0] * scale1),
            np.max(np.abs(step[:, 1:]) / lim[1:], axis=1) if k > 1 else 0.0,
        )
        step /= np.maximum(shrink, 1.0)[:, None]
        step = np.where(bad[:, None], -0.5 * last_step[active], step)
        last_step[active] = step
        new1 = np.clip(q1 + step[:, 0], lo1[active], hi1[active])
        pinned = (new1 == hi1[active]) & (q1 == hi1[active]) & (step[:, 0] > 0)
        p1[active] = new1
        az[active] = qa + step[:, 1]
        if k == 3:
            p2[active] = np.clip(q2 + step[:, 2], lo2[active], hi2[active])
        # Out of reach: the cut-off / speed is pinned at its upper bound and still too short.
        active = active[~ok & ~pinned]
    return p1, p2, az, converged


def _minimum_energy(
    batch: _Batch, p1: np.ndarray, p2: np.ndarray, az: np.ndarray, settings: _Settings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least p1 over p2, each point solved for (p1, α): two rounds of three-point parabolas."""
    m = batch.m
    delta = np.radians(4.0 if batch.missile else 3.0)
    lo1, hi1, lo2, hi2 = _bounds(batch)
    center = p2.copy()
    for _ in range(2):
        pts = np.stack([center - delta, center, center + delta])  # (3, m)
        pts = np.clip(pts, lo2, hi2)
        big = batch.take(np.tile(np.arange(m), 3))
        guess1 = _p1_guess(batch, pts, p1) if not batch.missile else np.tile(p1, 3)
        s1, _, sa, conv = _solve(
            big,
            guess1.ravel() if guess1.ndim > 1 else guess1,
            pts.ravel(),
            np.tile(az, 3),
            third=None,
            goal=None,
            settings=settings,
        )
        s1 = np.where(conv, s1, np.inf).reshape(3, m)
        sa = sa.reshape(3, m)
        a, b, c = s1
        with np.errstate(invalid="ignore"):
            curvature = a - 2.0 * b + c
        with np.errstate(invalid="ignore", divide="ignore"):
            vertex = center - delta * (c - a) / (2.0 * curvature)
        good = np.isfinite(vertex) & (curvature > 0)
        best = np.argmin(s1, axis=0)
        fallback = pts[best, np.arange(m)]
        new_center = np.where(
            good, np.clip(vertex, center - 2 * delta, center + 2 * delta), fallback
        )
        # Warm start: p1 and α of the nearest solved point.
        nearest = np.argmin(np.abs(pts - new_center), axis=0)
        cand1 = s1[nearest, np.arange(m)]
        p1 = np.where(np.isfinite(cand1), cand1, p1)
        az = sa[nearest, np.arange(m)]
        center = np.clip(new_center, lo2, hi2)
        delta = delta / 4.0
    if not batch.missile:
        p1 = _p1_guess(batch, center[None], p1)[0]
    s1, _, sa, conv = _solve(batch, p1, center, az, third=None, goal=None, settings=settings)
    return s1, center, sa, conv


def _p1_guess(batch: _Batch, gamma: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Impulsive mode: the sphere's speed for the range at angle γ (broadcast over rows)."""
    v = kepler.speed_for_range(batch.psi, gamma)
    return np.where(np.isfinite(v), v, fallback)


def _missile_first_guess(
    batch: _Batch, gamma: np.ndarray, az: np.ndarray, settings: _Settings
) -> tuple[np.ndarray, np.ndarray]:
    """(t_c, θ_f) whose burnout speed and angle match what the sphere's formulas ask for the
    ground range left after the boost (Newton on the boost alone, a few iterations)."""
    m = batch.m
    lo1, hi1, lo2, hi2 = _bounds(batch)
    tc = 0.8 * batch.burn
    theta = np.clip(gamma - np.radians(5.0), lo2, hi2)
    d1, d2 = 0.05, 1e-3
    for _ in range(6):
        big = batch.take(np.tile(np.arange(m), 3))
        h1 = np.where(tc + d1 > hi1, -d1, d1)
        p1 = np.concatenate([tc, tc + h1, tc])
        p2 = np.concatenate([theta, theta, theta + d2])
        traj = big.shoot(p1, p2, np.tile(az, 3), max_flight_s=p1)
        speed, angle = relative_speed_and_angle(
            traj.burnout_state_eci, traj.burnout_time, big.model
        )
        # Range flown during the boost (spherical), and the sphere's need for the rest.
        lat, lon, alt = earth.ecef_to_geodetic(
            earth.eci_to_ecef(traj.burnout_state_eci[:, :3], traj.burnout_time, big.model),
            big.model,
        )
        flown = earth.central_angle(big.lat0, big.lon0, lat, lon)
        rest = np.maximum(np.tile(batch.psi, 3) - flown, 1e-3)
        g_need = np.tile(gamma, 3)
        v_need = kepler.speed_for_range(rest, g_need)
        f = np.stack([speed - v_need, angle - g_need], -1).reshape(3, m, 2)
        jac = np.stack([(f[1] - f[0]) / h1[:, None], (f[2] - f[0]) / d2], -1)
        ok = np.all(np.isfinite(f), axis=(0, 2)) & (np.abs(np.linalg.det(jac)) > 0)
        step = np.zeros((m, 2))
        if np.any(ok):
            step[ok] = -np.linalg.solve(jac[ok], f[0][ok][..., None])[..., 0]
        step[:, 0] = np.clip(step[:, 0], -0.25 * batch.burn, 0.25 * batch.burn)
        step[:, 1] = np.clip(step[:, 1], -0.2, 0.2)
        tc = np.clip(tc + step[:, 0], lo1, hi1)
        theta = np.clip(theta + step[:, 1], lo2, hi2)
    return tc, theta


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Solution:
    """Solved trajectories (n of them) and their burnout conditions. Angles in rad, SI."""

    trajectories: Trajectories
    launch_lat: np.ndarray
    launch_lon: np.ndarray
    target_lat: np.ndarray
    target_lon: np.ndarray
    azimuth: np.ndarray  # launch azimuth (from north, clockwise)
    burnout_speed: np.ndarray  # relative to the rotating Earth (m/s)
    burnout_speed_inertial: np.ndarray  # m/s
    burnout_flight_path_angle: np.ndarray  # relative to the rotating Earth (rad)
    cutoff_time: np.ndarray  # s after launch (missile), NaN for impulsive
    pitch_final: np.ndarray  # θ_f (missile), NaN for impulsive
    range_m: np.ndarray  # surface distance launch -> aimpoint
    miss_m: np.ndarray  # surface distance impact -> aimpoint
    converged: np.ndarray  # bool: landed within tolerance (and met the apogee / time)

    @property
    def n(self) -> int:
        return self.trajectories.n

    @property
    def apogee_altitude(self) -> np.ndarray:
        return self.trajectories.apogee_altitude

    @property
    def flight_time(self) -> np.ndarray:
        return self.trajectories.flight_time


def aim(
    launch_lat: np.ndarray | float,
    launch_lon: np.ndarray | float,
    target_lat: np.ndarray | float,
    target_lon: np.ndarray | float,
    *,
    model: str = "full",
    launch_time: np.ndarray | float = 0.0,
    missile: ThreatMissile | Sequence[ThreatMissile] | None = None,
    apogee_m: np.ndarray | float | None = None,
    flight_time_s: np.ndarray | float | None = None,
    tol_m: float = 1.0,
    dense: bool = True,
) -> Solution:
    """Solve N trajectories from launch points to aimpoints (geodetic, rad) on the rotating Earth.

    ``missile``: None (impulsive burnout at the launch point, no drag), one ``ThreatMissile``
    for all, or one per trajectory. ``apogee_m`` / ``flight_time_s`` (scalar or (n,), NaN = not
    constrained): lofted or depressed trajectories; otherwise minimum energy. Trajectories that
    cannot reach (``converged`` False) keep their best attempt.
    """
    earth.check_model(model)
    count = 1 if missile is None or isinstance(missile, ThreatMissile) else len(missile)
    arrays = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(x, float))
            for x in (
                launch_lat,
                launch_lon,
                target_lat,
                target_lon,
                launch_time,
                np.nan if apogee_m is None else apogee_m,
                np.nan if flight_time_s is None else flight_time_s,
                np.zeros(count),
            )
        )
    )
    lat0, lon0, lat1, lon1, t0, apogee, ftime, _ = (a.copy() for a in arrays)
    n = lat0.shape[0]
    missiles: list[ThreatMissile] | None
    if missile is None:
        missiles = None
    elif isinstance(missile, ThreatMissile):
        missiles = [missile] * n
    else:
        missiles = list(missile)
        if len(missiles) != n:
            raise ValueError("give one missile, or one per trajectory")
    if np.any(np.isfinite(apogee) & np.isfinite(ftime)):
        raise ValueError("give an apogee or a flight time for a trajectory, not both")

    batch = _make_batch(model, lat0, lon0, lat1, lon1, t0, missiles)
    settings = _Settings(tol_m=tol_m)
    p1 = np.full(n, np.nan)
    p2 = np.full(n, np.nan)
    az = batch.bearing.copy()
    conv = np.zeros(n, bool)
    # First guess of the loft: the sphere's formulas.
    gamma = kepler.angle_for(batch.psi)
    for goal, key in ((apogee, "apogee_m"), (ftime, "flight_time_s")):
        sel = np.isfinite(goal)
        if np.any(sel):
            gamma[sel] = kepler.angle_for(batch.psi[sel], **{key: goal[sel]})
    if missiles is None:
        p1 = kepler.speed_for_range(batch.psi, gamma)
        p2 = gamma
    else:
        p1, p2 = _missile_first_guess(batch, gamma, az, settings)

    groups = [
        (np.isnan(apogee) & np.isnan(ftime), None, None),
        (np.isfinite(apogee), "apogee", apogee),
        (np.isfinite(ftime), "time", ftime),
    ]
    for sel, third, goal in groups:
        if not np.any(sel):
            continue
        idx = np.nonzero(sel)[0]
        sub = batch.take(idx)
        if third is None:
            s1, s2, sa, c = _minimum_energy(sub, p1[idx], p2[idx], az[idx], settings)
        else:
            s1, s2, sa, c = _solve(
                sub, p1[idx], p2[idx], az[idx], third=third, goal=goal[idx], settings=settings
            )
        p1[idx], p2[idx], az[idx], conv[idx] = s1, s2, sa, c

    return _solution(batch, p1, p2, az, conv, tol_m=tol_m, dense=dense)


def _solution(
    batch: _Batch,
    p1: np.ndarray,
    p2: np.ndarray,
    az: np.ndarray,
    conv: np.ndarray,
    *,
    tol_m: float,
    dense: bool,
    max_flight_s: np.ndarray | float = DEFAULT_MAX_FLIGHT_S,
) -> Solution:
    """Fly the solved parameters once more (dense output if asked) and gather the result."""
    model, n = batch.model, batch.m
    traj = batch.shoot(p1, p2, az, dense=dense, max_flight_s=max_flight_s)
    lat_i, lon_i = traj.impact_lat_lon
    miss = earth.surface_distance(lat_i, lon_i, batch.lat1, batch.lon1, model)
    speed, angle = relative_speed_and_angle(traj.burnout_state_eci, traj.burnout_time, model)
    nan = np.full(n, np.nan)
    return Solution(
        trajectories=traj,
        launch_lat=batch.lat0,
        launch_lon=batch.lon0,
        target_lat=batch.lat1,
        target_lon=batch.lon1,
        azimuth=np.mod(az, 2.0 * np.pi),
        burnout_speed=speed,
        burnout_speed_inertial=np.linalg.norm(traj.burnout_state_eci[:, 3:], axis=-1),
        burnout_flight_path_angle=angle,
        cutoff_time=p1 if batch.missile else nan,
        pitch_final=p2 if batch.missile else nan,
        range_m=earth.surface_distance(batch.lat0, batch.lon0, batch.lat1, batch.lon1, model),
        miss_m=miss,
        converged=conv & (miss < max(tol_m, 1.0) * 10.0),
    )


def forward(
    burnout_state_eci: np.ndarray,
    burnout_time: np.ndarray | float,
    model: str = "full",
    *,
    ballistic_coefficient: np.ndarray | float = np.inf,
    dense: bool = True,
) -> Trajectories:
    """Forward mode: where do free flights from given burnout states land?

    ``.impact_lat_lon``, ``.impact_time``, ``.apogee_altitude`` of the result answer it.
    """
    return propagate(
        burnout_state_eci,
        burnout_time,
        model,
        ballistic_coefficient=ballistic_coefficient,
        dense=dense,
    )


def fly(
    missile: ThreatMissile | Sequence[ThreatMissile],
    launch_lat: np.ndarray | float,
    launch_lon: np.ndarray | float,
    azimuth: np.ndarray | float,
    cutoff_time: np.ndarray | float,
    pitch_final: np.ndarray | float,
    *,
    launch_time: np.ndarray | float = 0.0,
    model: str = "full",
    dense: bool = True,
) -> Trajectories:
    """Forward mode for missiles: fly given pitch programmes and cut-off times."""
    arrays = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(x, float))
            for x in (launch_lat, launch_lon, azimuth, cutoff_time, pitch_final, launch_time)
        )
    )
    lat0, lon0, az, tc, theta, t0 = (a.copy() for a in arrays)
    n = lat0.shape[0]
    missiles = [missile] * n if isinstance(missile, ThreatMissile) else list(missile)
    batch = _make_batch(model, lat0, lon0, lat0, lon0, t0, missiles)
    return batch.shoot(np.minimum(tc, batch.burn), theta, az, dense=dense)


# --------------------------------------------------------------------------------------------
# Many aimpoints from one launch point: a table of minimum-energy solutions
# --------------------------------------------------------------------------------------------

#: Table spacing: bearing nodes at most this far apart (rad); cut-off times per bearing.
TABLE_BEARING_STEP = np.radians(6.0)
TABLE_RANGE_NODES = 8
_TABLE_BEARING_PAD = np.radians(0.5)  # a table spans some bearings even for one aimpoint
#: Lofts tried (rad) for the maximum range at a cut-off time, then refined by parabolas.
_MAX_RANGE_LOFTS = np.radians(np.arange(10.0, 71.0, 5.0))


@dataclass(frozen=True, eq=False)
class LoftTable:
    """Minimum-energy solutions from one launch point over a sector of (bearing, range).

    The minimum-energy loft for a range (least cut-off time t_c over the final pitch θ_f,
    landing there) is the loft of greatest range at that cut-off time: at the optimum
    ∂t_c/∂θ_f = -(∂ψ/∂θ_f) / (∂ψ/∂t_c) = 0 along the landing condition, i.e. ∂ψ/∂θ_f = 0 at
    fixed t_c. So the table is built forwards, without targeting: for every bearing node
    (``bearing`` (nb,), rad, increasing, unwrapped) and every cut-off time of a set rising to
    the full burn, the loft of greatest range (``_max_range``), flown on the azimuth that lands
    on the node's bearing. Nodes (nb, ns): the range angle ``range`` (increasing along each
    bearing; the last one, at full burn, the maximum range), the cut-off time, the final pitch,
    the azimuth minus the bearing, and the Jacobian of the (down-range, cross-range) miss with
    respect to (cut-off, azimuth) (m/s, m/rad).
    """

    model: str
    missile: ThreatMissile
    launch_lat: float
    launch_lon: float
    launch_time: float
    bearing: np.ndarray  # (nb,)
    range: np.ndarray  # (nb, ns) range angle (rad)
    cutoff: np.ndarray  # (nb, ns)
    pitch_final: np.ndarray  # (nb, ns)
    azimuth_offset: np.ndarray  # (nb, ns)
    jacobian: np.ndarray  # (nb, ns, 2, 2)

    def _bearing_cell(self, bearing: np.ndarray):
        """Node index i and weight u of bearings between nodes i and i + 1 (edge values
        outside the table)."""
        b = _unwrap_to(np.asarray(bearing, float), self.bearing.mean())
        i = np.clip(np.searchsorted(self.bearing, b) - 1, 0, self.bearing.size - 2)
        u = np.clip((b - self.bearing[i]) / (self.bearing[i + 1] - self.bearing[i]), 0.0, 1.0)
        return i, u

    def max_range(self, bearing: np.ndarray) -> np.ndarray:
        """Maximum range angle (rad) at initial bearings (rad), linear between the nodes."""
        i, u = self._bearing_cell(bearing)
        return (1 - u) * self.range[i, -1] + u * self.range[i + 1, -1]

    def lookup(self, psi: np.ndarray, bearing: np.ndarray):
        """Interpolation at (ψ, bearing), linear in ψ along the two neighbouring bearing nodes,
        then linear in bearing: beyond (ψ above the maximum range), cut-off, pitch, azimuth
        offset, Jacobian. Outside the table the edge values."""
        psi = np.asarray(psi, float)
        i, u = self._bearing_cell(bearing)
        ns = self.range.shape[1]

        def along(row):
            nodes = self.range[row]  # (n, ns)
            k = np.clip(np.sum(nodes <= psi[:, None], axis=1) - 1, 0, ns - 2)
            lo, hi = np.take_along_axis(nodes, k[:, None], 1)[:, 0], nodes[np.arange(k.size), k + 1]
            return k, np.clip((psi - lo) / np.maximum(hi - lo, 1e-12), 0.0, 1.0)

        k0, w0 = along(i)
        k1, w1 = along(i + 1)

        def interp(table):
            extra = (1,) * (table.ndim - 2)
            r0 = (1 - w0.reshape(-1, *extra)) * table[i, k0] + w0.reshape(-1, *extra) * table[
                i, k0 + 1
            ]
            r1 = (1 - w1.reshape(-1, *extra)) * table[i + 1, k1] + w1.reshape(-1, *extra) * table[
                i + 1, k1 + 1
            ]
            uu = u.reshape(-1, *extra)
            return (1 - uu) * r0 + uu * r1

        return (
            psi > self.max_range(bearing),
            interp(self.cutoff),
            interp(self.pitch_final),
            interp(self.azimuth_offset),
            interp(self.jacobian),
        )


def _unwrap_to(angle: np.ndarray, reference: float) -> np.ndarray:
    """``angle`` shifted by multiples of 2π into [reference - π, reference + π)."""
    return reference + np.mod(np.asarray(angle, float) - reference + np.pi, 2 * np.pi) - np.pi


def _on_sphere(lat0: float, lon0: float, psi: np.ndarray, bearing: np.ndarray):
    """The point at range angle ψ and initial bearing from (lat0, lon0), on the sphere of the
    miss coordinates (the inverse of ``earth.central_angle`` and ``_bearing``)."""
    return earth.destination(lat0, lon0, bearing, psi * earth.R_IDEAL, model="ideal")


def _max_range(
    batch: _Batch, cutoff: np.ndarray, az: np.ndarray, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greatest range angle over the loft at cut-off times ``cutoff`` and launch azimuths
    ``az`` (m,): the
    best of ``_MAX_RANGE_LOFTS``, then two rounds of three-point parabolas (or, from lofts
    ``start`` near the answer, one round 0.5° wide). Returns the range angle (the last
    parabola's vertex value: the range is stationary in the loft there, so the loft's residual
    error costs only its square), the loft and the bearing of the impact (at the last middle
    point)."""
    m = batch.m
    _, _, lo2, hi2 = _bounds(batch)

    def flown(theta: np.ndarray, k: int):
        big = batch.take(np.tile(np.arange(m), k))
        traj = big.shoot(np.tile(cutoff, k), theta.ravel(), np.tile(az, k))
        lat, lon = traj.impact_lat_lon
        psi = earth.central_angle(big.lat0, big.lon0, lat, lon)
        psi = np.where(np.isfinite(psi), psi, -np.inf).reshape(k, m)
        return psi, _bearing(big.lat0, big.lon0, lat, lon).reshape(k, m)

    if start is None:
        lofts = np.clip(_MAX_RANGE_LOFTS, lo2[0], hi2[0])
        psi, _ = flown(np.repeat(lofts[:, None], m, 1), lofts.size)
        center = lofts[np.argmax(psi, axis=0)]
        delta, rounds = np.full(m, lofts[1] - lofts[0]), 2
    else:
        center, delta, rounds = start, np.full(m, np.radians(0.5)), 1
    for _ in range(rounds):
        pts = np.clip(np.stack([center - delta, center, center + delta]), lo2, hi2)
        f, bearing = flown(pts, 3)
        a, b, c = f
        curvature = a - 2.0 * b + c
        with np.errstate(invalid="ignore", divide="ignore"):
            vertex = center - delta * (c - a) / (2.0 * curvature)
            top = b - (c - a) ** 2 / (8.0 * curvature)
        good = np.isfinite(vertex) & (curvature < 0) & (vertex > pts[0]) & (vertex < pts[2])
        best = np.argmax(f, 0)
        center = np.where(good, vertex, pts[best, np.arange(m)])
        value = np.where(good, top, f[best, np.arange(m)])
        delta = delta / 3.0
    return value, center, bearing[1]


def _miss_jacobian(batch: _Batch, p1: np.ndarray, p2: np.ndarray, az: np.ndarray) -> np.ndarray:
    """(m, 2, 2) derivatives of the (down, cross) miss by (cut-off, azimuth), finite
    differences (backward in the cut-off: it may sit at its upper bound)."""
    d1, _, daz = _steps(batch)
    m = batch.m
    big = batch.take(np.tile(np.arange(m), 3))
    traj = big.shoot(
        np.concatenate([p1, p1 - d1, p1]), np.tile(p2, 3), np.concatenate([az, az, az + daz])
    )
    down, cross = big.residuals(traj)
    f = np.stack([down, cross], -1).reshape(3, m, 2)
    return np.stack([(f[0] - f[1]) / d1, (f[2] - f[0]) / daz], -1)


def loft_table(
    launch_lat: float,
    launch_lon: float,
    missile: ThreatMissile,
    target_lat: np.ndarray,
    target_lon: np.ndarray,
    *,
    model: str = "full",
    launch_time: float = 0.0,
) -> LoftTable:
    """The ``LoftTable`` of one missile from one launch point covering the bearings and the
    ranges of the given aimpoints (rad)."""
    earth.check_model(model)
    lat1 = np.atleast_1d(np.asarray(target_lat, float))
    lon1 = np.atleast_1d(np.asarray(target_lon, float))
    lat0, lon0, t0 = float(launch_lat), float(launch_lon), float(launch_time)
    psi = earth.central_angle(lat0, lon0, lat1, lon1)
    bear = _bearing(lat0, lon0, lat1, lon1)
    # Bearings unwrapped around their circular mean; nodes evenly over their span.
    b = _unwrap_to(bear, float(np.angle(np.mean(np.exp(1j * bear)))))
    b_lo, b_hi = b.min() - _TABLE_BEARING_PAD, b.max() + _TABLE_BEARING_PAD
    nb = int(np.ceil((b_hi - b_lo) / TABLE_BEARING_STEP)) + 1
    bearing = np.linspace(b_lo, b_hi, nb)

    def batch_of(m: int, tlat=None, tlon=None) -> _Batch:
        tlat = np.full(m, lat0) if tlat is None else tlat
        tlon = np.full(m, lon0) if tlon is None else tlon
        return _make_batch(model, np.full(m, lat0), np.full(m, lon0), tlat, tlon,
                           np.full(m, t0), [missile] * m)  # fmt: skip

    one = batch_of(nb)
    lo1, burn = float(_bounds(one)[0][0]), float(one.burn[0])
    # Cut-off times whose ranges spread evenly from the nearest aimpoint to the maximum: the
    # range against the cut-off time on the middle bearing at a loft of 35° (a guide only).
    grid_tc = np.linspace(lo1, burn, 60)
    probe = batch_of(grid_tc.size)
    traj = probe.shoot(grid_tc, np.full(grid_tc.size, np.radians(35.0)),
                       np.full(grid_tc.size, bearing[nb // 2]))  # fmt: skip
    lat_i, lon_i = traj.impact_lat_lon
    grid_psi = np.nan_to_num(earth.central_angle(lat0, lon0, lat_i, lon_i), nan=0.0)
    grid_psi = np.maximum.accumulate(grid_psi)
    ns = TABLE_RANGE_NODES
    want = np.linspace(min(psi.min(), grid_psi[-1]) * 0.97, grid_psi[-1], ns)
    tc = np.interp(want, grid_psi, grid_tc)
    tc[-1] = burn
    tc = np.maximum.accumulate(np.clip(tc, lo1, burn))
    # Greatest range at every (bearing, cut-off): flown on the bearing, then on the azimuth
    # that corrects the deflection of the impact (the Earth's rotation), from the loft found.
    nodes = batch_of(nb * ns)
    cutoff = np.tile(tc, nb)
    node_b = np.repeat(bearing, ns)
    _, loft, b_imp = _max_range(nodes, cutoff, node_b)
    az = node_b - _unwrap_to(b_imp - node_b, 0.0)
    rng, loft, _ = _max_range(nodes, cutoff, az, start=loft)
    # Jacobians at the nodes, aimed at the nodes' own impacts.
    tlat, tlon = _on_sphere(lat0, lon0, rng, node_b)
    jac = _miss_jacobian(batch_of(nb * ns, tlat, tlon), cutoff, loft, az)
    shape = (nb, ns)
    return LoftTable(
        model=model,
        missile=missile,
        launch_lat=lat0,
        launch_lon=lon0,
        launch_time=t0,
        bearing=bearing,
        range=np.maximum.accumulate(rng.reshape(shape), axis=1),
        cutoff=cutoff.reshape(shape),
        pitch_final=loft.reshape(shape),
        azimuth_offset=(az - node_b).reshape(shape),
        jacobian=jac.reshape(nb, ns, 2, 2),
    )


def aim_from_table(
    table: LoftTable,
    target_lat: np.ndarray | float,
    target_lon: np.ndarray | float,
    *,
    tol_m: float = 1.0,
    max_iter: int = 8,
    dense: bool = True,
) -> Solution:
    """``aim`` (minimum energy) for many aimpoints from the table's launch point, fast.

    The final pitch is the table's (interpolated; the cut-off time is stationary in it at the
    minimum, so its error costs energy only to second order), the cut-off time and the azimuth
    are solved per aimpoint by Newton's chord method from the table's values and Jacobian (one
    propagation per iteration, converging linearly at the rate ρ of the Jacobian's error). An
    aimpoint leaves the iteration when its next miss, predicted as ρ times the present one, is
    below ``tol_m`` / 10; the final flight checks it (``converged``: miss < 10 ``tol_m``, as in
    ``aim``). Aimpoints beyond the table's maximum range are out of reach and not flown
    (their trajectories end 1 s after launch), and so are those pinned at full burn (next to
    the maximum range); those the chord method does not land are solved by ``aim``.
    """
    lat1 = np.atleast_1d(np.asarray(target_lat, float)).copy()
    lon1 = np.atleast_1d(np.asarray(target_lon, float)).copy()
    n = lat1.shape[0]
    model = table.model
    batch = _make_batch(model, np.full(n, table.launch_lat), np.full(n, table.launch_lon),
                        lat1, lon1, np.full(n, table.launch_time),
                        [table.missile] * n)  # fmt: skip
    beyond, p1, p2, offset, jac = table.lookup(batch.psi, batch.bearing)
    az = batch.bearing + offset
    lo1, hi1, _, _ = _bounds(batch)
    p1 = np.clip(p1, lo1, hi1)
    conv = np.zeros(n, bool)
    redo = np.zeros(n, bool)
    last_miss = np.full(n, np.inf)
    active = np.flatnonzero(~beyond)
    for _ in range(max_iter):
        if active.size == 0:
            break
        sub = batch.take(active)
        down, cross = sub.residuals(sub.shoot(p1[active], p2[active], az[active]))
        f = np.stack([down, cross], -1)
        miss = np.hypot(down, cross)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(np.isfinite(last_miss[active]), miss / last_miss[active], 0.5)
            predicted = np.minimum(rate, 1.0) * miss
        last_miss[active] = miss
        bad = ~np.all(np.isfinite(f), axis=1)
        redo[active[bad]] = True
        go = ~bad & (miss >= tol_m)
        step = np.zeros((active.size, 2))
        if np.any(go):
            step[go] = -np.linalg.solve(jac[active[go]], f[go][..., None])[..., 0]
        q1 = p1[active]
        # Pinned at full burn and still short: out of reach with the table's loft (next to
        # the maximum range, where the best loft could reach a few km further).
        pinned = go & (q1 == hi1[active]) & (step[:, 0] > 0)
        p1[active] = np.clip(q1 + step[:, 0], lo1[active], hi1[active])
        az[active] += step[:, 1]
        done = ~bad & ~pinned & ((miss < tol_m) | (predicted < 0.1 * tol_m))
        conv[active[done]] = True
        active = active[~bad & ~pinned & ~done]
    redo[active] = True
    if np.any(redo):
        idx = np.flatnonzero(redo)
        exact = aim(table.launch_lat, table.launch_lon, lat1[idx], lon1[idx], model=model,
                    launch_time=table.launch_time, missile=table.missile, tol_m=tol_m,
                    dense=False)  # fmt: skip
        p1[idx], p2[idx], az[idx] = exact.cutoff_time, exact.pitch_final, exact.azimuth
        conv[idx] = exact.converged
    max_flight = np.where(beyond, 1.0, DEFAULT_MAX_FLIGHT_S)
    return _solution(batch, p1, p2, az, conv, tol_m=tol_m, dense=dense, max_flight_s=max_flight)
