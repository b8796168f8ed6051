"""Moving an assigned shift's times is checked against the working-time rules, like a new assignment."""

from core.db import db
from rota.models import Shift
from tests.factories import ward


def test_lengthening_a_doctors_shift_past_13_hours_is_refused_then_overridden(client, make, bearer):
    team, coord, staff, types = ward(make, nurses=0)
    doctor = make.user(staff_group="medical", grade="FY1")
    from core import accounts

    accounts.add_member(team, doctor)
    db.session.commit()
    h = bearer(make.token(coord))
    made = client.post("/api/v1/shifts", json={"team_id": team.id, "starts_at": "2026-03-02T08:00+00:00",
                                               "ends_at": "2026-03-02T20:00+00:00", "assignee_id": doctor.id},
                       headers=h)
    assert made.status_code == 201, made.get_json()
    shift = made.get_json()
    longer = {"version": shift["version"], "ends_at": "2026-03-02T22:00+00:00"}
    r = client.patch(f"/api/v1/shifts/{shift['id']}", json=longer, headers=h)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["code"] == "working_time" and "13" in " ".join(r.get_json()["errors"]["working_time"])
    assert db.session.get(Shift, shift["id"]).ends_at.hour == 20, "a refused change must change nothing"
    r = client.patch(f"/api/v1/shifts/{shift['id']}", json={**longer, "override_reason": "Major incident cover"},
                     headers=h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["ends_at"].startswith("2026-03-02T22:00")
