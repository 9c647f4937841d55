"""URLs as keys: one article's link, however a feed wrote it, gives one key.

Pure: `canonical_url` lowercases scheme and host and drops the fragment, default ports and
tracking parameters; `url_key` gives the same answer without parsing a plain URL.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "_ga", "ocid"}
)


def canonical_url(url: str) -> str:
    """Return a URL as an id: scheme and host lowercased, fragment and tracking parameters gone."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    ]
    netloc = parts.netloc.lower()
    for scheme, port in (("http", ":80"), ("https", ":443")):
        if parts.scheme.lower() == scheme and netloc.endswith(port):
            netloc = netloc[: -len(port)]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", urlencode(query), ""))


def url_key(url: str) -> str:
    """The URL as `canonical_url` gives it ("" for none), without parsing it when it is plain."""
    url = url.strip()
    if not url:
        return ""
    scheme, sep, rest = url.partition("://")
    host, _, path = rest.partition("/")
    if not sep or "?" in url or "#" in url or ":" in host or "@" in host:
        return canonical_url(url)
    return f"{scheme.lower()}://{host.lower()}/{path}"
