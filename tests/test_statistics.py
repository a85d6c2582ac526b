"""Intervals cover what they claim: coverage measured by simulation, and textbook values.

Coverage: draw many samples from a distribution whose mean (or proportion) is known, build the
95 % interval of each, count how often it holds the truth. The Student-t interval must cover at
least 93 % at n = 3, 5, 10 and 30 (the issue's bar); the normal-quantile interval it replaced
fails that bar at n = 3, which the first test also checks, so the test can tell the two apart.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from jointbmd.analysis import statistics as st

TRIALS = 4000


def _t_bounds(sample: np.ndarray) -> tuple[float, float]:
    return st.mean_interval(sample).ci


def _z_bounds(sample: np.ndarray) -> tuple[float, float]:
    half = st.Z95 * np.std(sample, ddof=1) / math.sqrt(sample.size)
    return sample.mean() - half, sample.mean() + half


@pytest.mark.parametrize("n", [3, 5, 10, 30])
def test_t_interval_covers_95_percent_of_normal_means(n):
    def normal(rng, size):
        return rng.normal(2.0, 1.5, size)

    coverage = st.simulate_coverage(_t_bounds, normal, 2.0, n, TRIALS, seed=n)
    assert coverage >= 0.93, coverage
    # 4000 trials: a binomial standard error of 0.35 %; the exact value is 0.95.
    assert abs(coverage - 0.95) < 0.015
    if n == 3:
        assert st.simulate_coverage(_z_bounds, normal, 2.0, n, TRIALS, seed=n) < 0.85


@pytest.mark.parametrize("n", [3, 5, 10, 30])
def test_t_interval_covers_interceptor_counts(n):
    """Counts like the interceptors spent per replication (12-20, spread by shoot-look-shoot):
    2 per engaged threat, plus 2 more for each failed first salvo."""

    def spent(rng, size):
        return 2 * 8 + 2 * rng.binomial(8, 0.3, size)

    coverage = st.simulate_coverage(_t_bounds, spent, 16 + 2 * 8 * 0.3, n, TRIALS, seed=10 + n)
    assert coverage >= 0.93, coverage


def test_t_interval_from_sums_matches_scipy():
    data = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    mean, (low, high) = st.mean_interval_from_sums(
        int(data.sum()), int((data * data).sum()), data.size
    )
    ref = stats.t.interval(0.95, data.size - 1, loc=data.mean(), scale=stats.sem(data))
    assert mean == pytest.approx(data.mean())
    assert (low, high) == pytest.approx(ref)
    assert st.mean_interval(data).ci == pytest.approx(ref)
    # Student's quantile for 2 degrees of freedom (tables: 4.303).
    assert st.t_quantile(3) == pytest.approx(4.302653, abs=1e-6)


def test_wilson_matches_textbook_and_covers():
    # Agresti & Coull (1998): 0 of 10 -> [0, 0.278]; scipy's binomtest has the same method.
    assert st.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    ref = stats.binomtest(7, 20).proportion_ci(0.95, method="wilson")
    assert st.wilson_interval(7, 20) == pytest.approx((ref.low, ref.high))
    for n in (3, 5, 10, 30):
        # Averaged over proportions 0.05..0.95 (Wilson's coverage oscillates with p at small n).
        coverages = []
        for p in np.linspace(0.05, 0.95, 19):
            k = np.arange(n + 1)
            covered = np.array(
                [lo <= p <= hi for lo, hi in (st.wilson_interval(int(i), n) for i in k)]
            )
            coverages.append(float(np.sum(stats.binom.pmf(k, n, p)[covered])))
        assert np.mean(coverages) >= 0.93, (n, np.mean(coverages))


def test_paired_difference_is_the_t_interval_of_differences():
    rng = np.random.default_rng(1)
    shared = rng.normal(10, 5, 12)  # what both arrangements share (the same threats, draws)
    a = shared + rng.normal(1.0, 0.3, 12)
    b = shared
    paired = st.paired_difference(a, b)
    ref = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert paired.ci == pytest.approx((ref.low, ref.high))
    assert paired.method == st.PAIRED_T_METHOD
    # Pairing removes the shared variance: the unpaired interval is far wider.
    unpaired = stats.ttest_ind(a, b).confidence_interval(0.95)
    assert paired.ci[1] - paired.ci[0] < 0.2 * (unpaired.high - unpaired.low)
    with pytest.raises(ValueError):
        st.paired_difference([1, 2], [1])


@pytest.mark.parametrize("n", [5, 10, 30])
def test_newcombe_paired_proportions_cover(n):
    """Correlated pairs: a replication that leaks under one arrangement often leaks under the
    other. P(a) = 0.7, P(b) = 0.5, a implies nothing about b except through a shared draw."""

    def pairs(rng, size):
        u = rng.random(size)
        v = np.where(rng.random(size) < 0.6, u, rng.random(size))
        return np.stack([u < 0.7, v < 0.5])

    def bounds(sample):
        return st.paired_proportion_difference(sample[0], sample[1]).ci

    truth = 0.7 - 0.5
    coverage = st.simulate_coverage(bounds, pairs, truth, n, TRIALS, seed=n)
    assert coverage >= 0.93, coverage


def test_newcombe_keeps_width_when_every_pair_agrees():
    same = [True, True, False, True, False]
    estimate = st.paired_proportion_difference(same, same)
    assert estimate.value == 0.0
    assert estimate.ci[0] < -0.1 and estimate.ci[1] > 0.1
    # The t interval on the differences would collapse to [0, 0].
    assert st.paired_difference(np.array(same, float), np.array(same, float)).ci == (0.0, 0.0)
