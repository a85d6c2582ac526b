"""The front door: jointbmd for notebooks and scripts, with pandas DataFrames out.

In: scenario names or files, results stores (DuckDB files).
Out: ``Scenario`` objects and result objects whose ``to_dataframe()`` gives a tidy pandas
DataFrame with typed columns (swept inputs as columns of their own, not JSON text).

A stored campaign in three lines::

    from jointbmd.api import open_campaign
    results = open_campaign("jointbmd-results.duckdb")  # the latest campaign; or campaign_id=N
    df = results.to_dataframe()                         # one row per sweep point x arrangement

From scratch (docs/tutorial.md walks through it)::

    from jointbmd import api
    scenario = api.load("lisbon2010")
    results = api.run(scenario, replications=20)        # a temporary store, read into memory
    results.to_dataframe()                              # P(no leak), leakers, interceptors ...
    results.threats()                                   # one row per threat and replication
    results.paired()                                    # each arrangement against a baseline
    results.plot()                                      # P(no leak) with its 95 % interval

The curated names (``__all__``) are the supported surface; everything else in the package is an
implementation detail that may change. Each function does what the command of the same name does
(``jointbmd run``, ``campaign``, ``compare``, ``reach``, ``footprint``, ``study``, ``view``) and
follows the same conventions (docs/design.md, Conventions): the seed defaults to the scenario's
``campaign.seed``; reported times are seconds since the threat's launch unless named otherwise
(record columns ending in ``_s`` -- ``launch_time_s``, ``intercept_time_s`` -- are seconds since
the scenario epoch); a user's mistake raises ``jointbmd.errors.UserError``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jointbmd.conventions import DEFAULT_STORE
from jointbmd.errors import UserError

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import pandas as pd

    from jointbmd.scenario import Scenario

__all__ = [
    "DEFAULT_STORE",
    "FootprintResults",
    "ReachResults",
    "Results",
    "StudyResults",
    "UserError",
    "ViewResults",
    "builtin_scenarios",
    "campaign",
    "campaigns",
    "compare",
    "footprint",
    "load",
    "open_campaign",
    "reach",
    "run",
    "study",
    "view",
]


# -- scenarios ----------------------------------------------------------------------------------


def load(scenario: str | Path) -> Scenario:
    """A scenario from a YAML file or a built-in name (``builtin_scenarios()``), validated."""
    from jointbmd.scenario import load_scenario

    return load_scenario(str(scenario))


def builtin_scenarios() -> list[str]:
    """The names of the scenarios shipped with jointbmd."""
    from jointbmd.scenario import builtin_names

    return list(builtin_names())


def _scenario(scenario: Scenario | str | Path) -> Scenario:
    return load(scenario) if isinstance(scenario, str | Path) else scenario


# -- campaigns ----------------------------------------------------------------------------------

_TABLES = ("replications", "threat_outcomes", "events")


@dataclass
class Results:
    """The replications of one campaign (or one ``run``): aggregates and raw rows as DataFrames.

    A result of ``campaign``/``open_campaign`` reads its store each time it is asked (read-only;
    the store may grow meanwhile); a result of ``run`` without a store holds its rows in memory.
    """

    scenario: str
    campaign_id: int
    seed: int
    arrangements: tuple[str, ...]
    sweep: tuple[str, ...]  # paths of the swept inputs (columns of every frame)
    replications_per_group: int
    store: Path | None = None
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _replications: int | None = field(default=None, repr=False)

    # Reading ---------------------------------------------------------------------------------

    def _selection(self):
        from jointbmd.store import Selection

        return Selection(
            self.campaign_id, replications=self._replications, arrangements=self.arrangements
        )

    def _read(self, what: str) -> pd.DataFrame:
        if what in self._frames:
            return self._frames[what].copy()
        if self.store is None:
            raise UserError("these results are gone (their temporary store was removed)")
        from jointbmd.store import Store

        with Store(self.store, read_only=True) as results:
            return _read_frame(results, what, self._selection())

    def to_dataframe(self) -> pd.DataFrame:
        """One row per (sweep point, arrangement): replications, no-leak count, P(no leak) with
        its 95 % Wilson interval (``p_no_leak_low``/``_high``), expected leakers and interceptors
        spent with Student-t 95 % intervals, mean shots per partner (``shots_<partner>``), mean
        times from threat launch to first firm track and to first interceptor launch (s)."""
        return self._read("aggregates")

    def replications(self) -> pd.DataFrame:
        """One row per replication and arrangement (and sweep point)."""
        return self._read("replications")

    def threats(self) -> pd.DataFrame:
        """One row per threat, replication and arrangement: the outcome records."""
        return self._read("threat_outcomes")

    def events(self) -> pd.DataFrame:
        """Every replication's timeline (launches, detections, votes, shots, kills)."""
        return self._read("events")

    def paired(self, baseline: str | None = None) -> pd.DataFrame:
        """Each arrangement against ``baseline`` (default ``independent``, else the first), paired
        on the same replications and threats, per sweep point (``analysis.paired``): mean
        differences of leakers, of "no leak", of interceptors spent and of launch-to-first-shot
        time, with 95 % intervals (paired t; Newcombe for "no leak")."""
        import pandas as pd

        from jointbmd.analysis.paired import paired_comparisons, resolve_baseline

        names = list(self.arrangements)
        baseline = resolve_baseline(names, baseline, field="baseline")
        threats = self.threats()
        rows = []
        for point, group in threats.groupby("point", sort=True):
            # None, not NaN, for "never" (the records' convention).
            records = group.astype(object).where(group.notna(), None).to_dict("records")
            for c in paired_comparisons(records, names, baseline):
                row: dict[str, Any] = {"point": int(point)}
                row.update({path: group[path].iloc[0] for path in self.sweep})
                row.update(arrangement=c.arrangement, baseline=c.baseline)
                row["pairs"] = c.replications
                for name in ("leakers", "no_leak", "interceptors_spent", "launch_to_first_shot_s"):
                    delta = getattr(c, name)
                    row[f"delta_{name}"] = delta.value
                    row[f"delta_{name}_low"], row[f"delta_{name}_high"] = delta.ci
                    row[f"delta_{name}_n"] = delta.n
                row["threats_both_engaged"] = c.threats_both_engaged
                row["engaged_only_here"] = c.engaged_only_here
                row["engaged_only_baseline"] = c.engaged_only_baseline
                rows.append(row)
        frame = pd.DataFrame(rows)
        for column in frame.columns:
            if column.startswith("delta_") and not column.endswith("_n"):
                frame[column] = frame[column].astype("float64")
        return frame

    def plot(self, metric: str = "p_no_leak", ax: Any = None, path: str | Path | None = None):
        """A bar (no sweep) or line (one swept input) chart of ``metric`` by arrangement, with
        its 95 % interval; returns the matplotlib Axes (and saves a PNG at ``path`` if given)."""
        from jointbmd.report.frames import dataframe_plot

        return dataframe_plot(self.to_dataframe(), metric, list(self.sweep), ax=ax, path=path)


def _aggregate_frame(store, selection) -> pd.DataFrame:
    import pandas as pd

    from jointbmd.campaign import aggregate
    from jointbmd.store import sweep_columns

    record = store.campaign(selection.campaign_id)
    groups = aggregate(
        store,
        selection.campaign_id,
        replications=selection.replications,
        arrangements=selection.arrangements,
    )
    partners = sorted({p for g in groups for p in g.shots_by_partner})
    rows = []
    for g in groups:
        row: dict[str, Any] = {
            "point": g.point,
            "arrangement": g.arrangement,
            "replications": g.replications,
            "no_leak": g.no_leak,
        }
        for name in ("p_no_leak", "expected_leakers", "interceptors_spent"):
            row[name] = getattr(g, name)
            row[f"{name}_low"], row[f"{name}_high"] = getattr(g, f"{name}_ci")
        for partner in partners:
            row[f"shots_{partner}"] = g.shots_by_partner.get(partner, 0.0)
        row["first_firm_track_delay_mean_s"] = g.first_firm_track_delay_mean_s
        row["first_launch_delay_mean_s"] = g.first_launch_delay_mean_s
        rows.append(row)
    columns = ["point", "arrangement", "replications", "no_leak"]
    frame = pd.DataFrame(rows, columns=columns + [c for c in (rows[0] if rows else {}) if c
                                                   not in columns])  # fmt: skip
    frame = frame.astype({"point": "int64", "replications": "int64", "no_leak": "int64"})
    for column in frame.columns[4:]:
        frame[column] = frame[column].astype("float64")
    frame["arrangement"] = frame["arrangement"].astype("string")
    return sweep_columns(frame, record.points)


def _read_frame(store, what: str, selection) -> pd.DataFrame:
    if what == "aggregates":
        return _aggregate_frame(store, selection)
    return store.frame(what, selection)


def _results(store, campaign_id: int, path: Path | None, replications: int | None = None,
             arrangements: Sequence[str] | None = None) -> Results:  # fmt: skip
    record = store.campaign(campaign_id)
    sweep: list[str] = []
    for values in record.points:
        sweep += [p for p in values if p not in sweep]
    return Results(
        scenario=record.scenario_name,
        campaign_id=record.campaign_id,
        seed=record.seed,
        arrangements=tuple(arrangements) if arrangements is not None else record.arrangements,
        sweep=tuple(sweep),
        replications_per_group=replications or record.replications,
        store=path,
        _replications=replications,
    )


def run(
    scenario: Scenario | str | Path,
    *,
    arrangements: Sequence[str] | str = "all",
    replications: int = 50,
    seed: int | None = None,
    workers: int | None = None,
    store: str | Path | None = None,
) -> Results:
    """The scenario end to end, ``replications`` times per arrangement (``jointbmd run``).

    Without ``store`` the replications go to a temporary store that is read into memory and
    removed; with it they are kept there (and the result reads them from it)."""
    from jointbmd import campaign as camp
    from jointbmd.simulation import arrangement_names
    from jointbmd.store import Store

    loaded = _scenario(scenario)
    seed = camp.scenario_seed(loaded) if seed is None else seed
    names = arrangement_names(loaded, arrangements)
    camp.plan_campaign(loaded, replications=replications, seed=seed, arrangements=names)
    single = camp.with_campaign(loaded, {"replications": replications, "seed": seed})
    with tempfile.TemporaryDirectory(prefix="jointbmd-api-") as scratch:
        path = Path(store) if store is not None else Path(scratch) / "run.duckdb"
        with Store(path) as results:
            with camp.make_executor(workers=workers) as executor:
                done = camp.run_campaign(
                    single,
                    results,
                    arrangements=names,
                    executor=executor,
                )
            out = _results(results, done.campaign_id, path, replications, names)
            if store is None:
                selection = out._selection()
                out._frames = {
                    what: _read_frame(results, what, selection) for what in ("aggregates", *_TABLES)
                }
                out.store = None
    return out


def campaign(
    scenario: Scenario | str | Path,
    *,
    store: str | Path = DEFAULT_STORE,
    replications: int | None = None,
    seed: int | None = None,
    arrangements: Sequence[str] | None = None,
    sweep: dict[str, Sequence[Any]] | None = None,
    campaign_file: str | Path | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> Results:
    """Run or resume the campaign the scenario (or ``campaign_file``) asks for, into ``store``
    (``jointbmd campaign``); returns what this call asked for.

    ``sweep`` (field path -> values, e.g. ``{"links[NATO-DFC].latency_s": [2, 10]}``) replaces
    the scenario's sweep, as a campaign file's ``sweep`` would (docs/scenario.md, Campaigns)."""
    from jointbmd import campaign as camp
    from jointbmd.store import Store

    loaded = _scenario(scenario)
    file = None
    if campaign_file is not None and sweep is not None:
        raise UserError("give sweep or campaign_file, not both", field="sweep")
    if campaign_file is not None:
        file = str(campaign_file)
        loaded = camp.with_campaign(loaded, camp.load_campaign_file(file), file)
    if sweep is not None:
        section = loaded.campaign
        data: dict[str, Any] = {
            "sweep": [{"path": path, "values": list(values)} for path, values in sweep.items()]
        }
        if section is not None:
            data.update(replications=section.replications, seed=section.seed)
        loaded = camp.with_campaign(loaded, data, "sweep")
    names = list(arrangements) if arrangements is not None else None
    plan = camp.plan_campaign(
        loaded, replications=replications, seed=seed, arrangements=names, file=file
    )
    camp.check_points(loaded, plan, file)
    with Store(store) as results:
        with camp.make_executor(workers=workers) as executor:
            done = camp.run_campaign(
                loaded,
                results,
                replications=replications,
                seed=seed,
                arrangements=names,
                executor=executor,
                progress=progress,
                file=file,
            )
        return _results(results, done.campaign_id, Path(store), plan.replications,
                        plan.arrangements)  # fmt: skip


def open_campaign(store: str | Path = DEFAULT_STORE, campaign_id: int | None = None) -> Results:
    """A stored campaign (default: the most recently run) -- what ``jointbmd compare`` shows."""
    from jointbmd.store import Store

    with Store(store, read_only=True) as results:
        return _results(results, results.campaign(campaign_id).campaign_id, Path(store))


def compare(store: str | Path = DEFAULT_STORE, campaign_id: int | None = None) -> pd.DataFrame:
    """The arrangements of a stored campaign by sweep point, with 95 % intervals (the table of
    ``jointbmd compare``): ``open_campaign(store, campaign_id).to_dataframe()``."""
    return open_campaign(store, campaign_id).to_dataframe()


def campaigns(store: str | Path = DEFAULT_STORE) -> pd.DataFrame:
    """The campaigns in a store (``jointbmd store list``): id, scenario, swept inputs,
    replications asked, replications stored, arrangements, created, updated."""
    import pandas as pd

    from jointbmd.store import Store

    with Store(store, read_only=True) as results:
        rows = results.campaign_summaries()
    columns = ["campaign_id", "scenario", "sweep", "replications", "stored", "arrangements",
               "created", "updated"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"campaign_id": "int64", "replications": "int64", "stored": "int64",
                         "scenario": "string"})  # fmt: skip


# -- reach, footprint, study, view --------------------------------------------------------------


@dataclass
class ReachResults:
    """Reach of each interceptor site against each threat route (``jointbmd reach``).
    ``result`` is the full ``jointbmd.analysis.reach.ReachResult`` (arrays for plots)."""

    result: Any

    def to_dataframe(self) -> pd.DataFrame:
        """One row per (site and interceptor, route): the reach row of ``jointbmd reach --json``
        with each per-commit-rule value in a column of its own, named ``<key>[<rule>]``:
        ``feasible``, ``limit`` (what forbids it; <NA> where feasible), ``intercept_time_s``,
        ``intercept_launch_s`` (interceptor launch), ``intercept_altitude_km``,
        ``intercept_ground_range_km`` (NaN where infeasible) and ``min_burnout_speed_mps`` (NaN
        where not searched or not found). Times are seconds since the threat's launch."""
        rules = [r.text for r in self.result.rules]
        rows = []
        for row in self.result.rows:
            out = {k: v for k, v in row.items() if not isinstance(v, dict)}
            for rule in rules:
                out[f"feasible[{rule}]"] = row["feasible"][rule]
                out[f"limit[{rule}]"] = row["limit"][rule]
                intercept = row["intercept"][rule] or {}
                for key in _INTERCEPT_KEYS:
                    out[f"intercept_{key}[{rule}]"] = intercept.get(key)
                out[f"min_burnout_speed_mps[{rule}]"] = row["min_burnout_speed_mps"][rule]
            rows.append(out)
        return _typed_frame(rows)

    def criteria(self) -> pd.DataFrame:
        """One row per (interceptor, site): the checkable criteria of the reach analysis, the
        closest approach of each route's ground track as ``closest_approach_km[<route>]``."""
        rows = []
        for row in self.result.criteria:
            out = {}
            for key, value in row.items():
                if isinstance(value, dict):
                    out.update({f"{key}[{k}]": v for k, v in value.items()})
                else:
                    out[key] = value
            rows.append(out)
        return _typed_frame(rows)

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()


_INTERCEPT_KEYS = ("time_s", "launch_s", "altitude_km", "ground_range_km")


def reach(scenario: Scenario | str | Path, **options: Any) -> ReachResults:
    """``jointbmd.analysis.reach.reach_analysis`` on the scenario (options: ``interceptors``,
    ``sites``, ``rules``, ``min_speed``)."""
    from jointbmd.analysis.reach import reach_analysis

    return ReachResults(reach_analysis(_scenario(scenario), **options))


@dataclass
class FootprintResults:
    """The defended footprint of one (threat type, launch area) over a region of equal-area
    cells (``jointbmd footprint``); ``result`` is the ``jointbmd.analysis.footprint.Footprint``."""

    result: Any

    def to_dataframe(self) -> pd.DataFrame:
        """The grid as a tidy frame, one row per cell: centre ``lat_deg``/``lon_deg``,
        ``area_km2``, ``reachable``, ``defended`` (by any unit), ``p_kill`` (best unit) and,
        per unit, ``defended[<unit>]``, ``p_kill[<unit>]``, ``margin_s[<unit>]``."""
        import pandas as pd

        fp = self.result
        grid, cells = fp.grid, fp.cells
        frame = pd.DataFrame(
            {
                "lat_deg": grid.lat_deg,
                "lon_deg": grid.lon_deg,
                "area_km2": grid.area_km2,
                "reachable": cells.reachable.astype(bool),
                "defended": fp.defended_mask(),
                "p_kill": cells.p_kill_all,
                "flight_time_s": cells.flight_time_s,
            }
        )
        for j, unit in enumerate(fp.setup.unit_names):
            frame[f"defended[{unit}]"] = fp.defended_mask(unit)
            frame[f"p_kill[{unit}]"] = cells.p_kill[:, j]
            frame[f"margin_s[{unit}]"] = cells.margin_s[:, j]
        return frame

    def assets(self) -> pd.DataFrame:
        """One row per defended asset: reachable, defended, the units defending it, p_kill."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"name": a.name, "partner": a.partner, "reachable": a.reachable,
                 "defended": a.defended, "units": ", ".join(a.units), "p_kill": a.p_kill}
                for a in self.result.assets
            ]
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()


def footprint(
    scenario: Scenario | str | Path, threat: str, launch: str, **options: Any
) -> FootprintResults:
    """``jointbmd.analysis.footprint.footprint`` (options: ``units``, ``arrangement``,
    ``cell_km``, ``region``, ``cue``)."""
    from jointbmd.analysis.footprint import footprint as compute

    return FootprintResults(compute(_scenario(scenario), threat, launch, **options))


@dataclass
class StudyResults:
    """A stored uncertainty study (``jointbmd study``): ``result`` is its JSON object."""

    result: dict[str, Any]

    def to_dataframe(self) -> pd.DataFrame:
        """The sensitivity indices, tidy: one row per (output, input, index) with ``value``,
        ``low`` and ``high`` (95 % bootstrap interval); NaN where not defined."""
        import pandas as pd

        rows = []
        for output, indices in self.result.get("indices", {}).items():
            for name, kinds in (indices or {}).items():
                for kind, index in kinds.items():
                    ci = index.get("ci") or [None, None]
                    rows.append(
                        {"output": output, "input": name, "index": kind,
                         "value": index.get("value"), "low": ci[0], "high": ci[1]}
                    )  # fmt: skip
        frame = pd.DataFrame(rows, columns=["output", "input", "index", "value", "low", "high"])
        return frame.astype({"value": "float64", "low": "float64", "high": "float64"})

    def inputs(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.result.get("inputs", []))


def study(
    scenario: Scenario | str | Path,
    study: str | Path,
    *,
    store: str | Path = DEFAULT_STORE,
    samples: int | None = None,
    replications: int | None = None,
    workers: int | None = None,
) -> StudyResults:
    """Run (or resume) an uncertainty study (a file or a built-in name) into ``store``."""
    from jointbmd import campaign as camp
    from jointbmd.analysis import sensitivity
    from jointbmd.analysis import study as st
    from jointbmd.store import Store

    loaded = _scenario(scenario)
    spec, where = st.load_study(str(study))
    st.check_against(spec, loaded, file=where)
    with Store(store) as results:
        with camp.make_executor(workers=workers) as executor:
            done = sensitivity.run_study(loaded, spec, results, samples=samples,
                                         replications=replications, executor=executor,
                                         file=where)  # fmt: skip
        return StudyResults(sensitivity.study_result(results, results.campaign(done.campaign_id)))


@dataclass
class ViewResults:
    """One replication replayed as a 3-D scene (``jointbmd view``): ``scene`` is the
    ``jointbmd.report.scene.Scene``, ``files`` what was written."""

    scene: Any
    out: Path
    files: list[Path]

    def to_dataframe(self) -> pd.DataFrame:
        """One row per threat of the replayed replication: its outcome record (the columns of
        ``Results.threats()``; times in seconds since the scenario epoch, None -> NaN)."""
        from dataclasses import asdict

        return _typed_frame([asdict(t) for t in self.scene.result.threats])

    def entities(self) -> dict[str, int]:
        """How many entities of each kind the scene draws (sites, threats, tracks, messages,
        flyouts, intercepts, leaks)."""
        from jointbmd.report.czml import expected_counts

        return expected_counts(self.scene)

    def to_dict(self) -> dict[str, Any]:
        """The ``jointbmd view --json`` object."""
        scene = self.scene
        return {
            "scenario": scene.scenario.name,
            "arrangement": scene.arrangement,
            "replication": scene.replication,
            "seed": scene.seed,
            "out": str(self.out),
            "files": [str(p) for p in self.files],
            "entities": self.entities(),
        }


def view(
    scenario: Scenario | str | Path,
    out: str | Path,
    *,
    arrangement: str | None = None,
    replication: int = 0,
    seed: int | None = None,
    czml_only: bool = False,
) -> ViewResults:
    """Write one replication as CZML and an offline Cesium page into ``out``
    (``jointbmd view``; default arrangement: the first joint one)."""
    from jointbmd.campaign import scenario_seed
    from jointbmd.report.scene import replay
    from jointbmd.report.viewer import write_viewer

    loaded = _scenario(scenario)
    if arrangement is None:
        joint = [a.name for a in loaded.arrangements if a.kind == "joint"]
        arrangement = joint[0] if joint else loaded.arrangements[0].name
    seed = scenario_seed(loaded) if seed is None else seed
    scene = replay(loaded, arrangement, replication, seed)
    files = [Path(p) for p in write_viewer(scene, Path(out), czml_only=czml_only)]
    return ViewResults(scene, Path(out), files)


def _typed_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rows of JSON-like scalars as a frame whose column types follow the values, with None as
    missing: numbers -> float64 (NaN; int64 when all are integers and none is missing), text ->
    string (<NA>), true/false -> bool (boolean with <NA> when one is missing)."""
    import pandas as pd

    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    data = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        present = [v for v in values if v is not None]
        missing = len(present) < len(values)
        if present and all(isinstance(v, bool) for v in present):
            dtype = "boolean" if missing else "bool"
        elif present and all(isinstance(v, str) for v in present):
            dtype = "string"
        elif present and all(isinstance(v, int) for v in present) and not missing:
            dtype = "int64"
        elif all(isinstance(v, int | float) for v in present):
            dtype = "float64"
            values = [float("nan") if v is None else v for v in values]
        else:
            dtype = "object"
        data[column] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
