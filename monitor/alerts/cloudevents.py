"""CloudEvents 1.0 in structured mode (JSON format): the CNCF envelope that Knative, Argo Events
and cloud event buses accept, around the generic webhook's body (`format: cloudevents`).

Pure. The attributes:
- `type`: `org.monitor.alert`, `org.monitor.feed_health`, `org.monitor.digest` or
  `org.monitor.summary`;
- `source`: `/monitor/rules/RULE`, `/monitor/feeds/FEED` or `/monitor/channels/CHANNEL`;
- `id`: the alert's (or digest's) id, so a retry is the same event and receivers drop repeats;
- `time`: when the article was fetched (or the digest was due), the same on every retry;
- `subject`: the article's id, for alerts;
- `datacontenttype: application/json` and `data`, the body a plain webhook gets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from monitor.alerts.digest import Digest
from monitor.kernel.models import Alert

CONTENT_TYPE: Final = "application/cloudevents+json; charset=utf-8"
SPEC_VERSION: Final = "1.0"


def alert_event(alert: Alert, data: Any) -> dict[str, Any]:
    """The envelope of one alert (or feed-health change) carrying `data`."""
    if alert.health is not None and alert.event == "channel_health":
        kind, source = alert.event, f"/monitor/channels/{alert.health.get('channel', '')}"
    elif alert.health is not None:
        kind, source = "feed_health", f"/monitor/feeds/{alert.health.get('feed', '')}"
    else:
        kind, source = "alert", f"/monitor/rules/{alert.rule_id}"
    when = alert.article.fetched_at or alert.article.published or datetime.now(UTC)
    return {
        "specversion": SPEC_VERSION,
        "type": f"org.monitor.{kind}",
        "source": source,
        "id": alert.id,
        "time": when.astimezone(UTC).isoformat(),
        "subject": alert.article.id,
        "datacontenttype": "application/json",
        "data": data,
    }


def digest_event(digest: Digest, data: Any) -> dict[str, Any]:
    """The envelope of a digest (or a throttle's summary) carrying `data`."""
    return {
        "specversion": SPEC_VERSION,
        "type": f"org.monitor.{digest.event}",
        "source": f"/monitor/channels/{digest.channel}",
        "id": digest.id,
        "time": digest.sent_for.astimezone(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }
