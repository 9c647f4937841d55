"""The console's pages over fakes: the one-line results in words, the add-feed pick list, a new
watch made like an article (Save adds it), and stored articles picked for a test."""

from __future__ import annotations

import re

import aiohttp
import lxml.html
import pytest

from monitor.status.guard import COOKIE, session_value
from monitor.status.results import said, when
from tests.status.console_fakes import Fakes, console_app, console_of, with_status_page
from tests.support.servers import serve

TOKEN = "console-token-0123456789"  # noqa: S105 - a test's
COOKIES = {COOKIE: session_value(TOKEN)}
NOW = 1_765_130_400_000  # 2025-12-07 18:00 UTC
HOUR = 3_600_000


@pytest.mark.parametrize(
    ("action", "answer", "ok", "sentence"),
    [
        ("feed_poll", {"feed": "world", "result": "ok", "new": 3, "error": None,
                       "next_poll_ms": NOW + 42 * 60_000, "by": "p1"}, True,
         "feed world polled: 3 new (ok), next poll at 18:42 UTC"),
        ("feed_poll", {"feed": "world", "result": "http_error", "new": 0,
                       "error": "HTTP 500", "next_poll_ms": None}, False,
         "feed world polled: 0 new (http_error): HTTP 500"),
        ("feed_poll", {"feed": "world", "result": "ok", "new": 0, "error": None,
                       "next_poll_ms": None, "too_old": 3, "max_age_s": 172800}, True,
         "feed world polled: 0 new (ok); 3 items older than max_age (2d) kept back on this "
         "first read (poller.max_age, or the feed's max_age:)"),
        ("feed_pause", {"feed": "world", "enabled": False, "file": "feeds.yaml", "line": 3},
         True, "feed world paused: enabled: false in feeds.yaml:3"),
        ("feed_add", {"candidates": [], "added": {"id": "w", "url": "https://w.test/f",
                                                  "file": "feeds.yaml", "line": 9}}, True,
         "feed w added to feeds.yaml:9: https://w.test/f"),
        ("feed_add", {"candidates": [], "added": None}, False,
         "no feed found at that address: give a feed's URL or a page linking one"),
        ("watch_mute", {"watch": "x", "until_ms": NOW + 3 * HOUR, "reason": "noisy tonight"},
         True, "watch x muted until 21:00 UTC: noisy tonight"),
        ("watch_mute", {"watch": "x", "until_ms": NOW + 48 * HOUR, "reason": ""}, True,
         "watch x muted until 2025-12-09 18:00 UTC"),
        ("watch_unmute", {"watch": "x", "unmuted": None}, True, "watch x was not muted"),
        ("watch_mode", {"id": "x", "mode": "shadow", "file": "watches.yaml"}, True,
         "watch x is now shadow (watches.yaml)"),
        ("channel_test", {"channel": "ops-hook", "ok": True, "status": 200, "answer": "ok"},
         True, "test message sent through ops-hook: HTTP 200 ok"),
        ("channel_test", {"channel": "ops-hook", "ok": False, "status": 403,
                          "answer": "invalid_token", "error": None}, False,
         "test message through ops-hook failed: HTTP 403 invalid_token"),
        ("channel_test", {"channel": "bad", "ok": False, "status": 400,
                          "answer": "bad request: nope", "error": "HTTP 400 Bad Request"}, False,
         "test message through bad failed: HTTP 400 Bad Request: bad request: nope"),
        ("dlq_retry", {"results": {"d1": "sent", "d2": "sent",
                                   "d3": "failed again: HTTP 500"}}, False,
         "2 dead letters sent, 1 failed again: d3: HTTP 500"),
        ("dlq_drop", {"dropped": ["d1"]}, True, "1 dead letter dropped"),
        ("watch_save", {"id": "x", "file": "watches.yaml", "line": 4, "committed": True}, True,
         "watch x saved to watches.yaml:4 (committed)"),
    ],
)  # fmt: skip
def test_each_action_s_result_is_said_in_words(
    action: str, answer: dict[str, object], ok: bool, sentence: str
) -> None:
    assert (ok, sentence) == said(action, "x", answer, NOW)
    assert "{" not in said(action, "x", answer, NOW)[1]


def test_a_time_far_from_now_is_said_with_its_day() -> None:
    assert ("18:00 UTC", "2025-12-08 18:00 UTC") == (when(NOW, NOW), when(NOW + 24 * HOUR, NOW))
    assert "an unknown time" == when(None, NOW)


def doc(text: str) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(text)


async def csrf_of(s: aiohttp.ClientSession, base: str) -> str:
    async with s.get(base + "/watches/war") as page:
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', await page.text())
    assert found is not None
    return found.group(1)


async def test_the_page_says_a_result_in_words_and_adds_a_feed_from_its_pick_list() -> None:
    fakes = Fakes()
    async with (
        serve(with_status_page(console_app(console_of(fakes), TOKEN), TOKEN)) as base,
        aiohttp.ClientSession(cookies=COOKIES) as s,
    ):
        csrf = await csrf_of(s, base)
        muted = {"csrf": csrf, "until": "2h", "reason": "noisy tonight", "back": "/watches/war"}
        async with s.post(base + "/-/watches/war/mute", data=muted) as r:
            shown = doc(await r.text()).get_element_by_id("said").text_content()
        assert re.fullmatch(r"watch war muted until \d\d:\d\d UTC: noisy tonight", shown), shown
        found = {"csrf": csrf, "url": "https://x.test/", "back": "/"}
        async with s.post(base + "/-/feeds", data=found) as r:
            assert 200 == r.status
            page = doc(await r.text())
        rows = page.xpath("//table[@id='candidates']/tbody/tr")
        assert ["https://x.test/rss", "https://x.test/atom"] == [r.get("data-url") for r in rows]
        assert "<i>T</i>" in rows[0].text_content()
        assert "rss" == rows[0].xpath("td[2]")[0].text_content()
        pick = {i.get("name"): i.get("value") for i in rows[1].xpath(".//input")}
        assert pick == {"csrf": csrf, "back": "/", "url": "https://x.test/",
                        "choose": "https://x.test/atom"}  # fmt: skip
        assert ["Add this one"] == [b.text_content() for b in rows[1].xpath(".//button")]
        async with s.post(base + "/-/feeds", data=pick, allow_redirects=False) as r:
            assert 303 == r.status
            location = r.headers["Location"]
        async with s.get(base + location) as r:
            shown = doc(await r.text()).get_element_by_id("said").text_content()
        assert "feed found added to feeds.yaml:9: https://x.test/atom" == shown
    assert ("add", ("https://x.test/", "https://x.test/atom")) in fakes.calls


async def test_a_watch_like_an_article_is_proposed_tested_and_added_by_save() -> None:
    fakes = Fakes()
    async with (
        serve(console_app(console_of(fakes), TOKEN)) as base,
        aiohttp.ClientSession(cookies=COOKIES) as s,
    ):
        async with s.get(base + "/watches/new?article=a1") as r:
            assert 200 == r.status
            page = doc(await r.text())
        assert fakes.proposed == page.xpath("//textarea[@name='yaml']")[0].text_content()
        editor = page.get_element_by_id("editor")
        assert "/-/watches/like-a1" == editor.get("action")
        assert "/-/watches/like-a1/test" == page.get_element_by_id("test").get("formaction")
        assert "new watch like-a1" in page.xpath("//h1")[0].text_content()
        csrf = editor.xpath(".//input[@name='csrf']")[0].get("value")
        tried = {"csrf": csrf, "_method": "PUT", "yaml": fakes.proposed, "text": "in Belarus"}
        async with s.post(base + "/-/watches/like-a1/test", data=tried) as r:
            assert "<mark>Belarus</mark>" in await r.text()
        assert "like-a1" not in fakes.watches  # a test writes nothing
        new = editor.xpath(".//input[@name='new']")[0].get("value")  # the page asks to add it
        saved = {"csrf": csrf, "_method": "PUT", "yaml": fakes.proposed, "new": new}
        async with s.post(base + "/-/watches/like-a1", data=saved) as r:
            assert 200 == r.status
            shown = doc(await r.text()).get_element_by_id("result").text_content()
        assert "watch like-a1 saved to watches.yaml:4; the monitor reloads it." == shown.strip()
        assert fakes.file.endswith(fakes.proposed)
        renamed = fakes.proposed.replace("like-a1", "minsk-watch")  # named by the analyst
        saved = {"csrf": csrf, "_method": "PUT", "yaml": renamed, "new": new}
        async with s.post(base + "/-/watches/like-a1", data=saved) as r:
            assert (200, "/watches/minsk-watch") == (r.status, r.url.path)  # its own page
            said = doc(await r.text()).get_element_by_id("said").text_content()
        assert "watch minsk-watch saved" in said
        assert "minsk-watch" in fakes.watches
        fakes.proposed = fakes.proposed.replace("like-a1", "war")  # an id already taken
        async with s.get(base + "/watches/new?article=a2") as r:
            page = doc(await r.text())
        assert "/-/watches/war-2" == page.get_element_by_id("editor").get("action")
        assert page.xpath("//textarea[@name='yaml']")[0].text_content().startswith("id: war-2\n")


async def test_stored_articles_are_picked_as_checkboxes_and_the_history_links_a_new_watch() -> None:
    fakes = Fakes()
    app = with_status_page(console_app(console_of(fakes), TOKEN), TOKEN)
    async with serve(app) as base, aiohttp.ClientSession(cookies=COOKIES) as s:
        async with s.get(base + "/watches/war") as r:
            page = doc(await r.text())
        boxes = page.xpath("//fieldset[@id='stored']//input[@type='checkbox']")
        assert [("article_ids", "a1"), ("article_ids", "a2")] == [
            (b.get("name"), b.get("value")) for b in boxes
        ]
        assert ("stored", 20) in fakes.calls
        csrf = page.xpath("//input[@name='csrf']")[0].get("value")
        form = [("csrf", csrf), ("article_ids", "a1"), ("article_ids", "a2")]
        async with s.post(base + "/-/watches/war/test", data=form) as r:
            assert 200 == r.status
        tests = [c[1] for c in fakes.calls if c[0] == "test"]
        assert ("a1", "a2") == tests[-1].article_ids
        async with s.get(base + "/") as r:
            home = doc(await r.text())
        links = home.xpath("//table[@id='history']//a[text()='make a watch like this']")
        assert ["/watches/new?article=a1"] == [a.get("href") for a in links]


async def test_the_page_s_own_form_acts_though_its_origin_says_null() -> None:
    """A browser sends the page's own form with `Sec-Fetch-Site: same-origin`; its `Origin` is
    "null" under a no-referrer policy: the browser's word wins, and the page's policy is
    same-origin, so its forms carry their real Origin where no Sec-Fetch-Site is sent."""
    from monitor.status.routes import HEADERS

    assert "same-origin" == HEADERS["Referrer-Policy"]
    fakes = Fakes()
    async with (
        serve(console_app(console_of(fakes), TOKEN)) as base,
        aiohttp.ClientSession(cookies=COOKIES) as s,
    ):
        form = {"csrf": await csrf_of(s, base), "until": "2h", "back": "/watches/war"}
        own = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
        async with s.post(base + "/-/watches/war/mute", data=form, headers=own) as r:
            assert 200 == r.status
    assert "war" in fakes.silences
