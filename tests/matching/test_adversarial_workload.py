"""The native engine against the Python matcher on the adversarial workload (bench/adversarial.py).

Its watches are the shapes the engine's anchors handle worst (globs with the `?` anywhere,
three-letter prefixes, phrases of common words, regexes with two- to four-letter literals) in
text where short literals are everywhere: each of the engine's ways of finding a term runs, on
ASCII text and, with a few characters changed, on text that is not.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from bench.adversarial import (
    WORST_SHAPES,
    adversarial_articles,
    adversarial_rule_set,
    regex_term,
    with_watch,
)
from monitor.kernel.models import Article, make_article
from monitor.matching.compiler import CompiledRules, compile_rules
from monitor.matching.matcher import match_article, match_in_python
from monitor.matching.schema import parse_rule_file
from tests.support.reference import reference_match


@pytest.fixture(scope="module")
def compiled() -> tuple[CompiledRules, CompiledRules]:
    rules = adversarial_rule_set(2_000)
    # The workload's regexes mostly narrow other terms; these alone show them as evidence.
    rng = random.Random(3)
    alone = [{"id": f"x{i}", "match": {"any": [regex_term(rng)]}} for i in range(300)]
    extra, problems = parse_rule_file("regexes", {"rules": alone})
    assert not problems
    rules = dataclasses.replace(rules, rules=rules.rules + tuple(extra))
    return compile_rules(rules), compile_rules(rules, engine=False)


def _not_ascii(item: Article) -> Article:
    """The article with curly quotes, a dash and accents in it, as news text has."""
    quotes = "\u201c", "\u2019"
    content = item.content.replace(" ko", f" {quotes[0]}ko").replace("la ", f"l\u00e0{quotes[1]} ")
    content = content.replace(". ", " \u2014 ", 3)
    return make_article(
        id=item.id + "-u",
        feed=item.feed,
        title=item.title.replace("a", "á", 2),
        summary=item.summary,
        content=content,
    )


@pytest.mark.native
def test_the_engine_agrees_with_the_python_matcher(
    compiled: tuple[CompiledRules, CompiledRules],
) -> None:
    native, in_python = compiled
    assert native.engine is not None
    matched = 0
    for item in adversarial_articles(12):
        for one in (item, _not_ascii(item)):
            found = match_article(one, native)
            assert found == match_in_python(one, in_python), one.id
            matched += len(found)
    # The comparison means something only if the watches match: many of them do.
    assert matched > 100


def test_regex_terms_match_and_are_shown_as_evidence(
    compiled: tuple[CompiledRules, CompiledRules],
) -> None:
    native, _ = compiled
    shown = [
        e
        for item in adversarial_articles(12)
        for m in match_article(item, native)
        for e in m.evidence
        if e.value.startswith("/")
    ]
    assert len(shown) > 10
    for e in shown:
        assert 0 <= e.start < e.end
        assert e.text


@pytest.mark.parametrize("shape", sorted(WORST_SHAPES))
def test_the_engine_agrees_on_each_worst_watch(shape: str) -> None:
    # Each costliest watch on its own beside a few hundred others: globs of `?`s only are
    # found by the engine itself (by their tokens' lengths), the rest as any other term.
    rules = with_watch(adversarial_rule_set(300), WORST_SHAPES[shape])
    native, in_python = compile_rules(rules), compile_rules(rules, engine=False)
    fired = 0
    for item in adversarial_articles(4):
        for one in (item, _not_ascii(item), _with_short_words(item)):
            found = match_article(one, native)
            assert found == match_in_python(one, in_python), one.id
            fired += sum(m.rule_id == "worst" for m in found)
    # The workload's text never holds 100 of those 200 words, nor those 8 in a row.
    if not shape.startswith(("200 terms", "phrase of 8")):
        assert fired > 0, "the worst watch should match this text"


def _with_short_words(item: Article) -> Article:
    """The article with words of three letters in it, some beside apostrophes and accents."""
    return make_article(
        id=item.id + "-s",
        feed=item.feed,
        title=item.title + " — don't ask O'Neil's son",
        summary=item.summary,
        content=item.content + " The cat's toy, an émi fée; it's the dog\u2019s day. ",
    )


def test_the_engine_agrees_with_the_reference_interpreter() -> None:
    # The naive interpreter of the watch language (tests/support/reference.py: every term scanned for
    # on its own, regexes by Python's `re`) against the engine, on adversarial watches and
    # every worst-case shape at once.
    worst, problems = parse_rule_file(
        "worst",
        {"rules": [{"id": f"worst{n}", "match": m} for n, m in enumerate(WORST_SHAPES.values())]},
    )
    assert not problems
    rules = adversarial_rule_set(150)
    rules = dataclasses.replace(rules, rules=rules.rules + tuple(worst))
    compiled = compile_rules(rules)
    fired = 0
    for item in adversarial_articles(2):
        for one in (item, _not_ascii(item), _with_short_words(item)):
            found = [m.rule_id for m in match_article(one, compiled)]
            assert found == reference_match(one, rules), one.id
            fired += len(found)
    assert fired > 20
