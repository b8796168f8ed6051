"""Push first, SMS as the safety net.

When a message goes to someone with a push device, it is pushed at once (after their quiet hours unless urgent);
an SMS, if the message asked for one, is queued as the push's *safety net*: due after the team's
``PushPolicy.sms_after_minutes`` (urgent: ``urgent_sms_after_minutes``) and dropped (``superseded``) if by then the
push was opened, or the broadcast was acknowledged, claimed or read in the app. If the push fails for good (no
device left, 404/410) the SMS is released at once. Someone with no push device gets the SMS straight away.

Queueing is :func:`notifications.service.queue`'s (the push row and its safety net in the caller's transaction);
the waits and the report's "reached by" are in :mod:`notifications.push`. The worker calls :func:`prepare`
(devices and payload of the pushes it claimed), :func:`supersede_answered` (SMS no longer needed) and
:func:`after_push` (forget gone devices, release safety nets); the service worker's receipts, taps and action
buttons come in through :func:`record_receipt`, :func:`record_open` and :func:`act`.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select, update

from core import audit
from core.accounts import User
from core.db import db, now_utc
from core.errors import Forbidden, NotFound, ValidationFailed
from notifications import broadcasts, push, registry
from notifications.models import (
    Broadcast,
    BroadcastRecipient,
    Notification,
    OutboxMessage,
    OutboxState,
    PushPolicy,
    PushSubscription,
)
from notifications.service import in_list

TAKE, ACK = "take", "ack"


# ------------------------------------------------------------------------------------------------ queueing


MINUTES = (1, 240)


def get_policy(team, actor) -> tuple[int, int]:
    """The team's waits before the SMS safety net: (minutes, urgent minutes)."""
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can see or change this.")
    return push.delay_minutes(team.id, False), push.delay_minutes(team.id, True)


def set_policy(team, actor, *, minutes: int, urgent_minutes: int) -> PushPolicy:
    get_policy(team, actor)
    errors = {}
    for name, value in (("minutes", minutes), ("urgent_minutes", urgent_minutes)):
        if isinstance(value, bool) or not isinstance(value, int) or not MINUTES[0] <= value <= MINUTES[1]:
            errors[name] = [f"Enter minutes from {MINUTES[0]} to {MINUTES[1]}."]
    if not errors and urgent_minutes > minutes:
        errors["urgent_minutes"] = ["Urgent messages should not wait longer than the others."]
    if errors:
        raise ValidationFailed("Check the minutes.", errors=errors)
    policy = db.session.get(PushPolicy, team.id) or PushPolicy(team_id=team.id)
    policy.sms_after_minutes, policy.urgent_sms_after_minutes, policy.updated_at = minutes, urgent_minutes, now_utc()
    db.session.add(policy)
    db.session.flush()
    audit.record("push.policy", actor=actor, entity_type="team", entity_id=team.id, team_id=team.id,
                 summary={"sms_after_minutes": minutes, "urgent_sms_after_minutes": urgent_minutes})
    return policy


# -------------------------------------------------------------------------------------------------- worker


def _actions(kind: str, broadcast_id: int | None, cache: dict) -> list[tuple[str, str]]:
    if not broadcast_id:
        return []
    if broadcast_id not in cache:
        b = db.session.get(Broadcast, broadcast_id)
        acts = []
        if b is not None and b.state == "open":
            if b.kind == "open_shift" and b.reference and registry.reply_handler(registry.CLAIM_KEYWORD):
                acts.append((TAKE, "I'll take it"))
            elif b.requires_ack:
                acts.append((ACK, "Acknowledge"))
        cache[broadcast_id] = acts
    return cache[broadcast_id]


def prepare(rows) -> dict[int, dict]:
    """For claimed push rows: ``{outbox id: {"targets": (...), "payload": b"..."}}`` (read while claiming)."""
    if not rows:
        return {}

    user_ids = list({r.user_id for r in rows})
    targets: dict[int, list] = {}
    for s in db.session.scalars(select(PushSubscription).where(in_list(PushSubscription.user_id, user_ids))
                                .order_by(PushSubscription.id)):
        targets.setdefault(s.user_id, []).append(push.Target(s.id, s.endpoint, s.p256dh, s.auth))
    meta = dict(db.session.execute(select(OutboxMessage.id, OutboxMessage.broadcast_id).where(
        in_list(OutboxMessage.id, [r.id for r in rows]))).all())
    cache: dict = {}
    out = {}
    for r in rows:
        actions = _actions("", meta.get(r.id), cache)
        out[r.id] = {"targets": tuple(targets.get(r.user_id, ())),
                     "payload": push.build_payload(outbox_id=r.id, user_id=r.user_id, text=r.text, urgent=r.urgent,
                                                   actions=actions)}
    return out


def _answered():
    """SQL: the push this SMS backs up was opened, or the person acknowledged / claimed / muted / read it."""
    pushed = OutboxMessage.__table__.alias("pushed")
    opened = exists().where(pushed.c.id == OutboxMessage.fallback_of_id, pushed.c.opened_at.is_not(None))
    recipient = exists().where(BroadcastRecipient.broadcast_id == OutboxMessage.broadcast_id,
                               BroadcastRecipient.user_id == OutboxMessage.user_id,
                               or_(BroadcastRecipient.acknowledged_at.is_not(None),
                                   BroadcastRecipient.claimed_at.is_not(None),
                                   BroadcastRecipient.muted_at.is_not(None),
                                   exists().where(Notification.id == BroadcastRecipient.notification_id,
                                                  Notification.read_at.is_not(None))))
    return or_(opened, and_(OutboxMessage.broadcast_id.is_not(None), recipient))


def supersede_answered(sms_ids: list[int], wid: str, now) -> set[int]:
    """Of the SMS just claimed, those that are a push's safety net and no longer needed: marked superseded."""
    if not sms_ids:
        return set()
    return set(db.session.scalars(
        update(OutboxMessage).where(OutboxMessage.id.in_(sms_ids), OutboxMessage.locked_by == wid,
                                    OutboxMessage.fallback_of_id.is_not(None), _answered())
        .values(state=OutboxState.superseded, locked_until=None, attempts=OutboxMessage.attempts - 1,
                error_code=None, error_message="push opened in time", updated_at=now)
        .returning(OutboxMessage.id).execution_options(synchronize_session=False)))


def after_push(outcomes, *, failed: list[int], at) -> None:
    """Forget devices the push service says are gone; note the ones used; a push that failed for good releases its
    SMS safety net at once."""
    gone = [sid for _, r in outcomes for sid in getattr(r, "gone", ())]
    used = [sid for _, r in outcomes for sid in getattr(r, "used", ())]
    if gone:
        push.forget_endpoints(gone)
        audit.record("push.unsubscribed", entity_type="push_subscription", summary={"reason": "gone",
                                                                                     "count": len(gone)})
    push.mark_used(used, at)
    failed_push = [m.id for m, _ in outcomes if m.id in set(failed)]
    if failed_push:
        db.session.execute(update(OutboxMessage).where(OutboxMessage.fallback_of_id.in_(failed_push),
                                                       OutboxMessage.state == OutboxState.pending)
                           .values(next_attempt_at=at, updated_at=at).execution_options(synchronize_session=False))


# ------------------------------------------------------------------------------------ back from the device


def _message(outbox_id: int, user_id: int) -> OutboxMessage:
    m = db.session.get(OutboxMessage, outbox_id) if 0 < outbox_id < 2**31 else None
    if m is None or m.user_id != user_id or m.channel != push.PUSH:
        raise NotFound("No such message.")
    return m


def record_receipt(token: str) -> OutboxMessage:
    """The service worker showed the notification ("delivered to device")."""
    m = _message(*push.read_token(token))
    if m.delivered_at is None:
        m.delivered_at = now_utc()
        if m.state in (OutboxState.sending, OutboxState.sent):
            m.state = OutboxState.delivered
    return m


def record_open(user, outbox_id: int) -> str:
    """A tap on the notification: the page to open (the message's own link). Marks it opened (no SMS follows) and
    the in-app notification of a broadcast read."""
    m = _message(outbox_id, user.id)
    now = now_utc()
    if m.opened_at is None:
        m.opened_at = now
        m.delivered_at = m.delivered_at or now
        if m.state in (OutboxState.sending, OutboxState.sent):
            m.state = OutboxState.delivered
        audit.record("push.opened", actor=user, entity_type="notification_outbox", entity_id=m.id)
    return m.link or "/notifications"


def act(token: str, action: str) -> tuple[bool, str]:
    """A notification's button: the same services as the page's buttons / an SMS reply. ``(ok, message)``."""

    outbox_id, user_id = push.read_token(token)
    m = _message(outbox_id, user_id)
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound("No such message.")
    b = db.session.get(Broadcast, m.broadcast_id) if m.broadcast_id else None
    if b is None or action not in (TAKE, ACK):
        return False, "Open Shiftbridge to answer this one."
    m.opened_at = m.opened_at or now_utc()
    if action == ACK:
        broadcasts.acknowledge(b, user)
        return True, "Thanks: marked as seen."
    handler = registry.reply_handler(registry.CLAIM_KEYWORD)
    if handler is None or b.state != "open":
        return False, "Sorry, this shift has already been filled."
    ok, reply = handler(user.id, b.reference)
    if ok:
        broadcasts.acknowledge(b, user)
    audit.record("push.action", actor=user, entity=b, outcome="success" if ok else "failure",
                 summary={"action": action})
    return ok, reply
