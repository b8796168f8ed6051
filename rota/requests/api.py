"""Staff requests JSON API under /api/v1: leave requests (ask, decide, cancel, effect on cover), my leave balance,
request windows, rota requests and preferences. Errors are application/problem+json (core.handlers)."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import func, select

from core.api import Blueprint, Id, PageArgs, QueryId, Text, admin_required_api, login_required_api, page_schema
from core.db import db
from core.errors import NotFound
from rota import services
from rota.requests import balance, leave_calendar, rota_requests, service, settings
from rota.requests import entitlement as ent
from rota.requests.models import PreferenceKind, RequestState, RotaRequestKind
from rota.schemas import Day

blp = Blueprint("requests_api", __name__, url_prefix="/api/v1", description="Leave requests and balances, request "
                "windows, rota requests, preferences and flexible-working agreements")


def _page(stmt, args):
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.scalars(stmt.limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])).all()
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


# --------------------------------------------------------------------------------------------------- schemas


class LeaveRequestSchema(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    team_id = fields.Integer()
    kind = fields.String()
    first_day = fields.Date()
    last_day = fields.Date()
    minutes = fields.Integer(metadata={"description": "taken from the annual leave balance (annual leave only)"})
    note = fields.String(allow_none=True)
    state = fields.Function(lambda r: r.state.value)
    decision_reason = fields.String(allow_none=True)
    decided_by_id = fields.Integer(allow_none=True)
    leave_id = fields.Integer(allow_none=True, metadata={"description": "the rota's leave record once approved"})


class LeaveRequestCreateSchema(Schema):
    kind = fields.String(load_default="annual", validate=validate.OneOf(list(service.REQUESTABLE)))
    first_day = Day(required=True)
    last_day = Day(required=True)
    team_id = Id(allow_none=True, load_default=None)
    hours = fields.Float(allow_none=True, load_default=None, allow_nan=False,
                         validate=validate.Range(min=0, max=24 * service.MAX_DAYS),
                         metadata={"description": "the hours it costs; default each weekday at the person's FTE"})
    note = Text(max_len=200, allow_none=True, load_default=None)

    @validates_schema
    def _order(self, data, **kw):
        if data.get("first_day") and data.get("last_day") and data["last_day"] < data["first_day"]:
            raise ValidationError({"last_day": ["Must be on or after the first day."]})


class DecisionSchema(Schema):
    reason = Text(max_len=200, allow_none=True, load_default=None)


class LeaveRequestArgs(PageArgs):
    user_id = QueryId()
    team_id = QueryId()
    state = fields.String(validate=validate.OneOf([s.value for s in RequestState]))


class DayCoverSchema(Schema):
    day = fields.Date()
    off = fields.List(fields.String(), metadata={"description": "team members already on leave that day"})
    max_off = fields.Integer(allow_none=True)
    over_limit = fields.Boolean()
    shifts = fields.List(fields.String(), metadata={"description": "the person's shifts that would open"})
    gaps = fields.List(fields.String(), metadata={"description": "staffing requirements it would leave short"})


class CoverSchema(Schema):
    days = fields.Nested(DayCoverSchema, many=True)


class CarryOverSchema(Schema):
    from_year = fields.Integer(metadata={"description": "the leave year carried from"})
    unused_minutes = fields.Integer(attribute="unused", metadata={
        "description": "that year's entitlement + its carry-over - its approved leave (negative: overdrawn)"})
    cap_minutes = fields.Integer(attribute="cap", metadata={"description": "the trust's limit pro rata to FTE"})
    worked_out_minutes = fields.Integer(attribute="worked_out", metadata={"description": "unused, from 0 to the cap"})
    recorded_minutes = fields.Integer(attribute="recorded", allow_none=True,
                                      metadata={"description": "a coordinator's figure; when set, it is what counts"})
    overdraft_minutes = fields.Integer(attribute="overdraft")
    minutes = fields.Integer(metadata={"description": "what is carried"})
    text = fields.Function(lambda c: ent.carry_words(c))


class BalanceSchema(Schema):
    year = fields.Integer(metadata={"description": "the calendar year the leave year starts in"})
    first_day = fields.Date()
    last_day = fields.Date()
    entitlement_minutes = fields.Integer(attribute="entitlement")
    carried_minutes = fields.Integer(attribute="carried")
    carry_over = fields.Nested(CarryOverSchema, attribute="carry")
    approved_minutes = fields.Integer(attribute="taken")
    pending_minutes = fields.Integer(attribute="pending")
    remaining_minutes = fields.Integer(attribute="remaining")
    available_minutes = fields.Integer(attribute="available", metadata={"description": "remaining less pending"})


class BalanceArgs(Schema):
    year = fields.Integer(validate=validate.Range(min=2000, max=2100))


class TrustRulesSchema(Schema):
    year_start_month = fields.Integer(validate=validate.Range(min=1, max=12),
                                      metadata={"description": "the month the leave year starts (1-12)"})
    year_start_day = fields.Integer(validate=validate.Range(min=1, max=31), metadata={
        "description": "its day, 1-28 (the same day every year; 29 February is refused)"})
    day_minutes = fields.Integer(validate=validate.Range(min=0, max=24 * 60),
                                 metadata={"description": "a full-time day (60-720)"})
    days_under_5 = fields.Integer(validate=validate.Range(min=0, max=settings.MAX_TABLE_DAYS), metadata={
        "description": "Agenda for Change days, under 5 years of NHS service"})
    days_5_to_10 = fields.Integer(validate=validate.Range(min=0, max=settings.MAX_TABLE_DAYS),
                                  metadata={"description": "5 to 10 years"})
    days_over_10 = fields.Integer(validate=validate.Range(min=0, max=settings.MAX_TABLE_DAYS),
                                  metadata={"description": "over 10 years"})
    bank_holidays = fields.Integer(validate=validate.Range(min=0, max=settings.MAX_BANK_HOLIDAYS),
                                   metadata={"description": "days added to every row"})
    max_carry_minutes = fields.Integer(validate=validate.Range(min=0, max=60 * settings.MAX_CARRY_HOURS), metadata={
        "description": "carry-over cap for a full-timer (pro rata to FTE)"})


class WindowSchema(Schema):
    id = fields.Integer()
    team_id = fields.Integer()
    period_id = fields.Integer()
    opens_on = fields.Date()
    closes_on = fields.Date()
    max_per_person = fields.Integer()


class WindowCreateSchema(Schema):
    opens_on = Day(required=True)
    closes_on = Day(required=True)
    max_per_person = fields.Integer(load_default=3, strict=True, validate=validate.Range(min=1, max=50))


class RotaRequestSchema(Schema):
    id = fields.Integer()
    window_id = fields.Integer()
    user_id = fields.Integer()
    day = fields.Date()
    kind = fields.Function(lambda r: r.kind.value)
    shift_type_id = fields.Integer(allow_none=True, metadata={"description": "null with avoid: the whole day off"})
    priority = fields.Integer(metadata={"description": "1 important, 2 would like, 3 if possible"})
    note = fields.String(allow_none=True)


class RotaRequestCreateSchema(Schema):
    window_id = Id(required=True)
    day = Day(required=True)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in RotaRequestKind]))
    shift_type_id = Id(allow_none=True, load_default=None)
    priority = fields.Integer(load_default=2, strict=True, validate=validate.Range(min=1, max=3))
    note = Text(max_len=200, allow_none=True, load_default=None)


class RotaRequestArgs(PageArgs):
    window_id = QueryId()
    user_id = QueryId()


class PreferenceSchema(Schema):
    id = fields.Integer()
    team_id = fields.Integer()
    user_id = fields.Integer()
    kind = fields.Function(lambda p: p.kind.value)
    shift_type_id = fields.Integer(allow_none=True)
    weekday = fields.Integer(allow_none=True, metadata={"description": "0 = Monday"})
    agreement = fields.Boolean(metadata={"description": "a flexible-working agreement: a hard constraint"})
    note = fields.String(allow_none=True)


class PreferenceCreateSchema(Schema):
    user_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in PreferenceKind]))
    shift_type_id = Id(allow_none=True, load_default=None)
    weekday = fields.Integer(allow_none=True, load_default=None, strict=True, validate=validate.Range(min=0, max=6))
    agreement = fields.Boolean(load_default=False)
    note = Text(max_len=200, allow_none=True, load_default=None)


# ------------------------------------------------------------------------------------------------ leave requests


@blp.get("/leave-requests")
@blp.arguments(LeaveRequestArgs, location="query")
@blp.response(200, page_schema(LeaveRequestSchema, "LeaveRequestPage"))
@login_required_api
def list_leave_requests(args):
    """Your own requests; coordinators also their teams'; administrators all."""
    return _page(service.request_query(current_user, user_id=args.get("user_id"), team_id=args.get("team_id"),
                                       state=args.get("state")), args)


@blp.post("/leave-requests")
@blp.arguments(LeaveRequestCreateSchema)
@blp.response(201, LeaveRequestSchema)
@login_required_api
def create_leave_request(data):
    """Ask for leave (for yourself). Refused with 422 if it is more than your balance, crosses leave years or starts
    in the past; 409 if it overlaps a request or leave you already have. Your coordinators are told."""
    team = services.get_team(data["team_id"]) if data.get("team_id") else None
    req = service.request_leave(current_user, actor=current_user, kind=data["kind"], first_day=data["first_day"],
                                last_day=data["last_day"], team=team, hours=data["hours"], note=data["note"])
    db.session.commit()
    return req


@blp.get("/leave-requests/<int:request_id>")
@blp.response(200, LeaveRequestSchema)
@login_required_api
def get_leave_request(request_id):
    return service.get_request(request_id, current_user)


@blp.get("/leave-requests/<int:request_id>/cover")
@blp.response(200, CoverSchema)
@login_required_api
def leave_request_cover(request_id):
    """Coordinators: per day, who is already off, the team's "at most N off", the shifts that would open and the
    staffing gaps that would leave."""
    req = service.get_request(request_id, current_user)
    if not req.team.can_manage(current_user):
        raise NotFound(f"No leave request with id {request_id}.")
    return {"days": leave_calendar.cover_effect(req)}


def _decision(request_id, data, action):
    req = service.get_request(request_id, current_user)
    action(req, actor=current_user, reason=data.get("reason"))
    db.session.commit()
    return req


@blp.post("/leave-requests/<int:request_id>/approve")
@blp.arguments(DecisionSchema, required=False)
@blp.response(200, LeaveRequestSchema)
@login_required_api
def approve_leave_request(data, request_id):
    """Approve: the leave goes into the rota (the person's shifts those days become open shifts) and the person is
    told. Of two decisions at once one wins; the other gets 409 ``already_decided``."""
    return _decision(request_id, data, service.approve)


@blp.post("/leave-requests/<int:request_id>/refuse")
@blp.arguments(DecisionSchema)
@blp.response(200, LeaveRequestSchema)
@login_required_api
def refuse_leave_request(data, request_id):
    """Refuse, with a reason the person sees."""
    return _decision(request_id, data, service.refuse)


@blp.post("/leave-requests/<int:request_id>/cancel")
@blp.arguments(DecisionSchema, required=False)
@blp.response(200, LeaveRequestSchema)
@login_required_api
def cancel_leave_request(data, request_id):
    """Withdraw your own (waiting or approved) request, or, as a coordinator, cancel with a reason."""
    return _decision(request_id, data, service.cancel)


@blp.get("/me/leave-balance")
@blp.arguments(BalanceArgs, location="query")
@blp.response(200, BalanceSchema)
@login_required_api
def my_leave_balance(args):
    """Your annual leave balance for a leave year (default: the one today is in), in minutes."""
    year = args.get("year") or balance.leave_year_of(balance.today_for(current_user))
    return balance.balance(current_user, year)


@blp.get("/trust/leave-rules")
@blp.response(200, TrustRulesSchema)
@admin_required_api
def get_trust_leave_rules():
    """Administrators: the trust's leave rules (leave-year start, entitlement table, carry-over cap), minutes."""
    return settings.rules()


@blp.put("/trust/leave-rules")
@blp.arguments(TrustRulesSchema)
@blp.response(200, TrustRulesSchema)
@admin_required_api
def put_trust_leave_rules(data):
    """Administrators: change the trust's leave rules (fields left out stay as they are); audited with before and
    after. Every balance is worked out again from them."""
    settings.set_trust_rules(actor=current_user, **data)
    db.session.commit()
    return settings.rules()


# ------------------------------------------------------------------------------------------------ rota requests


@blp.get("/request-windows")
@blp.response(200, WindowSchema(many=True))
@login_required_api
def list_windows():
    """Request windows of your teams, latest first."""
    return rota_requests.windows_for(current_user)


@blp.post("/rota-periods/<int:period_id>/request-window")
@blp.arguments(WindowCreateSchema)
@blp.response(201, WindowSchema)
@login_required_api
def open_window(data, period_id):
    """Coordinators: open requests for a draft period (closing before it starts); the team is told."""
    period = services.get_period(period_id)
    if not period.team.can_view(current_user):
        raise NotFound(f"No rota period with id {period_id}.")
    window = rota_requests.open_window(period, actor=current_user, **data)
    db.session.commit()
    return window


@blp.get("/rota-requests")
@blp.arguments(RotaRequestArgs, location="query")
@blp.response(200, page_schema(RotaRequestSchema, "RotaRequestPage"))
@login_required_api
def list_rota_requests(args):
    """Your rota requests; coordinators their teams' (the input of a rota builder)."""
    return _page(rota_requests.request_query(current_user, window_id=args.get("window_id"),
                                             user_id=args.get("user_id")), args)


@blp.post("/rota-requests")
@blp.arguments(RotaRequestCreateSchema)
@blp.response(201, RotaRequestSchema)
@login_required_api
def create_rota_request(data):
    """Ask, in an open window: ``want`` a shift type, or ``avoid`` a shift type (or, without one, the whole day).
    409 when the window is closed, the per-person limit is reached or the day already has a request."""
    window = rota_requests.get_window(data.pop("window_id"), current_user)
    req = rota_requests.add_request(window, actor=current_user, **data)
    db.session.commit()
    return req


@blp.delete("/rota-requests/<int:request_id>")
@blp.response(204)
@login_required_api
def delete_rota_request(request_id):
    rota_requests.remove_request(rota_requests.get_request(request_id, current_user), actor=current_user)
    db.session.commit()
    return None


@blp.get("/teams/<int:team_id>/preferences")
@blp.response(200, PreferenceSchema(many=True))
@login_required_api
def list_preferences(team_id):
    """Coordinators: the team's standing preferences and flexible-working agreements."""
    team = services.get_team(team_id)
    services.require_manage(team, current_user)
    return rota_requests.preferences_of(team)


@blp.post("/teams/<int:team_id>/preferences")
@blp.arguments(PreferenceCreateSchema)
@blp.response(201, PreferenceSchema)
@login_required_api
def create_preference(data, team_id):
    team = services.get_team(team_id)
    user = services.get_user(data.pop("user_id"))
    pref = rota_requests.add_preference(team, user, actor=current_user, **data)
    db.session.commit()
    return pref
