"""Demo swaps and Ward 7B's escalation ladder: realistic requests made through the services, a neighbouring ward
and a staff bank the ladder can reach, and a second seeding that creates nothing new.

(`flask demo seed` builds six weeks of rota; this test builds two, the same code, to keep the suite fast.)"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from core import timeutil
from core.accounts import Team, user_by_email
from core.audit import AuditEntry
from core.db import db, now_utc
from notifications import broadcasts
from notifications.models import EscalationPolicy
from rota import demo, services
from rota.models import Shift, ShiftState
from rota.swaps import demo as swaps_demo
from rota.swaps import shared
from rota.swaps.models import OpenShiftPolicy, OpenShiftVolunteer, SwapKind, SwapRequest, SwapState


def _team(name):
    return db.session.scalar(select(Team).where(Team.name == name))


def _counts():
    return tuple(db.session.scalar(select(func.count()).select_from(t)) for t in
                 (SwapRequest, OpenShiftVolunteer, AuditEntry, EscalationPolicy, Team, Shift))


def test_demo_swaps_ladder_and_neighbours_are_realistic_and_idempotent(app):
    demo.seed_people_and_teams()
    demo.seed_rota(weeks=2)
    lines = swaps_demo.seed_swaps()
    db.session.commit()
    ward, ed = _team(demo.WARD), _team(demo.ED)
    bank, ward8 = _team(demo.STAFF_BANK), _team(demo.NEIGHBOUR_WARD)
    assert ward8.site == ward.site and bank.site != ward.site
    assert shared.settings_for(ward.id).pool_team_ids == [bank.id]
    policy = db.session.get(EscalationPolicy, ward.id)
    assert [(s["audience"], s["after_minutes"]) for s in policy.steps] == [
        ("staff_bank", 30), ("neighbouring_wards", 30), ("coordinators", 30)]

    requests = {r.note: r for r in db.session.scalars(select(SwapRequest))}
    swap, offer, accepted = (requests[swaps_demo.NOTE_SWAP], requests[swaps_demo.NOTE_OFFER],
                             requests[swaps_demo.NOTE_APPROVAL])
    nurse = user_by_email(demo.demo_nurse_email())
    ward_ids = {m.user_id for m in ward.memberships}
    assert (swap.kind, swap.state) == (SwapKind.swap, SwapState.proposed)
    assert swap.counterpart_shift.assignee_id == nurse.id and [r.user_id for r in swap.recipients] == [nurse.id]
    assert swap.requester_id in ward_ids and swap.requester_id != nurse.id
    assert (offer.kind, offer.state, offer.to_everyone) == (SwapKind.offer, SwapState.proposed, True)
    assert len(offer.recipients) >= 3
    assert accepted.state == SwapState.awaiting_approval and accepted.accepted_by_id in ward_ids
    volunteer = db.session.scalar(select(OpenShiftVolunteer))
    assert volunteer.shift.team_id == ed.id and volunteer.shift.state == ShiftState.open
    assert shared.settings_for(ed.id).open_shift_policy == OpenShiftPolicy.coordinator_chooses
    # Made through the services: the audit trail and the people's notifications say so.
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"swap.proposed", "swap.accepted", "open_shift.volunteered", "broadcast.escalation_policy",
            "swap_settings.updated"} <= actions
    assert any("escalation ladder" in line for line in lines)

    # The ladder has someone at each step for a Ward 7B gap: bank staff, then Ward 8 nurses (never ED doctors).
    coord = user_by_email("ward.manager@shiftbridge.test")
    early = next(st for st in services.shift_types(ward) if st.code == "E")
    day = timeutil.local_date(now_utc(), ward.timezone) + timedelta(days=20)  # after the demo rota: nobody busy
    gap = services.add_shift(ward, actor=coord, shift_type=early, day=day, required_grade="Band 5")
    reached = set(broadcasts.resolve(ward.id, "staff_bank", {"shift_id": gap.id}))
    assert reached == {m.user_id for m in bank.memberships if m.user.staff_group.value == "nursing"}
    reached = set(broadcasts.resolve(ward.id, "neighbouring_wards", {"shift_id": gap.id}))
    assert reached == {m.user_id for m in ward8.memberships if m.user.staff_group.value == "nursing"}
    db.session.commit()

    before = _counts()
    assert demo.seed_people_and_teams() and demo.seed_rota(weeks=2) == [] and swaps_demo.seed_swaps() == []
    db.session.commit()
    assert _counts() == before
