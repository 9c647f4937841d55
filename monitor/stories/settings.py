"""Story folding's settings: `stories:` in monitor.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from monitor.kernel.checks import Checker, duration, number

DEFAULT_STORY_WINDOW_S: Final = 48 * 3600.0
MAX_STORY_WINDOW_S: Final = 7 * 86400.0  # the Kafka bus keeps story members this long
DEFAULT_STORY_MEMBERS: Final = 50_000  # the story index's bound (about 40 MB), whatever the window


@dataclass(frozen=True, slots=True, kw_only=True)
class StoriesConfig:
    """Story folding: copies of one report within `window_s` alert once (0 turns it off)."""

    window_s: float = DEFAULT_STORY_WINDOW_S
    # The most articles the window holds (the oldest go first); the dispatcher's other
    # structures are bounded by it (docs/performance.md, "What the dispatcher keeps").
    max_articles: int = DEFAULT_STORY_MEMBERS


def parse_stories(check: Checker, value: object, line: int) -> StoriesConfig:
    """`stories:`: the folding window and its bound (`window: 0` turns folding off)."""
    spec = check.mapping(value, line, "stories", ("window", "max_articles"))
    if spec is None:
        return StoriesConfig()
    most = int(number(check, spec, "max_articles", DEFAULT_STORY_MEMBERS, minimum=1))
    if "window" not in spec:
        return StoriesConfig(max_articles=most)
    raw = spec["window"]
    if raw in (0, "0", "0s"):
        return StoriesConfig(window_s=0.0, max_articles=most)
    window_s = duration(check, spec, "window", DEFAULT_STORY_WINDOW_S)
    if window_s > MAX_STORY_WINDOW_S:
        check.error(spec.line_of("window"), f"stories.window must be at most 7d, not {raw!r}")
        return StoriesConfig(max_articles=most)
    return StoriesConfig(window_s=window_s, max_articles=most)
