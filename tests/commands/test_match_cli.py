"""`monitor match`: the dry run users test watches with, through the real command."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA, SEED_FEED, SEED_JSON


def monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], capture_output=True, text=True, check=False
    )


def test_seed_json_reports_cis_watch_with_evidence(shipped_rules: Path) -> None:
    """The seed article as a JSON article matches the CIS watch, with evidence."""
    done = monitor("match", "--rules", str(shipped_rules), str(SEED_JSON))
    assert 0 == done.returncode, done.stderr
    assert "MATCH cis-defense-cooperation [high]" in done.stdout
    assert 'term "CIS" in title' in done.stdout
    assert "entity andrei-belousov in title" in done.stdout
    assert 'term "air defense" in content' in done.stdout
    assert done.stdout.rstrip().endswith("1 article(s), 1 matched, 1 match(es)")


def test_seed_feed_json_output(shipped_rules: Path) -> None:
    """In a feed of five items only the seed matches; --json prints one object per match."""
    done = monitor("match", "--json", "--rules", str(shipped_rules), str(SEED_FEED))
    assert 0 == done.returncode, done.stderr
    lines = done.stdout.splitlines()
    assert 1 == len(lines)
    record = json.loads(lines[0])
    assert "cis-defense-cooperation" == record["rule"]
    assert record["title"].startswith("Russia's Belousov Pins")
    assert record["url"].startswith("https://example.org/news/seed-cis-defense-2025.html")
    kinds = {(e["kind"], e["value"]) for e in record["evidence"]}
    assert {("term", "CIS"), ("entity", "andrei-belousov")} <= kinds
    assert all(e["snippet"] and e["field"] for e in record["evidence"])


def test_no_match_still_exits_zero(shipped_rules: Path, tmp_path: Path) -> None:
    """An article nothing matches is a successful run."""
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"title": "Central bank holds rates"}))
    done = monitor("match", "--rules", str(shipped_rules), str(path))
    assert 0 == done.returncode
    assert "1 article(s), 0 matched, 0 match(es)" in done.stdout


def test_list_of_articles_and_json_feed(shipped_rules: Path, tmp_path: Path) -> None:
    """A JSON list of articles and a JSON Feed document are both read."""
    seed = json.loads(SEED_JSON.read_text(encoding="utf-8"))
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"title": "nothing here"}, seed]))
    feed = tmp_path / "feed.json"
    feed.write_text(
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "t",
                "items": [
                    {"id": "1", "title": seed["title"], "content_text": seed["content"]},
                    {"id": "2", "title": "Weather"},
                ],
            }
        )
    )
    done = monitor("match", "--json", "--rules", str(shipped_rules), str(listed), str(feed))
    assert 0 == done.returncode, done.stderr
    assert ["cis-defense-cooperation"] * 2 == [
        json.loads(x)["rule"] for x in done.stdout.splitlines()
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "invalid JSON"),
        ('{"summary": "no title or content"}', "an article needs `title`, `content` or `text`"),
        ('{"title": 5}', "`title` must be a string"),
        ("plain text, not a feed", "not a feed (RSS, Atom, RDF, JSON Feed), an HTML page"),
    ],
)
def test_unreadable_input_exits_2(
    shipped_rules: Path, tmp_path: Path, content: str, reason: str
) -> None:
    """Input that is not an article or a feed exits 2 naming the file and the reason."""
    path = tmp_path / "bad.json"
    path.write_text(content)
    done = monitor("match", "--rules", str(shipped_rules), str(path))
    assert 2 == done.returncode
    assert str(path) in done.stderr
    assert reason in done.stderr


def test_missing_input_exits_2(shipped_rules: Path, tmp_path: Path) -> None:
    """A file that does not exist exits 2."""
    done = monitor("match", "--rules", str(shipped_rules), str(tmp_path / "missing.json"))
    assert 2 == done.returncode
    assert "cannot read" in done.stderr


def test_invalid_rules_exit_2(tmp_path: Path) -> None:
    """Invalid rules exit 2 with the FILE:LINE reason on stderr."""
    (tmp_path / "r.yaml").write_text("rules:\n  - id: a\n    match: {any: ['/(/']}\n")
    done = monitor("match", "--rules", str(tmp_path), str(SEED_JSON))
    assert 2 == done.returncode
    assert f"{tmp_path}/r.yaml:3: bad regular expression" in done.stderr


def test_feed_filter_uses_feed_option(tmp_path: Path) -> None:
    """--feed says which feed a document stands for, so `feeds:` filters apply."""
    (tmp_path / "feeds.yaml").write_text(
        'feeds:\n  - {id: world, url: "https://e.org/w"}\n  - {id: sport, url: "https://e.org/s"}\n'
    )
    (tmp_path / "r.yaml").write_text("rules:\n  - {id: a, match: {any: [CIS]}, feeds: [world]}\n")
    world = monitor("match", "--feed", "world", "--rules", str(tmp_path), str(SEED_FEED))
    sport = monitor("match", "--feed", "sport", "--rules", str(tmp_path), str(SEED_FEED))
    unknown = monitor("match", "--rules", str(tmp_path), str(SEED_FEED))
    assert "2 matched" in world.stdout
    assert "0 matched" in sport.stdout
    assert "2 matched" in unknown.stdout
    assert "feeds:` filters ignored" in unknown.stderr


def test_data_dir_exists() -> None:
    """The fixtures this module uses are in the repository, not in ../shared."""
    assert SEED_JSON.is_file()
    assert SEED_FEED.is_file()
    assert DATA in SEED_JSON.parents


def seed_page() -> str:
    """The seed article as a news site's page: menus and a footer around the article."""
    seed = json.loads(SEED_JSON.read_text(encoding="utf-8"))
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in seed["content"].split(". "))
    return (
        f'<!doctype html><html lang="en"><head><title>{html.escape(seed["title"])}</title>'
        '</head><body><nav><a href="/">Home</a> <a href="/sport">Sport</a></nav>'
        f"<article><h1>{html.escape(seed['title'])}</h1>{paragraphs}</article>"
        "<footer>Copyright. Football results every Sunday.</footer></body></html>"
    )


def test_an_html_page_is_read_through_the_extractor(shipped_rules: Path, tmp_path: Path) -> None:
    """`match page.html` reads the page's main text as `extract` does, and the seed matches
    (it failed with SAXParseException: the page was read as a feed)."""
    page = tmp_path / "page.html"
    page.write_text(seed_page(), encoding="utf-8")
    done = monitor("match", "--rules", str(shipped_rules), str(page))
    assert 0 == done.returncode, done.stderr
    assert "MATCH cis-defense-cooperation [high]" in done.stdout
    assert done.stdout.rstrip().endswith("1 article(s), 1 matched, 1 match(es)")


def test_extract_json_output_is_read(shipped_rules: Path, tmp_path: Path) -> None:
    """`extract --json page.html > a.json; match a.json` matches what `match page.html` does
    (it gave "0 matched": `text` was not read), for one page and for several (JSON Lines)."""
    page = tmp_path / "page.html"
    page.write_text(seed_page(), encoding="utf-8")
    other = tmp_path / "other.html"
    other.write_text(
        "<html><body><article><p>"
        + "The central bank held its rates again on Thursday, as expected. " * 8
        + "</p></article></body></html>"
    )
    for pages, articles in (([page], 1), ([page, other], 2)):
        extracted = monitor("extract", "--json", *map(str, pages))
        assert 0 == extracted.returncode, extracted.stderr
        output = tmp_path / "a.json"
        output.write_text(extracted.stdout, encoding="utf-8")
        done = monitor("match", "--rules", str(shipped_rules), str(output))
        assert 0 == done.returncode, done.stderr
        assert "MATCH cis-defense-cooperation [high]" in done.stdout
        assert f"{articles} article(s), 1 matched, 1 match(es)" in done.stdout


def test_an_extract_failure_line_is_named(shipped_rules: Path, tmp_path: Path) -> None:
    """A line where `extract` read no text is an input error naming the line and the page."""
    path = tmp_path / "a.json"
    path.write_text(
        json.dumps({"source": "a.html", "title": "t", "language": "en", "text": "words"})
        + "\n"
        + json.dumps({"source": "b.html", "error": "no article text found on the page"})
        + "\n"
    )
    done = monitor("match", "--rules", str(shipped_rules), str(path))
    assert 2 == done.returncode
    assert f"{path}: line 2: `monitor extract` read no text from b.html" in done.stderr
