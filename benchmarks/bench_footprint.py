"""Benchmark: a defended-area footprint, all aimpoints in one batch vs a loop over cells.

The map: a 100 x 100 grid of aimpoints (latitude 36-60 N, longitude 5 W-40 E, uniform in degrees)
against one threat type (``IRBM-X``) from one launch area (``Semnan``) with the three fire units
of the built-in ``epaa2018`` (Aegis ship SM-3 IB, Deveselu SM-3 IB, Redzikowo SM-3 IIA), cued a
fixed 60 s after launch (the same cue on both sides; a sensor cue would need the loop to model
the radars too).

jointbmd: ``analysis.footprint.aimpoint_results`` on all cells -- targeting from one loft table
(minimum energy solved exactly on a coarse (bearing, range) table, every cell landed in one
batch with the table's loft), batched trajectory sampling (5 s), batched intercept geometry and
doctrine -- on one process and on two (``workers=2``: the machine has two cores).

Before: the same with ``exact=True`` -- every cell's minimum-energy problem solved by
``trajectory.aim`` (one batch, about seventy propagations per reachable cell). It is timed on a
random subsample of cells (all of them with ``--quick``) and scaled to the whole grid (said so in
the output); on that subsample, the agreement of the two: reachable cells, engageable (cell,
unit) pairs and the earliest launch.

Peer: what a user writes with jointbmd's single-case API, a Python loop over cells: for each
aimpoint ``trajectory.aim`` (one trajectory), sample it every second, ``engagement.
intercept_geometry`` for the three units, ``InterceptGeometry.earliest`` at the allowed launch.
The loop is timed on a random subsample of cells and scaled to the whole grid (said so in the
output). Agreement on that subsample: whether each (cell, unit) can be engaged, and the earliest
feasible launch.

Timings are medians in wall time (and CPU time for the one-process runs, steadier on a shared
machine); the machine is shared, so compare the ratios of the same run.

    python benchmarks/run.py footprint [--quick]
"""

from __future__ import annotations

import math
import time

import numpy as np

from jointbmd.analysis import footprint as fpm
from jointbmd.engagement import intercept_geometry
from jointbmd.scenario import load_scenario
from jointbmd.trajectory import aim

CUE_S = 60.0


def _grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    lat, lon = np.meshgrid(np.linspace(36.0, 60.0, side), np.linspace(-5.0, 40.0, side),
                           indexing="ij")  # fmt: skip
    return lat.ravel(), lon.ravel()


def _loop_cell(s, lat_deg: float, lon_deg: float, allowed: np.ndarray):
    """The single-case way: (feasible (m,), earliest launch (m,))."""
    sol = aim(s.launch_lat_rad, s.launch_lon_rad, math.radians(lat_deg), math.radians(lon_deg),
              missile=s.missile, model=s.scenario.model)  # fmt: skip
    if not sol.converged[0]:
        return np.zeros(s.m, bool), np.full(s.m, np.nan), False
    times = np.arange(0.0, float(sol.flight_time[0]) + 1.0, 1.0)
    geometry = intercept_geometry(times, sol.trajectories.position_ecef(times), s.units)
    first = geometry.earliest(allowed)
    return first.feasible, first.t_launch, True


def run(quick: bool = False) -> dict:
    side = 20 if quick else 100
    n_loop = 6 if quick else 30
    scenario = load_scenario("epaa2018")
    s = fpm.setup(scenario, "IRBM-X", "Semnan", cue=CUE_S)
    lat, lon = _grid(side)
    owners = ["NATO"] * lat.shape[0]
    fpm.aimpoint_results(s, lat[:4], lon[:4], owners[:4])  # warm-up: reach tables, imports

    wall0, cpu0 = time.perf_counter(), time.process_time()
    batched = fpm.aimpoint_results(s, lat, lon, owners)
    wall1, cpu1 = time.perf_counter() - wall0, time.process_time() - cpu0
    wall0 = time.perf_counter()
    batched2 = fpm.aimpoint_results(s, lat, lon, owners, workers=2)
    wall2 = time.perf_counter() - wall0
    same = bool(np.array_equal(batched.defended, batched2.defended))

    n = lat.shape[0]
    rng = np.random.default_rng(2018)
    n_exact = n if quick else 1000
    sub = np.sort(rng.choice(n, n_exact, replace=False))
    owners_sub = [owners[k] for k in sub]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    exact = fpm.aimpoint_results(s, lat[sub], lon[sub], owners_sub, exact=True)
    exact_wall = (time.perf_counter() - wall0) / n_exact * n
    exact_cpu = (time.process_time() - cpu0) / n_exact * n
    pair_rows = exact.reachable & batched.reachable[sub]
    agree_pairs = exact.defended[pair_rows] == batched.defended[sub][pair_rows]
    both_def = exact.defended[pair_rows] & batched.defended[sub][pair_rows]
    d_exact = np.abs(exact.earliest_launch_s[pair_rows][both_def]
                     - batched.earliest_launch_s[sub][pair_rows][both_def])  # fmt: skip

    cells = rng.choice(lat.shape[0], n_loop, replace=False)
    allowed = np.full(s.m, CUE_S + s.decision_delay_s)
    loop_feasible, loop_launch, loop_reach = [], [], []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for k in cells:
        feasible, t_launch, reach = _loop_cell(s, lat[k], lon[k], allowed)
        loop_feasible.append(feasible)
        loop_launch.append(t_launch)
        loop_reach.append(reach)
    loop_wall = (time.perf_counter() - wall0) / n_loop * lat.shape[0]
    loop_cpu = (time.process_time() - cpu0) / n_loop * lat.shape[0]
    loop_feasible = np.array(loop_feasible)
    loop_launch = np.array(loop_launch)
    agree = loop_feasible == batched.defended[cells]
    both = loop_feasible & batched.defended[cells]
    dt = np.abs(loop_launch[both] - batched.earliest_launch_s[cells][both])
    return {
        "benchmark": "footprint",
        "cells": n,
        "units": s.m,
        "seconds": {
            "jointbmd (1 process)": wall1,
            "jointbmd (2 processes)": wall2,
            f"before: exact per-cell aim, 1 process (scaled from {n_exact} cells)": exact_wall,
            f"single-case loop (scaled from {n_loop} cells)": loop_wall,
        },
        "cpu_seconds": {
            "jointbmd (1 process)": cpu1,
            "before: exact per-cell aim (scaled)": exact_cpu,
            "single-case loop (scaled)": loop_cpu,
        },
        "speedup": {
            "over exact per-cell aim, CPU": exact_cpu / cpu1,
            "loop, wall, 1 process": loop_wall / wall1,
            "loop, wall, 2 processes": loop_wall / wall2,
            "loop, CPU": loop_cpu / cpu1,
        },
        "cells_per_second": {
            "1 process": n / wall1,
            "2 processes": n / wall2,
            "loop": n / loop_wall,
        },  # fmt: skip
        "accuracy": {
            "compared_cells": n_loop,
            "reachable_agree": bool(np.array_equal(np.array(loop_reach), batched.reachable[cells])),
            "engageable_agree_fraction": float(agree.mean()),
            "earliest_launch_max_abs_diff_s": float(dt.max()) if dt.size else None,
            "one_and_two_processes_identical": same,
            "exact_compared_cells": n_exact,
            "exact_reachable_agree_fraction": float(
                np.mean(exact.reachable == batched.reachable[sub])
            ),
            "exact_engageable_agree_fraction": float(agree_pairs.mean()),
            "exact_earliest_launch_max_abs_diff_s": float(d_exact.max()) if d_exact.size else None,
        },
        "defended_fraction_of_reachable_cells": float(
            batched.defended_any[batched.reachable].mean()
        ),
    }
