"""Twilio webhooks: signatures, status callbacks that never move backwards, STOP/START/HELP, "YES 4821" claims."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from core.audit import AuditEntry
from core.db import db
from core.errors import Conflict
from notifications import broadcasts, service, webhooks, worker
from notifications.models import Broadcast, BroadcastRecipient, OutboxMessage, OutboxState, SmsOptOut
from notifications.service import SMS
from tests.notifications.conftest import TOKEN

MOBILE = "+447700900321"


def signed_post(client, path, params, *, base="http://localhost", token=TOKEN, signature=None, **kw):
    sig = signature if signature is not None else RequestValidator(token).compute_signature(base + path, params)
    headers = {"X-Twilio-Signature": sig} if sig != "" else {}
    return client.post(path, data=params, headers=headers, **kw)


def _sent_message(make, fake_twilio):
    user = make.user(mobile=MOBILE)
    service.notify([user.id], kind="k", text="Shift changed", channels=(SMS,), urgent=True)
    db.session.commit()
    worker.run(once=True)
    return db.session.scalar(select(OutboxMessage))


def _audit_count():
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


def test_status_callbacks_move_forward_only(client, make, fake_twilio):
    msg = _sent_message(make, fake_twilio)
    path = f"/webhooks/twilio/status?m={msg.id}"
    ok = signed_post(client, path, {"MessageSid": msg.provider_id, "MessageStatus": "delivered"})
    assert ok.status_code == 204
    for late in ("sent", "queued", "delivered", "failed"):  # out of order and repeated
        assert signed_post(client, path, {"MessageSid": msg.provider_id, "MessageStatus": late}).status_code == 204
    db.session.refresh(msg)
    assert msg.state == OutboxState.delivered


def test_a_callback_can_find_its_message_by_sid_alone(client, make, fake_twilio):
    msg = _sent_message(make, fake_twilio)
    signed_post(client, "/webhooks/twilio/status", {"MessageSid": msg.provider_id, "MessageStatus": "undelivered",
                                                    "ErrorCode": "30003"})
    db.session.refresh(msg)
    assert (msg.state, msg.error_code) == (OutboxState.undeliverable, "30003")


def test_invalid_or_missing_signatures_are_refused_and_change_nothing(client, make, fake_twilio):
    msg = _sent_message(make, fake_twilio)
    before = _audit_count()
    params = {"MessageSid": msg.provider_id, "MessageStatus": "delivered"}
    assert signed_post(client, "/webhooks/twilio/status", params, token="wrong-token").status_code == 403
    assert signed_post(client, "/webhooks/twilio/status", params, signature="").status_code == 403
    # signed for other parameters than the ones sent
    sig = RequestValidator(TOKEN).compute_signature("http://localhost/webhooks/twilio/status",
                                                    {**params, "MessageStatus": "sent"})
    assert signed_post(client, "/webhooks/twilio/status", params, signature=sig).status_code == 403
    stop = {"From": MOBILE, "To": "+447700900000", "Body": "STOP", "MessageSid": "SMx"}
    assert signed_post(client, "/webhooks/twilio/inbound", stop, token="wrong").status_code == 403
    db.session.refresh(msg)
    assert msg.state == OutboxState.sent
    assert db.session.get(SmsOptOut, MOBILE) is None
    assert _audit_count() == before


def test_signatures_are_checked_against_the_public_url_behind_a_proxy(app, client, make, fake_twilio):
    msg = _sent_message(make, fake_twilio)
    app.config["PUBLIC_BASE_URL"] = "https://shiftbridge.example.nhs.uk"
    params = {"MessageSid": msg.provider_id, "MessageStatus": "delivered"}
    # Signed as Twilio saw it (https, public host) while the app is reached over plain http inside.
    assert signed_post(client, "/webhooks/twilio/status", params,
                       base="https://shiftbridge.example.nhs.uk").status_code == 204
    # Signed over the internal URL: refused.
    assert signed_post(client, "/webhooks/twilio/status", {**params, "MessageStatus": "sent"},
                       base="http://localhost").status_code == 403


def test_stop_is_honoured_and_start_undoes_it(client, make, fake_twilio):
    user = make.user(mobile=MOBILE)
    params = {"From": MOBILE, "To": "+447700900000", "Body": " stop ", "MessageSid": "SM1"}
    resp = signed_post(client, "/webhooks/twilio/inbound", params)
    assert resp.status_code == 200 and resp.mimetype == "text/xml"
    assert "<Message>" not in resp.get_data(as_text=True)
    assert db.session.get(SmsOptOut, MOBILE).source == "STOP"
    queued = service.queue([user.id], kind="k", text="x", channels=(SMS,), urgent=True)
    db.session.commit()
    assert queued.sms_skipped == {user.id: "opted out"}
    worker.run(once=True)
    assert fake_twilio.requests == 0
    resp = signed_post(client, "/webhooks/twilio/inbound", {**params, "Body": "START"})
    assert "get shift texts again" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(SmsOptOut, MOBILE) is None


def test_stop_after_queueing_stops_the_queued_text(client, make, fake_twilio):
    user = make.user(mobile=MOBILE)
    service.notify([user.id], kind="k", text="x", channels=(SMS,), urgent=True)
    db.session.commit()
    signed_post(client, "/webhooks/twilio/inbound", {"From": MOBILE, "To": "+4477009", "Body": "STOP"})
    worker.run(once=True)
    assert fake_twilio.requests == 0
    msg = db.session.scalar(select(OutboxMessage))
    assert (msg.state, msg.error_code) == (OutboxState.failed, "opted_out")


def test_help_answers_with_twiml(client, make, fake_twilio):
    make.user(mobile=MOBILE)
    resp = signed_post(client, "/webhooks/twilio/inbound", {"From": MOBILE, "To": "+4477009", "Body": "HELP"})
    assert resp.status_code == 200
    assert "Reply STOP to stop" in resp.get_data(as_text=True)


def _open_shift_broadcast(fake_registry, claim, team, coordinator):
    """Register ``claim`` as the YES handler and send an open-shift broadcast about "shift:12"."""
    fake_registry.register_reply_handler("YES", claim)
    b = broadcasts.create(team, coordinator, audience="team", text="Night shift Thu needs a nurse", kind="open_shift",
                          reference="shift:12")
    db.session.commit()
    return b


def test_yes_code_runs_the_registered_claim_handler_once(client, make, fake_twilio, fake_registry):
    coordinator = make.user()
    nurse, other = make.user(mobile=MOBILE), make.user(mobile="+447700900322")
    team = make.team(coordinators=[coordinator], staff=[nurse, other])
    calls = []

    def claim(user_id, reference):  # like rota's claim service: filling the shift closes the broadcast about it
        calls.append((user_id, reference))
        broadcasts.record_claim(user_id, reference=reference)
        return True, "Thanks: the shift is yours."

    b = _open_shift_broadcast(fake_registry, claim, team, coordinator)
    worker.run(once=True)
    [body] = fake_twilio.bodies_to(MOBILE)
    code = db.session.scalar(select(BroadcastRecipient.code).where(BroadcastRecipient.user_id == nurse.id))
    assert f"Reply YES {code} to take it." in body
    wrong = signed_post(client, "/webhooks/twilio/inbound", {"From": MOBILE, "To": "+44", "Body": "YES 0000"})
    assert "does not match" in wrong.get_data(as_text=True) and calls == []
    resp = signed_post(client, "/webhooks/twilio/inbound", {"From": MOBILE, "To": "+44", "Body": f"yes {code}"})
    assert "the shift is yours" in resp.get_data(as_text=True)
    assert calls == [(nurse.id, "shift:12")]
    other_code = db.session.scalar(select(BroadcastRecipient.code).where(BroadcastRecipient.user_id == other.id))
    late = signed_post(client, "/webhooks/twilio/inbound", {"From": "+447700900322", "To": "+44",
                                                            "Body": f"YES {other_code}"})
    assert "already been taken" in late.get_data(as_text=True) and len(calls) == 1
    db.session.expire_all()
    assert db.session.get(Broadcast, b.id).state == "claimed"
    report = broadcasts.report(db.session.get(Broadcast, b.id), coordinator)
    assert {p["user_id"]: p["status"] for p in report["recipients"]}[nurse.id] == "claimed"


def test_ok_code_acknowledges(client, make, fake_twilio):
    coordinator, nurse = make.user(), make.user(mobile=MOBILE)
    team = make.team(coordinators=[coordinator], staff=[nurse])
    b = broadcasts.create(team, coordinator, audience="team", text="Fire drill at 10:00", requires_ack=True)
    db.session.commit()
    code = db.session.scalar(select(BroadcastRecipient.code).where(BroadcastRecipient.user_id == nurse.id))
    resp = signed_post(client, "/webhooks/twilio/inbound", {"From": MOBILE, "To": "+44", "Body": f"OK {code}"})
    assert "marked as seen" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(BroadcastRecipient.acknowledged_at).where(
        BroadcastRecipient.broadcast_id == b.id, BroadcastRecipient.user_id == nurse.id)) is not None


def test_unsigned_calls_are_counted_and_logged_at_most_once_a_minute_not_audited_one_by_one(client, make, fake_twilio,
                                                                                            caplog, monkeypatch):
    """A flood of unsigned calls (no login needed) must not grow the audit chain by one entry per request."""
    monkeypatch.setattr(webhooks.log, "disabled", False)  # alembic's fileConfig (run in-process by the fixtures)
    monkeypatch.setattr(webhooks.REFUSED, "logged_at", float("-inf"))  # a new minute: the next refusal is logged
    msg = _sent_message(make, fake_twilio)
    before, refused = _audit_count(), webhooks.refused_calls()
    params = {"MessageSid": msg.provider_id, "MessageStatus": "delivered"}
    with caplog.at_level(logging.INFO):
        for _ in range(40):
            assert signed_post(client, "/webhooks/twilio/status", params, signature="").status_code == 403
            resp = signed_post(client, "/webhooks/twilio/inbound", {"From": MOBILE, "Body": "STOP"}, token="wrong")
            assert resp.status_code == 403 and resp.mimetype == "application/problem+json"
    assert _audit_count() == before
    assert webhooks.refused_calls() - refused == 80
    assert caplog.text.count("refused") == 1  # rate-limited: one line now, the next count a minute later


def test_a_replayed_signed_request_is_not_applied_twice(client, make, fake_twilio):
    """Someone who captured a signed START cannot replay it after the person texted STOP."""
    make.user(mobile=MOBILE)
    replayed = webhooks.replayed_calls()
    start = {"From": MOBILE, "To": "+447700900000", "Body": "START", "MessageSid": "SM" + "a" * 32}
    stop = {"From": MOBILE, "To": "+447700900000", "Body": "STOP", "MessageSid": "SM" + "b" * 32}
    assert signed_post(client, "/webhooks/twilio/inbound", start).status_code == 200
    assert signed_post(client, "/webhooks/twilio/inbound", stop).status_code == 200
    assert db.session.get(SmsOptOut, MOBILE) is not None
    replay = signed_post(client, "/webhooks/twilio/inbound", start)
    assert replay.status_code == 200 and "<Message>" not in replay.get_data(as_text=True)  # Twilio must not retry
    db.session.expire_all()
    assert db.session.get(SmsOptOut, MOBILE) is not None  # still opted out
    assert webhooks.replayed_calls() == replayed + 1  # counted, like refusals


def test_a_replayed_refused_claim_stays_refused_after_the_shift_reopens(client, make, fake_twilio, fake_registry):
    """A signed "YES 4821" refused (someone else took the shift) keeps its receipt: replaying it after the shift
    reopens does not claim it. The refused handler's own changes are still rolled back."""
    coordinator, nurse = make.user(), make.user(mobile=MOBILE)
    team = make.team(coordinators=[coordinator], staff=[nurse])
    shift = {"taken": True}
    calls = []

    def claim(user_id, reference):
        calls.append(user_id)
        db.session.add(SmsOptOut(number="+447700900999", source="handler"))  # a change the refusal must undo
        db.session.flush()
        if shift["taken"]:
            raise Conflict("Someone else took this shift a moment ago.")
        broadcasts.record_claim(user_id, reference=reference)
        return True, "Thanks: the shift is yours."

    b = _open_shift_broadcast(fake_registry, claim, team, coordinator)
    code = db.session.scalar(select(BroadcastRecipient.code).where(BroadcastRecipient.user_id == nurse.id))
    yes = {"From": MOBILE, "To": "+44", "Body": f"YES {code}", "MessageSid": "SM" + "c" * 32}
    refused = signed_post(client, "/webhooks/twilio/inbound", yes)
    assert refused.status_code == 200 and "took this shift" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(SmsOptOut, "+447700900999") is None  # the handler's change was rolled back
    shift["taken"] = False  # the shift reopens
    replayed = webhooks.replayed_calls()
    replay = signed_post(client, "/webhooks/twilio/inbound", yes)
    assert replay.status_code == 200 and "<Message>" not in replay.get_data(as_text=True)
    assert calls == [nurse.id] and webhooks.replayed_calls() == replayed + 1
    db.session.expire_all()
    assert db.session.get(Broadcast, b.id).state == "open"
