"""At a terminal `monitor run` speaks in sentences from start to stop: what it started on, a
`--once` pass's outcome with what its exit code means, and its stop; the bookkeeping events (the
status page's history read) stay out of a person's way. `run --help` lists the exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.support.processes import console_config
from tests.support.servers import FeedServer, free_port, serve
from tests.support.terminal import TerminalMonitor

WATCH = "rules:\n  - id: cis\n    match: {any: [CIS]}\n"


def _config(tmp_path: Path, feeds: dict[str, str]) -> Path:
    return console_config(tmp_path, feeds, WATCH)


def _raw_events(screen: str) -> list[str]:
    """The snake_case event names shown bare, where a sentence was due."""
    names = (
        "monitor_started",
        "monitor_stopped",
        "status_history_read",
        "run_once_started",
        "poll_once_done",
        "run_once_incomplete",
        "run_once_done",
        "native_matcher_missing",
    )
    return [n for n in names if n in screen]


async def test_the_service_says_what_it_started_on_and_that_it_stopped(tmp_path: Path) -> None:
    """Start: "monitor started: 1 watch on 1 feed (... matching), config PATH"; stop: "monitor
    stopped"; no bare event name between (the history read is debug)."""
    server = FeedServer()
    async with serve(server.app()) as base:
        server.base = base
        config = _config(tmp_path, {"world": server.url("/feeds/world")})
        monitor = TerminalMonitor(config, env={"NO_COLOR": "1"})
        await monitor.start()
        try:
            await monitor.wait_for("polled 1 feed: ")
        finally:
            assert 0 == await monitor.stop()
    screen = monitor.screen()
    assert "monitor started: 1 watch on 1 feed (" in screen, screen
    assert f"matching), config {config.absolute()}" in screen, screen
    assert "monitor stopped" in screen, screen
    assert [] == _raw_events(screen), screen


async def test_a_failed_pass_says_what_failed_and_what_exit_3_means(tmp_path: Path) -> None:
    """`run --once` with a feed refusing connections ends on one sentence naming the feed and
    the exit code's meaning, not `run_once_incomplete failed_feeds=['down']`."""
    server = FeedServer()
    async with serve(server.app()) as base:
        server.base = base
        feeds = {"world": server.url("/feeds/world"), "down": f"http://127.0.0.1:{free_port()}/"}
        monitor = TerminalMonitor(_config(tmp_path, feeds), {"NO_COLOR": "1"}, ("--once",))
        await monitor.start()
        code = await monitor.exited()
    screen = monitor.screen()
    assert 3 == code, screen
    last = screen.strip().splitlines()[-1]
    assert last.endswith("done, with work left: 1 feed failed (down); exit 3: a feed failed"), last
    assert "polled 2 feeds once: " in screen, screen
    assert [] == _raw_events(screen), screen


async def test_a_good_pass_says_exit_0(tmp_path: Path) -> None:
    """Every feed read and nothing undelivered: "done: every feed read and every alert
    delivered (exit 0)"."""
    server = FeedServer()
    async with serve(server.app()) as base:
        server.base = base
        config = _config(tmp_path, {"world": server.url("/feeds/world")})
        monitor = TerminalMonitor(config, {"NO_COLOR": "1"}, ("--once",))
        await monitor.start()
        code = await monitor.exited()
    screen = monitor.screen()
    assert 0 == code, screen
    assert "done: every feed read and every alert delivered (exit 0)" in screen, screen


def test_run_help_lists_the_exit_codes() -> None:
    """`monitor run --help` ends with the exit codes, 0 to 5, as docs/commands.md has them."""
    shown = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    codes = shown.split("exit codes:", 1)[1]
    for code in range(6):
        assert f"\n  {code}  " in codes, shown
    assert "--once: a feed's poll failed" in codes
