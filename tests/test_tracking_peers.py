"""jointbmd's batched EKF against Stone Soup's and FilterPy's, with the same models and the same
measurements: equal position RMSE (within 1 %) and the same states."""

from __future__ import annotations

import numpy as np
import pytest

from jointbmd.tracking.peers import filterpy_ekf, jointbmd_ekf, stonesoup_ekf
from jointbmd.tracking.synthetic import impulsive_launch_state, propagate_truth, radar_measurements

pytest.importorskip("stonesoup")
pytest.importorskip("filterpy")

SITE = (np.radians(40.0), np.radians(44.5), 200.0)


@pytest.fixture(scope="module")
def case():
    """Ten noisy realisations of one missile seen every 4 s from 150 s to 450 s."""
    x0 = impulsive_launch_state(np.radians(35.0), np.radians(50.0), np.radians(315.0), 4500.0,
                                np.radians(40.0))  # fmt: skip
    times = np.arange(150.0, 451.0, 4.0)
    truth = propagate_truth(x0[None], 0.0, times)
    runs = 10
    rng = np.random.default_rng(21)
    z, R, _ = radar_measurements(np.repeat(truth, runs, 0), times, *SITE, [50.0, 1e-3, 1e-3], rng)
    p0 = np.diag([1e3**2] * 3 + [100.0**2] * 3)
    x_prior = truth[:, 0] + rng.multivariate_normal(np.zeros(6), p0, runs)
    args = (x_prior, np.repeat(p0[None], runs, 0), times[0] - 4.0, times, z, R, SITE, "full", 0.5)
    return truth, args


def _rmse(xs, truth):
    return float(np.sqrt(np.mean(np.sum((xs[..., :3] - truth[..., :3]) ** 2, -1))))


@pytest.mark.parametrize("peer", [stonesoup_ekf, filterpy_ekf], ids=["stonesoup", "filterpy"])
def test_position_rmse_agrees_with_peer_ekf(case, peer):
    truth, args = case
    ours, ours_p = jointbmd_ekf(*args)
    theirs, theirs_p = peer(*args)
    rmse_ours, rmse_theirs = _rmse(ours, truth), _rmse(theirs, truth)
    assert abs(rmse_ours / rmse_theirs - 1.0) < 0.01
    # Same models, same measurements, same equations: the same estimates to round-off.
    np.testing.assert_allclose(ours[..., :3], theirs[..., :3], rtol=0, atol=1e-3)
    np.testing.assert_allclose(ours_p, theirs_p, rtol=1e-6, atol=1e-6)
