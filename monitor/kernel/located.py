"""Containers that remember where in a YAML file their items stood, for `FILE:LINE` messages.

`monitor.kernel.yamlfile` builds them; the pure validators (`matching.spec`, `config`) read them.
"""

from __future__ import annotations

from typing import Any


class LocDict(dict[str, Any]):
    """A mapping with the line of the mapping itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        """Return the line where `key` stood, or the mapping's own line."""
        return self.key_lines.get(key, self.line) if hasattr(self, "key_lines") else self.line


class LocList(list[Any]):
    """A sequence with the line of the sequence and of each item (1-based)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        """Return the line where item `index` stood, or the sequence's own line."""
        lines = getattr(self, "item_lines", [])
        return lines[index] if index < len(lines) else self.line


def line_of(value: object, default: int) -> int:
    """Return the line a located value stood on, or `default` for plain values."""
    return value.line if isinstance(value, LocDict | LocList) else default
