"""``jointbmd track``: sensing, national tracking, exchange and fusion for one replication."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from jointbmd._lazy import lazy

from ..outputs import Output, check_outputs, make_parents
from ._app import app
from ._output import print_json, print_table

np = lazy("numpy")


@app.command(short_help="Sense, track, exchange and fuse the scenario's raid.")
def track(
    scenario: Annotated[str, typer.Argument(help="scenario file or built-in name")],
    arrangement: Annotated[
        str | None,
        typer.Option(
            help="arrangement deciding what is shared (default: exchange through the "
            "fusion centre; an 'independent' one shares nothing)"
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="master seed (default: the scenario's campaign.seed)", min=0)
    ] = None,
    ledger: Annotated[
        Path | None,
        typer.Option(help="write every node's ledger into this directory (NODE.ledger)"),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            help="sign with the nodes' keys in this directory (NAME.key.pem); an empty or new "
            "directory gets fresh keys first (default: fresh keys, not kept)"
        ),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Sense, track, exchange and fuse the scenario's raid; score each source per threat."""
    # The simulation is imported here, not at the top: every other command starts faster.
    from ..arrangements import Arrangement
    from ..exchange.signing import node_keys
    from ..scenario import load_scenario, scenario_hash
    from ..simulation import LINKS, SENSING, WARNING, generator, seed_sequence
    from ..simulation.picture import build_picture, centre_name
    from ..simulation.truth import build_truth

    loaded = load_scenario(scenario)
    if seed is None:
        from ..campaign import scenario_seed

        seed = scenario_seed(loaded)
    sharing = True
    if arrangement is not None:
        from ..simulation import arrangement_names

        (name,) = arrangement_names(loaded, arrangement)
        sharing = Arrangement.from_scenario(loaded, name).shares_picture
    ledger_paths = None
    if ledger is not None:
        from ..outputs import check_directory_flag
        from ..simulation import PICTURE_LEDGERS
        from ..simulation.runtime import ledger_paths_in

        # The same layout as ``run --ledger DIR``: the picture stage's ledgers, one per node.
        check_directory_flag(ledger, "--ledger")
        nodes = [*(p.name for p in loaded.partners), centre_name(loaded)]
        ledger_paths = ledger_paths_in(ledger / PICTURE_LEDGERS, nodes)
        # Checked before anything runs: no ledger over an input, a directory or a foreign file.
        outputs = [Output(path, "--ledger", "ledger", ledger) for path in ledger_paths.values()]
        check_outputs(outputs, [scenario, *([keys] if keys is not None else [])])
        make_parents(outputs)
    truth = build_truth(loaded)
    picture = build_picture(
        loaded,
        truth,
        generator(seed, 0, SENSING),
        seed_sequence(seed, 0, LINKS),
        sharing=sharing,
        ledger_paths=ledger_paths,
        warning_seeds=seed_sequence(seed, 0, WARNING),
        keys=node_keys([*(p.name for p in loaded.partners), centre_name(loaded)], keys),
        ledger_meta={
            "scenario": loaded.name,
            "scenario_hash": scenario_hash(loaded),
            "seed": seed,
            "replication": 0,
            "run": uuid.uuid4().hex,
            "stage": "picture",
        },
    )
    sources = picture.by_source()
    threats = []
    for k in range(truth.n):
        by_source = {}
        for name, view in sources.items():
            by_source[name] = {
                "first_detection_s": _opt(view.first_detection_s[k]),
                "first_firm_track_s": _opt(view.first_firm_track_s[k]),
                "rmse_position_m": _opt(view.rmse_position_m[k]),
            }
        for name, view in picture.received.items():
            by_source[name]["fused_received_firm_s"] = _opt(view.first_firm_track_s[k])
        for name, rmse in picture.rmse_at_centre_m.items():
            by_source[name]["rmse_at_fusion_centre_m"] = _opt(rmse[k])
        gain = picture.fusion_gain
        fusion_gain = None
        if gain is not None and gain.cycles[k] > 0:
            fusion_gain = {
                "cycles": int(gain.cycles[k]),
                "fused_rmse_m": _opt(gain.fused_rmse_m[k]),
                **{f"{p}_rmse_m": _opt(r[k]) for p, r in gain.input_rmse_m.items()},
            }
        threats.append(
            {
                "id": k,
                "raid": truth.raid[k],
                "threat_type": truth.threat_type[k],
                "aimpoint": truth.aimpoint[k],
                "launch_time_s": float(truth.launch_time[k]),
                "impact_time_s": float(truth.impact_time[k]),
                "by_source": by_source,
                "fusion_gain": fusion_gain,
            }
        )
    result = {
        "scenario": loaded.name,
        "seed": seed,
        "sharing": sharing,
        "threats": threats,
        "rejected_messages": dict(picture.rejected_messages),
        "messages_sent": picture.messages_sent,
        "messages_accepted": picture.messages_accepted,
        "ledger": str(ledger) if ledger is not None else None,
    }
    if json:
        print_json(result)
        return
    # The table gives times since each threat's launch, as every table does; the JSON keeps the
    # record's times (since the scenario epoch) beside launch_time_s.
    columns = ["threat", "aimpoint", "source", "detected s", "firm track s", "RMSE m"]
    rows = []
    for threat in threats:
        for name, view in threat["by_source"].items():
            rows.append(
                [
                    threat["id"],
                    threat["aimpoint"],
                    name,
                    _since(view["first_detection_s"], threat["launch_time_s"]),
                    _since(view["first_firm_track_s"], threat["launch_time_s"]),
                    view["rmse_position_m"],
                ]
            )
    print_table(
        f"{loaded.name}: tracks by source (seed {seed}; times since the threat's launch)",
        columns,
        rows,
    )
    print_table(
        "exchange",
        ["sent", "accepted", "rejected", "ledger"],
        [
            [
                picture.messages_sent,
                picture.messages_accepted,
                sum(picture.rejected_messages.values()),
                result["ledger"],
            ]
        ],
    )


def _since(t: float | None, launch: float) -> float | None:
    return None if t is None else t - launch


def _opt(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
