"""Uncertainty studies: which inputs drive a conclusion, where it breaks, how sure we are.

In: a scenario and a study file (YAML, format in ``docs/study.md``, JSON Schema from
``jointbmd study --schema``) declaring the scenario's uncertain inputs -- any field path,
including mapping-valued fields, several paths tied to one input, whole list entries that may be
absent (a site) -- each with its range or distribution and the source of that range; a design
(Sobol', Latin hypercube or one-at-a-time), replications per design point and one master seed.
Out: every design point's replications in the results store (through ``jointbmd.campaign``:
resumable, the same numbers on any executor), and ``StudyResult`` (``jointbmd.analysis
.sensitivity``): indices, tornado swings, thresholds and conclusion shares.

How a design point becomes a scenario. Each input is drawn as a unit number u in [0, 1) (the
design's coordinates: Saltelli's scheme on a scrambled Sobol' sequence, via SALib, or a Latin
hypercube, via scipy.stats.qmc) and mapped through its distribution's inverse CDF: ``uniform``
low + u (high - low); ``loguniform`` low (high/low)^u; ``triangular`` scipy's ``triang`` with the
nominal as mode; ``choice`` the value with index floor(u n); ``presence`` present when u < p. The
value is written at every one of the input's paths (tied fields move together); an absent entry
is removed from its list. The resulting data is validated like any scenario, so a value the
scenario cannot take is refused with the input's name.

Campaigns. The main design -- the sampled points, then the one-at-a-time points (nominal, and each
input at each end of its range with the others at nominal) -- is one campaign whose points are the
input values (``campaign.plan_points``). Every point uses the same master seed, so replication r
draws the same random numbers at every point and under every arrangement (common random
numbers): differences between points and between arrangements are not drowned in sampling noise.
Each bisection step of a threshold search is a one-point campaign of its own (its key names the
study, the threshold and the value), so a killed study resumes there too, and the report finds
them in the store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from jointbmd.errors import UserError
from jointbmd.scenario import Scenario, scenario_to_dict, validate_data
from jointbmd.scenario.paths import format_path, loc_of

STUDY_FORMAT = 1
BUILTIN_DIR = Path(__file__).resolve().parent / "studies"
METRICS = ("p_no_leak", "expected_leakers", "interceptors_spent")
DEFAULT_CHUNK_POINTS = 16

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudyInput(_Model):
    """One uncertain input: where it sits in the scenario, how it varies, and why so."""

    name: Name
    paths: Annotated[list[Annotated[str, StringConstraints(min_length=1)]], Field(min_length=1)]
    distribution: Literal["uniform", "loguniform", "triangular", "choice", "presence"] = "uniform"
    range: Annotated[list[float], Field(min_length=2, max_length=2)] | None = None
    values: Annotated[list[Any], Field(min_length=2)] | None = None
    probability: Annotated[float, Field(gt=0, lt=1)] = 0.5
    nominal: Any = None
    integer: bool = False
    unit: str = ""
    source: Text

    @model_validator(mode="after")
    def _shape(self) -> StudyInput:
        continuous = self.distribution in ("uniform", "loguniform", "triangular")
        if continuous:
            if self.range is None:
                raise ValueError(f"a {self.distribution} input needs range: [low, high]")
            low, high = self.range
            if not low < high:
                raise ValueError(f"range must rise, got {self.range}")
            if self.distribution == "loguniform" and low <= 0:
                raise ValueError("a loguniform range must be positive")
        elif self.range is not None:
            raise ValueError(f"a {self.distribution} input takes no range")
        if self.distribution == "choice" and self.values is None:
            raise ValueError("a choice input needs values: [...]")
        if self.distribution != "choice" and self.values is not None:
            raise ValueError("only a choice input takes values")
        if self.distribution == "triangular" and self.nominal is None:
            raise ValueError("a triangular input needs its nominal (the mode)")
        return self

    @property
    def continuous(self) -> bool:
        return self.distribution in ("uniform", "loguniform", "triangular")

    def value(self, u: float) -> Any:
        """The input's value at unit coordinate ``u`` in [0, 1) (the inverse CDF)."""
        u = min(max(float(u), 0.0), 1.0 - 1e-12)
        if self.distribution == "presence":
            return bool(u < self.probability)
        if self.distribution == "choice":
            return self.values[int(u * len(self.values))]
        low, high = self.range
        if self.distribution == "uniform":
            x = low + u * (high - low)
        elif self.distribution == "loguniform":
            x = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        else:
            from scipy.stats import triang

            c = (float(self.nominal) - low) / (high - low)
            x = float(triang.ppf(u, c, loc=low, scale=high - low))
        return int(round(x)) if self.integer else float(x)

    def levels(self) -> list[Any]:
        """The one-at-a-time levels: both ends of a range, every choice, absent and present."""
        if self.distribution == "presence":
            return [False, True]
        if self.distribution == "choice":
            return list(self.values)
        low, high = self.range
        return [int(round(low)), int(round(high))] if self.integer else [low, high]

    def describe_range(self) -> Any:
        if self.distribution == "presence":
            return {"present_probability": self.probability}
        if self.distribution == "choice":
            return list(self.values)
        return list(self.range)


class Design(_Model):
    method: Literal["sobol", "lhs", "oat"] = "sobol"
    samples: Annotated[int, Field(ge=2, le=65536)] = 16
    replications: Annotated[int, Field(ge=1, le=10000)] = 2
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    bootstrap: Annotated[int, Field(ge=20, le=10000)] = 200


class Threshold(_Model):
    """Where does ``output`` of ``arrangement`` (minus ``versus``) cross ``level`` as ``input``
    moves over its range with the other inputs at nominal?"""

    input: Name
    metric: Literal["p_no_leak", "expected_leakers", "interceptors_spent"] = "p_no_leak"
    arrangement: Name
    versus: Name | None = None
    level: float
    steps: Annotated[int, Field(ge=1, le=20)] = 6
    replications: Annotated[int, Field(ge=1, le=10000)] | None = None
    statement: str = ""


class Conclusion(_Model):
    """A stated conclusion: ``metric`` of ``arrangement`` (minus ``versus``) is at least
    ``at_least`` (and/or at most ``at_most``)."""

    statement: Text
    metric: Literal["p_no_leak", "expected_leakers", "interceptors_spent"] = "p_no_leak"
    arrangement: Name
    versus: Name | None = None
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _bound(self) -> Conclusion:
        if self.at_least is None and self.at_most is None:
            raise ValueError("give at_least or at_most")
        return self

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.at_least is not None and value < self.at_least:
            return False
        return not (self.at_most is not None and value > self.at_most)


class Study(_Model):
    """A whole study file."""

    jointbmd_study: Literal[1]
    name: Name
    scenario: Name
    description: str = ""
    arrangements: Annotated[list[Name], Field(min_length=1)] | None = None
    baseline: Name | None = None
    design: Design = Design()
    inputs: Annotated[list[StudyInput], Field(min_length=1, max_length=100)]
    thresholds: list[Threshold] = []
    conclusions: list[Conclusion] = []

    @model_validator(mode="after")
    def _names(self) -> Study:
        names = [i.name for i in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError("two inputs share a name")
        for t in self.thresholds:
            if t.input not in names:
                raise ValueError(f"threshold on unknown input {t.input!r} (inputs: {names})")
            if not next(i for i in self.inputs if i.name == t.input).continuous:
                raise ValueError(f"a threshold needs a continuous input; {t.input!r} is not")
        return self

    def input(self, name: str) -> StudyInput:
        return next(i for i in self.inputs if i.name == name)


def study_schema() -> dict[str, Any]:
    """The JSON Schema of a study file."""
    return Study.model_json_schema()


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def builtin_studies() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def load_study(spec: str | Path) -> tuple[Study, str]:
    """A study from a file or a built-in name; returns it and where it came from."""
    from jointbmd.scenario.loader import parse_yaml

    path = Path(spec)
    if not path.exists() and str(spec) in builtin_studies():
        path = BUILTIN_DIR / f"{spec}.yaml"
    where = str(spec)
    if not path.is_file():
        raise UserError(
            f"no such study file or built-in study (built-in: {', '.join(builtin_studies())})",
            file=where,
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read: {error}", file=where) from None
    data, _ = parse_yaml(text, file=where)
    return validate_study(data, file=where), where


def validate_study(data: Any, file: str | None = None) -> Study:
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise UserError(
            "a study file is a mapping (jointbmd_study: 1, name, inputs, ...)", file=file
        )
    try:
        return Study.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = format_path(first.get("loc", ())) or None
        reason = first.get("msg", "invalid").removeprefix("Value error, ")
        raise UserError(reason, file=file, field=field) from None


def check_against(study: Study, scenario: Scenario, file: str | None = None) -> dict[str, Any]:
    """Check every path and arrangement of ``study`` against ``scenario``; fill the nominal of
    each input from the scenario where the study does not give it. Returns {input: nominal}."""
    data = scenario_to_dict(scenario)
    known = [a.name for a in scenario.arrangements]
    for i, name in enumerate(study.arrangements or []):
        if name not in known:
            raise UserError(
                f"no arrangement {name!r} in {scenario.name} (known: {', '.join(known)})",
                file=file,
                field=f"arrangements[{i}]",
            )
    chosen = study.arrangements or known
    for where, name in _arrangement_refs(study):
        if name not in chosen:
            raise UserError(
                f"arrangement {name!r} is not in the study (arrangements: {', '.join(chosen)})",
                file=file,
                field=where,
            )
    nominal: dict[str, Any] = {}
    for i, spec in enumerate(study.inputs):
        for j, path in enumerate(spec.paths):
            try:
                loc_of(data, path)
            except UserError as error:
                raise UserError(error.reason, file=file, field=f"inputs[{i}].paths[{j}]") from None
        if spec.nominal is not None:
            nominal[spec.name] = spec.nominal
        elif spec.distribution == "presence":
            nominal[spec.name] = True
        else:
            from jointbmd.scenario import get_path

            current = get_path(data, spec.paths[0])
            if spec.distribution == "choice" and current not in spec.values:
                current = spec.values[0]
            nominal[spec.name] = current
    try:
        build_point(scenario, study, nominal)
    except UserError as error:
        raise UserError(
            f"the nominal point is not a valid scenario: {error.reason}",
            file=file,
            field=error.field,
        ) from None
    return nominal


def _arrangement_refs(study: Study) -> list[tuple[str, str]]:
    refs = []
    if study.baseline is not None:
        refs.append(("baseline", study.baseline))
    for kind, items in (("thresholds", study.thresholds), ("conclusions", study.conclusions)):
        for i, item in enumerate(items):
            refs.append((f"{kind}[{i}].arrangement", item.arrangement))
            if item.versus is not None:
                refs.append((f"{kind}[{i}].versus", item.versus))
    return refs


# ---------------------------------------------------------------------------------------------
# Points and designs
# ---------------------------------------------------------------------------------------------


def build_point(scenario: Scenario, study: Study, values: dict[str, Any]) -> Scenario:
    """The scenario at one design point: each input's value at each of its paths; absent
    entries removed (after every value is set, so name paths still resolve)."""
    data = scenario_to_dict(scenario)
    data.pop("campaign", None)
    removals: list[list[str | int]] = []
    for spec in study.inputs:
        value = values[spec.name]
        for path in spec.paths:
            loc = loc_of(data, path)
            if spec.distribution == "presence":
                if not value:
                    removals.append(loc)
                continue
            container = data
            for key in loc[:-1]:
                container = container[key]
            container[loc[-1]] = value
    # Remove from the deepest and highest index first, so earlier locations stay valid.
    for loc in sorted(removals, key=lambda x: [(-k if isinstance(k, int) else 0) for k in x]):
        container = data
        for key in loc[:-1]:
            container = container[key]
        if not isinstance(container, list):
            raise UserError("only a list entry can be absent", field=format_path(loc))
        del container[loc[-1]]
    try:
        return validate_data(data)
    except UserError as error:
        point = ", ".join(f"{k}={v!r}" for k, v in values.items())
        raise UserError(f"{error.one_line()} (at {point})") from None


def unit_design(study: Study, samples: int) -> np.ndarray:
    """The design's unit coordinates, one row per point (inputs in study order)."""
    k = len(study.inputs)
    method = study.design.method
    if method == "sobol":
        from SALib.sample import sobol

        problem = salib_problem(study)
        return np.asarray(
            sobol.sample(
                problem,
                samples,
                calc_second_order=False,
                scramble=True,
                seed=study.design.seed % 2**32,
            ),
        )
    if method == "lhs":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=k, seed=study.design.seed).random(samples)
    return np.empty((0, k))


def salib_problem(study: Study) -> dict[str, Any]:
    names = [i.name for i in study.inputs]
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def oat_points(study: Study, nominal: dict[str, Any]) -> list[tuple[str | None, Any]]:
    """The one-at-a-time points: (None, None) for nominal, then (input, level) per level."""
    out: list[tuple[str | None, Any]] = [(None, None)]
    for spec in study.inputs:
        for level in spec.levels():
            out.append((spec.name, level))
    return out


def design_points(
    study: Study, nominal: dict[str, Any], samples: int
) -> tuple[list[dict[str, Any]], int, list[tuple[str | None, Any]]]:
    """Every point of the main campaign (the sampled ones, then the one-at-a-time ones) as
    {input: value}; returns them, the number sampled, and the one-at-a-time labels."""
    unit = unit_design(study, samples)
    points = [
        {spec.name: spec.value(u) for spec, u in zip(study.inputs, row, strict=True)}
        for row in unit
    ]
    labels = oat_points(study, nominal)
    for name, level in labels:
        point = dict(nominal)
        if name is not None:
            point[name] = level
        points.append(point)
    return points, len(unit), labels


def study_design_record(
    study: Study, samples: int, nominal: dict[str, Any], sampled: int, role: str = "main"
) -> dict[str, Any]:
    """What the store keeps of a study in its campaign's spec (``spec['design']``): enough to
    analyse the stored results with nothing but the store. Part of the campaign's key, so it
    leaves out what a later run may extend, as a campaign's key does: the replications and the
    arrangements (the campaign's spec records those)."""
    data = study.model_dump(mode="json")
    data["design"].pop("replications")
    data.pop("arrangements")
    return {
        "kind": "study",
        "role": role,
        "study": data,
        "samples": samples,
        "sampled_points": sampled,
        "nominal": nominal,
    }


def chosen_arrangements(study: Study, scenario: Scenario) -> list[str]:
    return list(study.arrangements or [a.name for a in scenario.arrangements])


def baseline_of(study: Study, arrangements: Sequence[str]) -> str:
    return study.baseline or arrangements[0]
