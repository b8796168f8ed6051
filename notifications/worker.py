"""The outbox worker: claims due messages in batches, sends them, records the outcomes; runs periodic tasks.

Claims are safe with many workers: one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)
RETURNING …`` per batch (PostgreSQL; SQLite has one writer and no row locks), conditional on the row still being
due, so a row goes to exactly one worker. A claimed row carries a lease (``locked_until``): a worker killed mid-batch
leaves its rows to be taken again when the lease lapses. Delivery is therefore at-least-once; the provider id is
stored on success. Sends go out over one twilio ``Client`` (one HTTP session, kept-alive connections) per worker, a
few at a time (``NOTIFICATIONS_SEND_CONCURRENCY``), with no transaction open; the batch's outcomes are then written
in one transaction (a statement per outcome, a single audit entry with the counts: the delivery state of each
message lives on its outbox row).

Periodic tasks: every ``(name, fn)`` in ``app.extensions["periodic_tasks"]`` (escalation, handover's overdue flag,
...) runs every ``NOTIFICATIONS_PERIODIC_SECONDS`` in its own transaction. On PostgreSQL a transaction-scoped
advisory lock per task keeps two workers from running the same task at once (the second skips it). A task that
raises is rolled back and logged by name and exception class only (no message text: it could carry data), and the
worker carries on.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, case, literal, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from core import audit
from core.db import db, now_utc
from notifications import service, sms
from notifications.models import OutboxMessage, OutboxState, SmsOptOut

log = logging.getLogger(__name__)

PERIODIC_LOCK_NAMESPACE = 7346002  # pg_try_advisory_xact_lock(namespace, crc32(task name))
ESCALATE_TASK = "notifications.escalate"


@dataclass
class WorkerStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    lost_lease: int = 0
    released: int = 0  # not sent: too close to the end of the lease to start (put back at once, sent later)
    escalations: int = 0
    errors: dict = field(default_factory=dict)
    periodic_runs: dict = field(default_factory=dict)  # task name -> times run
    periodic_failures: dict = field(default_factory=dict)  # task name -> times it raised
    periodic_skipped: dict = field(default_factory=dict)  # task name -> times another worker held it


def worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _due(now):
    return or_(
        and_(OutboxMessage.state == OutboxState.pending, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.state == OutboxState.sending, OutboxMessage.locked_until < now),
    )


_CLAIMED_COLUMNS = (OutboxMessage.id, OutboxMessage.to_number, OutboxMessage.text, OutboxMessage.suffix,
                    OutboxMessage.attempts, OutboxMessage.user_id)


@dataclass(frozen=True)
class Claimed:
    """A claimed message as the worker needs it (read in the claiming statement itself)."""

    id: int
    to_number: str | None
    text: str
    suffix: str | None
    attempts: int  # including this attempt
    user_id: int
    stop: bool  # the number texted STOP (or Twilio said 21610) after this was queued


def claim_batch(wid: str, batch: int = 20) -> list[Claimed]:
    """Take up to ``batch`` due messages for this worker in one statement; commits."""
    now = now_utc()
    lease = timedelta(seconds=float(current_app.config.get("NOTIFICATIONS_LEASE_SECONDS", 120)))
    candidates = (select(OutboxMessage.id).where(OutboxMessage.channel == service.SMS, _due(now))
                  .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(batch))
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    # A CTE, not ``IN (subquery)``: PostgreSQL may re-run a sub-select per row and overrun the LIMIT.
    picked = candidates.cte("picked")
    rows = db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(select(picked.c.id)), _due(now))
        .values(state=OutboxState.sending, locked_until=now + lease, locked_by=wid,
                attempts=OutboxMessage.attempts + 1, updated_at=now)
        .returning(*_CLAIMED_COLUMNS)
        .execution_options(synchronize_session=False)).all()
    numbers = [r.to_number for r in rows if r.to_number]
    stopped = set(db.session.scalars(select(SmsOptOut.number).where(
        service.in_list(SmsOptOut.number, numbers, SmsOptOut.number.type)))) if numbers else set()
    db.session.commit()
    return sorted((Claimed(*r, stop=r.to_number in stopped) for r in rows), key=lambda c: c.id)


def claim(wid: str, batch: int = 20) -> list[int]:
    """Ids of the messages :func:`claim_batch` took (commits)."""
    return [c.id for c in claim_batch(wid, batch)]


def backoff(attempts: int) -> float:
    base = float(current_app.config.get("NOTIFICATIONS_RETRY_BASE_SECONDS", 30))
    cap = float(current_app.config.get("NOTIFICATIONS_RETRY_CAP_SECONDS", 3600))
    return min(cap, base * 2 ** max(attempts - 1, 0)) * random.uniform(0.5, 1.0)


RELEASE = object()  # _send_one's answer for a text it did not start because the lease is nearly over


def _send_one(msg: Claimed, client, config: sms.SmsConfig, send_until: float | None = None):
    """Runs without a database session (possibly on a sender thread). A :class:`sms.SendResult`; None for an
    unexpected error (left to the lease); ``RELEASE`` when starting now could outlive the lease (another worker
    could then take the row and send it a second time)."""
    if send_until is not None and time.monotonic() > send_until:
        return RELEASE
    if msg.stop:
        return sms.SendResult(False, transient=False, error_code="opted_out", error_message="recipient sent STOP")
    if not msg.to_number:
        return sms.SendResult(False, transient=False, error_code="no_number", error_message="no mobile number")
    try:
        link = f"{config.public_base_url}/n/{msg.id}" if config.public_base_url else None
        return sms.send(client, config, msg.to_number, sms.compose(msg.text, link, msg.suffix), message_id=msg.id)
    except Exception as exc:  # noqa: BLE001  (a bug must not lose the batch: the lease brings this one back)
        log.error("outbox message %s: unexpected %s while sending; it will be retried after its lease", msg.id,
                  type(exc).__name__)
        return None


def deliver_batch(batch: list[Claimed], wid: str, client, config: sms.SmsConfig, stats: WorkerStats,
                  pool: ThreadPoolExecutor | None = None, send_until: float | None = None) -> None:
    """Send a claimed batch (no transaction open meanwhile), then record every outcome in one transaction.
    ``send_until`` (monotonic): start no send after it — the lease, less two provider timeouts."""
    send = lambda m: _send_one(m, client, config, send_until)  # noqa: E731
    results = list(pool.map(send, batch)) if pool is not None and len(batch) > 1 else [send(m) for m in batch]
    released = [m.id for m, r in zip(batch, results, strict=True) if r is RELEASE]
    outcomes = [(m, r) for m, r in zip(batch, results, strict=True) if r is not None and r is not RELEASE]
    try:
        _release(released, wid, stats)
        _record_batch(outcomes, wid, stats)
        db.session.commit()
    except Exception as exc:  # noqa: BLE001
        db.session.rollback()
        log.error("could not record the outcome of %d message(s) (%s); they will be retried after their lease",
                  len(outcomes), type(exc).__name__)


def _by_id(values: dict, column):
    """``CASE id WHEN … THEN …``: one value per row in a single UPDATE, typed as ``column``."""
    return case({mid: literal(v, column.type) for mid, v in values.items()}, value=OutboxMessage.id,
                else_=column)


def _apply(ids, wid: str, values: dict, *, only_sending: bool = True) -> set[int]:
    """Update this worker's rows among ``ids``; returns the ids it still held (the others' lease was lost)."""
    if not ids:
        return set()
    cond = [OutboxMessage.id.in_(list(ids)), OutboxMessage.locked_by == wid]
    if only_sending:
        cond.append(OutboxMessage.state == OutboxState.sending)
    return set(db.session.scalars(update(OutboxMessage).where(*cond).values(**values)
                                  .returning(OutboxMessage.id).execution_options(synchronize_session=False)))


def _release(ids: list[int], wid: str, stats: WorkerStats) -> None:
    """Put unsent rows back as they were before the claim (due now, this attempt not counted)."""
    back = _apply(ids, wid, dict(state=OutboxState.pending, locked_until=None, locked_by=None,
                                 attempts=OutboxMessage.attempts - 1, updated_at=now_utc()))
    stats.released += len(back)


def _record_batch(outcomes: list[tuple[Claimed, sms.SendResult]], wid: str, stats: WorkerStats) -> None:
    now = now_utc()
    max_attempts = int(current_app.config.get("NOTIFICATIONS_MAX_ATTEMPTS", 8))
    ok = {m.id: r for m, r in outcomes if r.ok}
    retry = {m.id: (m, r) for m, r in outcomes if not r.ok and r.transient and m.attempts < max_attempts}
    failed = {m.id: (m, r) for m, r in outcomes if not r.ok and m.id not in retry}
    sending = OutboxMessage.state == OutboxState.sending
    # Sent. A status callback may already have moved a row on (it can beat this commit): never move it back.
    held = _apply(ok, wid, dict(
        state=case((sending, literal(OutboxState.sent, OutboxMessage.state.type)), else_=OutboxMessage.state),
        provider_id=_by_id({mid: r.provider_id for mid, r in ok.items()}, OutboxMessage.provider_id),
        error_code=case((sending, None), else_=OutboxMessage.error_code),
        error_message=case((sending, None), else_=OutboxMessage.error_message),
        sent_at=now, locked_until=None, updated_at=now), only_sending=False)
    held |= _apply(retry, wid, dict(
        state=OutboxState.pending, locked_until=None, locked_by=None,
        next_attempt_at=_by_id({mid: now + timedelta(seconds=backoff(m.attempts)) for mid, (m, _) in retry.items()},
                               OutboxMessage.next_attempt_at),
        error_code=_by_id({mid: r.error_code for mid, (_, r) in retry.items()}, OutboxMessage.error_code),
        error_message=_by_id({mid: r.error_message for mid, (_, r) in retry.items()}, OutboxMessage.error_message),
        updated_at=now))
    reasons = {mid: (r.error_message or "") if not r.transient else
               f"gave up after {m.attempts} attempts: {r.error_message or ''}"[:200] for mid, (m, r) in failed.items()}
    held |= _apply(failed, wid, dict(
        state=OutboxState.failed, locked_until=None,
        error_code=_by_id({mid: r.error_code or "unknown" for mid, (_, r) in failed.items()},
                          OutboxMessage.error_code),
        error_message=_by_id(reasons, OutboxMessage.error_message), updated_at=now))
    for mid, (m, r) in failed.items():
        if mid in held and r.error_code == str(sms.OPTED_OUT) and m.to_number:
            _record_opt_out(m, now)
    stats.sent += len(ok)
    stats.retried += len(retry)
    stats.failed += len(failed)
    codes = Counter(r.error_code for _, r in outcomes if r.error_code)
    for code, n in codes.items():
        stats.errors[code] = stats.errors.get(code, 0) + n
    lost = [m.id for m, _ in outcomes if m.id not in held]
    if lost:
        stats.lost_lease += len(lost)  # another worker took them over after our lease lapsed
        log.warning("outbox messages %s: lease lost before the outcome was recorded", lost)
    if held:
        audit.record("notification.sms_batch", entity_type="notification_outbox",
                     outcome="success" if not (retry or failed) else "failure",
                     summary={"sent": len(ok), "retried": len(retry), "failed": len(failed), "lost_lease": len(lost),
                              "codes": dict(codes), "first_id": min(held), "last_id": max(held)})


def _record_opt_out(m: Claimed, now) -> None:
    """Twilio said 21610: the number has texted STOP. Twilio forwards that STOP to the inbound webhook too, which may
    be recording the same number at this moment; a savepoint keeps that race from failing the whole batch's
    outcomes (texts Twilio accepted would stay "sending" and go out again after the lease)."""
    if db.session.get(SmsOptOut, m.to_number) is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(SmsOptOut(number=m.to_number, user_id=m.user_id, source="21610", opted_out_at=now))
    except IntegrityError:
        return  # the webhook got there first: the opt-out is recorded either way
    audit.record("notification.sms_opt_out", entity_type="user", entity_id=m.user_id, summary={"source": "21610"})


# --------------------------------------------------------------------------------------------- periodic tasks


def periodic_tasks(app=None) -> list[tuple[str, object]]:
    app = app or current_app
    return list(app.extensions.get("periodic_tasks", []))


def _lock_key(name: str) -> int:
    return zlib.crc32(name.encode()) - 2**31  # a signed int4


def _try_task_lock(name: str) -> bool:
    """PostgreSQL: this task's advisory lock for the current transaction, if nobody else holds it."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: one worker
    return bool(db.session.scalar(text("SELECT pg_try_advisory_xact_lock(CAST(:ns AS integer), CAST(:k AS integer))"),
                                  {"ns": PERIODIC_LOCK_NAMESPACE, "k": _lock_key(name)}))


def run_periodic(name: str, fn, stats: WorkerStats) -> None:
    """Run one task in its own transaction; an exception is logged and rolled back, never raised."""
    db.session.rollback()  # start clean: the task's transaction is its own
    try:
        if not _try_task_lock(name):
            db.session.rollback()
            stats.periodic_skipped[name] = stats.periodic_skipped.get(name, 0) + 1
            return
        result = fn()
        db.session.commit()
    except Exception as exc:  # noqa: BLE001
        db.session.rollback()
        stats.periodic_failures[name] = stats.periodic_failures.get(name, 0) + 1
        # The class only: an exception's text can quote rows (names, numbers) and must not reach the logs.
        log.error("periodic task %s failed (%s); rolled back, will run again next time", name, type(exc).__name__)
        return
    stats.periodic_runs[name] = stats.periodic_runs.get(name, 0) + 1
    if name == ESCALATE_TASK and isinstance(result, int):
        stats.escalations += result


# ------------------------------------------------------------------------------------------------------ loop


def run(*, once: bool = False, max_seconds: float | None = None, batch: int = 20, idle_sleep: float = 1.0,
        periodic_every: float | None = None, wid: str | None = None,
        concurrency: int | None = None) -> WorkerStats:
    """Deliver until stopped, running the periodic tasks when due. ``once``: until nothing is due (the periodic
    tasks run once, first). ``max_seconds``: stop after that long. ``periodic_every``: seconds between runs of
    each periodic task (default ``NOTIFICATIONS_PERIODIC_SECONDS``)."""
    app = current_app._get_current_object()
    every = periodic_every if periodic_every is not None else float(
        app.config.get("NOTIFICATIONS_PERIODIC_SECONDS", 60))
    concurrency = max(1, int(concurrency or app.config.get("NOTIFICATIONS_SEND_CONCURRENCY", 8)))
    wid = wid or worker_id()
    stats = WorkerStats()
    config = sms.sms_config()
    client = sms.make_client(config) if config else None
    pool = ThreadPoolExecutor(concurrency, thread_name_prefix="sms-send") if client and concurrency > 1 else None
    lease = float(app.config.get("NOTIFICATIONS_LEASE_SECONDS", 120))
    # Start no send that could outlive the lease: a send may take a connect and a read timeout, and the batch's
    # outcomes are written after its last send. (A lease under three timeouts is misconfigured: keep a third.)
    budget = max(lease - 2 * config.timeout, lease / 3) if config else lease
    if config and lease < 3 * config.timeout:
        log.warning("NOTIFICATIONS_LEASE_SECONDS (%s) is short for TWILIO_TIMEOUT_SECONDS (%s): use 3x or more",
                    lease, config.timeout)
    started = time.monotonic()
    next_run: dict[str, float] = {}
    try:
        while True:
            if max_seconds is not None and time.monotonic() - started >= max_seconds:
                break
            for name, fn in periodic_tasks(app):
                if time.monotonic() >= next_run.get(name, 0.0):
                    run_periodic(name, fn, stats)
                    next_run[name] = time.monotonic() + every
            claimed_at = time.monotonic()
            claimed = claim_batch(wid, batch) if client else []
            stats.claimed += len(claimed)
            if claimed:
                deliver_batch(claimed, wid, client, config, stats, pool, claimed_at + budget)
            else:
                if once:
                    break
                time.sleep(idle_sleep)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return stats
