"""Claims: of two processes about to send what must go out at most once, one wins.

Checking "already delivered", sending, then settling leaves a gap: two `monitor dlq retry`
run at once both find an alert undelivered and both send it. A sender first claims the
thing by key (a dead letter's id, a digest's item ids); only the winner sends, settles, then
releases; the loser says "already being sent" and sends nothing. A claim is a lease: one whose
holder crashed expires after `lease_s`, so a crash never blocks an alert for good. A holder
renews its lease every third of it while it sends (`renewing`): a send can wait longer than any
lease (a 429 asking for 10 minutes, a channel's long timeout, many retries), and a lease that
ran out mid-send would let a second sender take the key and send it again.

- Local bus: a row of the `claims` table in state.db, taken in one immediate transaction
  (insert unless a live row exists): SQLite serializes the processes sharing the file.
- Kafka bus: claim records on the topic `<prefix>claims` (not compacted, kept a day), keyed by
  the claimed key so that all of one key's records are in one partition, in one order. Every
  reader replays that order the same way: a claim wins unless an earlier claim of the key is
  still live (not released, and its lease not over at the later claim's own time). A claimant
  publishes, reads the partition to its end and learns whether its record won. A renewal
  extends the holder's lease and never takes a key. A record that cannot be read is logged,
  counted and skipped (`skip_bad`); holders whose lease ended long ago are forgotten. Weaker
  than the local bus where clocks differ: a lease ends by the claimant's clock, so hosts whose
  clocks are minutes apart can take over a live lease early (the dispatchers' 30 s leases by
  more than 30 s: keep the hosts' clocks in step, as Kafka itself wants).

Parts of one process that must not take each other's claims (the dispatcher's, the flusher's,
redelivery's) claim under names of their own (`holder`), sharing the store.

Where it is weaker still: a holder whose renewals fail (the broker or the disk away for two
thirds of a lease, at least 200 s) is not told; its lease can run out while it still sends, and
a second sender may then send too. Renewal failures are logged (`claim_renew_failed`). And a
reader that forgot a holder (an hour after its lease ended) reads a late renewal of it as
nothing, where a reader that had not yet forgotten extends it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Protocol, Self

import structlog

from monitor.alerts.settings import DeliveryConfig
from monitor.bus.badrecords import skip_bad
from monitor.bus.base import CLAIMS
from monitor.bus.compacted import CompactedReader
from monitor.bus.kafka import KafkaBus
from monitor.kernel.errors import BusError
from monitor.kernel.metrics import Metrics
from monitor.kernel.records import BadRecord, Fields, load_json
from monitor.store.state import StateStore

log = structlog.get_logger("monitor.claims")

MIN_LEASE_S = 300.0
SEND_TIMEOUT_S = 60.0  # one attempt of most channels (a longer one is covered by renewals)
# A Kafka reader forgets a holder this long after its lease ended: later than any claim made
# before that end can reach the log (a producer gives up far sooner), so every reader still
# replays such a claim the same way.
FORGET_AFTER_MS = 3_600_000


def lease_s(delivery: DeliveryConfig) -> float:
    """How long a claim lasts unless renewed (its holder crashed): longer than a send with every
    retry and its backoff, so that a holder's renewals are the second line, not the only one."""
    worst = sum(
        SEND_TIMEOUT_S + delivery.delay_s(attempt) for attempt in range(1, delivery.attempts + 1)
    )
    return max(MIN_LEASE_S, worst)


class Claims(Protocol):
    """Leases on keys: one holder at a time."""

    def holder(self, name: str) -> Claims:
        """The same claims held under another name (another part of the process)."""
        ...

    async def claim(self, keys: Sequence[str], lease_s: float) -> set[str]:
        """Take the keys for `lease_s` seconds; return those won (the others have a holder)."""
        ...

    async def renew(self, keys: Sequence[str], lease_s: float) -> None:
        """Extend our live claims of the keys to `lease_s` seconds from now (never takes one)."""
        ...

    async def release(self, keys: Sequence[str]) -> None:
        """Give the keys back (done, or failed: another may try)."""
        ...

    async def holding(self, keys: Sequence[str]) -> set[str]:
        """The keys whose live claim is ours now (a lease that lapsed, taken over or not, is
        not)."""
        ...


@asynccontextmanager
async def renewing(claims: Claims, keys: Sequence[str], lease_s: float) -> AsyncIterator[None]:
    """Renew the claims of `keys` every third of `lease_s` while the block runs (a send that
    waits out a long Retry-After must not lose its claim halfway)."""
    if not keys:
        yield
        return
    task = asyncio.create_task(_renew_every(claims, list(keys), lease_s), name="claims-renew")
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if (current := asyncio.current_task()) is not None and current.cancelling():
                raise


async def _renew_every(claims: Claims, keys: list[str], lease_s: float) -> None:
    while True:
        await asyncio.sleep(lease_s / 3)
        try:
            await claims.renew(keys, lease_s)
        except BusError as exc:  # tried again a third of a lease later
            log.warning("claim_renew_failed", keys=len(keys), reason=str(exc))
        except Exception:  # the send goes on; the lease still holds for two more thirds
            log.exception("claim_renew_failed", keys=len(keys))


class _Holders:
    """`holder`, for both kinds of claims."""

    owner: str

    def holder(self, name: str) -> Self:
        """The same claims under another holder's name, for another part of this process that
        must not take its claims for its own (the dispatcher's and the flusher's): they share
        the store and what was read of it."""
        other = copy.copy(self)
        other.owner = f"{self.owner}-{name}"
        return other


class LocalClaims(_Holders):
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

    async def renew(self, keys: Sequence[str], lease_s: float) -> None:
        """Move our claims' ends to `lease_s` from now (a claim taken over is left alone)."""
        until_ms = int((self.clock() + lease_s) * 1000)
        rows = [(until_ms, key, self.owner) for key in keys]
        if rows:
            await self.file.write(
                lambda db: db.executemany(
                    "UPDATE claims SET until_ms = MAX(until_ms, ?) WHERE key = ? AND owner = ?",
                    rows,
                )
            )

    async def holding(self, keys: Sequence[str]) -> set[str]:
        """The keys whose live claim is ours now."""
        now_ms = int(self.clock() * 1000)

        def query() -> set[str]:
            ours = self.file.conn().execute(
                "SELECT key FROM claims WHERE owner = ? AND until_ms >= ?", (self.owner, now_ms)
            )
            return {str(r[0]) for r in ours} & set(keys)

        return await self.file.run(query) if keys else set()

    async def release(self, keys: Sequence[str]) -> None:
        """Delete our claims of the keys (another's are left alone)."""
        rows = [(key, self.owner) for key in keys]
        if rows:
            await self.file.write(
                lambda db: db.executemany("DELETE FROM claims WHERE key = ? AND owner = ?", rows)
            )


class KafkaClaims(_Holders):
    """Claims on `<prefix>claims`: first live claim in the key's partition order wins."""

    def __init__(
        self,
        bus: KafkaBus,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.bus = bus
        self.reader = CompactedReader(bus, CLAIMS)
        self.owner = uuid.uuid4().hex
        self.clock = clock
        self.metrics = metrics
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
            self.read(raw_key, value)
        self.forget_expired()

    def read(self, raw_key: bytes, value: bytes) -> None:
        """Replay one claim record; one that cannot be read is logged, counted and skipped."""
        try:
            key = _claim_key(raw_key)
            fields = Fields(load_json(value, "claim"), "claim", "claim")
            owner = fields.text("owner")
            at = fields.integer("at")
            kind = fields.one_of("kind", ("claim", "renew", "release"), _kind(fields))
            until = 0 if kind == "release" else fields.integer("until")
        except BadRecord as exc:
            skip_bad(exc, CLAIMS, raw_key, self.metrics)
            return
        current = self._holders.get(key)
        if kind == "release":
            if current is not None and current[0] == owner:
                del self._holders[key]
        elif current is not None and current[0] == owner:
            self._holders[key] = (owner, max(current[1], until))
        elif kind == "claim" and (current is None or current[1] < at):
            self._holders[key] = (owner, until)

    def forget_expired(self) -> None:
        """Drop the holders whose lease ended over FORGET_AFTER_MS ago (memory stays bounded
        by the claims of the last lease and hour, whatever crashed without releasing)."""
        before_ms = int(self.clock() * 1000) - FORGET_AFTER_MS
        for key in [k for k, (_, until) in self._holders.items() if until < before_ms]:
            del self._holders[key]

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

    async def renew(self, keys: Sequence[str], lease_s: float) -> None:
        """Publish renewals: a reader extends the lease of the key's holder if it is us."""
        now_ms = int(self.clock() * 1000)
        body = {"owner": self.owner, "at": now_ms, "until": now_ms + int(lease_s * 1000)}
        value = json.dumps(body | {"kind": "renew"}).encode()
        await self.bus.publish(CLAIMS, [(key, value) for key in dict.fromkeys(keys)])

    async def holding(self, keys: Sequence[str]) -> set[str]:
        """Read the topic to its end: the keys whose live claim is ours."""
        await self._sync()
        now_ms = int(self.clock() * 1000)
        return {
            k
            for k in keys
            if (held := self._holders.get(k)) is not None
            and held[0] == self.owner
            and held[1] >= now_ms
        }

    async def release(self, keys: Sequence[str]) -> None:
        """Publish the releases of our claims."""
        now_ms = int(self.clock() * 1000)
        body = {"owner": self.owner, "at": now_ms, "release": True, "kind": "release"}
        value = json.dumps(body).encode()
        # Read back like any other record: dropping ours here first could read a claim made
        # before this release as the winner, where every other reader sees it lose.
        await self.bus.publish(CLAIMS, [(key, value) for key in dict.fromkeys(keys)])


def _claim_key(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise BadRecord("claim", f"key not UTF-8: {exc.reason} at byte {exc.start}") from None


def _kind(fields: Fields) -> str:
    """A record's kind when it names none (as written before renewals): its `release` flag."""
    release = fields.get("release")
    if release is not None and not isinstance(release, bool):
        raise fields.bad("release", "expected a boolean")
    return "release" if release else "claim"
