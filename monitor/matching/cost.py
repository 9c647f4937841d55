"""What each watch costs the matcher, measured on a sample of articles.

A watch's cost is the time the matcher takes over the sample with that watch alone (and the
entities it names), less the time it takes with one watch that finds nothing: what its terms
cost to find and its conditions to test. Terms shared with other watches are counted for each
of them, so the figure is what the watch would cost on its own: an upper bound on what removing
it saves.

A watch is costly only when it is costly both in absolute terms (more than `COSTLY_SECONDS` an
article: alone, it would cap the matcher below `COSTLY_RATE` articles a second, the rate the
matcher is held to with 100,000 realistic watches, docs/performance.md) and relative to the
others (more than `COSTLY_SHARE` of the sum of the measured watches' costs, the total that the
shares add up to), or when the whole rule set is over its budget (`COSTLY_TOTAL_SECONDS` an
article): then every watch over the absolute bar is part of why, however many share the cost
(a dozen heavy watches each hold under 10%). The absolute test keeps a trivial watch from being
flagged however large its share (a lone watch has 100%); the relative one spares a watch just
over the bar that is a small part of a rule set within its budget.

Times are the measuring thread's CPU time, not the wall clock: on a machine busy with other
work the wall clock counts the time the thread waited for a core, and made trivial watches
look costly.

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

# A watch is costly when it costs more than COSTLY_SECONDS an article (alone, it would cap the
# matcher below COSTLY_RATE articles/s) and more than COSTLY_SHARE of the watches' summed cost.
# The shipped watches cost 0.005-0.035 ms each; a regex of counted `\w+\s+` runs around an
# alternation of common words costs about 1 ms (tests/matching/test_cost.py).
COSTLY_RATE = 5_000
COSTLY_SECONDS = 1 / COSTLY_RATE
COSTLY_SHARE = 0.10
# The whole rule set over this (the matcher below 1,000 articles/s): every watch over the
# absolute bar is flagged, whatever its share.
COSTLY_TOTAL_SECONDS = 5 * COSTLY_SECONDS
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
    """One watch's cost: seconds per article, and its share of the sum of the measured
    watches' costs (the shares of a report add up to 100%)."""

    rule_id: str
    path: str
    line: int
    seconds_per_article: float
    share: float
    set_seconds: float = 0.0  # the whole rule set's time per article, for the budget test

    @property
    def costly(self) -> bool:
        """Whether it is costly in absolute terms and relative to the others or to the rule
        set's budget (see the module's comment): the one test of `check --cost` and of the
        service's `costly_rules` warning."""
        return self.seconds_per_article > COSTLY_SECONDS and (
            self.share > COSTLY_SHARE or self.set_seconds > COSTLY_TOTAL_SECONDS
        )

    @property
    def why(self) -> str:
        """Why it is costly, in words ("" when it is not)."""
        if not self.costly:
            return ""
        relative = (
            f"{self.share:.0%} of the watches' cost, over {COSTLY_SHARE:.0%}"
            if self.share > COSTLY_SHARE
            else f"{self.share:.0%} of the watches' cost, in a rule set costing "
            f"{self.set_seconds * 1000:.2f} ms an article, over {COSTLY_TOTAL_SECONDS * 1000:g}"
        )
        return (
            f"{self.seconds_per_article * 1000:.2f} ms an article, over "
            f"{COSTLY_SECONDS * 1000:g} ms (alone it caps the matcher at "
            f"{1 / self.seconds_per_article:,.0f} articles/s), and {relative}"
        )


@dataclass(frozen=True, slots=True)
class CostReport:
    """The whole rule set's time per article, and the measured watches, costliest first;
    `watches_seconds` is the sum of their costs, the total their shares are of."""

    seconds_per_article: float
    articles: int
    costs: tuple[RuleCost, ...]
    not_measured: int  # watches left out as cheap (plain words), past `limit`
    watches_seconds: float = 0.0

    @property
    def costly(self) -> tuple[RuleCost, ...]:
        """The costly watches, costliest first."""
        return tuple(c for c in self.costs if c.costly)


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
    seconds: list[float] = []
    for spec in chosen:
        alone = compile_rules(RuleSet(rules=(spec,), entities=_entities_of(spec, rule_set)))
        seconds.append(max(0.0, _per_article(alone, articles, runs) - empty))
    # Shares of the sum, so that they add up to 100% (each watch measured alone pays the
    # fields' streams again, so the costs need not add up to the whole rule set's time).
    summed = sum(seconds)
    costs = [
        RuleCost(
            spec.id,
            spec.path,
            spec.line,
            cost,
            cost / summed if summed > 0 else 1 / len(chosen),
            total,
        )
        for spec, cost in zip(chosen, seconds, strict=True)
    ]
    costs.sort(key=lambda c: c.seconds_per_article, reverse=True)
    return CostReport(total, len(articles), tuple(costs), len(rules) - len(chosen), summed)


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
    """The least of `runs` passes over the articles, in this thread's CPU time per article (the
    least is the one least disturbed by the machine's other work)."""
    best = float("inf")
    for _ in range(runs):
        started = time.thread_time()
        for article in articles:
            match_article(article, compiled)
        best = min(best, time.thread_time() - started)
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
