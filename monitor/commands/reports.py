"""`monitor backtest` and `monitor shadow-report`: what rules caught, or would have, in the
articles and matches the bus has kept. They send nothing and change no state.

The backtest folds stories as the service does: each matched article goes through a
`StoryDesk` (the dispatcher's, on a log that keeps nothing, its clock at the record's time),
and a rule's matches in one story count as one would-be alert with its copies folded."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from monitor.bus.base import MATCHES
from monitor.bus.history import stored_records
from monitor.kernel.models import Article, Match, MatchedArticle
from monitor.kernel.records import BadRecord
from monitor.kernel.text import plural
from monitor.matching.spec import RuleSet
from monitor.service.config import Config
from monitor.status.backtesting import Found
from monitor.status.backtesting import backtest as run_backtest


async def backtest(
    config: Config, rule_set: RuleSet, *, since_s: float, rule_ids: Sequence[str]
) -> Found:
    """Run the rules over the stored articles of the last `since_s` seconds (each article once)."""
    return await run_backtest(config, config.stories, rule_set, since_s=since_s, rule_ids=rule_ids)


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
    """Each match (or, with stories, each story's first match and its copies folded), then
    the counts and the per-rule summary."""
    if as_json:
        _print_json(found, out)
    elif found.stories is not None:
        _print_stories(found, label, out)
    else:
        for m, article, _ in found.matches:
            print_match(m, article, article.feed or "-", out)
        print(f"{label}: {found.articles} record(s) read, {len(found.matches)} match(es)", file=out)
        for rule, stats in found.summary().items():
            days = ", ".join(f"{d}: {n}" for d, n in stats.per_day.items())
            print(f"  {rule}: {stats.matches} ({days})", file=out)


def _stories_per_rule(groups: dict[tuple[str, str], list[int]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rule, _ in groups:
        counts[rule] = counts.get(rule, 0) + 1
    return counts


def _print_json(found: Found, out: TextIO) -> None:
    """One line per match (with its story), then the summary: per rule, and with stories the
    counts of articles and each (rule, story)'s articles, first first."""
    for n, (m, article, _) in enumerate(found.matches):
        line = match_json(m, article)
        if found.stories is not None:
            line["story"] = found.stories[n]
        print(json.dumps(line, ensure_ascii=False), file=out)
    summary = found.summary()
    as_data = {rule: {"matches": r.matches, "per_day": r.per_day} for rule, r in summary.items()}
    end: dict[str, object] = {"summary": as_data, "records": found.articles}
    if found.stories is not None:
        groups = found.grouped()
        for rule, count in _stories_per_rule(groups).items():
            as_data[rule] = {"matches": summary[rule].matches, "stories": count, **as_data[rule]}
        end["articles"] = len({article.id for _, article, _ in found.matches})
        end["stories"] = [
            {"rule": rule, "story": story, "articles": [found.matches[n][1].id for n in members]}
            for (rule, story), members in groups.items()
        ]
    print(json.dumps(end), file=out)


def _print_stories(found: Found, label: str, out: TextIO) -> None:
    """Each story's first match with its evidence and its copies folded, then the counts."""
    groups = found.grouped()
    for members in groups.values():
        m, article, _ = found.matches[members[0]]
        print_match(m, article, article.feed or "-", out)
        copies = [found.matches[n][1] for n in members[1:]]
        if copies:
            print(f"  {plural(len(copies), 'copy', 'copies')} folded into this story:", file=out)
        for copy in copies:
            print(f"    {copy.feed or '-'}: {copy.title or copy.content[:80]!r}", file=out)
    matched = len({article.id for _, article, _ in found.matches})
    print(
        f"{label}: {found.articles} record(s) read; "
        f"{plural(len(found.matches), 'match', 'matches')} of {plural(matched, 'article')} "
        f"in {plural(len(groups), 'story', 'stories')}",
        file=out,
    )
    stories_of = _stories_per_rule(groups)
    for rule, stats in found.summary().items():
        days = ", ".join(f"{d}: {n}" for d, n in stats.per_day.items())
        print(
            f"  {rule}: {plural(stats.matches, 'article')} in "
            f"{plural(stories_of[rule], 'story', 'stories')} ({days})",
            file=out,
        )
