"""Gathering the status page's `StatusView` from the parts a process runs.

The poller's `FeedBoard`, the matcher's `MatchTally`, the dispatcher's `RecentAlerts`, the rules
in force, the bus's connection and three of the process's gauges (rule reload state, dead
letters by channel), read one by one: collecting the whole registry, with a series per rule
and per feed, took 260 ms at 20,000 rules. A part a role does not run is None, and its section
is left off the page.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import structlog
from prometheus_client import Gauge
from prometheus_client.samples import Sample

from monitor import __version__
from monitor.alerts.board import RecentAlert, RecentAlerts
from monitor.alerts.breaker import Breakers
from monitor.alerts.feedbacklinks import FeedbackLinks
from monitor.alerts.verdicts import VERDICTS
from monitor.bus.base import MATCHES, Connection
from monitor.bus.history import stored_records
from monitor.bus.settings import BusPlace
from monitor.feeds.board import FeedBoard, FeedStatus
from monitor.feeds.spec import FeedSpec
from monitor.kernel.errors import BusError
from monitor.kernel.metrics import Metrics
from monitor.kernel.redact import redact
from monitor.matching.board import DAY_MS, DAYS, MatchTally
from monitor.matching.spec import RuleSpec
from monitor.status.page import ChannelRow, FeedRow, RulesState, StatusView, WatchRow

log = structlog.get_logger("monitor.status")
# A page for 100,000 watches would be 100 MB: the page lists the busiest watches and the
# failing feeds first, up to these, and says how many more there are.
WATCH_ROWS = 100
FEED_ROWS = 300


@dataclass(slots=True)
class Sources:
    """Where each section comes from."""

    role: str
    metrics: Metrics
    feeds: Callable[[], Sequence[FeedSpec]]  # the feed list in force
    rules: Callable[[], Sequence[RuleSpec]]  # the watches in force
    problems: Callable[[], Sequence[str]]  # the last reload's problems, if it failed
    bus: Callable[[], Connection] | None = None  # whether the bus is connected now
    board: FeedBoard | None = None
    polling: Callable[[], bool] = lambda: True  # the poller is open (the board is being filled)
    tally: MatchTally | None = None
    recent: RecentAlerts | None = None
    started_ms: int = 0


def build_view(sources: Sources, now_ms: int | None = None) -> StatusView:
    """The page's content now."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    metrics = sources.metrics
    (loaded,) = _samples(metrics.rules_last_success)
    (stale,) = _samples(metrics.rules_stale)
    rules = sources.rules()
    state = RulesState(
        rules=len(rules),
        loaded_ms=int(loaded.value * 1000) if loaded.value else None,
        stale=bool(stale.value),
        problems=tuple(sources.problems()),
    )
    feeds, feeds_more = None, 0
    if sources.board is not None and sources.polling():
        seen = sources.board.snapshot()
        rows = [
            FeedRow(f.id, f.url, f.interval_s, seen.get(f.id, FeedStatus(f.id)))
            for f in sources.feeds()
            if f.enabled
        ]
        rows.sort(key=lambda r: (not r.status.failing, r.id))
        feeds, feeds_more = rows[:FEED_ROWS], max(0, len(rows) - FEED_ROWS)
    watches, watches_more = None, 0
    if sources.tally is not None:
        watches = _busiest(rules, sources.tally, now)
        watches_more = len(rules) - len(watches)
    dead_letters = None
    if sources.recent is not None:
        dead_letters = {s.labels["channel"]: int(s.value) for s in _samples(metrics.dlq_size)}
    return StatusView(
        version=__version__,
        role=sources.role,
        now_ms=now,
        started_ms=sources.started_ms,
        rules=state,
        feeds=feeds,
        watches=watches,
        alerts=_redacted(sources.recent.newest_first()) if sources.recent is not None else None,
        dead_letters=dead_letters,
        feeds_more=feeds_more,
        watches_more=watches_more,
        bus=sources.bus() if sources.bus is not None else None,
        paused=tuple(f.id for f in sources.feeds() if not f.enabled),
    )


def _redacted(alerts: list[RecentAlert]) -> list[RecentAlert]:
    """The alerts with secrets out of their channels' reasons (a refusal may echo a URL)."""
    return [
        replace(a, channels={c: (state, redact(why)) for c, (state, why) in a.channels.items()})
        for a in alerts
    ]


def _samples(gauge: Gauge) -> list[Sample]:
    """One gauge's samples, without collecting the rest of the registry."""
    return [sample for family in gauge.collect() for sample in family.samples]


def _busiest(rules: Sequence[RuleSpec], tally: MatchTally, now_ms: int) -> list[WatchRow]:
    """Up to WATCH_ROWS watches: those matched this week, the most matched first, then the
    others in the order of the rule files."""
    active = tally.active(now_ms)
    by_id = {r.id: r for r in rules}
    busy = sorted(
        (a for a in active if a in by_id),
        key=lambda r: (-sum(active[r].per_day), -(active[r].last_ms or 0), r),
    )
    quiet = (r.id for r in rules if r.id not in active)
    chosen = [*busy[:WATCH_ROWS], *itertools.islice(quiet, max(0, WATCH_ROWS - len(busy)))]
    activity = {**tally.activity([r for r in chosen if r not in active], now_ms), **active}
    return [WatchRow(r, by_id[r].mode, by_id[r].description, activity[r]) for r in chosen]


async def seed_tally(
    config: BusPlace, tally: MatchTally, before_ms: int, stop: asyncio.Event
) -> None:
    """Count the stored `matches` records of the last week made before `before_ms` (the start),
    so the week's chart survives a restart; the matcher counts what comes after. Given up at
    `stop` (a broker not up yet must not hold the shutdown); a failure costs only the chart."""
    reading = asyncio.ensure_future(stored_records(config, MATCHES, DAYS * DAY_MS / 1000))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not reading.done():
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        return
    try:
        records = reading.result()
    except BusError as exc:
        log.warning("status_history_unread", reason=str(exc))
        return
    except Exception:  # the page's history is not worth the service: logged, and it goes on
        log.exception("status_history_unread")
        return
    for record in records:
        if record.timestamp_ms < before_ms:
            tally.add([record.key], record.timestamp_ms)
    log.debug("status_history_read", matches=len(records))  # the page's charts: not news


def channel_rows(
    names: Sequence[str], breakers: Breakers, waiting: Mapping[str, int]
) -> list[ChannelRow]:
    """Each channel's row: up, or down since when and why, and the alerts waiting for it."""
    rows = []
    for name in names:
        breaker = breakers[name]
        since = breaker.down_since
        rows.append(
            ChannelRow(
                name=name,
                down_since_ms=int(since * 1000) if since is not None else None,
                reason=redact(breaker.reason),
                probe_ms=int(breaker.probe_at * 1000) if since is not None else None,
                waiting=waiting.get(name, 0),
            )
        )
    return rows


def feedback_buttons(
    alerts: Sequence[RecentAlert] | None, links: FeedbackLinks | None
) -> dict[str, dict[str, str]] | None:
    """The page's Relevant / Not relevant buttons: by alert key, the path each posts to (the
    signed feedback link, the same a channel's message carries); None without a signer."""
    if links is None or not alerts:
        return None
    buttons = {}
    for alert in alerts:
        if alert.folded:  # the verdict is on the story: its founding row has the buttons
            continue
        rule_id, _, story_id = alert.key.partition("\x1f")
        buttons[alert.key] = {
            v: f"/feedback/{links.signer.token(rule_id, story_id, v)}" for v in VERDICTS
        }
    return buttons
