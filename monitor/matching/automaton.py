"""Multi-pattern automata that find where the words of a rule set may stand in a field.

Every token pattern gets an anchor: a string that is certain to appear, at a known distance
from the token's start, in the `boundary_form` of any text where the pattern matches. Literals
and prefixes are anchored by themselves behind a space (" defense ", " minist"); a glob by its
longest literal run; a regular expression by the literal it requires, if it has one. One
Aho-Corasick automaton (Rust, `ahocorasick-rs`) per case mode finds every anchor of every
pattern in one pass over the text; each hit is then confirmed against the real token, so an
anchor only has to be present, never sufficient.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import ahocorasick_rs

from monitor.kernel.text import NO_SPACE_RE, boundary_form
from monitor.matching.spec import Glob, TokenPattern

LITERAL: Final = 0
PREFIX: Final = 1
GLOB: Final = 2
REGEX: Final = 3  # a regex term's required literal: run the regex over the field
REGEX_AT: Final = 4  # ...a literal every match begins with: try the regex where it stands

# What a hit on an anchor asks the scanner to confirm: (kind, pattern or term id, the literal to
# compare the token with, the glob's regex, distance from the hit's start to the token's start,
# the token's length in characters if the pattern fixes it (globs without `*`, literals without
# apostrophes), else -1).
Check = tuple[int, int, str, Glob | None, int, int]


@dataclass(frozen=True, slots=True)
class Automaton:
    """The anchors of one case mode (casefolded or exact) and what each asks to confirm."""

    search: ahocorasick_rs.AhoCorasick
    checks: tuple[tuple[Check, ...], ...]  # indexed like the automaton's patterns


@dataclass(frozen=True, slots=True)
class Automata:
    """Both automata, or the reason the rule set cannot be scanned by anchors alone."""

    folded: Automaton | None
    exact: Automaton | None
    # A glob made only of `?` has no anchor: the Python matcher scans such a rule set token
    # by token (the native engine finds those globs by their tokens' lengths).
    complete: bool


# Memoised: a reload anchors the same patterns again (65,662 globs at 100,000 watches).
@lru_cache(maxsize=1 << 18)
def pattern_anchor(pattern: TokenPattern) -> tuple[str, int] | None:
    """The anchor string of a token pattern and its distance to the token's start.

    The stream an anchor is searched in is `" " + boundary_form(text) + " "`, so offset `s` in
    it is offset `s - 1` in the text. None when the pattern has no anchor.
    """
    if pattern.kind != "glob":
        # A word of a pattern is word characters and inner apostrophes, or one character of
        # a script without spaces (which no boundary form holds).
        if NO_SPACE_RE.match(pattern.text):
            return None
        word = pattern.text.replace("'", " ")
        return (f" {word} ", 0) if pattern.kind == "literal" else (f" {word}", 0)
    best: tuple[str, int] | None = None
    offset = 0
    for chunk in pattern.text.rstrip("*").split("?"):
        form = boundary_form(chunk) if chunk else None
        if form:
            # The first run is anchored at the token's start, which the space makes sure of.
            candidate = (f" {form}", 0) if offset == 0 else (form, offset + 1)
            if best is None or len(candidate[0]) > len(best[0]):
                best = candidate
        offset += len(chunk) + 1
    return best


def unanchored(pattern: TokenPattern) -> bool:
    """Whether a pattern without an anchor can still match text that has a boundary form.

    A pattern in a script without spaces never does (such text is scanned token by token);
    only a glob made of `?`s does, and the Python matcher scans a rule set holding one token by
    token.
    """
    return pattern.kind == "glob" and not pattern.text.rstrip("*").strip("?")


def glob_anchors(patterns: dict[TokenPattern, int]) -> tuple[list[tuple[int, str, int]], bool]:
    """The anchors of the glob patterns, as (pattern id, anchor, distance back), and whether
    every pattern can be found by its anchor (the native engine anchors words itself)."""
    found: list[tuple[int, str, int]] = []
    complete = True
    for pattern, pid in patterns.items():
        if pattern.kind == "glob":
            anchor = pattern_anchor(pattern)
            if anchor is not None:
                found.append((pid, *anchor))
            else:
                complete = complete and not unanchored(pattern)
    return found, complete


@dataclass(frozen=True, slots=True)
class Anchors:
    """Every anchor of a rule set, per case mode, with what a hit on it asks to confirm."""

    folded: dict[str, list[Check]]
    exact: dict[str, list[Check]]
    # A glob made only of `?` has no anchor: the Python matcher scans such a rule set token
    # by token (the native engine finds those globs by their tokens' lengths).
    complete: bool


def anchors(
    patterns: dict[TokenPattern, int], required: list[tuple[int, str, bool, bool]]
) -> Anchors:
    """The anchors of token patterns (with their ids) and of regex terms' literals.

    `required` holds (term id, required literal, case-sensitive, leads) for each regex term
    that has a literal every match contains (`leads`: every match begins with it).
    """
    table: dict[bool, dict[str, list[Check]]] = {
        False: defaultdict(list),
        True: defaultdict(list),
    }
    complete = True
    kinds = {"literal": LITERAL, "prefix": PREFIX, "glob": GLOB}
    for pattern, pid in patterns.items():
        found = pattern_anchor(pattern)
        if found is None:
            complete = complete and not unanchored(pattern)
            continue
        text, back = found
        kind = kinds[pattern.kind]
        glob = Glob(pattern.text) if kind == GLOB else None
        if kind == GLOB:
            length = -1 if pattern.text.endswith("*") else len(pattern.text)
        else:  # a literal without apostrophes is exactly as long as its token's key
            length = len(pattern.text) if kind == LITERAL and "'" not in pattern.text else -1
        table[pattern.case][text].append((kind, pid, pattern.text, glob, back, length))
    for tid, literal, case, leads in required:
        # A bare anchor: offset `s` in the stream is offset `s - 1` in the text.
        table[case][literal].append((REGEX_AT if leads else REGEX, tid, literal, None, 1, -1))
    return Anchors(folded=table[False], exact=table[True], complete=complete)


def build_automata(found: Anchors) -> Automata:
    """Build one automaton per case mode that has anchors (emptying `found`'s tables)."""
    return Automata(
        folded=_automaton(found.folded), exact=_automaton(found.exact), complete=found.complete
    )


def _automaton(anchors: dict[str, list[Check]]) -> Automaton | None:
    if not anchors:
        return None
    strings = list(anchors)
    search = ahocorasick_rs.AhoCorasick(strings)
    # Popped one by one, so the lists are freed as their tuples are made (a lower peak).
    return Automaton(search=search, checks=tuple(tuple(anchors.pop(a)) for a in strings))
