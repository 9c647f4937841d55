"""The native matching engine (`monitor_native`, built from `native/` in Rust), if installed.

`make` installs it. Without it the matcher runs the same method in Python, several times
slower; `monitor check` and `monitor run` say so.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

MISSING = (
    "the native matching engine (monitor_native) is not installed: matching runs in Python, "
    "several times slower; for the fast engine install Rust (https://rustup.rs) and run make again"
)

if TYPE_CHECKING:
    from monitor_native import Engine as Engine
    from monitor_native import Regex as Regex
    from monitor_native import StoryIndex as StoryIndex


@cache
def engine_type() -> type[Engine] | None:
    """The engine's class, or None when the extension is not installed."""
    try:
        from monitor_native import Engine
    except ImportError:
        return None
    return Engine


@cache
def regex_type() -> type[Regex] | None:
    """The native linear-time regex class, or None when the extension is not installed."""
    try:
        from monitor_native import Regex
    except ImportError:
        return None
    return Regex


@cache
def yaml_reader() -> Callable[[str, type[Any], type[Any]], Any] | None:
    """The native fast path of `monitor.kernel.yamlfile.parse_yaml`, or None when not installed."""
    try:
        from monitor_native import read_yaml
    except ImportError:
        return None
    return read_yaml


@cache
def story_index_type() -> type[StoryIndex] | None:
    """The native story index's class, or None when the extension is not installed."""
    try:
        from monitor_native import StoryIndex
    except ImportError:
        return None
    return StoryIndex
