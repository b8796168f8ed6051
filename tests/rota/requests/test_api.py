"""The staff requests API (issue #18): /api/v1/leave-requests, /api/v1/me/leave-balance, /api/v1/rota-requests —
problem+json on bad input, never a 500, and two approvals at once: one wins."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import requests
from sqlalchemy import func, select

from core import accounts
from core.accounts import TeamRole
from core.db import db
from rota.models import Leave, PeriodState, RotaPeriod
from rota.requests import rota_requests, service, settings
from rota.requests.models import LeaveRequest, RequestState
from tests import factories, fuzzing
from tests.rota.swaps import factories as data

PROBLEM = "application/problem+json"


def _ward(make):
    w = factories.ward(make, 3)
    return w, w.team, w.coordinator, w.staff


def test_ask_see_balance_and_approve_through_the_api(app, make, client, bearer, today):
    w, team, boss, (nora, *_) = _ward(make)
    mine, coord = bearer(make.token(nora)), bearer(make.token(boss))
    r = client.get("/api/v1/me/leave-balance", headers=mine)
    assert r.status_code == 200 and r.json["year"] == 2025 and r.json["available_minutes"] == 15750
    r = client.post("/api/v1/leave-requests", headers=mine,
                    json={"first_day": "2026-01-19", "last_day": "2026-01-23", "note": "Half term"})
    assert r.status_code == 201, r.json
    rid = r.json["id"]
    assert (r.json["state"], r.json["minutes"]) == ("pending", 2250)
    assert client.get("/api/v1/me/leave-balance?year=2025", headers=mine).json["pending_minutes"] == 2250
    assert client.get(f"/api/v1/leave-requests/{rid}/cover", headers=mine).status_code == 404
    cover = client.get(f"/api/v1/leave-requests/{rid}/cover", headers=coord).json["days"]
    assert [d["day"] for d in cover][:2] == ["2026-01-19", "2026-01-20"]
    assert client.get(f"/api/v1/leave-requests?team_id={team.id}&state=pending", headers=coord).json["total"] == 1
    r = client.post(f"/api/v1/leave-requests/{rid}/approve", headers=coord, json={"reason": "OK"})
    assert r.status_code == 200 and r.json["state"] == "approved" and r.json["leave_id"]
    r = client.post(f"/api/v1/leave-requests/{rid}/refuse", headers=coord, json={"reason": "Too late"})
    assert r.status_code == 409 and r.content_type == PROBLEM and r.json["code"] == "already_decided"
    assert client.get("/api/v1/me/leave-balance", headers=mine).json["approved_minutes"] == 2250


def test_bad_input_is_problem_json_and_changes_nothing(app, make, client, bearer, today):
    w, team, boss, (nora, *_) = _ward(make)
    mine = bearer(make.token(nora))
    for body in ({"first_day": "2026-01-20", "last_day": "2026-01-19"}, {"first_day": "2026-01-20"},
                 {"first_day": "2026-01-20", "last_day": "2026-01-20", "kind": "sickness"},
                 {"first_day": "2026-01-20", "last_day": "2026-01-20", "hours": -3},
                 {"first_day": "2025-12-01", "last_day": "2025-12-02"},
                 {"first_day": "2026-03-30", "last_day": "2026-04-02"}, [], "x"):
        r = client.post("/api/v1/leave-requests", headers=mine, json=body)
        assert r.status_code in (400, 422) and r.content_type == PROBLEM, body
    assert client.get("/api/v1/me/leave-balance?year=3000", headers=mine).status_code == 422
    assert client.get("/api/v1/leave-requests/99999999999", headers=mine).status_code == 404
    assert client.post("/api/v1/leave-requests/1/approve", headers=mine).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(LeaveRequest)) == 0


def test_rota_requests_and_preferences_through_the_api(app, make, client, bearer, today):
    w, team, boss, (nora, *_) = _ward(make)
    late = data.shift_type(team, code="L", name="Late")
    period = RotaPeriod(team_id=team.id, first_day=date(2026, 2, 2), last_day=date(2026, 3, 1),
                        state=PeriodState.draft)
    db.session.add(period)
    db.session.commit()
    mine, coord = bearer(make.token(nora)), bearer(make.token(boss))
    assert client.post(f"/api/v1/rota-periods/{period.id}/request-window", headers=mine,
                       json={"opens_on": "2026-01-01", "closes_on": "2026-01-20"}).status_code == 403
    r = client.post(f"/api/v1/rota-periods/{period.id}/request-window", headers=coord,
                    json={"opens_on": "2026-01-01", "closes_on": "2026-01-20", "max_per_person": 1})
    assert r.status_code == 201
    wid = r.json["id"]
    r = client.post("/api/v1/rota-requests", headers=mine, json={"window_id": wid, "day": "2026-02-03",
                                                                 "kind": "want", "shift_type_id": late.id})
    assert r.status_code == 201 and r.json["priority"] == 2
    r2 = client.post("/api/v1/rota-requests", headers=mine, json={"window_id": wid, "day": "2026-02-04",
                                                                  "kind": "avoid"})
    assert r2.status_code == 409 and r2.json["code"] == "request_limit"
    assert client.get(f"/api/v1/rota-requests?window_id={wid}", headers=coord).json["total"] == 1
    r3 = client.post(f"/api/v1/teams/{team.id}/preferences", headers=coord,
                     json={"user_id": nora.id, "kind": "fixed_day_off", "weekday": 4, "agreement": True})
    assert r3.status_code == 201 and r3.json["agreement"] is True
    builder = rota_requests.requests_for_period(db.session.get(RotaPeriod, period.id))
    assert builder == {"requests": [{"user_id": nora.id, "day": date(2026, 2, 3), "shift_type_id": late.id,
                                     "kind": "want", "priority": 2}],
                       "preferences": [{"user_id": nora.id, "kind": "fixed_day_off", "shift_type_id": None,
                                        "weekday": 4, "hard": True}]}
    assert client.delete(f"/api/v1/rota-requests/{r.json['id']}", headers=mine).status_code == 204


def _together(calls):
    db.session.commit()
    barrier = threading.Barrier(len(calls))

    def one(call):
        url, headers = call
        barrier.wait()
        return requests.post(url, headers=headers, json={}, timeout=120).status_code

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return sorted(pool.map(one, calls))


def test_two_coordinators_approving_at_once_record_the_leave_once(live_server, make):
    w, team, boss, (nora, *_) = _ward(make)
    second = make.user(display_name="Second Coordinator", grade="Band 7")
    accounts.add_member(team, second, TeamRole.coordinator)
    first = date.today() + timedelta(days=30)
    req = service.request_leave(nora, actor=nora, first_day=first, last_day=first)
    db.session.commit()
    tokens = [make.token(boss), make.token(second), make.token(boss), make.token(second)]
    url = f"{live_server.url}/api/v1/leave-requests/{req.id}/approve"
    codes = _together([(url, {"Authorization": f"Bearer {t}"}) for t in tokens])
    assert codes == [200, 409, 409, 409], codes
    db.session.expire_all()
    assert db.session.get(LeaveRequest, req.id).state == RequestState.approved
    assert db.session.scalar(select(func.count()).select_from(Leave)) == 1


MINE = ("/leave-requests", "/me/leave-balance", "/rota-requests", "/request-windows", "/rota-periods/{period_id}/req",
        "/teams/{team_id}/preferences")


def test_request_endpoints_survive_fuzzing(app, make, today, request):
    w, team, boss, (nora, *_) = _ward(make)
    req = service.request_leave(nora, actor=nora, first_day=date(2026, 1, 20), last_day=date(2026, 1, 20))
    db.session.add(RotaPeriod(team_id=team.id, first_day=date(2026, 2, 2), last_day=date(2026, 3, 1),
                              state=PeriodState.draft))
    db.session.commit()
    assert req.id
    headers = {"Authorization": f"Bearer {make.token(boss)}"}
    operations = fuzzing.operations(app, lambda path: path.removeprefix("/api/v1").startswith(MINE))
    assert len(operations) >= 12
    fuzzing.fuzz(request, operations, headers=headers, examples=10)
    trust = fuzzing.operations(app, lambda path: path == "/api/v1/trust/leave-rules")
    assert len(trust) == 2
    fuzzing.fuzz(request, trust, headers={"Authorization": f"Bearer {make.token(make.admin())}"}, examples=25)


def test_unused_hours_of_last_leave_year_are_carried_over_for_the_nurse_and_her_coordinator(app, make, client,
                                                                                             bearer, today):
    from datetime import UTC, datetime

    from tests.conftest import login
    w, team, boss, (nora, *_) = _ward(make)
    nora.created_at = datetime(2024, 6, 1, tzinfo=UTC)  # her leave is recorded here from leave year 2024/25
    settings.set_profile(nora, actor=boss, service_start=None, fte=0.6)  # 9450 a year; cap 2250 x 0.6 = 1350
    db.session.commit()
    mine = bearer(make.token(nora))
    # 2024/25: nothing taken -> 9450 unused, the cap bites: 22 h 30 carried into 2025/26
    b25 = client.get("/api/v1/me/leave-balance?year=2025", headers=mine).json
    assert (b25["carried_minutes"], b25["carry_over"]["cap_minutes"], b25["available_minutes"]) == (1350, 1350, 10800)
    # 2025/26: 35 weekdays (12 Jan - 27 Feb) x 4 h 30 = 9450 approved, 2 - 4 Mar (810) waiting
    service.approve(service.request_leave(nora, actor=nora, first_day=date(2026, 1, 12), last_day=date(2026, 2, 27)),
                    actor=boss)
    march = service.request_leave(nora, actor=nora, first_day=date(2026, 3, 2), last_day=date(2026, 3, 4))
    db.session.commit()
    login(client, boss)
    page = client.get(f"/leave/requests/{march.id}").get_data(as_text=True)
    assert "carried over from 2024/25: 22 h 30 min (cap 22 h 30 min)" in page
    service.approve(march, actor=boss)
    db.session.commit()
    # 9450 + 1350 - 9450 - 810 = 540 left: 9 h carried into 2026/27, under the cap
    b26 = client.get("/api/v1/me/leave-balance?year=2026", headers=mine).json
    assert (b26["carried_minutes"], b26["carry_over"]["from_year"], b26["remaining_minutes"]) == (540, 2025, 9990)
    client.post("/auth/logout")
    login(client, nora)
    assert "carried over from 2025/26: 9 h (cap 22 h 30 min)" in client.get("/leave").get_data(as_text=True)
    # A coordinator's own figure wins, and the page says so
    settings.set_carry_over(nora, year=2026, minutes=300, actor=boss)
    db.session.commit()
    assert client.get("/api/v1/me/leave-balance?year=2026", headers=mine).json["carried_minutes"] == 300
    assert "5 h (recorded by a coordinator, which wins; worked out: 9 h" in client.get("/leave").get_data(as_text=True)


def test_an_administrator_changes_the_trust_leave_rules_and_a_nurses_balance_follows(app, make, client, bearer,
                                                                                       today):
    w, team, boss, (nora, *_) = _ward(make)
    admin, mine, coord = bearer(make.token(make.admin())), bearer(make.token(nora)), bearer(make.token(boss))
    assert client.get("/api/v1/me/leave-balance", headers=mine).json["entitlement_minutes"] == 15750
    r = client.get("/api/v1/trust/leave-rules", headers=admin)
    assert r.status_code == 200 and (r.json["days_under_5"], r.json["max_carry_minutes"]) == (27, 2250)
    for method in (client.get, client.put):
        r = method("/api/v1/trust/leave-rules", headers=coord, json={"days_under_5": 40})
        assert r.status_code == 403 and r.content_type == PROBLEM
    r = client.put("/api/v1/trust/leave-rules", headers=admin, json={"year_start_month": 2, "year_start_day": 29,
                                                                      "days_over_10": -1})
    assert r.status_code == 422 and r.content_type == PROBLEM and "days_over_10" in r.json["errors"]
    r = client.put("/api/v1/trust/leave-rules", headers=admin, json={"year_start_month": 2, "year_start_day": 29})
    assert r.status_code == 422 and r.content_type == PROBLEM
    assert "29 February" in r.json["errors"]["year_start_day"][0]
    assert client.get("/api/v1/trust/leave-rules", headers=admin).json["year_start_month"] == 4  # unchanged
    r = client.put("/api/v1/trust/leave-rules", headers=admin, json={"days_under_5": 30, "bank_holidays": 0})
    assert r.status_code == 200 and (r.json["days_under_5"], r.json["days_5_to_10"]) == (30, 29)
    assert client.get("/api/v1/me/leave-balance", headers=mine).json["entitlement_minutes"] == 30 * 450
