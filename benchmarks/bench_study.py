"""Study throughput and memory: a Sobol' study of lisbon2010 at a small budget.

    python benchmarks/run.py study [--quick] [--json]

What runs: the built-in ``lisbon2010-uncertainty`` study cut to six of its inputs (TPY-2's
reference cross-section, Russia's vote latency, the SM-3 SSPK, the links' latency and loss,
whether Deveselu exists), Sobol' design with N = 2 base samples (N (k + 2) = 16 sampled points
plus 13 one-at-a-time points), 1 replication per point, two arrangements (independent and
data-exchange), the real simulation, into a fresh store -- once on a local Dask cluster of
1 worker and once on 2 (each cluster started and warmed on one point before the clock starts).
Every point is a new scenario, so each replication includes the point's trajectories.

Figures:

- ``design_points_per_second_{1,2}_workers`` and ``replications_per_second_{1,2}_workers`` (one
  replication = one arrangement at one point);
- ``parallel_efficiency`` = rate(2) / (2 rate(1)); the machine's load average is recorded next to
  it (``load_average``), since on a shared machine the second core may not be ours;
- ``peak_rss_mb_{small,large}`` and ``peak_memory_ratio``: the peak resident memory of a study
  driver process (in-process executor, a stand-in replication of negligible cost, so only the
  study's own bookkeeping counts) at 8 and at 64 base samples (117 and 525 points): flat means a
  ratio near 1.

There is no peer tool: ``speedup`` is empty; ``seconds.jointbmd`` is the wall time per design
point at 2 workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
INPUTS = (
    "tpy2_reference_rcs",
    "russia_vote_latency",
    "sm3_sspk",
    "link_latency",
    "link_loss",
    "deveselu",
)
ARRANGEMENTS = ["independent", "data-exchange"]


def _study(samples: int):
    from jointbmd.analysis import study as st

    study, _ = st.load_study("lisbon2010-uncertainty")
    inputs = [spec for spec in study.inputs if spec.name in INPUTS]
    design = study.design.model_copy(update={"samples": samples, "replications": 1})
    return study.model_copy(
        update={"inputs": inputs, "design": design, "arrangements": ARRANGEMENTS,
                "thresholds": [], "conclusions": []}
    )  # fmt: skip


def _timed_run(workers: int, samples: int) -> dict:
    from jointbmd import campaign as camp
    from jointbmd.analysis import sensitivity as se
    from jointbmd.scenario import load_scenario
    from jointbmd.store import Store

    scenario = load_scenario("lisbon2010")
    study = _study(samples)
    with tempfile.TemporaryDirectory() as scratch, Store(Path(scratch) / "s.duckdb") as store:
        with camp.DaskExecutor(workers=workers) as executor:
            warm = camp.plan_campaign(
                camp.with_campaign(scenario, {"replications": workers, "seed": 1}),
                arrangements=ARRANGEMENTS,
            )
            camp.run_campaign(
                camp.with_campaign(scenario, {"replications": workers, "seed": 1}), store,
                arrangements=list(warm.arrangements), executor=executor,
            )  # fmt: skip
            load = os.getloadavg()[0]
            started = time.perf_counter()
            run = se.run_study(scenario, study, store, executor=executor)
            seconds = time.perf_counter() - started
    return {
        "workers": workers,
        "points": run.points,
        "replications": run.ran,
        "seconds": seconds,
        "design_points_per_second": run.points / seconds,
        "replications_per_second": run.ran / seconds,
        "load_average_before": load,
    }


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    sys.path.insert(0, {tests!r})
    from bench_study import _study
    from jointbmd.analysis import sensitivity as se
    from jointbmd.scenario import load_scenario
    from jointbmd.store import Store
    from test_study import study_replication
    with Store({store!r}) as store:
        run = se.run_study(load_scenario("lisbon2010"), _study({samples}), store,
                           replication_function=study_replication)
    print(run.points, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    """
)


def _peak_rss(samples: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as scratch:
        script = _MEMORY_SCRIPT.format(
            tests=str(HERE.parent / "tests"), store=str(Path(scratch) / "m.duckdb"),
            samples=samples,
        )  # fmt: skip
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=env, check=True)  # fmt: skip
        points, rss = done.stdout.split()
        return int(points), float(rss)


def run(quick: bool = False) -> dict:
    samples = 2
    one = _timed_run(1, samples)
    two = _timed_run(2, samples)
    small_points, small = _peak_rss(2 if quick else 8)
    large_points, large = _peak_rss(8 if quick else 64)
    return {
        "benchmark": "study",
        "seconds": {"jointbmd": 1.0 / two["design_points_per_second"]},
        "speedup": {},
        "accuracy": "the same study (same seed) at 1 and 2 workers; numbers equal by design",
        "inputs": list(INPUTS),
        "points": one["points"],
        "design_points_per_second_1_worker": one["design_points_per_second"],
        "design_points_per_second_2_workers": two["design_points_per_second"],
        "replications_per_second_1_worker": one["replications_per_second"],
        "replications_per_second_2_workers": two["replications_per_second"],
        "parallel_efficiency": two["replications_per_second"]
        / (2 * one["replications_per_second"]),
        "load_average": [one["load_average_before"], two["load_average_before"]],
        "peak_rss_mb_small": small,
        "peak_rss_mb_large": large,
        "memory_points": [small_points, large_points],
        "peak_memory_ratio": large / small,
        "runs": [one, two],
    }
