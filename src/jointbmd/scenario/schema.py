"""The scenario format: pydantic models of a ``jointbmd: 1`` YAML scenario.

In: a plain mapping (what YAML gives). Out: a frozen, validated ``Scenario`` whose fields carry
their units in their names (``lat_deg``, ``range_km``, ``latency_s``). Degrees and km stay as the
user wrote them; the physics stages convert to SI at their edge.

Validation happens in two steps, both inside ``Scenario.model_validate``:

1. field by field (pydantic): types, finite numbers (NaN and infinity are refused), ranges
   (latitude within [-90, 90], speeds above 0, probabilities within [0, 1], ...), unknown keys;
2. across the scenario (``Scenario._check_references``): duplicate names, every reference names
   something that exists (a fire unit's interceptor type, a sensor's type and kind, a site's
   partner, a raid's threat type / launch area / aimpoint, link end points, arrangement partners,
   events) and every campaign sweep path resolves to a field that accepts its values.

Step 2 raises ``jointbmd.errors.UserError`` with the field path (``sites[2].fire_units[0].
interceptor_type``); the loader adds the file and the YAML line. Field paths use the syntax of
``jointbmd.scenario.paths``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
    field_serializer,
    field_validator,
    model_validator,
)

from jointbmd.errors import UserError
from jointbmd.outputs import component_problem, invisible_problem

# ---------------------------------------------------------------------------------------------
# Value types. Bounds are physical (latitude) or generous sanity limits that catch typos and keep
# downstream arrays small (a raid of 10**9 missiles is a mistake, not a scenario).
# ---------------------------------------------------------------------------------------------

MAX_TIME_S = 1.0e6  # about 11.6 days: far beyond any engagement timeline
MAX_RANGE_KM = 40_000.0  # once round the Earth
MAX_SPEED_MPS = 15_000.0  # above escape speed; a burnout speed beyond this is a typo
MAX_COUNT = 100_000
# Bounds on what sets the work of a run (docs/scenario.md, "Bounds", gives each one's reason).
MAX_THREATS = 1_000  # missiles in a scenario, over all raids
MAX_REPLICATIONS = 100_000  # a probability's 95 % half-width is then <= 0.0031
MIN_REVISIT_S = 0.1  # 10 Hz: the fastest track update of a missile-defence radar
MAX_BURN_TIME_S = 600.0  # one stage or interceptor motor; real ones burn 5-300 s
MIN_BALLISTIC_COEFFICIENT_KG_M2 = 100.0  # below: a balloon or debris, not a re-entry vehicle
MAX_BALLISTIC_COEFFICIENT_KG_M2 = 100_000.0  # the most slender RVs are near 20,000
MAX_APOGEE_KM = 10_000.0  # the highest lofted test (Hwasong-19, 2024) reached about 7,700 km
MAX_FLIGHT_TIME_S = 7_200.0  # that test flew 86 min; a minimum-energy ICBM about 35 min
MAX_RAID_SPAN_S = 86_400.0  # one day: a scenario is one engagement, not a war
MAX_SALVO = 16  # doctrine fires one to four interceptors per engagement
EPOCH_RANGE = (_dt.datetime(1900, 1, 1, tzinfo=_dt.UTC), _dt.datetime(2200, 1, 1, tzinfo=_dt.UTC))


def _finite(**bounds: float) -> Any:
    return Annotated[float, Strict(), Field(allow_inf_nan=False, **bounds)]


Real = _finite()
LatDeg = _finite(ge=-90.0, le=90.0)
LonDeg = _finite(ge=-180.0, le=180.0)
AltM = _finite(ge=-500.0, le=100_000.0)
Probability = _finite(ge=0.0, le=1.0)
TimeS = _finite(ge=0.0, le=MAX_TIME_S)
DurationS = _finite(gt=0.0, le=MAX_TIME_S)
SpeedMps = _finite(gt=0.0, le=MAX_SPEED_MPS)
RangeKm = _finite(gt=0.0, le=MAX_RANGE_KM)
MassKg = _finite(gt=0.0, le=1.0e7)
PositiveReal = _finite(gt=0.0, le=1.0e12)
NonNegativeReal = _finite(ge=0.0, le=1.0e12)
DecibelDb = _finite(ge=-100.0, le=200.0)
Count = Annotated[int, Strict(), Field(ge=1, le=MAX_COUNT)]
Replications = Annotated[int, Strict(), Field(ge=1, le=MAX_REPLICATIONS)]
Inventory = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]


def _visible(name: str) -> str:
    problem = invisible_problem(name)
    if problem:
        raise ValueError(f"name {name!r} {problem}")
    return name


def _file_safe(name: str) -> str:
    problem = component_problem(name)
    if problem:
        raise ValueError(f"name {name!r} {problem}")
    return name


# Names are referenced from elsewhere and appear inside field paths (``sites[Deveselu]``), so
# they may not contain brackets or line breaks, nor characters a reader cannot see.
Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\[\]\n\r]+$"
    ),
    AfterValidator(_visible),
]
# The name of a node or an arrangement also names files (ledgers, keys): one safe path
# component (jointbmd.outputs.component_problem). Every name that reaches the file system is one.
NodeName = Annotated[Name, AfterValidator(_file_safe)]
Source = Annotated[str, StringConstraints(max_length=2000)] | None

# A polygon on the Earth: at least three [lat_deg, lon_deg] vertices, closed implicitly.
Vertex = tuple[LatDeg, LonDeg]
Polygon = Annotated[list[Vertex], Field(min_length=3, max_length=10_000)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        validate_default=True,
        str_max_length=10_000,
    )


# ---------------------------------------------------------------------------------------------
# Partners and the fusion centre
# ---------------------------------------------------------------------------------------------


class Partner(_Model):
    """A party to the defence (NATO, Russia). ``territory`` is used for sectoral defence."""

    name: NodeName
    territory: Polygon | None = None
    sector: Polygon | None = None
    source: Source = None


# The fusion centre's name when the scenario gives no ``fusion_centre``.
DEFAULT_FUSION_CENTRE = "fusion"


class FusionCentre(_Model):
    """The joint data fusion centre (JDEC / DFC). A link end point; optionally placed on a map."""

    name: NodeName
    lat_deg: LatDeg | None = None
    lon_deg: LonDeg | None = None
    source: Source = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> FusionCentre:
        if (self.lat_deg is None) != (self.lon_deg is None):
            raise ValueError("give both lat_deg and lon_deg, or neither")
        return self


# ---------------------------------------------------------------------------------------------
# Types: sensors, interceptors, threats
# ---------------------------------------------------------------------------------------------


DataUse = Literal["cue", "launch-on-remote", "engage-on-remote"]
Band = Literal["HF", "VHF", "UHF", "L", "S", "C", "X", "Ku", "K", "Ka"]
#: dB offsets of a cross-section per radar band (bands left out: no offset).
BandOffsetsDb = Annotated[dict[Band, _finite(ge=-60.0, le=60.0)], Field(max_length=10)]
#: An aspect table: (aspect_deg, dB) nodes, aspect 0 = nose-on, 180 = tail-on, interpolated
#: linearly in aspect (dB relative to the object's ``rcs_m2``).
AspectTableDb = Annotated[
    list[tuple[_finite(ge=0.0, le=180.0), _finite(ge=-60.0, le=60.0)]],
    Field(min_length=1, max_length=64),
]


class Discrimination(_Model):
    """How one radar type classes the objects of a threat complex it sees (objects.py): the
    probability that it calls a warhead a warhead, a decoy a warhead, a spent stage a warhead."""

    p_warhead_as_warhead: Probability
    p_decoy_as_warhead: Probability
    p_stage_as_warhead: Probability = 0.0
    source: Source = None


class RadarType(_Model):
    """A radar described by the R^4 law around a reference point.

    SNR(R, sigma) = reference_snr_db + 10 log10(sigma / reference_rcs_m2)
                    - 40 log10(R / reference_range_km)
    so at ``reference_range_km`` against ``reference_rcs_m2`` the SNR is ``reference_snr_db``.
    A target is detected when SNR >= ``detection_snr_db``; ``range_noise_m`` and
    ``angle_noise_mrad`` are the 1-sigma errors at ``reference_snr_db`` and grow as
    1/sqrt(SNR) below it. The public detection range of a radar is quoted as
    ``reference_range_km`` with ``reference_snr_db == detection_snr_db``; where the public
    record does not say against which cross-section it was quoted, ``reference_rcs_span_m2``
    gives the plausible span of ``reference_rcs_m2`` (documented, and the range a study samples).

    ``search_frame_s`` and ``search_loss_db`` describe the radar's search when it is not cued:
    it looks at any one point of its volume once per frame, ``search_loss_db`` below the SNR of
    a dedicated (cued or track) look; after a cue or its first search detection it looks at the
    object every ``revisit_s`` at the full SNR. Without ``search_frame_s`` every object is looked
    at every ``revisit_s`` at the full SNR. ``band`` is the radar's IEEE frequency band.
    """

    name: Name
    kind: Literal["radar"]
    reference_range_km: RangeKm
    reference_rcs_m2: PositiveReal = 1.0
    reference_snr_db: DecibelDb = 13.0
    detection_snr_db: DecibelDb = 13.0
    pfa: Annotated[float, Strict(), Field(allow_inf_nan=False, gt=0.0, lt=1.0)] = 1.0e-6
    revisit_s: _finite(ge=MIN_REVISIT_S, le=MAX_TIME_S)
    range_noise_m: PositiveReal
    angle_noise_mrad: PositiveReal
    min_range_km: Annotated[
        float, Strict(), Field(allow_inf_nan=False, ge=0.0, le=MAX_RANGE_KM)
    ] = 0.0
    reference_rcs_span_m2: tuple[PositiveReal, PositiveReal] | None = None
    search_frame_s: DurationS | None = None
    search_loss_db: _finite(ge=0.0, le=60.0) = 0.0
    band: Band | None = None
    #: How it tells warheads from decoys and stages; without it, the band's notional default
    #: (``objects.BAND_DISCRIMINATION``; no band: it cannot tell them apart).
    discrimination: Discrimination | None = None
    #: What its tracks may be used for (arrangements.DATA_USES): ``cue`` (point another sensor;
    #: early-warning radars), ``launch-on-remote`` (commit an interceptor on its track) or
    #: ``engage-on-remote`` (guide it in flight; fire-control radars, the default).
    data_use: DataUse = "engage-on-remote"
    source: Source = None

    @model_validator(mode="after")
    def _min_range_below_reference(self) -> RadarType:
        if self.min_range_km >= self.reference_range_km:
            raise ValueError("min_range_km must be less than reference_range_km")
        return self

    @model_validator(mode="after")
    def _span_holds_reference(self) -> RadarType:
        span = self.reference_rcs_span_m2
        if span is not None and not span[0] <= self.reference_rcs_m2 <= span[1]:
            raise ValueError("reference_rcs_span_m2 must be [low, high] around reference_rcs_m2")
        return self


class InfraredType(_Model):
    """Space-based infrared launch detection: a report ``latency_s`` after launch, with 1-sigma
    errors on the launch point, the heading and the launch time."""

    name: Name
    kind: Literal["infrared"]
    latency_s: TimeS
    launch_position_sigma_km: _finite(ge=0.0, le=10_000.0)
    heading_sigma_deg: _finite(ge=0.0, le=180.0)
    launch_time_sigma_s: _finite(ge=0.0, le=3600.0)
    source: Source = None


SensorType = Annotated[RadarType | InfraredType, Field(discriminator="kind")]


class InterceptorType(_Model):
    """An interceptor missile's kinematics and lethality, its kill vehicle's reach and the track
    it needs.

    ``firm_position_sigma_km``: the largest position uncertainty (RSS of the 1-sigma axes) of a
    track it may be launched on. The kill vehicle corrects a handover error (the guiding track's
    error at the intercept point, across the line of sight) up to the smaller of its seeker's
    basket, ``kv_acquisition_range_km`` x tan(``kv_field_of_view_deg`` / 2), and its divert
    reach, ``kv_divert_mps`` x t_go / 2 (t_go the time from acquisition to intercept); a
    larger one is a miss. A kill-vehicle field left out is not a limit.
    """

    name: Name
    burnout_speed_mps: SpeedMps
    burn_time_s: _finite(gt=0.0, le=MAX_BURN_TIME_S)
    min_altitude_km: _finite(ge=0.0, le=MAX_RANGE_KM)
    # Optional caps beyond the kinematics (seeker, kill-vehicle or policy limits); without them
    # the flyout alone limits range and ceiling.
    max_altitude_km: RangeKm | None = None
    max_range_km: RangeKm | None = None
    sspk: Probability
    firm_position_sigma_km: RangeKm = 1.0
    kv_acquisition_range_km: RangeKm | None = None
    kv_field_of_view_deg: _finite(gt=0.0, le=180.0) | None = None
    kv_divert_mps: SpeedMps | None = None
    source: Source = None

    @model_validator(mode="after")
    def _altitudes_ordered(self) -> InterceptorType:
        if self.max_altitude_km is not None and self.min_altitude_km >= self.max_altitude_km:
            raise ValueError("min_altitude_km must be less than max_altitude_km")
        return self


class Stage(_Model):
    """One rocket stage: its burn time and either its delta-v, or its masses and specific impulse
    (Tsiolkovsky: dv = isp_s * g0 * ln(m0 / mf), masses above the stage included in m0, mf)."""

    burn_time_s: _finite(gt=0.0, le=MAX_BURN_TIME_S)
    delta_v_mps: SpeedMps | None = None
    propellant_mass_kg: MassKg | None = None
    dry_mass_kg: MassKg | None = None
    isp_s: _finite(gt=0.0, le=1000.0) | None = None
    source: Source = None

    @model_validator(mode="after")
    def _one_description(self) -> Stage:
        masses = (self.propellant_mass_kg, self.dry_mass_kg, self.isp_s)
        has_masses = any(m is not None for m in masses)
        if self.delta_v_mps is not None and has_masses:
            raise ValueError(
                "give either delta_v_mps or propellant_mass_kg/dry_mass_kg/isp_s, not both"
            )
        if self.delta_v_mps is None and not all(m is not None for m in masses):
            raise ValueError(
                "give delta_v_mps, or all three of propellant_mass_kg, dry_mass_kg and isp_s"
            )
        return self

    @property
    def by_mass(self) -> bool:
        """True when the stage is described by masses and Isp rather than by delta-v."""
        return self.delta_v_mps is None


class ReentryVehicle(_Model):
    ballistic_coefficient_kg_m2: _finite(
        ge=MIN_BALLISTIC_COEFFICIENT_KG_M2, le=MAX_BALLISTIC_COEFFICIENT_KG_M2
    )
    rcs_m2: PositiveReal
    mass_kg: MassKg
    #: Cross-section against aspect (dB relative to ``rcs_m2``; none: the same at every aspect)
    #: and per band (dB offsets; bands left out: ``rcs_m2``).
    rcs_aspect_db: AspectTableDb | None = None
    rcs_band_db: BandOffsetsDb | None = None
    source: Source = None


class Decoys(_Model):
    """Decoys released with each warhead at burnout: they fly its trajectory (the cloud is
    tracked as one complex) with their own cross-section."""

    count: Annotated[int, Strict(), Field(ge=0, le=100)]
    rcs_m2: PositiveReal
    rcs_aspect_db: AspectTableDb | None = None
    rcs_band_db: BandOffsetsDb | None = None
    source: Source = None


class ThreatType(_Model):
    """A threat missile: stages fired in order, a payload (re-entry vehicle plus anything it
    carries) of ``payload_mass_kg``, and the missile body's radar cross-section."""

    name: Name
    class_: Literal["SRBM", "MRBM", "IRBM", "ICBM"] = Field(alias="class")
    stages: Annotated[list[Stage], Field(min_length=1, max_length=5)]
    payload_mass_kg: MassKg
    reentry_vehicle: ReentryVehicle
    #: The missile body's cross-section, seen until burnout; each spent stage is an object of
    #: this cross-section from its separation on (objects.py).
    body_rcs_m2: PositiveReal
    decoys: Decoys | None = None
    source: Source = None

    @model_validator(mode="after")
    def _payload_holds_rv(self) -> ThreatType:
        if self.reentry_vehicle.mass_kg > self.payload_mass_kg:
            raise ValueError("reentry_vehicle.mass_kg must not exceed payload_mass_kg")
        return self


# ---------------------------------------------------------------------------------------------
# Sites: sensors and fire units
# ---------------------------------------------------------------------------------------------


class SiteSensor(_Model):
    """A radar at a site: its type and its field of regard (azimuth from north, clockwise)."""

    name: Name
    type: Name
    boresight_az_deg: _finite(ge=-360.0, le=360.0) = 0.0
    az_half_width_deg: _finite(gt=0.0, le=180.0) = 180.0
    min_elevation_deg: _finite(ge=-90.0, le=90.0) = 0.0
    max_elevation_deg: _finite(ge=-90.0, le=90.0) = 90.0
    source: Source = None

    @model_validator(mode="after")
    def _elevations_ordered(self) -> SiteSensor:
        if self.min_elevation_deg >= self.max_elevation_deg:
            raise ValueError("min_elevation_deg must be less than max_elevation_deg")
        return self


class FireUnit(_Model):
    """An interceptor battery (or a ship's magazine)."""

    name: Name
    interceptor_type: Name
    inventory: Inventory
    salvo: Annotated[int, Strict(), Field(ge=1, le=MAX_SALVO)] = 1
    launch_interval_s: TimeS = 0.0
    doctrine: Literal["barrage", "shoot-look-shoot"] = "barrage"
    kill_assessment_delay_s: TimeS = 0.0
    #: Probability that the kill assessment after a salvo calls the threat's state right (dead
    #: as dead, alive as alive); 1: perfect.
    kill_assessment_p_correct: Probability = 1.0
    source: Source = None


class Site(_Model):
    name: Name
    partner: Name
    kind: Literal["land", "ship"] = "land"
    lat_deg: LatDeg
    lon_deg: LonDeg
    alt_m: AltM = 0.0
    sensors: Annotated[list[SiteSensor], Field(max_length=1000)] = []
    fire_units: Annotated[list[FireUnit], Field(max_length=1000)] = []
    source: Source = None


class SpaceSensor(_Model):
    name: Name
    partner: Name
    type: Name
    source: Source = None


# ---------------------------------------------------------------------------------------------
# Geography of the attack: launch areas, defended assets, raids
# ---------------------------------------------------------------------------------------------


class LaunchArea(_Model):
    name: Name
    lat_deg: LatDeg
    lon_deg: LonDeg
    radius_km: _finite(ge=0.0, le=5000.0) = 0.0
    source: Source = None


class DefendedAsset(_Model):
    name: Name
    partner: Name
    lat_deg: LatDeg
    lon_deg: LonDeg
    value: _finite(ge=0.0, le=1.0e9) = 1.0
    source: Source = None


class Trajectory(_Model):
    """Minimum energy (neither field set), lofted/depressed to an apogee, or a flight time."""

    apogee_km: _finite(gt=0.0, le=MAX_APOGEE_KM) | None = None
    flight_time_s: _finite(gt=0.0, le=MAX_FLIGHT_TIME_S) | None = None

    @model_validator(mode="after")
    def _at_most_one(self) -> Trajectory:
        if self.apogee_km is not None and self.flight_time_s is not None:
            raise ValueError("give apogee_km or flight_time_s, not both")
        return self

    @property
    def kind(self) -> Literal["minimum-energy", "apogee", "flight-time"]:
        if self.apogee_km is not None:
            return "apogee"
        if self.flight_time_s is not None:
            return "flight-time"
        return "minimum-energy"


def _trajectory_input(value: Any) -> Any:
    if isinstance(value, str):
        if value.strip() == "minimum-energy":
            return {}
        raise ValueError(
            "trajectory must be 'minimum-energy' or a mapping with apogee_km or flight_time_s"
        )
    return value


_TRAJECTORY_SCHEMA = {
    "anyOf": [
        {"const": "minimum-energy"},
        {
            "type": "object",
            "properties": {
                "apogee_km": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_APOGEE_KM},
                "flight_time_s": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": MAX_FLIGHT_TIME_S,
                },
            },
            "additionalProperties": False,
            "maxProperties": 1,
        },
    ],
    "default": "minimum-energy",
}

TrajectoryField = Annotated[
    Trajectory, BeforeValidator(_trajectory_input), WithJsonSchema(_TRAJECTORY_SCHEMA)
]


class Raid(_Model):
    """``count`` missiles of one type from one launch area at one aimpoint (a defended asset),
    the first at ``launch_time_s``, then one every ``interval_s``."""

    name: Name
    threat_type: Name
    launch_area: Name
    aimpoint: Name
    count: Annotated[int, Strict(), Field(ge=1, le=MAX_THREATS)] = 1
    launch_time_s: _finite(ge=0.0, le=MAX_RAID_SPAN_S) = 0.0
    interval_s: _finite(ge=0.0, le=MAX_RAID_SPAN_S) = 0.0
    trajectory: TrajectoryField = Trajectory()
    source: Source = None

    @field_serializer("trajectory")
    def _trajectory_out(self, trajectory: Trajectory) -> Any:
        if trajectory.kind == "minimum-energy":
            return "minimum-energy"
        return trajectory.model_dump(exclude_none=True)

    def launch_times_s(self) -> list[float]:
        """Launch time of each missile of the raid, seconds since the epoch."""
        return [self.launch_time_s + i * self.interval_s for i in range(self.count)]


# ---------------------------------------------------------------------------------------------
# Links, arrangements, events
# ---------------------------------------------------------------------------------------------


class Outage(_Model):
    start_s: TimeS
    end_s: TimeS

    @model_validator(mode="after")
    def _ordered(self) -> Outage:
        if self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


class Link(_Model):
    """A communication link between two end points (partners or the fusion centre)."""

    name: Name | None = None
    a: Name
    b: Name
    latency_s: _finite(ge=0.0, le=3600.0)
    jitter_s: _finite(ge=0.0, le=3600.0) = 0.0
    loss_probability: Probability = 0.0
    outages: Annotated[list[Outage], Field(max_length=10_000)] = []
    source: Source = None

    @model_validator(mode="after")
    def _default_name(self) -> Link:
        if self.a == self.b:
            raise ValueError("a link joins two different end points (a == b)")
        if self.name is None:
            object.__setattr__(self, "name", f"{self.a}-{self.b}")
        return self


class _Arrangement(_Model):
    name: NodeName
    decision_latency_s: _finite(ge=0.0, le=3600.0) = 0.0
    #: How far a partner's sensors may be used by another partner's interceptors (none, cue,
    #: launch-on-remote, engage-on-remote); left out, the arrangement's default
    #: (``jointbmd.arrangements``).
    partner_data_use: Literal["none", "cue", "launch-on-remote", "engage-on-remote"] | None = None
    source: Source = None


class IndependentArrangement(_Arrangement):
    """Nothing shared; each partner fires its own interceptors on its own sensors' tracks."""

    kind: Literal["independent"]

    @model_validator(mode="after")
    def _shares_nothing(self) -> IndependentArrangement:
        if self.partner_data_use not in (None, "none"):
            raise ValueError("independent shares nothing: partner_data_use must be 'none'")
        return self


class DataExchangeArrangement(_Arrangement):
    """Launch reports and tracks shared through the fusion centre; decisions stay national."""

    kind: Literal["data-exchange"]


class SectoralArrangement(_Arrangement):
    """Each partner engages what crosses its sector. ``sectors``: ``territory`` (the partners'
    territory polygons), ``sector`` (the partners' ``sector`` polygons), or a mapping from
    partner name to polygon."""

    kind: Literal["sectoral"]
    sectors: Literal["territory", "sector"] | dict[Name, Polygon] = "territory"


class JointArrangement(_Arrangement):
    """A joint centre decides by vote; each partner votes ``vote_latency_s[partner]`` after a
    request (0 when not listed). Abstaining partners do not vote; a veto stops the shot."""

    kind: Literal["joint"]
    vote_rule: Literal["consensus", "majority", "any-may-fire"] = "consensus"
    vote_latency_s: dict[
        Name, Annotated[float, Strict(), Field(allow_inf_nan=False, ge=0.0, le=3600.0)]
    ] = {}
    abstain: list[Name] = []
    veto: list[Name] = []


Arrangement = Annotated[
    IndependentArrangement | DataExchangeArrangement | SectoralArrangement | JointArrangement,
    Field(discriminator="kind"),
]


class PartnerDropsOut(_Model):
    """At ``time_s`` the partner leaves: its links are cut and it no longer votes or shares."""

    kind: Literal["partner-drops-out"]
    partner: Name
    time_s: TimeS


Event = Annotated[PartnerDropsOut, Field(discriminator="kind")]


# ---------------------------------------------------------------------------------------------
# Campaign
# ---------------------------------------------------------------------------------------------

Scalar = Annotated[bool, Strict()] | Annotated[int, Strict()] | Real | str


class SweepRange(_Model):
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive (numpy.linspace)."""

    start: Real
    stop: Real
    num: Annotated[int, Strict(), Field(ge=1, le=MAX_COUNT)]

    def values(self) -> list[float | int]:
        """The points; whole numbers come out as ``int`` so that a range can sweep a count
        (``inventory``) as well as a real value."""
        if self.num == 1:
            points = [self.start]
        else:
            step = (self.stop - self.start) / (self.num - 1)
            points = [self.start + i * step for i in range(self.num - 1)] + [self.stop]
        if all(float(p).is_integer() and abs(p) < 2**53 for p in points):
            return [int(p) for p in points]
        return points


class Sweep(_Model):
    path: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    values: Annotated[list[Scalar], Field(min_length=1, max_length=10_000)] | None = None
    range: SweepRange | None = None

    @model_validator(mode="after")
    def _values_or_range(self) -> Sweep:
        if (self.values is None) == (self.range is None):
            raise ValueError("give either values (a list) or range {start, stop, num}")
        return self

    def points(self) -> list[Any]:
        """The swept values, whichever way they were given."""
        return list(self.values) if self.values is not None else self.range.values()


class Campaign(_Model):
    replications: Replications = 100
    seed: Annotated[int, Strict(), Field(ge=0, le=2**63 - 1)] = 0
    sweep: Annotated[list[Sweep], Field(max_length=20)] = []


# ---------------------------------------------------------------------------------------------
# The scenario
# ---------------------------------------------------------------------------------------------


def _utc(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=_dt.UTC)
        return value.astimezone(_dt.UTC)
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC)
    return value


class Scenario(_Model):
    """A whole scenario. Lists are in file order; look entries up by name with the helpers."""

    jointbmd: Literal[1]
    name: Name
    description: str = ""
    epoch: _dt.datetime
    model: Literal["full", "ideal"] = "full"
    partners: Annotated[list[Partner], Field(min_length=1, max_length=100)]
    fusion_centre: FusionCentre | None = None
    sensor_types: list[SensorType] = []
    interceptor_types: list[InterceptorType] = []
    threat_types: Annotated[list[ThreatType], Field(min_length=1)]
    sites: list[Site] = []
    space_sensors: list[SpaceSensor] = []
    launch_areas: Annotated[list[LaunchArea], Field(min_length=1)]
    defended_assets: Annotated[list[DefendedAsset], Field(min_length=1)]
    raids: Annotated[list[Raid], Field(min_length=1, max_length=MAX_THREATS)]
    links: list[Link] = []
    arrangements: Annotated[list[Arrangement], Field(min_length=1, max_length=100)]
    events: list[Event] = []
    campaign: Campaign | None = None

    @field_validator("epoch", mode="before")
    @classmethod
    def _epoch_utc(cls, value: Any) -> Any:
        return _utc(value)

    @field_validator("epoch", mode="after")
    @classmethod
    def _epoch_aware(cls, value: _dt.datetime) -> _dt.datetime:
        value = _utc(value)
        low, high = EPOCH_RANGE
        if not low <= value < high:
            raise ValueError(f"the epoch must lie in [{low.year}, {high.year}), got {value.year}")
        return value

    @field_serializer("epoch")
    def _epoch_out(self, value: _dt.datetime) -> str:
        return value.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z")

    @model_validator(mode="after")
    def _check_references(self) -> Scenario:
        check_references(self)
        return self

    # -- look-ups by name ----------------------------------------------------------------------

    def partner(self, name: str) -> Partner:
        return _by_name(self.partners, name, "partner")

    def sensor_type(self, name: str) -> RadarType | InfraredType:
        return _by_name(self.sensor_types, name, "sensor type")

    def interceptor_type(self, name: str) -> InterceptorType:
        return _by_name(self.interceptor_types, name, "interceptor type")

    def threat_type(self, name: str) -> ThreatType:
        return _by_name(self.threat_types, name, "threat type")

    def site(self, name: str) -> Site:
        return _by_name(self.sites, name, "site")

    def launch_area(self, name: str) -> LaunchArea:
        return _by_name(self.launch_areas, name, "launch area")

    def defended_asset(self, name: str) -> DefendedAsset:
        return _by_name(self.defended_assets, name, "defended asset")

    def arrangement(self, name: str) -> Any:
        return _by_name(self.arrangements, name, "arrangement")

    def radars(self) -> list[tuple[Site, SiteSensor, RadarType]]:
        """Every radar as (site, sensor, its type), in file order."""
        return [(s, x, self.sensor_type(x.type)) for s in self.sites for x in s.sensors]

    def fire_units(self) -> list[tuple[Site, FireUnit, InterceptorType]]:
        """Every fire unit as (site, fire unit, its interceptor type), in file order."""
        return [
            (s, f, self.interceptor_type(f.interceptor_type))
            for s in self.sites
            for f in s.fire_units
        ]

    def threat_count(self) -> int:
        """Number of threat missiles over all raids."""
        return sum(r.count for r in self.raids)

    def sector_polygon(self, arrangement: SectoralArrangement, partner: str) -> list[Vertex] | None:
        """The polygon a sectoral arrangement gives ``partner`` (None: the partner has none)."""
        if isinstance(arrangement.sectors, dict):
            return arrangement.sectors.get(partner)
        p = self.partner(partner)
        return p.territory if arrangement.sectors == "territory" else p.sector


def _by_name(items: list[Any], name: str, what: str) -> Any:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {what} named {name!r}")


# ---------------------------------------------------------------------------------------------
# Cross-reference checks
# ---------------------------------------------------------------------------------------------


def _fail(path: str, reason: str) -> None:
    raise UserError(reason, field=path)


def _choices(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:12])
    if len(names) > 12:
        shown += ", ..."
    return f"(known: {shown})" if names else "(none defined)"


def _unique(items: list[Any], path: str, what: str) -> dict[str, int]:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.name in seen:
            _fail(
                f"{path}[{i}].name",
                f"duplicate {what} name {item.name!r} (first at {path}[{seen[item.name]}])",
            )
        seen[item.name] = i
    return seen


def _ref(name: str, known: dict[str, Any], path: str, what: str) -> None:
    if name not in known:
        _fail(path, f"unknown {what} {name!r} {_choices(list(known))}")


def check_references(s: Scenario) -> None:
    """Raise ``UserError`` (with the field path) at the first broken cross-reference."""
    partners = _unique(s.partners, "partners", "partner")
    sensor_types = _unique(s.sensor_types, "sensor_types", "sensor type")
    interceptor_types = _unique(s.interceptor_types, "interceptor_types", "interceptor type")
    threat_types = _unique(s.threat_types, "threat_types", "threat type")
    _unique(s.sites, "sites", "site")
    launch_areas = _unique(s.launch_areas, "launch_areas", "launch area")
    assets = _unique(s.defended_assets, "defended_assets", "defended asset")
    _unique(s.raids, "raids", "raid")
    _unique(s.links, "links", "link")
    _unique(s.arrangements, "arrangements", "arrangement")

    endpoints = dict(partners)
    if s.fusion_centre is not None:
        if s.fusion_centre.name in partners:
            _fail("fusion_centre.name", f"{s.fusion_centre.name!r} is already a partner's name")
        endpoints[s.fusion_centre.name] = -1
    elif DEFAULT_FUSION_CENTRE in partners:
        _fail(
            f"partners[{partners[DEFAULT_FUSION_CENTRE]}].name",
            f"{DEFAULT_FUSION_CENTRE!r} is the fusion centre's name when no fusion_centre is "
            "given: rename the partner or name the centre (fusion_centre: {name: ...})",
        )
    if s.threat_count() > MAX_THREATS:
        _fail("raids", f"{s.threat_count()} missiles over all raids; at most {MAX_THREATS}")

    sensor_names: dict[str, str] = {}
    unit_names: dict[str, str] = {}
    for i, site in enumerate(s.sites):
        _ref(site.partner, partners, f"sites[{i}].partner", "partner")
        for j, sensor in enumerate(site.sensors):
            path = f"sites[{i}].sensors[{j}]"
            if sensor.name in sensor_names:
                _fail(
                    f"{path}.name",
                    f"duplicate sensor name {sensor.name!r} (first at {sensor_names[sensor.name]})",
                )
            sensor_names[sensor.name] = path
            _ref(sensor.type, sensor_types, f"{path}.type", "sensor type")
            kind = s.sensor_type(sensor.type).kind
            if kind != "radar":
                _fail(
                    f"{path}.type",
                    f"sensor type {sensor.type!r} is {kind}; a site's sensors are radars "
                    "(space-based infrared goes under space_sensors)",
                )
        for j, unit in enumerate(site.fire_units):
            path = f"sites[{i}].fire_units[{j}]"
            if unit.name in unit_names:
                _fail(
                    f"{path}.name",
                    f"duplicate fire unit name {unit.name!r} (first at {unit_names[unit.name]})",
                )
            unit_names[unit.name] = path
            _ref(
                unit.interceptor_type,
                interceptor_types,
                f"{path}.interceptor_type",
                "interceptor type",
            )

    for i, sensor in enumerate(s.space_sensors):
        path = f"space_sensors[{i}]"
        if sensor.name in sensor_names:
            _fail(
                f"{path}.name",
                f"duplicate sensor name {sensor.name!r} (first at {sensor_names[sensor.name]})",
            )
        sensor_names[sensor.name] = path
        _ref(sensor.partner, partners, f"{path}.partner", "partner")
        _ref(sensor.type, sensor_types, f"{path}.type", "sensor type")
        kind = s.sensor_type(sensor.type).kind
        if kind != "infrared":
            _fail(
                f"{path}.type", f"sensor type {sensor.type!r} is {kind}; space sensors are infrared"
            )

    for i, asset in enumerate(s.defended_assets):
        _ref(asset.partner, partners, f"defended_assets[{i}].partner", "partner")

    for i, raid in enumerate(s.raids):
        _ref(raid.threat_type, threat_types, f"raids[{i}].threat_type", "threat type")
        _ref(raid.launch_area, launch_areas, f"raids[{i}].launch_area", "launch area")
        _ref(raid.aimpoint, assets, f"raids[{i}].aimpoint", "defended asset (aimpoint)")

    pairs: dict[frozenset[str], int] = {}
    for i, link in enumerate(s.links):
        _ref(link.a, endpoints, f"links[{i}].a", "link end point (partner or fusion centre)")
        _ref(link.b, endpoints, f"links[{i}].b", "link end point (partner or fusion centre)")
        pair = frozenset((link.a, link.b))
        if pair in pairs:
            _fail(
                f"links[{i}]",
                f"a second link between {link.a!r} and {link.b!r} (first at links[{pairs[pair]}])",
            )
        pairs[pair] = i

    for i, arrangement in enumerate(s.arrangements):
        path = f"arrangements[{i}]"
        if isinstance(arrangement, SectoralArrangement):
            _check_sectors(s, arrangement, path, partners)
        if isinstance(arrangement, JointArrangement):
            for partner in arrangement.vote_latency_s:
                _ref(partner, partners, f"{path}.vote_latency_s[{partner}]", "partner")
            for field in ("abstain", "veto"):
                for j, partner in enumerate(getattr(arrangement, field)):
                    _ref(partner, partners, f"{path}.{field}[{j}]", "partner")

    for i, event in enumerate(s.events):
        _ref(event.partner, partners, f"events[{i}].partner", "partner")

    if s.campaign is not None:
        _check_sweeps(s)


def _check_sectors(
    s: Scenario, arrangement: SectoralArrangement, path: str, partners: dict[str, int]
) -> None:
    owners = sorted({site.partner for site in s.sites if site.fire_units})
    if isinstance(arrangement.sectors, dict):
        for partner in arrangement.sectors:
            _ref(partner, partners, f"{path}.sectors[{partner}]", "partner")
        missing = [p for p in owners if p not in arrangement.sectors]
        if missing:
            _fail(f"{path}.sectors", f"no sector for partner {missing[0]!r}, which has fire units")
        return
    field = arrangement.sectors
    for partner in owners:
        if getattr(s.partner(partner), field) is None:
            _fail(
                f"{path}.sectors",
                f"sectors: {field} needs a {field} polygon for partner {partner!r}, "
                f"which has fire units (set partners[{partners[partner]}].{field})",
            )


# Fields a sweep may not change, and why: they identify things rather than describe them.
UNSWEPT_FIELDS = {
    "name": "a name identifies an entry (references and stored results use it); sweep its values",
    "kind": "a kind decides what an entry is; write one entry per kind instead",
    "jointbmd": "the format version is not a model input",
}


def _check_sweeps(s: Scenario) -> None:
    # Imported here: paths.py builds on this module.
    from .loader import set_field, to_data
    from .paths import canonical_path, resolve_path

    # Sweeps are checked on a copy without the campaign, so that checking does not recurse.
    base = s.model_copy(update={"campaign": None})
    data = to_data(base)
    fields: dict[str, int] = {}
    for i, sweep in enumerate(s.campaign.sweep):
        path = f"campaign.sweep[{i}]"
        try:
            resolve_path(data, sweep.path)
            field = canonical_path(data, sweep.path)
        except UserError as error:
            _fail(f"{path}.path", f"{sweep.path!r}: {error.reason}")
        if field in fields:
            _fail(
                f"{path}.path",
                f"{sweep.path!r} is {field}, already swept by campaign.sweep[{fields[field]}]",
            )
        fields[field] = i
        last = field.rsplit(".", 1)[-1]
        if last in UNSWEPT_FIELDS:
            _fail(f"{path}.path", f"{field}: {UNSWEPT_FIELDS[last]}")
        where = f"{path}.values" if sweep.values is not None else f"{path}.range"
        points = sweep.points()
        # A range is an interval: its end points bound every value in it. A list is checked
        # value by value (repeats once).
        checked = (
            [(0, points[0]), (len(points) - 1, points[-1])] if sweep.range else enumerate(points)
        )
        seen: set[str] = set()
        for j, value in checked:
            if repr(value) in seen:
                continue
            seen.add(repr(value))
            try:
                set_field(base, sweep.path, value)
            except UserError as error:
                at = f"{where}[{j}]" if sweep.values is not None else where
                _fail(at, f"{sweep.path} = {value!r} is not valid: {error.reason}")
