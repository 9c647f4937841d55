"""The bus contract: what every bus must do (the Kafka bus runs this suite too)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from monitor.bus.base import ARTICLES, Bus, Consumer, Record
from monitor.bus.kafka import KafkaBus
from monitor.bus.local import LocalBus
from monitor.bus.settings import KafkaConfig

BusFactory = Callable[[], AbstractAsyncContextManager[Bus]]
T = ARTICLES  # the contract runs on a topic every bus has


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def make_bus(request: pytest.FixtureRequest, tmp_path: Path) -> BusFactory:
    """A factory of buses over the same storage (a restart is a new bus on the same storage)."""
    if request.param == "local":
        return lambda: LocalBus(tmp_path / "bus.db", poll_interval_s=0.05)
    kafka = request.getfixturevalue("kafka")
    cfg = KafkaConfig(bootstrap_servers=kafka.bootstrap, topic_prefix=kafka.prefix(), partitions=3)
    return lambda: KafkaBus(cfg)


@pytest.fixture
async def bus(make_bus: BusFactory) -> AsyncIterator[Bus]:
    async with make_bus() as b:
        yield b


async def fetch_all(bus: Bus, topic: str, group: str, expect: int) -> list[tuple[str, bytes]]:
    """Fetch until `expect` records came (or 20 s passed), commit them, leave the group."""
    consumer = bus.consumer(topic, group)
    got = []
    for _ in range(100):
        got += await consumer.fetch(100, 0.2)
        if len(got) >= expect:
            break
    await consumer.commit(got)
    await consumer.close()
    return [(r.key, r.value) for r in got]


async def fetch_some(consumer: Consumer, count: int) -> list[Record]:
    """Fetch until at least `count` records came (a Kafka member first waits for its partitions)."""
    got: list[Record] = []
    for _ in range(100):
        got += await consumer.fetch(count - len(got), 0.2)
        if len(got) >= count:
            break
    return got


async def test_publish_then_consume(bus: Bus) -> None:
    """What is published is consumed, once per group."""
    await bus.publish(T, [("k1", b"a"), ("k2", b"b")])
    assert [("k1", b"a"), ("k2", b"b")] == sorted(await fetch_all(bus, T, "g1", 2))
    assert [("k1", b"a"), ("k2", b"b")] == sorted(await fetch_all(bus, T, "g2", 2))


async def test_commit_resumes_after_restart(make_bus: BusFactory) -> None:
    """A group resumes after its last commit in a new bus instance."""
    async with make_bus() as bus:
        await bus.publish(T, [("k", b"1"), ("k", b"2")])
        assert 2 == len(await fetch_all(bus, T, "g", 2))
        await bus.publish(T, [("k", b"3")])
    async with make_bus() as bus:
        assert [("k", b"3")] == await fetch_all(bus, T, "g", 1)


async def test_uncommitted_records_are_redelivered(make_bus: BusFactory) -> None:
    """Records fetched but not committed come again to the group's next consumer."""
    published = [("a", b"1"), ("b", b"2"), ("c", b"3")]
    async with make_bus() as bus:
        await bus.publish(T, published)
        consumer = bus.consumer(T, "g")
        (first,) = await fetch_some(consumer, 1)
        await consumer.commit([first])
        await consumer.fetch(10, 0.5)  # fetched, never committed
        await consumer.close()
    async with make_bus() as bus:
        again = sorted(await fetch_all(bus, T, "g", 2))
    assert sorted(p for p in published if p != (first.key, first.value)) == again


async def test_order_within_a_key(bus: Bus) -> None:
    """Records with one key are consumed in the order they were published."""
    await bus.publish(T, [("k", str(i).encode()) for i in range(50)])
    await bus.publish(T, [("other", b"x"), ("k", b"50")])
    values = [v for k, v in await fetch_all(bus, T, "g", 52) if k == "k"]
    assert [str(i).encode() for i in range(51)] == values


async def test_lag_counts_uncommitted(bus: Bus) -> None:
    """lag() is what the group has not committed (of the partitions it holds)."""
    await bus.publish(T, [("k", b"1"), ("k", b"2")])
    consumer = bus.consumer(T, "g")
    await consumer.commit(await fetch_some(consumer, 1))
    assert 1 == await consumer.lag()
    assert 1 == sum((await consumer.partition_lag()).values())
    await consumer.close()


async def test_fetch_waits_for_a_publish(bus: Bus) -> None:
    """An empty fetch returns nothing after its timeout, and a publish is then seen."""
    consumer = bus.consumer(T, "g")
    assert [] == await consumer.fetch(10, 0.2)
    await bus.publish(T, [("k", b"late")])
    assert [b"late"] == [r.value for r in await fetch_some(consumer, 1)]
    await consumer.close()
