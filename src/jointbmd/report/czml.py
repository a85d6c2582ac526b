"""CZML of one replication: the scene on one clock from the scenario epoch, written with czml3.

In: a ``report.scene.Scene``. Out: a ``czml3.Document`` (``scene_document``) and the file
``scene.czml`` (``write_czml``), which Cesium, STK and the other CZML readers load as they are.

Every packet id starts with its kind, and every graphic packet carries ``properties.layer`` (the
kind) and ``properties.partner`` (whose it is, or ``none``) so a viewer can toggle them:

============  =========================================================  ====================
kind          what                                                        count (the run's)
============  =========================================================  ====================
site          a site (radars, fire units), partner colour, label           scenario sites
node          a partner's command node or the fusion centre                partners + centre
coverage      a radar's ground coverage against the raid's smallest RV     radars
asset         a defended asset                                             defended assets
launch-area   a launch area                                                launch areas
threat        the moving threat, coloured by phase, with its record        threats
trajectory    the threat's path, one polyline per phase                    phases of threats
national      a partner's confirmed track, its 3σ error as an ellipsoid    national tracks
fused         a fused track, likewise                                      fused tracks
message       a message between nodes while in flight (lost/rejected)      messages sent
flyout        an interceptor from its site to the intercept point          shots
intercept     the intercept point (kill or miss)                           shots
leak          a leaker's impact point                                      leakers
============  =========================================================  ====================

Records (``properties.record``) are JSON text, because CZML reads an array-valued property as
a list of time intervals. The first packet after the document is ``jointbmd``: no graphics,
``properties.run`` (JSON text) holding the run (scenario, arrangement, replication, seed),
the partners' colours, the counts above, the legend and the decision timeline (every ``Event``
of the run), for the viewer's panels.

Positions are ECEF (Cesium's ``FIXED`` frame) in metres, sampled in seconds since the scenario
epoch. Error ellipsoids: the principal axes of the 3×3 position covariance (ECEF) give the
orientation; the radii are ``ERROR_SIGMAS`` standard deviations magnified ``ERROR_MAGNIFICATION``
times, because a kilometre-sized error is invisible at the scale of a continent (the legend says
so). A message is drawn from its send time for at least ``MESSAGE_MIN_DISPLAY_S`` (latencies of
a second or two would flash by).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import numpy as np
from czml3 import CZML_VERSION, Document, Packet
from czml3.enums import ArcTypes, ClockRanges, ClockSteps, InterpolationAlgorithms
from czml3.properties import (
    Clock,
    Color,
    Ellipse,
    Ellipsoid,
    EllipsoidRadii,
    Label,
    Material,
    Orientation,
    Point,
    Polygon,
    Polyline,
    PolylineDashMaterial,
    PolylineMaterial,
    Position,
    PositionList,
    SolidColorMaterial,
)
from czml3.properties import (
    Path as CzmlPath,
)
from czml3.types import IntervalValue, TimeInterval, TimeIntervalCollection

from .. import earth
from .plots import PARTNER_COLOURS
from .scene import Scene, TrackHistory, radar_coverage, true_position

ERROR_SIGMAS = 3.0
ERROR_MAGNIFICATION = 20.0
MESSAGE_MIN_DISPLAY_S = 4.0
MESSAGE_ALTITUDE_M = 40e3  # messages drawn above the ground so they are not hidden by it
TRUTH_SAMPLE_S = 5.0
TRACK_SAMPLE_S = 5.0
CLOCK_MARGIN_S = 60.0
CLOCK_MULTIPLIER = 10.0

PHASE_COLOURS = {"boost": "#ffb000", "midcourse": "#ff4040", "re-entry": "#ff00ff"}
FUSED_COLOUR = "#00c8c8"
MESSAGE_COLOURS = {"delivered": "#ffffff", "lost": "#ff3030", "rejected": "#ff9900"}
KILL_COLOUR, MISS_COLOUR, LEAK_COLOUR = "#30ff30", "#ffff00", "#ff0000"

LEGEND = [
    ("threat (boost)", PHASE_COLOURS["boost"]),
    ("threat (midcourse)", PHASE_COLOURS["midcourse"]),
    ("threat (re-entry)", PHASE_COLOURS["re-entry"]),
    ("fused track", FUSED_COLOUR),
    ("message delivered", MESSAGE_COLOURS["delivered"]),
    ("message lost", MESSAGE_COLOURS["lost"]),
    ("message rejected", MESSAGE_COLOURS["rejected"]),
    ("intercept: kill", KILL_COLOUR),
    ("intercept: miss", MISS_COLOUR),
    ("leaker impact", LEAK_COLOUR),
]


def rgba(hex_colour: str, alpha: float = 1.0) -> Color:
    h = hex_colour.lstrip("#")
    return Color(rgba=[int(h[i : i + 2], 16) for i in (0, 2, 4)] + [round(255 * alpha)])


class _Clock:
    """Seconds since the scenario epoch to ISO 8601 and back."""

    def __init__(self, epoch: dt.datetime):
        self.epoch = epoch.astimezone(dt.UTC)

    def iso(self, t_s: float) -> str:
        moment = self.epoch + dt.timedelta(seconds=float(t_s))
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def interval(self, t0: float, t1: float) -> TimeInterval:
        return TimeInterval(start=self.iso(t0), end=self.iso(t1))


def scene_document(scene: Scene) -> Document:
    """The whole scene as a czml3 document (see the module docstring for its packets)."""
    clock = _Clock(scene.scenario.epoch)
    partners = [p.name for p in scene.scenario.partners]
    colours = {p: PARTNER_COLOURS[i % len(PARTNER_COLOURS)] for i, p in enumerate(partners)}
    colours[scene.centre] = FUSED_COLOUR
    t_start = float(np.min(scene.truth.launch_time)) - CLOCK_MARGIN_S
    t_stop = float(np.max(scene.truth.impact_time)) + CLOCK_MARGIN_S
    packets: list[Packet] = []
    packets += _sites(scene, colours)
    packets += _nodes(scene, colours)
    packets += _coverage(scene, colours)
    packets += _geography(scene, colours)
    packets += _threats(scene, clock)
    for track in scene.national_tracks:
        packets.append(_track(track, "national", colours[track.source], clock))
    for track in scene.fused_tracks:
        packets.append(_track(track, "fused", FUSED_COLOUR, clock))
    packets += _messages(scene, clock)
    packets += _engagements(scene, colours, clock, t_stop)
    counts = Counter(p.id.split("/", 1)[0] for p in packets)
    header = Packet(
        id="document",
        name=f"jointbmd {scene.scenario.name} / {scene.arrangement}",
        version=CZML_VERSION,
        clock=Clock(
            interval=clock.interval(t_start, t_stop),
            currentTime=clock.iso(t_start),
            multiplier=CLOCK_MULTIPLIER,
            range=ClockRanges.CLAMPED,
            step=ClockSteps.SYSTEM_CLOCK_MULTIPLIER,
        ),
    )
    run = Packet(
        id="jointbmd",
        name="run",
        properties={
            "run": _json(
                {
                    "scenario": scene.scenario.name,
                    "arrangement": scene.arrangement,
                    "replication": scene.replication,
                    "seed": scene.seed,
                    "epoch": clock.iso(0.0),
                    "partners": partners,
                    "centre": scene.centre,
                    "colours": colours,
                    "camera": _camera(scene),
                    "counts": dict(sorted(counts.items())),
                    "legend": [{"label": label, "colour": colour} for label, colour in LEGEND],
                    "notes": [
                        f"track error: {ERROR_SIGMAS:g}σ position ellipsoid drawn "
                        f"×{ERROR_MAGNIFICATION:g}",
                        f"messages shown for at least {MESSAGE_MIN_DISPLAY_S:g} s from sending",
                        "radar coverage: ground extent against the raid's smallest RV",
                        "flyouts: straight from site to intercept point, at the model's times",
                    ],
                    "timeline": [
                        {**e.as_dict(), "time": clock.iso(e.t_s)} for e in scene.result.events
                    ],
                }
            )
        },
    )
    return Document(packets=[header, run, *packets])


def _camera(scene: Scene) -> dict:
    """Where the page's camera starts: above the middle of the scenario, seeing all of it."""
    s = scene.scenario
    points = [(p.lat_deg, p.lon_deg) for p in (*s.sites, *s.launch_areas, *s.defended_assets)]
    lat, lon = np.array(points).T
    extent_deg = max(float(np.ptp(lat)), float(np.ptp(lon)), 5.0)
    return {
        "lat_deg": float(np.mean(lat)),
        "lon_deg": float(np.mean(lon)),
        "height_m": min(2.0e7, 1.6e5 * extent_deg),
    }


def write_czml(scene: Scene, path: str | Path) -> Document:
    """Write ``scene.czml`` (compact JSON) and return the document."""
    document = scene_document(scene)
    document.save(path, indent=None)
    return document


def _tagged(layer: str, partner: str | None, record: dict | None = None) -> dict:
    properties = {"layer": layer, "partner": partner or "none"}
    if record is not None:
        properties["record"] = _json(record)
    return properties


def _json(value: dict) -> str:
    """A record as a JSON string: CZML reads an array-valued property as a list of time
    intervals, so structured records travel as text."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _cartographic(lat_deg: float, lon_deg: float, alt_m: float = 0.0) -> Position:
    return Position(cartographicDegrees=[lon_deg, lat_deg, alt_m])


def _sites(scene: Scene, colours: dict) -> list[Packet]:
    packets = []
    for site in scene.scenario.sites:
        contents = [s.name for s in site.sensors] + [u.name for u in site.fire_units]
        packets.append(
            Packet(
                id=f"site/{site.name}",
                name=site.name,
                position=_cartographic(site.lat_deg, site.lon_deg, site.alt_m or 0.0),
                point=Point(
                    pixelSize=8,
                    color=rgba(colours[site.partner]),
                    outlineColor=rgba("#ffffff"),
                    outlineWidth=1,
                ),
                label=Label(
                    text=site.name,
                    font="11px sans-serif",
                    fillColor=rgba("#ffffff"),
                    pixelOffset={"cartesian2": [10, 0]},
                    horizontalOrigin="LEFT",
                ),
                properties=_tagged(
                    "site",
                    site.partner,
                    {
                        "site": site.name,
                        "partner": site.partner,
                        "kind": site.kind,
                        "carries": contents,
                    },
                ),
            )  # fmt: skip
        )
    return packets


def node_positions(scene: Scene) -> dict[str, tuple[float, float]]:
    """(lat_deg, lon_deg) of each partner's node (the mean of its sites) and of the centre
    (its scenario location, else the mean of the partners' nodes: notional)."""

    def mean(points):
        v = np.sum(
            [[np.cos(np.radians(a)) * np.cos(np.radians(o)),
              np.cos(np.radians(a)) * np.sin(np.radians(o)), np.sin(np.radians(a))]
             for a, o in points], axis=0,
        )  # fmt: skip
        return float(np.degrees(np.arctan2(v[2], np.hypot(v[0], v[1])))), float(
            np.degrees(np.arctan2(v[1], v[0]))
        )

    nodes = {}
    for partner in scene.scenario.partners:
        points = [(s.lat_deg, s.lon_deg) for s in scene.scenario.sites if s.partner == partner.name]
        if not points:
            points = [(a.lat_deg, a.lon_deg) for a in scene.scenario.defended_assets
                      if a.partner == partner.name]  # fmt: skip
        nodes[partner.name] = mean(points) if points else (0.0, 0.0)
    centre = scene.scenario.fusion_centre
    if centre is not None and centre.lat_deg is not None:
        nodes[scene.centre] = (centre.lat_deg, centre.lon_deg)
    else:
        nodes[scene.centre] = mean(list(nodes.values()))
    return nodes


def _nodes(scene: Scene, colours: dict) -> list[Packet]:
    packets = []
    for name, (lat, lon) in node_positions(scene).items():
        is_centre = name == scene.centre
        packets.append(
            Packet(
                id=f"node/{name}",
                name=name,
                position=_cartographic(lat, lon, MESSAGE_ALTITUDE_M),
                point=Point(
                    pixelSize=12,
                    color=rgba(colours[name]),
                    outlineColor=rgba("#ffffff"),
                    outlineWidth=2,
                ),
                label=Label(
                    text=f"{name} ({'fusion centre' if is_centre else 'command node'})",
                    font="12px sans-serif",
                    fillColor=rgba("#ffffff"),
                    pixelOffset={"cartesian2": [12, -12]},
                    horizontalOrigin="LEFT",
                ),
                properties=_tagged(
                    "node",
                    None if is_centre else name,
                    {
                        "node": name,
                        "role": "fusion centre" if is_centre else "partner",
                        "location": "notional (mean of the partners' nodes)"
                        if is_centre
                        and scene.scenario.fusion_centre is not None
                        and scene.scenario.fusion_centre.lat_deg is None
                        else "mean of its sites",
                    },
                ),
            )  # fmt: skip
        )
    return packets


def _sector(lat: float, lon: float, range_m: float, boresight: float, half: float) -> list:
    if half >= 180.0:
        bearings = np.radians(np.linspace(0.0, 360.0, 121)[:-1])
        lat_r, lon_r = earth.destination(np.radians(lat), np.radians(lon), bearings, range_m,
                                         "ideal")  # fmt: skip
        points = np.degrees(np.column_stack([lat_r, lon_r]))
    else:
        bearings = np.radians(np.linspace(boresight - half, boresight + half, 61))
        lat_r, lon_r = earth.destination(np.radians(lat), np.radians(lon), bearings, range_m,
                                         "ideal")  # fmt: skip
        points = np.vstack([[lat, lon], np.degrees(np.column_stack([lat_r, lon_r]))])
    return [v for la, lo in points for v in (float(lo), float(la), 0.0)]


def _coverage(scene: Scene, colours: dict) -> list[Packet]:
    packets = []
    for radar in radar_coverage(scene):
        outline = _sector(radar["lat_deg"], radar["lon_deg"], radar["range_km"] * 1e3,
                          radar["boresight_deg"], radar["half_width_deg"])  # fmt: skip
        packets.append(
            Packet(
                id=f"coverage/{radar['name']}",
                name=f"{radar['name']} coverage",
                polygon=Polygon(
                    positions=PositionList(cartographicDegrees=outline),
                    material=Material(
                        solidColor=SolidColorMaterial(color=rgba(colours[radar["partner"]], 0.18))
                    ),
                    outline=True,
                    outlineColor=rgba(colours[radar["partner"]], 0.8),
                    height=0.0,
                ),
                properties=_tagged("coverage", radar["partner"], radar),
            )
        )
    return packets


def _geography(scene: Scene, colours: dict) -> list[Packet]:
    packets = []
    for asset in scene.scenario.defended_assets:
        packets.append(
            Packet(
                id=f"asset/{asset.name}",
                name=asset.name,
                position=_cartographic(asset.lat_deg, asset.lon_deg),
                point=Point(
                    pixelSize=6,
                    color=rgba("#ffffff"),
                    outlineColor=rgba(colours[asset.partner]),
                    outlineWidth=2,
                ),
                label=Label(
                    text=asset.name,
                    font="10px sans-serif",
                    fillColor=rgba("#dddddd"),
                    pixelOffset={"cartesian2": [8, 8]},
                    horizontalOrigin="LEFT",
                ),
                properties=_tagged(
                    "asset",
                    asset.partner,
                    {
                        "asset": asset.name,
                        "partner": asset.partner,
                        "value": asset.value,
                    },
                ),
            )  # fmt: skip
        )
    for area in scene.scenario.launch_areas:
        radius = max(area.radius_km * 1e3, 20e3)
        packets.append(
            Packet(
                id=f"launch-area/{area.name}",
                name=area.name,
                position=_cartographic(area.lat_deg, area.lon_deg),
                ellipse=Ellipse(
                    semiMajorAxis=radius,
                    semiMinorAxis=radius,
                    height=0.0,
                    material=Material(solidColor=SolidColorMaterial(color=rgba("#ff4040", 0.3))),
                    outline=True,
                    outlineColor=rgba("#ff4040"),
                ),
                label=Label(
                    text=area.name,
                    font="10px sans-serif",
                    fillColor=rgba("#ffaaaa"),
                    pixelOffset={"cartesian2": [8, -8]},
                    horizontalOrigin="LEFT",
                ),
                properties=_tagged(
                    "launch-area",
                    None,
                    {
                        "launch_area": area.name,
                        "radius_km": area.radius_km,
                    },
                ),
            )  # fmt: skip
        )
    return packets


def threat_record(scene: Scene, k: int) -> dict:
    """What the viewer shows on a click on threat k: the run's outcome and who saw it when."""
    outcome = scene.result.threats[k]
    picture = scene.picture
    detected = {}
    for partner in picture.partners:
        view = picture.own[partner]
        detected[partner] = {
            "first_detection_s": _opt(view.first_detection_s[k]),
            "first_firm_track_s": _opt(view.first_firm_track_s[k]),
        }
    if picture.fused is not None:
        detected[scene.centre] = {
            "first_detection_s": _opt(picture.fused.first_detection_s[k]),
            "first_firm_track_s": _opt(picture.fused.first_firm_track_s[k]),
        }
    fired = [
        {"partner": f.partner, "fire_unit": f.fire_unit, "t_launch_s": round(f.t_launch_s, 1),
         "t_intercept_s": round(f.t_intercept_s, 1), "result": "kill" if f.killed else "miss"}
        for f in scene.flyouts if f.threat_id == k
    ]  # fmt: skip
    return {
        "threat_id": k,
        "raid": outcome.raid,
        "threat_type": outcome.threat_type,
        "aimpoint": outcome.aimpoint,
        "aimpoint_partner": outcome.aimpoint_partner,
        "launch_time_s": outcome.launch_time_s,
        "impact_time_s": round(outcome.impact_time_s, 1),
        "detected": detected,
        "first_firm_track_s (decider)": outcome.first_firm_track_s,
        "fired": fired,
        "engaged_by": outcome.engaged_by,
        "outcome": "killed" if outcome.killed else "leaked",
        "intercept_altitude_km": outcome.intercept_altitude_km,
        "phases": [
            {"phase": name, "from_s": round(a, 1), "to_s": round(b, 1)}
            for name, a, b in scene.phases(k)
        ],
    }


def _opt(value: float) -> float | None:
    return round(float(value), 1) if np.isfinite(value) else None


def _samples(times: np.ndarray, values: np.ndarray) -> list[float]:
    return np.column_stack([times, values]).ravel().tolist()


def _thin(t: np.ndarray, step_s: float) -> np.ndarray:
    """Indices of samples at least ``step_s`` apart, always keeping the first and the last."""
    keep, last = [], -np.inf
    for i, ti in enumerate(t):
        if ti - last >= step_s:
            keep.append(i)
            last = ti
    if keep[-1] != t.size - 1:
        keep.append(t.size - 1)
    return np.array(keep)


def _threats(scene: Scene, clock: _Clock) -> list[Packet]:
    truth = scene.truth
    epoch = clock.iso(0.0)
    packets = []
    for k in range(truth.n):
        alive = np.isfinite(truth.r_ecef[k, :, 0])
        times = truth.times[alive]
        r = truth.r_ecef[k, alive]
        idx = _thin(times, TRUTH_SAMPLE_S)
        phases = scene.phases(k)
        t0, t1 = float(times[0]), float(times[-1])
        colour = TimeIntervalCollection(values=[
            IntervalValue(start=clock.iso(a), end=clock.iso(b),
                          value=rgba(PHASE_COLOURS[name]))
            for name, a, b in phases
        ])  # fmt: skip
        outcome = scene.result.threats[k]
        packets.append(
            Packet(
                id=f"threat/{k}",
                name=f"threat {k} ({outcome.threat_type} at {outcome.aimpoint})",
                availability=clock.interval(t0, t1),
                position=Position(
                    epoch=epoch,
                    cartesian=_samples(times[idx], r[idx]),
                    referenceFrame="FIXED",
                    interpolationAlgorithm=InterpolationAlgorithms.LAGRANGE,
                    interpolationDegree=3,
                ),
                point=Point(
                    pixelSize=9, color=colour, outlineColor=rgba("#000000"), outlineWidth=1
                ),
                label=Label(
                    text=f"T{k}",
                    font="11px sans-serif",
                    fillColor=rgba("#ffdddd"),
                    pixelOffset={"cartesian2": [10, -10]},
                    horizontalOrigin="LEFT",
                ),
                path=CzmlPath(
                    width=2,
                    leadTime=0,
                    trailTime=3600,
                    resolution=10,
                    material=PolylineMaterial(
                        solidColor=SolidColorMaterial(color=rgba("#ff8080", 0.9))
                    ),
                ),
                properties=_tagged("threat", outcome.aimpoint_partner, threat_record(scene, k)),
            )  # fmt: skip
        )
        for name, a, b in phases:
            sel = (times >= a) & (times <= b)
            points = r[sel][:: max(1, int(TRUTH_SAMPLE_S))]
            if points.shape[0] < 2:
                continue
            packets.append(
                Packet(
                    id=f"trajectory/{k}/{name}",
                    name=f"threat {k} {name}",
                    polyline=Polyline(
                        positions=PositionList(cartesian=points.ravel().tolist()),
                        width=1.5,
                        arcType=ArcTypes.NONE,
                        material=PolylineMaterial(
                            solidColor=SolidColorMaterial(color=rgba(PHASE_COLOURS[name], 0.45))
                        ),
                    ),
                    properties=_tagged(
                        "trajectory",
                        outcome.aimpoint_partner,
                        {"threat_id": k, "phase": name, "from_s": round(a, 1), "to_s": round(b, 1)},
                    ),
                )  # fmt: skip
            )
    return packets


def error_axes(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radii (m, ``ERROR_SIGMAS`` σ, magnified) and unit quaternions [x, y, z, w] of position
    covariances ``P (m, 3, 3)``; eigenvector signs kept continuous from sample to sample so
    that interpolated orientations do not spin."""
    values, vectors = np.linalg.eigh(0.5 * (P + np.swapaxes(P, 1, 2)))
    radii = ERROR_SIGMAS * ERROR_MAGNIFICATION * np.sqrt(np.clip(values, 0.0, None))
    quaternions = np.empty((P.shape[0], 4))
    previous = None
    for i in range(P.shape[0]):
        R = vectors[i]
        if previous is not None:
            R = R * np.where(np.sum(R * previous, axis=0) < 0, -1.0, 1.0)
        if np.linalg.det(R) < 0:
            R[:, 2] = -R[:, 2]
        previous = R
        q = _quaternion(R)
        if i and np.dot(q, quaternions[i - 1]) < 0:
            q = -q
        quaternions[i] = q
    return radii, quaternions


def _quaternion(R: np.ndarray) -> np.ndarray:
    """Unit quaternion [x, y, z, w] of a rotation matrix (Shepperd's method)."""
    trace = np.trace(R)
    if trace > 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, s / 4]
    else:
        i = int(np.argmax(np.diag(R)))
        j, m = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + R[i, i] - R[j, j] - R[m, m])
        q = [0.0, 0.0, 0.0, (R[m, j] - R[j, m]) / s]
        q[i] = s / 4
        q[j] = (R[j, i] + R[i, j]) / s
        q[m] = (R[m, i] + R[i, m]) / s
    q = np.array(q)
    return q / np.linalg.norm(q)


def _track(track: TrackHistory, kind: str, colour: str, clock: _Clock) -> Packet:
    epoch = clock.iso(0.0)
    idx = _thin(track.t_s, TRACK_SAMPLE_S)
    t = track.t_s[idx]
    radii, quaternions = error_axes(track.P_ecef[idx])
    end = float(t[-1]) if t.size > 1 else float(t[0]) + TRACK_SAMPLE_S
    sigma_km = np.sqrt(np.trace(track.P_ecef[idx], axis1=1, axis2=2)) / 1e3
    record = {
        "source": track.source,
        "track_id": track.track_id,
        "threat_id (truth, for scoring)": track.threat_id,
        "from_s": round(float(t[0]), 1),
        "to_s": round(end, 1),
        "firm_from_s": None if track.firm_from_s is None else round(track.firm_from_s, 1),
        "position_sigma_km (first, last)": [round(float(sigma_km[0]), 3),
                                            round(float(sigma_km[-1]), 3)],
    }  # fmt: skip
    if track.contributors:
        record["fused_from"] = list(track.contributors)
    interp = {"interpolationAlgorithm": InterpolationAlgorithms.LINEAR}
    partner = None if kind == "fused" else track.source
    return Packet(
        id=f"{kind}/{track.source}/{track.track_id}",
        name=f"{'fused' if kind == 'fused' else track.source} track {track.track_id}",
        availability=clock.interval(float(t[0]), end),
        position=Position(epoch=epoch, cartesian=_samples(t, track.r_ecef[idx]),
                          referenceFrame="FIXED", **interp),
        orientation=Orientation(epoch=epoch, unitQuaternion=_samples(t, quaternions), **interp),
        ellipsoid=Ellipsoid(
            radii=EllipsoidRadii(epoch=epoch, cartesian=_samples(t, radii), **interp),
            material=Material(solidColor=SolidColorMaterial(color=rgba(colour, 0.35))),
            outline=False,
            # Re-tessellated every frame (its radii change): keep it coarse.
            stackPartitions=10, slicePartitions=12, subdivisions=16,
        ),
        point=Point(pixelSize=4, color=rgba(colour)),
        properties=_tagged(kind, partner, record),
    )  # fmt: skip


def _messages(scene: Scene, clock: _Clock) -> list[Packet]:
    nodes = node_positions(scene)
    packets = []
    for i, m in enumerate(scene.messages):
        (lat_a, lon_a), (lat_b, lon_b) = nodes[m.source], nodes[m.destination]
        t_end = max(m.t_arrival_s, m.t_sent_s + MESSAGE_MIN_DISPLAY_S)
        colour = rgba(MESSAGE_COLOURS[m.fate], 0.9)
        material = (
            PolylineMaterial(solidColor=SolidColorMaterial(color=colour))
            if m.fate == "delivered"
            else PolylineMaterial(polylineDash=PolylineDashMaterial(color=colour, dashLength=12))
        )
        partner = m.destination if m.source == scene.centre else m.source
        packets.append(
            Packet(
                id=f"message/{i}",
                name=f"{m.kind} {m.source} → {m.destination} ({m.fate})",
                availability=clock.interval(m.t_sent_s, t_end),
                polyline=Polyline(
                    positions=PositionList(
                        cartographicDegrees=[
                            lon_a,
                            lat_a,
                            MESSAGE_ALTITUDE_M,
                            lon_b,
                            lat_b,
                            MESSAGE_ALTITUDE_M,
                        ]
                    ),
                    width=3 if m.fate == "delivered" else 4,
                    arcType=ArcTypes.GEODESIC,
                    material=material,
                ),
                properties=_tagged(
                    "message",
                    partner,
                    {
                        "kind": m.kind,
                        "from": m.source,
                        "to": m.destination,
                        "seq": m.seq,
                        "t_sent_s": round(m.t_sent_s, 3),
                        "t_arrival_s": round(m.t_arrival_s, 3),
                        "fate": m.fate,
                        "lost_by": m.detail or None,
                    },
                ),
            )  # fmt: skip
        )
    return packets


def _engagements(scene: Scene, colours: dict, clock: _Clock, t_stop: float) -> list[Packet]:
    epoch = clock.iso(0.0)
    packets = []
    for i, f in enumerate(scene.flyouts):
        # Straight from the site to the intercept point at the model's launch and intercept
        # times (the flyout model gives times and reach, not the interceptor's path).
        packets.append(
            Packet(
                id=f"flyout/{i}",
                name=f"{f.fire_unit} at threat {f.threat_id}",
                availability=clock.interval(f.t_launch_s, f.t_intercept_s),
                position=Position(
                    epoch=epoch,
                    referenceFrame="FIXED",
                    cartesian=_samples(
                        np.array([f.t_launch_s, f.t_intercept_s]),
                        np.stack([f.r_launch_ecef, f.r_intercept_ecef]),
                    ),
                    interpolationAlgorithm=InterpolationAlgorithms.LINEAR,
                ),
                point=Point(
                    pixelSize=6,
                    color=rgba(colours[f.partner]),
                    outlineColor=rgba("#ffffff"),
                    outlineWidth=1,
                ),
                path=CzmlPath(
                    width=2,
                    leadTime=0,
                    trailTime=3600,
                    material=PolylineMaterial(
                        solidColor=SolidColorMaterial(color=rgba(colours[f.partner]))
                    ),
                ),
                properties=_tagged(
                    "flyout",
                    f.partner,
                    {
                        "fire_unit": f.fire_unit,
                        "partner": f.partner,
                        "threat_id": f.threat_id,
                        "t_launch_s": round(f.t_launch_s, 1),
                        "t_intercept_s": round(f.t_intercept_s, 1),
                        "result": "kill" if f.killed else "miss",
                    },
                ),
            )  # fmt: skip
        )
        packets.append(
            Packet(
                id=f"intercept/{i}",
                name=f"{'kill' if f.killed else 'miss'}: threat {f.threat_id} by {f.fire_unit}",
                availability=clock.interval(f.t_intercept_s, t_stop),
                position=Position(cartesian=f.r_intercept_ecef.tolist(), referenceFrame="FIXED"),
                point=Point(
                    pixelSize=14 if f.killed else 10,
                    color=rgba(KILL_COLOUR if f.killed else MISS_COLOUR),
                    outlineColor=rgba("#000000"),
                    outlineWidth=2,
                ),
                properties=_tagged(
                    "intercept",
                    f.partner,
                    {
                        "threat_id": f.threat_id,
                        "fire_unit": f.fire_unit,
                        "t_intercept_s": round(f.t_intercept_s, 1),
                        "result": "kill" if f.killed else "miss",
                        "altitude_km": round(
                            float(
                                earth.altitude(f.r_intercept_ecef, scene.truth.trajectories.model)
                            )
                            / 1e3,
                            1,
                        ),
                    },
                ),
            )  # fmt: skip
        )
    for outcome in scene.result.threats:
        if outcome.killed:
            continue
        k = outcome.threat_id
        t_impact = float(scene.truth.impact_time[k])
        r_impact = true_position(scene.truth, k, min(t_impact, float(scene.truth.times[-1])))
        if not np.all(np.isfinite(r_impact)):
            alive = np.isfinite(scene.truth.r_ecef[k, :, 0])
            r_impact = scene.truth.r_ecef[k, alive][-1]
        packets.append(
            Packet(
                id=f"leak/{k}",
                name=f"leaker: threat {k} at {outcome.aimpoint}",
                availability=clock.interval(t_impact, t_stop),
                position=Position(cartesian=r_impact.tolist(), referenceFrame="FIXED"),
                point=Point(
                    pixelSize=16,
                    color=rgba(LEAK_COLOUR),
                    outlineColor=rgba("#ffffff"),
                    outlineWidth=2,
                ),
                label=Label(
                    text=f"LEAK T{k}",
                    font="bold 12px sans-serif",
                    fillColor=rgba(LEAK_COLOUR),
                    pixelOffset={"cartesian2": [12, 12]},
                    horizontalOrigin="LEFT",
                ),
                properties=_tagged(
                    "leak",
                    outcome.aimpoint_partner,
                    {
                        "threat_id": k,
                        "aimpoint": outcome.aimpoint,
                        "impact_time_s": round(t_impact, 1),
                    },
                ),
            )  # fmt: skip
        )
    return packets


def expected_counts(scene: Scene) -> dict[str, int]:
    """How many packets of each kind the scene must hold, from the run's records alone."""
    n = scene.truth.n
    return {
        "site": len(scene.scenario.sites),
        "node": len(scene.scenario.partners) + 1,
        "coverage": len(scene.scenario.radars()),
        "asset": len(scene.scenario.defended_assets),
        "launch-area": len(scene.scenario.launch_areas),
        "threat": n,
        "national": len(scene.national_tracks),
        "fused": len(scene.fused_tracks),
        "message": len(scene.messages),
        "flyout": sum(1 for e in scene.result.events if e.kind == "shot"),
        "intercept": sum(1 for e in scene.result.events if e.kind == "intercept"),
        "leak": scene.result.leakers,
    }
