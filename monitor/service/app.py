"""The service: build a role's poller, matcher and dispatcher (the bus's stores come from
`monitor.service.wiring`), and run them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import replace
from functools import partial
from typing import Any

import structlog

from monitor import __version__
from monitor.alerts.board import RecentAlerts
from monitor.alerts.channels import Sender, Tools, make_sender
from monitor.alerts.deadletters import DeadLetter, Retrier, export_dlq_size, read_open_letters
from monitor.alerts.dispatch import Dispatcher, channel_breakers
from monitor.alerts.feedbacklinks import FeedbackLinks, with_feedback
from monitor.alerts.feedwatch import FeedWatch
from monitor.alerts.flusher import Flusher, export_channels
from monitor.alerts.outage import Notices
from monitor.alerts.redeliver import Redeliverer
from monitor.feeds.board import FeedBoard
from monitor.feeds.guard import guarded_session
from monitor.feeds.poller import AllFeeds, Poller
from monitor.feeds.spec import FeedSpec
from monitor.kernel import native
from monitor.kernel.clock import Clock
from monitor.kernel.errors import Problem
from monitor.kernel.metrics import Metrics, Structure, make_metrics
from monitor.kernel.text import plural
from monitor.matching.board import MatchTally
from monitor.matching.compiler import compile_rules
from monitor.matching.costwatch import RecentArticles, export_rule_costs
from monitor.matching.loader import FileCache
from monitor.matching.reload import Reloader, ReloadResult, Snapshot
from monitor.matching.rulebook import RuleBook
from monitor.matching.spec import RuleSet
from monitor.pipeline import CaughtUp, run_dispatcher, run_matcher
from monitor.service.config import Config, notify_problems
from monitor.service.console import make_hands, open_console, service_console
from monitor.service.feedback import FeedbackDesk
from monitor.service.feedbacklinks import make_feedback
from monitor.service.outcome import GOOD_POLLS, OnceOutcome, dead_lettered, totals
from monitor.service.wiring import Lease, make_wiring
from monitor.service.words import started
from monitor.status.console import add_console_routes
from monitor.status.guard import SignInThrottle, exposure
from monitor.status.page import StatusView, utc
from monitor.status.routes import add_status_routes
from monitor.status.view import Sources, build_view, channel_rows, feedback_buttons, seed_tally
from monitor.status.web import make_app, start_web, status_page_line
from monitor.store.state import StateStore
from monitor.store.storage import StorageHealth
from monitor.stories.desk import StoryDesk

SENDER_THREADS = 4
RECENT_ALERT_BYTES = 3_000  # one listed alert: title, URL, three evidence snippets (measured)
log = structlog.get_logger("monitor.service")


class Service:
    """One process running one role (or all of them)."""

    def __init__(
        self,
        config: Config,
        rule_set: RuleSet,
        *,
        role: str = "all",
        metrics: Metrics | None = None,
        files: FileCache | None = None,
        seen: Snapshot | None = None,
    ) -> None:
        self.config = config
        self.rule_set = rule_set
        self.role = role
        self.metrics = metrics or make_metrics()
        self.book = RuleBook(compile_rules(rule_set))
        self.wiring = make_wiring(config, self.metrics)  # the one choice of bus
        self.bus = self.wiring.bus
        self.state = StateStore(config.state_dir)
        self.poller: Poller | None = None
        self.feed_watch: FeedWatch | None = None
        self.flusher: Flusher | None = None
        self.notices: Notices | None = None
        self.redeliverer: Redeliverer | None = None
        self.breakers = channel_breakers(config.delivery)  # each channel: up, or down until when
        self.caught_up = CaughtUp()  # when the matcher and dispatcher last had nothing to do
        self.feedback: FeedbackLinks | None = None  # the alerts' links (set as senders are made)
        self._started = False
        self.reloader = Reloader(
            config.rules_dir,
            self.book,
            self.metrics,
            extra_checks=lambda rules: notify_problems(config, rules),
            on_feeds=self._feeds_changed,
            files=files,
            seen=seen,
        )
        self.reloader.loaded(rule_set)
        self._reloads: set[asyncio.Task[ReloadResult]] = set()
        self._lag_partitions: dict[str, set[int]] = {}  # per group, the partitions reported
        self.metrics.rules_loaded.set(len(self.book.compiled.rules))
        self.storage = StorageHealth(self.wiring.files(self.state))
        self.metrics.storage_full.set_function(lambda: float(self.storage.paused()))
        self.metrics.bus_connected.set_function(lambda: float(self.bus.connection().connected))
        self.metrics.entities_loaded.set(len(rule_set.entities))
        self.metrics.feeds_loaded.set(sum(1 for f in rule_set.feeds if f.enabled))
        self.hands = make_hands(config, self.bus, lambda: self.rule_set.feeds, self.runs)
        self.console = service_console(self.hands)  # what the page's actions call
        self.exposed = exposure(config.listen_host, config.listen_port, config.http_token)
        self.status = Sources(  # what GET / shows
            role=role,
            board=FeedBoard() if self.runs("poller") else None,
            polling=lambda: self.poller is not None,
            metrics=self.metrics,
            feeds=lambda: self.rule_set.feeds,
            rules=lambda: [r.spec for r in self.book.compiled.rules],
            problems=lambda: self._shown(self.reloader.problems),
            bus=self.bus.connection,
            tally=MatchTally() if self.runs("matcher") else None,
            recent=RecentAlerts() if self.runs("dispatcher") else None,
            started_ms=int(time.time() * 1000),
        )
        if (recent := self.status.recent) is not None:
            self.metrics.structures.watch(
                Structure(
                    "recent_alerts",
                    recent.__len__,
                    recent.limit,
                    RECENT_ALERT_BYTES,
                    lambda: recent.evicted,
                )
            )

    def runs(self, role: str) -> bool:
        """Whether this process runs `role`."""
        return self.role in ("all", role)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when the bus is connected, rules are loaded and the roles are running."""
        bus = self.bus.connection()
        bus_ok = bus.connected
        detail = {
            "role": self.role,
            "bus": "connected" if bus_ok else "not connected",
            "bus_since": utc(int(bus.since_s * 1000)),
            "rules": len(self.book.compiled.rules),
            "feeds_failing": sorted(self.poller.failing()) if self.poller else [],
        }
        if not bus_ok and bus.error:
            detail["bus_error"] = bus.error
        if self.poller is not None:  # saturated, pages fail `busy` but feeds poll on: still ready
            detail["fulltext_pool"] = self.poller.fulltext.sandbox.state().describe()
        if self.reloader.problems:
            detail["rules_error"] = self._shown(self.reloader.problems)
        full = self.storage.full()
        if full:
            detail["storage"] = "disk full: " + ", ".join(full)
        return bus_ok and self._started and not full, detail

    def _feeds_changed(self, feeds: Sequence[FeedSpec]) -> None:
        self.rule_set = replace(self.rule_set, feeds=tuple(feeds))
        if self.poller is not None:
            self.poller.set_feeds(feeds)

    async def reload(self, reason: str) -> tuple[bool, dict[str, Any]]:
        """Reload the rules now (SIGHUP, POST /-/reload); keep the old ones if invalid."""
        result = await self.reloader.reload(reason)
        return result.ok, {"rules": result.rules, "problems": self._shown(result.problems)}

    def _shown(self, problems: Sequence[Problem]) -> list[str]:
        """Problems as the HTTP listener shows them: paths relative to the rules directory."""
        root = str(self.config.rules_dir.resolve())
        return [p.shown_from(root) for p in problems]

    def request_reload(self, reason: str) -> None:
        """Start a reload from a signal handler."""
        task = asyncio.get_running_loop().create_task(self.reloader.reload(reason))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    def _senders(self, tools: Tools) -> dict[str, Sender]:
        """Every channel's sender, each putting the two feedback links on what it sends."""
        senders = {name: make_sender(c, tools) for name, c in self.config.channels.items()}
        made = make_feedback(self.config)
        self.feedback = FeedbackLinks(*made) if made else None  # the page's buttons too
        return with_feedback(senders, self.feedback)

    async def _watch(
        self, stack: AsyncExitStack, senders: dict[str, Sender], clock: Clock, leases: Lease
    ) -> FeedWatch | None:
        """The feed-health watch, when `health.notify` names channels."""
        if not self.config.health.notify:
            return None
        watch = FeedWatch(
            config=self.config.health,
            store=await self.wiring.health_store(stack, self.state),
            owns=leases.owns,
            senders=senders,
            state=self.state,
            bus=self.bus,
            metrics=self.metrics,
            delivery=self.config.delivery,
            clock=clock,
        )
        await watch.load()
        self.feed_watch = watch
        return watch

    async def _open(
        self, stack: AsyncExitStack, stop: asyncio.Event, *, once: bool = False
    ) -> tuple[Poller | None, Dispatcher | None]:
        """Open the bus, the state and the role's parts; `once`: a single pass in one process,
        which owns every feed's health and every channel's held alerts, whatever the leases."""
        await stack.enter_async_context(self.bus)
        await stack.enter_async_context(self.state)
        await self.wiring.check(self.state)
        await open_console(self.console, stack, self.wiring, self.state, self.config, self.book)
        session = await stack.enter_async_context(
            guarded_session(headers={"User-Agent": f"monitor/{__version__}"})
        )
        poller = dispatcher = None
        # Blocking senders (Apprise) run here, a few at a time.
        executor = ThreadPoolExecutor(max_workers=SENDER_THREADS, thread_name_prefix="sender")
        stack.callback(executor.shutdown, wait=False, cancel_futures=True)
        senders = self._senders(tools := Tools(session, executor))
        self.hands.tools = tools
        clock = Clock.from_environ()
        if self.runs("poller"):
            leases = self.wiring.poller_leases()
            self.poller = poller = Poller(
                config=self.config.poller,
                session=session,
                state=self.state,
                bus=self.bus,
                metrics=self.metrics,
                leases=leases,
                paused=self.storage.paused,
                watch=await self._watch(stack, senders, clock, AllFeeds() if once else leases),
                fulltext=self.config.fulltext,
                board=self.status.board,
                environ=self.config.environ,  # the feeds' `${VAR}`s, read when each is fetched
                totals=partial(totals, self.metrics) if self.role == "all" else None,
                # A round's line waits for its matches and alerts (--once closes it after them)
                settle=self.caught_up.settled if self.role == "all" and not once else None,
            )
            stack.callback(poller.fulltext.close)
            self.hands.poller = poller
        if self.runs("dispatcher"):
            stories = StoryDesk(
                await self.wiring.story_log(stack, self.state),
                window_s=self.config.stories.window_s,
                metrics=self.metrics,
                max_articles=self.config.stories.max_articles,
            )
            await stories.start()
            settlements = await self.wiring.settlements(stack, self.state)
            held = await self.wiring.held(stack, self.state)
            claims = await self.wiring.claims(stack, self.state)
            flushes: Lease = AllFeeds() if once else self.wiring.flusher_lease()
            self.notices = notices = Notices(
                notify=self.config.health.notify,
                senders=senders,
                bus=self.bus,
                metrics=self.metrics,
                delivery=self.config.delivery,
                owns=flushes.owns,
            )
            history = await self.wiring.history(stack, self.state)
            await history.attach(self.status.recent)  # the page's alerts from before a restart
            dispatcher = Dispatcher(
                senders=senders,
                default_notify=self.config.default_notify,
                delivery=self.config.delivery,
                settlements=settlements,
                bus=self.bus,
                metrics=self.metrics,
                throttle_of=self.book.throttle_of,
                stop=stop,
                stories=stories,
                held=held,
                batching=self.config.batching,
                clock=clock,
                is_retired=self.book.is_retired,
                folds=self.book.folds,
                recent=self.status.recent,
                breakers=self.breakers,
                tell=notices.tell,
                claims=self.wiring.dispatcher_claims(claims),
                history=history,
                silences=await self.wiring.silences(stack, self.state),
            )
            self.flusher = Flusher(
                held=held,
                senders=senders,
                settlements=settlements,
                bus=self.bus,
                metrics=self.metrics,
                delivery=self.config.delivery,
                stories=stories,
                clock=clock,
                stop=stop,
                recent=self.status.recent,
                claims=claims,
                breakers=self.breakers,
                tell=notices.tell,
                owns=flushes.owns,
            )
            if self.config.delivery.redeliver:
                retrier = Retrier(
                    senders=senders,
                    settlements=settlements,
                    claims=claims.holder("redeliver"),
                    bus=self.bus,
                    metrics=self.metrics,
                    delivery=self.config.delivery,
                )
                self.redeliverer = Redeliverer(retrier, self.breakers)
            self.hands.dispatching(flushes, senders, settlements, claims, self.metrics)
            export_channels(self.breakers, self.flusher, list(self.config.channels), self.metrics)
        return poller, dispatcher

    async def run(self, stop: asyncio.Event) -> None:
        """Run the role's loops until `stop`; then finish the batches in hand and close."""
        async with AsyncExitStack() as stack:
            # The listener comes first, so /readyz answers (not ready) while the bus is awaited.
            config = self.config
            throttle = SignInThrottle(self.metrics)
            app = make_app(
                self.metrics,
                self.readiness,
                self.reload,
                token=config.http_token,
                listen_host=config.listen_host,
                allowed_hosts=config.allowed_hosts,
                protect_metrics=config.protect_metrics,
                throttle=throttle,
            )
            add_status_routes(app, self._status_view, config.http_token, throttle)
            add_console_routes(
                app, lambda: self.console, config.http_token, throttle, config.listen_host
            )
            FeedbackDesk(
                config, self.wiring, self.state, lambda: self.console.history is not None
            ).routes(app)
            runner = await start_web(app, config.listen_host, config.listen_port)
            if self.exposed is not None:
                log.warning("listener_unprotected", detail=self.exposed)
            stack.push_async_callback(runner.cleanup)
            opening = asyncio.ensure_future(self._open(stack, stop))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({opening, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not opening.done():
                opening.cancel()
                log.info("monitor_stopped_before_start")
                return
            poller, dispatcher = opening.result()
            self._started = True
            rules, feeds = (
                len(self.book.compiled.rules),
                sum(f.enabled for f in self.rule_set.feeds),
            )
            log.info("monitor_started", **started(self.config, self.role, rules, feeds))
            page = status_page_line(config.listen_host, config.listen_port, config.http_token)
            log.info("status_page", **page)
            if native.engine_type() is None:
                log.warning("native_matcher_missing", detail=native.MISSING, message=native.MISSING)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.reloader.watch(stop), name="rules-watcher")
                tg.create_task(self.wiring.upkeep(stop), name="bus-upkeep")
                if self.hands.control is not None:  # console actions routed (bus.control)
                    tg.create_task(self.hands.control.run(stop), name="control")
                if poller is not None:
                    tg.create_task(poller.run(self.rule_set.feeds, stop), name="poller")
                    if self.feed_watch is not None:
                        tg.create_task(self.feed_watch.run(stop), name="feed-health")
                if self.runs("matcher"):
                    recent = RecentArticles()
                    tally = self.status.tally
                    tg.create_task(
                        run_matcher(
                            self.bus,
                            self.book,
                            self.metrics,
                            stop,
                            lag=self._lag,
                            paused=self.storage.paused,
                            seen=recent.add,
                            matched=tally.count_now if tally else None,
                            caught_up=self.caught_up.report,
                        ),
                        name="matcher",
                    )
                    if tally is not None:
                        before_ms = self.status.started_ms
                        tg.create_task(
                            seed_tally(self.config, tally, before_ms, stop), name="tally"
                        )
                    tg.create_task(
                        export_rule_costs(self.book, recent, self.metrics, stop),
                        name="rule-costs",
                    )
                if dispatcher is not None:
                    self._dispatch(tg, dispatcher, stop)
            log.info("monitor_stopped", role=self.role, message="monitor stopped")

    def _dispatch(self, tg: asyncio.TaskGroup, dispatcher: Dispatcher, stop: asyncio.Event) -> None:
        """The dispatcher role's loops: matches, dead letters, channel notices, digests."""
        tg.create_task(
            run_dispatcher(
                self.bus,
                dispatcher,
                stop,
                lag=self._lag,
                paused=self.storage.paused,
                caught_up=self.caught_up.report,
            ),
            name="dispatcher",
        )
        tg.create_task(
            export_dlq_size(self.config, self.metrics, stop, then=self._redeliver),
            name="dlq-size",
        )
        if self.notices is not None:
            tg.create_task(self.notices.run(stop), name="channel-notices")
        if self.flusher is not None:
            tg.create_task(self.flusher.run(), name="flusher")

    async def _redeliver(self, letters: list[DeadLetter]) -> None:
        if self.redeliverer is not None:
            await self.redeliverer.redeliver(letters)

    async def _status_view(self) -> StatusView:
        view = replace(build_view(self.status), exposed=self.exposed)
        view = replace(view, feedback=feedback_buttons(view.alerts, self.feedback))
        if self.flusher is None:
            return view
        waiting = await self.flusher.held.waiting()
        rows = channel_rows(list(self.config.channels), self.breakers, waiting)
        return replace(view, channels=rows)

    def _lag(self, group: str, lags: dict[int, int]) -> None:
        # A partition a rebalance gave to another member is no longer this process's share:
        # its last lag would otherwise stand in the gauge forever.
        for gone in self._lag_partitions.get(group, set()) - lags.keys():
            self.metrics.consumer_lag.remove(group, str(gone))
        self._lag_partitions[group] = set(lags)
        for partition, lag in lags.items():
            self.metrics.consumer_lag.labels(group, str(partition)).set(lag)

    async def run_once(self) -> OnceOutcome:
        """Poll every feed once and carry what is new through matching and delivery; return
        what was left undone (failed feeds, alerts dead-lettered or waiting for a channel)."""
        stop = asyncio.Event()
        dead_before, failed = dead_lettered(self.metrics), []
        config = str(self.config.path.absolute())
        log.info("run_once_started", config=config, role=self.role, message=f"one pass of {config}")
        async with AsyncExitStack() as stack:
            poller, dispatcher = await self._open(stack, stop, once=True)
            if poller is not None:  # one pass in one process: every feed, whoever holds its lease
                if self.feed_watch is not None:
                    self.feed_watch.set_feeds({f.id: f for f in self.rule_set.feeds})
                results = await poller.poll_all_once(self.rule_set.feeds)
                enabled = [f for f in self.rule_set.feeds if f.enabled]  # as polled, in order
                failed = [
                    f.id
                    for f, r in zip(enabled, results, strict=True)
                    if r.result not in GOOD_POLLS
                ]
                new = sum(r.new for r in results)
                said = f"polled {plural(len(results), 'feed')} once: {new} new"
                log.info("poll_once_done", feeds=len(results), new=new, message=said)
                if self.feed_watch is not None:  # what the feeds' health calls for, told now
                    await self.feed_watch.check()
            if self.runs("matcher"):
                await run_matcher(self.bus, self.book, self.metrics, stop, drain=True)
            if dispatcher is not None:
                await run_dispatcher(self.bus, dispatcher, stop, drain=True)
            if self.flusher is not None:  # what is due already (held items wait for a run)
                await self.flusher.flush_due()
            if self.redeliverer is not None:  # dead letters whose channel this run reached
                await self._redeliver(await read_open_letters(self.config))
            if self.notices is not None:
                await self.notices.send_queued()
            if poller is not None:  # the pass's round, told once it was matched and delivered
                poller.rounds.close()
            waiting = await self.flusher.held.waiting() if self.flusher is not None else {}
        outcome = OnceOutcome(
            failed_feeds=tuple(failed),
            dead_lettered=dead_lettered(self.metrics) - dead_before,
            waiting=sum(waiting.values()),
        )
        return outcome
