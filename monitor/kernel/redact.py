"""The configured secrets kept out of every text monitor shows. Pure.

Log lines, dead letters' reasons, `monitor dlq` output, the status page and `DeliveryError`
texts all pass through `redact`. A secret can come back in a text monitor did not write: a
proxy or a self-hosted server that answers `404 /bot123:ABC/sendMessage` echoes the Telegram
token of the URL path into the reason of a dead letter. So each secret is also looked for in
the forms a server echoes it in: percent-encoded, and for a secret URL (a chat webhook), its
path and query and each long query value.

The secrets are those of the config the process read (`Config.secrets()`), set once by
`configure_logging` with `use`, and the feeds' credentials, added with `remember` when a feed's
request is first made; before that nothing is redacted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, quote, urlsplit

REDACTED: Final = "[redacted]"
SHORTEST: Final = 4  # characters: a shorter value would redact common words
SHORTEST_PATH: Final = 8  # of a secret URL's path: `/hook` is no secret, `/services/T0/B0/x` is


def forms(secret: str) -> set[str]:
    """The texts that reveal `secret`: itself, percent-encoded, and the parts of a URL."""
    found = {secret, quote(secret, safe=""), quote(secret, safe="/")}
    if secret.startswith(("http://", "https://")):
        url = urlsplit(secret)
        if len(url.path) >= SHORTEST_PATH:
            found.add(url.path)
        if url.query:
            found.add(f"{url.path}?{url.query}")
            found.update(value for _, value in parse_qsl(url.query))
        if url.password:
            found.add(url.password)
    return {f for f in found if len(f) >= SHORTEST}


class Redactor:
    """Replaces every form of the secrets it was given by REDACTED."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.values: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Hide `secrets` too (in every form), from now on."""
        every = {form for secret in secrets if secret for form in forms(secret)}
        if every - set(self.values):
            # the URL before its path
            self.values = sorted(every.union(self.values), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """`text` with the secrets replaced."""
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


_active = Redactor()


def use(secrets: Iterable[str]) -> Redactor:
    """Make `secrets` those `redact` hides in this process (the config's, at start)."""
    global _active  # one process, one config's secrets: set once at start
    _active = Redactor(secrets)
    return _active


def remember(secrets: Iterable[str]) -> None:
    """Hide `secrets` too, in this process's logs and texts (a feed's credentials, read from the
    environment when it is first fetched, after a reload perhaps)."""
    _active.add(secrets)


def redact(text: str) -> str:
    """`text` with this process's secrets replaced (see `use`)."""
    return _active(text)
