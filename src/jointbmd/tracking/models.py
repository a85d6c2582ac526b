"""Motion and measurement models of national tracking, batched over tracks.

In: ECI states ``x (k, 6)`` = (r_eci, v_eci) in m and m/s, time steps ``dt (k,)`` s, times
``t (k,)`` s since the epoch. Out: predicted states, their Jacobians ``(k, 6, 6)``, process noise
``(k, 6, 6)``; predicted radar measurements ``(k, 3)`` = (range_m, az, el) and their Jacobians
``(k, 3, 6)``.

Two models, named after Stone Soup's roles:

``BallisticTransition``
    Post-boost motion under gravity alone (point mass + J2 for ``"full"``, point mass for
    ``"ideal"``; :func:`jointbmd.earth.gravity`), integrated with classical RK4 in a few substeps.
    The state transition matrix Φ = ∂x(t+dt)/∂x(t) is integrated alongside from the variational
    equation dΦ/dt = A Φ, A = [[0, I], [G, 0]], G = ∂a/∂r the gravity gradient (analytic, J2
    included). RK4 applied to (x, Φ) together gives the exact derivative of the RK4 map, so the
    EKF's Jacobian is consistent with its mean prediction. Drag and unmodelled accelerations enter
    as process noise: continuous white acceleration noise of power spectral density ``q``
    (m²/s³) on each ECI axis, whose discrete covariance over a step dt is (Bar-Shalom, Li and
    Kirubarajan, *Estimation with Applications to Tracking and Navigation*, 2001, §6.2.2)

        Q = q [[dt³/3 I, dt²/2 I], [dt²/2 I, dt I]].

``RadarMeasurementModel``
    Range, azimuth (from north, clockwise, in [0, 2π)) and elevation of the target from a site
    fixed on the rotating Earth: r_ecef = R_z(-ω t) r_eci (:mod:`jointbmd.earth`), then
    enu = E (r_ecef - r_site) with E the site's ENU rotation, then
    (ρ, az, el) = (|enu|, atan2(e, n), atan2(u, sqrt(e² + n²))). The Jacobian is analytic:
    ∂(ρ, az, el)/∂enu · E · R_z(-ω t), zero on the velocity columns. Innovations wrap the
    azimuth difference into (-π, π].

``ThrustEnvelope``
    What a tracker may know of the boost without knowing which missile it tracks: the largest
    thrust acceleration any of the scenario's threat types can still have from a time since
    launch τ on (module :mod:`jointbmd.missiles`: in a stage a(τ) = A / (B - τ) + C grows as
    propellant burns, so its largest value is at the stage's burnout), and zero after the
    latest burnout. A tracker sizes the process noise of a track that may still be in boost
    from it (:meth:`.Tracker._manoeuvre_noise`).

References: Vallado, *Fundamentals of Astrodynamics and Applications*, 4th ed. (2013), §8.6 (J2)
and §10.7 (state transition matrix); Montenbruck and Gill, *Satellite Orbits* (2000), §7.1-7.2
(variational equations, gravity gradient).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from jointbmd.arrays import FloatArray

from .. import earth

__all__ = [
    "BallisticTransition",
    "RadarMeasurementModel",
    "ThrustEnvelope",
    "gravity_gradient",
    "wrap_angle",
]


def wrap_angle(angle: ArrayLike) -> FloatArray:
    """Angle wrapped into [-π, π)."""
    return np.mod(np.asarray(angle, float) + np.pi, 2.0 * np.pi) - np.pi


def gravity_gradient(r: ArrayLike, model: earth.Model = "full") -> FloatArray:
    """Gravity gradient G = ∂a/∂r (..., 3, 3) of :func:`jointbmd.earth.gravity` at positions r.

    Point mass: G = -μ/|r|³ (I - 3 r̂ r̂ᵀ). J2 (``full``): with c = 3/2 μ J2 a_e², the
    acceleration is a_i = c x_i w_i, w = (5 z² r⁻⁷ - r⁻⁵, 5 z² r⁻⁷ - r⁻⁵, 5 z² r⁻⁷ - 3 r⁻⁵), so
    G_ij = c (δ_ij w_i + x_i ∂w_i/∂x_j), ∂w_i/∂x_j = 10 z r⁻⁷ δ_jz + x_j (α_i r⁻⁷ - 35 z² r⁻⁹),
    α = (5, 5, 15).
    """
    earth.check_model(model)
    r = np.asarray(r, float)
    r2 = np.einsum("...i,...i->...", r, r)
    inv_r2 = 1.0 / r2
    inv_r3 = np.sqrt(inv_r2) * inv_r2
    inv_r5 = inv_r3 * inv_r2
    outer = r[..., :, None] * r[..., None, :]
    idx = np.arange(3)
    if model == "ideal":
        g = (3.0 * earth.MU * inv_r5)[..., None, None] * outer
        g[..., idx, idx] -= (earth.MU * inv_r3)[..., None]
        return g
    c = 1.5 * earth.MU * earth.J2 * earth.WGS84_A**2
    z = r[..., 2]
    inv_r7 = inv_r5 * inv_r2
    z2r7 = 5.0 * z**2 * inv_r7
    # Row factor of r rᵀ: point mass 3μ r⁻⁵ plus c (α_i r⁻⁷ - 35 z² r⁻⁹).
    row = (3.0 * earth.MU * inv_r5 - 35.0 * c * z**2 * inv_r7 * inv_r2)[..., None] + c * (
        np.array([5.0, 5.0, 15.0]) * inv_r7[..., None]
    )
    g = row[..., :, None] * outer
    # Diagonal: point mass -μ r⁻³ plus c w_i.
    g[..., idx, idx] += (-earth.MU * inv_r3 + c * (z2r7 - inv_r5))[..., None]
    g[..., 2, 2] -= 2.0 * c * inv_r5
    # Column z: c x_i 10 z r⁻⁷.
    g[..., :, 2] += (10.0 * c * z * inv_r7)[..., None] * r
    return g


# Constants of `earth.gravity` and `gravity_gradient`, each written as the same Python expression
# those functions evaluate (left to right), so that precomputing them changes no bit.
_MU3 = 3.0 * earth.MU
_C_J2 = 1.5 * earth.MU * earth.J2 * earth.WGS84_A**2  # c of `gravity_gradient`
_C35 = 35.0 * _C_J2
_C2 = 2.0 * _C_J2
_C10 = 10.0 * _C_J2
_ALPHA = np.array([5.0, 5.0, 15.0])
_J_NUM = 1.5 * earth.J2 * earth.WGS84_A**2  # numerator of j in `earth.gravity`
_C_XYZ = np.array([1.0, 1.0, 3.0])  # the constants of `earth.gravity`'s x, y and z factors


def _gravity_and_gradient(r: FloatArray, model: earth.Model) -> tuple[FloatArray, FloatArray]:
    """``(earth.gravity(r, model), gravity_gradient(r, model))`` at positions r (k, 3) in one
    pass: the same floating-point operations in the same order (bit-identical results), without
    the repeated checks, conversions and fancy indexing. The RK4 stages of
    `BallisticTransition.function_and_jacobian` call it four times per substep."""
    r2 = np.einsum("...i,...i->...", r, r)
    rn = np.sqrt(r2)
    factor = -earth.MU / (r2 * rn)
    inv_r2 = 1.0 / r2
    inv_r3 = np.sqrt(inv_r2) * inv_r2
    inv_r5 = inv_r3 * inv_r2
    outer = r[..., :, None] * r[..., None, :]
    if model == "ideal":
        a = factor[..., None] * r
        g = (_MU3 * inv_r5)[..., None, None] * outer
        g.reshape(g.shape[:-2] + (9,))[..., ::4] -= (earth.MU * inv_r3)[..., None]
        return a, g
    z = r[..., 2]
    z2 = z**2
    # earth.gravity: a = (fxy x, fxy y, fz z) with f = factor (1 + j (c - 5 z²/r²)), c = 1 for
    # x, y and 3 for z: the three columns in one pass (per element the same operations).
    j = _J_NUM / r2
    f = factor[..., None] * (1.0 + j[..., None] * (_C_XYZ - (5.0 * (z2 / r2))[..., None]))
    a = f * r
    # gravity_gradient
    inv_r7 = inv_r5 * inv_r2
    z2r7 = 5.0 * z2 * inv_r7
    row = (_MU3 * inv_r5 - _C35 * z2 * inv_r7 * inv_r2)[..., None] + _C_J2 * (
        _ALPHA * inv_r7[..., None]
    )
    g = row[..., :, None] * outer
    g.reshape(g.shape[:-2] + (9,))[..., ::4] += (-earth.MU * inv_r3 + _C_J2 * (z2r7 - inv_r5))[
        ..., None
    ]
    g[..., 2, 2] -= _C2 * inv_r5
    g[..., :, 2] += (_C10 * z * inv_r7)[..., None] * r
    return a, g


class BallisticTransition:
    """Ballistic motion in ECI under gravity; RK4 mean, variational-equation Jacobian, white-noise
    acceleration process noise. See the module docstring for the maths.

    Parameters
    ----------
    model:
        Earth model of the gravity field, ``"full"`` (point mass + J2) or ``"ideal"``.
    q:
        Power spectral density of the white acceleration noise on each ECI axis, m²/s³. The
        default 1.0 m²/s³ lets the velocity wander by about 1 m/s per √s: enough for the
        small errors of a post-boost ballistic model above the atmosphere.
    max_step:
        Longest RK4 substep, s. Every track in a batch takes the same number of substeps,
        ceil(max |dt| / max_step), each of length dt / n.
    """

    ndim_state = 6

    def __init__(self, model: earth.Model = "full", q: float = 1.0, max_step: float = 10.0):
        earth.check_model(model)
        self.model = model
        self.q = float(q)
        self.max_step = float(max_step)

    def _substeps(self, dt: FloatArray) -> int:
        if dt.size == 0:
            return 1
        # math.ceil of the same float64 quotient np.ceil would see (one call instead of four).
        return max(1, math.ceil(float(np.abs(dt).max()) / self.max_step))

    def function(self, x: ArrayLike, dt: ArrayLike) -> FloatArray:
        """States (k, 6) after each track's own time step dt (k,) (or a scalar), no noise."""
        x = np.array(x, float)
        dt = np.broadcast_to(np.asarray(dt, float), x.shape[:-1])
        n = self._substeps(dt)
        h = (dt / n)[..., None]
        model = self.model

        def deriv(y: FloatArray) -> FloatArray:
            return np.concatenate([y[..., 3:], earth.gravity(y[..., :3], model)], -1)

        for _ in range(n):
            k1 = deriv(x)
            k2 = deriv(x + 0.5 * h * k1)
            k3 = deriv(x + 0.5 * h * k2)
            k4 = deriv(x + h * k3)
            x = x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        return x

    def function_and_jacobian(self, x: ArrayLike, dt: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """States (k, 6) after dt and the state transition matrices Φ (k, 6, 6)."""
        x = np.array(x, float)
        dt = np.asarray(dt, float)
        if dt.shape != x.shape[:-1]:
            dt = np.broadcast_to(dt, x.shape[:-1])
        n = self._substeps(dt)
        h = (dt / n)[..., None]
        h3 = h[..., None]
        # The stage increments reuse h/2 and h/6 (`0.5 * h * v` is `(0.5 * h) * v`, so the
        # values are the same as writing the products out each time).
        half, half3 = 0.5 * h, 0.5 * h3
        sixth, sixth3 = h / 6.0, h3 / 6.0
        model = self.model
        earth.check_model(model)
        # Φ in two row blocks: T = ∂r/∂x0 and B = ∂v/∂x0, with dT/dt = B and dB/dt = G T.
        top = np.array(np.broadcast_to(_TOP0, x.shape[:-1] + (3, 6)))
        bottom = np.array(np.broadcast_to(_BOTTOM0, x.shape[:-1] + (3, 6)))

        for _ in range(n):
            r, v = x[..., :3], x[..., 3:]
            a1, g1 = _gravity_and_gradient(r, model)
            gt1 = g1 @ top
            r2, v2 = r + half * v, v + half * a1
            t2, b2 = top + half3 * bottom, bottom + half3 * gt1
            a2, g2 = _gravity_and_gradient(r2, model)
            gt2 = g2 @ t2
            r3, v3 = r + half * v2, v + half * a2
            t3, b3 = top + half3 * b2, bottom + half3 * gt2
            a3, g3 = _gravity_and_gradient(r3, model)
            gt3 = g3 @ t3
            r4, v4 = r + h * v3, v + h * a3
            t4, b4 = top + h3 * b3, bottom + h3 * gt3
            a4, g4 = _gravity_and_gradient(r4, model)
            gt4 = g4 @ t4
            x_new = np.empty(x.shape)
            x_new[..., :3] = r + sixth * (v + 2.0 * v2 + 2.0 * v3 + v4)
            x_new[..., 3:] = v + sixth * (a1 + 2.0 * a2 + 2.0 * a3 + a4)
            x = x_new
            top, bottom = (
                top + sixth3 * (bottom + 2.0 * b2 + 2.0 * b3 + b4),
                bottom + sixth3 * (gt1 + 2.0 * gt2 + 2.0 * gt3 + gt4),
            )
        phi = np.empty(x.shape[:-1] + (6, 6))
        phi[..., :3, :] = top
        phi[..., 3:, :] = bottom
        return x, phi

    def jacobian(self, x: ArrayLike, dt: ArrayLike) -> FloatArray:
        """State transition matrices Φ (k, 6, 6) over dt."""
        return self.function_and_jacobian(x, dt)[1]

    def covar(self, dt: ArrayLike) -> FloatArray:
        """Process noise Q (..., 6, 6) of white acceleration noise over dt (...)."""
        shape = np.shape(dt)
        # Flat, so that even a scalar dt goes through the array power (numpy's scalar power can
        # differ in the last bit).
        dt = np.abs(np.asarray(dt, float)).reshape(-1, 1)
        # Q is zero off its four diagonal 3x3 blocks; each block is q times (dt³/3, dt²/2 or dt)
        # times I, written straight into the diagonals (the same values as the block products).
        q = np.zeros((dt.shape[0], 36))
        q[:, _Q_RR] = self.q * (dt**3 / 3.0)
        q[:, _Q_RV] = self.q * (dt**2 / 2.0)
        q[:, _Q_VV] = self.q * dt
        return q.reshape(shape + (6, 6))


class ThrustEnvelope:
    """Upper bound on the thrust acceleration still to come, over a set of threat missiles.

    ``bound(τ)`` = max over every stage s of every missile that has not burnt out by τ
    (``end_s > τ``) of its acceleration at burnout, a_s(end_s⁻) = A / (B - t_b) + C
    (:meth:`jointbmd.missiles.ThreatMissile.thrust_coefficients`): no missile can thrust
    harder at τ or later. Zero from ``latest_burnout_s`` on.

    Parameters
    ----------
    stage_end_s, burnout_acceleration:
        (S,) arrays: each stage's burnout time since launch (s) and its thrust acceleration
        just before it (m/s²).
    """

    def __init__(self, stage_end_s: ArrayLike, burnout_acceleration: ArrayLike):
        end = np.asarray(stage_end_s, float).reshape(-1)
        acc = np.asarray(burnout_acceleration, float).reshape(-1)
        if end.shape != acc.shape:
            raise ValueError("stage_end_s and burnout_acceleration differ in length")
        order = np.argsort(end)
        self.stage_end_s = end[order]
        # Suffix maximum: the largest burnout acceleration among the stages ending at or after
        # each stage's end, and 0 after the last.
        self._suffix_max = np.append(np.maximum.accumulate(acc[order][::-1])[::-1], 0.0)

    @classmethod
    def of_missiles(cls, missiles: Sequence[object]) -> ThrustEnvelope:
        """The envelope of ``ThreatMissile`` objects (their ``thrust_coefficients``)."""
        ends, accs = [], []
        for missile in missiles:
            end, a, b, c = missile.thrust_coefficients()
            start = np.concatenate([[0.0], end[:-1]])
            burn = end - start
            with np.errstate(divide="ignore", invalid="ignore"):
                accs.append(np.where(np.isfinite(b), a / (b - burn), 0.0) + c)
            ends.append(end)
        if not ends:
            return cls(np.zeros(0), np.zeros(0))
        return cls(np.concatenate(ends), np.concatenate(accs))

    @property
    def latest_burnout_s(self) -> float:
        """Time since launch after which no missile thrusts (0 for an empty envelope)."""
        return float(self.stage_end_s[-1]) if self.stage_end_s.size else 0.0

    def bound(self, tau: ArrayLike) -> FloatArray:
        """Largest thrust acceleration (m/s²) at any time from τ (s since launch, (...)) on."""
        tau = np.asarray(tau, float)
        # Index of the first stage that ends after τ (stages ending exactly at τ are over).
        return self._suffix_max[np.searchsorted(self.stage_end_s, tau, side="right")]


# Initial blocks of Φ = I and the flat indices of the diagonals of Q's blocks (see `covar`).
_TOP0 = np.eye(3, 6)
_BOTTOM0 = np.eye(3, 6, 3)
_Q_RR = np.array([0, 7, 14])
_Q_RV = np.array([3, 10, 17, 18, 25, 32])
_Q_VV = np.array([21, 28, 35])


def _rotation_eci_to_ecef(t: FloatArray, model: earth.Model) -> FloatArray:
    """Matrices C (..., 3, 3) with r_ecef = C r_eci at times t: R_z(-ω t)."""
    theta = np.asarray(earth.rotation_angle(t, model))
    c, s = np.cos(theta), np.sin(theta)
    rot = np.zeros(theta.shape + (9,))
    rot[..., 0] = c
    rot[..., 1] = s
    rot[..., 3] = -s
    rot[..., 4] = c
    rot[..., 8] = 1.0
    return rot.reshape(theta.shape + (3, 3))


def _eci_to_ecef(r: FloatArray, t: FloatArray, model: earth.Model) -> FloatArray:
    """:func:`jointbmd.earth.eci_to_ecef` (the same operations) written into one array instead
    of stacking three: this runs for every track at every scan."""
    theta = -earth.rotation_angle(t, model)
    c, s = np.cos(theta), np.sin(theta)
    x, y = r[..., 0], r[..., 1]
    out = np.empty(np.broadcast_shapes(r.shape[:-1], np.shape(theta)) + (3,))
    out[..., 0] = c * x - s * y
    out[..., 1] = s * x + c * y
    out[..., 2] = r[..., 2]
    return out


class RadarMeasurementModel:
    """Range, azimuth and elevation from a radar site on the rotating Earth (module docstring).

    Parameters
    ----------
    site_lat, site_lon, site_alt:
        Geodetic site (rad, rad, m). Scalars for one radar; arrays (k,) give each track its own
        site (everything broadcasts over the leading axis).
    model:
        Earth model for the site's position and the Earth's rotation.
    """

    ndim_meas = 3

    def __init__(
        self,
        site_lat: ArrayLike,
        site_lon: ArrayLike,
        site_alt: ArrayLike = 0.0,
        model: earth.Model = "full",
    ):
        earth.check_model(model)
        self.site_lat = np.asarray(site_lat, float)
        self.site_lon = np.asarray(site_lon, float)
        self.site_alt = np.asarray(site_alt, float)
        self.model = model
        self.site_ecef = earth.geodetic_to_ecef(self.site_lat, self.site_lon, self.site_alt, model)
        self.enu = earth.enu_matrix(self.site_lat, self.site_lon)

    def _enu(self, r_eci: FloatArray, t: FloatArray) -> FloatArray:
        d = _eci_to_ecef(r_eci, t, self.model)
        d -= self.site_ecef
        if self.enu.ndim == 2:
            return d @ self.enu.T
        return np.einsum("...ij,...j->...i", self.enu, d)

    def function(self, x: ArrayLike, t: ArrayLike) -> FloatArray:
        """Noise-free measurements (k, 3) = (range_m, az, el) of ECI states (k, 6) at times t."""
        x = np.asarray(x, float)
        return self._function_of_enu(self._enu(x[..., :3], np.asarray(t, float)))

    def function_and_jacobian(self, x: ArrayLike, t: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """``(function(x, t), jacobian(x, t))``, sharing the ENU vectors (the same values)."""
        x = np.asarray(x, float)
        t = np.asarray(t, float)
        enu = self._enu(x[..., :3], t)
        return self._function_of_enu(enu), self._jacobian_of_enu(enu, x, t)

    @staticmethod
    def _function_of_enu(enu: FloatArray) -> FloatArray:
        e, n, u = enu[..., 0], enu[..., 1], enu[..., 2]
        horizontal = np.hypot(e, n)
        out = np.empty(enu.shape)
        out[..., 0] = np.hypot(horizontal, u)
        out[..., 1] = np.mod(np.arctan2(e, n), 2.0 * np.pi)
        out[..., 2] = np.arctan2(u, horizontal)
        return out

    def jacobian(self, x: ArrayLike, t: ArrayLike) -> FloatArray:
        """Jacobians H (k, 3, 6) of :meth:`function` with respect to the ECI state."""
        x = np.asarray(x, float)
        t = np.asarray(t, float)
        return self._jacobian_of_enu(self._enu(x[..., :3], t), x, t)

    def _jacobian_of_enu(self, enu: FloatArray, x: FloatArray, t: FloatArray) -> FloatArray:
        e, n, u = enu[..., 0], enu[..., 1], enu[..., 2]
        s2 = e**2 + n**2
        s = np.sqrt(s2)
        rho2 = s2 + u**2
        rho = np.sqrt(rho2)
        rho2_s = rho2 * s
        # ∂(ρ, az, el)/∂enu, row by row, into one array (zero at [1, 2]).
        d_aer = np.empty(enu.shape[:-1] + (3, 3))
        d_aer[..., 0, :] = enu / rho[..., None]
        d_aer[..., 1, 0] = n / s2
        d_aer[..., 1, 1] = -e / s2
        d_aer[..., 1, 2] = 0.0
        d_aer[..., 2, 0] = -u * e / rho2_s
        d_aer[..., 2, 1] = -u * n / rho2_s
        d_aer[..., 2, 2] = s / rho2
        rot = self.enu @ _rotation_eci_to_ecef(t, self.model)
        h = np.zeros(x.shape[:-1] + (3, 6))
        h[..., :3] = d_aer @ rot
        return h

    def inverse_function(self, z: ArrayLike, t: ArrayLike) -> FloatArray:
        """ECI positions (k, 3) of measurements (k, 3) = (range_m, az, el) at times t."""
        z = np.asarray(z, float)
        enu = earth.aer_to_enu(z[..., 1], z[..., 2], z[..., 0])
        if self.enu.ndim == 2:
            d = enu @ self.enu
        else:
            d = np.einsum("...ji,...j->...i", self.enu, enu)
        return earth.ecef_to_eci(d + self.site_ecef, np.asarray(t, float), self.model)

    def inverse_jacobian(self, z: ArrayLike, t: ArrayLike) -> FloatArray:
        """Jacobians (k, 3, 3) of :meth:`inverse_function`: ∂r_eci/∂(range, az, el)."""
        z = np.asarray(z, float)
        rho, az, el = z[..., 0], z[..., 1], z[..., 2]
        sa, ca, se, ce = np.sin(az), np.cos(az), np.sin(el), np.cos(el)
        d_enu = np.empty(z.shape[:-1] + (3, 3))
        d_enu[..., 0, 0] = ce * sa
        d_enu[..., 0, 1] = rho * ce * ca
        d_enu[..., 0, 2] = -rho * se * sa
        d_enu[..., 1, 0] = ce * ca
        d_enu[..., 1, 1] = -rho * ce * sa
        d_enu[..., 1, 2] = -rho * se * ca
        d_enu[..., 2, 0] = se
        d_enu[..., 2, 1] = 0.0
        d_enu[..., 2, 2] = rho * ce
        rot = self.enu @ _rotation_eci_to_ecef(np.asarray(t, float), self.model)
        return np.swapaxes(rot, -1, -2) @ d_enu

    @staticmethod
    def residual(z: ArrayLike, z_pred: ArrayLike) -> FloatArray:
        """Innovation z - z_pred with the azimuth difference wrapped into [-π, π)."""
        d = np.asarray(z, float) - np.asarray(z_pred, float)
        d[..., 1] = wrap_angle(d[..., 1])
        return d
