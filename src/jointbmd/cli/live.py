"""``jointbmd node`` and ``jointbmd live``: partners as separate processes on the network.

``node SCENARIO --as NAME --keys DIR --listen ADDR --peer NAME=ADDR ... --world ADDR`` runs one
node (a partner's, or the fusion centre's) with only its own key (``DIR/NAME.key.pem``, made
when absent) until the world stops it. ``live SCENARIO [--arrangement NAME] [--seed S]
[--replication N] [--ledger DIR] [--json]`` starts every node as its own process on 127.0.0.1
plus this process as the world, runs one replication and prints what ``run`` prints for it
(``--json``: the shape of ``run --json``, with ``replication``, ``live`` -- the node
processes, their addresses and the nodes that departed -- and ``seconds``). See
:mod:`jointbmd.live` and docs/live.md.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from jointbmd.errors import UserError

from ._app import app
from ._output import message, print_json


@app.command("node")
def node_command(
    scenario: str = typer.Argument(..., help="Scenario file or built-in scenario name."),
    name: str = typer.Option(..., "--as", help="The node to run: a partner or the centre."),
    keys: Path = typer.Option(
        ..., "--keys", help="This node's own key directory: NAME.key.pem, made when absent."
    ),
    public_keys: Path | None = typer.Option(
        None, "--public-keys", help="Every node's NAME.pub.pem (default: the --keys directory)."
    ),
    listen: str = typer.Option(..., "--listen", help="Where peers send to it (tcp://HOST:PORT)."),
    peer: list[str] = typer.Option(
        [], "--peer", help="A linked node and its address, NAME=tcp://HOST:PORT (repeat)."
    ),
    world: str = typer.Option(..., "--world", help="The world process's address."),
    connect_timeout: float = typer.Option(
        20.0, "--connect-timeout", help="Seconds to wait for every peer before giving up."
    ),
) -> None:
    """One node of a live run (jointbmd live starts them)."""
    from jointbmd.live import serve_node
    from jointbmd.outputs import check_directory_flag
    from jointbmd.scenario import load_scenario

    check_directory_flag(keys, "--keys")
    if public_keys is not None:
        check_directory_flag(public_keys, "--public-keys")
    for flag, address in (("--listen", listen), ("--world", world)):
        _check_address(address, flag)
    peers = {}
    for item in peer:
        peer_name, sep, address = item.partition("=")
        if not sep or not peer_name:
            raise UserError(f"expected NAME=tcp://HOST:PORT, got {item!r}", field="--peer")
        _check_address(address, "--peer")
        peers[peer_name] = address
    if not connect_timeout > 0:
        raise UserError(f"must be > 0, got {connect_timeout}", field="--connect-timeout")
    serve_node(
        load_scenario(scenario), name, keys, listen, peers, world, connect_timeout, public_keys
    )


def _check_address(address: str, flag: str) -> None:
    """A ZeroMQ TCP endpoint, ``tcp://HOST:PORT``."""
    host, sep, port = address.removeprefix("tcp://").rpartition(":")
    if not address.startswith("tcp://") or not sep or not host or not port.isdigit():
        raise UserError(f"expected tcp://HOST:PORT, got {address!r}", field=flag)


@app.command("live")
def live_command(
    scenario: str = typer.Argument(..., help="Scenario file or built-in scenario name."),
    arrangement: str = typer.Option(
        "all", "--arrangement", help="An arrangement name, a comma list, or 'all'."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Master seed (default: the scenario's campaign.seed)."
    ),
    replication: int = typer.Option(0, "--replication", help="Which replication to run."),
    ledger: Path | None = typer.Option(
        None, "--ledger", help="Every node writes its ledgers into this directory."
    ),
    keys: Path | None = typer.Option(
        None,
        "--keys",
        help="Key directory: each node keeps its own key in DIR/NAME/, the public keys in "
        "DIR/public/ (default: fresh keys).",
    ),
    baseline: str | None = typer.Option(
        None, "--baseline", help="Arrangement the others are compared with (as in run)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """One replication, every node its own process on 127.0.0.1."""
    from jointbmd import campaign as camp
    from jointbmd.live import live_run
    from jointbmd.outputs import Output, check_directory_flag, check_outputs
    from jointbmd.scenario import load_scenario
    from jointbmd.scenario.loader import scenario_to_dict
    from jointbmd.simulation import arrangement_names, ledger_files
    from jointbmd.store import Store

    from .run import print_run_tables, run_summary

    if seed is not None and not 0 <= seed < 2**63:
        raise UserError(f"must be in [0, 2**63), got {seed}", field="--seed")
    if replication < 0:
        raise UserError(f"must be >= 0, got {replication}", field="--replication")
    loaded = load_scenario(scenario)
    if seed is None:
        seed = camp.scenario_seed(loaded)
    names = arrangement_names(
        loaded, "all" if arrangement == "all" else [a.strip() for a in arrangement.split(",")]
    )
    from jointbmd.analysis.paired import resolve_baseline

    baseline = resolve_baseline(names, baseline)
    if keys is not None:
        check_directory_flag(keys, "--keys")
    if ledger is not None:
        check_directory_flag(ledger, "--ledger")
        outputs = [
            Output(p, "--ledger", "ledger", ledger) for p in ledger_files(loaded, names, ledger)
        ]
        check_outputs(outputs, [scenario])
    run = live_run(
        loaded,
        names,
        replication,
        seed,
        keys_dir=keys,
        ledger_dir=ledger,
        log=None if as_json else message,
    )
    # The same summary as ``run``, from a scratch store holding this one replication.
    one = camp.with_campaign(loaded, {"replications": 1, "seed": seed})
    plan = camp.plan_campaign(one, replications=1, seed=seed, arrangements=names)
    with tempfile.TemporaryDirectory(prefix="jointbmd-live-") as scratch:
        with Store(Path(scratch) / "live.duckdb") as results:
            campaign_id = results.ensure_campaign(
                campaign_key=f"live-{plan.key}-{replication}",
                scenario_name=plan.scenario_name,
                scenario_hash=plan.scenario_hash,
                scenario=scenario_to_dict(one),
                seed=plan.seed,
                replications=replication + 1,
                arrangements=plan.arrangements,
                spec=plan.spec,
                points=plan.points,
            )
            results.write(campaign_id, 0, run.results)
            summary = run_summary(results, campaign_id, names, baseline, None, replication)
    summary = {
        "scenario": loaded.name,
        "seed": seed,
        "replications": 1,
        "replication": replication,
        "seconds": run.seconds,
        "executor": "live",
        "arrangements": names,
        **summary,
        "live": {
            "nodes": {n: {"address": run.addresses[n], "pid": run.pids[n]} for n in run.pids},
            "departed": run.departed,
        },
        "ledger": str(ledger) if ledger is not None else None,
    }
    if as_json:
        print_json(summary)
        return
    message(
        f"{loaded.name}: replication {replication} x {len(names)} arrangements live in "
        f"{run.seconds:.1f} s ({len(run.pids)} node processes), seed {seed}"
    )
    for name, t in run.departed.items():
        message(f"node {name} departed after t = {t:.1f} s")
    print_run_tables(loaded.name, summary)
