"""Dead letters sent again by themselves once their channel is back (`delivery.redeliver`).

A dead letter is redelivered when its channel has delivered something since it failed (this
process's breaker saw a success after the letter's `failed_at`) and is not down now, when
sending again could work (its failure was retriable: a timeout, a 5xx, 408 or 429, or waiting
past `give_up_after`), and when it was not redelivered before. Each goes through the same path
as `monitor dlq retry` (`monitor.alerts.deadletters.Retrier`): claimed, sent only if not yet
delivered, settled, closed; so it goes out once, whichever processes try it. One that fails
again is dead-lettered again, marked `redelivered`, and left to a person; its channel's other
letters wait for the next sign of it being back (the failure counts on the channel's breaker).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

import structlog

from monitor.alerts.breaker import Breakers
from monitor.alerts.deadletters import DeadLetter, Retrier, SentAgainFailed
from monitor.kernel.errors import DeliveryError

log = structlog.get_logger("monitor.redeliver")


class Redeliverer:
    """Redelivers the open dead letters whose channel is back (see the module docstring)."""

    def __init__(self, retrier: Retrier, breakers: Breakers) -> None:
        self.retrier = retrier
        self.breakers = breakers

    def eligible(self, letter: DeadLetter) -> bool:
        """Whether the letter is to be sent again now."""
        if letter.kind not in ("alert", "digest") or letter.body.get("redelivered"):
            return False
        if letter.body.get("retriable") is False:
            return False
        breaker = self.breakers.get(letter.channel)
        if breaker is None or breaker.down or breaker.last_success is None:
            return False
        try:
            failed = datetime.fromisoformat(letter.failed_at).timestamp()
        except ValueError:
            return False
        return breaker.last_success > failed

    async def redeliver(self, letters: Sequence[DeadLetter]) -> int:
        """Send the eligible letters again, oldest first; how many went out."""
        sent = 0
        failing: set[str] = set()
        for letter in letters:
            if letter.channel in failing or not self.eligible(letter):
                continue
            try:
                outcome = await self.retrier.retry(letter, automatic=True)
            except DeliveryError as exc:
                log.warning(
                    "dead_letter_redelivery_failed",
                    id=letter.id,
                    channel=letter.channel,
                    reason=str(exc),
                )
                if isinstance(exc, SentAgainFailed) and exc.retriable:
                    failing.add(letter.channel)  # down again: the rest wait
                    self.breakers[letter.channel].failed(str(exc), time.time())
                continue
            log.info(
                "dead_letter_redelivered", id=letter.id, channel=letter.channel, outcome=outcome
            )
            sent += outcome == "sent"
        return sent
