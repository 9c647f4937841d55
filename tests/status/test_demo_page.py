"""The README's status-page picture is `monitor demo`'s page, taken by this test in a real
headless chromium: the demo runs as a user runs it (a subprocess serving its bundled feeds and
watch), the page is checked for what the picture's alt text says, then photographed.

The picture goes to tests/artifacts/status-page.png (git-ignored); with UPDATE_SCREENSHOT=1
(`make screenshot`) to docs/images/status-page.png, the file the README and docs/running.md
show, so the committed picture is always one this test took and checked.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import lxml.html
import pytest

from tests.conftest import ROOT
from tests.status.test_status_page import Node, nodes, text
from tests.support.browser import browser
from tests.support.processes import start_demo
from tests.support.servers import free_port

PICTURE = ROOT / "docs" / "images" / "status-page.png"
ARTIFACT = ROOT / "tests" / "artifacts" / "status-page.png"
# What the picture shows, word for word as the README's and docs/running.md's alt text: the
# test below checks each claim on the page before it takes the picture.
ALT = (
    "The status page of make demo: the sample watch's alert on the seed report, delivered to "
    "the console; the copy from a second feed folded into its story, not sent again; the sport "
    "feed's football story read and not alerted"
)
SEED_TITLE = "Russia's Belousov Pins Strengthening of Army, Regional Stability as CIS Priorities"
DECOY_TITLE = "Local football club wins CIS youth championship"


def picture_path() -> Path:
    """Where the picture goes: the README's with UPDATE_SCREENSHOT=1, else the artifacts."""
    return PICTURE if os.environ.get("UPDATE_SCREENSHOT") == "1" else ARTIFACT


@asynccontextmanager
async def demo(cwd: Path, port: int) -> AsyncIterator[list[str]]:
    """`monitor demo --port PORT`, as a user starts it, until it has said its decoy did not
    alert (its alert and folded copy are on the page by then); stopped with Ctrl-C after."""
    proc = await start_demo(cwd, port)
    assert proc.stdout is not None
    said: list[str] = []

    async def until_the_decoy() -> None:
        assert proc.stdout is not None
        while not said or not said[-1].startswith("NO ALERT"):
            line = (await proc.stdout.readline()).decode()
            assert line, f"the demo ended before its decoy: {said}"
            said.append(line.rstrip("\n"))

    try:
        await asyncio.wait_for(until_the_decoy(), 40)
        yield said
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def test_the_alt_text_is_the_readme_s_and_the_running_page_s() -> None:
    """The README and docs/running.md describe the picture with exactly the claims checked
    below (a change to either is a change to the test)."""
    assert f"![{ALT}](docs/images/status-page.png)" in (ROOT / "README.md").read_text()
    assert f"![{ALT}](images/status-page.png)" in (ROOT / "docs" / "running.md").read_text()


def alert_rows(page: Node) -> dict[str, Node]:
    """The recent alerts' rows by the title of their article."""
    rows = nodes(page, "//table[@id='alerts']/tbody/tr")
    return {text(r, "td[3]/a").strip(): r for r in rows}


@pytest.mark.timeout(300)  # the first run may install chromium
async def test_the_demo_s_page_shows_the_alert_the_fold_and_no_decoy(tmp_path: Path) -> None:
    """The page of `monitor demo`: its three feeds read, one alert (the seed report, delivered
    to the console), its copy from the other feed folded into its story (not sent), the
    football decoy on the sport feed not alerted; then its picture."""
    port = free_port()
    picture = picture_path()
    picture.parent.mkdir(exist_ok=True)
    async with demo(tmp_path, port) as said, browser(tmp_path / "chromium") as page:
        await page.goto(f"http://127.0.0.1:{port}/")
        shown = lxml.html.document_fromstring(await page.html())
        await page.screenshot(picture)

    assert any(line.startswith("ALERT ") for line in said), said
    feeds = {r.get("data-feed"): r for r in nodes(shown, "//table[@id='feeds']/tbody/tr")}
    assert {"sport", "wire", "world"} == set(feeds)
    for feed, row in feeds.items():
        assert "ok" == text(row, "td[@class='result']"), feed
        assert "failing" != row.get("class"), feed
    assert "2" == text(feeds["sport"], "td[5]")  # the decoy was read with the other sport item

    rows = alert_rows(shown)
    assert {SEED_TITLE, f"UPDATE 1-{SEED_TITLE}"} == set(rows), list(rows)
    # whichever feed is polled first (jitter) founds the story: that copy alerts, the other folds
    by_state = {text(r, "td[@class='channels']").strip(): r for r in rows.values()}
    assert {"console: delivered", "console: folded"} == set(by_state), list(by_state)
    alerted, folded = by_state["console: delivered"], by_state["console: folded"]
    assert {"world", "wire"} == {
        text(r, "td[3]/span[@class='muted small']") for r in (alerted, folded)
    }
    assert {"cis-defense-cooperation"} == {r.get("data-rule") for r in rows.values()}
    assert "story of 1 article · its first report" == text(
        alerted, "td[3]/span[contains(@class, 'story')]"
    )
    # the copy names the report it repeats, by title and feed, in words (no shingles, no id)
    why = text(folded, "td[3]/span[contains(@class, 'story')]")
    original = text(alerted, "td[3]/a").strip()
    source = text(alerted, "td[3]/span[@class='muted small']")
    assert why.startswith(f"story of 2 articles · the same report as “{original[:60]}"), why
    assert f"” from {source} (" in why, why
    assert re.search(r"\(\d+% of its text alike(; both give [^)]*)?\)$", why), why
    assert "shingles" not in why
    assert "football" not in text(shown, "//table[@id='alerts']").lower()
    assert DECOY_TITLE not in lxml.html.tostring(shown, encoding="unicode")
    heading = " ".join(text(shown, "//h2[starts-with(., 'Recent alerts')]").split())
    assert "Recent alerts 1 alert, 1 copy folded into its story, since the service started" == (
        heading
    )
    assert "0 open." == text(shown, "//*[@id='dead-letters']").strip()
    assert "✓ 1 watch in force, loaded" in " ".join(text(shown, "//*[@id='rules']").split())
    assert re.fullmatch(rb"\x89PNG.*", picture.read_bytes()[:8], re.DOTALL)
