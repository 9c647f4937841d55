"""Adding feeds to feeds.yaml as a person would: at the end of its `feeds:` list, in the list's
own indentation, every other line (comments, order, blank lines) left as it was.

Pure: the file's text in, the new text out; values are written by PyYAML's emitter. The caller
validates the result as `monitor check` does before writing it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml

_TOP_FEEDS = re.compile(r"^feeds[ \t]*:[ \t]*(?P<rest>[^#\r\n]*?)[ \t]*(?P<comment>#.*)?$")
_ITEM = re.compile(r"^(?P<indent>[ ]*)-[ \t]")


class FeedsFileError(ValueError):
    """feeds.yaml is written in a way this cannot add to (say, a flow-style list)."""


@dataclass(frozen=True, slots=True)
class NewFeed:
    """A feed to add: written as `- id: ..., url: ..., title: ..., site: ..., tags: [...]`."""

    id: str
    url: str
    tags: tuple[str, ...] = ()
    title: str = ""
    interval: str = ""  # as written in feeds.yaml (5m, 1h); "" leaves the default
    site: str = ""  # the site's home page, written as `site:` when known (the OPML `htmlUrl`)
    public_only: bool = False  # written as `public_only: true`: a URL from a web client


def same_url(url: str) -> str:
    """A URL as compared for repeats: scheme and host in lower case, no trailing slash."""
    parts = urlsplit(url.strip())
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}{query}"


def new_id(title: str, url: str, taken: Collection[str]) -> str:
    """A feed id from its title, else its host (without `www.`), made unique with -2, -3, ..."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    base = "-".join(words)[:40].strip("-")
    if not base:
        host = (urlsplit(url).hostname or "feed").removeprefix("www.")
        base = "-".join(re.findall(r"[a-z0-9]+", host.lower()))[:40].strip("-") or "feed"
    found, n = base, 1
    while found in taken:
        n += 1
        found = f"{base}-{n}"
    return found


def flow(values: Sequence[str]) -> str:
    """Strings as a YAML flow list, each quoted where YAML would read it otherwise (PyYAML's
    emitter: `yes`, `2024-01-01`, `0x1f`, `a: b`, control characters)."""
    text: str = yaml.safe_dump(
        list(values), default_flow_style=True, allow_unicode=True, width=1 << 30
    )
    return text.strip()


def scalar(value: str) -> str:
    """A string as a YAML block-context scalar, quoted where needed (see `flow`)."""
    text: str = yaml.safe_dump(value, allow_unicode=True, width=1 << 30)
    return text.removesuffix("\n...\n").removesuffix("\n")


def _comment(text: str) -> str:
    """Text (a feed's title, from the feed) fit for one comment line: printable, one line."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def entry(feed: NewFeed, indent: str, newline: str) -> str:
    """One feed as block-style YAML lines at `indent`."""
    title = _comment(feed.title)
    lines = [f"{indent}- id: {scalar(feed.id)}", f"{indent}  url: {scalar(feed.url)}"]
    if title:  # the feed's own title and home page, for the status page and the OPML export
        lines.append(f"{indent}  title: {scalar(title)}")
    if feed.site:
        lines.append(f"{indent}  site: {scalar(feed.site)}")
    if feed.interval:
        lines.append(f"{indent}  interval: {scalar(feed.interval)}")
    if feed.public_only:
        lines.append(f"{indent}  public_only: true")
    tags = [t.strip() for t in feed.tags if t.strip()]  # as the loader reads them
    if tags:
        lines.append(f"{indent}  tags: {flow(tags)}")
    return "".join(line + newline for line in lines)


def append_feeds(text: str, feeds: Sequence[NewFeed]) -> str:
    """`text` (a feeds.yaml) with `feeds` added at the end of its `feeds:` list."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    tops = ((i, _TOP_FEEDS.match(line.rstrip("\r\n"))) for i, line in enumerate(lines))
    top, found = next(((i, m) for i, m in tops if m is not None), (-1, None))
    if found is None:
        head = "".join(lines)
        gap = newline if any(_content(line) for line in lines) else ""
        return head + gap + "feeds:" + newline + "".join(entry(f, "  ", newline) for f in feeds)
    rest = found["rest"]
    if rest not in ("", "[]"):
        raise FeedsFileError(
            f"line {top + 1}: `feeds:` is written in flow style ({rest[:40]}); "
            "write the list one feed per line (`- id: ...`) to add feeds to it"
        )
    if rest == "[]":
        comment = f" {found['comment']}" if found["comment"] else ""
        lines[top] = "feeds:" + comment + newline
    end = top + 1  # one past the list's last line
    indent = None
    last = top
    while end < len(lines):
        line = lines[end]
        if _content(line) and not line[0].isspace() and not line.startswith("-"):
            break  # the next top-level key
        item = _ITEM.match(line)
        if item and indent is None:
            indent = item["indent"]
        if _content(line):
            last = end
        end += 1
    block = "".join(entry(f, "  " if indent is None else indent, newline) for f in feeds)
    return "".join(lines[: last + 1]) + block + "".join(lines[last + 1 :])


def _content(line: str) -> bool:
    """Whether a line holds YAML (not blank, not only a comment)."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")
