"""Campaign throughput and memory: replications per second on 1 and 2 Dask workers, parallel
efficiency, peak memory at R and 10 R replications, and the time for 1,000 replications of
``lisbon2010`` with every arrangement.

    python benchmarks/run.py campaign [--quick] [--json]

The replication function is the real simulation (``jointbmd.simulation.run_arrangements``, all
arrangements of a replication in one task, as ``jointbmd campaign`` runs it) when it exists;
otherwise a stand-in (``stand_in_replication`` below) with the same signature and seeding that
does a fixed amount of numpy work (about 50 ms) per replication, so that the figures measure the
campaign machinery (task shipping, result return, the DuckDB writes) around a realistic task size.
The row says which one was used.

- ``rate_1_worker`` / ``rate_2_workers``: replications (of one arrangement) per second of a local
  Dask cluster of 1 and 2 single-threaded worker processes (cluster start-up and a warm-up task
  excluded); ``parallel_efficiency`` =
  rate(2) / (2 rate(1)).
- ``peak_memory_ratio``: peak resident memory of the whole ``jointbmd campaign --workers 2``
  process tree (driver + workers, polled every 20 ms with psutil) at 10 R over that at R.
- ``seconds_1000_lisbon2010``: 1,000 replications x every arrangement of lisbon2010 at the 2-worker
  rate (extrapolated from the measured rate).

There is no peer tool to compare against: ``speedup`` is empty and ``seconds.jointbmd`` is the
time per replication at 2 workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def stand_in_replication(scenario, arrangement: str, replication: int, seed: int):
    """A replication-sized task: ~50 ms of numpy work, outcomes drawn from the replication's own
    generator and the scenario's raids (as the real function would)."""
    from jointbmd.outcomes import Event, ReplicationResult, ThreatOutcome

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(replication,)))
    # Element-wise work (no BLAS threads): one process = one core, as a Dask worker is.
    work = rng.standard_normal(100_000)
    for _ in range(25):
        work = np.sin(work) + 0.5 * np.cos(work)
    sspk = float(np.mean([t.sspk for t in scenario.interceptor_types]))
    threats, events = [], []
    threat_id = 0
    for raid in scenario.raids:
        partner = scenario.defended_asset(raid.aimpoint).partner
        for launch in raid.launch_times_s():
            killed = bool(rng.random() < 1 - (1 - sspk) ** 2)
            fired = launch + 60.0 + rng.exponential(40.0)
            threats.append(
                ThreatOutcome(
                    threat_id, raid.name, raid.threat_type, raid.aimpoint, partner, launch,
                    launch + 900.0, launch + 40.0, launch + 55.0, fired, partner, 2,
                    fired + 300.0 if killed else None, 200.0 if killed else None, killed,
                )
            )  # fmt: skip
            events += [Event(launch, "launch", None, threat_id), Event(fired, "shot", partner,
                                                                        threat_id)]  # fmt: skip
            threat_id += 1
    return ReplicationResult(arrangement, replication, tuple(threats), tuple(events),
                             {partner: 2 * threat_id}, {})  # fmt: skip


def _function():
    from jointbmd.campaign import Runner

    try:
        from jointbmd.simulation import run_arrangements

        return Runner(batch=run_arrangements), "jointbmd.simulation.run_arrangements"
    except ImportError:
        return Runner(replication=stand_in_replication), "stand_in_replication (stand-in)"


def _rate(workers: int, replications: int, arrangements: list[str], function) -> float:
    from jointbmd.campaign import DaskExecutor, run_campaign
    from jointbmd.scenario import load_scenario
    from jointbmd.store import Store

    scenario = load_scenario("lisbon2010")
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "b.duckdb") as store:
        with DaskExecutor(workers=workers) as executor:
            # Warm the workers (imports, first-call costs) on a throw-away campaign.
            run_campaign(scenario, store, replications=workers, seed=99, arrangements=arrangements,
                         executor=executor, replication_function=function)  # fmt: skip
            run = run_campaign(scenario, store, replications=replications, seed=1,
                               arrangements=arrangements, executor=executor,
                               replication_function=function)  # fmt: skip
    return run.ran / run.seconds


def _peak_tree_rss(argv: list[str], env: dict[str, str]) -> float:
    """Peak summed RSS (bytes) of a process and all its children while it runs."""
    import psutil

    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parent = psutil.Process(process.pid)
    peak = 0.0
    while process.poll() is None:
        total = 0.0
        try:
            for member in [parent, *parent.children(recursive=True)]:
                try:
                    total += member.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.02)
    if process.returncode != 0:
        raise RuntimeError(process.stderr.read().decode()[-2000:])
    return peak


def run(quick: bool) -> dict:
    from jointbmd.scenario import load_scenario

    function, label = _function()
    scenario = load_scenario("lisbon2010")
    all_arrangements = [a.name for a in scenario.arrangements]
    arrangements = all_arrangements
    replications = 2 if quick else 8
    rate_1 = _rate(1, replications, arrangements, function)
    rate_2 = _rate(2, replications, arrangements, function)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    extra = [] if "stand-in" not in label else [
        "--replication-function", "bench_campaign:stand_in_replication"
    ]  # fmt: skip
    base_r = 1 if quick else 2
    peaks = {}
    with tempfile.TemporaryDirectory() as folder:
        for r in (base_r, 10 * base_r):
            argv = ["jointbmd", "campaign", "lisbon2010", "-r", str(r), "--workers", "2",
                    "--json",
                    "--store", str(Path(folder) / f"m{r}.duckdb"), *extra]  # fmt: skip
            peaks[r] = _peak_tree_rss(argv, env)
    per_1000 = 1000 * len(all_arrangements) / rate_2
    return {
        "benchmark": "campaign",
        "seconds": {"jointbmd": 1.0 / rate_2},
        "speedup": {},
        "accuracy": "same seed gives identical stored numbers on every executor "
        "(tests/test_campaign.py::test_same_numbers_on_every_executor)",
        "replication_function": label,
        "rate_1_worker": rate_1,
        "rate_2_workers": rate_2,
        "parallel_efficiency": rate_2 / (2.0 * rate_1),
        "peak_memory_bytes": {str(r): v for r, v in peaks.items()},
        "peak_memory_ratio": peaks[10 * base_r] / peaks[base_r],
        "seconds_1000_lisbon2010": per_1000,
        "seconds_1000_lisbon2010_is": "extrapolated from rate_2_workers",
        "arrangements_lisbon2010": len(all_arrangements),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
    }
