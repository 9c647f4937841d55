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

from monitor.bus.base import ARTICLES, MATCHES
from monitor.bus.local import LocalBus
from monitor.models import Article, Match, MatchedArticle
from tests.hostile.test_hostile_service import Hostile
from tests.processes import eventually, service_rig
from tests.servers import rss

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


@pytest.mark.parametrize("name", list(BAD_RECORDS))
async def test_a_bad_record_on_the_bus_is_skipped_counted_and_kept(
    hostile: Hostile, name: str
) -> None:
    """Bad records written to the bus: the service stays up past the old crash, the good feed's
    alert behind them goes out exactly once, and each bad record is counted by topic and listed
    by `monitor dlq list`."""
    planted = BAD_RECORDS[name]
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
