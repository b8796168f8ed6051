"""#15: on a phone, after "Count recipients" the count and the Send button are on screen without scrolling."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.db import db
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import PHONE, sign_in
from tests.rota.swaps import factories as data

pytestmark = pytest.mark.e2e

IN_VIEW = """e => { const r = e.getBoundingClientRect();
  return r.top >= 0 && r.bottom <= window.innerHeight && r.width > 0; }"""


def test_after_counting_on_a_phone_the_count_and_send_are_in_view(phone, make):
    w = data.ward(make, 2)
    gap = data.shift(w.team, starts_at=data.soon(2))
    gap_id, coord_email = gap.id, w.coordinator.email
    db.session.commit()
    sign_in(phone, coord_email, TEST_PASSWORD)
    phone.goto("/open-shifts")
    phone.click(f"[data-testid=ask-cover-{gap_id}]")
    phone.click("[data-testid=preview-broadcast]")
    count = phone.locator("[data-testid=recipient-count]")
    expect(count).to_have_text("2")
    phone.wait_for_load_state("load")
    assert phone.viewport_size == PHONE
    for what in ("[data-testid=recipient-count]", "[data-testid=send-broadcast]"):
        assert phone.eval_on_selector(what, IN_VIEW), f"{what} is not on screen after counting"
