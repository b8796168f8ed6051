"""Swaps, offers and open shifts: the JSON API under /api/v1 (thin views over :mod:`rota.swaps`)."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user
from marshmallow import Schema, fields, validate
from sqlalchemy import inspect as sa_inspect

from core.accounts import Team, User
from core.api import MAX_ID, Blueprint, Id, PageArgs, Text, login_required_api, page_schema
from core.db import db, get_by_id
from core.errors import Forbidden, NotFound
from rota import cover, services
from rota.models import Shift, StaffingRequirement
from rota.schemas import GapOpenSchema
from rota.swaps import absence, decisions, eligibility, home, open_shifts
from rota.swaps import requests as swap_requests
from rota.swaps.eligibility import describe_shift
from rota.swaps.models import SwapKind, SwapRequest, SwapState

blp = Blueprint("swaps_api", __name__, url_prefix="/api/v1",
                description="Shift swaps, give-aways (offers) and open shifts")


# ---------------------------------------------------------------------------------------------------- schemas


class SwapPersonSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()
    grade = fields.String(allow_none=True)
    staff_group = fields.Function(lambda u: u.staff_group.value)


class SwapShiftSchema(Schema):
    id = fields.Integer()
    team_id = fields.Integer()
    label = fields.Function(describe_shift, metadata={"description": "e.g. 'Night Thu 27 Nov 19:30–08:00'"})
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    state = fields.Function(lambda s: s.state.value)
    assignee_id = fields.Integer(allow_none=True)
    required_grade = fields.String(allow_none=True)
    required_skills = fields.List(fields.String())
    version = fields.Integer()


class SwapVerdictSchema(Schema):
    rule_id = fields.String()
    severity = fields.String()
    observed = fields.String()
    limit = fields.String()
    message = fields.String()
    shift_ids = fields.List(fields.Integer())


class CoverEffectSchema(Schema):
    slot = fields.String(metadata={"description": "shift type and local day, e.g. 'Night Sat 12 Dec'"})
    requirement = fields.Function(lambda e: cover.clause_words(e.requirement),
                                  metadata={"description": "e.g. 'registered nurses at Band 6 or above'"})
    minimum = fields.Integer()
    before = fields.Integer(metadata={"description": "holders who count towards it now"})
    after = fields.Integer(metadata={"description": "holders who would count towards it after the change"})
    breaks = fields.Boolean(metadata={"description": "the change takes it below its minimum (a COVER-min block)"})
    text = fields.String(metadata={"description": "e.g. 'Night Sat 12 Dec: registered nurses 3 → 2 of 3'"})


class SwapEligibilitySchema(Schema):
    user_id = fields.Function(lambda e: e.user.id)
    display_name = fields.Function(lambda e: e.user.display_name)
    staff_group = fields.Function(lambda e: e.user.staff_group.value)
    grade = fields.Function(lambda e: e.user.grade)
    shift_id = fields.Function(lambda e: e.shift.id)
    ok = fields.Boolean()
    reasons = fields.List(fields.String())
    verdicts = fields.List(fields.Nested(SwapVerdictSchema))
    cover = fields.List(fields.Nested(CoverEffectSchema),
                        metadata={"description": "what the change does to the slot's staffing requirements"})


class SwapRecipientSchema(Schema):
    user_id = fields.Integer()
    display_name = fields.Function(lambda r: r.user.display_name)
    grade = fields.Function(lambda r: r.user.grade)
    staff_group = fields.Function(lambda r: r.user.staff_group.value)
    state = fields.Function(lambda r: r.state.value)
    reason = fields.String(allow_none=True)
    responded_at = fields.DateTime(allow_none=True)


class SwapSchema(Schema):
    id = fields.Integer()
    team_id = fields.Integer()
    kind = fields.Function(lambda r: r.kind.value)
    state = fields.Function(lambda r: r.state.value)
    requester = fields.Nested(SwapPersonSchema)
    shift = fields.Nested(SwapShiftSchema)
    counterpart_shift = fields.Nested(SwapShiftSchema, allow_none=True)
    to_everyone = fields.Boolean()
    recipients = fields.List(fields.Nested(SwapRecipientSchema))
    accepted_by = fields.Nested(SwapPersonSchema, allow_none=True)
    decided_by = fields.Nested(SwapPersonSchema, allow_none=True)
    auto_approved = fields.Boolean()
    note = fields.String(allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "Why it was declined, refused or cancelled"})
    created_at = fields.DateTime()
    accepted_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime()
    version = fields.Integer()


class SwapDetailSchema(SwapSchema):
    checks = fields.List(fields.Nested(SwapEligibilitySchema),
                         metadata={"description": "Fresh eligibility and verdicts for the people the request moves"})


class SwapCreateSchema(Schema):
    shift_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in SwapKind]))
    to_user_ids = fields.List(Id(), validate=validate.Length(max=100), load_default=None, allow_none=True,
                              metadata={"description": "offer only; omit or empty for everyone eligible"})
    counterpart_shift_id = Id(load_default=None, allow_none=True, metadata={"description": "swap only"})
    note = Text(max_len=200, load_default=None, allow_none=True)


class SwapReasonSchema(Schema):
    reason = Text(required=True, min_len=1, max_len=200)


class SwapApproveSchema(Schema):
    note = Text(max_len=200, load_default=None, allow_none=True,
                metadata={"description": "required when there are working-time warnings (recorded as the reason)"})


class SwapListArgs(PageArgs):
    mine = fields.String(load_default="all", validate=validate.OneOf(["all", "incoming", "outgoing", "approvals"]))
    state = fields.String(validate=validate.OneOf([s.value for s in SwapState]))


class OpenShiftArgs(PageArgs):
    # Query strings are text: a strict Id() would refuse "12", so a plain bounded integer here.
    team_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))


class OpenShiftItemSchema(Schema):
    shift = fields.Nested(SwapShiftSchema)
    eligible = fields.Boolean()
    reasons = fields.List(fields.String())
    verdicts = fields.List(fields.Nested(SwapVerdictSchema))
    cover = fields.List(fields.Nested(CoverEffectSchema),
                        metadata={"description": "what my taking it would do to the slot's staffing requirements"})


class ShiftClaimResultSchema(Schema):
    outcome = fields.String(metadata={"description": "claimed (the shift is yours) or volunteered (the coordinator "
                                                     "chooses)"})
    shift = fields.Nested(SwapShiftSchema)


class ShiftAssignSchema(Schema):
    user_id = Id(required=True)
    override_reason = Text(max_len=200, load_default=None, allow_none=True)


class AbsenceCreateSchema(Schema):
    reason = fields.String(required=True, validate=validate.OneOf([r.value for r, _ in absence.REASONS]),
                           metadata={"description": "a category only (never clinical details)"})


class AbsenceSchema(Schema):
    id = fields.Integer()
    shift_id = fields.Integer()
    user_id = fields.Integer(metadata={"description": "the person who cannot work the shift"})
    team_id = fields.Integer()
    reason = fields.Function(lambda a: a.reason.value)
    handling = fields.Function(lambda a: a.handling.value,
                               metadata={"description": "open_shift (anyone eligible may take it) or coordinator "
                                                        "(left with the coordinator, not claimable until they ask "
                                                        "for cover or give it to someone)"})
    handling_text = fields.Function(lambda a: absence.HANDLING_WORDS[a.handling])
    leave_id = fields.Integer(allow_none=True, metadata={"description": "the leave or sickness record made or reused"})
    reported_at = fields.DateTime()
    shift = fields.Nested(SwapShiftSchema, metadata={"description": "the shift as it is now (open, nobody on it)"})


class CoverRequestSchema(Schema):
    broadcast_id = fields.Function(lambda b: b.id)
    recipient_count = fields.Function(lambda b: len(b.recipients),
                                      metadata={"description": "eligible colleagues asked (not the coordinator)"})
    urgent = fields.Boolean()
    shift_id = fields.Function(lambda b: (b.audience_params or {}).get("shift_id"))
    created_at = fields.DateTime()


# ---------------------------------------------------------------------------------------------------- helpers


def _me() -> User:
    """The signed-in person, bound to this request's session (a cached instance may have been detached by an
    earlier rollback when requests share an application context, as the OpenAPI fuzz harness does)."""
    user = current_user._get_current_object()
    state = sa_inspect(user)
    if state.detached and state.identity:
        return db.session.get(User, state.identity[0])
    return user


def _shift(shift_id: int) -> Shift:
    shift = get_by_id(Shift, shift_id)
    if shift is None:
        raise NotFound(f"No shift with id {shift_id}.")
    return shift


def _visible_request(request_id: int) -> SwapRequest:
    req = swap_requests.get_request(request_id)
    swap_requests.check_view(req, _me())
    return req


def _user(user_id: int) -> User:
    user = get_by_id(User, user_id)
    if user is None:
        raise NotFound(f"No person with id {user_id}.")
    return user


def _visible_shift(shift_id: int) -> Shift:
    shift = _shift(shift_id)
    if not services.is_visible(shift, _me()):
        raise NotFound(f"No shift with id {shift_id}.")
    return shift


def _text(value):
    return None if value is None else str(value)


def open_shift_items(results) -> list[dict]:
    """``OpenShiftItemSchema(many=True).dump`` of eligibility results, written directly: the same JSON
    (``tests/rota/swaps/test_open_shift_items.py``) at a fraction of marshmallow's cost per field (a tenth of the
    coordinator's open-shifts list went on it). A field added to those schemas must be added here; the test fails
    until it is."""
    items = []
    for e in results:
        s = e.shift
        items.append({
            "shift": {"id": s.id, "team_id": s.team_id, "label": describe_shift(s),
                      "starts_at": s.starts_at.isoformat(), "ends_at": s.ends_at.isoformat(), "state": s.state.value,
                      "assignee_id": s.assignee_id, "required_grade": _text(s.required_grade),
                      "required_skills": None if s.required_skills is None else [str(x) for x in s.required_skills],
                      "version": s.version},
            "eligible": e.ok,
            "reasons": [str(r) for r in e.reasons],
            "verdicts": [{"rule_id": _text(v.rule_id), "severity": _text(v.severity), "observed": _text(v.observed),
                          "limit": _text(v.limit), "message": _text(v.message),
                          "shift_ids": [int(i) for i in v.shift_ids]} for v in e.verdicts],
            "cover": [{"slot": _text(c.slot), "requirement": cover.clause_words(c.requirement),
                       "minimum": c.minimum, "before": c.before, "after": c.after, "breaks": c.breaks,
                       "text": c.text} for c in e.cover]})
    return items


def _open_page(results, args):
    """A page of open-shift items (``page_schema(OpenShiftItemSchema)``, documented on the endpoints)."""
    page, per_page = args["page"], args["per_page"]
    return jsonify({"items": open_shift_items(results[(page - 1) * per_page: page * per_page]), "page": page,
                    "per_page": per_page, "total": len(results)})


# ------------------------------------------------------------------------------------------------------ swaps


@blp.post("/swaps")
@blp.arguments(SwapCreateSchema)
@blp.response(201, SwapSchema)
@login_required_api
def create_swap(data):
    """Propose a swap (``kind: swap`` with ``counterpart_shift_id``) or offer a shift (``kind: offer``, to
    ``to_user_ids`` or, when omitted, everyone eligible)."""
    shift = _shift(data["shift_id"])
    if not shift.team.can_view(_me()):
        raise NotFound(f"No shift with id {shift.id}.")
    counterpart = _shift(data["counterpart_shift_id"]) if data.get("counterpart_shift_id") else None
    to_users = [_user(uid) for uid in dict.fromkeys(data.get("to_user_ids") or [])]
    req = swap_requests.propose(actor=_me(), shift=shift, kind=data["kind"], to_users=to_users or None,
                                counterpart_shift=counterpart, note=data.get("note"))
    db.session.commit()
    return req


@blp.get("/swaps")
@blp.arguments(SwapListArgs, location="query")
@blp.response(200, page_schema(SwapSchema, "SwapPage"))
@login_required_api
def list_swaps(args):
    """Requests that involve me: ``mine=incoming`` (asked of me), ``outgoing`` (mine), ``approvals`` (my teams'
    queue), ``all``. Filter by ``state``."""
    states = [SwapState(args["state"])] if args.get("state") else None
    stmt = swap_requests.requests_for(_me(), mine=args["mine"], states=states)
    total = db.session.scalar(db.select(db.func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.scalars(stmt.limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])).all()
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@blp.get("/swaps/<int:swap_id>")
@blp.response(200, SwapDetailSchema)
@login_required_api
def get_swap(swap_id):
    """One request, with fresh eligibility and verdicts for the people it would move."""
    req = _visible_request(swap_id)
    req.checks = decisions.approval_view(req) if req.pending else []
    return req


@blp.post("/swaps/<int:swap_id>/accept")
@blp.response(200, SwapSchema)
@login_required_api
def accept_swap(swap_id):
    """Accept a request made to me. 409 if someone else accepted first or it changed meanwhile."""
    req = _visible_request(swap_id)
    decisions.accept(req, actor=_me())
    db.session.commit()
    return req


@blp.post("/swaps/<int:swap_id>/decline")
@blp.arguments(SwapReasonSchema)
@blp.response(200, SwapSchema)
@login_required_api
def decline_swap(data, swap_id):
    """Decline a request made to me, with a reason (shown to the requester)."""
    req = _visible_request(swap_id)
    decisions.decline(req, actor=_me(), reason=data["reason"])
    db.session.commit()
    return req


@blp.post("/swaps/<int:swap_id>/approve")
@blp.arguments(SwapApproveSchema)
@blp.response(200, SwapSchema)
@login_required_api
def approve_swap(data, swap_id):
    """Coordinator approval: the rota changes in one transaction. 409 if it was cancelled or the shifts changed."""
    req = _visible_request(swap_id)
    decisions.approve(req, actor=_me(), note=data.get("note"))
    db.session.commit()
    return req


@blp.post("/swaps/<int:swap_id>/refuse")
@blp.arguments(SwapReasonSchema)
@blp.response(200, SwapSchema)
@login_required_api
def refuse_swap(data, swap_id):
    """Coordinator refusal, with a reason (shown to both people)."""
    req = _visible_request(swap_id)
    decisions.refuse(req, actor=_me(), reason=data["reason"])
    db.session.commit()
    return req


@blp.post("/swaps/<int:swap_id>/cancel")
@blp.arguments(SwapReasonSchema)
@blp.response(200, SwapSchema)
@login_required_api
def cancel_swap(data, swap_id):
    """Withdraw my request (or, as coordinator, cancel one), with a reason."""
    req = _visible_request(swap_id)
    decisions.cancel(req, actor=_me(), reason=data["reason"])
    db.session.commit()
    return req


# ----------------------------------------------------------------------------------------------- open shifts


@blp.get("/open-shifts")
@blp.arguments(OpenShiftArgs, location="query")
@blp.response(200, page_schema(OpenShiftItemSchema, "OpenShiftPage"))
@login_required_api
def list_open_shifts(args):
    """Open shifts (gaps) I may see, soonest first, each with whether I am eligible and why not."""
    team_ids, settings = None, None  # the swap settings (which pools I am in) are read once, if needed
    if args.get("team_id"):
        # A member's own team needs no other read (their memberships are read for the list anyway); an
        # administrator sees any team that exists; others a pool's team or one whose open broadcast asked them.
        tid, me = args["team_id"], _me()
        if tid not in me.team_ids and not (me.is_admin and db.session.get(Team, tid) is not None):
            settings = eligibility.all_settings()
            if not (tid in eligibility.teams_whose_shifts_user_may_take(me, settings=settings)
                    or tid in eligibility.invited_team_ids(me)):
                raise NotFound(f"No team with id {tid}.")
        team_ids = [tid]
    results = eligibility.eligible_open_shifts(_me(), team_ids=team_ids, include_ineligible=True, limit=1000,
                                               settings=settings)
    return _open_page(results, args)


@blp.post("/shifts/<int:shift_id>/claim")
@blp.response(200, ShiftClaimResultSchema, description="The shift is now yours")
@blp.alt_response(202, schema=ShiftClaimResultSchema, description="You volunteered; the coordinator chooses")
@login_required_api
def claim_shift(shift_id):
    """"I'll take it". Exactly one of many simultaneous claims wins; the others get 409."""
    shift = _shift(shift_id)
    outcome = open_shifts.claim(shift, actor=_me())
    db.session.commit()
    body = {"outcome": outcome.outcome, "shift": outcome.shift}
    return (body, 202) if outcome.outcome == "volunteered" else body


@blp.post("/shifts/<int:shift_id>/assign")
@blp.arguments(ShiftAssignSchema)
@blp.response(200, SwapShiftSchema)
@login_required_api
def assign_shift(data, shift_id):
    """Coordinator: give an open shift to someone eligible (usually a volunteer)."""
    shift = _shift(shift_id)
    if not shift.team.can_manage(_me()):
        raise Forbidden("Only the team's coordinators can assign open shifts.")
    open_shifts.assign(shift, _user(data["user_id"]), actor=_me(), override_reason=data.get("override_reason"))
    db.session.commit()
    return shift


@blp.get("/users/<int:user_id>/eligible-shifts")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(OpenShiftItemSchema, "EligibleShiftPage"))
@login_required_api
def eligible_shifts(args, user_id):
    """Open shifts this person could take now (themselves, their coordinators, or administrators)."""
    user = _user(user_id)
    me = _me()
    teams = None  # the person and administrators: every team
    if user.id != me.id and not me.is_admin:
        # A coordinator sees only their own teams' open shifts for this person, not other teams' rotas.
        teams = set(user.team_ids) & me.managed_team_ids
        if not teams:
            raise NotFound(f"No person with id {user_id}.")
    results = eligibility.eligible_open_shifts(user, team_ids=teams, limit=1000)
    return _open_page(results, args)


# -------------------------------------------------------------------------------- short notice and cover (#15)


@blp.post("/shifts/<int:shift_id>/absence")
@blp.arguments(AbsenceCreateSchema)
@blp.response(201, AbsenceSchema)
@login_required_api
def report_absence(data, shift_id):
    """"I can't make this shift": the person on it (or a coordinator of its team, taking a phone call) says they
    cannot work it, with a reason category. A leave or sickness record is made for the day, the shift becomes an
    open shift or is left with the coordinator (``handling``, the team's setting; always the coordinator once it has
    started) and the coordinators are told at once. 409 (``already_reported``) when it was already reported."""
    shift = _visible_shift(shift_id)
    reported = absence.report(shift, actor=_me(), reason=data["reason"])
    db.session.commit()
    return reported


@blp.post("/shifts/<int:shift_id>/cover-request")
@blp.response(201, CoverRequestSchema)
@login_required_api
def request_cover(shift_id):
    """Coordinator, one tap: ask everyone eligible to cover an open shift (a broadcast with the escalation ladder).
    A shift left with the coordinator is released for cover. 409 (``already_asked``) when cover was already asked
    for it, (``not_open``) when someone is working it; 422 (``started``) once it has started."""
    shift = _visible_shift(shift_id)
    b = home.ask_cover(shift, actor=_me())
    db.session.commit()
    return b


@blp.post("/teams/<int:team_id>/gaps/cover-request")
@blp.arguments(GapOpenSchema)
@blp.response(201, CoverRequestSchema)
@login_required_api
def request_cover_for_gap(data, team_id):
    """Coordinator, one tap: open one place of a gap as an open shift and ask everyone eligible to cover it."""
    team = get_by_id(Team, team_id)
    if team is None or not team.can_view(_me()):
        raise NotFound(f"No team with id {team_id}.")
    req = db.session.get(StaffingRequirement, data["requirement_id"])
    if req is None or req.team_id != team.id:
        raise NotFound(f"No requirement with id {data['requirement_id']} in this team.")
    b = home.ask_cover_for_gap(team, requirement=req, day=data["date"], actor=_me())
    db.session.commit()
    return b
