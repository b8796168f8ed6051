"""Demo data for swaps and the escalation ladder: requests with notes, a volunteer, a ladder. Registered as a demo
seeder by ``rota.swaps.wiring``; production code never imports it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core import accounts, timeutil
from core.accounts import Team, TeamRole
from core.db import db, now_utc
from core.errors import DomainError, RuleViolation
from notifications import broadcasts
from notifications.models import EscalationPolicy
from rota import services
from rota.demo import ED, STAFF_BANK, WARD, demo_nurse_email
from rota.models import Shift, ShiftState
from rota.swaps import audiences, decisions, eligibility, open_shifts, shared
from rota.swaps import requests as swap_requests
from rota.swaps.models import OpenShiftPolicy, OpenShiftVolunteer, SwapKind, SwapRequest, SwapShiftLock

# Notes on the demo requests: shown to the people involved, and how a second run finds what the first one made.
NOTE_SWAP = "Could we swap? I have a family wedding that day."
NOTE_OFFER = "Childcare fell through: can anyone take this?"
NOTE_APPROVAL = "As we agreed at handover, thanks!"
# Ward 7B's ladder for an unclaimed open shift: staff bank after 30 min, neighbouring wards after 60, then the
# coordinators after 90 (``after_minutes`` counts from the previous step).
LADDER = [{"after_minutes": 30, "audience": audiences.STAFF_BANK},
          {"after_minutes": 30, "audience": audiences.NEIGHBOURING_WARDS},
          {"after_minutes": 30, "audience": broadcasts.COORDINATORS}]


def _first_that_works(attempts):
    """Run each attempt in a savepoint until one is allowed (a refusal rolls back only its own attempt)."""

    for attempt in attempts:
        try:
            with db.session.begin_nested():
                return attempt()
        except DomainError:
            continue
    return None


def _someone_eligible(shift, wanted):
    """The first person eligible for ``shift`` (not its holder) that ``wanted(user)`` accepts."""

    for r in eligibility.eligible(shift):
        if r.user.id != shift.assignee_id and wanted(r.user):
            return r.user
    raise RuleViolation("Nobody suitable is eligible.")


def _future_shifts(team, *, holders=None, limit=60):
    """Scheduled shifts of ``team`` from 36 h to 14 days ahead (outside the swap cut-off), none already in a
    request."""


    now = now_utc()
    stmt = (select(Shift).where(Shift.team_id == team.id, Shift.state == ShiftState.scheduled,
                                Shift.starts_at > now + timedelta(hours=36), Shift.starts_at < now + timedelta(days=14),
                                Shift.id.not_in(select(SwapShiftLock.shift_id)))
            .order_by(Shift.starts_at, Shift.id))
    if holders is not None:
        stmt = stmt.where(Shift.assignee_id.in_([u.id for u in holders]))
    return list(db.session.scalars(stmt.limit(limit)))


def _request_with_note(team, note):

    return db.session.scalar(select(SwapRequest).where(SwapRequest.team_id == team.id, SwapRequest.note == note)
                             .limit(1))


def _seed_ward_requests(ward) -> list[str]:

    lines = []
    nurses = sorted((m.user for m in ward.memberships if m.user.grade == "Band 5" and m.role == TeamRole.staff),
                    key=lambda u: u.id)
    demo_nurse = accounts.user_by_email(demo_nurse_email())
    others = [u for u in nurses if u.id != demo_nurse.id]
    if not others:
        return []
    # 1. A swap between two Ward 7B nurses, waiting for the demo nurse to answer.
    if _request_with_note(ward, NOTE_SWAP) is None:
        theirs = _future_shifts(ward, holders=[demo_nurse], limit=6)
        mine = _future_shifts(ward, holders=others[:6], limit=12)
        req = _first_that_works(
            (lambda a=a, b=b: swap_requests.propose(actor=a.assignee, shift=a, kind=SwapKind.swap, counterpart_shift=b,
                                                    note=NOTE_SWAP))
            for b in theirs for a in mine if not (a.starts_at < b.ends_at and a.ends_at > b.starts_at))
        if req is not None:
            lines.append(f"  swap: {req.requester.display_name} asks {demo_nurse.display_name} to swap "
                         f"(waiting for their answer)")
    # 2. An offer to everyone eligible.
    if _request_with_note(ward, NOTE_OFFER) is None:
        req = _first_that_works((lambda s=s: swap_requests.propose(actor=s.assignee, shift=s, kind=SwapKind.offer,
                                                                   note=NOTE_OFFER))
                                for s in _future_shifts(ward, holders=others[6:12], limit=6))
        if req is not None:
            lines.append(f"  offer: {req.requester.display_name} offers a shift to everyone eligible "
                         f"({len(req.recipients)} people)")
    # 3. An offer to one colleague, accepted: waiting for the coordinator.
    if _request_with_note(ward, NOTE_APPROVAL) is None:
        def offer_and_accept(s):
            taker = _someone_eligible(s, lambda u: u.id != demo_nurse.id and ward.id in u.team_ids)
            req = swap_requests.propose(actor=s.assignee, shift=s, kind=SwapKind.offer, to_users=[taker],
                                        note=NOTE_APPROVAL)
            return decisions.accept(req, actor=taker)

        req = _first_that_works((lambda s=s: offer_and_accept(s))
                                for s in _future_shifts(ward, holders=others[12:], limit=6))
        if req is not None:
            lines.append(f"  offer: {req.requester.display_name} to {req.accepted_by.display_name}, accepted "
                         f"(waiting for the coordinator's approval)")
    return lines


def _seed_volunteer(ed, coord) -> list[str]:
    """ED lets the coordinator choose among volunteers; one doctor has volunteered for an open shift."""


    if db.session.scalar(select(OpenShiftVolunteer.id).join(Shift, Shift.id == OpenShiftVolunteer.shift_id)
                         .where(Shift.team_id == ed.id).limit(1)):
        return []
    if shared.settings_for(ed.id).open_shift_policy != OpenShiftPolicy.coordinator_chooses:
        shared.update_settings(ed, actor=coord, open_shift_policy=OpenShiftPolicy.coordinator_chooses)
    now = now_utc()
    gaps = db.session.scalars(eligibility.open_shifts_query([ed.id]).where(
        Shift.starts_at > now + timedelta(hours=12))).all()
    if not gaps:  # the rota's own open shifts have all started: advertise tomorrow's first gap
        today = timeutil.local_date(now, ed.timezone)
        gap = next((g for g in services.gaps_for(ed, today + timedelta(days=1), today + timedelta(days=13))
                    if g.missing > 0), None)
        if gap is None:
            return []
        gaps = [services.open_gap(ed, requirement=gap.requirement, day=gap.day, actor=coord)]

    def volunteer(shift):
        return open_shifts.claim(shift, actor=_someone_eligible(shift, lambda u: u.id != coord.id), now=now)

    outcome = _first_that_works((lambda s=s: volunteer(s)) for s in gaps[:5])
    if outcome is None:
        return []
    return [f"  open shift: {outcome.volunteer.user.display_name} volunteered for "
            f"{eligibility.describe_shift(outcome.shift)} in ED (the coordinator chooses)"]


def seed_swaps() -> list[str]:
    """Swap requests and Ward 7B's escalation ladder, through the services (so audit and notifications are real):
    a swap waiting for the demo nurse's answer, an offer to everyone eligible, an accepted offer waiting for the
    coordinator, an ED open shift with a volunteer; Ward 7B's staff bank pool and its ladder. Idempotent: each
    item is looked up first (requests by their note) and made only once."""

    ward = db.session.scalar(select(Team).where(Team.name == WARD))
    coord = accounts.user_by_email("ward.manager@shiftbridge.test")
    if ward is None or coord is None:
        return []
    lines = []
    bank = db.session.scalar(select(Team).where(Team.name == STAFF_BANK))
    pools = list(shared.settings_for(ward.id).pool_team_ids or [])
    if bank is not None and bank.id not in pools:
        # The bank's staff become Ward 7B's candidates: a grant over the bank, so the trust's administrator makes it.
        admin = accounts.user_by_email("admin@shiftbridge.test")
        shared.update_settings(ward, actor=admin, pool_team_ids=[*pools, bank.id])
        lines.append(f"  {WARD}: staff bank pool is {STAFF_BANK}")
    if db.session.get(EscalationPolicy, ward.id) is None:
        broadcasts.set_policy(ward, coord, LADDER)
        lines.append(f"  {WARD}: escalation ladder — staff bank after 30 min, neighbouring wards after 60, "
                     "coordinators after 90")
    lines += _seed_ward_requests(ward)
    ed = db.session.scalar(select(Team).where(Team.name == ED))
    ed_coord = accounts.user_by_email("ed.rota@shiftbridge.test")
    if ed is not None and ed_coord is not None:
        lines += _seed_volunteer(ed, ed_coord)
    db.session.flush()
    return (["Demo swaps and escalation:"] + lines) if lines else []
