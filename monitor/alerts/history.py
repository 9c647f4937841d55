"""The alert history: every alert as settled, with its channels' states, kept across restarts,
beside the shadow watches' would-be alerts and the alerts a silence kept back.

`History.search` (`monitor.status.actions`) reads it: `GET /-/alerts[?watch=&since=]`. It keeps
at most `HISTORY_MAX` (10,000) entries and none older than `HISTORY_DAYS` (30 days), the oldest
pruned first. One entry a (watch, story) as the page lists them (`monitor.alerts.board`), one a
shadow or muted article; `state` is "sent", "held", "dead-lettered", "folded", "muted" or
"shadow", from the worst of its channels.

On the local bus it is a table of state.db; on Kafka the compacted topic `alerts.history`
(keyed by the entry's key, gone after 30 days) that the dispatchers write and any process reads,
so every process answers from where it is kept, not from its own memory. Writes are queued and
written in order by one task (the page's `RecentAlerts` tells its changes without waiting), and
drained before the store closes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Protocol

import structlog

from monitor.alerts.board import RECENT_ALERTS, RecentAlerts, evidence_lines, overall
from monitor.bus.badrecords import skip_bad
from monitor.bus.base import ALERT_HISTORY
from monitor.bus.compacted import TopicStore
from monitor.bus.kafka import KafkaBus
from monitor.kernel.console import Answer, Silence
from monitor.kernel.errors import BusError, StorageFull
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import MatchedArticle
from monitor.kernel.records import BadRecord, Fields, load_json
from monitor.store.state import HISTORY_DAYS, HISTORY_MAX, StateStore

log = structlog.get_logger("monitor.history")

__all__ = ["HISTORY_DAYS", "HISTORY_MAX", "AlertHistory", "KafkaHistoryStore", "LocalHistoryStore"]
SEARCH_MAX = 1000  # entries one search answers at most
PRUNE_EVERY = 200  # writes between two prunings of the local table


class HistoryStore(Protocol):
    """Where the entries are kept: state.db's table, or the Kafka topic."""

    async def put(self, entries: Sequence[Answer]) -> None:
        """Write the entries, each replacing the one of its key."""
        ...

    async def get(self, key: str) -> Answer | None:
        """The entry of `key`, if kept."""
        ...

    async def search(
        self, watch: str | None, since_ms: int | None, until_ms: int | None, limit: int
    ) -> list[Answer]:
        """The entries, newest first (see `AlertHistory.search`)."""
        ...


def _cutoff_ms(now_s: float) -> int:
    return int((now_s - HISTORY_DAYS * 86400) * 1000)


class LocalHistoryStore:
    """The `alert_history` table of state.db."""

    def __init__(self, state: StateStore) -> None:
        self.file = state.file
        self._writes = 0

    async def put(self, entries: Sequence[Answer]) -> None:
        """Write the entries; now and then prune to the bounds."""
        rows = [
            (e["key"], e["watch"], int(e["first_ms"]), json.dumps(e, ensure_ascii=False))
            for e in entries
        ]
        self._writes += len(rows)
        prune, self._writes = self._writes >= PRUNE_EVERY, self._writes % PRUNE_EVERY

        def write(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR REPLACE INTO alert_history (key, watch, first_ms, entry) "
                "VALUES (?, ?, ?, ?)",
                rows,
            )
            if prune:
                prune_history(db, time.time())

        await self.file.write(write)

    async def get(self, key: str) -> Answer | None:
        """The entry of `key`, if kept."""
        row = await self.file.run(
            lambda: (
                self.file.conn()
                .execute("SELECT entry FROM alert_history WHERE key = ?", (key,))
                .fetchone()
            )
        )
        return dict(json.loads(row[0])) if row else None

    async def search(
        self, watch: str | None, since_ms: int | None, until_ms: int | None, limit: int
    ) -> list[Answer]:
        """The entries, newest first."""
        since = max(since_ms or 0, _cutoff_ms(time.time()))
        until = until_ms if until_ms is not None else 2**62

        def query() -> list[Answer]:
            rows = self.file.conn().execute(
                "SELECT entry FROM alert_history WHERE first_ms >= ? AND first_ms <= ? "
                "AND (? IS NULL OR watch = ?) ORDER BY first_ms DESC, rowid DESC LIMIT ?",
                (since, until, watch, watch, limit),
            )
            return [dict(json.loads(r[0])) for r in rows]

        return await self.file.run(query)


def prune_history(db: sqlite3.Connection, now_s: float) -> None:
    """Keep the newest `HISTORY_MAX` entries of the last `HISTORY_DAYS`."""
    db.execute("DELETE FROM alert_history WHERE first_ms < ?", (_cutoff_ms(now_s),))
    db.execute(
        "DELETE FROM alert_history WHERE rowid NOT IN "
        "(SELECT rowid FROM alert_history ORDER BY first_ms DESC LIMIT ?)",
        (HISTORY_MAX,),
    )


class KafkaHistoryStore(TopicStore):
    """The compacted topic `<prefix>alerts.history`, read in full by every process that answers
    a search (the newest `HISTORY_MAX` entries of the last `HISTORY_DAYS` kept in memory)."""

    def __init__(self, bus: KafkaBus, metrics: Metrics | None = None) -> None:
        super().__init__(bus, ALERT_HISTORY, metrics)
        self._entries: dict[str, Answer] = {}

    async def sync(self) -> None:
        """Read what the other processes wrote since the last call; keep to the bounds."""
        for key, value in await self.reader.read_to_end():
            try:
                data = load_json(value, "history entry")
                fields = Fields(data, "history entry", "history")
                fields.text("watch")
                fields.integer("first_ms")
            except BadRecord as exc:
                skip_bad(exc, ALERT_HISTORY, key, self.metrics)
                continue
            entry = dict(data)
            entry["key"] = key.decode("utf-8", "replace")
            self._entries[entry["key"]] = entry
        self._bound()

    def _bound(self) -> None:
        cutoff = _cutoff_ms(time.time())
        old = [k for k, e in self._entries.items() if e["first_ms"] < cutoff]
        for key in old:
            del self._entries[key]
        if len(self._entries) > HISTORY_MAX:
            order = sorted(self._entries, key=lambda k: self._entries[k]["first_ms"])
            for key in order[: len(self._entries) - HISTORY_MAX]:
                del self._entries[key]

    async def put(self, entries: Sequence[Answer]) -> None:
        """Publish the entries; durable when this returns."""
        records = [(str(e["key"]), json.dumps(e, ensure_ascii=False).encode()) for e in entries]
        await self.bus.publish(ALERT_HISTORY, records)
        for entry in entries:
            self._entries[str(entry["key"])] = dict(entry)
        self._bound()

    async def get(self, key: str) -> Answer | None:
        """The entry of `key`, as of the last read."""
        return self._entries.get(key)

    async def search(
        self, watch: str | None, since_ms: int | None, until_ms: int | None, limit: int
    ) -> list[Answer]:
        """Catch up with the topic; the entries, newest first."""
        await self.sync()
        since = max(since_ms or 0, _cutoff_ms(time.time()))
        found = [
            e
            for e in self._entries.values()
            if (watch is None or e["watch"] == watch)
            and since <= e["first_ms"]
            and (until_ms is None or e["first_ms"] <= until_ms)
        ]
        found.sort(key=lambda e: e["first_ms"], reverse=True)
        return [dict(e) for e in found[:limit]]


class AlertHistory:
    """The history as the dispatcher, the flusher and the console use it (`History`); the
    page's `RecentAlerts` journal (see the module docstring)."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._pending: list[tuple[str, Answer]] = []  # ("keep", entry) or ("amend", change)
        self._writer: asyncio.Task[None] | None = None

    def keep(self, entry: Answer) -> None:
        """Write `entry` soon (in order with the others)."""
        self._queue("keep", entry)

    def amend(self, key: str, channel: str, state: str, reason: str) -> None:
        """Change one channel's state of a kept entry soon."""
        self._queue("amend", {"key": key, "channel": channel, "state": state, "reason": reason})

    def shadow(self, matched: MatchedArticle, channels: Sequence[str]) -> None:
        """Keep a shadow watch's would-be alert (state "shadow")."""
        self.keep(_article_entry(matched, "shadow", channels, "shadow mode: not sent", "shadow"))

    def muted(self, matched: MatchedArticle, channels: Sequence[str], silence: Silence) -> None:
        """Keep an alert a silence kept back (state "muted", with the silence's reason)."""
        reason = f"muted until {silence.to_dict()['until']}" + (
            f": {silence.reason}" if silence.reason else ""
        )
        self.keep(_article_entry(matched, "muted", channels, reason, "live"))

    def _queue(self, kind: str, item: Answer) -> None:
        self._pending.append((kind, item))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(
                self._write(), name="alert-history"
            )

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._apply(batch)
            except (BusError, StorageFull, sqlite3.Error) as exc:
                # The alerts went out all the same; only their history lacks them.
                log.warning("alert_history_not_written", entries=len(batch), reason=str(exc))

    async def _apply(self, batch: list[tuple[str, Answer]]) -> None:
        entries: dict[str, Answer] = {}
        for kind, item in batch:
            key = str(item["key"])
            if kind == "keep":
                entries[key] = item
                continue
            entry = entries.get(key) or await self.store.get(key)
            if entry is None:
                continue  # older than the history keeps
            channels = dict(entry.get("channels") or {})
            channels[item["channel"]] = {"state": item["state"], "reason": item["reason"]}
            state = entry.get("state")
            if state not in ("folded", "muted", "shadow"):
                state = overall(str(c.get("state", "")) for c in channels.values())
            entries[key] = {**entry, "channels": channels, "state": state}
        if entries:
            await self.store.put(list(entries.values()))

    async def drain(self) -> None:
        """Wait until every queued entry is written (before the store closes)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def search(
        self,
        *,
        watch: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
    ) -> list[Answer]:
        """`History.search` (monitor.status.actions): newest first, at most `limit` (up to
        1,000) of the last 30 days."""
        await self.drain()
        limit = max(0, min(int(limit), SEARCH_MAX))
        return await self.store.search(watch, since_ms, until_ms, limit)

    async def attach(self, recent: RecentAlerts | None) -> None:
        """Seed the page's recent alerts from the history and journal their changes here."""
        if recent is None:
            return
        recent.seed(await self.search(limit=RECENT_ALERTS * 4))
        recent.journal = self


def _article_entry(
    matched: MatchedArticle, state: str, channels: Sequence[str], reason: str, mode: str
) -> Answer:
    m, article = matched.match, matched.article
    return {
        "key": f"{state}\x1f{m.rule_id}\x1f{article.id}",
        "watch": m.rule_id,
        "mode": mode,
        "severity": m.severity,
        "title": article.title,
        "url": article.url,
        "feed": article.feed or "",
        "evidence": evidence_lines(m.evidence),
        "first_ms": int(time.time() * 1000),
        "channels": {name: {"state": state, "reason": reason} for name in dict.fromkeys(channels)},
        "story": "",
        "state": state,
        "article": article.id,
    }
