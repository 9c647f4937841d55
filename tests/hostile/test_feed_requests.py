"""Careless or hostile `headers:`, `user_agent:`, `auth:` and `proxy:` in feeds.yaml, hostile
environment values behind them, a server that echoes the token it was sent, and a channel URL
with a line break: each a located problem or a redacted reason, never a traceback, never a
split request, never the secret in a text."""

from __future__ import annotations

import os
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.bus.local import LocalBus
from monitor.feeds.guard import guarded_session
from monitor.feeds.poller import Poller
from monitor.feeds.request import REQUEST_KEYS, env_problems, resolve
from monitor.feeds.settings import PollerConfig
from monitor.feeds.spec import parse_feed_file
from monitor.kernel.errors import ConfigError
from monitor.kernel.located import LocDict, LocList
from monitor.kernel.metrics import make_metrics
from monitor.kernel.redact import REDACTED
from monitor.service.config import load_config
from monitor.store.state import StateStore
from tests.support.servers import serve

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
TOKEN = "tok-3b7f1d09e2"  # noqa: S105 - a test value

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=40)
    | st.sampled_from(["${X}", "${", "a\r\nb", "\x00", "http://[::1", "http://h:0", "Host"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(["basic", "bearer", "username", "password"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)


def _file(extra: dict[str, object]) -> LocDict:
    feed = LocDict({"id": "a", "url": "https://example.org/rss", **extra})
    feed.line = 2
    feeds = LocList([feed])
    feeds.line = 2
    top = LocDict({"feeds": feeds})
    top.line = 1
    return top


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.dictionaries(st.sampled_from(REQUEST_KEYS), values, min_size=1))
def test_any_request_keys_are_located_problems_or_resolvable(extra: dict[str, object]) -> None:
    feeds, problems = parse_feed_file("feeds.yaml", _file(extra))
    if not feeds:
        assert problems
        assert all(p.path == "feeds.yaml" and p.line >= 1 for p in problems)
        return
    assert problems == []
    spec = feeds[0].request
    environ = {name: "v4lue" for name, _ in spec.variables}
    assert env_problems(feeds, environ) == []
    sends = resolve(spec, environ)
    for value in [*sends.headers.values(), *sends.credentials.values()]:
        assert not any(c in value for c in "\r\n\0")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-A": "one\r\nX-Injected: yes"}, "header X-A holds a line break or NUL"),
        ({"X-A": "nul\x00"}, "header X-A holds a line break or NUL"),
        ({"X-A": "x" * 100_000}, "header X-A is 100,000 characters long"),
        ({"X-A\r\nB": "1"}, "is not a valid HTTP header name"),
        ({"Transfer-Encoding": "chunked"}, "header Transfer-Encoding is set by monitor"),
        ({"Host": "169.254.169.254"}, "header Host is set by monitor"),
    ],
)
def test_a_hostile_header_is_a_problem(headers: dict[str, str], message: str) -> None:
    feeds, problems = parse_feed_file("feeds.yaml", _file({"headers": headers}))
    assert feeds == []
    assert [p.line for p in problems] == [2]
    assert message in problems[0].message
    assert len(problems[0].message) < 300  # a huge value is not echoed


def test_a_variable_holding_a_line_break_never_reaches_a_request() -> None:
    feeds, problems = parse_feed_file(
        "feeds.yaml", _file({"auth": {"bearer": "${T}"}, "headers": {"X-K": "${K}"}})
    )
    assert problems == []
    environ = {"T": "abc\r\nX-Injected: 1", "K": "fine-value"}
    found = [(p.line, p.message) for p in env_problems(feeds, environ)]
    assert found == [
        (2, "environment variable T holds a line break or NUL, which would split the request; "
            "it cannot go in a request header"),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="from the environment"):
        resolve(feeds[0].request, environ)


@pytest.fixture
async def poller(tmp_path: Path) -> AsyncIterator[Poller]:
    config = PollerConfig(timeout_s=2.0, host_delay_s=0.0)
    async with (
        LocalBus(tmp_path / "bus.db") as bus,
        StateStore(tmp_path) as state,
        guarded_session() as session,
    ):
        yield Poller(
            config=config,
            session=session,
            state=state,
            bus=bus,
            metrics=make_metrics(),
            environ={"TOKEN": TOKEN, "BAD": "x\r\nX-Injected: 1"},
        )


async def test_a_token_the_server_echoes_is_redacted(poller: Poller) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=401, reason=f"bad {request.headers['Authorization']}")

    app = web.Application()
    app.router.add_get("/feed", echo)
    async with serve(app) as base:
        feeds, _ = parse_feed_file(
            "feeds.yaml", _file({"url": f"{base}/feed", "auth": {"bearer": "${TOKEN}"}})
        )
        result = await poller.poll(feeds[0])
    assert result.result == "http_error"
    assert TOKEN not in result.reason
    assert REDACTED in result.reason
    assert TOKEN not in poller.board.snapshot()["a"].error  # the status page's text


async def test_an_unusable_variable_fails_the_poll_without_a_request(poller: Poller) -> None:
    seen: list[str] = []

    async def feed(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text="")

    app = web.Application()
    app.router.add_get("/feed", feed)
    async with serve(app) as base:
        feeds, _ = parse_feed_file(
            "feeds.yaml",
            _file({"url": f"{base}/feed", "headers": {"X-K": "${BAD}"}, "proxy": "${NOPE}"}),
        )
        result = await poller.poll(feeds[0])
    assert seen == []
    assert result.result == "config"
    assert "environment variable NOPE is not set" in result.reason


@pytest.mark.parametrize("url", ["https://hooks.example/x\nHost: evil", "https://h.example/a b"])
def test_a_channel_url_with_a_line_break_or_space_is_refused(tmp_path: Path, url: str) -> None:
    (tmp_path / "rules").mkdir()
    path = tmp_path / "monitor.yaml"
    path.write_text(
        textwrap.dedent("""\
        rules_dir: rules
        channels:
          hook: {kind: webhook, url: "${HOOK}"}
        """)
    )
    with pytest.raises(ConfigError) as caught:
        load_config({"HOOK": url}, path)
    assert "holds a space, line break or control character" in str(caught.value)
    assert "evil" not in str(caught.value)


PROXY_407 = (
    b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)


async def test_a_proxy_password_written_in_feeds_yaml_is_never_logged(poller: Poller) -> None:
    """`proxy: http://user:PASSWORD@host:port` written as is (as `auth:` may be, and is then
    secret): a proxy refusing it (407 to a CONNECT) makes aiohttp's error quote the proxy URL,
    password and all; the `error` field of `feed_failed` must not show it."""
    from monitor.kernel.redact import redact
    from tests.support.netservers import raw_server

    async with raw_server(PROXY_407) as proxy:
        with_password = proxy.replace("http://", "http://user:hunter2pass@")
        feeds, problems = parse_feed_file(
            "feeds.yaml", _file({"url": "https://127.0.0.1:9/feed", "proxy": with_password})
        )
        assert problems == []
        result = await poller.poll(feeds[0])
    assert result.problem is not None
    assert "407" in result.problem.raw  # aiohttp's text (redacted already, once the
    # process's redactor knows the password: the order of the tests decides)
    assert "hunter2pass" not in redact(result.problem.raw)
    assert "hunter2pass" not in redact(result.reason)
