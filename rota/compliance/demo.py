"""Demo data for working-time compliance: an example the grid marker, the working-time page and the audit trail can
show. Registered as a demo seeder by ``rota.compliance.wiring``; production code never imports it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.accounts import Team, user_by_email
from core.audit import AuditEntry
from core.db import db
from rota import demo
from rota.assignment import overlapping_shift, set_assignee
from rota.models import Shift, ShiftState, ShiftType


def seed_demo() -> list[str]:
    """Demo: the demo nurse is asked back for an Early after one of their Lates (a short rest, a WTR warning), so the
    grid marker, the working-time page and the audit trail have something to show. Idempotent."""

    if db.session.scalar(select(AuditEntry.id).where(AuditEntry.action == "compliance.warned").limit(1)):
        return []
    ward = db.session.scalar(select(Team).where(Team.name == demo.WARD))
    coord = user_by_email("ward.manager@shiftbridge.test")
    if ward is None or coord is None:
        return []
    try:
        nurse = user_by_email(demo.demo_nurse_email())
    except (IndexError, AttributeError):
        return []
    late_type = db.session.scalar(select(ShiftType).where(ShiftType.team_id == ward.id, ShiftType.code == "L"))
    early_type = db.session.scalar(select(ShiftType).where(ShiftType.team_id == ward.id, ShiftType.code == "E"))
    if nurse is None or late_type is None or early_type is None:
        return []
    lates = db.session.scalars(select(Shift).where(Shift.assignee_id == nurse.id, Shift.shift_type_id == late_type.id,
                                                   Shift.state == ShiftState.scheduled).order_by(Shift.starts_at))

    for late in lates:
        start = late.starts_at + timedelta(hours=18)  # 13:00 -> 07:00 the next day
        end = start + timedelta(minutes=early_type.duration_minutes)
        if overlapping_shift(nurse, start, end) is not None:
            continue
        early = Shift(team_id=ward.id, shift_type_id=early_type.id, starts_at=start, ends_at=end,
                      rota_period_id=late.rota_period_id, state=ShiftState.open, note="Extra Early (demo)")
        db.session.add(early)
        db.session.flush()
        try:
            set_assignee(early, nurse, actor=coord)
        except Exception:  # a leave day or a blocking rule: leave the demo without the example
            db.session.delete(early)
            db.session.flush()
            continue
        return [f"Working time: {nurse.display_name} has a quick return (Late then Early) — see /compliance/{nurse.id}"]
    return []

