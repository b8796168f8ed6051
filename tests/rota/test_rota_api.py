"""The rota API as a client sees it: problem+json errors, local and UTC times, all-or-nothing imports, races."""

import threading
from datetime import date, timedelta

import requests
from sqlalchemy import func, select

from core.db import db
from rota import services
from rota.models import Shift, ShiftState
from tests.factories import ward

MON = date(2026, 3, 23)  # the week the clocks go forward (Sunday 29 March)


def _count():
    return db.session.scalar(select(func.count()).select_from(Shift))


def test_team_setup_through_the_api(client, make, bearer):
    admin = make.admin()
    nurse = make.user()
    h = bearer(make.token(admin))
    team = client.post("/api/v1/teams", json={"name": "Ward 9", "timezone": "Europe/London"}, headers=h).get_json()
    r = client.post(f"/api/v1/teams/{team['id']}/members", json={"user_id": nurse.id}, headers=h)
    assert r.status_code == 201 and [m["user_id"] for m in r.get_json()["members"]] == [nurse.id]
    r = client.post(f"/api/v1/teams/{team['id']}/shift-types",
                    json={"code": "n", "name": "Night", "start_local": "19:30", "duration_minutes": 750,
                          "kind": "night"}, headers=h)
    assert r.status_code == 201 and r.get_json()["code"] == "N"
    dup = client.post(f"/api/v1/teams/{team['id']}/shift-types",
                      json={"code": "N", "name": "Night", "start_local": "20:00", "duration_minutes": 600}, headers=h)
    assert dup.status_code == 409 and dup.content_type == "application/problem+json"
    r = client.post(f"/api/v1/teams/{team['id']}/requirements",
                    json={"shift_type_id": r.get_json()["id"], "min_count": 2, "staff_group": "nursing"}, headers=h)
    assert r.status_code == 201
    first, second = (date.today() + timedelta(days=n) for n in (7, 8))  # gaps open only for shifts to come
    gaps = client.get(f"/api/v1/teams/{team['id']}/gaps?from={first}&to={second}", headers=h).get_json()
    assert [(g["date"], g["missing"], g["label"]) for g in gaps] == [(first.isoformat(), 2, "2 RN"),
                                                                      (second.isoformat(), 2, "2 RN")]
    opened = client.post(f"/api/v1/teams/{team['id']}/gaps/open",
                         json={"requirement_id": gaps[0]["requirement_id"], "date": first.isoformat()}, headers=h)
    assert opened.status_code == 201 and opened.get_json()["state"] == "open"
    gaps = client.get(f"/api/v1/teams/{team['id']}/gaps?from={first}&to={first}", headers=h).get_json()
    assert gaps[0]["missing"] == 1 and gaps[0]["open"] == 1


def test_shift_times_local_and_utc_and_clock_change_refusals(client, make, bearer):
    team, coord, staff, types = ward(make)
    h = bearer(make.token(coord))
    r = client.post("/api/v1/shifts", json={"team_id": team.id, "shift_type_id": types["N"].id, "date": "2026-03-28",
                                            "assignee_id": staff[0].id}, headers=h)
    body = r.get_json()
    assert r.status_code == 201
    assert body["starts_at"].startswith("2026-03-28T19:30:00") and body["starts_local"] == "2026-03-28T19:30:00+00:00"
    assert body["ends_local"] == "2026-03-29T08:00:00+01:00" and body["duration_minutes"] == 690
    before = _count()
    gap = client.post("/api/v1/shifts", json={"team_id": team.id, "starts_at": "2026-03-29T01:30",
                                              "ends_at": "2026-03-29T09:00"}, headers=h)
    assert gap.status_code == 422 and "does not exist" in gap.get_json()["errors"]["starts_at"][0]
    fold = client.post("/api/v1/shifts", json={"team_id": team.id, "starts_at": "2026-10-25T01:30",
                                               "ends_at": "2026-10-25T09:00"}, headers=h)
    assert fold.status_code == 422 and "happens twice" in fold.get_json()["detail"]
    ok = client.post("/api/v1/shifts", json={"team_id": team.id, "starts_at": "2026-10-25T01:30+00:00",
                                             "ends_at": "2026-10-25T09:00"}, headers=h)
    assert ok.status_code == 201 and ok.get_json()["starts_at"].startswith("2026-10-25T01:30")
    assert _count() == before + 1
    long = client.post("/api/v1/shifts", json={"team_id": team.id, "starts_at": "2026-03-02T07:00",
                                               "ends_at": "2026-03-03T07:01"}, headers=h)
    assert long.status_code == 422 and "24 hours" in long.get_json()["detail"]


def test_overlap_and_leave_are_409_with_clear_messages_and_change_nothing(client, make, bearer):
    team, coord, staff, types = ward(make)
    h = bearer(make.token(coord))
    nurse = staff[0]
    client.post("/api/v1/shifts", json={"team_id": team.id, "shift_type_id": types["E"].id, "date": "2026-03-02",
                                        "assignee_id": nurse.id}, headers=h)
    late = client.post("/api/v1/shifts", json={"team_id": team.id, "shift_type_id": types["L"].id,
                                               "date": "2026-03-02"}, headers=h).get_json()
    before = _count()
    r = client.patch(f"/api/v1/shifts/{late['id']}", json={"version": late["version"], "assignee_id": nurse.id},
                     headers=h)
    assert r.status_code == 409 and "overlaps this shift" in r.get_json()["detail"]
    assert r.get_json()["code"] == "overlap"
    leave = client.post("/api/v1/leave", json={"user_id": nurse.id, "team_id": team.id, "kind": "annual",
                                               "first_day": "2026-03-04", "last_day": "2026-03-05"}, headers=h)
    assert leave.status_code == 201 and leave.get_json()["opened_shift_ids"] == []
    r = client.post("/api/v1/shifts", json={"team_id": team.id, "shift_type_id": types["E"].id, "date": "2026-03-05",
                                            "assignee_id": nurse.id}, headers=h)
    assert r.status_code == 409 and "annual leave" in r.get_json()["detail"]
    assert _count() == before
    stale = client.patch(f"/api/v1/shifts/{late['id']}", json={"version": late["version"] + 5, "note": "x"},
                         headers=h)
    assert stale.status_code == 409
    cancel = client.post(f"/api/v1/shifts/{late['id']}/cancel", json={}, headers=h)
    assert cancel.status_code == 422 and "reason" in cancel.get_json()["errors"]


def test_staff_cannot_change_the_rota_or_see_drafts(client, make, bearer):
    team, coord, staff, types = ward(make)
    services.create_period(team, first_day=date(2026, 3, 2), last_day=date(2026, 3, 8), actor=coord)
    shift = services.add_shift(team, actor=coord, shift_type=types["E"], day=date(2026, 3, 2), assignee=staff[0])
    db.session.commit()
    h = bearer(make.token(staff[0]))
    assert client.get(f"/api/v1/shifts/{shift.id}", headers=h).status_code == 404
    assert client.get(f"/api/v1/shifts?team_id={team.id}", headers=h).get_json()["total"] == 0
    r = client.post("/api/v1/shifts", json={"team_id": team.id, "shift_type_id": types["E"].id,
                                            "date": "2026-03-03"}, headers=h)
    assert r.status_code == 403
    ch = bearer(make.token(coord))
    period_id = shift.rota_period_id
    assert client.post(f"/api/v1/rota-periods/{period_id}/publish", headers=h).status_code == 403
    pub = client.post(f"/api/v1/rota-periods/{period_id}/publish", headers=ch)
    assert pub.status_code == 200 and pub.get_json()["period"]["state"] == "published"
    listed = client.get(f"/api/v1/shifts?team_id={team.id}&from=2026-03-02&to=2026-03-08", headers=h).get_json()
    assert [s["id"] for s in listed["items"]] == [shift.id]


def test_csv_import_is_all_or_nothing_with_a_row_by_row_report(client, make, bearer):
    team, coord, staff, types = ward(make)
    h = bearer(make.token(coord))
    services.record_leave(staff[1], kind="study", first_day=date(2026, 3, 4), last_day=date(2026, 3, 4), team=team,
                          actor=coord)
    db.session.commit()
    a, b = staff[0], staff[1]
    bad = ("staff,date,shift_code\n"
           f"{a.email},2026-03-02,E\n"
           f"{a.email},2026-03-02,L\n"  # overlaps the row above
           "nobody@example.test,2026-03-02,E\n"
           f"{b.staff_number},04/03/2026,E\n"  # study leave
           f"{b.email},2026-03-05,ZZ\n"
           f"{b.email},31/02/2026,E\n"
           f"{b.email},2026-03-06\n"
           f"{b.email},31/12/9999,N\n")
    before = _count()
    r = client.post(f"/api/v1/teams/{team.id}/imports", json={"csv": bad}, headers=h)
    body = r.get_json()
    assert r.status_code == 422 and _count() == before
    by_row = {row["row"]: " ".join(row["errors"]) for row in body["rows"]}
    assert 2 not in by_row
    assert "Overlaps row 2" in by_row[3]
    assert "Unknown person" in by_row[4]
    assert "study leave" in by_row[5]
    assert "Unknown shift code 'ZZ'" in by_row[6]
    assert "not a date" in by_row[7]
    assert "No shift code" in by_row[8]
    assert "not a plausible rota date" in by_row[9]
    assert "row 3" in body["errors"]
    open_e = services.add_shift(team, actor=coord, shift_type=types["E"], day=date(2026, 3, 2))
    db.session.commit()
    good = f"email,date,code\n{a.email},2026-03-02,E\n{b.staff_number},2026-03-02,N\n"
    r = client.post(f"/api/v1/teams/{team.id}/imports", json={"csv": good}, headers=h)
    assert r.status_code == 201 and (r.get_json()["filled"], r.get_json()["created"]) == (1, 1)
    db.session.refresh(open_e)
    assert open_e.assignee_id == a.id and open_e.state == ShiftState.scheduled
    r = client.post(f"/api/v1/teams/{team.id}/imports", json={"csv": "who,when\nx,y\n"}, headers=h)
    assert r.status_code == 422 and "must name the columns" in r.get_json()["detail"]


def test_pattern_run_and_copy_week_through_the_api(client, make, bearer):
    team, coord, staff, types = ward(make)
    h = bearer(make.token(coord))
    r = client.post(f"/api/v1/teams/{team.id}/pattern-runs",
                    json={"first_day": "2026-03-02", "last_day": "2026-03-08", "cycle": "E E L L - - -",
                          "person_ids": [staff[0].id],
                          "rules": [{"code": "N", "weekdays": ["MO", "TU", "WE"]}]}, headers=h)
    assert r.status_code == 201 and r.get_json()["created"] == 7 and r.get_json()["left_open"] == 3
    r = client.post(f"/api/v1/teams/{team.id}/copy-week", json={"source_week": "2026-03-02",
                                                                "target_week": "2026-03-09"}, headers=h)
    assert r.status_code == 201 and r.get_json()["created"] == 7
    r = client.post(f"/api/v1/teams/{team.id}/pattern-runs",
                    json={"first_day": "2026-03-02", "last_day": "2026-03-08", "cycle": "E E L"}, headers=h)
    assert r.status_code == 422 and "whole weeks" in r.get_json()["detail"]


def _race(live_server, tokens, requests_):
    """Fire one request per thread at the same moment; return the status codes."""
    barrier = threading.Barrier(len(requests_))
    codes = []
    db.session.commit()  # end the test's own transaction: on SQLite it would hold the write lock

    def go(token, method, path, body):
        barrier.wait()
        r = requests.request(method, live_server.url + path, json=body, timeout=60,
                             headers={"Authorization": f"Bearer {token}"})
        codes.append((r.status_code, r.text[:300]))

    threads = [threading.Thread(target=go, args=(tokens[i % len(tokens)], *req)) for i, req in enumerate(requests_)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def test_concurrent_double_assignment_of_one_person_one_wins(make, live_server):
    team, coord, staff, types = ward(make)
    second = make.user(grade="Band 6")
    from core import accounts

    accounts.add_member(team, second, "coordinator")
    db.session.commit()
    nurse = staff[0]
    # Six open shifts that all overlap one another (same day, early/late/long variants).
    shifts = [services.add_shift(team, actor=coord, shift_type=types["E" if i % 2 else "L"], day=date(2026, 3, 2))
              for i in range(6)]
    db.session.commit()
    tokens = [make.token(coord), make.token(second), make.token(coord)]
    reqs = [("PATCH", f"/api/v1/shifts/{s.id}", {"version": s.version, "assignee_id": nurse.id}) for s in shifts]
    codes = _race(live_server, tokens, reqs)
    statuses = sorted(c for c, _ in codes)
    assert statuses.count(200) == 1, codes
    assert all(c == 409 for c in statuses if c != 200), codes
    assert not any("locked" in text for _, text in codes)
    db.session.expire_all()
    held = db.session.scalar(select(func.count()).select_from(Shift).where(Shift.assignee_id == nurse.id))
    assert held == 1


def test_concurrent_claims_of_one_open_shift_one_wins(make, live_server):
    team, coord, staff, types = ward(make, nurses=6)
    shift = services.add_shift(team, actor=coord, shift_type=types["N"], day=date(2026, 3, 2))
    db.session.commit()
    tokens = [make.token(coord)]
    reqs = [("PATCH", f"/api/v1/shifts/{shift.id}", {"version": shift.version, "assignee_id": u.id}) for u in staff]
    codes = _race(live_server, tokens, reqs)
    assert sorted(c for c, _ in codes) == [200] + [409] * (len(staff) - 1), codes
