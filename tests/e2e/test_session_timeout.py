"""A nurse on a shared ward computer (issue #13 item 9): warned before the idle sign-out, stays signed in with one
press; signed out later, the page is taken off the screen (and nobody can put it back without signing in) but what
she typed is kept, and it is saved after she signs in again.
The browser's timers run on Playwright's clock and the server's on the ``clock`` fixture: nobody sleeps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.db import db
from handover import patient_records, services
from handover.models import HandoverEntry
from tests.conftest import TEST_PASSWORD, Factory
from tests.e2e.conftest import sign_in
from tests.handover.conftest import NUMBERS

TYPED = "Troponin rising, chest pain again at 06:00 – repeat ECG, call the registrar if it recurs"


@pytest.fixture
def app_config(tmp_path):
    return {"WTF_CSRF_ENABLED": True, "HANDOVER_UPLOAD_DIR": str(tmp_path / "images")}


def _nina_opens_a_patients_entry(page):
    """Nina, signed in on the ward computer (the browser's clock under the test's control), on a patient's entry."""
    make = Factory()
    nurse = make.user(email="nina@example.test", display_name="Nina Nurse")
    colleague, coordinator = make.user(), make.user()
    team = make.team("Ward 7B", coordinators=[coordinator], staff=[nurse, colleague])
    patient = patient_records.add_patient(team, coordinator, name="Test Patient Alpha", nhs_number=NUMBERS[0],
                                   location="Bed 1")
    handover = services.start_handover(team, nurse, label="Day → Night", starts_at=datetime.now(UTC),
                                       incoming_id=colleague.id)
    entry_url = f"/handover/{handover.id}/patients/{patient.id}"
    handover_id, patient_id = handover.id, patient.id
    db.session.commit()
    db.session.close()
    page.clock.install()
    sign_in(page, "nina@example.test", TEST_PASSWORD)
    page.wait_for_url("**/")
    page.goto(entry_url)
    return page, entry_url, handover_id, patient_id


def test_warned_stays_signed_in_then_signed_out_without_losing_the_handover_text(app, desktop, clock):
    page, entry_url, handover_id, patient_id = _nina_opens_a_patients_entry(desktop)
    page.fill("#situation", TYPED)
    warning, ended = page.get_by_test_id("session-warning"), page.get_by_test_id("session-ended")
    expect(warning).to_be_hidden()

    # 13 minutes without use: the warning, with a countdown and a way to stay.
    clock.advance(minutes=13, seconds=5)
    page.clock.fast_forward("13:05")
    expect(warning).to_be_visible()
    expect(page.get_by_test_id("session-warning-text")).to_contain_text("will sign you out in")
    page.get_by_test_id("stay-signed-in").click()
    expect(warning).to_be_hidden()

    # Kept alive: ten more minutes and the page still works; then she walks away for 16 minutes.
    clock.advance(minutes=10)
    page.clock.fast_forward("10:00")
    expect(warning).to_be_hidden()
    clock.advance(minutes=6)
    page.clock.fast_forward("06:00")
    expect(ended).to_be_visible()
    _nothing_of_the_patient_left(page)  # not hidden: gone from the page, so nothing can show it again

    # Someone else presses Continue: the sign-in page, still nothing of the patient or of what she typed on screen.
    page.get_by_test_id("session-continue").click()
    expect(page.get_by_test_id("session-ended-message")).to_contain_text("What you typed has been kept")
    _nothing_of_the_patient_left(page, in_the_document=False)  # the text rides in hidden fields, for her only
    # She signs in: what she typed is saved and nothing is lost.
    page.fill("#email", "nina@example.test")
    page.fill("#password", TEST_PASSWORD)
    page.click("[data-testid=sign-in]")
    expect(page.get_by_role("heading", name="Your changes have not been saved yet")).to_be_visible()
    page.get_by_test_id("save-my-changes").click()
    page.wait_for_url(f"**/handover/{handover_id}*")
    assert "Saved (version 2)" in page.inner_text("main")  # version 1: the empty entry the handover started with
    db.session.expire_all()
    saved = db.session.scalar(select(HandoverEntry).where(HandoverEntry.patient_id == patient_id)
                              .order_by(HandoverEntry.version.desc()).limit(1))
    assert saved is not None and saved.situation == TYPED


def _nothing_of_the_patient_left(page, *, in_the_document: bool = True):
    shown = page.inner_text("body") + page.title()
    assert "Test Patient Alpha" not in shown and "Troponin" not in shown and "Bed 1" not in shown
    if in_the_document:
        html = page.content()
        assert "Test Patient Alpha" not in html and "Troponin" not in html and "Bed 1" not in html
        assert page.eval_on_selector_all("input, textarea", "els => els.every(e => !e.value.includes('Trop'))")


def test_signed_out_with_nothing_typed_continue_asks_for_a_sign_in_and_comes_back(app, desktop, clock):
    page, entry_url, _, _ = _nina_opens_a_patients_entry(desktop)
    expect(page.locator("h1")).to_contain_text("Test Patient Alpha")
    clock.advance(minutes=16)
    page.clock.fast_forward("16:00")
    expect(page.get_by_test_id("session-ended")).to_be_visible()
    _nothing_of_the_patient_left(page)
    page.get_by_test_id("session-continue").click()
    page.wait_for_url("**/auth/login?next=*")
    _nothing_of_the_patient_left(page)
    page.go_back()  # the browser's Back button does not bring the page back either
    _nothing_of_the_patient_left(page)
    page.goto(f"/auth/login?next={entry_url}")
    page.fill("#email", "nina@example.test")
    page.fill("#password", TEST_PASSWORD)
    page.click("[data-testid=sign-in]")
    page.wait_for_url(f"**{entry_url}")
    expect(page.locator("h1")).to_contain_text("Test Patient Alpha")
