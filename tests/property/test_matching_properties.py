"""Property tests of the matching core (hypothesis)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.kernel.models import Article, Match
from monitor.kernel.text import boundary_form, normalize_text, token_key, tokenize
from monitor.matching import scan
from monitor.matching.compiler import compile_rules
from monitor.matching.matcher import match_article, match_in_python
from monitor.matching.scan import scan_field, scan_tokens
from tests.support.helpers import article, compile_yaml, read_rule_set
from tests.support.reference import reference_match

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "CIS",
    "EU",
    "Minister",
    "defence",
    "мир",
    "Росси",
    "O'Brien",
]
SEPARATORS = [" ", " ", "-", "\n", ", ", " <b>", "</b> ", "&nbsp;", "'s ", "\u2019s "]

# 100 in `make test`, where these properties take about two minutes; FUZZ_EXAMPLES=N for more
# (each example compiles its rules, so 3,000 take about ten minutes a property).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
PROFILE = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class _NoAliases(yaml.SafeDumper):
    """Writes a value shared in the data out again each time: monitor refuses aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _dump(data: object, *, allow_unicode: bool) -> str:
    return yaml.dump(data, Dumper=_NoAliases, allow_unicode=allow_unicode)


@st.composite
def texts(draw: st.DrawFn) -> str:
    """Text made of the vocabulary, in varied case and punctuation, with random noise."""
    parts = []
    for _ in range(draw(st.integers(0, 14))):
        word = draw(st.sampled_from(WORDS))
        word = draw(st.sampled_from([word, word.lower(), word.upper(), word.capitalize()]))
        if draw(st.booleans()):
            word += draw(st.sampled_from(["", "s", "ry", "y"]))
        parts.append(word + draw(st.sampled_from(SEPARATORS)))
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), draw(st.text(max_size=20)))
    return "".join(parts)


REGEX_SHAPES = [
    "{w}\\w*",
    "\\b{s}[a-z]{{1,3}}\\b",
    "\\b\\w+{t}\\b",
    "{s}\\s+\\w+",
    "\\b({s}|{t})\\w*",
    "(?i){s}\\w{{0,2}}",
    "^{s}",
    "{w}y?$",
]


@st.composite
def terms(draw: st.DrawFn) -> Any:
    """A term in any of the language's forms."""
    word = draw(st.sampled_from(WORDS))
    kind = draw(st.sampled_from(["word", "phrase", "prefix", "glob", "regex"]))
    if kind == "phrase":
        text = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=2, max_size=3)))
    elif kind == "prefix":
        text = word[:3] + "*"
    elif kind == "glob":
        i = draw(st.integers(0, len(word) - 1))
        # The variant letter anywhere, or no letter at all (found by the token's length).
        text = draw(
            st.sampled_from([word[:i] + "?" + word[i + 1 :], "?" * len(word), "?" * (i + 1) + "*"])
        )
    elif kind == "regex":
        # Shapes with long and short literals, unbounded parts and word boundaries: each of
        # the engine's ways of running a regex (by its literal, or in the set of the others).
        shape = draw(st.sampled_from(REGEX_SHAPES))
        text = "/" + shape.format(w=word[:4], s=word[:2], t=word[-2:]) + "/"
    else:
        text = word
    case = draw(st.sampled_from([None, True, False]))
    return text if case is None else {"term": text, "case": case}


def conditions(leaf: st.SearchStrategy[Any], depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """all / any / none / min conditions, nested up to `depth`."""
    item = leaf if depth == 0 else st.one_of(leaf, leaf, conditions(leaf, depth - 1))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        cond: dict[str, Any] = {}
        for key in draw(st.lists(st.sampled_from(["all", "any", "none"]), min_size=1, unique=True)):
            cond[key] = draw(st.lists(item, min_size=1, max_size=3))
        if "any" in cond and draw(st.booleans()):
            cond["min"] = draw(st.integers(1, len(cond["any"])))
        return cond

    return build()


ENTITIES = {
    "entities": [
        {"id": "e-alpha", "type": "org", "names": ["alpha beta", "CIS"], "tags": ["t1"]},
        {
            "id": "e-gamma",
            "type": "person",
            "names": ["gamma"],
            "context": ["defence"],
            "tags": ["t1"],
        },
        {"id": "e-mir", "type": "place", "names": ["мир", "Росси*"], "tags": ["t2"]},
    ]
}
ENTITY_REFS = st.sampled_from(["e-alpha", "e-gamma", "e-mir", "tag:t1", "tag:t2", "type:person"])
FIELDS = st.sampled_from([None, ["title"], ["summary", "content"], ["title", "tags"]])
LANGUAGES = st.sampled_from([None, None, ["en"], ["fr", "en-GB"]])


@st.composite
def rule_files(draw: st.DrawFn) -> str:
    """A rules file of 1 to 4 generated rules, as YAML."""
    rules = []
    for i in range(draw(st.integers(1, 4))):
        rule: dict[str, Any] = {"id": f"r{i}"}
        use = draw(st.sampled_from(["match", "entities", "both"]))
        if use in ("match", "both"):
            rule["match"] = draw(conditions(terms()))
        if use in ("entities", "both"):
            rule["entities"] = draw(conditions(ENTITY_REFS, depth=1))
        fields = draw(FIELDS)
        if fields:
            rule["fields"] = fields
        languages = draw(LANGUAGES)
        if languages:
            rule["languages"] = languages
        rules.append(rule)
    return _dump({"rules": rules}, allow_unicode=True)


@st.composite
def articles(draw: st.DrawFn) -> Article:
    """An article whose fields are generated texts."""
    return article(
        title=draw(texts()),
        summary=draw(texts()),
        content=draw(texts()),
        language=draw(st.sampled_from([None, "en", "en-gb", "en-us", "fr"])),
        tags=draw(st.lists(texts(), max_size=2)),
    )


def _compile(rules_yaml: str) -> tuple[Any, Any]:
    rule_set, problems = read_rule_set(rules_yaml, _dump(ENTITIES, allow_unicode=True))
    assert [] == problems
    return rule_set, compile_rules(rule_set)


def _ids(found: tuple[Match, ...]) -> list[str]:
    return [m.rule_id for m in found]


@PROFILE
@given(rules_yaml=rule_files(), item=articles())
@example(
    rules_yaml="rules:\n- {id: r0, match: {any: ['alpha beta']}}\n",
    item=article(title="alpha-beta"),
)
def test_compiled_matcher_agrees_with_reference(rules_yaml: str, item: Article) -> None:
    """The indexed matcher and the naive interpreter agree on every rule."""
    rule_set, compiled = _compile(rules_yaml)
    assert reference_match(item, rule_set) == _ids(match_article(item, compiled))


LATIN_NOISE = st.text(alphabet=st.characters(max_codepoint=0x24F), max_size=30)
# Text around a field's own, so that evidence snippets are cut (60 characters each side), with
# spaces of the kinds Python's str.strip drops.
PADDING = "filler words\x1e and\u3000more\u00a0text, \u2003filler\x1f " * 6
PADS = st.tuples(st.integers(0, len(PADDING)), st.integers(0, len(PADDING)))


@pytest.mark.native
@PROFILE
@given(
    rules_yaml=rule_files(),
    item=articles(),
    noise=LATIN_NOISE,
    hostile=st.text(max_size=8),
    pads=PADS,
)
@example(
    rules_yaml="rules:\n- {id: r0, match: {any: ['alpha beta', alpha, 'alph?']}}\n",
    item=article(title="Alpha beta's alpha", content="\u212aalpha alpha"),
    noise="é",
    hostile="",
    pads=(70, 70),
)
def test_native_engine_agrees_with_the_python_matcher(
    rules_yaml: str, item: Article, noise: str, hostile: str, pads: tuple[int, int]
) -> None:
    """The native engine and the Python matcher give the same matches, evidence included.

    Noise (Latin letters, and any characters in the summary) sends texts through both of the
    engine's ways of reading a field: code points, and text the token scan must read. Padding
    around the content makes evidence snippets that are cut.
    """
    rule_set, compiled = _compile(rules_yaml)
    in_python = compile_rules(rule_set, engine=False)
    assert compiled.engine is not None
    assert in_python.engine is None
    noisy = article(
        title=item.title + noise,
        summary=hostile + item.summary,
        content=noise + item.content,
        tags=item.tags,
        language=item.language,
    )
    padded = article(
        title=item.title,
        content=PADDING[: pads[0]] + noise + item.content + PADDING[: pads[1]],
        language=item.language,
    )
    for one in (item, noisy, padded):
        assert match_in_python(one, in_python) == match_article(one, compiled)


@PROFILE
@given(rules_yaml=rule_files(), text=texts(), noise=LATIN_NOISE)
@example(rules_yaml="rules:\n- {id: r0, match: {any: [alpha]}}\n", text="o'alpha alpha's", noise="")
@example(rules_yaml="rules:\n- {id: r0, match: {any: ['?ta']}}\n", text="beta—Beta's", noise="ß")
def test_anchored_scan_finds_what_the_token_scan_finds(
    rules_yaml: str, text: str, noise: str
) -> None:
    """The automaton scan and the token-by-token scan find the same terms at the same places.

    Latin noise keeps most texts in the automaton's reach (scripts without spaces, and "ß",
    send a text to the token scan, which would make the comparison trivial).
    """
    _, compiled = _compile(rules_yaml)
    plain = normalize_text(text + noise)
    assert scan_tokens(plain, compiled) == scan_field(plain, compiled)


def test_the_anchored_scan_is_the_one_that_runs_on_latin_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Latin text the automata answer: the comparison above is not of the token scan with
    itself."""

    def token_scan(*_: object) -> None:
        raise AssertionError("the token scan ran")

    monkeypatch.setattr(scan, "scan_tokens", token_scan)
    compiled = compile_yaml("rules:\n  - {id: r, match: {any: ['defen?e', 'air defence']}}\n")
    text = "Its air defence—and Defence's budget, o'defence"
    assert boundary_form(text) is not None
    assert compiled.automata.complete
    hits = scan_field(text, compiled)
    assert [(4, 15), (8, 15)] == sorted((h.start, h.end) for h in hits.values())


@PROFILE
@given(rules_yaml=rule_files(), item=articles(), noise=st.text())
def test_never_raises_on_any_text(rules_yaml: str, item: Article, noise: str) -> None:
    """Arbitrary Unicode in any field never makes the matcher raise."""
    _, compiled = _compile(rules_yaml)
    hostile = article(title=noise, summary=noise + item.summary, content=noise * 3, author=noise)
    for found in match_article(hostile, compiled):
        assert found.evidence or found.rule_id


@PROFILE
@given(rules_yaml=rule_files(), item=articles())
def test_rule_order_does_not_change_results(rules_yaml: str, item: Article) -> None:
    """Reversing the rules reverses nothing but the order of the results."""
    data = yaml.safe_load(rules_yaml)
    reversed_yaml = _dump({"rules": data["rules"][::-1]}, allow_unicode=True)
    _, forward = _compile(rules_yaml)
    _, backward = _compile(reversed_yaml)
    assert sorted(_ids(match_article(item, forward))) == sorted(_ids(match_article(item, backward)))


@PROFILE
@given(rules_yaml=rule_files(), item=articles(), extra=terms())
def test_adding_a_none_term_never_adds_matches(rules_yaml: str, item: Article, extra: Any) -> None:
    """An extra exclusion can only remove matches."""
    data = yaml.safe_load(rules_yaml)
    stricter = yaml.safe_load(rules_yaml)
    for rule in stricter["rules"]:
        if "match" in rule:
            rule["match"].setdefault("none", []).append(extra)
        else:
            rule["match"] = {"none": [extra]}
    _, before = _compile(_dump(data, allow_unicode=True))
    _, after = _compile(_dump(stricter, allow_unicode=True))
    assert set(_ids(match_article(item, after))) <= set(_ids(match_article(item, before)))


@PROFILE
@given(
    phrase=st.lists(st.sampled_from(["alpha", "beta", "gamma", "defence"]), min_size=1, max_size=3),
    text=texts(),
)
def test_found_phrase_is_present_after_normalization(phrase: list[str], text: str) -> None:
    """When a phrase matches, its words stand consecutively in the normalized text."""
    compiled = compile_yaml(f"rules:\n  - {{id: r, match: {{all: ['{' '.join(phrase)}']}}}}\n")
    found = match_article(article(content=text), compiled)
    keys = [token_key(t).casefold() for t in tokenize(normalize_text(text))]
    present = any(keys[i : i + len(phrase)] == phrase for i in range(len(keys)))
    assert bool(found) == present
    for m in found:
        (evidence,) = m.evidence
        assert [w.casefold() for w in phrase] == [
            token_key(t).casefold() for t in tokenize(evidence.text)
        ]


@PROFILE
@given(text=texts())
@example(text="beta&nbsp;gamma ")
def test_case_insensitive_terms_ignore_the_case_of_the_text(text: str) -> None:
    """A rule of lower-case words gives the same answer on the text in any case."""
    compiled = compile_yaml("rules:\n  - {id: r, match: {any: [alpha, 'beta gamma', 'defen?e']}}\n")
    # Case changes apply to the normalized text: in raw HTML, `&NBSP;` is not `&nbsp;`.
    plain = normalize_text(text)
    variants = {plain, plain.upper(), plain.lower(), plain.swapcase()}
    results = {bool(match_article(Article(id="a", title=v), compiled)) for v in variants}
    assert 1 == len(results)


@PROFILE
@given(
    title=st.text(),
    tags=st.lists(st.text(min_size=1), max_size=3),
    when=st.none() | st.datetimes(timezones=st.just(UTC)),
    language=st.none() | st.sampled_from(["en", "ru", "en-gb"]),
)
def test_article_round_trips_through_bytes(
    title: str, tags: list[str], when: datetime | None, language: str | None
) -> None:
    """Article.from_bytes(a.to_bytes()) == a."""
    a = article(id="x", feed="f", title=title, tags=tags, published=when, language=language)
    assert a == Article.from_bytes(a.to_bytes())
