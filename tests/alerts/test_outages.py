# ruff: noqa: F811 - `rig` is test_dispatch's fixture, imported
"""Riding out a channel's outage: the breaker, alerts that wait in order, giving up by age,
redelivery of dead letters, and the health notices (real receiver, state.db, local bus)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import Any

from monitor.alerts.breaker import DOWN, UP, Breaker
from monitor.alerts.claims import LocalClaims
from monitor.alerts.deadletters import Retrier, open_letters
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.held import OUTAGE
from monitor.alerts.outage import Notices, channel_alert
from monitor.alerts.redeliver import Redeliverer
from monitor.alerts.settings import DeliveryConfig
from monitor.bus.base import DLQ
from monitor.matching.spec import Throttle
from tests.alerts.test_dispatch import FAST, Rig, record, rig  # noqa: F401

NOW = 1_000_000.0


def test_breaker_goes_down_after_failures_in_a_row_and_probes_with_growing_waits() -> None:
    """Down after `down_after` failures in a row; one probe at a time, each after a doubling
    wait up to the maximum, or what the channel asked; the first success brings it back."""
    b = Breaker("hook", down_after=3, backoff_s=1, max_backoff_s=4)
    assert b.failed("HTTP 503", NOW) is None
    assert b.succeeded(NOW) is None  # a success in between: the count starts again
    assert b.failed("HTTP 503", NOW) is None
    assert b.failed("HTTP 503", NOW) is None
    change = b.failed("HTTP 503", NOW + 1)
    assert change is not None
    assert (DOWN, NOW + 1) == (change.state, change.since)
    assert not b.may_send(NOW + 1.5)
    assert b.begin(NOW + 2)  # the first probe, after 1 s
    assert not b.begin(NOW + 2)  # one probe at a time
    assert b.failed("HTTP 503", NOW + 2) is None
    b.answered()
    waits: list[float] = []
    for _ in range(4):
        waits.append(b.probe_at - NOW - 2 - sum(waits))
        assert b.begin(b.probe_at)
        assert b.failed("HTTP 503", b.probe_at) is None
        b.answered()
    assert [2.0, 4.0, 4.0, 4.0] == waits  # doubling, up to max_backoff
    probe_at = b.probe_at
    assert b.failed("HTTP 503", probe_at - 1) is None  # not a probe: under way before
    assert probe_at == b.probe_at
    assert b.begin(probe_at)
    assert b.failed("HTTP 429", 0, retry_after_s=30) is None
    b.answered()
    assert 30 == b.probe_at  # the channel asked for longer
    back = b.succeeded(NOW + 100)
    assert back is not None
    assert (UP, NOW + 1) == (back.state, back.since)
    assert b.may_send(NOW + 100)
    assert not b.down


async def test_a_channel_down_holds_its_alerts_and_sends_them_in_order_once_back(rig: Rig) -> None:
    """A receiver that keeps failing: the first alert's attempts take the channel down and it
    waits (held, not dead-lettered); later alerts wait at once, without an attempt. Back, the
    flusher sends them oldest first, each once; redelivered match records send nothing."""
    now = [NOW]
    rig.receiver.always = 503
    dispatcher = rig.dispatcher(clock=lambda: now[0])
    flusher = rig.flusher(dispatcher, lambda: now[0])
    await dispatcher.handle([record(article_id="a0", offset=0)])
    assert 3 == len(rig.receiver.received)  # FAST: 3 attempts, then the channel is down
    assert is_down(dispatcher)
    for i in range(1, 5):
        now[0] += 0.001  # the first probe is due 0.05 s after the channel went down
        await dispatcher.handle([record(article_id=f"a{i}", offset=i)])
    assert 3 == len(rig.receiver.received)  # no attempt burnt while it is down
    assert [] == await rig.dlq()
    assert {"hook": 5} == await dispatcher.held.waiting()
    assert 5.0 == rig.alerts("hook", "waiting")
    assert "held" == await rig.state.settled_status(alert_of(dispatcher, "a3"))
    assert 0 == await flusher.flush_due()  # not yet due for a probe: nothing sent
    assert 3 == len(rig.receiver.received)
    rig.receiver.always = None
    now[0] += 60
    assert 1 == await flusher.flush_due()  # the probe: the oldest
    assert 4 == await flusher.flush_due()  # up: the rest, in order
    sent = [json.loads(b)["article"]["id"] for _, b in rig.receiver.received[3:]]
    assert ["a0", "a1", "a2", "a3", "a4"] == sent
    assert not is_down(dispatcher)
    assert {} == await dispatcher.held.waiting()
    assert "delivered" == await rig.state.settled_status(alert_of(dispatcher, "a3"))
    assert 0 == await flusher.flush_due()
    await dispatcher.handle([record(article_id=f"a{i}", offset=i) for i in range(5)])
    now[0] += 1
    await dispatcher.handle([record(article_id="a5", offset=5)])  # back: sent at once
    assert 6 == len(rig.receiver.received[3:])


async def test_a_probe_that_fails_waits_longer_and_new_alerts_join_the_line(rig: Rig) -> None:
    """While alerts wait, a new one joins the back of the line even once the breaker would
    let a send through: order is kept. A failed probe sends nothing more that round."""
    now = [NOW]
    rig.receiver.always = 500
    dispatcher = rig.dispatcher(clock=lambda: now[0])
    flusher = rig.flusher(dispatcher, lambda: now[0])
    await dispatcher.handle([record(article_id="a0", offset=0)])
    now[0] += 1
    await dispatcher.handle([record(article_id="a1", offset=1)])
    before = len(rig.receiver.received)
    now[0] += 60
    assert 0 == await flusher.flush_due()
    assert before + 1 == len(rig.receiver.received)  # one probe, the oldest
    rig.receiver.always = None
    now[0] += 0.01  # the breaker's next probe is not due yet, but alerts wait: it joins them
    await dispatcher.handle([record(article_id="a2", offset=2)])
    assert before + 1 == len(rig.receiver.received)
    now[0] += 60
    assert 1 + 2 == await flusher.flush_due() + await flusher.flush_due()
    sent = [json.loads(b)["article"]["id"] for _, b in rig.receiver.received[before + 1 :]]
    assert ["a0", "a1", "a2"] == sent


async def test_an_alert_that_waited_past_give_up_after_is_dead_lettered(rig: Rig) -> None:
    """`give_up_after` bounds the wait: past it the alert goes to the DLQ with the last
    failure, marked retriable (so it is redelivered once the channel is back)."""
    now = [NOW]
    delivery = replace(FAST, give_up_after_s=3600)
    rig.receiver.always = 503
    dispatcher = rig.dispatcher(clock=lambda: now[0], delivery=delivery)
    flusher = rig.flusher(dispatcher, lambda: now[0], delivery)
    await dispatcher.handle([record(article_id="a0", offset=0)])
    now[0] += 3599
    await flusher.flush_due()
    assert [] == await rig.dlq()
    now[0] += 2
    await flusher.flush_due()
    (dead,) = await rig.dlq()
    assert "gave up after 3600s waiting: HTTP 503" in str(dead["reason"])
    assert dead["retriable"] is True
    assert "dead" == await rig.state.settled_status(alert_of(dispatcher, "a0"))
    assert {} == await dispatcher.held.waiting()


async def test_a_refusal_while_waiting_dead_letters_that_alert_and_sends_the_rest(
    rig: Rig,
) -> None:
    """A waiting alert the channel refuses for good (400) is dead-lettered (not retriable);
    the alerts after it still go out, in order."""
    now = [NOW]
    rig.receiver.always = 503
    dispatcher = rig.dispatcher(clock=lambda: now[0])
    flusher = rig.flusher(dispatcher, lambda: now[0])
    for i in range(3):
        await dispatcher.handle([record(article_id=f"a{i}", offset=i)])
        now[0] += 1
    rig.receiver.always = None
    rig.receiver.plan = [400]
    before = len(rig.receiver.received)
    now[0] += 60
    assert 0 == await flusher.flush_due()  # the probe, refused: no answer on the channel's state
    assert 1 == await flusher.flush_due()  # the next probe gets through
    assert 1 == await flusher.flush_due()  # up: the rest
    (dead,) = await rig.dlq()
    assert "HTTP 400" in str(dead["reason"])
    assert dead["retriable"] is False
    sent = [json.loads(b)["article"]["id"] for _, b in rig.receiver.received[before:]]
    assert ["a0", "a1", "a2"] == sent  # a0 refused, then a1 and a2 delivered


async def test_a_408_is_retried_like_a_503(rig: Rig) -> None:
    """408 (request timeout) may pass: it is retried, not dead-lettered at once."""
    rig.receiver.plan = [408]
    await rig.dispatcher().handle([record()])
    assert 2 == len(rig.receiver.received)
    assert [] == await rig.dlq()


async def test_a_digest_the_channel_cannot_take_stays_held_until_it_is_back(rig: Rig) -> None:
    """A summary whose channel fails is not dead-lettered: it stays held and goes out, once,
    when the channel takes it."""
    now = [NOW]
    dispatcher = rig.dispatcher(throttle=Throttle(max=1, per_s=60), clock=lambda: now[0])
    flusher = rig.flusher(dispatcher, lambda: now[0])
    await dispatcher.handle([record(article_id=f"a{i}", offset=i) for i in range(3)])
    rig.receiver.always = 500
    now[0] += 61
    assert 0 == await flusher.flush_due()
    assert [] == await rig.dlq()
    assert dispatcher.breakers["hook"].down
    rig.receiver.always = None
    now[0] += 60
    before = len(rig.receiver.received)
    assert 1 == await flusher.flush_due()
    ((_, body),) = rig.receiver.received[before:]
    assert 2 == json.loads(body)["count"]
    assert 0 == await flusher.flush_due()


async def test_dead_letters_are_redelivered_once_when_their_channel_is_back(rig: Rig) -> None:
    """`redeliver`: a dead letter whose channel has delivered since it failed goes out again,
    once; one the channel refused for good does not; one whose redelivery fails is marked and
    left to a person."""
    at_once = replace(FAST, give_up_after_s=0)
    now = [time.time()]
    rig.receiver.always = 503
    dispatcher = rig.dispatcher(delivery=at_once, clock=lambda: now[0])
    await dispatcher.handle([record(article_id="a0", offset=0)])
    rig.receiver.always = 400
    now[0] += 60  # due for a probe: it is refused for good
    await dispatcher.handle([record(article_id="a1", offset=1)])
    letters = open_letters(await rig.bus.consumer(DLQ, "r1").fetch(100, 0.05), [])
    assert 2 == len(letters)
    redeliverer = Redeliverer(retrier(rig, dispatcher), dispatcher.breakers)
    assert 0 == await redeliverer.redeliver(letters)  # the channel has not delivered since
    rig.receiver.always = None
    dispatcher.breakers["hook"].succeeded(time.time() + 1)
    before = len(rig.receiver.received)
    assert 1 == await redeliverer.redeliver(letters)
    ((_, body),) = rig.receiver.received[before:]
    assert "a0" == json.loads(body)["article"]["id"]
    assert "delivered" == await rig.state.settled_status(alert_of(dispatcher, "a0"))
    assert 0 == await redeliverer.redeliver(letters)  # already delivered: not again
    assert before + 1 == len(rig.receiver.received)


async def test_a_failed_redelivery_is_not_made_again(rig: Rig) -> None:
    """A redelivery that fails again is dead-lettered again, marked `redelivered`: the next
    reading leaves it alone."""
    at_once = replace(FAST, give_up_after_s=0)
    rig.receiver.always = 503
    dispatcher = rig.dispatcher(delivery=at_once)
    await dispatcher.handle([record(article_id="a0", offset=0)])
    consumer = rig.bus.consumer(DLQ, "r2")
    letters = open_letters(await consumer.fetch(100, 0.05), [])
    dispatcher.breakers["hook"].succeeded(time.time() + 1)
    redeliverer = Redeliverer(retrier(rig, dispatcher, at_once), dispatcher.breakers)
    assert 0 == await redeliverer.redeliver(letters)  # fails again: 503
    tried = len(rig.receiver.received)
    again = open_letters(await rig.bus.consumer(DLQ, "r3").fetch(100, 0.05), [])
    (letter,) = again
    assert letter.body["redelivered"] is True
    rig.receiver.always = None
    assert 0 == await redeliverer.redeliver(again)
    assert tried == len(rig.receiver.received)


async def test_the_health_channels_hear_once_when_a_channel_goes_down_and_comes_back(
    rig: Rig,
) -> None:
    """A channel going down and coming back is told to the `health.notify` channels (not to
    itself): a `channel_health` webhook each way, valid against the schema."""
    dispatcher = rig.dispatcher()
    notices = Notices(
        notify=["hook", "mail"],
        senders=dispatcher.senders,
        bus=rig.bus,
        metrics=rig.metrics,
        delivery=FAST,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(notices.run(stop))
    breaker = Breaker("mail", down_after=1, backoff_s=1, max_backoff_s=1)
    down = breaker.failed("SMTP 421: try later", NOW)
    assert down is not None
    notices.tell(down)
    back = breaker.succeeded(NOW + 90)
    assert back is not None
    notices.tell(back)
    await asyncio.wait_for(_until(lambda: len(rig.receiver.received) >= 2), 10)
    stop.set()
    await task
    bodies: list[Any] = [json.loads(b) for _, b in rig.receiver.received]
    assert ["channel_health", "channel_health"] == [b["event"] for b in bodies]
    assert [("mail", "down"), ("mail", "up")] == [
        (b["health"]["channel"], b["health"]["state"]) for b in bodies
    ]
    assert "Channel mail is down (SMTP 421: try later)" in bodies[0]["article"]["title"]
    assert "is back after 90s" in bodies[1]["article"]["title"]
    assert [] == rig.mailbox.messages  # type: ignore[attr-defined]
    assert channel_alert(down, "hook").id == bodies[0]["alert_id"]  # the same id if told again


async def test_a_waiting_alert_is_kept_whole(rig: Rig) -> None:
    """The waiting row keeps the whole alert (evidence and all), so it goes out as itself."""
    rig.receiver.always = 503
    dispatcher = rig.dispatcher()
    await dispatcher.handle([record(article_id="a0", offset=0)])
    assert [] == await dispatcher.held.due(2**62)  # waiting is not due: it waits for the channel
    (row,) = await dispatcher.held.waiting_rows("hook", 10)
    assert OUTAGE == row.reason
    assert row.alert is not None
    assert ["CIS"] == [e.value for e in row.alert.evidence]


def is_down(dispatcher: Dispatcher) -> bool:
    return dispatcher.breakers["hook"].down


def alert_of(dispatcher: Dispatcher, article_id: str) -> str:
    from monitor.kernel.models import Alert, MatchedArticle

    matched = MatchedArticle.from_bytes(record(article_id=article_id).value)
    story = dispatcher.stories.story_for(matched, folds=True)
    return Alert.for_channel(matched, "hook", story).id


def retrier(rig: Rig, dispatcher: Dispatcher, delivery: DeliveryConfig = FAST) -> Retrier:
    return Retrier(
        senders=dispatcher.senders,
        settlements=rig.state,
        claims=LocalClaims(rig.state),
        bus=rig.bus,
        metrics=rig.metrics,
        delivery=delivery,
    )


async def _until(done: Any) -> None:
    while not done():  # noqa: ASYNC110 - a condition on a list the receiver appends to
        await asyncio.sleep(0.02)
