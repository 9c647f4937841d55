"""Reading YAML values into typed settings, collecting every problem with its line.

Pure: a `Checker` collects the problems of one file while its values are validated, so a
command can report every mistake in one run; `parse_duration` reads `90s`, `5m`, `1h30m`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any, Final

from monitor.kernel.errors import Problem, excerpt
from monitor.kernel.located import LocDict, LocList, line_of

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_DURATION_RE = re.compile(r"(\d+)\s*(ms|s|m|h|d|w)")
_DURATION_UNITS_S: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MESSAGE_CHARS = 300


def _duration_seconds(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    pos, seconds = 0, 0.0
    for m in _DURATION_RE.finditer(text):
        if text[pos : m.start()].strip():
            return None
        seconds += int(m.group(1)) * _DURATION_UNITS_S[m.group(2)]
        pos = m.end()
    return seconds if pos and not text[pos:].strip() else None


def parse_duration(value: object, *, zero_ok: bool = False) -> float:
    """Parse `90s`, `5m`, `1h30m`, `1d` (or a number of seconds) into seconds; ValueError if bad
    (and if zero, unless `zero_ok`)."""
    seconds = _duration_seconds(value)
    if seconds is None:
        raise ValueError(f"{value!r} is not a duration (write it like 90s, 5m, 1h or 1h30m)")
    if seconds < 0 or (seconds == 0 and not zero_ok):
        raise ValueError(f"{value!r} must be longer than zero")
    return seconds


def did_you_mean(word: object, options: Iterable[str]) -> str:
    """`: did you mean `X`?` for the option closest to `word` (a typo's), or ""."""
    if not isinstance(word, str) or not word:
        return ""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower(), list(options), n=1, cutoff=0.6)
    return f": did you mean `{close[0]}`?" if close else ""


class Checker:
    """Collects problems for one file while its values are validated."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def error(self, line: int, message: str) -> None:
        """Record a problem at `line` (cut to MESSAGE_CHARS: a message may quote the file, and
        must not carry more of it than a short excerpt into logs and HTTP answers)."""
        if len(message) > MESSAGE_CHARS:
            message = message[: MESSAGE_CHARS - 1] + "…"
        self.problems.append(Problem(self.path, line, message))

    def mapping(
        self, value: object, line: int, what: str, allowed: Iterable[str]
    ) -> LocDict | None:
        """Check that `value` is a mapping with only `allowed` keys; report others."""
        if not isinstance(value, dict):
            self.error(line_of(value, line), f"{what} must be a mapping, not {_kind(value)}")
            return None
        located = value if isinstance(value, LocDict) else _located(value, line)
        allowed_keys = tuple(allowed)
        for key in located:
            if key not in allowed_keys:
                self.error(
                    located.line_of(key),
                    f"unknown key {excerpt(key)} in {what}{did_you_mean(key, allowed_keys)} "
                    f"(allowed: {', '.join(allowed_keys)})",
                )
        return located

    def sequence(self, value: object, line: int, what: str) -> LocList | None:
        """Check that `value` is a list; a single scalar is not accepted silently."""
        if not isinstance(value, list):
            self.error(line_of(value, line), f"{what} must be a list, not {_kind(value)}")
            return None
        if isinstance(value, LocList):
            return value
        located = LocList(value)
        located.line = line
        return located

    def string(self, value: object, line: int, what: str) -> str | None:
        """Check that `value` is a non-empty string."""
        if not isinstance(value, str) or not value.strip():
            self.error(line, f"{what} must be a non-empty string, not {_kind(value)}")
            return None
        return value.strip()

    def strings(self, value: object, line: int, what: str) -> tuple[str, ...]:
        """Check that `value` is a list of non-empty strings."""
        items = self.sequence(value, line, what)
        if items is None:
            return ()
        out = (self.string(v, items.line_of(i), f"each of {what}") for i, v in enumerate(items))
        return tuple(s for s in out if s is not None)

    def boolean(self, value: object, line: int, what: str) -> bool | None:
        """Check that `value` is true or false."""
        if not isinstance(value, bool):
            self.error(line, f"{what} must be true or false, not {_kind(value)}")
            return None
        return value

    def on_off(self, value: object, line: int, what: str) -> bool | None:
        """Check that `value` is on or off: YAML reads unquoted on/off/true/false as true or
        false; quoted, the four words are taken as well."""
        word = value.strip().lower() if isinstance(value, str) else None
        if isinstance(value, bool):
            return value
        if word in _ON_OFF:
            return _ON_OFF[word]
        self.error(line, f"{what} must be on or off (true or false), not {_kind(value)}")
        return None

    def identifier(self, value: object, line: int, what: str) -> str | None:
        """Check that `value` is an id: letters, digits, and `_ . : -`."""
        text = self.string(value, line, what)
        if text is not None and not _ID_RE.match(text):
            self.error(line, f"{what} {text!r} may hold only letters, digits and _ . : -")
            return None
        return text

    def choice(self, value: object, line: int, what: str, choices: Iterable[str]) -> str | None:
        """Check that `value` is one of `choices`."""
        options = tuple(choices)
        if value not in options:
            self.error(
                line,
                f"{what} must be one of {', '.join(options)}, not {excerpt(value)}"
                + did_you_mean(value, options),
            )
            return None
        return str(value)


_ON_OFF = {"on": True, "true": True, "off": False, "false": False}


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string"}
    for cls, name in names.items():
        if isinstance(value, cls):
            return (
                f"{name} ({excerpt(value)})" if cls is not str else f"the string {excerpt(value)}"
            )
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _located(value: dict[str, Any], line: int) -> LocDict:
    located = LocDict(value)
    located.line = line
    return located


def top_level(check: Checker, data: object, key: str) -> LocList:
    """Return the list under the file's one top-level key (`rules`, `entities` or `feeds`)."""
    if data is None:
        return LocList()
    spec = check.mapping(data, 1, "the file", (key,))
    if spec is None or key not in spec:
        if spec is not None:
            check.error(spec.line, f"the file needs a top-level `{key}:` list")
        return LocList()
    if spec[key] is None:
        return LocList()
    return check.sequence(spec[key], spec.line_of(key), f"`{key}`") or LocList()


def number(check: Checker, spec: LocDict, key: str, default: float, *, minimum: float) -> float:
    """The number under `key` (at least `minimum`), or `default` when absent or wrong."""
    if key not in spec:
        return default
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        check.error(spec.line_of(key), f"{key} must be a number >= {minimum}, not {value!r}")
        return default
    return float(value)


def flag(check: Checker, spec: LocDict, key: str, default: bool, name: str) -> bool:
    """The true/false under `key`, or `default` when absent or wrong."""
    if key not in spec:
        return default
    value = check.boolean(spec[key], spec.line_of(key), name)
    return default if value is None else value


def duration(
    check: Checker, spec: LocDict, key: str, default: float, *, zero_ok: bool = False
) -> float:
    """The duration under `key` in seconds, or `default` when absent or wrong."""
    if key not in spec:
        return default
    try:
        return parse_duration(spec[key], zero_ok=zero_ok)
    except ValueError as exc:
        check.error(spec.line_of(key), f"{key}: {exc}")
        return default
