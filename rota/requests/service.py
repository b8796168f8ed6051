"""Leave entitlement, balances and leave requests: asking (the person), approving / refusing (the team's
coordinators), cancelling (either). Approval records the leave through ``rota.services.record_leave`` — the rota
core's leave model, so the grid, eligibility, the rules engine and calendar feeds see it — in the same transaction,
audited, and the person is told. Two approvals of one request at once: one wins (a conditional UPDATE), the other is
refused with 409."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select, update

from core import audit, timeutil
from core.accounts import Membership, Team, TeamRole, User
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from notifications.service import notify
from rota import cover, services
from rota.assignment import leave_in_team
from rota.models import Leave, LeaveKind, Shift, ShiftState
from rota.requests import entitlement as ent
from rota.requests.models import (
    LeaveAdjustment,
    LeaveRequest,
    RequestState,
    StaffLeaveProfile,
    TeamLeaveRules,
    TrustLeaveSettings,
)

REQUESTABLE = {"annual": "Annual leave", "study": "Study leave", "other": "Other leave"}
MAX_DAYS = 60
CARRY_OVER = "carry_over"

# ------------------------------------------------------------------------------------------------- settings


def rules() -> ent.Rules:
    row = db.session.get(TrustLeaveSettings, 1)
    if row is None:
        return ent.Rules()
    return ent.Rules(row.year_start_month, row.year_start_day, row.day_minutes, row.days_under_5, row.days_5_to_10,
                     row.days_over_10, row.bank_holidays, row.max_carry_minutes)


def set_trust_rules(*, actor, **values) -> TrustLeaveSettings:
    """Administrators: the leave-year start and the entitlement table (validated as a whole)."""
    if not actor.is_admin:
        raise Forbidden("Only an administrator can change the trust's leave rules.")
    current = rules()
    merged = {**current.__dict__, **{k: v for k, v in values.items() if v is not None}}
    errors = {}
    if merged.keys() != current.__dict__.keys():
        raise ValidationFailed("Unknown setting.", errors={k: ["Unknown setting."] for k in merged.keys()
                                                           - current.__dict__.keys()})
    if not 1 <= merged["year_start_month"] <= 12:
        errors["year_start_month"] = ["A month from 1 to 12."]
    if not 1 <= merged["year_start_day"] <= 28:
        errors["year_start_day"] = ["A day from 1 to 28 (every month has it)."]
    if not 60 <= merged["day_minutes"] <= 720:
        errors["day_minutes"] = ["A day of 1 to 12 hours."]
    for key in ("days_under_5", "days_5_to_10", "days_over_10"):
        if not 0 <= merged[key] <= 60:
            errors[key] = ["From 0 to 60 days."]
    if not 0 <= merged["bank_holidays"] <= 20:
        errors["bank_holidays"] = ["From 0 to 20 days."]
    if not 0 <= merged["max_carry_minutes"] <= 60 * 24 * 30:
        errors["max_carry_minutes"] = ["From 0 to 720 hours."]
    if errors:
        raise ValidationFailed("Some leave rules are out of range.", errors=errors)
    row = db.session.get(TrustLeaveSettings, 1) or TrustLeaveSettings(id=1)
    db.session.add(row)
    for k, v in merged.items():
        setattr(row, k, v)
    db.session.flush()
    audit.record("leave.rules_changed", actor=actor, entity_type="trust_leave_settings", entity_id=1, summary=merged)
    return row


def person_of(user: User) -> ent.Person:
    row = db.session.get(StaffLeaveProfile, user.id)
    if row is None:
        return ent.Person()
    return ent.Person(row.service_start, row.fte_thousandths, row.days_override)


def _require_coordinates(user: User, actor) -> None:
    if actor.is_admin:
        return
    if not any(m.team.can_manage(actor) for m in user.memberships):
        raise Forbidden("Only a coordinator of one of this person's teams can change their leave entitlement.")


def set_profile(user: User, *, actor, service_start: date | None, fte: float | None = None,
                fte_thousandths: int | None = None, days_override: int | None = None) -> StaffLeaveProfile:
    _require_coordinates(user, actor)
    if fte_thousandths is None:
        fte_thousandths = round((fte if fte is not None else 1.0) * 1000)
    errors = {}
    if not 1 <= fte_thousandths <= 1000:
        errors["fte"] = ["FTE is more than 0 and at most 1 (e.g. 0.6 for three days a week)."]
    if days_override is not None and not 0 <= days_override <= 60:
        errors["days_override"] = ["From 0 to 60 days."]
    if service_start is not None and not date(1950, 1, 1) <= service_start <= date.today() + timedelta(days=400):
        errors["service_start"] = ["A date from 1950 to a year from now."]
    if errors:
        raise ValidationFailed("Check the entitlement details.", errors=errors)
    row = db.session.get(StaffLeaveProfile, user.id) or StaffLeaveProfile(user_id=user.id)
    db.session.add(row)
    row.service_start, row.fte_thousandths, row.days_override = service_start, fte_thousandths, days_override
    db.session.flush()
    audit.record("leave.profile_changed", actor=actor, entity_type="user", entity_id=user.id,
                 summary={"fte_thousandths": fte_thousandths, "days_override": days_override,
                          "service_start": service_start.isoformat() if service_start else None})
    return row


def set_carry_over(user: User, *, year: int, minutes: int | None, actor,
                   note: str | None = None) -> LeaveAdjustment | None:
    """A coordinator's figure for the hours carried into leave ``year`` (at most the trust's full-time limit); it wins
    over the one worked out from the year before. ``None`` removes it: the worked-out figure counts again."""
    _require_coordinates(user, actor)
    limit = rules().max_carry_minutes
    if minutes is None:
        row = db.session.scalar(select(LeaveAdjustment).where(LeaveAdjustment.user_id == user.id,
                                                              LeaveAdjustment.leave_year == year,
                                                              LeaveAdjustment.kind == CARRY_OVER))
        if row is not None:
            db.session.delete(row)
            db.session.flush()
            audit.record("leave.carry_over_set", actor=actor, entity_type="user", entity_id=user.id,
                         summary={"year": year, "minutes": None})
        return None
    if not 0 <= minutes <= limit:
        raise ValidationFailed(f"Carry over from 0 to {ent.hours_words(limit)}.",
                               errors={"minutes": [f"From 0 to {ent.hours_words(limit)}."]})
    if not 2000 <= year <= 2100:
        raise ValidationFailed("Choose a leave year from 2000 to 2100.", errors={"year": ["From 2000 to 2100."]})
    row = db.session.scalar(select(LeaveAdjustment).where(LeaveAdjustment.user_id == user.id,
                                                          LeaveAdjustment.leave_year == year,
                                                          LeaveAdjustment.kind == CARRY_OVER))
    if row is None:
        row = LeaveAdjustment(user_id=user.id, leave_year=year, kind=CARRY_OVER, minutes=0)
        db.session.add(row)
    row.minutes, row.note, row.recorded_by_id = minutes, note, actor.id
    db.session.flush()
    audit.record("leave.carry_over_set", actor=actor, entity_type="user", entity_id=user.id,
                 summary={"year": year, "minutes": minutes})
    return row


def max_off(team: Team) -> int | None:
    row = db.session.get(TeamLeaveRules, team.id)
    return row.max_off if row is not None else None


def set_max_off(team: Team, value: int | None, *, actor) -> None:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can change how many may be off at once.")
    if value is not None and not 0 <= value <= 500:
        raise ValidationFailed("At most N off: a number from 0 to 500, or empty for no limit.",
                               errors={"max_off": ["From 0 to 500, or empty."]})
    row = db.session.get(TeamLeaveRules, team.id) or TeamLeaveRules(team_id=team.id)
    db.session.add(row)
    row.max_off = value
    db.session.flush()
    audit.record("leave.max_off_changed", actor=actor, entity_type="team", entity_id=team.id, team_id=team.id,
                 summary={"max_off": value})


# -------------------------------------------------------------------------------------------------- balance


@dataclass
class Balance:
    year: int
    first_day: date
    last_day: date
    entitlement: int  # minutes
    carried: int  # carry-over into the year plus any corrections
    taken: int  # approved annual leave requests in the year
    pending: int  # waiting for a decision
    carry: ent.CarryOver | None = None

    @property
    def remaining(self) -> int:
        return self.entitlement + self.carried - self.taken

    @property
    def available(self) -> int:
        """What may still be asked for: remaining less what is waiting."""
        return self.remaining - self.pending

    @property
    def carry_words(self) -> str:
        return ent.carry_words(self.carry) if self.carry is not None else ""


def leave_year_of(day: date) -> int:
    return ent.leave_year_of(day, rules())


def _annual(user: User, first: date, last: date):
    return db.session.execute(select(LeaveRequest.first_day, LeaveRequest.state, LeaveRequest.minutes).where(
        LeaveRequest.user_id == user.id, LeaveRequest.kind == "annual", LeaveRequest.first_day >= first,
        LeaveRequest.first_day <= last, LeaveRequest.state.in_([RequestState.pending, RequestState.approved])))


def first_recorded_year(user: User, r: ent.Rules) -> int:
    """The first leave year whose leave is recorded here for this person: the one their account was created in.
    Nothing is worked out into it (leave before the account existed is unknown): a coordinator records that."""
    return ent.leave_year_of(timeutil.local_date(user.created_at, _zone(user)), r)


def carry_over(user: User, year: int, r: ent.Rules | None = None) -> ent.CarryOver:
    """Hours carried into leave ``year``: the year before's unused balance up to the cap, or a coordinator's figure."""
    r = r or rules()
    start = min(year, first_recorded_year(user, r))
    taken: dict[int, int] = defaultdict(int)
    for first_day, state, minutes in _annual(user, ent.year_bounds(start, r)[0], ent.year_bounds(year, r)[0]):
        if state == RequestState.approved:
            taken[ent.leave_year_of(first_day, r)] += minutes
    recorded = dict(db.session.execute(select(LeaveAdjustment.leave_year, LeaveAdjustment.minutes).where(
        LeaveAdjustment.user_id == user.id, LeaveAdjustment.kind == CARRY_OVER, LeaveAdjustment.leave_year >= start,
        LeaveAdjustment.leave_year <= year)).all())
    return ent.carry_over(year, person_of(user), r, first_year=start, taken=taken, recorded=recorded)


def balance(user: User, year: int) -> Balance:
    r = rules()
    first, last = ent.year_bounds(year, r)
    carry = carry_over(user, year, r)
    corrections = sum(db.session.scalars(select(LeaveAdjustment.minutes).where(
        LeaveAdjustment.user_id == user.id, LeaveAdjustment.leave_year == year, LeaveAdjustment.kind != CARRY_OVER)))
    taken = pending = 0
    for _, state, minutes in _annual(user, first, last):
        if state == RequestState.approved:
            taken += minutes
        else:
            pending += minutes
    return Balance(year, first, last, ent.entitlement_minutes(person_of(user), year, r), carry.minutes + corrections,
                   taken, pending, carry)


def _zone(user: User) -> str:
    zones = [m.team.timezone for m in user.memberships] or ["Europe/London"]
    return zones[0]


def today_for(user: User) -> date:
    return timeutil.local_date(now_utc(), _zone(user))


# ------------------------------------------------------------------------------------------------- requests


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


# ---------------------------------------------------------------------------------------------------- cover


@dataclass
class DayCover:
    day: date
    off: list[str]  # names of team members already on approved leave that day
    max_off: int | None
    shifts: list[str] = field(default_factory=list)  # the person's shifts that day, which would open
    gaps: list[str] = field(default_factory=list)  # requirement clauses it would leave short

    @property
    def over_limit(self) -> bool:
        return self.max_off is not None and len(self.off) + 1 > self.max_off


def cover_effect(req: LeaveRequest) -> list[DayCover]:
    """Per day of the request: who in the team is already off, the team's "at most N off", the person's shifts that
    would open and the staffing-requirement gaps that would leave."""
    team = req.team
    members = select(Membership.user_id).where(Membership.team_id == team.id)
    leave = db.session.scalars(select(Leave).where(Leave.user_id.in_(members), Leave.user_id != req.user_id,
                                                   Leave.first_day <= req.last_day, Leave.last_day >= req.first_day,
                                                   leave_in_team(team.id))).all()
    limit = max_off(team)
    days = [req.first_day + timedelta(days=i) for i in range(req.days)]
    out = {d: DayCover(d, sorted({lv.user.display_name for lv in leave if lv.first_day <= d <= lv.last_day}), limit)
           for d in days}
    lo, hi = timeutil.day_bounds(req.first_day, req.last_day, team.timezone)
    held = db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.assignee_id == req.user_id,
                                                  Shift.state == ShiftState.scheduled, Shift.starts_at >= lo,
                                                  Shift.starts_at < hi).order_by(Shift.starts_at)).all()
    if held:
        slots = cover.load_slots(held)
        for s in held:
            d = timeutil.local_date(s.starts_at, team.timezone)
            if d not in out:
                continue
            out[d].shifts.append(f"{s.shift_type.name if s.shift_type else 'Shift'} "
                                 f"{timeutil.format_local(s.starts_at, team.timezone, '%H:%M', name_zone=False)}")
            out[d].gaps += [e.text for e in cover.effects_of([(s, None)], slots) if e.breaks]
    return [out[d] for d in days]


# ------------------------------------------------------------------------------------------------- calendar


@dataclass
class CalendarDay:
    day: date
    in_month: bool
    entries: list[tuple[str, str]]  # (name, label)


def month_calendar(team: Team, viewer, year: int, month: int) -> list[list[CalendarDay]]:
    """Weeks (Monday first) of the month with who is off each day. Everyone in the team sees colleagues' annual and
    study leave and waiting requests; only coordinators see other kinds (sickness is health data)."""
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise ValidationFailed("Choose a month from 2000 to 2100.", errors={"month": ["Out of range."]})
    first = date(year, month, 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    start = first - timedelta(days=first.weekday())
    end = last + timedelta(days=6 - last.weekday())
    manage = team.can_manage(viewer)
    members = select(Membership.user_id).where(Membership.team_id == team.id)
    stmt = select(Leave).where(Leave.user_id.in_(members), Leave.first_day <= end, Leave.last_day >= start,
                               leave_in_team(team.id))
    if not manage:
        stmt = stmt.where(Leave.kind.in_([LeaveKind.annual, LeaveKind.study]) | (Leave.user_id == viewer.id))
    by_day = defaultdict(list)
    for lv in db.session.scalars(stmt):
        label = lv.kind.value.capitalize() if manage or lv.user_id == viewer.id else "Leave"
        for i in range((min(lv.last_day, end) - max(lv.first_day, start)).days + 1):
            by_day[max(lv.first_day, start) + timedelta(days=i)].append((lv.user.display_name, label))
    pending = db.session.scalars(select(LeaveRequest).where(
        LeaveRequest.team_id == team.id, LeaveRequest.state == RequestState.pending,
        LeaveRequest.first_day <= end, LeaveRequest.last_day >= start))
    for r in pending:
        for i in range((min(r.last_day, end) - max(r.first_day, start)).days + 1):
            by_day[max(r.first_day, start) + timedelta(days=i)].append((r.user.display_name, "Asked"))
    weeks, day = [], start
    while day <= end:
        weeks.append([CalendarDay(day + timedelta(days=i), (day + timedelta(days=i)).month == month,
                                  sorted(by_day.get(day + timedelta(days=i), [])))
                      for i in range(7)])
        day += timedelta(days=7)
    return weeks

