"""Rota services: the team grid and *My shifts*.

``GRID_CELL_HOOKS``: ``fn(team, cells) -> None`` called with every :class:`GridCell` of a team grid before it is
rendered; a hook may append short strings to ``cell.markers``.

``PEOPLE_STAMPS``: ``fn(user_ids, lo, hi) -> tuple`` (at most one, ``rota.feeds.stamps.people_stamps``): a value that
changes with every committed write to those people's shifts starting in [lo, hi) (in any team), their leave, their
teams' shift types, zones and memberships. What is worked out from those rows alone may be kept under it; with no
hook registered nothing is kept."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cache
from operator import itemgetter

from sqlalchemy import Integer, String, and_, bindparam, cast, func, or_, select, union_all
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import aliased

from core import timeutil
from core.accounts import Membership, Team, TeamRole, User, doctor_in_training, grade_rank, load_membership_teams
from core.db import UTCInstants, core_rows, day_before, db, now_utc, raw_instant
from core.errors import ValidationFailed
from core.kept import kept
from rota import cover
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
from rota.services.gaps import compute_gaps, gap_start, opening_requirements
from rota.services.shifts import shaped_shifts_query

GRID_CELL_HOOKS: list[Callable] = []
PEOPLE_STAMPS: list[Callable] = []


# ------------------------------------------------------------------------------------------------- the grid


@dataclass(slots=True)
class GridShift:
    """What the grid shows of a shift, read as plain columns (no ORM object per cell); ``shift_type`` is the
    team's :class:`ShiftType` (or None)."""
    id: int
    shift_type_id: int | None
    starts_at: datetime
    ends_at: datetime
    assignee_id: int | None
    state: ShiftState
    rota_period_id: int | None
    required_grade: str | None
    shift_type: ShiftType | None = None

    COLUMNS = (Shift.id, Shift.shift_type_id, raw_instant(Shift.starts_at), raw_instant(Shift.ends_at),
               Shift.assignee_id, Shift.state, Shift.rota_period_id, Shift.required_grade)  # instants: UTCInstants


@dataclass(slots=True)
class GridPerson:
    """What the grid (and its cover count) needs of a person, read as plain columns."""
    id: int
    display_name: str
    grade: str | None
    staff_group: object  # StaffGroup
    skills: list

    COLUMNS = (User.id, User.display_name, User.grade, User.staff_group, User.skills)

    @property
    def is_doctor_in_training(self) -> bool:  # which working-time rules apply (the grid's markers)
        return doctor_in_training(self.staff_group, self.grade)


@dataclass(slots=True)
class GridLeave:
    user_id: int
    kind: object  # LeaveKind
    first_day: date
    last_day: date


@dataclass
class GridCell:
    user: GridPerson | None  # None for the open-shifts row
    day: date
    shifts: list = field(default_factory=list)  # GridShift
    leave: GridLeave | None = None
    markers: list = field(default_factory=list)  # short strings added by GRID_CELL_HOOKS (e.g. rule verdicts)


@dataclass
class GridRow:
    user: GridPerson | None
    role: TeamRole | None
    cells: list


@dataclass
class DayCoverage:
    day: date
    gaps: list  # Gap
    status: str  # "ok" | "open" (unmet but advertised) | "short" | "none" (no requirements)

    @property
    def to_open(self) -> int:
        """Places that "Open all gaps" would open on this day (missing, shift not started)."""
        return sum(g.missing for g in self.gaps if not g.started)


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
    page: int = 1
    pages: int = 1
    people: int = 0
    offset: int = 0  # people on earlier pages

    def weeks_to_open(self) -> list[tuple[date, date, int]]:
        """(first day, last day, places) of each shown week with gaps that "Open all gaps" would open."""
        out = []
        for i in range(0, len(self.coverage), 7):
            week = self.coverage[i:i + 7]
            n = sum(c.to_open for c in week)
            if n:
                out.append((week[0].day, week[-1].day, n))
        return out

    @property
    def cells(self):
        for row in self.rows:
            yield from row.cells
        yield from self.open_row.cells

    def for_request(self, team: Team) -> Grid:
        """This grid for one request: the request's own team row, cells (the hooks add markers to them) and gaps
        (each learns whether it has started); the shifts, people and leave in them are shared."""
        def row(r):
            return GridRow(r.user, r.role, [GridCell(c.user, c.day, c.shifts, c.leave, []) for c in r.cells])

        return replace(self, team=team, rows=[row(r) for r in self.rows], open_row=row(self.open_row),
                       coverage=[DayCoverage(c.day, [replace(g) for g in c.gaps], c.status) for c in self.coverage])


@dataclass(slots=True)
class _CoverRow:
    """Shifts of one type starting at one instant, held by ``n`` people alike for cover (staff group, grade,
    skills: the ``assignee_id`` is that kind of person, for :func:`compute_gaps`), or one unassigned shift."""
    id: int | None
    shift_type_id: int | None
    starts_at: datetime
    state: ShiftState
    assignee_id: tuple | None
    n: int = 1


class _Holders(dict):
    """``compute_gaps``' people, looked up by the kind of person a :class:`_CoverRow` stands for."""

    def __missing__(self, key):
        staff_group, grade, skills = key
        return GridPerson(0, "", grade, staff_group, json.loads(skills) if isinstance(skills, str) else skills)


def _cover_rows(in_window, draft) -> list:
    """The whole team's shifts in the window as the cover count needs them, counted by the database: a row per
    shift type, start and kind of holder (a few hundred for a 1,000-person ward) plus each unassigned shift, in one
    statement (the unassigned ones carry their id and no kind of holder)."""
    skills = cast(User.skills, String)
    held = (select(cast(None, Integer).label("sid"), Shift.shift_type_id, Shift.starts_at, Shift.state,
                   Shift.rota_period_id, User.staff_group, User.grade, skills.label("skills"), func.count())
            .join(User, User.id == Shift.assignee_id).where(*in_window)
            .group_by(Shift.shift_type_id, Shift.starts_at, Shift.state, Shift.rota_period_id, User.staff_group,
                      User.grade, skills))
    free = select(Shift.id, Shift.shift_type_id, Shift.starts_at, Shift.state, Shift.rota_period_id, None, None, None,
                  1).where(*in_window, Shift.assignee_id.is_(None))
    return [_CoverRow(sid, st, starts, state, None if sid is not None else (group, grade, skills), n)
            for sid, st, starts, state, period, group, grade, skills, n in db.session.execute(union_all(held, free))
            if period not in draft]


GRID_PAGE_ROWS = 50  # people per page of the grid: what a coordinator sees at once, whatever the team's size


KEPT_GRIDS = 64  # grid pages each process keeps (a few hundred cells each)


def team_grid(team: Team, first_day: date, days: int, *, viewer=None, page: int = 1,
              per_page: int = GRID_PAGE_ROWS) -> Grid:
    """One row per member (``per_page`` of them, page ``page`` in grid order), one column per local day; the
    open-shifts row; coverage per day (of the whole team). The number of SQL queries does not depend on the team's
    size, and the work for the rows does not either: only the shown people's shifts become objects; coverage reads
    plain columns of everyone's.

    Kept per process under the team's change stamp (``rota.cover.TEAM_STAMPS``): everything the grid is read from —
    the team's shifts, gap openings and releases, shift types, rota periods, staffing requirements and memberships,
    its people's names, groups, grades, skills and leave — moves that stamp when it changes
    (``rota.feeds.stamps``), so a grid opened again with nothing changed reads one stamp row instead of a dozen
    statements (``tests/rota/test_grid_kept.py``). The stamp is read before the rows: a write committed in between
    is kept under the older stamp, which no later request reads again. The markers (``GRID_CELL_HOOKS``) and whether
    each gap's shift has started are worked out for every request."""
    if days not in (7, 14, 28):
        raise ValidationFailed("Show 7, 14 or 28 days.", errors={"days": ["7, 14 or 28."]})
    manage = viewer is None or team.can_manage(viewer)
    stamps = cover.TEAM_STAMPS[-1]({team.id}) if cover.TEAM_STAMPS else None  # None: not now (pending writes)

    def read():
        return _read_grid(team, first_day, days, manage, page, per_page)

    base = read() if stamps is None else kept("kept_grids", (team.id, first_day, days, page, per_page, manage),
                                              stamps.get(team.id), read, KEPT_GRIDS)
    grid = base.for_request(team)
    now = now_utc()
    for day in grid.coverage:
        for g in day.gaps:
            g.started = gap_start(team, g.shift_type, g.day) <= now
    flat = list(grid.cells)
    for hook in GRID_CELL_HOOKS:
        hook(team, flat)
    return grid


def _detached(row):
    """A copy of a row's columns that belongs to no session: a kept grid's shift types, periods and requirements are
    shared by requests on other threads and sessions, so they must never be refreshed or lazily loaded."""
    mapper = sa_inspect(row).mapper
    return mapper.class_(**{attr.key: getattr(row, attr.key) for attr in mapper.column_attrs})


def _read_grid(team: Team, first_day: date, days: int, manage: bool, page: int, per_page: int) -> Grid:
    """:func:`team_grid` as read from the database, before the markers (plain rows and detached copies only)."""
    tz = timeutil.zone(team.timezone)
    day_list = [first_day + timedelta(days=i) for i in range(days)]
    last_day = day_list[-1]
    lo, hi = timeutil.day_bounds(first_day, last_day, tz)
    members = db.session.execute(select(Membership.role, *GridPerson.COLUMNS).join(User, User.id == Membership.user_id)
                                 .where(Membership.team_id == team.id)).all()
    users = {m.id: GridPerson(*m[1:]) for m in members}
    types = {st.id: _detached(st) for st in db.session.scalars(select(ShiftType).where(ShiftType.team_id == team.id))}
    team_periods = [_detached(p) for p in db.session.scalars(select(RotaPeriod).where(RotaPeriod.team_id == team.id)
                                                             .order_by(RotaPeriod.first_day))]
    in_window = (Shift.team_id == team.id, Shift.starts_at >= lo, Shift.starts_at < hi,
                 Shift.state != ShiftState.cancelled)
    draft = set() if manage else {p.id for p in team_periods if p.state == PeriodState.draft}
    everyone = _cover_rows(in_window, draft)
    extra = set(db.session.scalars(select(Shift.assignee_id).distinct().where(
        *in_window, Shift.assignee_id.is_not(None),
        Shift.assignee_id.not_in(select(Membership.user_id).where(Membership.team_id == team.id).scalar_subquery()))))
    if extra:  # former members still holding shifts
        users.update({r.id: GridPerson(*r) for r in db.session.execute(select(*GridPerson.COLUMNS)
                                                                         .where(User.id.in_(extra)))})
    roles = {m.id: m.role for m in members}

    def sort_key(uid):
        u = users[uid]
        return (u.staff_group.value, -grade_rank(u.grade), u.display_name)

    ordered = sorted(users, key=sort_key)
    pages = max(1, -(-len(ordered) // per_page))
    page = min(max(1, page), pages)
    shown = ordered[(page - 1) * per_page:page * per_page]
    instants = UTCInstants()  # the ward's shifts start and end at a few dozen instants: each converted once
    shifts = [GridShift(sid, st, instants[starts], instants[ends], who, state, period, grade, types.get(st))
              for sid, st, starts, ends, who, state, period, grade in db.session.execute(
                  select(*GridShift.COLUMNS).where(*in_window, or_(Shift.assignee_id.in_(shown or [0]),
                                                                    Shift.assignee_id.is_(None)))
                  .order_by(Shift.starts_at)) if period not in draft]
    leave = db.session.execute(select(Leave.user_id, Leave.kind, Leave.first_day, Leave.last_day).where(
        Leave.user_id.in_(shown or [0]), leave_in_team(team.id), Leave.first_day <= last_day,
        Leave.last_day >= first_day)).all()
    reqs = [_detached(r) for r in db.session.scalars(select(StaffingRequirement)
                                                     .where(StaffingRequirement.team_id == team.id))]
    for r in reqs:
        r.shift_type = types.get(r.shift_type_id)
    openings = opening_requirements(everyone, reqs)

    cells: dict = {}
    for uid in shown:
        for d in day_list:
            cells[(uid, d)] = GridCell(users[uid], d)
    open_cells = {d: GridCell(None, d) for d in day_list}
    day_of: dict = {}  # many shifts start at the same instant: each local day is worked out once
    for s in shifts:
        d = day_of.get(s.starts_at)
        if d is None:
            d = day_of[s.starts_at] = timeutil.local_date(s.starts_at, tz)
        if s.assignee_id:
            cells[(s.assignee_id, d)].shifts.append(s)
        else:
            open_cells[d].shifts.append(s)
    for lv in (GridLeave(*r) for r in leave):
        for d in day_list:
            if lv.first_day <= d <= lv.last_day:
                cells[(lv.user_id, d)].leave = lv

    rows = [GridRow(users[uid], roles.get(uid), [cells[(uid, d)] for d in day_list]) for uid in shown]
    open_row = GridRow(None, None, [open_cells[d] for d in day_list])
    gaps = compute_gaps(day_list, reqs, everyone, _Holders(), openings, tz)
    coverage = []
    for d in day_list:
        g = [x for x in gaps if x.day == d]
        has_req = any(r.weekday is None or r.weekday == d.weekday() for r in reqs)
        status = "none" if not has_req else "ok" if not g else "open" if all(x.missing == 0 for x in g) else "short"
        coverage.append(DayCoverage(d, g, status))
    period = next((p for p in team_periods if p.first_day <= first_day <= p.last_day), None)
    return Grid(None, day_list, rows, open_row, coverage, sorted(types.values(), key=lambda t: t.start_local),
                period, team_periods, page, pages, len(ordered), (page - 1) * per_page)


# --------------------------------------------------------------------------------------------- my shifts


@dataclass(slots=True)
class MyShiftRow:
    """What My shifts and the home page show of one of the person's shifts, read as plain columns with its team's
    name and zone and its type's code and name (None for a shift of no type): no ORM objects. It has what the
    writers of ``rota.my_shift_cards.MY_SHIFT_ACTIONS`` read of a shift (id, team, times, assignee, state)."""
    id: int
    team_id: int
    shift_type_id: int | None
    starts_at: datetime
    ends_at: datetime
    assignee_id: int | None
    state: ShiftState
    team_name: str
    timezone: str
    type_code: str | None
    type_name: str | None

    COLUMNS = (Shift.id, Shift.team_id, Shift.shift_type_id, Shift.starts_at, Shift.ends_at, Shift.assignee_id,
               Shift.state, Team.name, Team.timezone, ShiftType.code, ShiftType.name)


@dataclass
class MyShift:
    shift: MyShiftRow
    # who works alongside, by name: rows (shift id, colleague's id, name), also read as ``.id``, ``.display_name``
    colleagues: list


_MY_SHIFTS: dict = {}  # shape of the person's visibility -> the statement of their coming shifts, built once


def _my_shifts_page(stmt):
    return (stmt.with_only_columns(*MyShiftRow.COLUMNS, maintain_column_froms=True)
            .join(Team, Team.id == Shift.team_id).outerjoin(ShiftType, ShiftType.id == Shift.shift_type_id)
            .where(Shift.state == ShiftState.scheduled).limit(bindparam("limit", type_=Integer)))


@cache
def _colleagues_query():
    """Colleagues on at the same time as each of the person's shifts, paired by the database (built once): the
    team's shifts that started at most a day before mine (no shift is longer: a database constraint) and overlap
    it, so the (team_id, starts_at) index reads about a day per shift of mine; only their id and name come back (no
    instants to convert), as rows that serve as the colleagues (``id``, ``display_name``) as they are."""
    theirs = aliased(Shift)
    return (select(Shift.id.label("shift_id"), User.id, User.display_name)
            .join(theirs, and_(theirs.team_id == Shift.team_id, theirs.starts_at >= day_before(Shift.starts_at),
                               theirs.starts_at < Shift.ends_at, theirs.ends_at > Shift.starts_at))
            .join(User, User.id == theirs.assignee_id)
            .where(Shift.id.in_(bindparam("mine", expanding=True)), theirs.state == ShiftState.scheduled,
                   theirs.assignee_id != bindparam("user_id")))


def next_shifts(user: User, *, limit: int = 14, now: datetime | None = None) -> list[MyShift]:
    """The person's next published shifts (not yet ended), each with colleagues working at the same time. Two
    queries whatever the team's size, both built once per process: the shifts as plain rows (``MyShiftRow``), and
    the colleagues paired with them (shift id, colleague's id and name only). What the person may see is decided
    from their memberships, read with their teams (``load_membership_teams``): the page's menu names those teams."""
    load_membership_teams(user)
    stmt, values = shaped_shifts_query(_MY_SHIFTS, _my_shifts_page, user, person_id=user.id, start=now or now_utc())
    # all(): one fetch of every row, not a fetch a row
    mine = [MyShiftRow(*row) for row in core_rows(stmt, {**values, "limit": limit}).all()]
    if not mine:
        return []
    mates = defaultdict(dict)
    for row in core_rows(_colleagues_query(), {"mine": [s.id for s in mine], "user_id": user.id}).all():
        mates[row[0]][row[1]] = row  # (shift id, colleague id, name)
    by_name = itemgetter(2)  # a row's attributes cost ten times its indexes
    return [MyShift(s, sorted(mates[s.id].values(), key=by_name)) for s in mine]


def shift_line(s: MyShiftRow) -> str:
    """"Sun 06 Dec N 19:30–08:00 · Ward 7" in the team's zone."""
    start, end = timeutil.to_local(s.starts_at, s.timezone), timeutil.to_local(s.ends_at, s.timezone)
    code = s.type_code + " " if s.type_code is not None else ""
    return f"{start:%a %d %b} {code}{start:%H:%M}–{end:%H:%M} · {s.team_name}"
