"""The examples in docs/rules.md are valid watch language."""

from __future__ import annotations

import re

import pytest

from monitor.feeds.spec import parse_feed_file
from monitor.kernel.errors import Problem
from monitor.kernel.yamlfile import parse_yaml
from monitor.matching.loader import load_rules_dir
from monitor.matching.schema import link, parse_entity_file, parse_rule_file
from monitor.matching.spec import RuleSet
from tests.conftest import ROOT, SHIPPED_RULES

BLOCKS = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "rules.md").read_text(), re.DOTALL)


@pytest.mark.parametrize("block", BLOCKS)
def test_doc_example_is_valid(block: str) -> None:
    """Every YAML example validates, rules against the shipped entities and feeds."""
    data, problems = parse_yaml(block, "docs/rules.md")
    assert [] == problems
    shipped = load_rules_dir(SHIPPED_RULES)
    found: list[Problem] = []
    if "rules" in data:
        rules, found = parse_rule_file("doc", data)
        found += link(RuleSet(rules=tuple(rules), entities=shipped.entities, feeds=shipped.feeds))
    elif "entities" in data:
        _, found = parse_entity_file("doc", data)
    elif "feeds" in data:
        _, found = parse_feed_file("doc", data)
    else:  # a bare condition
        rules, found = parse_rule_file("doc", {"rules": [{"id": "x", **data}]})
        assert rules
    assert [] == found


def test_docs_have_examples() -> None:
    """The page keeps its examples."""
    assert len(BLOCKS) >= 4
