"""The page extractor, `monitor extract`, and the full-text keys of feeds.yaml."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.feeds.extract import extract_page
from monitor.matching.loader import read_rules_dir
from tests.support.servers import serve
from tests.support.site import Site, article_page

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
BODY = [
    "Kazakhstan and Uzbekistan signed a water-sharing agreement on the Syr Darya on Monday.",
    "The deal, negotiated for three years, sets quotas for the summer irrigation season and"
    " creates a joint commission that will meet every quarter in Tashkent.",
]
PAGE = article_page("Water deal signed", BODY, lang="en-GB")


def test_extract_keeps_the_article_and_drops_the_page_furniture() -> None:
    """Title, declared language and the article's paragraphs; no menu, related links or footer."""
    page = extract_page(PAGE, "https://example.org/news/water")
    assert "Water deal signed" == page.title
    assert "en-gb" == page.language
    assert "joint commission that will meet every quarter in Tashkent" in page.text
    for furniture in ("Subscribe", "Markets rally", "Cookie settings"):
        assert furniture not in page.text


def test_a_selector_takes_exactly_what_it_selects() -> None:
    """`fulltext_selector` (CSS) replaces the extractor's choice."""
    page = extract_page(PAGE, "", "div.story-body p:first-child")
    assert BODY[0] == page.text


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00\xff\xfe", b"<html>", b"%PDF-1.7", b"<?xml version='1.0' encoding='latin-1'?><a/>"],
)
def test_unreadable_pages_have_no_text(body: bytes) -> None:
    """Empty, binary or markup-free bytes give a page without text, never an exception."""
    assert "" == extract_page(body).text


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.text(
            alphabet=st.sampled_from(list("<>/=\"' abcpdivhtmlbody&#;\n\x00é中")), max_size=600
        ).map(str.encode),
    ),
    st.sampled_from([None, "p", "div > p", "*"]),
)
def test_any_bytes_extract_without_error(body: bytes, selector: str | None) -> None:
    """Whatever a page holds, extraction returns a Page with normalized text."""
    page = extract_page(body, "https://example.org/x", selector)
    assert page.text == page.text.strip()
    assert "\n" not in page.title


def run_extract(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "extract", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_extract_command_on_files(tmp_path: Path) -> None:
    """`monitor extract FILE --json` prints one JSON line per input: source, title, language,
    text; an input that gives no text is an error line and exit 1."""
    good, bad = tmp_path / "page.html", tmp_path / "empty.html"
    good.write_bytes(PAGE)
    bad.write_bytes(b"<html><body></body></html>")
    done = run_extract(str(good), str(bad), "--json")
    assert 1 == done.returncode, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert {"source", "title", "language", "text"} == set(first)
    assert (str(good), "Water deal signed", "en-gb") == (
        first["source"],
        first["title"],
        first["language"],
    )
    assert "Syr Darya" in first["text"]
    assert {"source": str(bad), "error": "no article text found on the page"} == second


async def test_extract_command_on_urls_honours_robots() -> None:
    """A URL is fetched as the poller would: a page robots.txt disallows is refused unless
    --ignore-robots; the human output shows title, language and text."""
    site = Site(pages={"a": PAGE})
    async with serve(site.app()) as base:
        site.base = base
        url, private = site.url("/news/a"), site.url("/private/a")
        done = await asyncio.to_thread(run_extract, url, private)
        assert 1 == done.returncode
        assert "== " + url in done.stdout
        assert "title: Water deal signed" in done.stdout
        assert "language: en-gb" in done.stdout
        assert "Syr Darya" in done.stdout
        assert f"{private}: robots.txt disallows it" in done.stderr
        done = await asyncio.to_thread(run_extract, private, "--ignore-robots", "--json")
        assert 0 == done.returncode, done.stderr
        assert "Syr Darya" in json.loads(done.stdout)["text"]
        assert 0 == site.count("/private/a") - 1  # fetched once, only when told to


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ("fulltext: maybe", "`fulltext` must be true, false or auto, not 'maybe'"),
        ('fulltext_selector: "div >> p"', "`fulltext_selector` 'div >> p' is not a CSS selector"),
        ("fulltext_ignore_robots: sometimes", "fulltext_ignore_robots must be true or false"),
    ],
)
def test_bad_fulltext_keys_are_located(tmp_path: Path, keys: str, problem: str) -> None:
    """A wrong full-text setting is a problem at its line of feeds.yaml."""
    (tmp_path / "feeds.yaml").write_text(
        f"feeds:\n  - id: f\n    url: https://example.org/rss\n    {keys}\n"
    )
    _, problems = read_rules_dir(tmp_path)
    assert [(str(tmp_path / "feeds.yaml"), 4)] == [(p.path, p.line) for p in problems]
    assert problem in problems[0].message


def test_fulltext_keys_are_read(tmp_path: Path) -> None:
    """`fulltext: auto`, a selector and ignoring robots reach the feed's settings."""
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n  - {id: f, url: 'https://example.org/rss', fulltext: auto,"
        " fulltext_selector: 'article p', fulltext_ignore_robots: true}\n"
        "  - {id: g, url: 'https://example.org/g', fulltext: true}\n"
        "  - {id: h, url: 'https://example.org/h'}\n"
        "  - {id: i, url: 'https://example.org/i', fulltext: 'Auto'}\n"
    )
    rule_set, problems = read_rules_dir(tmp_path)
    assert [] == problems
    f, g, h, i = rule_set.feeds
    assert ("auto", "article p", True) == (
        f.fulltext,
        f.fulltext_selector,
        f.fulltext_ignore_robots,
    )
    assert ("true", "false", "auto") == (g.fulltext, h.fulltext, i.fulltext)
