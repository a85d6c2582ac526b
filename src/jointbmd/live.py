"""A live run: every node (each partner's, the fusion centre's) its own process on the network.

In: a scenario, its arrangement(s), a seed and a replication index. Out: the same
``ReplicationResult`` records as ``simulation.run_arrangements`` for that replication (the
same numbers: tested), each node's ledger written by that node, and which nodes departed.

Processes. ``jointbmd node`` (`serve_node`) is one node: it holds only its own private key
(``KEYS/NAME.key.pem``, made by the node itself when absent; its public key goes beside it as
``NAME.pub.pem``) and its peers' public keys, binds a ZeroMQ ``ROUTER`` socket where its peers
send to it, and connects one ``DEALER`` to each peer and one to the world. ``jointbmd live``
(`live_run`) is the world: it starts one node process per node on 127.0.0.1, holds the truth,
the sensing, the national trackers' output, the flyouts and the scoring -- never a private key --
and keeps the time. For every stage of the replication (launch warning, picture, each
arrangement's decisions and kill assessments) it sends each node its `runtime.Role` and runs
the stage with the nodes in their own processes; the roles, the event order and the link draws
are those of a batch run (``simulation.runtime``), so the outcomes are the batch outcomes.

Wire. Between nodes, one ZeroMQ message per copy of a signed message: ``[envelope, wire]``,
``wire`` the batch run's bytes (RFC 8785 payload and Ed25519 signature, docs/ledger.md) and
``envelope`` a small JSON object ``{"stage", "seq", "t_sent", "t_arrival"}`` -- the stage it
belongs to, its number on its link, and the simulated send and arrival times, drawn by the
sender from its link's own generator. Nothing in the envelope is trusted: the receiving node's
`Receiver` checks the signature, the sender, replays and the age exactly as in a batch run. A
frame that comes from no peer, or does not fit the stage's traffic (a test adversary's forgery
or replay), is checked at the node's current simulated time and counted when rejected.

Time: conservative synchronisation (docs/live.md). The world grants "run everything due by t"
to one node at a time, in the batch run's order (`runtime.advance_together`): after each
grant the node reports the time of its next event and the arrivals it put on its links, so
the world always knows every node's next event. A grant also says how many frames the node
must have received from each peer first, so no frame is still in a socket when its time comes.
Every wait has a wall-clock deadline.

Faults. A node process that dies (SIGKILL) is a partner dropping out: the world notes the last
simulated time it heard from it (``departed``), stops granting to it and stops expecting its
frames; the other nodes go on and the run completes. Its ledger, written line by line, verifies
up to its last line (``ledger verify --allow-unsealed``). A peer that never connects: the node
exits with status 2 after ``connect_timeout`` with one line naming the peer and its address, and
the world stops the others and reports it.

The control channel (world <-> node) carries pickled roles and results between processes the
world started itself on the same machine; it is the simulation's instrumentation, not part of
the modelled exchange, and is never exposed beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError
from .exchange import Delivery, KeyRing, SimulatedNetwork
from .exchange.links import as_seed_sequence
from .exchange.signing import load_private_key, load_public_key, save_keys
from .simulation.runtime import (
    Node,
    NodeContext,
    Role,
    StageRun,
    add_rejections,
    advance_together,
    links_of,
    node_names,
    stage_ledger_paths,
)

#: Seconds a node waits for its peers' hellos (and for their public keys) before giving up.
CONNECT_TIMEOUT_S = 20.0
#: Seconds the world waits for a node's answer to one command before treating it as gone.
NODE_TIMEOUT_S = 60.0
#: Seconds a node waits for the frames a grant says it must hold before running anyway.
FRAME_TIMEOUT_S = 10.0
#: Poll interval of every wait (s): how soon a death or a message is noticed.
POLL_S = 0.05
#: Wall-clock bound (s) on one stage of a live run.
STAGE_TIMEOUT_S = 1800.0
#: The environment variable through which the world gives each node process the run's secret
#: token: a node's hello must carry it before the world reads anything else from it.
TOKEN_VARIABLE = "JOINTBMD_LIVE_TOKEN"


# --------------------------------------------------------------------------------------------
# The node's side
# --------------------------------------------------------------------------------------------


class LiveNetwork(SimulatedNetwork):
    """One node's share of a stage's network: its outgoing links draw each message's fate from
    the link's own generator (as in a batch run) and a delivered message goes to the
    destination's process (``transmit``); frames from peers are queued here by arrival."""

    def __init__(self, links, seeds, transmit: Callable[[Delivery, int], None]) -> None:
        super().__init__(links, seeds)
        self.transmit = transmit
        self.transmitted: list[tuple[str, float]] = []  # (destination, arrival) since asked

    def _enqueue(self, delivery: Delivery, sequence: int) -> None:
        self.transmit(delivery, sequence)
        self.transmitted.append((delivery.destination, delivery.t_arrival))

    def arrive(self, delivery: Delivery, sequence: int) -> None:
        """A frame from a peer: queue it for its arrival time."""
        super()._enqueue(delivery, sequence)

    def take_transmitted(self) -> list[tuple[str, float]]:
        out, self.transmitted = self.transmitted, []
        return out


def _parse_envelope(data: bytes) -> tuple[str, int, float, float] | None:
    """``(stage, seq, t_sent, t_arrival)`` of a frame's envelope, or None when it is not one
    (any exception of any input is caught: a peer's bytes must not stop a node)."""
    try:
        raw = json.loads(data)
        stage, seq = raw["stage"], raw["seq"]
        t_sent, t_arrival = float(raw["t_sent"]), float(raw["t_arrival"])
    except Exception:  # noqa: BLE001 -- anything wrong with the bytes is the same refusal
        return None
    if not (isinstance(stage, str) and isinstance(seq, int) and 1 <= seq < 2**53):
        return None
    if not (np.isfinite(t_sent) and np.isfinite(t_arrival)):
        return None
    return stage, seq, t_sent, t_arrival


def fits_link(link, t_sent: float, t_arrival: float, now: float) -> bool:
    """Whether a frame's times fit its link: a delay within the link's latency and jitter, no
    outage on the way, not arriving before ``now`` (the receiver's time). The sender draws its
    messages' fates; a dishonest sender could still ignore a random loss, nothing more."""
    if t_arrival < now:
        return False
    delay = t_arrival - t_sent
    slack = 1e-9 * max(1.0, abs(t_arrival))
    if not link.latency_s - slack <= delay <= link.max_delay_s + slack:
        return False
    return not link.down_between(t_sent, t_arrival)


def _send(sock, *frames: bytes) -> None:
    sock.send_multipart(list(frames))


def _control(obj) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def ensure_node_key(keys_dir: Path, name: str, public_dir: Path | None = None):
    """The node's own private key from ``KEYS/NAME.key.pem``; made when absent, with its
    public key ``NAME.pub.pem`` in ``public_dir`` (default ``KEYS``), each written atomically
    so that a peer never reads half a file."""
    public_dir = keys_dir if public_dir is None else public_dir
    private = keys_dir / f"{name}.key.pem"
    if not private.exists():
        from .exchange import generate_keys

        with tempfile.TemporaryDirectory(dir=keys_dir, prefix=f".{name}-") as scratch:
            save_keys(generate_keys([name]), scratch)
            os.replace(Path(scratch) / f"{name}.key.pem", private)
            os.replace(Path(scratch) / f"{name}.pub.pem", public_dir / f"{name}.pub.pem")
    elif not (public_dir / f"{name}.pub.pem").exists():
        raise UserError(f"no public key {name}.pub.pem beside it", file=str(public_dir))
    try:
        return load_private_key(private)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the node's key: {error}", file=str(private)) from None


def _public_ring(keys_dir: Path, names: Sequence[str], deadline: float) -> KeyRing:
    """Every node's public key (``KEYS/NAME.pub.pem``), waiting for peers still making theirs."""
    ring = KeyRing()
    for name in names:
        path = keys_dir / f"{name}.pub.pem"
        while not path.exists():
            if time.monotonic() > deadline:
                raise UserError(f"no public key of node {name!r} appeared", file=str(path))
            time.sleep(POLL_S)
        ring.add(name, load_public_key(path))
    return ring


class _NodeServer:
    """One node process's loop: frames from peers, commands from the world."""

    def __init__(self, scenario, name, keys_dir, public_dir, listen, peers, world,
                 connect_timeout):  # fmt: skip
        import zmq

        from .scenario import scenario_hash

        self.zmq = zmq
        self.scenario = scenario
        self.hash = scenario_hash(scenario)
        self.name = name
        self.peers = dict(peers)
        links = links_of(scenario)
        self.links = {pair: link for pair, link in links.items() if pair[0] == name}
        self.incoming = {pair[0]: link for pair, link in links.items() if pair[1] == name}
        deadline = time.monotonic() + connect_timeout
        key = ensure_node_key(keys_dir, name, public_dir)
        ring = _public_ring(public_dir, node_names(scenario), deadline)
        self.node = Node(name, key, ring)
        self.context = zmq.Context.instance()
        self.inbox = self.context.socket(zmq.ROUTER)
        self.inbox.linger = 0
        try:
            self.inbox.bind(listen)
        except zmq.ZMQError as error:
            raise UserError(f"cannot listen on {listen}: {error}", field="--listen") from None
        self.out = {}
        for peer, address in self.peers.items():
            sock = self.context.socket(zmq.DEALER)
            sock.setsockopt(zmq.IDENTITY, name.encode())
            sock.linger = 0
            sock.sndhwm = 100_000
            sock.connect(address)
            self.out[peer] = sock
        self.world = self.context.socket(zmq.DEALER)
        self.world.setsockopt(zmq.IDENTITY, name.encode())
        self.world.linger = 1000
        self.world.connect(world)
        self.stage: str | None = None
        self.ctx: NodeContext | None = None
        self.received: dict[str, int] = {}
        self.now = -np.inf
        self.injected: list[bytes] = []
        self.finished: set[str] = set()
        self._connect(deadline)

    def _connect(self, deadline: float) -> None:
        """Say hello to every peer and wait for every peer's hello (bounded)."""
        for sock in self.out.values():
            _send(sock, b"hello", b"")
        waiting = set(self.peers)
        while waiting:
            if time.monotonic() > deadline:
                peer = sorted(waiting)[0]
                raise UserError(
                    f"node {self.name}: peer {peer} at {self.peers[peer]} never connected",
                    field="--peer",
                )
            if self.inbox.poll(int(POLL_S * 1000)):
                frames = self.inbox.recv_multipart()
                sender = frames[0].decode(errors="replace")
                if len(frames) == 3 and frames[1] == b"hello" and sender in waiting:
                    waiting.discard(sender)
                elif len(frames) == 3 and frames[1] != b"hello":
                    self._frame(frames)
        _send(self.world, b"hello", os.environ.get(TOKEN_VARIABLE, "").encode(),
              str(os.getpid()).encode())  # fmt: skip

    def _frame(self, frames: list[bytes]) -> None:
        """One frame on the inbox: a peer's message of the current stage, else a stray (a
        test adversary's), checked at the node's current time. A peer's frame whose envelope is
        not one, or breaks its link's model, is refused (``malformed``) and goes no further."""
        sender = frames[0].decode(errors="replace")
        if len(frames) == 3 and frames[1] == b"hello":
            return
        if len(frames) != 3 or sender not in self.peers:
            self.injected.append(frames[-1])
            return
        envelope = _parse_envelope(frames[1])
        if envelope is not None and envelope[0] in self.finished:
            return  # arrives after its stage ended (beyond its window): a batch run drops it too
        if envelope is None or envelope[0] != self.stage or self.ctx is None:
            self.injected.append(frames[-1])
            return
        _, seq, t_sent, t_arrival = envelope
        if not self._fits_link(sender, t_sent, t_arrival):
            self.node.receiver.refuse("malformed")
            return
        delivery = Delivery(t_arrival, sender, self.name, frames[2], t_sent)
        self.ctx.network.arrive(delivery, seq)
        self.received[sender] = self.received.get(sender, 0) + 1

    def _fits_link(self, sender: str, t_sent: float, t_arrival: float) -> bool:
        link = self.incoming.get(sender)
        return link is not None and fits_link(link, t_sent, t_arrival, self.now)

    def _check_injected(self) -> None:
        """Check the stray frames at the node's current time (its latest grant in this stage:
        never earlier than anything in its ledger); a frame that passes is acted on like any."""
        if self.ctx is None or not np.isfinite(self.now):
            return
        strays, self.injected = self.injected, []
        for data in strays:
            message = self.node.receive(data, self.now)
            if message is not None:
                self.ctx.role.on_message(self.ctx, message, self.now)

    def _transmit(self, delivery: Delivery, sequence: int) -> None:
        envelope = json.dumps(
            {"stage": self.stage, "seq": sequence, "t_sent": delivery.t_sent,
             "t_arrival": delivery.t_arrival},
            separators=(",", ":"),
        ).encode()  # fmt: skip
        with contextlib.suppress(self.zmq.Again):  # a dead peer's queue is full: lost
            self.out[delivery.destination].send_multipart(
                [envelope, delivery.data], flags=self.zmq.NOBLOCK
            )

    def serve(self) -> None:
        poller = self.zmq.Poller()
        poller.register(self.inbox, self.zmq.POLLIN)
        poller.register(self.world, self.zmq.POLLIN)
        last_heard = time.monotonic()
        while True:
            ready = dict(poller.poll(int(POLL_S * 1000)))
            if self.inbox in ready:
                self._frame(self.inbox.recv_multipart())
            if self.world in ready:
                last_heard = time.monotonic()
                if not self._command(pickle.loads(self.world.recv())):
                    return
            elif time.monotonic() - last_heard > NODE_TIMEOUT_S * 2:
                raise UserError(f"node {self.name}: the world fell silent", field="--world")

    def _command(self, command) -> bool:
        kind = command[0]
        if kind == "stage":
            _, stage, role, seeds, ledger, meta, until = command
            if meta.get("scenario_hash", self.hash) != self.hash:
                raise UserError(
                    f"node {self.name}: the world runs scenario {meta['scenario_hash'][:12]}..., "
                    f"this node loaded {self.hash[:12]}...",
                    field="SCENARIO",
                )
            self.stage, self.received, self.now = stage, {}, -np.inf
            network = LiveNetwork(self.links, seeds, self._transmit)
            self.ctx = NodeContext(self.node, role, network, until)
            self._before = self.node.counts()
            if ledger is not None:
                self.node.open_ledger(ledger, meta)
            role.start(self.ctx)
            self._reply("ready")
        elif kind == "run":
            _, stage, t, expected = command
            self._await_frames(expected)
            self.ctx.run_until(t)
            self.now = max(self.now, t)
            self._check_injected()
            self._reply("done")
        elif kind == "end":
            self._check_injected()
            self.node.close_ledger()
            accepted, rejected = self.node.counts_since(self._before)
            result = self.ctx.role.result()
            _send(self.world, _control(("result", self.stage, result, accepted, rejected,
                                        self.ctx.messages_sent)))  # fmt: skip
            self.finished.add(self.stage)
            self.ctx, self.stage = None, None
        elif kind == "departed":
            # A partner dropped out: this node learns it now (its latest grant).
            if self.ctx is None:  # between stages: the next stage's role is told
                _send(self.world, _control(("done", self.stage, np.inf, [])))
            elif np.isfinite(self.now):
                self.ctx.role.on_departed(self.ctx, command[1], self.now)
                self._reply("done")
            else:  # the stage has not run yet here: gone before it began
                self.ctx.role.on_departed(None, command[1], -np.inf)
                self._reply("done")
        elif kind == "stop":
            _send(self.world, _control(("stopped", self.name)))
            return False
        return True

    def _await_frames(self, expected: Mapping[str, int]) -> None:
        deadline = time.monotonic() + FRAME_TIMEOUT_S
        while any(self.received.get(src, 0) < n for src, n in expected.items()):
            if time.monotonic() > deadline:
                # A peer died with frames unsent: go on without them, and say so.
                missing = {s: n - self.received.get(s, 0) for s, n in expected.items()}
                sys.stderr.write(f"node {self.name}: frames never came: {missing}\n")
                return
            if self.inbox.poll(int(POLL_S * 1000)):
                self._frame(self.inbox.recv_multipart())

    def _reply(self, kind: str) -> None:
        _send(self.world, _control((kind, self.stage, self.ctx.next_time(),
                                    self.ctx.network.take_transmitted())))  # fmt: skip

    def close(self) -> None:
        self.node.close_ledger()
        self.context.destroy(linger=0)


def serve_node(
    scenario,
    name: str,
    keys_dir: str | Path,
    listen: str,
    peers: Mapping[str, str],
    world: str,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    public_dir: str | Path | None = None,
) -> None:
    """Run one node until the world says stop (``jointbmd node``; module docstring).
    ``keys_dir`` holds the node's own private key (made when absent), ``public_dir`` (default
    ``keys_dir``) every node's public key."""
    names = node_names(scenario)
    if name not in names:
        raise UserError(f"not a node of the scenario ({', '.join(names)})", field="--as")
    for peer in peers:
        if peer not in names or peer == name:
            raise UserError(f"{peer!r} is not another node of the scenario", field="--peer")
    keys_dir = Path(keys_dir)
    keys_dir.mkdir(parents=True, exist_ok=True)
    public_dir = keys_dir if public_dir is None else Path(public_dir)
    public_dir.mkdir(parents=True, exist_ok=True)
    server = _NodeServer(scenario, name, keys_dir, public_dir, listen, peers, world,
                         connect_timeout)  # fmt: skip
    try:
        server.serve()
    finally:
        server.close()


# --------------------------------------------------------------------------------------------
# The world's side
# --------------------------------------------------------------------------------------------


class NodeGone(Exception):
    """A node process died or stopped answering."""


@dataclass
class _Proxy:
    """The world's view of one node process in a stage: its next event and what it must
    have received before its next grant (`runtime.advance_together` drives it)."""

    name: str
    world: _World
    reported: float = np.inf
    pending: list[float] = field(default_factory=list)
    until: float = np.inf

    def next_time(self) -> float:
        if self.name in self.world.departed:
            return np.inf
        return min([self.reported, *(p for p in self.pending if p <= self.until)])

    def run_until(self, t: float) -> None:
        expected = {
            src: n
            for src, n in self.world.expected[self.name].items()
            if src not in self.world.departed
        }
        reply = self.world.ask(self.name, ("run", self.world.stage, float(t), expected))
        if reply is not None:
            self.world.last_time[self.name] = float(t)
            self.world.absorb(self.name, reply)


class _World:
    """The world process's sockets and its node processes."""

    def __init__(self, scenario, processes: Mapping[str, subprocess.Popen], socket_, timeout,
                 last_line: Callable[[str], str] = lambda name: "") -> None:  # fmt: skip
        self.scenario = scenario
        self.last_line = last_line
        self.processes = dict(processes)
        self.socket = socket_
        self.timeout = timeout
        self.departed: dict[str, float] = {}
        self.last_time: dict[str, float] = {name: -np.inf for name in processes}
        self.stage = ""
        self.expected: dict[str, dict[str, int]] = {}
        self.proxies: dict[str, _Proxy] = {}

    def _depart(self, name: str) -> None:
        """A node is gone: note when it was last heard of, and tell every node still there
        (each role may act on it, `runtime.Role.on_departed`; what it then sends is absorbed)."""
        if name in self.departed:
            return
        self.departed[name] = self.last_time[name]
        with contextlib.suppress(ProcessLookupError):
            self.processes[name].kill()
        for other in self.processes:
            if other not in self.departed and other in self.proxies:
                reply = self.ask(other, ("departed", name))
                if reply is not None:  # frames announced to it may still be in its socket
                    self.absorb(other, reply, keep_pending=True)

    def ask(self, name: str, command):
        """Send a command to a node and wait for its reply (None: the node is gone). Only a
        two-part frame from that node's connection is read; a node that exits with an error
        (not killed) fails the run with its own last line."""
        if name in self.departed:
            return None
        self.socket.send_multipart([name.encode(), _control(command)])
        deadline = time.monotonic() + self.timeout
        while time.monotonic() <= deadline:
            if self.socket.poll(int(POLL_S * 1000)):
                frames = self.socket.recv_multipart()
                if len(frames) == 2 and frames[0] == name.encode():
                    return pickle.loads(frames[1])  # from the node this process started
                continue  # a stray, or a late reply of a node already given up on
            code = self.processes[name].poll()
            if code is not None:
                if code not in (-signal.SIGKILL, -signal.SIGTERM):
                    raise UserError(
                        f"node {name} failed (exit {code}): {self.last_line(name)}", field="live"
                    )
                break
        self._depart(name)
        return None

    def absorb(self, name: str, reply, keep_pending: bool = False) -> None:
        """A node's ``ready``/``done``: its next event, and the frames it sent. After a grant
        the node holds every frame announced to it, so what it reports replaces ``pending``;
        after a notice (``keep_pending``) it may not yet."""
        _, _, next_time, transmitted = reply
        proxy = self.proxies[name]
        proxy.reported = next_time
        if not keep_pending:
            proxy.pending = []
        for destination, t_arrival in transmitted:
            if destination in self.departed or destination not in self.proxies:
                continue
            box = self.expected[destination]
            box[name] = box.get(name, 0) + 1
            self.proxies[destination].pending.append(t_arrival)


class LiveRunner:
    """Runs each stage's roles in the node processes (the `runtime.LocalRunner` interface)."""

    def __init__(self, world: _World) -> None:
        self.world = world
        self.scenario = world.scenario
        self._stages = 0

    def run(
        self,
        roles: Mapping[str, Role],
        seeds,
        ledgers=None,
        ledger_meta=None,
        until: float = np.inf,
    ) -> StageRun:
        world = self.world
        self._stages += 1
        world.stage = stage = f"s{self._stages}"
        names = node_names(self.scenario)
        paths = stage_ledger_paths(ledgers, names)
        world.expected = {name: {} for name in names}
        world.proxies = {name: _Proxy(name, world, until=until) for name in names}
        seeds = as_seed_sequence(seeds)
        for name in names:
            role = roles.get(name) or Role()
            for gone in world.departed:
                role.on_departed(None, gone, -np.inf)  # gone before this stage began
            path = str(paths[name]) if name in paths else None
            command = ("stage", stage, role, seeds, path, dict(ledger_meta or {}), until)
            reply = world.ask(name, command)
            if reply is not None:
                world.absorb(name, reply)
        stop = time.monotonic() + STAGE_TIMEOUT_S

        def in_time() -> None:
            if time.monotonic() > stop:
                raise UserError(f"a stage ran beyond {STAGE_TIMEOUT_S:.0f} s", field="live")

        advance_together([world.proxies[name] for name in names], in_time)
        results, rejected, sent, accepted = {}, [], 0, 0
        for name in names:
            reply = world.ask(name, ("end", stage))
            if reply is None:
                results[name] = (roles.get(name) or Role()).result()  # nothing came back
                continue
            _, _, result, n_accepted, n_rejected, n_sent = reply
            results[name] = result
            rejected.append(n_rejected)
            sent += n_sent
            accepted += n_accepted
        return StageRun(results, add_rejections(*rejected), sent, accepted,
                        tuple(str(p) for p in paths.values()))  # fmt: skip


def free_ports(n: int) -> list[int]:
    """``n`` TCP ports on 127.0.0.1 free at the moment of asking."""
    sockets, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


@dataclass(frozen=True)
class LiveRun:
    """A live run's results (as ``run_arrangements``'s), its wall time, the nodes that
    departed (name -> last simulated time heard) and where each node listened."""

    results: list
    seconds: float
    departed: Mapping[str, float]
    addresses: Mapping[str, str]
    pids: Mapping[str, int]


def live_run(
    scenario,
    arrangements: str | Sequence[str] = "all",
    replication: int = 0,
    seed: int = 0,
    *,
    scenario_file: str | Path | None = None,
    keys_dir: str | Path | None = None,
    ledger_dir: str | Path | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    node_timeout: float = NODE_TIMEOUT_S,
    on_started: Callable[[Mapping[str, str], Mapping[str, int]], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> LiveRun:
    """Start every node as its own process on 127.0.0.1, play the world, and return the
    replication's results (module docstring). ``scenario_file`` is what the nodes load (default:
    the scenario written to a scratch file); ``keys_dir`` where each node keeps its own key
    (default: a fresh scratch directory, so fresh keys); ``on_started(addresses, pids)`` is
    called once every node is up (a test adversary uses it)."""
    import zmq

    from .simulation import run_arrangements

    started = time.perf_counter()
    names = node_names(scenario)
    links = links_of(scenario)
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jointbmd-live-")))
        if scenario_file is None:
            from .scenario.loader import scenario_to_yaml

            scenario_file = scratch / "scenario.yaml"
            scenario_file.write_text(scenario_to_yaml(scenario), encoding="utf-8")
        keys_dir = Path(keys_dir) if keys_dir is not None else scratch / "keys"
        (keys_dir / "public").mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        context = zmq.Context()
        stack.callback(context.destroy, 0)
        world_socket = context.socket(zmq.ROUTER)
        world_socket.linger = 0
        world_port = world_socket.bind_to_random_port("tcp://127.0.0.1")
        world_address = f"tcp://127.0.0.1:{world_port}"
        ports = free_ports(len(names))
        addresses = {
            name: f"tcp://127.0.0.1:{port}" for name, port in zip(names, ports, strict=True)
        }
        processes: dict[str, subprocess.Popen] = {}
        stderr_files = {}

        def stop_all() -> None:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes.values():
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()

        stack.callback(stop_all)
        for name in names:
            peers = [
                f"{peer}={addresses[peer]}"
                for peer in names
                if peer != name and ((name, peer) in links or (peer, name) in links)
            ]
            err = (scratch / f"{name}.stderr").open("wb")
            stack.callback(err.close)
            stderr_files[name] = scratch / f"{name}.stderr"
            private_dir = keys_dir / name  # this node's own; only public keys are shared
            private_dir.mkdir(mode=0o700, exist_ok=True)
            command = [
                sys.executable, "-m", "jointbmd", "node", str(scenario_file), "--as", name,
                "--keys", str(private_dir), "--public-keys", str(keys_dir / "public"),
                "--listen", addresses[name], "--world", world_address,
                "--connect-timeout", str(connect_timeout),
                *(arg for peer in peers for arg in ("--peer", peer)),
            ]  # fmt: skip
            environment = {**os.environ, TOKEN_VARIABLE: token}
            processes[name] = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=err, env=environment
            )
        pids = {name: p.pid for name, p in processes.items()}
        # Every node says hello, with the run's token, once its peers have (bounded); nothing
        # else is read from a connection before its hello.
        waiting = set(names)
        deadline = time.monotonic() + connect_timeout + 30.0
        while waiting:
            if world_socket.poll(int(POLL_S * 1000)):
                frames = world_socket.recv_multipart()
                sender = frames[0].decode(errors="replace")
                if len(frames) == 4 and frames[1] == b"hello" and frames[2] == token.encode():
                    if sender in waiting and frames[3] == str(pids[sender]).encode():
                        waiting.discard(sender)
                continue
            for name in sorted(waiting):
                if processes[name].poll() is not None:
                    raise UserError(_last_line(stderr_files[name]) or "exited", field=name)
            if time.monotonic() > deadline:
                raise UserError(f"nodes {', '.join(sorted(waiting))} never came up",
                                field="live")  # fmt: skip
        if log is not None:
            for name in names:
                log(f"node {name} (pid {pids[name]}) listening on {addresses[name]}")
        if on_started is not None:
            on_started(addresses, pids)
        world = _World(scenario, processes, world_socket, node_timeout,
                       lambda name: _last_line(stderr_files[name]))  # fmt: skip
        results = run_arrangements(
            scenario,
            arrangements,
            replication,
            seed,
            ledger_dir=ledger_dir,
            runner=LiveRunner(world),
        )
        for name in names:
            world.ask(name, ("stop",))
    return LiveRun(results, time.perf_counter() - started, dict(world.departed), addresses, pids)


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""
