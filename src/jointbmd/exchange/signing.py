"""Ed25519 keys, signing and verification of exchange messages.

In: message bodies and a partner's private key. Out: `SignedMessage` objects (canonical bytes plus
a 64-byte Ed25519 signature, RFC 8032) and, on the receiving side, verified messages or a
`Rejected` error naming why.

Where keys come from
--------------------
- ``generate_keys(names)`` (no seed): fresh keys from the operating system's random source, one
  set per scenario run. This is the default for real use: the keys do not depend on the
  simulation seed, so knowing a campaign's seed does not give anyone a partner's signing key.
- ``generate_keys(names, seed=S)``: deterministic keys, the 32-byte Ed25519 seed of each partner
  being SHA-256("jointbmd-ed25519-key/1" | S | name). For tests and reproducible demonstrations
  only -- anyone who knows S can sign as any partner. Because Ed25519 signatures are themselves
  deterministic (RFC 8032 §5.1.6), a run with seeded keys writes byte-identical ledgers.
- Keys are never drawn from the replication's ``numpy.random.Generator``: that would shift its
  stream and make the physics depend on whether messages are signed.
- ``save_keys``/``KeyRing.load`` write and read PEM files: ``NAME.key.pem`` (PKCS#8, private,
  unencrypted, mode 0600) and ``NAME.pub.pem`` (SubjectPublicKeyInfo) in a directory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from jointbmd.errors import UserError

from .messages import (
    Body,
    Envelope,
    MalformedMessage,
    SignedMessage,
    envelope_from_json,
    known_envelope,
    parse_json,
    peek_sender,
    remember_envelope,
    split_wire,
)

KEY_SEED_DOMAIN = b"jointbmd-ed25519-key/1"

# Reasons a message is refused, as counted by a receiver.
MALFORMED = "malformed"
UNKNOWN_SENDER = "unknown_sender"
BAD_SIGNATURE = "bad_signature"
REPLAY = "replay"
STALE = "stale"
FUTURE = "future"
REASONS = (MALFORMED, UNKNOWN_SENDER, BAD_SIGNATURE, REPLAY, STALE, FUTURE)


class Rejected(Exception):
    """A message refused for `reason` (one of `REASONS`), with a human `detail`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


def _check_file_name(name: str) -> str:
    # The rule for every name that names a file is jointbmd.outputs'; the schema applies it at
    # load, this is the last guard for names that did not come from a scenario.
    from jointbmd.outputs import component_problem

    problem = component_problem(name)
    if problem:
        raise ValueError(f"node name {name!r} cannot name a key file: it {problem}")
    return name


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generate_keys(names: Iterable[str], seed: int | None = None) -> dict[str, Ed25519PrivateKey]:
    """One Ed25519 private key per name: from the OS (``seed=None``) or derived from ``seed``."""
    keys = {}
    for name in names:
        if seed is None:
            keys[name] = Ed25519PrivateKey.generate()
        else:
            material = hashlib.sha256(
                KEY_SEED_DOMAIN + b"|" + str(int(seed)).encode() + b"|" + name.encode("utf-8")
            ).digest()
            keys[name] = Ed25519PrivateKey.from_private_bytes(material)
    return keys


def save_keys(private_keys: Mapping[str, Ed25519PrivateKey], directory: str | Path) -> None:
    """Write ``NAME.key.pem`` (private, mode 0600) and ``NAME.pub.pem`` for every partner."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, key in private_keys.items():
        _check_file_name(name)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = directory / f"{name}.key.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_pem)
        (directory / f"{name}.pub.pem").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Read an unencrypted PKCS#8 PEM Ed25519 private key."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


def node_keys(names: Iterable[str], directory: str | Path | None) -> dict[str, Ed25519PrivateKey]:
    """The private keys of a run's nodes: fresh ones (``directory`` None); or those in
    ``directory`` (``NAME.key.pem``), where a directory holding no key file at all is first
    filled with fresh keys, so that a run's ledgers can be checked later against ``--keys DIR``.
    A directory holding some keys but not all, public keys only, a public key that does not
    match its private key, or an unusable key file, is a user error (nothing is overwritten)."""
    names = list(names)
    if directory is None:
        return generate_keys(names)
    directory = Path(directory)
    where = str(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError("is not a directory", file=where, field="--keys")
    private = {n: directory / f"{_check_file_name(n)}.key.pem" for n in names}
    public = {n: directory / f"{_check_file_name(n)}.pub.pem" for n in names}
    if not any(p.exists() for p in (*private.values(), *public.values())):
        keys = generate_keys(names)
        try:
            save_keys(keys, directory)
        except OSError as error:
            raise UserError(
                f"cannot write keys: {error.strerror}", file=where, field="--keys"
            ) from None
        return keys
    missing = [n for n in names if not private[n].exists()]
    if missing:
        raise UserError(
            f"no private key {missing[0]}.key.pem (this directory's keys are kept, not replaced)",
            file=where,
            field="--keys",
        )
    keys = {}
    for name in names:
        try:
            keys[name] = load_private_key(private[name])
        except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UserError(
                f"not a usable unencrypted Ed25519 private key: {reason}", file=str(private[name])
            ) from None
        if public[name].exists():
            try:
                published = raw_public_bytes(load_public_key(public[name]))
            except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
                published = b""
            if published != raw_public_bytes(keys[name].public_key()):
                raise UserError("does not match the private key beside it", file=str(public[name]))
    return keys


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """Read a PEM Ed25519 public key."""
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


class KeyRing:
    """The public keys of the partners a node trusts, by partner name."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey] | None = None) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._raw: dict[str, bytes] = {}
        for name, key in (keys or {}).items():
            self.add(name, key)

    @classmethod
    def from_private(cls, private_keys: Mapping[str, Ed25519PrivateKey]) -> KeyRing:
        return cls({name: key.public_key() for name, key in private_keys.items()})

    @classmethod
    def from_hex(cls, keys: Mapping[str, str]) -> KeyRing:
        """From raw 32-byte public keys written as hex (the ledger header's form)."""
        return cls(
            {name: Ed25519PublicKey.from_public_bytes(bytes.fromhex(h)) for name, h in keys.items()}
        )

    @classmethod
    def load(cls, directory: str | Path) -> KeyRing:
        """Every ``NAME.pub.pem`` in a directory."""
        directory = Path(directory)
        suffix = ".pub.pem"
        return cls(
            {
                path.name[: -len(suffix)]: load_public_key(path)
                for path in sorted(directory.glob(f"*{suffix}"))
            }
        )

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, key in self._keys.items():
            _check_file_name(name)
            (directory / f"{name}.pub.pem").write_bytes(
                key.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )

    def add(self, name: str, key: Ed25519PublicKey) -> None:
        if not isinstance(key, Ed25519PublicKey):
            raise TypeError(f"{name}: not an Ed25519 public key")
        self._keys[name] = key
        self._raw[name] = raw_public_bytes(key)

    def get(self, name: str) -> Ed25519PublicKey | None:
        return self._keys.get(name)

    def raw(self, name: str) -> bytes:
        """The raw 32 bytes of ``name``'s public key."""
        return self._raw[name]

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._keys))

    def __len__(self) -> int:
        return len(self._keys)

    def to_hex(self) -> dict[str, str]:
        """Partner name -> raw public key as hex, sorted by name."""
        return {name: raw_public_bytes(self._keys[name]).hex() for name in sorted(self._keys)}


class Signer:
    """A partner's signing end: numbers its messages 1, 2, 3, ... and signs them.

    ``sign(body, t_sent)`` returns a `SignedMessage`; send its ``wire`` bytes. The same message
    may be sent to several destinations (a broadcast is one message, one sequence number).
    """

    def __init__(self, name: str, private_key: Ed25519PrivateKey, first_seq: int = 1) -> None:
        self.name = name
        self._key = private_key
        self.next_seq = first_seq

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def sign_bytes(self, data: bytes) -> bytes:
        """A raw Ed25519 signature of ``data`` with this node's key (no envelope, no sequence
        number): for signing a ledger line. Callers prefix ``data`` with their own domain tag
        so that such a signature can never pass for a message signature."""
        return self._key.sign(data)

    def sign(self, body: Body, t_sent: float) -> SignedMessage:
        envelope = Envelope(self.name, self.next_seq, t_sent, body)
        payload = envelope.encode()
        self.next_seq += 1
        # These bytes are the canonical encoding of `envelope` by construction: receivers in this
        # process that get exactly these bytes skip re-parsing them (`messages.known_envelope`).
        remember_envelope(payload, envelope)
        return SignedMessage(envelope, payload, self._key.sign(payload))


# Signatures that verified, by (raw public key, signature, payload): the exact bytes and the exact
# key. Ed25519 verification is a pure function of these three, so when the same wire bytes reach
# several receivers (the fusion centre's picture goes to every partner) the signature is computed
# on only once. Each receiver still looks up the sender's key in its own key ring -- a different
# key is a different cache key -- and still runs its own time and replay checks. Only successful
# verifications are remembered; a bad signature is recomputed (and refused) every time. Bounded.
VERIFIED_MAX = 256
_VERIFIED: dict[tuple[bytes, bytes, bytes], None] = {}


def _verify(raw_key: bytes, key: Ed25519PublicKey, signature: bytes, payload: bytes) -> bool:
    """True if ``signature`` is ``key``'s Ed25519 signature of ``payload`` (raw_key: its bytes)."""
    entry = (raw_key, signature, payload)
    if entry in _VERIFIED:
        return True
    try:
        key.verify(signature, payload)
    except InvalidSignature:
        return False
    if len(_VERIFIED) >= VERIFIED_MAX:
        del _VERIFIED[next(iter(_VERIFIED))]
    _VERIFIED[entry] = None
    return True


def forget_verified() -> None:
    """Empty the memory of verified signatures (tests use it to force verification)."""
    _VERIFIED.clear()


def open_message(data: bytes, keyring: KeyRing) -> SignedMessage:
    """Check wire bytes: structure, known sender, signature. Return the message or raise
    `Rejected` (malformed, unknown_sender or bad_signature).

    The signature is checked before the body is interpreted; only the sender's name is read
    from the unauthenticated JSON first, to pick the key.

    Payload bytes already known to be the canonical encoding of an envelope (signed or decoded
    before in this process: `messages.known_envelope`) are not parsed again -- decoding is a pure
    function of the bytes, so the result is the same -- but the key lookup and the signature
    check run exactly as for any other message.
    """
    try:
        payload, signature = split_wire(data)
    except MalformedMessage as error:
        raise Rejected(MALFORMED, str(error)) from None
    known = known_envelope(payload)
    if known is not None:
        sender = known.sender
    else:
        try:
            obj = parse_json(payload)
            sender = peek_sender(obj)
        except MalformedMessage as error:
            raise Rejected(MALFORMED, str(error)) from None
    key = keyring.get(sender)
    if key is None:
        raise Rejected(UNKNOWN_SENDER, sender)
    raw_key = keyring.raw(sender) if isinstance(keyring, KeyRing) else raw_public_bytes(key)
    if not _verify(raw_key, key, signature, payload):
        raise Rejected(BAD_SIGNATURE, sender)
    if known is not None:
        return SignedMessage(known, payload, signature)
    try:
        envelope = envelope_from_json(obj, payload)
    except MalformedMessage as error:
        raise Rejected(MALFORMED, str(error)) from None
    return SignedMessage(envelope, payload, signature)
