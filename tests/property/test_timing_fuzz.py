"""Digest and quiet-hours settings written in a hurry (`make fuzz` runs it longer): only the
documented errors come out, ValueError from the parsers and ConfigError naming the line from
monitor.yaml, and what parses gives due times in the future."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alerts.timing import next_digest, parse_digest, parse_quiet, quiet_until
from monitor.kernel.errors import ConfigError
from monitor.service.config import load_config

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True),
    st.sampled_from(
        [
            "1h",
            "0s",
            "-5m",
            "08:00",
            "24:00",
            "7:5",
            "22:00",
            "Europe/Berlin",
            "UTC",
            "Mars/Base",
            "../etc/passwd",
            "",
            "high",
        ]
    ),
    st.text(max_size=12),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4))
specs = st.dictionaries(
    st.sampled_from(["every", "at", "tz", "from", "to", "except"]), values, max_size=4
)
instants = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@PROFILE
@given(spec=specs, now=instants)
def test_digest_and_quiet_parsers_raise_only_value_errors(
    spec: dict[str, object], now: datetime
) -> None:
    """Whatever the mapping holds: a schedule or ValueError; a schedule's times are ahead."""
    try:
        digest = parse_digest(spec)
    except ValueError:
        pass
    else:
        assert next_digest(digest, now) > now
    try:
        quiet = parse_quiet(spec)
    except ValueError:
        pass
    else:
        end = quiet_until(quiet, now)
        assert end is None or end > now


@PROFILE
@given(digest=values | specs, quiet=values | specs)
def test_monitor_yaml_channel_batching_fails_only_with_config_errors(
    tmp_path: Path, digest: object, quiet: object
) -> None:
    """A channel's digest and quiet keys, whatever they hold: a config or a ConfigError."""
    import json

    path = tmp_path / "monitor.yaml"
    path.write_text(
        "channels:\n"
        f"  c: {{kind: console, digest: {json.dumps(digest)}, quiet: {json.dumps(quiet)}}}\n"
    )
    try:
        load_config({}, path)
    except ConfigError as exc:
        message = str(exc)
    else:
        return
    assert "monitor.yaml" in message


def test_the_fuzz_reaches_valid_schedules() -> None:
    """The strategies can produce a valid schedule (the first test is not vacuous)."""
    assert parse_digest({"every": "1h"}).every_s == 3600
    with pytest.raises(ValueError, match="time zone"):
        parse_quiet({"from": "22:00", "to": "07:00", "tz": "Mars/Base"})
