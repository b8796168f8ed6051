"""#16 offline: what the nurse saw last of her next two weeks (My shifts, a shift 13 days ahead included) and of the
open shifts stays readable with the phone offline, marked "as of HH:MM"; handover is sent no-store and never kept."""

from __future__ import annotations

import re

import pytest

from core.db import db
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import sign_in, wait_for_js
from tests.e2e.test_pwa import KEYS, _ready
from tests.rota.swaps import factories as data

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, **KEYS}


@pytest.fixture
def ward_week(make):
    w = data.ward(make, 2)
    nurse = w.staff[0]
    data.shift(w.team, starts_at=data.soon(1), assignee=nurse)
    data.shift(w.team, starts_at=data.soon(13), assignee=nurse)
    gap = data.shift(w.team, starts_at=data.soon(2, hour=19), hours=12.5, stype=data.night(w.team))
    email, gap_id = nurse.email, gap.id
    db.session.commit()
    return email, gap_id


def test_the_next_two_weeks_and_the_open_shifts_last_seen_are_readable_offline(ward_week, phone, live_server):
    email, gap_id = ward_week
    sign_in(phone, email, TEST_PASSWORD)
    phone.wait_for_url("**/")
    _ready(phone)
    phone.goto("/my/shifts")
    online = phone.get_by_test_id("my-shift").all_inner_texts()
    assert len(online) == 2
    phone.goto("/open-shifts")
    gap = phone.get_by_test_id(f"open-shift-{gap_id}")
    open_online = gap.inner_text()
    assert "Night" in open_online and phone.get_by_test_id(f"claim-{gap_id}").is_visible()
    handover = phone.request.get("/handover/")
    assert "no-store" in handover.headers["cache-control"]
    wait_for_js(phone, "caches.open('sb-pages-v1').then(c => c.keys()).then(k => k.length >= 2)")
    phone.context.set_offline(True)
    try:
        phone.goto("/my/shifts")
        banner = phone.get_by_test_id("offline-as-of").inner_text()
        assert re.search(r"as of \d\d:\d\d", banner), banner
        assert phone.get_by_test_id("my-shift").all_inner_texts() == online  # 13 days ahead included
        phone.goto("/open-shifts")
        assert phone.get_by_test_id("offline-as-of").is_visible()
        assert gap.inner_text() == open_online  # the gap as last seen, with its button
        phone.goto("/handover/")
        assert phone.get_by_test_id("offline-none").is_visible()
    finally:
        phone.context.set_offline(False)
