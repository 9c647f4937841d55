"""Where story members are kept, so that a restart or another dispatcher folds into the same
stories: state.db on the local bus, the compacted topic `<prefix>stories` on Kafka.

A member is recorded once per (rule, article) before the alerts of its batch go out, so the
records also say which rules matched which story (`monitor stories --rule`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import structlog

from monitor.bus.badrecords import skip_bad
from monitor.bus.base import STORIES
from monitor.bus.compacted import CompactedReader
from monitor.bus.kafka import KafkaBus
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Reason
from monitor.kernel.records import BadRecord, Fields, load_json
from monitor.store.state import StateStore
from monitor.stories.facts import FACT_CHARS

log = structlog.get_logger("monitor.stories")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMember:
    """An article of a story as stored: what the index needs, and the rules it matched."""

    article_id: str
    story_id: str
    url_key: str
    shingles: bytes  # the packed sketch (see `monitor.stories.sketch.sketch`)
    feed: str
    title: str
    url: str
    seen_ms: int
    rules: tuple[str, ...] = ()
    lead: str = ""  # the lead prefix its facts are read from (`monitor.stories.facts`)
    reason: Reason | None = None  # why it joined its story; None in older records

    def to_json(self, rule_id: str) -> bytes:
        """The Kafka record of this member matched by `rule_id`."""
        data: dict[str, object] = {
            "article": self.article_id,
            "story": self.story_id,
            "url_key": self.url_key,
            "shingles": self.shingles.hex(),
            "feed": self.feed,
            "title": self.title,
            "url": self.url,
            "seen_ms": self.seen_ms,
            "rule": rule_id,
            "lead": self.lead,
        }
        if self.reason is not None:
            data["reason"] = self.reason.to_dict()
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> StoredMember:
        """Decode what `to_json` made; raise BadRecord."""
        d = Fields(load_json(raw, "story"), "story", "member")
        shingles = _hex(d, "shingles", None)
        if len(shingles) % 4:
            raise d.bad("shingles", f"{len(shingles)} bytes, not whole 32-bit hashes")
        lead = d.text("lead", "")
        if len(lead) > FACT_CHARS:
            raise d.bad("lead", f"{len(lead):,} characters, over {FACT_CHARS:,}")
        reason = d.get("reason")
        return cls(
            article_id=d.text("article"),
            story_id=d.text("story"),
            url_key=d.text("url_key", ""),
            shingles=shingles,
            feed=d.text("feed", ""),
            title=d.text("title", ""),
            url=d.text("url", ""),
            seen_ms=d.integer("seen_ms"),
            rules=(d.text("rule"),),
            lead=lead,
            reason=None if reason is None else Reason.from_dict(reason, "story", "member.reason"),
        )


def merge_rules(members: Sequence[StoredMember]) -> list[StoredMember]:
    """One member per article (the first recorded), with the rules of all its records."""
    merged: dict[str, StoredMember] = {}
    for m in members:
        first = merged.get(m.article_id)
        if first is None:
            merged[m.article_id] = m
        else:
            rules = tuple(dict.fromkeys(first.rules + m.rules))
            merged[m.article_id] = replace(first, rules=rules)
    return list(merged.values())


def _hex(d: Fields, name: str, default: str | None) -> bytes:
    try:
        return bytes.fromhex(d.text(name, default))
    except ValueError:
        raise d.bad(name, "not hexadecimal") from None


def _stored_reason(raw: str | None, article_id: str) -> Reason | None:
    """A reason as state.db keeps it (None for members recorded before reasons were)."""
    if raw is None:
        return None
    try:
        data = load_json(raw.encode(), "story")  # its size and depth bounded first
        return Reason.from_dict(data, "story", f"member {article_id}.reason")
    except (BadRecord, ValueError) as exc:
        log.warning("story_reason_unreadable", article=article_id, error=str(exc))
        return None


class StoryLog(Protocol):
    """The durable record of story members."""

    async def load(self, since_ms: int) -> list[StoredMember]:
        """Members seen since `since_ms`, oldest first (on Kafka, one record per rule)."""
        ...

    async def record(self, members: Sequence[tuple[StoredMember, str]]) -> None:
        """Record (member, rule id) pairs durably; an article's first record keeps its story."""
        ...

    async def sync(self) -> list[StoredMember]:
        """Members other dispatchers recorded since the last load or sync."""
        ...


class LocalStoryLog:
    """Story members in state.db: this process is their only writer."""

    def __init__(self, state: StateStore) -> None:
        self.file = state.file

    async def load(self, since_ms: int) -> list[StoredMember]:
        """Members seen since `since_ms`, oldest first, one per article with all its rules."""

        def query() -> list[StoredMember]:
            rows = self.file.conn().execute(
                "SELECT m.article_id, m.story_id, m.url_key, m.shingles, m.feed, m.title, "
                "m.url, m.seen_ms, group_concat(r.rule_id, char(10)), f.lead, f.reason "
                "FROM story_members m LEFT JOIN story_rules r ON r.article_id = m.article_id "
                "LEFT JOIN story_facts f ON f.article_id = m.article_id "
                "WHERE m.seen_ms >= ? GROUP BY m.article_id ORDER BY m.seen_ms, m.rowid",
                (since_ms,),
            )
            return [
                StoredMember(
                    article_id=r[0],
                    story_id=r[1],
                    url_key=r[2],
                    shingles=bytes(r[3]),
                    feed=r[4],
                    title=r[5],
                    url=r[6],
                    seen_ms=int(r[7]),
                    rules=tuple(sorted(r[8].split("\n"))) if r[8] else (),
                    lead=r[9] or "",
                    reason=_stored_reason(r[10], r[0]),
                )
                for r in rows
            ]

        return await self.file.run(query)

    async def record(self, members: Sequence[tuple[StoredMember, str]]) -> None:
        """Record (member, rule id) pairs in one transaction."""
        if not members:
            return

        def write(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR IGNORE INTO story_members (article_id, story_id, url_key, shingles, "
                "feed, title, url, seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        m.article_id,
                        m.story_id,
                        m.url_key,
                        m.shingles,
                        m.feed,
                        m.title,
                        m.url,
                        m.seen_ms,
                    )
                    for m, _ in members
                ],
            )
            db.executemany(
                "INSERT OR IGNORE INTO story_rules (rule_id, article_id) VALUES (?, ?)",
                [(rule, m.article_id) for m, rule in members],
            )
            db.executemany(
                "INSERT OR IGNORE INTO story_facts (article_id, lead, reason) VALUES (?, ?, ?)",
                [
                    (m.article_id, m.lead, json.dumps(m.reason.to_dict()))
                    for m, _ in members
                    if m.reason is not None
                ],
            )

        await self.file.write(write)

    async def sync(self) -> list[StoredMember]:
        """Nothing to catch up with: this process is the only writer."""
        return []


class KafkaStoryLog:
    """Story members in `<prefix>stories`, keyed by rule and article, read by every dispatcher."""

    def __init__(self, bus: KafkaBus, metrics: Metrics | None = None) -> None:
        self.bus = bus
        self.metrics = metrics
        self.reader = CompactedReader(bus, STORIES)

    async def start(self) -> None:
        """Position at the topic's beginning."""
        await self.reader.start()

    async def stop(self) -> None:
        """Stop reading."""
        await self.reader.stop()

    async def load(self, since_ms: int) -> list[StoredMember]:
        """Read the topic to its end: the records of members seen since `since_ms` (an article
        has one per rule, and two dispatchers may have given it two story ids)."""
        members = self._decoded(await self.reader.read_to_end())
        return [m for m in members if m.seen_ms >= since_ms]

    async def record(self, members: Sequence[tuple[StoredMember, str]]) -> None:
        """Publish (member, rule id) records; durable when this returns."""
        await self.bus.publish(
            STORIES, [(f"{rule}\0{m.article_id}", m.to_json(rule)) for m, rule in members]
        )

    async def sync(self) -> list[StoredMember]:
        """Records published since the last read, this dispatcher's own included."""
        return self._decoded(await self.reader.read_to_end())

    def _decoded(self, records: list[tuple[bytes, bytes]]) -> list[StoredMember]:
        """The members of `records`; a bad record is logged, counted and skipped."""
        members = []
        for key, value in records:
            try:
                members.append(StoredMember.from_json(value))
            except BadRecord as exc:
                skip_bad(exc, STORIES, key, self.metrics)
        return members


class NoStoryLog:
    """A log that keeps nothing: for `monitor backtest`, whose stories last as long as it runs
    (the desk folds in memory exactly as the service's does, and no state is touched)."""

    async def load(self, since_ms: int) -> list[StoredMember]:
        """No members were recorded before."""
        return []

    async def record(self, members: Sequence[tuple[StoredMember, str]]) -> None:
        """Keep nothing."""

    async def sync(self) -> list[StoredMember]:
        """No other writer."""
        return []
