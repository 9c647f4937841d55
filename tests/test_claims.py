"""Claims (`monitor.alerts.claims`): one holder per key, a lease that ends, and on Kafka a
replay of the claim records that every reader agrees on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from monitor.alerts.claims import KafkaClaims, LocalClaims, lease_s
from monitor.config import DeliveryConfig
from monitor.state import StateStore


async def test_one_of_two_processes_wins_a_key_until_it_releases_it(tmp_path: Path) -> None:
    """Two stores on one state.db (two processes): the first claim wins, the second loses,
    and wins once the first is released."""
    async with StateStore(tmp_path) as one, StateStore(tmp_path) as two:
        a, b = LocalClaims(one), LocalClaims(two)
        assert {"k1", "k2"} == await a.claim(["k1", "k2"], 60)
        assert {"k3"} == await b.claim(["k1", "k3"], 60)
        await b.release(["k1"])  # not b's: left alone
        assert set() == await b.claim(["k1"], 60)
        await a.release(["k1", "k2"])
        assert {"k1", "k2"} == await b.claim(["k1", "k2"], 60)


async def test_many_claimants_at_once_one_winner_per_key(tmp_path: Path) -> None:
    """Eight claimants racing on the same keys: each key has exactly one winner."""
    async with StateStore(tmp_path) as state:
        claimants = [LocalClaims(state) for _ in range(8)]
        keys = [f"k{i}" for i in range(20)]
        won = await asyncio.gather(*(c.claim(keys, 60) for c in claimants))
        assert sorted(keys) == sorted(k for w in won for k in w)


async def test_a_crashed_holders_claim_expires(tmp_path: Path) -> None:
    """A holder that never releases (it crashed) blocks the key only for its lease."""
    now = [1_000.0]
    async with StateStore(tmp_path) as state:
        crashed, later = LocalClaims(state, lambda: now[0]), LocalClaims(state, lambda: now[0])
        assert {"k"} == await crashed.claim(["k"], 300)
        now[0] += 299
        assert set() == await later.claim(["k"], 300)
        now[0] += 2
        assert {"k"} == await later.claim(["k"], 300)


def test_the_lease_outlasts_a_send_with_every_retry() -> None:
    """Five attempts with up to a minute's backoff and a minute's timeout each: over 6 min."""
    assert lease_s(DeliveryConfig()) >= 5 * 60 + sum(min(60, 2**i) for i in range(5))
    assert 300 == lease_s(DeliveryConfig(attempts=1, backoff_s=0.1))


def replay(records: list[tuple[str, dict[str, object]]], owner: str) -> set[str]:
    """The keys `owner` holds after replaying the records as a KafkaClaims reader does."""
    reader = KafkaClaims.__new__(KafkaClaims)
    reader._holders = {}
    for key, record in records:
        reader._apply(key, json.loads(json.dumps(record)))
    return {k for k, (o, _) in reader._holders.items() if o == owner}


def test_kafka_claims_the_first_live_claim_in_the_log_wins() -> None:
    """Replayed in log order: a second claim of a live key loses; after a release, or once
    the lease is over at the later claim's time, the next claim wins."""
    a = {"owner": "A", "at": 1_000, "until": 301_000}
    b = {"owner": "B", "at": 2_000, "until": 302_000}
    assert {"k"} == replay([("k", a), ("k", b)], "A")
    assert set() == replay([("k", a), ("k", b)], "B")
    released = {"owner": "A", "at": 3_000, "release": True}
    b_after = {"owner": "B", "at": 4_000, "until": 304_000}
    assert {"k"} == replay([("k", a), ("k", b), ("k", released), ("k", b_after)], "B")
    # B's claim made before A's release stays lost, whoever reads the log.
    assert set() == replay([("k", a), ("k", b), ("k", released)], "B")
    expired = {"owner": "B", "at": 302_000, "until": 602_000}
    assert {"k"} == replay([("k", a), ("k", expired)], "B")
    other_release = {"owner": "B", "at": 3_000, "release": True}
    assert {"k"} == replay([("k", a), ("k", other_release)], "A")
