# ruff: noqa: F811 - `rig` is test_dispatch's fixture, imported
"""Outages at their edges: a channel down for days, digests of a down channel, a redelivery into
a channel down again, and a dispatcher that did not meet the failures (a fresh-eyes review found
each; each test failed before its fix)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace

from monitor.alerts.breaker import Breaker
from monitor.alerts.claims import LocalClaims
from monitor.alerts.deadletters import open_letters
from monitor.alerts.flusher import Flusher
from monitor.alerts.redeliver import Redeliverer
from monitor.bus.base import DLQ
from monitor.matching.spec import Throttle
from tests.alerts.test_dispatch import FAST, Rig, record, rig  # noqa: F401
from tests.alerts.test_outages import retrier

NOW = 1_000_000.0


def test_a_breaker_down_for_a_long_outage_keeps_backing_off() -> None:
    """With the defaults (1 s doubling to 60 s) a channel down ~17 h has been probed 1024
    times: `backoff_s * 2.0**probes` then overflows. `failed` must still push the next probe
    off by at most `max_backoff`, not raise (and leave `probe_at` in the past)."""
    b = Breaker("hook", down_after=1, backoff_s=1.0, max_backoff_s=60.0)
    now = NOW
    assert b.failed("HTTP 503", now) is not None
    for _ in range(1100):
        now = b.probe_at
        assert b.begin(now)
        b.failed("HTTP 503", now)
        b.answered()
        assert now + 1 <= b.probe_at <= now + 60


async def test_a_long_outage_does_not_turn_into_a_probe_every_flush(rig: Rig) -> None:
    """The same overflow through the flusher: once the waiting alert's probes pass 1024, each
    flush raises (`flush_failed`, a traceback a second) and, `probe_at` never moving again,
    the down channel is hit by a probe every FLUSH_EVERY_S instead of every max_backoff."""
    now = [NOW]
    rig.receiver.always = 503
    dispatcher = rig.dispatcher(clock=lambda: now[0])
    flusher = rig.flusher(dispatcher, lambda: now[0])
    await dispatcher.handle([record(article_id="a0", offset=0)])
    breaker = dispatcher.breakers["hook"]
    breaker.probes = 1020  # as after ~17 h at the default max_backoff (60 s)
    for _ in range(10):
        now[0] = breaker.probe_at
        await flusher.flush_due()  # raises OverflowError at the 1024th probe
    assert breaker.probe_at > now[0]


class CountingClaims(LocalClaims):
    """LocalClaims that counts the keys claimed."""

    claimed = 0

    async def claim(self, keys: Sequence[str], lease_s: float) -> set[str]:
        self.claimed += len(keys)
        return await super().claim(keys, lease_s)


async def test_a_digest_for_a_down_channel_is_not_claimed_every_second(rig: Rig) -> None:
    """Outage rows are skipped before the claim while the channel is not due for a probe
    (`Outages.due`), but held digests/summaries are not: each flush (every second) claims
    every item and releases it again, for the whole outage (up to give_up_after, 24 h). On
    Kafka that is two claim records per item per second, and a read of the claims partition."""
    now = [NOW]
    delivery = replace(FAST, backoff_s=60, max_backoff_s=600)
    dispatcher = rig.dispatcher(
        throttle=Throttle(max=1, per_s=60), clock=lambda: now[0], delivery=delivery
    )
    claims = CountingClaims(rig.state, clock=lambda: now[0])
    flusher = Flusher(
        held=dispatcher.held,
        senders=dispatcher.senders,
        settlements=rig.state,
        bus=rig.bus,
        metrics=rig.metrics,
        delivery=delivery,
        stories=dispatcher.stories,
        clock=lambda: now[0],
        stop=rig.stop,
        claims=claims,
        breakers=dispatcher.breakers,
    )
    await dispatcher.handle([record(article_id=f"a{i}", offset=i) for i in range(3)])
    now[0] += 61  # the summary (2 items) is due
    rig.receiver.always = 503
    breaker = dispatcher.breakers["hook"]
    for _ in range(delivery.attempts):
        breaker.failed("HTTP 503", now[0])
    assert breaker.down  # the next probe is 60 s off
    claims.claimed = 0
    for _ in range(10):
        now[0] += 1
        assert 0 == await flusher.flush_due()
    assert breaker.down
    assert 0 == claims.claimed


async def test_redelivery_stops_when_the_channel_fails_again(rig: Rig) -> None:
    """The channel delivered once (the breaker is up, `last_success` after the letters) and
    then fails again: the redelivery tries every letter with all its attempts (letters x ~15 s
    with the defaults, the DLQ loop blocked meanwhile), never tells the breaker, and marks each
    `redelivered`, spending every letter's one automatic try on a channel that is down."""
    at_once = replace(FAST, give_up_after_s=0)
    now = [time.time()]
    rig.receiver.always = 503
    dispatcher = rig.dispatcher(delivery=at_once, clock=lambda: now[0])
    for i in range(3):
        now[0] += 60  # each a probe: tried once, dead-lettered
        await dispatcher.handle([record(article_id=f"a{i}", offset=i)])
    letters = open_letters(await rig.bus.consumer(DLQ, "rv").fetch(100, 0.05), [])
    assert 3 == len(letters)
    dispatcher.breakers["hook"].succeeded(time.time() + 1)  # it was back, briefly
    before = len(rig.receiver.received)
    redeliverer = Redeliverer(retrier(rig, dispatcher, at_once), dispatcher.breakers)
    assert 0 == await redeliverer.redeliver(letters)
    tried = len(rig.receiver.received) - before
    again = open_letters(await rig.bus.consumer(DLQ, "rv2").fetch(100, 0.05), [])
    marked = [letter.id for letter in again if letter.body.get("redelivered")]
    assert at_once.attempts == tried, "only the first letter should have been tried"
    assert len(marked) <= 1


async def test_a_dispatcher_that_does_not_own_the_channel_learns_it_is_back(rig: Rig) -> None:
    """Kafka, two dispatchers: D1's sends fail and its breaker goes down; its alert waits in
    the shared store and D2, the holder of the channel's flusher lease, sends it once the
    channel is back. D1's breaker is never told (it only learns by a send of its own, i.e.
    a new alert after its probe is due): `monitor_channel_up` stays 0 there and
    MonitorChannelDown (per instance, 10 m) pages for a channel that works. The breaker
    module says D1 learns "by the alerts waiting in the shared store going out"."""
    now = [NOW]
    rig.receiver.always = 503
    d1 = rig.dispatcher(clock=lambda: now[0])
    f1 = rig.flusher(d1, lambda: now[0])
    f1.owns = lambda _: False  # D2 holds the flusher lease of "hook"
    d2 = rig.dispatcher(clock=lambda: now[0])  # its own breakers, the same held store
    f2 = Flusher(
        held=d1.held,
        senders=d2.senders,
        settlements=rig.state,
        bus=rig.bus,
        metrics=rig.metrics,
        delivery=FAST,
        stories=d2.stories,
        clock=lambda: now[0],
        stop=rig.stop,
        breakers=d2.breakers,
    )
    await d1.handle([record(article_id="a0", offset=0)])
    assert d1.breakers["hook"].down
    rig.receiver.always = None
    now[0] += 60
    assert 1 == await f2.flush_due()
    sent = [json.loads(b)["article"]["id"] for _, b in rig.receiver.received]
    assert "a0" == sent[-1]
    for _ in range(5):  # an hour passes, no new alert for "hook" on D1
        now[0] += 600
        await f1.flush_due()
    assert not d1.breakers["hook"].down


async def test_a_digest_overdue_while_its_channel_is_down_says_so_in_the_dlq(rig: Rig) -> None:
    """A summary still held past give_up_after while its channel is down (no probe due) is
    dead-lettered without a send. Its letter said "no channel named 'hook' is configured",
    not retriable (so never redelivered when the channel is back), with one attempt made."""
    now = [NOW]
    delivery = replace(FAST, backoff_s=3600, max_backoff_s=3600, give_up_after_s=100)
    dispatcher = rig.dispatcher(
        throttle=Throttle(max=1, per_s=60), clock=lambda: now[0], delivery=delivery
    )
    flusher = rig.flusher(dispatcher, lambda: now[0], delivery)
    await dispatcher.handle([record(article_id=f"a{i}", offset=i) for i in range(3)])
    breaker = dispatcher.breakers["hook"]
    for _ in range(delivery.attempts):
        breaker.failed("HTTP 503", now[0])
    assert breaker.down  # the next probe is an hour off
    now[0] += 61 + 101  # the summary was due 101 s ago
    sent_before = len(rig.receiver.received)
    assert 0 == await flusher.flush_due()
    assert sent_before == len(rig.receiver.received)
    (dead,) = await rig.dlq()
    assert "down: HTTP 503" == dead["reason"]
    assert dead["retriable"] is True
    assert 0 == dead["attempts"]
