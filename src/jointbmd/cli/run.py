"""``jointbmd run``: the whole pipeline, replicated, for one scenario and its arrangements.

A run is a campaign without a sweep: the same replications, seeds, executors and aggregates
(:mod:`jointbmd.campaign`), kept in a temporary results store unless ``--store`` names one. It
prints, per arrangement, the probability that no warhead leaks with its 95 % interval, the
expected leakers, the interceptors spent, the mean time from launch to the first firm track, the
shots per partner and the messages rejected, by reason; then each arrangement against a baseline
(``--baseline``, default ``independent``), paired on the same threats and random numbers
(:mod:`jointbmd.analysis.paired`): leakers, "no leak", interceptors and launch to first
interceptor, each a mean paired difference with its 95 % interval and the interval's method.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import typer

from jointbmd.errors import UserError

from ._app import app
from ._output import message, print_json, print_table
from .campaign import print_paired

DEFAULT_REPLICATIONS = 50


@app.command("run")
def run_command(
    scenario: str = typer.Argument(..., help="Scenario file or built-in scenario name."),
    arrangement: str = typer.Option(
        "all", "--arrangement", help="An arrangement name, a comma list, or 'all'."
    ),
    replications: int = typer.Option(
        DEFAULT_REPLICATIONS, "--replications", "-r", help="Replications per arrangement."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Master seed (default: the scenario's campaign.seed)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Run on a local Dask cluster of N worker processes."
    ),
    ledger: Path | None = typer.Option(
        None, "--ledger", help="Write every node's ledger of replication 0 into this directory."
    ),
    store: Path | None = typer.Option(
        None, "--store", help="Keep the results in this DuckDB store (default: temporary)."
    ),
    records: Path | None = typer.Option(
        None, "--records", help="Write every per-threat record and event as JSON lines here."
    ),
    keys: Path | None = typer.Option(
        None,
        "--keys",
        help="Sign the ledgers with the nodes' keys in this directory (NAME.key.pem); an empty "
        "or new directory gets fresh keys first.",
    ),
    allow_large: bool = typer.Option(
        False, "--allow-large", help="Run even beyond the work limit (docs/scenario.md, Bounds)."
    ),
    baseline: str | None = typer.Option(
        None,
        "--baseline",
        help="Arrangement the others are compared with, paired (default: independent, else the "
        "first).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run the scenario end to end and compare its arrangements."""
    from jointbmd import campaign as camp
    from jointbmd.outputs import Output, check_directory_flag, check_outputs
    from jointbmd.scenario import load_scenario
    from jointbmd.simulation import arrangement_names, ledger_files, run_arrangements
    from jointbmd.store import Selection, Store

    if seed is not None and not 0 <= seed < 2**63:
        raise UserError(f"must be in [0, 2**63), got {seed}", field="--seed")
    if workers is not None:
        camp.check_workers(workers)
    if keys is not None and ledger is None:
        raise UserError("keys sign ledgers: give --ledger DIR too", field="--keys")
    loaded = load_scenario(scenario)
    if seed is None:
        seed = camp.scenario_seed(loaded)
    names = arrangement_names(
        loaded, "all" if arrangement == "all" else [a.strip() for a in arrangement.split(",")]
    )
    camp.plan_campaign(
        loaded, replications=replications, seed=seed, arrangements=names, allow_large=allow_large
    )
    # Every file this run writes, checked before any is (jointbmd.outputs).
    outputs: list[Output] = []
    if ledger is not None:
        check_directory_flag(ledger, "--ledger")
        outputs += [
            Output(path, "--ledger", "ledger", ledger)
            for path in ledger_files(loaded, names, ledger)
        ]
    if records is not None:
        outputs.append(Output(records, "--records", "records"))
    check_outputs(outputs, [scenario, *(p for p in (store, keys) if p is not None)])
    signing_keys = None
    if ledger is not None:
        from jointbmd.exchange.signing import node_keys
        from jointbmd.simulation.picture import centre_name

        # Resolved before the campaign, so that a bad key directory fails at once.
        signing_keys = node_keys([*(p.name for p in loaded.partners), centre_name(loaded)], keys)
    from jointbmd.analysis.paired import resolve_baseline

    baseline = resolve_baseline(names, baseline)
    # One sweep point: the scenario as written.
    loaded = camp.with_campaign(loaded, {"replications": replications, "seed": seed})
    with tempfile.TemporaryDirectory(prefix="jointbmd-run-") as scratch:
        path = store if store is not None else Path(scratch) / "run.duckdb"
        with Store(path) as results:
            with camp.make_executor(workers=workers) as executor:
                done = camp.run_campaign(
                    loaded,
                    results,
                    arrangements=names,
                    executor=executor,
                    progress=not as_json and sys.stderr.isatty(),
                    allow_large=allow_large,
                    file=scenario,
                )
            summary = run_summary(results, done.campaign_id, names, baseline, replications)
            if records is not None:
                asked = Selection(
                    done.campaign_id, replications=replications, arrangements=tuple(names)
                )
                _write_records(results, asked, records)
    if ledger is not None:
        run_arrangements(loaded, names, 0, seed, ledger_dir=ledger, keys=signing_keys)
    summary = {
        "scenario": loaded.name,
        "seed": seed,
        "replications": replications,
        "seconds": done.seconds,
        "executor": done.executor,
        "arrangements": names,
        **summary,
        "records": str(records) if records is not None else None,
        "store": str(store) if store is not None else None,
        "ledger": str(ledger) if ledger is not None else None,
    }
    if as_json:
        print_json(summary)
        return
    message(
        f"{loaded.name}: {replications} replications x {len(names)} arrangements "
        f"in {done.seconds:.1f} s ({done.executor}), seed {seed}"
    )
    print_run_tables(loaded.name, summary)


def run_summary(results, campaign_id: int, names, baseline: str, replications: int | None,
                timeline_replication: int = 0) -> dict:  # fmt: skip
    """What ``run --json`` reports of a stored campaign beside its header: per arrangement
    ``rows`` (the same rows, with the same keys, as ``campaign --json`` and ``compare --json``),
    the ``paired`` comparisons against ``baseline``, every per-threat record (``threats``) and
    one replication's timeline. ``replications``: only the first so many (None: all stored)."""
    from jointbmd import campaign as camp
    from jointbmd.analysis.paired import paired_comparisons
    from jointbmd.store import Selection

    aggregates = camp.aggregate(results, campaign_id, replications=replications, arrangements=names)
    # Only what this run asked for, even from a store that holds more.
    asked = Selection(campaign_id, replications=replications, arrangements=tuple(names))
    rejected = results.tallies(asked, "rejected_messages")
    threats = results.rows("threat_outcomes", asked)
    timeline = results.rows(
        "events",
        Selection(campaign_id, arrangements=tuple(names), replication=timeline_replication),
    )
    rows = []
    for row in aggregates:
        entry = row.as_dict()
        entry["rejected_messages"] = rejected.get((row.point, row.arrangement), {})
        rows.append(entry)
    paired = paired_comparisons(threats, names, baseline)
    return {
        "rows": rows,
        "paired": {"baseline": baseline, "against": [c.as_dict() for c in paired]},
        "threats": threats,
        f"timeline_replication_{timeline_replication}": timeline,
    }


def print_run_tables(name: str, summary: dict) -> None:
    """The tables ``run`` prints: what each arrangement buys, then the paired comparisons."""
    rows, baseline = summary["rows"], summary["paired"]["baseline"]
    # One column per partner (its mean shots; together E[shots]), not a "NATO 6.0, Russia 0.0"
    # cell that wraps: the table then fits 80 columns.
    partners = sorted({p for a in rows for p in a["shots_by_partner"]})
    print_table(
        f"{name}: what each arrangement buys",
        [
            "arrangement",
            "P(no leak)",
            "95% CI",
            "E[leak]",
            *(f"{p} shots" for p in partners),
            "firm s",
            "bad msgs",
        ],
        [
            [
                a["arrangement"],
                a["p_no_leak"],
                f"{a['p_no_leak_ci'][0]:.2f}-{a['p_no_leak_ci'][1]:.2f}",
                a["expected_leakers"],
                *(f"{a['shots_by_partner'].get(p, 0.0):.1f}" for p in partners),
                a["first_firm_track_delay_mean_s"],
                sum(a["rejected_messages"].values()),
            ]
            for a in rows
        ],
        notes=[
            "E[leak]: expected leakers; <partner> shots: interceptors the partner spends (per "
            "replication; their sum is E[shots] in compare); firm s: mean time from a threat's "
            "launch to its first firm track; bad msgs: messages rejected (bad signature, replay, "
            "...), by reason in --json"
        ],
    )
    print_paired(
        [{"sweep": {}, "against": summary["paired"]["against"]}],
        f"{name}: paired against {baseline}",
    )


def _write_records(results, asked, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for table in ("threat_outcomes", "events"):
                for row in results.rows(table, asked):
                    out.write(json.dumps({"table": table, **row}) + "\n")
    except OSError as error:
        raise UserError(f"cannot write: {error.strerror}", field="--records") from None
