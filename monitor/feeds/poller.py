"""The poller: fetch each feed on its own schedule and publish its new articles.

One aiohttp session for the process, a semaphore for concurrency, one task per feed. A poll is
a conditional GET (ETag / Last-Modified) with a timeout, a bounded body and bounded redirects.
Failures back off exponentially (or as Retry-After says); 410 Gone disables the feed. A failing
feed never stops the others, and every failure is logged with the feed id and counted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiohttp
import structlog

from monitor.bus.base import ARTICLES, Bus
from monitor.feeds.baseline import split_by_age
from monitor.feeds.board import FeedBoard
from monitor.feeds.client import Client, Fetched
from monitor.feeds.firstpolls import FirstPolls
from monitor.feeds.fulltext import FullText, page_sandbox
from monitor.feeds.pages import PageCache
from monitor.feeds.pollnow import PollNows, answer
from monitor.feeds.polltypes import AllFeeds as AllFeeds
from monitor.feeds.polltypes import Leases as Leases
from monitor.feeds.polltypes import PollResult as PollResult
from monitor.feeds.polltypes import PollWatcher
from monitor.feeds.request import Unresolved, resolve
from monitor.feeds.rounds import Rounds, RoundSummary, failing_entry, next_try_words, round_words
from monitor.feeds.schedule import backoff_delay, first_delay, next_delay, retry_after_s
from monitor.feeds.settings import FulltextConfig, PollerConfig
from monitor.feeds.sources import SOURCES
from monitor.feeds.spec import FeedSpec
from monitor.kernel.console import ActionRefused
from monitor.kernel.errors import BusError, FeedFetchError, FeedParseError, StorageFull
from monitor.kernel.language import metric_label, with_languages
from monitor.kernel.metrics import Metrics
from monitor.kernel.neterrors import describe_status, printable
from monitor.kernel.redact import remember
from monitor.store.state import FeedState, StateStore

log = structlog.get_logger("monitor.poller")


DEFAULT_FULLTEXT = FulltextConfig()
NOT_OWNED_RECHECK_S = 5.0  # how soon a feed another poller holds is looked at again
BUS_RETRY_S = 5.0  # how soon a poll whose articles could not be published is tried again
PAUSED_RECHECK_S = 1.0  # how often a paused poller looks whether it may go on
CRASH_RETRY_S = 60.0  # how soon a poll that failed on a fault of our own is tried again


class Poller:
    """Polls a set of feeds (see the module docstring)."""

    def __init__(
        self,
        *,
        config: PollerConfig,
        session: aiohttp.ClientSession,
        state: StateStore,
        bus: Bus,
        metrics: Metrics,
        leases: Leases | None = None,
        paused: Callable[[], bool] = lambda: False,
        watch: PollWatcher | None = None,
        fulltext: FulltextConfig = DEFAULT_FULLTEXT,
        board: FeedBoard | None = None,
        environ: Mapping[str, str] | None = None,
        totals: Callable[[], tuple[int, int]] | None = None,
        settle: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.environ = environ or {}  # feeds' `${VAR}`s (`monitor.feeds.request`)
        self.watch = watch  # told every poll's outcome: feed health
        self.leases = leases or AllFeeds()
        self.paused = paused  # while true (the disk is full), no feed is polled
        self.config = config
        self.session = session
        self.state = state
        self.bus = bus
        self.metrics, self._limit = metrics, asyncio.Semaphore(config.concurrency)
        self.client = Client(session, config)
        self.user_agent = self.client.user_agent
        self.fulltext = FullText(
            self.client,
            PageCache(state.file),
            metrics,
            self.user_agent,
            page_sandbox(fulltext),
            environ=self.environ,
        )
        pool = self.fulltext.sandbox
        metrics.fulltext_jobs.labels("running").set_function(lambda: pool.state().busy)
        metrics.fulltext_jobs.labels("waiting").set_function(lambda: pool.state().waiting)
        self._failing: set[str] = set()
        self.first_polls = FirstPolls()  # an offline machine told so, once (feeds.firstpolls)
        self._ended: set[str] = set()  # feeds not polled again (gone, disabled) until a reload
        # Each feed's last poll and next one, for the status page.
        self.board = board if board is not None else FeedBoard()
        # Polls told a round at a time (feeds.rounds); `totals`: this process's matches, alerts;
        # `settle`: waits until what was published has been matched and delivered.
        self.rounds = Rounds(_say_round, totals=totals, settle=settle)
        self._rng = random.Random()  # noqa: S311 - jitter, not secrecy
        self._specs: dict[str, FeedSpec] = {}
        self._listed: dict[str, FeedSpec] = {}  # every feed in feeds.yaml, paused ones too
        self.nows = PollNows()  # poll-nows under way, and the loops they wake
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._stop: asyncio.Event | None = None

    async def poll_all_once(self, feeds: Sequence[FeedSpec]) -> list[PollResult]:
        """Poll every enabled feed once, concurrently (bounded). The round stays open: the
        caller closes it (`rounds.close()`) once what was published is matched and delivered,
        so that its line counts the matches and alerts."""
        enabled = [f for f in feeds if f.enabled]
        self.fulltext.warm(enabled)
        results = list(await asyncio.gather(*(self.poll(f) for f in enabled)))
        ids = [f.id for f in enabled]
        for feed, result in zip(enabled, results, strict=True):
            self._tell(feed, result, None, ids, close=False)
        return results

    async def run(self, feeds: Sequence[FeedSpec], stop: asyncio.Event) -> None:
        """Poll every enabled feed on its schedule until `stop`; `set_feeds` changes the list."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._group, self._stop = tg, stop
                self.set_feeds(feeds)
                await stop.wait()
        finally:  # a forced stop too: the rounds still waiting are told, in order
            self._group = None
            await self.rounds.finish()

    def set_feeds(self, feeds: Sequence[FeedSpec]) -> None:
        """Start polling new feeds, stop removed or disabled ones, and use changed settings from
        each feed's next poll."""
        wanted = {f.id: f for f in feeds if f.enabled}
        self._listed = {f.id: f for f in feeds}
        self._specs.update(wanted)
        self.board.keep_only(wanted)
        if self.watch is not None:
            self.watch.set_feeds(wanted)
        for feed_id in [f for f in self._tasks if f not in wanted]:
            self._tasks.pop(feed_id).cancel()
            self._specs.pop(feed_id, None)
            self._ended.discard(feed_id)
            log.info("feed_stopped", feed=feed_id)
        if self._group is None or self._stop is None:
            return
        self.fulltext.warm(wanted.values())
        for feed_id in wanted:
            task = self._tasks.get(feed_id)
            if task is None or task.done():  # new, or ended (gone) and maybe fixed since
                self._ended.discard(feed_id)
                self._tasks[feed_id] = self._group.create_task(
                    self._feed_loop(feed_id, self._stop), name=f"poll:{feed_id}"
                )

    async def _feed_loop(self, feed_id: str, stop: asyncio.Event) -> None:
        delay = first_delay(self._specs[feed_id].interval_s, self._rng.random())
        self.board.scheduled(feed_id, next_ms=_ms_from_now(delay), failures=0)
        if await self.first_polls.wait(stop, delay):
            return
        while True:
            feed = self._specs[feed_id]  # the latest settings, after a reload
            if self.paused():
                wait: float | None = PAUSED_RECHECK_S
            elif not self.leases.owns(feed.id):
                wait = min(feed.interval_s, NOT_OWNED_RECHECK_S)
            else:
                wait = await self._poll_in_loop(feed)
            if wait is None or await self.nows.sleep(feed_id, stop, wait):
                return

    async def poll_now(self, feed_id: str) -> dict[str, Any]:
        """Poll the feed at once, outside its schedule (the same path: politeness, conditional
        GET, dedup, board, health), and schedule its next poll from this one, as a scheduled
        poll would (a success ends its backoff). `{"feed", "result", "new", "error",
        "next_poll_ms"}`; ActionRefused 404 for a feed not in feeds.yaml, 409 for a paused one.
        Two at once, or one during its scheduled poll, share one poll (and its result)."""
        feed = self._listed.get(feed_id) or self._specs.get(feed_id)
        if feed is None:
            raise ActionRefused(404, f"no feed {feed_id!r} in feeds.yaml")
        if not feed.enabled:
            raise ActionRefused(409, f"feed {feed_id} is paused (enabled: false)")
        return await self.nows.once(("now", feed_id), partial(self._poll_now, feed))

    async def _poll_now(self, feed: FeedSpec) -> dict[str, Any]:
        result = await self.nows.once(("poll", feed.id), partial(self.poll, feed))
        delay = await self._next_delay(feed, result)
        if delay is not None and feed.id in self._tasks:  # its loop sleeps until then instead
            self.nows.reschedule(feed.id, delay)
        said = f"feed {feed.id} polled now: {result.result}, {result.new} new"
        log.info("feed_polled_now", feed=feed.id, result=result.result, message=said)
        next_ms = _ms_from_now(delay) if delay is not None else None
        return answer(feed.id, result, next_ms, self._max_age_s(feed))

    async def _next_delay(self, feed: FeedSpec, result: PollResult) -> float | None:
        """The delay to the feed's next poll after `result` (board updated), None when it is
        not polled again (gone, disabled)."""
        if result.result in ("gone", "disabled"):
            return None
        try:
            state = await self.state.feed_state(feed.id)
        except Exception:  # this feed's loop is a top-level loop: it must go on
            log.exception("feed_state_unreadable", feed=feed.id)
            return self.config.max_backoff_s
        if result.retry_in_s is not None:
            delay = max(result.retry_in_s, 1.0)
        elif state.failures:
            delay = backoff_delay(state.failures, feed.interval_s, self.config.max_backoff_s)
        else:
            delay = next_delay(feed.interval_s, self._rng.random())
        self.board.scheduled(feed.id, next_ms=_ms_from_now(delay), failures=state.failures)
        return delay

    async def _poll_in_loop(self, feed: FeedSpec) -> float | None:
        """Poll `feed` on its schedule (or share a poll-now under way); the delay to its next
        poll, None when it is not polled again (gone, disabled: a new URL revives it)."""
        result = await self.nows.once(("poll", feed.id), partial(self.poll, feed))
        if result.result in ("gone", "disabled"):
            self._ended.add(feed.id)  # no round waits for it any more
            self._tell(feed, result, None, self._expected())
            self.first_polls.polled(feed.id, None, self._expected())
            return None
        delay = await self._next_delay(feed, result)
        if delay is None:
            return None
        self._tell(feed, result, time.time() + delay, self._expected())
        self.first_polls.polled(feed.id, delay if result.unreachable else None, self._expected())
        return delay

    def _expected(self) -> list[str]:
        """The feeds a round waits for: those this poller polls (not ended, not another's)."""
        return [f for f in self._specs if f not in self._ended and self.leases.owns(f)]

    async def poll(self, feed: FeedSpec) -> PollResult:
        """Poll one feed once; never raises (but on cancellation)."""
        async with self._limit:
            with structlog.contextvars.bound_contextvars(feed=feed.id):
                started = time.perf_counter()
                try:
                    result = await self._poll(feed)
                except Exception:
                    # One feed's fault (a bug met on its document, a storage error) is that
                    # feed's failure: logged with its id and counted, never the poller's end.
                    log.exception("poll_crashed")
                    result = PollResult("internal_error", retry_in_s=CRASH_RETRY_S)
                elapsed = time.perf_counter() - started
        self.metrics.polls.labels(feed.id, result.result).inc()
        self.metrics.poll_duration.labels(feed.id).observe(elapsed)
        if result.result in ("ok", "not_modified"):
            self._failing.discard(feed.id)
        else:
            self._failing.add(feed.id)
        self.metrics.feeds_failing.set(len(self._failing))
        if self.watch is not None:
            self.watch.observe(feed, result.result, result.new, result.reason)
        self.board.polled(
            feed.id,
            result=result.result,
            reason=result.reason,
            items=result.items,
            new=result.new,
            at_ms=_ms_from_now(0),
        )
        return result

    async def _poll(self, feed: FeedSpec) -> PollResult:
        state = await self.state.feed_state(feed.id)
        if state.disabled_reason and state.disabled_url == feed.url:
            log.warning("feed_disabled", reason=state.disabled_reason)
            return PollResult("disabled", reason=f"disabled: {state.disabled_reason}")
        try:
            return await self._fetch_and_publish(feed, state)
        except FeedFetchError as exc:
            reason, result, retry_in_s = str(exc), exc.result, exc.retry_after_s
            problem = exc.problem
            unreachable = problem is not None and problem.unreachable  # no DNS, refused
            if not exc.retriable:
                disabled = replace(state, disabled_reason=reason, disabled_url=feed.url)
                await self.state.save_feed_state(disabled)
                # An expected outcome, not a bug: the reason says all a traceback would.
                log.error("feed_disabled_by_server", reason=reason, url=feed.url)  # noqa: TRY400
                return PollResult(result, reason=reason, problem=problem)
        except FeedParseError as exc:
            reason, result, retry_in_s = str(exc), "parse_error", None
            unreachable, problem = False, None
        except (BusError, StorageFull) as exc:
            # Not the feed's fault: what was not marked seen is published again next time
            # (a record published twice is matched twice, and alerted once).
            log.warning("feed_publish_failed", reason=str(exc), retry_in_s=BUS_RETRY_S)
            result = "storage_full" if isinstance(exc, StorageFull) else "bus_error"
            return PollResult(result, retry_in_s=BUS_RETRY_S)
        failures = state.failures + 1
        await self.state.save_feed_state(replace(state, failures=failures))
        return PollResult(
            result,
            retry_in_s=retry_in_s,
            reason=reason,
            unreachable=unreachable,
            problem=problem,
            failures=failures,
        )

    def _tell(
        self,
        feed: FeedSpec,
        result: PollResult,
        next_at_s: float | None,
        expected: Iterable[str],
        *,
        close: bool = True,
    ) -> None:
        """Log a failed poll in one line (feed, host, reason, next try; the raw error in its own
        field) and count the poll in its round (which `close`s once every expected feed was
        polled)."""
        failing = None
        if result.result not in ("ok", "not_modified"):
            host = result.problem.where if result.problem is not None else ""
            why = result.problem.reason if result.problem is not None else result.reason
            failing = failing_entry(feed.id, host, why or result.result, next_at_s)
            if result.result in ("gone", "disabled"):
                failing = replace(failing, no_next="not tried again until feeds.yaml changes")
        if failing is not None and result.failures:
            self._log_failure(feed, result, next_at_s)
        self.rounds.polled(
            feed.id, new=result.new, failing=failing, expected=list(expected) if close else None
        )

    def _log_failure(self, feed: FeedSpec, result: PollResult, next_at_s: float | None) -> None:
        problem = result.problem
        now = time.time()
        log.warning(
            "feed_failed",
            feed=feed.id,
            result=result.result,
            reason=result.reason,
            error=problem.raw if problem is not None else result.reason,
            host=problem.where if problem is not None else None,
            errno=problem.errno if problem is not None else None,
            failures=result.failures,
            next_try=_iso(next_at_s) if next_at_s is not None else None,
            message=f"feed {feed.id}: {printable(result.reason, 300)}; "
            f"{next_try_words(next_at_s, now)}",
        )

    async def _fetch_and_publish(self, feed: FeedSpec, state: FeedState) -> PollResult:
        body, etag, modified, content_type = await self._fetch(feed, state)
        if body is None:
            if state.failures:
                await self.state.save_feed_state(replace(state, failures=0))
            log.debug("feed_not_modified")
            return PollResult("not_modified")
        fetched_at = datetime.now(UTC)
        parsed = await asyncio.to_thread(
            SOURCES[feed.kind].parse,
            body,
            feed_id=feed.id,
            url=feed.url,
            content_type=content_type,
            fetched_at=fetched_at,
        )
        self.metrics.feed_parses.labels(parsed.parser).inc()
        if parsed.warning:
            log.info("feed_ill_formed", reason=parsed.warning, articles=len(parsed.articles))
        new_ids = set(await self.state.unseen([a.id for a in parsed.articles]))
        fresh = [a for a in parsed.articles if a.id in new_ids]
        fresh = list({a.id: a for a in fresh}.values())
        too_old = 0
        if fresh and state.baselined_ms is None:  # the feed's first read: its baseline
            fresh, old = split_by_age(fresh, fetched_at, self._max_age_s(feed))
            too_old = len(old)
            if old:
                log.info(
                    "first_poll_old_items_recorded_unpublished",
                    too_old=too_old,
                    max_age_s=self._max_age_s(feed),
                )
        fresh = await self.fulltext.complete(feed, fresh)
        fresh = await asyncio.to_thread(with_languages, fresh)
        if not feed.stories:  # the setting travels with each item, to whichever dispatcher
            fresh = [replace(a, stories=False) for a in fresh]
        await self.bus.publish(ARTICLES, [(a.id, a.to_bytes()) for a in fresh])
        await self.state.mark_seen(feed.id, (a.id for a in parsed.articles))
        baselined_ms = state.baselined_ms
        if baselined_ms is None and parsed.articles:
            baselined_ms = int(time.time() * 1000)
        await self.state.save_feed_state(
            FeedState(
                feed_id=feed.id,
                etag=etag,
                last_modified=modified,
                title=parsed.title,  # for `feeds export` of a feed without `title:`, `site:`
                site=parsed.link,
                failures=0,
                baselined_ms=baselined_ms,
            )
        )
        self.metrics.articles_published.labels(feed.id).inc(len(fresh))
        if too_old:
            self.metrics.articles_too_old.labels(feed.id).inc(too_old)
        for article in fresh:
            self.metrics.articles_by_language.labels(metric_label(article.language)).inc()
        log.info("feed_polled", new=len(fresh), items=len(parsed.articles), too_old=too_old)
        return PollResult("ok", new=len(fresh), items=len(parsed.articles), too_old=too_old)

    async def _fetch(
        self, feed: FeedSpec, state: FeedState
    ) -> tuple[bytes | None, str | None, str | None, str]:
        try:
            sends = resolve(feed.request, self.environ)
        except Unresolved as exc:
            raise FeedFetchError(f"{exc} (feeds.yaml, feed {feed.id})", result="config") from exc
        remember(sends.secrets)
        headers = {
            **sends.headers,
            "User-Agent": sends.user_agent or self.user_agent,
            "Accept": SOURCES[feed.kind].accept,
        }
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        fetched = await self.client.get(  # a `public_only` feed: as an untrusted asker's
            feed.url,
            headers,
            credentials=sends.credentials,
            proxy=sends.proxy,
            untrusted=feed.public_only,
        )
        if fetched.status == 304:
            return None, state.etag, state.last_modified, ""
        self._check_status(fetched)
        return (
            fetched.body or b"",
            fetched.headers.get("ETag"),
            fetched.headers.get("Last-Modified"),
            fetched.headers.get("Content-Type", ""),
        )

    def _check_status(self, resp: Fetched) -> None:
        if resp.status == 410:
            raise FeedFetchError(
                f"HTTP 410 Gone from {resp.url}: feed disabled; remove or fix it in feeds.yaml",
                result="gone",
            )
        if resp.status >= 400:
            wait = None
            if resp.status in (429, 503):
                wait = retry_after_s(resp.headers.get("Retry-After"), datetime.now(UTC))
            problem = describe_status(resp.status, resp.reason or "", url=str(resp.url))
            raise FeedFetchError(
                problem.words(),
                result="http_error",
                retry_after_s=min(wait, self.config.max_backoff_s) if wait is not None else None,
                problem=problem,
            )

    def _max_age_s(self, feed: FeedSpec) -> float:
        return feed.max_age_s if feed.max_age_s is not None else self.config.max_age_s

    def failing(self) -> frozenset[str]:
        """Feeds whose last poll failed."""
        return frozenset(self._failing)


def _say_round(summary: RoundSummary) -> None:
    log.info(
        "poll_round",
        feeds=summary.feeds,
        new=summary.new,
        matched=summary.matched,
        alerts=summary.alerts,
        failing=len(summary.failing),
        failing_feeds=[f.feed for f in summary.failing],
        message=round_words(summary, time.time()),
    )


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


def _ms_from_now(seconds: float) -> int:
    """The wall-clock time `seconds` from now, in milliseconds since the epoch."""
    return int((time.time() + seconds) * 1000)
