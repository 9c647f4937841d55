"""`webhook`: the alert as JSON, POSTed to any URL, signed with HMAC-SHA256 when `secret` is set."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from monitor.alerts.channels.base import HttpRequest
from monitor.alerts.channels.http import HOOK_KEYS, HookSettings, http_kind, parse_hook
from monitor.alerts.digest import Digest
from monitor.alerts.render import json_string
from monitor.models import Alert


def signature(secret: str, body: bytes) -> str:
    """The X-Monitor-Signature value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hook_request(settings: HookSettings, payload: Any, ids: dict[str, str]) -> HttpRequest:
    """A JSON POST to the hook's URL carrying `ids` headers, signed when it has a secret."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", **ids}
    if settings.secret:
        headers["X-Monitor-Signature"] = signature(settings.secret, body)
    return HttpRequest(method="POST", url=settings.url, body=body, headers=headers)


def webhook_body(alert: Alert) -> dict[str, Any]:
    """The generic webhook's JSON body: the rule, the article and the evidence."""
    return alert.to_dict()


def render(settings: HookSettings, alert: Alert) -> HttpRequest:
    """The alert's JSON, with its id in `X-Monitor-Alert-Id`."""
    return hook_request(settings, webhook_body(alert), {"X-Monitor-Alert-Id": alert.id})


def render_digest(settings: HookSettings, digest: Digest) -> HttpRequest:
    """Every item of the digest, unabridged, with its id in `X-Monitor-Digest-Id`."""
    return hook_request(settings, digest.to_dict(), {"X-Monitor-Digest-Id": digest.id})


def templated(settings: HookSettings, alert: Alert, title: str, body: str) -> HttpRequest:
    """The template's body is the JSON sent (the title is not used)."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"the webhook template's body is not JSON: {exc}") from exc
    return hook_request(settings, payload, {"X-Monitor-Alert-Id": alert.id})


KIND = http_kind(
    name="webhook",
    keys=HOOK_KEYS,
    parse=parse_hook,
    render=render,
    render_digest=render_digest,
    summary="JSON POST to any URL, HMAC-signed with `secret`",
    escape=json_string,
    templated=templated,
)
