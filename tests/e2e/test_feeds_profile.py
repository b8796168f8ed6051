"""A nurse on a phone gets her calendar link from the profile page; the link works, every parser agrees with the rota,
and getting a new link kills the old one."""

import urllib.error
import urllib.request
from datetime import timedelta

from core.db import db, now_utc
from tests.conftest import TEST_PASSWORD, Factory
from tests.e2e.conftest import sign_in
from tests.rota.feeds.helpers import check_feed, local, shift, shift_type


def _get(url):
    try:
        with urllib.request.urlopen(url) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, None, b""


def test_nurse_subscribes_from_her_profile_on_a_phone(phone, live_server):
    make = Factory()
    nurse = make.user(display_name="Nia Nurse")
    team = make.team("Ward 7B", staff=[nurse])
    night = shift_type(team)
    soon = now_utc() + timedelta(days=3)
    s = shift(team, night, local(team, soon.year, soon.month, soon.day, 21), assignee=nurse)
    email, shift_id = nurse.email, s.id
    db.session.commit()  # end the test's read transaction: on SQLite it would hold the write lock (BEGIN IMMEDIATE)

    sign_in(phone, email, TEST_PASSWORD)
    phone.wait_for_url("**/")
    phone.goto("/profile")
    phone.click("[data-testid=create-mine]")
    phone.wait_for_selector("[data-testid=https-mine]")
    link = phone.input_value("[data-testid=https-mine]")
    webcal = phone.get_attribute("[data-testid=webcal-mine]", "href")
    assert webcal == "webcal://" + link.split("://", 1)[1]
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.click("text=Phone: scan this code")
    assert phone.locator("[data-testid=qr-mine]").is_visible()
    assert "Not fetched yet" in phone.inner_text("[data-testid=fetched-mine]")

    # The profile shows the link on the public base URL; this test fetches it from the live server.
    path = "/calendar/" + link.rsplit("/calendar/", 1)[1]
    status, ctype, body = _get(live_server.url + path)
    assert status == 200 and ctype == "text/calendar; charset=utf-8"
    events = check_feed(body)
    db.session.commit()
    assert list(events) == [f"shift-{shift_id}@localhost"]

    phone.reload()
    assert "Last fetched" in phone.inner_text("[data-testid=fetched-mine]")
    phone.click("[data-testid=rotate-mine]")
    phone.wait_for_selector("[data-testid=https-mine]")
    assert phone.input_value("[data-testid=https-mine]") != link
    assert _get(live_server.url + path)[0] == 410  # a turned-off link is Gone, so calendars stop polling it
