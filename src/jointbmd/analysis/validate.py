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
                          source="docs/reference.md: v^2 = (2 mu/R) sin(psi/2)/(1 + sin(psi/2))"),
        ]

``Check.compare`` takes the tolerance as absolute unless ``relative=True``; ``Check.in_interval``
makes a check that passes when the expected value lies in a confidence interval around a
simulated estimate. Groups run in registration order; each must be deterministic (fixed seeds)
and fast, because the tests run every check.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from jointbmd.errors import UserError

ToleranceKind = Literal["absolute", "relative"]


@dataclass(frozen=True)
class Check:
    """One row of the validation table.

    ``tolerance`` is absolute (same unit as the values) or relative to ``|expected|``, as
    ``tolerance_kind`` says; ``passed`` is ``|obtained - expected| <= tolerance`` (times
    ``|expected|`` when relative). ``source`` cites where the expected number comes from.

    ``disagreement`` (failing checks only) states, from jointbmd's own numbers, why jointbmd does
    not reproduce a published claim: a reported disagreement, not a defect. The parameters are
    never changed to make such a check pass; a check that passes must not carry one (the text
    would be stale), which the tests assert.
    """

    group: str
    name: str
    expected: float
    obtained: float
    tolerance: float
    tolerance_kind: ToleranceKind
    source: str
    passed: bool
    disagreement: str = ""

    @property
    def accounted(self) -> bool:
        """Passed, or failed with the cause reported."""
        return self.passed or bool(self.disagreement)

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
        disagreement: str = "",
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
            disagreement="" if passed else disagreement,
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

#: Confidence of every Monte Carlo check of the table (a closed form inside the interval of a
#: simulated estimate). The table holds 17 such checks: at 99 % each, the chance that at least
#: one fails by chance alone is about 16 % whenever the random streams change; at 99.9 % about
#: 1.7 % (Bonferroni: a family-wise level of about 0.02). Raised from 99 % when the streams
#: changed to one generator per link and one check (decoys, seed 211) drew 79/250 = 0.316
#: against 0.397 -- a 2.6-sigma draw: seeds 311, 411, 511 gave 0.396, 0.404, 0.376.
MC_CONFIDENCE = 0.999
MC_Z = statistics.NormalDist().inv_cdf(0.5 + MC_CONFIDENCE / 2)  # two-sided normal quantile
_MC_PERCENT = "99.9 %"


def _monte_carlo_checks(eff) -> list[Check]:
    checks = []
    for label, args, seed in _MC_CASES:
        closed = eff.evaluate(**args)
        mc = eff.monte_carlo(
            **args, trials=_MC_TRIALS, rng=np.random.default_rng(seed), confidence=MC_CONFIDENCE
        )
        checks.append(
            Check.in_interval(
                f"P(no leak) closed form in {_MC_PERCENT} interval of Monte Carlo: {label}",
                expected=closed.p_no_leak,
                obtained=mc.p_no_leak,
                low=mc.ci_low,
                high=mc.ci_high,
                source=f"{WILKENING} closed form; {_MC_TRIALS} trials, seed {seed}",
            )
        )
        if args.get("doctrine") == "shoot-look-shoot":
            # Mean interceptors spent: a normal interval, MC_Z standard errors.
            half = MC_Z * mc.stderr_interceptors
            checks.append(
                Check.in_interval(
                    f"expected interceptors closed form in {_MC_PERCENT} interval of Monte "
                    f"Carlo: {label}",
                    expected=closed.expected_interceptors_total,
                    obtained=mc.mean_interceptors,
                    low=mc.mean_interceptors - half,
                    high=mc.mean_interceptors + half,
                    source=f"closed form of this module; {_MC_TRIALS} trials, seed {seed}",
                )
            )
    return checks


# --------------------------------------------------------------------------------------------
# Engagement: the end-to-end simulation against Wilkening's closed form, and a kinematically
# impossible tail chase.

# (N threats, SSPK, salvo n, Earth model, seed). The closed form is exact for these conditions:
# perfect sensing (P_track = 1), no latency, one barrage of n per threat.
_WILKENING_CASES: list[tuple[int, float, int, str, int]] = [
    (1, 0.5, 1, "ideal", 201),
    (3, 0.7, 2, "ideal", 202),
    (2, 0.6, 3, "ideal", 203),
    (4, 0.8, 1, "full", 204),
]
#: Replications of the whole pipeline per case, and independent kill-draw streams (identical
#: arrangements) per replication: 10 x 25 = 250 samples of "no leak" per case. Tracking is
#: most of a replication's cost and does not change the draws (the closed form's P_track = 1 is
#: checked by the shots fired), so the draws come cheaper than whole replications.
_ENGAGEMENT_REPLICATIONS = 10
_ENGAGEMENT_DRAWS = 25
_TAIL_CHASE_REPLICATIONS = 10
#: Radar revisit (s) of the validation scenarios: firm tracks about 15 s after burnout.
_REVISIT_S = 5.0


def _clopper_pearson(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    from scipy.stats import binomtest

    ci = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


@check_group("engagement")
def _engagement_checks() -> list[Check]:
    return list(_engagement_checks_once())


@functools.lru_cache(maxsize=1)
def _engagement_checks_once() -> tuple[Check, ...]:
    """The engagement checks, computed once per process: they are deterministic (fixed seeds)
    and take seconds, and the table and the tests both ask for them."""
    return tuple(_compute_engagement_checks())


def _compute_engagement_checks() -> list[Check]:
    from jointbmd.analysis.validation_scenarios import perfect_sensing, tail_chase
    from jointbmd.engagement import solve_intercepts
    from jointbmd.simulation import build_truth, run_arrangements, run_replication
    from jointbmd.simulation.decide import fire_units_of

    checks: list[Check] = []
    add = checks.append
    reps, draws = _ENGAGEMENT_REPLICATIONS, _ENGAGEMENT_DRAWS
    for n_threats, sspk, salvo, model, seed in _WILKENING_CASES:
        scenario = perfect_sensing(n_threats, sspk, salvo, model, draws=draws, revisit_s=_REVISIT_S)
        no_leak = 0
        shots = 0
        for replication in range(reps):
            # Independent kill draws per arrangement copy: each copy is a separate sample.
            for result in run_arrangements(
                scenario, "all", replication, seed, common_kill_draws=False
            ):
                no_leak += int(result.no_leak)
                shots += result.interceptors_spent
        samples = reps * draws
        low, high = _clopper_pearson(no_leak, samples, MC_CONFIDENCE)
        label = f"N={n_threats} SSPK={sspk} n={salvo} ({model} Earth)"
        closed = (1.0 - (1.0 - sspk) ** salvo) ** n_threats
        add(
            Check.in_interval(
                f"simulated P(no leak), perfect sensing, no latency: {label}",
                expected=closed,
                obtained=no_leak / samples,
                low=low,
                high=high,
                source=(
                    f"{WILKENING}: P = (1-(1-SSPK)^n)^N (docs/reference.md); {_MC_PERCENT} "
                    f"Clopper-Pearson interval of {samples} draws ({reps} replications x "
                    f"{draws} kill-draw streams), seed {seed}"
                ),
            )
        )
        # The premise of the closed form: every threat tracked and engaged by one full barrage.
        add(
            Check.compare(
                f"interceptors fired, perfect sensing: {label}",
                expected=samples * n_threats * salvo,
                obtained=shots,
                tolerance=0,
                source=f"{WILKENING}: P_track = 1, n interceptors per object; N n per draw",
            )
        )

    checks.extend(_objects_checks(reps, draws))

    # Tail chase: a 2.5 km/s interceptor 200 km behind the launch of a 4.6 km/s missile.
    chase = tail_chase(behind=True, revisit_s=_REVISIT_S)
    truth = build_truth(chase)
    units = fire_units_of(chase)
    solution, _ = solve_intercepts(
        truth.times, truth.r_ecef, units.units, truth.launch_time[:, None], model=chase.model
    )
    add(
        Check.compare(
            "tail chase: feasible intercepts even with launch allowed at the threat's launch",
            expected=0,
            obtained=int(solution.feasible.sum()),
            tolerance=0,
            source="a slower interceptor behind a faster missile flying away cannot "
            "catch it (flyout time grows faster than the clock)",
        )
    )
    fired = sum(
        run_replication(chase, "independent", r, 301).interceptors_spent
        for r in range(_TAIL_CHASE_REPLICATIONS)
    )
    add(
        Check.compare(
            f"tail chase: interceptors fired over {_TAIL_CHASE_REPLICATIONS} replications",
            expected=0,
            obtained=fired,
            tolerance=0,
            source="a kinematically impossible tail chase is never engaged",
        )
    )
    control = tail_chase(behind=False, revisit_s=_REVISIT_S)
    engaged = sum(
        run_replication(control, "independent", r, 302).threats[0].shots > 0
        for r in range(_TAIL_CHASE_REPLICATIONS)
    )
    add(
        Check.compare(
            f"head-on control (same interceptor at the aimpoint): replications engaged of "
            f"{_TAIL_CHASE_REPLICATIONS}",
            expected=_TAIL_CHASE_REPLICATIONS,
            obtained=engaged,
            tolerance=0,
            source="control for the tail chase: the same interceptor meets the same missile "
            "head-on",
        )
    )
    return checks


# (N warheads, SSPK, salvo n, decoys per warhead, P_ww, P_dw, seed): perfect sensing with
# decoys, one barrage of n at every object called a warhead.
_DECOY_CASES: list[tuple[int, float, int, int, float, float, int]] = [
    (2, 0.7, 1, 2, 0.9, 0.3, 211),
    (1, 0.8, 2, 3, 0.95, 0.6, 212),
]
# (SSPK, P(correct kill assessment), seed): one warhead, shoot-look-shoot with two salvos of one.
_KILL_ASSESSMENT_CASES: list[tuple[float, float, int]] = [(0.6, 0.8, 221), (0.5, 0.6, 222)]


def _samples(scenario, reps: int, seed: int) -> tuple[int, NDArray]:
    """ "No leak" count and interceptors per sample over ``reps`` replications of every
    (identical, independently drawn) arrangement of a validation scenario."""
    from jointbmd.simulation import run_arrangements

    no_leak, shots = 0, []
    for replication in range(reps):
        for result in run_arrangements(scenario, "all", replication, seed, common_kill_draws=False):
            no_leak += int(result.no_leak)
            shots.append(result.interceptors_spent)
    return no_leak, np.asarray(shots, float)


def _mean_check(name: str, expected: float, values: NDArray, source: str) -> Check:
    """``expected`` inside the normal interval (``MC_CONFIDENCE``) of the mean of ``values``."""
    mean = float(values.mean())
    half = MC_Z * float(values.std(ddof=1)) / math.sqrt(values.size)
    return Check.in_interval(
        name, expected=expected, obtained=mean, low=mean - half, high=mean + half, source=source
    )


def _objects_checks(reps: int, draws: int) -> list[Check]:
    """Perfect sensing with decoys and discrimination, and with an imperfect kill assessment,
    against Wilkening's closed form (``objects.py``; ``analysis.effectiveness``)."""
    from jointbmd.analysis.validation_scenarios import perfect_sensing

    checks: list[Check] = []
    samples = reps * draws
    for n_w, sspk, salvo, decoys, p_ww, p_dw, seed in _DECOY_CASES:
        scenario = perfect_sensing(
            n_w, sspk, salvo, draws=draws, revisit_s=_REVISIT_S, decoys=decoys,
            p_warhead_as_warhead=p_ww, p_decoy_as_warhead=p_dw,
        )  # fmt: skip
        no_leak, shots = _samples(scenario, reps, seed)
        low, high = _clopper_pearson(no_leak, samples, MC_CONFIDENCE)
        label = f"N={n_w} D={n_w * decoys} P_ww={p_ww} P_dw={p_dw} SSPK={sspk} n={salvo}"
        k = 1.0 - (1.0 - sspk) ** salvo
        checks.append(
            Check.in_interval(
                f"decoys: simulated P(no leak), perfect sensing: {label}",
                expected=(p_ww * k) ** n_w,
                obtained=no_leak / samples,
                low=low,
                high=high,
                source=f"{WILKENING}: P = (P_ww K)^N, K = 1-(1-SSPK)^n (docs/reference.md); "
                f"{_MC_PERCENT} Clopper-Pearson interval of {samples} draws, seed {seed}",
            )
        )
        checks.append(
            _mean_check(
                f"decoys: interceptors per raid, perfect sensing: {label}",
                salvo * (n_w * p_ww + n_w * decoys * p_dw),
                shots,
                f"{WILKENING}: n W*, W* = W P_ww + D P_dw objects engaged; {_MC_PERCENT} normal "
                f"interval of the mean of {samples} draws, seed {seed}",
            )
        )
    for sspk, q, seed in _KILL_ASSESSMENT_CASES:
        scenario = perfect_sensing(
            1, sspk, 1, draws=draws, revisit_s=_REVISIT_S, salvos=2, p_kill_assessment=q
        )
        no_leak, shots = _samples(scenario, reps, seed)
        low, high = _clopper_pearson(no_leak, samples, MC_CONFIDENCE)
        label = f"SSPK={sspk} P(correct call)={q}, shoot-look-shoot, 2 salvos of 1"
        checks.append(
            Check.in_interval(
                f"kill assessment: simulated P(no leak): {label}",
                expected=sspk + (1 - sspk) * q * sspk,
                obtained=no_leak / samples,
                low=low,
                high=high,
                source=f"{WILKENING} with a look: P = p + (1-p) q p (a false kill stops the "
                f"second salvo); {_MC_PERCENT} Clopper-Pearson interval of {samples} draws, "
                f"seed {seed}",
            )
        )
        checks.append(
            _mean_check(
                f"kill assessment: interceptors per raid: {label}",
                1 + sspk * (1 - q) + (1 - sspk) * q,
                shots,
                "second salvo after a missed kill (p (1-q)) or a correct miss ((1-p) q); "
                f"{_MC_PERCENT} normal interval of the mean of {samples} draws, seed {seed}",
            )
        )
    return checks


# The worked rows of docs/reference.md (minimum-energy ballistic flight, sphere of
# 6371.0 km, mu = 398600.4418 km^3/s^2): range km, burnout speed km/s, flight-path angle deg,
# apogee km, free-flight minutes.
_MINIMUM_ENERGY_ROWS = (
    (1000.0, 3.016, 42.75, 240.0, 7.91),
    (3000.0, 4.865, 38.26, 655.0, 14.92),
    (10000.0, 7.198, 22.52, 1320.0, 32.18),
)
_MINIMUM_ENERGY_SOURCE = (
    "docs/reference.md worked table: v^2 = (2 mu/R) sin(psi/2)/(1+sin(psi/2)), gamma = (pi-psi)/4 "
    "(Bate, Mueller & White 1971, sec. 6.2)"
)


@check_group("trajectory")
def _trajectory_checks() -> list[Check]:
    """jointbmd's batched targeting (an iterative solver on numerically integrated flights)
    against the textbook closed forms, and its accuracy on the full model."""
    from jointbmd import earth, trajectory

    checks: list[Check] = []
    ranges_m = np.array([row[0] * 1e3 for row in _MINIMUM_ENERGY_ROWS])
    lon = ranges_m / earth.R_IDEAL
    ideal = trajectory.aim(0.0, 0.0, 0.0, lon, model="ideal")
    for i, (range_km, v_kms, gamma_deg, apogee_km, minutes) in enumerate(_MINIMUM_ENERGY_ROWS):
        label = f"ideal minimum energy, {range_km:.0f} km"
        checks += [
            Check.compare(
                f"{label}: burnout speed (km/s)",
                expected=v_kms,
                obtained=ideal.burnout_speed[i] / 1e3,
                tolerance=0.005,
                relative=True,
                source=_MINIMUM_ENERGY_SOURCE,
            ),
            Check.compare(
                f"{label}: flight-path angle (deg)",
                expected=gamma_deg,
                obtained=math.degrees(ideal.burnout_flight_path_angle[i]),
                tolerance=0.005,
                relative=True,
                source=_MINIMUM_ENERGY_SOURCE,
            ),
            Check.compare(
                f"{label}: apogee (km)",
                expected=apogee_km,
                obtained=ideal.apogee_altitude[i] / 1e3,
                tolerance=0.005,
                relative=True,
                source=_MINIMUM_ENERGY_SOURCE + "; a = R (1 + sin(psi/2)) / 2",
            ),
            Check.compare(
                f"{label}: free flight (min)",
                expected=minutes,
                obtained=ideal.flight_time[i] / 60.0,
                tolerance=0.005,
                relative=True,
                source=_MINIMUM_ENERGY_SOURCE + "; Kepler's equation",
            ),
        ]
    # Full model: rotating WGS84 Earth with J2 and drag; the issue asks for a landing within
    # 1 km of the aimpoint. Semnan to Moscow, impulsive burnout.
    full = trajectory.aim(
        np.radians(35.23), np.radians(53.92), np.radians(55.76), np.radians(37.62), model="full"
    )
    checks.append(
        Check.compare(
            "full model, Semnan to Moscow: impact miss (m)",
            expected=0.0,
            obtained=float(full.miss_m[0]),
            tolerance=1000.0,
            source="requirement: land within 1 km of the aimpoint on the rotating Earth",
        )
    )
    # Earth rotation: a site's inertial eastward speed omega R cos(lat) (docs/reference.md).
    r_site = earth.geodetic_to_ecef(np.radians(44.0773), 0.0, 0.0, "ideal")
    v_inertial = earth.state_ecef_to_eci(np.concatenate([r_site, np.zeros(3)]), 0.0, "full")[3:]
    checks.append(
        Check.compare(
            "Deveselu inertial eastward speed (km/s)",
            expected=0.334,
            obtained=float(np.linalg.norm(v_inertial) / 1e3),
            tolerance=0.0005,
            source="docs/reference.md: omega R cos(lat), omega = 7.2921150e-5 rad/s",
        )
    )
    return checks


# --------------------------------------------------------------------------------------------
# EPAA coverage: the published claims about what each phase defends, against the footprints of
# the built-in epaa2011 / epaa2015 / epaa2018 (jointbmd footprint).

#: Cell size of the coverage checks (km): coarse, so that the table runs in about a minute of
#: CPU; the pooled fractions move by 0.01-0.04 between 300 km and 200 km cells (cells straddle
#: the coverage edge), hence the tolerance of the "all of NATO Europe" rows.
_COVERAGE_CELL_KM = 300.0
_COVERAGE_TOLERANCE = 0.05
_MRBM = ("Shahab-3", "Sejjil-2")
_ROSE_2013 = (
    "US State Department, 'Implementation of the European Phased Adaptive Approach', Warsaw, "
    "April 2013"
)
_ACT_2016 = "Arms Control Today, June 2016 (Deveselu operational)"
_ACT_CAPITALS = ("Ankara", "Athens", "Sofia", "Bucharest")


@functools.lru_cache(maxsize=8)
def _epaa_footprints(name: str, cue: float | str, threats: tuple[str, ...] | None):
    from jointbmd.analysis import footprint as fpm
    from jointbmd.scenario import load_scenario

    scenario = load_scenario(name)
    pairs = [
        p for p in fpm.footprint_pairs(scenario, None, None) if threats is None or p[0] in threats
    ]
    return tuple(
        fpm.footprint(scenario, t, a, cell_km=_COVERAGE_CELL_KM, region="NATO", cue=cue)
        for t, a in pairs
    )


def _pooled(fps) -> float:
    """Defended area over reachable area, summed over the (threat type, launch area) pairs."""
    reach = sum(fp.reachable_area_km2 for fp in fps)
    return sum(fp.defended_area_km2()["all"] for fp in fps) / reach if reach else float("nan")


def _out_of_reach_share(fps) -> float:
    """Of the undefended reachable area, the share whose aimpoint lies beyond every unit's
    maximum range (an indication of the cause, not a proof: intercepts happen up-range)."""
    from jointbmd import earth

    out = undefended = 0.0
    for fp in fps:
        g, units = fp.grid, fp.setup.units
        miss = fp.cells.reachable & ~fp.defended_mask()
        lat, lon = np.radians(g.lat_deg[miss]), np.radians(g.lon_deg[miss])
        far = np.ones(lat.shape, bool)
        for j in range(units.m):
            reach = units.types[units.type_index[j]].max_range_m
            d = earth.central_angle(lat, lon, units.lat_rad[j], units.lon_rad[j]) * earth.R_IDEAL
            far &= d > reach
        out += float(g.area_km2[miss][far].sum())
        undefended += float(g.area_km2[miss].sum())
    return out / undefended if undefended else 0.0


def _worst(fps) -> str:
    fp = min(fps, key=lambda f: f.defended_fraction()["all"] or 0.0)
    return f"{fp.setup.threat} from {fp.setup.launch} ({fp.defended_fraction()['all']:.2f})"


@check_group("epaa-coverage")
def _epaa_coverage_checks() -> list[Check]:
    """The published EPAA coverage claims against the defended fraction of NATO Europe per
    phase (sensor-cued footprints of the built-in scenarios, all their raids' threat types and
    launch areas, 300 km cells)."""
    phase = {n: _epaa_footprints(n, "sensors", None) for n in ("epaa2011", "epaa2015", "epaa2018")}
    mrbm = {n: _epaa_footprints(n, "sensors", _MRBM) for n in ("epaa2011", "epaa2015")}
    # Kinematic bound: the same units cued at the threats' burnout (100 s after launch), as a
    # perfect early-warning cue would allow.
    kinematic = _epaa_footprints("epaa2018", 100.0, None)
    f = {n: _pooled(fps) for n, fps in phase.items()}
    checks = []
    f3, f3_kin = f["epaa2018"], _pooled(kinematic)
    checks.append(
        Check.compare(
            "phase 3 (epaa2018) defends all of NATO Europe: defended fraction of the reachable "
            f"area, threats from Iran (phase 1 {f['epaa2011']:.2f}, phase 2 {f['epaa2015']:.2f})",
            expected=1.0,
            obtained=f3,
            tolerance=_COVERAGE_TOLERANCE,
            source=f"{_ROSE_2013}: Phase 3 'will be able to protect all of NATO Europe'",
            disagreement=(
                f"sensor-limited: cued only by NATO's own radars (one TPY-2 at Kurecik, the "
                f"SPY-1s against a 0.05-0.1 m2 warhead), the units defend {f3:.2f}; cued at threat "
                f"burnout they would defend {f3_kin:.2f}; worst case {_worst(phase['epaa2018'])}"
            ),
        )
    )
    checks.append(
        Check.compare(
            "phase 3 (epaa2018), kinematic bound: the same, cued at threat burnout (100 s)",
            expected=1.0,
            obtained=f3_kin,
            tolerance=_COVERAGE_TOLERANCE,
            source=f"{_ROSE_2013}: Phase 3 'will be able to protect all of NATO Europe'",
            disagreement=(
                f"interceptor reach and timeline: worst case {_worst(kinematic)}; "
                f"{100 * _out_of_reach_share(kinematic):.0f} % of the undefended area has its "
                "aimpoint beyond every unit's maximum range (eastern Turkey lies more than "
                "850 km from the Mediterranean ship and Deveselu)"
            ),
        )
    )
    m1, m2 = _pooled(mrbm["epaa2011"]), _pooled(mrbm["epaa2015"])
    checks.append(
        Check.compare(
            f"phase 2 enhances coverage against medium-range threats: defended fraction against "
            f"MRBMs {m1:.2f} (phase 1) -> {m2:.2f} (phase 2); 1 = increased",
            expected=1.0,
            obtained=float(m2 > m1),
            tolerance=0.0,
            source=f"{_ROSE_2013}: Phase 2 'will enhance coverage' against short- and medium-range",
            disagreement="phase 2 adds Deveselu but the MRBM footprint does not grow",
        )
    )
    defended, total, missed = 0, 0, []
    for fp in mrbm["epaa2015"]:
        for asset in fp.assets:
            if asset.name in _ACT_CAPITALS and asset.reachable:
                total += 1
                defended += asset.defended
                if not asset.defended:
                    missed.append(f"{asset.name} from {fp.setup.launch} ({fp.setup.threat})")
    checks.append(
        Check.compare(
            "phase 2 (epaa2015) defends Turkey, Greece, Bulgaria and Romania against Iranian "
            "missiles up to ~2000 km: fraction of (capital, MRBM route) pairs defended",
            expected=1.0,
            obtained=defended / total if total else float("nan"),
            tolerance=0.0,
            source=f"{_ACT_2016}: Phase 2 defends against missiles of up to about 2,000 km",
            disagreement=(
                f"not defended: {', '.join(missed)} -- too close to the launch area for the "
                "sensor-cued timeline (first firm track plus 30 s decision latency)"
            ),
        )
    )
    return checks


# --------------------------------------------------------------------------------------------
# Reach: the 2007-2013 claims about whom the European sites could intercept (docs/reference.md,
# "Reach and coverage"), against `jointbmd reach` on the built-in `deterrent` scenario.
#
# The claims are qualitative (can / cannot catch); each row turns one into a number with an
# exact expected value (a fraction of routes, or 1 for an ordering that holds) and tolerance 0.
# The commit rule is the threat's burnout: the earliest launch a perfect early-warning track
# could allow; "launch" (no warning time at all) is quoted beside it as the physical bound.

_RUSSIAN = ("Kozelsk", "Teykovo", "Vypolzovo", "Tatishchevo", "Yoshkar-Ola")
_IRAN = ("Semnan",)
_GBI_MDA, _GBI_PL = "GBI two-stage (MDA 2007)", "GBI two-stage (Postol-Lewis)"
_IIA, _IIB = "SM-3 IIA", "SM-3 IIB (2012-13 plan)"
_OBERING_2007 = "MDA (Lt Gen Obering), 2007, as reported by AFP and Space News, Aug 2007"
_POSTOL_LEWIS_2007 = "Postol and Lewis, 2007 (AAAS briefing; Space News, Aug 2007)"
_VERSHBOW_2012 = "Vershbow (NATO Deputy Secretary General), Moscow, 3 May 2012"
_UMD_2013 = "University of Maryland analysis, reported by Arms Control Today, 2013"
_GAO_2013 = "GAO-13-382R, 'Standard Missile-3 Block IIB Analysis of Alternatives', 11 Feb 2013"


@functools.lru_cache(maxsize=1)
def _deterrent_reach():
    from jointbmd.analysis.reach import reach_analysis
    from jointbmd.scenario import load_scenario

    return reach_analysis(load_scenario("deterrent"), rules=("launch", "burnout"),
                          min_speed=False)  # fmt: skip


@functools.lru_cache(maxsize=1)
def _deterrent_min_speed_gbi():
    """Minimum burnout speed (m/s) of the GBI from Redzikowo per Russian route, commit at the
    threat's burnout (the speed search, one unit and one rule: quick)."""
    from jointbmd.analysis.reach import reach_analysis
    from jointbmd.scenario import load_scenario

    result = reach_analysis(load_scenario("deterrent"), interceptors=[_GBI_MDA],
                            sites=["Redzikowo"], rules=("burnout",))  # fmt: skip
    return {r["launch"]: r["min_burnout_speed_mps"]["burnout"] for r in result.rows
            if r["launch"] in _RUSSIAN}  # fmt: skip


def _reach_rows(site: str | tuple[str, ...], interceptor: str, launches: tuple[str, ...]):
    sites = (site,) if isinstance(site, str) else site
    rows = _deterrent_reach().rows
    return [
        r for r in rows
        if r["site"] in sites and r["interceptor"] == interceptor and r["launch"] in launches
    ]  # fmt: skip


def _share(rows, rule: str) -> float:
    return sum(r["feasible"][rule] for r in rows) / len(rows) if rows else float("nan")


def _names(rows, rule: str) -> str:
    ok = [f"{r['launch']}->{r['aimpoint']}" for r in rows if r["feasible"][rule]]
    return ", ".join(ok) or "none"


@check_group("reach")
def _reach_checks() -> list[Check]:
    """The published reach claims of 2007-2013 against the `deterrent` scenario's reach table
    (notional Minuteman III-class ICBM, perfect track at the commit time)."""
    gbi_mda = _reach_rows("Redzikowo", _GBI_MDA, _RUSSIAN)
    gbi_pl = _reach_rows("Redzikowo", _GBI_PL, _RUSSIAN)
    iib_pl = _reach_rows("Redzikowo", _IIB, _RUSSIAN)
    iia = _reach_rows(("Redzikowo", "Deveselu"), _IIA, _RUSSIAN)
    v_min = _deterrent_min_speed_gbi()
    known = [v for v in v_min.values() if v is not None]
    v_hi = max(known) if known else float("nan")
    burnout = gbi_mda[0]["threat_burnout_s"] if gbi_mda else float("nan")
    closest = [r["closest_approach_km"] for r in gbi_mda]
    checks = [
        Check.compare(
            "2007 Polish GBI at MDA's 6.3 km/s cannot catch Russian ICBMs aimed at the US: "
            "share of the five Russian routes Redzikowo's GBI can intercept, launched at threat "
            f"burnout ({burnout:.0f} s)",
            expected=0.0,
            obtained=_share(gbi_mda, "burnout"),
            tolerance=0.0,
            source=f"{_OBERING_2007}: 6.3 km/s, 'cannot physically catch' Russian ICBMs",
            disagreement=(
                f"not reproduced: jointbmd intercepts {_names(gbi_mda, 'burnout')}; the routes "
                f"pass {min(closest):.0f}-{max(closest):.0f} km from Redzikowo, so the "
                "interceptor can meet them from the side rather than chase them, and the speed "
                "needed "
                f"with a launch at threat burnout is at most {v_hi / 1e3:.2f} km/s (< 6.3). "
                "The ICBM is notional (Minuteman III-class, not a Russian missile) and the track "
                "perfect at burnout: a later commit or a faster-burning ICBM shrinks this"
            ),
        ),
        Check.compare(
            "2007 Polish GBI at Postol and Lewis's 7.7-8.3 km/s (8.0 here) can catch ICBMs from "
            "western Russia: share of the five Russian routes intercepted, launch at burnout",
            expected=1.0,
            obtained=_share(gbi_pl, "burnout"),
            tolerance=0.0,
            source=f"{_POSTOL_LEWIS_2007}: 7.7-8.3 km/s, able to engage Russian ICBMs",
            disagreement=f"only {_names(gbi_pl, 'burnout')} intercepted",
        ),
        Check.compare(
            "the same, quantitatively: the slowest burnout speed that catches every Russian "
            "route from Redzikowo (launch at burnout) lies below Postol and Lewis's 7.7 km/s; "
            f"1 = below (it is {v_hi / 1e3:.2f} km/s)",
            expected=1.0,
            obtained=float(len(known) == len(v_min) and v_hi <= 7700.0),
            tolerance=0.0,
            source=f"{_POSTOL_LEWIS_2007}: 7.7-8.3 km/s",
            disagreement=f"minimum speeds {v_min} (None: no speed up to 11 km/s suffices)",
        ),
        Check.compare(
            "SM-3 IIB (planned 5.5 km/s) from Poland had some reach against Russian ICBMs: "
            f"1 = at least one Russian route intercepted at burnout ({_names(iib_pl, 'burnout')}"
            f"; at launch, no warning time: {_names(iib_pl, 'launch')})",
            expected=1.0,
            obtained=float(_share(iib_pl, "burnout") > 0),
            tolerance=0.0,
            source=f"{_UMD_2013}: cancelling phase 4 'removed any capability' against them",
            disagreement=(
                f"no Russian route is intercepted at burnout; at launch: {_names(iib_pl, 'launch')}"
            ),
        ),
        Check.compare(
            "SM-3 from Romania and Poland is in the wrong place and too slow for Russian ICBMs: "
            "share of (Russian route, site) pairs SM-3 IIA at Redzikowo or Deveselu intercepts "
            f"at burnout (at launch, no warning time: {_share(iia, 'launch'):.1f})",
            expected=0.0,
            obtained=_share(iia, "burnout"),
            tolerance=0.0,
            source=f"{_VERSHBOW_2012}: the sites 'are simply in the wrong place'; the scenario "
            "has SM-3 IIA, faster than the IB, so the claim holds a fortiori for the IB",
            disagreement=f"intercepted at burnout: {_names(iia, 'burnout')}",
        ),
    ]
    checks.extend(_gao_checks())
    return checks


def _gao_checks() -> list[Check]:
    """GAO-13-382R: SM-3 IIB against an Iranian ICBM aimed at the US from Romania, Poland and a
    North Sea ship; the latest commit after the threat's burnout, worst of the two cities."""
    latest = {}
    for site in ("Deveselu", "Redzikowo", "North Sea"):
        rows = _reach_rows(site, _IIB, _IRAN)
        after = [r["latest_commit_after_burnout_s"] for r in rows]
        latest[site] = min(-math.inf if a is None else a for a in after) if after else math.nan
    ro, pl, ns = latest["Deveselu"], latest["Redzikowo"], latest["North Sea"]
    figures = f"Romania {ro:.0f} s, Poland {pl:.0f} s, North Sea {ns:.0f} s after burnout"
    return [
        Check.compare(
            "SM-3 IIB against an Iranian ICBM aimed at the US: the North Sea is a better site "
            f"than Poland, Poland than Romania (latest commit: {figures}); 1 = in that order",
            expected=1.0,
            obtained=float(ns > pl > ro),
            tolerance=0.0,
            source=f"{_GAO_2013}: Romania 'not a good location from a flight path standpoint'; "
            "the North Sea the best position",
            disagreement=f"the order differs: {figures}",
        ),
        Check.compare(
            "SM-3 IIB from Poland needs an early launch, while the Iranian ICBM still boosts: "
            f"1 = no launch after the threat's burnout intercepts (latest: {pl:.0f} s after it, "
            "worst of Washington and New York)",
            expected=1.0,
            obtained=float(pl <= 0.0),
            tolerance=0.0,
            source=f"{_GAO_2013}: Poland may require launching the interceptor earlier, "
            "during the threat's boost",
            disagreement=(
                f"not reproduced: a launch up to {pl:.0f} s after burnout still intercepts. "
                "Possible causes, not established: the notional ICBM (a 188 s Minuteman "
                "III-class burn, not an Iranian design) flies a minimum-energy path over "
                "Poland's neighbourhood; the track is perfect at the commit time (no sensor, "
                "no decision delay); the kill vehicle has no seeker or divert limit here; the "
                "GAO's classified analysis may also have wanted a shoot-look-shoot margin"
            ),
        ),
    ]
