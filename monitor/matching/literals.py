"""The literal a regex cannot match without: the automaton anchors a regex term on it, so the
regex runs only on text that holds it."""

from __future__ import annotations

import re
from functools import lru_cache

from monitor.matching.regexes import WatchRegex, ignores_case

_MIN_REQUIRED = 3


_QUANTIFIERS = frozenset("*+?{")


def required_literal(regex: WatchRegex) -> tuple[str, bool] | None:
    """The longest run of ASCII letters and digits every match of `regex` must contain, and
    whether every match begins with it.

    Only literals standing directly in the pattern's top-level sequence are certain to be
    there (not those in groups, alternatives or repeats). The run is lower-cased when the regex
    ignores case (inline `(?i)` included). None when there is no run of at least 3 characters,
    or when the pattern cannot be read.
    """
    return _required(regex.pattern, ignores_case(regex))


# Memoised: a reload compiles the same regexes again (4,453 at 100,000 watches: 0.2 s).
@lru_cache(maxsize=1 << 16)
def _required(pattern: str, fold: bool) -> tuple[str, bool] | None:
    found = _leading_literal(pattern)
    if found is None:
        try:
            # Python's parser reads the syntax the engines share; a pattern it cannot read
            # (`\p{L}`, say) gets no literal and is run over every field.
            flags = re.IGNORECASE if fold else 0
            parsed = re._parser.parse(pattern, flags)  # type: ignore[attr-defined]
        except (re.error, AttributeError, TypeError, ValueError):
            return None
        found = _longest_run(list(parsed))
    if found is None:
        return None
    run, leads = found
    return (run.lower() if fold else run), leads


def _leading_literal(pattern: str) -> tuple[str, bool] | None:
    """The common case, read without parsing: a pattern that begins with letters and digits
    (`Acme\\s+\\w+`). None when it does not, or might be an alternation."""
    if "|" in pattern:
        return None
    end = 0
    while end < len(pattern) and pattern[end].isascii() and pattern[end].isalnum():
        end += 1
    if end < len(pattern) and pattern[end] in _QUANTIFIERS:
        end -= 1  # the last letter may repeat or be absent: `colou?r`
    return (pattern[:end], True) if end >= _MIN_REQUIRED else None


def _longest_run(parsed: list[tuple[object, object]]) -> tuple[str, bool] | None:
    best, run, best_at, run_at = "", "", -1, 0
    for i, (op, arg) in enumerate(parsed):
        ch = chr(arg) if str(op) == "LITERAL" and isinstance(arg, int) else ""
        if ch and ch.isascii() and ch.isalnum():
            run_at = i if not run else run_at
            run += ch
            if len(run) > len(best):
                best, best_at = run, run_at
        else:
            run = ""
    return (best, best_at == 0) if len(best) >= _MIN_REQUIRED else None
