"""Checking a change of working-time settings before anything is written: unknown keys, rule sets, local rules,
severities, numbers in range, the WTR opt-out's signed date. A bad change raises
:class:`core.errors.ValidationFailed` with per-field errors."""

from __future__ import annotations

from datetime import date, datetime

from core.errors import ValidationFailed
from rota.compliance import rules
from rota.compliance.catalogue import (
    BREAK_MINUTES,
    CYCLE_WEEKS,
    FIRST_OPT_OUT_DAY,
    IDENTIFIER_LIKE,
    LOCAL_CHECKS,
    LOCAL_ID,
    LOCAL_KINDS,
    LOCAL_SPEC_KEYS,
    MAX_LOCAL_RULES,
    NOTE_MAX,
    PERSON_FIELDS,
    RULE_SET_NAMES,
    TEAM_FIELDS,
    TITLE_MAX,
    Param,
    format_number,
    known_rule_ids,
)
from rota.compliance.profiles import today_for

# ----------------------------------------------------------------------------------------------- validation


class SettingErrors(dict):
    def add(self, key: str, message: str) -> None:
        self.setdefault(key, []).append(message)


def _check_rule_sets(value, errors: SettingErrors, key: str = "rule_sets"):
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


def check_number(value, param: Param, errors: SettingErrors, key: str):
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
        errors.add(key, f"Must be between {format_number(param.lo)} and {format_number(param.hi)}.")
        return None
    return int(value) if param.integer or float(value).is_integer() else float(value)


def _check_text(value, errors: SettingErrors, key: str, limit: int):
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
    elif IDENTIFIER_LIKE.search(text):
        errors.add(key, "Leave out numbers that could identify a patient (NHS or hospital numbers).")
    else:
        return text or None
    return None


def _local_rule_spec(spec, errors: SettingErrors, key: str) -> dict | None:
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
            out[p.name] = check_number(value, p, errors, f"{key}.{p.name}")
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


def _check_local_rules(value, errors: SettingErrors, key: str = "extra_rules") -> list[dict]:
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


def _check_severities(value, errors: SettingErrors, known: set[str]) -> dict:
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


def _check_disabled(value, errors: SettingErrors, known: set[str]) -> list[str]:
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


def _check_range(value, errors: SettingErrors, key: str, bounds: tuple[int, int]):
    return check_number(value, Param(key, key, bounds[0], bounds[1], nullable=True), errors, key)


def _validate_common(current: dict, changes: dict, allowed) -> tuple[dict, SettingErrors]:
    """What team and person settings share: no unknown keys, rule sets, local rules."""
    errors = SettingErrors()
    unknown = sorted(str(k)[:40] for k in changes if k not in allowed)
    if unknown:
        errors.add("_schema", f"Unknown setting(s): {', '.join(unknown)}.")
    new = dict(current)
    if "rule_sets" in changes:
        new["rule_sets"] = _check_rule_sets(changes["rule_sets"], errors)
    if "extra_rules" in changes:
        new["extra_rules"] = _check_local_rules(changes["extra_rules"], errors)
    return new, errors


def validate_team(current: dict, changes: dict) -> dict:
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


def validate_person(person, current: dict, changes: dict) -> dict:
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
            if signed > today_for(person):
                errors.add("opted_out_at", "The date it was signed cannot be in the future.")
            elif signed < FIRST_OPT_OUT_DAY:
                errors.add("opted_out_at", "The date it was signed cannot be before 1 October 1998.")
            new["opted_out_at"] = signed
        elif not current["wtr_opt_out"] or new["opted_out_at"] is None:
            new["opted_out_at"] = today_for(person)
    else:
        if signed is not None:
            errors.add("opted_out_at", "Only give a signed date with an opt-out.")
        new["opted_out_at"] = None
    if errors:
        raise ValidationFailed("Some working-time settings are not valid; nothing was changed.", errors=dict(errors))
    return new
