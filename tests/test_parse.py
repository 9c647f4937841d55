"""Feed parsing: the feedparser conformance corpus, stable ids, JSON Feed."""

from __future__ import annotations

import email.utils
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.feeds.fastparse import rfc822_date
from monitor.feeds.parse import article_id, parse_feed, parse_with_feedparser
from monitor.feeds.urls import canonical_url
from monitor.kernel.errors import FeedParseError
from tests.conftest import DATA, SEED_FEED

CORPUS = DATA / "feedparser-corpus"
CORPUS_FILES = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".xml", ".json"))
GOFEED = DATA / "gofeed-corpus"  # gofeed's test documents (MIT): see its README.md
GOFEED_FILES = sorted(GOFEED.rglob("*.xml"))


def test_corpus_is_complete() -> None:
    """The copied corpora hold their documents (~2,100 and 441) and their licences."""
    assert len(CORPUS_FILES) > 2100
    assert (CORPUS / "LICENSE").is_file()
    assert 441 == len(GOFEED_FILES)
    assert (GOFEED / "LICENSE").is_file()


def test_every_corpus_document_reads_or_fails_cleanly() -> None:
    """No exception but FeedParseError escapes on any document, and most yield articles."""
    read = failed = articles = 0
    for path in CORPUS_FILES:
        try:
            parsed = parse_feed(path.read_bytes(), feed_id="corpus", url="http://example.org/feed")
        except FeedParseError:
            failed += 1
            continue
        read += 1
        articles += len(parsed.articles)
        for a in parsed.articles:
            assert 32 == len(a.id), path
    assert failed < 20
    assert read + failed == len(CORPUS_FILES)
    assert articles > 1000


def test_no_html_survives_in_article_text() -> None:
    """Sanitizer documents yield text without script or markup tags."""
    for path in sorted((CORPUS / "wellformed" / "sanitize").glob("*.xml")):
        try:
            parsed = parse_feed(path.read_bytes(), feed_id="s")
        except FeedParseError:
            continue
        for a in parsed.articles:
            for text in (a.title, a.summary, a.content):
                assert "<script" not in text.lower(), path


def test_seed_feed_yields_five_articles_with_stable_ids() -> None:
    """The same document parsed twice gives the same ids; tracking parameters do not count."""
    body = SEED_FEED.read_bytes()
    first = parse_feed(body, feed_id="world")
    second = parse_feed(body, feed_id="world")
    assert 5 == len(first.articles)
    assert [a.id for a in first.articles] == [a.id for a in second.articles]
    assert 5 == len({a.id for a in first.articles})
    seed = first.articles[2]
    assert seed.title.startswith("Russia's Belousov")
    assert "unified air defense system" in seed.content
    assert "<p>" not in seed.content
    assert "en" == seed.language
    assert 2025 == (seed.published.year if seed.published else None)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.org:443/a?utm_source=x&b=1#frag", "https://example.org/a?b=1"),
        ("http://example.org", "http://example.org/"),
        ("http://example.org/a?fbclid=1&gclid=2", "http://example.org/a"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    """Ids ignore case of scheme and host, fragments and tracking parameters."""
    assert expected == canonical_url(url)


def test_article_id_rules() -> None:
    """GUIDs are scoped to their feed; links are not; the hash is the last resort."""
    assert article_id("a", guid="1") != article_id("b", guid="1")
    assert article_id("a", link="https://e.org/x?utm_medium=rss") == article_id(
        "b", link="https://e.org/x"
    )
    assert article_id("a", guid="https://e.org/x") == article_id("b", link="https://e.org/x")
    assert article_id("a", title="t", date="d") == article_id("a", title="t", date="d")
    assert article_id("a", title="t", date="d") != article_id("a", title="t", date="e")


def test_json_feed() -> None:
    """JSON Feed items become articles, with HTML content stripped."""
    body = (CORPUS / "json" / "example.json").read_bytes()
    parsed = parse_feed(body, feed_id="j")
    assert 2 == len(parsed.articles)
    assert "post 2" == parsed.articles[0].title


@pytest.mark.parametrize(
    "body",
    [b"", b"plain words", b"<html><body>not a feed</body></html>", b'{"items": 3}', b"{bad json"],
)
def test_not_a_feed(body: bytes) -> None:
    """Documents that are not feeds raise FeedParseError, not anything else."""
    with pytest.raises(FeedParseError):
        parse_feed(body, feed_id="x")


def test_corpus_path_is_inside_tests() -> None:
    """Tests read their own copy of the corpus."""
    assert Path(__file__).parent in CORPUS.parents


def test_cut_off_item_fails_but_missing_root_end_does_not() -> None:
    """A body cut inside an item fails (to be polled again); one cut after its items is read."""
    whole = SEED_FEED.read_bytes()
    cut_in_item = whole[: whole.rindex(b"</item>") - 20]
    cut_after_items = whole[: whole.rindex(b"</channel>")]
    with pytest.raises(FeedParseError, match="truncated"):
        parse_feed(cut_in_item, feed_id="w")
    assert 5 == len(parse_feed(cut_after_items, feed_id="w").articles)


FIXED_TIME = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("files", "lxml", "fallback"),
    [(CORPUS_FILES, 350, 1000), (GOFEED_FILES, 150, 230)],
    ids=["feedparser-corpus", "gofeed-corpus"],
)
def test_fast_path_reads_what_feedparser_reads(files: list[Path], lxml: int, fallback: int) -> None:
    """Where the lxml path reads a corpus document, its articles are feedparser's, field for
    field; the rest falls back to feedparser (counted by `parser`). gofeed's documents were
    written for another parser: nothing but FeedParseError may come out of them either."""
    by_parser: Counter[str] = Counter()
    for path in files:
        body = path.read_bytes()
        try:
            parsed = parse_feed(
                body, feed_id="c", url="http://example.org/f", fetched_at=FIXED_TIME
            )
        except FeedParseError:
            continue
        by_parser[parsed.parser] += 1
        if parsed.parser == "lxml":
            slow = parse_with_feedparser(
                body, feed_id="c", url="http://example.org/f", fetched_at=FIXED_TIME
            )
            assert slow.articles == parsed.articles, path
    assert by_parser["lxml"] > lxml, by_parser
    assert by_parser["feedparser"] > fallback, by_parser


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<rss version='2.0'><channel><item><title>a</item></channel></rss>", "not well-formed"),
        (
            b"<rss version='2.0'><channel><item><link>/rel</link></item></channel></rss>",
            "relative link",
        ),
        (
            b"<?xml version='1.0' encoding='iso-8859-1'?><rss version='2.0'><channel><item>"
            b"<title>caf\xe9</title><link>http://x.org/1</link></item></channel></rss>",
            "not UTF-8",
        ),
        (
            b"<rss version='2.0'><channel><item><link>http://x.org/1</link>"
            b"<description>&lt;script&gt;x()&lt;/script&gt;hi</description></item></channel></rss>",
            "HTML feedparser's sanitizer rewrites",
        ),
    ],
)
def test_fast_path_declines_what_it_cannot_read_as_feedparser_does(body: bytes, why: str) -> None:
    """Documents the fast path declines still parse, through feedparser."""
    parsed = parse_feed(body, feed_id="f")
    assert "feedparser" == parsed.parser, why


def test_fast_path_reads_a_plain_feed() -> None:
    """The seed feed is plain RSS 2.0: lxml reads it, with the same articles as feedparser."""
    body = SEED_FEED.read_bytes()
    fast = parse_feed(body, feed_id="world", fetched_at=FIXED_TIME)
    assert "lxml" == fast.parser
    assert parse_with_feedparser(body, feed_id="world", fetched_at=FIXED_TIME).articles == (
        fast.articles
    )


@given(
    when=st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2100, 1, 1)),  # noqa: DTZ001
    weekday=st.booleans(),
    zone=st.sampled_from(["GMT", "UT", "UTC", "Z", "+0000", "-0500", "+0530", "+1400", "-1200"]),
)
def test_rfc822_dates_read_directly_as_email_utils_reads_them(
    when: datetime, weekday: bool, zone: str
) -> None:
    """The fast path's own reading of the usual RFC 822 shape agrees with the standard one."""
    written = when.strftime(("%a, " if weekday else "") + "%d %b %Y %H:%M:%S ") + zone
    expected = email.utils.parsedate_to_datetime(written).astimezone(UTC)
    assert expected == rfc822_date(written)


def test_html_read_by_the_fast_path_reaches_articles_as_plain_text() -> None:
    """Markup in a description lxml reads (escaped HTML) is stripped: no tag, no handler."""
    body = (
        b"<rss version='2.0'><channel><item><link>http://x.org/1</link><title>a &lt;b&gt;"
        b"bold&lt;/b&gt; title</title><description>&lt;p&gt;Hi &lt;img src=x "
        b"onerror=alert(1)&gt;&lt;iframe src='http://evil.example'&gt;&lt;/iframe&gt;"
        b"&lt;a href='javascript:alert(2)'&gt;there&lt;/a&gt;&lt;/p&gt;</description></item>"
        b"</channel></rss>"
    )
    parsed = parse_feed(body, feed_id="f")
    assert "lxml" == parsed.parser
    (item,) = parsed.articles
    assert ("a bold title", "Hi there") == (item.title, item.summary)
