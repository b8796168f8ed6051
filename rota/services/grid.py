"""Rota services: the team grid and *My shifts*.

``GRID_CELL_HOOKS``: ``fn(team, cells) -> None`` called with every :class:`GridCell` of a team grid before it is
rendered; a hook may append short strings to ``cell.markers``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from core import timeutil
from core.accounts import Membership, Team, TeamRole, User, grade_rank
from core.db import db, now_utc
from core.errors import ValidationFailed
from rota.assignment import leave_in_team
from rota.models import (
    Leave,
    PeriodState,
    RotaPeriod,
    Shift,
    ShiftState,
    ShiftType,
    StaffingRequirement,
)
from rota.services.gaps import compute_gaps, opening_requirements
from rota.services.shifts import shifts_query

GRID_CELL_HOOKS: list[Callable] = []


# ------------------------------------------------------------------------------------------------- the grid


@dataclass
class GridCell:
    user: User | None  # None for the open-shifts row
    day: date
    shifts: list = field(default_factory=list)
    leave: Leave | None = None
    markers: list = field(default_factory=list)  # short strings added by GRID_CELL_HOOKS (e.g. rule verdicts)


@dataclass
class GridRow:
    user: User | None
    role: TeamRole | None
    cells: list


@dataclass
class DayCoverage:
    day: date
    gaps: list  # Gap
    status: str  # "ok" | "open" (unmet but advertised) | "short" | "none" (no requirements)


@dataclass
class Grid:
    team: Team
    days: list
    rows: list
    open_row: GridRow
    coverage: list
    types: list
    period: RotaPeriod | None
    periods: list

    @property
    def cells(self):
        for row in self.rows:
            yield from row.cells
        yield from self.open_row.cells


def team_grid(team: Team, first_day: date, days: int, *, viewer=None) -> Grid:
    """One row per member, one column per local day; the open-shifts row; coverage per day. The number of SQL
    queries does not depend on the team's size (everything is loaded in bulk and joined in memory)."""
    if days not in (7, 14, 28):
        raise ValidationFailed("Show 7, 14 or 28 days.", errors={"days": ["7, 14 or 28."]})
    tz = timeutil.zone(team.timezone)
    day_list = [first_day + timedelta(days=i) for i in range(days)]
    last_day = day_list[-1]
    lo, hi = timeutil.day_bounds(first_day, last_day, tz)
    members = list(db.session.scalars(select(Membership).options(joinedload(Membership.user))
                                      .where(Membership.team_id == team.id)))
    users = {m.user_id: m.user for m in members}
    types = {st.id: st for st in db.session.scalars(select(ShiftType).where(ShiftType.team_id == team.id))}
    team_periods = list(db.session.scalars(select(RotaPeriod).where(RotaPeriod.team_id == team.id)
                                           .order_by(RotaPeriod.first_day)))
    shifts = list(db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.starts_at >= lo,
                                                         Shift.starts_at < hi, Shift.state != ShiftState.cancelled)
                                     .order_by(Shift.starts_at)))
    extra = {s.assignee_id for s in shifts if s.assignee_id and s.assignee_id not in users}
    if extra:  # former members still holding shifts
        users.update({u.id: u for u in db.session.scalars(select(User).where(User.id.in_(extra)))})
    manage = viewer is None or team.can_manage(viewer)
    if not manage:
        draft = {p.id for p in team_periods if p.state == PeriodState.draft}
        shifts = [s for s in shifts if s.rota_period_id not in draft]
    leave = list(db.session.scalars(select(Leave).where(Leave.user_id.in_(list(users) or [0]), leave_in_team(team.id),
                                                        Leave.first_day <= last_day, Leave.last_day >= first_day)))
    reqs = list(db.session.scalars(select(StaffingRequirement).where(StaffingRequirement.team_id == team.id)))
    for r in reqs:
        r.shift_type = types.get(r.shift_type_id)
    openings = opening_requirements(shifts)

    cells: dict = {}
    for uid in users:
        for d in day_list:
            cells[(uid, d)] = GridCell(users[uid], d)
    open_cells = {d: GridCell(None, d) for d in day_list}
    for s in shifts:
        d = timeutil.local_date(s.starts_at, tz)
        if s.assignee_id:
            cells[(s.assignee_id, d)].shifts.append(s)
        else:
            open_cells[d].shifts.append(s)
    for lv in leave:
        for d in day_list:
            if lv.first_day <= d <= lv.last_day:
                cells[(lv.user_id, d)].leave = lv
    roles = {m.user_id: m.role for m in members}

    def sort_key(uid):
        u = users[uid]
        return (u.staff_group.value, -grade_rank(u.grade), u.display_name)

    rows = [GridRow(users[uid], roles.get(uid), [cells[(uid, d)] for d in day_list])
            for uid in sorted(users, key=sort_key)]
    open_row = GridRow(None, None, [open_cells[d] for d in day_list])
    gaps = compute_gaps(day_list, reqs, shifts, users, openings, tz)
    coverage = []
    for d in day_list:
        g = [x for x in gaps if x.day == d]
        has_req = any(r.weekday is None or r.weekday == d.weekday() for r in reqs)
        status = "none" if not has_req else "ok" if not g else "open" if all(x.missing == 0 for x in g) else "short"
        coverage.append(DayCoverage(d, g, status))
    period = next((p for p in team_periods if p.first_day <= first_day <= p.last_day), None)
    grid = Grid(team, day_list, rows, open_row, coverage, sorted(types.values(), key=lambda t: t.start_local),
                period, team_periods)
    flat = list(grid.cells)
    for hook in GRID_CELL_HOOKS:
        hook(team, flat)
    return grid


# --------------------------------------------------------------------------------------------- my shifts


@dataclass
class MyShift:
    shift: Shift
    colleagues: list  # User


def next_shifts(user: User, *, limit: int = 14, now: datetime | None = None) -> list[MyShift]:
    """The person's next published shifts (not yet ended), each with colleagues working at the same time."""
    now = now or now_utc()
    mine = list(db.session.scalars(shifts_query(user, person_id=user.id, start=now)
                                   .where(Shift.state == ShiftState.scheduled).limit(limit)))
    if not mine:
        return []
    lo, hi = min(s.starts_at for s in mine), max(s.ends_at for s in mine)
    team_ids = {s.team_id for s in mine}
    others = list(db.session.scalars(select(Shift).options(joinedload(Shift.assignee))
                                     .where(Shift.team_id.in_(team_ids), Shift.state == ShiftState.scheduled,
                                            Shift.assignee_id != user.id, Shift.starts_at < hi, Shift.ends_at > lo)
                                     .order_by(Shift.starts_at)))
    out = []
    for s in mine:
        mates = [o.assignee for o in others if o.team_id == s.team_id and o.starts_at < s.ends_at
                 and o.ends_at > s.starts_at]
        out.append(MyShift(s, sorted({u.id: u for u in mates}.values(), key=lambda u: u.display_name)))
    return out


def next_shift_lines(user: User, limit: int = 3) -> list[str]:
    lines = []
    for item in next_shifts(user, limit=limit):
        s = item.shift
        start, end = timeutil.to_local(s.starts_at, s.team.timezone), timeutil.to_local(s.ends_at, s.team.timezone)
        code = s.shift_type.code + " " if s.shift_type else ""
        lines.append(f"{start:%a %d %b} {code}{start:%H:%M}–{end:%H:%M} · {s.team.name}")
    return lines
