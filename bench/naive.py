"""The naive reference matcher of the benchmarks: every rule checked with its own regexes.

Text is reduced to the same tokens the real matcher sees (joined by single spaces, possessives
dropped), so both agree on what matches; then each rule runs each of its terms' regular
expressions over each field, with no index and nothing shared between rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.kernel.models import Article
from monitor.kernel.text import token_key, tokenize
from monitor.matching.spec import Condition, EntityRef, Item, RuleSet, RuleSpec, Term, TokenPattern


def _word_regex(word: TokenPattern) -> str:
    if word.kind == "literal":
        return re.escape(word.text)
    if word.kind == "prefix":
        return re.escape(word.text) + r"\S*"
    body = "".join(r"\S" if ch == "?" else re.escape(ch) for ch in word.text.rstrip("*"))
    return body + (r"\S*" if word.text.endswith("*") else "")


@dataclass(frozen=True)
class _Term:
    regex: re.Pattern[str]
    case: bool
    raw: bool  # a /regex/ term: searched in the text as it is


def _compile_term(term: Term) -> _Term:
    if term.regex is not None:
        return _Term(re.compile(term.regex, 0 if term.case else re.IGNORECASE), term.case, raw=True)
    body = " ".join(_word_regex(w) for w in term.words)
    return _Term(re.compile(rf"(?<!\S){body}(?!\S)"), term.case, raw=False)


class NaiveMatcher:
    """Compiles nothing shared: each rule keeps its own regexes."""

    def __init__(self, rule_set: RuleSet) -> None:
        self.rule_set = rule_set
        self.rules = [r for r in rule_set.rules if r.enabled]
        self.terms: dict[int, _Term] = {}
        self.entities = {e.id: e for e in rule_set.entities}

    def _term(self, term: Term) -> _Term:
        found = self.terms.get(id(term))
        if found is None:
            found = self.terms[id(term)] = _compile_term(term)
        return found

    def match(self, article: Article) -> list[str]:
        """The ids of the rules that hold."""
        texts: dict[str, tuple[str, str, str]] = {}
        for name in ("title", "summary", "content", "author", "tags", "url"):
            raw = article.field_text(name)
            keys = " ".join(token_key(t) for t in tokenize(raw))
            texts[name] = (raw, keys, keys.casefold())
        return [r.id for r in self.rules if self._rule(r, texts)]

    def _present(self, term: Term, rule: RuleSpec, texts: dict[str, tuple[str, str, str]]) -> bool:
        t = self._term(term)
        for name in rule.fields:
            raw, keys, folded = texts[name]
            if t.raw:
                if any(m.end() > m.start() for m in t.regex.finditer(raw)):
                    return True
            elif t.regex.search(keys if t.case else folded):
                return True
        return False

    def _holds(self, item: Item, rule: RuleSpec, texts: dict[str, tuple[str, str, str]]) -> bool:
        if isinstance(item, Term):
            return self._present(item, rule, texts)
        if isinstance(item, EntityRef):
            for entity in self.rule_set.entities:
                chosen = (
                    (item.kind == "id" and entity.id == item.value)
                    or (item.kind == "tag" and item.value in entity.tags)
                    or (item.kind == "type" and entity.type == item.value)
                )
                if not chosen or not any(self._present(n, rule, texts) for n in entity.names):
                    continue
                if not entity.context or any(self._present(c, rule, texts) for c in entity.context):
                    return True
            return False
        return self._condition(item, rule, texts)

    def _condition(
        self, cond: Condition, rule: RuleSpec, texts: dict[str, tuple[str, str, str]]
    ) -> bool:
        if not all(self._holds(i, rule, texts) for i in cond.all):
            return False
        if any(self._holds(i, rule, texts) for i in cond.none):
            return False
        return not cond.any or sum(self._holds(i, rule, texts) for i in cond.any) >= cond.min

    def _rule(self, rule: RuleSpec, texts: dict[str, tuple[str, str, str]]) -> bool:
        if rule.match is not None and not self._condition(rule.match, rule, texts):
            return False
        return rule.entities is None or self._condition(rule.entities, rule, texts)
