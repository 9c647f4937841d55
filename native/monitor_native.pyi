"""monitor's matching core in Rust (see native/src/lib.rs)."""

from collections.abc import Sequence
from typing import Any

from monitor.matching.spec import RuleSpec
from monitor.kernel.models import Evidence, Match

class Engine:
    """A compiled rule set, ready to match articles."""

    def __init__(
        self,
        *,
        patterns: Sequence[tuple[str, str, bool]],
        glob_anchors: Sequence[tuple[int, str, int]],
        regex_anchors: Sequence[tuple[int, str, bool, bool]],
        term_patterns: bytes,
        open_regex_terms: Sequence[int],
        regexes: Sequence[tuple[int, Regex]],
        labels: Sequence[str],
        languages: Sequence[str | None],
        entities: Sequence[tuple[Sequence[int], Sequence[int]]],
        entity_ids: Sequence[str],
        sets: Sequence[Sequence[int]],
        conds: bytes,
        field_lists: Sequence[Sequence[int]],
        rules: bytes,
        filters: Sequence[tuple[int, Sequence[str] | None, Sequence[str]]],
        term_rules: bytes,
        rules_by_set: Sequence[Sequence[int]],
        always: Sequence[int],
        specs: Sequence[RuleSpec],
        fields: Sequence[str],
        match_type: type[Match],
        evidence_type: type[Evidence],
    ) -> None: ...
    @property
    def modes(self) -> tuple[bool, bool]:
        """Whether there are anchors to search casefolded, and exact."""
    def match_article(
        self,
        texts: Sequence[str],
        scans: Sequence[tuple[str | None, str | None] | None],
        given: Sequence[Sequence[tuple[int, int, int, bool]] | None],
        article_id: str,
        feed: str | None,
        language: str | None,
        budget_s: float | None = None,
    ) -> tuple[Match, ...]: ...

class Regex:
    """A watch regex on a linear-time engine; offsets are in characters."""

    def __init__(self, pattern: str, case_sensitive: bool) -> None: ...
    @property
    def pattern(self) -> str: ...
    @property
    def case_sensitive(self) -> bool: ...
    def first_span(
        self, text: str, places: Sequence[int] | None = None
    ) -> tuple[int, int] | None: ...

def read_yaml(text: str, loc_dict: type, loc_list: type) -> Any:
    """One YAML document read by libyaml into located containers, or None where PyYAML must
    read it (errors, aliases, tags, floats, timestamps, duplicate keys, deep nesting)."""

def story_sketch(title: str, body: str) -> bytes:
    """`monitor.stories.sketch.sketch`, natively."""

class StoryIndex:
    """`monitor.stories.index.StoryIndex`, natively."""

    def __init__(self, window_s: float, max_members: int = 50_000) -> None: ...
    def __len__(self) -> int: ...
    def assign(
        self,
        article_id: str,
        url_key: str,
        title: str,
        body: str,
        feed: str,
        url: str,
        seen_ms: int,
    ) -> tuple[str, bytes, str, tuple[str, str, float, tuple[str, ...]]]: ...
    def insert(
        self,
        article_id: str,
        story_id: str,
        url_key: str,
        shingles: bytes,
        lead: str,
        feed: str,
        title: str,
        url: str,
        seen_ms: int,
    ) -> bool: ...
    def story_of(self, article_id: str) -> str | None: ...
    def story(self, story_id: str) -> list[tuple[str, str, str, str, int]]: ...
    def evict(self, now_ms: int) -> None: ...
