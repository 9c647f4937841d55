"""What guards the HTTP listener besides the token: the `Host` check, the sign-in throttle and
the warning when it listens beyond loopback with no token.

The `Host` check stops DNS rebinding: a web page whose name the attacker then points at
127.0.0.1 (or at the service's address) is same-origin with the listener in the browser, and
could read `GET /` (the feed URLs, with any tokens in them) and POST `/-/reload`. The browser
still sends the attacker's name as `Host`, so the listener answers only to the names in
`http.allowed_hosts`, `localhost` and the name it listens on, and to any IP literal: a
rebinding always uses a name, and probes and scrapers that reach a pod by its IP send the IP.
`*` allows every name. A request with no `Host` (no browser sends one) is let through.

The sign-in throttle counts wrong tokens (the sign-in form, `Authorization: Bearer`) per client
address (per /64 for IPv6): after `FREE_TRIES` the address waits 1 s, then twice as long after
each further wrong token, up to `MAX_WAIT_S`, answered 429 with `Retry-After` while it waits.
The signed-in cookie is not throttled (it holds a 256-bit HMAC, nothing to guess), so browsers
already signed in keep working while an attack from their address (a shared proxy) goes on. The
table holds at most `CAPACITY` addresses, the oldest forgotten first.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import structlog
from aiohttp import web

from monitor.kernel.metrics import Metrics

log = structlog.get_logger("monitor.guard")

COOKIE = "monitor_status"
FREE_TRIES = 5  # wrong tokens an address may send before it waits
FIRST_WAIT_S = 1.0
MAX_WAIT_S = 300.0
FORGET_S = 3600.0  # an address's wrong tokens are forgotten this long after the last one
CAPACITY = 10_000  # addresses tracked (about 2 MB)
LOGGED_HOSTS = 100  # refused Host names logged once each, up to this many


def session_value(token: str) -> str:
    """What the sign-in cookie holds for `token`: an HMAC of it, so a new token signs out."""
    return hmac.new(token.encode(), b"monitor status page", hashlib.sha256).hexdigest()


def same(given: str, expected: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(given.encode(), expected.encode())


# -- listening beyond loopback ------------------------------------------------------------------


def loopback(host: str) -> bool:
    """Whether a listen address is this machine's alone (`localhost`, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve to anything: counted as exposed


def exposure(host: str, port: int, token: str | None) -> str | None:
    """The warning to give when the listener is reachable beyond loopback with no token."""
    if token is not None or loopback(host):
        return None
    return (
        f"the HTTP listener on {host}:{port} is reachable beyond this machine and has no "
        "http.token: anyone who can reach it can read the status page (the feed URLs, with "
        "any tokens in them), /metrics and /readyz, and reload the rules (POST /-/reload). "
        'Set http.token (16 characters or more, e.g. token: "${MONITOR_TOKEN}") or listen on '
        "127.0.0.1."
    )


# -- the Host check -----------------------------------------------------------------------------


def host_name(header: str) -> str:
    """The name in a `Host` header, without its port, lower case, without a final dot."""
    value = header.strip().lower()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def ip_literal(name: str) -> bool:
    """Whether a host name is an IP address."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """Which `Host` headers the listener answers (see the module docstring)."""

    def __init__(self, allowed: Iterable[str], listen_host: str) -> None:
        names = {host_name(a) for a in allowed}
        self.any = "*" in names
        self.names = names | {"localhost", host_name(listen_host)}

    def allows(self, header: str | None) -> bool:
        """Whether a request with this `Host` header may be served."""
        if self.any or not header:
            return True
        name = host_name(header)
        return name in self.names or ip_literal(name)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_middleware(
    check: HostCheck, metrics: Metrics
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware answering 421 to a request whose `Host` the listener does not serve."""
    logged: set[str] = set()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Host")
        if check.allows(header):
            return await handler(request)
        name = host_name(header or "")[:100]
        metrics.http_refused.labels("host").inc()
        if name not in logged and len(logged) < LOGGED_HOSTS:
            logged.add(name)
            log.warning("http_host_refused", host=name, path=request.path, remote=request.remote)
        return web.json_response(
            {
                "error": f"this listener does not answer to the host name {name!r}: add it to "
                "http.allowed_hosts in monitor.yaml (or use the IP address, or localhost)"
            },
            status=421,
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
        )

    return middleware


# -- the sign-in throttle -----------------------------------------------------------------------


@dataclass(slots=True)
class _Tries:
    wrong: int
    last_s: float
    until_s: float


class SignInThrottle:
    """Wrong tokens per client address, and how long each must wait (module docstring)."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.capacity = capacity
        self.clock = clock
        self._tries: OrderedDict[str, _Tries] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tries)

    @staticmethod
    def key(address: str | None) -> str:
        """The address wrong tries are counted under: the IP, or its /64 for IPv6."""
        if not address:
            return ""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        if ip.version == 6:
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)

    def wait_s(self, address: str | None) -> float:
        """How long `address` must wait before its next token is checked (0: not at all)."""
        key = self.key(address)
        tries = self._tries.get(key)
        if tries is None:
            return 0.0
        now = self.clock()
        if now - tries.last_s > FORGET_S:
            del self._tries[key]
            return 0.0
        return max(0.0, tries.until_s - now)

    def wrong(self, address: str | None) -> None:
        """A wrong token from `address`."""
        key = self.key(address)
        now = self.clock()
        tries = self._tries.pop(key, None) or _Tries(0, now, now)
        tries.wrong += 1
        tries.last_s = now
        if tries.wrong >= FREE_TRIES:
            wait = min(MAX_WAIT_S, FIRST_WAIT_S * 2 ** min(tries.wrong - FREE_TRIES, 20))
            tries.until_s = now + wait
            if tries.wrong == FREE_TRIES:
                log.warning(
                    "signin_throttled",
                    remote=key,
                    wrong_tokens=tries.wrong,
                    detail=f"{FREE_TRIES} wrong tokens: this address now waits before each try",
                )
        self._tries[key] = tries  # the newest last: the oldest are forgotten first
        while len(self._tries) > self.capacity:
            self._tries.popitem(last=False)
        self.metrics.http_refused.labels("token").inc()

    def right(self, address: str | None) -> None:
        """The right token from `address`: its wrong ones are forgotten."""
        self._tries.pop(self.key(address), None)


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a request may go on; when not, whether it is to wait (429) or sign in (401)."""

    ok: bool
    wait_s: float = 0.0

    @property
    def retry_after(self) -> str:
        """The `Retry-After` header's value."""
        return str(max(1, math.ceil(self.wait_s)))


def admit(
    request: web.Request,
    token: str | None,
    throttle: SignInThrottle,
    *,
    cookie: bool = False,
    given: str | None = None,
) -> Admission:
    """Whether `request` carries the token: as `given` (the sign-in form's), else as
    `Authorization: Bearer`, or (with `cookie`) as the signed-in cookie. A wrong token counts
    against the client's address; an address that must wait is not checked at all."""
    if token is None:
        return Admission(True)
    if cookie and same(request.cookies.get(COOKIE, ""), session_value(token)):
        return Admission(True)
    if given is None:
        bearer = request.headers.get("Authorization")
        if bearer is None:
            return Admission(False)
        expected = f"Bearer {token}"
        given = bearer
    else:
        expected = token
    wait = throttle.wait_s(request.remote)
    if wait > 0:
        throttle.metrics.http_refused.labels("throttled").inc()
        return Admission(False, wait)
    if same(given, expected):
        throttle.right(request.remote)
        return Admission(True)
    throttle.wrong(request.remote)
    return Admission(False)


def wait_message(admission: Admission) -> str:
    """What a throttled client is told."""
    return (
        f"too many wrong tokens from this address: try again in {admission.retry_after}s "
        "(each wrong token doubles the wait)"
    )
