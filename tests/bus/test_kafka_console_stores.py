"""The console's stores on a real Kafka: a silence written through one process's store is seen
by another's, and the history one dispatcher writes is read by another process."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack

import pytest

from monitor.alerts.board import RecentAlerts
from monitor.alerts.history import AlertHistory, KafkaHistoryStore
from monitor.alerts.mutes import KafkaSilences, Mutes
from monitor.bus.kafka import KafkaBus
from monitor.bus.settings import KafkaConfig
from monitor.kernel.console import Who
from monitor.kernel.models import Alert, MatchedArticle
from tests.alerts.test_dispatch import record
from tests.conftest import KafkaUnderTest

pytestmark = pytest.mark.kafka
WHO = Who(address="10.0.0.7", via="token")


async def test_mutes_and_history_are_shared_through_the_topics(kafka: KafkaUnderTest) -> None:
    cfg = KafkaConfig(bootstrap_servers=kafka.bootstrap, topic_prefix=kafka.prefix(), partitions=2)
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(KafkaBus(cfg))
        other = await stack.enter_async_context(KafkaBus(cfg))
        silences = [KafkaSilences(one), KafkaSilences(other)]
        histories = [KafkaHistoryStore(one), KafkaHistoryStore(other)]
        for store in silences:
            await store.start()
            stack.push_async_callback(store.stop)
        for kept in histories:
            await kept.start()
            stack.push_async_callback(kept.stop)
        muting, reading = Mutes(silences[0]), Mutes(silences[1])
        until = int(time.time() * 1000) + 3_600_000
        await muting.mute("quake", until, "drill", WHO)
        await reading.refresh(force=True)
        silence = reading.muted("quake")
        assert silence is not None
        assert ("drill", WHO.to_dict()) == (silence.reason, silence.who)
        await muting.unmute("quake", WHO)
        assert [] == await reading.active()

        writer = AlertHistory(histories[0])
        matched = MatchedArticle.from_bytes(record("quake", "a1").value)
        RecentAlerts(journal=writer).settled(
            Alert.for_channel(matched, "hook", None), "delivered", None, int(time.time() * 1000)
        )
        writer.shadow(matched, ["hook"])
        await writer.drain()
        read = AlertHistory(histories[1])
        entries = await read.search(watch="quake")
        assert ["sent", "shadow"] == sorted(e["state"] for e in entries)
        (sent,) = [e for e in entries if e["state"] == "sent"]
        assert {"hook": {"state": "delivered", "reason": ""}} == sent["channels"]
        seeded = RecentAlerts()
        await read.attach(seeded)  # a restarted dispatcher's page lists it
        assert ["quake"] == [a.rule_id for a in seeded.newest_first()]


async def test_a_read_cut_short_loses_nothing(kafka: KafkaUnderTest) -> None:
    """A read of a shared topic cancelled half way (the status page gives up on a slow broker
    after 3 s, and the dispatcher reads the same silences) hands nothing over and loses
    nothing: the next read returns every record from where the cut one began."""
    import asyncio

    from monitor.bus.base import MUTES
    from monitor.bus.compacted import CompactedReader

    cfg = KafkaConfig(bootstrap_servers=kafka.bootstrap, topic_prefix=kafka.prefix(), partitions=2)
    async with KafkaBus(cfg) as bus:
        await bus.publish(MUTES, [(f"w{n}", b"{}") for n in range(60)])
        reader = CompactedReader(bus, MUTES)
        await reader.start()
        try:
            consumer = reader._reader
            assert consumer is not None
            real = consumer.getmany
            calls = 0

            async def cut(*args: object, **kwargs: object) -> object:
                nonlocal calls
                calls += 1
                got = await real(*args, **kwargs)
                if calls == 1:
                    raise asyncio.CancelledError  # as wait_for cancels it, records in hand
                return got

            consumer.getmany = cut
            with pytest.raises(asyncio.CancelledError):
                await reader.read_to_end()
            consumer.getmany = real
            keys = {key for key, _ in await reader.read_to_end()}
        finally:
            await reader.stop()
    assert {f"w{n}".encode() for n in range(60)} == keys
