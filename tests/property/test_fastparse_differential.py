"""The lxml fast path against feedparser on generated documents, beyond the corpus in
tests/data: wherever the fast path reads a document, its articles are feedparser's."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.feeds.parse import parse_feed, parse_with_feedparser
from monitor.kernel.errors import FeedParseError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
PROFILE = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FIXED = datetime(2026, 1, 1, tzinfo=UTC)

TEXTS = st.sampled_from(
    [
        "x",
        "Ünïcode café",
        "a &amp; b",
        "&lt;b&gt;bold&lt;/b&gt; text",
        "  padded  ",
        "",
        "1 &lt; 2",
        "&#146;quoted&#148;",
        "&lt;p&gt;para&lt;/p&gt;&lt;p&gt;two&lt;/p&gt;",
        "&lt;a href='http://x.org'&gt;l&lt;/a&gt;",
        "&amp;nbsp;",
        "<![CDATA[<b>c</b>]]>",
    ]
)
URLS = st.sampled_from(
    [
        "http://example.com/a",
        "https://example.com/b?utm_source=x",
        "HTTP://EXAMPLE.COM/C",
        "abc-123",
        "tag:example.com,2026:1",
        "at://did:plc:x/app.bsky.feed.post/1",
        "/relative",
        "http://example.com/a b",
        "https://例え.jp/パス",
        "javascript:alert(1)",
        "http://example.com/a#frag",
        "http://example.com:80/p",
        "",
    ]
)
ATTRS = st.sampled_from(
    ["", ' isPermaLink="true"', ' isPermaLink="false"', ' isPermaLink="True"', ' isPermaLink=""']
)
LINK_ATTRS = st.sampled_from(["", ' uri="at://x/1"', ' rel="alternate"', ' href="http://x.org/h"'])
DATES = st.sampled_from(
    ["Sat, 28 Nov 2026 09:30:00 +0000", "28 Nov 2026 09:30:00 GMT", "2026-11-28", "garbage", ""]
)
ISO = st.sampled_from(["2026-11-28T09:30:00Z", "2026-11-28T09:30:00+02:00", "2026-11-28", "x"])


def element(
    tag: str, attrs: st.SearchStrategy[str], text: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    """`<tag attrs>text</tag>`, drawn."""
    return st.tuples(attrs, text).map(lambda p: f"<{tag}{p[0]}>{p[1]}</{tag}>")


NONE = st.just("")
RSS_ELEMENTS = [
    element("title", NONE, TEXTS),
    element("link", LINK_ATTRS, URLS),
    element("guid", ATTRS, URLS),
    element("description", NONE, TEXTS),
    element("pubDate", NONE, DATES),
    element("category", NONE, TEXTS),
    element("author", NONE, TEXTS),
]
ATOM_ELEMENTS = [
    element("title", st.sampled_from(["", ' type="text"', ' type="html"']), TEXTS),
    element("updated", NONE, ISO),
    element("summary", NONE, TEXTS),
]


@st.composite
def some_of(draw: st.DrawFn, elements: list[st.SearchStrategy[str]]) -> list[str]:
    """Each element or not, in any order."""
    chosen = [draw(e) for e in elements if draw(st.booleans())]
    return draw(st.permutations(chosen))


@st.composite
def rss_items(draw: st.DrawFn) -> str:
    return "<item>" + "".join(draw(some_of(RSS_ELEMENTS))) + "</item>"


@st.composite
def atom_entries(draw: st.DrawFn) -> str:
    parts = [f"<id>{draw(URLS)}</id>", *draw(some_of(ATOM_ELEMENTS))]
    extra = draw(st.sampled_from(["", ' rel="alternate"', ' uri="at://x/1"', ' type="text/html"']))
    parts.append(f'<link href="{draw(URLS)}"{extra}/>')
    return "<entry>" + "".join(draw(st.permutations(parts))) + "</entry>"


def assert_same(body: bytes) -> None:
    try:
        parsed = parse_feed(body, feed_id="c", url="http://example.org/f", fetched_at=FIXED)
    except FeedParseError:
        return
    if parsed.parser != "lxml":
        return
    slow = parse_with_feedparser(body, feed_id="c", url="http://example.org/f", fetched_at=FIXED)
    assert slow.articles == parsed.articles


@PROFILE
@given(st.lists(rss_items(), min_size=1, max_size=3))
@example(['<item><title>x</title><guid isPermaLink="True">http://example.com/g</guid></item>'])
@example(['<item><title>x</title><link uri="at://did/abc">http://example.com/item</link></item>'])
def test_rss_reads_as_feedparser_reads(items: list[str]) -> None:
    """Generated RSS 2.0 items: the fast path agrees with feedparser, or declines."""
    body = f'<rss version="2.0"><channel><title>t</title>{"".join(items)}</channel></rss>'
    assert_same(body.encode())


@PROFILE
@given(st.lists(atom_entries(), min_size=1, max_size=3))
@example(
    ['<entry><title>x</title><id>1</id><link href="http://example.com/a" uri="at://x"/></entry>']
)
def test_atom_reads_as_feedparser_reads(entries: list[str]) -> None:
    """Generated Atom 1.0 entries: the fast path agrees with feedparser, or declines."""
    body = f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{"".join(entries)}</feed>'
    assert_same(body.encode())
