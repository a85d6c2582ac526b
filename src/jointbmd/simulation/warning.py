"""Launch warning: space-based infrared reports, shared through the fusion centre.

In: each partner's own launch reports (``sensors.LaunchReport``, from its space-based infrared),
a stage runner (``runtime.LocalRunner``, or a live run's), the seeds of the warning's links and,
optionally, a directory for the stage's ledgers. Out: a `LaunchWarning` -- for every partner the
launch reports it holds and when each reached it, hence when each of its radars and its tracker
were first cued on each threat -- and the messages' rejections.

A partner holds its own reports from their report time. When the arrangement shares launch
warning (every arrangement but independent: the 2000 Joint Data Exchange Center memorandum and
NATO's 2011-13 Data Fusion Centre offer were about exactly this), each partner signs every report
it makes as a ``LaunchReport`` message and sends it to the fusion centre; the centre checks it
and relays the same signed bytes to every other partner it has a link to, so each receiver
checks the originating partner's signature itself. Links add their latency and jitter, lose
messages and go down in outages or when a partner drops out; a lost warning is not resent. The
exchange is two roles on the exchange runtime (`PartnerWarning`, `CentreRelay`), so its ledgers
(stage ``warning``) record what each node signed and accepted, in time order.

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
from .runtime import NodeContext, Role, centre_name


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


class PartnerWarning(Role):
    """A partner's part: sign and send each of its own reports to the centre when it makes it;
    note when each other partner's report, relayed by the centre, reached it."""

    def __init__(self, centre: str, reports: Sequence[tuple[float, LaunchReportMessage]]) -> None:
        self.centre = centre
        self.reports = tuple(reports)
        self.received: list[tuple[str, float]] = []  # (report id, arrival)

    def start(self, node: NodeContext) -> None:
        for t, body in self.reports:
            node.at(t, self._send, node, body)

    def _send(self, t: float, node: NodeContext, body) -> None:
        node.send(body, t, [self.centre])

    def on_message(self, node: NodeContext, message: SignedMessage, t: float) -> None:
        if message.kind == "launch_report" and message.body.source != node.name:
            self.received.append((message.body.report_id, float(t)))

    def result(self) -> list[tuple[str, float]]:
        return self.received


class CentreRelay(Role):
    """The centre's part: relay every partner's report, unchanged, to the other partners."""

    def __init__(self, partners: Sequence[str]) -> None:
        self.partners = tuple(partners)

    def on_message(self, node: NodeContext, message: SignedMessage, t: float) -> None:
        if message.kind == "launch_report":
            others = [p for p in self.partners if p != message.body.source]
            node.forward(message, t, others)


def share_launch_warning(
    scenario,
    reports: Mapping[str, Sequence[LaunchReport]],
    runner,
    seeds,
    ledger_dir: str | Path | None = None,
    ledger_meta: Mapping[str, object] | None = None,
) -> LaunchWarning:
    """Send every partner's reports to the centre and relay them to the other partners (see the
    module docstring). ``runner`` runs the roles (``runtime.LocalRunner`` or a live run's)."""
    centre = centre_name(scenario)
    partners = tuple(p.name for p in scenario.partners)
    # The world keeps what each message reports; the messages carry no truth id.
    made: dict[str, LaunchReport] = {}
    roles: dict[str, Role] = {centre: CentreRelay(partners)}
    for partner in partners:
        mine = []
        for i, report in enumerate(sorted(reports.get(partner, ()), key=_by_time)):
            report_id = f"{report.sensor}-{i}"
            made[report_id] = report
            mine.append((report.t_report, LaunchReportMessage.from_sensor(report, report_id)))
        roles[partner] = PartnerWarning(centre, mine)
    run = runner.run(roles, seeds, ledger_dir, ledger_meta)
    held = {
        p: tuple(
            sorted(
                [*reports.get(p, ()),
                 *(replace(made[rid], t_report=t) for rid, t in run.results[p])],
                key=_by_time,
            )
        )
        for p in partners
    }  # fmt: skip
    return LaunchWarning(held, run.rejected, run.messages_sent, run.messages_accepted)


def _by_time(report: LaunchReport) -> tuple[float, int]:
    return (report.t_report, report.truth_id)
