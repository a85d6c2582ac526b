"""The cooperation arrangements: who sees what, who decides, who may fire at what.

In: the scenario's arrangement entry (independent, data-exchange, sectoral, joint) and, per
decision, plain arrays -- the partner owning each fire unit, the partner owning each threat's
aimpoint, the ground point of each candidate intercept, the time a firing solution exists.
Out: boolean masks (may this fire unit engage this threat?) and launch-permission times (when may
it launch, ``inf`` for never). The simulation applies them; nothing here draws random numbers.

The rules (DESIGN.md, "The cooperation arrangements"):

=============  ==================  =====================  =======================================
arrangement    picture             who decides            who may fire at what
=============  ==================  =====================  =======================================
independent    own sensors only    each partner, alone    own interceptors at threats to itself
data-exchange  fused picture       each partner, alone    own interceptors at threats to itself
sectoral       fused picture       the sector's owner     in its own sector, threats to anyone
joint          fused picture       joint vote             any interceptor, any defended asset
=============  ==================  =====================  =======================================

Under independent and data-exchange a partner defends its own assets: NATO's answer of "two
independent but coordinated systems" keeps engagement decisions national (facts.md, cooperation
record). Under sectoral the owner of the sector containing the intercept point decides (Russia's
2010-11 proposal). Under joint a request goes to every partner; partner p's vote reaches the joint
centre ``vote_latency_s[p]`` later; the order follows the vote rule:

- consensus: every voting partner says yes; one veto stops the shot; the order waits for the last
  vote;
- majority: more than half of the voting partners say yes; the order comes with the deciding vote;
- any-may-fire: the first yes suffices.

Abstaining partners and partners that have dropped out do not vote. Every arrangement then adds its
``decision_latency_s`` between the order (or national decision) and the launch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

KINDS = ("independent", "data-exchange", "sectoral", "joint")
VOTE_RULES = ("consensus", "majority", "any-may-fire")


@dataclass(frozen=True)
class Rules:
    """One arrangement's rules, in plain values.

    ``sectors`` maps a partner to its sector polygon as ``(k, 2)`` [lat_deg, lon_deg] vertices
    (sectoral only). ``vote_latency_s`` maps a partner to its vote delay (joint only; 0 if absent).
    """

    name: str
    kind: str
    decision_latency_s: float = 0.0
    vote_rule: str = "consensus"
    vote_latency_s: Mapping[str, float] = field(default_factory=dict)
    abstain: frozenset[str] = frozenset()
    veto: frozenset[str] = frozenset()
    sectors: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown arrangement kind {self.kind!r}")
        if self.vote_rule not in VOTE_RULES:
            raise ValueError(f"unknown vote rule {self.vote_rule!r}")

    @property
    def shares_picture(self) -> bool:
        """Whether partners send tracks to the fusion centre and receive the fused picture."""
        return self.kind != "independent"

    @classmethod
    def from_scenario(cls, scenario, name: str) -> Rules:
        """The rules of the arrangement called ``name`` in a loaded scenario."""
        spec = next(a for a in scenario.arrangements if a.name == name)
        sectors: dict[str, NDArray[np.float64]] = {}
        if spec.kind == "sectoral":
            for partner in scenario.partners:
                polygon = scenario.sector_polygon(spec, partner.name)
                if polygon is not None:
                    sectors[partner.name] = np.asarray([[v[0], v[1]] for v in polygon], dtype=float)
        joint: dict = {}
        if spec.kind == "joint":
            joint = {
                "vote_rule": spec.vote_rule,
                "vote_latency_s": dict(spec.vote_latency_s),
                "abstain": frozenset(spec.abstain),
                "veto": frozenset(spec.veto),
            }
        return cls(
            name=spec.name,
            kind=spec.kind,
            decision_latency_s=float(spec.decision_latency_s),
            sectors=sectors,
            **joint,
        )


def sector_owner(
    rules: Rules, lat_deg: NDArray[np.float64], lon_deg: NDArray[np.float64]
) -> NDArray[np.object_]:
    """The partner whose sector holds each ground point (``None`` outside every sector).

    Sector polygons are vertices in [lat_deg, lon_deg] joined by straight lines on the lat/lon
    plate (rhumb-like edges, not great circles: sectors are drawn on maps). A point on two
    sectors goes to the first partner listed; NaN points belong to none. Longitude wrap-around is
    not handled: European sectors do not cross 180°.
    """
    lat = np.asarray(lat_deg, float)
    lon = np.asarray(lon_deg, float)
    owner = np.full(lat.shape, None, dtype=object)
    for partner, polygon in rules.sectors.items():
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


def engagement_mask(
    rules: Rules,
    fire_unit_partner: Sequence[str],
    aimpoint_partner: Sequence[str],
    intercept_lat_deg: NDArray[np.float64] | None = None,
    intercept_lon_deg: NDArray[np.float64] | None = None,
) -> NDArray[np.bool_]:
    """Whether each fire unit (columns) may engage each threat (rows) under the arrangement.

    ``intercept_lat_deg``/``intercept_lon_deg`` (n, m) are the ground points of the candidate
    intercepts; sectoral rules need them, the others ignore them.
    """
    units = np.asarray(fire_unit_partner, dtype=object)[None, :]
    targets = np.asarray(aimpoint_partner, dtype=object)[:, None]
    shape = (targets.shape[0], units.shape[1])
    if rules.kind in ("independent", "data-exchange"):
        return np.broadcast_to(units == targets, shape).copy()
    if rules.kind == "joint":
        return np.ones(shape, dtype=bool)
    if intercept_lat_deg is None or intercept_lon_deg is None:
        raise ValueError("sectoral rules need the intercept ground points")
    owner = sector_owner(rules, intercept_lat_deg, intercept_lon_deg)
    return np.broadcast_to(owner == units, shape).copy()


def order_time(
    rules: Rules,
    t_request: float,
    voters: Sequence[str],
    arrival_s: Mapping[str, float] | None = None,
) -> float:
    """When the joint centre orders a launch requested at ``t_request`` (``inf``: never).

    ``voters`` are the partners still in the arrangement; ``arrival_s`` optionally gives the time
    each partner's vote reached the centre (when votes travel real links); by default a vote
    arrives ``vote_latency_s[p]`` after the request. Non-joint arrangements decide at once.
    """
    if rules.kind != "joint":
        return t_request
    voting = [p for p in voters if p not in rules.abstain]
    if not voting:
        return np.inf
    arrivals = {
        p: (
            arrival_s[p]
            if arrival_s and p in arrival_s
            else t_request + rules.vote_latency_s.get(p, 0.0)
        )
        for p in voting
    }
    yes = sorted(arrivals[p] for p in voting if p not in rules.veto)
    if rules.vote_rule == "consensus":
        return max(arrivals.values()) if len(yes) == len(voting) else np.inf
    if rules.vote_rule == "majority":
        needed = len(voting) // 2 + 1
        return yes[needed - 1] if len(yes) >= needed else np.inf
    return yes[0] if yes else np.inf  # any-may-fire


def tally(rules: Rules, votes: Mapping[str, str], voters: Sequence[str]) -> str:
    """The joint centre's decision on the votes received so far: ``order``, ``refuse`` or
    ``wait``.

    ``votes`` maps a partner to its vote (``yes``, ``veto``, ``no`` or ``abstain``);
    ``voters`` are the partners still in the arrangement. Abstaining partners do not count.
    The same rules as :func:`order_time`, applied as votes arrive.
    """
    voting = [p for p in voters if p not in rules.abstain and votes.get(p) != "abstain"]
    if not voting:
        return "refuse"
    yes = sum(votes.get(p) == "yes" for p in voting)
    against = sum(votes.get(p) in ("veto", "no") for p in voting)
    if rules.vote_rule == "consensus":
        if against:
            return "refuse"
        return "order" if yes == len(voting) else "wait"
    if rules.vote_rule == "majority":
        needed = len(voting) // 2 + 1
        if yes >= needed:
            return "order"
        return "refuse" if len(voting) - against < needed else "wait"
    if yes:  # any-may-fire
        return "order"
    return "refuse" if against == len(voting) else "wait"


def launch_permission_time(
    rules: Rules,
    t_solution: float,
    voters: Sequence[str],
    arrival_s: Mapping[str, float] | None = None,
) -> float:
    """Earliest launch time for a firing solution found at ``t_solution``: the order (national at
    once, or the joint vote) plus the arrangement's decision latency."""
    return order_time(rules, t_solution, voters, arrival_s) + rules.decision_latency_s


def vote(rules: Rules, partner: str) -> str:
    """The vote a partner casts on a request: ``yes``, ``veto`` or ``abstain``."""
    if partner in rules.abstain:
        return "abstain"
    if partner in rules.veto:
        return "veto"
    return "yes"
