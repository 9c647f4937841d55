"""What a feed's own requests carry: `headers:`, `user_agent:`, `auth:` and `proxy:` in
feeds.yaml, each value perhaps holding `${VAR}`, read from the environment when the feed is
fetched (never when the file is read: a command that fetches nothing needs no feed secret).

Pure. `parse_request` checks the keys as written (header names, no CR, LF, NUL or other control
characters, no header monitor sets itself); `resolve` fills in the environment's values and
checks them again (a variable holding a newline must not split a header); `env_problems` says,
at the line of the key, which variable is not set or holds what a header cannot carry.

What is secret: the auth values (as written or from the environment), any header value from
`${VAR}`, and the proxy URL when it comes from `${VAR}` or holds a password (`user:pass@`, as
written too: a proxy refusing it makes aiohttp's error quote the URL): `Resolved.secrets`,
which the poller adds to what `monitor.kernel.redact` hides. Credentials (auth, and headers
from `${VAR}`) go only to the feed's own origin: `Resolved.credentials`, which `Client.get`
drops on a redirect elsewhere.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import unquote, urlsplit

from monitor.kernel.checks import Checker
from monitor.kernel.envfile import unset_message
from monitor.kernel.errors import Problem
from monitor.kernel.located import LocDict

REQUEST_KEYS = ("headers", "user_agent", "auth", "proxy")
VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field name
MAX_VALUE = 4096  # characters of one header value (servers refuse headers over 8 KiB in all)
MAX_HEADERS = 32
# Set by monitor itself (framing, conditional GET, compression it bounds) or by other keys.
RESERVED = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "accept-encoding",
        "if-none-match",
        "if-modified-since",
        "authorization",
        "user-agent",
    }
)
_INSTEAD = {"authorization": "auth:", "user-agent": "user_agent:"}


@dataclass(frozen=True, slots=True)
class Auth:
    """`auth:`: HTTP basic (`username`, `secret` the password) or a bearer token (`secret`)."""

    kind: Literal["basic", "bearer"]
    secret: str
    username: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestSpec:
    """A feed's request settings as written (values may hold `${VAR}`); `variables`, each
    variable named and the line of its key."""

    headers: tuple[tuple[str, str], ...] = ()
    user_agent: str | None = None
    auth: Auth | None = None
    proxy: str | None = None
    variables: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Resolved:
    """A feed's request settings with the environment's values: `headers` for every request of
    the feed, `credentials` only for its own origin, and the `secrets` never to be shown."""

    headers: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)
    user_agent: str | None = None
    proxy: str | None = None
    secrets: tuple[str, ...] = ()


NONE = RequestSpec()
_Text = Callable[[object, int, str], "str | None"]  # checks one string value


def value_problem(value: str) -> str | None:
    """Why `value` cannot be a header value (or user agent), or None."""
    if any(c in value for c in "\r\n\0"):
        return "holds a line break or NUL, which would split the request"
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        return "holds a control character"
    if len(value) > MAX_VALUE:
        return f"is {len(value):,} characters long, over {MAX_VALUE:,}"
    return None


def parse_request(check: Checker, spec: LocDict) -> RequestSpec:
    """A feed's `headers:`, `user_agent:`, `auth:` and `proxy:`; problems go to `check`."""
    found: list[tuple[str, int]] = []
    at = spec.line_of

    def text(value: object, line: int, what: str) -> str | None:
        raw = value if isinstance(value, str) else None
        got = check.string(value, line, what)
        if got is None or raw is None:
            return None
        why = value_problem(raw)
        if why is not None:
            check.error(line, f"{what} {why}")
            return None
        found.extend((name, line) for name in VAR_RE.findall(got))
        return got

    headers: list[tuple[str, str]] = []
    if "headers" in spec:
        headers = _headers(check, spec["headers"], at("headers"), text)
    user_agent = (
        text(spec["user_agent"], at("user_agent"), "`user_agent`")
        if ("user_agent" in spec)
        else None
    )
    auth = _auth(check, spec["auth"], at("auth"), text) if "auth" in spec else None
    proxy = None
    if "proxy" in spec:
        proxy = text(spec["proxy"], at("proxy"), "`proxy`")
        if proxy is not None and not VAR_RE.search(proxy) and not http_url(proxy):
            check.error(
                at("proxy"),
                f"`proxy` must be an http(s) URL (http://host:port), not {proxy[:60]!r}",
            )
            proxy = None
    return RequestSpec(
        headers=tuple(headers),
        user_agent=user_agent,
        auth=auth,
        proxy=proxy,
        variables=tuple(found),
    )


def http_url(text: str) -> bool:
    """Whether `text` is an http(s) URL with a host (and, if any, a valid port)."""
    try:
        parts = urlsplit(text)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        return False


def _headers(check: Checker, value: object, line: int, text: _Text) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        check.error(line, f"`headers` must be a mapping (Name: value), not {type(value).__name__}")
        return []
    located = value if isinstance(value, LocDict) else None
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    if len(value) > MAX_HEADERS:
        check.error(line, f"`headers` has {len(value)} headers, over {MAX_HEADERS}")
        return []
    for name, header_value in value.items():
        at = located.line_of(name) if located is not None and isinstance(name, str) else line
        if not isinstance(name, str) or not _TOKEN.fullmatch(name) or len(name) > 256:
            check.error(at, f"header name {str(name)[:60]!r} is not a valid HTTP header name")
            continue
        lower = name.lower()
        if lower in RESERVED:
            instead = _INSTEAD.get(lower)
            check.error(
                at,
                f"header {name} is set by monitor"
                + (f"; use the feed's `{instead}`" if instead else ""),
            )
            continue
        if lower in seen:
            check.error(at, f"header {name} is given twice")
            continue
        seen.add(lower)
        got = text(header_value, at, f"header {name}")
        if got is not None:
            out.append((name, got))
    return out


def _auth(check: Checker, value: object, line: int, text: _Text) -> Auth | None:
    spec = check.mapping(value, line, "`auth`", ("basic", "bearer"))
    if spec is None:
        return None
    if len(spec) != 1 or not {"basic", "bearer"} & spec.keys():
        check.error(line, "`auth` takes one of `basic: {username, password}` or `bearer: TOKEN`")
        return None
    if "bearer" in spec:
        token = text(spec["bearer"], spec.line_of("bearer"), "`auth.bearer`")
        return Auth("bearer", token) if token is not None else None
    basic = check.mapping(
        spec["basic"], spec.line_of("basic"), "`auth.basic`", ("username", "password")
    )
    if basic is None:
        return None
    user = text(basic.get("username"), basic.line_of("username"), "`auth.basic.username`")
    password = text(basic.get("password"), basic.line_of("password"), "`auth.basic.password`")
    if user is not None and ":" in VAR_RE.sub("", user):
        check.error(basic.line_of("username"), "`auth.basic.username` cannot hold `:`")
        return None
    if user is None or password is None:
        return None
    return Auth("basic", password, user)


def _expand(value: str, environ: Mapping[str, str], used: list[str]) -> str:
    def one(match: re.Match[str]) -> str:
        got = environ[match.group(1)]  # KeyError: the caller names the variable
        used.append(got)
        return got

    return VAR_RE.sub(one, value)


class Unresolved(ValueError):
    """A feed's request settings name a variable that is not set, or whose value a header
    cannot carry; the message says which."""


def resolve(request: RequestSpec, environ: Mapping[str, str]) -> Resolved:
    """`request` with the environment's values (see the module docstring); `Unresolved` when a
    variable is not set or its value cannot go in a header."""
    missing = [name for name, _ in request.variables if name not in environ]
    if missing:
        raise Unresolved(f"environment variable {missing[0]} is not set")
    secrets: list[str] = []
    headers: dict[str, str] = {}
    credentials: dict[str, str] = {}
    for name, template in request.headers:
        used: list[str] = []
        value = _checked(_expand(template, environ, used), f"header {name}")
        (credentials if used else headers)[name] = value
        secrets.extend(used)
    user_agent = None
    if request.user_agent is not None:
        user_agent = _checked(_expand(request.user_agent, environ, []), "`user_agent`")
    if request.auth is not None:
        secret = _checked(_expand(request.auth.secret, environ, []), "the auth secret")
        secrets.append(secret)
        if request.auth.kind == "bearer":
            credentials["Authorization"] = f"Bearer {secret}"
        else:
            user = _checked(_expand(request.auth.username, environ, []), "the auth username")
            pair = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
            credentials["Authorization"] = f"Basic {pair}"
            secrets.append(pair)
    proxy = None
    if request.proxy is not None:
        used = []
        proxy = _checked(_expand(request.proxy, environ, used), "`proxy`")
        if not http_url(proxy):
            raise Unresolved("`proxy`, from the environment, is not an http(s) URL")
        password = proxy_password(proxy)
        if used or password:
            secrets.append(proxy)
        if password:
            secrets.extend({password, unquote(password)})
    return Resolved(headers, credentials, user_agent, proxy, tuple(s for s in secrets if s))


def proxy_password(url: str) -> str:
    """The password in a proxy URL's `user:pass@`, as written (percent-encoded), or ""."""
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def _checked(value: str, what: str) -> str:
    why = value_problem(value)
    if why is not None:
        raise Unresolved(f"{what}, from the environment, {why}")
    return value


class _Feed(Protocol):
    """What `env_problems` reads of a feed (a FeedSpec)."""

    @property
    def path(self) -> str:
        """Its feeds.yaml."""
        ...

    @property
    def line(self) -> int:
        """Its line in feeds.yaml."""
        ...

    @property
    def request(self) -> RequestSpec:
        """Its request settings."""
        ...


def env_problems(
    feeds: Iterable[_Feed], environ: Mapping[str, str], secrets_path: object | None = None
) -> list[Problem]:
    """For each feed whose request settings cannot be resolved, a problem at the line of the
    key naming the variable (unset: with where to set it, `secrets_path` the secrets.env of the
    config in use; or holding a line break)."""
    problems: list[Problem] = []
    for feed in feeds:
        request = feed.request
        before = len(problems)
        for name, line in _unique(request.variables):
            if name not in environ:
                problems.append(Problem(feed.path, line, unset_message(name, secrets_path)))
            elif value_problem(environ[name]) is not None:
                why = value_problem(environ[name])
                problems.append(
                    Problem(
                        feed.path,
                        line,
                        f"environment variable {name} {why}; it cannot go in a request header",
                    )
                )
        if len(problems) == before:
            try:
                resolve(request, environ)
            except Unresolved as exc:  # a whole `proxy: ${VAR}` that is no URL
                problems.append(Problem(feed.path, feed.line, str(exc)))
    return problems


def secrets_of(feeds: Iterable[_Feed], environ: Mapping[str, str]) -> list[str]:
    """Every secret the feeds' requests would carry (for the redactor at start)."""
    found: list[str] = []
    for feed in feeds:
        try:
            found.extend(resolve(feed.request, environ).secrets)
        except Unresolved:
            continue
    return found


def _unique(pairs: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    return list(dict.fromkeys(pairs))
