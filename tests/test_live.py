"""The live run: every node its own process, messages over ZeroMQ on 127.0.0.1.

Real processes (``python -m jointbmd node``), real sockets, real signatures. A live run must
give exactly the batch run's outcomes for the same seed and replication (conservative
synchronisation and per-link random streams, ``simulation.runtime``); a node killed with
SIGKILL is a partner dropping out; frames forged or replayed on the wire by an adversary are
rejected and counted; a peer that never connects is a clear error, not a hang.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from jointbmd.analysis.validation_scenarios import two_partner
from jointbmd.exchange import Vote, compare_ledgers, export_picture, generate_keys, verify_ledger
from jointbmd.exchange.signing import Signer, save_keys
from jointbmd.live import live_run
from jointbmd.scenario.loader import scenario_to_yaml
from jointbmd.simulation import run_arrangements

SEED = 11


@pytest.fixture(scope="module")
def pair():
    return two_partner(sspk=0.7)


@pytest.fixture(scope="module")
def pair_file(pair, tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "pair.yaml"
    path.write_text(scenario_to_yaml(pair), encoding="utf-8")
    return path


def outcomes(result):
    return (result.threats, result.events, result.shots_by_partner, result.rejected_messages)


def test_a_live_run_gives_exactly_the_batch_outcomes(pair, tmp_path):
    """Every arrangement, replication 1: the same threats, events, shots and rejections as the
    batch run; each node wrote its own ledgers, which verify, and the partners' ledgers prove
    the centre sent both the same pictures."""
    batch = run_arrangements(pair, "all", 1, SEED)
    live = live_run(pair, "all", 1, SEED, ledger_dir=tmp_path)
    assert live.departed == {}
    assert len(set(live.pids.values())) == 3 and os.getpid() not in live.pids.values()
    assert [r.arrangement for r in live.results] == [r.arrangement for r in batch]
    for b, lv in zip(batch, live.results, strict=True):
        assert outcomes(lv) == outcomes(b), b.arrangement
    assert any(r.shots_by_partner["West"] for r in batch)  # something was fought
    ledgers = sorted(tmp_path.rglob("*.ledger"))
    assert len(ledgers) == 3 * (2 + 2 * len(batch))
    for path in ledgers:
        report = verify_ledger(path)
        assert report.ok, f"{path}: {report.reason}"
    pictures = {n: export_picture(tmp_path / "picture" / f"{n}.ledger") for n in ("West", "East")}
    assert pictures["West"]["count"] > 10
    assert compare_ledgers(pictures).identical


def test_live_json_has_the_shape_and_the_numbers_of_run_json(pair_file):
    def jointbmd(*args):
        done = subprocess.run(
            ["jointbmd", *args], capture_output=True, text=True, timeout=240, check=False
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    arrangement = ("--arrangement", "independent,data-exchange")
    live = jointbmd("live", str(pair_file), *arrangement, "--seed", str(SEED), "--json")
    run = jointbmd("run", str(pair_file), *arrangement, "--seed", str(SEED), "-r", "1", "--json")
    assert set(run) - {"records", "store"} <= set(live)
    assert live["executor"] == "live" and live["replication"] == 0
    assert set(live["live"]["nodes"]) == {"West", "East", "Centre"}
    for name in ("rows", "paired", "threats", "timeline_replication_0"):
        assert live[name] == run[name], name


def _kill_when(path, pid, entries, deadline_s=60.0):
    """SIGKILL ``pid`` once the ledger at ``path`` holds ``entries`` lines (bounded wait)."""

    def watch():
        stop = time.monotonic() + deadline_s
        while time.monotonic() < stop:
            try:
                with open(path, "rb") as handle:
                    if sum(1 for _ in handle) > entries:
                        os.kill(pid, signal.SIGKILL)
                        return
            except OSError:
                pass
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_node_killed_mid_run_is_a_partner_dropping_out(pair, tmp_path):
    watchers = []

    def on_started(addresses, pids):
        watchers.append(_kill_when(tmp_path / "picture" / "East.ledger", pids["East"], 5))

    live = live_run(
        pair, ["data-exchange", "joint-consensus"], 0, SEED, ledger_dir=tmp_path,
        on_started=on_started,
    )  # fmt: skip
    watchers[0].join(timeout=5)
    assert set(live.departed) == {"East"}
    assert [r.arrangement for r in live.results] == ["data-exchange", "joint-consensus"]
    # East's ledger of the stage it died in verifies up to its last line, unsealed.
    east = tmp_path / "picture" / "East.ledger"
    assert not verify_ledger(east).ok  # no seal: it was cut off
    assert verify_ledger(east, require_seal=False).ok
    assert len(east.read_bytes().splitlines()) > 5
    # The others went on: their ledgers are complete and sealed, West fought on alone.
    for node in ("West", "Centre"):
        for stage in ("picture", "data-exchange", "joint-consensus"):
            assert verify_ledger(tmp_path / stage / f"{node}.ledger").ok, (node, stage)
    assert not (tmp_path / "data-exchange" / "East.ledger").exists()
    # West fights on alone: under data exchange on its own orders, and under joint consensus
    # because the centre, told of East's departure, counts the votes without East's.
    shots = {r.arrangement: r.shots_by_partner for r in live.results}
    assert shots["data-exchange"]["West"] > 0
    assert shots["joint-consensus"]["West"] > 0 and shots["joint-consensus"]["East"] == 0


def test_forged_and_replayed_frames_on_the_wire_are_rejected_and_counted(pair, tmp_path):
    """An adversary connects to the centre's socket under its own name and sends bytes that
    are no message, a message signed with a key that is not East's in East's name, one from a
    sender nobody knows, and two copies of a message West really sent (read from West's
    ledger as it is written)."""
    import base64

    import zmq

    keys = generate_keys(["East", "Mallory"], seed=666)  # not East's real key
    forged = Signer("East", keys["East"]).sign(Vote("r", "East", "veto", 10.0), 10.0).wire
    stranger = Signer("Mallory", keys["Mallory"]).sign(Vote("r", "Mallory", "yes", 10.0), 10.0)
    done = threading.Event()

    def attack(address):
        context = zmq.Context.instance()
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, b"mallory")
        sock.linger = 1000
        sock.connect(address)
        west = tmp_path / "picture" / "West.ledger"
        stop = time.monotonic() + 60
        line = None
        while line is None and time.monotonic() < stop:
            try:
                lines = west.read_bytes().splitlines()
            except OSError:
                lines = []
            if len(lines) > 3:
                line = json.loads(lines[2])
            time.sleep(0.002)
        assert line is not None
        genuine = base64.b64decode(line["message"]) + base64.b64decode(line["signature"])
        for data in (b"\x00 not a message", forged, stranger.wire, genuine, genuine):
            sock.send_multipart([b"{}", data])
        sock.close()
        done.set()

    threads = []

    def on_started(addresses, pids):
        threads.append(threading.Thread(target=attack, args=(addresses["Centre"],), daemon=True))
        threads[0].start()

    clean = run_arrangements(pair, "data-exchange", 0, SEED)[0]
    assert clean.rejected_messages == {}
    live = live_run(pair, "data-exchange", 0, SEED, ledger_dir=tmp_path, on_started=on_started)
    assert done.wait(5)
    rejected = live.results[0].rejected_messages
    assert rejected.get("malformed") == 1
    assert rejected.get("bad_signature") == 1
    assert rejected.get("unknown_sender") == 1
    # The two copies of West's message: at least one refused as a replay, or as stale when it
    # arrives beyond the acceptance window.
    assert 1 <= rejected.get("replay", 0) + rejected.get("stale", 0) <= 2
    assert set(rejected) <= {"malformed", "bad_signature", "unknown_sender", "replay", "stale"}
    assert verify_ledger(tmp_path / "picture" / "Centre.ledger").ok


def test_a_peer_that_never_connects_is_a_clear_error(pair_file, tmp_path):
    from jointbmd.live import free_ports

    save_keys(generate_keys(["East", "Centre"]), tmp_path)  # the others' keys exist
    listen, silent, world = free_ports(3)
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable, "-m", "jointbmd", "node", str(pair_file), "--as", "West",
            "--keys", str(tmp_path), "--listen", f"tcp://127.0.0.1:{listen}",
            "--peer", f"Centre=tcp://127.0.0.1:{silent}",
            "--world", f"tcp://127.0.0.1:{world}", "--connect-timeout", "1",
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"peer Centre at tcp://127.0.0.1:{silent} never connected" in done.stderr
    assert time.monotonic() - started < 30
    assert (tmp_path / "West.key.pem").exists()  # it made its own key


def test_a_peers_envelope_must_fit_its_link_or_is_refused(pair):
    """What a node checks of a peer's frame before queueing it (``live._parse_envelope`` and
    the link model): an envelope that is not one, a delay outside the link's latency and
    jitter, a frame arriving in the node's past -- each refused, none able to stop the node."""
    from jointbmd.exchange import Link
    from jointbmd.live import _parse_envelope, fits_link

    good = json.dumps({"stage": "s1", "seq": 3, "t_sent": 10.0, "t_arrival": 10.5}).encode()
    assert _parse_envelope(good) == ("s1", 3, 10.0, 10.5)
    for bad in (
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"stage": "s1", "seq": 1e999, "t_sent": 1, "t_arrival": 2}',
        b'{"stage": "s1", "seq": 0, "t_sent": 1, "t_arrival": 2}',
        b'{"stage": "s1", "seq": 2, "t_sent": NaN, "t_arrival": 2}',
        b'{"stage": "s1", "seq": 2, "t_sent": 1, "t_arrival": Infinity}',
        b'{"stage": 7, "seq": 2, "t_sent": 1, "t_arrival": 2}',
    ):
        assert _parse_envelope(bad) is None, bad
    link = Link(latency_s=0.5, jitter_s=0.2, outages=((100.0, 200.0),))
    assert fits_link(link, 10.0, 10.5, now=10.0) and fits_link(link, 10.0, 10.7, now=-1.0)
    assert not fits_link(link, 10.0, 10.4, now=0.0)  # faster than the link
    assert not fits_link(link, 10.0, 10.8, now=0.0)  # slower than its jitter allows
    assert not fits_link(link, 10.0, 10.6, now=11.0)  # in the receiver's past
    assert not fits_link(link, 99.8, 100.3, now=0.0)  # through an outage


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--listen", "nonsense"], "--listen"),
        (["--listen", "tcp://127.0.0.1:1", "--peer", "Centre"], "--peer"),
        (["--listen", "tcp://127.0.0.1:1", "--peer", "Centre=udp://x:1"], "--peer"),
        (["--listen", "tcp://127.0.0.1:1", "--as", "Nobody"], "--as"),
    ],
)
def test_bad_node_flags_are_one_line_errors(pair_file, tmp_path, flags, field):
    args = ["--as", "West", "--keys", str(tmp_path), "--world", "tcp://127.0.0.1:2", *flags]
    done = subprocess.run(
        ["jointbmd", "node", str(pair_file), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"{field}:" in done.stderr, done.stderr
