"""Changing the working-time rules: per-team and per-person settings (the rows :func:`rota.compliance.profile_for`
reads), validated, permission-checked and audited.

* A team's coordinators (and administrators) choose the team's rule sets (or "by staff group"), change a rule's
  severity (block / warn) or switch it off, add or remove local rules (e.g. "at most 3 long days in a row"), and set
  the fortnightly weekly-rest pattern, the rota cycle and the rostered break. They also manage the settings of their
  team's members (rule-set override, local rules, WTR opt-out recorded from a signed agreement, a short note).
* A person sees their own settings and may record or withdraw their own WTR opt-out (reg 5 of the Working Time
  Regulations: the opt-out is the worker's written agreement, and the worker may end it). The opt-out switches off
  only the 48-hour average week (WTR-avg48); the night-work limit (WTR-night8), rest rules and every TCS rule still
  apply, and TCS-avg48 becomes 56 h.

Bad input raises :class:`core.errors.ValidationFailed` with per-field errors and changes nothing. Every change
writes one audit row with a before/after summary of ids, codes and numbers (never the note's text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import audit, limits
from core.db import db
from core.errors import Forbidden, ValidationFailed
from rota.compliance import rules
from rota.compliance import service as compliance
from rota.compliance.models import PersonComplianceSettings, TeamComplianceSettings

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
_IDENTIFIER_LIKE = re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b|\d{6,}")
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
        return self.label.replace("N", _num(n))


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


def _num(n) -> str:
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
    configured, disabled = compliance.trust_overrides()
    out = {}
    for rs in rules.RULE_SETS.values():
        for r in rs.rules:
            sev = configured.get(r.id, r.severity)
            out.setdefault(r.id, sev if sev in rules.SEVERITIES else r.severity)
    return out, disabled


# -------------------------------------------------------------------------------------------------- access


def can_manage_person(actor, person) -> bool:
    """May ``actor`` change ``person``'s own settings (rule sets, local rules, opt-out, note)? They apply in every
    team the person works in, so: administrators, or a coordinator of *every* one of the person's teams. A
    coordinator of only some of them must not change, say, a doctor's contract rules in another team's rota."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    if actor.is_admin:
        return True
    teams = person.team_ids
    return bool(teams) and teams <= actor.managed_team_ids


can_view_person = compliance.may_see_person


def require_team_view(team, actor) -> None:
    if not team.can_view(actor):
        raise Forbidden("Only the team's members, its coordinators and administrators can see its working-time "
                        "rules.")


def require_team_manage(team, actor) -> None:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators and administrators can change its working-time rules.")


def require_person_view(person, actor) -> None:
    if not can_view_person(actor, person):
        raise Forbidden("You can see your own working-time settings, and coordinators those of their team members.")


# -------------------------------------------------------------------------------------------------- reading


def team_row(team) -> TeamComplianceSettings | None:
    return db.session.scalar(select(TeamComplianceSettings).where(TeamComplianceSettings.team_id == team.id))


def person_row(person) -> PersonComplianceSettings | None:
    return db.session.scalar(select(PersonComplianceSettings).where(PersonComplianceSettings.user_id == person.id))


def _team_values(row) -> dict:
    if row is None:
        return {"rule_sets": None, "severities": {}, "disabled_rules": [], "extra_rules": [],
                "weekly_rest_fortnightly": False, "rota_cycle_weeks": None, "break_minutes": None}
    return {"rule_sets": list(row.rule_sets) if row.rule_sets else None, "severities": dict(row.severities or {}),
            "disabled_rules": list(row.disabled_rules or []), "extra_rules": [dict(s) for s in row.extra_rules or []],
            "weekly_rest_fortnightly": bool(row.weekly_rest_fortnightly), "rota_cycle_weeks": row.rota_cycle_weeks,
            "break_minutes": row.break_minutes}


def _person_values(row) -> dict:
    if row is None:
        return {"wtr_opt_out": False, "opted_out_at": None, "rule_sets": None, "extra_rules": [], "note": None}
    return {"wtr_opt_out": bool(row.wtr_opt_out),
            "opted_out_at": row.opted_out_at.date() if row.opted_out_at and row.wtr_opt_out else None,
            "rule_sets": list(row.rule_sets) if row.rule_sets else None,
            "extra_rules": [dict(s) for s in row.extra_rules or []], "note": row.note}


def team_rule_set_names(team, values: dict | None = None) -> list[str]:
    """The sets whose rules a team's settings screen lists: the team's own, or (by staff group) WTR and TCS2016."""
    values = values if values is not None else _team_values(team_row(team))
    return list(values["rule_sets"]) if values["rule_sets"] else ["WTR", "TCS2016"]


def effective_team_rules(team, values: dict | None = None) -> list[dict]:
    """Every rule of the team's applicable sets with the severity the team gives it (block / warn / off), and
    whether the trust switched it off (then the team cannot switch it back on)."""
    values = values if values is not None else _team_values(team_row(team))
    defaults, trust_off = trust_defaults()
    out, seen = [], set()
    for name in team_rule_set_names(team, values):
        for r in rules.RULE_SETS[name].rules:
            if r.id in seen:
                continue
            seen.add(r.id)
            off = r.id in trust_off or r.id in values["disabled_rules"]
            sev = OFF if off else values["severities"].get(r.id, defaults[r.id])
            out.append({"rule_id": r.id, "rule_set": name, "title": r.title, "source": r.source,
                        "default_severity": defaults[r.id], "severity": sev, "trust_off": r.id in trust_off})
    for spec in values["extra_rules"]:
        sev = OFF if spec.get("id") in values["disabled_rules"] else spec.get("severity", rules.WARN)
        out.append({"rule_id": spec.get("id", ""), "rule_set": "LOCAL", "title": spec.get("title", ""),
                    "source": "Local trust rule", "default_severity": spec.get("severity", rules.WARN),
                    "severity": sev, "trust_off": False})
    return out


def team_settings(team) -> dict:
    row = team_row(team)
    values = _team_values(row)
    return {"team_id": team.id, **values, "by_staff_group": values["rule_sets"] is None,
            "updated_at": row.updated_at if row is not None else None,
            "rules": effective_team_rules(team, values)}


def applicable_rules(person, team=None) -> dict:
    """What applies to ``person`` now (in ``team``, default their first team): the rule sets, every rule with its
    severity, and the opt-out."""
    return _applies(compliance.profile_for(person, team))


def _applies(prof: compliance.Profile) -> dict:
    caps = [r.params["opted_out_max_avg_hours"] for rs in prof.rule_sets for r in rs.rules
            if r.check == "average_hours" and "opted_out_max_avg_hours" in r.params]
    return {"rule_sets": prof.names, "opted_out": prof.opted_out,
            "opted_out_cap_hours": min(caps) if caps else None,  # a contract's own limit that the opt-out keeps
            "rules": [{"rule_id": r.id, "rule_set": rs.name, "title": r.title, "severity": r.severity,
                       "source": r.source} for rs in prof.rule_sets for r in rs.rules]}


def _person_settings(person, row, prof: compliance.Profile) -> dict:
    return {"user_id": person.id, **_person_values(row), "updated_at": row.updated_at if row is not None else None,
            "default_rule_sets": compliance.default_rule_set_names(person), "applies": _applies(prof)}


def person_settings(person, team=None) -> dict:
    """A person's own settings, and what applies to them (in ``team``, default their first team)."""
    return _person_settings(person, person_row(person), compliance.profile_for(person, team))


def people_settings(team, people) -> dict[int, dict]:
    """:func:`person_settings` for many people in ``team`` with a fixed number of queries (the team screen)."""
    rows = {r.user_id: r for r in db.session.scalars(select(PersonComplianceSettings).where(
        PersonComplianceSettings.user_id.in_([p.id for p in people])))} if people else {}
    profiles, _ = compliance.profiles_for(people, team)
    return {p.id: _person_settings(p, rows.get(p.id), profiles[p.id]) for p in people}


# ----------------------------------------------------------------------------------------------- validation


class _Errors(dict):
    def add(self, key: str, message: str) -> None:
        self.setdefault(key, []).append(message)


def _check_rule_sets(value, errors: _Errors, key: str = "rule_sets"):
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        errors.add(key, "Give a list of rule set names, or null for the default.")
        return None
    names = []
    for n in value:
        if not isinstance(n, str) or n not in rules.RULE_SETS:
            errors.add(key, f"Unknown rule set {str(n)[:40]!r}; choose from {', '.join(RULE_SET_NAMES)}.")
        elif n not in names:
            names.append(n)
    if not value:
        errors.add(key, "Choose at least one rule set, or null for the default.")
    if "TCS2016" in names and "TCS2016v1" in names:
        errors.add(key, "TCS2016 and TCS2016v1 are two versions of the same contract: choose one.")
    return names or None


def _check_number(value, param: Param, errors: _Errors, key: str):
    if value is None:
        if param.nullable:
            return None
        errors.add(key, "A number is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value in (
            float("inf"), float("-inf")):
        errors.add(key, "Must be a number.")
        return None
    if param.integer and not float(value).is_integer():
        errors.add(key, "Must be a whole number.")
        return None
    if not (param.lo <= value <= param.hi):
        errors.add(key, f"Must be between {_num(param.lo)} and {_num(param.hi)}.")
        return None
    return int(value) if param.integer or float(value).is_integer() else float(value)


def _check_text(value, errors: _Errors, key: str, limit: int):
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(key, "Must be text.")
        return None
    text = " ".join(value.split())
    if len(text) > limit:
        errors.add(key, f"Keep it to {limit} characters.")
    elif "\x00" in value or not text.isprintable():
        errors.add(key, "Use plain text.")
    elif _IDENTIFIER_LIKE.search(text):
        errors.add(key, "Leave out numbers that could identify a patient (NHS or hospital numbers).")
    else:
        return text or None
    return None


def _local_rule_spec(spec, errors: _Errors, key: str) -> dict | None:
    """One local rule, normalised to the full spec :func:`rota.rules.local_rule` builds a rule from."""
    if not isinstance(spec, dict):
        errors.add(key, "Each local rule is an object with an id.")
        return None
    before = len(errors)
    unknown = sorted(str(k)[:40] for k in spec if k not in LOCAL_SPEC_KEYS)
    if unknown:
        errors.add(key, f"Unknown setting(s): {', '.join(unknown)}.")
    rule_id = spec.get("id")
    if not isinstance(rule_id, str) or not LOCAL_ID.match(rule_id):
        errors.add(f"{key}.id", "A local rule id starts with 'LOCAL-' followed by up to 30 letters, digits, - or _.")
        rule_id = None
    template = rules.LOCAL_RULE_TEMPLATES.get(rule_id or "")
    check = spec.get("check", template.check if template else None)
    if check not in LOCAL_CHECKS:
        errors.add(f"{key}.check", f"Choose a check: {', '.join(LOCAL_CHECKS)}.")
        return None
    if template is not None and check != template.check:
        errors.add(f"{key}.check", f"{rule_id} is a {template.check} rule.")
        return None
    base = dict(template.params) if template is not None else {}
    severity = spec.get("severity", template.severity if template else rules.WARN)
    if severity not in rules.SEVERITIES:
        errors.add(f"{key}.severity", "Choose block or warn.")
    out = {"id": rule_id, "check": check, "severity": severity}
    for p in LOCAL_CHECKS[check]:
        value = spec.get(p.name, base.get(p.name))
        if p.choices:
            if value not in p.choices:
                errors.add(f"{key}.{p.name}", f"Choose one of: {', '.join(p.choices)}.")
            out[p.name] = value
        elif value is None and not p.required:
            if p.nullable:
                out[p.name] = None  # otherwise left out: the check's own default applies
        else:
            out[p.name] = _check_number(value, p, errors, f"{key}.{p.name}")
    if check == "max_in_window" and isinstance(out.get("max_hours"), int | float) \
            and isinstance(out.get("window_hours"), int | float) and out["max_hours"] > out["window_hours"]:
        errors.add(f"{key}.max_hours", "Cannot be more than the window.")
    title = _check_text(spec.get("title"), errors, f"{key}.title", TITLE_MAX)
    out["title"] = title or (template.title if template else _default_title(out))
    return out if len(errors) == before else None


def _default_title(spec: dict) -> str:
    for kind in LOCAL_KINDS.values():
        if kind.check == spec["check"] and all(spec.get(k) == v for k, v in kind.fixed.items()
                                               if k in ("filter", "window_hours")):
            value = spec.get(kind.param)
            if value is not None:
                return kind.title(value)
    return f"Local rule ({spec['check']})"


def _check_local_rules(value, errors: _Errors, key: str = "extra_rules") -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        errors.add(key, "Give a list of local rules.")
        return []
    if len(value) > MAX_LOCAL_RULES:
        errors.add(key, f"At most {MAX_LOCAL_RULES} local rules.")
        return []
    out, seen = [], set()
    for i, spec in enumerate(value):
        got = _local_rule_spec(spec, errors, f"{key}.{i}")
        if got is None:
            continue
        if got["id"] in seen:
            errors.add(f"{key}.{i}.id", f"{got['id']} is used twice.")
        seen.add(got["id"])
        out.append(got)
    return out


def _check_severities(value, errors: _Errors, known: set[str]) -> dict:
    if not isinstance(value, dict):
        errors.add("severities", "Give an object of rule id: block or warn.")
        return {}
    out = {}
    for rid, sev in value.items():
        if rid not in known:
            errors.add("severities", f"Unknown rule {str(rid)[:40]!r}.")
        elif sev not in rules.SEVERITIES:
            errors.add("severities", f"{rid}: choose block or warn (use disabled_rules to switch a rule off).")
        else:
            out[rid] = sev
    return out


def _check_disabled(value, errors: _Errors, known: set[str]) -> list[str]:
    if not isinstance(value, list | tuple):
        errors.add("disabled_rules", "Give a list of rule ids.")
        return []
    out = []
    for rid in value:
        if rid not in known:
            errors.add("disabled_rules", f"Unknown rule {str(rid)[:40]!r}.")
        elif rid not in out:
            out.append(rid)
    return out


def _check_range(value, errors: _Errors, key: str, bounds: tuple[int, int]):
    return _check_number(value, Param(key, key, bounds[0], bounds[1], nullable=True), errors, key)


def _validate_common(current: dict, changes: dict, allowed) -> tuple[dict, _Errors]:
    """What team and person settings share: no unknown keys, rule sets, local rules."""
    errors = _Errors()
    unknown = sorted(str(k)[:40] for k in changes if k not in allowed)
    if unknown:
        errors.add("_schema", f"Unknown setting(s): {', '.join(unknown)}.")
    new = dict(current)
    if "rule_sets" in changes:
        new["rule_sets"] = _check_rule_sets(changes["rule_sets"], errors)
    if "extra_rules" in changes:
        new["extra_rules"] = _check_local_rules(changes["extra_rules"], errors)
    return new, errors


def _validate_team(current: dict, changes: dict) -> dict:
    new, errors = _validate_common(current, changes, TEAM_FIELDS)
    known = known_rule_ids()
    if "severities" in changes:
        new["severities"] = _check_severities(changes["severities"], errors, known)
    if "disabled_rules" in changes:
        local_ids = {s.get("id") for s in new["extra_rules"]}
        new["disabled_rules"] = _check_disabled(changes["disabled_rules"], errors, known | local_ids)
    both = sorted(set(new["severities"]) & set(new["disabled_rules"])) if "severities" in changes \
        and "disabled_rules" in changes else []
    if both:
        errors.add("disabled_rules", f"{', '.join(both)}: give a severity or switch it off, not both.")
    if "weekly_rest_fortnightly" in changes:
        if not isinstance(changes["weekly_rest_fortnightly"], bool):
            errors.add("weekly_rest_fortnightly", "Must be true or false.")
        new["weekly_rest_fortnightly"] = bool(changes["weekly_rest_fortnightly"])
    if "rota_cycle_weeks" in changes:
        new["rota_cycle_weeks"] = _check_range(changes["rota_cycle_weeks"], errors, "rota_cycle_weeks", CYCLE_WEEKS)
    if "break_minutes" in changes:
        new["break_minutes"] = _check_range(changes["break_minutes"], errors, "break_minutes", BREAK_MINUTES)
    if errors:
        raise ValidationFailed("Some working-time settings are not valid; nothing was changed.", errors=dict(errors))
    # a severity given for a rule that is now switched off: switching off wins
    new["severities"] = {k: v for k, v in new["severities"].items() if k not in new["disabled_rules"]}
    return new


def _validate_person(person, current: dict, changes: dict) -> dict:
    new, errors = _validate_common(current, changes, PERSON_FIELDS)
    if "note" in changes:
        new["note"] = _check_text(changes["note"], errors, "note", NOTE_MAX)
    if "wtr_opt_out" in changes:
        if not isinstance(changes["wtr_opt_out"], bool):
            errors.add("wtr_opt_out", "Must be true or false.")
        new["wtr_opt_out"] = bool(changes["wtr_opt_out"])
    signed = changes.get("opted_out_at")
    if isinstance(signed, datetime):
        signed = signed.date()
    if signed is not None and not isinstance(signed, date):
        errors.add("opted_out_at", "Give the date the opt-out was signed (YYYY-MM-DD).")
        signed = None
    if new["wtr_opt_out"]:
        if signed is not None:
            if signed > compliance.today_for(person):
                errors.add("opted_out_at", "The date it was signed cannot be in the future.")
            elif signed < FIRST_OPT_OUT_DAY:
                errors.add("opted_out_at", "The date it was signed cannot be before 1 October 1998.")
            new["opted_out_at"] = signed
        elif not current["wtr_opt_out"] or new["opted_out_at"] is None:
            new["opted_out_at"] = compliance.today_for(person)
    else:
        if signed is not None:
            errors.add("opted_out_at", "Only give a signed date with an opt-out.")
        new["opted_out_at"] = None
    if errors:
        raise ValidationFailed("Some working-time settings are not valid; nothing was changed.", errors=dict(errors))
    return new


# ------------------------------------------------------------------------------------------------- changing


def _summarise(values: dict, keys) -> dict:
    """Audit form of settings: ids, codes and numbers only (local rules as compact codes, no titles, no note)."""
    out = {}
    for k in keys:
        v = values[k]
        if k == "extra_rules":
            v = [":".join([s["id"], s["severity"], *(f"{p}={s[p]}" for p in sorted(s)
                                                   if p not in ("id", "check", "severity", "title"))]) for s in v]
        elif k == "note":
            v = "set" if v else None
        elif isinstance(v, date):
            v = v.isoformat()
        out[k] = v
    return out


def _get_or_create(model, **key):
    row = db.session.scalar(select(model).filter_by(**key))
    if row is not None:
        return row
    row = model(**key)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:  # another request created it first
        row = db.session.scalar(select(model).filter_by(**key))
    return row


def update_team_settings(team, *, actor, changes: dict) -> dict:
    """Change a team's settings (only the keys given). Returns :func:`team_settings`."""
    require_team_manage(team, actor)
    row = team_row(team)
    current = _team_values(row)
    new = _validate_team(current, changes)
    changed = [k for k in TEAM_FIELDS if new[k] != current[k]]
    if changed:
        row = row or _get_or_create(TeamComplianceSettings, team_id=team.id)
        for k in changed:
            setattr(row, k, new[k])
        db.session.flush()
        audit.record("compliance_settings.team_updated", actor=actor, entity_type="team_compliance_settings",
                     entity_id=team.id, team_id=team.id,
                     summary={"changed": ",".join(changed), "before": _summarise(current, changed),
                              "after": _summarise(new, changed)})
    return team_settings(team)


def update_person_settings(person, *, actor, changes: dict) -> dict:
    """Change a person's settings (only the keys given). The person may change only their WTR opt-out; their
    coordinators and administrators anything. Returns :func:`person_settings`."""
    require_person_view(person, actor)
    row = person_row(person)
    current = _person_values(row)
    new = _validate_person(person, current, changes)
    changed = [k for k in PERSON_FIELDS if new[k] != current[k]]
    manager = can_manage_person(actor, person)
    if not manager and actor.id != person.id:
        raise Forbidden(f"{person.display_name} also works in teams you do not coordinate, and their own "
                        "working-time settings apply in all of them: ask an administrator to change them.")
    if not manager and set(changed) - SELF_SERVICE_FIELDS:
        raise Forbidden("You can record or withdraw your own opt-out; a coordinator changes your other working-time "
                        "settings.")
    if changed:
        row = row or _get_or_create(PersonComplianceSettings, user_id=person.id)
        for k in changed:
            value = new[k]
            if k == "opted_out_at":
                value = datetime.combine(value, time(0), tzinfo=UTC) if value else None
            setattr(row, k, value)
        db.session.flush()
        action = "compliance_settings.person_updated"
        if "wtr_opt_out" in changed:
            action = "compliance_settings.opt_out_recorded" if new["wtr_opt_out"] else \
                "compliance_settings.opt_out_withdrawn"
        shared = sorted(actor.managed_team_ids & person.team_ids) if actor.id != person.id else []
        home = compliance.home_team(person)
        audit.record(action, actor=actor, entity_type="person_compliance_settings", entity_id=person.id,
                     team_id=shared[0] if shared else (home.id if home is not None else None),
                     summary={"user_id": person.id, "changed": ",".join(changed), "self_service": actor.id == person.id,
                              "before": _summarise(current, changed), "after": _summarise(new, changed)})
    return person_settings(person)


def set_rule_severity_changes(team, choices: dict[str, str]) -> dict:
    """Turn a screen's per-rule choices ({rule_id: block|warn|off}) into ``severities`` and ``disabled_rules``
    changes, keeping the team's settings for rules the screen did not list. Only choices that differ from the
    trust default are stored."""
    current = _team_values(team_row(team))
    defaults, trust_off = trust_defaults()
    severities = dict(current["severities"])
    disabled = list(current["disabled_rules"])
    for rid, choice in choices.items():
        if rid in trust_off:
            continue
        severities.pop(rid, None)
        if rid in disabled:
            disabled.remove(rid)
        if choice == OFF:
            disabled.append(rid)
        elif choice != defaults.get(rid):
            severities[rid] = choice
    return {"severities": severities, "disabled_rules": disabled}


def add_local_rule(team, *, actor, kind: str, value, severity: str) -> dict:
    """Add a ready-made local rule (:data:`LOCAL_KINDS`) with one number, e.g. ``long_run`` 3 = "at most 3 long
    shifts in a row"."""
    require_team_manage(team, actor)
    spec_kind = LOCAL_KINDS.get(kind)
    if spec_kind is None:
        raise ValidationFailed("Choose a kind of rule.", errors={"kind": ["Choose a kind of rule."]})
    current = _team_values(team_row(team))
    ids = {s["id"] for s in current["extra_rules"]}
    base = f"LOCAL-{spec_kind.prefix}{_num(value) if isinstance(value, int | float) else ''}".replace(".", "_")
    rule_id, n = base, 2
    while rule_id in ids:
        rule_id, n = f"{base}-{n}", n + 1
    spec = {"id": rule_id, "check": spec_kind.check, "severity": severity, spec_kind.param: value, **spec_kind.fixed}
    errors = _Errors()
    param = next(p for p in LOCAL_CHECKS[spec_kind.check] if p.name == spec_kind.param)
    _check_number(value, Param(param.name, param.label, spec_kind.lo, spec_kind.hi, integer=param.integer), errors,
                  "value")
    if severity not in rules.SEVERITIES:
        errors.add("severity", "Choose block or warn.")
    if len(current["extra_rules"]) >= MAX_LOCAL_RULES:
        errors.add("kind", f"A team can have at most {MAX_LOCAL_RULES} local rules.")
    if errors:
        raise ValidationFailed("The local rule is not valid; nothing was changed.", errors=dict(errors))
    spec["title"] = spec_kind.title(value)
    return update_team_settings(team, actor=actor, changes={"extra_rules": [*current["extra_rules"], spec]})


def remove_local_rule(team, *, actor, rule_id: str) -> dict:
    require_team_manage(team, actor)
    current = _team_values(team_row(team))
    kept = [s for s in current["extra_rules"] if s.get("id") != rule_id]
    if len(kept) == len(current["extra_rules"]):
        raise ValidationFailed("There is no such local rule.", errors={"rule_id": ["No such local rule."]})
    changes = {"extra_rules": kept}
    if rule_id in current["disabled_rules"]:
        changes["disabled_rules"] = [r for r in current["disabled_rules"] if r != rule_id]
    return update_team_settings(team, actor=actor, changes=changes)


__all__ = ["catalogue", "team_settings", "person_settings", "applicable_rules", "update_team_settings",
           "update_person_settings", "add_local_rule", "remove_local_rule", "set_rule_severity_changes",
           "can_manage_person", "can_view_person", "LOCAL_KINDS", "SEVERITY_CHOICES", "RULE_SET_NAMES"]
