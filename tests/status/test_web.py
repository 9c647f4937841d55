"""The HTTP listener's POST /-/reload: a token when configured, no cross-site form, and
reloads that coalesce (a real aiohttp server on 127.0.0.1, a real Reloader); the Host check,
`http.protect_metrics` and the sign-in throttle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from monitor.kernel.errors import Problem
from monitor.kernel.metrics import make_metrics
from monitor.matching.compiler import compile_rules
from monitor.matching.loader import load_rules_dir
from monitor.matching.reload import Reloader
from monitor.matching.rulebook import RuleBook
from monitor.status.guard import COOKIE, FREE_TRIES, SignInThrottle, session_value
from monitor.status.web import make_app
from tests.support.servers import serve

TOKEN = "s3cret-token-0123456789"  # noqa: S105 - a test token


def make_reloader(tmp_path: Path) -> Reloader:
    rules = tmp_path / "rules"
    (rules / "entities").mkdir(parents=True)
    (rules / "watches.yaml").write_text("rules:\n  - {id: a, match: {any: [alpha]}}\n")
    book = RuleBook(compile_rules(load_rules_dir(rules)))
    return Reloader(rules, book, make_metrics(CollectorRegistry()))


@pytest.fixture
async def listener(tmp_path: Path) -> AsyncIterator[tuple[str, Reloader]]:
    reloader = make_reloader(tmp_path)

    async def reload(reason: str) -> tuple[bool, dict[str, Any]]:
        result = await reloader.reload(reason)
        return result.ok, {"rules": result.rules}

    app = make_app(reloader.metrics, lambda: (True, {}), reload, token=TOKEN)
    async with serve(app) as base:
        yield base, reloader


async def post(url: str, **kwargs: Any) -> int:
    async with aiohttp.ClientSession() as s, s.post(url, **kwargs) as resp:
        return resp.status


BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {}}, 401),
        ({"json": {}, "headers": {"Authorization": "Bearer wrong-token-0123456789"}}, 401),
        ({"json": {}, "headers": {"Authorization": TOKEN}}, 401),
        ({"json": {}, "headers": BEARER}, 200),
        ({"headers": {**BEARER, "X-Monitor-Request": "1"}}, 200),
        ({"data": {"a": "1"}, "headers": BEARER}, 403),  # a form, as a web page can send
        ({"data": "x", "headers": {**BEARER, "Content-Type": "text/plain"}}, 403),
        ({"headers": BEARER}, 403),
    ],
)
async def test_reload_needs_the_token_and_a_request_no_form_can_make(
    listener: tuple[str, Reloader], kwargs: dict[str, Any], status: int
) -> None:
    """Without the bearer token: 401. With it, a form or plain-text POST (what a page in the
    user's browser can send cross-site without a preflight) is 403; JSON or the custom header
    reloads."""
    base, _ = listener
    assert status == await post(base + "/-/reload", **kwargs)


async def test_reload_without_a_token_configured_still_refuses_forms(tmp_path: Path) -> None:
    """With no token set, JSON reloads and a form does not."""
    reloader = make_reloader(tmp_path)

    async def reload(reason: str) -> tuple[bool, dict[str, Any]]:
        result = await reloader.reload(reason)
        return result.ok, {}

    async with serve(make_app(reloader.metrics, lambda: (True, {}), reload)) as base:
        assert 200 == await post(base + "/-/reload", json={})
        assert 403 == await post(base + "/-/reload", data={"a": "1"})


async def test_a_burst_of_reloads_coalesces(tmp_path: Path) -> None:
    """Eight reload requests at once run at most two reloads (one running, one pending);
    every request is answered with a result."""
    reloader = make_reloader(tmp_path)
    results = await asyncio.gather(*(reloader.reload(f"burst {i}") for i in range(8)))
    assert all(r.ok for r in results)
    ran = reloader.metrics.registry.get_sample_value("monitor_rules_reload_total", {"result": "ok"})
    assert ran is not None
    assert 1 <= ran <= 2


async def test_a_reload_that_crashes_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """A fault while reloading (here, in a check) keeps the old rules and shows as a problem,
    as a bad file would: the POST answers 422 and /readyz can show it."""
    reloader = make_reloader(tmp_path)

    def broken(_: object) -> list[Problem]:
        raise RecursionError("maximum recursion depth exceeded")

    reloader.extra_checks = broken
    result = await reloader.reload("test")
    assert not result.ok
    assert 1 == result.rules
    assert ["reload failed: RecursionError (the log has the details)"] == [
        p.message for p in reloader.problems
    ]


# -- the Host check, protect_metrics, the sign-in throttle ---------------------------------------


async def status_of(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.request(method, url, **kwargs) as resp:
        return resp.status, await resp.text()


@pytest.mark.parametrize(
    ("host", "allowed", "status"),
    [
        ("localhost:9464", (), 200),
        ("LOCALHOST.", (), 200),
        ("127.0.0.1:9464", (), 200),
        ("[::1]:9464", (), 200),
        ("10.42.0.17:9464", (), 200),  # a probe or a scraper, by the pod's IP
        ("evil.example", (), 421),
        ("evil.example:9464", (), 421),
        ("localhost.evil.example", (), 421),
        ("monitor.lan:9464", ("monitor.lan",), 200),
        ("Monitor.LAN", ("monitor.lan",), 200),
        ("evil.example", ("monitor.lan",), 421),
        ("evil.example", ("*",), 200),
    ],
)
async def test_the_listener_answers_only_the_host_names_it_serves(
    host: str, allowed: tuple[str, ...], status: int
) -> None:
    """A name not in http.allowed_hosts (a DNS-rebinding page's) is refused on every route,
    with an answer that names the key to set; localhost, IP literals and listed names pass."""
    app = make_app(make_metrics(CollectorRegistry()), lambda: (True, {}), allowed_hosts=allowed)
    async with serve(app) as base:
        for path in ("/healthz", "/metrics", "/readyz"):
            got, body = await status_of(base + path, headers={"Host": host})
            assert status == got, path
            if status == 421:
                assert "http.allowed_hosts" in body


async def test_the_listen_name_is_allowed_by_default() -> None:
    app = make_app(make_metrics(CollectorRegistry()), lambda: (True, {}), listen_host="box.lan")
    async with serve(app) as base:
        assert 200 == (await status_of(base + "/healthz", headers={"Host": "box.lan:9464"}))[0]
        assert 421 == (await status_of(base + "/healthz", headers={"Host": "other.lan"}))[0]


async def test_protect_metrics_asks_the_token_of_metrics_and_readyz_not_healthz() -> None:
    metrics = make_metrics(CollectorRegistry())
    for protect, closed in ((False, 200), (True, 401)):
        app = make_app(metrics, lambda: (True, {}), token=TOKEN, protect_metrics=protect)
        async with serve(app) as base:
            assert 200 == (await status_of(base + "/healthz"))[0]
            for path in ("/metrics", "/readyz"):
                assert closed == (await status_of(base + path))[0], path
                assert 200 == (await status_of(base + path, headers=BEARER))[0], path
                cookie = {"Cookie": f"{COOKIE}={session_value(TOKEN)}"}
                assert 200 == (await status_of(base + path, headers=cookie))[0], path


async def test_wrong_tokens_make_the_address_wait_and_the_right_one_works_after() -> None:
    """Past FREE_TRIES wrong tokens, POST /-/reload answers 429 with Retry-After without
    checking; once the wait is over, the right token is let through and clears the count."""
    metrics = make_metrics(CollectorRegistry())

    async def reload(_: str) -> tuple[bool, dict[str, Any]]:
        return True, {}

    app = make_app(metrics, lambda: (True, {}), reload, token=TOKEN)
    wrong = {"Authorization": "Bearer wrong-token-0123456789"}
    async with serve(app) as base:
        answers = [
            (await status_of(base + "/-/reload", "POST", json={}, headers=wrong))[0]
            for _ in range(FREE_TRIES + 10)
        ]
        assert [401] * FREE_TRIES + [429] * 10 == answers
        async with (
            aiohttp.ClientSession() as s,
            s.post(base + "/-/reload", json={}, headers=BEARER) as resp,
        ):
            assert 429 == resp.status  # the right token too: it is not checked while waiting
            assert "1" == resp.headers["Retry-After"]
        await asyncio.sleep(1.1)
        assert 200 == (await status_of(base + "/-/reload", "POST", json={}, headers=BEARER))[0]
        assert 401 == (await status_of(base + "/-/reload", "POST", json={}, headers=wrong))[0]
    refused = metrics.registry.get_sample_value
    assert FREE_TRIES + 1 == refused("monitor_http_refused_total", {"reason": "token"})
    assert 11 == refused("monitor_http_refused_total", {"reason": "throttled"})


def test_the_throttle_doubles_the_wait_and_forgets_the_oldest_addresses() -> None:
    now = [1000.0]
    throttle = SignInThrottle(make_metrics(CollectorRegistry()), capacity=3, clock=lambda: now[0])
    waits = []
    for _ in range(FREE_TRIES + 3):
        throttle.wrong("192.0.2.1")
        waits.append(throttle.wait_s("192.0.2.1"))
    assert [0.0] * (FREE_TRIES - 1) + [1.0, 2.0, 4.0, 8.0] == waits
    for _ in range(40):
        throttle.wrong("192.0.2.2")
    assert 300.0 == throttle.wait_s("192.0.2.2")  # at most five minutes
    now[0] += 3601
    assert 0.0 == throttle.wait_s("192.0.2.2")  # an hour after the last wrong token
    throttle.right("192.0.2.1")
    assert 0.0 == throttle.wait_s("192.0.2.1")
    for _ in range(FREE_TRIES):
        throttle.wrong("2001:db8::1")
    assert throttle.wait_s("2001:db8::ffff") > 0  # IPv6: the /64 waits together
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        throttle.wrong(address)
    assert 3 == len(throttle)
    assert 0.0 == throttle.wait_s("2001:db8::1")  # the oldest, forgotten
