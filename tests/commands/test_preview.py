"""`monitor preview`: each channel's message for a rule's match of an article, printed as it
would go out, secrets masked, nothing sent."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import SEED_JSON
from tests.support.processes import write_rules
from tests.support.servers import Receiver, serve

WATCHES = textwrap.dedent("""\
    rules:
      - id: cis-defense
        match: {all: [CIS, defense]}
        severity: high
        notify: [tg, hook, mail]
      - {id: floods, match: {any: [flood]}}
    """)
TOKEN = "123456:SECRET-bot-token"  # noqa: S105 - a test token to find masked


def preview(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "preview", "--config", str(tmp / "monitor.yaml"), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp,
        env={"TG_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
    )


def setup(tmp: Path, hook_url: str) -> None:
    write_rules(tmp, {}, WATCHES)
    (tmp / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        rules_dir: rules
        defaults: {{notify: [console]}}
        channels:
          console: {{kind: console}}
          tg: {{kind: telegram, bot_token: "${{TG_TOKEN}}", chat_id: 42, api_url: "{hook_url}"}}
          hook:
            kind: webhook
            url: "{hook_url}/hook"
            template: {{body: '{{"t": "{{{{ article.title }}}}", "why": "{{{{ evidence[0].value }}}}"}}'}}
          mail: {{kind: email, host: 127.0.0.1, port: 9, from: m@example.org, to: [d@example.org]}}
        """)
    )


async def test_preview_prints_every_channel_of_the_rule_and_sends_nothing(tmp_path: Path) -> None:
    """The Telegram request (token masked), the webhook's templated JSON and the email, each
    under its channel's heading; the servers they name get no request."""
    receiver = Receiver()
    async with serve(receiver.app()) as base:
        setup(tmp_path, base)
        run = preview(tmp_path, "--rule", "cis-defense", str(SEED_JSON))
    assert 0 == run.returncode, run.stderr
    out = run.stdout
    assert "=== channel tg (telegram, default message) ===" in out
    assert f"POST {base}/bot***/sendMessage" in out
    assert TOKEN not in out
    assert '"parse_mode": "HTML"' in out
    assert "=== channel hook (webhook, template) ===" in out
    body = out.split("=== channel hook (webhook, template) ===\n")[1].split("\n\n", 1)[1]
    data = json.loads(body.split("\n=== ")[0])
    assert data["t"].startswith("Russia's Belousov Pins Strengthening of Army")
    assert "X-Monitor-Alert-Id: " in out
    assert "=== channel mail (email, default message) ===" in out
    assert "Subject: [monitor] cis-defense: Russia's Belousov" in out
    assert [] == receiver.received


def test_preview_of_one_channel(tmp_path: Path) -> None:
    """--channel picks the channel, even one the rule does not notify."""
    setup(tmp_path, "http://127.0.0.1:9")
    run = preview(tmp_path, "--rule", "cis-defense", "--channel", "console", str(SEED_JSON))
    assert 0 == run.returncode, run.stderr
    assert ["=== channel console (console, default message) ==="] == [
        line for line in run.stdout.splitlines() if line.startswith("===")
    ]
    assert "ALERT HIGH cis-defense: Russia's Belousov" in run.stdout


def test_preview_says_when_the_rule_does_not_match(tmp_path: Path) -> None:
    """No match: exit 1 and say so; an unknown rule or channel: exit 2 naming it."""
    setup(tmp_path, "http://127.0.0.1:9")
    run = preview(tmp_path, "--rule", "floods", str(SEED_JSON))
    assert (1, "") == (run.returncode, run.stdout)
    assert "rule 'floods' does not match \"Russia's Belousov" in run.stderr
    run = preview(tmp_path, "--rule", "nosuch", str(SEED_JSON))
    assert 2 == run.returncode
    assert "no rule 'nosuch'" in run.stderr
    run = preview(tmp_path, "--rule", "cis-defense", "--channel", "pager", str(SEED_JSON))
    assert 2 == run.returncode
    assert "no channel named 'pager'" in run.stderr
