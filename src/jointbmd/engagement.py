"""Engagement: interceptor flyout, intercept solution, doctrine and weapon-target assignment.

In
    - interceptor types (``InterceptorType``: burnout speed, burn time, altitude band, range,
      SSPK) and fire units (``FireUnits``: site, type, inventory, salvo, launch interval,
      doctrine, kill-assessment delay), as plain numbers;
    - each threat's predicted trajectory as ECEF positions ``r_ecef (n, T, 3)`` at times
      ``t_grid (T,)`` (NaN where the threat is not flying), from a track's prediction or the truth;
    - per (threat, fire unit) the earliest time a launch is allowed (firm track + decision
      latency; ``inf`` where the arrangement forbids it);
    - a ``numpy.random.Generator`` for the kill draws.

Out
    - ``ReachTable``: minimum flyout time to any (ground range, altitude) point, per type;
    - ``InterceptSolution``: earliest feasible intercept (time, launch time, point, altitude);
    - ``Assignment``: which fire unit engages which threat (optimal assignment, in rounds);
    - ``EngagementOutcome``: every shot fired (launch, intercept, kill draw), which threats were
      killed and when, inventory left.

Flyout model
    The boost is flown, not assumed: constant thrust acceleration a for the burn time t_b along
    u = cos θ ĥ + sin θ û (ĥ, û the local downrange horizontal and up), with the propagator's
    pitch programme (``BoostProgramme``) θ = θ_0 during a rise of τ_r = min(5 s, 0.1 t_b), then
    θ(τ) = θ_f + (θ_0 - θ_f)(1 - x)², x = (τ - τ_r)/(t_b - τ_r), under gravity, then free flight
    -- boost and coast integrated together by the threats' own propagator
    (``jointbmd.trajectory.propagate``, ``model="ideal"``: point-mass gravity of the sphere
    R = 6 371 km). Two branches of programmes (``_programme_grid``): *lofted*, θ_0 = 90° (a
    vertical rise, then a gravity-turn-like pitch-over to θ_f from 90° down to -90°), and
    *direct*, θ_0 = θ_f = ε (a fixed attitude from launch, ε from 90° down to 1°: the limit of
    an immediate pitch-over). The lofted pitch is a function of the fraction of the burn
    flown, so a fast type, passing points close to the site early in its burn, passes them
    only steeply; the direct branch reaches the low ones, up to its burnout (docs/modelling.md,
    Engagement).
    ``burnout_speed_mps`` means the speed at burnout along the flown path, after the gravity
    loss of the boost: for each programme the thrust is solved (secant, to 0.05 m/s) so that
    the flyout has exactly that speed at t_b. A longer burn at the same burnout speed
    therefore needs more thrust (its gravity loss ∫ g sin γ dt grows with t_b) and spends longer
    at low speed; at the same motor (same ideal delta-v a t_b) a longer burn loses more to
    gravity and never reaches further (``tests/test_engagement.py``). At the same burnout speed,
    a longer burn does burn out higher (by about v t_b / 2 for a vertical shot), which is
    physics, not an artefact: the reach table says how much that buys. The previous model (a
    straight gravity-free boost, d = v t² / (2 t_b)) nearly agrees for a vertical shot; inclined,
    its boost did not bend under gravity and needed no thrust to hold its line.

    Drag is neglected for the flyout: the published burnout speeds already include the boost's
    drag loss, and the coast of an exo-atmospheric interceptor is mostly above the sensible
    atmosphere; depressed flyouts that burn out low would lose some speed to drag that this
    model keeps (their reach is an upper bound).

    The intercept point is described relative to the launch site by its ground range s = R ψ
    (ψ the geocentric angle between site and point) and its height above the surface minus the
    site's height. Earth rotation (Coriolis, centrifugal and the site's inertial
    velocity), J2 and the ellipsoid's curvature are neglected for the flyout: Coriolis
    acceleration is perpendicular to the velocity (it bends the path, which guidance absorbs, and
    does not change the speed) and the centrifugal term is 0.3 % of g; over a flyout of a few
    minutes they change the flyout *time* by well under 1 % (``tests/test_engagement.py`` flies
    the same boost programme with J2 and rotation through the shared propagator and checks the
    table against it).

Reach table
    The programmes k form one chain through the family (the lofted branch by θ_f ascending, dense
    near the vertical, then the direct one by ε descending; they meet at the vertical), and each
    flyout is sampled every ``dt`` seconds; each trajectory's ground range grows monotonically,
    so it passes every range s_i once, at a height h_k(s_i) and time t_k(s_i). At a fixed range,
    h_k(s_i) is a continuous function of the position along the chain; each sign change of
    h_k(s_i) - h_j between neighbours is a trajectory through (s_i, h_j), its time interpolated
    linearly between them; the table holds the smallest such time (the fastest trajectory: the
    one that allows the latest launch). The vertical column
    s = 0 comes from the vertical shot. Queries interpolate bilinearly; a query whose cell
    touches an unreachable node is unreachable (conservative by at most one cell).

Envelope
    The table spans the kinematic envelope (within ``max_flyout_s`` = 1200 s by default): the
    farthest ground range any flyout reaches above the floor, and the vertical shot's apogee.
    The scenario's ``max_range_km`` / ``max_altitude_km`` are optional caps on top (seeker,
    kill-vehicle or policy limits); ``ReachTable.range_limit`` / ``altitude_limit`` say which of
    the two binds.

Intercept solution
    For each (threat, fire unit) and each sample t_k of the threat's trajectory, the launch time
    needed to meet the threat there is L(t_k) = t_k - T_fly(s, h). The earliest feasible intercept
    is the first t with the point inside the type's envelope (min_altitude ≤ h ≤ max_altitude,
    s ≤ max_range, reachable) and L(t) ≥ earliest allowed launch; it is refined between samples by
    bisection on positions interpolated linearly in time. A threat that flies away from a slower
    interceptor gives L(t) falling with t (the flyout grows faster than the clock): no intercept.

Doctrine
    A *barrage* fires ``salvo`` interceptors at one engagement; each kills independently with the
    SSPK, so the engagement kills with p = 1 - (1 - SSPK)^salvo. *Shoot-look-shoot* fires a salvo,
    waits for the kill assessment at (last intercept + ``kill_assessment_delay_s``) and, if the
    threat survived (as the assessment calls it: right with the unit's
    ``kill_assessment_p_correct``, perfect by default) and an intercept is still feasible and
    inventory remains, fires another salvo (up to ``max_salvos``). Two looks give
    P = 1 - (1 - p1)(1 - p2) while spending the second salvo only on survivors (Wilkening 1999,
    Science & Global Security 8(2); docs/reference.md). Within a fire unit, launches
    are at least ``launch_interval_s`` apart and inventory is never exceeded.

Handover (track error in the kill)
    A kill vehicle homes on what its seeker sees, from the point the guiding track handed it
    over to. The handover error is the guiding track's estimate, propagated along the
    ballistic model to the intercept time, minus the truth there; what matters is its part
    across the closing velocity V_c (the error along it only shifts the time of closest
    approach). The kill vehicle corrects it up to the smaller of the seeker's basket
    R_acq tan(FOV/2) and its divert reach ΔV t_go / 2, t_go = R_acq / V_c (a constant lateral
    acceleration ΔV / t_go over t_go; Zarchan, *Tactical and Strategic Missile Guidance*, 2012,
    ch. 2 for the miss-versus-divert relation). Outside it the shot misses; inside it the SSPK
    draw decides. ``InterceptorType.correctable_miss_m`` holds the formula,
    ``execute_engagements(guidance=...)`` applies it shot by shot (the simulation picks the
    guiding track: ``simulation/decide.py``). The interceptor's velocity at intercept is taken
    as its burnout speed along the line from its site to the intercept point (the flyout model
    does not keep the direction).

Weapon-target assignment
    Maximise expected kills. Round 1 gives each threat at most one fire unit: expected kills
    Σ p_ij is linear, so ``scipy.optimize.linear_sum_assignment`` on a cost matrix whose columns
    are the fire units replicated up to their capacity (engagements they can still afford) finds
    the optimum. Further rounds (``max_units_per_threat``) assign the remaining capacity with the
    marginal gain (1 - P_i) p_ij, P_i the kill probability the threat already has -- optimal
    within each round, greedy across rounds (the general WTA problem is NP-complete: Lloyd &
    Witsenhausen 1986). Forbidden or infeasible pairs (the mask) are never assigned.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment

from jointbmd import earth
from jointbmd.arrays import BoolArray, FloatArray, IntArray
from jointbmd.trajectory.propagate import BoostProgramme, propagate

DOCTRINES = ("barrage", "shoot-look-shoot")
_SUBSTEPS = 32
_MIN_PITCH_DEG = -90.0  # lowest final pitch of the lofted programmes: thrust straight down
_MIN_ATTITUDE_DEG = 1.0  # lowest fixed attitude of the direct ones (lower: into the ground)
_THRUST_ITERATIONS = 8
_THRUST_TOLERANCE_MPS = 0.05  # burnout speed matched to this


# --------------------------------------------------------------------------------------------
# Interceptor types and fire units
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InterceptorType:
    """An interceptor's kinematics and lethality, in SI units (see the module docstring), the
    track it needs (``firm_position_sigma_m``) and its kill vehicle's reach (``Handover`` in
    the module docstring; ``inf`` where not a limit).

    ``burnout_speed_mps`` is the speed at burnout relative to the launch site's ground, along
    the flown path, after the boost's gravity (and drag) losses: the figure public sources
    quote. ``max_altitude_m`` and ``max_range_m`` are caps beyond the kinematics (seeker, kill
    vehicle or policy limits); ``inf`` means none: the flyout alone limits the reach.
    """

    name: str
    burnout_speed_mps: float
    burn_time_s: float
    min_altitude_m: float
    max_altitude_m: float
    max_range_m: float
    sspk: float
    firm_position_sigma_m: float = 1000.0
    kv_acquisition_range_m: float = math.inf
    kv_field_of_view_rad: float = math.pi
    kv_divert_mps: float = math.inf

    def correctable_miss_m(self, closing_speed_mps: ArrayLike) -> FloatArray:
        """The largest handover error across the line of sight the kill vehicle corrects at a
        closing speed: min(basket R_acq tan(FOV/2), divert ΔV t_go / 2), t_go = R_acq / V_c."""
        v_c = np.asarray(closing_speed_mps, float)
        r_acq = self.kv_acquisition_range_m
        half = min(self.kv_field_of_view_rad / 2.0, math.pi / 2.0)
        basket = (
            math.inf if not math.isfinite(r_acq) or half >= math.pi / 2 else r_acq * math.tan(half)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            divert = np.where(np.isfinite(r_acq), 0.5 * self.kv_divert_mps * r_acq / v_c, np.inf)
        return np.minimum(basket, divert)

    def __post_init__(self) -> None:
        if not (self.burnout_speed_mps > 0 and self.burn_time_s > 0):
            raise ValueError("burnout speed and burn time must be positive")
        if not (0 <= self.min_altitude_m < self.max_altitude_m and self.max_range_m > 0):
            raise ValueError("need 0 <= min_altitude < max_altitude and max_range > 0 (inf: none)")
        if not 0.0 <= self.sspk <= 1.0:
            raise ValueError("sspk must lie in [0, 1]")

    @classmethod
    def from_km(
        cls,
        name: str,
        burnout_speed_mps: float,
        burn_time_s: float,
        min_altitude_km: float,
        max_altitude_km: float | None,
        max_range_km: float | None,
        sspk: float,
        firm_position_sigma_km: float = 1.0,
        kv_acquisition_range_km: float | None = None,
        kv_field_of_view_deg: float | None = None,
        kv_divert_mps: float | None = None,
        **_ignored: object,
    ) -> InterceptorType:
        """From the scenario's field names (km, deg; a cap or limit of None is none); extra fields
        (``source``) are ignored, so ``InterceptorType.from_km(**interceptor_type.model_dump())``
        works."""

        def cap_m(km: float | None) -> float:
            return math.inf if km is None else 1e3 * float(km)

        return cls(
            name=str(name),
            burnout_speed_mps=float(burnout_speed_mps),
            burn_time_s=float(burn_time_s),
            min_altitude_m=1e3 * float(min_altitude_km),
            max_altitude_m=cap_m(max_altitude_km),
            max_range_m=cap_m(max_range_km),
            sspk=float(sspk),
            firm_position_sigma_m=1e3 * float(firm_position_sigma_km),
            kv_acquisition_range_m=math.inf
            if kv_acquisition_range_km is None
            else 1e3 * float(kv_acquisition_range_km),
            kv_field_of_view_rad=math.pi
            if kv_field_of_view_deg is None
            else math.radians(float(kv_field_of_view_deg)),
            kv_divert_mps=math.inf if kv_divert_mps is None else float(kv_divert_mps),
        )


@dataclass(frozen=True, eq=False)
class FireUnits:
    """M fire units as arrays (m,): site, interceptor type, inventory and doctrine.

    ``types`` lists the distinct interceptor types; ``type_index`` points into it.
    """

    name: tuple[str, ...]
    lat_rad: FloatArray
    lon_rad: FloatArray
    alt_m: FloatArray
    types: tuple[InterceptorType, ...]
    type_index: IntArray
    inventory: IntArray
    salvo: IntArray
    launch_interval_s: FloatArray
    shoot_look_shoot: BoolArray
    kill_assessment_delay_s: FloatArray
    #: Probability that a kill assessment calls the object's state right (1: perfect).
    kill_assessment_p_correct: FloatArray | None = None

    @property
    def m(self) -> int:
        return int(self.lat_rad.shape[0])

    @property
    def sspk(self) -> FloatArray:
        return np.array([self.types[k].sspk for k in self.type_index], float)

    @classmethod
    def create(
        cls,
        *,
        lat_rad: ArrayLike,
        lon_rad: ArrayLike,
        interceptor: InterceptorType | Sequence[InterceptorType],
        inventory: ArrayLike,
        alt_m: ArrayLike = 0.0,
        salvo: ArrayLike = 1,
        launch_interval_s: ArrayLike = 0.0,
        doctrine: str | Sequence[str] = "barrage",
        kill_assessment_delay_s: ArrayLike = 0.0,
        name: Sequence[str] | None = None,
        kill_assessment_p_correct: ArrayLike = 1.0,
    ) -> FireUnits:
        """Build from per-unit values (scalars broadcast to every unit); the number of units is
        the length of ``lat_rad``."""
        lat = np.atleast_1d(np.asarray(lat_rad, float))
        m = lat.shape[0]

        def per_unit(value: ArrayLike, dtype: type) -> np.ndarray:
            return np.broadcast_to(np.asarray(value, dtype), (m,)).copy()

        its = [interceptor] * m if isinstance(interceptor, InterceptorType) else list(interceptor)
        doctrines = [doctrine] * m if isinstance(doctrine, str) else list(doctrine)
        if len(its) != m or len(doctrines) != m:
            raise ValueError("one interceptor type and one doctrine per fire unit")
        for d in doctrines:
            if d not in DOCTRINES:
                raise ValueError(f"unknown doctrine {d!r}; expected one of {DOCTRINES}")
        types = tuple(dict.fromkeys(its))
        inventory_arr = per_unit(inventory, np.int64)
        salvo_arr = per_unit(salvo, np.int64)
        if np.any(inventory_arr < 0) or np.any(salvo_arr < 1):
            raise ValueError("inventory must be >= 0 and salvo >= 1")
        return cls(
            name=tuple(name) if name is not None else tuple(f"unit{j}" for j in range(m)),
            lat_rad=lat,
            lon_rad=per_unit(lon_rad, float),
            alt_m=per_unit(alt_m, float),
            types=types,
            type_index=np.array([types.index(it) for it in its], np.int64),
            inventory=inventory_arr,
            salvo=salvo_arr,
            launch_interval_s=per_unit(launch_interval_s, float),
            shoot_look_shoot=np.array([d == "shoot-look-shoot" for d in doctrines]),
            kill_assessment_delay_s=per_unit(kill_assessment_delay_s, float),
            kill_assessment_p_correct=per_unit(kill_assessment_p_correct, float),
        )


def engagement_pk(sspk: ArrayLike, salvo: ArrayLike) -> FloatArray:
    """Kill probability of one salvo of independent shots: 1 - (1 - SSPK)^salvo."""
    return 1.0 - (1.0 - np.asarray(sspk, float)) ** np.asarray(salvo, float)


# --------------------------------------------------------------------------------------------
# Reach table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ReachTable:
    """Minimum flyout time (s) over a grid of intercept points (ground range, height above the
    site) for one interceptor type; NaN where no trajectory reaches. ``elevation_rad`` is the
    flight-path angle at burnout of the fastest trajectory.

    The kinematic envelope: ``kinematic_range_m``, the farthest ground range at which a point
    at or above the type's floor is reachable within ``max_flyout_s``, and
    ``kinematic_altitude_m``, the vertical shot's apogee (or its height at ``max_flyout_s``).
    The type's caps may be tighter: ``range_limit`` / ``altitude_limit`` say which binds."""

    interceptor: InterceptorType
    range_m: FloatArray  # (I,) uniform from 0
    altitude_m: FloatArray  # (J,) uniform from 0
    flyout_s: FloatArray  # (I, J)
    elevation_rad: FloatArray  # (I, J)
    kinematic_range_m: float = math.nan
    kinematic_altitude_m: float = math.nan
    max_flyout_s: float = math.nan

    @property
    def range_limit(self) -> tuple[float, str]:
        """Effective maximum ground range (m) and what sets it: "kinematic" or "cap"."""
        cap, kin = self.interceptor.max_range_m, self.kinematic_range_m
        return (cap, "cap") if cap < kin else (kin, "kinematic")

    @property
    def altitude_limit(self) -> tuple[float, str]:
        """Effective ceiling (m above the site) and what sets it: "kinematic" or "cap"."""
        cap = self.interceptor.max_altitude_m
        kin = self.kinematic_altitude_m
        return (cap, "cap") if cap < kin else (kin, "kinematic")

    def flyout_time(self, range_m: ArrayLike, altitude_m: ArrayLike) -> FloatArray:
        """Minimum flyout time (s) to points at ground range and height above the launch site
        (broadcast); NaN where unreachable or outside the table. Ignores the envelope: see
        ``in_envelope``."""
        return _bilinear(self.range_m, self.altitude_m, self.flyout_s, range_m, altitude_m)

    def launch_elevation(self, range_m: ArrayLike, altitude_m: ArrayLike) -> FloatArray:
        """Launch elevation (rad) of the fastest trajectory to each point."""
        return _bilinear(self.range_m, self.altitude_m, self.elevation_rad, range_m, altitude_m)

    def in_envelope(self, range_m: ArrayLike, intercept_altitude_m: ArrayLike) -> BoolArray:
        """Whether points lie in the type's altitude band (above the surface) and range."""
        it = self.interceptor
        h = np.asarray(intercept_altitude_m, float)
        s = np.asarray(range_m, float)
        return (h >= it.min_altitude_m) & (h <= it.max_altitude_m) & (s <= it.max_range_m)


def _bilinear(
    x_grid: FloatArray, y_grid: FloatArray, values: FloatArray, x: ArrayLike, y: ArrayLike
) -> FloatArray:
    """Bilinear interpolation on a uniform grid; NaN outside, or if a corner with a non-zero
    weight is NaN (so unreachable cells stay unreachable)."""
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    nx, ny = x_grid.shape[0], y_grid.shape[0]
    fx = (x - x_grid[0]) / (x_grid[1] - x_grid[0])
    fy = (y - y_grid[0]) / (y_grid[1] - y_grid[0])
    outside = ~((fx >= 0) & (fx <= nx - 1) & (fy >= 0) & (fy <= ny - 1))
    fx = np.clip(np.where(outside, 0.0, fx), 0, nx - 1)
    fy = np.clip(np.where(outside, 0.0, fy), 0, ny - 1)
    i = np.minimum(fx.astype(np.int64), nx - 2)
    j = np.minimum(fy.astype(np.int64), ny - 2)
    wx, wy = fx - i, fy - j
    out = np.zeros(x.shape)
    bad = outside.copy()
    for di, dj, w in (
        (0, 0, (1 - wx) * (1 - wy)),
        (1, 0, wx * (1 - wy)),
        (0, 1, (1 - wx) * wy),
        (1, 1, wx * wy),
    ):
        v = values[i + di, j + dj]
        missing = np.isnan(v)
        bad |= missing & (w > 0)
        out += w * np.where(missing, 0.0, v)
    out[bad] = np.nan
    return out


def _programme_grid(programmes: int = 300) -> tuple[FloatArray, FloatArray]:
    """Pitch at the start of the turn θ_0 and at burnout θ_f (rad, (K,)) of the family of boost
    programmes, in the order of one continuous chain through it (neighbours fly neighbouring
    paths, which ``_table_from_flyouts`` relies on):

    - ``programmes`` lofted ones, θ_0 = 90° (the gravity-turn-like pitch-over from the vertical)
      and θ_f ascending from ``_MIN_PITCH_DEG`` (thrust below the horizontal at cut-off: the
      depressed flyouts) to the vertical, dense near 90° where the small ranges at great heights
      are reached (a fifth of them within 1° of it);
    - then ``programmes // 3`` direct ones, θ_0 = θ_f = ε descending from the vertical to
      ``_MIN_ATTITUDE_DEG``: thrust held at the fixed attitude ε from launch to burnout (the
      propagator holds θ_0 during the rise too: the limit of an immediate pitch-over). They
      reach the low points close to the site that lie under every lofted boost path: a lofted
      programme's pitch is a function of the fraction of the burn flown, so early in a fast
      burn, where such points are passed, it is still steep. The table takes them up to
      burnout only: their coasts, after a burn held at a low attitude, would be depressed
      flyouts deep in the atmosphere (a 120 s burn at 20° stays below 20 km for 50 s), which
      the drag-free flyout cannot credit; far from the site the lofted branch's coasts serve.

    Both halves meet at the vertical (θ_0 = θ_f = 90°), so the chain is continuous there."""
    near = programmes // 5
    off_deg = np.concatenate(
        [np.geomspace(2e-4, 1.0, near, endpoint=False),
         np.linspace(1.0, 90.0 - _MIN_PITCH_DEG, programmes - near)]
    )  # fmt: skip
    lofted = np.sort(np.radians(90.0 - off_deg))
    direct_count = programmes // 3
    direct = np.radians(
        np.linspace(90.0, _MIN_ATTITUDE_DEG, direct_count + 1)[1:] if direct_count else []
    )
    start = np.concatenate([np.full(lofted.shape, 0.5 * np.pi), direct])
    return start, np.concatenate([lofted, direct])


def boost_programme(
    interceptor: InterceptorType | None,
    pitch_final_rad: ArrayLike,
    thrust_accel_mps2: ArrayLike,
    plane_normal_eci: ArrayLike = (0.0, 0.0, -1.0),
    burn_time_s: ArrayLike | None = None,
    pitch_start_rad: ArrayLike = 0.5 * np.pi,
) -> BoostProgramme:
    """Boost programmes, one per final pitch (n,): constant thrust acceleration
    ``thrust_accel_mps2`` for the burn time (the interceptor's, or ``burn_time_s`` per
    programme), the first 10 % of the burn (at most 5 s) at ``pitch_start_rad`` (90°: a
    vertical rise, a vertical launcher clearing its cell; notional), then the propagator's
    gravity-turn-like pitch-over from it to ``pitch_final_rad`` at burnout (a start equal to the
    final pitch: a fixed attitude throughout), in the plane with inertial normal
    ``plane_normal_eci`` (the default flies towards +x from (0, R, 0))."""
    pitch = np.atleast_1d(np.asarray(pitch_final_rad, float))
    n = pitch.shape[0]
    tb = np.broadcast_to(
        np.asarray(interceptor.burn_time_s if burn_time_s is None else burn_time_s, float), (n,)
    ).copy()
    return BoostProgramme(
        stage_end=tb[:, None].copy(),
        accel_a=np.zeros((n, 1)),
        accel_b=np.full((n, 1), np.inf),
        accel_c=np.broadcast_to(np.asarray(thrust_accel_mps2, float), (n,))[:, None].copy(),
        cutoff=tb,
        vertical_rise=np.minimum(5.0, 0.1 * tb),
        pitch_start=np.broadcast_to(np.asarray(pitch_start_rad, float), (n,)).copy(),
        pitch_final=pitch,
        plane_normal_eci=np.broadcast_to(np.asarray(plane_normal_eci, float), (n, 3)).copy(),
    )


def solve_thrust(
    interceptor: InterceptorType,
    pitch_final_rad: ArrayLike,
    pitch_start_rad: ArrayLike = 0.5 * np.pi,
) -> FloatArray:
    """Constant thrust acceleration (m/s², (n,)) that gives each boost programme exactly the
    type's burnout speed at burnout, gravity loss included (ideal sphere, launch from the
    surface at rest); NaN where the programme hits the ground before burnout."""
    pitch = np.atleast_1d(np.asarray(pitch_final_rad, float))
    start = np.broadcast_to(np.asarray(pitch_start_rad, float), pitch.shape).copy()
    v = np.full(pitch.shape, interceptor.burnout_speed_mps)
    return _solve_thrust(v, np.full(pitch.shape, interceptor.burn_time_s), start, pitch)


def _solve_thrust(
    v: FloatArray, tb: FloatArray, start: FloatArray, pitch: FloatArray
) -> FloatArray:
    """``solve_thrust`` for programmes with their own burnout speed and burn time (n,): secant
    iterations on v(t_b; a), starting from dv/da = t_b, all programmes in one batch."""
    accel = v / tb + earth.G0
    speed = np.full(pitch.shape, np.nan)
    previous: tuple[FloatArray, FloatArray] | None = None
    for _ in range(_THRUST_ITERATIONS):
        # A programme that hit the ground before burnout has no speed there and no secant: it
        # drops out (NaN thrust) rather than being flown with NaN thrust, which never ends.
        live = np.isfinite(accel)
        if not live.any():
            break
        x0 = np.zeros((int(live.sum()), 6))
        x0[:, 1] = earth.R_IDEAL
        traj = propagate(
            x0, 0.0, "ideal", dense=False, max_flight_s=float(np.max(tb[live])) + 1.0, rtol=1e-9,
            boost=boost_programme(None, pitch[live], accel[live], burn_time_s=tb[live],
                                  pitch_start_rad=start[live]),
        )  # fmt: skip
        speed = np.full(pitch.shape, np.nan)
        speed[live] = np.linalg.norm(traj.burnout_state_eci[:, 3:], axis=1)
        error = v - speed
        if np.nanmax(np.abs(error), initial=0.0) < _THRUST_TOLERANCE_MPS:
            break
        slope = tb.copy()  # dv/da: t_b, then the secant of the last two steps
        if previous is not None:
            da, dv = accel - previous[0], speed - previous[1]
            with np.errstate(invalid="ignore", divide="ignore"):
                secant = dv / da
            slope = np.where(np.isfinite(secant) & (secant > 0.1 * tb), secant, slope)
        previous = (accel, speed)
        accel = accel + error / slope
    return np.where(np.isfinite(speed), accel, np.nan)


def _sample_flyouts(
    v: FloatArray, tb: FloatArray, start: FloatArray, pitch: FloatArray, dt: float,
    max_flyout_s: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:  # fmt: skip
    """Times (S,), ground range and height (K, S) of flyouts with burnout speeds, burn times,
    initial and final pitches (K,), launched from the surface of the ideal sphere at t = 0 (NaN
    after impact), and each one's flight-path angle at burnout (K,). Boost and coast are flown
    together by the shared propagator (``jointbmd.trajectory.propagate``, ``model="ideal"``)."""
    accel = _solve_thrust(v, tb, start, pitch)
    ok = np.isfinite(accel)
    t = np.arange(0.0, max_flyout_s + 0.5 * dt, dt)
    x = np.full((pitch.shape[0], t.shape[0]), np.nan)
    y = np.full_like(x, np.nan)
    rows = np.flatnonzero(ok)
    gamma_b = np.full(pitch.shape, np.nan)
    if rows.size == 0:  # nothing lifts off: every point unreachable
        return t, x, y, gamma_b
    x0 = np.zeros((rows.size, 6))
    x0[:, 1] = earth.R_IDEAL
    flown = propagate(
        x0, 0.0, "ideal", max_flight_s=max_flyout_s,
        boost=boost_programme(None, pitch[ok], accel[ok], burn_time_s=tb[ok],
                              pitch_start_rad=start[ok]),
    )  # fmt: skip
    chunk = max(8, 2**18 // max(rows.size, 1))  # bound the sampler's temporaries
    for start in range(0, t.shape[0], chunk):
        block = flown.position_eci(t[start : start + chunk])
        x[rows, start : start + chunk] = block[..., 0]
        y[rows, start : start + chunk] = block[..., 1]
    b = flown.burnout_state_eci
    gamma_b[ok] = np.arcsin(
        np.clip(np.sum(b[:, :3] * b[:, 3:], 1) / np.linalg.norm(b[:, :3], axis=1)
                / np.linalg.norm(b[:, 3:], axis=1), -1.0, 1.0)
    )  # fmt: skip
    radius = earth.R_IDEAL
    return t, radius * np.arctan2(x, y), np.hypot(x, y) - radius, gamma_b


# Kinematic tables, keyed by (burnout speed, burn time, range step, altitude step, max points,
# dt, max flyout, programmes); bounded, oldest first out.
_KINEMATICS: dict[tuple, tuple] = {}
_KINEMATICS_SIZE = 512
_BATCH_TRAJECTORIES = 4000


def _kinematic_tables(keys: Sequence[tuple]) -> list[tuple]:
    """The kinematic parts of the reach tables ``keys`` (see ``_KINEMATICS``), the missing
    ones flown together (one batched propagation per group of equal sampling)."""
    missing = [k for k in dict.fromkeys(keys) if k not in _KINEMATICS]
    groups: dict[tuple, list[tuple]] = {}
    for key in missing:
        groups.setdefault(key[5:], []).append(key)
    for (dt, max_flyout_s, programmes), members in groups.items():
        # The chain of programmes, then the vertical shot (last: ``_table_from_flyouts``).
        start, pitch = (np.append(a, 0.5 * np.pi) for a in _programme_grid(programmes))
        per_batch = max(1, _BATCH_TRAJECTORIES // pitch.shape[0])
        for first in range(0, len(members), per_batch):
            batch = members[first : first + per_batch]
            v = np.repeat([k[0] for k in batch], pitch.shape[0])
            tb = np.repeat([k[1] for k in batch], pitch.shape[0])
            starts = np.tile(start, len(batch))
            t, s, h, gamma_b = _sample_flyouts(
                v, tb, starts, np.tile(pitch, len(batch)), dt, max_flyout_s
            )
            # The direct branch serves its boost only (``_programme_grid``): its coast would be
            # a depressed flyout after a burn held low in the atmosphere, beyond the drag-free
            # model.
            boost_only = (starts < 0.5 * np.pi)[:, None] & (t[None, :] > tb[:, None])
            s[boost_only] = np.nan
            h[boost_only] = np.nan
            for q, key in enumerate(batch):
                rows = slice(q * pitch.shape[0], (q + 1) * pitch.shape[0])
                while len(_KINEMATICS) >= _KINEMATICS_SIZE:
                    _KINEMATICS.pop(next(iter(_KINEMATICS)))
                _KINEMATICS[key] = _table_from_flyouts(
                    t, s[rows], h[rows], gamma_b[rows], *key[2:5]
                )
    return [_KINEMATICS[k] for k in keys]


def _table_from_flyouts(
    t: FloatArray, s: FloatArray, h: FloatArray, gamma_b: FloatArray,
    range_step_m: float, altitude_step_m: float, max_points: int,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, float, FloatArray]:  # fmt: skip
    """Grid ranges, heights, flyout times, burnout flight-path angles, the kinematic ceiling
    and, per height node, the largest reachable ground range, from sampled flyouts (the last
    one vertical)."""
    airborne = np.isfinite(h) & (h > -1.0)

    # Vertical shot: the only way to s = 0; its ascent gives the first column and the ceiling.
    h_up = h[-1]
    up = np.where(np.isfinite(h_up), h_up, -np.inf)
    ceiling = float(max(np.max(up), 0.0))
    ascent = np.isfinite(h_up) & (np.arange(t.shape[0]) <= np.argmax(up))
    reach_max = float(np.max(np.where(airborne[:-1], s[:-1], 0.0)))
    n_s = int(min(max_points, max(3, math.ceil(reach_max / range_step_m) + 1)))
    n_h = int(min(max_points, max(3, math.ceil(ceiling / altitude_step_m) + 1)))
    # At least one step on each axis (a flyout that barely rises still gets a valid grid).
    ranges = np.linspace(0.0, max(reach_max, range_step_m), n_s)
    heights = np.linspace(0.0, max(ceiling, altitude_step_m), n_h)
    flyout = np.full((n_s, n_h), np.nan)
    elevation = np.full((n_s, n_h), np.nan)
    if ascent.any():
        flyout[0] = np.interp(heights, h_up[ascent], t[ascent], right=np.nan)
    elevation[0] = 0.5 * np.pi

    # Each inclined trajectory passes every ground range once: its height and time there.
    k_count = s.shape[0] - 1
    h_at = np.full((k_count, n_s - 1), np.nan)
    t_at = np.full((k_count, n_s - 1), np.nan)
    for k in range(k_count):
        ok = airborne[k]
        if np.count_nonzero(ok) < 2:
            continue
        sk = np.maximum.accumulate(s[k, ok])
        h_at[k] = np.interp(ranges[1:], sk, h[k, ok], right=np.nan)
        t_at[k] = np.interp(ranges[1:], sk, t[ok], right=np.nan)
    gamma = gamma_b[:-1]
    cols = np.arange(n_s - 1)
    for j, hj in enumerate(heights):
        a, b = h_at[:-1] - hj, h_at[1:] - hj
        cross = ((a <= 0) & (b >= 0)) | ((a >= 0) & (b <= 0))
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(a != b, a / (a - b), 0.0)
        t_cross = np.where(cross, t_at[:-1] + f * (t_at[1:] - t_at[:-1]), np.inf)
        best = np.argmin(t_cross, axis=0)
        t_best = t_cross[best, cols]
        found = np.isfinite(t_best)
        flyout[1:, j] = np.where(found, t_best, np.nan)
        g_best = gamma[best] + f[best, cols] * (gamma[best + 1] - gamma[best])
        elevation[1:, j] = np.where(found, g_best, np.nan)
    reachable = np.isfinite(flyout)
    max_range_at = np.where(
        reachable.any(axis=0), ranges[np.argmax(np.cumsum(reachable, axis=0), axis=0)], np.nan
    )
    return ranges, heights, flyout, elevation, ceiling, max_range_at


def build_reach_tables(
    interceptors: Sequence[InterceptorType],
    *,
    range_step_m: float = 5000.0,
    altitude_step_m: float = 5000.0,
    max_points: int = 401,
    dt: float = 1.0,
    max_flyout_s: float = 1200.0,
    programmes: int = 300,
) -> list[ReachTable]:
    """Reach tables of several interceptor types, their flyouts flown in one batch (see the
    module docstring and ``build_reach_table``)."""
    keys = [
        (float(it.burnout_speed_mps), float(it.burn_time_s), float(range_step_m),
         float(altitude_step_m), int(max_points), float(dt), float(max_flyout_s), int(programmes))
        for it in interceptors
    ]  # fmt: skip
    tables = []
    for it, kin in zip(interceptors, _kinematic_tables(keys), strict=True):
        ranges, heights, flyout, elevation, ceiling, max_range_at = kin
        above_floor = heights >= it.min_altitude_m
        kin_range = float(np.nanmax(max_range_at[above_floor], initial=0.0))
        tables.append(ReachTable(
            it, ranges, heights, flyout, elevation,
            kinematic_range_m=kin_range, kinematic_altitude_m=ceiling,
            max_flyout_s=float(max_flyout_s),
        ))  # fmt: skip
    return tables


def build_reach_table(interceptor: InterceptorType, **grid: Any) -> ReachTable:
    """Compute the reach table of one interceptor type (see the module docstring).

    The grid covers the kinematic envelope: ground ranges up to the farthest any flyout gets
    above the ground within ``max_flyout_s`` (1200 s), heights up to the vertical shot's apogee
    (or its height at ``max_flyout_s``), with steps ``range_step_m`` / ``altitude_step_m`` (5 km;
    at most ``max_points`` = 401 per axis); ``programmes`` (300) lofted boost programmes and a
    third as many direct ones (``_programme_grid``), sampled every ``dt`` (1 s). The caps
    (``max_range_m``, ``max_altitude_m``) do not shape the table; ``in_envelope`` applies them.
    The kinematics are cached per (burnout speed, burn time, grid).
    """
    return build_reach_tables([interceptor], **grid)[0]


@functools.lru_cache(maxsize=64)
def reach_table(interceptor: InterceptorType) -> ReachTable:
    """The reach table of a type with the default grid, computed once per process."""
    return build_reach_table(interceptor)


# --------------------------------------------------------------------------------------------
# Intercept solution
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class InterceptSolution:
    """Earliest feasible intercepts, one per (threat, fire unit) pair; the arrays have the pairs'
    shape ((n, m) from ``solve_intercepts``, (P,) from ``InterceptGeometry.earliest``). Where not
    feasible, times and points are NaN."""

    feasible: BoolArray
    t_intercept: FloatArray
    t_launch: FloatArray
    r_intercept_ecef: FloatArray  # (..., 3)
    altitude_m: FloatArray
    range_m: FloatArray  # ground range from the fire unit
    flyout_s: FloatArray


@dataclass(frozen=True, eq=False)
class InterceptGeometry:
    """Flyout geometry of P (threat, fire unit) pairs along the threats' sampled trajectories,
    computed once and reused for every later shot (a new earliest launch time)."""

    t_grid: FloatArray  # (T,)
    r_ecef: FloatArray  # (n, T, 3)
    units: FireUnits
    model: str
    threat_idx: IntArray  # (P,)
    unit_idx: IntArray  # (P,)
    launch_time: FloatArray  # (P, T) launch time to meet the threat at t_k; NaN if unreachable
    ok: BoolArray  # (P, T) point inside the envelope and reachable
    row_of: IntArray  # (n, m) row of each pair, -1 if absent
    site_ecef: FloatArray  # (m, 3)

    def rows(self, threat_idx: ArrayLike, unit_idx: ArrayLike) -> IntArray:
        """Rows (P',) of the given (threat, unit) pairs; raises if a pair was not computed."""
        r = self.row_of[np.asarray(threat_idx), np.asarray(unit_idx)]
        if np.any(r < 0):
            raise ValueError("intercept geometry was not computed for some of these pairs")
        return r

    def earliest(
        self, earliest_launch: ArrayLike, rows: ArrayLike | None = None
    ) -> InterceptSolution:
        """Earliest feasible intercept of the pairs ``rows`` (all by default) with launches
        allowed from ``earliest_launch`` (broadcast to the rows; inf = never)."""
        rows = np.arange(self.threat_idx.shape[0]) if rows is None else np.asarray(rows)
        e = np.broadcast_to(np.asarray(earliest_launch, float), rows.shape)
        cond = self.ok[rows] & (self.launch_time[rows] >= e[:, None])
        found = cond.any(axis=1) & (e < np.inf)
        k = np.argmax(cond, axis=1)
        t = self.t_grid
        lo = t[np.maximum(k - 1, 0)]
        hi = t[k].copy()
        # Refine between the last sample that fails and the first that holds: two levels of a
        # fine grid (first sub-sample where the condition holds), 1/1024 of the sample spacing.
        refine = np.flatnonzero(found & (k > 0))
        for _ in range(2):
            if refine.size == 0:
                break
            frac = np.arange(1, _SUBSTEPS + 1) / _SUBSTEPS
            sub = lo[refine, None] + frac[None, :] * (hi - lo)[refine, None]
            good = self._condition(
                np.repeat(rows[refine], _SUBSTEPS), sub.ravel(), np.repeat(e[refine], _SUBSTEPS)
            ).reshape(sub.shape)
            # The last sub-sample is hi, where the condition holds (rounding aside: then keep hi).
            first_good = np.where(good.any(axis=1), np.argmax(good, axis=1), _SUBSTEPS - 1)
            idx = np.arange(refine.size)
            hi[refine] = sub[idx, first_good]
            lo[refine] = np.where(first_good > 0, sub[idx, first_good - 1], lo[refine])
        t_int = np.where(found, hi, np.nan)
        r_int = self._position(rows, t_int)
        s, h, fly = self._evaluate(rows, r_int)
        return InterceptSolution(
            feasible=found,
            t_intercept=t_int,
            t_launch=np.where(found, t_int - fly, np.nan),
            r_intercept_ecef=np.where(found[:, None], r_int, np.nan),
            altitude_m=np.where(found, h, np.nan),
            range_m=np.where(found, s, np.nan),
            flyout_s=np.where(found, fly, np.nan),
        )

    def earliest_all(self, earliest_launch: ArrayLike) -> InterceptSolution:
        """Earliest intercepts of every (threat, fire unit) pair, arrays (n, m), for launches
        allowed from ``earliest_launch (n, m)`` (broadcast; inf where not allowed). Needs the
        geometry of every pair (``intercept_geometry`` without a pair selection)."""
        n, m = self.row_of.shape
        e = np.broadcast_to(np.asarray(earliest_launch, float), (n, m)).ravel()
        sol = self.earliest(e)
        return InterceptSolution(
            feasible=sol.feasible.reshape(n, m),
            t_intercept=sol.t_intercept.reshape(n, m),
            t_launch=sol.t_launch.reshape(n, m),
            r_intercept_ecef=sol.r_intercept_ecef.reshape(n, m, 3),
            altitude_m=sol.altitude_m.reshape(n, m),
            range_m=sol.range_m.reshape(n, m),
            flyout_s=sol.flyout_s.reshape(n, m),
        )

    def _position(self, rows: IntArray, t: FloatArray) -> FloatArray:
        """Threat positions (P', 3) at times t (P',), linear between samples."""
        tg = self.t_grid
        tt = np.nan_to_num(np.clip(t, tg[0], tg[-1]), nan=tg[0])
        k = np.clip(np.searchsorted(tg, tt, side="right") - 1, 0, tg.shape[0] - 2)
        w = ((tt - tg[k]) / (tg[k + 1] - tg[k]))[:, None]
        i = self.threat_idx[rows]
        return (1.0 - w) * self.r_ecef[i, k] + w * self.r_ecef[i, k + 1]

    def _evaluate(self, rows: IntArray, r: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        return _flyout_from_sites(self.units, self.site_ecef, self.unit_idx[rows], r, self.model)

    def _condition(self, rows: IntArray, t: FloatArray, e: FloatArray) -> BoolArray:
        r = self._position(rows, t)
        s, h, fly = self._evaluate(rows, r)
        j = self.unit_idx[rows]
        inside = _in_envelope(self.units, j, s, h)
        return inside & np.isfinite(fly) & (t - fly >= e)


def _range_altitude(
    site_ecef: FloatArray, r: FloatArray, model: str, altitude_m: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """Ground range R ψ (ψ the geocentric angle from the site) and altitude of points r (the
    altitude ``altitude_m`` if given: it does not depend on the site)."""
    a, b = site_ecef, r
    cross = np.sqrt(
        (a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]) ** 2
        + (a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]) ** 2
        + (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]) ** 2
    )
    dot = a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]
    h = earth.altitude(r, model) if altitude_m is None else altitude_m
    return earth.R_IDEAL * np.arctan2(cross, dot), h


def flyout_time(
    interceptor: InterceptorType,
    lat_rad: ArrayLike,
    lon_rad: ArrayLike,
    alt_m: ArrayLike,
    r_ecef: ArrayLike,
    model: str = "full",
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Ground range (m), altitude (m) and minimum flyout time (s, NaN if unreachable) of ECEF
    points ``r_ecef (..., 3)`` from a launch site (broadcast). The envelope is not applied."""
    r = np.asarray(r_ecef, float)
    site = earth.geodetic_to_ecef(lat_rad, lon_rad, alt_m, model)
    s, h = _range_altitude(site, r, model)
    table = reach_table(interceptor)
    return s, h, table.flyout_time(s, h - np.asarray(alt_m, float))


def _flyout_from_sites(
    units: FireUnits, site_ecef: FloatArray, j: IntArray, r: FloatArray, model: str,
    altitude_m: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:  # fmt: skip
    """Ground range, altitude and minimum flyout time of points r (P, ..., 3) from units j (P,)
    at sites ``site_ecef (m, 3)`` (the points' altitudes ``altitude_m`` if known)."""
    extra = (1,) * (r.ndim - 2)
    site = site_ecef[j].reshape(j.shape + extra + (3,))
    s, h = _range_altitude(site, r, model, altitude_m)
    height = h - units.alt_m[j].reshape(j.shape + extra)
    tix = np.broadcast_to(units.type_index[j].reshape(j.shape + extra), s.shape)
    fly = np.full(s.shape, np.nan)
    for k, it in enumerate(units.types):
        sel = tix == k
        if np.any(sel):
            fly[sel] = reach_table(it).flyout_time(s[sel], height[sel])
    return s, h, fly


def _in_envelope(units: FireUnits, j: IntArray, s: FloatArray, h: FloatArray) -> BoolArray:
    tix = units.type_index[j]
    lo = np.array([it.min_altitude_m for it in units.types])[tix]
    hi = np.array([it.max_altitude_m for it in units.types])[tix]
    rng = np.array([it.max_range_m for it in units.types])[tix]
    shape = (-1,) + (1,) * (s.ndim - 1)
    return (h >= lo.reshape(shape)) & (h <= hi.reshape(shape)) & (s <= rng.reshape(shape))


def intercept_geometry(
    t_grid: ArrayLike,
    r_ecef: ArrayLike,
    units: FireUnits,
    threat_idx: ArrayLike | None = None,
    unit_idx: ArrayLike | None = None,
    model: str = "full",
) -> InterceptGeometry:
    """Flyout geometry of (threat, fire unit) pairs along trajectories ``r_ecef (n, T, 3)``
    sampled at ``t_grid (T,)`` (increasing; NaN where not flying). Pairs default to every
    threat with every unit."""
    t = np.asarray(t_grid, float)
    r = np.asarray(r_ecef, float)
    if r.ndim != 3 or r.shape[1:] != (t.shape[0], 3) or t.shape[0] < 2:
        raise ValueError("r_ecef must be (n, T, 3) with T = len(t_grid) >= 2")
    n, m = r.shape[0], units.m
    if threat_idx is None:
        ti, uj = np.divmod(np.arange(n * m), m)
    else:
        ti = np.asarray(threat_idx, np.int64).ravel()
        uj = np.asarray(unit_idx, np.int64).ravel()
    row_of = np.full((n, m), -1, np.int64)
    row_of[ti, uj] = np.arange(ti.shape[0])
    site_ecef = earth.geodetic_to_ecef(units.lat_rad, units.lon_rad, units.alt_m, model)
    # A threat's altitude is the same for every unit: computed once per threat.
    threats, back = np.unique(ti, return_inverse=True)
    altitude = earth.altitude(r[threats], model)[back.ravel()]
    s, h, fly = _flyout_from_sites(units, site_ecef, uj, r[ti], model, altitude)
    ok = _in_envelope(units, uj, s, h) & np.isfinite(fly)
    return InterceptGeometry(
        t_grid=t,
        r_ecef=r,
        units=units,
        model=model,
        threat_idx=ti,
        unit_idx=uj,
        launch_time=t[None, :] - fly,
        ok=ok,
        row_of=row_of,
        site_ecef=site_ecef,
    )


def solve_intercepts(
    t_grid: ArrayLike,
    r_ecef: ArrayLike,
    units: FireUnits,
    earliest_launch: ArrayLike,
    model: str = "full",
) -> tuple[InterceptSolution, InterceptGeometry]:
    """Earliest feasible intercept of every threat by every fire unit, arrays (n, m).

    ``earliest_launch (n, m)`` (broadcast): first allowed launch time per pair, inf where not
    allowed. Returns the solution and the geometry (for later shots: ``execute_engagements``).
    """
    geometry = intercept_geometry(t_grid, r_ecef, units, model=model)
    return geometry.earliest_all(earliest_launch), geometry


# --------------------------------------------------------------------------------------------
# Weapon-target assignment
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Assignment:
    """Engagements chosen: pairs (k,) of threat and fire unit, the round each was chosen in,
    the resulting kill probability per threat (n,) and the expected kills."""

    threat_idx: IntArray
    unit_idx: IntArray
    round: IntArray
    p_kill: FloatArray
    expected_kills: float


def default_capacity(units: FireUnits, inventory: ArrayLike | None = None) -> IntArray:
    """Engagements each fire unit can afford: inventory // salvo."""
    inv = units.inventory if inventory is None else np.asarray(inventory, np.int64)
    return inv // units.salvo


def assign_weapons(
    pk: ArrayLike,
    mask: ArrayLike,
    capacity: ArrayLike,
    *,
    max_units_per_threat: int = 1,
) -> Assignment:
    """Assign fire units to threats to maximise expected kills (see the module docstring).

    ``pk (n, m)``: kill probability of an engagement of threat i by unit j (e.g.
    ``engagement_pk(sspk, salvo)``); ``mask (n, m)``: allowed by the arrangement and feasible;
    ``capacity (m,)``: engagements unit j can take on. Round 1 is the exact optimum of expected
    kills with one unit per threat; rounds 2.. add units to threats on their leakage.
    """
    p = np.clip(np.asarray(pk, float), 0.0, 1.0)
    allowed = np.asarray(mask, bool) & (p > 0)
    n, m = p.shape
    cap = np.asarray(capacity, np.int64).copy()
    leak = np.ones(n)
    used = np.zeros((n, m), bool)
    ti_all, uj_all, rd_all = [], [], []
    for rnd in range(max_units_per_threat):
        cols = np.repeat(np.arange(m), np.clip(np.minimum(cap, n), 0, None))
        if cols.size == 0:
            break
        gain = np.where(allowed & ~used, leak[:, None] * p, 0.0)[:, cols]
        if not np.any(gain > 0):
            break
        rows, cidx = linear_sum_assignment(gain, maximize=True)
        keep = gain[rows, cidx] > 0
        rows, units_j = rows[keep], cols[cidx[keep]]
        for i, j in zip(rows, units_j, strict=True):
            leak[i] *= 1.0 - p[i, j]
            used[i, j] = True
            cap[j] -= 1
        ti_all.append(rows)
        uj_all.append(units_j)
        rd_all.append(np.full(rows.shape, rnd))

    def cat(parts: list[np.ndarray]) -> IntArray:
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    p_kill = 1.0 - leak
    return Assignment(cat(ti_all), cat(uj_all), cat(rd_all), p_kill, float(p_kill.sum()))


# --------------------------------------------------------------------------------------------
# Doctrine: firing, kill assessment, kill draws
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Shots:
    """Every interceptor fired, in firing order (k,)."""

    threat_idx: IntArray
    unit_idx: IntArray
    salvo_number: IntArray  # 0 for the first salvo of an engagement, 1 after the first look...
    t_launch: FloatArray
    t_intercept: FloatArray
    altitude_m: FloatArray
    r_intercept_ecef: FloatArray  # (k, 3)
    hit: BoolArray  # the kill vehicle was guided inside its reach and the kill draw succeeded
    kill: BoolArray  # this shot killed the threat (the earliest successful intercept)
    guided: BoolArray  # the handover error lay inside the kill vehicle's reach
    on_false_target: BoolArray  # fired at a decoy or spent stage believed to be a warhead


@dataclass(frozen=True, eq=False)
class EngagementOutcome:
    shots: Shots
    killed: BoolArray  # (n,)
    t_kill: FloatArray  # (n,) NaN if not killed
    killer_unit: IntArray  # (n,) -1 if not killed
    inventory_left: IntArray  # (m,)
    shots_by_unit: IntArray  # (m,)


def execute_engagements(
    geometry: InterceptGeometry,
    threat_idx: ArrayLike,
    unit_idx: ArrayLike,
    earliest_launch: ArrayLike,
    rng: np.random.Generator,
    *,
    inventory: ArrayLike | None = None,
    max_salvos: int | None = None,
    kill_draws: ArrayLike | None = None,
    guidance: Callable[[int, int, float, float, FloatArray], bool] | None = None,
    warhead_engaged: ArrayLike | None = None,
    false_targets: ArrayLike | None = None,
    warhead_slot: ArrayLike | None = None,
    false_target_launch: ArrayLike | None = None,
) -> EngagementOutcome:
    """Fly the assigned engagements (pairs ``threat_idx``, ``unit_idx`` with their first allowed
    launch ``earliest_launch``) with each unit's doctrine, in time order.

    Decisions are taken in the order of their launch times. A unit fires its salvo shot by shot,
    each launch at least ``launch_interval_s`` after its previous one and no earlier than
    allowed, each aimed at the earliest intercept still feasible; it stops when the inventory or
    the feasibility runs out. A shot kills with the type's SSPK (one ``rng.random()`` draw per
    shot, in firing order). A unit skips a decision when the threat is already known dead (a
    successful intercept plus that unit's kill-assessment delay). Shoot-look-shoot units look
    after each salvo and fire again while ``max_salvos`` (None: no limit) allows.

    ``kill_draws (n, K)``, when given, holds the uniform numbers of the kill draws: the s-th shot
    fired at threat i kills when ``kill_draws[i, s] < SSPK``. Sharing one table between
    arrangements makes their kill draws common random numbers; past column K, and without a
    table, ``rng`` draws.

    ``guidance(threat, unit, t_launch, t_intercept, r_intercept_ecef)``, when given, says
    whether the kill vehicle's handover error lies inside its reach (module docstring,
    "Handover"); a shot outside it misses whatever its draw (the draw is still used, so the
    draws stay aligned across arrangements).

    Objects (``objects.py``): per pair, ``warhead_engaged`` (default True) says whether the
    unit's partner believes the warhead is one and engages it, ``false_targets`` (default 0)
    how many other objects of the complex (decoys, spent stages) it believes are warheads and
    engages as well, and ``warhead_slot`` where the warhead comes among them (the unit cannot
    tell them apart, so it takes them in an order it does not choose); ``false_target_launch``
    (default: the pair's earliest launch) when they may first be launched at (an object is
    engaged once it is held). A false target flies the threat's trajectory; a shot at it spends
    an interceptor and can never kill the threat (its
    own kill draw, from ``rng``, only says whether a look finds it destroyed).

    Kill assessment (``FireUnits.kill_assessment_p_correct`` q < 1): after each salvo the unit
    looks, at the last intercept plus its delay, and calls the object's state right with
    probability q (one ``rng`` draw). Called dead, nobody engages it further (a false kill
    lets a live warhead through); called alive, a shoot-look-shoot unit fires again (a missed
    kill spends a salvo on a dead object). With q = 1 the assessment is the truth.
    """
    units = geometry.units
    n = geometry.row_of.shape[0]
    inv = (units.inventory if inventory is None else np.asarray(inventory, np.int64)).copy()
    next_free = np.full(units.m, -np.inf)
    ti = np.atleast_1d(np.asarray(threat_idx, np.int64))
    uj = np.atleast_1d(np.asarray(unit_idx, np.int64))
    rows = geometry.rows(ti, uj) if ti.size else np.zeros(0, np.int64)
    e0 = np.broadcast_to(np.asarray(earliest_launch, float), rows.shape)
    first = geometry.earliest(e0, rows)
    sspk = units.sspk
    p_ka = (
        np.ones(units.m)
        if units.kill_assessment_p_correct is None
        else units.kill_assessment_p_correct
    )
    engage_w = (
        np.ones(rows.shape, bool)
        if warhead_engaged is None
        else np.broadcast_to(np.asarray(warhead_engaged, bool), rows.shape)
    )
    extra = (
        np.zeros(rows.shape, np.int64)
        if false_targets is None
        else np.broadcast_to(np.asarray(false_targets, np.int64), rows.shape)
    )
    slot = (
        np.zeros(rows.shape, np.int64)
        if warhead_slot is None
        else np.broadcast_to(np.asarray(warhead_slot, np.int64), rows.shape)
    )
    # Object 0 of a threat is its warhead; objects 1.. the false targets a unit engages (each
    # pair's own: two units' false targets are not known to be the same objects).
    known_dead: dict[tuple[int, int], float] = {}
    truly_dead: dict[tuple[int, int], float] = {}
    table = None if kill_draws is None else np.asarray(kill_draws, float)
    shots_at = np.zeros(n, np.int64)
    queue: list[tuple[float, int, int, int, float, int]] = []
    seq = 0
    e_false = (
        e0
        if false_target_launch is None
        else np.maximum(e0, np.broadcast_to(np.asarray(false_target_launch, float), rows.shape))
    )
    for q in np.flatnonzero(first.feasible):
        objects = ([0] if engage_w[q] else []) + [
            1 + int(q) * 1000 + f for f in range(int(extra[q]))
        ]
        if engage_w[q] and len(objects) > 1:
            objects.insert(min(int(slot[q]), len(objects) - 1), objects.pop(0))
        for obj in objects:
            e = float(e0[q]) if obj == 0 else float(e_false[q])
            t_first = float(first.t_launch[q]) if e <= first.t_launch[q] else e
            heapq.heappush(queue, (t_first, seq, int(rows[q]), 0, e, obj))
            seq += 1
    fired: list[tuple] = []
    # The earliest intercept for launches from e stays the same for any later e' up to its launch
    # time: reuse it (the shots of a salvo without a launch interval).
    cache: dict[int, tuple[float, InterceptSolution]] = {}

    def solve(row: int, e: float) -> InterceptSolution:
        if row in cache:
            e_used, sol = cache[row]
            if e_used <= e <= sol.t_launch[0]:
                return sol
        sol = geometry.earliest(e, np.array([row]))
        if sol.feasible[0]:
            cache[row] = (e, sol)
        return sol

    while queue:
        key, _, row, salvo_no, e, obj = heapq.heappop(queue)
        i, j = int(geometry.threat_idx[row]), int(geometry.unit_idx[row])
        target = (i, obj)
        if known_dead.get(target, np.inf) <= key:
            continue
        last_intercept = -np.inf
        any_hit = False
        for _ in range(int(units.salvo[j])):
            if inv[j] <= 0:
                break
            sol = solve(row, max(e, next_free[j]))
            if not sol.feasible[0]:
                break
            t_l, t_i = float(sol.t_launch[0]), float(sol.t_intercept[0])
            inv[j] -= 1
            next_free[j] = t_l + units.launch_interval_s[j]
            r_i = sol.r_intercept_ecef[0]
            if obj == 0:
                shot = shots_at[i]
                shots_at[i] += 1
                u = table[i, shot] if table is not None and shot < table.shape[1] else rng.random()
                guided = guidance is None or bool(guidance(i, j, t_l, t_i, r_i))
                struck = guided and bool(u < sspk[j])
            else:
                guided, struck = True, bool(rng.random() < sspk[j])
            hit = struck and obj == 0  # only a shot at the warhead can kill the threat
            fired.append(
                (i, j, salvo_no, t_l, t_i, float(sol.altitude_m[0]), r_i, hit, guided, obj != 0)
            )
            last_intercept = max(last_intercept, t_i)
            if struck:
                any_hit = True
                truly_dead[target] = min(truly_dead.get(target, np.inf), t_i)
                if p_ka[j] >= 1.0:
                    known_dead[target] = min(
                        known_dead.get(target, np.inf), t_i + units.kill_assessment_delay_s[j]
                    )
        if not np.isfinite(last_intercept):
            continue
        t_look = last_intercept + units.kill_assessment_delay_s[j]
        again = True
        if p_ka[j] >= 1.0:
            again = not any_hit
        else:
            dead = truly_dead.get(target, np.inf) <= last_intercept
            called_dead = dead if rng.random() < p_ka[j] else not dead
            if called_dead:
                known_dead[target] = min(known_dead.get(target, np.inf), t_look)
            again = not called_dead
        if (
            again
            and units.shoot_look_shoot[j]
            and (max_salvos is None or salvo_no + 1 < max_salvos)
            and inv[j] > 0
        ):
            seq += 1
            heapq.heappush(queue, (t_look, seq, row, salvo_no + 1, t_look, obj))
    return _outcome(fired, n, units.m, inv)


def _outcome(fired: list[tuple], n: int, m: int, inv: IntArray) -> EngagementOutcome:
    k = len(fired)
    col = list(zip(*fired, strict=True)) if k else [[]] * 10
    shots_threat = np.array(col[0], np.int64)
    shots_unit = np.array(col[1], np.int64)
    t_int = np.array(col[4], float)
    hit = np.array(col[7], bool)
    t_kill = np.full(n, np.nan)
    killer = np.full(n, -1, np.int64)
    kill = np.zeros(k, bool)
    for s in np.argsort(np.where(hit, t_int, np.inf), kind="stable"):
        if not hit[s]:
            break
        i = shots_threat[s]
        if killer[i] < 0:
            killer[i], t_kill[i], kill[s] = shots_unit[s], t_int[s], True
    shots = Shots(
        threat_idx=shots_threat,
        unit_idx=shots_unit,
        salvo_number=np.array(col[2], np.int64),
        t_launch=np.array(col[3], float),
        t_intercept=t_int,
        altitude_m=np.array(col[5], float),
        r_intercept_ecef=np.array(col[6], float).reshape(k, 3),
        hit=hit,
        kill=kill,
        guided=np.array(col[8], bool),
        on_false_target=np.array(col[9], bool),
    )
    return EngagementOutcome(
        shots=shots,
        killed=killer >= 0,
        t_kill=t_kill,
        killer_unit=killer,
        inventory_left=inv,
        shots_by_unit=np.bincount(shots_unit, minlength=m).astype(np.int64),
    )
