"""Records read from a bus or a store are untrusted: the one way to turn their bytes into data.

`load_json` bounds a record's size and nesting depth before `json.loads` can recurse (a record
nested 100,000 deep would raise RecursionError from deep inside the decoder), and `Fields`
reads a decoded object's fields with their types checked, so that a record that decodes is safe
for every consumer downstream (stories, rendering, tallies, SQLite). Anything wrong raises
`BadRecord`, naming the kind of record, the field and what is wrong; the consumers log it as
`bad_<kind>_record`, count it, dead-letter it and go on with the next record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Final

MAX_RECORD_BYTES: Final = 8 * 1024 * 1024  # well over an article with its page's full text
MAX_DEPTH: Final = 32  # the deepest record written is a digest dead letter, 7 levels
RAW_KEPT_BYTES: Final = 4096  # of an unreadable record, what a dead letter keeps

# The depth scan keeps quotes and brackets, and drops the strings between quotes.
_NOT_STRUCTURE: Final = bytes(b for b in range(256) if b not in b'"[]{}')
_STRING: Final = re.compile(rb'"[^"]*"')
_OPENERS: Final = frozenset(b"[{")
_CLOSERS: Final = frozenset(b"]}")


class BadRecord(ValueError):
    """A record that cannot be used: `kind` of record ("article", "match", ...) and `reason`."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"bad {kind} record: {reason}")
        self.kind = kind
        self.reason = reason


def load_json(raw: bytes, kind: str) -> dict[str, Any]:
    """Decode one record's bytes to a JSON object, its size and depth bounded first."""
    if len(raw) > MAX_RECORD_BYTES:
        raise BadRecord(kind, f"{len(raw):,} bytes, over the limit of {MAX_RECORD_BYTES:,}")
    check_depth(raw, kind)
    try:
        text = raw.decode()  # the wire format is UTF-8 (json.loads would take UTF-16 or 32 too)
    except UnicodeDecodeError as exc:
        raise BadRecord(kind, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadRecord(kind, f"not JSON: {exc}") from None
    except RecursionError:  # not reachable under MAX_DEPTH; kept so nothing escapes
        raise BadRecord(kind, "nested too deep") from None
    if not isinstance(data, dict):
        raise BadRecord(kind, f"not a JSON object but {_type(data)}")
    return data


def check_depth(raw: bytes, kind: str, limit: int = MAX_DEPTH) -> None:
    """Raise BadRecord when arrays and objects nest deeper than `limit` in `raw`."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return  # too few brackets to nest deeper (the common case: no scan)
    # Backslashes appear only in strings, as escapes: read left to right, `\\` pairs are one
    # escape each, and a `\"` left is an escaped quote. Without them, quotes pair up as the
    # strings' ends, and what is outside the pairs is the structure. (Up to where a text stops
    # being JSON, this reads it as json.loads does, which recurses no further.) All C loops.
    bare = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    structure = _STRING.sub(b"", bare)
    if structure.count(b"[") + structure.count(b"{") <= limit:
        return
    depth = 0
    for byte in structure:
        if byte in _OPENERS:
            depth += 1
            if depth > limit:
                raise BadRecord(kind, f"nested deeper than {limit} levels")
        elif byte in _CLOSERS:
            depth -= 1


def raw_excerpt(raw: bytes) -> str:
    """What a dead letter keeps of an unreadable record: its first RAW_KEPT_BYTES, as text."""
    text = raw[:RAW_KEPT_BYTES].decode("utf-8", "replace")
    return text + (f"... ({len(raw):,} bytes)" if len(raw) > RAW_KEPT_BYTES else "")


class Fields:
    """The fields of one decoded JSON object, read with their types checked.

    `at` names the object in errors ("match.evidence[0]"). A field that is missing or null
    takes the default given; one of the wrong type raises BadRecord.
    """

    def __init__(self, data: object, kind: str, at: str) -> None:
        if not isinstance(data, dict):
            raise BadRecord(kind, f"{at}: expected an object, got {_type(data)}")
        self.data: Mapping[str, Any] = data
        self.kind = kind
        self.at = at

    def bad(self, name: str, what: str) -> BadRecord:
        """The error for field `name`."""
        return BadRecord(self.kind, f"{self.at}.{name}: {what}")

    def get(self, name: str) -> object:
        """A field's raw value (None when missing)."""
        return self.data.get(name)

    def text(self, name: str, default: str | None = None) -> str:
        """A string field; required unless a default is given."""
        value = self.data.get(name)
        if value is None:
            if default is None:
                raise self.bad(name, "missing")
            return default
        return self._text(name, value)

    def opt_text(self, name: str) -> str | None:
        """A string field that may be null."""
        value = self.data.get(name)
        return None if value is None else self._text(name, value)

    def one_of(self, name: str, choices: Collection[str], default: str | None = None) -> str:
        """A string field with one of `choices`."""
        value = self.text(name, default)
        if value not in choices:
            raise self.bad(name, f"{value[:40]!r} is not one of {', '.join(choices)}")
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        """A list of strings (missing or null: empty)."""
        return tuple(self._text(f"{name}[{i}]", v) for i, v in enumerate(self.items(name)))

    def items(self, name: str) -> list[Any]:
        """A list field (missing or null: empty)."""
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.bad(name, f"expected a list, got {_type(value)}")
        return value

    def integer(self, name: str, minimum: int = 0, default: int | None = None) -> int:
        """An integer field, at least `minimum`; required unless a default is given."""
        value = self.data.get(name)
        if value is None and default is not None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.bad(name, f"expected an integer, got {_type(value)}")
        if value < minimum:
            raise self.bad(name, f"{value} is under {minimum}")
        return value

    def number(self, name: str, default: float) -> float:
        """A finite number field (an integer or a float); `default` when missing."""
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.bad(name, f"expected a number, got {_type(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.bad(name, "not a finite number")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        """A true/false field; `default` when missing or null."""
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.bad(name, f"expected true or false, got {_type(value)}")
        return value

    def opt_integer(self, name: str, minimum: int = 0) -> int | None:
        """An integer field that may be null."""
        return None if self.data.get(name) is None else self.integer(name, minimum)

    def time(self, name: str) -> datetime | None:
        """An ISO 8601 time that may be null; a time without a zone is taken as UTC."""
        value = self.opt_text(name)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.bad(name, f"{value[:40]!r} is not an ISO 8601 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def nested(self, name: str) -> Fields:
        """A nested object field (required)."""
        return Fields(self.data.get(name), self.kind, f"{self.at}.{name}")

    def _text(self, name: str, value: object) -> str:
        if not isinstance(value, str):
            raise self.bad(name, f"expected a string, got {_type(value)}")
        try:
            value.encode()  # "\ud800" decodes, but cannot be stored or sent
        except UnicodeEncodeError:
            raise self.bad(name, "holds an unpaired surrogate (not encodable as UTF-8)") from None
        return value


def _type(value: object) -> str:
    """How an error names a JSON value's type."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    names |= {int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
