"""Wilkening's simple model: hand-worked cases, monotonicity, the ceiling, doctrines, Monte Carlo.

Expected numbers are worked by hand in each test from the published formulas (D. Wilkening,
Science & Global Security 8(2), 1999/2000, as summarised in docs/reference.md):
K = P_track (1 - (1 - SSPK)^n), P_D = K^N, ceiling P_track^N, W* = W P_ww + D P_dw,
n = ln(1 - goal^(1/N) / P_track) / ln(1 - SSPK). No published table of figures was found to
test against (searched the stored pages and docs), so the cases are textbook hand calculations.
"""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest

from jointbmd.analysis import effectiveness as eff
from jointbmd.cli import main
from jointbmd.errors import UserError

# ------------------------------------------------------------------------------ closed form


def test_hand_worked_case_n10_sspk08_ptrack099_two_shots():
    # K = 0.99 * (1 - 0.2^2) = 0.99 * 0.96 = 0.9504; P_D = 0.9504^10 = 0.60126...
    out = eff.evaluate(10, 0.8, 2, 0.99)
    assert out.k_object == pytest.approx(0.9504, rel=1e-14)
    assert out.p_no_leak == pytest.approx(0.9504**10, rel=1e-14)
    assert out.p_no_leak == pytest.approx(0.6012627188715670, rel=1e-12)
    assert out.expected_leakers == pytest.approx(10 * 0.0496, rel=1e-12)
    assert out.interceptors_total == 20
    assert out.ceiling == pytest.approx(0.99**10, rel=1e-14)


def test_p_kill_broadcasts_like_the_formula():
    sspk = np.array([0.3, 0.5, 0.9])[:, None]
    n = np.array([0, 1, 2, 3.5])
    k = eff.p_kill(sspk, n, 0.95)
    assert k.shape == (3, 4)
    for i, s in enumerate([0.3, 0.5, 0.9]):
        for j, m in enumerate([0, 1, 2, 3.5]):
            assert k[i, j] == pytest.approx(0.95 * (1 - (1 - s) ** m), rel=1e-14, abs=1e-300)


def test_evaluate_broadcasts_over_warheads_and_shots():
    out = eff.evaluate(np.array([1, 5, 20])[:, None], 0.7, np.array([1, 2, 3]), 0.98)
    assert out.p_no_leak.shape == (3, 3)
    expected = (0.98 * (1 - 0.3 ** np.array([1, 2, 3]))) ** np.array([1, 5, 20])[:, None]
    np.testing.assert_allclose(out.p_no_leak, expected, rtol=1e-13)


def test_goal_solves_the_published_equation():
    # n = ln(1 - 0.9^(1/10) / 0.99) / ln(0.2) = 4.7409: five whole interceptors per warhead.
    need = eff.shots_for_goal(0.9, 10, 0.8, 0.99)
    n_hand = math.log(1 - 0.9 ** (1 / 10) / 0.99) / math.log(0.2)
    assert need.interceptors_per_object == pytest.approx(n_hand, rel=1e-12)
    assert n_hand == pytest.approx(4.7409, abs=1e-4)
    assert need.interceptors_total == pytest.approx(10 * n_hand, rel=1e-12)
    assert need.interceptors_per_object_whole == 5
    assert need.interceptors_total_whole == 50
    assert need.p_no_leak_whole == pytest.approx((0.99 * (1 - 0.2**5)) ** 10, rel=1e-12)


@pytest.mark.parametrize(
    "goal, warheads, sspk, p_track",
    [(0.5, 1, 0.5, 1.0), (0.8, 3, 0.6, 0.99), (0.95, 20, 0.9, 0.999), (0.3, 50, 0.3, 0.99)],
)
def test_whole_interceptors_are_the_smallest_meeting_the_goal(goal, warheads, sspk, p_track):
    need = eff.shots_for_goal(goal, warheads, sspk, p_track)
    n = float(need.interceptors_per_object)
    assert (p_track * (1 - (1 - sspk) ** n)) ** warheads == pytest.approx(goal, rel=1e-10)
    whole = int(need.interceptors_per_object_whole)
    assert whole == math.ceil(n - 1e-9)
    assert eff.p_no_leak(warheads, sspk, whole, p_track) >= goal
    assert eff.p_no_leak(warheads, sspk, whole - 1, p_track) < goal


def test_goal_vectorised():
    goals = np.array([0.5, 0.8, 0.9])
    need = eff.shots_for_goal(goals, 10, 0.8, 0.99)
    hand = np.log(1 - goals ** (1 / 10) / 0.99) / np.log(0.2)
    np.testing.assert_allclose(need.interceptors_per_object, hand, rtol=1e-12)
    np.testing.assert_array_equal(need.interceptors_per_object_whole, np.ceil(hand))


def test_goal_at_or_above_the_ceiling_is_a_user_error():
    top = 0.99**10
    for goal in (top, 0.95, 1.0):
        with pytest.raises(UserError) as caught:
            eff.shots_for_goal(goal, 10, 0.8, 0.99)
        assert caught.value.field == "goal_pd"
    eff.shots_for_goal(top - 1e-6, 10, 0.8, 0.99)  # just below: reachable


def test_ceiling_bounds_every_defence_and_is_approached():
    shots = np.arange(0, 40)
    for sspk in (0.2, 0.5, 0.95):
        pd = eff.p_no_leak(10, sspk, shots, 0.97)
        assert np.all(pd <= 0.97**10 * (1 + 1e-15))
    assert eff.p_no_leak(10, 0.5, 200, 0.97) == pytest.approx(0.97**10, rel=1e-14)
    assert eff.ceiling(10, 0.97) == pytest.approx(0.97**10, rel=1e-15)
    assert eff.ceiling(10, 0.97, 0.9) == pytest.approx((0.9 * 0.97) ** 10, rel=1e-15)


def test_monotonicity():
    n = np.arange(0, 12)
    pd = eff.p_no_leak(8, 0.6, n, 0.98)
    assert np.all(np.diff(pd) > 0)
    assert np.all(np.diff(eff.expected_leakers(8, 0.6, n, 0.98)) < 0)
    sspk = np.linspace(0.05, 0.95, 19)
    assert np.all(np.diff(eff.p_no_leak(8, sspk, 2, 0.98)) > 0)
    p_track = np.linspace(0.5, 1.0, 11)
    assert np.all(np.diff(eff.p_no_leak(8, 0.6, 2, p_track)) > 0)
    warheads = np.arange(1, 30)
    assert np.all(np.diff(eff.p_no_leak(warheads, 0.6, 2, 0.98)) < 0)
    goals = np.linspace(0.1, 0.8, 8)
    need = eff.shots_for_goal(goals, 8, 0.6, 0.98)
    assert np.all(np.diff(need.interceptors_per_object) > 0)


def test_decoys_and_discrimination():
    # W* = 5 * 0.95 + 20 * 0.3 = 10.75; a warhead classed as a decoy is not engaged and leaks.
    out = eff.evaluate(
        5, 0.7, 2, 0.98, decoys=20, p_warhead_as_warhead=0.95, p_decoy_as_warhead=0.3
    )
    assert out.objects_engaged == pytest.approx(10.75, rel=1e-14)
    assert out.interceptors_total == pytest.approx(21.5, rel=1e-14)
    k = 0.98 * (1 - 0.3**2)
    assert out.p_no_leak == pytest.approx((0.95 * k) ** 5, rel=1e-13)
    assert out.expected_leakers == pytest.approx(5 * (1 - 0.95 * k), rel=1e-13)
    assert out.ceiling == pytest.approx((0.95 * 0.98) ** 5, rel=1e-13)
    # Without discrimination every decoy draws fire (the default).
    assert eff.objects_engaged(5, 20) == 25
    need = eff.shots_for_goal(0.5, 5, 0.7, 0.98, decoys=20, p_decoy_as_warhead=0.3)
    assert need.objects_engaged == pytest.approx(11.0)
    n_hand = math.log(1 - 0.5 ** (1 / 5) / 0.98) / math.log(0.3)
    assert need.interceptors_total == pytest.approx(11 * n_hand, rel=1e-12)
    assert need.interceptors_total_whole == 11 * math.ceil(n_hand)


def test_goal_with_imperfect_warhead_classification():
    # A warhead classed as a decoy leaks: solve (P_ww K)^N = goal,
    # n = ln(1 - goal^(1/N) / (P_ww P_track)) / ln(1 - SSPK).
    need = eff.shots_for_goal(0.7, 4, 0.75, 0.99, p_warhead_as_warhead=0.97)
    n_hand = math.log(1 - 0.7 ** (1 / 4) / (0.97 * 0.99)) / math.log(0.25)
    assert need.interceptors_per_object == pytest.approx(n_hand, rel=1e-12)
    assert need.ceiling == pytest.approx((0.97 * 0.99) ** 4, rel=1e-14)
    with pytest.raises(UserError):
        eff.shots_for_goal(0.9, 4, 0.75, 0.99, p_warhead_as_warhead=0.97)


def test_perfect_interceptor_needs_one_shot():
    need = eff.shots_for_goal(0.9, 3, 1.0, 0.99)
    assert need.interceptors_per_object_whole == 1
    assert need.p_no_leak_whole == pytest.approx(0.99**3)


def test_layers_multiply_leak_probabilities():
    # Upper layer SSPK 0.7 x1 (its own P_track 0.9), main layer SSPK 0.8 x2, P_track 0.95.
    out = eff.evaluate(5, 0.8, 2, 0.95, layers=[(0.7, 1, 0.9)])
    leak = (1 - 0.9 * 0.7) * (1 - 0.95 * 0.96)
    assert out.k_object == pytest.approx(1 - leak, rel=1e-14)
    assert out.p_no_leak == pytest.approx((1 - leak) ** 5, rel=1e-13)
    assert out.max_shots_per_object == 3
    # The ceiling with unlimited main-layer shots: the upper layer's leak (1 - 0.9 * 0.7) times
    # the main layer's track failure (1 - 0.95).
    assert out.ceiling == pytest.approx((1 - 0.37 * 0.05) ** 5, rel=1e-13)
    # A layer that fires nothing changes nothing.
    plain = eff.evaluate(5, 0.8, 2, 0.95)
    assert eff.evaluate(5, 0.8, 2, 0.95, layers=[(0.7, 0)]).p_no_leak == plain.p_no_leak


def test_goal_with_a_layer_sizes_the_main_layer():
    need = eff.shots_for_goal(0.9, 5, 0.8, 0.95, layers=[(0.7, 1)])
    k_needed = 0.9 ** (1 / 5)
    leak_upper = 1 - 0.95 * 0.7
    k_main = 1 - (1 - k_needed) / leak_upper
    n_hand = math.log(1 - k_main / 0.95) / math.log(0.2)
    assert need.interceptors_per_object == pytest.approx(1 + n_hand, rel=1e-12)
    assert need.interceptors_per_object_whole == 1 + math.ceil(n_hand)
    assert need.p_no_leak_whole >= 0.9


def test_shoot_look_shoot_perfect_assessment():
    # 1-look-1: same kill probability as a barrage of 2; second shot only at survivors of the
    # first: expected shots per object 1 + (1 - P_track SSPK).
    sls = eff.evaluate(10, 0.8, 2, 0.99, doctrine="shoot-look-shoot")
    barrage = eff.evaluate(10, 0.8, 2, 0.99)
    assert sls.p_no_leak == pytest.approx(barrage.p_no_leak, rel=1e-14)
    assert sls.expected_shots_per_object == pytest.approx(1 + (1 - 0.99 * 0.8), rel=1e-14)
    assert sls.interceptors_total == barrage.interceptors_total == 20
    # 2-look-1: expected 2 + 1 * (1 - P_track (1 - 0.2^2)).
    sls3 = eff.evaluate(1, 0.8, 3, 0.99, doctrine="shoot-look-shoot")
    assert sls3.expected_shots_per_object == pytest.approx(2 + (1 - 0.99 * 0.96), rel=1e-14)


def test_shoot_look_shoot_spends_fewer_than_a_barrage_of_the_same_max_shots():
    n = np.arange(2, 9)
    for sspk, p_track, p_ka in [(0.3, 0.9, 1.0), (0.8, 0.99, 1.0), (0.6, 0.95, 0.8)]:
        sls = eff.evaluate(7, sspk, n, p_track, doctrine="shoot-look-shoot", p_kill_assessment=p_ka)
        barrage = eff.evaluate(7, sspk, n, p_track)
        assert np.all(sls.expected_interceptors_total < barrage.expected_interceptors_total)
        np.testing.assert_array_equal(barrage.expected_interceptors_total, 7 * n)


def test_shoot_look_shoot_imperfect_assessment_by_hand():
    # 1-look-1, look right with probability p: K = T[(1-q) + q p (1-q)];
    # the second shot is fired at a survivor judged alive (p) or a dead object judged alive (1-p).
    T, s, p = 0.97, 0.7, 0.8
    q = 1 - s
    out = eff.evaluate(4, s, 2, T, doctrine="shoot-look-shoot", p_kill_assessment=p)
    k = T * ((1 - q) + q * p * (1 - q))
    assert out.k_object == pytest.approx(k, rel=1e-14)
    alive = 1 - T * (1 - q)
    assert out.expected_shots_per_object == pytest.approx(1 + alive * p + (1 - alive) * (1 - p))
    assert out.p_no_leak < eff.p_no_leak(4, s, 2, T)  # a poor look costs kills
    assert out.ceiling == pytest.approx(T**4, rel=1e-14)


def test_goal_under_shoot_look_shoot_with_imperfect_assessment():
    need = eff.shots_for_goal(
        [0.5, 0.8], 10, 0.8, 0.99, doctrine="shoot-look-shoot", p_kill_assessment=0.9
    )
    pd = eff.p_no_leak(
        10,
        0.8,
        need.interceptors_per_object,
        0.99,
        doctrine="shoot-look-shoot",
        p_kill_assessment=0.9,
    )
    np.testing.assert_allclose(pd, [0.5, 0.8], rtol=1e-9)
    np.testing.assert_array_equal(
        need.interceptors_per_object_whole, np.ceil(need.interceptors_per_object - 1e-9)
    )
    assert np.all(need.p_no_leak_whole >= [0.5, 0.8])
    # Perfect assessment: shoot-look-shoot needs the barrage's maximum but spends less.
    perfect = eff.shots_for_goal(0.8, 10, 0.8, 0.99, doctrine="shoot-look-shoot")
    barrage = eff.shots_for_goal(0.8, 10, 0.8, 0.99)
    assert perfect.interceptors_per_object == pytest.approx(barrage.interceptors_per_object)
    assert perfect.expected_interceptors_total_whole < barrage.expected_interceptors_total_whole


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda: eff.evaluate(10, 1.5, 2, 0.99), "sspk"),
        (lambda: eff.evaluate(-1, 0.5, 2, 0.99), "warheads"),
        (lambda: eff.evaluate(2.5, 0.5, 2, 0.99), "warheads"),
        (lambda: eff.evaluate(3, 0.5, -1, 0.99), "shots_per_object"),
        (lambda: eff.evaluate(3, 0.5, 2, float("nan")), "p_track"),
        (lambda: eff.evaluate(3, 0.5, 2, 0.9, doctrine="salvo"), "doctrine"),
        (lambda: eff.evaluate(3, 0.5, 2, 0.9, layers=[(0.5,)]), "layers[0]"),
        (lambda: eff.shots_for_goal(0.5, 3, 0.0, 0.9), "sspk"),
        (lambda: eff.shots_for_goal(0.0, 3, 0.5, 0.9), "goal_pd"),
    ],
)
def test_bad_inputs_are_user_errors_naming_the_parameter(call, field):
    with pytest.raises(UserError) as caught:
        call()
    assert caught.value.field == field


# ------------------------------------------------------------------------------ Monte Carlo

MC_CASES = [
    dict(warheads=10, sspk=0.8, shots_per_object=2, p_track=0.99),
    dict(warheads=3, sspk=0.4, shots_per_object=3, p_track=0.9),
    dict(warheads=6, sspk=0.7, shots_per_object=2, p_track=0.98, doctrine="shoot-look-shoot"),
    dict(
        warheads=4,
        sspk=0.6,
        shots_per_object=3,
        p_track=0.95,
        doctrine="shoot-look-shoot",
        p_kill_assessment=0.85,
        decoys=6,
        p_decoy_as_warhead=0.4,
        p_warhead_as_warhead=0.98,
        layers=[(0.5, 1)],
    ),
]


@pytest.mark.parametrize("index", range(len(MC_CASES)))
def test_monte_carlo_agrees_with_the_closed_form(index):
    args = MC_CASES[index]
    closed = eff.evaluate(**args)
    mc = eff.monte_carlo(
        **args, trials=20_000, rng=np.random.default_rng(2000 + index), confidence=0.99
    )
    assert mc.ci_low <= closed.p_no_leak <= mc.ci_high
    # Mean leakers and interceptors: 99 % normal intervals (leakers by their binomial bound).
    assert mc.mean_interceptors == pytest.approx(
        closed.expected_interceptors_total, abs=2.576 * mc.stderr_interceptors + 1e-12
    )
    # Leakers are binomial (independent warheads): variance E (1 - E / N).
    mean = float(closed.expected_leakers)
    leak_sd = math.sqrt(mean * (1 - mean / args["warheads"]) / 20_000)
    assert mc.mean_leakers == pytest.approx(closed.expected_leakers, abs=3 * leak_sd + 1e-12)


def test_monte_carlo_is_reproducible_and_needs_whole_shots():
    a = eff.monte_carlo(5, 0.6, 2, 0.95, trials=2000, rng=np.random.default_rng(7))
    b = eff.monte_carlo(5, 0.6, 2, 0.95, trials=2000, rng=np.random.default_rng(7))
    assert a == b
    assert 0.0 <= a.ci_low <= a.p_no_leak <= a.ci_high <= 1.0
    assert a.confidence == 0.95
    with pytest.raises(UserError):
        eff.monte_carlo(5, 0.6, 2.5, 0.95, trials=100, rng=np.random.default_rng(7))
    with pytest.raises(UserError):
        eff.monte_carlo(5, 0.6, 2, 0.95, trials=0, rng=np.random.default_rng(7))


def test_monte_carlo_degenerate_cases():
    # Perfect interceptors and tracking: never a leak; no tracking: always a leak.
    sure = eff.monte_carlo(3, 1.0, 1, 1.0, trials=500, rng=np.random.default_rng(1))
    assert sure.successes == 500
    blind = eff.monte_carlo(3, 1.0, 1, 0.0, trials=500, rng=np.random.default_rng(1))
    assert blind.successes == 0 and blind.mean_leakers == 3


# ------------------------------------------------------------------------------ command line


def _run_main(args, capsys):
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def test_cli_goal_json_keys(capsys):
    code, out, err = _run_main(
        [
            "effectiveness",
            "--warheads",
            "10",
            "--sspk",
            "0.8",
            "--ptrack",
            "0.99",
            "--goal",
            "0.9",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads(out)
    for key in (
        "interceptors_per_object",
        "interceptors_total",
        "interceptors_per_object_whole",
        "interceptors_total_whole",
        "p_no_leak",
        "ceiling",
    ):
        assert key in data
    assert data["interceptors_per_object"] == pytest.approx(
        math.log(1 - 0.9 ** (1 / 10) / 0.99) / math.log(0.2), rel=1e-12
    )
    assert data["interceptors_per_object_whole"] == 5
    assert data["interceptors_total_whole"] == 50
    assert data["p_no_leak"] == pytest.approx((0.99 * (1 - 0.2**5)) ** 10, rel=1e-12)
    assert data["ceiling"] == pytest.approx(0.99**10, rel=1e-12)


def test_cli_shots_with_monte_carlo_json(capsys):
    code, out, err = _run_main(
        [
            "effectiveness",
            "--warheads",
            "10",
            "--sspk",
            "0.8",
            "--ptrack",
            "0.99",
            "--shots-per-object",
            "2",
            "--doctrine",
            "shoot-look-shoot",
            "--monte-carlo",
            "5000",
            "--seed",
            "3",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["p_no_leak"] == pytest.approx(0.9504**10, rel=1e-12)
    assert data["expected_leakers"] == pytest.approx(0.496, rel=1e-12)
    assert data["interceptors_total"] == 20
    assert data["expected_interceptors_total"] == pytest.approx(12.08, rel=1e-12)
    low, high = data["p_no_leak_monte_carlo_ci"]
    assert low <= data["p_no_leak_monte_carlo"] <= high
    assert 0.55 < data["p_no_leak_monte_carlo"] < 0.65


def test_cli_layers_and_human_table(capsys):
    code, out, err = _run_main(
        [
            "effectiveness",
            "--warheads",
            "5",
            "--sspk",
            "0.8",
            "--ptrack",
            "0.95",
            "--shots-per-object",
            "2",
            "--layers",
            "0.7:1:0.9",
            "--decoys",
            "4",
            "--p-decoy-as-warhead",
            "0.5",
        ],
        capsys,
    )
    assert code == 0, err
    assert "p_no_leak" in out and "expected_leakers" in out
    leak = (1 - 0.9 * 0.7) * (1 - 0.95 * 0.96)
    assert f"{(1 - leak) ** 5:.4g}" in out


@pytest.mark.parametrize(
    "extra, flag",
    [
        (["--sspk", "1.5", "--shots-per-object", "2"], "--sspk"),
        (["--sspk", "0.5", "--shots-per-object", "2", "--warheads", "-3"], "--warheads"),
        (["--sspk", "0.5", "--shots-per-object", "2", "--goal", "0.5"], "--goal"),
        (["--sspk", "0.5"], "--goal"),
        (["--sspk", "0.5", "--goal", "0.99"], "--goal"),
        (["--sspk", "0.5", "--goal", "0.5", "--layers", "0.5:x"], "--layers"),
        (["--sspk", "0.5", "--goal", "0.5", "--doctrine", "salvo"], "--doctrine"),
        (
            ["--sspk", "0.5", "--shots-per-object", "2.5", "--monte-carlo", "10"],
            "--shots-per-object",
        ),
    ],
)
def test_cli_bad_flags_one_line_exit_2(extra, flag, capsys):
    args = ["effectiveness", "--warheads", "10", "--ptrack", "0.99", *extra]
    code, out, err = _run_main(args, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and flag in err
    assert "Traceback" not in err


def test_cli_subprocess_exit_codes():
    ok = subprocess.run(
        [
            "jointbmd",
            "effectiveness",
            "--warheads",
            "3",
            "--sspk",
            "0.5",
            "--ptrack",
            "0.9",
            "--goal",
            "0.5",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["interceptors_per_object_whole"] >= 1
    bad = subprocess.run(
        [
            "jointbmd",
            "effectiveness",
            "--warheads",
            "3",
            "--sspk",
            "1.5",
            "--ptrack",
            "0.9",
            "--goal",
            "0.5",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "--sspk" in bad.stderr
