"""OPML 2.0, the outline every feed reader imports and exports, both ways.

Reading takes every `<outline>` with an `xmlUrl`, at any depth; the `text` of the outlines it
sits in (a reader's folders) and its `category` attribute become its tags; a document of more
than `max_outlines` outlines (folders included) is refused whole. Writing gives one outline per
feed (named by its `title:`, else the title its latest poll read, else its id; its `site:`, else
the home page its poll read, the `htmlUrl`), inside one outline per first tag. What a feed said
of itself is cleaned first: one line of printable characters, at most `TITLE_MAX`; a home page
only as an absolute http(s) URL. Pure: bytes in, text out; an unreadable
document raises `InputError` naming the file and, where known, the line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

import lxml.etree

from monitor.feeds.spec import FeedSpec
from monitor.kernel.errors import InputError

MAX_OUTLINES = 5000
TITLE_MAX = 200  # characters of an outline's name
SITE_MAX = 2048


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """A feed an OPML file lists."""

    url: str
    title: str
    tags: tuple[str, ...]
    line: int
    site: str = ""  # its `htmlUrl`, when an http(s) URL


def tag_of(text: str) -> str:
    """A folder or category name as a feeds.yaml tag: lower case, words joined by `-`."""
    return "-".join(re.findall(r"\w+", text.lower()))


class TooManyOutlines(InputError):
    """An OPML document over the outline limit; `count` is how many it has."""

    def __init__(self, message: str, count: int) -> None:
        super().__init__(message)
        self.count = count


def read_opml(data: bytes, path: str, max_outlines: int = MAX_OUTLINES) -> list[OpmlFeed]:
    """The feeds an OPML document lists (see the module docstring); `TooManyOutlines` when it
    has more than `max_outlines` outlines."""
    parser = lxml.etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True
    )
    try:
        root = lxml.etree.fromstring(data, parser)
    except lxml.etree.XMLSyntaxError as exc:
        line = exc.lineno or 1
        raise InputError(f"{path}:{line}: not OPML: {exc.msg}") from exc
    except ValueError as exc:
        raise InputError(f"{path}: not OPML: {exc}") from exc
    if root.tag != "opml":
        raise InputError(f"{path}:{root.sourceline or 1}: not OPML: the root is <{root.tag}>")
    body = root.find("body")
    if body is None:
        raise InputError(f"{path}: not OPML: no <body>")
    count = sum(1 for _ in body.iter("outline"))
    if count > max_outlines:
        raise TooManyOutlines(
            f"{path}: {count:,} outlines, more than the {max_outlines:,} allowed", count
        )
    feeds: list[OpmlFeed] = []
    _walk(body, (), feeds, path)
    return feeds


def _walk(
    parent: lxml.etree._Element, folders: tuple[str, ...], out: list[OpmlFeed], path: str
) -> None:
    for outline in parent.findall("outline"):
        text = " ".join((outline.get("text") or outline.get("title") or "").split())
        url = (outline.get("xmlUrl") or "").strip()
        if not url:
            folder = tag_of(text)
            _walk(outline, (*folders, folder) if folder else folders, out, path)
            continue
        categories = [
            tag_of(part)
            for value in (outline.get("category") or "").split(",")
            for part in value.split("/")
        ]
        tags = tuple(dict.fromkeys(t for t in (*folders, *categories) if t))
        line: int | None = outline.sourceline  # type: ignore[assignment]  # stubs: `...`
        site = (outline.get("htmlUrl") or "").strip()
        site = site if site.startswith(("http://", "https://")) and site.isprintable() else ""
        out.append(OpmlFeed(url, text, tags, line or 0, site))
        _walk(outline, folders, out, path)  # a feed's children are unusual but still feeds


def clean_title(text: str) -> str:
    """`text` as one line of printable characters (no control, format or private-use
    character, none XML cannot carry), at most TITLE_MAX characters."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text[: TITLE_MAX * 8]).split())
    return flat if len(flat) <= TITLE_MAX else flat[: TITLE_MAX - 1].rstrip() + "…"


def clean_site(url: str) -> str:
    """`url` when it is an absolute http(s) URL of printable characters without spaces (at
    most SITE_MAX characters), else ""."""
    url = url.strip()
    if len(url) > SITE_MAX or not url.isprintable() or " " in url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme in ("http", "https") and parts.netloc else ""


def write_opml(
    feeds: Sequence[FeedSpec],
    *,
    title: str,
    now: datetime,
    polled: Mapping[str, tuple[str, str]] | None = None,
) -> str:
    """feeds as an OPML 2.0 document: one folder per first tag, untagged feeds at the top;
    `polled`, each feed's (title, home page) as its latest poll read them."""
    polled = polled or {}
    opml = lxml.etree.Element("opml", version="2.0")
    head = lxml.etree.SubElement(opml, "head")
    lxml.etree.SubElement(head, "title").text = title
    lxml.etree.SubElement(head, "dateCreated").text = format_datetime(now)
    body = lxml.etree.SubElement(opml, "body")
    folders: dict[str, lxml.etree._Element] = {}
    for feed in feeds:
        parent = body
        if feed.tags:
            if feed.tags[0] not in folders:
                folders[feed.tags[0]] = lxml.etree.SubElement(body, "outline", text=feed.tags[0])
            parent = folders[feed.tags[0]]
        read, home = polled.get(feed.id, ("", ""))
        name = clean_title(feed.title) or clean_title(read) or feed.id
        outline = lxml.etree.SubElement(
            parent, "outline", type="rss", text=name, title=name, xmlUrl=feed.url
        )
        site = clean_site(feed.site) or clean_site(home)
        if site:
            outline.set("htmlUrl", site)
        if feed.tags:
            outline.set("category", ",".join(feed.tags))
    text: str = lxml.etree.tostring(
        opml, encoding="unicode", pretty_print=True, xml_declaration=False
    )
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text
