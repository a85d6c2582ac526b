"""Synthetic ballistic truth and radar measurements, for checking and benchmarking the filters.

In: launch points and burnout velocities (or ECI states), sample times, a radar site and its
noise, a ``numpy.random.Generator``. Out: true ECI states ``(n, T, 6)`` and noisy measurements
``(n, T, 3)`` = (range_m, az, el) with their covariance.

The truth is integrated with SciPy's DOP853 at tight tolerances, independently of the filters'
fixed-step RK4, and observed through :func:`jointbmd.earth.eci_to_ecef` and
:func:`jointbmd.earth.ecef_to_aer` rather than through the filters' measurement model. This is a
test bench, not the project's trajectory stage (:mod:`jointbmd.trajectory` owns real threats with
boost, targeting and drag).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.integrate import solve_ivp

from jointbmd.arrays import FloatArray

from .. import earth

__all__ = ["impulsive_launch_state", "propagate_truth", "radar_measurements"]


def impulsive_launch_state(
    lat: ArrayLike,
    lon: ArrayLike,
    heading: ArrayLike,
    speed: ArrayLike,
    flight_path_angle: ArrayLike,
    t_launch: ArrayLike = 0.0,
    model: earth.Model = "full",
) -> FloatArray:
    """ECI states (..., 6) at t_launch of a missile leaving the surface at (lat, lon) with the
    given Earth-relative speed (m/s), heading (rad from north) and flight-path angle (rad above
    the local horizontal): burnout at the surface, as in the textbook ("ideal") problem."""
    lat, lon, heading, speed, gamma, t_launch = np.broadcast_arrays(
        *(np.asarray(v, float) for v in (lat, lon, heading, speed, flight_path_angle, t_launch))
    )
    r_ecef = earth.geodetic_to_ecef(lat, lon, 0.0, model)
    v_enu = speed[..., None] * np.stack(
        [np.cos(gamma) * np.sin(heading), np.cos(gamma) * np.cos(heading), np.sin(gamma)], -1
    )
    v_ecef = np.einsum("...ji,...j->...i", earth.enu_matrix(lat, lon), v_enu)
    return earth.state_ecef_to_eci(np.concatenate([r_ecef, v_ecef], -1), t_launch, model)


def propagate_truth(
    x0_eci: ArrayLike,
    t0: float,
    times: ArrayLike,
    model: earth.Model = "full",
    rtol: float = 1e-12,
    atol: float = 1e-6,
) -> FloatArray:
    """True ECI states (n, T, 6) at ``times`` (T,) of n ballistic objects starting from states
    ``x0_eci (n, 6)`` at ``t0``, under :func:`jointbmd.earth.gravity` only (all n integrated as
    one system by DOP853). Times may lie before or after t0."""
    x0 = np.atleast_2d(np.asarray(x0_eci, float))
    times = np.asarray(times, float)
    n = x0.shape[0]

    def rhs(_t: float, y: FloatArray) -> FloatArray:
        s = y.reshape(n, 6)
        return np.concatenate([s[:, 3:], earth.gravity(s[:, :3], model)], -1).ravel()

    out = np.empty((n, times.size, 6))
    for sign in (1.0, -1.0):
        sel = (times >= t0) if sign > 0 else (times < t0)
        if not np.any(sel):
            continue
        t_eval = times[sel]
        t_end = t_eval.max() if sign > 0 else t_eval.min()
        if t_end == t0:
            out[:, sel] = x0[:, None, :]
            continue
        order = np.argsort(sign * t_eval)
        sol = solve_ivp(
            rhs, (t0, t_end), x0.ravel(), method="DOP853", t_eval=t_eval[order], rtol=rtol,
            atol=atol,
        )  # fmt: skip
        states = sol.y.reshape(n, 6, -1).transpose(0, 2, 1)
        block = np.empty_like(states)
        block[:, order] = states
        out[:, sel] = block
    return out


def radar_measurements(
    x_eci: ArrayLike,
    times: ArrayLike,
    site_lat: float,
    site_lon: float,
    site_alt: float,
    sigma: ArrayLike,
    rng: np.random.Generator,
    model: earth.Model = "full",
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Noisy radar measurements of true states.

    ``x_eci (n, T, 6)`` at ``times (T,)``; ``sigma`` = (σ_range m, σ_az rad, σ_el rad). Returns
    ``(z (n, T, 3), R (3, 3), z_true (n, T, 3))``, z = (range_m, az, el) with az in [0, 2π).
    """
    x = np.asarray(x_eci, float)
    r_ecef = earth.eci_to_ecef(x[..., :3], np.asarray(times, float), model)
    az, el, rng_m = earth.ecef_to_aer(r_ecef, site_lat, site_lon, site_alt, model)
    z_true = np.stack([rng_m, az, el], -1)
    sigma = np.asarray(sigma, float)
    z = z_true + rng.standard_normal(z_true.shape) * sigma
    z[..., 1] = np.mod(z[..., 1], 2.0 * np.pi)
    return z, np.diag(sigma**2), z_true
