"""Watch regexes, on a linear-time engine: no pattern and no text can stall the matcher.

The engine is the native one (`monitor_native.Regex`, the Rust `regex` crate's): Unicode-aware
(`\\w`, `\\b`, case folding), no backtracking, so a search costs time in proportion to the text.
Without the native extension, google-re2 runs the same syntax, also in linear time (there `\\w`
and `\\b` are ASCII-only). Constructs neither engine has, backreferences and lookaround, are
refused when a watch is loaded, with a hint, never run slowly. docs/rules.md has the syntax.

Pure: patterns in, compiled regexes out; offsets are in characters, as Python's strings are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import re2

from monitor.kernel import native


class WatchRegex(Protocol):
    """A compiled watch regex."""

    @property
    def pattern(self) -> str:
        """The pattern as written."""

    @property
    def case_sensitive(self) -> bool:
        """Whether the pattern tells case apart."""

    def first_span(self, text: str, places: Sequence[int] | None = None) -> tuple[int, int] | None:
        """The first non-empty match's (start, end) in characters; with `places`, every match
        must begin at one of them."""


class _Re2Regex:
    """google-re2 behind `WatchRegex`, for a Python without the native extension."""

    __slots__ = ("_compiled", "case_sensitive", "pattern")

    def __init__(self, pattern: str, case_sensitive: bool) -> None:
        options = re2.Options()
        options.case_sensitive = case_sensitive
        options.log_errors = False
        options.max_mem = 8 << 20
        try:
            self._compiled = re2.compile(pattern, options)
        except re2.error as exc:
            reason = exc.args[0] if exc.args else exc
            text = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
            raise ValueError(_hint(text)) from exc
        self.pattern = pattern
        self.case_sensitive = case_sensitive

    def first_span(self, text: str, places: Sequence[int] | None = None) -> tuple[int, int] | None:
        if places is None:
            for m in self._compiled.finditer(text):
                if m.end() > m.start():
                    return int(m.start()), int(m.end())
            return None
        for at in sorted(set(places)):
            tried = self._compiled.match(text, at)
            if tried is not None and tried.end() > tried.start():
                return int(tried.start()), int(tried.end())
        return None


_BACKREFERENCE = re.compile(r"invalid escape sequence: \\[1-9]")
_LOOKAROUND = re.compile(r"invalid perl operator: \(\?<?[=!]")


def _hint(message: str) -> str:
    """RE2's message, with what to write instead of what it lacks (as the native engine says)."""
    if _BACKREFERENCE.search(message):
        return (
            f"{message} (backreferences are not supported); "
            "hint: write the repeated text out, or match it with two terms of the watch"
        )
    if _LOOKAROUND.search(message):
        return (
            f"{message} (lookaround is not supported); hint: match the context as a separate "
            "term of the watch (all: [...], none: [...]) instead"
        )
    return message


_INLINE_IGNORE_CASE = re.compile(r"\(\?[a-zA-Z]*i")


def ignores_case(regex: WatchRegex) -> bool:
    """Whether any part of the regex ignores case (`case: false`, or an inline `(?i)` anywhere:
    erring towards yes only makes a literal filter let more through)."""
    return not regex.case_sensitive or _INLINE_IGNORE_CASE.search(regex.pattern) is not None


def compile_regex(pattern: str, case_sensitive: bool) -> WatchRegex:
    """Compile a watch regex; raise ValueError saying what is wrong (with a hint for
    constructs the linear-time engines lack)."""
    engine = native.regex_type()
    if engine is not None:
        return engine(pattern, case_sensitive)
    return _Re2Regex(pattern, case_sensitive)
