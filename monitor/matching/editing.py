"""Edit one item of a YAML list file (a watch of a rules file, a feed of feeds.yaml) as text.

Pure: no I/O. An item's span runs from the line of its `-` to the last line of its content (the
next item, the end of the list or a line indented no deeper than the `-` ends it; blank and
comment lines just before that end belong to what follows). Splicing replaces that span only,
so every other byte of the file (comments, order, quoting, line endings) stays as it was.

The editor shows an item dedented, as a mapping (`id: x` ...); a replacement is re-indented to
the item's place. A replacement must hold exactly one mapping with the same `id`: a rename is
refused, since a watch's id keys its alerts, silences and dedupe history (a renamed watch is a
new watch: add it, then delete the old one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from monitor.kernel.errors import Problem
from monitor.kernel.yamlfile import parse_yaml

_Composer: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FLAG_LINE = re.compile(r"^(?P<indent>[ ]*)(?P<key>[A-Za-z_][\w-]*)[ \t]*:(?P<rest>.*)$")
_COMMENT = re.compile(r"[ \t]+#.*$")
MAX_ITEM_CHARS = 200_000  # far more than any watch; a bigger replacement is refused


class EditError(ValueError):
    """The text cannot be edited as asked (the item is not there, or the file's shape)."""


@dataclass(frozen=True, slots=True)
class Span:
    """Where an item stands in a file's text: lines [first, end) (0-based), the text before
    its content on the first line (`  - `), and the column its mapping's keys start at."""

    first: int
    end: int
    head: str
    column: int

    @property
    def line(self) -> int:
        """The 1-based line of the item's `-`."""
        return self.first + 1


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _body(line: str) -> str:
    return line.rstrip("\r\n")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _idle(line: str) -> bool:
    """A blank or comment-only line."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def item_spans(text: str, key: str) -> dict[str, Span]:
    """The span of each item of the top-level list `key` (`rules`, `feeds`), by its `id`.
    Raise EditError when the file does not parse or the list is not a block list."""
    try:
        root = yaml.compose(text, Loader=_Composer)
    except yaml.YAMLError as exc:
        raise EditError(f"the file does not parse: {exc}") from exc
    if not isinstance(root, yaml.MappingNode):
        raise EditError(f"the file is not a mapping with `{key}:`")
    seq = next((v for k, v in root.value if getattr(k, "value", None) == key), None)
    if not isinstance(seq, yaml.SequenceNode) or seq.flow_style:
        raise EditError(f"`{key}:` is not a list of items, one `-` a line")
    lines = _lines(text)
    found: dict[str, Span] = {}
    for node in seq.value:
        if not isinstance(node, yaml.MappingNode):
            continue
        ids = [v.value for k, v in node.value if getattr(k, "value", None) == "id"]
        if len(ids) != 1 or not isinstance(ids[0], str) or ids[0] in found:
            continue
        found[ids[0]] = _span(lines, text, node)
    return found


def _span(lines: list[str], text: str, node: yaml.MappingNode) -> Span:
    dash_at = text.rfind("-", 0, node.start_mark.index)
    first = text.count("\n", 0, dash_at)
    dash_col = dash_at - (text.rfind("\n", 0, dash_at) + 1)
    head_line = _body(lines[first])
    after = head_line[dash_col + 1 :]
    if after.strip() and not after.strip().startswith("#"):
        column = dash_col + 1 + _indent(after)
        head = head_line[:column]
    else:  # `-` alone on its line: that line is the head, the content starts below
        column = node.start_mark.column
        head = lines[first]
    end = first + 1
    last = first
    while end < len(lines):
        line = lines[end]
        if not _idle(line):
            if _indent(line) <= dash_col:
                break
            last = end
        end += 1
    return Span(first, last + 1, head, column)


def dedent(text: str, span: Span) -> str:
    """The item's text as the editor shows it: a mapping at column 0, with `\\n` line ends."""
    lines = _lines(text)[span.first : span.end]
    shown: list[str] = []
    if span.head.endswith(("\n", "\r")):
        lines = lines[1:]
    else:
        lines = [_body(lines[0])[len(span.head) :] + "\n", *lines[1:]]
    for line in lines:
        body = _body(line)
        cut = min(span.column, _indent(body))
        shown.append(body[cut:] + "\n")
    return "".join(shown)


def reindent(item: str, span: Span, newline: str) -> str:
    """`item` (a mapping at column 0) indented to stand at `span`, with `newline` line ends."""
    rows = item.splitlines() or [""]
    pad = " " * span.column
    out: list[str] = []
    if span.head.endswith(("\n", "\r")):
        out.append(span.head)
        rows_left = rows
    else:
        out.append(span.head + rows[0] + newline)
        rows_left = rows[1:]
    out.extend((pad + row if row.strip() else "") + newline for row in rows_left)
    return "".join(out)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def splice(text: str, span: Span, item: str) -> str:
    """The file's text with the item at `span` replaced by `item` (dedented text); the rest of
    the file unchanged, byte for byte."""
    if item == dedent(text, span):
        return text
    lines = _lines(text)
    new = reindent(item, span, _newline(text))
    if span.end == len(lines) and not lines[-1].endswith(("\n", "\r")):
        new = new.rstrip("\r\n")  # the file ended without a newline: so it still does
    return "".join([*lines[: span.first], new, *lines[span.end :]])


def append_item(text: str, key: str, item: str) -> str:
    """The file's text with `item` (dedented text) added at the end of the top-level list
    `key`, indented as its last item is (`  - ` in a file without one); the rest unchanged.
    Raise EditError as `item_spans` does."""
    newline = _newline(text)
    try:
        spans = item_spans(text, key)
    except EditError:
        if yaml.compose(text, Loader=_Composer) is not None:  # comments alone compose to None
            raise
        spans = {}
    if not spans:
        if text.strip() and re.search(rf"(?m)^{re.escape(key)}:", text):
            raise EditError(f"`{key}:` has no item to add after: add the first one by hand")
        start = text if not text or text.endswith(("\n", "\r")) else text + newline
        return start + f"{key}:" + newline + reindent(item, Span(0, 0, "  - ", 4), newline)
    last = max(spans.values(), key=lambda s: s.end)
    lines = _lines(text)
    before = lines[: last.end]
    if before and not before[-1].endswith(("\n", "\r")):
        before[-1] += newline
    head = last.head if not last.head.endswith(("\n", "\r")) else " " * (last.column - 2) + "- "
    new = reindent(item, Span(0, 0, head, last.column), newline)
    return "".join([*before, new, *lines[last.end :]])


def check_item(item: str, item_id: str, path: str) -> list[Problem]:
    """Problems of a replacement item (lines counted in `item`): it must parse, be one mapping,
    and keep the id `item_id`."""
    if len(item) > MAX_ITEM_CHARS:
        return [
            Problem(path, 1, f"the text is {len(item):,} characters: at most {MAX_ITEM_CHARS:,}")
        ]
    data, problems = parse_yaml(item, path)
    if problems:
        return problems
    if isinstance(data, list):
        return [
            Problem(
                path,
                1,
                f"the text holds a list of {len(data)} item(s): give one "
                "watch, as `id: ...` at the start of a line, without `-`",
            )
        ]
    if not isinstance(data, Mapping):
        return [Problem(path, 1, "the text must be one watch: `id: ...` and its keys")]
    if "rules" in data or "feeds" in data:
        return [Problem(path, 1, "the text holds a whole file: give one watch, `id: ...`")]
    found: Any = data.get("id")
    if found != item_id:
        line = getattr(data, "key_lines", {}).get("id", 1)
        return [
            Problem(
                path,
                line,
                f"the id must stay {item_id!r}, not {found!r}: a rename "
                "is a new watch (add it, then delete this one)",
            )
        ]
    return []


def default_key(text: str, span: Span, key: str, value: str) -> str:
    """The file's text with the item's `key` back to its default `value`: a `key:` line of its
    own with no comment (as `set_key` adds one) is taken out, so pausing then resuming a feed
    leaves the file as it was; otherwise `set_key`."""
    lines = _lines(text)
    for n in range(span.first + 1, span.end):
        body = _body(lines[n])
        if _indent(body) != span.column:
            continue
        found = _FLAG_LINE.match(body[span.column :])
        if found is None or found["key"] != key:
            continue
        if _COMMENT.search(found["rest"]) is None and n != span.first:
            return "".join([*lines[:n], *lines[n + 1 :]])
        break
    return set_key(text, span, key, value)


def set_key(text: str, span: Span, key: str, value: str) -> str:
    """The file's text with `key: value` set on the item at `span` (its line replaced in
    place, its comment kept; added as the item's last key when absent)."""
    lines = _lines(text)
    newline = _newline(text)
    inline = not span.head.endswith(("\n", "\r"))
    for n in range(span.first, span.end):
        body = _body(lines[n])
        if n == span.first:
            if not inline:
                continue
            cut = len(span.head)
        elif _indent(body) == span.column:
            cut = span.column
        else:
            continue
        found = _FLAG_LINE.match(body[cut:])
        if found is None or found["key"] != key:
            continue
        comment = _COMMENT.search(found["rest"])
        kept = comment.group(0) if comment else ""
        lines[n] = f"{body[:cut]}{key}: {value}{kept}{lines[n][len(body) :]}"
        return "".join(lines)
    last = lines[span.end - 1]
    if not last.endswith(("\n", "\r")):
        lines[span.end - 1] = last + newline
    lines.insert(span.end, " " * span.column + f"{key}: {value}" + newline)
    return "".join(lines)
