"""The shapes of the three kinds of files in a rules directory, and the checks across them.

Pure: each `parse_*` takes a file's path and its located YAML data and returns specs and problems.
`link` then checks what no single file can: unique ids, and that every reference resolves.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.feeds.spec import FeedSpec
from monitor.kernel.checks import Checker, did_you_mean, parse_duration, top_level
from monitor.kernel.errors import Problem, excerpt
from monitor.kernel.langcodes import language_problem
from monitor.kernel.located import LocDict
from monitor.kernel.models import DEFAULT_FIELDS, TEXT_FIELDS
from monitor.matching.spec import (
    ENTITY_TYPES,
    MODES,
    SEVERITIES,
    Condition,
    EntityRef,
    EntitySpec,
    Item,
    RuleChecker,
    RuleSet,
    RuleSpec,
    Term,
    Throttle,
)

RULE_KEYS = (
    "id",
    "description",
    "enabled",
    "mode",
    "match",
    "entities",
    "fields",
    "feeds",
    "languages",
    "severity",
    "notify",
    "throttle",
    "stories",
)
ENTITY_KEYS = ("id", "type", "names", "languages", "tags", "context")
LANGUAGE_TAG_RE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def parse_rule_file(path: str, data: object) -> tuple[list[RuleSpec], list[Problem]]:
    """Validate a rule file: `rules:`, a list of rules."""
    check = RuleChecker(path)
    rules = []
    items = top_level(check, data, "rules")
    for i, raw in enumerate(items):
        rule = _rule(check, raw, items.line_of(i))
        if rule is not None:
            rules.append(rule)
    return rules, check.problems


def _rule(check: RuleChecker, raw: object, line: int) -> RuleSpec | None:  # noqa: C901 - one branch a key
    spec = check.mapping(raw, line, "a rule", RULE_KEYS)
    if spec is None:
        return None
    problems_before = len(check.problems)
    rule_id = check.identifier(spec.get("id"), spec.line_of("id"), "rule `id`")
    at = spec.line_of
    fields: dict[str, object] = {}
    if "description" in spec:
        fields["description"] = check.string(spec["description"], at("description"), "description")
    if "enabled" in spec:
        fields["enabled"] = check.boolean(spec["enabled"], at("enabled"), "enabled")
    if "mode" in spec:
        fields["mode"] = check.choice(spec["mode"], at("mode"), "mode", MODES)
    if "match" in spec:
        fields["match"] = check.condition(spec["match"], at("match"), "`match`", check.term)
    if "entities" in spec:
        fields["entities"] = check.condition(
            spec["entities"], at("entities"), "`entities`", check.entity_ref
        )
    if "match" not in spec and "entities" not in spec:
        check.error(spec.line, f"rule {rule_id!r} needs `match:`, `entities:` or both")
    if "fields" in spec:
        fields["fields"] = _fields(check, spec)
    if "feeds" in spec:
        fields["feeds"] = tuple(_feed_ref(s, at("feeds")) for s in _strings(check, spec, "feeds"))
    if "languages" in spec:
        fields["languages"] = _languages(check, spec)
    if "severity" in spec:
        fields["severity"] = check.choice(spec["severity"], at("severity"), "severity", SEVERITIES)
    if "notify" in spec:
        fields["notify"] = _strings(check, spec, "notify")
        fields["notify_line"] = at("notify")
    if "throttle" in spec:
        fields["throttle"] = _throttle(check, spec["throttle"], at("throttle"))
    if "stories" in spec:
        fields["stories"] = check.on_off(spec["stories"], at("stories"), "rule `stories`")
    if rule_id is None:
        return None
    # With problems of its own, the rule is kept as a draft: its references are still checked
    # against the other files in this run, so that every problem shows at once.
    draft = len(check.problems) > problems_before
    found = {k: v for k, v in fields.items() if v is not None}
    return RuleSpec(id=rule_id, path=check.path, line=spec.line, draft=draft, **found)  # type: ignore[arg-type]


def _languages(check: Checker, spec: LocDict) -> tuple[str, ...]:
    """The rule's `languages`: ISO 639 codes (`english` would never match an article)."""
    found = []
    for code in _strings(check, spec, "languages"):
        problem = language_problem(code)
        if problem:
            check.error(spec.line_of("languages"), f"`languages`: {problem}")
        else:
            found.append(code.lower())
    return tuple(found)


def _strings(check: Checker, spec: LocDict, key: str) -> tuple[str, ...]:
    return check.strings(spec[key], spec.line_of(key), f"`{key}`")


def _fields(check: Checker, spec: LocDict) -> tuple[str, ...]:
    names = _strings(check, spec, "fields")
    for name in names:
        if name not in TEXT_FIELDS:
            check.error(
                spec.line_of("fields"),
                f"unknown field {name!r} (fields: {', '.join(TEXT_FIELDS)})",
            )
    if not names:
        check.error(spec.line_of("fields"), "`fields` is empty")
    return tuple(dict.fromkeys(names)) or DEFAULT_FIELDS


def _feed_ref(text: str, line: int) -> EntityRef:
    if text.startswith("tag:"):
        return EntityRef("tag", text[4:].strip(), line)
    return EntityRef("id", text, line)


MAX_THROTTLE_S = 7 * 86400.0


def _throttle(check: Checker, raw: object, line: int) -> Throttle | None:
    spec = check.mapping(raw, line, "`throttle`", ("max", "per"))
    if spec is None:
        return None
    limit = spec.get("max")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        check.error(
            spec.line_of("max"), f"throttle `max` must be a whole number >= 1, not {limit!r}"
        )
        return None
    try:
        per_s = parse_duration(spec.get("per"))
    except ValueError as exc:
        check.error(spec.line_of("per"), f"throttle `per`: {exc}")
        return None
    if per_s > MAX_THROTTLE_S:
        # The matches beyond the throttle wait for the period's end: not for longer than this.
        check.error(spec.line_of("per"), f"throttle `per` must be at most 7d, not {spec['per']!r}")
        return None
    return Throttle(max=limit, per_s=per_s)


PACK_KEY = "shipped_pack"  # `shipped_pack: false` in an entity file: without the shipped pack


@dataclass(frozen=True, slots=True)
class PackSwitch:
    """An entity file's `shipped_pack: true|false`: whether the rules directory takes the
    entity pack that ships with monitor (it does unless a file says false)."""

    path: str
    line: int
    on: bool


def parse_entity_file(path: str, data: object) -> tuple[list[EntitySpec], list[Problem]]:
    """Validate an entity file: `entities:`, a list of entities."""
    found, problems = parse_entities(path, data)
    return [e for e in found if isinstance(e, EntitySpec)], problems


def parse_entities(path: str, data: object) -> tuple[list[EntitySpec | PackSwitch], list[Problem]]:
    """Validate an entity file: `entities:`, a list of entities, and `shipped_pack:` when the
    file has it."""
    check = RuleChecker(path)
    entities: list[EntitySpec | PackSwitch] = []
    if isinstance(data, LocDict) and PACK_KEY in data:
        line = data.line_of(PACK_KEY)
        rest = LocDict((k, v) for k, v in data.items() if k != PACK_KEY)
        rest.line, rest.key_lines = data.line, getattr(data, "key_lines", {})  # checked as before
        on = data[PACK_KEY]
        if isinstance(on, bool):
            entities.append(PackSwitch(path, line, on))
        else:
            check.error(line, f"`{PACK_KEY}` must be true or false, not {excerpt(on)}")
        if "entities" not in rest:
            return entities, check.problems
        data = rest
    items = top_level(check, data, "entities")
    for i, raw in enumerate(items):
        spec = check.mapping(raw, items.line_of(i), "an entity", ENTITY_KEYS)
        if spec is None:
            continue
        before = len(check.problems)
        at = spec.line_of
        entity_id = check.identifier(spec.get("id"), at("id"), "entity `id`")
        kind = check.choice(spec.get("type"), at("type"), "entity `type`", ENTITY_TYPES)
        names = check.terms(spec.get("names"), at("names"), "`names`")
        if "names" in spec and not names and len(check.problems) == before:
            check.error(at("names"), "`names` is empty")
        if "languages" in spec:
            names += _names_by_language(check, spec["languages"], at("languages"))
        tags = _strings(check, spec, "tags") if "tags" in spec else ()
        context = (
            check.terms(spec["context"], at("context"), "`context`") if "context" in spec else ()
        )
        if entity_id is None or kind is None or len(check.problems) > before:
            continue
        entities.append(
            EntitySpec(
                id=entity_id,
                path=path,
                line=spec.line,
                type=kind,
                names=names,
                tags=tags,
                context=context,
            )
        )
    return entities, check.problems


def _names_by_language(check: RuleChecker, value: object, line: int) -> tuple[Term, ...]:
    """`languages: {de: [Kasachstan], ...}`: names in other languages, case-sensitive unless a
    name says `case: false`, each carrying its language for evidence."""
    keys = tuple(value) if isinstance(value, dict) else ()  # any key: each is checked below
    spec = check.mapping(value, line, "`languages`", keys)
    if spec is None:
        return ()
    names: list[Term] = []
    for code, items in spec.items():
        at = spec.line_of(code)
        problem = language_problem(str(code))
        if problem or not LANGUAGE_TAG_RE.fullmatch(str(code)):
            check.error(at, f"`languages`: {problem or f'{code!r} must be in small letters'}")
            continue
        found = check.sequence(items, at, f"`languages` {code}")
        if found is None:
            continue
        for i, item in enumerate(found):
            term = check.term(item, found.line_of(i), case_default=True)
            if term is not None:
                names.append(dataclasses.replace(term, language=code))
    return tuple(names)


def link(rule_set: RuleSet) -> list[Problem]:
    """Check ids are unique and every entity and feed reference resolves (a draft's too),
    suggesting the id meant for one that does not."""
    rules = (*rule_set.rules, *rule_set.drafts)
    problems = [
        *_duplicates("rule", rules),
        *_duplicates("entity", rule_set.entities),
        *_duplicates("feed", rule_set.feeds),
    ]
    entity_known = {
        "id": {e.id for e in rule_set.entities},
        "tag": {t for e in rule_set.entities for t in e.tags},
        "type": {e.type for e in rule_set.entities},
    }
    feed_known = {
        "id": {f.id for f in rule_set.feeds},
        "tag": {t for f in rule_set.feeds for t in f.tags},
    }
    entity_missing = {
        "id": "unknown entity",
        "tag": "no entity has the tag",
        "type": "no entity has the type",
    }
    feed_missing = {"id": "unknown feed", "tag": "no feed has the tag"}
    for rule in rules:
        for refs, known, missing in (
            (_entity_refs(rule.entities), entity_known, entity_missing),
            (rule.feeds, feed_known, feed_missing),
        ):
            for ref in refs:
                if ref.value not in known[ref.kind]:
                    hint = did_you_mean(ref.value, sorted(known[ref.kind]))
                    message = f"rule {rule.id!r}: {missing[ref.kind]} {ref.value!r}{hint}"
                    problems.append(Problem(rule.path, ref.line, message))
    return problems


def _duplicates(kind: str, specs: Iterable[RuleSpec | EntitySpec | FeedSpec]) -> list[Problem]:
    items = list(specs)
    counts = Counter(s.id for s in items)
    first: dict[str, RuleSpec | EntitySpec | FeedSpec] = {}
    problems = []
    for spec in items:
        if counts[spec.id] < 2:
            continue
        if spec.id in first:
            seen = first[spec.id]
            problems.append(
                Problem(
                    spec.path,
                    spec.line,
                    f"duplicate {kind} id {spec.id!r} (also at {seen.path}:{seen.line})",
                )
            )
        else:
            first[spec.id] = spec
    return problems


def _entity_refs(condition: Condition | None) -> list[EntityRef]:
    if condition is None:
        return []
    refs: list[EntityRef] = []
    stack: list[Item] = [*condition.all, *condition.any, *condition.none]
    while stack:
        item = stack.pop()
        if isinstance(item, EntityRef):
            refs.append(item)
        elif isinstance(item, Condition):
            stack.extend((*item.all, *item.any, *item.none))
    return sorted(refs, key=lambda r: r.line)
