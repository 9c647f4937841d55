"""Hostile requests to the console (issue 34): a cross-site form, a form without or with a
wrong csrf, no token beyond loopback, huge bodies, `../` and control characters in ids, and
markup in a watch's YAML or a dead letter's title rendered escaped."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from monitor.status.guard import COOKIE, session_value
from tests.status.console_fakes import YAML, Fakes, console_app, console_of, with_status_page
from tests.support.servers import serve

TOKEN = "console-token-0123456789"  # noqa: S105 - a test's
COOKIES = {COOKIE: session_value(TOKEN)}


async def csrf_of(s: aiohttp.ClientSession, base: str) -> str:
    async with s.get(base + "/watches/war") as page:
        text = await page.text()
    return text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize(
    ("headers", "good_csrf"),
    [
        ({"Origin": "https://evil.test"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, True),
        ({"Origin": "null"}, True),
        ({}, False),
    ],
)
async def test_a_forged_form_cannot_act(headers: dict[str, str], good_csrf: bool) -> None:
    fakes = Fakes()
    async with (
        serve(console_app(console_of(fakes), TOKEN)) as base,
        aiohttp.ClientSession(cookies=COOKIES) as s,
    ):
        csrf = await csrf_of(s, base) if good_csrf else "0" * 64
        form = {"csrf": csrf, "until": "2h"}
        async with s.post(base + "/-/watches/war/mute", data=form, headers=headers) as r:
            assert 403 == r.status
        async with s.post(base + "/-/watches/war/mute", data={"until": "2h"}) as r:
            assert 403 == r.status  # no csrf at all
    assert {} == fakes.silences


async def test_no_token_beyond_loopback_refuses_and_the_page_says_how() -> None:
    fakes = Fakes()
    async with (
        serve(console_app(console_of(fakes), None, host="0.0.0.0")) as base,  # noqa: S104
        aiohttp.ClientSession() as s,
    ):
        async with s.post(base + "/-/dlq/drop", data={"csrf": "0" * 64, "all": "1"}) as r:
            assert 403 == r.status
            assert "http.token" in await r.text()
        async with s.get(base + "/watches/war") as page:
            assert 403 == page.status
            text = await page.text()
        assert "Set http.token" in text
        assert "belarus" not in text.lower()  # the watch's YAML is not shown
        for path in ("/-/dlq", "/-/alerts", "/-/watches/war", "/-/mutes", "/-/articles/a1/watch"):
            async with s.get(base + path) as r:
                assert (path, 403) == (path, r.status)
                assert "http.token" in (await r.json())["error"]
    assert [] == fakes.calls  # nothing read, nothing done


async def test_huge_bodies_and_odd_ids_are_refused() -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with serve(console_app(console_of(Fakes()), TOKEN)) as base, aiohttp.ClientSession() as s:
        big = {"yaml": "x" * (600 * 1024)}
        async with s.put(base + "/-/watches/war", json=big, headers=headers) as r:
            assert 413 == r.status
        for bad in ("..%2F..%2Fetc", "a%0Ab", "a%00", "%2e%2e", "a..b"):
            async with s.post(base + f"/-/feeds/{bad}/poll", json={}, headers=headers) as r:
                assert r.status == 404, bad


async def test_markup_from_a_watch_or_a_letter_is_escaped() -> None:
    fakes = Fakes()
    fakes.source = lambda rule_id: {  # type: ignore[method-assign]
        "id": "war", "file": "w.yaml", "line": 1, "mode": "live",
        "yaml": YAML + "# </textarea><script>alert(1)</script>\n",
    }  # fmt: skip
    async with (
        serve(console_app(console_of(fakes), TOKEN)) as base,
        aiohttp.ClientSession(cookies=COOKIES) as s,
        s.get(base + "/watches/war") as page,
    ):
        text = await page.text()
    assert "<script>" not in text
    assert "&lt;/textarea&gt;&lt;script&gt;" in text
    assert "&lt;b&gt;stored&lt;/b&gt;" in text


async def test_a_new_watch_s_article_and_a_candidate_s_title_are_checked_and_escaped() -> None:
    fakes = Fakes()
    fakes.proposed = "id: like-a1\n# </textarea><script>alert(1)</script>\nmatch: {any: [x]}\n"
    async with (
        serve(console_app(console_of(fakes), TOKEN)) as base,
        aiohttp.ClientSession(cookies=COOKIES) as s,
    ):
        for bad in ("..%2F..%2Fetc", "a%0Ab", "", "zz"):
            async with s.get(base + f"/watches/new?article={bad}") as r:
                assert 404 == r.status, bad
        async with s.get(base + "/watches/new?article=a1") as r:
            text = await r.text()
        assert "<script>" not in text
        assert "&lt;/textarea&gt;&lt;script&gt;" in text
        csrf = await csrf_of(s, base)
        form = {"csrf": csrf, "url": "https://x.test/", "back": "/"}
        async with s.post(base + "/-/feeds", data=form) as r:
            text = await r.text()
        assert "&lt;i&gt;T&lt;/i&gt;" in text
        assert "<i>T</i>" not in text


class Broken:
    """A part with a bug: every call raises something no action expects."""

    async def poll_now(self, feed_id: str, who: object) -> dict[str, object]:
        raise KeyError("a bug")

    async def search(self, **_: object) -> list[dict[str, object]]:
        raise ZeroDivisionError


async def test_a_bug_in_a_part_is_a_logged_500_not_a_bare_trouble_page(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An action whose part raises an unexpected error answers 500 saying which action failed
    (JSON for a script), and logs it with its traceback; the listener keeps serving."""
    console = console_of(Fakes())
    console.polls = Broken()
    console.history = Broken()
    async with serve(console_app(console, None)) as base, aiohttp.ClientSession() as s:
        async with s.post(base + "/-/feeds/world/poll", json={}) as r:
            assert 500 == r.status
            assert "feed_poll failed: KeyError" in (await r.json())["error"]
        async with s.get(base + "/-/alerts") as r:
            assert 500 == r.status
            assert "ZeroDivisionError" in (await r.json())["error"]
        async with s.get(base + "/healthz") as r:
            assert 200 == r.status
    logged = capsys.readouterr()
    said = logged.out + logged.err
    assert "console_action_failed" in said
    assert "console_read_failed" in said
    assert "Traceback" in said or "KeyError" in said


class Away:
    """Parts whose store is away: one raises as a broker gone does, one never answers."""

    async def active(self) -> list[object]:
        raise OSError("connection refused")

    async def letters(self) -> list[dict[str, object]]:
        await asyncio.sleep(3600)
        return []

    async def search(self, **_: object) -> list[dict[str, object]]:
        raise RuntimeError("topic gone")


async def test_the_status_page_shows_while_its_stores_are_away() -> None:
    """The broker stopped: reading the silences fails, the dead letters hang, the history
    raises. The page still answers (within the parts' 3 s), saying what it could not read
    (it answered 500 while the broker was down, when it is most needed)."""
    console = console_of(Fakes())
    console.silences = console.letters = console.history = Away()  # type: ignore[assignment]
    app = with_status_page(console_app(console, None), None)
    async with (
        serve(app) as base,
        aiohttp.ClientSession() as s,
        asyncio.timeout(10),
        s.get(base + "/") as r,
    ):
        assert 200 == r.status
        text = await r.text()
    assert "silences could not be read" in text
    assert "dead letters could not be read within 3s" in text
    assert "alert history could not be read" in text
    async with (  # a watch's page too: the editor shown, the silences said unread
        serve(app) as base,
        aiohttp.ClientSession() as s,
        s.get(base + "/watches/war") as r,
    ):
        assert 200 == r.status
        page = await r.text()
    assert 'name="yaml"' in page
    assert "silences could not be read" in page
