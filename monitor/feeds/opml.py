"""OPML 2.0, the outline every feed reader imports and exports, both ways.

Reading takes every `<outline>` with an `xmlUrl`, at any depth; the `text` of the outlines it
sits in (a reader's folders) and its `category` attribute become its tags; a document of more
than `max_outlines` outlines (folders included) is refused whole. Writing gives one outline per
feed (named by its `title:`, else its id; its `site:` the `htmlUrl`), inside one outline per
first tag. Pure: bytes in, text out; an unreadable
document raises `InputError` naming the file and, where known, the line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

import lxml.etree

from monitor.feeds.spec import FeedSpec
from monitor.kernel.errors import InputError

MAX_OUTLINES = 5000


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


def write_opml(feeds: Sequence[FeedSpec], *, title: str, now: datetime) -> str:
    """feeds as an OPML 2.0 document: one folder per first tag, untagged feeds at the top."""
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
        name = feed.title or feed.id
        outline = lxml.etree.SubElement(
            parent, "outline", type="rss", text=name, title=name, xmlUrl=feed.url
        )
        if feed.site:
            outline.set("htmlUrl", feed.site)
        if feed.tags:
            outline.set("category", ",".join(feed.tags))
    text: str = lxml.etree.tostring(
        opml, encoding="unicode", pretty_print=True, xml_declaration=False
    )
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text
