"""Tests of the fusion centre's maths: covariance intersection, association, the fused picture."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import optimize, stats

from jointbmd.fusion import (
    FusionCentre,
    assign,
    covariance_intersection,
    gate_threshold,
    pairwise_distance,
)


@dataclass
class Report:
    """The fields of a track report the fusion centre reads."""

    source: str
    track_id: int
    t: float
    x: np.ndarray
    P: np.ndarray


def cv_predict(q: float = 0.0):
    """Constant-velocity predictor, batched: what tracking's predictor does for straight lines."""

    def predict(x, P, t_from, t_to):
        dt = t_to - np.asarray(t_from, float)
        F = np.tile(np.eye(6), (len(dt), 1, 1))
        F[:, :3, 3:] = dt[:, None, None] * np.eye(3)
        Q = q * np.zeros((len(dt), 6, 6))
        return np.einsum("kij,kj->ki", F, x), F @ P @ np.swapaxes(F, 1, 2) + Q

    return predict


def random_spd(rng, n=6, scale=1.0):
    a = rng.standard_normal((n, n))
    return scale * (a @ a.T + 0.5 * n * np.eye(n))


def rotated_ellipse(long_m, short_m, angle):
    """6x6 covariance: position ellipse long along `angle` in the x-y plane, 10 m/s velocity."""
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    P = np.zeros((6, 6))
    P[:3, :3] = rot @ np.diag([long_m**2, short_m**2, short_m**2]) @ rot.T
    P[3:, 3:] = 100.0 * np.eye(3)
    return P


# ---- covariance intersection -----------------------------------------------------------------


def test_ci_weight_matches_an_independent_optimiser():
    rng = np.random.default_rng(1)
    P1 = np.stack([random_spd(rng, scale=s) for s in (1, 10, 100)])
    P2 = np.stack([random_spd(rng, scale=s) for s in (3, 1, 100)])
    x1, x2 = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    costs = {"trace": np.trace, "det": lambda P: np.linalg.slogdet(P)[1]}
    for criterion, cost in costs.items():
        x, P, w = covariance_intersection(x1, P1, x2, P2, criterion)
        for k in range(3):
            i1, i2 = np.linalg.inv(P1[k]), np.linalg.inv(P2[k])
            res = optimize.minimize_scalar(
                lambda om, i1=i1, i2=i2, cost=cost: cost(np.linalg.inv(om * i1 + (1 - om) * i2)),
                bounds=(0, 1),
                method="bounded",
                options={"xatol": 1e-10},
            )
            assert w[k] == pytest.approx(res.x, abs=1e-5)
            Pk = np.linalg.inv(res.x * i1 + (1 - res.x) * i2)
            scale = np.abs(Pk).max()
            np.testing.assert_allclose(P[k], Pk, rtol=0, atol=1e-5 * scale)
            xk = Pk @ (res.x * i1 @ x1[k] + (1 - res.x) * i2 @ x2[k])
            np.testing.assert_allclose(x[k], xk, rtol=0, atol=1e-5 * np.abs(xk).max())


def test_ci_of_right_angle_ellipses_splits_the_weight():
    P1 = rotated_ellipse(1000.0, 100.0, 0.0)
    P2 = rotated_ellipse(1000.0, 100.0, math.pi / 2)
    x, P, w = covariance_intersection(np.zeros(6), P1, np.ones(6), P2)
    assert w == pytest.approx(0.5, abs=1e-6)
    # P = (0.5 P1^-1 + 0.5 P2^-1)^-1 in the plane: 2 / (1/1000^2 + 1/100^2) on x and y.
    assert P[0, 0] == pytest.approx(2 / (1e-6 + 1e-4))
    assert P[2, 2] == pytest.approx(100.0**2)


def test_ci_picks_the_better_estimate_when_one_dominates():
    P1 = rotated_ellipse(100.0, 50.0, 0.3)
    x, P, w = covariance_intersection(np.zeros(6), P1, np.ones(6), 25.0 * P1)
    assert w == 1.0
    np.testing.assert_allclose(x, 0.0, atol=1e-9)
    np.testing.assert_allclose(P, P1)


def test_ci_is_consistent_with_correlated_inputs_where_naive_fusion_is_not():
    # Two estimates sharing a large common error (as tracks fed by the same threat manoeuvre or
    # the same process noise do): e1 = c + a1, e2 = c + a2. Each input is consistent on its own.
    rng = np.random.default_rng(2)
    C = random_spd(rng, scale=4.0)
    A1, A2 = random_spd(rng), random_spd(rng)
    A1[:3, :3] *= 10.0
    A2[3:, 3:] *= 10.0
    P1, P2 = C + A1, C + A2
    n = 4000
    common = rng.multivariate_normal(np.zeros(6), C, n)
    e1 = common + rng.multivariate_normal(np.zeros(6), A1, n)
    e2 = common + rng.multivariate_normal(np.zeros(6), A2, n)
    x, P, _ = covariance_intersection(
        e1, np.broadcast_to(P1, (n, 6, 6)), e2, np.broadcast_to(P2, (n, 6, 6))
    )
    nees = np.einsum("ki,kij,kj->k", x, np.linalg.inv(P), x)
    hi = stats.chi2.ppf(0.975, 6 * n) / n  # upper end of the 95 % band of the mean NEES
    assert nees.mean() <= hi  # not above the 95 % band: consistent
    # Fused P bounds the true error covariance (Loewner order, up to sampling noise).
    emp = np.cov(x.T)
    L = np.linalg.cholesky(P[0])
    Li = np.linalg.inv(L)
    assert np.linalg.eigvalsh(Li @ emp @ Li.T).max() <= 1.05
    # The test has power: fusing as if independent is over-confident.
    info = np.linalg.inv(P1) + np.linalg.inv(P2)
    Pn = np.linalg.inv(info)
    xn = (Pn @ (np.linalg.inv(P1) @ e1.T + np.linalg.inv(P2) @ e2.T)).T
    nees_naive = np.einsum("ki,ij,kj->k", xn, info, xn)
    assert nees_naive.mean() > hi


def _rmse(err):
    return math.sqrt(np.mean(np.sum(err[:, :3] ** 2, axis=1)))


def test_fused_rmse_better_when_sources_see_from_different_angles():
    rng = np.random.default_rng(3)
    n = 3000
    P1 = rotated_ellipse(1000.0, 100.0, 0.2)
    P2 = rotated_ellipse(1000.0, 100.0, 0.2 + math.pi / 2)
    e1 = rng.multivariate_normal(np.zeros(6), P1, n)
    e2 = rng.multivariate_normal(np.zeros(6), P2, n)
    x, _, _ = covariance_intersection(
        e1, np.broadcast_to(P1, (n, 6, 6)), e2, np.broadcast_to(P2, (n, 6, 6))
    )
    best = min(_rmse(e1), _rmse(e2))
    assert _rmse(x) < 0.25 * best  # measured: ~0.16


def test_fused_rmse_not_worse_than_the_best_source():
    rng = np.random.default_rng(4)
    n = 3000
    for ratio in (1.0, 2.0, 10.0):
        P1 = rotated_ellipse(300.0, 150.0, 0.0)
        P2 = ratio**2 * rotated_ellipse(300.0, 150.0, 0.5)
        e1 = rng.multivariate_normal(np.zeros(6), P1, n)
        e2 = rng.multivariate_normal(np.zeros(6), P2, n)
        x, _, _ = covariance_intersection(
            e1, np.broadcast_to(P1, (n, 6, 6)), e2, np.broadcast_to(P2, (n, 6, 6))
        )
        best = min(_rmse(e1), _rmse(e2))
        assert _rmse(x) <= best * (1 + 3 / math.sqrt(n))


# ---- association -----------------------------------------------------------------------------


def test_assign_respects_the_gate():
    gate = gate_threshold(0.99, 6)
    assert gate == pytest.approx(16.812, abs=1e-3)  # chi-square 6 dof, 99 %
    cost = np.array([[1.0, 50.0], [50.0, 50.0]])
    rows, cols = assign(cost, gate)
    assert rows.tolist() == [0] and cols.tolist() == [0]
    rows, cols = assign(np.array([[3.0, 1.0], [1.0, 3.0]]), gate)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_pairwise_distance_is_the_mahalanobis_distance():
    rng = np.random.default_rng(5)
    x1, x2 = rng.standard_normal((2, 6)), rng.standard_normal((3, 6))
    P1 = np.stack([random_spd(rng) for _ in range(2)])
    P2 = np.stack([random_spd(rng) for _ in range(3)])
    d2 = pairwise_distance(x1, P1, x2, P2)
    for i in range(2):
        for j in range(3):
            d = x1[i] - x2[j]
            assert d2[i, j] == pytest.approx(d @ np.linalg.solve(P1[i] + P2[j], d))


SOURCES = {"Alpha": 0.0, "Bravo": math.pi / 3, "Charlie": 2 * math.pi / 3}


def crossing_truth(t, n=8):
    """n targets at 3 km/s in a fan of directions, all through the same point at t = 0."""
    ang = np.linspace(0, math.pi, n, endpoint=False)
    v = 3000.0 * np.stack([np.cos(ang), np.sin(ang), 0.1 * np.ones(n)], -1)
    r = np.array([4.0e6, 3.0e6, 4.0e6]) + v * t
    return np.concatenate([r, v], -1)


def national_reports(t, rng, sources=SOURCES, lag=None):
    """Each partner's tracks of every target with its own ids, errors drawn from its P."""
    reports = []
    for s, (name, angle) in enumerate(sources.items()):
        t_r = t - (lag or {}).get(name, 0.0)
        truth = crossing_truth(t_r)
        P = rotated_ellipse(400.0, 60.0, angle)
        ids = 100 * (s + 1) + np.roll(np.arange(len(truth)), s + 1)  # a different numbering
        err = rng.multivariate_normal(np.zeros(6), P, len(truth))
        for k in range(len(truth)):
            reports.append(Report(name, int(ids[k]), t_r, truth[k] + err[k], P))
    return reports


def truth_of(source, track_id):
    s = list(SOURCES).index(source)
    n = 8
    ids = 100 * (s + 1) + np.roll(np.arange(n), s + 1)
    return int(np.flatnonzero(ids == track_id)[0])


def test_association_of_crossing_targets_and_stable_ids():
    rng = np.random.default_rng(6)
    centre = FusionCentre(predict=cv_predict(), max_age=25.0)
    fused_truth: dict[int, int] = {}
    lag = {"Alpha": 1.0, "Bravo": 3.5, "Charlie": 0.0}  # reports of different ages
    for t in np.arange(-60.0, 61.0, 5.0):
        picture = centre.update(national_reports(t, rng, lag=lag), t)
        assert len(picture) == 8
        for i, members in enumerate(picture.members):
            truths = {truth_of(s, tid) for s, tid in members}
            assert len(truths) == 1 and len(members) == 3  # one target, every partner
            fid, truth = int(picture.fused_id[i]), truths.pop()
            assert fused_truth.setdefault(fid, truth) == truth  # the id stays with its target
    assert sorted(fused_truth) == list(range(8))


def test_fusion_carries_on_when_a_source_goes_silent():
    # Charlie's link is cut at 40 s, Bravo's at 70 s: their tracks age out after max_age and the
    # picture carries on, same fused ids, with whoever is left.
    rng = np.random.default_rng(7)
    centre = FusionCentre(predict=cv_predict(), max_age=12.0)
    last_heard = {}
    ids_before = None
    for t in np.arange(0.0, 100.0, 5.0):
        cut = {"Charlie"} if t < 70 else {"Charlie", "Bravo"}
        sources = {k: v for k, v in SOURCES.items() if t < 40 or k not in cut}
        last_heard.update({k: t for k in sources})
        picture = centre.update(national_reports(t, rng, sources=sources), t)
        assert len(picture) == 8
        if ids_before is not None:
            np.testing.assert_array_equal(picture.fused_id, ids_before)
        ids_before = picture.fused_id
        alive = {k for k, heard in last_heard.items() if t - heard <= 12.0}
        assert all(set(s) == alive for s in picture.sources)
    assert picture.sources[0] == ("Alpha",)


def test_every_partner_gets_the_same_picture_whatever_the_arrival_order():
    rng = np.random.default_rng(8)
    reports = national_reports(10.0, rng, lag={"Bravo": 2.0})
    a = FusionCentre(predict=cv_predict()).update(reports, 10.0)
    shuffled = [reports[i] for i in np.random.default_rng(9).permutation(len(reports))]
    b = FusionCentre(predict=cv_predict()).update(shuffled, 10.0)
    np.testing.assert_array_equal(a.fused_id, b.fused_id)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.P, b.P)
    assert a.members == b.members


def test_fused_picture_beats_each_partner_over_monte_carlo():
    # Three partners seeing from 60 degrees apart: the fused position error is smaller than the
    # best partner's, and the fused covariance stays consistent.
    rng = np.random.default_rng(10)
    centre = FusionCentre(predict=cv_predict())
    errs = {name: [] for name in [*SOURCES, "fused"]}
    nees = []
    for t in np.arange(0.0, 300.0, 3.0):
        reports = national_reports(t, rng)
        truth = crossing_truth(t)
        for r in reports:
            errs[r.source].append(r.x - truth[truth_of(r.source, r.track_id)])
        picture = centre.update(reports, t)
        for i, members in enumerate(picture.members):
            e = picture.x[i] - truth[truth_of(*members[0])]
            errs["fused"].append(e)
            nees.append(e @ np.linalg.solve(picture.P[i], e))
    rmse = {k: _rmse(np.array(v)) for k, v in errs.items()}
    best = min(rmse[s] for s in SOURCES)
    assert rmse["fused"] < 0.8 * best
    assert np.mean(nees) <= stats.chi2.ppf(0.975, 6 * len(nees)) / len(nees)


def test_accepts_the_exchange_track_report():
    messages = pytest.importorskip("jointbmd.exchange.messages")
    P = rotated_ellipse(300.0, 100.0, 0.0)
    x = crossing_truth(0.0)[0]
    reports = [
        messages.TrackReport(source=s, track_id=1, t=0.0, x=x, P=P, quality=1.0, firm=True)
        for s in ("A", "B")
    ]
    picture = FusionCentre().update(reports, 0.0)
    assert len(picture) == 1 and picture.sources == (("A", "B"),)
    np.testing.assert_allclose(picture.x[0], x)
