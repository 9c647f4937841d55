"""Local stand-ins for chat platforms' APIs, each checking the request as the platform documents
it and answering as the platform does: success, 429 with a retry time, a final 4xx, a 5xx.

`plan` holds the answers to give in turn ("ok", 429, 400, 401, 403, 500, or "lost": take the
message, then answer 500 as if the answer was lost); after it, every request gets "ok".
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

from aiohttp import web

# Telegram's HTML parse mode: these tags, and only &lt; &gt; &amp; &quot; as named entities
# (https://core.telegram.org/bots/api#html-style).
TELEGRAM_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "tg-emoji", "code", "pre", "blockquote",
}  # fmt: skip
TELEGRAM_ENTITIES = {"lt", "gt", "amp", "quot"}
# The HTML the Matrix spec lets clients show (client-server API, m.room.message msgtypes).
MATRIX_TAGS = {
    "font", "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol",
    "sup", "sub", "li", "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div", "table",
    "thead", "tbody", "tr", "th", "td", "caption", "pre", "span", "img", "details", "summary",
}  # fmt: skip
VOID = {"br", "hr", "img"}
_ENTITY_RE = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")


class MarkupError(ValueError):
    """The text is not the markup the platform parses."""


class _Strict(HTMLParser):
    """Parses HTML the way a chat platform does: known tags only, balanced, no raw `<`."""

    def __init__(self, tags: set[str], entities: set[str] | None) -> None:
        super().__init__(convert_charrefs=False)
        self.tags, self.entities = tags, entities
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.tags:
            raise MarkupError(f"unsupported start tag {tag!r}")
        for name, value in attrs:
            if name != "href" and not (tag == "span" and name == "class"):
                raise MarkupError(f"unsupported attribute {name!r} on {tag!r}")
            if name == "href" and not (value or "").startswith(("http://", "https://")):
                raise MarkupError(f"link to {value!r}")
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.open or self.open[-1] != tag:
            raise MarkupError(f"can't find end tag corresponding to start tag {tag!r}")
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            raise MarkupError("unescaped < or >")
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if self.entities is not None and name not in self.entities:
            raise MarkupError(f"unsupported entity &{name};")
        self.text.append({"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(name, "?"))

    def handle_charref(self, name: str) -> None:
        self.text.append(chr(int(name[1:], 16) if name[:1] in "xX" else int(name)))


def parse_markup(text: str, tags: set[str], entities: set[str] | None = None) -> str:
    """The text a reader sees; MarkupError if a platform would refuse or mangle the markup."""
    for i, ch in enumerate(text):
        if ch == "&" and not _ENTITY_RE.match(text, i):
            raise MarkupError(f"unescaped & at {i}")
    parser = _Strict(tags, entities)
    parser.feed(text)
    parser.close()
    if parser.open:
        raise MarkupError(f"unclosed {parser.open}")
    return "".join(parser.text)


@dataclass
class Platform:
    """What every fake shares: the plan, the requests and the messages taken."""

    plan: list[int | str] = field(default_factory=list)
    base: str = ""
    requests: list[tuple[float, str, dict[str, str], bytes]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why requests were refused (bad shape)

    def next_answer(self) -> int | str:
        return self.plan.pop(0) if self.plan else "ok"

    async def record(self, request: web.Request) -> bytes:
        body = await request.read()
        self.requests.append((time.monotonic(), request.path_qs, dict(request.headers), body))
        return body

    def app(self) -> web.Application:
        raise NotImplementedError

    def refuse(self, why: str, response: web.Response) -> web.Response:
        self.refused.append(why)
        return response


@dataclass
class Telegram(Platform):
    """The Bot API's sendMessage (https://core.telegram.org/bots/api#sendmessage)."""

    token: str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"  # noqa: S105 - a fake server's
    chat_id: str = "-1001234567890"
    retry_after: int = 2
    echo: bool = False  # refusals quote the request path, as proxies and self-hosted servers do

    def app(self) -> web.Application:
        async def send(request: web.Request) -> web.Response:
            body = await self.record(request)
            if request.match_info["token"] != self.token:
                return self.refuse("token", _tg(401, "Unauthorized"))
            if request.content_type != "application/json":
                return self.refuse("type", _tg(400, "Bad Request: message text is empty"))
            try:
                data = json.loads(body)
            except ValueError:
                return self.refuse("json", _tg(400, "Bad Request: can't parse JSON"))
            if str(data.get("chat_id")) != self.chat_id:
                return self.refuse("chat", _tg(400, "Bad Request: chat not found"))
            if data.get("parse_mode") != "HTML":
                return self.refuse("parse_mode", _tg(400, "Bad Request: parse_mode"))
            try:
                text = parse_markup(data.get("text") or "", TELEGRAM_TAGS, TELEGRAM_ENTITIES)
            except MarkupError as exc:
                why = f"Bad Request: can't parse entities: {exc}"
                return self.refuse("markup", _tg(400, why))
            if not text.strip() or len(text.encode("utf-16-le")) // 2 > 4096:
                return self.refuse("length", _tg(400, "Bad Request: message is too long"))
            answer = self.next_answer()
            if answer == 429:
                return _tg(
                    429,
                    f"Too Many Requests: retry after {self.retry_after}",
                    {"retry_after": self.retry_after},
                )
            if isinstance(answer, int):
                why = "Bad Request: not enough rights" if answer < 500 else "Oops"
                return _tg(answer, f"{why} (POST {request.path})" if self.echo else why)
            self.messages.append({**data, "shown": text})
            result = {"message_id": len(self.messages), "date": int(time.time()), "text": text}
            return web.json_response({"ok": True, "result": result})

        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", send)
        return app


def _tg(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


@dataclass
class Ntfy(Platform):
    """An ntfy server's JSON publishing (https://docs.ntfy.sh/publish/#publish-as-json)."""

    topic: str = "osint-alerts"
    token: str | None = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"  # noqa: S105 - a fake server's

    def app(self) -> web.Application:
        async def publish(request: web.Request) -> web.Response:
            body = await self.record(request)
            if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
                return self.refuse("auth", _ntfy(401, 40101, "unauthorized"))
            try:
                data = json.loads(body)
            except ValueError:
                return self.refuse("json", _ntfy(400, 40024, "invalid request: JSON"))
            problem = _ntfy_problem(data, self.topic)
            if problem:
                return self.refuse(problem, _ntfy(400, 40000, f"invalid request: {problem}"))
            answer = self.next_answer()
            if answer == 429:
                return _ntfy(429, 42901, "limit reached: too many requests")
            if isinstance(answer, int):
                return _ntfy(answer, answer * 100 + 1, "error")
            self.messages.append(data)
            return web.json_response(
                {"id": f"m{len(self.messages)}", "event": "message", **data, "time": 1}
            )

        app = web.Application()
        app.router.add_post("/", publish)
        return app


def _ntfy_problem(data: Any, topic: str) -> str:
    if not isinstance(data, dict) or data.get("topic") != topic:
        return "topic"
    for key in ("title", "message", "click"):
        if key in data and not isinstance(data[key], str):
            return key
    if len(data.get("message", "").encode()) > 4096:
        return "message over 4096 bytes"
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and "," not in t for t in tags):
        return "tags"
    if data.get("priority", 3) not in (1, 2, 3, 4, 5):
        return "priority"
    if "click" in data and not data["click"].startswith(("http://", "https://")):
        return "click"
    return ""


def _ntfy(status: int, code: int, error: str) -> web.Response:
    return web.json_response({"code": code, "http": status, "error": error}, status=status)


@dataclass
class Matrix(Platform):
    """A homeserver's PUT /rooms/{roomId}/send/{eventType}/{txnId}, idempotent per (token, txn)
    as the client-server API requires."""

    room_id: str = "!QtykxKocfZaZOUrTwp:example.org"
    access_token: str = "syt_bW9uaXRvcg_ZTUhmZWVkcw_2ecUaV"  # noqa: S105 - a fake server's
    retry_after_ms: int = 1500
    events: dict[str, str] = field(default_factory=dict)  # txn id -> event id

    def app(self) -> web.Application:
        async def send(request: web.Request) -> web.Response:
            body = await self.record(request)
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                return self.refuse("token", _mx(401, "M_MISSING_TOKEN", "Missing access token"))
            if auth != f"Bearer {self.access_token}":
                return self.refuse("token", _mx(401, "M_UNKNOWN_TOKEN", "Unknown access token"))
            if unquote(request.match_info["room"]) != self.room_id:
                return self.refuse("room", _mx(403, "M_FORBIDDEN", "not in room"))
            txn = request.match_info["txn"]
            if txn in self.events:  # a retry of a request taken already
                return web.json_response({"event_id": self.events[txn]})
            try:
                content = json.loads(body)
                text = _matrix_content(content)
            except (ValueError, MarkupError) as exc:
                return self.refuse(str(exc), _mx(400, "M_BAD_JSON", str(exc)))
            answer = self.next_answer()
            if answer == 429:
                return web.json_response(
                    {
                        "errcode": "M_LIMIT_EXCEEDED",
                        "error": "Too many requests",
                        "retry_after_ms": self.retry_after_ms,
                    },
                    status=429,
                )
            if isinstance(answer, int):
                return _mx(answer, "M_UNKNOWN" if answer >= 500 else "M_FORBIDDEN", "no")
            self.events[txn] = f"$event{len(self.events)}"
            self.messages.append({**content, "shown": text, "txn": txn})
            if answer == "lost":
                return _mx(500, "M_UNKNOWN", "answer lost")
            return web.json_response({"event_id": self.events[txn]})

        app = web.Application()
        app.router.add_put("/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}", send)
        return app


def _matrix_content(content: Any) -> str:
    if not isinstance(content, dict) or content.get("msgtype") not in ("m.text", "m.notice"):
        raise ValueError("msgtype")
    if not isinstance(content.get("body"), str) or not content["body"]:
        raise ValueError("body")
    if "format" not in content:
        return str(content["body"])
    if content["format"] != "org.matrix.custom.html":
        raise ValueError("format")
    return parse_markup(str(content.get("formatted_body")), MATRIX_TAGS)


def _mx(status: int, errcode: str, error: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": error}, status=status)


@dataclass
class AppriseJson(Platform):
    """What Apprise's `json://` notifier POSTs (https://github.com/caronc/apprise/wiki/Notify_Custom_JSON)."""

    def app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            body = await self.record(request)
            data = json.loads(body)
            if not {"title", "message", "type"} <= set(data):
                return self.refuse("shape", web.Response(status=400))
            answer = self.next_answer()
            if isinstance(answer, int):
                return web.Response(status=answer)
            self.messages.append(data)
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/notify", hook)
        return app
