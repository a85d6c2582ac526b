"""Batched Kalman filters: EKF and UKF predictors and updaters over k tracks at once.

In: track means ``x (k, 6)`` and covariances ``P (k, 6, 6)`` (ECI), per-track time steps
``dt (k,)``, radar measurements ``z (k, 3)`` with noise ``R (k, 3, 3)`` and their times ``t (k,)``.
Out: predicted or updated ``(x, P)`` of the same shapes, and a :class:`MeasurementPrediction`
that gating and association use.

The roles follow Stone Soup (predictor, updater, measurement prediction), but one call handles a
whole batch of tracks with numpy's stacked linear algebra.

EKF (Bar-Shalom et al. 2001, §10.3):
    predict  x⁻ = f(x, dt),  P⁻ = Φ P Φᵀ + Q;
    update   ν = z ⊖ h(x⁻),  S = H P⁻ Hᵀ + R,  K = P⁻ Hᵀ S⁻¹,  x⁺ = x⁻ + K ν,
             P⁺ = (I - K H) P⁻ (I - K H)ᵀ + K R Kᵀ   (Joseph form, keeps P⁺ symmetric and PSD).
UKF (Wan and van der Merwe 2000, scaled unscented transform): 2n + 1 sigma points
    χ = x ± √((n + λ) P) columns, λ = α² (n + κ) - n, weights W₀ᵐ = λ/(n+λ),
    W₀ᶜ = W₀ᵐ + 1 - α² + β, Wᵢ = 1/(2(n+λ)); defaults α = 1, β = 2, κ = 0 (λ = 0) keep every
    sigma point at √n σ and all covariance weights positive. Azimuths of the measurement sigma
    points are averaged as offsets (wrapped) from the central point's azimuth.

⊖ wraps the azimuth difference into [-π, π).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from jointbmd.arrays import FloatArray

from .models import BallisticTransition, RadarMeasurementModel, wrap_angle

__all__ = [
    "ExtendedKalmanPredictor",
    "ExtendedKalmanUpdater",
    "MeasurementPrediction",
    "UnscentedKalmanPredictor",
    "UnscentedKalmanUpdater",
    "inverse_3x3",
    "mahalanobis_squared",
    "nees",
]


@dataclass(frozen=True)
class MeasurementPrediction:
    """Predicted measurement of k tracks, without the measurement noise.

    ``z (k, 3)`` the predicted (range_m, az, el); ``Pzz (k, 3, 3)`` its covariance from the
    state uncertainty alone (add a detection's R to get the innovation covariance S);
    ``Pxz (k, 6, 3)`` the state-measurement cross covariance; ``H (k, 3, 6)`` the measurement
    Jacobian (EKF only, else None).
    """

    z: FloatArray
    Pzz: FloatArray
    Pxz: FloatArray
    H: FloatArray | None = None


def _symmetrise(p: FloatArray) -> FloatArray:
    return 0.5 * (p + np.swapaxes(p, -1, -2))


# The adjugate of a 3x3 matrix [[a, b, c], [d, e, f], [g, h, i]] (flat indices 0..8), entry by
# entry as p q - r s: adj = [[ei - fh, ch - bi, bf - ce], [fg - di, ai - cg, cd - af],
# [dh - eg, bg - ah, ae - bd]]. Gathering the four factors with index arrays takes four
# operations instead of nine slices, eighteen products and three stacks (same values).
_ADJ_P = np.array([4, 2, 1, 5, 0, 2, 3, 1, 0])
_ADJ_Q = np.array([8, 7, 5, 6, 8, 3, 7, 6, 4])
_ADJ_R = np.array([5, 1, 2, 3, 2, 0, 4, 0, 1])
_ADJ_S = np.array([7, 8, 4, 8, 6, 5, 6, 7, 3])


def inverse_3x3(S: ArrayLike) -> FloatArray:
    """Inverses of stacked 3x3 matrices (..., 3, 3) by the adjugate (cofactor) formula:
    several times faster than ``np.linalg.inv`` on many small matrices."""
    S = np.asarray(S, float)
    flat = S.reshape(S.shape[:-2] + (9,))
    adj = flat[..., _ADJ_P] * flat[..., _ADJ_Q] - flat[..., _ADJ_R] * flat[..., _ADJ_S]
    # det = a c00 + b c01 + c c02, the cofactors of the first row being adj[0, 0], adj[1, 0],
    # adj[2, 0].
    det = flat[..., 0] * adj[..., 0] + flat[..., 1] * adj[..., 3] + flat[..., 2] * adj[..., 6]
    return adj.reshape(S.shape) / det[..., None, None]


class ExtendedKalmanPredictor:
    """Batched EKF prediction with a :class:`BallisticTransition`."""

    def __init__(self, transition_model: BallisticTransition):
        self.transition_model = transition_model

    def predict(self, x: ArrayLike, P: ArrayLike, dt: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Means (k, 6) and covariances (k, 6, 6) after each track's dt (k,)."""
        x_pred, phi = self.transition_model.function_and_jacobian(x, dt)
        p_pred = phi @ np.asarray(P, float) @ np.swapaxes(phi, -1, -2)
        p_pred = p_pred + self.transition_model.covar(np.broadcast_to(dt, x_pred.shape[:-1]))
        return x_pred, _symmetrise(p_pred)


class _Updater:
    """The update step shared by the EKF and UKF updaters: form the innovation ν = z ⊖ ẑ and
    S = Pzz + R, then ``update_with_innovation`` (which a gate can call directly with the ν, S
    and S⁻¹ it has already computed)."""

    def update(
        self,
        x: ArrayLike,
        P: ArrayLike,
        mp: MeasurementPrediction,
        z: ArrayLike,
        R: ArrayLike,
    ) -> tuple[FloatArray, FloatArray]:
        """Posterior means and covariances given measurements z (k, 3) with noise R (k, 3, 3)."""
        R = np.broadcast_to(np.asarray(R, float), mp.Pzz.shape)
        s = mp.Pzz + R
        nu = RadarMeasurementModel.residual(np.asarray(z, float), mp.z)
        return self.update_with_innovation(x, P, mp, R, nu, s, inverse_3x3(s))


class ExtendedKalmanUpdater(_Updater):
    """Batched EKF measurement prediction and Joseph-form update."""

    def predict_measurement(
        self, x: ArrayLike, P: ArrayLike, t: ArrayLike, measurement_model: RadarMeasurementModel
    ) -> MeasurementPrediction:
        x = np.asarray(x, float)
        P = np.asarray(P, float)
        both = getattr(measurement_model, "function_and_jacobian", None)
        if both is not None:
            z, h = both(x, t)
        else:
            z, h = measurement_model.function(x, t), measurement_model.jacobian(x, t)
        pxz = P @ np.swapaxes(h, -1, -2)
        return MeasurementPrediction(z, _symmetrise(h @ pxz), pxz, h)

    def update_with_innovation(
        self,
        x: ArrayLike,
        P: ArrayLike,
        mp: MeasurementPrediction,
        R: FloatArray,
        nu: FloatArray,
        S: FloatArray,
        S_inv: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`update` given the innovations ν = z ⊖ ẑ (k, 3), their covariances
        S = Pzz + R and S⁻¹ (k, 3, 3), as a gate has already computed them (the same values, so
        the same posterior)."""
        x = np.asarray(x, float)
        P = np.asarray(P, float)
        gain = mp.Pxz @ S_inv  # K = Pxz S⁻¹
        x_post = x + np.einsum("...ij,...j->...i", gain, nu)
        i_kh = np.eye(x.shape[-1]) - gain @ mp.H
        p_post = i_kh @ P @ np.swapaxes(i_kh, -1, -2) + gain @ R @ np.swapaxes(gain, -1, -2)
        return x_post, _symmetrise(p_post)

    def iterate(
        self,
        x_prior: FloatArray,
        P_prior: FloatArray,
        x: FloatArray,
        z: FloatArray,
        R: FloatArray,
        t: ArrayLike,
        measurement_model: RadarMeasurementModel,
        tolerance_m: float = 0.01,
        max_iterations: int = 5,
    ) -> tuple[FloatArray, FloatArray]:
        """Iterated EKF update (Bar-Shalom, Li & Kirubarajan 2001, §10.5.2; Gauss-Newton on the
        posterior, Bell and Cathey 1993): from the EKF posterior x₁ = ``x``, relinearise h at
        the latest estimate,

            H_i = ∂h/∂x (x_i),  K_i = P⁻ H_iᵀ (H_i P⁻ H_iᵀ + R)⁻¹,
            x_{i+1} = x⁻ + K_i (z ⊖ h(x_i) - H_i (x⁻ - x_i)),

        until the position moves by less than ``tolerance_m`` (at most ``max_iterations``
        times), and return x and the Joseph-form covariance of the last linearisation. The EKF
        linearises at the prediction x⁻: when the prediction is kilometres off a precise
        measurement (a track in boost predicted with large process noise), the second-order
        term of h, about |Δr|²/ρ over a correction Δr at range ρ, is tens of metres and the EKF
        posterior sits that far from the measurement with a covariance that does not say so."""
        x = np.array(x, float)
        P = np.empty(np.shape(P_prior))
        active = np.arange(len(x))
        for _ in range(max_iterations):
            xa = x[active]
            zi, h = measurement_model.function_and_jacobian(xa, t)
            pa = P_prior[active]
            pxz = pa @ np.swapaxes(h, -1, -2)
            gain = pxz @ inverse_3x3(_symmetrise(h @ pxz) + R[active])
            nu = RadarMeasurementModel.residual(z[active], zi)
            nu = nu - np.einsum("...ij,...j->...i", h, x_prior[active] - xa)
            x_new = x_prior[active] + np.einsum("...ij,...j->...i", gain, nu)
            i_kh = np.eye(x.shape[-1]) - gain @ h
            P[active] = i_kh @ pa @ np.swapaxes(i_kh, -1, -2) + gain @ R[active] @ np.swapaxes(
                gain, -1, -2
            )
            moved = np.linalg.norm(x_new[:, :3] - xa[:, :3], axis=-1)
            x[active] = x_new
            active = active[moved > tolerance_m]
            if active.size == 0:
                break
        return x, _symmetrise(P)


class _SigmaPoints:
    """Scaled unscented transform weights for an n-dimensional state."""

    def __init__(self, n: int, alpha: float, beta: float, kappa: float):
        lam = alpha**2 * (n + kappa) - n
        self.n = n
        self.scale = np.sqrt(n + lam)
        self.wm = np.full(2 * n + 1, 0.5 / (n + lam))
        self.wc = self.wm.copy()
        self.wm[0] = lam / (n + lam)
        self.wc[0] = self.wm[0] + 1.0 - alpha**2 + beta

    def points(self, x: FloatArray, P: FloatArray) -> FloatArray:
        """Sigma points (k, 2n+1, n)."""
        root = _cholesky(P) * self.scale  # columns are the spread directions
        cols = np.swapaxes(root, -1, -2)
        return np.concatenate([x[..., None, :], x[..., None, :] + cols, x[..., None, :] - cols], -2)


def _cholesky(P: FloatArray) -> FloatArray:
    """Lower Cholesky factors; a failing matrix falls back to its PSD part (eigenvalues ≥ 0)."""
    try:
        return np.linalg.cholesky(P)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(_symmetrise(P))
        return v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]


class UnscentedKalmanPredictor:
    """Batched UKF prediction: sigma points through :meth:`BallisticTransition.function`."""

    def __init__(
        self,
        transition_model: BallisticTransition,
        alpha: float = 1.0,
        beta: float = 2.0,
        kappa: float = 0.0,
    ):
        self.transition_model = transition_model
        self.alpha, self.beta, self.kappa = alpha, beta, kappa
        self._sigma = _SigmaPoints(transition_model.ndim_state, alpha, beta, kappa)

    def predict(self, x: ArrayLike, P: ArrayLike, dt: ArrayLike) -> tuple[FloatArray, FloatArray]:
        x = np.asarray(x, float)
        chi = self._sigma.points(x, np.asarray(P, float))
        dt = np.broadcast_to(np.asarray(dt, float), x.shape[:-1])
        chi = self.transition_model.function(chi, np.broadcast_to(dt[..., None], chi.shape[:-1]))
        x_pred = np.einsum("s,...si->...i", self._sigma.wm, chi)
        d = chi - x_pred[..., None, :]
        p_pred = np.einsum("s,...si,...sj->...ij", self._sigma.wc, d, d)
        return x_pred, _symmetrise(p_pred + self.transition_model.covar(dt))


class UnscentedKalmanUpdater(_Updater):
    """Batched UKF measurement prediction (unscented transform) and update."""

    def __init__(
        self, alpha: float = 1.0, beta: float = 2.0, kappa: float = 0.0, ndim_state: int = 6
    ):
        self.alpha, self.beta, self.kappa = alpha, beta, kappa
        self._sigma = _SigmaPoints(ndim_state, alpha, beta, kappa)

    def predict_measurement(
        self, x: ArrayLike, P: ArrayLike, t: ArrayLike, measurement_model: RadarMeasurementModel
    ) -> MeasurementPrediction:
        x = np.asarray(x, float)
        chi = self._sigma.points(x, np.asarray(P, float))
        t = np.broadcast_to(np.asarray(t, float), x.shape[:-1])
        zeta = measurement_model.function(chi, t[..., None])
        # Average azimuths as wrapped offsets from the central sigma point's.
        ref = zeta[..., :1, 1]
        zeta = zeta.copy()
        zeta[..., 1] = ref + wrap_angle(zeta[..., 1] - ref)
        z_pred = np.einsum("s,...si->...i", self._sigma.wm, zeta)
        dz = zeta - z_pred[..., None, :]
        dx = chi - np.einsum("s,...si->...i", self._sigma.wm, chi)[..., None, :]
        pzz = np.einsum("s,...si,...sj->...ij", self._sigma.wc, dz, dz)
        pxz = np.einsum("s,...si,...sj->...ij", self._sigma.wc, dx, dz)
        z_pred[..., 1] = np.mod(z_pred[..., 1], 2.0 * np.pi)
        return MeasurementPrediction(z_pred, _symmetrise(pzz), pxz, None)

    def update_with_innovation(
        self,
        x: ArrayLike,
        P: ArrayLike,
        mp: MeasurementPrediction,
        R: FloatArray,
        nu: FloatArray,
        S: FloatArray,
        S_inv: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`update` given ν (k, 3), S and S⁻¹ (k, 3, 3) from a gate (the same values)."""
        x = np.asarray(x, float)
        gain = mp.Pxz @ S_inv  # K = Pxz S⁻¹
        x_post = x + np.einsum("...ij,...j->...i", gain, nu)
        p_post = np.asarray(P, float) - gain @ S @ np.swapaxes(gain, -1, -2)
        return x_post, _symmetrise(p_post)


def mahalanobis_squared(nu: ArrayLike, S: ArrayLike) -> FloatArray:
    """νᵀ S⁻¹ ν over leading batch axes."""
    nu = np.asarray(nu, float)
    S = np.asarray(S, float)
    s_inv = inverse_3x3(S) if S.shape[-1] == 3 else np.linalg.inv(S)
    return np.einsum("...i,...ij,...j->...", nu, s_inv, nu)


def nees(x_est: ArrayLike, P: ArrayLike, x_true: ArrayLike) -> FloatArray:
    """Normalised estimation error squared (x̂ - x)ᵀ P⁻¹ (x̂ - x) over leading batch axes."""
    return mahalanobis_squared(np.asarray(x_est, float) - np.asarray(x_true, float), P)
