"""Token patterns in hash tables and automata, built on first use: the native engine has its
own, and most rule sets and most text never need the tables."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

from monitor.matching.automaton import Automata, anchors, build_automata
from monitor.matching.spec import Glob, TokenPattern


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenTables:
    """Token patterns in hash tables, for text scanned token by token (see `scan`)."""

    ci_literal: dict[str, int]
    cs_literal: dict[str, int]
    ci_prefix: dict[str, int]
    cs_prefix: dict[str, int]
    ci_prefix_lengths: tuple[int, ...]
    cs_prefix_lengths: tuple[int, ...]
    # Glob words, indexed by their literal start (the characters before the first `?`), so a
    # token is tried only against the globs that begin like it.
    # ...and then by the token length they match (-1: any length, for a final `*`).
    ci_globs: dict[str, dict[int, tuple[tuple[Glob, int], ...]]]
    cs_globs: dict[str, dict[int, tuple[tuple[Glob, int], ...]]]
    ci_glob_lengths: tuple[int, ...]
    cs_glob_lengths: tuple[int, ...]


class LazyAutomata:
    """Builds the Python automata on first use: the native engine has its own."""

    def __init__(
        self, patterns: dict[TokenPattern, int], required: list[tuple[int, str, bool, bool]]
    ) -> None:
        self._patterns, self._required = patterns, required
        self._automata: Automata | None = None
        self._lock = threading.Lock()

    def get(self) -> Automata:
        """The automata, built once (a matcher may run in several threads)."""
        with self._lock:
            if self._automata is None:
                self._automata = build_automata(anchors(self._patterns, self._required))
            return self._automata


class LazyTokenTables:
    """Builds the token tables on first use: most rule sets and most text never need them."""

    def __init__(self, patterns: dict[TokenPattern, int]) -> None:
        self._patterns = patterns
        self._tables: TokenTables | None = None
        self._lock = threading.Lock()

    def get(self) -> TokenTables:
        """The tables, built once (a matcher may run in several threads)."""
        with self._lock:
            if self._tables is None:
                self._tables = token_tables(self._patterns)
            return self._tables


def token_tables(patterns: dict[TokenPattern, int]) -> TokenTables:
    """The patterns by kind and case: literals and prefixes by text, globs by start and length."""
    tables: dict[tuple[str, bool], dict[str, int]] = defaultdict(dict)
    globs: dict[bool, dict[str, dict[int, list[tuple[Glob, int]]]]] = {
        False: defaultdict(lambda: defaultdict(list)),
        True: defaultdict(lambda: defaultdict(list)),
    }
    for pattern, pid in patterns.items():
        if pattern.kind == "glob":
            start = pattern.text.split("?", 1)[0].rstrip("*")
            length = -1 if pattern.text.endswith("*") else len(pattern.text)
            globs[pattern.case][start][length].append((Glob(pattern.text), pid))
        else:
            tables[(pattern.kind, pattern.case)][pattern.text] = pid
    ci_prefix, cs_prefix = tables[("prefix", False)], tables[("prefix", True)]
    return TokenTables(
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
    )
