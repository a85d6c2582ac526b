"""National tracking on the sensors stage's real radar output (detection probability from SNR,
SNR-dependent noise, false alarms, random scan phase) -- the wiring the pipeline uses."""

from __future__ import annotations

import numpy as np

from jointbmd import earth
from jointbmd.sensors import Radar
from jointbmd.tracking import Tracker, run_tracker
from jointbmd.tracking.synthetic import impulsive_launch_state, propagate_truth


def test_three_missiles_through_a_real_radar_give_three_firm_tracks_and_no_false_ones():
    rng = np.random.default_rng(5)
    launch_t = np.array([0.0, 20.0, 40.0])
    x0 = impulsive_launch_state(
        np.radians([35.0, 35.2, 34.0]), np.radians([50.0, 50.3, 52.0]),
        np.radians([315.0, 316.0, 300.0]), 4500.0, np.radians(40.0), launch_t,
    )  # fmt: skip
    times = np.arange(100.0, 700.0, 1.0)
    states = np.concatenate([propagate_truth(x0[i : i + 1], launch_t[i], times) for i in range(3)])
    r_ecef = earth.eci_to_ecef(states[..., :3], times)
    r_ecef[earth.altitude(r_ecef) < 0.0] = np.nan  # impacted
    radar = Radar.from_spec(
        "tpy2", "A", 40.0, 44.5, 200.0, reference_range_km=1500.0, revisit_s=5.0,
        range_noise_m=30.0, angle_noise_mrad=1.0, reference_rcs_m2=0.1, detection_snr_db=13.0,
        false_alarms_per_scan=0.5,
    )  # fmt: skip
    meas = radar.observe(times, r_ecef, np.full(3, 0.1), rng)
    assert (meas.truth_id == -1).sum() > 20  # plenty of false alarms to reject

    log = run_tracker([meas], tracker=Tracker(), coverage={radar.name: radar.visible})

    confirmed = [i for i in log.track_ids if log.select(i).confirmed.any()]
    assert sorted(log.truth_of(i) for i in confirmed) == [0, 1, 2]
    for track_id in confirmed:
        rows = log.select(track_id)
        target = log.truth_of(track_id)
        assert np.all(rows.detection_truth_id[rows.updated] == target)
        assert log.first_firm_time(track_id) < meas.t.min() + 30.0
        truth_at = np.stack([np.interp(rows.t, times, states[target, :, j]) for j in range(3)], -1)
        err = np.linalg.norm(rows.x[:, :3] - truth_at, axis=-1)
        assert np.sqrt(np.mean(err[rows.firm] ** 2)) < 1000.0
