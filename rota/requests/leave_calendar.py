"""A leave request's effect on cover (who else is off, the team's "at most N off", the shifts that would open and
the gaps they would leave) and the team's month leave calendar."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select

from core import timeutil
from core.accounts import Membership, Team
from core.db import db
from core.errors import ValidationFailed
from rota import cover
from rota.assignment import leave_in_team
from rota.models import Leave, LeaveKind, Shift, ShiftState
from rota.requests.models import LeaveRequest, RequestState
from rota.requests.settings import max_off


@dataclass
class DayCover:
    day: date
    off: list[str]  # names of team members already on approved leave that day
    max_off: int | None
    shifts: list[str] = field(default_factory=list)  # the person's shifts that day, which would open
    gaps: list[str] = field(default_factory=list)  # requirement clauses it would leave short

    @property
    def over_limit(self) -> bool:
        return self.max_off is not None and len(self.off) + 1 > self.max_off


def cover_effect(req: LeaveRequest) -> list[DayCover]:
    """Per day of the request: who in the team is already off, the team's "at most N off", the person's shifts that
    would open and the staffing-requirement gaps that would leave."""
    team = req.team
    members = select(Membership.user_id).where(Membership.team_id == team.id)
    leave = db.session.scalars(select(Leave).where(Leave.user_id.in_(members), Leave.user_id != req.user_id,
                                                   Leave.first_day <= req.last_day, Leave.last_day >= req.first_day,
                                                   leave_in_team(team.id))).all()
    limit = max_off(team)
    days = [req.first_day + timedelta(days=i) for i in range(req.days)]
    out = {d: DayCover(d, sorted({lv.user.display_name for lv in leave if lv.first_day <= d <= lv.last_day}), limit)
           for d in days}
    lo, hi = timeutil.day_bounds(req.first_day, req.last_day, team.timezone)
    held = db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.assignee_id == req.user_id,
                                                  Shift.state == ShiftState.scheduled, Shift.starts_at >= lo,
                                                  Shift.starts_at < hi).order_by(Shift.starts_at)).all()
    if held:
        slots = cover.load_slots(held)
        for s in held:
            d = timeutil.local_date(s.starts_at, team.timezone)
            if d not in out:
                continue
            out[d].shifts.append(f"{s.shift_type.name if s.shift_type else 'Shift'} "
                                 f"{timeutil.format_local(s.starts_at, team.timezone, '%H:%M', name_zone=False)}")
            out[d].gaps += [e.text for e in cover.effects_of([(s, None)], slots) if e.breaks]
    return [out[d] for d in days]


# ------------------------------------------------------------------------------------------------- calendar


@dataclass
class CalendarDay:
    day: date
    in_month: bool
    entries: list[tuple[str, str]]  # (name, label)


def month_calendar(team: Team, viewer, year: int, month: int) -> list[list[CalendarDay]]:
    """Weeks (Monday first) of the month with who is off each day. Everyone in the team sees colleagues' annual and
    study leave and waiting requests; only coordinators see other kinds (sickness is health data)."""
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise ValidationFailed("Choose a month from 2000 to 2100.", errors={"month": ["Out of range."]})
    first = date(year, month, 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    start = first - timedelta(days=first.weekday())
    end = last + timedelta(days=6 - last.weekday())
    manage = team.can_manage(viewer)
    members = select(Membership.user_id).where(Membership.team_id == team.id)
    stmt = select(Leave).where(Leave.user_id.in_(members), Leave.first_day <= end, Leave.last_day >= start,
                               leave_in_team(team.id))
    if not manage:
        stmt = stmt.where(Leave.kind.in_([LeaveKind.annual, LeaveKind.study]) | (Leave.user_id == viewer.id))
    by_day = defaultdict(list)
    for lv in db.session.scalars(stmt):
        label = lv.kind.value.capitalize() if manage or lv.user_id == viewer.id else "Leave"
        for i in range((min(lv.last_day, end) - max(lv.first_day, start)).days + 1):
            by_day[max(lv.first_day, start) + timedelta(days=i)].append((lv.user.display_name, label))
    pending = db.session.scalars(select(LeaveRequest).where(
        LeaveRequest.team_id == team.id, LeaveRequest.state == RequestState.pending,
        LeaveRequest.first_day <= end, LeaveRequest.last_day >= start))
    for r in pending:
        for i in range((min(r.last_day, end) - max(r.first_day, start)).days + 1):
            by_day[max(r.first_day, start) + timedelta(days=i)].append((r.user.display_name, "Asked"))
    weeks, day = [], start
    while day <= end:
        weeks.append([CalendarDay(day + timedelta(days=i), (day + timedelta(days=i)).month == month,
                                  sorted(by_day.get(day + timedelta(days=i), [])))
                      for i in range(7)])
        day += timedelta(days=7)
    return weeks
