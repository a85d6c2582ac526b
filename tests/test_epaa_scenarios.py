"""The built-in EPAA scenarios: they load, every parameter entry cites a source or says
notional (the rule lisbon2010 follows), the phases add what the EPAA added, and each phase's
raids are reachable (the truth solves)."""

from __future__ import annotations

import pytest
import yaml

from conftest import entries_needing_source
from jointbmd.scenario import builtin_names, builtin_text, load_scenario

PHASES = ["epaa2011", "epaa2015", "epaa2018"]


@pytest.mark.parametrize("name", PHASES)
def test_every_parameter_entry_has_a_source(name):
    assert name in builtin_names()
    data = yaml.safe_load(builtin_text(name))
    data.setdefault("fusion_centre", {"source": "none in this scenario"})
    data.setdefault("links", [])
    entries = list(entries_needing_source(data))
    assert len(entries) > 30
    for where, entry in entries:
        source = entry.get("source")
        assert isinstance(source, str) and source.strip(), f"{name}: {where} has no source"


def test_phases_add_sites_and_interceptors():
    units = {n: {f.name: t.name for _, f, t in load_scenario(n).fire_units()} for n in PHASES}
    assert units["epaa2011"] == {"Ship SM-3 IA": "SM-3 Block IA"}
    assert units["epaa2015"]["Deveselu SM-3 IB"] == "SM-3 Block IB"
    assert units["epaa2018"]["Redzikowo SM-3 IIA"] == "SM-3 Block IIA"
    assert set(units["epaa2015"]) < set(units["epaa2018"])
    s = load_scenario("epaa2018")
    assert {x.name for _, x, _ in s.radars()} >= {"Kurecik AN/TPY-2", "Redzikowo SPY-1"}
    redzikowo = s.site("Redzikowo")
    assert (redzikowo.lat_deg, redzikowo.lon_deg) == (54.479, 17.109)
    iia = s.interceptor_type("SM-3 Block IIA")
    assert (iia.burnout_speed_mps, iia.max_range_km, iia.max_altitude_km) == (4500, 2500, 1000)
    assert [p.name for p in s.partners] == ["NATO"]
    assert "2023" in redzikowo.source  # the plan, and when it really came


@pytest.mark.slow
@pytest.mark.parametrize("name", PHASES)
def test_raids_are_reachable(name):
    from jointbmd.simulation.truth import build_truth

    truth = build_truth(load_scenario(name))
    assert truth.n == 5 and truth.miss_m.max() < 10.0


@pytest.mark.slow
def test_coverage_rows_and_phases_never_lose_area():
    """The epaa-coverage validation rows exist, say what they compare, and the defended fraction
    of NATO Europe never falls from one phase to the next (each phase adds units and radars;
    the ship's Block IB has Block IA's kinematics)."""
    from jointbmd.analysis import validate

    rows = validate.run_checks(["epaa-coverage"])
    assert len(rows) == 4
    assert all(row.passed or row.disagreement for row in rows)
    fractions = [validate._pooled(validate._epaa_footprints(n, "sensors", None)) for n in PHASES]
    assert fractions[0] <= fractions[1] <= fractions[2]
    assert 0.0 < fractions[0] and fractions[2] <= 1.0
