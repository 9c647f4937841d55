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
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from monitor import __version__
from monitor.config import PollerConfig
from monitor.errors import FeedFetchError
from monitor.feeds.addresses import CONFIG_KEY, Address, Guard, internal_origin
from monitor.feeds.guard import GUARD, AddressRefused, resolve
from monitor.feeds.politeness import Politeness

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ORIGINS_KEPT = 1024  # origins whose addresses are remembered (for ORIGIN_KEEP_S)
ORIGIN_KEEP_S = 300.0


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response: its status, headers and final URL; the body only for a 2xx."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    url: URL
    body: bytes | None


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
        self._origins: dict[str, tuple[float, bool]] = {}

    async def get(
        self, url: str | URL, headers: dict[str, str], *, origin: str | URL | None = None
    ) -> Fetched:
        """GET `url` for `origin`'s sake (by default `url` itself), following allowed redirects;
        raise `FeedFetchError` on a network error, a timeout, a refused address or redirect, too
        many redirects or a body over the limit."""
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        url = URL(url)
        guard = await self.guard(URL(origin) if origin is not None else url)
        headers = {"Accept-Encoding": "gzip, deflate", **headers}
        token = GUARD.set(guard)
        try:
            await self.check(url, guard)
            for _ in range(self.config.max_redirects + 1):
                async with (
                    self.politeness.turn(url),
                    self.session.get(
                        url, headers=headers, timeout=timeout, allow_redirects=False
                    ) as resp,
                ):
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
                    )
        except TimeoutError as exc:
            raise FeedFetchError(f"timed out after {self.config.timeout_s:g}s") from exc
        except AddressRefused as exc:  # a name that resolved anew to a refused address
            raise FeedFetchError(f"{url}: {exc}", result="address_refused") from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise FeedFetchError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            GUARD.reset(token)
        raise FeedFetchError(f"too many redirects (more than {self.config.max_redirects})")

    async def guard(self, origin: URL) -> Guard:
        """The address policy for fetches made for `origin`'s sake: internal targets allowed
        when the config says so or `origin` itself is on internal addresses (an origin that
        cannot be resolved counts as public)."""
        if self.config.allow_private:
            return Guard(allow_private=True, hint=self.hint)
        host = origin.host or ""
        now = asyncio.get_running_loop().time()
        kept = self._origins.get(host)
        if kept is None or kept[0] < now:
            try:
                inside = internal_origin(await resolve(host, origin.port))
            except OSError:
                inside = False
            if len(self._origins) >= _ORIGINS_KEPT:
                self._origins.clear()
            kept = self._origins[host] = (now + ORIGIN_KEEP_S, inside)
        return Guard(allow_private=kept[1], hint=self.hint)

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
