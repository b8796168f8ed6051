"""The hash-chained audit trail: tamper detection, CLI, browsing, CSV, permissions."""

import csv
import io

from sqlalchemy import text

from core import audit
from core.db import db
from tests.conftest import login


def _some_history(make):
    admin = make.admin()
    coord = make.user()
    team = make.team("Ward 7B", coordinators=[coord])
    make.user()
    return admin, coord, team


def test_verify_passes_then_names_the_altered_row(runner, make):
    _some_history(make)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "chain intact" in result.output
    count = int(result.output.split("chain intact, ")[1].split()[0])
    assert count >= 5
    db.session.execute(text("UPDATE audit_entries SET action = 'user.nothing_to_see' WHERE id = 3"))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "entry 3" in result.output and "altered" in result.output


def test_verify_names_a_deleted_row(runner, make):
    _some_history(make)
    db.session.execute(text("DELETE FROM audit_entries WHERE id = 2"))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "entry 3" in result.output and "missing" in result.output


def test_verify_catches_reordering(runner, make):
    _some_history(make)
    # Swap the contents of rows 2 and 3 (as someone re-sequencing the trail would).
    rows = db.session.execute(text("SELECT id, action, hash, prev_hash FROM audit_entries WHERE id IN (2, 3) "
                                   "ORDER BY id")).all()
    db.session.execute(text("UPDATE audit_entries SET action = :a WHERE id = 2"), {"a": rows[1].action})
    db.session.execute(text("UPDATE audit_entries SET action = :a WHERE id = 3"), {"a": rows[0].action})
    db.session.commit()
    if rows[0].action != rows[1].action:
        result = runner.invoke(args=["audit", "verify"])
        assert result.exit_code == 1 and "entry 2" in result.output


def test_anchor_catches_a_truncated_tail(runner, make):
    _some_history(make)
    head = runner.invoke(args=["audit", "head"]).output.split()
    last_id, anchor = int(head[0]), head[1]
    assert runner.invoke(args=["audit", "verify", "--anchor", anchor]).exit_code == 0
    db.session.execute(text("DELETE FROM audit_entries WHERE id = :id"), {"id": last_id})
    db.session.commit()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0, "without an anchor a cut tail is undetectable"
    result = runner.invoke(args=["audit", "verify", "--anchor", anchor])
    assert result.exit_code == 1 and "anchor" in result.output


def test_entry_records_who_what_when_and_request(client, make):
    admin = make.admin()
    login(client, admin)
    resp = client.post(f"/admin/users/{make.user().id}/deactivate", headers={"X-Request-ID": "req-abc-12345"})
    assert resp.status_code == 302
    entry = audit.head()
    assert (entry.action, entry.actor_id, entry.request_id, entry.outcome) == (
        "user.deactivated", admin.id, "req-abc-12345", "success")
    assert entry.at.tzinfo is not None


def test_summary_refuses_identifier_like_text(app):
    import pytest

    with pytest.raises(ValueError):
        audit.record("patient.viewed", summary={"note": "NHS 943 476 5919"})


def test_coordinator_sees_only_own_team_entries(client, make):
    coord = make.user()
    mine = make.team("Mine", coordinators=[coord])
    other = make.team("Other")
    login(client, coord)
    body = client.get("/api/v1/audit?per_page=200").json
    teams = {item["team_id"] for item in body["items"]}
    assert mine.id in teams and other.id not in teams


def test_staff_cannot_read_audit(client, make):
    login(client, make.user())
    assert client.get("/audit").status_code == 403
    assert client.get("/api/v1/audit").status_code == 403


def test_admin_filters_and_downloads_csv(client, make):
    admin, coord, team = _some_history(make)
    login(client, admin)
    page = client.get(f"/audit?team_id={team.id}&action=membership")
    assert page.status_code == 200 and "membership.added" in page.get_data(as_text=True)
    resp = client.get(f"/audit.csv?team_id={team.id}")
    assert resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert rows and all(r["team_id"] == str(team.id) for r in rows)
    assert {"id", "at", "action", "hash"} <= set(rows[0])


def test_bad_filter_gets_form_error_not_500(client, make):
    login(client, make.admin())
    resp = client.get("/audit?since=yesterday&page=0")
    assert resp.status_code == 422
    assert "Not a valid date value." in resp.get_data(as_text=True) or "Not a valid" in resp.get_data(as_text=True)


def test_api_audit_filters_validate(client, make, bearer):
    headers = bearer(make.token(make.admin()))
    resp = client.get("/api/v1/audit?since=2026-01-01T00:00:00", headers=headers)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "since" in resp.json["errors"]
    resp = client.get("/api/v1/audit?since=2026-01-01T00:00:00%2B00:00&action=user.", headers=headers)
    assert resp.status_code == 200 and all(i["action"].startswith("user.") for i in resp.json["items"])


def test_filter_by_person_name(client, make):
    admin = make.admin()
    nurse = make.user(display_name="Grace Mensah")
    login(client, nurse)
    client.post("/auth/logout")
    login(client, admin)
    body = client.get("/audit?person=mensah").get_data(as_text=True)
    assert "auth.login" in body and "Grace Mensah" in body
    assert "user.created" not in body  # created by nobody / the factory, not by Grace


def test_csv_neutralises_formula_names(client, make):
    admin = make.admin(display_name="=HYPERLINK(\"http://x\")")
    login(client, admin)
    make.user()
    body = client.get("/audit.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in body


def test_api_audit_filters_by_team_and_actor_as_documented(app, client, make, bearer):
    admin, coord, team = _some_history(make)
    other = make.team("Other ward", coordinators=[make.user()])
    headers = bearer(make.token(admin))
    resp = client.get(f"/api/v1/audit?team_id={team.id}", headers=headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["items"] and all(i["team_id"] == team.id for i in resp.json["items"])
    assert other.id not in {i["team_id"] for i in resp.json["items"]}
    login(app.test_client(), coord)  # writes auth.login with coord as actor
    resp = client.get(f"/api/v1/audit?actor_id={coord.id}", headers=headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["items"] and all(i["actor_id"] == coord.id for i in resp.json["items"])
    for bad in ("team_id=0", "actor_id=x", "team_id=99999999999"):
        resp = client.get(f"/api/v1/audit?{bad}", headers=headers)
        assert resp.status_code == 422 and resp.mimetype == "application/problem+json"


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def test_csv_cells_never_start_a_spreadsheet_formula(client, make):
    """The request id comes from the client (X-Request-ID); like every other text cell it must not run in Excel."""
    admin = make.admin(display_name="@SUM(1+1)")
    client.get("/", headers={"X-Request-ID": "-2-3-cmd.exe"})
    login(client, admin)
    client.post("/auth/logout", headers={"X-Request-ID": "-1+1-1+1-1"})
    client.post("/auth/login", headers={"X-Request-ID": "-10-20-30-40"},
                data={"email": admin.email, "password": "wrong password"})
    login(client, admin)
    rows = list(csv.reader(io.StringIO(client.get("/audit.csv").get_data(as_text=True))))
    cells = [cell for row in rows[1:] for cell in row]
    assert any("-10-20-30-40" in c for c in cells)  # the request id is there, but neutralised
    offending = [c for c in cells if c.startswith(FORMULA_START)]
    assert not offending, offending


def test_audit_page_and_csv_with_dates_at_the_ends_of_the_calendar(client, make):
    login(client, make.admin())
    for query in ("since=0001-01-01", "until=9999-12-31", "since=9999-12-31&until=9999-12-31"):
        for url in (f"/audit?{query}", f"/audit.csv?{query}"):
            resp = client.get(url)
            assert resp.status_code == 422, (url, resp.status_code)
            assert "Give a date between 2000 and 2100." in resp.get_data(as_text=True)
