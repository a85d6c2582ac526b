"""The study report: one self-contained HTML file a reader can take away.

In: a results store and a campaign id (a study's main campaign or a plain campaign). Out: one
HTML file with everything inline -- plots as base64 PNG, styles in the page, no script, no font,
no link that loads anything (a Content-Security-Policy of ``default-src 'none'`` says so to the
browser) -- so it reads offline and survives being emailed. Sections:

1. what was run: scenario (description, epoch), arrangements, seed, replications, design, code
   version, store, and every source the scenario cites;
2. the comparison of the arrangements with 95 % intervals (each with its method) and the paired
   differences against the baseline arrangement (same replications: same threats, same draws);
3. for a study: its inputs and their sources, Sobol' indices with intervals, tornado charts,
   thresholds and conclusion shares;
4. the scenario map (and, for a plain campaign, its plots);
5. the modelling assumptions (``docs/modelling.md``) and the validation table
   (``jointbmd.analysis.validate``);
6. how to reproduce it: the exact commands.

Numbers a test or a reader may want to pick out carry ``data-*`` attributes with the full value
(``<td data-metric="p_no_leak" data-value="0.75">0.750</td>``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from jointbmd.errors import UserError

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222;
       line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.fail { color: #b2182b; font-weight: bold; } .note { color: #555; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
"""
METRIC_LABELS = {
    "p_no_leak": "P(no leak)",
    "expected_leakers": "expected leakers",
    "interceptors_spent": "interceptors spent",
}


def write_report(
    store_path: str | Path, out: str | Path, campaign_id: int | None = None,
    *, validation: bool = True,
) -> Path:  # fmt: skip
    """Write the report of a campaign (default: the latest study, else the latest campaign)."""
    from jointbmd.store import Store

    target = Path(out)
    if target.is_dir():
        raise UserError("is a directory; give a file name", field="--out", file=str(target))
    if not target.parent.exists():
        raise UserError(f"directory {target.parent} does not exist", field="--out",
                        file=str(target))  # fmt: skip
    with Store(store_path, read_only=True) as store:
        text = build_report(store, campaign_id, validation=validation)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserError(
            f"cannot write: {error.strerror}", field="--out", file=str(target)
        ) from None
    return target


def build_report(store: Any, campaign_id: int | None = None, *, validation: bool = True) -> str:
    """The report's HTML text."""
    from jointbmd.analysis import sensitivity

    record = sensitivity.main_campaign(store, campaign_id) if campaign_id is None else None
    record = record or store.campaign(campaign_id)
    study = sensitivity.study_result(store, record) if sensitivity.is_study(record) else None
    with tempfile.TemporaryDirectory(prefix="jointbmd-report-") as scratch:
        figures = _figures(store, record, study, Path(scratch))
        parts = [
            _header(store, record, study),
            _comparison(store, record, study),
            _sensitivity(study, figures) if study else "",
            _plots(figures),
            _assumptions(),
            _validation() if validation else "",
            _reproduce(store, record, study),
        ]
    title = f"jointbmd report: {record.scenario_name}" + (
        f", study {study['study']}" if study else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1>" + "".join(parts) + "</body></html>\n"
    )


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def _header(store: Any, record: Any, study: dict | None) -> str:
    scenario = record.scenario
    rows = [
        ("scenario", record.scenario_name),
        ("description", scenario.get("description", "")),
        ("scenario epoch", scenario.get("epoch", "")),
        ("scenario hash", record.scenario_hash),
        ("arrangements", ", ".join(record.arrangements)),
        ("master seed", str(record.seed)),
        ("replications", f"{record.spec.get('replications')} per point"),
        ("campaign", f"{record.campaign_id} (created {record.created:%Y-%m-%d %H:%M} UTC)"),
        ("store", str(store.path)),
        ("code version", code_version()),
        ("report written", _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    if study:
        d = study["design"]
        rows.insert(6, ("study design", (
            f"{study['study']}: {d['method']}, {d['samples']} base samples, "
            f"{d['sampled_points']} sampled + {d['one_at_a_time_points']} one-at-a-time points"
        )))  # fmt: skip
    elif record.spec.get("sweep"):
        rows.insert(6, ("sweep", "; ".join(
            f"{s['path']} = {s['values']}" for s in record.spec["sweep"]
        )))  # fmt: skip
    sources = _sources(scenario)
    body = _table(["", ""], [[_e(k), _e(v)] for k, v in rows], header=False, html_id="run")
    body += (
        f"<details><summary>The scenario's {len(sources)} cited sources (each entry's "
        "<code>source</code>)</summary>"
        + _table(["entry", "source"], [[_e(p), _e(s)] for p, s in sources], html_id="sources")
        + "</details>"
    )
    return '<h2 id="what">What was run</h2>' + body


def _comparison(store: Any, record: Any, study: dict | None) -> str:
    if study:
        return _study_comparison(study)
    from jointbmd.campaign import aggregate

    rows = aggregate(store, record.campaign_id)
    paths = list(dict.fromkeys(p for r in rows for p in r.sweep_values))
    head = [*paths, "arrangement", "replications", "P(no leak) [95 % Wilson]",
            "expected leakers [95 % t]", "interceptors spent [95 % t]"]  # fmt: skip
    body = []
    for r in rows:
        body.append([
            *(_e(r.sweep_values.get(p)) for p in paths),
            _e(r.arrangement),
            _num(r.replications, "replications", r.arrangement, r.point, "{:d}"),
            _est(r.p_no_leak, r.p_no_leak_ci, "p_no_leak", r.arrangement, r.point, "{:.3f}"),
            _est(r.expected_leakers, r.expected_leakers_ci, "expected_leakers", r.arrangement,
                 r.point, "{:.2f}"),
            _est(r.interceptors_spent, r.interceptors_spent_ci, "interceptors_spent",
                 r.arrangement, r.point, "{:.1f}"),
        ])  # fmt: skip
    text = '<h2 id="comparison-section">Comparison of the arrangements</h2>'
    text += _table(head, body, html_id="comparison")
    text += _paired_section(store, record, rows)
    return text


def _paired_section(store: Any, record: Any, rows: list) -> str:
    from jointbmd.analysis.paired import paired_comparisons, resolve_baseline
    from jointbmd.store import Selection

    arrangements = list(record.arrangements)
    if len(arrangements) < 2:
        return ""
    baseline = resolve_baseline(arrangements, None)
    body = []
    for point in sorted({r.point for r in rows}):
        threats = store.rows("threat_outcomes", Selection(record.campaign_id, point=point))
        for c in paired_comparisons(threats, arrangements, baseline):
            if c.replications == 0:
                continue
            label = f"{c.arrangement} - {baseline}"
            p, leak, spent, shot = (
                c.no_leak,
                c.leakers,
                c.interceptors_spent,
                c.launch_to_first_shot_s,
            )
            body.append([
                _e(point), _e(label), _num(c.replications, "pairs", label, point, "{:d}"),
                _est(p.value, p.ci, "delta_p_no_leak", label, point, "{:+.3f}"),
                _est(leak.value, leak.ci, "delta_expected_leakers", label, point, "{:+.2f}"),
                _est(spent.value, spent.ci, "delta_interceptors_spent", label, point, "{:+.1f}"),
                _est(shot.value, shot.ci, "delta_launch_to_first_shot_s", label, point, "{:+.1f}"),
                _num(c.threats_both_engaged, "threats_both_engaged", label, point, "{:d}"),
            ])  # fmt: skip
    head = ["point", "difference", "pairs", "P(no leak) [Newcombe paired]",
            "leakers [paired t]", "interceptors [paired t]", "launch to first shot s [paired t]",
            "threats both shot at"]  # fmt: skip
    return (
        '<h3>Paired differences against the baseline</h3><p class="note">Each arrangement '
        "minus the baseline over the same replications (same threats, same random draws): the "
        "interval is on the difference itself. Launch to first shot compares only the threats "
        "both arrangements shot at (a mean per replication, then the t interval over "
        "replications).</p>" + _table(head, body, html_id="paired")
    )


def _study_comparison(study: dict) -> str:
    outputs = study["outputs"]
    design = study["design"]
    head = ["arrangement", "metric", "at nominal [95 % CI]", "method", "mean over the design",
            "5-95 % over the design"]  # fmt: skip
    body, paired = [], []
    for name, out in outputs.items():
        metric, label = name.split("[", 1)
        label = label.rstrip("]")
        nominal = out["nominal"]
        spread = out["design_p05_p95"]
        fmt = "{:+.3f}" if metric.startswith("delta_") else "{:.3f}"
        row = [
            _e(label), _e(METRIC_LABELS.get(metric.removeprefix("delta_"), metric)),
            _est(nominal["value"], nominal["ci"], metric, label, "nominal", fmt),
            _e(nominal["method"]),
            _num(out["design_mean"], metric + "_design_mean", label, "design", fmt),
            _e("-" if spread is None else f"{fmt.format(spread[0])} to {fmt.format(spread[1])}"),
        ]  # fmt: skip
        (paired if metric.startswith("delta_") else body).append(row)
    return (
        '<h2 id="comparison-section">Comparison of the arrangements</h2><p class="note">At '
        f"the nominal point ({design['replications']} replications, seed {design['seed']}), and "
        "over the sampled input space (each sampled point's mean over its replications).</p>"
        + _table(head, body, html_id="comparison")
        + f"<h3>Paired differences against the baseline ({_e(design['baseline'])})</h3>"
        '<p class="note">Same replications at every point: same threats, same draws.</p>'
        + _table(["difference", "metric", *head[2:]], paired, html_id="paired")
    )


def _sensitivity(study: dict, figures: dict[str, list[tuple[str, Path]]]) -> str:
    inputs = _table(
        ["input", "paths", "distribution", "range", "nominal", "source"],
        [[_e(i["name"]), _e(", ".join(i["paths"])), _e(i["distribution"]),
          _e(i["range"]), _e(i["nominal"]), _e(i["source"])] for i in study["inputs"]],
        html_id="inputs",
    )  # fmt: skip
    text = '<h2 id="sensitivity">Sensitivity</h2><h3>Uncertain inputs and their sources</h3>'
    text += inputs
    text += f'<p class="note">Indices: {_e(study["design"]["index_method"])}.</p>'
    names = [i["name"] for i in study["inputs"]]
    for output, indices in study["indices"].items():
        if not output.startswith(("p_no_leak[", "delta_p_no_leak[")):
            continue
        if indices is None:
            text += f"<p><b>{_e(output)}</b>: constant over the design (no indices).</p>"
            continue
        rows = []
        for name in names:
            rows.append([
                _e(name),
                _index_cell(indices[name]["first"], output, name, "first"),
                _index_cell(indices[name]["total"], output, name, "total"),
            ])  # fmt: skip
        text += f"<h3>{_e(output)}</h3>" + _table(
            ["input", "first order [95 % CI]", "total [95 % CI]"], rows,
            html_id=f"indices-{_slug(output)}",
        )  # fmt: skip
    for caption, path in figures.get("study", []):
        text += _img(path, caption)
    text += "<h3>Thresholds (the other inputs at nominal)</h3>" + _table(
        ["input", "output", "level", "where it changes", "bracket", "evaluations"],
        [[_e(t["input"]), _e(t["output"]), _e(t["level"]),
          _threshold_cell(t), _e("-" if not t["crosses"] else
                                 f"{t['bracket'][0]:.4g} to {t['bracket'][1]:.4g}"),
          _e(", ".join(f"{e['input']:.4g} -> {e['output']:.3f}" for e in t["evaluations"]))]
         for t in study["thresholds"]],
        html_id="thresholds",
    )  # fmt: skip
    text += "<h3>Conclusions: the share of the input space where each holds</h3>" + _table(
        ["statement", "share [95 % Wilson]", "points", "at nominal"],
        [[_e(c["statement"]),
          _est(c["share"], c["share_ci"], "share", c["statement"], "design", "{:.2f}"),
          _e(c["points"]), _e("holds" if c["holds_at_nominal"] else "does not hold")]
         for c in study["conclusions"]],
        html_id="conclusions",
    )  # fmt: skip
    return text


def _plots(figures: dict[str, list[tuple[str, Path]]]) -> str:
    text = '<h2 id="map">The scenario</h2>'
    for caption, path in figures.get("map", []):
        text += _img(path, caption)
    for caption, path in figures.get("campaign", []):
        text += _img(path, caption)
    return text


def _assumptions() -> str:
    path = docs_dir() / "modelling.md"
    if not path.is_file():
        return ("<h2 id=\"assumptions\">Modelling assumptions</h2><p>docs/modelling.md is not "
                "installed with this copy of jointbmd; see the project's docs.</p>")  # fmt: skip
    return '<h2 id="assumptions">Modelling assumptions</h2>' + markdown_to_html(
        path.read_text(encoding="utf-8"), top_level=3
    )


def _validation() -> str:
    from jointbmd.analysis import validate

    checks = validate.run_checks()
    failed = sum(not c.passed for c in checks)
    rows = [
        [_e(c.group), _e(c.name), _e(f"{c.expected:.6g}"), _e(f"{c.obtained:.6g}"),
         _e(f"{c.tolerance:.3g} {c.tolerance_kind}"), _e(c.source),
         "pass" if c.passed else "<span class=\"fail\">FAIL</span>"]
        for c in checks
    ]  # fmt: skip
    return (
        f'<h2 id="validation">Validation: {len(checks) - failed} of {len(checks)} checks '
        "pass</h2>"
        + _table(
            ["group", "check", "expected", "obtained", "tolerance", "source", "result"],
            rows,
            html_id="validation-table",
        )  # fmt: skip
    )


def _reproduce(store: Any, record: Any, study: dict | None) -> str:
    name = record.scenario_name
    where = str(store.path)
    if study:
        d = study["design"]
        run = (f"jointbmd study {name} --study {study['study']} --samples {d['samples']} "
               f"--replications {d['replications']} --store {where}")  # fmt: skip
        note = ("The study's file (with its seed) is the built-in one of that name, or the file "
                "given then; the store keeps a copy of it in the campaign's spec.")  # fmt: skip
    else:
        run = (f"jointbmd campaign {name} --replications {record.spec.get('replications')} "
               f"--seed {record.seed} --store {where}")  # fmt: skip
        note = "A sweep comes from the scenario's campaign section or the --campaign-file used."
    commands = [
        "python3 -m pip install -e .",
        run,
        f"jointbmd report --store {where} --campaign {record.campaign_id} --out report.html",
    ]
    return (
        '<h2 id="reproduce">How to reproduce</h2><pre id="commands">'
        + _e("\n".join(commands))
        + f'</pre><p class="note">{_e(note)} Code version: '
        f"{_e(code_version())}. The same seed gives the same numbers on any executor.</p>"
    )


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def _figures(store, record, study, scratch: Path) -> dict[str, list[tuple[str, Path]]]:
    from jointbmd.report import plots

    out: dict[str, list[tuple[str, Path]]] = {}
    out["map"] = [("The scenario: sites, radar coverage, threat tracks and intercepts",
                   plots.plot_map(store, record, scratch / "map.png"))]  # fmt: skip
    if study:
        out["study"] = [(p.stem.replace("_", " "), p) for p in plots.study_plots(study, scratch)]
    else:
        paths = plots.campaign_plots(store, record.campaign_id, scratch / "campaign")
        out["campaign"] = [(p.stem.replace("_", " "), p) for p in paths if p.stem != "map"]
    return out


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def code_version() -> str:
    """jointbmd's version and, in a git checkout, its commit (with '+dirty' for local edits)."""
    from jointbmd import __version__

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, text=True,
                                capture_output=True, timeout=10).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, text=True, capture_output=True,
                               timeout=10).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return f"jointbmd {__version__}" + (f" (commit {commit}{'+dirty' if dirty else ''})"
                                        if commit else "")  # fmt: skip


def docs_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "docs"


def _sources(data: Any, loc: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(data, dict):
        label = loc + (f"[{data['name']}]" if "name" in data and loc else "")
        if isinstance(data.get("source"), str):
            out.append((label or "scenario", data["source"]))
        for key, value in data.items():
            if key != "source":
                out += _sources(value, f"{label}.{key}" if label else key)
    elif isinstance(data, list):
        for item in data:
            out += _sources(item, loc)
    return out


def _e(value: Any) -> str:
    if isinstance(value, float):
        value = f"{value:.4g}"
    return html.escape(str(value))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _table(
    head: list[str], rows: list[list[str]], *, header: bool = True, html_id: str = ""
) -> str:
    ident = f' id="{html_id}"' if html_id else ""
    text = f"<table{ident}>"
    if header:
        text += "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
    for row in rows:
        text += "<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row)
        text += "</tr>"
    return text + "</table>"


def _attrs(metric: str, label: Any, point: Any) -> str:
    return f'data-metric="{_e(metric)}" data-row="{_e(label)}" data-point="{_e(point)}"'


def _num(value: Any, metric: str, label: Any, point: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f'<td class="num" {_attrs(metric, label, point)}>-</td>'
    return (f"<td class=\"num\" {_attrs(metric, label, point)} data-value=\"{float(value)!r}\">"
            f"{_e(fmt.format(value))}</td>")  # fmt: skip


def _est(value: Any, ci: Any, metric: str, label: Any, point: Any, fmt: str) -> str:
    if value is None or not math.isfinite(float(value)):
        return f'<td class="num" {_attrs(metric, label, point)}>-</td>'
    interval = ""
    if ci is not None and all(c is not None and math.isfinite(c) for c in ci):
        interval = f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"
    return (f"<td class=\"num\" {_attrs(metric, label, point)} data-value=\"{float(value)!r}\">"
            f"{_e(fmt.format(value) + interval)}</td>")  # fmt: skip


def _index_cell(index: dict, output: str, name: str, kind: str) -> str:
    if index.get("value") is None:
        return "<td>-</td>"
    return _est(index["value"], index["ci"], f"{kind}", f"{output}|{name}", "index", "{:.2f}")


def _threshold_cell(t: dict) -> str:
    if t["crosses"]:
        return _e(f"{t['value']:.4g} (the output {t['direction']} through {t['level']})")
    if t.get("above_everywhere") is None:
        return "not evaluated"
    side = "at or above" if t["above_everywhere"] else "below"
    return _e(f"no crossing in the range: {side} {t['level']} throughout")


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><img alt=\"{_e(caption)}\" src=\"data:image/png;base64,{data}\">"
            f"<figcaption class=\"note\">{_e(caption)}</figcaption></figure>")  # fmt: skip


def markdown_to_html(text: str, top_level: int = 2) -> str:
    """The small Markdown of docs/*.md as HTML: headings, paragraphs, '-' lists, code spans and
    fenced code; everything escaped (the docs are text, never markup)."""
    out: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    fenced: list[str] | None = None

    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)

    def flush() -> None:
        if paragraph:
            out.append("<p>" + inline(" ".join(paragraph)) + "</p>")
            paragraph.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in text.splitlines():
        if fenced is not None:
            if line.startswith("```"):
                out.append("<pre>" + html.escape("\n".join(fenced)) + "</pre>")
                fenced = None
            else:
                fenced.append(line)
            continue
        if line.startswith("```"):
            flush()
            fenced = []
        elif line.startswith("#"):
            flush()
            level = min(6, len(line) - len(line.lstrip("#")) + top_level - 1)
            out.append(f"<h{level}>{inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("- "):
            if paragraph:
                flush()
            items.append(line[2:].strip())
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()
        elif not line.strip():
            flush()
        else:
            if items:
                flush()
            paragraph.append(line.strip())
    flush()
    return "".join(out)
