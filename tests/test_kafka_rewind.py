"""Rewinding after a failed commit when a rebalance has just taken the partition: the race a
real broker showed under load (two dispatchers, 10,000 articles), which ended the process."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

from monitor.bus.kafka import KafkaBus, KafkaConsumer
from monitor.config import KafkaConfig


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
