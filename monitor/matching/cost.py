"""What each watch costs the matcher, measured on a sample of articles.

A watch's cost is the time the matcher takes over the sample with that watch alone (and the
entities it names), less the time it takes with one watch that finds nothing: what its terms
cost to find and its conditions to test. Terms shared with other watches are counted for each
of them, so the figure is what the watch would cost on its own: an upper bound on what removing
it saves.

Measuring every watch of a large rule set alone would take minutes; beyond `limit` watches,
only those whose shape can be costly are measured (regexes, short prefixes, globs with short
literals, phrases, many terms), the costliest-looking first. A watch of plain words costs
about as little as any: it is found by one table lookup per token, like every other word.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.kernel.models import Article, make_article
from monitor.matching.compiler import CompiledRules, compile_rules
from monitor.matching.matcher import match_article
from monitor.matching.spec import (
    Condition,
    EntityRef,
    EntitySpec,
    RuleSet,
    RuleSpec,
    Term,
    TokenPattern,
)

# A watch costing more than this share of the whole rule set's time is flagged.
COSTLY_SHARE = 0.10
# Watches measured one by one, at most (about a millisecond each on 200 articles).
MEASURED = 2_000
# Each measurement's passes cover at least this many articles: the least of 3 passes over 5
# stored articles was noise on a busy machine, and flagged a one-word watch as costly.
MIN_ARTICLES_MEASURED = 200
FILLER = [
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "they", "you", "were", "her", "she", "there", "been", "one", "all", "we", "their",
    "has", "would", "when", "if", "said", "after", "over", "new", "more", "year", "people",
    "government", "minister", "police", "report", "city",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class RuleCost:
    """One watch's cost: seconds per article, and its share of the whole rule set's time."""

    rule_id: str
    path: str
    line: int
    seconds_per_article: float
    share: float

    @property
    def costly(self) -> bool:
        """Whether it costs more than `COSTLY_SHARE` of the matcher's time."""
        return self.share > COSTLY_SHARE


@dataclass(frozen=True, slots=True)
class CostReport:
    """The whole rule set's time per article, and the measured watches, costliest first."""

    seconds_per_article: float
    articles: int
    costs: tuple[RuleCost, ...]
    not_measured: int  # watches left out as cheap (plain words), past `limit`


def rule_costs(
    rule_set: RuleSet,
    articles: Sequence[Article],
    *,
    compiled: CompiledRules | None = None,
    limit: int = MEASURED,
    runs: int = 3,
) -> CostReport:
    """Measure each watch's cost over `articles` (see the module's comment). `compiled` is the
    whole rule set compiled, when the caller has it already."""
    if not articles:
        raise ValueError("no articles to measure the watches on")
    whole = compiled if compiled is not None else compile_rules(rule_set)
    runs = max(runs, -(-MIN_ARTICLES_MEASURED // len(articles)))
    total = _per_article(whole, articles, runs)
    # The baseline: one watch that finds nothing, so that what every rule set pays per article
    # (the fields' streams, the scan's fixed work) is not counted as any one watch's cost.
    empty = _per_article(compile_rules(_NOTHING), articles, runs)
    rules = [r for r in rule_set.rules if r.enabled]
    chosen = sorted(rules, key=_risk, reverse=True)[:limit] if len(rules) > limit else rules
    costs = []
    for spec in chosen:
        alone = compile_rules(RuleSet(rules=(spec,), entities=_entities_of(spec, rule_set)))
        seconds = max(0.0, _per_article(alone, articles, runs) - empty)
        share = seconds / total if total > 0 else 0.0
        costs.append(RuleCost(spec.id, spec.path, spec.line, seconds, share))
    costs.sort(key=lambda c: c.seconds_per_article, reverse=True)
    return CostReport(total, len(articles), tuple(costs), len(rules) - len(chosen))


_WORD = TokenPattern("literal", "qzxjvq", False)
_NOTHING = RuleSet(
    rules=(
        RuleSpec(
            id="nothing",
            path="-",
            line=0,
            match=Condition(any=(Term(source="qzxjvq", case=False, words=(_WORD,)),)),
        ),
    )
)


def generated_articles(rule_set: RuleSet, count: int = 200, seed: int = 7) -> list[Article]:
    """Articles of about 3 KB whose text mixes the rule set's own words with common English,
    for when no stored articles are at hand: each watch's terms then occur in some of them."""
    rng = random.Random(seed)  # noqa: S311 - sample text, not secrets
    words = sorted(
        {
            w.text.rstrip("*").replace("?", "a")
            for spec in rule_set.rules
            for term in _terms(spec.match)
            for w in term.words
        }
    ) or ["news"]
    articles = []
    for n in range(count):
        text = " ".join(
            rng.choice(words) if rng.random() < 0.15 else rng.choice(FILLER) for _ in range(500)
        )
        title = " ".join(rng.choice(words) for _ in range(6))
        articles.append(make_article(id=f"cost-{n}", feed="cost", title=title, content=text))
    return articles


def _per_article(compiled: CompiledRules, articles: Sequence[Article], runs: int) -> float:
    """The least of `runs` passes over the articles, per article (the least is the one least
    disturbed by the machine's other work)."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        for article in articles:
            match_article(article, compiled)
        best = min(best, time.perf_counter() - started)
    return best / len(articles)


def _leaves(cond: Condition | None) -> list[Term | EntityRef]:
    """The terms and entity references of a condition, nested ones included."""
    if cond is None:
        return []
    found: list[Term | EntityRef] = []
    for item in (*cond.all, *cond.any, *cond.none):
        if isinstance(item, Condition):
            found.extend(_leaves(item))
        else:
            found.append(item)
    return found


def _terms(cond: Condition | None) -> list[Term]:
    return [t for t in _leaves(cond) if isinstance(t, Term)]


def _refs(cond: Condition | None) -> list[EntityRef]:
    return [r for r in _leaves(cond) if isinstance(r, EntityRef)]


def _entities_of(spec: RuleSpec, rule_set: RuleSet) -> tuple[EntitySpec, ...]:
    """The entities a watch names (by id, tag or type)."""
    refs = _refs(spec.entities) + _refs(spec.match)
    if not refs:
        return ()
    ids = {r.value for r in refs if r.kind == "id"}
    tags = {r.value for r in refs if r.kind == "tag"}
    types = {r.value for r in refs if r.kind == "type"}
    return tuple(
        e for e in rule_set.entities if e.id in ids or tags & set(e.tags) or e.type in types
    )


def _risk(spec: RuleSpec) -> int:
    """How costly a watch's shape can be, for choosing which to measure."""
    terms = _terms(spec.match)
    score = len(terms) + 10 * len(_refs(spec.entities))
    for term in terms:
        if term.regex is not None:
            score += 1000
        elif len(term.words) > 1:
            score += 50
        for word in term.words:
            literal = max(word.text.rstrip("*").split("?"), key=len)
            if word.kind != "literal" and len(literal) <= 3:
                score += 100
    return score
