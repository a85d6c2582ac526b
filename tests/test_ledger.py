"""The hash-chained ledger: verification catches alteration, removal, reordering and insertion
and names the first bad entry; the CLI's exit codes; picture export and comparison."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess

import numpy as np
import pytest

from jointbmd.cli import main
from jointbmd.errors import UserError
from jointbmd.exchange import (
    FusedPicture,
    KeyRing,
    Ledger,
    LedgerInvalid,
    Link,
    Order,
    Receiver,
    Signer,
    SimulatedNetwork,
    TrackReport,
    Vote,
    canonical_json,
    compare_pictures,
    export_picture,
    generate_keys,
    save_keys,
    verify_ledger,
)

PARTNERS = ("NATO", "Russia", "fusion")


@pytest.fixture(scope="module")
def keys():
    return generate_keys(PARTNERS, seed=7)


@pytest.fixture(scope="module")
def ring(keys):
    return KeyRing.from_private(keys)


def picture(t: float, k: int = 2, offset: float = 0.0) -> FusedPicture:
    rng = np.random.default_rng(int(t))
    return FusedPicture(
        t=t,
        track_id=np.arange(k),
        t_track=np.full(k, t),
        x=rng.normal(size=(k, 6)) * 1e6 + offset,
        P=np.broadcast_to(np.eye(6), (k, 6, 6)) * 100.0,
        quality=np.linspace(0.2, 0.9, k),
        firm=np.arange(k) % 2 == 0,
        sources=[["NATO", "Russia"]] * k,
    )


def write_ledger(path, keys, ring, n_tracks: int = 4, seal: bool = True) -> Ledger:
    """A fusion-centre ledger: partners' track reports, a picture, a vote and an order."""
    signers = {p: Signer(p, keys[p]) for p in PARTNERS}
    rng = np.random.default_rng(0)
    with Ledger(path, "fusion", ring, meta={"scenario": "test", "seed": 7}) as ledger:
        receiver = Receiver("fusion", ring, ledger=ledger)
        t = 0.0
        for i in range(n_tracks):
            partner = ("NATO", "Russia")[i % 2]
            body = TrackReport(partner, i, t, rng.normal(size=6), np.eye(6), 0.5, i > 1)
            assert receiver.receive(signers[partner].sign(body, t).wire, t + 0.5) is not None
            t += 1.0
        ledger.append(signers["fusion"].sign(picture(t), t), t)
        ledger.record(signers["NATO"], Vote("req-1", "NATO", "yes", t + 1), t + 1)
        ledger.record(signers["fusion"], Order("o1", "req-1", "Deveselu", 0, t + 2, True, 2), t + 2)
        if seal:
            ledger.seal(signers["fusion"], t + 3)
    return ledger


@pytest.fixture
def ledger_file(tmp_path, keys, ring):
    path = tmp_path / "fusion.ledger"
    write_ledger(path, keys, ring)
    return path


def lines_of(path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def write_lines(path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def rechain(lines: list[bytes], start: int) -> list[bytes]:
    """What an attacker without keys can do: renumber and recompute every hash from `start`."""
    out = list(lines[:start])
    prev = json.loads(out[-1])["hash"]
    for i, line in enumerate(lines[start:], start=start):
        obj = json.loads(line)
        obj["index"], obj["prev"] = i, prev
        obj.pop("hash")
        obj["hash"] = prev = hashlib.sha256(canonical_json(obj)).hexdigest()
        out.append(canonical_json(obj))
    return out


def test_intact_ledger_verifies(ledger_file, ring):
    report = verify_ledger(ledger_file)
    assert report.ok and report.first_bad is None and report.reason is None
    assert report.entries == 8 and report.owner == "fusion" and report.sealed
    assert verify_ledger(ledger_file, ring).ok
    assert verify_ledger(ledger_file, require_seal=True).ok
    kinds = [m.kind for m in report.messages]
    assert kinds == ["track_report"] * 4 + ["fused_picture", "vote", "order", "ledger_seal"]
    # Every line is canonical JSON a non-Python reader can parse; the header carries the keys.
    header = json.loads(lines_of(ledger_file)[0])
    assert header["keys"] == ring.to_hex() and header["meta"] == {"scenario": "test", "seed": 7}


def test_seeded_keys_give_byte_identical_ledgers(tmp_path, keys, ring):
    write_ledger(tmp_path / "a", keys, ring)
    again = generate_keys(PARTNERS, seed=7)
    write_ledger(tmp_path / "b", again, KeyRing.from_private(again))
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_altering_any_byte_names_its_entry(ledger_file):
    """Every byte of the header and of an entry, and a sample elsewhere, changed in turn."""
    original = ledger_file.read_bytes()
    lines = lines_of(ledger_file)
    starts = np.cumsum([0] + [len(line) + 1 for line in lines])
    rng = np.random.default_rng(1)
    positions = set(rng.choice(len(original), size=200, replace=False).tolist())
    for index in (0, 6):  # all bytes of the header and of a vote entry
        positions |= set(range(starts[index], starts[index + 1]))
    for position in sorted(positions):
        data = bytearray(original)
        data[position] ^= int(rng.integers(1, 256))
        ledger_file.write_bytes(bytes(data))
        report = verify_ledger(ledger_file)
        expected = int(np.searchsorted(starts, position, side="right")) - 1
        assert not report.ok, position
        assert report.first_bad == expected, (position, report.reason)


def test_removed_entries(ledger_file):
    lines = lines_of(ledger_file)
    for k in (1, 4, 7):
        write_lines(ledger_file, lines[:k] + lines[k + 1 :])
        report = verify_ledger(ledger_file)
        assert (report.ok, report.first_bad) == (False, k)
        assert "removed" in report.reason


def test_reordered_entries(ledger_file):
    lines = lines_of(ledger_file)
    for k in (1, 3, 6):
        swapped = list(lines)
        swapped[k], swapped[k + 1] = swapped[k + 1], swapped[k]
        write_lines(ledger_file, swapped)
        assert verify_ledger(ledger_file).first_bad == k


def test_inserted_entries(ledger_file, keys):
    lines = lines_of(ledger_file)
    # A copy of an existing entry put elsewhere.
    write_lines(ledger_file, lines[:5] + [lines[2]] + lines[5:])
    assert verify_ledger(ledger_file).first_bad == 5
    # A copy re-chained so that index, hashes and times agree: caught as a duplicate message.
    copy = json.loads(lines[2])
    copy["t_receive"] = json.loads(lines[4])["t_receive"]
    write_lines(ledger_file, rechain(lines[:5] + [canonical_json(copy)] + lines[5:], 5))
    report = verify_ledger(ledger_file)
    assert report.first_bad == 5 and "duplicate" in report.reason
    # A genuinely signed new message inserted and re-chained: the owner's seal no longer fits.
    extra = Signer("NATO", keys["NATO"], first_seq=99).sign(Vote("r9", "NATO", "no", 4.0), 4.0)
    obj = json.loads(lines[5])
    obj.update(
        sender="NATO",
        kind="vote",
        seq=99,
        message=base64.b64encode(extra.payload).decode(),
        signature=base64.b64encode(extra.signature).decode(),
    )
    inserted = lines[:5] + [canonical_json(obj)] + lines[5:]
    write_lines(ledger_file, rechain(inserted, 5))
    report = verify_ledger(ledger_file)
    assert report.first_bad == len(lines) and "seal" in report.reason


def test_altered_message_rechained_fails_its_signature(ledger_file):
    lines = lines_of(ledger_file)
    obj = json.loads(lines[6])  # the vote
    payload = base64.b64decode(obj["message"]).replace(b'"yes"', b'"veto"')
    obj["message"] = base64.b64encode(payload).decode()
    write_lines(ledger_file, rechain(lines[:6] + [canonical_json(obj)] + lines[7:], 6))
    report = verify_ledger(ledger_file)
    assert report.first_bad == 6 and "bad_signature" in report.reason


def test_truncation_needs_a_seal_or_an_anchor(tmp_path, keys, ring):
    path = tmp_path / "open.ledger"
    ledger = write_ledger(path, keys, ring, seal=False)
    anchor = ledger.anchor
    lines = lines_of(path)
    write_lines(path, lines[:-2])
    # A prefix of a valid chain is valid: from the file alone the cut is invisible...
    assert verify_ledger(path).ok
    # ...but a partner's anchor of the last entry it saw catches it,
    report = verify_ledger(path, expected_head=anchor)
    assert (report.ok, report.first_bad) == (False, len(lines) - 2)
    # and an unsealed ledger fails when a seal is required.
    assert verify_ledger(path, require_seal=True).first_bad == len(lines) - 2
    # A sealed ledger that loses its tail is unsealed.
    sealed = tmp_path / "sealed.ledger"
    write_ledger(sealed, keys, ring, seal=True)
    write_lines(sealed, lines_of(sealed)[:-1])
    assert not verify_ledger(sealed).sealed
    assert not verify_ledger(sealed, require_seal=True).ok


def test_anchor_catches_a_rewrite_that_the_chain_cannot(ledger_file):
    head = verify_ledger(ledger_file).head
    lines = lines_of(ledger_file)
    obj = json.loads(lines[2])
    obj["t_receive"] = 1.25  # not covered by any signature; the owner could lie about it
    rewritten = rechain(lines[:2] + [canonical_json(obj)] + lines[3:-1], 2)
    write_lines(ledger_file, rewritten)  # seal dropped as well
    assert verify_ledger(ledger_file).ok
    report = verify_ledger(ledger_file, expected_head=head)
    assert not report.ok and report.first_bad == len(lines) - 1
    write_lines(ledger_file, rewritten + [lines[-1]])
    report = verify_ledger(ledger_file, expected_head=head)
    assert not report.ok


def test_trusted_keys_catch_a_ledger_re_signed_with_other_keys(tmp_path, ring):
    forger_keys = generate_keys(PARTNERS, seed=666)
    path = tmp_path / "forged.ledger"
    write_ledger(path, forger_keys, KeyRing.from_private(forger_keys))
    assert verify_ledger(path).ok  # self-consistent from the file alone
    report = verify_ledger(path, ring)
    assert report.first_bad == 0 and "trusted" in report.reason


def test_time_order_is_enforced_on_append(keys, ring):
    ledger = Ledger(None, "fusion", ring)
    signer = Signer("NATO", keys["NATO"])
    ledger.append(signer.sign(Vote("r", "NATO", "yes", 5.0), 5.0), 5.0)
    with pytest.raises(ValueError):
        ledger.append(signer.sign(Vote("r", "NATO", "yes", 4.0), 4.0), 4.0)
    with pytest.raises(ValueError):
        Ledger(None, "stranger", ring)


def test_user_errors(tmp_path):
    with pytest.raises(UserError):
        verify_ledger(tmp_path / "missing")
    (tmp_path / "text").write_text("hello\n")
    with pytest.raises(UserError):
        verify_ledger(tmp_path / "text")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(UserError):
        verify_ledger(tmp_path / "empty")
    with pytest.raises(UserError):
        verify_ledger(tmp_path, expected_head="nonsense")


# --- picture export and comparison -------------------------------------------------------------


def partners_receive_pictures(keys, ring, tmp_path, loss: float):
    """The fusion centre broadcasts 30 signed pictures to both partners over lossy links."""
    net = SimulatedNetwork.star(
        "fusion", ["NATO", "Russia"], np.random.default_rng(3), Link(0.2, 0.1, loss)
    )
    centre = Signer("fusion", keys["fusion"])
    receivers = {
        p: Receiver(p, ring, ledger=Ledger(tmp_path / f"{p}.ledger", p, ring))
        for p in ("NATO", "Russia")
    }
    for step in range(30):
        t = 10.0 * step
        net.broadcast("fusion", receivers, centre.sign(picture(t), t).wire, t)
        for receiver in receivers.values():
            receiver.poll(net, t)
    for receiver in receivers.values():
        receiver.poll(net, 1e9)
        receiver.ledger.close()
    return receivers


def test_partners_prove_they_saw_the_same_picture(keys, ring, tmp_path):
    receivers = partners_receive_pictures(keys, ring, tmp_path, loss=0.0)
    a, b = (export_picture(tmp_path / f"{p}.ledger") for p in ("NATO", "Russia"))
    assert a["count"] == 30 and canonical_json(a) == canonical_json(b)
    assert export_picture(receivers["NATO"]) == a == export_picture(receivers["NATO"].ledger)
    result = compare_pictures(a, b)
    assert result.identical and result.consistent and result.common == 30


def test_a_lost_picture_and_an_equivocation_are_found(keys, ring, tmp_path):
    partners_receive_pictures(keys, ring, tmp_path, loss=0.15)
    a, b = (export_picture(tmp_path / f"{p}.ledger") for p in ("NATO", "Russia"))
    result = compare_pictures(a, b)
    assert not result.identical and result.consistent
    assert len(result.only_a) + len(result.only_b) > 0
    # The centre signs two different pictures under the same number, one for each partner.
    one = Signer("fusion", keys["fusion"]).sign(picture(5.0), 5.0)
    two = Signer("fusion", keys["fusion"]).sign(picture(5.0, offset=1.0), 5.0)
    result = compare_pictures(export_picture([one]), export_picture([two]))
    assert result.conflicts == (("fusion", 1),) and not result.consistent


def test_export_of_a_bad_ledger_raises(ledger_file):
    write_lines(ledger_file, lines_of(ledger_file)[:3] + lines_of(ledger_file)[4:])
    with pytest.raises(LedgerInvalid):
        export_picture(ledger_file)


# --- the command line (real subprocesses) ---------------------------------------------------


def jointbmd(*args):
    return subprocess.run(["jointbmd", *map(str, args)], capture_output=True, text=True)


def run_main(capsys, *args) -> tuple[int, str, str]:
    """The CLI in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_cli_verify_exit_codes(ledger_file, tmp_path, keys, capsys):
    # Real subprocesses: intact -> 0, tampered -> 1 with one line naming the entry, missing -> 2.
    ok = jointbmd("ledger", "verify", ledger_file, "--json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] and report["entries"] == 8 and report["first_bad"] is None
    save_keys(keys, tmp_path / "keys")
    assert run_main(capsys, "ledger", "verify", ledger_file, "--keys", tmp_path / "keys")[0] == 0
    code, out, _ = run_main(capsys, "ledger", "verify", ledger_file)
    assert code == 0 and "intact" in out and "head 8:" in out

    lines = lines_of(ledger_file)
    write_lines(ledger_file, lines[:3] + lines[4:])
    bad = jointbmd("ledger", "verify", ledger_file)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "entry 3" in bad.stderr and "Traceback" not in bad.stderr
    code, out, _ = run_main(capsys, "ledger", "verify", ledger_file, "--json")
    assert code == 1 and json.loads(out)["first_bad"] == 3

    user = jointbmd("ledger", "verify", tmp_path / "missing.ledger")
    assert user.returncode == 2
    assert user.stderr.count("\n") == 1 and "no such file" in user.stderr


@pytest.mark.parametrize("case", ["not-a-ledger", "bad-keys-dir", "bad-anchor", "directory"])
def test_cli_user_errors_exit_2_with_one_line(ledger_file, tmp_path, capsys, case):
    (tmp_path / "notes.txt").write_text("not a ledger\n")
    args = {
        "not-a-ledger": [tmp_path / "notes.txt"],
        "bad-keys-dir": [ledger_file, "--keys", tmp_path / "nowhere"],
        "bad-anchor": [ledger_file, "--head", "x"],
        "directory": [tmp_path],
    }[case]
    code, _, err = run_main(capsys, "ledger", "verify", *args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("jointbmd: ")


def test_cli_compare(keys, ring, tmp_path):
    partners_receive_pictures(keys, ring, tmp_path, loss=0.0)
    same = jointbmd("ledger", "compare", tmp_path / "NATO.ledger", tmp_path / "Russia.ledger",
                    "--json")  # fmt: skip
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["identical"] is True
    other = tmp_path / "other"
    other.mkdir()
    partners_receive_pictures(keys, ring, other, loss=0.3)
    differ = jointbmd("ledger", "compare", tmp_path / "NATO.ledger", other / "Russia.ledger")
    assert differ.returncode == 1 and "pictures differ" in differ.stderr


def test_own_decisions_and_their_echo_are_written_once(keys, ring, tmp_path):
    path = tmp_path / "nato.ledger"
    nato = Signer("NATO", keys["NATO"])
    with Ledger(path, "NATO", ring) as ledger:
        receiver = Receiver("NATO", ring, ledger=ledger)
        own = nato.sign(Vote("req-1", "NATO", "veto", 3.0), 3.0)
        receiver.record_own(own, 3.0)
        assert receiver.receive(own.wire, 3.4) is None  # echoed back by the centre
        with pytest.raises(ValueError):
            ledger.append(own, 4.0)
    assert receiver.rejections == {"replay": 1}
    assert verify_ledger(path).entries == 1
