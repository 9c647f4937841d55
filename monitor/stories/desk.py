"""The story desk: places each matched article in its story, durably, before alerts are made.

The dispatcher asks it for a batch at a time: the desk first reads what other dispatchers
recorded (Kafka), then places each article in the batch's order, records the placements and
answers. A restart or a rebalance finds the same stories, since every placement is recorded
before the batch's alerts are settled and its offsets committed. An article another dispatcher
recorded under another story id (they placed it at the same moment) joins the two ids
(`monitor.stories.aliases`), and an alert settled under either counts for both.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from monitor.kernel.metrics import Metrics, Structure
from monitor.kernel.models import Article, MatchedArticle, Reason, Reported, Story
from monitor.stories.aliases import Aliases
from monitor.stories.index import Index, MemberRow, StoryIndex, new_index
from monitor.stories.sketch import lead, story_keys
from monitor.stories.store import StoredMember, StoryLog
from monitor.stories.tally import Tallies

MAX_ARTICLES = 50_000  # the index's bound, whatever the window: about 40 MB
# Bytes per entry, measured (docs/performance.md, "What the dispatcher keeps"): the native
# index's RSS per member of a 150-word article, the Python one's; a tally per member of a
# one-article story with 100-character title and URL; a remembered (rule, article) pair; an
# alias; the reason of a member that joined its story.
NATIVE_MEMBER_BYTES = 800
PYTHON_MEMBER_BYTES = 5_400
TALLY_BYTES = 2_000
PAIR_BYTES = 300
ALIAS_BYTES = 256
REASON_BYTES = 550


class StoryDesk:
    """Stories of the last `window_s` seconds; with a window of 0 every article stands alone."""

    def __init__(
        self,
        log: StoryLog,
        *,
        window_s: float,
        metrics: Metrics,
        max_articles: int = MAX_ARTICLES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.log = log
        self.window_s = window_s
        self.metrics = metrics
        self.clock = clock
        self.index: Index | None = new_index(window_s, max_articles) if window_s > 0 else None
        # What alerts say of each story, kept as members come and go: bounded work per article
        self.tallies = Tallies(int(window_s * 1000), max_articles)
        self.aliases = Aliases(max_ids=2 * max_articles)
        # (rule, article) pairs recorded, by this desk or another: one met again is redelivered
        # Ordered: the oldest is found at once (a dict scans the deleted slots before it: 49 us
        # per eviction at 200,000 pairs, 0.65 us ordered, for 52 more bytes an entry)
        self._matched: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.max_matched = 4 * max_articles
        # Why each member still in the window is in its story, with when it was seen
        self._reasons: OrderedDict[str, tuple[Reason, int]] = OrderedDict()
        self.evicted = {"story_members": 0, "matched_pairs": 0, "story_reasons": 0}
        if self.index is not None:
            self._watch(self.index, max_articles)

    def _watch(self, index: Index, max_articles: int) -> None:
        """Report the desk's structures' fill on /metrics."""
        member = PYTHON_MEMBER_BYTES if isinstance(index, StoryIndex) else NATIVE_MEMBER_BYTES
        evicted = self.evicted
        for name, entries, bound, size, gone in (
            ("story_members", index.__len__, max_articles, member, None),
            ("story_tallies", self.tallies.__len__, max_articles, TALLY_BYTES, self._tallied),
            ("matched_pairs", self._matched.__len__, self.max_matched, PAIR_BYTES, None),
            ("story_reasons", self._reasons.__len__, max_articles, REASON_BYTES, None),
            ("story_aliases", self.aliases.__len__, 2 * max_articles, ALIAS_BYTES, self._aliased),
        ):
            count = gone or (lambda name=name: evicted[name])  # type: ignore[misc]
            self.metrics.structures.watch(Structure(name, entries, bound, size, count))

    def _tallied(self) -> int:
        return self.tallies.evicted

    def _aliased(self) -> int:
        return self.aliases.evicted

    async def start(self) -> None:
        """Read the members of the window from the log."""
        if self.index is None:
            return
        now_ms = int(self.clock() * 1000)
        self._insert(await self.log.load(now_ms - int(self.window_s * 1000)))
        self._evict(self.index, now_ms)

    def _insert(self, members: Sequence[StoredMember]) -> None:
        index = self.index
        if index is None:
            return
        for m in members:
            for rule in m.rules:
                self._matched.setdefault((rule, m.article_id), m.seen_ms)
            if m.reason is not None and m.reason.kind == "alone":
                continue  # its feed said `stories: false`: no article may join it
            known = index.story_of(m.article_id)
            if known is not None and known != m.story_id:
                self.aliases.join(known, m.story_id)
                continue
            added = index.insert(
                m.article_id,
                m.story_id,
                m.url_key,
                m.shingles,
                m.lead,
                m.feed,
                m.title,
                m.url,
                m.seen_ms,
            )
            if added:
                self.tallies.add(m.article_id, m.story_id, m.feed, m.title, m.url, m.seen_ms)
                if m.reason is not None:
                    self._reasons[m.article_id] = (m.reason, m.seen_ms)
        self.metrics.stories_open.set(len(index))

    async def place(self, batch: Sequence[MatchedArticle]) -> set[tuple[str, str]]:
        """Place the batch's articles in stories, in order, and record it; return the (rule,
        article) pairs met for the first time (a redelivered match was met before)."""
        if self.index is None:
            return {(m.match.rule_id, m.article.id) for m in batch}
        self._insert(await self.log.sync())
        now_ms = int(self.clock() * 1000)
        self._evict(self.index, now_ms)
        first_met: set[tuple[str, str]] = set()
        records: list[tuple[StoredMember, str]] = []
        for matched in batch:
            a = matched.article
            pair = (matched.match.rule_id, a.id)
            if pair not in self._matched:
                first_met.add(pair)
            if not a.stories:
                self.metrics.story_articles.labels("alone").inc()
                records.append((_alone_member(a, now_ms), matched.match.rule_id))
                continue
            new = self.index.story_of(a.id) is None
            key = story_keys(a)
            story_id, shingles, lead_prefix, why = self.index.assign(
                a.id, key, a.title, lead(a), a.feed or "", a.url, now_ms
            )
            reason = self._reasons.get(a.id, (None, 0))[0]
            if new:
                outcome = "founded" if story_id == a.id else "joined"
                self.metrics.story_articles.labels(outcome).inc()
                self.tallies.add(a.id, story_id, a.feed or "", a.title, a.url, now_ms)
                kind, other, share, agreed = why
                reason = Reason(kind=kind, article_id=other, share=share, facts=agreed)
                self._reasons[a.id] = (reason, now_ms)
                self._evict_members(self.index, now_ms)  # within the bound while recording
            member = StoredMember(
                article_id=a.id,
                story_id=story_id,
                url_key=key,
                shingles=shingles,
                feed=a.feed or "",
                title=a.title,
                url=a.url,
                seen_ms=now_ms,
                lead=lead_prefix,
                reason=reason,
            )
            records.append((member, matched.match.rule_id))
        await self.log.record(records)
        for pair in first_met:  # met once recorded: a batch that failed to record is not
            self._matched[pair] = now_ms
        self._evict(self.index, now_ms)  # within every bound between batches, not only before
        self.metrics.stories_open.set(len(self.index))
        return first_met

    def _evict(self, index: Index, now_ms: int) -> None:
        self._evict_members(index, now_ms)
        cutoff = now_ms - int(self.window_s * 1000)
        matched = self._matched
        while matched:
            pair, seen_ms = next(iter(matched.items()))
            if seen_ms >= cutoff and len(matched) <= self.max_matched:
                break
            del matched[pair]
            self.evicted["matched_pairs"] += 1

    def _evict_members(self, index: Index, now_ms: int) -> None:
        before = len(index)
        index.evict(now_ms)
        self.evicted["story_members"] += before - len(index)
        closed = self.tallies.evict(now_ms)
        if closed:
            self.aliases.forget_dead(closed, lambda s: self.tallies.size(s) > 0)
        cutoff = now_ms - int(self.window_s * 1000)
        reasons = self._reasons
        while reasons:  # forgotten with their members: the same window, the same bound
            article_id, (_, seen_ms) = next(iter(reasons.items()))
            if seen_ms >= cutoff and len(reasons) <= len(index):
                break
            del reasons[article_id]
            self.evicted["story_reasons"] += 1

    def reason(self, article_id: str) -> Reason | None:
        """Why an article still in the window is in its story (None: not known)."""
        found = self._reasons.get(article_id)
        return found[0] if found is not None else None

    def story_of_article(self, article_id: str) -> Story | None:
        """The story of an article still in the window, or None."""
        story_id = self.index.story_of(article_id) if self.index is not None else None
        if story_id is None:
            return None
        story = self.tallies.story(story_id, self.aliases.of(story_id))
        return replace(story, reason=self.reason(article_id))

    def story_for(self, matched: MatchedArticle, *, folds: bool) -> Story:
        """The story a match alerts for: the article's (see `story`), or the article alone
        when its rule does not fold (`stories: off`: its alerts are then one per article)."""
        if not folds:
            why = f"rule {matched.match.rule_id} has stories: off"
            return self._alone(matched.article, Reason(kind="alone", why=why))
        return self.story(matched.article)

    def story(self, article: Article) -> Story:
        """The story an article was placed in, as known now: its count, its feeds, and its
        members (a big story lists its first and latest, see `monitor.stories.tally`)."""
        if self.index is None:
            return self._alone(article, None)
        if not article.stories:
            return self._alone(article, _feed_alone(article))
        story_id = self.index.story_of(article.id) or article.id
        story = self.tallies.story(story_id, self.aliases.of(story_id))
        return replace(story, reason=self.reason(article.id))

    def _alone(self, article: Article, reason: Reason | None) -> Story:
        now_ms = int(self.clock() * 1000)
        row = (article.id, article.feed or "", article.title, article.url, now_ms)
        return Story(id=article.id, articles=(_reported(row),), reason=reason)


def _feed_alone(article: Article) -> Reason:
    return Reason(kind="alone", why=f"feed {article.feed or '-'} has stories: false")


def _alone_member(article: Article, now_ms: int) -> StoredMember:
    """The record of an article whose feed says `stories: false`: a story of its own, with
    nothing to compare (no key, no shingles), so that `monitor stories` lists and explains it."""
    return StoredMember(
        article_id=article.id,
        story_id=article.id,
        url_key="",
        shingles=b"",
        feed=article.feed or "",
        title=article.title,
        url=article.url,
        seen_ms=now_ms,
        reason=_feed_alone(article),
    )


def _reported(row: MemberRow) -> Reported:
    article_id, feed, title, url, seen_ms = row
    when = datetime.fromtimestamp(seen_ms / 1000, UTC)
    return Reported(article_id=article_id, feed=feed, title=title, url=url, seen_at=when)
