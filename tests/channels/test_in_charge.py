"""The nurse in charge (issue #17): a coordinator marks who is in charge of a shift slot (the team's shifts starting
at one time) on the shift page or through the API; the rota shows it; ``@in-charge`` reaches that person while they
are on the shift, else the most senior nurse on shift, and the post says which."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from core import timeutil
from core.audit import AuditEntry
from core.db import db
from rota import services as rota
from rota.models import ShiftInCharge
from tests.conftest import login
from tests.factories import ward
from tests.rota.swaps.factories import shift


def _rostered_now(make):
    team, coord, (a, b, c), _ = ward(make, name="Ward 7B")
    a.grade = "Band 6"  # the most senior nurse on shift
    now = datetime.now(UTC).replace(microsecond=0)
    sa = shift(team, starts_at=now - timedelta(hours=2), assignee=a)
    sb = shift(team, starts_at=now - timedelta(hours=2), assignee=b)  # the same slot as a
    sc = shift(team, starts_at=now + timedelta(hours=10), assignee=c)  # a later shift
    return team, coord, a, b, c, sa, sb, sc


def _in_charge_post(client, bearer, make, coord, team):
    channel = client.get(f"/api/v1/teams/{team.id}/channels", headers=bearer(make.token(coord))).get_json()[0]
    resp = client.post(f"/api/v1/channels/{channel['id']}/posts", json={"text": "@in-charge bed 4 needs a porter"},
                       headers=bearer(make.token(coord)))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["reached"]


def test_in_charge_reaches_the_marked_nurse_and_otherwise_the_most_senior_on_shift(client, make, bearer):
    team, coord, a, b, c, sa, sb, sc = _rostered_now(make)
    assert _in_charge_post(client, bearer, make, coord, team) == [
        {"mention": "@in-charge", "people": [a.display_name], "why": "most senior on shift"}]

    resp = client.put(f"/api/v1/shifts/{sb.id}/in-charge", json={"user_id": b.id}, headers=bearer(make.token(coord)))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["user_id"] == b.id and resp.get_json()["name"] == b.display_name
    assert _in_charge_post(client, bearer, make, coord, team) == [
        {"mention": "@in-charge", "people": [b.display_name], "why": "in charge"}]
    login(client, a)  # a fresh client session: nobody was logged in
    channel_id = client.get(f"/api/v1/teams/{team.id}/channels", headers=bearer(make.token(a))).get_json()[0]["id"]
    page = client.get(f"/channels/{channel_id}").get_data(as_text=True)
    assert f"@in-charge reached {b.display_name} (in charge)" in page
    assert f"@in-charge reached {a.display_name} (most senior on shift)" in page

    # b's shift is given up: the mark no longer holds, the most senior nurse on shift is reached again
    rota.assign(sb, None, actor=coord)
    db.session.commit()
    assert _in_charge_post(client, bearer, make, coord, team)[0]["people"] == [a.display_name]


def test_marking_in_charge_is_for_coordinators_one_per_slot_audited_and_bad_input_is_a_problem(client, make, bearer):
    team, coord, a, b, c, sa, sb, sc = _rostered_now(make)
    url, tc = f"/api/v1/shifts/{sa.id}/in-charge", make.token(coord)
    assert client.put(url, json={"user_id": a.id}, headers=bearer(make.token(a))).status_code == 403
    for body in ({"user_id": c.id}, {"user_id": 999999}, {"user_id": "a"}, {}, {"user_id": a.id, "x": 1}):
        resp = client.put(url, json=body, headers=bearer(tc))
        assert resp.status_code == 422 and resp.mimetype == "application/problem+json", (body, resp.get_json())
    refused = client.put(url, json={"user_id": c.id}, headers=bearer(tc)).get_json()
    assert refused["code"] == "not_on_shift" and c.display_name in refused["detail"]
    assert db.session.scalar(select(func.count(ShiftInCharge.id))) == 0

    assert client.put(url, json={"user_id": a.id}, headers=bearer(tc)).status_code == 200
    # the same slot through b's shift: one nurse in charge per team per start time, b replaces a
    resp = client.put(f"/api/v1/shifts/{sb.id}/in-charge", json={"user_id": b.id}, headers=bearer(tc))
    assert resp.status_code == 200
    assert client.get(url, headers=bearer(make.token(a))).get_json()["user_id"] == b.id
    assert db.session.scalar(select(func.count(ShiftInCharge.id))) == 1
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "shift.in_charge_set")).all()
    assert [e.actor_id for e in entries] == [coord.id, coord.id]
    assert all(b.display_name not in e.summary_json for e in entries)

    cleared = client.delete(url, headers=bearer(tc))
    assert cleared.status_code == 200 and cleared.get_json()["user_id"] is None
    assert db.session.scalar(select(func.count(ShiftInCharge.id))) == 0


def test_the_shift_page_marks_the_nurse_in_charge_and_the_rota_shows_it(client, make, bearer):
    team, coord, a, b, c, sa, sb, sc = _rostered_now(make)
    login(client, coord)
    page = client.get(f"/shifts/{sb.id}").get_data(as_text=True)
    assert 'data-testid="mark-in-charge"' in page and 'data-testid="in-charge-badge"' not in page
    resp = client.post(f"/shifts/{sb.id}/in-charge", data={})
    assert resp.status_code == 302
    page = client.get(f"/shifts/{sb.id}").get_data(as_text=True)
    assert 'data-testid="in-charge-badge"' in page and 'data-testid="clear-in-charge"' in page
    assert 'data-testid="in-charge-badge"' not in client.get(f"/shifts/{sa.id}").get_data(as_text=True)
    monday = timeutil.local_date(sb.starts_at, team.timezone)
    monday -= timedelta(days=monday.weekday())
    grid = client.get(f"/teams/{team.id}/rota?start={monday.isoformat()}").get_data(as_text=True)
    assert grid.count('<span class="sb-marker">In charge</span>') == 1

    # an open shift has nobody to mark: refused, nothing changes
    rota.assign(sa, None, actor=coord)
    db.session.commit()
    resp = client.post(f"/shifts/{sa.id}/in-charge", data={})
    assert resp.status_code == 422 and 'data-testid="in-charge-error"' in resp.get_data(as_text=True)

    # the clear button (its hidden field says so) unmarks
    assert client.post(f"/shifts/{sb.id}/in-charge", data={"c-clear": "1"}).status_code == 302
    assert db.session.scalar(select(func.count(ShiftInCharge.id))) == 0

    # staff see the badge but cannot mark
    client.post(f"/shifts/{sb.id}/in-charge", data={})
    client.post("/auth/logout")
    login(client, b)
    page = client.get(f"/shifts/{sb.id}").get_data(as_text=True)
    assert 'data-testid="in-charge-badge"' in page and 'data-testid="mark-in-charge"' not in page
    assert client.post(f"/shifts/{sb.id}/in-charge", data={}).status_code == 403
