"""#16: the calendar links are readable offline. /my/calendar (the menu's "Calendar links") is cached by the service
worker like My shifts, shown offline "as of HH:MM" with the very link, never sent no-store, never in an address or
a log line; the profile (password, devices, tokens) stays network-only; sign-out clears the copy."""

from __future__ import annotations

import pytest

from core.db import db
from rota.feeds.models import FeedKind
from rota.feeds.service import rotate
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import sign_in, sign_out, wait_for_js
from tests.e2e.test_pwa import EMAIL, KEYS, _ready


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, **KEYS}


@pytest.fixture
def nurse_with_a_link(make):
    user = make.user(email=EMAIL, display_name="Nina Nurse")
    _, token = rotate(user, FeedKind.mine, actor=user)
    db.session.commit()  # SQLite: a test holding a read transaction would hold the write lock the server needs
    return token


def test_the_calendar_link_is_readable_offline_and_gone_after_sign_out(nurse_with_a_link, phone, live_server,
                                                                       no_secrets_in_logs):
    token = nurse_with_a_link
    sign_in(phone, EMAIL, TEST_PASSWORD)
    phone.wait_for_url("**/")
    _ready(phone)
    phone.get_by_test_id("menu-toggle").click()
    phone.get_by_test_id("feeds-link").click()  # "Calendar links" in the menu
    phone.wait_for_url("**/my/calendar")
    link = phone.get_by_test_id("calendar-url-mine").input_value()
    assert token in link and link.endswith(".ics")
    headers = phone.request.get("/my/calendar").headers
    assert "no-store" not in headers["cache-control"] and "private" in headers["cache-control"]
    wait_for_js(phone, "caches.open('sb-pages-v1').then(c => c.keys())"
                            ".then(k => k.some(r => new URL(r.url).pathname === '/my/calendar'))")
    phone.context.set_offline(True)
    try:
        phone.goto("/my/calendar")
        assert "as of" in phone.get_by_test_id("offline-as-of").inner_text()
        assert phone.get_by_test_id("calendar-url-mine").input_value() == link
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        phone.goto("/profile")  # password, devices and tokens: never kept on the device
        assert phone.get_by_test_id("offline-none").is_visible()
    finally:
        phone.context.set_offline(False)
    cached = phone.evaluate("caches.open('sb-pages-v1').then(c => c.keys()).then(k => k.map(r => r.url))")
    assert not [u for u in cached if token in u or "/profile" in u]  # the secret is in no cached address
    phone.goto("/")
    sign_out(phone)
    phone.wait_for_url("**/auth/login?signed_out=1")
    wait_for_js(phone, "caches.keys().then(k => k.filter(n => n.startsWith('sb-pages')).length === 0)")
    assert not [r for r in no_secrets_in_logs.records if token in r]  # no request log line carries the link
