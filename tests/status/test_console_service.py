"""The console end to end: `monitor run` as a subprocess (local bus, `http.token`, a loopback
listener), a real feed server and webhook receiver, and ONE headless chromium session that
signs in and clicks the page's own buttons and forms (issue 34's "Tests"):

poll now changes the feed's row; a mute silences a matching article and ends by itself, and an
article after its end alerts; a channel's test message reaches the receiver; a dead letter (a
400) is retried from the page and delivered once; an edit with a mistake shows its line and
writes nothing; a good edit takes effect and a matching article then alerts; a form of another
origin cannot poll. Then, without the token, every action endpoint answers 401.

The feed is polled every hour, so every poll in the test is one the page asked for. With
UPDATE_SCREENSHOT=1 (`make screenshot`) the console's pictures go to docs/images/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import lxml.html
import pytest

from tests.status.browsing import act, forging_page, tokened_service, typed
from tests.status.screens import CONSOLE_PICTURE, LETTERS_PICTURE, WATCH_PICTURE, shoot
from tests.support.browser import Page, browser
from tests.support.processes import MonitorProcess, eventually
from tests.support.servers import FeedServer, Receiver, rss, serve

TOKEN = "service-console-token-0123"  # noqa: S105 - a test's
WATCHES = (
    "# the watches of the console's test\n"
    "rules:\n"
    "  - id: war\n"
    "    description: war news near Belarus\n"
    "    match: {any: [Belarus]}\n"
)
CALM = "Calm day at the lake"
MUTED = "Troops gather near Belarus"
AFTER = "Belarus closes its border crossings"
LETTER = "Army drills announced in Belarus"
EDITED = "Talks open in Minsk on the ceasefire"
# (method, path, JSON body) of every action: refused without the token
ACTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/-/feeds", {"url": "http://127.0.0.1:9/feed"}),
    ("POST", "/-/feeds/world/poll", {}),
    ("POST", "/-/feeds/world/pause", {}),
    ("POST", "/-/feeds/world/resume", {}),
    ("POST", "/-/watches/war/mute", {"until": "2h", "reason": "x"}),
    ("DELETE", "/-/watches/war/mute", {}),
    ("POST", "/-/watches/war/mode", {"mode": "shadow"}),
    ("POST", "/-/watches/war/test", {"title": "Belarus", "text": "Belarus"}),
    ("POST", "/-/watches/war/backtest", {"days": 7}),
    ("PUT", "/-/watches/war", {"yaml": "id: war\nmatch: {any: [x]}\n"}),
    ("POST", "/-/channels/hook/test", {}),
    ("POST", "/-/dlq/retry", {"all": True}),
    ("POST", "/-/dlq/drop", {"all": True}),
    ("GET", "/-/dlq", {}),
    ("GET", "/-/alerts", {}),
    ("GET", "/-/mutes", {}),
    ("GET", "/-/watches/war", {}),
]


def alerts(receiver: Receiver, status: int = 200) -> list[str]:
    """The titles of the watch's alerts the receiver answered with `status`, in order."""
    titles = []
    for answer in receiver.answered:
        data = json.loads(answer.body)
        if answer.status == status and data["rule"]["id"] == "war":
            titles.append(data["article"]["title"])
    return titles


def channel_tests(receiver: Receiver) -> list[dict[str, Any]]:
    """The channel's test messages the receiver got (an alert of the watch "monitor-test")."""
    bodies = [json.loads(body) for _, body in receiver.received]
    return [b for b in bodies if b["rule"]["id"] == "monitor-test"]


async def api(base: str, path: str, token: str | None = TOKEN) -> Any:
    """GET a console endpoint as a script does (with the token by default)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(base + path, headers=headers) as answer:
        assert 200 == answer.status, await answer.text()
        return await answer.json()


async def front(page: Page, base: str) -> lxml.html.HtmlElement:
    """The status page, loaded afresh."""
    await page.goto(base + "/")
    return lxml.html.document_fromstring(await page.html())


async def poll_now(page: Page, base: str) -> str:
    """Click the feed's Poll now on the status page; the sentence the page answers with."""
    await page.goto(base + "/")
    shown = await act(
        page,
        "document.querySelector('tr[data-feed=world] td.actions form button').click()",
        "said=",
        "#said",
    )
    said: str = shown.get_element_by_id("said").text_content()
    return said


def row(shown: lxml.html.HtmlElement) -> list[str]:
    """The feed's row: its cells' texts, without its buttons."""
    (tr,) = shown.xpath("//table[@id='feeds']/tbody/tr[@data-feed='world']")
    return [" ".join(td.text_content().split()) for td in tr.xpath("td[not(@class='actions')]")]


async def edit(page: Page, base: str, yaml: str, shows: str) -> lxml.html.HtmlElement:
    """Type `yaml` into the watch page's editor and click Save."""
    await page.goto(base + "/watches/war")
    return await act(
        page,
        typed("textarea[name=yaml]", yaml) + "document.querySelector('#save').click()",
        "/-/watches/war",
        shows,
    )


@pytest.mark.timeout(300)  # the first run may install chromium
async def test_the_console_of_the_running_service(tmp_path: Path) -> None:
    async with tokened_service(tmp_path, CALM, WATCHES, "1h", TOKEN) as rig:
        feeds, receiver, monitor = rig
        await monitor.start()
        try:
            await walk_through(tmp_path, monitor, feeds, receiver)
            await without_the_token(monitor.http, feeds)
        finally:
            await monitor.kill()


async def walk_through(
    tmp_path: Path, monitor: MonitorProcess, feeds: FeedServer, receiver: Receiver
) -> None:
    """The browser's part: every action through the page's own buttons and forms."""
    base = monitor.http

    async def up() -> bool:
        return (await monitor.get("/readyz"))[0] == 200

    await eventually(up, 30, describe=lambda: monitor.stderr()[-2000:])
    watches_file = tmp_path / "rules" / "watches.yaml"
    async with browser(tmp_path / "chromium") as page:
        await page.goto(base + "/")
        signed = await act(
            page,
            typed("#token", TOKEN) + "document.querySelector('form').submit()",
            base + "/",
            "#watches",
        )
        before = row(signed)

        # poll now: the feed's row changes
        said = await poll_now(page, base)
        assert said.startswith("feed world polled: 1 new (ok)"), said
        after = row(await front(page, base))
        assert after != before
        assert "ok" == after[3], after
        assert 1 <= feeds.count("/feeds/world")

        # a channel's test message reaches the receiver; the page says its answer
        await page.goto(base + "/")
        tested = await act(
            page,
            "document.querySelector('#channel-tests form button').click()",
            "said=",
            "#said",
        )
        assert "hook" in tested.get_element_by_id("said").text_content()
        assert 1 == len(channel_tests(receiver))

        # a mute for a few seconds silences a matching article; an article after its end alerts
        await page.goto(base + "/")
        muted = await act(
            page,
            typed("tr[data-watch=war] input[name=until]", "5s")
            + typed("tr[data-watch=war] input[name=reason]", "drill tonight")
            + "document.querySelector('tr[data-watch=war] form.mute button').click()",
            "said=",
            "#said",
        )
        assert muted.xpath("//ul[@id='silences']/li[@data-watch='war']")
        feeds.feeds["world"] = rss(CALM, MUTED)
        assert ": 1 new (ok)" in await poll_now(page, base)

        async def kept_muted() -> bool:
            found = await api(base, "/-/alerts?watch=war")
            return [("muted", MUTED)] == [(a["state"], a["title"]) for a in found["alerts"]]

        await eventually(kept_muted, 10, describe=lambda: monitor.stderr()[-2000:])
        shown = await front(page, base)
        assert MUTED in shown.get_element_by_id("history").text_content()
        await shoot(page, CONSOLE_PICTURE, ["#feeds", "#console"])

        async def ended() -> bool:
            silences: list[Any] = (await api(base, "/-/mutes"))["silences"]
            return not silences

        await eventually(ended, 10)
        feeds.feeds["world"] = rss(CALM, MUTED, AFTER)
        await poll_now(page, base)
        await eventually(lambda: [AFTER] == alerts(receiver), 10, lambda: receiver.answered)

        # a dead letter (the receiver refuses it: 400) is retried from the page, delivered once
        receiver.plan = [400]
        feeds.feeds["world"] = rss(CALM, MUTED, AFTER, LETTER)
        await poll_now(page, base)

        async def listed() -> bool:
            shown = await front(page, base)
            return bool(shown.xpath("//table[@id='letters']/tbody/tr"))

        await eventually(listed, 10, describe=lambda: monitor.stderr()[-2000:])
        assert [LETTER] == alerts(receiver, 400)
        await shoot(page, LETTERS_PICTURE, ["h2:has(+ #letters)", "#letters", "#letters-all"])
        retried = await act(
            page,
            "document.querySelector('#letters tbody tr form button').click()",
            "said=",
            "#said",
        )
        assert not retried.xpath("//table[@id='letters']/tbody/tr")
        await eventually(lambda: [AFTER, LETTER] == alerts(receiver), 10)

        # Test on the watch page: the evidence marked in the pasted text
        await page.goto(base + "/watches/war")
        tried = await act(
            page,
            typed("textarea[name=text]", "Troops were seen near the Belarus border.")
            + "document.querySelector('#test').click()",
            "/-/watches/war/test",
            "#result",
        )
        assert ["Belarus"] == [
            m.text_content() for m in tried.xpath("//div[@id='result']//mark")
        ], lxml.html.tostring(tried.get_element_by_id("result"))
        await shoot(page, WATCH_PICTURE)

        # an edit with a mistake: its line is shown, nothing is written
        written = watches_file.read_bytes()
        refused = await edit(
            page, base, "id: war\nmatch: {any: [Belarus]}\nmistake: 1\n", "#problems"
        )
        marked = refused.xpath("//pre[@class='lines']/span[@class='badline']")
        assert ["3"] == [s.get("data-line") for s in marked], lxml.html.tostring(refused)
        assert written == watches_file.read_bytes()

        # a good edit: written, reloaded, and a matching article then alerts
        reloads = monitor.stderr().count("rules_reloaded")
        good = "id: war\ndescription: war news near Belarus\nmatch: {any: [Belarus, Minsk]}\n"
        saved = await edit(page, base, good, "#result")
        assert "reloads" in saved.get_element_by_id("result").text_content()
        text = watches_file.read_text()
        assert text.startswith("# the watches of the console's test\n"), text
        assert "Minsk" in text
        await eventually(lambda: monitor.stderr().count("rules_reloaded") > reloads, 10)
        feeds.feeds["world"] = rss(CALM, MUTED, AFTER, LETTER, EDITED)
        await poll_now(page, base)
        await eventually(lambda: [AFTER, LETTER, EDITED] == alerts(receiver), 10)

        # a form of another origin cannot poll
        polls = feeds.count("/feeds/world")
        async with serve(forging_page(base)) as elsewhere:
            forged = await act(
                page, f"location.href = {json.dumps(elsewhere + '/')}", "/-/feeds/", "#refused"
            )
        assert "another site" in forged.get_element_by_id("refused").text_content()
        assert polls == feeds.count("/feeds/world")
    assert [AFTER, LETTER, EDITED] == alerts(receiver)  # each delivered once
    assert 1 == len(channel_tests(receiver))


async def without_the_token(base: str, feeds: FeedServer) -> None:
    """Every action endpoint, called as a script without the token or cookie: 401, and the
    feed is not polled."""
    polls = feeds.count("/feeds/world")
    async with aiohttp.ClientSession() as session:
        for method, path, body in ACTIONS:
            async with session.request(method, base + path, json=body) as answer:
                assert 401 == answer.status, (method, path, await answer.text())
                assert "Bearer" in answer.headers.get("WWW-Authenticate", ""), path
    assert polls == feeds.count("/feeds/world")
