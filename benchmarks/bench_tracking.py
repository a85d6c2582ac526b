"""Benchmark: 1,000 simultaneous ballistic tracks, 300 s of 1 Hz radar updates, one EKF step per
track per second, through jointbmd's batched EKF, Stone Soup's EKF and FilterPy's EKF.

All three filter the same measurements with the same models (jointbmd's ballistic RK4 motion
with its variational-equation Jacobian and its radar model, wrapped in each peer's classes, see
:mod:`jointbmd.tracking.peers`), so they differ only in the filter machinery; the benchmark checks
that their position RMSE agrees within 1 % on the tracks all three ran. The peers run one track
at a time, so they are timed on a subsample of tracks and their time is scaled linearly to the
full number of tracks (reported as ``peer_tracks_timed``). Association is known (each track gets
its own object's measurements): this measures filtering, not data association.

``run(quick)`` returns one JSON-able dict (see ``benchmarks/run.py``).
"""

from __future__ import annotations

import time

import numpy as np

from jointbmd.tracking.peers import filterpy_ekf, jointbmd_ekf, stonesoup_ekf
from jointbmd.tracking.synthetic import impulsive_launch_state, propagate_truth, radar_measurements

SITE = (np.radians(40.0), np.radians(44.5), 200.0)
SIGMA = np.array([50.0, 1e-3, 1e-3])  # range m, azimuth and elevation rad


def _scenario(n: int, duration_s: float, seed: int = 2010):
    """n missiles launched at t = 0 from around (35 N, 50 E) towards the north-west, observed
    at 1 Hz from 200 s after launch by a radar at (40 N, 44.5 E)."""
    rng = np.random.default_rng(seed)
    x0 = impulsive_launch_state(
        np.radians(rng.uniform(33.0, 37.0, n)),
        np.radians(rng.uniform(48.0, 53.0, n)),
        np.radians(rng.uniform(295.0, 335.0, n)),
        rng.uniform(4000.0, 5000.0, n),
        np.radians(rng.uniform(35.0, 45.0, n)),
    )
    times = 200.0 + np.arange(1.0, duration_s + 1.0)
    truth = propagate_truth(x0, 0.0, np.concatenate([[200.0], times]))
    z, R, _ = radar_measurements(truth[:, 1:], times, *SITE, SIGMA, rng)
    p0 = np.diag([1e3**2] * 3 + [100.0**2] * 3)
    x_prior = truth[:, 0] + rng.multivariate_normal(np.zeros(6), p0, n)
    args = (x_prior, np.repeat(p0[None], n, 0), 200.0, times, z, R, SITE, "full", 1.0)
    return truth[:, 1:], args


def _rmse(xs: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum((xs[..., :3] - truth[..., :3]) ** 2, -1))))


def _subset(args: tuple, k: int) -> tuple:
    x, p, t0, times, z, *rest = args
    return (x[:k], p[:k], t0, times, z[:k], *rest)


def run(quick: bool = False) -> dict:
    n, duration, peer_tracks, repeats = (200, 60.0, 4, 3) if quick else (1000, 300.0, 20, 3)
    truth, args = _scenario(n, duration)
    updates = n * int(duration)

    seconds_jb = []
    for _ in range(repeats):
        start = time.perf_counter()
        xs, _ = jointbmd_ekf(*args)
        seconds_jb.append(time.perf_counter() - start)

    sub = _subset(args, peer_tracks)
    estimates = {"jointbmd": xs[:peer_tracks]}
    seconds = {"jointbmd": float(np.median(seconds_jb))}
    for name, peer in (("stonesoup", stonesoup_ekf), ("filterpy", filterpy_ekf)):
        start = time.perf_counter()
        estimates[name], _ = peer(*sub)
        seconds[name] = (time.perf_counter() - start) * n / peer_tracks

    rmse = {name: _rmse(x, truth[:peer_tracks]) for name, x in estimates.items()}
    equal = all(abs(rmse[name] / rmse["jointbmd"] - 1.0) < 0.01 for name in rmse)
    return {
        "benchmark": "tracking",
        "tracks": n,
        "duration_s": duration,
        "update_rate_hz": 1.0,
        "peer_tracks_timed": peer_tracks,
        "peer_time_scaling": f"linear: timed on {peer_tracks} tracks, x{n / peer_tracks:g}",
        "seconds": seconds,
        "speedup": {
            name: seconds[name] / seconds["jointbmd"] for name in ("stonesoup", "filterpy")
        },
        "accuracy": {
            "rmse_position_m": rmse,
            "rmse_position_m_all_tracks_jointbmd": _rmse(xs, truth),
            "compared_on_tracks": peer_tracks,
            "equal_within_1_percent": equal,
        },
        "updates_per_second": {name: updates / s for name, s in seconds.items()},
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
