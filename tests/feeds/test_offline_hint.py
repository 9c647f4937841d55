"""`monitor run` on a machine that cannot reach its feeds says so in one line, with what to do."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.processes import MonitorProcess, console_config, eventually
from tests.support.servers import FeedServer, free_port, serve

SEED = (Path(__file__).parent.parent / "data" / "feeds" / "world-with-seed.rss").read_bytes()


def _service(tmp_path: Path, feeds: dict[str, str]) -> MonitorProcess:
    return MonitorProcess(console_config(tmp_path, feeds), "", tmp_path / "logs")


def _events(text: str, name: str) -> list[dict[str, object]]:
    lines = (json.loads(ln) for ln in text.splitlines() if ln.startswith("{"))
    return [e for e in lines if e.get("event") == name]


async def test_every_feed_unreachable_logs_one_hint(tmp_path: Path) -> None:
    """Every feed's host refusing the connection on the first round: one `feeds_unreachable`
    line saying the feeds cannot be reached, when they are tried again, and that `make demo`
    works offline; the failures go on, the hint is not repeated."""
    closed = {f"feed{i}": f"http://127.0.0.1:{free_port()}/rss" for i in range(2)}
    monitor = _service(tmp_path, closed)
    await monitor.start()
    try:
        await eventually(
            lambda: len(_events(monitor.stderr(), "feed_failed")) >= 6,
            30,
            describe=lambda: monitor.stderr()[-2000:],
        )
    finally:
        await monitor.stop()
    hints = _events(monitor.stderr(), "feeds_unreachable")
    assert 1 == len(hints), monitor.stderr()[-3000:]
    detail = str(hints[0]["detail"])
    assert "none of the 2 feeds can be reached" in detail
    assert "tried again, the first in 1s" in detail
    assert "`make demo`" in detail
    assert "offline" in detail


async def test_one_feed_reached_gives_no_hint(tmp_path: Path) -> None:
    """One feed reached among unreachable ones: its failures are the feeds', not the
    machine's, so no hint."""
    server = FeedServer()
    async with serve(server.app()) as base:
        server.base = base
        server.feeds["world"] = SEED
        feeds = {"world": server.url("/feeds/world"), "gone": f"http://127.0.0.1:{free_port()}/"}
        monitor = _service(tmp_path, feeds)
        await monitor.start()
        try:
            await eventually(
                lambda: len(_events(monitor.stderr(), "feed_failed")) >= 3,
                30,
                describe=lambda: monitor.stderr()[-2000:],
            )
        finally:
            await monitor.stop()
    assert [] == _events(monitor.stderr(), "feeds_unreachable")


async def test_the_hint_comes_when_the_first_poll_fails_not_after_the_spread(
    tmp_path: Path,
) -> None:
    """A 20-second feed (first poll within 2 s) and two hourly ones (first polls spread over
    6 minutes): the first that finds its host unreachable brings the others' forward, so the
    one hint comes within seconds (it came after the last feed's turn: `make run` offline, 27
    s). Without that, both hourly feeds would have to draw a delay under 15 s: 1 in 576."""
    monitor = _service(tmp_path, {})
    lines = [
        f'  - {{id: f{i}, url: "http://127.0.0.1:{free_port()}/", interval: {every}}}\n'
        for i, every in enumerate(["20s", "1h", "1h"])
    ]
    (tmp_path / "rules" / "feeds.yaml").write_text("feeds:\n" + "".join(lines))
    await monitor.start()
    try:
        await eventually(
            lambda: bool(_events(monitor.stderr(), "feeds_unreachable")),
            15,
            describe=lambda: monitor.stderr()[-2000:],
        )
    finally:
        await monitor.stop()
    assert len(_events(monitor.stderr(), "feed_failed")) >= 3, monitor.stderr()[-3000:]
