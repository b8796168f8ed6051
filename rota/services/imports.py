"""Rota services: importing assignments from CSV."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from core import audit, timeutil
from core.accounts import Membership, Team
from core.db import db
from core.errors import DomainError, ValidationFailed
from rota import csv_io
from rota.assignment import check_can_hold, set_assignee
from rota.models import (
    Shift,
    ShiftState,
)
from rota.services.access import require_manage
from rota.services.shift_types import shift_types
from rota.services.shifts import add_shift

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
