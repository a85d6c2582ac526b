"""Exchange messages and their canonical bytes.

In: message bodies built by the stages (a national tracker's tracks, a sensor's launch report, the
fusion centre's picture, a decision). Out: the canonical bytes that are signed, sent and written
to the ledger, and back: ``decode_envelope(bytes) -> Envelope`` with every field checked.

Canonical encoding (version ``jointbmd.exchange/2``)
---------------------------------------------------
An envelope is the JSON object ``{"body": {...}, "kind": K, "sender": S, "seq": N, "t_sent": T,
"v": "jointbmd.exchange/2"}`` in the canonical form of RFC 8785 (JSON Canonicalization Scheme;
``jointbmd.canonical``): members sorted by key, no whitespace, UTF-8, numbers as ECMAScript
writes a double (shortest round-trip digits, so floats round-trip bit for bit; ``2.0`` is
written ``2``, ``-0.0`` as ``0``), no NaN or infinity. Whether a number is a float or an integer
is the field's type (docs/ledger.md lists every field); a reader takes an integral number for a
float field. Arrays are nested lists in C order. Integers lie in [-(2**53 - 1), 2**53 - 1] so
that any JSON reader holds them exactly.

Every message has exactly one byte string: the decoder re-encodes what it read and rejects the
message as non-canonical when the bytes differ. So a SHA-256 of the bytes names a message, and no
one can alter a signed message's bytes without breaking its signature (no malleability).

Decoding checks structure, types, array shapes and finiteness and raises `MalformedMessage`, and
nothing else, on any bad input.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from ..canonical import MAX_SAFE_INT, canonical_json

VERSION = "jointbmd.exchange/2"
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
MAX_INT = MAX_SAFE_INT
MAX_NAME = 128


class MalformedMessage(ValueError):
    """Bytes that are not a well-formed, canonical message of this version."""


def _reject_constant(name: str) -> Any:
    raise MalformedMessage(f"non-finite number {name}")


def parse_json(data: bytes) -> Any:
    """Parse JSON bytes strictly (UTF-8, no NaN/Infinity); raise `MalformedMessage` otherwise."""
    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant)
    except MalformedMessage:
        raise
    except (ValueError, RecursionError) as error:
        raise MalformedMessage(f"not JSON: {type(error).__name__}") from None


# --- field codecs -----------------------------------------------------------------------------
# A codec turns a Python value into its normal form (`coerce`, used when a message is built in
# code, accepting numpy scalars and lists), into JSON (`encode`) and back from JSON (`decode`,
# strict about JSON types so that only canonical input passes).


class _Codec:
    def coerce(self, value: Any, where: str) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any, where: str) -> Any:
        return self.coerce(value, where)


class _Float(_Codec):
    def __init__(self, low: float = -math.inf, high: float = math.inf) -> None:
        self.low, self.high = low, high

    def coerce(self, value: Any, where: str) -> float:
        if isinstance(value, bool | np.bool_) or not isinstance(
            value, int | float | np.integer | np.floating
        ):
            raise MalformedMessage(f"{where}: expected a number, got {type(value).__name__}")
        # + 0.0 turns -0.0 into 0.0: RFC 8785 writes both as 0, and a message must hold what its
        # canonical bytes say, so that the sender's copy equals every receiver's.
        result = float(value) + 0.0
        if not math.isfinite(result):
            raise MalformedMessage(f"{where}: not finite")
        if not self.low <= result <= self.high:
            raise MalformedMessage(f"{where}: {result!r} outside [{self.low}, {self.high}]")
        return result

    def decode(self, value: Any, where: str) -> float:
        # RFC 8785 writes an integral double without a fraction: 2.0 arrives as the integer 2.
        if type(value) is not float and type(value) is not int:
            raise MalformedMessage(f"{where}: expected a JSON number, got {type(value).__name__}")
        return self.coerce(value, where)


class _Int(_Codec):
    def __init__(self, low: int = -MAX_INT, high: int = MAX_INT) -> None:
        self.low, self.high = low, high

    def coerce(self, value: Any, where: str) -> int:
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
            raise MalformedMessage(f"{where}: expected an integer, got {type(value).__name__}")
        result = int(value)
        if not self.low <= result <= self.high:
            raise MalformedMessage(f"{where}: {result} outside [{self.low}, {self.high}]")
        return result

    def decode(self, value: Any, where: str) -> int:
        if type(value) is not int:
            raise MalformedMessage(f"{where}: expected a JSON integer")
        return self.coerce(value, where)


class _Bool(_Codec):
    def coerce(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool | np.bool_):
            raise MalformedMessage(f"{where}: expected true or false")
        return bool(value)


class _Str(_Codec):
    def __init__(self, choices: tuple[str, ...] | None = None, max_len: int = MAX_NAME) -> None:
        self.choices, self.max_len = choices, max_len

    def coerce(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise MalformedMessage(f"{where}: expected a string")
        if self.choices is not None and value not in self.choices:
            raise MalformedMessage(f"{where}: {value!r} not one of {list(self.choices)}")
        if not 0 < len(value) <= self.max_len:
            raise MalformedMessage(f"{where}: length must be 1..{self.max_len}")
        if not value.isprintable():
            raise MalformedMessage(f"{where}: contains control characters")
        return value


def _check_nested(value: Any, shape: tuple[int, ...], where: str, leaf: type) -> None:
    """Check that a JSON value is nested lists of exactly `shape` with `leaf`-typed leaves."""
    if not shape:
        # An integral float element arrives as a JSON integer (RFC 8785 writes 2.0 as 2).
        if type(value) is not leaf and not (leaf is float and type(value) is int):
            raise MalformedMessage(f"{where}: expected JSON {leaf.__name__} elements")
        return
    if type(value) is not list or len(value) != shape[0]:
        raise MalformedMessage(f"{where}: expected an array of shape {shape}")
    for item in value:
        _check_nested(item, shape[1:], where, leaf)


class _Array(_Codec):
    """A float (or int, or bool) array; ``None`` in the shape is the batch length ``k``."""

    def __init__(self, *shape: int | None, dtype: type = float) -> None:
        self.shape, self.dtype = shape, dtype

    def coerce(self, value: Any, where: str) -> np.ndarray:
        try:
            raw = np.asarray(value)
        except (ValueError, TypeError) as error:
            raise MalformedMessage(f"{where}: not an array ({error})") from None
        if raw.size == 0:  # an empty list has no element type to check
            ok_kind = raw.dtype.kind in "biuf"
        elif self.dtype is bool:
            ok_kind = raw.dtype.kind == "b"
        elif self.dtype is int:
            ok_kind = raw.dtype.kind in "iu"
        else:
            ok_kind = raw.dtype.kind in "fiu"
        if not ok_kind:
            raise MalformedMessage(f"{where}: wrong element type {raw.dtype}")
        if raw.ndim != len(self.shape) or any(
            want is not None and got != want
            for want, got in zip(self.shape, raw.shape, strict=True)
        ):
            raise MalformedMessage(f"{where}: shape {raw.shape}, expected {self.shape}")
        if self.dtype is float:
            array = np.array(raw, dtype=np.float64) + 0.0  # -0.0 -> 0.0, as in _Float
            if not np.all(np.isfinite(array)):
                raise MalformedMessage(f"{where}: not finite")
        elif self.dtype is int:
            array = np.array(raw, dtype=np.int64)
            if array.size and (np.abs(array).max() > MAX_INT):
                raise MalformedMessage(f"{where}: integer out of range")
        else:
            array = np.array(raw, dtype=bool)
        array.setflags(write=False)
        return array

    def encode(self, value: np.ndarray) -> Any:
        return value.tolist()

    def decode(self, value: Any, where: str) -> np.ndarray:
        k = len(value) if type(value) is list else -1
        shape = tuple(k if s is None else s for s in self.shape)
        _check_nested(value, shape, where, self.dtype)
        array = np.array(value, dtype={float: np.float64, int: np.int64, bool: bool}[self.dtype])
        return self.coerce(array.reshape(shape), where)


class _Names(_Codec):
    """A tuple, per fused track, of the tuple of partner names that contributed to it."""

    def coerce(self, value: Any, where: str) -> tuple[tuple[str, ...], ...]:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise MalformedMessage(f"{where}: expected a list of lists of names")
        name = _Str()
        out = []
        for group in value:
            if isinstance(group, str | bytes) or not isinstance(group, list | tuple):
                raise MalformedMessage(f"{where}: expected a list of lists of names")
            out.append(tuple(name.coerce(item, where) for item in group))
        return tuple(out)

    def encode(self, value: tuple[tuple[str, ...], ...]) -> Any:
        return [list(group) for group in value]

    def decode(self, value: Any, where: str) -> tuple[tuple[str, ...], ...]:
        if type(value) is not list or any(type(group) is not list for group in value):
            raise MalformedMessage(f"{where}: expected a list of lists of names")
        return self.coerce(value, where)


_TIME = _Float()
_ANGLE = _Float(-2 * math.pi, 2 * math.pi)
_SIGMA = _Float(0.0)
_NAME = _Str()
_ID = _Int()
_SHOTS = _Int(0, 10_000)
_HASH = _Str(max_len=64)


# --- bodies -----------------------------------------------------------------------------------

BODY_KINDS: dict[str, type[Body]] = {}


class Body:
    """Base of every message body: a frozen dataclass whose fields are listed in ``FIELDS``.

    Building a body checks and normalises every field (arrays become read-only float64 copies)
    and raises `MalformedMessage` on a bad value. Bodies compare equal when their canonical JSON
    is equal.
    """

    KIND: ClassVar[str]
    FIELDS: ClassVar[dict[str, _Codec]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        BODY_KINDS[cls.KIND] = cls

    def __post_init__(self) -> None:
        for name, codec in self.FIELDS.items():
            object.__setattr__(self, name, codec.coerce(getattr(self, name), name))
        self._check()

    def _check(self) -> None:
        """Checks across fields (overridden where needed)."""

    def to_json(self) -> dict[str, Any]:
        return {name: codec.encode(getattr(self, name)) for name, codec in self.FIELDS.items()}

    @classmethod
    def from_json(cls, obj: Any) -> Body:
        if type(obj) is not dict:
            raise MalformedMessage("body: expected an object")
        if set(obj) != set(cls.FIELDS):
            missing = sorted(set(cls.FIELDS) - set(obj))
            extra = sorted(set(obj) - set(cls.FIELDS))
            raise MalformedMessage(f"{cls.KIND}: missing fields {missing}, unknown fields {extra}")
        values = {name: codec.decode(obj[name], name) for name, codec in cls.FIELDS.items()}
        return cls(**values)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return canonical_json(self.to_json()) == canonical_json(other.to_json())  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(canonical_json(self.to_json()))


def _check_covariance(P: np.ndarray, where: str) -> None:
    if np.any(np.diagonal(P, axis1=-2, axis2=-1) < 0):
        raise MalformedMessage(f"{where}: negative variance on the diagonal")


@dataclass(frozen=True, eq=False)
class LaunchReport(Body):
    """A space-based infrared launch report: launch point, time and heading with 1-sigma errors.

    ``source`` is the partner whose sensor made the report (the envelope's sender may be a relay).
    Angles in rad, heading from north clockwise.
    """

    KIND: ClassVar[str] = "launch_report"
    FIELDS: ClassVar[dict[str, _Codec]] = {
        "report_id": _NAME,
        "source": _NAME,
        "sensor": _NAME,
        "t_report": _TIME,
        "t_launch": _TIME,
        "lat": _Float(-math.pi / 2, math.pi / 2),
        "lon": _ANGLE,
        "heading": _ANGLE,
        "sigma_position_m": _SIGMA,
        "sigma_heading_rad": _SIGMA,
        "sigma_time_s": _SIGMA,
    }

    report_id: str
    source: str
    sensor: str
    t_report: float
    t_launch: float
    lat: float
    lon: float
    heading: float
    sigma_position_m: float
    sigma_heading_rad: float
    sigma_time_s: float

    @classmethod
    def from_sensor(cls, report: Any, report_id: str) -> LaunchReport:
        """Build from the sensors stage's launch report (attributes ``partner``, ``sensor``,
        ``t_report``, ``t_launch``, ``lat``, ``lon``, ``heading``, ``sigma_*``). Its truth id is
        not sent: it is for scoring only."""
        return cls(
            report_id=report_id,
            source=report.partner,
            sensor=report.sensor,
            t_report=report.t_report,
            t_launch=report.t_launch,
            lat=report.lat,
            lon=report.lon,
            heading=report.heading,
            sigma_position_m=report.sigma_position_m,
            sigma_heading_rad=report.sigma_heading_rad,
            sigma_time_s=report.sigma_time_s,
        )


@dataclass(frozen=True, eq=False)
class TrackReport(Body):
    """One national track: ECI state ``x`` (6,) = (r_eci m, v_eci m/s) and covariance ``P``
    (6, 6) at time ``t``, the source partner's track id, its quality figure and firm flag."""

    KIND: ClassVar[str] = "track_report"
    FIELDS: ClassVar[dict[str, _Codec]] = {
        "source": _NAME,
        "track_id": _ID,
        "t": _TIME,
        "x": _Array(6),
        "P": _Array(6, 6),
        "quality": _Float(),
        "firm": _Bool(),
    }

    source: str
    track_id: int
    t: float
    x: np.ndarray
    P: np.ndarray
    quality: float
    firm: bool

    def _check(self) -> None:
        _check_covariance(self.P, "P")


def track_reports(
    source: str,
    track_id: Any,
    t: Any,
    x: Any,
    P: Any,
    quality: Any,
    firm: Any,
) -> list[TrackReport]:
    """Split a batch of tracks (``track_id (k,)``, ``t (k,)``, ``x (k,6)``, ``P (k,6,6)``,
    ``quality (k,)``, ``firm (k,)``) into one `TrackReport` per track."""
    track_id, t, quality, firm = (np.asarray(a) for a in (track_id, t, quality, firm))
    x, P = np.asarray(x, dtype=float), np.asarray(P, dtype=float)
    return [
        TrackReport(source, int(track_id[i]), t[i], x[i], P[i], quality[i], bool(firm[i]))
        for i in range(len(track_id))
    ]


@dataclass(frozen=True, eq=False)
class EngagementRequest(Body):
    """A request to engage a (fused or national) track with a fire unit: the intercept solution
    (time and ECI point) and the number of interceptors asked for."""

    KIND: ClassVar[str] = "engagement_request"
    FIELDS: ClassVar[dict[str, _Codec]] = {
        "request_id": _NAME,
        "requester": _NAME,
        "fire_unit": _NAME,
        "track_id": _ID,
        "t": _TIME,
        "t_intercept": _TIME,
        "r_intercept_eci": _Array(3),
        "shots": _SHOTS,
    }

    request_id: str
    requester: str
    fire_unit: str
    track_id: int
    t: float
    t_intercept: float
    r_intercept_eci: np.ndarray
    shots: int


VOTE_CHOICES = ("yes", "no", "abstain", "veto")


@dataclass(frozen=True, eq=False)
class Vote(Body):
    """A partner's vote on an engagement request: yes, no, abstain or veto."""

    KIND: ClassVar[str] = "vote"
    FIELDS: ClassVar[dict[str, _Codec]] = {
        "request_id": _NAME,
        "voter": _NAME,
        "choice": _Str(VOTE_CHOICES),
        "t": _TIME,
    }

    request_id: str
    voter: str
    choice: str
    t: float


@dataclass(frozen=True, eq=False)
class Order(Body):
    """The decision on a request: fire (``fire`` true, with ``shots`` interceptors) or hold."""

    KIND: ClassVar[str] = "order"
    FIELDS: ClassVar[dict[str, _Codec]] = {
        "order_id": _NAME,
        "request_id": _NAME,
        "fire_unit": _NAME,
        "track_id": _ID,
        "t": _TIME,
        "fire": _Bool(),
        "shots": _SHOTS,
    }

    order_id: str
    request_id: str
    fire_unit: str
    track_id: int
    t: float
    fire: bool
    shots: int


KILL_OUTCOMES = ("killed", "missed", "unknown")


@dataclass(frozen=True, eq=False)
class KillAssessment(Body):
    """The outcome of an order's shots as assessed at time ``t``."""

    KIND: ClassVar[str] = "kill_assessment"
    FIELDS: ClassVar[dict[str, _Codec]] = {
        "order_id": _NAME,
        "track_id": _ID,
        "t": _TIME,
        "outcome": _Str(KILL_OUTCOMES),
    }

    order_id: str
    track_id: int
    t: float
    outcome: str


@dataclass(frozen=True, eq=False)
class Acknowledgement(Body):
    """``by`` confirms at time ``t`` that it received the order ``order_id`` (so that the sender
    stops sending it again over a lossy link)."""

    KIND: ClassVar[str] = "acknowledgement"
    FIELDS: ClassVar[dict[str, _Codec]] = {"order_id": _NAME, "by": _NAME, "t": _TIME}

    order_id: str
    by: str
    t: float


def _check_track_arrays(body: Any, kind: str) -> None:
    lengths = {len(getattr(body, f.name)) for f in fields(body) if f.name not in ("t", "source")}
    if len(lengths) != 1:
        raise MalformedMessage(f"{kind}: fields disagree on the number of tracks")
    if len(set(body.track_id.tolist())) != len(body.track_id):
        raise MalformedMessage(f"{kind}: duplicate track ids")
    _check_covariance(body.P, "P")


@dataclass(frozen=True, eq=False)
class TrackBatchReport(Body):
    """One partner's national tracks at a reporting time ``t``, as arrays: ``track_id (k,)``,
    ``t_track (k,)``, ``x (k,6)`` ECI, ``P (k,6,6)``, ``quality (k,)``, ``firm (k,)``.

    The batched form of `TrackReport`: one signature per reporting cycle instead of one per
    track, which is what keeps a replication's signing cost small."""

    KIND: ClassVar[str] = "track_batch"
    FIELDS: ClassVar[dict[str, _Codec]] = {
        "source": _NAME,
        "t": _TIME,
        "track_id": _Array(None, dtype=int),
        "t_track": _Array(None),
        "x": _Array(None, 6),
        "P": _Array(None, 6, 6),
        "quality": _Array(None),
        "firm": _Array(None, dtype=bool),
    }

    source: str
    t: float
    track_id: np.ndarray
    t_track: np.ndarray
    x: np.ndarray
    P: np.ndarray
    quality: np.ndarray
    firm: np.ndarray

    @property
    def k(self) -> int:
        return len(self.track_id)

    def reports(self) -> list[TrackReport]:
        """The batch as one `TrackReport` per track."""
        return track_reports(
            self.source, self.track_id, self.t_track, self.x, self.P, self.quality, self.firm
        )

    def _check(self) -> None:
        _check_track_arrays(self, "track_batch")


@dataclass(frozen=True, eq=False)
class FusedPicture(Body):
    """The fusion centre's picture at time ``t``: ``k`` fused tracks as arrays -- ``track_id
    (k,)``, ``t_track (k,)``, ``x (k,6)`` ECI, ``P (k,6,6)``, ``quality (k,)``, ``firm (k,)`` --
    and, per track, the partners whose tracks went into it (``sources``)."""

    KIND: ClassVar[str] = "fused_picture"
    FIELDS: ClassVar[dict[str, _Codec]] = {
        "t": _TIME,
        "track_id": _Array(None, dtype=int),
        "t_track": _Array(None),
        "x": _Array(None, 6),
        "P": _Array(None, 6, 6),
        "quality": _Array(None),
        "firm": _Array(None, dtype=bool),
        "sources": _Names(),
    }

    t: float
    track_id: np.ndarray
    t_track: np.ndarray
    x: np.ndarray
    P: np.ndarray
    quality: np.ndarray
    firm: np.ndarray
    sources: tuple[tuple[str, ...], ...]

    @property
    def k(self) -> int:
        return len(self.track_id)

    def _check(self) -> None:
        _check_track_arrays(self, "fused_picture")


@dataclass(frozen=True, eq=False)
class LedgerSeal(Body):
    """Written by a ledger's owner as its last entry: how many entries precede it and the hash
    of the one just before. It lets a verifier detect a ledger cut short (see `ledger`)."""

    KIND: ClassVar[str] = "ledger_seal"
    FIELDS: ClassVar[dict[str, _Codec]] = {"entries": _Int(0, MAX_INT), "head": _HASH}

    entries: int
    head: str


# --- envelope ---------------------------------------------------------------------------------

_ENVELOPE_KEYS = frozenset({"v", "sender", "seq", "t_sent", "kind", "body"})


@dataclass(frozen=True)
class Envelope:
    """Who sent a body, its per-sender sequence number (from 1) and the send time (s)."""

    sender: str
    seq: int
    t_sent: float
    body: Body

    def __post_init__(self) -> None:
        object.__setattr__(self, "sender", _NAME.coerce(self.sender, "sender"))
        object.__setattr__(self, "seq", _Int(1, MAX_INT).coerce(self.seq, "seq"))
        object.__setattr__(self, "t_sent", _TIME.coerce(self.t_sent, "t_sent"))
        if not isinstance(self.body, Body):
            raise MalformedMessage("body: not a message body")

    @property
    def kind(self) -> str:
        return self.body.KIND

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "sender": self.sender,
            "seq": self.seq,
            "t_sent": self.t_sent,
            "kind": self.kind,
            "body": self.body.to_json(),
        }

    def encode(self) -> bytes:
        """The canonical bytes of this envelope (what is signed)."""
        return canonical_json(self.to_json())


def peek_sender(obj: Any) -> str:
    """The claimed sender of a parsed envelope, before anything else is checked."""
    if type(obj) is not dict:
        raise MalformedMessage("envelope: expected a JSON object")
    return _NAME.decode(obj.get("sender"), "sender")


def envelope_from_json(obj: Any, payload: bytes | None = None) -> Envelope:
    """Build an envelope from parsed JSON, checking everything; with `payload`, also check that
    those bytes are the canonical encoding."""
    try:
        if type(obj) is not dict:
            raise MalformedMessage("envelope: expected a JSON object")
        if set(obj) != _ENVELOPE_KEYS:
            raise MalformedMessage(
                f"envelope: keys {sorted(obj)}, expected {sorted(_ENVELOPE_KEYS)}"
            )
        if obj["v"] != VERSION:
            raise MalformedMessage(f"unsupported version {str(obj['v'])[:40]!r}")
        kind = obj["kind"]
        if type(kind) is not str or kind not in BODY_KINDS:
            raise MalformedMessage(f"unknown message kind {str(kind)[:40]!r}")
        envelope = Envelope(
            sender=_NAME.decode(obj["sender"], "sender"),
            seq=_Int(1, MAX_INT).decode(obj["seq"], "seq"),
            t_sent=_TIME.decode(obj["t_sent"], "t_sent"),
            body=BODY_KINDS[kind].from_json(obj["body"]),
        )
        if payload is not None:
            if envelope.encode() != payload:
                raise MalformedMessage("non-canonical encoding")
            remember_envelope(payload, envelope)
        return envelope
    except MalformedMessage:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as error:
        raise MalformedMessage(f"{type(error).__name__}: {error}"[:200]) from None


# --- known canonical payloads ---------------------------------------------------------------
# Decoding is a pure function of the payload bytes, and the bytes a `Signer` produces are by
# definition the canonical encoding of the envelope it signed. So a payload seen before -- signed
# in this process, or already decoded and found canonical -- decodes to an envelope equal, field
# for field and bit for bit, to the one remembered (floats round-trip exactly through ``repr``).
# `known_envelope` returns that envelope instead of parsing and re-encoding the bytes again: the
# fusion centre's picture reaches every partner as the same bytes, and every national batch is
# decoded by the centre right after its partner encoded it. This saves work, never a check: the
# lookup is by the exact bytes, so any altered byte misses and takes the full path, and the
# signature, sender, replay and time checks still run for every receiver (`signing.open_message`,
# `receiver.Receiver`). Envelopes and bodies are immutable (frozen, read-only arrays), so sharing
# one between signer and receivers is safe. The memory is bounded (oldest entries dropped).

KNOWN_PAYLOADS_MAX = 256
_KNOWN: dict[bytes, Envelope] = {}


def remember_envelope(payload: bytes, envelope: Envelope) -> None:
    """Record that ``payload`` is the canonical encoding of ``envelope`` (see above)."""
    if payload in _KNOWN:
        return
    if len(_KNOWN) >= KNOWN_PAYLOADS_MAX:
        del _KNOWN[next(iter(_KNOWN))]  # dicts keep insertion order: drop the oldest
    _KNOWN[payload] = envelope


def known_envelope(payload: bytes) -> Envelope | None:
    """The envelope whose canonical encoding is exactly ``payload``, if remembered."""
    return _KNOWN.get(payload)


def forget_envelopes() -> None:
    """Empty the memory of known payloads (tests use it to force the full decoding path)."""
    _KNOWN.clear()


def decode_envelope(payload: bytes) -> Envelope:
    """Decode canonical envelope bytes; raise `MalformedMessage` on anything wrong."""
    if not isinstance(payload, bytes | bytearray):
        raise MalformedMessage("expected bytes")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MalformedMessage("message too large")
    payload = bytes(payload)
    known = known_envelope(payload)
    if known is not None:
        return known
    return envelope_from_json(parse_json(payload), payload)


# --- signed message ---------------------------------------------------------------------------

SIGNATURE_BYTES = 64


@dataclass(frozen=True)
class SignedMessage:
    """An envelope, its canonical bytes (``payload``) and the sender's Ed25519 signature over
    them. On the wire it travels as ``payload + signature`` (the signature is always 64 bytes,
    so no framing is needed)."""

    envelope: Envelope
    payload: bytes
    signature: bytes

    @property
    def wire(self) -> bytes:
        return self.payload + self.signature

    @property
    def sender(self) -> str:
        return self.envelope.sender

    @property
    def seq(self) -> int:
        return self.envelope.seq

    @property
    def t_sent(self) -> float:
        return self.envelope.t_sent

    @property
    def kind(self) -> str:
        return self.envelope.kind

    @property
    def body(self) -> Body:
        return self.envelope.body

    @property
    def digest(self) -> str:
        """SHA-256 of the payload, hex: the message's name."""
        return hashlib.sha256(self.payload).hexdigest()


def split_wire(data: bytes) -> tuple[bytes, bytes]:
    """Split wire bytes into (payload, signature); raise `MalformedMessage` if too short."""
    if not isinstance(data, bytes | bytearray) or len(data) <= SIGNATURE_BYTES:
        raise MalformedMessage("truncated: shorter than a signature")
    data = bytes(data)
    return data[:-SIGNATURE_BYTES], data[-SIGNATURE_BYTES:]


def body_from_mapping(kind: str, values: Mapping[str, Any]) -> Body:
    """Build a body of the named kind from keyword values (for scripts and tests)."""
    if kind not in BODY_KINDS:
        raise MalformedMessage(f"unknown message kind {kind!r}")
    return BODY_KINDS[kind](**values)
