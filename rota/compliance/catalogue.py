"""What a team or a person may set about the working-time rules: the rule sets, the parameters a local rule takes
and their bounds, the field names of team and person settings. Plain data; ``rota.compliance.settings`` reads and
changes the settings, ``rota.compliance.validation`` checks a change against this catalogue."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from core import limits
from rota.compliance import rules
from rota.compliance.profiles import trust_overrides

RULE_SET_NAMES = tuple(rules.RULE_SETS)
OFF = "off"
SEVERITY_CHOICES = (rules.BLOCK, rules.WARN, OFF)
LOCAL_ID = re.compile(r"^LOCAL-[A-Za-z0-9_-]{1,30}$")
MAX_LOCAL_RULES = 10
NOTE_MAX = 200
TITLE_MAX = 80
CYCLE_WEEKS = (1, 52)
BREAK_MINUTES = (0, 240)
FIRST_OPT_OUT_DAY = date(1998, 10, 1)  # the Working Time Regulations came into force
# NHS-number shaped (3-3-4) or any run of 6+ digits (a hospital number): not in a note.
IDENTIFIER_LIKE = re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b|\d{6,}")
TEAM_FIELDS = ("rule_sets", "severities", "disabled_rules", "extra_rules", "weekly_rest_fortnightly",
               "rota_cycle_weeks", "break_minutes")
PERSON_FIELDS = ("wtr_opt_out", "opted_out_at", "rule_sets", "extra_rules", "note")
SELF_SERVICE_FIELDS = {"wtr_opt_out", "opted_out_at"}


# ------------------------------------------------------------------------------------------------ catalogue


@dataclass(frozen=True)
class Param:
    """One threshold of a local rule, with its allowed range."""

    name: str
    label: str
    lo: float = 0
    hi: float = 0
    integer: bool = True
    required: bool = True
    nullable: bool = False
    choices: tuple = ()


LOCAL_CHECKS: dict[str, tuple[Param, ...]] = {
    "consecutive_run": (
        Param("filter", "Which shifts count", choices=("any", "long", "night")),
        Param("max_run", "Most days in a row", 1, 14),
        Param("long_over_hours", "A long shift is longer than (hours)", 6, 16, integer=False, required=False),
        Param("rest_after_hours", "Rest required after a maximal run (hours)", 0, 96, required=False, nullable=True),
    ),
    "max_shift_length": (Param("max_hours", "Longest shift (hours)", 1, limits.MAX_SHIFT_HOURS, integer=False),),
    "rest_between": (Param("min_rest_hours", "Least rest between shifts (hours)", 1, 48, integer=False),),
    "max_in_window": (Param("max_hours", "Most hours of work", 1, 336, integer=False),
                      Param("window_hours", "In any window of (hours)", 24, 672)),
}
LOCAL_SPEC_KEYS = {"id", "check", "severity", "title"} | {p.name for ps in LOCAL_CHECKS.values() for p in ps}


@dataclass(frozen=True)
class LocalKind:
    """A ready-made local rule for the settings screen: one number and a severity."""

    key: str
    label: str
    check: str
    param: str
    fixed: dict
    lo: int
    hi: int
    prefix: str

    def title(self, n) -> str:
        return self.label.replace("N", format_number(n))


LOCAL_KINDS = {k.key: k for k in (
    LocalKind("long_run", "At most N long shifts (over 10 h) in a row", "consecutive_run", "max_run",
              {"filter": "long", "long_over_hours": 10, "rest_after_hours": None}, 1, 14, "long"),
    LocalKind("any_run", "At most N shifts in a row", "consecutive_run", "max_run",
              {"filter": "any", "rest_after_hours": None}, 1, 14, "run"),
    LocalKind("night_run", "At most N night shifts in a row", "consecutive_run", "max_run",
              {"filter": "night", "rest_after_hours": None}, 1, 14, "nights"),
    LocalKind("max_length", "No shift longer than N hours", "max_shift_length", "max_hours", {}, 1,
              limits.MAX_SHIFT_HOURS, "max"),
    LocalKind("min_rest", "At least N hours' rest between shifts", "rest_between", "min_rest_hours", {}, 1, 48,
              "rest"),
    LocalKind("week_hours", "At most N hours' work in any 7 days", "max_in_window", "max_hours",
              {"window_hours": 168}, 1, 168, "week"),
)}


def format_number(n) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:g}"


def catalogue() -> dict:
    """Every rule set and rule (id, title, default severity, source, thresholds) and the local-rule checks a client
    may use — enough to build a settings form."""
    return {
        "rule_sets": [{"name": rs.name, "title": rs.title,
                       "rules": [{"id": r.id, "title": r.title, "default_severity": r.severity, "source": r.source,
                                  "check": r.check, "params": dict(r.params)} for r in rs.rules]}
                      for rs in rules.RULE_SETS.values()],
        "severities": list(SEVERITY_CHOICES),
        "local_checks": [{"check": name, "params": [{"name": p.name, "label": p.label, "required": p.required,
                                                     "nullable": p.nullable, "choices": list(p.choices),
                                                     "minimum": None if p.choices else p.lo,
                                                     "maximum": None if p.choices else p.hi,
                                                     "integer": p.integer and not p.choices} for p in params]}
                         for name, params in LOCAL_CHECKS.items()],
        "local_templates": [{"id": r.id, "check": r.check, "title": r.title, "default_severity": r.severity,
                             "params": dict(r.params)} for r in rules.LOCAL_RULE_TEMPLATES.values()],
    }


def known_rule_ids() -> set[str]:
    return {r.id for rs in rules.RULE_SETS.values() for r in rs.rules}


def trust_defaults() -> tuple[dict[str, str], set[str]]:
    """Severity of every known rule before any team changes it (rule default, then trust configuration), and the
    rules the trust switched off."""
    configured, disabled = trust_overrides()
    out = {}
    for rs in rules.RULE_SETS.values():
        for r in rs.rules:
            sev = configured.get(r.id, r.severity)
            out.setdefault(r.id, sev if sev in rules.SEVERITIES else r.severity)
    return out, disabled
