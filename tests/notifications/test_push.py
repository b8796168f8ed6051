"""Web Push through the outbox: the real pywebpush sender against the local push service, which checks VAPID and
decrypts every payload as a browser's push service and the browser would."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core import timeutil
from core.db import db, now_utc
from notifications import broadcasts, push, push_first, service, worker
from notifications.models import OutboxMessage, OutboxState, PushPolicy, PushSubscription
from notifications.service import IN_APP, SMS, notify
from tests.conftest import TEST_PASSWORD, login
from tests.notifications.conftest import twilio_config
from tests.notifications.push_service import PushService

KEYS = push.generate_keys()
MOBILE = "+447700900456"


@pytest.fixture(scope="session")
def _push_server():
    server = PushService(expected_key=KEYS["VAPID_PUBLIC_KEY"])
    yield server
    server.close()


@pytest.fixture
def push_service(_push_server):
    _push_server.reset()
    yield _push_server
    _push_server.reset()


@pytest.fixture
def app_config(database_url, _twilio_server):
    return {**twilio_config(_twilio_server), **KEYS, "VAPID_SUBJECT": "mailto:ops@trust.example",
            "PUSH_TIMEOUT_SECONDS": 5}  # generous: a slow answer under load is sent again (as it must be)


def device(user, push_service, name="This phone"):
    sub = push_service.subscribe()
    push.subscribe(user, sub.info, name=name, session_id=None, user_agent="test")
    db.session.commit()
    return sub


def rows(channel=None):
    stmt = select(OutboxMessage).order_by(OutboxMessage.id)
    if channel:
        stmt = stmt.where(OutboxMessage.channel == channel)
    return list(db.session.scalars(stmt))


# -------------------------------------------------------------------------------------------- keys, devices


def test_push_keys_are_written_once_into_the_instance_folder(app, runner, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    first = runner.invoke(args=["push", "keys"])
    assert first.exit_code == 0 and "Wrote" in first.output
    keys = json.loads((tmp_path / "vapid.json").read_text())
    assert len(push._unb64(keys["VAPID_PUBLIC_KEY"])) == 65 and len(push._unb64(keys["VAPID_PRIVATE_KEY"])) == 32
    assert oct((tmp_path / "vapid.json").stat().st_mode & 0o777) == "0o600"
    again = runner.invoke(args=["push", "keys"])
    assert "Kept the existing" in again.output
    assert json.loads((tmp_path / "vapid.json").read_text()) == keys


def test_push_keys_come_from_the_environment_else_from_the_instance_file(database_url, tmp_path, monkeypatch):
    from app import create_app
    from tests.conftest import base_config

    env = push.generate_keys()
    for key, value in {**env, "VAPID_SUBJECT": "mailto:servicedesk@trust.example",
                       "PUSH_SUBSCRIBE_TIMEOUT_SECONDS": "30"}.items():
        monkeypatch.setenv(key, value)
    config = push.push_config(create_app(base_config(database_url)))
    assert (config.private_key, config.public_key) == (env["VAPID_PRIVATE_KEY"], env["VAPID_PUBLIC_KEY"])
    assert config.subject == "mailto:servicedesk@trust.example"
    for key in (*env, "VAPID_SUBJECT", "PUSH_SUBSCRIBE_TIMEOUT_SECONDS"):
        monkeypatch.delenv(key)
    path, created = push.write_keys(str(tmp_path))  # `flask push keys`
    app = create_app(base_config(database_url))
    app.instance_path = str(tmp_path)
    for key in env:
        app.config.pop(key, None)
    push.load_env_into(app)
    assert created and push.push_config(app).private_key == json.loads(path.read_text())["VAPID_PRIVATE_KEY"]


def test_a_browser_subscribes_and_the_profile_lists_it(app, client, make, push_service):
    nurse = make.user()
    login(client, nurse)
    sub = push_service.subscribe()
    resp = client.post("/profile/push/subscribe", json={"subscription": sub.info, "name": "Work PC"})
    assert resp.status_code == 201
    [row] = db.session.scalars(select(PushSubscription)).all()
    assert row.user_id == nurse.id and row.name == "Work PC" and row.session_id is not None
    page = client.get("/profile").get_data(as_text=True)
    assert "Work PC" in page and 'data-testid="push-remove"' in page
    assert KEYS["VAPID_PUBLIC_KEY"] in page  # the key the browser subscribes with


def test_the_profile_says_when_each_device_was_last_used_in_local_time(app, client, make, push_service):
    from datetime import UTC, datetime

    nurse = make.user()
    device(nurse, push_service, "This phone")
    device(nurse, push_service, "Work PC")
    db.session.execute(update(PushSubscription).where(PushSubscription.name == "Work PC")
                       .values(last_used_at=datetime(2026, 7, 1, 23, 30, tzinfo=UTC)))  # BST: 2 July, 00:30
    db.session.commit()
    login(client, nurse)
    page = client.get("/profile").get_data(as_text=True)
    rows_ = {name: page[page.index(f"<td>{name}"):][:600] for name in ("This phone", "Work PC")}
    assert "not yet" in rows_["This phone"]
    assert "02 Jul 2026 00:30" in rows_["Work PC"] and "UTC" not in rows_["Work PC"]


def test_another_users_subscription_is_refused(app, client, make, push_service):
    owner, other = make.user(), make.user()
    sub = device(owner, push_service)
    login(client, other)
    resp = client.post("/profile/push/subscribe", json={"subscription": sub.info},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 403
    assert resp.mimetype == "application/problem+json"
    assert [s.user_id for s in db.session.scalars(select(PushSubscription))] == [owner.id]


@pytest.mark.parametrize("bad", [
    None, "x", {"endpoint": "ftp://x/y"}, {"endpoint": "https://push.example/abc", "keys": {"p256dh": "AAAA"}},
    {"endpoint": "https://push.example/abc", "keys": {"p256dh": "not base64!", "auth": "also bad"}},
    {"endpoint": "http://push.example.com/abc", "keys": {}},
    {**PushService.example_info(), "expirationTime": 1_000_000},  # expired in 1970
    {**PushService.example_info(), "expirationTime": "soon"},
])
def test_a_malformed_subscription_is_a_problem_not_a_500(app, client, make, bad):
    login(client, make.user())
    resp = client.post("/profile/push/subscribe", json={"subscription": bad}, headers={"Accept": "application/json"})
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert db.session.scalars(select(PushSubscription)).all() == []


def test_removing_a_device_from_the_profile(app, client, make, push_service):
    nurse, other = make.user(), make.user()
    device(nurse, push_service)
    theirs = device(other, push_service)
    login(client, nurse)
    mine = db.session.scalar(select(PushSubscription).where(PushSubscription.user_id == nurse.id))
    their_row = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == theirs.endpoint))
    assert client.post(f"/profile/push/{their_row.id}/remove").status_code == 404
    assert client.post(f"/profile/push/{mine.id}/remove").status_code == 302
    assert [s.user_id for s in db.session.scalars(select(PushSubscription))] == [other.id]


def test_signing_out_removes_that_browsers_device_only(app, client, make, push_service):
    nurse = make.user()
    device(nurse, push_service, "Work PC")  # subscribed from another browser
    login(client, nurse)
    client.post("/profile/push/subscribe", json={"subscription": push_service.subscribe().info, "name": "Phone"})
    client.post("/auth/logout")
    assert [s.name for s in db.session.scalars(select(PushSubscription))] == ["Work PC"]


def test_password_change_and_deactivation_remove_every_device(app, client, make, push_service):
    nurse, admin = make.user(), make.admin()
    device(nurse, push_service)
    device(nurse, push_service)
    login(client, nurse)
    resp = client.post("/profile/password", data={"pw-current_password": TEST_PASSWORD,
                                                  "pw-new_password": "a much longer new passphrase",
                                                  "pw-confirm": "a much longer new passphrase"})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert db.session.scalars(select(PushSubscription)).all() == []
    device(nurse, push_service)
    other = app.test_client()
    login(other, admin)
    assert other.post(f"/admin/users/{nurse.id}/deactivate").status_code == 302
    assert db.session.scalars(select(PushSubscription)).all() == []


# ------------------------------------------------------------------------------------------------- sending


def test_a_notification_is_pushed_encrypted_with_a_valid_vapid_token(app, make, push_service):
    nurse = make.user()
    phone, pc = device(nurse, push_service), device(nurse, push_service, "Work PC")
    notify([nurse.id], kind="swap.accepted", text="Your swap for Thu night was accepted", link="/swaps/12")
    db.session.commit()
    stats = worker.run(once=True)
    assert stats.sent == 1 and push_service.refused == []
    [msg] = rows(service.PUSH)
    for sub in (phone, pc):
        [payload] = push_service.payloads_for(sub)
        assert payload["b"] == "Your swap for Thu night was accepted"
        assert payload["u"] == f"/p/{msg.id}"
        assert push.read_token(payload["k"]) == (msg.id, nurse.id)
    got = push_service.received[0]
    assert got["claims"]["aud"] == push_service.url and got["claims"]["sub"] == "mailto:ops@trust.example"
    assert got["ttl"] == push.TTL_NORMAL and got["urgency"] == "normal"
    assert msg.state == OutboxState.sent
    assert all(s.last_used_at is not None for s in db.session.scalars(select(PushSubscription)))


def test_urgent_messages_are_high_urgency_with_a_short_ttl(app, make, push_service):
    nurse = make.user()
    device(nurse, push_service)
    notify([nurse.id], kind="k", text="Ward 7B needs a nurse now", urgent=True)
    db.session.commit()
    worker.run(once=True)
    [got] = push_service.received
    assert got["urgency"] == "high" and got["ttl"] == push.TTL_URGENT


@pytest.mark.parametrize("answer", ["404", "410"])
def test_a_gone_subscription_is_deleted_and_the_others_still_receive(app, make, push_service, answer):
    nurse = make.user()
    old, new = device(nurse, push_service, "Old phone"), device(nurse, push_service, "New phone")
    push_service.answer_next(answer, sub=old)
    notify([nurse.id], kind="k", text="Rota published")
    db.session.commit()
    worker.run(once=True)
    assert [s.name for s in db.session.scalars(select(PushSubscription))] == ["New phone"]
    assert len(push_service.payloads_for(new)) == 1
    assert rows(service.PUSH)[0].state == OutboxState.sent


def test_the_last_device_gone_fails_the_push_for_good(app, make, push_service):
    nurse = make.user()
    sub = device(nurse, push_service)
    push_service.unsubscribe(sub)
    notify([nurse.id], kind="k", text="Rota published")
    db.session.commit()
    worker.run(once=True)
    [msg] = rows(service.PUSH)
    assert msg.state == OutboxState.failed and msg.error_code == "gone" and msg.attempts == 1
    assert db.session.scalars(select(PushSubscription)).all() == []


@pytest.mark.parametrize("answers", [("429",), ("500",), ("503", "429"), ("hang",)])
def test_transient_answers_are_retried_with_backoff_until_accepted(app, make, push_service, answers):
    app.config["PUSH_TIMEOUT_SECONDS"] = 1.5
    push_service.hang_seconds = 2.5  # longer than PUSH_TIMEOUT_SECONDS
    nurse = make.user()
    sub = device(nurse, push_service)
    push_service.answer_next(*answers)
    notify([nurse.id], kind="k", text="Ward meeting moved to 14:00")
    db.session.commit()
    stats = worker.run(once=True)
    [msg] = rows(service.PUSH)
    assert msg.state == OutboxState.sent and msg.attempts == len(answers) + 1
    assert stats.retried == len(answers)
    assert len(push_service.payloads_for(sub)) == 1


def test_a_push_service_out_of_reach_neither_holds_up_texts_nor_is_called_the_sms_provider(
        app, make, push_service, fake_twilio, caplog, monkeypatch):
    """The phone's push service (Google's, Apple's, Mozilla's) cannot be reached, Twilio can: the pushes wait without
    using attempts, the worker's log says it is the push service, and the texts keep going out at once (the worker
    backs off claiming pushes only: here up to 30 s, far longer than the run)."""
    import logging

    monkeypatch.setattr(worker.log, "disabled", False)  # alembic's fileConfig (run in-process by the fixtures)
    monkeypatch.setattr(worker.PROVIDERS[service.PUSH], "since", None)  # an outage is the process's: start afresh
    app.config["NOTIFICATIONS_PROVIDER_RETRY_CAP_SECONDS"] = 30
    nurse, other = make.user(), make.user(mobile=MOBILE)
    push.subscribe(nurse, {**PushService.example_info(), "endpoint": "http://127.0.0.1:9/push/gone-away"},
                   name="This phone", session_id=None, user_agent="test")
    notify([nurse.id], kind="k", text="Rota published", urgent=True)
    notify([other.id], kind="k", text="Cover needed tonight", channels=(SMS,), urgent=True)
    db.session.execute(update(OutboxMessage).where(OutboxMessage.channel == SMS)  # due once pushes have failed
                       .values(next_attempt_at=now_utc() + timedelta(seconds=3)))
    db.session.commit()
    with caplog.at_level(logging.INFO, logger="notifications.worker"):
        worker.run(max_seconds=6, idle_sleep=0.05)
    assert fake_twilio.bodies_to(MOBILE)  # not held back by the push service's outage
    [pushed] = rows(service.PUSH)
    assert pushed.state == OutboxState.pending and pushed.attempts == 0
    assert "push service unreachable" in caplog.text and "SMS provider unreachable" not in caplog.text


def test_413_is_permanent(app, make, push_service):
    nurse = make.user()
    device(nurse, push_service)
    push_service.answer_next("413")
    notify([nurse.id], kind="k", text="Ward meeting moved to 14:00")
    db.session.commit()
    worker.run(once=True)
    [msg] = rows(service.PUSH)
    assert msg.state == OutboxState.failed and msg.error_code == "too_large" and msg.attempts == 1


def test_a_payload_over_4kb_is_shortened_before_sending_and_keeps_its_link():
    from flask import Flask

    app = Flask("t")
    app.config["SECRET_KEY"] = "k"
    with app.app_context():
        data = push.build_payload(outbox_id=7, user_id=3, text="Long message. " * 600, urgent=False,
                                  actions=[("take", "I'll take it")])
    assert len(data) <= push.MAX_PAYLOAD
    body = json.loads(data)
    assert body["u"] == "/p/7" and body["b"].endswith("Tap to read it all.")


def test_a_payload_over_4kb_is_refused_before_anything_is_sent(app, make, push_service):
    # Outbox texts are at most 320 characters (notify), so the worker's payloads stay far below 4 KB; the sender
    # still refuses an oversize one itself rather than let the push service answer 413.
    sub = push_service.subscribe()
    sender = push.Sender(push.push_config())
    try:
        target = push.Target(1, sub.endpoint, sub.info["keys"]["p256dh"], sub.info["keys"]["auth"])
        result = sender.send([target], b"x" * (push.MAX_PAYLOAD + 1), urgent=False)
    finally:
        sender.close()
    assert result.ok is False and result.transient is False and result.error_code == "too_large"
    assert push_service.received == [] and push_service.refused == []  # nothing left the building


def test_no_device_no_push_row(app, make, push_service):
    nurse = make.user()
    notify([nurse.id], kind="k", text="Rota published")
    db.session.commit()
    assert rows() == []


# ----------------------------------------------------------------------------------------- from the device


def test_receipt_open_and_tap_open_the_exact_page(app, client, make, push_service):
    nurse = make.user()
    sub = device(nurse, push_service)
    notify([nurse.id], kind="swap.accepted", text="Your swap was accepted", link="/swaps/12")
    db.session.commit()
    worker.run(once=True)
    [payload] = push_service.payloads_for(sub)
    assert client.post("/webhooks/push/receipt", json={"k": payload["k"]}).status_code == 204
    assert client.post("/webhooks/push/receipt", json={"k": payload["k"] + "x"},
                       headers={"Accept": "application/json"}).status_code == 404
    [msg] = rows(service.PUSH)
    assert msg.state == OutboxState.delivered and msg.delivered_at is not None
    login(client, nurse)
    resp = client.get(payload["u"])
    assert resp.status_code == 302 and resp.headers["Location"] == "/swaps/12"
    db.session.refresh(msg)
    assert msg.opened_at is not None


def test_someone_elses_message_cannot_be_opened(app, client, make, push_service):
    nurse, other = make.user(), make.user()
    device(nurse, push_service)
    notify([nurse.id], kind="k", text="Rota published", link="/rota")
    db.session.commit()
    [msg] = rows(service.PUSH)
    login(client, other)
    assert client.get(f"/p/{msg.id}").status_code == 404


# --------------------------------------------------------------------------------------- push first, SMS net


def _team_broadcast(make, people, sms_after=None, **kw):
    boss = make.user()
    team = make.team(coordinators=[boss], staff=people)
    if sms_after is not None:
        db.session.add(PushPolicy(team_id=team.id, sms_after_minutes=sms_after, urgent_sms_after_minutes=2))
        db.session.commit()
    b = broadcasts.create(team, boss, audience="team", text="Night shift gap on Ward 7B tonight",
                          channels=(IN_APP, SMS), **kw)
    db.session.commit()
    return team, b


def _make_due(at=None):
    db.session.execute(update(OutboxMessage).where(OutboxMessage.state == OutboxState.pending)
                       .values(next_attempt_at=at or now_utc() - timedelta(seconds=1)))
    db.session.commit()


def test_push_first_sms_only_when_the_push_is_not_opened_in_time(app, client, make, push_service, fake_twilio):
    opens = make.user(mobile="+447700900001")
    ignores = make.user(mobile="+447700900002")
    no_device = make.user(mobile="+447700900003")
    sub_open, sub_ignore = device(opens, push_service), device(ignores, push_service)
    team, b = _team_broadcast(make, [opens, ignores, no_device], sms_after=10)
    worker.run(once=True)
    assert len(push_service.payloads_for(sub_open)) == 1 and len(push_service.payloads_for(sub_ignore)) == 1
    assert fake_twilio.bodies_to("+447700900003")  # no push device: SMS at once
    assert not fake_twilio.bodies_to("+447700900001") and not fake_twilio.bodies_to("+447700900002")
    waiting = {m.user_id: m for m in rows(SMS) if m.state == OutboxState.pending}
    assert set(waiting) == {opens.id, ignores.id}
    assert all(timedelta(minutes=9) < m.next_attempt_at - m.created_at <= timedelta(minutes=10, seconds=5)
               for m in waiting.values())
    login(client, opens)
    client.get(push_service.payloads_for(sub_open)[0]["u"])  # she taps it
    _make_due()  # ten minutes later
    worker.run(once=True)
    assert not fake_twilio.bodies_to("+447700900001")
    assert fake_twilio.bodies_to("+447700900002")
    states = {m.user_id: m.state for m in rows(SMS)}
    assert states[opens.id] == OutboxState.superseded
    report = broadcasts.report(b, team_boss(team))
    by_user = {p["user_id"]: p for p in report["recipients"]}
    assert by_user[opens.id]["reached_by"] == "push" and by_user[opens.id]["reached_at"] is not None
    assert by_user[ignores.id]["reached_by"] == "sms"
    assert by_user[no_device.id]["reached_by"] == "sms"
    assert by_user[opens.id]["status"] != "pending"  # no text was needed: not left looking unsent


def test_the_report_page_says_who_was_reached_by_what_in_the_teams_time(app, client, make, push_service,
                                                                          fake_twilio):
    from zoneinfo import ZoneInfo

    opens, texted = make.user(), make.user(mobile="+447700900004")
    sub = device(opens, push_service)
    team, b = _team_broadcast(make, [opens, texted])
    team.timezone = "Europe/Helsinki"  # two or three hours ahead of UTC, whatever the season
    db.session.commit()
    worker.run(once=True)
    tap = app.test_client()
    login(tap, opens)
    tap.get(push_service.payloads_for(sub)[0]["u"])
    login(client, team_boss(team))
    page = client.get(f"/broadcasts/{b.id}").get_data(as_text=True)
    cells = {uid: page[page.index(f'data-user-id="{uid}"'):].split('data-testid="reached-by">')[1].split("<")[0].strip()
             for uid in (opens.id, texted.id)}
    db.session.expire_all()
    by_user = {p["user_id"]: p for p in broadcasts.report(b, team_boss(team))["recipients"]}
    helsinki = ZoneInfo("Europe/Helsinki")
    assert cells[opens.id] == f"Push at {by_user[opens.id]['reached_at'].astimezone(helsinki):%H:%M}"
    assert cells[texted.id] == f"Text message at {by_user[texted.id]['reached_at'].astimezone(helsinki):%H:%M}"


def team_boss(team):
    from core.accounts import Membership, TeamRole, User

    return db.session.scalar(select(User).join(Membership).where(Membership.team_id == team.id,
                                                                 Membership.role == TeamRole.coordinator))


def test_a_failed_push_releases_its_sms_at_once(app, make, push_service, fake_twilio):
    nurse = make.user(mobile=MOBILE)
    sub = device(nurse, push_service)
    push_service.unsubscribe(sub)
    _team_broadcast(make, [nurse])
    worker.run(once=True)  # push fails for good (410): the safety net is due now
    worker.run(once=True)
    assert fake_twilio.bodies_to(MOBILE)


def test_acknowledging_in_the_app_also_stops_the_sms(app, make, push_service, fake_twilio):
    nurse = make.user(mobile=MOBILE)
    device(nurse, push_service)
    team, b = _team_broadcast(make, [nurse], requires_ack=True)
    worker.run(once=True)
    broadcasts.acknowledge(b, nurse)
    db.session.commit()
    _make_due()
    worker.run(once=True)
    assert not fake_twilio.bodies_to(MOBILE)


def test_quiet_hours_hold_a_non_urgent_push(app, make, push_service):
    from notifications.models import NotificationPreference

    nurse = make.user()
    device(nurse, push_service)
    # quiet from an hour ago to an hour ahead (a window across midnight too): "00:00–23:59" left out the last minute
    here = timeutil.to_local(now_utc(), "Europe/London")
    db.session.add(NotificationPreference(user_id=nurse.id, sms_enabled=True,
                                          quiet_start=f"{(here - timedelta(hours=1)):%H:%M}",
                                          quiet_end=f"{(here + timedelta(hours=1)):%H:%M}", daily_sms_cap=10))
    db.session.commit()
    notify([nurse.id], kind="k", text="Rota published")
    notify([nurse.id], kind="k", text="Ward 7B needs a nurse now", urgent=True)
    db.session.commit()
    worker.run(once=True)
    assert [p["b"] for p in push_service.received_payloads()] == ["Ward 7B needs a nurse now"]
    [held] = [m for m in rows(service.PUSH) if m.state == OutboxState.pending]
    assert held.next_attempt_at > now_utc() + timedelta(minutes=59)  # until her quiet hours end, as a text would
    _make_due()  # and when they have
    worker.run(once=True)
    assert [p["b"] for p in push_service.received_payloads()] == ["Ward 7B needs a nurse now", "Rota published"]


def test_the_take_button_goes_through_the_claim_handler(app, make, push_service, fake_registry):
    nurse = make.user()
    sub = device(nurse, push_service)
    calls = []

    def take(user_id, reference):
        calls.append((user_id, reference))
        return True, "It's yours: see My shifts."

    fake_registry.register_reply_handler("YES", take)
    boss = make.user()
    team = make.team(coordinators=[boss], staff=[nurse])
    broadcasts.create(team, boss, audience="team", text="Night shift gap tonight", kind="open_shift",
                      reference="shift:42", channels=(IN_APP,))
    db.session.commit()
    worker.run(once=True)
    [payload] = push_service.payloads_for(sub)
    assert payload["a"] == [["take", "I'll take it"]]
    resp = app.test_client().post("/webhooks/push/action", json={"k": payload["k"], "action": "take"})
    assert resp.get_json() == {"ok": True, "message": "It's yours: see My shifts."}
    assert calls == [(nurse.id, "shift:42")]
    assert push_first.act(payload["k"], "nonsense")[0] is False


def test_the_acknowledge_button_marks_the_broadcast_seen_as_the_page_does(app, make, push_service):
    nurse = make.user()
    sub = device(nurse, push_service)
    boss = make.user()
    team = make.team(coordinators=[boss], staff=[nurse])
    b = broadcasts.create(team, boss, audience="team", text="Fire drill at 14:00, please acknowledge",
                          requires_ack=True, channels=(IN_APP,))
    db.session.commit()
    worker.run(once=True)
    [payload] = push_service.payloads_for(sub)
    assert ["ack", "Acknowledge"] in payload["a"]
    resp = app.test_client().post("/webhooks/push/action", json={"k": payload["k"], "action": "ack"})
    assert resp.get_json() == {"ok": True, "message": "Thanks: marked as seen."}
    [rec] = [r for r in b.recipients if r.user_id == nurse.id]
    db.session.refresh(rec)
    assert rec.acknowledged_at is not None  # the report counts her as acknowledged, as after the page's button


def test_a_coordinator_sets_the_teams_wait_and_bad_minutes_change_nothing(app, client, make):
    boss, nurse = make.user(), make.user()
    team = make.team(coordinators=[boss], staff=[nurse])
    login(client, nurse)
    assert client.get(f"/teams/{team.id}/push-policy").status_code == 403
    client = app.test_client()
    login(client, boss)
    page = client.get(f"/teams/{team.id}/push-policy").get_data(as_text=True)
    assert 'value="15"' in page and 'value="5"' in page
    resp = client.post(f"/teams/{team.id}/push-policy", data={"minutes": "10", "urgent_minutes": "3"})
    assert resp.status_code == 200 and b"push-policy-saved" in resp.data
    assert push.delay_minutes(team.id, False) == 10 and push.delay_minutes(team.id, True) == 3
    for bad in ({"minutes": "0", "urgent_minutes": "3"}, {"minutes": "abc", "urgent_minutes": "3"},
                {"minutes": "5", "urgent_minutes": "9"}, {"minutes": "99999999999999", "urgent_minutes": "1"}):
        resp = client.post(f"/teams/{team.id}/push-policy", data=bad)
        assert resp.status_code == 422 and b"There is a problem" in resp.data
        assert bad["minutes"].encode() in resp.data  # what was typed is shown again
    db.session.expire_all()
    assert push.delay_minutes(team.id, False) == 10


def test_dont_ask_me_again_applies_to_push(app, make, push_service):
    nurse = make.user()
    sub = device(nurse, push_service)
    boss = make.user()
    team = make.team(coordinators=[boss], staff=[nurse])
    first = broadcasts.create(team, boss, audience="team", text="Night shift gap tonight", reference="shift:7",
                              kind="open_shift", channels=(IN_APP,))
    db.session.commit()
    broadcasts.mute(first, nurse)
    broadcasts.close(first, boss)
    db.session.commit()
    from core import accounts

    accounts.add_member(team, make.user())  # someone else is still asked
    db.session.commit()
    broadcasts.create(team, boss, audience="team", text="Still need someone tonight", reference="shift:7",
                      kind="open_shift", channels=(IN_APP,))
    db.session.commit()
    worker.run(once=True)
    assert [p["b"] for p in push_service.payloads_for(sub)] == ["Night shift gap tonight"]
