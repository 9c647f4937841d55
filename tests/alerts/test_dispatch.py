"""The dispatcher with real receivers: an HTTP webhook server and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.alerts import flusher as flusher_module
from monitor.alerts.channels import Sender, Tools, make_sender
from monitor.alerts.channels.email import EmailSettings
from monitor.alerts.channels.http import HookSettings
from monitor.alerts.claims import LocalClaims
from monitor.alerts.deadletters import Retrier, open_letters
from monitor.alerts.digest import Digest
from monitor.alerts.dispatch import Dispatcher, Interrupted
from monitor.alerts.flusher import Flusher
from monitor.alerts.held import HeldStore
from monitor.alerts.settings import DeliveryConfig
from monitor.bus.base import DLQ, MATCHES, Record
from monitor.bus.local import LocalBus
from monitor.kernel.errors import DeliveryError
from monitor.kernel.metrics import Metrics, make_metrics
from monitor.kernel.models import Alert, Evidence, Match, MatchedArticle
from monitor.matching.spec import Throttle
from monitor.store.state import StateStore
from monitor.stories.desk import StoryDesk
from monitor.stories.store import LocalStoryLog
from tests.support.helpers import article
from tests.support.servers import Receiver, serve, smtp_server

SECRET = "s3cret-value"  # noqa: S105 - a test secret
FAST = DeliveryConfig(attempts=3, backoff_s=0.05, max_backoff_s=0.1)
AT_ONCE = replace(FAST, give_up_after_s=0)  # dead-letter after the last attempt, not wait


@dataclass
class Rig:
    receiver: Receiver
    bus: LocalBus
    state: StateStore
    metrics: Metrics
    session: aiohttp.ClientSession
    smtp_port: int
    mailbox: object
    stop: asyncio.Event

    def dispatcher(
        self,
        notify: tuple[str, ...] = ("hook",),
        throttle: Throttle | None = None,
        delivery: DeliveryConfig = FAST,
        window_s: float = 48 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> Dispatcher:
        hook = HookSettings(
            name="hook", kind="webhook", url=self.receiver.url("/hook"), secret=SECRET, timeout_s=2
        )
        slack = HookSettings(
            name="slack", kind="slack", url=self.receiver.url("/slack"), timeout_s=2
        )
        mail = EmailSettings(
            name="mail",
            kind="email",
            host="127.0.0.1",
            port=self.smtp_port,
            security="none",
            sender="monitor@example.org",
            to=("desk@example.org",),
            timeout_s=5,
        )
        tools = Tools(self.session, ThreadPoolExecutor(max_workers=1))
        senders: dict[str, Sender] = {c.name: make_sender(c, tools) for c in (hook, slack, mail)}
        return Dispatcher(
            senders=senders,
            default_notify=notify,
            delivery=delivery,
            settlements=self.state,
            bus=self.bus,
            metrics=self.metrics,
            throttle_of=lambda _: throttle,
            stop=self.stop,
            stories=StoryDesk(LocalStoryLog(self.state), window_s=window_s, metrics=self.metrics),
            held=HeldStore(self.state),
            clock=clock,
        )

    def flusher(
        self,
        dispatcher: Dispatcher,
        clock: Callable[[], float],
        delivery: DeliveryConfig = FAST,
    ) -> Flusher:
        return Flusher(
            held=dispatcher.held,
            senders=dispatcher.senders,
            settlements=self.state,
            bus=self.bus,
            metrics=self.metrics,
            delivery=delivery,
            stories=dispatcher.stories,
            clock=clock,
            stop=self.stop,
            breakers=dispatcher.breakers,  # as the service shares them
        )

    def alerts(self, channel: str, result: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "monitor_alerts_total", {"channel": channel, "result": result}
        )
        return value or 0.0

    async def dlq(self) -> list[dict[str, object]]:
        consumer = self.bus.consumer(DLQ, "test")
        return [json.loads(r.value) for r in await consumer.fetch(100, 0.05)]


def record(
    rule: str = "r1", article_id: str = "a1", notify: tuple[str, ...] = (), offset: int = 1
) -> Record:
    a = article(
        id=article_id,
        feed="world",
        url=f"https://example.org/{article_id}",
        title="CIS ministers meet &lt;!channel&gt;",
    )
    evidence = Evidence(
        kind="term", value="CIS", field="title", text="CIS", snippet="CIS ministers", start=0, end=3
    )
    m = Match(
        rule_id=rule, article_id=article_id, severity="high", notify=notify, evidence=(evidence,)
    )
    value = MatchedArticle(match=m, article=a).to_bytes()
    return Record(MATCHES, 0, offset, f"{rule}:{article_id}", value, 0)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    receiver = Receiver()
    async with (
        serve(receiver.app()) as base,
        smtp_server() as (port, box),
        LocalBus(tmp_path / "bus.db") as bus,
        StateStore(tmp_path) as state,
        aiohttp.ClientSession() as session,
    ):
        receiver.base = base
        yield Rig(receiver, bus, state, make_metrics(), session, port, box, asyncio.Event())


async def test_webhook_is_signed_and_sent_once(rig: Rig) -> None:
    """The generic webhook gets the alert once, with its id and a valid HMAC signature."""
    dispatcher = rig.dispatcher()
    await dispatcher.handle([record()])
    await dispatcher.handle([record()])  # redelivered: settled already
    ((headers, body),) = rig.receiver.received
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert expected == headers["X-Monitor-Signature"]
    payload = json.loads(body)
    assert payload["alert_id"] == headers["X-Monitor-Alert-Id"]
    assert "r1" == payload["rule"]["id"]
    assert 1.0 == rig.alerts("hook", "delivered")
    assert 1.0 == rig.alerts("hook", "duplicate")


async def test_duplicates_within_one_batch_send_once(rig: Rig) -> None:
    """The same match twice in one batch gives one alert."""
    await rig.dispatcher().handle([record(offset=1), record(offset=2)])
    assert 1 == len(rig.receiver.received)


async def test_settled_alerts_survive_a_restart(rig: Rig, tmp_path: Path) -> None:
    """A new dispatcher on the same state does not send an alert again."""
    await rig.dispatcher().handle([record()])
    await rig.state.stop()
    async with StateStore(tmp_path) as state:
        rig.state = state
        await rig.dispatcher().handle([record()])
    assert 1 == len(rig.receiver.received)


async def test_fails_twice_then_succeeds(rig: Rig) -> None:
    """A receiver that fails twice (500, 429) then succeeds gets the alert once."""
    rig.receiver.plan = [500, 429]
    await rig.dispatcher().handle([record()])
    statuses_seen = len(rig.receiver.received)
    assert 3 == statuses_seen
    assert 1.0 == rig.alerts("hook", "delivered")
    assert 2.0 == rig.alerts("hook", "retried")
    assert [] == await rig.dlq()


async def test_always_failing_goes_to_the_dlq(rig: Rig) -> None:
    """With `give_up_after: 0`, after the last attempt the alert goes to alerts.dlq with the
    reason, for good (by default it waits for the channel: tests/alerts/test_outages.py)."""
    rig.receiver.always = 503
    dispatcher = rig.dispatcher(delivery=AT_ONCE)
    await dispatcher.handle([record()])
    (dead,) = await rig.dlq()
    assert "HTTP 503" in str(dead["reason"])
    assert 3 == dead["attempts"]
    assert 3 == len(rig.receiver.received)
    assert 1.0 == rig.alerts("hook", "dead")
    assert 1.0 == rig.metrics.registry.get_sample_value("monitor_dlq_size", {"channel": "hook"})
    await dispatcher.handle([record()])
    assert 3 == len(rig.receiver.received)


async def test_client_error_is_not_retried(rig: Rig) -> None:
    """A 400 is final: one attempt, then the DLQ."""
    rig.receiver.always = 400
    await rig.dispatcher().handle([record()])
    assert 1 == len(rig.receiver.received)
    (dead,) = await rig.dlq()
    assert "HTTP 400" in str(dead["reason"])


async def test_unreachable_receiver_goes_to_the_dlq_without_leaking_the_url(rig: Rig) -> None:
    """Connection errors are retried, then dead-lettered (`give_up_after: 0`); the reason names
    the host and port, the reason in words and the errno, but not the URL (a secret for chat
    webhooks)."""
    rig.receiver.base = "http://127.0.0.1:9"  # the discard port: nothing listens
    await rig.dispatcher(delivery=AT_ONCE).handle([record()])
    (dead,) = await rig.dlq()
    assert (
        "connection failed: cannot connect to 127.0.0.1:9 (connection refused, errno 111)"
        == dead["reason"]
    )
    assert "/hook" not in str(dead["reason"])


async def test_shutdown_during_backoff_leaves_the_alert_unsettled(rig: Rig) -> None:
    """A stop during retries interrupts the batch; the alert is sent on the next start."""
    rig.receiver.always = 500
    slow = DeliveryConfig(attempts=5, backoff_s=30, max_backoff_s=30)
    task = asyncio.create_task(rig.dispatcher(delivery=slow).handle([record()]))
    await rig.receiver.failed.wait()
    rig.stop.set()
    with pytest.raises(Interrupted):
        await task
    assert await rig.state.settled_status(record_alert_id()) is None
    rig.receiver.always = None
    rig.stop.clear()
    await rig.dispatcher().handle([record()])
    assert 1.0 == rig.alerts("hook", "delivered")


class CrashingSender:
    """A sender with a bug: it raises MemoryError for one article, delivers the others."""

    def __init__(self, inner: Sender, article_id: str) -> None:
        self.name, self.inner, self.article_id = inner.name, inner, article_id

    async def send(self, alert: Alert) -> None:
        if alert.article.id == self.article_id:
            raise MemoryError
        await self.inner.send(alert)

    async def send_digest(self, digest: Digest) -> None:
        await self.inner.send_digest(digest)


async def test_a_sender_crash_dead_letters_its_alert_and_redoes_no_batch(rig: Rig) -> None:
    """An exception that is no DeliveryError (a MemoryError of a template) used to escape
    `handle`, the batch was redone and the others of it could go again: now the alert is
    dead-lettered with the exception's name and each other alert of the batch sent once."""
    dispatcher = rig.dispatcher()
    dispatcher.senders = {"hook": CrashingSender(dispatcher.senders["hook"], "a2")}
    batch = [record(article_id="a1", offset=1), record(article_id="a2", offset=2)]
    await dispatcher.handle(batch)
    await dispatcher.handle(batch)  # redelivered all the same
    assert 1 == len(rig.receiver.received)
    assert "a1" == json.loads(rig.receiver.received[0][1])["article"]["id"]
    (dead,) = await rig.dlq()
    assert "MemoryError" in str(dead["reason"])
    assert 1 == dead["attempts"]
    assert 1.0 == rig.alerts("hook", "dead")


async def test_a_flusher_keeps_its_claim_while_a_send_outlasts_the_lease(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver holds the summary's POST for three leases; a second flusher that comes
    when the first one's lease is long over finds the items still claimed (the first renews
    them while it sends) and sends nothing."""
    monkeypatch.setattr(flusher_module, "lease_s", lambda _: 0.3)
    now = [1_000_000.0]
    dispatcher = rig.dispatcher(throttle=Throttle(max=1, per_s=60), clock=lambda: now[0])
    await dispatcher.handle([record(article_id=f"a{i}", offset=i) for i in range(3)])
    first, second = (rig.flusher(dispatcher, lambda: now[0]) for _ in range(2))
    first.claims, second.claims = LocalClaims(rig.state), LocalClaims(rig.state)
    now[0] += 61
    rig.receiver.hold = asyncio.Event()
    sending = asyncio.create_task(first.flush_due())
    await asyncio.sleep(0.9)
    later = asyncio.create_task(second.flush_due())
    await asyncio.sleep(0.2)
    rig.receiver.hold.set()
    assert (1, 0) == (await sending, await later)
    assert 2 == len(rig.receiver.received)  # the first alert, then one summary


class SendsThenCrashes:
    """A sender whose digests go out, and then it raises (a bug after the POST succeeded)."""

    def __init__(self, inner: Sender) -> None:
        self.name, self.inner = inner.name, inner

    async def send(self, alert: Alert) -> None:
        await self.inner.send(alert)

    async def send_digest(self, digest: Digest) -> None:
        await self.inner.send_digest(digest)
        raise RuntimeError("bug after the POST")


async def test_a_digest_sender_crash_dead_letters_the_digest_and_sends_it_once(
    rig: Rig,
) -> None:
    """A digest sender raising what is no DeliveryError used to escape to the flusher's loop,
    which sent the digest again every second: now the digest is dead-lettered with the
    exception's name, its items settled dead, and it is not sent again."""
    now = [1_000_000.0]
    dispatcher = rig.dispatcher(throttle=Throttle(max=1, per_s=60), clock=lambda: now[0])
    await dispatcher.handle([record(article_id=f"a{i}", offset=i) for i in range(3)])
    flusher = rig.flusher(dispatcher, lambda: now[0])
    flusher.claims = LocalClaims(rig.state)
    flusher.senders = {"hook": SendsThenCrashes(dispatcher.senders["hook"])}
    now[0] += 61
    running = asyncio.create_task(flusher.run())
    await asyncio.sleep(2.5)  # the loop flushes every second
    rig.stop.set()
    await running
    assert 2 == len(rig.receiver.received)  # the first alert, then one summary of two
    (dead,) = await rig.dlq()
    assert "RuntimeError: bug after the POST" == dead["reason"]
    digest: Any = dead["digest"]
    for item in digest["rules"][0]["items"]:
        assert "dead" == await rig.state.settled_status(item["alert_id"])
    assert [] == await dispatcher.held.due(int(now[0] * 1000))
    assert 2.0 == rig.alerts("hook", "dead")


def record_alert_id() -> str:
    from monitor.kernel.models import alert_id

    return alert_id("r1", "a1", "hook")


async def test_email_through_real_smtp(rig: Rig) -> None:
    """The email channel delivers a plain and HTML message through a real SMTP server."""
    await rig.dispatcher(notify=("mail",)).handle([record()])
    box = rig.mailbox
    (msg,) = box.messages  # type: ignore[attr-defined]
    assert "[monitor] r1: CIS ministers meet <!channel>" == msg["Subject"]
    assert ("monitor@example.org", ["desk@example.org"]) == box.envelopes[0]  # type: ignore[attr-defined]
    assert "CIS in title" in msg.get_body(("plain",)).get_content()


async def test_rule_notify_overrides_defaults_and_slack_is_escaped(rig: Rig) -> None:
    """A rule's notify list replaces the defaults; Slack text is escaped."""
    await rig.dispatcher(notify=("hook",)).handle([record(notify=("slack",))])
    ((headers, body),) = rig.receiver.received
    assert "X-Monitor-Signature" not in headers
    assert "<!channel>" not in body.decode()
    assert "&lt;!channel&gt;" in json.loads(body)["text"]


async def test_unknown_channel_goes_to_the_dlq(rig: Rig) -> None:
    """A match naming a channel that is not configured is dead-lettered, not dropped."""
    await rig.dispatcher().handle([record(notify=("nowhere",))])
    (dead,) = await rig.dlq()
    assert "no channel named 'nowhere'" in str(dead["reason"])


async def test_throttle_overflow_is_summarized_at_the_end_of_the_period(rig: Rig) -> None:
    """With throttle max 2 per hour, alerts 3 to 5 are held, not dropped; when the hour that
    filled the throttle ends, one summary lists them ("and 3 more matches for rule r1")."""
    now = [1_000_000.0]
    dispatcher = rig.dispatcher(throttle=Throttle(max=2, per_s=3600), clock=lambda: now[0])
    flusher = rig.flusher(dispatcher, lambda: now[0])
    await dispatcher.handle([record(article_id=f"a{i}", offset=i) for i in range(5)])
    assert 2 == len(rig.receiver.received)
    assert 3.0 == rig.alerts("hook", "held")
    now[0] += 3599
    assert 0 == await flusher.flush_due()
    now[0] += 2
    assert 1 == await flusher.flush_due()
    assert 0 == await flusher.flush_due()  # sent once
    headers, body = rig.receiver.received[2]
    summary = json.loads(body)
    assert "summary" == summary["event"]
    assert "and 3 more matches for rule r1" == summary["text"]
    assert ["a2", "a3", "a4"] == [i["article"]["id"] for i in summary["rules"][0]["items"]]
    assert summary["id"] == headers["X-Monitor-Digest-Id"]
    assert 3.0 == rig.alerts("hook", "summarized")
    await dispatcher.handle([record(article_id="a3", offset=3)])  # redelivered: settled
    assert 3 == len(rig.receiver.received)


async def test_a_summary_that_always_fails_is_dead_lettered_with_its_items(rig: Rig) -> None:
    """A summary whose receiver answers 500 every time goes to alerts.dlq with its items and the
    reason (`give_up_after: 0`); its items are settled dead and no longer held."""
    now = [1_000_000.0]
    dispatcher = rig.dispatcher(throttle=Throttle(max=1, per_s=60), clock=lambda: now[0])
    flusher = rig.flusher(dispatcher, lambda: now[0], AT_ONCE)
    await dispatcher.handle([record(article_id=f"a{i}", offset=i) for i in range(3)])
    rig.receiver.always = 500
    now[0] += 61
    assert 0 == await flusher.flush_due()
    (dead,) = await rig.dlq()
    digest: Any = dead["digest"]
    assert "HTTP 500" in str(dead["reason"])
    assert "summary" == digest["event"]
    assert 2 == digest["count"]
    assert [] == await dispatcher.held.due(int(now[0] * 1000))
    item = digest["rules"][0]["items"][0]["alert_id"]
    assert "dead" == await rig.state.settled_status(item)
    assert 2.0 == rig.alerts("hook", "dead")


async def test_bad_record_is_dead_lettered(rig: Rig) -> None:
    """A record that cannot be decoded is counted and kept in the DLQ, not lost."""
    await rig.dispatcher().handle([Record(MATCHES, 0, 1, "k", b"{not json", 0)])
    (dead,) = await rig.dlq()
    assert "{not json" == dead["raw"]
    assert 1.0 == rig.metrics.registry.get_sample_value(
        "monitor_bad_records_total", {"topic": MATCHES}
    )


async def test_a_dead_summary_retried_goes_once_with_its_id(rig: Rig) -> None:
    """`monitor dlq retry` of a summary: sent again under its digest id, its items settled
    delivered; the same dead letter again is not sent; a bad record cannot be retried."""
    now = [1_000_000.0]
    dispatcher = rig.dispatcher(throttle=Throttle(max=1, per_s=60), clock=lambda: now[0])
    flusher = rig.flusher(dispatcher, lambda: now[0], AT_ONCE)
    await dispatcher.handle([record(article_id=f"a{i}", offset=i) for i in range(3)])
    await dispatcher.handle([Record(MATCHES, 0, 9, "k", b"{not json", 0)])
    rig.receiver.always = 500
    now[0] += 61
    await flusher.flush_due()
    dead = await rig.bus.consumer(DLQ, "letters").fetch(100, 0.05)
    bad, summary = sorted(open_letters(dead, []), key=lambda d: d.kind, reverse=True)
    assert ("digest", "record") == (summary.kind, bad.kind)
    retrier = Retrier(
        senders=dispatcher.senders,
        settlements=rig.state,
        claims=LocalClaims(rig.state),
        bus=rig.bus,
        metrics=rig.metrics,
        delivery=FAST,
    )
    rig.receiver.always = 200
    before = len(rig.receiver.received)
    assert "sent" == await retrier.retry(summary)
    ((headers, body),) = rig.receiver.received[before:]
    assert summary.id == headers["X-Monitor-Digest-Id"] == json.loads(body)["id"]
    for item in json.loads(body)["rules"][0]["items"]:
        assert "delivered" == await rig.state.settled_status(item["alert_id"])
    assert "already delivered" == await retrier.retry(summary)
    assert before + 1 == len(rig.receiver.received)
    with pytest.raises(DeliveryError, match="drop it"):
        await retrier.retry(bad)


async def test_two_flushers_at_once_send_each_held_alert_once(rig: Rig) -> None:
    """Two flushers that both think they own the channel (a lease rebalance on Kafka; two
    services on one state.db) flush the same due summary while the receiver is slow to
    answer: each claims the items first, so one summary goes out, its items delivered."""
    now = [1_000_000.0]
    dispatcher = rig.dispatcher(throttle=Throttle(max=1, per_s=60), clock=lambda: now[0])
    await dispatcher.handle([record(article_id=f"a{i}", offset=i) for i in range(4)])
    assert 1 == len(rig.receiver.received)  # the first; three held beyond the throttle
    flushers = []
    for _ in range(2):
        flusher = rig.flusher(dispatcher, lambda: now[0])
        flusher.claims = LocalClaims(rig.state)
        flushers.append(flusher)
    now[0] += 61
    rig.receiver.hold = asyncio.Event()
    flushing = [asyncio.create_task(f.flush_due()) for f in flushers]
    await asyncio.sleep(0.3)  # both read the due rows; one is sending, held by the receiver
    rig.receiver.hold.set()
    assert [1, 0] == sorted(await asyncio.gather(*flushing), reverse=True)
    (summary,) = [json.loads(b) for _, b in rig.receiver.received[1:]]
    items = [i["alert_id"] for r in summary["rules"] for i in r["items"]]
    assert 3 == len(items)
    for item in items:
        assert "delivered" == await rig.state.settled_status(item)
    assert [] == await dispatcher.held.due(int(now[0] * 1000))
