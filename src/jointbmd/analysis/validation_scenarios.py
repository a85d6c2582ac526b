"""Small scenarios built in code for the validation checks and the end-to-end tests.

In: a few numbers (how many threats, the interceptor's single-shot kill probability, the salvo,
the Earth model). Out: a validated ``jointbmd.scenario.Scenario`` (built as plain data and checked
by ``jointbmd.scenario.validate_data``, exactly as a YAML file would be), ready for
``jointbmd.simulation.run_replication``. ``*_data`` variants return the plain data, to change
before validating.

- ``perfect_sensing``: the conditions of Wilkening's closed form (Science & Global Security 8(2),
  1999/2000; ``docs/reference.md``). One partner; an all-round radar beside the launch
  area with an enormous reference range, metre noise and a short revisit (``revisit_s``), so
  every threat is detected from lift-off and tracked firm soon after burnout (P_track = 1); one
  fire unit with enough inventory, sited at the defended
  city, so that it meets every threat head-on in mid-course; no decision latency; no links (one
  partner: nothing to exchange). Each threat is then engaged once by a barrage of ``salvo``
  interceptors and P(no leak) = (1 - (1 - SSPK)^n)^N.
- ``tail_chase``: a slow interceptor sited behind the launch area of a much faster missile that
  flies away from it -- kinematically impossible, so it must never be engaged. With
  ``behind=False`` the same interceptor stands at the aimpoint instead (a head-on control that
  shows the interceptor can engage that missile at all).
- ``two_partner``: two partners each with a radar, a fire unit and a city, a fusion centre with
  perfect links and all four arrangements -- for the tests of the arrangements' rules.

Everything here is notional test geometry (no real site), in degrees and km like a scenario file.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import numpy as np

from jointbmd import earth
from jointbmd.scenario import Scenario, validate_data

Model = Literal["ideal", "full"]

#: A radar that sees everything: reference range at the schema's ceiling, metre-level noise
#: (the builders set the revisit). Its SNR at 2000 km is ~70 dB, so P_d = P_fa^(1/(1+SNR)) is 1
#: to within 1e-6 and the noise is at its floor.
PERFECT_RADAR: dict[str, Any] = {
    "name": "perfect radar",
    "kind": "radar",
    "reference_range_km": 40_000.0,
    "reference_rcs_m2": 1.0,
    "reference_snr_db": 13.0,
    "detection_snr_db": 13.0,
    "revisit_s": 1.0,
    "range_noise_m": 1.0,
    "angle_noise_mrad": 0.01,
    "source": "notional: a perfect sensor for validation",
}

#: An MRBM-class single-stage missile, described by its delta-v (about 1000 km minimum energy).
TEST_MRBM: dict[str, Any] = {
    "name": "test MRBM",
    "class": "MRBM",
    "stages": [{"burn_time_s": 60.0, "delta_v_mps": 3800.0}],
    "payload_mass_kg": 1000.0,
    "reentry_vehicle": {"ballistic_coefficient_kg_m2": 5000.0, "rcs_m2": 1.0, "mass_kg": 1000.0},
    "body_rcs_m2": 1.0,
    "source": "notional test missile",
}

#: An IRBM-class missile: burnout near 5 km/s (about 3000 km minimum energy).
TEST_IRBM: dict[str, Any] = {
    "name": "test IRBM",
    "class": "IRBM",
    "stages": [{"burn_time_s": 60.0, "delta_v_mps": 5600.0}],
    "payload_mass_kg": 700.0,
    "reentry_vehicle": {"ballistic_coefficient_kg_m2": 8000.0, "rcs_m2": 1.0, "mass_kg": 700.0},
    "body_rcs_m2": 1.0,
    "source": "notional test missile",
}

#: An SM-3 Block IA-like exo-atmospheric interceptor (docs/reference.md: about 3 km/s, 850 km range,
#: 550 km ceiling); the kill probability is set per scenario.
TEST_INTERCEPTOR: dict[str, Any] = {
    "name": "test interceptor",
    "burnout_speed_mps": 3000.0,
    "burn_time_s": 30.0,
    "min_altitude_km": 70.0,
    "max_altitude_km": 550.0,
    "max_range_km": 850.0,
    "sspk": 0.7,
    "firm_position_sigma_km": 1.0,
    "kv_acquisition_range_km": 300.0,
    "kv_field_of_view_deg": 1.0,
    "kv_divert_mps": 300.0,
    "source": "SM-3 Block IA-like kinematics (reference.md); SSPK set by the check; kill vehicle "
    "as lisbon2010's (notional), so that the handover is checked with perfect tracks too",
}

_EPOCH = "2012-06-01T00:00:00Z"

# Test geography (notional): a launch area and a city about 1050 km to its north-west.
LAUNCH = {"lat_deg": 30.0, "lon_deg": 50.0}
CITY = {"lat_deg": 38.0, "lon_deg": 44.0}


def _radar_site(name: str, partner: str, lat_deg: float, lon_deg: float) -> dict[str, Any]:
    return {
        "name": name,
        "partner": partner,
        "lat_deg": lat_deg,
        "lon_deg": lon_deg,
        "sensors": [{"name": f"{name} radar", "type": PERFECT_RADAR["name"]}],
    }


def _fire_unit(name: str, inventory: int, salvo: int, doctrine: str = "barrage") -> dict:
    return {
        "name": name,
        "interceptor_type": TEST_INTERCEPTOR["name"],
        "inventory": inventory,
        "salvo": salvo,
        "launch_interval_s": 0.0,
        "doctrine": doctrine,
        "kill_assessment_delay_s": 0.0,
    }


def perfect_sensing_data(
    n_threats: int = 1,
    sspk: float = 0.7,
    salvo: int = 1,
    model: Model = "ideal",
    *,
    draws: int = 1,
    revisit_s: float = 2.0,
    interval_s: float = 15.0,
    decoys: int = 0,
    p_warhead_as_warhead: float | None = None,
    p_decoy_as_warhead: float | None = None,
    salvos: int = 1,
    p_kill_assessment: float = 1.0,
) -> dict[str, Any]:
    """The plain data of ``perfect_sensing`` (to change before validating)."""
    interceptor = {**TEST_INTERCEPTOR, "sspk": float(sspk)}
    radar = {**PERFECT_RADAR, "revisit_s": float(revisit_s)}
    if p_warhead_as_warhead is not None:
        radar["discrimination"] = {
            "p_warhead_as_warhead": float(p_warhead_as_warhead),
            "p_decoy_as_warhead": float(p_decoy_as_warhead if p_decoy_as_warhead else 0.0),
            "p_stage_as_warhead": 0.0,
        }
    threat = copy.deepcopy(TEST_MRBM)
    if decoys:
        threat["decoys"] = {"count": int(decoys), "rcs_m2": 1.0, "source": "notional test decoys"}
    city_site = {"name": "City", "partner": "Blue", **CITY}
    inventory = n_threats * (1 + decoys) * salvo * salvos
    doctrine = "barrage" if salvos == 1 else "shoot-look-shoot"
    city_site["fire_units"] = [_fire_unit("City battery", inventory, salvo, doctrine)]
    city_site["fire_units"][0]["kill_assessment_p_correct"] = float(p_kill_assessment)
    if draws == 1:
        names = ["independent"]
    else:
        names = [f"independent-{i:03d}" for i in range(draws)]
    return {
        "jointbmd": 1,
        "name": f"perfect-sensing N={n_threats} SSPK={sspk} n={salvo} ({model})",
        "epoch": _EPOCH,
        "model": model,
        "partners": [{"name": "Blue"}],
        "sensor_types": [radar],
        "interceptor_types": [interceptor],
        "threat_types": [threat],
        "sites": [
            city_site,
            # All round, 60 km from the launch area: it sees every missile from lift-off.
            _radar_site("Launch watch", "Blue", 30.5, 49.5),
        ],
        "launch_areas": [{"name": "Launch", **LAUNCH, "radius_km": 20.0}],
        "defended_assets": [{"name": "City", "partner": "Blue", **CITY}],
        "raids": [
            {
                "name": "raid",
                "threat_type": TEST_MRBM["name"],
                "launch_area": "Launch",
                "aimpoint": "City",
                "count": n_threats,
                "launch_time_s": 0.0,
                "interval_s": interval_s,
            }
        ],
        "arrangements": [
            {"name": name, "kind": "independent", "decision_latency_s": 0.0} for name in names
        ],
    }


def perfect_sensing(
    n_threats: int = 1,
    sspk: float = 0.7,
    salvo: int = 1,
    model: Model = "ideal",
    *,
    draws: int = 1,
    revisit_s: float = 2.0,
    **objects: Any,
) -> Scenario:
    """N threats, one partner that sees everything from lift-off, one fire unit at the city
    firing one barrage of ``salvo`` interceptors of kill probability ``sspk`` at each threat, no
    decision latency.

    ``draws`` > 1 gives that many identical independent arrangements (``independent-000``, ...).
    Each arrangement of a replication draws its kills from its own random stream
    (``jointbmd.simulation``) on the same picture; with perfect sensing every threat is engaged
    by one full salvo whatever the picture's noise, so the arrangements' outcomes are independent
    draws with the same probability -- ``draws`` samples for the price of one picture.

    ``objects``: ``decoys`` per warhead (1 m², seen like the warhead), the radar's
    ``p_warhead_as_warhead`` / ``p_decoy_as_warhead`` (its spent stage is never called a
    warhead), ``salvos`` (> 1: shoot-look-shoot with inventory for that many salvos per object)
    and the unit's ``p_kill_assessment`` -- the premises of Wilkening's model with decoys and
    with an imperfect kill assessment (``analysis.effectiveness``).
    """
    return validate_data(
        perfect_sensing_data(
            n_threats, sspk, salvo, model, draws=draws, revisit_s=revisit_s, **objects
        )
    )


def tail_chase(behind: bool = True, model: Model = "ideal", *, revisit_s: float = 2.0) -> Scenario:
    """A 2.5 km/s interceptor 200 km behind the launch point of an IRBM (burnout about 4.6 km/s)
    flying 2800 km away from it (``behind=True``), or at the IRBM's aimpoint (``behind=False``,
    the head-on control).

    The interceptor's envelope is wide (50-1000 km altitude, 3000 km range) so that kinematics
    alone -- the flyout time growing faster than the clock -- forbid the tail chase.
    """
    interceptor = {
        **TEST_INTERCEPTOR,
        "name": "slow interceptor",
        "burnout_speed_mps": 2500.0,
        "min_altitude_km": 50.0,
        "max_altitude_km": 1000.0,
        "max_range_km": 3000.0,
        "sspk": 1.0,
        "source": "notional: slower than the threat, generous envelope",
    }
    # Launch at 30 N 50 E towards the north-west; the battery 200 km behind the launch point, on
    # the flight path's backward extension, or at the aimpoint.
    launch = {"lat_deg": 30.0, "lon_deg": 50.0}
    target = {"lat_deg": 50.0, "lon_deg": 30.0}
    battery = dict(target)
    if behind:
        lat0, lon0, lat1, lon1 = np.radians([30.0, 50.0, 50.0, 30.0])
        back = earth.initial_bearing(lat0, lon0, lat1, lon1) + np.pi
        lat, lon = earth.destination(lat0, lon0, back, 200e3, model)
        battery = {
            "lat_deg": round(float(np.degrees(lat)), 4),
            "lon_deg": round(float(np.degrees(lon)), 4),
        }
    unit = {**_fire_unit("Chaser", 8, 2), "interceptor_type": interceptor["name"]}
    data = {
        "jointbmd": 1,
        "name": f"tail chase ({'behind' if behind else 'head-on control'}, {model})",
        "epoch": _EPOCH,
        "model": model,
        "partners": [{"name": "Blue"}],
        "sensor_types": [{**PERFECT_RADAR, "revisit_s": float(revisit_s)}],
        "interceptor_types": [interceptor],
        "threat_types": [copy.deepcopy(TEST_IRBM)],
        "sites": [
            {"name": "Battery", "partner": "Blue", **battery, "fire_units": [unit]},
            # All round, 60 km from the launch point: a firm track soon after lift-off.
            _radar_site("Launch watch", "Blue", 30.5, 49.5),
        ],
        "launch_areas": [{"name": "Launch", **launch, "radius_km": 0.0}],
        "defended_assets": [{"name": "Target", "partner": "Blue", **target}],
        "raids": [
            {
                "name": "raid",
                "threat_type": TEST_IRBM["name"],
                "launch_area": "Launch",
                "aimpoint": "Target",
                "count": 1,
            }
        ],
        "arrangements": [{"name": "independent", "kind": "independent", "decision_latency_s": 0.0}],
    }
    return validate_data(data)


#: The two partners' sectors of ``two_partner``: split at 46 degrees east ([lat_deg, lon_deg]).
SECTOR_SPLIT_LON_DEG = 46.0
TWO_PARTNER_SECTORS: dict[str, list[list[float]]] = {
    "West": [
        [20.0, 30.0],
        [60.0, 30.0],
        [60.0, SECTOR_SPLIT_LON_DEG],
        [20.0, SECTOR_SPLIT_LON_DEG],
    ],
    "East": [
        [20.0, SECTOR_SPLIT_LON_DEG],
        [60.0, SECTOR_SPLIT_LON_DEG],
        [60.0, 60.0],
        [20.0, 60.0],
    ],
}


def two_partner_data(
    sspk: float = 0.7,
    *,
    threats_per_city: int = 2,
    revisit_s: float = 5.0,
    decision_latency_s: float = 5.0,
    vote_latency_s: float = 5.0,
    west_min_elevation_deg: float = 20.0,
) -> dict[str, Any]:
    """The plain data of ``two_partner`` (to change before validating)."""
    interceptor = {**TEST_INTERCEPTOR, "sspk": float(sspk)}
    radar = {**PERFECT_RADAR, "revisit_s": float(revisit_s)}
    west_city = dict(CITY)
    east_city = {"lat_deg": 39.0, "lon_deg": 51.0}
    sites = [
        {
            "name": "West battery",
            "partner": "West",
            **west_city,
            "fire_units": [_fire_unit("West SAM", 12, 2)],
        },
        _radar_site("West radar site", "West", west_city["lat_deg"], west_city["lon_deg"]),
        {
            "name": "East battery",
            "partner": "East",
            **east_city,
            "fire_units": [_fire_unit("East SAM", 12, 2)],
        },
        # East watches the launch area from close by: it sees launches long before West does.
        _radar_site("East radar site", "East", 31.0, 50.5),
    ]
    # West's radar looks only above 20 degrees: it sees the threats late, so the fused picture
    # (East's tracks) tells West of them earlier than its own sensors do.
    sites[1]["sensors"][0]["min_elevation_deg"] = float(west_min_elevation_deg)
    for site in sites:
        for unit in site.get("fire_units", []):
            unit["launch_interval_s"] = 2.0
    latencies = {"West": float(vote_latency_s), "East": float(vote_latency_s)}
    return {
        "jointbmd": 1,
        "name": "two partners",
        "epoch": _EPOCH,
        "model": "ideal",
        "partners": [{"name": "West"}, {"name": "East"}],
        "fusion_centre": {"name": "Centre"},
        "sensor_types": [radar],
        "interceptor_types": [interceptor],
        "threat_types": [copy.deepcopy(TEST_MRBM)],
        "sites": sites,
        "launch_areas": [{"name": "Launch", **LAUNCH, "radius_km": 20.0}],
        "defended_assets": [
            {"name": "West city", "partner": "West", **west_city},
            {"name": "East city", "partner": "East", **east_city},
        ],
        "raids": [
            {
                "name": "at West",
                "threat_type": TEST_MRBM["name"],
                "launch_area": "Launch",
                "aimpoint": "West city",
                "count": threats_per_city,
                "launch_time_s": 0.0,
                "interval_s": 20.0,
            },
            {
                "name": "at East",
                "threat_type": TEST_MRBM["name"],
                "launch_area": "Launch",
                "aimpoint": "East city",
                "count": threats_per_city,
                "launch_time_s": 10.0,
                "interval_s": 20.0,
            },
        ],
        "links": [
            {"a": "West", "b": "Centre", "latency_s": 0.5},
            {"a": "East", "b": "Centre", "latency_s": 0.5},
        ],
        "arrangements": [
            {
                "name": "independent",
                "kind": "independent",
                "decision_latency_s": decision_latency_s,
            },
            {
                "name": "data-exchange",
                "kind": "data-exchange",
                "decision_latency_s": decision_latency_s,
            },
            {
                "name": "sectoral",
                "kind": "sectoral",
                "sectors": copy.deepcopy(TWO_PARTNER_SECTORS),
                "decision_latency_s": decision_latency_s,
            },
            {
                "name": "joint-consensus",
                "kind": "joint",
                "vote_rule": "consensus",
                "vote_latency_s": dict(latencies),
                "decision_latency_s": decision_latency_s,
            },
            {
                "name": "joint-any-may-fire",
                "kind": "joint",
                "vote_rule": "any-may-fire",
                "vote_latency_s": dict(latencies),
                "decision_latency_s": decision_latency_s,
            },
        ],
    }


def two_partner(sspk: float = 0.7, **kwargs: Any) -> Scenario:
    """Two partners, West and East, around a fusion centre with loss-free links: each has one
    all-round radar (East's beside the launch area; West's at its city, looking only above
    ``west_min_elevation_deg``), one fire unit at its
    city and one city under attack; sectors split at 46 degrees east; all four arrangements
    (joint twice: consensus and any-may-fire). Keyword arguments as ``two_partner_data``."""
    return validate_data(two_partner_data(sspk, **kwargs))
