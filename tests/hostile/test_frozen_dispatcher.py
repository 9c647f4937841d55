# ruff: noqa: F811 - `rig` is test_dispatch's fixture, imported
"""A dispatcher frozen mid-batch (SIGSTOP, a stalled VM) past its session timeout: the group
gives its partitions to another dispatcher, which redoes the batch; then the frozen one wakes up
and carries on where it stopped. The Kafka chaos test met this once in three runs: an alert sent
by both. Two dispatchers here share one state.db and one claims table, as two dispatchers share
the Kafka topics, and the freeze is placed where it hurts: after the frozen one has read the
alert as unsent, before it sends."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from monitor.alerts.claims import LocalClaims
from monitor.alerts.dispatch import Dispatcher
from monitor.kernel.models import Settlement
from monitor.store.state import StateStore
from tests.alerts.test_dispatch import Rig, record, rig  # noqa: F401

NOW = 1_000_000.0


@dataclass
class Freezing:
    """Settlements that freeze the second time an alert's status is read (in `_deliver_once`,
    after the claim): the status read is the one from before the freeze."""

    inner: StateStore
    thaw: asyncio.Event = field(default_factory=asyncio.Event)
    frozen: asyncio.Event = field(default_factory=asyncio.Event)
    reads: int = 0

    async def sync(self) -> None:
        await self.inner.sync()

    async def settled_status(self, alert_id: str) -> str | None:
        status = await self.inner.settled_status(alert_id)
        self.reads += 1
        if self.reads == 2:
            self.frozen.set()
            await self.thaw.wait()
        return status

    async def settle(self, settlement: Settlement) -> None:
        await self.inner.settle(settlement)


def two_dispatchers(rig: Rig, now: list[float]) -> tuple[Dispatcher, Dispatcher, Freezing]:
    clock = lambda: now[0]  # noqa: E731
    d1, d2 = rig.dispatcher(clock=clock), rig.dispatcher(clock=clock)
    freezing = Freezing(rig.state)
    d1.settlements = freezing
    d1.claims = LocalClaims(rig.state, clock=clock)
    d2.claims = LocalClaims(rig.state, clock=clock)
    return d1, d2, freezing


async def test_a_dispatcher_frozen_past_its_claim_does_not_send_what_another_sent(
    rig: Rig,
) -> None:
    """Frozen longer than its claim's lease: the other dispatcher claims and sends the alert;
    the frozen one, waking, finds its claim gone and sends nothing."""
    now = [NOW]
    d1, d2, freezing = two_dispatchers(rig, now)
    first = asyncio.create_task(d1.handle([record()]))
    await freezing.frozen.wait()  # d1 read the alert as unsent and claimed it
    now[0] += 120  # its lease (30 s) lapses while it is frozen; the group moves its partitions
    await d2.handle([record()])
    assert 1 == len(rig.receiver.received)
    d1._claimed_at -= 120  # the freeze, as its clock saw it
    freezing.thaw.set()
    await first
    assert 1 == len(rig.receiver.received), "sent again by the dispatcher that woke up"


async def test_a_dispatcher_frozen_within_its_claim_sends_once_and_the_other_holds(
    rig: Rig,
) -> None:
    """Frozen for less than its lease: the other dispatcher finds the alert claimed and holds
    it; the frozen one wakes and sends it; the held copy, found delivered, is not sent."""
    now = [NOW]
    d1, d2, freezing = two_dispatchers(rig, now)
    flusher = rig.flusher(d2, lambda: now[0])
    flusher.claims = d2.claims
    first = asyncio.create_task(d1.handle([record()]))
    await freezing.frozen.wait()
    now[0] += 20
    await d2.handle([record()])
    assert 0 == len(rig.receiver.received)
    assert {"hook": 1} == await d2.held.waiting()
    assert 0 == await flusher.flush_due()  # still claimed by d1: not sent
    d1._claimed_at -= 20
    freezing.thaw.set()
    await first
    assert 1 == len(rig.receiver.received)
    assert 0 == await flusher.flush_due()
    assert {} == await d2.held.waiting()  # the held copy, found delivered, was let go
    assert 1 == len(rig.receiver.received)
    assert "r1" == json.loads(rig.receiver.received[0][1])["rule"]["id"]


async def test_the_frozen_dispatchers_own_flusher_does_not_take_its_claim(rig: Rig) -> None:
    """The process that wakes up runs a flusher too, and it may own the channel: the alert the
    other dispatcher held (claimed elsewhere) must not go out through it while this process's
    dispatcher is about to send it: the dispatcher claims under a name of its own."""
    now = [NOW]
    d1, d2, freezing = two_dispatchers(rig, now)
    own = LocalClaims(rig.state, clock=lambda: now[0])
    d1.claims = own.holder("dispatcher")  # as the service wires it
    flusher = rig.flusher(d1, lambda: now[0])
    flusher.claims = own
    first = asyncio.create_task(d1.handle([record()]))
    await freezing.frozen.wait()
    now[0] += 20
    await d2.handle([record()])
    assert 0 == await flusher.flush_due()  # the waiting copy: claimed by d1's dispatcher
    d1._claimed_at -= 20
    freezing.thaw.set()
    await first
    await flusher.flush_due()
    assert 1 == len(rig.receiver.received)


async def test_a_dispatcher_that_died_holding_a_claim_delays_its_alert_by_the_lease(
    rig: Rig,
) -> None:
    """A dispatcher dead after claiming (it never wakes, never releases): the alert the other
    holds goes out once the claim lapses, half a minute later."""
    now = [NOW]
    d1, d2, freezing = two_dispatchers(rig, now)
    flusher = rig.flusher(d2, lambda: now[0])
    flusher.claims = d2.claims
    first = asyncio.create_task(d1.handle([record()]))
    await freezing.frozen.wait()
    try:
        await d2.handle([record()])
        assert 0 == await flusher.flush_due()
        now[0] += 31
        assert 1 == await flusher.flush_due()
        assert 1 == len(rig.receiver.received)
    finally:
        first.cancel()
