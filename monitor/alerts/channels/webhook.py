"""`webhook`: the alert as JSON, POSTed to any URL, signed with HMAC-SHA256 when `secret` is set;
with `format: cloudevents`, wrapped in a CloudEvents 1.0 envelope (`monitor.alerts.cloudevents`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Final

from monitor.alerts import cloudevents
from monitor.alerts.channels.base import HttpRequest
from monitor.alerts.channels.http import HOOK_KEYS, HookSettings, http_kind, parse_hook
from monitor.alerts.digest import Digest
from monitor.alerts.render import json_string
from monitor.kernel.checks import Checker
from monitor.kernel.located import LocDict
from monitor.kernel.models import Alert


def signature(secret: str, body: bytes) -> str:
    """The X-Monitor-Signature value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


FORMATS: Final = ("plain", "cloudevents")
WEBHOOK_KEYS: Final = (*HOOK_KEYS, "format")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookSettings(HookSettings):
    """A generic webhook: `format` plain JSON (the default) or a CloudEvents envelope."""

    format: str = "plain"


def parse_webhook(check: Checker, name: str, spec: LocDict) -> WebhookSettings | None:
    """The hook's keys, and `format`: plain or cloudevents."""
    hook = parse_hook(check, name, spec)
    fmt = spec.get("format", "plain")
    if fmt not in FORMATS:
        check.error(
            spec.line_of("format"),
            f"channel {name!r}: format must be one of {', '.join(FORMATS)}, not {fmt!r}",
        )
        return None
    if hook is None:
        return None
    return WebhookSettings(
        name=hook.name,
        kind=hook.kind,
        url=hook.url,
        secret=hook.secret,
        timeout_s=hook.timeout_s,
        format=str(fmt),
    )


def hook_request(
    settings: HookSettings,
    payload: Any,
    ids: dict[str, str],
    content_type: str = "application/json",
) -> HttpRequest:
    """A JSON POST to the hook's URL carrying `ids` headers, signed when it has a secret."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": content_type, **ids}
    if settings.secret:
        headers["X-Monitor-Signature"] = signature(settings.secret, body)
    return HttpRequest(method="POST", url=settings.url, body=body, headers=headers)


def webhook_body(alert: Alert) -> dict[str, Any]:
    """The generic webhook's JSON body: the rule, the article and the evidence."""
    return alert.to_dict()


def _as_cloudevent(settings: HookSettings) -> bool:
    return isinstance(settings, WebhookSettings) and settings.format == "cloudevents"


def render(settings: HookSettings, alert: Alert) -> HttpRequest:
    """The alert's JSON, with its id in `X-Monitor-Alert-Id`."""
    return _alert_request(settings, alert, webhook_body(alert))


def render_digest(settings: HookSettings, digest: Digest) -> HttpRequest:
    """Every item of the digest, unabridged, with its id in `X-Monitor-Digest-Id`."""
    ids = {"X-Monitor-Digest-Id": digest.id}
    if _as_cloudevent(settings):
        event = cloudevents.digest_event(digest, digest.to_dict())
        return hook_request(settings, event, ids, cloudevents.CONTENT_TYPE)
    return hook_request(settings, digest.to_dict(), ids)


def templated(settings: HookSettings, alert: Alert, title: str, body: str) -> HttpRequest:
    """The template's body is the JSON sent (the title is not used)."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"the webhook template's body is not JSON: {exc}") from exc
    return _alert_request(settings, alert, payload)


def _alert_request(settings: HookSettings, alert: Alert, data: Any) -> HttpRequest:
    ids = {"X-Monitor-Alert-Id": alert.id}
    if _as_cloudevent(settings):
        event = cloudevents.alert_event(alert, data)
        return hook_request(settings, event, ids, cloudevents.CONTENT_TYPE)
    return hook_request(settings, data, ids)


KIND = http_kind(
    name="webhook",
    keys=WEBHOOK_KEYS,
    parse=parse_webhook,
    render=render,
    render_digest=render_digest,
    summary="JSON POST to any URL, HMAC-signed with `secret`; or a CloudEvent",
    escape=json_string,
    templated=templated,
)
