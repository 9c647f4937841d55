"""Small fakes of the console's parts (`monitor.status.actions`), and an app serving them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from monitor.feeds.board import FeedStatus
from monitor.kernel.console import ActionRefused, Answer, Silence, Trial, Who
from monitor.kernel.metrics import make_metrics
from monitor.matching.board import WatchActivity
from monitor.status.actions import Console
from monitor.status.console import add_console_routes
from monitor.status.guard import SignInThrottle
from monitor.status.page import FeedRow, RulesState, StatusView, WatchRow
from monitor.status.web import make_app

YAML = "id: war\nmatch:\n  any: [belarus]\n"


def parse_until(value: str, now_ms: int) -> int:
    """A stand-in for monitor.alerts.mutes.parse_until: "2h" or Unix ms."""
    if value.endswith("h"):
        return now_ms + int(value[:-1]) * 3_600_000
    return int(value)


class Fakes:
    """Every part, recording its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.silences: dict[str, Silence] = {}
        self.saved: list[str] = []
        self.watches: dict[str, str] = {"war": YAML}  # watches.yaml, watch by watch
        self.proposed = "id: like-a1\nmatch:\n  any: [belarus, minsk]\n"

    @property
    def file(self) -> str:
        """The fake watches.yaml: the watches in the order they were added."""
        return "".join(self.watches.values())

    def last(self) -> Any:
        """The last call recorded."""
        return self.calls[-1]

    # PollActions
    async def poll_now(self, feed_id: str, who: Who) -> Answer:
        self.calls.append(("poll", feed_id))
        if feed_id != "world":
            raise ActionRefused(404, f"no feed {feed_id!r}")
        return {
            "feed": feed_id,
            "result": "ok",
            "new": 2,
            "error": None,
            "next_poll_ms": 1,
            "by": "me",
        }

    # FeedFiles
    async def set_enabled(self, feed_id: str, enabled: bool, who: Who) -> Answer:
        self.calls.append(("enabled", (feed_id, enabled)))
        return {"feed": feed_id, "enabled": enabled, "file": "feeds.yaml", "line": 3}

    async def add(self, url: str, who: Who, *, choose: str | None = None) -> Answer:
        self.calls.append(("add", (url, choose)))
        if choose:
            added = {"id": "found", "url": choose, "file": "feeds.yaml", "line": 9}
            return {"candidates": [], "added": added}
        found = [{"url": url + "rss", "title": "<i>T</i>", "kind": "rss"},
                 {"url": url + "atom", "title": "", "kind": "atom"}]  # fmt: skip
        return {"candidates": found, "added": None}

    # WatchActions
    def source(self, rule_id: str) -> Answer:
        if rule_id not in self.watches:
            raise ActionRefused(404, f"no watch {rule_id!r}")
        yaml = self.watches[rule_id]
        return {"id": rule_id, "file": "watches.yaml", "line": 1, "mode": "live", "yaml": yaml}

    async def save(
        self,
        rule_id: str,
        yaml_text: str,
        who: Who,
        *,
        version: str | None = None,
        create: bool = False,
    ) -> Answer:
        """Replace the watch, or (an id not yet in the rules, with `create`) append it."""
        if (rule_id in self.watches) == create:
            raise ActionRefused(409 if create else 404, f"watch {rule_id}: create={create}")
        if "mistake" in yaml_text:
            raise ActionRefused(422, "the watch does not check", ["watches.yaml:2: unknown key"])
        self.saved.append(yaml_text)
        line = 1 + self.file.count("\n") if rule_id not in self.watches else 1
        self.watches[rule_id] = yaml_text if yaml_text.endswith("\n") else yaml_text + "\n"
        return {
            "id": rule_id,
            "file": "watches.yaml",
            "line": line,
            "committed": False,
            **({"created": True} if create else {}),
        }

    async def set_mode(self, rule_id: str, mode: str, who: Who) -> Answer:
        return {"id": rule_id, "mode": mode, "file": "watches.yaml"}

    async def test(self, rule_id: str, trial: Trial) -> Answer:
        self.calls.append(("test", trial))
        if trial.yaml is None and rule_id not in self.watches:
            raise ActionRefused(404, f"no watch {rule_id!r}")
        text = trial.text
        at = text.lower().find("belarus")
        marks = [["text", at, at + 7]] if at >= 0 else []
        return {"results": [{"title": trial.title, "url": trial.url, "matched": at >= 0,
                             "evidence": [], "text": text, "marks": marks}]}  # fmt: skip

    async def backtest(self, rule_id: str, yaml_text: str | None, days: int) -> Answer:
        return {
            "days": [{"day": "2025-11-30", "matches": 1, "alerts": 1}],
            "alerts": [],
            "articles": 9,
        }

    async def stored(self, limit: int) -> list[Answer]:
        self.calls.append(("stored", limit))
        first = {"id": "a1", "title": "<b>stored</b>", "feed": "world", "url": "https://x.test/"}
        return [first, {"id": "a2", "title": "Minsk talks", "feed": "wire", "url": ""}][:limit]

    async def propose(self, article_id: str) -> Answer:
        if article_id not in ("a1", "a2"):
            raise ActionRefused(404, f"the article {article_id!r} is no longer stored")
        return {"yaml": self.proposed, "terms": ["belarus"], "entities": []}

    # Silences
    async def mute(self, rule_id: str, until_ms: int, reason: str, who: Who) -> Silence:
        self.silences[rule_id] = Silence(rule_id, until_ms, reason, 0, who.to_dict())
        return self.silences[rule_id]

    async def unmute(self, rule_id: str, who: Who) -> Silence | None:
        return self.silences.pop(rule_id, None)

    async def active(self) -> list[Silence]:
        return list(self.silences.values())

    # DeadLetterActions
    async def letters(self) -> list[Answer]:
        return [{"alert_id": "d1", "channel": "slack", "rule": "war", "rules": ["war"],
                 "reason": "500", "attempts": 3, "when": "2025-12-07T18:00:00Z", "kind": "alert",
                 "title": "<script>x</script>", "url": "javascript:alert(1)"}]  # fmt: skip

    async def retry(self, ids: Sequence[str] | None, who: Who) -> Answer:
        self.calls.append(("retry", ids))
        return {"results": dict.fromkeys(ids or ["d1"], "sent")}

    async def drop(self, ids: Sequence[str] | None, who: Who) -> Answer:
        self.calls.append(("drop", ids))
        return {"dropped": list(ids or ["d1"])}

    # History
    async def search(self, *, watch: str | None = None, since_ms: int | None = None,
                     until_ms: int | None = None, limit: int = 100) -> list[Answer]:  # fmt: skip
        self.calls.append(("search", (watch, since_ms)))
        return [{"key": "k1", "watch": "war", "mode": "live", "severity": "high", "title": "Hit",
                 "url": "https://x.test/", "feed": "world", "evidence": [], "first_ms": 0,
                 "channels": {}, "story": None, "state": "sent", "article": "a1"}]  # fmt: skip


class Channels:
    """ChannelActions."""

    async def test(self, name: str, who: Who) -> Answer:
        return {
            "channel": name,
            "ok": True,
            "status": 200,
            "answer": "ok",
            "error": None,
            "by": "me",
        }


def console_of(fakes: Fakes) -> Console:
    """A Console with every part."""
    return Console(
        polls=fakes, feeds=fakes, watches=fakes, silences=fakes, channels=Channels(),
        letters=fakes, history=fakes, channel_names=("slack",),
    )  # fmt: skip


def console_app(
    console: Console | None, token: str | None = None, host: str = "127.0.0.1"
) -> web.Application:
    """The listener with the status page's console routes over `console`."""
    metrics = make_metrics()
    throttle = SignInThrottle(metrics)
    app = make_app(metrics, lambda: (True, {}), token=token, listen_host=host, throttle=throttle)
    add_console_routes(app, lambda: console, token, throttle, host, parse_until=parse_until)
    return app


def with_status_page(app: web.Application, token: str | None, view: Any = None) -> web.Application:
    """`app` with the status page `GET /` too (an empty view unless given)."""
    from monitor.status.page import RulesState, StatusView
    from monitor.status.routes import add_status_routes

    shown = view or StatusView(
        "1", "all", 0, 0, RulesState(0, None, False, ()), None, None, None, None
    )

    async def current() -> StatusView:
        return shown

    add_status_routes(app, current, token)
    return app


NOW = 1_765_130_400_000


def status_view() -> StatusView:
    """A page with one feed and one watch (the rows the console's buttons are on)."""
    feed = FeedRow("world", "https://x.test/feed", 60, FeedStatus("world", NOW, "ok", items=5))
    watch = WatchRow("war", "live", "war news", WatchActivity((0, 1, 0, 2, 0, 0, 1), NOW))
    rules = RulesState(1, NOW, False, ())
    return StatusView("1", "all", NOW, NOW, rules, [feed], [watch], None, {"slack": 1})
