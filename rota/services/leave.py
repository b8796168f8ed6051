"""Rota services: recording leave (opening the shifts it takes a person off) and finding leave."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, or_, select, true

from core import audit, timeutil
from core.accounts import Membership, Team, TeamRole, User
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, ValidationFailed
from notifications.service import notify
from rota import assignment
from rota.assignment import leave_in_team, set_assignee
from rota.models import (
    Leave,
    LeaveKind,
    ReleaseKind,
    Shift,
    ShiftState,
)

# ------------------------------------------------------------------------------------------------------ leave


LEAVE_CODES = {LeaveKind.annual: "AL", LeaveKind.study: "SL", LeaveKind.sickness: "S", LeaveKind.other: "U"}


def _leave_team(user: User, team: Team | None, actor) -> Team | None:
    """The team a leave record belongs to. A coordinator records leave for their own team (the one given, or the
    only team they coordinate the person in); only an administrator records trust-wide leave (``None``)."""
    if team is not None:
        if not team.can_manage(actor):
            raise Forbidden(f"Only a coordinator of {team.name} can record leave for it.")
        if user.role_in(team) is None:
            raise ValidationFailed(f"{user.display_name} is not a member of {team.name}.",
                                   errors={"user_id": ["Not a member of that team."]})
        return team
    if actor.is_admin:
        return None
    shared = [m.team for m in user.memberships if m.team.can_manage(actor)]
    if not shared:
        raise Forbidden("Only a coordinator of one of this person's teams can record their leave.")
    if len(shared) > 1:
        raise ValidationFailed("Say which of your teams this leave is for.",
                               errors={"team_id": ["Choose one of the teams you coordinate this person in."]})
    return shared[0]


def leave_overlapping(user: User, first_day: date, last_day: date, team: Team | None) -> Leave | None:
    """The person's leave shown in ``team`` (any, for trust-wide) that touches these local days."""
    return db.session.scalar(select(Leave).where(Leave.user_id == user.id, Leave.first_day <= last_day,
                                                 Leave.last_day >= first_day,
                                                 leave_in_team(team.id) if team is not None else true())
                             .limit(1))


def add_leave_record(user: User, *, kind: str | LeaveKind, first_day: date, last_day: date, actor,
                     team: Team | None, note: str | None = None) -> Leave:
    """Insert one leave record (checked: days in order, at most a year, no overlap) and audit it. Who may record it
    is the caller's business: a coordinator (``record_leave``) or the person themself (``rota.swaps.absence``)."""
    if last_day < first_day:
        raise ValidationFailed("The last day is before the first day.", errors={"last_day": ["Before first_day."]})
    if (last_day - first_day).days > 366:
        raise ValidationFailed("Record at most a year of leave at a time.", errors={"last_day": ["Too long."]})
    clash = leave_overlapping(user, first_day, last_day, team)
    if clash is not None:
        raise Conflict(f"{user.display_name} already has leave recorded {clash.first_day:%d %b}–"
                       f"{clash.last_day:%d %b %Y}.", extra={"code": "leave_overlap", "leave_id": clash.id})
    leave = Leave(user_id=user.id, team_id=team.id if team else None, kind=LeaveKind(kind), first_day=first_day,
                  last_day=last_day, note=note, created_by_id=actor.id)
    db.session.add(leave)
    db.session.flush()
    audit.record("leave.recorded", actor=actor, entity=leave, team_id=team.id if team else None,
                 summary={"user_id": user.id, "days": (last_day - first_day).days + 1})
    for hook in assignment.AFTER_LEAVE:
        hook(leave)
    return leave


def record_leave(user: User, *, kind: str | LeaveKind, first_day: date, last_day: date, actor,
                 team: Team | None = None, note: str | None = None) -> tuple[Leave, list[Shift]]:
    """Record approved leave or sickness for ``team`` (trust-wide when an administrator gives no team). The
    person's shifts in that team (every team, for trust-wide leave) on those days become open shifts (through
    set_assignee, so feeds and audit see it) and that team's coordinators are told — never silently. Another
    team's shifts and records are never touched: a coordinator's power over a person stops at their own team."""

    team = _leave_team(user, team, actor)
    leave = add_leave_record(user, kind=kind, first_day=first_day, last_day=last_day, actor=actor, team=team,
                             note=note)
    # Widen by a day each side in UTC, then keep only shifts touching the leave's local days in their team's zone.
    lo = datetime.combine(first_day - timedelta(days=2), time.min).replace(tzinfo=now_utc().tzinfo)
    hi = datetime.combine(last_day + timedelta(days=2), time.min).replace(tzinfo=now_utc().tzinfo)
    candidates = db.session.scalars(select(Shift).where(Shift.assignee_id == user.id,
                                                        Shift.state == ShiftState.scheduled,
                                                        Shift.team_id == team.id if team is not None else true(),
                                                        Shift.starts_at < hi, Shift.ends_at > lo)
                                    .order_by(Shift.starts_at)).all()
    opened = []
    for s in candidates:
        tz = s.team.timezone
        first, last = timeutil.local_date(s.starts_at, tz), timeutil.local_date(s.ends_at - timedelta(seconds=1), tz)
        if first <= last_day and last >= first_day:
            set_assignee(s, None, actor=actor, kind=ReleaseKind.leave, reason="Unavailable (leave)")
            opened.append(s)
    by_team = defaultdict(list)
    for s in opened:
        by_team[s.team].append(s)
    for t, shifts in by_team.items():
        coordinators = [m.user_id for m in t.memberships if m.role == TeamRole.coordinator]
        notify(coordinators, kind="rota.leave_opened", team_id=t.id, link=f"/teams/{t.id}/rota?open=1",
               text=f"{user.display_name} is unavailable {first_day:%d %b}–{last_day:%d %b}: "
                    f"{len(shifts)} shift(s) are now open and need cover.",
               idempotency_key=f"rota.leave_opened:{leave.id}:{t.id}")
    return leave, opened


def leave_query(viewer, *, user_id=None, team_id=None, start=None, end=None):
    """Leave ``viewer`` may read: their own; a coordinator the records of the teams they coordinate and trust-wide
    records of those teams' members (never another team's record: sickness is health data, and that team's
    business); administrators everything. ``team_id`` keeps the leave that counts in that team."""
    stmt = select(Leave).order_by(Leave.first_day, Leave.id)
    if not viewer.is_admin:
        managed = viewer.managed_team_ids or {0}
        colleagues = select(Membership.user_id).where(Membership.team_id.in_(managed))
        stmt = stmt.where(or_(Leave.user_id == viewer.id, Leave.team_id.in_(managed),
                              and_(Leave.team_id.is_(None), Leave.user_id.in_(colleagues))))
    if user_id is not None:
        stmt = stmt.where(Leave.user_id == user_id)
    if team_id is not None:
        stmt = stmt.where(Leave.user_id.in_(select(Membership.user_id).where(Membership.team_id == team_id)),
                          leave_in_team(team_id))
    if start is not None:
        stmt = stmt.where(Leave.last_day >= start)
    if end is not None:
        stmt = stmt.where(Leave.first_day <= end)
    return stmt
