"""What the status page shows, kept in memory by the stages that know it.

- `FeedBoard`: each feed's last poll (when, result, error, items), its failure streak and when
  it is polled next; the poller writes it.
- `MatchTally`: matches per watch per UTC day for a week, and each watch's last match; the
  matcher counts, and the service seeds it at start from the stored `matches` records.
- `RecentAlerts`: the last alerts, each with its channels' delivery states; the dispatcher
  writes it as it settles them.

In memory and bounded: a fixed number of alerts and days, and the feeds polled; no I/O.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from monitor.kernel.models import Alert

DAY_MS = 86_400_000
DAYS = 7
RECENT_ALERTS = 50


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One feed as its poller last saw it."""

    feed_id: str
    last_poll_ms: int | None = None
    result: str = ""  # ok, not_modified, http_error, parse_error, ... ("" before the first)
    error: str = ""  # the last failure's reason (kept after a recovery, with its time)
    error_ms: int | None = None
    items: int | None = None  # in the last document read
    new_total: int = 0  # new items published since the service started
    failures: int = 0  # polls failed in a row
    next_poll_ms: int | None = None

    @property
    def failing(self) -> bool:
        """Whether its last poll failed."""
        return self.result not in ("", "ok", "not_modified")


class FeedBoard:
    """Feeds' polling status (see the module docstring)."""

    def __init__(self) -> None:
        self._feeds: dict[str, FeedStatus] = {}

    def polled(
        self, feed_id: str, *, result: str, reason: str, items: int | None, new: int, at_ms: int
    ) -> None:
        """Record one poll's outcome."""
        old = self._feeds.get(feed_id, FeedStatus(feed_id))
        failed = result not in ("ok", "not_modified")
        self._feeds[feed_id] = replace(
            old,
            last_poll_ms=at_ms,
            result=result,
            error=reason if failed else old.error,
            error_ms=at_ms if failed else old.error_ms,
            items=items if items is not None else old.items,
            new_total=old.new_total + new,
        )

    def scheduled(self, feed_id: str, *, next_ms: int, failures: int) -> None:
        """Record when the feed is polled next, and its failure streak."""
        old = self._feeds.get(feed_id, FeedStatus(feed_id))
        self._feeds[feed_id] = replace(old, next_poll_ms=next_ms, failures=failures)

    def keep_only(self, feed_ids: Iterable[str]) -> None:
        """Forget feeds no longer polled."""
        wanted = set(feed_ids)
        for gone in [f for f in self._feeds if f not in wanted]:
            del self._feeds[gone]

    def snapshot(self) -> dict[str, FeedStatus]:
        """Every feed's status, by id."""
        return dict(self._feeds)


@dataclass(frozen=True, slots=True)
class WatchActivity:
    """One watch's matches per day (oldest first, today last) and its last match."""

    per_day: tuple[int, ...]
    last_ms: int | None


class MatchTally:
    """Matches per watch per UTC day, for the last `DAYS` days (see the module docstring)."""

    def __init__(self) -> None:
        self._days: dict[str, dict[int, int]] = {}
        self._last: dict[str, int] = {}

    def add(self, rule_ids: Iterable[str], at_ms: int) -> None:
        """Count one match of each rule id given (repeats count again) at `at_ms`."""
        day = at_ms // DAY_MS
        for rule_id in rule_ids:
            days = self._days.setdefault(rule_id, {})
            days[day] = days.get(day, 0) + 1
            if at_ms > self._last.get(rule_id, -1):
                self._last[rule_id] = at_ms
            for old in [d for d in days if d <= day - DAYS]:
                del days[old]

    def count_now(self, rule_ids: Iterable[str]) -> None:
        """Count one match of each rule id given, now."""
        self.add(rule_ids, int(time.time() * 1000))

    def active(self, now_ms: int) -> dict[str, WatchActivity]:
        """The activity of every rule matched in the last `DAYS` days, today included."""
        first = now_ms // DAY_MS - DAYS + 1
        busy = [r for r, days in self._days.items() if any(d >= first for d in days)]
        return self.activity(busy, now_ms)

    def activity(self, rule_ids: Iterable[str], now_ms: int) -> dict[str, WatchActivity]:
        """Each rule's matches over the last `DAYS` days, today included."""
        today = now_ms // DAY_MS
        found = {}
        for rule_id in rule_ids:
            days = self._days.get(rule_id, {})
            per_day = tuple(days.get(d, 0) for d in range(today - DAYS + 1, today + 1))
            found[rule_id] = WatchActivity(per_day, self._last.get(rule_id))
        return found


@dataclass(frozen=True, slots=True)
class RecentAlert:
    """An alert as the page lists it: one (rule, story or article), every channel's state."""

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
        """Record that `alert` was delivered, held, dead-lettered or folded into its story."""
        story = alert.story.id if alert.story else alert.article.id
        key = _key(alert.rule_id, story)
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
