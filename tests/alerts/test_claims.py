"""Claims (`monitor.alerts.claims`): one holder per key, a lease that ends, and on Kafka a
replay of the claim records that every reader agrees on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from monitor.alerts.claims import FORGET_AFTER_MS, KafkaClaims, LocalClaims, lease_s, renewing
from monitor.alerts.settings import DeliveryConfig
from monitor.bus.base import CLAIMS
from monitor.kernel.metrics import make_metrics
from monitor.store.state import StateStore


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
    """Five attempts with up to a minute's backoff and a minute's timeout each: over 6 min.
    (How long a crashed holder blocks a key; a live holder renews, see `renewing` below and
    tests/hostile/test_claim_leases.py for a wait longer than the lease.)"""
    assert lease_s(DeliveryConfig()) >= 5 * 60 + sum(min(60, 2**i) for i in range(5))
    assert 300 == lease_s(DeliveryConfig(attempts=1, backoff_s=0.1))


def reader(now_s: float = 0.0) -> KafkaClaims:
    """A KafkaClaims that only replays records (no bus), its clock at `now_s`."""
    claims = KafkaClaims.__new__(KafkaClaims)
    claims._holders = {}
    claims.metrics = make_metrics()
    claims.clock = lambda: now_s
    return claims


def replay(records: list[tuple[str, dict[str, object]]], owner: str) -> set[str]:
    """The keys `owner` holds after replaying the records as a KafkaClaims reader does."""
    claims = reader()
    for key, record in records:
        claims.read(key.encode(), json.dumps(record).encode())
    return {k for k, (o, _) in claims._holders.items() if o == owner}


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


def test_kafka_claims_a_renewal_extends_the_holders_lease_and_takes_nothing() -> None:
    """A renewal by the holder moves its lease's end; one by another owner (or of a free key)
    is ignored, so a renewal can never take a key."""
    a = {"owner": "A", "at": 1_000, "until": 301_000}
    renew_a = {"owner": "A", "at": 200_000, "until": 500_000, "kind": "renew"}
    b = {"owner": "B", "at": 400_000, "until": 700_000}
    assert {"k"} == replay([("k", a), ("k", renew_a), ("k", b)], "A")
    renew_b = {"owner": "B", "at": 400_000, "until": 700_000, "kind": "renew"}
    assert {"k"} == replay([("k", a), ("k", renew_b)], "A")
    assert set() == replay([("k", renew_b)], "B")


BAD_CLAIMS: list[tuple[str, bytes, bytes]] = [
    ("no at", b"k", b'{"owner": "X", "until": 9999999999999}'),
    ("at a string", b"k", b'{"owner": "X", "at": "1e3", "until": 9999999999999}'),
    ("until a number", b"k", b'{"owner": "X", "at": 1, "until": 1e300}'),
    ("owner a list", b"k", b'{"owner": ["X"], "at": 1, "until": 9999999999999}'),
    ("release a string", b"k", b'{"owner": "X", "at": 1, "release": "yes"}'),
    ("unknown kind", b"k", b'{"owner": "X", "at": 1, "until": 9, "kind": "steal"}'),
    ("key not UTF-8", b"\xff\xfek", b'{"owner": "X", "at": 1, "until": 9999999999999}'),
    ("nested deep", b"k", b"[" * 100_000 + b"]" * 100_000),
    ("not JSON", b"k", b"\x00\x01"),
    ("a list", b"k", b"[1, 2]"),
]


@pytest.mark.parametrize(("case", "key", "value"), BAD_CLAIMS, ids=[c[0] for c in BAD_CLAIMS])
def test_kafka_claims_a_bad_claim_record_is_counted_and_skipped(
    case: str, key: bytes, value: bytes
) -> None:
    """A claim record that cannot be read raises nothing, is counted and holds nothing: the
    next good claim of its key wins."""
    claims = reader()
    claims.read(key, value)
    assert {} == claims._holders, case
    claims.read(b"k", json.dumps({"owner": "A", "at": 2, "until": 3_000}).encode())
    assert {"k": ("A", 3_000)} == claims._holders
    counted = claims.metrics.registry.get_sample_value(  # type: ignore[union-attr]
        "monitor_bad_records_total", {"topic": CLAIMS}
    )
    assert 1.0 == counted


def test_kafka_claims_forget_the_holders_that_never_released() -> None:
    """Holders that crashed without releasing are forgotten an hour after their lease ended:
    a reader's memory holds the last hour's claims, not every key ever claimed."""
    claims = reader(now_s=1_000.0)
    for i in range(1_000):
        body = {"owner": "crashed", "at": 1_000_000, "until": 1_300_000}
        claims.read(f"k{i}".encode(), json.dumps(body).encode())
    live = {"owner": "A", "at": 1_000_000, "until": 1_000_000 + FORGET_AFTER_MS + 10_000}
    claims.read(b"live", json.dumps(live).encode())
    claims.forget_expired()
    assert 1_001 == len(claims._holders)  # ended, but not an hour ago: a late claim still loses
    claims.clock = lambda: 1_300.0 + FORGET_AFTER_MS / 1000 + 1
    claims.forget_expired()
    assert ["live"] == list(claims._holders)


async def test_a_renewed_claim_outlives_its_lease_until_released(tmp_path: Path) -> None:
    """While `renewing` runs, the holder's claim outlasts its lease many times over; once the
    block ends and the renewals stop, the lease runs out and another wins."""
    async with StateStore(tmp_path) as state:
        holder, other = LocalClaims(state), LocalClaims(state)
        assert {"k"} == await holder.claim(["k"], 0.3)
        async with renewing(holder, ["k"], 0.3):
            for _ in range(4):
                await asyncio.sleep(0.25)
                assert set() == await other.claim(["k"], 0.3)
        await asyncio.sleep(0.4)
        assert {"k"} == await other.claim(["k"], 0.3)


async def test_a_renewal_never_takes_a_key_another_holds(tmp_path: Path) -> None:
    """A late renewal (after the lease ended and another took the key) leaves it alone."""
    now = [1_000.0]
    async with StateStore(tmp_path) as state:
        late, other = LocalClaims(state, lambda: now[0]), LocalClaims(state, lambda: now[0])
        await late.claim(["k"], 10)
        now[0] += 11
        assert {"k"} == await other.claim(["k"], 10)
        await late.renew(["k"], 600)
        now[0] += 5
        assert set() == await late.claim(["k"], 10)  # still other's
        now[0] += 6
        assert {"k"} == await LocalClaims(state, lambda: now[0]).claim(["k"], 10)
