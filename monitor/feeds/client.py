"""How monitor fetches anything from the web: feeds, article pages and robots.txt alike.

One GET with a total timeout, redirects followed by hand (at most `max_redirects`, each checked
by the policy in `monitor.feeds.redirects`: no other schemes, no private addresses from a public
origin), gzip and deflate accepted, and a body read only up to `max_body_bytes`. Each request
first takes its host's turn (`monitor.feeds.politeness`). Errors are `FeedFetchError`, with the
reason a person can act on.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from monitor import __version__
from monitor.config import PollerConfig
from monitor.errors import FeedFetchError
from monitor.feeds import redirects
from monitor.feeds.politeness import Politeness

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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

    async def get(self, url: str | URL, headers: dict[str, str]) -> Fetched:
        """GET `url`, following allowed redirects; raise `FeedFetchError` on a network error, a
        timeout, a refused redirect, too many redirects or a body over the limit."""
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        url = URL(url)
        headers = {"Accept-Encoding": "gzip, deflate", **headers}
        try:
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
                        await self._check_redirect(url, target)
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
        except (aiohttp.ClientError, ValueError) as exc:
            raise FeedFetchError(f"{type(exc).__name__}: {exc}") from exc
        raise FeedFetchError(f"too many redirects (more than {self.config.max_redirects})")

    async def _check_redirect(self, origin: URL, target: URL) -> None:
        """Refuse a redirect the policy in `monitor.feeds.redirects` forbids."""
        if target.scheme not in ("http", "https") or not target.host:
            raise FeedFetchError(f"redirect to {target.scheme or 'a relative'} URL refused")
        if self.config.allow_private_redirects:
            return
        found = [await self._resolve(url) for url in (origin, target)]
        reason = redirects.refusal(found[0], found[1], allow_private=False)
        if reason is not None:
            raise FeedFetchError(reason, result="redirect_refused")

    async def _resolve(self, url: URL) -> list[redirects.Address]:
        host = url.host or ""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, url.port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise FeedFetchError(f"cannot resolve {host}: {exc}") from exc
        return redirects.addresses([str(info[4][0]) for info in infos])

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
