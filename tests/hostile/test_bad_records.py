"""Hostile records on the bus, the service as a subprocess: each bad record is skipped, counted
and dead-lettered; the service stays up, answers /healthz, and the good alert behind the bad
records goes out, once."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from monitor.bus.base import ARTICLES, DELIVERIES, HELD, MATCHES, STORIES
from monitor.bus.kafka import KafkaBus
from monitor.bus.local import LocalBus
from monitor.kernel.models import Article, Match, MatchedArticle
from tests.bus.test_kafka_pipeline import Fleet, kafka_config
from tests.conftest import KafkaUnderTest
from tests.hostile.test_hostile_service import Hostile
from tests.support.processes import eventually, service_rig
from tests.support.servers import all_servers, rss

UP_AT_LEAST_S = 12.0  # the 100,000-deep article took the service down after 5.6 s


def _match(**article: Any) -> bytes:
    """A `matches` record of the rule `word`, its article's fields replaced by `article`."""
    good = MatchedArticle(
        match=Match(rule_id="word", article_id="planted", severity="high"),
        article=Article(id="planted", feed="good", title="alpha planted", url="http://x.test/"),
    )
    data = json.loads(good.to_bytes())
    data["article"].update(article)
    return json.dumps(data).encode()


# name -> the records planted on the bus before the start, by topic
BAD_RECORDS: dict[str, dict[str, list[bytes]]] = {
    "article-nested-100000-deep": {ARTICLES: [b"[" * 100_000 + b"]" * 100_000]},
    "match-title-5": {MATCHES: [_match(title=5)]},
    "match-url-list": {MATCHES: [_match(url=["x"])]},
    "garbage": {
        ARTICLES: [b"\x00\xff garbage", b'{"id": 5}', b"[]"],
        MATCHES: [b"{not json", b'{"match": {}, "article": []}', b"\xff\xfe"],
    },
}


@pytest.fixture
async def hostile(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hostile]:
    # Not `tmp_path`: conftest checks the records of a test's bus against docs/schemas/ after it,
    # and these are off their schema on purpose.
    tmp = tmp_path_factory.mktemp("bad-records")
    watches = "rules:\n  - {id: word, match: {any: [alpha]}}\n"
    async with service_rig(tmp, {"good": rss()}, watches, Hostile) as rig:
        yield rig


async def plant(state: Path, records: dict[str, list[bytes]]) -> None:
    """Write records to the local bus's log, as a broken or hostile producer would."""
    async with LocalBus(state / "bus.db") as bus:
        for topic, values in records.items():
            await bus.publish(topic, [(f"bad-{i}", v) for i, v in enumerate(values)])


async def dead_records(config: Path) -> list[dict[str, Any]]:
    """`monitor dlq list --json`: the open dead letters that are unreadable records."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "dlq", "list", "--json", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert 0 == proc.returncode, err.decode()
    letters = [json.loads(line) for line in out.decode().splitlines()]
    return [letter for letter in letters if letter["kind"] == "record"]


def every_bad_record() -> dict[str, list[bytes]]:
    """All the cases of BAD_RECORDS, by topic: one service run meets them all."""
    planted: dict[str, list[bytes]] = {}
    for records in BAD_RECORDS.values():
        for topic, values in records.items():
            planted.setdefault(topic, []).extend(values)
    return planted


async def test_bad_records_on_the_bus_are_skipped_counted_and_kept(hostile: Hostile) -> None:
    """Every case of BAD_RECORDS written to the bus: the service stays up past the old crash,
    the good feed's alert behind them goes out exactly once, and each bad record is counted by
    topic and listed by `monitor dlq list`."""
    planted = every_bad_record()
    started = time.monotonic()
    await hostile.monitor.start()
    await hostile.until_ready()
    await plant(hostile.tmp / "state", planted)
    hostile.feeds.feeds["good"] = rss("alpha one")
    await hostile.until_alerted("word", "alpha one")
    for topic, values in planted.items():
        labels = {"topic": topic}

        async def counted(labels: dict[str, str] = labels, n: int = len(values)) -> bool:
            return await hostile.monitor.metric("monitor_bad_records_total", labels) == n

        await eventually(counted, 20, describe=lambda: hostile.monitor.stderr()[-3000:])
    while time.monotonic() - started < UP_AT_LEAST_S:
        await hostile.assert_healthy()
        await asyncio.sleep(1)
    await hostile.assert_healthy()
    assert [("word", "alpha one")] == hostile.alerted()
    dead = await dead_records(hostile.monitor.config)
    assert sum(len(v) for v in planted.values()) == len(dead), dead
    assert all(d["channel"] == "-" and "bad " in d["reason"] for d in dead), dead
    assert "Traceback" not in hostile.monitor.stderr()


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
async def kafka_fleet(
    tmp_path_factory: pytest.TempPathFactory, kafka: KafkaUnderTest
) -> AsyncIterator[Fleet]:
    # Not `tmp_path`: conftest would check these off-schema records against docs/schemas/.
    tmp = tmp_path_factory.mktemp("bad-records-kafka")
    async with all_servers() as s:
        fleet = Fleet(
            tmp, kafka.bootstrap, kafka.prefix(), s.feeds, s.receiver, s.mailbox, s.smtp_port
        )
        try:
            yield fleet
        finally:
            for proc in fleet.processes:
                await proc.kill()


@pytest.mark.kafka
@pytest.mark.timeout(180)
async def test_bad_records_on_kafka_are_skipped_counted_and_kept(kafka_fleet: Fleet) -> None:
    """Bad records on every topic the service reads from Kafka (articles and matches; stories,
    deliveries and held, read back at the start), and a key that is not UTF-8: the service
    stays up, the good alert goes out once, the bad records are counted and the consumed ones
    listed by `monitor dlq list`."""
    fleet = kafka_fleet
    fleet.notify = "[ops-hook]"
    fleet.rules("rules:\n  - {id: word, match: {any: [alpha]}}\n")
    fleet.feeds.feeds["world"] = rss()
    async with KafkaBus(kafka_config(fleet)) as bus:  # creates the topics
        await bus.publish(ARTICLES, [("deep", DEEP), ("garbage", b"\x00\xff")])
        await bus.publish(MATCHES, [("word", _match(title=5)), ("word", _match(url=["x"]))])
        await bus.publish(STORIES, [("word\0planted", DEEP)])
        await bus.publish(DELIVERIES, [("planted", b'{"status": 5}')])
        await bus.publish(HELD, [("planted", b'{"channel": [], "item": 5}')])
    producer = AIOKafkaProducer(bootstrap_servers=fleet.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(fleet.prefix + ARTICLES, b"{}", key=b"\xff\xfe")
    finally:
        await producer.stop()
    started = time.monotonic()
    proc = fleet.process("all")
    await proc.start()
    await fleet.ready(proc)
    fleet.feeds.feeds["world"] = rss("alpha one")
    rig = Hostile(fleet.tmp, fleet.feeds, fleet.receiver, proc)
    await rig.until_alerted("word", "alpha one", timeout_s=60)
    expected = {ARTICLES: 3, MATCHES: 2, STORIES: 1, DELIVERIES: 1, HELD: 1}
    for topic, n in expected.items():

        async def counted(topic: str = topic, n: int = n) -> bool:
            return await proc.metric("monitor_bad_records_total", {"topic": topic}) == n

        await eventually(counted, 30, describe=lambda: proc.stderr()[-3000:])
    while time.monotonic() - started < UP_AT_LEAST_S:
        await rig.assert_healthy()
        await asyncio.sleep(1)
    await rig.assert_healthy()
    assert [("word", "alpha one")] == rig.alerted()
    dead = await dead_records(proc.config)
    assert expected[ARTICLES] + expected[MATCHES] == len(dead), dead
    assert "Traceback" not in proc.stderr()
