"""Text normalization and tokenization: the one definition of "a word" in monitor.

Feed text is normalized once, when an Article is built: HTML tags dropped (inline tags join
their neighbours, block tags separate words), entities decoded, Unicode NFKC, curly quotes and
apostrophes folded to straight ones, invisible characters removed and whitespace collapsed.

A token is a run of word characters (letters, digits, combining marks, underscore), with inner
apostrophes kept ("don't"); a possessive "'s" is dropped when tokens are compared ("Russia's" is
the word Russia). Scripts written without spaces between words (Chinese, Japanese, Thai, ...) are
tokenized one character at a time, so a term in them matches as a substring, as users expect.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator

# Scripts written without spaces between words: each character is a token of its own.
_NO_SPACE_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
)


def _in_no_space(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _NO_SPACE_RANGES)


def _word_chars() -> str:
    """Build the inside of a regex character class of word characters in the BMP.

    Python's `\\w` leaves out combining marks, which would split Devanagari or Arabic words
    apart, so the class is computed once from the Unicode database.
    """
    ranges: list[tuple[int, int]] = []
    for cp in range(0x10000):
        if _in_no_space(cp) or 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    parts = (
        re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
        for lo, hi in ranges
    )
    return "".join(parts)


def _no_space_class() -> str:
    parts = [f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in _NO_SPACE_RANGES]
    parts.append("\U00020000-\U0003134f")  # CJK extensions B to H
    return "[" + "".join(parts) + "]"


_WORD_CHARS = _word_chars()
_NO_SPACE = _no_space_class()
TOKEN_RE = re.compile(f"[{_WORD_CHARS}]+(?:'[{_WORD_CHARS}]+)*|{_NO_SPACE}")
# The words of a term as users write it: tokens that may hold the wildcards `*` and `?`.
PATTERN_WORD_RE = re.compile(f"[{_WORD_CHARS}*?]+(?:'[{_WORD_CHARS}*?]+)*|{_NO_SPACE}")

_INLINE_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "cite",
        "code",
        "data",
        "dfn",
        "em",
        "font",
        "i",
        "kbd",
        "mark",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "time",
        "tt",
        "u",
        "var",
        "wbr",
    }
)
_SCRIPT_RE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT_RE = re.compile(r"<!--.*?-->|<!\[CDATA\[|\]\]>", re.DOTALL)
_TAG_RE = re.compile(r"</?([A-Za-z]\w*)[^<>]*>|<![A-Za-z][^<>]*>")
# Curly quotes and primes fold to straight ones; zero-width characters and soft hyphens vanish.
_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u02bc": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ad": None,
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
    }
)


def _tag_gap(tag: re.Match[str]) -> str:
    """Inline tags join their neighbours ("<b>Rus</b>sia"); the others separate words."""
    name = tag.group(1)
    return "" if name is not None and name.casefold() in _INLINE_TAGS else " "


def strip_html(raw: str) -> str:
    """Drop HTML markup and decode entities, keeping the words a reader would see."""
    if "<" in raw:
        raw = _SCRIPT_RE.sub(" ", raw)
        if "<!" in raw or "]]>" in raw:
            raw = _COMMENT_RE.sub(" ", raw)
        raw = _TAG_RE.sub(_tag_gap, raw)
    if "&" in raw:
        raw = html.unescape(raw)
    return raw


def normalize_text(raw: str) -> str:
    """Return feed text as monitor compares it: plain, NFKC, quotes folded, spaces collapsed."""
    text = unicodedata.normalize("NFKC", strip_html(raw))
    if not text.isascii():  # every character _FOLD maps is outside ASCII
        text = text.translate(_FOLD)
    return " ".join(text.split())  # str.split() and `\s` agree on what is whitespace


def tokenize(text: str) -> list[str]:
    """Split normalized text into tokens (see the module docstring)."""
    return TOKEN_RE.findall(text)


def iter_token_spans(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield each token of normalized text with its start and end offsets."""
    for m in TOKEN_RE.finditer(text):
        yield m.group(), m.start(), m.end()


# For `boundary_form`: ASCII bytes that are not word characters (the apostrophe among them)
# become spaces; bytes of multi-byte UTF-8 sequences pass through.
_ASCII_BOUNDARY = bytes(
    c if c >= 0x80 or chr(c).isalnum() or chr(c) == "_" else 0x20 for c in range(256)
)
_NON_ASCII_NON_WORD_RE = re.compile(f"[^\x00-\x7f{_WORD_CHARS}]")
NO_SPACE_RE = re.compile(_NO_SPACE)
_WORD_CHAR_RE = re.compile(f"[{_WORD_CHARS}]")


def boundary_form(text: str) -> str | None:
    """Return `text` with every character that is not a word character replaced by a space.

    Apostrophes become spaces too. The replacement is one for one, so an offset in the result is
    the same offset in `text`; a word then stands between spaces, where a multi-pattern search
    can find it whole. None when `text` holds a script written without spaces (its words are
    single characters with no spaces around them).
    """
    if text.isascii():
        return text.encode().translate(_ASCII_BOUNDARY).decode()
    if NO_SPACE_RE.search(text):
        return None
    mapped = text.encode().translate(_ASCII_BOUNDARY).decode()
    return _NON_ASCII_NON_WORD_RE.sub(" ", mapped)


def token_at(text: str, i: int) -> re.Match[str] | None:
    """Return the token of normalized text that begins at offset `i`, if one begins there.

    One does when a token matches at `i` and `i` is not inside a longer one: the character
    before is not a word character, nor an apostrophe inside a word ("o'brien").
    """
    m = TOKEN_RE.match(text, i)
    if m is None or i == 0:
        return m
    if text[i - 1] == "'":
        return None if i >= 2 and _WORD_CHAR_RE.match(text, i - 2) else m
    return None if _WORD_CHAR_RE.match(text, i - 1) else m


def token_after(text: str, i: int) -> re.Match[str] | None:
    """Return the first token of normalized text that begins at or after offset `i`."""
    return TOKEN_RE.search(text, i)


def token_key(token: str) -> str:
    """Return the form a token is compared in: a possessive "'s" dropped."""
    if len(token) > 2 and token[-2] == "'" and token[-1] in "sS":
        return token[:-2]
    return token


def is_acronym(word: str) -> bool:
    """Tell whether a term is written as an acronym: 2 to 5 capital letters, like CIS or NATO."""
    return 2 <= len(word) <= 5 and word.isalpha() and word.isupper()


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
TEXT_MAX = 300


def one_line(text: str, limit: int = TEXT_MAX) -> str:
    """Collapse control characters and newlines to spaces and cut to `limit` characters."""
    flat = _CONTROL_RE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def span_words(seconds: float) -> str:
    """A span of time as people say it, in its largest unit: "12s", "4m", "3h", "2d"."""
    span = abs(seconds)
    if span < 60:
        return f"{span:.0f}s"
    if span < 3600:
        return f"{span / 60:.0f}m"
    if span < 86400:
        return f"{span / 3600:.0f}h"
    return f"{span / 86400:.0f}d"


def plural(count: int, one: str, many: str | None = None) -> str:
    """A count with its noun agreeing: `1 watch`, `2 watches`, `0 feeds` (`many` defaults to
    `one` + "s"; give it for the others: plural(n, "watch", "watches"))."""
    return f"{count} {one if count == 1 else many or one + 's'}"
