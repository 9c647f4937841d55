"""The watch page, `GET /watches/<id>`, and the console's small result pages. Pure: data in,
HTML out (Jinja2, autoescaped; the listener allows no script)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.kernel.console import Answer
from monitor.status.page import ENV

LINE = re.compile(r"(?:line |:)(\d+)")


@dataclass(frozen=True, slots=True)
class WatchPage:
    """What the watch page shows."""

    id: str
    source: Answer  # WatchActions.source
    yaml: str  # the text in the editor (the saved one, or the edit just tried)
    stored: Sequence[Answer]  # articles to pick for a test
    silences: Sequence[Answer]
    csrf: str
    refused: str | None  # why no action is possible here (no token beyond loopback)
    result: tuple[str, Answer] | None = None  # the action just done and its answer
    problems: tuple[str, list[str]] | None = None  # a refused save: message, problems
    said: tuple[bool, str] | None = None
    sentence: str | None = None  # the action's result in words
    new: bool = False  # not in the rules yet: Save adds it
    article: str = ""  # the stored article a new watch was made like
    unread: str = ""  # the parts that could not be read (the broker away), said in words


def problem_lines(problems: Sequence[str]) -> set[int]:
    """The line numbers the problems name."""
    return {int(m.group(1)) for p in problems for m in LINE.finditer(p)}


def marked(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[str, bool]]:
    """`text` cut into pieces, each marked or not, for the evidence's (start, end) spans."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for start, end in sorted((max(0, s), min(len(text), e)) for s, e in spans):
        if start < at or start >= end:
            continue
        pieces.append((text[at:start], False))
        pieces.append((text[start:end], True))
        at = end
    pieces.append((text[at:], False))
    return [p for p in pieces if p[0]]


def highlighted(result: Answer, name: str, text: str | None = None) -> list[tuple[str, bool]]:
    """A tested article's field `name` (its `text`, else `result[name]`) with its evidence
    marked: the `marks` `[field, start, end]` of that field."""
    shown = str(result.get(name) or "") if text is None else text
    spans: list[tuple[int, int]] = []
    for mark in result.get("marks") or ():
        if isinstance(mark, list | tuple) and len(mark) == 3 and mark[0] == name:
            spans.append((int(mark[1]), int(mark[2])))
    return marked(shown, spans)


def text_fields(result: Answer) -> list[tuple[str, list[tuple[str, bool]]]]:
    """A tested article's text below its title, marked: each of the fields `text` names
    (`{"summary": ..., "content": ...}`, as `WatchActions.test` answers), or `text` itself
    when it is one string."""
    text = result.get("text")
    if isinstance(text, dict):
        return [
            (str(name), highlighted(result, str(name), str(value)))
            for name, value in text.items()
            if name != "title" and value
        ]
    return [("text", highlighted(result, "text"))] if text else []


def render_watch(page: WatchPage) -> str:
    """The watch page."""
    problems = page.problems[1] if page.problems else []
    bad = problem_lines(problems)
    lines = [(n, line, n in bad) for n, line in enumerate(page.yaml.splitlines(), 1)]
    return ENV.get_template("watch.html").render(
        p=page, lines=lines, problems=problems, highlighted=highlighted, text_fields=text_fields
    )


def render_candidates(url: str, candidates: Sequence[Answer], csrf: str) -> str:
    """The feeds found at `url`, each with its form to add it (`choose`)."""
    return ENV.get_template("candidates.html").render(url=url, candidates=candidates, csrf=csrf)


def render_message(status: int, message: str, problems: Sequence[Any] = ()) -> str:
    """A refused action's page: what was refused and why, and the way back."""
    return ENV.get_template("message.html").render(
        status=status, message=message, problems=[str(p) for p in problems]
    )
