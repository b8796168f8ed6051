"""Rota services: adding, assigning, editing and cancelling shifts, and which shifts a person may see."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache

from sqlalchemy import Integer, and_, bindparam, func, or_, select
from sqlalchemy.orm import aliased

from core import audit, timeutil
from core.accounts import GRADES, Membership, Team, TeamRole, User
from core.db import db
from core.errors import Conflict, ValidationFailed
from core.limits import MAX_SHIFT, MAX_SHIFT_HOURS
from rota import assignment, cover
from rota.assignment import check_holder, set_assignee
from rota.models import (
    PeriodState,
    ReleaseKind,
    RotaPeriod,
    Shift,
    ShiftState,
    ShiftType,
)
from rota.services.access import require_manage, require_member

MAX_RANGE_DAYS = 7 * 60


# ---------------------------------------------------------------------------------------------------- shifts


def local_day(shift: Shift, tz=None):
    return timeutil.local_date(shift.starts_at, tz or shift.team.timezone)


def check_shift_times(starts_at: datetime, ends_at: datetime, *, field: str = "ends_at") -> None:
    """The one shift-length rule: the rota and the what-if (compliance check) API both ask here."""
    if ends_at <= starts_at:
        raise ValidationFailed("A shift must end after it starts.", errors={field: ["Must be after the start."]})
    if ends_at - starts_at > MAX_SHIFT:
        raise ValidationFailed(f"A shift can last at most {MAX_SHIFT_HOURS} hours.",
                               errors={field: [f"At most {MAX_SHIFT_HOURS} h after the start."]})


def period_for(team: Team, day: date) -> RotaPeriod | None:
    return db.session.scalar(select(RotaPeriod).where(RotaPeriod.team_id == team.id, RotaPeriod.first_day <= day,
                                                      RotaPeriod.last_day >= day).limit(1))


def add_shift(team: Team, *, actor, shift_type: ShiftType | None = None, day: date | None = None,
              starts_at: datetime | None = None, ends_at: datetime | None = None, assignee: User | None = None,
              required_grade: str | None = None, required_skills=(), note: str | None = None,
              override_reason: str | None = None) -> Shift:
    """A shift from a shift type worked on local ``day``, or from explicit instants; open unless ``assignee``."""
    require_manage(team, actor)
    if starts_at is None:
        if shift_type is None or day is None:
            raise ValidationFailed("Give a shift type and a day, or a start and an end.",
                                   errors={"starts_at": ["Give a start time, or a shift type and a day."]})
        starts_at, ends_at = timeutil.shift_instants(day, shift_type.start_local, shift_type.duration_minutes,
                                                     team.timezone, field="date")
    elif ends_at is None:
        if shift_type is None:
            raise ValidationFailed("Give an end time.", errors={"ends_at": ["Give an end time."]})
        ends_at = starts_at + timedelta(minutes=shift_type.duration_minutes)
    check_shift_times(starts_at, ends_at)
    if required_grade is not None and required_grade not in GRADES:
        raise ValidationFailed("Unknown grade.", errors={"required_grade": ["Unknown grade."]})
    if assignee is not None:
        require_member(team, assignee)
    shift = Shift(team_id=team.id, shift_type_id=shift_type.id if shift_type else None, starts_at=starts_at,
                  ends_at=ends_at, state=ShiftState.open, required_grade=required_grade,
                  required_skills=sorted(set(required_skills or [])), note=note)
    shift.rota_period = period_for(team, timeutil.local_date(starts_at, team.timezone))
    db.session.add(shift)
    db.session.flush()
    audit.record("shift.created", actor=actor, entity=shift, summary={"shift_type_id": shift.shift_type_id})
    if assignee is not None:
        set_assignee(shift, assignee, actor=actor, override_reason=override_reason)
    return shift


def assign(shift: Shift, user: User | None, *, actor, override_reason: str | None = None) -> Shift:
    require_manage(shift.team, actor)
    if user is not None:
        require_member(shift.team, user)
    return set_assignee(shift, user, actor=actor, kind=ReleaseKind.unassigned if user is None else None,
                        override_reason=override_reason)


_UNSET = object()


def edit_shift(shift: Shift, *, actor, version: int | None = None, starts_at=None, ends_at=None,
               shift_type: ShiftType | None = None, required_grade=_UNSET, required_skills=None, note=_UNSET,
               assignee=_UNSET, override_reason: str | None = None) -> Shift:
    """Change a shift's times/type/requirements/note and (through set_assignee) its holder. ``version`` is the
    version the caller saw: a different one means someone changed the shift meanwhile (409)."""
    require_manage(shift.team, actor)
    if shift.state == ShiftState.cancelled:
        raise Conflict("This shift was cancelled; it cannot be changed.", extra={"code": "cancelled"})
    if version is not None and version != shift.version:
        raise Conflict("Someone else changed this shift since you loaded it. Reload to see the latest version.",
                       extra={"code": "stale", "current_version": shift.version})
    changed = []

    moving = (shift_type is not None and shift_type.id != shift.shift_type_id) or \
        (starts_at is not None and starts_at != shift.starts_at)
    left_slot, leaving = cover.leaving(shift) if moving else (None, [])  # the slot it leaves, before it moves
    was = _as_it_was(shift)
    with db.session.no_autoflush:
        if shift_type is not None and shift_type.id != shift.shift_type_id:
            if shift_type.team_id != shift.team_id:
                raise ValidationFailed("Unknown shift type for this team.",
                                       errors={"shift_type_id": ["Choose one of this team's shift types."]})
            shift.shift_type_id = shift_type.id
            shift.shift_type = shift_type
            changed.append("shift_type")
        new_start = starts_at or shift.starts_at
        new_end = ends_at or (new_start + shift.duration if starts_at and not ends_at else shift.ends_at)
        if (new_start, new_end) != (shift.starts_at, shift.ends_at):
            check_shift_times(new_start, new_end)
            shift.starts_at, shift.ends_at = new_start, new_end
            changed.append("times")
            if shift.assignee is not None:
                # New times for the same person: overlap, leave and working-time rules all apply again.
                check_holder(shift, shift.assignee, actor=actor, override_reason=override_reason)
        if required_grade is not _UNSET and required_grade != shift.required_grade:
            if required_grade is not None and required_grade not in GRADES:
                raise ValidationFailed("Unknown grade.", errors={"required_grade": ["Unknown grade."]})
            shift.required_grade = required_grade
            changed.append("required_grade")
        if required_skills is not None and sorted(set(required_skills)) != list(shift.required_skills or []):
            shift.required_skills = sorted(set(required_skills))
            changed.append("required_skills")
        if note is not _UNSET and note != shift.note:
            shift.note = note
            changed.append("note")
        # The slot it left must keep its minimum (the holder is the same, so no change of holder notices it).
        cover.check_move(shift, left_slot, leaving, actor=actor, override_reason=override_reason)
    if changed:
        db.session.flush()
        audit.record("shift.edited", actor=actor, entity=shift, summary={"fields": ",".join(changed)})
        if {"times", "shift_type"} & set(changed):
            for hook in assignment.AFTER_EDIT:
                hook(shift, was=was, actor=actor)
    if assignee is not _UNSET:
        current = shift.assignee_id
        if (assignee.id if assignee else None) != current:
            assign(shift, assignee, actor=actor, override_reason=override_reason)
    return shift


def _as_it_was(shift: Shift) -> str:
    """"Early Tue 03 Mar 07:00" in the team's zone: how people knew the shift before an edit (no patient data)."""
    start = shift.starts_at.astimezone(timeutil.zone(shift.team.timezone))
    name = shift.shift_type.name if shift.shift_type is not None else "Shift"
    return f"{name} {start:%a %d %b %H:%M}"


def cancel_shift(shift: Shift, *, reason: str, actor) -> Shift:
    require_manage(shift.team, actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the shift is cancelled.", errors={"reason": ["Give a reason."]})
    if shift.state == ShiftState.cancelled:
        raise Conflict("This shift is already cancelled.", extra={"code": "cancelled"})
    if shift.assignee is not None:
        set_assignee(shift, None, actor=actor, kind=ReleaseKind.cancelled, reason="Shift cancelled")
    shift.state = ShiftState.cancelled
    shift.cancel_reason = reason[:200]
    db.session.flush()
    audit.record("shift.cancelled", actor=actor, entity=shift)
    return shift


def is_visible(shift: Shift, viewer) -> bool:
    """Staff see shifts outside any period and in published periods; coordinators see drafts too."""
    if shift.team.can_manage(viewer):
        return True
    if not shift.team.can_view(viewer) and shift.assignee_id != getattr(viewer, "id", None):
        return False
    return shift.rota_period is None or shift.rota_period.state == PeriodState.published


_ASK = object()  # the viewer's role in the team is not known yet: read their memberships


@cache
def _team_zone_and_role_query():
    return select(Team.timezone, Membership.role).outerjoin(
        Membership, and_(Membership.team_id == Team.id, Membership.user_id == bindparam("viewer_id"))).where(
        Team.id == bindparam("team_id"))


def team_zone_and_role(viewer, team_id: int) -> tuple[str | None, TeamRole | None]:
    """The team's time zone (None if there is no such team) and the viewer's role in it (None if not a member), in
    one query: what a list of one team's shifts needs, without loading all of the viewer's memberships."""
    row = db.session.execute(_team_zone_and_role_query(), {"viewer_id": viewer.id, "team_id": team_id}).first()
    return (row[0], row[1]) if row is not None else (None, None)


def _filters(viewer, *, team_id, person_id, start, end, state, team_role) -> tuple[str, dict]:
    """Which shifts ``viewer`` may see and the filters asked for, as (kind of visibility, bound values): the shape
    of ``shifts_query``'s statement and what fills it. ``team_role``: when the list is of one team's shifts, the
    viewer's role in that team (``team_zone_and_role``), which decides alone."""
    values: dict = {}
    if viewer.is_admin or (team_id is not None and team_role == TeamRole.coordinator):
        kind = "all"
    elif team_id is not None and team_role is not _ASK:
        kind = "plain" if team_role is not None else "own"
    else:
        kind = "any"
        values["managed"], values["member"] = list(viewer.managed_team_ids) or [0], list(viewer.team_ids) or [0]
    if kind in ("own", "any"):
        values["viewer_id"] = viewer.id
    for name, value in (("team_id", team_id), ("person_id", person_id), ("start", start), ("end", end),
                        ("state", None if state is None else ShiftState(state))):
        if value is not None:
            values[name] = value
    return kind, values


def _filtered(kind: str, values: dict):
    """Shifts of visibility ``kind`` filtered by ``values`` (``_filters``), as named parameters: a statement of one
    shape can be run again with other values."""
    def param(name, column=None):
        return bindparam(name, values[name], type_=None if column is None else column.type,
                         expanding=name in ("managed", "member"))

    stmt = select(Shift).order_by(Shift.starts_at, Shift.id)
    if kind != "all":
        published = select(RotaPeriod.id).where(RotaPeriod.state == PeriodState.published)
        plain = or_(Shift.rota_period_id.is_(None), Shift.rota_period_id.in_(published))
        if kind == "plain":
            stmt = stmt.where(plain)
        elif kind == "own":
            stmt = stmt.where(and_(Shift.assignee_id == param("viewer_id"), plain))
        else:
            stmt = stmt.where(or_(Shift.team_id.in_(param("managed")), and_(or_(
                Shift.team_id.in_(param("member")), Shift.assignee_id == param("viewer_id")), plain)))
    if "team_id" in values:
        stmt = stmt.where(Shift.team_id == param("team_id"))
    if "person_id" in values:
        stmt = stmt.where(Shift.assignee_id == param("person_id"))
    if "start" in values:
        stmt = stmt.where(Shift.ends_at > param("start", Shift.ends_at))
    if "end" in values:
        stmt = stmt.where(Shift.starts_at < param("end", Shift.starts_at))
    if "state" in values:
        stmt = stmt.where(Shift.state == param("state", Shift.state))
    return stmt


def shifts_query(viewer, *, team_id=None, person_id=None, start=None, end=None, state=None, team_role=_ASK):
    """Shifts ``viewer`` may see, filtered. ``team_role``: with ``team_id``, the viewer's role in that team if the
    caller has read it (``team_zone_and_role``; None for no role)."""
    return _filtered(*_filters(viewer, team_id=team_id, person_id=person_id, start=start, end=end, state=state,
                               team_role=team_role))


_ItemTeam, _ItemType, _ItemAssignee = aliased(Team), aliased(ShiftType), aliased(User)
# The shift's own columns one API item shows; ``_item_page`` adds the type code, team zone and assignee's name.
_ITEM_SHIFT_COLUMNS = (Shift.id, Shift.team_id, Shift.shift_type_id, Shift.rota_period_id, Shift.starts_at,
                       Shift.ends_at, Shift.assignee_id, Shift.state, Shift.required_grade, Shift.required_skills,
                       Shift.cancel_reason, Shift.note, Shift.version)


_ITEM_PAGES: dict = {}  # (visibility kind, filters given) -> the page statement, built once per shape


def shift_item_rows(viewer, *, limit: int, offset: int, team_id=None, person_id=None, start=None, end=None,
                    state=None, team_role=_ASK) -> tuple[list[tuple], int]:
    """One page of ``shifts_query`` as plain rows with what each item shows (type code, team zone, assignee's
    name), and how many shifts match in all: one query and no ORM objects, for lists served in bulk
    (``GET /api/v1/shifts``). The total comes with the page (a window count); only a page past the end asks again.
    The statement of each shape (which filters, what the viewer may see) is built once and run with new values."""
    page, values = shaped_shifts_query(_ITEM_PAGES, _item_page, viewer, team_id=team_id, person_id=person_id,
                                       start=start, end=end, state=state, team_role=team_role)
    rows = db.session.execute(page, {**values, "limit": limit, "offset": offset}).all()
    if rows:
        return [tuple(row[:-1]) for row in rows], rows[0][-1]
    stmt = shifts_query(viewer, team_id=team_id, person_id=person_id, start=start, end=end, state=state,
                        team_role=team_role)
    return [], db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))


def _item_page(stmt):
    """The page first (the matching shifts' own columns, counted, limited), then the page's rows joined to their team,
    type and assignee, in the order ``rota.schemas.shift_items`` reads them: joining before the limit joined every
    matching shift (800 for a ward's four weeks) to show 200 (the statement 2.5–2.7 → 2.0–2.1 ms on PostgreSQL,
    ``docs/performance.md``)."""
    page = (stmt.with_only_columns(*_ITEM_SHIFT_COLUMNS, func.count().over().label("total"),
                                   maintain_column_froms=True)
            .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)).subquery())
    c = page.c
    return (select(c.id, c.team_id, c.shift_type_id, _ItemType.code, c.rota_period_id, c.starts_at, c.ends_at,
                   _ItemTeam.timezone, c.assignee_id, _ItemAssignee.display_name, c.state, c.required_grade,
                   c.required_skills, c.cancel_reason, c.note, c.version, c.total)
            .join(_ItemTeam, _ItemTeam.id == c.team_id)
            .outerjoin(_ItemType, _ItemType.id == c.shift_type_id)
            .outerjoin(_ItemAssignee, _ItemAssignee.id == c.assignee_id)
            .order_by(c.starts_at, c.id))


def shaped_shifts_query(shapes: dict, extend, viewer, *, team_id=None, person_id=None, start=None, end=None,
                        state=None, team_role=_ASK) -> tuple:
    """``shifts_query(viewer, **filters)`` passed through ``extend`` (other columns, joins, a limit), and the values
    to run it with. The statement of each shape (what the viewer may see, which filters are given) is built once and
    kept in ``shapes``: building it costs about as much as running it."""
    kind, values = _filters(viewer, team_id=team_id, person_id=person_id, start=start, end=end, state=state,
                            team_role=team_role)
    shape = (kind, frozenset(values))
    stmt = shapes.get(shape)
    if stmt is None:
        stmt = shapes[shape] = extend(_filtered(kind, values))
    return stmt, values
