"""A careless or hostile `kind:` in feeds.yaml: any value is a problem on its line (or the one
kind it names), never a traceback, and never a kind the registry does not hold."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.feeds.sources import SOURCES
from monitor.feeds.spec import parse_feed_file
from monitor.kernel.located import LocDict, LocList

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def _file(kind: object) -> LocDict:
    feed = LocDict({"id": "a", "url": "https://example.org/rss", "kind": kind})
    feed.line = 2
    feeds = LocList([feed])
    feeds.line = 2
    top = LocDict({"feeds": feeds})
    top.line = 1
    return top


@settings(max_examples=EXAMPLES, deadline=None)
@given(values | st.sampled_from([*SOURCES, "FEED", " feed", "feed\n", "../feed"]))
def test_any_kind_is_a_located_problem_or_a_registered_kind(kind: object) -> None:
    feeds, problems = parse_feed_file("feeds.yaml", _file(kind))
    if feeds:
        assert [] == problems
        assert feeds[0].kind in SOURCES
        assert feeds[0].kind == kind
    else:
        assert problems
        assert all(p.path == "feeds.yaml" and p.line >= 1 for p in problems)
        assert any("kind" in p.message for p in problems)
