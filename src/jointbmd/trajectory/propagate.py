"""Batched propagation of point masses in ECI, with events and dense output.

In: N initial ECI states ``x0_eci (n, 6)`` at start times ``t_start (n,)``, an Earth ``model``,
optionally a ``BoostProgramme`` (thrust along a pitch programme) and the ballistic coefficient of
each body after burnout. Out: a ``Trajectories`` object holding the step nodes of every
trajectory and its events (burnout, apogee, impact), sampled at any times by quintic Hermite
interpolation.

Equations of motion, in the inertial frame (ECI aligned with ECEF at the epoch):

    r'' = g(r) + a_thrust(t) u(t) - ρ(h) |v_rel| v_rel / (2 β),   v_rel = v - ω × r,

with g from ``earth.gravity`` (point mass + J2 for ``full``, point mass for ``ideal``); drag only
for ``full``, after burnout, with the air co-rotating with the Earth (Vallado 2013, §8.6.2);
the thrust direction u is the pitch programme of ``BoostProgramme``.

Integrator: Dormand-Prince 5(4) (Dormand & Prince 1980; Hairer, Nørsett & Wanner, *Solving
ODEs I*, §II.5) with a step size of its own for every trajectory, all trajectories stepping
together as numpy arrays. Steps end exactly at stage separations and thrust cut-off (the
acceleration jumps there), so each step is smooth; finished trajectories leave the working set.
Dense output stores (t, r, v, a) at every step end and interpolates position by the quintic
Hermite polynomial through both ends (velocity by its derivative). Events are roots of
functions of the interpolant: impact where the height above the surface along the geocentric
radius is zero (exactly the ellipsoid, or the sphere), apogee where the height stops rising.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jointbmd import earth

FloatArray = np.ndarray

# Dormand-Prince 5(4) tableau.
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
_A_ROWS = [np.array(row) for row in _A]
_E = np.array([71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])

# Above this height the drag of any re-entry vehicle is below 1e-8 m/s² and is skipped.
DRAG_CEILING_M = 600e3

# The air density of ``earth.atmosphere_density`` tabulated every 10 m up to the drag ceiling
# and interpolated linearly in log: within 1e-4 of the model (the worst at the steps between
# the exponential bands above 86 km), several times faster.
_DENSITY_H = np.arange(-5000.0, DRAG_CEILING_M + 20.0, 10.0)
_LOG_DENSITY = np.log(earth.atmosphere_density(_DENSITY_H))


_DENSITY_SLOPE = np.diff(_LOG_DENSITY) / 10.0


def air_density(alt_m: FloatArray) -> FloatArray:
    """``earth.atmosphere_density`` (kg/m³) below the drag ceiling, from the log-linear table."""
    x = np.clip(np.asarray(alt_m, float), _DENSITY_H[0], _DENSITY_H[-2])
    i = ((x - _DENSITY_H[0]) * 0.1).astype(np.intp)
    return np.exp(_LOG_DENSITY[i] + _DENSITY_SLOPE[i] * (x - _DENSITY_H[i]))


DEFAULT_RTOL = 1e-10
DEFAULT_ATOL_M = 1e-3
DEFAULT_MAX_STEP_S = 60.0
DEFAULT_MAX_FLIGHT_S = 4.0 * 3600.0


# --------------------------------------------------------------------------------------------
# Geometry helpers (cheap, exact on the surface)
# --------------------------------------------------------------------------------------------


def surface_height(r: FloatArray, model: str) -> FloatArray:
    """Height above the surface measured along the geocentric radius (m).

    Zero exactly on the WGS84 ellipsoid (full) or the 6 371 km sphere (ideal); within a few
    metres of the geodetic height up to 1 000 km. Used for the impact event and for air density.
    """
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    rn = np.sqrt(x * x + y * y + z * z)
    if model == "ideal":
        return rn - earth.R_IDEAL
    q = (x * x + y * y) * (1.0 / earth.WGS84_A**2) + z * z * (1.0 / earth.WGS84_B**2)
    return rn * (1.0 - 1.0 / np.sqrt(q))


def surface_normal(r: FloatArray, model: str) -> FloatArray:
    """Unit 'up' vector: the sphere's radial direction, or the normal of the ellipsoid through r
    similar to WGS84 (within 1e-5 rad of the geodetic vertical below 1 000 km). ECI or ECEF."""
    if model == "ideal":
        n = r
    else:
        n = r * np.array([1.0, 1.0, earth.WGS84_A**2 / earth.WGS84_B**2])
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def _omega(model: str) -> float:
    return earth.OMEGA if model == "full" else 0.0


# --------------------------------------------------------------------------------------------
# Boost
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoostProgramme:
    """Thrust of N vehicles: stage tables, cut-off and pitch programme. Times from launch (s).

    In stage s (``stage_end[s-1] <= τ < stage_end[s]``, τ = time since launch) the thrust
    acceleration is A / (B - (τ - start)) + C (``jointbmd.missiles``). Thrust stops at
    ``cutoff`` (thrust termination / burnout), which must not exceed the last stage's end.

    Direction: pitch θ above the local horizontal, in the plane through the centre with inertial
    normal ``plane_normal_eci`` (fixed at launch by the azimuth): u = cos θ ĥ + sin θ û, with û
    the local up and ĥ = unit(w × û). θ = ``pitch_start`` during the vertical rise
    (τ < ``vertical_rise``), then turns to ``pitch_final`` at cut-off, fast at first and
    gently at the end: θ = θ_f + (θ_0 - θ_f) (1 - x)², x the fraction of the time from the end of
    the rise to cut-off (a gravity-turn-like shape).
    Pitch start 90° gives a vertical launch; pitch start = pitch final a fixed attitude.
    """

    stage_end: FloatArray  # (n, S), padded with +inf
    accel_a: FloatArray  # (n, S)
    accel_b: FloatArray  # (n, S), +inf for stages given by delta-v
    accel_c: FloatArray  # (n, S)
    cutoff: FloatArray  # (n,)
    vertical_rise: FloatArray  # (n,)
    pitch_start: FloatArray  # (n,)
    pitch_final: FloatArray  # (n,)
    plane_normal_eci: FloatArray  # (n, 3)

    @property
    def n(self) -> int:
        return int(self.cutoff.shape[0])

    def take(self, index: FloatArray) -> BoostProgramme:
        return BoostProgramme(
            **{
                name: getattr(self, name)[index]
                for name in self.__dataclass_fields__  # type: ignore[attr-defined]
            }
        )

    def pitch(self, tau: FloatArray) -> FloatArray:
        """Pitch angle (rad) at times since launch τ (n,)."""
        span = np.maximum(self.cutoff - self.vertical_rise, 1e-9)
        frac = np.clip((tau - self.vertical_rise) / span, 0.0, 1.0)
        return self.pitch_final + (self.pitch_start - self.pitch_final) * (1.0 - frac) ** 2


def _stage_index(stage_end: FloatArray, tau: FloatArray) -> FloatArray:
    """Index of the stage burning at τ (count of stages already ended)."""
    return np.sum(stage_end <= tau[:, None], axis=1)


# --------------------------------------------------------------------------------------------
# Equations of motion
# --------------------------------------------------------------------------------------------


@dataclass
class _Forces:
    """Everything the right-hand side needs for the trajectories in the working set."""

    model: str
    gravity_model: str
    drag: bool
    inv_2beta: FloatArray  # (m,) 1/(2β); 0 = no drag
    boost: BoostProgramme | None  # rows aligned with the working set
    # per-step piece (fixed during a step): thrust on?, stage index
    thrusting: FloatArray = field(default=None)  # type: ignore[assignment]
    stage: FloatArray = field(default=None)  # type: ignore[assignment]

    def take(self, keep: FloatArray) -> _Forces:
        return _Forces(
            self.model,
            self.gravity_model,
            self.drag,
            self.inv_2beta[keep],
            None if self.boost is None else self.boost.take(keep),
            None if self.thrusting is None else self.thrusting[keep],
            None if self.stage is None else self.stage[keep],
        )

    def set_piece(self, tau: FloatArray) -> None:
        """Fix the smooth piece of the flight (stage / coast) that a step starting at τ is in."""
        if self.boost is None:
            return
        self.thrusting = tau < self.boost.cutoff
        self.stage = np.minimum(
            _stage_index(self.boost.stage_end, tau), self.boost.stage_end.shape[1] - 1
        )

    def next_boundary(self, tau: FloatArray) -> FloatArray:
        """Next time since launch where the acceleration has a kink or jump (inf if none)."""
        if self.boost is None:
            return np.full(tau.shape, np.inf)
        b = self.boost
        stage_end = np.take_along_axis(b.stage_end, self.stage[:, None], 1)[:, 0]
        nxt = np.minimum(stage_end, b.cutoff)
        nxt = np.where(tau < b.vertical_rise, np.minimum(nxt, b.vertical_rise), nxt)
        return np.where(self.thrusting, nxt, np.inf)

    def acceleration(self, tau: FloatArray, r: FloatArray, v: FloatArray) -> FloatArray:
        acc = earth.gravity(r, self.gravity_model)
        if self.drag:
            h = surface_height(r, self.model)
            low = (h < DRAG_CEILING_M) & (self.inv_2beta > 0.0)
            if self.thrusting is not None:
                low &= ~self.thrusting
            n_low = int(np.count_nonzero(low))
            if 2 * n_low > len(low):
                # Most bodies are in the air: compute for all, no gather/scatter.
                v_rel = v.copy()
                v_rel[:, 0] += earth.OMEGA * r[:, 1]
                v_rel[:, 1] -= earth.OMEGA * r[:, 0]
                speed = np.sqrt(np.einsum("ij,ij->i", v_rel, v_rel))
                coef = np.where(low, air_density(h) * speed * self.inv_2beta, 0.0)
                acc -= coef[:, None] * v_rel
            elif n_low:
                idx = np.nonzero(low)[0]
                rr = r[idx]
                v_rel = v[idx]
                v_rel[:, 0] += earth.OMEGA * rr[:, 1]
                v_rel[:, 1] -= earth.OMEGA * rr[:, 0]
                speed = np.sqrt(np.einsum("ij,ij->i", v_rel, v_rel))
                acc[idx] -= (air_density(h[idx]) * speed * self.inv_2beta[idx])[:, None] * v_rel
        if self.boost is not None and np.any(self.thrusting):
            idx = np.nonzero(self.thrusting)[0]
            acc[idx] += self._thrust(idx, tau[idx], r[idx])
        return acc

    def _thrust(self, idx: FloatArray, tau: FloatArray, r: FloatArray) -> FloatArray:
        b = self.boost
        assert b is not None
        s = self.stage[idx][:, None]
        end = b.stage_end[idx]
        start = np.where(s > 0, np.take_along_axis(end, np.maximum(s - 1, 0), 1), 0.0)[:, 0]
        a_ = np.take_along_axis(b.accel_a[idx], s, 1)[:, 0]
        b_ = np.take_along_axis(b.accel_b[idx], s, 1)[:, 0]
        c_ = np.take_along_axis(b.accel_c[idx], s, 1)[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = np.where(np.isfinite(b_), a_ / (b_ - (tau - start)), 0.0) + c_
        span = np.maximum(b.cutoff[idx] - b.vertical_rise[idx], 1e-9)
        frac = np.clip((tau - b.vertical_rise[idx]) / span, 0.0, 1.0)
        theta = b.pitch_final[idx] + (b.pitch_start[idx] - b.pitch_final[idx]) * (1.0 - frac) ** 2
        up = surface_normal(r, self.model)
        horiz = np.cross(b.plane_normal_eci[idx], up)
        horiz /= np.linalg.norm(horiz, axis=-1, keepdims=True)
        direction = np.cos(theta)[:, None] * horiz + np.sin(theta)[:, None] * up
        return mag[:, None] * direction


# --------------------------------------------------------------------------------------------
# Hermite interpolation
# --------------------------------------------------------------------------------------------


def hermite(
    h: FloatArray,
    r0: FloatArray,
    v0: FloatArray,
    a0: FloatArray,
    r1: FloatArray,
    v1: FloatArray,
    a1: FloatArray,
    s: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Quintic Hermite position and its derivative at fraction s of a step of length h.

    Matches position, velocity and acceleration at both ends; h, s broadcast against the
    leading axes of the (..., 3) node vectors.
    """
    s = np.asarray(s, float)[..., None]
    h = np.asarray(h, float)[..., None]
    s2 = s * s
    s3 = s2 * s
    s4 = s3 * s
    s5 = s4 * s
    h0 = 1.0 - 10.0 * s3 + 15.0 * s4 - 6.0 * s5
    h1 = s - 6.0 * s3 + 8.0 * s4 - 3.0 * s5
    h2 = 0.5 * s2 - 1.5 * s3 + 1.5 * s4 - 0.5 * s5
    h4 = -4.0 * s3 + 7.0 * s4 - 3.0 * s5
    h5 = 0.5 * s3 - s4 + 0.5 * s5
    d0 = -30.0 * s2 + 60.0 * s3 - 30.0 * s4
    d1 = 1.0 - 18.0 * s2 + 32.0 * s3 - 15.0 * s4
    d2 = s - 4.5 * s2 + 6.0 * s3 - 2.5 * s4
    d4 = -12.0 * s2 + 28.0 * s3 - 15.0 * s4
    d5 = 1.5 * s2 - 4.0 * s3 + 2.5 * s4
    dr = r1 - r0
    hh = h * h
    pos = r0 + (1.0 - h0) * dr + h * (h1 * v0 + h4 * v1) + hh * (h2 * a0 + h5 * a1)
    vel = (-d0 * dr) / h + (d1 * v0 + d4 * v1) + h * (d2 * a0 + d5 * a1)
    return pos, vel


def _event_root(
    step: dict[str, FloatArray],
    func,
    iterations: int = 60,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Root of func(r, v) (positive at the start of the step, not at its end) in each step.

    Illinois regula falsi on the Hermite interpolant; returns (tau, r, v) at the root.
    """
    h = step["tau1"] - step["tau0"]
    args = (h, step["r0"], step["v0"], step["a0"], step["r1"], step["v1"], step["a1"])
    lo = np.zeros_like(h)
    hi = np.ones_like(h)
    g_lo = np.maximum(func(step["r0"], step["v0"]), 0.0)
    g_hi = np.minimum(func(step["r1"], step["v1"]), 0.0)
    side = np.zeros(h.shape, int)
    s = lo.copy()
    for _ in range(iterations):
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(g_lo - g_hi > 0, lo + (hi - lo) * g_lo / (g_lo - g_hi), 0.5 * (lo + hi))
        s = np.clip(s, lo, hi)
        r, v = hermite(*args, s)
        g = func(r, v)
        up = g > 0
        lo = np.where(up, s, lo)
        hi = np.where(up, hi, s)
        # Illinois: halve the stale end's value when the same end is kept twice.
        g_hi = np.where(up, np.where(side == 1, 0.5 * g_hi, g_hi), g)
        g_lo = np.where(up, g, np.where(side == -1, 0.5 * g_lo, g_lo))
        side = np.where(up, 1, -1)
        if np.all((hi - lo) * h < 1e-9) or np.all(np.abs(g) < 1e-7):
            break
    r, v = hermite(*args, s)
    return step["tau0"] + s * h, r, v


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Trajectories:
    """N trajectories: events and (optionally) dense output. Times are s since the epoch.

    Sample with ``state_eci(t)`` / ``position_ecef(t)`` ...: ``t`` is a scalar, a (T,) array of
    times shared by all trajectories, or an (n, T) array; the result is (n, T, 6) or (n, T, 3),
    NaN outside [launch_time, impact_time].
    """

    model: str
    launch_time: FloatArray  # (n,) start of the flight (launch, or burnout for a free flight)
    burnout_time: FloatArray  # (n,)
    apogee_time: FloatArray  # (n,)
    impact_time: FloatArray  # (n,) NaN if no impact before the time limit
    burnout_state_eci: FloatArray  # (n, 6)
    apogee_state_eci: FloatArray  # (n, 6)
    impact_state_eci: FloatArray  # (n, 6)
    steps: FloatArray  # (n,) accepted steps
    node_tau: FloatArray | None = None  # (n, K) s since launch_time, padded with the last value
    node_r: FloatArray | None = None  # (n, K, 3) ECI
    node_v: FloatArray | None = None
    node_a_minus: FloatArray | None = None  # acceleration at the node, end of the step before
    node_a_plus: FloatArray | None = None  # acceleration at the node, start of the step after
    node_count: FloatArray | None = None  # (n,)

    @property
    def n(self) -> int:
        return int(self.launch_time.shape[0])

    @property
    def has_dense_output(self) -> bool:
        return self.node_tau is not None

    @property
    def flight_time(self) -> FloatArray:
        """Launch (or start) to impact, s."""
        return self.impact_time - self.launch_time

    @property
    def impact_ecef(self) -> FloatArray:
        return earth.eci_to_ecef(self.impact_state_eci[:, :3], self.impact_time, self.model)

    @property
    def impact_lat_lon(self) -> tuple[FloatArray, FloatArray]:
        """Geodetic latitude and longitude (rad) of the impact points on the rotating Earth."""
        lat, lon, _ = earth.ecef_to_geodetic(self.impact_ecef, self.model)
        return lat, lon

    @property
    def apogee_altitude(self) -> FloatArray:
        """Height (m) of the apogee above the surface."""
        return earth.altitude(self.apogee_state_eci[:, :3], self.model)

    def burnout_state_ecef(self) -> FloatArray:
        return earth.state_eci_to_ecef(self.burnout_state_eci, self.burnout_time, self.model)

    # ---- sampling ----------------------------------------------------------------------------

    def state_eci(self, t: FloatArray | float) -> FloatArray:
        """ECI state (n, T, 6) at times t (scalar, (T,) or (n, T)); NaN outside the flight."""
        if self.node_tau is None:
            raise ValueError("these trajectories were propagated without dense output")
        t = np.asarray(t, float)
        if t.ndim == 0:
            t = t[None]
        tau = (t[None, :] if t.ndim == 1 else t) - self.launch_time[:, None]
        tau = np.broadcast_to(tau, (self.n, tau.shape[-1]))
        n, k = self.node_tau.shape
        count = self.node_count
        # Batched searchsorted: shift each row by an offset larger than any flight.
        span = float(np.nanmax(self.node_tau)) + 1.0 if self.node_tau.size else 1.0
        offset = np.arange(n)[:, None] * (2.0 * span + 1.0)
        keys = (self.node_tau + offset).ravel()
        query = np.clip(tau, -0.5, span) + offset
        idx = np.searchsorted(keys, np.where(np.isfinite(query), query, offset), side="right")
        idx = idx - 1 - np.arange(n)[:, None] * k
        idx = np.clip(idx, 0, np.maximum(count - 2, 0)[:, None])
        rows = np.arange(n)[:, None]
        tau0 = self.node_tau[rows, idx]
        step = self.node_tau[rows, idx + 1] - tau0
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(step > 0, (tau - tau0) / step, 0.0)
        r, v = hermite(
            step,
            self.node_r[rows, idx],
            self.node_v[rows, idx],
            self.node_a_plus[rows, idx],
            self.node_r[rows, idx + 1],
            self.node_v[rows, idx + 1],
            self.node_a_minus[rows, idx + 1],
            s,
        )
        out = np.concatenate([r, v], -1)
        end = np.where(np.isfinite(self.impact_time), self.impact_time, self._last_time())
        valid = (tau >= 0.0) & (tau <= (end - self.launch_time)[:, None] + 1e-9)
        out[~valid] = np.nan
        return out

    def _last_time(self) -> FloatArray:
        rows = np.arange(self.n)
        return self.launch_time + self.node_tau[rows, self.node_count - 1]

    def position_eci(self, t: FloatArray | float) -> FloatArray:
        return self.state_eci(t)[..., :3]

    def _times(self, t: FloatArray | float) -> FloatArray:
        t = np.asarray(t, float)
        if t.ndim == 0:
            t = t[None]
        return np.broadcast_to(t[None, :] if t.ndim == 1 else t, (self.n, t.shape[-1]))

    def state_ecef(self, t: FloatArray | float) -> FloatArray:
        """ECEF state (n, T, 6): position and velocity relative to the rotating Earth."""
        return earth.state_eci_to_ecef(self.state_eci(t), self._times(t), self.model)

    def position_ecef(self, t: FloatArray | float) -> FloatArray:
        return earth.eci_to_ecef(self.position_eci(t), self._times(t), self.model)


# --------------------------------------------------------------------------------------------
# The integrator
# --------------------------------------------------------------------------------------------


def propagate(
    x0_eci: FloatArray,
    t_start: FloatArray | float = 0.0,
    model: str = "full",
    *,
    boost: BoostProgramme | None = None,
    ballistic_coefficient: FloatArray | float = np.inf,
    j2: bool = True,
    drag: bool = True,
    dense: bool = True,
    rtol: float = DEFAULT_RTOL,
    atol_m: float = DEFAULT_ATOL_M,
    max_step_s: float = DEFAULT_MAX_STEP_S,
    max_flight_s: FloatArray | float = DEFAULT_MAX_FLIGHT_S,
) -> Trajectories:
    """Propagate N point masses from ECI states ``x0_eci (n, 6)`` at times ``t_start (n,)`` to
    impact (or ``max_flight_s`` after the start, scalar or (n,)).

    ``boost``: thrust programme (times from ``t_start``); without it the flight is free from the
    start (which is then the burnout). ``ballistic_coefficient`` (kg/m², scalar or (n,); inf =
    no drag) applies after burnout. ``j2`` / ``drag`` switch those terms off in the ``full``
    model (for studying their effect); ``ideal`` has neither. ``dense=False`` keeps only the
    events (faster, little memory). Tolerances: RMS of the local error over the six components
    relative to ``atol + rtol |y|`` (``atol`` = ``atol_m`` for positions, ``atol_m``/100 s for
    velocities).
    """
    earth.check_model(model)
    x0 = np.atleast_2d(np.asarray(x0_eci, float))
    n = x0.shape[0]
    t0 = np.broadcast_to(np.asarray(t_start, float), (n,)).copy()
    beta = np.broadcast_to(np.asarray(ballistic_coefficient, float), (n,))
    use_drag = model == "full" and drag and bool(np.any(np.isfinite(beta)))
    with np.errstate(divide="ignore"):
        inv_2beta = np.where(np.isfinite(beta), 0.5 / beta, 0.0)
    max_flight = np.broadcast_to(np.asarray(max_flight_s, float), (n,)).copy()
    if boost is not None:
        # Thrust cannot outlast the propellant: cut-off at most at the end of the last stage.
        last_end = np.max(np.where(np.isfinite(boost.stage_end), boost.stage_end, 0.0), axis=1)
        boost = BoostProgramme(
            **{
                **{k: getattr(boost, k) for k in boost.__dataclass_fields__},
                "cutoff": np.minimum(boost.cutoff, last_end),
            }
        )
    forces = _Forces(
        model=model,
        gravity_model="full" if (model == "full" and j2) else "ideal",
        drag=use_drag,
        inv_2beta=inv_2beta,
        boost=boost,
    )

    # Working set (compacted as trajectories finish).
    ids = np.arange(n)
    tau = np.zeros(n)
    r = x0[:, :3].copy()
    v = x0[:, 3:].copy()
    forces.set_piece(tau)
    acc = forces.acceleration(tau, r, v)
    h = np.where(boost is not None, 1.0, 10.0) * np.ones(n)
    g_apo = np.einsum("ij,ij->i", surface_normal(r, model), v)
    scale_r = np.array([1.0, 1.0, 1.0])
    atol = np.concatenate([atol_m * scale_r, 0.01 * atol_m * scale_r])

    # Outputs.
    burnout_tau = np.zeros(n) if boost is None else np.full(n, np.nan)
    burnout_state = x0.copy() if boost is None else np.full((n, 6), np.nan)
    nan6 = np.full((n, 6), np.nan)
    steps = np.zeros(n, int)
    event_steps = {
        key: {name: np.full((n, 3), np.nan) for name in ("r0", "v0", "a0", "r1", "v1", "a1")}
        for key in ("apogee", "impact")
    }
    for key in event_steps:
        event_steps[key]["tau0"] = np.full(n, np.nan)
        event_steps[key]["tau1"] = np.full(n, np.nan)
    apogee_seen = np.zeros(n, bool)
    impacted = np.zeros(n, bool)

    cap = 64 if dense else 0
    if dense:
        node_tau = np.zeros((n, cap))
        node_r = np.zeros((n, cap, 3))
        node_v = np.zeros((n, cap, 3))
        node_am = np.zeros((n, cap, 3))
        node_ap = np.zeros((n, cap, 3))
        node_r[:, 0], node_v[:, 0], node_am[:, 0], node_ap[:, 0] = r, v, acc, acc
    count = np.ones(n, int)

    def store_event(key: str, sel, tau_a, ra, va, aa, tau_b, rb, vb, ab) -> None:
        dest = ids[sel]
        ev = event_steps[key]
        ev["tau0"][dest], ev["r0"][dest], ev["v0"][dest], ev["a0"][dest] = (
            tau_a[sel],
            ra[sel],
            va[sel],
            aa[sel],
        )
        ev["tau1"][dest], ev["r1"][dest], ev["v1"][dest], ev["a1"][dest] = (
            tau_b[sel],
            rb[sel],
            vb[sel],
            ab[sel],
        )

    guard = 0
    while ids.size:
        guard += 1
        if guard > 200_000:
            raise RuntimeError("trajectory propagation did not finish")
        boundary = forces.next_boundary(tau)
        limit = np.minimum(boundary, max_flight)
        h = np.minimum(h, max_step_s)
        to_limit = h >= limit - tau
        h = np.where(to_limit, limit - tau, h)
        hh = h[:, None]

        m = ids.size
        y = np.concatenate([r, v], -1)
        k = np.empty((7, m, 6))
        k[0, :, :3], k[0, :, 3:] = v, acc
        for stage in range(1, 7):
            row = _A_ROWS[stage]
            yi = y + hh * np.einsum("j,jmk->mk", row, k[:stage])
            tau_i = tau + _C[stage] * h
            acc_i = forces.acceleration(tau_i, yi[:, :3], yi[:, 3:])
            k[stage, :, :3], k[stage, :, 3:] = yi[:, 3:], acc_i
        y_new = yi  # stage 7 state is the 5th-order solution (FSAL)
        err = hh * np.einsum("j,jmk->mk", _E, k)
        sc = atol + rtol * np.maximum(np.abs(y), np.abs(y_new))
        err_norm = np.sqrt(np.mean((err / sc) ** 2, axis=1))
        ok = err_norm <= 1.0
        factor = np.clip(0.9 * np.where(err_norm > 0, err_norm, 1e-10) ** -0.2, 0.2, 5.0)
        h_next = h * np.where(ok, factor, np.minimum(factor, 0.9))

        if np.any(ok):
            tau_new = np.where(to_limit, limit, tau + h)
            r_new, v_new, acc_new = y_new[:, :3], y_new[:, 3:], acc_i
            # Event functions at the new node.
            height_new = surface_height(r_new, model)
            g_apo_new = np.einsum("ij,ij->i", surface_normal(r_new, model), v_new)
            apo = ok & ~apogee_seen[ids] & (g_apo > 0) & (g_apo_new <= 0)
            hit = ok & (height_new < 0.0)
            if np.any(apo):
                store_event("apogee", apo, tau, r, v, acc, tau_new, r_new, v_new, acc_new)
                apogee_seen[ids[apo]] = True
            if np.any(hit):
                store_event("impact", hit, tau, r, v, acc, tau_new, r_new, v_new, acc_new)
                impacted[ids[hit]] = True
            # Accept.
            tau = np.where(ok, tau_new, tau)
            r = np.where(ok[:, None], r_new, r)
            v = np.where(ok[:, None], v_new, v)
            acc_minus = np.where(ok[:, None], acc_new, acc)
            g_apo = np.where(ok, g_apo_new, g_apo)
            steps[ids[ok]] += 1
            # A boundary reached: new piece, recompute the acceleration from the right.
            crossed = ok & to_limit & (limit == boundary)
            acc = acc_minus
            if np.any(crossed):
                if boost is not None:
                    was_thrusting = forces.thrusting.copy()
                    forces.set_piece(tau)
                    cut = crossed & was_thrusting & ~forces.thrusting
                    if np.any(cut):
                        burnout_tau[ids[cut]] = tau[cut]
                        burnout_state[ids[cut]] = np.concatenate([r[cut], v[cut]], -1)
                acc = forces.acceleration(tau, r, v)
                acc = np.where(crossed[:, None], acc, acc_minus)
            if dense:
                sel = np.nonzero(ok)[0]
                dest = ids[sel]
                slot = count[dest]
                if slot.max() >= cap:
                    grow = cap
                    node_tau = np.concatenate([node_tau, np.zeros((n, grow))], 1)
                    node_r, node_v, node_am, node_ap = (
                        np.concatenate([arr, np.zeros((n, grow, 3))], 1)
                        for arr in (node_r, node_v, node_am, node_ap)
                    )
                    cap += grow
                node_tau[dest, slot] = tau[sel]
                node_r[dest, slot] = r[sel]
                node_v[dest, slot] = v[sel]
                node_am[dest, slot] = acc_minus[sel]
                node_ap[dest, slot] = acc[sel]
            count[ids[ok]] += 1
            done = hit | (ok & (tau >= max_flight))
        else:
            done = np.zeros(ids.shape, bool)
        h = h_next
        if np.any(done):
            keep = ~done
            ids, tau, r, v, acc, h, g_apo, max_flight = (
                arr[keep] for arr in (ids, tau, r, v, acc, h, g_apo, max_flight)
            )
            forces = forces.take(keep)

    # Events by root finding on the interpolant.
    apogee_tau = np.full(n, np.nan)
    apogee_state = nan6.copy()
    impact_tau = np.full(n, np.nan)
    impact_state = nan6.copy()
    if np.any(apogee_seen):
        sel = np.nonzero(apogee_seen)[0]
        ev = {key: val[sel] for key, val in event_steps["apogee"].items()}
        t_a, r_a, v_a = _event_root(
            ev, lambda rr, vv: np.einsum("...i,...i->...", surface_normal(rr, model), vv)
        )
        apogee_tau[sel], apogee_state[sel] = t_a, np.concatenate([r_a, v_a], -1)
    # A flight that never rises has its highest point at the start.
    no_apogee = ~apogee_seen
    if np.any(no_apogee):
        apogee_tau[no_apogee] = 0.0
        apogee_state[no_apogee] = x0[no_apogee]
    if np.any(impacted):
        sel = np.nonzero(impacted)[0]
        ev = {key: val[sel] for key, val in event_steps["impact"].items()}
        t_i, r_i, v_i = _event_root(ev, lambda rr, vv: surface_height(rr, model))
        impact_tau[sel], impact_state[sel] = t_i, np.concatenate([r_i, v_i], -1)

    dense_fields = {}
    if dense:
        # Pad each row with its last node so that rows stay sorted for searchsorted.
        last = count - 1
        cols = np.arange(cap)[None, :]
        pad = cols > last[:, None]
        rows = np.arange(n)
        node_tau = np.where(pad, node_tau[rows, last][:, None], node_tau)
        dense_fields = dict(
            node_tau=node_tau,
            node_r=node_r,
            node_v=node_v,
            node_a_minus=node_am,
            node_a_plus=node_ap,
            node_count=count,
        )
    return Trajectories(
        model=model,
        launch_time=t0,
        burnout_time=t0 + burnout_tau,
        apogee_time=t0 + apogee_tau,
        impact_time=t0 + impact_tau,
        burnout_state_eci=burnout_state,
        apogee_state_eci=apogee_state,
        impact_state_eci=impact_state,
        steps=steps,
        **dense_fields,
    )
