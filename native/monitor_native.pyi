"""monitor's matching core in Rust (see native/src/lib.rs)."""

from collections.abc import Callable, Mapping, Sequence

KINDS: tuple[int, int, int, int, int]

class Engine:
    """A compiled rule set, ready to match articles."""

    def __init__(
        self,
        *,
        folded: Sequence[tuple[str, Sequence[tuple[int, int, str, int, int]]]],
        exact: Sequence[tuple[str, Sequence[tuple[int, int, str, int, int]]]],
        term_patterns: Sequence[Sequence[int]],
        open_regex_terms: Sequence[int],
        labels: Sequence[str],
        entities: Sequence[tuple[Sequence[int], Sequence[int]]],
        entity_ids: Sequence[str],
        sets: Sequence[Sequence[int]],
        conds: Sequence[tuple[Sequence[int], Sequence[int], Sequence[int], int]],
        rules: Sequence[
            tuple[Sequence[int], int | None, int | None, Sequence[str] | None, Sequence[str]]
        ],
        rules_by_term: Mapping[int, Sequence[int]],
        rules_by_set: Sequence[Sequence[int]],
        always: Sequence[int],
    ) -> None: ...
    def match_article(
        self,
        scans: Sequence[tuple[str, str | None, str | None] | None],
        given: Sequence[Sequence[tuple[int, int, int, bool]] | None],
        feed: str | None,
        language: str | None,
        run_regex: Callable[[int, int, list[int] | None], tuple[int, int] | None],
    ) -> list[tuple[int, list[tuple[bool, int, int, int, int]]]]: ...
