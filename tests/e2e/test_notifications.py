"""Browser journeys: a coordinator broadcasts an open shift, a nurse sees it arrive live (no reload), acknowledges
it, another nurse claims it by texting "YES <code>", and the coordinator's report updates by itself."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from core import registry as core_registry
from core.db import db
from notifications import worker
from notifications.models import BroadcastRecipient
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import sign_in
from tests.notifications.conftest import TOKEN, twilio_config
from tests.notifications.fake_twilio import FakeTwilio


@pytest.fixture(scope="module")
def fake_twilio_server():
    server = FakeTwilio("AC" + "1" * 32, TOKEN)
    yield server
    server.close()


@pytest.fixture
def app_config(fake_twilio_server):
    return {"WTF_CSRF_ENABLED": True, **twilio_config(fake_twilio_server)}


@pytest.fixture
def claims():
    saved = core_registry.snapshot()
    taken = []

    def claim(user_id, reference):  # like rota's claim service: filling the shift closes the broadcast about it
        from notifications import broadcasts

        taken.append((user_id, reference))
        broadcasts.record_claim(user_id, reference=reference)
        return True, "Thanks: the shift is yours."

    core_registry.register_reply_handler("YES", claim, replace=True)
    yield taken
    core_registry.restore(saved)


def test_broadcast_arrives_live_and_is_acknowledged_and_claimed(app, make, desktop, phone, live_server, claims,
                                                                fake_twilio_server):
    app.config["PUBLIC_BASE_URL"] = live_server.url
    coordinator = make.user(display_name="Wendy Coordinator")
    nurse = make.user(display_name="Nia Nurse", mobile="+447700900501")
    texter = make.user(display_name="Tom Texter", mobile="+447700900502")
    make.team("Ward 9", coordinators=[coordinator], staff=[nurse, texter])
    # Tom takes texts at any hour, so this journey does not depend on the time of day it runs (quiet hours have
    # their own tests in tests/notifications/test_broadcasts.py).
    from notifications import service as notification_service

    notification_service.set_preferences(texter, quiet_start="00:00", quiet_end="00:00")
    db.session.commit()
    nurse_email, coordinator_email, texter_id, texter_mobile = nurse.email, coordinator.email, texter.id, texter.mobile
    db.session.commit()  # on SQLite an open transaction holds the write lock: end it before the browser acts

    # The nurse sits on her notification centre; the stream is live.
    sign_in(phone, nurse_email, TEST_PASSWORD)
    phone.wait_for_url("**/")
    phone.click("[data-testid=notifications-link]")
    phone.wait_for_selector("#sb-live-status[data-live='1']")
    assert phone.locator("[data-testid=no-notifications]").is_visible()

    # The coordinator composes, counts the recipients, sends.
    sign_in(desktop, coordinator_email, TEST_PASSWORD)
    desktop.wait_for_url("**/")
    desktop.goto("/broadcasts/new")
    desktop.select_option("#audience", "team")
    desktop.click("text=More settings (group, kind, link)")
    desktop.select_option("#kind", "open_shift")
    desktop.fill("#reference", "shift:5")
    desktop.fill("#text", "Night shift tonight 19:30 needs a nurse")
    desktop.click("[data-testid=preview-broadcast]")
    assert desktop.locator("[data-testid=recipient-count]").inner_text() == "2"  # Nia and Tom, never the sender
    desktop.click("[data-testid=send-broadcast]")
    desktop.wait_for_selector("[data-testid=report-table]")
    assert desktop.locator("[data-testid=count-recipients]").inner_text() == "2"

    # It appears on the nurse's phone without a reload, and the unread count goes up.
    item = phone.locator("[data-testid=notification]", has_text="Night shift tonight 19:30 needs a nurse")
    item.wait_for(timeout=5000)
    assert phone.locator("[data-testid=centre-unread]").inner_text() == "1"
    item.locator("a").click()
    phone.wait_for_selector("[data-testid=received-text]")
    phone.click("[data-testid=acknowledge]")
    phone.wait_for_selector("[data-testid=acknowledged]")

    # SMS goes out through the (fake) provider; Tom answers "YES <his code>".
    worker.run(once=True)
    code = db.session.scalar(select(BroadcastRecipient.code).where(BroadcastRecipient.user_id == texter_id))
    db.session.commit()
    assert any(f"Reply YES {code}" in body for body in fake_twilio_server.bodies_to(texter_mobile))
    url = live_server.url + "/webhooks/twilio/inbound"
    params = {"From": texter_mobile, "To": "+447700900000", "Body": f"YES {code}", "MessageSid": "SMin1"}
    reply = requests.post(url, data=params, timeout=10,
                          headers={"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params)})
    assert "the shift is yours" in reply.text
    assert claims == [(texter_id, "shift:5")]

    # The coordinator's report updates by itself.
    expect(desktop.locator("[data-testid=count-claimed]")).to_have_text("1", timeout=10_000)
    assert desktop.locator("[data-testid=count-acknowledged]").inner_text() == "1"
    assert desktop.locator("[data-testid=broadcast-state]").inner_text() == "Taken"
    fake_twilio_server.wait_for_callbacks()
