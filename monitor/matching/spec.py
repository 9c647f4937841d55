"""The watch language: typed specs for rules, entities and feeds, and their validation.

Everything here is pure. The validators take the located data that `monitor.kernel.yamlfile` reads
and
return specs plus a list of `Problem`s (file, line, reason); they never stop at the first one, so
`monitor check` can report every mistake in one run. `docs/rules.md` documents the language.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

from monitor.feeds.spec import FeedSpec
from monitor.kernel.checks import Checker
from monitor.kernel.errors import excerpt
from monitor.kernel.located import LocDict, line_of
from monitor.kernel.models import DEFAULT_FIELDS
from monitor.kernel.models import MODES as MODES  # the rules name them; the records check them
from monitor.kernel.models import SEVERITIES as SEVERITIES
from monitor.kernel.text import PATTERN_WORD_RE, is_acronym, token_key
from monitor.matching.regexes import WatchRegex, compile_regex

ENTITY_TYPES: Final = ("person", "org", "place", "event", "other")
_MIN_PREFIX_CHARS: Final = 2

TokenKind = Literal["literal", "prefix", "glob"]


class TokenPattern(NamedTuple):
    """One word of a term: a literal word, a prefix (`minist*`) or a glob (`defen?e`).

    `text` is already in comparison form: possessive dropped, casefolded unless `case`. A named
    tuple, because the compiler hashes hundreds of thousands of them.
    """

    kind: TokenKind
    text: str
    case: bool

    def matches(self, key: str) -> bool:
        """Tell whether a token (in `token_key` form) is this word; for reference and tests."""
        folded = key if self.case else key.casefold()
        if self.kind == "literal":
            return folded == self.text
        if self.kind == "prefix":
            return folded.startswith(self.text)
        return glob_regex(self.text).fullmatch(folded) is not None


@dataclass(frozen=True, slots=True)
class Term:
    """A term as written, parsed: a word, a phrase of words, or a regular expression."""

    source: str
    case: bool
    words: tuple[TokenPattern, ...] = ()
    regex: str | None = None
    # The regex as validation compiled it, kept so the compiler need not compile it again.
    compiled: WatchRegex | None = field(default=None, compare=False, repr=False)
    # The language of an entity's name given under `languages:`, which evidence names.
    language: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """How evidence names the term."""
        return self.source


@dataclass(frozen=True, slots=True)
class EntityRef:
    """A reference to entities: one id, every entity with a tag, or every one of a type."""

    kind: Literal["id", "tag", "type"]
    value: str
    line: int

    def __str__(self) -> str:
        return self.value if self.kind == "id" else f"{self.kind}:{self.value}"


@dataclass(frozen=True, slots=True)
class Condition:
    """all / any / none over items; `min` is how many of `any` must hold (default 1)."""

    all: tuple[Item, ...] = ()
    any: tuple[Item, ...] = ()
    none: tuple[Item, ...] = ()
    min: int = 1


Item = Term | EntityRef | Condition


@dataclass(frozen=True, slots=True, kw_only=True)
class Throttle:
    """At most `max` alerts per `per_s` seconds for one rule."""

    max: int
    per_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSpec:
    """One watch, validated."""

    id: str
    path: str
    line: int
    description: str = ""
    enabled: bool = True
    mode: str = "live"
    match: Condition | None = None
    entities: Condition | None = None
    fields: tuple[str, ...] = DEFAULT_FIELDS
    feeds: tuple[EntityRef, ...] = ()  # kind "id" or "tag"; empty means every feed
    languages: tuple[str, ...] = ()
    severity: str = "medium"
    notify: tuple[str, ...] = ()
    notify_line: int = 0  # where `notify:` stood, for a problem with a channel it names
    throttle: Throttle | None = None
    stories: bool = True  # `stories: off`: each match alerts on its own, never folded
    # A rule with problems of its own, kept only so that its references (entities, feeds,
    # channels) are checked in the same run: never compiled, never in `RuleSet.rules`.
    draft: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class EntitySpec:
    """A named thing that articles mention under one of its names."""

    id: str
    path: str
    line: int
    type: str
    names: tuple[Term, ...]
    tags: tuple[str, ...] = ()
    context: tuple[Term, ...] = ()

    @property
    def display_name(self) -> str:
        """The first name, as users will read it."""
        return self.names[0].source


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    """Everything a rules directory holds, validated and cross-checked."""

    rules: tuple[RuleSpec, ...] = ()
    entities: tuple[EntitySpec, ...] = ()
    feeds: tuple[FeedSpec, ...] = ()
    drafts: tuple[RuleSpec, ...] = ()  # invalid rules, for checking their references only


class Glob:
    """A glob word, compared without a regex: `?` one character, a final `*` any ending.

    The same answers as `glob_regex`, for less than a regex costs to compile.
    """

    __slots__ = ("chunks", "length", "open")

    def __init__(self, pattern: str) -> None:
        self.open = pattern.endswith("*")
        body = pattern.rstrip("*")
        self.length = len(body)
        self.chunks: tuple[tuple[int, str], ...] = ()
        at = 0
        for chunk in body.split("?"):
            if chunk:
                self.chunks += ((at, chunk),)
            at += len(chunk) + 1

    def fullmatch(self, key: str) -> bool:
        """Tell whether the whole of `key` matches the glob."""
        if len(key) != self.length and not (self.open and len(key) > self.length):
            return False
        return all(key.startswith(chunk, at) for at, chunk in self.chunks)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob word (`?` one character, a final `*` any ending) to a regex."""
    body = "".join("." if ch == "?" else re.escape(ch) for ch in pattern.rstrip("*"))
    return re.compile(body + (".*" if pattern.endswith("*") else ""), re.DOTALL)


# Terms already parsed, by (text, case as written): a rule set names the same words and regexes
# many times over (100,000 generated watches: 264,638 terms, 126,969 of them distinct), and a
# reload reads most of them again. A term is immutable, so one can serve every watch naming it.
TERM_MEMO = 500_000
_TERMS: dict[tuple[str, bool | None], Term] = {}


class RuleChecker(Checker):
    """A `Checker` that also reads the watch language: terms, conditions, entity references."""

    def term(self, value: object, line: int, *, case_default: bool | None = None) -> Term | None:
        """Parse a term: a string, or `{term: TEXT, case: true|false}`."""
        case: bool | None = case_default
        if isinstance(value, dict) and _colon_in_term(value):
            key, rest = next(iter(value.items()))
            meant = f"{key}: {rest}" if rest is not None else f"{key}:"
            self.error(
                line_of(value, line),
                f"`{yaml_quoted(meant)[1:-1]}` was read as a mapping (a `: ` inside a value "
                f"starts a key): put the term in quotes, as {yaml_quoted(meant)}",
            )
            return None
        if isinstance(value, dict):
            spec = self.mapping(value, line, "a term", ("term", "case"))
            if spec is None:
                return None
            line = spec.line
            if "case" in spec:
                case = self.boolean(spec["case"], spec.line_of("case"), "case")
            value = spec.get("term")
            if value is None:
                self.error(line, "a term mapping needs `term:`")
                return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        text = self.string(value, line, "a term")
        if text is None:
            return None
        return self._parse_term(text, line, case)

    def _parse_term(self, text: str, line: int, case: bool | None) -> Term | None:
        key = (text, case)
        known = _TERMS.get(key)
        if known is not None:
            return known
        term = self._parse_new_term(text, line, case)
        if term is not None:
            if len(_TERMS) >= TERM_MEMO:
                _TERMS.clear()
            _TERMS[key] = term
        return term

    def _parse_new_term(self, text: str, line: int, case: bool | None) -> Term | None:
        if len(text) > 2 and text.startswith("/") and text.endswith("/"):
            case = bool(case)
            try:
                compiled = compile_regex(text[1:-1], case)
            except ValueError as exc:
                self.error(line, f"bad regular expression {excerpt(text, quote=False)}: {exc}")
                return None
            return Term(source=text, case=case, regex=text[1:-1], compiled=compiled)
        if case is None:
            case = is_acronym(text)
        words = [self._parse_word(w, text, line, case) for w in PATTERN_WORD_RE.findall(text)]
        if not words:
            self.error(line, f"term {text!r} has no words to match")
            return None
        if any(w is None for w in words):
            return None
        return Term(source=text, case=case, words=tuple(w for w in words if w is not None))

    def _parse_word(self, word: str, term: str, line: int, case: bool) -> TokenPattern | None:
        star = word.find("*")
        if star != -1 and star != len(word) - 1:
            self.error(
                line,
                f"term {term!r}: `*` may stand only at the end of a word (a prefix); "
                "use a /regular expression/ for more",
            )
            return None
        form = word if case else word.casefold()
        if "?" in word:
            return TokenPattern("glob", form, case)
        if star != -1:
            stem = form[:-1]
            if len(stem) < _MIN_PREFIX_CHARS:
                self.error(
                    line, f"term {term!r}: a prefix needs at least {_MIN_PREFIX_CHARS} letters"
                )
                return None
            return TokenPattern("prefix", stem, case)
        return TokenPattern("literal", token_key(form), case)

    def terms(self, value: object, line: int, what: str) -> tuple[Term, ...]:
        """Parse a list of terms."""
        items = self.sequence(value, line, what)
        if items is None:
            return ()
        parsed = (self.term(v, items.line_of(i)) for i, v in enumerate(items))
        return tuple(t for t in parsed if t is not None)

    def condition(
        self,
        value: object,
        line: int,
        what: str,
        leaf: Callable[[object, int], Item | None],
    ) -> Condition | None:
        """Parse a condition: a mapping of all/any/none lists and min, with `leaf` items."""
        spec = self.mapping(value, line, what, ("all", "any", "none", "min"))
        if spec is None:
            return None
        if not any(k in spec for k in ("all", "any", "none")):
            self.error(spec.line, f"{what} needs at least one of all, any, none")
            return None
        parts: dict[str, tuple[Item, ...]] = {}
        for key in ("all", "any", "none"):
            if key not in spec:
                continue
            items = self.sequence(spec[key], spec.line_of(key), f"{what} `{key}`")
            if items is None:
                continue
            if not items:
                self.error(spec.line_of(key), f"{what} `{key}` is empty")
            parsed = (self._item(v, items.line_of(i), what, leaf) for i, v in enumerate(items))
            parts[key] = tuple(p for p in parsed if p is not None)
        minimum = 1
        if "min" in spec:
            minimum = self._minimum(spec, len(parts.get("any", ())))
        return Condition(
            all=parts.get("all", ()),
            any=parts.get("any", ()),
            none=parts.get("none", ()),
            min=minimum,
        )

    def _minimum(self, spec: LocDict, any_count: int) -> int:
        value, line = spec["min"], spec.line_of("min")
        if "any" not in spec:
            self.error(line, "`min` counts the items of `any`, and there is no `any`")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.error(line, f"`min` must be a whole number of at least 1, not {value!r}")
        elif any_count and value > any_count:
            self.error(line, f"`min: {value}` asks for more than the {any_count} items of `any`")
        else:
            return value
        return 1

    def _item(
        self,
        value: object,
        line: int,
        what: str,
        leaf: Callable[[object, int], Item | None],
    ) -> Item | None:
        if isinstance(value, dict) and any(k in value for k in ("all", "any", "none", "min")):
            return self.condition(value, line_of(value, line), f"nested {what}", leaf)
        return leaf(value, line)

    def entity_ref(self, value: object, line: int) -> EntityRef | None:
        """Parse an entity reference: `ID`, `tag:NAME` or `type:TYPE`."""
        text = self.string(value, line, "an entity reference")
        if text is None:
            return None
        if text.startswith("tag:"):
            return EntityRef("tag", text[4:].strip(), line)
        if text.startswith("type:"):
            kind = self.choice(text[5:].strip(), line, "an entity type", ENTITY_TYPES)
            return EntityRef("type", kind, line) if kind else None
        return EntityRef("id", text, line)


def _colon_in_term(value: dict[object, object]) -> bool:
    """Whether a term that came out a mapping was a text with an unquoted `: ` in it (`[Note:
    this, grain]`): one key that is no term key, holding a plain value."""
    if len(value) != 1:
        return False
    key, rest = next(iter(value.items()))
    return key not in ("term", "case") and (rest is None or isinstance(rest, str | int | float))


def yaml_quoted(text: str, limit: int = 80) -> str:
    """`text` as a YAML double-quoted string to copy into the file, with any character a
    terminal would act on written as an escape; cut to `limit` characters (`…` then)."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    quoted = json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted one
    return "".join(
        c if c.isprintable() else (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
        for c in quoted
    )
