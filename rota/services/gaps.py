"""Rota services: gaps (requirements not met by the shifts on the rota) and opening a shift for one."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from core import audit, events, timeutil
from core.accounts import Team, User
from core.db import db, now_utc
from core.errors import Conflict, NotFound, RuleViolation, ValidationFailed
from rota import cover
from rota.models import (
    GapOpening,
    Shift,
    ShiftState,
    ShiftType,
    StaffingRequirement,
)
from rota.services.access import require_manage
from rota.services.shift_types import requirement_label
from rota.services.shifts import MAX_RANGE_DAYS, add_shift
from rota.skillmix import GROUP_FLOOR, meets

# ------------------------------------------------------------------------------------------------------ gaps


@dataclass
class Gap:
    day: date
    shift_type: ShiftType
    requirement: StaffingRequirement
    have: int  # assigned staff who count towards the clause
    open_count: int  # open shifts already advertised for it
    missing: int  # places still neither filled nor advertised
    started: bool = False  # its shift has begun (a day gone by): nothing can be opened for it any more

    @property
    def label(self) -> str:
        return requirement_label(self.requirement)

    @property
    def unmet(self) -> int:
        return max(0, self.requirement.min_count - self.have)


def compute_gaps(days, reqs, shifts, users, openings, tz) -> list[Gap]:
    """Pure: requirement clauses vs assigned staff, per local day. ``openings`` maps shift id -> requirement id. A
    shift row may stand for ``n`` alike shifts (the grid counts them in the database)."""
    by_type_day = defaultdict(list)
    for s in shifts:
        if s.state != ShiftState.cancelled and s.shift_type_id is not None:
            by_type_day[(s.shift_type_id, timeutil.local_date(s.starts_at, tz))].append(s)
    out = []
    for day in days:
        for req in reqs:
            if req.weekday is not None and req.weekday != day.weekday():
                continue
            on = by_type_day.get((req.shift_type_id, day), [])
            have = sum(getattr(s, "n", 1) for s in on if s.assignee_id and meets(users[s.assignee_id], req))
            advertised = sum(1 for s in on if s.state == ShiftState.open and req.id in openings.get(s.id, ()))
            missing = req.min_count - have - advertised
            if have < req.min_count:
                out.append(Gap(day, req.shift_type, req, have, advertised, max(0, missing)))
    return out


def _users_for(shifts) -> dict:
    ids = {s.assignee_id for s in shifts if s.assignee_id}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids or {0})))}


def gaps_for(team: Team, start: date, end: date) -> list[Gap]:
    """Unmet staffing requirements of ``team`` for each local day from ``start`` to ``end`` inclusive."""
    if (end - start).days >= MAX_RANGE_DAYS or end < start:
        raise ValidationFailed("Ask for at most 60 weeks, with 'to' on or after 'from'.",
                               errors={"to": ["At most 60 weeks after 'from'."]})
    reqs = list(db.session.scalars(select(StaffingRequirement).options(joinedload(StaffingRequirement.shift_type))
                                   .where(StaffingRequirement.team_id == team.id)))
    lo, hi = timeutil.day_bounds(start, end, team.timezone)
    shifts = list(db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.starts_at >= lo,
                                                         Shift.starts_at < hi, Shift.state != ShiftState.cancelled)))
    openings = opening_requirements(shifts, reqs)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return compute_gaps(days, reqs, shifts, _users_for(shifts), openings, timeutil.zone(team.timezone))


def opening_requirements(shifts, reqs) -> dict[int, set[int]]:
    """Open shift id -> the requirements it is already a place for (``cover.place_for``): the one it was opened for,
    or, for a shift given up (a nurse off sick), every clause its last holder counted towards, so the hole she left
    is advertised once, not shown again as a gap to open."""
    open_shifts = {s.id: s for s in shifts if s.state == ShiftState.open and s.id is not None}
    if not open_shifts:
        return {}
    openings, released = cover.openings_and_holders(open_shifts)
    released = {sid: uid for sid, uid in released.items() if sid not in openings}
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(set(released.values()))))} \
        if released else {}
    out = {}
    for sid, s in open_shifts.items():
        applicable = [r for r in reqs if r.shift_type_id == s.shift_type_id]
        place = cover.place_for(sid, applicable, openings, released, people)
        if place:
            out[sid] = place
    return out


def gap_start(team: Team, shift_type: ShiftType, day: date) -> datetime:
    """When the shift that would fill a gap of ``shift_type`` on local ``day`` starts."""
    return timeutil.shift_instants(day, shift_type.start_local, shift_type.duration_minutes, team.timezone)[0]


def refuse_if_started(team: Team, shift_type: ShiftType, day: date, now: datetime | None = None) -> None:
    if gap_start(team, shift_type, day) <= (now or now_utc()):
        raise RuleViolation(f"The {shift_type.name} of {day:%a %d %b} has already started: a gap can only be opened "
                            "for a shift still to come.", extra={"code": "started"})


def open_gap(team: Team, *, requirement: StaffingRequirement, day: date, actor, now: datetime | None = None) -> Shift:
    """Turn one missing place of a gap into an open shift that eligible staff can claim (not for a shift that has
    already started: a day gone by is refused)."""
    require_manage(team, actor)
    if requirement.team_id != team.id:
        raise NotFound(f"No requirement with id {requirement.id} in this team.")
    refuse_if_started(team, requirement.shift_type, day, now)
    gap = next((g for g in gaps_for(team, day, day) if g.requirement.id == requirement.id), None)
    if gap is None or gap.missing <= 0:
        raise Conflict("That gap is already filled or advertised as an open shift.", extra={"code": "no_gap"})
    grade = requirement.min_grade or GROUP_FLOOR.get(requirement.staff_group or "")
    shift = add_shift(team, actor=actor, shift_type=requirement.shift_type, day=day, required_grade=grade,
                      required_skills=[requirement.skill] if requirement.skill else [])
    db.session.add(GapOpening(shift_id=shift.id, requirement_id=requirement.id, day=day))
    db.session.flush()
    audit.record("gap.opened", actor=actor, entity=shift, summary={"requirement_id": requirement.id})
    events.emit("shift.opened", shift=shift)
    return shift
