"""A property of the whole command line: whatever campaign file and flags a user
gives, ``jointbmd campaign`` exits 0 or 2, prints exactly one line on stderr when it exits 2,
never a traceback, and creates or changes no file but the store it was asked to write.

Hypothesis draws campaign files (sweeps of real and unknown fields, values of every type,
duplicate keys, broken YAML, deep nesting) and flags (replications, seeds, worker counts,
arrangements, stores that are new, empty, foreign, or directories) and runs the real console
script's ``main`` on real files in a fresh directory, comparing the directory tree byte for byte
before and after: most examples in this process, a few through the console script in a new
process. A tiny replication function stands in for the simulation, so each example takes the
time of loading the scenario (or of one process start).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import jointbmd_in_process

HERE = Path(__file__).resolve().parent
TINY = ["--replication-function", "conftest:tiny_replication"]

PATHS = [
    "links[0].latency_s",
    "links[NATO-DFC].latency_s",
    " links[NATO-DFC].latency_s",
    "interceptor_types[0].sspk",
    "interceptor_types[SM-3 Block IA].min_altitude_km",
    "interceptor_types[SM-3 Block IA].max_altitude_km",
    "arrangements[0].name",
    "arrangements[joint-consensus].vote_latency_s[Russia]",
    "sites[0].lat_deg",
    "partners[0].name",
    "raids[0].count",
    "epoch",
    "sites[Atlantis].lat_deg",
    "links[",
    "",
]
VALUES = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.sampled_from([0.5, 1.0, 70.0, 600.0, "2012-01-01", "../x", "picture"]),
)
SWEEP = st.fixed_dictionaries(
    {"path": st.sampled_from(PATHS)},
    optional={
        "values": st.lists(VALUES, max_size=4),
        "range": st.fixed_dictionaries(
            {"start": VALUES, "stop": VALUES, "num": st.integers(-2, 200)}
        ),
    },
)
CAMPAIGN = st.fixed_dictionaries(
    {},
    optional={
        "replications": st.one_of(st.integers(-5, 5), st.integers(3 * 10**9, 10**20), VALUES),
        "seed": st.one_of(st.integers(-5, 2**64), VALUES),
        "sweep": st.lists(SWEEP, max_size=3),
    },
)


@st.composite
def campaign_text(draw) -> str:
    kind = draw(st.sampled_from(["yaml", "yaml", "yaml", "duplicate", "nested", "garbage"]))
    if kind == "duplicate":
        return "seed: 1\nseed: 2\n"
    if kind == "nested":
        depth = draw(st.integers(100, 3000))
        return "[" * depth + "]" * depth
    if kind == "garbage":
        return draw(st.text(max_size=40))
    data = draw(CAMPAIGN)
    if draw(st.booleans()):
        data = {"campaign": data}
    return yaml.safe_dump(data, allow_unicode=True)


FLAGS = st.lists(
    st.sampled_from(
        [
            ["-r", "1"],
            ["-r", "0"],
            ["-r", "3000000000"],
            ["--seed", "-1"],
            ["--seed", "18446744073709551616"],
            ["--workers", "0"],
            ["--workers", "99999999999999999999999"],
            ["--scheduler", "tcp://127.0.0.1:99999"],
            ["--scheduler", "nowhere"],
            ["--arrangement", "independent"],
            ["--arrangement", "nope,independent"],
            ["--arrangement", ","],
            ["--json"],
        ]
    ),
    max_size=3,
)
STORES = st.sampled_from(["new", "empty", "text", "directory", "sqlite-like", "nested/new"])


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
    }


def _prepare_store(root: Path, kind: str) -> Path:
    path = root / "store.duckdb"
    if kind == "empty":
        path.touch()
    elif kind == "text":
        path.write_text("notes\n")
    elif kind == "directory":
        path.mkdir()
    elif kind == "sqlite-like":
        path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    elif kind == "nested/new":
        path = root / "nested" / "store.duckdb"
    return path


def _in_process(args: list[str], cwd: Path) -> tuple[int, str]:
    """Exit code and stderr of ``jointbmd ARGS`` run by this process in CWD."""
    code, _, stderr = jointbmd_in_process(*args, cwd=cwd)
    return code, stderr


def _in_subprocess(args: list[str], cwd: Path) -> tuple[int, str]:
    """Exit code and stderr of the real console script in a new process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    done = subprocess.run(
        ["jointbmd", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )
    return done.returncode, done.stderr


def _check(run, text: str, flags: list[list[str]], store_kind: str) -> None:
    with tempfile.TemporaryDirectory(prefix="jointbmd-prop-") as scratch:
        root = Path(scratch)
        campaign = root / "campaign.yaml"
        campaign.write_text(text, encoding="utf-8")
        store = _prepare_store(root, store_kind)
        before = _tree(root)
        args = ["campaign", "lisbon2010", "--campaign-file", str(campaign), "--store", str(store)]
        args += [a for flag in flags for a in flag] + TINY
        code, stderr = run(args, root)
        assert code in (0, 2), stderr[-3000:]
        assert "Traceback" not in stderr, stderr[-3000:]
        after = _tree(root)
        if code == 2:
            assert len(stderr.splitlines()) == 1, stderr[-3000:]
            assert after == before, stderr
        else:
            changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
            allowed = {str(store.relative_to(root)), str(store.parent.relative_to(root))}
            assert changed <= allowed, (changed, stderr)


# The property is about what the command line does with its input, which the console script's
# ``main`` decides in any process: most examples run in this process (a fraction of a second
# each), a few through the real console script (a second or more each, for the process
# boundary: the exit status the shell sees, and stderr as written by a fresh interpreter).
EXAMPLES = int(os.environ.get("JOINTBMD_PROPERTY_EXAMPLES", "20"))


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(text=campaign_text(), flags=FLAGS, store_kind=STORES)
def test_any_campaign_file_and_flags_exit_0_or_one_line_2_and_touch_only_the_store(
    text, flags, store_kind
):
    _check(_in_process, text, flags, store_kind)


@pytest.mark.slow
@settings(
    max_examples=max(2, EXAMPLES // 10),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(text=campaign_text(), flags=FLAGS, store_kind=STORES)
def test_the_console_script_in_a_new_process_keeps_the_same_property(text, flags, store_kind):
    _check(_in_subprocess, text, flags, store_kind)
