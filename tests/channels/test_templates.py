"""Users' own messages: Jinja2 templates per channel, sandboxed and escaped for the channel,
with their mistakes reported by `monitor check --config` at FILE:LINE."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog

from monitor.alerts.channels import KINDS
from monitor.alerts.channels.base import HttpRequest, Text
from tests.support.alerts import HOSTILE, make_alert
from tests.support.channels import TEMPLATE, config_with, problems
from tests.support.platforms import TELEGRAM_ENTITIES, TELEGRAM_TAGS, parse_markup

CHANNELS = {
    "slack": "kind: slack\n    url: http://127.0.0.1:9/s",
    "mattermost": "kind: mattermost\n    url: http://127.0.0.1:9/m",
    "discord": "kind: discord\n    url: http://127.0.0.1:9/d",
    "teams": "kind: teams\n    url: http://127.0.0.1:9/t",
    "telegram": "kind: telegram\n    bot_token: '1:a'\n    chat_id: 5",
    "matrix": "kind: matrix\n    homeserver: http://127.0.0.1:9\n    room_id: '!r:x'\n"
    "    access_token: t",
    "ntfy": "kind: ntfy\n    url: http://127.0.0.1:9/topic",
    "email": "kind: email\n    host: h\n    from: a@b.c\n    to: [d@e.f]",
    "console": "kind: console",
    "apprise": "kind: apprise\n    urls: ['json://127.0.0.1:9/x']",
}


def sent_text(outgoing: Any) -> str:
    if isinstance(outgoing, HttpRequest):
        return outgoing.body.decode()
    if isinstance(outgoing, Text):
        return f"{outgoing.title}\n{outgoing.text}"
    parts = [outgoing["Subject"]]
    parts += [p.get_content() for p in outgoing.iter_parts()]
    return "\n".join(parts)


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_a_template_replaces_the_message_escaped_for_the_channel(tmp_path: Path, kind: str) -> None:
    """The channel sends the template's title and body, and a hostile title comes out
    escaped the way the channel's default message escapes it."""
    config = config_with(tmp_path, CHANNELS[kind] + "\n    " + TEMPLATE.replace("\n", "\n  "))
    settings = config.channels["out"]
    assert settings.template is not None
    alert = replace(make_alert(title=HOSTILE), channel="out")
    text = sent_text(KINDS[kind].message(settings, alert))
    assert "cis-defense (high)" in text
    assert "air defense in content" in text
    script = "<script>alert(1)</script>"
    escaped = KINDS[kind].escape(script)
    if kind in ("slack", "telegram", "matrix", "email", "mattermost", "discord"):
        assert escaped != script  # the channel has markup to escape
        assert json.dumps(escaped)[1:-1] in text or escaped in text
    if kind in ("slack", "telegram", "mattermost", "discord"):  # no plain-text part
        assert script not in text
    if kind == "telegram":
        message = json.loads(text)["text"]
        assert "Breaking <!channel>" in parse_markup(message, TELEGRAM_TAGS, TELEGRAM_ENTITIES)


def test_a_template_file_has_title_and_body_blocks(tmp_path: Path) -> None:
    """template_file is read relative to monitor.yaml, with a title block and a body block."""
    files = {
        "templates/tg.j2": "{% block title %}{{ rule.id }}{% endblock %}\n"
        "{% block body %}\n<i>{{ article.feed }}</i>: {{ article.title }}\n{% endblock %}\n"
    }
    channel = CHANNELS["telegram"] + "\n    template_file: templates/tg.j2"
    settings = config_with(tmp_path, channel, files).channels["out"]
    outgoing = KINDS["telegram"].message(settings, replace(make_alert(), channel="out"))
    assert isinstance(outgoing, HttpRequest)
    text = json.loads(outgoing.body)["text"]
    assert "<b>cis-defense</b>\n<i>world</i>: CIS ministers meet on air defense" == text


BAD = [
    # (template lines under the channel, the problem's line in monitor.yaml, its words)
    ("template:\n      body: '{{ article.title '", 6, "unexpected end of template"),
    ("template:\n      body: |\n        line one\n        {{ article.nope }}", 8, "has no attribute 'nope'"),
    ("template:\n      title: '{{ nosuch }}'\n      body: x", 6, "'nosuch' is undefined"),
    ("template:\n      body: \"{{ ''.__class__.__mro__ }}\"", 6, "unsafe"),
    ("template: {body: x}\n    template_file: t.j2", 6, "give template or template_file"),
    ("template: {title: x}", 5, "template body"),
    ("template_file: missing.j2", 5, "cannot read template_file missing.j2"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "line", "words"), BAD)
def test_template_mistakes_are_config_problems_at_their_line(
    tmp_path: Path, template: str, line: int, words: str
) -> None:
    """Syntax errors, unknown names, sandbox escapes and missing files name monitor.yaml's
    line; none waits for the first alert."""
    found = problems(tmp_path, CHANNELS["slack"] + "\n    " + template)
    assert f"monitor.yaml:{line}: " in found, found
    assert words in found


def test_a_template_file_mistake_names_the_file_and_its_line(tmp_path: Path) -> None:
    """An error in a template file is placed in that file."""
    files = {"t.j2": "{% block body %}\nok\n{{ article.title | nosuchfilter }}\n{% endblock %}"}
    found = problems(tmp_path, CHANNELS["telegram"] + "\n    template_file: t.j2", files)
    assert f"{tmp_path / 't.j2'}:3: " in found, found
    assert "nosuchfilter" in found


def test_a_template_failing_at_run_time_sends_the_default_message(tmp_path: Path) -> None:
    """A template that passed the samples but fails on a real alert gives the channel's default
    message and logs template_failed with the line: the alert still goes out."""
    channel = CHANNELS["slack"] + (
        "\n    template:\n      body: |\n        {% if article.title|length == 33 %}"
        "{{ article.tags[3] }}{% endif %}ok"
    )
    settings = config_with(tmp_path, channel).channels["out"]
    alert = replace(make_alert(), channel="out")
    with structlog.testing.capture_logs() as logs:
        outgoing = KINDS["slack"].message(settings, alert)
    default = KINDS["slack"].render(settings, alert)
    assert default == outgoing
    (failed,) = [e for e in logs if e["event"] == "template_failed"]
    assert (7, "out") == (failed["line"], failed["channel"])


def test_check_prints_a_template_problem_at_file_and_line(tmp_path: Path) -> None:
    """`monitor check --config` reports it as FILE:LINE and exits 1."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "watches.yaml").write_text("rules: []\n")
    path = tmp_path / "monitor.yaml"
    path.write_text(
        textwrap.dedent("""\
        channels:
          out:
            kind: console
            template:
              body: "{{ article.title }"
        """)
    )
    run = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert 1 == run.returncode
    assert f"{path}:5: channel 'out' template: " in run.stderr
