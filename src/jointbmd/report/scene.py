"""What one replication shows: the records the viewer draws, gathered from a real run.

In: a loaded scenario, one arrangement, a replication index and a seed. Out: a ``Scene`` --
the truth, the picture (national tracks, who detected what when), the arrangement's
``ReplicationResult`` (outcomes, decision events), every message sent on the links with its send
and arrival times and its fate, the fused tracks as the centre broadcast them, and each
interceptor's flyout. ``report.czml`` turns a scene into CZML.

Nothing here re-implements the simulation: ``replay`` runs ``simulation.run_arrangements`` once,
inside ``exchange.links.tracing()`` (every message on every simulated link) and with ledgers
written to a temporary folder. A message is

- ``lost`` when its link lost it (random loss or outage, ``MessageRecord.fate``),
- ``rejected`` when it arrived but the destination's ledger does not hold it (every node's
  ledger records exactly what its receiver accepted and what it signed itself),
- ``delivered`` otherwise.

Fused tracks come from the signed ``FusedPicture`` messages the centre sent (the same bytes to
every partner); national tracks from each partner's ``TrackLog``. Flyouts pair each ``shot``
event with the ``intercept`` event of the same fire unit and threat, in time order; the
intercept point is the threat's true position at the intercept time, as in the engagement model
(``simulation.decide``: the geometry uses the true trajectory).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jointbmd.arrays import FloatArray

from .. import earth
from ..exchange import KeyRing, generate_keys, verify_ledger
from ..exchange.links import MessageRecord, tracing
from ..exchange.messages import split_wire
from ..exchange.signing import Rejected, open_message
from ..outcomes import ReplicationResult
from ..simulation import Picture, arrangement_names, build_truth, run_arrangements
from ..simulation.decide import FireUnitSet, fire_units_of
from ..simulation.picture import centre_name, radars_of
from ..simulation.truth import Truth

#: Below this altitude on the way down a threat is re-entering (the picture's scoring floor).
REENTRY_ALTITUDE_M = 100e3


@dataclass(frozen=True)
class MessageView:
    """One message on one link: who sent what to whom, when, and what became of it."""

    source: str
    destination: str
    kind: str  # message kind (track_batch, fused_picture, vote, order, ...) or "unreadable"
    seq: int
    t_sent_s: float
    t_arrival_s: float
    fate: str  # delivered, lost or rejected
    detail: str  # why it was lost (random, outage); empty otherwise


@dataclass(frozen=True)
class TrackHistory:
    """One track: times (s), ECEF positions (m) and position covariances (m², ECEF axes)."""

    source: str  # the partner, or the fusion centre's name
    track_id: int
    t_s: FloatArray
    r_ecef: FloatArray  # (m, 3)
    P_ecef: FloatArray  # (m, 3, 3)
    firm_from_s: float | None
    threat_id: int  # the truth it belongs to, for scoring only (-1: none)
    contributors: tuple[str, ...] = ()  # fused: the partners whose tracks went into it


@dataclass(frozen=True)
class Flyout:
    """One interceptor: from its fire unit's site to the intercept point."""

    threat_id: int
    partner: str
    fire_unit: str
    t_launch_s: float
    t_intercept_s: float
    r_launch_ecef: FloatArray
    r_intercept_ecef: FloatArray
    killed: bool


@dataclass(frozen=True)
class Scene:
    scenario: object
    arrangement: str
    replication: int
    seed: int
    truth: Truth
    picture: Picture
    result: ReplicationResult
    units: FireUnitSet | None
    messages: tuple[MessageView, ...]
    national_tracks: tuple[TrackHistory, ...]
    fused_tracks: tuple[TrackHistory, ...]
    flyouts: tuple[Flyout, ...]

    @property
    def centre(self) -> str:
        return centre_name(self.scenario)

    def phases(self, k: int) -> list[tuple[str, float, float]]:
        """(phase, start_s, end_s) of threat k: boost, midcourse, re-entry."""
        truth = self.truth
        t0, t_end = float(truth.launch_time[k]), float(truth.impact_time[k])
        t_burnout = min(t0 + float(truth.burn_time[k]), t_end)
        alive = np.isfinite(truth.r_ecef[k, :, 0])
        times = truth.times[alive]
        alt = earth.altitude(truth.r_ecef[k, alive], truth.trajectories.model)
        apogee = int(np.argmax(alt)) if alt.size else 0
        below = np.flatnonzero(alt[apogee:] < REENTRY_ALTITUDE_M)
        t_reentry = float(times[apogee + below[0]]) if below.size else t_end
        t_reentry = max(t_reentry, t_burnout)
        phases = [("boost", t0, t_burnout), ("midcourse", t_burnout, t_reentry)]
        phases.append(("re-entry", t_reentry, t_end))
        return [(name, a, b) for name, a, b in phases if b > a]


def true_position(truth: Truth, k: int, t: float) -> FloatArray:
    """True ECEF position (m) of threat k at time t (linear on the truth grid; NaN off it)."""
    return np.array([np.interp(t, truth.times, truth.r_ecef[k, :, c]) for c in range(3)])


def replay(scenario, arrangement: str, replication: int = 0, seed: int = 0) -> Scene:
    """Run one replication of one arrangement and gather everything the viewer draws."""
    (arrangement,) = arrangement_names(scenario, arrangement)
    nodes = (*(p.name for p in scenario.partners), centre_name(scenario))
    keys = generate_keys(nodes)
    pictures: list[Picture] = []
    with tempfile.TemporaryDirectory(prefix="jointbmd-view-") as folder, tracing() as trace:
        (result,) = run_arrangements(
            scenario,
            [arrangement],
            replication,
            seed,
            ledger_dir=folder,
            keys=keys,
            on_picture=pictures.append,
        )
        accepted = _accepted_digests(Path(folder), KeyRing.from_private(keys))
    truth = build_truth(scenario)
    picture = pictures[0]
    ring = KeyRing.from_private(keys)
    units = fire_units_of(scenario)
    return Scene(
        scenario=scenario,
        arrangement=arrangement,
        replication=replication,
        seed=seed,
        truth=truth,
        picture=picture,
        result=result,
        units=units,
        messages=tuple(_message_views(trace, accepted, ring)),
        national_tracks=tuple(_national_tracks(picture, truth)),
        fused_tracks=tuple(_fused_tracks(trace, ring, centre_name(scenario), truth)),
        flyouts=tuple(_flyouts(result, truth, units)),
    )


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _accepted_digests(folder: Path, ring: KeyRing) -> dict[str, set[str]]:
    """Per node, the payload digests of every message its ledgers hold (any stage)."""
    accepted: dict[str, set[str]] = defaultdict(set)
    for path in sorted(folder.rglob("*.ledger")):
        report = verify_ledger(path, ring)
        accepted[path.stem].update(_digest(m.payload) for m in report.messages)
    return accepted


def _message_views(
    trace: list[MessageRecord], accepted: dict[str, set[str]], ring: KeyRing
) -> list[MessageView]:
    views = []
    for record in trace:
        try:
            message = open_message(record.data, ring)
            kind, seq = message.kind, message.seq
        except Rejected:
            kind, seq = "unreadable", -1
        payload, _ = split_wire(record.data)
        if record.fate != "delivered":
            fate, detail = "lost", record.fate.removeprefix("lost_")
        elif _digest(payload) in accepted.get(record.destination, set()):
            fate, detail = "delivered", ""
        else:
            fate, detail = "rejected", ""
        views.append(
            MessageView(
                record.source,
                record.destination,
                kind,
                seq,
                record.t_sent,
                record.t_arrival,
                fate,
                detail,
            )
        )
    return views


def _eci_to_ecef_rotation(t: FloatArray, model: str) -> FloatArray:
    """(m, 3, 3) rotations taking ECI vectors at times t to ECEF."""
    basis = np.eye(3)
    columns = [earth.eci_to_ecef(np.broadcast_to(e, (t.size, 3)), t, model) for e in basis]
    return np.stack(columns, axis=-1)


def _history(source, track_id, t, x_eci, P_eci, firm, threat_id, model, contributors=()):
    order = np.argsort(t, kind="stable")
    t, x_eci, P_eci, firm = t[order], x_eci[order], P_eci[order], firm[order]
    rotation = _eci_to_ecef_rotation(t, model)
    r_ecef = np.einsum("mij,mj->mi", rotation, x_eci[:, :3])
    P_ecef = rotation @ P_eci[:, :3, :3] @ np.swapaxes(rotation, 1, 2)
    firm_from = float(t[firm][0]) if np.any(firm) else None
    return TrackHistory(
        source, int(track_id), t, r_ecef, P_ecef, firm_from, int(threat_id), tuple(contributors)
    )


def _national_tracks(picture: Picture, truth: Truth) -> list[TrackHistory]:
    """Each partner's confirmed tracks, as its tracker held them scan by scan."""
    tracks = []
    model = truth.trajectories.model
    for partner in picture.partners:
        log = picture.national_logs.get(partner)
        if log is None:
            continue
        for track_id in log.track_ids:
            rows = (log.track_id == track_id) & log.confirmed
            if not np.any(rows):
                continue
            tracks.append(
                _history(
                    partner,
                    track_id,
                    log.t[rows],
                    log.x[rows],
                    log.P[rows],
                    log.firm[rows],
                    log.truth_of(int(track_id)),
                    model,
                )  # fmt: skip
            )
    return tracks


def _fused_tracks(
    trace: list[MessageRecord], ring: KeyRing, centre: str, truth: Truth
) -> list[TrackHistory]:
    """The fused tracks as the centre broadcast them (each picture once, whoever it went to)."""
    seen: set[int] = set()
    rows: dict[int, list[tuple]] = defaultdict(list)
    for record in trace:
        if record.source != centre:
            continue
        try:
            message = open_message(record.data, ring)
        except Rejected:
            continue
        if message.kind != "fused_picture" or message.seq in seen:
            continue
        seen.add(message.seq)
        body = message.body
        for i, track_id in enumerate(body.track_id.tolist()):
            rows[track_id].append(
                (body.t_track[i], body.x[i], body.P[i], body.firm[i], body.sources[i])
            )
    tracks = []
    for track_id, samples in sorted(rows.items()):
        t = np.array([s[0] for s in samples], float)
        contributors = sorted({p for s in samples for p in s[4]})
        threat = _nearest_threat(truth, t, np.array([s[1][:3] for s in samples]))
        tracks.append(
            _history(
                centre,
                track_id,
                t,
                np.array([s[1] for s in samples]),
                np.array([s[2] for s in samples]),
                np.array([s[3] for s in samples], bool),
                threat,
                truth.trajectories.model,
                contributors,
            )  # fmt: skip
        )
    return tracks


def _nearest_threat(truth: Truth, t: FloatArray, r_eci: FloatArray) -> int:
    """The threat closest to a fused track at its middle sample (for the record only)."""
    i = t.size // 2
    r_ecef = earth.eci_to_ecef(r_eci[i], t[i], truth.trajectories.model)
    r_true = np.stack([true_position(truth, k, t[i]) for k in range(truth.n)])
    distance = np.linalg.norm(r_true - r_ecef, axis=1)
    if not np.any(np.isfinite(distance)):
        return -1
    return int(np.nanargmin(distance))


def _flyouts(result: ReplicationResult, truth: Truth, units: FireUnitSet | None) -> list[Flyout]:
    if units is None:
        return []
    fire_units = units.units
    site_ecef = earth.geodetic_to_ecef(
        fire_units.lat_rad, fire_units.lon_rad, fire_units.alt_m, truth.trajectories.model
    )
    site = dict(zip(fire_units.name, site_ecef, strict=True))
    owner = dict(zip(units.units.name, units.partner, strict=True))
    launches: dict[tuple[int, str], list[float]] = defaultdict(list)
    intercepts: dict[tuple[int, str], list[tuple[float, bool]]] = defaultdict(list)
    # A shot's detail is its unit's name; an intercept's is "UNIT: RESULT[ (why)]", where the
    # why may itself hold ": ", and so may a unit's name: match the known names, longest first.
    names = sorted(site, key=len, reverse=True)
    for event in result.events:
        if event.kind == "shot":
            launches[(event.threat_id, event.detail)].append(event.t_s)
        elif event.kind == "intercept":
            unit = next(n for n in names if event.detail.startswith(n + ": "))
            outcome = event.detail[len(unit) + 2 :]
            intercepts[(event.threat_id, unit)].append((event.t_s, outcome == "killed"))
    flyouts = []
    for (k, unit), t_launches in sorted(launches.items()):
        for t_launch, (t_hit, killed) in zip(
            sorted(t_launches), sorted(intercepts[(k, unit)]), strict=True
        ):
            r_hit = true_position(truth, k, t_hit)
            flyouts.append(Flyout(k, owner[unit], unit, t_launch, t_hit, site[unit], r_hit, killed))
    flyouts.sort(key=lambda f: (f.t_launch_s, f.threat_id))
    return flyouts


def radar_coverage(scene: Scene) -> list[dict]:
    """Each radar's ground coverage against the raid's real cross-sections.

    The detection range against cross-section σ is the radar equation's
    R_ref (σ/σ_ref)^(1/4) 10^((SNR_ref - SNR_det)/40) (``sensors.Radar.detection_range``),
    capped by the radar's instrumented range. The fan is drawn against the smallest re-entry
    vehicle cross-section in the raid (the hardest target); the record lists each threat type.
    """
    truth = scene.truth
    rcs_by_type: dict[str, float] = {}
    for k in range(truth.n):
        rcs_by_type.setdefault(truth.threat_type[k], float(truth.rcs_m2[k]))
    smallest = min(rcs_by_type.values())
    out = []
    for radar in radars_of(scene.scenario):

        def reach(rcs: float, radar=radar) -> float:
            return float(min(radar.max_range, radar.detection_range(rcs)))

        out.append(
            {
                "name": radar.name,
                "partner": radar.partner,
                "lat_deg": float(np.degrees(radar.lat)),
                "lon_deg": float(np.degrees(radar.lon)),
                "boresight_deg": float(np.degrees(radar.boresight_az)),
                "half_width_deg": float(np.degrees(radar.az_half_width)),
                "range_km": reach(smallest) / 1e3,
                "rcs_m2": smallest,
                "range_km_by_threat_type": {
                    name: round(reach(rcs) / 1e3, 1) for name, rcs in rcs_by_type.items()
                },
            }
        )
    return out
