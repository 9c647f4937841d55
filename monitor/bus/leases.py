"""Leases on Kafka: which feeds a poller polls and which channels a flusher flushes, by group
membership on an empty topic."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from monitor.bus.base import (
    FLUSHER_LEASES,
    POLLER_LEASES,
)
from monitor.bus.kafka import KafkaBus

log = structlog.get_logger("monitor.kafka")


class _Assignments(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, leases: KafkaLeases) -> None:
        self.leases = leases

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.leases.held -= {tp.partition for tp in revoked}

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.leases.held |= {tp.partition for tp in assigned}
        log.info("leases_assigned", group=self.leases.group, partitions=sorted(self.leases.held))


class KafkaLeases:
    """What this process owns, by group membership on an empty leases topic: the pollers'
    feeds (group `poller` on `poller.leases`), or the flushers' channels (group `flusher` on
    `flusher.leases`). A name belongs to whoever holds partition crc32(name) mod N."""

    def __init__(self, bus: KafkaBus, group: str = "poller") -> None:
        self.bus = bus
        self.group = group
        self.topic_name = POLLER_LEASES if group == "poller" else FLUSHER_LEASES
        self.partitions = bus.cfg.poller_partitions
        self.held: set[int] = set()
        self._consumer: AIOKafkaConsumer | None = None

    def owns(self, name: str) -> bool:
        """Whether this process holds `name` (a feed id, a channel name) now."""
        return zlib.crc32(name.encode()) % self.partitions in self.held

    async def run(self, stop: asyncio.Event) -> None:
        """Stay in the group (fetching from an empty topic keeps membership alive) until `stop`."""
        while not stop.is_set():
            try:
                if self._consumer is None:
                    consumer = AIOKafkaConsumer(
                        **self.bus.options,
                        group_id=self.bus.topic(self.group),
                        enable_auto_commit=False,
                        session_timeout_ms=10000,
                        heartbeat_interval_ms=2000,
                    )
                    consumer.subscribe(
                        [self.bus.topic(self.topic_name)], listener=_Assignments(self)
                    )
                    await consumer.start()
                    self._consumer = consumer
                await self._consumer.getmany(timeout_ms=1000)
            except KafkaError as exc:
                log.warning(
                    "leases_unavailable", group=self.group, reason=f"{type(exc).__name__}: {exc}"
                )
                self.held.clear()
                await self._close()
                await asyncio.sleep(2)
        await self._close()

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        try:
            await consumer.stop()
        except (
            KafkaError
        ) as exc:  # leaving the group failed: the broker drops us after the session timeout
            log.warning(
                "leases_close_failed", group=self.group, reason=f"{type(exc).__name__}: {exc}"
            )
