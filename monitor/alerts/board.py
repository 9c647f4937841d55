"""What the status page shows of the alerts: the last alerts, each with its channels'
delivery states. The dispatcher writes it as it settles them; in memory, a fixed number of
alerts, no I/O. Each change is also told to a `Journal` (`monitor.alerts.history` keeps them
durably), and the list is seeded from it at start, so the page's alerts survive a restart."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from monitor.kernel.models import Alert, Evidence, Reason, Story
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
    article: str = ""  # the id of the article it was made for ("make a watch like this")


class Journal(Protocol):
    """Where each change of the list is also written (the alert history)."""

    def keep(self, entry: dict[str, Any]) -> None:
        """Write the whole entry (`entry_of`), replacing the one of its key."""
        ...

    def amend(self, key: str, channel: str, state: str, reason: str) -> None:
        """Change one channel's state of an entry no longer in the list."""
        ...


class RecentAlerts:
    """The last `RECENT_ALERTS` alerts, newest first (see the module docstring)."""

    def __init__(self, limit: int = RECENT_ALERTS, journal: Journal | None = None) -> None:
        self.limit = limit
        self.evicted = 0
        self.journal = journal
        self._alerts: OrderedDict[str, RecentAlert] = OrderedDict()

    def seed(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """List the history's entries (`entry_of`'s shape, newest first) as if settled now:
        the page shows the alerts from before a restart. Shadow and muted entries are not
        alerts, and are left out."""
        for entry in sorted(entries, key=lambda e: int(e.get("first_ms") or 0)):
            if entry.get("state") in ("shadow", "muted") or entry.get("mode") == "shadow":
                continue
            channels = {
                str(name): (str(c.get("state", "")), str(c.get("reason") or ""))
                for name, c in dict(entry.get("channels") or {}).items()
            }
            key = str(entry["key"])
            self._alerts.pop(key, None)
            self._alerts[key] = RecentAlert(
                key=key,
                rule_id=str(entry.get("watch", "")),
                severity=str(entry.get("severity", "")),
                title=str(entry.get("title", "")),
                url=str(entry.get("url", "")),
                feed=str(entry.get("feed", "")),
                evidence=tuple(str(e) for e in entry.get("evidence") or ()),
                first_ms=int(entry.get("first_ms") or 0),
                channels=channels,
                story=str(entry.get("story", "")),
                folded=entry.get("state") == "folded",
                article=str(entry.get("article", "")),
            )
        while len(self._alerts) > self.limit:
            self._alerts.popitem(last=False)

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
            evidence=tuple(evidence_lines(alert.evidence)),
            first_ms=old.first_ms if old else at_ms,
            channels=channels,
            story=_story(alert),
            folded=state == "folded",
            article=old.article if old else alert.article.id,
        )
        if self.journal is not None:
            self.journal.keep(entry_of(self._alerts[key]))
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
            if self.journal is not None:
                self.journal.keep(entry_of(self._alerts[key]))
        elif self.journal is not None:  # gone from the page's list: the history still has it
            self.journal.amend(key, channel, state, reason or "")

    def newest_first(self) -> list[RecentAlert]:
        """The alerts, the newest first."""
        return sorted(self._alerts.values(), key=lambda a: a.first_ms, reverse=True)


def entry_of(alert: RecentAlert, mode: str = "live") -> dict[str, Any]:
    """The alert as the history keeps it and `History.search` answers it."""
    channels = {name: {"state": st, "reason": why} for name, (st, why) in alert.channels.items()}
    return {
        "key": alert.key,
        "watch": alert.rule_id,
        "mode": mode,
        "severity": alert.severity,
        "title": alert.title,
        "url": alert.url,
        "feed": alert.feed,
        "evidence": list(alert.evidence),
        "first_ms": alert.first_ms,
        "channels": channels,
        "story": alert.story,
        "state": "folded" if alert.folded else overall(st for st, _ in alert.channels.values()),
        "article": alert.article,
    }


def overall(states: Iterable[str]) -> str:
    """One state for an alert from its channels' (the worst first): "dead-lettered", "held",
    "sent", or the first channel's own ("muted", "shadow")."""
    seen = list(states)
    for prefix, said in (("dead", "dead-lettered"), ("held", "held"), ("delivered", "sent")):
        if any(s.startswith(prefix) for s in seen):
            return said
    return seen[0] if seen else "held"


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


def evidence_lines(evidence: Sequence[Evidence]) -> list[str]:
    """The first three pieces of evidence, one line each: "entity belarus in content: ..."."""
    shown = []
    for e in evidence[:3]:
        name = e.value if e.kind == "entity" else repr(e.value)
        shown.append(f"{e.kind} {name} in {e.field}: {e.snippet}")
    return shown
