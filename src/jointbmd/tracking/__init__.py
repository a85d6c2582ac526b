"""National tracking: batched EKF/UKF with a ballistic motion model, and track management.

In: per-sensor radar ``Measurements`` (range_m, az, el from a site on the rotating Earth, with
their noise covariance) and launch reports, from :mod:`jointbmd.sensors`. Out: tracks in ECI --
``TrackBatch`` (live tracks: ``x (k, 6)``, ``P (k, 6, 6)``, ``t (k,)``, ``track_id``,
``confirmed``/``firm`` flags, quality ``position_sigma_m``) after each scan and a ``TrackLog``
(the history, one row per track per scan) for scoring and for the exchange.

Stone Soup's roles, held as arrays and updated in batches:

- transition model :class:`BallisticTransition`, measurement model
  :class:`RadarMeasurementModel` (:mod:`.models`);
- predictors and updaters :class:`ExtendedKalmanPredictor`, :class:`ExtendedKalmanUpdater`,
  :class:`UnscentedKalmanPredictor`, :class:`UnscentedKalmanUpdater` (:mod:`.filters`);
- initiators :func:`single_point_prior`, :func:`two_point_prior`, :func:`cued_prior`
  (:mod:`.initiation`);
- gater/associator :func:`gate`, :func:`associate`, and the :class:`Tracker` with M-of-N
  confirmation and miss-count deletion; :func:`run_tracker` for a whole stream (:mod:`.tracker`).

:mod:`.synthetic` makes ballistic truth and radar measurements for tests and benchmarks.
"""

from .filters import (
    ExtendedKalmanPredictor,
    ExtendedKalmanUpdater,
    MeasurementPrediction,
    UnscentedKalmanPredictor,
    UnscentedKalmanUpdater,
    mahalanobis_squared,
    nees,
)
from .initiation import cued_prior, single_point_prior, two_point_prior
from .models import (
    BallisticTransition,
    RadarMeasurementModel,
    ThrustEnvelope,
    gravity_gradient,
    wrap_angle,
)
from .tracker import (
    Scan,
    TrackBatch,
    Tracker,
    TrackLog,
    associate,
    gate,
    run_tracker,
    split_scans,
)

__all__ = [
    "BallisticTransition",
    "ExtendedKalmanPredictor",
    "ExtendedKalmanUpdater",
    "MeasurementPrediction",
    "RadarMeasurementModel",
    "Scan",
    "ThrustEnvelope",
    "TrackBatch",
    "TrackLog",
    "Tracker",
    "UnscentedKalmanPredictor",
    "UnscentedKalmanUpdater",
    "associate",
    "cued_prior",
    "gate",
    "gravity_gradient",
    "mahalanobis_squared",
    "nees",
    "run_tracker",
    "single_point_prior",
    "split_scans",
    "two_point_prior",
    "wrap_angle",
]
