"""``jointbmd effectiveness``: Wilkening's analytic model from the command line.

Either a goal (``--goal PD``: interceptors needed per object and in total, continuous and whole)
or a firing plan (``--shots-per-object n``: probability of no leak, expected leakers,
interceptors). ``--monte-carlo TRIALS`` checks the closed form by simulation. The model and its
assumptions are in :mod:`jointbmd.analysis.effectiveness`.
"""

from __future__ import annotations

import typer

from jointbmd._lazy import lazy
from jointbmd.errors import UserError

from ._app import app
from ._output import print_json, print_table

np = lazy("numpy")
eff = lazy("jointbmd.analysis.effectiveness")

# Library parameter names -> the flags a user typed, so errors name the flag.
_FLAGS = {
    "warheads": "--warheads",
    "decoys": "--decoys",
    "p_decoy_as_warhead": "--p-decoy-as-warhead",
    "p_warhead_as_warhead": "--p-warhead-as-warhead",
    "sspk": "--sspk",
    "p_track": "--ptrack",
    "goal_pd": "--goal",
    "shots_per_object": "--shots-per-object",
    "doctrine": "--doctrine",
    "p_kill_assessment": "--p-kill-assessment",
    "trials": "--monte-carlo",
    "layers": "--layers",
}


# A Monte-Carlo check of a probability: at 10**7 raids its standard error is <= 1.6e-4, far
# below any difference that matters; the draws (raids x objects) bound its memory and time.
MAX_TRIALS = 10_000_000
MAX_DRAWS = 1_000_000_000


def _flag_error(error: UserError) -> UserError:
    field = error.field or ""
    flag = _FLAGS.get(field) or ("--layers" if field.startswith("layers") else field)
    return UserError(error.reason, field=flag)


def parse_layers(text: str | None) -> list[tuple[float, ...]]:
    """``"0.7:1,0.5:2:0.95"`` -> ``[(0.7, 1.0), (0.5, 2.0, 0.95)]`` (SSPK:SHOTS[:PTRACK])."""
    if text is None or not text.strip():
        return []
    layers = []
    for item in text.split(","):
        parts = item.strip().split(":")
        try:
            values = tuple(float(p) for p in parts)
        except ValueError:
            values = ()
        if len(values) not in (2, 3) or not all(np.isfinite(values)):
            raise UserError(
                f"each layer is SSPK:SHOTS or SSPK:SHOTS:PTRACK, got {item.strip()!r}",
                field="--layers",
            )
        layers.append(values)
    return layers


@app.command("effectiveness", short_help="Wilkening's model: interceptors needed, or P(no leak).")
def effectiveness_command(
    warheads: int = typer.Option(..., "--warheads", help="Warheads N in the attack."),
    sspk: float = typer.Option(..., "--sspk", help="Single-shot kill probability."),
    ptrack: float = typer.Option(
        ..., "--ptrack", help="Probability that detection, tracking and command work."
    ),
    goal: float | None = typer.Option(
        None, "--goal", help="Wanted probability that no warhead leaks (sizes the defence)."
    ),
    shots_per_object: float | None = typer.Option(
        None, "--shots-per-object", help="Interceptors fired at each engaged object."
    ),
    decoys: int = typer.Option(0, "--decoys", help="Decoys D accompanying the warheads."),
    p_decoy_as_warhead: float = typer.Option(
        1.0, "--p-decoy-as-warhead", help="Probability a decoy is classed as a warhead."
    ),
    p_warhead_as_warhead: float = typer.Option(
        1.0, "--p-warhead-as-warhead", help="Probability a warhead is classed as a warhead."
    ),
    doctrine: str = typer.Option(
        "barrage", "--doctrine", help="barrage or shoot-look-shoot (two salvos, a look between)."
    ),
    p_kill_assessment: float = typer.Option(
        1.0, "--p-kill-assessment", help="Probability a look classes an object correctly."
    ),
    layers: str | None = typer.Option(
        None,
        "--layers",
        help="Extra independent layers engaging first: SSPK:SHOTS[:PTRACK],...",
    ),
    monte_carlo: int | None = typer.Option(
        None, "--monte-carlo", help="Check the closed form with this many simulated raids."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the Monte Carlo generator."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Interceptors needed, or probability that no warhead leaks, in Wilkening's model."""
    if (goal is None) == (shots_per_object is None):
        raise UserError("give exactly one of --goal and --shots-per-object", field="--goal")
    if monte_carlo is not None and not 1 <= monte_carlo <= MAX_TRIALS:
        raise UserError(
            f"must be a whole number in [1, {MAX_TRIALS}], got {monte_carlo}", field="--monte-carlo"
        )
    if monte_carlo is not None and monte_carlo * max(warheads + decoys, 1) > MAX_DRAWS:
        raise UserError(
            f"{monte_carlo} raids of {warheads + decoys} objects are more than {MAX_DRAWS} draws; "
            "fewer raids check the closed form as well",
            field="--monte-carlo",
        )
    options = dict(
        decoys=decoys,
        p_warhead_as_warhead=p_warhead_as_warhead,
        p_decoy_as_warhead=p_decoy_as_warhead,
        doctrine=doctrine,
        layers=parse_layers(layers),
        p_kill_assessment=p_kill_assessment,
    )
    try:
        result = _compute(warheads, sspk, ptrack, goal, shots_per_object, options)
        if monte_carlo is not None:
            result.update(
                _simulate(
                    warheads,
                    sspk,
                    ptrack,
                    result["main_layer_shots_per_object"],
                    options,
                    monte_carlo,
                    seed,
                )
            )
    except UserError as error:
        raise _flag_error(error) from None

    if as_json:
        print_json(result)
        return
    title = (
        f"Wilkening model: {warheads} warheads, {decoys} decoys, SSPK {sspk:g}, "
        f"P_track {ptrack:g}, {doctrine}"
    )
    rows = [(key, _cell(value)) for key, value in result.items() if key != "inputs"]
    print_table(title, ["quantity", "value"], rows)


def _compute(warheads, sspk, ptrack, goal, shots_per_object, options) -> dict:
    inputs = {
        "warheads": warheads,
        "sspk": sspk,
        "p_track": ptrack,
        "goal": goal,
        "shots_per_object": shots_per_object,
        **options,
    }
    if goal is not None:
        need = eff.shots_for_goal(goal, warheads, sspk, ptrack, **options)
        main_whole = float(need.main_layer_shots_whole)
        whole = eff.evaluate(warheads, sspk, main_whole, ptrack, **options)
        return {
            "inputs": inputs,
            "interceptors_per_object": float(need.interceptors_per_object),
            "interceptors_total": float(need.interceptors_total),
            "interceptors_per_object_whole": int(need.interceptors_per_object_whole),
            "interceptors_total_whole": int(need.interceptors_total_whole),
            "p_no_leak": float(need.p_no_leak_whole),
            "expected_leakers": float(whole.expected_leakers),
            "expected_interceptors_total": float(whole.expected_interceptors_total),
            "objects_engaged": float(need.objects_engaged),
            "ceiling": float(need.ceiling),
            "main_layer_shots_per_object": main_whole,
        }
    out = eff.evaluate(warheads, sspk, shots_per_object, ptrack, **options)
    return {
        "inputs": inputs,
        "p_kill_per_object": float(out.k_object),
        "p_no_leak": float(out.p_no_leak),
        "expected_leakers": float(out.expected_leakers),
        "interceptors_per_object": float(out.max_shots_per_object),
        "interceptors_total": float(out.interceptors_total),
        "expected_interceptors_total": float(out.expected_interceptors_total),
        "objects_engaged": float(out.objects_engaged),
        "ceiling": float(out.ceiling),
        "main_layer_shots_per_object": float(shots_per_object),
    }


def _simulate(warheads, sspk, ptrack, shots, options, trials, seed) -> dict:
    mc = eff.monte_carlo(
        warheads,
        sspk,
        shots,
        ptrack,
        trials=trials,
        rng=np.random.default_rng(seed),
        **options,
    )
    return {
        "p_no_leak_monte_carlo": mc.p_no_leak,
        "p_no_leak_monte_carlo_ci": [mc.ci_low, mc.ci_high],
        "expected_leakers_monte_carlo": mc.mean_leakers,
        "interceptors_total_monte_carlo": mc.mean_interceptors,
        "monte_carlo_trials": mc.trials,
        "monte_carlo_seed": seed,
    }


def _cell(value) -> object:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.4g}" for v in value) + "]"
    return value
