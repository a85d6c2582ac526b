"""Decision and engagement: the arrangement decides who may fire when; interceptors fly.

In: the ``Picture`` of a replication (when each partner, and the fusion centre, had a firm track
on each threat), the arrangement's ``Rules``, the scenario's fire units, the intercept geometry,
a generator for this arrangement's links and the replication's kill draws. Out: one
``ThreatOutcome`` per threat, the shots per partner, the decision messages' rejections and an
event timeline.

1. Plan. For each (threat, fire unit) the earliest launch the arrangement could allow: the fire
   unit's partner's firm track (its own under independent; the earlier of its own and the fused
   one it received otherwise) plus the decision latency; under joint, the centre's firm fused
   track plus the nominal time of a vote and an order over the links. Who may engage what:
   ``arrangements.engagement_mask`` (own assets under independent and data-exchange; anyone's
   under sectoral and joint) and, under sectoral, only over the partner's own sector.
2. Assign. Weapon-target assignment (``engagement.assign_weapons``: one fire unit per threat,
   maximising expected kills) among allowed pairs with a feasible intercept under the plan.
3. Decide, through the signed exchange, in time order (a small discrete-event loop over the
   links):

   - independent / data-exchange / sectoral: the unit's partner signs an ``Order`` naming the
     unit at its firm-track time and, when it shares, sends it to the fusion centre for the
     record. The unit may launch ``decision_latency_s`` later.
   - joint: the centre signs an ``EngagementRequest`` naming the assigned unit and sends it to
     every partner still in; each answers with a signed ``Vote`` (yes, veto or abstain, per the
     scenario) ``vote_latency_s`` after the request arrives; the centre counts only the votes
     its receiver *accepts* (``arrangements.tally``) and, on a decision to fire, signs an
     ``Order`` for that unit and sends it to the unit's partner, which may launch
     ``decision_latency_s`` after the order arrives. A request still undecided after a timeout
     is sent again (lost messages are not fatal); a partner that has left does not vote, and its
     units are not ordered.

4. Fire. ``engagement.execute_engagements`` flies the ordered shots with each unit's doctrine;
   each engagement's signed ``KillAssessment`` goes to the centre (or stays with the partner,
   independent). The geometry uses the true trajectory: the firm-track requirement stands for
   the track accuracy an interceptor needs, and tracking errors do not enter the kill
   probability (docs/modelling.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .. import earth
from ..arrangements import Rules, engagement_mask, order_time, sector_owner, tally, vote
from ..engagement import (
    FireUnits,
    InterceptGeometry,
    InterceptorType,
    assign_weapons,
    default_capacity,
    engagement_pk,
    execute_engagements,
    intercept_geometry,
)
from ..exchange import (
    Acknowledgement,
    EngagementRequest,
    KillAssessment,
    Order,
    SignedMessage,
    Vote,
)
from ..outcomes import Event, ThreatOutcome
from .picture import Picture
from .runtime import Exchange as _Exchange

FloatArray = NDArray[np.float64]

#: A joint request not decided within this many seconds beyond the slowest expected round trip
#: is sent again (messages lost on a link are not retransmitted by the links themselves).
REQUEST_RETRY_MARGIN_S = 5.0
MAX_REQUESTS = 10


@dataclass(frozen=True)
class FireUnitSet:
    """The scenario's fire units, with the partner owning each."""

    units: FireUnits
    partner: tuple[str, ...]


def fire_units_of(scenario) -> FireUnitSet | None:
    """Every fire unit of the scenario (None when it has none)."""
    rows = scenario.fire_units()
    if not rows:
        return None
    types = {
        it.name: InterceptorType.from_km(**it.model_dump(exclude={"source"}))
        for it in scenario.interceptor_types
    }
    units = FireUnits.create(
        lat_rad=np.radians([site.lat_deg for site, _, _ in rows]),
        lon_rad=np.radians([site.lon_deg for site, _, _ in rows]),
        alt_m=[site.alt_m or 0.0 for site, _, _ in rows],
        interceptor=[types[it.name] for _, _, it in rows],
        inventory=[unit.inventory for _, unit, _ in rows],
        salvo=[unit.salvo for _, unit, _ in rows],
        launch_interval_s=[unit.launch_interval_s for _, unit, _ in rows],
        doctrine=[unit.doctrine for _, unit, _ in rows],
        kill_assessment_delay_s=[unit.kill_assessment_delay_s for _, unit, _ in rows],
        name=[unit.name for _, unit, _ in rows],
    )
    return FireUnitSet(units, tuple(site.partner for site, _, _ in rows))


def drop_out_times(scenario) -> dict[str, float]:
    """When each partner leaves the arrangement (inf: never)."""
    times = {p.name: np.inf for p in scenario.partners}
    for event in scenario.events:
        if event.kind == "partner-drops-out":
            times[event.partner] = min(times[event.partner], event.time_s)
    return times


@dataclass(frozen=True)
class Decisions:
    """What one arrangement did in one replication."""

    threats: tuple[ThreatOutcome, ...]
    events: tuple[Event, ...]
    shots_by_partner: dict[str, int]
    rejected_messages: dict[str, int]


def decide_and_engage(
    scenario,
    picture: Picture,
    rules: Rules,
    units: FireUnitSet | None,
    geometry: InterceptGeometry | None,
    rng: np.random.Generator,
    keys: Mapping,
    ledger_dir: str | Path | None = None,
    kill_draws: FloatArray | None = None,
    ledger_meta: Mapping[str, object] | None = None,
) -> Decisions:
    """Steps 1-4 of the module docstring for one arrangement. ``geometry`` is
    ``intercept_geometry_of(truth, units)``, shared by every arrangement of a scenario;
    ``kill_draws (n, K)`` the replication's kill draws, shared by every arrangement."""
    truth = picture.truth
    n = truth.n
    partners = picture.partners
    shared = rules.shares_picture and picture.fused is not None
    events = [
        Event(float(truth.launch_time[k]), "launch", None, k, truth.raid[k]) for k in range(n)
    ]
    exchange = _Exchange(scenario, keys, rng, ledger_dir, ledger_meta)
    if units is None:
        outcomes = _outcomes(picture, rules, shared, None, None, n)
        return Decisions(
            tuple(outcomes), tuple(events), dict.fromkeys(partners, 0), exchange.finish()
        )

    # 1. Plan: the earliest launch the arrangement could allow, and who may engage what.
    geometry = _constrained(geometry, rules, units, truth)
    firm = {p: picture.firm_track_time(p, shared) for p in partners}
    if rules.kind == "joint":
        t_request = picture.fused.first_firm_track_s if shared else np.full(n, np.nan)
        nominal = _nominal_vote_delay(rules, exchange, partners)
        decided = np.nan_to_num(t_request, nan=np.inf) + nominal
        plan = np.repeat(decided[:, None], units.units.m, axis=1)
    else:
        plan = np.stack([np.nan_to_num(firm[p], nan=np.inf) for p in units.partner], axis=1)
    plan = plan + rules.decision_latency_s
    if rules.kind == "sectoral":
        # Any threat, anyone's asset: the sector itself is enforced in the geometry above,
        # sample by sample, rather than on one candidate intercept point.
        allowed = np.ones(plan.shape, dtype=bool)
    else:
        allowed = engagement_mask(rules, units.partner, truth.aimpoint_partner)
    planned = geometry.earliest_all(plan)
    feasible = planned.feasible

    # 2. Assign.
    pk = np.broadcast_to(engagement_pk(units.units.sspk, units.units.salvo), plan.shape)
    assignment = assign_weapons(pk, allowed & feasible, default_capacity(units.units))
    pairs = list(zip(assignment.threat_idx.tolist(), assignment.unit_idx.tolist(), strict=True))

    # 3. Decide through the exchange.
    earliest = np.full(plan.shape, np.inf)
    if rules.kind == "joint":
        _joint_votes(
            rules, exchange, pairs, t_request, planned, allowed, units, truth, events, earliest,
            scenario,
        )  # fmt: skip
    else:
        for k, j in pairs:
            p = units.partner[j]
            t_order = float(firm[p][k])
            order = Order(
                order_id=f"{rules.name}-{k}-{j}",
                request_id=f"{p}-national-{k}",
                fire_unit=units.units.name[j],
                track_id=k,
                t=t_order,
                fire=True,
                shots=int(units.units.salvo[j]),
            )
            to = [exchange.centre] if shared else []
            exchange.at(t_order, lambda t, p=p, order=order, to=to: exchange.send(p, order, t, to))
            events.append(Event(t_order, "order", p, k, f"national: {units.units.name[j]}"))
            earliest[k, j] = t_order + rules.decision_latency_s
    exchange.run()

    # 4. Fire, on the orders given (a joint order may name another unit than planned).
    threat_idx, unit_idx = np.nonzero(np.isfinite(earliest))
    outcome = execute_engagements(
        geometry, threat_idx, unit_idx, earliest[threat_idx, unit_idx], rng, kill_draws=kill_draws
    )
    shots = outcome.shots
    for s in range(shots.threat_idx.shape[0]):
        k, j = int(shots.threat_idx[s]), int(shots.unit_idx[s])
        p = units.partner[j]
        result = "killed" if shots.hit[s] else "missed"
        events.append(Event(float(shots.t_launch[s]), "shot", p, k, units.units.name[j]))
        events.append(
            Event(
                float(shots.t_intercept[s]), "intercept", p, k, f"{units.units.name[j]}: {result}"
            )
        )
        assessment = KillAssessment(
            order_id=f"{rules.name}-{k}-{j}",
            track_id=k,
            t=float(shots.t_intercept[s] + units.units.kill_assessment_delay_s[j]),
            outcome=result,
        )
        to = [exchange.centre] if shared else []
        exchange.at(assessment.t, lambda t, p=p, a=assessment, to=to: exchange.send(p, a, t, to))
    exchange.run()
    for k in range(n):
        if not outcome.killed[k]:
            events.append(Event(float(truth.impact_time[k]), "leak", None, k, truth.aimpoint[k]))
    shots_by_partner = dict.fromkeys(partners, 0)
    for j, count in enumerate(outcome.shots_by_unit):
        shots_by_partner[units.partner[j]] += int(count)
    outcomes = _outcomes(picture, rules, shared, units, outcome, n)
    events.sort(key=lambda e: (e.t_s, e.kind))
    return Decisions(tuple(outcomes), tuple(events), shots_by_partner, exchange.finish())


def intercept_geometry_of(truth, units: FireUnitSet | None) -> InterceptGeometry | None:
    """Flyout geometry of every (threat, fire unit) pair along the true trajectories."""
    if units is None:
        return None
    return intercept_geometry(
        truth.times, truth.r_ecef, units.units, model=truth.trajectories.model
    )


def _constrained(
    geometry: InterceptGeometry, rules: Rules, units: FireUnitSet, truth
) -> InterceptGeometry:
    """Under sectoral rules a fire unit may intercept only over its own partner's sector: drop
    the trajectory samples whose ground point lies outside it."""
    if rules.kind != "sectoral":
        return geometry
    lat, lon, _ = earth.ecef_to_geodetic(truth.r_ecef, truth.trajectories.model)
    owner = sector_owner(rules, np.degrees(lat), np.degrees(lon))  # (n, T)
    row_partner = np.asarray(units.partner, dtype=object)[geometry.unit_idx]
    in_sector = owner[geometry.threat_idx] == row_partner[:, None]
    # An intercept is refined between a sample and the one before it: both must be inside.
    in_sector[:, 1:] &= in_sector[:, :-1]
    return dataclasses.replace(geometry, ok=geometry.ok & in_sector)


def _nominal_vote_delay(rules: Rules, exchange: _Exchange, partners) -> float:
    """Planning figure for a joint decision: request out, votes back (the rule's deciding vote),
    order out, each leg at the links' nominal latency."""
    latency = {
        p: max(
            (link.latency_s for (a, b), link in exchange.network.links.items() if p in (a, b)),
            default=np.inf,
        )
        for p in partners
    }
    arrivals = {p: 2 * latency[p] + rules.vote_latency_s.get(p, 0.0) for p in partners}
    # The plan does not anticipate how partners will vote: it assumes they all say yes.
    hopeful = dataclasses.replace(rules, veto=frozenset())
    decided = order_time(hopeful, 0.0, list(partners), arrivals)
    return decided + max(latency.values(), default=0.0)


def _joint_votes(
    rules: Rules,
    exchange: _Exchange,
    pairs: list[tuple[int, int]],
    t_request: FloatArray,
    planned,
    allowed,
    units: FireUnitSet,
    truth,
    events: list[Event],
    earliest: FloatArray,
    scenario,
) -> None:
    """Requests, votes and orders for the assigned pairs; fills ``earliest`` from the orders
    that reach the fire units' partners (step 3 of the module docstring)."""
    centre = exchange.centre
    leaves = drop_out_times(scenario)
    partners = [p.name for p in scenario.partners]
    retry_s = (
        2 * exchange.max_delay_s() + max(rules.vote_latency_s.values(), default=0.0)
    ) + REQUEST_RETRY_MARGIN_S
    requests: dict[str, tuple[int, int]] = {}
    votes: dict[str, dict[str, str]] = {}
    decided: dict[str, str] = {}
    orders: dict[str, Order] = {}  # the order given for a request, re-sent until acknowledged
    acknowledged: set[str] = set()
    unit_index = {name: j for j, name in enumerate(units.units.name)}

    def still_in(t: float) -> list[str]:
        return [p for p in partners if leaves.get(p, np.inf) > t]

    def tick(request_id: str, attempt: int, t: float) -> None:
        """Send the request, or the order once decided, again every ``retry_s`` until the
        order is acknowledged, refused, or too late (links drop messages; they do not retry)."""
        k, j = requests[request_id]
        done = request_id in acknowledged or decided.get(request_id) == "refuse"
        if done or t >= truth.impact_time[k] or attempt >= MAX_REQUESTS:
            return
        if request_id in orders:
            order = orders[request_id]
            owner = units.partner[unit_index[order.fire_unit]]
            if leaves.get(owner, np.inf) > t:
                exchange.send(centre, order, t, [owner])
                events.append(Event(t, "order", None, k, f"{order.fire_unit} (again)"))
        else:
            send_request(request_id, attempt, t)
        exchange.at(t + retry_s, lambda t2: tick(request_id, attempt + 1, t2))

    def send_request(request_id: str, attempt: int, t: float) -> None:
        k, j = requests[request_id]
        body = EngagementRequest(
            request_id=request_id,
            requester=centre,
            fire_unit=units.units.name[j],
            track_id=k,
            t=float(t),
            t_intercept=float(planned.t_intercept[k, j]),
            r_intercept_eci=earth.ecef_to_eci(
                planned.r_intercept_ecef[k, j], planned.t_intercept[k, j], truth.trajectories.model
            ),
            shots=int(units.units.salvo[j]),
        )
        exchange.send(centre, body, t, still_in(t))
        events.append(Event(t, "request", None, k, f"{units.units.name[j]} (#{attempt + 1})"))

    def decide(request_id: str, t: float) -> None:
        if request_id in decided:
            return
        outcome = tally(rules, votes.setdefault(request_id, {}), still_in(t))
        if outcome == "wait":
            return
        decided[request_id] = outcome
        k, j = requests[request_id]
        if outcome == "refuse":
            events.append(Event(t, "no-order", None, k, f"{rules.vote_rule}: refused"))
            return
        owner = units.partner[j]
        if leaves.get(owner, np.inf) <= t:
            # The assigned unit's partner has left: the centre orders the best unit still
            # available to it (the earliest planned intercept), if any.
            j = _replacement(k, planned, allowed, units, still_in(t))
            if j is None:
                events.append(Event(t, "no-order", owner, k, "the unit's partner has left"))
                return
            owner = units.partner[j]
            requests[request_id] = (k, j)
        order = Order(
            order_id=f"{rules.name}-{k}-{j}",
            request_id=request_id,
            fire_unit=units.units.name[j],
            track_id=k,
            t=float(t),
            fire=True,
            shots=int(units.units.salvo[j]),
        )
        orders[request_id] = order
        exchange.send(centre, order, t, [owner])
        events.append(Event(t, "order", None, k, f"joint {rules.vote_rule}: {units.units.name[j]}"))

    def on_message(node: str, message: SignedMessage, t: float) -> None:
        body = message.body
        if node != centre and message.kind == "engagement_request":
            if message.sender != centre or body.request_id not in requests:
                return
            t_vote = t + rules.vote_latency_s.get(node, 0.0)
            if t_vote >= leaves.get(node, np.inf):
                return  # it leaves before it could vote
            choice = vote(rules, node)
            ballot = Vote(body.request_id, node, choice, float(t_vote))
            exchange.at(t_vote, lambda t2: exchange.send(node, ballot, t2, [centre]))
            events.append(Event(t_vote, "vote", node, body.track_id, choice))
        elif node == centre and message.kind == "vote":
            if body.request_id in requests and body.voter == message.sender:
                votes.setdefault(body.request_id, {})[body.voter] = body.choice
                decide(body.request_id, t)
        elif node != centre and message.kind == "order":
            # The partner acts on the signed order itself: the unit and the threat it names.
            j = unit_index.get(body.fire_unit)
            if message.sender != centre or not body.fire or j is None or units.partner[j] != node:
                return
            k = body.track_id
            if 0 <= k < earliest.shape[0] and not np.isfinite(earliest[k, j]):
                earliest[k, j] = t + rules.decision_latency_s
            ack = Acknowledgement(body.order_id, node, float(t))
            exchange.send(node, ack, t, [centre])
        elif node == centre and message.kind == "acknowledgement":
            for request_id, order in orders.items():
                if order.order_id == body.order_id and body.by == message.sender:
                    acknowledged.add(request_id)

    exchange.on_message = on_message
    for k, j in pairs:
        if not np.isfinite(t_request[k]):
            continue
        request_id = f"{rules.name}-{k}-{j}"
        requests[request_id] = (k, j)
        exchange.at(float(t_request[k]), lambda t, rid=request_id: tick(rid, 0, t))


def _replacement(k: int, planned, allowed, units: FireUnitSet, partners) -> int | None:
    """The unit of a partner in ``partners`` with the earliest planned intercept of threat k."""
    candidates = [
        j
        for j in range(units.units.m)
        if units.partner[j] in partners and allowed[k, j] and planned.feasible[k, j]
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda j: planned.t_intercept[k, j])


def _decider_firm_track(picture: Picture, rules: Rules, shared: bool) -> FloatArray:
    """When whoever decides on each threat under the arrangement first held a firm track on it:
    the threatened partner (independent, data-exchange), the joint centre (joint), any partner
    (sectoral: the sector's owner, whichever it turns out to be)."""
    truth = picture.truth
    if rules.kind in ("independent", "data-exchange"):
        by_partner = {p: picture.firm_track_time(p, shared) for p in picture.partners}
        return np.array([by_partner[p][k] for k, p in enumerate(truth.aimpoint_partner)])
    if rules.kind == "joint":
        if not shared:
            return np.full(truth.n, np.nan)
        return picture.fused.first_firm_track_s
    return np.fmin.reduce([picture.firm_track_time(p, shared) for p in picture.partners])


def _outcomes(
    picture: Picture, rules: Rules, shared: bool, units, outcome, n: int
) -> list[ThreatOutcome]:
    truth = picture.truth
    partners = picture.partners
    detection = np.fmin.reduce([picture.own[p].first_detection_s for p in partners])
    firm = _decider_firm_track(picture, rules, shared)
    ground = ([], [])
    if outcome is not None and outcome.shots.threat_idx.size:
        lat, lon, _ = earth.ecef_to_geodetic(
            outcome.shots.r_intercept_ecef, truth.trajectories.model
        )
        ground = (np.degrees(lat).tolist(), np.degrees(lon).tolist())
    rows = []
    for k in range(n):
        shots_k = (
            np.flatnonzero(outcome.shots.threat_idx == k)
            if outcome is not None
            else np.zeros(0, int)
        )
        first_launch = float(outcome.shots.t_launch[shots_k].min()) if shots_k.size else None
        engaged_by = None
        if shots_k.size:
            first = shots_k[np.argmin(outcome.shots.t_launch[shots_k])]
            engaged_by = units.partner[int(outcome.shots.unit_idx[first])]
        killed = bool(outcome.killed[k]) if outcome is not None else False
        kill_shot = shots_k[outcome.shots.kill[shots_k]] if shots_k.size else np.zeros(0, int)
        rows.append(
            ThreatOutcome(
                threat_id=k,
                raid=truth.raid[k],
                threat_type=truth.threat_type[k],
                aimpoint=truth.aimpoint[k],
                aimpoint_partner=truth.aimpoint_partner[k],
                launch_time_s=float(truth.launch_time[k]),
                impact_time_s=float(truth.impact_time[k]),
                first_detection_s=_opt(detection[k]),
                first_firm_track_s=_opt(firm[k]),
                first_launch_s=first_launch,
                engaged_by=engaged_by,
                shots=int(shots_k.size),
                intercept_time_s=float(outcome.shots.t_intercept[kill_shot[0]])
                if kill_shot.size
                else None,
                intercept_altitude_km=float(outcome.shots.altitude_m[kill_shot[0]] / 1e3)
                if kill_shot.size
                else None,
                killed=killed,
                intercept_lat_deg=ground[0][kill_shot[0]] if kill_shot.size else None,
                intercept_lon_deg=ground[1][kill_shot[0]] if kill_shot.size else None,
            )
        )
    return rows


def _opt(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
