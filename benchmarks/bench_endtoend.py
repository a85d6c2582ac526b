"""End to end: replications per second of ``lisbon2010`` with its arrangements, on 2 cores.

Each replication runs the whole pipeline -- sensing, national tracking, the signed exchange, the
fusion centre, and for every arrangement the decisions, votes, assignment and shots. Two worker
processes share the replications (each computes the scenario's trajectories and interceptor
geometry once, as a campaign worker does). A profile of a few replications in one process says
where the time goes, stage by stage.

There is no peer for a whole joint-defence replication (the closed simulators cannot be run
here), so this benchmark reports jointbmd alone against the issue's goal: 100 replications of all
five arrangements within 60 s on 2 cores.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

from jointbmd.scenario import load_scenario
from jointbmd.simulation import run_arrangements

SCENARIO = "lisbon2010"
# The four arrangement kinds of docs/design.md (lisbon2010 also has a joint any-may-fire variant).
ARRANGEMENTS = ["independent", "data-exchange", "sectoral", "joint-consensus"]
STAGES = {
    "truth (trajectories, once)": "simulation/truth.py:_build_truth",
    "sensing": "simulation/picture.py:sense",
    "national tracking": "simulation/picture.py:track_partner",
    "exchange + fusion": "simulation/picture.py:exchange_and_fuse",
    "decisions + engagements": "simulation/decide.py:decide_and_engage",
}


def _worker_run(replications: list[int]) -> int:
    scenario = load_scenario(SCENARIO)
    for r in replications:
        run_arrangements(scenario, ARRANGEMENTS, r, seed=2010)
    return len(replications)


def _profile(replications: int) -> dict[str, float]:
    scenario = load_scenario(SCENARIO)
    profiler = cProfile.Profile()
    profiler.enable()
    for r in range(replications):
        run_arrangements(scenario, ARRANGEMENTS, 10_000 + r, seed=2010)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    total = sum(v[2] for v in stats.values())  # total own time
    shares = {}
    for stage, suffix in STAGES.items():
        path, name = suffix.split(":")
        cumulative = sum(
            v[3] for (file, _, func), v in stats.items() if file.endswith(path) and func == name
        )
        shares[stage] = cumulative / replications
    shares["total per replication"] = total / replications
    return shares


def run(quick: bool = False) -> dict:
    replications = 10 if quick else 100
    workers = 2
    chunks = [list(range(w, replications, workers)) for w in range(workers)]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        done = sum(pool.map(_worker_run, chunks))
    seconds = time.perf_counter() - started
    # Per-replication time in one warm process (truth cached), median of a few.
    scenario = load_scenario(SCENARIO)
    run_arrangements(scenario, ARRANGEMENTS, 0, seed=2010)
    single = []
    for r in range(3 if quick else 5):
        t0 = time.perf_counter()
        run_arrangements(scenario, ARRANGEMENTS, 20_000 + r, seed=2010)
        single.append(time.perf_counter() - t0)
    profile = _profile(2 if quick else 5)
    return {
        "benchmark": "endtoend",
        "scenario": SCENARIO,
        "arrangements": ARRANGEMENTS,
        "replications": done,
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "seconds": {"jointbmd": seconds},
        "speedup": {},
        "accuracy": {"note": "no peer: full pipeline, all five arrangements per replication"},
        "replications_per_second": done / seconds,
        "seconds_for_100_replications": 100 * seconds / done,
        "goal_seconds_for_100": 60.0,
        "single_process_seconds_per_replication": statistics.median(single),
        "profile_seconds_per_replication": profile,
    }
