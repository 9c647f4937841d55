"""The outbound-address policy (`monitor.feeds.addresses`) applied where it cannot be dodged: on
the addresses aiohttp is about to connect to.

`Client.get` sets `GUARD` for the duration of a fetch; `GuardedConnector` checks every address
its resolver hands over (literal IPs in any form included) against it, so a name that resolved
to a public address when checked and to 127.0.0.1 when connected (DNS rebinding) is refused at
connect time, and checks the peer of every connection it hands out, new or kept alive, before a
request is sent on it. Requests made without a guard (the alert channels' webhooks) are not checked.
The peer of each connection handed out is also put in `PEERS`, when set: `Client.get` learns from
it the address a fetch actually reached, which decides whether a feed is an internal origin.
"""

from __future__ import annotations

import asyncio
import socket
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from monitor.feeds.addresses import Address, Guard, addresses, literal

GUARD: ContextVar[Guard | None] = ContextVar("monitor_fetch_guard", default=None)
PEERS: ContextVar[list[str] | None] = ContextVar("monitor_fetch_peers", default=None)


class AddressRefused(aiohttp.ClientConnectionError):
    """A connection the policy refused; the message says why."""


class GuardedConnector(aiohttp.TCPConnector):
    """A TCPConnector that refuses the addresses the current `GUARD` forbids."""

    async def _resolve_host(self, host: str, port: int, traces: Any = None) -> list[ResolveResult]:
        found = await super()._resolve_host(host, port, traces=traces)
        guard = GUARD.get()
        if guard is None:
            return found
        allowed = [r for r in found if guard.reason(_address(r["host"])) is None]
        if not allowed:
            reason = guard.refusal([_address(r["host"]) for r in found]) or "no address"
            raise AddressRefused(f"{host}: {reason}")
        return allowed

    async def connect(
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
    ) -> Connection:
        """A connection, new or kept alive (opened, perhaps, for an origin that allowed its
        peer), refused before the request is sent when the guard forbids its peer."""
        conn = await super().connect(req, traces, timeout)
        guard = GUARD.get()
        transport = conn.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        if guard is not None and peer:
            reason = guard.refusal([_address(str(peer[0]))])
            if reason is not None:
                conn.close()
                raise AddressRefused(f"{req.url.host}: {reason}")
        peers = PEERS.get()
        if peers is not None and peer:
            peers.append(str(peer[0]))
        return conn


def _address(host: str) -> Address:
    return addresses([host])[0]


def guarded_session(**kwargs: Any) -> aiohttp.ClientSession:
    """A ClientSession whose connections are checked against `GUARD`."""
    return aiohttp.ClientSession(connector=GuardedConnector(), **kwargs)


async def resolve(host: str, port: int | None) -> list[Address]:
    """The addresses `host` stands for: the literal it spells, or what the resolver says
    (raises OSError when it cannot say)."""
    spelled = literal(host)
    if spelled is not None:
        return [spelled]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return addresses([str(info[4][0]) for info in infos])
