"""monitor.yaml -> a typed, frozen `Config`. The environment is read here and nowhere else.

Paths are relative to the config file. `${VAR}` anywhere in a string is replaced by the
variable's value, from the environment or else from `secrets.env` beside the config file (mode
0600; its values are never logged); a variable set in neither is an error naming it and the line.
Commands that send nothing (`load_config(..., sends=False)`) need no channel secrets: a channel
naming a variable that is not set, or that its variables' values make invalid, is set aside
(`Config.unusable_channels`) instead.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from monitor.alerts.settings import (
    Channel,
    DeliveryConfig,
    parse_batching,
    parse_channels,
    parse_delivery,
)
from monitor.alerts.timing import Batching
from monitor.bus.settings import DEFAULT_RETENTION_S, KafkaConfig, parse_bus, parse_retention
from monitor.feeds.settings import (
    FulltextConfig,
    HealthConfig,
    PollerConfig,
    parse_fulltext,
    parse_health,
    parse_poller,
)
from monitor.kernel.checks import Checker, did_you_mean
from monitor.kernel.envfile import SECRETS_FILE, parse_env, unset_message
from monitor.kernel.errors import ConfigError, Problem
from monitor.kernel.located import LocDict, LocList
from monitor.kernel.yamlfile import read_yaml
from monitor.matching.spec import RuleSet
from monitor.status.settings import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    parse_feedback_key,
    parse_git_commit,
    parse_listen,
    parse_public_url,
)
from monitor.stories.settings import StoriesConfig, parse_stories

# The stages a process can run (`monitor run --role`).
ROLES: Final = ("all", "poller", "matcher", "dispatcher")
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole service configuration."""

    path: Path
    rules_dir: Path
    state_dir: Path
    bus: KafkaConfig | None = None  # None: the embedded local bus
    retention_s: float = DEFAULT_RETENTION_S
    listen_host: str = DEFAULT_HOST
    listen_port: int = DEFAULT_PORT
    http_git_commit: bool = False  # commit a watch saved from the console (a git work tree)
    http_token: str | None = None  # when set, POST endpoints need `Authorization: Bearer` it
    feedback_key: str | None = None  # signs feedback links; None: state_dir/feedback.key
    allowed_hosts: tuple[str, ...] = ()  # Host names served besides localhost and IP literals
    protect_metrics: bool = False  # true: /metrics and /readyz need the token too
    public_url: str | None = None  # where analysts reach the listener (feedback links)
    default_notify: tuple[str, ...] = ()
    channels: dict[str, Channel] = field(default_factory=dict)
    poller: PollerConfig = field(default_factory=PollerConfig)
    fulltext: FulltextConfig = field(default_factory=FulltextConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    stories: StoriesConfig = field(default_factory=StoriesConfig)
    batching: dict[str, Batching] = field(default_factory=dict)  # by channel name
    health: HealthConfig = field(default_factory=HealthConfig)
    log_level: str = "info"
    # Channels set aside by a command that sends nothing: name -> why it cannot send.
    unusable_channels: dict[str, str] = field(default_factory=dict)
    # The values of secrets.env and of set-aside channels' variables: never logged, nor repr'd.
    withheld: tuple[str, ...] = field(default=(), repr=False)
    # The environment `${VAR}`s are read from: secrets.env's values under the process's own.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        """The fields, with every secret (`secrets()`: channel URLs and tokens, secrets.env's
        values) shown as `***`: a Config in a traceback or a debug line gives none away."""
        text = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr
        )
        for secret in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(secret, "***").replace(repr(secret)[1:-1], "***")
        return f"Config({text})"

    def channel_names(self) -> set[str]:
        """Every configured channel's name, usable or set aside."""
        return {*self.channels, *self.unusable_channels}

    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log line: webhook URLs, secrets, passwords."""
        found: list[str] = []
        for channel in self.channels.values():
            found.extend(channel.secrets())
        if self.bus is not None and self.bus.sasl_password:
            found.append(self.bus.sasl_password)
        if self.http_token:
            found.append(self.http_token)
        if self.feedback_key:
            found.append(self.feedback_key)
        found.extend(self.withheld)
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


def load_config(environ: Mapping[str, str], path: Path, *, sends: bool = True) -> Config:
    """Read and validate monitor.yaml; raise ConfigError listing every problem.

    `sends=False`, for commands that send nothing: a channel whose `${VAR}` is not set, or whose
    settings are invalid with the values put in, is left out of `channels` and listed in
    `unusable_channels` with the reason, instead of being an error.
    """
    data, problems = read_yaml(path)
    secrets = read_secrets(path.parent / SECRETS_FILE)
    if problems:
        raise ConfigError("\n".join(map(str, problems)), problems)
    environ = {**secrets, **environ}  # the environment wins over the file
    check = Checker(str(path))
    substituted: dict[str, str] = {}
    unusable: dict[str, str] = {}
    withheld = [value for value in secrets.values() if len(value) >= 4]
    secrets_path = path.parent / SECRETS_FILE
    if not sends:
        unusable = _set_aside(data, environ, path, withheld)
    else:  # a channel with a variable unset: that is its one problem, not an empty url too
        unusable = _unset_channels(data, environ, check, secrets_path)
    data = _interpolate(data, environ, check, 1, substituted, secrets_path)
    config = _build(check, data, path, environ, unusable)
    if check.problems or config is None:
        shown = [
            dataclasses.replace(p, message=_hide(substituted, p.message))
            for p in sorted(check.problems, key=Problem.sort_key)
        ]
        raise ConfigError("\n".join(map(str, shown)), shown)
    return replace(config, unusable_channels=unusable, withheld=tuple(withheld), environ=environ)


def _unset_channels(
    data: object, environ: Mapping[str, str], check: Checker, secrets_path: Path
) -> dict[str, str]:
    """Take out of `data` each channel naming a variable that is not set, saying so at the
    variable's line: its settings are not checked with the variable left empty (a misleading
    "url must be a non-empty string"), and a `notify:` naming it is not an unknown channel."""
    channels = data.get("channels") if isinstance(data, LocDict) else None
    if not isinstance(channels, LocDict):
        return {}
    unset: dict[str, str] = {}
    for name in list(channels):
        missing = sorted(n for n in _names(channels[name]) if n not in environ)
        if missing:
            _interpolate(channels[name], environ, check, channels.line_of(name), {}, secrets_path)
            unset[name] = unset_message(missing[0], secrets_path)
            del channels[name]
    return unset


def read_secrets(path: Path) -> dict[str, str]:
    """The values of `secrets.env` beside monitor.yaml ({} when there is none). Raise
    ConfigError when group or others may read or change it, or a line is not NAME=value."""
    found: list[tuple[int, str]] = []
    values: dict[str, str] = {}
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            found.append(
                (
                    0,
                    f"group or others may read or change it (mode {mode & 0o777:04o}): run "
                    f"chmod 600 {path}",
                )
            )
        else:
            values, found = parse_env(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        found.append((0, f"cannot read file: {exc.strerror or exc}"))
    except UnicodeDecodeError:
        found.append((0, "cannot read file: it is not UTF-8 text"))
    if found:
        problems = [Problem(str(path), line, message) for line, message in found]
        raise ConfigError("\n".join(map(str, problems)), problems)
    return values


def _set_aside(
    data: object, environ: Mapping[str, str], path: Path, withheld: list[str]
) -> dict[str, str]:
    """Take out of `data` the channels that could not send: each one naming a variable that is
    not set, or invalid with the variables' values; return name -> why. The values of the
    variables they name go to `withheld`, so that no log line shows them."""
    channels = data.get("channels") if isinstance(data, LocDict) else None
    if not isinstance(channels, LocDict):
        return {}
    unusable: dict[str, str] = {}
    for name in list(channels):
        names = sorted(_names(channels[name]))
        missing = [n for n in names if n not in environ]
        withheld.extend(environ[n] for n in names if n in environ and len(environ[n]) >= 4)
        if missing:
            unusable[name] = (
                f"environment variable {missing[0]} is not set"
                if len(missing) == 1
                else f"environment variables {', '.join(missing)} are not set"
            )
        elif names and not _valid_channel(channels, name, environ, path):
            unusable[name] = f"invalid with the values of {', '.join(names)}"
        else:
            continue
        del channels[name]
    return unusable


def _names(value: object) -> set[str]:
    """The variables `${NAME}` in the strings of `value`."""
    if isinstance(value, dict):
        return set().union(*map(_names, value.values()))
    if isinstance(value, list):
        return set().union(*map(_names, value))
    return set(_VAR_RE.findall(value)) if isinstance(value, str) else set()


def _valid_channel(channels: LocDict, name: str, environ: Mapping[str, str], path: Path) -> bool:
    """Whether channel `name` is valid once its variables are put in (tried on a copy)."""
    scratch = Checker(str(path))
    one = LocDict({name: _interpolate(copy.deepcopy(channels[name]), environ, scratch, 1, {})})
    one.line, one.key_lines = channels.line, {name: channels.line_of(name)}
    parse_channels(scratch, one, one.line, path.parent)
    parse_batching(scratch, one, one.line)
    return not scratch.problems


def _hide(substituted: Mapping[str, str], message: str) -> str:
    """Put `${NAME}` back where a value from the environment would be echoed: a secret set
    under the wrong key must not reach the terminal or the logs in an error."""
    for value, name in sorted(substituted.items(), key=lambda kv: len(kv[0]), reverse=True):
        if len(value) >= 4:
            message = message.replace(value, f"${{{name}}}")
    return message


def _interpolate(
    value: Any,
    environ: Mapping[str, str],
    check: Checker,
    line: int,
    seen: dict[str, str],
    secrets_path: Path | None = None,
) -> Any:
    """Replace `${NAME}` with the environment's value, noting each in `seen` (value -> name);
    an unset one is a problem saying where to set it (`secrets_path`)."""
    if isinstance(value, LocDict):
        for key in value:
            value[key] = _interpolate(
                value[key], environ, check, value.line_of(key), seen, secrets_path
            )
        return value
    if isinstance(value, LocList):
        for i, item in enumerate(value):
            value[i] = _interpolate(item, environ, check, value.line_of(i), seen, secrets_path)
        return value
    if isinstance(value, str) and "${" in value:

        def replace(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in environ:
                check.error(line, unset_message(name, secrets_path))
                return ""
            seen[environ[name]] = name
            return environ[name]

        return _VAR_RE.sub(replace, value)
    return value


def _build(
    check: Checker,
    data: object,
    path: Path,
    environ: Mapping[str, str],
    unusable: Mapping[str, str],
) -> Config | None:
    spec = check.mapping(data if data is not None else LocDict(), 1, "monitor.yaml", TOP_KEYS)
    if spec is None:
        return None
    base = path.parent
    at = spec.line_of
    rules_dir = check.string(spec.get("rules_dir", "rules"), at("rules_dir"), "rules_dir")
    state_dir = check.string(spec.get("state_dir", "state"), at("state_dir"), "state_dir")
    bus = parse_bus(check, spec.get("bus", "local"), at("bus"), environ)
    retention_s = parse_retention(check, spec.get("bus"), at("bus"))
    host, port, token, allowed_hosts, protect_metrics = parse_listen(
        check, spec.get("http", {}), at("http")
    )
    channels = parse_channels(check, spec.get("channels", {}), at("channels"), base)
    defaults = check.mapping(spec.get("defaults", {}), at("defaults"), "defaults", ("notify",))
    notify: tuple[str, ...] = ()
    if defaults is not None and "notify" in defaults:
        notify = check.strings(defaults["notify"], defaults.line_of("notify"), "defaults.notify")
        for name in notify:
            if name not in channels and name not in unusable:
                check.error(
                    defaults.line_of("notify"),
                    f"defaults.notify names unknown channel {name!r}"
                    + did_you_mean(name, sorted(channels)),
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
        http_git_commit=parse_git_commit(check, spec.get("http", {})),
        public_url=parse_public_url(check, spec.get("http", {})),
        feedback_key=parse_feedback_key(check, spec.get("http", {})),
        allowed_hosts=allowed_hosts,
        protect_metrics=protect_metrics,
        default_notify=notify,
        channels=channels,
        poller=parse_poller(check, spec.get("poller", {}), at("poller")),
        fulltext=parse_fulltext(check, spec.get("fulltext", {}), at("fulltext")),
        delivery=parse_delivery(check, spec.get("delivery", {}), at("delivery")),
        stories=parse_stories(check, spec.get("stories", {}), at("stories")),
        batching=parse_batching(check, spec.get("channels", {}), at("channels")),
        health=parse_health(check, spec.get("health", {}), at("health"), {*channels, *unusable}),
        log_level=level,
    )


def notify_problems(config: Config, rule_set: RuleSet) -> list[Problem]:
    """Every rule's `notify` must name a configured channel: a problem at its `notify:` line,
    with the channel meant (a draft rule's too, so every problem shows in one run)."""
    names = sorted(config.channels)
    return [
        Problem(
            rule.path,
            rule.notify_line or rule.line,
            f"rule {rule.id!r}: notify names unknown channel {name!r}{did_you_mean(name, names)}",
        )
        for rule in (*rule_set.rules, *rule_set.drafts)
        for name in rule.notify
        if name not in config.channel_names()
    ]
