"""The feedback links' pages (issue 35): `GET /feedback/<token>` shows the alert and the verdict
with one confirm button; `POST /feedback/<token>` (the button) records the verdict.

The token is the capability (`monitor.alerts.verdicts`): no sign-in, no csrf field, open even
when `http.token` is set (the Host check still applies). A chat client's link preview only GETs,
so it records nothing. A POST that says it comes from another site (`Sec-Fetch-Site`, or an
`Origin` other than this listener) is refused; an altered or forged token is a 404 and records
nothing; the same verdict posted twice is recorded once ("already recorded").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from monitor.alerts.feedback import Feedback
from monitor.alerts.verdicts import RELEVANT, FeedbackSigner, Verdict
from monitor.kernel.errors import ConfigError
from monitor.status.page import ENV
from monitor.status.routes import HEADERS
from monitor.status.watch_page import render_message

log = structlog.get_logger("monitor.feedback")

FindArticle = Callable[[str, str, bool], Awaitable[dict[str, Any]]]  # (rule, story, whole)
LABELS = {RELEVANT: "relevant", "not_relevant": "not relevant"}
SAME_SITE = ("same-origin", "none")  # a click on our own page, or a link opened directly
UNREAD = "The alert's article cannot be read just now (is the bus up?): try again in a minute."


def _html(text: str, status: int = 200) -> web.Response:
    headers = {**HEADERS, "Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    return web.Response(
        text=text, status=status, content_type="text/html", charset="utf-8", headers=headers
    )


def _not_found() -> web.Response:
    words = "This feedback link is not valid: it was altered, or made with another key."
    return _html(render_message(404, words), 404)


def cross_site(request: web.Request) -> str | None:
    """Why a POST comes from another site, or None when it does not say so."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in SAME_SITE:
        return f"Sec-Fetch-Site: {site[:40]}"
    origin = request.headers.get("Origin")
    if origin is not None:
        host = request.headers.get("Host", "")
        parts = urlsplit(origin) if origin != "null" else None
        if parts is None or parts.scheme not in ("http", "https") or parts.netloc != host:
            return f"Origin: {origin[:100]}"
    return None


def render_feedback(
    verdict: Verdict, article: dict[str, Any], current: str | None, said: str, recorded: bool
) -> str:
    """The confirm page (or, with `said`, what the POST did)."""
    url = str(article.get("url", ""))
    return ENV.get_template("feedback.html").render(
        watch=verdict.rule_id,
        title=str(article.get("title", "")),
        url=url if urlsplit(url).scheme in ("http", "https") else "",
        verdict=verdict.verdict,
        label=LABELS[verdict.verdict],
        current=current,
        current_label=LABELS.get(current or "", ""),
        said=said,
        recorded=recorded,
    )


async def found_article(find: FindArticle, verdict: Verdict, whole: bool) -> dict[str, Any] | None:
    """The alert's article, or None when its stores cannot be read now (logged)."""
    try:
        return await find(verdict.rule_id, verdict.story_id, whole)
    except Exception:  # the broker away: the analyst is told to try again, nothing lost
        log.exception("feedback_article_unread", watch=verdict.rule_id)
        return None


def add_feedback_routes(
    app: web.Application,
    signer: FeedbackSigner | Callable[[], FeedbackSigner],
    feedback: Callable[[], Awaitable[Feedback | None]],
    find: FindArticle,
) -> None:
    """Serve `/feedback/{token}`: `feedback()` gives the verdict store (None while the service
    is still opening), `find` the alert's article (whole: for the record, else for the page)."""

    async def read(request: web.Request) -> tuple[Verdict, Feedback] | web.Response:
        try:
            reader = signer if isinstance(signer, FeedbackSigner) else signer()
        except (OSError, ConfigError) as exc:  # the key: unreadable now, said, not a 500
            log.error("feedback_key_unusable", reason=str(exc))  # noqa: TRY400
            return _html(render_message(503, "The feedback key cannot be read: see the log."), 503)
        verdict = reader.read(request.match_info["token"])
        if verdict is None:
            return _not_found()
        store = await feedback()
        if store is None:
            return _html(render_message(503, "The monitor is still starting: try again."), 503)
        return verdict, store

    async def show(request: web.Request) -> web.StreamResponse:
        found = await read(request)
        if isinstance(found, web.Response):
            return found
        verdict, store = found
        before = await store.get(verdict.rule_id, verdict.story_id)
        article = before["article"] if before else await found_article(find, verdict, False)
        if article is None:
            return _html(render_message(503, UNREAD), 503)
        current = str(before["verdict"]) if before else None
        return _html(render_feedback(verdict, article, current, "", False))

    async def confirm(request: web.Request) -> web.StreamResponse:
        why = cross_site(request)
        if why is not None:
            log.warning("feedback_cross_site_refused", reason=why)
            return _html(render_message(403, "A verdict is only taken from this page."), 403)
        found = await read(request)
        if isinstance(found, web.Response):
            return found
        verdict, store = found
        before = await store.get(verdict.rule_id, verdict.story_id)
        if before is not None and before.get("verdict") == verdict.verdict:
            said, recorded, article = "This verdict was already recorded.", False, before["article"]
        else:
            article = await found_article(find, verdict, True)
            if article is None:
                return _html(render_message(503, UNREAD), 503)
            recorded = await store.record(
                verdict.rule_id, verdict.story_id, verdict.verdict, article, "feedback link"
            )
            said = "Recorded. Thank you." if recorded else "This verdict was already recorded."
        return _html(render_feedback(verdict, article, verdict.verdict, said, recorded))

    app.router.add_get("/feedback/{token}", show)
    app.router.add_post("/feedback/{token}", confirm)
