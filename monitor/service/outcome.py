"""What one pass of the service (`monitor run --once`) left undone: the feeds whose poll failed,
the alerts dead-lettered and the alerts waiting for their channel. `monitor run --once` turns it
into its exit code, so that cron can tell."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.kernel.metrics import Metrics

GOOD_POLLS = ("ok", "not_modified")  # any other poll result is a failed feed


@dataclass(frozen=True, slots=True, kw_only=True)
class OnceOutcome:
    """What a single pass left undone (all empty: everything went well)."""

    failed_feeds: tuple[str, ...] = ()
    dead_lettered: int = 0  # alerts (a digest counts its items) dead-lettered in this pass
    waiting: int = 0  # alerts waiting for their channel to come back when the pass ended

    @property
    def undelivered(self) -> bool:
        """Whether an alert was dead-lettered or waits for its channel."""
        return bool(self.dead_lettered or self.waiting)


def dead_lettered(metrics: Metrics) -> int:
    """Alerts this process has dead-lettered so far, on every channel."""
    return int(
        sum(
            sample.value
            for metric in metrics.alerts.collect()
            for sample in metric.samples
            if sample.name.endswith("_total") and sample.labels.get("result") == "dead"
        )
    )


def totals(metrics: Metrics) -> tuple[int, int]:
    """Articles matched (per watch) and alerts delivered by this process so far."""
    matched = delivered = 0.0
    for metric in metrics.rule_matches.collect():
        matched += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    for metric in metrics.alerts.collect():
        delivered += sum(
            s.value
            for s in metric.samples
            if s.name.endswith("_total") and s.labels.get("result") == "delivered"
        )
    return int(matched), int(delivered)
