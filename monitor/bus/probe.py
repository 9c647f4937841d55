"""Whether the bus is connected now: the state readiness reports, and the probe that keeps it.

`Link` holds the state: connected or not, since when, and the last error. On the Kafka bus,
`probe` asks the broker a question every BUS_PROBE_EVERY_S (2 s), giving each try
BUS_PROBE_TIMEOUT_S (3 s). BUS_PROBE_FAILURES (2) failures in a row mark the bus not connected,
so a broker that goes away or stops answering turns /readyz 503 within 2 x (2 + 3) = 10 s
(measured on the test harness's broker: 1.9 s when it is stopped, its port closed; 10.0 s when
it is frozen with SIGSTOP, its connections open and silent).
One answer marks it connected again. A publish that fails marks it not connected at once, one
that succeeds connected.

Only changes are logged (`bus_disconnected`, `bus_connected`), so an outage of any length
writes two lines here, whatever the probe meets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

import structlog

from monitor.bus.base import Connection
from monitor.kernel.waiting import sleep_or_stop

BUS_PROBE_EVERY_S: Final = 2.0
BUS_PROBE_TIMEOUT_S: Final = 3.0
BUS_PROBE_FAILURES: Final = 2
ERROR_CHARS: Final = 200  # what /readyz and the page show of an error

log = structlog.get_logger("monitor.bus")


def describe(exc: BaseException) -> str:
    """An exception as a reason: its class and message, the class once (aiokafka's errors
    already start with it)."""
    name, text = type(exc).__name__, str(exc)
    if not text:
        return name
    return text if text.startswith(name) else f"{name}: {text}"


def short(error: str) -> str:
    """An error as /readyz shows it: one line, at most ERROR_CHARS characters."""
    line = " ".join(error.split())
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"


class Link:
    """The bus's connection as last seen: by the probe, a publish, or the bus starting."""

    def __init__(
        self,
        *,
        connected: bool = False,
        error: str | None = "not connected yet",
        failures: int = BUS_PROBE_FAILURES,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._now = now
        self._failures_allowed = failures
        self._connected = connected
        self._since_s = now()
        self._error = None if connected else error
        self._failed = 0

    @property
    def connected(self) -> bool:
        """Whether the bus is connected now."""
        return self._connected

    def connection(self) -> Connection:
        """The state as readiness and the status page show it."""
        return Connection(self._connected, self._since_s, self._error)

    def up(self) -> None:
        """The broker answered (a probe, a publish, the start): connected."""
        self._failed = 0
        if self._connected:
            return
        down_s = self._now() - self._since_s
        self._connected, self._since_s, self._error = True, self._now(), None
        log.info("bus_connected", down_s=round(down_s, 1))

    def down(self, reason: str, *, quiet: bool = False) -> None:
        """Not connected, at once (a publish failed, the bus stopped, it cannot start)."""
        self._error = short(reason)
        if not self._connected:
            return
        self._connected, self._since_s = False, self._now()
        if not quiet:
            log.warning("bus_disconnected", reason=self._error)

    def probe_failed(self, reason: str) -> None:
        """A probe got no answer: not connected once BUS_PROBE_FAILURES have in a row."""
        self._failed += 1
        if self._failed >= self._failures_allowed or not self._connected:
            self.down(reason)


async def probe(
    ask: Callable[[], Awaitable[object]],
    link: Link,
    stop: asyncio.Event,
    *,
    every_s: float = BUS_PROBE_EVERY_S,
    timeout_s: float = BUS_PROBE_TIMEOUT_S,
) -> None:
    """Call `ask` (a question the broker must answer) every `every_s` until `stop`, and keep
    `link` up to date with what it meets."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(ask(), timeout_s)
        except TimeoutError:
            link.probe_failed(f"the broker did not answer in {timeout_s:g}s")
        # Whatever comes back from the broker's port (a refusal, garbage), the probe goes on:
        # the reason is kept for /readyz and logged when the state changes.
        except Exception as exc:  # noqa: BLE001
            link.probe_failed(describe(exc))
        else:
            link.up()
        if await sleep_or_stop(stop, every_s):
            return
