"""What a channel sends to phones (issue #17): a per-person, per-channel level (every post / mentions only, the
default / nothing = muted), mentions by push and by SMS only for those who chose it, quiet hours respected, all
through the outbox (push first, SMS as the fallback) — with the real sender against the local push service and the
Twilio fake. Payloads name the team, channel and author, never the post's words. Plus the mute and notification
API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from channels import reading, services
from channels.models import ReadPosition
from core import timeutil
from core.db import db, now_utc
from notifications import worker
from notifications.models import NotificationPreference, OutboxMessage, OutboxState
from rota import services as rota
from tests.conftest import count_queries, login
from tests.factories import ward
from tests.notifications.conftest import _twilio_server, fake_twilio, twilio_config  # noqa: F401  (fixtures)
from tests.notifications.test_push import KEYS, _push_server, device, push_service  # noqa: F401  (fixtures)
from tests.rota.swaps.factories import settings, shift, soon


@pytest.fixture
def app_config(database_url, _twilio_server):  # noqa: F811
    # generous timeouts: on a busy shared machine a 0.5 s push could time out and be retried later
    return {**twilio_config(_twilio_server), **KEYS, "VAPID_SUBJECT": "mailto:ops@trust.example",
            "PUSH_TIMEOUT_SECONDS": 5, "TWILIO_TIMEOUT_SECONDS": 5}


def _no_quiet_hours(*users):
    """Sends "now" must not depend on when the suite runs (22:00-07:00 is quiet by default)."""
    for u in users:
        db.session.merge(NotificationPreference(user_id=u.id, sms_enabled=True, quiet_start="00:00",
                                                quiet_end="00:00", daily_sms_cap=10))
    db.session.commit()


@pytest.fixture
def team(client, make, bearer):
    team, coord, (a, b, c), _ = ward(make, name="Ward 7B")
    _no_quiet_hours(coord, a, b, c)
    channel = client.get(f"/api/v1/teams/{team.id}/channels", headers=bearer(make.token(a))).get_json()[0]
    return team, coord, a, b, c, channel


def _post(client, bearer, make, user, channel, text):
    resp = client.post(f"/api/v1/channels/{channel['id']}/posts", json={"text": text}, headers=bearer(make.token(user)))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _at(user) -> str:
    return "@" + user.display_name.replace(" ", "").lower()  # "@person3": the whole name, one person


def _level(client, bearer, make, user, channel, **body):
    resp = client.put(f"/api/v1/channels/{channel['id']}/notifications", json=body, headers=bearer(make.token(user)))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_ordinary_posts_reach_only_people_who_chose_every_post_and_say_nothing_of_the_text(
        client, make, bearer, team, push_service):  # noqa: F811
    t, coord, a, b, c, channel = team
    sub_b, sub_c = device(b, push_service), device(c, push_service)
    assert client.get(f"/api/v1/channels/{channel['id']}/notifications",
                      headers=bearer(make.token(c))).get_json() == {
        "channel_id": channel["id"], "level": "mentions", "default": True, "sms_mentions": False, "muted": False}
    _level(client, bearer, make, b, channel, level="all")
    post = _post(client, bearer, make, a, channel, "Bladder scanner is back in the sluice")
    worker.run(once=True)
    [payload] = push_service.payloads_for(sub_b)
    assert payload["b"] == f"New post in Ward 7B › Team from {a.display_name}."
    assert payload["u"].startswith("/p/")  # opens the post (the outbox's tracked link)
    assert "scanner" not in str(push_service.received_payloads())
    assert push_service.payloads_for(sub_c) == []  # c kept the default: mentions only
    link = db.session.scalar(select(OutboxMessage.link).where(OutboxMessage.user_id == b.id))
    assert link == f"/channels/{channel['id']}#post-{post['id']}"
    # replies reach "all" too; the author never hears of their own post
    client.post(f"/api/v1/posts/{post['id']}/replies", json={"text": "Thanks"}, headers=bearer(make.token(b)))
    worker.run(once=True)
    assert len(push_service.payloads_for(sub_b)) == 1


def test_rota_cards_are_pushed_to_people_who_chose_every_post_without_the_cards_words(
        client, make, bearer, team, push_service):  # noqa: F811
    t, coord, a, b, c, channel = team
    sub_b, sub_c = device(b, push_service), device(c, push_service)
    _level(client, bearer, make, b, channel, level="all")
    settings(t)
    s = shift(t, starts_at=soon(3), assignee=a)
    rota.assign(s, None, actor=coord)  # a's shift becomes open: a card goes up in the team channel
    db.session.commit()
    worker.run(once=True)
    [payload] = push_service.payloads_for(sub_b)
    assert payload["b"] == "An open shift in Ward 7B › Team."
    assert "needs cover" not in str(push_service.received_payloads())
    assert push_service.payloads_for(sub_c) == []  # c kept the default: mentions only
    card = client.get(f"/api/v1/channels/{channel['id']}/posts", headers=bearer(make.token(b))).get_json()["items"][0]
    assert card["kind"] == "card"
    link = db.session.scalar(select(OutboxMessage.link).where(OutboxMessage.user_id == b.id))
    assert link == f"/channels/{channel['id']}#post-{card['id']}"


def test_mentions_push_to_everyone_mentioned_and_text_only_those_who_chose_sms(
        client, make, bearer, team, push_service, fake_twilio):  # noqa: F811
    t, coord, a, b, c, channel = team
    for u, number in ((b, "+447700900101"), (c, "+447700900102")):
        u.mobile = number
    db.session.commit()
    sub_b = device(b, push_service)
    _level(client, bearer, make, c, channel, sms_mentions=True)  # c: no push device, chose SMS for mentions
    _post(client, bearer, make, a, channel, f"{_at(b)} {_at(c)} can one of you cover the break at 3?")
    worker.run(once=True)
    [payload] = push_service.payloads_for(sub_b)
    assert payload["b"] == f"{a.display_name} mentioned you in Ward 7B › Team."
    assert fake_twilio.bodies_to("+447700900102")  # chose SMS, has no device: texted now
    assert "cover the break" not in fake_twilio.bodies_to("+447700900102")[0]
    assert not fake_twilio.bodies_to("+447700900101")  # b did not choose SMS
    # b now chooses SMS too: with a device it is push first, the text only the fallback
    _level(client, bearer, make, b, channel, sms_mentions=True)
    _post(client, bearer, make, a, channel, f"{_at(b)} thanks!")
    worker.run(once=True)
    assert len(push_service.payloads_for(sub_b)) == 2 and not fake_twilio.bodies_to("+447700900101")
    [waiting] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == b.id,
                                                               OutboxMessage.channel == "sms")).all()
    assert waiting.state == OutboxState.pending and waiting.fallback_of_id is not None


def test_a_muted_channel_sends_nothing_for_posts_but_mentions_still_reach(client, make, bearer, team, push_service):  # noqa: F811
    t, coord, a, b, c, channel = team
    sub_b = device(b, push_service)
    _level(client, bearer, make, b, channel, level="all")
    muted = client.put(f"/api/v1/channels/{channel['id']}/mute", headers=bearer(make.token(b)))
    assert muted.status_code == 200 and muted.get_json()["level"] == "none" and muted.get_json()["muted"]
    _post(client, bearer, make, a, channel, "Cake in the staff room")
    worker.run(once=True)
    assert push_service.payloads_for(sub_b) == []
    assert client.get(f"/api/v1/teams/{t.id}/channels", headers=bearer(make.token(b))).get_json()[0]["unread"] == 0
    _post(client, bearer, make, a, channel, f"{_at(b)} your locker key?")
    worker.run(once=True)
    assert [p["b"] for p in push_service.payloads_for(sub_b)] == [f"{a.display_name} mentioned you in Ward 7B › Team."]
    unmuted = client.delete(f"/api/v1/channels/{channel['id']}/mute", headers=bearer(make.token(b))).get_json()
    assert unmuted["level"] == "mentions" and not unmuted["muted"] and unmuted["default"]


def test_quiet_hours_hold_a_channel_push_until_they_end(client, make, bearer, team, push_service):  # noqa: F811
    t, coord, a, b, c, channel = team
    sub_b = device(b, push_service)
    _level(client, bearer, make, b, channel, level="all")
    local = now_utc().astimezone(timeutil.zone(t.timezone))
    start, end = (local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=1)).strftime("%H:%M")
    db.session.merge(NotificationPreference(user_id=b.id, sms_enabled=True, quiet_start=start, quiet_end=end,
                                            daily_sms_cap=10))
    db.session.commit()
    _post(client, bearer, make, a, channel, "Handover at 7:30 sharp")
    worker.run(once=True)
    assert push_service.payloads_for(sub_b) == []
    held = db.session.scalar(select(OutboxMessage).where(OutboxMessage.user_id == b.id))
    assert held.state == OutboxState.pending
    due = held.next_attempt_at.astimezone(timeutil.zone(t.timezone))
    assert due.strftime("%H:%M") == end and due > local


@pytest.mark.parametrize("body", [{"level": "loud"}, {"level": 3}, {"sms_mentions": "often"}, {"colour": "red"},
                                  []])
def test_bad_notification_settings_are_a_problem_and_change_nothing(client, make, bearer, team, body):
    t, coord, a, b, c, channel = team
    url = f"/api/v1/channels/{channel['id']}/notifications"
    resp = client.put(url, json=body, headers=bearer(make.token(b)))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", resp.get_json()
    assert client.get(url, headers=bearer(make.token(b))).get_json()["default"] is True


def test_people_outside_the_channel_get_403_on_mute_and_notification_settings(client, make, bearer, team):
    t, coord, a, b, c, channel = team
    outsider = make.user()
    make.team(staff=[outsider])
    token = make.token(outsider)
    url = f"/api/v1/channels/{channel['id']}"
    for resp in (client.get(url + "/notifications", headers=bearer(token)),
                 client.put(url + "/notifications", json={"level": "all"}, headers=bearer(token)),
                 client.put(url + "/mute", headers=bearer(token)),
                 client.delete(url + "/mute", headers=bearer(token))):
        assert resp.status_code == 403 and resp.mimetype == "application/problem+json"


def test_the_channel_page_sets_the_level(app, client, make, team):
    app.config["WTF_CSRF_ENABLED"] = False
    t, coord, a, b, c, channel = team
    login(client, b)
    page = client.get(f"/channels/{channel['id']}").get_data(as_text=True)
    assert 'data-testid="notify-level"' in page
    resp = client.post(f"/channels/{channel['id']}/notifications", data={"level": "all", "sms_mentions": "y"})
    assert resp.status_code == 302
    page = client.get(f"/channels/{channel['id']}").get_data(as_text=True)
    assert re.search(r'<option (selected )?value="all"( selected)?>', page).group(0) != '<option value="all">'
    row = db.session.get(ReadPosition, (channel["id"], b.id))
    assert (row.notify_level, row.sms_mentions) == ("all", True)


def test_mute_and_notifications_are_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert {"put", "delete"} <= set(paths["/api/v1/channels/{channel_id}/mute"])
    assert {"get", "put"} <= set(paths["/api/v1/channels/{channel_id}/notifications"])
    assert "post" in paths["/api/v1/channels/{channel_id}/attachments"]
    assert "get" in paths["/api/v1/attachments/{attachment_id}"]



def test_pushing_a_post_to_a_60_or_120_person_team_costs_the_same_queries(app, make, push_service):  # noqa: F811
    def queries_to_post(size: int) -> int:
        coord = make.user()
        staff = [make.user() for _ in range(size)]
        team = make.team(coordinators=[coord], staff=staff)
        _no_quiet_hours(*staff)
        channel = services.team_channel(team)
        for u in staff:
            device(u, push_service)
            reading.set_notifications(channel, u, level="all")
        db.session.commit()
        with count_queries() as statements:
            services.post(channel, coord, "Staff meeting moved to 14:00")
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.team_id == team.id, OutboxMessage.kind == "channel.post")) == size
        return len(statements)

    # (from 50 recipients notifications.service writes in bulk; below that it adds ORM rows one by one)
    assert queries_to_post(60) == queries_to_post(120)


def test_an_urgent_post_reaches_a_member_who_muted_the_channel_at_once_even_in_quiet_hours(
        client, make, bearer, team, push_service, fake_twilio):  # noqa: F811
    """Mentions and urgent posts always notify: a muted channel and quiet hours hold ordinary posts, not an urgent
    one. Through the worker, with the real push sender and the Twilio fake; neither says the post's words."""
    t, coord, a, b, c, channel = team
    b.mobile, c.mobile = "+447700900201", "+447700900202"
    db.session.commit()
    sub_b = device(b, push_service)  # b: a phone with push; c: SMS only
    local = now_utc().astimezone(timeutil.zone(t.timezone))
    quiet = {"quiet_start": (local - timedelta(hours=1)).strftime("%H:%M"),
             "quiet_end": (local + timedelta(hours=1)).strftime("%H:%M")}
    for u in (b, c):
        db.session.merge(NotificationPreference(user_id=u.id, sms_enabled=True, daily_sms_cap=10, **quiet))
    db.session.commit()
    for u in (b, c):
        assert client.put(f"/api/v1/channels/{channel['id']}/mute", headers=bearer(make.token(u))).status_code == 200

    _post(client, bearer, make, a, channel, "Cake in the staff room")  # ordinary: held for b, nothing for c
    worker.run(once=True)
    assert push_service.payloads_for(sub_b) == [] and not fake_twilio.bodies_to("+447700900202")

    resp = client.post(f"/api/v1/channels/{channel['id']}/posts", headers=bearer(make.token(coord)),
                       json={"text": "Resus trolley missing from bay 2, check yours", "urgent": True})
    assert resp.status_code == 201, resp.get_json()
    worker.run(once=True)
    [payload] = push_service.payloads_for(sub_b)
    assert "Urgent post from" in payload["b"] and "Resus" not in str(push_service.received_payloads())
    [text] = fake_twilio.bodies_to("+447700900202")
    assert "Urgent post from" in text and "Resus" not in text and "Reply OK" in text

    # a mention of muted b in quiet hours still reaches b, when the quiet hours end (an urgent post does not wait)
    _post(client, bearer, make, a, channel, f"{_at(b)} your locker key?")
    worker.run(once=True)
    assert len(push_service.payloads_for(sub_b)) == 1
    held = db.session.scalar(select(OutboxMessage).where(OutboxMessage.user_id == b.id,
                                                         OutboxMessage.kind == "channel.mention"))
    assert held.state == OutboxState.pending
    assert held.next_attempt_at.astimezone(timeutil.zone(t.timezone)).strftime("%H:%M") == quiet["quiet_end"]
