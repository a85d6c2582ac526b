"""The live run against the batch run: one ``lisbon2010`` replication, every node its own process.

Peer: the batch run of the same replication (``jointbmd.simulation.run_arrangements`` in one
process), which the live run must equal exactly. Both are timed from the user's side, as fresh
processes: ``jointbmd run lisbon2010 -r 1 --json`` and ``jointbmd live lisbon2010 --json``
(imports, trajectories, the node processes' start-up and the synchronisation included; each
run twice, the second counting), with
the arrangements below, on the same machine in the same session. The goal: the live run within
5x the batch run's time. Also reported: the same two in this process (warm imports), and
whether the live JSON's rows equal the batch JSON's.
"""

from __future__ import annotations

import json
import subprocess
import time

SCENARIO = "lisbon2010"
SEED = 2010


def _timed(args: list[str]) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(["jointbmd", *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - started, json.loads(done.stdout)


def run(quick: bool = False) -> dict:
    from jointbmd.live import live_run
    from jointbmd.scenario import load_scenario
    from jointbmd.simulation import run_arrangements

    arrangements = "joint-consensus" if quick else "all"
    common = [SCENARIO, "--arrangement", arrangements, "--seed", str(SEED), "--json"]
    # Each command twice, alternating; the second of each counts (the first pays for cold
    # file caches: a first run after an idle spell took 28 s against 6 s warm).
    for _ in range(2):
        batch_s, batch = _timed(["run", *common[:1], "-r", "1", *common[1:]])
        live_s, live = _timed(["live", *common])
    same = all(live[k] == batch[k] for k in ("rows", "paired", "threats"))
    scenario = load_scenario(SCENARIO)
    # Warm-up, untimed: trajectories and interceptor geometry are cached per scenario in this
    # process, which would favour whichever of the two ran second.
    run_arrangements(scenario, arrangements, 1, SEED)
    started = time.perf_counter()
    in_process = run_arrangements(scenario, arrangements, 0, SEED)
    batch_in_s = time.perf_counter() - started
    started = time.perf_counter()
    live_in = live_run(scenario, arrangements, 0, SEED)
    live_in_s = time.perf_counter() - started
    same_in = [r.threats for r in in_process] == [r.threats for r in live_in.results]
    return {
        "benchmark": "live",
        "seconds": {
            "jointbmd live (command)": live_s,
            "jointbmd run -r 1 (command)": batch_s,
            "live_run (in process)": live_in_s,
            "run_arrangements (in process)": batch_in_s,
        },
        "speedup": {
            "run -r 1 / live (command)": batch_s / live_s,
            "run_arrangements / live_run (in process)": batch_in_s / live_in_s,
        },
        "accuracy": {
            "arrangements": arrangements,
            "live JSON rows, paired and threats equal run -r 1's": same,
            "live threats equal batch threats (in process)": same_in,
            "goal": "live within 5x the batch run (speedup >= 0.2)",
        },
    }
