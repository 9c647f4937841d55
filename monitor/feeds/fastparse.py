"""The fast path of feed parsing: plain, well-formed RSS 2.0, RSS 1.0 and Atom 1.0, read by lxml.

feedparser reads anything, at about a millisecond per item; lxml reads a clean document in a
fraction of that. This module reads the documents whose meaning is plain, and declines (returns
None) the rest, which `monitor.feeds.parse` then hands to feedparser: documents that are not
well-formed, that are not UTF-8, that declare a DTD or entities, that use `xml:base` or
relative links, XHTML content, or dates it cannot read exactly as feedparser does. Declining is
always safe; reading differently from feedparser is not, and a test over feedparser's own test
documents holds this module to feedparser's answers.

Pure: bytes in, `Entry` records out. No network, no entity expansion, no DTD loading.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from lxml import etree

ATOM: Final = "{http://www.w3.org/2005/Atom}"
RSS1: Final = "{http://purl.org/rss/1.0/}"
RDF: Final = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
CONTENT: Final = "{http://purl.org/rss/1.0/modules/content/}"
DC: Final = "{http://purl.org/dc/elements/1.1/}"
XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)
_CHARSET_RE = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)""")
_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_ISO_RE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)\Z", re.ASCII
)
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:", re.ASCII)
_ABSOLUTE_RE = re.compile(r"https?://[^\s/]+", re.ASCII)  # feedparser lowercases a scheme
# C1 control characters (UTF-8 \xc2\x80 to \xc2\x9f), which feedparser reads as cp1252.
_C1_RE = re.compile(rb"\xc2[\x80-\x9f]")
_C1_TEXT_RE = re.compile("[\x80-\x9f]")
# Markup feedparser's sanitizer rewrites in ways plain tag-stripping does not follow.
_RISKY_HTML_RE = re.compile(r"<\s*(?:script|style)|<!\[CDATA\[", re.IGNORECASE)
# Namespaced elements of an RSS item this module knows; any other may carry a field feedparser
# reads (dc:subject as a tag, media:title as the title, xhtml:body as content...): decline.
_RSS_NAMESPACED = frozenset(
    {
        f"{CONTENT}encoded",
        f"{DC}creator",
        f"{DC}date",
        "{http://wellformedweb.org/CommentAPI/}commentRss",
        "{http://wellformedweb.org/CommentAPI/}comment",
        "{http://purl.org/rss/1.0/modules/slash/}comments",
    }
)


class Declined(Exception):
    """The document is not one this module reads exactly as feedparser would."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One item, as the fields an Article is made of (text not yet normalized)."""

    guid: str
    link: str
    title: str
    summary: str
    content: str
    author: str
    tags: tuple[str, ...]
    published: datetime | None
    date: str  # the date as written, for ids of items with no guid and no link
    language: str | None


@dataclass(frozen=True, slots=True)
class FastFeed:
    """What the fast path read."""

    title: str
    entries: tuple[Entry, ...]
    link: str = ""  # the site's home page, when the feed names one as an absolute http(s) URL


def fast_parse(body: bytes, content_type: str = "") -> FastFeed | None:
    """Read a plain RSS 2.0, RSS 1.0 or Atom 1.0 document, or decline with None."""
    try:
        return _parse(body, content_type)
    except Declined:
        return None


def _parse(body: bytes, content_type: str) -> FastFeed:
    _check_encoding(body, content_type)
    head = body[:1024]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in body or b"xml:base" in body:
        raise Declined("DTD, entities or xml:base")
    if _C1_RE.search(body):
        raise Declined("C1 control characters")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise Declined(f"not well-formed: {exc}") from exc
    if root.tag in ("rss", f"{RDF}RDF") and b"xml:lang" in body:
        raise Declined("xml:lang in RSS")  # feedparser lets it set the items' language
    if root.tag == "rss" and root.get("version") in ("2.0", "0.91", "0.92"):
        return _rss(root)
    if root.tag == f"{RDF}RDF":
        return _rdf(root)
    if root.tag == f"{ATOM}feed":
        return _atom(root)
    raise Declined(f"root {root.tag!r}")


def _check_encoding(body: bytes, content_type: str) -> None:
    charset = content_type.lower().partition("charset=")[2].strip(" \"';")
    if charset and charset not in _UTF8:
        raise Declined(f"charset {charset}")
    if body.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00", b"\x3c\x00")):
        raise Declined("UTF-16 or UTF-32")
    declared = _CHARSET_RE.match(body.removeprefix(b"\xef\xbb\xbf"))
    if declared and declared.group(1).decode().lower() not in _UTF8:
        raise Declined(f"encoding {declared.group(1).decode()}")
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Declined("not UTF-8") from exc


def _text(element: etree._Element | None) -> str:
    """The text of an element with no children (a child element means markup: decline)."""
    if element is None:
        return ""
    if len(element):
        raise Declined(f"markup inside <{element.tag}>")
    text = element.text or ""
    if "<" in text and _RISKY_HTML_RE.search(text):
        raise Declined("script, style or CDATA in HTML")
    if not text.isascii() and _C1_TEXT_RE.search(text):
        raise Declined("C1 control characters")  # &#146;: feedparser reads them as cp1252
    return text


def site(value: object) -> str:
    """`value` if it is an absolute http(s) URL on one line (a feed's home page), else ""."""
    if not isinstance(value, str):
        return ""
    value = value.strip()
    if not _SITE_RE.match(value) or any(c.isspace() or not c.isprintable() for c in value):
        return ""
    return value


_SITE_RE = re.compile(r"https?://[^/?#\s]+", re.IGNORECASE)


def _link(value: str) -> str:
    value = value.strip()
    if not value.isascii():
        raise Declined("non-ASCII link")  # feedparser re-encodes it in ways of its own
    if value and not _ABSOLUTE_RE.match(value):
        raise Declined(f"relative link {value!r}")
    return value


_RFC822_RE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d\d?) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d\d):(\d\d):(\d\d) "
    r"(?:GMT|UTC?|Z|([+-])(\d\d)(\d\d))\Z",
    re.ASCII,
)
_MONTH = {name: i + 1 for i, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
)}  # fmt: skip


def rfc822_date(value: str) -> datetime | None:
    """Parse an RFC 822 date with a numeric zone or GMT/UT/Z; decline anything else.

    The usual shape ("Sat, 28 Nov 2026 09:30:00 +0000") is read directly; the rest by
    `email.utils`, with the same answer.
    """
    value = value.strip()
    if not value:
        return None
    m = _RFC822_RE.match(value)
    if m is not None:
        day, month, year, hour, minute, second, sign, zh, zm = m.groups()
        try:
            when = datetime(
                int(year), _MONTH[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
            )
        except ValueError as exc:
            raise Declined(f"date {value!r}") from exc
        if sign is not None:
            offset = timedelta(hours=int(zh), minutes=int(zm))
            when = when - offset if sign == "+" else when + offset
        if when.year < 1900:
            raise Declined(f"date {value!r}")
        return when
    parts = value.split()
    if not parts or not (parts[-1] in ("GMT", "UT", "UTC", "Z") or parts[-1][:1] in "+-"):
        raise Declined(f"date {value!r}")
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError) as exc:
        raise Declined(f"date {value!r}") from exc
    if parsed.tzinfo is None or parsed.year < 1900:
        raise Declined(f"date {value!r}")
    return parsed.astimezone(UTC)


def iso_date(value: str) -> datetime | None:
    """Parse a complete W3C date-time with a zone; decline anything else."""
    value = value.strip()
    if not value:
        return None
    if not _ISO_RE.match(value):
        raise Declined(f"date {value!r}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        raise Declined(f"date {value!r}") from exc


def _rss(root: etree._Element) -> FastFeed:
    channel = root.find("channel")
    if channel is None:
        raise Declined("no channel")
    language = _text(channel.find("language")).strip() or None
    entries = tuple(_rss_item(item, "", language) for item in channel.iterfind("item"))
    return FastFeed(
        title=_text(channel.find("title")), entries=entries, link=site(_text(channel.find("link")))
    )


def _rdf(root: etree._Element) -> FastFeed:
    channel = root.find(f"{RSS1}channel")
    if channel is None:
        raise Declined("no RSS 1.0 channel")  # RSS 0.90 and others
    language = _text(channel.find(f"{DC}language")).strip() or None
    entries = tuple(_rss_item(item, RSS1, language) for item in root.iterfind(f"{RSS1}item"))
    return FastFeed(
        title=_text(channel.find(f"{RSS1}title")),
        entries=entries,
        link=site(_text(channel.find(f"{RSS1}link"))),
    )


_RSS_KNOWN = frozenset(
    {"title", "link", "guid", "description", "pubDate", "author", "category", "comments"}
)


def _children(parent: etree._Element, ns: str, known: frozenset[str]) -> _Children:
    """An item's elements by tag (without the namespace `ns`); declines the unknown."""
    if parent.get(XML_LANG) is not None:
        raise Declined("xml:lang on an item")
    found = _Children()
    for child in parent:
        tag = child.tag.removeprefix(ns)
        if tag not in known:
            raise Declined(f"element {tag}")
        if child.get(XML_LANG) is not None:
            raise Declined("xml:lang on an item's element")
        if tag == "category":
            found.categories.append(child)
        elif tag == "link" and ns == ATOM:
            found.links.append(child)
        elif tag in found.fields:
            raise Declined(f"<{tag}> twice in an item")
        else:
            found.fields[tag] = child
    return found


@dataclass(slots=True)
class _Children:
    fields: dict[str, etree._Element] = field(default_factory=dict)
    categories: list[etree._Element] = field(default_factory=list)
    links: list[etree._Element] = field(default_factory=list)


def _rss_item(item: etree._Element, ns: str, language: str | None) -> Entry:
    children = _children(item, ns, _RSS_KNOWN | _RSS_NAMESPACED)
    fields = children.fields
    guid_element = fields.get("guid")
    guid = _text(guid_element).strip()
    if ns == RSS1:
        if guid_element is not None:
            raise Declined("guid in RSS 1.0")
        guid = (item.get(f"{RDF}about") or "").strip()  # feedparser's id for an RDF item
    link_element = fields.get("link")
    if link_element is not None and len(link_element.attrib):
        raise Declined("attributes on <link>")  # feedparser reads `uri` (and more) as the link
    link = _link(_text(link_element))
    # feedparser's rule, to the letter: a guid is a permalink when the attribute is absent or
    # exactly "true" ("True" and "" are not).
    permalink = guid_element is not None and guid_element.get("isPermaLink", "true") == "true"
    if permalink and guid and not _ABSOLUTE_RE.match(guid):
        raise Declined(f"permalink guid {guid!r} is not a URL")  # feedparser resolves it
    if link_element is None and guid and permalink:
        link = _link(guid)  # feedparser's rule: a permalink guid stands in for a missing link
    content = fields.get(f"{CONTENT}encoded")
    body = _text(content)
    # feedparser's rule: content stands in for a missing summary.
    summary = _text(fields.get("description")) or body
    if "author" in fields and f"{DC}creator" in fields:
        raise Declined("two authors")
    written, published = _rss_date(fields)
    title = _id_title(guid, link, _text(fields.get("title")))
    return Entry(
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        content=body,
        author=_text(fields.get("author")) or _text(fields.get(f"{DC}creator")),
        tags=tuple(_text(c).strip() for c in children.categories),
        published=published,
        date=written,
        language=language,
    )


def _id_title(guid: str, link: str, title: str) -> str:
    """The title, checked fit to make an id: an item with no guid and no link is known by its
    title as written, and feedparser's sanitizer rewrites markup in it (quotes, attributes)."""
    if not guid and not link and "<" in title:
        raise Declined("markup in the title of an item known by its title")
    return title


def _rss_date(fields: dict[str, etree._Element]) -> tuple[str, datetime | None]:
    """The item's date as written, and parsed: pubDate (RFC 822) or dc:date (W3C)."""
    pub_date, dc_date = fields.get("pubDate"), fields.get(f"{DC}date")
    if pub_date is not None and dc_date is not None:
        raise Declined("two dates")
    if pub_date is not None:
        written = _text(pub_date)
        return written, rfc822_date(written)
    written = _text(dc_date)
    return written, iso_date(written)


def _atom(root: etree._Element) -> FastFeed:
    if any(c.tag not in _ATOM_FEED for c in root):
        raise Declined("unknown elements in the feed")  # an `item` there is an entry to it
    language = root.get(XML_LANG)
    entries = tuple(_atom_entry(entry, language) for entry in root.iterfind(f"{ATOM}entry"))
    pages = (
        link.get("href", "")
        for link in root.iterfind(f"{ATOM}link")
        if link.get("rel", "alternate") == "alternate"
    )
    return FastFeed(
        title=_atom_text(root.find(f"{ATOM}title")),
        entries=entries,
        link=next((p for p in map(site, pages) if p), ""),
    )


def _atom_text(element: etree._Element | None) -> str:
    if element is None:
        return ""
    kind = element.get("type", "text")
    if kind not in ("text", "html") or element.get("src") is not None:
        raise Declined(f"atom {kind} text")
    if element.get(XML_LANG) is not None:
        raise Declined("xml:lang on a text construct")
    return _text(element)


_ATOM_FEED = frozenset(
    ATOM + tag
    for tag in (
        "title", "subtitle", "id", "updated", "link", "author", "contributor", "category",
        "generator", "icon", "logo", "rights", "entry",
    )
)  # fmt: skip
_ATOM_KNOWN = frozenset(
    {"title", "link", "id", "updated", "published", "summary", "content", "author", "category"}
)


_ATOM_LINK_ATTRIBUTES = frozenset({"href", "rel", "type", "hreflang", "title", "length"})


def _atom_entry(entry: etree._Element, language: str | None) -> Entry:
    children = _children(entry, ATOM, _ATOM_KNOWN)
    fields = children.fields
    if any(c.get("label") is not None for c in children.categories):
        raise Declined("category label")
    links = children.links
    if len(links) != 1 or links[0].get("rel", "alternate") != "alternate":
        raise Declined("no link, or several")  # feedparser may take the id for the link
    if set(links[0].attrib) - _ATOM_LINK_ATTRIBUTES:
        raise Declined("link attributes")  # feedparser reads `uri` as the href
    if not links[0].get("href", "").strip():
        raise Declined("empty href")  # feedparser resolves it to the feed's own URL
    summary = _atom_text(fields.get("summary"))
    content = _atom_text(fields.get("content"))
    date = fields.get("published")
    date = fields.get("updated") if date is None else date
    written = _text(date)
    guid = _text(fields.get("id")).strip()
    if guid and not _SCHEME_RE.match(guid):
        raise Declined(f"relative id {guid!r}")  # feedparser resolves it against the feed's URL
    return Entry(
        guid=guid,
        link=_link(links[0].get("href", "")),
        title=_atom_text(fields.get("title")),
        summary=summary or content,  # feedparser's rule, as in RSS
        content=content,
        author=_atom_author(fields.get("author")),
        tags=tuple((c.get("term") or "").strip() for c in children.categories),
        published=iso_date(written),
        date=written,
        language=language,
    )


def _atom_author(author: etree._Element | None) -> str:
    if author is None:
        return ""
    if len(author) != 1 or author[0].tag != f"{ATOM}name":
        raise Declined("author")
    return _text(author[0])
