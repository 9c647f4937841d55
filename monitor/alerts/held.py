"""Alerts held back for a digest, through quiet hours, beyond a rule's throttle, or while their
channel is down (reason `outage`, kept whole to go out as itself), until they are due: in
state.db on the local bus, in the compacted topic `<prefix>held` on Kafka (so a dispatcher that
dies leaves its held alerts to the others). Held rows outlive restarts and crashes: nothing held
is lost."""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from monitor.alerts.digest import HeldAlert
from monitor.bus.badrecords import skip_bad
from monitor.bus.base import HELD
from monitor.bus.compacted import CompactedReader
from monitor.bus.kafka import KafkaBus
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Alert, alert_from_dict
from monitor.kernel.records import BadRecord, Fields, load_json
from monitor.store.state import StateStore

OUTAGE = "outage"  # the reason of an alert held while its channel is down
RELEASED = b'{"released":true}'  # a held alert that went out (compaction keeps only this)


@dataclass(frozen=True, slots=True)
class HeldRow:
    """One held alert: for which channel, why, and when it is due."""

    channel: str
    reason: str  # digest, quiet, throttle or outage
    due_ms: int
    item: HeldAlert
    alert: Alert | None = None  # the whole alert, for one that waits for its channel (outage)

    def item_dict(self) -> dict[str, Any]:
        """The item as stored: with the whole alert under `alert` when there is one."""
        data = self.item.to_dict()
        if self.alert is not None:
            data["alert"] = self.alert.to_dict()
        return data

    def to_json(self) -> bytes:
        """The Kafka record."""
        data = {
            "channel": self.channel,
            "reason": self.reason,
            "due_ms": self.due_ms,
            "item": self.item_dict(),
        }
        return json.dumps(data, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HeldRow:
        """Decode what `to_json` made (already parsed); raise BadRecord."""
        f = Fields(d, "held", "held")
        return cls.of(f.text("channel"), f.text("reason"), f.integer("due_ms"), f.get("item"))

    @classmethod
    def of(cls, channel: str, reason: str, due_ms: int, item: object) -> HeldRow:
        """A row from its stored item (what `item_dict` made); raise BadRecord."""
        held = HeldAlert.from_dict(item)
        whole = item.get("alert") if isinstance(item, dict) else None
        return cls(channel, reason, due_ms, held, alert_from_dict(whole) if whole else None)


class Held(Protocol):
    """Where held alerts wait."""

    async def hold(self, row: HeldRow) -> None:
        """Hold an alert until `row.due_ms` (held already: kept as it was)."""
        ...

    async def due(self, now_ms: int) -> list[HeldRow]:
        """The rows due by `now_ms`, oldest due first, but those waiting for their channel."""
        ...

    async def waiting_rows(self, channel: str, limit: int) -> list[HeldRow]:
        """The first `limit` alerts waiting for `channel`, in the order they began to wait."""
        ...

    async def counts(self) -> dict[str, int]:
        """Held alerts per channel."""
        ...

    async def waiting(self) -> dict[str, int]:
        """Alerts waiting for their channel to come back (reason `outage`), per channel."""
        ...

    async def release(self, alert_ids: Sequence[str]) -> None:
        """Forget rows that went out (or were dead-lettered)."""
        ...


class HeldStore:
    """The `held` table of state.db."""

    def __init__(self, state: StateStore) -> None:
        self.file = state.file

    async def hold(self, row: HeldRow) -> None:
        """Hold an alert until `row.due_ms` (held already: kept as it was)."""
        data = json.dumps(row.item_dict(), ensure_ascii=False)
        await self.file.write(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO held (alert_id, channel, reason, due_ms, item) "
                "VALUES (?, ?, ?, ?, ?)",
                (row.item.alert_id, row.channel, row.reason, row.due_ms, data),
            )
        )

    async def due(self, now_ms: int) -> list[HeldRow]:
        """The rows due by `now_ms`, oldest due first."""

        def query() -> list[HeldRow]:
            rows = self.file.conn().execute(
                "SELECT channel, reason, due_ms, item FROM held WHERE due_ms <= ? "
                "AND reason != ? ORDER BY due_ms, rowid",
                (now_ms, OUTAGE),
            )
            return [HeldRow.of(r[0], r[1], int(r[2]), json.loads(r[3])) for r in rows]

        return await self.file.run(query)

    async def waiting_rows(self, channel: str, limit: int) -> list[HeldRow]:
        """The first `limit` alerts waiting for `channel`, in the order they began to wait."""

        def query() -> list[HeldRow]:
            rows = self.file.conn().execute(
                "SELECT channel, reason, due_ms, item FROM held WHERE reason = ? AND channel = ? "
                "ORDER BY due_ms, rowid LIMIT ?",
                (OUTAGE, channel, limit),
            )
            return [HeldRow.of(r[0], r[1], int(r[2]), json.loads(r[3])) for r in rows]

        return await self.file.run(query)

    async def counts(self) -> dict[str, int]:
        """Held alerts per channel."""

        def query() -> dict[str, int]:
            rows = self.file.conn().execute("SELECT channel, count(*) FROM held GROUP BY channel")
            return {str(r[0]): int(r[1]) for r in rows}

        return await self.file.run(query)

    async def waiting(self) -> dict[str, int]:
        """Alerts waiting for their channel to come back, per channel."""

        def query() -> dict[str, int]:
            rows = self.file.conn().execute(
                "SELECT channel, count(*) FROM held WHERE reason = ? GROUP BY channel", (OUTAGE,)
            )
            return {str(r[0]): int(r[1]) for r in rows}

        return await self.file.run(query)

    async def release(self, alert_ids: Sequence[str]) -> None:
        """Forget rows that went out (or were dead-lettered)."""

        def delete(db: sqlite3.Connection) -> None:
            db.executemany("DELETE FROM held WHERE alert_id = ?", [(i,) for i in alert_ids])

        await self.file.write(delete)


def _order(row: HeldRow) -> tuple[int, datetime, str]:
    return (row.due_ms, row.item.held_at, row.item.alert_id)


class KafkaHeldStore:
    """Held alerts in `<prefix>held`, keyed by alert id, read in full by every dispatcher (the
    one that holds a channel's flusher lease sends its digests)."""

    def __init__(self, bus: KafkaBus, metrics: Metrics | None = None) -> None:
        self.bus = bus
        self.metrics = metrics
        self.reader = CompactedReader(bus, HELD)
        self._rows: dict[str, HeldRow] = {}

    async def start(self) -> None:
        """Read the topic from its beginning."""
        await self.reader.start()
        await self._sync()

    async def stop(self) -> None:
        """Stop reading."""
        await self.reader.stop()

    async def _sync(self) -> None:
        for key, value in await self.reader.read_to_end():
            alert_id = key.decode("utf-8", "replace")
            try:
                data = load_json(value, "held")
                if data.get("released"):
                    self._rows.pop(alert_id, None)
                else:
                    self._rows.setdefault(alert_id, HeldRow.from_json(data))
            except BadRecord as exc:
                skip_bad(exc, HELD, key, self.metrics)

    async def hold(self, row: HeldRow) -> None:
        """Publish the row; durable when this returns."""
        if row.item.alert_id in self._rows:
            return
        await self.bus.publish(HELD, [(row.item.alert_id, row.to_json())])
        self._rows[row.item.alert_id] = row

    async def due(self, now_ms: int) -> list[HeldRow]:
        """Catch up with the other dispatchers; the rows due by `now_ms`, oldest due first,
        but those waiting for their channel."""
        await self._sync()
        return sorted(
            (r for r in self._rows.values() if r.due_ms <= now_ms and r.reason != OUTAGE),
            key=_order,
        )

    async def waiting_rows(self, channel: str, limit: int) -> list[HeldRow]:
        """The first `limit` alerts waiting for `channel`, as of the last read, in order."""
        rows = (r for r in self._rows.values() if r.reason == OUTAGE and r.channel == channel)
        return heapq.nsmallest(limit, rows, key=_order)

    async def counts(self) -> dict[str, int]:
        """Held alerts per channel, as of the last read."""
        found: dict[str, int] = {}
        for row in self._rows.values():
            found[row.channel] = found.get(row.channel, 0) + 1
        return found

    async def waiting(self) -> dict[str, int]:
        """Alerts waiting for their channel to come back, per channel, as of the last read."""
        found: dict[str, int] = {}
        for row in self._rows.values():
            if row.reason == OUTAGE:
                found[row.channel] = found.get(row.channel, 0) + 1
        return found

    async def release(self, alert_ids: Sequence[str]) -> None:
        """Mark rows released (compaction then keeps only the mark, until retention ends)."""
        await self.bus.publish(HELD, [(i, RELEASED) for i in alert_ids])
        for i in alert_ids:
            self._rows.pop(i, None)
