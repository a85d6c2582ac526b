"""The end-to-end run: the shared picture, the ledgers, a cut link, an adversary on the wire, and
the consistency of the per-threat records (issues 3 and 4).

Everything runs the real pipeline (``jointbmd.simulation``). The adversary is a ``Transport``
wrapped around the simulated network: it puts forged, replayed, corrupted and malformed bytes on
the wire next to the real messages; the receivers are the real ones.
"""

from __future__ import annotations

import subprocess
from collections import Counter

import numpy as np
import pytest

import jointbmd.simulation.runtime as runtime_module
from jointbmd.analysis.validation_scenarios import two_partner
from jointbmd.campaign import plan_campaign
from jointbmd.cli import main
from jointbmd.exchange import (
    Delivery,
    FusedPicture,
    Signer,
    Transport,
    Vote,
    canonical_json,
    compare_ledgers,
    compare_pictures,
    export_picture,
    generate_keys,
    verify_ledger,
)
from jointbmd.scenario import load_scenario, scenario_hash, set_field
from jointbmd.simulation import run_arrangements, run_replication

SEED = 11
NATIONAL = ("independent", "data-exchange", "sectoral")


@pytest.fixture(scope="module")
def pair():
    return two_partner(sspk=0.7)


@pytest.fixture(scope="module")
def lisbon():
    return load_scenario("lisbon2010")


def pictures_in(path):
    """The fused pictures recorded in a ledger file (verified first)."""
    report = verify_ledger(path)
    assert report.ok, f"{path}: entry {report.first_bad}: {report.reason}"
    return [m for m in report.messages if isinstance(m.body, FusedPicture)]


# --------------------------------------------------------------------------------------------
# The shared picture and the ledgers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair_ledgers(pair, tmp_path_factory):
    directory = tmp_path_factory.mktemp("ledgers")
    results = run_arrangements(pair, "all", 0, SEED, ledger_dir=directory)
    return directory, results


def test_every_partner_receives_the_identical_fused_picture(pair_ledgers):
    directory, _ = pair_ledgers
    west = export_picture(directory / "picture" / "West.ledger")
    east = export_picture(directory / "picture" / "East.ledger")
    assert west["count"] > 10
    comparison = compare_pictures(west, east)
    assert comparison.identical, comparison.to_json()
    assert canonical_json(west) == canonical_json(east)
    # The same signed bytes: every picture's payload hash, sender and number agree.
    a = [(m.sender, m.seq, m.digest) for m in pictures_in(directory / "picture" / "West.ledger")]
    b = [(m.sender, m.seq, m.digest) for m in pictures_in(directory / "picture" / "East.ledger")]
    assert sorted(a) == sorted(b)
    # And the pictures hold both partners' tracks.
    sources = {s for m in pictures_in(directory / "picture" / "West.ledger") for t in
               m.body.sources for s in t}  # fmt: skip
    assert sources == {"West", "East"}
    # The centre's ledger records every picture it signed: the same, cycle by cycle.
    exports = {
        n: export_picture(directory / "picture" / f"{n}.ledger") for n in ("West", "East", "Centre")
    }
    comparison = compare_ledgers(exports)
    assert comparison.identical and comparison.common == west["count"]


def test_one_scenario_hash_in_ledgers_and_campaigns(pair, pair_ledgers):
    directory, _ = pair_ledgers
    meta = verify_ledger(directory / "picture" / "Centre.ledger").meta
    plan = plan_campaign(pair, replications=1, seed=SEED)
    assert meta["scenario_hash"] == scenario_hash(pair) == plan.scenario_hash


@pytest.mark.slow
def test_lossy_links_give_consistent_pictures_and_lossless_identical_lisbon(lisbon, tmp_path):
    """lisbon2010's links lose 1 % of messages: partners may miss pictures but never receive
    different ones; with loss-free links their pictures are identical."""
    run_arrangements(lisbon, ["data-exchange"], 0, SEED, ledger_dir=tmp_path / "lossy")
    nato = export_picture(tmp_path / "lossy" / "picture" / "NATO.ledger")
    russia = export_picture(tmp_path / "lossy" / "picture" / "Russia.ledger")
    lossy = compare_pictures(nato, russia)
    assert lossy.consistent and lossy.common > 10
    lossless = lisbon
    for link in ("NATO-DFC", "Russia-DFC"):
        lossless = set_field(lossless, f"links[{link}].loss_probability", 0.0)
    run_arrangements(lossless, ["data-exchange"], 0, SEED, ledger_dir=tmp_path / "lossless")
    nato = export_picture(tmp_path / "lossless" / "picture" / "NATO.ledger")
    russia = export_picture(tmp_path / "lossless" / "picture" / "Russia.ledger")
    assert compare_pictures(nato, russia).identical
    assert canonical_json(nato) == canonical_json(russia)


@pytest.mark.slow
def test_ledger_verify_passes_on_every_written_ledger(pair_ledgers, capsys):
    directory, results = pair_ledgers
    paths = sorted(directory.rglob("*.ledger"))
    # The launch warning's and the picture's three nodes, and per arrangement the decisions'
    # and the kill assessments' three nodes.
    assert len(paths) == 3 * (2 + 2 * len(results))
    # The command itself, as a user runs it, on the picture's ledgers...
    for path in sorted((directory / "picture").glob("*.ledger")):
        done = subprocess.run(
            ["jointbmd", "ledger", "verify", str(path)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "intact" in done.stdout
    # ... and in-process (same command, without a process start per file) on all of them.
    for path in paths:
        with pytest.raises(SystemExit) as exit_info:
            main(["ledger", "verify", str(path)])
        assert exit_info.value.code in (0, None), capsys.readouterr()
        assert "intact" in capsys.readouterr().out


def test_ledger_verify_fails_on_an_altered_copy(pair_ledgers, tmp_path):
    directory, _ = pair_ledgers
    lines = (directory / "picture" / "Centre.ledger").read_bytes().split(b"\n")
    assert len(lines) > 3
    lines[2] = lines[2].replace(b'"t_receive":', b'"t_receive": ', 1)
    altered = tmp_path / "altered.ledger"
    altered.write_bytes(b"\n".join(lines))
    done = subprocess.run(
        ["jointbmd", "ledger", "verify", str(altered)], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "entry 2" in (done.stdout + done.stderr)


def test_fusion_carries_on_when_one_partners_link_is_cut(pair, tmp_path):
    cut = set_field(pair, "links[East-Centre].outages", [{"start_s": 0.0, "end_s": 100000.0}])
    result = run_replication(cut, "data-exchange", 0, SEED, ledger_dir=tmp_path)
    west = pictures_in(tmp_path / "picture" / "West.ledger")
    assert len(west) > 10
    assert {s for m in west for t in m.body.sources for s in t} == {"West"}
    assert pictures_in(tmp_path / "picture" / "East.ledger") == []
    centre = verify_ledger(tmp_path / "picture" / "Centre.ledger")
    received = {m.sender for m in centre.messages if m.sender != "Centre"}
    assert centre.ok and received == {"West"}
    # The centre's ledger also holds every fused picture it signed (sent to West alone).
    signed = [m for m in centre.messages if m.sender == "Centre" and m.kind == "fused_picture"]
    assert [m.digest for m in signed] == [m.digest for m in west]
    # West still defends its city on what it has (its own tracks, fused alone).
    assert result.shots_by_partner["West"] > 0


def test_fusion_carries_on_after_a_partner_drops_out(pair, tmp_path):
    t_out = 150.0
    dropped = set_field(
        pair, "events", [{"kind": "partner-drops-out", "partner": "East", "time_s": t_out}]
    )
    run_replication(dropped, "data-exchange", 0, SEED, ledger_dir=tmp_path)
    west = pictures_in(tmp_path / "picture" / "West.ledger")
    east = pictures_in(tmp_path / "picture" / "East.ledger")
    # The centre lets a national track coast for up to 30 s after its last report
    # (``FusionCentre.max_age``); after that East's tracks are gone from the picture.
    before = [m for m in west if m.body.t < t_out]
    after = [m for m in west if m.body.t > t_out + 40.0]
    assert before and after
    assert any("East" in t for m in before for t in m.body.sources)
    assert all("East" not in t for m in after for t in m.body.sources)
    # East hears nothing sent after it left.
    assert east and max(m.t_sent for m in east) < t_out


# --------------------------------------------------------------------------------------------
# An adversary on the wire
# --------------------------------------------------------------------------------------------


class Adversary(Transport):
    """A man in the middle: passes every real message on unchanged and, every ``every``-th
    message, adds one attack addressed to the same destination -- a replay of that message
    (3 s later), a stale replay (``stale_after_s`` later, beyond the receivers' time window), a
    copy with a corrupted signature, a forgery
    signed with the attacker's own key in a partner's name, a message from an unknown sender,
    or bytes that are no message at all. Counts each attack it actually delivers, by the
    reason a receiver should give."""

    ATTACKS = ("replay", "stale", "bad_signature", "forged", "unknown_sender", "malformed")

    def __init__(self, inner, stale_after_s: float, every: int = 3):
        self.inner = inner
        self.stale_after_s = stale_after_s
        self.links = inner.links  # the simulation asks which links exist
        self.every = every
        self._sent = 0
        self._queue: list[tuple[float, int, Delivery, str]] = []
        self.delivered: Counter[str] = Counter()
        keys = generate_keys(["West", "Mallory"], seed=666)
        self._impostor = Signer("West", keys["West"])  # not West's real key
        self._stranger = Signer("Mallory", keys["Mallory"])

    def send(self, source, destination, data, t):
        self.inner.send(source, destination, data, t)
        self._sent += 1
        if self._sent % self.every:
            return
        attack = self.ATTACKS[(self._sent // self.every) % len(self.ATTACKS)]
        arrive = t + 1.0
        if attack == "replay":
            bad, arrive = data, t + 3.0
        elif attack == "stale":
            bad, arrive = data, t + self.stale_after_s
        elif attack == "bad_signature":
            bad = data[:-1] + bytes([data[-1] ^ 0x01])
        elif attack == "forged":
            bad = self._impostor.sign(Vote("r", "West", "veto", t), t).wire
        elif attack == "unknown_sender":
            bad = self._stranger.sign(Vote("r", "Mallory", "veto", t), t).wire
        else:
            bad = b"\x00 not a message " + data[: len(data) // 3]
        reason = {"forged": "bad_signature"}.get(attack, attack)
        self._queue.append(
            (arrive, len(self._queue), Delivery(arrive, source, destination, bad, t), reason)
        )

    def deliver(self, destination, t):
        real = self.inner.deliver(destination, t)
        due = [q for q in self._queue if q[2].destination == destination and q[0] <= t]
        self._queue = [q for q in self._queue if q not in due]
        for q in due:
            self.delivered[q[3]] += 1
        merged = [(d.t_arrival, 0, i, d) for i, d in enumerate(real)]
        merged += [(q[0], 1, q[1], q[2]) for q in due]
        return [row[3] for row in sorted(merged, key=lambda row: row[:3])]

    def next_arrival(self, destination):
        times = [q[0] for q in self._queue if q[2].destination == destination]
        inner = self.inner.next_arrival(destination)
        times += [] if inner is None else [inner]
        return min(times) if times else None


@pytest.fixture
def attack(monkeypatch):
    """``attack()`` puts an adversary on every network the exchange runtime builds from then on
    (the launch warning's, the picture's and the decisions') and returns the list collecting
    them. A stale replay arrives after the one acceptance window (``MAX_MESSAGE_AGE_S``)."""
    real_network_of = runtime_module.network_of

    def start() -> list[Adversary]:
        made: list[Adversary] = []
        stale_after_s = runtime_module.MAX_MESSAGE_AGE_S + 40.0

        def network_with_adversary(scenario, rng):
            adversary = Adversary(real_network_of(scenario, rng), stale_after_s)
            made.append(adversary)
            return adversary

        monkeypatch.setattr(runtime_module, "network_of", network_with_adversary)
        return made

    return start


def _without_rejections(result):
    return (result.threats, result.events, result.shots_by_partner)


@pytest.mark.parametrize("arrangement", ["data-exchange", "sectoral"])
def test_bad_messages_are_rejected_counted_and_change_nothing_else(pair, attack, arrangement):
    clean = run_replication(pair, arrangement, 0, SEED)
    assert clean.rejected_messages == {}
    adversaries = attack()
    attacked = run_replication(pair, arrangement, 0, SEED)
    injected = sum((a.delivered for a in adversaries), Counter())
    assert set(injected) == {"replay", "stale", "bad_signature", "unknown_sender", "malformed"}
    assert attacked.rejected_messages == dict(injected)
    assert _without_rejections(attacked) == _without_rejections(clean)


# Regression: a decision message's arrival is its first copy's; a replayed copy, rejected by
# the receiver, must not move the joint decision.


def test_replayed_decision_messages_do_not_delay_joint_decisions(pair, attack):
    clean = run_replication(pair, "joint-consensus", 0, SEED)
    assert clean.rejected_messages == {}
    adversaries = attack()
    attacked = run_replication(pair, "joint-consensus", 0, SEED)
    injected = sum((a.delivered for a in adversaries), Counter())
    assert attacked.rejected_messages == dict(injected)
    assert _without_rejections(attacked) == _without_rejections(clean)


# --------------------------------------------------------------------------------------------
# The per-threat records
# --------------------------------------------------------------------------------------------


def _check_records(scenario, results):
    partners = {p.name for p in scenario.partners}
    envelope = [(t.min_altitude_km, t.max_altitude_km) for t in scenario.interceptor_types]
    low = min(a for a, _ in envelope) - 1e-6
    high = max(b for _, b in envelope) + 1e-6
    for result in results:
        rules = scenario.arrangement(result.arrangement)
        assert set(result.shots_by_partner) == partners
        assert result.interceptors_spent == sum(result.shots_by_partner.values())
        times = [e.t_s for e in result.events]
        assert times == sorted(times)
        shot_events = Counter(e.threat_id for e in result.events if e.kind == "shot")
        intercepts = Counter(e.threat_id for e in result.events if e.kind == "intercept")
        leaks = {e.threat_id for e in result.events if e.kind == "leak"}
        assert [t.threat_id for t in result.threats] == list(range(len(result.threats)))
        for t in result.threats:
            assert t.shots >= 0
            assert t.shots == shot_events[t.threat_id] == intercepts[t.threat_id]
            assert t.launch_time_s < t.impact_time_s
            assert (t.threat_id in leaks) == t.leaked
            if t.first_detection_s is not None:
                assert t.launch_time_s <= t.first_detection_s <= t.impact_time_s
                if t.first_firm_track_s is not None:
                    assert t.first_detection_s <= t.first_firm_track_s
            else:
                assert t.first_firm_track_s is None and t.shots == 0
            if t.shots:
                assert t.engaged_by in partners
                assert t.first_detection_s <= t.first_launch_s < t.impact_time_s
                if result.arrangement in NATIONAL:
                    # Launch needs a firm track and the decision latency.
                    assert (
                        t.first_launch_s >= t.first_firm_track_s + rules.decision_latency_s - 1e-6
                    )
            else:
                assert t.first_launch_s is None and t.engaged_by is None and not t.killed
            if t.killed:
                assert t.shots >= 1
                assert t.first_launch_s < t.intercept_time_s <= t.impact_time_s
                assert t.launch_time_s < t.intercept_time_s
                assert low <= t.intercept_altitude_km <= high
            else:
                assert t.intercept_time_s is None and t.intercept_altitude_km is None


def test_per_threat_records_are_consistent_pair(pair):
    for rep in (0, 1):
        _check_records(pair, run_arrangements(pair, "all", rep, SEED))


@pytest.mark.slow
def test_per_threat_records_are_consistent_lisbon(lisbon):
    results = run_arrangements(lisbon, "all", 0, SEED)
    _check_records(lisbon, results)
    # Something happened: threats were engaged and killed in every arrangement.
    for result in results:
        assert result.interceptors_spent > 0
        assert any(t.killed for t in result.threats)
    assert np.isfinite([t.impact_time_s for t in results[0].threats]).all()


@pytest.mark.slow
def test_ledgers_stay_in_time_order_when_requests_are_retried(tmp_path):
    """Lossy links make the joint centre retry requests long after the first shots; every
    ledger (decisions, votes, orders, kill assessments) must still be written in time order
    and verify."""
    lisbon = load_scenario("lisbon2010")
    lossy = set_field(lisbon, "links[NATO-DFC].loss_probability", 0.4)
    lossy = set_field(lossy, "links[Russia-DFC].loss_probability", 0.4)
    result = run_replication(lossy, "joint-consensus", 0, 11, ledger_dir=tmp_path)
    assert len([e for e in result.events if e.kind == "request"]) > len(
        {e.threat_id for e in result.events if e.kind == "request"}
    ), "no request was retried: the test would prove nothing"
    for ledger in sorted(tmp_path.rglob("*.ledger")):
        report = verify_ledger(ledger)
        assert report.ok, f"{ledger}: {report.reason}"
