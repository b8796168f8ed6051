"""Open shifts: "I'll take it" (the first valid claim wins, or the person joins the volunteers), the coordinator
assigning one (usually to a volunteer, best fit first), withdrawing, and asking for cover by broadcast. Taking a shift
is a conditional update on it (``… WHERE state = 'open' AND version = :seen``), so fifty people claiming one gap get
one winner and forty-nine 409s. Services never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import url_for
from sqlalchemy import func, select

from core import audit
from core.accounts import User
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, NotFound, RuleViolation
from notifications import broadcasts
from rota import cover
from rota.assignment import set_assignee
from rota.models import PeriodState, Shift, ShiftState
from rota.swaps import absence, audiences, eligibility
from rota.swaps.eligibility import Eligibility, describe_shift
from rota.swaps.models import OpenShiftPolicy, OpenShiftVolunteer, RecipientState, SwapRecipient, VolunteerState
from rota.swaps.shared import (
    HORIZON,
    coordinator_ids,
    refuse_ineligible,
    settings_for,
    take_shift,
    tell,
    verdict_dict,
)


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
    refuse_ineligible([result], "You cannot take this shift:", actor=actor)
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
        tell(coordinator_ids(shift.team_id), kind="open_shift.volunteer", team_id=shift.team_id,
             link="/approvals", key=f"open_shift:{shift.id}:volunteer:{actor.id}:{int(now.timestamp())}",
             text=f"{actor.display_name} volunteered for {describe_shift(shift)}.")
        return ClaimOutcome("volunteered", shift, existing)
    take_shift(shift, expected_holder=None, expected_version=seen,
               what="Too late: someone else claimed this shift a moment before you.")
    set_assignee(shift, actor, actor=actor, reason="Claimed open shift")
    audit.record("open_shift.claimed", actor=actor, entity=shift, summary={"user_id": actor.id})
    tell(coordinator_ids(shift.team_id), kind="open_shift.claimed", team_id=shift.team_id, link="/open-shifts",
         key=f"open_shift:{shift.id}:claimed:{shift.version}",
         text=f"{actor.display_name} claimed {describe_shift(shift)}.")
    tell([actor.id], kind="open_shift.claimed", team_id=shift.team_id, link="/swaps",
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
    overridden = refuse_ineligible([result], "They cannot take this shift:", actor=actor,
                                   override_reason=override_reason, overridable=True)
    if result.warnings and not override_reason:
        raise RuleViolation("There are working-time warnings. Give a reason to assign anyway (it is recorded).",
                            errors={"override_reason": ["Give a reason to assign despite the warnings."]},
                            extra={"verdicts": [verdict_dict(v) for v in result.warnings]})
    take_shift(shift, expected_holder=None, expected_version=seen,
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
    tell([user.id], kind="open_shift.assigned", team_id=shift.team_id, link="/swaps",
         key=f"open_shift:{shift.id}:assigned:{shift.version}",
         text=f"You have been given {describe_shift(shift)}.")
    others = [v.user_id for v in volunteers if v.user_id != user.id]
    tell(others, kind="open_shift.not_chosen", team_id=shift.team_id, link="/open-shifts",
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


# ------------------------------------------------------------------------------------------- asking for cover


def cover_request_url(shift: Shift) -> str:
    """The broadcast form, filled in for this gap: everyone eligible, reference ``shift:<id>`` (so the escalation
    ladder, "don't ask me again", SMS "YES" and the claim all know the shift), wording without patient details, and a
    link to the shift on the open-shifts board. The coordinator still counts the recipients and confirms."""

    return url_for("notifications.broadcast_new", team_id=shift.team_id, audience=audiences.ELIGIBLE_FOR_SHIFT,
                   shift_id=shift.id, kind="open_shift", reference=eligibility.shift_reference(shift.id),
                   text=cover_text(shift), link=board_link(shift.id))


def cover_text(shift: Shift) -> str:
    """The words of a request for cover (no patient details): "Cover needed: Night Sun 06 Dec 19:30–08:00, Ward 7"."""
    return f"Cover needed: {describe_shift(shift)}, {shift.team.name}. Can you take it?"


def board_link(shift_id: int) -> str:
    """The shift on the open-shifts board (its claim / volunteer button and verdicts are there). A plain path:
    services call it outside any request (one-tap "Ask for cover")."""
    return f"/open-shifts#open-shift-{shift_id}"


def on_shift_filled(shift, previous, user, *, actor=None, **_) -> None:
    """``rota.assignment.AFTER_CHANGE`` hook: when an open shift is filled — claimed, a volunteer chosen, assigned by a
    coordinator — any broadcast about it shows "claimed" and stops escalating."""
    if previous is None and user is not None:
        broadcasts.record_claim(user.id, reference=eligibility.shift_reference(shift.id), actor=actor)
