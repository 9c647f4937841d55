"""The console's endpoints under `/-/` (issue 34), and the watch page `GET /watches/<id>`.

Each action is JSON in, JSON out; the same paths take the status page's form posts (with the
`csrf` field: `monitor.status.consent`) and answer them with HTML: 303 back to the page, which
shows the result in one line, or (a watch's Save, Test, Backtest) the watch page with the
result. A form cannot send DELETE or PUT: `_method=DELETE|PUT` is honoured on a form with a
valid csrf only. `ActionRefused` is answered with its status and `{"error", "problems"}`; a part
this process does not run with 503 naming the role that does. Bodies over `MAX_BODY` are
refused (413); ids outside `ID` are 404.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import structlog
from aiohttp import web

from monitor.alerts.mutes import parse_until
from monitor.kernel.console import ActionRefused, Answer, Silence, Trial, Who
from monitor.status.actions import Console
from monitor.status.consent import Consent, Refused, is_form, logged
from monitor.status.guard import SignInThrottle
from monitor.status.page import ConsoleView
from monitor.status.results import said
from monitor.status.routes import EXTRAS, HEADERS
from monitor.status.watch_page import WatchPage, render_message, render_watch

log = structlog.get_logger("monitor.console")
PART_TIMEOUT_S = 3.0  # a console part the page waits for (a broker away answers late)
MAX_BODY = 512 * 1024  # a watch's YAML is a few KB; a rules file of 10,000 lines fits
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}")
BACK = re.compile(r"/(watches/[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199})?")
FLASHES = 200  # one-line results waiting to be shown once
STORED = 20  # stored articles offered to pick for a test
ROLES = {
    "polls": ("poll feeds", "poller"),
    "feeds": ("edit feeds.yaml", "poller"),
    "watches": ("edit watches", "matcher"),
    "silences": ("keep silences", "dispatcher"),
    "channels": ("send through channels", "dispatcher"),
    "letters": ("hold the dead letters", "dispatcher"),
    "history": ("keep the alert history", "dispatcher"),
}
ParseUntil = Callable[[str, int], int]
Body = dict[str, Any]


def default_parse_until(value: str, now_ms: int) -> int:
    """`monitor.alerts.mutes.parse_until`: "2h", "30m", "1d" or an ISO time (422 otherwise)."""
    return parse_until(value, now_ms)


def parse_since(value: str, now_ms: int) -> int:
    """ "24h", "30m", "7d" back from now, or an ISO time; ActionRefused 400 otherwise."""
    found = re.fullmatch(r"(\d{1,6})([smhd])", value.strip())
    if found:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]
        return now_ms - int(found.group(1)) * unit * 1000
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ActionRefused(
            400, f"since: {value[:40]!r} is neither like 24h nor an ISO time"
        ) from None
    if when.tzinfo is None:
        raise ActionRefused(400, "since: give the time with its zone (e.g. ...Z)")
    return int(when.timestamp() * 1000)


@dataclass(slots=True)
class Site:
    """What the console's handlers share; kept on the app under `SITE`."""

    consent: Consent
    console: Callable[[], Console | None]
    parse_until: ParseUntil = default_parse_until
    flashes: OrderedDict[str, tuple[bool, str]] = field(default_factory=OrderedDict)

    def part(self, name: str) -> Any:
        """The console's part `name`, or ActionRefused 503 naming the role that has it."""
        console = self.console()
        found = getattr(console, name) if console is not None else None
        if found is None:
            what, role = ROLES[name]
            raise ActionRefused(503, f"this process does not {what}: the {role} role does")
        return found

    def flash(self, ok: bool, text: str) -> str:
        """Keep a one-line result for the page; its key."""
        key = secrets.token_urlsafe(12)
        self.flashes[key] = (ok, text[:500])
        while len(self.flashes) > FLASHES:
            self.flashes.popitem(last=False)
        return key

    def said(self, key: str | None) -> tuple[bool, str] | None:
        """The result kept under `key`, once."""
        return self.flashes.pop(key, None) if key else None


SITE = web.AppKey("console_site", Site)


def html(text: str, status: int = 200) -> web.Response:
    """An HTML answer with the page's headers (no script, no framing)."""
    return web.Response(
        text=text, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
    )


async def read_body(request: web.Request) -> tuple[Body, dict[str, str] | None]:
    """The body as fields, and the form's fields (None for JSON). 413 over MAX_BODY."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ActionRefused(413, f"the body is over {MAX_BODY // 1024} KiB")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(65536):
        size += len(chunk)
        if size > MAX_BODY:
            raise ActionRefused(413, f"the body is over {MAX_BODY // 1024} KiB")
        chunks.append(chunk)
    raw = b"".join(chunks).decode("utf-8", errors="replace")
    if is_form(request):
        if request.content_type != "application/x-www-form-urlencoded":
            raise ActionRefused(415, "send the form url-encoded")
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=2000)
        form = dict(pairs)
        body: Body = dict(form)
        for many in ("ids", "article_ids"):  # checkboxes: the field once per box ticked
            values = [v for k, v in pairs if k == many and v]
            if values:
                body[many] = values
        body["all"] = form.get("all") in ("1", "true", "on")
        return body, form
    if request.content_type == "application/json":
        try:
            loaded = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise ActionRefused(400, f"the body is not JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise ActionRefused(400, "send a JSON object")
        return loaded, None
    return {"yaml": raw} if raw else {}, None


def text_field(body: Body, name: str, limit: int = 10_000) -> str:
    """A string field of the body ("" when missing); 400 when it is not a string."""
    value = body.get(name, "")
    if not isinstance(value, str):
        raise ActionRefused(400, f"{name}: give a string")
    return value[:limit]


def checked_id(value: str) -> str:
    """An id from the path: 404 when it is not one a feed, watch or channel can have."""
    if not ID.fullmatch(value) or ".." in value:
        raise ActionRefused(404, "no such id")
    return value


def chosen_ids(body: Body) -> list[str] | None:
    """`{"ids": [...]}` or `{"all": true}` (None: all); 400 for neither."""
    if body.get("all") is True:
        return None
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ActionRefused(400, 'give {"ids": [...]} or {"all": true}')
    return [str(i)[:200] for i in ids[:1000]]


def now_ms() -> int:
    """The time now, in Unix milliseconds."""
    return int(time.time() * 1000)


Run = Callable[[Site, Who, Body, web.Request], Awaitable[Answer]]


def refused_answer(
    request: web.Request, form: bool, status: int, message: str, problems: Any = ()
) -> web.Response:
    """The refusal, as JSON or as a small HTML page."""
    if form:
        return html(render_message(status, message, [str(p) for p in problems]), status)
    body = {"error": message, "problems": [str(p) for p in problems]}
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


Shown = Callable[[web.Request, Site, Body, Answer], Awaitable[web.Response | None]]


def action(
    name: str, run: Run, *, page: bool = False, shown: Shown | None = None
) -> Callable[..., Awaitable[Any]]:
    """A handler for a state-changing endpoint: read, consent, run, log, answer.
    `page`: a form's answer is the watch page with the result (Save, Test, Backtest);
    `shown`: a form's answer is the page it renders, if any (add feed: the candidates)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        site = request.app[SITE]
        target = request.match_info.get("id") or request.match_info.get("name") or ""
        form = is_form(request)
        who: Who | None = None
        try:
            site.consent.identified(request)  # no body read for a stranger
            body, fields = await read_body(request)
            who = site.consent.actor(request, fields)
            if target:
                checked_id(target)
            answer = await run(site, who, body, request)
        except Refused as exc:
            logged(name, target, None, f"refused {exc.status}", request.remote or "")
            answer_ = refused_answer(request, form, exc.status, exc.message)
            answer_.headers.update(exc.headers)
            return answer_
        except ActionRefused as exc:
            logged(name, target, who, f"{exc.status} {exc.message}", request.remote or "")
            if form and page and who is not None and exc.status == 422:
                return await watch_page(request, site, target, body, problems=exc)
            return refused_answer(request, form, exc.status, exc.message, exc.problems)
        except Exception as exc:  # a bug in one action must not look like success, or be lost
            log.exception("console_action_failed", action=name, target=target[:200])
            logged(name, target, who, f"500 {type(exc).__name__}", request.remote or "")
            words = f"{name} failed: {type(exc).__name__} (logged as console_action_failed)"
            return refused_answer(request, form, 500, words)
        logged(name, target, who, "done", request.remote or "")
        if not form:
            return web.json_response(answer, headers={"Cache-Control": "no-store"})
        if page and answer.get("created") and answer.get("id") != target:
            key = site.flash(*said(name, answer["id"], answer, now_ms()))  # under its own id
            raise web.HTTPSeeOther(f"/watches/{answer['id']}?said={key}", headers=HEADERS)
        if page:
            return await watch_page(request, site, target, body, result=(name, answer))
        if shown is not None and (rendered := await shown(request, site, body, answer)):
            return rendered
        back = str(body.get("back", "/"))
        back = back if BACK.fullmatch(back) else "/"
        key = site.flash(*said(name, target, answer, now_ms()))
        raise web.HTTPSeeOther(f"{back}?said={key}", headers=HEADERS)

    return handler


def reading(run: Callable[[Site, web.Request], Awaitable[Answer]]) -> Callable[..., Any]:
    """A handler for a GET endpoint: who reads, then the answer as JSON."""

    async def handler(request: web.Request) -> web.StreamResponse:
        site = request.app[SITE]
        try:
            site.consent.reader(request)
            target = request.match_info.get("id")
            if target:
                checked_id(target)
            answer = await run(site, request)
        except Refused as exc:
            return web.json_response({"error": exc.message}, status=exc.status, headers=exc.headers)
        except ActionRefused as exc:
            return refused_answer(request, False, exc.status, exc.message, exc.problems)
        except Exception as exc:  # answered and logged, as an action's
            log.exception("console_read_failed", path=request.path[:200])
            return refused_answer(request, False, 500, f"failed: {type(exc).__name__}")
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    return handler


async def read_part(what: str, reading: Awaitable[Any], problems: list[str]) -> Any:
    """One console part's answer, or None with a line in `problems` saying why (the broker
    away, a slow store): the pages are most needed when something is wrong, so no part may
    take them down. A read given up is handed nothing (it is read again next time)."""
    try:
        return await asyncio.wait_for(reading, PART_TIMEOUT_S)
    except ActionRefused as exc:
        problems.append(exc.message)
    except TimeoutError:
        problems.append(f"the {what} could not be read within {PART_TIMEOUT_S:g}s")
    except Exception as exc:  # the store's failure is its own: logged with its trace
        log.exception("status_part_unread", part=what)
        problems.append(f"the {what} could not be read: {type(exc).__name__}")
    return None


async def watch_page(
    request: web.Request,
    site: Site,
    rule_id: str,
    body: Body | None = None,
    *,
    result: tuple[str, Answer] | None = None,
    problems: ActionRefused | None = None,
    article: str = "",
) -> web.Response:
    """The watch page, with an action's result or problems. A watch not in the rules yet
    (made from an article, not saved, or refused) is shown as new, with the YAML posted."""
    watches = site.part("watches")
    edited = (body or {}).get("yaml")
    try:
        source: Answer = watches.source(rule_id)
    except ActionRefused as exc:
        if exc.status != 404 or not isinstance(edited, str):
            raise
        source = {"id": rule_id, "file": "", "line": None, "mode": "", "yaml": "", "new": True}
    unread: list[str] = []
    stored = await read_part("stored articles", watches.stored(STORED), unread) or []
    console = site.console()
    active: list[Silence] = []
    if console is not None and console.silences is not None:
        active = await read_part("silences", console.silences.active(), unread) or []
    shown = WatchPage(
        id=rule_id,
        source=source,
        yaml=edited if isinstance(edited, str) else str(source.get("yaml", "")),
        stored=stored,
        silences=[s.to_dict() for s in active if s.rule_id == rule_id],
        csrf=site.consent.csrf(request),
        refused=site.consent.refused_words,
        result=result,
        problems=(problems.message, list(problems.problems)) if problems else None,
        said=site.said(request.query.get("said")),
        sentence=said(result[0], rule_id, result[1], now_ms())[1] if result else None,
        new=bool(source.get("new")),
        article=article,
        unread="; ".join(unread),
    )
    status = problems.status if problems else 200
    return html(await asyncio.to_thread(render_watch, shown), status)


async def gather(request: web.Request) -> ConsoleView:
    """The console's part of the status page: what each part this process runs lists."""
    site = request.app[SITE]
    console = site.console() or Console()
    query = {k: request.query.get(k, "")[:60] for k in ("watch", "since")}
    silences: list[Answer] = []
    letters = history = None
    if site.consent.refused_words is not None:  # no token beyond loopback: the page says so
        console = Console(channel_names=console.channel_names)
    problems: list[str] = []

    if console.silences is not None:
        active = await read_part("silences", console.silences.active(), problems)
        silences = [s.to_dict() for s in active or ()]
    if console.letters is not None:
        letters = await read_part("dead letters", console.letters.letters(), problems)
    if console.history is not None:
        watch = query["watch"] if ID.fullmatch(query["watch"]) else None
        try:
            since = parse_since(query["since"], now_ms()) if query["since"] else None
        except ActionRefused as exc:
            problems.append(exc.message)
            since = None
        searched = console.history.search(watch=watch, since_ms=since, limit=100)
        history = await read_part("alert history", searched, problems)
    problem = "; ".join(problems) or None
    return ConsoleView(
        csrf=site.consent.csrf(request),
        refused=site.consent.refused_words,
        said=site.said(request.query.get("said")),
        silences=silences,
        letters=letters,
        history=history,
        channels=tuple(console.channel_names),
        query=query,
        problem=problem,
    )


def add_console_routes(
    app: web.Application,
    console_getter: Callable[[], Console | None],
    token: str | None,
    throttle: SignInThrottle,
    listen_host: str,
    *,
    parse_until: ParseUntil = default_parse_until,
) -> Site:
    """Serve the console's endpoints and the watch page on `app`; the status page
    (`monitor.status.routes`) finds the `Site` on the app and shows the buttons."""
    from monitor.status import console_runs as runs  # the actions' bodies, kept apart

    site = Site(Consent(token, throttle, listen_host), console_getter, parse_until)
    app[SITE] = site
    app[EXTRAS] = gather
    post, get = app.router.add_post, app.router.add_get
    post("/-/feeds", action("feed_add", runs.feed_add, shown=runs.candidates_page))
    post("/-/feeds/{id}/poll", action("feed_poll", runs.feed_poll))
    post("/-/feeds/{id}/pause", action("feed_pause", runs.feed_pause))
    post("/-/feeds/{id}/resume", action("feed_resume", runs.feed_resume))
    post("/-/watches/{id}/mute", action("watch_mute", runs.watch_mute))
    app.router.add_delete("/-/watches/{id}/mute", action("watch_unmute", runs.watch_unmute))
    post("/-/watches/{id}/mode", action("watch_mode", runs.watch_mode))
    post("/-/watches/{id}/test", action("watch_test", runs.watch_test, page=True))
    post("/-/watches/{id}/backtest", action("watch_backtest", runs.watch_backtest, page=True))
    app.router.add_put("/-/watches/{id}", action("watch_save", runs.watch_save))
    post("/-/watches/{id}", action("watch_save", runs.watch_save_form, page=True))
    get("/-/watches/{id}", reading(runs.watch_source))
    get("/-/mutes", reading(runs.mutes))
    post("/-/channels/{name}/test", action("channel_test", runs.channel_test))
    get("/-/dlq", reading(runs.dlq))
    post("/-/dlq/retry", action("dlq_retry", runs.dlq_retry))
    post("/-/dlq/drop", action("dlq_drop", runs.dlq_drop))
    get("/-/alerts", reading(runs.alerts))
    get("/-/articles/{id}/watch", reading(runs.propose))

    async def page(request: web.Request) -> web.StreamResponse:
        if (words := site.consent.refused_words) is not None:  # the rules' YAML stays unread
            return html(render_message(403, words, []), 403)
        try:
            site.consent.reader(request)
            return await watch_page(request, site, checked_id(request.match_info["id"]))
        except Refused:
            raise web.HTTPSeeOther("/", headers=HEADERS) from None
        except ActionRefused as exc:
            return html(render_message(exc.status, exc.message, list(exc.problems)), exc.status)

    async def new_watch(request: web.Request) -> web.StreamResponse:
        try:
            site.consent.reader(request)
            return await runs.new_watch_page(request, site)
        except Refused:
            raise web.HTTPSeeOther("/", headers=HEADERS) from None
        except ActionRefused as exc:
            return html(render_message(exc.status, exc.message, list(exc.problems)), exc.status)

    get("/watches/new", new_watch)  # before /watches/{id}: "new" is no watch's page
    get("/watches/{id}", page)
    return site


def form_method(body: Mapping[str, Any], expected: str) -> None:
    """A form's `_method` must be `expected` (a form cannot send DELETE or PUT)."""
    if body.get("_method") != expected:
        raise ActionRefused(405, f"send {expected} (a form: _method={expected})")


def trial_of(body: Body) -> Trial:
    """The Trial a test's body asks for."""
    articles = body.get("article_ids") or body.get("articles") or ()
    if isinstance(articles, str):
        articles = [a for a in articles.split(",") if a]
    if not isinstance(articles, list | tuple):
        raise ActionRefused(400, "articles: give a list of ids")
    yaml = body.get("yaml")
    return Trial(
        title=text_field(body, "title", 2000),
        text=text_field(body, "text", 200_000),
        url=text_field(body, "url", 2000),
        article_ids=tuple(str(a)[:200] for a in articles[:50]),
        yaml=yaml if isinstance(yaml, str) and yaml.strip() else None,
    )
