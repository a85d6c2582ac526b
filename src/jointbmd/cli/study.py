"""``jointbmd study``: an uncertainty study of a scenario, run into the results store.

The work is in :mod:`jointbmd.analysis.study` (the file format, designs, points) and
:mod:`jointbmd.analysis.sensitivity` (running, indices, thresholds, conclusions); plots in
:mod:`jointbmd.report.plots`. Prints the inputs, the Sobol' indices of the chosen outputs, the
thresholds and the conclusion shares, or one JSON object with ``--json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from jointbmd.conventions import DEFAULT_STORE
from jointbmd.errors import UserError

from ._app import app
from ._output import message, print_json, print_table


@app.command("study", short_help="Run or resume an uncertainty study (Sobol' indices).")
def study_command(
    scenario: str | None = typer.Argument(
        None, help="Scenario file or built-in scenario name (not needed with --schema)."
    ),
    study: str | None = typer.Option(
        None, "--study", help="Study file or built-in study name (lisbon2010-uncertainty)."
    ),
    samples: int | None = typer.Option(
        None, "--samples", help="Base samples N (Sobol': N (k + 2) points; LHS: N points)."
    ),
    replications: int | None = typer.Option(
        None, "--replications", "-r", help="Replications per design point."
    ),
    store: str = typer.Option(DEFAULT_STORE, "--store", help="Results store (a DuckDB file)."),
    workers: int | None = typer.Option(
        None, "--workers", help="Run on a local Dask cluster of N worker processes."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Run on an existing Dask scheduler (tcp://HOST:PORT)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: str | None = typer.Option(None, "--plot", help="Write the tornado charts here."),
    schema: bool = typer.Option(False, "--schema", help="Print the study file's JSON Schema."),
    replication_function: str | None = typer.Option(
        None, "--replication-function", hidden=True, help="MODULE:FUNCTION (for tests)."
    ),
) -> None:
    """Run (or resume) an uncertainty study: indices, tornado, thresholds, conclusion shares."""
    from jointbmd import campaign as camp
    from jointbmd.analysis import sensitivity
    from jointbmd.analysis import study as st
    from jointbmd.scenario import load_scenario
    from jointbmd.store import Store

    if schema:
        print_json(st.study_schema())
        return
    if scenario is None:
        raise UserError("give a scenario (file or built-in name)", field="SCENARIO")
    if study is None:
        raise UserError(
            f"give a study file or a built-in study ({', '.join(st.builtin_studies())})",
            field="--study",
        )
    if workers is not None and scheduler is not None:
        raise UserError("give --workers or --scheduler, not both", field="--workers")
    for flag, value in (("--samples", samples), ("--replications", replications),
                        ("--workers", workers)):  # fmt: skip
        if value is not None and value < (2 if flag == "--samples" else 1):
            raise UserError(f"too small: {value}", field=flag)
    loaded = load_scenario(scenario)
    spec, where = st.load_study(study)
    if spec.scenario != loaded.name:
        raise UserError(
            f"the study is written for scenario {spec.scenario!r}, not {loaded.name!r}",
            file=where,
            field="scenario",
        )
    st.check_against(spec, loaded, file=where)
    function = (
        camp.resolve_replication_function(replication_function) if replication_function else None
    )
    with Store(store) as results:
        with camp.make_executor(workers=workers, scheduler=scheduler) as executor:
            run = sensitivity.run_study(
                loaded, spec, results, samples=samples, replications=replications,
                executor=executor, replication_function=function,
                progress=not as_json and sys.stderr.isatty(), file=where,
            )  # fmt: skip
        result = sensitivity.study_result(results, results.campaign(run.campaign_id))
    result["store"] = str(store)
    result["run"] = {"ran": run.ran, "seconds": run.seconds, "executor": run.executor,
                     "points": run.points}  # fmt: skip
    if plot is not None:
        from jointbmd.report import plots

        result["plots"] = [str(p) for p in plots.study_plots(result, Path(plot))]
    if as_json:
        print_json(result)
        return
    _print(result)


def _fmt(index: dict | None) -> str:
    if index is None or index.get("value") is None:
        return "-"
    low, high = index["ci"]
    return f"{index['value']:.2f} [{low:.2f}, {high:.2f}]"


def _print(result: dict) -> None:
    design = result["design"]
    message(
        f"study {result['study']} of {result['scenario']}: {design['method']} design, "
        f"{design['sampled_points']} sampled + {design['one_at_a_time_points']} one-at-a-time "
        f"points x {design['replications']} replications, seed {design['seed']}; ran "
        f"{result['run']['ran']} replications in {result['run']['seconds']:.0f} s "
        f"({result['run']['executor']}); campaign {result['campaign_id']} in {result['store']}"
    )
    print_table(
        "inputs",
        ["input", "paths", "range", "nominal", "source"],
        [[i["name"], ", ".join(i["paths"]), str(i["range"]), str(i["nominal"]), i["source"]]
         for i in result["inputs"]],
    )  # fmt: skip
    names = [i["name"] for i in result["inputs"]]
    for output, indices in result["indices"].items():
        if not output.startswith(("p_no_leak[", "delta_p_no_leak[")):
            continue
        if indices is None:
            from rich.markup import escape

            message(escape(f"{output}: constant over the design (no indices)"))
            continue
        print_table(
            f"{output}: Sobol' indices (first, total) [95 % CI]",
            ["input", "first", "total"],
            [[n, _fmt(indices[n]["first"]), _fmt(indices[n]["total"])] for n in names],
        )
    print_table(
        "thresholds (other inputs at nominal)",
        ["input", "output", "level", "crossing", "bracket"],
        [[t["input"], t["output"], t["level"],
          "-" if not t["crosses"] else f"{t['value']:.4g} ({t['direction']})",
          "-" if not t["crosses"] else f"{t['bracket'][0]:.4g}-{t['bracket'][1]:.4g}"]
         for t in result["thresholds"]],
    )  # fmt: skip
    print_table(
        "conclusions: share of the input space where each holds",
        ["statement", "share", "95 % CI", "at nominal"],
        [[c["statement"], c["share"],
          "-" if c["share_ci"] is None else f"{c['share_ci'][0]:.2f}-{c['share_ci'][1]:.2f}",
          c["holds_at_nominal"]] for c in result["conclusions"]],
    )  # fmt: skip
