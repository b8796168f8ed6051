"""Test data for swaps, offers and open shifts: the shared ward (``tests.factories``) with swap settings, and shifts
built directly with the models."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select

from core.accounts import Team, User
from core.db import db
from rota.models import Shift, ShiftKind, ShiftState, ShiftType
from rota.swaps.models import ApprovalPolicy, OpenShiftPolicy, TeamSwapSettings
from tests.factories import Ward
from tests.factories import ward as shared_ward


def soon(days: float = 3, hour: int = 7) -> datetime:
    """A UTC instant ``days`` from today at ``hour`` (well past the default 12 h cut-off when days >= 1)."""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, hour=hour)
    return base + timedelta(days=days)


def shift_type(team: Team, code="E", name="Early", start=time(7, 0), minutes=510, kind=ShiftKind.day) -> ShiftType:
    st = db.session.scalar(select(ShiftType).where(ShiftType.team_id == team.id, ShiftType.code == code))
    if st is None:
        st = ShiftType(team_id=team.id, code=code, name=name, start_local=start, duration_minutes=minutes, kind=kind)
        db.session.add(st)
        db.session.flush()
    return st


def shift(team: Team, *, starts_at: datetime, hours: float = 8.5, assignee: User | None = None,
          stype: ShiftType | None = None, required_grade: str | None = None, skills=(), commit=True) -> Shift:
    s = Shift(team_id=team.id, shift_type_id=(stype or shift_type(team)).id, starts_at=starts_at,
              ends_at=starts_at + timedelta(hours=hours), assignee_id=assignee.id if assignee else None,
              state=ShiftState.scheduled if assignee else ShiftState.open, required_grade=required_grade,
              required_skills=list(skills))
    db.session.add(s)
    db.session.flush()
    if commit:
        db.session.commit()
    return s


def night(team: Team) -> ShiftType:
    return shift_type(team, code="N", name="Night", start=time(19, 30), minutes=750, kind=ShiftKind.night)


def settings(team: Team, **values) -> TeamSwapSettings:
    row = db.session.get(TeamSwapSettings, team.id)
    if row is None:
        row = TeamSwapSettings(team_id=team.id, approval_policy=ApprovalPolicy.always,
                               open_shift_policy=OpenShiftPolicy.first_claim_wins, cutoff_hours=12, expiry_hours=72,
                               pool_team_ids=[])
        db.session.add(row)
    for k, v in values.items():
        setattr(row, k, v)
    db.session.commit()
    return row


def ward(make, n_staff: int = 3, *, grade="Band 5", skills=("IV-trained",), name=None, **swap_settings) -> Ward:
    """The shared test ward (``tests.factories.ward``), with these swap settings."""
    w = shared_ward(make, n_staff, name=name, grade=grade, skills=skills)
    if swap_settings:
        settings(w.team, **swap_settings)
    return w


def holder(shift_id: int) -> int | None:
    db.session.expire_all()
    return db.session.get(Shift, shift_id).assignee_id


def count_overlaps() -> int:
    """People booked on two overlapping shifts (must always be 0)."""
    a, b = Shift.__table__.alias("a"), Shift.__table__.alias("b")
    stmt = select(func.count()).select_from(a.join(b, (a.c.assignee_id == b.c.assignee_id) & (a.c.id < b.c.id))).where(
        a.c.state != "cancelled", b.c.state != "cancelled", a.c.starts_at < b.c.ends_at, a.c.ends_at > b.c.starts_at)
    return db.session.scalar(stmt)


def fake_engine(monkeypatch, per_user) -> None:
    """Replace the compliance engine with ``per_user(user, *, add, remove, rule_sets)`` for both its entry points:
    the per-person what-if (assignment checks) and the bulk one (eligibility)."""
    from rota.compliance import verdicts as what_if

    def bulk(shift, users, *, giving_up=None, rule_sets=None):
        giving_up = giving_up or {}
        return {u.id: per_user(u, add=(shift,), remove=tuple(giving_up.get(u.id, ())), rule_sets=rule_sets)
                for u in users}

    monkeypatch.setattr(what_if, "verdicts_for_change", per_user)
    monkeypatch.setattr(what_if, "verdicts_for_candidates", bulk)
