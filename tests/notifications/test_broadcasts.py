"""Broadcasts: audiences, recipient count, report, acknowledgement, mute, quiet hours, daily cap, escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core import accounts
from core.accounts import TeamRole
from core.db import db, now_utc
from notifications import broadcasts, service, worker
from notifications.models import (
    Broadcast,
    BroadcastRecipient,
    EscalationStep,
    Notification,
    NotificationPreference,
    OutboxMessage,
)
from notifications.service import IN_APP, SMS
from tests.conftest import login


def _team(make, n_staff=3, **kw):
    coordinator = make.user(display_name="Coordinator")
    staff = [make.user(mobile=f"+4477009002{i:02d}", **kw) for i in range(n_staff)]
    return coordinator, staff, make.team(coordinators=[coordinator], staff=staff)


def test_api_counts_recipients_before_sending_then_reports_per_person(client, make, bearer, fake_twilio):
    coordinator, staff, team = _team(make)
    make.user(grade="Band 6")  # not on the team
    staff[0].grade = "Band 6"
    no_phone = make.user(display_name="No phone")
    accounts.add_member(team, no_phone, TeamRole.staff)
    db.session.commit()
    headers = bearer(make.token(coordinator))
    body = {"team_id": team.id, "audience": "group", "params": {"min_grade": "Band 6"}, "text": "Band 6 needed",
            "dry_run": True}
    preview = client.post("/api/v1/broadcasts", json=body, headers=headers)
    assert preview.status_code == 200 and preview.json["recipient_count"] == 1
    assert db.session.scalar(select(Broadcast.id)) is None  # counting sends nothing
    created = client.post("/api/v1/broadcasts", json={**body, "audience": "team", "dry_run": False,
                                                      "requires_ack": True}, headers=headers)
    assert created.status_code == 201, created.json
    bid = created.json["id"]
    worker.run(once=True)
    nurse = staff[1]
    client.post(f"/api/v1/broadcasts/{bid}/acknowledge", headers=bearer(make.token(nurse)))
    n = db.session.scalar(select(Notification).where(Notification.user_id == staff[2].id))
    client.post(f"/api/v1/notifications/{n.id}/read", headers=bearer(make.token(staff[2])))
    report = client.get(f"/api/v1/broadcasts/{bid}", headers=headers).json
    assert report["recipient_count"] == 4  # the four staff: never the coordinator who sent it (issue #15)
    by_user = {p["user_id"]: p for p in report["recipients"]}
    assert by_user[nurse.id]["status"] == "acknowledged"
    assert by_user[staff[2].id]["status"] == "read"
    assert by_user[staff[0].id]["status"] == "sent" and by_user[staff[0].id]["sms_state"] == "sent"
    assert coordinator.id not in by_user and by_user[no_phone.id]["sms_skipped"] == "no mobile"
    assert report["counts"]["acknowledged"] == 1 and report["counts"]["read"] == 1


def test_only_coordinators_broadcast_and_see_reports(client, make, bearer, fake_twilio):
    coordinator, staff, team = _team(make)
    nurse_headers = bearer(make.token(staff[0]))
    resp = client.post("/api/v1/broadcasts", json={"team_id": team.id, "audience": "team", "text": "hi"},
                       headers=nurse_headers)
    assert resp.status_code == 403
    b = broadcasts.create(team, coordinator, audience="team", text="hi")
    db.session.commit()
    assert client.get(f"/api/v1/broadcasts/{b.id}", headers=nurse_headers).status_code == 403
    outsider = make.user()
    assert client.post(f"/api/v1/broadcasts/{b.id}/acknowledge",
                       headers=bearer(make.token(outsider))).status_code == 404


def test_bad_input_is_refused_with_field_errors(client, make, bearer):
    coordinator, _, team = _team(make)
    headers = bearer(make.token(coordinator))
    for body, field in [({"team_id": team.id, "audience": "nobody", "text": "x"}, "audience"),
                        ({"team_id": team.id, "audience": "group", "params": {"min_grade": "Band 99"}, "text": "x"},
                         "params"),
                        ({"team_id": team.id, "audience": "team", "text": "x", "link": "https://evil.example"},
                         "link"),
                        ({"team_id": team.id, "audience": "team", "text": "a\x00b"}, "text")]:
        resp = client.post("/api/v1/broadcasts", json=body, headers=headers)
        assert resp.status_code == 422, resp.json
        assert field in resp.json["errors"]
    assert db.session.scalar(select(Broadcast.id)) is None


def test_sms_channel_is_visibly_off_without_configuration(app, client, make, fake_twilio):
    for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        app.config.pop(key)
    coordinator, staff, team = _team(make)
    login(client, coordinator)
    page = client.get(f"/broadcasts/new?team_id={team.id}").get_data(as_text=True)
    assert "Text messages are off" in page
    b = broadcasts.create(team, coordinator, audience="team", text="hello")
    db.session.commit()
    assert db.session.scalar(select(OutboxMessage.id)) is None  # nothing pretends to send
    report = client.get(f"/broadcasts/{b.id}").get_data(as_text=True)
    assert "Text messages are off" in report and "not sent: sms off" in report
    assert client.get("/api/v1/me/notification-preferences").json["sms_available"] is False


def test_quiet_hours_hold_non_urgent_texts_until_morning(app, make, fake_twilio):
    london = ZoneInfo("Europe/London")
    pref = NotificationPreference(quiet_start="22:00", quiet_end="07:00")
    at = datetime(2026, 3, 28, 23, 30, tzinfo=london).astimezone(UTC)  # the night the clocks go forward
    assert service.quiet_until(pref, at, london) == datetime(2026, 3, 29, 7, 0, tzinfo=london).astimezone(UTC)
    assert service.quiet_until(pref, datetime(2026, 3, 29, 6, 59, tzinfo=london), london) is not None
    assert service.quiet_until(pref, datetime(2026, 10, 25, 12, 0, tzinfo=london), london) is None
    # And in the outbox: a quiet window around now holds the text; urgent ones go anyway.
    nurse = make.user(mobile="+447700900299")
    local_now = now_utc().astimezone(london)
    start, end = (local_now - timedelta(hours=1)).strftime("%H:%M"), (local_now + timedelta(hours=2)).strftime("%H:%M")
    db.session.add(NotificationPreference(user_id=nurse.id, quiet_start=start, quiet_end=end))
    db.session.commit()
    service.notify([nurse.id], kind="k", text="not urgent", channels=(SMS,))
    service.notify([nurse.id], kind="k", text="urgent", channels=(SMS,), urgent=True)
    db.session.commit()
    worker.run(once=True)
    assert fake_twilio.bodies_to(nurse.mobile) == ["urgent http://localhost/n/2"]
    held = db.session.get(OutboxMessage, 1)
    assert held.state.value == "pending" and held.next_attempt_at > now_utc() + timedelta(minutes=59)


def test_daily_cap_on_broadcast_texts(app, make, fake_twilio):
    coordinator, staff, team = _team(make, n_staff=1)
    db.session.add(NotificationPreference(user_id=staff[0].id, daily_sms_cap=2))
    db.session.commit()
    for i in range(3):
        broadcasts.create(team, coordinator, audience="team", text=f"Gap {i}", urgent=True)
        db.session.commit()
    skipped = list(db.session.scalars(select(BroadcastRecipient.sms_skipped).where(
        BroadcastRecipient.user_id == staff[0].id).order_by(BroadcastRecipient.id)))
    assert skipped == [None, None, "daily cap"]
    assert db.session.scalar(select(Notification.id).where(Notification.text == "Gap 2"))  # still in the app


def test_dont_ask_me_again_for_this_shift(client, make, fake_twilio):
    coordinator, staff, team = _team(make)
    b = broadcasts.create(team, coordinator, audience="team", text="Late shift Sat", kind="open_shift",
                          reference="shift:7")
    db.session.commit()
    login(client, staff[0])
    page = client.get(f"/broadcasts/{b.id}/r")
    assert page.status_code == 200 and "Don&#39;t ask me again" in page.get_data(as_text=True)
    client.post(f"/broadcasts/{b.id}/r/mute")
    assert broadcasts.preview(team, coordinator, audience="team", reference="shift:7")["muted_count"] == 1
    again = broadcasts.create(team, coordinator, audience="team", text="Still need someone", kind="open_shift",
                              reference="shift:7")
    db.session.commit()
    assert staff[0].id not in {r.user_id for r in again.recipients}
    assert staff[0].id in {r.user_id for r in broadcasts.create(team, coordinator, audience="team",
                                                                 text="Another shift", reference="shift:8").recipients}


def test_escalation_ladder_widens_then_tells_the_coordinator(make, fake_twilio, fake_registry):
    coordinator, staff, team = _team(make, n_staff=1)
    bank = [make.user(mobile=f"+4477009003{i:02d}") for i in range(2)]
    fake_registry.register_audience("staff_bank", "Staff bank", lambda team_id, params: [u.id for u in bank])
    broadcasts.set_policy(team, coordinator, [{"after_minutes": 30, "audience": "staff_bank"},
                                              {"after_minutes": 30, "audience": "coordinators"}])
    b = broadcasts.create(team, coordinator, audience="group", params={"min_grade": "Band 5"},
                          text="Night shift tonight", kind="open_shift", reference="shift:9", channels=(IN_APP,))
    db.session.commit()
    start = b.created_at
    assert broadcasts.escalate_due(start + timedelta(minutes=29)) == 0
    assert broadcasts.escalate_due(start + timedelta(minutes=31)) == 1
    db.session.commit()
    assert {r.user_id for r in b.recipients if r.step == 1} == {u.id for u in bank}
    assert broadcasts.escalate_due(start + timedelta(minutes=40)) == 0
    assert broadcasts.escalate_due(start + timedelta(minutes=62)) == 1
    db.session.commit()
    steps = [(s.step, s.audience) for s in db.session.scalars(select(EscalationStep).order_by(EscalationStep.step))]
    assert steps == [(1, "staff_bank"), (2, "coordinators")]
    assert db.session.scalar(select(Notification).where(Notification.user_id == coordinator.id,
                                                        Notification.kind == "broadcast.unanswered"))
    assert broadcasts.escalate_due(start + timedelta(days=1)) == 0


def test_a_claimed_broadcast_stops_escalating(make, fake_registry):
    coordinator, staff, team = _team(make, n_staff=1)
    broadcasts.set_policy(team, coordinator, [{"after_minutes": 30, "audience": "coordinators"}])
    b = broadcasts.create(team, coordinator, audience="team", text="Gap", kind="open_shift", reference="shift:3")
    db.session.commit()
    assert broadcasts.record_claim(staff[0].id, reference="shift:3") == 1
    db.session.commit()
    assert broadcasts.escalate_due(b.created_at + timedelta(hours=2)) == 0


def test_cli_escalate(runner, make):
    result = runner.invoke(args=["notifications", "escalate"])
    assert result.exit_code == 0 and "0 escalation step(s) taken" in result.output


def test_preferences_api(client, make, bearer):
    user = make.user(mobile="+447700900250")
    headers = bearer(make.token(user))
    assert client.get("/api/v1/me/notification-preferences", headers=headers).json["quiet_start"] == "22:00"
    resp = client.put("/api/v1/me/notification-preferences", json={"quiet_start": "23:00", "daily_sms_cap": 3},
                      headers=headers)
    assert resp.status_code == 200 and resp.json["quiet_start"] == "23:00" and resp.json["daily_sms_cap"] == 3
    bad = client.put("/api/v1/me/notification-preferences", json={"quiet_end": "25:00"}, headers=headers)
    assert bad.status_code == 422 and "quiet_end" in bad.json["errors"]
    assert client.get("/api/v1/me/notification-preferences", headers=headers).json["quiet_end"] == "07:00"


def test_a_group_broadcast_for_a_skill_reaches_people_recorded_in_other_letters(make):
    """"IV-trained" nurses are asked whether their record says "IV-trained" or "iv-trained" (the one skill
    comparison the rota's cover line and candidate lists use), and a grade on another ladder never counts."""
    coordinator = make.user(display_name="Coord", grade="Band 7")
    upper = make.user(display_name="Upper", grade="Band 5", skills=["IV-trained"])
    lower = make.user(display_name="Lower", grade="Band 6", skills=["iv-trained"])
    none = make.user(display_name="None", grade="Band 6", skills=[])
    doctor = make.user(display_name="Doc", grade="ST3", staff_group="medical", skills=["IV-trained"])
    team = make.team(coordinators=[coordinator], staff=[upper, lower, none, doctor])
    ids = broadcasts.resolve(team.id, "group", {"skills": ["IV-trained"], "min_grade": "Band 5"})
    assert set(ids) == {upper.id, lower.id}
