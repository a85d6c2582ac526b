"""Campaigns: a sweep of scenario fields x arrangements x replications, run and stored.

In: a validated ``Scenario`` (its ``campaign`` section, or flags, say how many replications,
which master seed and which sweep), a results ``Store`` and an executor. Out: every replication's
``ReplicationResult`` written to the store as it finishes, and the per (sweep point, arrangement)
aggregates read back from the store.

Tasks. The sweep is the cartesian product of each swept field's values (``Sweep.points``); each
product is a *sweep point*, whose scenario is the base scenario with those fields set. Points are
computed on demand from their index (``SweepPoints``, mixed radix), never all held at once, and
each swept path is stored in its canonical spelling (``jointbmd.scenario.paths.canonical_path``),
so two spellings of one field are one field (refused twice). A task is one replication index at one
point for the arrangements still missing there; it yields one ``ReplicationResult`` per
arrangement. With the real simulation a task calls ``run_arrangements`` once, so the arrangements
share the replication's truth and sensor picture (computed once, as they are equal by
construction); a plain replication function is called once per arrangement. Tasks are ordered
replication-major, so a campaign stopped part-way has every group at nearly the same count.

Randomness. Every task runs with the campaign's master seed and its replication index; the
simulation derives every generator from ``SeedSequence(seed, spawn_key=(replication, stream))``
(see ``jointbmd.simulation``): sensing, the picture's links and the kill draws are the same for
every arrangement and sweep point (common random numbers: differences between arrangements are
not drowned in sampling noise); each arrangement's decision links have a stream of their own.
The numbers do not depend on the executor, the worker count or the order in which tasks finish.

Limits, checked before anything is written (``plan_campaign``, ``check_points``): at most
``MAX_SWEEP_POINTS`` sweep points; a campaign of more than ``WORK_LIMIT`` replications (points x
arrangements x replications) is refused unless asked for (``allow_large``, ``--allow-large``); and
every sweep point's scenario must validate -- sweeps valid alone but not together (a minimum
altitude swept above the maximum) are refused with the point named. See docs/scenario.md.

Resume. A campaign is identified by its key: the hash of the scenario (without its campaign
section), the seed and the sweep. Running the same command again finds the campaign, asks the
store which (point, arrangement, replication) keys are done and runs only the rest. Asking for
more replications or another arrangement extends the same campaign.

Executors. ``InProcess`` runs tasks one by one in this process. ``DaskExecutor`` runs them on a
local cluster (``workers=N``: N single-threaded worker processes) or on an existing scheduler
(``scheduler="tcp://HOST:PORT"``). It keeps a bounded number of tasks in flight and submits a new
one as each finishes (``distributed.as_completed``), so the driver's memory does not grow with the
campaign size; only the driver writes the store. A task returns its results as the store's
columnar rows (``jointbmd.store.ResultRows``, built on the worker), so the driver's own work per
task is the store's three inserts and one commit (about 4 ms, plus about 2 ms of Dask, against
about 0.6 s of simulation for lisbon2010); a local cluster runs with ``LOCAL_CLUSTER_CONFIG``
(lighter Dask housekeeping). See ``docs/store.md``.

Aggregates (``aggregate``). Per (point, arrangement): the replication count, P(no leak) with a
95 % Wilson score interval (Wilson 1927; Agresti & Coull, Am. Stat. 52:119, 1998), the mean number
of leakers and of interceptors spent with Student-t 95 % intervals (the maths and its coverage
test live in ``jointbmd.analysis.statistics``), the mean shots per partner, and the mean time
from a threat's launch to its first firm track and to the first interceptor launched at it
(pooled over the threats that got one). Sums of counts are exact and float sums use
``math.fsum``, so the numbers do not depend on the order rows were written.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from jointbmd.analysis.statistics import mean_interval_from_sums, wilson_interval
from jointbmd.canonical import sha256_hex
from jointbmd.conventions import DEFAULT_SEED
from jointbmd.errors import UserError
from jointbmd.outcomes import ReplicationResult
from jointbmd.scenario import Scenario, scenario_hash, scenario_to_dict, validate_data
from jointbmd.scenario.loader import to_data
from jointbmd.scenario.paths import canonical_path, loc_of
from jointbmd.scenario.schema import MAX_REPLICATIONS
from jointbmd.store import ResultRows, Store, result_rows

ReplicationFunction = Callable[[Scenario, str, int, int], ReplicationResult]
BatchFunction = Callable[[Scenario, Sequence[str], int, int], list[ReplicationResult]]

DEFAULT_REPLICATIONS = 100
# A sweep's points are rows of the store and entries of its resume set: beyond this the sweep is a
# mistake (six ranges of 100 values are 10**12 points). A grid of 100,000 points is already a
# 316 x 316 map of two fields.
MAX_SWEEP_POINTS = 100_000
# Replications (points x arrangements x replications) a campaign runs without --allow-large: at
# about 0.1 s of one core per replication of a small scenario, a day of a 2-core machine is some
# 10**6; beyond it a typo is likelier than a plan.
WORK_LIMIT = 1_000_000


# ---------------------------------------------------------------------------------------------
# The plan: sweep points x arrangements x replications
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepAxis:
    """One swept field: its path in the scenario and the values it takes."""

    path: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Task:
    """One replication index at one sweep point, for some arrangements."""

    point: int
    replication: int
    arrangements: tuple[str, ...]

    def keys(self) -> list[tuple[int, str, int]]:
        """The store keys (point, arrangement, replication) this task fills."""
        return [(self.point, name, self.replication) for name in self.arrangements]


class SweepPoints(Sequence):
    """The cartesian product of the axes' values, point ``i`` computed from ``i`` (the first axis
    varies slowest, as in ``itertools.product``), so no point is built before it is needed."""

    def __init__(self, axes: Sequence[SweepAxis]) -> None:
        self._axes = tuple(axes)
        self._len = math.prod(len(a.values) for a in self._axes)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(index)
        point: dict[str, Any] = {}
        for axis in reversed(self._axes):
            index, digit = divmod(index, len(axis.values))
            point[axis.path] = axis.values[digit]
        return {axis.path: point[axis.path] for axis in self._axes}


@dataclass(frozen=True)
class CampaignPlan:
    """What a campaign runs. ``points[i]`` maps each swept path (canonical) to its value at
    point ``i``; ``points`` is lazy (``SweepPoints``)."""

    scenario_name: str
    scenario_hash: str
    seed: int
    replications: int
    arrangements: tuple[str, ...]
    sweep: tuple[SweepAxis, ...]
    points: SweepPoints | tuple[dict[str, Any], ...]
    threats: int = 0
    # An explicit design (``plan_points``): what made the points, e.g. a study; part of the key.
    design: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """The campaign's identity in the store: scenario, seed and sweep (not the replication
        count or the arrangements, which a later run may extend); for an explicit design, the
        design and its points instead of the sweep."""
        identity: dict[str, Any] = {
            "scenario_hash": self.scenario_hash,
            "seed": self.seed,
            "sweep": [{"path": a.path, "values": list(a.values)} for a in self.sweep],
        }
        if self.design is not None:
            identity["design"] = self.design
            identity["points"] = list(self.points)
        return sha256_hex(identity)

    @property
    def spec(self) -> dict[str, Any]:
        spec = {
            "scenario": self.scenario_name,
            "seed": self.seed,
            "replications": self.replications,
            "arrangements": list(self.arrangements),
            "sweep": [{"path": a.path, "values": list(a.values)} for a in self.sweep],
        }
        if self.design is not None:
            spec["design"] = self.design
        return spec

    @property
    def size(self) -> int:
        return len(self.points) * len(self.arrangements) * self.replications

    def tasks(self) -> Iterator[Task]:
        """Every task, replication-major (a generator: nothing is held in memory)."""
        for replication in range(self.replications):
            for point in range(len(self.points)):
                yield Task(point, replication, self.arrangements)


def with_campaign(
    scenario: Scenario, campaign: dict[str, Any], file: str | None = None
) -> Scenario:
    """The scenario with its ``campaign`` section replaced (e.g. from a campaign file), validated
    (sweep paths and values included); errors name ``file``."""
    data = scenario_to_dict(scenario)
    data["campaign"] = campaign
    return validate_data(data, file=file)


def load_campaign_file(path: str) -> dict[str, Any]:
    """The ``campaign`` mapping of a campaign file (``replications``, ``seed``, ``sweep``, at the
    top level or under ``campaign:``), read as strictly as a scenario file: the same size limit,
    UTF-8, duplicate keys refused, nesting bounded. Every error names the file (and the line)."""
    from pathlib import Path

    from jointbmd.scenario.loader import MAX_FILE_BYTES, decode_text, parse_yaml

    where = str(path)
    file = Path(path)
    try:
        if file.is_dir():
            raise UserError("is a directory, not a campaign file", file=where)
        with file.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UserError("no such file", file=where, field="--campaign-file") from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise UserError(f"cannot read: {reason}", file=where) from None
    if len(raw) > MAX_FILE_BYTES:
        raise UserError(f"file larger than {MAX_FILE_BYTES // 2**20} MiB", file=where)
    text = decode_text(raw, where)
    if not text.strip():
        raise UserError("empty file: a campaign file holds replications, seed, sweep", file=where)
    data, _ = parse_yaml(text, where)
    if isinstance(data, dict) and set(data) == {"campaign"}:
        data = data["campaign"]
    if not isinstance(data, dict):
        raise UserError(
            "a campaign file is a mapping: replications, seed, sweep (or campaign: {...})",
            file=where,
        )
    return data


def scenario_seed(scenario: Scenario) -> int:
    """The seed every command uses when ``--seed`` is not given: the scenario's ``campaign.seed``
    (``DEFAULT_SEED`` when it has no campaign section)."""
    section = scenario.campaign
    return section.seed if section is not None else DEFAULT_SEED


def plan_campaign(
    scenario: Scenario,
    *,
    replications: int | None = None,
    seed: int | None = None,
    arrangements: Sequence[str] | None = None,
    allow_large: bool = False,
    file: str | None = None,
) -> CampaignPlan:
    """The campaign a scenario asks for; flags (non-None arguments) override its ``campaign``.

    Refuses (``UserError``; sweep errors name ``file``) a sweep of more than
    ``MAX_SWEEP_POINTS`` points and, unless ``allow_large``, more than ``WORK_LIMIT``
    replications in all. Does not build the points' scenarios: ``check_points`` does."""
    section = scenario.campaign
    if replications is None:
        replications = section.replications if section is not None else DEFAULT_REPLICATIONS
    if seed is None:
        seed = scenario_seed(scenario)
    if not isinstance(replications, int) or not 1 <= replications <= MAX_REPLICATIONS:
        raise UserError(
            f"must be an integer in [1, {MAX_REPLICATIONS}], got {replications!r} "
            "(docs/scenario.md, Bounds)",
            field="--replications",
        )
    if not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise UserError(f"must be an integer in [0, 2**63), got {seed!r}", field="--seed")
    known = [a.name for a in scenario.arrangements]
    if arrangements is None:
        chosen = tuple(known)
    else:
        chosen = tuple(dict.fromkeys(arrangements))
        for name in chosen:
            if name not in known:
                raise UserError(
                    f"no arrangement {name!r} in scenario {scenario.name} "
                    f"(known: {', '.join(known)}, or 'all')",
                    field="--arrangement",
                )
    axes = _axes(scenario, file)
    points = SweepPoints(axes)
    if len(points) > MAX_SWEEP_POINTS:
        sizes = " x ".join(str(len(a.values)) for a in axes)
        raise UserError(
            f"{sizes} = {len(points)} sweep points; at most {MAX_SWEEP_POINTS} (docs/scenario.md)",
            file=file,
            field="campaign.sweep",
        )
    plan = CampaignPlan(
        scenario_name=scenario.name,
        scenario_hash=scenario_hash(scenario),
        seed=seed,
        replications=replications,
        arrangements=chosen,
        sweep=axes,
        points=points,
        threats=scenario.threat_count(),
    )
    if plan.size > WORK_LIMIT and not allow_large:
        raise UserError(
            f"{len(points)} sweep points x {len(chosen)} arrangements x {replications} "
            f"replications = {plan.size} replications of {plan.threats} missiles each, more than "
            f"{WORK_LIMIT} (days of computing); give --allow-large to run it",
            field="--replications",
        )
    return plan


def plan_points(
    scenario: Scenario,
    points: Sequence[dict[str, Any]],
    design: dict[str, Any],
    *,
    replications: int,
    seed: int,
    arrangements: Sequence[str] | None = None,
) -> CampaignPlan:
    """A campaign over an explicit list of points (a study's design) instead of a sweep.

    ``points[i]`` is what the store keeps for point ``i`` (JSON data naming its inputs); the
    caller builds each point's scenario (``run_plan``'s ``scenario_of``). ``design`` says what
    made the points; with the points it is the campaign's identity, so re-running the same
    design resumes it.
    """
    base = plan_campaign(
        scenario.model_copy(update={"campaign": None}),
        replications=replications,
        seed=seed,
        arrangements=arrangements,
    )
    return CampaignPlan(
        scenario_name=base.scenario_name,
        scenario_hash=base.scenario_hash,
        seed=base.seed,
        replications=base.replications,
        arrangements=base.arrangements,
        sweep=(),
        points=tuple(dict(p) for p in points),
        threats=base.threats,
        design=dict(design),
    )


def _axes(scenario: Scenario, file: str | None) -> tuple[SweepAxis, ...]:
    """The swept fields, each path in its canonical spelling; one field swept twice is refused
    (the schema refuses it too; this holds for scenarios built without it)."""
    section = scenario.campaign
    if section is None:
        return ()
    data = to_data(scenario.model_copy(update={"campaign": None}))
    axes: list[SweepAxis] = []
    for i, sweep in enumerate(section.sweep):
        where = f"campaign.sweep[{i}]"
        try:
            path = canonical_path(data, sweep.path)
        except UserError as error:
            raise UserError(error.reason, file=file, field=f"{where}.path") from None
        if path in (a.path for a in axes):
            raise UserError(f"{path} is swept twice", file=file, field=f"{where}.path")
        values = tuple(sweep.points())
        if not values:
            raise UserError("empty sweep", file=file, field=where)
        axes.append(SweepAxis(path, values))
    return tuple(axes)


class PointScenarios(Sequence):
    """The scenario of each sweep point, built (and validated) when asked for, the most recently
    used ``cache`` of them kept. Errors name ``file`` and the point."""

    def __init__(
        self, scenario: Scenario, plan: CampaignPlan, file: str | None = None, cache: int = 64
    ) -> None:
        self._base = to_data(scenario.model_copy(update={"campaign": None}))
        self._locs = {a.path: loc_of(self._base, a.path) for a in plan.sweep}
        self._points = plan.points
        self._file = file
        self._cache: OrderedDict[int, Scenario] = OrderedDict()
        self._size = cache

    def __len__(self) -> int:
        return len(self._points)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        scenario = self._build(index)
        self._cache[index] = scenario
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return scenario

    def _build(self, index: int) -> Scenario:
        values = self._points[index]
        data = copy.deepcopy(self._base)
        for path, value in values.items():
            *parents, last = self._locs[path]
            container = data
            for key in parents:
                container = container[key]
            container[last] = value
        try:
            return validate_data(data)
        except UserError as error:
            shown = ", ".join(f"{p} = {v!r}" for p, v in values.items())
            field = f" at {error.field}" if error.field else ""
            raise UserError(
                f"sweep point {index} ({shown}) is not a valid scenario{field}: {error.reason}",
                file=self._file,
                field="campaign.sweep",
            ) from None


def point_scenarios(
    scenario: Scenario, plan: CampaignPlan, file: str | None = None
) -> PointScenarios:
    """The scenario of each sweep point (the base scenario with the point's fields set), lazy."""
    return PointScenarios(scenario, plan, file)


def check_points(scenario: Scenario, plan: CampaignPlan, file: str | None = None) -> None:
    """Validate every sweep point's scenario (one at a time, none kept); the first invalid one
    raises ``UserError`` naming ``file``, the point and its values. Run before any write."""
    scenarios = PointScenarios(scenario, plan, file, cache=0)
    for index in range(len(scenarios)):
        scenarios._build(index)


# ---------------------------------------------------------------------------------------------
# Executors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runner:
    """What a task runs: a batch function (all of a task's arrangements in one call, sharing the
    replication's truth and picture) or a replication function (one call per arrangement).
    Plain data holding module-level functions, so it pickles by reference to Dask workers."""

    replication: ReplicationFunction | None = None
    batch: BatchFunction | None = None

    def __call__(
        self, scenario: Scenario, arrangements: Sequence[str], replication: int, seed: int
    ) -> list[ReplicationResult]:
        if self.batch is not None:
            return list(self.batch(scenario, list(arrangements), replication, seed))
        return [self.replication(scenario, name, replication, seed) for name in arrangements]


def default_runner() -> Runner:
    """``jointbmd.simulation.run_arrangements``, imported only when a campaign runs."""
    from jointbmd.simulation import run_arrangements

    return Runner(batch=run_arrangements)


def default_replication_function() -> ReplicationFunction:
    """``jointbmd.simulation.run_replication``, imported only when a campaign runs."""
    from jointbmd.simulation import run_replication

    return run_replication


def resolve_replication_function(spec: str) -> ReplicationFunction:
    """A replication function named ``module:attribute`` (for plug-ins and tests)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UserError(f"expected MODULE:FUNCTION, got {spec!r}", field="--replication-function")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise UserError(f"cannot load {spec!r}: {error}", field="--replication-function") from None
    return function


def execute_task(
    runner: Runner, scenario: Scenario, task: Task, seed: int
) -> tuple[Task, ResultRows]:
    """Run one task (on whatever process the executor chose) and return it with its results as
    the columnar rows the store inserts (built here, so the driver only writes them)."""
    results = runner(scenario, task.arrangements, task.replication, seed)
    got = [(r.arrangement, r.replication) for r in results]
    wanted = [(name, task.replication) for name in task.arrangements]
    if got != wanted:
        raise RuntimeError(f"replication function returned {got} for task {wanted}")
    return task, result_rows(results)


class InProcess:
    """Run the tasks one after another in this process."""

    name = "in-process"
    workers = 1

    def imap_unordered(
        self,
        function: Runner,
        scenarios: Sequence[Scenario],
        tasks: Iterable[Task],
        seed: int,
    ) -> Iterator[tuple[Task, ResultRows]]:
        for task in tasks:
            yield execute_task(function, scenarios[task.point], task, seed)

    def close(self) -> None:
        pass

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Dask settings for the local cluster this module starts (an existing cluster keeps its own).
# Measured (psutil CPU times of an idle 2-worker cluster over 8 s): with the defaults it burns
# about 7.5 % of a core in the driver and the workers (event-loop ticks every 20 ms, the
# statistical profiler sampling every task thread every 10 ms, system and memory monitors); with
# these, 1.7 %. Nothing here changes what a task computes.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "200ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
}


SHIPPED_POINTS = 256  # sweep points' scenarios kept on a Dask cluster at once


class DaskExecutor:
    """Run tasks on Dask: a local cluster of ``workers`` processes, or an existing ``scheduler``.

    At most ``window`` tasks are in flight (default: 4 per worker thread); each finished task is
    replaced by the next one, so memory stays flat however many tasks a campaign has. A task's
    results come back as ``ResultRows`` (three Arrow IPC byte strings built on the worker), so the
    driver spends its time only on the store's inserts.
    """

    def __init__(
        self,
        *,
        workers: int | None = None,
        scheduler: str | None = None,
        window: int | None = None,
    ) -> None:
        import logging

        import dask
        from distributed import Client, LocalCluster

        if (workers is None) == (scheduler is None):
            raise UserError("give one of --workers and --scheduler", field="--workers")
        self._cluster = None
        if workers is not None:
            check_workers(workers)
            # The nannies hand this configuration to the worker processes they start.
            with dask.config.set(LOCAL_CLUSTER_CONFIG):
                self._cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    # A free loopback port: the default 8787 clashes with any other cluster
                    # on the machine (a warning per run) and would listen on every interface.
                    dashboard_address="127.0.0.1:0",
                    silence_logs=logging.ERROR,
                )
                self._client = Client(self._cluster)
            self.name = f"dask-local-{workers}"
        else:
            _check_reachable(scheduler)
            try:
                self._client = Client(scheduler, timeout="15s")
            except (OSError, TimeoutError, ValueError, TypeError) as error:
                self._client = None
                raise UserError(
                    f"cannot reach the Dask scheduler at {scheduler!r}: {error}",
                    field="--scheduler",
                ) from None
            self.name = f"dask-scheduler {scheduler}"
        threads = sum(self._client.nthreads().values()) or 1
        self.workers = len(self._client.nthreads()) or 1
        self.window = window or max(4 * threads, 8)

    @property
    def client(self):
        """The ``distributed.Client`` (for benchmarks and diagnostics)."""
        return self._client

    def imap_unordered(
        self,
        function: Runner,
        scenarios: Sequence[Scenario],
        tasks: Iterable[Task],
        seed: int,
    ) -> Iterator[tuple[Task, ResultRows]]:
        from distributed import as_completed

        client = self._client
        # Each point's scenario is sent to every worker once while it is in use, not once per
        # task; at most SHIPPED_POINTS of them are kept on the cluster (the sweep is lazy).
        # hash=False: unique keys, so that a later campaign on the same client never races the
        # release of this one's copy of an identical scenario (a cancelled-future error).
        shipped: OrderedDict[int, Any] = OrderedDict()
        pending = iter(tasks)

        def scenario_future(point: int):
            if point in shipped:
                shipped.move_to_end(point)
            else:
                shipped[point] = client.scatter(scenarios[point], broadcast=True, hash=False)
                if len(shipped) > SHIPPED_POINTS:
                    shipped.popitem(last=False)  # running tasks keep their own reference
            return shipped[point]

        def submit(task: Task):
            return client.submit(
                execute_task, function, scenario_future(task.point), task, seed, pure=False
            )

        first = [submit(task) for task in itertools.islice(pending, self.window)]
        if not first:
            return
        flow = as_completed(first, with_results=True)
        for future, (task, result) in flow:
            future.release()
            following = next(pending, None)
            if following is not None:
                flow.add(submit(following))
            yield task, result

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_workers(workers: int) -> None:
    """``--workers``: 1 to the number of cores. A worker is a process of one thread; more of
    them than cores run no faster and each holds its own copy of the scenario's arrays."""
    cores = available_cores()
    if not 1 <= workers <= cores:
        raise UserError(
            f"must be between 1 and the {cores} cores of this machine, got {workers}",
            field="--workers",
        )


def _check_reachable(address: str) -> None:
    """Fail at once (rather than after the client's time-out) when nothing listens there."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError as error:  # a port out of range, a bad IPv6 literal
        raise UserError(f"bad address {address!r}: {error}", field="--scheduler") from None
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
        return  # other transports: let the client judge
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=5.0):
            pass
    except OSError as error:
        raise UserError(
            f"cannot reach the Dask scheduler at {address!r}: {error.strerror or error}",
            field="--scheduler",
        ) from None


def check_scheduler(address: str) -> None:
    """``--scheduler``: an address like tcp://HOST:PORT at which something listens."""
    if "://" not in address:
        raise UserError(
            f"expected an address like tcp://HOST:PORT, got {address!r}", field="--scheduler"
        )
    _check_reachable(address)


def make_executor(workers: int | None = None, scheduler: str | None = None):
    """The executor the flags ask for: in-process, a local Dask cluster, or a scheduler."""
    if workers is not None and scheduler is not None:
        raise UserError("give --workers or --scheduler, not both", field="--workers")
    if workers is None and scheduler is None:
        return InProcess()
    if scheduler is not None and "://" not in scheduler:
        raise UserError(
            f"expected an address like tcp://HOST:PORT, got {scheduler!r}", field="--scheduler"
        )
    return DaskExecutor(workers=workers, scheduler=scheduler)


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRun:
    """What one ``run_campaign`` call did."""

    campaign_id: int
    planned: int  # tasks in the plan
    already_done: int  # of those, found in the store
    ran: int  # run and stored by this call
    seconds: float
    executor: str

    @property
    def rate(self) -> float:
        return self.ran / self.seconds if self.seconds > 0 else math.nan


def run_campaign(
    scenario: Scenario,
    store: Store,
    *,
    replications: int | None = None,
    seed: int | None = None,
    arrangements: Sequence[str] | None = None,
    executor: Any = None,
    replication_function: ReplicationFunction | Runner | None = None,
    progress: bool = False,
    allow_large: bool = False,
    file: str | None = None,
) -> CampaignRun:
    """Run (or resume) the campaign ``scenario`` asks for, writing each replication to ``store``.

    ``executor``: ``InProcess()`` (default) or a ``DaskExecutor``. ``replication_function``:
    a function ``(scenario, arrangement, replication, seed) -> ReplicationResult`` or a
    ``Runner``; default ``Runner(batch=jointbmd.simulation.run_arrangements)``.
    ``progress``: draw a rich progress bar on stderr. ``allow_large``: run beyond
    ``WORK_LIMIT``. Every sweep point is validated before the store is written; errors name
    ``file``.
    """
    plan = plan_campaign(
        scenario,
        replications=replications,
        seed=seed,
        arrangements=arrangements,
        allow_large=allow_large,
        file=file,
    )
    check_points(scenario, plan, file)
    scenarios = point_scenarios(scenario, plan, file)
    return run_plan(
        scenario,
        plan,
        store,
        scenario_of=scenarios.__getitem__,
        chunk_points=max(1, len(scenarios)),
        executor=executor,
        replication_function=replication_function,
        progress=progress,
    )


def run_plan(
    scenario: Scenario,
    plan: CampaignPlan,
    store: Store,
    *,
    scenario_of: Callable[[int], Scenario],
    chunk_points: int = 16,
    executor: Any = None,
    replication_function: ReplicationFunction | Runner | None = None,
    progress: bool = False,
) -> CampaignRun:
    """Run (or resume) a planned campaign: ``scenario_of(i)`` builds point ``i``'s scenario.

    The points are run ``chunk_points`` at a time (every replication of a chunk's points, then the
    next chunk), so only one chunk's scenarios are held and shipped to the workers at once: the
    memory of a study stays flat in its number of design points. The numbers do not depend on
    the chunking (each task's draws depend on its seed and replication only).
    """
    if replication_function is None:
        runner = default_runner()
    elif isinstance(replication_function, Runner):
        runner = replication_function
    else:
        runner = Runner(replication=replication_function)
    campaign_id = store.ensure_campaign(
        campaign_key=plan.key,
        scenario_name=plan.scenario_name,
        scenario_hash=plan.scenario_hash,
        scenario=scenario_to_dict(scenario),
        seed=plan.seed,
        replications=plan.replications,
        arrangements=plan.arrangements,
        spec=plan.spec,
        points=plan.points,
    )
    done = store.done(campaign_id)

    def todo(start: int, stop: int) -> Iterator[Task]:
        """The missing tasks of points start..stop-1, numbered from ``start`` (a generator)."""
        for task in plan.tasks():
            if start <= task.point < stop and (
                missing := tuple(k[1] for k in task.keys() if k not in done)
            ):
                yield Task(task.point - start, task.replication, missing)

    already = sum(
        1
        for (point, arrangement, replication) in done
        if replication < plan.replications and arrangement in plan.arrangements
    )
    remaining = plan.size - already
    owned = executor is None
    executor = executor or InProcess()
    started = time.perf_counter()
    ran = 0
    bar = _Progress(remaining, plan.scenario_name) if progress and remaining else None
    try:
        for start in range(0, len(plan.points), chunk_points):
            stop = min(start + chunk_points, len(plan.points))
            first = next(todo(start, stop), None)
            if first is None:
                continue  # this chunk is done: do not build its scenarios
            scenarios = _Window(scenario_of, start, stop)  # built as tasks ask
            chunk = itertools.chain([first], itertools.islice(todo(start, stop), 1, None))
            for task, rows in executor.imap_unordered(runner, scenarios, chunk, plan.seed):
                store.write(campaign_id, start + task.point, rows)
                ran += len(rows)
                if bar is not None:
                    bar.advance(len(rows))
    finally:
        if bar is not None:
            bar.close()
        if owned:
            executor.close()
    return CampaignRun(
        campaign_id=campaign_id,
        planned=plan.size,
        already_done=already,
        ran=ran,
        seconds=time.perf_counter() - started,
        executor=getattr(executor, "name", type(executor).__name__),
    )


class _Window(Sequence):
    """Points ``start .. stop-1`` of a plan as a sequence numbered from 0, each point's scenario
    built only when an executor asks for it (the executors keep what they ship)."""

    def __init__(self, scenario_of: Callable[[int], Scenario], start: int, stop: int) -> None:
        self._scenario_of, self._start, self._stop = scenario_of, start, stop

    def __len__(self) -> int:
        return self._stop - self._start

    def __getitem__(self, index):  # type: ignore[override]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._scenario_of(self._start + index)


class _Progress:
    """A rich progress bar on stderr: done / total, replications per second, time left."""

    def __init__(self, total: int, label: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(label, total=total, rate="")
        self._started = time.perf_counter()
        self._done = 0

    def advance(self, count: int = 1) -> None:
        self._done += count
        elapsed = time.perf_counter() - self._started
        rate = f"{self._done / elapsed:.1f} rep/s" if elapsed > 0 else ""
        self._progress.update(self._task, advance=count, rate=rate)

    def close(self) -> None:
        self._progress.stop()


# ---------------------------------------------------------------------------------------------
# Aggregates
# ---------------------------------------------------------------------------------------------


def _mean_ci(total: int, total_sq: int, n: int) -> tuple[float, tuple[float, float]]:
    """Mean and Student-t 95 % interval of integer data given its exact sum and sum of squares."""
    return mean_interval_from_sums(total, total_sq, n)


@dataclass(frozen=True)
class GroupAggregate:
    """The aggregate of one (sweep point, arrangement)."""

    point: int
    sweep_values: dict[str, Any]
    arrangement: str
    replications: int
    no_leak: int
    p_no_leak: float
    p_no_leak_ci: tuple[float, float]
    expected_leakers: float
    expected_leakers_ci: tuple[float, float]
    interceptors_spent: float
    interceptors_spent_ci: tuple[float, float]
    shots_by_partner: dict[str, float]
    first_firm_track_delay_mean_s: float | None
    first_launch_delay_mean_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "point": self.point,
            "arrangement": self.arrangement,
            "sweep": dict(self.sweep_values),
            **{path: value for path, value in self.sweep_values.items()},
            "replications": self.replications,
            "p_no_leak": self.p_no_leak,
            "p_no_leak_ci": list(self.p_no_leak_ci),
            "expected_leakers": self.expected_leakers,
            "expected_leakers_ci": list(self.expected_leakers_ci),
            "interceptors_spent": self.interceptors_spent,
            "interceptors_spent_ci": list(self.interceptors_spent_ci),
            "shots_by_partner": dict(self.shots_by_partner),
            "first_firm_track_delay_mean_s": self.first_firm_track_delay_mean_s,
            "first_launch_delay_mean_s": self.first_launch_delay_mean_s,
        }


def aggregate(
    store: Store,
    campaign_id: int,
    *,
    replications: int | None = None,
    arrangements: Sequence[str] | None = None,
) -> list[GroupAggregate]:
    """The aggregate of every (sweep point, arrangement) group stored for a campaign.

    ``replications``/``arrangements`` restrict it to what a run asked for (the first
    ``replications`` indices, those arrangements); by default everything stored counts.
    Ordered by point, then by the campaign's arrangement order.
    """
    from jointbmd.store import Selection

    record = store.campaign(campaign_id)
    selection = Selection(
        campaign_id,
        replications=None if replications is None else int(replications),
        arrangements=None if arrangements is None else tuple(arrangements),
    )
    counts = store.group_sums(selection)
    shots = store.tallies(selection, "shots_by_partner")
    columns = store.threat_delays(selection)
    delays: dict[tuple[int, str], tuple[list[float], list[float]]] = {}
    for point, arrangement, track, launch in zip(
        columns["point"].tolist(),
        columns["arrangement"].tolist(),
        columns["to_firm_track_s"].tolist(),
        columns["to_first_launch_s"].tolist(),
        strict=True,
    ):
        tracks, launches = delays.setdefault((int(point), arrangement), ([], []))
        if math.isfinite(track):
            tracks.append(track)
        if math.isfinite(launch):
            launches.append(launch)
    order = {name: i for i, name in enumerate(record.arrangements)}
    rows = []
    for point, arrangement, n, k, leak_sum, leak_sq, spent_sum, spent_sq in sorted(
        counts, key=lambda r: (r[0], order.get(r[1], len(order)), r[1])
    ):
        n, k = int(n), int(k)
        leakers, leakers_ci = _mean_ci(int(leak_sum), int(leak_sq), n)
        spent, spent_ci = _mean_ci(int(spent_sum), int(spent_sq), n)
        tracks, launches = delays.get((point, arrangement), ([], []))
        rows.append(
            GroupAggregate(
                point=int(point),
                sweep_values=dict(record.points[point]) if point < len(record.points) else {},
                arrangement=arrangement,
                replications=n,
                no_leak=k,
                p_no_leak=k / n,
                p_no_leak_ci=wilson_interval(k, n),
                expected_leakers=leakers,
                expected_leakers_ci=leakers_ci,
                interceptors_spent=spent,
                interceptors_spent_ci=spent_ci,
                shots_by_partner={
                    partner: total / n
                    for partner, total in sorted(shots.get((point, arrangement), {}).items())
                },
                first_firm_track_delay_mean_s=math.fsum(tracks) / len(tracks) if tracks else None,
                first_launch_delay_mean_s=math.fsum(launches) / len(launches) if launches else None,
            )
        )
    return rows
