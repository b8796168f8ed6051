"""Swaps, give-aways (offers) and open shifts: the services.

Three flows, each a small state machine on :class:`~rota.swap_models.SwapRequest` (or on the shift itself for open
shifts). Services never commit; every transition writes an audit entry and queues notifications in the caller's
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

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from core import audit, events, timeutil
from core.accounts import Membership, Team, TeamRole, User
from core.api import MAX_ID  # noqa: F401  (swaps.MAX_ID is used by the views)
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from notifications import broadcasts
from rota import cover
from rota.assignment import set_assignee
from rota.models import PeriodState, ReleaseKind, Shift, ShiftState
from rota.swaps import absence, eligibility
from rota.swaps.eligibility import Eligibility, describe_shift
from rota.swaps.models import (
    PENDING_STATES,
    ApprovalPolicy,
    OpenShiftPolicy,
    OpenShiftVolunteer,
    RecipientState,
    SwapKind,
    SwapRecipient,
    SwapRequest,
    SwapShiftLock,
    SwapState,
    TeamSwapSettings,
    VolunteerState,
)

MAX_REASON = 200
HORIZON = timedelta(days=730)  # nobody swaps or claims shifts further ahead than this
STATE_WORDS = {
    SwapState.proposed: "waiting for a colleague",
    SwapState.awaiting_approval: "waiting for approval",
    SwapState.approved: "approved",
    SwapState.declined: "declined",
    SwapState.refused: "refused by the coordinator",
    SwapState.cancelled: "cancelled",
    SwapState.expired: "expired",
}


# -------------------------------------------------------------------------------------------------- helpers


def _notify(user_ids, *, kind: str, text: str, link: str | None, team_id: int, key: str) -> None:
    from notifications.service import notify

    ids = [i for i in dict.fromkeys(user_ids) if i]
    if ids:
        notify(ids, kind=kind, text=text, link=link, team_id=team_id, idempotency_key=key)


def _link(req: SwapRequest) -> str:
    return f"/swaps/{req.id}"


def _coordinator_ids(team_id: int) -> list[int]:
    return list(db.session.scalars(select(Membership.user_id).where(Membership.team_id == team_id,
                                                                     Membership.role == TeamRole.coordinator)))


def _reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(f"Give a reason {what}; it is shown to the people affected.",
                               errors={"reason": [f"Give a reason {what}."]})
    if len(reason) > MAX_REASON:
        raise ValidationFailed("Keep the reason under 200 characters.",
                               errors={"reason": ["Keep the reason under 200 characters."]})
    return reason


def _hours_until(instant: datetime, now: datetime) -> float:
    return (instant - now).total_seconds() / 3600


def _state_conflict(req: SwapRequest, doing: str) -> Conflict:
    db.session.refresh(req)
    who = ""
    if req.state == SwapState.awaiting_approval and req.accepted_by is not None:
        who = f" {req.accepted_by.display_name} accepted it first."
    elif req.state == SwapState.cancelled:
        who = f" {req.requester.display_name} cancelled it" + (f": {req.reason}" if req.reason else ".")
    elif req.reason:
        who = f" Reason: {req.reason}"
    return Conflict(f"You cannot {doing} this request: it is now {STATE_WORDS[req.state]}.{who}",
                    extra={"code": "state_changed", "state": req.state.value})


def _transition(req: SwapRequest, expected, doing: str, **values) -> None:
    """The conditional update every request transition goes through: exactly one racer matches the row."""
    expected = expected if isinstance(expected, tuple) else (expected,)
    result = db.session.execute(
        update(SwapRequest)
        .where(SwapRequest.id == req.id, SwapRequest.state.in_(expected))
        .values(version=SwapRequest.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _state_conflict(req, doing)
    db.session.refresh(req)


def _release_locks(req: SwapRequest) -> None:
    db.session.execute(delete(SwapShiftLock).where(SwapShiftLock.request_id == req.id))


def settings_for(team_id: int) -> TeamSwapSettings:
    return eligibility.settings_for(team_id)


def update_settings(team, *, actor, **values) -> TeamSwapSettings:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can change its swap settings.")
    _check_pool_teams(team, actor, values.get("pool_team_ids"))
    row = db.session.get(TeamSwapSettings, team.id)
    if row is None:
        row = settings_for(team.id)
        db.session.add(row)
    for key, value in values.items():
        if value is not None:
            setattr(row, key, value)
    db.session.flush()
    audit.record("swap_settings.updated", actor=actor, entity_type="team_swap_settings", entity_id=team.id,
                 team_id=team.id, summary={k: (v.value if hasattr(v, "value") else v) for k, v in values.items()
                                           if v is not None and k != "pool_team_ids"})
    return row


def _check_pool_teams(team, actor, pool_team_ids) -> None:
    """A pool team's staff become candidates for this team's shifts, so only someone who manages that team too (its
    coordinator, or an administrator) may name it as a pool: a coordinator's power stops at their own teams."""
    new_ids = set(pool_team_ids or []) - set(settings_for(team.id).pool_team_ids or []) - {team.id}
    if not new_ids:
        return
    pools = db.session.scalars(select(Team).where(Team.id.in_(new_ids))).all()
    if len(pools) != len(new_ids):
        raise ValidationFailed("A staff pool must be an existing team.", errors={"pool_team_ids": ["Unknown team."]})
    for pool in pools:
        if not pool.can_manage(actor):
            raise Forbidden(f"Only a coordinator of {pool.name} or an administrator can make it a staff pool of "
                            f"{team.name}.")


# ------------------------------------------------------------------------------- requests the rota overtook


def _is_stale(req: SwapRequest) -> bool:
    shift, cp = req.shift, req.counterpart_shift
    if shift.version != req.shift_version or shift.assignee_id != req.requester_id:
        return True
    return cp is not None and cp.version != req.counterpart_shift_version


def _end_because_rota_changed(req: SwapRequest) -> bool:
    """A pending request whose shift changed hands by another route (leave, a coordinator) is cancelled, and the
    people involved are told why. Returns False when another transaction is deciding it right now."""
    reason = f"The rota changed: {describe_shift(req.shift)} was reassigned"
    result = db.session.execute(
        update(SwapRequest).where(SwapRequest.id == req.id, SwapRequest.state.in_(PENDING_STATES))
        .values(state=SwapState.cancelled, reason=reason, decided_at=now_utc(), version=SwapRequest.version + 1)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    db.session.refresh(req)
    _release_locks(req)
    audit.record("swap.cancelled", actor=None, entity=req, summary={"shift_id": req.shift_id, "rota_changed": True})
    people = [req.requester_id] + ([req.accepted_by_id] if req.accepted_by_id else recipient_ids(req))
    _notify(people, kind="swap.cancelled", team_id=req.team_id, link=_link(req), key=f"swap:{req.id}:overtaken",
            text=f"The {_kind_word(req)} of {describe_shift(req.shift)} was cancelled: {reason}.")
    return True


def on_shift_changed_hands(shift, previous, user, *, actor=None, kind=None, reason=None, **_) -> None:
    """``rota.assignment.AFTER_CHANGE`` hook: when a shift changes hands outside a swap (leave opens it, a
    coordinator reassigns it), pending requests that involve it can no longer happen: end them and say why.
    Requests another transaction holds right now are skipped (that transaction will get a 409 on the version).

    And when an open shift is filled — claimed, a volunteer chosen, assigned by a coordinator — any broadcast about
    it shows "claimed" and stops escalating."""
    if previous is None and user is not None:
        broadcasts.record_claim(user.id, reference=eligibility.shift_reference(shift.id), actor=actor)
    if kind in (ReleaseKind.swapped, ReleaseKind.given_away):
        return
    request_ids = list(db.session.scalars(select(SwapShiftLock.request_id).where(SwapShiftLock.shift_id == shift.id)))
    if not request_ids:
        return
    stmt = select(SwapRequest).where(SwapRequest.id.in_(request_ids), SwapRequest.state.in_(PENDING_STATES))
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    for req in db.session.scalars(stmt).all():
        _end_because_rota_changed(req)


# ----------------------------------------------------------------------------------------------- visibility


def get_request(request_id: int) -> SwapRequest:
    req = db.session.get(SwapRequest, request_id) if 0 < request_id <= MAX_ID else None
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


# --------------------------------------------------------------------------------------------------- expiry


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
        _release_locks(req)
        audit.record("swap.expired", actor=None, entity=req, summary={"shift_id": req.shift_id})
        _notify([req.requester_id], kind="swap.expired", team_id=req.team_id, link=_link(req),
                key=f"swap:{req.id}:expired",
                text=f"Your {_kind_word(req)} of {describe_shift(req.shift)} expired without being completed.")
        count += 1
    return count


def _check_not_expired(req: SwapRequest, now: datetime) -> None:
    if req.pending and req.expires_at <= now:
        raise Conflict("This request has expired (its shift has started or nobody acted in time).",
                       extra={"code": "expired"})


def _kind_word(req: SwapRequest) -> str:
    return "swap" if req.kind == SwapKind.swap else "offer"


# -------------------------------------------------------------------------------------------------- propose


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
    if _hours_until(shift.starts_at, now) < settings.cutoff_hours:
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


def _refuse_ineligible(results: list[Eligibility], intro: str, *, override_reason: str | None = None,
                       overridable: bool = False) -> bool:
    """Refuse unless everyone is eligible. Where ``overridable`` (a coordinator deciding), a change that only breaks
    staffing cover (``COVER-`` verdicts) goes ahead with ``override_reason``; returns whether it was overridden."""
    only_cover = [r for r in results if r.short_of_cover]
    if overridable and override_reason and only_cover and all(r.ok or r in only_cover for r in results):
        return True
    bad = [r for r in results if not r.ok]
    if bad:
        # A clash with another shift is a conflict with the rota as it is now (409); the rest are rules (422).
        error = Conflict if any("overlap" in r.codes for r in bad) else RuleViolation
        all_cover = len(only_cover) == len(bad)
        hint = " A coordinator may go ahead anyway by giving a reason (it is recorded)." \
            if overridable and all_cover else ""
        raise error(intro + " " + " ".join(r.explain() for r in bad) + hint, extra={
            "code": "overlap" if error is Conflict else "cover" if all_cover else "not_eligible",
            "verdicts": [_verdict_dict(v) for r in bad for v in r.blocking],
            "cover": [e.text for r in bad for e in r.cover],
            "overridable": overridable and all_cover,
        })
    return False


def _verdict_dict(v) -> dict:
    return {"rule_id": v.rule_id, "severity": v.severity, "observed": v.observed, "limit": v.limit,
            "message": v.message, "shift_ids": list(v.shift_ids)}


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
        _refuse_ineligible(swap_eligibility(shift, counterpart_shift), "This swap is not allowed:")
        recipients = [other]
        expires = min(expires, counterpart_shift.starts_at)
    else:
        counterpart_shift = None
        if to_users:
            to_users = list({u.id: u for u in to_users}.values())
            if any(u.id == actor.id for u in to_users):
                raise RuleViolation("You cannot offer a shift to yourself.", errors={"to_user_ids": ["Not yourself."]})
            _refuse_ineligible(eligibility.assess(shift, to_users), "You cannot offer this shift to them:")
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
    _notify([u.id for u in recipients], kind=f"swap.{kind.value}_proposed", text=text, link=_link(req),
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


# --------------------------------------------------------------------------------------- accept and decline


def _shift_unchanged(req: SwapRequest) -> None:
    """A request is about the rota as it was when proposed; if either shift changed since, it cannot go ahead."""
    db.session.refresh(req.shift)
    changed = []
    if req.shift.version != req.shift_version or req.shift.assignee_id != req.requester_id:
        changed.append(describe_shift(req.shift))
    cp = req.counterpart_shift
    if cp is not None:
        db.session.refresh(cp)
        if cp.version != req.counterpart_shift_version:
            changed.append(describe_shift(cp))
    if changed:
        raise Conflict(f"The rota changed since this request was made ({' and '.join(changed)} changed). "
                       "It cannot go ahead as it stands: cancel it and make a new one.",
                       extra={"code": "shift_changed"})


def accept(req: SwapRequest, *, actor: User, now: datetime | None = None) -> SwapRequest:
    now = now or now_utc()
    mine = next((r for r in req.recipients if r.user_id == actor.id), None)
    if mine is None:
        raise Forbidden("This request was not made to you.")
    if req.state != SwapState.proposed:
        raise _state_conflict(req, "accept")
    _check_not_expired(req, now)
    if mine.state != RecipientState.asked:
        raise Conflict("You have already answered this request.", extra={"code": "already_answered"})
    _shift_unchanged(req)
    results = _eligibility_if_accepted(req, actor)
    _refuse_ineligible(results, "You cannot take this on:")
    _transition(req, SwapState.proposed, "accept", state=SwapState.awaiting_approval, accepted_by_id=actor.id,
                accepted_at=now)
    mine.state, mine.responded_at = RecipientState.accepted, now
    audit.record("swap.accepted", actor=actor, entity=req, summary={"shift_id": req.shift_id})
    settings = settings_for(req.team_id)
    if settings.approval_policy == ApprovalPolicy.auto_when_clean and _clean(req, results, now, settings):
        _apply(req, actor=None, now=now, auto=True)
        return req
    _notify([req.requester_id], kind="swap.accepted", team_id=req.team_id, link=_link(req),
            key=f"swap:{req.id}:accepted",
            text=f"{actor.display_name} accepted your {_kind_word(req)} — waiting for approval.")
    _notify(_coordinator_ids(req.team_id), kind="swap.awaiting_approval", team_id=req.team_id, link=_link(req),
            key=f"swap:{req.id}:awaiting",
            text=f"A {_kind_word(req)} between {req.requester.display_name} and {actor.display_name} needs approval.")
    return req


def _eligibility_if_accepted(req: SwapRequest, taker: User) -> list[Eligibility]:
    if req.kind == SwapKind.swap:
        return swap_eligibility(req.shift, req.counterpart_shift)
    return eligibility.assess(req.shift, [taker])


def _like_for_like(req: SwapRequest, taker: User) -> bool:
    """The one like-for-like rule (``cover.Need``, as on the candidate lists): the taker fits the cover the shift
    provides; for a swap, the giver also fits the cover of the shift they take, and both are the same kind of shift."""
    if not cover.need_for(req.shift).fits(taker):
        return False
    if req.kind == SwapKind.swap:
        a, b = req.shift.shift_type, req.counterpart_shift.shift_type
        same_kind = a is not None and b is not None and a.kind == b.kind
        return same_kind and cover.need_for(req.counterpart_shift).fits(req.requester)
    return True


def _clean(req: SwapRequest, results: list[Eligibility], now: datetime, settings: TeamSwapSettings) -> bool:
    taker = req.accepted_by
    within_cutoff = _hours_until(req.shift.starts_at, now) < settings.cutoff_hours
    return (not within_cutoff and all(r.clean for r in results) and taker is not None
            and _like_for_like(req, taker))


def decline(req: SwapRequest, *, actor: User, reason: str | None, now: datetime | None = None) -> SwapRequest:
    now = now or now_utc()
    reason = _reason(reason, "for declining")
    mine = next((r for r in req.recipients if r.user_id == actor.id), None)
    if mine is None:
        raise Forbidden("This request was not made to you.")
    if req.state != SwapState.proposed:
        raise _state_conflict(req, "decline")
    if mine.state != RecipientState.asked:
        raise Conflict("You have already answered this request.", extra={"code": "already_answered"})
    # Bump the request's version so a decline racing an accept is settled by the same conditional update.
    _transition(req, SwapState.proposed, "decline")
    mine.state, mine.responded_at, mine.reason = RecipientState.declined, now, reason
    db.session.flush()
    audit.record("swap.declined_by", actor=actor, entity=req, summary={"shift_id": req.shift_id})
    if all(r.state == RecipientState.declined for r in req.recipients):
        _transition(req, SwapState.proposed, "decline", state=SwapState.declined, reason=reason, decided_at=now)
        _release_locks(req)
        audit.record("swap.declined", actor=actor, entity=req, summary={"shift_id": req.shift_id})
    _notify([req.requester_id], kind="swap.declined", team_id=req.team_id, link=_link(req),
            key=f"swap:{req.id}:declined:{actor.id}",
            text=f"{actor.display_name} declined your {_kind_word(req)} of {describe_shift(req.shift)}: {reason}")
    return req


# ----------------------------------------------------------------------------------- approve, refuse, cancel


def approval_view(req: SwapRequest, taker: User | None = None) -> list[Eligibility]:
    """Fresh verdicts for everyone the request would move (what the coordinator sees before deciding; for an offer
    nobody has accepted yet, what it would mean for ``taker`` — a colleague reading it before agreeing)."""
    if req.kind == SwapKind.swap:
        return swap_eligibility(req.shift, req.counterpart_shift)
    if req.accepted_by is not None:
        return eligibility.assess(req.shift, [req.accepted_by])
    if taker is not None and taker.id != req.requester_id:
        return eligibility.assess(req.shift, [taker])
    return []


def approve(req: SwapRequest, *, actor: User, note: str | None = None, now: datetime | None = None) -> SwapRequest:
    now = now or now_utc()
    if not req.team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can approve swaps and give-aways.")
    if req.state != SwapState.awaiting_approval:
        raise _state_conflict(req, "approve")
    _check_not_expired(req, now)
    results = approval_view(req)
    note = (note or "").strip() or None
    overridden = _refuse_ineligible(results, "It cannot be approved:", override_reason=note, overridable=True)
    warnings = [v for r in results for v in r.warnings]
    if warnings and not note:
        raise RuleViolation("There are working-time warnings. Give a reason to approve it anyway (it is recorded), "
                            "or refuse it.", errors={"note": ["Give a reason to approve despite the warnings."]},
                            extra={"verdicts": [_verdict_dict(v) for v in warnings]})
    if note and len(note) > MAX_REASON:
        raise ValidationFailed("Keep the note under 200 characters.", errors={"note": ["Too long."]})
    _apply(req, actor=actor, now=now, auto=False, override_reason=note if (warnings or overridden) else None)
    return req


def _claim_shift(shift: Shift, *, expected_holder: int | None, expected_version: int, what: str) -> None:
    """Conditional update on the shift: proceeds only if it is exactly as the request saw it (and row-locks it)."""
    stmt = update(Shift).where(Shift.id == shift.id, Shift.version == expected_version,
                               Shift.state != ShiftState.cancelled)
    stmt = stmt.where(Shift.assignee_id == expected_holder) if expected_holder else stmt.where(
        Shift.state == ShiftState.open)
    result = db.session.execute(stmt.values(version=Shift.version + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict(what, extra={"code": "shift_changed"})
    db.session.refresh(shift)


def _apply(req: SwapRequest, *, actor: User | None, now: datetime, auto: bool, override_reason=None) -> None:
    taker = req.accepted_by
    _transition(req, SwapState.awaiting_approval, "approve", state=SwapState.approved, decided_at=now,
                decided_by_id=actor.id if actor else None, auto_approved=auto)
    changed = "The rota changed since this request was made, so it cannot go ahead. Cancel it and make a new one."
    pairs = [(req.shift, req.requester_id, req.shift_version)]
    if req.kind == SwapKind.swap:
        pairs.append((req.counterpart_shift, req.counterpart_shift.assignee_id, req.counterpart_shift_version))
    cover.lock_slots([shift for shift, _, _ in pairs])  # the slots' cover is re-checked, serialised, on the change
    for shift, holder, version in sorted(pairs, key=lambda p: p[0].id):  # same lock order everywhere: no deadlock
        _claim_shift(shift, expected_holder=holder, expected_version=version, what=changed)
    _release_locks(req)
    giver = req.requester
    if req.kind == SwapKind.swap:
        other_shift = req.counterpart_shift
        set_assignee(req.shift, taker, actor=actor or giver, kind=ReleaseKind.swapped,
                     reason=f"Swapped to {taker.display_name}", override_reason=override_reason,
                     exclude_ids=(other_shift.id,))
        set_assignee(other_shift, giver, actor=actor or giver, kind=ReleaseKind.swapped,
                     reason=f"Swapped to {giver.display_name}", override_reason=override_reason,
                     exclude_ids=(req.shift.id,))
    else:
        set_assignee(req.shift, taker, actor=actor or giver, kind=ReleaseKind.given_away,
                     reason=f"Given to {taker.display_name}", override_reason=override_reason)
    audit.record("swap.approved", actor=actor, entity=req, summary={
        "auto": auto, "shift_id": req.shift_id, "counterpart_shift_id": req.counterpart_shift_id,
        "taker_id": taker.id, "override": bool(override_reason)})
    by = "automatically (it was like-for-like and clean)" if auto else f"by {actor.display_name}"
    if req.kind == SwapKind.swap:
        _notify([giver.id], kind="swap.approved", team_id=req.team_id, link=_link(req),
                key=f"swap:{req.id}:approved:giver",
                text=f"Your swap was approved {by}: you now work {describe_shift(req.counterpart_shift)}.")
    else:
        _notify([giver.id], kind="swap.approved", team_id=req.team_id, link=_link(req),
                key=f"swap:{req.id}:approved:giver",
                text=f"Your offer was approved {by}: {taker.display_name} now works {describe_shift(req.shift)}.")
    _notify([taker.id], kind="swap.approved", team_id=req.team_id, link=_link(req),
            key=f"swap:{req.id}:approved:taker",
            text=f"Your {_kind_word(req)} was approved {by}: you now work {describe_shift(req.shift)}.")
    others = [r.user_id for r in req.recipients if r.user_id != taker.id and r.state == RecipientState.asked]
    _notify(others, kind="swap.taken", team_id=req.team_id, link=_link(req), key=f"swap:{req.id}:taken",
            text=f"{describe_shift(req.shift)} has been taken by someone else. Thank you.")


def refuse(req: SwapRequest, *, actor: User, reason: str | None, now: datetime | None = None) -> SwapRequest:
    now = now or now_utc()
    if not req.team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can refuse swaps and give-aways.")
    reason = _reason(reason, "for refusing")
    _transition(req, PENDING_STATES, "refuse", state=SwapState.refused, reason=reason, decided_at=now,
                decided_by_id=actor.id)
    _release_locks(req)
    audit.record("swap.refused", actor=actor, entity=req, summary={"shift_id": req.shift_id})
    people = [req.requester_id] + ([req.accepted_by_id] if req.accepted_by_id else recipient_ids(req))
    _notify(people, kind="swap.refused", team_id=req.team_id, link=_link(req), key=f"swap:{req.id}:refused",
            text=f"The coordinator refused the {_kind_word(req)} of {describe_shift(req.shift)}: {reason}")
    return req


def cancel(req: SwapRequest, *, actor: User, reason: str | None, now: datetime | None = None) -> SwapRequest:
    now = now or now_utc()
    if actor.id != req.requester_id and not req.team.can_manage(actor):
        raise Forbidden("Only the person who made the request (or a coordinator) can cancel it.")
    reason = _reason(reason, "for cancelling")
    _transition(req, PENDING_STATES, "cancel", state=SwapState.cancelled, reason=reason, decided_at=now,
                decided_by_id=actor.id)
    _release_locks(req)
    audit.record("swap.cancelled", actor=actor, entity=req, summary={"shift_id": req.shift_id})
    people = [req.accepted_by_id] if req.accepted_by_id else recipient_ids(req)
    if actor.id != req.requester_id:
        people.append(req.requester_id)
    _notify(people, kind="swap.cancelled", team_id=req.team_id, link=_link(req), key=f"swap:{req.id}:cancelled",
            text=f"{actor.display_name} cancelled the {_kind_word(req)} of {describe_shift(req.shift)}: {reason}")
    return req


# ---------------------------------------------------------------------------------------------- open shifts


@dataclass
class ClaimOutcome:
    outcome: str  # "claimed" | "volunteered"
    shift: Shift
    volunteer: OpenShiftVolunteer | None = None


def claim(shift: Shift, *, actor: User, now: datetime | None = None) -> ClaimOutcome:
    """"I'll take it": the first valid claim wins, or the person joins the volunteers the coordinator picks from."""
    now = now or now_utc()
    if not eligibility.may_see_shift(actor, shift):  # members, pool members, people a broadcast invited
        raise NotFound(f"No shift with id {shift.id}.")
    if shift.state == ShiftState.cancelled:
        raise Conflict("This shift was cancelled.", extra={"code": "cancelled"})
    if shift.state != ShiftState.open:
        who = "you" if shift.assignee_id == actor.id else "someone else"
        raise Conflict(f"Too late: this shift has already been taken by {who}.", extra={"code": "already_taken"})
    if shift.starts_at <= now:
        raise RuleViolation("This shift has already started; call the coordinator instead.",
                            extra={"code": "started"})
    if shift.rota_period is not None and shift.rota_period.state != PeriodState.published:
        raise RuleViolation("This shift is on a rota that is not published yet.", extra={"code": "draft"})
    if shift.starts_at > now + HORIZON:
        raise RuleViolation("This shift is more than two years away.", extra={"code": "too_far"})
    absence.check_claimable(shift)  # not while it is left with the coordinator to decide
    seen = shift.version
    cover.lock_slots([shift])  # the slot's cover is checked on the slot as it is now, one change at a time
    result = eligibility.check(shift, actor)
    _refuse_ineligible([result], "You cannot take this shift:")
    settings = settings_for(shift.team_id)
    if settings.open_shift_policy == OpenShiftPolicy.coordinator_chooses:
        existing = db.session.scalar(select(OpenShiftVolunteer).where(OpenShiftVolunteer.shift_id == shift.id,
                                                                      OpenShiftVolunteer.user_id == actor.id))
        if existing is not None and existing.state == VolunteerState.waiting:
            raise Conflict("You have already volunteered for this shift.", extra={"code": "already_volunteered"})
        if existing is None:
            existing = OpenShiftVolunteer(shift_id=shift.id, user_id=actor.id, created_at=now)
            db.session.add(existing)
        existing.state, existing.created_at = VolunteerState.waiting, now
        db.session.flush()
        audit.record("open_shift.volunteered", actor=actor, entity=shift, summary={"volunteer_id": existing.id})
        _notify(_coordinator_ids(shift.team_id), kind="open_shift.volunteer", team_id=shift.team_id,
                link="/approvals", key=f"open_shift:{shift.id}:volunteer:{actor.id}:{int(now.timestamp())}",
                text=f"{actor.display_name} volunteered for {describe_shift(shift)}.")
        return ClaimOutcome("volunteered", shift, existing)
    _claim_shift(shift, expected_holder=None, expected_version=seen,
                 what="Too late: someone else claimed this shift a moment before you.")
    set_assignee(shift, actor, actor=actor, reason="Claimed open shift")
    audit.record("open_shift.claimed", actor=actor, entity=shift, summary={"user_id": actor.id})
    _notify(_coordinator_ids(shift.team_id), kind="open_shift.claimed", team_id=shift.team_id, link="/open-shifts",
            key=f"open_shift:{shift.id}:claimed:{shift.version}",
            text=f"{actor.display_name} claimed {describe_shift(shift)}.")
    _notify([actor.id], kind="open_shift.claimed", team_id=shift.team_id, link="/swaps",
            key=f"open_shift:{shift.id}:mine:{shift.version}", text=f"You now work {describe_shift(shift)}.")
    return ClaimOutcome("claimed", shift)


def assign(shift: Shift, user: User, *, actor: User, override_reason: str | None = None,
           now: datetime | None = None) -> Shift:
    """A coordinator gives an open shift to someone (usually a volunteer)."""
    now = now or now_utc()
    if not shift.team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can assign open shifts.")
    if shift.state != ShiftState.open:
        raise Conflict("This shift is no longer open: someone has already been given it.",
                       extra={"code": "already_taken"})
    if shift.starts_at > now + HORIZON:
        raise RuleViolation("This shift is more than two years away.", extra={"code": "too_far"})
    seen = shift.version
    cover.lock_slots([shift])  # as claim: the cover check sees every other change to the slot
    result = eligibility.check(shift, user)
    override_reason = (override_reason or "").strip() or None
    overridden = _refuse_ineligible([result], "They cannot take this shift:", override_reason=override_reason,
                                    overridable=True)
    if result.warnings and not override_reason:
        raise RuleViolation("There are working-time warnings. Give a reason to assign anyway (it is recorded).",
                            errors={"override_reason": ["Give a reason to assign despite the warnings."]},
                            extra={"verdicts": [_verdict_dict(v) for v in result.warnings]})
    _claim_shift(shift, expected_holder=None, expected_version=seen,
                 what="This shift was changed or taken a moment ago. Reload and try again.")
    if overridden:
        cover.record_override(shift, user, [v for v in result.blocking if cover.is_cover(v)], actor=actor,
                              reason=override_reason)
    set_assignee(shift, user, actor=actor, reason="Assigned from open shifts",
                 override_reason=override_reason if result.warnings else None)
    volunteers = db.session.scalars(select(OpenShiftVolunteer).where(OpenShiftVolunteer.shift_id == shift.id,
                                                                     OpenShiftVolunteer.state ==
                                                                     VolunteerState.waiting)).all()
    for v in volunteers:
        v.state = VolunteerState.chosen if v.user_id == user.id else VolunteerState.not_chosen
        v.decided_at = now
    audit.record("open_shift.assigned", actor=actor, entity=shift, summary={"user_id": user.id,
                                                                             "volunteers": len(volunteers)})
    _notify([user.id], kind="open_shift.assigned", team_id=shift.team_id, link="/swaps",
            key=f"open_shift:{shift.id}:assigned:{shift.version}",
            text=f"You have been given {describe_shift(shift)}.")
    others = [v.user_id for v in volunteers if v.user_id != user.id]
    _notify(others, kind="open_shift.not_chosen", team_id=shift.team_id, link="/open-shifts",
            key=f"open_shift:{shift.id}:not_chosen:{shift.version}",
            text=f"Thank you for volunteering for {describe_shift(shift)}; it has gone to someone else this time.")
    return shift


@dataclass
class RankedVolunteer:
    volunteer: OpenShiftVolunteer
    eligibility: Eligibility
    hours: float  # hours already worked in the period
    last_asked: datetime | None  # last time they took an extra shift (offers accepted, open shifts given)
    grade_gap: int  # how far above the shift's required grade (0 = exact match)


def ranked_volunteers(shift: Shift) -> list[RankedVolunteer]:
    """Volunteers, best fit first: fewest hours this period, least recently asked, closest grade match."""
    vols = db.session.scalars(select(OpenShiftVolunteer).where(OpenShiftVolunteer.shift_id == shift.id,
                                                               OpenShiftVolunteer.state == VolunteerState.waiting)
                              .order_by(OpenShiftVolunteer.created_at)).all()
    if not vols:
        return []
    users = [v.user for v in vols]
    ids = [u.id for u in users]
    checks = eligibility.by_user(eligibility.assess(shift, users))
    lo, hi = _period_bounds(shift)
    hours = dict.fromkeys(ids, 0.0)
    for uid, starts, ends in db.session.execute(select(Shift.assignee_id, Shift.starts_at, Shift.ends_at).where(
            Shift.assignee_id.in_(ids), Shift.state == ShiftState.scheduled, Shift.starts_at >= lo,
            Shift.starts_at < hi)):
        hours[uid] += (ends - starts).total_seconds() / 3600
    last: dict[int, datetime] = {}
    for uid, at in db.session.execute(select(SwapRecipient.user_id, func.max(SwapRecipient.responded_at)).where(
            SwapRecipient.user_id.in_(ids), SwapRecipient.state == RecipientState.accepted)
            .group_by(SwapRecipient.user_id)):
        if at is not None:
            last[uid] = at
    for uid, at in db.session.execute(select(OpenShiftVolunteer.user_id, func.max(OpenShiftVolunteer.decided_at))
                                      .where(OpenShiftVolunteer.user_id.in_(ids),
                                             OpenShiftVolunteer.state == VolunteerState.chosen)
                                      .group_by(OpenShiftVolunteer.user_id)):
        if at is not None and (uid not in last or at > last[uid]):
            last[uid] = at
    req_rank = eligibility.grade_rank(shift.required_grade)
    ranked = [RankedVolunteer(v, checks[v.user_id], round(hours[v.user_id], 1), last.get(v.user_id),
                              max(0, eligibility.grade_rank(v.user.grade) - req_rank) if req_rank >= 0 else 0)
              for v in vols]
    epoch = datetime.min.replace(tzinfo=shift.starts_at.tzinfo)
    ranked.sort(key=lambda r: (not r.eligibility.ok, r.hours, r.last_asked or epoch, r.grade_gap,
                               r.volunteer.created_at))
    return ranked


def _period_bounds(shift: Shift) -> tuple[datetime, datetime]:
    period = shift.rota_period
    tz = ZoneInfo(shift.team.timezone)
    if period is not None:
        lo = datetime.combine(period.first_day, datetime.min.time(), tzinfo=tz)
        hi = datetime.combine(period.last_day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        return lo, hi
    return shift.starts_at - timedelta(days=28), shift.starts_at


def withdraw(shift: Shift, *, actor: User) -> OpenShiftVolunteer:
    vol = db.session.scalar(select(OpenShiftVolunteer).where(OpenShiftVolunteer.shift_id == shift.id,
                                                             OpenShiftVolunteer.user_id == actor.id))
    if vol is None or vol.state != VolunteerState.waiting:
        raise Conflict("You are not waiting to be chosen for this shift.")
    vol.state, vol.decided_at = VolunteerState.withdrawn, now_utc()
    audit.record("open_shift.withdrawn", actor=actor, entity=shift, summary={"volunteer_id": vol.id})
    return vol


# ------------------------------------------------------------------------------------------------- wiring


def cover_request_url(shift: Shift) -> str:
    """The broadcast form, filled in for this gap: everyone eligible, reference ``shift:<id>`` (so the escalation
    ladder, "don't ask me again", SMS "YES" and the claim all know the shift), wording without patient details, and a
    link to the shift on the open-shifts board. The coordinator still counts the recipients and confirms."""
    from flask import url_for

    return url_for("notifications.broadcast_new", team_id=shift.team_id, audience="eligible_for_shift",
                   shift_id=shift.id, kind="open_shift", reference=eligibility.shift_reference(shift.id),
                   text=cover_text(shift), link=board_link(shift.id))


def cover_text(shift: Shift) -> str:
    """The words of a request for cover (no patient details): "Cover needed: Night Sun 06 Dec 19:30–08:00, Ward 7"."""
    return f"Cover needed: {describe_shift(shift)}, {shift.team.name}. Can you take it?"


def board_link(shift_id: int) -> str:
    """The shift on the open-shifts board (its claim / volunteer button and verdicts are there). A plain path:
    services call it outside any request (one-tap "Ask for cover")."""
    return f"/open-shifts#open-shift-{shift_id}"


def shift_action(shift_id: int) -> tuple[str, str, str] | None:
    """The button on a broadcast about a gap: "I'll take it" (or "Volunteer"), posting the claim straight from the
    message; the claim checks eligibility and, if refused, the open-shifts board it returns to says why."""
    from flask import url_for

    shift = db.session.get(Shift, shift_id) if 0 < shift_id <= MAX_ID else None
    if shift is None or shift.state != ShiftState.open or absence.is_held(shift):
        return None
    first = settings_for(shift.team_id).open_shift_policy == OpenShiftPolicy.first_claim_wins
    return ("I'll take it" if first else "Volunteer"), url_for("swaps.claim", shift_id=shift.id), "post"


def reply_claim(user_id: int, reference: str | None) -> tuple[bool, str]:
    """An SMS "YES 4821" answering a gap broadcast (reference ``"shift:12"``): claim the shift for the sender."""
    shift_id = eligibility.shift_id_from_reference(reference)
    shift = db.session.get(Shift, shift_id) if shift_id is not None else None
    user = db.session.get(User, user_id)
    if shift is None or user is None:
        return False, "Sorry, that shift is no longer available."
    try:
        with db.session.begin_nested():
            outcome = claim(shift, actor=user)
    except (Conflict, RuleViolation, Forbidden, NotFound, ValidationFailed) as exc:
        return False, f"Sorry: {exc.detail}"[:300]
    if outcome.outcome == "claimed":
        return True, f"Thanks: you now work {describe_shift(shift)}."
    return True, f"Thanks: you have volunteered for {describe_shift(shift)}. The coordinator will confirm."
