"""monitor.yaml -> a typed, frozen `Config`. The environment is read here and nowhere else.

Paths are relative to the config file. `${VAR}` anywhere in a string is replaced by the
variable's value; a variable that is not set is an error naming it and the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from monitor.alerts.channels import KINDS, ChannelSettings
from monitor.alerts.channels.templating import KEYS as TEMPLATE_KEYS
from monitor.alerts.channels.templating import with_template
from monitor.alerts.timing import Batching, parse_digest, parse_quiet
from monitor.kernel.checks import Checker, parse_duration
from monitor.kernel.errors import ConfigError, Problem, excerpt
from monitor.kernel.located import LocDict, LocList
from monitor.kernel.yamlfile import read_yaml
from monitor.matching.spec import RuleSet

# The stages a process can run (`monitor run --role`).
ROLES: Final = ("all", "poller", "matcher", "dispatcher")
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_USER_AGENT: Final = "monitor-feed-poller/{version} (+https://github.com/monitor/monitor)"


Channel = ChannelSettings


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


@dataclass(frozen=True, slots=True, kw_only=True)
class FulltextConfig:
    """How article pages become text: in `workers` processes of their own (`queue` more pages
    may wait), each page stopped after `page_timeout_s` or past `page_memory_bytes`."""

    workers: int = 2
    queue: int = 8
    page_timeout_s: float = 10.0
    page_memory_bytes: int = 256 * 1024 * 1024


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


DEFAULT_STORY_WINDOW_S: Final = 48 * 3600.0
MAX_STORY_WINDOW_S: Final = 7 * 86400.0  # the Kafka bus keeps story members this long
DEFAULT_STORY_MEMBERS: Final = 50_000  # the story index's bound (about 40 MB), whatever the window


@dataclass(frozen=True, slots=True, kw_only=True)
class StoriesConfig:
    """Story folding: copies of one report within `window_s` alert once (0 turns it off)."""

    window_s: float = DEFAULT_STORY_WINDOW_S
    # The most articles the window holds (the oldest go first); the dispatcher's other
    # structures are bounded by it (docs/performance.md, "What the dispatcher keeps").
    max_articles: int = DEFAULT_STORY_MEMBERS


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthConfig:
    """Feed-health alerts: to `notify`, when a feed has failed for `failing_after_s`."""

    notify: tuple[str, ...] = ()
    failing_after_s: float = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaConfig:
    """The Kafka bus. `KAFKA_BOOTSTRAP_SERVERS` overrides `bootstrap_servers`."""

    bootstrap_servers: str
    topic_prefix: str = "monitor."
    client_id: str = "monitor"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    partitions: int = 6
    replication_factor: int = 1
    poller_partitions: int = 12


SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_KAFKA_KEYS = (
    "kind",
    "bootstrap_servers",
    "topic_prefix",
    "client_id",
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_check_hostname",
    "partitions",
    "replication_factor",
    "poller_partitions",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole service configuration."""

    path: Path
    rules_dir: Path
    state_dir: Path
    bus: KafkaConfig | None = None  # None: the embedded local bus
    retention_s: float = 30 * 86400.0  # how long the local bus keeps records (for backtests)
    listen_host: str = "127.0.0.1"
    listen_port: int = 9464
    http_token: str | None = None  # when set, POST endpoints need `Authorization: Bearer` it
    allowed_hosts: tuple[str, ...] = ()  # Host names served besides localhost and IP literals
    protect_metrics: bool = False  # true: /metrics and /readyz need the token too
    default_notify: tuple[str, ...] = ()
    channels: dict[str, Channel] = field(default_factory=dict)
    poller: PollerConfig = PollerConfig()
    fulltext: FulltextConfig = FulltextConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    stories: StoriesConfig = StoriesConfig()
    batching: dict[str, Batching] = field(default_factory=dict)  # by channel name
    health: HealthConfig = HealthConfig()
    log_level: str = "info"

    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log line: webhook URLs, secrets, passwords."""
        found: list[str] = []
        for channel in self.channels.values():
            found.extend(channel.secrets())
        if self.bus is not None and self.bus.sasl_password:
            found.append(self.bus.sasl_password)
        if self.http_token:
            found.append(self.http_token)
        return tuple(s for s in found if s)


TOP_KEYS = (
    "rules_dir",
    "state_dir",
    "bus",
    "http",
    "defaults",
    "channels",
    "poller",
    "fulltext",
    "delivery",
    "stories",
    "health",
    "log",
)


def load_config(environ: Mapping[str, str], path: Path) -> Config:
    """Read and validate monitor.yaml; raise ConfigError listing every problem."""
    data, problems = read_yaml(path)
    if problems:
        raise ConfigError("\n".join(map(str, problems)))
    check = Checker(str(path))
    substituted: dict[str, str] = {}
    data = _interpolate(data, environ, check, 1, substituted)
    config = _build(check, data, path, environ)
    if check.problems or config is None:
        raise ConfigError(_hide(substituted, "\n".join(map(str, check.problems))))
    return config


def _hide(substituted: Mapping[str, str], message: str) -> str:
    """Put `${NAME}` back where a value from the environment would be echoed: a secret set
    under the wrong key must not reach the terminal or the logs in an error."""
    for value, name in sorted(substituted.items(), key=lambda kv: len(kv[0]), reverse=True):
        if len(value) >= 4:
            message = message.replace(value, f"${{{name}}}")
    return message


def _interpolate(
    value: Any, environ: Mapping[str, str], check: Checker, line: int, seen: dict[str, str]
) -> Any:
    """Replace `${NAME}` with the environment's value, noting each in `seen` (value -> name)."""
    if isinstance(value, LocDict):
        for key in value:
            value[key] = _interpolate(value[key], environ, check, value.line_of(key), seen)
        return value
    if isinstance(value, LocList):
        for i, item in enumerate(value):
            value[i] = _interpolate(item, environ, check, value.line_of(i), seen)
        return value
    if isinstance(value, str) and "${" in value:

        def replace(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in environ:
                check.error(line, f"environment variable {name} is not set")
                return ""
            seen[environ[name]] = name
            return environ[name]

        return _VAR_RE.sub(replace, value)
    return value


def _build(check: Checker, data: object, path: Path, environ: Mapping[str, str]) -> Config | None:
    spec = check.mapping(data if data is not None else LocDict(), 1, "monitor.yaml", TOP_KEYS)
    if spec is None:
        return None
    base = path.parent
    at = spec.line_of
    rules_dir = check.string(spec.get("rules_dir", "rules"), at("rules_dir"), "rules_dir")
    state_dir = check.string(spec.get("state_dir", "state"), at("state_dir"), "state_dir")
    bus = _bus(check, spec.get("bus", "local"), at("bus"), environ)
    retention_s = _retention(check, spec.get("bus"), at("bus"))
    host, port, token, allowed_hosts, protect_metrics = _listen(
        check, spec.get("http", {}), at("http")
    )
    channels = _channels(check, spec.get("channels", {}), at("channels"), base)
    defaults = check.mapping(spec.get("defaults", {}), at("defaults"), "defaults", ("notify",))
    notify: tuple[str, ...] = ()
    if defaults is not None and "notify" in defaults:
        notify = check.strings(defaults["notify"], defaults.line_of("notify"), "defaults.notify")
        for name in notify:
            if name not in channels:
                check.error(
                    defaults.line_of("notify"), f"defaults.notify names unknown channel {name!r}"
                )
    log = check.mapping(spec.get("log", {}), at("log"), "log", ("level",))
    level = "info"
    if log is not None and "level" in log:
        level = (
            check.choice(
                log["level"],
                log.line_of("level"),
                "log.level",
                ("debug", "info", "warning", "error"),
            )
            or level
        )
    if rules_dir is None or state_dir is None:
        return None
    return Config(
        path=path,
        rules_dir=(base / rules_dir).resolve(),
        state_dir=(base / state_dir).resolve(),
        bus=bus,
        retention_s=retention_s,
        listen_host=host,
        listen_port=port,
        http_token=token,
        allowed_hosts=allowed_hosts,
        protect_metrics=protect_metrics,
        default_notify=notify,
        channels=channels,
        poller=_poller(check, spec.get("poller", {}), at("poller")),
        fulltext=_fulltext(check, spec.get("fulltext", {}), at("fulltext")),
        delivery=_delivery(check, spec.get("delivery", {}), at("delivery")),
        stories=_stories(check, spec.get("stories", {}), at("stories")),
        batching=_batching(check, spec.get("channels", {}), at("channels")),
        health=_health(check, spec.get("health", {}), at("health"), channels),
        log_level=level,
    )


def _retention(check: Checker, value: object, line: int) -> float:
    if not isinstance(value, LocDict) or value.get("kind") != "local":
        return 30 * 86400.0
    check.mapping(value, line, "bus", ("kind", "retention"))
    return _duration(check, value, "retention", 30 * 86400.0)


def _bus(
    check: Checker, value: object, line: int, environ: Mapping[str, str]
) -> KafkaConfig | None:
    kind = value.get("kind") if isinstance(value, dict) else value
    if kind == "local":
        return None
    if kind != "kafka":
        check.error(line, f"bus must be `local` or {{kind: kafka, ...}}, not {kind!r}")
        return None
    spec = check.mapping(value, line, "bus", _KAFKA_KEYS)
    if spec is None:
        return None
    at = spec.line_of
    servers = environ.get("KAFKA_BOOTSTRAP_SERVERS") or spec.get("bootstrap_servers")
    servers = check.string(servers, at("bootstrap_servers"), "bus.bootstrap_servers")
    protocol = check.choice(
        spec.get("security_protocol", "PLAINTEXT"),
        at("security_protocol"),
        "bus.security_protocol",
        SECURITY_PROTOCOLS,
    )
    mechanism = spec.get("sasl_mechanism")
    if mechanism is not None:
        mechanism = check.choice(
            mechanism, at("sasl_mechanism"), "bus.sasl_mechanism", SASL_MECHANISMS
        )
    if protocol and protocol.startswith("SASL") and mechanism is None:
        check.error(
            at("security_protocol"),
            f"bus: {protocol} needs sasl_mechanism, sasl_username and sasl_password",
        )
    texts = {}
    for key in (
        "topic_prefix",
        "client_id",
        "sasl_username",
        "sasl_password",
        "ssl_cafile",
        "ssl_certfile",
        "ssl_keyfile",
    ):
        if key in spec:
            texts[key] = check.string(spec[key], at(key), f"bus.{key}")
    hostname = spec.get("ssl_check_hostname", True)
    if not isinstance(hostname, bool):
        check.error(at("ssl_check_hostname"), "bus.ssl_check_hostname must be true or false")
    if servers is None or protocol is None:
        return None
    return KafkaConfig(
        bootstrap_servers=servers,
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        ssl_check_hostname=hostname is not False,
        partitions=int(_number(check, spec, "partitions", 6, minimum=1)),
        replication_factor=int(_number(check, spec, "replication_factor", 1, minimum=1)),
        poller_partitions=int(_number(check, spec, "poller_partitions", 12, minimum=1)),
        **{k: v for k, v in texts.items() if v is not None},
    )


def _listen(
    check: Checker, value: object, line: int
) -> tuple[str, int, str | None, tuple[str, ...], bool]:
    spec = check.mapping(
        value, line, "http", ("listen", "token", "allowed_hosts", "protect_metrics")
    )
    listen = spec.get("listen", "127.0.0.1:9464") if spec is not None else "127.0.0.1:9464"
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
        return "127.0.0.1", 9464, token, allowed, protect
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - ":9464": every address
    return host, int(port), token, allowed, protect


def _number(check: Checker, spec: LocDict, key: str, default: float, *, minimum: float) -> float:
    if key not in spec:
        return default
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        check.error(spec.line_of(key), f"{key} must be a number >= {minimum}, not {value!r}")
        return default
    return float(value)


def _flag(check: Checker, spec: LocDict, key: str, default: bool, name: str) -> bool:
    if key not in spec:
        return default
    value = check.boolean(spec[key], spec.line_of(key), name)
    return default if value is None else value


def _duration(
    check: Checker, spec: LocDict, key: str, default: float, *, zero_ok: bool = False
) -> float:
    if key not in spec:
        return default
    try:
        return parse_duration(spec[key], zero_ok=zero_ok)
    except ValueError as exc:
        check.error(spec.line_of(key), f"{key}: {exc}")
        return default


def _poller(check: Checker, value: object, line: int) -> PollerConfig:
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
    )
    spec = check.mapping(value, line, "poller", keys)
    if spec is None:
        return PollerConfig()
    private = [  # both checked, so a bad value of either is reported
        check.boolean(spec.get(key, False), spec.line_of(key), f"poller.{key}")
        for key in ("allow_private", "allow_private_redirects")
    ]
    return PollerConfig(
        concurrency=int(_number(check, spec, "concurrency", 16, minimum=1)),
        timeout_s=_duration(check, spec, "timeout", 20.0),
        max_body_bytes=int(_number(check, spec, "max_body_bytes", 10 * 1024 * 1024, minimum=1024)),
        max_redirects=int(_number(check, spec, "max_redirects", 5, minimum=0)),
        max_backoff_s=_duration(check, spec, "max_backoff", 3600.0),
        user_agent=str(spec.get("user_agent") or ""),
        allow_private=any(private),
        per_host=int(_number(check, spec, "per_host", 2, minimum=1)),
        host_delay_s=_duration(check, spec, "host_delay", 1.0, zero_ok=True),
    )


def _fulltext(check: Checker, value: object, line: int) -> FulltextConfig:
    keys = ("workers", "queue", "page_timeout", "page_memory_bytes")
    spec = check.mapping(value, line, "fulltext", keys)
    if spec is None:
        return FulltextConfig()
    default = FulltextConfig()
    return FulltextConfig(
        workers=int(_number(check, spec, "workers", default.workers, minimum=1)),
        queue=int(_number(check, spec, "queue", default.queue, minimum=0)),
        page_timeout_s=_duration(check, spec, "page_timeout", default.page_timeout_s),
        page_memory_bytes=int(
            _number(check, spec, "page_memory_bytes", default.page_memory_bytes, minimum=1 << 24)
        ),
    )


def _delivery(check: Checker, value: object, line: int) -> DeliveryConfig:
    keys = ("attempts", "backoff", "max_backoff", "give_up_after", "redeliver")
    spec = check.mapping(value, line, "delivery", keys)
    if spec is None:
        return DeliveryConfig()
    default = DeliveryConfig()
    return DeliveryConfig(
        attempts=int(_number(check, spec, "attempts", default.attempts, minimum=1)),
        backoff_s=_duration(check, spec, "backoff", default.backoff_s),
        max_backoff_s=_duration(check, spec, "max_backoff", default.max_backoff_s),
        give_up_after_s=_duration(
            check, spec, "give_up_after", default.give_up_after_s, zero_ok=True
        ),
        redeliver=_flag(check, spec, "redeliver", default.redeliver, "delivery.redeliver"),
    )


def _stories(check: Checker, value: object, line: int) -> StoriesConfig:
    spec = check.mapping(value, line, "stories", ("window", "max_articles"))
    if spec is None:
        return StoriesConfig()
    most = int(_number(check, spec, "max_articles", DEFAULT_STORY_MEMBERS, minimum=1))
    if "window" not in spec:
        return StoriesConfig(max_articles=most)
    raw = spec["window"]
    if raw in (0, "0", "0s"):
        return StoriesConfig(window_s=0.0, max_articles=most)
    window_s = _duration(check, spec, "window", DEFAULT_STORY_WINDOW_S)
    if window_s > MAX_STORY_WINDOW_S:
        check.error(spec.line_of("window"), f"stories.window must be at most 7d, not {raw!r}")
        return StoriesConfig(max_articles=most)
    return StoriesConfig(window_s=window_s, max_articles=most)


def _health(
    check: Checker, value: object, line: int, channels: Mapping[str, Channel]
) -> HealthConfig:
    spec = check.mapping(value, line, "health", ("notify", "failing_after"))
    if spec is None:
        return HealthConfig()
    notify = check.strings(spec.get("notify", []), spec.line_of("notify"), "health.notify")
    for name in notify:
        if name not in channels:
            check.error(spec.line_of("notify"), f"health.notify names unknown channel {name!r}")
    failing_after_s = _duration(check, spec, "failing_after", 3600.0)
    if failing_after_s < 60:
        check.error(spec.line_of("failing_after"), "health.failing_after must be at least 1m")
    return HealthConfig(notify=notify, failing_after_s=failing_after_s)


_BATCHING_KEYS = ("digest", "quiet")


def _batching(check: Checker, value: object, line: int) -> dict[str, Batching]:
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


def _channels(check: Checker, value: object, line: int, base: Path) -> dict[str, Channel]:
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


def notify_problems(config: Config, rule_set: RuleSet) -> list[Problem]:
    """Every rule's `notify` must name a configured channel."""
    return [
        Problem(rule.path, rule.line, f"rule {rule.id!r}: notify names unknown channel {name!r}")
        for rule in rule_set.rules
        for name in rule.notify
        if name not in config.channels
    ]
