"""Match an article against compiled rules: a pure, deterministic function that never raises.

Per field: tokenize once, look each distinct token up in the pattern tables, then confirm the
terms those patterns start (phrases need their words at consecutive positions). Only rules that a
present term can wake (and the few that hold on an empty article, such as `none`-only rules) are
evaluated. Evidence is built only for rules that matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from monitor.matching.compiler import (
    CompiledRule,
    CompiledRules,
    CondNode,
    EntityNode,
    Node,
    TermNode,
)
from monitor.models import Article, Evidence, Match
from monitor.text import iter_token_spans, token_key, tokenize

SNIPPET_CHARS = 60
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Hit:
    """Where a term was first found in a field: token indexes, or characters for a regex."""

    start: int
    end: int
    chars: bool


FieldHits = dict[int, Hit]


def _by_start(table: Mapping[str, T], lengths: tuple[int, ...], text: str) -> Iterator[T]:
    """The entries of `table` keyed by a start of `text`, for each key length in `lengths`."""
    for length in lengths:
        if length > len(text):
            return
        hit = table.get(text[:length])
        if hit is not None:
            yield hit


def _token_patterns(key: str, c: CompiledRules) -> tuple[int, ...]:
    folded = key.casefold()
    found = [pid for pid in (c.ci_literal.get(folded), c.cs_literal.get(key)) if pid is not None]
    found += _by_start(c.ci_prefix, c.ci_prefix_lengths, folded)
    found += _by_start(c.cs_prefix, c.cs_prefix_lengths, key)
    for by_length in _by_start(c.ci_globs, c.ci_glob_lengths, folded):
        for globs in (by_length.get(len(folded), ()), by_length.get(-1, ())):
            found += (pid for regex, pid in globs if regex.fullmatch(folded))
    for by_length in _by_start(c.cs_globs, c.cs_glob_lengths, key):
        for globs in (by_length.get(len(key), ()), by_length.get(-1, ())):
            found += (pid for regex, pid in globs if regex.fullmatch(key))
    return tuple(found)


def _pattern_positions(text: str, c: CompiledRules) -> dict[int, list[int]]:
    """Map each token pattern found in `text` to the token positions where it stands."""
    positions: dict[int, list[int]] = {}
    seen: dict[str, tuple[int, ...]] = {}
    for i, token in enumerate(tokenize(text)):
        pids = seen.get(token)
        if pids is None:
            pids = seen[token] = _token_patterns(token_key(token), c)
        for pid in pids:
            positions.setdefault(pid, []).append(i)
    return positions


def _phrase_start(
    places: list[int], rest: tuple[int, ...], positions: dict[int, list[int]]
) -> int | None:
    """Return the first place where the words of `rest` follow in order, if any."""
    if any(p not in positions for p in rest):
        return None
    following = [set(positions[p]) for p in rest]
    for start in places:
        if all(start + k in after for k, after in enumerate(following, 1)):
            return start
    return None


def scan_field(text: str, c: CompiledRules) -> FieldHits:
    """Find every term of the rule set present in one field's text, with its first place."""
    hits: FieldHits = {}
    if not text:
        return hits
    positions = _pattern_positions(text, c)
    for pid, places in positions.items():
        for tid in c.terms_by_first_pattern.get(pid, ()):
            rest = c.terms[tid].patterns[1:]
            start = places[0] if not rest else _phrase_start(places, rest, positions)
            if start is not None:
                hits[tid] = Hit(start, start + len(rest) + 1, chars=False)
    lowered: str | None = None
    for tid in c.regex_terms:
        term = c.terms[tid]
        regex = term.regex
        if regex is None:
            continue
        if term.required is not None:
            if regex.flags & re.IGNORECASE:
                lowered = text.lower() if lowered is None else lowered
                if term.required not in lowered:
                    continue
            elif term.required not in text:
                continue
        # The first non-empty match: an empty one (from `x*`, say) finds no text.
        m = next((m for m in regex.finditer(text) if m.end() > m.start()), None)
        if m is not None:
            hits[tid] = Hit(m.start(), m.end(), chars=True)
    return hits


class _Article:
    """One article's scan: hits per field, and what is present for a set of fields."""

    def __init__(self, article: Article, c: CompiledRules) -> None:
        self.article = article
        self.c = c
        self.hits = {f: scan_field(article.field_text(f), c) for f in c.fields}
        self._present: dict[tuple[str, ...], set[int]] = {}
        self._mentioned: dict[tuple[str, ...], set[int]] = {}
        self.spans: dict[str, list[tuple[str, int, int]]] = {}  # token offsets, for evidence

    def present(self, fields: tuple[str, ...]) -> set[int]:
        found = self._present.get(fields)
        if found is None:
            found = set().union(*(self.hits[f] for f in fields))
            self._present[fields] = found
        return found

    def mentioned(self, fields: tuple[str, ...]) -> set[int]:
        found = self._mentioned.get(fields)
        if found is None:
            present = self.present(fields)
            found = set()
            for tid in present:
                for eid in self.c.entities_by_name.get(tid, ()):
                    context = self.c.entities[eid].context
                    if not context or not present.isdisjoint(context):
                        found.add(eid)
            self._mentioned[fields] = found
        return found


def _holds(node: Node, present: set[int], mentioned: set[int]) -> bool:
    if isinstance(node, TermNode):
        return node.term in present
    if isinstance(node, EntityNode):
        return not mentioned.isdisjoint(node.entities)
    if not all(_holds(n, present, mentioned) for n in node.all):
        return False
    if any(_holds(n, present, mentioned) for n in node.none):
        return False
    if node.any:
        count = 0
        for n in node.any:
            if _holds(n, present, mentioned):
                count += 1
                if count >= node.min:
                    break
        else:
            return False
    return True


def _applies(rule: CompiledRule, article: Article) -> bool:
    """Feed and language filters. An article of unknown feed or language is not filtered out."""
    if rule.feed_ids is not None and article.feed is not None and article.feed not in rule.feed_ids:
        return False
    languages = rule.spec.languages
    if languages and article.language:
        lang = article.language
        return lang in languages or lang.split("-", 1)[0] in languages
    return True


def match_article(article: Article, c: CompiledRules) -> tuple[Match, ...]:
    """Return the matches of every rule that holds for `article`, in rule order."""
    scan = _Article(article, c)
    candidates = set(c.always_candidates)
    for hits in scan.hits.values():
        for tid in hits:
            candidates.update(c.rules_by_term.get(tid, ()))
    matches = []
    for rid in sorted(candidates):
        rule = c.rules[rid]
        if not _applies(rule, article):
            continue
        fields = rule.spec.fields
        present, mentioned = scan.present(fields), scan.mentioned(fields)
        if rule.match is not None and not _holds(rule.match, present, mentioned):
            continue
        if rule.entities is not None and not _holds(rule.entities, present, mentioned):
            continue
        matches.append(
            Match(
                rule_id=rule.spec.id,
                article_id=article.id,
                severity=rule.spec.severity,
                notify=rule.spec.notify,
                evidence=_evidence(rule, scan),
                mode=rule.spec.mode,
            )
        )
    return tuple(matches)


def _evidence(rule: CompiledRule, scan: _Article) -> tuple[Evidence, ...]:
    """Every term and entity in a positive position of the rule that is present."""
    c = scan.c
    fields = rule.spec.fields
    mentioned = scan.mentioned(fields)
    found: dict[tuple[str, str], Evidence] = {}
    spans = scan.spans
    stack = [n for n in (rule.match, rule.entities) if n is not None]
    while stack:
        node = stack.pop()
        if isinstance(node, CondNode):
            stack.extend((*node.all, *node.any))
        elif isinstance(node, TermNode):
            _add_evidence(
                found, "term", c.terms[node.term].label, (node.term,), scan, spans, fields
            )
        else:
            for eid in sorted(node.entities & mentioned):
                entity = c.entities[eid]
                _add_evidence(found, "entity", entity.id, entity.names, scan, spans, fields)
    order = {f: i for i, f in enumerate(fields)}
    return tuple(sorted(found.values(), key=lambda e: (order[e.field], e.start, e.kind, e.value)))


def _add_evidence(
    found: dict[tuple[str, str], Evidence],
    kind: str,
    value: str,
    term_ids: tuple[int, ...],
    scan: _Article,
    spans: dict[str, list[tuple[str, int, int]]],
    fields: tuple[str, ...],
) -> None:
    if (kind, value) in found:
        return
    for name in fields:
        hits = scan.hits[name]
        field_hits = [hits[t] for t in term_ids if t in hits]
        if not field_hits:
            continue
        text = scan.article.field_text(name)
        start, end = _char_span(
            min(field_hits, key=lambda h: (h.chars, h.start)), text, name, spans
        )
        found[(kind, value)] = Evidence(
            kind=kind,
            value=value,
            field=name,
            text=text[start:end],
            snippet=snippet(text, start, end),
            start=start,
            end=end,
        )
        return


def _char_span(
    hit: Hit, text: str, name: str, spans: dict[str, list[tuple[str, int, int]]]
) -> tuple[int, int]:
    if hit.chars:
        return hit.start, hit.end
    if name not in spans:
        spans[name] = list(iter_token_spans(text))
    tokens = spans[name]
    return tokens[hit.start][1], tokens[hit.end - 1][2]


def snippet(text: str, start: int, end: int, width: int = SNIPPET_CHARS) -> str:
    """Return the text around [start, end), cut at spaces, with an ellipsis where cut."""
    lo = max(0, start - width)
    hi = min(len(text), end + width)
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else hi
    return ("…" if lo > 0 else "") + text[lo:hi].strip() + ("…" if hi < len(text) else "")
