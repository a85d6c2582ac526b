"""Uncertainty studies: the estimator against known indices, points, a tiny study end to end.

``study_replication`` (conftest.py) is a small but real replication function that reads the study's
inputs from the scenario it is given: SM-3 Block IA's SSPK, whether Deveselu exists, the
joint-consensus vote latency (a vote slower than 100 s loses every threat) and the links' latency.
So its indices, thresholds and conclusion shares are known in advance: Deveselu dominates, the
vote latency matters only to joint-consensus, the link latency matters to nothing.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import TINY_STUDY, jointbmd_in_process, study_replication
from jointbmd.analysis import sensitivity as se
from jointbmd.analysis import study as st
from jointbmd.errors import UserError
from jointbmd.scenario import load_scenario
from jointbmd.store import Store

HERE = Path(__file__).resolve().parent
FUNCTION = ["--replication-function", "conftest:study_replication"]
SLOW_FUNCTION = ["--replication-function", "conftest:study_replication_slow"]
TINY = TINY_STUDY


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from jointbmd.cli import main; main()", *args],
        capture_output=True, text=True, env=_env(), timeout=timeout,
    )  # fmt: skip


# --- the estimator --------------------------------------------------------------------------


def test_sobol_indices_of_the_ishigami_function():
    """Ishigami & Homma (1990), a = 7, b = 0.1, inputs uniform on [-pi, pi]: analytic indices
    S1 = (0.3139, 0.4424, 0), ST = (0.5576, 0.4424, 0.2437) (Saltelli et al., *Global
    Sensitivity Analysis: The Primer*, 2008, sec. 4.8)."""
    study = st.Study.model_validate({
        **TINY,
        "design": {"method": "sobol", "samples": 1024, "seed": 3, "bootstrap": 100},
        "inputs": [{"name": f"x{i}", "paths": ["epoch"], "range": [-math.pi, math.pi],
                    "source": "Ishigami"} for i in (1, 2, 3)],
        "thresholds": [], "conclusions": [],
    })  # fmt: skip
    unit = st.unit_design(study, 1024)
    x = np.array([[spec.value(u) for spec, u in zip(study.inputs, row, strict=True)]
                  for row in unit])  # fmt: skip
    y = np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
    indices = se.sobol_indices(study, y)
    first = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
    total = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}
    for name in first:
        for kind, truth in (("first", first[name]), ("total", total[name])):
            got = indices[name][kind]
            assert got["value"] == pytest.approx(truth, abs=0.05), (name, kind, got)
            low, high = got["ci"]
            assert low - 0.02 <= truth <= high + 0.02, (name, kind, got)
    # A constant output has no indices.
    assert se.sobol_indices(study, np.ones_like(y)) is None


def test_input_distributions_map_the_unit_interval():
    spec = st.StudyInput(name="r", paths=["x"], distribution="loguniform", range=[0.01, 1.0],
                         source="s")  # fmt: skip
    assert spec.value(0.0) == pytest.approx(0.01)
    assert spec.value(0.5) == pytest.approx(0.1)
    tri = st.StudyInput(name="t", paths=["x"], distribution="triangular", range=[0.0, 4.0],
                        nominal=1.0, source="s")  # fmt: skip
    assert tri.value(0.25) == pytest.approx(1.0)  # the mode at 1/4 of the way holds 1/4 below
    choice = st.StudyInput(name="c", paths=["x"], distribution="choice", values=["a", "b"],
                           source="s")  # fmt: skip
    assert [choice.value(u) for u in (0.1, 0.6)] == ["a", "b"]
    presence = st.StudyInput(name="p", paths=["x"], distribution="presence", probability=0.25,
                             source="s")  # fmt: skip
    assert [presence.value(u) for u in (0.2, 0.3)] == [True, False]


# --- points -----------------------------------------------------------------------------------


def test_points_set_tied_fields_mappings_and_remove_entries():
    scenario = load_scenario("lisbon2010")
    study = st.Study.model_validate({
        **TINY,
        "inputs": TINY["inputs"] + [
            {"name": "votes", "distribution": "choice", "source": "notional",
             "paths": ["arrangements[joint-consensus].vote_latency_s"],
             "values": [{"NATO": 20.0, "Russia": 20.0}, {"NATO": 10.0, "Russia": 150.0}]},
        ],
    })  # fmt: skip
    point = st.build_point(scenario, study, {
        "sspk": 0.55, "vote": 99.0, "links": 7.5, "deveselu": False,
        "votes": {"NATO": 10.0, "Russia": 150.0},
    })  # fmt: skip
    assert [link.latency_s for link in point.links] == [7.5, 7.5]
    assert point.interceptor_type("SM-3 Block IA").sspk == 0.55
    assert "Deveselu" not in [s.name for s in point.sites]
    assert len(point.sites) == len(scenario.sites) - 1
    # The mapping-valued input is applied after the entry input: it wins.
    assert point.arrangement("joint-consensus").vote_latency_s == {"NATO": 10.0, "Russia": 150.0}
    with pytest.raises(UserError, match="sspk"):
        st.build_point(scenario, study, {"sspk": 1.5, "vote": 9.0, "links": 1.0,
                                         "deveselu": True, "votes": {"NATO": 1.0}})  # fmt: skip


def test_builtin_study_fits_its_scenario_and_its_schema():
    import jsonschema

    study, _ = st.load_study("lisbon2010-uncertainty")
    scenario = load_scenario(study.scenario)
    nominal = st.check_against(study, scenario)
    assert len(study.inputs) >= 6
    assert all(spec.source.strip() for spec in study.inputs)
    assert nominal["tpy2_reference_rcs"] == 1.0 and nominal["deveselu"] is True
    # TPY-2's range is the scenario's own span of its reference cross-section.
    span = scenario.sensor_type("AN/TPY-2").reference_rcs_span_m2
    assert tuple(study.input("tpy2_reference_rcs").range) == tuple(span)
    data = yaml.safe_load((st.BUILTIN_DIR / "lisbon2010-uncertainty.yaml").read_text())
    jsonschema.validate(data, st.study_schema())
    # The documented schema is the model's.
    documented = json.loads((HERE.parent / "docs" / "study.schema.json").read_text())
    assert documented == json.loads(json.dumps(st.study_schema()))


# --- a tiny study end to end ------------------------------------------------------------------


def _tiny(tmp_path: Path, **change) -> tuple[st.Study, Path]:
    data = {**TINY, **change}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return st.validate_study(data), path


def test_tiny_study_finds_its_drivers_threshold_and_shares(tmp_path):
    study, _ = _tiny(tmp_path)
    scenario = load_scenario("lisbon2010")
    with Store(tmp_path / "s.duckdb") as store:
        run = se.run_study(scenario, study, store, replication_function=study_replication)
        again = se.run_study(scenario, study, store, replication_function=study_replication)
        result = se.study_result(store, store.campaign(run.campaign_id))
    assert again.ran == 0 and again.campaign_id == run.campaign_id  # resumed: nothing to do
    assert run.points == 8 * (4 + 2) + 1 + 4 * 2
    joint = result["indices"]["p_no_leak[joint-consensus]"]
    # Deveselu and the vote decide joint-consensus; the links do nothing.
    assert joint["deveselu"]["total"]["value"] > 0.3
    assert joint["vote"]["total"]["value"] > 0.1
    assert abs(joint["links"]["total"]["value"]) < 0.05
    alone = result["indices"]["expected_leakers[independent]"]
    assert alone["vote"]["total"]["value"] == pytest.approx(0.0, abs=0.05)
    assert alone["deveselu"]["total"]["value"] > 0.3
    tornado = result["tornado"]["p_no_leak[joint-consensus]"]
    # Common random numbers: an input that changes nothing swings the output by exactly 0.
    assert tornado[-1]["input"] == "links" and tornado[-1]["swing"] == 0.0
    assert {bar["input"] for bar in tornado[:3]} == {"sspk", "deveselu", "vote"}
    (threshold,) = result["thresholds"]
    assert threshold["crosses"] and threshold["direction"] == "falls"
    low, high = threshold["bracket"]
    assert low <= 100.0 <= high and high - low <= 175.0 / 2**5 + 1e-9
    (conclusion,) = result["conclusions"]
    # Holds exactly where Deveselu exists (about half the space), not at all where it does not.
    assert 0.25 <= conclusion["share"] <= 0.75
    assert conclusion["holds_at_nominal"]
    for name in ("inputs", "indices", "thresholds", "conclusions"):
        assert name in result


@pytest.mark.slow
def test_tiny_study_cli_same_numbers_on_dask_and_after_kill(tmp_path):
    _, path = _tiny(tmp_path, design={**TINY["design"], "samples": 4})
    args = ["study", "lisbon2010", "--study", str(path), "--json"]
    one = _cli(*args, "--store", str(tmp_path / "a.duckdb"), *FUNCTION)
    assert one.returncode == 0, one.stderr
    reference = json.loads(one.stdout)
    # Killed mid-way with SIGKILL, then resumed.
    store = tmp_path / "b.duckdb"
    marks = tmp_path / "marks"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from jointbmd.cli import main; main()", *args, "--store",
         str(store), *SLOW_FUNCTION], env={**_env(), "JOINTBMD_TEST_MARKS": str(marks)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if marks.exists() and len(marks.read_text()) >= 60:
            break
    assert proc.poll() is None, "the study finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = _cli(*args, "--store", str(store), "--workers", "2", *SLOW_FUNCTION)
    assert resumed.returncode == 0, resumed.stderr
    got = json.loads(resumed.stdout)
    assert 0 < got["run"]["ran"] < reference["run"]["ran"]
    for key in ("indices", "thresholds", "conclusions", "outputs", "tornado"):
        assert got[key] == reference[key], key


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"inputs": [{"name": "x", "paths": ["links[0].nope"], "range": [0, 1],
                      "source": "s"}]}, "inputs[0].paths[0]"),
        ({"inputs": [{"name": "x", "paths": ["links[0].latency_s"], "range": [0, 1]}]},
         "inputs.0.source"),
        ({"arrangements": ["independent", "nobody"]}, "arrangements[1]"),
        ({"inputs": [{"name": "x", "paths": ["links[0].latency_s"], "range": [2, 1],
                      "source": "s"}]}, "inputs.0"),
    ],
)  # fmt: skip
def test_bad_study_files_fail_in_one_line(tmp_path, change, field):
    """The console script's ``main`` in this process for most files; the first through a new
    process, for the exit status a shell sees."""
    data = {**TINY, **change, "thresholds": [], "conclusions": []}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    args = ("study", "lisbon2010", "--study", str(path), "--store", str(tmp_path / "x.duckdb"))
    if field == "inputs[0].paths[0]":
        done = _cli(*args)
        code, err = done.returncode, done.stderr
    else:
        code, _, err = jointbmd_in_process(*args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert str(path) in err and "Traceback" not in err
    assert field.split(".")[0] in err
    assert not (tmp_path / "x.duckdb").exists()
