"""Result tables stay readable at 80 and at 200 columns: no line wider than the terminal, no
value cut (every cell's text appears whole), and the store's list, the compare table and the
version flag through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
TINY = ["--replication-function", "conftest:tiny_replication"]
ARRANGEMENTS = ["independent", "data-exchange", "sectoral", "joint-consensus",
                "joint-any-may-fire"]  # fmt: skip
COLUMNS = ["arrangement", "n", "P(no leak)", "95% CI", "E[leak]", "E[shots]", "firm s",
           "launch s"]  # fmt: skip


def jointbmd(*args: str, columns: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(["jointbmd", *args], capture_output=True, text=True, env=env, timeout=300)


def _words(text: str) -> list[str]:
    return text.replace("│", " ").replace("┃", " ").split()


@pytest.mark.parametrize("width", [80, 200])
def test_print_table_fits_and_cuts_nothing(width, monkeypatch, capsys):
    from jointbmd.cli._output import print_table

    monkeypatch.setenv("COLUMNS", str(width))
    rows = [
        [name, 1000, "0.952", "0.931-0.967", "0.05", "11.5", "218", "144"] for name in ARRANGEMENTS
    ]
    print_table("lisbon2010: campaign 12, seed 2010", COLUMNS, rows, notes=["E[leak]: leakers"])
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= width
    assert "…" not in out
    words = _words(out)
    for row in rows:
        for cell in row:
            assert str(cell) in words, f"{cell!r} cut at {width} columns"
    assert "E[leak]: leakers" in out


def test_a_table_too_wide_for_any_wrap_turns_vertical(monkeypatch, capsys):
    from jointbmd.cli._output import print_table

    monkeypatch.setenv("COLUMNS", "40")
    print_table("t", COLUMNS, [["joint-any-may-fire", 3, "0.5", "0.1-0.9", 1, 2, 3, 4]])
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 40
    assert "- arrangement: joint-any-may-fire" in lines
    assert any(line.split() == ["95%", "CI", "0.1-0.9"] for line in lines)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A real store holding one swept campaign (of the stand-in replication)."""
    tmp = tmp_path_factory.mktemp("tables")
    path = tmp / "s.duckdb"
    sweep = tmp / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "replications": 2,
                "seed": 4,
                "sweep": [{"path": "interceptor_types[SM-3 Block IA].sspk", "values": [0.5, 0.9]}],
            }
        )
    )
    done = jointbmd("campaign", "lisbon2010", "--store", str(path), "--campaign-file",
                    str(sweep), *TINY, "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


@pytest.mark.parametrize("width", [80, 200])
def test_compare_table_fits_with_a_key_for_the_swept_path(store, width):
    done = jointbmd("compare", "--store", str(store), columns=width)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= width
    words = _words(done.stdout)
    for name in ARRANGEMENTS:
        assert name in words
    # The long path is abbreviated in the header and spelled out below the table.
    assert "x1: interceptor_types[SM-3 Block IA].sspk" in done.stdout.replace("\n", " ")


@pytest.mark.parametrize("width", [80, 200])
def test_paired_table_stays_a_table_with_short_headers_and_a_key(store, width):
    done = jointbmd("compare", "--store", str(store), columns=width)
    assert done.returncode == 0, done.stderr
    paired = done.stdout[done.stdout.index("paired against independent") :]
    lines = paired.splitlines()
    assert max(len(line) for line in lines) <= width
    # One header line holds the columns (a table, not the vertical layout's "- x: y" blocks).
    assert any({"arrangement", "ΔE[leak]", "ΔE[shots]", "both", "only"} <= set(_words(line))
               for line in lines)  # fmt: skip
    assert not any(line.startswith("- ") for line in lines)
    text = " ".join(paired.split())
    assert "x1: interceptor_types[SM-3 Block IA].sspk" in text
    assert "E[leak]: expected leakers" in text and "Newcombe" in text
    # Each arrangement but the baseline, at each sweep point.
    words = _words(paired)
    assert all(words.count(name) == 2 for name in ARRANGEMENTS[1:])


def test_store_list_names_each_campaign(store):
    done = jointbmd("store", "list", "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)["campaigns"]
    assert row["campaign_id"] == 1 and row["scenario"] == "lisbon2010"
    assert row["sweep"] == ["interceptor_types[SM-3 Block IA].sspk"]
    # 2 points x 5 arrangements x 2 replications stored.
    assert row["replications"] == 2 and row["stored"] == 2 * 5 * 2
    table = jointbmd("store", "list", "--store", str(store), columns=80)
    assert table.returncode == 0 and "lisbon2010" in table.stdout


@pytest.mark.parametrize("command", ["compare", "export"])
def test_unknown_campaign_is_one_line_exit_2(store, tmp_path, command):
    extra = ["--out", str(tmp_path / "out")] if command == "export" else []
    done = jointbmd(command, "--store", str(store), "--campaign", "99", *extra)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no campaign 99" in done.stderr
    assert "Traceback" not in done.stderr


def test_version_and_short_help():
    from jointbmd import __version__

    done = jointbmd("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"jointbmd {__version__}"
    for args in (["-h"], ["run", "-h"], ["store", "list", "-h"]):
        done = jointbmd(*args)
        assert done.returncode == 0 and done.stdout.startswith("Usage: jointbmd"), args


def test_command_lists_fit_80_columns_uncut():
    for group in ([], ["ledger"], ["scenario"], ["store"]):
        done = jointbmd(*group, "--help", columns=80)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert max(len(line) for line in lines) <= 80
        listed = lines[lines.index("Commands:") + 1 :]
        assert listed and not [line for line in listed if line.rstrip().endswith("...")], group
