"""Claims: of two processes about to send what must go out at most once, one wins.

Checking "already delivered", sending, then settling leaves a gap: two `monitor dlq retry`
run at once both find an alert undelivered and both send it. A sender first claims the
thing by key (a dead letter's id, a digest's item ids); only the winner sends, settles, then
releases; the loser says "already being sent" and sends nothing. A claim is a lease: one whose
holder crashed expires after `lease_s` (longer than a send with all its retries), so a crash
never blocks an alert for good.

- Local bus: a row of the `claims` table in state.db, taken in one immediate transaction
  (insert unless a live row exists): SQLite serializes the processes sharing the file.
- Kafka bus: claim records on the topic `<prefix>claims` (not compacted, kept a day), keyed by
  the claimed key so that all of one key's records are in one partition, in one order. Every
  reader replays that order the same way: a claim wins unless an earlier claim of the key is
  still live (not released, and its lease not over at the later claim's own time). A claimant
  publishes, reads the partition to its end and learns whether its record won. Weaker than
  the local bus where clocks differ: a lease ends by the claimant's clock, so hosts whose
  clocks are minutes apart can take over a live lease early; and a holder still sending after
  its lease is over (a send stuck past every timeout) can be overtaken.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Protocol

from monitor.bus.base import CLAIMS, Bus
from monitor.bus.kafka import CompactedReader, KafkaBus
from monitor.config import DeliveryConfig
from monitor.state import StateStore

MIN_LEASE_S = 300.0
SEND_TIMEOUT_S = 60.0  # a generous bound on one attempt of any channel


def lease_s(delivery: DeliveryConfig) -> float:
    """How long a claim lasts: longer than a send with every retry and its backoff."""
    worst = sum(
        SEND_TIMEOUT_S + delivery.delay_s(attempt) for attempt in range(1, delivery.attempts + 1)
    )
    return max(MIN_LEASE_S, worst)


class Claims(Protocol):
    """Leases on keys: one holder at a time."""

    async def claim(self, keys: Sequence[str], lease_s: float) -> set[str]:
        """Take the keys for `lease_s` seconds; return those won (the others have a holder)."""
        ...

    async def release(self, keys: Sequence[str]) -> None:
        """Give the keys back (done, or failed: another may try)."""
        ...


async def open_claims(bus: Bus, state: StateStore | Path, stack: AsyncExitStack) -> Claims:
    """The claims of the bus in use, closed with `stack`: on the local bus in `state` (an open
    store, or the state directory of one to open)."""
    if isinstance(bus, KafkaBus):
        claims = KafkaClaims(bus)
        await claims.start()
        stack.push_async_callback(claims.stop)
        return claims
    if isinstance(state, Path):
        state = await stack.enter_async_context(StateStore(state))
    return LocalClaims(state)


class LocalClaims:
    """Claims in state.db, shared by every process that opens it."""

    def __init__(self, state: StateStore, clock: Callable[[], float] = time.time) -> None:
        self.file = state.file
        self.owner = uuid.uuid4().hex
        self.clock = clock

    async def claim(self, keys: Sequence[str], lease_s: float) -> set[str]:
        """Insert each claim unless a live one is there, in one transaction; the ones won."""
        now_ms = int(self.clock() * 1000)
        until_ms = now_ms + int(lease_s * 1000)
        won: set[str] = set()

        def take(db: sqlite3.Connection) -> None:
            won.clear()  # a transaction retried starts over
            for key in dict.fromkeys(keys):
                db.execute("DELETE FROM claims WHERE key = ? AND until_ms < ?", (key, now_ms))
                db.execute(
                    "INSERT INTO claims (key, owner, until_ms) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO NOTHING",
                    (key, self.owner, until_ms),
                )
                row = db.execute("SELECT owner FROM claims WHERE key = ?", (key,)).fetchone()
                if row[0] == self.owner:
                    won.add(key)

        if keys:
            await self.file.write(take)
        return won

    async def release(self, keys: Sequence[str]) -> None:
        """Delete our claims of the keys (another's are left alone)."""
        rows = [(key, self.owner) for key in keys]
        if rows:
            await self.file.write(
                lambda db: db.executemany("DELETE FROM claims WHERE key = ? AND owner = ?", rows)
            )


class KafkaClaims:
    """Claims on `<prefix>claims`: first live claim in the key's partition order wins."""

    def __init__(self, bus: KafkaBus, clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.reader = CompactedReader(bus, CLAIMS)
        self.owner = uuid.uuid4().hex
        self.clock = clock
        self._holders: dict[str, tuple[str, int]] = {}  # key: (owner, until_ms)

    async def start(self) -> None:
        """Read the claims of the last day."""
        await self.reader.start()
        await self._sync()

    async def stop(self) -> None:
        """Stop reading."""
        await self.reader.stop()

    async def _sync(self) -> None:
        for raw_key, value in await self.reader.read_to_end():
            self._apply(raw_key.decode(), json.loads(value))

    def _apply(self, key: str, record: dict[str, object]) -> None:
        owner, at = str(record["owner"]), int(str(record["at"]))
        current = self._holders.get(key)
        if record.get("release"):
            if current is not None and current[0] == owner:
                del self._holders[key]
        elif current is None or current[1] < at or current[0] == owner:
            self._holders[key] = (owner, int(str(record["until"])))

    async def claim(self, keys: Sequence[str], lease_s: float) -> set[str]:
        """Publish the claims, read the topic to its end: the keys whose claim won."""
        if not keys:
            return set()
        now_ms = int(self.clock() * 1000)
        body = {"owner": self.owner, "at": now_ms, "until": now_ms + int(lease_s * 1000)}
        value = json.dumps(body).encode()
        await self.bus.publish(CLAIMS, [(key, value) for key in dict.fromkeys(keys)])
        await self._sync()
        return {k for k in keys if self._holders.get(k, ("", 0))[0] == self.owner}

    async def release(self, keys: Sequence[str]) -> None:
        """Publish the releases of our claims."""
        now_ms = int(self.clock() * 1000)
        value = json.dumps({"owner": self.owner, "at": now_ms, "release": True}).encode()
        # Read back like any other record: dropping ours here first could read a claim made
        # before this release as the winner, where every other reader sees it lose.
        await self.bus.publish(CLAIMS, [(key, value) for key in dict.fromkeys(keys)])
