"""Normalization and tokenization: the one definition of a word."""

from __future__ import annotations

import re
import sys

import pytest

from monitor.kernel.text import (
    _WORD_CHARS,
    boundary_form,
    is_acronym,
    normalize_text,
    plural,
    token_at,
    token_key,
    tokenize,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Defense&nbsp;Council", "Defense Council"),
        ("<b>Independent</b> states", "Independent states"),
        ("<p>one</p><p>two</p>", "one two"),
        ("In<em>dep</em>endent", "Independent"),
        ("a <script>alert(1)</script> b", "a b"),
        ("a <!-- hidden --> b", "a b"),
        ("Russia\u2019s \u201cnew\u201d plan", 'Russia\'s "new" plan'),
        ("\uff23\uff29\uff33", "CIS"),
        ("soft\u00adhyphen and zero\u200bwidth", "softhyphen and zerowidth"),
        ("  many \n\t spaces  ", "many spaces"),
        ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
        ("&lt;b&gt; is text", "<b> is text"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    """Feed text is reduced to what a reader sees, in one canonical form."""
    assert expected == normalize_text(raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("air-defense", ["air", "defense"]),
        ("Russia's army", ["Russia's", "army"]),
        ("don't stop", ["don't", "stop"]),
        ("85h CIS", ["85h", "CIS"]),
        ("Белоусов заявил", ["Белоусов", "заявил"]),
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),
        ("中国人", ["中", "国", "人"]),
        ("'quoted'", ["quoted"]),
    ],
)
def test_tokenize(text: str, expected: list[str]) -> None:
    """Words split at spaces and punctuation; marks stay in words; CJK is per character."""
    assert expected == tokenize(text)


def test_token_key_drops_possessive() -> None:
    """A possessive 's is not part of the word."""
    assert ["Russia", "CIS", "don't", "s"] == [
        token_key(t) for t in ("Russia's", "CIS's", "don't", "s")
    ]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("CIS", True),
        ("NATO", True),
        ("EU", True),
        ("A", False),
        ("NATOS", True),
        ("BRICSX", False),
        ("Cis", False),
        ("G7", False),
        ("СНГ", True),
    ],
)
def test_is_acronym(word: str, expected: bool) -> None:
    """Two to five capital letters make an acronym."""
    assert expected == is_acronym(word)


def test_case_folding_keeps_word_characters_apart_from_the_rest() -> None:
    """The boundary form is folded after mapping: that is sound only if folding one character
    to one character never turns a word character into a boundary, or back."""
    word = re.compile(f"[{_WORD_CHARS}]")
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        folded = ch.casefold()
        if len(folded) == 1:
            assert bool(word.match(ch)) == bool(word.match(folded)), hex(cp)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Russia's air-defence, o'Brien", "Russia s air defence  o Brien"),
        ("naïve — café", "naïve   café"),
        ("emoji 🙂 here", "emoji   here"),
        ("中国 news", None),
    ],
)
def test_boundary_form_keeps_offsets(text: str, expected: str | None) -> None:
    assert expected == boundary_form(text)


@pytest.mark.parametrize(
    ("text", "at", "expected"),
    [
        ("o'brien x", 0, "o'brien"),
        ("o'brien x", 2, None),
        ("'quoted' x", 1, "quoted"),
        ("ab cd", 1, None),
        ("ab cd", 3, "cd"),
        ("ab, cd", 2, None),
    ],
)
def test_token_at(text: str, at: int, expected: str | None) -> None:
    m = token_at(text, at)
    assert expected == (m.group() if m else None)


@pytest.mark.parametrize(
    ("count", "one", "many", "said"),
    [
        (1, "watch", "watches", "1 watch"),
        (2, "watch", "watches", "2 watches"),
        (0, "feed", None, "0 feeds"),
        (1, "article", None, "1 article"),
        (1, "copy", "copies", "1 copy"),
        (3, "story", "stories", "3 stories"),
        (12_500, "article", None, "12500 articles"),
    ],
)
def test_plural_makes_the_noun_agree_with_its_count(
    count: int, one: str, many: str | None, said: str
) -> None:
    """One is singular; zero and the rest are plural, with the irregular form given."""
    assert said == plural(count, one, many)
