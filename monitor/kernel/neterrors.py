"""Network and HTTP failures worded for people: host and port, the reason, the errno. Pure,
but for the process's secrets (`monitor.kernel.redact`), which `printable` hides.

`describe_error` reads an exception (aiohttp's, the standard library's, or a monitor error
wrapping one as its `__cause__`) by what it carries, without importing the library that raised
it: a `host`/`port`, an `os_error`, an errno, an `ssl` verification message. What a server said
(an HTTP reason phrase) passes through `printable`, so no escape code or newline of a server's
reaches a log line or a terminal, and no secret it echoes: `printable` redacts before it
shortens, so a secret the cut falls inside is never shown in part.

    cannot connect to 127.0.0.1:9 (connection refused, errno 111)
    cannot connect to example.invalid:443 (DNS lookup failed: no such name, errno -2)
    no answer from 127.0.0.1:8080 (timed out after 10s)
    cannot connect to 127.0.0.1:8443 (TLS certificate not trusted: self-signed certificate)
    127.0.0.1:8080 answered HTTP 503 Service Unavailable
    127.0.0.1:3128: proxy refused: 407 Proxy Authentication Required
    cannot connect to proxy 127.0.0.1:3128 (connection refused, errno 111)

Through a proxy, a failure of the proxy's (it refused the request, or could not be reached) is
worded as the proxy's, at its host and port, never the feed's; its URL's password is not shown.
"""

from __future__ import annotations

import errno as errnos
import os
import re
import socket
import ssl
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from monitor.kernel.redact import redact

__all__ = ["NetProblem", "describe_error", "describe_status", "printable", "proxy_refused"]

# C0 and C1 control characters (ESC and CSI among them), DEL, the Unicode line separators, and
# lone surrogates (undecodable bytes of a header, which no terminal can be sent).
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DNS_WORDS = {
    socket.EAI_NONAME: "no such name",
    socket.EAI_AGAIN: "no name server answered",
}
_ERRNO_WORDS = {
    errnos.ECONNREFUSED: "connection refused",
    errnos.ECONNRESET: "connection reset",
    errnos.ETIMEDOUT: "connection timed out",
    errnos.ENETUNREACH: "network unreachable",
    errnos.EHOSTUNREACH: "host unreachable",
    errnos.ECONNABORTED: "connection aborted",
    errnos.EPIPE: "connection closed while sending",
}
# Kinds that mean no connection could be made at all: offline, a proxy needed, a wrong name.
UNREACHABLE = frozenset({"dns", "refused", "network"})
REASON_MAX = 200


def printable(text: str, limit: int = REASON_MAX) -> str:
    """`text` on one line without control characters (escape codes, newlines) nor this
    process's secrets, cut to `limit` (after the secrets are out: none is shown in part)."""
    flat = " ".join(_UNPRINTABLE.sub(" ", redact(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class NetProblem:
    """One failure, worded: where (`host`, `port`), why (`reason`, `errno`), and the raw error.

    `kind` is one of dns, refused, network, timeout, tls, http, closed, other; `connected`
    whether a connection was made (an HTTP answer, a server that went silent or hung up).
    """

    host: str
    port: int | None
    kind: str
    reason: str
    errno: int | None = None
    raw: str = ""  # the exception's type and text, for the JSON log
    connected: bool = False
    proxy: bool = False  # `host` and `port` are the proxy's, and it failed

    @property
    def where(self) -> str:
        """`host:port` (IPv6 in brackets), or "the server" when the host is unknown."""
        if not self.host:
            return "the server"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host

    @property
    def unreachable(self) -> bool:
        """Whether no connection could be made (no DNS, refused, no route)."""
        return self.kind in UNREACHABLE

    def brief(self) -> str:
        """The reason with its errno: "connection refused, errno 111"."""
        return self.reason if self.errno is None else f"{self.reason}, errno {self.errno}"

    def words(self) -> str:
        """One sentence: what failed, where and why (the module docstring's examples)."""
        if self.kind == "http":
            return f"{self.where} answered {self.reason}"
        if self.kind == "timeout" and self.connected:
            return f"no answer from {self.where} ({self.brief()})"
        if self.connected:
            return f"{self.where}: {self.brief()}"
        proxy = "proxy " if self.proxy else ""
        return f"cannot connect to {proxy}{self.where} ({self.brief()})"


def describe_status(status: int, reason: str, *, url: str) -> NetProblem:
    """An HTTP answer that is a failure: "HTTP 503 Service Unavailable" from `url`'s host."""
    host, port = _host_port(url)
    said = printable(reason, 80)
    return NetProblem(
        host=host,
        port=port,
        kind="http",
        reason=f"HTTP {status} {said}".strip(),
        raw=f"HTTP {status} {said}".strip(),
        connected=True,
    )


def proxy_refused(status: int, reason: str, *, proxy: str, raw: str = "") -> NetProblem:
    """The proxy at `proxy` (a URL) answered `status` instead of passing the request on."""
    host, port = _host_port(proxy)
    said = f"{status} {printable(reason, 80)}".strip()
    return NetProblem(
        host=printable(host, 120),
        port=port,
        kind="proxy",
        reason=f"proxy refused: {said}",
        raw=raw or f"proxy answered HTTP {said}",
        connected=True,
        proxy=True,
    )


def describe_error(
    exc: BaseException,
    *,
    url: str | None = None,
    timeout_s: float | None = None,
    proxy: str | None = None,
) -> NetProblem:
    """Word `exc` (or the error at the root of its `__cause__` chain) for people. The host and
    port are the error's own when it has them, else `url`'s; `timeout_s` is the limit a
    timeout ran into. Through `proxy` (its URL), a failure of the proxy's is the proxy's."""
    chain = _chain(exc)
    if proxy is not None:
        found = _proxy_failure(chain, proxy)
        if found is not None:
            return found
    # The library's error (the first that is not monitor's own) is the raw one the log keeps.
    raw_exc = next((e for e in chain if not type(e).__module__.startswith("monitor.")), exc)
    host, port = _host_port(url) if url else ("", None)
    carrier = next((e for e in chain if isinstance(getattr(e, "host", None), str)), None)
    own_host: object = getattr(carrier, "host", None)
    if isinstance(own_host, str) and own_host:
        host = own_host
        own_port = getattr(carrier, "port", None)
        port = own_port if isinstance(own_port, int) else port
    raw = printable(f"{type(raw_exc).__name__}: {raw_exc}", 500)
    readings = [_reason(e, timeout_s) for e in chain]
    kind, reason, code, connected = next(
        (r for r in readings if r[0] != "other"), _reason(raw_exc, timeout_s)
    )
    return NetProblem(
        host=printable(host, 120),
        port=port,
        kind=kind,
        reason=reason,
        errno=code,
        raw=raw,
        connected=connected,
    )


def _proxy_failure(chain: list[BaseException], proxy: str) -> NetProblem | None:
    """The proxy's failure among `chain` (it answered an error to a CONNECT, or could not be
    reached), worded at the proxy's host and port; None when the failure was not the proxy's."""
    for exc in chain:
        names = _names(exc)
        raw = printable(f"{type(exc).__name__}: {exc}", 500)
        if "ClientHttpProxyError" in names:
            status = getattr(exc, "status", 0)
            message = getattr(exc, "message", "")
            return proxy_refused(
                status if isinstance(status, int) else 0,
                message if isinstance(message, str) else "",
                proxy=proxy,
                raw=raw,
            )
        if "ClientProxyConnectionError" in names:
            return replace(describe_error(exc, url=proxy), proxy=True)
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and its causes, outermost first (a monitor error wraps the library's)."""
    chain = [exc]
    while (cause := chain[-1].__cause__) is not None and cause not in chain:
        chain.append(cause)
    return chain


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def _reason(exc: BaseException, timeout_s: float | None) -> tuple[str, str, int | None, bool]:
    """(kind, reason in words, errno, connected) of one exception."""
    names = _names(exc)
    inner = getattr(exc, "os_error", None)  # aiohttp's connector errors wrap the OSError
    cause: BaseException = inner if isinstance(inner, BaseException) else exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        said = printable(str(cause.verify_message or cause.reason or "verification failed"))
        return "tls", f"TLS certificate not trusted: {said}", None, False
    if isinstance(cause, ssl.SSLError):
        said = printable(str(cause.reason or cause.strerror or cause))
        return "tls", f"TLS handshake failed: {said}", None, False
    if isinstance(cause, socket.gaierror) or "ClientConnectorDNSError" in names:
        code = cause.errno if isinstance(cause, OSError) else None
        meaning = _DNS_WORDS.get(code) if code is not None else None
        reason = f"DNS lookup failed: {meaning}" if meaning else "DNS lookup failed"
        return "dns", reason, code, False
    if isinstance(cause, TimeoutError) or "ServerTimeoutError" in names:
        limit = f" after {timeout_s:g}s" if timeout_s is not None else ""
        # A connect timeout (aiohttp's connector's) made no connection; others timed out waiting.
        connected = not names & {"ClientConnectorError", "ConnectionTimeoutError"}
        return "timeout", f"timed out{limit}", None, connected
    if "ServerDisconnectedError" in names:
        return "closed", "the server closed the connection without answering", None, True
    if "ClientPayloadError" in names:
        return "closed", "the answer was cut off", None, True
    if "ClientResponseError" in names:  # an answer that is not HTTP (or not well-formed)
        said = printable(str(getattr(exc, "message", "") or exc), 120)
        return "other", f"an answer that is not valid HTTP ({said})", None, True
    if "TooManyRedirects" in names:
        return "other", "too many redirects", None, True
    if isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno > 0:
        code = cause.errno
        said = _ERRNO_WORDS.get(code) or os.strerror(code).lower()
        if "ClientConnectorError" not in names and code in (errnos.ECONNRESET, errnos.EPIPE):
            return "closed", said, code, True  # the connection was made, then lost
        return "refused" if code == errnos.ECONNREFUSED else "network", said, code, False
    return "other", printable(f"{type(exc).__name__}: {exc}"), None, False


def _host_port(url: str) -> tuple[str, int | None]:
    """The host and port of `url` (the scheme's default port when it names none)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "", None
    if port is None:
        port = _DEFAULT_PORTS.get(parts.scheme.lower())
    return parts.hostname or "", port
