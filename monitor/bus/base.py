"""The Bus contract: publish durably; consume as a group; commit after the work is done.

Delivery is at least once: a record that was fetched but not committed is fetched again by the
group's next consumer (after a restart, or a rebalance on Kafka). Records with one key keep
their order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

ARTICLES: Final = "articles"
MATCHES: Final = "matches"
DLQ: Final = "alerts.dlq"
DLQ_DONE: Final = "alerts.dlq.done"  # dead letters retried or dropped, by key, compacted (Kafka)
DELIVERIES: Final = "deliveries"  # settled alerts, compacted (Kafka bus)
STORIES: Final = "stories"  # story members by (rule, article), compacted (Kafka bus)
STORIES_RETENTION_S: Final = 7 * 86400.0  # the longest story window the Kafka bus keeps
POLLER_LEASES: Final = "poller.leases"  # empty; its partitions share the feeds among pollers
HELD: Final = "held"  # alerts held for digests, by alert id, compacted (Kafka bus)
HELD_RETENTION_S: Final = 30 * 86400.0  # a held alert is due within a day or a throttle period
FEED_HEALTH: Final = "feed.health"  # each feed's health, by feed id, compacted (Kafka bus)
FLUSHER_LEASES: Final = "flusher.leases"  # empty; its partitions share the channels' digests
CLAIMS: Final = "claims"  # who is sending what must go out once, by key (Kafka bus)
CLAIMS_RETENTION_S: Final = 86400.0  # far beyond any lease
ALERT_HISTORY: Final = "alerts.history"  # the alert history, by entry key, compacted (Kafka bus)
HISTORY_RETENTION_S: Final = 30 * 86400.0  # the history keeps 30 days (monitor.alerts.history)
MUTES: Final = "mutes"  # the watches' silences, by watch id, compacted (Kafka bus)
MUTES_RETENTION_S: Final = 91 * 86400.0  # a silence lasts 90 days at most
FEEDBACK: Final = "feedback"  # verdicts on alerts, by rule\x1fstory, compacted, kept (Kafka bus)
TOPICS: Final = (ARTICLES, MATCHES, DLQ)
CONTROL: Final = "control"  # console actions for the process owning their target (Kafka bus)
CONTROL_REPLIES: Final = "control.replies"  # their answers, by command id (Kafka bus)


@dataclass(frozen=True, slots=True)
class Record:
    """One record as a consumer sees it."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Connection:
    """Whether the bus is connected now, since when (Unix seconds), and the last error."""

    connected: bool
    since_s: float
    error: str | None = None


class Consumer(Protocol):
    """A member of a consumer group on one topic."""

    async def fetch(self, max_records: int, timeout_s: float) -> list[Record]:
        """Return the next records (empty after `timeout_s` when there are none)."""
        ...

    async def commit(self, records: Sequence[Record]) -> None:
        """Mark these records (and everything before them in their partitions) done."""
        ...

    async def lag(self) -> int:
        """How many records of the topic the group has not committed yet."""
        ...

    async def rewind(self) -> None:
        """Go back to the last commit: uncommitted records are fetched again."""
        ...

    async def partition_lag(self) -> dict[int, int]:
        """Records not yet committed, per partition this consumer holds."""
        ...

    async def close(self) -> None:
        """Leave the group; uncommitted records go to the next consumer."""
        ...


class Bus(Protocol):
    """A durable log of topics."""

    async def start(self) -> None:
        """Open connections; idempotent."""
        ...

    async def stop(self) -> None:
        """Flush and close; idempotent."""
        ...

    async def publish(self, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
        """Append (key, value) records; when this returns they are durable."""
        ...

    def consumer(self, topic: str, group: str) -> Consumer:
        """Join `group` on `topic`."""
        ...

    def is_ready(self) -> bool:
        """Whether the bus can take records now."""
        ...

    def connection(self) -> Connection:
        """Whether the bus is connected now, since when, and why not."""
        ...
