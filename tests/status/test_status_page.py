"""The status page, `GET /`: its boards, its escaping (fuzzed), its sign-in, and the page of a
running service in a real headless chromium, which signs in with the form, with a failing feed,
an alerted seed article and a hostile feed's title on it. The screenshot goes to
tests/artifacts/status-page-signed-in.png (git-ignored); the README's picture, of `monitor demo`,
is taken by tests/status/test_demo_page.py."""

from __future__ import annotations

import asyncio
import dataclasses
import html
from pathlib import Path
from typing import TypeAlias

import lxml.etree
import lxml.html
import markupsafe
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alerts.board import RECENT_ALERTS, RecentAlerts
from monitor.bus.base import Connection
from monitor.feeds.board import FeedBoard, FeedStatus
from monitor.kernel.metrics import make_metrics
from monitor.kernel.models import Alert, Evidence, Story, make_article
from monitor.matching.board import DAY_MS, MatchTally
from monitor.status.guard import FREE_TRIES
from monitor.status.page import (
    ChannelRow,
    FeedRow,
    RulesState,
    StatusView,
    WatchRow,
    ago,
    due,
    render,
)
from monitor.status.routes import COOKIE, add_status_routes
from tests.conftest import ROOT, SEED_FEED
from tests.support.browser import browser
from tests.support.processes import eventually, webhook_service, write_rules
from tests.support.servers import FeedServer, Receiver, free_port, serve

ARTIFACTS = ROOT / "tests" / "artifacts"
NOW = 1_764_500_000_000  # 2025-11-30T10:53:20Z
TOKEN = "status-page-token-0123456789"  # noqa: S105 - a test's


def alert(rule: str, title: str, channel: str, url: str = "https://news.test/a") -> Alert:
    evidence = Evidence(
        kind="entity", value="belarus", field="content", text="Belarus", snippet="…in Belarus…",
        start=0, end=7,
    )  # fmt: skip
    return Alert(
        id=f"{rule}-{channel}",
        channel=channel,
        rule_id=rule,
        description="",
        severity="high",
        article=make_article(id=title, title=title, url=url, feed="world"),
        evidence=(evidence,),
    )


Node: TypeAlias = lxml.etree._Element


def nodes(root: Node, path: str) -> list[Node]:
    """The elements an XPath selects."""
    found = root.xpath(path)
    assert isinstance(found, list)
    return [n for n in found if isinstance(n, lxml.etree._Element)]


def text(root: Node, path: str) -> str:
    """The text of what an XPath selects."""
    return str(root.xpath(f"string({path})"))


# -- the boards ---------------------------------------------------------------------------------


def test_the_tally_keeps_a_week_per_watch_and_the_last_match() -> None:
    tally = MatchTally()
    tally.add(["a", "a", "b"], NOW)
    tally.add(["a"], NOW - DAY_MS)
    tally.add(["a"], NOW - 7 * DAY_MS)  # a week ago: off the chart
    tally.add(["b"], NOW - 2 * DAY_MS)
    week = tally.activity(["a", "b", "c"], NOW)
    assert (0, 0, 0, 0, 0, 1, 2) == week["a"].per_day
    assert (0, 0, 0, 0, 1, 0, 1) == week["b"].per_day
    assert ((0,) * 7, None) == (week["c"].per_day, week["c"].last_ms)
    assert NOW == week["a"].last_ms
    assert (0, 0, 0, 0, 0, 0, 0) == tally.activity(["a"], NOW + 7 * DAY_MS)["a"].per_day


def test_recent_alerts_merge_channels_and_keep_the_newest() -> None:
    recent = RecentAlerts(limit=2)
    recent.settled(alert("r1", "One", "slack"), "delivered", None, NOW)
    recent.settled(alert("r1", "One", "mail"), "dead", "550 no such user", NOW + 1)
    recent.settled(alert("r2", "Two", "slack"), "held", "digest", NOW + 2)
    recent.update("r2", "Two", "slack", "delivered in a digest", None)
    first, second = recent.newest_first()
    assert ("r2", {"slack": ("delivered in a digest", "")}) == (first.rule_id, first.channels)
    assert {"slack": ("delivered", ""), "mail": ("dead", "550 no such user")} == second.channels
    recent.settled(alert("r3", "Three", "slack"), "delivered", None, NOW + 3)
    assert ["r3", "r2"] == [a.rule_id for a in recent.newest_first()]


def test_a_folded_copy_is_a_row_of_its_own_beside_the_alert() -> None:
    """The copy folded into an alerted story does not take the alert's row: the alert keeps its
    title and its channel's `delivered`, the copy is listed as `folded`."""
    recent = RecentAlerts()
    story = Story(id="story-1", articles=())
    original = dataclasses.replace(alert("r", "Seed report", "console"), story=story)
    copy = dataclasses.replace(alert("r", "UPDATE 1-Seed report", "console"), story=story)
    recent.settled(original, "delivered", None, NOW)
    recent.settled(copy, "folded", "a copy of a story already alerted", NOW + 1)
    shown = {a.title: a.channels["console"][0] for a in recent.newest_first()}
    assert {"Seed report": "delivered", "UPDATE 1-Seed report": "folded"} == shown


@pytest.mark.parametrize(
    ("count", "said"),
    [
        (0, None),
        (1, "1 alert since the service started"),
        (2, "2 alerts since the service started"),
        (
            RECENT_ALERTS,
            f"the last {RECENT_ALERTS}: {RECENT_ALERTS} alerts (older ones are not kept)",
        ),
    ],
)
def test_the_recent_alerts_heading_counts_in_words(count: int, said: str | None) -> None:
    """Never "the last 0 since the service started": no count when there is none, "1 alert",
    "N alerts", and "the last N" only when older ones were let go."""
    recent = RecentAlerts()
    for i in range(count):
        recent.settled(alert(f"r{i}", f"Title {i}", "hook"), "delivered", None, NOW + i)
    page = render(dataclasses.replace(view_with("plain"), alerts=recent.newest_first()))
    document = lxml.html.document_fromstring(page)
    words = " ".join(text(document, "//h2[starts-with(., 'Recent alerts')]").split())
    assert words == "Recent alerts" + (f" {said}" if said else "")
    assert "the last 0" not in page


def test_a_feed_keeps_its_last_error_after_it_recovers() -> None:
    board = FeedBoard()
    board.polled("f", result="http_error", reason="HTTP 500", items=None, new=0, at_ms=NOW)
    board.scheduled("f", next_ms=NOW + 2000, failures=1)
    board.polled("f", result="ok", reason="", items=4, new=4, at_ms=NOW + 5000)
    status = board.snapshot()["f"]
    assert (False, "HTTP 500", NOW, 4, 4, 1) == (
        status.failing, status.error, status.error_ms, status.items, status.new_total,
        status.failures,
    )  # fmt: skip
    board.keep_only([])
    assert {} == board.snapshot()


@pytest.mark.parametrize(
    ("offset_ms", "said"),
    [(0, "0s ago"), (-90_000, "2m ago"), (3_600_000, "in 1h"), (-3 * DAY_MS, "3d ago")],
)
def test_times_read_as_people_say_them(offset_ms: int, said: str) -> None:
    assert said == ago(NOW + offset_ms, NOW)


def test_a_poll_whose_time_has_come_is_due_now() -> None:
    assert ("in 2m", "due now", "due now") == (
        due(NOW + 120_000, NOW), due(NOW, NOW), due(NOW - 3000, NOW),
    )  # fmt: skip


# -- escaping -----------------------------------------------------------------------------------


def view_with(text: str) -> StatusView:
    """A page with `text` in every field a feed or a rule file fills."""
    recent = RecentAlerts()
    recent.settled(alert(text or "r", text, "hook", url=text), "dead", text, NOW)
    status = FeedStatus(text or "f", NOW, "http_error", text, NOW, 1, 0, 2, NOW + 1000)
    tally = MatchTally()
    tally.add([text or "r"], NOW)
    return StatusView(
        version="1",
        role="all",
        now_ms=NOW,
        started_ms=NOW - 60_000,
        rules=RulesState(1, NOW, stale=True, problems=[f"watches.yaml:3: {text}"]),
        feeds=[FeedRow(text or "f", "https://feed.test/", 60, status)],
        watches=[
            WatchRow(text or "r", "shadow", text, tally.activity([text or "r"], NOW)[text or "r"])
        ],
        alerts=recent.newest_first(),
        dead_letters={text or "hook": 1},
        bus=Connection(False, NOW / 1000, text),
        channels=[
            ChannelRow(text or "hook", NOW - 5000, text, NOW + 4000, 3),
            ChannelRow("mail", None, "", None, 0),
        ],
    )


def shape(page: str) -> list[str]:
    """The page's elements, in document order."""
    return [element.tag for element in lxml.html.document_fromstring(page).iter()]


PLAIN = shape(render(view_with("plain")))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=40))
def test_no_text_from_a_feed_or_a_rule_file_becomes_markup(text: str) -> None:
    page = render(view_with(text))
    assert PLAIN == shape(page)
    assert str(markupsafe.escape(text)) in page


def test_hostile_text_is_shown_as_text_and_no_link_runs_script() -> None:
    text = '<script>alert(1)</script><img src=x onerror=alert(2)>"'
    page = render(view_with(text))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    document = lxml.html.document_fromstring(page)
    assert [] == nodes(document, "//script | //img | //*[@onerror]")
    hostile = render(view_with("javascript:alert(1)"))
    assert [] == nodes(lxml.html.document_fromstring(hostile), "//a[starts-with(@href, 'java')]")


# -- signing in ---------------------------------------------------------------------------------


async def view() -> StatusView:
    return view_with("feed")


async def client(token: str | None) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    add_status_routes(app, view, token)
    test_client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await test_client.start_server()
    return test_client


async def test_without_a_token_the_page_is_open_and_scripts_are_forbidden() -> None:
    c = await client(None)
    try:
        answer = await c.get("/")
        assert 200 == answer.status
        assert "text/html" == answer.content_type
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert 'id="feeds"' in await answer.text()
    finally:
        await c.close()


async def test_with_a_token_the_page_needs_it_as_bearer_or_the_form_s_cookie() -> None:
    c = await client(TOKEN)
    try:
        answer = await c.get("/")
        assert 401 == answer.status
        body = await answer.text()
        assert 'name="token"' in body
        assert 'id="feeds"' not in body
        wrong = await c.post("/login", data={"token": "guess"}, allow_redirects=False)
        assert (401, True) == (wrong.status, "That is not the token" in await wrong.text())
        assert COOKIE not in wrong.cookies
        assert 200 == (await c.get("/", headers={"Authorization": f"Bearer {TOKEN}"})).status
        assert 401 == (await c.get("/", headers={"Authorization": "Bearer nope"})).status
        signed = await c.post("/login", data={"token": TOKEN}, allow_redirects=False)
        assert (303, "/") == (signed.status, signed.headers["Location"])
        cookie = signed.cookies[COOKIE]
        assert TOKEN not in cookie.value
        assert (True, "Strict") == (bool(cookie["httponly"]), cookie["samesite"])
        page = await c.get("/")  # the client keeps the cookie
        assert 200 == page.status
        c.session.cookie_jar.clear()
        c.session.cookie_jar.update_cookies({COOKIE: "0" * 64})
        assert 401 == (await c.get("/")).status
    finally:
        await c.close()


def test_the_unprotected_listener_is_a_banner_only_when_it_is() -> None:
    assert 'id="exposed"' not in render(view_with("x"))
    warned = render(dataclasses.replace(view_with("x"), exposed="open on 0.0.0.0 <b>x</b>"))
    root = lxml.html.document_fromstring(warned)
    assert 1 == len(nodes(root, '//*[@id="exposed"]'))
    assert "Unprotected: open on 0.0.0.0 <b>x</b>" in text(root, '//*[@id="exposed"]')


async def test_wrong_sign_ins_are_throttled_with_the_form_still_shown() -> None:
    """Past FREE_TRIES wrong tokens the form answers 429 with Retry-After and says why; a
    browser already signed in (the cookie) is not held up by its address's wrong tries."""
    c = await client(TOKEN)
    try:
        signed = await c.post("/login", data={"token": TOKEN}, allow_redirects=False)
        cookie = signed.cookies[COOKIE].value
        c.session.cookie_jar.clear()
        answers = [
            (await c.post("/login", data={"token": "guess"}, allow_redirects=False)).status
            for _ in range(FREE_TRIES + 1)
        ]
        assert [401] * FREE_TRIES + [429] == answers
        throttled = await c.post("/login", data={"token": TOKEN}, allow_redirects=False)
        assert (429, "1") == (throttled.status, throttled.headers["Retry-After"])
        assert "too many wrong tokens" in await throttled.text()
        assert 'name="token"' in await throttled.text()
        assert 429 == (await c.get("/", headers={"Authorization": f"Bearer {TOKEN}"})).status
        assert 200 == (await c.get("/", headers={"Cookie": f"{COOKIE}={cookie}"})).status
    finally:
        await c.close()


# -- a running service, in a real browser -------------------------------------------------------

WATCHES = """\
rules:
  - id: cis-defense
    description: CIS defence cooperation
    match: {any: ["Belousov"]}
  - id: zorblax
    match: {any: ["Zorblax"]}
  - id: quiet-trial
    mode: shadow
    match: {any: ["nothing says this"]}
"""
HOSTILE_TITLE = 'Zorblax <script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


def hostile_feed() -> bytes:
    """A feed whose item title, read as text, is markup (escaped twice: the parser unescapes
    once to text; a title escaped once is read as HTML and stripped to "Zorblax")."""
    title = html.escape(html.escape(HOSTILE_TITLE))
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>h</title>'
        f"<item><title>{title}</title><link>javascript:window.pwned=3</link>"
        "<guid>hostile-1</guid></item></channel></rss>"
    ).encode()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.mark.timeout(300)  # the first run may install chromium
async def test_the_page_of_a_running_service_in_a_real_browser(
    tmp_path: Path, artifacts: Path
) -> None:
    feeds, receiver = FeedServer(), Receiver()
    feeds.feeds.update({"world": SEED_FEED.read_bytes(), "hostile": hostile_feed()})
    async with serve(feeds.app()) as feed_base, serve(receiver.app()) as hook_base:
        feeds.base, receiver.base = feed_base, hook_base
        rules = write_rules(
            tmp_path,
            {
                "world": feeds.url("/feeds/world"),
                "hostile": feeds.url("/feeds/hostile"),
                "down": feeds.url("/status/500"),
            },
            WATCHES,
        )
        port = free_port()
        monitor = webhook_service(tmp_path, receiver.url("/hook"), port, http=f', token: "{TOKEN}"')
        base = f"http://127.0.0.1:{port}"
        await monitor.start()
        try:
            await eventually(lambda: len(receiver.received) == 3, 20, monitor.stderr)
            await eventually(lambda: feeds.count("/status/500") >= 2, 20, monitor.stderr)
            await asyncio.sleep(0.5)  # the second failure's row, written after the answer
            async with browser(tmp_path / "chromium") as page:
                await page.goto(base + "/")
                login = lxml.html.document_fromstring(await page.html())
                assert nodes(login, "//form[@action='/login']//input[@name='token']")
                assert not nodes(login, "//*[@id='feeds']")
                await page.evaluate(
                    f"document.querySelector('#token').value = {TOKEN!r};"
                    "document.querySelector('form').submit()"
                )
                await page.loaded(lambda href: href == base + "/")
                await eventually(
                    lambda: page.evaluate("document.querySelector('#feeds') !== null"), 10
                )
                shown = lxml.html.document_fromstring(await page.html())
                await page.screenshot(artifacts / "status-page-signed-in.png")
                assert await page.evaluate("window.pwned === undefined")

                (rules / "watches.yaml").write_text(WATCHES + "  - id: broken\n    match: [\n")

                async def stale_rules() -> bool:
                    return await monitor.metric("monitor_rules_stale") == 1

                await eventually(stale_rules, 20)
                await page.goto(base + "/")
                stale = lxml.html.document_fromstring(await page.html())
        finally:
            await monitor.stop()

    feed_rows = nodes(shown, "//table[@id='feeds']/tbody/tr")
    assert ["down", "hostile", "world"] == [r.get("data-feed") for r in feed_rows]
    down = feed_rows[0]
    assert "failing" == down.get("class")
    assert "http_error" == text(down, "td[@class='result']")
    assert "HTTP 500" in text(down, "td[contains(@class, 'error')]")
    assert int(text(down, "td[@class='streak']")) >= 1
    world = feed_rows[2]
    assert "" == world.get("class")
    assert text(world, "td[@class='result']") in ("ok", "not_modified")
    assert "5" == text(world, "td[5]")  # items in the document
    assert "5" == text(world, "td[6]")  # new since the start

    watches = {r.get("data-watch"): r for r in nodes(shown, "//table[@id='watches']/tbody/tr")}
    assert {"cis-defense", "zorblax", "quiet-trial"} == set(watches)
    assert "2" == text(watches["cis-defense"], "td[@class='total']")  # two seed articles
    assert 7 == len(watches["cis-defense"].findall(".//rect"))
    assert "shadow" == text(watches["quiet-trial"], "td[2]")
    assert "none this week" in text(watches["quiet-trial"], ".")

    rows = nodes(shown, "//table[@id='alerts']/tbody/tr")
    assert ["cis-defense", "cis-defense", "zorblax"] == sorted(
        str(r.get("data-rule")) for r in rows
    )
    alerts = {r.get("data-rule"): r for r in rows if "Belousov" in text(r, "td[3]") or
              r.get("data-rule") == "zorblax"}  # fmt: skip
    seed = alerts["cis-defense"]
    assert "Belousov" in text(seed, "td[3]")
    assert "hook: delivered" in text(seed, "td[@class='channels']")
    assert "Belousov" in text(seed, "td[contains(@class, 'evidence')]")
    story = text(seed, "td[3]/span[contains(@class, 'story')]")  # why it is in its story
    assert story.startswith("story of 1 article · its first report"), story
    hostile = alerts["zorblax"]
    assert HOSTILE_TITLE in text(hostile, "td[3]")  # as text, not markup
    assert [] == nodes(shown, "//script | //img | //*[@onerror] | //a[starts-with(@href, 'java')]")
    assert "0 open" in text(shown, "//*[@id='dead-letters']")
    assert "ok" == nodes(shown, "//*[@id='rules']")[0].get("class")

    assert "bad" == nodes(stale, "//*[@id='rules']")[0].get("class")
    assert "the last reload failed" in text(stale, "//*[@id='rules']")
    assert "watches.yaml:" in text(stale, "//*[@id='rule-problems']")
    assert (artifacts / "status-page-signed-in.png").read_bytes().startswith(b"\x89PNG")


def test_a_lost_bus_is_said_first_with_since_when_and_why() -> None:
    """Not connected: a line at the top, the time it went (UTC) and the last error, escaped;
    the title says it too. Connected: no line."""
    lost = Connection(False, NOW / 1000 - 30, "KafkaConnectionError: <b>refused</b>")
    page = render(dataclasses.replace(view_with("plain"), bus=lost))
    document = lxml.html.document_fromstring(page)
    line = " ".join(text(document, "//*[@id='bus']").split())
    assert line.startswith(
        "✗ Bus: not connected since 10:52:50 UTC (KafkaConnectionError: <b>refused</b>)"
    ), line
    assert "2025-11-30T10:52:50Z" == nodes(document, "//*[@id='bus']/time")[0].get("datetime")
    assert "<b>refused" not in page
    assert text(document, "//title").startswith("(bus not connected)")
    body = nodes(document, "//body/*")
    assert ["h1", "bus"] == [body[0].tag, body[1].get("id")]
    back = Connection(True, NOW / 1000, None)
    for connected in (back, None):
        shown = lxml.html.document_fromstring(
            render(dataclasses.replace(view_with("plain"), bus=connected))
        )
        assert [] == nodes(shown, "//*[@id='bus']")
        assert "bus" not in text(shown, "//title")


def test_a_channel_down_says_since_when_why_the_next_try_and_what_waits() -> None:
    """A channel down: since when, its last error (escaped), the next try and the alerts
    waiting; a channel up: one word."""
    rows = [
        ChannelRow("hook", NOW - 60_000, "HTTP 503 <i>busy</i>", NOW + 8_000, 12),
        ChannelRow("mail", None, "", None, 0),
    ]
    page = render(dataclasses.replace(view_with("plain"), channels=rows))
    document = lxml.html.document_fromstring(page)
    hook = " ".join(text(document, "//*[@data-channel='hook']").split())
    assert "hook: down since 1m ago (HTTP 503 <i>busy</i>); next try in 8s; 12 alerts" in hook
    assert "<i>busy" not in page
    assert "mail: up" == " ".join(text(document, "//*[@data-channel='mail']").split())


def test_a_role_without_a_part_leaves_its_section_off() -> None:
    page = render(
        StatusView(
            version="1",
            role="matcher",
            now_ms=NOW,
            started_ms=NOW,
            rules=RulesState(0, None, stale=False, problems=()),
            feeds=None,
            watches=[],
            alerts=None,
            dead_letters=None,
        )
    )
    document = lxml.html.document_fromstring(page)
    assert [] == nodes(document, "//*[@id='feeds'] | //*[@id='dead-letters']")
    assert nodes(document, "//*[@id='watches']")


async def test_the_week_survives_a_restart_counted_once(tmp_path: Path) -> None:
    """The chart is read back from the stored matches at start, and what the matcher counts
    after is not counted twice."""
    feeds, receiver = FeedServer(), Receiver()
    feeds.feeds["world"] = SEED_FEED.read_bytes()
    async with serve(feeds.app()) as feed_base, serve(receiver.app()) as hook_base:
        feeds.base, receiver.base = feed_base, hook_base
        write_rules(tmp_path, {"world": feeds.url("/feeds/world")}, WATCHES)
        monitor = webhook_service(tmp_path, receiver.url("/hook"), free_port())
        with monitor.config.open("a") as config:  # the history's read is a debug event
            config.write("log: {level: debug}\n")
        try:
            for _ in range(2):
                await monitor.start()
                await eventually(lambda: len(receiver.received) == 2, 20, monitor.stderr)

                async def counted() -> bool:
                    status, body = await monitor.get("/")
                    page = lxml.html.document_fromstring(body) if status == 200 else None
                    return page is not None and "2" == text(
                        page, "//tr[@data-watch='cis-defense']/td[@class='total']"
                    )

                await eventually(counted, 20, monitor.stderr)
                assert 0 == await monitor.stop()
        finally:
            await monitor.kill()
    assert '"matches": 2, "event": "status_history_read"' in monitor.stderr()


async def test_reading_the_history_gives_up_at_stop(tmp_path: Path) -> None:
    """With a broker that takes connections and never answers, the read is abandoned when the
    service stops (it would otherwise hold the shutdown); nothing is counted."""
    from monitor.service.config import load_config
    from monitor.status.view import seed_tally

    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # answered never, closed at the end

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config_path = tmp_path / "monitor.yaml"
    config_path.write_text(f"bus: {{kind: kafka, bootstrap_servers: '127.0.0.1:{port}'}}\n")
    stop = asyncio.Event()
    tally = MatchTally()
    seeding = asyncio.ensure_future(seed_tally(load_config({}, config_path), tally, NOW, stop))
    try:
        await asyncio.sleep(1)
        assert not seeding.done()  # still waiting for the broker's answer
        stop.set()
        await asyncio.wait_for(seeding, 5)
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()
    assert (0,) * 7 == tally.activity(["r"], NOW)["r"].per_day


def test_a_large_rule_set_lists_the_busiest_watches_and_counts_the_rest() -> None:
    """100,000 watches and 2,000 feeds: the page lists the 100 busiest watches (the most matched
    first) and 300 feeds (the failing first) and says how many more there are."""
    from monitor.feeds.spec import FeedSpec
    from monitor.matching.spec import RuleSpec
    from monitor.status.view import FEED_ROWS, WATCH_ROWS, Sources, build_view

    rules = [RuleSpec(id=f"r{i}", path="w.yaml", line=i) for i in range(100_000)]
    feeds = [
        FeedSpec(id=f"f{i:04}", path="feeds.yaml", line=i, url="https://x.test/")
        for i in range(2000)
    ]
    tally, board = MatchTally(), FeedBoard()
    for i in range(0, 100_000, 500):  # 200 watches matched, r0 the most
        tally.add([f"r{i}"] * (1 + (i == 0) * 5 + (i == 99_500) * 3), NOW)
    board.polled("f1999", result="http_error", reason="HTTP 500", items=None, new=0, at_ms=NOW)
    sources = Sources(
        role="all", metrics=make_metrics(), feeds=lambda: feeds, rules=lambda: rules,
        problems=list, board=board, tally=tally,
    )  # fmt: skip
    view = build_view(sources, NOW)
    assert view.watches is not None
    assert view.feeds is not None
    assert (WATCH_ROWS, 100_000 - WATCH_ROWS) == (len(view.watches), view.watches_more)
    assert ["r0", "r99500"] == [w.id for w in view.watches[:2]]
    assert all(sum(w.activity.per_day) == 1 for w in view.watches[2:])
    assert (FEED_ROWS, 2000 - FEED_ROWS, "f1999") == (
        len(view.feeds), view.feeds_more, view.feeds[0].id,
    )  # fmt: skip
    page = lxml.html.document_fromstring(render(view))
    assert "99900 more watches" in text(page, "//*[@id='watches-more']")
    assert "1700 more feeds" in text(page, "//*[@id='feeds-more']")

    few = build_view(Sources(
        role="all", metrics=make_metrics(), feeds=list, rules=lambda: rules[:3],
        problems=list, tally=tally,
    ), NOW)  # fmt: skip
    assert few.watches is not None
    assert (["r0", "r1", "r2"], 0) == ([w.id for w in few.watches], few.watches_more)
