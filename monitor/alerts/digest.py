"""Digests and summaries: many held alerts sent as one message. Pure.

A digest lists what a channel held (for its digest schedule, or through quiet hours), grouped
by rule, one line per story with how many articles and feeds carried it. A summary is what a
rule's throttle held back: "and 37 more matches for rule X", with the list. Each has an id
made from its channel and items, so a digest sent again after a crash has the id it had.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.alerts.render import feedback_line, safe_url
from monitor.kernel.models import SCHEMA_VERSION, SEVERITIES, Alert
from monitor.kernel.records import Fields
from monitor.kernel.text import one_line

LISTED_MAX = 50  # items listed in one chat message; the rest are counted


@dataclass(frozen=True, slots=True, kw_only=True)
class HeldAlert:
    """What a digest needs of one held alert."""

    alert_id: str
    rule_id: str
    description: str
    severity: str
    article_id: str
    title: str
    url: str
    feed: str
    story_id: str
    story_articles: int
    story_feeds: tuple[str, ...]
    held_at: datetime
    feedback: dict[str, str] | None = None  # the item's two signed links, set when sent

    @classmethod
    def of(cls, alert: Alert, held_at: datetime) -> HeldAlert:
        """The held form of an alert."""
        a, story = alert.article, alert.story
        return cls(
            alert_id=alert.id,
            rule_id=alert.rule_id,
            description=alert.description,
            severity=alert.severity,
            article_id=a.id,
            title=one_line(a.title or a.summary or a.content or "(untitled)", 200),
            url=a.url,
            feed=a.feed or "",
            story_id=story.id if story else a.id,
            story_articles=story.size if story else 1,
            story_feeds=story.feeds if story else ((a.feed,) if a.feed else ()),
            held_at=held_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (stored while held; listed in the webhook body)."""
        return {
            "alert_id": self.alert_id,
            "rule": {
                "id": self.rule_id,
                "description": self.description,
                "severity": self.severity,
            },
            "article": {
                "id": self.article_id,
                "title": self.title,
                "url": self.url,
                "feed": self.feed,
            },
            "story": {
                "id": self.story_id,
                "articles": self.story_articles,
                "feeds": list(self.story_feeds),
            },
            "held_at": self.held_at.isoformat(),
            **({"feedback": dict(self.feedback)} if self.feedback is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: object, kind: str = "held") -> HeldAlert:
        """Decode what `to_dict` made, every field's type checked; raise BadRecord."""
        f = Fields(d, kind, "item")
        rule, article, story = f.nested("rule"), f.nested("article"), f.nested("story")
        held_at = f.time("held_at")
        if held_at is None:
            raise f.bad("held_at", "missing")
        feedback = None
        if f.get("feedback") is not None:
            fb = f.nested("feedback")
            feedback = {"relevant": fb.text("relevant"), "not_relevant": fb.text("not_relevant")}
        return cls(
            alert_id=f.text("alert_id"),
            rule_id=rule.text("id"),
            description=rule.text("description", ""),
            severity=rule.one_of("severity", SEVERITIES),
            article_id=article.text("id"),
            title=article.text("title", ""),
            url=article.text("url", ""),
            feed=article.text("feed", ""),
            story_id=story.text("id"),
            story_articles=story.integer("articles"),
            story_feeds=story.texts("feeds"),
            held_at=held_at,
            feedback=feedback,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Digest:
    """Held alerts of one channel going out as one message.

    `reason`: "digest" (the channel's schedule), "quiet" (quiet hours ended) or "throttle"
    (a rule's throttle held them: a summary).
    """

    channel: str
    reason: str
    items: tuple[HeldAlert, ...]
    sent_for: datetime  # the time it was due

    @property
    def id(self) -> str:
        """Stable for one channel, reason and set of items."""
        key = "\0".join([self.channel, self.reason, *sorted(i.alert_id for i in self.items)])
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    @property
    def event(self) -> str:
        """The webhook's `event`: "summary" for a throttle's, else "digest"."""
        return "summary" if self.reason == "throttle" else "digest"

    def by_rule(self) -> list[tuple[str, list[HeldAlert]]]:
        """The items grouped by rule (rules in order of first item), oldest first."""
        groups: dict[str, list[HeldAlert]] = {}
        for item in sorted(self.items, key=lambda i: i.held_at):
            groups.setdefault(item.rule_id, []).append(item)
        return list(groups.items())

    def headline(self) -> str:
        """One line saying what this is."""
        n = len(self.items)
        if self.reason == "throttle":
            (rule, _), *_ = self.by_rule()
            return f"and {n} more match{'es' if n != 1 else ''} for rule {rule}"
        rules = len(self.by_rule())
        why = " (quiet hours ended)" if self.reason == "quiet" else ""
        return f"Digest{why}: {_count(n, 'alert')} for {_count(rules, 'rule')}"

    def to_dict(self) -> dict[str, Any]:
        """The generic webhook's body (docs/schemas/digest.schema.json)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "event": self.event,
            "id": self.id,
            "channel": self.channel,
            "reason": self.reason,
            "due": self.sent_for.astimezone(UTC).isoformat(),
            "count": len(self.items),
            "text": self.headline(),
            "rules": [
                {"id": rule, "count": len(items), "items": [i.to_dict() for i in items]}
                for rule, items in self.by_rule()
            ],
        }


def digest_from_dict(data: dict[str, Any]) -> Digest:
    """Rebuild a digest from its `to_dict` form (a dead letter being retried)."""
    items = tuple(HeldAlert.from_dict(i) for rule in data["rules"] for i in rule["items"])
    return Digest(
        channel=data["channel"],
        reason=data["reason"],
        items=items,
        sent_for=datetime.fromisoformat(data["due"]),
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def item_line(item: HeldAlert) -> tuple[str, str]:
    """(title, the rest) of one item's line: copies and feeds when the story has several."""
    extra = ""
    if item.story_articles > 1:
        extra = f" ({item.story_articles} articles: {', '.join(item.story_feeds)})"
    elif item.feed:
        extra = f" [{item.feed}]"
    return item.title, extra


def _listed(digest: Digest) -> list[tuple[str, list[HeldAlert], int]]:
    """Per rule: its items as listed (LISTED_MAX over all) and how many more it has."""
    budget, out = LISTED_MAX, []
    for rule, items in digest.by_rule():
        shown = items[: max(budget, 0)]
        budget -= len(shown)
        out.append((rule, shown, len(items) - len(shown)))
    return out


def digest_text(
    digest: Digest, escape: Any = lambda s: s, link: Any = None, feedback_link: Any = None
) -> str:
    """A Markdown-ish text body: a headline, then per rule its stories, each with its feedback
    links (made by `feedback_link`, else by `link`, else "Relevant: URL")."""
    make = feedback_link or link or (lambda url, label: f"{label}: {url}")
    lines = [f"**{escape(digest.headline())}**"]
    for rule, shown, more in _listed(digest):
        lines.append(f"\n**{escape(rule)}** ({len(shown) + more})")
        for item in shown:
            title, extra = item_line(item)
            url = safe_url(item.url)
            shown_title = link(url, escape(title)) if link and url else escape(title)
            links = feedback_line(item.feedback, lambda url, label: make(url, escape(label)))
            lines.append(f"- {shown_title}{escape(extra)}" + (f" ({links})" if links else ""))
        if more:
            lines.append(f"- … and {more} more")
    return "\n".join(lines)
