"""``jointbmd campaign``, ``jointbmd compare`` and ``jointbmd export``.

``campaign`` runs (or resumes) the sweep x arrangements x replications a scenario asks for and
stores every replication in a DuckDB results store; ``compare`` prints the aggregates of a stored
campaign (and draws its plots with ``--plot DIR``); ``export`` writes the store's tables as
Parquet. The work is in :mod:`jointbmd.campaign`, :mod:`jointbmd.store` and
:mod:`jointbmd.report.plots`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from jointbmd.conventions import DEFAULT_STORE
from jointbmd.errors import UserError

from ._app import app
from ._output import message, print_json, print_table

_STORE_HELP = "Results store (a DuckDB file)."


def _arrangements(text: str | None) -> list[str] | None:
    """``--arrangement``: None or 'all' -> every arrangement; else a name or a comma list."""
    if text is None or text.strip() == "all":
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UserError("give an arrangement name, a comma list, or 'all'", field="--arrangement")
    return names


# Short headers, so that the table fits 80 columns; the key below the table spells them out.
_KEY = (
    "n: replications; E[leak]: expected leakers; E[shots]: interceptors spent "
    "(per replication); firm s / launch s: mean time from a threat's launch to its first "
    "firm track / to the first interceptor launched at it"
)


def _swept(sweeps: list[dict[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    """The swept paths of some sweep points, in first-seen order, their column labels (a path
    longer than 12 characters shows as x1, x2, ...) and the key lines for those labels."""
    paths: list[str] = []
    for sweep in sweeps:
        paths += [p for p in sweep if p not in paths]
    labels = [p if len(p) <= 12 else f"x{i + 1}" for i, p in enumerate(paths)]
    keys = [f"{label}: {path}" for path, label in zip(paths, labels, strict=True) if label != path]
    return paths, labels, keys


def _table(rows: list[dict[str, Any]], title: str) -> None:
    paths, labels, keys = _swept([row["sweep"] for row in rows])

    def ci(pair: list[float]) -> str:
        return f"{pair[0]:.3f}-{pair[1]:.3f}"

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    columns = [
        *labels,
        "arrangement",
        "n",
        "P(no leak)",
        "95% CI",
        "E[leak]",
        "E[shots]",
        "firm s",
        "launch s",
    ]
    print_table(
        title,
        columns,
        [
            [
                *(row["sweep"].get(p) for p in paths),
                row["arrangement"],
                row["replications"],
                f"{row['p_no_leak']:.3f}",
                ci(row["p_no_leak_ci"]),
                f"{row['expected_leakers']:.2f}",
                f"{row['interceptors_spent']:.1f}",
                seconds(row["first_firm_track_delay_mean_s"]),
                seconds(row["first_launch_delay_mean_s"]),
            ]
            for row in rows
        ],
        notes=[*keys, _KEY],
    )


_PAIRED_KEY = (
    "each arrangement minus the baseline, with its 95 % interval (paired t; Newcombe for P(no "
    "leak)); n: replication pairs; E[leak]: expected leakers; E[shots]: interceptors spent (per "
    "replication); launch s: mean time from a threat's launch to the first interceptor launched "
    "at it; both: threats shot at under both; only: threats shot at only here / only under the "
    "baseline"
)


def print_paired(points: list[dict[str, Any]], title: str) -> None:
    """The paired differences of every sweep point (``compare``; ``run`` has one point)."""
    paths, labels, keys = _swept([point["sweep"] for point in points])

    def cell(estimate: dict[str, Any], digits: int) -> str:
        if estimate["value"] is None:
            return "-"
        if estimate["ci"] is None:
            return f"{estimate['value']:+.{digits}f}"
        low, high = estimate["ci"]
        return f"{estimate['value']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"

    print_table(
        f"{title} (same replications and threats)",
        [
            *labels,
            "arrangement",
            "n",
            "ΔP(no leak)",
            "ΔE[leak]",
            "ΔE[shots]",
            "Δlaunch s",
            "both",
            "only",
        ],  # fmt: skip
        [
            [
                *(point["sweep"].get(p) for p in paths),
                c["arrangement"],
                c["replications"],
                cell(c["no_leak"], 2),
                cell(c["leakers"], 2),
                cell(c["interceptors_spent"], 1),
                cell(c["launch_to_first_shot_s"], 1),
                c["threats_both_engaged"],
                f"{c['engaged_only_here']} / {c['engaged_only_baseline']}",
            ]
            for point in points
            for c in point["against"]
        ],
        notes=[*keys, _PAIRED_KEY],
    )


@app.command("campaign", short_help="Run or resume a campaign; each replication is stored.")
def campaign_command(
    scenario: str = typer.Argument(..., help="Scenario file or built-in scenario name."),
    replications: int | None = typer.Option(
        None, "--replications", "-r", help="Replications per arrangement and sweep point."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Master seed (default: the scenario's)."),
    store: str = typer.Option(DEFAULT_STORE, "--store", help=_STORE_HELP),
    workers: int | None = typer.Option(
        None, "--workers", help="Run on a local Dask cluster of N worker processes."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Run on an existing Dask scheduler (tcp://HOST:PORT)."
    ),
    arrangement: str | None = typer.Option(
        None, "--arrangement", help="An arrangement name, a comma list, or 'all' (default)."
    ),
    campaign_file: str | None = typer.Option(
        None,
        "--campaign-file",
        help="YAML with replications, seed and sweep (replaces the scenario's campaign section).",
    ),
    allow_large: bool = typer.Option(
        False, "--allow-large", help="Run even beyond the work limit (docs/scenario.md, Bounds)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    replication_function: str | None = typer.Option(
        None,
        "--replication-function",
        hidden=True,
        help="MODULE:FUNCTION to run instead of jointbmd.simulation.run_replication.",
    ),
) -> None:
    """Run or resume a campaign; every replication is stored as it finishes."""
    from jointbmd import campaign as camp
    from jointbmd.scenario import load_scenario
    from jointbmd.store import Store

    if workers is not None and scheduler is not None:
        raise UserError("give --workers or --scheduler, not both", field="--workers")
    if seed is not None and not 0 <= seed < 2**63:
        raise UserError(f"must be in [0, 2**63), got {seed}", field="--seed")
    if workers is not None:
        camp.check_workers(workers)
    if scheduler is not None:
        camp.check_scheduler(scheduler)
    loaded = load_scenario(scenario)
    # Errors in the sweep name the file it came from.
    sweep_file = scenario
    if campaign_file is not None:
        sweep_file = campaign_file
        loaded = camp.with_campaign(loaded, camp.load_campaign_file(campaign_file), campaign_file)
    names = _arrangements(arrangement)
    # Validate everything (flags, every sweep point) before opening the store or starting workers.
    plan = camp.plan_campaign(
        loaded,
        replications=replications,
        seed=seed,
        arrangements=names,
        allow_large=allow_large,
        file=sweep_file,
    )
    camp.check_points(loaded, plan, sweep_file)
    with Store(store) as results:
        function = (
            camp.resolve_replication_function(replication_function)
            if replication_function
            else camp.default_runner()
        )
        with camp.make_executor(workers=workers, scheduler=scheduler) as executor:
            run = camp.run_campaign(
                loaded,
                results,
                replications=replications,
                seed=seed,
                arrangements=names,
                executor=executor,
                replication_function=function,
                progress=not as_json and sys.stderr.isatty(),
                allow_large=allow_large,
                file=sweep_file,
            )
        # What this command asked for, even if the store holds more of the same campaign.
        rows = [
            row.as_dict()
            for row in camp.aggregate(
                results,
                run.campaign_id,
                replications=plan.replications,
                arrangements=plan.arrangements,
            )
        ]
        record = results.campaign(run.campaign_id)
    summary = {
        "campaign_id": run.campaign_id,
        "store": str(store),
        "scenario": record.scenario_name,
        "scenario_hash": record.scenario_hash,
        "seed": record.seed,
        "replications": record.replications,
        "arrangements": list(record.arrangements),
        "sweep": record.spec.get("sweep", []),
        "planned": run.planned,
        "already_done": run.already_done,
        "ran": run.ran,
        "seconds": run.seconds,
        "replications_per_second": run.rate,
        "executor": run.executor,
        "rows": rows,
    }
    if as_json:
        print_json(summary)
        return
    message(
        f"campaign {run.campaign_id} in {store}: ran {run.ran} replications "
        f"({run.already_done} already stored) in {run.seconds:.1f} s on {run.executor}"
    )
    _table(rows, f"{record.scenario_name}: campaign {run.campaign_id}, seed {record.seed}")


@app.command("compare", short_help="Compare a stored campaign's arrangements, paired too.")
def compare_command(
    store: str = typer.Option(DEFAULT_STORE, "--store", help=_STORE_HELP),
    campaign: int | None = typer.Option(
        None, "--campaign", help="Campaign id (default: the most recently run)."
    ),
    baseline: str | None = typer.Option(
        None,
        "--baseline",
        help="Arrangement the others are compared with, paired (default: independent, else the "
        "campaign's first).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: str | None = typer.Option(None, "--plot", help="Write PNG plots to this directory."),
) -> None:
    """Compare the arrangements of a stored campaign, by sweep point, with 95 % intervals, and
    each against a baseline, paired on the same replications and threats."""
    from jointbmd import campaign as camp
    from jointbmd.analysis.paired import paired_comparisons
    from jointbmd.store import Selection, Store

    with Store(store, read_only=True) as results:
        record = results.campaign(campaign)
        rows = camp.aggregate(results, record.campaign_id)
        names = list(record.arrangements)
        from jointbmd.analysis.paired import resolve_baseline

        baseline = resolve_baseline(names, baseline)
        paired = [
            {
                "point": point,
                "sweep": values,
                "baseline": baseline,
                "against": [
                    c.as_dict()
                    for c in paired_comparisons(
                        results.rows("threat_outcomes", Selection(record.campaign_id, point=point)),
                        names,
                        baseline,
                    )
                ],
            }
            for point, values in enumerate(record.points)
        ]
        plots: list[str] = []
        if plot is not None:
            from jointbmd.outputs import Output, check_directory_flag, check_outputs
            from jointbmd.report import plots as report_plots

            check_directory_flag(Path(plot), "--plot")
            check_outputs(
                [Output(Path(plot) / f, "--plot", "png", Path(plot)) for f in report_plots.FILES],
                [store],
            )

            plots = [str(p) for p in report_plots.campaign_plots(results, record.campaign_id, plot)]
    as_dicts = [row.as_dict() for row in rows]
    if as_json:
        print_json(
            {
                "store": str(store),
                "campaign_id": record.campaign_id,
                "scenario": record.scenario_name,
                "seed": record.seed,
                "sweep": record.spec.get("sweep", []),
                "rows": as_dicts,
                "paired": paired,
                "plots": plots,
            }
        )
        return
    _table(as_dicts, f"{record.scenario_name}: campaign {record.campaign_id}, seed {record.seed}")
    print_paired(paired, f"{record.scenario_name}: paired against {baseline}")
    for path in plots:
        message(f"wrote {path}")


@app.command("export")
def export_command(
    out: str = typer.Option(..., "--out", help="Directory for the Parquet files."),
    store: str = typer.Option(DEFAULT_STORE, "--store", help=_STORE_HELP),
    campaign: int | None = typer.Option(
        None, "--campaign", help="Export one campaign (default: all)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Write the store's tables as Parquet files (one per table)."""
    from jointbmd.store import Store

    with Store(store, read_only=True) as results:
        written = results.export_parquet(out, campaign)
    if as_json:
        print_json(
            {"store": str(store), "campaign_id": campaign, "files": [str(p) for p in written]}
        )
        return
    for path in written:
        message(f"wrote {path}")
