"""Fuzzing the rule loader: any YAML a careless author could write into a rules directory gives
`monitor check` FILE:LINE problems or a pass, never a traceback (`make fuzz` runs it longer)."""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.commands.check import check
from monitor.kernel import native
from monitor.kernel.yamlfile import PureLoader, parse_yaml
from monitor.matching.compiler import compile_rules
from monitor.matching.loader import read_rules_dir

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
PROFILE = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
KEYS = [
    "rules", "id", "match", "any", "all", "none", "min", "term", "case", "entities", "fields",
    "feeds", "severity", "notify", "throttle", "max", "per", "languages", "enabled",
    "description", "names", "type", "tags", "context", "url", "interval", "de", "zh-Hant",
    "en_US",
]  # fmt: skip
SCALARS = [
    "x", "CIS", "defen?e", "minist*", "/(a+)+$/", "/(\\w+) \\1/", "/[/", "/\\bKiev\\b/",
    "tag:world", "1h", "high", "title", "", "*", "?", "e-alpha", "/(?=x)/",
]  # fmt: skip
values = st.recursive(
    st.sampled_from(SCALARS) | st.integers(-3, 3) | st.booleans() | st.none(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=4)
    ),
    max_leaves=30,
)
PROBLEM = re.compile(r"^\S+\.ya?ml(:\d+){0,2}: \S")


def check_dir(rules: str, entities: str = "", feeds: str = "") -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "entities").mkdir()
        (root / "watches.yaml").write_text(rules, encoding="utf-8")
        if entities:
            (root / "entities" / "e.yaml").write_text(entities, encoding="utf-8")
        if feeds:
            (root / "feeds.yaml").write_text(feeds, encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        code = check(root, out, err)
        if code == 0:
            rule_set, _ = read_rules_dir(root)
            compile_rules(rule_set)  # what check accepts, the service compiles
        return code, err.getvalue()


def assert_located(code: int, err: str) -> None:
    assert code in (0, 1)
    lines = err.splitlines()
    if code == 1:
        assert re.fullmatch(r"1 problem found|\d+ problems found", lines[-1]), lines[-1]
        lines = lines[:-1]
    for line in lines:
        if line == f"warning: {native.MISSING}":  # the one line about the engine, not a problem
            continue
        assert PROBLEM.match(line), line


@PROFILE
@given(st.dictionaries(st.sampled_from(["rules", "entities", "feeds"]), values, max_size=2))
@example({"rules": [{"id": "a", "match": {"any": ["/(a+)+$/"]}}]})
@example({"rules": [{"id": "a", "match": {"all": [{"all": [{"any": ["x"]}]}]}}]})
def test_any_rule_structure(data: dict[str, object]) -> None:
    """Structures of the rule language's keys and values, nested any way."""
    text = yaml.safe_dump(data, allow_unicode=True)
    assert_located(*check_dir(text, entities=text, feeds=text))


@PROFILE
@given(st.text(alphabet=st.sampled_from(list("ab:- \n[]{}&*!|>'\"#%@`,?x1")), max_size=200))
@example("a: &x [1]\nb: *x\n")
@example("rules:\n" + "  " * 1 + "- " * 300 + "x\n")
def test_any_yaml_text(text: str) -> None:
    """Text over YAML's punctuation: anchors, aliases, tags, flow and block nesting."""
    assert_located(*check_dir(text, entities=text, feeds=text))


def test_a_billion_laughs_is_refused_at_once() -> None:
    """Seven levels of aliases, each ten of the one before (10^7 nodes once expanded): one
    located problem, read in well under a second instead of minutes and gigabytes."""
    lines = ['lol: &a0 {any: ["lol", "lol", "lol"]}']
    for level in range(1, 8):
        lines.append(f"l{level}: &a{level} {{all: [{', '.join([f'*a{level - 1}'] * 10)}]}}")
    lines.append("rules:\n  - id: bomb\n    match: *a7")
    code, err = check_dir("\n".join(lines) + "\n")
    assert 1 == code
    assert "aliases (*name) are not allowed" in err


@PROFILE
@given(st.text(alphabet=st.sampled_from(list("ab:- \t\n[]{}&*!|>'\"#%@`,?x1\r")), max_size=200))
@example("a: 'b\n")
@example("a:\n\tb: *x\n")
def test_yaml_errors_are_located_problems_from_either_parser(text: str) -> None:
    """Any text, through libyaml or PyYAML's own parser: at most one problem, located at a
    line and column, never a traceback. (The two place some marks differently on odd text;
    tests/commands/test_check_messages.py pins the common mistakes to the same words.)"""
    for loader in (None, PureLoader):
        data, problems = parse_yaml(text, "f.yaml", loader=loader)
        assert len(problems) <= 1
        for problem in problems:
            assert data is None
            assert problem.line >= 1
            assert problem.column >= 0
            assert problem.message.startswith("invalid YAML: ")
