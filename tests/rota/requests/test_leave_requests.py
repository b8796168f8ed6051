"""Leave requests (issue #18): asked by the person, decided once by a coordinator, flowing into the rota's leave."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from core.errors import Conflict, Forbidden, ValidationFailed
from notifications.models import Notification
from rota.models import Leave, LeaveKind, Shift, ShiftState, StaffingRequirement
from rota.requests import balance, leave_calendar, service, settings
from rota.requests.models import LeaveRequest, RequestState
from tests import factories
from tests.rota.swaps import factories as data

WED = date(2026, 1, 14)


def _ward(make, n=3):
    w = factories.ward(make, n)
    return w.team, w.coordinator, w.staff


def _actions():
    return [a for (a,) in db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id))]


def test_approval_records_the_leave_opens_her_shift_tells_her_and_is_audited(app, make, today):
    team, boss, (nora, *_) = _ward(make)
    early = data.shift(team, starts_at=datetime(2026, 1, 14, 7, 0, tzinfo=UTC), assignee=nora)
    req = service.request_leave(nora, actor=nora, first_day=WED, last_day=date(2026, 1, 16), note="Wedding")
    db.session.commit()
    assert req.minutes == 3 * 450 and req.state == RequestState.pending
    assert [n.user_id for n in db.session.scalars(select(Notification).where(Notification.kind == "leave.requested"))
            ] == [boss.id]
    leave = service.approve(req, actor=boss, reason="Enjoy it")
    db.session.commit()
    db.session.expire_all()
    leave = db.session.get(Leave, leave.id)
    assert (leave.user_id, leave.team_id, leave.kind, leave.first_day, leave.last_day) == \
        (nora.id, team.id, LeaveKind.annual, WED, date(2026, 1, 16))
    assert db.session.get(Shift, early.id).state == ShiftState.open  # the rota sees it: her Early needs cover
    told = db.session.scalar(select(Notification).where(Notification.kind == "leave.decided"))
    assert told.user_id == nora.id and "approved" in told.text and "Enjoy it" in told.text
    assert {"leave_request.made", "leave.recorded", "leave_request.approved"} <= set(_actions())
    assert balance.balance(nora, 2025).taken == 1350


def test_refusal_needs_a_reason_and_tells_her(app, make, today):
    team, boss, (nora, *_) = _ward(make)
    req = service.request_leave(nora, actor=nora, first_day=WED, last_day=WED)
    db.session.commit()
    with pytest.raises(ValidationFailed, match="Say why"):
        service.refuse(req, actor=boss, reason="  ")
    db.session.rollback()
    service.refuse(req, actor=boss, reason="Two already off that day")
    db.session.commit()
    assert req.state == RequestState.refused and db.session.scalar(select(Leave.id)) is None
    assert "not approved: Two already off" in db.session.scalar(select(Notification.text).where(
        Notification.kind == "leave.decided"))
    assert balance.balance(nora, 2025).pending == 0


def test_only_her_coordinator_decides_and_only_once(app, make, today):
    team, boss, (nora, nadia, *_) = _ward(make)
    req = service.request_leave(nora, actor=nora, first_day=WED, last_day=WED)
    db.session.commit()
    with pytest.raises(Forbidden):
        service.approve(req, actor=nadia)
    with pytest.raises(Forbidden):
        service.request_leave(nora, actor=nadia, first_day=WED, last_day=WED)
    own = service.request_leave(boss, actor=boss, first_day=WED, last_day=WED)
    with pytest.raises(Forbidden, match="Another coordinator"):
        service.approve(own, actor=boss)
    service.approve(req, actor=boss)
    db.session.commit()
    with pytest.raises(Conflict, match="already approved"):
        service.approve(req, actor=boss)
    db.session.rollback()
    with pytest.raises(Conflict, match="already approved"):
        service.refuse(req, actor=boss, reason="Changed my mind")
    db.session.rollback()
    assert db.session.scalar(select(Leave.id).where(Leave.user_id == nora.id)) is not None


def test_cancelling_approved_leave_takes_it_out_of_the_rota_and_tells_the_coordinator(app, make, today):
    team, boss, (nora, *_) = _ward(make)
    req = service.request_leave(nora, actor=nora, first_day=WED, last_day=WED)
    service.approve(req, actor=boss)
    db.session.commit()
    service.cancel(req, actor=nora)
    db.session.commit()
    assert req.state == RequestState.cancelled and db.session.scalar(select(Leave.id)) is None
    assert balance.balance(nora, 2025).taken == 0
    assert db.session.scalar(select(Notification.user_id).where(Notification.kind == "leave.cancelled")) == boss.id
    with pytest.raises(Conflict):
        service.cancel(req, actor=nora)


def test_a_coordinator_cancels_with_a_reason(app, make, today):
    team, boss, (nora, *_) = _ward(make)
    req = service.request_leave(nora, actor=nora, first_day=WED, last_day=WED)
    db.session.commit()
    with pytest.raises(ValidationFailed):
        service.cancel(req, actor=boss)
    db.session.rollback()
    service.cancel(req, actor=boss, reason="Ward closure")
    db.session.commit()
    assert "cancelled: Ward closure" in db.session.scalar(select(Notification.text).where(
        Notification.kind == "leave.cancelled"))


def test_bad_requests_are_refused_clearly(app, make, today):
    team, boss, (nora, *_) = _ward(make)
    cases = [dict(first_day=date(2026, 1, 2), last_day=date(2026, 1, 2)),  # past
             dict(first_day=WED, last_day=date(2026, 1, 13)),  # out of order
             dict(first_day=WED, last_day=date(2026, 6, 1)),  # too long
             dict(first_day=WED, last_day=WED, kind="sickness"),  # not requestable
             dict(first_day=WED, last_day=WED, hours=-1)]
    for case in cases:
        with pytest.raises(ValidationFailed):
            service.request_leave(nora, actor=nora, **case)
    service.request_leave(nora, actor=nora, first_day=WED, last_day=WED)
    with pytest.raises(Conflict, match="already asked"):
        service.request_leave(nora, actor=nora, first_day=date(2026, 1, 12), last_day=WED)
    assert db.session.scalar(select(LeaveRequest.id).where(LeaveRequest.first_day == date(2026, 1, 12))) is None


def test_cover_effect_shows_who_is_off_the_limit_and_the_gap_it_opens(app, make, today):
    team, boss, (nora, nadia, nick) = _ward(make)
    early = data.shift_type(team)
    db.session.add(StaffingRequirement(team_id=team.id, shift_type_id=early.id, staff_group="nursing", min_count=1))
    data.shift(team, starts_at=datetime(2026, 1, 14, 7, 0, tzinfo=UTC), assignee=nora, stype=early)
    nadia_req = service.request_leave(nadia, actor=nadia, first_day=WED, last_day=WED)
    service.approve(nadia_req, actor=boss)
    settings.set_max_off(team, 1, actor=boss)
    req = service.request_leave(nora, actor=nora, first_day=WED, last_day=date(2026, 1, 15))
    db.session.commit()
    wed, thu = leave_calendar.cover_effect(req)
    assert (wed.off, wed.max_off, wed.over_limit) == (["Nurse B"], 1, True)
    assert wed.shifts == ["Early 07:00"] and len(wed.gaps) == 1 and "1 → 0 of 1" in wed.gaps[0]
    assert (thu.off, thu.over_limit, thu.gaps) == ([], False, [])


def test_the_team_calendar_shows_colleagues_leave_but_not_their_sickness(app, make, today):
    team, boss, (nora, nadia, *_) = _ward(make)
    req = service.request_leave(nora, actor=nora, first_day=WED, last_day=WED)
    service.approve(req, actor=boss)
    service.request_leave(nora, actor=nora, first_day=date(2026, 1, 20), last_day=date(2026, 1, 20))
    db.session.add(Leave(user_id=nadia.id, team_id=team.id, kind=LeaveKind.sickness, first_day=WED, last_day=WED))
    db.session.commit()
    weeks = leave_calendar.month_calendar(team, nora, 2026, 1)
    days = {d.day: d.entries for w in weeks for d in w}
    assert weeks[0][0].day == date(2025, 12, 29) and len(weeks) == 5
    assert days[WED] == [("Nurse A", "Annual")] and days[date(2026, 1, 20)] == [("Nurse A", "Asked")]
    assert sorted(leave_calendar.month_calendar(team, boss, 2026, 1)[2][2].entries) == [("Nurse A", "Annual"),
                                                                                 ("Nurse B", "Sickness")]
    with pytest.raises(ValidationFailed):
        leave_calendar.month_calendar(team, nora, 2026, 13)
