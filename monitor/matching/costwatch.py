"""The matcher's per-rule cost metric: the service samples the last articles its matcher saw
and exports the costliest rules' time per article as `monitor_rule_cost_seconds{rule}`,
measured again after every reload (with `monitor.matching.cost`)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Iterator

import structlog

from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Article
from monitor.kernel.records import BadRecord
from monitor.kernel.waiting import sleep_or_stop
from monitor.matching.cost import COSTLY_SECONDS, COSTLY_SHARE, CostReport, rule_costs
from monitor.matching.rulebook import RuleBook

log = structlog.get_logger("monitor.cost")

SAMPLE = 200
TOP = 10
# The service measures after a reload once the matcher has seen an article, and again
# every REMEASURE_S (the articles change, and so do the costs).
MIN_SEEN = 1
REMEASURE_S = 3600.0
# The service measures at most this many watches one by one (a background thread's seconds).
SERVICE_MEASURED = 300


class RecentArticles:
    """The last articles the matcher saw, as it saw them (bytes), for measuring costs."""

    def __init__(self, keep: int = SAMPLE) -> None:
        self._kept: deque[bytes] = deque(maxlen=keep)
        self.seen = 0

    def add(self, payloads: list[bytes]) -> None:
        """Note a batch the matcher took."""
        self._kept.extend(payloads)
        self.seen += len(payloads)

    def articles(self) -> list[Article]:
        """The kept articles that decode."""
        return list(decoded_articles(list(self._kept)))


def decoded_articles(payloads: Iterable[bytes]) -> Iterator[Article]:
    """The articles of `payloads` that decode (the matcher logged and counted the others)."""
    for payload in payloads:
        try:
            yield Article.from_bytes(payload)
        except BadRecord:
            continue


async def export_rule_costs(
    book: RuleBook,
    recent: RecentArticles,
    metrics: Metrics,
    stop: asyncio.Event,
) -> None:
    """Measure the rule set in force over the recent articles after each change of rules (once
    MIN_SEEN articles were seen) and every REMEASURE_S; export them (`export_report`)."""
    measured_for: object = None
    measured_at = float("-inf")
    loop = asyncio.get_running_loop()
    while not await sleep_or_stop(stop, 5.0):
        compiled = book.compiled
        due = compiled is not measured_for or loop.time() - measured_at >= REMEASURE_S
        if not due or recent.seen < MIN_SEEN:
            continue
        try:
            articles = recent.articles()
            report = await asyncio.to_thread(
                rule_costs, compiled.spec, articles, compiled=compiled, limit=SERVICE_MEASURED
            )
        except Exception:  # the metric is a help, never a fault of the matcher's
            log.exception("rule_cost_failed")
            measured_for, measured_at = compiled, loop.time()
            continue
        export_report(report, metrics)
        measured_for, measured_at = compiled, loop.time()


def export_report(report: CostReport, metrics: Metrics) -> None:
    """Export the costliest TOP watches' time per article, and warn (`costly_rules`) of the
    costly ones: costly by `RuleCost.costly`, the one test `check --cost` flags by too."""
    metrics.rule_cost.clear()
    for cost in report.costs[:TOP]:
        metrics.rule_cost.labels(cost.rule_id).set(cost.seconds_per_article)
    costly = report.costly
    if costly:
        log.warning(
            "costly_rules",
            rules=[c.rule_id for c in costly],
            why={c.rule_id: c.why for c in costly},
            over_ms=COSTLY_SECONDS * 1000,
            share_over=COSTLY_SHARE,
        )
