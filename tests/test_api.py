"""``jointbmd.api``: the DataFrames say what the command line's JSON says, with typed columns
(campaigns, reach, footprint, study, view, each against the command's ``--json`` for the same
inputs); a stored campaign reads back in three lines; mistakes are ``UserError``s."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import SSPK_PATH, tiny_replication
from jointbmd import api
from jointbmd.errors import UserError
from jointbmd.outcomes import ThreatOutcome
from jointbmd.store import Store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from jointbmd import campaign as camp
    from jointbmd.scenario import load_scenario

    path = tmp_path_factory.mktemp("api") / "s.duckdb"
    scenario = camp.with_campaign(
        load_scenario("lisbon2010"),
        {"replications": 4, "seed": 3, "sweep": [{"path": SSPK_PATH, "values": [0.2, 0.95]}]},
    )
    with Store(path) as results:
        camp.run_campaign(scenario, results, replication_function=tiny_replication)
    return path


def test_three_lines_from_a_stored_campaign(store):
    results = api.open_campaign(store)
    df = results.to_dataframe()
    assert df[SSPK_PATH].dtype == "float64" and set(df[SSPK_PATH]) == {0.2, 0.95}
    assert len(df) == 2 * 5 and (df["replications"] == 4).all()
    # The same numbers as the compare command's rows (the store's aggregate).
    from jointbmd.campaign import aggregate

    with Store(store, read_only=True) as s:
        rows = aggregate(s, results.campaign_id)
    for row, (_, got) in zip(rows, df.iterrows(), strict=True):
        assert (
            got["arrangement"] == row.arrangement and got[SSPK_PATH] == row.sweep_values[SSPK_PATH]
        )
        assert got["p_no_leak"] == row.p_no_leak
        assert (got["p_no_leak_low"], got["p_no_leak_high"]) == row.p_no_leak_ci
    # A higher SSPK kills more: the sweep column orders the outcome as the physics says.
    mean = df.groupby(SSPK_PATH)["expected_leakers"].mean()
    assert mean[0.95] < mean[0.2]


def test_raw_tables_have_typed_columns(store):
    results = api.open_campaign(store)
    reps = results.replications()
    assert reps["no_leak"].dtype == bool and reps["leakers"].dtype.kind == "i"
    assert {"shots_NATO", "shots_Russia", "rejected_replay"} <= set(reps.columns)
    assert "shots_by_partner" not in reps.columns  # no JSON text
    threats = results.threats()
    assert threats["intercept_time_s"].dtype == "float64" and threats["killed"].dtype == bool
    assert SSPK_PATH in threats.columns and len(threats) == 2 * 5 * 4 * 8
    assert len(results.events()) == 2 * len(threats)  # tiny_replication logs launch and shot


def test_store_lists_and_refuses_an_unknown_campaign(store):
    with Store(store, read_only=True) as s:
        assert [c.campaign_id for c in s.campaigns()] == [1]
    listed = api.campaigns(store)
    assert listed.loc[0, "stored"] == 2 * 5 * 4 and listed.loc[0, "sweep"] == [SSPK_PATH]
    with pytest.raises(UserError, match="no campaign 7"):
        api.open_campaign(store, 7)


def test_store_columns_are_the_outcome_fields(store):
    with Store(store, read_only=True) as s:
        columns = [r[0] for r in s.query("DESCRIBE threat_outcomes")]
    fields = [f.name for f in dataclasses.fields(ThreatOutcome)]
    assert columns == ["campaign_id", "point", "arrangement", "replication", *fields]


# -- reach, footprint, study, view: the frames say what the command's --json says ---------------


def _cli_json(args, capsys):
    """``jointbmd ARGS --json`` in this process: its one JSON object."""
    import json

    from jointbmd.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main([*args, "--json"])
    out, err = capsys.readouterr()
    assert done.value.code == 0, err
    return json.loads(out)


def _same(got, want):
    """A frame cell against a JSON value: NaN / <NA> is the JSON null."""
    import pandas as pd

    if want is None:
        return bool(pd.isna(got))
    return got == pytest.approx(want) if isinstance(want, float) else got == want


def test_reach_frame_is_the_reach_json(capsys):
    # One site, one interceptor, two commit rules, no speed search: seven ICBM routes.
    args = ["reach", "deterrent", "--site", "Redzikowo", "--interceptor", "SM-3 IIA",
            "--commit", "launch", "--commit", "burnout", "--no-min-speed"]  # fmt: skip
    doc = _cli_json(args, capsys)
    reach = api.reach("deterrent", sites=["Redzikowo"], interceptors=["SM-3 IIA"],
                      rules=["launch", "burnout"], min_speed=False)  # fmt: skip
    df = reach.to_dataframe()
    assert len(df) == len(doc["rows"]) > 1
    assert df["site"].dtype == "string" and df["feasible[launch]"].dtype == bool
    assert df["intercept_time_s[burnout]"].dtype == "float64"
    assert df["min_burnout_speed_mps[launch]"].dtype == "float64"  # not searched: all NaN
    for (_, got), row in zip(df.iterrows(), doc["rows"], strict=True):
        for key in ("site", "interceptor", "threat", "launch", "aimpoint", "latest_commit_s",
                    "latest_commit_after_burnout_s", "closest_approach_km"):  # fmt: skip
            assert _same(got[key], row[key]), key
        for rule in ("launch", "burnout"):
            assert got[f"feasible[{rule}]"] == row["feasible"][rule]
            assert _same(got[f"limit[{rule}]"], row["limit"][rule])
            for key in ("time_s", "altitude_km", "ground_range_km"):
                want = row["intercept"][rule] and row["intercept"][rule][key]
                assert _same(got[f"intercept_{key}[{rule}]"], want)
    # Reach is monotone in the commit time: what is feasible at burnout is feasible at launch,
    # and an infeasible answer names its limit, a feasible one none.
    assert not (df["feasible[burnout]"] & ~df["feasible[launch]"]).any()
    for rule in ("launch", "burnout"):
        assert (df[f"limit[{rule}]"].isna() == df[f"feasible[{rule}]"]).all()
        assert (df[f"intercept_time_s[{rule}]"].notna() == df[f"feasible[{rule}]"]).all()
    criteria = reach.criteria()
    (want,) = doc["criteria"]
    assert criteria.loc[0, "range_km"] == pytest.approx(want["range_km"])
    assert criteria["inventory"].dtype == "int64" and criteria["range_cap_km"].dtype == "float64"
    for route, km in want["closest_approach_km"].items():
        assert criteria.loc[0, f"closest_approach_km[{route}]"] == pytest.approx(km)


def test_footprint_frame_is_the_footprint_json(capsys):
    # 800 km cells: a coarse grid, still several cells and every unit.
    doc = _cli_json(["footprint", "lisbon2010", "--threat", "IRBM-X", "--launch", "Semnan",
                     "--grid-km", "800"], capsys)  # fmt: skip
    fp = api.footprint("lisbon2010", "IRBM-X", "Semnan", cell_km=800.0)
    df = fp.to_dataframe()
    assert len(df) == doc["cells"] > 1
    assert df["reachable"].dtype == bool and df["p_kill"].dtype == "float64"
    assert df["area_km2"].sum() == pytest.approx(doc["region_area_km2"])
    assert df.loc[df["reachable"], "area_km2"].sum() == pytest.approx(doc["reachable_area_km2"])
    for unit in doc["units"]:
        defended = df.loc[df[f"defended[{unit}]"] & df["reachable"], "area_km2"].sum()
        assert defended == pytest.approx(doc["defended_area_km2"][unit])
    assets = fp.assets()
    assert list(assets["name"]) == [a["name"] for a in doc["assets"]]
    assert list(assets["defended"]) == [a["defended"] for a in doc["assets"]]


def test_study_frame_is_the_study_json(tmp_path, capsys):
    import yaml

    from conftest import TINY_STUDY

    study = {**TINY_STUDY, "design": {**TINY_STUDY["design"], "samples": 4}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(study))
    store = tmp_path / "study.duckdb"
    doc = _cli_json(["study", "lisbon2010", "--study", str(path), "--store", str(store),
                     "--replication-function", "conftest:study_replication"], capsys)  # fmt: skip
    assert doc["run"]["ran"] > 0
    # The same study on the same store resumes: nothing left to run, the stored indices read.
    result = api.study("lisbon2010", path, store=store)
    df = result.to_dataframe()
    assert df["value"].dtype == "float64" and df["low"].dtype == "float64"
    want = {
        (output, name, kind): index
        for output, indices in doc["indices"].items()
        for name, kinds in (indices or {}).items()
        for kind, index in kinds.items()
    }
    assert len(df) == len(want) > 0
    for row in df.itertuples():
        index = want[(row.output, row.input, row.index)]
        assert _same(row.value, index["value"])
        assert _same(row.low, (index["ci"] or [None])[0])
    assert list(result.inputs()["name"]) == [i["name"] for i in doc["inputs"]]
    # study_replication's known driver: Deveselu decides joint-consensus (conftest.py).
    joint = df[(df["output"] == "p_no_leak[joint-consensus]") & (df["index"] == "total")]
    assert joint.set_index("input").loc["deveselu", "value"] > 0.3


@pytest.mark.slow  # one replication replayed twice: ~6 s CPU
def test_view_frame_is_the_view_json(tmp_path, capsys):
    import yaml

    from jointbmd.scenario import load_scenario

    # lisbon2010 with its first raid only: one replication is quick and still engages.
    data = load_scenario("lisbon2010").model_dump(mode="json")
    data["raids"] = data["raids"][:1]
    path = tmp_path / "one-raid.yaml"
    path.write_text(yaml.safe_dump(data))
    doc = _cli_json(["view", str(path), "--out", str(tmp_path / "cli"), "--czml-only",
                     "--arrangement", "data-exchange", "--seed", "5"], capsys)  # fmt: skip
    view = api.view(path, tmp_path / "api", arrangement="data-exchange", seed=5, czml_only=True)
    got = view.to_dict()
    assert {k: v for k, v in got.items() if k not in ("out", "files")} == {
        k: v for k, v in doc.items() if k not in ("out", "files")
    }
    assert [p.name for p in view.files] == ["scene.czml"] and view.files[0].stat().st_size > 0
    df = view.to_dataframe()
    assert len(df) == doc["entities"]["threat"] == data["raids"][0]["count"]
    assert int((~df["killed"]).sum()) == doc["entities"]["leak"]
    assert df["killed"].dtype == bool and df["intercept_time_s"].dtype == "float64"
    assert df["raid"].dtype == "string" and (df["raid"] == data["raids"][0]["name"]).all()
