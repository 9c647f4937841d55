"""Read YAML files into located containers, rejecting duplicate keys, aliases and deep nesting.

The files users edit are small trees. Aliases (`*name`, and `<<:` merges of them) let a file of a
few hundred bytes stand for billions of nodes, and nesting thousands deep exhausts the stack of
whatever walks the tree: both are refused as located problems, never expanded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitor.kernel import native
from monitor.kernel.errors import Problem
from monitor.kernel.located import LocDict, LocList

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Deeper than any watch needs (an `all` inside an `any` inside a `none` is 8 levels of YAML),
# shallow enough that nothing walking the tree can run out of stack.
MAX_DEPTH = 64


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """A safe loader whose mappings and sequences carry their line numbers."""

    _depth = 0

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Construct a node once: a node met again is an alias, refused; so is deep nesting."""
        if node in self.constructed_objects or node in self.recursive_objects:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "aliases (*name) are not allowed here: write the value out again "
                f"(the anchor is on line {node.start_mark.line + 1})",
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


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def parse_yaml(text: str, path: str) -> tuple[Any, list[Problem]]:
    """Parse YAML text; on a syntax error return None and the problem, located."""
    fast = native.yaml_reader()
    if fast is not None:
        # libyaml's own parser, building the same containers some ten times faster; it hands
        # anything it is not sure of (errors included) to PyYAML below.
        found = fast(text, LocDict, LocList)
        if found is not None:
            return found, []
    try:
        return yaml.load(text, Loader=_Loader), []  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        reason = exc.problem or exc.context or "invalid YAML"
        return None, [Problem(path, line, f"invalid YAML: {reason}")]
    except yaml.YAMLError as exc:
        return None, [Problem(path, 1, f"invalid YAML: {exc}")]


def read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """Read and parse a YAML file; unreadable files and bad syntax become problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), 1, f"cannot read file: {exc}")]
    return parse_yaml(text, str(path))
