"""Paired comparisons of arrangements: the same threats, the same random numbers.

In: the per-threat outcome records of one sweep point (``threat_outcomes`` rows: arrangement,
replication, threat_id, first_launch_s, shots, killed), every arrangement run on the same
replications (``jointbmd.simulation`` gives each replication the same truth, picture and kill
draws under every arrangement). Out: per arrangement, its differences from a baseline
arrangement (``PairedComparison``), each an :class:`~jointbmd.analysis.statistics.Estimate`
whose interval names its method:

- leakers and interceptors spent per replication: the paired Student-t interval on the
  per-replication differences;
- "no leak" per replication: Newcombe's paired score interval (a t interval on 0/1 differences
  collapses to zero width whenever every pair agrees, which claims a certainty three
  replications cannot give);
- launch to first interceptor: within each replication, the mean difference over the threats
  *both* arrangements engaged (so the mean never compares different sets of threats), then the
  paired t interval over the replications that have such threats. Treating each threat as an
  independent pair would overstate n: a replication's threats share their picture and their
  decisions. How many threats only one of the two engaged is reported beside it.

This is the one home of paired comparisons: ``run``, ``compare`` and the report all call it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jointbmd.analysis.statistics import (
    PAIRED_T_METHOD,
    Estimate,
    paired_difference,
    paired_proportion_difference,
)


@dataclass(frozen=True)
class PairedComparison:
    """One arrangement against the baseline, on the same replications and threats."""

    arrangement: str
    baseline: str
    replications: int
    leakers: Estimate
    no_leak: Estimate
    interceptors_spent: Estimate
    launch_to_first_shot_s: Estimate
    threats_both_engaged: int
    engaged_only_here: int
    engaged_only_baseline: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: each difference as ``{value, ci, n, method}`` (NaN -> null)."""

        def estimate(e: Estimate) -> dict[str, Any]:
            finite = [x for x in e.ci if not math.isnan(x)]
            return {
                "value": None if math.isnan(e.value) else e.value,
                "ci": list(e.ci) if len(finite) == 2 else None,
                "n": e.n,
                "method": e.method,
            }

        return {
            "arrangement": self.arrangement,
            "baseline": self.baseline,
            "replications": self.replications,
            "leakers": estimate(self.leakers),
            "no_leak": estimate(self.no_leak),
            "interceptors_spent": estimate(self.interceptors_spent),
            "launch_to_first_shot_s": estimate(self.launch_to_first_shot_s),
            "threats_both_engaged": self.threats_both_engaged,
            "engaged_only_here": self.engaged_only_here,
            "engaged_only_baseline": self.engaged_only_baseline,
        }


def _by_replication(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[int, dict[int, Any]]]:
    """arrangement -> replication -> threat_id -> row."""
    out: dict[str, dict[int, dict[int, Any]]] = {}
    for row in rows:
        reps = out.setdefault(str(row["arrangement"]), {})
        reps.setdefault(int(row["replication"]), {})[int(row["threat_id"])] = row
    return out


#: What arrangements are compared with when no baseline is named (else the first run).
DEFAULT_BASELINE = "independent"


def resolve_baseline(names: Sequence[str], baseline: str | None, field: str = "--baseline") -> str:
    """The baseline of a paired comparison among ``names``: ``baseline`` when given (it must be
    one of them: else a `UserError` on ``field``), else ``DEFAULT_BASELINE`` if run, else the
    first."""
    from jointbmd.errors import UserError

    names = list(names)
    if baseline is None:
        return DEFAULT_BASELINE if DEFAULT_BASELINE in names else names[0]
    if baseline not in names:
        raise UserError(f"not among the arrangements run ({', '.join(names)})", field=field)
    return baseline


def paired_comparisons(
    threats: Iterable[Mapping[str, Any]], arrangements: Sequence[str], baseline: str
) -> list[PairedComparison]:
    """Every arrangement but the baseline against it (module docstring).

    Only replications both arrangements completed are paired; within them, only threats both
    recorded.
    """
    table = _by_replication(threats)
    base = table.get(baseline, {})
    out = []
    for name in arrangements:
        if name == baseline:
            continue
        here = table.get(name, {})
        reps = sorted(set(here) & set(base))
        leak_a, leak_b, spent_a, spent_b, safe_a, safe_b, shot_d = [], [], [], [], [], [], []
        both = only_here = only_base = 0
        for rep in reps:
            ids = sorted(set(here[rep]) & set(base[rep]))
            a = [here[rep][k] for k in ids]
            b = [base[rep][k] for k in ids]
            leak_a.append(sum(not r["killed"] for r in a))
            leak_b.append(sum(not r["killed"] for r in b))
            spent_a.append(sum(int(r.get("shots") or 0) for r in a))
            spent_b.append(sum(int(r.get("shots") or 0) for r in b))
            safe_a.append(leak_a[-1] == 0)
            safe_b.append(leak_b[-1] == 0)
            d = []
            for ra, rb in zip(a, b, strict=True):
                ta, tb = ra["first_launch_s"], rb["first_launch_s"]
                if ta is not None and tb is not None:
                    d.append(float(ta) - float(tb))
                only_here += ta is not None and tb is None
                only_base += ta is None and tb is not None
            both += len(d)
            if d:
                shot_d.append(math.fsum(d) / len(d))
        shot = paired_difference(shot_d, [0.0] * len(shot_d))
        out.append(
            PairedComparison(
                arrangement=name,
                baseline=baseline,
                replications=len(reps),
                leakers=paired_difference(leak_a, leak_b),
                no_leak=paired_proportion_difference(safe_a, safe_b),
                interceptors_spent=paired_difference(spent_a, spent_b),
                launch_to_first_shot_s=Estimate(shot.value, shot.ci, shot.n, PAIRED_T_METHOD),
                threats_both_engaged=both,
                engaged_only_here=only_here,
                engaged_only_baseline=only_base,
            )
        )
    return out
