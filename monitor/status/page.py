"""The status page, `GET /`: one server-rendered HTML page, no script, refreshed by the browser.

The bus when it is not connected (first: since when, and why), feeds (failing first, marked),
watches (mode, a week of matches as a small inline SVG chart, the last match), the recent
alerts with their channels' delivery states and evidence, the dead letters and the rule set's
reload state. Everything from a feed or a rule file is escaped (Jinja2 autoescape), and the
listener's Content-Security-Policy allows no script at all.

Pure: a `StatusView` in, HTML out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import jinja2

from monitor.alerts.board import RECENT_ALERTS, RecentAlert
from monitor.bus.base import Connection
from monitor.feeds.board import FeedStatus
from monitor.kernel.text import plural, span_words
from monitor.matching.board import DAY_MS, WatchActivity

REFRESH_S = 30


@dataclass(frozen=True, slots=True)
class FeedRow:
    """A configured feed and what its poller last saw."""

    id: str
    url: str
    interval_s: float
    status: FeedStatus


@dataclass(frozen=True, slots=True)
class WatchRow:
    """A watch in force and its week."""

    id: str
    mode: str
    description: str
    activity: WatchActivity


@dataclass(frozen=True, slots=True)
class RulesState:
    """The rule set in force and whether the files on disk are."""

    rules: int
    loaded_ms: int | None
    stale: bool
    problems: Sequence[str]


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """A channel: up, or down since when, why, and when it is tried next."""

    name: str
    down_since_ms: int | None
    reason: str
    probe_ms: int | None
    waiting: int  # alerts held until it is back


@dataclass(frozen=True, slots=True)
class StatusView:
    """Everything the page shows; a section is None where this process's role lacks it."""

    version: str
    role: str
    now_ms: int
    started_ms: int
    rules: RulesState
    feeds: Sequence[FeedRow] | None
    watches: Sequence[WatchRow] | None
    alerts: Sequence[RecentAlert] | None
    dead_letters: Mapping[str, int] | None  # open dead letters by channel
    feeds_more: int = 0  # feeds polled but not listed (the page lists a bounded number)
    watches_more: int = 0  # watches in force but not listed: the quietest
    exposed: str | None = None  # the warning when the listener is open beyond loopback
    channels: Sequence[ChannelRow] | None = None  # the dispatcher's channels
    bus: Connection | None = None  # the bus's connection (the page speaks when it is lost)
    paused: Sequence[str] = ()  # feeds in feeds.yaml with enabled: false
    feedback: Mapping[str, Mapping[str, str]] | None = None  # by alert key: verdict -> link


@dataclass(frozen=True, slots=True)
class ConsoleView:
    """The console's part of the status page: its forms' csrf, or why no action is possible,
    the silences, dead letters, alert history and the last action's one-line result."""

    csrf: str
    refused: str | None = None  # no token beyond loopback: said instead of the buttons
    said: tuple[bool, str] | None = None
    silences: Sequence[Mapping[str, object]] = ()
    letters: Sequence[Mapping[str, object]] | None = None
    history: Sequence[Mapping[str, object]] | None = None
    channels: Sequence[str] = ()
    paused: Sequence[str] = ()  # feeds with enabled: false
    query: Mapping[str, str] | None = None  # the history's search (watch, since)
    problem: str | None = None  # a part that could not be read


def ago(ms: int | None, now_ms: int) -> str:
    """A time as people say it next to now: "12s ago", "in 4m", "3h ago", "2d ago"."""
    if ms is None:
        return "never"
    seconds = (ms - now_ms) / 1000
    text = span_words(seconds)
    return f"in {text}" if seconds > 0.5 else f"{text} ago"


def due(ms: int | None, now_ms: int) -> str:
    """When something is next due: "in 4m", or "due now" once its time has come."""
    return ago(ms, now_ms) if ms is None or ms > now_ms + 500 else "due now"


def utc(ms: int | None) -> str:
    """An ISO 8601 UTC time, to the second."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clock(seconds: float) -> str:
    """A time of day in UTC, to the second: "10:53:20 UTC"."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S UTC")


def web_link(url: str) -> bool:
    """Whether a feed's URL may be a link on the page: http(s) only, never `javascript:`."""
    return url.lower().startswith(("http://", "https://"))


def bars(per_day: Sequence[int], now_ms: int) -> list[dict[str, float | str | bool]]:
    """The week chart's bars: x, y, height (in a 70x20 box) and a label per day."""
    top = max(per_day, default=0) or 1
    today = now_ms // DAY_MS
    shown: list[dict[str, float | str | bool]] = []
    for i, count in enumerate(per_day):
        height = 1.0 if count == 0 else max(2.0, 18.0 * count / top)  # 0: a baseline
        day = datetime.fromtimestamp((today - len(per_day) + 1 + i) * DAY_MS / 1000, UTC)
        shown.append(
            {
                "x": i * 10,
                "y": 19 - height,
                "height": height,
                "zero": count == 0,
                "label": f"{day:%a %d %b}: {count} match{'es' if count != 1 else ''}",
            }
        )
    return shown


ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("monitor.status", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
ENV.filters["ago"] = ago
ENV.filters["due"] = due
ENV.filters["web_link"] = web_link
ENV.filters["utc"] = utc
ENV.filters["clock"] = clock
ENV.filters["plural"] = plural
ENV.globals["bars"] = bars
ENV.globals["recent_limit"] = RECENT_ALERTS


def render(view: StatusView, console: ConsoleView | None = None) -> str:
    """The status page for `view`, with the console's buttons and lists when given."""
    feeds = view.feeds or ()
    failing = sum(1 for f in feeds if f.status.failing)
    dead_total = sum((view.dead_letters or {}).values())
    return ENV.get_template("status.html").render(
        v=view,
        c=console,
        muted={str(s.get("watch")): s for s in (console.silences if console else ())},
        refresh=REFRESH_S,
        failing=failing,
        dead_total=dead_total,
        alerts_said=alerts_words(view.alerts or ()),
    )


def alerts_words(alerts: Sequence[RecentAlert]) -> str:
    """The recent alerts counted apart from the copies folded into their stories (sent once,
    with the story): "1 alert, 1 copy folded into its story"."""
    copies = sum(1 for a in alerts if a.folded)
    said = plural(len(alerts) - copies, "alert")
    if copies:
        into = "its story" if len(alerts) - copies == 1 else "their stories"
        said += f", {plural(copies, 'copy', 'copies')} folded into {into}"
    return said


def render_login(*, wrong: bool, wait: str | None = None) -> str:
    """The sign-in form shown when the listener has a token and the request carries none;
    `wait` says why a sign-in is not checked now (too many wrong tokens)."""
    return ENV.get_template("login.html").render(wrong=wrong, wait=wait)
