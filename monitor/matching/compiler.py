"""Compile a validated `RuleSet` once into indexes the matcher reads many times.

Every word of every term becomes a token pattern with an id; literal and prefix patterns go
into hash tables (casefolded or exact), globs into a short list of regexes. Terms are shared
across rules and entities, and each term knows which rules it can wake, so matching an article
costs a pass over its tokens plus work proportional to what it actually hits.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from monitor.matching.spec import (
    EntityRef,
    EntitySpec,
    Item,
    RuleSet,
    RuleSpec,
    Term,
    TokenPattern,
    glob_regex,
)


@dataclass(frozen=True, slots=True)
class TermNode:
    """Holds when the term is present in the rule's fields."""

    term: int


@dataclass(frozen=True, slots=True)
class EntityNode:
    """Holds when any of these entities is mentioned in the rule's fields."""

    entities: frozenset[int]
    label: str


@dataclass(frozen=True, slots=True)
class CondNode:
    """all / any (at least `min`) / none over child nodes."""

    all: tuple[Node, ...]
    any: tuple[Node, ...]
    none: tuple[Node, ...]
    min: int


Node = TermNode | EntityNode | CondNode


@dataclass(frozen=True, slots=True)
class CompiledTerm:
    """A term: its token pattern ids in order, or a compiled regex.

    `required` is a literal that any match of the regex must contain (lower-cased unless the
    regex is case-sensitive), so a field without it is not scanned.
    """

    label: str
    patterns: tuple[int, ...] = ()
    regex: re.Pattern[str] | None = None
    required: str | None = None


_MIN_REQUIRED = 3


def required_literal(pattern: str, flags: int) -> str | None:
    """The longest run of ASCII letters and digits every match of `pattern` must contain.

    Only literals standing directly in the pattern's top-level sequence are certain to be
    there (not those in groups, alternatives or repeats). None when there is no such run of at
    least 3 characters, or when the pattern cannot be read.
    """
    try:
        parsed = re._parser.parse(pattern, flags)  # type: ignore[attr-defined]
    except (re.error, AttributeError, TypeError, ValueError):
        return None
    best, run = "", ""
    for op, arg in list(parsed):
        ch = chr(arg) if str(op) == "LITERAL" else ""
        if ch and ch.isascii() and ch.isalnum():
            run += ch
            best = max(best, run, key=len)
        else:
            run = ""
    if len(best) < _MIN_REQUIRED:
        return None
    return best if not flags & re.IGNORECASE else best.lower()


@dataclass(frozen=True, slots=True)
class CompiledEntity:
    """An entity: its name terms and the context terms of which one must also be present."""

    id: str
    names: tuple[int, ...]
    context: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledRule:
    """A rule ready to evaluate."""

    spec: RuleSpec
    match: Node | None
    entities: Node | None
    feed_ids: frozenset[str] | None  # None: every feed
    matches_empty: bool  # true of an article in which no term is present


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledRules:
    """The whole compiled rule set: immutable, so it can be swapped atomically."""

    rules: tuple[CompiledRule, ...]
    entities: tuple[CompiledEntity, ...]
    terms: tuple[CompiledTerm, ...]
    ci_literal: dict[str, int]
    cs_literal: dict[str, int]
    ci_prefix: dict[str, int]
    cs_prefix: dict[str, int]
    ci_prefix_lengths: tuple[int, ...]
    cs_prefix_lengths: tuple[int, ...]
    # Glob words, indexed by their literal start (the characters before the first `?`), so a
    # token is tried only against the globs that begin like it.
    # ...and then by the token length they match (-1: any length, for a final `*`).
    ci_globs: dict[str, dict[int, tuple[tuple[re.Pattern[str], int], ...]]]
    cs_globs: dict[str, dict[int, tuple[tuple[re.Pattern[str], int], ...]]]
    ci_glob_lengths: tuple[int, ...]
    cs_glob_lengths: tuple[int, ...]
    terms_by_first_pattern: dict[int, tuple[int, ...]]
    regex_terms: tuple[int, ...]
    rules_by_term: dict[int, tuple[int, ...]]
    entities_by_name: dict[int, tuple[int, ...]]
    always_candidates: tuple[int, ...]
    fields: tuple[str, ...]
    descriptions: dict[str, str]  # rule id -> description, for the records alerts are made from
    spec: RuleSet = field(repr=False)


class _Builder:
    """Interns token patterns and terms while rules are compiled."""

    def __init__(self) -> None:
        self.patterns: dict[TokenPattern, int] = {}
        self.terms: dict[tuple[object, ...], int] = {}
        self.compiled_terms: list[CompiledTerm] = []

    def term(self, term: Term) -> int:
        key = (term.words, term.regex, term.case)
        found = self.terms.get(key)
        if found is not None:
            return found
        if term.regex is not None:
            flags = 0 if term.case else re.IGNORECASE
            compiled = CompiledTerm(
                label=term.label,
                regex=re.compile(term.regex, flags),
                required=required_literal(term.regex, flags),
            )
        else:
            ids = tuple(self.patterns.setdefault(w, len(self.patterns)) for w in term.words)
            compiled = CompiledTerm(label=term.label, patterns=ids)
        self.terms[key] = len(self.compiled_terms)
        self.compiled_terms.append(compiled)
        return self.terms[key]


def compile_rules(rule_set: RuleSet) -> CompiledRules:
    """Compile a validated, linked rule set. Disabled rules are left out."""
    build = _Builder()
    entities = tuple(
        CompiledEntity(
            id=e.id,
            names=tuple(build.term(t) for t in e.names),
            context=tuple(build.term(t) for t in e.context),
        )
        for e in rule_set.entities
    )
    resolve = _EntityResolver(rule_set.entities)
    feed_tags: dict[str, set[str]] = defaultdict(set)
    for feed in rule_set.feeds:
        for tag in feed.tags:
            feed_tags[tag].add(feed.id)

    rules: list[CompiledRule] = []
    for spec in rule_set.rules:
        if not spec.enabled:
            continue
        match_node = _node(spec.match, build, resolve) if spec.match else None
        entity_node = _node(spec.entities, build, resolve) if spec.entities else None
        feed_ids = None
        if spec.feeds:
            feed_ids = frozenset(
                fid
                for ref in spec.feeds
                for fid in ((ref.value,) if ref.kind == "id" else feed_tags.get(ref.value, ()))
            )
        empty = _evaluate_empty(match_node) and _evaluate_empty(entity_node)
        rules.append(
            CompiledRule(
                spec=spec,
                match=match_node,
                entities=entity_node,
                feed_ids=feed_ids,
                matches_empty=empty,
            )
        )
    return _index(rule_set, build, tuple(entities), tuple(rules))


def _index(
    rule_set: RuleSet,
    build: _Builder,
    entities: tuple[CompiledEntity, ...],
    rules: tuple[CompiledRule, ...],
) -> CompiledRules:
    tables: dict[tuple[str, bool], dict[str, int]] = defaultdict(dict)
    globs: dict[bool, dict[str, dict[int, list[tuple[re.Pattern[str], int]]]]] = {
        False: defaultdict(lambda: defaultdict(list)),
        True: defaultdict(lambda: defaultdict(list)),
    }
    for pattern, pid in build.patterns.items():
        if pattern.kind == "glob":
            start = pattern.text.split("?", 1)[0].rstrip("*")
            length = -1 if pattern.text.endswith("*") else len(pattern.text)
            globs[pattern.case][start][length].append((glob_regex(pattern.text), pid))
        else:
            tables[(pattern.kind, pattern.case)][pattern.text] = pid
    by_first: dict[int, list[int]] = defaultdict(list)
    regex_terms = []
    for tid, term in enumerate(build.compiled_terms):
        if term.regex is not None:
            regex_terms.append(tid)
        else:
            by_first[term.patterns[0]].append(tid)
    entities_by_name: dict[int, list[int]] = defaultdict(list)
    for eid, entity in enumerate(entities):
        for tid in entity.names:
            entities_by_name[tid].append(eid)
    rules_by_term: dict[int, set[int]] = defaultdict(set)
    for rid, rule in enumerate(rules):
        for tid in _wake_terms(rule, entities):
            rules_by_term[tid].add(rid)
    ci_prefix, cs_prefix = tables[("prefix", False)], tables[("prefix", True)]
    return CompiledRules(
        rules=rules,
        entities=entities,
        terms=tuple(build.compiled_terms),
        ci_literal=dict(tables[("literal", False)]),
        cs_literal=dict(tables[("literal", True)]),
        ci_prefix=dict(ci_prefix),
        cs_prefix=dict(cs_prefix),
        ci_prefix_lengths=tuple(sorted({len(p) for p in ci_prefix})),
        cs_prefix_lengths=tuple(sorted({len(p) for p in cs_prefix})),
        ci_globs={k: {n: tuple(g) for n, g in v.items()} for k, v in globs[False].items()},
        cs_globs={k: {n: tuple(g) for n, g in v.items()} for k, v in globs[True].items()},
        ci_glob_lengths=tuple(sorted({len(k) for k in globs[False]})),
        cs_glob_lengths=tuple(sorted({len(k) for k in globs[True]})),
        terms_by_first_pattern={k: tuple(v) for k, v in by_first.items()},
        regex_terms=tuple(regex_terms),
        rules_by_term={k: tuple(sorted(v)) for k, v in rules_by_term.items()},
        entities_by_name={k: tuple(v) for k, v in entities_by_name.items()},
        always_candidates=tuple(i for i, r in enumerate(rules) if r.matches_empty),
        fields=tuple(dict.fromkeys(f for r in rules for f in r.spec.fields)),
        descriptions={r.spec.id: r.spec.description for r in rules},
        spec=rule_set,
    )


class _EntityResolver:
    """Turns entity references into sets of entity indexes."""

    def __init__(self, entities: tuple[EntitySpec, ...]) -> None:
        self.by_key: dict[tuple[str, str], set[int]] = defaultdict(set)
        for i, entity in enumerate(entities):
            self.by_key[("id", entity.id)].add(i)
            self.by_key[("type", entity.type)].add(i)
            for tag in entity.tags:
                self.by_key[("tag", tag)].add(i)

    def __call__(self, ref: EntityRef) -> frozenset[int]:
        return frozenset(self.by_key.get((ref.kind, ref.value), ()))


def _node(item: Item, build: _Builder, resolve: _EntityResolver) -> Node:
    if isinstance(item, Term):
        return TermNode(build.term(item))
    if isinstance(item, EntityRef):
        return EntityNode(resolve(item), str(item))

    def children(items: tuple[Item, ...]) -> tuple[Node, ...]:
        return tuple(_node(i, build, resolve) for i in items)

    return CondNode(children(item.all), children(item.any), children(item.none), item.min)


def _evaluate_empty(node: Node | None) -> bool:
    """Evaluate a node for an article in which nothing is present."""
    if node is None:
        return True
    if isinstance(node, CondNode):
        return (
            all(_evaluate_empty(n) for n in node.all)
            and (not node.any or sum(_evaluate_empty(n) for n in node.any) >= node.min)
            and not any(_evaluate_empty(n) for n in node.none)
        )
    return False


def _wake_terms(rule: CompiledRule, entities: tuple[CompiledEntity, ...]) -> set[int]:
    """Terms whose presence can make this rule hold: its own and its entities' names."""
    found: set[int] = set()
    stack = [n for n in (rule.match, rule.entities) if n is not None]
    while stack:
        node = stack.pop()
        if isinstance(node, TermNode):
            found.add(node.term)
        elif isinstance(node, EntityNode):
            for eid in node.entities:
                found.update(entities[eid].names)
        else:
            stack.extend((*node.all, *node.any, *node.none))
    return found
