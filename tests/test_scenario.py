"""Scenario files: the built-in loads and cites its sources, every kind of bad input becomes one
line naming the file, the field and the reason (exit 2, no traceback), cross-references are
checked, field paths and ``set_field`` work, and the JSON Schema is a valid schema."""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess

import jsonschema
import pytest
import yaml

from conftest import entries_needing_source
from jointbmd.cli import main
from jointbmd.errors import UserError
from jointbmd.scenario import (
    Scenario,
    builtin_names,
    builtin_text,
    format_path,
    get_path,
    json_schema,
    load_scenario,
    loads_scenario,
    parse_path,
    scenario_to_dict,
    scenario_to_yaml,
    set_field,
    validate_data,
)

GOOD = builtin_text("lisbon2010")
GOOD_DATA = yaml.safe_load(GOOD)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def dump(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def line_containing(text: str, fragment: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in text")


# ---------------------------------------------------------------------------------------------
# The built-in scenario
# ---------------------------------------------------------------------------------------------


def test_builtin_lisbon2010_loads():
    assert "lisbon2010" in builtin_names()
    scenario = load_scenario("lisbon2010")
    assert scenario.jointbmd == 1
    assert scenario.epoch == dt.datetime(2012, 6, 1, tzinfo=dt.UTC)
    assert {p.name for p in scenario.partners} == {"NATO", "Russia"}
    assert scenario.fusion_centre is not None and scenario.fusion_centre.name == "DFC"
    kinds = {a.kind for a in scenario.arrangements}
    assert kinds == {"independent", "data-exchange", "sectoral", "joint"}
    assert 6 <= scenario.threat_count() <= 10
    launches = [t for raid in scenario.raids for t in raid.launch_times_s()]
    assert max(launches) - min(launches) <= 600.0


def test_builtin_matches_public_reference_figures():
    """Figures from docs/reference.md (sites and facts), copied here so that the test runs
    from a clean clone."""
    s = load_scenario("lisbon2010")
    kurecik = s.site("Kurecik")
    assert (kurecik.lat_deg, kurecik.lon_deg, kurecik.alt_m) == (38.34944, 37.79361, 2085)
    deveselu = s.site("Deveselu")
    assert (deveselu.lat_deg, deveselu.lon_deg, deveselu.alt_m) == (44.0773, 24.4164, 88)
    assert "2016" in deveselu.source  # certified only in 2016: said so in a 2012 scenario
    units = {f.name: (f, t) for _, f, t in s.fire_units()}
    unit, interceptor = units["Deveselu SM-3 IB"]
    assert unit.inventory == 24 and interceptor.name == "SM-3 Block IB"
    assert interceptor.burnout_speed_mps == pytest.approx(3000.0)
    assert s.site("Gabala").lat_deg == 40.87 and s.site("Gabala").lon_deg == 47.80
    assert s.site("Armavir").lat_deg == 44.925106 and s.site("Armavir").lon_deg == 40.983894
    assert s.sensor_type("AN/TPY-2").reference_range_km == 1500
    assert s.sensor_type("Daryal").reference_range_km == 6000
    assert s.sensor_type("Voronezh-DM").reference_range_km == 4000
    (armavir,) = s.site("Armavir").sensors
    assert armavir.boresight_az_deg - armavir.az_half_width_deg == pytest.approx(55.0)
    assert armavir.boresight_az_deg + armavir.az_half_width_deg == pytest.approx(295.0)
    assert (armavir.min_elevation_deg, armavir.max_elevation_deg) == (2, 60)
    ia = s.interceptor_type("SM-3 Block IA")
    assert (ia.max_range_km, ia.max_altitude_km) == (850, 550)
    assert any(site.kind == "ship" for site in s.sites)
    russian_units = [f for site, f, _ in s.fire_units() if site.partner == "Russia"]
    assert russian_units and all("notional" in f.source for f in russian_units)


def test_builtin_every_parameter_entry_has_a_source():
    entries = list(entries_needing_source(GOOD_DATA))
    assert len(entries) > 40
    for where, entry in entries:
        source = entry.get("source")
        assert isinstance(source, str) and source.strip(), f"{where} has no source"


def test_builtin_round_trips_through_yaml_and_dict():
    s = load_scenario("lisbon2010")
    again = loads_scenario(scenario_to_yaml(s), file="again.yaml")
    assert again == s
    data = scenario_to_dict(s)
    json.dumps(data)  # JSON-compatible
    assert validate_data(data) == s
    assert data["raids"][0]["trajectory"] == "minimum-energy"


def test_scenario_is_frozen():
    s = load_scenario("lisbon2010")
    with pytest.raises(Exception):  # noqa: B017  (pydantic's ValidationError on assignment)
        s.sites[0].lat_deg = 0.0  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Bad input: one line, file + field + reason (+ line), exit 2
# ---------------------------------------------------------------------------------------------


def _replace(old: str, new: str, count: int = 1) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, count)


BAD_TEXT = {
    # name: (text, field in the message, reason fragment, fragment of the offending line)
    "latitude 95": (
        _replace("lat_deg: 44.0773", "lat_deg: 95"),
        "sites[1].lat_deg",
        "less than or equal to 90",
        "lat_deg: 95",
    ),
    "NaN": (
        _replace("lat_deg: 44.0773", "lat_deg: .nan"),
        "sites[1].lat_deg",
        "finite",
        "lat_deg: .nan",
    ),
    "infinity": (
        _replace("reference_range_km: 1500", "reference_range_km: .inf"),
        "sensor_types[0].reference_range_km",
        "finite",
        "reference_range_km: .inf",
    ),
    "negative speed": (
        _replace("burnout_speed_mps: 3000", "burnout_speed_mps: -3000"),
        "interceptor_types[0].burnout_speed_mps",
        "greater than 0",
        "burnout_speed_mps: -3000",
    ),
    "probability above 1": (
        _replace("sspk: 0.7", "sspk: 1.5"),
        "interceptor_types[0].sspk",
        "less than or equal to 1",
        "sspk: 1.5",
    ),
    "wrong type": (
        _replace("inventory: 24", "inventory: many"),
        "sites[1].fire_units[0].inventory",
        "expected a whole number",
        "inventory: many",
    ),
    "missing key": (
        _replace("    revisit_s: 10.0\n", ""),
        "sensor_types[2].revisit_s",
        "missing required key",
        "name: Daryal",
    ),
    "unknown key": (
        _replace("    revisit_s: 10.0\n", "    revisit_sec: 10.0\n"),
        "sensor_types[2].revisit_sec",
        "did you mean 'revisit_s'",
        "revisit_sec",
    ),
    "unknown top-level key": (
        _replace("model: full\n", "model: full\nthreats: []\n"),
        "threats",
        "unknown key",
        "threats: []",
    ),
    "bad enum": (
        _replace("vote_rule: consensus", "vote_rule: unanimous"),
        "arrangements[3].vote_rule",
        "'consensus', 'majority' or 'any-may-fire'",
        "vote_rule: unanimous",
    ),
    "bad kind": (
        _replace("kind: infrared", "kind: ultraviolet"),
        "sensor_types[4]",
        "'ultraviolet'",
        "name: SBIRS/DSP",
    ),
    "field of another arrangement kind": (
        _replace("    sectors: territory\n", "    sectors: territory\n    vote_rule: consensus\n"),
        "arrangements[2].vote_rule",
        "unknown key",
        "vote_rule: consensus",
    ),
    "stage with both descriptions": (
        _replace(
            "      - burn_time_s: 110\n", "      - burn_time_s: 110\n        delta_v_mps: 4000\n"
        ),
        "threat_types[0].stages[0]",
        "not both",
        "burn_time_s: 110",
    ),
    "bad trajectory": (
        _replace("count: 1, launch_time_s: 180,", "count: 1, launch_time_s: 180, trajectory: max,"),
        "raids[5].trajectory",
        "minimum-energy",
        "trajectory: max",
    ),
    "bad epoch": (
        _replace("epoch: 2012-06-01T00:00:00Z", "epoch: yesterday"),
        "epoch",
        "datetime",
        "epoch: yesterday",
    ),
    "impossible date": (
        _replace("epoch: 2012-06-01T00:00:00Z", "epoch: 2012-13-45"),
        None,
        "invalid date",
        "epoch: 2012-13-45",
    ),
    "duplicate key": (
        _replace("lat_deg: 44.0773", "lat_deg: 44.0773\n    lat_deg: 44.5"),
        None,
        "duplicate key 'lat_deg'",
        "lat_deg: 44.5",
    ),
    "yaml syntax error": (
        _replace("  - name: Kurecik\n", "  - name: [Kurecik\n"),
        None,
        "YAML syntax error",
        None,
    ),
    "unsupported version": (
        _replace("jointbmd: 1", "jointbmd: 2"),
        "jointbmd",
        "unsupported scenario version 2",
        "jointbmd: 2",
    ),
    "version missing": (_replace("jointbmd: 1\n", ""), "jointbmd", "missing version key", None),
    "top level is a list": ("- jointbmd\n- 1\n", None, "top level must be a mapping", None),
    "top level is a scalar": ("just some words\n", None, "top level must be a mapping", None),
    "empty file": ("", None, "empty file", None),
    "only comments": ("# a comment\n\n   \n", None, "empty file", None),
    "dangling interceptor type": (
        _replace("interceptor_type: SM-3 Block IB", "interceptor_type: SM-3 Block IX"),
        "sites[1].fire_units[0].interceptor_type",
        "unknown interceptor type 'SM-3 Block IX'",
        "interceptor_type: SM-3 Block IX",
    ),
    "dangling link end": (
        _replace("a: Russia, b: DFC", "a: Rusia, b: DFC"),
        "links[1].a",
        "unknown link end point",
        "a: Rusia",
    ),
    "duplicate site": (
        _replace("  - name: Armavir\n", "  - name: Gabala  # again\n"),
        "sites[4].name",
        "duplicate site name 'Gabala' (first at sites[3])",
        "Gabala  # again",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TEXT))
def test_bad_input_gives_one_line_with_file_field_reason_and_line(case, tmp_path, capsys):
    text, field, reason, offending = BAD_TEXT[case]
    path = write(tmp_path, "bad.yaml", text)
    code, out, err = run_cli(["scenario", "check", str(path)], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    assert err.startswith(f"jointbmd: {path}: "), err
    if field is not None:
        assert f": {field}: " in err, err
    assert reason in err, err
    if offending is not None:
        assert f"(line {line_containing(text, offending)})" in err, err


BAD_FILES = {
    "binary": (b"\x00\x01\x02jointbmd: 1\n", "binary file"),
    "not UTF-8": (GOOD.encode()[:300] + "name: K\xfcrecik\n".encode("latin-1"), "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_bytes(case, tmp_path, capsys):
    raw, reason = BAD_FILES[case]
    path = write(tmp_path, "bad.yaml", raw)
    code, _, err = run_cli(["scenario", "check", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"{path}: " in err and reason in err


def test_missing_file_and_directory(tmp_path, capsys):
    code, _, err = run_cli(["scenario", "check", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2 and "nope.yaml: no such file" in err
    code, _, err = run_cli(["scenario", "check", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in err
    code, _, err = run_cli(["scenario", "check", "lisbon2011"], capsys)
    assert code == 2 and "no such file or built-in scenario" in err and "lisbon2010" in err


@pytest.mark.parametrize(
    ("args", "text", "fragment"),
    [
        (
            ["scenario", "check"],
            GOOD.replace("lat_deg: 44.0773", "lat_deg: 95"),
            "sites[1].lat_deg",
        ),
        (["scenario", "check"], "\x00\x00", "binary file"),
        (["scenario", "check"], "jointbmd: [1\n", "YAML syntax error"),
    ],
)
def test_real_subprocess_one_line_exit_2(args, text, fragment, tmp_path):
    path = write(tmp_path, "bad.yaml", text)
    result = subprocess.run(
        ["jointbmd", *args, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert str(path) in result.stderr and fragment in result.stderr


def test_real_subprocess_check_ok():
    result = subprocess.run(
        ["jointbmd", "scenario", "check", "lisbon2010", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True and summary["partners"] == 2 and summary["threats"] == 8


# ---------------------------------------------------------------------------------------------
# Cross-references, on data
# ---------------------------------------------------------------------------------------------


def _mutated(edit) -> dict:
    data = copy.deepcopy(GOOD_DATA)
    edit(data)
    return data


def _site(data, name):
    return next(s for s in data["sites"] if s["name"] == name)


CROSS_REFERENCE = {
    "sensor type unknown": (
        lambda d: _site(d, "Kurecik")["sensors"][0].update(type="AN/TPY-3"),
        "sites[0].sensors[0].type",
        "unknown sensor type 'AN/TPY-3'",
    ),
    "radar site sensor with infrared type": (
        lambda d: _site(d, "Kurecik")["sensors"][0].update(type="SBIRS/DSP"),
        "sites[0].sensors[0].type",
        "is infrared",
    ),
    "space sensor with radar type": (
        lambda d: d["space_sensors"][0].update(type="Daryal"),
        "space_sensors[0].type",
        "is radar",
    ),
    "site partner unknown": (
        lambda d: _site(d, "Gabala").update(partner="Azerbaijan"),
        "sites[3].partner",
        "unknown partner 'Azerbaijan'",
    ),
    "raid threat type": (
        lambda d: d["raids"][0].update(threat_type="Shahab-4"),
        "raids[0].threat_type",
        "unknown threat type",
    ),
    "raid launch area": (
        lambda d: d["raids"][0].update(launch_area="Tehran"),
        "raids[0].launch_area",
        "unknown launch area",
    ),
    "raid aimpoint": (
        lambda d: d["raids"][0].update(aimpoint="Paris"),
        "raids[0].aimpoint",
        "unknown defended asset",
    ),
    "asset partner": (
        lambda d: d["defended_assets"][0].update(partner="EU"),
        "defended_assets[0].partner",
        "unknown partner",
    ),
    "vote latency partner": (
        lambda d: d["arrangements"][3]["vote_latency_s"].update(China=5),
        "arrangements[3].vote_latency_s[China]",
        "unknown partner 'China'",
    ),
    "veto partner": (
        lambda d: d["arrangements"][3].update(veto=["NATO", "Ukraine"]),
        "arrangements[3].veto[1]",
        "unknown partner 'Ukraine'",
    ),
    "sector without territory": (
        lambda d: d["partners"][1].pop("territory"),
        "arrangements[2].sectors",
        "territory polygon for partner 'Russia'",
    ),
    "explicit sector for unknown partner": (
        lambda d: d["arrangements"][2].update(sectors={"Narnia": [[0, 0], [1, 0], [0, 1]]}),
        "arrangements[2].sectors[Narnia]",
        "unknown partner 'Narnia'",
    ),
    "event partner": (
        lambda d: d["events"].append(
            {"kind": "partner-drops-out", "partner": "Iran", "time_s": 60}
        ),
        "events[0].partner",
        "unknown partner 'Iran'",
    ),
    "duplicate sensor across sites": (
        lambda d: _site(d, "Deveselu")["sensors"][0].update(name="Kurecik AN/TPY-2"),
        "sites[1].sensors[0].name",
        "duplicate sensor name",
    ),
    "duplicate fire unit": (
        lambda d: _site(d, "RU battery Moscow")["fire_units"][0].update(
            name="RU Krasnodar interceptors"
        ),
        "sites[6].fire_units[0].name",
        "duplicate fire unit name",
    ),
    "duplicate arrangement": (
        lambda d: d["arrangements"][4].update(name="joint-consensus"),
        "arrangements[4].name",
        "duplicate arrangement name",
    ),
    "second link between the same ends": (
        lambda d: d["links"].append({"a": "DFC", "b": "NATO", "latency_s": 1.0}),
        "links[2]",
        "a second link between",
    ),
    "fusion centre named like a partner": (
        lambda d: d["fusion_centre"].update(name="NATO"),
        "fusion_centre.name",
        "already a partner",
    ),
    "sweep path unknown": (
        lambda d: d["campaign"].update(sweep=[{"path": "links[0].latncy_s", "values": [1.0]}]),
        "campaign.sweep[0].path",
        "no field 'latncy_s'",
    ),
    "sweep range of a count in fractions": (
        lambda d: d["campaign"].update(
            sweep=[
                {
                    "path": "sites[Deveselu].fire_units[0].inventory",
                    "range": {"start": 8, "stop": 24, "num": 4},
                }
            ]
        ),
        "campaign.sweep[0].range",
        "expected a whole number",
    ),
    "sweep value invalid": (
        lambda d: d["campaign"].update(
            sweep=[{"path": "interceptor_types[SM-3 Block IA].sspk", "values": [0.5, 1.5]}]
        ),
        "campaign.sweep[0].values[1]",
        "less than or equal to 1",
    ),
}


@pytest.mark.parametrize("case", sorted(CROSS_REFERENCE))
def test_cross_reference_errors(case, tmp_path):
    edit, field, reason = CROSS_REFERENCE[case]
    text = dump(_mutated(edit))
    path = write(tmp_path, "x.yaml", text)
    with pytest.raises(UserError) as info:
        load_scenario(path)
    error = info.value
    assert error.file == str(path)
    assert error.field == field, error.one_line()
    assert reason in error.reason, error.one_line()
    assert error.line is not None and 1 <= error.line <= text.count("\n") + 1
    assert "\n" not in error.one_line()


def test_cross_reference_error_points_at_the_right_line(tmp_path):
    text = _replace("interceptor_type: SM-3 Block IA", "interceptor_type: nothing")
    with pytest.raises(UserError) as info:
        loads_scenario(text, file="x.yaml")
    assert info.value.line == line_containing(text, "interceptor_type: nothing")


def test_direct_model_validation_checks_references_too():
    data = _mutated(lambda d: d["raids"][0].update(aimpoint="Paris"))
    with pytest.raises(UserError) as info:
        Scenario.model_validate(data)
    assert info.value.field == "raids[0].aimpoint"


def test_valid_variants():
    def variants(d):
        d["raids"][0]["trajectory"] = {"apogee_km": 300}
        d["raids"][1]["trajectory"] = {"flight_time_s": 600}
        d["threat_types"][0]["stages"] = [{"burn_time_s": 100, "delta_v_mps": 4000}]
        d["arrangements"][2]["sectors"] = {
            "NATO": d["partners"][0]["territory"],
            "Russia": d["partners"][1]["territory"],
        }
        d["arrangements"][3].update(abstain=["Russia"], veto=["NATO"], vote_rule="majority")
        d["events"] = [{"kind": "partner-drops-out", "partner": "Russia", "time_s": 100}]
        d["links"][0]["outages"] = [{"start_s": 10, "end_s": 20}]
        d["epoch"] = dt.datetime(2012, 6, 1, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
        d["campaign"]["sweep"] = [
            {"path": "links[NATO-DFC].latency_s", "values": [1.0, 5]},
            {"path": "sites[Deveselu].fire_units[0].inventory", "values": [12, 24]},
            {
                "path": "interceptor_types[SM-3 Block IA].burnout_speed_mps",
                "range": {"start": 3000, "stop": 4500, "num": 4},
            },
        ]

    s = validate_data(_mutated(variants))
    assert s.raids[0].trajectory.kind == "apogee" and s.raids[0].trajectory.apogee_km == 300
    assert s.raids[1].trajectory.kind == "flight-time"
    assert s.raids[2].trajectory.kind == "minimum-energy"
    assert not s.threat_types[0].stages[0].by_mass
    assert s.epoch == dt.datetime(2012, 6, 1, 0, 0, tzinfo=dt.UTC)
    assert s.sector_polygon(s.arrangements[2], "NATO") == s.partner("NATO").territory
    assert s.campaign.sweep[2].points() == pytest.approx([3000, 3500, 4000, 4500])
    counts = {
        "path": "sites[Deveselu].fire_units[0].inventory",
        "range": {"start": 8, "stop": 24, "num": 5},
    }
    s = validate_data(_mutated(lambda d: d["campaign"].update(sweep=[counts])))
    assert s.campaign.sweep[0].points() == [8, 12, 16, 20, 24]
    assert loads_scenario(scenario_to_yaml(s)) == s


def test_naive_epoch_is_utc():
    s = validate_data(_mutated(lambda d: d.update(epoch=dt.datetime(2012, 6, 1))))
    assert s.epoch.tzinfo is not None and s.epoch.utcoffset() == dt.timedelta(0)


# ---------------------------------------------------------------------------------------------
# Field paths and set_field
# ---------------------------------------------------------------------------------------------


def test_parse_and_format_paths():
    assert parse_path("interceptor_types[SM-3 Block IA].burnout_speed_mps") == [
        "interceptor_types",
        "SM-3 Block IA",
        "burnout_speed_mps",
    ]
    assert parse_path("links[0].latency_s") == ["links", "0", "latency_s"]
    assert (
        format_path(("sites", 2, "fire_units", 0, "inventory"))
        == "sites[2].fire_units[0].inventory"
    )
    assert format_path(("arrangements", 3, "vote_latency_s", "New partner")) == (
        "arrangements[3].vote_latency_s[New partner]"
    )
    for bad in ["", "links[0", "links..a", ".links", "links[0]latency_s", "links[]", "1abc"]:
        with pytest.raises(UserError):
            parse_path(bad)


def test_set_field_changes_one_field_and_validates():
    s = load_scenario("lisbon2010")
    faster = set_field(s, "interceptor_types[SM-3 Block IA].burnout_speed_mps", 3500.0)
    assert faster.interceptor_type("SM-3 Block IA").burnout_speed_mps == 3500.0
    assert s.interceptor_type("SM-3 Block IA").burnout_speed_mps == 3000.0  # original untouched
    slower_link = set_field(s, "links[0].latency_s", 7.5)
    assert slower_link.links[0].latency_s == 7.5
    by_name = set_field(s, "links[Russia-DFC].loss_probability", 0.2)
    assert by_name.links[1].loss_probability == 0.2
    votes = set_field(s, "arrangements[joint-consensus].vote_latency_s[Russia]", 45)
    assert votes.arrangement("joint-consensus").vote_latency_s["Russia"] == 45
    nested = set_field(s, "sites[Deveselu].fire_units[0].inventory", 12)
    assert nested.site("Deveselu").fire_units[0].inventory == 12
    assert set_field(s, "model", "ideal").model == "ideal"
    assert get_path(scenario_to_dict(nested), "sites[1].fire_units[0].inventory") == 12


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("interceptor_types[SM-3 Block IX].sspk", 0.5, "no entry named 'SM-3 Block IX'"),
        ("links[7].latency_s", 1.0, "index 7 is out of range"),
        ("links[0].latncy_s", 1.0, "no field 'latncy_s'"),
        ("threats", 1, "no field 'threats'"),
        ("links.latency_s", 1.0, "is a list"),
        ("model.x", 1, "single value"),
        ("links[0].latency_s", -1.0, "greater than or equal to 0"),
        ("links[0].latency_s", float("nan"), "finite"),
        ("sites[0].partner", "Narnia", "unknown partner"),
    ],
)
def test_set_field_rejects_unknown_paths_and_bad_values(path, value, reason):
    s = load_scenario("lisbon2010")
    with pytest.raises(UserError) as info:
        set_field(s, path, value)
    assert info.value.field == path
    assert reason in info.value.reason


# ---------------------------------------------------------------------------------------------
# JSON Schema and the other commands
# ---------------------------------------------------------------------------------------------


def test_json_schema_is_valid_and_accepts_the_builtin(capsys):
    code, out, _ = run_cli(["scenario", "schema"], capsys)
    assert code == 0
    schema = json.loads(out)
    assert schema == json.loads(json.dumps(json_schema()))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    instance = scenario_to_dict(load_scenario("lisbon2010"))
    assert list(validator.iter_errors(instance)) == []
    raw = json.loads(json.dumps(GOOD_DATA, default=str))  # as written, defaults omitted
    assert list(validator.iter_errors(raw)) == []
    bad = copy.deepcopy(instance)
    bad["sites"][0]["lat_deg"] = 95
    bad["sites"][0]["colour"] = "red"
    assert len(list(validator.iter_errors(bad))) == 2


def test_list_show_and_check_commands(capsys):
    code, out, _ = run_cli(["scenario", "list", "--json"], capsys)
    assert code == 0
    listed = json.loads(out)["scenarios"]
    assert [r["name"] for r in listed] == builtin_names()
    code, out, _ = run_cli(["scenario", "show", "lisbon2010"], capsys)
    assert code == 0 and out == GOOD
    code, out, _ = run_cli(["scenario", "check", "lisbon2010", "--json"], capsys)
    summary = json.loads(out)
    assert code == 0
    assert summary["sites"] == 7 and summary["fire_units"] == 4 and summary["raids"] == 6
    assert summary["sensors"] == 6 and summary["threat_types"] == 2
    code, out, _ = run_cli(["scenario", "check", "lisbon2010"], capsys)
    assert code == 0 and "lisbon2010" in out
    code, _, err = run_cli(["scenario", "show", "nowhere"], capsys)
    assert code == 2 and "no built-in scenario named 'nowhere'" in err


def test_show_output_is_a_loadable_file(tmp_path, capsys):
    _, out, _ = run_cli(["scenario", "show", "lisbon2010"], capsys)
    path = write(tmp_path, "mine.yaml", out)
    assert load_scenario(path) == load_scenario("lisbon2010")


def test_a_union_field_reports_the_member_that_matches_the_input(tmp_path):
    text = GOOD.replace(
        "sectors: territory", "sectors: {NATO: [[40, 20], [50, 20]], Russia: [[40, 40], [50, 40]]}"
    )
    with pytest.raises(UserError) as error:
        load_scenario(write(tmp_path, "sectors.yaml", text))
    assert error.value.field.endswith("sectors.NATO")
    assert "at least 3" in error.value.reason and "literal" not in error.value.one_line()


def test_a_number_yaml_reads_as_text_gets_a_hint(tmp_path):
    text = GOOD.replace("burnout_speed_mps: 3000", "burnout_speed_mps: 3e3", 1)
    with pytest.raises(UserError) as error:
        load_scenario(write(tmp_path, "exponent.yaml", text))
    assert "expected a number" in error.value.reason and "3000.0" in error.value.reason


def test_set_field_sets_an_optional_field_the_file_left_out():
    """A sweep or a study may vary a field the file does not write (decoys, discrimination);
    a field the schema does not have stays an error naming the fields there."""
    base = load_scenario("lisbon2010")
    assert base.threat_types[0].decoys is None
    changed = set_field(base, "threat_types[Shahab-3].decoys", {"count": 3, "rcs_m2": 0.2})
    assert changed.threat_types[0].decoys.count == 3
    with pytest.raises(UserError, match="no field 'nonsense'.*decoys"):
        set_field(base, "threat_types[Shahab-3].nonsense", 1)
