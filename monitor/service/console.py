"""The service's `Console` (`monitor.status.actions`): poll now, channel tests and dead letters,
done here when this process owns the work, else routed on Kafka through `monitor.bus.control`
to the process that does (see its docstring for why a topic). On the local bus one process
does everything, and its parts are called directly.

The parts look the service's poller, senders and retrier up when called: the console exists
from the start (the listener comes first), and answers 503 until they are built.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.alerts.channels import ChannelSettings, Sender, Tools
from monitor.alerts.channeltest import send_test
from monitor.alerts.claims import Claims
from monitor.alerts.deadletters import LetterDesk, Retrier
from monitor.alerts.dispatch import Settlements
from monitor.bus.base import Bus
from monitor.bus.control import Handler, KafkaControl
from monitor.bus.kafka import KafkaBus
from monitor.feeds.poller import Poller
from monitor.feeds.spec import FeedSpec
from monitor.kernel.console import ActionRefused, Answer, Silence, Who
from monitor.kernel.metrics import Metrics
from monitor.matching.rulebook import RuleBook
from monitor.service.config import Config, notify_problems
from monitor.service.wiring import KafkaWiring, LocalWiring
from monitor.status.actions import (
    Console,
    FeedFiles,
    History,
    Silences,
    WatchActions,
)
from monitor.status.desks import make_watch_desk
from monitor.store.state import StateStore

POLL, CHANNEL_TEST, DLQ_RETRY = "poll", "channel-test", "dlq-retry"


class Owns(Protocol):
    """A lease: whether this process owns a name now."""

    def owns(self, name: str) -> bool:
        """Whether this process owns `name`."""
        ...


@dataclass
class Hands:
    """What this process can act with, filled in as the service opens its parts."""

    feeds: Callable[[], Sequence[FeedSpec]]
    channels: Mapping[str, ChannelSettings]
    config: Any  # the service's Config (a BusPlace, with its channels and delivery)
    bus: Bus
    runs_poller: bool
    runs_dispatcher: bool
    control: KafkaControl | None = None
    poller: Poller | None = None
    tools: Tools | None = None
    retrier: Retrier | None = None
    flushes: Owns | None = None  # the channels' flusher lease (dispatcher)
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    def polls_here(self, feed_id: str) -> bool:
        """Whether this process polls `feed_id` now."""
        return self.poller is not None and self.poller.leases.owns(feed_id)

    def sends_here(self, channel: str) -> bool:
        """Whether this process sends for `channel` now (tests, retries)."""
        return self.tools is not None and self.flushes is not None and self.flushes.owns(channel)

    def dispatching(
        self,
        flushes: Owns,
        senders: Mapping[str, Sender],
        settlements: Settlements,
        claims: Claims,
        metrics: Metrics,
    ) -> None:
        """This process sends for the channels `flushes` owns, and retries their dead letters
        (its claims held as "console"); from now on it runs the commands routed to it for
        them (`serve_control`, registered when the hands were made)."""
        self.flushes = flushes
        self.retrier = Retrier(
            senders=senders,
            settlements=settlements,
            claims=claims.holder("console"),
            bus=self.bus,
            metrics=metrics,
            delivery=self.config.delivery,
        )

    def desk(self) -> LetterDesk:
        """The dead letters, retried with this process's senders when it has them."""
        return LetterDesk(self.config, self.bus, self.retrier)


def _routed(hands: Hands, role: str) -> KafkaControl:
    """The control topic, or 503 when there is none (the local bus without that role)."""
    if hands.control is None:
        raise ActionRefused(503, f"this process does not run the {role} role")
    return hands.control


class Polls:
    """Poll now: here when this process holds the feed's lease, else through `control`."""

    def __init__(self, hands: Hands) -> None:
        self.hands = hands

    async def poll_now(self, feed_id: str, who: Who) -> Answer:
        """`{"feed", "result", "new", "error", "next_poll_ms", "by"}`."""
        feed = next((f for f in self.hands.feeds() if f.id == feed_id), None)
        if feed is None:
            raise ActionRefused(404, f"no feed {feed_id!r} in feeds.yaml")
        if not feed.enabled:
            raise ActionRefused(409, f"feed {feed_id} is paused (enabled: false)")
        if self.hands.polls_here(feed_id) and self.hands.poller is not None:
            return {**await self.hands.poller.poll_now(feed_id), "by": self.hands.name}
        return await _routed(self.hands, "poller").ask(POLL, feed_id, None, who, role="poller")


class Channels:
    """A channel's test message: here when this process sends for it, else through `control`."""

    def __init__(self, hands: Hands) -> None:
        self.hands = hands

    async def test(self, name: str, who: Who) -> Answer:
        """`{"channel", "ok", "status", "answer", "error", "by"}`."""
        settings = self.hands.channels.get(name)
        if settings is None:
            raise ActionRefused(404, f"no channel {name!r} is configured")
        if self.hands.sends_here(name) and self.hands.tools is not None:
            return {**await send_test(settings, self.hands.tools), "by": self.hands.name}
        return await _routed(self.hands, "dispatcher").ask(
            CHANNEL_TEST, name, None, who, role="dispatcher"
        )


class Letters:
    """The dead letters: listed and dropped here (bus reads and writes), retried by the
    dispatcher sending for each letter's channel (one command per channel)."""

    def __init__(self, hands: Hands) -> None:
        self.hands = hands

    async def letters(self) -> list[Answer]:
        """The open dead letters with their alert's title and url."""
        return await self.hands.desk().letters()

    async def retry(self, ids: Sequence[str] | None, who: Who) -> Answer:
        """`{"results": {id: ...}}`, each at most once per alert."""
        desk = self.hands.desk()
        letters = await desk.chosen(ids)
        by_channel: dict[str, list[str]] = {}
        for letter in letters:
            by_channel.setdefault(letter.channel, []).append(letter.id)
        results: dict[str, Any] = {}
        for channel, channel_ids in by_channel.items():
            if self.hands.sends_here(channel) or self.hands.control is None:
                mine = [d for d in letters if d.channel == channel]
                results.update(await desk.retry_letters(mine))
            else:
                answer = await self.hands.control.ask(
                    DLQ_RETRY, channel, channel_ids, who, role="dispatcher"
                )
                results.update(answer.get("results") or {})
        return {"results": results}

    async def drop(self, ids: Sequence[str] | None, who: Who) -> Answer:
        """`{"dropped": [ids]}`."""
        return await self.hands.desk().drop(ids, who)


def serve_control(hands: Hands) -> None:
    """Run, on this process, the routed commands it owns the targets of."""
    control = hands.control
    if control is None:
        return

    async def poll(target: str, ids: Sequence[str] | None, who: Who) -> Answer:
        if hands.poller is None:
            raise ActionRefused(503, "no poller here")
        return await hands.poller.poll_now(target)

    async def test(target: str, ids: Sequence[str] | None, who: Who) -> Answer:
        settings = hands.channels.get(target)
        if settings is None or hands.tools is None:
            raise ActionRefused(404, f"no channel {target!r} is configured here")
        return await send_test(settings, hands.tools)

    async def retry(target: str, ids: Sequence[str] | None, who: Who) -> Answer:
        desk = hands.desk()
        letters = [d for d in await desk.chosen(ids) if d.channel == target]
        return {"results": await desk.retry_letters(letters)}

    if hands.runs_poller:
        control.handle(POLL, Handler(hands.polls_here, poll))
    if hands.runs_dispatcher:
        control.handle(CHANNEL_TEST, Handler(hands.sends_here, test))
        control.handle(DLQ_RETRY, Handler(hands.sends_here, retry))


def make_hands(
    config: Any, bus: Bus, feeds: Callable[[], Sequence[FeedSpec]], runs: Callable[[str], bool]
) -> Hands:
    """The hands of a service (`config`: its `Config`): on Kafka with a control topic, whose
    commands for its roles it runs once it holds their targets (every role's: a poller's poll
    now as much as a dispatcher's channel test)."""
    hands = Hands(
        feeds=feeds,
        channels=config.channels,
        config=config,
        bus=bus,
        runs_poller=runs("poller"),
        runs_dispatcher=runs("dispatcher"),
        control=KafkaControl(bus) if isinstance(bus, KafkaBus) else None,
    )
    serve_control(hands)
    return hands


def service_console(
    hands: Hands,
    *,
    feeds: FeedFiles | None = None,
    watches: WatchActions | None = None,
    silences: Silences | None = None,
    history: History | None = None,
) -> Console:
    """The console of a service: polls, channels and letters here (routed on Kafka); the
    other parts as given. A part no process of this deployment can do is None."""
    routed = hands.control is not None
    return Console(
        polls=Polls(hands) if routed or hands.runs_poller else None,
        feeds=feeds,
        watches=watches,
        silences=silences,
        channels=Channels(hands) if routed or hands.runs_dispatcher else None,
        letters=Letters(hands),
        history=history,
        channel_names=tuple(hands.channels),
    )


class KnownSilences:
    """The silences, refusing to mute a watch that is not in the rule set in force (a typo
    would silence nothing and say it did); a silence can always be ended."""

    def __init__(self, silences: Silences, known: Callable[[str], bool]) -> None:
        self.silences = silences
        self.known = known

    async def mute(self, rule_id: str, until_ms: int, reason: str, who: Who) -> Silence:
        """Mute a watch in force (404 for another id)."""
        if not self.known(rule_id):
            raise ActionRefused(404, f"no watch {rule_id!r} in the rules in force")
        return await self.silences.mute(rule_id, until_ms, reason, who)

    async def unmute(self, rule_id: str, who: Who) -> Silence | None:
        """End the watch's silence now."""
        return await self.silences.unmute(rule_id, who)

    async def active(self) -> list[Silence]:
        """The silences not yet over."""
        return await self.silences.active()


async def open_console(
    console: Console,
    stack: AsyncExitStack,
    wiring: LocalWiring | KafkaWiring,
    state: StateStore,
    config: Config,
    book: RuleBook,
) -> None:
    """Give `console` the parts every role has, once the state is open: the alert history and
    the silences where they are kept (on Kafka the shared topics), and the rules directory's
    watches and feeds.yaml (closed with `stack`)."""
    console.history = await wiring.history(stack, state)
    console.silences = KnownSilences(await wiring.silences(stack, state), book.knows)
    desks = make_watch_desk(
        config.rules_dir,
        config,
        poller=config.poller,
        fulltext=config.fulltext,
        stories=config.stories,
        environ=config.environ,
        git_commit=config.http_git_commit,
        extra_checks=lambda rules: notify_problems(config, rules),
    )
    stack.callback(desks.close)
    console.watches, console.feeds = desks.watches, desks.feeds
