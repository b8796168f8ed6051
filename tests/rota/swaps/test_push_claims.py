"""An open shift pushed to a phone: the notification's "I'll take it" button claims it through the same rota claim
service as the page and the SMS reply, with every eligibility check."""

from __future__ import annotations

import pytest

from core.db import db
from notifications import broadcasts, push, worker
from notifications.models import Broadcast
from rota.models import Shift
from tests.notifications.conftest import _twilio_server, twilio_config  # noqa: F401  (fixtures)
from tests.notifications.test_push import KEYS, _push_server, device, push_service  # noqa: F401  (fixtures)
from tests.rota.swaps import ladder_site


@pytest.fixture
def app_config(database_url, _twilio_server):  # noqa: F811
    return {**twilio_config(_twilio_server), **KEYS, "PUSH_TIMEOUT_SECONDS": 5}


def test_ill_take_it_on_the_notification_claims_the_shift(app, make, push_service):  # noqa: F811
    site = ladder_site.build(make)
    phone = device(site.next_door, push_service)
    b = broadcasts.create(site.ward, site.coordinator, audience="neighbouring_wards",
                          params={"shift_id": site.gap.id}, reference=f"shift:{site.gap.id}", kind="open_shift",
                          text="Early Thu on Ward 7B needs an IV-trained nurse", link="/open-shifts",
                          channels=("in_app",), urgent=True)
    db.session.commit()
    worker.run(once=True)
    [payload] = push_service.payloads_for(phone)
    assert payload["a"] == [["take", "I'll take it"]] and "patient" not in payload["b"].lower()
    resp = app.test_client().post("/webhooks/push/action", json={"k": payload["k"], "action": "take"})
    assert resp.status_code == 200 and resp.get_json()["ok"] is True, resp.get_json()
    db.session.expire_all()
    assert db.session.get(Shift, site.gap.id).assignee_id == site.next_door.id
    assert db.session.get(Broadcast, b.id).state == "claimed"
    again = app.test_client().post("/webhooks/push/action", json={"k": payload["k"], "action": "take"})
    assert again.get_json()["ok"] is False  # already filled: nothing changes
    assert push.read_token(payload["k"])[1] == site.next_door.id
