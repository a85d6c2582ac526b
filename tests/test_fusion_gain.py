"""Fusion on lisbon2010: where both partners track a threat, the fused track beats the better
partner's track at the same fusion times (the same information, the same instants)."""

from __future__ import annotations

import numpy as np
import pytest

from jointbmd.scenario import load_scenario
from jointbmd.simulation import generator
from jointbmd.simulation.picture import build_picture
from jointbmd.simulation.truth import build_truth


@pytest.mark.slow
def test_fused_tracks_beat_the_best_partner_where_both_see_the_threat():
    scenario = load_scenario("lisbon2010")
    truth = build_truth(scenario)
    best, fused = [], []
    for seed in range(4):
        picture = build_picture(scenario, truth, generator(seed, 0, 0), generator(seed, 0, 1))
        gain = picture.fusion_gain
        for k in np.flatnonzero(gain.cycles >= 3):
            best.append(min(gain.input_rmse_m[p][k] for p in picture.partners))
            fused.append(gain.fused_rmse_m[k])
    best, fused = np.array(best), np.array(fused)
    assert best.size >= 10  # the Shahab-3s are seen by both partners' radars
    # Covariance intersection is optimal for the covariances it is given, so it does much worse
    # than its better input only where that input's covariance overstates its error: an uncued
    # track keeps boost-phase process noise until the latest possible burnout (docs/modelling.md,
    # national tracking), which in one of these 24 instants makes CI trust the worse partner.
    # Such instants must stay rare...
    assert np.mean(fused <= 1.25 * best) >= 0.9
    # ...and, seen from two sites at different angles, does clearly better on the whole.
    assert np.median(fused / best) < 0.85
    assert np.mean(fused <= best) >= 0.8
