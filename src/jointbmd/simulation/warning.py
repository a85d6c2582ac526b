"""Launch warning: space-based infrared reports, shared through the fusion centre.

In: each partner's own launch reports (``sensors.LaunchReport``, from its space-based infrared),
every node's private key, a generator for the warning's links and, optionally, a directory for
the stage's ledgers. Out: a `LaunchWarning` -- for every partner the launch reports it holds and
when each reached it, hence when each of its radars and its tracker were first cued on each
threat -- and the messages' rejections.

A partner holds its own reports from their report time. When the arrangement shares launch
warning (every arrangement but independent: the 2000 Joint Data Exchange Center memorandum and
NATO's 2011-13 Data Fusion Centre offer were about exactly this), each partner signs every report
it makes as a ``LaunchReport`` message and sends it to the fusion centre; the centre checks it
and relays the same signed bytes to every other partner it has a link to, so each receiver
checks the originating partner's signature itself. Links add their latency and jitter, lose
messages and go down in outages or when a partner drops out; a lost warning is not resent. The
exchange runs in `runtime.Exchange`, so its ledgers (stage ``warning``) record what each node
signed and accepted, in time order.

The cue a report gives is attached to the launch it reports (``truth_id``): the reported launch
point, time and heading point a radar at the right volume (docs/modelling.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from jointbmd.arrays import FloatArray

from ..exchange import LaunchReport as LaunchReportMessage
from ..exchange import SignedMessage
from ..sensors import LaunchReport
from .runtime import Exchange


@dataclass(frozen=True)
class LaunchWarning:
    """The launch reports each partner holds, each with ``t_report`` set to when it reached that
    partner (its own: when made), and the warning exchange's counts."""

    held: Mapping[str, tuple[LaunchReport, ...]]
    rejected_messages: Mapping[str, int]
    messages_sent: int
    messages_accepted: int

    def cue_times(self, partner: str, n: int) -> FloatArray:
        """When ``partner`` first held a launch report on each of the ``n`` threats (inf:
        never)."""
        return cue_times(self.held.get(partner, ()), n)


def cue_times(reports: Sequence[LaunchReport], n: int) -> FloatArray:
    """First ``t_report`` per threat over ``reports`` (inf where none reports it)."""
    out = np.full(n, np.inf)
    for report in reports:
        k = report.truth_id
        out[k] = min(out[k], report.t_report)
    return out


def own_warning(reports: Mapping[str, Sequence[LaunchReport]]) -> LaunchWarning:
    """Each partner alone: it holds its own reports, nothing is exchanged."""
    held = {p: tuple(sorted(r, key=_by_time)) for p, r in reports.items()}
    return LaunchWarning(held, {}, 0, 0)


def share_launch_warning(
    scenario,
    reports: Mapping[str, Sequence[LaunchReport]],
    keys: Mapping,
    rng: np.random.Generator,
    ledger_dir: str | Path | None = None,
    ledger_meta: Mapping[str, object] | None = None,
) -> LaunchWarning:
    """Send every partner's reports to the centre and relay them to the other partners (see the
    module docstring)."""
    exchange = Exchange(scenario, keys, rng, ledger_dir, ledger_meta)
    centre = exchange.centre
    partners = tuple(p.name for p in scenario.partners)
    held: dict[str, list[LaunchReport]] = {p: list(reports.get(p, ())) for p in partners}
    # The world keeps what each message reports; the messages carry no truth id.
    made: dict[str, LaunchReport] = {}

    def send(partner: str, report: LaunchReport, report_id: str):
        def action(t: float) -> None:
            body = LaunchReportMessage.from_sensor(report, report_id)
            exchange.send(partner, body, t, [centre])

        return action

    for partner in partners:
        for i, report in enumerate(sorted(reports.get(partner, ()), key=_by_time)):
            report_id = f"{report.sensor}-{i}"
            made[report_id] = report
            exchange.at(report.t_report, send(partner, report, report_id))

    def on_message(node: str, message: SignedMessage, t: float) -> None:
        if message.kind != "launch_report":
            return
        if node == centre:
            others = [p for p in partners if p != message.body.source]
            exchange.forward(centre, message, t, others)
        elif node in held and message.body.source != node:
            held[node].append(replace(made[message.body.report_id], t_report=float(t)))

    exchange.on_message = on_message
    exchange.run()
    rejected = exchange.finish()
    return LaunchWarning(
        {p: tuple(sorted(h, key=_by_time)) for p, h in held.items()},
        rejected,
        exchange.messages_sent,
        exchange.accepted_count,
    )


def _by_time(report: LaunchReport) -> tuple[float, int]:
    return (report.t_report, report.truth_id)
