"""Finding a site's feeds: `<link rel="alternate">` in its page, else the paths feeds live at.

Pure: a page's bytes and URL in, candidate feed URLs out. `monitor feeds add` fetches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html

# The types a page announces its feeds with (RSS 2.0 and RDF, Atom, JSON Feed).
FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/rdf+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json",
    "application/json": "json",
}
# Where feeds are found when a page names none: WordPress, Ghost, Hugo, Jekyll, Blogger, ...
COMMON_PATHS = (
    "/feed",
    "/rss",
    "/feed.xml",
    "/rss.xml",
    "/atom.xml",
    "/index.xml",
    "/feed.json",
    "/feeds/posts/default",
)


MAX_CANDIDATES = 50  # a page naming thousands of "feeds" is listed in part


@dataclass(frozen=True, slots=True)
class Candidate:
    """A feed a page points at."""

    url: str
    title: str = ""
    kind: str = ""  # rss, atom or json; "" when only the path suggested it


def looks_like_html(body: bytes, content_type: str) -> bool:
    """Whether a response is a web page rather than a feed."""
    if "html" in content_type.lower() and "xhtml" not in content_type.lower():
        return True
    start = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html"))


def feed_links(html: bytes, base_url: str) -> list[Candidate]:
    """The feeds a page announces, in the page's order, without repeats, at most
    MAX_CANDIDATES; relative links are resolved against `<base href>` or `base_url`.
    Unreadable bytes give none."""
    try:
        root = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return []
    base = base_url
    for element in root.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            base = _joined(base_url, href) or base_url
            break
    found: dict[str, Candidate] = {}
    for element in root.iter("link"):
        rel = (element.get("rel") or "").lower().split()
        kind = FEED_TYPES.get((element.get("type") or "").strip().lower().split(";")[0])
        href = (element.get("href") or "").strip()
        if "alternate" not in rel or kind is None or not href:
            continue
        url = _joined(base, href)
        if url and url not in found:
            found[url] = Candidate(url, " ".join((element.get("title") or "").split())[:200], kind)
            if len(found) == MAX_CANDIDATES:
                break
    return list(found.values())


def _joined(base: str, href: str) -> str:
    """`href` resolved against `base`, when that gives an http(s) URL; else ""."""
    try:
        url = urljoin(base, href)
        scheme = urlsplit(url).scheme
    except ValueError:  # a malformed link (an unclosed IPv6 host, say) is no feed
        return ""
    return url if scheme in ("http", "https") else ""


def common_paths(page_url: str) -> list[str]:
    """The URLs on the page's site where a feed usually is."""
    parts = urlsplit(page_url)
    return [f"{parts.scheme}://{parts.netloc}{path}" for path in COMMON_PATHS]
