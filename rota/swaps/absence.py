"""Short notice and sickness: "I can't make this shift".

The person working a shift (or a coordinator of its team, taking a phone call) says they cannot work it, with a
reason *category* only — sick, family, other; never clinical details. At any time before the shift ends:

* a leave record is made for the shift's local day (sickness for "sick", other leave otherwise; an existing record
  of theirs for that day is reused), through ``rota.services.add_leave_record`` like any other leave;
* the person comes off the shift through ``rota.assignment.set_assignee`` (release record, feeds, audit, pending
  swap requests ended), and the shift becomes an open shift — or, when the team chose so
  (:class:`TeamAbsenceSettings`), it is *left with the coordinator*: not on the open-shifts board and not claimable
  until a coordinator asks for cover or gives it to someone (a shift that has already started is always left with
  the coordinator: nobody can claim a started shift);
* the team's coordinators are told at once (urgent: SMS even in quiet hours) — the message names the person and
  the shift but not the reason; the reason category is shown only on the coordinator's home page;
* an ``absence.reported`` audit entry records who, which shift, the category and what happened to the shift.

Also here: when staff swap and give-away requests are closed for a shift (the team's cut-off), so My shifts can
hide those links and point to this action instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, select

from core import audit, timeutil
from core.accounts import Team, TeamRole, User
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from rota import services
from rota.assignment import set_assignee
from rota.models import LeaveKind, ReleaseKind, Shift, ShiftState
from rota.swaps import eligibility
from rota.swaps.absence_models import (
    AbsenceHandling,
    AbsenceReason,
    ShiftAbsence,
    TeamAbsenceSettings,
    held_shift_ids,
)

REASONS = [(AbsenceReason.sick, "I'm sick"), (AbsenceReason.family, "Family reasons"),
           (AbsenceReason.other, "Another reason")]
REASON_WORDS = {AbsenceReason.sick: "sick", AbsenceReason.family: "family reasons",
                AbsenceReason.other: "another reason"}
HANDLING_WORDS = {AbsenceHandling.open_shift: "The shift becomes an open shift that anyone eligible can take",
                  AbsenceHandling.coordinator: "The shift is left with the coordinator, who decides how to cover it"}
_LEAVE = {AbsenceReason.sick: (LeaveKind.sickness, "Reported sick at short notice"),
          AbsenceReason.family: (LeaveKind.other, "Short notice: family reasons"),
          AbsenceReason.other: (LeaveKind.other, "Short notice: another reason")}


# ------------------------------------------------------------------------------------------------ settings


def settings_for(team_id: int) -> AbsenceHandling:
    row = db.session.get(TeamAbsenceSettings, team_id)
    return row.handling if row is not None else AbsenceHandling.open_shift


def set_handling(team: Team, handling: str | AbsenceHandling, *, actor) -> TeamAbsenceSettings:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can change what happens when someone can't make a shift.")
    try:
        handling = AbsenceHandling(handling)
    except ValueError:
        raise ValidationFailed("Choose what happens to the shift.",
                               errors={"handling": ["Choose one of the options."]}) from None
    row = db.session.get(TeamAbsenceSettings, team.id)
    if row is None:
        row = TeamAbsenceSettings(team_id=team.id, handling=handling)
        db.session.add(row)
    before = row.handling
    row.handling = handling
    db.session.flush()
    audit.record("absence.settings_changed", actor=actor, entity_type="team", entity_id=team.id, team_id=team.id,
                 summary={"handling": handling.value, "before": before.value if before else None})
    return row


# ---------------------------------------------------------------------------------------------- the report


def can_report(shift: Shift, user, *, now: datetime | None = None) -> bool:
    """Whether ``user`` sees "I can't make this shift" on ``shift``: theirs, still scheduled, not yet ended."""
    now = now or now_utc()
    return (shift.state == ShiftState.scheduled and shift.assignee_id == getattr(user, "id", None)
            and shift.ends_at > now)


def _parse_reason(reason) -> AbsenceReason:
    try:
        return AbsenceReason(reason)
    except ValueError:
        raise ValidationFailed("Choose a reason: sick, family or another reason.",
                               errors={"reason": ["Choose sick, family or another reason."]}) from None


def report(shift: Shift, *, actor: User, reason, now: datetime | None = None) -> ShiftAbsence:
    """``actor`` (the person on ``shift``, or a coordinator of its team) says they cannot work it. Never commits."""
    now = now or now_utc()
    team = shift.team
    if not services.is_visible(shift, actor):
        raise NotFound(f"No shift with id {shift.id}.")
    reason = _parse_reason(reason)
    db.session.refresh(shift, with_for_update=True)  # one report at a time: a double tap finds it already done
    person = shift.assignee
    if shift.state == ShiftState.cancelled:
        raise Conflict("This shift was cancelled: there is nothing to report.", extra={"code": "cancelled"})
    if person is None:
        done = db.session.scalar(select(ShiftAbsence).where(ShiftAbsence.shift_id == shift.id,
                                                            ShiftAbsence.user_id == actor.id))
        if done is not None:
            raise Conflict("You have already said you can't make this shift: your coordinator has been told.",
                           extra={"code": "already_reported"})
        raise Conflict("Nobody is working this shift any more.", extra={"code": "not_assigned"})
    if person.id != actor.id and not team.can_manage(actor):
        raise Forbidden("Only the person working this shift, or a coordinator, can say they can't make it.")
    if shift.ends_at <= now:
        raise RuleViolation("This shift has already ended.", extra={"code": "ended"})
    day = timeutil.local_date(shift.starts_at, team.timezone)
    kind, note = _LEAVE[reason]
    leave = services.leave_overlapping(person, day, day, team) or services.add_leave_record(
        person, kind=kind, first_day=day, last_day=day, actor=actor, team=team, note=note)
    handling = AbsenceHandling.coordinator if shift.starts_at <= now else settings_for(team.id)
    set_assignee(shift, None, actor=actor, kind=ReleaseKind.leave, reason="Unavailable at short notice")
    # Given the shift back after an earlier report and unable again: the one row per person and shift is reused.
    absence = db.session.scalar(select(ShiftAbsence).where(ShiftAbsence.shift_id == shift.id,
                                                           ShiftAbsence.user_id == person.id))
    if absence is None:
        absence = ShiftAbsence(shift_id=shift.id, user_id=person.id, team_id=team.id)
        db.session.add(absence)
    absence.reason, absence.handling, absence.leave_id = reason, handling, leave.id
    absence.reported_at, absence.released_at = now, None
    db.session.flush()
    audit.record("absence.reported", actor=actor, entity=absence, team_id=team.id,
                 summary={"shift_id": shift.id, "user_id": person.id, "reason": reason.value,
                          "handling": handling.value, "leave_id": leave.id})
    _tell_coordinators(absence, actor)
    return absence


def _tell_coordinators(absence: ShiftAbsence, actor) -> None:
    from notifications.service import IN_APP, SMS, notify

    shift, team = absence.shift, absence.shift.team
    then = ("It is now an open shift: ask for cover from Home." if absence.handling == AbsenceHandling.open_shift
            else "It is waiting for you to decide how to cover it (Home).")
    coordinators = [m.user_id for m in team.memberships if m.role == TeamRole.coordinator and m.user_id != actor.id]
    notify(coordinators, kind="rota.absence", team_id=team.id, link=f"/#absence-{absence.id}", urgent=True,
           channels=(IN_APP, SMS), idempotency_key=f"rota.absence:{absence.id}",
           text=f"{absence.user.display_name} can't work {eligibility.describe_shift(shift)} ({team.name}). {then}")


# ------------------------------------------------------------------------------ shifts left with the coordinator


def is_held(shift: Shift) -> bool:
    return shift.state == ShiftState.open and db.session.scalar(
        select(func.count()).where(held_shift_ids().where(ShiftAbsence.shift_id == shift.id).exists())) > 0


def check_claimable(shift: Shift) -> None:
    """Refuse a claim of a shift the coordinator is still deciding about."""
    if is_held(shift):
        raise RuleViolation("The coordinator is arranging cover for this shift: it cannot be taken yet.",
                            extra={"code": "held"})


def release(shift: Shift, *, now: datetime | None = None) -> int:
    """The coordinator has decided (asked for cover, or given the shift to someone): it is no longer held."""
    rows = db.session.scalars(select(ShiftAbsence).where(ShiftAbsence.shift_id == shift.id,
                                                         ShiftAbsence.released_at.is_(None))).all()
    for row in rows:
        row.released_at = now or now_utc()
    db.session.flush()
    return len(rows)


def on_shift_changed_hands(shift, previous, user, **_) -> None:
    if user is not None:
        release(shift)


def recent(team_ids, *, now: datetime | None = None, days: int = 2) -> list[ShiftAbsence]:
    """Short-notice absences of these teams whose shift has not ended, or ended within ``days``, newest first."""
    now = now or now_utc()
    team_ids = list(team_ids)
    if not team_ids:
        return []
    return list(db.session.scalars(
        select(ShiftAbsence).join(Shift, Shift.id == ShiftAbsence.shift_id)
        .where(and_(ShiftAbsence.team_id.in_(team_ids), Shift.ends_at > now - timedelta(days=days)))
        .order_by(ShiftAbsence.reported_at.desc()).limit(20)))


# ----------------------------------------------------------------------------------------------- cut-off


def cutoff_hours(team_id: int) -> int:
    return eligibility.settings_for(team_id).cutoff_hours


def requests_closed(shift: Shift, *, now: datetime | None = None, hours: int | None = None) -> str | None:
    """Why staff can no longer swap or offer ``shift`` (the team's cut-off, or ``hours``), or None while they can."""
    now = now or now_utc()
    hours = cutoff_hours(shift.team_id) if hours is None else hours
    if shift.starts_at - now >= timedelta(hours=hours):
        return None
    return (f"Swaps and offers close {hours} hours before a shift starts. If you can't work it, use "
            "“I can't make this shift” and your coordinator is told at once.")

