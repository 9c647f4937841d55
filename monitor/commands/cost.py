"""Watch cost, made visible: `monitor check --cost` and the matcher's per-rule cost metric.

Both measure with `monitor.matching.cost`: each watch alone over a sample of articles. The
command samples the articles the bus has stored (with `--config`), or generated text when none
are; the service samples the last articles its matcher saw and exports the costliest rules'
time per article as `monitor_rule_cost_seconds{rule}`, measured again after every reload.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TextIO

import structlog

from monitor.bus.base import ARTICLES
from monitor.bus.history import stored_records
from monitor.kernel.errors import BusError, ConfigError, RuleError, StorageError
from monitor.kernel.models import Article
from monitor.matching.cost import (
    COSTLY_SECONDS,
    COSTLY_SHARE,
    COSTLY_TOTAL_SECONDS,
    CostReport,
    generated_articles,
    rule_costs,
)
from monitor.matching.costwatch import SAMPLE, TOP, decoded_articles
from monitor.matching.loader import load_rules_dir
from monitor.matching.spec import RuleSet
from monitor.service.config import Config, load_config

log = structlog.get_logger("monitor.cost")

SINCE_S = 7 * 86_400
WINDOWS_S = (3600, 86_400, SINCE_S)


def cost_command(
    rules_dir: Path | None,
    config_path: Path | None,
    out: TextIO,
    err: TextIO,
    *,
    sample: int = SAMPLE,
    top: int = TOP,
) -> int:
    """`monitor check --cost`: exit 0 when it ran (costly watches are flagged, not errors),
    1 when the rules are invalid, 2 when the config or the bus cannot be read."""
    try:
        config = (
            load_config(os.environ, config_path, sends=False) if config_path is not None else None
        )
    except ConfigError as exc:
        print(exc, file=err)
        return 2
    directory = rules_dir or (config.rules_dir if config else Path("rules"))
    try:
        rule_set = load_rules_dir(directory)
    except RuleError as exc:
        print(exc, file=err)
        return 1
    where = "generated articles (no stored ones: pass --config to use the bus's)"
    articles: list[Article] = []
    if config is not None:
        try:
            articles = asyncio.run(_stored(config, sample))
        except (BusError, StorageError) as exc:
            print(exc, file=err)
            return 2
        where = f"stored articles of the last {SINCE_S // 86_400} days"
    if not articles:
        if config is not None:
            where = "generated articles (the bus has stored none)"
        articles = generated_articles(rule_set, sample)
    report = rule_costs(rule_set, articles)
    print_report(report, rule_set, where, top, out)
    return 0


async def _stored(config: Config, sample: int) -> list[Article]:
    """The newest `sample` distinct articles the bus has stored: read from the last hour, then
    day, then SINCE_S, until there are enough (a busy bus holds millions in a week)."""
    found: dict[str, Article] = {}
    for since_s in WINDOWS_S:
        found.clear()
        records = await stored_records(config, ARTICLES, since_s)
        for article in decoded_articles(r.value for r in reversed(records)):
            found.setdefault(article.id, article)
            if len(found) >= sample:
                return list(found.values())
    return list(found.values())


def print_report(report: CostReport, rule_set: RuleSet, where: str, top: int, out: TextIO) -> None:
    """The costliest watches as a table: ms an article and share of the watches' summed cost
    (the rows past `top` in one, so the column adds up to 100%), the costly ones flagged with
    why."""
    enabled = sum(1 for r in rule_set.rules if r.enabled)
    print(
        f"cost of {enabled:,} watches over {report.articles} {where}: "
        f"{_ms(report.seconds_per_article)} ms an article for the whole rule set",
        file=out,
    )
    print(f"{'watch':<24} {'where':<40} {'ms/article':>10} {'share':>7}", file=out)
    for cost in report.costs[:top]:
        flag = f"  COSTLY: {cost.why}" if cost.costly else ""
        print(
            f"{cost.rule_id:<24} {f'{cost.path}:{cost.line}':<40} "
            f"{cost.seconds_per_article * 1000:>10.4f} {cost.share:>7.1%}{flag}",
            file=out,
        )
    rest = report.costs[top:]
    if rest:
        others = f"({len(rest):,} other watches)"
        print(
            f"{others:<24} {'-':<40} {sum(c.seconds_per_article for c in rest) * 1000:>10.4f} "
            f"{sum(c.share for c in rest):>7.1%}",
            file=out,
        )
    print(
        f"{len(report.costs):,} watches measured one by one; {len(report.costly)} costly "
        f"(over {COSTLY_SECONDS * 1000:g} ms an article and over {COSTLY_SHARE:.0%} of the "
        f"watches' cost, or {COSTLY_TOTAL_SECONDS * 1000:g} ms for the whole rule set); shares "
        f"are of the {_ms(report.watches_seconds)} ms an article "
        "the measured watches cost in all"
        + (
            f"; {report.not_measured:,} of plain words not measured (they cost about as "
            "little as any watch)"
            if report.not_measured
            else ""
        ),
        file=out,
    )


def _ms(seconds: float) -> str:
    """Seconds as milliseconds with three significant digits (0.000214, 0.0312, 1.25)."""
    return f"{seconds * 1000:.3g}"
