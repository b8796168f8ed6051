"""The outbox worker: claims due messages, sends them, records the outcome.

Claims are safe with many workers: PostgreSQL picks candidates with ``FOR UPDATE SKIP LOCKED``; on every engine
the claim itself is a conditional ``UPDATE`` (state still pending, or a lapsed lease) whose row count says who won.
A claimed row carries a lease (``locked_until``): a worker killed mid-send leaves it to be taken again when the
lease lapses. Delivery is therefore at-least-once; the provider id is stored on success.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, or_, select, update

from core import audit
from core.db import db, now_utc
from notifications import sms
from notifications.models import OutboxMessage, OutboxState, SmsOptOut

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    lost_lease: int = 0
    escalations: int = 0
    errors: dict = field(default_factory=dict)


def worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _due(now):
    return or_(
        and_(OutboxMessage.state == OutboxState.pending, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.state == OutboxState.sending, OutboxMessage.locked_until < now),
    )


def claim(wid: str, batch: int = 20) -> list[int]:
    """Take up to ``batch`` due messages for this worker; commits."""
    now = now_utc()
    lease = timedelta(seconds=float(current_app.config.get("NOTIFICATIONS_LEASE_SECONDS", 120)))
    stmt = (select(OutboxMessage.id).where(OutboxMessage.channel == "sms", _due(now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(batch))
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    candidates = list(db.session.scalars(stmt))
    won = []
    for mid in candidates:
        result = db.session.execute(
            update(OutboxMessage).where(OutboxMessage.id == mid, _due(now))
            .values(state=OutboxState.sending, locked_until=now + lease, locked_by=wid,
                    attempts=OutboxMessage.attempts + 1, updated_at=now)
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            won.append(mid)
    db.session.commit()
    return won


def backoff(attempts: int) -> float:
    base = float(current_app.config.get("NOTIFICATIONS_RETRY_BASE_SECONDS", 30))
    cap = float(current_app.config.get("NOTIFICATIONS_RETRY_CAP_SECONDS", 3600))
    return min(cap, base * 2 ** max(attempts - 1, 0)) * random.uniform(0.5, 1.0)


def deliver(mid: int, wid: str, client, config: sms.SmsConfig, stats: WorkerStats) -> None:
    row = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.to_number, OutboxMessage.text, OutboxMessage.link,
               OutboxMessage.suffix, OutboxMessage.attempts, OutboxMessage.team_id, OutboxMessage.user_id,
               select(SmsOptOut.number).where(SmsOptOut.number == OutboxMessage.to_number).exists().label("stop"))
        .where(OutboxMessage.id == mid, OutboxMessage.locked_by == wid, OutboxMessage.state == OutboxState.sending)
    ).first()
    db.session.rollback()  # never hold a transaction (on SQLite: the write lock) across the HTTP call
    if row is None:
        return
    if row.stop:
        result = sms.SendResult(False, transient=False, error_code="opted_out", error_message="recipient sent STOP")
    elif not row.to_number:
        result = sms.SendResult(False, transient=False, error_code="no_number", error_message="no mobile number")
    else:
        link = f"{config.public_base_url}/n/{row.id}" if config.public_base_url else None
        result = sms.send(client, config, row.to_number, sms.compose(row.text, link, row.suffix), message_id=row.id)
    _record(row, wid, result, stats)


def _record(msg, wid: str, result: sms.SendResult, stats: WorkerStats) -> None:
    """``msg``: the row as read before sending (id, to_number, attempts, team_id, user_id)."""
    now = now_utc()
    mid = msg.id
    mine = and_(OutboxMessage.id == mid, OutboxMessage.locked_by == wid)
    max_attempts = int(current_app.config.get("NOTIFICATIONS_MAX_ATTEMPTS", 8))
    if result.ok:
        # A status callback may already have moved it on (it can beat this commit): never move it back.
        values = dict(provider_id=result.provider_id, sent_at=now, locked_until=None, updated_at=now,
                      error_code=None, error_message=None)
        changed = db.session.execute(update(OutboxMessage).where(mine, OutboxMessage.state == OutboxState.sending)
                                     .values(state=OutboxState.sent, **values)
                                     .execution_options(synchronize_session=False)).rowcount
        if not changed:
            changed = db.session.execute(update(OutboxMessage).where(mine).values(
                provider_id=result.provider_id, sent_at=now, locked_until=None, updated_at=now)
                .execution_options(synchronize_session=False)).rowcount
        action, outcome = "notification.sms_sent", "success"
        stats.sent += 1
    elif result.transient and msg.attempts < max_attempts:
        changed = db.session.execute(update(OutboxMessage).where(mine, OutboxMessage.state == OutboxState.sending)
                                     .values(state=OutboxState.pending, locked_until=None, locked_by=None,
                                             next_attempt_at=now + timedelta(seconds=backoff(msg.attempts)),
                                             error_code=result.error_code, error_message=result.error_message,
                                             updated_at=now)
                                     .execution_options(synchronize_session=False)).rowcount
        action, outcome = "notification.sms_retry", "failure"
        stats.retried += 1
    else:
        reason = result.error_message or ""
        if result.transient:
            reason = f"gave up after {msg.attempts} attempts: {reason}"[:200]
        changed = db.session.execute(update(OutboxMessage).where(mine, OutboxMessage.state == OutboxState.sending)
                                     .values(state=OutboxState.failed, locked_until=None,
                                             error_code=result.error_code or "unknown", error_message=reason,
                                             updated_at=now)
                                     .execution_options(synchronize_session=False)).rowcount
        if result.error_code == str(sms.OPTED_OUT) and msg.to_number and not db.session.get(SmsOptOut,
                                                                                            msg.to_number):
            db.session.add(SmsOptOut(number=msg.to_number, user_id=msg.user_id, source="21610", opted_out_at=now))
            audit.record("notification.sms_opt_out", entity_type="user", entity_id=msg.user_id,
                         summary={"source": "21610"})
        action, outcome = "notification.sms_failed", "failure"
        stats.failed += 1
    if result.error_code:
        stats.errors[result.error_code] = stats.errors.get(result.error_code, 0) + 1
    if not changed:
        stats.lost_lease += 1  # another worker took it over after our lease lapsed
        log.warning("outbox message %s: lease lost before the outcome was recorded", mid)
        db.session.rollback()
        return
    audit.record(action, entity_type="notification_outbox", entity_id=mid, team_id=msg.team_id, outcome=outcome,
                 summary={"attempt": msg.attempts, "code": result.error_code, "provider_id": result.provider_id})
    db.session.commit()


def run(*, once: bool = False, max_seconds: float | None = None, batch: int = 20, idle_sleep: float = 1.0,
        escalate_every: float = 30.0, wid: str | None = None) -> WorkerStats:
    """Deliver until stopped. ``once``: until nothing is due. ``max_seconds``: stop after that long."""
    from notifications import broadcasts

    wid = wid or worker_id()
    stats = WorkerStats()
    config = sms.sms_config()
    client = sms.make_client(config) if config else None
    started = time.monotonic()
    last_escalation = -escalate_every
    while True:
        if max_seconds is not None and time.monotonic() - started >= max_seconds:
            break
        if time.monotonic() - last_escalation >= escalate_every:
            stats.escalations += broadcasts.escalate_due()
            db.session.commit()
            last_escalation = time.monotonic()
        ids = claim(wid, batch) if client else []
        stats.claimed += len(ids)
        for mid in ids:
            try:
                deliver(mid, wid, client, config, stats)
            except Exception:
                db.session.rollback()
                log.exception("outbox message %s: unexpected error; it will be retried after its lease", mid)
        if not ids:
            if once:
                break
            time.sleep(idle_sleep)
    return stats
