"""Test helpers: build rule sets from YAML text without touching the disk."""

from __future__ import annotations

import textwrap
from typing import Any

from monitor.feeds.spec import parse_feed_file
from monitor.kernel.errors import Problem, RuleError
from monitor.kernel.models import Article, make_article
from monitor.kernel.yamlfile import parse_yaml
from monitor.matching.compiler import CompiledRules, compile_rules
from monitor.matching.schema import link, parse_entity_file, parse_rule_file
from monitor.matching.spec import RuleSet


def read_rule_set(rules: str, entities: str = "", feeds: str = "") -> tuple[RuleSet, list[Problem]]:
    """Validate YAML texts as a rules directory would hold them."""
    problems: list[Problem] = []
    found: dict[str, list[Any]] = {}
    for name, text, parse in (
        ("rules.yaml", rules, parse_rule_file),
        ("entities/e.yaml", entities, parse_entity_file),
        ("feeds.yaml", feeds, parse_feed_file),
    ):
        data, read_problems = parse_yaml(textwrap.dedent(text), name)
        problems.extend(read_problems)
        specs, more = parse(name, data) if not read_problems else ([], [])
        found[name] = specs
        problems.extend(more)
    rule_set = RuleSet(
        rules=tuple(found["rules.yaml"]),
        entities=tuple(found["entities/e.yaml"]),
        feeds=tuple(found["feeds.yaml"]),
    )
    return rule_set, [*problems, *link(rule_set)]


def compile_yaml(rules: str, entities: str = "", feeds: str = "") -> CompiledRules:
    """Validate and compile; raise RuleError on any problem."""
    rule_set, problems = read_rule_set(rules, entities, feeds)
    if problems:
        raise RuleError(problems)
    return compile_rules(rule_set)


def article(**fields: Any) -> Article:
    """Build a normalized article with a default id."""
    fields.setdefault("id", "a1")
    return make_article(**fields)
