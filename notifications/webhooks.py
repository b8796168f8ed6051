"""Twilio webhooks: delivery status callbacks and inbound SMS (consent keywords, acknowledgements, claims).

Every request must carry a valid ``X-Twilio-Signature`` computed over the *public* URL (``PUBLIC_BASE_URL`` +
path + query), so the check holds behind a TLS-terminating proxy; otherwise 403 and nothing changes. Refusals are
counted and logged at most once a minute — not audited one by one: anyone can send them, without signing in, and
the audit chain is permanent. A signed request is applied once: its digest is kept (``webhook_receipts``, in the
same transaction as its effect), and the same request again — a replay — is answered but changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from core import audit
from core.accounts import User
from core.db import db, is_transient, now_utc
from core.errors import PROBLEM_JSON, DomainError
from core.handlers import handle_database_error, handle_integrity_error, problem
from core.links import public_base_url
from core.tally import Tally
from notifications import broadcasts, registry, sms
from notifications.models import (
    STATE_RANK,
    Broadcast,
    BroadcastRecipient,
    OutboxMessage,
    OutboxState,
    SmsOptOut,
    WebhookReceipt,
)

log = logging.getLogger(__name__)
bp = Blueprint("twilio_webhooks", __name__, url_prefix="/webhooks/twilio")

STATUS_MAP = {"queued": OutboxState.sending, "accepted": OutboxState.sending, "scheduled": OutboxState.sending,
              "sending": OutboxState.sending, "sent": OutboxState.sent, "delivered": OutboxState.delivered,
              "read": OutboxState.delivered, "undelivered": OutboxState.undeliverable,
              "failed": OutboxState.failed, "canceled": OutboxState.failed}
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
START_WORDS = {"START", "UNSTOP", "YES START", "OPTIN"}
HELP_WORDS = {"HELP", "INFO"}
ACK_WORDS = {"OK", "SEEN", "ACK"}
MUTE_WORDS = {"NO"}


def public_url() -> str:
    base = (current_app.config.get("PUBLIC_BASE_URL") or request.host_url).rstrip("/")
    qs = request.query_string.decode("utf-8", "replace")
    return base + request.path + (f"?{qs}" if qs else "")


REFUSED = Tally("refused %d Twilio webhook call(s) with a missing or invalid signature (counted, not audited; "
                "next count in %.0f s)", log)
REPLAYED = Tally("ignored %d replayed Twilio webhook call(s) (a signed request seen before; next count in %.0f s)",
                 log)
PRUNE_TASK = "notifications.prune_webhook_receipts"


def refused_calls() -> int:
    return REFUSED.total


def replayed_calls() -> int:
    return REPLAYED.total


def _refusal() -> Response:
    resp = jsonify(problem(403, "Forbidden", "Missing or invalid Twilio signature."))
    resp.status_code = 403
    resp.mimetype = PROBLEM_JSON
    return resp


def _signed_params() -> dict | None:
    """The POST parameters of a correctly signed request; None (counted) otherwise."""
    config = sms.sms_config()
    signature = request.headers.get("X-Twilio-Signature", "")
    params = request.form.to_dict(flat=True) if request.form else {}
    if config is None or not signature or not RequestValidator(config.auth_token).validate(public_url(), params,
                                                                                          signature):
        REFUSED.add()
        return None
    return params


def _first_time(params: dict) -> bool:
    """Keep this request's digest with its effect (same transaction); False if it was applied before (a replay)."""
    digest = hashlib.sha256(repr((public_url(), sorted(params.items()))).encode()).hexdigest()
    if db.session.get(WebhookReceipt, digest) is not None:
        REPLAYED.add()
        return False
    db.session.add(WebhookReceipt(digest=digest, received_at=now_utc()))
    db.session.flush()  # two copies at once: the second one's insert fails (409), its effect rolled back
    return True


def prune_receipts() -> int:
    """Periodic task: forget signed requests older than ``NOTIFICATIONS_WEBHOOK_RECEIPT_DAYS`` (400)."""
    days = int(current_app.config.get("NOTIFICATIONS_WEBHOOK_RECEIPT_DAYS", 400))
    return db.session.execute(delete(WebhookReceipt).where(
        WebhookReceipt.received_at < now_utc() - timedelta(days=days))).rowcount


def apply_status(sid: str | None, status: str | None, error_code: str | None, message_id: int | None) -> bool:
    """Move a message forward (never backwards). Returns True if anything changed."""
    new = STATUS_MAP.get((status or "").lower())
    msg = None
    if message_id is not None:
        msg = db.session.get(OutboxMessage, message_id)
        if msg is not None and msg.provider_id and sid and msg.provider_id != sid:
            msg = None
    if msg is None and sid:
        msg = db.session.scalar(select(OutboxMessage).where(OutboxMessage.provider_id == sid))
    if msg is None or new is None:
        return False
    changed = False
    if sid and not msg.provider_id:
        msg.provider_id = sid
        changed = True
    if STATE_RANK[new] > STATE_RANK[msg.state]:
        old = msg.state
        msg.state = new
        msg.updated_at = now_utc()
        if new in (OutboxState.failed, OutboxState.undeliverable):
            msg.error_code = (error_code or "unknown")[:32]
            msg.error_message = f"carrier reported {status}"[:200]
            if error_code == str(sms.OPTED_OUT) and msg.to_number and not db.session.get(SmsOptOut, msg.to_number):
                db.session.add(SmsOptOut(number=msg.to_number, user_id=msg.user_id, source="21610"))
        audit.record("notification.sms_status", entity=msg, entity_type="notification_outbox", team_id=msg.team_id,
                     summary={"from": old.value, "to": new.value, "code": error_code})
        changed = True
    return changed


@bp.post("/status")
def status():
    params = _signed_params()
    if params is None:
        return _refusal()
    if not _first_time(params):
        return Response(status=204)
    try:
        message_id = int(request.args.get("m", "")) if request.args.get("m") else None
    except ValueError:
        message_id = None
    if message_id is not None and not (1 <= message_id <= 2**31 - 1):
        message_id = None
    apply_status(request.form.get("MessageSid"), request.form.get("MessageStatus"), request.form.get("ErrorCode"),
                 message_id)
    db.session.commit()
    return Response(status=204)


def _twiml(text: str | None) -> Response:
    resp = MessagingResponse()
    if text:
        resp.message(text)
    return Response(str(resp), mimetype="text/xml")


def handle_inbound(number: str, body: str) -> str | None:
    """Consent keywords, "OK 4821" acknowledgements, "NO 4821" mutes and "<KEYWORD> 4821" claims."""
    words = (body or "").strip().upper().split()
    keyword = words[0] if words else ""
    users = list(db.session.scalars(select(User).where(User.mobile == number)))
    base = public_base_url()
    if keyword in STOP_WORDS:
        if not db.session.get(SmsOptOut, number):
            db.session.add(SmsOptOut(number=number, user_id=users[0].id if users else None, source="STOP"))
            audit.record("notification.sms_opt_out", entity_type="user", entity_id=users[0].id if users else None,
                         summary={"source": "STOP"})
        return None  # the carrier/Twilio confirms the opt-out itself
    if keyword in START_WORDS:
        row = db.session.get(SmsOptOut, number)
        if row is not None:
            db.session.delete(row)
            audit.record("notification.sms_opt_in", entity_type="user", entity_id=users[0].id if users else None,
                         summary={"source": "START"})
        return "Shiftbridge: you will get shift texts again. Reply STOP to stop."
    if keyword in HELP_WORDS:
        return f"Shiftbridge shift messages from your team. Reply STOP to stop. {base}/notifications".strip()
    if not users:
        return "Shiftbridge does not recognise this number. Please use the app."
    code = words[1] if len(words) > 1 else ""
    r = db.session.scalar(select(BroadcastRecipient).join(Broadcast).where(
        BroadcastRecipient.user_id.in_([u.id for u in users]), BroadcastRecipient.code == code)
        .order_by(BroadcastRecipient.id.desc()).limit(1))
    if r is None:
        return "Shiftbridge: that code does not match a message to you. Please use the app."
    b, user = r.broadcast, db.session.get(User, r.user_id)
    if keyword in ACK_WORDS:
        broadcasts.acknowledge(b, user)
        return "Shiftbridge: thanks, marked as seen."
    if keyword in MUTE_WORDS:
        broadcasts.mute(b, user)
        return "Shiftbridge: OK, we won't ask you about this again."
    handler = registry.reply_handler(keyword)
    if handler is None:
        return "Shiftbridge: reply with the word and code from the message, e.g. YES 1234, or use the app."
    if b.state != "open":
        return "Shiftbridge: sorry, this has already been taken."
    try:
        # A savepoint: a refusal undoes only the handler's own changes; the request's receipt (replay guard) is
        # committed with the refusal's reply, so replaying a refused "YES 4821" after the shift reopens does nothing.
        with db.session.begin_nested():
            ok, reply = handler(user.id, b.reference)
    except DomainError as exc:  # e.g. someone else took the shift a moment ago
        return f"Shiftbridge: {exc.detail}"[:160]
    if ok and b.state == "open":
        # Answered without filling it (e.g. volunteered where the coordinator chooses): the report shows the answer
        # and the ladder keeps going until the shift is filled (the claim service closes the broadcast then).
        broadcasts.acknowledge(b, user)
    audit.record("broadcast.sms_reply", actor=user, entity=b, outcome="success" if ok else "failure",
                 summary={"keyword": keyword[:16]})
    return reply


RESEND = "Shiftbridge could not take your message just now: please send your message again in a few minutes."


@bp.errorhandler(DBAPIError)
@bp.errorhandler(PoolTimeout)
def _database_error(exc):
    """Twilio does not retry inbound SMS webhooks, so a 503 would lose a STOP or "YES 4821" sent during a database
    outage: answer 200 with TwiML asking the person to send it again (nothing was applied, no receipt kept).
    Status callbacks, which Twilio does retry, keep the app-wide 503."""

    if isinstance(exc, IntegrityError):  # e.g. two copies of one request at once: 409, as everywhere
        return handle_integrity_error(exc)
    if request.endpoint != f"{bp.name}.inbound" or not is_transient(exc):
        return handle_database_error(exc)
    log.warning("database unavailable (%s) for an inbound text: asked the sender to send it again",
                type(exc).__name__)
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001  (its connection is gone: nothing to roll back)
        db.session.close()
    return _twiml(RESEND)


@bp.post("/inbound")
def inbound():
    params = _signed_params()
    if params is None:
        return _refusal()
    if not _first_time(params):
        return _twiml(None)  # answered (Twilio must not retry it), but not applied again
    number = (request.form.get("From") or "").strip()[:20]
    try:
        reply = handle_inbound(number, (request.form.get("Body") or "")[:1600])
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return _twiml(reply)
