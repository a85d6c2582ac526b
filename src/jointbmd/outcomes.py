"""Outcome records: what one replication of one arrangement yields.

In: filled by ``jointbmd.simulation`` at the end of a replication.
Out: read by the campaign, the results store and the reports. Plain data only, so a record
crosses a process boundary (Dask) and lands in a DuckDB row without conversion.

Times are seconds since the scenario epoch; ``None`` means "never" (never detected, never
engaged). Altitudes are in km because these records are what analysts read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ThreatOutcome:
    """What happened to one threat missile (one re-entry vehicle) in one replication."""

    threat_id: int
    raid: str
    threat_type: str
    aimpoint: str
    aimpoint_partner: str
    launch_time_s: float
    impact_time_s: float
    first_detection_s: float | None  # by any partner's sensors
    first_firm_track_s: float | None  # held by whoever decides on it under the arrangement
    first_launch_s: float | None  # first interceptor launched at it
    engaged_by: str | None  # partner whose interceptors engaged it first
    shots: int
    intercept_time_s: float | None
    intercept_altitude_km: float | None
    killed: bool
    intercept_lat_deg: float | None = None  # ground point of the killing intercept
    intercept_lon_deg: float | None = None
    # The partner whose territory (the scenario's polygons) holds that ground point; None when
    # it lies in none of them: over a third country or the sea (the polygons cannot tell which).
    intercept_over: str | None = None
    intercept_over_third_party: bool = False  # killed outside every partner's territory

    @property
    def leaked(self) -> bool:
        return not self.killed

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["leaked"] = self.leaked
        return row


@dataclass(frozen=True)
class Event:
    """One line of a replication's timeline (a launch, a detection, a vote, a shot, a kill)."""

    t_s: float
    kind: str
    partner: str | None = None
    threat_id: int | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReplicationResult:
    """Everything one replication of one arrangement produced.

    ``rejected_messages`` maps a rejection reason (bad-signature, replay, ...) to a count.
    ``shots_by_partner`` maps each partner to the interceptors it launched.
    """

    arrangement: str
    replication: int
    threats: tuple[ThreatOutcome, ...]
    events: tuple[Event, ...] = ()
    shots_by_partner: dict[str, int] = field(default_factory=dict)
    rejected_messages: dict[str, int] = field(default_factory=dict)

    @property
    def leakers(self) -> int:
        return sum(1 for threat in self.threats if threat.leaked)

    @property
    def no_leak(self) -> bool:
        return self.leakers == 0

    @property
    def interceptors_spent(self) -> int:
        return sum(threat.shots for threat in self.threats)
