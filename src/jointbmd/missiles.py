"""Threat missiles: rocket stages, payload and re-entry vehicle, in SI units.

In: a threat type as the scenario file describes it (plain keyword values or dicts, or any object
with the same attribute names -- the pydantic ``ThreatType`` works too). Out: a frozen
``ThreatMissile`` whose stages give the thrust acceleration of the boost, and whose re-entry vehicle
gives the ballistic coefficient for drag after burnout. The trajectory stage
(``jointbmd.trajectory``) flies it.

Thrust model. Each stage burns for ``burn_time_s`` at constant thrust, hence constant mass flow
ṁ = m_p / t_b. Its thrust acceleration at time τ into the burn is

    a(τ) = v_e ṁ / (m_0 - ṁ τ) = A / (B - τ),   v_e = I_sp g_0,  A = v_e,  B = m_0 / ṁ,

where m_0 is the stack mass at ignition: the stage's propellant and dry mass, every stage above
it that is described by masses, and the payload. Integrated over the burn this gives the
Tsiolkovsky delta-v, I_sp g_0 ln(m_0 / (m_0 - m_p)) (Sutton & Biblarz, *Rocket Propulsion
Elements*, 8th ed., §4.1). A stage described only by ``delta_v_mps`` has no masses; it is flown
at constant thrust acceleration C = Δv / t_b, and it adds no mass to the stages below it. The
general form used by the propagator is a(τ) = A / (B - τ) + C.

The re-entry vehicle's ballistic coefficient β = m / (C_D S) (kg/m²) sets its drag deceleration
ρ |v_rel|² / (2 β) once it flies alone, i.e. after burnout. The boost itself is flown without
drag: threat types carry no body aerodynamics (a few per cent of delta-v for a real missile,
which the targeting absorbs in its cut-off time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jointbmd.earth import G0


def _field(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a dict or of an object (pydantic model), or ``default``."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


@dataclass(frozen=True)
class Stage:
    """One rocket stage: burn time and either delta-v, or propellant and dry mass and Isp."""

    burn_time_s: float
    delta_v_mps: float | None = None
    propellant_mass_kg: float | None = None
    dry_mass_kg: float | None = None
    isp_s: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.burn_time_s) and self.burn_time_s > 0.0):
            raise ValueError("burn_time_s must be a positive number")
        masses = (self.propellant_mass_kg, self.dry_mass_kg, self.isp_s)
        if self.delta_v_mps is not None:
            if any(m is not None for m in masses):
                raise ValueError("give either delta_v_mps or masses and isp_s, not both")
            if not (math.isfinite(self.delta_v_mps) and self.delta_v_mps > 0.0):
                raise ValueError("delta_v_mps must be a positive number")
        elif not all(m is not None and math.isfinite(m) and m > 0.0 for m in masses):
            raise ValueError("give delta_v_mps, or positive propellant_mass_kg, dry_mass_kg, isp_s")

    @property
    def by_mass(self) -> bool:
        return self.delta_v_mps is None

    @property
    def mass_kg(self) -> float:
        """Propellant plus dry mass (0 for a stage described by delta-v only)."""
        if not self.by_mass:
            return 0.0
        return float(self.propellant_mass_kg) + float(self.dry_mass_kg)  # type: ignore[arg-type]

    @classmethod
    def from_spec(cls, spec: Any) -> Stage:
        """From a dict / object with the scenario's stage fields."""
        return cls(
            burn_time_s=float(_field(spec, "burn_time_s")),
            delta_v_mps=_opt_float(_field(spec, "delta_v_mps")),
            propellant_mass_kg=_opt_float(_field(spec, "propellant_mass_kg")),
            dry_mass_kg=_opt_float(_field(spec, "dry_mass_kg")),
            isp_s=_opt_float(_field(spec, "isp_s")),
        )


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class ReentryVehicle:
    """The re-entry vehicle: ballistic coefficient β = m / (C_D S), radar cross-section, mass."""

    ballistic_coefficient_kg_m2: float
    rcs_m2: float = 0.01
    mass_kg: float = 500.0

    def __post_init__(self) -> None:
        if not (self.ballistic_coefficient_kg_m2 > 0.0):
            raise ValueError("ballistic_coefficient_kg_m2 must be positive")

    @classmethod
    def from_spec(cls, spec: Any) -> ReentryVehicle:
        return cls(
            ballistic_coefficient_kg_m2=float(_field(spec, "ballistic_coefficient_kg_m2")),
            rcs_m2=float(_field(spec, "rcs_m2", 0.01)),
            mass_kg=float(_field(spec, "mass_kg", 500.0)),
        )


@dataclass(frozen=True)
class ThreatMissile:
    """A ballistic missile: stages fired in order, a payload (RV included) and its RV.

    ``thrust_coefficients()`` gives, per stage, the end time of the burn (s since launch) and the
    A, B, C of a(τ) = A / (B - τ) + C (see the module docstring).
    """

    name: str
    stages: tuple[Stage, ...]
    payload_mass_kg: float
    reentry_vehicle: ReentryVehicle

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a missile needs at least one stage")
        if not (self.payload_mass_kg > 0.0):
            raise ValueError("payload_mass_kg must be positive")

    @classmethod
    def from_spec(
        cls,
        name: str = "missile",
        *,
        stages: Sequence[Any],
        payload_mass_kg: float,
        reentry_vehicle: Any,
    ) -> ThreatMissile:
        """From the scenario's threat-type fields: ``stages`` (dicts with ``burn_time_s`` and
        ``delta_v_mps`` or ``propellant_mass_kg``/``dry_mass_kg``/``isp_s``), ``payload_mass_kg``
        and ``reentry_vehicle`` (``ballistic_coefficient_kg_m2``, ``rcs_m2``, ``mass_kg``)."""
        return cls(
            name=str(name),
            stages=tuple(s if isinstance(s, Stage) else Stage.from_spec(s) for s in stages),
            payload_mass_kg=float(payload_mass_kg),
            reentry_vehicle=reentry_vehicle
            if isinstance(reentry_vehicle, ReentryVehicle)
            else ReentryVehicle.from_spec(reentry_vehicle),
        )

    @classmethod
    def from_threat_type(cls, threat_type: Any) -> ThreatMissile:
        """From a scenario threat type (pydantic ``ThreatType`` or a dict with its fields)."""
        return cls.from_spec(
            _field(threat_type, "name", "missile"),
            stages=_field(threat_type, "stages"),
            payload_mass_kg=_field(threat_type, "payload_mass_kg"),
            reentry_vehicle=_field(threat_type, "reentry_vehicle"),
        )

    @property
    def ballistic_coefficient_kg_m2(self) -> float:
        return self.reentry_vehicle.ballistic_coefficient_kg_m2

    @property
    def burn_time_s(self) -> float:
        """Total burn time of all stages (s)."""
        return float(sum(s.burn_time_s for s in self.stages))

    @property
    def vertical_rise_s(self) -> float:
        """Length of the vertical rise that starts the pitch programme: 10 % of the total burn,
        at most 10 s."""
        return min(10.0, 0.1 * self.burn_time_s)

    def stage_delta_v_mps(self) -> np.ndarray:
        """Vacuum delta-v of each stage (Tsiolkovsky, or as given), m/s."""
        _, a, b, c = self.thrust_coefficients()
        burn = np.array([s.burn_time_s for s in self.stages])
        with np.errstate(divide="ignore", invalid="ignore"):
            mass_dv = np.where(np.isfinite(b), a * np.log(b / (b - burn)), 0.0)
        return mass_dv + c * burn

    @property
    def delta_v_mps(self) -> float:
        """Total vacuum delta-v (m/s)."""
        return float(self.stage_delta_v_mps().sum())

    def thrust_coefficients(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(stage_end_s, A, B, C), each (S,): a(τ) = A / (B - τ) + C in stage s, τ from its
        ignition. A stage by delta-v has A = 0, B = inf, C = Δv / t_b."""
        n = len(self.stages)
        end = np.cumsum([s.burn_time_s for s in self.stages]).astype(float)
        a = np.zeros(n)
        b = np.full(n, np.inf)
        c = np.zeros(n)
        above = self.payload_mass_kg
        for i in range(n - 1, -1, -1):
            stage = self.stages[i]
            if stage.by_mass:
                m0 = above + stage.mass_kg
                mdot = float(stage.propellant_mass_kg) / stage.burn_time_s  # type: ignore[arg-type]
                a[i] = float(stage.isp_s) * G0  # type: ignore[arg-type]
                b[i] = m0 / mdot
                above = m0
            else:
                c[i] = float(stage.delta_v_mps) / stage.burn_time_s  # type: ignore[arg-type]
        return end, a, b, c

    def thrust_acceleration(self, t_since_launch: np.ndarray | float) -> np.ndarray:
        """Thrust acceleration magnitude (m/s²) at times since launch (0 after the last stage)."""
        t = np.asarray(t_since_launch, float)
        end, a, b, c = self.thrust_coefficients()
        start = np.concatenate([[0.0], end[:-1]])
        out = np.zeros_like(t)
        for i in range(len(end)):
            inside = (t >= start[i]) & (t < end[i])
            tau = t - start[i]
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.where(np.isfinite(b[i]), a[i] / (b[i] - tau), 0.0) + c[i]
            out = np.where(inside, value, out)
        return out
