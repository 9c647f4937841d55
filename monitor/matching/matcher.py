"""Match an article against compiled rules: a pure, deterministic function.

It never raises, unless given a time budget that the article outruns (`MatchCutOff`).

Per field, `monitor.matching.scan` finds the terms present. Only rules that a present term can
wake (and the few that hold on an empty article, such as `none`-only rules) are evaluated.
Evidence is built only for rules that matched.

The native engine (`monitor.kernel.native`) does all of this in one call per article, with
the same results, and makes the `Match` objects itself (running the regexes on the same
linear-time engine, `monitor.matching.regexes`). Without the engine, the same work runs here.
"""

from __future__ import annotations

import time

from monitor.kernel import native
from monitor.kernel.errors import MatchCutOff
from monitor.kernel.models import Article, Evidence, Match
from monitor.matching.compiler import (
    CompiledRule,
    CompiledRules,
    CondNode,
    EntityNode,
    Node,
    TermNode,
)
from monitor.matching.scan import scan_field, scan_tokens, streams

SNIPPET_CHARS = 60


class _Article:
    """One article's scan: hits per field, and what is present for a set of fields."""

    def __init__(self, article: Article, c: CompiledRules, budget_s: float | None) -> None:
        self.article = article
        self.c = c
        started = time.monotonic()
        self.hits = {}
        for f in c.fields:
            if budget_s is not None and time.monotonic() - started > budget_s:
                raise MatchCutOff(f"matching took over {budget_s} s; cut off before field {f}")
            self.hits[f] = scan_field(article.field_text(f), c)
        self._present: dict[tuple[str, ...], set[int]] = {}
        self._mentioned: dict[tuple[str, ...], set[int]] = {}

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


def match_article(
    article: Article, c: CompiledRules, *, budget_s: float | None = None
) -> tuple[Match, ...]:
    """Return the matches of every rule that holds for `article`, in rule order.

    With `budget_s`, an article still being matched after that many seconds is cut off:
    `MatchCutOff` is raised, and none of its matches are returned (a half-matched article could
    fire a watch whose `none:` was never tested).
    """
    if c.engine is not None:
        return _match_native(article, c, c.engine, budget_s)
    return match_in_python(article, c, budget_s=budget_s)


# What the engine is given of each field: its streams to scan, or the hits found in Python.
Scans = list[tuple[str | None, str | None] | None]
Given = list[list[tuple[int, int, int, bool]] | None]


def _prepare(texts: list[str], c: CompiledRules, engine: native.Engine) -> tuple[Scans, Given]:
    """Each field's streams to scan (an ASCII text's the engine makes itself), or the hits
    Python found in a field the engine cannot scan."""
    scans: Scans = []
    given: Given = []
    for text in texts:
        if text and text.isascii():
            scans.append((None, None))
            given.append(None)
            continue
        # The engine finds globs without an anchor itself (by their tokens' lengths).
        found = streams(text, engine.modes) if text else None
        if text and found is None:
            hits = scan_tokens(text, c)
            given.append([(tid, h.start, h.end, h.regex) for tid, h in hits.items()])
            scans.append(None)
        else:
            given.append(None)
            scans.append(found)
    return scans, given


def _match_native(
    article: Article, c: CompiledRules, engine: native.Engine, budget_s: float | None
) -> tuple[Match, ...]:
    texts = [article.field_text(name) for name in c.fields]
    scans: Scans
    given: Given
    if all(map(str.isascii, texts)):
        # The common case, in short: the engine makes every field's streams.
        scans, given = [(None, None)] * len(texts), [None] * len(texts)
    else:
        scans, given = _prepare(texts, c, engine)
    try:
        return engine.match_article(
            texts, scans, given, article.id, article.feed, article.language, budget_s
        )
    except TimeoutError as exc:
        raise MatchCutOff(str(exc)) from exc
    except Exception:
        raise
    except BaseException as exc:
        # A panic in the engine arrives as pyo3's PanicException, a BaseException that would
        # end the service: make it an error the matcher loop reports and retries.
        if type(exc).__name__ != "PanicException":
            raise
        raise RuntimeError(f"the native engine failed on article {article.id!r}: {exc}") from exc


def match_in_python(
    article: Article, c: CompiledRules, *, budget_s: float | None = None
) -> tuple[Match, ...]:
    """`match_article` without the native engine (the same results, several times slower).

    `c` must be compiled for it (`compile_rules(..., engine=False)`, or where the engine is
    not installed): rules compiled for the engine keep no condition trees here.
    """
    if c.engine is not None:
        raise ValueError("these rules were compiled for the native engine (engine=False)")
    scan = _Article(article, c, budget_s)
    candidates = set(c.always_candidates)
    for hits in scan.hits.values():
        for tid in hits:
            candidates.update(c.rules_by_term.get(tid, ()))
            for eid in c.entities_by_name.get(tid, ()):
                for sid in c.sets_by_entity.get(eid, ()):
                    candidates.update(c.rules_by_set[sid])
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
    stack = [n for n in (rule.match, rule.entities) if n is not None]
    while stack:
        node = stack.pop()
        if isinstance(node, CondNode):
            stack.extend((*node.all, *node.any))
        elif isinstance(node, TermNode):
            _add_evidence(found, "term", c.terms[node.term].label, (node.term,), scan, fields)
        else:
            for eid in sorted(node.entities & mentioned):
                entity = c.entities[eid]
                _add_evidence(found, "entity", entity.id, entity.names, scan, fields)
    order = {f: i for i, f in enumerate(fields)}
    return tuple(sorted(found.values(), key=lambda e: (order[e.field], e.start, e.kind, e.value)))


def _add_evidence(
    found: dict[tuple[str, str], Evidence],
    kind: str,
    value: str,
    term_ids: tuple[int, ...],
    scan: _Article,
    fields: tuple[str, ...],
) -> None:
    if (kind, value) in found:
        return
    for name in fields:
        hits = scan.hits[name]
        field_hits = [(hits[t], t) for t in term_ids if t in hits]
        if not field_hits:
            continue
        text = scan.article.field_text(name)
        # A word or phrase is better evidence than a regex; then the earliest.
        first, tid = min(field_hits, key=lambda ht: (ht[0].regex, ht[0].start))
        start, end = first.start, first.end
        found[(kind, value)] = Evidence(
            kind=kind,
            value=value,
            field=name,
            text=text[start:end],
            snippet=snippet(text, start, end),
            start=start,
            end=end,
            language=scan.c.terms[tid].language,
        )
        return


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
