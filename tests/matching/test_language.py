"""The watch language, rule by rule: each with positives and near-miss negatives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.commands.inputs import read_articles
from monitor.matching.compiler import compile_rules
from monitor.matching.literals import required_literal
from monitor.matching.loader import load_rules_dir
from monitor.matching.matcher import match_article
from monitor.matching.regexes import compile_regex
from tests.conftest import SEED_JSON
from tests.support.helpers import article, compile_yaml

ENTITIES = """
entities:
  - {id: russia, type: place, names: [Russia, Russian, Moscow, "Росси*"], tags: [country, cis]}
  - {id: belarus, type: place, names: [Belarus, Minsk], tags: [country, cis]}
  - {id: france, type: place, names: [France, French], tags: [country, eu]}
  - {id: cis, type: org, names: [CIS, Commonwealth of Independent States], tags: [bloc]}
  - id: belousov
    type: person
    names: [Andrei Belousov, Belousov, Белоусов]
    context: [defense, defence, "minist*", military, "оборон*"]
"""


def term_rule(term: object) -> str:
    """A one-rule file whose rule needs `term` (given as YAML flow text) in the title."""
    return f"rules:\n  - id: r\n    match: {{any: [{term}]}}\n    fields: [title]\n"


def matches(rules: str, *, entities: str = ENTITIES, feeds: str = "", **fields: object) -> bool:
    compiled = compile_yaml(rules, entities, feeds)
    return bool(match_article(article(**fields), compiled))


TERM_CASES = [
    # whole words, case-insensitive
    ("cis", "The cis group met", True),
    ("cis", "A precise statement", False),
    ("defense", "DEFENSE budget grows", True),
    ("defense", "Defenseless villages", False),
    # acronyms in capitals are case-sensitive
    ("CIS", "CIS ministers met in Almaty", True),
    ("CIS", "cis-trans isomers in chemistry", False),
    ("CIS", "The Cis region", False),
    ("NATO", "NATO allies", True),
    ("NATO", "nato is a word here", False),
    ("EU", "EU leaders", True),
    ("EU", "eu de toilette", False),
    # overrides of the acronym rule
    ("{term: CIS, case: false}", "the cis group", True),
    ("{term: Turkey, case: true}", "Turkey and Greece", True),
    ("{term: Turkey, case: true}", "roast turkey recipe", False),
    # phrases: adjacent words, whatever stands between them
    ('"air defense"', "unified air defense system", True),
    ('"air defense"', "the air-defense network", True),
    ('"air defense"', "air\ndefense", True),
    ('"air defense"', "air, defense", True),
    ('"air defense"', "air and sea defense", False),
    ('"air defense"', "defense of the air", False),
    ('"Commonwealth of Independent States"', "the Commonwealth  of\nIndependent States", True),
    # prefix and one-letter wildcards
    ('"minist*"', "the defence ministry said", True),
    ('"minist*"', "Ministers met", True),
    ('"minist*"', "administration", False),
    ('"defen?e"', "defence and defense", True),
    ('"defen?e"', "defendre", False),
    ('"defen?e"', "defene", False),
    ('"defen?e minist*"', "Defence Ministers met", True),
    ('"defen?e minist*"', "defence of the ministry", False),
    # regular expressions
    ('"/magnitude [6-9]\\\\.\\\\d/"', "A Magnitude 7.1 quake", True),
    ('"/magnitude [6-9]\\\\.\\\\d/"', "magnitude 5.9", False),
    ('{term: "/Magnitude/", case: true}', "magnitude 7.1", False),
    ('{term: "/Magnitude/", case: true}', "Magnitude 7.1", True),
    # normalization: HTML, entities, NFKC, curly quotes
    ('"Defense Council"', "CIS Defense&nbsp;Council", True),
    ("Independent", "<b>Independent</b> states", True),
    ("Independent", "In<b>depend</b>ent", True),
    ('"Russia\'s army"', "Russia\u2019s army", True),
    ("CIS", "\uff23\uff29\uff33 summit", True),  # fullwidth letters fold under NFKC
    ("fish", "ﬁsh markets", True),  # the ﬁ ligature folds to "fi" under NFKC
    ("fish", "ﬁshing boats", False),
    ("finance", "ﬁnance ministers", True),
    # possessives count
    ("Russia", "Russia's army", True),
    ("Russia", "Russian's army", False),
    # non-Latin scripts
    ("Белоусов", "Министр обороны Белоусов заявил", True),
    ("Белоусов", "Белоусова", False),
    ('"Росси*"', "Министерство обороны России", True),
    ("СНГ", "Совет министров обороны СНГ", True),
    ("СНГ", "снг", False),
    ("中国", "中国国防部", True),
    ("中国", "中华", False),
]


@pytest.mark.parametrize(("term", "title", "expected"), TERM_CASES)
def test_terms(term: str, title: str, expected: bool) -> None:
    """Each kind of term matches what it should and not its near misses."""
    assert expected == matches(term_rule(term), title=title)


CONDITION_CASES = [
    ("{all: [alpha, beta]}", "alpha and beta", True),
    ("{all: [alpha, beta]}", "alpha only", False),
    ("{any: [alpha, beta]}", "beta only", True),
    ("{any: [alpha, beta]}", "gamma", False),
    ("{any: [alpha, beta], none: [gamma]}", "alpha gamma", False),
    ("{any: [alpha, beta], none: [gamma]}", "alpha delta", True),
    ("{none: [gamma]}", "anything at all", True),
    ("{none: [gamma]}", "gamma ray", False),
    ("{any: [alpha, beta, gamma], min: 2}", "alpha beta", True),
    ("{any: [alpha, beta, gamma], min: 2}", "alpha alpha", False),
    ("{all: [{any: [alpha, beta]}, {any: [gamma, delta]}]}", "beta delta", True),
    ("{all: [{any: [alpha, beta]}, {any: [gamma, delta]}]}", "beta alpha", False),
    (
        "{all: [alpha], any: [beta, gamma], none: [{all: [delta, epsilon]}]}",
        "alpha beta delta",
        True,
    ),
    (
        "{all: [alpha], any: [beta, gamma], none: [{all: [delta, epsilon]}]}",
        "alpha beta delta epsilon",
        False,
    ),
]


@pytest.mark.parametrize(("condition", "title", "expected"), CONDITION_CASES)
def test_conditions(condition: str, title: str, expected: bool) -> None:
    """all, any, none, min and nesting combine as documented."""
    rules = f"rules:\n  - id: r\n    match: {condition}\n"
    assert expected == matches(rules, title=title)


ENTITY_CASES = [
    ("{any: [russia]}", "Russia's army", True),
    ("{any: [russia]}", "Moscow said on Friday", True),
    ("{any: [russia]}", "Prussia's history", False),
    ("{any: [belousov]}", "Defence minister Belousov said", True),
    ("{any: [belousov]}", "Belousov scored twice for Zenit", False),
    ("{any: [belousov]}", "Министр обороны Белоусов", True),
    ('{any: ["tag:cis"]}', "Talks in Minsk", True),
    ('{any: ["tag:cis"]}', "Talks in Paris", False),
    ('{any: ["type:org"]}', "The Commonwealth of Independent States met", True),
    ('{any: ["type:org"]}', "Russia and France", False),
    ('{all: ["tag:cis", france]}', "Russia and France", True),
    ('{all: ["tag:cis"], none: [france]}', "Russia and France", False),
    ("{any: [russia, france], min: 2}", "Russia and Belarus", False),
]


@pytest.mark.parametrize(("condition", "title", "expected"), ENTITY_CASES)
def test_entities(condition: str, title: str, expected: bool) -> None:
    """Entity ids, tags and types resolve to their names; context tells namesakes apart."""
    rules = f"rules:\n  - id: r\n    entities: {condition}\n"
    assert expected == matches(rules, title=title)


def test_match_and_entities_both_needed() -> None:
    """With both `match` and `entities`, both must hold."""
    rules = "rules:\n  - id: r\n    match: {any: [summit]}\n    entities: {any: [russia]}\n"
    assert matches(rules, title="Russia hosts a summit")
    assert not matches(rules, title="France hosts a summit")
    assert not matches(rules, title="Russia hosts a parade")


def test_default_fields_leave_out_author_and_url() -> None:
    """By default only title, summary and content are searched."""
    rules = "rules:\n  - id: r\n    match: {any: [smith]}\n"
    assert not matches(rules, title="News", author="John Smith", url="https://ex.org/smith")
    assert matches(rules, title="News", summary="Smith said")


@pytest.mark.parametrize(
    ("field", "expected"), [("author", True), ("url", True), ("tags", True), ("title", False)]
)
def test_fields_select_where_to_search(field: str, expected: bool) -> None:
    """`fields` picks the fields a rule searches."""
    rules = f"rules:\n  - id: r\n    match: {{any: [smith]}}\n    fields: [{field}]\n"
    found = matches(
        rules, title="News", author="John Smith", url="https://ex.org/smith/1", tags=["Smith"]
    )
    assert expected == found


def test_all_terms_may_come_from_different_fields() -> None:
    """A rule's terms may be found in any of its fields, not all in one."""
    rules = "rules:\n  - id: r\n    match: {all: [alpha, beta]}\n"
    assert matches(rules, title="alpha", content="beta")


FEEDS = """
feeds:
  - {id: f1, url: "https://a.example/rss", tags: [world]}
  - {id: f2, url: "https://b.example/rss", tags: [sport]}
"""


@pytest.mark.parametrize(
    ("feeds", "feed", "expected"),
    [
        ("[f1]", "f1", True),
        ("[f1]", "f2", False),
        ('["tag:world"]', "f1", True),
        ('["tag:world"]', "f2", False),
        ('["tag:sport", f1]', "f2", True),
    ],
)
def test_feed_filter(feeds: str, feed: str, expected: bool) -> None:
    """`feeds` limits a rule to feed ids and feed tags."""
    rules = f"rules:\n  - id: r\n    match: {{any: [alpha]}}\n    feeds: {feeds}\n"
    assert expected == matches(rules, feeds=FEEDS, title="alpha", feed=feed)


@pytest.mark.parametrize(
    ("language", "expected"), [("en", True), ("en-GB", True), ("ru", False), (None, True)]
)
def test_language_filter(language: str | None, expected: bool) -> None:
    """`languages` limits a rule by primary language; an article of unknown language passes."""
    rules = "rules:\n  - id: r\n    match: {any: [alpha]}\n    languages: [en]\n"
    assert expected == matches(rules, title="alpha", language=language)


def test_disabled_rule_never_matches() -> None:
    """`enabled: false` turns a rule off."""
    rules = "rules:\n  - id: r\n    enabled: false\n    match: {any: [alpha]}\n"
    assert not matches(rules, title="alpha")


def test_evidence_names_term_field_and_snippet() -> None:
    """A match carries the term, the field, the words as written and a snippet around them."""
    compiled = compile_yaml('rules:\n  - id: r\n    match: {all: ["air defense"]}\n')
    text = "Ministers discussed the unified air-defense system at length."
    (found,) = match_article(article(content=text), compiled)
    (evidence,) = found.evidence
    assert ("term", "air defense", "content", "air-defense") == (
        evidence.kind,
        evidence.value,
        evidence.field,
        evidence.text,
    )
    assert "unified air-defense system" in evidence.snippet
    assert text[evidence.start : evidence.end] == "air-defense"


def test_evidence_for_entities_and_not_for_exclusions() -> None:
    """Entities found are evidence; `none` terms never are."""
    compiled = compile_yaml(
        "rules:\n  - id: r\n    match: {any: [summit], none: [football]}\n"
        "    entities: {any: [russia]}\n",
        ENTITIES,
    )
    (found,) = match_article(article(title="Moscow hosts a summit"), compiled)
    assert [("entity", "russia", "Moscow"), ("term", "summit", "summit")] == [
        (e.kind, e.value, e.text) for e in found.evidence
    ]


def test_match_carries_rule_settings() -> None:
    """Severity and notify travel with the match for the dispatcher."""
    compiled = compile_yaml(
        "rules:\n  - id: r\n    match: {any: [alpha]}\n    severity: critical\n"
        "    notify: [ops, desk]\n"
    )
    (found,) = match_article(article(id="x1", title="alpha"), compiled)
    assert ("r", "x1", "critical", ("ops", "desk")) == (
        found.rule_id,
        found.article_id,
        found.severity,
        found.notify,
    )


def test_results_are_in_rule_order_and_shared_terms_work() -> None:
    """Rules sharing terms each match, reported in file order."""
    rules = """
    rules:
      - {id: b, match: {any: [alpha]}}
      - {id: a, match: {all: [alpha, beta]}}
      - {id: c, match: {any: [gamma]}}
    """
    compiled = compile_yaml(rules)
    found = match_article(article(title="alpha beta"), compiled)
    assert ["b", "a"] == [m.rule_id for m in found]


def test_seed_article_matches_cis_watch(shipped_rules: Path) -> None:
    """The shipped CIS watch catches the seed article and no other shipped watch does."""
    compiled = compile_rules(load_rules_dir(shipped_rules))
    (seed,) = read_articles(SEED_JSON)
    found = match_article(seed, compiled)
    assert ["cis-defense-cooperation"] == [m.rule_id for m in found]


@pytest.mark.parametrize(
    ("pattern", "flags", "expected"),
    [
        (r"Acme\s+\w+", 0, ("Acme", True)),
        (r"Acme\s+\w+", re.IGNORECASE, ("acme", True)),
        (r"(?i)Acme\s+\w+", 0, ("acme", True)),
        (r"colou?r", 0, ("colo", True)),
        (r"\bS-400\b", 0, ("400", False)),
        (r"acme|globex", 0, None),
        (r"x+y\s+Globex", 0, ("Globex", False)),
    ],
)
def test_required_literal(pattern: str, flags: int, expected: tuple[str, bool] | None) -> None:
    """The literal a regex needs is one every match holds, in the case the regex compares."""
    assert expected == required_literal(compile_regex(pattern, not flags & re.IGNORECASE))


def test_inline_ignore_case_regex_is_not_skipped_for_its_literal() -> None:
    """`(?i)` makes the regex ignore case: its literal must be looked for lower-cased."""
    compiled = compile_yaml("rules:\n  - {id: r, match: {any: ['/(?i)\\bAcme Corp/']}}\n")
    assert ["r"] == [m.rule_id for m in match_article(article(title="ACME CORP sued"), compiled)]
