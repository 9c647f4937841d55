"""Signed feedback links (issue 35): every alert carries two, "relevant" and "not relevant".

A link's token names the alert's rule, its story (the verdict is for the pair: every copy of a
story is one verdict) and the verdict, and carries an HMAC-SHA256 over them with the feedback key
(kept in the state directory, or `http.feedback_key`): a token cannot be forged, nor changed
into the other verdict or another story, and needs no sign-in. Reading a token is pure; the
confirm page and the store are elsewhere (a GET only shows a confirm button, so a chat client's
link preview casts no verdict).

A token is `v1.<rule>.<story>.<verdict>.<mac>`, each part url-safe base64 without padding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

RELEVANT: Final = "relevant"
NOT_RELEVANT: Final = "not_relevant"
VERDICTS: Final = (RELEVANT, NOT_RELEVANT)
VERSION: Final = "v1"
MAX_TOKEN_CHARS: Final = 2000  # a rule id and a story id are short; anything longer is not ours
MAC_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a valid token says: the analyst's verdict on (rule, story)."""

    rule_id: str
    story_id: str
    verdict: str  # RELEVANT or NOT_RELEVANT


class FeedbackSigner:
    """Makes and reads feedback tokens with one key (see the module docstring)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the feedback key must be at least 16 bytes")
        self._key = key

    def token(self, rule_id: str, story_id: str, verdict: str) -> str:
        """The token for `verdict` on (rule, story)."""
        if verdict not in VERDICTS:
            raise ValueError(f"a verdict is one of {', '.join(VERDICTS)}, not {verdict!r}")
        parts = [_b64(rule_id.encode()), _b64(story_id.encode()), verdict]
        mac = self._mac(parts)
        return ".".join([VERSION, *parts, _b64(mac)])

    def read(self, token: str) -> Verdict | None:
        """The verdict a token says, or None when it is not one this key signed (altered,
        forged, another key's, garbage)."""
        if len(token) > MAX_TOKEN_CHARS:
            return None
        pieces = token.split(".")
        if len(pieces) != 5 or pieces[0] != VERSION or pieces[3] not in VERDICTS:
            return None
        parts = pieces[1:4]
        try:
            given = _unb64(pieces[4])
            rule_id = _unb64(parts[0]).decode("utf-8")
            story_id = _unb64(parts[1]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        if len(given) != MAC_BYTES or not hmac.compare_digest(given, self._mac(parts)):
            return None
        if not rule_id or not story_id:
            return None
        return Verdict(rule_id, story_id, parts[2])

    def _mac(self, parts: list[str]) -> bytes:
        message = ".".join([VERSION, *parts]).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()


def feedback_links(
    base_url: str, signer: FeedbackSigner, rule_id: str, story_id: str
) -> dict[str, str]:
    """`{"relevant": URL, "not_relevant": URL}`: the two links an alert carries, under
    `base_url` (the listener's public address, e.g. `https://monitor.example.org/`)."""
    base = base_url.rstrip("/")
    return {v: f"{base}/feedback/{signer.token(rule_id, story_id, v)}" for v in VERDICTS}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    if not text or any(c not in _ALPHABET for c in text):
        raise ValueError("not url-safe base64")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc


_ALPHABET: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
