"""A careless operator mutes a watch by a misspelt id: refused (404), not a silence that
silences nothing while saying it did; a silence of a watch since deleted can still be ended."""

from __future__ import annotations

import pytest

from monitor.kernel.console import ActionRefused, Silence, Who
from monitor.service.console import KnownSilences

WHO = Who("127.0.0.1", "loopback", "test")


class Kept:
    """Silences in a list (the stores are tested in tests/alerts/test_history_mutes.py)."""

    def __init__(self) -> None:
        self.kept: dict[str, Silence] = {}

    async def mute(self, rule_id: str, until_ms: int, reason: str, who: Who) -> Silence:
        self.kept[rule_id] = Silence(rule_id, until_ms, reason, 0, who.to_dict())
        return self.kept[rule_id]

    async def unmute(self, rule_id: str, who: Who) -> Silence | None:
        return self.kept.pop(rule_id, None)

    async def active(self) -> list[Silence]:
        return list(self.kept.values())


async def test_a_misspelt_watch_is_not_muted() -> None:
    """Muting `cis-defence` when the watch is `cis-defense` answers 404 and stores nothing."""
    kept = Kept()
    silences = KnownSilences(kept, lambda rule_id: rule_id == "cis-defense")
    with pytest.raises(ActionRefused) as refused:
        await silences.mute("cis-defence", 10**13, "tonight", WHO)
    assert refused.value.status == 404
    assert "cis-defence" in refused.value.message
    assert await silences.active() == []
    await silences.mute("cis-defense", 10**13, "tonight", WHO)
    assert [s.rule_id for s in await silences.active()] == ["cis-defense"]


async def test_a_deleted_watchs_silence_can_be_ended() -> None:
    """The watch left the rules while muted: its silence still ends on request."""
    kept = Kept()
    await kept.mute("gone", 10**13, "old", WHO)
    silences = KnownSilences(kept, lambda _: False)
    ended = await silences.unmute("gone", WHO)
    assert ended is not None
    assert ended.rule_id == "gone"
    assert await silences.active() == []
