"""Network and HTTP failures worded for people, from real failures on 127.0.0.1 (and `.invalid`)."""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from monitor.feeds.client import Client
from monitor.feeds.settings import PollerConfig
from monitor.kernel.errors import FeedFetchError
from monitor.kernel.neterrors import NetProblem, describe_error, describe_status, printable
from tests.support.netservers import raw_server, tls_server
from tests.support.servers import free_port

CONFIG = PollerConfig(timeout_s=0.5, host_delay_s=0.0)


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, CONFIG)


async def _failure(client: Client, url: str) -> NetProblem:
    with pytest.raises(FeedFetchError) as caught:
        await client.get(url, {})
    assert caught.value.problem is not None
    assert str(caught.value) == caught.value.problem.words()
    return caught.value.problem


async def test_a_closed_port_is_connection_refused_with_its_errno(client: Client) -> None:
    """Nothing listening: host:port, "connection refused" and errno 111 (ECONNREFUSED)."""
    port = free_port()
    problem = await _failure(client, f"http://127.0.0.1:{port}/feed")
    words = f"cannot connect to 127.0.0.1:{port} (connection refused, errno {errno.ECONNREFUSED})"
    assert words == problem.words()
    assert problem.unreachable
    assert problem.raw.startswith("ClientConnectorError: Cannot connect to host 127.0.0.1")


async def test_a_name_under_invalid_is_a_dns_failure(client: Client) -> None:
    """A name that cannot resolve (RFC 6761 `.invalid`): "DNS lookup failed", the host and the
    scheme's default port, and the resolver's error code."""
    problem = await _failure(client, "https://feeds.example.invalid/rss")
    assert "dns" == problem.kind
    assert problem.words().startswith(
        "cannot connect to feeds.example.invalid:443 (DNS lookup failed"
    )
    assert problem.errno is not None
    assert problem.words().endswith(f", errno {problem.errno})")
    assert problem.unreachable


async def test_a_server_that_never_answers_times_out(client: Client) -> None:
    """A server that takes the request and never answers: "no answer from", the limit in s."""
    async with raw_server(None) as base:
        problem = await _failure(client, base + "/feed")
    port = int(base.rsplit(":", 1)[1])
    assert f"no answer from 127.0.0.1:{port} (timed out after 0.5s)" == problem.words()
    assert not problem.unreachable


async def test_a_self_signed_certificate_is_not_trusted(client: Client, tmp_path: Path) -> None:
    """TLS with a certificate no authority signed: "TLS certificate not trusted" and why."""
    async with tls_server(tmp_path) as base:
        problem = await _failure(client, base + "/feed")
    port = int(base.rsplit(":", 1)[1])
    assert (
        f"cannot connect to 127.0.0.1:{port} (TLS certificate not trusted: "
        "self-signed certificate)" == problem.words()
    )
    assert "tls" == problem.kind
    assert not problem.unreachable  # the host answered: a certificate to fix, not a network


async def test_http_503_names_the_host_and_the_status() -> None:
    """An HTTP answer that is a failure: the host:port answered HTTP 503 and its reason."""
    async with (
        raw_server(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n") as base,
        aiohttp.ClientSession() as session,
        session.get(base + "/feed") as resp,
    ):
        problem = describe_status(resp.status, resp.reason or "", url=str(resp.url))
    port = int(base.rsplit(":", 1)[1])
    assert f"127.0.0.1:{port} answered HTTP 503 Service Unavailable" == problem.words()
    assert problem.connected


def test_a_wrapped_error_is_read_at_its_root() -> None:
    """A monitor error raised from the library's is worded by the library's (its cause)."""
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
        except OSError as exc:
            raise FeedFetchError("wrapped") from exc
    except FeedFetchError as outer:
        problem = describe_error(outer, url="http://[::1]:8080/x")
    assert "cannot connect to [::1]:8080 (connection refused, errno 111)" == problem.words()
    assert "ConnectionRefusedError: [Errno 111] refused" == problem.raw


def test_printable_drops_escape_codes_and_newlines() -> None:
    """Control characters (ESC, CSI, newlines) become spaces: what remains is one plain line."""
    assert "[31mred [0m x" == printable("\x1b[31mred\x1b[0m\r\n\x9bx")
