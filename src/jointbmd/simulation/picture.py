"""The picture: sensing, national tracking, the signed exchange and the fusion centre.

In: the ``Truth`` of a scenario, the scenario (sensors, partners, links, events) and one
replication's random generators. Out: a ``Picture`` -- for every threat and every source (each
partner alone, the fusion centre, and each partner's copy of the fused picture) the time of first
detection, of the first firm track and the track's position error -- plus the rejected-message
counts and the ledger.

Steps, in the order of the data flow:

1. Launch warning. Every space-based infrared sensor reports launches
   (``sensors.SpaceInfrared.report``). A partner holds its own reports; under sharing the
   reports travel, signed, to the fusion centre, which relays them to the other partners
   (``warning.share_launch_warning``, its own ledgers).
2. Sensing. Every radar observes the truth (``sensors.Radar.observe``), searching until its
   partner holds a launch report on a threat (a cue) or its search finds it, then looking at
   it with dedicated dwells. Each radar draws from its own seed, so the picture with and
   without shared warning are paired samples.
3. National tracking. Each partner runs one tracker (``tracking.Tracker``) over its own radars'
   measurements, cued by the launch reports it holds. ``alone`` is each partner with nothing
   from anyone (the independent arrangement's input); ``own`` its own sensors and tracker under
   the shared warning (recomputed only for partners whose cues it changes).
4. Exchange, as roles on the exchange runtime's nodes (``runtime``). Every ``report_interval_s``
   each partner's node signs one ``TrackBatchReport`` with the latest state of its confirmed
   tracks and sends it over its link to the fusion centre. Links add latency and jitter, lose
   messages and go down in outages or when a partner drops out. The centre's node checks every
   message with the one acceptance rule (signature, sender, replay, time window, form) and
   counts what it rejects; every node records what it signed and what it accepted in its own
   hash-chained ledger.
5. Fusion. At each cycle the centre fuses the national tracks it holds (gating, optimal
   assignment, covariance intersection; ``fusion.FusionCentre``), signs the fused picture once
   (recorded in its ledger) and sends the same bytes to every partner, whose nodes check and
   record it in their own ledgers.

Scoring uses the truth ids that the sensors attach to detections; no tracker or the fusion centre
sees them. A national track belongs to the threat that most of its detections came from; a fused
track to the threat of most of its member tracks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .. import earth
from ..arrays import BoolArray, FloatArray, IntArray
from ..exchange import (
    FusedPicture as FusedPictureMessage,
)
from ..exchange import TrackBatchReport, generate_keys
from ..fusion import FusionCentre
from ..missiles import ThreatMissile
from ..objects import tracked_rcs
from ..sensors import LaunchReport, Measurements, Radar, SpaceInfrared
from ..tracking import ExtendedKalmanPredictor, Tracker, TrackLog
from ..tracking.models import BallisticTransition, ThrustEnvelope
from .runtime import (
    MAX_MESSAGE_AGE_S,
    LocalRunner,
    NodeContext,
    Role,
    add_rejections,
    centre_name,
    links_of,
)
from .truth import Truth
from .warning import LaunchWarning, own_warning, share_launch_warning


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
    cycles: IntArray


@dataclass(frozen=True)
class Consistency:
    """Normalised estimation error squared of the position, ε = eᵀ P_rr⁻¹ e with e the estimate
    minus the truth (3 degrees of freedom), at every fusion instant in the scored phase: one
    sample per (source, threat, cycle). ``source`` is a partner (its national track as the centre
    fused it, predicted to the instant) or ``"fused"``. For a consistent estimator ε is
    chi-square with 3 degrees of freedom (Bar-Shalom, Li & Kirubarajan 2001, §5.4)."""

    source: NDArray[np.str_]
    threat: IntArray
    cycle: IntArray
    nees: FloatArray

    @classmethod
    def of(cls, rows: list[tuple[str, int, int, float]]) -> Consistency:
        if not rows:
            return cls(np.zeros(0, str), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        source, threat, cycle, nees = zip(*rows, strict=True)
        return cls(
            np.array(source), np.array(threat, np.int64), np.array(cycle, np.int64), np.array(nees)
        )


def position_nees(x: FloatArray, P: FloatArray, r_true: FloatArray) -> FloatArray:
    """ε = (r - r_true)ᵀ P_rr⁻¹ (r - r_true) of states ``x (k, 6)`` with covariances
    ``P (k, 6, 6)`` against true positions ``r_true (k, 3)``."""
    e = x[:, :3] - r_true
    return np.einsum("ki,ki->k", e, np.linalg.solve(P[:, :3, :3], e[..., None])[..., 0])


#: A national track is supported by a radar (may be used as that radar's data allows) while the
#: radar has updated it within this many of its revisits -- the tracker's own rule for a track
#: the radar still holds (``Tracker.delete_misses``).
DATA_SUPPORT_REVISITS = 3


@dataclass(frozen=True, eq=False)
class HeldTracks:
    """The track states on the threats that one holder (a partner, or the fusion centre) could
    act on, one row per track update (R rows): a partner's own confirmed national track rows, or
    the fused tracks at each fusion cycle, at the centre or as a partner received them.

    ``threat`` is the threat the track is on (scoring's attribution; -1 rows are dropped);
    ``t_held`` when the holder had the row (a fused row: when the picture arrived); ``t_state``
    the time of the estimate ``x (R, 6)`` (ECI), ``P (R, 6, 6)``; ``sigma_m`` its position
    uncertainty sqrt(trace P_rr). ``support`` maps a source partner to the data-use level
    (index in ``arrangements.DATA_USES``) of its sensors behind each row: for a national row the
    highest level among the partner's radars that updated the track within their last
    ``DATA_SUPPORT_REVISITS`` revisits; for a fused row the highest of its members' per source.
    """

    threat: IntArray
    t_held: FloatArray
    t_state: FloatArray
    x: FloatArray
    P: FloatArray
    sigma_m: FloatArray
    support: Mapping[str, IntArray]

    def __len__(self) -> int:
        return int(self.threat.shape[0])

    def take(self, rows: IntArray, t_held: FloatArray | None = None) -> HeldTracks:
        """The given rows (held at ``t_held`` instead, when given)."""
        return HeldTracks(
            self.threat[rows],
            self.t_held[rows] if t_held is None else np.asarray(t_held, float),
            self.t_state[rows],
            self.x[rows],
            self.P[rows],
            self.sigma_m[rows],
            {source: level[rows] for source, level in self.support.items()},
        )

    def usable_level(self, holder: str, rules) -> IntArray:
        """The highest use ``holder`` may make of each row under an arrangement
        (``Arrangement.usable_level`` of each source's support, the best source)."""
        level = np.zeros(len(self), np.int64)
        for source, support in self.support.items():
            level = np.maximum(level, rules.usable_level(support, own=source == holder))
        return level

    @classmethod
    def concatenate(cls, parts: list[HeldTracks]) -> HeldTracks:
        sources = sorted({s for part in parts for s in part.support})
        return cls(
            np.concatenate([p.threat for p in parts]),
            np.concatenate([p.t_held for p in parts]),
            np.concatenate([p.t_state for p in parts]),
            np.concatenate([p.x for p in parts]),
            np.concatenate([p.P for p in parts]),
            np.concatenate([p.sigma_m for p in parts]),
            {
                s: np.concatenate([p.support.get(s, np.zeros(len(p), np.int64)) for p in parts])
                for s in sources
            },
        )

    @classmethod
    def empty(cls) -> HeldTracks:
        z = np.zeros(0)
        return cls(np.zeros(0, np.int64), z, z, np.zeros((0, 6)), np.zeros((0, 6, 6)), z, {})


@dataclass(frozen=True)
class Picture:
    """One replication's sensing, tracking, exchange and fusion, scored against the truth.

    ``alone`` maps each partner to what its own sensors gave it with nothing from anyone else
    (the independent arrangement's view); ``own`` to what its own sensors gave it in this
    picture, cued by every launch report it received (the same as ``alone`` without sharing,
    or when the shared warning cued nothing earlier); ``fused`` is the fusion centre's
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
    consistency: Consistency | None = None
    #: What each holder could act on (``HeldTracks``): each partner's own national tracks, the
    #: fused tracks at the centre, and the fused tracks as each partner received them.
    national_tracks: Mapping[str, HeldTracks] = field(default_factory=dict)
    centre_tracks: HeldTracks | None = None
    received_tracks: Mapping[str, HeldTracks] = field(default_factory=dict)
    alone: Mapping[str, SourceView] = field(default_factory=dict)
    alone_tracks: Mapping[str, HeldTracks] = field(default_factory=dict)

    def held_tracks(self, partner: str, shared: bool) -> HeldTracks:
        """The rows ``partner`` could act on: its own alone, or, when it shares, its own sensors'
        (cued by every launch report it received) and the fused picture it received."""
        if not shared:
            return self.alone_tracks.get(partner, HeldTracks.empty())
        own = self.national_tracks.get(partner, HeldTracks.empty())
        if partner not in self.received_tracks:
            return own
        return HeldTracks.concatenate([own, self.received_tracks[partner]])

    def firm_track_time(self, partner: str, shared: bool) -> FloatArray:
        """When ``partner`` first had a firm track on each threat: alone (its own sensors cued by
        its own launch reports), or, when it shares, the earlier of its own sensors' (cued by
        every launch report it received) and the fused picture it received."""
        if not shared:
            return self.alone[partner].first_firm_track_s
        own = self.own[partner].first_firm_track_s
        if partner not in self.received:
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


#: Radar-type fields of the scenario that describe a radar without entering its model.
RADAR_TYPE_DESCRIPTIVE = frozenset(
    {"name", "kind", "source", "band", "reference_rcs_span_m2", "data_use", "discrimination"}
)


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
                **sensor_type.model_dump(exclude=RADAR_TYPE_DESCRIPTIVE),
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


# --------------------------------------------------------------------------------------------
# The picture
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PictureSettings:
    """Knobs of the picture that a scenario does not (yet) carry."""

    report_interval_s: float = 5.0  # national track reports and fusion cycles
    tracker_filter: str = "ekf"
    #: White acceleration noise PSD (m²/s³) of the ballistic motion model, in the national
    #: trackers and the fusion centre's prediction alike. The trackers' gravity (μ + J2) is the
    #: truth's, so in free flight only integration error is unmodelled: a small q keeps the
    #: covariance consistent (NEES, docs/modelling.md); thrust is covered by the trackers'
    #: adjustable manoeuvre noise, not by q.
    process_noise_q: float = 1.0e-3


def build_picture(
    scenario,
    truth: Truth,
    rng_sensing: np.random.Generator,
    link_seeds,
    *,
    sharing: bool = True,
    ledger_paths: Mapping[str, str | Path] | None = None,
    settings: PictureSettings | None = None,
    ledger_meta: Mapping[str, object] | None = None,
    keys: Mapping | None = None,
    warning_seeds=None,
    warning_ledger_dir: str | Path | None = None,
    runner=None,
) -> Picture:
    """Sense, track, exchange and fuse one replication (see the module docstring).

    ``link_seeds`` and ``warning_seeds`` seed the picture's and the launch warning's links (a
    ``SeedSequence``, or a generator one is drawn from; the warning's default: a child of the
    picture's). ``runner`` runs the exchange's roles (default ``runtime.LocalRunner`` with
    ``keys``, fresh keys when None). ``ledger_paths`` maps a node to the file of its ledger;
    ``ledger_meta`` says which run it records (written into every ledger's header);
    ``warning_ledger_dir`` holds the launch warning's ledgers (one per node).
    """
    settings = settings or PictureSettings()
    partners = tuple(p.name for p in scenario.partners)
    radars = radars_of(scenario)
    streams = _sensing_streams(rng_sensing, len(radars))
    reports = launch_reports(scenario, truth, np.random.default_rng(streams[-1]))
    alone = national_picture(scenario, truth, radars, streams, own_warning(reports), settings)
    if not sharing or not scenario.links:
        return Picture(truth, partners, alone.views, None, {}, {}, 0, 0, (), alone.logs,
                       national_tracks=alone.tracks, alone=alone.views,
                       alone_tracks=alone.tracks)  # fmt: skip
    if runner is None:
        nodes = (*partners, centre_name(scenario))
        runner = LocalRunner(scenario, keys if keys is not None else generate_keys(nodes))
    if warning_seeds is None:
        warning_seeds = link_seeds.spawn(1)[0]
    warning = share_launch_warning(
        scenario,
        reports,
        runner,
        warning_seeds,
        warning_ledger_dir,
        {**(ledger_meta or {}), "stage": "warning"},
    )
    warned = national_picture(scenario, truth, radars, streams, warning, settings, alone)
    picture = exchange_and_fuse(
        scenario,
        truth,
        partners,
        warned.logs,
        warned.views,
        runner,
        link_seeds,
        ledger_paths,
        settings,
        ledger_meta,
        warned.tracks,
    )
    return dataclasses.replace(
        picture,
        alone=alone.views,
        alone_tracks=alone.tracks,
        rejected_messages=add_rejections(picture.rejected_messages, warning.rejected_messages),
        messages_sent=picture.messages_sent + warning.messages_sent,
        messages_accepted=picture.messages_accepted + warning.messages_accepted,
    )


def radar_data_use(scenario) -> dict[str, tuple[int, float]]:
    """Each radar's data-use level (``arrangements.DATA_USES`` index) and revisit (s), by name."""
    from ..arrangements import data_use_level

    return {
        sensor.name: (data_use_level(sensor_type.data_use), float(sensor_type.revisit_s))
        for _, sensor, sensor_type in scenario.radars()
    }


def national_support(log: TrackLog, radars: Mapping[str, tuple[int, float]]) -> IntArray:
    """Per log row, the highest data-use level among the radars that updated its track within
    ``DATA_SUPPORT_REVISITS`` of their revisits up to the row's time (0: none)."""
    rows = log.track_id.shape[0]
    support = np.zeros(rows, np.int64)
    if not rows:
        return support
    level = np.array([radars.get(str(name), (0, 0.0))[0] for name in log.sensor], np.int64)
    revisit = np.array([radars.get(str(name), (0, 0.0))[1] for name in log.sensor])
    order = np.lexsort((log.t, log.track_id))
    _, group = np.unique(log.track_id[order], return_inverse=True)
    t = log.t[order]
    span = (
        float(t.max() - t.min())
        + 2.0 * float(revisit.max(initial=0.0)) * DATA_SUPPORT_REVISITS
        + 1.0
    )
    base = t.min() - span
    offset = group * (4.0 * span)  # keeps each track's running maximum to itself
    for use in range(1, int(level.max(initial=0)) + 1):
        until = np.where(
            log.updated[order] & (level[order] >= use),
            t + DATA_SUPPORT_REVISITS * revisit[order],
            base,
        )
        held_until = np.maximum.accumulate(until + offset) - offset
        support[order[held_until >= t]] = use
    return support


def national_held_tracks(
    partner: str, log: TrackLog, radars: Mapping[str, tuple[int, float]]
) -> HeldTracks:
    """A partner's confirmed national track rows on threats, with their sensors' support."""
    if not log.track_id.size:
        return HeldTracks.empty()
    owner = {int(tid): log.truth_of(int(tid)) for tid in log.track_ids}
    threat = np.array([owner[int(tid)] for tid in log.track_id], np.int64)
    keep = np.flatnonzero(log.confirmed & (threat >= 0))
    support = national_support(log, radars)
    return HeldTracks(
        threat[keep],
        log.t[keep],
        log.t[keep],
        log.x[keep],
        log.P[keep],
        log.position_sigma_m[keep],
        {partner: support[keep]},
    )


def _sensing_streams(rng: np.random.Generator, n_radars: int) -> IntArray:
    """One seed per radar and one for the infrared sensors, drawn from the sensing stream: each
    radar's looks then repeat exactly whatever it is cued on (paired samples with and without
    shared warning)."""
    return rng.integers(0, 2**63 - 1, size=n_radars + 1)


def launch_reports(
    scenario, truth: Truth, rng: np.random.Generator
) -> dict[str, list[LaunchReport]]:
    """Every space-based infrared sensor's launch reports, grouped by partner."""
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
    return reports


@dataclass(frozen=True)
class NationalPicture:
    """Every partner's radar measurements, national tracks and their score under one launch
    warning (``cues``: when each partner was first cued on each threat)."""

    measurements: Mapping[str, list[Measurements]]
    logs: Mapping[str, TrackLog]
    views: Mapping[str, SourceView]
    cues: Mapping[str, FloatArray]
    tracks: Mapping[str, HeldTracks]  # what each partner could act on (confirmed, on threats)


def national_picture(
    scenario,
    truth: Truth,
    radars: list[Radar],
    streams: IntArray,
    warning: LaunchWarning,
    settings: PictureSettings,
    reuse: NationalPicture | None = None,
) -> NationalPicture:
    """Steps 2 and 3: each partner's radars, cued by the launch reports it holds, and its
    tracker over them. A partner whose cues are those of ``reuse`` is taken from it."""
    partners = tuple(p.name for p in scenario.partners)
    data_use = radar_data_use(scenario)
    measurements, logs, views, cues, tracks = {}, {}, {}, {}, {}
    for p in partners:
        cues[p] = warning.cue_times(p, truth.n)
        if reuse is not None and np.array_equal(cues[p], reuse.cues[p]):
            measurements[p], logs[p] = reuse.measurements[p], reuse.logs[p]
            views[p], tracks[p] = reuse.views[p], reuse.tracks[p]
            continue
        measurements[p] = [
            radar.observe(
                truth.times,
                truth.r_ecef,
                tracked_rcs(scenario, truth, radar),  # body in boost, then the RV (objects.py)
                np.random.default_rng(seed),
                cues[p],
            )
            for radar, seed in zip(radars, streams, strict=False)
            if radar.partner == p
        ]
        held = list(warning.held.get(p, ()))
        logs[p] = track_partner(
            scenario, measurements[p], held, settings.tracker_filter, settings.process_noise_q
        )
        views[p] = score_partner(truth, measurements[p], held, logs[p])
        tracks[p] = national_held_tracks(p, logs[p], data_use)
    return NationalPicture(measurements, logs, views, cues, tracks)


def track_partner(
    scenario,
    measurements: list[Measurements],
    reports: list[LaunchReport],
    filter: str,
    q: float = PictureSettings.process_noise_q,
) -> TrackLog:
    """One partner's national tracks over its own measurements, cued by its own launch reports.

    The tracker knows the boost of the scenario's threat types (not which one it tracks): a
    track that may still be in boost gets process noise covering the largest thrust any of them
    can still have (``tracking.ThrustEnvelope``)."""
    from ..tracking import run_tracker

    thrust = ThrustEnvelope.of_missiles(
        [ThreatMissile.from_threat_type(t) for t in scenario.threat_types]
    )
    tracker = Tracker(model=scenario.model, filter=filter, q=q, thrust=thrust)
    return run_tracker([m for m in measurements if len(m)], reports, tracker)


#: Largest position uncertainty (RSS of the 1-sigma axes) of a firm fused track; the same
#: threshold as a national track's (``tracking.Tracker.firm_position_sigma_m``).
FIRM_POSITION_SIGMA_M = 1000.0

#: Track accuracy is scored in the exo-atmospheric ballistic phase -- after burnout and above
#: this altitude -- where the intercepts of the scenario's interceptors happen and where the
#: trackers' ballistic motion model holds (no thrust, no drag).
SCORED_MIN_ALTITUDE_M = 100e3


def _truth_positions_eci(truth: Truth, threat: IntArray, t: FloatArray) -> FloatArray:
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


class PartnerTracks(Role):
    """A partner's part of the exchange: at each cycle, sign and send its national track
    batch (prepared by the world from the partner's own tracker, ``batches``: (t, body)) to the
    centre; note every fused picture that reaches it."""

    def __init__(self, centre: str, batches: list[tuple[float, TrackBatchReport]]) -> None:
        self.centre = centre
        self.batches = batches
        self.received: list[tuple[float, float, list[int], list[bool]]] = []

    def start(self, node: NodeContext) -> None:
        for t, body in self.batches:
            node.at(t, self._send, node, body)

    def _send(self, t: float, node: NodeContext, body: TrackBatchReport) -> None:
        node.send(body, t, [self.centre])

    def on_message(self, node: NodeContext, message, t: float) -> None:
        if message.kind == "fused_picture" and message.sender == self.centre:
            body = message.body
            self.received.append((float(t), float(body.t), body.track_id.tolist(),
                                  body.firm.tolist()))  # fmt: skip

    def result(self) -> list[tuple[float, float, list[int], list[bool]]]:
        """(arrival, picture time, fused track ids, firm flags) of every picture accepted."""
        return self.received


@dataclass(frozen=True)
class FusionCycle:
    """What the centre did at one fusion cycle (the world scores it): the fused picture, the
    national tracks as it fused them (``inputs``: keys, states, covariances at ``t``), the
    position uncertainty and firmness it sent, and the national reports it took in
    ((source, track id, time) of each)."""

    cycle: int
    t: float
    picture: object  # fusion.FusedPicture
    inputs: tuple
    sigma: FloatArray
    firm: BoolArray
    reports: tuple[tuple[str, int, float], ...]


class CentreFusion(Role):
    """The centre's part: at every cycle fuse the batches it has accepted since the last
    (``fusion.FusionCentre``), sign the fused picture once and send the same bytes to every
    linked partner. A fused track is firm when a member national track is, or when it meets
    the trackers' own rule (``FIRM_POSITION_SIGMA_M``)."""

    def __init__(self, linked: tuple[str, ...], cycle_times: FloatArray, model: str, q: float):
        self.linked = linked
        self.cycle_times = np.asarray(cycle_times, float)
        self.model, self.q = model, q
        self.cycles: list[FusionCycle] = []

    def start(self, node: NodeContext) -> None:
        self._fusion = FusionCentre(predict=_ballistic_predictor(self.model, self.q))
        self._inbox: list[TrackBatchReport] = []
        self._member_firm: dict[tuple[str, int], bool] = {}
        for cycle, t in enumerate(self.cycle_times):
            node.at(float(t), self._fuse, node, cycle)

    def on_message(self, node: NodeContext, message, t: float) -> None:
        if message.kind == "track_batch":
            self._inbox.append(message.body)

    def _fuse(self, t: float, node: NodeContext, cycle: int) -> None:
        node.deliver(t)  # what arrives at this very instant still counts
        batches, self._inbox = self._inbox, []
        reports = [r for b in batches for r in _batch_reports(b)]
        for r in reports:
            self._member_firm[(r.source, r.track_id)] = r.firm
        picture = self._fusion.update(
            reports, float(t), complete_sources={b.source for b in batches}
        )
        if len(picture) == 0:
            return
        sigma = np.sqrt(np.trace(picture.P[:, :3, :3], axis1=-2, axis2=-1))
        firm = (sigma <= FIRM_POSITION_SIGMA_M) | np.array(
            [any(self._member_firm.get(key, False) for key in members)
             for members in picture.members]
        )  # fmt: skip
        self.cycles.append(
            FusionCycle(cycle, float(t), picture, self._fusion.inputs, sigma, firm,
                        tuple((r.source, r.track_id, r.t) for r in reports))
        )  # fmt: skip
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
        # One signed message, the same bytes to every partner, recorded in the centre's ledger.
        node.send(message, t, self.linked)

    def result(self) -> list[FusionCycle]:
        return self.cycles


def exchange_and_fuse(
    scenario,
    truth: Truth,
    partners: tuple[str, ...],
    logs: Mapping[str, TrackLog],
    own: Mapping[str, SourceView],
    runner,
    seeds,
    ledger_paths: Mapping[str, str | Path] | None,
    settings: PictureSettings,
    ledger_meta: Mapping[str, object] | None = None,
    national: Mapping[str, HeldTracks] | None = None,
) -> Picture:
    """Steps 4 and 5 of the module docstring as roles on the exchange runtime: each partner's
    node signs its track batches (`PartnerTracks`), the centre's node fuses, signs every fused
    picture and sends it (`CentreFusion`); ``runner`` runs them (``runtime.LocalRunner`` or a
    live run's). The world then scores what the centre fused and the partners received."""
    centre = centre_name(scenario)
    links = links_of(scenario)
    # In the scenario's partner order, never a set's: the fused picture is sent to the partners
    # in this order.
    linked = tuple(p for p in partners if (p, centre) in links and (centre, p) in links)
    cycle_times = np.arange(
        truth.times[0], truth.times[-1] + settings.report_interval_s, settings.report_interval_s
    )
    roles: dict[str, Role] = {
        centre: CentreFusion(linked, cycle_times, scenario.model, settings.process_noise_q)
    }
    for p in linked:
        batches, previous = [], -np.inf
        for t in cycle_times:
            latest = _latest_confirmed(logs[p], previous, float(t))
            if latest is not None:
                batches.append((float(t), TrackBatchReport(source=p, t=float(t), **latest)))
            previous = float(t)
        roles[p] = PartnerTracks(centre, batches)
    # What is still in flight after the last cycle is delivered up to the acceptance window.
    run = runner.run(roles, seeds, ledger_paths, ledger_meta,
                     until=float(cycle_times[-1]) + MAX_MESSAGE_AGE_S)  # fmt: skip
    score = _score_fusion(scenario, truth, partners, logs, cycle_times, run.results[centre])
    first_detection_any = np.fmin.reduce([own[p].first_detection_s for p in partners])
    fused_view = SourceView(first_detection_any, score.fused_first, score.fused_rmse)
    received_first = {p: np.full(truth.n, np.nan) for p in partners}
    for p in linked:
        for t_arrival, t_picture, track_ids, firm in run.results[p]:
            score.rows.note_received(p, t_arrival, t_picture, track_ids, firm, received_first[p])
    received = {
        p: SourceView(
            first_detection_any if p in linked else np.full(truth.n, np.nan),
            received_first[p],
            score.fused_rmse if p in linked else np.full(truth.n, np.nan),
        )
        for p in partners
    }
    return Picture(
        truth,
        partners,
        own,
        fused_view,
        received,
        run.rejected,
        run.messages_sent,
        run.messages_accepted,
        run.ledger_paths,
        logs,
        score.at_centre,
        score.fusion_gain,
        score.consistency,
        dict(national or {}),
        score.rows.held(),
        {p: score.rows.held_by(p) for p in linked},
    )


@dataclass(frozen=True)
class _FusionScore:
    fused_first: FloatArray
    fused_rmse: FloatArray
    at_centre: Mapping[str, FloatArray]
    fusion_gain: FusionGain
    consistency: Consistency
    rows: _CentreRows


def _score_fusion(scenario, truth: Truth, partners, logs, cycle_times, cycles) -> _FusionScore:
    """Score the centre's fusion cycles against the truth: when each threat first had a firm
    fused track, the RMS position error of the fused tracks and of each partner's tracks as the
    centre fused them, fused against inputs where two or more partners were fused, NEES, and
    the fused rows each holder could act on (with their sensors' data-use support)."""
    n = truth.n
    # Which threat each national track belongs to (scoring only).
    national_truth = {
        p: {int(tid): logs[p].truth_of(int(tid)) for tid in logs[p].track_ids} for p in partners
    }
    # The data-use support of every national row, by (source, track id, time): what a report
    # of that row says about the sensors behind it.
    row_support = {p: _row_support_index(logs[p], radar_data_use(scenario)) for p in partners}
    member_support: dict[tuple[str, int], int] = {}
    rows = _CentreRows(partners)
    fused_first = np.full(n, np.nan)
    fused_err2, fused_count = np.zeros(n), np.zeros(n, int)
    input_err2 = {p: np.zeros(n) for p in partners}
    input_count = {p: np.zeros(n, int) for p in partners}
    paired_count, paired_fused = np.zeros(n, int), np.zeros(n)
    paired_inputs = {p: np.zeros(n) for p in partners}
    nees_rows: list[tuple[str, int, int, float]] = []
    # Truth at every cycle, for scoring (NaN outside the scored phase).
    n_cycles = cycle_times.shape[0]
    truth_at_cycles = _truth_positions_eci(
        truth, np.repeat(np.arange(n), n_cycles), np.tile(cycle_times, n)
    ).reshape(n, n_cycles, 3)
    for c in cycles:
        for source, track_id, t_report in c.reports:
            member_support[(source, track_id)] = row_support[source].get((track_id, t_report), 0)
        picture, cycle, t = c.picture, c.cycle, c.t
        threat_of = _fused_truth(picture, national_truth)
        rows.add(t, picture, threat_of, c.sigma, member_support)
        r_true = truth_at_cycles[np.maximum(threat_of, 0), cycle]
        # The national tracks as the centre fused them, at the same time: fusion's own yardstick.
        keys, x_in, P_in = c.inputs
        _consistency_rows(keys, x_in, P_in, picture, threat_of, national_truth, truth_at_cycles,
                          cycle, nees_rows)  # fmt: skip
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
            if c.firm[i] and not fused_first[k] <= t:
                fused_first[k] = t
    return _FusionScore(
        fused_first,
        _rms(fused_err2, fused_count),
        {p: _rms(input_err2[p], input_count[p]) for p in partners},
        FusionGain(
            _rms(paired_fused, paired_count),
            {p: _rms(paired_inputs[p], paired_count) for p in partners},
            paired_count,
        ),
        Consistency.of(nees_rows),
        rows,
    )


def _row_support_index(log: TrackLog, radars) -> dict[tuple[int, float], int]:
    """(track id, time) -> data-use support of every row of a national log."""
    support = national_support(log, radars)
    return dict(
        zip(zip(log.track_id.tolist(), log.t.tolist(), strict=True), support.tolist(), strict=True)
    )


class _CentreRows:
    """The fused tracks on threats at every cycle, and which of them each partner received when
    (collected during the exchange, built into ``HeldTracks`` at the end)."""

    def __init__(self, partners) -> None:
        self.partners = tuple(partners)
        self.rows: list[tuple] = []
        self.index: dict[tuple[float, int], int] = {}
        self.received: dict[str, list[tuple[int, float]]] = {p: [] for p in partners}

    def add(self, t: float, picture, threat_of, sigma, member_support) -> None:
        for i in np.flatnonzero(threat_of >= 0):
            support = dict.fromkeys(self.partners, 0)
            for source, tid in picture.members[i]:
                level = member_support.get((source, int(tid)), 0)
                support[source] = max(support.get(source, 0), level)
            self.index[(t, int(picture.fused_id[i]))] = len(self.rows)
            self.rows.append(
                (int(threat_of[i]), t, picture.x[i], picture.P[i], float(sigma[i]), support)
            )

    def note_received(self, partner, t_arrival, t_picture, track_ids, firm, first) -> None:
        """``partner`` accepted the fused picture of ``t_picture`` at ``t_arrival``: record
        which fused rows it received when, and when it first received a firm fused track on
        each threat (``first``; a picture is acted on when it arrives)."""
        for tid, is_firm in zip(track_ids, firm, strict=True):
            row = self.index.get((float(t_picture), int(tid)))
            if row is None:
                continue
            self.received[partner].append((row, float(t_arrival)))
            if is_firm:
                k = self.rows[row][0]
                first[k] = np.fmin(first[k], t_arrival)

    def held(self) -> HeldTracks:
        if not self.rows:
            return HeldTracks.empty()
        threat, t, x, P, sigma, support = zip(*self.rows, strict=True)
        t = np.array(t)
        return HeldTracks(
            np.array(threat, np.int64),
            t,
            t.copy(),
            np.array(x),
            np.array(P),
            np.array(sigma),
            {p: np.array([s.get(p, 0) for s in support], np.int64) for p in self.partners},
        )

    def held_by(self, partner: str) -> HeldTracks:
        got = self.received[partner]
        if not got:
            return HeldTracks.empty()
        rows, t_arrival = zip(*got, strict=True)
        return self.held().take(np.array(rows, np.int64), np.array(t_arrival))


def _consistency_rows(keys, x_in, P_in, picture, threat_of, national_truth, truth_at_cycles,
                      cycle, rows) -> None:  # fmt: skip
    """Append the NEES of every national input and fused track on a threat at this fusion
    instant (scored phase only) to ``rows``."""
    k_in = np.array([national_truth.get(src, {}).get(int(tid), -1) for src, tid in keys])
    r_in = truth_at_cycles[np.maximum(k_in, 0), cycle]
    ok = (k_in >= 0) & np.all(np.isfinite(r_in), axis=1)
    for i, value in zip(
        np.flatnonzero(ok), position_nees(x_in[ok], P_in[ok], r_in[ok]), strict=True
    ):
        rows.append((keys[i][0], int(k_in[i]), cycle, float(value)))
    r_f = truth_at_cycles[np.maximum(threat_of, 0), cycle]
    ok = (threat_of >= 0) & np.all(np.isfinite(r_f), axis=1)
    for i, value in zip(
        np.flatnonzero(ok), position_nees(picture.x[ok], picture.P[ok], r_f[ok]), strict=True
    ):
        rows.append(("fused", int(threat_of[i]), cycle, float(value)))


def _rms(sum_squares: FloatArray, count: IntArray) -> FloatArray:
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


def _ballistic_predictor(model: str, q: float):
    predictor = ExtendedKalmanPredictor(BallisticTransition(model, q))

    def predict(x, P, t_from, t_to):
        return predictor.predict(x, P, np.asarray(t_to, float) - np.asarray(t_from, float))

    return predict


def _fused_truth(picture, national_truth: Mapping[str, Mapping[int, int]]) -> IntArray:
    """The threat of each fused track: the most common threat among its member tracks."""
    out = np.full(len(picture), -1, np.int64)
    for i, members in enumerate(picture.members):
        votes = [national_truth.get(src, {}).get(int(tid), -1) for src, tid in members]
        votes = [v for v in votes if v >= 0]
        if votes:
            out[i] = np.bincount(votes).argmax()
    return out
