"""The JSON API for short notice (issue #15): "I can't make this shift", one-tap "ask for cover", and publishing an
empty period only when confirmed. Same services and checks as the pages; problem+json on every refusal."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import requests
from sqlalchemy import func, select

from core import accounts
from core.accounts import TeamRole
from core.audit import AuditEntry
from core.db import db
from notifications.models import Broadcast, Notification
from rota import services
from rota.models import Leave, RotaPeriod, Shift, ShiftState
from rota.swaps import absence
from rota.swaps.absence_models import ShiftAbsence
from tests.factories import ward as rota_ward
from tests.rota.swaps import factories as data


def _night(make, *, hours_ahead: float = 6):
    w = data.ward(make, 3)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours_ahead)
    return w, data.shift(w.team, starts_at=start, hours=12, assignee=w.staff[0], stype=data.night(w.team))


def _shift(shift_id) -> Shift:
    db.session.expire_all()
    return db.session.get(Shift, shift_id)


def _absences() -> int:
    return db.session.scalar(select(func.count()).select_from(ShiftAbsence))


def test_a_nurse_reports_sick_through_the_api_and_the_shift_becomes_an_open_shift(client, make, bearer):
    w, s = _night(make)
    r = client.post(f"/api/v1/shifts/{s.id}/absence", json={"reason": "sick"}, headers=bearer(make.token(w.staff[0])))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["shift_id"], body["user_id"], body["reason"], body["handling"]) == \
        (s.id, w.staff[0].id, "sick", "open_shift")
    assert body["shift"]["state"] == "open" and body["shift"]["assignee_id"] is None
    assert "open shift" in body["handling_text"]
    assert db.session.get(Leave, body["leave_id"]).kind.value == "sickness"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "absence.reported"))
    assert entry.actor_id == w.staff[0].id
    assert [n.user_id for n in db.session.scalars(select(Notification).where(Notification.kind == "rota.absence"))] \
        == [w.coordinator.id]
    # A double tap: 409 with the code, nothing changed.
    again = client.post(f"/api/v1/shifts/{s.id}/absence", json={"reason": "sick"},
                        headers=bearer(make.token(w.staff[0])))
    assert again.status_code == 409 and again.get_json()["code"] == "already_reported"
    assert again.content_type == "application/problem+json" and _absences() == 1


def test_left_with_the_coordinator_then_one_tap_cover_through_the_api(client, make, bearer):
    w, s = _night(make)
    absence.set_handling(w.team, "coordinator", actor=w.coordinator)
    db.session.commit()
    ch = bearer(make.token(w.coordinator))
    r = client.post(f"/api/v1/shifts/{s.id}/absence", json={"reason": "family"}, headers=ch)  # a phone call
    assert r.status_code == 201 and r.get_json()["handling"] == "coordinator"
    assert r.get_json()["user_id"] == w.staff[0].id
    nurse_h = bearer(make.token(w.staff[1]))
    assert client.post(f"/api/v1/shifts/{s.id}/claim", headers=nurse_h).status_code == 422  # held
    # Staff cannot ask for cover: 403, no broadcast.
    assert client.post(f"/api/v1/shifts/{s.id}/cover-request", headers=nurse_h).status_code == 403
    cover = client.post(f"/api/v1/shifts/{s.id}/cover-request", headers=ch)
    assert cover.status_code == 201, cover.get_json()
    body = cover.get_json()
    b = db.session.get(Broadcast, body["broadcast_id"])
    assert b.reference == f"shift:{s.id}" and body["shift_id"] == s.id and body["urgent"] is True
    assert body["recipient_count"] == 2  # the other two nurses: not the absent one, not the coordinator
    twice = client.post(f"/api/v1/shifts/{s.id}/cover-request", headers=ch)
    assert twice.status_code == 409 and twice.get_json()["code"] == "already_asked"
    assert db.session.scalar(select(func.count()).select_from(Broadcast)) == 1
    # Released for cover: a colleague can take it now.
    assert client.post(f"/api/v1/shifts/{s.id}/claim", headers=nurse_h).status_code == 200


def test_refusals_are_problem_json_naming_the_field_and_change_nothing(client, make, bearer):
    w, s = _night(make)
    other_ward, other = _night(make)
    h = bearer(make.token(w.staff[0]))
    for body in ({"reason": "flu"}, {}, {"reason": None}, {"reason": 3}):
        r = client.post(f"/api/v1/shifts/{s.id}/absence", json=body, headers=h)
        assert r.status_code == 422 and "reason" in r.get_json()["errors"], r.get_json()
        assert r.content_type == "application/problem+json"
    colleague = client.post(f"/api/v1/shifts/{s.id}/absence", json={"reason": "sick"},
                            headers=bearer(make.token(w.staff[1])))
    assert colleague.status_code == 403
    assert client.post(f"/api/v1/shifts/{other.id}/absence", json={"reason": "sick"}, headers=h).status_code == 404
    assert client.post("/api/v1/shifts/999999/absence", json={"reason": "sick"}, headers=h).status_code == 404
    assert client.post(f"/api/v1/shifts/{other.id}/cover-request",
                       headers=bearer(make.token(w.coordinator))).status_code == 404
    # Someone is working it: no cover to ask for.
    busy = client.post(f"/api/v1/shifts/{s.id}/cover-request", headers=bearer(make.token(w.coordinator)))
    assert busy.status_code == 409 and busy.get_json()["code"] == "not_open"
    assert _shift(s.id).assignee_id == w.staff[0].id and _absences() == 0
    assert client.post(f"/api/v1/shifts/{s.id}/absence", json={"reason": "sick"}).status_code == 401


def test_ended_shift_cannot_be_reported(client, make, bearer):
    w, s = _night(make, hours_ahead=-13)
    r = client.post(f"/api/v1/shifts/{s.id}/absence", json={"reason": "other"}, headers=bearer(make.token(w.staff[0])))
    assert r.status_code == 422 and r.get_json()["code"] == "ended" and _absences() == 0


def test_cover_for_a_gap_not_yet_an_open_shift(client, make, bearer):
    team, coord, staff, types = rota_ward(make)
    tomorrow = date.today() + timedelta(days=2)
    req = services.create_requirement(team, shift_type=types["N"], min_count=1, actor=coord)
    db.session.commit()
    r = client.post(f"/api/v1/teams/{team.id}/gaps/cover-request",
                    json={"requirement_id": req.id, "date": tomorrow.isoformat()}, headers=bearer(make.token(coord)))
    assert r.status_code == 201, r.get_json()
    b = db.session.get(Broadcast, r.get_json()["broadcast_id"])
    assert _shift(r.get_json()["shift_id"]).state == ShiftState.open and b.team_id == team.id
    assert r.get_json()["recipient_count"] == len(staff)
    wrong = client.post(f"/api/v1/teams/{team.id}/gaps/cover-request", json={"requirement_id": req.id,
                                                                             "date": "tomorrow"},
                        headers=bearer(make.token(coord)))
    assert wrong.status_code == 422 and "date" in wrong.get_json()["errors"]
    staff_h = bearer(make.token(staff[0]))
    refused = client.post(f"/api/v1/teams/{team.id}/gaps/cover-request",
                          json={"requirement_id": req.id, "date": (tomorrow + timedelta(days=1)).isoformat()},
                          headers=staff_h)
    assert refused.status_code == 403


def test_publishing_an_empty_period_needs_confirm_empty(client, make, bearer):
    team, coord, staff, types = rota_ward(make)
    period = services.create_period(team, first_day=date(2026, 3, 2), last_day=date(2026, 3, 8), actor=coord)
    db.session.commit()
    h = bearer(make.token(coord))
    for body in (None, {}, {"confirm_empty": False}):
        r = client.post(f"/api/v1/rota-periods/{period.id}/publish", json=body, headers=h)
        assert r.status_code == 422 and r.get_json()["code"] == "empty_period"
        assert "confirm_empty" in r.get_json()["errors"]
    assert client.post(f"/api/v1/rota-periods/{period.id}/publish", json={"confirm_empty": "maybe"},
                       headers=h).status_code == 422
    db.session.expire_all()
    assert db.session.get(RotaPeriod, period.id).state.value == "draft"
    r = client.post(f"/api/v1/rota-periods/{period.id}/publish", json={"confirm_empty": True}, headers=h)
    assert r.status_code == 200 and r.get_json()["period"]["state"] == "published"


def _at_once(base_url: str, path: str, tokens: list[str], body: dict | None) -> list[int]:
    db.session.commit()  # end the test's own transaction (SQLite: it would hold the write lock)
    barrier = threading.Barrier(len(tokens))

    def one(token):
        barrier.wait()
        return requests.post(base_url + path, json=body, headers={"Authorization": f"Bearer {token}"},
                             timeout=120).status_code

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        return sorted(pool.map(one, tokens))


def test_simultaneous_api_reports_and_cover_requests_each_happen_once(live_server, make):
    """Real concurrent requests (PostgreSQL with TEST_DATABASE_URL): a phone retrying "sick" four times records one
    absence; two coordinators' apps asking for cover at once send one broadcast."""
    w, s = _night(make)
    second = make.user(grade="Band 7")
    accounts.add_member(w.team, second, TeamRole.coordinator)
    shift_id, nurse_token = s.id, make.token(w.staff[0])
    tokens = [make.token(w.coordinator), make.token(second)]
    codes = _at_once(live_server.url, f"/api/v1/shifts/{shift_id}/absence", [nurse_token] * 4, {"reason": "sick"})
    assert codes == [201, 409, 409, 409], codes
    assert _absences() == 1 and db.session.scalar(select(func.count()).select_from(Leave)) == 1
    codes = _at_once(live_server.url, f"/api/v1/shifts/{shift_id}/cover-request", tokens, None)
    assert codes == [201, 409], codes
    assert db.session.scalar(select(func.count()).select_from(Broadcast)) == 1
