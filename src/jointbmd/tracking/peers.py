"""The same ballistic EKF run three ways: jointbmd's batch, Stone Soup, FilterPy.

In: priors ``x0 (n, 6)``, ``P0 (n, 6, 6)`` at ``t0``, scan times ``times (T,)``, measurements
``z (n, T, 3)`` (range_m, az, el) of one radar site with noise ``R (3, 3)``, the Earth model and
the process noise q. Out: filtered states ``(n, T, 6)`` and covariances ``(n, T, 6, 6)``.

Every peer gets jointbmd's own motion and measurement functions (:class:`BallisticTransition`,
:class:`RadarMeasurementModel`), wrapped in the peer's model classes: Stone Soup's
``ExtendedKalmanPredictor``/``ExtendedKalmanUpdater`` (Joseph form) with custom
``GaussianTransitionModel`` and ``NonLinearGaussianMeasurement`` subclasses, and FilterPy's
``ExtendedKalmanFilter`` with a non-linear ``predict_x``. So the three differ only in the filter
machinery, which is what the tests (equal RMSE) and the benchmark (speed) compare.

Stone Soup and FilterPy are test and benchmark dependencies, imported only when their runner is
called.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

import numpy as np
from numpy.typing import ArrayLike

from jointbmd.arrays import FloatArray

from .. import earth
from .filters import ExtendedKalmanPredictor, ExtendedKalmanUpdater
from .models import BallisticTransition, RadarMeasurementModel

__all__ = ["filterpy_ekf", "jointbmd_ekf", "stonesoup_ekf"]

EPOCH = datetime(2010, 11, 20)  # any fixed instant: Stone Soup needs datetimes


def jointbmd_ekf(
    x0: ArrayLike,
    P0: ArrayLike,
    t0: float,
    times: ArrayLike,
    z: ArrayLike,
    R: ArrayLike,
    site: tuple[float, float, float],
    model: earth.Model = "full",
    q: float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """All n tracks in one batch per scan."""
    x, P = np.array(x0, float), np.array(P0, float)
    times, z = np.asarray(times, float), np.asarray(z, float)
    n = x.shape[0]
    predictor = ExtendedKalmanPredictor(BallisticTransition(model, q))
    updater = ExtendedKalmanUpdater()
    mm = RadarMeasurementModel(*site, model=model)
    xs, ps = np.empty((n, times.size, 6)), np.empty((n, times.size, 6, 6))
    t_prev = float(t0)
    for i, t in enumerate(times):
        x, P = predictor.predict(x, P, np.full(n, t - t_prev))
        mp = updater.predict_measurement(x, P, np.full(n, t), mm)
        x, P = updater.update(x, P, mp, z[:, i], R)
        xs[:, i], ps[:, i] = x, P
        t_prev = t
    return xs, ps


@cache
def _stonesoup_models():
    """Stone Soup model classes around jointbmd's functions (built on first use)."""
    from stonesoup.base import Property
    from stonesoup.models.base import TimeVariantModel
    from stonesoup.models.measurement.nonlinear import NonLinearGaussianMeasurement
    from stonesoup.models.transition.nonlinear import GaussianTransitionModel
    from stonesoup.types.angle import Bearing, Elevation
    from stonesoup.types.array import CovarianceMatrix, StateVector, StateVectors

    class StoneSoupBallistic(GaussianTransitionModel, TimeVariantModel):
        """Ballistic motion under earth.gravity: jointbmd's BallisticTransition."""

        earth_model: str = Property(default="full", doc="Earth model")
        q: float = Property(default=1.0, doc="White acceleration noise PSD, m^2/s^3")

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._model = BallisticTransition(self.earth_model, self.q)

        @property
        def ndim_state(self):
            return 6

        def function(self, state, noise=False, **kwargs):
            dt = kwargs["time_interval"].total_seconds()
            sv = np.asarray(state.state_vector, float)
            out = self._model.function(sv.T, dt).T
            if noise is True:
                out = out + self.rvs(num_samples=sv.shape[1], **kwargs)
            return StateVectors(out) if out.shape[1] > 1 else StateVector(out)

        def jacobian(self, state, **kwargs):
            dt = kwargs["time_interval"].total_seconds()
            return self._model.jacobian(np.asarray(state.state_vector, float)[:, 0], dt)

        def covar(self, time_interval, **kwargs):
            return CovarianceMatrix(self._model.covar(time_interval.total_seconds()))

    class StoneSoupRadar(NonLinearGaussianMeasurement):
        """Range, azimuth, elevation from a site on the rotating Earth: jointbmd's
        RadarMeasurementModel; time from the state's timestamp."""

        site_lat: float = Property(doc="rad")
        site_lon: float = Property(doc="rad")
        site_alt: float = Property(default=0.0, doc="m")
        earth_model: str = Property(default="full", doc="Earth model")

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._model = RadarMeasurementModel(
                self.site_lat, self.site_lon, self.site_alt, self.earth_model
            )

        @property
        def ndim_meas(self):
            return 3

        def _t(self, state):
            return (state.timestamp - EPOCH).total_seconds()

        def function(self, state, noise=False, **kwargs):
            sv = np.asarray(state.state_vector, float)
            rng, az, el = self._model.function(sv.T, self._t(state)).T
            out = StateVectors([list(rng), [Bearing(a) for a in az], [Elevation(e) for e in el]])
            if noise is True:
                out = out + self.rvs(num_samples=sv.shape[1], **kwargs)
            return out if sv.shape[1] > 1 else StateVector(out[:, 0])

        def jacobian(self, state, **kwargs):
            sv = np.asarray(state.state_vector, float)[:, 0]
            return self._model.jacobian(sv, self._t(state))

    return StoneSoupBallistic, StoneSoupRadar, Bearing, Elevation


def stonesoup_ekf(
    x0: ArrayLike,
    P0: ArrayLike,
    t0: float,
    times: ArrayLike,
    z: ArrayLike,
    R: ArrayLike,
    site: tuple[float, float, float],
    model: earth.Model = "full",
    q: float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """Each track through Stone Soup's ExtendedKalmanPredictor/Updater (Joseph form)."""
    from stonesoup.predictor.kalman import ExtendedKalmanPredictor as SSPredictor
    from stonesoup.types.detection import Detection
    from stonesoup.types.hypothesis import SingleHypothesis
    from stonesoup.types.state import GaussianState, StateVector

    ballistic, radar, bearing, elevation = _stonesoup_models()
    from stonesoup.updater.kalman import ExtendedKalmanUpdater as SSUpdater

    x0, P0 = np.asarray(x0, float), np.asarray(P0, float)
    times, z = np.asarray(times, float), np.asarray(z, float)
    predictor = SSPredictor(ballistic(earth_model=model, q=q))
    updater = SSUpdater(measurement_model=None, use_joseph_cov=True)
    radar_model = radar(
        ndim_state=6, mapping=(0, 1, 2), noise_covar=np.asarray(R, float),
        site_lat=site[0], site_lon=site[1], site_alt=site[2], earth_model=model,
    )  # fmt: skip
    stamps = [EPOCH + timedelta(seconds=float(t)) for t in times]
    n = x0.shape[0]
    xs, ps = np.empty((n, times.size, 6)), np.empty((n, times.size, 6, 6))
    for j in range(n):
        state = GaussianState(StateVector(x0[j]), P0[j], EPOCH + timedelta(seconds=float(t0)))
        for i, stamp in enumerate(stamps):
            prediction = predictor.predict(state, timestamp=stamp)
            rng, az, el = z[j, i]
            detection = Detection(
                StateVector([rng, bearing(az), elevation(el)]), timestamp=stamp,
                measurement_model=radar_model,
            )  # fmt: skip
            state = updater.update(SingleHypothesis(prediction, detection))
            xs[j, i] = np.asarray(state.state_vector, float)[:, 0]
            ps[j, i] = np.asarray(state.covar, float)
    return xs, ps


def filterpy_ekf(
    x0: ArrayLike,
    P0: ArrayLike,
    t0: float,
    times: ArrayLike,
    z: ArrayLike,
    R: ArrayLike,
    site: tuple[float, float, float],
    model: earth.Model = "full",
    q: float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """Each track through FilterPy's ExtendedKalmanFilter (its Joseph-form update)."""
    from filterpy.kalman import ExtendedKalmanFilter

    class BallisticEKF(ExtendedKalmanFilter):
        # FilterPy predicts x = F x; ballistic motion is non-linear, so the mean comes from the
        # RK4 propagation computed alongside F.
        def predict_x(self, u=0):
            self.x = self.x_next

    x0, P0 = np.asarray(x0, float), np.asarray(P0, float)
    times, z = np.asarray(times, float), np.asarray(z, float)
    tm = BallisticTransition(model, q)
    mm = RadarMeasurementModel(*site, model=model)
    R = np.asarray(R, float)

    def residual(a, b):
        return RadarMeasurementModel.residual(a.ravel(), b.ravel())[:, None]

    n = x0.shape[0]
    xs, ps = np.empty((n, times.size, 6)), np.empty((n, times.size, 6, 6))
    for j in range(n):
        ekf = BallisticEKF(dim_x=6, dim_z=3)
        ekf.x, ekf.P = x0[j][:, None].copy(), P0[j].copy()
        t_prev = float(t0)
        for i, t in enumerate(times):
            dt = t - t_prev
            x_next, ekf.F = tm.function_and_jacobian(ekf.x[:, 0], dt)
            ekf.x_next = x_next[:, None]
            ekf.Q = tm.covar(dt)
            ekf.predict()
            ekf.update(
                z[j, i][:, None],
                HJacobian=lambda x, t=t: mm.jacobian(x[:, 0], t),
                Hx=lambda x, t=t: mm.function(x[:, 0], t)[:, None],
                R=R,
                residual=residual,
            )
            xs[j, i], ps[j, i] = ekf.x[:, 0], ekf.P
            t_prev = t
    return xs, ps
