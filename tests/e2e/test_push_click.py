"""#16: a tap on a shown push notification opens the right page, and its "I'll take it" button takes the shift.
A real cover request for an open Night (the coordinator's one-tap "Ask for cover"), its push payload delivered to the
service worker with the DevTools protocol (``ServiceWorker.deliverPushMessage``), the notification it shows clicked by
dispatching ``notificationclick`` in the worker itself: the phone lands on the open shift with its "I'll take it"
button, and the tap took it; or the notification's own button takes it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.db import db
from notifications import push, service
from notifications.models import Notification, OutboxMessage, OutboxState
from rota.swaps import home
from tests.e2e.test_pwa import KEYS, deliver, service_worker_of
from tests.rota.swaps import factories as data


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, **KEYS}


CLICK = """() => self.registration.getNotifications().then(list => {
  if (list.length !== 1) { return 'notifications shown: ' + list.length; }
  // The handler runs as for a tap (a synthetic event is not trusted, so its waitUntil() throws after the page
  // has been asked to open: that error is expected and ignored here).
  try { self.dispatchEvent(new NotificationEvent('notificationclick', {notification: list[0]})); }
  catch (e) { /* see above */ }
  return 'clicked';
})"""


def test_a_tap_on_the_pushed_cover_request_opens_the_open_shift_with_i_ll_take_it(app, browser, live_server, make,
                                                                                phone):
    w = data.ward(make, 2)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=6)
    night = data.shift(w.team, starts_at=start, hours=12, stype=data.night(w.team))  # nobody on it: a gap
    home.ask_cover(night, actor=w.coordinator)
    db.session.commit()
    nurse = w.staff[0]
    note = db.session.scalar(select(Notification).where(Notification.user_id == nurse.id))
    assert note is not None and note.link, "the cover request should notify the nurse with a link"
    # The push the worker would send for that notification (the same link), as the outbox row it comes from.
    msg = OutboxMessage(user_id=nurse.id, channel=service.PUSH, kind=note.kind, text="Cover needed: Night tonight",
                        link=note.link, state=OutboxState.sent, attempts=1)
    db.session.add(msg)
    db.session.commit()
    payload = push.build_payload(outbox_id=msg.id, user_id=nurse.id, text="Cover needed: Night tonight",
                                 urgent=True).decode()
    night_id, nurse_id, email, msg_id = night.id, nurse.id, nurse.email, msg.id
    db.session.commit()

    cdp, reg_id = service_worker_of(phone, live_server, email)
    worker = deliver(phone, live_server, cdp, reg_id, payload)
    assert worker.evaluate(CLICK) == "clicked"

    # The page the tap opened: the open Night, with the button that takes it.
    take = phone.get_by_test_id("received-action")
    expect(take).to_have_text("I'll take it")
    assert "Night" in phone.locator("main").inner_text()
    db.session.expire_all()
    assert db.session.get(OutboxMessage, msg_id).opened_at is not None  # the tap counts as "opened"
    db.session.commit()
    take.click()  # and the second tap takes the shift
    expect(phone.locator("body")).to_contain_text(re.compile(r"It's yours: you now work Night"))
    assert data.holder(night_id) == nurse_id


BUTTON = """() => self.registration.getNotifications().then(list => {
  if (list.length !== 1) { return 'notifications shown: ' + list.length; }
  const buttons = (list[0].actions || []).map(a => a.title).join(',');
  // A tap on the notification's "I'll take it" button (synthetic, so its waitUntil() throws once the handler has
  // posted the action: expected, see CLICK).
  try { self.dispatchEvent(new NotificationEvent('notificationclick', {notification: list[0], action: 'take'})); }
  catch (e) { /* see above */ }
  return buttons;
})"""


def test_the_i_ll_take_it_button_on_the_pushed_notification_takes_the_shift(app, browser, live_server, make, phone):
    from notifications.push_first import prepare

    w = data.ward(make, 2)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=6)
    night = data.shift(w.team, starts_at=start, hours=12, stype=data.night(w.team))
    b = home.ask_cover(night, actor=w.coordinator)  # the coordinator's one tap: an open_shift broadcast
    db.session.commit()
    nurse = w.staff[0]
    # The push row the broadcast queued for her would carry this payload; built as the worker builds it.
    msg = OutboxMessage(user_id=nurse.id, channel=service.PUSH, kind="broadcast", text="Cover needed: Night tonight",
                        link=b.link, broadcast_id=b.id, state=OutboxState.sent, attempts=1)
    db.session.add(msg)
    db.session.commit()
    payload = prepare([msg])[msg.id]["payload"].decode()
    night_id, nurse_id, email, msg_id = night.id, nurse.id, nurse.email, msg.id
    db.session.commit()

    cdp, reg_id = service_worker_of(phone, live_server, email)
    worker = deliver(phone, live_server, cdp, reg_id, payload)
    assert worker.evaluate(BUTTON) == "I'll take it"
    def taken():
        who = data.holder(night_id)
        db.session.commit()  # SQLite: no read transaction left open to hold the server's write lock
        return who == nurse_id

    for _ in range(100):  # the service worker posts the action; rota's claim service takes the shift
        if taken():
            break
        phone.wait_for_timeout(100)
    assert taken()
    db.session.expire_all()
    assert db.session.get(OutboxMessage, msg_id).opened_at is not None
    db.session.commit()
    # The answer is shown as a notification in place of the first.
    answer = ""
    for _ in range(100):
        answer = worker.evaluate("() => self.registration.getNotifications().then(n => n.map(x => x.body).join('|'))")
        if "you now work Night" in answer:
            break
        phone.wait_for_timeout(50)
    assert "you now work Night" in answer
