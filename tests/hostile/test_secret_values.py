"""Hostile `${VAR}` values in a channel (huge, with newlines, with a `${...}` of their own) on
the read-only path: `stories`, `feeds export` and `dlq list` set the channel aside and exit 0,
their output short, the value nowhere in it. Each command runs as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.service.config import load_config
from tests.support.processes import write_rules

pytestmark = pytest.mark.timeout(120)

VALUES = {
    "huge": "https://hooks.example/" + "A" * 100_000,  # under Linux's 128 KiB per variable
    "newlines": "https://hooks.example/x\nchannels:\n  evil: {kind: console}\n",
    "nested": "https://hooks.example/${HOME}/secret-part",
    "control": "https://hooks.example/\x1b[2J\r\x7fsecret-part",
}


def config(tmp: Path) -> Path:
    """A monitor.yaml whose slack channel reads its URL from HOSTILE_SLACK_URL."""
    write_rules(tmp, {"wire": "http://127.0.0.1:9/feed"}, "rules: []\n")
    path = tmp / "monitor.yaml"
    path.write_text(
        textwrap.dedent("""\
        rules_dir: rules
        state_dir: state
        defaults: {notify: [slack]}
        channels:
          slack: {kind: slack, url: "${HOSTILE_SLACK_URL}"}
        """)
    )
    return path


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
@pytest.mark.parametrize("command", [["stories"], ["feeds", "export"], ["dlq", "list"]])
def test_hostile_values_on_the_read_only_path(
    tmp_path: Path, value: str, command: list[str]
) -> None:
    """The command exits 0 and neither its output nor its errors carry the value."""
    env = {**os.environ, "HOSTILE_SLACK_URL": value}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *command, "--config", str(config(tmp_path))],
        capture_output=True, text=True, timeout=90, env=env, check=False,
    )  # fmt: skip
    assert 0 == done.returncode, done.stderr[-2000:]
    assert len(done.stdout) + len(done.stderr) < 2_000
    assert "secret-part" not in done.stdout + done.stderr
    assert "A" * 50 not in done.stdout + done.stderr


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
def test_hostile_values_set_aside_or_kept_never_reinterpolated(tmp_path: Path, value: str) -> None:
    """In the config read by a command that sends nothing, the channel is either valid with the
    value as it is (a `${...}` inside it is not read again) or set aside with a short reason
    that does not quote it; its value is among the secrets the logs mask."""
    loaded = load_config({"HOSTILE_SLACK_URL": value}, config(tmp_path), sends=False)
    if "slack" in loaded.channels:  # as it was given, a `${...}` in it too (ends trimmed)
        assert value.strip() in loaded.secrets()
    else:
        reason = loaded.unusable_channels["slack"]
        assert "invalid with the values of HOSTILE_SLACK_URL" == reason
        assert value in loaded.secrets()
    assert "evil" not in loaded.channels
