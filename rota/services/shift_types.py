"""Rota services: a team's shift types and staffing requirements."""

from __future__ import annotations

import re
from datetime import time

from sqlalchemy import select

from core import audit
from core.accounts import GRADES, StaffGroup, Team
from core.db import db
from core.errors import Conflict, ValidationFailed
from rota.models import (
    ShiftKind,
    ShiftType,
    StaffingRequirement,
)
from rota.services.access import require_manage

CODE_RE = re.compile(r"^[A-Z0-9]{1,8}$")
COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


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


def type_of(team: Team, shift_type_id: int, fld: str = "shift_type_id") -> ShiftType:
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


def one_person_label(req: StaffingRequirement) -> str:
    """Whom one opened shift of ``req`` is for, with its article: "an HCA", "a Band 6+", "an RN (IV-trained)"."""
    who = req.min_grade + "+" if req.min_grade else {"nursing": "RN", "support": "HCA", "medical": "doctor",
                                                     "ahp": "AHP", "admin": "admin"}.get(req.staff_group or "")
    if who is None:
        return "anyone" + (f" {req.skill}" if req.skill else "")
    article = "an" if (who[0] in "AEFHILMNORSX" and who.isupper()) or who[0] in "aeiou" else "a"  # an RN, a Band 6+
    return f"{article} {who}" + (f" ({req.skill})" if req.skill else "")


def requirement_label(req: StaffingRequirement) -> str:
    who = req.min_grade + "+" if req.min_grade else {"nursing": "RN", "support": "HCA", "medical": "doctor",
                                                     "ahp": "AHP", "admin": "admin"}.get(req.staff_group or "",
                                                                                         "staff")
    return f"{req.min_count} {who}" + (f" ({req.skill})" if req.skill else "")
