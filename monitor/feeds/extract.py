"""The main text of an article page: what a reader of the page reads, without menus and ads.

trafilatura, with its precision setting: on the Zyte article-extraction benchmark (181 news
pages with ground truth) it scored F1 0.964 here, against 0.960 for its default setting and
0.947 for readability-lxml (docs/fulltext.md; `make bench` section extract). A feed may name
the element that holds the text instead (`fulltext_selector:`, a CSS selector). trafilatura and
cssselect come with the `fulltext` extra.

Pure: no I/O, and never raises on any bytes (an unreadable page has no text).
"""

from __future__ import annotations

import html
import importlib.util
from dataclasses import dataclass
from typing import Final

import lxml.html
from lxml import etree

from monitor.kernel.text import normalize_text

EXTRA_HINT: Final = "install the fulltext extra: pip install 'monitor[fulltext]'"


@dataclass(frozen=True, slots=True)
class Page:
    """What was read off an article page."""

    title: str
    text: str
    language: str | None  # as the page declares it (<html lang>), if it does


def available() -> bool:
    """Whether the extractor (the `fulltext` extra) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("trafilatura", "cssselect"))


def selector_problem(selector: str) -> str | None:
    """Why `selector` is not a CSS selector this extractor can use, or None if it is."""
    if not available():
        return f"`fulltext_selector` needs the extractor: {EXTRA_HINT}"
    from cssselect import GenericTranslator, SelectorError

    try:
        GenericTranslator().css_to_xpath(selector)
    except SelectorError as exc:
        return f"`fulltext_selector` {selector!r} is not a CSS selector: {exc}"
    return None


def extract_page(body: bytes, url: str = "", selector: str | None = None) -> Page:
    """The title and main text of an HTML page (text normalized as feed text is)."""
    root = _parse(body)
    if root is None:
        return Page(title="", text="", language=None)
    title = _title(root)
    language = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") or ""
    if selector:
        parts = [
            etree.tostring(el, method="text", encoding="unicode") for el in root.cssselect(selector)
        ]
        text = "\n".join(parts)
    else:
        text = _main_text(body, url)
    return Page(
        title=_plain(title),
        text=_plain(text),
        language=language.strip().lower() or None,
    )


def _parse(body: bytes) -> lxml.html.HtmlElement | None:
    """The page's tree, its text decoded as trafilatura decodes it (HTTP header or not, a
    page's meta charset is often missing or wrong)."""
    from trafilatura.utils import decode_file

    for source in (decode_file(body), body):
        try:
            return lxml.html.document_fromstring(source)
        except (etree.ParserError, ValueError):  # empty, or a str declaring its encoding
            continue
    return None


def _main_text(body: bytes, url: str) -> str:
    import trafilatura

    # The bytes, not the parsed tree: trafilatura finds the encoding and parses more leniently.
    found = trafilatura.extract(
        body, url=url or None, favor_precision=True, include_comments=False, include_tables=True
    )
    return found or ""


def _title(root: lxml.html.HtmlElement) -> str:
    for path in ('//meta[@property="og:title"]/@content', "//title/text()", "//h1//text()"):
        found = root.xpath(path)
        if isinstance(found, list) and found and str(found[0]).strip():
            return str(found[0])
    return ""


def _plain(text: str) -> str:
    # normalize_text reads HTML: escape first, so a "<" in the text stays a "<".
    return normalize_text(html.escape(text, quote=False))
