"""What two articles are compared by: a URL key and hashed word shingles. Pure.

A copy of a wire story differs from its source by a dateline ("ISLAMABAD (Reuters) -"), a
headline prefix or suffix ("UPDATE 1-", "| World News"), a body cut short, a credit line. Three-word
shingles of the title and of the lead survive such edits: only the few shingles that touch an edit
change. Two articles are copies when most of the shingles of the shorter one are in the other
(containment), which also holds when one carries only the first sentence of the other.

The native index (`monitor_native.StoryIndex`) computes the same shingles; sketches are stored and
shared between processes, so the hashes are the same everywhere: CRC-32 per word, mixed by a
multiply per word of the shingle.
"""

from __future__ import annotations

import string
import struct
import zlib
from typing import Final

from monitor.feeds.urls import url_key
from monitor.kernel.models import Article

LEAD_WORDS: Final = 40  # the lead is what every copy keeps; later paragraphs are cut or moved
TITLE_SEED: Final = 0x7469746C  # title shingles hash apart from body shingles
TITLE_BIT: Final = 0x80000000  # set on title shingles, clear on body shingles

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


MIX: Final = 0x9E3779B1


def _mix(h: int, w: int) -> int:
    return ((h ^ w) * MIX) & 0xFFFFFFFF


def shingles(tokens: list[str], seed: int = 0) -> set[int]:
    """Every run of three words as one hash: the CRC-32s of its words, mixed (the whole text's
    words when there are fewer than three)."""
    hashes = [zlib.crc32(t.encode()) for t in tokens]
    if not hashes:
        return set()
    if len(hashes) < 3:
        h = seed
        for w in hashes:
            h = _mix(h, w)
        return {h}
    triples = zip(hashes, hashes[1:], hashes[2:], strict=False)
    return {_mix(_mix(_mix(seed, a), b), c) for a, b, c in triples}


def lead(article: Article) -> str:
    """The text whose first words go into the sketch: the longer of content and summary."""
    return article.content if len(article.content) > len(article.summary) else article.summary


def sketch(title: str, body: str) -> bytes:
    """The sorted shingles of a title and of the first LEAD_WORDS words of a body, packed as
    little-endian 32-bit words (what is stored, and what the native index takes)."""
    body_shingles = {h & ~TITLE_BIT for h in shingles(words(body, LEAD_WORDS))}
    title_shingles = {h | TITLE_BIT for h in shingles(words(title), TITLE_SEED)}
    found = sorted(body_shingles | title_shingles)
    return struct.pack(f"<{len(found)}I", *found)


def unpack(packed: bytes) -> frozenset[int]:
    """The shingles of a packed sketch (whole 32-bit words: a cut last one is dropped)."""
    whole = len(packed) // 4 * 4
    return frozenset(struct.unpack(f"<{whole // 4}I", packed[:whole]))


def story_keys(article: Article) -> str:
    """The keys that make two articles one story whatever their text, one a line: the canonical
    URL, and the feed's guid when it is not a URL (an agency's id that copies may carry)."""
    keys = [url_key(article.url), f"guid:{article.guid}" if article.guid else ""]
    return "\n".join(k for k in keys if k)
