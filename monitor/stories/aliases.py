"""Story ids that name one story. Pure.

Two dispatchers placing one new article at the same moment (for two rules, each on its own
partition) may each found a story for it, or join different earlier articles. Each record
keeps the id it was given; an article recorded under two story ids joins them here, so that
an alert settled under either id counts for both, and `monitor stories` lists one story.
"""

from __future__ import annotations


class Aliases:
    """A union-find over story ids; the smallest id of a group names it."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._groups: dict[str, set[str]] = {}  # by root: the ids joined under it

    def find(self, story_id: str) -> str:
        """The id that names the group of `story_id`."""
        parent = self._parent.get(story_id, story_id)
        if parent == story_id:
            return story_id
        root = self.find(parent)
        self._parent[story_id] = root
        return root

    def join(self, a: str, b: str) -> None:
        """Record that `a` and `b` name one story."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            low, high = sorted((ra, rb))
            self._parent[high] = low
            self._parent.setdefault(low, low)
            group = self._groups.setdefault(low, {low})
            group |= self._groups.pop(high, {high})

    def of(self, story_id: str) -> tuple[str, ...]:
        """Every id in the group of `story_id`, itself included, sorted."""
        group = self._groups.get(self.find(story_id))
        return tuple(sorted(group)) if group else (story_id,)
