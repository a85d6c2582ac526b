"""The validation table: jointbmd's numbers against published figures and textbook formulas.

In: nothing but the library itself. Out: a list of :class:`Check` records (name, expected value
and its source, obtained value, tolerance, pass) that ``jointbmd validate`` prints and
``tests/test_validate.py`` asserts, so the table and the tests are the same checks.

Checks come in named groups. A group is a function returning a list of checks, registered with
the :func:`check_group` decorator; to add one (trajectory, engagement, ...) write it in this module
next to the others::

    @check_group("trajectory")
    def _trajectory_checks() -> list[Check]:
        from jointbmd import trajectory  # import inside, so one broken stage spoils one group

        v = ...  # computed by jointbmd
        return [
            Check.compare("minimum-energy burnout speed, 1000 km", expected=3016.0, obtained=v,
                          tolerance=0.005, relative=True,
                          source="facts.md: v^2 = (2 mu/R) sin(psi/2)/(1 + sin(psi/2))"),
        ]

``Check.compare`` takes the tolerance as absolute unless ``relative=True``; ``Check.in_interval``
makes a check that passes when the expected value lies in a confidence interval around a
simulated estimate. Groups run in registration order; each must be deterministic (fixed seeds)
and fast, because the tests run every check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from jointbmd.errors import UserError

ToleranceKind = Literal["absolute", "relative"]


@dataclass(frozen=True)
class Check:
    """One row of the validation table.

    ``tolerance`` is absolute (same unit as the values) or relative to ``|expected|``, as
    ``tolerance_kind`` says; ``passed`` is ``|obtained - expected| <= tolerance`` (times
    ``|expected|`` when relative). ``source`` cites where the expected number comes from.
    """

    group: str
    name: str
    expected: float
    obtained: float
    tolerance: float
    tolerance_kind: ToleranceKind
    source: str
    passed: bool

    @classmethod
    def compare(
        cls,
        name: str,
        *,
        expected: float,
        obtained: float,
        tolerance: float,
        source: str,
        relative: bool = False,
        group: str = "",
    ) -> Check:
        """A check that ``obtained`` equals ``expected`` within ``tolerance``."""
        expected, obtained = float(expected), float(obtained)
        allowed = tolerance * abs(expected) if relative else tolerance
        passed = math.isfinite(obtained) and abs(obtained - expected) <= allowed
        return cls(
            group=group,
            name=name,
            expected=expected,
            obtained=obtained,
            tolerance=float(tolerance),
            tolerance_kind="relative" if relative else "absolute",
            source=source,
            passed=bool(passed),
        )

    @classmethod
    def in_interval(
        cls,
        name: str,
        *,
        expected: float,
        obtained: float,
        low: float,
        high: float,
        source: str,
        group: str = "",
    ) -> Check:
        """A check that ``expected`` lies in ``[low, high]``, an interval around ``obtained``.

        The tolerance reported is the absolute distance from ``obtained`` to the interval's end
        on the side of ``expected``, so that ``passed`` reads as for :meth:`compare`.
        """
        expected, obtained = float(expected), float(obtained)
        tolerance = (high - obtained) if expected >= obtained else (obtained - low)
        return cls(
            group=group,
            name=name,
            expected=expected,
            obtained=obtained,
            tolerance=float(tolerance),
            tolerance_kind="absolute",
            source=source,
            passed=bool(low <= expected <= high),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CheckGroup = Callable[[], list[Check]]
_GROUPS: dict[str, CheckGroup] = {}


def check_group(name: str) -> Callable[[CheckGroup], CheckGroup]:
    """Register a function returning a list of checks as the group ``name``."""

    def register(function: CheckGroup) -> CheckGroup:
        if name in _GROUPS:
            raise ValueError(f"validation group {name!r} registered twice")
        _GROUPS[name] = function
        return function

    return register


def group_names() -> list[str]:
    """The registered groups, in the order they run."""
    return list(_GROUPS)


def run_checks(groups: Iterable[str] | None = None) -> list[Check]:
    """Run the named groups (all when ``None``) and return their checks, each tagged its group."""
    names = group_names() if groups is None else list(dict.fromkeys(groups))
    unknown = [n for n in names if n not in _GROUPS]
    if unknown:
        raise UserError(
            f"unknown validation group {unknown[0]!r}; known: {', '.join(group_names())}",
            field="group",
        )
    checks: list[Check] = []
    for name in names:
        for check in _GROUPS[name]():
            checks.append(check if check.group == name else _with_group(check, name))
    return checks


def _with_group(check: Check, group: str) -> Check:
    return Check(**{**check.to_dict(), "group": group})


# --------------------------------------------------------------------------------------------
# Effectiveness: Wilkening's model by hand, and the closed form against simulation.

# Full reference: D. Wilkening, "A Simple Model for Calculating Ballistic Missile Defense
# Effectiveness", Science & Global Security 8(2), 1999/2000.
WILKENING = "Wilkening 1999"


@check_group("effectiveness")
def _effectiveness_checks() -> list[Check]:
    from jointbmd.analysis import effectiveness as eff

    checks: list[Check] = []
    add = checks.append
    exact = dict(tolerance=1e-12, relative=True)

    # Hand-worked case: N = 10, SSPK = 0.8, P_track = 0.99, n = 2.
    # K = 0.99 * (1 - 0.2^2) = 0.99 * 0.96 = 0.9504; P_D = 0.9504^10.
    base = eff.evaluate(10, 0.8, 2, 0.99)
    add(
        Check.compare(
            "K, N=10 SSPK=0.8 Ptrack=0.99 n=2",
            expected=0.9504,
            obtained=base.k_object,
            source=f"{WILKENING}: K = Ptrack(1-(1-SSPK)^n); 0.99 x 0.96 by hand",
            **exact,
        )
    )
    add(
        Check.compare(
            "P(no leak), same case",
            expected=0.9504**10,
            obtained=base.p_no_leak,
            source=f"{WILKENING}: P_D = K^N; 0.9504^10 by hand",
            **exact,
        )
    )
    add(
        Check.compare(
            "expected leakers, same case",
            expected=10 * (1 - 0.9504),
            obtained=base.expected_leakers,
            source="N(1 - K) by hand",
            **exact,
        )
    )
    add(
        Check.compare(
            "ceiling, N=10 Ptrack=0.99",
            expected=0.99**10,
            obtained=base.ceiling,
            source=f"{WILKENING}: ceiling Ptrack^N",
            **exact,
        )
    )
    unlimited = eff.evaluate(10, 0.8, 60, 0.99)
    add(
        Check.compare(
            "P(no leak) with 60 shots/object reaches the ceiling",
            expected=0.99**10,
            obtained=unlimited.p_no_leak,
            source=f"{WILKENING}: ceiling Ptrack^N whatever the SSPK",
            **exact,
        )
    )

    # Sizing for a goal: n = ln(1 - goal^(1/N)/Ptrack) / ln(1 - SSPK).
    need = eff.shots_for_goal(0.9, 10, 0.8, 0.99)
    n_hand = math.log(1 - 0.9 ** (1 / 10) / 0.99) / math.log(1 - 0.8)
    add(
        Check.compare(
            "interceptors/object for P_D 0.9, N=10 SSPK=0.8 Ptrack=0.99",
            expected=n_hand,
            obtained=need.interceptors_per_object,
            source=f"{WILKENING}: K^N = goal solved for n, by hand",
            **exact,
        )
    )
    add(
        Check.compare(
            "whole interceptors in total for the same goal",
            expected=50,
            obtained=need.interceptors_total_whole,
            source=f"ceil({n_hand:.4f}) = 5 per object x 10 warheads",
            tolerance=0,
        )
    )
    add(
        Check.compare(
            "P(no leak) with those 5 interceptors/object",
            expected=(0.99 * (1 - 0.2**5)) ** 10,
            obtained=need.p_no_leak_whole,
            source=f"{WILKENING}: (Ptrack(1-0.2^5))^10 by hand",
            **exact,
        )
    )

    # Decoys and discrimination: W* = W Pww + D Pdw; warheads classed as decoys leak.
    disc = eff.evaluate(
        5, 0.7, 2, 0.98, decoys=20, p_warhead_as_warhead=0.95, p_decoy_as_warhead=0.3
    )
    add(
        Check.compare(
            "objects engaged W*, W=5 D=20 Pww=0.95 Pdw=0.3",
            expected=5 * 0.95 + 20 * 0.3,
            obtained=disc.objects_engaged,
            source=f"{WILKENING}: W* = W Pww + D Pdw; 4.75 + 6 by hand",
            **exact,
        )
    )
    add(
        Check.compare(
            "P(no leak) with discrimination, same case",
            expected=(0.95 * 0.98 * (1 - 0.3**2)) ** 5,
            obtained=disc.p_no_leak,
            source=f"{WILKENING}: (Pww K)^N by hand",
            **exact,
        )
    )

    # Independent layers multiply their leak probabilities.
    layered = eff.evaluate(5, 0.8, 2, 0.95, layers=[(0.7, 1)])
    leak_hand = (1 - 0.95 * 0.7) * (1 - 0.95 * (1 - 0.2**2))
    add(
        Check.compare(
            "P(no leak), two layers (0.7 x1, 0.8 x2), Ptrack=0.95, N=5",
            expected=(1 - leak_hand) ** 5,
            obtained=layered.p_no_leak,
            source=f"{WILKENING}: layer leak probabilities multiply; by hand",
            **exact,
        )
    )

    # Shoot-look-shoot 1-look-1, perfect kill assessment: same kill probability as a barrage of
    # 2, expected interceptors 1 + (1 - Ptrack SSPK) per object.
    sls = eff.evaluate(10, 0.8, 2, 0.99, doctrine="shoot-look-shoot")
    add(
        Check.compare(
            "shoot-look-shoot 1-1: P(no leak) equals barrage of 2",
            expected=0.9504**10,
            obtained=sls.p_no_leak,
            source=f"{WILKENING}: second salvo only at survivors; perfect look",
            **exact,
        )
    )
    add(
        Check.compare(
            "shoot-look-shoot 1-1: expected interceptors, N=10",
            expected=10 * (1 + (1 - 0.99 * 0.8)),
            obtained=sls.expected_interceptors_total,
            source="N(1 + (1 - Ptrack SSPK)) by hand",
            **exact,
        )
    )

    checks.extend(_monte_carlo_checks(eff))
    return checks


# Parameter sets for closed form vs simulation: (label, evaluate/monte_carlo arguments, seed).
_MC_CASES: list[tuple[str, dict[str, Any], int]] = [
    (
        "N=10 SSPK=0.8 Ptrack=0.99 n=2 barrage",
        dict(warheads=10, sspk=0.8, shots_per_object=2, p_track=0.99),
        101,
    ),
    ("N=1 SSPK=0.5 Ptrack=1 n=1", dict(warheads=1, sspk=0.5, shots_per_object=1, p_track=1.0), 102),
    (
        "N=4 SSPK=0.6 Ptrack=0.95 n=3 shoot-look-shoot, look right 90 %",
        dict(
            warheads=4,
            sspk=0.6,
            shots_per_object=3,
            p_track=0.95,
            doctrine="shoot-look-shoot",
            p_kill_assessment=0.9,
        ),
        103,
    ),
    (
        "N=5 D=10 Pww=0.97 Pdw=0.5 SSPK=0.7 n=2 behind a layer 0.5x1",
        dict(
            warheads=5,
            sspk=0.7,
            shots_per_object=2,
            p_track=0.97,
            decoys=10,
            p_warhead_as_warhead=0.97,
            p_decoy_as_warhead=0.5,
            layers=[(0.5, 1, 0.9)],
        ),
        104,
    ),
]
_MC_TRIALS = 20_000


def _monte_carlo_checks(eff) -> list[Check]:
    checks = []
    for label, args, seed in _MC_CASES:
        closed = eff.evaluate(**args)
        mc = eff.monte_carlo(
            **args, trials=_MC_TRIALS, rng=np.random.default_rng(seed), confidence=0.99
        )
        checks.append(
            Check.in_interval(
                f"P(no leak) closed form in 99 % interval of Monte Carlo: {label}",
                expected=closed.p_no_leak,
                obtained=mc.p_no_leak,
                low=mc.ci_low,
                high=mc.ci_high,
                source=f"{WILKENING} closed form; {_MC_TRIALS} trials, seed {seed}",
            )
        )
        if args.get("doctrine") == "shoot-look-shoot":
            # Mean interceptors spent: a normal 99 % interval, 2.576 standard errors.
            half = 2.576 * mc.stderr_interceptors
            checks.append(
                Check.in_interval(
                    f"expected interceptors closed form in 99 % interval of Monte Carlo: {label}",
                    expected=closed.expected_interceptors_total,
                    obtained=mc.mean_interceptors,
                    low=mc.mean_interceptors - half,
                    high=mc.mean_interceptors + half,
                    source=f"closed form of this module; {_MC_TRIALS} trials, seed {seed}",
                )
            )
    return checks
