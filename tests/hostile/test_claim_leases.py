"""Attacks on the claims that make a send at most once (`monitor.alerts.claims`).

- A receiver answering 429 with a Retry-After longer than the claim's lease: the holder waits
  it out, and a second sender that comes while it waits must not take the claim and send the
  alert a second time (the holder renews its lease while it sends). On both stores.
- Bad records on the Kafka claims topic (a field missing or of the wrong type, a key that is
  not UTF-8, nesting 100,000 deep): `monitor dlq retry` still starts, claims and sends each
  dead letter once, where one such record used to stop it for the topic's day of retention.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from monitor.alerts import deadletters
from monitor.alerts.channels import Tools, make_sender
from monitor.alerts.channels.http import HookSettings
from monitor.alerts.claims import Claims, KafkaClaims, LocalClaims
from monitor.alerts.deadletters import DeadLetter, Retrier, open_letters
from monitor.alerts.settings import DeliveryConfig
from monitor.bus.base import CLAIMS, DLQ
from monitor.bus.kafka import KafkaBus
from monitor.bus.local import LocalBus
from monitor.bus.settings import KafkaConfig
from monitor.kernel.metrics import make_metrics
from monitor.store.state import StateStore
from tests.conftest import KafkaUnderTest
from tests.hostile.test_concurrent_sends import LETTERS, SlowReceiver, dead_letters, retry_all
from tests.support.processes import write_rules
from tests.support.servers import serve

LEASE_S = 1.0  # the lease, shortened for the test
ASKED_WAIT_S = 3  # the receiver's Retry-After: three leases
SECOND_AFTER_S = 1.8  # when the second sender comes: the first one's lease is long over


class RateLimiter:
    """A webhook receiver: the first POST gets 429 with `Retry-After`, the others 200."""

    def __init__(self) -> None:
        self.answers: list[int] = []

    def app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            await request.read()
            if not self.answers:
                self.answers.append(429)
                return web.Response(status=429, headers={"Retry-After": str(ASKED_WAIT_S)})
            self.answers.append(200)
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app


async def one_letter(bus: LocalBus) -> DeadLetter:
    """A dead alert, as `monitor dlq` reads it."""
    await bus.publish(DLQ, dead_letters()[:1])
    (letter,) = open_letters(await bus.consumer(DLQ, "test").fetch(10, 0.05), [])
    return letter


def local_claims(tmp_path: Path) -> Callable[[], AbstractAsyncContextManager[Claims]]:
    @asynccontextmanager
    async def opened() -> AsyncIterator[Claims]:
        async with StateStore(tmp_path / "claims") as state:
            yield LocalClaims(state)

    (tmp_path / "claims").mkdir()
    return opened


async def a_wait_longer_than_the_lease(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    claims_of: Callable[[], AbstractAsyncContextManager[Claims]],
) -> None:
    monkeypatch.setattr(deadletters, "lease_s", lambda _: LEASE_S)
    receiver = RateLimiter()
    delivery = DeliveryConfig(attempts=2, backoff_s=0.1)
    async with (
        serve(receiver.app()) as base,
        LocalBus(tmp_path / "bus.db") as bus,
        StateStore(tmp_path) as state,
        aiohttp.ClientSession() as session,
        claims_of() as first_claims,
        claims_of() as second_claims,
    ):
        tools = Tools(session, ThreadPoolExecutor(max_workers=1))
        hook = HookSettings(name="hook", kind="webhook", url=base + "/hook", timeout_s=5)
        senders = {"hook": make_sender(hook, tools)}

        def retrier(claims: Claims) -> Retrier:
            return Retrier(senders=senders, settlements=state, claims=claims, bus=bus,
                           metrics=make_metrics(), delivery=delivery)  # fmt: skip

        letter = await one_letter(bus)
        first = asyncio.create_task(retrier(first_claims).retry(letter))
        await asyncio.sleep(SECOND_AFTER_S)
        assert [429] == receiver.answers  # the first sender waits out the Retry-After
        second = await retrier(second_claims).retry(letter)
        assert "sent" == await first
        assert "already being sent" == second
        assert [429, 200] == receiver.answers  # delivered once


async def test_a_retry_after_longer_than_the_lease_keeps_the_claim_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Local bus: the holder renews its state.db row while it waits."""
    await a_wait_longer_than_the_lease(tmp_path, monkeypatch, local_claims(tmp_path))


@pytest.mark.kafka
async def test_a_retry_after_longer_than_the_lease_keeps_the_claim_on_kafka(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kafka: KafkaUnderTest
) -> None:
    """Kafka bus: the holder publishes renewals on the claims topic while it waits."""
    config = KafkaConfig(bootstrap_servers=kafka.bootstrap, topic_prefix=kafka.prefix())

    @asynccontextmanager
    async def opened() -> AsyncIterator[Claims]:
        async with KafkaBus(config) as bus:
            claims = KafkaClaims(bus)
            await claims.start()
            try:
                yield claims
            finally:
                await claims.stop()

    await a_wait_longer_than_the_lease(tmp_path, monkeypatch, opened)


BAD_CLAIMS = [
    b'{"owner": "evil", "until": 9999999999999}',  # no `at`
    b'{"owner": "evil", "at": "1e3", "until": 9999999999999}',
    b'{"owner": "evil", "at": 1, "until": 1e300}',
    b'{"owner": 7, "at": 1, "until": 9999999999999}',
    b"[" * 100_000 + b"]" * 100_000,
    b"\xff\xfe not UTF-8",
]


@pytest.mark.kafka
async def test_bad_claim_records_do_not_stop_a_dlq_retry(
    tmp_path: Path, kafka: KafkaUnderTest
) -> None:
    """Bad claim records of every dead letter's key, and one with a key that is not UTF-8,
    wait on the claims topic: `monitor dlq retry --all` starts, and sends each letter once."""
    prefix = kafka.prefix()
    cfg = KafkaConfig(bootstrap_servers=kafka.bootstrap, topic_prefix=prefix, partitions=4)
    letters = dead_letters()
    async with KafkaBus(cfg) as bus:
        await bus.publish(DLQ, letters)
        await bus.publish(CLAIMS, [(key, bad) for key, _ in letters for bad in BAD_CLAIMS])
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        good = json.dumps({"owner": "evil", "at": 1, "until": 9999999999999}).encode()
        await producer.send_and_wait(prefix + CLAIMS, good, key=b"\xff\xfe")
    finally:
        await producer.stop()
    receiver = SlowReceiver()
    async with serve(receiver.app()) as base:
        write_rules(tmp_path, {}, "rules:\n  - {id: floods, match: {any: [flood]}}\n")
        config = tmp_path / "monitor.yaml"
        config.write_text(
            "rules_dir: rules\nstate_dir: state\n"
            f'channels:\n  hook: {{kind: webhook, url: "{base}/hook", timeout: 5s}}\n'
            "delivery: {attempts: 2, backoff: 0.1}\n"
            f'bus: {{kind: kafka, bootstrap_servers: "{kafka.bootstrap}",'
            f' topic_prefix: "{prefix}", partitions: 4}}\n'
        )
        code, out, err = await retry_all(config)
    assert 0 == code, err
    assert LETTERS == out.count(": sent"), out
    assert sorted(key for key, _ in letters) == sorted(receiver.ids)
    assert "bad_claim_record" in err
