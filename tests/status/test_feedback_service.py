"""Feedback links end to end (issue 35): `monitor run` as a subprocess (with `http.token` set,
which the feedback pages do not ask for), a real feed server and webhook receiver, and ONE
headless chromium that opens the verdict's link the webhook carried: the page records nothing, its button records the
verdict, a second POST changes nothing, an altered token is refused; `monitor feedback` then
lists the verdict with its article, after the service stopped."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import cast

import aiohttp
import lxml.html
import pytest

from monitor.alerts.verdicts import NOT_RELEVANT, RELEVANT, FeedbackSigner, Verdict
from tests.status.browsing import act, tokened_service
from tests.support.browser import browser
from tests.support.processes import CHECKOUT, eventually
from tests.support.servers import rss

TOKEN = "feedback-service-token-0123"  # noqa: S105 - a test's
TITLE = "Troops gather near Belarus"


@pytest.mark.timeout(300)  # the first run may install chromium
async def test_a_feedback_link_in_a_real_browser(tmp_path: Path) -> None:
    watches = "rules:\n  - id: war\n    match: {any: [Belarus]}\n"
    async with tokened_service(tmp_path, "Calm day at the lake", watches, "1s", TOKEN) as rig:
        feeds, receiver, monitor = rig
        await monitor.start()
        try:
            await eventually(lambda: "feed_polled" in monitor.stderr(), 30, monitor.stderr)
            feeds.feeds["world"] = rss(
                "Calm day at the lake", TITLE
            )  # the first poll is the baseline: news after it
            await eventually(lambda: bool(receiver.received), 30, lambda: monitor.stderr()[-2000:])
            alert = json.loads(receiver.received[0][1])
            story = (
                alert["story"]["id"]
                if isinstance(alert.get("story"), dict)
                else alert["article"]["id"]
            )
            link = alert["feedback"]["not_relevant"]  # the link the channel carried
            assert link.startswith(f"{monitor.http.rstrip('/')}/feedback/")
            key = (tmp_path / "state" / "feedback.key").read_bytes()
            said = FeedbackSigner(key).read(link.rsplit("/", 1)[1])
            assert said == Verdict("war", story, NOT_RELEVANT)
            async with browser(tmp_path / "chromium") as page:
                await page.goto(link)  # as a chat client's preview would: a GET
                shown = await page.html()
                assert 'id="confirm"' in shown
                assert TITLE in shown
                await page.goto(link)  # still unrecorded: the button is still there
                assert 'id="confirm"' in await page.html()
                done = await act(
                    page, "document.querySelector('#confirm').click()", "/feedback/", "#said"
                )
                assert "Recorded" in done.get_element_by_id("said").text_content()
            async with aiohttp.ClientSession() as s:
                async with s.post(link) as again:
                    assert 200 == again.status
                    assert "already recorded" in await again.text()
                forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
                async with s.post(forged) as bad:
                    assert 404 == bad.status
                async with s.post(link, headers={"Origin": "https://evil.example"}) as other:
                    assert 403 == other.status
                # The status page's buttons post the same signed links: the analyst changes
                # the verdict there (the latest wins).
                bearer = {"Authorization": f"Bearer {TOKEN}"}
                async with s.get(f"{monitor.http.rstrip('/')}/", headers=bearer) as front:
                    shown_page = lxml.html.document_fromstring(await front.text())
                rows = cast(
                    list[lxml.html.HtmlElement],
                    shown_page.xpath("//table[@id='alerts']//tr[@data-rule='war']"),
                )
                (row,) = rows
                forms = cast(
                    list[lxml.html.HtmlElement], row.xpath(".//td[@class='verdict']//form")
                )
                actions = [str(f.get("action")) for f in forms]
                assert 2 == len(actions)
                assert link.endswith(actions[1])  # not relevant: the link the channel carried
                async with s.post(f"{monitor.http.rstrip('/')}{actions[0]}") as relevant:
                    assert "Recorded" in await relevant.text()
        finally:
            await monitor.stop()
    listed = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "monitor",
            "feedback",
            "export",
            "--config",
            str(tmp_path / "monitor.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
    )
    assert 0 == listed.returncode, listed.stderr
    (record,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert ("war", story, RELEVANT) == (record["rule"], record["story"], record["verdict"])
    assert TITLE == record["article"]["title"]
    assert record["article"].get("summary") is not None
