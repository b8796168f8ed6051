"""Rota services: building a rota from a pattern and copying a week."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from core import audit, timeutil
from core.accounts import Membership, Team
from core.db import db
from core.errors import DomainError, ValidationFailed
from rota.assignment import set_assignee
from rota.models import (
    RotaPeriod,
    Shift,
    ShiftState,
)
from rota.patterns import PatternError, expand
from rota.services.access import require_manage
from rota.services.shift_types import shift_types
from rota.services.shifts import local_day

# ------------------------------------------------------------------------------------------ patterns, copy


@dataclass
class BuildReport:
    created: list = field(default_factory=list)  # Shift
    problems: list = field(default_factory=list)  # (day, code, person name, message): created open instead

    @property
    def open_count(self) -> int:
        return sum(1 for s in self.created if s.assignee_id is None)


def bulk_create(team: Team, items, *, actor, report: BuildReport) -> None:
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
    bulk_create(team, [(o.day, types[o.code], members.get(o.person_id), None, (), None) for o in occurrences],
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
    bulk_create(team, items, actor=actor, report=report)
    return report
