"""``jointbmd.api``: the DataFrames say what the command line's JSON says, with typed columns;
a stored campaign reads back in three lines; mistakes are ``UserError``s."""

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


@pytest.mark.slow
def test_footprint_frame_adds_up_to_the_footprint():
    fp = api.footprint("epaa2018", "Shahab-3", "Tabriz", cell_km=400)
    df = fp.to_dataframe()
    summary = fp.to_dict()
    assert df["area_km2"].sum() == pytest.approx(summary["region_area_km2"])
    assert df.loc[df["reachable"], "area_km2"].sum() == pytest.approx(summary["reachable_area_km2"])
    for unit in summary["units"]:
        defended = df.loc[df[f"defended[{unit}]"], "area_km2"].sum()
        assert defended == pytest.approx(summary["defended_area_km2"][unit])
    assert list(fp.assets()["name"]) == [a["name"] for a in summary["assets"]]
