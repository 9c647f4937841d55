"""Compacted topics that several processes share: a reader of the whole topic, then of what is
new, and the settlements every dispatcher reads and writes through one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from monitor.bus.badrecords import skip_bad
from monitor.bus.base import (
    DELIVERIES,
)
from monitor.bus.kafka import KafkaBus, topic_partitions
from monitor.kernel.errors import BusError
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Settlement
from monitor.kernel.records import BadRecord, Fields, load_json

log = structlog.get_logger("monitor.kafka")

CATCH_UP_TIMEOUT_S = 30.0  # to read a compacted topic to its end at start


class CompactedReader:
    """Reads a whole topic that several processes write (a compacted one), then what is new."""

    def __init__(self, bus: KafkaBus, topic: str) -> None:
        self.bus = bus
        self.topic = bus.topic(topic)
        self._reader: AIOKafkaConsumer | None = None
        self._reading = asyncio.Lock()  # the dispatcher, the flusher and redelivery share one

    async def start(self) -> None:
        """Position at the topic's beginning."""
        reader = AIOKafkaConsumer(**self.bus.options, enable_auto_commit=False)
        await reader.start()
        tps = await topic_partitions(self.bus.options, self.topic)
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        self._reader = reader

    async def stop(self) -> None:
        """Stop reading."""
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.stop()

    async def read_to_end(self) -> list[tuple[bytes, bytes]]:
        """(key, value) of every record written since the last call, up to the current end."""
        async with self._reading:
            return await self._read_to_end()

    async def _read_to_end(self) -> list[tuple[bytes, bytes]]:
        reader = self._reader
        if reader is None:
            raise BusError(f"{self.topic} is not being read")
        tps = list(reader.assignment())
        starts: dict[Any, int] = {}
        try:
            for tp in tps:
                starts[tp] = await reader.position(tp)
            return await self._read(reader, tps)
        except BaseException as exc:
            # What was read is not handed over: the next call reads it again (a cancelled or
            # failed read must not lose a silence or a settlement for good).
            for tp, offset in starts.items():
                with contextlib.suppress(Exception):
                    reader.seek(tp, offset)
            if isinstance(exc, KafkaError):
                raise BusError(f"reading {self.topic} failed: {type(exc).__name__}: {exc}") from exc
            raise

    async def _read(self, reader: AIOKafkaConsumer, tps: list[Any]) -> list[tuple[bytes, bytes]]:
        found: list[tuple[bytes, bytes]] = []
        ends = await reader.end_offsets(tps)
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        while [tp for tp in tps if await reader.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise BusError(f"could not read {self.topic} to its end in {CATCH_UP_TIMEOUT_S:g}s")
            batches = await reader.getmany(timeout_ms=500)
            for records in batches.values():
                found.extend((r.key, r.value) for r in records if r.key and r.value)
        return found


class TopicStore:
    """A store kept in one compacted topic that several processes share: read from its
    beginning at `start`, then what is new at each `sync` (which a store defines)."""

    def __init__(self, bus: KafkaBus, topic: str, metrics: Metrics | None = None) -> None:
        self.bus = bus
        self.metrics = metrics
        self.reader = CompactedReader(bus, topic)

    async def start(self) -> None:
        """Read the topic from its beginning."""
        await self.reader.start()
        await self.sync()

    async def stop(self) -> None:
        """Stop reading."""
        await self.reader.stop()

    async def sync(self) -> None:
        """Take in what was written since the last call."""
        raise NotImplementedError


class KafkaSettlements(TopicStore):
    """Settled alerts shared by every dispatcher through a compacted topic."""

    def __init__(self, bus: KafkaBus, metrics: Metrics | None = None) -> None:
        super().__init__(bus, DELIVERIES, metrics)
        self._status: dict[str, str] = {}

    async def sync(self) -> None:
        """Read up to the topic's current end, so settlements by other dispatchers are known."""
        for key, value in await self.reader.read_to_end():
            try:
                status = Fields(load_json(value, "delivery"), "delivery", "delivery")
                self._keep(key.decode("utf-8", "replace"), status.text("status"))
            except BadRecord as exc:
                skip_bad(exc, DELIVERIES, key, self.metrics)

    def _keep(self, alert_id: str, status: str) -> None:
        """`held` never replaces delivered or dead: two dispatchers met one alert at once, and
        the one that held it last must not undo the other's delivery (read in log order)."""
        if status != "held" or self._status.get(alert_id) in (None, "held"):
            self._status[alert_id] = status

    async def settled_status(self, alert_id: str) -> str | None:
        """How the alert was settled, as of the last sync."""
        return self._status.get(alert_id)

    async def settle(self, settlement: Settlement) -> None:
        """Record the settlement durably before the match record is committed."""
        body = {
            "status": settlement.status,
            "rule": settlement.rule_id,
            "article": settlement.article_id,
            "channel": settlement.channel,
            "reason": settlement.reason,
        }
        await self.bus.publish(DELIVERIES, [(settlement.alert_id, json.dumps(body).encode())])
        self._keep(settlement.alert_id, settlement.status)
