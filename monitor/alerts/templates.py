"""Users' own alert messages: Jinja2 templates, sandboxed, escaped for their channel. Pure.

A channel's `template: {title: ..., body: ...}` or `template_file: NAME.j2` (with
`{% block title %}` and `{% block body %}`) replaces its kind's default message. Every `{{ }}`
is escaped for the channel (HTML for Telegram, Matrix and email, mrkdwn for Slack, Markdown
for Discord and Mattermost, a JSON string for the webhook) unless marked `|safe`. A name that
does not exist is an error, found when `monitor check --config` renders each template against
sample alerts (with long texts, and with the template's own string constants, so a branch
behind `'x' in article.title` is tried); at run time a template that still fails gives the
default message, never a lost alert. Every render runs within a budget of steps, characters
and time (`monitor.alerts.budget`): a template cannot take the service's memory or time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from types import TracebackType
from typing import Any, Final

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from monitor.alerts.budget import BudgetedSandbox, budgeted_filter, charge_text, start_budget
from monitor.kernel.models import (
    Alert,
    Evidence,
    Match,
    MatchedArticle,
    Reported,
    Story,
    make_article,
)

Escape = Callable[[str], str]


class TemplateProblem(ValueError):
    """A template that does not compile or render; `line` is its line (1-based), or 0."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertTemplate:
    """A compiled title and body; `origin` names where they came from (for messages)."""

    origin: str
    body: jinja2.Template
    title: jinja2.Template | None = None
    from_blocks: bool = False  # one file with `title` and `body` blocks
    title_line: int = 1  # where line 1 of the inline title stands in its file
    body_line: int = 1  # and of the body
    baits: tuple[str, ...] = ()  # the template's string constants, to put in sample alerts

    def render(self, alert: Alert) -> tuple[str, str]:
        """(title, body) for an alert; TemplateProblem (with the line) when it fails."""
        context = template_context(alert)
        title = self._part("title", self.title, context)
        return title, self._part("body", self.body, context)

    def _part(self, name: str, template: jinja2.Template | None, context: dict[str, Any]) -> str:
        if template is None:
            return ""
        render = template.blocks.get(name) if self.from_blocks else template.root_render_func
        if render is None:
            return ""
        end_budget = start_budget()
        try:
            return _joined(render(template.new_context(context))).strip()
        except jinja2.TemplateError as exc:
            raise TemplateProblem(f"{name}: {exc}", self._line(exc, template)) from exc
        except Exception as exc:  # whatever a template raises is its problem, located: a
            # `RuntimeError` of a dict grown in its own loop, a `MemoryError`
            message = f"{name}: {type(exc).__name__}: {exc}"
            raise TemplateProblem(message, self._line(exc, template)) from exc
        finally:
            end_budget()

    def _line(self, exc: BaseException, template: jinja2.Template) -> int:
        """The line of the file where rendering failed, from the template's debug info."""
        found = 0
        for frame in _frames(exc.__traceback__):
            if frame.tb_frame.f_code.co_filename == template.filename:
                found = template.get_corresponding_lineno(frame.tb_lineno)
        first = (
            self.title_line if template is self.title and not self.from_blocks else self.body_line
        )
        return found + first - 1 if found else 0


def _joined(chunks: Iterator[str]) -> str:
    """The chunks a template gives, up to OUTPUT_MAX characters."""
    out, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > OUTPUT_MAX:
            raise SecurityError(f"a template may give at most {OUTPUT_MAX} characters")
        out.append(chunk)
    return "".join(out)


def _frames(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


OUTPUT_MAX = 64 * 1024  # characters a template may give; a message is far shorter


@cache
def environment(escape: Escape) -> SandboxedEnvironment:
    """A sandbox whose `{{ }}` output passes through `escape` (unless `|safe`)."""

    def finalize(value: object) -> object:
        if value is None:
            return ""
        if isinstance(value, Markup):
            return str(value)
        charge_text(value)  # before `str()`: a list nested in itself is huge as text
        return escape(str(value))

    env = BudgetedSandbox(
        undefined=jinja2.StrictUndefined,
        finalize=finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["one_line"] = budgeted_filter(
        "one_line", lambda text, limit=300: " ".join(str(text).split())[:limit]
    )
    return env


def compile_template(
    escape: Escape,
    *,
    origin: str,
    title: str | None,
    body: str,
    title_line: int = 1,
    body_line: int = 1,
) -> AlertTemplate:
    """Inline `title` and `body` (their first lines in the file they stand in: where errors
    are placed); TemplateProblem when one does not compile."""
    env = environment(escape)
    compiled_title = (
        _compile(env, title, f"{origin}#title", title_line) if title is not None else None
    )
    return AlertTemplate(
        origin=origin,
        title=compiled_title,
        body=_compile(env, body, f"{origin}#body", body_line),
        title_line=title_line,
        body_line=body_line,
        baits=_baits(env, title or "", body),
    )


def compile_template_file(escape: Escape, *, origin: str, source: str) -> AlertTemplate:
    """A file with `{% block title %}` and `{% block body %}`; the body block is required."""
    template = _compile(environment(escape), source, origin, 1)
    if "body" not in template.blocks:
        raise TemplateProblem("a template file needs {% block body %}...{% endblock %}", 1)
    return AlertTemplate(
        origin=origin,
        body=template,
        title=template,
        from_blocks=True,
        baits=_baits(environment(escape), source),
    )


BAITS_MAX = 200  # string constants of a template put in its sample alerts
BAIT_CHARS = 200  # a longer constant is not a condition's word


def _baits(env: SandboxedEnvironment, *sources: str) -> tuple[str, ...]:
    """The template's string constants (`'bomb'` of `{% if 'bomb' in article.title %}`), so
    that `monitor check` renders the branches only a real alert would otherwise reach."""
    found: dict[str, None] = {}
    for source in sources:
        for const in env.parse(source).find_all(nodes.Const):
            if isinstance(const.value, str) and 0 < len(const.value) <= BAIT_CHARS:
                found[const.value] = None
    return tuple(found)[:BAITS_MAX]


def _compile(env: SandboxedEnvironment, source: str, name: str, first_line: int) -> jinja2.Template:
    try:
        code = env.compile(source, name=name, filename=name)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or str(exc), first_line + (exc.lineno or 1) - 1) from exc
    return env.template_class.from_code(env, code, env.make_globals(None), None)


def template_context(alert: Alert) -> dict[str, Any]:
    """What a template sees: `alert` (the webhook body), and its `rule`, `article`,
    `evidence` and `story` on their own, and `feedback`: its two links (`feedback.relevant`,
    `feedback.not_relevant`; empty strings when the service has no feedback links)."""
    data = alert.to_dict()
    return {
        "alert": data,
        "rule": data["rule"],
        "article": data["article"],
        "evidence": data["evidence"],
        "story": data["story"],
        "channel": alert.channel,
        "feedback": data.get("feedback") or {"relevant": "", "not_relevant": ""},
    }


SAMPLE_FEEDBACK: Final = {
    "relevant": "https://monitor.example.org/feedback/v1.sample.relevant",
    "not_relevant": "https://monitor.example.org/feedback/v1.sample.not_relevant",
}
LONG_TEXT = 20_000  # characters of the long sample alert's content (its title: a tenth)
MANY_EVIDENCE = 50  # evidence items of the long sample alert
BAIT_ALERTS = 16  # sample alerts with one bait as every text field, for `==` conditions


def sample_alerts(channel: str, baits: Sequence[str] = ()) -> tuple[Alert, ...]:
    """Alerts to try a template on: one with every field, one with the optional ones empty,
    one with long texts and many evidence items holding every bait (a template's string
    constant), and one per bait (up to BAIT_ALERTS) with the bait as each of its texts."""
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    full = make_article(
        id="sample-1",
        feed="world",
        url="https://example.org/news/1?a=1&b=2",
        title='Floods <close> "Danube" roads & bridges',
        summary="Water levels rose overnight.",
        content="Authorities closed roads near Passau as the Danube flood rose.",
        author="Desk",
        tags=("weather",),
        published=when,
        language="en",
        fetched_at=when,
    )
    sparse = make_article(id="sample-2", title="Flood warning")
    baited = " ".join(baits)
    long = make_article(
        id="sample-3",
        feed="world",
        url="https://example.org/news/3",
        title=(f"{baited} Floods " * (LONG_TEXT // 10))[: max(LONG_TEXT // 10, len(baited) + 8)],
        summary=(f"{baited} water " * LONG_TEXT)[: max(LONG_TEXT, len(baited) + 6)],
        content=(f"{baited} the Danube rose " * LONG_TEXT)[: max(LONG_TEXT, len(baited) + 16)],
        author=baited or "Desk",
        tags=(*baits[:BAIT_ALERTS], "weather"),
        published=when,
        language="en",
        fetched_at=when,
    )
    evidence = Evidence(
        kind="term",
        value="flood",
        field="title",
        text="Floods",
        snippet='Floods <close> "Danube" roads & bridges',
        start=0,
        end=6,
    )
    many = tuple(
        Evidence(
            kind="term",
            value=(baits[i % len(baits)] if baits else f"flood{i}"),
            field="content",
            text=long.content[i * 10 : i * 10 + 6],
            snippet=long.content[i * 10 : i * 10 + 200],
            start=i * 10,
            end=i * 10 + 6,
        )
        for i in range(MANY_EVIDENCE)
    )
    other = Reported(article_id="x", feed="wire", title="Flood", url="", seen_at=when)
    cases: list[tuple[str, Any, Story, tuple[Evidence, ...]]] = [
        ("sample", full, Story(id="sample-1", articles=(other,)), (evidence,)),
        ("sample", sparse, Story(id="sample-2", articles=()), (evidence,)),
        ("sample", long, Story(id="sample-3", articles=(other,) * MANY_EVIDENCE), many),
    ]
    for i, bait in enumerate(baits[:BAIT_ALERTS]):
        article = make_article(
            id=f"sample-bait-{i}",
            feed=bait,
            url="https://example.org/news/bait",
            title=bait,
            summary=bait,
            content=bait,
            author=bait,
            tags=(bait,),
            language="en",
            published=when,
            fetched_at=when,
        )
        bait_evidence = replace(evidence, value=bait, text=bait, snippet=bait)
        cases.append((bait, article, Story(id=article.id, articles=()), (bait_evidence,)))
    alerts = []
    for rule_id, article, story, found in cases:
        match = Match(rule_id=rule_id, article_id=article.id, severity="high", evidence=found)
        matched = MatchedArticle(match=match, article=article, description="A sample rule")
        alerts.append(Alert.for_channel(matched, channel, story))
    alerts[0] = replace(alerts[0], feedback=SAMPLE_FEEDBACK)  # a template's links, tried
    return tuple(alerts)
