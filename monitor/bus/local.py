"""The embedded bus: a durable append-only log in SQLite (WAL), one file under state_dir.

One table holds every record (its row id, `pos`, is its offset); another holds each group's
committed offset per topic. Consumers in this process are woken at once by a publish; consumers
in other processes find new records within `poll_interval_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from monitor.bus.base import Connection, Record
from monitor.kernel.lifecycle import Resource
from monitor.store.sqlite import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    ts_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_topic ON records (topic, pos);
CREATE TABLE IF NOT EXISTS committed (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic)
);
"""


class LocalBus(Resource):
    """The `local` bus (see the module docstring)."""

    def __init__(self, path: Path, *, poll_interval_s: float = 0.5) -> None:
        self.file = SqliteFile(path, _SCHEMA)
        self.poll_interval_s = poll_interval_s
        self._published = asyncio.Event()
        self._since_s = time.time()

    async def start(self) -> None:
        """Open (and create) the log file."""
        await self.file.start()
        self._since_s = time.time()

    async def stop(self) -> None:
        """Close the log file."""
        await self.file.stop()
        self._since_s = time.time()

    def is_ready(self) -> bool:
        """Open means ready."""
        return self.file.is_open

    def connection(self) -> Connection:
        """Connected while the file is open: there is no broker to lose."""
        error = None if self.file.is_open else "the bus file is not open"
        return Connection(self.file.is_open, self._since_s, error)

    async def publish(self, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
        """Append records in one transaction."""
        if not items:
            return
        now = int(time.time() * 1000)
        rows = [(topic, key, value, now) for key, value in items]
        await self.file.write(
            lambda db: db.executemany(
                "INSERT INTO records (topic, key, value, ts_ms) VALUES (?, ?, ?, ?)", rows
            )
        )
        self._published.set()
        self._published = asyncio.Event()

    def consumer(self, topic: str, group: str) -> LocalConsumer:
        """Join `group` on `topic` (one consumer per group on the local bus)."""
        return LocalConsumer(self, topic, group)

    async def prune(self, older_than_s: float) -> int:
        """Delete records older than `older_than_s` that every group has committed past."""
        cutoff_ms = int((time.time() - older_than_s) * 1000)
        deleted = 0

        def delete(db: sqlite3.Connection) -> None:
            nonlocal deleted
            deleted = db.execute(
                "DELETE FROM records WHERE ts_ms < ? AND pos < coalesce("
                "(SELECT min(next_offset) FROM committed WHERE committed.topic = records.topic), "
                "pos + 1)",
                (cutoff_ms,),
            ).rowcount

        await self.file.write(delete)
        return deleted

    async def count(self, topic: str) -> int:
        """How many records a topic holds."""
        return await self.file.scalar("SELECT count(*) FROM records WHERE topic = ?", (topic,))


class LocalConsumer:
    """A group's consumer on one topic of the local bus."""

    def __init__(self, bus: LocalBus, topic: str, group: str) -> None:
        self.bus = bus
        self.file = bus.file
        self.topic = topic
        self.group = group
        self._position: int | None = None

    async def _committed(self) -> int:
        return await self.file.scalar(
            "SELECT coalesce(max(next_offset), 0) FROM committed WHERE grp = ? AND topic = ?",
            (self.group, self.topic),
        )

    async def fetch(self, max_records: int, timeout_s: float) -> list[Record]:
        """Return records after the last fetched one, waiting up to `timeout_s` for some."""
        if self._position is None:
            self._position = await self._committed()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            published = self.bus._published
            records = await self._read(self._position, max_records)
            if records:
                self._position = records[-1].offset + 1
                return records
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(published.wait(), min(remaining, self.bus.poll_interval_s))

    async def _read(self, position: int, limit: int) -> list[Record]:
        def read() -> list[Record]:
            rows = (
                self.file.conn()
                .execute(
                    "SELECT pos, key, value, ts_ms FROM records WHERE topic = ? AND pos >= ? "
                    "ORDER BY pos LIMIT ?",
                    (self.topic, position, limit),
                )
                .fetchall()
            )
            return [Record(self.topic, 0, int(o), str(k), bytes(v), int(t)) for o, k, v, t in rows]

        return await self.file.run(read)

    async def commit(self, records: Sequence[Record]) -> None:
        """Commit up to the last of `records`."""
        if not records:
            return
        next_offset = max(r.offset for r in records) + 1
        await self.file.write(
            lambda db: db.execute(
                "INSERT INTO committed (grp, topic, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT (grp, topic) DO UPDATE SET next_offset = "
                "max(next_offset, excluded.next_offset)",
                (self.group, self.topic, next_offset),
            )
        )

    async def lag(self) -> int:
        """Records of the topic at or after the committed offset."""
        committed = await self._committed()
        return await self.file.scalar(
            "SELECT count(*) FROM records WHERE topic = ? AND pos >= ?", (self.topic, committed)
        )

    async def rewind(self) -> None:
        """Forget the position; uncommitted records will be fetched again."""
        self._position = None

    async def partition_lag(self) -> dict[int, int]:
        """The local bus has one partition."""
        return {0: await self.lag()}

    async def close(self) -> None:
        """Forget the position; uncommitted records will be fetched again."""
        self._position = None
