"""Objects of a threat complex: cross-sections per band and aspect, and discrimination.

In: a loaded scenario and its ``Truth`` (trajectories on the truth grid), the scenario's radars.
Out:
    - ``radar_rcs(truth, radar, band)``: the cross-section ``(n, T)`` a radar sees of each
      threat's tracked object -- the missile body until burnout, the re-entry vehicle after, at
      the aspect it presents to that radar and in that radar's band;
    - ``ObjectViews``: per (threat, radar) when the radar first holds each object of the complex
      (warhead, decoys, spent stages) above its detection floor, and the radar's
      discrimination probabilities;
    - ``classify``: for one holder, at one time, whether it believes the warhead is a warhead
      and how many other objects it believes are warheads (what the engagement fires at).

The complex is tracked as one object
    Decoys and spent stages fly with the warhead; the trackers keep one track per threat on the
    warhead's trajectory (their cost does not grow with the objects) and detection follows the
    warhead (the body before burnout): a radar must see the warhead itself to guide a kill
    vehicle at it. The other objects matter where they change a decision -- discrimination and
    the interceptors spent on them -- and they are there only for a radar that could detect
    them: a radar *holds* an object from the first instant it is in the radar's field of view
    above its refracted horizon with a mean SNR at the radar's detection floor
    (``detection_snr_db``, else the SNR of P_d = 0.5), on the threat's trajectory. A spent
    stage is taken to fly with the complex from its separation: true for the last stage, which
    separates from the re-entry vehicle at burnout; an earlier stage falls short, so this
    overstates how long it stays in view (it never carries a warhead: its effect is the shots
    it draws).

Cross-section of one object (``Signature``)
    σ(a, band) = σ_0 · 10^((A(a) + B(band)) / 10), A an aspect table in dB (nodes in degrees,
    interpolated linearly, held constant beyond the end nodes; none: 0 dB), B a dB offset per
    radar band (none: 0 dB). The aspect a is the angle between the object's nose and the line
    from the object to the radar (0: nose-on, coming at the radar). The nose is taken along the
    velocity (the truth's, by central differences on the 1 s grid, in ECEF): a re-entry vehicle
    aligns with it once in the atmosphere; a spin-stabilised one in mid-course keeps its burnout
    attitude instead, which this model does not keep (it errs by the turn of the velocity over
    the flight, tens of degrees at most). Spent stages tumble: one mean cross-section, the
    missile body's ``body_rcs_m2``, at every aspect and band.

Discrimination (``BAND_DISCRIMINATION``)
    A radar classes each object it holds: a warhead as a warhead with probability P_ww, a decoy
    as a warhead with P_dw, a spent stage with P_sw, independently per (threat, radar, object)
    -- one uniform draw each per replication, shared by all arrangements. A holder takes each
    object's call from the best of the radars it may act on (``classify``'s mask: the decision
    stage passes the radars whose data may commit the unit's interceptors) holding it by then
    (highest P_ww - P_dw, then P_ww - P_sw). A holder that holds
    the warhead and no other object does not need to discriminate: it engages the one object.
    Otherwise it engages the warhead if its call says warhead (if not, the warhead leaks from
    that holder) and every other object called a warhead: W* = W·P_ww + D·P_dw objects per
    warhead, the premise of Wilkening's model (``analysis.effectiveness``).

    The band's defaults are notional: what is public is qualitative. Discrimination in
    mid-course rests on fine range resolution (c / 2B: about 0.15 m for the ~1 GHz bandwidth an
    X-band radar can carry, several metres for the few MHz of a UHF or VHF early-warning radar,
    which therefore cannot resolve a 1-2 m re-entry vehicle from objects next to it); the
    National Research Council's *Making Sense of Ballistic Missile Defense* (2012) makes X-band
    radars the discrimination sensors of a mid-course defence and the early-warning radars
    detection and cueing sensors; Sessler et al., *Countermeasures* (UCS/MIT 2000), argue that
    decoys matched in signature defeat even X-band discrimination. The figures below honour
    that ordering; their span is wide (P_dw from about 0.05 to 1 at X band); a radar type's
    ``discrimination`` field replaces them. A radar without a band cannot tell a decoy from a
    warhead (P_ww = P_dw = 1) but tells a spent stage apart (P_sw = 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .sensors import Radar, swerling1_snr_db

FloatArray = NDArray[np.float64]

#: Notional per-band discrimination: (P_ww, P_dw, P_sw) -- see the module docstring.
BAND_DISCRIMINATION: dict[str, tuple[float, float, float]] = {
    "Ka": (0.95, 0.2, 0.0),
    "K": (0.95, 0.2, 0.0),
    "Ku": (0.95, 0.2, 0.0),
    "X": (0.95, 0.2, 0.0),
    "C": (0.9, 0.4, 0.02),
    "S": (0.9, 0.5, 0.02),
    "L": (0.85, 0.7, 0.05),
    "UHF": (0.8, 0.9, 0.1),
    "VHF": (0.8, 0.95, 0.1),
    "HF": (0.8, 1.0, 0.2),
}
#: A radar with no band (a validation sensor) cannot tell a decoy from a warhead; it tells a
#: spent stage apart (a tumbling body many times the warhead's cross-section).
NO_DISCRIMINATION = (1.0, 1.0, 0.0)

#: Sampling step (s) of the object-holding test on the truth grid (first holding errs by less).
HOLD_STEP_S = 5.0


@dataclass(frozen=True)
class Signature:
    """One object's cross-section: ``rcs_m2`` times an aspect table and a band offset (dB)."""

    rcs_m2: float
    aspect_deg: tuple[float, ...] = ()
    aspect_db: tuple[float, ...] = ()
    band_db: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_spec(
        cls,
        rcs_m2: float,
        rcs_aspect_db: Sequence[Sequence[float]] | None = None,
        rcs_band_db: Mapping[str, float] | None = None,
    ) -> Signature:
        """From the scenario's fields (aspect table as (aspect_deg, dB) pairs, band offsets)."""
        nodes = sorted((float(a), float(d)) for a, d in (rcs_aspect_db or ()))
        return cls(
            float(rcs_m2),
            tuple(a for a, _ in nodes),
            tuple(d for _, d in nodes),
            tuple(sorted((str(b), float(d)) for b, d in (rcs_band_db or {}).items())),
        )

    def rcs(self, aspect_rad: ArrayLike, band: str | None) -> FloatArray:
        """Cross-section (m²) at aspects ``aspect_rad`` (0: nose-on) in ``band``."""
        aspect = np.asarray(aspect_rad, float)
        db = np.full(aspect.shape, dict(self.band_db).get(band, 0.0) if band else 0.0)
        if self.aspect_deg:
            db = db + np.interp(np.degrees(aspect), self.aspect_deg, self.aspect_db)
        return self.rcs_m2 * 10.0 ** (db / 10.0)


@dataclass(frozen=True, eq=False)
class ThreatObjects:
    """Each threat's objects (arrays over threats, ``(n,)``): the warhead's and the decoys'
    signatures, decoys per warhead, the body's cross-section and when each stage separates
    (absolute times; the last at burnout)."""

    warhead: tuple[Signature, ...]
    decoy: tuple[Signature | None, ...]
    decoys: NDArray[np.int64]
    body_rcs_m2: FloatArray
    separation_s: tuple[FloatArray, ...]
    burnout_s: FloatArray

    @property
    def max_decoys(self) -> int:
        return int(self.decoys.max(initial=0))

    @property
    def max_stages(self) -> int:
        return max((len(s) for s in self.separation_s), default=0)


def threat_objects(scenario, truth) -> ThreatObjects:
    """The objects of every threat of ``truth`` from its scenario's threat types (cached on the
    truth: fixed per scenario)."""
    cached = getattr(truth, "_objects", None)
    if cached is not None:
        return cached
    types = {t.name: t for t in scenario.threat_types}
    warhead, decoy, count, body, separation = [], [], [], [], []
    for k, name in enumerate(truth.threat_type):
        t = types[name]
        rv = t.reentry_vehicle
        warhead.append(Signature.from_spec(rv.rcs_m2, rv.rcs_aspect_db, rv.rcs_band_db))
        d = t.decoys
        decoy.append(
            None if d is None else Signature.from_spec(d.rcs_m2, d.rcs_aspect_db, d.rcs_band_db)
        )
        count.append(0 if d is None else d.count)
        body.append(t.body_rcs_m2)
        burns = np.cumsum([s.burn_time_s for s in t.stages])
        separation.append(truth.launch_time[k] + burns)
    objects = ThreatObjects(
        tuple(warhead),
        tuple(decoy),
        np.array(count, np.int64),
        np.array(body, float),
        tuple(separation),
        truth.launch_time + truth.burn_time,
    )
    object.__setattr__(truth, "_objects", objects)
    return objects


def _velocity_ecef(truth) -> FloatArray:
    """Truth velocities (n, T, 3) in ECEF by central differences, one-sided at the ends of each
    flight (cached on the truth)."""
    cached = getattr(truth, "_velocity_ecef", None)
    if cached is None:
        r = truth.r_ecef
        d = np.diff(r, axis=1) / np.diff(truth.times)[None, :, None]
        nan = np.full_like(r[:, :1], np.nan)
        forward = np.concatenate([d, nan], axis=1)
        backward = np.concatenate([nan, d], axis=1)
        central = 0.5 * (forward + backward)
        cached = np.where(
            np.isfinite(central), central, np.where(np.isfinite(forward), forward, backward)
        )
        object.__setattr__(truth, "_velocity_ecef", cached)
    return cached


def aspect(r_ecef: FloatArray, v_ecef: FloatArray, site_ecef: FloatArray) -> FloatArray:
    """Angle (rad) between the nose (along ``v``) and the line from the object to the site:
    0 nose-on, π tail-on. NaN where the object is not flying."""
    los = np.asarray(site_ecef, float) - r_ecef
    dot = np.einsum("...i,...i->...", los, v_ecef)
    norm = np.linalg.norm(los, axis=-1) * np.linalg.norm(v_ecef, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.arccos(np.clip(dot / norm, -1.0, 1.0))


def radar_rcs(objects: ThreatObjects, truth, radar: Radar, band: str | None) -> FloatArray:
    """The cross-section (n, T) ``radar`` sees of each threat's tracked object: the missile body
    (``body_rcs_m2``) until burnout, then the warhead at its aspect to the radar, in ``band``."""
    a = aspect(truth.r_ecef, _velocity_ecef(truth), radar.site_ecef)
    out = np.empty(a.shape)
    for k, sig in enumerate(objects.warhead):
        out[k] = sig.rcs(a[k], band)
    boost = truth.times[None, :] < objects.burnout_s[:, None]
    return np.where(boost, objects.body_rcs_m2[:, None], out)


def tracked_rcs(scenario, truth, radar: Radar) -> FloatArray:
    """``radar_rcs`` of a scenario radar (its band from its type; cached on the truth per radar
    site and band)."""
    band = next(t.band for _, x, t in scenario.radars() if x.name == radar.name)
    key = (radar.name, radar.lat, radar.lon, radar.alt, band)
    cache = getattr(truth, "_tracked_rcs", None)
    if cache is None:
        cache = {}
        object.__setattr__(truth, "_tracked_rcs", cache)
    if key not in cache:
        cache[key] = radar_rcs(threat_objects(scenario, truth), truth, radar, band)
    return cache[key]


def discrimination_of(radar_type) -> tuple[float, float, float]:
    """(P_ww, P_dw, P_sw) of a scenario radar type: its own field, else its band's default."""
    d = radar_type.discrimination
    if d is not None:
        return (d.p_warhead_as_warhead, d.p_decoy_as_warhead, d.p_stage_as_warhead)
    if radar_type.band is None:
        return NO_DISCRIMINATION
    return BAND_DISCRIMINATION[radar_type.band]


@dataclass(frozen=True, eq=False)
class ObjectViews:
    """When each radar first holds each object: ``warhead (n, R)``, ``decoy (n, R)`` (every
    decoy of a threat alike), ``stage (n, R, S)`` (inf: never); the radars' partners and
    discrimination ``p (R, 3)`` (P_ww, P_dw, P_sw); their order of preference ``rank (R,)``."""

    warhead: FloatArray
    decoy: FloatArray
    stage: FloatArray
    partner: tuple[str, ...]
    p: FloatArray
    rank: NDArray[np.int64]
    decoys: NDArray[np.int64]


def object_views(scenario, truth, radars: Sequence[Radar]) -> ObjectViews:
    """``ObjectViews`` of the scenario's radars (in ``scenario.radars()`` order; cached on the
    truth per radar set)."""
    types = {x.name: t for _, x, t in scenario.radars()}
    # Everything the views depend on beyond the truth (a sweep may change any of it).
    key = tuple((r, types[r.name].band, discrimination_of(types[r.name])) for r in radars)
    cache = getattr(truth, "_object_views", None)
    if cache is None:
        cache = {}
        object.__setattr__(truth, "_object_views", cache)
    if key in cache:
        return cache[key]
    objects = threat_objects(scenario, truth)
    step = max(int(round(HOLD_STEP_S / float(np.median(np.diff(truth.times))))), 1)
    times = truth.times[::step]
    r = truth.r_ecef[:, ::step]
    v = _velocity_ecef(truth)[:, ::step]
    n, n_r, n_s = truth.n, len(radars), objects.max_stages
    warhead = np.full((n, n_r), np.inf)
    decoy = np.full((n, n_r), np.inf)
    stage = np.full((n, n_r, max(n_s, 1)), np.inf)
    p = np.zeros((n_r, 3))
    flying = ~np.isnan(r[..., 0])
    after = times[None, :] >= objects.burnout_s[:, None]
    for q, radar in enumerate(radars):
        band = types[radar.name].band
        p[q] = discrimination_of(types[radar.name])
        floor = (
            radar.detection_snr_db
            if radar.detection_snr_db is not None
            else float(swerling1_snr_db(0.5, radar.pfa))
        )
        seen = np.zeros(flying.shape, bool)
        seen[flying] = radar.visible(r[flying])
        _, _, rng_m = radar.aer(np.where(flying[..., None], r, 0.0))
        a = aspect(r, v, radar.site_ecef)

        def first(ok: NDArray[np.bool_]) -> FloatArray:
            return np.where(ok.any(axis=1), times[np.argmax(ok, axis=1)], np.inf)

        with np.errstate(invalid="ignore", divide="ignore"):
            body = radar.snr_db(rng_m, objects.body_rcs_m2[:, None]) >= floor
            for k in range(n):
                rv = radar.snr_db(rng_m[k], objects.warhead[k].rcs(a[k], band)) >= floor
                warhead[k, q] = first((seen[k] & after[k] & rv)[None])[0]
                sig = objects.decoy[k]
                if sig is not None and objects.decoys[k] > 0:
                    dv = radar.snr_db(rng_m[k], sig.rcs(a[k], band)) >= floor
                    decoy[k, q] = first((seen[k] & after[k] & dv)[None])[0]
                for s, t_sep in enumerate(objects.separation_s[k]):
                    ok = seen[k] & body[k] & (times >= t_sep)
                    stage[k, q, s] = first(ok[None])[0]
    # Preference: the better discriminator first (P_ww - P_dw, then P_ww - P_sw), then file order.
    rank = np.lexsort((np.arange(n_r), -(p[:, 0] - p[:, 2]), -(p[:, 0] - p[:, 1])))
    views = ObjectViews(
        warhead,
        decoy,
        stage[:, :, :n_s],
        tuple(r.partner for r in radars),
        p,
        np.argsort(rank),
        objects.decoys,
    )
    cache[key] = views
    return views


def discrimination_draws(rng: np.random.Generator, views: ObjectViews) -> FloatArray:
    """One uniform per (threat, radar, object) -- object 0 the warhead, 1..D the decoys, then the
    stages -- for one replication, and a last column (radar 0's is used) that orders the
    objects an engagement fires at."""
    n, n_r = views.warhead.shape
    width = 1 + int(views.decoys.max(initial=0)) + views.stage.shape[2] + 1
    return rng.random((n, n_r, width))


def classify(
    views: ObjectViews,
    draws: FloatArray,
    k: int,
    t: float,
    radars: NDArray[np.bool_],
) -> tuple[bool, int, float]:
    """What a holder whose radars are ``radars (R,)`` believes of threat ``k``'s objects at time
    ``t``: whether it engages the warhead, how many other objects it believes are warheads
    (module docstring), and when it first held the first of those (inf: none). A holder none
    of whose radars holds the warhead engages it (it acts on another holder's track, and on
    that track's object)."""
    order = np.argsort(views.rank)
    usable = [q for q in order if radars[q]]

    def call(first_held: FloatArray, column: int, prob: int) -> tuple[bool, float] | None:
        for q in usable:
            if first_held[q] <= t:
                held = float(np.min(first_held[radars]))
                return bool(draws[k, q, column] < views.p[q, prob]), held
        return None  # not held

    warhead = call(views.warhead[k], 0, 0)
    others: list[tuple[bool, float]] = []
    for d in range(int(views.decoys[k])):
        c = call(views.decoy[k], 1 + d, 1)
        if c is not None:
            others.append(c)
    base = 1 + int(views.decoys.max(initial=0))
    for s in range(views.stage.shape[2]):
        c = call(views.stage[k, :, s], base + s, 2)
        if c is not None:
            others.append(c)
    false = [held for as_warhead, held in others if as_warhead]
    first = min(false, default=np.inf)
    if warhead is None or not others:
        return True, len(false), first
    return warhead[0], len(false), first


__all__ = [
    "BAND_DISCRIMINATION",
    "ObjectViews",
    "Signature",
    "ThreatObjects",
    "aspect",
    "classify",
    "discrimination_draws",
    "discrimination_of",
    "object_views",
    "radar_rcs",
    "threat_objects",
    "tracked_rcs",
]
