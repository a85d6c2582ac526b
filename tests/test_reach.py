"""``jointbmd reach``: a tail chase from behind a faster missile is never feasible, feasibility is
monotone in commit time and in interceptor speed, the JSON carries the issue's keys, and bad
names and rules are one-line errors."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from jointbmd.analysis import reach
from jointbmd.analysis.validation_scenarios import tail_chase


@pytest.fixture(scope="module")
def chase():
    return tail_chase(behind=True)


@pytest.fixture(scope="module")
def head_on():
    return tail_chase(behind=False)


def test_tail_chase_from_behind_a_faster_missile_is_never_feasible(chase, head_on):
    rules = ["launch", "burnout", "burnout+60", "0", "30"]
    result = reach.reach_analysis(chase, rules=rules, min_speed=False)
    (row,) = result.rows
    assert not any(row["feasible"].values())
    assert row["latest_commit_s"] is None and row["latest_commit_after_burnout_s"] is None
    assert set(row["limit"].values()) == {"kinematic"}  # the envelope is wide: no cap binds
    # Not vacuous: the same interceptor meets the same missile head-on, even after burnout.
    (control,) = reach.reach_analysis(head_on, rules=rules, min_speed=False).rows
    assert all(control["feasible"].values())
    assert control["latest_commit_after_burnout_s"] > 0


def test_feasibility_is_monotone_in_commit_time(head_on):
    commits = [str(c) for c in range(0, 1500, 50)]
    result = reach.reach_analysis(head_on, rules=commits, min_speed=False)
    (row,) = result.rows
    ok = np.array([row["feasible"][c] for c in commits])
    assert ok[0] and not ok[-1]
    assert np.all(np.diff(ok.astype(int)) <= 0)  # once infeasible, infeasible for later commits
    # The latest commit separates them.
    latest = row["latest_commit_s"]
    np.testing.assert_array_equal(ok, np.array([float(c) <= latest for c in commits]))
    times = [row["intercept"][c]["time_s"] for c in commits if row["feasible"][c]]
    assert np.all(np.diff(times) >= -1e-6)


def test_feasibility_is_monotone_in_interceptor_speed(head_on, chase):
    for scenario in (head_on, chase):
        routes = reach.routes_of(scenario)
        units = reach.units_of(scenario)
        geometry = reach._site_geometry(reach.fly_routes(scenario, routes), units, scenario.model)
        speeds = np.arange(1000.0, 9001.0, 1000.0)
        types = [dataclasses.replace(units[0].interceptor, burnout_speed_mps=v) for v in speeds]
        pairs = (np.zeros(len(types), int), np.zeros(len(types), int))
        latest = reach.latest_commit(geometry, types, pairs)
        assert np.all(np.diff(latest) >= 0)
        assert np.isfinite(latest[-1])  # 9 km/s catches even the tail chase if launched early


def test_minimum_speed_brackets_the_feasible_speeds(head_on):
    result = reach.reach_analysis(head_on, rules=["launch", "burnout+200"])
    (row,) = result.rows
    for rule, v_min in row["min_burnout_speed_mps"].items():
        assert v_min is not None
        # The type's own speed (2.5 km/s) is feasible, so the minimum is no higher (within the
        # search resolution and the coarser search table's one-cell conservatism).
        assert v_min <= 2500.0 + 2 * reach.SPEED_RESOLUTION_MPS, rule
        assert v_min >= reach.SPEED_MIN_MPS
    assert row["min_burnout_speed_mps"]["launch"] <= row["min_burnout_speed_mps"]["burnout+200"]


def test_commit_rules_parse():
    assert reach.parse_commit_rule("launch").time_s(np.array([100.0]))[0] == 0.0
    assert reach.parse_commit_rule("burnout").time_s(np.array([100.0]))[0] == 100.0
    assert reach.parse_commit_rule("burnout+30").time_s(np.array([100.0]))[0] == 130.0
    assert reach.parse_commit_rule("45").time_s(np.array([100.0]))[0] == 45.0


def _run(*args):
    return subprocess.run([sys.executable, "-c", "from jointbmd.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory, head_on):
    path = tmp_path_factory.mktemp("reach") / "head_on.yaml"
    path.write_text(yaml.safe_dump(head_on.model_dump(mode="json")))
    return path


def test_reach_json_has_the_issue_keys(scenario_file, tmp_path):
    out = _run("reach", str(scenario_file), "--commit", "launch", "--commit", "burnout+60",
               "--json", "--plot", str(tmp_path / "plots"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    (row,) = doc["rows"]
    for key in ("site", "interceptor", "threat", "launch", "aimpoint", "feasible",
                "latest_commit_after_burnout_s", "min_burnout_speed_mps"):  # fmt: skip
        assert key in row
    assert set(row["feasible"]) == {"launch", "burnout+60"}
    assert set(row["min_burnout_speed_mps"]) == {"launch", "burnout+60"}
    assert row["launch"] == "Launch" and row["aimpoint"] == "Target"
    assert doc["criteria"][0]["range_limit"] in ("kinematic", "cap")
    assert len(doc["plots"]) == 3
    assert all(Path(p).stat().st_size > 0 for p in doc["plots"])


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--interceptor", "no such type"], "--interceptor"),
        (["--site", "Atlantis"], "--site"),
        (["--commit", "burnout-5"], "--commit"),
        (["--commit", "soon"], "--commit"),
    ],
)
def test_bad_names_and_rules_are_one_line_errors(scenario_file, args, field):
    out = _run("reach", str(scenario_file), "--no-min-speed", *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in out.stderr


@pytest.mark.slow  # ~25 s CPU: the three SM-3 reach tables and 15 footprint aims
def test_reach_and_footprint_agree_on_the_same_unit_route_and_commit():
    """The same fire unit, route and earliest launch, through both commands' analyses: reach
    (threat flown every 2 s, perfect track at the commit time) says feasible iff the footprint
    (5 s samples, fixed cue plus the arrangement's decision delay) says the aimpoint is engaged,
    and both find the same latest launch within the footprint's sample spacing."""
    from jointbmd.analysis import footprint as fpm
    from jointbmd.scenario import load_scenario

    scenario = load_scenario("epaa2018")
    cues = (30.0, 120.0, 240.0)
    probe = fpm.setup(scenario, "IRBM-X", "Semnan", cue=0.0)
    rules = [f"{c + probe.decision_delay_s:g}" for c in cues]
    result = reach.reach_analysis(scenario, rules=rules, min_speed=False)
    fire_units = {(s.name, fu.interceptor_type): fu.name
                  for s in scenario.sites for fu in s.fire_units}  # fmt: skip
    footprints = {}  # (threat, launch, cue) -> (setup, results at the route's aimpoint)
    compared = both = 0
    for row in result.rows:
        unit = fire_units.get((row["site"], row["interceptor"]))
        if unit is None:  # a type the site does not hold: not a footprint unit
            continue
        asset = scenario.defended_asset(row["aimpoint"])
        for cue, rule in zip(cues, rules, strict=True):
            key = (row["threat"], row["launch"], row["aimpoint"], cue)
            if key not in footprints:
                s = fpm.setup(scenario, row["threat"], row["launch"], cue=cue)
                footprints[key] = s, fpm.aimpoint_results(s, [asset.lat_deg], [asset.lon_deg],
                                                          [asset.partner])  # fmt: skip
            s, fp = footprints[key]
            j = s.unit_names.index(unit)
            latest = row["latest_commit_s"]
            if latest is not None and abs(latest - float(rule)) < 2 * s.step_s:
                continue  # within the sample spacing of the edge: either answer is right
            assert bool(fp.defended[0, j]) == row["feasible"][rule], (unit, row["aimpoint"], rule)
            compared += 1
            if row["feasible"][rule]:
                both += 1
                assert fp.latest_launch_s[0, j] == pytest.approx(latest, abs=2 * s.step_s)
    assert compared >= 20 and 0 < both < compared  # both answers occur: not vacuous
