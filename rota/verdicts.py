"""A finding about a rota change: ``Verdict`` and its severities, the interface the working-time rules engine
(``rota.compliance.rules``) and the staffing-requirement check (``rota.cover``) both answer in. Pure: the standard
library only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

BLOCK = "block"
WARN = "warn"
SEVERITIES = (BLOCK, WARN)


@dataclass(frozen=True)
class Verdict:
    """One finding. The first six fields are the agreed interface (``rota.compliance.Verdict``)."""

    rule_id: str  # e.g. "WTR-rest11", "TCS-72in168"
    severity: str  # "block" | "warn"
    observed: str  # human-readable observed value, e.g. "9 h 30 min"
    limit: str  # e.g. "11 h"
    message: str  # plain English with local times, for a nurse
    shift_ids: tuple = field(default_factory=tuple)  # shifts involved (ids; 0 for hypothetical shifts)
    rule_set: str = ""  # "WTR", "TCS2016", "TCS2016v1", "LOCAL"
    source: str = ""
    kind: str = "maximum"  # "maximum" (too much work) or "minimum" (too little rest)
    observed_value: float | None = None  # numbers behind observed/limit (hours, or counts)
    limit_value: float | None = None
    unit: str = "hours"  # "hours" | "count" | "ratio"
    starts_at: datetime | None = None  # start of the first shift involved (UTC)
    shift_keys: tuple = field(default_factory=tuple, compare=False, repr=False)  # identities incl. hypothetical

    @property
    def blocking(self) -> bool:
        return self.severity == BLOCK

    def as_dict(self) -> dict:
        return {"rule_id": self.rule_id, "rule_set": self.rule_set, "severity": self.severity,
                "observed": self.observed, "limit": self.limit, "message": self.message,
                "shift_ids": [i for i in self.shift_ids if i], "kind": self.kind, "source": self.source,
                "observed_value": self.observed_value, "limit_value": self.limit_value, "unit": self.unit,
                "starts_at": self.starts_at}
