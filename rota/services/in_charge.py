"""The nurse in charge of a shift: a coordinator marks one of the people rostered on a team's shift slot (the team's
shifts starting at one time) as in charge of it; one per team per start time, audited. ``current`` says who is in
charge now (the designated person, while still rostered on that slot), for ``@in-charge`` in the channels; the grid
shows an "In charge" marker on their cell."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from core import audit, timeutil
from core.accounts import Team, User
from core.db import db, now_utc
from core.errors import RuleViolation
from rota.models import Shift, ShiftInCharge, ShiftState
from rota.services.access import require_manage

IN_CHARGE_MARKER = "In charge"


def _on_slot(team: Team, starts_at: datetime, user_id: int) -> Shift | None:
    return db.session.scalar(select(Shift).where(Shift.team_id == team.id, Shift.starts_at == starts_at,
                                                 Shift.assignee_id == user_id,
                                                 Shift.state == ShiftState.scheduled).limit(1))


def get(team: Team, starts_at: datetime) -> ShiftInCharge | None:
    return db.session.scalar(select(ShiftInCharge).where(ShiftInCharge.team_id == team.id,
                                                         ShiftInCharge.starts_at == starts_at))


def set_in_charge(team: Team, starts_at: datetime, user_id: int, *, actor) -> ShiftInCharge:
    """Mark ``user`` in charge of the team's shifts starting at ``starts_at`` (replacing anyone marked before).
    Refused unless they are rostered on a shift of this team starting then."""
    require_manage(team, actor)
    user = db.session.get(User, user_id)
    if user is None or _on_slot(team, starts_at, user.id) is None:
        when = timeutil.to_local(starts_at, team.timezone).strftime("%a %d %b %H:%M")
        who = user.display_name if user else f"Person {user_id}"
        raise RuleViolation(f"{who} is not on the {team.name} shift starting {when}: only someone on the shift can "
                            "be in charge of it.",
                            errors={"user_id": ["Not on this shift."]}, extra={"code": "not_on_shift"})
    row = get(team, starts_at)
    previous = row.user_id if row is not None else None
    if row is None:
        row = ShiftInCharge(team_id=team.id, starts_at=starts_at, user_id=user.id)
        db.session.add(row)
    row.user_id, row.set_by_id, row.set_at = user.id, actor.id, now_utc()
    db.session.flush()
    audit.record("shift.in_charge_set", actor=actor, entity=row, team_id=team.id,
                 summary={"starts_at": starts_at.isoformat(), "user_id": user.id, "previous_user_id": previous})
    return row


def clear_in_charge(team: Team, starts_at: datetime, *, actor) -> bool:
    require_manage(team, actor)
    row = get(team, starts_at)
    if row is None:
        return False
    audit.record("shift.in_charge_cleared", actor=actor, entity=row, team_id=team.id,
                 summary={"starts_at": starts_at.isoformat(), "user_id": row.user_id})
    db.session.delete(row)
    db.session.flush()
    return True


def current(team_id: int, now: datetime) -> int | None:
    """Who is in charge now: of the slots with a shift on now, the latest-starting one whose designated person is
    still rostered on it (one query). None when no one is designated."""
    sic = ShiftInCharge
    stmt = (select(sic.user_id).join(Shift, (Shift.team_id == sic.team_id) & (Shift.starts_at == sic.starts_at)
                                     & (Shift.assignee_id == sic.user_id))
            .where(sic.team_id == team_id, Shift.state == ShiftState.scheduled, Shift.starts_at <= now,
                   Shift.ends_at > now)
            .order_by(sic.starts_at.desc()).limit(1))
    return db.session.scalar(stmt)


def designated(team_id: int, starts: list[datetime]) -> set[tuple[datetime, int]]:
    """(start, person) of each designation among these slot starts (one query)."""
    if not starts:
        return set()
    wanted = set(starts)  # a grid's hundreds of starts: read their range (two parameters), keep those asked for
    rows = db.session.execute(select(ShiftInCharge.starts_at, ShiftInCharge.user_id).where(
        ShiftInCharge.team_id == team_id, ShiftInCharge.starts_at >= min(wanted),
        ShiftInCharge.starts_at <= max(wanted)))
    return {(s, u) for s, u in rows if s in wanted}


def grid_markers(team: Team, cells) -> None:
    """``GRID_CELL_HOOKS`` hook: "In charge" on the cell of the person in charge of their shift."""
    cells = [c for c in cells if c.user is not None and c.shifts]
    marks = designated(team.id, [s.starts_at for c in cells for s in c.shifts])
    for c in cells:
        if any((s.starts_at, c.user.id) in marks for s in c.shifts):
            c.markers.append(IN_CHARGE_MARKER)
