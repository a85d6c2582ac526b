"""The exchange runtime: nodes that sign, send, receive, check and record messages in time order.

In: the scenario (its partners, fusion centre and links), every node's Ed25519 private key, a
generator for the links, and the actions a stage schedules (``at(t, action)``). Out: accepted
messages handed to the stage's ``on_message(node, message, t)``, each node's ledger (written by
``finish``) and the rejections by reason.

Used by the stages that exchange messages as events: the launch warning (``warning``) and the
decisions (``decide``). Every node signs with its own key, numbers its messages from 1 within
the stage, checks what it receives with its `Receiver`, and records what it signed and what it
accepted in its own ledger, in time order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..exchange import KeyRing, Ledger, Link, Receiver, SignedMessage, Signer, SimulatedNetwork
from ..scenario.schema import DEFAULT_FUSION_CENTRE

#: Name of the fusion centre when the scenario does not name one (stated in the schema).
DEFAULT_CENTRE = DEFAULT_FUSION_CENTRE


def centre_name(scenario) -> str:
    return scenario.fusion_centre.name if scenario.fusion_centre is not None else DEFAULT_CENTRE


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


class Exchange:
    """The messages of one stage (the launch warning, one arrangement's decisions): signed,
    carried over the scenario's links, checked by each node's receiver and recorded in its
    ledger, all in time order.

    A small discrete-event loop: ``at(t, action)`` schedules an action (sending a message);
    ``run()`` takes the next scheduled action or the next delivery, whichever comes first, and
    hands each *accepted* message to ``on_message(node, message, t)``. Nothing a node does
    depends on a message its receiver rejected.
    """

    def __init__(self, scenario, keys, rng, ledger_dir: str | Path | None, ledger_meta=None):
        self.centre = centre_name(scenario)
        self.nodes = (*(p.name for p in scenario.partners), self.centre)
        self.ring = KeyRing.from_private(keys)
        self.signers = {name: Signer(name, keys[name]) for name in self.nodes}
        self.network = network_of(scenario, rng)
        self.ledger_dir = ledger_dir
        self.ledger_meta = dict(ledger_meta or {})
        self.receivers = {name: Receiver(name, self.ring, max_age_s=3600.0) for name in self.nodes}
        # What each node signed or accepted, written to its ledger in time order at the end
        # (a stage may run in several passes, e.g. decisions and then kill assessments).
        self._record: list[tuple[float, int, str, SignedMessage]] = []
        self.on_message: Callable[[str, SignedMessage, float], None] = lambda *_: None
        self._queue: list[tuple[float, int, Callable[[float], None]]] = []
        self._order = itertools.count()
        self.messages_sent = 0  # copies handed to the links

    def linked(self, a: str, b: str) -> bool:
        return (a, b) in self.network.links

    def at(self, t: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._queue, (float(t), next(self._order), action))

    def send(self, sender: str, body, t: float, to) -> None:
        """Sign ``body`` at ``t``, record it in the sender's ledger and send it to ``to``."""
        message = self.signers[sender].sign(body, float(t))
        self.receivers[sender].record_own(message, float(t))
        self._record.append((float(t), next(self._order), sender, message))
        for destination in to:
            if self.linked(sender, destination):
                self.network.send(sender, destination, message.wire, float(t))
                self.messages_sent += 1

    def run(self) -> None:
        while True:
            t_action = self._queue[0][0] if self._queue else np.inf
            node, t_delivery = self._next_delivery()
            if not np.isfinite(min(t_action, t_delivery)):
                return
            if t_action <= t_delivery:
                t, _, action = heapq.heappop(self._queue)
                action(t)
                continue
            for delivery in self.network.deliver(node, t_delivery):
                message = self.receivers[node].receive(delivery.data, delivery.t_arrival)
                if message is not None:
                    self._record.append((delivery.t_arrival, next(self._order), node, message))
                    self.on_message(node, message, delivery.t_arrival)

    def _next_delivery(self) -> tuple[str, float]:
        best, t_best = "", np.inf
        for node in self.nodes:
            t = self.network.next_arrival(node)
            if t is not None and t < t_best:
                best, t_best = node, t
        return best, t_best

    def finish(self) -> dict[str, int]:
        """Write the ledgers (when asked for); rejections by reason over every node."""
        if self.ledger_dir is not None:
            Path(self.ledger_dir).mkdir(parents=True, exist_ok=True)
            ledgers = {
                name: Ledger(
                    Path(self.ledger_dir) / f"{name}.ledger",
                    name,
                    self.ring,
                    meta=self.ledger_meta,
                    signer=self.signers[name],
                )
                for name in self.nodes
            }
            for t, _, node, message in sorted(self._record, key=lambda row: row[:2]):
                ledgers[node].append(message, t)
            for ledger in ledgers.values():
                ledger.close()
        rejected: dict[str, int] = {}
        for receiver in self.receivers.values():
            for reason, count in receiver.rejections.items():
                rejected[reason] = rejected.get(reason, 0) + count
        return rejected

    def forward(self, node: str, message: SignedMessage, t: float, to) -> None:
        """Relay a message ``node`` accepted, unchanged (its sender's signature travels with
        it), to the nodes ``to`` that ``node`` has links to."""
        for destination in to:
            if self.linked(node, destination):
                self.network.send(node, destination, message.wire, float(t))
                self.messages_sent += 1

    def max_delay_s(self) -> float:
        """The longest a message can take on any link."""
        return max((link.max_delay_s for link in self.network.links.values()), default=0.0)
