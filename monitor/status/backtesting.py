"""The backtest's core: the rules over the articles the bus has stored, stories folded as the
service folds them (`monitor backtest` and the console's backtest of a watch being edited).

Each matched article goes through a `StoryDesk` (the dispatcher's, on a log that keeps nothing,
its clock at the record's time), and a rule's matches in one story count as one would-be alert
with its copies folded. It sends nothing and changes no state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.bus.base import ARTICLES
from monitor.bus.history import per_day, stored_records
from monitor.bus.settings import BusPlace
from monitor.kernel.metrics import make_metrics
from monitor.kernel.models import Article, Match, MatchedArticle
from monitor.kernel.records import BadRecord
from monitor.matching.compiler import compile_rules
from monitor.matching.matcher import match_article
from monitor.matching.rulebook import RuleBook
from monitor.matching.spec import RuleSet
from monitor.stories.desk import StoryDesk
from monitor.stories.settings import StoriesConfig
from monitor.stories.store import NoStoryLog


@dataclass
class Found:
    """Matches found, in order, with the time of each (ms) for the per-day summary; with
    `stories`, the story of each match (in the same order), as the service folds them."""

    matches: list[tuple[Match, Article, int]] = field(default_factory=list)
    articles: int = 0
    stories: list[str] | None = None

    def grouped(self) -> dict[tuple[str, str], list[int]]:
        """(rule, story) -> the indexes of its matches, first first: one would-be alert each
        (each match its own when stories were not folded)."""
        groups: dict[tuple[str, str], list[int]] = {}
        for n, (m, article, _) in enumerate(self.matches):
            story = self.stories[n] if self.stories is not None else article.id
            groups.setdefault((m.rule_id, story), []).append(n)
        return groups

    def summary(self) -> dict[str, RuleSummary]:
        """Per rule: how many matches, and how many per day."""
        by_rule: dict[str, list[int]] = {}
        for m, _, ts in self.matches:
            by_rule.setdefault(m.rule_id, []).append(ts)
        return {rule: RuleSummary(len(ts), per_day(ts)) for rule, ts in sorted(by_rule.items())}


@dataclass(frozen=True, slots=True)
class RuleSummary:
    """One rule's matches in a report."""

    matches: int
    per_day: dict[str, int]


async def backtest(
    place: BusPlace,
    stories_config: StoriesConfig,
    rule_set: RuleSet,
    *,
    since_s: float,
    rule_ids: Sequence[str],
) -> Found:
    """Run the rules over the stored articles of the last `since_s` seconds (each article once)."""
    if rule_ids:
        keep = set(rule_ids)
        rule_set = RuleSet(
            rules=tuple(r for r in rule_set.rules if r.id in keep),
            entities=rule_set.entities,
            feeds=rule_set.feeds,
        )
    compiled = compile_rules(rule_set)
    book = RuleBook(compiled)
    now_s = 0.0
    desk = StoryDesk(
        NoStoryLog(),
        window_s=stories_config.window_s,
        metrics=make_metrics(),
        max_articles=stories_config.max_articles,
        clock=lambda: now_s,
    )
    stories: list[str] = []
    found = Found(stories=stories)
    seen: set[str] = set()
    for record in await stored_records(place, ARTICLES, since_s):
        try:
            article = Article.from_bytes(record.value)
        except BadRecord:
            continue  # the live matcher counted and logged it when it met it
        if article.id in seen:
            continue
        seen.add(article.id)
        found.articles += 1
        batch = [MatchedArticle(match=m, article=article) for m in match_article(article, compiled)]
        if not batch:
            continue
        now_s = record.timestamp_ms / 1000  # the desk's window runs on the records' time
        await desk.place(batch)
        for matched in batch:
            story = desk.story_for(matched, folds=book.folds(matched.match.rule_id))
            found.matches.append((matched.match, article, record.timestamp_ms))
            stories.append(story.id)
    return found
