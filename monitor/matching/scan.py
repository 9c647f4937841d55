"""Find every term of a compiled rule set present in one field's text, with its first place.

The fast way runs the rule set's automata over the field's `boundary_form` (one Rust pass per
case mode) and confirms each anchor hit against the real token at that place: the cost is a
pass over the text plus work per hit, not per token. Text the boundary form cannot stand for
(scripts without spaces; characters whose case folding changes the length, like "ß") is
scanned token by token, as is (here, not in the native engine) a rule set with an unanchored
glob. Both ways give the same hits; a property test holds them to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from monitor.kernel.text import boundary_form, iter_token_spans, token_after, token_at, token_key
from monitor.matching.automaton import GLOB, LITERAL, PREFIX, REGEX, Automaton
from monitor.matching.compiler import CompiledRules
from monitor.matching.tables import TokenTables

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Hit:
    """Where a term was first found in a field, in characters; `regex` for a regex term."""

    start: int
    end: int
    regex: bool


FieldHits = dict[int, Hit]
# Token pattern id -> {start of a token it matches: end of that token}, in characters.
Occurrences = dict[int, dict[int, int]]


def streams(
    text: str, modes: tuple[bool, bool], *, complete: bool = True
) -> tuple[str | None, str | None] | None:
    """The streams the anchors of each case mode are searched in: `" " + boundary form + " "`,
    casefolded for the case-insensitive mode; None for a mode without anchors (`modes` tells
    which have some: the Python automata's, or the native engine's).

    None when the text must be scanned token by token: a script without spaces, a character
    whose case folding changes the length, or (`complete` false) a rule set whose anchors
    cannot find every pattern: the Python automata's with an unanchored glob.
    """
    form = boundary_form(text) if complete else None
    if form is None:
        return None
    has_folded, has_exact = modes
    folded = form.casefold() if has_folded else form
    if len(folded) != len(text):
        return None
    return (f" {folded} " if has_folded else None), (f" {form} " if has_exact else None)


def scan_field(text: str, c: CompiledRules) -> FieldHits:
    """Find every term of the rule set present in one field's text, with its first place."""
    if not text:
        return {}
    automata = c.automata
    modes = (automata.folded is not None, automata.exact is not None)
    found = streams(text, modes, complete=c.complete)
    if found is None:
        return scan_tokens(text, c)
    folded, exact = found
    occurrences: Occurrences = {}
    # Regex term id -> None (run over the field) or the places its leading literal stands.
    regexes: dict[int, list[int] | None] = dict.fromkeys(c.open_regex_terms)
    if automata.folded is not None and folded is not None:
        _confirm(automata.folded, folded, text, True, occurrences, regexes)
    if automata.exact is not None and exact is not None:
        _confirm(automata.exact, exact, text, False, occurrences, regexes)
    hits: FieldHits = {}
    for pid, starts in occurrences.items():
        for tid in c.terms_by_first_pattern.get(pid, ()):
            hit = _term_hit(starts, c.terms[tid].patterns[1:], occurrences, text)
            if hit is not None:
                hits[tid] = hit
    for tid, places in regexes.items():
        _regex_hit(text, c, tid, hits, places)
    return hits


def _confirm(
    automaton: Automaton,
    stream: str,
    text: str,
    fold: bool,
    occurrences: Occurrences,
    regexes: dict[int, list[int] | None],
) -> None:
    """Confirm each anchor hit in `stream` against the token of `text` it stands for."""
    tokens = _Tokens(text, fold)
    checks = automaton.checks
    last = len(stream) - 1
    for index, start, _ in automaton.search.find_matches_as_indexes(stream, overlapping=True):
        for kind, ident, literal, glob, back, length in checks[index]:
            at = start - back
            if kind >= REGEX:
                _note_regex(regexes, ident, None if kind == REGEX else at)
                continue
            # Cheap refusals first: a token starts after a boundary (a space in the stream,
            # where offset `at` stands for the character before the token), and a glob
            # without `*` fixes where it ends.
            if at < 0 or stream[at] != " ":
                continue
            if length >= 0 and (at + length >= last or stream[at + length + 1] != " "):
                continue
            if kind == LITERAL and length >= 0:
                # A word between spaces in the stream is a whole token unless an apostrophe
                # stands next to it in the text ("o'brien", "don't", "russia's").
                after = at + length
                if (at == 0 or text[at - 1] != "'") and (after == len(text) or text[after] != "'"):
                    occurrences.setdefault(ident, {})[at] = after
                    continue
            token = tokens.at(at)
            if token is None:
                continue
            key, end = token
            if kind == LITERAL:
                found = key == literal
            elif kind == PREFIX:
                found = key.startswith(literal)
            else:
                found = kind == GLOB and glob is not None and glob.fullmatch(key)
            if found:
                occurrences.setdefault(ident, {})[at] = end


class _Tokens:
    """The tokens of a text read at the places hits point to, each read once."""

    def __init__(self, text: str, fold: bool) -> None:
        self.text, self.fold = text, fold
        self.found: dict[int, tuple[str, int] | None] = {}  # start -> (key, end), or None

    def at(self, start: int) -> tuple[str, int] | None:
        """The comparison key and end of the token that begins at `start`, if one does."""
        if start in self.found:
            return self.found[start]
        m = token_at(self.text, start)
        token = None
        if m is not None:
            key = token_key(m.group())
            token = (key.casefold() if self.fold else key, m.end())
        self.found[start] = token
        return token


def _note_regex(regexes: dict[int, list[int] | None], tid: int, at: int | None) -> None:
    """Note a regex term's literal: run it over the field (`at` None), or try it at `at`."""
    places = regexes.get(tid, [])
    if at is None or places is None:
        regexes[tid] = None
    else:
        places.append(at)
        regexes[tid] = places


def _term_hit(
    starts: dict[int, int], rest: tuple[int, ...], occurrences: Occurrences, text: str
) -> Hit | None:
    """The first place of a term whose first word stands at `starts`; the others must follow."""
    if not rest:
        first = min(starts)
        return Hit(first, starts[first], regex=False)
    if any(p not in occurrences for p in rest):
        return None
    for first in sorted(starts):
        end: int | None = starts[first]
        for p in rest:
            after = token_after(text, end) if end is not None else None
            end = occurrences[p].get(after.start()) if after is not None else None
            if end is None:
                break
        if end is not None:
            return Hit(first, end, regex=False)
    return None


def _regex_hit(
    text: str, c: CompiledRules, tid: int, hits: FieldHits, places: list[int] | None = None
) -> None:
    """Add a regex term's first non-empty match, if it has one (see `regex_span`)."""
    span = regex_span(text, c, tid, places)
    if span is not None:
        hits[tid] = Hit(span[0], span[1], regex=True)


def regex_span(
    text: str, c: CompiledRules, tid: int, places: list[int] | None = None
) -> tuple[int, int] | None:
    """The start and end of a regex term's first non-empty match in `text` (an empty one,
    from `x*`, finds no text). With `places`, every match begins at one of them: the regex is
    tried there only.
    """
    regex = c.terms[tid].regex
    if regex is None:
        return None
    return regex.first_span(text, places)


def _by_start(table: Mapping[str, T], lengths: tuple[int, ...], text: str) -> Iterator[T]:
    """The entries of `table` keyed by a start of `text`, for each key length in `lengths`."""
    for length in lengths:
        if length > len(text):
            return
        hit = table.get(text[:length])
        if hit is not None:
            yield hit


def _token_patterns(key: str, c: TokenTables) -> tuple[int, ...]:
    folded = key.casefold()
    found = [pid for pid in (c.ci_literal.get(folded), c.cs_literal.get(key)) if pid is not None]
    found += _by_start(c.ci_prefix, c.ci_prefix_lengths, folded)
    found += _by_start(c.cs_prefix, c.cs_prefix_lengths, key)
    for by_length in _by_start(c.ci_globs, c.ci_glob_lengths, folded):
        for globs in (by_length.get(len(folded), ()), by_length.get(-1, ())):
            found += (pid for glob, pid in globs if glob.fullmatch(folded))
    for by_length in _by_start(c.cs_globs, c.cs_glob_lengths, key):
        for globs in (by_length.get(len(key), ()), by_length.get(-1, ())):
            found += (pid for glob, pid in globs if glob.fullmatch(key))
    return tuple(found)


def scan_tokens(text: str, c: CompiledRules) -> FieldHits:
    """The same hits as `scan_field`, found by looking every token up in the pattern tables."""
    spans = list(iter_token_spans(text))
    positions: dict[int, list[int]] = {}
    seen: dict[str, tuple[int, ...]] = {}
    tables = c.tokens.get()
    for i, (token, _, _) in enumerate(spans):
        pids = seen.get(token)
        if pids is None:
            pids = seen[token] = _token_patterns(token_key(token), tables)
        for pid in pids:
            positions.setdefault(pid, []).append(i)
    hits: FieldHits = {}
    for pid, places in positions.items():
        for tid in c.terms_by_first_pattern.get(pid, ()):
            rest = c.terms[tid].patterns[1:]
            start = _phrase_start(places, rest, positions)
            if start is not None:
                hits[tid] = Hit(spans[start][1], spans[start + len(rest)][2], regex=False)
    lowered: str | None = None
    for tid in c.regex_terms:
        term = c.terms[tid]
        required = term.required
        if required is not None and term.regex is not None:
            if term.fold:
                lowered = text.lower() if lowered is None else lowered
                if required not in lowered:
                    continue
            elif required not in text:
                continue
        _regex_hit(text, c, tid, hits)
    return hits


def _phrase_start(
    places: list[int], rest: tuple[int, ...], positions: dict[int, list[int]]
) -> int | None:
    """Return the first place where the words of `rest` follow in order, if any."""
    if not rest:
        return places[0]
    if any(p not in positions for p in rest):
        return None
    following = [set(positions[p]) for p in rest]
    for start in places:
        if all(start + k in after for k, after in enumerate(following, 1)):
            return start
    return None
