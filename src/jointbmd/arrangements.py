"""The cooperation arrangements: who sees what, who decides, who may fire at what.

In: the scenario's arrangement entry (independent, data-exchange, sectoral, joint) and, per
decision, plain arrays -- the partner owning each fire unit, the partner owning each threat's
aimpoint, the ground points of candidate intercepts, when each decider first held a firm track.
Out: boolean masks (may this fire unit engage this threat?), the times an arrangement lets an
order be given and a launch follow (``inf`` for never), and a joint vote's outcome. The
simulation applies them; nothing here draws random numbers.

One class per arrangement, each holding its own rules (docs/design.md, "The cooperation
arrangements"); the decision code asks them and never asks which arrangement it has:

=============  ==================  =====================  =======================================
arrangement    picture             who decides            who may fire at what
=============  ==================  =====================  =======================================
independent    own sensors only    each partner, alone    own interceptors at threats to itself
data-exchange  fused picture       each partner, alone    own interceptors at threats to itself
sectoral       fused picture       the sector's owner     in its own sector, threats to anyone
joint          fused picture       joint vote             any interceptor, any defended asset
=============  ==================  =====================  =======================================

Under independent and data-exchange a partner defends its own assets: NATO's answer of "two
independent but coordinated systems" keeps engagement decisions national (reference.md, cooperation
record). Under sectoral the owner of the sector containing the intercept point decides (Russia's
2010-11 proposal). Under joint a request goes to every partner; partner p's vote reaches the joint
centre ``vote_latency_s[p]`` later; the order follows the vote rule (:class:`Joint`):

- consensus: every voting partner says yes; one veto stops the shot; the order waits for the last
  vote;
- majority: more than half of the voting partners say yes; the order comes with the deciding vote;
- any-may-fire: the first yes suffices.

Abstaining partners and partners that have dropped out do not vote. Every arrangement then adds its
``decision_latency_s`` between the order (or national decision) and the launch
(:meth:`Arrangement.launch_permitted_at`).

Whose sensors may guide whose interceptors. A sensor type states what its data may be used for
(``DATA_USES``, ordered: cue < launch-on-remote < engage-on-remote; ``sensors.py`` and the
scenario's ``data_use``). A partner uses its own sensors up to their type's level; a partner's
sensors (through the fused picture) only up to the arrangement's ``partner_data_use`` as well
(:meth:`Arrangement.usable_level`). Independent shares nothing (``none``).

Adding an arrangement: a subclass with its ``kind``, its picture and its rules, registered in
``ARRANGEMENTS``; adding a rule: a method on the base class with the default and overrides where
an arrangement differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

VOTE_RULES = ("consensus", "majority", "any-may-fire")

#: What a sensor's data may be used for, in increasing order (a higher level includes the lower
#: ones): point another sensor, commit an interceptor on its track, guide it in flight.
DATA_USES = ("none", "cue", "launch-on-remote", "engage-on-remote")
CUE, LAUNCH, ENGAGE = 1, 2, 3


def data_use_level(use: str) -> int:
    """The rank of a data use in ``DATA_USES`` (0 for ``none``)."""
    if use not in DATA_USES:
        raise ValueError(f"unknown data use {use!r}; expected one of {DATA_USES}")
    return DATA_USES.index(use)


@dataclass(frozen=True)
class Arrangement:
    """What every arrangement has: a name, the delay between an order and the launch, and how far
    a partner's sensors may be used. Subclasses hold the rules in which they differ."""

    kind: ClassVar[str] = ""
    #: Whether partners send tracks to the fusion centre and receive the fused picture.
    shares_picture: ClassVar[bool] = True
    #: How orders are given (``simulation.decide`` runs the matching procedure): ``national``
    #: (the unit's partner decides) or ``vote`` (the joint centre asks every partner).
    procedure: ClassVar[str] = "national"
    #: ``partner_data_use`` when the scenario does not say (notional; docs/modelling.md).
    default_partner_data_use: ClassVar[str] = "cue"

    name: str
    decision_latency_s: float = 0.0
    partner_data_use: str = ""

    def __post_init__(self) -> None:
        if not self.partner_data_use:
            object.__setattr__(self, "partner_data_use", self.default_partner_data_use)
        data_use_level(self.partner_data_use)
        if not self.shares_picture and self.partner_data_use != "none":
            raise ValueError(f"{self.kind} shares nothing: partner_data_use must be 'none'")

    # -- data use -------------------------------------------------------------------------------

    def usable_level(self, sensor_level, own: bool):
        """The highest use a partner may make of a sensor's data (levels, scalar or array): its
        own sensors up to their type's level, a partner's no further than
        ``partner_data_use``."""
        if own:
            return sensor_level
        return np.minimum(sensor_level, data_use_level(self.partner_data_use))

    def usable_radars(
        self,
        partner: str,
        radars: Sequence[Any],
        latency_to_centre_s: Mapping[str, float],
        cycle_s: float,
        data_use: Mapping[str, int] | None = None,
    ) -> list[tuple[Any, float]]:
        """The radars whose tracks a fire unit of ``partner`` may launch on, each with the delay
        (s) before that radar's firm track reaches the unit: its own radars at once; where the
        arrangement shares the picture (``shares_picture``), every other partner's radars
        through the fusion centre -- their partner's link to it, one reporting-and-fusion cycle
        ``cycle_s`` and the centre's link to this partner (a partner without a link to the
        centre, absent from ``latency_to_centre_s``, neither sends nor receives). ``data_use``
        maps a radar's name to its data-use level: only radars whose tracks the unit may launch
        on (``usable_level`` >= launch-on-remote) count, as in ``jointbmd run``."""

        def may_launch_on(radar: Any, own: bool) -> bool:
            if data_use is None:
                return True
            return self.usable_level(data_use.get(radar.name, LAUNCH), own) >= LAUNCH

        own = [(r, 0.0) for r in radars if r.partner == partner and may_launch_on(r, True)]
        if not self.shares_picture or partner not in latency_to_centre_s:
            return own
        links = latency_to_centre_s
        return own + [
            (radar, links[radar.partner] + cycle_s + links[partner])
            for radar in radars
            if radar.partner != partner and radar.partner in links and may_launch_on(radar, False)
        ]

    # -- who may fire at what --------------------------------------------------------------------

    def may_engage(
        self,
        fire_unit_partner: Sequence[str],
        aimpoint_partner: Sequence[str],
        intercept_lat_deg: NDArray[np.float64] | None = None,
        intercept_lon_deg: NDArray[np.float64] | None = None,
    ) -> NDArray[np.bool_]:
        """Whether each fire unit (columns) may engage each threat (rows): by default a partner
        defends its own assets. ``intercept_lat_deg``/``_lon_deg`` (n, m), the ground points
        of candidate intercepts, matter only to rules that depend on where the intercept is."""
        units = np.asarray(fire_unit_partner, dtype=object)[None, :]
        targets = np.asarray(aimpoint_partner, dtype=object)[:, None]
        return np.broadcast_to(units == targets, (targets.shape[0], units.shape[1])).copy()

    def plan_mask(
        self, fire_unit_partner: Sequence[str], aimpoint_partner: Sequence[str]
    ) -> NDArray[np.bool_]:
        """``may_engage`` where it does not depend on the intercept point, else all True (the
        point is then enforced sample by sample: :meth:`allowed_intercept_samples`)."""
        return self.may_engage(fire_unit_partner, aimpoint_partner)

    def allowed_intercept_samples(
        self, row_partner: Sequence[str], lat_deg: NDArray[np.float64], lon_deg: NDArray[np.float64]
    ) -> NDArray[np.bool_] | None:
        """Which trajectory samples (rows, T) a row's fire unit may intercept at, given the ground
        points of the samples; ``None``: anywhere."""
        return None

    # -- who decides, and when -------------------------------------------------------------------

    def decision_times(
        self, national_firm_s: NDArray[np.float64], centre_firm_s: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """When the decider of each (threat, fire unit) pair (n, m) may first ask for an order:
        the unit's own partner, on its firm track (``national_firm_s``), by default."""
        return national_firm_s

    def decider_firm_track(
        self,
        firm_by_partner: Mapping[str, NDArray[np.float64]],
        centre_firm_s: NDArray[np.float64] | None,
        aimpoint_partner: Sequence[str],
    ) -> NDArray[np.float64]:
        """When whoever decides on each threat first held a firm track on it: by default the
        threatened partner."""
        return np.array([firm_by_partner[p][k] for k, p in enumerate(aimpoint_partner)])

    def order_time(
        self,
        t_request: float,
        voters: Sequence[str],
        arrival_s: Mapping[str, float] | None = None,
    ) -> float:
        """When an order follows a request at ``t_request`` (``inf``: never): at once, unless
        the arrangement votes."""
        return t_request

    def planned_order_delay(self, link_latency_s: Mapping[str, float]) -> float:
        """Planning figure for the time from a request to the order reaching the fire unit's
        partner, at the links' nominal latencies (``link_latency_s`` by partner)."""
        return 0.0

    def launch_permitted_at(self, t_order: float | NDArray[np.float64]):
        """Earliest launch after an order (national at once, or the joint vote's) given at
        ``t_order``: the arrangement's decision latency later."""
        return t_order + self.decision_latency_s

    @classmethod
    def from_scenario(cls, scenario, name: str) -> Arrangement:
        """The arrangement called ``name`` in a loaded scenario, as its own class."""
        spec = next(a for a in scenario.arrangements if a.name == name)
        kind = ARRANGEMENTS[spec.kind]
        return kind(
            name=spec.name,
            decision_latency_s=float(spec.decision_latency_s),
            partner_data_use=getattr(spec, "partner_data_use", None) or "",
            **kind.rules_from_scenario(scenario, spec),
        )

    @classmethod
    def rules_from_scenario(cls, scenario, spec) -> dict:
        """The subclass's own fields from the scenario's arrangement entry."""
        return {}


@dataclass(frozen=True)
class Independent(Arrangement):
    """Own sensors only, own interceptors at threats to oneself, no exchange."""

    kind: ClassVar[str] = "independent"
    shares_picture: ClassVar[bool] = False
    default_partner_data_use: ClassVar[str] = "none"


@dataclass(frozen=True)
class DataExchange(Arrangement):
    """The fused picture is shared; decisions stay national, on own assets."""

    kind: ClassVar[str] = "data-exchange"
    default_partner_data_use: ClassVar[str] = "launch-on-remote"


@dataclass(frozen=True)
class Sectoral(Arrangement):
    """Each partner engages any threat, but only over its own sector.

    ``sectors`` maps a partner to its sector polygon as ``(k, 2)`` [lat_deg, lon_deg] vertices.
    """

    kind: ClassVar[str] = "sectoral"
    default_partner_data_use: ClassVar[str] = "engage-on-remote"

    sectors: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)

    @classmethod
    def rules_from_scenario(cls, scenario, spec) -> dict:
        sectors = {}
        for partner in scenario.partners:
            polygon = scenario.sector_polygon(spec, partner.name)
            if polygon is not None:
                sectors[partner.name] = np.asarray([[v[0], v[1]] for v in polygon], dtype=float)
        return {"sectors": sectors}

    def sector_owner(
        self, lat_deg: NDArray[np.float64], lon_deg: NDArray[np.float64]
    ) -> NDArray[np.object_]:
        """The partner whose sector holds each ground point (``None`` outside every sector).

        Sector polygons are vertices in [lat_deg, lon_deg] joined by straight lines on the
        lat/lon plate (rhumb-like edges, not great circles: sectors are drawn on maps). A point
        on two sectors goes to the first partner listed; NaN points belong to none. Longitude
        wrap-around is not handled: European sectors do not cross 180°.
        """
        return owner_of(self.sectors, lat_deg, lon_deg)

    def may_engage(
        self, fire_unit_partner, aimpoint_partner, intercept_lat_deg=None, intercept_lon_deg=None
    ) -> NDArray[np.bool_]:
        """Only the owner of the sector holding the intercept point may fire, at anyone's
        threat."""
        if intercept_lat_deg is None or intercept_lon_deg is None:
            raise ValueError("sectoral rules need the intercept ground points")
        units = np.asarray(fire_unit_partner, dtype=object)[None, :]
        shape = (len(aimpoint_partner), units.shape[1])
        owner = self.sector_owner(intercept_lat_deg, intercept_lon_deg)
        return np.broadcast_to(owner == units, shape).copy()

    def plan_mask(self, fire_unit_partner, aimpoint_partner) -> NDArray[np.bool_]:
        return np.ones((len(aimpoint_partner), len(fire_unit_partner)), dtype=bool)

    def allowed_intercept_samples(self, row_partner, lat_deg, lon_deg) -> NDArray[np.bool_]:
        """Samples over the row's own partner's sector; an intercept is refined between a sample
        and the one before it, so both must be inside."""
        owner = self.sector_owner(lat_deg, lon_deg)
        inside = owner == np.asarray(row_partner, dtype=object)[:, None]
        inside[:, 1:] &= inside[:, :-1]
        return inside

    def decider_firm_track(self, firm_by_partner, centre_firm_s, aimpoint_partner):
        """Any partner (the sector's owner, whichever it turns out to be)."""
        return np.fmin.reduce(list(firm_by_partner.values()))


@dataclass(frozen=True)
class Joint(Arrangement):
    """The joint centre requests, every partner votes, the centre orders by the vote rule.

    ``vote_latency_s`` maps a partner to its vote delay (0 if absent).
    """

    kind: ClassVar[str] = "joint"
    procedure: ClassVar[str] = "vote"
    default_partner_data_use: ClassVar[str] = "engage-on-remote"

    vote_rule: str = "consensus"
    vote_latency_s: Mapping[str, float] = field(default_factory=dict)
    abstain: frozenset[str] = frozenset()
    veto: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.vote_rule not in VOTE_RULES:
            raise ValueError(f"unknown vote rule {self.vote_rule!r}")

    @classmethod
    def rules_from_scenario(cls, scenario, spec) -> dict:
        return {
            "vote_rule": spec.vote_rule,
            "vote_latency_s": dict(spec.vote_latency_s),
            "abstain": frozenset(spec.abstain),
            "veto": frozenset(spec.veto),
        }

    def may_engage(self, fire_unit_partner, aimpoint_partner, *_points) -> NDArray[np.bool_]:
        """Any interceptor at any threat."""
        return np.ones((len(aimpoint_partner), len(fire_unit_partner)), dtype=bool)

    def decision_times(self, national_firm_s, centre_firm_s):
        """The centre requests on its own firm fused track."""
        return centre_firm_s

    def decider_firm_track(self, firm_by_partner, centre_firm_s, aimpoint_partner):
        if centre_firm_s is None:
            return np.full(len(aimpoint_partner), np.nan)
        return centre_firm_s

    def order_time(self, t_request, voters, arrival_s=None) -> float:
        """When the joint centre orders a launch requested at ``t_request`` (``inf``: never).

        ``voters`` are the partners still in the arrangement; ``arrival_s`` optionally gives the
        time each partner's vote reached the centre (when votes travel real links); by default a
        vote arrives ``vote_latency_s[p]`` after the request.
        """
        voting = [p for p in voters if p not in self.abstain]
        if not voting:
            return np.inf
        arrivals = {
            p: (
                arrival_s[p]
                if arrival_s and p in arrival_s
                else t_request + self.vote_latency_s.get(p, 0.0)
            )
            for p in voting
        }
        yes = sorted(arrivals[p] for p in voting if p not in self.veto)
        if self.vote_rule == "consensus":
            return max(arrivals.values()) if len(yes) == len(voting) else np.inf
        if self.vote_rule == "majority":
            needed = len(voting) // 2 + 1
            return yes[needed - 1] if len(yes) >= needed else np.inf
        return yes[0] if yes else np.inf  # any-may-fire

    def planned_order_delay(self, link_latency_s: Mapping[str, float]) -> float:
        """Request out, votes back (the rule's deciding vote), order out, each leg at the links'
        nominal latency. The plan does not anticipate how partners will vote: it assumes they
        all say yes."""
        partners = list(link_latency_s)
        arrivals = {p: 2 * link_latency_s[p] + self.vote_latency_s.get(p, 0.0) for p in partners}
        hopeful = dataclasses.replace(self, veto=frozenset())
        decided = hopeful.order_time(0.0, partners, arrivals)
        return decided + max(link_latency_s.values(), default=0.0)

    def tally(self, votes: Mapping[str, str], voters: Sequence[str]) -> str:
        """The joint centre's decision on the votes received so far: ``order``, ``refuse`` or
        ``wait``.

        ``votes`` maps a partner to its vote (``yes``, ``veto``, ``no`` or ``abstain``);
        ``voters`` are the partners still in the arrangement. Abstaining partners do not count.
        The same rules as :meth:`order_time`, applied as votes arrive.
        """
        voting = [p for p in voters if p not in self.abstain and votes.get(p) != "abstain"]
        if not voting:
            return "refuse"
        yes = sum(votes.get(p) == "yes" for p in voting)
        against = sum(votes.get(p) in ("veto", "no") for p in voting)
        if self.vote_rule == "consensus":
            if against:
                return "refuse"
            return "order" if yes == len(voting) else "wait"
        if self.vote_rule == "majority":
            needed = len(voting) // 2 + 1
            if yes >= needed:
                return "order"
            return "refuse" if len(voting) - against < needed else "wait"
        if yes:  # any-may-fire
            return "order"
        return "refuse" if against == len(voting) else "wait"

    def vote(self, partner: str) -> str:
        """The vote a partner casts on a request: ``yes``, ``veto`` or ``abstain``."""
        if partner in self.abstain:
            return "abstain"
        if partner in self.veto:
            return "veto"
        return "yes"


#: Every arrangement class by the scenario's ``kind``.
ARRANGEMENTS: dict[str, type[Arrangement]] = {
    cls.kind: cls for cls in (Independent, DataExchange, Sectoral, Joint)
}
KINDS = tuple(ARRANGEMENTS)


def owner_of(
    sectors: Mapping[str, NDArray[np.float64]],
    lat_deg: NDArray[np.float64],
    lon_deg: NDArray[np.float64],
) -> NDArray[np.object_]:
    """The partner whose polygon in ``sectors`` holds each ground point (``None``: none); see
    :meth:`Sectoral.sector_owner`."""
    lat = np.asarray(lat_deg, float)
    lon = np.asarray(lon_deg, float)
    owner = np.full(lat.shape, None, dtype=object)
    for partner, polygon in sectors.items():
        inside = inside_polygon(lat, lon, polygon)
        owner[(owner == None) & inside] = partner  # noqa: E711 (elementwise on object array)
    return owner


def inside_polygon(
    lat_deg: NDArray[np.float64], lon_deg: NDArray[np.float64], polygon: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Whether each point lies inside the polygon ``(k, 2)`` of [lat_deg, lon_deg] vertices:
    the even-odd rule, counting the polygon edges a ray towards +longitude crosses."""
    lat = np.asarray(lat_deg, float)
    lon = np.asarray(lon_deg, float)
    inside = np.zeros(np.broadcast(lat, lon).shape, dtype=bool)
    vertices = np.asarray(polygon, float)
    for (lat1, lon1), (lat2, lon2) in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        straddles = (lat1 > lat) != (lat2 > lat)
        with np.errstate(invalid="ignore", divide="ignore"):
            lon_cross = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
        inside ^= straddles & (lon < lon_cross)
    return inside
