"""The bus contract: what every bus must do (the Kafka bus runs this suite too)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from monitor.bus.base import Bus
from monitor.bus.local import LocalBus

BusFactory = Callable[[], AbstractAsyncContextManager[Bus]]


@pytest.fixture
def make_bus(tmp_path: Path) -> BusFactory:
    """A factory of buses over the same storage (a restart is a new bus on the same file)."""
    return lambda: LocalBus(tmp_path / "bus.db", poll_interval_s=0.05)


@pytest.fixture
async def bus(make_bus: BusFactory) -> AsyncIterator[Bus]:
    async with make_bus() as b:
        yield b


async def fetch_all(bus: Bus, topic: str, group: str, expect: int) -> list[tuple[str, bytes]]:
    consumer = bus.consumer(topic, group)
    got = []
    for _ in range(50):
        got += await consumer.fetch(100, 0.2)
        if len(got) >= expect:
            break
    await consumer.commit(got)
    await consumer.close()
    return [(r.key, r.value) for r in got]


async def test_publish_then_consume(bus: Bus) -> None:
    """What is published is consumed, once per group."""
    await bus.publish("t", [("k1", b"a"), ("k2", b"b")])
    assert [("k1", b"a"), ("k2", b"b")] == await fetch_all(bus, "t", "g1", 2)
    assert [("k1", b"a"), ("k2", b"b")] == await fetch_all(bus, "t", "g2", 2)


async def test_commit_resumes_after_restart(make_bus: BusFactory) -> None:
    """A group resumes after its last commit in a new bus instance."""
    async with make_bus() as bus:
        await bus.publish("t", [("k", b"1"), ("k", b"2")])
        assert 2 == len(await fetch_all(bus, "t", "g", 2))
        await bus.publish("t", [("k", b"3")])
    async with make_bus() as bus:
        assert [("k", b"3")] == await fetch_all(bus, "t", "g", 1)


async def test_uncommitted_records_are_redelivered(make_bus: BusFactory) -> None:
    """Records fetched but not committed come again to the group's next consumer."""
    async with make_bus() as bus:
        await bus.publish("t", [("a", b"1"), ("b", b"2"), ("c", b"3")])
        consumer = bus.consumer("t", "g")
        first = await consumer.fetch(1, 1.0)
        await consumer.commit(first)
        await consumer.fetch(10, 0.5)  # fetched, never committed
        await consumer.close()
    async with make_bus() as bus:
        assert [("b", b"2"), ("c", b"3")] == await fetch_all(bus, "t", "g", 2)


async def test_order_within_a_key(bus: Bus) -> None:
    """Records with one key are consumed in the order they were published."""
    await bus.publish("t", [("k", str(i).encode()) for i in range(50)])
    await bus.publish("t", [("other", b"x"), ("k", b"50")])
    values = [v for k, v in await fetch_all(bus, "t", "g", 52) if k == "k"]
    assert [str(i).encode() for i in range(51)] == values


async def test_lag_counts_uncommitted(bus: Bus) -> None:
    """lag() is what the group has not committed."""
    await bus.publish("t", [("k", b"1"), ("k", b"2")])
    consumer = bus.consumer("t", "g")
    assert 2 == await consumer.lag()
    await consumer.commit(await consumer.fetch(1, 1.0))
    assert 1 == await consumer.lag()
    await consumer.close()


async def test_fetch_waits_for_a_publish(bus: Bus) -> None:
    """An empty fetch returns nothing after its timeout, and a publish is then seen."""
    consumer = bus.consumer("t", "g")
    assert [] == await consumer.fetch(10, 0.2)
    await bus.publish("t", [("k", b"late")])
    assert [b"late"] == [r.value for r in await consumer.fetch(10, 2.0)]
    await consumer.close()
