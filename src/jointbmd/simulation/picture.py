"""The picture: sensing, national tracking, the signed exchange and the fusion centre.

In: the ``Truth`` of a scenario, the scenario (sensors, partners, links, events) and one
replication's random generators. Out: a ``Picture`` -- for every threat and every source (each
partner alone, the fusion centre, and each partner's copy of the fused picture) the time of first
detection, of the first firm track and the track's position error -- plus the rejected-message
counts and the ledger.

Steps, in the order of the data flow (DESIGN.md):

1. Sensing. Every radar observes the truth (``sensors.Radar.observe``); every space-based infrared
   sensor reports launches (``sensors.SpaceInfrared.report``).
2. National tracking. Each partner runs one tracker (``tracking.Tracker``) over its own radars'
   measurements, cued by its own launch reports. National tracks never use another partner's data:
   that is what "independent" means, and it is also the input every other arrangement shares.
3. Exchange. Every ``report_interval_s`` each partner signs one ``TrackBatchReport`` with the
   latest state of its confirmed tracks and sends it over its link to the fusion centre; launch
   reports go the same way as they are made. Links add latency and jitter, lose messages and go
   down in outages or when a partner drops out. The centre's ``Receiver`` checks every message
   (signature, sender, replay, time window, form), counts what it rejects and writes what it
   accepts to its hash-chained ledger.
4. Fusion. At each cycle the centre fuses the national tracks it holds (gating, optimal
   assignment, covariance intersection; ``fusion.FusionCentre``), signs the fused picture and sends
   the same bytes to every partner, whose receivers check and record it in their own ledgers.

Scoring uses the truth ids that the sensors attach to detections; no tracker or the fusion centre
sees them. A national track belongs to the threat that most of its detections came from; a fused
track to the threat of most of its member tracks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .. import earth
from ..exchange import (
    FusedPicture as FusedPictureMessage,
)
from ..exchange import (
    KeyRing,
    Ledger,
    Link,
    Receiver,
    Signer,
    SimulatedNetwork,
    TrackBatchReport,
    generate_keys,
)
from ..exchange import (
    LaunchReport as LaunchReportMessage,
)
from ..fusion import FusionCentre
from ..scenario.schema import DEFAULT_FUSION_CENTRE
from ..sensors import LaunchReport, Measurements, Radar, SpaceInfrared
from ..tracking import ExtendedKalmanPredictor, Tracker, TrackLog
from ..tracking.models import BallisticTransition
from .truth import Truth

FloatArray = NDArray[np.float64]

#: Name of the fusion centre when the scenario does not name one (stated in the schema).
DEFAULT_CENTRE = DEFAULT_FUSION_CENTRE


@dataclass(frozen=True)
class SourceView:
    """What one source knew of each threat: times (s since the epoch, NaN for never) of first
    detection and first firm track, and the RMS position error (m) of its tracks on that threat."""

    first_detection_s: FloatArray
    first_firm_track_s: FloatArray
    rmse_position_m: FloatArray


@dataclass(frozen=True)
class FusionGain:
    """Fused against its inputs where two or more partners' tracks were fused: RMS position
    error (m) per threat of the fused track and of each partner's input, over exactly those
    fusion times (``cycles`` per threat)."""

    fused_rmse_m: FloatArray
    input_rmse_m: Mapping[str, FloatArray]
    cycles: NDArray[np.int64]


@dataclass(frozen=True)
class Picture:
    """One replication's sensing, tracking, exchange and fusion, scored against the truth.

    ``own`` maps each partner to what its own sensors gave it; ``fused`` is the fusion centre's
    picture; ``received`` maps each partner to the fused picture as it arrived over its link (the
    same tracks, later, or never when the link is down). ``fused`` is None when the picture was
    built without any exchange (the independent arrangement).

    ``rmse_at_centre_m`` scores each partner's tracks as the centre held them at each fusion
    time (its latest report, predicted to that time): the same times and the same information
    as the fused tracks, so ``fused.rmse_position_m`` compares with it directly. A partner's
    ``own[p].rmse_position_m`` is scored at its own update times instead, when its tracks are
    freshest; the fused picture is older by a reporting cycle and the link latency.
    """

    truth: Truth
    partners: tuple[str, ...]
    own: Mapping[str, SourceView]
    fused: SourceView | None
    received: Mapping[str, SourceView]
    rejected_messages: Mapping[str, int]
    messages_sent: int
    messages_accepted: int
    ledger_paths: tuple[str, ...] = ()
    national_logs: Mapping[str, TrackLog] = field(default_factory=dict)
    rmse_at_centre_m: Mapping[str, FloatArray] = field(default_factory=dict)
    fusion_gain: FusionGain | None = None

    def firm_track_time(self, partner: str, shared: bool) -> FloatArray:
        """When ``partner`` first had a firm track on each threat: from its own sensors, or the
        earlier of its own and the fused picture it received."""
        own = self.own[partner].first_firm_track_s
        if not shared or partner not in self.received:
            return own
        return np.fmin(own, self.received[partner].first_firm_track_s)

    def by_source(self) -> dict[str, SourceView]:
        """Every source by name: the partners and ``"fused"``."""
        views = dict(self.own)
        if self.fused is not None:
            views["fused"] = self.fused
        return views


# --------------------------------------------------------------------------------------------
# Building the stages from the scenario
# --------------------------------------------------------------------------------------------


def radars_of(scenario) -> list[Radar]:
    """Every radar of the scenario as a ``sensors.Radar``."""
    radars = []
    for site, sensor, sensor_type in scenario.radars():
        radars.append(
            Radar.from_spec(
                sensor.name,
                site.partner,
                site.lat_deg,
                site.lon_deg,
                site.alt_m,
                **sensor_type.model_dump(exclude={"name", "kind", "source"}),
                **sensor.model_dump(exclude={"name", "type", "source"}),
                model=scenario.model,
            )
        )
    return radars


def infrared_of(scenario) -> list[SpaceInfrared]:
    """Every space-based infrared sensor of the scenario."""
    sensors = []
    for spec in scenario.space_sensors:
        sensor_type = scenario.sensor_type(spec.type)
        sensors.append(
            SpaceInfrared.from_spec(
                spec.name,
                spec.partner,
                **sensor_type.model_dump(exclude={"name", "kind", "source"}),
                model=scenario.model,
            )
        )
    return sensors


def ledger_paths_in(directory: str | Path, nodes) -> dict[str, Path]:
    """One ledger file per node in a directory: ``DIR/NODE.ledger``."""
    return {name: Path(directory) / f"{name}.ledger" for name in nodes}


def centre_name(scenario) -> str:
    return scenario.fusion_centre.name if scenario.fusion_centre is not None else DEFAULT_CENTRE


def network_of(scenario, rng: np.random.Generator) -> SimulatedNetwork:
    """The scenario's links, both directions, with partner drop-outs applied as cuts."""
    links: dict[tuple[str, str], Link] = {}
    for spec in scenario.links:
        link = Link(
            latency_s=spec.latency_s,
            jitter_s=spec.jitter_s,
            loss_probability=spec.loss_probability,
            outages=tuple((o.start_s, o.end_s) for o in spec.outages),
        )
        links[(spec.a, spec.b)] = link
        links[(spec.b, spec.a)] = link
    network = SimulatedNetwork(links, rng)
    for event in scenario.events:
        if event.kind == "partner-drops-out":
            network.cut(event.partner, event.time_s)
    return network


# --------------------------------------------------------------------------------------------
# The picture
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PictureSettings:
    """Knobs of the picture that a scenario does not (yet) carry."""

    report_interval_s: float = 5.0  # national track reports and fusion cycles
    max_message_age_s: float = 60.0  # receivers refuse older messages
    tracker_filter: str = "ekf"


def build_picture(
    scenario,
    truth: Truth,
    rng_sensing: np.random.Generator,
    rng_links: np.random.Generator,
    *,
    sharing: bool = True,
    ledger_paths: Mapping[str, str | Path] | None = None,
    settings: PictureSettings | None = None,
    ledger_meta: Mapping[str, object] | None = None,
    keys: Mapping | None = None,
) -> Picture:
    """Sense, track, exchange and fuse one replication (see the module docstring).

    ``ledger_paths`` maps a node (partner or fusion centre) to the file of its ledger;
    ``ledger_meta`` says which run it records (written into every ledger's header).
    """
    settings = settings or PictureSettings()
    partners = tuple(p.name for p in scenario.partners)
    measurements, launch_reports = sense(scenario, truth, rng_sensing)
    logs = {
        p: track_partner(
            scenario, measurements.get(p, []), launch_reports.get(p, []), settings.tracker_filter
        )
        for p in partners
    }
    own = {
        p: score_partner(truth, measurements.get(p, []), launch_reports.get(p, []), logs[p])
        for p in partners
    }
    if not sharing or not scenario.links:
        return Picture(truth, partners, own, None, {}, {}, 0, 0, (), logs)
    return exchange_and_fuse(
        scenario,
        truth,
        partners,
        logs,
        own,
        launch_reports,
        rng_links,
        ledger_paths,
        settings,
        keys,
        ledger_meta,
    )


def sense(
    scenario, truth: Truth, rng: np.random.Generator
) -> tuple[dict[str, list[Measurements]], dict[str, list[LaunchReport]]]:
    """Radar measurements and launch reports, grouped by partner."""
    measurements: dict[str, list[Measurements]] = {}
    for radar in radars_of(scenario):
        observed = radar.observe(truth.times, truth.r_ecef, truth.rcs_m2, rng)
        measurements.setdefault(radar.partner, []).append(observed)
    reports: dict[str, list[LaunchReport]] = {}
    for sensor in infrared_of(scenario):
        made = sensor.report(
            truth.launch_time,
            truth.launch_lat,
            truth.launch_lon,
            truth.heading,
            rng,
            burn_time=truth.burn_time,
            truth_id=np.arange(truth.n),
        )
        reports.setdefault(sensor.partner, []).extend(made)
    return measurements, reports


def track_partner(
    scenario, measurements: list[Measurements], reports: list[LaunchReport], filter: str
) -> TrackLog:
    """One partner's national tracks over its own measurements, cued by its own launch reports."""
    from ..tracking import run_tracker

    tracker = Tracker(model=scenario.model, filter=filter)
    return run_tracker([m for m in measurements if len(m)], reports, tracker)


#: Largest position uncertainty (RSS of the 1-sigma axes) of a firm fused track; the same
#: threshold as a national track's (``tracking.Tracker.firm_position_sigma_m``).
FIRM_POSITION_SIGMA_M = 1000.0

#: Track accuracy is scored in the exo-atmospheric ballistic phase -- after burnout and above
#: this altitude -- where the intercepts of the scenario's interceptors happen and where the
#: trackers' ballistic motion model holds (no thrust, no drag).
SCORED_MIN_ALTITUDE_M = 100e3


def _truth_positions_eci(truth: Truth, threat: NDArray[np.int64], t: FloatArray) -> FloatArray:
    """Truth ECI positions of threat ``threat[i]`` at ``t[i]``; NaN outside the scored phase
    (before burnout, or below ``SCORED_MIN_ALTITUDE_M``)."""
    out = np.full((t.shape[0], 3), np.nan)
    for k in np.unique(threat):
        sel = threat == k
        out[sel] = truth.trajectories.position_eci(t[sel])[k]
    burnt_out = t >= truth.launch_time[threat] + truth.burn_time[threat]
    high = earth.altitude(out, truth.trajectories.model) >= SCORED_MIN_ALTITUDE_M
    out[~(burnt_out & high)] = np.nan
    return out


def score_partner(
    truth: Truth,
    measurements: list[Measurements],
    reports: list[LaunchReport],
    log: TrackLog,
) -> SourceView:
    """First detection, first firm track and RMS position error per threat for one partner."""
    n = truth.n
    first_detection = np.full(n, np.nan)
    for m in measurements:
        ok = m.truth_id >= 0
        if np.any(ok):
            tmin = np.full(n, np.inf)
            np.minimum.at(tmin, m.truth_id[ok], m.t[ok])
            first_detection = np.fmin(first_detection, np.where(np.isfinite(tmin), tmin, np.nan))
    for report in reports:
        k = report.truth_id
        first_detection[k] = np.fmin(first_detection[k], report.t_report)
    first_firm = np.full(n, np.nan)
    rmse = np.full(n, np.nan)
    if log.track_id.size:
        owner = {int(tid): log.truth_of(int(tid)) for tid in log.track_ids}
        row_threat = np.array([owner[int(tid)] for tid in log.track_id])
        for tid, k in owner.items():
            if k < 0:
                continue
            t_firm = log.first_firm_time(tid)
            if t_firm is not None:
                first_firm[k] = np.fmin(first_firm[k], t_firm)
        scored = (row_threat >= 0) & log.confirmed
        if np.any(scored):
            r_true = _truth_positions_eci(truth, row_threat[scored], log.t[scored])
            err2 = np.sum((log.x[scored, :3] - r_true) ** 2, axis=-1)
            good = np.isfinite(err2)
            sums = np.bincount(row_threat[scored][good], err2[good], minlength=n)
            counts = np.bincount(row_threat[scored][good], minlength=n)
            with np.errstate(invalid="ignore", divide="ignore"):
                rmse = np.where(counts > 0, np.sqrt(sums / np.maximum(counts, 1)), np.nan)
    return SourceView(first_detection, first_firm, rmse)


def _latest_confirmed(log: TrackLog, t_from: float, t_to: float) -> dict[str, np.ndarray] | None:
    """The newest row of every confirmed track updated in (t_from, t_to]."""
    sel = (log.t > t_from) & (log.t <= t_to) & log.confirmed
    if not np.any(sel):
        return None
    rows = np.flatnonzero(sel)
    # Rows are in time order: keep the last row of each track id.
    _, last = np.unique(log.track_id[rows][::-1], return_index=True)
    rows = rows[::-1][last]
    return {
        "track_id": log.track_id[rows],
        "t_track": log.t[rows],
        "x": log.x[rows],
        "P": log.P[rows],
        "quality": log.position_sigma_m[rows],
        "firm": log.firm[rows],
    }


def exchange_and_fuse(
    scenario,
    truth: Truth,
    partners: tuple[str, ...],
    logs: Mapping[str, TrackLog],
    own: Mapping[str, SourceView],
    launch_reports: Mapping[str, list[LaunchReport]],
    rng_links: np.random.Generator,
    ledger_paths: Mapping[str, str | Path] | None,
    settings: PictureSettings,
    keys: Mapping | None,
    ledger_meta: Mapping[str, object] | None = None,
) -> Picture:
    """Steps 3 and 4 of the module docstring."""
    centre = centre_name(scenario)
    nodes = (*partners, centre)
    private = dict(keys) if keys is not None else generate_keys(nodes)
    ring = KeyRing.from_private(private)
    network = network_of(scenario, rng_links)
    signers = {name: Signer(name, private[name]) for name in nodes}
    ledgers: dict[str, Ledger] = {}
    for name, path in (ledger_paths or {}).items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        ledgers[name] = Ledger(
            Path(path), name, ring, meta=dict(ledger_meta or {}), signer=signers[name]
        )
    receivers = {
        name: Receiver(name, ring, max_age_s=settings.max_message_age_s, ledger=ledgers.get(name))
        for name in nodes
    }
    # In the scenario's partner order, never a set's: the fused picture is sent to the partners
    # in this order, and each send draws the link's loss and jitter from ``rng_links``.
    linked = tuple(p for p in partners if _has_link(network, p, centre))
    fusion = FusionCentre(predict=_ballistic_predictor(scenario.model))

    # Which threat each national track belongs to (scoring only).
    national_truth = {
        p: {int(tid): logs[p].truth_of(int(tid)) for tid in logs[p].track_ids} for p in partners
    }
    n = truth.n
    fused_first = np.full(n, np.nan)
    fused_err2 = np.zeros(n)
    fused_count = np.zeros(n, int)
    input_err2 = {p: np.zeros(n) for p in partners}
    input_count = {p: np.zeros(n, int) for p in partners}
    paired_count = np.zeros(n, int)
    paired_fused = np.zeros(n)
    paired_inputs = {p: np.zeros(n) for p in partners}
    received_first = {p: np.full(n, np.nan) for p in partners}
    sent = 0

    pending_reports = sorted(
        (r for p in partners for r in launch_reports.get(p, [])), key=lambda r: r.t_report
    )
    cycle_times = np.arange(
        truth.times[0], truth.times[-1] + settings.report_interval_s, settings.report_interval_s
    )
    previous = -np.inf
    member_firm: dict[tuple[str, int], bool] = {}
    fused_firm_ids: dict[int, int] = {}  # fused id -> threat, for tracks already scored firm
    # Truth at every cycle, for scoring (NaN outside the scored phase).
    n_cycles = cycle_times.shape[0]
    truth_at_cycles = _truth_positions_eci(
        truth, np.repeat(np.arange(n), n_cycles), np.tile(cycle_times, n)
    ).reshape(n, n_cycles, 3)
    for cycle, t in enumerate(cycle_times):
        # Launch reports made since the last cycle travel to the centre as they are made.
        while pending_reports and pending_reports[0].t_report <= t:
            report = pending_reports.pop(0)
            if report.partner in linked:
                body = LaunchReportMessage.from_sensor(report, f"{report.sensor}-{sent}")
                wire = signers[report.partner].sign(body, report.t_report).wire
                network.send(report.partner, centre, wire, report.t_report)
                sent += 1
        # National track batches.
        for p in partners:
            if p not in linked:
                continue
            latest = _latest_confirmed(logs[p], previous, t)
            if latest is None:
                continue
            body = TrackBatchReport(source=p, t=float(t), **latest)
            network.send(p, centre, signers[p].sign(body, float(t)).wire, float(t))
            sent += 1
        previous = t
        # The centre takes in what has arrived and fuses.
        accepted = receivers[centre].poll(network, float(t))
        batches = [m.body for m in accepted if m.kind == "track_batch"]
        reports = [r for b in batches for r in _batch_reports(b)]
        for r in reports:
            member_firm[(r.source, r.track_id)] = r.firm
        picture = fusion.update(reports, float(t), complete_sources={b.source for b in batches})
        if len(picture) == 0:
            continue
        threat_of = _fused_truth(picture, national_truth)
        sigma = np.sqrt(np.trace(picture.P[:, :3, :3], axis1=-2, axis2=-1))
        # Firm: a member national track is firm, or the fused track meets the trackers' rule.
        firm = (sigma <= FIRM_POSITION_SIGMA_M) | np.array(
            [any(member_firm.get(key, False) for key in members) for members in picture.members]
        )
        r_true = truth_at_cycles[np.maximum(threat_of, 0), cycle]
        # The national tracks as the centre fused them, at the same time: fusion's own yardstick.
        keys, x_in, _ = fusion.inputs
        input_err2_now = {}
        for (source, track_id), x_i in zip(keys, x_in, strict=True):
            k = national_truth.get(source, {}).get(int(track_id), -1)
            if k >= 0:
                err2 = float(np.sum((x_i[:3] - truth_at_cycles[k, cycle]) ** 2))
                if np.isfinite(err2):
                    input_err2[source][k] += err2
                    input_count[source][k] += 1
                    input_err2_now[(source, int(track_id))] = err2
        for i, k in enumerate(threat_of):
            if k < 0:
                continue
            err2 = float(np.sum((picture.x[i, :3] - r_true[i]) ** 2))
            if np.isfinite(err2):
                fused_err2[k] += err2
                fused_count[k] += 1
                # Where two or more partners' tracks were fused: fused against each input.
                member_err2 = {
                    src: input_err2_now[(src, int(tid))]
                    for src, tid in picture.members[i]
                    if (src, int(tid)) in input_err2_now
                }
                if len(member_err2) >= 2:
                    paired_count[k] += 1
                    paired_fused[k] += err2
                    for src, e2 in member_err2.items():
                        paired_inputs[src][k] += e2
            if firm[i] and not fused_first[k] <= t:
                fused_first[k] = t
                fused_firm_ids[int(picture.fused_id[i])] = k
        message = FusedPictureMessage(
            t=float(t),
            track_id=picture.fused_id,
            t_track=np.full(len(picture), float(t)),
            x=picture.x,
            P=picture.P,
            quality=sigma,
            firm=firm,
            sources=picture.sources,
        )
        wire = signers[centre].sign(message, float(t)).wire
        for p in linked:
            network.send(centre, p, wire, float(t))
            sent += 1
        # Partners take in the pictures that have reached them by now.
        for p in linked:
            _note_received(
                receivers[p], network.deliver(p, float(t)), fused_firm_ids, received_first[p]
            )
    # Deliver what is still in flight after the last cycle.
    t_end = float(cycle_times[-1]) + settings.max_message_age_s
    receivers[centre].poll(network, t_end)
    for p in linked:
        _note_received(receivers[p], network.deliver(p, t_end), fused_firm_ids, received_first[p])
    for ledger in ledgers.values():
        ledger.close()

    fused_rmse = _rms(fused_err2, fused_count)
    at_centre = {p: _rms(input_err2[p], input_count[p]) for p in partners}
    fusion_gain = FusionGain(
        _rms(paired_fused, paired_count),
        {p: _rms(paired_inputs[p], paired_count) for p in partners},
        paired_count,
    )
    first_detection_any = np.fmin.reduce([own[p].first_detection_s for p in partners])
    fused_view = SourceView(first_detection_any, fused_first, fused_rmse)
    received = {
        p: SourceView(
            first_detection_any if p in linked else np.full(n, np.nan),
            received_first[p],
            fused_rmse if p in linked else np.full(n, np.nan),
        )
        for p in partners
    }
    rejected: dict[str, int] = {}
    for receiver in receivers.values():
        for reason, count in receiver.rejections.items():
            rejected[reason] = rejected.get(reason, 0) + count
    accepted_total = sum(r.accepted_count for r in receivers.values())
    return Picture(
        truth,
        partners,
        own,
        fused_view,
        received,
        rejected,
        sent,
        accepted_total,
        tuple(str(path) for path in (ledger_paths or {}).values()),
        logs,
        at_centre,
        fusion_gain,
    )


def _rms(sum_squares: FloatArray, count: NDArray[np.int64]) -> FloatArray:
    """Root mean square per threat (NaN where nothing was scored)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.sqrt(sum_squares / np.maximum(count, 1)), np.nan)


class _NationalTrack(NamedTuple):
    """One track of an accepted ``TrackBatchReport``, as the fusion centre reads it."""

    source: str
    track_id: int
    t: float
    x: FloatArray
    P: FloatArray
    firm: bool


def _batch_reports(batch: TrackBatchReport) -> list[_NationalTrack]:
    """The tracks of a batch that was checked when it was received (``TrackBatchReport.reports``
    would build and check a ``TrackReport`` message per track again; the values are the same)."""
    return [
        _NationalTrack(batch.source, tid, t, batch.x[i], batch.P[i], firm)
        for i, (tid, t, firm) in enumerate(
            zip(batch.track_id.tolist(), batch.t_track.tolist(), batch.firm.tolist(), strict=True)
        )
    ]


def _has_link(network: SimulatedNetwork, a: str, b: str) -> bool:
    return (a, b) in network.links and (b, a) in network.links


def _ballistic_predictor(model: str):
    predictor = ExtendedKalmanPredictor(BallisticTransition(model))

    def predict(x, P, t_from, t_to):
        return predictor.predict(x, P, np.asarray(t_to, float) - np.asarray(t_from, float))

    return predict


def _fused_truth(picture, national_truth: Mapping[str, Mapping[int, int]]) -> NDArray[np.int64]:
    """The threat of each fused track: the most common threat among its member tracks."""
    out = np.full(len(picture), -1, np.int64)
    for i, members in enumerate(picture.members):
        votes = [national_truth.get(src, {}).get(int(tid), -1) for src, tid in members]
        votes = [v for v in votes if v >= 0]
        if votes:
            out[i] = np.bincount(votes).argmax()
    return out


def _note_received(
    receiver: Receiver, deliveries, fused_firm_ids: Mapping[int, int], first: FloatArray
) -> None:
    """Receive deliveries at a partner and record when it first received a firm fused track of
    each threat (a picture is acted on when it arrives)."""
    for delivery in deliveries:
        message = receiver.receive(delivery.data, delivery.t_arrival)
        if message is None or message.kind != "fused_picture":
            continue
        body = message.body
        for tid, firm in zip(body.track_id.tolist(), body.firm.tolist(), strict=True):
            k = fused_firm_ids.get(int(tid))
            if firm and k is not None:
                first[k] = np.fmin(first[k], delivery.t_arrival)
