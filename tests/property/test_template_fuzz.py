"""Templates written in a hurry or in malice (`make fuzz` runs it longer): whatever a channel's
template holds, monitor.yaml either loads, and then its message renders for any alert without
raising, or fails with ConfigError naming the file and line; never another exception. And any
template text compiles and renders within its budget (time, characters) or gives a
TemplateProblem; never a MemoryError, a traceback or a render past the deadline."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alerts.budget import SECONDS
from monitor.alerts.channels import KINDS
from monitor.alerts.templates import (
    OUTPUT_MAX,
    TemplateProblem,
    compile_template,
    sample_alerts,
)
from monitor.kernel.errors import ConfigError
from monitor.service.config import load_config
from tests.support.alerts import HOSTILE, make_alert

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
    # the budget's attacks (issue 30): sizes, doubling, nested text, loops behind a condition
    "{{ ''|center(10**9) }}", "{{ ''.ljust(2*10**9) }}", "{{ '%09999999999d'|format(1) }}",
    "{{ '%.999999999f' % 1 }}", "{{ '{:>999999999}'.format(1) }}", "{{ 'a'|indent(10**9) }}",
    "{{ range(3)|batch(10**9, 'x')|list }}", "{{ ('a' * 9999).replace('a', 'b' * 9999) }}",
    "{% set ns = namespace(s='x' * 9999, l=[1], m=[1]) %}", "{% for i in range(60) %}",
    "{% set ns.s = ns.s ~ ns.s %}", "{% set ns.l = [ns.l, ns.l] %}", "{{ ns.l }}", "{{ ns.s }}",
    "{% set ns.m = [ns.m, ns.m] %}", "{{ ns.l == ns.m }}", "{% set ns.l = ns.l + [ns.l] %}",
    "{% if 'bomb' in article.title %}", "{% for a in article.title %}", "{% endfor %}",
    "{% set d = {'a': 1} %}{% for k in d %}{{ d.update({k ~ 'x': 1}) }}{% endfor %}",
    "{% set x %}", "{% endset %}", "{{ x }}", "{{ x ~ x ~ x }}", "{{ evidence.extend(evidence) }}",
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
LINE = re.compile(r"monitor\.yaml:\d+(:\d+)?: |t\.j2:\d+: ")  # a YAML error has a column too


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
    for title_text in ("plain", HOSTILE, BOMB_TITLE):
        KINDS[kind].message(settings_, replace(make_alert(title=title_text), channel="out"))


BOMB_TITLE = "bomb " + "x" * 3000


@PROFILE
@given(kind=st.sampled_from(sorted(CHANNELS)), body=templates)
def test_a_template_renders_within_its_budget_or_is_a_problem(kind: str, body: str) -> None:
    """Compiled and rendered for the samples (its words in them) and a long title: each
    render ends within twice the budget's seconds, with text or a TemplateProblem."""
    try:
        template = compile_template(KINDS[kind].escape, origin="t", title=None, body=body)
    except TemplateProblem as exc:
        assert exc.line >= 0  # noqa: PT017 - either outcome is allowed
        return
    alerts = (*sample_alerts("out", template.baits), make_alert(title=BOMB_TITLE))
    for alert in alerts:
        started = time.monotonic()
        try:
            _, text = template.render(alert)
            assert len(text) <= OUTPUT_MAX
        except TemplateProblem as exc:
            assert "MemoryError" not in str(exc)  # noqa: PT017 - the budget refuses first
        assert time.monotonic() - started < 2 * SECONDS
