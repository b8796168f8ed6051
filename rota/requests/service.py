"""Leave requests: quoting what one would cost, asking (the person), approving / refusing (the team's
coordinators), cancelling (either). Approval records the leave through ``rota.services.record_leave`` — the rota
core's leave model, so the grid, eligibility, the rules engine and calendar feeds see it — in the same transaction,
audited, and the person is told. Two approvals of one request at once: one wins (a conditional UPDATE), the other is
refused with 409."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select, update

from core import audit
from core.accounts import Team, TeamRole, User
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from notifications.service import notify
from rota import services
from rota.models import Leave, LeaveKind
from rota.requests import entitlement as ent
from rota.requests.balance import Balance, balance, today_for
from rota.requests.models import LeaveRequest, RequestState
from rota.requests.settings import person_of, rules

REQUESTABLE = {"annual": "Annual leave", "study": "Study leave", "other": "Other leave"}
MAX_DAYS = 60


@dataclass
class Quote:
    """What a request would cost: shown on the form before it is sent, checked again when it is."""

    minutes: int
    before: Balance | None
    after: int | None  # available after this request (annual leave only)


def _check_days(first_day: date | None, last_day: date | None, today: date) -> None:
    if first_day is None or last_day is None:
        raise ValidationFailed("Give the first and last day.", errors={
            k: ["Give a date."] for k, v in (("first_day", first_day), ("last_day", last_day)) if v is None})
    if last_day < first_day:
        raise ValidationFailed("The last day is before the first day.", errors={"last_day": ["Before the first day."]})
    if first_day < today:
        raise ValidationFailed("Leave can't start in the past.", errors={"first_day": ["In the past."]})
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise ValidationFailed(f"Ask for at most {MAX_DAYS} days at a time.", errors={"last_day": ["Too long."]})
    if first_day > today + timedelta(days=730):
        raise ValidationFailed("Ask at most two years ahead.", errors={"first_day": ["Too far ahead."]})


def quote(user: User, *, kind: str, first_day: date, last_day: date, hours: float | None = None) -> Quote:
    r = rules()
    _check_days(first_day, last_day, today_for(user))
    year = ent.leave_year_of(first_day, r)
    if ent.leave_year_of(last_day, r) != year:
        _, year_last = ent.year_bounds(year, r)
        starts = year_last + timedelta(days=1)
        raise ValidationFailed(f"This crosses into the next leave year (it starts {starts:%d %b %Y}): make two "
                               "requests, one each side.", errors={"last_day": ["Crosses leave years."]})
    if hours is not None:
        if not 0 <= hours <= 24 * MAX_DAYS:
            raise ValidationFailed("Hours out of range.", errors={"hours": ["From 0 to the length of the leave."]})
        minutes = round(hours * 60)
    else:
        minutes = ent.request_minutes(first_day, last_day, person_of(user), r)
    if kind != "annual":
        return Quote(minutes, None, None)
    before = balance(user, year)
    return Quote(minutes, before, before.available - minutes)


def _member_team(user: User, team: Team | None) -> Team:
    teams = [m.team for m in user.memberships]
    if team is None:
        if not teams:
            raise ValidationFailed("You are not in a team, so there is no one to approve leave.",
                                   errors={"team_id": ["Not a member of any team."]})
        return teams[0]
    if team not in teams:
        raise ValidationFailed("You are not a member of that team.", errors={"team_id": ["Not your team."]})
    return team


def request_leave(user: User, *, actor, kind: str = "annual", first_day: date, last_day: date,
                  team: Team | None = None, hours: float | None = None, note: str | None = None) -> LeaveRequest:
    """The person asks for leave; their team's coordinators are told."""
    if actor.id != user.id:
        raise Forbidden("People ask for their own leave (coordinators record leave on the team's Leave page).")
    if kind not in REQUESTABLE:
        raise ValidationFailed("Choose annual, study or other leave.", errors={"kind": ["Choose a kind of leave."]})
    team = _member_team(user, team)
    q = quote(user, kind=kind, first_day=first_day, last_day=last_day, hours=hours)
    if q.after is not None and q.after < 0:
        raise ValidationFailed(f"That is {ent.hours_words(q.minutes)} but you have "
                               f"{ent.hours_words(q.before.available)} left to ask for in leave year "
                               f"{q.before.year}/{(q.before.year + 1) % 100:02d}.",
                               errors={"last_day": ["More than your balance."]})
    clash = db.session.scalar(select(LeaveRequest).where(
        LeaveRequest.user_id == user.id, LeaveRequest.state.in_([RequestState.pending, RequestState.approved]),
        LeaveRequest.first_day <= last_day, LeaveRequest.last_day >= first_day).limit(1))
    if clash is not None:
        raise Conflict(f"You already asked for {clash.first_day:%d %b}–{clash.last_day:%d %b %Y} "
                       f"({clash.state.value}).", extra={"code": "request_overlap", "request_id": clash.id})
    recorded = services.leave_overlapping(user, first_day, last_day, team)
    if recorded is not None:
        raise Conflict(f"You already have leave recorded {recorded.first_day:%d %b}–{recorded.last_day:%d %b %Y}.",
                       extra={"code": "leave_overlap", "leave_id": recorded.id})
    req = LeaveRequest(user_id=user.id, team_id=team.id, kind=kind, first_day=first_day, last_day=last_day,
                       minutes=q.minutes, note=note or None)
    db.session.add(req)
    db.session.flush()
    audit.record("leave_request.made", actor=actor, entity=req, summary={"days": req.days, "minutes": q.minutes,
                                                                         "kind": kind})
    notify(_coordinators(team), kind="leave.requested", team_id=team.id, link=f"/leave/requests/{req.id}",
           text=f"{user.display_name} asks for {REQUESTABLE[kind].lower()} {first_day:%d %b}–{last_day:%d %b}.",
           idempotency_key=f"leave.requested:{req.id}")
    return req


def _coordinators(team: Team) -> list[int]:
    return [m.user_id for m in team.memberships if m.role == TeamRole.coordinator]


def get_request(request_id: int, viewer) -> LeaveRequest:
    services.check_id(request_id, "leave request")
    req = db.session.get(LeaveRequest, request_id)
    if req is None or not (req.user_id == viewer.id or req.team.can_manage(viewer)):
        raise NotFound(f"No leave request with id {request_id}.")
    return req


def _decide(req: LeaveRequest, actor, state: RequestState, reason: str | None) -> None:
    """Move a pending request on, once: a conditional UPDATE, so of two decisions at once exactly one wins."""
    done = db.session.execute(update(LeaveRequest).where(LeaveRequest.id == req.id,
                                                         LeaveRequest.state == RequestState.pending)
                              .values(state=state, decided_by_id=actor.id, decided_at=now_utc(),
                                      decision_reason=reason or None)
                              .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        db.session.refresh(req)
        raise Conflict(f"This request was already {req.state.value}.", extra={"code": "already_decided",
                                                                              "state": req.state.value})
    db.session.refresh(req)


def _clean_reason(reason: str | None, *, required: bool) -> str | None:
    reason = (reason or "").strip()
    if len(reason) > 200:
        raise ValidationFailed("Keep the reason to 200 characters.", errors={"reason": ["At most 200 characters."]})
    if required and not reason:
        raise ValidationFailed("Say why, so the person knows.", errors={"reason": ["Give a reason."]})
    return reason or None


def approve(req: LeaveRequest, *, actor, reason: str | None = None) -> Leave:
    """Approve: the leave is recorded in the team's rota (their shifts those days become open shifts and the
    coordinators are told, as for any leave), the person is told, and it is audited — one transaction."""
    if not req.team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can approve leave.")
    if req.user_id == actor.id and not actor.is_admin:
        raise Forbidden("Another coordinator approves your own leave.")
    reason = _clean_reason(reason, required=False)
    _decide(req, actor, RequestState.approved, reason)
    leave, opened = services.record_leave(req.user, kind=LeaveKind(req.kind), first_day=req.first_day,
                                          last_day=req.last_day, actor=actor, team=req.team,
                                          note=f"Leave request {req.id}")
    req.leave_id = leave.id
    db.session.flush()
    audit.record("leave_request.approved", actor=actor, entity=req,
                 summary={"leave_id": leave.id, "opened_shifts": len(opened)})
    notify([req.user_id], kind="leave.decided", team_id=req.team_id, link="/leave",
           text=f"Your leave {req.first_day:%d %b}–{req.last_day:%d %b} is approved."
                + (f" {reason}" if reason else ""),
           idempotency_key=f"leave.decided:{req.id}")
    return leave


def refuse(req: LeaveRequest, *, actor, reason: str | None) -> None:
    if not req.team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can refuse leave.")
    reason = _clean_reason(reason, required=True)
    _decide(req, actor, RequestState.refused, reason)
    audit.record("leave_request.refused", actor=actor, entity=req, summary={"reason": reason})
    notify([req.user_id], kind="leave.decided", team_id=req.team_id, link="/leave",
           text=f"Your leave {req.first_day:%d %b}–{req.last_day:%d %b} was not approved: {reason}",
           idempotency_key=f"leave.decided:{req.id}")


def cancel(req: LeaveRequest, *, actor, reason: str | None = None) -> None:
    """The person withdraws (waiting or approved, before it ends), or a coordinator cancels approved leave (with a
    reason). Approved leave is taken out of the rota; shifts it opened stay open for the coordinator to fill."""
    own = req.user_id == actor.id
    if not own and not req.team.can_manage(actor):
        raise Forbidden("Only the person or the team's coordinators can cancel this leave.")
    reason = _clean_reason(reason, required=not own)
    if req.state not in (RequestState.pending, RequestState.approved):
        raise Conflict(f"This request is already {req.state.value}.", extra={"code": "already_decided",
                                                                             "state": req.state.value})
    if req.last_day < today_for(req.user):
        raise Conflict("This leave has already been taken.", extra={"code": "leave_taken"})
    was = req.state
    done = db.session.execute(update(LeaveRequest).where(LeaveRequest.id == req.id, LeaveRequest.state == was)
                              .values(state=RequestState.cancelled, decision_reason=reason or req.decision_reason,
                                      decided_by_id=actor.id, decided_at=now_utc())
                              .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise Conflict("This request changed meanwhile: reload.", extra={"code": "already_decided"})
    db.session.refresh(req)
    if was == RequestState.approved and req.leave_id is not None:
        leave = db.session.get(Leave, req.leave_id)
        req.leave_id = None
        db.session.flush()
        if leave is not None:
            audit.record("leave.removed", actor=actor, entity=leave, summary={"leave_request_id": req.id})
            db.session.delete(leave)
    db.session.flush()
    audit.record("leave_request.cancelled", actor=actor, entity=req, summary={"was": was.value, "by_person": own})
    if own and was == RequestState.approved:
        notify(_coordinators(req.team), kind="leave.cancelled", team_id=req.team_id, link=f"/leave/requests/{req.id}",
               text=f"{req.user.display_name} cancelled their leave {req.first_day:%d %b}–{req.last_day:%d %b}.",
               idempotency_key=f"leave.cancelled:{req.id}")
    elif not own:
        notify([req.user_id], kind="leave.cancelled", team_id=req.team_id, link="/leave",
               text=f"Your leave {req.first_day:%d %b}–{req.last_day:%d %b} was cancelled: {reason}",
               idempotency_key=f"leave.cancelled:{req.id}")


def my_requests(user: User) -> list[LeaveRequest]:
    return list(db.session.scalars(select(LeaveRequest).where(LeaveRequest.user_id == user.id)
                                   .order_by(LeaveRequest.first_day.desc(), LeaveRequest.id.desc()).limit(100)))


def waiting_for(actor) -> list[LeaveRequest]:
    """Pending requests of the teams ``actor`` coordinates, soonest first."""
    managed = actor.managed_team_ids
    if not managed:
        return []
    return list(db.session.scalars(select(LeaveRequest).where(LeaveRequest.team_id.in_(managed),
                                                              LeaveRequest.state == RequestState.pending)
                                   .order_by(LeaveRequest.first_day, LeaveRequest.id).limit(200)))


def request_query(viewer, *, user_id=None, team_id=None, state=None):
    stmt = select(LeaveRequest).order_by(LeaveRequest.first_day, LeaveRequest.id)
    if not viewer.is_admin:
        managed = viewer.managed_team_ids or {0}
        stmt = stmt.where((LeaveRequest.user_id == viewer.id) | LeaveRequest.team_id.in_(managed))
    if user_id is not None:
        stmt = stmt.where(LeaveRequest.user_id == user_id)
    if team_id is not None:
        stmt = stmt.where(LeaveRequest.team_id == team_id)
    if state is not None:
        stmt = stmt.where(LeaveRequest.state == RequestState(state))
    return stmt
