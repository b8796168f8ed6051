"""What happens to a swap or give-away request once proposed: the colleague accepts or declines it, the coordinator
approves (or the team's policy approves it automatically when clean and like-for-like) or refuses it, and the
requester or a coordinator cancels it. Every transition is a conditional update (:func:`rota.swaps.requests.transition`)
and approval takes the shifts by a conditional update on each (:func:`rota.swaps.shared.take_shift`), so of two
racers exactly one wins. Services never commit."""

from __future__ import annotations

from datetime import datetime

from core import audit
from core.accounts import User
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, RuleViolation, ValidationFailed
from rota import cover
from rota.assignment import set_assignee
from rota.models import ReleaseKind
from rota.swaps import eligibility
from rota.swaps.eligibility import Eligibility, describe_shift
from rota.swaps.models import (
    PENDING_STATES,
    ApprovalPolicy,
    RecipientState,
    SwapKind,
    SwapRequest,
    SwapState,
    TeamSwapSettings,
)
from rota.swaps.requests import (
    check_not_expired,
    kind_word,
    link_of,
    recipient_ids,
    release_locks,
    state_conflict,
    swap_eligibility,
    transition,
)
from rota.swaps.shared import (
    MAX_REASON,
    coordinator_ids,
    hours_until,
    refuse_ineligible,
    required_reason,
    settings_for,
    take_shift,
    tell,
    verdict_dict,
)

# ----------------------------------------------------------------------------------------- accept and decline


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
        raise state_conflict(req, "accept")
    check_not_expired(req, now)
    if mine.state != RecipientState.asked:
        raise Conflict("You have already answered this request.", extra={"code": "already_answered"})
    _shift_unchanged(req)
    results = _eligibility_if_accepted(req, actor)
    refuse_ineligible(results, "You cannot take this on:", actor=actor)
    transition(req, SwapState.proposed, "accept", state=SwapState.awaiting_approval, accepted_by_id=actor.id,
               accepted_at=now)
    mine.state, mine.responded_at = RecipientState.accepted, now
    audit.record("swap.accepted", actor=actor, entity=req, summary={"shift_id": req.shift_id})
    settings = settings_for(req.team_id)
    if settings.approval_policy == ApprovalPolicy.auto_when_clean and _clean(req, results, now, settings):
        _apply(req, actor=None, now=now, auto=True)
        return req
    tell([req.requester_id], kind="swap.accepted", team_id=req.team_id, link=link_of(req),
         key=f"swap:{req.id}:accepted",
         text=f"{actor.display_name} accepted your {kind_word(req)} — waiting for approval.")
    tell(coordinator_ids(req.team_id), kind="swap.awaiting_approval", team_id=req.team_id, link=link_of(req),
         key=f"swap:{req.id}:awaiting",
         text=f"A {kind_word(req)} between {req.requester.display_name} and {actor.display_name} needs approval.")
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
    within_cutoff = hours_until(req.shift.starts_at, now) < settings.cutoff_hours
    return (not within_cutoff and all(r.clean for r in results) and taker is not None
            and _like_for_like(req, taker))


def decline(req: SwapRequest, *, actor: User, reason: str | None, now: datetime | None = None) -> SwapRequest:
    now = now or now_utc()
    reason = required_reason(reason, "for declining")
    mine = next((r for r in req.recipients if r.user_id == actor.id), None)
    if mine is None:
        raise Forbidden("This request was not made to you.")
    if req.state != SwapState.proposed:
        raise state_conflict(req, "decline")
    if mine.state != RecipientState.asked:
        raise Conflict("You have already answered this request.", extra={"code": "already_answered"})
    # Bump the request's version so a decline racing an accept is settled by the same conditional update.
    transition(req, SwapState.proposed, "decline")
    mine.state, mine.responded_at, mine.reason = RecipientState.declined, now, reason
    db.session.flush()
    audit.record("swap.declined_by", actor=actor, entity=req, summary={"shift_id": req.shift_id})
    if all(r.state == RecipientState.declined for r in req.recipients):
        transition(req, SwapState.proposed, "decline", state=SwapState.declined, reason=reason, decided_at=now)
        release_locks(req)
        audit.record("swap.declined", actor=actor, entity=req, summary={"shift_id": req.shift_id})
    tell([req.requester_id], kind="swap.declined", team_id=req.team_id, link=link_of(req),
         key=f"swap:{req.id}:declined:{actor.id}",
         text=f"{actor.display_name} declined your {kind_word(req)} of {describe_shift(req.shift)}: {reason}")
    return req


# ------------------------------------------------------------------------------------ approve, refuse, cancel


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
        raise state_conflict(req, "approve")
    check_not_expired(req, now)
    results = approval_view(req)
    note = (note or "").strip() or None
    overridden = refuse_ineligible(results, "It cannot be approved:", actor=actor, override_reason=note,
                                   overridable=True)
    warnings = [v for r in results for v in r.warnings]
    if warnings and not note:
        raise RuleViolation("There are working-time warnings. Give a reason to approve it anyway (it is recorded), "
                            "or refuse it.", errors={"note": ["Give a reason to approve despite the warnings."]},
                            extra={"verdicts": [verdict_dict(v) for v in warnings]})
    if note and len(note) > MAX_REASON:
        raise ValidationFailed("Keep the note under 200 characters.", errors={"note": ["Too long."]})
    _apply(req, actor=actor, now=now, auto=False, override_reason=note if (warnings or overridden) else None)
    return req


def _apply(req: SwapRequest, *, actor: User | None, now: datetime, auto: bool, override_reason=None) -> None:
    taker = req.accepted_by
    transition(req, SwapState.awaiting_approval, "approve", state=SwapState.approved, decided_at=now,
               decided_by_id=actor.id if actor else None, auto_approved=auto)
    changed = "The rota changed since this request was made, so it cannot go ahead. Cancel it and make a new one."
    pairs = [(req.shift, req.requester_id, req.shift_version)]
    if req.kind == SwapKind.swap:
        pairs.append((req.counterpart_shift, req.counterpart_shift.assignee_id, req.counterpart_shift_version))
    cover.lock_slots([shift for shift, _, _ in pairs])  # the slots' cover is re-checked, serialised, on the change
    for shift, holder, version in sorted(pairs, key=lambda p: p[0].id):  # same lock order everywhere: no deadlock
        take_shift(shift, expected_holder=holder, expected_version=version, what=changed)
    release_locks(req)
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
        tell([giver.id], kind="swap.approved", team_id=req.team_id, link=link_of(req),
             key=f"swap:{req.id}:approved:giver",
             text=f"Your swap was approved {by}: you now work {describe_shift(req.counterpart_shift)}.")
    else:
        tell([giver.id], kind="swap.approved", team_id=req.team_id, link=link_of(req),
             key=f"swap:{req.id}:approved:giver",
             text=f"Your offer was approved {by}: {taker.display_name} now works {describe_shift(req.shift)}.")
    tell([taker.id], kind="swap.approved", team_id=req.team_id, link=link_of(req),
         key=f"swap:{req.id}:approved:taker",
         text=f"Your {kind_word(req)} was approved {by}: you now work {describe_shift(req.shift)}.")
    others = [r.user_id for r in req.recipients if r.user_id != taker.id and r.state == RecipientState.asked]
    tell(others, kind="swap.taken", team_id=req.team_id, link=link_of(req), key=f"swap:{req.id}:taken",
         text=f"{describe_shift(req.shift)} has been taken by someone else. Thank you.")


def refuse(req: SwapRequest, *, actor: User, reason: str | None, now: datetime | None = None) -> SwapRequest:
    now = now or now_utc()
    if not req.team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can refuse swaps and give-aways.")
    reason = required_reason(reason, "for refusing")
    transition(req, PENDING_STATES, "refuse", state=SwapState.refused, reason=reason, decided_at=now,
               decided_by_id=actor.id)
    release_locks(req)
    audit.record("swap.refused", actor=actor, entity=req, summary={"shift_id": req.shift_id})
    people = [req.requester_id] + ([req.accepted_by_id] if req.accepted_by_id else recipient_ids(req))
    tell(people, kind="swap.refused", team_id=req.team_id, link=link_of(req), key=f"swap:{req.id}:refused",
         text=f"The coordinator refused the {kind_word(req)} of {describe_shift(req.shift)}: {reason}")
    return req


def cancel(req: SwapRequest, *, actor: User, reason: str | None, now: datetime | None = None) -> SwapRequest:
    now = now or now_utc()
    if actor.id != req.requester_id and not req.team.can_manage(actor):
        raise Forbidden("Only the person who made the request (or a coordinator) can cancel it.")
    reason = required_reason(reason, "for cancelling")
    transition(req, PENDING_STATES, "cancel", state=SwapState.cancelled, reason=reason, decided_at=now,
               decided_by_id=actor.id)
    release_locks(req)
    audit.record("swap.cancelled", actor=actor, entity=req, summary={"shift_id": req.shift_id})
    people = [req.accepted_by_id] if req.accepted_by_id else recipient_ids(req)
    if actor.id != req.requester_id:
        people.append(req.requester_id)
    tell(people, kind="swap.cancelled", team_id=req.team_id, link=link_of(req), key=f"swap:{req.id}:cancelled",
         text=f"{actor.display_name} cancelled the {kind_word(req)} of {describe_shift(req.shift)}: {reason}")
    return req
