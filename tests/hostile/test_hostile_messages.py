"""Hostile input to the new message helpers: language codes, YAML hints and did-you-mean
never raise, stay short and quick on huge or odd text."""

from __future__ import annotations

import time

import pytest
from babel import Locale
from babel.core import get_global

from monitor.kernel.checks import Checker, did_you_mean
from monitor.kernel.langcodes import CODES, THREE_LETTER, language_problem
from monitor.kernel.yamlfile import PureLoader, parse_yaml


@pytest.mark.parametrize(
    "tag", ["", "-", "en-" + "x" * 5000, "\u0000", "ру", "e\u0301n", "en\n", "*" * 10_000]
)
def test_odd_language_codes_are_refused_briefly(tag: str) -> None:
    """Empty, huge, control and combining characters: a refusal, cut when shown."""
    check = Checker("r.yaml")
    problem = language_problem(tag)
    assert problem is not None
    check.error(1, problem)
    assert len(check.problems[0].message) <= 300


def test_a_huge_line_gets_its_hint_quickly() -> None:
    """A 200,000-character line of `a: b: ` is told in well under a second, in a short message."""
    text = "rules:\n  - id: x\n    description: " + "a: " * 70_000 + "\n"
    for loader in (None, PureLoader):
        started = time.perf_counter()
        _, [problem] = parse_yaml(text, "w.yaml", loader=loader)
        assert time.perf_counter() - started < 5
        assert len(problem.message) < 200


def test_did_you_mean_on_a_huge_word_is_quick() -> None:
    """difflib on a 20,000-character name against many options stays fast."""
    started = time.perf_counter()
    did_you_mean("x" * 20_000, [f"feed-{i}" for i in range(2_000)])
    assert time.perf_counter() - started < 5


def test_the_tables_are_cldrs() -> None:
    """The embedded codes are CLDR's ISO 639-1 list with English names, and its aliases."""
    names = {k: v for k, v in Locale("en").languages.items() if len(k) == 2}
    assert names == CODES
    aliases = get_global("language_aliases")
    assert {k: v for k, v in aliases.items() if len(k) == 3 and len(v) == 2} == THREE_LETTER


def test_a_huge_alias_is_not_echoed_whole() -> None:
    """An unquoted `*` word of 100,000 characters is quoted back cut short."""
    _, [problem] = parse_yaml("a: *" + "x" * 100_000 + "\n", "w.yaml")
    assert len(problem.message) < 300
