"""The one line the page shows after an action, in words: "feed world polled: 3 new (ok), next
poll at 18:42 UTC", "watch x muted until 21:00 UTC: noisy tonight". Pure: an action's answer
(the shapes of `monitor.status.actions`) in, a sentence out. The JSON API answers unchanged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from monitor.kernel.text import plural, span_words

NEAR_MS = 20 * 3600 * 1000  # within this of now, a time is said by its clock alone


def when(ms: Any, now_ms: int) -> str:
    """A time as the page says it: "18:42 UTC" near now, "2026-12-08 21:00 UTC" further."""
    if not isinstance(ms, int | float) or isinstance(ms, bool):
        return "an unknown time"
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    if abs(ms - now_ms) <= NEAR_MS:
        return f"{moment:%H:%M} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _where(answer: Mapping[str, Any]) -> str:
    file, line = answer.get("file") or "its file", answer.get("line")
    return f"{file}:{line}" if line else str(file)


def _poll(target: str, a: Mapping[str, Any], now_ms: int) -> tuple[bool, str]:
    error = a.get("error")
    said = f"feed {a.get('feed') or target} polled: {a.get('new') or 0} new ({a.get('result')})"
    if error:
        said += f": {error}"
    if a.get("too_old"):  # a first read: the newcomer must not guess why nothing came
        age = span_words(float(a.get("max_age_s") or 0))
        said += (
            f"; {plural(int(a['too_old']), 'item')} older than max_age ({age}) kept back on this "
            "first read (poller.max_age, or the feed's max_age:)"
        )
    if a.get("next_poll_ms"):
        said += f", next poll at {when(a['next_poll_ms'], now_ms)}"
    return not error, said


def _enabled(target: str, a: Mapping[str, Any], _: int) -> tuple[bool, str]:
    state = "resumed" if a.get("enabled") else "paused"
    flag = "true" if a.get("enabled") else "false"
    return True, f"feed {a.get('feed') or target} {state}: enabled: {flag} in {_where(a)}"


def _add(_: str, a: Mapping[str, Any], __: int) -> tuple[bool, str]:
    added = a.get("added")
    if isinstance(added, Mapping):
        return True, f"feed {added.get('id')} added to {_where(added)}: {added.get('url')}"
    found = len(a.get("candidates") or ())
    if not found:
        return False, "no feed found at that address: give a feed's URL or a page linking one"
    return False, f"{plural(found, 'feed')} found there: pick one to add"


def _mute(target: str, a: Mapping[str, Any], now_ms: int) -> tuple[bool, str]:
    if "unmuted" in a:  # the page's Unmute: a form's _method=DELETE on the same path
        return _unmute(target, a, now_ms)
    said = f"watch {a.get('watch') or target} muted until {when(a.get('until_ms'), now_ms)}"
    return True, said + (f": {a['reason']}" if a.get("reason") else "")


def _unmute(target: str, a: Mapping[str, Any], now_ms: int) -> tuple[bool, str]:
    ended = a.get("unmuted")
    if not isinstance(ended, Mapping):
        return True, f"watch {target} was not muted"
    until = when(ended.get("until_ms"), now_ms)
    return True, f"watch {target} unmuted (its silence was to end at {until})"


def _mode(target: str, a: Mapping[str, Any], _: int) -> tuple[bool, str]:
    return True, f"watch {a.get('id') or target} is now {a.get('mode')} ({_where(a)})"


def _channel(target: str, a: Mapping[str, Any], _: int) -> tuple[bool, str]:
    name, status = a.get("channel") or target, a.get("status")
    answer = " ".join(str(a.get("answer") or "").split())[:200]
    how = f"HTTP {status} {answer}".strip() if status else answer or "no answer"
    if a.get("ok"):
        return True, f"test message sent through {name}: {how}"
    error = str(a.get("error") or "")
    told = f"{error}: {answer}" if error and answer and answer not in error else error or how
    return False, f"test message through {name} failed: {told}"


def _retry(_: str, a: Mapping[str, Any], __: int) -> tuple[bool, str]:
    results = a.get("results") or {}
    sent = [i for i, r in results.items() if r == "sent"]
    had = [i for i, r in results.items() if r == "already delivered"]
    failed = [(i, str(r)) for i, r in results.items() if i not in sent and i not in had]
    parts = [f"{plural(len(sent), 'dead letter')} sent"]
    if had:
        parts.append(f"{len(had)} already delivered")
    if failed:
        why = "; ".join(f"{i}: {r.removeprefix('failed again: ')}" for i, r in failed[:5])
        parts.append(f"{len(failed)} failed again: {why}")
    return not failed, ", ".join(parts)


def _drop(_: str, a: Mapping[str, Any], __: int) -> tuple[bool, str]:
    return True, f"{plural(len(a.get('dropped') or ()), 'dead letter')} dropped"


def _save(target: str, a: Mapping[str, Any], _: int) -> tuple[bool, str]:
    committed = " (committed)" if a.get("committed") else ""
    return True, f"watch {a.get('id') or target} saved to {_where(a)}{committed}"


SAID: dict[str, Callable[[str, Mapping[str, Any], int], tuple[bool, str]]] = {
    "feed_poll": _poll,
    "feed_pause": _enabled,
    "feed_resume": _enabled,
    "feed_add": _add,
    "watch_mute": _mute,
    "watch_unmute": _unmute,
    "watch_mode": _mode,
    "channel_test": _channel,
    "dlq_retry": _retry,
    "dlq_drop": _drop,
    "watch_save": _save,
}


def said(action: str, target: str, answer: Mapping[str, Any], now_ms: int) -> tuple[bool, str]:
    """Whether the action went well, and the sentence saying what it did."""
    words = SAID.get(action)
    if words is None:
        return True, f"{action.replace('_', ' ')}: done"
    ok, sentence = words(target, answer, now_ms)
    return ok, sentence[:500]
