"""``jointbmd run`` through a real subprocess, and reproducibility across processes. One run of
every arrangement is shared by the tests that read its output; refusals that need no process
boundary run the console script's ``main`` in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import jointbmd_in_process


def jointbmd(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["jointbmd", *args], capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def run_all(tmp_path_factory) -> tuple[dict, Path, Path]:
    """One ``jointbmd run`` of every arrangement through the real console script: its JSON, its
    records file and its ledger directory, read by several tests. Two replications are enough
    for one row per arrangement and records that count threats x arrangements x replications."""
    tmp_path = tmp_path_factory.mktemp("run")
    records = tmp_path / "records.jsonl"
    ledgers = tmp_path / "ledgers"
    done = jointbmd(
        "run", "lisbon2010", "-r", str(REPLICATIONS), "--seed", "5", "--records", str(records),
        "--ledger", str(ledgers), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), records, ledgers


REPLICATIONS = 2


@pytest.mark.slow
def test_run_json_reports_every_arrangement(run_all):
    result, records, ledgers = run_all
    assert result["arrangements"] == [
        "independent", "data-exchange", "sectoral", "joint-consensus", "joint-any-may-fire",
    ]  # fmt: skip
    # One row per arrangement, with the keys of campaign's and compare's rows.
    assert [row["arrangement"] for row in result["rows"]] == result["arrangements"]
    for summary in result["rows"]:
        low, high = summary["p_no_leak_ci"]
        assert 0.0 <= low <= summary["p_no_leak"] <= high <= 1.0
        assert summary["replications"] == REPLICATIONS
        assert summary["expected_leakers"] >= 0 and summary["interceptors_spent"] >= 0
        assert set(summary["shots_by_partner"]) <= {"NATO", "Russia"}
        assert isinstance(summary["rejected_messages"], dict)
    # Per-threat records: 8 threats x 5 arrangements x the replications.
    assert len(result["threats"]) == 8 * 5 * REPLICATIONS
    tables = [json.loads(line)["table"] for line in records.read_text().splitlines()]
    assert tables.count("threat_outcomes") == 8 * 5 * REPLICATIONS
    # The ledgers of replication 0 verify: the first through the console script (its exit
    # status), the others by the same ``main`` in this process.
    first, *others = sorted(ledgers.rglob("*.ledger"))
    verified = jointbmd("ledger", "verify", str(first))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert others
    for ledger in others:
        code, out, err = jointbmd_in_process("ledger", "verify", str(ledger))
        assert code == 0, out + err


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
    code, _, err = jointbmd_in_process(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and where in lines[0]
    assert "Traceback" not in err


def test_run_bad_input_exits_2_from_the_console_script():
    """The same refusal through a new process: the exit status a shell sees."""
    done = jointbmd("run", "lisbon2010", "-r", "0")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--replications" in lines[0]
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
    """Python's string hashing is salted per process; nothing may depend on set order. Two
    salts suffice: a set of a few strings iterates in another order under almost any other
    salt, so an order dependence shows as different numbers."""
    outputs = []
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=env, timeout=600
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]


@pytest.mark.slow
def test_run_json_has_nulls_not_placeholders(run_all):
    result, _, _ = run_all
    # lisbon2010's IRBMs at NATO cities are never engaged by NATO alone.
    unengaged = [
        t for t in result["threats"] if t["arrangement"] == "independent" and t["shots"] == 0
    ]
    assert unengaged and all(t["engaged_by"] is None for t in unengaged)
    assert all(e["partner"] in (None, "NATO", "Russia") for e in result["timeline_replication_0"])
    assert all(
        e["threat_id"] is None or isinstance(e["threat_id"], int)
        for e in result["timeline_replication_0"]
    )
