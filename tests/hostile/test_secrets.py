"""A platform that echoes the request path (a proxy, a self-hosted server) puts the Telegram bot
token of the URL into its refusal. The service, as a subprocess, dead-letters the alert; the
token then appears nowhere: not in the dead letter on the bus nor any other state file, not in
`monitor dlq list`, `--json` or `retry`, not on the status page, not in the log."""

from __future__ import annotations

import textwrap
from pathlib import Path
from urllib.parse import quote

from tests.commands.test_dlq import Cli
from tests.support.platforms import Telegram
from tests.support.processes import MonitorProcess, eventually, write_rules
from tests.support.servers import FeedServer, free_port, rss, serve

WATCHES = "rules:\n  - {id: floods, match: {any: [flood]}, severity: high}\n"
REDACTED_PATH = "(POST /bot[redacted]/sendMessage)"


def leaks(text: str, token: str) -> list[str]:
    """The forms of the token found in `text`."""
    return [form for form in (token, quote(token, safe="")) if form in text]


async def test_an_echoed_bot_token_is_redacted_wherever_the_reason_is_shown(
    tmp_path: Path,
) -> None:
    """Refused with 400 and the path echoed: the reason says where, with the token redacted,
    in the DLQ record, the CLI's three outputs, the status page and the log."""
    platform = Telegram(plan=[400], echo=True)
    token = platform.token
    feeds = FeedServer()
    async with serve(platform.app()) as api, serve(feeds.app()) as feed_base:
        platform.base, feeds.base = api, feed_base
        feeds.feeds["news"] = rss("River flood warning for the lower Rhine")
        write_rules(tmp_path, {"news": feeds.url("/feeds/news")}, WATCHES)
        port = free_port()
        config = tmp_path / "monitor.yaml"
        config.write_text(
            textwrap.dedent(f"""\
            rules_dir: rules
            state_dir: state
            http: {{listen: "127.0.0.1:{port}"}}
            defaults: {{notify: [tg]}}
            channels:
              tg:
                kind: telegram
                bot_token: ${{TG_TOKEN}}
                chat_id: "{platform.chat_id}"
                api_url: "{api}"
            """)
        )
        env = {"TG_TOKEN": token}
        monitor = MonitorProcess(config, f"http://127.0.0.1:{port}", tmp_path / "logs", env=env)
        await monitor.start()
        try:

            async def dead() -> bool:
                labels = {"channel": "tg", "result": "dead"}
                return await monitor.metric("monitor_alerts_total", labels) == 1

            await eventually(dead, 60, lambda: monitor.stderr()[-2000:])
            assert any(token in path for _, path, _, _ in platform.requests)  # it was sent

            status, page = await monitor.get("/")
            assert 200 == status
            assert REDACTED_PATH in page
            assert [] == leaks(page, token)

            cli = Cli(config, env)
            code, table, err = await cli("list")
            assert 0 == code, err
            assert REDACTED_PATH in table
            assert [] == leaks(table + err, token)
            (letter,) = await cli.listed()
            assert REDACTED_PATH in letter["reason"]
            code, as_json, err = await cli("list", "--json")
            assert [] == leaks(as_json + err, token)

            platform.plan = [400]
            code, retried, err = await cli("retry", "--id", str(letter["alert_id"]))
            assert 1 == code, err
            assert (
                f"failed again: Telegram 400: Bad Request: not enough rights {REDACTED_PATH}"
                in (retried)
            )
            assert [] == leaks(retried + err, token)
        finally:
            await monitor.kill()

    for path in sorted((tmp_path / "state").rglob("*")):
        if path.is_file():
            data = path.read_bytes().decode("utf-8", "replace")
            assert [] == leaks(data, token), path
    assert [] == leaks(monitor.stderr() + monitor.stdout(), token)
