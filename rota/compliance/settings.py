"""Changing the working-time rules: per-team and per-person settings (the rows
:func:`rota.compliance.profiles.profile_for` reads), validated, permission-checked and audited.

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

from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import audit
from core.db import db
from core.errors import Forbidden, ValidationFailed
from rota.compliance import rules
from rota.compliance.catalogue import (
    BREAK_MINUTES,
    CYCLE_WEEKS,
    LOCAL_CHECKS,
    LOCAL_KINDS,
    MAX_LOCAL_RULES,
    NOTE_MAX,
    OFF,
    PERSON_FIELDS,
    RULE_SET_NAMES,
    SELF_SERVICE_FIELDS,
    SEVERITY_CHOICES,
    TEAM_FIELDS,
    TITLE_MAX,
    Param,
    catalogue,
    format_number,
    trust_defaults,
)
from rota.compliance.models import PersonComplianceSettings, TeamComplianceSettings
from rota.compliance.profiles import (
    Profile,
    default_rule_set_names,
    home_team,
    may_see_person,
    profile_for,
    profiles_for,
)
from rota.compliance.validation import (
    SettingErrors,
    check_number,
    validate_person,
    validate_team,
)

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


can_view_person = may_see_person


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
    return _applies(profile_for(person, team))


def _applies(prof: Profile) -> dict:
    caps = [r.params["opted_out_max_avg_hours"] for rs in prof.rule_sets for r in rs.rules
            if r.check == "average_hours" and "opted_out_max_avg_hours" in r.params]
    return {"rule_sets": prof.names, "opted_out": prof.opted_out,
            "opted_out_cap_hours": min(caps) if caps else None,  # a contract's own limit that the opt-out keeps
            "rules": [{"rule_id": r.id, "rule_set": rs.name, "title": r.title, "severity": r.severity,
                       "source": r.source} for rs in prof.rule_sets for r in rs.rules]}


def _person_settings(person, row, prof: Profile) -> dict:
    return {"user_id": person.id, **_person_values(row), "updated_at": row.updated_at if row is not None else None,
            "default_rule_sets": default_rule_set_names(person), "applies": _applies(prof)}


def person_settings(person, team=None) -> dict:
    """A person's own settings, and what applies to them (in ``team``, default their first team)."""
    return _person_settings(person, person_row(person), profile_for(person, team))


def people_settings(team, people) -> dict[int, dict]:
    """:func:`person_settings` for many people in ``team`` with a fixed number of queries (the team screen)."""
    rows = {r.user_id: r for r in db.session.scalars(select(PersonComplianceSettings).where(
        PersonComplianceSettings.user_id.in_([p.id for p in people])))} if people else {}
    profiles, _ = profiles_for(people, team)
    return {p.id: _person_settings(p, rows.get(p.id), profiles[p.id]) for p in people}


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
    new = validate_team(current, changes)
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
    new = validate_person(person, current, changes)
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
        home = home_team(person)
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
    base = f"LOCAL-{spec_kind.prefix}{format_number(value) if isinstance(value, int | float) else ''}".replace(".", "_")
    rule_id, n = base, 2
    while rule_id in ids:
        rule_id, n = f"{base}-{n}", n + 1
    spec = {"id": rule_id, "check": spec_kind.check, "severity": severity, spec_kind.param: value, **spec_kind.fixed}
    errors = SettingErrors()
    param = next(p for p in LOCAL_CHECKS[spec_kind.check] if p.name == spec_kind.param)
    check_number(value, Param(param.name, param.label, spec_kind.lo, spec_kind.hi, integer=param.integer), errors,
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
           "can_manage_person", "can_view_person", "LOCAL_KINDS", "SEVERITY_CHOICES", "RULE_SET_NAMES",
           # the catalogue's limits the settings forms and API schemas read through this module
           "BREAK_MINUTES", "CYCLE_WEEKS", "LOCAL_CHECKS", "MAX_LOCAL_RULES", "NOTE_MAX", "OFF", "TITLE_MAX"]
