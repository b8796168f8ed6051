"""The doctor's working-time position on a 390-px phone: numbers beside limits and the SVG chart fit with no
sideways scroll, the chart's numbers open by keyboard behind <details>, and axe-core finds nothing."""

from __future__ import annotations

from core.db import db
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import sign_in
from tests.e2e.test_header import _axe
from tests.rota.compliance.test_position_page import _fortnight


def test_the_position_fits_a_phone_and_passes_axe(make, phone):
    _, doctor = _fortnight(make)
    email = doctor.email
    db.session.commit()
    sign_in(phone, email, TEST_PASSWORD)
    phone.wait_for_url("**/")
    phone.goto("/compliance?from=2025-10-20&to=2025-11-02")
    assert phone.get_by_test_id("measure").count() >= 8
    chart = phone.get_by_test_id("position-chart")
    assert chart.is_visible() and chart.bounding_box()["width"] <= 390
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.focus("[data-testid=position-data] summary")
    phone.keyboard.press("Enter")
    assert phone.get_by_role("cell", name="67.0 (over the average-week limit)").is_visible()
    assert _axe(phone) == []
