"""The native matching engine: installed here, used, and its absence said out loud.

Its results are held to the Python matcher's by the property tests
(`test_native_engine_agrees_with_the_python_matcher`).
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest

from monitor.bus.base import ARTICLES, Record
from monitor.commands.check import check
from monitor.kernel import native
from monitor.kernel.models import Match
from monitor.matching import compiler
from monitor.matching.compiler import compile_rules
from monitor.matching.matcher import match_article, match_in_python
from monitor.pipeline import match_records
from tests.support.helpers import article, compile_yaml

RULES = "rules:\n  - {id: r, match: {any: ['air defen?e', /Acme\\s+\\w+/]}}\n"


@pytest.mark.native
def test_the_engine_is_installed_and_compiled_rules_use_it() -> None:
    """`make` installs the extension: a test run without it would test the fallback only."""
    assert native.engine_type() is not None
    assert compile_yaml(RULES).engine is not None


@pytest.mark.native
def test_without_the_engine_rules_match_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the extension is missing, rules compile without it and match the same."""
    with_engine = compile_yaml(RULES)
    monkeypatch.setattr(native, "engine_type", lambda: None)
    without = compile_yaml(RULES)
    assert without.engine is None
    item = article(title="Air Defense, then Acme Corp's air defence.")
    found = match_article(item, without)
    assert ["r"] == [m.rule_id for m in found]
    assert found == match_article(item, with_engine) == match_in_python(item, without)
    with pytest.raises(ValueError, match="compiled for the native engine"):
        match_in_python(item, with_engine)
    assert ["Acme Corp", "Air Defense"] == sorted(e.text for e in found[0].evidence)


@pytest.mark.native
def test_check_warns_when_the_engine_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`monitor check` says matching will be slow, and still passes the rules."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "w.yaml").write_text(RULES)
    out, err = io.StringIO(), io.StringIO()
    assert 0 == check(rules, out, err)
    assert "native matching engine" not in err.getvalue()
    monkeypatch.setattr(native, "engine_type", lambda: None)
    assert 0 == check(rules, out, err)
    assert "warning: the native matching engine" in err.getvalue()


class PanicException(BaseException):  # named as pyo3 names a Rust panic
    """What a panic inside the engine raises in Python."""


class PanickingEngine:
    """An engine whose every call panics, as a bug in the Rust code would."""

    modes = (True, False)

    def match_article(self, *_: Any) -> Any:
        raise PanicException("index out of bounds")


def test_a_panic_in_the_engine_becomes_an_ordinary_error() -> None:
    """A Rust panic would end the service; the matcher turns it into a RuntimeError naming
    the article, which the matcher loop reports and retries."""
    compiled = dataclasses.replace(compile_yaml(RULES), engine=PanickingEngine())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="native engine failed on article 'a1'") as caught:
        match_article(article(title="Acme Corp"), compiled)
    assert isinstance(caught.value.__cause__, PanicException)


@pytest.mark.parametrize("length", [3, 62, 63, 64, 70])
def test_long_words_match_as_in_python(length: int) -> None:
    """Words longer than the engine's token-start table (63 bytes) are searched another way."""
    word = ("ab" * 40)[:length]
    rules = (
        "rules:\n"
        f"  - {{id: whole, match: {{any: ['{word}']}}}}\n"
        f"  - {{id: prefix, match: {{any: ['{word[:-1]}*']}}}}\n"
        f"  - {{id: glob, match: {{any: ['{word[:-1]}?']}}}}\n"
    )
    compiled = compile_yaml(rules)
    in_python = compile_rules(compiled.spec, engine=False)
    item = article(title=f"x {word} {word}s {word.upper()}'s")
    found = match_article(item, compiled)
    assert ["whole", "prefix", "glob"] == [m.rule_id for m in found]
    assert found == match_in_python(item, in_python)


@pytest.mark.parametrize("tail", ["?", "?o", "x?", "?r?st", "o?ernigh", "o?ernight"])
def test_globs_match_every_character_after_their_head_as_in_python(tail: str) -> None:
    """A glob's head is its anchor, the rest is compared with the token (the engine keeps a
    tail of up to 8 characters with the check): a letter changed where the glob has one, or
    a token longer or shorter, is not a match; a letter changed at a `?` is."""
    glob = "stay" + tail
    rules = f"rules:\n  - {{id: g, match: {{any: ['{glob}']}}}}\n"
    compiled = compile_yaml(rules)
    in_python = compile_rules(compiled.spec, engine=False)
    right = glob.replace("?", "q")
    changed = {i: right[:i] + "z" + right[i + 1 :] for i in range(4, len(right))}
    tokens = [right, right.upper(), f"{right}'s", right + "q", right[:-1], *changed.values()]
    matched = []
    for token in tokens:
        item = article(title=f"a {token} b")
        found = match_article(item, compiled)
        assert found == match_in_python(item, in_python), token
        if found:
            matched.append(token)
    expected = [right, right.upper(), f"{right}'s"]
    expected += [token for i, token in changed.items() if glob[i] == "?"]
    assert matched == expected


@pytest.mark.parametrize("length", [2, 3, 4, 7, 8, 9, 12])
@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("{}7 a", ["leads"]),
        ("a x7{}7x b", ["leads", "follows"]),
        ("a 7{}", ["follows"]),
        ("é x7{}7x", ["leads", "follows"]),
        ("a {} 7", []),
    ],
)
def test_regex_literals_are_found_wherever_they_stand(
    length: int, title: str, expected: list[str]
) -> None:
    """A regex's literal may stand inside a word: it is looked for at every offset of a field
    (by its first 8 or 4 bytes, or another way when shorter), up to the field's last byte."""
    literal = ("kv" * 8)[:length]
    rules = (
        "rules:\n"
        f"  - {{id: leads, match: {{any: ['/{literal}\\d/']}}}}\n"
        f"  - {{id: follows, match: {{any: ['/\\d{literal}/']}}}}\n"
    )
    compiled = compile_yaml(rules)
    item = article(title=title.format(literal))
    found = match_article(item, compiled)
    assert expected == [m.rule_id for m in found]
    assert found == match_in_python(item, compile_rules(compiled.spec, engine=False))


@pytest.mark.parametrize(
    ("regex", "title", "span"),
    [
        ("[0-9]{4}", "in 2026 and 1999", (3, 7)),  # no literal: run over the field
        ("q*", "no q here, qq", (3, 4)),  # empty matches find nothing; the first real one
        ("q*", "none", None),
        ("(?i)acme\\s+\\w+", "Acme corp, ACME  Labs", (0, 9)),  # tried where its literal is
    ],
)
def test_the_engine_runs_regexes_as_python_does(
    regex: str, title: str, span: tuple[int, int] | None
) -> None:
    """The engine runs a rule's regexes itself, through Python's re, as the Python matcher."""
    rules = f"rules:\n  - {{id: r, match: {{any: ['/{regex}/']}}}}\n"
    compiled = compile_yaml(rules)
    item = article(title=title)
    found = match_article(item, compiled)
    assert span == ((found[0].evidence[0].start, found[0].evidence[0].end) if found else None)
    assert found == match_in_python(item, compile_rules(compiled.spec, engine=False))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("alpha " + "b" * 57 + "\x1f c", "alpha " + "b" * 57 + "…"),
        ("c" * 10 + " \x1c" + "b" * 55 + " alpha", "…" + "b" * 55 + " alpha"),
        ("ü" * 10 + " \u3000" + "é" * 55 + " alpha", "…" + "é" * 55 + " alpha"),
        ("alpha", "alpha"),
    ],
)
def test_snippets_are_cut_and_stripped_as_python_does(content: str, expected: str) -> None:
    """The engine makes the evidence objects: a snippet cut at a space, then stripped of what
    Python's str.strip drops (U+001C to U+001F and U+3000 included), as the Python matcher."""
    rules = "rules:\n  - {id: r, match: {any: [alpha]}}\n"
    # Articles from feeds have their spaces normalized; the matcher takes any text.
    item = dataclasses.replace(article(), content=content)
    found = match_article(item, compile_yaml(rules))
    assert expected == found[0].evidence[0].snippet
    assert found == match_in_python(item, compile_rules(compile_yaml(rules).spec, engine=False))


@pytest.mark.native
def test_the_engine_refuses_match_classes_with_other_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine sets every field of Match and Evidence itself: a model with a field it does
    not know fails when rules are compiled, not later on a match missing it."""

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Wider(Match):
        extra: str = ""

    rule_set = compile_yaml(RULES).spec
    monkeypatch.setattr(compiler, "Match", Wider)
    with pytest.raises(ValueError, match="extra"):
        compile_rules(rule_set)


class PanicsOnOne:
    """An engine that panics on one article and matches the others."""

    modes = (True, False)

    def __init__(self, real: Any) -> None:
        self.real = real

    def match_article(self, texts: Any, *rest: Any) -> Any:
        if rest[2] == "poison":
            raise PanicException("index out of bounds")
        return self.real.match_article(texts, *rest)


@pytest.mark.native
def test_an_article_the_matcher_fails_on_is_skipped_not_retried_forever() -> None:
    """One article that makes the engine panic is set aside (named, with its error); the
    batch's other articles are matched, so it cannot stall the matcher."""
    real = compile_yaml(RULES)
    compiled = dataclasses.replace(real, engine=PanicsOnOne(real.engine))  # type: ignore[arg-type]
    records = [
        Record(ARTICLES, 0, i, a.id, a.to_bytes(), 0)
        for i, a in enumerate(
            [article(id="good1", title="Acme Corp"), article(id="poison", title="Acme Corp"),
             article(id="good2", title="Acme Corp")]
        )
    ]  # fmt: skip
    done = match_records(records, compiled)
    assert ["poison"] == [article_id for article_id, _ in done.failed]
    assert 2 == len(done.out)
