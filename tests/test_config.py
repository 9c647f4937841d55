"""monitor.yaml: the shape the pipeline issue pins works as written; mistakes are located."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from monitor.alerts.channels.email import EmailSettings
from monitor.alerts.channels.http import HookSettings
from monitor.commands.check import check
from monitor.feeds.settings import FulltextConfig
from monitor.kernel.errors import ConfigError
from monitor.service.config import load_config
from tests.conftest import ROOT

PINNED = """\
rules_dir: rules
state_dir: state
bus: local                      # later also: {kind: kafka, bootstrap_servers: "host:9092"}
http: {listen: "127.0.0.1:9464"}
defaults: {notify: [console]}
channels:
  console: {kind: console}
  ops-hook: {kind: webhook, url: "http://127.0.0.1:8080/hook", secret: "${HOOK_SECRET}"}
  team-slack: {kind: slack, url: "${SLACK_WEBHOOK_URL}"}
  analysts: {kind: email, host: 127.0.0.1, port: 2525, security: none, from: "monitor@example.org", to: ["desk@example.org"]}
"""
ENV = {"HOOK_SECRET": "hunter2", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_pinned_shape_loads(tmp_path: Path) -> None:
    """The documented monitor.yaml loads as written, with paths relative to the file."""
    config = load_config(ENV, write(tmp_path, PINNED))
    assert tmp_path / "rules" == config.rules_dir
    assert tmp_path / "state" == config.state_dir
    assert ("127.0.0.1", 9464) == (config.listen_host, config.listen_port)
    assert ("console",) == config.default_notify
    hook = config.channels["ops-hook"]
    assert isinstance(hook, HookSettings)
    assert ("webhook", "hunter2") == (hook.kind, hook.secret)
    slack = config.channels["team-slack"]
    assert isinstance(slack, HookSettings)
    assert ENV["SLACK_WEBHOOK_URL"] == slack.url
    mail = config.channels["analysts"]
    assert isinstance(mail, EmailSettings)
    assert ("127.0.0.1", 2525, "none", ("desk@example.org",)) == (
        mail.host,
        mail.port,
        mail.security,
        mail.to,
    )
    assert {"hunter2", ENV["SLACK_WEBHOOK_URL"]} <= set(config.secrets())


def test_missing_variable_is_named(tmp_path: Path) -> None:
    """A ${VAR} that is not set is an error naming the variable and the line."""
    with pytest.raises(ConfigError) as caught:
        load_config({"HOOK_SECRET": "x"}, write(tmp_path, PINNED))
    assert f"{tmp_path}/monitor.yaml:9: environment variable SLACK_WEBHOOK_URL is not set" in str(
        caught.value
    )


def test_missing_variable_sets_the_channel_aside_when_nothing_is_sent(tmp_path: Path) -> None:
    """`sends=False`: the channel naming an unset ${VAR} is left out with the reason, the others
    stay, and a rule or default naming it is no problem."""
    config = load_config({"HOOK_SECRET": "x"}, write(tmp_path, PINNED), sends=False)
    assert "environment variable SLACK_WEBHOOK_URL is not set" in config.unusable_channels.values()
    aside = set(config.unusable_channels)
    assert aside.isdisjoint(config.channels)
    assert config.channel_names() == aside | set(config.channels)
    assert config.channels  # the channels that need nothing unset are kept


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http: {listen: nowhere}\n", "monitor.yaml:1: http.listen must be HOST:PORT"),
        (
            "http: {protect_metrics: true}\n",
            "monitor.yaml:1: http.protect_metrics needs http.token",
        ),
        ("http: {protect_metrics: 1}\n", "http.protect_metrics must be true or false"),
        ("http:\n  allowed_hosts: [http://a.lan/]\n", "monitor.yaml:2: http.allowed_hosts:"),
        ("http: {allowed_hosts: a.lan}\n", "http.allowed_hosts must be a list"),
        ("defaults: {notify: [pager]}\n", "defaults.notify names unknown channel 'pager'"),
        ("channels:\n  x: {kind: pigeon}\n", "monitor.yaml:2: channel 'x': `kind` must be one of"),
        ("channels:\n  x: {kind: webhook}\n", "channel 'x' url must be a non-empty string"),
        (
            "channels:\n  x: {kind: slack, url: 'ftp://x'}\n",
            "channel 'x': url must be an http(s) URL",
        ),
        (
            "channels:\n  x: {kind: email, host: h, port: 25, security: ssl, from: a@b, to: [c@d]}\n",
            "channel 'x' security must be one of none, starttls, tls",
        ),
        (
            "channels:\n  x: {kind: email, host: h, from: a@b, to: []}\n",
            "`to` needs at least one address",
        ),
        ("delivery: {attempts: 0}\n", "attempts must be a number >= 1"),
        ("delivery: {give_up_after: soon}\n", "give_up_after: 'soon' is not a duration"),
        ("delivery:\n  redeliver: maybe\n", "monitor.yaml:2: delivery.redeliver must be true or"),
        ("delivery: {retries: 3}\n", "unknown key 'retries'"),
        ("poller: {timeout: soon}\n", "timeout: 'soon' is not a duration"),
        ("poller: {per_host: 0}\n", "per_host must be a number >= 1"),
        ("poller: {host_delay: -1s}\n", "host_delay: '-1s' is not a duration"),
        ("poller: {timeout: 0s}\n", "timeout: '0s' must be longer than zero"),
        ("fulltext: {workers: 0}\n", "workers must be a number >= 1"),
        ("fulltext: {page_timeout: never}\n", "page_timeout: 'never' is not a duration"),
        ("fulltext: {page_memory_bytes: 1000}\n", "page_memory_bytes must be a number >= 16777216"),
        ("fulltext: {threads: 4}\n", "threads"),
        ("bus: {kind: zeromq}\n", "bus must be `local` or {kind: kafka, ...}"),
        ("bus: {kind: kafka}\n", "bus.bootstrap_servers must be a non-empty string"),
        (
            "bus: {kind: kafka, bootstrap_servers: 'h:9092', security_protocol: SASL_SSL}\n",
            "needs sasl_mechanism",
        ),
        (
            "bus: {kind: kafka, bootstrap_servers: 'h:9092', sasl_mechanism: GSSAPI}\n",
            "bus.sasl_mechanism must be one of",
        ),
        ("colour: blue\n", "unknown key 'colour' in monitor.yaml"),
        ("stories: {window: 8d}\n", "stories.window must be at most 7d"),
        ("stories: {window: soon}\n", "window: 'soon' is not a duration"),
        ("stories: {windows: 1h}\n", "unknown key 'windows'"),
        (
            "channels:\n  c: {kind: console, digest: {every: 1h, at: ['08:00']}}\n",
            "monitor.yaml:2: channel 'c' digest: digest needs either `every` or `at`",
        ),
        (
            "channels:\n  c: {kind: console, quiet: {from: '22:00', to: '7', tz: Europe/Berlin}}\n",
            "channel 'c' quiet: '7' is not a time of day",
        ),
        ("channels:\n  c: {kind: console, quiet: {form: '22:00'}}\n", "unknown key 'form'"),
    ],
)
def test_mistakes_are_located(tmp_path: Path, text: str, expected: str) -> None:
    """Each mistake in monitor.yaml is reported with the file and what is wrong."""
    with pytest.raises(ConfigError) as caught:
        load_config({}, write(tmp_path, text))
    assert expected in str(caught.value)


def test_check_with_config_validates_rules_and_channels(tmp_path: Path) -> None:
    """`monitor check --config` fails when a rule notifies a channel the config lacks."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "w.yaml").write_text("rules:\n  - {id: a, match: {any: [x]}, notify: [pager]}\n")
    config = write(tmp_path, "rules_dir: rules\nchannels:\n  console: {kind: console}\n")
    err = io.StringIO()
    assert 1 == check(None, io.StringIO(), err, config_path=config)
    assert f"{rules}/w.yaml:2: rule 'a': notify names unknown channel 'pager'" in err.getvalue()


def test_shipped_config_checks(tmp_path: Path) -> None:
    """The shipped monitor.yaml and rules pass `monitor check --config` with no environment."""
    out = io.StringIO()
    assert 0 == check(None, out, io.StringIO(), config_path=ROOT / "monitor.yaml")
    assert "config" in out.getvalue()


def test_kafka_bus_and_environment_override(tmp_path: Path) -> None:
    """The Kafka bus takes its options; KAFKA_BOOTSTRAP_SERVERS overrides bootstrap_servers."""
    text = (
        "bus: {kind: kafka, bootstrap_servers: 'h1:9092,h2:9092', topic_prefix: 'm.', client_id: mon,\n"
        "      security_protocol: SASL_SSL, sasl_mechanism: SCRAM-SHA-512, sasl_username: u,\n"
        "      sasl_password: '${KAFKA_PASSWORD}', ssl_cafile: /etc/ca.pem, partitions: 12, replication_factor: 3}\n"
    )
    path = write(tmp_path, text)
    config = load_config({"KAFKA_PASSWORD": "pw-123"}, path)
    assert config.bus is not None
    assert ("h1:9092,h2:9092", "m.", "SCRAM-SHA-512", 12, 3) == (
        config.bus.bootstrap_servers,
        config.bus.topic_prefix,
        config.bus.sasl_mechanism,
        config.bus.partitions,
        config.bus.replication_factor,
    )
    assert "pw-123" in config.secrets()
    override = load_config({"KAFKA_PASSWORD": "x", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, path)
    assert override.bus is not None
    assert "127.0.0.1:1" == override.bus.bootstrap_servers


def test_a_value_from_the_environment_is_never_echoed_in_an_error(tmp_path: Path) -> None:
    """A secret written under the wrong key is named by its variable, not shown."""
    path = tmp_path / "monitor.yaml"
    path.write_text('poller: {timeout: "${HOOK_SECRET}"}\n')
    with pytest.raises(ConfigError) as caught:
        load_config({"HOOK_SECRET": "hooksecret-abcdef123456"}, path)
    assert "hooksecret" not in str(caught.value)
    assert "${HOOK_SECRET}" in str(caught.value)


def test_http_token_is_read_and_redacted(tmp_path: Path) -> None:
    """`http: {token: ...}` is read from the environment and counted among the secrets."""
    path = tmp_path / "monitor.yaml"
    path.write_text('http: {listen: "127.0.0.1:9464", token: "${MONITOR_TOKEN}"}\n')
    config = load_config({"MONITOR_TOKEN": "t" * 24}, path)
    assert "t" * 24 == config.http_token
    assert "t" * 24 in config.secrets()
    assert ((), False) == (config.allowed_hosts, config.protect_metrics)


def test_http_allowed_hosts_and_protect_metrics_are_read(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        "http:\n  listen: 0.0.0.0:9464\n  token: ${MONITOR_TOKEN}\n"
        "  allowed_hosts: [monitor.lan, '*']\n  protect_metrics: true\n"
    )
    config = load_config({"MONITOR_TOKEN": "t" * 24}, path)
    assert ("0.0.0.0", ("monitor.lan", "*"), True) == (  # noqa: S104
        config.listen_host,
        config.allowed_hosts,
        config.protect_metrics,
    )


@pytest.mark.parametrize(
    ("text", "window_s"),
    [("", 48 * 3600.0), ("stories: {window: 6h}\n", 6 * 3600.0), ("stories: {window: 0}\n", 0.0)],
)
def test_stories_are_on_by_default_and_window_0_turns_them_off(
    tmp_path: Path, text: str, window_s: float
) -> None:
    """Stories fold copies within 48h unless monitor.yaml says otherwise; 0 turns them off."""
    assert window_s == load_config({}, write(tmp_path, text)).stories.window_s


@pytest.mark.parametrize(
    ("text", "give_up_after_s", "redeliver"),
    [
        ("", 86400.0, True),
        ("delivery: {give_up_after: 2h, redeliver: false}\n", 7200.0, False),
        ("delivery: {give_up_after: 0}\n", 0.0, True),
    ],
)
def test_alerts_wait_a_day_for_their_channel_and_are_redelivered_by_default(
    tmp_path: Path, text: str, give_up_after_s: float, redeliver: bool
) -> None:
    """`give_up_after` is 24h unless monitor.yaml says otherwise (0: dead-letter at once);
    `redeliver` is on."""
    delivery = load_config({}, write(tmp_path, text)).delivery
    assert (give_up_after_s, redeliver) == (delivery.give_up_after_s, delivery.redeliver)


def test_channels_may_batch_and_keep_quiet_hours(tmp_path: Path) -> None:
    """`digest` and `quiet` on a channel are read into its batching."""
    text = (
        "channels:\n"
        "  desk: {kind: console, digest: {at: ['08:00', '17:00'], tz: Europe/Berlin}}\n"
        "  night: {kind: console, quiet: {from: '22:00', to: '07:00', tz: Europe/Berlin,"
        " except: [high]}}\n"
        "  now: {kind: console}\n"
    )
    batching = load_config({}, write(tmp_path, text)).batching
    assert {"desk", "night"} == set(batching)
    assert batching["desk"].digest is not None
    assert 2 == len(batching["desk"].digest.at)
    assert batching["night"].quiet is not None
    assert ("high",) == batching["night"].quiet.except_severities


def test_fulltext_limits(tmp_path: Path) -> None:
    """The extraction workers' number, queue and per-page limits are read, with defaults."""
    path = tmp_path / "monitor.yaml"
    path.write_text(
        "fulltext: {workers: 3, queue: 0, page_timeout: 5s, page_memory_bytes: 134217728}\n"
    )
    assert (
        FulltextConfig(workers=3, queue=0, page_timeout_s=5.0, page_memory_bytes=128 * 1024 * 1024)
        == load_config({}, path).fulltext
    )
    path.write_text("{}\n")
    assert (
        FulltextConfig(workers=2, queue=8, page_timeout_s=10.0, page_memory_bytes=256 * 1024 * 1024)
        == load_config({}, path).fulltext
    )


def test_politeness_settings(tmp_path: Path) -> None:
    """`per_host` and `host_delay` are read; a zero delay is allowed (one's own servers)."""
    path = tmp_path / "monitor.yaml"
    path.write_text("poller: {per_host: 3, host_delay: 250ms}\n")
    poller = load_config({}, path).poller
    assert (3, 0.25) == (poller.per_host, poller.host_delay_s)
    path.write_text("poller: {host_delay: 0s}\n")
    assert 0.0 == load_config({}, path).poller.host_delay_s
    path.write_text("{}\n")
    assert (2, 1.0) == (
        load_config({}, path).poller.per_host,
        load_config({}, path).poller.host_delay_s,
    )
