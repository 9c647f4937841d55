"""A naive reference interpreter of the watch language, for differential tests.

It walks the `RuleSpec` directly and scans the text for every term, with no indexes, no shared
terms and no candidate selection: slow and obviously right, so the compiled matcher can be
checked against it.
"""

from __future__ import annotations

import re

from monitor.kernel.models import Article
from monitor.kernel.text import token_key, tokenize
from monitor.matching.spec import Condition, EntityRef, EntitySpec, Item, RuleSet, RuleSpec, Term


def term_present(term: Term, text: str) -> bool:
    """Tell whether a term occurs in normalized text."""
    if term.regex is not None:
        flags = 0 if term.case else re.IGNORECASE
        return any(m.end() > m.start() for m in re.finditer(term.regex, text, flags))
    keys = [token_key(t) for t in tokenize(text)]
    n = len(term.words)
    return any(
        all(term.words[k].matches(keys[i + k]) for k in range(n)) for i in range(len(keys) - n + 1)
    )


def _in_fields(term: Term, article: Article, fields: tuple[str, ...]) -> bool:
    return any(term_present(term, article.field_text(f)) for f in fields)


def _mentioned(entity: EntitySpec, article: Article, fields: tuple[str, ...]) -> bool:
    if not any(_in_fields(n, article, fields) for n in entity.names):
        return False
    return not entity.context or any(_in_fields(c, article, fields) for c in entity.context)


def _ref_entities(ref: EntityRef, rule_set: RuleSet) -> list[EntitySpec]:
    if ref.kind == "id":
        return [e for e in rule_set.entities if e.id == ref.value]
    if ref.kind == "tag":
        return [e for e in rule_set.entities if ref.value in e.tags]
    return [e for e in rule_set.entities if e.type == ref.value]


def _holds(item: Item, article: Article, rule: RuleSpec, rule_set: RuleSet) -> bool:
    if isinstance(item, Term):
        return _in_fields(item, article, rule.fields)
    if isinstance(item, EntityRef):
        return any(_mentioned(e, article, rule.fields) for e in _ref_entities(item, rule_set))
    return _condition(item, article, rule, rule_set)


def _condition(cond: Condition, article: Article, rule: RuleSpec, rule_set: RuleSet) -> bool:
    ok_all = all(_holds(i, article, rule, rule_set) for i in cond.all)
    ok_none = not any(_holds(i, article, rule, rule_set) for i in cond.none)
    ok_any = not cond.any or sum(_holds(i, article, rule, rule_set) for i in cond.any) >= cond.min
    return ok_all and ok_none and ok_any


def _feed_ok(rule: RuleSpec, article: Article, rule_set: RuleSet) -> bool:
    if not rule.feeds or article.feed is None:
        return True
    for ref in rule.feeds:
        if ref.kind == "id" and ref.value == article.feed:
            return True
        if ref.kind == "tag" and any(
            f.id == article.feed and ref.value in f.tags for f in rule_set.feeds
        ):
            return True
    return False


def _language_ok(rule: RuleSpec, article: Article) -> bool:
    if not rule.languages or not article.language:
        return True
    return article.language in rule.languages or article.language.split("-")[0] in rule.languages


def reference_match(article: Article, rule_set: RuleSet) -> list[str]:
    """Return the ids of the enabled rules that hold for the article, in rule order."""
    matched = []
    for rule in rule_set.rules:
        if not rule.enabled or not _feed_ok(rule, article, rule_set):
            continue
        if not _language_ok(rule, article):
            continue
        if rule.match is not None and not _condition(rule.match, article, rule, rule_set):
            continue
        if rule.entities is not None and not _condition(rule.entities, article, rule, rule_set):
            continue
        matched.append(rule.id)
    return matched
