"""Benchmark: N full-model ballistic trajectories, jointbmd's batched propagator vs scipy.

N free flights (re-entry drag included) from varied burnout states on the rotating WGS84 Earth
with J2 and the US Standard Atmosphere, to impact. Peer: a Python loop over scipy's
``solve_ivp`` (RK45) with a terminal impact event, its right-hand side written lean (scalar
``math`` gravity with J2; the same tabulated atmosphere and drag ceiling as jointbmd). Accuracy:
the impact point against a tight DOP853 reference (rtol 1e-13) on a subsample; scipy's
tolerance is the loosest of a ladder that is at least as accurate as jointbmd at its default
setting (equal accuracy, in scipy's favour). The scipy loop is timed on a subsample and scaled
to N (said so in the output).

    python benchmarks/run.py trajectory [--quick]
"""

from __future__ import annotations

import math
import time
import tracemalloc

import numpy as np
from scipy.integrate import solve_ivp

from jointbmd import earth
from jointbmd.trajectory import burnout_state_eci, propagate
from jointbmd.trajectory.propagate import (
    DEFAULT_RTOL,
    DRAG_CEILING_M,
    air_density,
)

_A2 = 1.0 / earth.WGS84_A**2
_B2 = 1.0 / earth.WGS84_B**2


def burnout_states(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Varied burnout states: 50-150 km up, 2-7 km/s, 20-50 deg, any azimuth; RV beta."""
    lat = np.arcsin(rng.uniform(-0.9, 0.9, n))
    lon = rng.uniform(-np.pi, np.pi, n)
    alt = rng.uniform(50e3, 150e3, n)
    speed = rng.uniform(2000.0, 7000.0, n)
    fpa = np.radians(rng.uniform(20.0, 50.0, n))
    az = rng.uniform(0.0, 2 * np.pi, n)
    beta = np.exp(rng.uniform(np.log(2000.0), np.log(50000.0), n))
    return burnout_state_eci(lat, lon, alt, speed, fpa, az, 0.0, "full"), beta


def _rhs_factory(beta: float):
    mu, j2, a2 = earth.MU, earth.J2, earth.WGS84_A**2
    w = earth.OMEGA
    inv = 0.5 / beta

    def rhs(_t, y):
        x, yy, z, vx, vy, vz = y
        r2 = x * x + yy * yy + z * z
        r = math.sqrt(r2)
        f = -mu / (r2 * r)
        k = 1.5 * j2 * a2 / r2
        z2 = z * z / r2
        fxy = f * (1.0 + k * (1.0 - 5.0 * z2))
        fz = f * (1.0 + k * (3.0 - 5.0 * z2))
        ax, ay, az = fxy * x, fxy * yy, fz * z
        h = r * (1.0 - 1.0 / math.sqrt((x * x + yy * yy) * _A2 + z * z * _B2))
        if h < DRAG_CEILING_M:
            rx, ry = vx + w * yy, vy - w * x
            speed = math.sqrt(rx * rx + ry * ry + vz * vz)
            d = float(air_density(h)) * speed * inv
            ax, ay, az = ax - d * rx, ay - d * ry, az - d * vz
        return [vx, vy, vz, ax, ay, az]

    return rhs


def _impact_lean(_t, y):
    x, yy, z = y[0], y[1], y[2]
    r = math.sqrt(x * x + yy * yy + z * z)
    return r * (1.0 - 1.0 / math.sqrt((x * x + yy * yy) * _A2 + z * z * _B2))


_impact_lean.terminal = True
_impact_lean.direction = -1


def scipy_impacts(x0: np.ndarray, beta: np.ndarray, method: str, rtol: float, atol: float):
    """Impact ECI positions and times of a loop over ``solve_ivp``."""
    out = np.full((len(x0), 3), np.nan)
    times = np.full(len(x0), np.nan)
    for i in range(len(x0)):
        sol = solve_ivp(
            _rhs_factory(float(beta[i])),
            (0.0, 4 * 3600.0),
            x0[i],
            method=method,
            rtol=rtol,
            atol=atol,
            events=_impact_lean,
        )
        if sol.t_events[0].size:
            times[i] = sol.t_events[0][0]
            out[i] = sol.y_events[0][0][:3]
    return out, times


def run(quick: bool = False) -> dict:
    rng = np.random.default_rng(20101120)
    n = 1000 if quick else 10_000
    n_ref = 20 if quick else 60
    n_scipy = 40 if quick else 200
    x0, beta = burnout_states(n, rng)

    # jointbmd: the whole batch in one call (median of repeats).
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        traj = propagate(x0, 0.0, "full", ballistic_coefficient=beta, dense=False)
        runs.append(time.perf_counter() - start)
    t_jointbmd = float(np.median(runs))
    # Peak memory of one batched call, in a separate run (tracing slows numpy down).
    tracemalloc.start()
    propagate(x0, 0.0, "full", ballistic_coefficient=beta, dense=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # Reference: DOP853 at rtol 1e-13 on a subsample (1e-12 is itself off by up to 0.2 m).
    ref_idx = np.arange(n_ref)
    ref, _ = scipy_impacts(x0[ref_idx], beta[ref_idx], "DOP853", 1e-13, 1e-7)
    err_jointbmd = np.linalg.norm(traj.impact_state_eci[ref_idx, :3] - ref, axis=-1)
    target = float(np.max(err_jointbmd))

    # scipy RK45: loosest tolerance at least as accurate as jointbmd.
    ladder = [1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12]
    chosen = ladder[-1]
    err_scipy = None
    for rtol in ladder:
        pos, _ = scipy_impacts(x0[ref_idx], beta[ref_idx], "RK45", rtol, rtol * 1e3)
        err = np.linalg.norm(pos - ref, axis=-1)
        if np.max(err) <= target or rtol == ladder[-1]:
            chosen, err_scipy = rtol, err
            break

    sub = np.arange(n_scipy)
    runs_scipy = []
    for _ in range(3):
        start = time.perf_counter()
        scipy_impacts(x0[sub], beta[sub], "RK45", chosen, chosen * 1e3)
        runs_scipy.append(time.perf_counter() - start)
    t_scipy = float(np.median(runs_scipy)) * n / n_scipy

    return {
        "benchmark": "trajectory",
        "n": n,
        "seconds": {"jointbmd": t_jointbmd, "scipy_solve_ivp_rk45": t_scipy},
        "speedup": {"scipy_solve_ivp_rk45": t_scipy / t_jointbmd},
        "accuracy": {
            "compared": (
                f"impact ECI position vs solve_ivp DOP853 rtol 1e-13 atol 1e-7 on {n_ref} "
                "trajectories"
            ),
            "impact_error_m_jointbmd": float(np.max(err_jointbmd)),
            "impact_error_m_jointbmd_median": float(np.median(err_jointbmd)),
            "impact_error_m_scipy": float(np.max(err_scipy)),
            "impact_error_m_scipy_median": float(np.median(err_scipy)),
            "jointbmd_rtol": DEFAULT_RTOL,
            "scipy_rk45_rtol": chosen,
            "scipy_rk45_atol_m": chosen * 1e3,
        },
        "notes": (
            f"scipy loop timed on {n_scipy} trajectories and scaled to {n}; jointbmd one batched "
            "call, dense output off; medians of 3 runs; free flights with re-entry drag, model "
            "full; the impact error is the maximum over the reference subsample"
        ),
        "mean_steps_jointbmd": float(np.mean(traj.steps)),
        "impacted": int(np.sum(np.isfinite(traj.impact_time))),
        "peak_memory_mb": peak / 2**20,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True)))
