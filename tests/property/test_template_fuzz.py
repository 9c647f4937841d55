"""Templates written in a hurry (`make fuzz` runs it longer): whatever a channel's template
holds, monitor.yaml either loads, and then its message renders for any alert without raising,
or fails with ConfigError naming the file and line; never another exception."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alerts.channels import KINDS
from monitor.config import load_config
from monitor.errors import ConfigError
from tests.test_render import HOSTILE, make_alert

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PIECES = [
    "{{ article.title }}", "{{ rule.id }}", "{{ nosuch }}", "{{", "}}", "{%", "%}", "{% if",
    "{% for e in evidence %}", "{% endfor %}", "{% endif %}", "{{ evidence[0].snippet|safe }}",
    "{{ ''.__class__ }}", "{{ article.tags[5] }}", "{{ 1/0 }}", "{% block body %}",
    "{% endblock %}", "{{ story.also_reported|length }}", "{#", "#}", "\n", "<b>", "&", '"',
    "{{ range(10**9)|list }}", "{{ 'x' * 10**9 }}", "{% raw %}", "{{ article.published[:10] }}",
    "{{ alert | tojson }}", "{{ lipsum() }}", "{% include 'x' %}", "{% extends 'y' %}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% for i in range(99999) %}{% for j in range(99999) %}", "{% endfor %}{% endfor %}",
]  # fmt: skip
templates = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=12).map(
    "".join
)
CHANNELS = {
    "webhook": "{kind: webhook, url: 'http://127.0.0.1:9/h'}",
    "telegram": "{kind: telegram, bot_token: '1:a', chat_id: 5}",
    "email": "{kind: email, host: h, from: a@b.c, to: [d@e.f]}",
    "slack": "{kind: slack, url: 'http://127.0.0.1:9/s'}",
}
LINE = re.compile(r"monitor\.yaml:\d+: |t\.j2:\d+: ")


@PROFILE
@given(kind=st.sampled_from(sorted(CHANNELS)), title=templates, body=templates, file=st.booleans())
def test_a_template_loads_or_fails_with_its_line(
    tmp_path_factory: object, kind: str, title: str, body: str, file: bool
) -> None:
    """Only ConfigError (with FILE:LINE) at load; a loaded template never raises when used."""
    tmp = Path(str(tmp_path_factory.mktemp("t")))  # type: ignore[attr-defined]
    channel = CHANNELS[kind][:-1]
    if file:
        (tmp / "t.j2").write_text(body)
        channel += ", template_file: t.j2}"
    else:
        channel += f", template: {{title: {json.dumps(title)}, body: {json.dumps(body)}}}}}"
    path = tmp / "monitor.yaml"
    path.write_text(f"channels:\n  out: {channel}\n")
    try:
        config = load_config({}, path)
    except ConfigError as exc:
        assert LINE.search(str(exc)), str(exc)  # noqa: PT017 - either outcome is allowed
        return
    settings_ = config.channels["out"]
    for title_text in ("plain", HOSTILE):
        KINDS[kind].message(settings_, replace(make_alert(title=title_text), channel="out"))
