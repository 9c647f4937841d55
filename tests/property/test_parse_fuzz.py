"""Fuzzing the feed parser: for any bytes, `parse_feed` returns articles or raises
FeedParseError, never anything else (`make fuzz` runs these longer)."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.feeds.parse import ParsedFeed, parse_feed
from monitor.kernel.errors import FeedParseError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
PROFILE = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

JSON_FEED = "https://jsonfeed.org/version/1.1"


def parses_or_refuses(body: bytes, content_type: str = "") -> ParsedFeed | None:
    try:
        return parse_feed(body, feed_id="fuzz", content_type=content_type)
    except FeedParseError:
        return None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
ITEM_KEYS = [
    "id", "url", "external_url", "title", "summary", "content_html", "content_text",
    "date_published", "authors", "author", "tags", "language", "link", "published", "feed",
]  # fmt: skip
json_items = st.dictionaries(st.sampled_from(ITEM_KEYS), json_values, max_size=8)


@PROFILE
@given(st.binary(max_size=2000))
@example(b"{" + b'"items":[' + b"[" * 100_000)
@example(b"<rss>" + b"<a>" * 50_000)
def test_any_bytes(body: bytes) -> None:
    """Arbitrary bytes: articles or FeedParseError."""
    parses_or_refuses(body)


@PROFILE
@given(st.lists(json_items, max_size=5), json_values)
@example([{"id": "1", "title": "x", "authors": 7}], None)
@example([{"id": "1", "title": "x", "tags": 5}], None)
@example([{"id": "1", "title": "x", "authors": [{"name": 5}]}], None)
def test_any_json_feed(items: list[dict[str, object]], title: object) -> None:
    """A JSON Feed whose fields hold values of any type: every object item is read (fields of
    the wrong type as absent), and nothing but FeedParseError is raised."""
    doc = {"version": JSON_FEED, "title": title, "items": items}
    parsed = parse_feed(json.dumps(doc).encode(), feed_id="fuzz")
    assert len(items) == len(parsed.articles)


@PROFILE
@given(json_values)
def test_any_json_document(doc: object) -> None:
    """Any JSON document: articles or FeedParseError."""
    parses_or_refuses(json.dumps(doc).encode(), "application/feed+json")


TAGS = ["rss", "channel", "item", "title", "link", "guid", "description", "pubDate", "feed",
        "entry", "id", "updated", "content", "summary", "author", "name", "category"]  # fmt: skip
xml_nodes = st.recursive(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="<&"), max_size=20),
    lambda children: st.tuples(st.sampled_from(TAGS), st.lists(children, max_size=4)).map(
        lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"
    ),
    max_leaves=25,
)


@PROFILE
@given(xml_nodes, st.sampled_from(["", ' version="2.0"']))
def test_any_xml_document(inner: str, version: str) -> None:
    """XML documents of feed elements nested any way: articles or FeedParseError."""
    for root in (
        f"<rss{version}>{inner}</rss>",
        f'<feed xmlns="http://www.w3.org/2005/Atom">{inner}</feed>',
    ):
        parses_or_refuses(root.encode())


def test_a_malformed_json_feed_item_keeps_its_good_fields() -> None:
    """`authors: 7` does not cost the item its title: the bad field alone is ignored."""
    body = b'{"version":"' + JSON_FEED.encode() + b'","items":[{"id":"1","title":"x","authors":7}]}'
    (item,) = parse_feed(body, feed_id="f").articles
    assert ("x", "") == (item.title, item.author)


def test_deep_json_is_a_parse_error() -> None:
    """100,000 nested lists are refused as a parse error, not a RecursionError."""
    with pytest.raises(FeedParseError, match="nested too deeply"):
        parse_feed(b'{"items":[' + b"[" * 100_000, feed_id="f")
