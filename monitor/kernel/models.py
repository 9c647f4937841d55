"""The records that travel on the bus, and their wire format (UTF-8 JSON).

An Article's text fields hold normalized text (see `monitor.kernel.text.normalize_text`): build
one with `make_article`, which normalizes, rather than with the constructor.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from monitor.kernel.records import Fields, load_json
from monitor.kernel.text import normalize_text

SCHEMA_VERSION: Final = 1  # of the records and bodies in docs/schemas/: raised on a breaking change
TEXT_FIELDS: Final = ("title", "summary", "content", "author", "tags", "url")
SEVERITIES: Final = ("info", "low", "medium", "high", "critical")
MODES: Final = ("live", "shadow")
EVIDENCE_KINDS: Final = ("term", "entity")
DEFAULT_FIELDS: Final = ("title", "summary", "content")


@dataclass(frozen=True, slots=True, kw_only=True)
class Article:
    """One normalized feed item."""

    id: str
    feed: str | None = None
    url: str = ""
    title: str = ""
    summary: str = ""
    content: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    published: datetime | None = None
    language: str | None = None
    fetched_at: datetime | None = None
    guid: str = ""  # the feed's id for the item (a story's copies may share an agency's)
    stories: bool = True  # False: its feed says `stories: false`, it is never folded

    def field_text(self, name: str) -> str:
        """Return one searchable field as text (tags joined by newlines)."""
        if name == "tags":
            return "\n".join(self.tags)
        value: str = getattr(self, name)
        return value

    def to_dict(self) -> dict[str, Any]:
        """Return the article as JSON-ready data."""
        data = asdict(self)
        data["tags"] = list(self.tags)
        for key in ("published", "fetched_at"):
            value = getattr(self, key)
            data[key] = value.isoformat() if value else None
        if self.stories:
            del data["stories"]  # written only when off: the records and bodies stay as they were
        return data

    def to_bytes(self) -> bytes:
        """Encode for the bus (docs/schemas/article.schema.json)."""
        data = {**self.to_dict(), "schema_version": SCHEMA_VERSION}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: object, *, kind: str = "article", at: str = "article") -> Article:
        """Decode what `to_dict` made, every field's type checked; raise BadRecord."""
        f = Fields(data, kind, at)
        return cls(
            id=f.text("id"),
            feed=f.opt_text("feed"),
            url=f.text("url", ""),
            title=f.text("title", ""),
            summary=f.text("summary", ""),
            content=f.text("content", ""),
            author=f.text("author", ""),
            tags=f.texts("tags"),
            published=f.time("published"),
            language=f.opt_text("language"),
            fetched_at=f.time("fetched_at"),
            guid=f.text("guid", ""),
            stories=f.boolean("stories", True),
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Article:
        """Decode what `to_bytes` made (an `articles` record); raise BadRecord."""
        return cls.from_dict(load_json(raw, "article"))


def make_article(
    *,
    id: str,
    feed: str | None = None,
    url: str = "",
    title: str = "",
    summary: str = "",
    content: str = "",
    author: str = "",
    tags: tuple[str, ...] | list[str] = (),
    published: datetime | None = None,
    language: str | None = None,
    fetched_at: datetime | None = None,
    guid: str = "",
) -> Article:
    """Build an Article from raw feed text, normalizing every text field."""
    clean_tags = tuple(t for t in (normalize_text(tag) for tag in tags) if t)
    summary_text = normalize_text(summary)
    content_text = normalize_text(content)
    if content_text == summary_text:
        content_text = ""  # many feeds repeat the summary as content; keep one copy
    return Article(
        id=id,
        feed=feed,
        url=url.strip(),
        title=normalize_text(title),
        summary=summary_text,
        content=content_text,
        author=normalize_text(author),
        tags=clean_tags,
        published=published,
        language=language.strip().lower() if language else None,
        fetched_at=fetched_at,
        guid=guid.strip(),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """Why a rule matched: one term or entity found in one field, with a snippet around it."""

    kind: str  # "term" or "entity"
    value: str  # the term as the rule wrote it, or the entity id
    field: str
    text: str  # the words as they stand in the article
    snippet: str
    start: int
    end: int
    language: str | None = None  # the language of the entity's name that matched, if given


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """A rule that matched an article."""

    rule_id: str
    article_id: str
    severity: str
    notify: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    mode: str = "live"  # "shadow": matched and reported, never notified

    def to_dict(self) -> dict[str, Any]:
        """Return the match as JSON-ready data."""
        data = asdict(self)
        data["notify"] = list(self.notify)
        data["evidence"] = [asdict(e) for e in self.evidence]
        return data

    @classmethod
    def from_dict(cls, data: object, *, kind: str = "match", at: str = "match") -> Match:
        """Decode what `to_dict` made, every field's type checked; raise BadRecord."""
        f = Fields(data, kind, at)
        return cls(
            rule_id=f.text("rule_id"),
            article_id=f.text("article_id"),
            severity=f.one_of("severity", SEVERITIES),
            notify=f.texts("notify"),
            evidence=evidence_from(f, "evidence"),
            mode=f.one_of("mode", MODES, "live"),
        )


def evidence_from(f: Fields, name: str) -> tuple[Evidence, ...]:
    """The evidence list of a decoded record, each item's fields checked."""
    found = []
    for i, item in enumerate(f.items(name)):
        e = Fields(item, f.kind, f"{f.at}.{name}[{i}]")
        found.append(
            Evidence(
                kind=e.one_of("kind", EVIDENCE_KINDS),
                value=e.text("value"),
                field=e.one_of("field", TEXT_FIELDS),
                text=e.text("text", ""),
                snippet=e.text("snippet", ""),
                start=e.integer("start"),
                end=e.integer("end"),
                language=e.opt_text("language"),
            )
        )
    return tuple(found)


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchedArticle:
    """A record on the `matches` topic: the match and the article it is about."""

    match: Match
    article: Article
    description: str = ""

    def to_bytes(self) -> bytes:
        """Encode for the bus (docs/schemas/match.schema.json)."""
        data = {
            "match": self.match.to_dict(),
            "article": self.article.to_dict(),
            "description": self.description,
            "schema_version": SCHEMA_VERSION,
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> MatchedArticle:
        """Decode what `to_bytes` made (a `matches` record); raise BadRecord."""
        f = Fields(load_json(raw, "match"), "match", "record")
        return cls(
            match=Match.from_dict(f.get("match")),
            article=Article.from_dict(f.get("article"), kind="match"),
            description=f.text("description", ""),
        )


def alert_id(rule_id: str, story_id: str, channel: str) -> str:
    """The id of the one alert a (rule, story, channel) may give. A story founded by an article
    has that article's id, so an article alone gives the id it gave before stories."""
    key = f"{rule_id}\0{story_id}\0{channel}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reported:
    """One article of a story: which feed carried it, and when it was seen."""

    article_id: str
    feed: str
    title: str
    url: str
    seen_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "article_id": self.article_id,
            "feed": self.feed,
            "title": self.title,
            "url": self.url,
            "seen_at": self.seen_at.isoformat(),
        }


REASONS: Final = ("founded", "url", "guid", "text", "alone")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """Why an article is in its story: it founded it, it has a member's URL or guid, its text
    resembles a member's (the share of shingles in common, and the facts that agreed), or it
    stands alone (its feed or its rule says `stories: false`)."""

    kind: str  # one of REASONS
    article_id: str = ""  # the member it was matched with ("" when founded or alone)
    share: float = 0.0  # of the smaller sketch's shingles found in the other ("text")
    facts: tuple[str, ...] = ()  # the facts both have in the same places ("text")
    why: str = ""  # "alone": the setting that says so

    def text(self) -> str:
        """One line for a person: why the article joined."""
        if self.kind == "founded":
            return "founded the story: no earlier article like it"
        if self.kind == "alone":
            return f"stands alone: {self.why}"
        if self.kind in ("url", "guid"):
            return f"same {'URL' if self.kind == 'url' else 'guid'} as {self.article_id}"
        agreed = ", ".join(self.facts) if self.facts else "none to compare"
        return (
            f"text like {self.article_id}: {self.share:.0%} of shingles in common; "
            f"facts that agreed: {agreed}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The webhook's `story.reason` object (and the story log's record)."""
        data: dict[str, Any] = {"kind": self.kind, "text": self.text()}
        if self.article_id:
            data["article_id"] = self.article_id
        if self.kind == "text":
            data["share"] = round(self.share, 3)
            data["facts"] = list(self.facts)
        if self.why:
            data["why"] = self.why
        return data

    @classmethod
    def from_dict(cls, data: object, kind: str, at: str) -> Reason:
        """Rebuild a reason from `to_dict`; raise BadRecord."""
        f = Fields(data, kind, at)
        return cls(
            kind=f.one_of("kind", REASONS),
            article_id=f.text("article_id", ""),
            share=f.number("share", 0.0),
            facts=f.texts("facts"),
            why=f.text("why", ""),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Story:
    """The copies of one report across feeds (see `monitor.stories`), as known when alerting."""

    id: str
    articles: tuple[Reported, ...]  # oldest first
    aliases: tuple[str, ...] = ()  # other ids the story was recorded under (see stories.aliases)
    # A big story lists only some of its articles (`monitor.stories.tally`): how many it has in
    # all, and its feeds, including those of the articles not listed (0 and (): as listed).
    count: int = 0
    known_feeds: tuple[str, ...] = ()
    reason: Reason | None = None  # why the alert's article is in it (None: not known)

    @property
    def size(self) -> int:
        """How many articles the story has, listed or not."""
        return max(self.count, len(self.articles))

    @property
    def feeds(self) -> tuple[str, ...]:
        """The feeds that carried it, each once, in the order they did."""
        if self.known_feeds:
            return self.known_feeds
        return tuple(dict.fromkeys(r.feed for r in self.articles if r.feed))

    def others(self, article_id: str) -> tuple[Reported, ...]:
        """The copies besides one article: "also reported by" (those listed)."""
        return tuple(r for r in self.articles if r.article_id != article_id)

    def unlisted(self) -> int:
        """How many of its articles the story does not list."""
        return self.size - len(self.articles)

    def to_dict(self) -> dict[str, Any]:
        """The webhook's `story` object: its id, how many articles, which feeds, and why the
        alert's article is in it."""
        data: dict[str, Any] = {"id": self.id, "articles": self.size, "feeds": list(self.feeds)}
        if self.reason is not None:
            data["reason"] = self.reason.to_dict()
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One notification to one channel."""

    id: str
    channel: str
    rule_id: str
    description: str
    severity: str
    article: Article
    evidence: tuple[Evidence, ...]
    story: Story | None = None  # None only for alerts made before stories (old DLQ records)
    health: dict[str, str] | None = None  # a feed-health alert's feed, state, since and reason
    # The two signed links an analyst gives a verdict with: {"relevant": URL, "not_relevant":
    # URL}, set when the alert is sent (monitor.alerts.feedbacklinks); None when links are off.
    feedback: dict[str, str] | None = None

    @classmethod
    def for_channel(cls, matched: MatchedArticle, channel: str, story: Story | None) -> Alert:
        """The alert a matched article gives on `channel`: one per (rule, story, channel)."""
        m = matched.match
        return cls(
            id=alert_id(m.rule_id, story.id if story else m.article_id, channel),
            channel=channel,
            rule_id=m.rule_id,
            description=matched.description,
            severity=m.severity,
            article=matched.article,
            evidence=m.evidence,
            story=story,
        )

    def alias_ids(self) -> tuple[str, ...]:
        """The ids this alert has under the story's other ids: settled, they settle it too."""
        if self.story is None:
            return ()
        return tuple(alert_id(self.rule_id, s, self.channel) for s in self.story.aliases)

    def also_reported(self) -> tuple[Reported, ...]:
        """The story's other articles known when the alert is sent."""
        return self.story.others(self.article.id) if self.story else ()

    @property
    def event(self) -> str:
        """`alert`, or the health change it tells: `feed_health` or `channel_health`."""
        if self.health is None:
            return "alert"
        return "channel_health" if "channel" in self.health else "feed_health"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (the generic webhook body, docs/schemas/alert.schema.json, and the DLQ
        record)."""
        story = self.story or Story(id=self.article.id, articles=())
        extra: dict[str, Any] = {"health": self.health} if self.health is not None else {}
        if self.feedback is not None:
            extra["feedback"] = dict(self.feedback)
        return {
            "schema_version": SCHEMA_VERSION,
            "event": self.event,
            "alert_id": self.id,
            "channel": self.channel,
            "rule": {
                "id": self.rule_id,
                "description": self.description,
                "severity": self.severity,
            },
            "article": self.article.to_dict(),
            "evidence": [asdict(e) for e in self.evidence],
            "story": {
                **story.to_dict(),
                "also_reported": [r.to_dict() for r in self.also_reported()],
                **({"not_listed": n} if (n := story.unlisted()) else {}),
            },
            **extra,
        }


def alert_from_dict(data: object) -> Alert:
    """Rebuild an alert from its `to_dict` form (a dead letter being retried); raise BadRecord."""
    f = Fields(data, "dead letter", "alert")
    article = Article.from_dict(f.get("article"), kind="dead letter", at="alert.article")
    story = Fields(f.get("story") or {}, "dead letter", "alert.story")
    others = []
    for i, item in enumerate(story.items("also_reported")):
        r = Fields(item, "dead letter", f"alert.story.also_reported[{i}]")
        seen_at = r.time("seen_at")
        if seen_at is None:
            raise r.bad("seen_at", "missing")
        others.append(
            Reported(
                article_id=r.text("article_id"),
                feed=r.text("feed", ""),
                title=r.text("title", ""),
                url=r.text("url", ""),
                seen_at=seen_at,
            )
        )
    seen = article.fetched_at or article.published or datetime.now(UTC)
    itself = Reported(
        article_id=article.id, feed=article.feed or "", title=article.title, url=article.url,
        seen_at=seen,
    )  # fmt: skip
    rule = f.nested("rule")
    health = f.get("health")
    if health is not None:
        h = Fields(health, "dead letter", "alert.health")
        health = {str(k): h.text(str(k)) for k in h.data}
    feedback = f.get("feedback")
    if feedback is not None:
        fb = Fields(feedback, "dead letter", "alert.feedback")
        feedback = {"relevant": fb.text("relevant"), "not_relevant": fb.text("not_relevant")}
    return Alert(
        id=f.text("alert_id"),
        channel=f.text("channel"),
        rule_id=rule.text("id"),
        description=rule.text("description", ""),
        severity=rule.one_of("severity", SEVERITIES),
        article=article,
        evidence=evidence_from(f, "evidence"),
        story=Story(
            id=story.text("id", article.id),
            articles=(itself, *others),
            count=story.integer("articles", default=0),
            known_feeds=story.texts("feeds"),
            reason=(
                Reason.from_dict(story.get("reason"), "dead letter", "alert.story.reason")
                if story.get("reason") is not None
                else None
            ),
        ),
        health=health,
        feedback=feedback,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Settlement:
    """How an alert ended (delivered, dead or throttled): once settled, it is never sent again."""

    alert_id: str
    rule_id: str
    article_id: str
    channel: str
    status: str
    reason: str | None = None
