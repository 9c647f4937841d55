"""`monitor stories`: the stories of the last days, their articles, feeds and rules.

It reads what the dispatchers recorded (state.db, or the `stories` topic on Kafka) and changes
nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from monitor.bus.kafka import KafkaBus
from monitor.bus.settings import BusPlace
from monitor.kernel.models import Reason
from monitor.kernel.text import one_line, plural
from monitor.store.state import StateStore
from monitor.stories.aliases import Aliases
from monitor.stories.store import KafkaStoryLog, LocalStoryLog, StoredMember, merge_rules
from monitor.stories.tally import HEAD, TAIL


@dataclass(frozen=True, slots=True)
class Listed:
    """One story: its members in the order they were placed."""

    id: str
    members: tuple[StoredMember, ...]

    @property
    def feeds(self) -> list[str]:
        """The feeds that carried it, each once."""
        return list(dict.fromkeys(m.feed for m in self.members if m.feed))

    @property
    def rules(self) -> list[str]:
        """The rules any of its articles matched."""
        return sorted({r for m in self.members for r in m.rules})

    def to_dict(self) -> dict[str, Any]:
        """One JSON line of `monitor stories --json`."""
        return {
            "id": self.id,
            "articles": len(self.members),
            "feeds": self.feeds,
            "rules": self.rules,
            "first_seen": _when(self.members[0].seen_ms),
            "last_seen": _when(self.members[-1].seen_ms),
            "members": [
                {
                    "article_id": m.article_id,
                    "feed": m.feed,
                    "title": m.title,
                    "url": m.url,
                    "seen_at": _when(m.seen_ms),
                    "rules": list(m.rules),
                }
                for m in self.members
            ],
        }


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def group_stories(members: Sequence[StoredMember], rule_id: str | None = None) -> list[Listed]:
    """Members grouped by story (one per article, with all its rules; ids that name one story
    joined), the stories in the order they began; with `rule_id`, only the stories one of
    whose articles that rule matched."""
    aliases = Aliases()
    first: dict[str, str] = {}
    for m in members:
        aliases.join(first.setdefault(m.article_id, m.story_id), m.story_id)
    stories: dict[str, list[StoredMember]] = {}
    for m in sorted(merge_rules(members), key=lambda m: m.seen_ms):
        stories.setdefault(aliases.find(m.story_id), []).append(m)
    listed = [Listed(story_id, tuple(ms)) for story_id, ms in stories.items()]
    return [s for s in listed if rule_id is None or rule_id in s.rules]


async def read_members(config: BusPlace, since_s: float) -> list[StoredMember]:
    """Every member placed in the last `since_s` seconds, one per article with all its rules."""
    since_ms = int((time.time() - since_s) * 1000)
    if config.bus is not None:
        async with KafkaBus(config.bus) as bus:
            log = KafkaStoryLog(bus)
            await log.start()
            try:
                return await log.load(since_ms)
            finally:
                await log.stop()
    async with StateStore(config.state_dir) as state:
        return await LocalStoryLog(state).load(since_ms)


def print_stories(stories: Sequence[Listed], *, as_json: bool, label: str, out: TextIO) -> None:
    """One JSON line per story, or a readable block per story."""
    if as_json:
        for s in stories:
            print(json.dumps(s.to_dict(), ensure_ascii=False), file=out)
        return
    print(f"{label}: {plural(len(stories), 'story', 'stories')}", file=out)
    for s in stories:
        print(
            f"\nstory {s.id} · {plural(len(s.members), 'article')} · "
            f"feeds: {', '.join(s.feeds) or '-'}"
            f" · rules: {', '.join(s.rules) or '-'}",
            file=out,
        )
        members = s.members
        if len(members) > HEAD + TAIL:  # a big story: its first and latest, as alerts list it
            members = (*members[:HEAD], *members[-TAIL:])
        for i, m in enumerate(members):
            if i == HEAD and len(s.members) > HEAD + TAIL:
                hidden = len(s.members) - HEAD - TAIL
                print(f"  ... and {hidden} more articles (--json lists them all)", file=out)
            when = datetime.fromtimestamp(m.seen_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
            where = f" <{m.url}>" if m.url else ""
            print(f"  {when}  {m.feed or '-'}  {one_line(m.title, 120)}{where}", file=out)


MAX_FACTS_SHOWN = 40  # a record may carry any number: the block stays readable


@dataclass(frozen=True, slots=True)
class Explained:
    """Why one article is in its story: the article, its story, and the member it matched."""

    member: StoredMember
    story: Listed
    matched: StoredMember | None  # the member its reason names, if the log still has it

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `monitor stories --explain ID --json`."""
        reason = self.member.reason
        return {
            "article_id": self.member.article_id,
            "feed": self.member.feed,
            "title": self.member.title,
            "story": self.story.id,
            "articles": len(self.story.members),
            "reason": reason.to_dict() if reason is not None else None,
        }


def explain(members: Sequence[StoredMember], article_id: str) -> Explained | None:
    """Why `article_id` is in its story, from the members the log holds (None: not there)."""
    stories = group_stories(members)
    for story in stories:
        for m in story.members:
            if m.article_id == article_id:
                other = m.reason.article_id if m.reason is not None else ""
                matched = next(
                    (o for s in stories for o in s.members if o.article_id == other), None
                )
                return Explained(m, story, matched if other else None)
    return None


def printable(text: str, limit: int = 200) -> str:
    """Text from the command line or a record, safe on a terminal: what is not printable
    escaped (`\\x1b`), and cut to `limit` characters."""
    cut = text[:limit]
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in cut)
    return shown + (f"… ({len(text):,} characters)" if len(text) > limit else "")


def print_explained(found: Explained, *, as_json: bool, out: TextIO) -> None:
    """One JSON object, or a readable block: the article, its story, why it joined."""
    if as_json:
        print(json.dumps(found.to_dict(), ensure_ascii=False), file=out)
        return
    m, story, reason = found.member, found.story, found.member.reason
    lines = [
        ("article", printable(m.article_id)),
        ("feed", printable(m.feed) or "-"),
        ("title", one_line(m.title, 120) or "-"),
        ("seen", _when(m.seen_ms)),
        (
            "story",
            f"{printable(story.id)} · {plural(len(story.members), 'article')} · feeds: "
            f"{', '.join(printable(f) for f in story.feeds) or '-'}",
        ),
        ("why", _why(reason)),
    ]
    if reason is not None and reason.article_id:
        lines.append(("matched", _matched(reason.article_id, found.matched)))
    if reason is not None and reason.kind == "text":
        agreed = ", ".join(printable(f, 80) for f in reason.facts[:MAX_FACTS_SHOWN])
        if len(reason.facts) > MAX_FACTS_SHOWN:
            agreed += f" and {len(reason.facts) - MAX_FACTS_SHOWN} more (--json lists them)"
        lines.append(
            ("facts", f"{len(reason.facts)} agreed: {agreed}" if agreed else "none to compare")
        )
    for label, value in lines:
        print(f"{label:<8} {value}", file=out)


def _matched(article_id: str, other: StoredMember | None) -> str:
    if other is None:
        return f"{printable(article_id)} (no longer in the story log)"
    where = f" <{printable(other.url)}>" if other.url else ""
    feed = printable(other.feed) or "-"
    return f"{printable(article_id)} · {feed} · {one_line(other.title, 120)}{where}"


def _why(reason: Reason | None) -> str:
    if reason is None:
        return "not known: recorded before reasons were kept"
    if reason.kind == "founded":
        return "founded the story: no earlier article in the window was like it"
    if reason.kind in ("url", "guid"):
        return f"joined: the same {'URL' if reason.kind == 'url' else 'guid'} as a member"
    if reason.kind == "text":
        return (
            f"joined: its text is like a member's ({reason.share:.0%} of the shorter text's "
            "shingles in common) and their facts agree"
        )
    return f"stands alone: {printable(reason.why)}"
