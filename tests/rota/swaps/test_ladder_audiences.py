"""Ladder audiences for an open shift: this ward, the staff bank, neighbouring wards on the same site — each only
the eligible people — and an escalation ladder that widens through them, step by step, to the coordinators."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.db import db
from notifications import broadcasts
from notifications.models import Broadcast, EscalationStep, Notification
from rota.models import Shift
from rota.swaps import open_shifts
from tests.rota.swaps import factories as data
from tests.rota.swaps import ladder_site


def _resolve(site, audience, params):
    return set(broadcasts.resolve(site.ward.id, audience, params))


def test_each_audience_is_exactly_the_eligible_people_of_its_circle(app, make):
    site = ladder_site.build(make)
    by_id = {"shift_id": site.gap.id}
    assert _resolve(site, "eligible_on_ward", by_id) == site.ids("on_ward", "on_both")
    assert _resolve(site, "staff_bank", by_id) == site.ids("in_bank")
    assert _resolve(site, "neighbouring_wards", by_id) == site.ids("next_door")
    # The original audience is unchanged: the ward and its pools together.
    assert _resolve(site, "eligible_for_shift", by_id) == site.ids("on_ward", "on_both", "in_bank")
    # A broadcast's reference names the shift just as well (what a ladder step has to go on).
    for audience in ("eligible_on_ward", "staff_bank", "neighbouring_wards", "eligible_for_shift"):
        assert _resolve(site, audience, {"reference": f"shift:{site.gap.id}"}) == \
            _resolve(site, audience, by_id), audience
    labels = dict(broadcasts.audience_choices())
    assert labels["staff_bank"] == "Staff bank (eligible)" and labels["eligible_on_ward"] == "Eligible on this ward"


def test_audiences_are_empty_for_anything_but_an_open_shift_of_the_team(app, make):
    site = ladder_site.build(make)
    other_gap = data.shift(site.neighbour, starts_at=data.soon(4))
    taken = data.shift(site.ward, starts_at=data.soon(5), assignee=site.on_ward)
    for params in ({}, {"shift_id": other_gap.id}, {"shift_id": taken.id}, {"shift_id": "x"}, {"shift_id": -3},
                   {"shift_id": 2**63}, {"shift_id": True}, {"shift_id": "³"}, {"shift_id": [1]},
                   {"reference": "handover:1"}, {"reference": "shift:"}, {"reference": "shift:³"},
                   {"reference": f"shift:{other_gap.id}"}):
        for audience in ("eligible_on_ward", "staff_bank", "neighbouring_wards", "eligible_for_shift"):
            assert _resolve(site, audience, params) == set(), (audience, params)


def test_without_a_site_or_a_bank_those_steps_reach_nobody(app, make):
    site = ladder_site.build(make)
    data.settings(site.ward, pool_team_ids=[])
    site.ward.site = None
    db.session.commit()
    assert _resolve(site, "staff_bank", {"shift_id": site.gap.id}) == set()
    assert _resolve(site, "neighbouring_wards", {"shift_id": site.gap.id}) == set()
    assert _resolve(site, "eligible_on_ward", {"shift_id": site.gap.id}) == site.ids("on_ward", "on_both")


def test_a_bank_team_on_the_same_site_is_the_bank_not_a_neighbour(app, make):
    site = ladder_site.build(make)
    site.bank.site = ladder_site.SITE
    db.session.commit()
    assert _resolve(site, "staff_bank", {"shift_id": site.gap.id}) == site.ids("in_bank")
    assert _resolve(site, "neighbouring_wards", {"shift_id": site.gap.id}) == site.ids("next_door")


LADDER = [("staff_bank", 30), ("neighbouring_wards", 30), ("coordinators", 30)]


def test_escalation_widens_ward_then_bank_then_neighbours_then_coordinators(app, make):
    """The ladder is per team, so its steps name no shift: each step's audience gets the shift from the broadcast
    (its reference "shift:<id>", passed on by notifications' escalate_due)."""
    site = ladder_site.build(make)
    broadcasts.set_policy(site.ward, site.coordinator, [{"after_minutes": m, "audience": a} for a, m in LADDER])
    b = broadcasts.create(site.ward, site.coordinator, audience="eligible_on_ward",
                          params={"shift_id": site.gap.id}, reference=f"shift:{site.gap.id}", kind="open_shift",
                          text="Early Thu needs an IV-trained nurse", channels=("in_app",))
    db.session.commit()
    start = b.created_at

    def added_at(step):
        db.session.expire_all()
        return {r.user_id for r in db.session.get(Broadcast, b.id).recipients if r.step == step}

    assert added_at(0) == site.ids("on_ward", "on_both")
    assert broadcasts.escalate_due(start + timedelta(minutes=29)) == 0
    assert broadcasts.escalate_due(start + timedelta(minutes=31)) == 1
    db.session.commit()
    assert added_at(1) == site.ids("in_bank")
    assert broadcasts.escalate_due(start + timedelta(minutes=62)) == 1
    db.session.commit()
    assert added_at(2) == site.ids("next_door")
    assert broadcasts.escalate_due(start + timedelta(minutes=93)) == 1
    db.session.commit()
    assert added_at(3) == set()  # coordinators are told, not asked
    told = db.session.scalars(select(Notification.user_id).where(Notification.kind == "broadcast.unanswered")).all()
    assert told == [site.coordinator.id]
    steps = db.session.execute(select(EscalationStep.step, EscalationStep.audience, EscalationStep.added)
                               .where(EscalationStep.broadcast_id == b.id).order_by(EscalationStep.step)).all()
    assert [tuple(s) for s in steps] == [(1, "staff_bank", 1), (2, "neighbouring_wards", 1), (3, "coordinators", 1)]
    # Nobody outside the circles, nor anyone ineligible, was ever asked.
    everyone = {r.user_id for r in db.session.get(Broadcast, b.id).recipients}
    assert everyone == site.ids("on_ward", "on_both", "in_bank", "next_door")
    # The neighbour the ladder reached may now take the gap, which closes the broadcast (the ladder stops).
    gap = db.session.get(Shift, site.gap.id)
    assert open_shifts.claim(gap, actor=site.next_door).outcome == "claimed"
    db.session.commit()
    assert db.session.get(Broadcast, b.id).state == "claimed" and gap.assignee_id == site.next_door.id
