"""Silences: a watch muted until a time, with who muted it and why (as Alertmanager's).

A silence is kept where every dispatcher reads it: the `silences` table of state.db on the local
bus, the compacted topic `mutes` (keyed by watch id) on Kafka. Each dispatcher keeps the
silences in memory and reads the store again at most every `REFRESH_S` seconds as it handles a
batch, so a mute made through any process silences every dispatcher within a few seconds. A
silence ends by itself at `until_ms`, or when unmuted.

While a watch is muted its matches are not sent: each is kept in the alert history as "muted"
with the silence's reason, counted (`monitor_alerts_total{result="muted"}`) and logged
`alert_muted`. Nothing muted is sent later: the match is committed as done (only a crash
before its batch is committed redelivers it, and after the silence's end that copy is sent).
It is not placed in a story either, so after the silence ends a later article of the same
story alerts as news (the reader never heard of it); an article after the end alerts normally.

`parse_until` reads the time a mute lasts until, as `POST /-/watches/<id>/mute` is given it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import structlog

from monitor.bus.badrecords import skip_bad
from monitor.bus.base import MUTES
from monitor.bus.compacted import TopicStore
from monitor.bus.kafka import KafkaBus
from monitor.kernel.checks import parse_duration
from monitor.kernel.console import ActionRefused, Silence, Who
from monitor.kernel.metrics import Metrics
from monitor.kernel.records import BadRecord, Fields, load_json
from monitor.store.state import StateStore

log = structlog.get_logger("monitor.mutes")

MAX_MUTE_S = 90 * 86400  # a silence ends within 90 days
REFRESH_S = 2.0  # a dispatcher reads the silences again at most this often
REASON_MAX = 500  # characters of a silence's reason kept
UNTIL_MAX = 100  # characters of an `until` read at most


def parse_until(value: object, now_ms: int) -> int:
    """The end of a mute in Unix ms: a duration from now ("2h", "30m", "1d", "1h30m") or an
    ISO 8601 time ("2025-06-01T08:00:00+02:00"; without a zone, UTC). ActionRefused (422) for
    anything else, a time in the past, or one more than 90 days ahead."""
    if not isinstance(value, str) or not value.strip():
        raise ActionRefused(422, "until must be a duration like 2h, 30m or 1d, or a time")
    text = value.strip()
    if len(text) > UNTIL_MAX:
        raise ActionRefused(422, "until is too long to be a duration or a time")
    until_ms = _from_duration(text, now_ms)
    if until_ms is None:
        until_ms = _from_time(text)
    if until_ms is None:
        raise ActionRefused(
            422,
            f"{text!r} is neither a duration (like 2h, 30m or 1d) nor a time "
            "(like 2025-06-01T08:00:00Z)",
        )
    if until_ms <= now_ms:
        raise ActionRefused(422, f"{text!r} is in the past: a mute must end later than now")
    if until_ms - now_ms > MAX_MUTE_S * 1000:
        raise ActionRefused(422, f"{text!r} is more than 90 days ahead: mute for less")
    return until_ms


def _from_duration(text: str, now_ms: int) -> int | None:
    if text[0].isdigit() and text.replace(".", "", 1).isdigit():
        return None  # a bare number: seconds? ms? a year? Say the unit.
    try:
        seconds = parse_duration(text)
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds > MAX_MUTE_S * 2:
        return now_ms + MAX_MUTE_S * 2000  # refused below as too far ahead
    return now_ms + int(seconds * 1000)


def _from_time(text: str) -> int | None:
    try:
        at = datetime.fromisoformat(text)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return int(at.timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        return None


class SilenceStore(Protocol):
    """Where the silences are kept."""

    async def read(self) -> dict[str, Silence]:
        """Every silence kept, by watch id (ended ones may be among them)."""
        ...

    async def write(self, rule_id: str, silence: Silence | None) -> None:
        """Keep the watch's silence (None: it has none)."""
        ...


def _silence_json(silence: Silence) -> str:
    return json.dumps(silence.to_dict(), ensure_ascii=False)


def _silence_of(data: object) -> Silence:
    f = Fields(data, "silence", "silence")
    who = f.get("who")
    return Silence(
        rule_id=f.text("watch"),
        until_ms=f.integer("until_ms"),
        reason=f.text("reason", default=""),
        created_ms=f.integer("created_ms"),
        who=dict(who) if isinstance(who, dict) else {},
    )


class LocalSilences:
    """The `silences` table of state.db."""

    def __init__(self, state: StateStore) -> None:
        self.file = state.file

    async def read(self) -> dict[str, Silence]:
        """The silences kept (ended ones are pruned as state.db opens)."""

        def query() -> dict[str, Silence]:
            rows = self.file.conn().execute(
                "SELECT rule_id, until_ms, reason, created_ms, who FROM silences"
            )
            return {
                str(r[0]): Silence(str(r[0]), int(r[1]), str(r[2]), int(r[3]), json.loads(r[4]))
                for r in rows
            }

        return await self.file.run(query)

    async def write(self, rule_id: str, silence: Silence | None) -> None:
        """Keep (or end) the watch's silence."""

        def write(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM silences WHERE rule_id = ?", (rule_id,))
            if silence is not None:
                db.execute(
                    "INSERT INTO silences (rule_id, until_ms, reason, created_ms, who) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        rule_id,
                        silence.until_ms,
                        silence.reason,
                        silence.created_ms,
                        json.dumps(silence.who, ensure_ascii=False),
                    ),
                )

        await self.file.write(write)


class KafkaSilences(TopicStore):
    """The compacted topic `<prefix>mutes`, by watch id, read in full by every dispatcher."""

    def __init__(self, bus: KafkaBus, metrics: Metrics | None = None) -> None:
        super().__init__(bus, MUTES, metrics)
        self._silences: dict[str, Silence] = {}

    async def sync(self) -> None:
        """Catch up with the topic."""
        await self.read()

    async def read(self) -> dict[str, Silence]:
        """Catch up with the topic; the silences, by watch id."""
        for key, value in await self.reader.read_to_end():
            rule_id = key.decode("utf-8", "replace")
            try:
                data = load_json(value, "silence")
                if data.get("ended"):
                    self._silences.pop(rule_id, None)
                else:
                    self._silences[rule_id] = _silence_of(data)
            except BadRecord as exc:
                skip_bad(exc, MUTES, key, self.metrics)
        return dict(self._silences)

    async def write(self, rule_id: str, silence: Silence | None) -> None:
        """Publish the silence (or its end); durable when this returns."""
        body = _silence_json(silence) if silence else json.dumps({"ended": True})
        await self.bus.publish(MUTES, [(rule_id, body.encode())])
        if silence is None:
            self._silences.pop(rule_id, None)
        else:
            self._silences[rule_id] = silence


class Mutes:
    """The silences (`Silences` of `monitor.status.actions`), and the dispatcher's cheap check
    `muted`, answered from memory and refreshed from the store (see the module docstring)."""

    def __init__(self, store: SilenceStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._silences: dict[str, Silence] = {}
        self._read_at = -math.inf

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def refresh(self, *, force: bool = False) -> None:
        """Read the store again, unless read less than `REFRESH_S` ago."""
        if force or self.clock() - self._read_at >= REFRESH_S:
            self._silences = await self.store.read()
            self._read_at = self.clock()

    def muted(self, rule_id: str) -> Silence | None:
        """The watch's silence if it is muted now (as of the last refresh)."""
        silence = self._silences.get(rule_id)
        return silence if silence is not None and silence.until_ms > self._now_ms() else None

    async def mute(self, rule_id: str, until_ms: int, reason: str, who: Who) -> Silence:
        """Mute the watch until `until_ms` (replacing its silence, if any); 422 for a time not
        ahead or more than 90 days ahead."""
        now = self._now_ms()
        if until_ms <= now:
            raise ActionRefused(422, "a mute must end later than now")
        if until_ms - now > MAX_MUTE_S * 1000:
            raise ActionRefused(422, "a mute must end within 90 days")
        silence = Silence(rule_id, until_ms, reason.strip()[:REASON_MAX], now, who.to_dict())
        await self.store.write(rule_id, silence)
        self._silences[rule_id] = silence
        log.info("watch_muted", rule=rule_id, until=silence.to_dict()["until"], reason=reason)
        return silence

    async def unmute(self, rule_id: str, who: Who) -> Silence | None:
        """End the watch's silence now; the silence ended, or None if it had none."""
        await self.refresh(force=True)
        silence = self.muted(rule_id)
        if silence is None:
            return None
        await self.store.write(rule_id, None)
        self._silences.pop(rule_id, None)
        log.info("watch_unmuted", rule=rule_id, by=who.to_dict())
        return silence

    async def active(self) -> list[Silence]:
        """The silences not yet over, soonest to end first."""
        await self.refresh(force=True)
        now = self._now_ms()
        return sorted(
            (s for s in self._silences.values() if s.until_ms > now),
            key=lambda s: (s.until_ms, s.rule_id),
        )
