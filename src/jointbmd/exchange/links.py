"""Moving message bytes between nodes: the `Transport` interface and a simulated network.

In: bytes handed to ``send(source, destination, data, t)``. Out: ``deliver(destination, t)``
returns the `Delivery` objects due at that destination by time ``t``, in arrival order. Senders
and receivers see only bytes and this interface, so a real network transport (UDP, TCP, a message
queue between separate partner processes) can replace the simulated one without changing them.
A transport makes no promise about integrity or authenticity: the claimed ``source`` of a
delivery is not to be trusted; the signature inside the bytes is.

Simulated link model (`Link`, one per direction source -> destination):

    delay = latency_s + U,  U ~ Uniform[0, jitter_s)

Uniform jitter is bounded, so ``latency_s + jitter_s`` is a hard upper bound on the delay that a
receiver's acceptance window can be set from. A message is lost with probability
``loss_probability``, independently of the others (Bernoulli loss), and is lost whenever the link
is in an outage at any moment between sending and arrival (windows ``[start, end)``): a message
sent during an outage never leaves, and one in flight when the link goes down never arrives.
Jitter may reorder messages; messages that arrive at the same instant come out by source name,
then in the order they were sent on their link.

Random numbers. Every directed link has its own generator, derived from the network's
``SeedSequence`` and the two node names (`link_generator`), and takes two uniform draws from it
per message sent on it, whether or not the message is lost. So a message's fate depends only on
the messages sent before it *on its own link*, never on the order in which different nodes sent
theirs: a sender in another process can draw its own messages' fates (the live run) and get the
numbers of a single-process run.

Tracing. Inside ``with tracing() as trace:`` every `SimulatedNetwork` created appends one
`MessageRecord` per message sent (its bytes, send and arrival times and whether a link lost it)
to ``trace``; the viewer draws a replication's messages from it. Tracing draws no random numbers
and changes nothing a node sees.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import math
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Delivery:
    """Bytes arriving at ``destination`` at ``t_arrival`` (claimed ``source``, sent at
    ``t_sent``)."""

    t_arrival: float
    source: str
    destination: str
    data: bytes
    t_sent: float


@dataclass(frozen=True)
class MessageRecord:
    """One message handed to a simulated link: ``fate`` is ``delivered``, ``lost_random`` or
    ``lost_outage``; ``t_arrival`` is when it arrives (or would have, when lost)."""

    source: str
    destination: str
    t_sent: float
    t_arrival: float
    fate: str
    data: bytes


_TRACE: contextvars.ContextVar[list[MessageRecord] | None] = contextvars.ContextVar(
    "jointbmd_message_trace", default=None
)


@contextlib.contextmanager
def tracing() -> Iterator[list[MessageRecord]]:
    """Record every message sent on the simulated networks created inside the block."""
    trace: list[MessageRecord] = []
    token = _TRACE.set(trace)
    try:
        yield trace
    finally:
        _TRACE.reset(token)


class Transport(ABC):
    """Carries bytes between named nodes."""

    @abstractmethod
    def send(self, source: str, destination: str, data: bytes, t: float) -> None:
        """Hand ``data`` to the transport at time ``t`` (s) for ``destination``."""

    @abstractmethod
    def deliver(self, destination: str, t: float) -> list[Delivery]:
        """Everything due at ``destination`` by time ``t``, in arrival order, removed from the
        transport."""

    def broadcast(self, source: str, destinations: Iterable[str], data: bytes, t: float) -> None:
        """Send the same bytes to several destinations."""
        for destination in destinations:
            self.send(source, destination, data, t)


class NoLink(KeyError):
    """A message sent where no link exists."""


@dataclass(frozen=True)
class Link:
    """One direction of a link: latency (s), jitter (s), loss probability, outage windows."""

    latency_s: float = 0.0
    jitter_s: float = 0.0
    loss_probability: float = 0.0
    outages: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.latency_s) and self.latency_s >= 0):
            raise ValueError("latency_s must be finite and >= 0")
        if not (math.isfinite(self.jitter_s) and self.jitter_s >= 0):
            raise ValueError("jitter_s must be finite and >= 0")
        if not 0.0 <= self.loss_probability <= 1.0:
            raise ValueError("loss_probability must lie in [0, 1]")
        outages = tuple((float(a), float(b)) for a, b in self.outages)
        if any(not a < b for a, b in outages):
            raise ValueError("an outage window must have start < end")
        object.__setattr__(self, "outages", outages)

    @property
    def max_delay_s(self) -> float:
        return self.latency_s + self.jitter_s

    def down_between(self, t0: float, t1: float) -> bool:
        """True if an outage window ``[start, end)`` overlaps ``[t0, t1]``."""
        return any(start <= t1 and t0 < end for start, end in self.outages)

    def with_outage(self, start: float, end: float = math.inf) -> Link:
        return replace(self, outages=(*self.outages, (start, end)))


def link_generator(seeds: np.random.SeedSequence, source: str, destination: str):
    """The generator of the directed link ``source -> destination`` of a network seeded by
    ``seeds``: ``seeds``'s spawn key extended by the CRC-32 of each name."""
    key = (*seeds.spawn_key, zlib.crc32(source.encode()), zlib.crc32(destination.encode()))
    return np.random.default_rng(np.random.SeedSequence(seeds.entropy, spawn_key=key))


def as_seed_sequence(rng: np.random.Generator | np.random.SeedSequence) -> np.random.SeedSequence:
    """A network's seeds: a ``SeedSequence`` as given, or one drawn from a generator."""
    if isinstance(rng, np.random.SeedSequence):
        return rng
    return np.random.SeedSequence(int(rng.integers(0, 2**63 - 1)))


class SimulatedNetwork(Transport):
    """An in-process network of one-directional `Link`s, each with its own generator.

    ``links`` maps ``(source, destination)`` to a `Link`; ``rng`` seeds the links' generators
    (a ``SeedSequence``, or a generator from which one is drawn). Use `star` for the usual
    layout of partners around a fusion centre. A subclass may carry delivered messages
    elsewhere by overriding `_enqueue` (the live run's network sends them to another process).
    """

    def __init__(
        self,
        links: Mapping[tuple[str, str], Link],
        rng: np.random.Generator | np.random.SeedSequence,
    ) -> None:
        self.links: dict[tuple[str, str], Link] = dict(links)
        self.seeds = as_seed_sequence(rng)
        self._rngs: dict[tuple[str, str], np.random.Generator] = {}
        self._queues: dict[str, list[tuple[float, str, int, Delivery]]] = {}
        self._sent_on: dict[tuple[str, str], int] = {}
        self.counts: dict[tuple[str, str], dict[str, int]] = {
            pair: _zero_counts() for pair in self.links
        }
        self.trace = _TRACE.get()

    @classmethod
    def star(
        cls,
        centre: str,
        partners: Iterable[str],
        rng: np.random.Generator,
        uplink: Link | Mapping[str, Link] = Link(),
        downlink: Link | Mapping[str, Link] | None = None,
    ) -> SimulatedNetwork:
        """Links partner -> centre (``uplink``) and centre -> partner (``downlink``, by default
        the same as the uplink), one `Link` for all or a mapping by partner."""
        downlink = uplink if downlink is None else downlink
        links = {}
        for partner in partners:
            links[(partner, centre)] = uplink if isinstance(uplink, Link) else uplink[partner]
            links[(centre, partner)] = downlink if isinstance(downlink, Link) else downlink[partner]
        return cls(links, rng)

    def cut(self, node: str, t_from: float, t_until: float = math.inf) -> None:
        """Take every link to and from ``node`` down from ``t_from`` (a partner dropping out)."""
        for pair, link in self.links.items():
            if node in pair:
                self.links[pair] = link.with_outage(t_from, t_until)

    def send(self, source: str, destination: str, data: bytes, t: float) -> None:
        link = self.links.get((source, destination))
        if link is None:
            raise NoLink(f"no link {source} -> {destination}")
        pair = (source, destination)
        counts = self.counts[pair]
        counts["sent"] += 1
        rng = self._rngs.get(pair)
        if rng is None:
            rng = self._rngs[pair] = link_generator(self.seeds, source, destination)
        u_loss, u_jitter = rng.random(2)
        t_arrival = t + link.latency_s + link.jitter_s * u_jitter
        fate = "delivered"
        if link.down_between(t, t_arrival):
            fate = "lost_outage"
        elif u_loss < link.loss_probability:
            fate = "lost_random"
        if self.trace is not None:
            self.trace.append(
                MessageRecord(source, destination, float(t), float(t_arrival), fate, bytes(data))
            )
        if fate != "delivered":
            counts[fate] += 1
            return
        self._sent_on[pair] = sequence = self._sent_on.get(pair, 0) + 1
        self._enqueue(
            Delivery(float(t_arrival), source, destination, bytes(data), float(t)), sequence
        )

    def _enqueue(self, delivery: Delivery, sequence: int) -> None:
        """Queue a message that will arrive (``sequence``: its number on its link, from 1)."""
        heapq.heappush(
            self._queues.setdefault(delivery.destination, []),
            (delivery.t_arrival, delivery.source, sequence, delivery),
        )

    def deliver(self, destination: str, t: float) -> list[Delivery]:
        queue = self._queues.get(destination, [])
        out = []
        while queue and queue[0][0] <= t:
            delivery = heapq.heappop(queue)[-1]
            counts = self.counts.setdefault((delivery.source, destination), _zero_counts())
            counts["delivered"] += 1
            out.append(delivery)
        return out

    def next_arrival(self, destination: str) -> float | None:
        """Arrival time of the next message waiting for ``destination``, if any."""
        queue = self._queues.get(destination)
        return queue[0][0] if queue else None

    def in_flight(self, destination: str | None = None) -> int:
        if destination is not None:
            return len(self._queues.get(destination, []))
        return sum(len(q) for q in self._queues.values())


def _zero_counts() -> dict[str, int]:
    return {"sent": 0, "delivered": 0, "lost_random": 0, "lost_outage": 0}
