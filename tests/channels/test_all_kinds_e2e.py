"""The new channel kinds end to end: `monitor run` as a subprocess polls a feed on a local
server and alerts Telegram, ntfy, Matrix and Apprise stand-ins that misbehave on the first
request as each platform can."""

from __future__ import annotations

import html
import textwrap
from contextlib import AsyncExitStack
from pathlib import Path

from tests.support.platforms import AppriseJson, Matrix, Ntfy, Platform, Telegram
from tests.support.processes import MonitorProcess, eventually, write_rules
from tests.support.servers import FeedServer, free_port, rss, serve

WATCHES = "rules:\n  - {id: floods, match: {any: [flood]}, severity: high}\n"
TITLE = 'Flood closes "Danube" roads & bridges; levels < 2013 peak'


async def running(stack: AsyncExitStack, platform: Platform) -> Platform:
    platform.base = await stack.enter_async_context(serve(platform.app()))
    return platform


def config(tmp: Path, tg: Telegram, nt: Ntfy, mx: Matrix, ap: AppriseJson, port: int) -> Path:
    path = tmp / "monitor.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        rules_dir: rules
        state_dir: state
        poller: {{host_delay: 0s, max_age: 3650d}}
        http: {{listen: "127.0.0.1:{port}"}}
        delivery: {{attempts: 3, backoff: 0.2, max_backoff: 0.2}}
        defaults: {{notify: [tg, phone, room, many]}}
        channels:
          tg:
            kind: telegram
            bot_token: "${{TELEGRAM_BOT_TOKEN}}"
            chat_id: "{tg.chat_id}"
            api_url: "{tg.base}"
          phone: {{kind: ntfy, url: "{nt.base}/{nt.topic}", token: "{nt.token}"}}
          room:
            kind: matrix
            homeserver: "{mx.base}"
            room_id: "{mx.room_id}"
            access_token: "{mx.access_token}"
          many:
            kind: apprise
            urls: ["{ap.base.replace("http://", "json://")}/notify"]
            template:
              title: "{{{{ rule.id }}}}: {{{{ article.title }}}}"
              body: "seen in {{{{ article.feed }}}}"
        """)
    )
    return path


async def test_each_new_channel_delivers_once_through_its_platforms_failures(
    tmp_path: Path,
) -> None:
    """Telegram answers 429 retry_after 2 first: the retry comes 2 s later. Matrix takes the
    message and loses the answer: the retry posts nothing new. Apprise's service fails once:
    retried, and its message is the channel's template. ntfy refuses with 400: dead-lettered after one request. Secrets stay out of the
    logs."""
    async with AsyncExitStack() as stack:
        feeds = FeedServer(feeds={"world": rss(html.escape(TITLE))})
        feeds.base = await stack.enter_async_context(serve(feeds.app()))
        tg = await running(stack, Telegram(plan=[429], retry_after=2))
        nt = await running(stack, Ntfy(plan=[400]))
        mx = await running(stack, Matrix(plan=["lost"]))
        ap = await running(stack, AppriseJson(plan=[500]))
        assert isinstance(tg, Telegram)
        assert isinstance(nt, Ntfy)
        assert isinstance(mx, Matrix)
        assert isinstance(ap, AppriseJson)
        write_rules(tmp_path, {"world": feeds.url("/feeds/world")}, WATCHES)
        port = free_port()
        monitor = MonitorProcess(
            config(tmp_path, tg, nt, mx, ap, port),
            f"http://127.0.0.1:{port}",
            tmp_path / "logs",
            env={"TELEGRAM_BOT_TOKEN": tg.token},
        )
        stack.push_async_callback(monitor.kill)
        await monitor.start()

        async def settled() -> bool:
            dead = await monitor.metric(
                "monitor_alerts_total", {"channel": "phone", "result": "dead"}
            )
            done = [len(p.messages) for p in (tg, mx, ap)]
            return dead == 1 and done == [1, 1, 1]

        await eventually(settled, 30, lambda: monitor.stderr()[-3000:])
        (first, *_), (second, *_) = tg.requests
        assert second - first >= 2.0, "Telegram's retry_after was not honoured"
        assert 2 == len(tg.requests)
        assert TITLE in tg.messages[0]["shown"]
        assert (2, 1) == (len(mx.requests), len(mx.messages))
        assert 2 == len(ap.requests)
        assert (f"floods: {TITLE}", "seen in world") == (
            ap.messages[0]["title"],
            ap.messages[0]["message"],
        )
        assert (1, 0) == (len(nt.requests), len(nt.messages))
        assert [] == tg.refused + nt.refused + mx.refused + ap.refused
        assert 1 == await monitor.metric("monitor_dlq_size", {"channel": "phone"})
        logs = monitor.stderr()
        for secret in (tg.token, mx.access_token, str(nt.token)):
            assert secret not in logs
        assert "Telegram 429: Too Many Requests: retry after 2" in logs
