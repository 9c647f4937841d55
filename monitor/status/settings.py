"""The HTTP listener's settings: `http:` in monitor.yaml."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from monitor.kernel.checks import Checker
from monitor.kernel.errors import excerpt

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9464
HTTP_KEYS: Final = (
    "listen", "token", "allowed_hosts", "protect_metrics", "git_commit", "public_url",
    "feedback_key",
)  # fmt: skip


def parse_listen(
    check: Checker, value: object, line: int
) -> tuple[str, int, str | None, tuple[str, ...], bool]:
    """`http:`: the listen address and port, the token, allowed hosts, protect_metrics."""
    spec = check.mapping(value, line, "http", HTTP_KEYS)
    default = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
    listen = spec.get("listen", default) if spec is not None else default
    where = spec.line_of("listen") if spec is not None else line
    token = None
    allowed: tuple[str, ...] = ()
    protect = False
    if spec is not None and "token" in spec:
        token = check.string(spec["token"], spec.line_of("token"), "http.token")
        if token is not None and len(token) < 16:
            check.error(spec.line_of("token"), "http.token must be at least 16 characters long")
    if spec is not None and "allowed_hosts" in spec:
        at = spec.line_of("allowed_hosts")
        allowed = check.strings(spec["allowed_hosts"], at, "http.allowed_hosts")
        for name in allowed:
            if not name.strip() or any(c in name for c in "/ @?#"):
                check.error(at, f"http.allowed_hosts: {excerpt(name)} is not a host name (or `*`)")
    if spec is not None and "protect_metrics" in spec:
        at = spec.line_of("protect_metrics")
        protect = check.boolean(spec["protect_metrics"], at, "http.protect_metrics") or False
        if protect and token is None:
            check.error(at, "http.protect_metrics needs http.token (the token it asks for)")
    host, sep, port = str(listen).rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        check.error(where, f"http.listen must be HOST:PORT, not {excerpt(listen)}")
        return DEFAULT_HOST, DEFAULT_PORT, token, allowed, protect
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - ":9464": every address
    return host, int(port), token, allowed, protect


def parse_git_commit(check: Checker, value: object) -> bool:
    """`http.git_commit`: commit a watch saved from the console when the rules directory is in
    a git work tree (off by default)."""
    if not isinstance(value, dict) or "git_commit" not in value:
        return False
    at = value.line_of("git_commit") if hasattr(value, "line_of") else 0
    return check.boolean(value["git_commit"], at, "http.git_commit") or False


def parse_public_url(check: Checker, value: object) -> str | None:
    """`http.public_url`: the address analysts reach the listener at (feedback links start
    with it), an absolute http(s) URL with no query, fragment, space, quote or control
    character; None when not given."""
    if not isinstance(value, dict) or "public_url" not in value:
        return None
    at = value.line_of("public_url") if hasattr(value, "line_of") else 0
    url = check.string(value["public_url"], at, "http.public_url")
    if url is None:
        return None
    bad = next(
        (c for c in url if c.isspace() or ord(c) < 32 or ord(c) == 127 or c in "\"'<>`\\"), None
    )
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if (
        bad is not None
        or parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        check.error(
            at,
            "http.public_url must be an absolute http(s) URL such as "
            f"https://monitor.example.org/ (no query, quote or space), not {excerpt(url)}",
        )
        return None
    return url


def parse_feedback_key(check: Checker, value: object) -> str | None:
    """`http.feedback_key`: the key feedback links are signed with (a secret of 16 characters
    or more; `${VAR}` as other secrets). None: a random key kept in the state directory."""
    if not isinstance(value, dict) or "feedback_key" not in value:
        return None
    at = value.line_of("feedback_key") if hasattr(value, "line_of") else 0
    key = check.string(value["feedback_key"], at, "http.feedback_key")
    if key is not None and len(key) < 16:
        check.error(at, "http.feedback_key must be at least 16 characters long")
        return None
    return key
