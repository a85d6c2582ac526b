"""The hash-chained, owner-signed ledger of accepted messages and decisions, its verification,
and the export and comparison of the fused picture a partner received.

In: signed messages accepted by a `Receiver` (and a node's own signed decisions), with their
receive times, and the owner's `Signer`. Out: a JSON-lines file; ``verify_ledger(path) ->
LedgerReport``; ``export_picture(...) -> dict`` and ``compare_pictures(a, b) -> PictureComparison``.

File format (``jointbmd-ledger/3``), one RFC 8785 canonical JSON object per line
(``jointbmd.canonical``; docs/ledger.md), every line ending in ``\\n``:

- line 0, the header: ``{"format", "type": "header", "owner", "keys": {partner: raw Ed25519
  public key, hex}, "meta": {...}, "owner_sig", "hash"}``;
- line i >= 1, entry i: ``{"type": "entry", "index": i, "prev": hash of line i-1, "t_receive",
  "sender", "kind", "seq", "message": payload (base64), "signature": (base64), "owner_sig",
  "hash"}``;
- the last entry of a finished ledger: the owner's signed `LedgerSeal` message (entry count and
  head hash before it), written by `Ledger.close`. Nothing may follow a seal.

``hash`` = SHA-256 (hex) of the line's canonical JSON without its ``hash`` and ``owner_sig``
fields; ``owner_sig`` = the owner's Ed25519 signature (RFC 8032, base64) of the bytes
``b"jointbmd-ledger-line/3:" + hash`` (the hex text), or null in an *unsigned* ledger (one
written without ``signer=``). Because ``hash`` covers ``prev`` and ``index``, each owner
signature pins its line to its position and to everything before it, back to the header.

What verification detects from the file alone, with the owner's key (from ``keyring=`` /
``--keys DIR`` if given, else from the header), naming the first bad line by its index (0 is
the header):

- any altered byte: a line must be canonical JSON (base64 included) whose hash matches, whose
  owner signature verifies and whose message signature verifies;
- a removed, inserted or reordered entry, *even when the tamperer re-numbers the entries and
  recomputes every hash*: re-chaining changes the hash of the first moved line, whose owner
  signature then fails, and a new signature needs the owner's private key;
- entries cut off the end: a finished ledger ends with the owner's seal, and an attacker without
  the owner's key cannot write a new one (``require_seal``; ``--allow-unsealed`` to accept a
  ledger whose run crashed before `close`);
- a forged or copied message (its sender's signature, duplicate (sender, seq)), receive times
  going backwards, and a header whose keys differ from keys the verifier trusts.

An unsigned ledger (no owner signatures) fails unless ``allow_unsigned`` (``--allow-unsigned``):
its chain is plain SHA-256 that anyone can recompute, so it shows only accidental damage.

What it cannot detect:

1. A wholesale rewrite by the owner itself: it holds its key and can re-sign any history it
   likes -- drop, reorder or re-time its record of what it received, and re-seal. Against that,
   (a) the other partners keep *anchors*, ``"INDEX:HASH"`` of the owner's ledger head when they
   saw it (`Ledger.anchor`, printed by ``jointbmd ledger verify``); ``expected_head=`` /
   ``--head`` fails if the ledger no longer contains that entry with that hash; and (b) every
   entry holds its *sender's* signed message, so the owner cannot forge or alter what others
   sent, only leave it out or misplace it -- which the senders' own ledgers, and the pictures
   the partners export (`compare_pictures`), contradict.
2. A rewrite by anyone holding the owner's private key, or, when the verifier brings no trusted
   keys (``--keys``), by anyone who replaces the header's keys with keys of their own: verify
   with the partners' published public keys to rule that out.
3. Swapping one whole genuine ledger for another genuine ledger of the same owner with the same
   header (same keys and meta): both are the owner's signed records.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jointbmd.errors import UserError

from .messages import (
    FusedPicture,
    LedgerSeal,
    MalformedMessage,
    SignedMessage,
    canonical_json,
    parse_json,
)
from .signing import KeyRing, Rejected, Signer, open_message, raw_public_bytes

LEDGER_FORMAT = "jointbmd-ledger/3"
PICTURE_FORMAT = "jointbmd-picture/1"
GENESIS = "0" * 64
# What the owner signs for a line: this prefix and the line's hash (hex). The prefix keeps these
# signatures apart from message signatures (whose payloads are JSON objects, starting with "{").
LINE_SIG_DOMAIN = b"jointbmd-ledger-line/3:"
_UNHASHED = frozenset({"hash", "owner_sig"})
_HEADER_KEYS = frozenset({"format", "type", "owner", "keys", "meta", "owner_sig", "hash"})
_ENTRY_KEYS = frozenset(
    {
        "type", "index", "prev", "t_receive", "sender", "kind", "seq", "message", "signature",
        "owner_sig", "hash",
    }
)  # fmt: skip


def _hash(obj: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the line's canonical JSON without ``hash`` and ``owner_sig``."""
    return hashlib.sha256(
        canonical_json({k: v for k, v in obj.items() if k not in _UNHASHED})
    ).hexdigest()


def _line_sig_bytes(digest: str) -> bytes:
    return LINE_SIG_DOMAIN + digest.encode("ascii")


def _sign_line(signer: Signer, digest: str) -> str:
    # `Signer` only exposes message signing (which spends a sequence number); a ledger line is
    # signed with the same key directly, under its own domain prefix.
    signature = signer.sign_bytes(_line_sig_bytes(digest))
    return base64.b64encode(signature).decode("ascii")


@dataclass(frozen=True)
class LedgerEntry:
    """One accepted message or decision as recorded: position, receive time, message, hash, and
    the owner's signature of the hash (None in an unsigned ledger)."""

    index: int
    t_receive: float
    message: SignedMessage
    hash: str
    owner_sig: bytes | None = None


class Ledger:
    """An append-only, hash-chained log, kept in memory and (with ``path``) written line by line.

    ``owner`` is the node keeping it; ``keyring`` holds the public keys written into the header
    (the owner's included) so that the file can be verified on its own. ``meta`` is any small
    JSON-able description (scenario, arrangement, seed). ``signer``: the owner's `Signer`
    (``signer.name == owner``, its key the owner's key in ``keyring``); with it every line is
    signed by the owner and `close` seals the ledger; without it the ledger is *unsigned* (see
    the module notes). An existing file at ``path`` is replaced: a ledger is written once, by
    one run.
    """

    def __init__(
        self,
        path: str | Path | None,
        owner: str,
        keyring: KeyRing,
        meta: Mapping[str, Any] | None = None,
        signer: Signer | None = None,
    ) -> None:
        if owner not in keyring:
            raise ValueError(f"the ledger owner {owner!r} must be in the key ring")
        if signer is not None:
            if signer.name != owner:
                raise ValueError(f"the signer {signer.name!r} is not the ledger owner {owner!r}")
            if raw_public_bytes(signer.public_key) != keyring.raw(owner):
                raise ValueError(f"the signer's key is not {owner!r}'s key in the key ring")
        self.path = Path(path) if path is not None else None
        self.owner = owner
        self.keyring = keyring
        self.signer = signer
        header: dict[str, Any] = {
            "format": LEDGER_FORMAT,
            "type": "header",
            "owner": owner,
            "keys": keyring.to_hex(),
            "meta": dict(meta or {}),
        }
        header["hash"] = _hash(header)
        header["owner_sig"] = _sign_line(signer, header["hash"]) if signer is not None else None
        self.header = header
        self.entries: list[LedgerEntry] = []
        self._ids: set[tuple[str, int]] = set()
        self._handle: IO[bytes] | None = None
        self._closed = False
        if self.path is not None:
            self._handle = self.path.open("wb")
            self._write(header)

    @property
    def signed(self) -> bool:
        """True when the owner signs every line (a ``signer`` was given)."""
        return self.signer is not None

    @property
    def head(self) -> str:
        """Hash of the last line (the header's when empty)."""
        return self.entries[-1].hash if self.entries else self.header["hash"]

    @property
    def anchor(self) -> str:
        """``"INDEX:HASH"`` of the last entry: what a partner keeps to detect a later rewrite."""
        return f"{len(self.entries)}:{self.head}"

    @property
    def sealed(self) -> bool:
        return bool(self.entries) and isinstance(self.entries[-1].message.body, LedgerSeal)

    def append(self, message: SignedMessage, t_receive: float) -> LedgerEntry:
        """Record a verified message received at ``t_receive`` (not earlier than the last one).

        The message must come from `Receiver`/`open_message` or from one of the owner's own
        `Signer`s; its signature is checked again by `verify_ledger`, not here. The same
        (sender, seq) twice raises `ValueError` (verification would refuse the duplicate), and
        so does any append to a sealed or closed ledger.
        """
        if self._closed or self.sealed:
            raise ValueError("the ledger is sealed or closed: nothing can be appended")
        t_receive = float(t_receive)
        if not math.isfinite(t_receive):
            raise ValueError("t_receive must be finite")
        if self.entries and t_receive < self.entries[-1].t_receive:
            raise ValueError(
                f"ledger times must not go backwards ({t_receive} < {self.entries[-1].t_receive})"
            )
        if (message.sender, message.seq) in self._ids:
            raise ValueError(f"message {message.sender} #{message.seq} is already in the ledger")
        self._ids.add((message.sender, message.seq))
        index = len(self.entries) + 1
        line: dict[str, Any] = {
            "type": "entry",
            "index": index,
            "prev": self.head,
            "t_receive": t_receive,
            "sender": message.sender,
            "kind": message.kind,
            "seq": message.seq,
            "message": base64.b64encode(message.payload).decode("ascii"),
            "signature": base64.b64encode(message.signature).decode("ascii"),
        }
        line["hash"] = _hash(line)
        line["owner_sig"] = (
            _sign_line(self.signer, line["hash"]) if self.signer is not None else None
        )
        owner_sig = base64.b64decode(line["owner_sig"]) if line["owner_sig"] else None
        entry = LedgerEntry(index, t_receive, message, line["hash"], owner_sig)
        self.entries.append(entry)
        if self._handle is not None:
            self._write(line)
        return entry

    def record(self, signer: Signer, body: Any, t: float) -> SignedMessage:
        """Sign one of the owner's own decisions (a vote, an order...) and append it."""
        message = signer.sign(body, t)
        self.append(message, t)
        return message

    def seal(self, signer: Signer | None = None, t: float | None = None) -> SignedMessage:
        """Append the owner's signed seal (entry count and head hash) as the last entry.

        ``signer`` defaults to the ledger's own; ``t`` to the last entry's time (0 when empty).
        The seal spends one sequence number of the owner's signer. Nothing can follow it.
        """
        signer = signer if signer is not None else self.signer
        if signer is None or signer.name != self.owner:
            raise ValueError("only the ledger owner can seal it")
        if t is None:
            t = self.entries[-1].t_receive if self.entries else 0.0
        return self.record(signer, LedgerSeal(entries=len(self.entries), head=self.head), t)

    def close(self, t: float | None = None) -> None:
        """Finish the ledger: seal it (when it has a signer and is not sealed yet; at ``t``,
        default the last entry's time) and close the file. Closing twice does nothing."""
        if self._closed:
            return
        try:
            if self.signer is not None and not self.sealed:
                self.seal(self.signer, t)
        finally:
            self._closed = True
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            # Do not certify a run that failed half-way: leave the ledger unsealed.
            self._closed = True
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def _write(self, obj: Mapping[str, Any]) -> None:
        assert self._handle is not None
        self._handle.write(canonical_json(obj) + b"\n")
        self._handle.flush()


@dataclass(frozen=True)
class LedgerReport:
    """The outcome of `verify_ledger`. ``first_bad`` is the index of the first bad entry (0 =
    header) or None when intact; ``head`` is the anchor ``INDEX:HASH`` of the last good entry;
    ``signed``: the header carries the owner's signature (every line must then)."""

    path: str
    ok: bool
    owner: str | None
    entries: int
    first_bad: int | None
    reason: str | None
    head: str | None
    sealed: bool
    keys_from: str
    signed: bool = False
    messages: tuple[SignedMessage, ...] = field(default=(), repr=False, compare=False)
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "owner": self.owner,
            "entries": self.entries,
            "first_bad": self.first_bad,
            "reason": self.reason,
            "head": self.head,
            "signed": self.signed,
            "sealed": self.sealed,
            "keys_from": self.keys_from,
            "meta": self.meta,
        }


class _Bad(Exception):
    def __init__(self, index: int, reason: str) -> None:
        self.index, self.reason = index, reason
        super().__init__(f"entry {index}: {reason}")


def _parse_line(line: bytes, index: int, keys: frozenset[str]) -> dict[str, Any]:
    try:
        obj = parse_json(line)
    except MalformedMessage as error:
        raise _Bad(index, f"unreadable line ({error})") from None
    if type(obj) is not dict or set(obj) != keys:
        raise _Bad(index, "line does not have the fields of a ledger line")
    try:
        canonical = canonical_json(obj)
    except (TypeError, ValueError):
        canonical = b""
    if canonical != line:
        raise _Bad(index, "line is not in canonical form (altered)")
    if obj["hash"] != _hash(obj):
        raise _Bad(index, "hash does not match the line's contents (altered)")
    return obj


def _b64(text: Any, index: int, what: str) -> bytes:
    if type(text) is not str:
        raise _Bad(index, f"{what} is not base64 text")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _Bad(index, f"{what} is not valid base64") from None
    # Padding bits are ignored by the decoder: without this, a changed last character could
    # leave the bytes (and a signature not covered by the hash) the same.
    if base64.b64encode(data).decode("ascii") != text:
        raise _Bad(index, f"{what} is not canonical base64 (altered)")
    return data


def _read_lines(path: Path) -> list[bytes]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise UserError("is a directory, not a ledger file", file=str(path)) from None
    except OSError as error:
        raise UserError(f"cannot read: {error.strerror}", file=str(path)) from None
    if not was_ledger(data):
        raise UserError("not a jointbmd ledger (no line of it is a ledger line)", file=str(path))
    return data.split(b"\n")


# Text only ledger lines hold (canonical JSON, sorted keys): the header's format and type, every
# line's owner signature field, an entry's type and previous-hash link.
_LEDGER_MARKS = (
    b'"format":"jointbmd-ledger/',
    b'"type":"header"',
    b'"owner_sig":',
    b'"type":"entry"',
    b'"prev":"',
)
_HEADER_START = b'{"format":"jointbmd-ledger/'


def was_ledger(data: bytes) -> bool:
    """Whether a file's bytes are a ledger, intact or damaged, rather than something that never
    was one: an empty file or a cut-off start of a header (a ledger cut to 0 or 12 bytes), or any
    line that carries a ledger line's fields (a header removed, moved or altered, its entries
    still there). Such a file then fails verification at entry 0 instead of being called "not a
    ledger"."""
    if _HEADER_START.startswith(data):
        return True  # empty, or the first bytes of a header
    return any(mark in data for mark in _LEDGER_MARKS)


def verify_ledger(
    path: str | Path,
    keyring: KeyRing | None = None,
    *,
    expected_head: str | None = None,
    require_seal: bool = True,
    allow_unsigned: bool = False,
) -> LedgerReport:
    """Check a ledger file's chain, the owner's signature of every line, every message signature
    and the owner's final seal; see the module notes for what is caught and what is not.

    ``keyring``: keys the verifier trusts (the owner's must be among them); without it the
    header's keys are used. ``expected_head``: a partner's anchor ``"INDEX:HASH"``; the file must
    contain that entry. ``require_seal=False`` accepts a ledger without the owner's final seal
    (a run that stopped before closing it). ``allow_unsigned=True`` accepts a ledger whose lines
    carry no owner signatures (its chain then proves nothing against a deliberate tamperer).
    Raises `UserError` only for a file that is missing, unreadable or not a ledger at all.
    """
    path = Path(path)
    anchor = _parse_anchor(expected_head) if expected_head is not None else None
    lines = _read_lines(path)
    complete = lines[-1] == b""
    if complete:
        lines = lines[:-1]
    state: dict[str, Any] = {
        "owner": None, "count": 0, "head": None, "sealed": False, "signed": False, "hashes": [],
        "meta": {},
    }  # fmt: skip
    messages: list[SignedMessage] = []
    keys_from = "trusted" if keyring is not None else "header"
    try:
        _verify_lines(lines, complete, keyring, allow_unsigned, state, messages)
        if anchor is not None:
            _check_anchor(anchor, state)
        if require_seal and not state["sealed"]:
            raise _Bad(
                state["count"] + 1,
                f"no owner's seal after entry {state['count']}: entries may have been cut off "
                "the end (--allow-unsealed to accept)",
            )
    except _Bad as bad:
        return LedgerReport(
            str(path), False, state["owner"], max(len(lines) - 1, 0), bad.index, bad.reason,
            state["head"], state["sealed"], keys_from, state["signed"], tuple(messages),
            state["meta"],
        )  # fmt: skip
    return LedgerReport(
        str(path), True, state["owner"], state["count"], None, None,
        state["head"], state["sealed"], keys_from, state["signed"], tuple(messages),
        state["meta"],
    )  # fmt: skip


def _check_owner_sig(
    obj: Mapping[str, Any], index: int, owner_key: Ed25519PublicKey | None, signed: bool
) -> None:
    """The owner's signature of one line: present and valid in a signed ledger; in an unsigned
    one (accepted only with ``allow_unsigned``) absent, or valid if present."""
    if obj["owner_sig"] is None:
        if signed:
            raise _Bad(index, "owner's signature missing (removed, or line not the owner's)")
        return
    signature = _b64(obj["owner_sig"], index, "owner's signature")
    if owner_key is None:
        raise _Bad(index, "the owner is not among the trusted keys: cannot check its signature")
    try:
        owner_key.verify(signature, _line_sig_bytes(obj["hash"]))
    except InvalidSignature:
        what = "header" if index == 0 else "entry"
        raise _Bad(
            index,
            f"owner's signature does not match this {what}: altered, or entries removed, "
            "inserted or moved and re-chained without the owner's key",
        ) from None


def _verify_lines(
    lines: list[bytes],
    complete: bool,
    trusted: KeyRing | None,
    allow_unsigned: bool,
    state: dict[str, Any],
    messages: list[SignedMessage],
) -> None:
    if not lines or lines == [b""]:
        raise _Bad(0, "the file is empty: the header and every entry are missing")
    if len(lines) == 1 and not complete:
        raise _Bad(0, "header line is incomplete (no newline)")
    header = _parse_line(lines[0], 0, _HEADER_KEYS)
    if header["format"] != LEDGER_FORMAT or header["type"] != "header":
        raise _Bad(0, f"unsupported ledger format {str(header['format'])[:40]!r}")
    if type(header["owner"]) is not str or type(header["keys"]) is not dict:
        raise _Bad(0, "header owner or keys malformed")
    owner = header["owner"]
    state["owner"] = owner
    state["meta"] = header["meta"] if type(header["meta"]) is dict else {}
    try:
        header_keys = KeyRing.from_hex(header["keys"])
    except (ValueError, TypeError):
        raise _Bad(0, "header keys are not Ed25519 public keys") from None
    if trusted is not None:
        trusted_hex = trusted.to_hex()
        for name, key_hex in header_keys.to_hex().items():
            if name in trusted_hex and trusted_hex[name] != key_hex:
                raise _Bad(0, f"header key of {name!r} differs from the trusted key")
    keyring = trusted if trusted is not None else header_keys
    owner_key = keyring.get(owner)
    signed = header["owner_sig"] is not None
    state["signed"] = signed
    if not signed and not allow_unsigned:
        raise _Bad(
            0,
            "unsigned ledger: its owner signed no line, so anyone could have re-chained it "
            "(--allow-unsigned to accept)",
        )
    _check_owner_sig(header, 0, owner_key, signed)
    prev = header["hash"]
    state["head"] = f"0:{prev}"
    state["hashes"] = [prev]
    last_t = -math.inf
    seen: set[tuple[str, int]] = set()
    for index in range(1, len(lines)):
        if index == len(lines) - 1 and not complete:
            raise _Bad(index, "last line is incomplete (no newline)")
        if state["sealed"]:
            raise _Bad(index, "entry after the owner's seal (appended later)")
        obj = _parse_line(lines[index], index, _ENTRY_KEYS)
        if obj["type"] != "entry":
            raise _Bad(index, "not an entry line")
        if type(obj["index"]) is not int or obj["index"] != index:
            raise _Bad(
                index,
                f"holds index {str(obj['index'])[:20]}: an entry was removed, inserted or moved",
            )
        if obj["prev"] != prev:
            raise _Bad(index, "previous-hash link broken: an entry was removed, inserted or moved")
        _check_owner_sig(obj, index, owner_key, signed)
        t_receive = obj["t_receive"]
        # A number (RFC 8785 writes an integral time such as 12.0 as 12), not a bool.
        if type(t_receive) not in (float, int) or not t_receive >= last_t:
            raise _Bad(index, "receive time missing or going backwards")
        t_receive = float(t_receive)
        wire = _b64(obj["message"], index, "message") + _b64(obj["signature"], index, "signature")
        try:
            message = open_message(wire, keyring)
        except Rejected as rejection:
            raise _Bad(index, f"message rejected: {rejection}") from None
        if type(obj["seq"]) is not int or (obj["sender"], obj["kind"], obj["seq"]) != (
            message.sender,
            message.kind,
            message.seq,
        ):
            raise _Bad(index, "sender, kind or seq differ from the signed message")
        if (message.sender, message.seq) in seen:
            raise _Bad(index, f"duplicate message {message.sender} #{message.seq}")
        seen.add((message.sender, message.seq))
        body = message.body
        if isinstance(body, LedgerSeal):
            if message.sender != owner:
                raise _Bad(index, "seal not signed by the ledger owner")
            if body.entries != index - 1 or body.head != prev:
                raise _Bad(index, "seal does not match the entries before it")
        state["sealed"] = isinstance(body, LedgerSeal)
        messages.append(message)
        last_t = t_receive
        prev = obj["hash"]
        state["hashes"].append(prev)
        state["count"] = index
        state["head"] = f"{index}:{prev}"


def _parse_anchor(anchor: str) -> tuple[int, str]:
    index_text, _, digest = anchor.partition(":")
    if not (
        index_text.isdigit() and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    ):
        raise UserError("expected INDEX:HASH (as printed by 'ledger verify')", field="--head")
    return int(index_text), digest


def _check_anchor(anchor: tuple[int, str], state: dict[str, Any]) -> None:
    index, digest = anchor
    if index > state["count"]:
        raise _Bad(
            state["count"] + 1,
            f"ledger ends at entry {state['count']} but the anchor names entry {index}: truncated",
        )
    if state["hashes"][index] != digest:
        raise _Bad(index, "entry differs from the anchor: rewritten at or before this entry")


def export_picture(
    source: Any,
    keyring: KeyRing | None = None,
    *,
    require_seal: bool = True,
    allow_unsigned: bool = False,
) -> dict[str, Any]:
    """The canonical summary of the fused pictures a node accepted.

    ``source``: a ledger file path, a `Ledger`, a `Receiver` (its ``accepted``), or an iterable
    of `SignedMessage`. Returns ``{"format", "count", "pictures": [{"sender", "seq", "t_sent",
    "t", "tracks", "sha256"}] sorted by sender and seq, "digest"}``; two nodes that accepted the
    same pictures produce byte-identical exports (``canonical_json(export)``). A ledger file is
    verified first (``keyring``, ``require_seal``, ``allow_unsigned`` as in `verify_ledger`); a
    bad one raises `LedgerInvalid`.
    """
    run = None
    if isinstance(source, str | Path):
        report = verify_ledger(
            source, keyring, require_seal=require_seal, allow_unsigned=allow_unsigned
        )
        if not report.ok:
            raise LedgerInvalid(report)
        messages: Iterable[SignedMessage] = report.messages
        run = report.meta.get("run")
    elif isinstance(source, Ledger):
        messages = (entry.message for entry in source.entries)
    elif hasattr(source, "accepted"):
        messages = source.accepted
    else:
        messages = source
    pictures = sorted(
        (
            {
                "sender": m.sender,
                "seq": m.seq,
                "t_sent": m.t_sent,
                "t": m.body.t,
                "tracks": m.body.k,
                "sha256": m.digest,
            }
            for m in messages
            if isinstance(m.body, FusedPicture)
        ),
        key=lambda p: (p["sender"], p["seq"]),
    )
    return {
        "format": PICTURE_FORMAT,
        "run": run,  # the run id in the ledger's header, when read from a file
        "count": len(pictures),
        "pictures": pictures,
        "digest": hashlib.sha256(canonical_json(pictures)).hexdigest(),
    }


class LedgerInvalid(ValueError):
    """A ledger that failed verification where an intact one was needed."""

    def __init__(self, report: LedgerReport) -> None:
        self.report = report
        super().__init__(f"{report.path}: entry {report.first_bad}: {report.reason}")


@dataclass(frozen=True)
class PictureComparison:
    """Two picture exports compared. ``identical``: same pictures, same bytes. ``consistent``:
    no picture (same sender and seq) with different contents -- differences are only pictures
    one side did not receive. A conflict means the sender signed two different pictures under
    one number (equivocation)."""

    identical: bool
    consistent: bool
    common: int
    only_a: tuple[tuple[str, int], ...]
    only_b: tuple[tuple[str, int], ...]
    conflicts: tuple[tuple[str, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "consistent": self.consistent,
            "common": self.common,
            "only_a": [list(p) for p in self.only_a],
            "only_b": [list(p) for p in self.only_b],
            "conflicts": [list(p) for p in self.conflicts],
        }


def compare_pictures(a: Mapping[str, Any], b: Mapping[str, Any]) -> PictureComparison:
    """Compare two `export_picture` results."""
    digests_a = {(p["sender"], p["seq"]): p["sha256"] for p in a["pictures"]}
    digests_b = {(p["sender"], p["seq"]): p["sha256"] for p in b["pictures"]}
    common = digests_a.keys() & digests_b.keys()
    conflicts = tuple(sorted(k for k in common if digests_a[k] != digests_b[k]))
    only_a = tuple(sorted(digests_a.keys() - digests_b.keys()))
    only_b = tuple(sorted(digests_b.keys() - digests_a.keys()))
    return PictureComparison(
        identical=not (conflicts or only_a or only_b),
        consistent=not conflicts,
        common=len(common) - len(conflicts),
        only_a=only_a,
        only_b=only_b,
        conflicts=conflicts,
    )


@dataclass(frozen=True)
class PictureDifference:
    """One fusion cycle's picture (``sender``'s, for time ``t``) that the ledgers do not hold
    alike: ``held`` maps each ledger (by owner) to the ``[seq, sha256]`` of every such picture it
    holds (none: it never received one). ``kind`` is ``"differs"`` when two ledgers -- or one
    ledger twice -- hold different pictures for the cycle (the sender told partners different
    things), ``"missing"`` when some ledgers hold it and others none (a link lost it)."""

    sender: str
    t: float
    kind: str
    held: Mapping[str, tuple[tuple[int, str], ...]]

    def to_json(self) -> dict[str, Any]:
        return {
            "sender": self.sender,
            "t": self.t,
            "kind": self.kind,
            "held": {owner: [list(p) for p in pictures] for owner, pictures in self.held.items()},
        }

    def describe(self) -> str:
        def one(owner: str) -> str:
            pictures = self.held[owner]
            if not pictures:
                return f"{owner} none"
            return f"{owner} " + ", ".join(f"#{seq} sha256 {d[:12]}" for seq, d in pictures)

        return f"{self.sender}'s picture for t={self.t:g} s {self.kind}: " + "; ".join(
            one(owner) for owner in sorted(self.held)
        )


@dataclass(frozen=True)
class LedgerComparison:
    """The fused pictures of several ledgers compared cycle by cycle (`compare_ledgers`).
    ``identical``: every ledger holds the same pictures; ``consistent``: no two hold different
    pictures for one cycle (only losses); ``common``: cycles every ledger holds alike;
    ``differences`` in time order (``first`` is the earliest, differing before missing)."""

    owners: tuple[str, ...]
    common: int
    differences: tuple[PictureDifference, ...]

    @property
    def consistent(self) -> bool:
        return not any(d.kind == "differs" for d in self.differences)

    @property
    def identical(self) -> bool:
        return not self.differences

    @property
    def first(self) -> PictureDifference | None:
        differing = [d for d in self.differences if d.kind == "differs"]
        return (differing or list(self.differences) or [None])[0]

    def to_json(self) -> dict[str, Any]:
        first = self.first
        return {
            "owners": list(self.owners),
            "identical": self.identical,
            "consistent": self.consistent,
            "common": self.common,
            "differing": sum(d.kind == "differs" for d in self.differences),
            "missing": sum(d.kind == "missing" for d in self.differences),
            "first_difference": None if first is None else first.to_json(),
            "differences": [d.to_json() for d in self.differences],
        }


def compare_ledgers(exports: Mapping[str, Mapping[str, Any]]) -> LedgerComparison:
    """Compare the fused pictures of several ledgers (owner -> `export_picture` of its ledger),
    cycle by cycle: a centre signs one picture per fusion time and sends the same bytes to every
    partner, so every ledger that holds a picture of ``(sender, t)`` must hold exactly the same
    one (same SHA-256 of the signed bytes). The centre's own ledger, which records every picture
    it signed, takes part like any other: a second, different picture for one cycle shows there
    too. A different picture under the same sequence number (equivocation) is a difference of
    the same kind."""
    held: dict[tuple[str, float], dict[str, set[tuple[int, str]]]] = {}
    for owner, export in exports.items():
        for p in export["pictures"]:
            slot = held.setdefault((p["sender"], float(p["t"])), {})
            slot.setdefault(owner, set()).add((int(p["seq"]), p["sha256"]))
    owners = tuple(exports)
    common = 0
    differences = []
    for (sender, t), by_owner in sorted(held.items(), key=lambda item: (item[0][1], item[0][0])):
        digests = {digest for pictures in by_owner.values() for _, digest in pictures}
        if len(digests) > 1:
            kind = "differs"
        elif len(by_owner) < len(owners):
            kind = "missing"
        else:
            common += 1
            continue
        differences.append(
            PictureDifference(
                sender,
                t,
                kind,
                {o: tuple(sorted(by_owner.get(o, ()))) for o in owners},
            )
        )
    return LedgerComparison(owners, common, tuple(differences))
