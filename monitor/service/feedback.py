"""The feedback key and signer of a process (issue 35): `http.feedback_key` when set, else a
random 32-byte key made once in `<state_dir>/feedback.key` (mode 0600) and read from then on.

The key file is refused when group or others may read or change it, as secrets.env is: anyone
who reads the key can forge verdicts. On Kafka each host has its own state directory, so links
made by one process would not be read by another: `monitor check` warns unless
`http.feedback_key` is set.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from monitor.alerts.feedback import Feedback, find_article
from monitor.alerts.history import AlertHistory
from monitor.alerts.verdicts import FeedbackSigner
from monitor.kernel.errors import ConfigError
from monitor.service.config import Config
from monitor.service.wiring import KafkaWiring, LocalWiring
from monitor.status.feedbackpage import add_feedback_routes
from monitor.store.state import StateStore

KEY_FILE: Final = "feedback.key"
KEY_BYTES: Final = 32


def feedback_signer(config: Config) -> FeedbackSigner:
    """The signer of the service's feedback links (and the reader of their tokens)."""
    if config.feedback_key:
        return FeedbackSigner(config.feedback_key.encode("utf-8"))
    return FeedbackSigner(state_key(config.state_dir))


def check_feedback_key(config: Config) -> None:
    """Refuse, before the start, a key file that is there but others may read or is not a key
    (ConfigError); a missing one is made later, once the state directory is known usable."""
    path = config.state_dir / KEY_FILE
    if not config.feedback_key and path.exists():
        _read(path)


def state_key(state_dir: Path) -> bytes:
    """The key kept in `state_dir/feedback.key`, made (0600, exclusively) when there is none.
    ConfigError when group or others may read or change it, or it is not a key."""
    path = state_dir / KEY_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read(path)
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    return _read(path)


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & 0o077:
        raise ConfigError(
            f"{path}: group or others may read or change it (mode {mode & 0o777:04o}): run "
            f"chmod 600 {path}"
        )
    key = path.read_bytes()
    if len(key) < 16:
        raise ConfigError(f"{path}: not a feedback key (under 16 bytes): remove it to make one")
    return key


class FeedbackDesk:
    """What the feedback pages use in a running service: the signer, and the verdict store
    opened on first use (once the service's state is open; closed with the app)."""

    def __init__(
        self,
        config: Config,
        wiring: LocalWiring | KafkaWiring,
        state: StateStore,
        opened: Callable[[], bool],
    ) -> None:
        self.config = config
        self._signer: FeedbackSigner | None = None  # made on first use: the state dir is ready
        self.wiring = wiring
        self.state = state
        self.opened = opened
        self._history: AlertHistory | None = None
        self._stack = AsyncExitStack()
        self._feedback: Feedback | None = None
        self._opening = asyncio.Lock()

    async def feedback(self) -> Feedback | None:
        """The verdict store; None while the service's state is not open yet."""
        if self._feedback is None and self.opened():
            async with self._opening:
                if self._feedback is None:
                    # the history open_console opened (the wiring keeps one a process)
                    self._history = await self.wiring.history(self._stack, self.state)
                    self._feedback = await self.wiring.feedback(self._stack, self.state)
        return self._feedback

    async def article(self, rule_id: str, story_id: str, whole: bool) -> dict[str, Any]:
        """The alert's article: with `whole`, completed from the bus's stored articles."""
        return await find_article(self._history, self.config if whole else None, rule_id, story_id)

    def signer(self) -> FeedbackSigner:
        """The signer, made on first use (ConfigError or OSError when the key is unusable)."""
        if self._signer is None:
            self._signer = feedback_signer(self.config)
        return self._signer

    def routes(self, app: web.Application) -> None:
        """Serve the feedback pages on `app`; the store closes with it."""
        add_feedback_routes(app, self.signer, self.feedback, self.article)

        async def close(_: web.Application) -> None:
            await self._stack.aclose()

        app.on_cleanup.append(close)
