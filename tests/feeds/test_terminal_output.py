"""`monitor run` at a terminal speaks to a person: where the status page is, how to stop, one
line per poll round, and each failing feed's host, reason and next try; the JSON log keeps the
raw error beside the words."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.processes import MonitorProcess, console_config, eventually, write_rules
from tests.support.servers import FeedServer, free_port, rss, serve
from tests.support.terminal import TerminalMonitor


def _config(tmp_path: Path, feeds: dict[str, str], port: int, http: str = "") -> Path:
    return console_config(tmp_path, feeds, port=port, http=http)


async def test_a_terminal_shows_the_page_a_round_and_a_failing_feed(tmp_path: Path) -> None:
    """Under a pty: the status page URL with "Ctrl-C to stop", a round summary counting both
    feeds, and the failing feed's line with its host:port, the reason and the next try."""
    server = FeedServer()
    closed, port = free_port(), free_port()
    async with serve(server.app()) as base:
        server.base = base
        feeds = {"world": server.url("/feeds/world"), "down": f"http://127.0.0.1:{closed}/rss"}
        monitor = TerminalMonitor(_config(tmp_path, feeds, port), env={"NO_COLOR": "1"})
        await monitor.start()
        try:
            await monitor.wait_for(f"status page at http://127.0.0.1:{port}/; Ctrl-C to stop")
            await monitor.wait_for("polled 2 feeds: ")
            await monitor.wait_for("feed down: cannot connect to")
        finally:
            await monitor.stop()
    screen = monitor.screen()
    failed = next(ln for ln in screen.splitlines() if "feed down: " in ln)
    assert f"feed down: cannot connect to 127.0.0.1:{closed} (connection refused, errno 111)" in (
        failed
    )
    assert re.search(r"; next try in \d+s, at \d\d:\d\d:\d\d UTC$", failed.rstrip()), failed
    assert "ClientConnectorError" not in screen  # the raw error is the JSON log's
    summary = next(ln for ln in screen.splitlines() if "polled 2 feeds: " in ln)
    assert re.search(
        rf"polled 2 feeds: \d+ new, \d+ matched, \d+ alerts?; 1 failing \(127\.0\.0\.1:{closed}: "
        r"connection refused, next try in \d+s, at \d\d:\d\d:\d\d UTC\)",
        summary,
    ), summary


async def test_the_page_line_says_when_it_asks_for_the_token(tmp_path: Path) -> None:
    """With `http.token` set, the start line says the page asks for it."""
    port = free_port()
    config = _config(tmp_path, {}, port, http=', token: "${T}"')
    monitor = TerminalMonitor(config, env={"T": "a-token-of-sixteen-chars", "NO_COLOR": "1"})
    await monitor.start()
    try:
        await monitor.wait_for(
            f"status page at http://127.0.0.1:{port}/ (it asks for http.token); Ctrl-C to stop"
        )
    finally:
        await monitor.stop()


def _events(text: str, name: str) -> list[dict[str, object]]:
    lines = (json.loads(ln) for ln in text.splitlines() if ln.startswith("{"))
    return [e for e in lines if e.get("event") == name]


async def test_the_json_log_keeps_the_raw_error(tmp_path: Path) -> None:
    """Not on a terminal: `status_page` carries `url`; `feed_failed` the words, the host and
    errno, and the raw error (type and text) in `error`; `poll_round` the counts."""
    closed, port = free_port(), free_port()
    config = _config(tmp_path, {"down": f"http://127.0.0.1:{closed}/rss"}, port)
    monitor = MonitorProcess(config, "", tmp_path / "logs")
    await monitor.start()
    try:
        await eventually(
            lambda: bool(_events(monitor.stderr(), "poll_round")), 30, describe=monitor.stderr
        )
    finally:
        await monitor.stop()
    log = monitor.stderr()
    (page,) = _events(log, "status_page")
    assert f"http://127.0.0.1:{port}/" == page["url"]
    failed = _events(log, "feed_failed")[0]
    assert str(failed["error"]).startswith("ClientConnectorError: Cannot connect to host")
    assert f"127.0.0.1:{closed}" == failed["host"]
    assert 111 == failed["errno"]
    assert "cannot connect to" in str(failed["reason"])
    assert str(failed["next_try"]).endswith("+00:00")
    rounds = _events(log, "poll_round")[0]
    assert {"feeds": 1, "new": 0, "failing": 1, "failing_feeds": ["down"]}.items() <= (
        rounds.items()
    )
    assert isinstance(rounds["matched"], int)
    assert isinstance(rounds["alerts"], int)


async def test_a_round_counts_its_own_alert_and_comes_after_it(tmp_path: Path) -> None:
    """The service's round line waits for its article to be matched and delivered: the alert's
    delivery is on the screen before the line, which counts 1 new, 1 matched, 1 alert (it said 0 alerts,
    and the next round 1, when the line was told as polling ended)."""
    server = FeedServer()
    port = free_port()
    async with serve(server.app()) as base:
        server.base = base
        server.feeds["wire"] = rss("Flood closes Danube roads near Passau")
        config = _config(tmp_path, {"wire": server.url("/feeds/wire")}, port)
        write_rules(
            tmp_path,
            {"wire": server.url("/feeds/wire")},
            "rules:\n  - {id: floods, match: {any: [flood]}, severity: high}\n",
        )
        monitor = TerminalMonitor(config, env={"NO_COLOR": "1"})
        await monitor.start()
        try:
            await monitor.wait_for("polled 1 feed: 1 new")
            await monitor.wait_for("polled 1 feed: 0 new")  # the next round, for its counts
        finally:
            await monitor.stop()
    screen = monitor.screen()
    lines = screen.splitlines()
    first = next(i for i, ln in enumerate(lines) if "polled 1 feed: 1 new" in ln)
    later = next(ln for ln in lines if "polled 1 feed: 0 new" in ln)
    assert "polled 1 feed: 1 new, 1 matched, 1 alert" in lines[first], screen[-3000:]
    assert any("alert_delivered" in ln for ln in lines[:first]), screen[-3000:]
    assert "0 new, 0 matched, 0 alerts" in later, screen[-3000:]
