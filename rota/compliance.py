"""Working-time compliance service (the compliance issue implements it; this is the agreed interface).

Other modules call :func:`verdicts_for_change` for what-if checks (swaps, claims, eligibility) and rely on the
engine being registered in ``rota.assignment.CHANGE_CHECKS`` so every assignment is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    rule_id: str  # e.g. "WTR-rest11", "TCS-72in168"
    severity: str  # "block" | "warn"
    observed: str  # human-readable observed value, e.g. "9 h 30 min"
    limit: str  # e.g. "11 h"
    message: str  # plain English with local times, for a nurse
    shift_ids: tuple = field(default_factory=tuple)  # shifts involved (ids; 0 for hypothetical shifts)

    @property
    def blocking(self) -> bool:
        return self.severity == "block"


def verdicts_for_change(user, *, add=(), remove=(), rule_sets=None) -> list[Verdict]:
    """Verdicts for ``user``'s rota if ``add`` (Shift objects or shift-like objects with starts_at/ends_at/team/
    shift_type) were added and ``remove`` (Shift objects) taken away. Changes nothing. Only verdicts that involve an
    added shift are returned (pre-existing problems are not blamed on the change)."""
    return []


def register(app, api) -> None:
    pass
