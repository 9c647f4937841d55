"""What distinguishes one event from another written from the same template: its facts. Pure.

Two earthquake reports from one feed share every sentence but the magnitude, the place, the depth
and the time; two advisories share every sentence but the CVE id and the product. Shingles alone
call them copies. A fact is a word of the title or the lead that carries a number ("4.8",
"CVE-2026-1234", "10:22", "Q3") or, in the lead, a name (a capitalised word that does not begin a
sentence: "Ridgecrest", "Acme"). Each fact sits in a *slot*: the ordinary words on either side of
it and its place in a run of facts ("of _ ,", "magnitude _ earthquake"). A copy keeps the
sentences, so the slots the two texts share hold the same facts; a templated event fills the same
slots with other facts. A copy cut short, or with a dateline on top, has slots the other lacks,
which say nothing; so do the last facts of a lead, after which no word is read.

Two articles *disagree* when a slot both have holds no fact in common. One update is allowed: one
plain count changed to another, in every slot it fills ("kills 12" and "at least 12 people"
updated to 14): a wire story's toll or tally updated. An identifier, a decimal, a date, a time or
a name never may change, nor two counts.

Facts are stored with a member as packed pairs of 32-bit hashes (slot, value), the value's top
bit set when it is a count, so that other processes compare them without the text.
`monitor_native.StoryIndex` computes the same.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from typing import Final

from monitor.stories.sketch import PUNCTUATION

FACT_TOKENS: Final = 60  # the lead's first tokens read for facts (the sketch reads 40 words)
MAX_FACTS: Final = 48  # per article: a table of numbers gives no more
COUNT_BIT: Final = 0x80000000  # set on the value of a fact that is a plain count
SENTENCE_ENDS: Final = ".!?:;"
DASHES: Final = frozenset({"-", "\u2013", "\u2014", "--"})
# A number after these is a version of the report, not a fact of the event ("UPDATE 2-...")
VERSION_WORDS: Final = frozenset({"update", "updated", "refile", "corrected", "version"})
_DIGITS: Final = frozenset("0123456789")


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


def facts(title: str, body: str) -> list[Fact]:
    """The facts of the first FACT_TOKENS tokens of a title (numbers only: headline case says
    nothing of names) and of a body, at most MAX_FACTS of them."""
    found: list[Fact] = []
    _scan(tokens(title), "t", names=False, out=found)
    _scan(tokens(body), "b", names=True, out=found)
    return found[:MAX_FACTS]


def _scan(tokens: list[str], part: str, *, names: bool, out: list[Fact]) -> None:
    # (stripped text, is a fact, is a count) per token; empty tokens (a lone dash) are dropped
    # but a dash still ends a sentence ("LONDON (Reuters) - Officials said ...").
    kinds: list[tuple[str, bool, bool]] = []
    sentence_start = True
    for n, raw in enumerate(tokens):
        text = _strip(raw)
        if not text:
            if raw in DASHES:
                sentence_start = True
            continue
        number = any(c in _DIGITS for c in text)
        if number and n and _strip(tokens[n - 1]).lower() in VERSION_WORDS:
            continue
        # A name in brackets is a credit ("(Reuters)") or repeats one ("(ISS)"): not a fact
        bracketed = raw[0] == "(" and raw[-1] == ")"
        name = names and not sentence_start and not bracketed and text[0].isupper()
        if number:
            previous_raw = tokens[n - 1] if n else ""
            next_raw = tokens[n + 1] if n + 1 < len(tokens) else ""
            count = _is_count(text, previous_raw, next_raw)
        else:
            count = False
        kinds.append((text, number or name, count))
        sentence_start = raw[-1] in SENTENCE_ENDS
    # The ordinary word after each token (none after the last): read backwards, one pass
    after: list[str] = [""] * len(kinds)
    following = ""
    for n in range(len(kinds) - 1, -1, -1):
        after[n] = following
        if not kinds[n][1]:
            following = kinds[n][0].lower()
    context = "^"
    run = 0
    for n, (text, is_fact, count) in enumerate(kinds):
        if not is_fact:
            context = text.lower()
            run = 0
            continue
        if not after[n]:
            if names:
                break  # where a lead is cut (by us or by the feed) says nothing of the slot
            after[n] = "$"
        slot = _hash(f"{part}\x00{context}\x00{after[n]}\x00{run}")
        value = _hash(text.lower()) & ~COUNT_BIT | (COUNT_BIT if count else 0)
        out.append(Fact(slot, value, count, text))
        run += 1


def pack(found: list[Fact]) -> bytes:
    """Facts as stored: (slot, value) pairs of little-endian 32-bit words."""
    return struct.pack(f"<{2 * len(found)}I", *(h for f in found for h in (f.slot, f.value)))


def unpack(packed: bytes) -> dict[int, set[int]]:
    """Stored facts by slot."""
    words = struct.unpack(f"<{len(packed) // 4}I", packed[: len(packed) // 8 * 8])
    slots: dict[int, set[int]] = {}
    for slot, value in zip(words[::2], words[1::2], strict=True):
        slots.setdefault(slot, set()).add(value)
    return slots


def agree(ours: list[Fact], theirs: dict[int, set[int]]) -> tuple[str, ...] | None:
    """The facts of ours that the other article has in the same slots, or None when the two
    disagree: a slot both fill with nothing in common, beyond one plain count updated."""
    mine: dict[int, set[int]] = {}
    for f in ours:
        mine.setdefault(f.slot, set()).add(f.value)
    update: tuple[int, int] | None = None
    for slot, values in mine.items():
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
