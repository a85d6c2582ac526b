"""Issue 14, class by class, through the real ``jointbmd`` command on real files.

Each test runs the installed console script in a subprocess and checks the promise: bad input is
one line on stderr with exit status 2 (a damaged ledger: exit 1 naming entry 0), and nothing
outside what was asked is created or changed (files compared byte for byte). Stores are written
by other programs (a separate Python process using duckdb, the ``sqlite3`` command); ledgers are
real ledgers written by ``jointbmd track``. Resource bounds are tested by their refusal.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from jointbmd.scenario.loader import builtin_text

HERE = Path(__file__).resolve().parent
TINY = ["--replication-function", "conftest:tiny_replication"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env


def jointbmd(*args: str, cwd: Path | None = None, timeout: float = 300):
    return subprocess.run(
        ["jointbmd", *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=timeout,
    )


def one_line_error(done, *needles: str) -> str:
    """Exit 2, exactly one line on stderr, no traceback; the line contains every needle."""
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    """Every file and directory under ``root`` with its bytes' hash (directories: 'dir')."""
    out = {}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = "dir" if path.is_dir() else digest(path)
    return out


def lisbon() -> dict:
    return yaml.safe_load(builtin_text("lisbon2010"))


def write_scenario(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# -- 1. sweep paths normalised, two sweeps of one field refused -----------------------------------


@pytest.mark.parametrize(
    "first, second",
    [
        ("links[0].latency_s", "links[NATO-DFC].latency_s"),
        ("links[0].latency_s", " links[0].latency_s"),
        ("interceptor_types[SM-3 Block IA].sspk", "interceptor_types[0].sspk"),
    ],
)
def test_two_spellings_of_one_field_are_refused(tmp_path, first, second):
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        yaml.safe_dump(
            {"sweep": [{"path": first, "values": [1.0]}, {"path": second, "values": [0.5]}]}
        )
    )
    store = tmp_path / "s.duckdb"
    done = jointbmd("campaign", "lisbon2010", "--campaign-file", campaign, "--store", store, *TINY)
    one_line_error(done, str(campaign), "campaign.sweep[1].path", "already swept")
    assert not store.exists()


def test_sweep_paths_are_stored_in_their_canonical_spelling(tmp_path):
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        yaml.safe_dump({"sweep": [{"path": " links[0].latency_s", "values": [3.0]}]})
    )
    done = jointbmd(
        "campaign", "lisbon2010", "--campaign-file", campaign, "--store", tmp_path / "s.duckdb",
        "-r", "2", "--json", *TINY,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["sweep"] == [{"path": "links[NATO-DFC].latency_s", "values": [3.0]}]
    assert {row["links[NATO-DFC].latency_s"] for row in summary["rows"]} == {3.0}


# -- 2. nothing written outside what was asked -----------------------------------------------------


@pytest.mark.parametrize(
    "where, name",
    [
        ("arrangements", "../x"),
        ("arrangements", "/abs/x"),
        ("arrangements", "fusion/../../y"),
        ("partners", ".hidden"),
        ("partners", "a\\b"),
        ("arrangements", "CON"),
    ],
)
def test_names_that_name_files_are_refused_at_load(tmp_path, where, name):
    data = lisbon()
    old = data[where][0]["name"]
    data[where][0]["name"] = name
    if where == "partners":  # keep the references consistent, so the name rule is what fails
        data = yaml.safe_load(yaml.safe_dump(data).replace(f"{old}", name.replace("\\", "\\\\")))
    scenario = write_scenario(tmp_path / "s.yaml", data)
    before = tree(tmp_path)
    done = jointbmd("run", scenario, "-r", "1", "--ledger", tmp_path / "L")
    one_line_error(done, str(scenario), f"{where}[0].name")
    assert tree(tmp_path) == before


def test_an_arrangement_named_like_a_ledger_directory_cannot_overwrite_it(tmp_path):
    data = lisbon()
    data["arrangements"][0]["name"] = "picture"
    scenario = write_scenario(tmp_path / "s.yaml", data)
    done = jointbmd("run", scenario, "-r", "1", "--ledger", tmp_path / "L")
    one_line_error(done, "--ledger", "same file")
    assert not (tmp_path / "L").exists()


def test_no_output_may_be_an_input(tmp_path):
    scenario = write_scenario(tmp_path / "s.yaml", lisbon())
    before = digest(scenario)
    one_line_error(jointbmd("track", scenario, "--ledger", scenario), "--ledger", "not a directory")
    assert digest(scenario) == before
    # A file that is not a ledger is not replaced by one either.
    notes = tmp_path / "L" / "picture" / "NATO.ledger"
    notes.parent.mkdir(parents=True)
    notes.write_text("mine\n")
    done = jointbmd("track", "lisbon2010", "--ledger", tmp_path / "L")
    one_line_error(done, "not a jointbmd ledger")
    assert notes.read_text() == "mine\n"


def test_run_ledger_files_are_the_planned_ones(tmp_path):
    from jointbmd.scenario import load_scenario
    from jointbmd.simulation import ledger_files

    ledgers = tmp_path / "L"
    done = jointbmd("run", "lisbon2010", "-r", "1", "--arrangement", "independent,sectoral",
                    "--ledger", ledgers, "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    planned = ledger_files(load_scenario("lisbon2010"), ["independent", "sectoral"], ledgers)
    assert sorted(ledgers.rglob("*.ledger")) == sorted(planned)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "lisbon2010", "--ledger", "{file}"], "not a directory"),
        (["track", "lisbon2010", "--ledger", "{file}"], "not a directory"),
        (["track", "lisbon2010", "--ledger", "{file}/sub"], "not a directory"),
        (["run", "lisbon2010", "--ledger", "{file}/sub"], "not a directory"),
        (["export", "--store", "{store}", "--out", "{file}/out"], "not a directory"),
        (["export", "--store", "{store}", "--out", "{file}"], "not a directory"),
        (["compare", "--store", "{store}", "--plot", "{file}/plots"], "not a directory"),
        (["run", "lisbon2010", "--ledger", "{readonly}/L"], "permission denied"),
    ],
)
def test_unwritable_output_places_are_one_line_before_any_work(tmp_path, args, needle, store_copy):
    if needle == "permission denied" and os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    store = store_copy
    file = tmp_path / "a-file"
    file.write_text("x")
    (tmp_path / "a-dir").mkdir()
    readonly = tmp_path / "ro"
    readonly.mkdir(mode=0o500)
    names = {"file": file, "dir": tmp_path / "a-dir", "store": store, "readonly": readonly}
    before = tree(tmp_path)
    done = jointbmd(*(a.format(**names) for a in args))
    one_line_error(done, needle)
    assert tree(tmp_path) == before


def test_outputs_that_differ_only_in_case_collide(tmp_path):
    from jointbmd.errors import UserError
    from jointbmd.outputs import Output, check_outputs

    outputs = [Output(tmp_path / "NATO.ledger", "--ledger", "ledger"),
               Output(tmp_path / "nato.ledger", "--ledger", "ledger")]  # fmt: skip
    with pytest.raises(UserError, match="same file"):
        check_outputs(outputs)
    escaping = Output(tmp_path / "L/../../x.ledger", "--ledger", "ledger", tmp_path / "L")
    with pytest.raises(UserError, match="outside"):
        check_outputs([escaping])
    assert not list(tmp_path.iterdir())


# -- 3. only an empty file, a new path or a jointbmd store may be written --------------------------

DUCKDB_WRITERS = {
    "other-schema": "CREATE SCHEMA sales; CREATE TABLE sales.t AS SELECT * FROM range(50000)",
    "sequence-only": "CREATE SEQUENCE s",
    "macro-only": "CREATE MACRO twice(a) AS a * 2",
    "view-only": "CREATE VIEW v AS SELECT 1 AS one",
    "foreign-table": "CREATE TABLE meta (key VARCHAR, value VARCHAR)",
}


def _duckdb_by_another_program(path: Path, sql: str) -> None:
    code = f"import duckdb; c = duckdb.connect({str(path)!r}); c.execute({sql!r}); c.close()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("kind", sorted(DUCKDB_WRITERS))
def test_foreign_duckdb_files_are_refused_and_left_byte_identical(tmp_path, kind):
    path = tmp_path / "other.duckdb"
    _duckdb_by_another_program(path, DUCKDB_WRITERS[kind])
    before = tree(tmp_path)
    for args in (
        ["campaign", "lisbon2010", "--store", path, "-r", "1", *TINY],
        ["compare", "--store", path],
        ["run", "lisbon2010", "-r", "1", "--store", path],
    ):
        one_line_error(jointbmd(*args), str(path), "not a jointbmd results store")
        assert tree(tmp_path) == before


def test_a_sqlite_file_is_refused_unopened(tmp_path):
    path = tmp_path / "data.sqlite"
    subprocess.run(
        ["sqlite3", str(path), "CREATE TABLE t (x); INSERT INTO t VALUES (1);"], check=True
    ) if shutil.which("sqlite3") else _sqlite_by_python(path)
    before = tree(tmp_path)
    done = jointbmd("campaign", "lisbon2010", "--store", path, "-r", "1", *TINY)
    one_line_error(done, str(path), "SQLite")
    assert tree(tmp_path) == before


def _sqlite_by_python(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (x)")


def test_store_connections_never_autoload_extensions(tmp_path):
    from jointbmd.store import Store

    with Store(tmp_path / "s.duckdb") as store:
        settings = store.query(
            "SELECT current_setting('autoload_known_extensions'), "
            "current_setting('autoinstall_known_extensions')"
        )
    assert settings == [(False, False)]


def test_an_empty_file_may_become_a_store(tmp_path):
    path = tmp_path / "empty.duckdb"
    path.touch()
    done = jointbmd("campaign", "lisbon2010", "--store", path, "-r", "1", *TINY)
    assert done.returncode == 0, done.stderr
    assert jointbmd("compare", "--store", path).returncode == 0


@pytest.fixture(scope="module")
def template_store(tmp_path_factory) -> Path:
    """A real store, written once by ``jointbmd campaign``; tests damage copies of it."""
    path = tmp_path_factory.mktemp("store") / "s.duckdb"
    done = jointbmd("campaign", "lisbon2010", "--store", path, "-r", "3", *TINY)
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def store_copy(tmp_path, template_store) -> Path:
    path = tmp_path / "s.duckdb"
    shutil.copyfile(template_store, path)
    return path


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("offset", [12, 4096 + 20, 12288 + 64])
def test_a_flipped_byte_is_one_line_and_never_called_in_use(tmp_path, offset, store_copy):
    path = store_copy
    _flip(path, offset)
    before = tree(tmp_path)
    for args in (["compare", "--store", path], ["campaign", "lisbon2010", "--store", path, *TINY]):
        done = jointbmd(*args)
        if done.returncode == 2:
            line = one_line_error(done, str(path))
            assert "in use" not in line
            assert tree(tmp_path) == before
        else:  # a byte in a free block: nothing to notice
            assert done.returncode == 0, done.stderr


def test_a_corrupt_data_block_is_one_line(tmp_path, store_copy):
    path = store_copy
    _flip(path, 12288 + 64)  # the first data block after the three headers
    one_line_error(jointbmd("compare", "--store", path), str(path))


def test_bad_json_in_the_campaigns_table_changes_nothing(tmp_path, store_copy):
    path = store_copy
    _duckdb_by_another_program(path, "UPDATE campaigns SET spec = '{not json'")
    before = tree(tmp_path)
    one_line_error(
        jointbmd("campaign", "lisbon2010", "--store", path, "-r", "5", *TINY), str(path), "JSON"
    )
    one_line_error(jointbmd("compare", "--store", path), str(path), "JSON")
    assert tree(tmp_path) == before


def test_a_store_in_use_is_reported_as_such(tmp_path, store_copy):
    path = store_copy
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
         "print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        one_line_error(jointbmd("compare", "--store", path), "in use by another process")
    finally:
        holder.kill()
        holder.wait()


# -- 4. bounded resources ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d["sensor_types"][0].update(revisit_s=0.001), "sensor_types[0].revisit_s"),
        (
            lambda d: d["threat_types"][0]["reentry_vehicle"].update(
                ballistic_coefficient_kg_m2=0.01
            ),
            "threat_types[0].reentry_vehicle.ballistic_coefficient_kg_m2",
        ),
        (lambda d: d["raids"][0].update(count=100_000), "raids[0].count"),
        (lambda d: [r.update(count=200) for r in d["raids"]], "raids"),
        (lambda d: d["interceptor_types"][0].update(burn_time_s=1.0e6), "interceptor_types[0]"),
        (lambda d: d["threat_types"][0]["stages"][0].update(burn_time_s=1.0e6), "stages[0]"),
        (lambda d: d["raids"][0].update(trajectory={"apogee_km": 39_000.0}), "apogee_km"),
        (lambda d: d["raids"][0].update(launch_time_s=900_000.0), "raids[0].launch_time_s"),
        (lambda d: next(s for s in d["sites"] if s.get("fire_units"))["fire_units"][0].update(
            salvo=1000), "salvo"),
    ],
)  # fmt: skip
def test_scenario_bounds_are_checked_at_load(tmp_path, edit, field):
    data = lisbon()
    edit(data)
    scenario = write_scenario(tmp_path / "s.yaml", data)
    one_line_error(jointbmd("scenario", "check", scenario), str(scenario), field)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["-r", "3000000000"], "--replications"),
        (["--workers", "99999999999999999999999"], "--workers"),
        (["--scheduler", "tcp://127.0.0.1:99999"], "--scheduler"),
    ],
)
def test_flag_bounds(tmp_path, args, needle):
    store = tmp_path / "s.duckdb"
    one_line_error(jointbmd("campaign", "lisbon2010", "--store", store, *args, *TINY), needle)
    assert not store.exists()


def test_sweeps_are_lazy_and_their_size_bounded(tmp_path):
    from jointbmd.campaign import SweepAxis, SweepPoints

    axes = [SweepAxis(f"f{i}", tuple(range(100))) for i in range(6)]
    points = SweepPoints(axes)  # 10**12 points, none built
    assert len(points) == 10**12
    assert points[10**12 - 1] == {f"f{i}": 99 for i in range(6)}
    assert points[123] == {"f0": 0, "f1": 0, "f2": 0, "f3": 0, "f4": 1, "f5": 23}
    paths = ["links[0].latency_s", "links[1].latency_s", "sites[0].lat_deg", "sites[0].lon_deg",
             "sites[1].lat_deg", "sites[1].lon_deg"]  # fmt: skip
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        yaml.safe_dump(
            {"sweep": [{"path": p, "range": {"start": 1, "stop": 2, "num": 100}} for p in paths]}
        )
    )
    done = jointbmd("campaign", "lisbon2010", "--campaign-file", campaign,
                    "--store", tmp_path / "s.duckdb", *TINY)  # fmt: skip
    one_line_error(done, str(campaign), "1000000000000 sweep points")


def test_work_beyond_the_limit_needs_a_flag(tmp_path):
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        yaml.safe_dump(
            {
                "sweep": [
                    {"path": "links[0].latency_s", "range": {"start": 1, "stop": 2, "num": 1000}}
                ]
            }
        )
    )
    done = jointbmd("campaign", "lisbon2010", "--campaign-file", campaign, "-r", "1000",
                    "--store", tmp_path / "s.duckdb", *TINY)  # fmt: skip
    one_line_error(done, "5000000 replications", "--allow-large")
    assert not (tmp_path / "s.duckdb").exists()


# -- 5. tracebacks become one line ----------------------------------------------------------------


@pytest.mark.parametrize("char", ["\t", "\x7f", "\u200b", "\u202e", "\u00a0"])
def test_invisible_characters_in_names_are_refused(tmp_path, char):
    data = lisbon()
    data["partners"][0]["name"] = f"NA{char}TO"
    scenario = write_scenario(tmp_path / "s.yaml", data)
    one_line_error(jointbmd("scenario", "check", scenario), "partners[0].name", "U+")


@pytest.mark.parametrize("epoch", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_epochs_at_the_edge_of_the_calendar(tmp_path, epoch):
    text = builtin_text("lisbon2010")
    data = lisbon()
    scenario = tmp_path / "s.yaml"
    old = data["epoch"]
    old_text = old.strftime("%Y-%m-%d") if hasattr(old, "strftime") else str(old)
    lines = [f"epoch: {epoch}" if line.startswith("epoch:") else line for line in text.splitlines()]
    assert any(old_text in line for line in text.splitlines() if line.startswith("epoch:"))
    scenario.write_text("\n".join(lines) + "\n")
    one_line_error(jointbmd("run", scenario, "-r", "1"), "epoch")


@pytest.mark.parametrize("command", ["compare", "export"])
def test_unknown_campaign_id(tmp_path, command, store_copy):
    store = store_copy
    extra = ["--out", tmp_path / "out"] if command == "export" else []
    done = jointbmd(command, "--store", store, "--campaign", "999", *extra)
    one_line_error(done, "--campaign", "999")
    assert not (tmp_path / "out").exists()


def test_deeply_nested_campaign_file(tmp_path):
    campaign = tmp_path / "c.yaml"
    campaign.write_text("[" * 3000 + "]" * 3000 + "\n")
    done = jointbmd("campaign", "lisbon2010", "--campaign-file", campaign,
                    "--store", tmp_path / "s.duckdb", *TINY)  # fmt: skip
    one_line_error(done, str(campaign))


def warn_then_refuse(scenario, arrangement, replication, seed):
    """A replication function that makes numpy warn and then refuses (for the test below)."""
    import numpy as np

    from jointbmd.errors import UserError

    np.float64(1.0) / np.float64(0.0)
    np.log(np.zeros(1))
    raise UserError("refused after a numpy warning", field="--replication-function")


def test_numpy_warnings_do_not_precede_the_one_line(tmp_path):
    done = jointbmd("campaign", "lisbon2010", "--store", tmp_path / "s.duckdb", "-r", "1",
                    "--replication-function", "test_hardening:warn_then_refuse")  # fmt: skip
    one_line_error(done, "refused after a numpy warning")


# -- 6. campaign files checked fully at load ------------------------------------------------------


@pytest.mark.parametrize(
    "text, needles",
    [
        ("seed: 1\nseed: 2\n", ["duplicate key 'seed'", "(line 2)"]),
        (
            "sweep:\n  - path: interceptor_types[0].min_altitude_km\n    values: [300]\n"
            "  - path: interceptor_types[0].max_altitude_km\n    values: [200]\n",
            ["sweep point 0", "min_altitude_km"],
        ),
        (
            "sweep:\n  - path: arrangements[0].name\n    values: [renamed]\n",
            ["campaign.sweep[0].path", "name identifies"],
        ),
        ("replications: 0\n", ["campaign.replications"]),
        ("campaign: {seed: 1}\nextra: 2\n", ["unknown key"]),
        ("", ["empty"]),
        ("\x00\x01", ["binary"]),
    ],
)
def test_campaign_files_are_checked_before_anything_is_written(tmp_path, text, needles):
    campaign = tmp_path / "c.yaml"
    campaign.write_text(text)
    store = tmp_path / "s.duckdb"
    done = jointbmd("campaign", "lisbon2010", "--campaign-file", campaign, "--store", store, *TINY)
    one_line_error(done, str(campaign), *needles)
    assert not store.exists()


def test_a_scenario_campaign_section_error_names_the_scenario(tmp_path):
    data = lisbon()
    data["campaign"] = {
        "sweep": [
            {"path": "interceptor_types[0].min_altitude_km", "values": [300]},
            {"path": "interceptor_types[0].max_altitude_km", "values": [200]},
        ]
    }
    scenario = write_scenario(tmp_path / "s.yaml", data)
    store = tmp_path / "s.duckdb"
    one_line_error(jointbmd("campaign", scenario, "--store", store, *TINY), str(scenario))
    assert not store.exists()


# -- 7. ledger verdicts ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("ledger")
    path = directory / "picture" / "DFC.ledger"
    done = jointbmd("track", "lisbon2010", "--ledger", directory, "--json")
    assert done.returncode == 0, done.stderr
    assert jointbmd("ledger", "verify", path).returncode == 0
    return path


def _damage(data: bytes, how: str) -> bytes:
    lines = data.split(b"\n")
    if how == "header removed":
        return b"\n".join(lines[1:])
    if how == "header moved below an entry":
        return b"\n".join([lines[1], lines[0], *lines[2:]])
    if how == "cut to 0 bytes":
        return b""
    if how == "cut to 12 bytes":
        return data[:12]
    if how == "both markers altered":
        return data.replace(
            b'"format":"jointbmd-ledger/', b'"format":"jointbmd-ledgex/', 1
        ).replace(b'"type":"header"', b'"type":"headex"', 1)
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    ["header removed", "header moved below an entry", "cut to 0 bytes", "cut to 12 bytes",
     "both markers altered"],
)  # fmt: skip
def test_a_damaged_ledger_fails_verification_at_entry_0(tmp_path, ledger, how):
    damaged = tmp_path / "damaged.ledger"
    damaged.write_bytes(_damage(ledger.read_bytes(), how))
    done = jointbmd("ledger", "verify", damaged)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "entry 0" in lines[0] and "Traceback" not in done.stderr


@pytest.mark.parametrize("content", [b"hello\n", b"\x89PNG\r\n\x1a\n\x00\x00", b"{}\n{}\n"])
def test_files_that_never_were_ledgers(tmp_path, content):
    path = tmp_path / "x"
    path.write_bytes(content)
    one_line_error(jointbmd("ledger", "verify", path), "not a jointbmd ledger")


# -- 8. the fusion centre's name; a receive time that is not a number -----------------------------


def test_a_partner_named_like_the_default_fusion_centre_is_refused(tmp_path):
    from jointbmd.scenario.schema import DEFAULT_FUSION_CENTRE

    data = lisbon()
    data.pop("fusion_centre")
    partner = data["partners"][0]["name"]
    text = yaml.safe_dump(data, sort_keys=False).replace(partner, DEFAULT_FUSION_CENTRE)
    # The links named the old centre: let them name the remaining partner pair instead.
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text)
    done = jointbmd("scenario", "check", scenario)
    assert done.returncode == 2
    assert "fusion centre" in done.stderr and len(done.stderr.splitlines()) == 1


def test_receiver_refuses_a_receive_time_that_is_not_finite():
    from jointbmd.exchange import KeyRing, Receiver, Signer, generate_keys
    from jointbmd.exchange.messages import LedgerSeal

    keys = generate_keys(["A", "B"], seed=1)
    ring = KeyRing.from_private(keys)
    message = Signer("A", keys["A"]).sign(LedgerSeal(entries=0, head="0" * 64), 10.0)
    receiver = Receiver("B", ring)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="finite"):
            receiver.receive(message.wire, bad)
    assert receiver.accepted_count == 0
    assert receiver.receive(message.wire, 10.5) is not None


def test_docs_say_what_verify_proves():
    text = (HERE.parent / "docs" / "ledger.md").read_text()
    for words in ("--keys", "--head", "cannot"):
        assert words in text
    assert textwrap.dedent(text).strip()
