"""Decision and engagement: the arrangement decides who may fire when; interceptors fly.

In: the ``Picture`` of a replication (the tracks each partner and the fusion centre held, with
the sensors behind them), the ``Arrangement``, the scenario's fire units, the intercept geometry,
a generator for this arrangement's links and the replication's kill draws. Out: one
``ThreatOutcome`` per threat, the shots per partner, the decision messages' rejections and an
event timeline.

1. Plan. For each (threat, fire unit) the earliest launch the arrangement could allow: when the
   decider (``Arrangement.decision_times``: the unit's partner, or the joint centre) first held
   a track it may launch that unit on -- usable for launch under the arrangement's data-use
   rules (``HeldTracks.usable_level``: own sensors up to their type's ``data_use``, a
   partner's through the fused picture no further than ``partner_data_use``) and as firm as
   the unit's interceptor type needs (``firm_position_sigma_m``) -- plus the nominal order
   delay (``Arrangement.planned_order_delay``) and the decision latency. Who may engage what:
   ``Arrangement.plan_mask`` (own assets under independent and data-exchange; anyone's under
   sectoral and joint; under sectoral only over the partner's own sector,
   ``Arrangement.allowed_intercept_samples``), and only where the unit's partner holds some
   track that may guide the unit in flight (engage-on-remote).
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
   each shot's kill vehicle is handed over by the latest track that may guide it (``_Guidance``:
   the unit's partner's, at the last in-flight update before the seeker acquires) and misses
   when that track's error at the intercept point is beyond the kill vehicle's reach
   (engagement module, "Handover"); each engagement's signed ``KillAssessment`` goes to the
   centre (or stays with the partner, independent). The flyout geometry uses the true
   trajectory (docs/modelling.md).

Which procedure gives the orders is the arrangement's ``procedure`` (``ORDER_PROCEDURES``);
nothing here asks which arrangement it has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import earth
from ..arrangements import ENGAGE, LAUNCH, Arrangement, owner_of
from ..arrays import BoolArray, FloatArray
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
from ..exchange.links import as_seed_sequence
from ..outcomes import Event, ThreatOutcome
from ..tracking.models import BallisticTransition
from .picture import HeldTracks, Picture, radar_data_use
from .runtime import (
    LocalRunner,
    NodeContext,
    Role,
    add_rejections,
    centre_name,
    links_of,
    max_delay_s,
)

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
        kill_assessment_p_correct=[unit.kill_assessment_p_correct for _, unit, _ in rows],
    )
    return FireUnitSet(units, tuple(site.partner for site, _, _ in rows))


def partner_territories(scenario) -> dict[str, FloatArray]:
    """Each partner's territory polygon ``(k, 2)`` [lat_deg, lon_deg] (partners without one are
    left out)."""
    return {
        p.name: np.asarray(p.territory, float) for p in scenario.partners if p.territory is not None
    }


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


@dataclass
class _Context:
    """What one arrangement's decisions in one replication work with."""

    scenario: object
    picture: Picture
    rules: Arrangement
    units: FireUnitSet
    truth: object
    runner: object  # runs the exchange's roles (runtime.LocalRunner, or a live run's)
    link_seeds: object  # np.random.SeedSequence of the decisions' links
    ledger_dir: Path | None
    ledger_meta: Mapping[str, object]
    events: list[Event]
    shared: bool
    rejected: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def centre(self) -> str:
        return centre_name(self.scenario)

    def run(self, roles: Mapping[str, Role], stage: str | None = None):
        """Run one exchange of roles; its ledgers in the arrangement's directory (``stage``:
        a sub-directory), its rejections added up."""
        ledgers = None
        if self.ledger_dir is not None:
            ledgers = self.ledger_dir if stage is None else self.ledger_dir / stage
        meta = dict(self.ledger_meta) if stage is None else {**self.ledger_meta, "stage": stage}
        seeds = self.link_seeds.spawn(1)[0]
        run = self.runner.run(roles, seeds, ledgers, meta)
        self.rejected = add_rejections(self.rejected, run.rejected)
        return run


@dataclass(frozen=True)
class _Plan:
    """Step 1: per (threat, fire unit) (n, m) when the decider may first ask for an order, the
    earliest launch the arrangement could allow, who may engage what, and the intercepts that
    launch would give."""

    t_request: FloatArray
    launch: FloatArray
    allowed: BoolArray
    planned: object  # engagement.InterceptSolution (n, m)


def decide_and_engage(
    scenario,
    picture: Picture,
    rules: Arrangement,
    units: FireUnitSet | None,
    geometry: InterceptGeometry | None,
    rng: np.random.Generator,
    runner,
    ledger_dir: str | Path | None = None,
    kill_draws: FloatArray | None = None,
    ledger_meta: Mapping[str, object] | None = None,
    discrimination_draws: FloatArray | None = None,
) -> Decisions:
    """Steps 1-4 of the module docstring for one arrangement. ``geometry`` is
    ``intercept_geometry_of(truth, units)``, shared by every arrangement of a scenario;
    ``rng`` this arrangement's stream (its links' seeds are drawn from it first);
    ``runner`` runs the exchange's roles (``runtime.LocalRunner`` or a live run's; a mapping of
    private keys is taken as a ``LocalRunner``'s);
    ``kill_draws (n, K)`` the replication's kill draws, shared by every arrangement, and
    ``discrimination_draws`` its discrimination draws (``objects.discrimination_draws``; None:
    drawn from ``rng``). The decisions' ledgers are ``ledger_dir/NODE.ledger``, the kill
    assessments' ``ledger_dir/assessments/NODE.ledger`` (a ledger's times never go back, and
    the assessments follow from every order)."""
    truth = picture.truth
    shared = rules.shares_picture and picture.fused is not None
    events = _launch_events(truth)
    if isinstance(runner, Mapping):
        runner = LocalRunner(scenario, runner)
    link_seeds = as_seed_sequence(rng)
    ctx = _Context(scenario, picture, rules, units, truth, runner, link_seeds,
                   None if ledger_dir is None else Path(ledger_dir), dict(ledger_meta or {}),
                   events, shared)  # fmt: skip
    if units is None:
        ctx.run({})
        outcomes = _outcomes(picture, rules, shared, None, None, truth.n)
        return Decisions(
            tuple(outcomes), tuple(events), dict.fromkeys(picture.partners, 0), ctx.rejected
        )
    geometry = _constrained(geometry, rules, units, truth)
    plan = _plan(ctx, geometry)
    pairs = _assign(plan, units)
    earliest = np.full(plan.launch.shape, np.inf)
    ORDER_PROCEDURES[rules.procedure](ctx, plan, pairs, earliest)
    outcome = _fire(ctx, geometry, earliest, rng, kill_draws, discrimination_draws)
    _note_leaks(ctx, outcome)
    outcomes = _outcomes(
        picture, rules, shared, units, outcome, truth.n, plan, partner_territories(scenario)
    )
    events.sort(key=_event_order)
    return Decisions(tuple(outcomes), tuple(events), _shots_by_partner(ctx, outcome), ctx.rejected)


def _event_order(event: Event) -> tuple:
    """A total order of the timeline (events come from several nodes' roles)."""
    return (event.t_s, event.kind, event.partner or "", event.threat_id, event.detail)


class SendAt(Role):
    """A node that signs and sends given messages at given times (``sends``: (t, body, to)):
    a partner's national orders, its kill assessments. Its result: the indices of the sends it
    made (all of them, unless its node died first)."""

    def __init__(self, sends: list[tuple[float, object, tuple[str, ...]]]) -> None:
        self.sends = sends
        self.sent: list[int] = []

    def start(self, node: NodeContext) -> None:
        for i, (t, _, _) in enumerate(self.sends):
            node.at(t, self._send, node, i)

    def _send(self, t: float, node: NodeContext, i: int) -> None:
        _, body, to = self.sends[i]
        node.send(body, t, to)
        self.sent.append(i)

    def result(self) -> list[int]:
        return self.sent


def _partners_send(ctx: _Context, sends: Mapping[str, list], stage: str | None = None):
    """Each partner signs and sends its messages (``sends``: partner -> [(t, body, to, tag)])
    at their times; the tags of the messages each partner really sent, in time order."""
    ordered = {p: sorted(rows, key=lambda row: row[0]) for p, rows in sends.items()}
    run = ctx.run({p: SendAt([row[:3] for row in rows]) for p, rows in ordered.items()}, stage)
    return {p: [ordered[p][i][3] for i in run.results[p]] for p in ordered}


def _launch_events(truth) -> list[Event]:
    return [
        Event(float(truth.launch_time[k]), "launch", None, k, truth.raid[k]) for k in range(truth.n)
    ]


def _plan(ctx: _Context, geometry: InterceptGeometry) -> _Plan:
    """Step 1: when each decider first held a track it may launch each unit on (usable for
    launch under the arrangement and as firm as the unit's interceptor type needs); with the
    nominal order delay and the decision latency, the earliest launch the arrangement could
    allow; who may engage what (only where a track that may guide the unit exists)."""
    picture, rules, units = ctx.picture, ctx.rules, ctx.units
    national, centre, guidable = _firm_for_units(ctx)
    t_request = rules.decision_times(national, centre)
    delay = rules.planned_order_delay(_link_latency_by_partner(ctx.scenario, picture.partners))
    launch = rules.launch_permitted_at(t_request + delay)
    allowed = rules.plan_mask(units.partner, ctx.truth.aimpoint_partner) & guidable
    return _Plan(t_request, launch, allowed, geometry.earliest_all(launch))


def _firm_for_units(ctx: _Context) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Per (threat, fire unit) (n, m): when the unit's partner first held a track it may launch
    the unit on (``national``), when the fusion centre did (``centre``; inf without sharing), and
    whether the partner ever holds a track that may guide the unit in flight (``guidable``)."""
    picture, rules, units, n = ctx.picture, ctx.rules, ctx.units, ctx.truth.n
    m = units.units.m
    national = np.full((n, m), np.inf)
    centre = np.full((n, m), np.inf)
    guidable = np.zeros((n, m), bool)
    held = {p: picture.held_tracks(p, ctx.shared) for p in set(units.partner)}
    for j, p in enumerate(units.partner):
        firm_sigma = units.units.types[units.units.type_index[j]].firm_position_sigma_m
        national[:, j] = _first_usable(held[p], rules, p, LAUNCH, firm_sigma, n)
        guidable[:, j] = np.isfinite(_first_usable(held[p], rules, p, ENGAGE, np.inf, n))
        if ctx.shared and picture.centre_tracks is not None:
            centre[:, j] = _first_usable(picture.centre_tracks, rules, p, LAUNCH, firm_sigma, n)
    return national, centre, guidable


def _first_usable(
    tracks: HeldTracks, rules: Arrangement, holder: str, use: int, max_sigma_m: float, n: int
) -> FloatArray:
    """Per threat (n,), the first time a row usable by ``holder`` for ``use`` with a position
    uncertainty of at most ``max_sigma_m`` was held (inf: never)."""
    first = np.full(n, np.inf)
    ok = (tracks.usable_level(holder, rules) >= use) & (tracks.sigma_m <= max_sigma_m)
    np.minimum.at(first, tracks.threat[ok], tracks.t_held[ok])
    return first


def _assign(plan: _Plan, units: FireUnitSet) -> list[tuple[int, int]]:
    """Step 2: weapon-target assignment among allowed pairs feasible under the plan."""
    pk = np.broadcast_to(engagement_pk(units.units.sspk, units.units.salvo), plan.launch.shape)
    mask = plan.allowed & plan.planned.feasible
    assignment = assign_weapons(pk, mask, default_capacity(units.units))
    return list(zip(assignment.threat_idx.tolist(), assignment.unit_idx.tolist(), strict=True))


def _national_orders(ctx: _Context, plan: _Plan, pairs, earliest: FloatArray) -> None:
    """Step 3, national: the unit's partner signs an ``Order`` at its firm-track time (and sends
    it to the centre for the record when it shares); the unit may launch after the decision
    latency."""
    rules, units = ctx.rules, ctx.units
    sends: dict[str, list] = {}
    for k, j in pairs:
        p = units.partner[j]
        t_order = float(plan.t_request[k, j])
        order = Order(
            order_id=f"{rules.name}-{k}-{j}",
            request_id=f"{p}-national-{k}",
            fire_unit=units.units.name[j],
            track_id=k,
            t=t_order,
            fire=True,
            shots=int(units.units.salvo[j]),
        )
        to = (ctx.centre,) if ctx.shared else ()
        sends.setdefault(p, []).append((t_order, order, to, (k, j)))
    # A unit may launch on the orders its partner really signed (a partner's node that died in
    # a live run signs no more).
    for p, signed in _partners_send(ctx, sends).items():
        for k, j in signed:
            t_order = float(plan.t_request[k, j])
            ctx.events.append(Event(t_order, "order", p, k, f"national: {units.units.name[j]}"))
            earliest[k, j] = rules.launch_permitted_at(t_order)


def _fire(ctx: _Context, geometry, earliest: FloatArray, rng, kill_draws, draws=None):
    """Step 4: fly the ordered shots (a joint order may name another unit than planned) at the
    objects the unit's partner believes are warheads (``_targets``); record each shot and
    intercept and send its signed ``KillAssessment``."""
    threat_idx, unit_idx = np.nonzero(np.isfinite(earliest))
    guide = _Guidance(ctx, geometry)
    engage_w, extra, slot, extra_launch = _targets(
        ctx, geometry, threat_idx, unit_idx, earliest, rng, draws
    )
    outcome = execute_engagements(
        geometry,
        threat_idx,
        unit_idx,
        earliest[threat_idx, unit_idx],
        rng,
        kill_draws=kill_draws,
        guidance=guide,
        warhead_engaged=engage_w,
        false_targets=extra,
        warhead_slot=slot,
        false_target_launch=extra_launch,
    )
    shots, units = outcome.shots, ctx.units
    sends: dict[str, list] = {}
    for s in range(shots.threat_idx.shape[0]):
        k, j = int(shots.threat_idx[s]), int(shots.unit_idx[s])
        p, name = units.partner[j], units.units.name[j]
        result = "killed" if shots.hit[s] else "missed"
        why = ""
        if not shots.guided[s]:
            why = f" ({guide.notes.get((k, j, float(shots.t_launch[s])), 'not guided')})"
        if shots.on_false_target[s]:
            why = " (at a false target: a decoy or spent stage called a warhead)"
        ctx.events.append(Event(float(shots.t_launch[s]), "shot", p, k, name))
        ctx.events.append(
            Event(float(shots.t_intercept[s]), "intercept", p, k, f"{name}: {result}{why}")
        )
        assessment = KillAssessment(
            order_id=f"{ctx.rules.name}-{k}-{j}",
            track_id=k,
            t=float(shots.t_intercept[s] + units.units.kill_assessment_delay_s[j]),
            outcome=result,
        )
        to = (ctx.centre,) if ctx.shared else ()
        sends.setdefault(p, []).append((assessment.t, assessment, to, s))
    _partners_send(ctx, sends, stage="assessments")
    return outcome


def _targets(ctx: _Context, geometry, threat_idx, unit_idx, earliest: FloatArray, rng, draws):
    """Per ordered pair, what the unit's partner believes of the threat's objects
    (``objects.classify``: the calls of the radars whose data may commit its interceptors --
    its own, and a partner's where the arrangement shares them at that level) by the
    planned intercept -- the kill vehicles are handed over to the objects then held, not those
    held at launch, before the complex has deployed: whether it engages the warhead, how many
    false targets it engages too, the warhead's place among them (a uniform draw: the unit
    cannot tell them apart) and when the false targets may first be launched at (from when
    they were first held)."""
    from ..objects import classify, discrimination_draws, object_views

    k_pairs = threat_idx.shape[0]
    engage = np.ones(k_pairs, bool)
    extra = np.zeros(k_pairs, np.int64)
    slot = np.zeros(k_pairs, np.int64)
    extra_launch = np.full(k_pairs, np.inf)
    if not k_pairs:
        return engage, extra, slot, extra_launch
    radars = scenario_radars(ctx.scenario)
    views = object_views(ctx.scenario, ctx.truth, radars)
    if draws is None:
        draws = discrimination_draws(rng, views)
    e0 = earliest[threat_idx, unit_idx]
    planned = geometry.earliest(e0, geometry.rows(threat_idx, unit_idx))
    t_decide = np.where(planned.feasible, planned.t_intercept, e0)
    partner_of = np.asarray(views.partner, dtype=object)
    level = np.array([radar_data_use(ctx.scenario)[r.name][0] for r in radars], np.int64)
    calls_by_partner = {}
    for p in set(ctx.units.partner):
        # A call counts where the radar's data may commit this partner's interceptor (the
        # data-use rules of the tracks, "who may guide whom"): its own radars at their type's
        # level, a partner's through the shared picture no further than the arrangement allows.
        own = partner_of == p
        shared_level = ctx.rules.usable_level(level, own=False) if ctx.shared else 0
        calls_by_partner[p] = np.where(own, level, shared_level) >= LAUNCH
    for q, (k, j) in enumerate(zip(threat_idx.tolist(), unit_idx.tolist(), strict=True)):
        mask = calls_by_partner[ctx.units.partner[j]]
        engage[q], extra[q], held = classify(views, draws, k, float(t_decide[q]), mask)
        extra_launch[q] = max(float(e0[q]), held)
        if engage[q] and extra[q]:
            # The draws' last column orders the objects (stable per threat across arrangements).
            slot[q] = int(draws[k, 0, -1] * 0.999999 * (extra[q] + 1))
    return engage, extra, slot, extra_launch


_RADARS: dict[str, list] = {}


def scenario_radars(scenario) -> list:
    """The scenario's radars (``picture.radars_of``), cached per scenario content."""
    from ..scenario import scenario_hash
    from .picture import radars_of

    key = scenario_hash(scenario)
    if key not in _RADARS:
        if len(_RADARS) >= 8:
            _RADARS.pop(next(iter(_RADARS)))
        _RADARS[key] = radars_of(scenario)
    return _RADARS[key]


class _Guidance:
    """Whether a shot's kill vehicle is handed over inside its reach (engagement module,
    "Handover"): the guiding track is the latest row the unit's partner held, usable to guide the
    unit under the arrangement, by the last in-flight update (the kill vehicle's acquisition,
    t_go = R_acq / V_c before the intercept; at launch if that comes earlier). Its state,
    propagated to the intercept time along the ballistic model, minus the truth there, is the
    handover error; its part across the closing velocity must lie within
    ``InterceptorType.correctable_miss_m``."""

    def __init__(self, ctx: _Context, geometry: InterceptGeometry) -> None:
        self.ctx = ctx
        self.model = ctx.truth.trajectories.model
        self.transition = BallisticTransition(self.model)
        self.held = {}
        self.site_ecef = geometry.site_ecef
        self.notes: dict[tuple[int, int, float], str] = {}
        self.handover_m: dict[tuple[int, int, float], float] = {}

    def _rows(self, partner: str) -> tuple[HeldTracks, BoolArray]:
        if partner not in self.held:
            tracks = self.ctx.picture.held_tracks(partner, self.ctx.shared)
            self.held[partner] = (tracks, tracks.usable_level(partner, self.ctx.rules) >= ENGAGE)
        return self.held[partner]

    def __call__(self, k: int, j: int, t_launch: float, t_intercept: float, r_ecef) -> bool:
        units = self.ctx.units
        it = units.units.types[units.units.type_index[j]]
        state = self.ctx.truth.trajectories.state_eci(np.array([t_intercept]))[k, 0]
        r_int = earth.ecef_to_eci(np.asarray(r_ecef, float), t_intercept, self.model)
        site = earth.ecef_to_eci(self.site_ecef[j], t_intercept, self.model)
        v_int = it.burnout_speed_mps * _unit(r_int - site)
        v_close = state[3:] - v_int
        closing = float(np.linalg.norm(v_close))
        t_go = it.kv_acquisition_range_m / closing if closing > 0 else 0.0
        t_update = max(t_launch, t_intercept - t_go)
        tracks, guiding = self._rows(units.partner[j])
        rows = np.flatnonzero(guiding & (tracks.threat == k) & (tracks.t_held <= t_update))
        key = (k, j, float(t_launch))
        if not rows.size:
            self.notes[key] = "no track may guide it"
            return False
        r = rows[np.argmax(tracks.t_held[rows])]
        dt = np.array([t_intercept - tracks.t_state[r]])
        x = self.transition.function(tracks.x[r][None, :], dt)[0]
        error = x[:3] - state[:3]
        across = error - np.dot(error, _unit(v_close)) * _unit(v_close)
        miss = float(np.linalg.norm(across))
        reach = float(it.correctable_miss_m(closing))
        self.handover_m[key] = miss
        if miss > reach:
            self.notes[key] = (
                f"handover error {miss / 1e3:.2f} km beyond reach {reach / 1e3:.2f} km"
            )
            return False
        return True


def _unit(v: FloatArray) -> FloatArray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _note_leaks(ctx: _Context, outcome) -> None:
    truth = ctx.truth
    for k in np.flatnonzero(~outcome.killed):
        ctx.events.append(
            Event(float(truth.impact_time[k]), "leak", None, int(k), truth.aimpoint[k])
        )


def _shots_by_partner(ctx: _Context, outcome) -> dict[str, int]:
    shots = dict.fromkeys(ctx.picture.partners, 0)
    for j, count in enumerate(outcome.shots_by_unit):
        shots[ctx.units.partner[j]] += int(count)
    return shots


def intercept_geometry_of(truth, units: FireUnitSet | None) -> InterceptGeometry | None:
    """Flyout geometry of every (threat, fire unit) pair along the true trajectories."""
    if units is None:
        return None
    return intercept_geometry(
        truth.times, truth.r_ecef, units.units, model=truth.trajectories.model
    )


def _constrained(
    geometry: InterceptGeometry, rules: Arrangement, units: FireUnitSet, truth
) -> InterceptGeometry:
    """Drop the trajectory samples where the arrangement forbids a row's fire unit to intercept
    (sectoral: outside its own partner's sector)."""
    lat, lon, _ = _ground_points(truth)
    row_partner = np.asarray(units.partner, dtype=object)[geometry.unit_idx]
    allowed = rules.allowed_intercept_samples(
        row_partner, np.degrees(lat)[geometry.threat_idx], np.degrees(lon)[geometry.threat_idx]
    )
    if allowed is None:
        return geometry
    return dataclasses.replace(geometry, ok=geometry.ok & allowed)


def _ground_points(truth):
    """Geodetic ground points of every truth sample (cached on the truth: fixed per scenario)."""
    cached = getattr(truth, "_ground_points", None)
    if cached is None:
        cached = earth.ecef_to_geodetic(truth.r_ecef, truth.trajectories.model)
        object.__setattr__(truth, "_ground_points", cached)
    return cached


def _link_latency_by_partner(scenario, partners) -> dict[str, float]:
    """Each partner's slowest nominal link latency (inf without a link)."""
    links = links_of(scenario)
    return {
        p: max((link.latency_s for (a, b), link in links.items() if p in (a, b)), default=np.inf)
        for p in partners
    }


def _joint_votes(ctx: _Context, plan: _Plan, pairs, earliest: FloatArray) -> None:
    """Step 3, joint: requests, votes and orders for the assigned pairs, as the centre's role
    (`CentreVoting`) and each partner's (`PartnerVoting`); fills ``earliest`` from the orders
    that reached the fire units' partners (module docstring)."""
    rules, units, truth = ctx.rules, ctx.units, ctx.truth
    planned, allowed = plan.planned, plan.allowed
    partners = tuple(p.name for p in ctx.scenario.partners)
    leaves = drop_out_times(ctx.scenario)
    retry_s = (
        2 * max_delay_s(ctx.scenario) + max(rules.vote_latency_s.values(), default=0.0)
    ) + REQUEST_RETRY_MARGIN_S
    requests = []
    for k, j in pairs:
        if not np.isfinite(plan.t_request[k, j]):
            continue
        body = _RequestPlan(
            request_id=f"{rules.name}-{k}-{j}",
            threat=int(k),
            unit=int(j),
            t_request=float(plan.t_request[k, j]),
            t_impact=float(truth.impact_time[k]),
            t_intercept=float(planned.t_intercept[k, j]),
            r_intercept_eci=earth.ecef_to_eci(
                planned.r_intercept_ecef[k, j], planned.t_intercept[k, j], truth.trajectories.model
            ),
            replacements=tuple(
                (jj, float(planned.t_intercept[k, jj]))
                for jj in range(units.units.m)
                if allowed[k, jj] and planned.feasible[k, jj]
            ),
        )
        requests.append(body)
    unit_names = tuple(units.units.name)
    salvo = tuple(int(x) for x in units.units.salvo)
    roles: dict[str, Role] = {
        ctx.centre: CentreVoting(
            rules, requests, unit_names, units.partner, salvo, partners, leaves, retry_s
        ),  # fmt: skip
    }
    for p in partners:
        mine = {name: j for j, name in enumerate(unit_names) if units.partner[j] == p}
        roles[p] = PartnerVoting(ctx.centre, rules, mine, leaves.get(p, np.inf))
    run = ctx.run(roles)
    ctx.events.extend(run.results[ctx.centre])
    for p in partners:
        votes, launches = run.results[p]
        ctx.events.extend(votes)
        for (k, j), t_launch in launches.items():
            if 0 <= k < earliest.shape[0] and not np.isfinite(earliest[k, j]):
                earliest[k, j] = t_launch


@dataclass(frozen=True)
class _RequestPlan:
    """One request the centre will make: the planned pair, when, the planned intercept, and
    the units that could replace the planned one (unit, planned intercept time)."""

    request_id: str
    threat: int
    unit: int
    t_request: float
    t_impact: float
    t_intercept: float
    r_intercept_eci: FloatArray
    replacements: tuple[tuple[int, float], ...]


class CentreVoting(Role):
    """The centre's part of a joint decision: sign each ``EngagementRequest`` for the planned
    unit to every partner still in; count the votes its receiver accepted
    (``Arrangement.tally``); on a decision to fire sign an ``Order`` to the unit's partner (or,
    when that partner has left, to the unit with the earliest planned intercept among those
    still in); send the request, or the order once decided, again every ``retry_s`` until the
    order is acknowledged, refused or too late (links lose messages; they do not retry)."""

    def __init__(self, rules, requests, unit_names, unit_partner, salvo, partners, leaves,
                 retry_s) -> None:  # fmt: skip
        self.rules = rules
        self.requests = {r.request_id: r for r in requests}
        self.unit_names, self.unit_partner, self.salvo = unit_names, unit_partner, salvo
        self.partners, self.leaves, self.retry_s = partners, leaves, retry_s
        self.events: list[Event] = []

    def start(self, node: NodeContext) -> None:
        self.assigned = {rid: r.unit for rid, r in self.requests.items()}
        self.votes: dict[str, dict[str, str]] = {}
        self.decided: dict[str, str] = {}
        self.orders: dict[str, Order] = {}
        self.acknowledged: set[str] = set()
        for rid, r in self.requests.items():
            node.at(r.t_request, self._tick, node, rid, 0)

    def on_departed(self, node: NodeContext | None, name: str, t: float) -> None:
        """A partner dropped out (live run): it votes no more, so every open request is
        counted again without it now, and its units get no orders."""
        self.leaves = {**self.leaves, name: min(self.leaves.get(name, np.inf), t)}
        if node is None or not hasattr(self, "decided"):
            return
        for rid in self.requests:
            if rid in self.votes and rid not in self.decided:
                self._decide(node, rid, t)

    def _still_in(self, t: float) -> list[str]:
        return [p for p in self.partners if self.leaves.get(p, np.inf) > t]

    def _tick(self, t: float, node: NodeContext, rid: str, attempt: int) -> None:
        r = self.requests[rid]
        done = rid in self.acknowledged or self.decided.get(rid) == "refuse"
        if done or t >= r.t_impact or attempt >= MAX_REQUESTS:
            return
        if rid in self.orders:
            order = self.orders[rid]
            owner = self.unit_partner[self.assigned[rid]]
            if self.leaves.get(owner, np.inf) > t:
                node.send(order, t, [owner])
                self.events.append(Event(t, "order", None, r.threat, f"{order.fire_unit} (again)"))
        else:
            body = EngagementRequest(
                request_id=rid,
                requester=node.name,
                fire_unit=self.unit_names[r.unit],
                track_id=r.threat,
                t=float(t),
                t_intercept=r.t_intercept,
                r_intercept_eci=r.r_intercept_eci,
                shots=self.salvo[r.unit],
            )
            node.send(body, t, self._still_in(t))
            self.events.append(
                Event(t, "request", None, r.threat, f"{self.unit_names[r.unit]} (#{attempt + 1})")
            )
        node.at(t + self.retry_s, self._tick, node, rid, attempt + 1)

    def on_message(self, node: NodeContext, message: SignedMessage, t: float) -> None:
        body = message.body
        if message.kind == "vote":
            if body.request_id in self.requests and body.voter == message.sender:
                self.votes.setdefault(body.request_id, {})[body.voter] = body.choice
                self._decide(node, body.request_id, t)
        elif message.kind == "acknowledgement":
            for rid, order in self.orders.items():
                if order.order_id == body.order_id and body.by == message.sender:
                    self.acknowledged.add(rid)

    def _decide(self, node: NodeContext, rid: str, t: float) -> None:
        if rid in self.decided:
            return
        outcome = self.rules.tally(self.votes.setdefault(rid, {}), self._still_in(t))
        if outcome == "wait":
            return
        self.decided[rid] = outcome
        r = self.requests[rid]
        if outcome == "refuse":
            self.events.append(
                Event(t, "no-order", None, r.threat, f"{self.rules.vote_rule}: refused")
            )
            return
        j = self.assigned[rid]
        owner = self.unit_partner[j]
        if self.leaves.get(owner, np.inf) <= t:
            # The assigned unit's partner has left: the centre orders the best unit still
            # available to it (the earliest planned intercept), if any.
            still = self._still_in(t)
            candidates = [(tt, jj) for jj, tt in r.replacements if self.unit_partner[jj] in still]
            if not candidates:
                self.events.append(
                    Event(t, "no-order", owner, r.threat, "the unit's partner has left")
                )
                return
            j = min(candidates)[1]
            owner = self.unit_partner[j]
            self.assigned[rid] = j
        order = Order(
            order_id=f"{self.rules.name}-{r.threat}-{j}",
            request_id=rid,
            fire_unit=self.unit_names[j],
            track_id=r.threat,
            t=float(t),
            fire=True,
            shots=self.salvo[j],
        )
        self.orders[rid] = order
        node.send(order, t, [owner])
        self.events.append(
            Event(t, "order", None, r.threat, f"joint {self.rules.vote_rule}: {self.unit_names[j]}")
        )

    def result(self) -> list[Event]:
        return self.events


class PartnerVoting(Role):
    """A partner's part of a joint decision: answer every request the centre signed with its
    ``Vote`` (``Arrangement.vote``) its vote latency later, unless it has left by then; act on
    a signed order for one of its own units (``units``: name -> index) -- the unit may launch
    ``decision_latency_s`` after the order arrived -- and acknowledge it."""

    def __init__(self, centre: str, rules, units: Mapping[str, int], leaves_at: float) -> None:
        self.centre, self.rules, self.units, self.leaves_at = centre, rules, dict(units), leaves_at
        self.events: list[Event] = []
        self.launches: dict[tuple[int, int], float] = {}

    def on_message(self, node: NodeContext, message: SignedMessage, t: float) -> None:
        body = message.body
        if message.sender != self.centre:
            return
        if message.kind == "engagement_request":
            t_vote = t + self.rules.vote_latency_s.get(node.name, 0.0)
            if t_vote >= self.leaves_at:
                return  # it leaves before it could vote
            choice = self.rules.vote(node.name)
            node.at(
                t_vote, self._vote, node, Vote(body.request_id, node.name, choice, float(t_vote))
            )
            self.events.append(Event(t_vote, "vote", node.name, body.track_id, choice))
        elif message.kind == "order":
            # The partner acts on the signed order itself: the unit and the threat it names.
            j = self.units.get(body.fire_unit)
            if not body.fire or j is None:
                return
            key = (int(body.track_id), j)
            if key not in self.launches:
                self.launches[key] = float(self.rules.launch_permitted_at(t))
            node.send(Acknowledgement(body.order_id, node.name, float(t)), t, [self.centre])

    def _vote(self, t: float, node: NodeContext, ballot: Vote) -> None:
        node.send(ballot, t, [self.centre])

    def result(self) -> tuple[list[Event], dict[tuple[int, int], float]]:
        return self.events, self.launches


#: The order procedure of each ``Arrangement.procedure``.
ORDER_PROCEDURES: dict[str, Callable[[_Context, _Plan, list, FloatArray], None]] = {
    "national": _national_orders,
    "vote": _joint_votes,
}


def _decider_firm_track(picture: Picture, rules: Arrangement, shared: bool) -> FloatArray:
    """When whoever decides on each threat under the arrangement first held a firm track on it
    (``Arrangement.decider_firm_track``)."""
    by_partner = {p: picture.firm_track_time(p, shared) for p in picture.partners}
    centre = picture.fused.first_firm_track_s if shared else None
    return rules.decider_firm_track(by_partner, centre, picture.truth.aimpoint_partner)


def _outcomes(
    picture: Picture,
    rules: Arrangement,
    shared: bool,
    units,
    outcome,
    n: int,
    plan: _Plan | None = None,
    territories: Mapping[str, FloatArray] | None = None,
) -> list[ThreatOutcome]:
    """The per-threat records. First firm track: with fire units, the first time a decider held
    a track it may order a launch on (``plan``); without, when the decider first held a firm
    track (``Arrangement.decider_firm_track``). The partner over whose territory each killing
    intercept lies, from ``territories``."""
    truth = picture.truth
    partners = picture.partners
    views = picture.own if shared else picture.alone  # a partner alone, under independent
    detection = np.fmin.reduce([views[p].first_detection_s for p in partners])
    if plan is None:
        firm = _decider_firm_track(picture, rules, shared)
    else:
        firm = np.where(plan.allowed, plan.t_request, np.inf).min(axis=1, initial=np.inf)
    ground = ([], [])
    over = []
    if outcome is not None and outcome.shots.threat_idx.size:
        lat, lon, _ = earth.ecef_to_geodetic(
            outcome.shots.r_intercept_ecef, truth.trajectories.model
        )
        ground = (np.degrees(lat).tolist(), np.degrees(lon).tolist())
        over = owner_of(territories or {}, np.degrees(lat), np.degrees(lon)).tolist()
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
                intercept_over=over[kill_shot[0]] if kill_shot.size else None,
                intercept_over_third_party=bool(kill_shot.size) and over[kill_shot[0]] is None,
            )
        )
    return rows


def _opt(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
