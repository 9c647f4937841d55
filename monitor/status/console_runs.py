"""What each console endpoint does once `monitor.status.console` has read the body and checked
who asks: the calls to the `Console`'s parts, and the answers' shapes."""

from __future__ import annotations

import re

from aiohttp import web

from monitor.kernel.console import ActionRefused, Answer, Who
from monitor.status.consent import is_form
from monitor.status.console import (
    ID,
    Body,
    Site,
    checked_id,
    chosen_ids,
    form_method,
    html,
    now_ms,
    parse_since,
    text_field,
    trial_of,
    watch_page,
)
from monitor.status.watch_page import render_candidates

MAX_DAYS = 90
YAML_ID = re.compile(r"""^(\s*-?\s*id:\s*)["']?([^"'\s#]+)["']?""", re.MULTILINE)


def _id(request: web.Request) -> str:
    return checked_id(request.match_info.get("id") or request.match_info.get("name") or "")


async def feed_add(site: Site, who: Who, body: Body, _: web.Request) -> Answer:
    """POST /-/feeds {"url", "choose"}."""
    url = text_field(body, "url", 2000).strip()
    if not url.lower().startswith(("http://", "https://")):
        raise ActionRefused(400, "url: give an http(s) address")
    choose = text_field(body, "choose", 2000).strip() or None
    answer: Answer = await site.part("feeds").add(url, who, choose=choose)
    return answer


async def feed_poll(site: Site, who: Who, _: Body, request: web.Request) -> Answer:
    """POST /-/feeds/<id>/poll."""
    answer: Answer = await site.part("polls").poll_now(_id(request), who)
    return answer


async def feed_pause(site: Site, who: Who, _: Body, request: web.Request) -> Answer:
    """POST /-/feeds/<id>/pause."""
    answer: Answer = await site.part("feeds").set_enabled(_id(request), False, who)
    return answer


async def feed_resume(site: Site, who: Who, _: Body, request: web.Request) -> Answer:
    """POST /-/feeds/<id>/resume."""
    answer: Answer = await site.part("feeds").set_enabled(_id(request), True, who)
    return answer


async def watch_mute(site: Site, who: Who, body: Body, request: web.Request) -> Answer:
    """POST /-/watches/<id>/mute {"until", "reason"} (a form's `_method=DELETE`: unmute)."""
    if is_form(request) and body.get("_method") == "DELETE":
        return await watch_unmute(site, who, body, request)
    until = text_field(body, "until", 100).strip()
    if not until:
        raise ActionRefused(400, 'until: give a time, or a span like "2h"')
    now = now_ms()
    try:
        until_ms = site.parse_until(until, now)
    except ValueError as exc:
        raise ActionRefused(400, f"until: {exc}") from None
    if until_ms <= now:
        raise ActionRefused(400, "until: give a time to come")
    silence = await site.part("silences").mute(
        _id(request), until_ms, text_field(body, "reason", 500), who
    )
    answer: Answer = silence.to_dict()
    return answer


async def watch_unmute(site: Site, who: Who, _: Body, request: web.Request) -> Answer:
    """DELETE /-/watches/<id>/mute."""
    ended = await site.part("silences").unmute(_id(request), who)
    return {"watch": _id(request), "unmuted": ended.to_dict() if ended is not None else None}


async def watch_mode(site: Site, who: Who, body: Body, request: web.Request) -> Answer:
    """POST /-/watches/<id>/mode {"mode": "shadow" | "live"}."""
    mode = text_field(body, "mode", 20)
    if mode not in ("shadow", "live"):
        raise ActionRefused(400, 'mode: give "shadow" or "live"')
    answer: Answer = await site.part("watches").set_mode(_id(request), mode, who)
    return answer


async def watch_test(site: Site, _: Who, body: Body, request: web.Request) -> Answer:
    """POST /-/watches/<id>/test {"title", "text"} | {"url"} | {"articles"} [+ "yaml"]."""
    trial = trial_of(body)
    if not (trial.title or trial.text or trial.url or trial.article_ids):
        raise ActionRefused(400, "give a title and text, a url, or stored articles to test")
    answer: Answer = await site.part("watches").test(_id(request), trial)
    return answer


async def watch_backtest(site: Site, _: Who, body: Body, request: web.Request) -> Answer:
    """POST /-/watches/<id>/backtest {"days", "yaml"}."""
    raw = body.get("days", 7)
    try:
        days = int(raw)
    except (TypeError, ValueError):
        raise ActionRefused(400, "days: give a number") from None
    if not 1 <= days <= MAX_DAYS:
        raise ActionRefused(400, f"days: give 1 to {MAX_DAYS}")
    yaml = body.get("yaml")
    edited = yaml if isinstance(yaml, str) and yaml.strip() else None
    answer: Answer = await site.part("watches").backtest(_id(request), edited, days)
    return answer


async def watch_save(site: Site, who: Who, body: Body, request: web.Request) -> Answer:
    """PUT /-/watches/<id>: {"yaml", "version", "new"} or the YAML as the body ("new": true
    adds a watch not in the rules yet)."""
    yaml = text_field(body, "yaml", 10**6)
    if not yaml.strip():
        raise ActionRefused(400, "give the watch's YAML")
    version = body.get("version")
    create = body.get("new") in (True, "1", "true")
    rule_id = _id(request)
    if create and (named := YAML_ID.search(yaml)):  # a new watch is named by its YAML's id
        rule_id = checked_id(named.group(2))
    answer: Answer = await site.part("watches").save(
        rule_id,
        yaml,
        who,
        version=version if isinstance(version, str) and version else None,
        create=create,
    )
    return answer


async def watch_save_form(site: Site, who: Who, body: Body, request: web.Request) -> Answer:
    """POST /-/watches/<id> from the page's form, with `_method=PUT`."""
    if not is_form(request):
        raise ActionRefused(405, "send PUT")
    form_method(body, "PUT")
    return await watch_save(site, who, body, request)


async def watch_source(site: Site, request: web.Request) -> Answer:
    """GET /-/watches/<id>."""
    answer: Answer = site.part("watches").source(_id(request))
    return answer


async def mutes(site: Site, _: web.Request) -> Answer:
    """GET /-/mutes."""
    return {"silences": [s.to_dict() for s in await site.part("silences").active()]}


async def channel_test(site: Site, who: Who, _: Body, request: web.Request) -> Answer:
    """POST /-/channels/<name>/test."""
    name = _id(request)
    console = site.console()
    if console is not None and console.channel_names and name not in console.channel_names:
        raise ActionRefused(404, f"no channel named {name!r} in monitor.yaml")
    answer: Answer = await site.part("channels").test(name, who)
    return answer


async def dlq(site: Site, _: web.Request) -> Answer:
    """GET /-/dlq."""
    return {"letters": await site.part("letters").letters()}


async def dlq_retry(site: Site, who: Who, body: Body, _: web.Request) -> Answer:
    """POST /-/dlq/retry {"ids": [...]} or {"all": true}."""
    answer: Answer = await site.part("letters").retry(chosen_ids(body), who)
    return answer


async def dlq_drop(site: Site, who: Who, body: Body, _: web.Request) -> Answer:
    """POST /-/dlq/drop {"ids": [...]} or {"all": true}."""
    answer: Answer = await site.part("letters").drop(chosen_ids(body), who)
    return answer


async def alerts(site: Site, request: web.Request) -> Answer:
    """GET /-/alerts[?watch=&since=&limit=]."""
    watch = request.query.get("watch") or None
    if watch is not None:
        checked_id(watch)
    since = request.query.get("since")
    since_ms = parse_since(since, now_ms()) if since else None
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "100"))))
    except ValueError:
        raise ActionRefused(400, "limit: give a number") from None
    found = await site.part("history").search(watch=watch, since_ms=since_ms, limit=limit)
    return {"alerts": found}


async def propose(site: Site, request: web.Request) -> Answer:
    """GET /-/articles/<id>/watch."""
    answer: Answer = await site.part("watches").propose(_id(request))
    return answer


async def candidates_page(
    request: web.Request, site: Site, body: Body, answer: Answer
) -> web.Response | None:
    """A form's add that found feeds but added none: the pick list (None otherwise)."""
    candidates = [c for c in answer.get("candidates") or () if isinstance(c, dict)]
    if answer.get("added") or not candidates:
        return None
    url = text_field(body, "url", 2000).strip()
    return html(render_candidates(url, candidates[:50], site.consent.csrf(request)))


def yaml_id(yaml: str) -> str | None:
    """The id a watch's YAML gives itself (its first `id:`), if it is one an id may be."""
    found = YAML_ID.search(yaml)
    return found.group(2) if found and ID.fullmatch(found.group(2)) else None


async def new_watch_page(request: web.Request, site: Site) -> web.Response:
    """GET /watches/new?article=<id>: the watch `WatchActions.propose` makes like a stored
    article, in the watch page's editor; its Save (PUT /-/watches/<its id>) adds it. An id
    already taken gets a number (-2, -3 ...) so Save never replaces another watch."""
    article = checked_id(request.query.get("article", ""))
    watches = site.part("watches")
    proposal: Answer = await watches.propose(article)
    yaml = str(proposal.get("yaml") or "")
    base = yaml_id(yaml) or f"like-{article}"[:60]
    rule_id = base
    for n in range(2, 100):
        try:
            watches.source(rule_id)
        except ActionRefused as exc:
            if exc.status == 404:
                break
            raise
        rule_id = f"{base}-{n}"
    if rule_id != base and YAML_ID.search(yaml):
        yaml = YAML_ID.sub(lambda m: m.group(1) + rule_id, yaml, count=1)
    return await watch_page(request, site, rule_id, {"yaml": yaml}, article=article)
