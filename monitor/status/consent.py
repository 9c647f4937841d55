"""Who may act from the console (`monitor.status.console`), and the log of what they did.

With `http.token` an action needs `Authorization: Bearer <token>` or the status page's signed-in
cookie. Without a token, actions are accepted only when the listener listens on loopback
(`guard.loopback`): on any other address anyone who can reach it could act, so every action is
refused (403) with `OPEN_REFUSAL`, and the page shows that sentence instead of its buttons.

Cross-site requests: a JSON API call keeps `web.refusal`'s rule (a JSON body or the
`X-Monitor-Request` header, which a page of another origin cannot send without a CORS preflight
the listener never grants). The page's HTML forms (it has no script) carry a hidden `csrf`
field, an HMAC over a per-process random key and the session (the cookie's value, or "loopback"
without a token); a form is refused (403) when the field is wrong, or when its `Origin` or
`Sec-Fetch-Site` says it comes from another site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from monitor.kernel.console import Who
from monitor.status.guard import (
    COOKIE,
    SignInThrottle,
    admit,
    loopback,
    same,
    session_value,
    wait_message,
)
from monitor.status.web import CUSTOM_HEADER

log = structlog.get_logger("monitor.console")

OPEN_REFUSAL = (
    "Actions are refused: this listener is reachable beyond this machine and has no http.token. "
    'Set http.token in monitor.yaml (16 characters or more, e.g. token: "${MONITOR_TOKEN}") '
    "and sign in, or listen on 127.0.0.1."
)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SAME_SITE = ("same-origin", "none")  # Sec-Fetch-Site values a form of the page itself sends


class Refused(Exception):
    """A request that may not act: `status` and the words to answer with."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def is_form(request: web.Request) -> bool:
    """Whether the request is an HTML form's post."""
    return request.content_type in FORM_TYPES


@dataclass(slots=True)
class Consent:
    """The listener's rules for actions (module docstring)."""

    token: str | None
    throttle: SignInThrottle
    listen_host: str
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @property
    def refused_words(self) -> str | None:
        """Why no action is possible here at all (no token beyond loopback), else None."""
        if self.token is None and not loopback(self.listen_host):
            return OPEN_REFUSAL
        return None

    def session(self, request: web.Request) -> str:
        """What the form's `csrf` field is bound to: the signed-in cookie, or "loopback"."""
        if self.token is None:
            return "loopback"
        cookie = request.cookies.get(COOKIE, "")
        return cookie if same(cookie, session_value(self.token)) else ""

    def csrf(self, request: web.Request) -> str:
        """The `csrf` field the page's forms carry for this request's session."""
        return hmac.new(self.key, self.session(request).encode(), hashlib.sha256).hexdigest()

    def reader(self, request: web.Request) -> Who:
        """Who reads (GET): the token or cookie when there is a token. Raises `Refused`: the
        console's reads (the watches' YAML, the dead letters, the history) are refused where
        its actions are (no token beyond loopback)."""
        words = self.refused_words
        if words is not None:
            raise Refused(403, words)
        return self._who(request)

    def identified(self, request: web.Request) -> Who:
        """Who asks, checked before a body is read (the token, the cookie, or a loopback
        listener without one). Raises `Refused`."""
        words = self.refused_words
        if words is not None:
            raise Refused(403, words)
        return self._who(request)

    def actor(self, request: web.Request, form: Mapping[str, str] | None) -> Who:
        """Who acts: `form` is the posted form's fields (None for a JSON call). Raises
        `Refused` (401, 403, 429) when the request may not act."""
        words = self.refused_words
        if words is not None:
            raise Refused(403, words)
        who = self._who(request)
        if form is None:
            if request.content_type != "application/json" and CUSTOM_HEADER not in request.headers:
                raise Refused(
                    403, f"send a JSON body (Content-Type: application/json) or {CUSTOM_HEADER}"
                )
            return who
        if self.cross_site(request):
            raise Refused(403, "a form from another site may not act here")
        expected = self.csrf(request)
        if not same(form.get("csrf", ""), expected):
            raise Refused(403, "the form is stale or not this page's: reload the page and retry")
        return who

    def _who(self, request: web.Request) -> Who:
        agent = request.headers.get("User-Agent", "")[:120]
        address = request.remote or ""
        if self.token is None:
            return Who(address, "loopback", agent)
        cookie = same(request.cookies.get(COOKIE, ""), session_value(self.token))
        admission = admit(request, self.token, self.throttle, cookie=True)
        if admission.ok:
            return Who(address, "cookie" if cookie else "token", agent)
        if admission.wait_s:
            raise Refused(429, wait_message(admission), {"Retry-After": admission.retry_after})
        raise Refused(
            401,
            "this endpoint needs Authorization: Bearer <http.token> (or sign in on the page)",
            {"WWW-Authenticate": 'Bearer realm="monitor"'},
        )

    @staticmethod
    def cross_site(request: web.Request) -> bool:
        """Whether the browser says the request comes from another site: `Sec-Fetch-Site`
        when it sends it (same-origin: the page's own form, whatever its Origin), else
        `Origin` ("null", sent under a no-referrer policy or from a sandbox, is refused)."""
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if fetch_site is not None:
            if fetch_site.lower() == "same-origin":
                return False
            if fetch_site.lower() not in SAME_SITE:
                return True
        origin = request.headers.get("Origin")
        if origin is None:
            return False
        if origin == "null":
            return True
        parts = urlsplit(origin)
        return parts.netloc.lower() != (request.host or "").lower()


def logged(action: str, target: str, who: Who | None, outcome: str, address: str = "") -> None:
    """The `console_action` event: who did what to what, and how it ended."""
    shown = who.to_dict() if who is not None else {"address": address, "via": "refused"}
    log.info(
        "console_action",
        action=action,
        target=target[:200],
        who=shown,
        outcome=outcome[:300],
    )
