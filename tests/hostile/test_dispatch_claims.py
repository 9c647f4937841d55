# ruff: noqa: F811 - `rig` is test_dispatch's fixture, imported
"""Two dispatchers on one alert around its claim: a process's flusher and its dispatcher, a
"held" settled after another's "delivered", a claim that lapsed with no one taking it. Two
dispatchers share one state.db and its claims table as two dispatchers share the Kafka topics.
A second fresh-eyes review wrote each test; each failed before its fix (a holder name per part
of the process; `held` never replaces a final settlement; a lapsed claim holds the alert)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.alerts.claims import LocalClaims
from monitor.kernel.models import Settlement
from monitor.store.state import StateStore
from tests.alerts.test_dispatch import Rig, record, record_alert_id, rig  # noqa: F401

NOW = 1_000_000.0


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait (generously) until `check()` is true."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_flusher_does_not_win_a_claim_its_own_dispatcher_holds(rig: Rig) -> None:
    """The service gives the dispatcher and the flusher one Claims (one owner id), and a claim
    by the holder's own owner reads as won (LocalClaims: the row's owner is ours; KafkaClaims:
    a claim by the holder extends it). So: d1 claims the alert and sends it (the receiver is
    slow, or d1 waits between retries); d2, redoing the same batch after a rebalance, finds it
    claimed and holds it (settled "held"); d1's own flusher, owning the channel, claims the
    held row, "wins", reads "held" and sends it while d1 is still sending. Twice."""
    now = [NOW]
    clock = lambda: now[0]  # noqa: E731
    d1, d2 = rig.dispatcher(clock=clock), rig.dispatcher(clock=clock)
    own = LocalClaims(rig.state, clock=clock)
    d1.claims = own.holder("dispatcher")  # as service.py wires it: one store, two holders
    d2.claims = LocalClaims(rig.state, clock=clock)
    flusher = rig.flusher(d1, clock)
    flusher.claims = own
    rig.receiver.hold = asyncio.Event()
    first = asyncio.create_task(d1.handle([record()]))
    try:
        await until(lambda: len(rig.receiver.received) == 1)  # d1's POST is in flight
        await d2.handle([record()])
        assert {"hook": 1} == await d2.held.waiting()  # claimed elsewhere: held
        flushing = asyncio.create_task(flusher.flush_due())
        await asyncio.sleep(0.3)  # a second POST, if the flusher sends, arrives by now
        rig.receiver.hold.set()
        await first
        await flushing
    finally:
        rig.receiver.hold.set()
        first.cancel()
    assert 1 == len(rig.receiver.received), "sent by d1 and by its own process's flusher"


@dataclass
class Snapshot:
    """Settlements as on Kafka: a status is as of the last `sync` (plus this process's own
    settles). `paused`: the first sync waits after reading, as a dispatcher is between its
    batch's sync and its claim for the time a publish and a read of the claims take."""

    inner: StateStore
    known: dict[str, str] = field(default_factory=dict)
    read: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def sync(self) -> None:
        rows = await self.inner.file.run(
            lambda: (
                self.inner.file.conn().execute("SELECT alert_id, status FROM deliveries").fetchall()
            )
        )
        self.known = {str(a): str(s) for a, s in rows}
        if not self.read.is_set():
            self.read.set()
            await self.go.wait()

    async def settled_status(self, alert_id: str) -> str | None:
        return self.known.get(alert_id)

    async def settle(self, settlement: Settlement) -> None:
        await self.inner.settle(settlement)
        self.known[settlement.alert_id] = settlement.status


@dataclass
class SlowAfterDelivered:
    """Settlements of a dispatcher whose batch goes on after the alert was settled delivered
    (another alert of the batch is slow): its claim stays until the batch ends."""

    inner: StateStore
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)

    async def sync(self) -> None:
        await self.inner.sync()

    async def settled_status(self, alert_id: str) -> str | None:
        return await self.inner.settled_status(alert_id)

    async def settle(self, settlement: Settlement) -> None:
        await self.inner.settle(settlement)
        if settlement.status == "delivered":
            self.settled.set()
            await self.resume.wait()


async def test_a_held_settlement_does_not_overwrite_a_delivered_one(rig: Rig) -> None:
    """d2 syncs its settlements (the alert unsettled), then claims: d1, which sent and settled
    the alert "delivered" in between, still holds the claim (it releases at the batch's end).
    d2 loses the claim and, without reading the settlements again (it syncs only when it won
    something), holds the alert and settles it "held", overwriting "delivered". Once d1
    releases, the channel's flusher claims the row, reads "held" and sends it again."""
    now = [NOW]
    clock = lambda: now[0]  # noqa: E731
    d1, d2 = rig.dispatcher(clock=clock), rig.dispatcher(clock=clock)
    d1.claims = LocalClaims(rig.state, clock=clock)
    d2.claims = LocalClaims(rig.state, clock=clock)
    slow = d1.settlements = SlowAfterDelivered(rig.state)
    stale = d2.settlements = Snapshot(rig.state)
    flusher = rig.flusher(d2, clock)
    flusher.claims = d2.claims
    second = asyncio.create_task(d2.handle([record()]))
    first: asyncio.Task[None] | None = None
    try:
        await stale.read.wait()  # d2 read the settlements: nothing settled
        first = asyncio.create_task(d1.handle([record()]))
        await slow.settled.wait()  # d1 sent it, settled it delivered, holds the claim
        stale.go.set()
        await second  # d2 loses the claim, holds the alert
        slow.resume.set()
        await first  # d1 releases its claim
        await flusher.flush_due()
    finally:
        stale.go.set()
        slow.resume.set()
        for task in (first, second):
            if task is not None:
                task.cancel()
    assert "delivered" == await rig.state.settled_status(record_alert_id())
    assert 1 == len(rig.receiver.received), "the held copy of a delivered alert was sent"


async def test_a_lapsed_claim_nobody_took_does_not_drop_the_alert(rig: Rig) -> None:
    """A dispatcher between two attempts whose claim lapsed with nobody taking it over (its
    renewals failed for 20 s: the broker away; or the only dispatcher stalled past 30 s):
    `_still_ours` asks `holding`, which says no for any lapsed lease, and `_send` returns with
    the alert neither sent, held nor settled. `handle` returns normally, so the batch is
    committed: the alert is lost, since no other dispatcher has the record to send it."""
    now = [NOW]
    clock = lambda: now[0]  # noqa: E731
    d1 = rig.dispatcher(clock=clock)
    d1.claims = LocalClaims(rig.state, clock=clock)
    rig.receiver.plan = [503]  # the first attempt fails; the retry is 0.05 s later
    handling = asyncio.create_task(d1.handle([record()]))
    await rig.receiver.failed.wait()
    now[0] += 45  # the lease (30 s) lapsed unrenewed; nobody claimed the alert since
    d1._claimed_at -= 45
    (outcome,) = await asyncio.gather(handling, return_exceptions=True)
    if isinstance(outcome, BaseException):
        return  # raised: the batch is redone from the last commit, nothing lost
    status = await rig.state.settled_status(record_alert_id())
    assert 2 == len(rig.receiver.received) or status is not None, (
        "dropped: not sent, not held, not settled, and the batch committed"
    )
