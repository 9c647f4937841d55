"""What distinguishes one event from another written from the same template: its facts. Pure.

Two earthquake reports from one feed share every sentence but the magnitude, the place, the depth
and the time; two advisories share every sentence but the CVE id and the product. Shingles alone
call them copies. A fact is a word of the title or the lead that carries a number ("4.8",
"CVE-2026-1234", "10:22", "Q3") or, in the lead, a name (a capitalised word, but for the
words that begin sentences: "Ridgecrest", "Acme"). Each fact sits in a *slot*: the ordinary
words on either side of it and its place in a run of facts, counted from the run's end ("of _ ,",
"magnitude _ quake"). A copy keeps the sentences, so the slots the two texts share hold the same
facts; a templated event fills the same slots with other facts. A copy cut short, or with a
dateline on top, has slots the other lacks, which say nothing; so do the facts a lead starts
with, before its first ordinary word (a label, a dateline, a cut) and its last, after which no
word is read. An identifier ("CVE-2026-1234", "KB5034441"), a time ("23:02:45") or a date
("2026-12-07") is also compared with the other's of its kind wherever they stand, and a
headline's identifiers with the other headline's: two advisories whose headlines name no CVE id
in common are two advisories, even when each lists the other's id; two quakes an hour apart are
two quakes.

Two articles *disagree* when a slot both have holds no fact in common. One update is allowed: one
plain count changed to another, in every slot it fills ("kills 12" and "at least 12 people"
updated to 14): a wire story's toll or tally updated. An identifier, a decimal, a date, a time or
a name never may change, nor two counts.

Facts are read from a member's title and *lead prefix*: the lead up to its FACT_TOKENS-th token,
within its first FACT_CHARS characters. The prefix is what a member keeps and records, and facts
are made only when a candidate needs them: most articles resemble none. Each fact is a pair of
32-bit hashes (slot, value), the value's top bit set when it is a count.
`monitor_native.StoryIndex` computes the same.
"""

from __future__ import annotations

import re
import string
import zlib
from dataclasses import dataclass
from typing import Final

from monitor.stories.sketch import PUNCTUATION

FACT_TOKENS: Final = 40  # the first tokens of the lead and of the title read for facts
FACT_CHARS: Final = 2000  # within their first characters (a token of a megabyte is no fact)
MAX_FACTS: Final = 48  # per article: a table of numbers gives no more
COUNT_BIT: Final = 0x80000000  # set on the value of a fact that is a plain count
SENTENCE_ENDS: Final = ".!?:;"
DASHES: Final = frozenset({"-", "\u2013", "\u2014", "--"})
# Capitalised only because they begin a sentence: any other capitalised word there is a name
# ("Full time: Everton FC 0, Fulham FC 1")
SENTENCE_STARTERS: Final = frozenset(
    {
        *("the", "a", "an", "in", "on", "at", "it", "he", "she", "they", "we", "i", "you"),
        *("this", "that", "these", "those", "there", "here", "but", "and", "or", "as", "for"),
        *("of", "by", "with", "after", "before", "while", "when", "if", "to", "from", "his"),
        *("her", "their", "its", "our", "no", "not", "one", "some", "many", "more", "most"),
        *("all", "both", "according", "however", "also", "meanwhile", "so", "yet", "then"),
    }
)
DATELINE_TOKENS: Final = 8  # "NEW YORK, Dec 7 (Reuters) -": a credit in brackets, then a dash
IDENTIFIER_MIN: Final = 5  # "CVE-2026-1234", "KB5034441", "RHSA-2026:1234", "MS26-001"
# A number after these is a version of the report, not a fact of the event ("UPDATE 2-...")
VERSION_WORDS: Final = frozenset({"update", "updated", "refile", "corrected", "version"})
_DIGITS: Final = frozenset("0123456789")
_LETTERS: Final = frozenset(string.ascii_letters)


@dataclass(frozen=True, slots=True)
class Fact:
    """One fact: its slot's and value's hashes, whether it is a plain count, and its text."""

    slot: int
    value: int
    count: bool
    text: str


def _strip(token: str) -> str:
    return token.strip(PUNCTUATION)


def _is_count(text: str, previous_raw: str, next_raw: str) -> bool:
    """A plain count: digits (with thousands commas), not a year, not next to a name or after a
    number sign ("Flight 370", "No. 5", "#12", "1 December" are identifiers and dates)."""
    digits = text.replace(",", "")
    if not digits or not all(c in _DIGITS for c in digits) or len(digits) > 7:
        return False
    if len(digits) == 4 and 1900 <= int(digits) <= 2099:
        return False
    if previous_raw[:1].isupper() or next_raw[:1].isupper() or previous_raw.endswith("#"):
        return False
    return previous_raw.lower().strip(PUNCTUATION) not in ("no", "number", "nr")


def _after_dateline(tokens: list[str]) -> int:
    """Where a lead starts after its dateline ("LONDON (Reuters) -"), else 0: which city and
    agency carried a story is not a fact of the event."""
    credited = False
    for n, raw in enumerate(tokens[:DATELINE_TOKENS]):
        if raw in DASHES and credited:
            return n + 1
        credited = credited or (raw[0] == "(" and raw[-1] == ")")
    return 0


def _family(text: str) -> str:
    """An identifier's kind, "" when the text is none: the letters it starts with ("cve" of
    "CVE-2026-1234", at least two), or "time" ("23:02:45") or "date" ("2026-12-07")."""
    letters = 0
    while letters < len(text) and text[letters] in _LETTERS:
        letters += 1
    if letters >= 2 and len(text) >= IDENTIFIER_MIN:
        return text[:letters].lower()
    if _TIME.fullmatch(text):
        return "time"
    return "date" if _DATE.fullmatch(text) else ""


_TIME: Final = re.compile(r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?")
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _identifier(text: str, *, headline: bool, out: list[Fact]) -> None:
    """An identifier, a time or a date, compared with the other's of its kind wherever they
    are (and a headline's identifier with the other headline's)."""
    family = _family(text)
    if not family:
        return
    value = _value(text, count=False)
    out.append(Fact(_hash(f"i\x00{family}"), value, False, text))
    if headline and text[0] in _LETTERS:
        out.append(Fact(_hash(f"it\x00{family}"), value, False, text))


def _value(text: str, *, count: bool) -> int:
    """A fact's value: its lower-cased text hashed, without thousands commas ("1,200" is
    "1200") and, in words, without dots ("U.S." is "US"); the top bit says it is a count."""
    plain = text.replace(",", "")
    if any(c in _LETTERS for c in plain):
        plain = plain.replace(".", "")
    return _hash(plain.lower()) & ~COUNT_BIT | (COUNT_BIT if count else 0)


def _hash(text: str) -> int:
    return zlib.crc32(text.encode())


def tokens(text: str, limit: int = FACT_TOKENS) -> list[str]:
    """The text's first `limit` tokens between spaces (as `str.split` cuts them); a number
    joined to a capitalised word by a hyphen is two ("1-Car", as in "UPDATE 1-Car bomb ...")."""
    found: list[str] = []
    for match in _TOKEN.finditer(text):
        raw = match[0]
        digits, dash, rest = raw.partition("-")
        if dash and digits and rest[:1].isupper() and all(c in _DIGITS for c in digits):
            found += (digits, rest)
        else:
            found.append(raw)
        if len(found) >= limit:
            return found[:limit]
    return found


_TOKEN: Final = re.compile(r"\S+")  # \s is what str.isspace() calls space, as str.split cuts


def lead_prefix(body: str) -> str:
    """What facts read of a body: its first FACT_CHARS characters, up to the end of the token
    that makes FACT_TOKENS (the same facts as the whole body give, and no more to keep)."""
    cut = body[:FACT_CHARS]
    count = 0
    for match in _TOKEN.finditer(cut):
        digits, dash, rest = match[0].partition("-")
        joined = dash and digits and rest[:1].isupper() and all(c in _DIGITS for c in digits)
        count += 2 if joined else 1
        if count >= FACT_TOKENS:
            return cut[: match.end()]
    return cut


def facts(title: str, body: str) -> list[Fact]:
    """The facts of the first FACT_TOKENS tokens of a title (numbers only: headline case says
    nothing of names) and of a body's lead prefix, at most MAX_FACTS of them."""
    found: list[Fact] = []
    _scan(tokens(title[:FACT_CHARS]), "t", names=False, out=found)
    _scan(tokens(lead_prefix(body)), "b", names=True, out=found)
    return found[:MAX_FACTS]


def by_slot(found: list[Fact]) -> dict[int, set[int]]:
    """Facts by slot, as `agree` compares them."""
    slots: dict[int, set[int]] = {}
    for f in found:
        slots.setdefault(f.slot, set()).add(f.value)
    return slots


def _kinds(tokens: list[str], *, names: bool, out: list[Fact]) -> list[tuple[str, bool, bool]]:
    """(stripped text, is a fact, is a count) per token; empty tokens (a lone dash) and links
    are dropped, but a dash still ends a sentence ("LONDON (Reuters) - Officials said ...").
    Identifiers, times and dates go to `out` as they are met."""
    kinds: list[tuple[str, bool, bool]] = []
    sentence_start = True
    start = _after_dateline(tokens) if names else 0
    for n, raw in enumerate(tokens):
        if n < start:
            continue
        text = _strip(raw)
        if not text or "://" in text or text.startswith("www."):  # a link is no fact
            if raw in DASHES:
                sentence_start = True
            continue
        number = any(c in _DIGITS for c in text)
        if number and n and _strip(tokens[n - 1]).lower() in VERSION_WORDS:
            continue
        # A name in brackets is a credit ("(Reuters)") or repeats one ("(ISS)"): not a fact
        bracketed = raw[0] == "(" and raw[-1] == ")"
        name = (
            names
            and not bracketed
            and text[0].isupper()
            and not (sentence_start and text.lower() in SENTENCE_STARTERS)
        )
        if number:
            previous_raw = tokens[n - 1] if n else ""
            next_raw = tokens[n + 1] if n + 1 < len(tokens) else ""
            count = _is_count(text, previous_raw, next_raw)
        else:
            count = False
        kinds.append((text, number or name, count))
        sentence_start = raw[-1] in SENTENCE_ENDS
        if number:
            _identifier(text, headline=not names, out=out)
    return kinds


def _scan(tokens: list[str], part: str, *, names: bool, out: list[Fact]) -> None:
    kinds = _kinds(tokens, names=names, out=out)
    # Read backwards, one pass: the ordinary word after each token (none after the last), and
    # how many facts follow it before that word: a run's first facts are the ones a cut loses.
    after: list[str] = [""] * len(kinds)
    place: list[int] = [0] * len(kinds)
    following, facts_after = "", 0
    for n in range(len(kinds) - 1, -1, -1):
        after[n], place[n] = following, facts_after
        if kinds[n][1]:
            facts_after += 1
        else:
            following, facts_after = kinds[n][0].lower(), 0
    context = "^"
    for n, (text, is_fact, count) in enumerate(kinds):
        if not is_fact:
            context = text.lower()
            continue
        if names and context == "^":
            continue  # a lead's first words: a label ("Description:"), a dateline, a cut
        if not after[n]:
            if names:
                break  # where a lead is cut (by us or by the feed) says nothing of the slot
            after[n] = "$"
        slot = _hash(f"{part}\x00{context}\x00{after[n]}\x00{place[n]}")
        out.append(Fact(slot, _value(text, count=count), count, text))


def agree(ours: list[Fact], theirs: dict[int, set[int]]) -> tuple[str, ...] | None:
    """The facts of ours that the other article has in the same slots, or None when the two
    disagree: a slot both fill with nothing in common, beyond one plain count updated."""
    update: tuple[int, int] | None = None
    for slot, values in by_slot(ours).items():
        other = theirs.get(slot)
        if other is None or not _bare(values).isdisjoint(_bare(other)):
            continue
        if len(values) > 1 or len(other) > 1 or not all(v & COUNT_BIT for v in values | other):
            return None
        change = (min(values), min(other))
        if update is None:
            update = change
        elif update != change:
            return None
    return tuple(
        dict.fromkeys(
            f.text for f in ours if f.value & ~COUNT_BIT in _bare(theirs.get(f.slot, set()))
        )
    )


def _bare(values: set[int]) -> set[int]:
    """Values without the count bit: "130" is the same fact whether it reads as a count or not
    (after "LEAST" in an upper-cased headline it does not)."""
    return {v & ~COUNT_BIT for v in values}
