"""Decision and engagement: the arrangement decides who may fire when; interceptors fly.

In: the ``Picture`` of a replication (when each partner, and the fusion centre, had a firm track
on each threat), the arrangement's ``Rules``, the scenario's fire units and a generator for this
arrangement's links and kill draws. Out: one ``ThreatOutcome`` per threat, the shots per partner,
the decision messages' rejections and an event timeline.

1. Earliest allowed launch per (threat, fire unit):

   - independent / data-exchange / sectoral: the fire unit's partner decides alone, on its own
     firm track (independent) or on the earlier of its own and the fused firm track it received
     (the others), after the arrangement's decision latency. It signs an ``Order`` and, when it
     has a link, sends it to the fusion centre for the record.
   - joint: when the centre has a firm fused track and some fire unit has a feasible intercept,
     it signs an ``EngagementRequest`` and sends it to every partner still in the arrangement;
     each partner answers with a ``Vote`` (yes, veto or abstain, per the scenario) after its vote
     latency; the vote rule turns the votes that *arrive* into an order time (a vote lost on a
     link is a vote not cast); the centre's ``Order`` travels to each partner with fire units,
     which may launch ``decision_latency_s`` after it arrives. A partner that has dropped out does
     not vote and its fire units are not at the centre's disposal.

2. Who may engage what: ``arrangements.engagement_mask`` (own assets under independent and
   data-exchange; anyone's under sectoral and joint).
3. Intercepts: the earliest feasible intercept on the threats' trajectories (``engagement``),
   over the partner's own sector only under sectoral rules. The geometry uses the
   true trajectory: the firm-track requirement stands for the track accuracy an interceptor needs,
   and tracking errors are not propagated into the kill probability (a documented simplification).
4. Weapon-target assignment (``engagement.assign_weapons``, one fire unit per threat, maximising
   expected kills) among allowed, feasible pairs; then ``engagement.execute_engagements`` flies the
   shots with each fire unit's doctrine and draws kills with this arrangement's generator. Each
   engagement's ``KillAssessment`` goes to the centre (or stays with the partner, independent).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .. import earth
from ..arrangements import Rules, engagement_mask, order_time, sector_owner, vote
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
    EngagementRequest,
    KeyRing,
    KillAssessment,
    Ledger,
    Order,
    Receiver,
    Signer,
    Vote,
)
from ..outcomes import Event, ThreatOutcome
from .picture import Picture, centre_name, network_of

FloatArray = NDArray[np.float64]


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


class _Messenger:
    """Signs decision messages, carries them over the scenario's links and records them.

    Every node records what it signs and what it accepts in its own ledger (when a directory is
    given), so each partner can later prove what it decided and what it was told.
    """

    def __init__(self, scenario, keys, rng, ledger_dir: str | Path | None):
        self.centre = centre_name(scenario)
        nodes = (*(p.name for p in scenario.partners), self.centre)
        self.ring = KeyRing.from_private(keys)
        self.signers = {name: Signer(name, keys[name]) for name in nodes}
        self.network = network_of(scenario, rng)
        self.ledgers: dict[str, Ledger] = {}
        if ledger_dir is not None:
            Path(ledger_dir).mkdir(parents=True, exist_ok=True)
            for name in nodes:
                self.ledgers[name] = Ledger(Path(ledger_dir) / f"{name}.ledger", name, self.ring)
        self.receivers = {
            name: Receiver(name, self.ring, max_age_s=3600.0, ledger=self.ledgers.get(name))
            for name in nodes
        }
        # Ledgers need entries in time order: decisions are made in bursts, so every signed or
        # received message is queued and written in time order at the end.
        self._pending: list[tuple[float, int, str, object, bytes | None]] = []
        self._order = 0

    def linked(self, a: str, b: str) -> bool:
        return (a, b) in self.network.links

    def send(self, sender: str, body, t: float, to: Sequence[str]) -> dict[str, float]:
        """Sign ``body`` at ``t``, record it with the sender, send it to each of ``to`` and
        return the arrival time at each destination that received it."""
        message = self.signers[sender].sign(body, float(t))
        self._queue(t, sender, message, None)
        arrivals: dict[str, float] = {}
        for destination in to:
            if not self.linked(sender, destination):
                continue
            self.network.send(sender, destination, message.wire, float(t))
            for delivery in self.network.deliver(destination, np.inf):
                self._queue(delivery.t_arrival, destination, None, delivery.data)
                if delivery.data == message.wire:
                    # The first copy counts; a replayed copy is rejected by the receiver.
                    arrivals.setdefault(destination, delivery.t_arrival)
        return arrivals

    def _queue(self, t: float, node: str, own, data: bytes | None) -> None:
        self._order += 1
        self._pending.append((float(t), self._order, node, own, data))

    def finish(self) -> dict[str, int]:
        """Receive and record everything in time order; return rejections by reason."""
        for t, _, node, own, data in sorted(self._pending, key=lambda row: row[:2]):
            if own is not None:
                self.receivers[node].record_own(own, t)
            else:
                self.receivers[node].receive(data, t)
        for ledger in self.ledgers.values():
            ledger.close()
        rejected: dict[str, int] = {}
        for receiver in self.receivers.values():
            for reason, count in receiver.rejections.items():
                rejected[reason] = rejected.get(reason, 0) + count
        return rejected


def decide_and_engage(
    scenario,
    picture: Picture,
    rules: Rules,
    units: FireUnitSet | None,
    geometry: InterceptGeometry | None,
    rng: np.random.Generator,
    keys: Mapping,
    ledger_dir: str | Path | None = None,
) -> Decisions:
    """Steps 1-4 of the module docstring for one arrangement. ``geometry`` is
    ``intercept_geometry_of(truth, units)``, shared by every arrangement of a scenario."""
    truth = picture.truth
    n = truth.n
    partners = picture.partners
    shared = rules.shares_picture and picture.fused is not None
    firm = {p: picture.firm_track_time(p, shared) for p in partners}
    events: list[Event] = []
    for k in range(n):
        events.append(Event(float(truth.launch_time[k]), "launch", None, k, truth.raid[k]))
    messenger = _Messenger(scenario, keys, rng, ledger_dir)
    centre = messenger.centre
    leaves = drop_out_times(scenario)

    if units is None:
        rejected = messenger.finish()
        outcomes = _outcomes(picture, shared, None, None, n)
        return Decisions(tuple(outcomes), tuple(events), {p: 0 for p in partners}, rejected)

    m = units.units.m
    unit_partner = np.asarray(units.partner, dtype=object)
    geometry = _constrained(geometry, rules, units, truth)
    # Best case: every unit may launch as soon as its partner (or the centre) holds a firm track.
    base = np.stack([np.nan_to_num(firm[p], nan=np.inf) for p in units.partner], axis=1)
    if rules.kind == "joint":
        centre_firm = (
            np.nan_to_num(picture.fused.first_firm_track_s, nan=np.inf) if shared else None
        )
        base = np.repeat(centre_firm[:, None], m, axis=1) if centre_firm is not None else base
    solution = geometry.earliest_all(base)

    # Who may engage what (sectoral: inside its sector, already in the geometry).
    allowed = engagement_mask(
        rules if rules.kind != "sectoral" else Rules(rules.name, "joint"),
        units.partner,
        truth.aimpoint_partner,
    )

    # When each unit may launch.
    earliest = np.full((n, m), np.inf)
    if rules.kind == "joint":
        earliest = _joint_orders(
            rules, picture, solution, allowed, units, messenger, leaves, events, base[:, 0]
        )
    else:
        for k in range(n):
            for p in sorted(set(units.partner)):
                cols = np.flatnonzero(unit_partner == p)
                ok = allowed[k, cols] & solution.feasible[k, cols]
                if not np.any(ok) or not np.isfinite(base[k, cols[0]]):
                    continue
                t_order = float(base[k, cols[0]])
                order = Order(
                    order_id=f"{rules.name}-{p}-{k}",
                    request_id=f"national-{p}-{k}",
                    fire_unit=f"{p}:any",
                    track_id=k,
                    t=t_order,
                    fire=True,
                    shots=int(units.units.salvo[cols].max()),
                )
                messenger.send(p, order, t_order, [centre] if shared else [])
                events.append(Event(t_order, "order", p, k, "national decision"))
                earliest[k, cols] = t_order + rules.decision_latency_s

    # Assign and fire.
    solution = geometry.earliest_all(earliest)
    pk = np.broadcast_to(engagement_pk(units.units.sspk, units.units.salvo), (n, m))
    assignment = assign_weapons(pk, allowed & solution.feasible, default_capacity(units.units))
    outcome = execute_engagements(
        geometry,
        assignment.threat_idx,
        assignment.unit_idx,
        earliest[assignment.threat_idx, assignment.unit_idx],
        rng,
    )
    shots = outcome.shots
    for s in range(shots.threat_idx.shape[0]):
        k, j = int(shots.threat_idx[s]), int(shots.unit_idx[s])
        p = units.partner[j]
        events.append(Event(float(shots.t_launch[s]), "shot", p, k, units.units.name[j]))
        result = "killed" if shots.hit[s] else "missed"
        events.append(
            Event(
                float(shots.t_intercept[s]), "intercept", p, k, f"{units.units.name[j]}: {result}"
            )
        )
        assessment = KillAssessment(
            order_id=f"{rules.name}-{p}-{k}",
            track_id=k,
            t=float(shots.t_intercept[s] + units.units.kill_assessment_delay_s[j]),
            outcome=result,
        )
        messenger.send(p, assessment, assessment.t, [centre] if shared else [])
    for k in range(n):
        if not outcome.killed[k]:
            events.append(Event(float(truth.impact_time[k]), "leak", None, k, truth.aimpoint[k]))
    rejected = messenger.finish()
    shots_by_partner = {p: 0 for p in partners}
    for j, count in enumerate(outcome.shots_by_unit):
        shots_by_partner[units.partner[j]] += int(count)
    outcomes = _outcomes(picture, shared, units, outcome, n)
    events.sort(key=lambda e: (e.t_s, e.kind))
    return Decisions(tuple(outcomes), tuple(events), shots_by_partner, rejected)


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


def _joint_orders(
    rules: Rules,
    picture: Picture,
    best_case,
    allowed,
    units: FireUnitSet,
    messenger: _Messenger,
    leaves: Mapping[str, float],
    events: list[Event],
    t_request: FloatArray,
) -> FloatArray:
    """Requests, votes and orders through the exchange; the earliest launch per pair."""
    n, m = allowed.shape
    centre = messenger.centre
    earliest = np.full((n, m), np.inf)
    owners = sorted(set(units.partner))
    for k in range(n):
        feasible = best_case.feasible[k] & allowed[k]
        if not np.isfinite(t_request[k]) or not np.any(feasible):
            continue
        t_req = float(t_request[k])
        j_best = int(np.nanargmin(np.where(feasible, best_case.t_intercept[k], np.inf)))
        voters = [p for p in picture.partners if leaves.get(p, np.inf) > t_req]
        request = EngagementRequest(
            request_id=f"{rules.name}-{k}",
            requester=centre,
            fire_unit=units.units.name[j_best],
            track_id=k,
            t=t_req,
            t_intercept=float(best_case.t_intercept[k, j_best]),
            r_intercept_eci=earth.ecef_to_eci(
                best_case.r_intercept_ecef[k, j_best],
                best_case.t_intercept[k, j_best],
                picture.truth.trajectories.model,
            ),
            shots=int(units.units.salvo[j_best]),
        )
        events.append(Event(t_req, "request", None, k, f"{rules.name}: {units.units.name[j_best]}"))
        reached = messenger.send(centre, request, t_req, voters)
        arrivals: dict[str, float] = {}
        departed: set[str] = set()
        for p in voters:
            if p not in reached:
                continue
            t_vote = reached[p] + rules.vote_latency_s.get(p, 0.0)
            if t_vote >= leaves.get(p, np.inf):
                departed.add(p)  # it left before it could vote: it no longer has a vote
                continue
            choice = vote(rules, p)
            back = messenger.send(p, Vote(request.request_id, p, choice, t_vote), t_vote, [centre])
            events.append(Event(t_vote, "vote", p, k, choice))
            if centre in back:
                arrivals[p] = back[centre]
        # A vote that never arrived counts as not cast: give it an infinite arrival time.
        voters = [p for p in voters if p not in departed]
        votes_in = {p: arrivals.get(p, np.inf) for p in voters}
        t_order = order_time(rules, t_req, voters, votes_in)
        if not np.isfinite(t_order):
            events.append(Event(t_req, "no-order", None, k, f"{rules.vote_rule}: no decision"))
            continue
        order = Order(
            order_id=f"{rules.name}-{k}",
            request_id=request.request_id,
            fire_unit=units.units.name[j_best],
            track_id=k,
            t=float(t_order),
            fire=True,
            shots=int(units.units.salvo[j_best]),
        )
        events.append(Event(float(t_order), "order", None, k, f"joint {rules.vote_rule}"))
        to = [p for p in owners if leaves.get(p, np.inf) > t_order]
        arrived = messenger.send(centre, order, float(t_order), to)
        for p, t_arrival in arrived.items():
            cols = np.flatnonzero(np.asarray(units.partner, dtype=object) == p)
            earliest[k, cols] = t_arrival + rules.decision_latency_s
    return earliest


def _outcomes(picture: Picture, shared: bool, units, outcome, n: int) -> list[ThreatOutcome]:
    truth = picture.truth
    partners = picture.partners
    detection = np.fmin.reduce([picture.own[p].first_detection_s for p in partners])
    firm = np.fmin.reduce([picture.firm_track_time(p, shared) for p in partners])
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
