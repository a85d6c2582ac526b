"""The DuckDB results store: schema, round trip, atomic writes, refusals, Parquet export."""

from __future__ import annotations

import pickle
import subprocess

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import jointbmd_in_process
from jointbmd.errors import UserError
from jointbmd.outcomes import Event, ReplicationResult, ThreatOutcome
from jointbmd.store import SCHEMA_VERSION, TABLES, ResultRows, Store, result_rows


def _threat(threat_id: int, killed: bool, shots: int = 2) -> ThreatOutcome:
    return ThreatOutcome(
        threat_id=threat_id,
        raid="R",
        threat_type="Shahab-3",
        aimpoint="Ankara",
        aimpoint_partner="NATO",
        launch_time_s=10.0 * threat_id,
        impact_time_s=10.0 * threat_id + 700.0,
        first_detection_s=10.0 * threat_id + 60.0,
        first_firm_track_s=10.0 * threat_id + 100.0 if killed else None,
        first_launch_s=10.0 * threat_id + 160.0 if killed else None,
        engaged_by="NATO" if killed else None,
        shots=shots if killed else 0,
        intercept_time_s=10.0 * threat_id + 400.0 if killed else None,
        intercept_altitude_km=180.0 if killed else None,
        killed=killed,
    )


def _result(replication: int, arrangement: str = "joint", kills=(True, False)) -> ReplicationResult:
    return ReplicationResult(
        arrangement=arrangement,
        replication=replication,
        threats=tuple(_threat(i, k) for i, k in enumerate(kills)),
        events=(Event(0.0, "launch", None, 0), Event(160.0, "shot", "NATO", 0, "salvo of 2")),
        shots_by_partner={"NATO": 2},
        rejected_messages={"replay": 1},
    )


def _campaign(store: Store, key: str = "k1") -> int:
    return store.ensure_campaign(
        campaign_key=key,
        scenario_name="tiny",
        scenario_hash="h",
        scenario={"name": "tiny"},
        seed=7,
        replications=3,
        arrangements=["joint"],
        spec={"seed": 7},
        points=[{}],
    )


def test_round_trip_and_derived_columns(tmp_path):
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        cid = _campaign(store)
        store.write(cid, 0, [_result(0), _result(1, kills=(True, True))])
        assert store.done(cid) == {(0, "joint", 0), (0, "joint", 1)}
    with Store(path, read_only=True) as store:
        assert store.schema_version == SCHEMA_VERSION
        rows = store.query(
            "SELECT replication, no_leak, threats, leakers, interceptors_spent, shots_by_partner, "
            "rejected_messages, first_firm_track_delay_mean_s, first_launch_delay_mean_s "
            "FROM replications ORDER BY replication"
        )
        # Replication 0: threat 0 killed (2 shots, tracked 100 s and engaged 160 s after
        # launch), threat 1 leaked untracked: one leaker, means over the one tracked threat.
        assert rows[0] == (0, False, 2, 1, 2, '{"NATO":2}', '{"replay":1}', 100.0, 160.0)
        assert rows[1] == (1, True, 2, 0, 4, '{"NATO":2}', '{"replay":1}', 100.0, 160.0)
        assert store.query("SELECT count(*) FROM threat_outcomes")[0][0] == 4
        assert store.query("SELECT count(*) FROM events")[0][0] == 4
        killed = store.query(
            "SELECT killed, intercept_altitude_km FROM threat_outcomes "
            "WHERE replication = 0 ORDER BY threat_id"
        )
        assert killed == [(True, 180.0), (False, None)]
        record = store.campaign()
        assert record.campaign_id == cid and record.seed == 7 and record.points == ({},)


def _all_rows(store: Store) -> dict[str, list[tuple]]:
    out = {}
    for table in ("replications", "threat_outcomes", "events"):
        columns = [
            row[0]
            for row in store.query(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position",
                [table],
            )
            if row[0] != "finished_at"
        ]
        out[table] = store.query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY ALL")
    return out


def test_columnar_rows_from_another_process_store_the_same_rows(tmp_path):
    """A Dask worker returns ``result_rows(results)`` (pickled across the process boundary);
    writing those must store exactly what writing the records does, including a replication
    with no threats and no events, and a threat with the optional intercept point."""
    located = ThreatOutcome(**{**_threat(0, True).__dict__, "intercept_lat_deg": 41.5,
                               "intercept_lon_deg": 31.25})  # fmt: skip
    results = [
        _result(0),
        ReplicationResult("joint", 1, (located,), (), {"NATO": 2}, {}),
        ReplicationResult("joint", 2, (), (), {}, {}),
    ]
    rows = pickle.loads(pickle.dumps(result_rows(results)))
    assert isinstance(rows, ResultRows) and len(rows) == 3
    assert rows.keys == (("joint", 0), ("joint", 1), ("joint", 2))
    stored = {}
    for name, batch in (("records", results), ("rows", rows)):
        with Store(tmp_path / f"{name}.duckdb") as store:
            cid = _campaign(store)
            store.write(cid, 0, batch)
            stored[name] = _all_rows(store)
    assert stored["rows"] == stored["records"]
    assert stored["rows"]["replications"][2][4:9] == (True, 0, 0, 0, "{}")  # no threats: no leak
    assert stored["rows"]["threat_outcomes"][2][-4:-2] == (41.5, 31.25)  # lat, lon
    assert len(stored["rows"]["events"]) == 2


def test_duplicate_key_rolls_back_the_whole_write(tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        cid = _campaign(store)
        store.write(cid, 0, [_result(0)])
        with pytest.raises(duckdb.ConstraintException):
            store.write(cid, 0, [_result(1), _result(0)])  # 1 is new, 0 is a duplicate
        # Nothing of the failed call is kept: not replication 1, not its threats or events.
        assert store.done(cid) == {(0, "joint", 0)}
        assert store.query("SELECT count(*) FROM threat_outcomes")[0][0] == 2
        assert store.query("SELECT count(*) FROM events")[0][0] == 2


def test_ensure_campaign_extends_an_existing_one(tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        first = _campaign(store)
        again = store.ensure_campaign(
            campaign_key="k1",
            scenario_name="tiny",
            scenario_hash="h",
            scenario={},
            seed=7,
            replications=10,
            arrangements=["sectoral", "joint"],
            spec={},
            points=[{}],
        )
        assert again == first
        record = store.campaign(first)
        assert record.replications == 10
        assert record.arrangements == ("joint", "sectoral")
        assert _campaign(store, key="k2") != first


def test_not_a_store_is_refused_and_left_alone(tmp_path):
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database\n")
    with pytest.raises(UserError, match="not a jointbmd results store"):
        Store(text)
    assert text.read_text() == "not a database\n"

    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE prices (x INTEGER)")
    con.execute("INSERT INTO prices VALUES (42)")
    con.close()
    with pytest.raises(UserError, match="not a jointbmd results store"):
        Store(other)
    con = duckdb.connect(str(other), read_only=True)
    assert con.execute("SELECT * FROM prices").fetchall() == [(42,)]
    assert [r[0] for r in con.execute("SHOW TABLES").fetchall()] == ["prices"]
    con.close()

    with pytest.raises(UserError, match="no results store"):
        Store(tmp_path / "missing.duckdb", read_only=True)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        _campaign(store)
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    for read_only in (False, True):
        with pytest.raises(UserError, match="newer than this jointbmd reads"):
            Store(path, read_only=read_only)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM campaigns").fetchone()[0] == 1
    con.close()


@pytest.mark.parametrize("kind", ["text", "newer"])
def test_cli_refusals_are_one_line_exit_2(tmp_path, kind):
    path = tmp_path / "s.duckdb"
    if kind == "text":
        path.write_text("hello\n")
    else:
        with Store(path) as store:
            _campaign(store)
        con = duckdb.connect(str(path))
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        con.close()
    before = path.read_bytes()
    # compare and export by the console script's ``main`` in this process; campaign through a
    # new process, for the exit status a shell sees.
    for argv in (
        ["compare", "--store", str(path)],
        ["export", "--store", str(path), "--out", str(tmp_path / "out")],
        ["campaign", "lisbon2010", "--store", str(path), "-r", "1"],
    ):
        if argv[0] == "campaign":
            done = subprocess.run(["jointbmd", *argv], capture_output=True, text=True, timeout=120)
            code, out, err = done.returncode, done.stdout, done.stderr
        else:
            code, out, err = jointbmd_in_process(*argv)
        assert code == 2, (argv, err)
        assert out == ""
        assert len(err.strip().splitlines()) == 1, err
        assert str(path) in err
        assert "Traceback" not in err
    assert path.read_bytes() == before


def test_parquet_export(tmp_path):
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        cid = _campaign(store)
        other = _campaign(store, key="k2")
        store.write(cid, 0, [_result(0), _result(1)])
        store.write(other, 0, [_result(0)])
    out = tmp_path / "parquet"
    done = subprocess.run(
        ["jointbmd", "export", "--store", str(path), "--campaign", str(cid), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)
    reps = pq.read_table(out / "replications.parquet")
    assert reps.num_rows == 2 and set(reps.column("campaign_id").to_pylist()) == {cid}
    threats = pq.read_table(out / "threat_outcomes.parquet")
    assert threats.num_rows == 4
    assert threats.column("killed").to_pylist() == [True, False, True, False]


def test_aggregate_reports_what_was_asked_for_not_all_that_is_stored(tmp_path):
    """About the store and the campaign engine, not the simulation: the small stand-in
    replication function, and the console script's ``main`` in this process."""
    import json as _json

    store = tmp_path / "asked.duckdb"

    def campaign(*args):
        code, out, err = jointbmd_in_process(
            "campaign", "lisbon2010", "--store", str(store), "--json", *args,
            "--replication-function", "conftest:tiny_replication",
        )  # fmt: skip
        assert code == 0, err
        return _json.loads(out)["rows"]

    assert {row["replications"] for row in campaign("-r", "2")} == {2}
    # Asking for fewer (or one arrangement) reports those, though the store holds more.
    assert {row["replications"] for row in campaign("-r", "1")} == {1}
    rows = campaign("-r", "1", "--arrangement", "independent")
    assert [(row["arrangement"], row["replications"]) for row in rows] == [("independent", 1)]
