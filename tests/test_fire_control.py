"""Fire control: who may guide whom, track error in the kill, per-type "firm", the
covariance consistency of national and fused tracks, paired comparisons and overflight flags.

The end-to-end checks run the whole pipeline on ``lisbon2010`` (a few replications, fixed seeds)
and compare what the rules and the physics say with what happened.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2
from scipy.stats import t as student_t

from jointbmd.analysis.paired import paired_comparisons
from jointbmd.arrangements import (
    CUE,
    ENGAGE,
    LAUNCH,
    Arrangement,
    DataExchange,
    Independent,
    Joint,
    inside_polygon,
)
from jointbmd.engagement import InterceptorType
from jointbmd.errors import UserError
from jointbmd.scenario import load_scenario, set_field
from jointbmd.simulation import build_picture, build_truth, generator, run_arrangements

SEED = 2010


@pytest.fixture(scope="module")
def lisbon():
    return load_scenario("lisbon2010")


# --------------------------------------------------------------------------------------------
# Who may guide whom
# --------------------------------------------------------------------------------------------


def test_a_partners_sensors_are_used_no_further_than_the_arrangement_allows():
    sensor = np.array([CUE, LAUNCH, ENGAGE])
    assert Independent(name="i").partner_data_use == "none"
    assert DataExchange(name="d").usable_level(sensor, own=False).tolist() == [CUE, LAUNCH, LAUNCH]
    assert Joint(name="j").usable_level(sensor, own=False).tolist() == [CUE, LAUNCH, ENGAGE]
    # Own sensors are used as far as their type allows, whatever the arrangement.
    assert DataExchange(name="d", partner_data_use="cue").usable_level(sensor, True).tolist() == [
        CUE,
        LAUNCH,
        ENGAGE,
    ]
    with pytest.raises(ValueError):
        Independent(name="i", partner_data_use="cue")


def test_independent_may_not_use_a_partners_data_in_the_scenario(lisbon):
    with pytest.raises(UserError):
        set_field(lisbon, "arrangements[independent].partner_data_use", "cue")


def _by_arrangement(scenario, replications):
    return [
        {r.arrangement: r for r in run_arrangements(scenario, "all", rep, SEED)}
        for rep in replications
    ]


@pytest.mark.slow
def test_early_warning_radars_only_cue(lisbon):
    """Russia's only radars in lisbon2010 are early-warning radars (cue only): on its own it
    commits no interceptor. Let them guide (``data_use: engage-on-remote``) and it does; under
    joint, NATO's fire-control radars may guide Russia's interceptors (engage on remote)."""
    as_is = _by_arrangement(lisbon, (0, 1))
    guiding = lisbon
    for radar in ("Daryal", "Voronezh-DM"):
        guiding = set_field(guiding, f"sensor_types[{radar}].data_use", "engage-on-remote")
    allowed = _by_arrangement(guiding, (0, 1))
    for runs in as_is:
        assert runs["independent"].shots_by_partner["Russia"] == 0
        assert runs["data-exchange"].shots_by_partner["Russia"] == 0  # launch, not guide, on NATO's
        assert runs["joint-consensus"].shots_by_partner["Russia"] > 0
    assert all(runs["independent"].shots_by_partner["Russia"] > 0 for runs in allowed)


# --------------------------------------------------------------------------------------------
# Track error in the kill
# --------------------------------------------------------------------------------------------


def test_kill_vehicle_reach_is_the_smaller_of_basket_and_divert():
    it = InterceptorType.from_km(
        "kv", 3000, 60, 70, 550, 850, 0.7, 1.0, kv_acquisition_range_km=300,
        kv_field_of_view_deg=1.0, kv_divert_mps=300,
    )  # fmt: skip
    basket = 300e3 * math.tan(math.radians(0.5))
    assert it.correctable_miss_m(7000.0) == pytest.approx(min(basket, 0.5 * 300 * 300e3 / 7000))
    # A slow divert at a high closing speed: t_go is short, the divert binds.
    assert it.correctable_miss_m(60e3) == pytest.approx(0.5 * 300 * 300e3 / 60e3)
    unlimited = InterceptorType.from_km("x", 3000, 60, 70, 550, 850, 0.7)
    assert math.isinf(float(unlimited.correctable_miss_m(7000.0)))


def _intercepts(results):
    rows = [e for r in results for e in r.events if e.kind == "intercept"]
    kills = sum(e.detail.endswith("killed") for e in rows)
    beyond = sum("beyond reach" in e.detail for e in rows)
    return len(rows), kills, beyond


@pytest.mark.slow
def test_degrading_the_guiding_radars_lowers_the_kill_probability(lisbon):
    """NATO's fire-control radars (TPY-2 and SPY-1) guide every shot under joint; with their
    angle noise x50 (and a firm requirement loose enough that the interceptors are still
    launched on such tracks) handover errors lie beyond the kill vehicle's reach and a shot
    kills less often (same kill draws)."""
    degraded = lisbon
    for radar, noise in (("AN/TPY-2", 25.0), ("AN/SPY-1", 50.0)):
        degraded = set_field(degraded, f"sensor_types[{radar}].angle_noise_mrad", noise)
    for name in ("SM-3 Block IA", "SM-3 Block IB", "RU notional exo-interceptor"):
        degraded = set_field(degraded, f"interceptor_types[{name}].firm_position_sigma_km", 20.0)
    reps = range(3)
    base = [r for rep in reps for r in run_arrangements(lisbon, "joint-consensus", rep, SEED)]
    worse = [r for rep in reps for r in run_arrangements(degraded, "joint-consensus", rep, SEED)]
    shots, kills, beyond = _intercepts(base)
    shots_d, kills_d, beyond_d = _intercepts(worse)
    assert shots > 0 and beyond == 0
    assert beyond_d > 0
    assert kills_d / shots_d < kills / shots


def test_firm_is_a_per_type_requirement(lisbon):
    """A stricter firm-track requirement delays the first launch on the same picture."""
    strict = lisbon
    for name in ("SM-3 Block IA", "SM-3 Block IB"):
        strict = set_field(strict, f"interceptor_types[{name}].firm_position_sigma_km", 0.05)
    (loose,) = run_arrangements(lisbon, "independent", 0, SEED)
    (tight,) = run_arrangements(strict, "independent", 0, SEED)
    nato = [k for k, t in enumerate(loose.threats) if t.engaged_by == "NATO"]
    assert nato
    for k in nato:
        later = tight.threats[k].first_launch_s
        assert later is None or later > loose.threats[k].first_launch_s


# --------------------------------------------------------------------------------------------
# Covariance consistency
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("runs", [5, pytest.param(100, marks=pytest.mark.slow)])
def test_national_and_fused_tracks_are_not_overconfident(lisbon, runs):
    """NEES of the position at the fusion instants (mid-course), averaged at each instant over
    the runs: the time-by-time chi-square test of Bar-Shalom, Li & Kirubarajan (2001, §5.4.2).
    Hardly any instant lies above the 99.5 % band and the overall mean is near 3. Without the
    iterated update and the boost noise the Shahab-3 that Daryal tracks in late boost left
    Russia's and the fused averages above the band for up to a minute after burnout
    (docs/modelling.md, covariance consistency). Below the band is the known conservatism of
    the boost noise (sized for the hardest-thrusting type) and, for the fused tracks, of
    covariance intersection over nearly independent inputs: their mean is allowed down to 1.5
    (1.95 over 100 runs), the national tracks' to 2. The default suite runs 5 replications;
    the slow one the full 100."""
    scenario = lisbon.model_copy(
        update={"raids": [r for r in lisbon.raids if r.name in ("Ankara raid", "Moscow raid")]}
    )
    truth = build_truth(scenario)
    samples: dict[str, list] = {}
    for run in range(runs):
        picture = build_picture(scenario, truth, generator(SEED, run, 0), generator(SEED, run, 1))
        c = picture.consistency
        for source in np.unique(c.source):
            sel = c.source == source
            samples.setdefault(str(source), []).append((c.threat[sel], c.cycle[sel], c.nees[sel]))
    assert set(samples) == {"NATO", "Russia", "fused"}
    for source, parts in samples.items():
        threat, cycle, nees = (np.concatenate(x) for x in zip(*parts, strict=True))
        _, inverse, count = np.unique(
            threat * 10**6 + cycle, return_inverse=True, return_counts=True
        )
        mean = np.bincount(inverse, nees) / count
        full = count >= runs // 2
        upper = chi2.ppf(0.995, 3 * count) / count
        above = float(np.mean(mean[full] > upper[full]))
        assert above <= 0.02, f"{source}: {above:.1%} of instants overconfident"
        low = 1.5 if source == "fused" else 2.0
        assert low <= float(nees.mean()) <= 4.0, f"{source}: mean NEES {nees.mean():.2f}"


# --------------------------------------------------------------------------------------------
# Paired comparisons and overflight
# --------------------------------------------------------------------------------------------


def _threat_row(arrangement, rep, k, launch, killed, shots=1):
    return {
        "arrangement": arrangement,
        "replication": rep,
        "threat_id": k,
        "first_launch_s": launch,
        "shots": shots if launch is not None else 0,
        "killed": killed,
    }


def test_launch_to_first_shot_is_compared_only_on_threats_both_shot_at():
    row = _threat_row
    rows = [
        row("base", 0, 0, 100.0, True),
        row("base", 0, 1, None, False),
        row("other", 0, 0, 90.0, True),
        row("other", 0, 1, 50.0, True),  # shot only here: not in the mean
        row("base", 1, 0, 120.0, False),
        row("other", 1, 0, 100.0, True),
        row("base", 2, 0, 100.0, True, shots=2),
        row("other", 2, 0, 100.0, True),
    ]
    (c,) = paired_comparisons(rows, ["base", "other"], "base")
    # Per-replication means -10, -20, 0: the t interval over the 3 replications.
    half = student_t.ppf(0.975, 2) * 10.0 / math.sqrt(3)
    assert c.launch_to_first_shot_s.value == pytest.approx(-10.0)
    assert c.launch_to_first_shot_s.ci == pytest.approx((-10.0 - half, -10.0 + half))
    assert c.launch_to_first_shot_s.n == 3 and c.threats_both_engaged == 3
    assert (c.engaged_only_here, c.engaged_only_baseline) == (1, 0)
    assert c.leakers.value == pytest.approx(-2.0 / 3.0)
    assert c.no_leak.value == pytest.approx(2.0 / 3.0)
    assert c.interceptors_spent.value == pytest.approx(0.0)  # +1, 0, -1


def test_paired_no_leak_keeps_a_width_when_every_pair_agrees():
    """Newcombe (1998, method 10): 3 pairs that all agree still leave the difference uncertain;
    a t interval on the 0/1 differences would claim [0, 0]."""
    rows = [_threat_row(a, rep, 0, 100.0, True) for a in ("base", "other") for rep in range(3)]
    (c,) = paired_comparisons(rows, ["base", "other"], "base")
    assert c.no_leak.value == 0.0
    low, high = c.no_leak.ci
    assert low < -0.3 and high > 0.3
    assert c.as_dict()["no_leak"]["method"].startswith("Newcombe")


def test_intercepts_are_flagged_with_the_territory_they_lie_over(lisbon):
    (joint,) = run_arrangements(lisbon, "joint-consensus", 0, SEED)
    killed = [t for t in joint.threats if t.killed]
    assert killed
    polygons = {p.name: np.asarray(p.territory, float) for p in lisbon.partners}
    for t in killed:
        inside = [
            name
            for name, polygon in polygons.items()
            if inside_polygon(
                np.array([t.intercept_lat_deg]), np.array([t.intercept_lon_deg]), polygon
            )[0]
        ]
        assert t.intercept_over == (inside[0] if inside else None)
        assert t.intercept_over_third_party == (not inside)
    assert all(
        t.intercept_over is None and not t.intercept_over_third_party
        for t in joint.threats
        if not t.killed
    )


def test_arrangement_classes_from_the_scenario(lisbon):
    kinds = {
        a.name: type(Arrangement.from_scenario(lisbon, a.name)).kind for a in lisbon.arrangements
    }
    assert kinds == {a.name: a.kind for a in lisbon.arrangements}
    assert Arrangement.from_scenario(lisbon, "data-exchange").partner_data_use == "launch-on-remote"
