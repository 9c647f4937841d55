"""The console's endpoints (monitor.status.console) over fakes of its parts: the JSON shapes,
the page's form posts (csrf, 303 and the one-line result), and the refusals."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from monitor.status.actions import Console
from monitor.status.consent import OPEN_REFUSAL
from monitor.status.guard import COOKIE, session_value
from tests.status.console_fakes import Fakes, console_app, console_of
from tests.support.servers import serve

TOKEN = "console-token-0123456789"  # noqa: S105 - a test's
BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def call(base: str, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, base + path, allow_redirects=False, **kw) as r,
    ):
        body = await r.text()
        try:
            return r.status, await r.json(content_type=None)
        except ValueError:
            return r.status, body


async def test_the_json_endpoints_answer_their_parts_shapes() -> None:
    fakes = Fakes()
    async with serve(console_app(console_of(fakes), TOKEN)) as base:
        assert (200, "ok") == (
            (s := await call(base, "POST", "/-/feeds/world/poll", json={}, headers=BEARER))[0],
            s[1]["result"],
        )
        assert 404 == (await call(base, "POST", "/-/feeds/nope/poll", json={}, headers=BEARER))[0]
        status, muted = await call(
            base,
            "POST",
            "/-/watches/war/mute",
            json={"until": "2h", "reason": "night"},
            headers=BEARER,
        )
        assert (200, "war", "night", "token") == (
            status,
            muted["watch"],
            muted["reason"],
            muted["who"]["via"],
        )
        assert ["war"] == [
            s["watch"] for s in (await call(base, "GET", "/-/mutes", headers=BEARER))[1]["silences"]
        ]
        status, ended = await call(
            base, "DELETE", "/-/watches/war/mute", headers={**BEARER, "X-Monitor-Request": "1"}
        )
        assert (200, "war") == (status, ended["unmuted"]["watch"])
        assert (
            200 == (await call(base, "POST", "/-/channels/slack/test", json={}, headers=BEARER))[0]
        )
        assert (
            404 == (await call(base, "POST", "/-/channels/teams/test", json={}, headers=BEARER))[0]
        )
        assert (
            "d1" == (await call(base, "GET", "/-/dlq", headers=BEARER))[1]["letters"][0]["alert_id"]
        )
        assert {"d1": "sent"} == (
            await call(base, "POST", "/-/dlq/retry", json={"ids": ["d1"]}, headers=BEARER)
        )[1]["results"]
        assert ["d1"] == (
            await call(base, "POST", "/-/dlq/drop", json={"all": True}, headers=BEARER)
        )[1]["dropped"]
        assert ("drop", None) == fakes.last()
        assert 400 == (await call(base, "POST", "/-/dlq/drop", json={}, headers=BEARER))[0]
        status, found = await call(base, "GET", "/-/alerts?watch=war&since=24h", headers=BEARER)
        assert (200, "war") == (status, found["alerts"][0]["watch"])
        assert 400 == (await call(base, "GET", "/-/alerts?since=yesterday", headers=BEARER))[0]
        assert "war" == (await call(base, "GET", "/-/watches/war", headers=BEARER))[1]["id"]
        status, refused = await call(
            base, "PUT", "/-/watches/war", json={"yaml": "mistake"}, headers=BEARER
        )
        assert (422, ["watches.yaml:2: unknown key"]) == (status, refused["problems"])
        assert [] == fakes.saved
        assert (
            200
            == (
                await call(
                    base,
                    "PUT",
                    "/-/watches/war",
                    data="id: war\n",
                    headers={**BEARER, "X-Monitor-Request": "1"},
                )
            )[0]
        )
        status, tried = await call(
            base,
            "POST",
            "/-/watches/war/test",
            json={"title": "t", "text": "in Belarus"},
            headers=BEARER,
        )
        assert (200, True, [["text", 3, 10]]) == (
            status,
            tried["results"][0]["matched"],
            tried["results"][0]["marks"],
        )
        assert (
            200
            == (
                await call(
                    base, "POST", "/-/watches/war/backtest", json={"days": 7}, headers=BEARER
                )
            )[0]
        )
        assert (
            400
            == (
                await call(
                    base, "POST", "/-/watches/war/backtest", json={"days": 9999}, headers=BEARER
                )
            )[0]
        )
        assert (
            "live"
            == (
                await call(
                    base, "POST", "/-/watches/war/mode", json={"mode": "live"}, headers=BEARER
                )
            )[1]["mode"]
        )
        assert 200 == (await call(base, "POST", "/-/feeds/world/pause", json={}, headers=BEARER))[0]
        assert ("enabled", ("world", False)) == fakes.last()
        assert (
            "candidates"
            in (
                await call(
                    base, "POST", "/-/feeds", json={"url": "https://x.test/"}, headers=BEARER
                )
            )[1]
        )
        assert ["belarus"] == (await call(base, "GET", "/-/articles/a1/watch", headers=BEARER))[1][
            "terms"
        ]


async def test_without_the_token_or_the_part_an_action_is_refused() -> None:
    async with serve(console_app(console_of(Fakes()), TOKEN)) as base:
        assert 401 == (await call(base, "POST", "/-/feeds/world/poll", json={}))[0]
        assert 401 == (await call(base, "GET", "/-/dlq"))[0]
        assert 403 == (await call(base, "POST", "/-/feeds/world/poll", data="x", headers=BEARER))[0]
    async with serve(console_app(Console(), TOKEN)) as base:
        status, said = await call(base, "POST", "/-/feeds/world/poll", json={}, headers=BEARER)
        assert (503, "this process does not poll feeds: the poller role does") == (
            status,
            said["error"],
        )
    async with serve(console_app(console_of(Fakes()), None, host="0.0.0.0")) as base:  # noqa: S104
        status, said = await call(base, "POST", "/-/feeds/world/poll", json={})
        assert (403, OPEN_REFUSAL) == (status, said["error"])
    async with serve(console_app(console_of(Fakes()), None)) as base:  # loopback: open
        assert 200 == (await call(base, "POST", "/-/feeds/world/poll", json={}))[0]


async def test_a_form_with_the_pages_csrf_acts_and_says_so_on_the_page() -> None:
    fakes = Fakes()
    cookies = {COOKIE: session_value(TOKEN)}
    async with (
        serve(console_app(console_of(fakes), TOKEN)) as base,
        aiohttp.ClientSession(cookies=cookies) as s,
    ):
        async with s.get(base + "/watches/war") as page:
            body = await page.text()
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', body)
        assert csrf is not None
        form = {"csrf": csrf.group(1), "until": "2h", "reason": "night", "back": "/"}
        async with s.post(base + "/-/watches/war/mute", data=form, allow_redirects=False) as r:
            assert 303 == r.status
            assert r.headers["Location"].startswith("/?said=")
        assert "war" in fakes.silences
        gone = {"csrf": csrf.group(1), "_method": "DELETE", "back": "/watches/war"}
        async with s.post(base + "/-/watches/war/mute", data=gone, allow_redirects=False) as r:
            assert r.headers["Location"].startswith("/watches/war?said=")
        async with s.get(base + r.headers["Location"]) as shown:
            assert "unmuted" in await shown.text()
        assert "war" not in fakes.silences
        saved = {"csrf": csrf.group(1), "_method": "PUT", "yaml": "id: war\nmistake: 1\n"}
        async with s.post(base + "/-/watches/war", data=saved) as r:
            text = await r.text()
            assert 422 == r.status
            assert 'class="badline" data-line="2"' in text
            assert "nothing was written" in text
        tried = {"csrf": csrf.group(1), "title": "t", "text": "news of Belarus today"}
        async with s.post(base + "/-/watches/war/test", data=tried) as r:
            assert "<mark>Belarus</mark>" in await r.text()
    assert [] == fakes.saved


async def test_the_status_page_shows_the_buttons_lists_and_escapes() -> None:
    from monitor.status.page import RulesState, StatusView
    from monitor.status.routes import add_status_routes

    app = console_app(console_of(Fakes()), None)
    view = StatusView("1", "all", 0, 0, RulesState(0, None, False, ()), None, None, None, None)

    async def shown() -> StatusView:
        return view

    add_status_routes(app, shown, None)
    async with serve(app) as base:
        status, text = await call(base, "GET", "/")
    assert 200 == status
    assert 'id="letters"' in text
    assert "&lt;script&gt;x&lt;/script&gt;" in text
    assert 'href="javascript:' not in text
    assert "Retry all" in text
    assert "Send test to slack" in text
    assert 'id="history"' in text
