"""One replication: truth, picture, decisions and engagements, wired in the order of docs/design.md.

In: a loaded scenario, the arrangement(s) to run, the replication index and the campaign seed.
Out: ``ReplicationResult`` records (``jointbmd.outcomes``), one per arrangement.

    from jointbmd.scenario import load_scenario
    from jointbmd.simulation import run_replication
    result = run_replication(load_scenario("lisbon2010"), "joint-consensus", replication=0, seed=1)

Stages: ``truth`` (the raid's trajectories, computed once per scenario), ``picture`` (launch
warning, sensing, national tracking, the signed exchange, the fusion centre), ``decide`` (the
arrangement's decisions, weapon-target assignment, shots and kill draws).

Random numbers. Every replication derives its generators from ``SeedSequence(seed,
spawn_key=(replication, stream))``: stream 0 for sensing, 1 for the picture's links, 3 for the
kill draws, 4 for the launch warning's links, 5 for the discrimination draws, and one per
arrangement (``2`` and the arrangement's name) for its decisions: its links' seeds are drawn
from it first, then its engagement draws. Within a stage every directed link has its own
generator (``exchange.links.link_generator``), so a message's fate does not depend on the order
in which different nodes sent theirs, and a live run (``jointbmd.live``, every node its own
process) gives the same numbers.
So the same seed and replication give the same numbers whatever the executor, the worker count,
or which other arrangements run alongside; and every arrangement sees the same detections, the
same fused picture and the same kill draws (common random numbers), so differences between
arrangements are their own.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..arrangements import Arrangement
from ..errors import UserError
from ..exchange import generate_keys
from ..objects import discrimination_draws, object_views
from ..outcomes import ReplicationResult
from ..scenario import scenario_hash
from .decide import decide_and_engage, fire_units_of, intercept_geometry_of, scenario_radars
from .picture import Picture, PictureSettings, build_picture
from .runtime import LocalRunner, add_rejections, centre_name, ledger_paths_in
from .truth import Truth, build_truth

__all__ = [
    "Picture",
    "PictureSettings",
    "Truth",
    "build_picture",
    "build_truth",
    "generator",
    "run_arrangements",
    "run_replication",
]

SENSING, LINKS, DECISIONS, KILLS, WARNING, DISCRIMINATION = 0, 1, 2, 3, 4, 5

#: Kill draws kept per threat: the s-th interceptor fired at a threat uses column s.
KILL_DRAWS_PER_THREAT = 64


def seed_sequence(seed: int, replication: int, *stream: int) -> np.random.SeedSequence:
    """The seeds of one stream of one replication (see the module docstring)."""
    return np.random.SeedSequence(seed, spawn_key=(replication, *stream))


def generator(seed: int, replication: int, *stream: int) -> np.random.Generator:
    """The generator of one stream of one replication (see the module docstring)."""
    return np.random.default_rng(seed_sequence(seed, replication, *stream))


def arrangement_stream(name: str) -> int:
    """A stable number for an arrangement's own random stream (CRC-32 of its name)."""
    return zlib.crc32(name.encode())


def arrangement_names(scenario, which: str | Sequence[str] = "all") -> list[str]:
    """Resolve ``all``, one name or a list of names against the scenario's arrangements."""
    known = [a.name for a in scenario.arrangements]
    if isinstance(which, str):
        which = known if which == "all" else [which]
    for name in which:
        if name not in known:
            raise UserError(
                f"unknown arrangement {name!r}; the scenario has {', '.join(known)}",
                field="--arrangement",
            )
    return list(which)


PICTURE_LEDGERS = "picture"  # the sub-directory of a ledger directory for the picture stage
WARNING_LEDGERS = "warning"  # ... and for the launch warning (written when an arrangement shares)
ASSESSMENT_LEDGERS = "assessments"  # an arrangement's kill assessments, inside its directory


def ledger_files(scenario, arrangements: str | Sequence[str], ledger_dir: str | Path) -> list[Path]:
    """Every file ``run_arrangements(..., ledger_dir=DIR)`` writes, in order:
    ``DIR/warning/NODE.ledger``, ``DIR/picture/NODE.ledger``, then for each arrangement
    ``DIR/ARRANGEMENT/NODE.ledger`` (its decisions) and
    ``DIR/ARRANGEMENT/assessments/NODE.ledger`` (its kill assessments). (Checked for collisions
    before a run: an arrangement named ``picture`` or ``warning`` would share them.)"""
    nodes = (*(p.name for p in scenario.partners), centre_name(scenario))
    stages = [Path(ledger_dir) / WARNING_LEDGERS, Path(ledger_dir) / PICTURE_LEDGERS]
    directories = stages + [
        Path(ledger_dir) / name / sub
        for name in arrangement_names(scenario, arrangements)
        for sub in ("", ASSESSMENT_LEDGERS)
    ]
    return [path for d in directories for path in ledger_paths_in(d, nodes).values()]


def run_arrangements(
    scenario,
    arrangements: str | Sequence[str],
    replication: int,
    seed: int,
    *,
    ledger_dir: str | Path | None = None,
    settings: PictureSettings | None = None,
    common_kill_draws: bool = True,
    keys: Mapping | None = None,
    on_picture: Callable[[Picture], None] | None = None,
    runner=None,
) -> list[ReplicationResult]:
    """Run one replication of several arrangements, sharing the truth and the picture.

    With ``common_kill_draws`` (the default) every arrangement uses the replication's kill draws
    (stream 3) and discrimination draws (stream 5): the s-th interceptor fired at a threat hits
    or misses alike under every arrangement, and a radar calls an object alike, so differences
    between arrangements are not kill-draw noise. Without it each arrangement draws both from
    its own stream (independent samples, e.g. for validation).
    ``keys`` maps every node to its Ed25519 private key (default: fresh keys); ``runner`` runs
    the exchanges' roles (default ``runtime.LocalRunner`` with those keys; a live run passes
    its own, whose nodes hold their keys in their own processes).
    ``on_picture``, if given, is called with the replication's ``Picture`` once it is built
    (the viewer draws national tracks and detections from it).
    """
    names = arrangement_names(scenario, arrangements)
    rules = [Arrangement.from_scenario(scenario, name) for name in names]
    truth = build_truth(scenario)
    nodes = (*(p.name for p in scenario.partners), centre_name(scenario))
    if runner is None:
        runner = LocalRunner(scenario, dict(keys) if keys is not None else generate_keys(nodes))
    sharing = any(r.shares_picture for r in rules)
    # Every ledger says which run it records, so a ledger of another run cannot pass for it.
    meta = {
        "scenario": scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "seed": int(seed),
        "replication": int(replication),
        "run": uuid.uuid4().hex,
    }
    picture = build_picture(
        scenario,
        truth,
        generator(seed, replication, SENSING),
        seed_sequence(seed, replication, LINKS),
        sharing=sharing,
        ledger_paths=None
        if ledger_dir is None
        else ledger_paths_in(Path(ledger_dir) / PICTURE_LEDGERS, nodes),
        settings=settings or PictureSettings(),
        runner=runner,
        ledger_meta={**meta, "stage": "picture"},
        warning_seeds=seed_sequence(seed, replication, WARNING),
        warning_ledger_dir=None if ledger_dir is None else Path(ledger_dir) / WARNING_LEDGERS,
    )
    if on_picture is not None:
        on_picture(picture)
    units, geometry = _engagement_setup(scenario, truth)
    kill_draws = discrimination = None
    if common_kill_draws:
        kill_draws = generator(seed, replication, KILLS).random((truth.n, KILL_DRAWS_PER_THREAT))
        if units is not None:
            discrimination = discrimination_draws(
                generator(seed, replication, DISCRIMINATION),
                object_views(scenario, truth, scenario_radars(scenario)),
            )
    results = []
    for rule in rules:
        decisions = decide_and_engage(
            scenario,
            picture,
            rule,
            units,
            geometry,
            generator(seed, replication, DECISIONS, arrangement_stream(rule.name)),
            runner,
            None if ledger_dir is None else Path(ledger_dir) / rule.name,
            kill_draws,
            {**meta, "stage": "decisions", "arrangement": rule.name},
            discrimination,
        )
        rejected = dict(decisions.rejected_messages)
        if rule.shares_picture:
            rejected = add_rejections(rejected, picture.rejected_messages)
        results.append(
            ReplicationResult(
                arrangement=rule.name,
                replication=replication,
                threats=decisions.threats,
                events=decisions.events,
                shots_by_partner=decisions.shots_by_partner,
                rejected_messages=rejected,
            )
        )
    return results


_SETUP: dict[str, tuple] = {}


def _engagement_setup(scenario, truth: Truth):
    """Fire units and their intercept geometry: like the truth, fixed per scenario (cached)."""
    key = scenario_hash(scenario)
    if key not in _SETUP:
        if len(_SETUP) >= 8:
            _SETUP.pop(next(iter(_SETUP)))
        units = fire_units_of(scenario)
        _SETUP[key] = (units, intercept_geometry_of(truth, units))
    return _SETUP[key]


def run_replication(
    scenario, arrangement: str, replication: int, seed: int, **kwargs
) -> ReplicationResult:
    """One replication of one arrangement (the same numbers as within ``run_arrangements``)."""
    return run_arrangements(scenario, [arrangement], replication, seed, **kwargs)[0]
