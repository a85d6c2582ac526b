"""Intervals for the numbers a campaign reports, and paired differences between arrangements.

In: per-replication outcomes (numbers, or 0/1 flags), or their exact sums. Out: a point estimate
with a 95 % interval and the name of the method that made it (``Estimate``).

Methods (the method's name travels with each interval, so a table can say how it was made):

- **Means** (expected leakers, interceptors spent): Student's t interval,
  ``mean +- t(0.975, n-1) s / sqrt(n)`` (Student 1908; any statistics text, e.g. Casella & Berger,
  *Statistical Inference*, 2nd ed., sec. 9.2). The normal quantile 1.96 in its place covers only
  81 % at n = 3, 88 % at n = 5 and 92 % at n = 10 for normal data; the t quantile (4.30 at
  n = 3) covers 95 % exactly for normal data at every n. ``simulate_coverage`` measures it.
- **Proportions** (P(no leak)): the Wilson score interval (Wilson, JASA 22:209, 1927; Agresti &
  Coull, Am. Stat. 52:119, 1998), which does not collapse to zero width at 0 or n successes.
- **Paired differences** between two arrangements run on the same replications (the same threats
  and the same random draws, see ``jointbmd.campaign``): the t interval on the per-replication
  differences for means (``paired_difference``); for 0/1 outcomes, Newcombe's hybrid score
  interval for the difference of paired proportions (Newcombe, Stat. Med. 17:2635, 1998, method
  10), which, unlike the t interval on differences, keeps a non-zero width when every pair
  agrees. Pairing removes the variance the two arrangements share: the interval is on the
  difference itself, not on two independent means.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
Z95 = 1.959963984540054  # two-sided 95 % standard normal quantile

T_METHOD = "Student t"
WILSON_METHOD = "Wilson score"
PAIRED_T_METHOD = "paired Student t"
NEWCOMBE_METHOD = "Newcombe paired score (method 10)"


@dataclass(frozen=True)
class Estimate:
    """A point estimate, its interval, the sample size and the interval's method."""

    value: float
    ci: tuple[float, float]
    n: int
    method: str

    def as_dict(self) -> dict[str, object]:
        return {"value": self.value, "ci": list(self.ci), "n": self.n, "method": self.method}


def t_quantile(n: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student t quantile for a mean of ``n`` values (n - 1 degrees of freedom)."""
    return float(stats.t.ppf(0.5 + confidence / 2.0, n - 1))


def mean_interval_from_sums(
    total: float, total_sq: float, n: int, confidence: float = CONFIDENCE
) -> tuple[float, tuple[float, float]]:
    """Mean and Student-t interval of data given by its sum and sum of squares (exact integers
    keep the result independent of row order). NaN bounds below 2 values."""
    if n < 1:
        return math.nan, (math.nan, math.nan)
    mean = total / n
    if n < 2:
        return mean, (math.nan, math.nan)
    variance = max(0.0, (total_sq - total * total / n) / (n - 1))
    half = t_quantile(n, confidence) * math.sqrt(variance / n)
    return mean, (mean - half, mean + half)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """The mean of ``values`` with its Student-t interval."""
    data = np.asarray(values, dtype=float)
    n = int(data.size)
    if n == 0:
        return Estimate(math.nan, (math.nan, math.nan), 0, T_METHOD)
    mean = math.fsum(data) / n
    if n < 2:
        return Estimate(mean, (math.nan, math.nan), n, T_METHOD)
    half = t_quantile(n, confidence) * float(np.std(data, ddof=1)) / math.sqrt(n)
    return Estimate(mean, (mean - half, mean + half), n, T_METHOD)


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson, JASA 22:209, 1927).

    centre = (p + z^2/2n) / (1 + z^2/n),  half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n).
    """
    if trials <= 0:
        return (math.nan, math.nan)
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # At k = 0 (k = n) the bound is exactly 0 (1); rounding would leave 1e-17.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return (low, high)


def proportion_interval(flags: Sequence[bool]) -> Estimate:
    """The share of true ``flags`` with its Wilson interval."""
    n = len(flags)
    k = int(sum(bool(f) for f in flags))
    return Estimate(k / n if n else math.nan, wilson_interval(k, n), n, WILSON_METHOD)


def paired_difference(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> Estimate:
    """Mean of ``a[i] - b[i]`` over pairs (the same replication under two arrangements) with the
    Student-t interval on those differences."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} and {y.size}")
    estimate = mean_interval(x - y, confidence)
    return Estimate(estimate.value, estimate.ci, estimate.n, PAIRED_T_METHOD)


def paired_proportion_difference(a: Sequence[bool], b: Sequence[bool], z: float = Z95) -> Estimate:
    """P(a) - P(b) for paired 0/1 outcomes with Newcombe's hybrid score interval (method 10).

    With the paired table (e both true, f only a, g only b, h neither; n pairs), the difference
    D = (f - g)/n; with Wilson intervals (l1, u1) of P(a) and (l2, u2) of P(b) and phi the
    correlation of the table (``ad - bc`` reduced by n/2 when positive, Newcombe's correction),
    L = D - sqrt((p1-l1)^2 - 2 phi (p1-l1)(u2-p2) + (u2-p2)^2) and
    U = D + sqrt((u1-p1)^2 - 2 phi (u1-p1)(p2-l2) + (p2-l2)^2).
    """
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} and {y.size}")
    n = int(x.size)
    if n == 0:
        return Estimate(math.nan, (math.nan, math.nan), 0, NEWCOMBE_METHOD)
    e = int(np.sum(x & y))
    f = int(np.sum(x & ~y))
    g = int(np.sum(~x & y))
    h = n - e - f - g
    p1, p2 = (e + f) / n, (e + g) / n
    l1, u1 = wilson_interval(e + f, n, z)
    l2, u2 = wilson_interval(e + g, n, z)
    denominator = (e + f) * (g + h) * (e + g) * (f + h)
    cross = e * h - f * g
    if cross > 0:
        cross = max(cross - n / 2.0, 0.0)
    phi = cross / math.sqrt(denominator) if denominator > 0 else 0.0
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(
        max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    )
    return Estimate(d, (max(-1.0, low), min(1.0, high)), n, NEWCOMBE_METHOD)


def simulate_coverage(
    interval: Callable[[np.ndarray], tuple[float, float]],
    sample: Callable[[np.random.Generator, int], np.ndarray],
    truth: float,
    n: int,
    trials: int,
    seed: int = 0,
) -> float:
    """The share of ``trials`` samples of size ``n`` whose ``interval`` holds ``truth``.

    ``sample(rng, n)`` draws one sample; ``interval(sample)`` returns its (low, high).
    """
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(trials):
        low, high = interval(sample(rng, n))
        hits += bool(low <= truth <= high)
    return hits / trials
