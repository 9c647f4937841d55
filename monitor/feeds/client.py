"""How monitor fetches anything from the web: feeds, article pages and robots.txt alike.

One GET with a total timeout, redirects followed by hand (at most `max_redirects`, no other
schemes), gzip and deflate accepted, and a body read only up to `max_body_bytes`. Each request
first takes its host's turn (`monitor.feeds.politeness`). Errors are `FeedFetchError`, with the
reason a person can act on.

Every hop goes through the outbound-address policy (`monitor.feeds.addresses`) for the fetch's
origin: the URL fetched, or the feed whose item or robots.txt it is. Its host is resolved and
checked before the request (so nothing is asked of a refused address), and the session's
`GuardedConnector` (`monitor.feeds.guard`) checks the addresses it connects to (DNS rebinding)
and the peer of a kept-alive connection.

Whether an origin is internal is decided by the addresses it was actually fetched from: the
peer of every hop of a fetch of a URL for its own sake (a feed), remembered per host until its
next fetch, decides for that fetch's next redirects and, later, for the feed's pages and their
robots.txt. An origin is internal only when every hop came from an internal address (a first hop
on 10.0.0.5 that redirects to a public server is public), and a host fetched from a public
address within the last `ORIGIN_KEEP_S` stays public. Never a lookup of its own, which a hostile
name server could answer differently from the connection's (a 0-TTL record: 10.0.0.5 for the
lookup, its own server for the fetch). Only an origin never fetched (a URL given to a user-run
command) is resolved, and is internal when all its addresses are; an IP literal is what it spells.

Through a feed's `proxy:` the connection is to the proxy, which the operator chose: its address
is not checked (a proxy on 127.0.0.1 or in the intranet is the usual case), and the address a
fetch came from is unknown, so the origin is judged by resolving it. The target URL and every
redirect are still checked before each request as above (a public feed cannot redirect through
the proxy to 10.0.0.5, 127.0.0.1 or the metadata address), but the proxy resolves names itself:
a name this machine cannot resolve is left to the proxy's own rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from monitor import __version__
from monitor.feeds.addresses import CONFIG_KEY, Address, Guard, addresses, internal_origin, literal
from monitor.feeds.guard import GUARD, PEERS, AddressRefused, resolve
from monitor.feeds.politeness import Politeness
from monitor.feeds.settings import PollerConfig
from monitor.kernel.errors import FeedFetchError
from monitor.kernel.neterrors import describe_error, proxy_refused

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ORIGINS_KEPT = 65_536  # hosts whose fetched-from verdict is remembered; the oldest go first
ORIGIN_KEEP_S = 300.0


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response: its status, headers and final URL; the body only for a 2xx; `peer`, the
    address it came from (None when the connection did not say)."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    url: URL
    body: bytes | None
    peer: str | None = None


class Client:
    """Fetches URLs with one session, one set of limits and the hosts' turns (the config's,
    unless given), as `user_agent` (the config's, or monitor's own)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: PollerConfig,
        politeness: Politeness | None = None,
    ) -> None:
        self.session = session
        self.config = config
        self.politeness = politeness or Politeness(config.per_host, config.host_delay_s)
        self.user_agent = config.user_agent or f"monitor/{__version__} (feed poller)"
        self.hint = CONFIG_KEY  # how to allow internal targets, named in refusals
        # True for URLs an untrusted asker gave (the console's web clients): every fetch, its
        # redirects and its robots.txt are judged as for a public origin, the URL's own first
        # hop included (internal targets only when the config allows them)
        self.untrusted = False
        # host -> (public until, internal): the verdict of its own latest fetch (module
        # docstring), kept until the next one: never given back to a lookup however long a poll
        self._origins: dict[str, tuple[float, bool]] = {}
        self._keep_s = ORIGIN_KEEP_S

    async def get(
        self,
        url: str | URL,
        headers: dict[str, str],
        *,
        origin: str | URL | None = None,
        credentials: Mapping[str, str] | None = None,
        proxy: str | None = None,
        untrusted: bool = False,
    ) -> Fetched:
        """GET `url` for `origin`'s sake (by default `url` itself), following allowed redirects;
        raise `FeedFetchError` on a network error, a timeout, a refused address or redirect, too
        many redirects or a body over the limit. `credentials` (Authorization, secret headers)
        go only to `url`'s own origin: a redirect elsewhere is followed without them. Through
        `proxy`, see the module docstring. `untrusted`: this fetch is judged as every fetch of
        an untrusted client is (a `public_only` feed's, its pages', their robots.txt)."""
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        url = URL(url)
        untrusted = untrusted or self.untrusted
        # A URL fetched for its own sake: its hops' peers decide (not for an untrusted asker)
        own = origin is None and not untrusted
        first = url
        # A URL fetched for its own sake was listed or typed by the user: its first hop may be
        # on any address but link-local; where it was answered from decides for the rest.
        guard = (
            Guard(allow_private=True, hint=self.hint)
            if own
            else await self.guard(URL(origin if origin is not None else url), untrusted=untrusted)
        )
        headers = {"Accept-Encoding": "gzip, deflate", **headers}
        home = url.origin()  # the only origin `credentials` are sent to
        peers: list[str] = []  # the GuardedConnector's: the peer of each connection handed out
        token, peers_token = GUARD.set(guard), PEERS.set(peers)
        try:
            await self.check(url, guard)
            for _ in range(self.config.max_redirects + 1):
                peers.clear()
                sent = (
                    {**headers, **credentials} if credentials and url.origin() == home else headers
                )
                if proxy is not None:  # the connection is the proxy's: the operator's choice
                    GUARD.set(None)
                async with (
                    self.politeness.turn(url),
                    self.session.get(
                        url, headers=sent, timeout=timeout, allow_redirects=False, proxy=proxy
                    ) as resp,
                ):
                    peer = None if proxy is not None else peers[-1] if peers else _peer_of(resp)
                    if own:  # any public hop makes the origin public
                        guard = (
                            self._fetched_from(first, peer)
                            if peer is not None
                            else await self.guard(first)
                        )
                        GUARD.set(guard)  # for the redirects: undone with `token`
                    if (
                        proxy is not None and resp.status == 407
                    ):  # the proxy's answer, not the feed's
                        problem = proxy_refused(resp.status, resp.reason or "", proxy=proxy)
                        raise FeedFetchError(problem.words(), result="http_error", problem=problem)
                    location = resp.headers.get("Location")
                    if resp.status in _REDIRECTS and location:
                        target = url.join(URL(location))
                        await self._check_redirect(target, guard)
                        url = target
                        continue
                    body = await self._read_bounded(resp) if 200 <= resp.status < 300 else None
                    return Fetched(
                        status=resp.status,
                        reason=resp.reason or "",
                        headers=CIMultiDictProxy(CIMultiDict(resp.headers)),
                        url=url,
                        body=body,
                        peer=peer,
                    )
        except AddressRefused as exc:  # a name that resolved anew to a refused address
            raise FeedFetchError(f"{url}: {exc}", result="address_refused") from exc
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            # Worded for people (host, reason, errno); the raw error rides along for the log.
            problem = describe_error(
                exc, url=str(url), timeout_s=self.config.timeout_s, proxy=proxy
            )
            result = "http_error" if problem.kind == "proxy" else "network_error"
            raise FeedFetchError(problem.words(), result=result, problem=problem) from exc
        finally:
            PEERS.reset(peers_token)
            GUARD.reset(token)
        raise FeedFetchError(f"too many redirects (more than {self.config.max_redirects})")

    async def guard(self, origin: URL, *, untrusted: bool = False) -> Guard:
        """The address policy for fetches made for `origin`'s sake: internal targets allowed
        when the config says so or `origin` is internal: a host fetched before by the addresses
        its latest fetch came from (never by a lookup of its own, which its name server could
        answer otherwise), an IP literal never fetched by what it spells, any other by all its
        addresses being internal (one that cannot be resolved counts as public). `untrusted`
        (or the client's): internal targets only when the config allows them."""
        if self.config.allow_private:
            return Guard(allow_private=True, hint=self.hint)
        if self.untrusted or untrusted:
            return Guard(allow_private=False, hint=self.hint)
        host = origin.host or ""
        kept = self._origins.get(host)
        if kept is not None:
            return Guard(allow_private=kept[1], hint=self.hint)
        spelled = literal(host)
        if spelled is not None:
            return Guard(allow_private=internal_origin([spelled]), hint=self.hint)
        try:
            inside = internal_origin(await resolve(host, origin.port))
        except OSError:
            inside = False
        return Guard(allow_private=inside, hint=self.hint)

    def _fetched_from(self, origin: URL, peer: str) -> Guard:
        """Remember that `origin`'s host was just fetched from `peer`; the policy that follows
        for its sake. Internal only when `peer` is and no fetch of the host came from a public
        address within the keep time (a name that answers both ways is public)."""
        if self.config.allow_private:
            return Guard(allow_private=True, hint=self.hint)
        host = origin.host or ""
        now = asyncio.get_running_loop().time()
        inside = internal_origin(addresses([peer]))
        kept = self._origins.pop(host, None)
        if not inside:
            self._origins[host] = (now + self._keep_s, False)
        elif kept is not None and not kept[1] and kept[0] >= now:
            self._origins[host] = kept  # public lately: stays public until it lapses
        else:
            self._origins[host] = (kept[0] if kept is not None else 0.0, True)
        while len(self._origins) > _ORIGINS_KEPT:
            del self._origins[next(iter(self._origins))]
        return Guard(allow_private=self._origins[host][1], hint=self.hint)

    async def check(self, url: str | URL, guard: Guard, result: str = "address_refused") -> None:
        """Raise `FeedFetchError` (with `result`) when `guard` refuses every address `url`'s
        host stands for; a host that cannot be resolved is left to the fetch to fail on."""
        url = URL(url)
        host = url.host or ""
        try:
            found: list[Address] = await resolve(host, url.port)
        except OSError:
            return
        reason = guard.refusal(found)
        if reason is not None:
            raise FeedFetchError(f"{url}: {reason}", result=result)

    async def _check_redirect(self, target: URL, guard: Guard) -> None:
        """Refuse a redirect to another scheme or to an address the policy forbids."""
        if target.scheme not in ("http", "https") or not target.host:
            raise FeedFetchError(f"redirect to {target.scheme or 'a relative'} URL refused")
        await self.check(target, guard, result="redirect_refused")

    async def _read_bounded(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self.config.max_body_bytes
        declared = resp.content_length
        if (
            declared is not None
            and declared > limit
            and "gzip" not in resp.headers.get("Content-Encoding", "")
        ):
            raise FeedFetchError(
                f"body of {declared} bytes is over the {limit}-byte limit", result="too_large"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise FeedFetchError(f"body over the {limit}-byte limit", result="too_large")
            chunks.append(chunk)
        return b"".join(chunks)


def _peer_of(resp: aiohttp.ClientResponse) -> str | None:
    """The IP address `resp` came from, while its connection is held; else None."""
    conn = resp.connection
    transport = conn.transport if conn is not None else None
    peer = transport.get_extra_info("peername") if transport is not None else None
    return str(peer[0]) if isinstance(peer, tuple) and peer else None
