"""Alerts held back for a digest, through quiet hours, or beyond a rule's throttle, in
state.db until they are due. Held rows outlive restarts and crashes: nothing held is lost."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.alerts.digest import HeldAlert
from monitor.state import StateStore


@dataclass(frozen=True, slots=True)
class HeldRow:
    """One held alert: for which channel, why, and when it is due."""

    channel: str
    reason: str  # digest, quiet or throttle
    due_ms: int
    item: HeldAlert


class HeldStore:
    """The `held` table of state.db."""

    def __init__(self, state: StateStore) -> None:
        self.file = state.file

    async def hold(self, row: HeldRow) -> None:
        """Hold an alert until `row.due_ms` (held already: kept as it was)."""
        data = json.dumps(row.item.to_dict(), ensure_ascii=False)
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
                "ORDER BY due_ms, rowid",
                (now_ms,),
            )
            return [
                HeldRow(r[0], r[1], int(r[2]), HeldAlert.from_dict(json.loads(r[3]))) for r in rows
            ]

        return await self.file.run(query)

    async def counts(self) -> dict[str, int]:
        """Held alerts per channel."""

        def query() -> dict[str, int]:
            rows = self.file.conn().execute("SELECT channel, count(*) FROM held GROUP BY channel")
            return {str(r[0]): int(r[1]) for r in rows}

        return await self.file.run(query)

    async def release(self, alert_ids: Sequence[str]) -> None:
        """Forget rows that went out (or were dead-lettered)."""

        def delete(db: sqlite3.Connection) -> None:
            db.executemany("DELETE FROM held WHERE alert_id = ?", [(i,) for i in alert_ids])

        await self.file.write(delete)
