"""The hash-chained ledger of accepted messages and decisions, its verification, and the export
and comparison of the fused picture a partner received.

In: signed messages accepted by a `Receiver` (and a node's own signed decisions), with their
receive times. Out: a JSON-lines file; ``verify_ledger(path) -> LedgerReport``;
``export_picture(...) -> dict`` and ``compare_pictures(a, b) -> PictureComparison``.

File format (``jointbmd-ledger/1``), one canonical JSON object per line (see `messages` for the
canonical encoding), every line ending in ``\\n``:

- line 0, the header: ``{"format", "type": "header", "owner", "keys": {partner: raw Ed25519
  public key, hex}, "meta": {...}, "hash"}``;
- line i >= 1, entry i: ``{"type": "entry", "index": i, "prev": hash of line i-1, "t_receive",
  "sender", "kind", "seq", "message": payload (base64), "signature": (base64), "hash"}``,

where ``hash`` = SHA-256 (hex) of the line's canonical JSON without its ``hash`` field.

What verification detects from the file alone: any altered byte (a line must be canonical JSON
whose hash matches and whose signature verifies), a removed, inserted or reordered entry (the
index and previous-hash links break at the first such position), a forged or copied message
(signature, duplicate (sender, seq)), receive times going backwards, and a header whose keys
differ from keys the verifier trusts (``keyring=``, ``--keys DIR``). The first bad entry is
named by its index (0 is the header).

What it cannot detect from the file alone: (1) entries cut off the end -- a prefix of a valid
chain is a valid chain -- unless the owner sealed the ledger (a signed `LedgerSeal` as the last
entry, naming the entry count and the head hash: a cut ledger is then unsealed, and an attacker
without the owner's key cannot seal it again); and (2) a wholesale rewrite by someone holding all
the signing keys named in the header, when the verifier does not bring its own trusted keys.
Against both, a partner keeps an *anchor*, ``"INDEX:HASH"`` of the last entry it saw
(`Ledger.anchor`, printed by ``jointbmd ledger verify``): verifying with ``expected_head=anchor``
fails if the ledger no longer contains that entry with that hash.
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

from jointbmd.errors import UserError

from .messages import (
    FusedPicture,
    LedgerSeal,
    MalformedMessage,
    SignedMessage,
    canonical_json,
    parse_json,
)
from .signing import KeyRing, Rejected, Signer, open_message

LEDGER_FORMAT = "jointbmd-ledger/1"
PICTURE_FORMAT = "jointbmd-picture/1"
GENESIS = "0" * 64
_HEADER_KEYS = frozenset({"format", "type", "owner", "keys", "meta", "hash"})
_ENTRY_KEYS = frozenset(
    {"type", "index", "prev", "t_receive", "sender", "kind", "seq", "message", "signature", "hash"}
)


def _hash(obj: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json({k: v for k, v in obj.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    """One accepted message or decision as recorded: position, receive time, message, hash."""

    index: int
    t_receive: float
    message: SignedMessage
    hash: str


class Ledger:
    """An append-only, hash-chained log, kept in memory and (with ``path``) written line by line.

    ``owner`` is the node keeping it; ``keyring`` holds the public keys written into the header
    (the owner's included) so that the file can be verified on its own. ``meta`` is any small
    JSON-able description (scenario, arrangement, seed). An existing file at ``path`` is
    replaced: a ledger is written once, by one run.
    """

    def __init__(
        self,
        path: str | Path | None,
        owner: str,
        keyring: KeyRing,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        if owner not in keyring:
            raise ValueError(f"the ledger owner {owner!r} must be in the key ring")
        self.path = Path(path) if path is not None else None
        self.owner = owner
        self.keyring = keyring
        header: dict[str, Any] = {
            "format": LEDGER_FORMAT,
            "type": "header",
            "owner": owner,
            "keys": keyring.to_hex(),
            "meta": dict(meta or {}),
        }
        header["hash"] = _hash(header)
        self.header = header
        self.entries: list[LedgerEntry] = []
        self._ids: set[tuple[str, int]] = set()
        self._handle: IO[bytes] | None = None
        if self.path is not None:
            self._handle = self.path.open("wb")
            self._write(header)

    @property
    def head(self) -> str:
        """Hash of the last line (the header's when empty)."""
        return self.entries[-1].hash if self.entries else self.header["hash"]

    @property
    def anchor(self) -> str:
        """``"INDEX:HASH"`` of the last entry: what a partner keeps to detect later truncation."""
        return f"{len(self.entries)}:{self.head}"

    @property
    def sealed(self) -> bool:
        return bool(self.entries) and isinstance(self.entries[-1].message.body, LedgerSeal)

    def append(self, message: SignedMessage, t_receive: float) -> LedgerEntry:
        """Record a verified message received at ``t_receive`` (not earlier than the last one).

        The message must come from `Receiver`/`open_message` or from one of the owner's own
        `Signer`s; its signature is checked again by `verify_ledger`, not here. The same
        (sender, seq) twice raises `ValueError` (verification would refuse the duplicate).
        """
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
        entry = LedgerEntry(index, t_receive, message, line["hash"])
        self.entries.append(entry)
        if self._handle is not None:
            self._write(line)
        return entry

    def record(self, signer: Signer, body: Any, t: float) -> SignedMessage:
        """Sign one of the owner's own decisions (a vote, an order...) and append it."""
        message = signer.sign(body, t)
        self.append(message, t)
        return message

    def seal(self, signer: Signer, t: float) -> SignedMessage:
        """Append the owner's signed seal (entry count and head hash); see the module notes."""
        if signer.name != self.owner:
            raise ValueError("only the ledger owner can seal it")
        return self.record(signer, LedgerSeal(entries=len(self.entries), head=self.head), t)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, obj: Mapping[str, Any]) -> None:
        assert self._handle is not None
        self._handle.write(canonical_json(obj) + b"\n")
        self._handle.flush()


@dataclass(frozen=True)
class LedgerReport:
    """The outcome of `verify_ledger`. ``first_bad`` is the index of the first bad entry (0 =
    header) or None when intact; ``head`` is the anchor ``INDEX:HASH`` of the last good entry."""

    path: str
    ok: bool
    owner: str | None
    entries: int
    first_bad: int | None
    reason: str | None
    head: str | None
    sealed: bool
    keys_from: str
    messages: tuple[SignedMessage, ...] = field(default=(), repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "owner": self.owner,
            "entries": self.entries,
            "first_bad": self.first_bad,
            "reason": self.reason,
            "head": self.head,
            "sealed": self.sealed,
            "keys_from": self.keys_from,
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
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _Bad(index, f"{what} is not valid base64") from None


def _read_lines(path: Path) -> list[bytes]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise UserError("is a directory, not a ledger file", file=str(path)) from None
    except OSError as error:
        raise UserError(f"cannot read: {error.strerror}", file=str(path)) from None
    first = data.split(b"\n", 1)[0]
    # Two markers, far apart in the header, so that one altered byte still leaves the file
    # recognisable as a (damaged) ledger rather than "not a ledger".
    if not (b'"format":"jointbmd-ledger/' in first or b'"type":"header"' in first):
        raise UserError(
            "not a jointbmd ledger (no ledger header on the first line)", file=str(path)
        )
    return data.split(b"\n")


def verify_ledger(
    path: str | Path,
    keyring: KeyRing | None = None,
    *,
    expected_head: str | None = None,
    require_seal: bool = False,
) -> LedgerReport:
    """Check a ledger file's chain and every signature; see the module notes for what is caught.

    ``keyring``: keys the verifier trusts; without it the header's keys are used.
    ``expected_head``: a partner's anchor ``"INDEX:HASH"``; the file must contain that entry.
    ``require_seal``: fail unless the last entry is the owner's valid seal.
    Raises `UserError` only for a file that is missing, unreadable or not a ledger at all.
    """
    path = Path(path)
    anchor = _parse_anchor(expected_head) if expected_head is not None else None
    lines = _read_lines(path)
    complete = lines[-1] == b""
    if complete:
        lines = lines[:-1]
    state: dict[str, Any] = {"owner": None, "count": 0, "head": None, "sealed": False, "hashes": []}
    messages: list[SignedMessage] = []
    keys_from = "trusted" if keyring is not None else "header"
    try:
        _verify_lines(lines, complete, keyring, state, messages)
        if anchor is not None:
            _check_anchor(anchor, state)
        if require_seal and not state["sealed"]:
            raise _Bad(state["count"] + 1, "not sealed by its owner: entries may be missing")
    except _Bad as bad:
        return LedgerReport(
            str(path), False, state["owner"], len(lines) - 1, bad.index, bad.reason,
            state["head"], state["sealed"], keys_from, tuple(messages),
        )  # fmt: skip
    return LedgerReport(
        str(path), True, state["owner"], state["count"], None, None,
        state["head"], state["sealed"], keys_from, tuple(messages),
    )  # fmt: skip


def _verify_lines(
    lines: list[bytes],
    complete: bool,
    trusted: KeyRing | None,
    state: dict[str, Any],
    messages: list[SignedMessage],
) -> None:
    header = _parse_line(lines[0], 0, _HEADER_KEYS)
    if header["format"] != LEDGER_FORMAT or header["type"] != "header":
        raise _Bad(0, f"unsupported ledger format {str(header['format'])[:40]!r}")
    if type(header["owner"]) is not str or type(header["keys"]) is not dict:
        raise _Bad(0, "header owner or keys malformed")
    state["owner"] = header["owner"]
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
    prev = header["hash"]
    state["head"] = f"0:{prev}"
    state["hashes"] = [prev]
    last_t = -math.inf
    seen: set[tuple[str, int]] = set()
    for index in range(1, len(lines)):
        if index == len(lines) - 1 and not complete:
            raise _Bad(index, "last line is incomplete (no newline)")
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
        t_receive = obj["t_receive"]
        if type(t_receive) is not float or not t_receive >= last_t:
            raise _Bad(index, "receive time missing or going backwards")
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
            if message.sender != header["owner"]:
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


def export_picture(source: Any, keyring: KeyRing | None = None) -> dict[str, Any]:
    """The canonical summary of the fused pictures a node accepted.

    ``source``: a ledger file path, a `Ledger`, a `Receiver` (its ``accepted``), or an iterable
    of `SignedMessage`. Returns ``{"format", "count", "pictures": [{"sender", "seq", "t_sent",
    "t", "tracks", "sha256"}] sorted by sender and seq, "digest"}``; two nodes that accepted the
    same pictures produce byte-identical exports (``canonical_json(export)``). A ledger file is
    verified first; a bad one raises `LedgerInvalid`.
    """
    if isinstance(source, str | Path):
        report = verify_ledger(source, keyring)
        if not report.ok:
            raise LedgerInvalid(report)
        messages: Iterable[SignedMessage] = report.messages
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
