"""The dead letters: what could not be delivered, listed, retried or dropped (`monitor dlq`).

`alerts.dlq` keeps every dead letter; `alerts.dlq.done` (compacted on Kafka) records the keys
retried or dropped since. A dead letter is open while no later "done" record names its key.
A retry sends an alert only if it is not settled "delivered" (by the service or an earlier
retry), and settles it delivered, so it still goes out at most once per (rule, story,
channel); a retry that fails again is dead-lettered again with the new reason. Between the
check and the settlement it holds a claim on the dead letter (`monitor.alerts.claims`): of two
`monitor dlq retry` run at once, one sends and the other says "already being sent".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

import structlog

from monitor.alerts.channels import Sender
from monitor.alerts.claims import Claims, lease_s, renewing
from monitor.alerts.digest import Digest, digest_from_dict
from monitor.alerts.dispatch import Settlements
from monitor.alerts.retrying import dead_letter, send_with_retries
from monitor.alerts.settings import DeliveryConfig
from monitor.bus.base import DLQ, DLQ_DONE, Bus, Record
from monitor.bus.history import stored_records
from monitor.bus.settings import BusPlace
from monitor.kernel.console import ActionRefused, Who
from monitor.kernel.errors import BusError, DeliveryError
from monitor.kernel.metrics import Metrics
from monitor.kernel.models import Alert, Settlement, alert_from_dict
from monitor.kernel.records import BadRecord, load_json, raw_excerpt
from monitor.kernel.waiting import sleep_or_stop

log = structlog.get_logger("monitor.dlq")
NO_CHANNEL = "-"  # the channel label of a record that is not an alert
DLQ_REFRESH_S = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """One open dead letter: an alert, a digest, or a record that could not be read."""

    id: str  # the record key: the alert's or digest's id
    kind: str  # "alert", "digest" or "record"
    channel: str
    rules: tuple[str, ...]
    reason: str
    attempts: int
    failed_at: str
    body: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The `monitor dlq list --json` line: `alert_id` (a digest's id for a digest),
        `channel`, `rule` (rules joined by commas for a digest), `reason`, `attempts`, `when`,
        and `kind` and `rules`."""
        return {
            "alert_id": self.id,
            "channel": self.channel,
            "rule": ",".join(self.rules),
            "reason": self.reason,
            "attempts": self.attempts,
            "when": self.failed_at,
            "kind": self.kind,
            "rules": list(self.rules),
        }


def open_letters(dead: Iterable[Record], done: Iterable[Record]) -> list[DeadLetter]:
    """The dead letters not retried or dropped since, the newest record per key, oldest first.

    A "done" record names the dead letter it closes by key and `failed_at` (not by time, so
    clocks that differ between hosts cannot reopen or close the wrong one)."""
    latest: dict[str, DeadLetter] = {}
    for record in sorted(dead, key=lambda r: r.timestamp_ms):
        latest[record.key] = _letter(record)
    closed = set()
    for record in done:
        try:
            closes = load_json(record.value, "dead letter").get("closes")
        except BadRecord:
            continue
        closed.add((record.key, closes))
    letters = [d for d in latest.values() if (d.id, d.failed_at) not in closed]
    return sorted(letters, key=lambda d: d.failed_at)


def _letter(record: Record) -> DeadLetter:
    try:
        body = load_json(record.value, "dead letter")
    except BadRecord as exc:
        body = {"raw": raw_excerpt(record.value), "reason": exc.reason}
    when = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC).isoformat()
    kind, channel = "record", NO_CHANNEL
    rules: tuple[str, ...] = ()
    try:
        if isinstance(body.get("alert"), dict):
            alert = body["alert"]
            kind, channel = "alert", str(alert.get("channel"))
            rules = (str(alert.get("rule", {}).get("id", "")),)
        elif isinstance(body.get("digest"), dict):
            digest = body["digest"]
            kind, channel = "digest", str(digest.get("channel"))
            rules = tuple(str(r.get("id")) for r in digest.get("rules", ()))
        attempts = int(body.get("attempts") or 0)
    except (AttributeError, TypeError, ValueError):  # listed as what it is: a bad record
        kind, channel, rules, attempts = "record", NO_CHANNEL, (), 0
    return DeadLetter(
        id=record.key,
        kind=kind,
        channel=channel,
        rules=rules,
        reason=str(body.get("reason", "")),
        attempts=attempts,
        failed_at=str(body.get("failed_at") or when),
        body=body,
    )


def by_channel(letters: Iterable[DeadLetter]) -> dict[str, int]:
    """How many open dead letters each channel has."""
    counts: dict[str, int] = {}
    for letter in letters:
        counts[letter.channel] = counts.get(letter.channel, 0) + 1
    return counts


async def mark_done(bus: Bus, letters: Sequence[DeadLetter], status: str) -> None:
    """Record the letters as retried or dropped (they leave the list)."""
    at = datetime.now(UTC).isoformat()
    await bus.publish(
        DLQ_DONE,
        [
            (d.id, json.dumps({"status": status, "at": at, "closes": d.failed_at}).encode())
            for d in letters
        ],
    )


class SentAgainFailed(DeliveryError):
    """The channel failed the dead letter again (not: it cannot be sent at all)."""


class Retrier:
    """Sends dead letters again, at most once per alert (see the module docstring)."""

    def __init__(
        self,
        *,
        senders: Mapping[str, Sender],
        settlements: Settlements,
        claims: Claims,
        bus: Bus,
        metrics: Metrics,
        delivery: DeliveryConfig,
    ) -> None:
        self.senders = senders
        self.claims = claims
        self.settlements = settlements
        self.bus = bus
        self.metrics = metrics
        self.delivery = delivery

    async def retry(self, letter: DeadLetter, *, automatic: bool = False) -> str:
        """ "sent", "already delivered", "already being sent" (another process holds its
        claim), or raise DeliveryError with why it failed again. `automatic`: a redelivery
        the service made by itself (`monitor.alerts.redeliver`); one that fails is marked so,
        and not made again."""
        if letter.kind == "record":
            raise DeliveryError(
                "not an alert (a record that could not be read): drop it", retriable=False
            )
        sender = self.senders.get(letter.channel)
        if sender is None:
            raise DeliveryError(
                f"no channel named {letter.channel!r} is configured", retriable=False
            )
        if await self._delivered(letter):
            await mark_done(self.bus, [letter], "retried")
            return "already delivered"
        lease = lease_s(self.delivery)
        if not await self.claims.claim([letter.id], lease):
            log.info("dead_letter_claimed_elsewhere", id=letter.id, channel=letter.channel)
            return "already being sent"
        try:
            async with renewing(self.claims, [letter.id], lease):
                return await self._retry_claimed(letter, sender, automatic)
        finally:
            await self.claims.release([letter.id])

    async def _delivered(self, letter: DeadLetter) -> bool:
        """Whether the alert, or every item of the digest, is settled delivered now."""
        await self.settlements.sync()
        decoded = _decoded(letter)
        if isinstance(decoded, Alert):
            return await self.settlements.settled_status(decoded.id) == "delivered"
        statuses = [await self.settlements.settled_status(i.alert_id) for i in decoded.items]
        return all(s == "delivered" for s in statuses)

    async def _retry_claimed(self, letter: DeadLetter, sender: Sender, automatic: bool) -> str:
        # Checked again under the claim: a holder that just finished settled before releasing.
        if await self._delivered(letter):
            await mark_done(self.bus, [letter], "retried")
            return "already delivered"
        decoded = _decoded(letter)
        if isinstance(decoded, Alert):
            await self._attempts(letter, partial(sender.send, decoded), automatic)
            await self._settle(decoded.id, decoded.rule_id, decoded.article.id, decoded.channel)
        else:
            await self._attempts(letter, partial(sender.send_digest, decoded), automatic)
            for item in decoded.items:
                await self._settle(item.alert_id, item.rule_id, item.article_id, decoded.channel)
        await mark_done(self.bus, [letter], "retried")
        self.metrics.alerts.labels(letter.channel, "delivered").inc()
        log.info("dead_letter_retried", id=letter.id, channel=letter.channel)
        return "sent"

    async def _attempts(
        self, letter: DeadLetter, send: Callable[[], Awaitable[None]], automatic: bool
    ) -> None:
        outcome = await send_with_retries(send, self.delivery)
        if outcome.delivered:
            return
        kept = ("reason", "failed_at", "retriable")
        body = {k: v for k, v in letter.body.items() if k not in kept}
        body["attempts"] = letter.attempts + outcome.attempts
        if automatic:
            body["redelivered"] = True
        await dead_letter(
            self.bus, self.metrics, letter.id, body, outcome.reason, letter.channel,
            retriable=outcome.retriable,
        )  # fmt: skip
        raise SentAgainFailed(outcome.reason, retriable=outcome.retriable)

    async def _settle(self, alert_id: str, rule_id: str, article_id: str, channel: str) -> None:
        await self.settlements.settle(
            Settlement(
                alert_id=alert_id,
                rule_id=rule_id,
                article_id=article_id,
                channel=channel,
                status="delivered",
                reason="retried from the DLQ",
            )
        )


class ChannelsPlace(BusPlace, Protocol):
    """Where the bus and state live, and the channels configured (the service's `Config`)."""

    @property
    def channels(self) -> Mapping[str, object]:
        """The channels by name."""


async def read_open_letters(config: BusPlace) -> list[DeadLetter]:
    """The open dead letters, from the bus's stored records (local or Kafka)."""
    everything = time.time()
    dead = await stored_records(config, DLQ, everything)
    done = await stored_records(config, DLQ_DONE, everything)
    return open_letters(dead, done)


async def export_dlq_size(
    config: ChannelsPlace,
    metrics: Metrics,
    stop: asyncio.Event,
    every_s: float = DLQ_REFRESH_S,
    then: Callable[[list[DeadLetter]], Awaitable[None]] | None = None,
) -> None:
    """Keep `monitor_dlq_size{channel}` at the open dead letters, as `monitor dlq` retries and
    drops them from another process; hand them to `then` (the redelivery) each time."""
    shown = {*config.channels, NO_CHANNEL}  # every channel has a value, 0 when empty
    while True:
        try:
            letters = await read_open_letters(config)
        except BusError as exc:
            log.warning("dlq_count_failed", reason=str(exc))
        else:
            counts = by_channel(letters)
            shown |= counts.keys()
            for channel in shown:
                metrics.dlq_size.labels(channel).set(counts.get(channel, 0))
            if then is not None:
                try:
                    await then(letters)
                except BusError as exc:  # tried again with the next reading
                    log.warning("dlq_redelivery_failed", reason=str(exc))
        if await sleep_or_stop(stop, every_s):
            return


def _decoded(letter: DeadLetter) -> Alert | Digest:
    """The letter's alert or digest; a DeliveryError ("drop it") when it cannot be read."""
    try:
        if letter.kind == "alert":
            return alert_from_dict(letter.body["alert"])
        return digest_from_dict(letter.body["digest"])
    except (BadRecord, KeyError, TypeError, ValueError) as exc:
        raise DeliveryError(f"unreadable: {exc}: drop it", retriable=False) from None


def letter_answer(letter: DeadLetter) -> dict[str, Any]:
    """`DeadLetter.to_dict()` and the alert's `title` and `url` (a digest's: its first
    item's), as the console lists it."""
    answer = letter.to_dict()
    title = url = ""
    alert = letter.body.get("alert")
    digest = letter.body.get("digest")
    article = alert.get("article") if isinstance(alert, dict) else None
    if isinstance(digest, dict) and isinstance(digest.get("items"), list) and digest["items"]:
        article = digest["items"][0]
    if isinstance(article, dict):
        title, url = str(article.get("title") or ""), str(article.get("url") or "")
    answer.update(title=title, url=url)
    return answer


class LetterDesk:
    """The console's dead letters (`monitor.status.actions.DeadLetterActions`): `monitor dlq`'s
    list, retry and drop. `retrier`: None in a process that sends nothing (no dispatcher)."""

    def __init__(self, config: BusPlace, bus: Bus, retrier: Retrier | None) -> None:
        self.config = config
        self.bus = bus
        self.retrier = retrier

    async def letters(self) -> list[dict[str, Any]]:
        """The open dead letters, oldest first."""
        return [letter_answer(letter) for letter in await read_open_letters(self.config)]

    async def chosen(self, ids: Sequence[str] | None) -> list[DeadLetter]:
        """The open letters named (None: all); ActionRefused 404 when ids name none open."""
        letters = await read_open_letters(self.config)
        if ids is None:
            return letters
        wanted = set(ids)
        found = [letter for letter in letters if letter.id in wanted]
        if not found:
            raise ActionRefused(404, "no open dead letter with these ids")
        return found

    async def retry_letters(self, letters: Sequence[DeadLetter]) -> dict[str, str]:
        """Send each again, at most once per alert: its result by id."""
        if self.retrier is None:
            raise ActionRefused(503, "dead letters are retried by a dispatcher")
        results: dict[str, str] = {}
        for letter in letters:
            try:
                results[letter.id] = await self.retrier.retry(letter)
            except DeliveryError as exc:
                results[letter.id] = f"failed again: {exc}"
        return results

    async def retry(self, ids: Sequence[str] | None, who: Who) -> dict[str, Any]:
        """`{"results": {id: "sent" | "already delivered" | "failed again: ..."}}`."""
        letters = await self.chosen(ids)
        log.info("dead_letters_retry_asked", ids=[d.id for d in letters], who=who.to_dict())
        return {"results": await self.retry_letters(letters)}

    async def drop(self, ids: Sequence[str] | None, who: Who) -> dict[str, Any]:
        """`{"dropped": [ids]}`: marked done, so no dead letter of theirs stays open."""
        letters = await self.chosen(ids)
        await mark_done(self.bus, letters, "dropped")
        log.info("dead_letters_dropped", ids=[d.id for d in letters], who=who.to_dict())
        return {"dropped": [d.id for d in letters]}
