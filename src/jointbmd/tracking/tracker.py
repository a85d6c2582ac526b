"""Multi-target tracker: gating, optimal assignment, initiation, confirmation and deletion.

In: a time-ordered stream of radar scans (the sensors stage's ``Measurements``, one per sensor,
split into scans by time) and, optionally, launch reports that cue initiation. Out: the live
tracks as a :class:`TrackBatch` after every scan, and the whole history as a :class:`TrackLog`
(one row per track per scan: time, ECI state, covariance, confirmed and firm flags, quality) for
scoring and for the exchange.

One scan (:meth:`Tracker.step`):

1. Predict every track to the scan time (batched EKF or UKF, :mod:`.filters`).
2. Gate: the squared Mahalanobis distance d² = νᵀ S⁻¹ ν of every track-detection pair, with
   S = Pzz + R_detection, against the chi-square 3-dof quantile of ``gate_probability``.
3. Associate: a globally optimal one-to-one assignment (Munkres, via
   :func:`scipy.optimize.linear_sum_assignment`) minimising Σ (d² + ln det S) -- the negative
   log-likelihood up to a constant -- over gated pairs only.
4. Update the assigned tracks in one batch; the others coast on their prediction. A track born
   from a single uncued detection takes its second detection by two-point differencing
   (:func:`.initiation.two_point_from_positions`) instead of a filter update: with a diffuse
   velocity prior the predicted position is tens of km off, too far for the radar's
   linearisation, and the EKF update would come out overconfident.
5. Manage: a track scores a hit or, if it should have been seen (predicted elevation above the
   radar's horizon, or a caller's ``coverage`` rule), a miss. A new track is *tentative*; it is
   *confirmed* when it has ``confirm_m`` hits in its first ``confirm_n`` scans, and deleted as
   soon as that can no longer happen. A confirmed track is deleted after ``delete_misses``
   consecutive misses, when its position σ exceeds ``max_position_sigma_m``, or when it is
   predicted ``5 km`` below the surface (it has impacted).
6. Initiate a tentative track on every unassigned detection: cued by a launch report that fits
   (:func:`.initiation.cued_prior`), else a single-point prior with a diffuse velocity.

Quality and "firm". A track's quality figure is its position uncertainty
σ_pos = sqrt(trace P_rr) (m, the RSS of the three 1-σ axes). A track is **firm** when it is
confirmed (M of N) *and* σ_pos ≤ ``firm_position_sigma_m`` (default 1 km) at that time; the
flag can drop again while a track coasts. Engagement planning may launch only on firm tracks.

References: Blackman and Popoli (1999) §6 (track initiation, M-of-N confirmation) and §9.2
(gating); Bar-Shalom et al. (2001) §7.4 (validation gate); Stone Soup's roles (tracker,
hypothesiser, data associator, initiator, deleter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment
from scipy.stats import chi2

from jointbmd.arrays import FloatArray

from .. import earth
from .filters import (
    ExtendedKalmanPredictor,
    ExtendedKalmanUpdater,
    MeasurementPrediction,
    UnscentedKalmanPredictor,
    UnscentedKalmanUpdater,
    inverse_3x3,
)
from .initiation import (
    MAX_CUE_GROUND_SPEED_M_S,
    _cue_fits,
    _cued_prior_from_fix,
    _single_point_from_fix,
    launch_point,
    position_fix,
    two_point_from_positions,
)
from .models import BallisticTransition, RadarMeasurementModel, ThrustEnvelope

_NO_INDEX = np.empty(0, np.intp)  # no rows or columns (never written to)

#: A launch report's time is taken as the launch time plus at most this many of its σ (the
#: latest the object can have been launched, hence the longest it may still be in boost).
_LAUNCH_TIME_SIGMAS = 3.0

__all__ = [
    "Scan",
    "TrackBatch",
    "TrackLog",
    "Tracker",
    "associate",
    "gate",
    "run_tracker",
    "split_scans",
]


@dataclass(frozen=True)
class Scan:
    """Detections of one sensor at one time: ``z (m, 3)`` = (range_m, az, el), ``cov (m, 3, 3)``,
    ``truth_id (m,)`` (-1 when unknown; carried to the log for scoring, never used to track)."""

    sensor: str
    site_lat: float
    site_lon: float
    site_alt: float
    t: float
    z: FloatArray
    cov: FloatArray
    truth_id: NDArray[np.int64]


def split_scans(measurements: Iterable[object]) -> list[Scan]:
    """Split per-sensor ``Measurements`` into scans (equal times), ordered by time.

    Each item needs ``sensor``, ``site_lat``, ``site_lon``, ``site_alt``, ``t (M,)``,
    ``z (M, 3)``, ``cov (M, 3, 3)`` and optionally ``truth_id (M,)`` and ``scan_t (S,)``, the
    times the radar looked: a look that detected nothing becomes an empty scan, so the tracks it
    should have seen are charged a miss. Scans at the same time keep the order of
    ``measurements``.
    """
    scans: list[tuple[float, int, Scan]] = []
    for order, meas in enumerate(measurements):
        t = np.asarray(meas.t, float)
        z = np.asarray(meas.z, float).reshape(-1, 3)
        cov = np.asarray(meas.cov, float).reshape(-1, 3, 3)
        truth = getattr(meas, "truth_id", None)
        truth = np.full(t.shape, -1, np.int64) if truth is None else np.asarray(truth, np.int64)
        looks = getattr(meas, "scan_t", None)
        looks = t if looks is None else np.concatenate([t, np.asarray(looks, float)])
        for time in np.unique(looks):
            sel = t == time
            scan = Scan(
                str(getattr(meas, "sensor", "")),
                float(meas.site_lat),
                float(meas.site_lon),
                float(meas.site_alt),
                float(time),
                z[sel],
                cov[sel],
                truth[sel],
            )
            scans.append((float(time), order, scan))
    scans.sort(key=lambda item: (item[0], item[1]))
    return [scan for _, _, scan in scans]


@dataclass(frozen=True)
class TrackBatch:
    """Live tracks at one moment: ``t (k,)``, ECI ``x (k, 6)``, ``P (k, 6, 6)``,
    ``track_id (k,)``, ``confirmed (k,)``, ``firm (k,)``, quality ``position_sigma_m (k,)``,
    ``cued (k,)`` (initiated from a launch report)."""

    t: FloatArray
    x: FloatArray
    P: FloatArray
    track_id: NDArray[np.int64]
    confirmed: NDArray[np.bool_]
    firm: NDArray[np.bool_]
    position_sigma_m: FloatArray
    cued: NDArray[np.bool_]

    @property
    def n(self) -> int:
        return int(self.track_id.size)


@dataclass(frozen=True)
class TrackLog:
    """Track history, one row per live track per scan, ordered by time of the scan.

    ``track_id (R,)``, ``t (R,)``, ``x (R, 6)``, ``P (R, 6, 6)`` (ECI), ``confirmed (R,)``,
    ``firm (R,)``, ``position_sigma_m (R,)``, ``updated (R,)`` (a detection was assigned at this
    scan), ``detection_truth_id (R,)`` (truth id of that detection, -1 if none or unknown; for
    scoring only), ``sensor (R,)`` (the scan's sensor).
    """

    track_id: NDArray[np.int64]
    t: FloatArray
    x: FloatArray
    P: FloatArray
    confirmed: NDArray[np.bool_]
    firm: NDArray[np.bool_]
    position_sigma_m: FloatArray
    updated: NDArray[np.bool_]
    detection_truth_id: NDArray[np.int64]
    sensor: NDArray[np.str_]

    @property
    def track_ids(self) -> NDArray[np.int64]:
        return np.unique(self.track_id)

    def select(self, track_id: int) -> TrackLog:
        """The rows of one track."""
        sel = self.track_id == track_id
        return TrackLog(*(getattr(self, f)[sel] for f in self.__dataclass_fields__))

    def first_firm_time(self, track_id: int) -> float | None:
        """Time the track was first firm, or None."""
        sel = (self.track_id == track_id) & self.firm
        return float(self.t[sel].min()) if np.any(sel) else None

    def truth_of(self, track_id: int) -> int:
        """Truth id most often assigned to the track (-1 if none): for scoring."""
        ids = self.detection_truth_id[(self.track_id == track_id) & (self.detection_truth_id >= 0)]
        return int(np.bincount(ids).argmax()) if ids.size else -1


def gate(mp: MeasurementPrediction, z: ArrayLike, R: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Squared Mahalanobis distances and log-determinants of S for all track-detection pairs.

    ``mp`` predicts k tracks; ``z (m, 3)``, ``R (m, 3, 3)``. Returns ``d2 (k, m)`` and
    ``log_det_s (k, m)``.
    """
    z = np.asarray(z, float).reshape(-1, 3)
    R = np.asarray(R, float).reshape(-1, 3, 3)
    return _gate_terms(mp, z, R)[:2]


def _gate_terms(
    mp: MeasurementPrediction, z: FloatArray, R: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """`gate`'s d² (k, m) and ln det S (k, m), with the innovations ν (k, m, 3), S and S⁻¹
    (k, m, 3, 3) it computes them from: the update of an assigned pair needs the same ν, S and
    S⁻¹, so the tracker takes them from here instead of computing them again."""
    s = mp.Pzz[:, None] + R[None, :]
    nu = RadarMeasurementModel.residual(z[None, :, :], mp.z[:, None, :])
    s_inv = inverse_3x3(s)
    d2 = np.einsum("...i,...ij,...j->...", nu, s_inv, nu)  # as `mahalanobis_squared`
    return d2, np.linalg.slogdet(s)[1], nu, s, s_inv


def associate(
    d2: ArrayLike, log_det_s: ArrayLike, threshold: float
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Optimal one-to-one assignment of tracks (rows) to detections (columns) among the pairs
    with d² ≤ threshold, minimising Σ (d² + ln det S). Returns (track indices, detection
    indices)."""
    d2 = np.asarray(d2, float)
    inside = d2 <= threshold
    if d2.size == 0 or not inside.any():
        return np.empty(0, np.intp), np.empty(0, np.intp)
    cost = np.where(inside, d2 + np.asarray(log_det_s, float), 0.0)
    # Outside pairs cost more than any set of inside pairs, so they are taken only when nothing
    # else is left, and then dropped.
    big = 2.0 * (np.abs(cost).sum() + 1.0)
    rows, cols = linear_sum_assignment(np.where(inside, cost, big))
    keep = inside[rows, cols]
    return rows[keep], cols[keep]


class Tracker:
    """A national tracker: holds the track arrays and updates them one scan at a time.

    The constructor only stores parameters (so a tracker can be rebuilt from them); the track
    arrays start empty. See the module docstring for the algorithm.

    Parameters
    ----------
    model:
        Earth model, the same as the truth's (``"full"`` or ``"ideal"``).
    filter:
        ``"ekf"`` or ``"ukf"``.
    q:
        White acceleration noise PSD (m²/s³) of :class:`.BallisticTransition`.
    gate_probability:
        Probability mass of the chi-square (3 dof) validation gate.
    confirm_m, confirm_n:
        M-of-N confirmation over a track's first N in-coverage scans.
    delete_misses:
        Consecutive in-coverage misses that delete a confirmed track.
    firm_position_sigma_m:
        Largest σ_pos of a firm track.
    max_position_sigma_m:
        A confirmed track whose σ_pos grows beyond this is deleted.
    q_manoeuvre, manoeuvre_memory, manoeuvre_probability:
        Adjustable process noise: the white acceleration noise PSD (m²/s³) of a track in
        manoeuvre, the fading memory of its NIS average and the probability of the
        chi-square test that declares it (:meth:`_manoeuvre_noise`). 10⁴ m²/s³ is an
        acceleration of about 30 m/s² over a 10 s revisit (a² Δt; notional).
    thrust:
        The boost of the threats the tracker may meet (:class:`.ThrustEnvelope`): a track that
        may still be in boost is predicted with process noise covering the largest thrust
        acceleration any of them can still have (:meth:`_manoeuvre_noise`). None: no such
        knowledge, the NIS test alone.
    initial_velocity_sigma_m_s, cue_velocity_sigma_m_s:
        Velocity σ of single-point and cued priors.
    min_elevation_rad:
        A track is expected to be seen by a radar when predicted above this elevation (unless
        :meth:`step` gets a ``coverage`` rule).
    """

    def __init__(
        self,
        model: earth.Model = "full",
        filter: str = "ekf",
        q: float = 1.0,
        max_step: float = 10.0,
        gate_probability: float = 0.9999,
        confirm_m: int = 3,
        confirm_n: int = 5,
        delete_misses: int = 3,
        firm_position_sigma_m: float = 1000.0,
        max_position_sigma_m: float = 50_000.0,
        initial_velocity_sigma_m_s: float = 4000.0,
        cue_velocity_sigma_m_s: float = 1000.0,
        min_elevation_rad: float = 0.0,
        q_manoeuvre: float = 1.0e4,
        manoeuvre_memory: float = 0.8,
        manoeuvre_probability: float = 0.99,
        thrust: ThrustEnvelope | None = None,
    ):
        if filter not in ("ekf", "ukf"):
            raise ValueError(f"filter must be 'ekf' or 'ukf', not {filter!r}")
        if not 1 <= confirm_m <= confirm_n <= 62:
            raise ValueError("need 1 <= confirm_m <= confirm_n <= 62")
        self.model = model
        self.filter = filter
        self.q = q
        self.max_step = max_step
        self.gate_probability = gate_probability
        self.confirm_m = confirm_m
        self.confirm_n = confirm_n
        self.delete_misses = delete_misses
        self.firm_position_sigma_m = firm_position_sigma_m
        self.max_position_sigma_m = max_position_sigma_m
        self.initial_velocity_sigma_m_s = initial_velocity_sigma_m_s
        self.cue_velocity_sigma_m_s = cue_velocity_sigma_m_s
        self.min_elevation_rad = min_elevation_rad
        self.q_manoeuvre = q_manoeuvre
        self.manoeuvre_memory = manoeuvre_memory
        self.thrust = thrust
        # The fading average of a consistent track's NIS has mean 3 and, to second order, the
        # spread of chi-square with 3 w degrees of freedom divided by w, w = (1 + a) / (1 - a)
        # the memory's effective number of scans (Bar-Shalom, Li & Kirubarajan 2001, §11.2.2).
        w = (1.0 + manoeuvre_memory) / (1.0 - manoeuvre_memory)
        self._manoeuvre_threshold = float(chi2.ppf(manoeuvre_probability, 3.0 * w) / w)
        self.reset()

    # -- state ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Drop all tracks, cues and history."""
        transition = BallisticTransition(self.model, self.q, self.max_step)
        if self.filter == "ekf":
            self._predictor = ExtendedKalmanPredictor(transition)
            self._updater = ExtendedKalmanUpdater()
        else:
            self._predictor = UnscentedKalmanPredictor(transition)
            self._updater = UnscentedKalmanUpdater()
        self._gate_threshold = float(chi2.ppf(self.gate_probability, 3))
        self._x = np.zeros((0, 6))
        self._P = np.zeros((0, 6, 6))
        self._t = np.zeros(0)
        self._id = np.zeros(0, np.int64)
        self._hits = np.zeros(0, np.int64)  # bit i: hit at the i-th in-coverage scan (0 = latest)
        self._scans = np.zeros(0, np.int64)  # in-coverage scans since birth, birth included
        self._misses = np.zeros(0, np.int64)  # consecutive in-coverage misses
        self._confirmed = np.zeros(0, bool)
        self._cued = np.zeros(0, bool)
        self._nis = np.zeros(0)  # fading average of the normalised innovations squared
        self._n_updates = np.zeros(0, np.int64)  # detections assigned, birth included
        self._fix_r = np.zeros((0, 3))  # the birth detection's ECI position fix ...
        self._fix_P = np.zeros((0, 3, 3))  # ... its covariance ...
        self._fix_t = np.zeros(0)  # ... and time, for two-point differencing
        self._launch_latest = np.zeros(0)  # latest time the tracked object can have launched
        self._next_id = 0
        self._cues: list[object] = []
        self._cue_launch: dict[int, tuple[FloatArray, FloatArray]] = {}  # by index in _cues
        self._models: dict[tuple[float, float, float], RadarMeasurementModel] = {}
        # The log, one entry per scan and per initiation: (track_id, t, x, P, confirmed, sigma,
        # updated, detection_truth_id) arrays of the rows, and the sensor (`log` joins them).
        self._log: list[tuple[np.ndarray, ...]] = []
        self._log_sensors: list[str] = []
        # Radius of a sphere that holds the whole Earth model's surface: a position outside it
        # cannot be below the surface, so `_step` skips the geodetic altitude there.
        self._outer_radius2 = (earth.WGS84_A if self.model == "full" else earth.R_IDEAL) ** 2

    def cue(self, report: object) -> None:
        """Add a launch report (``LaunchReport``-like) that may cue later initiations."""
        self._cues.append(report)

    def _measurement_model(self, scan: object) -> RadarMeasurementModel:
        key = (float(scan.site_lat), float(scan.site_lon), float(scan.site_alt))
        if key not in self._models:
            self._models[key] = RadarMeasurementModel(*key, model=self.model)
        return self._models[key]

    def _sigma(self, P: FloatArray) -> FloatArray:
        return np.sqrt(np.trace(P[:, :3, :3], axis1=-2, axis2=-1))

    def tracks(self) -> TrackBatch:
        """The live tracks."""
        sigma = self._sigma(self._P)
        return TrackBatch(
            self._t.copy(),
            self._x.copy(),
            self._P.copy(),
            self._id.copy(),
            self._confirmed.copy(),
            self._confirmed & (sigma <= self.firm_position_sigma_m),
            sigma,
            self._cued.copy(),
        )

    # -- one scan ------------------------------------------------------------------------------

    def step(
        self,
        t: float,
        scan: object,
        coverage: Callable[[FloatArray], NDArray[np.bool_]] | None = None,
    ) -> TrackBatch:
        """Process one scan of one sensor at time t and return the live tracks.

        ``scan`` has ``site_lat``, ``site_lon``, ``site_alt``, ``z (m, 3)``, ``cov (m, 3, 3)``
        and optionally ``truth_id (m,)`` and ``sensor`` (a :class:`Scan` or the sensors stage's
        ``Measurements``); all its detections are taken at time t. ``coverage``, if given, maps
        the tracks' predicted ECEF positions (k, 3) to whether the sensor should have seen them
        (a radar's ``visible``); by default a track should have been seen when predicted above
        ``min_elevation_rad`` from the site.
        """
        self._step(t, scan, coverage)
        return self.tracks()

    def _step(
        self,
        t: float,
        scan: object,
        coverage: Callable[[FloatArray], NDArray[np.bool_]] | None = None,
    ) -> None:
        """`step` without building the returned `TrackBatch` (`run_tracker` only needs the log)."""
        t = float(t)
        mm = self._measurement_model(scan)
        z = np.asarray(scan.z, float).reshape(-1, 3)
        R = np.asarray(scan.cov, float).reshape(-1, 3, 3)
        truth = getattr(scan, "truth_id", None)
        truth = np.full(len(z), -1, np.int64) if truth is None else np.asarray(truth, np.int64)
        sensor = str(getattr(scan, "sensor", ""))
        k = self._id.size
        rows = cols = _NO_INDEX
        if k:
            x, P = self._predictor.predict(self._x, self._P, t - self._t)
            P = self._manoeuvre_noise(P, t - self._t)
            # All tracks are predicted to the one scan time: a single time serves them all (the
            # measurement model broadcasts it; the same values as one time per track).
            mp = self._updater.predict_measurement(x, P, np.full(1, t), mm)
            if len(z):
                d2, log_det, nu, s, s_inv = _gate_terms(mp, z, R)
                rows, cols = associate(d2, log_det, self._gate_threshold)
            if rows.size:
                sub = MeasurementPrediction(
                    mp.z[rows], mp.Pzz[rows], mp.Pxz[rows], None if mp.H is None else mp.H[rows]
                )
                x_prior, p_prior = x[rows], P[rows]
                x[rows], P[rows] = self._updater.update_with_innovation(
                    x_prior, p_prior, sub, R[cols], nu[rows, cols], s[rows, cols], s_inv[rows, cols]
                )
                if self.filter == "ekf":
                    x[rows], P[rows] = self._relinearise(
                        x_prior, p_prior, x[rows], P[rows], z[cols], R[cols], t, mm, mp.z[rows, 0]
                    )
                second = self._n_updates[rows] == 1
                if second.any():
                    r2, p2 = position_fix(z[cols[second]], R[cols[second]], t, mm)
                    i = rows[second]
                    x2, P2 = two_point_from_positions(
                        self._fix_r[i], self._fix_P[i], self._fix_t[i], r2, p2, t, self.model
                    )
                    # A cued track keeps its update unless the two points pin its velocity
                    # better than the launch report did.
                    take = ~self._cued[i] | (_velocity_variance(P2) < _velocity_variance(P[i]))
                    x[i[take]], P[i[take]] = x2[take], P2[take]
                self._n_updates[rows] += 1
                a = self.manoeuvre_memory
                self._nis[rows] = a * self._nis[rows] + (1.0 - a) * d2[rows, cols]
            self._x, self._P, self._t = x, P, np.full(k, t)
            hit = np.zeros(k, bool)
            hit[rows] = True
            if coverage is None:
                seen = mp.z[:, 2] >= self.min_elevation_rad
            else:
                seen = np.asarray(coverage(earth.eci_to_ecef(x[:, :3], t, self.model)), bool)
            counted = hit | seen
            window = (1 << self.confirm_n) - 1
            self._hits = np.where(counted, ((self._hits << 1) | hit) & window, self._hits)
            self._scans = self._scans + counted
            self._misses = np.where(hit, 0, self._misses + (counted & ~hit))
            n_hits = np.array([bin(h).count("1") for h in self._hits.tolist()], np.int64)
            tentative = ~self._confirmed
            self._confirmed = self._confirmed | (
                tentative & (self._scans <= self.confirm_n) & (n_hits >= self.confirm_m)
            )
            hopeless = (
                ~self._confirmed
                & (np.minimum(self._scans, self.confirm_n) - n_hits
                   > self.confirm_n - self.confirm_m)
            )  # fmt: skip
            sigma = self._sigma(self._P)
            lost = self._confirmed & (
                (self._misses >= self.delete_misses) | (sigma > self.max_position_sigma_m)
            )
            keep = ~(hopeless | lost | self._impacted(self._x[:, :3]))
            det_truth = np.full(k, -1, np.int64)
            det_truth[rows] = truth[cols]
            if not keep.all():
                self._compact(keep)
                hit, det_truth, sigma = hit[keep], det_truth[keep], sigma[keep]
            self._record(sensor, self._t, self._x, self._P, self._confirmed, sigma, hit, det_truth)
        if cols.size < len(z):
            free = np.ones(len(z), bool)
            free[cols] = False
            self._initiate(t, z[free], R[free], truth[free], mm, sensor)

    def _relinearise(
        self,
        x_prior: FloatArray,
        P_prior: FloatArray,
        x: FloatArray,
        P: FloatArray,
        z: FloatArray,
        R: FloatArray,
        t: float,
        mm: RadarMeasurementModel,
        range_m: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Iterate the EKF update (:meth:`.ExtendedKalmanUpdater.iterate`) of the tracks whose
        correction Δr is large enough for h's curvature to matter: its second-order term
        |Δr|²/ρ above a tenth of the detection's range σ. Mid-course updates (corrections of
        metres to tens of metres) are left as they are."""
        dr2 = np.einsum("ki,ki->k", x[:, :3] - x_prior[:, :3], x[:, :3] - x_prior[:, :3])
        bent = dr2 / range_m > 0.1 * np.sqrt(R[:, 0, 0])
        if bent.any():
            x, P = x.copy(), P.copy()
            x[bent], P[bent] = self._updater.iterate(
                x_prior[bent], P_prior[bent], x[bent], z[bent], R[bent], np.full(1, t), mm
            )
        return x, P

    def _impacted(self, r: FloatArray) -> NDArray[np.bool_]:
        """Whether tracks at ECI positions r (k, 3) are predicted more than 5 km below the
        surface. Only positions inside the sphere that holds the surface (radius a) can be; the
        geodetic altitude is computed for those alone (elementwise, so the same values)."""
        impacted = np.zeros(len(r), bool)
        low = np.einsum("...i,...i->...", r, r) < self._outer_radius2
        if low.any():
            impacted[low] = earth.altitude(r[low], self.model) < -5000.0
        return impacted

    _ARRAYS = (
        "_x", "_P", "_t", "_id", "_hits", "_scans", "_misses", "_confirmed", "_cued",
        "_n_updates", "_fix_r", "_fix_P", "_fix_t", "_nis", "_launch_latest",
    )  # fmt: skip

    def _manoeuvre_noise(self, P: FloatArray, dt: FloatArray) -> FloatArray:
        """Process noise beyond the ballistic ``q`` for the step dt (k,) from each track's time.

        Boost. With a :class:`.ThrustEnvelope`, a track that may still be in boost is predicted
        with the white acceleration noise q_b = a² |dt|, a the largest thrust acceleration any
        threat type can have from the earliest time since launch the track may be at, τ = t -
        t_launch,latest (cued: the launch report's time plus three of its σ; uncued: the
        track's birth, the worst case). Over the step the velocity then wanders by
        sqrt(q_b dt) = a dt, the velocity change of that thrust (Bar-Shalom, Li & Kirubarajan
        2001, §6.2.2: q of order a² T). Thrust is a fact of the flight's phase, not of the
        innovations: a track whose innovations look consistent under that noise is still under
        thrust, and dropping the noise then (as the NIS test below would) lets the ballistic
        model lag by hundreds of m/s within one revisit.

        Manoeuvre (Bar-Shalom, Li & Kirubarajan 2001, §11.2): a track whose fading average of
        the normalised innovation squared exceeds the threshold -- a target doing what the
        model does not know -- is predicted with ``q_manoeuvre``. A new track starts so and
        falls back to ``q`` once its innovations are consistent again.

        Each track takes the larger of the two; the predictor already added ``q``."""
        q_track = np.where(self._nis > self._manoeuvre_threshold, self.q_manoeuvre, self.q)
        if self.thrust is not None:
            a = self.thrust.bound(self._t - self._launch_latest)
            q_track = np.maximum(q_track, a * a * np.abs(dt))
        extra = q_track - self.q
        more = extra > 0.0
        if not more.any():
            return P
        P = P.copy()
        P[more] += BallisticTransition(self.model, 1.0).covar(dt[more]) * extra[more, None, None]
        return P

    def _compact(self, keep: NDArray[np.bool_]) -> None:
        for name in self._ARRAYS:
            setattr(self, name, getattr(self, name)[keep])

    def _initiate(
        self,
        t: float,
        z: FloatArray,
        R: FloatArray,
        truth: NDArray[np.int64],
        mm: RadarMeasurementModel,
        sensor: str,
    ) -> None:
        # The position fixes (and their geodetic coordinates) are shared by the single-point
        # prior and every cue: the same values `single_point_prior` and `cued_prior` compute.
        z = np.atleast_2d(np.asarray(z, float))
        R = np.broadcast_to(np.asarray(R, float), z.shape[:-1] + (3, 3))
        t_arr = np.broadcast_to(np.asarray(t, float), z.shape[:-1])
        r_fix, p_fix = position_fix(z, R, t_arr, mm)
        x, P = _single_point_from_fix(r_fix, p_fix, self.initial_velocity_sigma_m_s)
        cued = np.zeros(len(z), bool)
        best = np.full(len(z), np.inf)
        # Uncued, the object can have been launched as late as now.
        launch_latest = np.full(len(z), t)
        geodetic = None
        for index, report in enumerate(self._cues):
            if float(report.t_launch) >= t:
                continue
            launch = self._cue_launch.get(index)
            if launch is None:
                launch = self._cue_launch[index] = launch_point(report, mm.model)
            tau = t - float(report.t_launch)
            xc, pc = _cued_prior_from_fix(
                report, launch, r_fix, p_fix, tau, mm.model, self.cue_velocity_sigma_m_s
            )
            # Of several fitting reports, take the one that predicts the smallest speed
            # uncertainty (the most recent, best-localised launch).
            score = np.trace(pc[:, 3:, 3:], axis1=-2, axis2=-1)
            better = score < best
            if not better.any():
                continue  # whether the detections fit this report would change nothing
            if geodetic is None:
                geodetic = earth.ecef_to_geodetic(
                    earth.eci_to_ecef(r_fix, t_arr, mm.model), mm.model
                )
            better &= _cue_fits(
                report, geodetic[0], geodetic[1], tau, mm.model, MAX_CUE_GROUND_SPEED_M_S
            )
            x[better], P[better], best[better] = xc[better], pc[better], score[better]
            launch_latest[better] = float(report.t_launch) + _LAUNCH_TIME_SIGMAS * float(
                getattr(report, "sigma_time_s", 0.0)
            )
            cued |= better
        m = len(z)
        ids = np.arange(self._next_id, self._next_id + m, dtype=np.int64)
        self._next_id += m
        t_new = np.full(m, t)
        self._x = np.concatenate([self._x, x])
        self._P = np.concatenate([self._P, P])
        self._t = np.concatenate([self._t, t_new])
        self._id = np.concatenate([self._id, ids])
        self._hits = np.concatenate([self._hits, np.ones(m, np.int64)])
        self._scans = np.concatenate([self._scans, np.ones(m, np.int64)])
        self._misses = np.concatenate([self._misses, np.zeros(m, np.int64)])
        self._confirmed = np.concatenate([self._confirmed, np.zeros(m, bool)])
        self._cued = np.concatenate([self._cued, cued])
        self._nis = np.concatenate([self._nis, np.full(m, 2.0 * self._manoeuvre_threshold)])
        self._n_updates = np.concatenate([self._n_updates, np.ones(m, np.int64)])
        self._fix_r = np.concatenate([self._fix_r, x[:, :3]])
        self._fix_P = np.concatenate([self._fix_P, P[:, :3, :3]])
        self._fix_t = np.concatenate([self._fix_t, t_new])
        self._launch_latest = np.concatenate([self._launch_latest, launch_latest])
        # The new tracks' rows: tentative, updated by their own detection.
        self._record(
            sensor, t_new, x, P, np.zeros(m, bool), self._sigma(P), np.ones(m, bool), truth
        )

    def _record(
        self,
        sensor: str,
        t: FloatArray,
        x: FloatArray,
        P: FloatArray,
        confirmed: NDArray[np.bool_],
        sigma: FloatArray,
        hit: NDArray[np.bool_],
        det_truth: NDArray[np.int64],
    ) -> None:
        """Log the rows of the tracks now live (after a scan) or just born (an initiation).

        The arrays are kept as they are, not copied: the tracker never changes a track array in
        place once it is logged (every scan and initiation builds new ones)."""
        ids = self._id if len(t) == self._id.size else self._id[-len(t) :]
        self._log.append((ids, t, x, P, confirmed, sigma, hit, det_truth))
        self._log_sensors.append(sensor)

    def log(self) -> TrackLog:
        """The history of every track so far (see :class:`TrackLog`)."""
        if not self._log:
            return TrackLog(
                track_id=np.zeros(0, np.int64),
                t=np.zeros(0),
                x=np.zeros((0, 6)),
                P=np.zeros((0, 6, 6)),
                confirmed=np.zeros(0, bool),
                firm=np.zeros(0, bool),
                position_sigma_m=np.zeros(0),
                updated=np.zeros(0, bool),
                detection_truth_id=np.zeros(0, np.int64),
                sensor=np.zeros(0, str),
            )
        ids, t, x, P, confirmed, sigma, hit, det_truth = (
            np.concatenate(column) for column in zip(*self._log, strict=True)
        )
        counts = [len(entry[1]) for entry in self._log]
        return TrackLog(
            track_id=ids,
            t=t,
            x=x,
            P=P,
            confirmed=confirmed,
            firm=confirmed & (sigma <= self.firm_position_sigma_m),
            position_sigma_m=sigma,
            updated=hit,
            detection_truth_id=det_truth,
            sensor=np.repeat(np.array(self._log_sensors), counts),
        )


def run_tracker(
    measurements: Sequence[object],
    launch_reports: Sequence[object] = (),
    tracker: Tracker | None = None,
    coverage: Mapping[str, Callable[[FloatArray], NDArray[np.bool_]]] | None = None,
) -> TrackLog:
    """Run a tracker over the measurements of one partner's sensors and return its log.

    ``measurements`` are per-sensor ``Measurements`` (split into scans by time with
    :func:`split_scans`, processed in time order); ``launch_reports`` cue initiation from their
    ``t_report`` on; ``coverage`` maps a sensor name to its visibility rule on ECEF positions
    (e.g. ``{radar.name: radar.visible}``). A fresh :class:`Tracker` with default parameters is
    used unless one is given.
    """
    coverage = {} if coverage is None else coverage
    tracker = Tracker() if tracker is None else tracker
    reports = sorted(launch_reports, key=lambda r: float(r.t_report))
    next_report = 0
    for scan in split_scans(measurements):
        while next_report < len(reports) and float(reports[next_report].t_report) <= scan.t:
            tracker.cue(reports[next_report])
            next_report += 1
        tracker._step(scan.t, scan, coverage.get(scan.sensor))
    return tracker.log()


def _velocity_variance(P: FloatArray) -> FloatArray:
    """Trace of the velocity block of state covariances (k, 6, 6)."""
    return np.trace(P[:, 3:, 3:], axis1=-2, axis2=-1)
