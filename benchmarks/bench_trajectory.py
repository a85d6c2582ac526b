"""Benchmark: N full-model ballistic trajectories, jointbmd's batched propagator vs scipy.

N free flights (re-entry drag included) from varied burnout states on the rotating WGS84 Earth
with J2 and the US Standard Atmosphere, to impact. Peer: a Python loop over scipy's
``solve_ivp`` (RK45) with a terminal impact event, its right-hand side written lean (scalar
``math`` gravity with J2; the same 10 m density table as jointbmd, looked up in plain Python,
the same drag ceiling): the same physics, number for number.

Equal work. Both sides stop at impact, located by root finding on their own interpolant to far
below the integration error (scipy: brentq to 4 machine epsilons on its RK45 interpolant;
jointbmd: regula falsi to 1e-9 s on the quintic Hermite). Dense output is off on both sides
(scipy ``dense_output=False``, which still builds the interpolant of the step holding the event;
jointbmd ``dense=False``, which keeps only the event steps); jointbmd also locates the apogee,
scipy does not (in scipy's favour). jointbmd's time with dense output on is reported too.

Equal accuracy. The impact point of both against a tight DOP853 reference (rtol 1e-13, with the
same right-hand side) on a subsample; scipy's tolerance is the loosest of a quarter-decade ladder
(atol = 1e3 rtol, m and m/s) whose largest impact error is no larger than jointbmd's at its
default setting. jointbmd ends its steps on the density's kinks (the layer boundaries of the
1976 atmosphere, the bands above), which is most of its accuracy; ``solve_ivp`` has no such
notion. Restarting it at every kink through terminal events was tried and is no better (its
restart states come from its interpolant, and every restart begins with small steps): the plain
loop is the stronger peer.

Timing. The scipy loop is timed on a subsample and scaled to N (said so in the output); jointbmd
is one batched call on all N. Both are medians of repeated runs, in wall time (the headline) and
in CPU time (steadier on a shared machine; both sides run on one core). Peak memory: Python's
``tracemalloc`` (numpy reports its buffers to it) over one jointbmd call and over the scipy loop.

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
    DEFAULT_ATOL_M,
    DEFAULT_RTOL,
    DENSITY_TABLE_DIFF,
    DENSITY_TABLE_H0_M,
    DENSITY_TABLE_STEP_M,
    DENSITY_TABLE_VALUE,
)

_A2 = 1.0 / earth.WGS84_A**2
_B2 = 1.0 / earth.WGS84_B**2
_RHO_VALUE = DENSITY_TABLE_VALUE.tolist()
_RHO_DIFF = DENSITY_TABLE_DIFF.tolist()
_RHO_LAST = len(_RHO_VALUE) - 1
_RHO_H0 = DENSITY_TABLE_H0_M
_RHO_INV_STEP = 1.0 / DENSITY_TABLE_STEP_M


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


def _density(h: float) -> float:
    """``propagate.air_density`` for one height, in plain Python (same table, same formula)."""
    x = max((h - _RHO_H0) * _RHO_INV_STEP, 0.0)
    i = min(int(x), _RHO_LAST)
    return _RHO_VALUE[i] + _RHO_DIFF[i] * (x - i)


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
        rho = _density(h)  # 0 above the drag ceiling
        if rho > 0.0:
            rx, ry = vx + w * yy, vy - w * x
            d = rho * math.sqrt(rx * rx + ry * ry + vz * vz) * inv
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
    """Impact ECI positions, times and right-hand-side calls of a loop over ``solve_ivp``."""
    out = np.full((len(x0), 3), np.nan)
    times = np.full(len(x0), np.nan)
    nfev = np.zeros(len(x0), int)
    for i in range(len(x0)):
        sol = solve_ivp(
            _rhs_factory(float(beta[i])),
            (0.0, 4 * 3600.0),
            x0[i],
            method=method,
            rtol=rtol,
            atol=atol,
            events=_impact_lean,
            dense_output=False,
        )
        nfev[i] = sol.nfev
        if sol.t_events[0].size:
            times[i] = sol.t_events[0][0]
            out[i] = sol.y_events[0][0][:3]
    return out, times, nfev


def _timed(func, repeats: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``repeats`` calls, and the last result."""
    wall, cpu = [], []
    result = None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = func()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)), float(np.median(cpu)), result


def _peak_mb(func) -> float:
    tracemalloc.start()
    func()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def _stats(err: np.ndarray) -> dict:
    return {
        "max": float(np.max(err)),
        "p95": float(np.percentile(err, 95)),
        "median": float(np.median(err)),
        "rms": float(np.sqrt(np.mean(err**2))),
    }


def run(quick: bool = False) -> dict:
    rng = np.random.default_rng(20101120)
    n = 1000 if quick else 10_000
    n_ref = 30 if quick else 200
    n_scipy = 40 if quick else 200
    repeats = 3 if quick else 5
    x0, beta = burnout_states(n, rng)

    def batch(dense: bool = False):
        return propagate(x0, 0.0, "full", ballistic_coefficient=beta, dense=dense)

    # jointbmd: the whole batch in one call.
    batch()  # warm-up (imports, first allocations)
    t_jointbmd, cpu_jointbmd, traj = _timed(batch, repeats)
    t_dense, _, _ = _timed(lambda: batch(True), 3)
    # Peak memory in separate runs (tracing slows numpy down).
    peak_jointbmd = _peak_mb(batch)
    peak_dense = _peak_mb(lambda: batch(True))

    # Reference: DOP853 at rtol 1e-13 on a subsample (1e-12 is itself off by up to 0.2 m).
    ref_idx = np.arange(n_ref)
    ref, _, _ = scipy_impacts(x0[ref_idx], beta[ref_idx], "DOP853", 1e-13, 1e-7)
    err_jointbmd = np.linalg.norm(traj.impact_state_eci[ref_idx, :3] - ref, axis=-1)
    # How good the reference is: against jointbmd converged (100x tighter, about 2x the steps).
    tight = propagate(
        x0[ref_idx], 0.0, "full", ballistic_coefficient=beta[ref_idx], dense=False,
        rtol=1e-12, atol_m=1e-5,
    )  # fmt: skip
    err_ref = np.linalg.norm(tight.impact_state_eci[:, :3] - ref, axis=-1)
    target = float(np.max(err_jointbmd))

    # scipy RK45: the loosest tolerance of a quarter-decade ladder at least as accurate.
    ladder = [10.0 ** (-e) for e in np.arange(6.0, 12.01, 0.25)]
    chosen, err_scipy = ladder[-1], None
    tried = {}
    for rtol in ladder:
        pos, _, _ = scipy_impacts(x0[ref_idx], beta[ref_idx], "RK45", rtol, rtol * 1e3)
        err = np.linalg.norm(pos - ref, axis=-1)
        tried[f"{rtol:.3g}"] = float(np.max(err))
        if np.max(err) <= target or rtol == ladder[-1]:
            chosen, err_scipy = rtol, err
            break

    sub = np.arange(n_scipy)
    t_sub, cpu_sub, (_, _, nfev) = _timed(
        lambda: scipy_impacts(x0[sub], beta[sub], "RK45", chosen, chosen * 1e3), 3
    )
    t_scipy = t_sub * n / n_scipy
    peak_scipy = _peak_mb(lambda: scipy_impacts(x0[sub], beta[sub], "RK45", chosen, chosen * 1e3))

    steps = traj.steps + traj.rejected_steps
    return {
        "benchmark": "trajectory",
        "n": n,
        "seconds": {"jointbmd": t_jointbmd, "scipy_solve_ivp_rk45": t_scipy},
        "speedup": {"scipy_solve_ivp_rk45": t_scipy / t_jointbmd},
        "accuracy": {
            "compared": (
                f"impact ECI position vs solve_ivp DOP853 rtol 1e-13 atol 1e-7 on {n_ref} "
                "trajectories (m); scipy RK45 at the loosest ladder tolerance whose max error "
                "is no larger than jointbmd's"
            ),
            "impact_error_m_jointbmd": _stats(err_jointbmd),
            "impact_error_m_scipy": _stats(err_scipy),
            "reference_vs_jointbmd_rtol_1e-12_m": _stats(err_ref),
            "jointbmd_rtol": DEFAULT_RTOL,
            "jointbmd_atol_m": DEFAULT_ATOL_M,
            "scipy_rk45_rtol": chosen,
            "scipy_rk45_atol": chosen * 1e3,
            "scipy_ladder_max_error_m": tried,
        },
        "cpu_seconds": {
            "jointbmd": cpu_jointbmd,
            "scipy_solve_ivp_rk45": cpu_sub * n / n_scipy,
        },
        "speedup_cpu": {"scipy_solve_ivp_rk45": cpu_sub * n / n_scipy / cpu_jointbmd},
        "jointbmd_dense_output_seconds": t_dense,
        "scipy_subsample_seconds": t_sub,
        "peak_memory_mb": {
            "jointbmd": peak_jointbmd,
            "jointbmd_dense_output": peak_dense,
            f"scipy_loop_{n_scipy}": peak_scipy,
        },
        "mean_steps_jointbmd": float(np.mean(traj.steps)),
        "mean_rejected_steps_jointbmd": float(np.mean(traj.rejected_steps)),
        "mean_rhs_calls_per_trajectory": {
            "jointbmd": float(6 * np.mean(steps) + 1),
            "scipy_solve_ivp_rk45": float(np.mean(nfev)),
        },
        "impacted": int(np.sum(np.isfinite(traj.impact_time))),
        "notes": (
            f"scipy loop timed on the first {n_scipy} trajectories and scaled to {n}; jointbmd "
            f"one batched call on all {n}; dense output off on both sides; medians of "
            f"{repeats} (jointbmd) and 3 (scipy) runs; free flights with re-entry drag, model "
            "full; impact error statistics over the reference subsample"
        ),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True)))
