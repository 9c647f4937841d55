"""`monitor backtest` and `monitor shadow-report`: what rules caught, or would have, in the
articles and matches the bus has kept. They send nothing and change no state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from monitor.bus.base import ARTICLES, MATCHES
from monitor.bus.history import per_day, stored_records
from monitor.kernel.models import Article, Match, MatchedArticle
from monitor.kernel.records import BadRecord
from monitor.matching.compiler import compile_rules
from monitor.matching.matcher import match_article
from monitor.matching.spec import RuleSet
from monitor.service.config import Config


@dataclass
class Found:
    """Matches found, in order, with the time of each (ms) for the per-day summary."""

    matches: list[tuple[Match, Article, int]] = field(default_factory=list)
    articles: int = 0

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
    config: Config, rule_set: RuleSet, *, since_s: float, rule_ids: Sequence[str]
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
    found = Found()
    seen: set[str] = set()
    for record in await stored_records(config, ARTICLES, since_s):
        try:
            article = Article.from_bytes(record.value)
        except BadRecord:
            continue  # the live matcher counted and logged it when it met it
        if article.id in seen:
            continue
        seen.add(article.id)
        found.articles += 1
        for m in match_article(article, compiled):
            found.matches.append((m, article, record.timestamp_ms))
    return found


async def shadow_report(config: Config, *, since_s: float) -> Found:
    """The would-be alerts of shadow rules, from the stored matches of the last `since_s`."""
    found = Found()
    for record in await stored_records(config, MATCHES, since_s):
        try:
            matched = MatchedArticle.from_bytes(record.value)
        except BadRecord:
            continue
        found.articles += 1
        if matched.match.mode == "shadow":
            found.matches.append((matched.match, matched.article, record.timestamp_ms))
    return found


def match_json(m: Match, article: Article) -> dict[str, object]:
    """One match as machines read it (`monitor match --json` and the reports)."""
    return {
        "rule": m.rule_id,
        "severity": m.severity,
        "article_id": article.id,
        "feed": article.feed,
        "url": article.url,
        "title": article.title,
        "published": article.published.isoformat() if article.published else None,
        "evidence": [
            {
                "kind": e.kind,
                "value": e.value,
                "field": e.field,
                "text": e.text,
                "snippet": e.snippet,
            }
            for e in m.evidence
        ],
    }


def print_match(m: Match, article: Article, where: str, out: TextIO) -> None:
    """One match as people read it, with its evidence."""
    title = article.title or article.content[:80]
    print(f"{where}: MATCH {m.rule_id} [{m.severity}] {title!r}", file=out)
    if article.url:
        print(f"  url: {article.url}", file=out)
    for e in m.evidence:
        what = f'term "{e.value}"' if e.kind == "term" else f"entity {e.value}"
        print(f"  {what} in {e.field}: {e.snippet}", file=out)


def print_found(found: Found, *, as_json: bool, label: str, out: TextIO) -> None:
    """Each match, then the per-rule summary."""
    summary = found.summary()
    if as_json:
        for m, article, _ in found.matches:
            print(json.dumps(match_json(m, article), ensure_ascii=False), file=out)
        as_data = {
            rule: {"matches": r.matches, "per_day": r.per_day} for rule, r in summary.items()
        }
        print(json.dumps({"summary": as_data, "records": found.articles}), file=out)
        return
    for m, article, _ in found.matches:
        print_match(m, article, article.feed or "-", out)
    print(f"{label}: {found.articles} record(s) read, {len(found.matches)} match(es)", file=out)
    for rule, stats in summary.items():
        days = ", ".join(f"{d}: {n}" for d, n in stats.per_day.items())
        print(f"  {rule}: {stats.matches} ({days})", file=out)
