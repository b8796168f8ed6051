"""#15: a swap or offer whose taker can no longer take the shift — they went on leave that day, or were booked on
another shift that overlaps it — ends at once with a plain reason on the Requests page; the requester and the other
party are told in-app and it is audited. The shift itself never changed hands, so the "changed hands" and "moved"
hooks never saw it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core import timeutil
from core.audit import AuditEntry
from core.db import db
from notifications.models import Notification
from rota import services
from rota.swaps import decisions
from rota.swaps import requests as swap_requests
from rota.swaps.models import SwapState
from tests.conftest import login
from tests.rota.swaps import factories as data


def _told(user, kind="swap.cancelled"):
    return db.session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                         Notification.kind == kind)).all()


def _day(shift):
    return timeutil.local_date(shift.starts_at, shift.team.timezone)


def test_leave_recorded_for_the_colleague_an_offer_was_made_to_ends_it_and_says_why(make, client):
    w = data.ward(make, 2)
    a, b = w.staff
    early = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    req = swap_requests.propose(actor=a, shift=early, kind="offer", to_users=[b])
    db.session.commit()
    day = _day(early)
    services.record_leave(b, kind="sickness", first_day=day, last_day=day, actor=w.coordinator, team=w.team)
    db.session.commit()
    db.session.refresh(req)
    assert req.state == SwapState.cancelled
    assert req.reason == f"{b.display_name} is now on leave on {day:%a %d %b}"  # never "sickness": health data
    assert len(_told(a)) == 1 and f"was cancelled: {b.display_name} is now on leave" in _told(a)[0].text
    assert len(_told(b)) == 1
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "swap.cancelled")).one()
    assert entry.summary["rota_changed"] is True
    login(client, a)
    page = client.get("/swaps").get_data(as_text=True)
    assert f"Reason: {b.display_name} is now on leave on {day:%a %d %b}" in page


def test_leave_for_the_colleague_who_accepted_a_swap_ends_it_before_approval(make):
    w = data.ward(make, 2)
    a, b = w.staff
    mine = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    theirs = data.shift(w.team, starts_at=data.soon(5), assignee=b)
    req = swap_requests.propose(actor=a, shift=mine, kind="swap", counterpart_shift=theirs)
    db.session.commit()
    decisions.accept(req, actor=b)
    db.session.commit()
    assert req.state == SwapState.awaiting_approval
    day = _day(mine)  # B would work A's shift that day; B's own shift is another day, so nothing changes hands
    services.record_leave(b, kind="annual", first_day=day, last_day=day, actor=w.coordinator, team=w.team)
    db.session.commit()
    db.session.refresh(req)
    assert req.state == SwapState.cancelled
    assert req.reason == f"{b.display_name} is now on leave on {day:%a %d %b}"
    assert len(_told(a)) == 1 and len(_told(b)) == 1


def test_an_offer_to_several_stays_open_while_someone_else_can_still_take_it(make):
    w = data.ward(make, 3)
    a, b, c = w.staff
    early = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    req = swap_requests.propose(actor=a, shift=early, kind="offer", to_users=[b, c])
    db.session.commit()
    day = _day(early)
    services.record_leave(b, kind="annual", first_day=day, last_day=day, actor=w.coordinator, team=w.team)
    db.session.commit()
    db.session.refresh(req)
    assert req.state == SwapState.proposed and not _told(a)
    services.record_leave(c, kind="annual", first_day=day, last_day=day, actor=w.coordinator, team=w.team)
    db.session.commit()
    db.session.refresh(req)
    assert req.state == SwapState.cancelled
    assert req.reason == f"Nobody it was offered to can take it now: {c.display_name} is now on leave on {day:%a %d %b}"


def test_booking_the_colleague_on_an_overlapping_shift_ends_the_offer_and_says_why(make, client):
    w = data.ward(make, 3)
    a, b, c = w.staff
    early = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    req = swap_requests.propose(actor=a, shift=early, kind="offer", to_users=[b])
    db.session.commit()
    other = data.shift(w.team, starts_at=early.starts_at + timedelta(hours=2), assignee=c)
    services.assign(other, b, actor=w.coordinator)  # the coordinator books B elsewhere at the same time
    db.session.commit()
    db.session.refresh(req)
    assert req.state == SwapState.cancelled
    assert req.reason.startswith(f"{b.display_name} is now working Early ") and "at the same time" in req.reason
    assert len(_told(a)) == 1 and len(_told(b)) == 1
    login(client, a)
    assert f"Reason: {b.display_name} is now working Early" in client.get("/swaps").get_data(as_text=True)


def test_booking_the_colleague_on_a_shift_at_another_time_leaves_the_offer_alone(make):
    w = data.ward(make, 3)
    a, b, c = w.staff
    early = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    req = swap_requests.propose(actor=a, shift=early, kind="offer", to_users=[b])
    db.session.commit()
    other = data.shift(w.team, starts_at=early.starts_at + timedelta(days=3), assignee=c)
    services.assign(other, b, actor=w.coordinator)
    db.session.commit()
    db.session.refresh(req)
    assert req.state == SwapState.proposed and not _told(a)


def test_approving_one_of_two_overlapping_offers_a_colleague_accepted_ends_the_other(make, client, bearer):
    w = data.ward(make, 3)
    a, b, c = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    z = data.shift(w.team, starts_at=data.soon(3) + timedelta(hours=2), assignee=c)
    first = swap_requests.propose(actor=a, shift=x, kind="offer", to_users=[b])
    second = swap_requests.propose(actor=c, shift=z, kind="offer", to_users=[b])
    db.session.commit()
    decisions.accept(first, actor=b)
    decisions.accept(second, actor=b)  # allowed: B holds neither yet
    db.session.commit()
    decisions.approve(first, actor=w.coordinator)
    db.session.commit()
    db.session.refresh(second)
    assert second.state == SwapState.cancelled  # not left in the Approvals queue waiting to be refused
    assert second.reason.startswith(f"{b.display_name} is now working Early ")
    assert len(_told(c)) == 1
    r = client.post(f"/api/v1/swaps/{second.id}/approve", headers=bearer(make.token(w.coordinator)))
    assert r.status_code == 409 and "It can no longer happen: " + second.reason in r.json["detail"]
