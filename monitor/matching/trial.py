"""A watch tried on articles before it is saved: compiled alone (the rule set's entities
apply), matched, and its evidence told with the spans the page highlights. Pure."""

from __future__ import annotations

import dataclasses
from typing import Any

from monitor.kernel.errors import Problem
from monitor.kernel.models import Article, Match
from monitor.kernel.yamlfile import parse_yaml
from monitor.matching.compiler import CompiledRules, compile_rules
from monitor.matching.matcher import match_article
from monitor.matching.schema import link, parse_rule_file
from monitor.matching.spec import RuleSet

SHOWN_FIELDS = ("title", "summary", "content")


def _indented(item: str) -> str:
    return "rules:\n" + "".join(
        f"  {'- ' if n == 0 else '  '}{row}\n" for n, row in enumerate(item.splitlines())
    )


def watch_rule_set(item: str, rule_set: RuleSet, path: str) -> tuple[RuleSet, list[Problem]]:
    """The watch `item` (YAML text of one watch, as the editor holds it) alone, with the rule
    set's entities and feeds; problems at their line of `item`."""
    data, problems = parse_yaml(item, path)
    if problems:
        return RuleSet(), problems
    if not isinstance(data, dict):
        return RuleSet(), [Problem(path, 1, "the text must be one watch: `id: ...` and its keys")]
    wrapped, problems = parse_yaml(_indented(item), path)
    if problems:
        return RuleSet(), [dataclasses.replace(p, line=max(1, p.line - 1)) for p in problems]
    rules, problems = parse_rule_file(path, wrapped)
    alone = RuleSet(rules=tuple(r for r in rules), entities=rule_set.entities, feeds=rule_set.feeds)
    problems = [*problems, *link(alone)]
    return alone, [dataclasses.replace(p, line=max(1, p.line - 1)) for p in problems]


def compiled_alone(rule_set: RuleSet, rule_id: str) -> CompiledRules:
    """The rule `rule_id` of `rule_set` (a disabled one too) compiled alone and enabled, so a
    test says whether it matches whatever its switch."""
    found = [r for r in rule_set.rules if r.id == rule_id]
    rules = tuple(dataclasses.replace(r, enabled=True) for r in found)
    return compile_rules(dataclasses.replace(rule_set, rules=rules, drafts=()))


def tried(article: Article, compiled: CompiledRules) -> dict[str, Any]:
    """One trial result: `{"title", "url", "matched", "evidence", "text", "marks"}`; `text` is
    the article's shown fields by name, `marks` the evidence's `[field, start, end]` in them."""
    matches: tuple[Match, ...] = match_article(article, compiled)
    evidence = [e for m in matches for e in m.evidence]
    text = {name: article.field_text(name) for name in SHOWN_FIELDS if article.field_text(name)}
    return {
        "title": article.title,
        "url": article.url,
        "matched": bool(matches),
        "evidence": [
            {"kind": e.kind, "value": e.value, "field": e.field, "snippet": e.snippet}
            for e in evidence
        ],
        "text": text,
        "marks": sorted([e.field, e.start, e.end] for e in evidence if e.field in text),
    }
