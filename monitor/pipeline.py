"""The matcher and dispatcher loops: consume -> decode -> work -> publish -> commit.

An offset is committed only after the work for its records is done, so a crash redelivers
rather than loses. A batch is matched against one rule set, read once from the RuleBook, so a
swap never splits an article between two rule sets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from monitor.alerts.dispatch import Dispatcher, Interrupted
from monitor.bus.badrecords import reject_record
from monitor.bus.base import ARTICLES, MATCHES, Bus, Consumer, Record
from monitor.kernel.errors import BusError, MatchCutOff, StorageFull
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Article, MatchedArticle
from monitor.kernel.records import BadRecord
from monitor.kernel.waiting import sleep_or_stop
from monitor.matching.compiler import CompiledRules
from monitor.matching.matcher import match_article
from monitor.matching.rulebook import RuleBook

log = structlog.get_logger("monitor.pipeline")

MATCHER_GROUP = "matcher"
DISPATCHER_GROUP = "dispatcher"
FETCH_TIMEOUT_S = 0.5
ERROR_PAUSE_S = 2.0
LAG_INTERVAL_S = 5.0
# An article is matched in well under a millisecond; one still matching after this long is
# cut off (logged, counted) rather than holding up every article behind it.
ARTICLE_BUDGET_S = 2.0


@dataclass(slots=True)
class Matched:
    """What a batch of articles gave: match records to publish, the rules they fired, records
    that could not be decoded (record, why), articles cut off (id, reason) and articles the
    matcher failed on (id, exception)."""

    out: list[tuple[str, bytes]] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    bad: list[tuple[Record, BadRecord]] = field(default_factory=list)
    cut_off: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, Exception]] = field(default_factory=list)


def match_records(
    records: Sequence[Record], compiled: CompiledRules, *, budget_s: float | None = None
) -> Matched:
    """Match a batch; an article that outruns `budget_s` is cut off (see `match_article`)."""
    done = Matched()
    out, rules = done.out, done.rules
    for record in records:
        try:
            article = Article.from_bytes(record.value)
        except BadRecord as exc:
            done.bad.append((record, exc))
            continue
        try:
            found = match_article(article, compiled, budget_s=budget_s)
        except MatchCutOff as exc:
            done.cut_off.append((article.id, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - logged with its traceback by the caller
            # A fault of the matcher's on this one article (the engine's panic, say) must not
            # make the batch fail again and again and stall every article behind it.
            done.failed.append((article.id, exc))
            continue
        for m in found:
            matched = MatchedArticle(
                match=m, article=article, description=compiled.descriptions.get(m.rule_id, "")
            )
            # Keyed by rule: a rule's matches meet in one partition, so one dispatcher at a
            # time folds the copies of a story for it, in order.
            out.append((m.rule_id, matched.to_bytes()))
            rules.append(m.rule_id)
    return done


LagReport = Callable[[str, dict[int, int]], None]
Paused = Callable[[], bool]
PAUSED_RECHECK_S = 1.0


def _never() -> bool:
    """Never paused (tests, --once)."""
    return False


def _no_report(group: str, lags: dict[int, int]) -> None:
    """Lag goes nowhere (tests, --once)."""


CaughtUpReport = Callable[[str, float], None]  # (role, loop time its empty fetch began)


class CaughtUp:
    """When each role last came to the end of its log: a fetch begun at that loop time found
    nothing, so every record published before it had been worked (its batch done first)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._news = asyncio.Event()

    def report(self, role: str, began: float) -> None:
        """A fetch of `role`'s, begun at `began`, found nothing."""
        self.at[role] = max(began, self.at.get(role, began))
        self._news.set()

    async def settled(self, since: float) -> None:
        """Return once what was published before `since` has been matched, then delivered:
        the matcher caught up after `since`, then the dispatcher after the matcher."""
        matched = await self._after(MATCHER_GROUP, since)
        await self._after(DISPATCHER_GROUP, matched)

    async def _after(self, role: str, since: float) -> float:
        while True:
            self._news.clear()  # no await before the wait below: no report slips between
            if (at := self.at.get(role, -1.0)) >= since:
                return at
            await self._news.wait()


async def run_matcher(
    bus: Bus,
    book: RuleBook,
    metrics: Metrics,
    stop: asyncio.Event,
    *,
    drain: bool = False,
    lag: LagReport = _no_report,
    paused: Paused = _never,
    caught_up: CaughtUpReport | None = None,
    seen: Callable[[list[bytes]], None] | None = None,
    matched: Callable[[list[str]], None] | None = None,
) -> None:
    """Match articles until `stop` (or, with `drain`, until none are left); take none while
    `paused` (the disk is full). `seen` is shown each batch's articles as they came, `matched`
    the rule of each match published."""
    consumer = bus.consumer(ARTICLES, MATCHER_GROUP)

    async def work(records: list[Record]) -> None:
        if seen is not None:
            seen([r.value for r in records])
        done = await asyncio.to_thread(
            match_records, records, book.compiled, budget_s=ARTICLE_BUDGET_S
        )
        out, rules = done.out, done.rules
        for record, bad in done.bad:
            await reject_record(bus, metrics, ARTICLES, record, bad)
        for article_id, reason in done.cut_off:
            metrics.articles_cut_off.inc()
            log.error("article_cut_off", article=article_id, reason=reason)
        for article_id, exc in done.failed:
            metrics.bad_records.labels(ARTICLES).inc()
            log.error("article_match_failed", article=article_id, exc_info=exc)
        await bus.publish(MATCHES, out)
        if matched is not None:
            matched(rules)
        for rule in rules:
            metrics.rule_matches.labels(rule).inc()
        if out:
            log.info("articles_matched", articles=len(records), matches=len(out))

    await _consume(
        consumer,
        work,
        stop,
        drain=drain,
        batch=200,
        role=MATCHER_GROUP,
        lag=lag,
        paused=paused,
        caught_up=caught_up,
    )


async def run_dispatcher(
    bus: Bus,
    dispatcher: Dispatcher,
    stop: asyncio.Event,
    *,
    drain: bool = False,
    lag: LagReport = _no_report,
    paused: Paused = _never,
    caught_up: CaughtUpReport | None = None,
) -> None:
    """Deliver alerts until `stop` (or, with `drain`, until none are left); take none while
    `paused` (the disk is full); `caught_up` is told each time it found nothing to do."""
    consumer = bus.consumer(MATCHES, DISPATCHER_GROUP)
    await _consume(
        consumer,
        dispatcher.handle,
        stop,
        drain=drain,
        batch=50,
        role=DISPATCHER_GROUP,
        lag=lag,
        paused=paused,
        caught_up=caught_up,
    )


async def _do_batch(
    consumer: Consumer,
    work: Callable[[list[Record]], Awaitable[None]],
    records: list[Record],
    stop: asyncio.Event,
    role: str,
) -> bool:
    """Do one batch and commit it; else redo it from the last commit. True: stop now."""
    try:
        await work(records)
        await consumer.commit(records)
    except Interrupted:
        log.info("shutdown_left_uncommitted", role=role, records=len(records))
        return True
    except StorageFull as exc:
        # Expected while the disk is full: the batch is done again once it has room.
        log.warning("batch_paused_disk_full", role=role, reason=str(exc))
    except BusError as exc:
        # Expected: a rebalance took the partitions, or the broker is away. The batch is
        # fetched again from the last commit (by us or their new owner); the dedupe downstream
        # makes redoing it harmless. No traceback: nothing is wrong with the code.
        log.warning("batch_failed", role=role, records=len(records), reason=str(exc))
    except Exception:
        # The role's top-level loop: anything else is a bug; log it and redo the batch.
        log.exception("batch_failed", role=role, records=len(records))
    else:
        return False
    await consumer.rewind()
    return await sleep_or_stop(stop, ERROR_PAUSE_S)


async def _consume(
    consumer: Consumer,
    work: Callable[[list[Record]], Awaitable[None]],
    stop: asyncio.Event,
    *,
    drain: bool,
    batch: int,
    role: str,
    lag: LagReport,
    paused: Paused,
    caught_up: CaughtUpReport | None = None,
) -> None:
    next_lag = 0.0
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set():
            if paused():
                if await sleep_or_stop(stop, PAUSED_RECHECK_S):
                    return
                continue
            began = loop.time()
            records = await consumer.fetch(batch, FETCH_TIMEOUT_S)
            now = time.monotonic()
            if now >= next_lag:
                lags = await consumer.partition_lag()
                lag(role, lags)
                if lags:  # a member that holds no partition yet asks again next time
                    next_lag = now + LAG_INTERVAL_S
            if not records:
                if caught_up is not None:
                    caught_up(role, began)
                if drain:
                    return
                continue
            if await _do_batch(consumer, work, records, stop, role):
                return
    finally:
        await consumer.close()
