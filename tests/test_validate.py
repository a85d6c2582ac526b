"""The validation table: every registered check passes, and ``jointbmd validate`` reports it."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from jointbmd.analysis import validate
from jointbmd.cli import main
from jointbmd.errors import UserError


@pytest.fixture(scope="module")
def checks() -> list[validate.Check]:
    return validate.run_checks()


def test_every_check_passes(checks):
    """Every check passes, or fails with its cause reported (a published claim jointbmd does
    not reproduce); a passing check carries no stale cause."""
    assert checks, "no validation checks registered"
    assert not [c.name for c in checks if c.passed and c.disagreement]
    failed = [c for c in checks if not c.accounted]
    assert not failed, "\n".join(
        f"{c.group}: {c.name}: expected {c.expected}, obtained {c.obtained}, "
        f"tolerance {c.tolerance} {c.tolerance_kind}"
        for c in failed
    )


def test_checks_are_well_formed(checks):
    names = [(c.group, c.name) for c in checks]
    assert len(names) == len(set(names)), "duplicate check names"
    for c in checks:
        assert c.group in validate.group_names()
        assert c.source.strip(), f"{c.name}: no source"
        assert c.tolerance >= 0 and c.tolerance_kind in ("absolute", "relative")


def test_effectiveness_group_has_hand_worked_and_monte_carlo_checks(checks):
    eff = [c for c in checks if c.group == "effectiveness"]
    assert any("ceiling" in c.name for c in eff)
    assert sum("Monte Carlo" in c.name for c in eff) >= 4


def test_check_compare_semantics():
    ok = validate.Check.compare(
        "a", expected=100.0, obtained=100.4, tolerance=0.005, relative=True, source="s"
    )
    assert ok.passed and ok.tolerance_kind == "relative"
    bad = validate.Check.compare("a", expected=100.0, obtained=100.6, tolerance=0.5, source="s")
    assert not bad.passed and bad.tolerance_kind == "absolute"
    nan = validate.Check.compare(
        "a", expected=1.0, obtained=float("nan"), tolerance=1.0, source="s"
    )
    assert not nan.passed
    inside = validate.Check.in_interval(
        "b", expected=0.5, obtained=0.48, low=0.46, high=0.51, source="s"
    )
    assert inside.passed and inside.tolerance == pytest.approx(0.03)
    outside = validate.Check.in_interval(
        "b", expected=0.4, obtained=0.48, low=0.46, high=0.51, source="s"
    )
    assert not outside.passed and abs(outside.expected - outside.obtained) > outside.tolerance


def test_unknown_group_is_a_user_error():
    with pytest.raises(UserError):
        validate.run_checks(["no-such-group"])
    assert {c.group for c in validate.run_checks(["effectiveness"])} == {"effectiveness"}


def test_a_new_group_registers_and_a_failure_is_reported():
    @validate.check_group("_test_failing")
    def _failing() -> list[validate.Check]:
        return [
            validate.Check.compare(
                "wrong", expected=1.0, obtained=2.0, tolerance=0.1, source="test"
            )
        ]

    try:
        (check,) = validate.run_checks(["_test_failing"])
        assert check.group == "_test_failing" and not check.passed
        with pytest.raises(ValueError):
            validate.check_group("_test_failing")(_failing)
    finally:
        validate._GROUPS.pop("_test_failing")


def test_cli_validate_json(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["validate", "--json"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    data = json.loads(out)
    assert data["passed"] is True
    keys = {
        "group",
        "name",
        "expected",
        "obtained",
        "tolerance",
        "tolerance_kind",
        "source",
        "passed",
    }
    assert data["checks"] and all(keys <= set(c) for c in data["checks"])


def test_cli_validate_exits_1_when_a_check_fails(capsys):
    @validate.check_group("_test_cli_failing")
    def _failing() -> list[validate.Check]:
        return [
            validate.Check.compare(
                "wrong", expected=1.0, obtained=2.0, tolerance=0.1, source="test"
            )
        ]

    try:
        with pytest.raises(SystemExit) as exited:
            main(["validate", "--group", "_test_cli_failing", "--json"])
        assert exited.value.code == 1
        assert json.loads(capsys.readouterr().out)["passed"] is False
    finally:
        validate._GROUPS.pop("_test_cli_failing")


def test_cli_validate_subprocess_table_and_errors():
    table = subprocess.run(
        ["jointbmd", "validate", "--group", "effectiveness"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert table.returncode == 0, table.stderr
    for column in ("check", "expected", "obtained", "tolerance", "source", "pass"):
        assert column in table.stdout
    unknown = subprocess.run(
        ["jointbmd", "validate", "--group", "nope"], capture_output=True, text=True, check=False
    )
    assert unknown.returncode == 2
    assert unknown.stderr.strip().count("\n") == 0 and "--group" in unknown.stderr


def test_engagement_group_holds_the_issue_4_checks(checks):
    engagement = [c for c in checks if c.group == "engagement"]
    wilkening = [c for c in engagement if c.name.startswith("simulated P(no leak)")]
    # Several N, SSPK and shots, on both Earth models.
    assert len(wilkening) >= 4
    assert {"ideal Earth", "full Earth"} <= {
        c.name.rsplit("(", 1)[1].rstrip(")") for c in wilkening
    }
    for c in wilkening:
        assert "Wilkening" in c.source and "Clopper-Pearson" in c.source
        assert 0.0 < c.expected < 1.0
    # The closed form's premise (every threat engaged by one full salvo) is checked alongside.
    assert sum(c.name.startswith("interceptors fired, perfect sensing") for c in engagement) == len(
        wilkening
    )
    chase = [c for c in engagement if "tail chase" in c.name]
    assert len(chase) >= 2 and all(c.expected == 0 for c in chase)
    assert any("head-on control" in c.name and c.obtained > 0 for c in engagement)


def test_reach_group_states_each_published_claim_and_reports_what_it_does_not_reproduce():
    """The 2007-2013 reach claims (docs/reference.md): every row has its source and an exact
    expected value; the quantitative one is Postol and Lewis's 7.7 km/s; a row that does not
    reproduce its claim says why with jointbmd's own numbers, not a pass."""
    import re

    reach = validate.run_checks(["reach"])
    sources = " ".join(c.source for c in reach)
    for who in ("Obering", "Postol and Lewis", "Vershbow", "Maryland", "GAO-13-382R"):
        assert who in sources, who
    for c in reach:
        assert c.tolerance == 0.0 and c.expected in (0.0, 1.0), c.name
        assert np.isfinite(c.obtained), c.name
        if not c.passed:
            # The cause, with a number from the computation (a speed, a distance or a time).
            assert re.search(r"\d+(\.\d+)? (km/s|km|s)\b", c.disagreement), c.name
    quantitative = [c for c in reach if "7.7 km/s" in c.name]
    assert len(quantitative) == 1
    speed = float(re.search(r"it is (\d+\.\d+) km/s", quantitative[0].name).group(1))
    # The bound itself: the slowest speed catching every route is reported, and the verdict
    # follows from it against the published 7.7 km/s.
    assert quantitative[0].obtained == float(speed <= 7.7)
    mda = next(c for c in reach if "MDA's 6.3 km/s" in c.name)
    # MDA's claim and jointbmd's minimum speed are consistent with each other: either the
    # claim is reproduced or the reported minimum speed lies below 6.3 km/s.
    assert mda.passed or speed < 6.3
