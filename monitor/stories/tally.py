"""What an alert says of a story, kept up to date one member at a time. Pure.

A feed whose items all link to its home page makes one story of thousands of members; building
the story from its member list for every placement made folding quadratic. A tally keeps, per
story, how many members it has, which feeds carried it, and in detail only its first
`HEAD` and latest `TAIL` members: adding or forgetting a member and making the `Story` of an
alert cost the same whatever the story's size. Members are forgotten in the order they were
added, with the same rule as the story index (`monitor.stories.index`), so both hold the same
members.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from monitor.kernel.models import Reported, Story

HEAD: Final = 50  # the first members, kept in detail: who broke the story
TAIL: Final = 50  # the latest members, kept in detail: who is carrying it now
FEEDS_SHOWN: Final = 100  # the feeds a story names; its article count covers the rest


@dataclass(slots=True)
class _Tally:
    count: int = 0
    added: int = 0  # ever: the head is the first HEAD members, not the oldest left
    feeds: Counter[str] = field(default_factory=Counter)  # bounded by the feeds configured
    head: dict[str, Reported] = field(default_factory=dict)
    tail: deque[Reported] = field(default_factory=lambda: deque(maxlen=TAIL))


class Tallies:
    """The tallies of the stories still open: members seen within the window, at most
    `max_members` of them (the bound and the window of the story index)."""

    def __init__(self, window_ms: int, max_members: int) -> None:
        self.window_ms = window_ms
        self.max_members = max_members
        self._stories: dict[str, _Tally] = {}
        self._order: deque[tuple[str, str, str, int]] = deque()  # (article, story, feed, ms)
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._order)

    def add(self, article_id: str, story_id: str, feed: str, title: str, url: str, ms: int) -> None:
        """Count a member the index has just added to `story_id`."""
        tally = self._stories.setdefault(story_id, _Tally())
        reported = Reported(
            article_id=article_id,
            feed=feed,
            title=title,
            url=url,
            seen_at=datetime.fromtimestamp(ms / 1000, UTC),
        )
        tally.count += 1
        tally.added += 1
        if feed:
            tally.feeds[feed] += 1
        if tally.added <= HEAD:
            tally.head[article_id] = reported
        else:
            tally.tail.append(reported)
        self._order.append((article_id, story_id, feed, ms))

    def evict(self, now_ms: int) -> list[str]:
        """Forget members seen before the window, and the oldest beyond the bound; return the
        stories left with no member."""
        cutoff = now_ms - self.window_ms
        order = self._order
        closed: list[str] = []
        while order and (order[0][3] < cutoff or len(order) > self.max_members):
            article_id, story_id, feed, _ = order.popleft()
            self.evicted += 1
            tally = self._stories.get(story_id)
            if tally is None:
                continue
            tally.count -= 1
            if tally.count <= 0:
                del self._stories[story_id]
                closed.append(story_id)
                continue
            if feed:
                tally.feeds[feed] -= 1
                if tally.feeds[feed] <= 0:
                    del tally.feeds[feed]
            if tally.head.pop(article_id, None) is None and (
                tally.tail and tally.tail[0].article_id == article_id
            ):
                tally.tail.popleft()
        return closed

    def size(self, story_id: str) -> int:
        """How many members a story has now."""
        tally = self._stories.get(story_id)
        return tally.count if tally is not None else 0

    def story(self, story_id: str, ids: Iterable[str]) -> Story:
        """The story named `story_id`, its tallies under every id in `ids` (its aliases) put
        together: at most HEAD + TAIL members per id in detail, oldest first, and the count."""
        tallies = [t for s in ids if (t := self._stories.get(s)) is not None]
        rows: dict[str, Reported] = {}
        feeds: Counter[str] = Counter()
        count = 0
        for tally in tallies:
            count += tally.count
            feeds.update(tally.feeds)
            rows.update(tally.head)
            rows.update((r.article_id, r) for r in tally.tail)
        listed = sorted(rows.values(), key=lambda r: r.seen_at)
        # Feeds in the order they carried the story, as far as the members listed show it.
        ordered = dict.fromkeys(r.feed for r in listed if r.feed)
        ordered.update(dict.fromkeys(sorted(feeds)))
        return Story(
            id=story_id,
            articles=tuple(listed),
            aliases=tuple(s for s in ids if s != story_id),
            count=count,
            known_feeds=tuple(ordered)[:FEEDS_SHOWN],
        )
