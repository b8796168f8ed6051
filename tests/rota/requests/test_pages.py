"""Phone pages for leave and rota requests (issue #18): what a nurse and her coordinator see and do."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from core.db import db
from rota.models import Leave, PeriodState, RotaPeriod, StaffingRequirement
from rota.requests import balance, service, settings
from rota.requests.models import LeaveRequest, RequestState, RequestWindow, RotaRequest, StaffPreference
from tests import factories
from tests.conftest import login
from tests.rota.swaps import factories as data


def _ward(make):
    w = factories.ward(make, 3)
    return w.team, w.coordinator, w.staff


def test_a_nurse_checks_her_balance_before_and_after_then_sends_and_the_coordinator_approves(app, make, client,
                                                                                              today):
    team, boss, (nora, *_) = _ward(make)
    early = data.shift_type(team)
    db.session.add(StaffingRequirement(team_id=team.id, shift_type_id=early.id, staff_group="nursing", min_count=1))
    data.shift(team, starts_at=datetime(2026, 1, 14, 7, 0, tzinfo=UTC), assignee=nora, stype=early)
    login(client, nora)
    page = client.get("/leave").get_data(as_text=True)
    assert "262 h 30 min" in page  # a full-time AfC entitlement, leave year 2025
    form = {"kind": "annual", "first_day": "2026-01-14", "last_day": "2026-01-16", "action": "check"}
    page = client.post("/leave", data=form).get_data(as_text=True)
    assert "This request: 22 h 30 min" in page and "Balance before: 262 h 30 min" in page
    assert 'after: <strong data-testid="quote-after">240 h<' in page
    assert db.session.scalar(select(LeaveRequest.id)) is None  # checking sends nothing
    resp = client.post("/leave", data={**form, "action": "send"})
    assert resp.status_code == 302
    req = db.session.scalar(select(LeaveRequest))
    client.post("/auth/logout")
    login(client, boss)
    assert f"/leave/requests/{req.id}" in client.get("/leave/approvals").get_data(as_text=True)
    page = client.get(f"/leave/requests/{req.id}").get_data(as_text=True)
    assert "Effect on cover" in page and "Gap:" in page and "1 → 0 of 1" in page
    resp = client.post(f"/leave/requests/{req.id}/approve", data={"reason": ""})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(LeaveRequest, req.id).state == RequestState.approved
    assert db.session.scalar(select(Leave.user_id)) == nora.id


def test_bad_leave_input_is_a_clear_error_that_keeps_what_was_typed(app, make, client, today):
    team, boss, (nora, *_) = _ward(make)
    login(client, nora)
    resp = client.post("/leave", data={"kind": "annual", "first_day": "2026-01-20", "last_day": "2026-01-19",
                                       "note": "my typed note", "action": "send"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "Before the first day" in page and "my typed note" in page
    for bad in ({"first_day": "not a date", "last_day": "2026-01-19"}, {"kind": "sickness"},
                {"first_day": "2026-01-20", "last_day": "2026-01-20", "hours": "-5"},
                {"first_day": "9999-99-99", "last_day": "2026-13-01"}):
        resp = client.post("/leave", data={"kind": "annual", "action": "send", **bad})
        assert resp.status_code == 422, bad
    assert db.session.scalar(select(LeaveRequest.id)) is None
    assert client.get("/leave/requests/99999999999999").status_code == 404


def test_refusing_without_a_reason_is_explained_and_nothing_changes(app, make, client, today):
    team, boss, (nora, *_) = _ward(make)
    req = service.request_leave(nora, actor=nora, first_day=date(2026, 1, 20), last_day=date(2026, 1, 20))
    db.session.commit()
    login(client, boss)
    resp = client.post(f"/leave/requests/{req.id}/refuse", data={"reason": ""})
    assert resp.status_code == 303
    assert "Say why" in client.get(resp.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(LeaveRequest, req.id).state == RequestState.pending
    client.post("/auth/logout")
    login(client, nora)
    client.post(f"/leave/requests/{req.id}/cancel", data={})
    db.session.expire_all()
    assert db.session.get(LeaveRequest, req.id).state == RequestState.cancelled


def test_staff_cannot_decide_or_see_another_persons_request(app, make, client, today):
    team, boss, (nora, nadia, *_) = _ward(make)
    req = service.request_leave(nora, actor=nora, first_day=date(2026, 1, 20), last_day=date(2026, 1, 20))
    db.session.commit()
    login(client, nadia)
    assert client.get(f"/leave/requests/{req.id}").status_code == 404
    assert client.post(f"/leave/requests/{req.id}/approve", data={}).status_code == 404
    assert client.get("/leave/approvals").status_code == 403


def test_the_calendar_and_the_leave_rules_page(app, make, client, today):
    team, boss, (nora, *_) = _ward(make)
    req = service.request_leave(nora, actor=nora, first_day=date(2026, 1, 20), last_day=date(2026, 1, 21))
    service.approve(req, actor=boss)
    db.session.commit()
    login(client, boss)
    page = client.get(f"/leave/calendar?team={team.id}&month=2026-01").get_data(as_text=True)
    assert 'data-testid="off-2026-01-20"' in page and "Nurse A" in page and "January 2026" in page
    assert client.get("/leave/calendar?month=garbage").status_code == 200
    resp = client.post(f"/teams/{team.id}/leave-rules", data={"limit-max_off": "2"})
    assert resp.status_code == 302 and settings.max_off(team) == 2
    resp = client.post(f"/teams/{team.id}/leave-rules", data={"person-user": str(nora.id), "person-fte": "0.6",
                                                               "person-service_start": "2015-05-01",
                                                               "person-carry_hours": "7.5"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert settings.person_of(nora).fte_thousandths == 600 and balance.balance(nora, 2025).carried == 450
    resp = client.post(f"/teams/{team.id}/leave-rules", data={"person-user": str(nora.id), "person-fte": "0.6",
                                                               "person-carry_hours": ""})  # back to worked out
    db.session.expire_all()
    assert resp.status_code == 302 and balance.balance(nora, 2025).carry.recorded is None
    resp = client.post(f"/teams/{team.id}/leave-rules", data={"person-user": str(nora.id), "person-fte": "3"})
    assert resp.status_code == 422
    login_nurse = client.post("/auth/logout")
    assert login_nurse.status_code in (200, 302)
    login(client, nora)
    assert client.get(f"/teams/{team.id}/leave-rules").status_code == 403


def test_rota_requests_in_a_window_with_a_limit_and_coordinator_preferences(app, make, client, today):
    team, boss, (nora, *_) = _ward(make)
    late = data.shift_type(team, code="L", name="Late")
    period = RotaPeriod(team_id=team.id, first_day=date(2026, 2, 2), last_day=date(2026, 3, 1),
                        state=PeriodState.draft)
    db.session.add(period)
    db.session.commit()
    login(client, boss)
    resp = client.post(f"/teams/{team.id}/request-windows/new",
                       data={"period": period.id, "opens_on": "2026-01-01", "closes_on": "2026-03-01",
                             "max_per_person": "2"})
    assert resp.status_code == 422 and "Before the period starts" in resp.get_data(as_text=True)
    resp = client.post(f"/teams/{team.id}/request-windows/new",
                       data={"period": period.id, "opens_on": "2026-01-01", "closes_on": "2026-01-20",
                             "max_per_person": "2"})
    assert resp.status_code == 302
    window = db.session.scalar(select(RequestWindow))
    resp = client.post(f"/teams/{team.id}/preferences", data={"user": nora.id, "kind": "prefers_shift",
                                                               "shift_type": late.id, "weekday": 0})
    resp = client.post(f"/teams/{team.id}/preferences", data={"user": nora.id, "kind": "no_nights",
                                                               "shift_type": 0, "weekday": 0, "agreement": "y"})
    assert resp.status_code == 302
    assert [(p.kind.value, p.agreement) for p in db.session.scalars(select(StaffPreference))] == [
        ("prefers_shift", False), ("no_nights", True)]
    client.post("/auth/logout")
    login(client, nora)
    assert f"/rota-requests/windows/{window.id}" in client.get("/rota-requests").get_data(as_text=True)
    url = f"/rota-requests/windows/{window.id}"
    assert client.post(url, data={"day": "2026-02-06", "what": "avoid:0", "priority": 1}).status_code == 302
    assert client.post(url, data={"day": "2026-02-07", "what": f"want:{late.id}", "priority": 2}).status_code == 302
    resp = client.post(url, data={"day": "2026-02-08", "what": f"avoid:{late.id}", "priority": 3})
    assert resp.status_code == 422 and "the most for this period" in resp.get_data(as_text=True)
    resp = client.post(url, data={"day": "2026-05-08", "what": "avoid:0", "priority": 3})
    assert resp.status_code == 422
    rows = db.session.scalars(select(RotaRequest).order_by(RotaRequest.day)).all()
    assert [(r.kind.value, r.shift_type_id, r.priority) for r in rows] == [("avoid", None, 1), ("want", late.id, 2)]
    page = client.get(url).get_data(as_text=True)
    assert "Not the whole day · Fri 06 Feb" in page and "Work Late · Sat 07 Feb" in page
    first_id = rows[0].id
    assert client.post(f"/rota-requests/{first_id}/remove", data={}).status_code == 302
    assert db.session.get(RotaRequest, first_id) is None



def test_an_administrator_changes_the_trust_leave_rules_and_bad_input_keeps_what_was_typed(app, make, client, today):
    from core.audit import AuditEntry
    team, boss, (nora, *_) = _ward(make)
    admin = make.admin()
    login(client, boss)
    assert client.get("/admin/leave-rules").status_code == 403
    page = client.get(f"/teams/{team.id}/leave-rules").get_data(as_text=True)
    assert "/admin/leave-rules" not in page and "the leave year starts 1 April; 27 / 29 / 33 days" in page
    client.post("/auth/logout")
    login(client, admin)
    assert "/admin/leave-rules" in client.get(f"/teams/{team.id}/leave-rules").get_data(as_text=True)
    page = client.get("/admin/leave-rules").get_data(as_text=True)
    assert 'value="27"' in page and 'value="7.50"' in page
    form = {"year_start_day": "29", "year_start_month": "2", "day_hours": "7.5", "days_under_5": "28",
            "days_5_to_10": "29", "days_over_10": "33", "bank_holidays": "8", "carry_hours": "37.5"}
    resp = client.post("/admin/leave-rules", data=form)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "29 February is not in every year" in page and "nhsuk-error-summary" in page
    assert 'value="28"' in page  # what was typed stays
    resp = client.post("/admin/leave-rules", data={**form, "year_start_day": "1", "days_over_10": "lots"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'value="lots"' in page
    for odd in ({"day_hours": "NaN"}, {"carry_hours": "Infinity"}, {"days_under_5": "9" * 40}, {"year_start_day": "31",
                "year_start_month": "4"}, {"year_start_month": "13"}):
        assert client.post("/admin/leave-rules", data={**form, **odd}).status_code == 422, odd
    assert settings.rules().days_under_5 == 27  # nothing saved
    resp = client.post("/admin/leave-rules", data={**form, "year_start_day": "1", "year_start_month": "4",
                                                   "carry_hours": "15"})
    assert resp.status_code == 302
    assert (settings.rules().days_under_5, settings.rules().max_carry_minutes) == (28, 900)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "leave.rules_changed"))
    assert entry.actor_id == admin.id
    assert entry.summary == {"before": {"days_under_5": 27, "max_carry_minutes": 2250},
                             "after": {"days_under_5": 28, "max_carry_minutes": 900}}
    client.post("/auth/logout")
    login(client, nora)
    assert "270 h" in client.get("/leave").get_data(as_text=True)  # (28 + 8) x 7 h 30
