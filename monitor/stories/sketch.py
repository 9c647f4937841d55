"""What two articles are compared by: a URL key and hashed word shingles. Pure.

A copy of a wire story differs from its source by a dateline ("ISLAMABAD (Reuters) -"), a
headline prefix or suffix ("UPDATE 1-", "| World News"), a body cut short, a credit line. Three-word
shingles of the title and of the lead survive such edits: only the few shingles that touch an edit
change. Two articles are copies when most of the shingles of the shorter one are in the other
(containment), which also holds when one carries only the first sentence of the other.

The native index (`monitor_native.StoryIndex`) computes the same shingles; sketches are stored and
shared between processes, so the hash is CRC-32, the same everywhere.
"""

from __future__ import annotations

import string
import zlib
from typing import Final

from monitor.feeds.parse import canonical_url
from monitor.models import Article

LEAD_WORDS: Final = 60  # the lead is what every copy keeps; later paragraphs are cut or moved
TITLE_SEED: Final = 0x7469746C  # title shingles hash apart from body shingles

# Punctuation becomes a space, so that words are what `str.split` leaves (much faster than a
# regular expression over Unicode text, and the same words for the scripts that space them).
PUNCTUATION: Final = (
    string.punctuation
    + "\x1c\x1d\x1e\x1f\u00a0\u00ab\u00b7\u00bb\u2010\u2013\u2014\u2018\u2019\u201c\u201d\u2026"
    + "\u3001\u3002\uff0c"
)
_SPACES = str.maketrans(dict.fromkeys(PUNCTUATION, " "))


def words(text: str, limit: int | None = None) -> list[str]:
    """The lower-cased words of `text`, the first `limit` of them."""
    if limit is None:
        return text.lower().translate(_SPACES).split()
    # Most words and the space after them are shorter than 10 characters: split a cut first.
    # With more than `limit` words in the cut, the first `limit` of them are whole.
    found = text[: limit * 10].lower().translate(_SPACES).split()
    if len(found) <= limit:
        found = text.lower().translate(_SPACES).split()
    return found[:limit]


def shingles(tokens: list[str], seed: int = 0) -> set[int]:
    """CRC-32s of every run of three words (of the whole text when it is shorter)."""
    if not tokens:
        return set()
    if len(tokens) < 3:
        return {zlib.crc32(" ".join(tokens).encode(), seed)}
    crc32 = zlib.crc32
    return {
        crc32(f"{a} {b} {c}".encode(), seed)
        for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False)
    }


def lead(article: Article) -> str:
    """The text whose first words go into the sketch: the longer of content and summary."""
    return article.content if len(article.content) > len(article.summary) else article.summary


def sketch(title: str, body: str) -> list[int]:
    """The sorted shingles of a title and of the first LEAD_WORDS words of a body."""
    return sorted(shingles(words(body, LEAD_WORDS)) | shingles(words(title), TITLE_SEED))


def url_key(url: str) -> str:
    """The URL as `canonical_url` gives it ("" for none), without parsing it when it is plain."""
    url = url.strip()
    if not url:
        return ""
    scheme, sep, rest = url.partition("://")
    host, _, path = rest.partition("/")
    if not sep or "?" in url or "#" in url or ":" in host or "@" in host:
        return canonical_url(url)
    return f"{scheme.lower()}://{host.lower()}/{path}"


def containment(a: set[int] | frozenset[int], b: set[int] | frozenset[int]) -> float:
    """The share of the smaller set's shingles found in the other (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))
