"""Where the service's feedback links come from: the key they are signed with and the address
they start with (issue 35; the links themselves are `monitor.alerts.feedback`).

The key is `http.feedback_key` when monitor.yaml gives one, else 32 random bytes kept in
`<state_dir>/feedback.key` (made once, mode 0600, never overwritten), so links sent before a
restart still read back after it. The address is `http.public_url`, else the listener's own.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Final

import structlog

from monitor.alerts.verdicts import FeedbackSigner
from monitor.service.config import Config
from monitor.status.web import status_page_line

log = structlog.get_logger("monitor.feedback")

KEY_FILE: Final = "feedback.key"
KEY_BYTES: Final = 32


def make_feedback(config: Config) -> tuple[FeedbackSigner, str] | None:
    """The signer and the base URL of the links every alert carries; None when the key file
    can be neither read nor made (logged: the alerts then go out without links)."""
    base = (
        config.public_url
        or status_page_line(config.listen_host, config.listen_port, config.http_token)["url"]
    )
    if config.feedback_key:
        # Any length of text, as a fixed-size key: the signer wants bytes, at least 16.
        return FeedbackSigner(hashlib.sha256(config.feedback_key.encode()).digest()), base
    try:
        key = state_key(config.state_dir / KEY_FILE)
    except OSError as exc:
        log.error(  # noqa: TRY400 - the reason is the news, not its traceback
            "feedback key unusable: alerts go out without feedback links",
            path=str(config.state_dir / KEY_FILE),
            error=str(exc),
        )
        return None
    return FeedbackSigner(key), base


def state_key(path: Path) -> bytes:
    """The key in `path`, made (32 random bytes, mode 0600, O_EXCL: never two) if missing."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < 16:
            raise OSError(f"{path} holds {len(key)} bytes, not a key") from None
        return key
    key = secrets.token_bytes(KEY_BYTES)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key
