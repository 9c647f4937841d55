"""Two senders of what must go out at most once, at the same moment: two `monitor dlq retry
--all` (the real CLI, two processes) over the same ten dead letters, against a receiver that
takes half a second to answer. Each alert arrives exactly once: one process claims it and
sends it, the other says it is already being sent (or already delivered). On both buses."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from monitor.bus.base import DLQ
from monitor.bus.kafka import KafkaBus
from monitor.bus.local import LocalBus
from monitor.bus.settings import KafkaConfig
from monitor.kernel.models import Alert, Article, Match, MatchedArticle
from tests.conftest import KafkaUnderTest
from tests.support.processes import write_rules
from tests.support.servers import serve

LETTERS = 10
ANSWER_AFTER_S = 1.0  # ten letters one after the other: 10 s, so the two overlap


class SlowReceiver:
    """A webhook receiver that answers 200 after ANSWER_AFTER_S, recording each alert id."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            await request.read()
            self.ids.append(request.headers.get("X-Monitor-Alert-Id", "?"))
            await asyncio.sleep(ANSWER_AFTER_S)
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app


def dead_letters() -> list[tuple[str, bytes]]:
    """Ten alerts that failed, as the dispatcher dead-letters them."""
    letters = []
    for i in range(LETTERS):
        a = Article(id=f"art{i}", feed="wire", url=f"https://wire.example/{i}", title=f"Flood {i}")
        m = MatchedArticle(
            match=Match(rule_id="floods", article_id=a.id, severity="high"), article=a
        )
        alert = Alert.for_channel(m, "hook", None)
        body = {
            "alert": alert.to_dict(),
            "reason": "HTTP 503",
            "attempts": 2,
            "failed_at": datetime.now(UTC).isoformat(),
        }
        letters.append((alert.id, json.dumps(body).encode()))
    return letters


async def retry_all(config: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "dlq",
        "retry",
        "--all",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def two_retries_at_once(tmp_path: Path, bus_yaml: str, bus: LocalBus | KafkaBus) -> None:
    receiver = SlowReceiver()
    async with serve(receiver.app()) as base:
        write_rules(tmp_path, {}, "rules:\n  - {id: floods, match: {any: [flood]}}\n")
        config = tmp_path / "monitor.yaml"
        config.write_text(
            "rules_dir: rules\nstate_dir: state\n"
            f'channels:\n  hook: {{kind: webhook, url: "{base}/hook", timeout: 5s}}\n'
            "delivery: {attempts: 2, backoff: 0.1}\n" + bus_yaml
        )
        letters = dead_letters()
        async with bus:
            await bus.publish(DLQ, letters)
        first, second = await asyncio.gather(retry_all(config), retry_all(config))
        for code, _, err in (first, second):
            assert 0 == code, err
        said = first[1] + second[1]
        assert Counter({letter_id: 1 for letter_id, _ in letters}) == Counter(receiver.ids), said
        assert LETTERS == said.count(": sent"), said
        # A letter the first had closed before the second read the DLQ is not the second's to
        # mention (a busy machine starts one process seconds after the other): each letter both
        # saw is sent by one and reported already sent by the other, and they saw some together.
        told = [_results(first[1]), _results(second[1])]
        both = told[0].keys() & told[1].keys()
        assert both, said
        for letter_id in both:
            results = sorted(told[0][letter_id] + told[1][letter_id])
            assert results[0] in ("already being sent", "already delivered"), said
            assert "sent" == results[1], said
        for letter_id in told[0].keys() ^ told[1].keys():
            assert ["sent"] == (told[0].get(letter_id) or told[1][letter_id]), said


def _results(out: str) -> dict[str, list[str]]:
    """What one `monitor dlq retry` said of each letter: `ID CHANNEL: RESULT` lines."""
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        head, sep, result = line.partition(": ")
        if sep and " " in head:
            found.setdefault(head.split(" ", 1)[0], []).append(result)
    return found


async def test_two_dlq_retries_at_once_send_each_alert_once_on_the_local_bus(
    tmp_path: Path,
) -> None:
    """Local bus: the claim is a row of state.db, taken in one transaction."""
    (tmp_path / "state").mkdir()
    await two_retries_at_once(tmp_path, "", LocalBus(tmp_path / "state" / "bus.db"))


@pytest.mark.kafka
async def test_two_dlq_retries_at_once_send_each_alert_once_on_kafka(
    tmp_path: Path, kafka: KafkaUnderTest
) -> None:
    """Kafka bus: the claim is the first live claim record of the key on the claims topic."""
    prefix = kafka.prefix()
    bus_yaml = (
        f'bus: {{kind: kafka, bootstrap_servers: "{kafka.bootstrap}", topic_prefix: "{prefix}",'
        " partitions: 4}\n"
    )
    cfg = KafkaConfig(bootstrap_servers=kafka.bootstrap, topic_prefix=prefix, partitions=4)
    await two_retries_at_once(tmp_path, bus_yaml, KafkaBus(cfg))
