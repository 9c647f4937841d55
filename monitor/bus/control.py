"""Console actions routed to the process that does the work, on Kafka: the `control` topic.

In a role deployment the process asked (say the dispatcher serving the status page) is often
not the one that can act: a feed is polled by the poller holding its lease, a channel's test
and a dead letter's retry are sent by the dispatcher holding the channel's flusher lease
(every dead letter has a channel). So an action the asking process cannot do itself is
published as a command on `control`; every process reads that topic from its end, assigned
to every partition, with no consumer group (each command must reach all of them, not one of a
group), and the one whose lease owns the command's target runs it and publishes its reply on
`control.replies`, which every process reads the same way. The asker waits for the reply
(REPLY_TIMEOUT_S at most), else the action is refused 504.

Why a topic and not an HTTP call between processes: the processes already share the broker
and nothing else (no addresses of each other, no service discovery), the leases that decide
who owns a feed or a channel live in Kafka's group membership, and a command published once
reaches the owner wherever it runs, even after a rebalance moved the lease. Both topics keep
records for CONTROL_RETENTION_S only: a command is worth nothing after its asker stopped
waiting, and a process started later reads from the end, so it never runs an old one.

A command: `{"id", "action", "target", "ids", "who", "at"}`; a reply `{"id", "by", "result"}`
where `result` is the action's answer or `{"refused": {"status", "message", "problems"}}`.
A dead letter's drop is only a bus write (a "done" record): any process does it, unrouted. On
the local bus there is one process: the console calls the parts directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from monitor.bus.base import CONTROL, CONTROL_REPLIES, Record
from monitor.bus.kafka import KafkaBus, topic_partitions
from monitor.kernel.console import ActionRefused, Answer, Who
from monitor.kernel.errors import BusError
from monitor.kernel.records import BadRecord, load_json
from monitor.kernel.waiting import sleep_or_stop

log = structlog.get_logger("monitor.control")
REPLY_TIMEOUT_S = 20.0
CONTROL_RETENTION_S = 3600.0
READ_TIMEOUT_MS = 500
FIRST_RETRY_S = 1.0  # between the first tries to reach the control topics, then doubling
MAX_RETRY_S = 30.0


@dataclass(frozen=True, slots=True)
class Handler:
    """What runs one action here: whether this process owns a target now, and the work."""

    owns: Callable[[str], bool]
    run: Callable[[str, Sequence[str] | None, Who], Awaitable[Answer]]


def command(action: str, target: str, ids: Sequence[str] | None, who: Who) -> Answer:
    """A new command (its id fresh)."""
    return {
        "id": uuid.uuid4().hex,
        "action": action,
        "target": target,
        "ids": list(ids) if ids is not None else None,
        "who": who.to_dict(),
        "at": int(time.time() * 1000),
    }


def read_command(value: bytes) -> Answer:
    """A command record's fields, checked; BadRecord for anything else."""
    body = load_json(value, "control command")
    ok = (
        isinstance(body.get("id"), str)
        and isinstance(body.get("action"), str)
        and isinstance(body.get("target"), str)
        and (body.get("ids") is None or isinstance(body.get("ids"), list))
        and isinstance(body.get("who", {}), dict)
        and isinstance(body.get("at"), int | float)
        and not isinstance(body.get("at"), bool)
        and math.isfinite(body["at"])
    )
    if not ok:
        raise BadRecord("control command", "not a command: id, action, target, ids, who, at")
    if body.get("ids") is not None:
        body["ids"] = [str(i) for i in body["ids"]]
    return body


def refusal(exc: ActionRefused) -> Answer:
    """The reply's result for an action refused where it ran."""
    return {
        "refused": {"status": exc.status, "message": exc.message, "problems": list(exc.problems)}
    }


def outcome(result: Answer) -> Answer:
    """A reply's result: the answer, or ActionRefused raised as the owner refused it."""
    refused = result.get("refused")
    if isinstance(refused, dict):
        raise ActionRefused(
            int(refused.get("status") or 502),
            str(refused.get("message") or "refused"),
            [str(p) for p in refused.get("problems") or ()],
        )
    return result


class KafkaControl:
    """Reads `control` and `control.replies` from their end; runs the commands whose target
    this process owns; answers the asks of this process (see the module docstring)."""

    def __init__(self, bus: KafkaBus, name: str = "", timeout_s: float = REPLY_TIMEOUT_S) -> None:
        self.bus = bus
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.timeout_s = timeout_s
        self.handlers: dict[str, Handler] = {}
        self._waiting: dict[str, asyncio.Future[Answer]] = {}
        self._ready = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    def handle(self, action: str, handler: Handler) -> None:
        """Run `action`'s commands whose target this process owns."""
        self.handlers[action] = handler

    async def ask(
        self,
        action: str,
        target: str,
        ids: Sequence[str] | None,
        who: Who,
        *,
        role: str = "process",
    ) -> Answer:
        """Publish the command and wait for the owner's reply; ActionRefused as the owner
        refused, or 504 when no reply came in time (no `role` process owns the target now)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._ready.wait()
                sent = command(action, target, ids, who)
                waiting = asyncio.get_running_loop().create_future()
                self._waiting[sent["id"]] = waiting
                try:
                    await self.bus.publish(CONTROL, [(target, json.dumps(sent).encode())])
                    reply = await waiting
                finally:
                    self._waiting.pop(sent["id"], None)
        except TimeoutError:
            raise ActionRefused(
                504,
                f"no {role} answered {action} {target} within {self.timeout_s:g}s:"
                f" is a {role} running and connected to the broker?",
            ) from None
        result = reply.get("result")
        answer = outcome(result if isinstance(result, dict) else {})
        return {**answer, "by": str(reply.get("by") or "")}

    async def run(self, stop: asyncio.Event) -> None:
        """Read both topics from their end until `stop`, running and answering. A broker that
        is away, or topics not yet known to it, are waited for (asks answer 504 meanwhile):
        the console is never worth the process."""
        delay = FIRST_RETRY_S
        while not stop.is_set():
            try:
                await self._serve(stop)
            except (BusError, KafkaError, OSError) as exc:
                log.warning(
                    "control_unavailable",
                    reason=f"{type(exc).__name__}: {exc}",
                    retry_in_s=delay,
                    message="console actions cannot be routed to other processes yet",
                )
            else:
                return
            if await sleep_or_stop(stop, delay):
                return
            delay = min(delay * 2, MAX_RETRY_S)

    async def _serve(self, stop: asyncio.Event) -> None:
        await ensure_topics(self.bus)
        parts = [
            *await topic_partitions(self.bus.options, self.bus.topic(CONTROL)),
            *await topic_partitions(self.bus.options, self.bus.topic(CONTROL_REPLIES)),
        ]
        reader = AIOKafkaConsumer(**self.bus.options, enable_auto_commit=False)
        await reader.start()
        try:
            reader.assign(parts)
            await reader.seek_to_end(*parts)
            for tp in parts:  # the positions are fixed now: what is published later is read
                await reader.position(tp)
            self._ready.set()
            log.info(
                "control_listening",
                name=self.name,
                actions=sorted(self.handlers),
                message="console actions asked of other processes reach this one now",
            )
            while not stop.is_set():
                try:
                    batches = await reader.getmany(timeout_ms=READ_TIMEOUT_MS)
                except KafkaError as exc:
                    log.warning("control_read_failed", reason=f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(1)
                    continue
                for tp, messages in batches.items():
                    for m in messages:
                        key = m.key.decode(errors="replace") if m.key else ""
                        rec = Record(tp.topic, tp.partition, m.offset, key, m.value or b"", 0)
                        try:
                            self.take(rec, replies=tp.topic == self.bus.topic(CONTROL_REPLIES))
                        except Exception:  # one record never ends the reader (nor the process)
                            log.exception("control_record_failed", offset=m.offset)
        finally:
            self._ready.clear()
            for task in list(self._running):
                task.cancel()
            with contextlib.suppress(KafkaError):
                await reader.stop()

    def take(self, record: Record, *, replies: bool) -> None:
        """One record read: a reply for a waiting ask, or a command to run if owned here."""
        if replies:
            try:
                reply = load_json(record.value, "control reply")
            except BadRecord:
                log.warning("control_reply_unreadable", offset=record.offset)
                return
            waiting = self._waiting.get(str(reply.get("id")))
            if waiting is not None and not waiting.done():
                waiting.set_result(reply)
            return
        try:
            cmd = read_command(record.value)
        except BadRecord as exc:
            log.warning("control_command_unreadable", offset=record.offset, reason=exc.reason)
            return
        handler = self.handlers.get(cmd["action"])
        if handler is None or not handler.owns(cmd["target"]):
            return
        age_s = time.time() - float(cmd.get("at") or 0) / 1000
        if age_s > self.timeout_s:
            # Its asker has answered 504 already: run now, it might be done twice (a retry).
            log.warning(
                "control_command_stale",
                action=cmd["action"],
                target=cmd["target"],
                age_s=round(age_s, 1),
                detail="not run: older than the asker waits (a slow reader, or clocks apart)",
            )
            return
        task = asyncio.get_running_loop().create_task(self._execute(handler, cmd))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _execute(self, handler: Handler, cmd: Answer) -> None:
        who = cmd.get("who") or {}
        asker = Who(str(who.get("address", "")), str(who.get("via", "")), str(who.get("agent", "")))
        try:
            result = await handler.run(cmd["target"], cmd["ids"], asker)
        except ActionRefused as exc:
            result = refusal(exc)
        except Exception as exc:  # the asker is told, whatever went wrong here
            log.exception("control_command_failed", action=cmd["action"], target=cmd["target"])
            result = refusal(ActionRefused(500, f"{type(exc).__name__} in {self.name}"))
        log.info(
            "control_command_run", action=cmd["action"], target=cmd["target"], who=who, by=self.name
        )
        reply = {"id": cmd["id"], "by": self.name, "result": result}
        try:
            await self.bus.publish(CONTROL_REPLIES, [(cmd["id"], json.dumps(reply).encode())])
        except Exception:  # the asker times out (504): nothing else can be done
            log.exception("control_reply_failed", action=cmd["action"], target=cmd["target"])


async def ensure_topics(bus: KafkaBus) -> None:
    """Create `control` and `control.replies` (one partition, short retention) if missing."""
    admin = AIOKafkaAdminClient(**bus.options, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        configs = {"cleanup.policy": "delete", "retention.ms": str(int(CONTROL_RETENTION_S * 1000))}
        rf = bus.cfg.replication_factor
        missing = [
            NewTopic(bus.topic(name), 1, rf, topic_configs=configs)
            for name in (CONTROL, CONTROL_REPLIES)
            if bus.topic(name) not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()
