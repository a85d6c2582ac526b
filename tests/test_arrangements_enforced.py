"""The arrangements' rules, enforced end to end.

Every test runs the whole pipeline (``jointbmd.simulation``) -- truth, sensing, national
tracking, the signed exchange, fusion, decisions and engagements -- on the built-in
``lisbon2010`` or on the small two-partner scenario of
``jointbmd.analysis.validation_scenarios``, and checks what the arrangement allows against what
happened: who decided, on whose data, who fired at what, where the intercepts were, whose votes
counted. Fixed seeds; a few replications each.
"""

from __future__ import annotations

import numpy as np
import pytest

from jointbmd import earth
from jointbmd.analysis.validation_scenarios import SECTOR_SPLIT_LON_DEG, two_partner
from jointbmd.arrangements import Arrangement
from jointbmd.exchange import EngagementRequest, Vote, verify_ledger
from jointbmd.scenario import load_scenario, set_field
from jointbmd.simulation import (
    build_picture,
    build_truth,
    generator,
    run_arrangements,
    run_replication,
)

SEED = 7
LISBON_REPLICATIONS = (0, 1)
PAIR_REPLICATIONS = (0, 1, 2)


# --------------------------------------------------------------------------------------------
# Shared runs (module scope: each scenario's replications are run once)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lisbon():
    return load_scenario("lisbon2010")


@pytest.fixture(scope="module")
def lisbon_runs(lisbon):
    """{replication: {arrangement: result}} for every arrangement of lisbon2010."""
    return {
        rep: {r.arrangement: r for r in run_arrangements(lisbon, "all", rep, SEED)}
        for rep in LISBON_REPLICATIONS
    }


@pytest.fixture(scope="module")
def pair():
    return two_partner(sspk=0.7)


@pytest.fixture(scope="module")
def pair_runs(pair):
    return {
        rep: {r.arrangement: r for r in run_arrangements(pair, "all", rep, SEED)}
        for rep in PAIR_REPLICATIONS
    }


def events(result, kind: str):
    return [e for e in result.events if e.kind == kind]


def own_pictures(scenario, replication: int, seed: int):
    """What each partner's own sensors and tracker gave it in this replication: the picture
    built without any exchange from the replication's sensing stream (stream 0, see
    ``jointbmd.simulation``)."""
    truth = build_truth(scenario)
    return build_picture(
        scenario,
        truth,
        generator(seed, replication, 0),
        generator(seed, replication, 1),
        sharing=False,
    )


def ground_point_deg(scenario, threat: int, t: float) -> tuple[float, float]:
    """Geodetic latitude and longitude (deg) of a threat's true position at time t."""
    truth = build_truth(scenario)
    r = truth.trajectories.position_ecef(np.array([t]))[threat, 0]
    lat, lon, _ = earth.ecef_to_geodetic(r, scenario.model)
    return float(np.degrees(lat)), float(np.degrees(lon))


# --------------------------------------------------------------------------------------------
# independent: no partner uses another's data
# --------------------------------------------------------------------------------------------


def shared_pictures(scenario, replication: int, seed: int):
    """The picture the sharing arrangements see: each partner's own sensors cued by every launch
    report it received, and the fused picture."""
    truth = build_truth(scenario)
    return build_picture(
        scenario, truth, generator(seed, replication, 0), generator(seed, replication, 1)
    )


def _check_decisions_on_own_tracks(scenario, runs, seed, exchange_helps: bool = True):
    """Under independent every national order comes exactly when the deciding partner's own
    tracks became firm; under data-exchange never later than its own sensors (cued by the
    shared launch warning) allowed, and (``exchange_helps``) earlier at least once (the check
    would catch the use of shared data). Without ``exchange_helps`` the shared tracks may not
    make any order earlier than the partner's own."""
    earlier_with_exchange = 0
    for rep, by_arrangement in runs.items():
        own = own_pictures(scenario, rep, seed).own
        warned = shared_pictures(scenario, rep, seed).own
        orders = events(by_arrangement["independent"], "order")
        assert orders, "no decisions at all: the test would prove nothing"
        for order in orders:
            assert order.detail.startswith("national")
            assert order.t_s == own[order.partner].first_firm_track_s[order.threat_id]
        for order in events(by_arrangement["data-exchange"], "order"):
            t_own = warned[order.partner].first_firm_track_s[order.threat_id]
            assert not order.t_s > t_own  # never later than its own picture (NaN: never own)
            earlier_with_exchange += bool(not order.t_s >= t_own)
    assert (earlier_with_exchange > 0) == exchange_helps


def test_independent_decides_on_own_tracks_only_pair(pair, pair_runs):
    _check_decisions_on_own_tracks(pair, pair_runs, SEED)


@pytest.mark.slow
def test_independent_decides_on_own_tracks_only_lisbon(lisbon, lisbon_runs):
    # Under data-exchange NATO gains nothing from Russia's early-warning radars (cue only) and
    # Russia's interceptors may not be guided by NATO's radars (launch-on-remote at most):
    # the exchange makes no order earlier (docs/modelling.md, "Who may guide whom").
    _check_decisions_on_own_tracks(lisbon, lisbon_runs, SEED, exchange_helps=False)


def test_removing_the_other_partners_radar_changes_nothing_under_independent():
    """Take East's radar away: under independent nothing West does changes (kills are certain,
    SSPK 1, so that East's shots do not shift West's kill draws); under data-exchange West
    decides later, because it no longer receives East's tracks."""
    full = two_partner(sspk=1.0)
    blind = set_field(full, "sites[East radar site].sensors", [])
    changed_with_exchange = 0
    for rep in (0, 1):
        a = {r.arrangement: r for r in run_arrangements(full, "all", rep, SEED)}
        b = {r.arrangement: r for r in run_arrangements(blind, "all", rep, SEED)}

        def west(result):
            return [e for e in result.events if e.partner == "West"]

        def west_threats(result):
            # What West did about the threats at its city (the records' detection and firm
            # track times are the earliest of any partner's, so they do change).
            return [
                (t.first_launch_s, t.engaged_by, t.shots, t.intercept_time_s, t.killed)
                for t in result.threats
                if t.aimpoint_partner == "West"
            ]

        assert west(a["independent"]) == west(b["independent"])
        assert west_threats(a["independent"]) == west_threats(b["independent"])
        assert b["independent"].shots_by_partner["East"] == 0  # East is blind now
        changed_with_exchange += west(a["data-exchange"]) != west(b["data-exchange"])
    assert changed_with_exchange > 0


def test_independent_exchanges_no_messages(pair, tmp_path):
    result = run_replication(pair, "independent", 0, SEED, ledger_dir=tmp_path)
    assert result.rejected_messages == {}
    # No picture was exchanged at all: no sensing ledgers were written.
    assert not (tmp_path / "picture").exists()
    # Each node's decision ledger holds only what it signed itself; the centre heard nothing.
    for name in ("West", "East", "Centre"):
        report = verify_ledger(tmp_path / "independent" / f"{name}.ledger")
        assert report.ok, report.reason
        assert all(m.sender == name for m in report.messages)
        kinds = [m.kind for m in report.messages]
        if name == "Centre":
            assert kinds == ["ledger_seal"]  # its own seal, nothing received
        else:
            assert "order" in kinds


# --------------------------------------------------------------------------------------------
# sectoral: no interceptor fires at a threat outside its partner's sector
# --------------------------------------------------------------------------------------------


def _check_intercepts_in_sector(scenario, runs, name="sectoral"):
    rules = Arrangement.from_scenario(scenario, name)
    checked = 0
    for by_arrangement in runs.values():
        for event in events(by_arrangement[name], "intercept"):
            lat, lon = ground_point_deg(scenario, event.threat_id, event.t_s)
            owner = rules.sector_owner(np.array([lat]), np.array([lon]))[0]
            assert owner == event.partner, (
                f"{event.detail} (partner {event.partner}) intercepts threat {event.threat_id} "
                f"at t={event.t_s:.3f} s over ({lat:.4f}, {lon:.4f}), {owner}'s sector"
            )
            checked += 1
    assert checked > 0


# Regression: an intercept is refined between two trajectory samples, so both must lie in the
# shooter's sector (West once intercepted at lon 46.007, just inside East's sector).


def test_sectoral_intercepts_lie_in_the_shooters_sector_pair(pair, pair_runs):
    _check_intercepts_in_sector(pair, pair_runs)


def test_sectoral_intercepts_lie_in_the_shooters_sector_away_from_the_boundary(pair, pair_runs):
    """The same rule, to within one second of flight of the sector boundary (what the bug above
    allows): nothing is engaged deep inside the other partner's sector."""
    # One second of the MRBM's ground track (below 3 km/s) in degrees of longitude near 38 N.
    tolerance_deg = 3.0 / (111.2 * np.cos(np.radians(38.0)))
    for by_arrangement in pair_runs.values():
        intercepts = events(by_arrangement["sectoral"], "intercept")
        assert intercepts
        for event in intercepts:
            _, lon = ground_point_deg(pair, event.threat_id, event.t_s)
            if event.partner == "West":
                assert lon < SECTOR_SPLIT_LON_DEG + tolerance_deg
            else:
                assert lon > SECTOR_SPLIT_LON_DEG - tolerance_deg


def test_sectoral_engages_threats_to_anyone_inside_the_sector(pair_runs):
    """Sectoral is not national: each partner engages what crosses its sector, whoever is
    threatened. In the pair, the threats at West's city are engaged only after they cross into
    West's sector, so later than West engages them on the same picture under data-exchange."""
    for by_arrangement in pair_runs.values():
        sectoral = {t.threat_id: t for t in by_arrangement["sectoral"].threats}
        national = {t.threat_id: t for t in by_arrangement["data-exchange"].threats}
        for k, threat in sectoral.items():
            if threat.aimpoint_partner == "West" and threat.first_launch_s is not None:
                assert threat.first_launch_s > national[k].first_launch_s


@pytest.mark.slow
def test_sectoral_intercepts_lie_in_the_shooters_sector_lisbon(lisbon, lisbon_runs):
    # Fails today on Krasnodar's intercept of threat 2 at t = 471.001 s, 0.8 km south of
    # Russia's territory polygon (in nobody's sector); passes with the fix above.
    _check_intercepts_in_sector(lisbon, lisbon_runs)


# --------------------------------------------------------------------------------------------
# data-exchange: each decision is national
# --------------------------------------------------------------------------------------------


def _check_national(scenario, runs):
    truth = build_truth(scenario)
    shots = 0
    for by_arrangement in runs.values():
        result = by_arrangement["data-exchange"]
        for event in result.events:
            assert event.kind not in ("request", "vote", "no-order")
            if event.kind in ("order", "shot", "intercept"):
                assert event.partner == truth.aimpoint_partner[event.threat_id]
            shots += event.kind == "shot"
        for threat in result.threats:
            if threat.engaged_by is not None:
                assert threat.engaged_by == threat.aimpoint_partner
    assert shots > 0


def test_data_exchange_decisions_are_national_pair(pair, pair_runs):
    _check_national(pair, pair_runs)


@pytest.mark.slow
def test_data_exchange_decisions_are_national_lisbon(lisbon, lisbon_runs):
    _check_national(lisbon, lisbon_runs)


def test_data_exchange_ledgers_hold_no_votes_or_requests(pair, tmp_path):
    run_replication(pair, "data-exchange", 0, SEED, ledger_dir=tmp_path)
    ledgers = sorted((tmp_path / "data-exchange").glob("*.ledger"))
    assert [p.stem for p in ledgers] == ["Centre", "East", "West"]
    kinds = set()
    for path in ledgers:
        report = verify_ledger(path)
        assert report.ok, report.reason
        for message in report.messages:
            assert not isinstance(message.body, Vote | EngagementRequest)
            kinds.add(message.kind)
    assert "order" in kinds


# --------------------------------------------------------------------------------------------
# joint: one veto stops the shot under consensus, not under any-may-fire
# --------------------------------------------------------------------------------------------


def _vetoed(scenario, partner):
    for name in ("joint-consensus", "joint-any-may-fire"):
        scenario = set_field(scenario, f"arrangements[{name}].veto", [partner])
    return scenario


def _check_veto(scenario, partner, replications):
    vetoed = _vetoed(scenario, partner)
    for rep in replications:
        runs = {r.arrangement: r for r in run_arrangements(vetoed, "all", rep, SEED)}
        consensus, anyone = runs["joint-consensus"], runs["joint-any-may-fire"]
        assert sum(consensus.shots_by_partner.values()) == 0
        assert consensus.interceptors_spent == 0
        assert not events(consensus, "shot") and not events(consensus, "order")
        vetoes = [v for v in events(consensus, "vote") if v.detail == "veto"]
        assert vetoes and all(v.partner == partner for v in vetoes)
        refused = {e.threat_id for e in events(consensus, "no-order")}
        assert refused == {e.threat_id for e in events(consensus, "request")} != set()
        # Any-may-fire: the other partner's yes suffices.
        assert anyone.interceptors_spent > 0
        # Every threat requested gets its order (a lost message is retried).
        ordered = {e.threat_id for e in events(anyone, "order")}
        assert ordered == {e.threat_id for e in events(anyone, "request")}


def test_one_veto_stops_every_shot_under_consensus_pair(pair):
    _check_veto(pair, "East", (0,))


@pytest.mark.slow
def test_one_veto_stops_every_shot_under_consensus_lisbon(lisbon, lisbon_runs):
    # Without the veto the joint arrangements do fire (the veto is what stops them).
    for by_arrangement in lisbon_runs.values():
        assert by_arrangement["joint-consensus"].interceptors_spent > 0
    _check_veto(lisbon, "Russia", (0,))


def test_abstention_does_not_block_consensus(pair):
    abstaining = set_field(pair, "arrangements[joint-consensus].abstain", ["East"])
    result = run_replication(abstaining, "joint-consensus", 0, SEED)
    assert result.interceptors_spent > 0
    votes = events(result, "vote")
    assert votes and {v.detail for v in votes if v.partner == "East"} == {"abstain"}


# --------------------------------------------------------------------------------------------
# A partner dropping out
# --------------------------------------------------------------------------------------------

# Between Russia's first and last launch orders in replication 0 (165 s and 194 s at SEED since
# boost-phase tracking was made consistent), so orders fall on both sides of the drop-out.
DROP_OUT_S = 180.0


@pytest.fixture(scope="module")
def lisbon_drop_out(lisbon):
    """lisbon2010 with Russia dropping out at DROP_OUT_S: joint-consensus, replication 0."""
    scenario = set_field(
        lisbon, "events", [{"kind": "partner-drops-out", "partner": "Russia", "time_s": DROP_OUT_S}]
    )
    return run_replication(scenario, "joint-consensus", 0, SEED)


def _orders_by_threat(result):
    return {e.threat_id: e.t_s for e in events(result, "order")}


@pytest.mark.slow
def test_drop_out_removes_the_partners_fire_units_from_later_decisions(
    lisbon_runs, lisbon_drop_out
):
    baseline = lisbon_runs[0]["joint-consensus"]
    # Without the drop-out Russia fires on orders given after DROP_OUT_S (so the test bites).
    orders = _orders_by_threat(baseline)
    assert any(
        s.partner == "Russia" and orders[s.threat_id] >= DROP_OUT_S
        for s in events(baseline, "shot")
    )
    orders = _orders_by_threat(lisbon_drop_out)
    for shot in events(lisbon_drop_out, "shot"):
        if shot.partner == "Russia":
            assert orders[shot.threat_id] < DROP_OUT_S
    # Joint decisions go on without Russia: requests after it left are decided by NATO's vote
    # alone (an order, or a refusal only because no unit still in can reach the threat).
    requests = {e.threat_id: e.t_s for e in events(lisbon_drop_out, "request")}
    late = [k for k, t in requests.items() if t >= DROP_OUT_S]
    assert late
    for vote in events(lisbon_drop_out, "vote"):
        if vote.partner == "Russia":
            assert vote.threat_id not in late
    nato_votes = {v.threat_id for v in events(lisbon_drop_out, "vote") if v.partner == "NATO"}
    decided = {e.threat_id for e in events(lisbon_drop_out, "order")}
    decided |= {e.threat_id for e in events(lisbon_drop_out, "no-order")}
    for k in late:
        assert k in nato_votes and k in decided


# Regression: a partner whose vote would come after it dropped out has no vote; it must not
# block consensus among those still in.


@pytest.mark.slow
def test_no_votes_after_a_partner_dropped_out(lisbon_drop_out):
    late_votes = [
        v for v in events(lisbon_drop_out, "vote") if v.partner == "Russia" and v.t_s >= DROP_OUT_S
    ]
    assert not late_votes
    # Every request is decided by the partners still in (all vote yes under consensus): a
    # request is refused only when no unit of a partner still in can take the shot.
    for refusal in events(lisbon_drop_out, "no-order"):
        assert refusal.detail == "the unit's partner has left"


# --------------------------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------------------------


def test_same_seed_same_results(pair, pair_runs):
    again = {r.arrangement: r for r in run_arrangements(pair, "all", 0, SEED)}
    assert again == pair_runs[0]
    other = {r.arrangement: r for r in run_arrangements(pair, "all", 0, SEED + 1)}
    assert other != pair_runs[0]


def test_one_arrangement_alone_equals_the_same_inside_all(pair, pair_runs):
    for rep in (0, 1):
        for name, result in pair_runs[rep].items():
            assert run_replication(pair, name, rep, SEED) == result


@pytest.mark.slow
def test_one_arrangement_alone_equals_the_same_inside_all_lisbon(lisbon, lisbon_runs):
    for name in ("independent", "joint-consensus"):
        assert run_replication(lisbon, name, 1, SEED) == lisbon_runs[1][name]


@pytest.mark.slow
def test_joint_orders_are_resent_until_acknowledged_over_lossy_links(lisbon):
    """Links drop 40 % of messages: requests, votes and orders are sent again until the unit's
    partner acknowledges the order, so most ordered threats are still shot at (some are not:
    the delay can put the intercept out of reach -- the ship's window on the Ankara threats
    is short once requests wait for a track NATO may launch on)."""
    lossy = lisbon
    for link in ("NATO-DFC", "Russia-DFC"):
        lossy = set_field(lossy, f"links[{link}].loss_probability", 0.4)
    ordered_total = shot_total = resent = 0
    for rep in range(4):
        result = run_replication(lossy, "joint-consensus", rep, 2010)
        ordered = {e.threat_id for e in events(result, "order")}
        shot = {t.threat_id for t in result.threats if t.shots > 0}
        assert shot <= ordered  # nothing fires without an order
        ordered_total += len(ordered)
        shot_total += len(shot)
        resent += sum("again" in e.detail for e in events(result, "order"))
    assert resent > 0, "no order was lost: the test would prove nothing"
    assert shot_total >= 0.6 * ordered_total
