"""Watch regexes run on linear-time engines, refuse what those lack, and agree with each other."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.kernel import native
from monitor.kernel.errors import MatchCutOff
from monitor.matching.compiler import CompiledRules, compile_rules
from monitor.matching.matcher import match_article, match_in_python
from monitor.matching.regexes import WatchRegex, _Re2Regex, compile_regex
from tests.support.helpers import article, compile_yaml, read_rule_set

ENGINES = [pytest.param("native", marks=pytest.mark.native), "re2"]


def make(engine: str, pattern: str, case_sensitive: bool = False) -> WatchRegex:
    if engine == "re2":
        return _Re2Regex(pattern, case_sensitive)
    kind = native.regex_type()
    assert kind is not None, "the native extension must be installed (make installs it)"
    return kind(pattern, case_sensitive)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"(a+)+$", "a" * 50_000 + "!"),
        (r"(a|aa)+$", "a" * 50_000 + "!"),
        (r"(\w+\s?)*$", "word " * 10_000 + "!"),
        (r"(.*a){20}", "a" * 5_000),
    ],
)
def test_catastrophic_patterns_finish(engine: str, pattern: str, text: str) -> None:
    """Patterns that backtrack exponentially in Python's `re` finish on these engines (this
    test would hang until its timeout if a backtracking engine ran them)."""
    regex = make(engine, pattern)
    regex.first_span(text)
    regex.first_span(text, list(range(0, len(text), 7)))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        (r"(\w+) \1", "backreferences.*repeated text"),
        (r"Kiev(?= Oblast)", "look.?around.*context"),
        (r"Kiev(?! Oblast)", "look.?around.*context"),
        (r"(?<=in )Kiev", "look.?around.*context"),
        (r"(?<!in )Kiev", "look.?around.*context"),
    ],
)
def test_unsupported_constructs_are_refused_with_a_hint(
    engine: str, pattern: str, hint: str
) -> None:
    """Backreferences and lookaround are refused, with a hint at what to write instead."""
    with pytest.raises(ValueError, match=hint):
        make(engine, pattern)


def test_a_huge_counted_repeat_is_refused() -> None:
    """A pattern that would compile to an enormous automaton is refused, not built (re2, the
    fallback, refuses the count itself)."""
    with pytest.raises(ValueError, match=r"too large|repetition size"):
        compile_regex(r"(\w{100}){1000}", False)


@pytest.mark.native
def test_word_boundaries_and_case_are_unicode_aware() -> None:
    """`\\b` and case folding work in Cyrillic: offsets are in characters."""
    regex = compile_regex(r"\bкиев\b", False)
    assert (10, 14) == regex.first_span("в Киеве и Киев")
    assert regex.first_span("в Киеве и Киев", [2]) is None
    assert (10, 14) == regex.first_span("в Киеве и Киев", [2, 10])


ASCII_PATTERNS = [
    r"\bal[- ]?qa[ei]da\b",
    r"\b\w+stan\b",
    r"s-?[34]00",
    r"\d{2,4} troops",
    r"[A-Z]{3,}",
    r"x*",
    r"^alpha",
    r"omega$",
    r"(?i)Acme\s+corp",
    r"(kiev|kyiv)",
]
ASCII_TEXT = st.text(
    alphabet=st.sampled_from(list("alqaeidsnt-x 3400kyivcorpACMEmgh\n")), max_size=60
)


@pytest.mark.native
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")), deadline=None)
@given(
    pattern=st.sampled_from(ASCII_PATTERNS),
    case=st.booleans(),
    text=ASCII_TEXT,
    places=st.none() | st.lists(st.integers(0, 70), max_size=5),
)
def test_the_fallback_engine_agrees_with_the_native_one_on_ascii(
    pattern: str, case: bool, text: str, places: list[int] | None
) -> None:
    """google-re2 (the engine without the native extension) finds what the native engine
    finds, on ASCII text."""
    assert make("native", pattern, case).first_span(text, places) == make(
        "re2", pattern, case
    ).first_span(text, places)


RULES = """
rules:
  - id: bad-regex
    match: {any: ["/(a+)+$/"]}
  - id: word
    match: {any: [alpha]}
"""


def test_a_hostile_regex_watch_matches_in_linear_time() -> None:
    """The watch that froze the service for minutes on 28 `a`s matches 100,000 of them."""
    compiled = compile_yaml(RULES)
    hostile = article(title="alpha " + "a" * 100_000 + "!")
    assert ["word"] == [m.rule_id for m in match_article(hostile, compiled)]


@pytest.mark.parametrize("engine", [True, False])
def test_an_article_past_its_budget_is_cut_off(engine: bool) -> None:
    """With a budget it has already outrun, matching raises MatchCutOff (never partial
    results); without one, the same article matches."""
    compiled = compile_yaml(RULES) if engine else _python(RULES)
    item = article(title="alpha aaa!")
    with pytest.raises(MatchCutOff):
        match_article(item, compiled, budget_s=-1.0)
    assert ["word"] == [m.rule_id for m in match_article(item, compiled, budget_s=60.0)]
    if not engine:
        assert match_in_python(item, compiled) == match_article(item, compiled)


def _python(rules: str) -> CompiledRules:
    rule_set, problems = read_rule_set(rules)
    assert not problems
    return compile_rules(rule_set, engine=False)


REGEX_PIECES = [
    *"ab.*+?|()[]{}^$\\-,0123456789",
    r"\b", r"\w", r"\d", r"\s", "(?i)", "(?=", "(?!", "(?<=", r"\1", r"\p{L}", "{1000}", "(?P<n>",
]  # fmt: skip


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")), deadline=None)
@given(
    pattern=st.lists(st.sampled_from(REGEX_PIECES), min_size=1, max_size=14).map("".join),
    case=st.booleans(),
)
def test_any_regex_term_is_refused_or_runs_in_linear_time(pattern: str, case: bool) -> None:
    """Arbitrary regex terms: compile_regex refuses them with a ValueError, or the regex runs
    over a long adversarial text and returns (a backtracking engine would hang here)."""
    try:
        regex = compile_regex(pattern, case)
    except ValueError:
        return  # refused: the documented error, whose text monitor check prints
    text = "a" * 3000 + "b" + "ab " * 1000 + "!"
    span = regex.first_span(text)
    assert span is None or 0 <= span[0] < span[1] <= len(text)
    regex.first_span(text, list(range(0, len(text), 97)))
