"""Wiring: build the bus, state, poller, matcher and dispatcher, and run them until stopped."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import structlog

from monitor import __version__
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.email import EmailSender
from monitor.alerts.senders import ConsoleSender, Sender
from monitor.alerts.webhook import ChatSender
from monitor.bus.base import DLQ
from monitor.bus.local import LocalBus
from monitor.config import ChatChannel, Config, ConsoleChannel
from monitor.feeds.poller import Poller
from monitor.matching.compiler import compile_rules
from monitor.matching.spec import RuleSet
from monitor.metrics import Metrics, make_metrics
from monitor.pipeline import RuleBook, run_dispatcher, run_matcher
from monitor.state import StateStore
from monitor.web import make_app, start_web

log = structlog.get_logger("monitor.service")


class Service:
    """One process running every role."""

    def __init__(self, config: Config, rule_set: RuleSet, metrics: Metrics | None = None) -> None:
        self.config = config
        self.rule_set = rule_set
        self.metrics = metrics or make_metrics()
        self.book = RuleBook(compile_rules(rule_set))
        self.bus = LocalBus(config.state_dir / "bus.db")
        self.state = StateStore(config.state_dir)
        self.poller: Poller | None = None
        self._update_rule_metrics()

    def _update_rule_metrics(self) -> None:
        self.metrics.rules_loaded.set(len(self.book.compiled.rules))
        self.metrics.entities_loaded.set(len(self.rule_set.entities))
        self.metrics.feeds_loaded.set(sum(1 for f in self.rule_set.feeds if f.enabled))

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when the bus is open and rules are loaded."""
        bus_ok = self.bus.is_ready()
        detail = {
            "bus": "open" if bus_ok else "closed",
            "rules": len(self.book.compiled.rules),
            "feeds_failing": sorted(self.poller.failing()) if self.poller else [],
        }
        return bus_ok, detail

    def _senders(self, session: aiohttp.ClientSession) -> dict[str, Sender]:
        senders: dict[str, Sender] = {}
        for name, channel in self.config.channels.items():
            if isinstance(channel, ConsoleChannel):
                senders[name] = ConsoleSender(name)
            elif isinstance(channel, ChatChannel):
                senders[name] = ChatSender(channel, session)
            else:
                senders[name] = EmailSender(channel)
        return senders

    async def _open(self, stack: AsyncExitStack, stop: asyncio.Event) -> tuple[Poller, Dispatcher]:
        await stack.enter_async_context(self.bus)
        await stack.enter_async_context(self.state)
        self.metrics.dlq_size.set(await self.bus.count(DLQ))
        session = await stack.enter_async_context(
            aiohttp.ClientSession(headers={"User-Agent": f"monitor/{__version__}"})
        )
        self.poller = poller = Poller(
            config=self.config.poller,
            session=session,
            state=self.state,
            bus=self.bus,
            metrics=self.metrics,
        )
        return poller, Dispatcher(
            senders=self._senders(session),
            default_notify=self.config.default_notify,
            delivery=self.config.delivery,
            state=self.state,
            bus=self.bus,
            metrics=self.metrics,
            throttle_of=self.book.throttle_of,
            stop=stop,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Run every role until `stop` is set; then finish the batches in hand and close."""
        async with AsyncExitStack() as stack:
            poller, dispatcher = await self._open(stack, stop)
            runner = await start_web(
                make_app(self.metrics, self.readiness),
                self.config.listen_host,
                self.config.listen_port,
            )
            stack.push_async_callback(runner.cleanup)
            log.info(
                "monitor_started",
                rules=len(self.book.compiled.rules),
                feeds=sum(1 for f in self.rule_set.feeds if f.enabled),
                listen=f"{self.config.listen_host}:{self.config.listen_port}",
            )
            async with asyncio.TaskGroup() as tg:
                tg.create_task(poller.run(self.rule_set.feeds, stop), name="poller")
                tg.create_task(run_matcher(self.bus, self.book, self.metrics, stop), name="matcher")
                tg.create_task(run_dispatcher(self.bus, dispatcher, stop), name="dispatcher")
            log.info("monitor_stopped")

    async def run_once(self) -> None:
        """Poll every feed once and carry what is new through matching and delivery."""
        stop = asyncio.Event()
        async with AsyncExitStack() as stack:
            poller, dispatcher = await self._open(stack, stop)
            results = await poller.poll_all_once(self.rule_set.feeds)
            log.info("poll_once_done", feeds=len(results), new=sum(r.new for r in results))
            await run_matcher(self.bus, self.book, self.metrics, stop, drain=True)
            await run_dispatcher(self.bus, dispatcher, stop, drain=True)
