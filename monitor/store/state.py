"""The service's own durable state, in state_dir/state.db: feed state, seen items, deliveries,
alerts held for digests (`monitor.alerts.held`), claims on sends (`monitor.alerts.claims`),
the members of stories (`monitor.stories.store`), feed health (`monitor.alerts.feedwatch`),
article pages read for full text (`monitor.feeds.pages`), the alert history
(`monitor.alerts.history`), the watches' silences (`monitor.alerts.mutes`) and the analysts'
verdicts on alerts (`monitor.alerts.feedback`).

A table added since a file was made is created at start (`CREATE TABLE IF NOT EXISTS`); a column
added to an older table is added by `ALTER TABLE` at start."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.kernel.lifecycle import Resource
from monitor.kernel.models import Settlement
from monitor.store.sqlite import SqliteFile

SEEN_RETENTION_S = 30 * 86400  # an item absent from its feed this long may be forgotten
NAME_MAX = 1000  # characters of a feed's polled title (and 2 KiB of its site) kept
SITE_MAX = 2048
HISTORY_MAX = 10_000  # alert history entries kept at most, the oldest pruned first
HISTORY_DAYS = 30  # and none older
# Columns added since the table was first made: (name, type), added to an older file at start.
_FEED_STATE_ADDED = (("title", "TEXT"), ("site", "TEXT"))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_state (
    feed_id TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    disabled_url TEXT,
    title TEXT,
    site TEXT,
    baselined_ms INTEGER
);
CREATE TABLE IF NOT EXISTS seen (
    article_id TEXT PRIMARY KEY,
    feed_id TEXT NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_feed ON seen (feed_id);
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    article_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    ts_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS story_members (
    article_id TEXT PRIMARY KEY,
    story_id TEXT NOT NULL,
    url_key TEXT NOT NULL,
    shingles BLOB NOT NULL,
    feed TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    seen_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS story_members_seen ON story_members (seen_ms);
CREATE TABLE IF NOT EXISTS held (
    alert_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,
    due_ms INTEGER NOT NULL,
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS held_due ON held (due_ms);
CREATE TABLE IF NOT EXISTS feed_health (
    feed_id TEXT PRIMARY KEY,
    health TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
    url_key TEXT PRIMARY KEY,
    fetched_ms INTEGER NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    language TEXT
);
CREATE INDEX IF NOT EXISTS pages_fetched ON pages (fetched_ms);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS story_rules (
    rule_id TEXT NOT NULL,
    article_id TEXT NOT NULL,
    PRIMARY KEY (rule_id, article_id)
);
CREATE TABLE IF NOT EXISTS story_facts (
    article_id TEXT PRIMARY KEY,
    lead TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_history (
    key TEXT PRIMARY KEY,
    watch TEXT NOT NULL,
    first_ms INTEGER NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_history_first ON alert_history (first_ms);
CREATE INDEX IF NOT EXISTS alert_history_watch ON alert_history (watch, first_ms);
CREATE TABLE IF NOT EXISTS silences (
    rule_id TEXT PRIMARY KEY,
    until_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    who TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    rule_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (rule_id, story_id)
);
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedState:
    """What the poller remembers about a feed between polls and restarts."""

    feed_id: str
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    disabled_reason: str | None = None
    disabled_url: str | None = None  # a feed disabled at one URL polls again once its URL changes
    title: str = ""  # the feed's own title and home page, as its latest good poll read them
    site: str = ""
    # When a poll first read the feed's items (its baseline, `monitor.feeds.baseline`): None for
    # a feed never read. Kept for good: unlike the items, it outlives any outage.
    baselined_ms: int | None = None


class StateStore(Resource):
    """Async access to state.db."""

    def __init__(self, state_dir: Path) -> None:
        self.file = SqliteFile(state_dir / "state.db", _SCHEMA)

    async def start(self) -> None:
        """Open the file and forget items (and story members) not seen for SEEN_RETENTION_S."""
        await self.file.start()
        await self.file.write(_add_baselines)
        cutoff = int((time.time() - SEEN_RETENTION_S) * 1000)

        def prune(db: sqlite3.Connection) -> None:
            have = {row[1] for row in db.execute("PRAGMA table_info(feed_state)")}
            for column, kind in _FEED_STATE_ADDED:
                if column not in have:  # a state.db from before the column
                    db.execute(f"ALTER TABLE feed_state ADD COLUMN {column} {kind}")
            db.execute("DELETE FROM seen WHERE last_seen_ms < ?", (cutoff,))
            old = "(SELECT article_id FROM story_members WHERE seen_ms < ?)"
            db.execute(f"DELETE FROM story_rules WHERE article_id IN {old}", (cutoff,))  # noqa: S608
            db.execute(f"DELETE FROM story_facts WHERE article_id IN {old}", (cutoff,))  # noqa: S608
            db.execute("DELETE FROM story_members WHERE seen_ms < ?", (cutoff,))
            # Claims whose holder crashed: expired, they would only be taken over anyway.
            db.execute("DELETE FROM claims WHERE until_ms < ?", (int(time.time() * 1000),))
            db.execute("DELETE FROM silences WHERE until_ms < ?", (int(time.time() * 1000),))
            # The alert history: the newest HISTORY_MAX entries of the last HISTORY_DAYS.
            history_cutoff = int((time.time() - HISTORY_DAYS * 86400) * 1000)
            db.execute("DELETE FROM alert_history WHERE first_ms < ?", (history_cutoff,))
            db.execute(
                "DELETE FROM alert_history WHERE rowid NOT IN "
                "(SELECT rowid FROM alert_history ORDER BY first_ms DESC LIMIT ?)",
                (HISTORY_MAX,),
            )

        await self.file.write(prune)

    async def stop(self) -> None:
        """Close the file."""
        await self.file.stop()

    async def feed_state(self, feed_id: str) -> FeedState:
        """The stored state of a feed (a fresh one if never polled)."""
        row = await self.file.run(
            lambda: (
                self.file.conn()
                .execute(
                    "SELECT etag, last_modified, failures, disabled_reason, disabled_url, "
                    "title, site, baselined_ms FROM feed_state "
                    "WHERE feed_id = ?",
                    (feed_id,),
                )
                .fetchone()
            )
        )
        if row is None:
            return FeedState(feed_id=feed_id)
        return FeedState(
            feed_id=feed_id,
            etag=row[0],
            last_modified=row[1],
            failures=int(row[2]),
            disabled_reason=row[3],
            disabled_url=row[4],
            title=row[5] or "",
            site=row[6] or "",
            baselined_ms=row[7],
        )

    async def save_feed_state(self, state: FeedState) -> None:
        """Store a feed's state."""
        await self.file.write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO feed_state "
                "(feed_id, etag, last_modified, failures, disabled_reason, disabled_url, "
                "title, site, baselined_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    state.feed_id,
                    state.etag,
                    state.last_modified,
                    state.failures,
                    state.disabled_reason,
                    state.disabled_url,
                    state.title[:NAME_MAX],
                    state.site if len(state.site) <= SITE_MAX else "",
                    state.baselined_ms,
                ),
            )
        )

    async def unseen(self, article_ids: Sequence[str]) -> list[str]:
        """The ids never seen before, in the given order, without repeats."""
        ids = list(dict.fromkeys(article_ids))

        def query() -> set[str]:
            seen: set[str] = set()
            db = self.file.conn()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT article_id FROM seen WHERE article_id IN ({marks})"  # noqa: S608 - only placeholders
                rows = db.execute(sql, chunk)
                seen.update(r[0] for r in rows)
            return seen

        seen = await self.file.run(query)
        return [i for i in ids if i not in seen]

    async def mark_seen(self, feed_id: str, article_ids: Iterable[str]) -> None:
        """Remember items (again), so they are never published twice."""
        now = int(time.time() * 1000)
        rows = [(i, feed_id, now) for i in dict.fromkeys(article_ids)]
        await self.file.write(
            lambda db: db.executemany(
                "INSERT INTO seen (article_id, feed_id, last_seen_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (article_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms",
                rows,
            )
        )

    async def sync(self) -> None:
        """Nothing to catch up with: this process is the only writer."""

    async def settled_status(self, alert_id: str) -> str | None:
        """'delivered', 'dead' or 'throttled' for an alert already settled, else None."""
        row = await self.file.run(
            lambda: (
                self.file.conn()
                .execute("SELECT status FROM deliveries WHERE alert_id = ?", (alert_id,))
                .fetchone()
            )
        )
        return str(row[0]) if row else None

    async def settle(self, settlement: Settlement) -> None:
        """Settle an alert: it will not be sent again. `held` never replaces a delivered or
        dead alert's settlement (two dispatchers that met one alert at once, on a shared store:
        the one that held it last must not undo the other's delivery)."""
        now = int(time.time() * 1000)
        await self.file.write(
            lambda db: db.execute(
                "INSERT INTO deliveries "
                "(alert_id, rule_id, article_id, channel, status, reason, ts_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO UPDATE SET "
                "rule_id = excluded.rule_id, article_id = excluded.article_id, "
                "channel = excluded.channel, status = excluded.status, "
                "reason = excluded.reason, ts_ms = excluded.ts_ms "
                "WHERE excluded.status != 'held' OR deliveries.status = 'held'",
                (
                    settlement.alert_id,
                    settlement.rule_id,
                    settlement.article_id,
                    settlement.channel,
                    settlement.status,
                    settlement.reason,
                    now,
                ),
            )
        )


def _add_baselines(db: sqlite3.Connection) -> None:
    """Give a state.db from before `baselined_ms` the column, and mark every feed whose items
    it remembers as read already (their baseline was taken)."""
    columns = {str(row[1]) for row in db.execute("PRAGMA table_info(feed_state)")}
    if "baselined_ms" in columns:
        return
    db.execute("ALTER TABLE feed_state ADD COLUMN baselined_ms INTEGER")
    now = int(time.time() * 1000)
    db.execute(
        "UPDATE feed_state SET baselined_ms = ? WHERE feed_id IN (SELECT feed_id FROM seen)",
        (now,),
    )
    # A feed whose items are remembered but whose row was never written (a crash between the
    # two) was read all the same.
    db.execute(
        "INSERT OR IGNORE INTO feed_state (feed_id, baselined_ms) "
        "SELECT DISTINCT feed_id, ? FROM seen WHERE feed_id IS NOT NULL",
        (now,),
    )


def read_feed_names(state_dir: Path) -> dict[str, tuple[str, str]]:
    """Each polled feed's (title, site) in `state_dir`'s state.db, read without changing it
    (opened read-only: no migration, no pruning, as a command that only reads must): {} when
    there is no file, or it is from before the columns, or cannot be read."""
    path = state_dir / "state.db"
    if not path.is_file():
        return {}
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT feed_id, title, site FROM feed_state").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return {}
    return {str(r[0]): (r[1] or "", r[2] or "") for r in rows if r[1] or r[2]}
