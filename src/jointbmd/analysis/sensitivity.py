"""Running a study and reading it back: indices, tornado, thresholds and conclusion shares.

In: a scenario, a ``Study`` (``jointbmd.analysis.study``), a results store and an executor.
Out: ``run_study`` fills the store (the main design as one campaign, each threshold bisection step
as a one-point campaign); ``study_result`` reads it back, from the store alone, into one JSON-able
dict -- the shape ``jointbmd study --json`` prints and ``jointbmd report`` shows:

- ``inputs``: path(s), distribution, range, nominal and source of each input;
- ``outputs``: per output, its value at nominal (with its interval) and its spread over the
  design; outputs are each arrangement's ``p_no_leak``, ``expected_leakers`` and
  ``interceptors_spent`` and, for each arrangement against the baseline, the paired difference
  ``delta_<metric>[A - B]`` (the same replications, so the same threats and draws);
- ``indices``: output -> input -> ``first`` and ``total``, each ``{value, ci}``. Sobol' design:
  Saltelli's scheme (Saltelli et al., Comput. Phys. Commun. 181:259, 2010: first order by
  Saltelli's 2010 estimator, total by Jansen's 1999), as SALib computes them, with bootstrap 95 %
  intervals (SALib: 1.96 x the standard deviation over the resamples). Latin hypercube: first order
  only, by RBD-FAST (Tarantola et al., Reliab. Eng. Syst. Saf. 91:717, 2006; SALib). An output
  that does not vary over the design has no indices (``null``, with the reason);
- ``tornado``: per output, each input's one-at-a-time swing (others at nominal), largest first;
- ``thresholds``: where a conclusion changes as one input moves, others at nominal (bisection;
  the crossing is bracketed between two evaluated values; monotone between them is assumed);
- ``conclusions``: per stated conclusion, the share of the sampled input space in which it holds
  (each sampled point judged by its mean over its replications), with a Wilson interval, and
  whether it holds at nominal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jointbmd import campaign as camp
from jointbmd.analysis import study as st
from jointbmd.analysis.statistics import (
    mean_interval,
    paired_difference,
    paired_proportion_difference,
    proportion_interval,
    wilson_interval,
)
from jointbmd.scenario import Scenario
from jointbmd.store import Selection, Store

SOBOL_CI_METHOD = "bootstrap (SALib: +-1.96 standard deviations of {n} resamples)"


@dataclass(frozen=True)
class StudyRun:
    campaign_id: int
    points: int
    ran: int
    seconds: float
    executor: str
    threshold_campaigns: tuple[int, ...]


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def run_study(
    scenario: Scenario,
    study: st.Study,
    store: Store,
    *,
    samples: int | None = None,
    replications: int | None = None,
    executor: Any = None,
    replication_function: Any = None,
    progress: bool = False,
    file: str | None = None,
) -> StudyRun:
    """Run (or resume) the study's main design and its threshold searches into ``store``."""
    study = _with_budget(study, samples, replications)
    nominal = st.check_against(study, scenario, file=file)
    arrangements = st.chosen_arrangements(study, scenario)
    points, sampled, _ = st.design_points(study, nominal, study.design.samples)
    design = st.study_design_record(study, study.design.samples, nominal, sampled)
    plan = camp.plan_points(
        scenario,
        points,
        design,
        replications=study.design.replications,
        seed=study.design.seed,
        arrangements=arrangements,
    )
    owned = executor is None
    executor = executor or camp.InProcess()
    try:
        main = camp.run_plan(
            scenario,
            plan,
            store,
            scenario_of=lambda i: st.build_point(scenario, study, points[i]),
            chunk_points=st.DEFAULT_CHUNK_POINTS,
            executor=executor,
            replication_function=replication_function,
            progress=progress,
        )
        seconds, ran = main.seconds, main.ran
        extra: list[int] = []
        for index, threshold in enumerate(study.thresholds):
            runs = _bisect(
                scenario, study, nominal, plan, index, threshold, store, executor,
                replication_function, arrangements,
            )  # fmt: skip
            extra += [r.campaign_id for r in runs]
            seconds += sum(r.seconds for r in runs)
            ran += sum(r.ran for r in runs)
    finally:
        if owned:
            executor.close()
    return StudyRun(main.campaign_id, len(points), ran, seconds, main.executor, tuple(extra))


def _with_budget(study: st.Study, samples: int | None, replications: int | None) -> st.Study:
    update = {}
    if samples is not None:
        update["samples"] = samples
    if replications is not None:
        update["replications"] = replications
    if not update:
        return study
    design = st.Design.model_validate({**study.design.model_dump(), **update})
    return study.model_copy(update={"design": design})


def _bisect(
    scenario, study, nominal, main_plan, index, threshold, store, executor, runner, arrangements
) -> list[camp.CampaignRun]:
    """Bisect one threshold: evaluate both ends, then halve the bracket ``steps`` times."""
    spec = study.input(threshold.input)
    replications = threshold.replications or study.design.replications
    names = [threshold.arrangement] + ([threshold.versus] if threshold.versus else [])
    runs: list[camp.CampaignRun] = []

    def evaluate(x: float) -> float:
        point = {**nominal, spec.name: x}
        design = {
            "kind": "study",
            "role": "threshold",
            "study_key": main_plan.key,
            "threshold": index,
            "input": spec.name,
            "value": x,
        }
        plan = camp.plan_points(
            scenario, [point], design, replications=replications, seed=study.design.seed,
            arrangements=names,
        )  # fmt: skip
        run = camp.run_plan(
            scenario, plan, store, scenario_of=lambda _: st.build_point(scenario, study, point),
            chunk_points=1, executor=executor, replication_function=runner,
        )  # fmt: skip
        runs.append(run)
        return _threshold_value(store, run.campaign_id, threshold, replications)

    low, high = spec.levels()
    side_low = evaluate(low) >= threshold.level
    if (evaluate(high) >= threshold.level) == side_low:
        return runs
    a, b = low, high
    for _ in range(threshold.steps):
        mid = _midpoint(spec, a, b)
        if (evaluate(mid) >= threshold.level) == side_low:
            a = mid
        else:
            b = mid
    return runs


def _midpoint(spec: st.StudyInput, a: float, b: float) -> float:
    if spec.distribution == "loguniform":
        mid = math.sqrt(a * b)
    else:
        mid = (a + b) / 2.0
    return int(round(mid)) if spec.integer else mid


# ---------------------------------------------------------------------------------------------
# Reading back
# ---------------------------------------------------------------------------------------------


def _outcomes(
    store: Store, campaign_id: int, arrangements: Sequence[str], replications: int, points: int
) -> dict[str, dict[str, np.ndarray]]:
    """metric -> arrangement -> array (points, replications) of each replication's outcome."""
    cols = store.replication_outcomes(
        Selection(campaign_id, replications=replications, arrangements=tuple(arrangements))
    )
    out: dict[str, dict[str, np.ndarray]] = {
        m: {a: np.full((points, replications), np.nan) for a in arrangements} for m in st.METRICS
    }
    point = cols["point"].astype(int)
    rep = cols["replication"].astype(int)
    for a in arrangements:
        mask = cols["arrangement"] == a
        for m in st.METRICS:
            out[m][a][point[mask], rep[mask]] = cols[m][mask]
    return out


def _threshold_value(store: Store, campaign_id: int, threshold: st.Threshold, reps: int) -> float:
    names = [threshold.arrangement] + ([threshold.versus] if threshold.versus else [])
    data = _outcomes(store, campaign_id, names, reps, 1)[threshold.metric]
    value = float(np.mean(data[threshold.arrangement][0]))
    if threshold.versus:
        value -= float(np.mean(data[threshold.versus][0]))
    return value


def output_names(arrangements: Sequence[str], baseline: str) -> list[str]:
    names = [f"{m}[{a}]" for m in st.METRICS for a in arrangements]
    names += [f"delta_{m}[{a} - {baseline}]" for m in st.METRICS for a in arrangements
              if a != baseline]  # fmt: skip
    return names


def _per_point(
    outcomes: dict[str, dict[str, np.ndarray]], arrangements: Sequence[str], baseline: str
) -> dict[str, np.ndarray]:
    """output name -> (points, replications) array (differences paired by replication)."""
    out = {}
    for m in st.METRICS:
        for a in arrangements:
            out[f"{m}[{a}]"] = outcomes[m][a]
    for m in st.METRICS:
        for a in arrangements:
            if a != baseline:
                out[f"delta_{m}[{a} - {baseline}]"] = outcomes[m][a] - outcomes[m][baseline]
    return out


def _sampled_rows(method: str, sampled: int, k: int) -> np.ndarray:
    """The rows of the design drawn independently from the inputs' distribution (Saltelli's A
    and B matrices; every row of a Latin hypercube)."""
    if method == "sobol":
        block = k + 2
        starts = np.arange(0, sampled, block)
        return np.sort(np.concatenate([starts, starts + block - 1]))
    return np.arange(sampled)


def sobol_indices(
    study: st.Study, y: np.ndarray, x_unit: np.ndarray | None = None
) -> dict[str, Any] | None:
    """input -> {first, total} ({value, ci}) of one output over the design's sampled points;
    None when the output does not vary."""
    y = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(y)) or float(np.var(y)) == 0.0:
        return None
    problem = st.salib_problem(study)
    seed = study.design.seed % 2**32
    if study.design.method == "sobol":
        from SALib.analyze import sobol

        res = sobol.analyze(
            problem, y, calc_second_order=False, num_resamples=study.design.bootstrap,
            conf_level=0.95, seed=seed, print_to_console=False,
        )  # fmt: skip
        s1, s1c, st_, stc = res["S1"], res["S1_conf"], res["ST"], res["ST_conf"]
    else:
        from SALib.analyze import rbd_fast

        res = rbd_fast.analyze(
            problem, x_unit, y, num_resamples=study.design.bootstrap, conf_level=0.95,
            seed=seed, print_to_console=False,
        )  # fmt: skip
        s1, s1c = res["S1"], res["S1_conf"]
        st_, stc = [math.nan] * len(s1), [math.nan] * len(s1)
    out = {}
    for i, spec in enumerate(study.inputs):
        out[spec.name] = {
            "first": _index(s1[i], s1c[i]),
            "total": _index(st_[i], stc[i]),
        }
    return out


def _index(value: float, half: float) -> dict[str, Any]:
    if not math.isfinite(value):
        return {"value": None, "ci": None}
    return {"value": float(value), "ci": [float(value - half), float(value + half)]}


def main_campaign(store: Store, campaign_id: int | None = None):
    """The study campaign to read: the given one, or the most recent main study campaign."""
    if campaign_id is not None:
        return store.campaign(campaign_id)
    studies = [c for c in _campaigns(store) if _design(c).get("role") == "main"]
    if not studies:
        return None
    return max(studies, key=lambda c: (c.created, c.campaign_id))


def _campaigns(store: Store) -> list:
    """Every campaign record in the store, oldest first."""
    return store.campaigns()


def _design(record) -> dict[str, Any]:
    design = record.spec.get("design") or {}
    return design if design.get("kind") == "study" else {}


def is_study(record) -> bool:
    return _design(record).get("role") == "main"


def study_result(store: Store, record) -> dict[str, Any]:
    """The whole result of a stored study (main campaign ``record``), from the store alone."""
    design = _design(record)
    study = st.Study.model_validate(design["study"])
    nominal = design["nominal"]
    sampled = int(design["sampled_points"])
    arrangements = list(record.spec["arrangements"])
    baseline = st.baseline_of(study, arrangements)
    reps = int(record.spec["replications"])
    points = len(record.points)
    per_point = _per_point(_outcomes(store, record.campaign_id, arrangements, reps, points),
                           arrangements, baseline)  # fmt: skip
    means = {name: np.nanmean(v, axis=1) for name, v in per_point.items()}
    labels = st.oat_points(study, nominal)
    oat_index = {label: sampled + i for i, label in enumerate(labels)}
    nominal_row = oat_index[(None, None)]
    x_unit = st.unit_design(study, int(design["samples"])) if sampled else None
    rows = _sampled_rows(study.design.method, sampled, len(study.inputs))
    outputs, indices, tornado = {}, {}, {}
    for name in output_names(arrangements, baseline):
        values = per_point[name]
        outputs[name] = {
            "nominal": _nominal_estimate(
                name, values[nominal_row], per_point, nominal_row, baseline
            ),  # fmt: skip
            "design_mean": float(np.nanmean(means[name][rows])) if sampled else None,
            "design_p05_p95": (
                [float(q) for q in np.nanquantile(means[name][rows], [0.05, 0.95])]
                if sampled
                else None
            ),
        }
        if sampled and study.design.method in ("sobol", "lhs"):
            indices[name] = sobol_indices(study, means[name][:sampled], x_unit)
        tornado[name] = _tornado(study, means[name], oat_index)
    result = {
        "study": study.name,
        "scenario": record.scenario_name,
        "campaign_id": record.campaign_id,
        "design": {
            "method": study.design.method,
            "samples": int(design["samples"]),
            "sampled_points": sampled,
            "one_at_a_time_points": len(labels),
            "replications": reps,
            "seed": record.seed,
            "arrangements": arrangements,
            "baseline": baseline,
            "index_method": _index_method(study),
        },
        "inputs": [
            {
                "name": spec.name,
                "paths": list(spec.paths),
                "distribution": spec.distribution,
                "range": spec.describe_range(),
                "nominal": nominal[spec.name],
                "unit": spec.unit,
                "source": spec.source,
            }
            for spec in study.inputs
        ],
        "outputs": outputs,
        "indices": indices,
        "tornado": tornado,
        "thresholds": _thresholds(store, record, study),
        "conclusions": [
            _conclusion(c, means, rows, nominal_row, baseline, per_point) for c in study.conclusions
        ],
    }
    return result


def _index_method(study: st.Study) -> str:
    if study.design.method == "sobol":
        return ("Sobol' first-order (Saltelli 2010) and total (Jansen 1999) indices, "
                + SOBOL_CI_METHOD.format(n=study.design.bootstrap))  # fmt: skip
    if study.design.method == "lhs":
        return f"RBD-FAST first-order indices, bootstrap of {study.design.bootstrap} resamples"
    return "one-at-a-time swings only (no indices)"


def _output_name(metric: str, arrangement: str, versus: str | None) -> str:
    if versus:
        return f"delta_{metric}[{arrangement} - {versus}]"
    return f"{metric}[{arrangement}]"


def _nominal_estimate(name, values, per_point, row, baseline) -> dict[str, Any]:
    """The output at the nominal point with its interval over the replications."""
    values = values[np.isfinite(values)]
    if name.startswith("delta_p_no_leak["):
        arrangement = name[len("delta_p_no_leak[") :].split(" - ")[0]
        a = per_point[f"p_no_leak[{arrangement}]"][row]
        b = per_point[f"p_no_leak[{baseline}]"][row]
        return paired_proportion_difference(a > 0.5, b > 0.5).as_dict()
    if name.startswith("delta_"):
        return paired_difference(values, np.zeros_like(values)).as_dict()
    if name.startswith("p_no_leak["):
        return proportion_interval(values > 0.5).as_dict()
    return mean_interval(values).as_dict()


def _tornado(study: st.Study, means: np.ndarray, oat_index: dict) -> list[dict[str, Any]]:
    nominal = float(means[oat_index[(None, None)]])
    bars = []
    for spec in study.inputs:
        levels = spec.levels()
        values = [float(means[oat_index[(spec.name, level)]]) for level in levels]
        bars.append({
            "input": spec.name,
            "levels": levels,
            "values": values,
            "nominal": nominal,
            "swing": float(max(values) - min(values)),
        })  # fmt: skip
    return sorted(bars, key=lambda b: -b["swing"])


def _conclusion(conclusion, means, rows, nominal_row, baseline, per_point) -> dict[str, Any]:
    name = _output_name(conclusion.metric, conclusion.arrangement, conclusion.versus)
    if name not in means:  # a pair against another arrangement than the baseline
        a = per_point[f"{conclusion.metric}[{conclusion.arrangement}]"]
        b = per_point[f"{conclusion.metric}[{conclusion.versus}]"]
        values = np.nanmean(a - b, axis=1)
    else:
        values = means[name]
    sample = values[rows]
    holding = int(sum(conclusion.holds(float(v)) for v in sample))
    n = int(sample.size)
    return {
        "statement": conclusion.statement,
        "output": name,
        "at_least": conclusion.at_least,
        "at_most": conclusion.at_most,
        "share": holding / n if n else None,
        "share_ci": list(wilson_interval(holding, n)) if n else None,
        "share_method": "share of the sampled points (each judged by its replications' mean), "
        "Wilson interval",
        "points": n,
        "holds_at_nominal": conclusion.holds(float(values[nominal_row])),
        "value_at_nominal": float(values[nominal_row]),
    }


def _thresholds(store: Store, record, study: st.Study) -> list[dict[str, Any]]:
    evaluations: dict[int, list[tuple[float, float]]] = {}
    for other in _campaigns(store):
        design = _design(other)
        if design.get("role") != "threshold" or design.get("study_key") != record.campaign_key:
            continue
        index = int(design["threshold"])
        threshold = study.thresholds[index]
        reps = threshold.replications or int(record.spec["replications"])
        value = _threshold_value(store, other.campaign_id, threshold, reps)
        evaluations.setdefault(index, []).append((float(design["value"]), value))
    out = []
    for index, threshold in enumerate(study.thresholds):
        out.append(threshold_summary(threshold, sorted(evaluations.get(index, []))))
    return out


def threshold_summary(threshold: st.Threshold, evaluations: list[tuple[float, float]]) -> dict:
    """The crossing of ``threshold.level`` bracketed by adjacent evaluated inputs."""
    name = _output_name(threshold.metric, threshold.arrangement, threshold.versus)
    base = {
        "input": threshold.input,
        "output": name,
        "level": threshold.level,
        "statement": threshold.statement,
        "evaluations": [{"input": x, "output": y} for x, y in evaluations],
        "method": "bisection with the other inputs at nominal",
    }
    for (x0, y0), (x1, y1) in zip(evaluations, evaluations[1:], strict=False):
        if (y0 >= threshold.level) != (y1 >= threshold.level):
            return {
                **base,
                "crosses": True,
                "bracket": [x0, x1],
                "value": (x0 + x1) / 2.0,
                "direction": "falls" if y0 >= threshold.level else "rises",
            }
    holds = bool(evaluations) and all(y >= threshold.level for _, y in evaluations)
    return {**base, "crosses": False, "bracket": None, "value": None,
            "above_everywhere": holds if evaluations else None}  # fmt: skip
