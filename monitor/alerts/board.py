"""What the status page shows of the alerts: the last alerts, each with its channels'
delivery states. The dispatcher writes it as it settles them; in memory, a fixed number of
alerts, no I/O."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from monitor.kernel.models import Alert, Reason, Story
from monitor.kernel.text import one_line, plural

RECENT_ALERTS = 50
MEMBER_TITLE_CHARS = 90  # of the earlier article a copy repeats, on the page
MAX_FACTS_SAID = 3  # more agreeing facts than this are noise on the page (--explain has them)


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
    folded: bool = False  # a copy folded into an alerted story (sent once, with the story)


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
            folded=state == "folded",
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
    """The alert's story and why its article is in it, in an analyst's words, e.g. "story of 2
    articles · the same report as “Ministers meet” from wire (96% of its text alike)"."""
    story = alert.story
    if story is None or story.reason is None:
        return ""
    return f"story of {plural(story.size, 'article')} · {reason_words(story.reason, story)}"


def reason_words(reason: Reason, story: Story) -> str:
    """Why an article is in `story`, for a person: the member it repeats by title and feed, how
    alike their texts are, and the facts both give when they are few and carry a number (the
    JSON keeps every field: `Reason.to_dict`)."""
    if reason.kind == "founded":
        return "its first report"
    if reason.kind == "alone":
        return f"stands alone: {reason.why}"
    member = next((r for r in story.articles if r.article_id == reason.article_id), None)
    same = "the same report as an earlier article"
    if member is not None:
        title = one_line(member.title, MEMBER_TITLE_CHARS) or member.url or "an untitled article"
        same = f"the same report as “{title}”" + (f" from {member.feed}" if member.feed else "")
    if reason.kind in ("url", "guid"):
        return f"{same} (the same {'URL' if reason.kind == 'url' else 'guid'})"
    facts = [f for f in reason.facts if any(c.isdigit() for c in f)]
    agreed = f"; both give {', '.join(facts)}" if 0 < len(facts) <= MAX_FACTS_SAID else ""
    return f"{same} ({reason.share:.0%} of its text alike{agreed})"


def _evidence(alert: Alert) -> list[str]:
    shown = []
    for e in alert.evidence[:3]:
        name = e.value if e.kind == "entity" else repr(e.value)
        shown.append(f"{e.kind} {name} in {e.field}: {e.snippet}")
    return shown
