"""Read the files `monitor match` is given: feed documents, JSON articles, or lists of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitor.feeds.parse import json_article, parse_feed
from monitor.kernel.errors import FeedParseError, InputError
from monitor.kernel.language import with_languages
from monitor.kernel.models import Article

_ARTICLE_KEYS = ("title", "content")


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
    try:
        return list(parse_feed(body, feed_id=feed_id, url=path.resolve().as_uri()).articles)
    except FeedParseError as exc:
        raise InputError(f"{path}: not a feed or a JSON article: {exc}") from exc


def _json_articles(path: Path, body: bytes, feed_id: str | None) -> list[Article]:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: invalid JSON: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        try:
            return list(
                parse_feed(body, feed_id=feed_id, content_type="application/feed+json").articles
            )
        except FeedParseError as exc:
            raise InputError(f"{path}: {exc}") from exc
    items: list[Any] = data if isinstance(data, list) else [data]
    articles = []
    for index, item in enumerate(items):
        where = f"{path}: item {index}" if isinstance(data, list) else str(path)
        if not isinstance(item, dict):
            raise InputError(f"{where}: an article must be a JSON object")
        for key in (
            "title",
            "summary",
            "content",
            "author",
            "url",
            "feed",
            "language",
            "published",
        ):
            if key in item and item[key] is not None and not isinstance(item[key], str):
                raise InputError(f"{where}: `{key}` must be a string")
        if not any(isinstance(item.get(k), str) and item[k].strip() for k in _ARTICLE_KEYS):
            raise InputError(f"{where}: an article needs `title` or `content`")
        if item.get("feed") is None and feed_id is not None:
            item = {**item, "feed": feed_id}
        articles.append(json_article(item))
    return articles
