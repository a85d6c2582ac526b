"""The receiving end of a node: verify, filter, count, record, hand on.

In: wire bytes with their arrival time (or a `Transport` to poll). Out: accepted `SignedMessage`
objects (returned, kept in ``accepted``, passed to ``on_accept`` and appended to the ledger if
one is attached) and ``rejections``, a count per reason. Bad input never raises.

Checks, in order (the first failure names the reason):

1. ``malformed``      -- not ``payload + 64-byte signature``, not canonical JSON of this version,
                         wrong types, shapes or non-finite numbers (the body is fully checked only
                         after the signature);
2. ``unknown_sender`` -- the sender has no key in the receiver's key ring;
3. ``bad_signature``  -- the Ed25519 signature does not verify with the sender's key;
4. ``stale``/``future`` -- the send time lies outside ``[t_receive - max_age_s,
                         t_receive + max_future_s]`` (``max_future_s`` allows clock offset);
5. ``replay``         -- this sender's sequence number was already accepted, or lies at or below
                         the sliding window's lower edge.

Replay protection accepts out-of-order delivery (jitter reorders messages): per sender the
receiver keeps the highest sequence number accepted, ``hi``, and the set of numbers accepted in
``(hi - replay_window, hi]``; a number is new if it is above ``hi`` or inside the window and not
in the set. This is the anti-replay window of IPsec (RFC 4303 §3.4.3). A message delayed past
``replay_window`` later messages of its sender is refused as a replay -- in practice the time
window refuses it first. The ``stale`` check bounds how far back anyone can replay anyway.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable

from .ledger import Ledger
from .links import Delivery, Transport
from .messages import SignedMessage
from .signing import FUTURE, REPLAY, STALE, KeyRing, Rejected, open_message


class Receiver:
    """Verifies and filters the messages arriving at node ``name``.

    Parameters
    ----------
    name: the receiving node (partner or fusion centre).
    keyring: public keys of the senders it accepts.
    max_age_s: oldest acceptable send time, relative to arrival (s).
    max_future_s: how far in the future a send time may be (clock offset allowance, s).
    replay_window: how many sequence numbers below the highest seen are still tracked.
    ledger: if given, every accepted message is appended to it.
    on_accept: if given, called with every accepted message.
    keep: keep accepted messages in ``accepted`` (for export and inspection).
    """

    def __init__(
        self,
        name: str,
        keyring: KeyRing,
        *,
        max_age_s: float = 60.0,
        max_future_s: float = 1.0,
        replay_window: int = 1024,
        ledger: Ledger | None = None,
        on_accept: Callable[[SignedMessage], None] | None = None,
        keep: bool = True,
    ) -> None:
        if max_age_s < 0 or max_future_s < 0 or replay_window < 1:
            raise ValueError("max_age_s, max_future_s >= 0 and replay_window >= 1 required")
        self.name = name
        self.keyring = keyring
        self.max_age_s = max_age_s
        self.max_future_s = max_future_s
        self.replay_window = replay_window
        self.ledger = ledger
        self.on_accept = on_accept
        self.keep = keep
        self.accepted: list[SignedMessage] = []
        self.accepted_count = 0
        self._rejections: Counter[str] = Counter()
        self._highest: dict[str, int] = {}
        self._seen: dict[str, set[int]] = {}

    @property
    def rejections(self) -> dict[str, int]:
        """Rejected messages by reason (only reasons that occurred)."""
        return dict(self._rejections)

    def check(self, data: bytes, t_receive: float) -> SignedMessage:
        """Run every check without recording anything; raise `Rejected` on failure. A receive
        time that is not a finite number is the caller's error (``ValueError``): without it no
        message's age can be judged, so none may be accepted."""
        try:
            finite = math.isfinite(t_receive)
        except TypeError:
            finite = False
        if not finite:
            raise ValueError(f"t_receive must be a finite time in seconds, got {t_receive!r}")
        message = open_message(data, self.keyring)
        age = t_receive - message.t_sent
        if age > self.max_age_s:
            raise Rejected(STALE, f"{message.sender} sent at {message.t_sent}, {age:.3g} s ago")
        if -age > self.max_future_s:
            raise Rejected(FUTURE, f"{message.sender} sent at {message.t_sent}, {-age:.3g} s ahead")
        if not self._is_new(message.sender, message.seq):
            raise Rejected(REPLAY, f"{message.sender} #{message.seq}")
        return message

    def receive(self, data: bytes, t_receive: float) -> SignedMessage | None:
        """Accept or reject one message arriving at ``t_receive``; None if rejected."""
        try:
            message = self.check(data, t_receive)
        except Rejected as rejection:
            self._rejections[rejection.reason] += 1
            return None
        self._remember(message.sender, message.seq)
        self.accepted_count += 1
        if self.keep:
            self.accepted.append(message)
        if self.ledger is not None:
            self.ledger.append(message, t_receive)
        if self.on_accept is not None:
            self.on_accept(message)
        return message

    def refuse(self, reason: str) -> None:
        """Count bytes refused before they reached `receive` (a transport that could not even
        frame them, e.g. a live run's envelope that is not one): ``malformed`` and the like."""
        self._rejections[reason] += 1

    def record_own(self, message: SignedMessage, t: float) -> None:
        """Record a message this node signed itself (its vote, order...): append it to the
        ledger and mark its number as seen, so that an echo of it later counts as a replay
        instead of being written twice."""
        self._remember(message.sender, message.seq)
        if self.ledger is not None:
            self.ledger.append(message, t)

    def receive_all(self, deliveries: Iterable[Delivery]) -> list[SignedMessage]:
        """Receive deliveries, each at its arrival time; return the accepted messages."""
        out = []
        for delivery in deliveries:
            message = self.receive(delivery.data, delivery.t_arrival)
            if message is not None:
                out.append(message)
        return out

    def poll(self, transport: Transport, t: float) -> list[SignedMessage]:
        """Take everything due for this node by ``t`` from a transport and receive it."""
        return self.receive_all(transport.deliver(self.name, t))

    def _is_new(self, sender: str, seq: int) -> bool:
        highest = self._highest.get(sender, 0)
        if seq > highest:
            return True
        return seq > highest - self.replay_window and seq not in self._seen[sender]

    def _remember(self, sender: str, seq: int) -> None:
        seen = self._seen.setdefault(sender, set())
        seen.add(seq)
        highest = max(self._highest.get(sender, 0), seq)
        self._highest[sender] = highest
        if len(seen) > 2 * self.replay_window:
            floor = highest - self.replay_window
            self._seen[sender] = {s for s in seen if s > floor}
