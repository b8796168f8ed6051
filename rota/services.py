"""Rota services: shift types, requirements, shifts, patterns, periods and publishing, gaps, leave, CSV import,
the team grid and *My shifts*.

House rules: services take domain objects and ``actor=``, raise ``core.errors`` domain errors, write an audit entry
for every change, and never commit. Every change of a shift's holder goes through
``rota.assignment.set_assignee``.

Extension points other modules register into (plain lists, appended to at start-up):

* ``PUBLISH_CHECKS``: ``fn(period, shifts) -> dict`` (a per-person report, merged into the publish result); may
  raise ``core.errors.RuleViolation`` to block publishing.
* ``GRID_CELL_HOOKS``: ``fn(team, cells) -> None`` called with every :class:`GridCell` of a team grid before it is
  rendered; a hook may append short strings to ``cell.markers``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace

from sqlalchemy import and_, or_, select, true
from sqlalchemy.orm import joinedload

from core import audit, events
from core.accounts import GRADES, Membership, StaffGroup, Team, TeamRole, User, grade_rank
from core.api import MAX_ID
from core.db import db, now_utc
from core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from core.limits import MAX_SHIFT, MAX_SHIFT_HOURS
from rota import timeutil
from rota.assignment import check_can_hold, check_holder, leave_in_team, set_assignee
from rota.models import (
    Leave,
    LeaveKind,
    PeriodState,
    ReleaseKind,
    RotaPeriod,
    Shift,
    ShiftKind,
    ShiftState,
    ShiftType,
    StaffingRequirement,
)
from rota.patterns import PatternError, expand
from rota.rota_models import GapOpening
from rota.skillmix import GROUP_FLOOR, meets

PUBLISH_CHECKS: list[Callable] = []
GRID_CELL_HOOKS: list[Callable] = []

MAX_RANGE_DAYS = 7 * 60
CODE_RE = re.compile(r"^[A-Z0-9]{1,8}$")
COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


# ------------------------------------------------------------------------------------------------- access


def require_manage(team: Team, actor) -> None:
    if not team.can_manage(actor):
        raise Forbidden("Only this team's coordinators can change its rota.")


def require_view(team: Team, actor) -> None:
    if not team.can_view(actor):
        raise Forbidden("You are not a member of this team.")


def _check_id(value: int, label: str) -> None:
    # Ids beyond 32 bits cannot exist, and SQLite cannot even bind them: a 404, not a 500.
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"No {label} with id {value}.")


def _get(model, ident: int, label: str):
    """A row by id, or a 404 naming what was not found (ids beyond the integer range are 404 too)."""
    _check_id(ident, label)
    row = db.session.get(model, ident)
    if row is None:
        raise NotFound(f"No {label} with id {ident}.")
    return row


def get_team(team_id: int) -> Team:
    return _get(Team, team_id, "team")


def get_shift(shift_id: int) -> Shift:
    return _get(Shift, shift_id, "shift")


def get_period(period_id: int) -> RotaPeriod:
    return _get(RotaPeriod, period_id, "rota period")


def get_user(user_id: int) -> User:
    return _get(User, user_id, "person")


def _require_member(team: Team, user: User, fld: str = "assignee_id") -> None:
    if user.role_in(team) is None:
        raise ValidationFailed(f"{user.display_name} is not a member of {team.name}.",
                               errors={fld: [f"{user.display_name} is not a member of this team."]})


def visible_teams(viewer) -> list[Team]:
    stmt = select(Team).order_by(Team.name)
    if not viewer.is_admin:
        stmt = stmt.where(Team.id.in_(viewer.team_ids or {0}))
    return list(db.session.scalars(stmt))


def create_team(*, name: str, site: str | None, timezone: str, actor) -> Team:
    from core import accounts

    if not actor.is_admin:
        raise Forbidden("Only administrators can create teams.")
    return accounts.create_team(name=name, site=site, timezone=timezone, actor=actor)


def add_member(team: Team, user: User, role: str, *, actor) -> Membership:
    from core import accounts

    require_manage(team, actor)
    # Without the person's consent only an administrator, or a coordinator who already coordinates them in
    # another team, may add them (core.accounts.may_add_directly); everyone else invites (rota.membership).
    return accounts.add_member(team, user, role, actor=actor)


# ---------------------------------------------------------------------------------------------- shift types


def create_shift_type(team: Team, *, code: str, name: str, start_local: time, duration_minutes: int,
                      kind: str | ShiftKind = ShiftKind.day, colour: str = "#005eb8", actor) -> ShiftType:
    require_manage(team, actor)
    code = (code or "").strip().upper()
    errors = {}
    if not CODE_RE.match(code):
        errors["code"] = ["Use 1–8 letters or digits, e.g. E, L, LD, N, OC."]
    if not 1 <= int(duration_minutes) <= 24 * 60:
        errors["duration_minutes"] = ["A shift lasts between 1 minute and 24 hours."]
    if not COLOUR_RE.match(colour or ""):
        errors["colour"] = ["Use a colour such as #005eb8."]
    if not (name or "").strip():
        errors["name"] = ["Give the shift type a name."]
    if errors:
        raise ValidationFailed("The shift type is not valid.", errors=errors)
    if db.session.scalar(select(ShiftType.id).where(ShiftType.team_id == team.id, ShiftType.code == code)):
        raise Conflict(f"This team already has a shift type with code {code}.",
                       errors={"code": [f"{code} is already used in this team."]})
    st = ShiftType(team_id=team.id, code=code, name=name.strip(), start_local=start_local,
                   duration_minutes=int(duration_minutes), kind=ShiftKind(kind), colour=colour.lower())
    db.session.add(st)
    db.session.flush()
    audit.record("shift_type.created", actor=actor, entity=st, summary={"code": code})
    return st


def shift_types(team: Team, *, active_only: bool = False) -> list[ShiftType]:
    stmt = select(ShiftType).where(ShiftType.team_id == team.id).order_by(ShiftType.start_local, ShiftType.code)
    if active_only:
        stmt = stmt.where(ShiftType.active.is_(True))
    return list(db.session.scalars(stmt))


def _type_of(team: Team, shift_type_id: int, fld: str = "shift_type_id") -> ShiftType:
    st = db.session.get(ShiftType, shift_type_id)
    if st is None or st.team_id != team.id:
        raise ValidationFailed("Unknown shift type for this team.", errors={fld: ["Choose one of this team's shift "
                                                                                  "types."]})
    return st


# --------------------------------------------------------------------------------------------- requirements


def create_requirement(team: Team, *, shift_type: ShiftType, min_count: int, weekday: int | None = None,
                       staff_group: str | None = None, min_grade: str | None = None, skill: str | None = None,
                       description: str | None = None, actor) -> StaffingRequirement:
    require_manage(team, actor)
    errors = {}
    if shift_type.team_id != team.id:
        errors["shift_type_id"] = ["Choose one of this team's shift types."]
    if not 1 <= min_count <= 100:
        errors["min_count"] = ["Between 1 and 100."]
    if weekday is not None and not 0 <= weekday <= 6:
        errors["weekday"] = ["0 (Monday) to 6 (Sunday), or empty for every day."]
    if staff_group is not None and staff_group not in {g.value for g in StaffGroup}:
        errors["staff_group"] = [f"One of: {', '.join(g.value for g in StaffGroup)}."]
    if min_grade is not None and min_grade not in GRADES:
        errors["min_grade"] = ["Unknown grade."]
    if errors:
        raise ValidationFailed("The requirement is not valid.", errors=errors)
    req = StaffingRequirement(team_id=team.id, shift_type_id=shift_type.id, weekday=weekday,
                              staff_group=staff_group, min_grade=min_grade, skill=(skill or None),
                              min_count=min_count, description=description)
    db.session.add(req)
    db.session.flush()
    audit.record("requirement.created", actor=actor, entity=req,
                 summary={"shift_type_id": shift_type.id, "min_count": min_count})
    return req


def requirements(team: Team) -> list[StaffingRequirement]:
    return list(db.session.scalars(select(StaffingRequirement).where(StaffingRequirement.team_id == team.id)
                                   .order_by(StaffingRequirement.shift_type_id, StaffingRequirement.id)))


def requirement_label(req: StaffingRequirement) -> str:
    who = req.min_grade + "+" if req.min_grade else {"nursing": "RN", "support": "HCA", "medical": "doctor",
                                                     "ahp": "AHP", "admin": "admin"}.get(req.staff_group or "",
                                                                                         "staff")
    return f"{req.min_count} {who}" + (f" ({req.skill})" if req.skill else "")


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
        _require_member(team, assignee)
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
        _require_member(shift.team, user)
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
    from rota import cover  # cover builds on this module

    moving = (shift_type is not None and shift_type.id != shift.shift_type_id) or \
        (starts_at is not None and starts_at != shift.starts_at)
    left_slot, leaving = cover.leaving(shift) if moving else (None, [])  # the slot it leaves, before it moves
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
    if assignee is not _UNSET:
        current = shift.assignee_id
        if (assignee.id if assignee else None) != current:
            assign(shift, assignee, actor=actor, override_reason=override_reason)
    return shift


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


def _visible_clause(viewer):
    published = select(RotaPeriod.id).where(RotaPeriod.state == PeriodState.published)
    plain = or_(Shift.rota_period_id.is_(None), Shift.rota_period_id.in_(published))
    if viewer.is_admin:
        return None
    managed = viewer.managed_team_ids
    member = viewer.team_ids
    return or_(Shift.team_id.in_(managed or {0}),
               and_(or_(Shift.team_id.in_(member or {0}), Shift.assignee_id == viewer.id), plain))


def shifts_query(viewer, *, team_id=None, person_id=None, start=None, end=None, state=None):
    stmt = select(Shift).order_by(Shift.starts_at, Shift.id)
    clause = _visible_clause(viewer)
    if clause is not None:
        stmt = stmt.where(clause)
    if team_id is not None:
        stmt = stmt.where(Shift.team_id == team_id)
    if person_id is not None:
        stmt = stmt.where(Shift.assignee_id == person_id)
    if start is not None:
        stmt = stmt.where(Shift.ends_at > start)
    if end is not None:
        stmt = stmt.where(Shift.starts_at < end)
    if state is not None:
        stmt = stmt.where(Shift.state == ShiftState(state))
    return stmt


# ------------------------------------------------------------------------------------------ patterns, copy


@dataclass
class BuildReport:
    created: list = field(default_factory=list)  # Shift
    problems: list = field(default_factory=list)  # (day, code, person name, message): created open instead

    @property
    def open_count(self) -> int:
        return sum(1 for s in self.created if s.assignee_id is None)


def _bulk_create(team: Team, items, *, actor, report: BuildReport) -> None:
    """items: (day, ShiftType, User|None, required_grade, required_skills, note). One flush for all rows, then each
    holder through set_assignee; a person who cannot hold a shift (leave, overlap, rule) leaves it open and the
    report says why."""
    periods = list(db.session.scalars(select(RotaPeriod).where(RotaPeriod.team_id == team.id)))
    pending = []
    for day, st, user, grade, skills, note in items:
        starts, ends = timeutil.shift_instants(day, st.start_local, st.duration_minutes, team.timezone, field="date")
        period = next((p for p in periods if p.first_day <= day <= p.last_day), None)
        shift = Shift(team_id=team.id, shift_type_id=st.id, starts_at=starts, ends_at=ends, state=ShiftState.open,
                      required_grade=grade, required_skills=list(skills or []), note=note,
                      rota_period_id=period.id if period else None)
        db.session.add(shift)
        pending.append((shift, user, day, st))
    db.session.flush()
    for shift, user, day, st in pending:
        report.created.append(shift)
        if user is None:
            continue
        try:
            # set_assignee runs every check before it writes anything, so a refusal leaves nothing to undo.
            set_assignee(shift, user, actor=actor)
        except DomainError as exc:
            report.problems.append((day, st.code, user.display_name, exc.detail))
    audit.record("rota.built", actor=actor, entity=team, entity_type="team", team_id=team.id,
                 summary={"shifts": len(report.created), "left_open": report.open_count})


def generate_from_pattern(team: Team, *, pattern: dict, first_day: date, last_day: date, actor) -> BuildReport:
    require_manage(team, actor)
    try:
        occurrences = expand(pattern, first_day, last_day)
    except PatternError as exc:
        raise ValidationFailed(str(exc), errors={"pattern": [str(exc)]})
    types = {st.code: st for st in shift_types(team, active_only=True)}
    unknown = sorted({o.code for o in occurrences} - set(types))
    if unknown:
        msg = f"Unknown shift code(s) for {team.name}: {', '.join(unknown)}."
        raise ValidationFailed(msg, errors={"pattern": [msg]})
    person_ids = {o.person_id for o in occurrences if o.person_id}
    members = {m.user_id: m.user for m in db.session.scalars(
        select(Membership).options(joinedload(Membership.user)).where(Membership.team_id == team.id))}
    strangers = sorted(person_ids - set(members))
    if strangers:
        msg = f"Not members of {team.name}: person id(s) {', '.join(map(str, strangers))}."
        raise ValidationFailed(msg, errors={"person_ids": [msg]})
    report = BuildReport()
    _bulk_create(team, [(o.day, types[o.code], members.get(o.person_id), None, (), None) for o in occurrences],
                 actor=actor, report=report)
    return report


def copy_week(team: Team, *, source_monday: date, target_monday: date, actor) -> BuildReport:
    """Copy every non-cancelled shift of one week to another, same local times and people."""
    require_manage(team, actor)
    if source_monday.weekday() or target_monday.weekday():
        raise ValidationFailed("Weeks start on a Monday.", errors={"target_week": ["Choose a Monday."]})
    if source_monday == target_monday:
        raise ValidationFailed("Choose a different week to copy to.", errors={"target_week": ["Same week."]})
    lo, hi = timeutil.day_bounds(source_monday, source_monday + timedelta(days=6), team.timezone)
    source = db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.starts_at >= lo,
                                                    Shift.starts_at < hi, Shift.state != ShiftState.cancelled)
                                .order_by(Shift.starts_at)).all()
    if not source:
        raise ValidationFailed("There are no shifts in that week to copy.", errors={"source_week": ["Empty week."]})
    delta = target_monday - source_monday
    items, report = [], BuildReport()
    for s in source:
        if s.shift_type is None:
            continue  # ad hoc shifts (explicit times) are not templated
        items.append((local_day(s) + delta, s.shift_type, s.assignee, s.required_grade, s.required_skills, s.note))
    _bulk_create(team, items, actor=actor, report=report)
    return report


# --------------------------------------------------------------------------------------- periods, publishing


def create_period(team: Team, *, first_day: date, last_day: date, actor) -> RotaPeriod:
    require_manage(team, actor)
    if last_day < first_day:
        raise ValidationFailed("The last day is before the first day.", errors={"last_day": ["Before first_day."]})
    if (last_day - first_day).days >= MAX_RANGE_DAYS:
        raise ValidationFailed("A rota period covers at most 60 weeks.", errors={"last_day": ["Too far."]})
    clash = db.session.scalar(select(RotaPeriod).where(RotaPeriod.team_id == team.id,
                                                       RotaPeriod.first_day <= last_day,
                                                       RotaPeriod.last_day >= first_day).limit(1))
    if clash is not None:
        raise Conflict(f"That overlaps the rota period {clash.first_day:%d %b %Y}–{clash.last_day:%d %b %Y}.",
                       extra={"code": "period_overlap", "period_id": clash.id})
    period = RotaPeriod(team_id=team.id, first_day=first_day, last_day=last_day, state=PeriodState.draft)
    db.session.add(period)
    db.session.flush()
    lo, hi = timeutil.day_bounds(first_day, last_day, team.timezone)
    for s in db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.starts_at >= lo,
                                                    Shift.starts_at < hi, Shift.rota_period_id.is_(None))):
        s.rota_period_id = period.id
    db.session.flush()
    audit.record("rota_period.created", actor=actor, entity=period)
    return period


def periods(team: Team) -> list[RotaPeriod]:
    return list(db.session.scalars(select(RotaPeriod).where(RotaPeriod.team_id == team.id)
                                   .order_by(RotaPeriod.first_day.desc())))


def publish_period(period: RotaPeriod, *, actor) -> dict:
    """Publish: run every PUBLISH_CHECKS function (any may refuse), stamp the period, tell the team."""
    from notifications.service import notify

    team = period.team
    require_manage(team, actor)
    if period.state == PeriodState.published:
        raise Conflict("This rota period is already published.", extra={"code": "already_published"})
    lo, hi = timeutil.day_bounds(period.first_day, period.last_day, team.timezone)
    shifts = list(db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.starts_at >= lo,
                                                         Shift.starts_at < hi).order_by(Shift.starts_at)))
    for s in shifts:
        if s.rota_period_id is None:
            s.rota_period_id = period.id
    live = [s for s in shifts if s.state != ShiftState.cancelled]
    reports: dict = {}
    for check in PUBLISH_CHECKS:
        reports.update(check(period, live) or {})
    period.state = PeriodState.published
    period.published_at = now_utc()
    period.published_by_id = actor.id
    db.session.flush()
    members = [m.user_id for m in team.memberships]
    notify(members, kind="rota.published", team_id=team.id, link="/my/shifts",
           text=f"The {team.name} rota for {period.first_day:%d %b}–{period.last_day:%d %b %Y} is published.",
           idempotency_key=f"rota.published:{period.id}")
    events.emit("rota.published", period=period)
    audit.record("rota_period.published", actor=actor, entity=period,
                 summary={"shifts": len(live), "open": sum(1 for s in live if s.state == ShiftState.open)})
    return reports


# ------------------------------------------------------------------------------------------------------ gaps


@dataclass
class Gap:
    day: date
    shift_type: ShiftType
    requirement: StaffingRequirement
    have: int  # assigned staff who count towards the clause
    open_count: int  # open shifts already advertised for it
    missing: int  # places still neither filled nor advertised

    @property
    def label(self) -> str:
        return requirement_label(self.requirement)

    @property
    def unmet(self) -> int:
        return max(0, self.requirement.min_count - self.have)


def _compute_gaps(days, reqs, shifts, users, openings, tz) -> list[Gap]:
    """Pure: requirement clauses vs assigned staff, per local day. ``openings`` maps shift id -> requirement id."""
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
            have = sum(1 for s in on if s.assignee_id and meets(users[s.assignee_id], req))
            advertised = sum(1 for s in on if s.state == ShiftState.open and openings.get(s.id) == req.id)
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
    openings = _openings(shifts)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return _compute_gaps(days, reqs, shifts, _users_for(shifts), openings, timeutil.zone(team.timezone))


def _openings(shifts) -> dict:
    ids = [s.id for s in shifts if s.state == ShiftState.open]
    if not ids:
        return {}
    rows = db.session.execute(select(GapOpening.shift_id, GapOpening.requirement_id)
                              .where(GapOpening.shift_id.in_(ids)))
    return dict(rows.all())


def open_gap(team: Team, *, requirement: StaffingRequirement, day: date, actor) -> Shift:
    """Turn one missing place of a gap into an open shift that eligible staff can claim."""
    require_manage(team, actor)
    if requirement.team_id != team.id:
        raise NotFound(f"No requirement with id {requirement.id} in this team.")
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


def record_leave(user: User, *, kind: str | LeaveKind, first_day: date, last_day: date, actor,
                 team: Team | None = None, note: str | None = None) -> tuple[Leave, list[Shift]]:
    """Record approved leave or sickness for ``team`` (trust-wide when an administrator gives no team). The
    person's shifts in that team (every team, for trust-wide leave) on those days become open shifts (through
    set_assignee, so feeds and audit see it) and that team's coordinators are told — never silently. Another
    team's shifts and records are never touched: a coordinator's power over a person stops at their own team."""
    from notifications.service import notify

    team = _leave_team(user, team, actor)
    if last_day < first_day:
        raise ValidationFailed("The last day is before the first day.", errors={"last_day": ["Before first_day."]})
    if (last_day - first_day).days > 366:
        raise ValidationFailed("Record at most a year of leave at a time.", errors={"last_day": ["Too long."]})
    clash = db.session.scalar(select(Leave).where(Leave.user_id == user.id, Leave.first_day <= last_day,
                                                  Leave.last_day >= first_day,
                                                  leave_in_team(team.id) if team is not None else true())
                              .limit(1))
    if clash is not None:
        raise Conflict(f"{user.display_name} already has leave recorded {clash.first_day:%d %b}–"
                       f"{clash.last_day:%d %b %Y}.", extra={"code": "leave_overlap", "leave_id": clash.id})
    leave = Leave(user_id=user.id, team_id=team.id if team else None, kind=LeaveKind(kind), first_day=first_day,
                  last_day=last_day, note=note, created_by_id=actor.id)
    db.session.add(leave)
    db.session.flush()
    audit.record("leave.recorded", actor=actor, entity=leave, team_id=team.id if team else None,
                 summary={"user_id": user.id, "days": (last_day - first_day).days + 1})
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


# ------------------------------------------------------------------------------------------------ CSV import


class ImportFailed(ValidationFailed):
    """Some rows are wrong; nothing was imported. ``rows`` is the row-by-row report."""

    def __init__(self, rows: list[dict], total: int):
        bad = [r for r in rows if r["errors"]]
        super().__init__(f"{len(bad)} of {total} rows have problems, so nothing was imported. Fix them and "
                         "import the file again.",
                         errors={f"row {r['row']}": r["errors"] for r in bad} or {"file": ["No rows."]},
                         extra={"rows": bad})
        self.rows = rows


def import_assignments(team: Team, text: str, *, actor, dry_run: bool = False) -> dict:
    """CSV of assignments (staff email or staff number, date, shift code). Every row is checked first; then all
    are applied, or none. An open shift of that code on that day is filled if there is one, else a shift is added.
    """
    from rota import csv_io

    require_manage(team, actor)
    parsed, total = csv_io.parse_assignments(text)
    members = list(db.session.scalars(select(Membership).options(joinedload(Membership.user))
                                      .where(Membership.team_id == team.id)))
    by_email = {m.user.email.lower(): m.user for m in members}
    by_number = {(m.user.staff_number or "").upper(): m.user for m in members if m.user.staff_number}
    types = {st.code: st for st in shift_types(team, active_only=True)}
    planned: dict[int, list] = defaultdict(list)  # user id -> [(start, end, row)] within the file
    report = []
    for row in parsed:
        errors = list(row.errors)
        user = st = None
        if row.staff:
            user = by_email.get(row.staff.lower()) or by_number.get(row.staff.upper())
            if user is None:
                errors.append(f"Unknown person '{row.staff[:60]}' (not a member of {team.name}).")
        if row.code:
            st = types.get(row.code.upper())
            if st is None:
                errors.append(f"Unknown shift code '{row.code[:10]}'; this team uses {', '.join(sorted(types))}.")
        starts = ends = None
        if st is not None and row.day is not None:
            try:
                starts, ends = timeutil.shift_instants(row.day, st.start_local, st.duration_minutes, team.timezone)
            except timeutil.LocalTimeError as exc:
                errors.append(exc.detail)
        if user is not None and starts is not None:
            probe = SimpleNamespace(id=0, team=team, team_id=team.id, starts_at=starts, ends_at=ends)
            try:
                check_can_hold(probe, user)
            except DomainError as exc:
                errors.append(exc.detail)
            for s, e, other in planned[user.id]:
                if s < ends and e > starts:
                    errors.append(f"Overlaps row {other} for the same person.")
            planned[user.id].append((starts, ends, row.number))
        report.append({"row": row.number, "staff": row.staff, "date": row.day.isoformat() if row.day else row.raw_date,
                       "shift_code": row.code, "errors": errors, "_user": user, "_type": st})
    if not report:
        raise ImportFailed([], 0)
    if any(r["errors"] for r in report):
        raise ImportFailed(_public(report), total)
    created = filled = 0
    if not dry_run:
        for r in report:
            day = date.fromisoformat(r["date"])
            st, user = r["_type"], r["_user"]
            starts, _ = timeutil.shift_instants(day, st.start_local, st.duration_minutes, team.timezone)
            open_shift = db.session.scalar(select(Shift).where(Shift.team_id == team.id, Shift.shift_type_id == st.id,
                                                               Shift.starts_at == starts,
                                                               Shift.state == ShiftState.open).limit(1))
            try:
                if open_shift is not None:
                    set_assignee(open_shift, user, actor=actor)
                    filled += 1
                else:
                    add_shift(team, actor=actor, shift_type=st, day=day, assignee=user)
                    created += 1
            except DomainError as exc:  # a rule hook refused: still all-or-nothing
                r["errors"].append(exc.detail)
                raise ImportFailed(_public(report), total)
        audit.record("rota.imported", actor=actor, entity=team, entity_type="team", team_id=team.id,
                     summary={"rows": len(report), "created": created, "filled": filled})
    return {"rows": _public(report), "total": total, "created": created, "filled": filled, "dry_run": dry_run}


def _public(report):
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in report]


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
    openings = _openings(shifts)

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
    gaps = _compute_gaps(day_list, reqs, shifts, users, openings, tz)
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
