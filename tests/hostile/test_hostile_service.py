"""The service, as a subprocess, against hostile feeds and careless watches: it stays up,
answers /healthz within a second, keeps alerting from the good feeds and stays within memory."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.processes import (
    ServiceRig,
    eventually,
    service_rig,
    webhook_service,
    write_rules,
)
from tests.support.servers import FeedServer, Receiver, free_port, rss, serve

MAX_RSS_MB = 600  # the service idles near 100 MB; the YAML bomb took it to 850 MB


def billion_laughs(levels: int = 7) -> str:
    """Nested anchors and aliases: a few hundred bytes that stand for 10^levels terms."""
    lines = ['lol: &a0 {any: ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]}']
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &a{level} {{all: [{', '.join([f'*a{level - 1}'] * 10)}]}}")
    lines.append(f"rules:\n  - id: bomb\n    match: *a{levels}")
    return "\n".join(lines) + "\n"


class Hostile(ServiceRig):
    """The service with helpers to check it is still healthy."""

    async def until_alerted(self, rule: str, title: str, timeout_s: float = 30) -> None:
        await eventually(
            lambda: (rule, title) in self.alerted(),
            timeout_s,
            describe=lambda: f"alerts {self.alerted()}; log tail {self.monitor.stderr()[-2000:]}",
        )

    async def assert_healthy(self) -> None:
        """Running, /healthz answering within a second, and within memory."""
        assert self.monitor.proc is not None
        assert self.monitor.proc.returncode is None, self.monitor.stderr()[-3000:]
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=1.0)
        async with (
            aiohttp.ClientSession(timeout=timeout) as s,
            s.get(self.monitor.http + "/healthz") as resp,
        ):
            assert 200 == resp.status
        assert time.monotonic() - started < 1.0
        assert rss_mb(self.monitor.proc.pid) < MAX_RSS_MB


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
async def hostile(tmp_path: Path) -> AsyncIterator[Hostile]:
    watches = "rules:\n  - {id: word, match: {any: [alpha]}}\n"
    async with service_rig(tmp_path, {"good": rss(), "bad": rss()}, watches, Hostile) as rig:
        yield rig


JSON_FEED = b'{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","title":"x",'
HOSTILE_FEEDS = {
    "authors-7": JSON_FEED + b'"authors":7}]}',
    "tags-5": JSON_FEED + b'"tags":5}]}',
    "author-name-5": JSON_FEED + b'"authors":[{"name":5}]}]}',
    "deep-json": b'{"items":[' + b"[" * 100_000,
    "deep-xml": b'<?xml version="1.0"?><rss version="2.0"><channel>' + b"<x>" * 100_000,
}


@pytest.mark.parametrize("name", list(HOSTILE_FEEDS))
async def test_a_malformed_feed_is_that_feeds_failure(hostile: Hostile, name: str) -> None:
    """A feed that crashed the service at every start is polled again and again while the
    good feed alerts; the service never exits."""
    hostile.feeds.feeds["bad"] = HOSTILE_FEEDS[name]
    await hostile.monitor.start()
    await hostile.until_ready()
    hostile.feeds.feeds["good"] = rss("alpha one")
    await hostile.until_alerted("word", "alpha one")
    await eventually(lambda: hostile.feeds.count("/feeds/bad") >= 3, 20)
    await hostile.assert_healthy()
    # One scrape for both counts: the feed is polled again between two scrapes now and then.
    _, text = await hostile.monitor.get("/metrics")
    polled = _sum(text, 'monitor_polls_total{feed="bad"')
    failed = _sum(text, 'monitor_polls_total{feed="bad",result="parse_error"')
    assert polled >= 2
    if name == "deep-json":
        assert failed == polled
    elif name != "deep-xml":  # the item is read, its field of the wrong type ignored
        assert failed == 0


def _sum(metrics: str, prefix: str) -> float:
    """The sum of the samples of one /metrics text whose line starts with `prefix`."""
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in metrics.splitlines() if ln.startswith(prefix))


async def test_a_catastrophic_regex_watch_does_not_freeze_the_service(hostile: Hostile) -> None:
    """`/(a+)+$/` against 40 `a`s and a `!` (days in a backtracking engine): the article is
    matched, the next alerts, and /healthz answers within a second throughout."""
    (hostile.rules / "watches.yaml").write_text(
        'rules:\n  - {id: word, match: {any: [alpha]}}\n  - {id: evil, match: {any: ["/(a+)+$/"]}}\n'
    )
    await hostile.monitor.start()
    await hostile.until_ready()
    hostile.feeds.feeds["bad"] = rss("a" * 40 + "!", "b" * 5000 + "a" * 40 + "!")
    await eventually(lambda: hostile.feeds.count("/feeds/bad") >= 2, 20)
    for _ in range(5):
        await hostile.assert_healthy()
    hostile.feeds.feeds["good"] = rss("alpha two")
    await hostile.until_alerted("word", "alpha two")
    hostile.feeds.feeds["good"] = rss("alpha two", "aaaa")
    await hostile.until_alerted("evil", "aaaa")
    await hostile.assert_healthy()


async def test_a_yaml_bomb_saved_into_the_rules_is_refused(hostile: Hostile) -> None:
    """Nested aliases saved over the watches: the reload fails with FILE:LINE, memory stays
    bounded, and the last good watches keep alerting."""
    await hostile.monitor.start()
    await hostile.until_ready()
    (hostile.rules / "bomb.yaml").write_text(billion_laughs())

    async def refused() -> bool:
        _, body = await hostile.monitor.get("/readyz")
        return "aliases (*name) are not allowed" in body

    await eventually(refused, 20, describe=lambda: hostile.monitor.stderr()[-2000:])
    await hostile.assert_healthy()
    hostile.feeds.feeds["good"] = rss("alpha three")
    await hostile.until_alerted("word", "alpha three")
    await hostile.assert_healthy()


async def test_deep_nesting_saved_into_the_rules_is_a_located_problem(hostile: Hostile) -> None:
    """200 levels of `all:` (a RecursionError and a crashed reload before): a located problem
    in /readyz and on POST /-/reload, and the service goes on."""
    await hostile.monitor.start()
    await hostile.until_ready()
    deep = "{all: [" * 200 + "alpha" + "]}" * 200
    (hostile.rules / "deep.yaml").write_text(f"rules:\n  - id: deep\n    match: {deep}\n")
    async with (
        aiohttp.ClientSession() as s,
        s.post(hostile.monitor.http + "/-/reload", json={}) as resp,
    ):
        body = await resp.text()
    assert 422 == resp.status, body
    # Line 3, and the column where the 65th level opens (a YAML error is located to its column).
    assert re.search(r"deep\.yaml:3:\d+: invalid YAML: nested more than 64 levels deep", body), body
    _, ready = await hostile.monitor.get("/readyz")
    assert re.search(r'"deep\.yaml:3:\d+: invalid YAML: nested more than 64 levels deep"', ready)
    assert str(hostile.tmp) not in ready + body  # no absolute path of the host
    await hostile.assert_healthy()


async def test_once_with_a_malformed_feed_exits_cleanly(hostile: Hostile) -> None:
    """`monitor run --once` reads the good feed, alerts, and exits 0 despite the bad one."""
    hostile.feeds.feeds["bad"] = HOSTILE_FEEDS["authors-7"].replace(b'"x"', b'"alpha bad"')
    hostile.feeds.feeds["good"] = rss("alpha once")
    proc = await hostile.monitor.start("--once")
    assert 0 == await asyncio.wait_for(proc.wait(), timeout=60), hostile.monitor.stderr()[-3000:]
    assert {("word", "alpha once"), ("word", "alpha bad")} == set(hostile.alerted())


async def test_a_feed_redirecting_to_cloud_metadata_is_refused(hostile: Hostile) -> None:
    """The bad feed redirects to 169.254.169.254: each poll is refused (counted), the service
    stays up and the good feed alerts."""
    feed_url = hostile.feeds.url("/redirect?to=http://169.254.169.254/latest/meta-data/")
    write_rules(
        hostile.tmp,
        {"good": hostile.feeds.url("/feeds/good"), "bad": feed_url},
        (hostile.rules / "watches.yaml").read_text(),
    )
    await hostile.monitor.start()
    await hostile.until_ready()
    hostile.feeds.feeds["good"] = rss("alpha four")
    await hostile.until_alerted("word", "alpha four")

    async def refused() -> bool:
        labels = {"feed": "bad", "result": "redirect_refused"}
        return await hostile.monitor.metric("monitor_polls_total", labels) >= 1

    await eventually(refused, 20, describe=lambda: hostile.monitor.stderr()[-2000:])
    await hostile.assert_healthy()


TOKEN = "hostile-test-token-0123456789"  # noqa: S105 - a test token


async def test_reload_needs_the_token_and_refuses_a_cross_site_form(tmp_path: Path) -> None:
    """With `http: {token: ${MONITOR_TOKEN}}`: no token 401, a form 403, JSON with the token
    reloads; the token never reaches the log."""
    feeds, receiver = FeedServer(), Receiver()
    async with serve(feeds.app()) as feed_base, serve(receiver.app()) as hook_base:
        feeds.base, receiver.base = feed_base, hook_base
        (tmp_path / "rules" / "entities").mkdir(parents=True)
        (tmp_path / "rules" / "watches.yaml").write_text("rules:\n  - {id: w, match: {any: [x]}}\n")
        monitor = webhook_service(
            tmp_path,
            receiver.url("/hook"),
            free_port(),
            http=', token: "${MONITOR_TOKEN}"',
            env={"MONITOR_TOKEN": TOKEN},
        )
        rig = Hostile(tmp_path, feeds, receiver, monitor)
        try:
            await monitor.start()
            await rig.until_ready()
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            async with aiohttp.ClientSession() as s:
                for kwargs, status in (
                    ({"json": {}}, 401),
                    ({"data": {"a": "1"}, "headers": bearer}, 403),
                    ({"json": {}, "headers": bearer}, 200),
                ):
                    async with s.post(monitor.http + "/-/reload", **kwargs) as resp:
                        assert status == resp.status, kwargs
            await rig.assert_healthy()
            assert TOKEN not in monitor.stderr()
        finally:
            await monitor.kill()


async def test_markdown_in_an_article_reaches_mattermost_defused(tmp_path: Path) -> None:
    """An article whose text holds a Markdown link and image reaches a Mattermost webhook with
    both escaped, in the title and in the evidence."""
    feeds, receiver = FeedServer(), Receiver()
    async with serve(feeds.app()) as feed_base, serve(receiver.app()) as hook_base:
        feeds.base, receiver.base = feed_base, hook_base
        attack = "alpha [Reset password](http://evil.example/p) ![t](http://evil.example/t.png)"
        feeds.feeds["news"] = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
            f'<title>Breaking</title><guid isPermaLink="false">g1</guid>'
            f"<description>{attack}</description>"
            "</item></channel></rss>"
        ).encode()
        write_rules(
            tmp_path,
            {"news": feeds.url("/feeds/news")},
            "rules:\n  - {id: word, match: {any: [password]}}\n",
        )
        monitor = webhook_service(tmp_path, receiver.url("/hook"), free_port(), kind="mattermost")
        try:
            await monitor.start()
            await eventually(lambda: len(receiver.received) == 1, 30)
            text = json.loads(receiver.received[0][1])["text"]
            assert "password" in text
            # The only links are the monitor's own two feedback links; none from the feed.
            ours = re.escape(monitor.http.rstrip("/")) + r"/feedback/[\w.-]+\)"
            links = re.findall(r"(?<!\\)\]\((\S*)", text)
            assert 2 == len(links), text
            assert all(re.fullmatch(ours, link) for link in links), links
            assert "http://evil" not in text
        finally:
            await monitor.kill()
