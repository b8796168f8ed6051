"""Swap and give-away (offer) requests: proposing one, who may see it, expiry, and ending those the rota overtook.
What happens next (accept, decline, approve, refuse, cancel) is in :mod:`rota.swaps.decisions`; open shifts are in
:mod:`rota.swaps.open_shifts`.

Each request is a small state machine on :class:`~rota.swaps.models.SwapRequest` (an open shift's is the shift
itself). Services never commit; every transition writes an audit entry and queues notifications in the caller's
transaction. Races are settled by the database, never by reading and then writing:

* request transitions are conditional updates (``UPDATE swap_requests … WHERE id = :id AND state = :expected``):
  of two people accepting one offer, or an approval racing a cancellation, exactly one matches a row;
* taking a shift is a conditional update on the shift (``… WHERE state = 'open' AND version = :seen`` for a claim,
  ``… WHERE assignee_id = :holder AND version = :as_proposed`` for a swap), so fifty people claiming one gap get one
  winner and forty-nine 409s, and a swap whose shifts changed after it was proposed is refused;
* ``swap_shift_locks`` (primary key = shift) keeps one pending request per shift.

On PostgreSQL the losing UPDATE waits for the winner's row lock and then re-checks its WHERE clause; on SQLite every
writing transaction starts with ``BEGIN IMMEDIATE`` (``core.db``) so writers queue behind the busy timeout.
Every change of a shift's holder goes through :func:`rota.assignment.set_assignee`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from core import audit, events, timeutil
from core.accounts import User
from core.db import db, get_by_id, now_utc
from core.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from rota import assignment
from rota.models import PeriodState, ReleaseKind, Shift, ShiftState
from rota.swaps import eligibility
from rota.swaps.eligibility import Eligibility, describe_shift
from rota.swaps.models import (
    PENDING_STATES,
    RecipientState,
    SwapKind,
    SwapRecipient,
    SwapRequest,
    SwapShiftLock,
    SwapState,
    TeamSwapSettings,
)
from rota.swaps.shared import HORIZON, hours_until, refuse_ineligible, settings_for, tell

EXPIRE_TASK = "swaps.expire"  # the periodic task: requests nobody finished in time become expired (expire_due)
STATE_WORDS = {
    SwapState.proposed: "waiting for a colleague",
    SwapState.awaiting_approval: "waiting for approval",
    SwapState.approved: "approved",
    SwapState.declined: "declined",
    SwapState.refused: "refused by the coordinator",
    SwapState.cancelled: "cancelled",
    SwapState.expired: "expired",
}


# ---------------------------------------------------------------------------------------------------- helpers


def link_of(req: SwapRequest) -> str:
    return f"/swaps/{req.id}"


def state_conflict(req: SwapRequest, doing: str) -> Conflict:
    db.session.refresh(req)
    who = ""
    if req.state == SwapState.awaiting_approval and req.accepted_by is not None:
        who = f" {req.accepted_by.display_name} accepted it first."
    elif req.state == SwapState.cancelled and req.decided_by_id is None:  # ended by the rota, not by a person
        who = f" It can no longer happen: {req.reason}." if req.reason else ""
    elif req.state == SwapState.cancelled:
        who = f" {req.requester.display_name} cancelled it" + (f": {req.reason}" if req.reason else ".")
    elif req.reason:
        who = f" Reason: {req.reason}"
    return Conflict(f"You cannot {doing} this request: it is now {STATE_WORDS[req.state]}.{who}",
                    extra={"code": "state_changed", "state": req.state.value})


def transition(req: SwapRequest, expected, doing: str, **values) -> None:
    """The conditional update every request transition goes through: exactly one racer matches the row."""
    expected = expected if isinstance(expected, tuple) else (expected,)
    result = db.session.execute(
        update(SwapRequest)
        .where(SwapRequest.id == req.id, SwapRequest.state.in_(expected))
        .values(version=SwapRequest.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise state_conflict(req, doing)
    db.session.refresh(req)


def release_locks(req: SwapRequest) -> None:
    db.session.execute(delete(SwapShiftLock).where(SwapShiftLock.request_id == req.id))


def kind_word(req: SwapRequest) -> str:
    return "swap" if req.kind == SwapKind.swap else "offer"


def check_not_expired(req: SwapRequest, now: datetime) -> None:
    if req.pending and req.expires_at <= now:
        raise Conflict("This request has expired (its shift has started or nobody acted in time).",
                       extra={"code": "expired"})


# --------------------------------------------------------------------------------- requests the rota overtook


def _is_stale(req: SwapRequest) -> bool:
    shift, cp = req.shift, req.counterpart_shift
    if shift.version != req.shift_version or shift.assignee_id != req.requester_id:
        return True
    return cp is not None and cp.version != req.counterpart_shift_version


def _end_because_rota_changed(req: SwapRequest, reason: str | None = None) -> bool:
    """A pending request whose shift changed hands by another route (leave, a coordinator) or was moved is
    cancelled, and the people involved are told why. Returns False when another transaction is deciding it now."""
    reason = (reason or f"The rota changed: {describe_shift(req.shift)} was reassigned")[:200]
    result = db.session.execute(
        update(SwapRequest).where(SwapRequest.id == req.id, SwapRequest.state.in_(PENDING_STATES))
        .values(state=SwapState.cancelled, reason=reason, decided_at=now_utc(), version=SwapRequest.version + 1)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    db.session.refresh(req)
    release_locks(req)
    audit.record("swap.cancelled", actor=None, entity=req, summary={"shift_id": req.shift_id, "rota_changed": True})
    people = [req.requester_id] + ([req.accepted_by_id] if req.accepted_by_id else recipient_ids(req))
    tell(people, kind="swap.cancelled", team_id=req.team_id, link=link_of(req), key=f"swap:{req.id}:overtaken",
         text=f"The {kind_word(req)} of {describe_shift(req.shift)} was cancelled: {reason}.")
    return True


def _pending(where) -> list[SwapRequest]:
    """Pending requests matching ``where``; on PostgreSQL those another transaction holds right now are skipped
    (that transaction will get a 409 on the version, or re-check them itself)."""
    stmt = select(SwapRequest).where(where, SwapRequest.state.in_(PENDING_STATES)).order_by(SwapRequest.id)
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(db.session.scalars(stmt).all())


def _requests_of_shift(shift_id: int) -> list[SwapRequest]:
    return _pending(SwapRequest.id.in_(select(SwapShiftLock.request_id).where(SwapShiftLock.shift_id == shift_id)))


def _cannot_take(user: User, shift: Shift, giving_up: Shift | None) -> str | None:
    """Why ``user`` can no longer take ``shift`` (giving up ``giving_up`` in the same change), in words fit for a
    colleague: leave on a day the shift touches (never its kind: sickness is health data), or another shift of
    theirs at the same time. ``None`` when both still allow it. Working-time rules are not re-judged here: a
    coordinator may override those with a reason, so the approval shows them and decides."""
    leave = assignment.leave_clash(user, shift)
    if leave is not None:
        day = max(leave.first_day, assignment.local_day(shift, shift.starts_at))
        return f"{user.display_name} is now on leave on {day:%a %d %b}"
    exclude = [shift.id] + ([giving_up.id] if giving_up is not None else [])
    clash = assignment.overlapping_shift(user, shift.starts_at, shift.ends_at, exclude_ids=exclude)
    if clash is not None:
        return (f"{user.display_name} is now working {describe_shift(clash)}, "
                f"at the same time as {describe_shift(shift)}")
    return None


def why_impossible(req: SwapRequest, because_of: int | None = None) -> str | None:
    """Why a pending request can no longer happen although neither shift changed: a person who would take a shift
    went on leave that day or was booked elsewhere at the same time. An offer not yet accepted stays open while
    anyone it was put to (and who has not declined) can still take it."""
    shift, cp = req.shift, req.counterpart_shift
    if req.kind == SwapKind.swap:
        takers = [(cp.assignee, shift, cp)] if cp is not None and cp.assignee is not None else []
        takers.append((req.requester, cp, shift))
        for user, taking, giving_up in takers:
            if taking is not None and (why := _cannot_take(user, taking, giving_up)):
                return why
        return None
    if req.accepted_by is not None:
        return _cannot_take(req.accepted_by, shift, None)
    asked = [r.user for r in req.recipients if r.state != RecipientState.declined]
    reasons = {u.id: _cannot_take(u, shift, None) for u in asked}
    if not asked or not all(reasons.values()):
        return None
    why = reasons.get(because_of) or next(iter(reasons.values()))
    return why if len(asked) == 1 else f"Nobody it was offered to can take it now: {why}"


def end_requests_now_impossible(user_id: int) -> None:
    """The one re-check when a person's availability changes (leave recorded, another shift given or moved to them):
    each pending swap or offer that would give them a shift ends if it can no longer happen, with the reason, and
    the requester and the other party are told (:func:`_end_because_rota_changed`)."""
    asked = select(SwapRecipient.request_id).where(SwapRecipient.user_id == user_id)
    for req in _pending(SwapRequest.id.in_(asked) | ((SwapRequest.requester_id == user_id)
                                                      & (SwapRequest.kind == SwapKind.swap))):
        if _is_stale(req):
            continue  # its shift changed hands or moved: that path ends it with its own reason
        why = why_impossible(req, because_of=user_id)
        if why:
            _end_because_rota_changed(req, why)


def on_shift_changed_hands(shift, previous, user, *, kind=None, **_) -> None:
    """``rota.assignment.AFTER_CHANGE`` hook: when a shift changes hands outside a swap (leave opens it, a
    coordinator reassigns it), pending requests that involve it can no longer happen: end them and say why. The new
    holder may now be double-booked for a request that would give them another shift: those end too."""
    if kind not in (ReleaseKind.swapped, ReleaseKind.given_away):
        for req in _requests_of_shift(shift.id):
            _end_because_rota_changed(req)
    if user is not None:
        end_requests_now_impossible(user.id)


def on_shift_edited(shift, *, was: str, actor=None, **_) -> None:
    """``rota.assignment.AFTER_EDIT`` hook: a coordinator moved a shift (new times or type, same holder). A pending
    swap or offer of it was agreed for the old times: it ends now, saying what changed, and the people are told.
    Its holder's requests for other shifts are re-checked (the move may make them double-booked)."""
    for req in _requests_of_shift(shift.id):
        _end_because_rota_changed(req, f"The rota changed: the coordinator moved {was} to {describe_shift(shift)}")
    if shift.assignee_id is not None:
        end_requests_now_impossible(shift.assignee_id)


def on_leave_recorded(leave) -> None:
    """``rota.assignment.AFTER_LEAVE`` hook: leave or sickness was recorded for someone (by a coordinator, an
    approved leave request, or "I can't make this shift"): requests that would give them a shift that day end."""
    end_requests_now_impossible(leave.user_id)


# ------------------------------------------------------------------------------------------------- visibility


def get_request(request_id: int) -> SwapRequest:
    req = get_by_id(SwapRequest, request_id)
    if req is None:
        raise NotFound(f"No swap or offer with id {request_id}.")
    return req


def recipient_ids(req: SwapRequest) -> list[int]:
    return [r.user_id for r in req.recipients]


def can_view(req: SwapRequest, user) -> bool:
    return (user.id == req.requester_id or user.id in recipient_ids(req) or req.team.can_manage(user))


def check_view(req: SwapRequest, user) -> None:
    if not can_view(req, user):
        raise NotFound(f"No swap or offer with id {req.id}.")  # do not reveal that it exists


def requests_for(user, *, mine: str = "all", states=None):
    """``mine``: incoming (asked of me), outgoing (mine), approvals (my teams' queue), all (any of these)."""
    incoming = select(SwapRecipient.request_id).where(SwapRecipient.user_id == user.id)
    managed = list(user.managed_team_ids) if not user.is_admin else None
    conds = {
        "incoming": SwapRequest.id.in_(incoming),
        "outgoing": SwapRequest.requester_id == user.id,
    }
    if managed is None:
        conds["approvals"] = SwapRequest.state == SwapState.awaiting_approval
    else:
        conds["approvals"] = SwapRequest.team_id.in_(managed) & (SwapRequest.state == SwapState.awaiting_approval)
    if mine == "all":
        team_cond = SwapRequest.team_id.in_(managed) if managed is not None else SwapRequest.id.is_not(None)
        where = conds["incoming"] | conds["outgoing"] | team_cond
    else:
        where = conds[mine]
    stmt = select(SwapRequest).where(where)
    if states:
        stmt = stmt.where(SwapRequest.state.in_(list(states)))
    return stmt.order_by(SwapRequest.created_at.desc(), SwapRequest.id.desc())


# ----------------------------------------------------------------------------------------------------- expiry


def expire_due(*, now: datetime | None = None, team_id: int | None = None) -> int:
    """Requests nobody finished before their shift started or their time ran out become ``expired``."""
    now = now or now_utc()
    stmt = select(SwapRequest).where(SwapRequest.state.in_(PENDING_STATES), SwapRequest.expires_at <= now)
    if team_id is not None:
        stmt = stmt.where(SwapRequest.team_id == team_id)
    count = 0
    for req in db.session.scalars(stmt).all():
        result = db.session.execute(
            update(SwapRequest).where(SwapRequest.id == req.id, SwapRequest.state.in_(PENDING_STATES))
            .values(state=SwapState.expired, decided_at=now, version=SwapRequest.version + 1)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            continue
        db.session.refresh(req)
        release_locks(req)
        audit.record("swap.expired", actor=None, entity=req, summary={"shift_id": req.shift_id})
        tell([req.requester_id], kind="swap.expired", team_id=req.team_id, link=link_of(req),
             key=f"swap:{req.id}:expired",
             text=f"Your {kind_word(req)} of {describe_shift(req.shift)} expired without being completed.")
        count += 1
    return count


# ---------------------------------------------------------------------------------------------------- propose


def _check_requestable(shift: Shift, *, now: datetime, settings: TeamSwapSettings, whose: str) -> None:
    if shift.rota_period is not None and shift.rota_period.state != PeriodState.published:
        raise RuleViolation(f"{whose} shift is on a rota that is not published yet.", extra={"code": "draft"})
    if shift.state != ShiftState.scheduled:
        raise Conflict(f"{whose} shift is {shift.state.value}, so it cannot be swapped or offered.",
                       extra={"code": "not_scheduled"})
    if shift.starts_at <= now:
        raise RuleViolation(f"{whose} shift has already started; swaps and offers are only for future shifts.",
                            extra={"code": "started"})
    if shift.starts_at > now + HORIZON:
        raise RuleViolation(f"{whose} shift is more than two years away.", extra={"code": "too_far"})
    if hours_until(shift.starts_at, now) < settings.cutoff_hours:
        raise RuleViolation(
            f"{whose} shift starts within {settings.cutoff_hours} hours. Close to the start, swaps and give-aways "
            "go through the coordinator: please ask them directly.", extra={"code": "cutoff"})


def _check_no_pending(shift_ids, *, now: datetime) -> None:
    locks = db.session.execute(select(SwapShiftLock.shift_id, SwapShiftLock.request_id)
                               .where(SwapShiftLock.shift_id.in_(list(shift_ids)))).all()
    for _shift_id, request_id in locks:
        other = db.session.get(SwapRequest, request_id)
        if other is not None and other.pending and other.expires_at <= now:
            expire_due(now=now, team_id=other.team_id)
            continue
        if other is not None and other.pending and _is_stale(other):
            _end_because_rota_changed(other)
            continue
        raise Conflict(f"There is already a pending request for that shift (request {request_id}). "
                       "Cancel it first, or wait for it to finish.",
                       extra={"code": "pending_request", "request_id": request_id})


def propose(*, actor: User, shift: Shift, kind: SwapKind | str, to_users=None, counterpart_shift: Shift | None = None,
            note: str | None = None, now: datetime | None = None) -> SwapRequest:
    """A asks to swap ``shift`` for ``counterpart_shift``, or offers ``shift`` to ``to_users`` (None: everyone
    eligible)."""
    now = now or now_utc()
    kind = SwapKind(kind)
    if shift.assignee_id != actor.id:
        raise Forbidden("You can only swap or offer a shift you are working.")
    settings = settings_for(shift.team_id)
    _check_requestable(shift, now=now, settings=settings, whose="Your")
    note = (note or "").strip() or None
    expires = min(shift.starts_at, now + timedelta(hours=settings.expiry_hours))
    if kind == SwapKind.swap:
        if counterpart_shift is None:
            raise ValidationFailed("Choose the colleague's shift you want in exchange.",
                                   errors={"counterpart_shift_id": ["Choose a shift to swap with."]})
        if counterpart_shift.id == shift.id or counterpart_shift.assignee_id == actor.id:
            raise RuleViolation("Choose a colleague's shift, not one of your own.",
                                errors={"counterpart_shift_id": ["Choose a colleague's shift."]})
        if counterpart_shift.team_id not in eligibility.allowed_team_ids(shift.team_id) and \
                shift.team_id not in eligibility.allowed_team_ids(counterpart_shift.team_id):
            raise RuleViolation("You can only swap with shifts in your team (or an allowed pool).")
        _check_requestable(counterpart_shift, now=now, settings=settings_for(counterpart_shift.team_id),
                           whose="The other")
        if counterpart_shift.starts_at < shift.ends_at and counterpart_shift.ends_at > shift.starts_at:
            raise RuleViolation("These two shifts overlap in time; ask your coordinator to change them instead.",
                                extra={"code": "overlapping_pair"})
        other = counterpart_shift.assignee
        refuse_ineligible(swap_eligibility(shift, counterpart_shift), "This swap is not allowed:", actor=actor)
        recipients = [other]
        expires = min(expires, counterpart_shift.starts_at)
    else:
        counterpart_shift = None
        if to_users:
            to_users = list({u.id: u for u in to_users}.values())
            if any(u.id == actor.id for u in to_users):
                raise RuleViolation("You cannot offer a shift to yourself.", errors={"to_user_ids": ["Not yourself."]})
            refuse_ineligible(eligibility.assess(shift, to_users), "You cannot offer this shift to them:", actor=actor)
            recipients = to_users
        else:
            recipients = [r.user for r in eligibility.eligible(shift) if r.user.id != actor.id]
            if not recipients:
                raise RuleViolation("Nobody else is eligible for this shift right now, so it cannot be offered. "
                                    "Ask your coordinator.", extra={"code": "nobody_eligible"})
    shift_ids = [shift.id] + ([counterpart_shift.id] if counterpart_shift else [])
    _check_no_pending(shift_ids, now=now)
    req = SwapRequest(team_id=shift.team_id, kind=kind, state=SwapState.proposed, requester_id=actor.id,
                      shift_id=shift.id, shift_version=shift.version,
                      counterpart_shift_id=counterpart_shift.id if counterpart_shift else None,
                      counterpart_shift_version=counterpart_shift.version if counterpart_shift else None,
                      to_everyone=(kind == SwapKind.offer and not to_users), note=note, created_at=now,
                      expires_at=expires)
    db.session.add(req)
    db.session.flush()
    try:
        with db.session.begin_nested():
            for sid in shift_ids:
                db.session.add(SwapShiftLock(shift_id=sid, request_id=req.id))
            db.session.flush()
    except IntegrityError:
        raise Conflict("Someone has just made another request for that shift. Reload and try again.",
                       extra={"code": "pending_request"})
    for u in recipients:
        db.session.add(SwapRecipient(request_id=req.id, user_id=u.id, asked_at=now))
    db.session.flush()
    audit.record("swap.proposed", actor=actor, entity=req, summary={
        "kind": kind.value, "shift_id": shift.id, "counterpart_shift_id": req.counterpart_shift_id,
        "recipient_ids": ",".join(str(u.id) for u in recipients)[:200], "to_everyone": req.to_everyone})
    if kind == SwapKind.swap:
        text = (f"{actor.display_name} asks to swap their {describe_shift(shift)} for your "
                f"{describe_shift(counterpart_shift)}.")
    else:
        text = f"{actor.display_name} is offering their {describe_shift(shift)}. Can you take it?"
    tell([u.id for u in recipients], kind=f"swap.{kind.value}_proposed", text=text, link=link_of(req),
         team_id=req.team_id, key=f"swap:{req.id}:proposed")
    events.emit("swap.offered", request=req)
    return req


def swap_eligibility(shift: Shift, counterpart_shift: Shift) -> list[Eligibility]:
    """Both halves of a swap: the colleague taking ``shift`` (giving up theirs), and the requester taking
    ``counterpart_shift`` (giving up ``shift``)."""
    a, b = shift.assignee, counterpart_shift.assignee
    results = []
    if b is not None:
        results += eligibility.assess(shift, [b], giving_up={b.id: [counterpart_shift]})
    if a is not None:
        results += eligibility.assess(counterpart_shift, [a], giving_up={a.id: [shift]})
    return results


def swap_candidates(shift: Shift, *, now: datetime | None = None, horizon_days: int = 42, limit: int = 20):
    """Colleagues' shifts that ``shift``'s holder could swap for (both halves allowed), with verdicts.

    Cheap checks first (one batch for every colleague taking ``shift``; grade/leave/overlap for the holder taking
    each candidate), then the compliance engine only for pairs that survive, until ``limit`` are found."""
    now = now or now_utc()
    settings = settings_for(shift.team_id)
    earliest = max(now + timedelta(hours=settings.cutoff_hours), shift.starts_at - timedelta(days=horizon_days))
    locked = select(SwapShiftLock.shift_id)
    stmt = (select(Shift).where(Shift.team_id == shift.team_id, Shift.state == ShiftState.scheduled,
                                Shift.assignee_id.is_not(None), Shift.assignee_id != shift.assignee_id,
                                Shift.starts_at >= earliest,
                                Shift.starts_at <= shift.starts_at + timedelta(days=horizon_days),
                                Shift.id.not_in(locked))
            .order_by(Shift.starts_at, Shift.id).limit(300))
    others = [o for o in db.session.scalars(stmt)
              if not (o.starts_at < shift.ends_at and o.ends_at > shift.starts_at)]
    if not others or shift.assignee is None:
        return []
    holders = list({o.assignee_id: o.assignee for o in others}.values())
    takers_ok = {r.user.id for r in eligibility.assess(shift, holders, with_compliance=False) if r.ok}
    out = []
    for other in others:
        if other.assignee_id not in takers_ok:
            continue
        mine = eligibility.assess(other, [shift.assignee], giving_up={shift.assignee_id: [shift]},
                                  with_compliance=False)
        if not mine[0].ok:
            continue
        results = swap_eligibility(shift, other)
        if all(r.ok for r in results):
            out.append((other, results))
        if len(out) >= limit:
            break
    # By day, and on each day the cleanest first (fewest working-time warnings for the two people).
    out.sort(key=lambda pair: (timeutil.local_date(pair[0].starts_at, shift.team.timezone),
                               sum(len(r.warnings) for r in pair[1]), pair[0].starts_at, pair[0].id))
    return out
