"""Leave settings: the trust's leave rules (leave-year start, entitlement table, carry-over cap), a person's leave
profile (service start, FTE, override), a coordinator's recorded carry-over, and a team's "at most N off" — each
change validated and audited."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from core import audit
from core.accounts import Team, User
from core.db import db
from core.errors import Forbidden, ValidationFailed
from rota.requests import entitlement as ent
from rota.requests.models import LeaveAdjustment, StaffLeaveProfile, TeamLeaveRules, TrustLeaveSettings

CARRY_OVER = "carry_over"


def rules() -> ent.Rules:
    row = db.session.get(TrustLeaveSettings, 1)
    if row is None:
        return ent.Rules()
    return ent.Rules(row.year_start_month, row.year_start_day, row.day_minutes, row.days_under_5, row.days_5_to_10,
                     row.days_over_10, row.bank_holidays, row.max_carry_minutes)


MAX_TABLE_DAYS = 60  # days of annual leave in a row of the trust's table
MAX_BANK_HOLIDAYS = 20
MAX_CARRY_HOURS = 720


def _year_start_errors(month: int, day: int) -> dict:
    if not 1 <= month <= 12:
        errors = {"year_start_month": ["A month from 1 to 12."]}
        if not 1 <= day <= 28:
            errors["year_start_day"] = ["A day from 1 to 28, so the leave year starts on the same day every year."]
        return errors
    if (month, day) == (2, 29):
        return {"year_start_day": ["29 February is not in every year: start the leave year on 28 February or "
                                   "1 March."]}
    try:
        date(2001, month, day)  # a year without 29 February
    except ValueError:
        return {"year_start_day": [f"{date(2001, month, 1):%B} has no day {day}."]}
    if day > 28:
        return {"year_start_day": ["A day from 1 to 28, so the leave year starts on the same day every year."]}
    return {}


def trust_rules_errors(merged: dict) -> dict:
    """What is wrong with a whole set of trust leave rules (field -> messages); empty when they may be saved."""
    errors = _year_start_errors(merged["year_start_month"], merged["year_start_day"])
    if not 60 <= merged["day_minutes"] <= 720:
        errors["day_minutes"] = ["A day of 1 to 12 hours."]
    for key in ("days_under_5", "days_5_to_10", "days_over_10"):
        if not 0 <= merged[key] <= MAX_TABLE_DAYS:
            errors[key] = [f"From 0 to {MAX_TABLE_DAYS} days."]
    if not 0 <= merged["bank_holidays"] <= MAX_BANK_HOLIDAYS:
        errors["bank_holidays"] = [f"From 0 to {MAX_BANK_HOLIDAYS} days."]
    if not 0 <= merged["max_carry_minutes"] <= 60 * MAX_CARRY_HOURS:
        errors["max_carry_minutes"] = [f"From 0 to {MAX_CARRY_HOURS} hours."]
    return errors


def set_trust_rules(*, actor, **values) -> TrustLeaveSettings:
    """Administrators: the leave-year start and the entitlement table (validated as a whole). Audited with what
    changed, before and after."""
    if not actor.is_admin:
        raise Forbidden("Only an administrator can change the trust's leave rules.")
    current = rules()
    before = dict(current.__dict__)
    merged = {**before, **{k: v for k, v in values.items() if v is not None}}
    if merged.keys() != before.keys():
        raise ValidationFailed("Unknown setting.", errors={k: ["Unknown setting."] for k in merged.keys()
                                                           - before.keys()})
    errors = trust_rules_errors(merged)
    if errors:
        raise ValidationFailed("Some leave rules are out of range.", errors=errors)
    row = db.session.get(TrustLeaveSettings, 1) or TrustLeaveSettings(id=1)
    db.session.add(row)
    for k, v in merged.items():
        setattr(row, k, v)
    db.session.flush()
    changed = sorted(k for k in merged if merged[k] != before[k])
    audit.record("leave.rules_changed", actor=actor, entity_type="trust_leave_settings", entity_id=1,
                 summary={"before": {k: before[k] for k in changed}, "after": {k: merged[k] for k in changed}})
    return row


def person_of(user: User) -> ent.Person:
    row = db.session.get(StaffLeaveProfile, user.id)
    if row is None:
        return ent.Person()
    return ent.Person(row.service_start, row.fte_thousandths, row.days_override)


def _require_coordinates(user: User, actor) -> None:
    if actor.is_admin:
        return
    if not any(m.team.can_manage(actor) for m in user.memberships):
        raise Forbidden("Only a coordinator of one of this person's teams can change their leave entitlement.")


def set_profile(user: User, *, actor, service_start: date | None, fte: float | None = None,
                fte_thousandths: int | None = None, days_override: int | None = None) -> StaffLeaveProfile:
    _require_coordinates(user, actor)
    if fte_thousandths is None:
        fte_thousandths = round((fte if fte is not None else 1.0) * 1000)
    errors = {}
    if not 1 <= fte_thousandths <= 1000:
        errors["fte"] = ["FTE is more than 0 and at most 1 (e.g. 0.6 for three days a week)."]
    if days_override is not None and not 0 <= days_override <= 60:
        errors["days_override"] = ["From 0 to 60 days."]
    if service_start is not None and not date(1950, 1, 1) <= service_start <= date.today() + timedelta(days=400):
        errors["service_start"] = ["A date from 1950 to a year from now."]
    if errors:
        raise ValidationFailed("Check the entitlement details.", errors=errors)
    row = db.session.get(StaffLeaveProfile, user.id) or StaffLeaveProfile(user_id=user.id)
    db.session.add(row)
    row.service_start, row.fte_thousandths, row.days_override = service_start, fte_thousandths, days_override
    db.session.flush()
    audit.record("leave.profile_changed", actor=actor, entity_type="user", entity_id=user.id,
                 summary={"fte_thousandths": fte_thousandths, "days_override": days_override,
                          "service_start": service_start.isoformat() if service_start else None})
    return row


def set_carry_over(user: User, *, year: int, minutes: int | None, actor,
                   note: str | None = None) -> LeaveAdjustment | None:
    """A coordinator's figure for the hours carried into leave ``year`` (at most the trust's full-time limit); it wins
    over the one worked out from the year before. ``None`` removes it: the worked-out figure counts again."""
    _require_coordinates(user, actor)
    limit = rules().max_carry_minutes
    if minutes is None:
        row = db.session.scalar(select(LeaveAdjustment).where(LeaveAdjustment.user_id == user.id,
                                                              LeaveAdjustment.leave_year == year,
                                                              LeaveAdjustment.kind == CARRY_OVER))
        if row is not None:
            db.session.delete(row)
            db.session.flush()
            audit.record("leave.carry_over_set", actor=actor, entity_type="user", entity_id=user.id,
                         summary={"year": year, "minutes": None})
        return None
    if not 0 <= minutes <= limit:
        raise ValidationFailed(f"Carry over from 0 to {ent.hours_words(limit)}.",
                               errors={"minutes": [f"From 0 to {ent.hours_words(limit)}."]})
    if not 2000 <= year <= 2100:
        raise ValidationFailed("Choose a leave year from 2000 to 2100.", errors={"year": ["From 2000 to 2100."]})
    row = db.session.scalar(select(LeaveAdjustment).where(LeaveAdjustment.user_id == user.id,
                                                          LeaveAdjustment.leave_year == year,
                                                          LeaveAdjustment.kind == CARRY_OVER))
    if row is None:
        row = LeaveAdjustment(user_id=user.id, leave_year=year, kind=CARRY_OVER, minutes=0)
        db.session.add(row)
    row.minutes, row.note, row.recorded_by_id = minutes, note, actor.id
    db.session.flush()
    audit.record("leave.carry_over_set", actor=actor, entity_type="user", entity_id=user.id,
                 summary={"year": year, "minutes": minutes})
    return row


def max_off(team: Team) -> int | None:
    row = db.session.get(TeamLeaveRules, team.id)
    return row.max_off if row is not None else None


def set_max_off(team: Team, value: int | None, *, actor) -> None:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can change how many may be off at once.")
    if value is not None and not 0 <= value <= 500:
        raise ValidationFailed("At most N off: a number from 0 to 500, or empty for no limit.",
                               errors={"max_off": ["From 0 to 500, or empty."]})
    row = db.session.get(TeamLeaveRules, team.id) or TeamLeaveRules(team_id=team.id)
    db.session.add(row)
    row.max_off = value
    db.session.flush()
    audit.record("leave.max_off_changed", actor=actor, entity_type="team", entity_id=team.id, team_id=team.id,
                 summary={"max_off": value})
