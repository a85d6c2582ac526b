"""Scenario files: the format (``schema``), field paths (``paths``) and loading (``loader``).

In: a YAML file or a built-in scenario's name. Out: a validated, frozen ``Scenario``.

    from jointbmd.scenario import load_scenario, set_field
    scenario = load_scenario("lisbon2010")
    faster = set_field(scenario, "interceptor_types[SM-3 Block IA].burnout_speed_mps", 3500.0)
"""

from .loader import (
    builtin_names,
    builtin_text,
    load_scenario,
    loads_scenario,
    scenario_hash,
    scenario_to_dict,
    scenario_to_yaml,
    set_field,
    validate_data,
)
from .paths import format_path, get_path, parse_path
from .schema import (
    Arrangement,
    Campaign,
    DataExchangeArrangement,
    DefendedAsset,
    FireUnit,
    FusionCentre,
    IndependentArrangement,
    InfraredType,
    InterceptorType,
    JointArrangement,
    LaunchArea,
    Link,
    Partner,
    PartnerDropsOut,
    RadarType,
    Raid,
    ReentryVehicle,
    Scenario,
    SectoralArrangement,
    Site,
    SiteSensor,
    SpaceSensor,
    Stage,
    Sweep,
    ThreatType,
    Trajectory,
)


def json_schema() -> dict:
    """The JSON Schema of a scenario file (for editors)."""
    from .descriptions import describe

    schema = describe(Scenario.model_json_schema(by_alias=True))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "jointbmd scenario, version 1"
    return schema


__all__ = [
    "Arrangement",
    "Campaign",
    "DataExchangeArrangement",
    "DefendedAsset",
    "FireUnit",
    "FusionCentre",
    "IndependentArrangement",
    "InfraredType",
    "InterceptorType",
    "JointArrangement",
    "LaunchArea",
    "Link",
    "Partner",
    "PartnerDropsOut",
    "RadarType",
    "Raid",
    "ReentryVehicle",
    "Scenario",
    "SectoralArrangement",
    "Site",
    "SiteSensor",
    "SpaceSensor",
    "Stage",
    "Sweep",
    "ThreatType",
    "Trajectory",
    "builtin_names",
    "builtin_text",
    "format_path",
    "get_path",
    "json_schema",
    "load_scenario",
    "loads_scenario",
    "parse_path",
    "scenario_hash",
    "scenario_to_dict",
    "scenario_to_yaml",
    "set_field",
    "validate_data",
]
