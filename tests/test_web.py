"""The HTTP listener's POST /-/reload: a token when configured, no cross-site form, and
reloads that coalesce (a real aiohttp server on 127.0.0.1, a real Reloader)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from monitor.errors import Problem
from monitor.matching.compiler import compile_rules
from monitor.matching.loader import load_rules_dir
from monitor.matching.reload import Reloader
from monitor.metrics import make_metrics
from monitor.pipeline import RuleBook
from monitor.web import make_app
from tests.servers import serve

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
