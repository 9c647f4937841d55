"""Verdicts on a real Kafka (issue 35): one recorded by one process is listed by another, and
kept across a restart (the compacted topic `feedback`)."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest

from monitor.alerts.feedback import Feedback, KafkaFeedback
from monitor.alerts.verdicts import NOT_RELEVANT, RELEVANT
from monitor.bus.kafka import KafkaBus
from monitor.bus.settings import KafkaConfig
from tests.conftest import KafkaUnderTest

pytestmark = pytest.mark.kafka
ARTICLE = {"id": "a1", "title": "Wheat harvest up", "content": "grain " * 50}


async def opened(stack: AsyncExitStack, cfg: KafkaConfig) -> Feedback:
    bus = await stack.enter_async_context(KafkaBus(cfg))
    store = KafkaFeedback(bus)
    await store.start()
    stack.push_async_callback(store.stop)
    return Feedback(store)


async def test_a_verdict_is_shared_between_processes_and_kept(kafka: KafkaUnderTest) -> None:
    cfg = KafkaConfig(bootstrap_servers=kafka.bootstrap, topic_prefix=kafka.prefix(), partitions=2)
    async with AsyncExitStack() as stack:
        one, other = await opened(stack, cfg), await opened(stack, cfg)
        assert await one.record("grain", "s1", RELEVANT, ARTICLE, "ann")
        assert not await other.record("grain", "s1", RELEVANT, ARTICLE, "bob")  # seen: no copy
        assert await other.record("grain", "s1", NOT_RELEVANT, ARTICLE, "bob")
    async with AsyncExitStack() as stack:  # a restarted process reads the topic afresh
        (kept,) = await (await opened(stack, cfg)).list("grain")
        assert (NOT_RELEVANT, "bob", ARTICLE) == (kept["verdict"], kept["who"], kept["article"])
