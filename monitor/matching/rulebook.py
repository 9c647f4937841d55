"""The rule set in force in a process, swapped whole at a reload."""

from __future__ import annotations

from monitor.matching.compiler import CompiledRules
from monitor.matching.spec import Throttle


class RuleBook:
    """The compiled rule set in force; `swap` replaces it atomically.

    It also remembers rules this process saw retired (deleted or disabled by a reload), so their
    matches still waiting on the bus are not alerted. A rule it never knew is not retired: a
    dispatcher that has not reloaded yet must not drop a new rule's alerts.
    """

    def __init__(self, compiled: CompiledRules) -> None:
        self._compiled = compiled
        self._throttles = _throttles(compiled)
        self._alone = _alone(compiled)
        self._ids = frozenset(r.spec.id for r in compiled.rules)
        self._retired: set[str] = set()

    @property
    def compiled(self) -> CompiledRules:
        """The rule set in force now."""
        return self._compiled

    def swap(self, compiled: CompiledRules) -> None:
        """Put a new rule set in force."""
        before = {r.spec.id for r in self._compiled.rules}
        after = {r.spec.id for r in compiled.rules}
        self._retired = (self._retired | before) - after
        self._compiled, self._throttles = compiled, _throttles(compiled)
        self._alone = _alone(compiled)
        self._ids = frozenset(after)

    def knows(self, rule_id: str) -> bool:
        """Whether the rule is in force now."""
        return rule_id in self._ids

    def is_retired(self, rule_id: str) -> bool:
        """Whether a reload in this process deleted or disabled the rule."""
        return rule_id in self._retired

    def folds(self, rule_id: str) -> bool:
        """Whether a rule's matches fold into stories (False: it says `stories: off`)."""
        return rule_id not in self._alone

    def throttle_of(self, rule_id: str) -> Throttle | None:
        """A rule's throttle, if it has one."""
        return self._throttles.get(rule_id)


def _throttles(compiled: CompiledRules) -> dict[str, Throttle]:
    return {r.spec.id: r.spec.throttle for r in compiled.rules if r.spec.throttle is not None}


def _alone(compiled: CompiledRules) -> frozenset[str]:
    return frozenset(r.spec.id for r in compiled.rules if not r.spec.stories)
