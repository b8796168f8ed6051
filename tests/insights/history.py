"""Hand-made histories for the insights tests: rows and audit entries placed at chosen instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core import audit
from core.db import db
from rota.models import Shift, ShiftKind, ShiftState, ShiftType

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday; the test period is March 2026 (clocks change on the 29th)


def at(minutes: float = 0, *, days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours, minutes=minutes)


def log(action: str, when: datetime, *, actor=None, shift=None, team_id=None, request_id=None, summary=None,
        entity=None, outcome="success"):
    """An audit entry recorded at ``when`` (the chain is not verified by these tests)."""
    entry = audit.record(action, actor=actor, entity=entity if entity is not None else shift,
                         team_id=team_id, summary=summary or {}, outcome=outcome)
    entry.at = when
    entry.request_id = request_id
    db.session.flush()
    return entry


def stype(team, code="E", kind=ShiftKind.day, start=None):
    from datetime import time

    st = ShiftType(team_id=team.id, code=code, name=code, start_local=start or time(7), duration_minutes=480,
                   kind=kind)
    db.session.add(st)
    db.session.flush()
    return st


def shift(team, starts_at, *, hours=8.0, assignee=None, st=None, created_at=None, state=None, period=None):
    s = Shift(team_id=team.id, shift_type_id=st.id if st else None, starts_at=starts_at,
              ends_at=starts_at + timedelta(hours=hours), assignee_id=assignee.id if assignee else None,
              state=state or (ShiftState.scheduled if assignee else ShiftState.open),
              created_at=created_at or starts_at - timedelta(days=30),
              rota_period_id=period.id if period else None)
    db.session.add(s)
    db.session.flush()
    return s


def open_and_fill(team, starts_at, *, opened, filled=None, taker=None, actor=None, opened_action="shift.opened",
                  request_id=None, created_at=None):
    """A shift that stood open from ``opened`` and (if ``filled``) was taken by ``taker`` then."""
    s = shift(team, starts_at, assignee=taker if filled else None, created_at=created_at or opened)
    log(opened_action, opened, shift=s, actor=actor)
    if filled is not None:
        log("shift.assigned", filled, shift=s, actor=actor or taker, request_id=request_id,
            summary={"from_user_id": None, "to_user_id": taker.id, "kind": None, "override": False})
    return s
