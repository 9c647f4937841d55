"""Feed health over any sequence of polls and checks (`make fuzz` runs it longer): events come
in order (a "recovered" only after a "failing" or "silent", never the same alert twice in a
row), a failing feed is told within a check of passing `failing_after`, and nothing is told
of a feed that never failed and always published."""

from __future__ import annotations

import itertools
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.feeds.health import FAILING, RECOVERED, SILENT, Health, due, observed

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
AFTER_S, EVERY_S = 3600.0, 6 * 3600.0
steps = st.lists(
    st.tuples(
        st.integers(0, 3 * 3600 * 1000),  # ms since the last step
        st.sampled_from(["fail", "ok", "new", "check"]),
    ),
    max_size=60,
)


def replay(seq: list[tuple[int, str]], expect_every_s: float | None) -> list[tuple[str, int]]:
    h, now, told = Health(feed_id="f", last_new_ms=0), 0, []
    failing_since: int | None = None
    for gap, what in seq:
        now += gap
        if what != "check":
            h = observed(h, ok=what != "fail", new=int(what == "new"), reason="r", now_ms=now)
            if what == "fail" and failing_since is None:
                failing_since = now
            elif what != "fail":
                failing_since = None
        h, event = due(h, failing_after_s=AFTER_S, expect_every_s=expect_every_s, now_ms=now)
        if event is not None:
            told.append((event.kind, now))
        if failing_since is not None and now - failing_since >= AFTER_S * 1000:
            assert h.alerted == FAILING  # told by now, or before
    return told


@settings(max_examples=EXAMPLES, deadline=None)
@given(seq=steps, every=st.sampled_from([None, EVERY_S]))
def test_events_come_in_order(seq: list[tuple[int, str]], every: float | None) -> None:
    """Only these follow one another: nothing is said twice, a recovery follows a problem."""
    kinds = [k for k, _ in replay(seq, every)]
    allowed = {
        (FAILING, RECOVERED),
        (SILENT, RECOVERED),
        (SILENT, FAILING),  # a silent feed that then fails
        (RECOVERED, FAILING),
        (RECOVERED, SILENT),
    }
    for pair in itertools.pairwise(kinds):
        assert pair in allowed, kinds
    assert not kinds or kinds[0] in (FAILING, SILENT)
    if every is None:
        assert SILENT not in kinds


@settings(max_examples=EXAMPLES, deadline=None)
@given(gaps=st.lists(st.integers(0, 3 * 3600 * 1000), max_size=40))
def test_a_healthy_feed_is_never_told_of(gaps: list[int]) -> None:
    """Polls that always succeed with news, however far apart: nothing (no expect_every)."""
    assert [] == replay([(g, "new") for g in gaps], None)
