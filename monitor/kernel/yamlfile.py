"""Read YAML files into located containers, rejecting duplicate keys, aliases and deep nesting.

The files users edit are small trees. Aliases (`*name`, and `<<:` merges of them) let a file of a
few hundred bytes stand for billions of nodes, and nesting thousands deep exhausts the stack of
whatever walks the tree: both are refused as located problems, never expanded.

A syntax error is told at its line and column in our own words, with a hint for the common
mistakes (a tab, an unquoted `*`, `?` or `: `, a line out of step): the same words whichever
parser found it (the native reader hands errors to PyYAML, built on libyaml or not).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from monitor.kernel import native
from monitor.kernel.errors import Problem, excerpt
from monitor.kernel.located import LocDict, LocList

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Deeper than any watch needs (an `all` inside an `any` inside a `none` is 8 levels of YAML),
# shallow enough that nothing walking the tree can run out of stack.
MAX_DEPTH = 64


class _Located(yaml.constructor.SafeConstructor):
    """What makes a safe loader's mappings and sequences carry their line numbers."""

    _depth = 0

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Construct a node once: a node met again is an alias, refused; so is deep nesting."""
        if node in self.constructed_objects or node in self.recursive_objects:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "aliases (*name) are not allowed here: write the value out again "
                f"(the anchor is on line {node.start_mark.line + 1}), or put a value that "
                "starts with `*` in quotes",
                node.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.constructor.ConstructorError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", node.start_mark
                )
            return super().construct_object(node, deep=deep)
        finally:
            self._depth -= 1


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LocDict:
    loader.flatten_mapping(node)
    result = LocDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {result.key_lines[key]})",
                key_node.start_mark,
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LocList:
    result = LocList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


class _Loader(_Located, _Base):  # type: ignore[valid-type,misc]
    """A safe loader (libyaml's when installed) whose containers carry their line numbers."""


class PureLoader(_Located, yaml.SafeLoader):
    """The same on PyYAML's own parser: tests check it words errors as libyaml's does."""


for _cls in (_Loader, PureLoader):
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def parse_yaml(
    text: str, path: str, *, loader: type[yaml.SafeLoader] | None = None
) -> tuple[Any, list[Problem]]:
    """Parse YAML text; on a syntax error return None and the problem, located at its line
    and column, in plain words with a hint. `loader` (tests) skips the native reader."""
    fast = native.yaml_reader() if loader is None else None
    if fast is not None:
        # libyaml's own parser, building the same containers some ten times faster; it hands
        # anything it is not sure of (errors included) to PyYAML below.
        found = fast(text, LocDict, LocList)
        if found is not None:
            return found, []
    try:
        return yaml.load(text, Loader=loader or _Loader), []  # noqa: S506 - safe loaders only
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line, mark.column) if mark else (0, 0)
        message = yaml_hint(text, exc, line, column)
        return None, [Problem(path, line + 1, f"invalid YAML: {message}", column + 1)]
    except yaml.YAMLError as exc:
        return None, [Problem(path, 1, f"invalid YAML: {exc}")]


def yaml_hint(text: str, exc: yaml.MarkedYAMLError, line: int, column: int) -> str:
    """What went wrong at (line, column), 0-based, in plain words: the character found there
    and the line's shape decide, not the parser's wording (libyaml's and PyYAML's differ)."""
    if isinstance(exc, yaml.constructor.ConstructorError) and exc.problem:
        return exc.problem  # ours (aliases, duplicate keys, depth) or a tag: already plain
    lines = text.splitlines()
    row = lines[line] if line < len(lines) else ""
    found = row[column : column + 1]
    context = (exc.context or "") + " " + (exc.problem or "")
    indent = row[: len(row) - len(row.lstrip(" \t"))]
    if "\t" in indent or found == "\t":
        return "a tab indents this line: YAML indents with spaces only"
    if "quoted scalar" in context and exc.context_mark is not None:
        at = exc.context_mark
        return f"the quote opened on line {at.line + 1}, column {at.column + 1} is never closed"
    if "alias" in context or found == "*":
        word = re.match(r"\*[^\s,\]}]*", row[column:])
        value = excerpt(word.group(0), 40, quote=False) if word else "*..."
        return (
            f"{value} is read as a YAML alias (`*` at the start of a value refers to an "
            f"`&anchor`): put the value in quotes, as '{value}'"
        )
    if found == "?":
        return "`?` at the start of a value marks a YAML key: put the value in quotes"
    if found in ("@", "`", "%"):
        return f"`{found}` cannot start a value that is not in quotes: put the value in quotes"
    if found == ":" and ": " in row[:column]:
        return "a `: ` inside a value starts another key: put the value in quotes"
    if found == "-" and row[:column].strip():
        return "a `- ` list item cannot follow a key on its line: start it on the next line"
    if "flow" in context and exc.context_mark is not None:
        at = exc.context_mark
        return f"the bracket opened on line {at.line + 1}, column {at.column + 1} is never closed"
    if found == ":" or "expected" in context or "indent" in context:
        return (
            "this line is out of step with the lines above: the keys of one mapping, and the "
            "`- ` items of one list, must start in the same column"
        )
    return exc.problem or exc.context or "not YAML"


def read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """Read and parse a YAML file; unreadable files and bad syntax become problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), 1, f"cannot read file: {exc}")]
    return parse_yaml(text, str(path))
