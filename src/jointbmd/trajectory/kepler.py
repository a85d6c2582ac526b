"""Closed-form ballistic flight over a spherical, non-rotating Earth (the textbook formulas).

In: range angles, burnout speeds and flight-path angles (SI, rad) as arrays; the sphere's radius
and μ (default: the ``ideal`` model). Out: the same-shaped arrays. Burnout and impact are on the
surface (free flight only). Used as the first guess of targeting and as the oracle of the tests.

With ν = v² R / μ and ψ the range angle (Bate, Mueller & White, *Fundamentals of
Astrodynamics*, 1971, §6.2; Wheelon 1959):

    tan(ψ/2) = ν sinγ cosγ / (1 - ν cos²γ)                    (free-flight range equation)
    minimum energy:  γ* = (π - ψ) / 4,  v*² = (2μ/R) sin(ψ/2) / (1 + sin(ψ/2)),
                     a* = R (1 + sin(ψ/2)) / 2
    apogee radius a (1 + e),  e² = 1 - p / a,  p = (R v cosγ)² / μ,  1/a = 2/R - v²/μ
    flight time  2 √(a³/μ) (π - E + e sin E),  cos E = (1 - R/a) / e   (Kepler's equation)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from jointbmd.earth import MU, R_IDEAL


def minimum_energy_speed(psi: ArrayLike, radius: float = R_IDEAL, mu: float = MU) -> np.ndarray:
    """Least burnout speed (m/s) for range angle ψ (rad)."""
    s = np.sin(0.5 * np.asarray(psi, float))
    return np.sqrt(2.0 * mu / radius * s / (1.0 + s))


def minimum_energy_angle(psi: ArrayLike) -> np.ndarray:
    """Flight-path angle (rad above the horizontal) of the minimum-energy trajectory."""
    return 0.25 * (np.pi - np.asarray(psi, float))


def speed_for_range(
    psi: ArrayLike, gamma: ArrayLike, radius: float = R_IDEAL, mu: float = MU
) -> np.ndarray:
    """Burnout speed (m/s) that flies range angle ψ at flight-path angle γ."""
    t = np.tan(0.5 * np.asarray(psi, float))
    gamma = np.asarray(gamma, float)
    nu = t / (np.cos(gamma) * (np.sin(gamma) + t * np.cos(gamma)))
    return np.sqrt(nu * mu / radius)


def range_angle(
    speed: ArrayLike, gamma: ArrayLike, radius: float = R_IDEAL, mu: float = MU
) -> np.ndarray:
    """Range angle ψ (rad) of a free flight from the surface back to it."""
    nu = np.asarray(speed, float) ** 2 * radius / mu
    gamma = np.asarray(gamma, float)
    c = np.cos(gamma)
    return 2.0 * np.arctan2(nu * np.sin(gamma) * c, 1.0 - nu * c * c)


def _orbit(speed, gamma, radius, mu):
    v = np.asarray(speed, float)
    gamma = np.asarray(gamma, float)
    a = 1.0 / (2.0 / radius - v * v / mu)
    p = (radius * v * np.cos(gamma)) ** 2 / mu
    e = np.sqrt(np.maximum(1.0 - p / a, 0.0))
    return a, e


def apogee_altitude(
    speed: ArrayLike, gamma: ArrayLike, radius: float = R_IDEAL, mu: float = MU
) -> np.ndarray:
    """Height (m) of the apogee above the sphere."""
    a, e = _orbit(speed, gamma, radius, mu)
    return a * (1.0 + e) - radius


def flight_time(
    speed: ArrayLike, gamma: ArrayLike, radius: float = R_IDEAL, mu: float = MU
) -> np.ndarray:
    """Free-flight time (s) from the surface back to it."""
    a, e = _orbit(speed, gamma, radius, mu)
    cos_e = np.clip((1.0 - radius / a) / e, -1.0, 1.0)
    big_e = np.arccos(cos_e)
    return 2.0 * np.sqrt(a**3 / mu) * (np.pi - big_e + e * np.sin(big_e))


def minimum_energy(psi: ArrayLike, radius: float = R_IDEAL, mu: float = MU) -> dict:
    """Minimum-energy trajectory for range angle ψ: speed, angle, apogee height, flight time."""
    psi = np.asarray(psi, float)
    speed = minimum_energy_speed(psi, radius, mu)
    gamma = minimum_energy_angle(psi)
    return {
        "speed": speed,
        "gamma": gamma,
        "semi_major_axis": radius * (1.0 + np.sin(0.5 * psi)) / 2.0,
        "apogee_altitude": apogee_altitude(speed, gamma, radius, mu),
        "flight_time": flight_time(speed, gamma, radius, mu),
    }


def angle_for(
    psi: ArrayLike,
    *,
    apogee_m: ArrayLike | None = None,
    flight_time_s: ArrayLike | None = None,
    radius: float = R_IDEAL,
    mu: float = MU,
) -> np.ndarray:
    """Flight-path angle (rad) reaching range angle ψ with the given apogee height or flight time.

    Both grow monotonically with γ along the family of trajectories of fixed range, so a
    bisection on γ in (0, π/2) finds the unique angle; out-of-reach values give the end angle.
    """
    psi = np.asarray(psi, float)
    if apogee_m is not None:
        goal = np.asarray(apogee_m, float)

        def f(g):
            return apogee_altitude(speed_for_range(psi, g, radius, mu), g, radius, mu)
    elif flight_time_s is not None:
        goal = np.asarray(flight_time_s, float)

        def f(g):
            return flight_time(speed_for_range(psi, g, radius, mu), g, radius, mu)
    else:
        return minimum_energy_angle(psi)
    lo = np.full(np.broadcast(psi, goal).shape, 1e-4)
    hi = np.full_like(lo, 0.5 * np.pi - 1e-4)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        with np.errstate(invalid="ignore", over="ignore"):
            above = ~(f(mid) <= goal)  # NaN: beyond escape, far too high
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return 0.5 * (lo + hi)
