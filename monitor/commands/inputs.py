"""Read the files `monitor match` is given: feed documents, HTML pages, JSON articles, lists of
them, or what `monitor extract --json` prints (one object a line, its `text` read as content).

An HTML page is read as `monitor extract` reads a file: its main text through the page extractor
(`monitor.feeds.extract`), in a worker process with the default `fulltext:` limits, so a page
that runs away fails with a reason instead of hanging the command.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Final

from monitor.feeds.extract import EXTRA_HINT, Page, available
from monitor.feeds.fulltext import PageFailed, extract_in, page_sandbox
from monitor.feeds.parse import json_article, parse_feed
from monitor.feeds.settings import FulltextConfig
from monitor.kernel.errors import FeedParseError, InputError
from monitor.kernel.language import with_languages
from monitor.kernel.models import Article, make_article

_ARTICLE_KEYS: Final = ("title", "content", "text")  # `text`: `monitor extract --json`'s
_STRING_KEYS: Final = (
    *("title", "summary", "content", "text", "author", "url", "source"),
    *("feed", "language", "published", "error"),
)
_HTML_SUFFIXES: Final = (".html", ".htm", ".xhtml")
_SNIFF_BYTES: Final = 4096
ACCEPTED: Final = (
    "a feed (RSS, Atom, RDF, JSON Feed), an HTML page, a JSON article or a list of them, "
    "or `monitor extract --json` output"
)


def read_articles(path: Path, *, feed_id: str | None = None) -> list[Article]:
    """Read one input file into articles, each with its language settled as the poller settles
    it; raise `InputError` naming the file and the reason."""
    return with_languages(_read(path, feed_id))


def _read(path: Path, feed_id: str | None) -> list[Article]:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"{", b"["):
        return _json_articles(path, body, feed_id)
    if is_html(path, stripped):
        return [_html_article(path, body, feed_id)]
    try:
        return list(parse_feed(body, feed_id=feed_id, url=path.resolve().as_uri()).articles)
    except FeedParseError as exc:
        if not stripped.startswith(b"<"):  # no markup at all: a parser's words would not help
            raise InputError(f"{path}: not {ACCEPTED}") from exc
        raise InputError(f"{path}: not {ACCEPTED}: {exc}") from exc


def is_html(path: Path, head: bytes) -> bool:
    """Whether a file is an HTML page rather than a feed: its first tag of note is `<html` or an
    HTML doctype (before any `<rss`, `<feed` or `<rdf`), or, with none of them, its name ends in
    .html or .htm."""
    low = head[:_SNIFF_BYTES].lower()

    def first(*tags: bytes) -> int:
        found = [i for i in (low.find(t) for t in tags) if i >= 0]
        return min(found) if found else -1

    page = first(b"<html", b"<!doctype html")
    feed = first(b"<rss", b"<feed", b"<rdf")
    if page >= 0 and (feed < 0 or page < feed):
        return True
    return feed < 0 and path.suffix.lower() in _HTML_SUFFIXES


def _html_article(path: Path, body: bytes, feed_id: str | None) -> Article:
    if not available():
        raise InputError(f"{path}: an HTML page is read through the page extractor: {EXTRA_HINT}")
    try:
        page = asyncio.run(_extract(body))
    except PageFailed as exc:
        raise InputError(f"{path}: the page extractor failed: {exc} ({exc.result})") from exc
    if not page.text:
        raise InputError(f"{path}: no article text found on the page")
    return make_article(
        id=path.resolve().as_uri(),
        feed=feed_id,
        title=page.title,
        content=page.text,
        language=page.language,
    )


async def _extract(body: bytes) -> Page:
    sandbox = page_sandbox(FulltextConfig())
    try:
        return await extract_in(sandbox, body, "", None)
    finally:
        sandbox.close()


def _json_articles(path: Path, body: bytes, feed_id: str | None) -> list[Article]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: invalid JSON: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise InputError(f"{path}: invalid JSON: {exc}") from exc
        return _json_lines(path, text, feed_id)
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        try:
            return list(
                parse_feed(body, feed_id=feed_id, content_type="application/feed+json").articles
            )
        except FeedParseError as exc:
            raise InputError(f"{path}: {exc}") from exc
    if isinstance(data, list):
        return [_json_article(f"{path}: item {i}", item, feed_id) for i, item in enumerate(data)]
    return [_json_article(str(path), data, feed_id)]


def _json_lines(path: Path, text: str, feed_id: str | None) -> list[Article]:
    """JSON Lines, as `monitor extract --json` prints for more than one page."""
    articles = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: line {number}: invalid JSON: {exc}") from exc
        articles.append(_json_article(f"{path}: line {number}", item, feed_id))
    return articles


def _json_article(where: str, item: object, feed_id: str | None) -> Article:
    if not isinstance(item, dict):
        raise InputError(f"{where}: an article must be a JSON object")
    for key in _STRING_KEYS:
        if key in item and item[key] is not None and not isinstance(item[key], str):
            raise InputError(f"{where}: `{key}` must be a string")
    if "error" in item and "text" not in item:
        source = item.get("source") or "the page"
        raise InputError(f"{where}: `monitor extract` read no text from {source}: {item['error']}")
    if not any(isinstance(item.get(k), str) and item[k].strip() for k in _ARTICLE_KEYS):
        raise InputError(f"{where}: an article needs `title`, `content` or `text`")
    if "text" in item:
        item = _from_extract(item)
    if item.get("feed") is None and feed_id is not None:
        item = {**item, "feed": feed_id}
    return json_article(item)


def _from_extract(item: dict[str, Any]) -> dict[str, Any]:
    """A `monitor extract --json` record as a JSON article: its `text` is the content, and its
    `source` (a URL or a file) names it."""
    source = item.get("source") or ""
    found = {k: v for k, v in item.items() if k not in ("text", "source")}
    found.setdefault("content", item["text"])
    if source.startswith(("http://", "https://")):
        found.setdefault("url", source)
    elif source:
        found.setdefault("id", source)
    return found
