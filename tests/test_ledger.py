"""The owner-signed, hash-chained ledger: verification catches alteration, removal, reordering,
insertion and truncation -- also when a tamperer without the owner's key re-numbers the entries
and recomputes every hash -- and names the first bad entry; unsigned and unsealed ledgers fail
unless explicitly allowed; the CLI's exit codes; picture export and comparison."""

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


class Crash(Exception):
    """A run that dies before it closes its ledger."""


def write_ledger(
    path, keys, ring, n_tracks: int = 4, signed: bool = True, crash: bool = False, t0: float = 0.0
) -> Ledger:
    """A fusion-centre ledger: partners' track reports, a picture, a vote and an order, then (on
    `close`, when signed) the owner's seal. Entries 1-4 track reports, 5 picture, 6 vote,
    7 order, 8 seal. ``crash``: the run raises before closing (no seal); ``t0`` shifts every
    receive time (what an owner rewriting its own history might do)."""
    signers = {p: Signer(p, keys[p]) for p in PARTNERS}
    owner = signers["fusion"] if signed else None
    rng = np.random.default_rng(0)
    ledger = Ledger(path, "fusion", ring, meta={"scenario": "test", "seed": 7}, signer=owner)
    try:
        with ledger:
            receiver = Receiver("fusion", ring, ledger=ledger)
            t = 0.0
            for i in range(n_tracks):
                partner = ("NATO", "Russia")[i % 2]
                body = TrackReport(partner, i, t, rng.normal(size=6), np.eye(6), 0.5, i > 1)
                wire = signers[partner].sign(body, t).wire
                assert receiver.receive(wire, t + 0.5 + t0) is not None
                t += 1.0
            ledger.append(signers["fusion"].sign(picture(t), t), t + t0)
            ledger.record(signers["NATO"], Vote("req-1", "NATO", "yes", t + 1), t + 1 + t0)
            order = Order("o1", "req-1", "Deveselu", 0, t + 2, True, 2)
            ledger.record(signers["fusion"], order, t + 2 + t0)
            if crash:
                raise Crash
    except Crash:
        pass
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


# --- what a tamperer WITHOUT the owner's private key can do ------------------------------------


def rehash(obj: dict) -> str:
    """The line hash as the format defines it (without ``hash`` and ``owner_sig``)."""
    return hashlib.sha256(
        canonical_json({k: v for k, v in obj.items() if k not in ("hash", "owner_sig")})
    ).hexdigest()


def rechain(lines: list[bytes], start: int, owner_sig: str = "keep", forger=None) -> list[bytes]:
    """Renumber entries and recompute every hash and link from ``start``, keeping receive times
    non-decreasing. ``owner_sig``: "keep" the old signature, "null" it, or "forge" it with the
    ``forger``'s (wrong) private key -- the owner's key is exactly what the tamperer lacks."""
    out = list(lines[:start])
    prev = json.loads(out[-1])["hash"]
    last_t = json.loads(out[-1]).get("t_receive", -np.inf)
    for i, line in enumerate(lines[start:], start=start):
        obj = json.loads(line)
        obj["index"], obj["prev"] = i, prev
        obj["t_receive"] = max(obj["t_receive"], last_t)
        last_t = obj["t_receive"]
        obj["hash"] = prev = rehash(obj)
        if owner_sig == "null":
            obj["owner_sig"] = None
        elif owner_sig == "forge":
            signature = forger.sign(b"jointbmd-ledger-line/3:" + prev.encode())
            obj["owner_sig"] = base64.b64encode(signature).decode()
        out.append(canonical_json(obj))
    return out


def tamper(lines: list[bytes], how: str) -> tuple[list[bytes], int]:
    """One tampering of an 8-entry ledger; returns the new lines and the first bad index."""
    if how == "delete":
        return rechain(lines[:3] + lines[4:], 3), 3
    if how == "delete-first":
        return rechain(lines[:1] + lines[2:], 1), 1
    if how == "swap":
        return rechain(lines[:2] + [lines[3], lines[2]] + lines[4:], 2), 2
    if how == "move-later-earlier":
        return rechain(lines[:1] + [lines[6]] + lines[1:6] + lines[7:], 1), 1
    if how == "insert-copy":
        return rechain(lines[:5] + [lines[5]] + lines[5:], 6), 6
    if how == "truncate-seal":
        return lines[:-1], len(lines) - 1
    if how == "truncate-tail":
        return lines[:-3], len(lines) - 3
    if how == "delete-seal-only-rechained":
        return rechain(lines[:-2] + lines[-1:], len(lines) - 2), len(lines) - 2
    if how == "alter-byte":
        line = bytearray(lines[4])
        position = line.index(b'"t_receive":') + len(b'"t_receive":')
        line[position] = ord("7") if line[position] != ord("7") else ord("8")
        return lines[:4] + [bytes(line)] + lines[5:], 4
    if how == "alter-and-rehash":
        obj = json.loads(lines[4])
        obj["t_receive"] += 0.25
        obj["hash"] = rehash(obj)
        return rechain(lines[:4] + [canonical_json(obj)] + lines[5:], 5), 4
    if how == "naive-rechain":
        # The reviewer's reproducer: delete and re-chain hashing everything but ``hash``.
        out = lines[:3]
        for i, line in enumerate(lines[4:], start=3):
            obj = json.loads(line)
            obj["index"], obj["prev"] = i, json.loads(out[-1])["hash"]
            obj.pop("hash")
            obj["hash"] = hashlib.sha256(canonical_json(obj)).hexdigest()
            out.append(canonical_json(obj))
        return out, 3
    raise AssertionError(how)


TAMPERINGS = [
    "delete",
    "delete-first",
    "swap",
    "move-later-earlier",
    "insert-copy",
    "truncate-seal",
    "truncate-tail",
    "delete-seal-only-rechained",
    "alter-byte",
    "alter-and-rehash",
    "naive-rechain",
]


def test_intact_ledger_verifies(ledger_file, ring):
    report = verify_ledger(ledger_file)
    assert report.ok and report.first_bad is None and report.reason is None
    assert report.entries == 8 and report.owner == "fusion" and report.sealed and report.signed
    assert verify_ledger(ledger_file, ring).ok
    kinds = [m.kind for m in report.messages]
    assert kinds == ["track_report"] * 4 + ["fused_picture", "vote", "order", "ledger_seal"]
    # Every line is canonical JSON a non-Python reader can parse; the header carries the keys;
    # every line carries the owner's Ed25519 signature of its hash, checked here independently.
    lines = [json.loads(line) for line in lines_of(ledger_file)]
    assert lines[0]["keys"] == ring.to_hex() and lines[0]["meta"] == {"scenario": "test", "seed": 7}
    owner_key = ring.get("fusion")
    for obj in lines:
        assert obj["hash"] == rehash(obj)
        owner_key.verify(base64.b64decode(obj["owner_sig"]), b"jointbmd-ledger-line/3:" +
                         obj["hash"].encode())  # fmt: skip
    # The seal names the 7 entries before it and the head hash before it.
    seal = report.messages[-1].body
    assert (seal.entries, seal.head) == (7, lines[7]["hash"])


def test_seeded_keys_give_byte_identical_ledgers(tmp_path, keys, ring):
    write_ledger(tmp_path / "a", keys, ring)
    again = generate_keys(PARTNERS, seed=7)
    write_ledger(tmp_path / "b", again, KeyRing.from_private(again))
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


@pytest.mark.parametrize("how", TAMPERINGS)
def test_tamperer_without_the_owners_key_is_caught(ledger_file, how):
    lines = lines_of(ledger_file)
    assert len(lines) == 9
    tampered, expected = tamper(lines, how)
    write_lines(ledger_file, tampered)
    report = verify_ledger(ledger_file)
    assert not report.ok
    assert report.first_bad == expected, report.reason
    # Asking for less (no seal, unsigned allowed) does not hide a re-chained middle entry.
    if not how.startswith("truncate"):
        relaxed = verify_ledger(ledger_file, require_seal=False, allow_unsigned=True)
        assert (relaxed.ok, relaxed.first_bad) == (False, expected), relaxed.reason


@pytest.mark.parametrize("how", ["null", "forge"])
def test_re_chaining_with_stripped_or_forged_owner_signatures_fails(ledger_file, how):
    """Without the owner's key the tamperer can drop its signatures or sign with another key;
    neither passes, even when unsigned ledgers are allowed."""
    lines = lines_of(ledger_file)
    forger = generate_keys(["fusion"], seed=666)["fusion"]
    tampered = rechain(lines[:3] + lines[4:], 3, owner_sig=how, forger=forger)
    write_lines(ledger_file, tampered)
    for allow_unsigned in (False, True):
        report = verify_ledger(ledger_file, allow_unsigned=allow_unsigned)
        assert (report.ok, report.first_bad) == (False, 3), report.reason
        assert "owner's signature" in report.reason


def test_altering_any_byte_names_its_entry(ledger_file):
    """Every byte of the header and of an entry (owner signature included), and a sample
    elsewhere, changed in turn."""
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


def test_owner_signature_padding_bits_cannot_be_changed(ledger_file):
    """The last base64 character of a 64-byte signature carries 2 bits and 4 padding bits; a
    decoder ignores the padding, so the text must also be the canonical encoding."""
    lines = lines_of(ledger_file)
    obj = json.loads(lines[2])
    text = obj["owner_sig"]
    assert text.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(text[-3])
    obj["owner_sig"] = text[:-3] + alphabet[last ^ 1] + "=="
    assert base64.b64decode(obj["owner_sig"]) == base64.b64decode(text)
    write_lines(ledger_file, lines[:2] + [canonical_json(obj)] + lines[3:])
    report = verify_ledger(ledger_file)
    assert report.first_bad == 2 and "canonical base64" in report.reason


def test_removed_reordered_inserted_without_rechaining(ledger_file):
    lines = lines_of(ledger_file)
    for k in (1, 4, 7):
        write_lines(ledger_file, lines[:k] + lines[k + 1 :])
        report = verify_ledger(ledger_file)
        assert (report.ok, report.first_bad) == (False, k)
        assert "removed" in report.reason
    for k in (1, 3, 6):
        swapped = list(lines)
        swapped[k], swapped[k + 1] = swapped[k + 1], swapped[k]
        write_lines(ledger_file, swapped)
        assert verify_ledger(ledger_file).first_bad == k
    write_lines(ledger_file, lines[:5] + [lines[2]] + lines[5:])
    assert verify_ledger(ledger_file).first_bad == 5


def test_nothing_may_follow_the_seal(ledger_file, keys):
    lines = lines_of(ledger_file)
    # Even a genuinely owner-signed line copied after the seal.
    write_lines(ledger_file, lines + [lines[3]])
    report = verify_ledger(ledger_file)
    assert report.first_bad == 9 and "after the owner's seal" in report.reason


def test_stripping_one_owner_signature_is_caught(ledger_file):
    """``owner_sig`` is outside the hash (it signs the hash): nulling it leaves the chain whole,
    but a signed ledger needs it on every line."""
    lines = lines_of(ledger_file)
    obj = json.loads(lines[5])
    obj["owner_sig"] = None
    write_lines(ledger_file, lines[:5] + [canonical_json(obj)] + lines[6:])
    for allow_unsigned in (False, True):
        report = verify_ledger(ledger_file, allow_unsigned=allow_unsigned)
        assert report.first_bad == 5 and "missing" in report.reason


def test_owner_rewrite_is_caught_only_by_a_partners_anchor(tmp_path, keys, ring):
    """The owner holds its key: it can write a different history that verifies on its own.
    A partner's anchor of the head it saw earlier catches it; the senders' signatures still
    stop it from altering what others said."""
    honest = write_ledger(tmp_path / "honest.ledger", keys, ring)
    anchor = honest.anchor
    assert anchor == verify_ledger(tmp_path / "honest.ledger").head
    rewritten = tmp_path / "rewritten.ledger"
    write_ledger(rewritten, keys, ring, t0=0.25)  # same messages, other receive times
    assert verify_ledger(rewritten).ok
    report = verify_ledger(rewritten, expected_head=anchor)
    assert (report.ok, report.first_bad) == (False, 8)
    assert "rewritten at or before" in report.reason
    # An anchor from further back still holds when nothing before it changed.
    assert verify_ledger(tmp_path / "honest.ledger", expected_head=f"0:{honest.header['hash']}").ok
    # A shorter ledger cannot contain an anchor past its end.
    short = write_ledger(tmp_path / "short.ledger", keys, ring, n_tracks=2)
    report = verify_ledger(tmp_path / "short.ledger", expected_head=anchor)
    assert report.first_bad == len(short.entries) + 1 and "truncated" in report.reason
    # The owner cannot put words in a partner's mouth: a partner's vote altered, re-chained and
    # re-signed with the owner's own key fails that partner's signature.
    lines = lines_of(rewritten)
    obj = json.loads(lines[6])
    payload = base64.b64decode(obj["message"]).replace(b'"yes"', b'"veto"')
    obj["message"] = base64.b64encode(payload).decode()
    forged = rechain(lines[:6] + [canonical_json(obj)] + lines[7:], 6, "forge", keys["fusion"])
    write_lines(rewritten, forged)
    report = verify_ledger(rewritten)
    assert report.first_bad == 6 and "bad_signature" in report.reason


def test_trusted_keys_catch_a_ledger_re_signed_with_other_keys(tmp_path, keys, ring):
    forger_keys = generate_keys(PARTNERS, seed=666)
    path = tmp_path / "forged.ledger"
    write_ledger(path, forger_keys, KeyRing.from_private(forger_keys))
    assert verify_ledger(path).ok  # self-consistent from the file alone
    report = verify_ledger(path, ring)
    assert report.first_bad == 0 and "trusted" in report.reason
    # Trusting keys that do not include the owner leaves its signatures uncheckable.
    write_ledger(tmp_path / "honest.ledger", keys, ring)
    partners_only = KeyRing({p: ring.get(p) for p in ("NATO", "Russia")})
    report = verify_ledger(tmp_path / "honest.ledger", partners_only)
    assert report.first_bad == 0 and "not among the trusted keys" in report.reason


def test_unsigned_ledger_fails_unless_allowed(tmp_path, keys, ring):
    path = tmp_path / "unsigned.ledger"
    ledger = write_ledger(path, keys, ring, signed=False)
    assert not ledger.sealed  # no signer: close() cannot seal
    assert all(json.loads(line)["owner_sig"] is None for line in lines_of(path))
    report = verify_ledger(path)
    assert (report.ok, report.first_bad, report.signed) == (False, 0, False)
    assert "unsigned" in report.reason
    assert verify_ledger(path, allow_unsigned=True, require_seal=False).ok
    report = verify_ledger(path, allow_unsigned=True)
    assert report.first_bad == 8 and "seal" in report.reason
    # Why it must not pass by default: anyone can delete an entry and re-chain it.
    write_lines(path, rechain(lines_of(path)[:3] + lines_of(path)[4:], 3))
    assert verify_ledger(path, allow_unsigned=True, require_seal=False).ok


def test_unsigned_but_sealed_ledger_passes_with_allow_unsigned(tmp_path, keys, ring):
    path = tmp_path / "unsigned-sealed.ledger"
    with Ledger(path, "fusion", ring) as ledger:
        ledger.append(Signer("NATO", keys["NATO"]).sign(Vote("r", "NATO", "yes", 1.0), 1.0), 1.0)
        ledger.seal(Signer("fusion", keys["fusion"]), 2.0)
    assert verify_ledger(path).first_bad == 0
    report = verify_ledger(path, allow_unsigned=True)
    assert report.ok and report.sealed and not report.signed


def test_unsealed_ledger_of_a_crashed_run_fails_unless_allowed(tmp_path, keys, ring):
    path = tmp_path / "crashed.ledger"
    ledger = write_ledger(path, keys, ring, crash=True)
    assert not ledger.sealed and len(ledger.entries) == 7
    report = verify_ledger(path)
    assert (report.ok, report.first_bad, report.sealed) == (False, 8, False)
    assert "seal" in report.reason and "--allow-unsealed" in report.reason
    assert verify_ledger(path, require_seal=False).ok
    # Without a seal, a cut tail goes unnoticed -- which is why the seal is required by default.
    write_lines(path, lines_of(path)[:-2])
    assert verify_ledger(path, require_seal=False).ok


def test_ledger_api_rules(tmp_path, keys, ring):
    fusion, nato = Signer("fusion", keys["fusion"]), Signer("NATO", keys["NATO"])
    with pytest.raises(ValueError, match="not the ledger owner"):
        Ledger(None, "fusion", ring, signer=nato)
    impostor = Signer("fusion", generate_keys(["fusion"], seed=1)["fusion"])
    with pytest.raises(ValueError, match="key"):
        Ledger(None, "fusion", ring, signer=impostor)
    with pytest.raises(ValueError):
        Ledger(None, "stranger", ring)
    # Time order on append.
    ledger = Ledger(None, "fusion", ring, signer=fusion)
    ledger.append(nato.sign(Vote("r", "NATO", "yes", 5.0), 5.0), 5.0)
    with pytest.raises(ValueError):
        ledger.append(nato.sign(Vote("r", "NATO", "yes", 4.0), 4.0), 4.0)
    # close() seals (at the last entry's time) once; nothing can be appended afterwards.
    ledger.close()
    ledger.close()
    assert ledger.sealed and len(ledger.entries) == 2 and ledger.entries[-1].t_receive == 5.0
    with pytest.raises(ValueError, match="sealed"):
        ledger.append(nato.sign(Vote("r", "NATO", "yes", 6.0), 6.0), 6.0)
    # Only the owner seals.
    with pytest.raises(ValueError):
        Ledger(None, "fusion", ring).seal(nato, 1.0)
    # An empty signed ledger still verifies: header and seal.
    with Ledger(tmp_path / "empty.ledger", "fusion", ring, signer=fusion):
        pass
    report = verify_ledger(tmp_path / "empty.ledger")
    assert report.ok and report.entries == 1 and report.sealed


def test_user_errors(tmp_path):
    with pytest.raises(UserError):
        verify_ledger(tmp_path / "missing")
    (tmp_path / "text").write_text("hello\n")
    with pytest.raises(UserError):
        verify_ledger(tmp_path / "text")
    # An empty file may be a ledger cut to 0 bytes: it fails verification at the header
    # (issue 14) rather than being called "not a ledger".
    (tmp_path / "empty").write_bytes(b"")
    report = verify_ledger(tmp_path / "empty")
    assert not report.ok and report.first_bad == 0
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
        p: Receiver(
            p, ring, ledger=Ledger(tmp_path / f"{p}.ledger", p, ring, signer=Signer(p, keys[p]))
        )
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


def test_export_of_a_bad_or_unsigned_ledger_raises(ledger_file, tmp_path, keys, ring):
    write_lines(ledger_file, tamper(lines_of(ledger_file), "delete")[0])
    with pytest.raises(LedgerInvalid):
        export_picture(ledger_file)
    unsigned = tmp_path / "unsigned.ledger"
    write_ledger(unsigned, keys, ring, signed=False)
    with pytest.raises(LedgerInvalid):
        export_picture(unsigned)
    assert export_picture(unsigned, allow_unsigned=True, require_seal=False)["count"] == 1


# --- the command line ---------------------------------------------------------------------------


def jointbmd(*args):
    return subprocess.run(["jointbmd", *map(str, args)], capture_output=True, text=True)


def run_main(capsys, *args) -> tuple[int, str, str]:
    """The CLI in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_cli_verify_exit_codes(ledger_file, tmp_path, keys, capsys):
    # Real subprocesses: intact -> 0, tampered -> 1 with one line naming the entry; missing -> 2.
    ok = jointbmd("ledger", "verify", ledger_file, "--json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] and report["entries"] == 8 and report["first_bad"] is None
    assert report["signed"] and report["sealed"]
    save_keys(keys, tmp_path / "keys")
    assert run_main(capsys, "ledger", "verify", ledger_file, "--keys", tmp_path / "keys")[0] == 0
    code, out, _ = run_main(capsys, "ledger", "verify", ledger_file)
    assert code == 0 and "intact" in out and "head 8:" in out and "signed; sealed" in out

    write_lines(ledger_file, tamper(lines_of(ledger_file), "delete")[0])
    bad = jointbmd("ledger", "verify", ledger_file)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "entry 3" in bad.stderr and "Traceback" not in bad.stderr
    assert "owner's signature" in bad.stderr
    code, out, _ = run_main(capsys, "ledger", "verify", ledger_file, "--json")
    assert code == 1 and json.loads(out)["first_bad"] == 3
    # The relaxing flags do not excuse a re-chained deletion.
    code, _, _ = run_main(
        capsys, "ledger", "verify", ledger_file, "--allow-unsigned", "--allow-unsealed"
    )
    assert code == 1

    code, _, err = run_main(capsys, "ledger", "verify", tmp_path / "missing.ledger")
    assert code == 2 and err.count("\n") == 1 and "no such file" in err


def test_cli_allow_unsigned_and_allow_unsealed(tmp_path, keys, ring, capsys):
    unsigned, crashed = tmp_path / "unsigned.ledger", tmp_path / "crashed.ledger"
    write_ledger(unsigned, keys, ring, signed=False)
    write_ledger(crashed, keys, ring, crash=True)
    verify = ("ledger", "verify")
    code, _, err = run_main(capsys, *verify, unsigned)
    assert code == 1 and err.count("\n") == 1 and "entry 0" in err and "unsigned" in err
    code, _, err = run_main(capsys, *verify, unsigned, "--allow-unsigned")
    assert code == 1 and "entry 8" in err and "seal" in err
    code, out, _ = run_main(capsys, *verify, unsigned, "--allow-unsigned", "--allow-unsealed")
    assert code == 0 and "unsigned; not sealed" in out
    code, _, err = run_main(capsys, *verify, crashed)
    assert code == 1 and err.count("\n") == 1 and "entry 8" in err
    code, out, _ = run_main(capsys, *verify, crashed, "--allow-unsealed", "--json")
    assert code == 0 and json.loads(out)["sealed"] is False and json.loads(out)["signed"] is True
    code, out, _ = run_main(capsys, "ledger", "export", crashed, "--allow-unsealed")
    assert code == 0 and json.loads(out)["count"] == 1


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


def test_cli_compare(keys, ring, tmp_path, capsys):
    partners_receive_pictures(keys, ring, tmp_path, loss=0.0)
    same = jointbmd("ledger", "compare", tmp_path / "NATO.ledger", tmp_path / "Russia.ledger",
                    "--json")  # fmt: skip
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["identical"] is True
    other = tmp_path / "other"
    other.mkdir()
    partners_receive_pictures(keys, ring, other, loss=0.3)
    code, _, err = run_main(
        capsys, "ledger", "compare", tmp_path / "NATO.ledger", other / "Russia.ledger"
    )
    assert code == 1 and "held by some ledgers only" in err and err.count("\n") == 1


def test_own_decisions_and_their_echo_are_written_once(keys, ring, tmp_path):
    path = tmp_path / "nato.ledger"
    nato = Signer("NATO", keys["NATO"])
    with Ledger(path, "NATO", ring, signer=nato) as ledger:
        receiver = Receiver("NATO", ring, ledger=ledger)
        own = nato.sign(Vote("req-1", "NATO", "veto", 3.0), 3.0)
        receiver.record_own(own, 3.0)
        assert receiver.receive(own.wire, 3.4) is None  # echoed back by the centre
        with pytest.raises(ValueError):
            ledger.append(own, 4.0)
    assert receiver.rejections == {"replay": 1}
    report = verify_ledger(path)
    assert report.ok and report.entries == 2  # the vote and the seal
    assert [m.seq for m in report.messages] == [1, 2]  # the seal took NATO's next number


# --- a ledger written by the real pipeline ------------------------------------------------------


@pytest.fixture(scope="module")
def track_ledgers(tmp_path_factory):
    directory = tmp_path_factory.mktemp("track")
    done = jointbmd("track", "lisbon2010", "--seed", "3", "--ledger", directory)
    assert done.returncode == 0, done.stderr
    return directory / "picture" / "DFC.ledger", directory / "picture" / "NATO.ledger"


@pytest.mark.slow
def test_pipeline_ledger_resists_a_tamperer_without_the_key(track_ledgers, tmp_path, capsys):
    """``jointbmd track --ledger DIR`` writes signed, sealed ledgers; the reviewer's attacks on
    them (delete / swap / move an entry and re-chain; cut the tail) all fail, naming the entry."""
    for path in track_ledgers:
        report = verify_ledger(path, require_seal=False, allow_unsigned=True)
        assert report.ok, report.reason
        if not report.signed:
            pytest.xfail("track does not pass the owner's signer= to its ledgers yet")
        assert run_main(capsys, "ledger", "verify", path)[0] == 0
        lines = lines_of(path)
        n = len(lines)
        assert n > 60
        attacks = {
            "delete": (rechain(lines[:51] + lines[52:], 51), 51),
            "swap": (rechain(lines[:11] + [lines[12], lines[11]] + lines[13:], 11), 11),
            "move": (rechain(lines[:6] + [lines[50]] + lines[6:50] + lines[51:], 6), 6),
            "insert": (rechain(lines[:40] + [lines[20]] + lines[40:], 40), 40),
            "truncate": (lines[: n - 5], n - 5),
        }
        copy = tmp_path / "copy.ledger"
        for name, (tampered, expected) in attacks.items():
            write_lines(copy, tampered)
            code, _, err = run_main(capsys, "ledger", "verify", copy)
            assert code == 1, name
            assert err.count("\n") == 1 and f"entry {expected}:" in err, (name, err)
