"""The exchange runtime: nodes that sign, send, receive, check and record messages in time order.

In: the scenario (its partners, fusion centre and links), every node's Ed25519 private key, a
generator for the links, and the actions a stage schedules (``at(t, action)``). Out: accepted
messages handed to the stage's ``on_message(node, message, t)``, each node's ledger (written by
``finish``) and the rejections by reason.

A `Node` is one partner's node or the fusion centre's: it holds its own private key and only the
*public* keys of its peers, numbers and signs what it sends (from 1 within a stage), checks what
it receives with one acceptance rule (`Receiver`, with ``MAX_MESSAGE_AGE_S``) and records both
what it signed and what it accepted in its own ledger, in time order. An `Exchange` is the nodes
of one stage on the scenario's links, driven by a small discrete-event loop. Every stage that
exchanges messages -- the launch warning (``warning``), the picture's national tracks and fused
pictures (``picture``) and the decisions (``decide``) -- runs on it; none re-implements sending,
receiving or recording.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..exchange import KeyRing, Ledger, Link, Receiver, SignedMessage, Signer, SimulatedNetwork
from ..scenario.schema import DEFAULT_FUSION_CENTRE

#: Name of the fusion centre when the scenario does not name one (stated in the schema).
DEFAULT_CENTRE = DEFAULT_FUSION_CENTRE

#: The one acceptance rule's time window: a node refuses a message sent more than this long
#: before it arrived (``stale``). Links lose a message that is in flight while they are down
#: rather than hold it, so a message's age is its link delay (latency plus jitter); the window
#: bounds how far back anyone could replay a recorded message.
MAX_MESSAGE_AGE_S = 60.0


def centre_name(scenario) -> str:
    return scenario.fusion_centre.name if scenario.fusion_centre is not None else DEFAULT_CENTRE


def node_names(scenario) -> tuple[str, ...]:
    """Every node of the scenario: the partners in the scenario's order, then the centre."""
    return (*(p.name for p in scenario.partners), centre_name(scenario))


def ledger_paths_in(directory: str | Path, nodes) -> dict[str, Path]:
    """One ledger file per node in a directory: ``DIR/NODE.ledger``."""
    return {name: Path(directory) / f"{name}.ledger" for name in nodes}


def network_of(scenario, rng: np.random.Generator) -> SimulatedNetwork:
    """The scenario's links, both directions, with partner drop-outs applied as cuts."""
    links: dict[tuple[str, str], Link] = {}
    for spec in scenario.links:
        link = Link(
            latency_s=spec.latency_s,
            jitter_s=spec.jitter_s,
            loss_probability=spec.loss_probability,
            outages=tuple((o.start_s, o.end_s) for o in spec.outages),
        )
        links[(spec.a, spec.b)] = link
        links[(spec.b, spec.a)] = link
    network = SimulatedNetwork(links, rng)
    for event in scenario.events:
        if event.kind == "partner-drops-out":
            network.cut(event.partner, event.time_s)
    return network


class Node:
    """One node (a partner's or the fusion centre's): its own private key, its peers' public
    keys, its numbered signatures, its receiver and its record.

    ``sign`` numbers and signs a body and records it; ``receive`` checks wire bytes with the one
    acceptance rule and records what it accepts; ``write_ledger`` writes the record, in time
    order, to the node's hash-chained ledger, signed and sealed with the node's key. The node
    never sees another node's private key, so a ledger proves what its owner signed and accepted.
    """

    def __init__(self, name: str, private_key, peers: KeyRing) -> None:
        if name not in peers:
            raise ValueError(f"the key ring of node {name!r} must hold its own public key")
        self.name = name
        self.keyring = peers
        self._signer = Signer(name, private_key)
        self.receiver = Receiver(name, peers, max_age_s=MAX_MESSAGE_AGE_S, keep=False)
        # (time, order, message): signed or accepted, written to the ledger sorted by time (a
        # stage may run in several passes, e.g. decisions and then kill assessments).
        self.record: list[tuple[float, int, SignedMessage]] = []
        self._order = itertools.count()

    def sign(self, body, t: float) -> SignedMessage:
        """Number and sign ``body`` as sent at ``t``; record it."""
        message = self._signer.sign(body, float(t))
        self.receiver.record_own(message, float(t))
        self.record.append((float(t), next(self._order), message))
        return message

    def receive(self, data: bytes, t: float) -> SignedMessage | None:
        """Check wire bytes arriving at ``t``; the accepted message (recorded), or None."""
        message = self.receiver.receive(data, t)
        if message is not None:
            self.record.append((float(t), next(self._order), message))
        return message

    @property
    def rejections(self) -> dict[str, int]:
        return self.receiver.rejections

    @property
    def accepted_count(self) -> int:
        return self.receiver.accepted_count

    def write_ledger(self, path: str | Path, meta: Mapping[str, object] | None = None) -> Path:
        """Write everything the node signed or accepted, in time order, to its ledger at
        ``path``, each line signed by the node and the whole sealed."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ledger = Ledger(path, self.name, self.keyring, meta=dict(meta or {}), signer=self._signer)
        for t, _, message in sorted(self.record, key=lambda row: row[:2]):
            ledger.append(message, t)
        ledger.close()
        return path


class Exchange:
    """The nodes of one stage (the launch warning, the picture, one arrangement's decisions) on
    the scenario's links, all in time order.

    A small discrete-event loop: ``at(t, action)`` schedules an action (a node sending a
    message); ``run()`` takes the next scheduled action or the next delivery, whichever comes
    first (an action first at equal times), and hands each *accepted* message to
    ``on_message(node, message, t)``. Nothing a node does depends on a message it rejected.

    ``keys`` maps every node to its private key; each `Node` is given only its own (and every
    node's public key). ``ledgers`` is a directory (``DIR/NODE.ledger``) or a mapping node ->
    file; None writes no ledgers.
    """

    def __init__(
        self,
        scenario,
        keys: Mapping,
        rng: np.random.Generator,
        ledgers: str | Path | Mapping[str, str | Path] | None,
        ledger_meta: Mapping[str, object] | None = None,
    ) -> None:
        self.centre = centre_name(scenario)
        self.partners = tuple(p.name for p in scenario.partners)
        names = (*self.partners, self.centre)
        ring = KeyRing.from_private({name: keys[name] for name in names})
        self.nodes = {name: Node(name, keys[name], ring) for name in names}
        self.network = network_of(scenario, rng)
        if ledgers is None or isinstance(ledgers, Mapping):
            self.ledger_paths = {n: Path(p) for n, p in (ledgers or {}).items()}
        else:
            self.ledger_paths = ledger_paths_in(ledgers, names)
        self.ledger_meta = dict(ledger_meta or {})
        self.on_message: Callable[[str, SignedMessage, float], None] = lambda *_: None
        self._queue: list[tuple[float, int, Callable[[float], None]]] = []
        self._order = itertools.count()
        self.messages_sent = 0  # copies handed to the links

    def linked(self, a: str, b: str) -> bool:
        return (a, b) in self.network.links

    def at(self, t: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._queue, (float(t), next(self._order), action))

    def send(self, sender: str, body, t: float, to) -> SignedMessage:
        """``sender`` signs ``body`` at ``t`` (recorded in its ledger) and sends the same bytes
        to each node of ``to`` it has a link to, in that order (each send draws the link's loss
        and jitter)."""
        message = self.nodes[sender].sign(body, t)
        self.forward(sender, message, t, to)
        return message

    def forward(self, node: str, message: SignedMessage, t: float, to) -> None:
        """Relay a message unchanged (its signer's signature travels with it) from ``node`` to
        the nodes ``to`` that ``node`` has links to."""
        for destination in to:
            if self.linked(node, destination):
                self.network.send(node, destination, message.wire, float(t))
                self.messages_sent += 1

    def deliver(self, node: str, t: float) -> list[SignedMessage]:
        """Hand ``node`` everything that has reached it by ``t``, now, in arrival order: each
        accepted message goes to ``on_message`` and is returned."""
        accepted = []
        for delivery in self.network.deliver(node, t):
            message = self.nodes[node].receive(delivery.data, delivery.t_arrival)
            if message is not None:
                accepted.append(message)
                self.on_message(node, message, delivery.t_arrival)
        return accepted

    def run(self, until: float = np.inf) -> None:
        """Run actions and deliveries in time order up to ``until`` (bounded: a stage ends)."""
        while True:
            t_action = self._queue[0][0] if self._queue else np.inf
            node, t_delivery = self._next_delivery()
            t_next = min(t_action, t_delivery)
            if not np.isfinite(t_next) or t_next > until:
                return
            if t_action <= t_delivery:
                t, _, action = heapq.heappop(self._queue)
                action(t)
                continue
            self.deliver(node, t_delivery)

    def _next_delivery(self) -> tuple[str, float]:
        best, t_best = "", np.inf
        for node in self.nodes:
            t = self.network.next_arrival(node)
            if t is not None and t < t_best:
                best, t_best = node, t
        return best, t_best

    def finish(self) -> dict[str, int]:
        """Write each node's ledger (when asked for); rejections by reason over every node."""
        for name, path in self.ledger_paths.items():
            self.nodes[name].write_ledger(path, self.ledger_meta)
        rejected: dict[str, int] = {}
        for node in self.nodes.values():
            for reason, count in node.rejections.items():
                rejected[reason] = rejected.get(reason, 0) + count
        return rejected

    @property
    def accepted_count(self) -> int:
        return sum(node.accepted_count for node in self.nodes.values())

    def max_delay_s(self) -> float:
        """The longest a message can take on any link."""
        return max((link.max_delay_s for link in self.network.links.values()), default=0.0)
