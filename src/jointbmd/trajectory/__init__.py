"""Threat trajectories: batched physics and targeting (the truth stage).

In: launch points, aimpoints, launch times and threat missiles (``jointbmd.missiles``), or
burnout states. Out: ``Trajectories`` -- N flights with their burnout, apogee and impact events,
sampled at any times (ECI or ECEF) by Hermite interpolation -- and, from targeting, a
``Solution`` with the azimuth, loft and burnout conditions that land each flight on its aimpoint.

    from jointbmd import trajectory
    sol = trajectory.aim(lat0, lon0, lat1, lon1, model="full", missile=missile)
    r_ecef = sol.trajectories.position_ecef(times)        # (n, T, 3), NaN outside the flight

Modules: ``propagate`` (equations of motion, the batched integrator, dense output),
``targeting`` (solving for azimuth and loft; forward modes), ``kepler`` (closed-form ballistic
flight on the sphere, the oracle of the tests).
"""

from . import kepler
from .propagate import BoostProgramme, Trajectories, hermite, propagate, surface_height
from .targeting import (
    LoftTable,
    Solution,
    aim,
    aim_from_table,
    burnout_state_eci,
    fly,
    forward,
    loft_table,
    relative_speed_and_angle,
)

__all__ = [
    "BoostProgramme",
    "LoftTable",
    "Solution",
    "Trajectories",
    "aim",
    "aim_from_table",
    "burnout_state_eci",
    "fly",
    "forward",
    "hermite",
    "kepler",
    "loft_table",
    "propagate",
    "relative_speed_and_angle",
    "surface_height",
]
