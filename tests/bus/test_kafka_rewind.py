"""Rewinding after a failed commit when a rebalance has just taken the partition: the race a
real broker showed under load (two dispatchers, 10,000 articles), which ended the process."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError
from structlog.testing import capture_logs

from monitor.bus import kafka
from monitor.bus.kafka import KafkaBus, KafkaConsumer
from monitor.bus.settings import KafkaConfig


class RevokedWhileAsked:
    """An aiokafka consumer whose partition is revoked while its committed offset is asked
    for: `seek` then raises as aiokafka's does for a partition no longer assigned."""

    def __init__(self) -> None:
        self.held = {TopicPartition("t.matches", 0), TopicPartition("t.matches", 1)}
        self.sought: list[TopicPartition] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    async def committed(self, tp: TopicPartition) -> int:
        self.held.discard(TopicPartition("t.matches", 0))  # the rebalance lands now
        return 5

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if tp not in self.held:
            raise IllegalStateError(f"No current assignment for partition {tp}")
        self.sought.append(tp)

    async def seek_to_beginning(self, *tps: Any) -> None:
        raise AssertionError("every partition here has a commit")


async def test_rewind_skips_a_partition_a_rebalance_took() -> None:
    """The moved partition is skipped (its new owner starts from the commit); the one still
    held is rewound; nothing is raised."""
    consumer = KafkaConsumer(KafkaBus(KafkaConfig(bootstrap_servers="127.0.0.1:1")), "t", "g")
    fake = RevokedWhileAsked()
    consumer._consumer = fake
    await consumer.rewind()
    assert [TopicPartition("t.matches", 1)] == fake.sought


class OneBatch:
    """An aiokafka consumer holding partition 0, whose one fetch returns one record."""

    def __init__(self) -> None:
        self.committed_offsets: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t", 0)}

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        record = SimpleNamespace(offset=7, key=b"k", value=b"v", timestamp=0)
        return {TopicPartition("t", 0): [record]}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed_offsets.append(offsets)


def one_batch_consumer() -> tuple[KafkaConsumer, OneBatch]:
    consumer = KafkaConsumer(KafkaBus(KafkaConfig(bootstrap_servers="127.0.0.1:1")), "t", "g")
    fake = OneBatch()
    consumer._consumer = fake
    return consumer, fake


async def test_a_rebalance_waits_for_the_batch_in_hand_to_be_committed() -> None:
    """The partitions are given up only after the fetched batch's commit."""
    consumer, fake = one_batch_consumer()
    records = await consumer.fetch(10, 0.1)
    handing = asyncio.create_task(consumer.hand_over({0}))
    await asyncio.sleep(0.05)
    assert not handing.done(), "gave the partition up with a batch in hand"
    await consumer.commit(records)
    await asyncio.wait_for(handing, 1)
    assert [{TopicPartition("t", 0): 8}] == fake.committed_offsets


async def test_a_batch_held_too_long_does_not_hold_the_rebalance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past HAND_OVER_TIMEOUT_S the partitions go anyway (the next owner redoes the batch),
    and a warning says so."""
    monkeypatch.setattr(kafka, "HAND_OVER_TIMEOUT_S", 0.05)
    consumer, _ = one_batch_consumer()
    records = await consumer.fetch(10, 0.1)
    with capture_logs() as logs:
        await asyncio.wait_for(consumer.hand_over({0}), 1)
    assert [e["event"] for e in logs] == ["hand_over_before_batch_done"]
    await consumer.commit(records)
    with capture_logs() as logs:
        await asyncio.wait_for(consumer.hand_over({0}), 1)
    assert [] == logs, "an empty hand is handed over at once"
