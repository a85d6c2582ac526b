"""The arrangements' decision rules, case by case (docs/design.md, "The cooperation
arrangements")."""

from __future__ import annotations

import numpy as np
import pytest

from jointbmd.arrangements import (
    ARRANGEMENTS,
    DataExchange,
    Joint,
    Sectoral,
    inside_polygon,
)

LATENCY = {"NATO": 20.0, "Russia": 30.0, "Ukraine": 10.0}
PARTNERS = ["NATO", "Russia", "Ukraine"]


def joint(rule, **kw):
    return Joint(name="j", vote_rule=rule, vote_latency_s=LATENCY, **kw)


def test_consensus_waits_for_the_last_vote_and_one_veto_stops_the_shot():
    assert joint("consensus").order_time(100.0, PARTNERS) == 130.0
    assert joint("consensus", veto=frozenset({"Ukraine"})).order_time(100.0, PARTNERS) == np.inf


def test_majority_orders_with_the_deciding_vote():
    assert joint("majority").order_time(100.0, PARTNERS) == 120.0
    # One veto of three: the two others still make a majority.
    assert joint("majority", veto=frozenset({"NATO"})).order_time(100.0, PARTNERS) == 130.0
    assert (
        joint("majority", veto=frozenset({"NATO", "Russia"})).order_time(100.0, PARTNERS) == np.inf
    )


def test_any_may_fire_takes_the_first_yes():
    assert joint("any-may-fire").order_time(100.0, PARTNERS) == 110.0
    assert joint("any-may-fire", veto=frozenset({"Ukraine"})).order_time(100.0, PARTNERS) == 120.0


def test_abstaining_and_departed_partners_do_not_vote():
    rules = joint("consensus", abstain=frozenset({"Russia"}))
    assert rules.order_time(0.0, PARTNERS) == 20.0
    assert joint("consensus").order_time(0.0, ["NATO"]) == 20.0
    assert joint("consensus").order_time(0.0, []) == np.inf


def test_votes_arriving_over_links_override_the_nominal_latency():
    assert joint("consensus").order_time(0.0, ["NATO", "Russia"], {"NATO": 50.0}) == 50.0


def test_decision_latency_is_added_and_national_arrangements_do_not_vote():
    national = DataExchange(name="d", decision_latency_s=15.0)
    assert national.launch_permitted_at(national.order_time(100.0, PARTNERS)) == 115.0
    rules = Joint(name="j", decision_latency_s=5.0, vote_latency_s=LATENCY)
    assert rules.launch_permitted_at(rules.order_time(100.0, ["NATO"])) == 125.0


def test_national_arrangements_defend_their_own_assets_and_joint_defends_all():
    units, targets = ["NATO", "Russia"], ["Russia", "NATO", "Russia"]
    for kind in ("independent", "data-exchange"):
        mask = ARRANGEMENTS[kind](name=kind).may_engage(units, targets)
        assert mask.tolist() == [[False, True], [True, False], [False, True]]
    assert Joint(name="j").may_engage(units, targets).all()


def test_sectoral_fires_only_inside_its_own_sector():
    sectors = {
        "NATO": np.array([[40.0, 20.0], [50.0, 20.0], [50.0, 35.0], [40.0, 35.0]]),
        "Russia": np.array([[40.0, 35.0], [60.0, 35.0], [60.0, 50.0], [40.0, 50.0]]),
    }
    rules = Sectoral(name="s", sectors=sectors)
    units = ["NATO", "Russia"]
    lat = np.array([[45.0, 45.0], [45.0, 45.0], [10.0, 10.0]])
    lon = np.array([[30.0, 30.0], [40.0, 40.0], [30.0, 30.0]])
    mask = rules.may_engage(units, ["Russia", "NATO", "NATO"], lat, lon)
    # Threat 0 (aimed at Russia) crosses NATO's sector: NATO engages it, Russia may not.
    assert mask.tolist() == [[True, False], [False, True], [False, False]]
    with pytest.raises(ValueError):
        rules.may_engage(units, ["NATO"])


@pytest.mark.parametrize(
    "rule, votes, expected",
    [
        ("consensus", {"NATO": "yes"}, "wait"),
        ("consensus", {"NATO": "yes", "Russia": "yes", "Ukraine": "yes"}, "order"),
        ("consensus", {"NATO": "yes", "Russia": "veto"}, "refuse"),
        ("majority", {"NATO": "yes", "Russia": "yes"}, "order"),
        ("majority", {"NATO": "veto", "Russia": "veto"}, "refuse"),
        ("majority", {"NATO": "yes", "Russia": "veto"}, "wait"),
        ("any-may-fire", {"Russia": "veto", "Ukraine": "yes"}, "order"),
        ("any-may-fire", {"NATO": "veto", "Russia": "veto", "Ukraine": "veto"}, "refuse"),
    ],
)
def test_tally_decides_as_votes_arrive(rule, votes, expected):
    assert joint(rule).tally(votes, PARTNERS) == expected


def test_tally_agrees_with_order_time_once_every_vote_is_in():
    for rule in ("consensus", "majority", "any-may-fire"):
        for veto in (frozenset(), frozenset({"Russia"}), frozenset({"NATO", "Russia"})):
            rules = joint(rule, veto=veto)
            votes = {p: ("veto" if p in veto else "yes") for p in PARTNERS}
            decided = rules.tally(votes, PARTNERS)
            assert (decided == "order") == np.isfinite(rules.order_time(0.0, PARTNERS))


def test_inside_polygon_even_odd_rule_on_a_concave_sector():
    # An L-shaped sector (lat, lon): the notch at lat 45-50, lon 25-30 is outside.
    l_shape = np.array([[40, 20], [50, 20], [50, 25], [45, 25], [45, 30], [40, 30]], float)
    lat = np.array([42.0, 47.0, 47.0, 42.0, 55.0, np.nan])
    lon = np.array([22.0, 22.0, 27.0, 28.0, 22.0, 22.0])
    assert inside_polygon(lat, lon, l_shape).tolist() == [True, True, False, True, False, False]
