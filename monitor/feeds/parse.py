"""Turn a feed document (RSS, Atom, RDF, CDF or JSON Feed) into normalized Articles.

Pure: bytes in, Articles out. Plain, well-formed RSS and Atom go through lxml
(`monitor.feeds.fastparse`, an order of magnitude faster); everything else, and anything that
path declines, through feedparser, which reads anything. JSON Feed (which feedparser 6 does
not read) is read here. Every failure becomes a `FeedParseError` naming the reason.

An article's id is stable across polls and restarts: a hash of the entry's GUID (scoped to the
feed, since GUIDs are only unique within one), or of its canonical link (tracking parameters
removed, so the same story from two feeds is one article), or of its title and date.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import re
import time
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.feeds.fastparse import Entry, fast_parse, site
from monitor.feeds.urls import canonical_url
from monitor.kernel.errors import FeedParseError
from monitor.kernel.models import Article, make_article
from monitor.kernel.text import plural

_ITEM_OPEN_RE = re.compile(rb"<(?:item|entry)[\s>/]")


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one document yielded. `warning` says why a document was read despite flaws."""

    articles: tuple[Article, ...]
    title: str = ""
    warning: str | None = None
    parser: str = "feedparser"  # which parser read it: lxml, feedparser or json
    link: str = ""  # the site's home page, when the document names one (absolute http(s))


def article_id(
    feed_id: str | None, *, guid: str = "", link: str = "", title: str = "", date: str = ""
) -> str:
    """Return the stable id of an entry (see the module docstring)."""
    guid, link = guid.strip(), link.strip()
    if guid and guid.lower().startswith(("http://", "https://")):
        key = "url\0" + canonical_url(guid)
    elif guid:
        key = f"guid\0{feed_id or ''}\0{guid}"
    elif link:
        key = "url\0" + canonical_url(link)
    else:
        key = f"hash\0{feed_id or ''}\0{title.strip()}\0{date}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def shared_guid(guid: str) -> str:
    """The guid an Article keeps for story folding: a non-URL guid (an agency's item id that
    copies in other feeds may carry). A URL guid is the article's id already."""
    guid = guid.strip()
    return "" if guid.lower().startswith(("http://", "https://")) else guid


def parse_feed(
    body: bytes,
    *,
    feed_id: str | None,
    url: str = "",
    content_type: str = "",
    fetched_at: datetime | None = None,
) -> ParsedFeed:
    """Parse a feed document; raise `FeedParseError`, and nothing else, for any bytes.

    A fault of a parser on a hostile document (deep nesting, a value of the wrong type that a
    reader missed) is the feed's failure, not the caller's: it becomes a `FeedParseError`
    naming the exception, so one feed can never stop the poller.
    """
    try:
        return _parse_feed(
            body, feed_id=feed_id, url=url, content_type=content_type, fetched_at=fetched_at
        )
    except FeedParseError:
        raise
    except RecursionError as exc:
        raise FeedParseError("the document is nested too deeply to read") from exc
    except Exception as exc:  # a parser's bug must not become the poller's crash
        raise FeedParseError(f"the parser failed: {type(exc).__name__}: {exc}"[:300]) from exc


def _parse_feed(
    body: bytes,
    *,
    feed_id: str | None,
    url: str,
    content_type: str,
    fetched_at: datetime | None,
) -> ParsedFeed:
    if not body.strip():
        raise FeedParseError("empty document")
    if _looks_like_json(body, content_type):
        return _parse_json_feed(body, feed_id=feed_id, fetched_at=fetched_at)
    fast = fast_parse(body, content_type)
    if fast is not None:
        return ParsedFeed(
            articles=tuple(
                _from_fast(e, feed_id=feed_id, fetched_at=fetched_at) for e in fast.entries
            ),
            title=fast.title,
            parser="lxml",
            link=fast.link,
        )
    return parse_with_feedparser(
        body, feed_id=feed_id, url=url, content_type=content_type, fetched_at=fetched_at
    )


def parse_with_feedparser(
    body: bytes,
    *,
    feed_id: str | None,
    url: str = "",
    content_type: str = "",
    fetched_at: datetime | None = None,
) -> ParsedFeed:
    """Parse an XML feed document with feedparser, the path for every document."""
    headers = {"content-location": url} if url else {}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as exc:
        raise FeedParseError(f"feedparser failed: {type(exc).__name__}: {exc}") from exc
    entries = parsed.get("entries") or []
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if _truncated(body, bozo):
        # A cut-off body would publish its last item half-written, and the whole item, seen
        # later under the same id, would then be skipped as old: fail and poll again instead.
        raise FeedParseError(f"truncated document (its last item is not closed): {bozo}")
    if not entries and not parsed.get("version"):
        reason = (
            f"{type(bozo).__name__}: {bozo}" if bozo is not None else "no RSS, Atom or RDF root"
        )
        raise FeedParseError(f"not a feed: {reason}")
    feed = parsed.get("feed") or {}
    language = feed.get("language") or None
    articles = tuple(
        _from_entry(e, feed_id=feed_id, language=language, fetched_at=fetched_at) for e in entries
    )
    warning = f"{type(bozo).__name__}: {bozo}" if bozo is not None else None
    return ParsedFeed(
        articles=articles,
        title=str(feed.get("title") or ""),
        warning=warning,
        link=site(feed.get("link")),
    )


def _truncated(body: bytes, bozo: object) -> bool:
    """An XML error, and the last item or entry was opened but never closed.

    Documents cut between items (or missing only the root's end tag) lose nothing: their
    complete items are read. NULs are dropped so UTF-16 and UTF-32 bodies compare as ASCII.
    """
    if not isinstance(bozo, xml.sax.SAXParseException):
        return False
    text = body.replace(b"\x00", b"").lower()
    opened = max((m.start() for m in _ITEM_OPEN_RE.finditer(text)), default=-1)
    closed = max(text.rfind(b"</item>"), text.rfind(b"</entry>"))
    return opened > closed


def _looks_like_json(body: bytes, content_type: str) -> bool:
    if "json" in content_type.lower():
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _struct_time(value: object) -> datetime | None:
    if isinstance(value, time.struct_time):
        try:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
        except (OverflowError, ValueError, OSError):
            return None
    return None


def _from_entry(
    entry: dict[str, Any],  # a FeedParserDict
    *,
    feed_id: str | None,
    language: str | None,
    fetched_at: datetime | None,
) -> Article:
    title = str(entry.get("title") or "")
    link = str(entry.get("link") or "")
    # Read as a plain dict: feedparser's own `get("updated_parsed")` falls back to the published
    # date with a DeprecationWarning.
    published = _struct_time(dict.get(entry, "published_parsed")) or _struct_time(
        dict.get(entry, "updated_parsed")
    )
    content = "\n".join(str(c.get("value") or "") for c in entry.get("content") or ())
    detail = entry.get("summary_detail") or entry.get("title_detail") or {}
    tags = [str(t.get("term") or t.get("label") or "") for t in entry.get("tags") or ()]
    guid = str(entry.get("id") or "")
    return make_article(
        id=article_id(
            feed_id,
            guid=guid,
            link=link,
            title=title,
            date=str(dict.get(entry, "published") or dict.get(entry, "updated") or ""),
        ),
        feed=feed_id,
        url=link,
        title=title,
        summary=str(entry.get("summary") or ""),
        content=content,
        author=str(entry.get("author") or ""),
        tags=tags,
        published=published,
        language=detail.get("language") or language,
        fetched_at=fetched_at,
        guid=shared_guid(guid),
    )


def _from_fast(entry: Entry, *, feed_id: str | None, fetched_at: datetime | None) -> Article:
    return make_article(
        id=article_id(
            feed_id, guid=entry.guid, link=entry.link, title=entry.title, date=entry.date
        ),
        feed=feed_id,
        url=entry.link,
        title=entry.title,
        summary=entry.summary,
        content=entry.content,
        author=entry.author,
        tags=list(entry.tags),
        guid=shared_guid(entry.guid),
        published=entry.published,
        language=entry.language,
        fetched_at=fetched_at,
    )


def _parse_json_feed(
    body: bytes, *, feed_id: str | None, fetched_at: datetime | None
) -> ParsedFeed:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedParseError(f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise FeedParseError("invalid JSON: nested too deeply") from exc
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise FeedParseError("not a JSON Feed: no `items` list")
    language = data.get("language") if isinstance(data.get("language"), str) else None
    articles = []
    skipped = 0
    for item in data["items"]:
        if not isinstance(item, dict):
            skipped += 1
            continue
        articles.append(
            json_article(item, feed_id=feed_id, language=language, fetched_at=fetched_at)
        )
    verb = "was not a JSON object" if skipped == 1 else "were not JSON objects"
    warning = f"{plural(skipped, 'item')} {verb}" if skipped else None
    title = data["title"] if isinstance(data.get("title"), str) else ""
    return ParsedFeed(
        articles=tuple(articles),
        title=title,
        warning=warning,
        parser="json",
        link=site(data.get("home_page_url")),
    )


def _text(item: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = item.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def parse_time(value: object) -> datetime | None:
    """Parse an ISO-8601 time; naive times are taken as UTC; anything else is None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _names(value: object) -> list[str]:
    """Author names from a JSON Feed `authors` list or `author` object (or a plain string)."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip():
            names.append(name)
    return names


def _strings(value: object) -> list[str]:
    """The strings (and numbers) of a list; anything else is ignored."""
    if not isinstance(value, list):
        return []
    return [str(v) for v in value if isinstance(v, str | int | float) and not isinstance(v, bool)]


def json_article(
    item: Mapping[str, Any],
    *,
    feed_id: str | None = None,
    language: str | None = None,
    fetched_at: datetime | None = None,
) -> Article:
    """Build an Article from a JSON Feed item or a monitor JSON article (both shapes accepted).

    Every field is type-checked: a value of the wrong type is read as absent, never trusted.
    """
    authors = _names(item.get("authors")) or _names(item.get("author"))
    url = _text(item, "url", "link", "external_url")
    title = _text(item, "title")
    written = _text(item, "date_published", "published")
    feed = item.get("feed") if isinstance(item.get("feed"), str) else feed_id
    raw_guid = item.get("id")
    guid = (
        str(raw_guid) if isinstance(raw_guid, str | int) and not isinstance(raw_guid, bool) else ""
    )
    return make_article(
        id=article_id(
            feed,
            guid=guid,
            link=url,
            title=title,
            date=written,
        ),
        feed=feed,
        url=url,
        title=title,
        summary=_text(item, "summary"),
        content=_text(item, "content", "content_html", "content_text"),
        author=", ".join(authors),
        tags=_strings(item.get("tags")),
        published=parse_time(written),
        language=_text(item, "language") or language,
        fetched_at=fetched_at,
        guid=shared_guid(guid),
    )
