"""Wilkening's simple model of ballistic-missile-defence effectiveness, closed form and Monte Carlo.

In: an attack (warheads ``N``, decoys ``D``), the defence's discrimination (probabilities that a
warhead / a decoy is classed as a warhead), the engagement chain's probability ``P_track`` that
detection, tracking, discrimination and command work, the interceptors' single-shot kill
probability ``SSPK``, shots per object, a firing doctrine and optional extra layers.
Out: the probability that no warhead leaks, expected leakers and interceptors spent
(:func:`evaluate`); the interceptors needed for a goal (:func:`shots_for_goal`); the same
probability estimated by simulation with its confidence interval (:func:`monte_carlo`).

The model (D. Wilkening, "A Simple Model for Calculating Ballistic Missile Defense
Effectiveness", Science & Global Security 8(2), 1999/2000; formulas as summarised in
``docs/reference.md``):

- one object engaged by ``n`` interceptors is killed with probability
  ``K = P_track * (1 - (1 - SSPK)**n)``;
- the defence engages ``W* = W * P_ww + D * P_dw`` objects: the warheads it classes as warheads
  and the decoys it mistakes for warheads; a warhead classed as a decoy is not engaged and leaks,
  so a warhead is killed with probability ``P_ww * K``;
- the probability that none of ``N`` independently engaged warheads leaks is
  ``P_D = (P_ww * K)**N`` (``K**N`` with perfect discrimination);
- however many interceptors are fired, ``P_D`` cannot exceed the ceiling ``(P_ww * P_track)**N``
  (``P_track**N``);
- to reach a goal ``P_D`` solve ``K**N = goal`` for ``n``:
  ``n = ln(1 - goal**(1/N) / (P_ww * P_track)) / ln(1 - SSPK)`` -- a continuous figure; whole
  interceptors are the smallest integer that meets the goal;
- independent layers multiply their leak probabilities: ``1 - K = prod_i (1 - K_i)`` with
  ``K_i = P_track_i * (1 - (1 - SSPK_i)**n_i)``;
- shoot-look-shoot fires a second salvo only at objects that survive the first.

Assumptions this module adds, because the published summary leaves them open:

- ``P_track`` is drawn once per object and per layer: a failed track spoils every salvo of that
  layer at that object (``K`` above), and the interceptors are still fired (the defence does not
  know the track is bad), so interceptor counts are not reduced by track failures.
- Doctrine ``barrage``: every layer fires all its shots at every engaged object, with no look.
- Doctrine ``shoot-look-shoot``: the main layer's ``n`` shots are split into two salvos, the first
  of ``ceil(n/2)`` and the second of ``floor(n/2)`` interceptors (for a continuous ``n`` the first
  salvo fills before the second, so both grow with ``n``); a kill assessment ("look") precedes
  every salvo except the very first of the whole engagement, including the first salvo of each
  later layer. The maximum number of interceptors per object is the same as the barrage of
  ``n``; the expected number is smaller.
- Kill assessment: perfect unless ``p_kill_assessment`` says otherwise. That probability is the
  chance that one look classes the object correctly (alive as alive, dead as dead); looks err
  independently. A survivor judged dead is not fired at (it may leak); a dead object judged alive
  draws a wasted salvo. With a perfect assessment shoot-look-shoot kills exactly as often as the
  barrage of the same maximum shots.
- Extra layers (``layers``) engage before the main layer described by ``sspk``, ``shots`` and
  ``p_track``; each layer is ``(sspk, shots)`` or ``(sspk, shots, p_track)`` (its own tracking
  chain; the main ``p_track`` when omitted). A goal is met by sizing the main layer.
- Decoys engaged are treated like warheads when counting interceptors (the defence cannot tell
  them apart); only warheads count as leakers.

All functions broadcast their numeric arguments with numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from jointbmd.errors import UserError

Doctrine = Literal["barrage", "shoot-look-shoot"]
DOCTRINES: tuple[str, ...] = ("barrage", "shoot-look-shoot")
LayerSpec = tuple[float, float] | tuple[float, float, float]

# A goal counts as met when it is reached to this relative precision (floating-point slack).
_GOAL_SLACK = 1e-12
# Search limit for whole interceptors per object; far beyond any meaningful defence.
_MAX_WHOLE_SHOTS = 100_000


@dataclass(frozen=True)
class Effectiveness:
    """The closed-form outcome of one engagement plan (arrays broadcast from the inputs).

    ``k_object``: probability one engaged object is killed (all layers); ``p_no_leak``: no warhead
    leaks; ``expected_leakers``: mean number of warheads that leak; ``objects_engaged``: ``W*``;
    ``max_shots_per_object`` / ``interceptors_total``: interceptors held per object and in total
    (every salvo fired); ``expected_shots_per_object`` / ``expected_interceptors_total``: mean
    interceptors spent; ``ceiling``: ``p_no_leak`` with unlimited interceptors in the main layer.
    """

    k_object: NDArray[np.float64]
    p_no_leak: NDArray[np.float64]
    expected_leakers: NDArray[np.float64]
    objects_engaged: NDArray[np.float64]
    max_shots_per_object: NDArray[np.float64]
    interceptors_total: NDArray[np.float64]
    expected_shots_per_object: NDArray[np.float64]
    expected_interceptors_total: NDArray[np.float64]
    ceiling: NDArray[np.float64]


@dataclass(frozen=True)
class ShotsForGoal:
    """Interceptors needed to reach a goal probability of no leak.

    ``interceptors_per_object`` is the model's continuous figure (all layers), ``..._whole`` the
    smallest whole number that meets the goal; totals multiply by ``objects_engaged`` (``W*``;
    the whole total is rounded up). ``p_no_leak_whole`` is what the whole figure achieves;
    ``expected_interceptors_total_whole`` is the mean spent with it (smaller than the total under
    shoot-look-shoot); ``main_layer_shots_whole`` is the whole figure's share of the main layer.
    """

    interceptors_per_object: NDArray[np.float64]
    interceptors_total: NDArray[np.float64]
    interceptors_per_object_whole: NDArray[np.int64]
    interceptors_total_whole: NDArray[np.int64]
    p_no_leak_whole: NDArray[np.float64]
    expected_interceptors_total_whole: NDArray[np.float64]
    objects_engaged: NDArray[np.float64]
    ceiling: NDArray[np.float64]
    main_layer_shots_whole: NDArray[np.int64]


@dataclass(frozen=True)
class MonteCarloResult:
    """A simulation of the engagement: estimate of ``p_no_leak`` with its confidence interval.

    The interval is Clopper-Pearson (exact binomial) at ``confidence``. ``mean_leakers`` and
    ``mean_interceptors`` are sample means with their standard errors.
    """

    trials: int
    successes: int
    p_no_leak: float
    ci_low: float
    ci_high: float
    confidence: float
    mean_leakers: float
    mean_interceptors: float
    stderr_interceptors: float


# --------------------------------------------------------------------------------------------
# Input checks: a user's mistake is a UserError naming the parameter.


def _probability(name: str, value: ArrayLike, *, open_low: bool = False) -> NDArray[np.float64]:
    x = np.asarray(value, dtype=float)
    low_ok = x > 0.0 if open_low else x >= 0.0
    if not np.all(np.isfinite(x) & low_ok & (x <= 1.0)):
        bound = "in (0, 1]" if open_low else "in [0, 1]"
        raise UserError(f"must be a probability {bound}, got {_show(value)}", field=name)
    return x


def _nonnegative(name: str, value: ArrayLike, *, allow_inf: bool = False) -> NDArray[np.float64]:
    x = np.asarray(value, dtype=float)
    finite = np.isfinite(x) | (allow_inf & np.isposinf(x))
    if not np.all(finite & (x >= 0.0)):
        raise UserError(f"must be a non-negative number, got {_show(value)}", field=name)
    return x


def _count(name: str, value: ArrayLike, *, minimum: int) -> NDArray[np.float64]:
    x = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(x) & (x >= minimum) & (x == np.floor(x))):
        raise UserError(f"must be a whole number >= {minimum}, got {_show(value)}", field=name)
    return x


def _show(value: ArrayLike) -> str:
    x = np.asarray(value)
    return str(x.item()) if x.ndim == 0 else np.array2string(x, threshold=6)


def _doctrine(doctrine: str) -> str:
    if doctrine not in DOCTRINES:
        raise UserError(
            f"must be one of {', '.join(DOCTRINES)}, got {doctrine!r}", field="doctrine"
        )
    return doctrine


def _layers(layers: Sequence[Sequence[float]], p_track: NDArray[np.float64]) -> list[tuple]:
    """Normalise extra layers to ``(sspk, shots, p_track)`` arrays."""
    out = []
    for i, layer in enumerate(layers):
        if len(layer) not in (2, 3):
            raise UserError(
                f"a layer is (sspk, shots) or (sspk, shots, p_track), got {tuple(layer)}",
                field=f"layers[{i}]",
            )
        sspk = _probability(f"layers[{i}].sspk", layer[0])
        shots = _nonnegative(f"layers[{i}].shots", layer[1])
        track = _probability(f"layers[{i}].p_track", layer[2]) if len(layer) == 3 else p_track
        out.append((sspk, shots, track))
    return out


# --------------------------------------------------------------------------------------------
# Closed form.


def p_kill(sspk: ArrayLike, n: ArrayLike, p_track: ArrayLike = 1.0) -> NDArray[np.float64]:
    """Wilkening's ``K = P_track * (1 - (1 - SSPK)**n)`` for one object engaged by ``n`` shots."""
    sspk = _probability("sspk", sspk)
    n = _nonnegative("shots", n, allow_inf=True)
    p_track = _probability("p_track", p_track)
    return p_track * (1.0 - (1.0 - sspk) ** n)


def objects_engaged(
    warheads: ArrayLike,
    decoys: ArrayLike = 0,
    p_warhead_as_warhead: ArrayLike = 1.0,
    p_decoy_as_warhead: ArrayLike = 1.0,
) -> NDArray[np.float64]:
    """Objects the defence engages: ``W* = W * P_ww + D * P_dw`` (an expected number)."""
    warheads = _nonnegative("warheads", warheads)
    decoys = _nonnegative("decoys", decoys)
    p_ww = _probability("p_warhead_as_warhead", p_warhead_as_warhead)
    p_dw = _probability("p_decoy_as_warhead", p_decoy_as_warhead)
    return warheads * p_ww + decoys * p_dw


def _split(n: NDArray[np.float64], doctrine: str) -> list[NDArray[np.float64]]:
    """The main layer's salvos: one of ``n`` (barrage) or two (shoot-look-shoot).

    Shoot-look-shoot: ``ceil(n/2)`` then ``floor(n/2)`` for whole ``n``; between whole values the
    first salvo fills up first, then the second, so both grow continuously with ``n``.
    """
    if doctrine == "barrage":
        return [n]
    finite = np.isfinite(n)
    m = np.where(finite, n, 0.0)
    half = np.floor(m / 2.0)
    first = half + np.minimum(m - 2.0 * half, 1.0)
    first = np.where(finite, first, n)
    second = np.where(finite, m - first, n)
    return [first, second]


def _kill_and_shots(
    plan: list[tuple[NDArray, list[NDArray], NDArray]],
    doctrine: str,
    p_ka: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Kill probability of one engaged object and expected interceptors fired at it.

    ``plan`` is a list of layers ``(sspk, [salvo sizes], p_track)`` in firing order. Within a
    layer the object's alive probability is followed separately for a working and a failed track
    (one draw per layer), so that salvos of the same layer are correlated through the track.
    """
    alive = np.float64(1.0)  # probability the object is alive entering the layer
    expected_shots = np.float64(0.0)
    first_salvo = True
    for sspk, salvos, p_track in plan:
        alive_tracked = alive  # alive, given this layer's track works
        for shots in salvos:
            if first_salvo or doctrine == "barrage":
                fire_if_alive, fire_if_dead = 1.0, 1.0
            else:  # a look precedes the salvo
                fire_if_alive, fire_if_dead = p_ka, 1.0 - p_ka
            first_salvo = False
            alive_now = p_track * alive_tracked + (1.0 - p_track) * alive
            fired = alive_now * fire_if_alive + (1.0 - alive_now) * fire_if_dead
            # 0 * inf would be NaN when an unlimited salvo is never fired: count it as 0.
            with np.errstate(invalid="ignore"):
                expected_shots = expected_shots + np.where(fired > 0, shots * fired, 0.0)
            kill = 1.0 - (1.0 - sspk) ** shots
            alive_tracked = alive_tracked * (1.0 - fire_if_alive * kill)
        alive = p_track * alive_tracked + (1.0 - p_track) * alive
    return 1.0 - alive, expected_shots


def _plan(sspk, shots, p_track, doctrine, layers):
    plan = [(s, [n], t) for s, n, t in layers]
    plan.append((sspk, _split(shots, doctrine), p_track))
    return plan


def evaluate(
    warheads: ArrayLike,
    sspk: ArrayLike,
    shots_per_object: ArrayLike,
    p_track: ArrayLike = 1.0,
    *,
    decoys: ArrayLike = 0,
    p_warhead_as_warhead: ArrayLike = 1.0,
    p_decoy_as_warhead: ArrayLike = 1.0,
    doctrine: Doctrine = "barrage",
    layers: Sequence[Sequence[float]] = (),
    p_kill_assessment: ArrayLike = 1.0,
) -> Effectiveness:
    """The closed-form outcome when the main layer fires ``shots_per_object`` at each object.

    ``warheads`` is ``N`` (a whole number >= 1); ``decoys`` ``D``; ``p_decoy_as_warhead`` defaults
    to 1 (no discrimination: every decoy is engaged). See the module docstring for the model.
    """
    warheads = _count("warheads", warheads, minimum=1)
    decoys = _count("decoys", decoys, minimum=0)
    sspk = _probability("sspk", sspk)
    shots = _nonnegative("shots_per_object", shots_per_object)
    p_track = _probability("p_track", p_track)
    p_ww = _probability("p_warhead_as_warhead", p_warhead_as_warhead)
    p_ka = _probability("p_kill_assessment", p_kill_assessment)
    doctrine = _doctrine(doctrine)
    extra = _layers(layers, p_track)
    engaged = objects_engaged(warheads, decoys, p_ww, p_decoy_as_warhead)

    k, expected_shots = _kill_and_shots(
        _plan(sspk, shots, p_track, doctrine, extra), doctrine, p_ka
    )
    k_inf, _ = _kill_and_shots(_plan(sspk, np.inf, p_track, doctrine, extra), doctrine, p_ka)
    k_warhead = p_ww * k
    max_shots = shots + sum((n for _, n, _ in extra), np.float64(0.0))
    return Effectiveness(
        k_object=np.asarray(k),
        p_no_leak=np.asarray(k_warhead**warheads),
        expected_leakers=np.asarray(warheads * (1.0 - k_warhead)),
        objects_engaged=np.asarray(engaged),
        max_shots_per_object=np.asarray(max_shots),
        interceptors_total=np.asarray(engaged * max_shots),
        expected_shots_per_object=np.asarray(expected_shots),
        expected_interceptors_total=np.asarray(engaged * expected_shots),
        ceiling=np.asarray((p_ww * k_inf) ** warheads),
    )


def p_no_leak(
    warheads: ArrayLike,
    sspk: ArrayLike,
    shots_per_object: ArrayLike,
    p_track: ArrayLike = 1.0,
    **options,
) -> NDArray[np.float64]:
    """Probability that no warhead leaks, ``P_D = (P_ww * K)**N``; options as :func:`evaluate`."""
    return evaluate(warheads, sspk, shots_per_object, p_track, **options).p_no_leak


def expected_leakers(
    warheads: ArrayLike,
    sspk: ArrayLike,
    shots_per_object: ArrayLike,
    p_track: ArrayLike = 1.0,
    **options,
) -> NDArray[np.float64]:
    """Expected warheads that leak, ``N * (1 - P_ww * K)``; options as :func:`evaluate`."""
    return evaluate(warheads, sspk, shots_per_object, p_track, **options).expected_leakers


def ceiling(
    warheads: ArrayLike, p_track: ArrayLike = 1.0, p_warhead_as_warhead: ArrayLike = 1.0
) -> NDArray[np.float64]:
    """The single-layer ceiling ``(P_ww * P_track)**N``, whatever the SSPK and the shots."""
    warheads = _count("warheads", warheads, minimum=1)
    p_track = _probability("p_track", p_track)
    p_ww = _probability("p_warhead_as_warhead", p_warhead_as_warhead)
    return (p_ww * p_track) ** warheads


def shots_for_goal(
    goal_pd: ArrayLike,
    warheads: ArrayLike,
    sspk: ArrayLike,
    p_track: ArrayLike = 1.0,
    *,
    decoys: ArrayLike = 0,
    p_warhead_as_warhead: ArrayLike = 1.0,
    p_decoy_as_warhead: ArrayLike = 1.0,
    doctrine: Doctrine = "barrage",
    layers: Sequence[Sequence[float]] = (),
    p_kill_assessment: ArrayLike = 1.0,
) -> ShotsForGoal:
    """Interceptors per object and in total for ``P_D >= goal_pd`` (sizing the main layer).

    Continuous figure: with a perfect kill assessment (or a barrage) the closed form
    ``n = ln(1 - k_main / P_track) / ln(1 - SSPK)``, where ``k_main = 1 - (1 - goal**(1/N) / P_ww)
    / L`` is the kill probability the main layer must add to the extra layers' leak probability
    ``L = prod_i (1 - K_i)`` (``L = 1`` and ``k_main = goal**(1/N)`` without layers); with an
    imperfect assessment under shoot-look-shoot, by bisection on the same equation. Whole figure:
    the smallest whole ``n`` whose ``P_D`` meets the goal.
    Raises ``UserError`` (field ``goal_pd``) when a goal reaches the ceiling.
    """
    goal = _probability("goal_pd", goal_pd, open_low=True)
    warheads = _count("warheads", warheads, minimum=1)
    sspk = _probability("sspk", sspk, open_low=True)
    p_track = _probability("p_track", p_track)
    doctrine = _doctrine(doctrine)
    p_ka = _probability("p_kill_assessment", p_kill_assessment)
    options = dict(
        decoys=decoys,
        p_warhead_as_warhead=p_warhead_as_warhead,
        p_decoy_as_warhead=p_decoy_as_warhead,
        doctrine=doctrine,
        layers=layers,
        p_kill_assessment=p_ka,
    )
    base = evaluate(warheads, sspk, 0.0, p_track, **options)
    top = base.ceiling
    if np.any(goal >= top):
        raise UserError(
            f"goal {_show(goal_pd)} is not below the ceiling {_show(np.round(top, 6))} that no "
            "number of interceptors can pass (P_track and discrimination limit it)",
            field="goal_pd",
        )
    extra = _layers(layers, p_track)
    p_ww = np.asarray(p_warhead_as_warhead, dtype=float)
    k_needed = goal ** (1.0 / warheads) / p_ww  # kill probability per engaged warhead
    leak_others = np.float64(1.0)
    for s, n, t in extra:
        leak_others = leak_others * (1.0 - t * (1.0 - (1.0 - s) ** n))
    closed_form = doctrine == "barrage" or bool(np.all(p_ka == 1.0))
    if closed_form:
        k_main = np.clip(1.0 - (1.0 - k_needed) / leak_others, 0.0, None)
        with np.errstate(divide="ignore"):
            n = np.log1p(-k_main / p_track) / np.log1p(-sspk)
        n = np.where(k_main > 0.0, n, 0.0) + 0.0  # + 0.0 turns -0.0 (SSPK = 1) into 0.0
    else:
        n = _bisect_shots(goal, warheads, sspk, p_track, options)
    n = np.asarray(n, dtype=float)

    # P_D grows with n, so the whole answer is ceil(n) up to rounding: search just below it.
    start = np.maximum(np.floor(n) - 2.0, 0.0)
    n_whole = _whole_shots(start, goal, warheads, sspk, p_track, options)
    cont = evaluate(warheads, sspk, n, p_track, **options)
    whole = evaluate(warheads, sspk, n_whole, p_track, **options)
    total_whole = np.ceil(whole.interceptors_total * (1.0 - _GOAL_SLACK))
    return ShotsForGoal(
        interceptors_per_object=cont.max_shots_per_object,
        interceptors_total=cont.interceptors_total,
        interceptors_per_object_whole=np.asarray(whole.max_shots_per_object).astype(np.int64),
        interceptors_total_whole=np.asarray(total_whole).astype(np.int64),
        p_no_leak_whole=whole.p_no_leak,
        expected_interceptors_total_whole=whole.expected_interceptors_total,
        objects_engaged=whole.objects_engaged,
        ceiling=top,
        main_layer_shots_whole=np.asarray(n_whole).astype(np.int64),
    )


def _bisect_shots(goal, warheads, sspk, p_track, options) -> NDArray[np.float64]:
    """Continuous main-layer shots meeting the goal, by bisection (vectorised).

    Used when no closed form exists (shoot-look-shoot with an imperfect kill assessment).
    ``P_D`` grows with ``n`` because both salvos do (see :func:`_split`).
    """
    shape = np.broadcast_shapes(
        np.shape(goal), np.shape(warheads), np.shape(sspk), np.shape(p_track)
    )

    def pd(n):
        return evaluate(warheads, sspk, n, p_track, **options).p_no_leak

    low = np.zeros(shape)
    high = np.ones(shape)
    while np.any(pd(high) < goal):
        high = np.where(pd(high) < goal, high * 2.0, high)
        if np.any(high > 1e9):  # cannot happen below the ceiling; guards against a bad loop
            raise UserError("the goal needs more than 1e9 interceptors per object", field="goal_pd")
    for _ in range(200):
        mid = 0.5 * (low + high)
        reached = pd(mid) >= goal
        low = np.where(reached, low, mid)
        high = np.where(reached, mid, high)
        if np.all(high - low <= 1e-12 * np.maximum(high, 1.0)):
            break
    return high


def _whole_shots(start, goal, warheads, sspk, p_track, options) -> NDArray[np.float64]:
    """Smallest whole main-layer shots from ``start`` up with ``P_D >= goal`` (float slack)."""
    candidate = np.broadcast_to(start, np.broadcast_shapes(np.shape(start), np.shape(goal)))
    for _ in range(_MAX_WHOLE_SHOTS):
        pd = evaluate(warheads, sspk, candidate, p_track, **options).p_no_leak
        met = pd >= goal * (1.0 - _GOAL_SLACK)
        if np.all(met):
            return candidate
        candidate = np.where(met, candidate, candidate + 1.0)
    raise UserError("the goal needs an impractical number of interceptors", field="goal_pd")


# --------------------------------------------------------------------------------------------
# Monte Carlo: every interceptor's hit drawn, independently of the closed form.


def monte_carlo(
    warheads: int,
    sspk: float,
    shots_per_object: int,
    p_track: float = 1.0,
    *,
    trials: int,
    rng: np.random.Generator,
    decoys: int = 0,
    p_warhead_as_warhead: float = 1.0,
    p_decoy_as_warhead: float = 1.0,
    doctrine: Doctrine = "barrage",
    layers: Sequence[Sequence[float]] = (),
    p_kill_assessment: float = 1.0,
    confidence: float = 0.95,
) -> MonteCarloResult:
    """Simulate ``trials`` raids and count those in which no warhead leaks (scalar inputs).

    Each trial draws, per object: its classification (engaged or not), per layer whether its
    track works, per salvo whether a look (if any) calls it alive, and for every interceptor
    fired whether it hits (probability SSPK); the object dies when a hit lands on a working
    track. The interval is Clopper-Pearson at ``confidence``. Shots must be whole numbers.
    """
    from scipy.stats import binomtest

    evaluate(
        warheads,
        sspk,
        shots_per_object,
        p_track,
        decoys=decoys,
        p_warhead_as_warhead=p_warhead_as_warhead,
        p_decoy_as_warhead=p_decoy_as_warhead,
        doctrine=doctrine,
        layers=layers,
        p_kill_assessment=p_kill_assessment,
    )  # checks
    if trials < 1 or int(trials) != trials:
        raise UserError(f"must be a whole number >= 1, got {trials}", field="trials")
    if not 0.0 < confidence < 1.0:
        raise UserError(f"must be in (0, 1), got {confidence}", field="confidence")
    shots_main = float(shots_per_object)
    if shots_main != math.floor(shots_main):
        raise UserError("a simulation needs whole shots per object", field="shots_per_object")
    extra = [(float(s), float(n), float(t)) for s, n, t in _layers(layers, np.float64(p_track))]
    if any(n != math.floor(n) for _, n, _ in extra):
        raise UserError("a simulation needs whole shots in every layer", field="layers")
    plan = [(s, [int(n)], t) for s, n, t in extra]
    main_salvos = [int(x) for x in _split(np.float64(shots_main), doctrine)]
    plan.append((float(sspk), main_salvos, float(p_track)))

    warheads, decoys = int(warheads), int(decoys)
    objects = warheads + decoys
    # Chunks keep the (trials, objects, shots) hit draws to a few million numbers.
    widest = max(max(s for _, salvos, _ in plan for s in salvos), 1)
    chunk = max(1, 4_000_000 // max(objects * widest, 1))
    successes = 0
    leakers_sum = 0.0
    shots_sum = 0.0
    shots_sq_sum = 0.0
    done = 0
    while done < trials:
        m = min(chunk, trials - done)
        done += m
        is_warhead = np.zeros(objects, dtype=bool)
        is_warhead[:warheads] = True
        p_engage = np.where(is_warhead, p_warhead_as_warhead, p_decoy_as_warhead)
        engaged = rng.random((m, objects)) < p_engage
        alive = np.ones((m, objects), dtype=bool)
        fired_total = np.zeros((m, objects))
        first_salvo = True
        for layer_sspk, salvos, layer_track in plan:
            tracked = rng.random((m, objects)) < layer_track
            for shots in salvos:
                if first_salvo or doctrine == "barrage":
                    fire = engaged.copy()
                else:
                    correct = rng.random((m, objects)) < p_kill_assessment
                    judged_alive = np.where(correct, alive, ~alive)
                    fire = engaged & judged_alive
                first_salvo = False
                if shots == 0:
                    continue
                hits = (rng.random((m, objects, shots)) < layer_sspk).any(axis=-1)
                fired_total += np.where(fire, shots, 0)
                alive &= ~(fire & tracked & hits)
        leaked = alive[:, :warheads]
        leakers = leaked.sum(axis=1)
        successes += int(np.count_nonzero(leakers == 0))
        leakers_sum += float(leakers.sum())
        spent = fired_total.sum(axis=1)
        shots_sum += float(spent.sum())
        shots_sq_sum += float((spent**2).sum())

    ci = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="exact")
    mean_shots = shots_sum / trials
    var_shots = max(shots_sq_sum / trials - mean_shots**2, 0.0) * trials / max(trials - 1, 1)
    return MonteCarloResult(
        trials=trials,
        successes=successes,
        p_no_leak=successes / trials,
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        confidence=confidence,
        mean_leakers=leakers_sum / trials,
        mean_interceptors=mean_shots,
        stderr_interceptors=math.sqrt(var_shots / trials),
    )
