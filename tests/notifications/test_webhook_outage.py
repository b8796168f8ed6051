"""Twilio does not retry inbound SMS webhooks: a STOP or "YES 4821" that arrives while the database is out would be
lost with a 503. It gets a 200 TwiML reply asking the person to send it again; status callbacks (which Twilio does
retry) keep the 503."""

from __future__ import annotations

import pytest

from core.db import db
from notifications.models import SmsOptOut
from tests.notifications.test_webhooks import MOBILE, signed_post
from tests.notifications.worker_process import Outage


@pytest.fixture
def postgres_only(engine_name):
    if engine_name != "postgresql":
        pytest.skip("refused connections are a PostgreSQL event")


def test_an_inbound_text_during_an_outage_asks_to_be_sent_again(client, make, fake_twilio, postgres_only,
                                                                 database_url):
    make.user(mobile=MOBILE)
    db.session.remove()
    stop = {"From": MOBILE, "To": "+447700900000", "Body": "STOP", "MessageSid": "SM" + "d" * 32}
    outage = Outage(database_url)
    try:
        outage.begin()
        resp = signed_post(client, "/webhooks/twilio/inbound", stop)
        assert resp.status_code == 200 and resp.mimetype == "text/xml", resp.get_data(as_text=True)[:300]
        assert "please send your message again" in resp.get_data(as_text=True)
        status = signed_post(client, "/webhooks/twilio/status", {"MessageSid": "SM" + "e" * 32,
                                                                 "MessageStatus": "delivered"})
        assert status.status_code == 503 and int(status.headers["Retry-After"]) >= 1  # Twilio retries these
    finally:
        outage.close()
    assert db.session.get(SmsOptOut, MOBILE) is None  # nothing was applied...
    again = signed_post(client, "/webhooks/twilio/inbound", stop)  # ...so the same text sent again is
    assert again.status_code == 200
    db.session.expire_all()
    assert db.session.get(SmsOptOut, MOBILE) is not None


@pytest.mark.parametrize("path", ["/webhooks/twilio/inbound", "/webhooks/twilio/status"])
def test_a_conflict_in_a_webhook_is_still_a_409_not_a_500(app, path):
    """The webhooks' own database-error handler must not swallow the app's IntegrityError answer (two copies of
    one signed request at once: the second one's receipt insert fails)."""
    from sqlalchemy.exc import IntegrityError

    with app.test_request_context(path, method="POST"):
        resp = app.handle_user_exception(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert resp.status_code == 409
