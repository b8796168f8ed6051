"""Rota JSON API under /api/v1: teams, members, shift types, requirements, gaps, shifts, periods, leave, imports."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user
from sqlalchemy import func, select

from core import timeutil
from core.api import Blueprint, PageArgs, login_required_api, page_schema
from core.db import db
from core.errors import Forbidden, NotFound
from rota import schemas as sc
from rota import services
from rota.models import StaffingRequirement
from rota.services import in_charge

blp = Blueprint("rota_api", __name__, url_prefix="/api/v1", description="Teams, shift types, requirements, gaps, "
                "shifts, rota periods, leave and CSV import")


def register(app, api) -> None:
    api.register_blueprint(blp)


def _page(stmt, args):
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.scalars(stmt.limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])).all()
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


def _viewable_team(team_id: int):
    team = services.get_team(team_id)
    if not team.can_view(current_user):
        raise Forbidden("You are not a member of this team.")
    return team


# ------------------------------------------------------------------------------------------------------ teams


@blp.get("/teams")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(sc.TeamSchema, "TeamPage"))
@login_required_api
def list_teams(args):
    """Teams you belong to (administrators: every team)."""
    teams = services.visible_teams(current_user)
    start = (args["page"] - 1) * args["per_page"]
    return {"items": teams[start:start + args["per_page"]], "page": args["page"], "per_page": args["per_page"],
            "total": len(teams)}


@blp.post("/teams")
@blp.arguments(sc.TeamCreateSchema)
@blp.response(201, sc.TeamDetailSchema)
@login_required_api
def create_team(data):
    """Create a team (administrators)."""
    team = services.create_team(actor=current_user, **data)
    db.session.commit()
    return team


@blp.get("/teams/<int:team_id>")
@blp.response(200, sc.TeamDetailSchema)
@login_required_api
def get_team(team_id):
    """A team with its members, their roles, grades and skills."""
    return _viewable_team(team_id)


@blp.post("/teams/<int:team_id>/members")
@blp.arguments(sc.MemberAddSchema)
@blp.response(201, sc.TeamDetailSchema)
@login_required_api
def add_member(data, team_id):
    """Add a person to the team (or change their role) without an invitation: administrators, or coordinators who
    already coordinate the person in another team. Otherwise 403 (``code: consent_required``): invite them with
    ``POST /teams/{id}/invitations`` and they join when they accept."""
    team = services.get_team(team_id)
    user = services.get_user(data["user_id"])
    services.add_member(team, user, data["role"], actor=current_user)
    db.session.commit()
    return team


# ------------------------------------------------------------------------------------- shift types, requirements


@blp.get("/teams/<int:team_id>/shift-types")
@blp.response(200, sc.ShiftTypeSchema(many=True))
@login_required_api
def list_shift_types(team_id):
    """The team's shift types (codes such as E, L, LD, N, OC)."""
    return services.shift_types(_viewable_team(team_id))


@blp.post("/teams/<int:team_id>/shift-types")
@blp.arguments(sc.ShiftTypeCreateSchema)
@blp.response(201, sc.ShiftTypeSchema)
@login_required_api
def create_shift_type(data, team_id):
    """Add a shift type: local start time and nominal duration (may cross midnight)."""
    st = services.create_shift_type(services.get_team(team_id), actor=current_user, **data)
    db.session.commit()
    return st


@blp.get("/teams/<int:team_id>/requirements")
@blp.response(200, sc.RequirementSchema(many=True))
@login_required_api
def list_requirements(team_id):
    """Safe-staffing requirement clauses, e.g. Night: 3 nursing, of whom 1 Band 6+."""
    return services.requirements(_viewable_team(team_id))


@blp.post("/teams/<int:team_id>/requirements")
@blp.arguments(sc.RequirementCreateSchema)
@blp.response(201, sc.RequirementSchema)
@login_required_api
def create_requirement(data, team_id):
    """Add a requirement clause for a shift type (every day, or one weekday)."""
    team = services.get_team(team_id)
    services.require_manage(team, current_user)
    st = services.type_of(team, data.pop("shift_type_id"))
    req = services.create_requirement(team, shift_type=st, actor=current_user, **data)
    db.session.commit()
    return req


# ------------------------------------------------------------------------------------------------------- gaps


@blp.get("/teams/<int:team_id>/gaps")
@blp.arguments(sc.RangeArgs, location="query")
@blp.response(200, sc.GapSchema(many=True))
@login_required_api
def list_gaps(args, team_id):
    """Unmet staffing requirements per local day (``missing`` = places neither filled nor advertised)."""
    return services.gaps_for(_viewable_team(team_id), args["from_"], args["to"])


@blp.post("/teams/<int:team_id>/gaps/open")
@blp.arguments(sc.GapOpenSchema)
@blp.response(201, sc.ShiftSchema)
@login_required_api
def open_gap(data, team_id):
    """Turn one missing place of a gap into an open shift (one call)."""
    team = services.get_team(team_id)
    req = db.session.get(StaffingRequirement, data["requirement_id"])
    if req is None or req.team_id != team.id:
        raise NotFound(f"No requirement with id {data['requirement_id']} in this team.")
    shift = services.open_gap(team, requirement=req, day=data["date"], actor=current_user)
    db.session.commit()
    return shift


# ----------------------------------------------------------------------------------------------------- shifts


@blp.get("/shifts")
@blp.arguments(sc.ShiftArgs, location="query")
@blp.response(200, page_schema(sc.ShiftSchema, "ShiftPage"))
@login_required_api
def list_shifts(args):
    """Shifts you may see, filtered by team, person, local days and state; in start order."""
    tz, role = "UTC", None
    if args.get("team_id"):  # the team's zone and the viewer's role in it, in one query
        zone, role = services.team_zone_and_role(current_user, args["team_id"])
        tz = zone or "UTC"
    start = end = None
    if args.get("from_") or args.get("to"):
        lo, hi = timeutil.day_bounds(args.get("from_") or args["to"], args.get("to") or args["from_"], tz)
        start = lo if args.get("from_") else None
        end = hi if args.get("to") else None
    # Plain rows (type code, team zone, assignee's name joined in) written straight to JSON: the schema above
    # documents the same items (``sc.shift_items``).
    rows, total = services.shift_item_rows(
        current_user, team_id=args.get("team_id"), person_id=args.get("person_id"), start=start, end=end,
        state=args.get("state"), team_role=role, limit=args["per_page"], offset=(args["page"] - 1) * args["per_page"])
    return jsonify({"items": sc.shift_items(rows), "page": args["page"], "per_page": args["per_page"],
                    "total": total})


@blp.post("/shifts")
@blp.arguments(sc.ShiftCreateSchema)
@blp.response(201, sc.ShiftSchema)
@login_required_api
def create_shift(data):
    """Add a shift: ``shift_type_id`` + local ``date``, or ``starts_at``/``ends_at``; open unless ``assignee_id``."""
    team = services.get_team(data["team_id"])
    services.require_manage(team, current_user)
    st = services.type_of(team, data["shift_type_id"]) if data.get("shift_type_id") else None
    starts = timeutil.parse_instant(data["starts_at"], team.timezone, field="starts_at") if data["starts_at"] else None
    ends = timeutil.parse_instant(data["ends_at"], team.timezone, field="ends_at") if data["ends_at"] else None
    assignee = services.get_user(data["assignee_id"]) if data.get("assignee_id") else None
    shift = services.add_shift(team, actor=current_user, shift_type=st, day=data.get("date"), starts_at=starts,
                               ends_at=ends, assignee=assignee, required_grade=data.get("required_grade"),
                               required_skills=data.get("required_skills"), note=data.get("note"),
                               override_reason=data.get("override_reason"))
    db.session.commit()
    return shift


def _visible_shift(shift_id):
    shift = services.get_shift(shift_id)
    if not services.is_visible(shift, current_user):
        raise NotFound(f"No shift with id {shift_id}.")
    return shift


@blp.get("/shifts/<int:shift_id>")
@blp.response(200, sc.ShiftSchema)
@login_required_api
def get_shift(shift_id):
    """One shift (UTC instants and team-local times)."""
    return _visible_shift(shift_id)


@blp.patch("/shifts/<int:shift_id>")
@blp.arguments(sc.ShiftPatchSchema)
@blp.response(200, sc.ShiftSchema)
@login_required_api
def patch_shift(data, shift_id):
    """Change times, type, requirements, note or holder (``assignee_id``; null opens it). Send the ``version``
    you saw: 409 if someone changed the shift meanwhile, or if the person already works then or is on leave."""
    shift = _visible_shift(shift_id)
    services.require_manage(shift.team, current_user)
    tz = shift.team.timezone
    kw = {"version": data["version"], "override_reason": data.get("override_reason")}
    if "starts_at" in data:
        kw["starts_at"] = timeutil.parse_instant(data["starts_at"], tz, field="starts_at")
    if "ends_at" in data:
        kw["ends_at"] = timeutil.parse_instant(data["ends_at"], tz, field="ends_at")
    if "shift_type_id" in data:
        kw["shift_type"] = services.type_of(shift.team, data["shift_type_id"])
    if "assignee_id" in data:
        kw["assignee"] = services.get_user(data["assignee_id"]) if data["assignee_id"] else None
    for key in ("required_grade", "required_skills", "note"):
        if key in data:
            kw[key] = data[key]
    services.edit_shift(shift, actor=current_user, **kw)
    db.session.commit()
    return shift


@blp.post("/shifts/<int:shift_id>/cancel")
@blp.arguments(sc.CancelSchema)
@blp.response(200, sc.ShiftSchema)
@login_required_api
def cancel_shift(data, shift_id):
    """Cancel a shift (a reason is required); its holder is released and told through their feeds."""
    shift = _visible_shift(shift_id)
    services.cancel_shift(shift, reason=data["reason"], actor=current_user)
    db.session.commit()
    return shift


def _in_charge(shift) -> dict:
    row = in_charge.get(shift.team, shift.starts_at)
    user = services.get_user(row.user_id) if row is not None else None
    return {"team_id": shift.team_id, "starts_at": shift.starts_at, "user_id": user.id if user else None,
            "name": user.display_name if user else None}


@blp.get("/shifts/<int:shift_id>/in-charge")
@blp.response(200, sc.InChargeSchema)
@login_required_api
def get_in_charge(shift_id):
    """Who is the nurse in charge of this shift's slot (the team's shifts starting at the same time)."""
    return _in_charge(_visible_shift(shift_id))


@blp.put("/shifts/<int:shift_id>/in-charge")
@blp.arguments(sc.InChargeSetSchema)
@blp.response(200, sc.InChargeSchema)
@login_required_api
def set_in_charge(data, shift_id):
    """Coordinators: mark who is in charge of this shift's slot (one per team per start time; replaces the one
    marked before). 422 unless the person is rostered on a shift of this team starting then. Audited."""
    shift = _visible_shift(shift_id)
    in_charge.set_in_charge(shift.team, shift.starts_at, data["user_id"], actor=current_user)
    db.session.commit()
    return _in_charge(shift)


@blp.delete("/shifts/<int:shift_id>/in-charge")
@blp.response(200, sc.InChargeSchema)
@login_required_api
def clear_in_charge(shift_id):
    """Coordinators: nobody is marked in charge of this slot any more (``@in-charge`` falls back to the most senior
    nurse on shift)."""
    shift = _visible_shift(shift_id)
    in_charge.clear_in_charge(shift.team, shift.starts_at, actor=current_user)
    db.session.commit()
    return _in_charge(shift)


# ---------------------------------------------------------------------------------------- building the rota


@blp.post("/teams/<int:team_id>/pattern-runs")
@blp.arguments(sc.PatternRunSchema)
@blp.response(201, sc.BuildResultSchema)
@login_required_api
def run_pattern(data, team_id):
    """Generate shifts from a repeating pattern (line pattern and/or RFC 5545 rules). People who cannot work a
    generated shift (leave, overlap) leave it open; ``problems`` says why."""
    team = services.get_team(team_id)
    first, last = data.pop("first_day"), data.pop("last_day")
    report = services.generate_from_pattern(team, pattern=data, first_day=first, last_day=last, actor=current_user)
    db.session.commit()
    return report


@blp.post("/teams/<int:team_id>/copy-week")
@blp.arguments(sc.CopyWeekSchema)
@blp.response(201, sc.BuildResultSchema)
@login_required_api
def copy_week(data, team_id):
    """Copy one week's shifts (same local times, same people) to another week."""
    report = services.copy_week(services.get_team(team_id), source_monday=data["source_week"],
                                target_monday=data["target_week"], actor=current_user)
    db.session.commit()
    return report


@blp.get("/teams/<int:team_id>/rota-periods")
@blp.response(200, sc.PeriodSchema(many=True))
@login_required_api
def list_periods(team_id):
    """The team's rota periods, newest first."""
    return services.periods(_viewable_team(team_id))


@blp.post("/teams/<int:team_id>/rota-periods")
@blp.arguments(sc.PeriodCreateSchema)
@blp.response(201, sc.PeriodSchema)
@login_required_api
def create_period(data, team_id):
    """Start a draft rota period (staff do not see its shifts until it is published)."""
    period = services.create_period(services.get_team(team_id), actor=current_user, **data)
    db.session.commit()
    return period


@blp.post("/rota-periods/<int:period_id>/publish")
@blp.arguments(sc.PublishSchema, required=False)
@blp.response(200, sc.PublishResultSchema)
@login_required_api
def publish_period(data, period_id):
    """Publish a period: publish checks run (a blocking rule breach refuses with 422), staff are notified. A period
    with no shifts is refused (422, code ``empty_period``) unless the body says ``{"confirm_empty": true}``."""
    period = services.get_period(period_id)
    if not period.team.can_view(current_user):
        raise NotFound(f"No rota period with id {period_id}.")
    reports = services.publish_period(period, actor=current_user, confirm_empty=data["confirm_empty"])
    db.session.commit()
    return {"period": period, "reports": reports}


# ------------------------------------------------------------------------------------------------------ leave


@blp.get("/leave")
@blp.arguments(sc.LeaveArgs, location="query")
@blp.response(200, page_schema(sc.LeaveSchema, "LeavePage"))
@login_required_api
def list_leave(args):
    """Leave you may see: your own; coordinators their teams'; administrators all."""
    stmt = services.leave_query(current_user, user_id=args.get("user_id"), team_id=args.get("team_id"),
                                start=args.get("from_"), end=args.get("to"))
    return _page(stmt, args)


@blp.post("/leave")
@blp.arguments(sc.LeaveCreateSchema)
@blp.response(201, sc.LeaveResultSchema)
@login_required_api
def create_leave(data):
    """Record approved leave or sickness. The person's shifts on those days become open shifts (listed in
    ``opened_shift_ids``) and their coordinators are notified."""
    user = services.get_user(data["user_id"])
    team = services.get_team(data["team_id"]) if data.get("team_id") else None
    leave, opened = services.record_leave(user, kind=data["kind"], first_day=data["first_day"],
                                          last_day=data["last_day"], note=data.get("note"), team=team,
                                          actor=current_user)
    db.session.commit()
    leave.opened_shift_ids = [s.id for s in opened]
    return leave


# ----------------------------------------------------------------------------------------------------- import


@blp.post("/teams/<int:team_id>/imports")
@blp.arguments(sc.ImportSchema)
@blp.response(201, sc.ImportResultSchema)
@login_required_api
def import_csv(data, team_id):
    """Import assignments from CSV (staff email or staff number, date, shift_code). Every row is checked first;
    on any problem nothing changes and the 422 answer lists each bad row under ``rows`` and ``errors``."""
    result = services.import_assignments(services.get_team(team_id), data["csv"], actor=current_user,
                                         dry_run=data["dry_run"])
    if data["dry_run"]:
        db.session.rollback()
    else:
        db.session.commit()
    return result
