"""A nurse on a shared ward computer (issue #13 item 9): warned before the idle sign-out, stays signed in with one
press; signed out later, the page is covered but what she typed is kept, and it is saved after she signs in again.
The browser's timers run on Playwright's clock and the server's on the ``clock`` fixture: nobody sleeps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.db import db
from handover import services
from handover.models import HandoverEntry
from tests.conftest import TEST_PASSWORD, Factory
from tests.e2e.conftest import sign_in
from tests.handover.conftest import NUMBERS

TYPED = "Troponin rising, chest pain again at 06:00 – repeat ECG, call the registrar if it recurs"


@pytest.fixture
def app_config(tmp_path):
    return {"WTF_CSRF_ENABLED": True, "HANDOVER_UPLOAD_DIR": str(tmp_path / "images")}


def test_warned_stays_signed_in_then_signed_out_without_losing_the_handover_text(app, desktop, clock):
    make = Factory()
    nurse = make.user(email="nina@example.test", display_name="Nina Nurse")
    colleague, coordinator = make.user(), make.user()
    team = make.team("Ward 7B", coordinators=[coordinator], staff=[nurse, colleague])
    patient = services.add_patient(team, coordinator, name="Test Patient Alpha", nhs_number=NUMBERS[0],
                                   location="Bed 1")
    handover = services.start_handover(team, nurse, label="Day → Night", starts_at=datetime.now(UTC),
                                       incoming_id=colleague.id)
    entry_url = f"/handover/{handover.id}/patients/{patient.id}"
    handover_id, patient_id = handover.id, patient.id
    db.session.commit()
    db.session.close()

    page = desktop
    page.clock.install()
    sign_in(page, "nina@example.test", TEST_PASSWORD)
    page.wait_for_url("**/")
    page.goto(entry_url)
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
    expect(page.locator("main")).to_be_hidden()  # nothing left readable on an unattended screen

    # She comes back: the text is still there; saving goes through the sign-in page and nothing is lost.
    page.get_by_test_id("session-continue").click()
    assert page.input_value("#situation") == TYPED
    page.click("[data-testid=save-entry]")
    expect(page.get_by_test_id("session-ended-message")).to_contain_text("What you typed has been kept")
    page.fill("#email", "nina@example.test")
    page.fill("#password", TEST_PASSWORD)
    page.click("[data-testid=sign-in]")
    expect(page.get_by_role("heading", name="Your changes have not been saved yet")).to_be_visible()
    page.get_by_test_id("save-my-changes").click()
    page.wait_for_url(f"**/handover/{handover_id}*")
    assert "Saved (version 2)" in page.inner_text("main")
    db.session.expire_all()
    saved = db.session.scalar(select(HandoverEntry).where(HandoverEntry.patient_id == patient_id,
                                         HandoverEntry.current.is_(True)))
    assert saved is not None and saved.situation == TYPED
