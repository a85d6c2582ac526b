"""The results store: an embedded DuckDB file holding campaigns and their replications.

In: ``ReplicationResult`` records (``jointbmd.outcomes``), or their columnar ``ResultRows`` as a
campaign worker builds them.
Out: the stored rows, the set of replications already done (for resume), the per-group inputs of
the aggregation, and a Parquet export.

The schema is versioned (``meta.schema_version``) and documented in ``docs/store.md``. Its rules:

- one replication = one row of ``replications`` (unique key: campaign, sweep point, arrangement,
  replication index) plus its rows in ``threat_outcomes`` and ``events``, all written in ONE
  transaction. A campaign killed at any instant therefore leaves each replication either wholly
  stored or not at all, and a resumed campaign runs exactly the missing ones.
- only the process that opened the store writes it (DuckDB locks the file); Dask workers turn
  their records into columnar rows (``result_rows`` -> ``ResultRows``, Arrow IPC bytes), return
  those to the driver and never touch the file. The driver only inserts them.
- only a new path, an empty file (0 bytes), an empty DuckDB database or a jointbmd store is ever
  opened for writing. Anything else -- a SQLite or other non-DuckDB file, a DuckDB database
  holding anything at all (tables in any schema, views, sequences, macros, types), a store of a
  newer schema -- is refused with a one-line ``UserError`` naming the file, and left
  byte-identical: it is inspected read-only (and non-DuckDB files only by their first bytes)
  before any connection that could write it. DuckDB's extension autoloading is off, so no file
  makes it fetch code.
- a damaged store (a corrupt block, a campaigns row whose JSON does not parse) is a one-line
  ``UserError`` too; the campaign rows are checked when the store is opened, before anything
  is written.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from jointbmd.canonical import canonical_json
from jointbmd.conventions import DEFAULT_STORE  # noqa: F401  (re-exported)
from jointbmd.errors import UserError
from jointbmd.outcomes import ReplicationResult, ThreatOutcome

APPLICATION = "jointbmd"
SCHEMA_VERSION = 2  # 2: threat_outcomes gained intercept_over, intercept_over_third_party

# The outcome columns are declared once, here: the replications and events columns below, the
# threat columns by ``ThreatOutcome``'s fields (name and annotation). The DuckDB DDL, the Arrow
# schemas the workers fill and the readers all derive from these.
_REPLICATION_COLUMNS = (
    pa.field("arrangement", pa.string()),
    pa.field("replication", pa.int32()),
    pa.field("no_leak", pa.bool_(), nullable=False),
    pa.field("threats", pa.int32(), nullable=False),
    pa.field("leakers", pa.int32(), nullable=False),
    pa.field("interceptors_spent", pa.int32(), nullable=False),
    pa.field("shots_by_partner", pa.string(), nullable=False),  # JSON: partner -> shots
    pa.field("rejected_messages", pa.string(), nullable=False),  # JSON: reason -> count
    pa.field("first_firm_track_delay_mean_s", pa.float64()),
    pa.field("first_launch_delay_mean_s", pa.float64()),
)
_EVENT_COLUMNS = (
    pa.field("arrangement", pa.string()),
    pa.field("replication", pa.int32()),
    pa.field("seq", pa.int32(), nullable=False),
    pa.field("t_s", pa.float64()),
    pa.field("kind", pa.string()),
    pa.field("partner", pa.string()),
    pa.field("threat_id", pa.int32()),
    pa.field("detail", pa.string()),
)
_ARROW_OF_ANNOTATION = {"int": pa.int32(), "float": pa.float64(), "str": pa.string(),
                        "bool": pa.bool_()}  # fmt: skip


def _threat_columns() -> tuple[pa.Field, ...]:
    """``ThreatOutcome``'s fields as Arrow fields (``float | None`` -> nullable float64)."""
    out = []
    for f in dataclasses.fields(ThreatOutcome):
        annotation = f.type if isinstance(f.type, str) else f.type.__name__
        base = annotation.split("|")[0].strip()
        out.append(pa.field(f.name, _ARROW_OF_ANNOTATION[base], nullable=f.name != "threat_id"))
    return tuple(out)


_THREAT_COLUMNS = _threat_columns()
# Columns of threat_outcomes that come straight from ThreatOutcome, in table order; the ones with
# a default are optional extras (read with getattr, NULL when absent).
THREAT_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(ThreatOutcome)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)
THREAT_OPTIONAL_FIELDS = tuple(
    f.name for f in dataclasses.fields(ThreatOutcome) if f.name not in THREAT_FIELDS
)
# The per-threat outcome columns, by name (for readers that pick some).
OUTCOME_COLUMNS = tuple(f.name for f in _THREAT_COLUMNS)

_DUCKDB_OF_ARROW = {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.float64(): "DOUBLE",
                    pa.bool_(): "BOOLEAN"}  # fmt: skip
_KEY = ("campaign_id INTEGER", "point INTEGER", "arrangement VARCHAR", "replication INTEGER")


def _ddl(table: str, fields: Sequence[pa.Field], extra: Sequence[str] = ()) -> str:
    """CREATE TABLE for one outcome table: the key, then the fields (minus the key's two)."""
    columns = [*_KEY]
    for f in fields:
        if f.name in ("arrangement", "replication"):
            continue
        columns.append(f"{f.name} {_DUCKDB_OF_ARROW[f.type]}{'' if f.nullable else ' NOT NULL'}")
    body = ",\n    ".join([*columns, *extra])
    return f"CREATE TABLE {table} (\n    {body}\n);\n"


SCHEMA_V1 = (
    """
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE SEQUENCE campaign_ids START 1;
CREATE TABLE campaigns (
    campaign_id INTEGER PRIMARY KEY DEFAULT nextval('campaign_ids'),
    campaign_key VARCHAR NOT NULL UNIQUE,
    scenario_name VARCHAR NOT NULL,
    scenario_hash VARCHAR NOT NULL,
    seed UBIGINT NOT NULL,
    replications INTEGER NOT NULL,
    arrangements VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    scenario VARCHAR NOT NULL,
    created TIMESTAMP NOT NULL,
    updated TIMESTAMP NOT NULL
);
CREATE TABLE sweep_points (
    campaign_id INTEGER NOT NULL,
    point INTEGER NOT NULL,
    sweep_values VARCHAR NOT NULL,
    PRIMARY KEY (campaign_id, point)
);
"""
    + _ddl(
        "replications",
        _REPLICATION_COLUMNS,
        (
            "finished_at TIMESTAMP NOT NULL",
            "PRIMARY KEY (campaign_id, point, arrangement, replication)",
        ),
    )
    + _ddl("threat_outcomes", (*_REPLICATION_COLUMNS[:2], *_THREAT_COLUMNS))
    + _ddl("events", _EVENT_COLUMNS)
)

TABLES = ("meta", "campaigns", "sweep_points", "replications", "threat_outcomes", "events")

# What the store asks of DuckDB: never fetch or load an extension because of a file's contents.
DUCKDB_CONFIG = {"autoload_known_extensions": False, "autoinstall_known_extensions": False}
# A DuckDB database file has "DUCK" at bytes 8-11 (its main header).
DUCKDB_MAGIC = (8, b"DUCK")
# Everything a database can hold besides jointbmd's own objects, as (what, query).
_OBJECT_QUERIES = (
    ("table", "SELECT schema_name || '.' || table_name FROM duckdb_tables()"),
    ("view", "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal"),
    ("sequence", "SELECT schema_name || '.' || sequence_name FROM duckdb_sequences()"),
    (
        "macro or function",
        "SELECT DISTINCT schema_name || '.' || function_name FROM duckdb_functions() "
        "WHERE NOT internal",
    ),
    ("type", "SELECT schema_name || '.' || type_name FROM duckdb_types() WHERE NOT internal"),
    ("schema", "SELECT schema_name FROM duckdb_schemas() WHERE NOT internal"),
    ("index", "SELECT schema_name || '.' || index_name FROM duckdb_indexes()"),
)
_OWN_OBJECTS = {f"main.{t}" for t in TABLES} | {"main.campaign_ids"}

# Columnar rows of a batch of replications (``ResultRows``), without the columns the driver adds
# (campaign_id and point in every table, finished_at in replications). Column order = table order.
# NOT NULL is the DDL's to enforce: the Arrow side stays nullable.


def _arrow_schema(fields: Sequence[pa.Field]) -> pa.Schema:
    return pa.schema([f.with_nullable(True) for f in fields])


_REPLICATION_SCHEMA = _arrow_schema(_REPLICATION_COLUMNS)
_THREAT_SCHEMA = _arrow_schema([*_REPLICATION_COLUMNS[:2], *_THREAT_COLUMNS])
_EVENT_SCHEMA = _arrow_schema(_EVENT_COLUMNS)


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


@dataclass(frozen=True)
class ResultRows:
    """Finished replications as the columnar rows the store inserts, built where they ran.

    ``result_rows`` turns ``ReplicationResult`` records into three Arrow tables (replications,
    threat outcomes, events) and keeps each as an Arrow IPC stream: a Dask worker builds it and
    ships three byte strings instead of hundreds of small pickled dataclasses, and the driver only
    inserts them (``Store.write``). ``keys`` lists the (arrangement, replication) of each row of
    ``replications``, in order.
    """

    keys: tuple[tuple[str, int], ...]
    replications: bytes
    threats: bytes
    events: bytes

    def __len__(self) -> int:
        return len(self.keys)

    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table]:
        return _from_ipc(self.replications), _from_ipc(self.threats), _from_ipc(self.events)


def result_rows(results: Sequence[ReplicationResult]) -> ResultRows:
    """The columnar rows of some replications (any process; no store needed)."""
    rep: dict[str, list[Any]] = {name: [] for name in _REPLICATION_SCHEMA.names}
    threat: dict[str, list[Any]] = {name: [] for name in _THREAT_SCHEMA.names}
    event: dict[str, list[Any]] = {name: [] for name in _EVENT_SCHEMA.names}
    threat_fields = [(name, threat[name]) for name in THREAT_FIELDS]
    optional_fields = [(name, threat[name]) for name in THREAT_OPTIONAL_FIELDS]
    for result in results:
        name, index = result.arrangement, result.replication
        threats = result.threats
        starts = [t.launch_time_s for t in threats]
        for column, value in (
            ("arrangement", name),
            ("replication", index),
            ("no_leak", result.no_leak),
            ("threats", len(threats)),
            ("leakers", result.leakers),
            ("interceptors_spent", result.interceptors_spent),
            ("shots_by_partner", canonical_json(dict(result.shots_by_partner)).decode()),
            ("rejected_messages", canonical_json(dict(result.rejected_messages)).decode()),
            (
                "first_firm_track_delay_mean_s",
                _mean_delay(starts, [t.first_firm_track_s for t in threats]),
            ),
            ("first_launch_delay_mean_s", _mean_delay(starts, [t.first_launch_s for t in threats])),
        ):
            rep[column].append(value)
        threat["arrangement"] += [name] * len(threats)
        threat["replication"] += [index] * len(threats)
        for t in threats:
            for field, column in threat_fields:
                column.append(getattr(t, field))
            for field, column in optional_fields:
                column.append(getattr(t, field, None))
        events = result.events
        event["arrangement"] += [name] * len(events)
        event["replication"] += [index] * len(events)
        event["seq"] += range(len(events))
        event["t_s"] += [e.t_s for e in events]
        event["kind"] += [e.kind for e in events]
        event["partner"] += [e.partner for e in events]
        event["threat_id"] += [e.threat_id for e in events]
        event["detail"] += [e.detail for e in events]
    return ResultRows(
        keys=tuple((r.arrangement, r.replication) for r in results),
        replications=_ipc(pa.table(rep, schema=_REPLICATION_SCHEMA)),
        threats=_ipc(pa.table(threat, schema=_THREAT_SCHEMA)),
        events=_ipc(pa.table(event, schema=_EVENT_SCHEMA)),
    )


@dataclass(frozen=True)
class CampaignRecord:
    """One row of ``campaigns``, decoded."""

    campaign_id: int
    campaign_key: str
    scenario_name: str
    scenario_hash: str
    seed: int
    replications: int
    arrangements: tuple[str, ...]
    spec: dict[str, Any]
    scenario: dict[str, Any]
    created: _dt.datetime
    points: tuple[dict[str, Any], ...]  # sweep values of each point, by point index


def _mean_delay(starts: Iterable[float], ends: Iterable[float | None]) -> float | None:
    delays = [end - start for start, end in zip(starts, ends, strict=True) if end is not None]
    return math.fsum(delays) / len(delays) if delays else None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _decoded(text: Any, kind: type, what: str, path: Path) -> Any:
    """A JSON column of the store, decoded; damage is a ``UserError`` naming the file."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, kind):
        raise UserError(f"damaged store: {what} is not valid JSON", file=str(path))
    return value


@dataclass(frozen=True)
class Selection:
    """Which stored replications a read covers: one campaign, optionally only its first
    ``replications`` indices, some arrangements, one replication index, one sweep point."""

    campaign_id: int
    replications: int | None = None
    arrangements: tuple[str, ...] | None = None
    replication: int | None = None
    point: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters."""
        where = "campaign_id = ?"
        params: list[Any] = [int(self.campaign_id)]
        if self.replications is not None:
            where += " AND replication < ?"
            params.append(int(self.replications))
        if self.arrangements is not None:
            where += f" AND arrangement IN ({', '.join('?' * len(self.arrangements))})"
            params.extend(self.arrangements)
        if self.replication is not None:
            where += " AND replication = ?"
            params.append(int(self.replication))
        if self.point is not None:
            where += " AND point = ?"
            params.append(int(self.point))
        return where, params


def sweep_columns(df, points: Sequence[dict[str, Any]]):
    """``df`` (with a ``point`` column) with one column per swept input, after ``point``.

    The column is named by the input's path and holds its value at each row's point, typed by
    the values (float, integer, bool or string)."""
    import pandas as pd

    paths: list[str] = []
    for values in points:
        paths += [p for p in values if p not in paths]
    where = list(df.columns).index("point") + 1 if "point" in df.columns else 0
    for offset, path in enumerate(paths):
        by_point = [values.get(path) for values in points]
        column = pd.Series([by_point[p] for p in df["point"]], index=df.index).infer_objects()
        if column.dtype == object:
            column = column.astype("string")
        df.insert(where + offset, path, column)
    return df


class _damage_is_user_error:
    """Turn DuckDB's errors on a damaged or unusable file into one ``UserError`` line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, error: Any, tb: Any) -> bool:
        # A constraint violation is a caller's mistake (a key written twice), not damage.
        if exc_type is None or not issubclass(exc_type, duckdb.Error):
            return False
        if issubclass(exc_type, duckdb.ConstraintException):
            return False
        raise UserError(
            f"damaged or unusable results store: {_first_line(error)}", file=str(self.path)
        ) from None


def _guarded(method: Callable) -> Callable:
    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        with _damage_is_user_error(self.path):
            return method(self, *args, **kwargs)

    return wrapper


class Store:
    """A jointbmd results store (a DuckDB file). Use as a context manager or call ``close``.

    ``Store(path)`` opens (or creates) the store for writing; ``Store(path, read_only=True)``
    opens an existing one for reading. Either refuses a file that is not a jointbmd store or one
    from a newer schema, with a ``UserError`` naming the file, and changes nothing in it.
    """

    def __init__(self, path: str | Path = DEFAULT_STORE, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if not read_only and _has_content(self.path):
            # Judge an existing file read-only first: a write connection may change it.
            with Store(self.path, read_only=True):
                pass
        self._con = _connect(self.path, read_only=read_only)
        try:
            with _damage_is_user_error(self.path):
                self._check_or_create()
                self._check_campaign_rows()
        except BaseException:
            self._con.close()
            raise

    # -- opening --------------------------------------------------------------------------------

    def _fail(self, reason: str) -> UserError:
        return UserError(reason, file=str(self.path))

    def _objects(self) -> dict[str, list[str]]:
        """Every object the database holds, by kind (jointbmd's own included)."""
        found: dict[str, list[str]] = {}
        for what, sql in _OBJECT_QUERIES:
            names = [row[0] for row in self._con.execute(sql).fetchall()]
            if names:
                found[what] = names
        return found

    def _check_or_create(self) -> None:
        objects = self._objects()
        if not objects:
            if self.read_only:
                raise self._fail("empty database, not a jointbmd results store")
            self._create()
            return
        tables = {name.removeprefix("main.") for name in objects.get("table", [])}
        foreign = [
            f"{what} {name}"
            for what, names in objects.items()
            for name in names
            if name not in _OWN_OBJECTS
        ]
        if "meta" not in tables or foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise self._fail(
                "not a jointbmd results store: a DuckDB database holding "
                f"{shown or 'no meta table'}; it is left as it is"
            )
        try:
            meta = dict(self._con.execute("SELECT key, value FROM meta").fetchall())
        except duckdb.Error as error:
            raise self._fail(f"not a jointbmd results store ({error})") from None
        if meta.get("application") != APPLICATION or "schema_version" not in meta:
            raise self._fail("not a jointbmd results store (its meta table is not jointbmd's)")
        try:
            version = int(meta["schema_version"])
        except ValueError:
            raise self._fail(f"bad schema_version {meta['schema_version']!r}") from None
        if version > SCHEMA_VERSION:
            raise self._fail(
                f"store schema version {version} is newer than this jointbmd reads "
                f"({SCHEMA_VERSION}); upgrade jointbmd"
            )
        if version < SCHEMA_VERSION:
            raise self._fail(
                f"store schema version {version} was written by an earlier jointbmd, whose model "
                f"differs (this one writes {SCHEMA_VERSION}); give a new --store"
            )
        if not set(TABLES) <= tables:
            raise self._fail(f"damaged jointbmd store (schema {version}, tables {sorted(tables)})")
        self.schema_version = version

    def _check_campaign_rows(self) -> None:
        """Decode every campaign's JSON columns now, so that a damaged row stops the command
        before it writes anything."""
        for (campaign_id,) in self._con.execute("SELECT campaign_id FROM campaigns").fetchall():
            self.campaign(campaign_id)

    def _create(self) -> None:
        from jointbmd import __version__

        with self._transaction():
            self._con.execute(SCHEMA_V1)
            self._con.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ["application", APPLICATION],
                    ["schema_version", str(SCHEMA_VERSION)],
                    ["created_by", f"jointbmd {__version__}"],
                    ["created", _now().isoformat()],
                ],
            )
        self.schema_version = SCHEMA_VERSION

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._con)

    # -- campaigns ------------------------------------------------------------------------------

    @_guarded
    def ensure_campaign(
        self,
        *,
        campaign_key: str,
        scenario_name: str,
        scenario_hash: str,
        scenario: dict[str, Any],
        seed: int,
        replications: int,
        arrangements: Sequence[str],
        spec: dict[str, Any],
        points: Sequence[dict[str, Any]],
    ) -> int:
        """The id of the campaign with this key, creating it (and its sweep points) if new.

        An existing campaign is extended: its ``replications`` becomes the larger of the stored
        and the requested count, its ``arrangements`` the union (in first-seen order).
        """
        row = self._con.execute(
            "SELECT campaign_id, replications, arrangements FROM campaigns WHERE campaign_key = ?",
            [campaign_key],
        ).fetchone()
        now = _now()
        with self._transaction():
            if row is None:
                (campaign_id,) = self._con.execute(
                    "INSERT INTO campaigns (campaign_key, scenario_name, scenario_hash, seed, "
                    "replications, arrangements, spec, scenario, created, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING campaign_id",
                    [
                        campaign_key,
                        scenario_name,
                        scenario_hash,
                        seed,
                        replications,
                        json.dumps(list(arrangements)),
                        canonical_json(spec).decode(),
                        canonical_json(scenario).decode(),
                        now,
                        now,
                    ],
                ).fetchone()
                # One Arrow insert (executemany is row by row): a sweep may have 10**5 points.
                _points = pa.table(
                    {
                        "campaign_id": pa.array([campaign_id] * len(points), pa.int32()),
                        "point": pa.array(range(len(points)), pa.int32()),
                        "sweep_values": pa.array(
                            [canonical_json(values).decode() for values in points], pa.string()
                        ),
                    }
                )
                self._con.execute("INSERT INTO sweep_points SELECT * FROM _points")
                return int(campaign_id)
            campaign_id, stored_replications, stored_arrangements = row
            merged = list(_decoded(stored_arrangements, list, "arrangements", self.path))
            merged += [name for name in arrangements if name not in merged]
            self._con.execute(
                "UPDATE campaigns SET replications = ?, arrangements = ?, updated = ? "
                "WHERE campaign_id = ?",
                [max(replications, stored_replications), json.dumps(merged), now, campaign_id],
            )
            return int(campaign_id)

    @_guarded
    def campaigns(self) -> list[CampaignRecord]:
        """Every campaign in the store, oldest first."""
        ids = [
            r[0]
            for r in self._con.execute("SELECT campaign_id FROM campaigns ORDER BY 1").fetchall()
        ]
        return [self.campaign(i) for i in ids]

    @_guarded
    def campaign(self, campaign_id: int | None = None) -> CampaignRecord:
        """One campaign by id; the most recently updated one when ``campaign_id`` is None."""
        if campaign_id is None:
            row = self._con.execute(
                "SELECT campaign_id FROM campaigns ORDER BY updated DESC, campaign_id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise self._fail("the store holds no campaign yet")
            campaign_id = row[0]
        row = self._con.execute(
            "SELECT campaign_id, campaign_key, scenario_name, scenario_hash, seed, replications, "
            "arrangements, spec, scenario, created FROM campaigns WHERE campaign_id = ?",
            [campaign_id],
        ).fetchone()
        if row is None:
            known = [
                r[0]
                for r in self._con.execute(
                    "SELECT campaign_id FROM campaigns ORDER BY 1"
                ).fetchall()
            ]
            raise UserError(
                f"no campaign {campaign_id} in this store (campaigns: "
                f"{', '.join(map(str, known)) or 'none'})",
                file=str(self.path),
                field="--campaign",
            )
        points = self._con.execute(
            "SELECT sweep_values FROM sweep_points WHERE campaign_id = ? ORDER BY point",
            [campaign_id],
        ).fetchall()
        where = f"campaign {row[0]}"
        arrangements = _decoded(row[6], list, f"{where}: arrangements", self.path)
        return CampaignRecord(
            campaign_id=int(row[0]),
            campaign_key=row[1],
            scenario_name=row[2],
            scenario_hash=row[3],
            seed=int(row[4]),
            replications=int(row[5]),
            arrangements=tuple(str(a) for a in arrangements),
            spec=_decoded(row[7], dict, f"{where}: spec", self.path),
            scenario=_decoded(row[8], dict, f"{where}: scenario", self.path),
            created=row[9],
            points=tuple(_decoded(p[0], dict, f"{where}: sweep point", self.path) for p in points),
        )

    # -- replications ---------------------------------------------------------------------------

    @_guarded
    def done(self, campaign_id: int) -> set[tuple[int, str, int]]:
        """The (point, arrangement, replication) keys already stored for a campaign."""
        rows = self._con.execute(
            "SELECT point, arrangement, replication FROM replications WHERE campaign_id = ?",
            [campaign_id],
        ).fetchall()
        return {(int(p), a, int(r)) for p, a, r in rows}

    @_guarded
    def count(self, campaign_id: int | None = None) -> int:
        """How many replications are stored (for one campaign, or in all)."""
        if campaign_id is None:
            return int(self._con.execute("SELECT count(*) FROM replications").fetchone()[0])
        return int(
            self._con.execute(
                "SELECT count(*) FROM replications WHERE campaign_id = ?", [campaign_id]
            ).fetchone()[0]
        )

    @_guarded
    def write(
        self,
        campaign_id: int,
        point: int,
        results: Sequence[ReplicationResult] | ResultRows,
    ) -> None:
        """Store finished replications of one sweep point, all in one transaction.

        ``results``: ``ReplicationResult`` records or their ``ResultRows`` (as a Dask worker
        returns them). A key already stored raises (``duckdb.ConstraintException``) and nothing of
        the call is kept: the caller runs only what ``done`` does not list.
        """
        rows = results if isinstance(results, ResultRows) else result_rows(results)
        if not rows.keys:
            return
        # The three tables are read below by DuckDB's replacement scan (by variable name).
        _rep_rows, _threat_rows, _event_rows = rows.tables()
        key = [campaign_id, point]
        with self._transaction():
            self._con.execute(
                "INSERT INTO replications SELECT ?, ?, *, ? FROM _rep_rows", [*key, _now()]
            )
            if _threat_rows.num_rows:
                self._con.execute(
                    "INSERT INTO threat_outcomes SELECT ?, ?, * FROM _threat_rows", key
                )
            if _event_rows.num_rows:
                self._con.execute("INSERT INTO events SELECT ?, ?, * FROM _event_rows", key)

    # -- named reads: every query the library runs on a store lives here -----------------------

    @_guarded
    def campaign_summaries(self) -> list[dict[str, Any]]:
        """One line per campaign, oldest first: id, scenario, sweep paths, replications asked,
        replications stored (all arrangements and points), arrangements, created, updated."""
        rows = self._con.execute(
            "SELECT c.campaign_id, c.scenario_name, c.spec, c.replications, c.arrangements, "
            "c.created, c.updated, (SELECT count(*) FROM replications r "
            "WHERE r.campaign_id = c.campaign_id) FROM campaigns c ORDER BY 1"
        ).fetchall()
        out = []
        for cid, name, spec, reps, arrangements, created, updated, stored in rows:
            spec = _decoded(spec, dict, f"campaign {cid}: spec", self.path)
            out.append(
                {
                    "campaign_id": int(cid),
                    "scenario": name,
                    "sweep": [axis.get("path") for axis in spec.get("sweep", [])],
                    "replications": int(reps),
                    "arrangements": _decoded(arrangements, list, f"campaign {cid}", self.path),
                    "stored": int(stored),
                    "created": created,
                    "updated": updated,
                }
            )
        return out

    @_guarded
    def group_sums(self, selection: Selection) -> list[tuple[Any, ...]]:
        """Per (point, arrangement): n, no-leak count, sum and sum of squares of leakers and of
        interceptors spent (exact integers, for the aggregate's intervals)."""
        where, params = selection.where()
        return self._con.execute(
            "SELECT point, arrangement, count(*), sum(no_leak::INTEGER), "
            "sum(leakers::HUGEINT), sum((leakers::HUGEINT) * leakers), "
            "sum(interceptors_spent::HUGEINT), "
            "sum((interceptors_spent::HUGEINT) * interceptors_spent) "
            f"FROM replications WHERE {where} GROUP BY point, arrangement",
            params,
        ).fetchall()

    @_guarded
    def tallies(self, selection: Selection, column: str) -> dict[tuple[int, str], dict[str, int]]:
        """(point, arrangement) -> key -> total of a JSON tally column of ``replications``
        (``shots_by_partner`` or ``rejected_messages``), summed over replications."""
        if column not in ("shots_by_partner", "rejected_messages"):
            raise ValueError(f"not a tally column: {column}")
        where, params = selection.where()
        totals: dict[tuple[int, str], dict[str, int]] = {}
        for point, arrangement, text in self._con.execute(
            f"SELECT point, arrangement, {column} FROM replications WHERE {where}", params
        ).fetchall():
            tally = totals.setdefault((int(point), arrangement), {})
            for key, value in _decoded(text, dict, column, self.path).items():
                tally[key] = tally.get(key, 0) + int(value)
        return totals

    @_guarded
    def replication_outcomes(self, selection: Selection) -> dict[str, Any]:
        """Each replication's outcome as numpy columns: point, arrangement, replication and, as
        floats, p_no_leak (1 or 0), expected_leakers, interceptors_spent."""
        where, params = selection.where()
        return self.columns(
            "SELECT point, arrangement, replication, no_leak::DOUBLE AS p_no_leak, "
            "leakers::DOUBLE AS expected_leakers, "
            "interceptors_spent::DOUBLE AS interceptors_spent "
            f"FROM replications WHERE {where} ORDER BY point, arrangement, replication",
            params,
        )

    @_guarded
    def threat_delays(self, selection: Selection) -> dict[str, Any]:
        """Per threat, as numpy columns: point, arrangement, and the times since its launch of its
        first firm track and first interceptor launch (NaN: never)."""
        where, params = selection.where()
        return self.columns(
            "SELECT point, arrangement, first_firm_track_s - launch_time_s AS to_firm_track_s, "
            "first_launch_s - launch_time_s AS to_first_launch_s "
            f"FROM threat_outcomes WHERE {where} "
            "ORDER BY point, arrangement, replication, threat_id",
            params,
        )

    @_guarded
    def intercepts(self, selection: Selection, limit: int = 3000) -> dict[str, Any]:
        """The killing intercepts (a sample of at most ``limit``), as numpy columns: raid, launch,
        impact and intercept times, intercept latitude/longitude, engaged_by."""
        where, params = selection.where()
        return self.columns(
            "SELECT raid, launch_time_s, impact_time_s, intercept_time_s, intercept_lat_deg, "
            "intercept_lon_deg, engaged_by FROM threat_outcomes "
            f"WHERE {where} AND killed AND intercept_time_s IS NOT NULL "
            f"ORDER BY point, arrangement, replication, threat_id LIMIT {int(limit)}",
            params,
        )

    @_guarded
    def rows(self, table: str, selection: Selection) -> list[dict[str, Any]]:
        """The rows of one outcome table (``replications``, ``threat_outcomes``, ``events``) as
        dicts, without campaign_id and point, in key order."""
        if table not in ("replications", "threat_outcomes", "events"):
            raise ValueError(f"not an outcome table: {table}")
        where, params = selection.where()
        order = {"events": "seq", "threat_outcomes": "threat_id", "replications": "1"}[table]
        drop = {"campaign_id", "point"}
        return [
            {k: v for k, v in row.items() if k not in drop}
            for row in self.records(
                f"SELECT * FROM {table} WHERE {where} "
                f"ORDER BY point, arrangement, replication, {order}",
                params,
            )
        ]

    @_guarded
    def frame(self, table: str, selection: Selection):
        """One outcome table of a campaign as a pandas DataFrame with typed columns.

        Each swept input becomes a column of its own (named by its path, typed by its values);
        in ``replications`` the JSON tallies become integer columns ``shots_<partner>`` and
        ``rejected_<reason>`` (0 where absent)."""
        import pandas as pd

        if table not in ("replications", "threat_outcomes", "events"):
            raise ValueError(f"not an outcome table: {table}")
        where, params = selection.where()
        order = {"events": "seq", "threat_outcomes": "threat_id", "replications": "1"}[table]
        df = self._con.execute(
            f"SELECT * EXCLUDE (campaign_id) FROM {table} WHERE {where} "
            f"ORDER BY point, arrangement, replication, {order}",
            params,
        ).df()
        if table == "replications":
            for column, prefix in (
                ("shots_by_partner", "shots_"),
                ("rejected_messages", "rejected_"),
            ):
                decoded = [_decoded(t, dict, column, self.path) for t in df.pop(column)]
                keys = sorted({k for d in decoded for k in d})
                for key in keys:
                    df[prefix + key] = pd.array([int(d.get(key, 0)) for d in decoded], "int64")
        return sweep_columns(df, self.campaign(selection.campaign_id).points)

    # -- reading --------------------------------------------------------------------------------

    @_guarded
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query on the store (for reports and tests)."""
        return self._con.execute(sql, list(params)).fetchall()

    @_guarded
    def records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a read query and return its rows as dicts of plain Python values (NULL -> None)."""
        cursor = self._con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    @_guarded
    def columns(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any]:
        """Run a read query and return its columns as numpy arrays (NULL -> NaN in floats)."""
        import numpy as np

        out = {}
        for name, column in self._con.execute(sql, list(params)).fetchnumpy().items():
            if np.ma.isMaskedArray(column):
                if column.dtype.kind == "f":
                    column = column.filled(np.nan)
                elif column.dtype.kind in "iub":
                    column = np.ma.filled(column.astype(float), np.nan)
                else:
                    # ``filled(None)`` would fill with numpy's default '?': set the NULLs by hand.
                    data = np.asarray(column.data, dtype=object).copy()
                    data[np.ma.getmaskarray(column)] = None
                    column = data
            out[name] = np.asarray(column)
        return out

    @_guarded
    def export_parquet(self, out_dir: str | Path, campaign_id: int | None = None) -> list[Path]:
        """Write each table (rows of one campaign, or all) to ``OUT_DIR/<table>.parquet``.

        Checked first (``jointbmd.outputs``): ``out_dir`` is a directory or new, the files are
        new or Parquet files, none is the store itself."""
        from jointbmd.outputs import Output, check_directory_flag, check_outputs, make_parents

        out = Path(out_dir)
        if campaign_id is not None:
            self.campaign(campaign_id)  # raises on an unknown id
        check_directory_flag(out, "--out")
        outputs = [Output(out / f"{t}.parquet", "--out", "parquet", out) for t in TABLES]
        check_outputs(outputs, [self.path])
        make_parents(outputs)
        written = []
        for table, output in zip(TABLES, outputs, strict=True):
            where = ""
            if campaign_id is not None and table != "meta":
                where = f" WHERE campaign_id = {int(campaign_id)}"
            target = str(output.path).replace("'", "''")
            try:
                self._con.execute(
                    f"COPY (SELECT * FROM {table}{where}) TO '{target}' (FORMAT parquet)"
                )
            except duckdb.IOException as error:
                raise UserError(
                    f"cannot write: {_first_line(error)}", field="--out", file=str(output.path)
                ) from None
            written.append(output.path)
        return written


class _Transaction:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def __enter__(self) -> None:
        self._con.execute("BEGIN TRANSACTION")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self._con.execute("COMMIT")
        else:
            self._con.execute("ROLLBACK")


def _now() -> _dt.datetime:
    # Naive UTC: DuckDB's TIMESTAMP (TIMESTAMPTZ would need pytz to read back).
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


def _has_content(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def _is_locked(text: str) -> bool:
    # DuckDB: 'Could not set lock on file "...": Conflicting lock is held in ...'. Matched as a
    # phrase: the word "lock" also appears inside "block" in reports of corrupt blocks.
    return "could not set lock on file" in text.lower() or "conflicting lock" in text.lower()


def _check_header(path: Path) -> None:
    """Refuse, by its first bytes and without opening it, a file that is not a DuckDB file."""
    where = str(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as error:
        raise UserError(f"cannot read: {error.strerror or error}", file=where) from None
    offset, magic = DUCKDB_MAGIC
    if head[offset : offset + len(magic)] == magic:
        return
    kind = "a SQLite database" if head.startswith(b"SQLite format 3\0") else "not a DuckDB file"
    raise UserError(f"not a jointbmd results store ({kind}); it is left as it is", file=where)


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    where = str(path)
    if path.is_dir():
        raise UserError("is a directory, not a jointbmd results store", file=where)
    if read_only and not path.exists():
        raise UserError("no results store here (run `jointbmd campaign` first)", file=where)
    if not read_only and not path.parent.exists():
        raise UserError(f"directory {path.parent} does not exist", file=where)
    if path.exists():
        if _has_content(path):
            _check_header(path)
        elif read_only:
            raise UserError("empty file, not a jointbmd results store", file=where)
        else:
            # An empty file may become a store; DuckDB itself refuses to open one.
            try:
                os.remove(path)
            except OSError as error:
                raise UserError(f"cannot replace: {error.strerror}", file=where) from None
    try:
        return duckdb.connect(where, read_only=read_only, config=DUCKDB_CONFIG)
    except duckdb.Error as error:
        text = str(error)
        if _is_locked(text):
            reason = "the store is in use by another process (DuckDB allows one writer)"
        elif "not a valid DuckDB database" in text:
            reason = "not a jointbmd results store (not a DuckDB file)"
        else:
            reason = f"cannot open the store: {_first_line(error)}"
        raise UserError(reason, file=where) from None
