"""Campaign throughput and memory: replications per second on 1 and 2 Dask workers, parallel
efficiency, where the CPU goes, peak memory at R and 10 R replications, and the time for 1,000
replications of ``lisbon2010`` with every arrangement.

    python benchmarks/run.py campaign [--quick] [--json]

The replication function is the real simulation (``jointbmd.simulation.run_arrangements``, all
arrangements of a replication in one task, as ``jointbmd campaign`` runs it) when it exists;
otherwise a stand-in (``stand_in_replication`` below) with the same signature and seeding that
does a fixed amount of numpy work (about 50 ms) per replication. The row says which one was used.
"Replication" below is one replication of one arrangement (a task is one replication index with
every arrangement, so it counts as ``arrangements_lisbon2010`` of them).

Method (1 and 2 workers under the same conditions):

- each measurement starts its own local Dask cluster (``DaskExecutor(workers=N)``: N
  single-threaded worker processes, as ``jointbmd campaign --workers N``), then warms EVERY
  worker with one whole task pinned to it (imports, first-call costs and the scenario's
  trajectories, which each worker computes once per sweep point). Start-up and warm-up are timed
  (``runs[].startup_s``, ``runs[].warm_up_s``) and excluded from the rate, for 1 and 2 workers
  alike; they are one-off costs and are included in the 1,000-replication figure.
- the measured campaign gives every worker the same number of tasks (``tasks_per_worker``), so
  the tail (a worker idle while the other finishes) weighs the same at 1 and 2 workers.
- the runs go 1, 2, 2, 1 workers (ABBA) and each rate is the mean of its two runs, so a load that
  drifts linearly during the benchmark does not favour either side.
- the machine may be shared. During each run the row records the CPU time of our process tree
  (driver + workers) and of everything else on the machine, both in cores. Since
  ``rate = cores_used / cpu_s_per_replication``, the wall-clock ``parallel_efficiency`` splits
  (up to averaging the two runs of each) into ``cpu_efficiency`` (cpu_s_per_replication at 1
  worker over that at 2: what the machinery costs) times ``core_share`` (cores_used at 2 over
  twice that at 1: how much of the second core we actually got). On an idle machine core_share
  is about 1; when other sessions keep the cores busy it is not, and no campaign code can change
  that.
- ``cpu_s_per_replication_in_process``: the same campaign in one process (no Dask), the floor the
  Dask runs are compared with (``dask_cpu_overhead``).

Figures:

- ``rate_1_worker`` / ``rate_2_workers`` (replications per second, warm), ``parallel_efficiency``
  = rate(2) / (2 rate(1)), ``cpu_efficiency``, ``core_share``, ``other_load_cores`` (mean cores
  used by other processes during the 1- and 2-worker runs).
- ``peak_memory_ratio``: peak resident memory of the whole ``jointbmd campaign --workers 2``
  process tree (driver + workers, polled every 20 ms with psutil) at 10 R over that at R.
- ``seconds_1000_lisbon2010``: the time ``jointbmd campaign lisbon2010 -r 1000 --workers 2``
  would take, from a straight line through the end-to-end wall times of the two memory runs
  (``-r R`` and ``-r 10R``, each from process start to exit: interpreter, cluster start-up,
  trajectories, every store write). ``seconds_1000_lisbon2010_from_rate`` is the same from the
  warm 2-worker rate plus the measured start-up and warm-up.

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


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores) since boot."""
    import psutil

    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


class _CpuMeter:
    """CPU seconds of a process tree and of the rest of the machine over a stretch of time."""

    def __init__(self, processes) -> None:
        self._processes = list(processes)

    def _tree(self) -> float:
        total = 0.0
        for process in self._processes:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except Exception:  # a process that is gone contributes nothing more
                pass
        return total

    def __enter__(self) -> _CpuMeter:
        self._tree0, self._busy0, self._wall0 = self._tree(), _busy_cpu_s(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ours = self._tree() - self._tree0
        self.wall = time.perf_counter() - self._wall0
        self.others = max(0.0, _busy_cpu_s() - self._busy0 - self.ours)


def _measure(workers: int | None, per_worker: int, arrangements: list[str], function) -> dict:
    """One warm measurement on a fresh executor (``workers=None``: in process, no Dask)."""
    import psutil

    from jointbmd.campaign import DaskExecutor, InProcess, Task, execute_task, run_campaign
    from jointbmd.scenario import load_scenario
    from jointbmd.store import Store

    scenario = load_scenario("lisbon2010")
    me = psutil.Process()
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "b.duckdb") as store:
        started = time.perf_counter()
        executor = InProcess() if workers is None else DaskExecutor(workers=workers)
        with executor:
            startup = time.perf_counter() - started
            started = time.perf_counter()
            warm = Task(0, 10_000, tuple(arrangements))
            if workers is None:
                execute_task(function, scenario, warm, 99)
            else:
                client = executor.client
                futures = [
                    client.submit(execute_task, function, scenario, warm, 99, workers=[address],
                                  allow_other_workers=False, pure=False)
                    for address in client.nthreads()
                ]  # fmt: skip
                client.gather(futures)
                del futures
            warm_up = time.perf_counter() - started
            replications = per_worker * (workers or 1)
            with _CpuMeter([me, *me.children(recursive=True)]) as cpu:
                run = run_campaign(scenario, store, replications=replications, seed=1,
                                   arrangements=arrangements, executor=executor,
                                   replication_function=function)  # fmt: skip
    return {
        "workers": workers or 0,
        "replications": run.ran,
        "seconds": run.seconds,
        "rate": run.ran / run.seconds,
        "startup_s": startup,
        "warm_up_s": warm_up,
        "cpu_s_per_replication": cpu.ours / run.ran,
        "cores_used": cpu.ours / cpu.wall,
        "other_load_cores": cpu.others / cpu.wall,
    }


def _cli_run(argv: list[str], env: dict[str, str]) -> dict:
    """Wall time, peak summed RSS (bytes) and CPU use of a process and all its children."""
    import psutil

    busy0, started = _busy_cpu_s(), time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parent = psutil.Process(process.pid)
    peak = 0.0
    cpu_seen: dict[int, float] = {}
    while process.poll() is None:
        total = 0.0
        try:
            members = [parent, *parent.children(recursive=True)]
        except psutil.Error:
            members = []
        for member in members:
            try:
                total += member.memory_info().rss
                times = member.cpu_times()
                cpu_seen[member.pid] = times.user + times.system
            except psutil.Error:
                pass
        peak = max(peak, total)
        time.sleep(0.02)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(process.stderr.read().decode()[-2000:])
    ours = sum(cpu_seen.values())
    return {
        "seconds": wall,
        "peak_rss": peak,
        "cores_used": ours / wall,
        "other_load_cores": max(0.0, _busy_cpu_s() - busy0 - ours) / wall,
    }


def _mean(values) -> float:
    return float(np.mean(list(values)))


def run(quick: bool) -> dict:
    from jointbmd.scenario import load_scenario

    function, label = _function()
    scenario = load_scenario("lisbon2010")
    arrangements = [a.name for a in scenario.arrangements]
    per_worker = 2 if quick else 10
    order = [1, 2] if quick else [1, 2, 2, 1]
    in_process = _measure(None, per_worker, arrangements, function)
    runs = [_measure(w, per_worker, arrangements, function) for w in order]
    one = [r for r in runs if r["workers"] == 1]
    two = [r for r in runs if r["workers"] == 2]
    rate_1, rate_2 = _mean(r["rate"] for r in one), _mean(r["rate"] for r in two)
    cpu_1 = _mean(r["cpu_s_per_replication"] for r in one)
    cpu_2 = _mean(r["cpu_s_per_replication"] for r in two)
    cores_1, cores_2 = _mean(r["cores_used"] for r in one), _mean(r["cores_used"] for r in two)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    extra = [] if "stand-in" not in label else [
        "--replication-function", "bench_campaign:stand_in_replication"
    ]  # fmt: skip
    base_r = 1 if quick else 5
    cli = {}
    with tempfile.TemporaryDirectory() as folder:
        for r in (base_r, 10 * base_r):
            argv = ["jointbmd", "campaign", "lisbon2010", "-r", str(r), "--workers", "2",
                    "--json",
                    "--store", str(Path(folder) / f"m{r}.duckdb"), *extra]  # fmt: skip
            cli[r] = _cli_run(argv, env)
    small, large = cli[base_r], cli[10 * base_r]
    per_task = (large["seconds"] - small["seconds"]) / (9 * base_r)
    n_arr = len(arrangements)
    one_off = _mean(r["startup_s"] + r["warm_up_s"] for r in two)
    return {
        "benchmark": "campaign",
        "seconds": {"jointbmd": 1.0 / rate_2},
        "speedup": {},
        "accuracy": "same seed gives identical stored numbers on every executor "
        "(tests/test_campaign.py::test_same_numbers_on_every_executor)",
        "replication_function": label,
        "tasks_per_worker": per_worker,
        "rate_1_worker": rate_1,
        "rate_2_workers": rate_2,
        "parallel_efficiency": rate_2 / (2.0 * rate_1),
        "cpu_efficiency": cpu_1 / cpu_2,
        "core_share": cores_2 / (2.0 * cores_1),
        "cpu_s_per_replication_in_process": in_process["cpu_s_per_replication"],
        "cpu_s_per_replication_1_worker": cpu_1,
        "cpu_s_per_replication_2_workers": cpu_2,
        "dask_cpu_overhead": cpu_2 / in_process["cpu_s_per_replication"] - 1.0,
        "other_load_cores": {
            "1_worker": _mean(r["other_load_cores"] for r in one),
            "2_workers": _mean(r["other_load_cores"] for r in two),
        },
        "runs": [in_process, *runs],
        "peak_memory_bytes": {str(r): v["peak_rss"] for r, v in cli.items()},
        "peak_memory_ratio": large["peak_rss"] / small["peak_rss"],
        "cli_runs": {str(r): v for r, v in cli.items()},
        "seconds_1000_lisbon2010": small["seconds"] + (1000 - base_r) * per_task,
        "seconds_1000_lisbon2010_is": f"straight line through the end-to-end wall times of "
        f"'jointbmd campaign lisbon2010 --workers 2' at -r {base_r} and -r {10 * base_r}",
        "seconds_1000_lisbon2010_from_rate": one_off + 1000 * n_arr / rate_2,
        "arrangements_lisbon2010": n_arr,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
    }
