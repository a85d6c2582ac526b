"""The fusion centre's maths: track-to-track association and covariance intersection.

In: national track reports -- objects with ``source`` (partner name), ``track_id``, ``t``,
``x (6,)`` (ECI position m, velocity m/s) and ``P (6, 6)``, such as
:class:`jointbmd.exchange.messages.TrackReport` -- and the time of the picture. Out: a
:class:`FusedPicture`, the same for every partner: one fused state and covariance per threat, a
fused id that stays the same from one picture to the next, and which sources contributed.
Messages, links and signatures belong to the exchange stage; prediction belongs to tracking and is
passed in as a callable ``predict(x (k,6), P (k,6,6), t_from (k,), t_to) -> (x, P)``.

Association (Bar-Shalom, Willett & Tian, *Tracking and Data Fusion*, 2011, §8.2; Blackman &
Popoli, *Design and Analysis of Modern Tracking Systems*, 1999, §9.2)
--------------------------------------------------------------------------------------------
Two tracks of the same object from different partners differ by Δ = x1 - x2 with covariance
close to S = P1 + P2 (ignoring their cross-covariance, which is unknown here; it is positive for
tracks fed by a common process noise, so S overstates the spread and the gate is conservative).
The statistical distance d² = Δᵀ S⁻¹ Δ is chi-square with 6 degrees of freedom for a true pair;
pairs with d² above the ``gate_probability`` quantile are impossible. Among the rest, the
assignment with the smallest total d² is found by the Hungarian method
(``scipy.optimize.linear_sum_assignment``, Crouse 2016). A pair that was associated in the
previous picture and is still inside the gate costs nothing, so associations hold through
crossings instead of flipping with the noise ("sticky" association).

More than two sources are handled sequentially: sources in alphabetical order (so every run and
every partner gets the same answer); each new source's tracks are assigned to the clusters built
so far, compared with the cluster's current fused estimate, and fused into it; a track left
unassigned starts a new cluster. A cluster holds at most one track per source.

Covariance intersection (Julier & Uhlmann, "A non-divergent estimation algorithm in the presence of
unknown correlations", Proc. American Control Conference 1997)
--------------------------------------------------------------------------------------------
For two estimates with unknown cross-correlation::

    P⁻¹ = ω P1⁻¹ + (1 - ω) P2⁻¹,    x = P (ω P1⁻¹ x1 + (1 - ω) P2⁻¹ x2),    ω ∈ [0, 1],

is consistent (P ≥ the true error covariance) for every ω and every cross-correlation, provided P1
and P2 are. ω is chosen to minimise trace(P) (default; position variances dominate the trace of
a position-velocity state) or det(P) (scale-free); both are convex in ω, so a batched
golden-section search over [0, 1] finds the minimum. With more than two tracks the sequential
pairwise fusion above is used; each step is consistent, so the result is.

Fused ids. A cluster takes the fused id of the previous picture's fused track with which it shares
the most (source, track id) members (optimal assignment on the overlap); a cluster sharing none
gets a new id. National track ids are stable, so fused ids are too; a fused track whose every
contributing national track was replaced gets a new id.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment
from scipy.stats import chi2

from jointbmd.arrays import FloatArray

PredictFn = Callable[[FloatArray, FloatArray, FloatArray, float], tuple[FloatArray, FloatArray]]
Criterion = Literal["trace", "det"]
Key = tuple[str, int]

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def _sym(p: FloatArray) -> FloatArray:
    return 0.5 * (p + np.swapaxes(p, -1, -2))


# --------------------------------------------------------------------------------------------
# Pure maths
# --------------------------------------------------------------------------------------------


def _ci_cost(
    omega: FloatArray, info1: FloatArray, info2: FloatArray, criterion: Criterion
) -> FloatArray:
    info = omega[:, None, None] * info1 + (1.0 - omega)[:, None, None] * info2
    if criterion == "det":
        return -np.linalg.slogdet(info)[1]  # log det P = -log det P⁻¹
    return np.trace(np.linalg.inv(info), axis1=-2, axis2=-1)


def covariance_intersection(
    x1: ArrayLike,
    P1: ArrayLike,
    x2: ArrayLike,
    P2: ArrayLike,
    criterion: Criterion = "trace",
    iterations: int = 45,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Fuse pairs of estimates with unknown correlation (Julier & Uhlmann 1997).

    ``x1, x2 (k, d)``, ``P1, P2 (k, d, d)`` (a single pair without the batch axis works too).
    Returns the fused ``x (k, d)``, ``P (k, d, d)`` and the weight ``omega (k,)`` given to the
    first estimate, chosen to minimise trace(P) or det(P) by golden-section search.
    """
    x1, x2 = np.asarray(x1, float), np.asarray(x2, float)
    P1, P2 = np.asarray(P1, float), np.asarray(P2, float)
    single = x1.ndim == 1
    if single:
        x1, x2, P1, P2 = x1[None], x2[None], P1[None], P2[None]
    if criterion not in ("trace", "det"):
        raise ValueError(f"unknown criterion {criterion!r}")
    info1, info2 = np.linalg.inv(P1), np.linalg.inv(P2)
    k = x1.shape[0]
    lo, hi = np.zeros(k), np.ones(k)
    c, d = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    fc, fd = _ci_cost(c, info1, info2, criterion), _ci_cost(d, info1, info2, criterion)
    for _ in range(iterations):
        left = fc < fd  # minimum in [lo, d]
        hi = np.where(left, d, hi)
        lo = np.where(left, lo, c)
        new = np.where(left, hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo))
        fnew = _ci_cost(new, info1, info2, criterion)
        c, d, fc, fd = (
            np.where(left, new, d),
            np.where(left, c, new),
            np.where(left, fnew, fd),
            np.where(left, fc, fnew),
        )
    omega = 0.5 * (lo + hi)
    # The optimum may sit on an end (one estimate dominates): compare with the ends exactly.
    candidates = np.stack([np.zeros(k), omega, np.ones(k)], axis=1)
    costs = np.stack([_ci_cost(candidates[:, j], info1, info2, criterion) for j in range(3)], 1)
    omega = candidates[np.arange(k), np.argmin(costs, axis=1)]
    w1, w2 = omega[:, None, None] * info1, (1.0 - omega)[:, None, None] * info2
    P = _sym(np.linalg.inv(w1 + w2))
    x = np.einsum(
        "kij,kj->ki", P, np.einsum("kij,kj->ki", w1, x1) + np.einsum("kij,kj->ki", w2, x2)
    )
    if single:
        return x[0], P[0], omega[0]
    return x, P, omega


def pairwise_distance(x1: ArrayLike, P1: ArrayLike, x2: ArrayLike, P2: ArrayLike) -> FloatArray:
    """Statistical distances d²[i, j] = Δᵀ (P1_i + P2_j)⁻¹ Δ, Δ = x1_i - x2_j: ``(k1, k2)``."""
    x1, x2 = np.asarray(x1, float), np.asarray(x2, float)
    P1, P2 = np.asarray(P1, float), np.asarray(P2, float)
    delta = x1[:, None, :] - x2[None, :, :]
    S = P1[:, None] + P2[None, :]
    return np.einsum("abi,abi->ab", delta, np.linalg.solve(S, delta[..., None])[..., 0])


@functools.lru_cache(maxsize=64)
def gate_threshold(gate_probability: float, dim: int = 6) -> float:
    """Chi-square quantile: a true pair's d² stays below it with ``gate_probability``."""
    return float(chi2.ppf(gate_probability, dim))


def assign(cost: ArrayLike, gate: float) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Optimal one-to-one assignment minimising total cost among pairs with cost ≤ ``gate``.

    Returns the matched row and column indices. Pairs outside the gate are never matched.
    """
    cost = np.asarray(cost, float)
    if cost.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    allowed = np.isfinite(cost) & (cost <= gate)
    # Outside the gate: a cost so high that leaving the pair unmatched is always cheaper.
    big = (gate + 1.0) * (min(cost.shape) + 1) + 1.0
    rows, cols = linear_sum_assignment(np.where(allowed, cost, big))
    keep = allowed[rows, cols]
    return rows[keep], cols[keep]


# --------------------------------------------------------------------------------------------
# The fused picture and the fusion centre
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FusedPicture:
    """The fusion centre's output at time ``t``: ``m`` fused tracks in ECI.

    ``fused_id (m,)``; ``x (m, 6)``; ``P (m, 6, 6)``; ``sources[i]`` the partners that contributed
    to fused track i; ``members[i]`` their (partner, national track id) pairs.
    """

    t: float
    fused_id: NDArray[np.int64]
    x: FloatArray
    P: FloatArray
    sources: tuple[tuple[str, ...], ...]
    members: tuple[tuple[Key, ...], ...]

    def __len__(self) -> int:
        return int(self.fused_id.shape[0])

    @classmethod
    def empty(cls, t: float, dim: int = 6) -> FusedPicture:
        return cls(
            t=float(t),
            fused_id=np.zeros(0, np.int64),
            x=np.zeros((0, dim)),
            P=np.zeros((0, dim, dim)),
            sources=(),
            members=(),
        )


@dataclass
class FusedCluster:
    """One associated group of national tracks: fused state, covariance, (source, id) members."""

    x: FloatArray
    P: FloatArray
    members: list[Key]


def _report_fields(report: Any) -> tuple[str, int, float, FloatArray, FloatArray]:
    source = getattr(report, "source", None)
    if source is None:
        source = report.partner
    return (
        str(source),
        int(report.track_id),
        float(report.t),
        np.asarray(report.x, float),
        np.asarray(report.P, float),
    )


class FusionCentre:
    """Keeps the latest report of every national track and fuses them into a picture on demand.

    Parameters
    ----------
    predict:
        ``predict(x (k,6), P (k,6,6), t_from (k,), t_to) -> (x, P)`` moving national tracks to the
        picture time (e.g. tracking's ballistic EKF predictor). ``None``: reports must already be
        at the picture time.
    gate_probability:
        Probability that a true pair passes the chi-square gate (6 degrees of freedom).
    criterion:
        What covariance intersection minimises: ``"trace"`` or ``"det"`` of the fused covariance.
    max_age:
        Seconds after which a national track that has not been reported is dropped (so a
        partner whose link is cut stops contributing and the rest carry on).
    """

    def __init__(
        self,
        predict: PredictFn | None = None,
        gate_probability: float = 0.9999,
        criterion: Criterion = "trace",
        max_age: float = 30.0,
    ) -> None:
        self.predict = predict
        self.gate_probability = gate_probability
        self.criterion = criterion
        self.max_age = max_age
        self._latest: dict[Key, tuple[float, FloatArray, FloatArray]] = {}
        self._previous_group: dict[Key, int] = {}  # national track -> fused id last time
        self._next_id = 0
        self.picture: FusedPicture | None = None
        self.inputs: tuple[list[Key], FloatArray, FloatArray] | None = None

    def update(
        self, reports: Iterable[Any], t: float, complete_sources: Iterable[str] = ()
    ) -> FusedPicture:
        """Take in new national track reports and return the fused picture at time ``t``.

        ``complete_sources`` names the sources whose reports here are their whole live track
        list (a partner's periodic batch): their tracks missing from it were deleted by the
        partner and are dropped at once, instead of coasting until ``max_age``.
        """
        reports = list(reports)
        complete = set(complete_sources)
        if complete:
            live = {(_report_fields(r)[0], _report_fields(r)[1]) for r in reports}
            self._latest = {
                k: v for k, v in self._latest.items() if k[0] not in complete or k in live
            }
        for report in reports:
            source, track_id, t_r, x, P = _report_fields(report)
            key = (source, track_id)
            if key not in self._latest or t_r >= self._latest[key][0]:
                self._latest[key] = (t_r, x, P)
        self._latest = {k: v for k, v in self._latest.items() if t - v[0] <= self.max_age}
        if not self._latest:
            self.picture = FusedPicture.empty(t)
            self._previous_group = {}
            return self.picture

        keys = sorted(self._latest)
        t_from = np.array([self._latest[k][0] for k in keys])
        x = np.stack([self._latest[k][1] for k in keys])
        P = np.stack([self._latest[k][2] for k in keys])
        if self.predict is not None:
            x, P = self.predict(x, P, t_from, float(t))
        elif np.any(np.abs(t_from - t) > 1e-9):
            raise ValueError("reports are not at the picture time and no predict was given")
        # The national tracks as fused, at the picture time (for scoring fusion against them).
        self.inputs = (keys, x, P)
        clusters = fuse_tracks(
            keys, x, P, self.gate_probability, self.criterion, self._previous_group
        )
        self.picture = self._assign_ids(clusters, float(t))
        return self.picture

    def _assign_ids(self, clusters: list[FusedCluster], t: float) -> FusedPicture:
        previous_ids = sorted(set(self._previous_group.values()))
        column = {fid: j for j, fid in enumerate(previous_ids)}
        overlap = np.zeros((len(clusters), len(previous_ids)))
        for i, cluster in enumerate(clusters):
            for key in cluster.members:
                fid = self._previous_group.get(key)
                if fid is not None:
                    overlap[i, column[fid]] += 1.0
        ids = np.full(len(clusters), -1, np.int64)
        if overlap.size:
            rows, cols = linear_sum_assignment(-overlap)
            for r, c in zip(rows, cols, strict=True):
                if overlap[r, c] > 0:
                    ids[r] = previous_ids[c]
        for i in range(len(clusters)):
            if ids[i] < 0:
                ids[i] = self._next_id
                self._next_id += 1
        order = np.argsort(ids)
        self._previous_group = {
            key: int(ids[i]) for i, cluster in enumerate(clusters) for key in cluster.members
        }
        return FusedPicture(
            t=t,
            fused_id=ids[order],
            x=np.stack([clusters[i].x for i in order]),
            P=np.stack([clusters[i].P for i in order]),
            sources=tuple(tuple(s for s, _ in clusters[i].members) for i in order),
            members=tuple(tuple(clusters[i].members) for i in order),
        )


def fuse_tracks(
    keys: Sequence[Key],
    x: ArrayLike,
    P: ArrayLike,
    gate_probability: float = 0.9999,
    criterion: Criterion = "trace",
    previous_group: dict[Key, int] | None = None,
) -> list[FusedCluster]:
    """Associate and fuse national tracks that are all at the same time.

    ``keys[i]`` = (source, track id) of ``x[i] (6,)``, ``P[i] (6, 6)``. Sources are taken in
    alphabetical order; each source's tracks are assigned (gate + Hungarian) to the clusters built
    so far and fused into them by covariance intersection. ``previous_group`` maps national
    tracks to the fused id they had last time, which makes a still-gated old pairing free.
    Returns clusters with their fused state, covariance and members.
    """
    x, P = np.asarray(x, float), np.asarray(P, float)
    previous_group = previous_group or {}
    gate = gate_threshold(gate_probability, x.shape[-1])
    by_source: dict[str, list[int]] = {}
    for i, (source, _) in enumerate(keys):
        by_source.setdefault(source, []).append(i)
    clusters: list[FusedCluster] = []
    for source in sorted(by_source):
        idx = sorted(by_source[source], key=lambda i: keys[i][1])
        if clusters:
            xc = np.stack([c.x for c in clusters])
            Pc = np.stack([c.P for c in clusters])
            cost = pairwise_distance(xc, Pc, x[idx], P[idx])
            for a, cluster in enumerate(clusters):
                old = {previous_group.get(k) for k in cluster.members} - {None}
                for b, i in enumerate(idx):
                    if previous_group.get(keys[i]) in old and cost[a, b] <= gate:
                        cost[a, b] = 0.0
            rows, cols = assign(cost, gate)
        else:
            rows = cols = np.zeros(0, np.intp)
        if rows.size:
            xf, Pf, _ = covariance_intersection(
                np.stack([clusters[r].x for r in rows]),
                np.stack([clusters[r].P for r in rows]),
                x[[idx[c] for c in cols]],
                P[[idx[c] for c in cols]],
                criterion,
            )
            for n, (r, c) in enumerate(zip(rows, cols, strict=True)):
                clusters[r] = FusedCluster(xf[n], Pf[n], clusters[r].members + [keys[idx[c]]])
        matched = set(cols.tolist())
        for b, i in enumerate(idx):
            if b not in matched:
                clusters.append(FusedCluster(x[i].copy(), P[i].copy(), [keys[i]]))
    return clusters
