"""A channel's `template` or `template_file`, read and tried when monitor.yaml is read.

Each template is compiled in its channel's sandbox and rendered against sample alerts, so a
syntax error, an unknown name or (for the webhook) a body that is not JSON is a config
problem with its FILE:LINE, found by `monitor check --config` or at start, not at 3 a.m.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from monitor.alerts.channels.base import ChannelSettings, Kind
from monitor.alerts.templates import (
    AlertTemplate,
    TemplateProblem,
    compile_template,
    compile_template_file,
    sample_alerts,
)
from monitor.kernel.checks import Checker
from monitor.kernel.errors import Problem
from monitor.kernel.located import LocDict

KEYS: Final = ("template", "template_file")
MAX_TEMPLATE_BYTES: Final = 256 * 1024


def with_template(
    check: Checker, spec: LocDict, kind: Kind[Any], settings: ChannelSettings, base: Path
) -> ChannelSettings:
    """`settings` with the channel's template, if it has one that compiles and renders."""
    what = f"channel {settings.name!r}"
    if "template" in spec and "template_file" in spec:
        check.error(spec.line_of("template_file"), f"{what}: give template or template_file")
        return settings
    template: AlertTemplate | None = None
    where = check.path
    if "template" in spec:
        template = _inline(check, spec, kind, what)
        first = spec.line_of("template")
    elif "template_file" in spec:
        first = 1
        read = _file(check, spec, kind, what, base)
        if read is not None:
            where, template = read
    if template is None:
        return settings
    settings = replace(settings, template=template)
    for alert in sample_alerts(settings.name, template.baits):
        try:
            title, body = template.render(alert)
            kind.templated(settings, alert, title, body)
        except TemplateProblem as exc:
            check.problems.append(Problem(where, exc.line or first, f"{what} template: {exc}"))
            return settings
        except Exception as exc:  # noqa: BLE001 - the template's failure, located
            problem = f"{what} template: {type(exc).__name__}: {exc}"
            check.problems.append(Problem(where, first, problem))
            return settings
    return settings


def _inline(check: Checker, spec: LocDict, kind: Kind[Any], what: str) -> AlertTemplate | None:
    inner = check.mapping(
        spec["template"], spec.line_of("template"), f"{what} template", ("title", "body")
    )
    if inner is None:
        return None
    title = inner.get("title")
    body = check.string(inner.get("body"), inner.line_of("body"), f"{what} template body")
    if title is not None and not isinstance(title, str):
        check.error(inner.line_of("title"), f"{what} template title must be a string")
        return None
    if body is None:
        return None
    try:
        return compile_template(
            kind.escape,
            origin=f"{check.path} ({what})",
            title=title,
            body=body,
            title_line=_first_line(inner, "title"),
            body_line=_first_line(inner, "body"),
        )
    except TemplateProblem as exc:
        check.error(exc.line, f"{what} template: {exc}")
        return None


def _first_line(inner: LocDict, key: str) -> int:
    """Where a value's text starts: under its key for a block scalar (`body: |`)."""
    value = inner.get(key)
    return inner.line_of(key) + (1 if isinstance(value, str) and "\n" in value else 0)


def _file(
    check: Checker, spec: LocDict, kind: Kind[Any], what: str, base: Path
) -> tuple[str, AlertTemplate] | None:
    line = spec.line_of("template_file")
    name = check.string(spec["template_file"], line, f"{what} template_file")
    if name is None:
        return None
    path = base / name
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        check.error(line, f"{what}: cannot read template_file {name}: {exc.strerror or exc}")
        return None
    if len(raw) > MAX_TEMPLATE_BYTES:
        check.error(line, f"{what}: template_file {name} is over {MAX_TEMPLATE_BYTES} bytes")
        return None
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError:
        check.error(line, f"{what}: template_file {name} is not UTF-8")
        return None
    try:
        return str(path), compile_template_file(kind.escape, origin=str(path), source=source)
    except TemplateProblem as exc:
        check.problems.append(Problem(str(path), exc.line, f"{what} template: {exc}"))
        return None
