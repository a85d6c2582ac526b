"""Batched propagation of point masses in ECI, with events and dense output.

In: N initial ECI states ``x0_eci (n, 6)`` at start times ``t_start (n,)``, an Earth ``model``,
optionally a ``BoostProgramme`` (thrust along a pitch programme) and the ballistic coefficient of
each body after burnout. Out: a ``Trajectories`` object holding the step nodes of every
trajectory and its events (burnout, apogee, impact), sampled at any times by quintic Hermite
interpolation.

Equations of motion, in the inertial frame (ECI aligned with ECEF at the epoch):

    r'' = g(r) + a_thrust(t) u(t) - ρ(h) |v_rel| v_rel / (2 β),   v_rel = v - ω × r,

with g the gravity of ``earth.gravity`` (point mass + J2 for ``full``, point mass for ``ideal``;
the same formula, evaluated here in one pass with the height and the drag); drag only for
``full``, after burnout, with the air co-rotating with the Earth (Vallado 2013, §8.6.2) and the
density of ``earth.atmosphere_density`` from a 10 m table (``air_density``); the thrust
direction u is the pitch programme of ``BoostProgramme``.

Integrator: Dormand-Prince 5(4) (Dormand & Prince 1980; Hairer, Nørsett & Wanner, *Solving
ODEs I*, §II.4-5) with a step size of its own for every trajectory, all trajectories stepping
together as numpy arrays held component-major, ``(6, m)``, so that every operation runs over
contiguous rows. Steps end exactly at stage separations and thrust cut-off (the acceleration
jumps there), and at the heights where the air density has a kink or a jump (the layer
boundaries of the 1976 atmosphere, the bands of the exponential model above, the drag
ceiling; the crossing time predicted from the radial motion to second order): each step is
smooth. A step across such a kink is both inaccurate (it dominated the impact error, metres)
and often rejected (a third of all steps). Finished trajectories ride along with a zero step
until a tenth of the working set has finished, then leave it. No trajectory's arithmetic
depends on the others in the batch: a batch gives exactly the results of one-by-one calls.
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

# The air density of ``earth.atmosphere_density`` tabulated every 10 m from -5 km up to the drag
# ceiling and interpolated linearly: within 4e-7 of the model where it is smooth (the cell width
# is a thousandth of a scale height), no exp at run time. Above the ceiling the density is 0.
DENSITY_TABLE_H0_M = -5000.0
DENSITY_TABLE_STEP_M = 10.0
_DENSITY_NODES = earth.atmosphere_density(
    np.arange(DENSITY_TABLE_H0_M, DRAG_CEILING_M + 0.5 * DENSITY_TABLE_STEP_M, DENSITY_TABLE_STEP_M)
)
# Cell i covers [H0 + 10 i, H0 + 10 (i + 1)); a last cell of zeros catches everything above.
DENSITY_TABLE_VALUE = np.append(_DENSITY_NODES[:-1], 0.0)
DENSITY_TABLE_DIFF = np.append(np.diff(_DENSITY_NODES), 0.0)


def _density_kinks() -> FloatArray:
    """Heights (m) where the tabulated density is not smooth: the layer boundaries of the 1976
    atmosphere (kinks), the junction at 86 km and the bases of the exponential bands above
    (jumps), the drag ceiling. Found as the table nodes where log-density bends by more than
    1e-6 per cell (smooth stretches bend by less than 4e-7), neighbours merged."""
    bend = np.abs(np.diff(np.log(_DENSITY_NODES), 2))
    heights = DENSITY_TABLE_H0_M + DENSITY_TABLE_STEP_M * (1 + np.nonzero(bend > 1e-6)[0])
    heights = np.append(heights, DRAG_CEILING_M)
    groups = np.split(heights, np.nonzero(np.diff(heights) > 2.5 * DENSITY_TABLE_STEP_M)[0] + 1)
    return np.array([g.mean() for g in groups])


DENSITY_KINKS_M = _density_kinks()
# The next kink below the bottom and above the top of every table cell (±inf if none): a
# lookup instead of a binary search per body.
_CELL_BOTTOM = DENSITY_TABLE_H0_M + DENSITY_TABLE_STEP_M * np.arange(len(DENSITY_TABLE_VALUE))
_KINK_BELOW = np.concatenate([[-np.inf], DENSITY_KINKS_M])[
    np.searchsorted(DENSITY_KINKS_M, _CELL_BOTTOM, side="right")
]
_KINK_ABOVE = np.concatenate([DENSITY_KINKS_M, [np.inf]])[
    np.searchsorted(DENSITY_KINKS_M, _CELL_BOTTOM + DENSITY_TABLE_STEP_M, side="left")
]
_KINK_ABOVE[-1] = np.inf  # the last cell holds everything above the ceiling
# A kink closer than this to the start of a step is left inside the step (crossed at its very
# beginning, where it costs nothing), so that a step never ends just short of one.
_KINK_MARGIN_M = 50.0


def air_density(alt_m: FloatArray) -> FloatArray:
    """``earth.atmosphere_density`` (kg/m³) below the drag ceiling (0 above), from the table."""
    x = np.asarray(alt_m, float) - DENSITY_TABLE_H0_M
    x *= 1.0 / DENSITY_TABLE_STEP_M
    x = np.maximum(x, 0.0)  # below the table: its first value (as deep as anything goes)
    i = x.astype(np.intp)
    x -= i
    rho = np.take(DENSITY_TABLE_DIFF, i, mode="clip")
    rho *= x
    rho += np.take(DENSITY_TABLE_VALUE, i, mode="clip")
    return rho


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


def _dot(a: FloatArray, b: FloatArray) -> FloatArray:
    """Σ_i a[i] b[i] over the leading axis of (k, m) arrays, summed in order. (einsum sums in
    order too, except for a single column, m = 1, which it adds pairwise: the result of a
    trajectory must not depend on how many others fly with it.)"""
    if a.shape[-1] > 1:
        return np.einsum("im,im->m", a, b)
    out = a[0] * b[0]
    for i in range(1, a.shape[0]):
        out = out + a[i] * b[i]
    return out


# Constants of the fused right-hand side.
_J2_COEF = 1.5 * earth.J2 * earth.WGS84_A**2
_INV_A2 = 1.0 / earth.WGS84_A**2
_INV_B2_MINUS_A2 = 1.0 / earth.WGS84_B**2 - 1.0 / earth.WGS84_A**2
_NORMAL_Z = earth.WGS84_A**2 / earth.WGS84_B**2


@dataclass
class _Forces:
    """Everything the right-hand side needs for the trajectories in the working set.

    States are held component-major, ``y (6, m)``: each component is a contiguous row, so the
    arithmetic below runs over contiguous memory and needs no stacking.
    """

    model: str
    gravity_model: str
    drag: bool
    inv_2beta: FloatArray  # (m,) 1/(2β); 0 = no drag
    boost: BoostProgramme | None  # rows aligned with the working set
    # per-step piece (fixed during a step): thrust on?, stage index
    thrusting: FloatArray = field(default=None)  # type: ignore[assignment]
    stage: FloatArray = field(default=None)  # type: ignore[assignment]
    drag_coef: FloatArray = field(default=None)  # type: ignore[assignment]  # 1/(2β), 0 in boost

    def __post_init__(self) -> None:
        if self.drag_coef is None:
            self.drag_coef = self.inv_2beta

    def take(self, keep: FloatArray) -> _Forces:
        return _Forces(
            self.model,
            self.gravity_model,
            self.drag,
            self.inv_2beta[keep],
            None if self.boost is None else self.boost.take(keep),
            None if self.thrusting is None else self.thrusting[keep],
            None if self.stage is None else self.stage[keep],
            self.drag_coef[keep],
        )

    def set_piece(self, tau: FloatArray) -> None:
        """Fix the smooth piece of the flight (stage / coast) that a step starting at τ is in."""
        if self.boost is None:
            return
        self.thrusting = tau < self.boost.cutoff
        self.stage = np.minimum(
            _stage_index(self.boost.stage_end, tau), self.boost.stage_end.shape[1] - 1
        )
        # Drag acts after burnout only.
        self.drag_coef = np.where(self.thrusting, 0.0, self.inv_2beta)

    def next_boundary(self, tau: FloatArray) -> FloatArray:
        """Next time since launch where the acceleration has a kink or jump (inf if none)."""
        if self.boost is None:
            return np.full(tau.shape, np.inf)
        b = self.boost
        stage_end = np.take_along_axis(b.stage_end, self.stage[:, None], 1)[:, 0]
        nxt = np.minimum(stage_end, b.cutoff)
        nxt = np.where(tau < b.vertical_rise, np.minimum(nxt, b.vertical_rise), nxt)
        return np.where(self.thrusting, nxt, np.inf)

    def acceleration(self, tau: FloatArray, y: FloatArray, out: FloatArray) -> FloatArray:
        """Write the acceleration (3, m) at states ``y (6, m)`` into ``out``; return the height
        above the surface (m,) (``surface_height``), which the impact event reuses.

        One pass: r² serves gravity, the height and (through it) the air density.
        """
        x, yy, z = y[0], y[1], y[2]
        r2 = _dot(y[:3], y[:3])
        inv_r2 = 1.0 / r2
        rn = np.sqrt(r2)
        f = inv_r2 / rn
        f *= -earth.MU  # -μ / r³
        if self.model == "full":
            z2 = z * z
            # q = (x² + y²)/a² + z²/b², the ellipsoid's quadratic form.
            q = r2 * _INV_A2
            q += _INV_B2_MINUS_A2 * z2
            height = rn / np.sqrt(q)
            np.subtract(rn, height, out=height)
        else:
            height = rn - earth.R_IDEAL
        if self.gravity_model == "full":
            # fxy = f (1 + j (1 - 5 z²/r²)), fz = fxy + 2 f j, j = 3/2 J2 a² / r².
            j = inv_r2 * _J2_COEF
            u = z2 * inv_r2
            u *= -5.0
            u += 1.0
            u *= j
            u += 1.0
            u *= f  # fxy
            np.multiply(y[:2], u, out=out[:2])
            j *= f
            j *= 2.0
            j += u  # fz
            np.multiply(z, j, out=out[2])
        else:
            np.multiply(y[:3], f, out=out)
        if self.drag:
            v_rel = y[3:].copy()
            v_rel[0] += earth.OMEGA * yy
            v_rel[1] -= earth.OMEGA * x
            speed = _dot(v_rel, v_rel)
            np.sqrt(speed, out=speed)
            speed *= air_density(height)
            speed *= self.drag_coef
            v_rel *= speed
            out -= v_rel
        if self.boost is not None and self.thrusting.any():
            idx = np.nonzero(self.thrusting)[0]
            out[:, idx] += self._thrust(idx, tau[idx], y[:3, idx].T).T
        return height

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

    Illinois regula falsi on the Hermite interpolant; returns (tau, r, v) at the root. Each root
    stops on its own (bracket below 1e-9 s or |func| below 1e-7), so that it does not depend on
    the other roots of the batch.
    """
    h = step["tau1"] - step["tau0"]
    args = (h, step["r0"], step["v0"], step["a0"], step["r1"], step["v1"], step["a1"])
    lo = np.zeros_like(h)
    hi = np.ones_like(h)
    g_lo = np.maximum(func(step["r0"], step["v0"]), 0.0)
    g_hi = np.minimum(func(step["r1"], step["v1"]), 0.0)
    side = np.zeros(h.shape, int)
    s = lo.copy()
    done = np.zeros(h.shape, bool)
    for _ in range(iterations):
        with np.errstate(divide="ignore", invalid="ignore"):
            s_new = np.where(
                g_lo - g_hi > 0, lo + (hi - lo) * g_lo / (g_lo - g_hi), 0.5 * (lo + hi)
            )
        s = np.where(done, s, np.clip(s_new, lo, hi))
        r, v = hermite(*args, s)
        g = func(r, v)
        up = g > 0
        move = ~done
        lo = np.where(move & up, s, lo)
        hi = np.where(move & ~up, s, hi)
        # Illinois: halve the stale end's value when the same end is kept twice.
        g_hi = np.where(move, np.where(up, np.where(side == 1, 0.5 * g_hi, g_hi), g), g_hi)
        g_lo = np.where(move, np.where(up, g, np.where(side == -1, 0.5 * g_lo, g_lo)), g_lo)
        side = np.where(move, np.where(up, 1, -1), side)
        done |= ((hi - lo) * h < 1e-9) | (np.abs(g) < 1e-7)
        if done.all():
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
    rejected_steps: FloatArray | None = None  # (n,) steps tried and rejected

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

# Compact the working set once this fraction of it has finished (the finished ones ride along
# with a zero step until then: cheaper than gathering every array at every step).
_COMPACT_FRACTION = 0.1


def _rising(y: FloatArray, model: str) -> FloatArray:
    """Sign of the vertical speed (up · v, up not normalised) of states ``y (6, m)``."""
    g = y[0] * y[3]
    g += y[1] * y[4]
    g += (_NORMAL_Z if model == "full" else 1.0) * y[2] * y[5]
    return g


def _cap_at_kinks(
    y: FloatArray, acc: FloatArray, height: FloatArray, h: FloatArray, feels_drag: FloatArray
) -> FloatArray:
    """Shorten the steps ``h (m,)`` (in place) of the bodies in the air that would cross the
    next density kink (``DENSITY_KINKS_M``) so that they end on it; return which were shortened.

    The crossing time comes from the radial motion to second order: ṙ = r·v/|r|,
    r̈ = (r·a + |v|² - ṙ²)/|r|, solved for r(t) - r(0) = kink - height.
    """
    r = np.sqrt(_dot(y[:3], y[:3]))
    r_dot = _dot(y[:3], y[3:])
    r_dot /= r
    r_ddot = _dot(y[:3], acc)
    r_ddot += _dot(y[3:], y[3:])
    r_ddot -= r_dot * r_dot
    r_ddot /= r
    # The next kink in the direction of motion, at least the margin away.
    x = np.copysign(_KINK_MARGIN_M, r_dot)
    x += height
    x -= DENSITY_TABLE_H0_M
    x *= 1.0 / DENSITY_TABLE_STEP_M
    np.maximum(x, 0.0, out=x)
    cell = x.astype(np.intp)
    rise = np.where(
        r_dot < 0.0,
        np.take(_KINK_BELOW, cell, mode="clip"),
        np.take(_KINK_ABOVE, cell, mode="clip"),
    )
    rise -= height
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # Root of r̈/2 t² + ṙ t - rise = 0 in the direction of motion (stable form).
        disc = r_dot * r_dot + 2.0 * r_ddot * rise
        t = 2.0 * rise / (r_dot + np.copysign(np.sqrt(np.maximum(disc, 0.0)), r_dot))
        capped = (disc > 0.0) & (t > 0.0) & (t < h) & feels_drag
    np.copyto(h, t, where=capped)
    return capped


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

    # Working set, component-major: y (6, m), stage derivatives k (7, 6, m). Finished
    # trajectories are marked inactive and leave when enough of them have gathered.
    ids = np.arange(n)
    tau = np.zeros(n)
    y = x0.T.copy()  # (a copy: never write into the caller's array)
    k = np.empty((7, 6, n))
    y_stage = np.empty((6, n))
    forces.set_piece(tau)
    k[0, :3] = y[3:]
    height = forces.acceleration(tau, y, k[0, 3:])
    acc0 = k[0, 3:].copy()
    h = np.full(n, 10.0 if boost is None else 1.0)
    just_rejected = np.zeros(n, bool)
    g_apo = _rising(y, model)
    atol = np.repeat([atol_m, 0.01 * atol_m], 3)[:, None]
    active = np.ones(n, bool)
    n_active = n
    apogee_seen_ws = np.zeros(n, bool)

    # Outputs.
    burnout_tau = np.zeros(n) if boost is None else np.full(n, np.nan)
    burnout_state = x0.copy() if boost is None else np.full((n, 6), np.nan)
    nan6 = np.full((n, 6), np.nan)
    steps = np.zeros(n, int)
    rejected = np.zeros(n, int)
    event_steps = {
        key: {name: np.full((n, 3), np.nan) for name in ("r0", "v0", "a0", "r1", "v1", "a1")}
        for key in ("apogee", "impact")
    }
    for key in event_steps:
        event_steps[key]["tau0"] = np.full(n, np.nan)
        event_steps[key]["tau1"] = np.full(n, np.nan)
    apogee_seen = np.zeros(n, bool)
    impacted = np.zeros(n, bool)

    # Dense output: the accepted nodes of every step, gathered into (n, K, ...) at the end.
    node_chunks: list[tuple] = []
    any_crossed = False
    count = np.ones(n, int)

    def store_event(key, sel, tau_a, ya, aa, tau_b, yb, ab) -> None:
        dest = ids[sel]
        ev = event_steps[key]
        ev["tau0"][dest], ev["tau1"][dest] = tau_a[sel], tau_b[sel]
        ev["r0"][dest], ev["v0"][dest], ev["a0"][dest] = ya[:3, sel].T, ya[3:, sel].T, aa[:, sel].T
        ev["r1"][dest], ev["v1"][dest], ev["a1"][dest] = yb[:3, sel].T, yb[3:, sel].T, ab[:, sel].T

    guard = 0
    while n_active:
        guard += 1
        if guard > 200_000:
            raise RuntimeError("trajectory propagation did not finish")
        m = ids.size
        if boost is None:
            boundary = None
            limit = max_flight
        else:
            boundary = forces.next_boundary(tau)
            limit = np.minimum(boundary, max_flight)
        np.minimum(h, max_step_s, out=h)
        remaining = limit - tau
        to_limit = h >= remaining
        np.copyto(h, remaining, where=to_limit)
        if forces.drag:
            # End the step where the height reaches the next kink of the air density (the
            # steps of the 1976 atmosphere's layers, the bands above), as the steps end at
            # stage separations: a step across one is inaccurate and often rejected.
            h_free = h.copy()
            capped = _cap_at_kinks(y, k[0, 3:], height, h, forces.drag_coef > 0.0)
            to_limit &= ~capped

        # Dormand-Prince stages: y_s = y + h Σ_j a_sj k_j (one matrix-vector product each).
        k_flat = k.reshape(7, 6 * m)
        y_flat = y_stage.reshape(6 * m)
        for s in range(1, 7):
            np.einsum("j,jx->x", _A_ROWS[s], k_flat[:s], out=y_flat)
            y_stage *= h
            y_stage += y
            tau_s = tau if boost is None else tau + _C[s] * h
            k[s, :3] = y_stage[3:]
            height_new = forces.acceleration(tau_s, y_stage, k[s, 3:])
        y_new = y_stage  # the last stage is the 5th-order solution (FSAL)

        # Error estimate: RMS over the six components of h Σ_j e_j k_j / (atol + rtol |y|).
        err = np.einsum("j,jx->x", _E, k_flat).reshape(6, m)
        err *= h
        scale = np.abs(y)
        np.maximum(scale, np.abs(y_new), out=scale)
        scale *= rtol
        scale += atol
        err /= scale
        err_norm = _dot(err, err)
        err_norm *= 1.0 / 6.0
        np.sqrt(err_norm, out=err_norm)
        ok = err_norm <= 1.0
        if n_active < m:
            ok &= active
        np.maximum(err_norm, 1e-10, out=err_norm)
        factor = np.clip(0.9 * err_norm**-0.2, 0.2, 5.0)
        # No growth right after a rejection (Hairer, Nørsett & Wanner, §II.4).
        np.minimum(factor, 1.0, out=factor, where=just_rejected)
        h_next = h * factor
        if forces.drag:
            # After a step cut short at a kink, carry on with the step the controller wanted.
            np.maximum(h_next, h_free, out=h_next, where=capped & ok)
        just_rejected = ~ok

        n_ok = int(np.count_nonzero(ok))
        steps[ids] += ok
        rejected[ids] += active & ~ok
        done = None
        if n_ok:
            all_ok = n_ok == m
            tau_new = tau + h
            np.copyto(tau_new, limit, where=to_limit)
            # Event functions at the new node.
            g_apo_new = _rising(y_new, model)
            apo = ok & ~apogee_seen_ws & (g_apo > 0) & (g_apo_new <= 0)
            hit = ok & (height_new < 0.0)
            if apo.any():
                store_event("apogee", apo, tau, y, k[0, 3:], tau_new, y_new, k[6, 3:])
                apogee_seen[ids[apo]] = True
                apogee_seen_ws |= apo
            if hit.any():
                store_event("impact", hit, tau, y, k[0, 3:], tau_new, y_new, k[6, 3:])
                impacted[ids[hit]] = True
            # Accept: the new node's acceleration is the last stage's (FSAL).
            if all_ok:
                tau = tau_new
                y, y_stage = y_stage, y
                g_apo = g_apo_new
                height = height_new
                k[0] = k[6]
            else:
                np.copyto(tau, tau_new, where=ok)
                np.copyto(y, y_new, where=ok)
                np.copyto(g_apo, g_apo_new, where=ok)
                np.copyto(height, height_new, where=ok)
                np.copyto(k[0], k[6], where=ok)
            acc_minus = k[6, 3:]
            # A boundary reached: new piece, recompute the acceleration from the right.
            if boundary is not None:
                crossed = ok & to_limit & (limit == boundary)
                if crossed.any():
                    was_thrusting = forces.thrusting.copy()
                    forces.set_piece(tau)
                    cut = crossed & was_thrusting & ~forces.thrusting
                    if cut.any():
                        burnout_tau[ids[cut]] = tau[cut]
                        burnout_state[ids[cut]] = y[:, cut].T
                    acc_plus = np.empty((3, m))
                    forces.acceleration(tau, y, acc_plus)
                    np.copyto(k[0, 3:], acc_plus, where=crossed)
            if dense:
                sel = slice(None) if all_ok else np.nonzero(ok)[0]
                dest = ids[sel]
                a_plus = None
                if boundary is not None and crossed.any():
                    any_crossed = True
                    a_plus = k[0][3:, sel].copy()
                node_chunks.append(
                    (
                        dest,
                        count[dest],
                        tau[sel].copy(),
                        y[:, sel].copy(),
                        acc_minus[:, sel].copy(),
                        a_plus,
                    )
                )
            count[ids] += ok
            done = hit
            done |= ok & (tau >= max_flight)
        h = h_next
        if done is not None and done.any():
            active &= ~done
            h[done] = 0.0  # finished: ride along without moving until compaction
            n_active = int(np.count_nonzero(active))
            if n_active and m - n_active >= _COMPACT_FRACTION * m:
                keep = active
                ids, tau, h, g_apo, max_flight, apogee_seen_ws, height, just_rejected = (
                    arr[keep]
                    for arr in (
                        ids,
                        tau,
                        h,
                        g_apo,
                        max_flight,
                        apogee_seen_ws,
                        height,
                        just_rejected,
                    )
                )
                y = np.ascontiguousarray(y[:, keep])
                k0 = k[0][:, keep]
                k = np.empty((7, 6, n_active))
                k[0] = k0
                y_stage = np.empty((6, n_active))
                forces = forces.take(keep)
                active = np.ones(n_active, bool)

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
        cap = int(count.max())
        node_tau = np.zeros((n, cap))
        node_r = np.zeros((n, cap, 3))
        node_v = np.zeros((n, cap, 3))
        node_am = np.zeros((n, cap, 3))
        # Without a boost the acceleration is continuous at every node: one array serves both.
        node_ap = np.zeros((n, cap, 3)) if any_crossed else node_am
        node_r[:, 0], node_v[:, 0] = x0[:, :3], x0[:, 3:]
        node_am[:, 0] = node_ap[:, 0] = acc0.T
        while node_chunks:
            dest, slot, tau_c, y_c, am_c, ap_c = node_chunks.pop()
            node_tau[dest, slot] = tau_c
            node_r[dest, slot] = y_c[:3].T
            node_v[dest, slot] = y_c[3:].T
            node_am[dest, slot] = am_c.T
            if any_crossed:
                node_ap[dest, slot] = am_c.T if ap_c is None else ap_c.T
        # Pad each row with its last node so that rows stay sorted for searchsorted.
        last = count - 1
        pad = np.arange(cap)[None, :] > last[:, None]
        node_tau = np.where(pad, node_tau[np.arange(n), last][:, None], node_tau)
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
        rejected_steps=rejected,
        **dense_fields,
    )
