"""Poll rounds: when a round closes, and how its one line reads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from monitor.feeds.rounds import Failing, Rounds, RoundSummary, round_words
from monitor.kernel.logs import for_people

NOW = datetime(2025, 3, 1, 15, 40, tzinfo=UTC).timestamp()


def test_a_round_reads_as_one_line() -> None:
    """Counts, then each failing feed's host, reason and next try (clock time, UTC)."""
    summary = RoundSummary(
        feeds=4,
        new=12,
        matched=3,
        alerts=1,
        failing=(Failing("ex", "example.org:443", "DNS lookup failed", NOW + 7 * 60),),
    )
    assert (
        "polled 4 feeds: 12 new, 3 matched, 1 alert; 1 failing (example.org:443: DNS lookup "
        "failed, next try in 7m, at 15:47 UTC)" == round_words(summary, NOW)
    )


def test_a_poller_only_round_leaves_out_what_it_cannot_count() -> None:
    """A poller-only process does not match or deliver: no matched or alert counts; past three
    failing feeds the rest are counted; a single pass has no next try."""
    failing = tuple(Failing(f"f{i}", f"h{i}", "connection refused", None) for i in range(5))
    words = round_words(RoundSummary(feeds=1, new=0, failing=failing), NOW)
    assert words.startswith("polled 1 feed: 0 new; 5 failing (h0: connection refused, no next")
    assert words.endswith("; and 2 more)")


async def test_a_round_closes_when_every_feed_was_polled() -> None:
    """The round ends at the last expected feed's poll; its totals are the deltas."""
    told: list[RoundSummary] = []
    counts = iter([(5, 1), (8, 2)])
    rounds = Rounds(told.append, totals=lambda: next(counts))
    rounds.polled("a", new=2, failing=None, expected=["a", "b"])
    assert [] == told
    rounds.polled("b", new=1, failing=None, expected=["a", "b"])
    assert [RoundSummary(feeds=2, new=3, matched=3, alerts=1)] == told


async def test_a_round_closes_after_its_longest_wait() -> None:
    """A feed that is not polled (long backoff) does not hold the round past `max_s`."""
    told: list[RoundSummary] = []
    rounds = Rounds(told.append, max_s=0.05)
    rounds.polled("a", new=0, failing=None, expected=["a", "slow"])
    await asyncio.sleep(0.2)
    assert [RoundSummary(feeds=1, new=0)] == told


def test_on_a_terminal_an_event_reads_as_its_sentence() -> None:
    """`for_people`: the `message` replaces the event and its fields; any string is one line of
    printable text."""
    event = for_people(
        None, "info", {"event": "poll_round", "feeds": 2, "message": "polled\n2\x1b[2J", "x": 1}
    )
    assert {"event": "polled 2\\x1b[2J"} == event
    kept = for_people(None, "info", {"event": "e", "level": "info", "reason": "a\r\nb\x07"})
    assert {"event": "e", "level": "info", "reason": "a b\\x07"} == kept


async def test_lines_waiting_to_settle_never_fall_further_behind() -> None:
    """Articles that never settle (a busy dispatcher): each round's line waits `settle_max_s`
    from its own close, not from the line before's, so five rounds closed together are told
    within about one wait, not five (which would pile up without end under steady load)."""
    told: list[RoundSummary] = []
    never = asyncio.Event()

    async def settle(_: float) -> None:
        await never.wait()

    rounds = Rounds(told.append, settle=settle, settle_max_s=1.0)
    for n in range(5):
        rounds.polled(f"f{n}", new=n, failing=None, expected=[f"f{n}"])
    await asyncio.sleep(2.5)  # one wait and room to spare; chained waits would take 5 s
    assert [0, 1, 2, 3, 4] == [r.new for r in told]
