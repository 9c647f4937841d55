"""The Kafka bus's settings (`bus:` in monitor.yaml) and how long the local bus keeps records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from monitor.kernel.checks import Checker, duration, number
from monitor.kernel.located import LocDict

DEFAULT_RETENTION_S: Final = 30 * 86400.0  # how long the local bus keeps records (for backtests)


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


class BusPlace(Protocol):
    """Where a process's bus and state live: what a reader of stored records needs to know
    (the service's `Config` is one)."""

    @property
    def bus(self) -> KafkaConfig | None:
        """The Kafka bus's settings, or None for the local bus."""

    @property
    def state_dir(self) -> Path:
        """The state directory (the local bus's `bus.db` is in it)."""


KAFKA_DEFAULTS: Final = KafkaConfig(bootstrap_servers="")
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


def parse_retention(check: Checker, value: object, line: int) -> float:
    """`bus: {kind: local, retention: 30d}`: how long the local bus keeps records."""
    if not isinstance(value, LocDict) or value.get("kind") != "local":
        return DEFAULT_RETENTION_S
    check.mapping(value, line, "bus", ("kind", "retention"))
    return duration(check, value, "retention", DEFAULT_RETENTION_S)


def parse_bus(
    check: Checker, value: object, line: int, environ: Mapping[str, str]
) -> KafkaConfig | None:
    """`bus:`: `local` (None) or the Kafka bus's settings."""
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
        partitions=int(number(check, spec, "partitions", KAFKA_DEFAULTS.partitions, minimum=1)),
        replication_factor=int(
            number(check, spec, "replication_factor", KAFKA_DEFAULTS.replication_factor, minimum=1)
        ),
        poller_partitions=int(
            number(check, spec, "poller_partitions", KAFKA_DEFAULTS.poller_partitions, minimum=1)
        ),
        **{k: v for k, v in texts.items() if v is not None},
    )
