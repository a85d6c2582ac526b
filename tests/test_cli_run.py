"""``jointbmd run`` through a real subprocess, and reproducibility across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def jointbmd(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["jointbmd", *args], capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_run_json_reports_every_arrangement(tmp_path):
    records = tmp_path / "records.jsonl"
    ledgers = tmp_path / "ledgers"
    done = jointbmd(
        "run", "lisbon2010", "-r", "3", "--seed", "5", "--records", str(records),
        "--ledger", str(ledgers), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["arrangements"] == [
        "independent", "data-exchange", "sectoral", "joint-consensus", "joint-any-may-fire",
    ]  # fmt: skip
    # One row per arrangement, with the keys of campaign's and compare's rows.
    assert [row["arrangement"] for row in result["rows"]] == result["arrangements"]
    for summary in result["rows"]:
        low, high = summary["p_no_leak_ci"]
        assert 0.0 <= low <= summary["p_no_leak"] <= high <= 1.0
        assert summary["replications"] == 3
        assert summary["expected_leakers"] >= 0 and summary["interceptors_spent"] >= 0
        assert set(summary["shots_by_partner"]) <= {"NATO", "Russia"}
        assert isinstance(summary["rejected_messages"], dict)
    # Per-threat records: 8 threats x 5 arrangements x 3 replications.
    assert len(result["threats"]) == 8 * 5 * 3
    lines = records.read_text().splitlines()
    assert sum(json.loads(line)["table"] == "threat_outcomes" for line in lines) == 8 * 5 * 3
    # The ledgers of replication 0 verify.
    for ledger in sorted(ledgers.rglob("*.ledger")):
        verified = jointbmd("ledger", "verify", str(ledger))
        assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize(
    "args, where",
    [
        (["run", "lisbon2010", "-r", "0"], "--replications"),
        (["run", "lisbon2010", "--arrangement", "bogus"], "--arrangement"),
        (["run", "lisbon2010", "--workers", "0"], "--workers"),
        (["run", "missing.yaml"], "missing.yaml"),
    ],
)
def test_run_bad_input_is_one_line_and_exit_2(args, where):
    done = jointbmd(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and where in lines[0]
    assert "Traceback" not in done.stderr


PROGRAM = """
import json, sys
from jointbmd.scenario import load_scenario
from jointbmd.simulation import run_arrangements
scenario = load_scenario("lisbon2010")
results = run_arrangements(scenario, "all", 1, 77)
out = [[t.as_dict() for t in r.threats] + [r.shots_by_partner] for r in results]
print(json.dumps(out, sort_keys=True))
"""


@pytest.mark.slow
def test_same_seed_same_numbers_in_any_process():
    """Python's string hashing is salted per process; nothing may depend on set order."""
    outputs = []
    for hash_seed in ("0", "5", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=env, timeout=600
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] == outputs[2]


def test_run_json_has_nulls_not_placeholders():
    done = jointbmd("run", "lisbon2010", "-r", "1", "--arrangement", "independent", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # lisbon2010's IRBMs at NATO cities are never engaged by NATO alone.
    unengaged = [t for t in result["threats"] if t["shots"] == 0]
    assert unengaged and all(t["engaged_by"] is None for t in unengaged)
    assert all(e["partner"] in (None, "NATO", "Russia") for e in result["timeline_replication_0"])
    assert all(
        e["threat_id"] is None or isinstance(e["threat_id"], int)
        for e in result["timeline_replication_0"]
    )
