"""How alerts are delivered: `delivery:` and `channels:` (with their `digest`, `quiet` and
templates) in monitor.yaml."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from monitor.alerts.channels import KINDS, ChannelSettings
from monitor.alerts.channels.templating import KEYS as TEMPLATE_KEYS
from monitor.alerts.channels.templating import with_template
from monitor.alerts.timing import Batching, parse_digest, parse_quiet
from monitor.kernel.checks import Checker, duration, flag, number
from monitor.kernel.located import LocDict

Channel = ChannelSettings

MAX_RETRY_AFTER_S: Final = 600.0  # longer asks are cut: the batch waits on the retry


DEFAULT_GIVE_UP_AFTER_S: Final = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryConfig:
    """How alerts are retried; when a channel counts as down, and how long its alerts wait."""

    attempts: int = 5  # tries of one alert; as many failures in a row mark its channel down
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    give_up_after_s: float = DEFAULT_GIVE_UP_AFTER_S  # a waiting alert is dead-lettered then
    redeliver: bool = True  # dead letters go out again by themselves once their channel is back

    def delay_s(self, attempt: int, asked_s: float | None = None) -> float:
        """How long to wait after failed attempt number `attempt` (1, 2, ...): the backoff, or
        longer when the channel asked for it (429 `retry_after`, up to MAX_RETRY_AFTER_S)."""
        backoff = min(self.max_backoff_s, self.backoff_s * 2.0 ** (attempt - 1))
        if asked_s is None:
            return backoff
        return max(backoff, min(asked_s, MAX_RETRY_AFTER_S))


def parse_delivery(check: Checker, value: object, line: int) -> DeliveryConfig:
    """`delivery:`: retries, when a channel counts as down, how long alerts wait."""
    keys = ("attempts", "backoff", "max_backoff", "give_up_after", "redeliver")
    spec = check.mapping(value, line, "delivery", keys)
    if spec is None:
        return DeliveryConfig()
    default = DeliveryConfig()
    return DeliveryConfig(
        attempts=int(number(check, spec, "attempts", default.attempts, minimum=1)),
        backoff_s=duration(check, spec, "backoff", default.backoff_s),
        max_backoff_s=duration(check, spec, "max_backoff", default.max_backoff_s),
        give_up_after_s=duration(
            check, spec, "give_up_after", default.give_up_after_s, zero_ok=True
        ),
        redeliver=flag(check, spec, "redeliver", default.redeliver, "delivery.redeliver"),
    )


_BATCHING_KEYS = ("digest", "quiet")


def parse_batching(check: Checker, value: object, line: int) -> dict[str, Batching]:
    """Each channel's `digest` and `quiet`, where it has them."""
    found: dict[str, Batching] = {}
    if not isinstance(value, LocDict):
        return found
    for name, spec in value.items():
        if not isinstance(spec, LocDict):
            continue
        digest = _timed(check, spec, "digest", name, ("every", "at", "tz"), parse_digest)
        quiet = _timed(check, spec, "quiet", name, ("from", "to", "tz", "except"), parse_quiet)
        if digest is not None or quiet is not None:
            found[str(name)] = Batching(digest=digest, quiet=quiet)
    return found


T = TypeVar("T")


def _timed(
    check: Checker,
    spec: LocDict,
    key: str,
    name: object,
    keys: tuple[str, ...],
    parse: Callable[[dict[str, object]], T],
) -> T | None:
    if key not in spec:
        return None
    what = f"channel {name!r} {key}"
    inner = check.mapping(spec[key], spec.line_of(key), what, keys)
    if inner is None:
        return None
    try:
        return parse(dict(inner))
    except ValueError as exc:
        check.error(spec.line_of(key), f"{what}: {exc}")
        return None


def parse_channels(check: Checker, value: object, line: int, base: Path) -> dict[str, Channel]:
    """`channels:`: each channel's kind, settings and template (paths relative to `base`)."""
    channels: dict[str, Channel] = {}
    if not isinstance(value, LocDict):
        if value:
            check.error(line, "channels must be a mapping of channel names to channels")
        return channels
    for name in value:
        channel = _channel(check, name, value[name], value.line_of(name), base)
        if channel is not None:
            channels[name] = channel
    return channels


def _channel(check: Checker, name: str, value: object, line: int, base: Path) -> Channel | None:
    kind_name = value.get("kind") if isinstance(value, dict) else None
    what = f"channel {name!r}"
    kind = KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        check.error(line, f"{what}: `kind` must be one of {', '.join(KINDS)}, not {kind_name!r}")
        return None
    spec = check.mapping(value, line, what, ("kind", *kind.keys, *_BATCHING_KEYS, *TEMPLATE_KEYS))
    if spec is None:
        return None
    settings: Channel | None = kind.parse(check, name, spec)
    if settings is None:
        return None
    return with_template(check, spec, kind, settings, base)
