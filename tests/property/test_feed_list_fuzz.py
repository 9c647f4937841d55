"""Fuzzing what `monitor feeds` reads and writes (`make fuzz` runs these longer):

- any bytes as OPML give feeds or `InputError`, nothing else;
- any feeds appended to a feeds.yaml read back exactly as given, the file's lines before them
  unchanged, whatever their ids, URLs, tags and titles hold;
- any bytes as a page give candidate feeds or none, never an error.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.feeds.discover import feed_links
from monitor.feeds.feedsfile import NewFeed, append_feeds
from monitor.feeds.opml import read_opml
from monitor.feeds.spec import parse_feed_file
from monitor.kernel.errors import InputError
from monitor.kernel.yamlfile import parse_yaml
from tests.conftest import ROOT

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
PROFILE = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SHIPPED = (ROOT / "rules" / "feeds.yaml").read_text()

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True)
words = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)
urls = st.builds(
    lambda host, path, query: f"https://{host}.test/{path}" + (f"?{query}" if query else ""),
    st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
    st.text(
        st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="#?"), max_size=20
    ),
    st.text(
        st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="#"), max_size=10
    ),
)
tags = st.lists(
    st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=10), max_size=3
)


@PROFILE
@given(st.binary(max_size=2000))
@example(b"<opml><body><outline xmlUrl='http://x.test/'/></body></opml>")
@example(b"<?xml version='1.0'?><!DOCTYPE opml [<!ENTITY e SYSTEM 'file:///etc/hostname'>]><opml/>")
def test_any_bytes_as_opml_give_feeds_or_input_error(data: bytes) -> None:
    try:
        feeds = read_opml(data, "f.opml")
    except InputError as exc:
        refused = str(exc)
    else:
        refused = "f.opml"
        assert all(f.url for f in feeds)
    assert refused.startswith("f.opml")


@PROFILE
@given(
    st.lists(
        st.builds(NewFeed, id=ids, url=urls, tags=tags.map(tuple), title=words),
        min_size=1,
        max_size=4,
        unique_by=lambda f: f.id,
    ),
    st.sampled_from(
        [SHIPPED, "", "feeds: []\n", "# comment\nfeeds:\n- id: x0\n  url: http://a.test/\n"]
    ),
)
@example(
    [NewFeed("yes", "https://a.test/x: y #z", ("no", "1.5", "#t", "a,b"), "a\nb # c")], SHIPPED
)
@example([NewFeed("on", "https://a.test/?:", ("x:",), "\x1b")], SHIPPED)
@example([NewFeed("2024-01-01", "https://a.test/", ("0x1f", "1:30", "1e3", "0o17"), "")], SHIPPED)
def test_appended_feeds_read_back_as_given(new: list[NewFeed], text: str) -> None:
    new = [f for f in new if f.id != "x0"]
    edited = append_feeds(text, new)
    kept = [line for line in text.splitlines() if line.strip() and line.strip() != "feeds: []"]
    assert edited.splitlines()[: len(kept)] == kept or text.startswith("feeds: []")
    data, problems = parse_yaml(edited, "feeds.yaml")
    assert [] == problems
    feeds, problems = parse_feed_file("feeds.yaml", data)
    assert [] == problems
    read = {f.id: (f.url, f.tags) for f in feeds}
    for feed in new:
        assert (feed.url, tuple(t.strip() for t in feed.tags if t.strip())) == read[feed.id]


@PROFILE
@given(st.binary(max_size=2000) | words.map(str.encode))
@example(b'<link rel="alternate" type="application/rss+xml" href="http://[::1">')
def test_any_page_gives_candidates_or_none(html: bytes) -> None:
    for candidate in feed_links(html, "http://site.test/"):
        assert candidate.url.startswith(("http://", "https://"))
