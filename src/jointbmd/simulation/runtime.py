"""The exchange runtime: nodes that sign, send, receive, check and record messages in time order.

In: the scenario (its partners, fusion centre and links), the nodes' keys, the seeds of a
stage's links and one `Role` per node -- that node's part of the stage. Out: a `StageRun`: each
role's result, the rejections by reason, the message counts and the ledger files (each node's
own, written line by line as it signs and accepts).

A `Node` is one partner's node or the fusion centre's: it holds its own private key and only the
*public* keys of its peers, numbers and signs what it sends (from 1, across a run), checks what
it receives with one acceptance rule (`Receiver`, with ``MAX_MESSAGE_AGE_S``) and records both
what it signed and what it accepted in its own ledger, in time order.

A `Role` is what one node does in one stage: ``start`` schedules its first actions,
``on_message`` reacts to each message its node accepted, ``result`` is what it hands back to
the world when the stage ends (the world -- truth, sensing, scoring -- is not a node and holds
no key). A role sees only its `NodeContext`: its own node, its own clock (``at``), ``send`` and
``forward`` over its node's links and ``deliver`` of what has reached it. Every stage that
exchanges messages -- the launch warning (``warning``), the picture's track batches and fused
pictures (``picture``), the decisions and the kill assessments (``decide``) -- is written as
roles, so the same roles run in one process (`LocalRunner`, batch runs) or each in its own
node's process (``jointbmd.live``), and neither re-implements sending, receiving or recording.

Event order (the same in one process and across processes, hence the same numbers): a node
runs its own events in time order -- at equal times its scheduled actions (in the order they
were scheduled) before its deliveries (by arrival time, then source, then order on the link).
The nodes advance together: the next time is the earliest event of any node; every node with
an event then runs everything it has due by then, in the scenario's node order (partners, then
the centre), again until no node has anything due by then (a message on a zero-latency link
arrives at once). Each link's loss and jitter come from its own generator (``exchange.links``),
so the order in which *different* nodes send does not change any message's fate.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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


def links_of(scenario) -> dict[tuple[str, str], Link]:
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
    for event in scenario.events:
        if event.kind == "partner-drops-out":
            for pair, link in links.items():
                if event.partner in pair:
                    links[pair] = link.with_outage(event.time_s, math.inf)
    return links


def network_of(scenario, seeds: np.random.SeedSequence | np.random.Generator) -> SimulatedNetwork:
    """The scenario's links (`links_of`) as one in-process network seeded by ``seeds``."""
    return SimulatedNetwork(links_of(scenario), seeds)


def max_delay_s(scenario) -> float:
    """The longest a message can take on any of the scenario's links."""
    return max((link.max_delay_s for link in links_of(scenario).values()), default=0.0)


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
        # (time, order, message): signed or accepted, in the order it happened.
        self.record: list[tuple[float, int, SignedMessage]] = []
        self._order = itertools.count()
        self._ledger: Ledger | None = None

    def open_ledger(self, path: str | Path, meta: Mapping[str, object] | None = None) -> Path:
        """From now on write every message signed or accepted to the node's hash-chained
        ledger at ``path``, line by line as it happens (what a node killed mid-run wrote
        verifies up to its last line); `close_ledger` seals it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._ledger = Ledger(path, self.name, self.keyring, meta=dict(meta or {}),
                              signer=self._signer)  # fmt: skip
        return path

    def close_ledger(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def _keep(self, t: float, message: SignedMessage) -> None:
        self.record.append((t, next(self._order), message))
        if self._ledger is not None:
            self._ledger.append(message, t)

    def sign(self, body, t: float) -> SignedMessage:
        """Number and sign ``body`` as sent at ``t``; record it."""
        message = self._signer.sign(body, float(t))
        self.receiver.record_own(message, float(t))
        self._keep(float(t), message)
        return message

    def receive(self, data: bytes, t: float) -> SignedMessage | None:
        """Check wire bytes arriving at ``t``; the accepted message (recorded), or None."""
        message = self.receiver.receive(data, t)
        if message is not None:
            self._keep(float(t), message)
        return message

    @property
    def rejections(self) -> dict[str, int]:
        return self.receiver.rejections

    def counts(self) -> tuple[int, dict[str, int]]:
        """(messages accepted, rejections by reason) so far."""
        return self.receiver.accepted_count, self.receiver.rejections

    def counts_since(self, before: tuple[int, dict[str, int]]) -> tuple[int, dict[str, int]]:
        """What `counts` gained since ``before`` (one stage's share)."""
        accepted, rejected = self.counts()
        gained = {r: n - before[1].get(r, 0) for r, n in rejected.items()}
        return accepted - before[0], {r: n for r, n in gained.items() if n}

    @property
    def accepted_count(self) -> int:
        return self.receiver.accepted_count

    def write_ledger(self, path: str | Path, meta: Mapping[str, object] | None = None) -> Path:
        """Write everything the node has signed or accepted so far, in time order, to a sealed
        ledger at ``path`` (for a node driven by hand; a stage's nodes stream theirs)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ledger = Ledger(path, self.name, self.keyring, meta=dict(meta or {}), signer=self._signer)
        for t, _, message in sorted(self.record, key=lambda row: row[:2]):
            ledger.append(message, t)
        ledger.close()
        return path


class Role:
    """One node's part of one stage (see the module docstring). Subclasses store their inputs
    in the constructor and keep what they learn for ``result``; a role holds no key and no
    truth, and must be picklable (a live run sends it to its node's process)."""

    def start(self, node: NodeContext) -> None:
        """Schedule the node's first actions (``node.at``)."""

    def on_message(self, node: NodeContext, message: SignedMessage, t: float) -> None:
        """React to a message the node accepted at ``t``."""

    def on_departed(self, node: NodeContext | None, name: str, t: float) -> None:
        """Node ``name`` has dropped out, learnt at ``t`` (a live run's node killed; ``node``
        None and ``t`` -inf: before the stage began). Scenario drop-outs are inputs instead."""

    def result(self) -> object:
        """What the node hands back to the world when the stage ends."""
        return None


class NodeContext:
    """What a role sees of its node in one stage: ``at`` (its clock), ``send``/``forward``
    (over its links), ``deliver`` (what has reached it), and its event queue.

    ``network`` carries the node's messages: the stage's shared in-process network, or a live
    node's own (``jointbmd.live``); only ``send``, ``deliver``, ``next_arrival`` and ``links``
    of it are used.
    """

    def __init__(self, node: Node, role: Role, network, until: float = np.inf) -> None:
        self.node = node
        self.name = node.name
        self.role = role
        self.network = network
        self.until = float(until)
        self._queue: list[tuple[float, int, Callable, tuple]] = []
        self._order = itertools.count()
        self.messages_sent = 0  # copies handed to the links

    def linked(self, destination: str) -> bool:
        return (self.name, destination) in self.network.links

    def at(self, t: float, action: Callable, *args) -> None:
        """Run ``action(t, *args)`` at simulated time ``t``."""
        heapq.heappush(self._queue, (float(t), next(self._order), action, args))

    def send(self, body, t: float, to: Sequence[str]) -> SignedMessage:
        """Sign ``body`` at ``t`` (recorded in the node's ledger) and send the same bytes to
        each node of ``to`` it has a link to, in that order."""
        message = self.node.sign(body, t)
        self.forward(message, t, to)
        return message

    def forward(self, message: SignedMessage, t: float, to: Sequence[str]) -> None:
        """Relay a message unchanged (its signer's signature travels with it)."""
        for destination in to:
            if self.linked(destination):
                self.network.send(self.name, destination, message.wire, float(t))
                self.messages_sent += 1

    def deliver(self, t: float) -> list[SignedMessage]:
        """Take in everything that has reached the node by ``t``, in arrival order: each
        accepted message goes to the role's ``on_message`` and is returned."""
        accepted = []
        for delivery in self.network.deliver(self.name, t):
            message = self.node.receive(delivery.data, delivery.t_arrival)
            if message is not None:
                accepted.append(message)
                self.role.on_message(self, message, delivery.t_arrival)
        return accepted

    def next_time(self) -> float:
        """The time of the node's next event (inf: none, or none before the stage ends)."""
        t_action = self._queue[0][0] if self._queue else np.inf
        t_arrival = self.network.next_arrival(self.name)
        t = min(t_action, np.inf if t_arrival is None else t_arrival)
        return t if t <= self.until else np.inf

    def run_until(self, t: float) -> None:
        """Run every event of the node due by ``t``: actions before deliveries at equal times."""
        while True:
            t_action = self._queue[0][0] if self._queue else np.inf
            t_arrival = self.network.next_arrival(self.name)
            t_arrival = np.inf if t_arrival is None else t_arrival
            t_next = min(t_action, t_arrival)
            if t_next > t or t_next > self.until:
                return
            if t_action <= t_arrival:
                t_event, _, action, args = heapq.heappop(self._queue)
                action(t_event, *args)
            else:
                self.deliver(t_arrival)


def advance_together(nodes: Sequence, deadline_check: Callable[[], None] | None = None) -> None:
    """The nodes advance together (module docstring): each item has ``next_time()`` and
    ``run_until(t)`` -- a `NodeContext` here, a node process's proxy in a live run."""
    while True:
        t = min((node.next_time() for node in nodes), default=np.inf)
        if not np.isfinite(t):
            return
        for node in nodes:
            if node.next_time() <= t:
                node.run_until(t)
        if deadline_check is not None:
            deadline_check()


@dataclass(frozen=True)
class StageRun:
    """One stage's run: each node's role result, rejections by reason over every node, the
    copies handed to the links and accepted, and the ledger files written."""

    results: Mapping[str, object]
    rejected: Mapping[str, int]
    messages_sent: int
    messages_accepted: int
    ledger_paths: tuple[str, ...] = ()


def add_rejections(*counts: Mapping[str, int]) -> dict[str, int]:
    """Rejections by reason, summed."""
    total: dict[str, int] = {}
    for count in counts:
        for reason, n in count.items():
            total[reason] = total.get(reason, 0) + n
    return total


class LocalRunner:
    """Runs stages' roles in this process: every node's key here, one shared network per stage.

    ``keys`` maps every node to its Ed25519 private key; each `Node` is given only its own
    (and every node's public key). A runner keeps its nodes from one stage to the next (one
    replication's stages), so each node numbers what it signs across the whole run and its
    receiver refuses a message replayed from an earlier stage. ``ledgers`` (per stage) is a
    directory (``DIR/NODE.ledger``) or a mapping node -> file; None writes no ledgers.
    """

    def __init__(self, scenario, keys: Mapping) -> None:
        self.scenario = scenario
        self.keys = dict(keys)
        names = node_names(scenario)
        ring = KeyRing.from_private({name: self.keys[name] for name in names})
        self.nodes = {name: Node(name, self.keys[name], ring) for name in names}

    def run(
        self,
        roles: Mapping[str, Role],
        seeds: np.random.SeedSequence | np.random.Generator,
        ledgers: str | Path | Mapping[str, str | Path] | None = None,
        ledger_meta: Mapping[str, object] | None = None,
        until: float = np.inf,
    ) -> StageRun:
        network = network_of(self.scenario, seeds)
        paths = stage_ledger_paths(ledgers, self.nodes)
        before = {name: node.counts() for name, node in self.nodes.items()}
        contexts = []
        for name, node in self.nodes.items():
            if name in paths:
                node.open_ledger(paths[name], ledger_meta)
            contexts.append(NodeContext(node, roles.get(name) or Role(), network, until))
        for context in contexts:
            context.role.start(context)
        try:
            advance_together(contexts)
        finally:
            for context in contexts:
                context.node.close_ledger()
        counts = [c.node.counts_since(before[c.name]) for c in contexts]
        return StageRun(
            {c.name: c.role.result() for c in contexts},
            add_rejections(*(rejected for _, rejected in counts)),
            sum(c.messages_sent for c in contexts),
            sum(accepted for accepted, _ in counts),
            tuple(str(p) for p in paths.values()),
        )


def stage_ledger_paths(
    ledgers: str | Path | Mapping[str, str | Path] | None, names
) -> dict[str, Path]:
    """A stage's ledger files by node: none, ``DIR/NODE.ledger``, or as mapped."""
    if ledgers is None:
        return {}
    if isinstance(ledgers, Mapping):
        return {n: Path(p) for n, p in ledgers.items()}
    return ledger_paths_in(ledgers, names)
