"""The routes of open shifts as the real services record them (not a hand-made audit trail): a nurse of the ward
claims in the app, another from the shift card in the team channel, a bank nurse in the app, a neighbouring ward's
nurse by texting "YES <code>" to the ladder's SMS, and the coordinator gives the last gap to a ward nurse. Insights
tells each route apart: app 2, channel card 1, SMS 1, coordinator 1; own ward 3, bank 1, neighbour 1."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from channels.models import Post
from core.db import db, now_utc
from notifications import broadcasts, worker
from notifications.models import BroadcastRecipient
from rota import services as rota
from tests.notifications.conftest import _twilio_server, app_config, fake_twilio  # noqa: F401  (fixtures)
from tests.notifications.test_webhooks import signed_post
from tests.rota.swaps import factories as data
from tests.rota.swaps import ladder_site


def _opened(site, days: int):
    """A shift of the ward's junior that the coordinator takes her off: an open shift, announced (channel card)."""
    s = data.shift(site.ward, starts_at=data.soon(days), assignee=site.ward_junior)
    rota.assign(s, None, actor=site.coordinator)
    db.session.commit()
    return s


def test_each_route_of_a_real_fill_is_told_apart(client, make, bearer, fake_twilio):  # noqa: F811
    from insights import service

    site = ladder_site.build(make, mobiles=True)
    in_app, on_card, by_bank, by_sms, by_coordinator = (_opened(site, d) for d in (3, 4, 5, 6, 7))

    assert client.post(f"/api/v1/shifts/{in_app.id}/claim", headers=bearer(make.token(site.on_ward))).status_code == 200
    card = db.session.scalar(select(Post).where(Post.card_type == "shift", Post.card_ref == on_card.id))
    claimed = client.post(f"/api/v1/posts/{card.id}/claim", headers=bearer(make.token(site.on_both)))
    assert claimed.status_code == 200 and claimed.get_json()["outcome"] == "claimed"
    assert client.post(f"/api/v1/shifts/{by_bank.id}/claim", headers=bearer(make.token(site.in_bank))).status_code \
        == 200
    b = broadcasts.create(site.ward, site.coordinator, audience="neighbouring_wards",
                          params={"shift_id": by_sms.id}, reference=f"shift:{by_sms.id}", kind="open_shift",
                          text="Early on Ward 7B needs a nurse", link="/open-shifts", channels=("in_app", "sms"),
                          urgent=True)
    db.session.commit()
    worker.run(once=True)
    code = db.session.scalar(select(BroadcastRecipient.code).where(BroadcastRecipient.broadcast_id == b.id,
                                                                   BroadcastRecipient.user_id == site.next_door.id))
    reply = signed_post(client, "/webhooks/twilio/inbound", {"From": site.next_door.mobile, "To": "+44",
                                                             "Body": f"YES {code}"})
    assert "Thanks: you now work" in reply.get_data(as_text=True)
    rota.assign(db.session.get(type(by_coordinator), by_coordinator.id), site.on_ward, actor=site.coordinator)
    db.session.commit()

    today = now_utc().date()
    period = service.period_for(today - timedelta(days=1), today + timedelta(days=1), site.ward.timezone)
    m = service.measures([site.ward.id], period)[site.ward.id].open_shifts

    assert (m["created"], m["filled"]) == (5, 5)
    assert m["by_how"] == {"app": 2, "card": 1, "sms": 1, "coordinator": 1}
    assert m["by_where"] == {"own": 3, "bank": 1, "neighbour": 1}
