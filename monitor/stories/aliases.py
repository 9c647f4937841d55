"""Story ids that name one story. Pure.

Two dispatchers placing one new article at the same moment (for two rules, each on its own
partition) may each found a story for it, or join different earlier articles. Each record
keeps the id it was given; an article recorded under two story ids joins them here, so that
an alert settled under either id counts for both, and `monitor stories` lists one story.

The dispatcher's aliases are bounded: a group is forgotten once none of its ids has a member in
the window (no article can be placed under them again, so no alert can need them), and beyond
`max_ids` the oldest group is forgotten anyway (counted in `evicted`: a copy of that story could
then alert once more).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class Aliases:
    """A union-find over story ids; the smallest id of a group names it."""

    def __init__(self, max_ids: int | None = None) -> None:
        self.max_ids = max_ids  # None: unbounded (`monitor stories` reading a span of the log)
        self.evicted = 0  # ids forgotten, whether dead or beyond the bound
        self._parent: dict[str, str] = {}  # in the order the ids were first joined
        self._groups: dict[str, set[str]] = {}  # by root: the ids joined under it

    def __len__(self) -> int:
        return len(self._parent)

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
            while self.max_ids is not None and len(self._parent) > self.max_ids:
                self._forget_group(self.find(next(iter(self._parent))))

    def forget_dead(self, story_ids: Iterable[str], live: Callable[[str], bool]) -> None:
        """Forget the groups of `story_ids` (stories that just lost their last member) in which
        no id is `live` any more."""
        for story_id in story_ids:
            if story_id not in self._parent:
                continue
            root = self.find(story_id)
            if not any(live(s) for s in self._groups.get(root, (root,))):
                self._forget_group(root)

    def _forget_group(self, root: str) -> None:
        for s in self._groups.pop(root, {root}):
            if self._parent.pop(s, None) is not None:
                self.evicted += 1

    def of(self, story_id: str) -> tuple[str, ...]:
        """Every id in the group of `story_id`, itself included, sorted."""
        group = self._groups.get(self.find(story_id))
        return tuple(sorted(group)) if group else (story_id,)
