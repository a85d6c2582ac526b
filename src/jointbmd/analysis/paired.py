"""Paired comparisons of arrangements: the same threats, the same random numbers.

In: the per-threat outcome records of one run (``threat_outcomes`` rows: arrangement,
replication, threat_id, launch_time_s, first_launch_s, killed), every arrangement run on the same
replications (``jointbmd.simulation`` gives each replication the same truth, picture and kill
draws under every arrangement). Out: per arrangement, its differences from a baseline
arrangement with Student-t intervals:

- leakers per replication and "no leak" per replication: the difference of the two
  arrangements in each replication, averaged over the replications;
- launch to first interceptor: the difference per (replication, threat) over the threats
  *both* arrangements engaged, so the mean never compares different sets of threats; how many
  threats only one of them engaged is reported beside it.

The interval is mean ± t(1 - α/2, n - 1) s / √n of the n paired differences (the differences
of a replication's threats are correlated, so the per-threat interval is approximate; the
per-replication ones are exact under normality). None where n < 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import t as student_t


@dataclass(frozen=True)
class PairedDelta:
    """Mean of n paired differences (this arrangement minus the baseline) and its interval."""

    mean: float | None
    ci: tuple[float, float] | None
    n: int


@dataclass(frozen=True)
class PairedComparison:
    """One arrangement against the baseline, on the same replications and threats."""

    arrangement: str
    baseline: str
    leakers: PairedDelta
    no_leak: PairedDelta
    launch_to_first_shot_s: PairedDelta
    engaged_only_here: int
    engaged_only_baseline: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_delta(differences: Iterable[float], confidence: float = 0.95) -> PairedDelta:
    """Mean and Student-t interval of paired differences."""
    d = np.asarray(list(differences), float)
    if d.size == 0:
        return PairedDelta(None, None, 0)
    mean = float(d.mean())
    if d.size < 2:
        return PairedDelta(mean, None, int(d.size))
    half = float(student_t.ppf(0.5 + confidence / 2, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))
    return PairedDelta(mean, (mean - half, mean + half), int(d.size))


def paired_comparisons(
    threats: Sequence[Mapping[str, Any]],
    arrangements: Sequence[str],
    baseline: str,
    confidence: float = 0.95,
) -> list[PairedComparison]:
    """Every arrangement but the baseline against it (module docstring)."""
    by_key: dict[str, dict[tuple[int, int], Mapping[str, Any]]] = {}
    for row in threats:
        by_key.setdefault(row["arrangement"], {})[
            (int(row["replication"]), int(row["threat_id"]))
        ] = row
    base = by_key.get(baseline, {})
    out = []
    for name in arrangements:
        if name == baseline:
            continue
        rows = by_key.get(name, {})
        common = sorted(set(rows) & set(base))
        replications = sorted({rep for rep, _ in common})
        leak_d, no_leak_d = [], []
        for rep in replications:
            here = [not rows[k]["killed"] for k in common if k[0] == rep]
            there = [not base[k]["killed"] for k in common if k[0] == rep]
            leak_d.append(sum(here) - sum(there))
            no_leak_d.append(float(not any(here)) - float(not any(there)))
        shot_d, only_here, only_base = [], 0, 0
        for k in common:
            a, b = rows[k]["first_launch_s"], base[k]["first_launch_s"]
            if a is not None and b is not None:
                shot_d.append(float(a) - float(b))
            only_here += a is not None and b is None
            only_base += a is None and b is not None
        out.append(
            PairedComparison(
                name,
                baseline,
                paired_delta(leak_d, confidence),
                paired_delta(no_leak_d, confidence),
                paired_delta(shot_d, confidence),
                int(only_here),
                int(only_base),
            )
        )
    return out
