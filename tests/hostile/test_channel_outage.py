"""A channel down longer than the old give-up time, and a channel that flaps, against the
service as a subprocess (local bus) while items keep arriving.

With the default delivery settings (5 attempts, 1 s backoff) an alert used to give up after
about 15 s: a webhook down for 30 s left alerts in the DLQ for a person. Now the channel is
marked down (metric, page, a notice on the health channel), its alerts wait, and when it is
back they go out in the order they waited, each once, with nothing dead-lettered."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import MonitorProcess, eventually
from tests.support.servers import FeedServer, Receiver, all_servers, free_port

pytestmark = [pytest.mark.timeout(300), pytest.mark.long]

WATCHES = "rules:\n  - {id: floods, match: {any: [flood]}, severity: high}\n"
OLD_GIVE_UP_S = 15  # 5 attempts, waits of 1 + 2 + 4 + 8 s


def feed(numbers: range) -> bytes:
    """A feed of the numbered items, newest first, each its own event."""
    items = "".join(
        f"<item><title>Flood report {n}: river gauge {n * 7} at station {n}</title>"
        f"<guid>flood-{n}</guid><link>https://wire.example/flood/{n}</link></item>"
        for n in reversed(numbers)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>w</title>{items}</channel></rss>'
    ).encode()


@dataclass
class Outage:
    tmp: Path
    feeds: FeedServer
    receiver: Receiver
    mailbox: object
    monitor: MonitorProcess
    published: int = 0

    def publish(self, upto: int) -> None:
        self.published = upto
        self.feeds.feeds["wire"] = feed(range(max(0, upto - 40), upto))

    def answers(self) -> list[tuple[str, str, int]]:
        """(item number, alert id, status) of every request, in order."""
        return [
            (
                json.loads(a.body)["article"]["url"].rsplit("/", 1)[1],
                a.headers["X-Monitor-Alert-Id"],
                a.status,
            )
            for a in self.receiver.answered
        ]

    def delivered(self) -> Counter[str]:
        """Item numbers the receiver answered 200, with how many times."""
        return Counter(n for n, _, status in self.answers() if status == 200)

    async def channel_up(self) -> float:
        return await self.monitor.metric("monitor_channel_up", {"channel": "hook"})


@pytest.fixture
async def outage(tmp_path: Path) -> AsyncIterator[Outage]:
    async with all_servers() as s:
        rules = tmp_path / "rules"
        (rules / "entities").mkdir(parents=True)
        (rules / "watches.yaml").write_text(WATCHES)
        (rules / "feeds.yaml").write_text(
            f'feeds:\n  - {{id: wire, url: "{s.feeds.url("/feeds/wire")}", interval: 1s}}\n'
        )
        port = free_port()
        config = tmp_path / "monitor.yaml"
        config.write_text(
            textwrap.dedent(f"""\
            rules_dir: rules
            state_dir: state
            poller: {{host_delay: 0s, max_age: 3650d}}
            http: {{listen: "127.0.0.1:{port}"}}
            defaults: {{notify: [hook]}}
            stories: {{window: 0}}
            health: {{notify: [desk]}}
            channels:
              hook: {{kind: webhook, url: "{s.receiver.url("/hook")}", timeout: 5s}}
              desk: {{kind: email, host: 127.0.0.1, port: {s.smtp_port}, security: none,
                      from: "monitor@example.org", to: ["desk@example.org"]}}
            """)
        )
        monitor = MonitorProcess(config, f"http://127.0.0.1:{port}", tmp_path / "logs")
        o = Outage(tmp_path, s.feeds, s.receiver, s.mailbox, monitor)
        o.publish(0)
        try:
            yield o
        finally:
            await monitor.kill()


async def _arrive(o: Outage, stop: asyncio.Event, every_s: float = 0.5) -> None:
    """A new item every `every_s` until `stop`."""
    while not stop.is_set():
        o.publish(o.published + 1)
        await asyncio.sleep(every_s)


def _dlq_open(config: Path) -> list[object]:
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "dlq", "list", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def test_a_channel_down_past_the_old_give_up_time_loses_and_repeats_nothing(
    outage: Outage,
) -> None:
    """The webhook answers 503 for 1.5 times the old give-up time while items keep arriving:
    /metrics and the page say it is down, the health channel is told once each way, /readyz
    stays 200; once it is back every item is delivered exactly once, the waiting ones in the
    order they waited, and the DLQ is empty."""
    o = outage
    await o.monitor.start()
    await eventually(lambda: _ok(o.monitor, "/readyz"), 30)
    stop = asyncio.Event()
    arriving = asyncio.create_task(_arrive(o, stop))
    try:
        await eventually(lambda: len(o.delivered()) >= 2, 30)
        o.receiver.always = 503
        down_at = asyncio.get_running_loop().time()
        await eventually(lambda: _value(o.channel_up(), 0.0), OLD_GIVE_UP_S + 30)
        status, page = await o.monitor.get("/")
        assert 200 == status
        assert "hook: down" in page
        assert "waiting to go out" in page or "alerts waiting" in page or "alert waiting" in page
        assert 200 == (await o.monitor.get("/readyz"))[0]  # a channel down is not the service
        left = 1.5 * OLD_GIVE_UP_S - (asyncio.get_running_loop().time() - down_at)
        await asyncio.sleep(max(0.0, left))
        assert [] == _dlq_open(o.monitor.config)
        o.receiver.always = None
        await eventually(lambda: _value(o.channel_up(), 1.0), 90)
    finally:
        stop.set()
        await arriving
    last = o.published
    await eventually(lambda: len(o.delivered()) >= last, 90, describe=lambda: _missing(o, last))
    await asyncio.sleep(3)  # nothing more may arrive
    delivered = o.delivered()
    assert {str(n) for n in range(last)} <= set(delivered), _missing(o, last)
    assert [] == [a for a, n in delivered.items() if n > 1], "delivered twice"
    assert [] == _dlq_open(o.monitor.config)
    logs = o.monitor.stderr()
    waited = _logged(logs, "alert_waits_for_channel")
    assert len(waited) >= 5, "alerts waited for the channel"
    drained = _logged(logs, "waiting_alert_delivered")
    assert drained == [a for a in dict.fromkeys(waited) if a in set(drained)], "out of order"
    sent = [alert for _, alert, status in o.answers() if status == 200]
    where = [i for i, alert in enumerate(sent) if alert in set(waited)]
    overtook = [a for a in sent[min(where) : max(where) + 1] if a not in set(waited)]
    assert [] == overtook, "a new alert went out before the ones waiting"
    subjects = [str(m["Subject"]) for m in o.mailbox.messages]  # type: ignore[attr-defined]
    assert 1 == sum("Channel hook is down" in s for s in subjects), subjects
    assert 1 == sum("Channel hook is back" in s for s in subjects), subjects
    assert "Traceback" not in logs
    assert 0 == await o.monitor.stop(timeout_s=20)


async def test_a_flapping_channel_loses_and_repeats_nothing(outage: Outage) -> None:
    """The webhook fails every other request for a while: every item still arrives exactly
    once, and nothing is dead-lettered."""
    o = outage
    await o.monitor.start()
    await eventually(lambda: _ok(o.monitor, "/readyz"), 30)
    stop = asyncio.Event()
    arriving = asyncio.create_task(_arrive(o, stop, every_s=0.3))
    o.receiver.plan = [503, 200] * 20 + [503] * 6  # flapping, then down once
    await asyncio.sleep(12)
    stop.set()
    await arriving
    last = o.published
    await eventually(lambda: len(o.delivered()) >= last, 120, describe=lambda: _missing(o, last))
    await asyncio.sleep(3)
    delivered = o.delivered()
    assert [] == [a for a, n in delivered.items() if n > 1], "delivered twice"
    assert {str(n) for n in range(last)} <= set(delivered)
    assert [] == _dlq_open(o.monitor.config)
    assert "Traceback" not in o.monitor.stderr()


def _logged(logs: str, event: str) -> list[str]:
    """The alert ids of the log lines (JSON) of `event`, in order."""
    found = []
    for line in logs.splitlines():
        if f'"{event}"' in line:
            found.append(json.loads(line)["alert_id"])
    return found


def _missing(o: Outage, last: int) -> str:
    got = {int(n) for n in o.delivered()}
    return f"missing {sorted(set(range(last)) - got)}; answers {o.answers()[-20:]}"


async def _ok(monitor: MonitorProcess, path: str) -> bool:
    return (await monitor.get(path))[0] == 200


async def _value(reading: Awaitable[float], wanted: float) -> bool:
    return await reading == wanted
