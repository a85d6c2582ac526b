"""What every key of a scenario file means: one text per (section, key).

In: nothing (a table). Out: the ``description`` of every property in the JSON Schema
(``jointbmd.scenario.json_schema``) and the key tables of docs/scenario.md ("Key reference"),
both made from ``DESCRIPTIONS`` so that they cannot disagree. ``python -m
jointbmd.scenario.descriptions`` prints the key tables as Markdown; a test checks that the docs
hold exactly that text and that every property of the schema has a description.

Sections are the schema's model names; keys are as written in YAML (``class``, not ``class_``).
"""

from __future__ import annotations

from typing import Any

_NAME = "unique name; other entries refer to it by this name"
_SOURCE = "where the numbers come from (a public source), or 'notional'"
_LAT = "geodetic latitude (WGS84), degrees"
_LON = "longitude, degrees east"
_ASPECT = (
    "[[aspect_deg, dB], ...]: cross-section change with aspect (0° nose-on, 180° tail-on), "
    "interpolated linearly, held beyond the end nodes (left out: 0 dB)"
)
_BAND = "band -> dB: cross-section change in that radar band (VHF ... Ka; left out: 0 dB)"
_ARRANGEMENT = {
    "name": _NAME,
    "kind": "which arrangement: independent, data-exchange, sectoral or joint",
    "decision_latency_s": "time from a firm track to the order to fire, s",
    "partner_data_use": "how far one partner's sensors may serve another's interceptors: none, "
    "cue, launch-on-remote or engage-on-remote (left out: the kind's default)",
    "source": _SOURCE,
}

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Scenario": {
        "jointbmd": "format version of the file (this jointbmd reads 1)",
        "name": "scenario name (stored with every result)",
        "description": "free text: what the scenario stands for",
        "epoch": "UTC date and time of t = 0; every time in the file counts from it",
        "model": "Earth model: full (WGS84, rotation, J2, drag) or ideal (a non-rotating sphere)",
        "partners": "the parties to the defence (at least one)",
        "fusion_centre": "the joint data fusion centre, an end point of links (optional)",
        "sensor_types": "catalogue of radar and space-based infrared sensor types",
        "interceptor_types": "catalogue of interceptor types",
        "threat_types": "catalogue of ballistic-missile types",
        "sites": "land sites and ships holding radars and fire units",
        "space_sensors": "space-based infrared launch detectors, each of an infrared type",
        "launch_areas": "where threats are launched from",
        "defended_assets": "what the threats aim at (cities, sites)",
        "raids": "salvos of one threat type from one launch area at one aimpoint",
        "links": "communication links between partners and the fusion centre",
        "arrangements": "the cooperation arrangements to compare (at least one)",
        "events": "things that happen during a replication (a partner dropping out)",
        "campaign": "replications, seed and sweeps a campaign runs (optional)",
    },
    "Partner": {
        "name": _NAME,
        "territory": "[lat_deg, lon_deg] vertices of the partner's territory (sectoral "
        "arrangements; where intercept debris falls)",
        "sector": "[lat_deg, lon_deg] vertices of a sector drawn for a sectoral arrangement with "
        "sectors: sector",
        "source": _SOURCE,
    },
    "FusionCentre": {
        "name": "name of the fusion centre (a link end point)",
        "lat_deg": _LAT + " (optional: only shown on maps)",
        "lon_deg": _LON + " (optional)",
        "source": _SOURCE,
    },
    "RadarType": {
        "name": _NAME,
        "kind": "radar",
        "reference_range_km": "detection range against reference_rcs_m2 at reference_snr_db, km",
        "reference_rcs_m2": "radar cross-section the reference range refers to, m²",
        "reference_snr_db": "signal-to-noise ratio at the reference range and cross-section, dB",
        "detection_snr_db": "SNR a detection needs, dB",
        "pfa": "false-alarm probability per look (for the models that use it)",
        "revisit_s": "time between dedicated looks at a target once acquired or cued, s",
        "range_noise_m": "1-sigma range error at reference_snr_db, m",
        "angle_noise_mrad": "1-sigma angle error at reference_snr_db, mrad",
        "min_range_km": "minimum range, km",
        "reference_rcs_span_m2": "[low, high]: plausible span of reference_rcs_m2 when the public "
        "record does not state it, m²",
        "search_frame_s": "time to search the whole volume once when uncued, s (none: every "
        "target is looked at every revisit_s)",
        "search_loss_db": "how much weaker a search look is than a dedicated look, dB",
        "band": "IEEE radar band (VHF, UHF, L, S, C, X, ...)",
        "discrimination": "how the radar classes the objects of a threat complex (left out: "
        "the band's notional default, objects.py)",
        "data_use": "what its tracks may do for interceptors: cue, launch-on-remote or "
        "engage-on-remote",
        "source": _SOURCE,
    },
    "InfraredType": {
        "name": _NAME,
        "kind": "infrared",
        "latency_s": "time from a launch to its report, s",
        "launch_position_sigma_km": "1-sigma error of the reported launch point, km",
        "heading_sigma_deg": "1-sigma error of the reported heading, degrees",
        "launch_time_sigma_s": "1-sigma error of the reported launch time, s",
        "source": _SOURCE,
    },
    "InterceptorType": {
        "name": _NAME,
        "burnout_speed_mps": "speed at burnout, m/s",
        "burn_time_s": "time from launch to burnout, s",
        "min_altitude_km": "lowest intercept altitude, km",
        "max_altitude_km": "highest intercept altitude, km (none: no ceiling)",
        "max_range_km": "greatest ground range from the site to the intercept point, km "
        "(none: kinematics only)",
        "sspk": "single-shot kill probability",
        "firm_position_sigma_km": "largest position uncertainty of a track it may be launched "
        "on, km",
        "kv_acquisition_range_km": "range at which the kill vehicle's seeker acquires the "
        "target, km (none: no basket check)",
        "kv_field_of_view_deg": "full field of view of the kill vehicle's seeker, degrees",
        "kv_divert_mps": "velocity the kill vehicle can divert by, m/s",
        "source": _SOURCE,
    },
    "ThreatType": {
        "name": _NAME,
        "class": "SRBM, MRBM, IRBM or ICBM: a label, checked against the range, not simulated",
        "stages": "the boost stages, fired in order",
        "decoys": "decoys released with each warhead (left out: none)",
        "payload_mass_kg": "mass the last stage carries (re-entry vehicle and any bus), kg",
        "reentry_vehicle": "the warhead-carrying re-entry vehicle",
        "body_rcs_m2": "radar cross-section of the missile body in boost, m²",
        "source": _SOURCE,
    },
    "Stage": {
        "burn_time_s": "burn time, s",
        "delta_v_mps": "ideal velocity gain, m/s (instead of the three masses and isp_s)",
        "propellant_mass_kg": "propellant mass, kg",
        "dry_mass_kg": "mass without propellant, kg",
        "isp_s": "specific impulse, s",
        "source": _SOURCE,
    },
    "ReentryVehicle": {
        "ballistic_coefficient_kg_m2": "ballistic coefficient m / (Cd A), kg/m²",
        "rcs_m2": "radar cross-section, m² (before the aspect and band corrections)",
        "rcs_aspect_db": _ASPECT,
        "rcs_band_db": _BAND,
        "mass_kg": "mass, kg (at most the payload mass)",
        "source": _SOURCE,
    },
    "Decoys": {
        "count": "decoys released with each warhead at burnout; they fly its trajectory",
        "rcs_m2": "a decoy's radar cross-section, m² (before the aspect and band corrections)",
        "rcs_aspect_db": _ASPECT,
        "rcs_band_db": _BAND,
        "source": _SOURCE,
    },
    "Discrimination": {
        "p_warhead_as_warhead": "probability that the radar calls a warhead a warhead",
        "p_decoy_as_warhead": "probability that it calls a decoy a warhead",
        "p_stage_as_warhead": "probability that it calls a spent stage a warhead",
        "source": _SOURCE,
    },
    "Site": {
        "name": _NAME,
        "partner": "the partner that owns it",
        "kind": "land or ship",
        "lat_deg": _LAT,
        "lon_deg": _LON,
        "alt_m": "height above the WGS84 ellipsoid, m",
        "sensors": "its radars",
        "fire_units": "its interceptor batteries",
        "source": _SOURCE,
    },
    "SiteSensor": {
        "name": "unique name across all sites",
        "type": "a sensor type of kind radar",
        "boresight_az_deg": "centre of the field of regard, degrees from north, clockwise",
        "az_half_width_deg": "half-width of the field of regard in azimuth, degrees (180: all "
        "round)",
        "min_elevation_deg": "lowest elevation it sees, degrees (below 0 for an elevated radar)",
        "max_elevation_deg": "highest elevation it sees, degrees",
        "source": _SOURCE,
    },
    "FireUnit": {
        "name": "unique name across all sites",
        "interceptor_type": "an interceptor type",
        "inventory": "interceptors on hand",
        "kill_assessment_p_correct": "probability that the kill assessment after a salvo calls "
        "the target's state right (1: perfect)",
        "salvo": "interceptors fired per engagement",
        "launch_interval_s": "time between the shots of a salvo, s",
        "doctrine": "barrage (the whole salvo at once) or shoot-look-shoot",
        "kill_assessment_delay_s": "time to assess a kill before the next engagement, s",
        "source": _SOURCE,
    },
    "SpaceSensor": {
        "name": _NAME,
        "partner": "the partner that owns it",
        "type": "a sensor type of kind infrared",
        "source": _SOURCE,
    },
    "LaunchArea": {
        "name": _NAME,
        "lat_deg": _LAT + " of its centre",
        "lon_deg": _LON + " of its centre",
        "radius_km": "radius within which launch points are drawn, km",
        "source": _SOURCE,
    },
    "DefendedAsset": {
        "name": _NAME,
        "partner": "the partner that defends it",
        "lat_deg": _LAT,
        "lon_deg": _LON,
        "value": "relative value (weights of value-based measures)",
        "source": _SOURCE,
    },
    "Raid": {
        "name": _NAME,
        "threat_type": "a threat type",
        "launch_area": "a launch area",
        "aimpoint": "a defended asset",
        "count": "missiles in the raid",
        "launch_time_s": "time of the first launch, s after the epoch",
        "interval_s": "time between launches, s",
        "trajectory": "minimum-energy, or {apogee_km: ...} (lofted or depressed) or "
        "{flight_time_s: ...}",
        "source": _SOURCE,
    },
    "Trajectory": {
        "apogee_km": "apogee altitude to fly through, km",
        "flight_time_s": "flight time to achieve, s",
    },
    "Link": {
        "name": "link name (default: A-B)",
        "a": "one end: a partner or the fusion centre",
        "b": "the other end",
        "latency_s": "one-way delay of a message, s",
        "jitter_s": "spread of the delay, s",
        "loss_probability": "probability that a message is lost",
        "outages": "intervals during which the link carries nothing",
        "source": _SOURCE,
    },
    "Outage": {
        "start_s": "start of the outage, s after the epoch",
        "end_s": "end of the outage, s after the epoch",
    },
    "IndependentArrangement": dict(_ARRANGEMENT),
    "DataExchangeArrangement": dict(_ARRANGEMENT),
    "SectoralArrangement": {
        **_ARRANGEMENT,
        "sectors": "territory (the partners' territories), sector (their sector polygons), or "
        "a mapping partner -> [lat_deg, lon_deg] vertices",
    },
    "JointArrangement": {
        **_ARRANGEMENT,
        "vote_rule": "consensus, majority or any-may-fire",
        "vote_latency_s": "partner -> time it takes to vote, s (0 for a partner not listed)",
        "abstain": "partners that do not vote",
        "veto": "partners whose vote against is a veto",
    },
    "PartnerDropsOut": {
        "kind": "partner-drops-out",
        "partner": "the partner that leaves",
        "time_s": "when it leaves, s after the epoch",
    },
    "Campaign": {
        "replications": "replications per arrangement and sweep point",
        "seed": "master seed: the same seed gives the same numbers",
        "sweep": "inputs to sweep; the campaign runs the product of their values",
    },
    "Sweep": {
        "path": "field path of the input (e.g. links[NATO-DFC].latency_s)",
        "values": "the values to run (give values or range)",
        "range": "evenly spaced values {start, stop, num}, both ends included",
    },
    "SweepRange": {
        "start": "first value",
        "stop": "last value",
        "num": "number of values",
    },
}

# The order of the sections in docs/scenario.md's key reference.
SECTIONS = (
    "Scenario", "Partner", "FusionCentre", "RadarType", "Discrimination", "InfraredType",
    "InterceptorType", "ThreatType", "Stage", "ReentryVehicle", "Decoys", "Site", "SiteSensor",
    "FireUnit", "SpaceSensor",
    "LaunchArea", "DefendedAsset", "Raid", "Trajectory", "Link", "Outage",
    "IndependentArrangement", "DataExchangeArrangement", "SectoralArrangement",
    "JointArrangement", "PartnerDropsOut", "Campaign", "Sweep", "SweepRange",
)  # fmt: skip


def describe(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (a scenario JSON Schema) with a description on every property we know."""
    for name, definition in [("Scenario", schema), *schema.get("$defs", {}).items()]:
        known = DESCRIPTIONS.get(name, {})
        for key, prop in definition.get("properties", {}).items():
            if key in known:
                prop["description"] = known[key]
    return schema


def key_tables() -> str:
    """The key tables of docs/scenario.md (Markdown), from the JSON Schema and ``DESCRIPTIONS``."""
    from jointbmd.scenario import json_schema

    schema = json_schema()
    defs = {"Scenario": schema, **schema.get("$defs", {})}
    # Every section of the schema has a table: those SECTIONS does not place come last.
    order = [*SECTIONS, *(name for name in defs if name not in SECTIONS)]
    out = []
    for name in order:
        definition = defs.get(name)
        if definition is None:
            continue
        required = set(definition.get("required", []))
        out.append(f"### {name}\n\n| key | default | meaning |\n|---|---|---|")
        for key, prop in definition.get("properties", {}).items():
            default = "required" if key in required else _default(prop.get("default"))
            text = prop.get("description", "")
            out.append(f"| `{key}` | {default} | {text.replace('|', '/')} |")
        out.append("")
    return "\n".join(out)


def _default(value: Any) -> str:
    if value is None:
        return "none"
    if value in ([], {}, ""):
        return "empty"
    return f"`{value}`"


if __name__ == "__main__":  # pragma: no cover
    print(key_tables(), end="")
