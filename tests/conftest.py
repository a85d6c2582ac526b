"""Shared helpers of the test suite (pytest loads this file first; tests import from it).

- stand-in replication functions: small but real replication functions with the signature of
  ``jointbmd.simulation.run_replication``, whose numbers are known in advance; subprocess tests
  name them to the hidden ``--replication-function conftest:NAME`` (with this directory on
  ``PYTHONPATH``, which ``env_with_tests`` gives).
  ``tiny_replication`` draws from the replication's own seed: detection after an exponential
  delay, a kill with probability 1 - (1 - SSPK)^shots; ``study_replication`` reads a study's
  inputs from the scenario it is given (SM-3 Block IA's SSPK, whether Deveselu exists, the
  joint-consensus vote latency: a vote slower than 100 s loses every threat).
- ``jointbmd_in_process``: the console script's ``main`` run by the test's own process (exit
  code, stdout, stderr), for tests whose proof needs no process boundary.
- ``TINY_STUDY``: a study file's content small enough to run in seconds.
- ``entries_needing_source``: the parameter-bearing entries of a scenario, each of which must
  say where its numbers come from.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path

import numpy as np

from jointbmd.outcomes import Event, ReplicationResult, ThreatOutcome

HERE = Path(__file__).resolve().parent


def env_with_tests() -> dict[str, str]:
    """The environment with this directory on PYTHONPATH (for ``conftest:NAME`` in a
    subprocess)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env


def jointbmd_in_process(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``jointbmd ARGS`` run by ``jointbmd.cli.main`` in this
    process (in CWD if given): what the console script does, without the second or more a new
    Python takes to start. An exception escaping ``main`` fails the test, as a traceback would."""
    from jointbmd.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = 0 if done.code is None else done.code
    return code, out.getvalue(), err.getvalue()


SSPK_PATH = "interceptor_types[SM-3 Block IA].sspk"


def tiny_replication(scenario, arrangement: str, replication: int, seed: int) -> ReplicationResult:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(replication,)))
    sspk = float(np.mean([t.sspk for t in scenario.interceptor_types]))
    rule = scenario.arrangement(arrangement)
    shots = 1 if rule.kind == "independent" else 2
    threats, events, by_partner = [], [], {}
    threat_id = 0
    for raid in scenario.raids:
        partner = scenario.defended_asset(raid.aimpoint).partner
        for launch in raid.launch_times_s():
            detected = launch + rng.exponential(60.0)
            firm = detected + rng.uniform(10.0, 30.0)
            fired = firm + rule.decision_latency_s + rng.uniform(0.0, 20.0)
            killed = bool(rng.random() < 1.0 - (1.0 - sspk) ** shots)
            by_partner[partner] = by_partner.get(partner, 0) + shots
            threats.append(
                ThreatOutcome(
                    threat_id, raid.name, raid.threat_type, raid.aimpoint, partner, launch,
                    launch + 900.0, detected, firm, fired, partner, shots,
                    fired + 200.0 if killed else None, 150.0 if killed else None, killed,
                )
            )  # fmt: skip
            events.append(Event(launch, "launch", None, threat_id))
            events.append(Event(fired, "shot", partner, threat_id, f"{shots} interceptors"))
            threat_id += 1
    rejected = {"replay": int(rng.integers(0, 3))}
    return ReplicationResult(
        arrangement, replication, tuple(threats), tuple(events), by_partner, rejected
    )


def tiny_replication_slow(scenario, arrangement, replication, seed) -> ReplicationResult:
    """The same numbers, slower: so that a subprocess can be killed in the middle."""
    time.sleep(0.02)
    return tiny_replication(scenario, arrangement, replication, seed)


def study_replication(scenario, arrangement, replication, seed) -> ReplicationResult:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(replication,)))
    sspk = scenario.interceptor_type("SM-3 Block IA").sspk
    deveselu = any(site.name == "Deveselu" for site in scenario.sites)
    rule = scenario.arrangement(arrangement)
    late = rule.kind == "joint" and max(rule.vote_latency_s.values(), default=0.0) > 100.0
    p_kill = 0.0 if late or not deveselu else (sspk if rule.kind != "independent" else sspk / 3)
    draws = rng.random(3)
    threats = tuple(
        ThreatOutcome(
            i, "raid", "Shahab-3", "Ankara", "NATO", 0.0, 600.0, 100.0, 150.0, 200.0, "NATO", 2,
            300.0 if draws[i] < p_kill else None, 150.0 if draws[i] < p_kill else None,
            bool(draws[i] < p_kill),
        )
        for i in range(3)
    )  # fmt: skip
    return ReplicationResult(arrangement, replication, threats, (), {"NATO": 6}, {})


def study_replication_slow(scenario, arrangement, replication, seed) -> ReplicationResult:
    """The same numbers, slower, leaving a mark per call (``$JOINTBMD_TEST_MARKS``), so that a
    test can kill the study while it runs."""
    time.sleep(0.05)
    marks = os.environ.get("JOINTBMD_TEST_MARKS")
    if marks:
        with open(marks, "a", encoding="utf-8") as out:
            out.write(".")
    return study_replication(scenario, arrangement, replication, seed)


TINY_STUDY = {
    "jointbmd_study": 1,
    "name": "tiny",
    "scenario": "lisbon2010",
    "arrangements": ["independent", "data-exchange", "joint-consensus"],
    "baseline": "independent",
    "design": {"method": "sobol", "samples": 8, "replications": 3, "seed": 7, "bootstrap": 50},
    "inputs": [
        {"name": "sspk", "range": [0.5, 0.9], "source": "notional",
         "paths": ["interceptor_types[SM-3 Block IA].sspk"]},
        {"name": "vote", "range": [5.0, 180.0], "source": "notional",
         "paths": ["arrangements[joint-consensus].vote_latency_s[Russia]"]},
        {"name": "links", "range": [0.5, 10.0], "source": "notional",
         "paths": ["links[NATO-DFC].latency_s", "links[Russia-DFC].latency_s"]},
        {"name": "deveselu", "distribution": "presence", "source": "notional",
         "paths": ["sites[Deveselu]"]},
    ],
    "thresholds": [
        {"input": "vote", "arrangement": "joint-consensus", "level": 0.05, "steps": 5},
    ],
    "conclusions": [
        {"statement": "data exchange beats independent by 0.05", "arrangement": "data-exchange",
         "versus": "independent", "at_least": 0.05},
    ],
}  # fmt: skip


PARAMETER_SECTIONS = [
    "partners",
    "sensor_types",
    "interceptor_types",
    "threat_types",
    "sites",
    "space_sensors",
    "launch_areas",
    "defended_assets",
    "raids",
    "links",
    "arrangements",
]


def entries_needing_source(data):
    """Every (where, entry) of a scenario mapping that carries parameters, so needs a source."""
    yield "fusion_centre", data["fusion_centre"]
    for section in PARAMETER_SECTIONS:
        for i, entry in enumerate(data[section]):
            yield f"{section}[{i}]", entry
            for j, stage in enumerate(entry.get("stages", [])):
                yield f"{section}[{i}].stages[{j}]", stage
            if "reentry_vehicle" in entry:
                yield f"{section}[{i}].reentry_vehicle", entry["reentry_vehicle"]
            for sub in ("sensors", "fire_units"):
                for j, item in enumerate(entry.get(sub, [])):
                    yield f"{section}[{i}].{sub}[{j}]", item
