"""How feeds are fetched and watched: `poller:`, `fulltext:` and `health:` in monitor.yaml."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from monitor.kernel.checks import Checker, duration, number

DEFAULT_USER_AGENT: Final = "monitor-feed-poller/{version} (+https://github.com/monitor/monitor)"
DEFAULT_MAX_AGE_S: Final = 2 * 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PollerConfig:
    """How feeds are fetched."""

    concurrency: int = 16
    timeout_s: float = 20.0
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    max_backoff_s: float = 3600.0
    user_agent: str = ""
    # Internal addresses (loopback, private) for any feed; link-local and metadata never.
    allow_private: bool = False
    per_host: int = 2  # requests at once to one host (feeds, pages and robots.txt together)
    host_delay_s: float = 1.0  # at least this long between the starts of two of them
    # A feed's first poll records, without publishing, the items published longer ago than this
    # (a feed may say its own `max_age:`); see `monitor.feeds.baseline`.
    max_age_s: float = DEFAULT_MAX_AGE_S


@dataclass(frozen=True, slots=True, kw_only=True)
class FulltextConfig:
    """How article pages become text: in `workers` processes of their own (`queue` more pages
    may wait), each page stopped after `page_timeout_s` or past `page_memory_bytes`."""

    workers: int = 2
    queue: int = 8
    page_timeout_s: float = 10.0
    page_memory_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthConfig:
    """Feed-health alerts: to `notify`, when a feed has failed for `failing_after_s`."""

    notify: tuple[str, ...] = ()
    failing_after_s: float = 3600.0


def parse_poller(check: Checker, value: object, line: int) -> PollerConfig:
    """`poller:`: how feeds are fetched."""
    keys = (
        "concurrency",
        "timeout",
        "max_body_bytes",
        "max_redirects",
        "max_backoff",
        "user_agent",
        "allow_private",
        "allow_private_redirects",  # its old name, still read
        "per_host",
        "host_delay",
        "max_age",
    )
    spec = check.mapping(value, line, "poller", keys)
    if spec is None:
        return PollerConfig()
    private = [  # both checked, so a bad value of either is reported
        check.boolean(spec.get(key, False), spec.line_of(key), f"poller.{key}")
        for key in ("allow_private", "allow_private_redirects")
    ]
    default = PollerConfig()
    return PollerConfig(
        concurrency=int(number(check, spec, "concurrency", default.concurrency, minimum=1)),
        timeout_s=duration(check, spec, "timeout", default.timeout_s),
        max_body_bytes=int(
            number(check, spec, "max_body_bytes", default.max_body_bytes, minimum=1024)
        ),
        max_redirects=int(number(check, spec, "max_redirects", default.max_redirects, minimum=0)),
        max_backoff_s=duration(check, spec, "max_backoff", default.max_backoff_s),
        user_agent=str(spec.get("user_agent") or ""),
        allow_private=any(private),
        per_host=int(number(check, spec, "per_host", default.per_host, minimum=1)),
        host_delay_s=duration(check, spec, "host_delay", default.host_delay_s, zero_ok=True),
        max_age_s=duration(check, spec, "max_age", default.max_age_s),
    )


def parse_fulltext(check: Checker, value: object, line: int) -> FulltextConfig:
    """`fulltext:`: the page workers' bounds."""
    keys = ("workers", "queue", "page_timeout", "page_memory_bytes")
    spec = check.mapping(value, line, "fulltext", keys)
    if spec is None:
        return FulltextConfig()
    default = FulltextConfig()
    return FulltextConfig(
        workers=int(number(check, spec, "workers", default.workers, minimum=1)),
        queue=int(number(check, spec, "queue", default.queue, minimum=0)),
        page_timeout_s=duration(check, spec, "page_timeout", default.page_timeout_s),
        page_memory_bytes=int(
            number(check, spec, "page_memory_bytes", default.page_memory_bytes, minimum=1 << 24)
        ),
    )


def parse_health(
    check: Checker, value: object, line: int, channels: Collection[str]
) -> HealthConfig:
    """`health:`: feed-health alerts; `channels` are the configured channels' names."""
    spec = check.mapping(value, line, "health", ("notify", "failing_after"))
    if spec is None:
        return HealthConfig()
    notify = check.strings(spec.get("notify", []), spec.line_of("notify"), "health.notify")
    for name in notify:
        if name not in channels:
            check.error(spec.line_of("notify"), f"health.notify names unknown channel {name!r}")
    failing_after_s = duration(check, spec, "failing_after", HealthConfig().failing_after_s)
    if failing_after_s < 60:
        check.error(spec.line_of("failing_after"), "health.failing_after must be at least 1m")
    return HealthConfig(notify=notify, failing_after_s=failing_after_s)
