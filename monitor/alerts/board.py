"""What the status page shows of the alerts: the last alerts, each with its channels'
delivery states. The dispatcher writes it as it settles them; in memory, a fixed number of
alerts, no I/O."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from monitor.kernel.models import Alert

RECENT_ALERTS = 50


@dataclass(frozen=True, slots=True)
class RecentAlert:
    """An alert as the page lists it: one (rule, story or article), every channel's state; a
    copy folded into the story is listed as one of its own."""

    key: str
    rule_id: str
    severity: str
    title: str
    url: str
    feed: str
    evidence: tuple[str, ...]  # "entity belarus in content: ...snippet..."
    first_ms: int
    channels: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # state, reason
    story: str = ""  # why the article is in its story, in one line ("": not known)


class RecentAlerts:
    """The last `RECENT_ALERTS` alerts, newest first (see the module docstring)."""

    def __init__(self, limit: int = RECENT_ALERTS) -> None:
        self.limit = limit
        self.evicted = 0
        self._alerts: OrderedDict[str, RecentAlert] = OrderedDict()

    def __len__(self) -> int:
        return len(self._alerts)

    def settled(self, alert: Alert, state: str, reason: str | None, at_ms: int) -> None:
        """Record that `alert` was delivered, held, dead-lettered or folded into its story. A
        folded copy is a row of its own, so the alert that founded the story keeps its row (its
        title and its channels' delivery states) beside it."""
        story = alert.story.id if alert.story else alert.article.id
        key = _key(alert.rule_id, story)
        if state == "folded":
            key = _key(key, alert.article.id)
        old = self._alerts.pop(key, None)
        channels = dict(old.channels) if old else {}
        channels[alert.channel] = (state, reason or "")
        self._alerts[key] = RecentAlert(
            key=key,
            rule_id=alert.rule_id,
            severity=alert.severity,
            title=alert.article.title,
            url=alert.article.url,
            feed=alert.article.feed or "",
            evidence=tuple(_evidence(alert)),
            first_ms=old.first_ms if old else at_ms,
            channels=channels,
            story=_story(alert),
        )
        while len(self._alerts) > self.limit:
            self._alerts.popitem(last=False)
            self.evicted += 1

    def update(
        self, rule_id: str, story_id: str, channel: str, state: str, reason: str | None
    ) -> None:
        """Change one channel's state of a listed alert (a held alert sent in a digest)."""
        key = _key(rule_id, story_id)
        old = self._alerts.get(key)
        if old is not None:
            channels = {**old.channels, channel: (state, reason or "")}
            self._alerts[key] = replace(old, channels=channels)

    def newest_first(self) -> list[RecentAlert]:
        """The alerts, the newest first."""
        return sorted(self._alerts.values(), key=lambda a: a.first_ms, reverse=True)


def _key(rule_id: str, story_id: str) -> str:
    """An alert's place in the list: one per (rule, story), whatever the channel."""
    return f"{rule_id}\x1f{story_id}"


def _story(alert: Alert) -> str:
    """The alert's story and why its article is in it, e.g. "3 articles · text like ..."."""
    story = alert.story
    if story is None or story.reason is None:
        return ""
    return f"story of {story.size} · {story.reason.text()}"


def _evidence(alert: Alert) -> list[str]:
    shown = []
    for e in alert.evidence[:3]:
        name = e.value if e.kind == "entity" else repr(e.value)
        shown.append(f"{e.kind} {name} in {e.field}: {e.snippet}")
    return shown
