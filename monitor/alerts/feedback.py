"""The analysts' verdicts on alerts (issue 35): one a (rule, story), the latest winning, each with
its article kept whole, so a model can be trained after the bus has dropped the article.

On the local bus the verdicts are the `feedback` table of state.db; on Kafka the compacted topic
`feedback` (keyed `rule\\x1fstory`, never expired) that any process writes and reads, so a
verdict recorded through one process is listed by every other.

A verdict's article is found where the alert left it: the alert history's entry for (rule,
story) names the article, its title, URL and feed (kept 30 days); the stored articles of the
bus (its retention) give the whole article, text fields and publication time, when still kept.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any, Protocol

import structlog

from monitor.alerts.history import AlertHistory
from monitor.bus.badrecords import skip_bad
from monitor.bus.base import ARTICLES, FEEDBACK
from monitor.bus.compacted import TopicStore
from monitor.bus.history import stored_records
from monitor.bus.kafka import KafkaBus
from monitor.bus.settings import BusPlace
from monitor.kernel.errors import BusError
from monitor.kernel.metrics import Metrics
from monitor.kernel.records import BadRecord, Fields, load_json
from monitor.store.state import StateStore

log = structlog.get_logger("monitor.feedback")

Record = dict[str, Any]  # {"rule", "story", "verdict", "at_ms", "who", "article": {...}}
WHO_MAX = 200  # characters of who gave a verdict kept
LOOKBACK_S = 86400.0  # the article was stored at most this long before its alert


def key_of(rule_id: str, story_id: str) -> str:
    """A verdict's key: one a (rule, story)."""
    return f"{rule_id}\x1f{story_id}"


class FeedbackStore(Protocol):
    """Where the verdicts are kept."""

    async def get(self, rule_id: str, story_id: str) -> Record | None:
        """The verdict on (rule, story), if any."""
        ...

    async def all(self) -> list[Record]:
        """Every verdict kept."""
        ...

    async def put(self, record: Record) -> None:
        """Keep `record`, replacing the verdict on its (rule, story)."""
        ...


class LocalFeedback:
    """The `feedback` table of state.db."""

    def __init__(self, state: StateStore) -> None:
        self.file = state.file

    async def get(self, rule_id: str, story_id: str) -> Record | None:
        """The verdict on (rule, story), if any."""

        def query() -> Record | None:
            row = (
                self.file.conn()
                .execute(
                    "SELECT record FROM feedback WHERE rule_id = ? AND story_id = ?",
                    (rule_id, story_id),
                )
                .fetchone()
            )
            return dict(json.loads(row[0])) if row else None

        return await self.file.run(query)

    async def all(self) -> list[Record]:
        """Every verdict kept, oldest first."""

        def query() -> list[Record]:
            rows = self.file.conn().execute("SELECT record FROM feedback ORDER BY at_ms")
            return [dict(json.loads(r[0])) for r in rows]

        return await self.file.run(query)

    async def put(self, record: Record) -> None:
        """Keep `record`, replacing the verdict on its (rule, story)."""
        row = (
            record["rule"],
            record["story"],
            record["verdict"],
            int(record["at_ms"]),
            json.dumps(record, ensure_ascii=False),
        )

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO feedback (rule_id, story_id, verdict, at_ms, record) "
                "VALUES (?, ?, ?, ?, ?)",
                row,
            )

        await self.file.write(write)


class KafkaFeedback(TopicStore):
    """The compacted topic `<prefix>feedback`, by `rule\\x1fstory`, read in full."""

    def __init__(self, bus: KafkaBus, metrics: Metrics | None = None) -> None:
        super().__init__(bus, FEEDBACK, metrics)
        self._records: dict[str, Record] = {}

    async def sync(self) -> None:
        """Catch up with the topic."""
        for key, value in await self.reader.read_to_end():
            try:
                data = load_json(value, "verdict")
                f = Fields(data, "verdict", "feedback")
                record = {**data, "rule": f.text("rule"), "story": f.text("story")}
                record["verdict"] = f.text("verdict")
            except BadRecord as exc:
                skip_bad(exc, FEEDBACK, key, self.metrics)
                continue
            self._records[key_of(record["rule"], record["story"])] = record

    async def get(self, rule_id: str, story_id: str) -> Record | None:
        """The verdict on (rule, story), as of a fresh read of the topic."""
        await self.sync()
        return self._records.get(key_of(rule_id, story_id))

    async def all(self) -> list[Record]:
        """Every verdict kept, oldest first."""
        await self.sync()
        return sorted(self._records.values(), key=lambda r: int(r.get("at_ms") or 0))

    async def put(self, record: Record) -> None:
        """Publish the verdict; durable when this returns."""
        key = key_of(record["rule"], record["story"])
        await self.bus.publish(FEEDBACK, [(key, json.dumps(record, ensure_ascii=False).encode())])
        self._records[key] = record


class Feedback:
    """The verdicts as the feedback page and `monitor feedback` use them."""

    def __init__(self, store: FeedbackStore, clock: Any = time.time) -> None:
        self.store = store
        self.clock = clock

    async def record(
        self, rule_id: str, story_id: str, verdict: str, article: Record, who: str
    ) -> bool:
        """Keep `verdict` on (rule, story) with its `article`; False (nothing written) when the
        same verdict is kept already, so a link fetched twice changes nothing."""
        before = await self.store.get(rule_id, story_id)
        if before is not None and before.get("verdict") == verdict:
            return False
        record = {
            "rule": rule_id,
            "story": story_id,
            "verdict": verdict,
            "at_ms": int(self.clock() * 1000),
            "who": who[:WHO_MAX],
            "article": article,
        }
        await self.store.put(record)
        log.info("verdict_recorded", rule=rule_id, story=story_id, verdict=verdict, who=who)
        return True

    async def list(self, rule: str | None = None) -> list[Record]:
        """The verdicts kept (of one watch's, with `rule`), oldest first."""
        return [r for r in await self.store.all() if rule is None or r.get("rule") == rule]

    async def get(self, rule_id: str, story_id: str) -> Record | None:
        """The verdict on (rule, story), if any."""
        return await self.store.get(rule_id, story_id)


async def find_article(
    history: AlertHistory | None, place: BusPlace | None, rule_id: str, story_id: str
) -> Record:
    """The article of the alert on (rule, story): the history entry's fields (title, url, feed,
    id), completed by the whole stored article when the bus still keeps it (see the module
    docstring); `{"id": story_id}` when neither knows it."""
    found: Record = {"id": story_id}
    entry = await history.store.get(key_of(rule_id, story_id)) if history is not None else None
    first_ms = int(time.time() * 1000)
    if entry is not None:
        found = {
            "id": str(entry.get("article") or story_id),
            "title": str(entry.get("title", "")),
            "url": str(entry.get("url", "")),
            "feed": str(entry.get("feed", "")),
        }
        first_ms = int(entry.get("first_ms") or first_ms)
    if place is None:
        return found
    since_s = time.time() - first_ms / 1000 + LOOKBACK_S
    try:
        records = await stored_records(place, ARTICLES, since_s)
    except BusError as exc:
        log.warning("feedback_article_not_read", rule=rule_id, story=story_id, reason=str(exc))
        return found
    for rec in reversed(records):
        if rec.key == found["id"]:
            try:
                whole = json.loads(rec.value)
            except ValueError:
                break
            if isinstance(whole, dict):
                return {**found, **whole}
    return found
