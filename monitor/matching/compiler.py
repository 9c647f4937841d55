"""Compile a validated `RuleSet` once into indexes the matcher reads many times.

Every word of every term becomes a token pattern with an id, anchored in a multi-pattern
automaton (`monitor.matching.automaton`); hash tables of the same patterns, for text scanned
token by token, are built on first use. Terms are shared across rules and entities; each term
knows which rules it can wake, and each entity the entity sets (`tag:`, `type:`, ids) rules name,
so matching an article costs a pass over its text plus work proportional to what it hits.
"""

from __future__ import annotations

import threading
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import chain
from typing import NamedTuple

from monitor.kernel import native
from monitor.kernel.gcpause import gc_paused
from monitor.kernel.models import Evidence, Match
from monitor.matching.automaton import Automata, glob_anchors
from monitor.matching.literals import required_literal
from monitor.matching.regexes import WatchRegex, compile_regex, ignores_case
from monitor.matching.spec import (
    EntityRef,
    EntitySpec,
    Item,
    RuleSet,
    RuleSpec,
    Term,
    TokenPattern,
)
from monitor.matching.tables import LazyAutomata, LazyTokenTables


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

# A node's code for the native engine: its index shifted left by two, and its kind.
TERM_CODE, SET_CODE, COND_CODE = 0, 1, 2


class CompiledTerm(NamedTuple):
    """A term: its token pattern ids in order, or a compiled regex.

    `required` is a literal that any match of the regex must contain (lower-cased when `fold`,
    the regex ignoring case anywhere), so a field without it is not scanned; when `leads`, every
    match begins with it, so the regex is tried only where it stands. A named tuple: a large rule
    set has hundreds of thousands.
    """

    label: str
    patterns: tuple[int, ...] = ()
    regex: WatchRegex | None = None
    required: str | None = None
    leads: bool = False
    fold: bool = False
    language: str | None = None  # an entity name's language (see Term.language)


@dataclass(frozen=True, slots=True)
class CompiledEntity:
    """An entity: its name terms and the context terms of which one must also be present."""

    id: str
    names: tuple[int, ...]
    context: tuple[int, ...]


class CompiledRule(NamedTuple):
    """A rule ready to evaluate (a named tuple, as there may be a hundred thousand)."""

    spec: RuleSpec
    match: Node | None
    entities: Node | None
    feed_ids: frozenset[str] | None  # None: every feed
    matches_empty: bool  # true of an article in which no term is present


class LazyFirstPatterns:
    """Indexes word terms by their first token pattern on first use."""

    def __init__(self, terms: tuple[CompiledTerm, ...]) -> None:
        self._terms = terms
        self._index: dict[int, tuple[int, ...]] | None = None
        self._lock = threading.Lock()

    def get(self) -> dict[int, tuple[int, ...]]:
        """The index, built once (a matcher may run in several threads)."""
        with self._lock:
            if self._index is None:
                by_first: dict[int, list[int]] = defaultdict(list)
                for tid, term in enumerate(self._terms):
                    if term.regex is None:
                        by_first[term.patterns[0]].append(tid)
                self._index = {k: tuple(v) for k, v in by_first.items()}
            return self._index


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledRules:
    """The whole compiled rule set: immutable, so it can be swapped atomically."""

    rules: tuple[CompiledRule, ...]
    entities: tuple[CompiledEntity, ...]
    terms: tuple[CompiledTerm, ...]
    tokens: LazyTokenTables
    lazy_first_patterns: LazyFirstPatterns
    regex_terms: tuple[int, ...]
    lazy_automata: LazyAutomata
    # Every token pattern has an anchor, so the Python scan can use its automata (the native
    # engine finds globs without one by length, and ignores this).
    complete: bool
    # The native engine (`monitor_native.Engine`), None where the extension is not installed.
    engine: native.Engine | None
    open_regex_terms: tuple[int, ...]  # regex terms with no required literal: always run
    rules_by_term: dict[int, tuple[int, ...]]  # the rules that name a term themselves
    entities_by_name: dict[int, tuple[int, ...]]
    # The rules an entity can wake, through the entity sets (`id`, `tag:`, `type:`) they name:
    # a set is indexed once, however many rules name it and however many entities it holds.
    sets_by_entity: dict[int, tuple[int, ...]]
    rules_by_set: tuple[tuple[int, ...], ...]
    always_candidates: tuple[int, ...]
    fields: tuple[str, ...]
    descriptions: dict[str, str]  # rule id -> description, for the records alerts are made from
    spec: RuleSet = field(repr=False)

    @property
    def automata(self) -> Automata:
        """The anchors' automata for the Python scan, built on first use."""
        return self.lazy_automata.get()

    @property
    def terms_by_first_pattern(self) -> dict[int, tuple[int, ...]]:
        """Word terms by the id of their first token pattern, built on first use (the native
        engine has its own)."""
        return self.lazy_first_patterns.get()


class _Builder:
    """Interns token patterns and terms while rules are compiled, for the Python matcher
    (`python`: condition trees of nodes) or for the native engine (the trees as codes)."""

    def __init__(self, *, python: bool) -> None:
        self.python = python
        self.patterns: dict[TokenPattern, int] = {}
        # Term ids by source, one table per case mode: the same source parses to the same term.
        self.terms: tuple[dict[str, int], dict[str, int]] = ({}, {})
        self.compiled_terms: list[CompiledTerm] = []
        # Each term's number of words, then its token pattern ids (none for a regex): for the
        # native engine.
        self.term_patterns = array("q")
        self.nodes: list[TermNode] = []
        # What can wake each rule: the rules naming a term, and naming an entity set (`tag:`,
        # `type:` or an id), each list in rule order. For the native engine, (term, rule)
        # pairs instead of lists by term.
        self.rules_by_term: dict[int, list[int]] = defaultdict(list)
        self.term_rules = array("q")
        self.set_ids: dict[frozenset[int], int] = {}
        self.rules_by_set: list[list[int]] = []
        # Condition nodes for the native engine, one after another: the numbers of all, any
        # and none children, min, then the children's codes (an array: there may be millions).
        self.conds = array("q")
        self.cond_count = 0
        # The distinct tuples of fields rules read, in the order first read.
        self.field_lists: dict[tuple[str, ...], int] = {}
        # Each rule for the native engine: its field list, match code and entities code (-1:
        # none); and (rule, feed ids, languages) for each rule that filters.
        self.rule_codes = array("q")
        self.filters: list[tuple[int, list[str] | None, tuple[str, ...]]] = []

    def term(self, term: Term) -> int:
        table = self.terms[term.case]
        found = table.get(term.source)
        if found is not None:
            return found
        if term.regex is not None:
            regex = term.compiled or compile_regex(term.regex, term.case)
            required, leads = required_literal(regex) or (None, False)
            compiled = CompiledTerm(
                label=term.label,
                regex=regex,
                required=required,
                leads=leads,
                fold=ignores_case(regex),
                language=term.language,
            )
        else:
            patterns = self.patterns
            words = term.words
            if len(words) == 1:
                ids: tuple[int, ...] = (patterns.setdefault(words[0], len(patterns)),)
            else:
                ids = tuple([patterns.setdefault(w, len(patterns)) for w in words])
            # tuple.__new__: a named tuple's own __new__ is a Python function, and there may
            # be hundreds of thousands of terms.
            compiled = tuple.__new__(
                CompiledTerm, (term.label, ids, None, None, False, False, term.language)
            )
        tid = table[term.source] = len(self.compiled_terms)
        self.compiled_terms.append(compiled)
        if self.python:
            self.nodes.append(TermNode(tid))  # one node per term, shared by the rules naming it
        else:
            self.term_patterns.append(len(compiled.patterns))
            self.term_patterns.extend(compiled.patterns)
        return tid

    def node(self, item: Item, resolve: _EntityResolver, rid: int) -> tuple[Node | None, int, bool]:
        """Compile a condition item of rule `rid`: its node (for the Python matcher) or its
        code (for the native engine), and whether it holds for an article in which nothing is
        present; note what can make it hold."""
        if isinstance(item, Term):
            tid = self.term(item)
            if self.python:
                _add(self.rules_by_term[tid], rid)
                return self.nodes[tid], tid << 2 | TERM_CODE, False
            self.term_rules.append(tid)
            self.term_rules.append(rid)
            return None, tid << 2 | TERM_CODE, False
        if isinstance(item, EntityRef):
            entity = resolve(item)
            sid = self.set_ids.setdefault(entity.entities, len(self.set_ids))
            if sid == len(self.rules_by_set):
                self.rules_by_set.append([])
            _add(self.rules_by_set[sid], rid)
            return entity, sid << 2 | SET_CODE, False
        all_, all_codes, all_empty = self._children(item.all, resolve, rid)
        any_, any_codes, any_empty = self._children(item.any, resolve, rid)
        none, none_codes, none_empty = self._children(item.none, resolve, rid)
        empty = (
            all_empty == len(all_codes)
            and (not any_codes or any_empty >= item.min)
            and none_empty == 0
        )
        if self.python:
            return CondNode(all_, any_, none, item.min), -1, empty
        code = self.cond_count << 2 | COND_CODE
        self.cond_count += 1
        self.conds.extend((len(all_codes), len(any_codes), len(none_codes), item.min))
        self.conds.extend(all_codes + any_codes + none_codes)
        return None, code, empty

    def _children(
        self, items: tuple[Item, ...], resolve: _EntityResolver, rid: int
    ) -> tuple[tuple[Node, ...], list[int], int]:
        """Compiled items, their codes, and how many hold for an article with nothing present."""
        if not items:
            return (), [], 0
        nodes = []
        codes = []
        empty = 0
        for item in items:
            node, code, holds = self.node(item, resolve, rid)
            if node is not None:
                nodes.append(node)
            codes.append(code)
            empty += holds
        return tuple(nodes), codes, empty


def _add(rules: list[int], rid: int) -> None:
    """Add a rule to a list in rule order, once (a rule may name a term twice)."""
    if not rules or rules[-1] != rid:
        rules.append(rid)


def compile_rules(rule_set: RuleSet, *, engine: bool = True) -> CompiledRules:
    """Compile a validated, linked rule set. Disabled rules are left out.

    With the native engine installed (and `engine`), the rules are compiled for it: the
    condition trees and rule indexes the Python matcher reads are not built. Without, they are.
    """
    # Compiling makes millions of small objects and no reference cycles: the cyclic garbage
    # collector would walk the growing heap again and again (half the time at 100,000 rules).
    with gc_paused():
        return _compile(rule_set, native.engine_type() if engine else None)


def _compile(rule_set: RuleSet, engine: type[native.Engine] | None) -> CompiledRules:
    build = _Builder(python=engine is None)
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
        rid = len(rules)
        match_node, match_code, match_empty = (
            build.node(spec.match, resolve, rid) if spec.match else (None, None, True)
        )
        entity_node, entity_code, entity_empty = (
            build.node(spec.entities, resolve, rid) if spec.entities else (None, None, True)
        )
        feed_ids = None
        if spec.feeds:
            feed_ids = frozenset(
                fid
                for ref in spec.feeds
                for fid in ((ref.value,) if ref.kind == "id" else feed_tags.get(ref.value, ()))
            )
        field_list = build.field_lists.setdefault(spec.fields, len(build.field_lists))
        if not build.python:
            build.rule_codes.append(field_list)
            build.rule_codes.append(-1 if match_code is None else match_code)
            build.rule_codes.append(-1 if entity_code is None else entity_code)
            if feed_ids is not None or spec.languages:
                feeds = None if feed_ids is None else list(feed_ids)
                build.filters.append((rid, feeds, spec.languages))
        # tuple.__new__, not the named tuple's own __new__ (a Python function): one a rule.
        rules.append(
            tuple.__new__(
                CompiledRule,
                (spec, match_node, entity_node, feed_ids, match_empty and entity_empty),
            )
        )
    return _index(rule_set, build, tuple(entities), tuple(rules), engine)


def _index(
    rule_set: RuleSet,
    build: _Builder,
    entities: tuple[CompiledEntity, ...],
    rules: tuple[CompiledRule, ...],
    engine: type[native.Engine] | None,
) -> CompiledRules:
    terms = tuple(build.compiled_terms)
    regex_terms = [tid for tid, term in enumerate(terms) if term.regex is not None]
    python = build.python
    # What only the Python matcher reads (the engine has its own).
    entities_by_name: dict[int, list[int]] = defaultdict(list)
    sets_by_entity: dict[int, list[int]] = defaultdict(list)
    if python:
        for eid, entity in enumerate(entities):
            for tid in entity.names:
                entities_by_name[tid].append(eid)
        for found, sid in build.set_ids.items():
            for eid in found:
                sets_by_entity[eid].append(sid)
    required = [
        (tid, term.required, not term.fold, term.leads)
        for tid in regex_terms
        if (term := terms[tid]).required is not None and term.regex
    ]
    globs, complete = glob_anchors(build.patterns)
    open_regex_terms = tuple(t for t in regex_terms if terms[t].required is None)
    fields = tuple(dict.fromkeys(chain.from_iterable(build.field_lists)))
    always = tuple(i for i, r in enumerate(rules) if r.matches_empty)
    return CompiledRules(
        rules=rules,
        entities=entities,
        terms=terms,
        tokens=LazyTokenTables(build.patterns),
        lazy_first_patterns=LazyFirstPatterns(terms),
        regex_terms=tuple(regex_terms),
        lazy_automata=LazyAutomata(build.patterns, required),
        complete=complete,
        engine=None
        if engine is None
        else _engine(
            engine,
            build,
            entities,
            rules,
            fields,
            always,
            required,
            globs,
            regex_terms,
            open_regex_terms,
        ),
        open_regex_terms=open_regex_terms,
        rules_by_term={k: tuple(v) for k, v in build.rules_by_term.items()} if python else {},
        entities_by_name={k: tuple(v) for k, v in entities_by_name.items()} if python else {},
        sets_by_entity={k: tuple(v) for k, v in sets_by_entity.items()} if python else {},
        rules_by_set=tuple(tuple(r) for r in build.rules_by_set) if python else (),
        always_candidates=always,
        fields=fields,
        descriptions={r.spec.id: r.spec.description for r in rules},
        spec=rule_set,
    )


def _native_regexes(
    terms: list[CompiledTerm], regex_terms: list[int]
) -> list[tuple[int, native.Regex]]:
    """The regex terms' compiled regexes, which the engine runs itself (they are native)."""
    kind = native.regex_type()
    found = []
    for tid in regex_terms:
        regex = terms[tid].regex
        if kind is None or not isinstance(regex, kind):
            raise TypeError(f"the native engine cannot run the regex of term {tid}: {regex!r}")
        found.append((tid, regex))
    return found


def _engine(
    engine: type[native.Engine],
    build: _Builder,
    entities: tuple[CompiledEntity, ...],
    rules: tuple[CompiledRule, ...],
    fields: tuple[str, ...],
    always: tuple[int, ...],
    required: list[tuple[int, str, bool, bool]],
    globs: list[tuple[int, str, int]],
    regex_terms: list[int],
    open_regex_terms: tuple[int, ...],
) -> native.Engine:
    """The native engine over the compiled rules."""
    index = {name: i for i, name in enumerate(fields)}
    terms = build.compiled_terms
    return engine(
        patterns=list(build.patterns),
        glob_anchors=globs,
        regex_anchors=required,
        term_patterns=build.term_patterns.tobytes(),
        open_regex_terms=list(open_regex_terms),
        regexes=_native_regexes(terms, regex_terms),
        labels=[t.label for t in terms],
        languages=[t.language for t in terms],
        entities=[(e.names, e.context) for e in entities],
        entity_ids=[e.id for e in entities],
        sets=[list(s) for s in build.set_ids],
        conds=build.conds.tobytes(),
        field_lists=[[index[f] for f in names] for names in build.field_lists],
        rules=build.rule_codes.tobytes(),
        filters=build.filters,
        term_rules=build.term_rules.tobytes(),
        rules_by_set=build.rules_by_set,
        always=list(always),
        specs=[r.spec for r in rules],
        fields=list(fields),
        match_type=Match,
        evidence_type=Evidence,
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
        self.nodes: dict[tuple[str, str], EntityNode] = {}

    def __call__(self, ref: EntityRef) -> EntityNode:
        key = (ref.kind, ref.value)
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = EntityNode(frozenset(self.by_key.get(key, ())), str(ref))
        return node
