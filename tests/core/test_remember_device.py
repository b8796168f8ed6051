"""'Keep me signed in on this device' (a personal phone): no idle or 12-hour sign-out, but it ends at its date, when
the person signs it out from their profile, or when the password changes. Shared computers keep the idle limit."""

import re

from sqlalchemy import select

from core.accounts import UserSession
from core.db import db
from tests.conftest import TEST_PASSWORD, login


def _sign_in(client, user, remember):
    data = {"email": user.email, "password": TEST_PASSWORD} | ({"remember": "y"} if remember else {})
    resp = client.post("/auth/login", data=data)
    assert resp.status_code == 302
    return resp


def test_a_remembered_phone_outlives_the_idle_and_absolute_limits_until_its_date(app, client, make, clock):
    nurse = make.user()
    resp = _sign_in(client, nurse, remember=True)
    assert any("remember_token=" in h for h in resp.headers.getlist("Set-Cookie"))  # outlives closing the browser
    clock.advance(hours=20)  # an idle night and more than the 12-hour limit
    page = client.get("/")
    assert page.status_code == 200
    assert 'id="session-timeout"' not in page.get_data(as_text=True)  # no countdown on a remembered device
    clock.advance(days=29, hours=4)
    assert client.get("/").status_code == 302  # 30 days on: signed out


def test_a_shared_computer_still_signs_out_after_fifteen_idle_minutes(client, make, clock):
    _sign_in(client, make.user(), remember=False)
    clock.advance(minutes=16)
    assert client.get("/").status_code == 302


def test_the_person_signs_a_lost_phone_out_from_their_profile(app, client, make):
    nurse = make.user()
    phone = app.test_client()
    _sign_in(phone, nurse, remember=True)
    login(client, nurse)  # the ward computer
    profile = client.get("/profile").get_data(as_text=True)
    assert 'data-testid="remembered-devices"' in profile
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == nurse.id,
                                                      UserSession.remembered_until.is_not(None)))
    assert re.search(rf'action="/profile/devices/{row.id}/forget"', profile)
    assert client.post(f"/profile/devices/{row.id}/forget").status_code == 302
    assert phone.get("/").status_code == 302
    assert 'data-testid="no-remembered-devices"' in client.get("/profile").get_data(as_text=True)
    stranger = make.user()
    other = app.test_client()
    login(other, stranger)
    assert other.post(f"/profile/devices/{row.id}/forget").status_code == 404  # not someone else's device
