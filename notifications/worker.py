"""The outbox worker: claims due messages, sends them, records each outcome as it arrives; runs periodic tasks.

Claims are safe with many workers: one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)
RETURNING …`` per claim (PostgreSQL; SQLite has one writer and no row locks), conditional on the row still being
due, so a row goes to exactly one worker. A worker claims only as many texts as it has free senders
(``NOTIFICATIONS_SEND_CONCURRENCY``, one twilio ``Client``: one HTTP session, kept-alive connections), with no
transaction open while they are sent, and records outcomes as they arrive (one transaction and one audit entry for
the sends that finished together). A claimed row carries a short lease (``locked_until``, 30 s = 3 provider
timeouts): a worker killed mid-run leaves only its in-flight texts to the lease — delivery is at-least-once, and at
most those texts go out twice; everything else is due for the next worker at once.

Outages: a database error that means "unreachable" or a lost race (``core.db.is_transient``) anywhere in the loop is
waited out with a capped, jittered back-off, logged once when it starts and once when it ends; sends already under
way finish and their outcomes are kept in memory and recorded when the database is back. When the provider cannot be
reached at all (connection refused, DNS, connect timeout: the text certainly did not leave) texts go back to the
queue without using an attempt and the worker backs off the same way. A heartbeat row (``worker_heartbeats``) tells
/healthz that a worker is running.

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
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import and_, case, delete, func, literal, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from core import audit, metrics, registry
from core.db import db, is_transient, now_utc
from notifications import push, push_first, service, sms
from notifications.models import OutboxMessage, OutboxState, SmsOptOut, WorkerHeartbeat

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
    put_back: int = 0  # not sent: the provider could not be reached (back in the queue, no attempt used)
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
                    OutboxMessage.attempts, OutboxMessage.user_id, OutboxMessage.channel, OutboxMessage.urgent)


@dataclass(frozen=True)
class Claimed:
    """A claimed message as the worker needs it (read in the claiming statement itself)."""

    id: int
    to_number: str | None
    text: str
    suffix: str | None
    attempts: int  # including this attempt
    user_id: int
    channel: str
    urgent: bool
    stop: bool  # the number texted STOP (or Twilio said 21610) after this was queued
    targets: tuple = ()  # push: the person's devices (push.Target), read when claimed
    payload: bytes = b""  # push: the JSON the service worker reads (encrypted per device when sent)


def claim_batch(wid: str, batch: int = 20, channels=(service.SMS,)) -> list[Claimed]:
    """Take up to ``batch`` due messages on ``channels`` for this worker in one statement; commits. An SMS that is
    the safety net of a push already opened (or answered) is marked ``superseded`` instead of being returned."""
    now = now_utc()
    lease = timedelta(seconds=float(current_app.config.get("NOTIFICATIONS_LEASE_SECONDS", 120)))
    candidates = (select(OutboxMessage.id).where(OutboxMessage.channel.in_(list(channels)), _due(now))
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
    superseded = push_first.supersede_answered([r.id for r in rows if r.channel == service.SMS], wid, now)
    prepared = push_first.prepare([r for r in rows if r.channel == push.PUSH])
    db.session.commit()
    return sorted((Claimed(*r, stop=r.to_number in stopped, **prepared.get(r.id, {})) for r in rows
                   if r.id not in superseded), key=lambda c: c.id)


def claim(wid: str, batch: int = 20) -> list[int]:
    """Ids of the messages :func:`claim_batch` took (commits)."""
    return [c.id for c in claim_batch(wid, batch)]


def backoff(attempts: int) -> float:
    base = float(current_app.config.get("NOTIFICATIONS_RETRY_BASE_SECONDS", 30))
    cap = float(current_app.config.get("NOTIFICATIONS_RETRY_CAP_SECONDS", 3600))
    return min(cap, base * 2 ** max(attempts - 1, 0)) * random.uniform(0.5, 1.0)


def _send_one(msg: Claimed, client, config: sms.SmsConfig, pusher: push.Sender | None = None):
    """Runs on a sender thread, without a database session. A :class:`sms.SendResult` (or :class:`push.PushResult`);
    None for an unexpected error (left to the lease)."""
    if msg.channel == push.PUSH:
        try:
            return pusher.send(list(msg.targets), msg.payload, urgent=msg.urgent)
        except Exception as exc:  # noqa: BLE001
            log.error("outbox message %s: unexpected %s while pushing; it will be retried after its lease", msg.id,
                      type(exc).__name__)
            return None
    if msg.stop:
        return sms.SendResult(False, transient=False, error_code="opted_out", error_message="recipient sent STOP")
    if not msg.to_number:
        return sms.SendResult(False, transient=False, error_code="no_number", error_message="no mobile number")
    try:
        link = f"{config.public_base_url}/n/{msg.id}" if config.public_base_url else None
        return sms.send(client, config, msg.to_number, sms.compose(msg.text, link, msg.suffix), message_id=msg.id)
    except Exception as exc:  # noqa: BLE001  (a bug must not lose the others: the lease brings this one back)
        log.error("outbox message %s: unexpected %s while sending; it will be retried after its lease", msg.id,
                  type(exc).__name__)
        return None


def record_outcomes(done: list[tuple[Claimed, sms.SendResult | None]], wid: str,
                    stats: WorkerStats) -> dict[str, bool]:
    """Write the outcomes of the sends that finished (one transaction, one audit entry); commits. Messages whose
    provider (Twilio, a push service) could not be reached go back to the queue without using an attempt. Returns,
    per channel that had an outcome, True if its provider answered any of them, False if it could be reached for
    none (empty when there was nothing to say).

    A database outage is raised (the caller keeps the outcomes and tries again when the database is back); any other
    error is logged and those texts come back after their lease."""
    unreachable = [m.id for m, r in done if r is not None and r.error_code == sms.UNREACHABLE]
    outcomes = [(m, r) for m, r in done if r is not None and r.error_code != sms.UNREACHABLE]
    counted = WorkerStats()  # added to ``stats`` once committed (an outage means the same outcomes again later)
    try:
        _put_back(unreachable, wid, counted)
        _record_batch(outcomes, wid, counted)
        db.session.commit()
    except Exception as exc:  # noqa: BLE001
        discard_session()
        if is_transient(exc):
            raise
        log.error("could not record the outcome of %d message(s) (%s); they will be retried after their lease",
                  len(outcomes), type(exc).__name__)
        return {}
    for name in ("sent", "retried", "failed", "lost_lease", "put_back"):
        setattr(stats, name, getattr(stats, name) + getattr(counted, name))
    for outcome, n in (("sent", counted.sent), ("retry", counted.retried), ("failed", counted.failed),
                       ("unreachable", counted.put_back)):
        if n:
            metrics.SENDS.labels("sms", outcome).inc(n)
    for code, n in counted.errors.items():
        stats.errors[code] = stats.errors.get(code, 0) + n
    answered = {m.channel: False for m, r in done if r is not None and r.error_code == sms.UNREACHABLE}
    answered.update({m.channel: True for m, _ in outcomes})
    return answered


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


def _put_back(ids: list[int], wid: str, stats: WorkerStats) -> None:
    """The provider could not be reached: the text certainly did not leave. Back to the queue as before the claim
    (due now, this attempt not counted); the worker itself backs off while the provider is out."""
    back = _apply(ids, wid, dict(state=OutboxState.pending, locked_until=None, locked_by=None,
                                 attempts=OutboxMessage.attempts - 1, error_code=sms.UNREACHABLE,
                                 error_message="provider unreachable", updated_at=now_utc()))
    stats.put_back += len(back)


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
    push_first.after_push([(m, r) for m, r in outcomes if m.id in held and m.channel == push.PUSH],
                          failed=[mid for mid in failed if mid in held], at=now)
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
    return registry.periodic_tasks_of(app)


def _lock_key(name: str) -> int:
    return zlib.crc32(name.encode()) - 2**31  # a signed int4


def _try_task_lock(name: str) -> bool:
    """PostgreSQL: this task's advisory lock for the current transaction, if nobody else holds it."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: one worker
    return bool(db.session.scalar(text("SELECT pg_try_advisory_xact_lock(CAST(:ns AS integer), CAST(:k AS integer))"),
                                  {"ns": PERIODIC_LOCK_NAMESPACE, "k": _lock_key(name)}))


def run_periodic(name: str, fn, stats: WorkerStats) -> None:
    """Run one task in its own transaction; an exception is logged and rolled back, never raised (except a database
    outage, which is the loop's to wait out)."""
    db.session.rollback()  # start clean: the task's transaction is its own
    try:
        if not _try_task_lock(name):
            db.session.rollback()
            stats.periodic_skipped[name] = stats.periodic_skipped.get(name, 0) + 1
            metrics.PERIODIC_RUNS.labels(name, "skipped").inc()
            return
        result = fn()
        db.session.commit()
    except Exception as exc:  # noqa: BLE001
        discard_session()
        if is_transient(exc):
            raise  # the database is out, not the task: the loop waits for it (and says so once)
        stats.periodic_failures[name] = stats.periodic_failures.get(name, 0) + 1
        metrics.PERIODIC_RUNS.labels(name, "failed").inc()
        # The class only: an exception's text can quote rows (names, numbers) and must not reach the logs.
        log.error("periodic task %s failed (%s); rolled back, will run again next time", name, type(exc).__name__)
        return
    stats.periodic_runs[name] = stats.periodic_runs.get(name, 0) + 1
    metrics.PERIODIC_RUNS.labels(name, "ok").inc()
    if name == ESCALATE_TASK and isinstance(result, int):
        stats.escalations += result


# ------------------------------------------------------------------------------------------------------ loop


class Outage:
    """An outage of something the worker needs (the database, the SMS provider, a push service): logged once when it
    starts and once when it ends, whatever its length, with a capped and jittered back-off between tries meanwhile."""

    def __init__(self, what: str, started: str):
        self.what, self.started = what, started
        self.since: float | None = None
        self.tries = 0

    def failed(self, reason: str, cap: float) -> float:
        """Seconds to wait before trying again."""
        if self.since is None:
            self.since, self.tries = time.monotonic(), 0
            log.error(self.started, reason, cap)
        self.tries += 1
        return min(cap, 0.5 * 2 ** min(self.tries - 1, 16)) * random.uniform(0.5, 1.0)

    def recovered(self) -> None:
        if self.since is not None:
            log.warning("%s is back after %.1f s (%d tries); the worker carries on", self.what,
                        time.monotonic() - self.since, self.tries)
            self.since = None


# One worker per process: an outage is a fact about the process, so a later run() still says when it ends.
DATABASE = Outage("database", "database unavailable (%s); the worker keeps trying (at most %s s apart) and "
                              "resumes by itself")
# Per channel: a push service out of reach must not hold up texts, nor Twilio the pushes.
PROVIDERS = {
    service.SMS: Outage("SMS provider", "SMS provider unreachable (%s); texts stay queued without using an attempt, "
                                        "trying again at most %s s apart"),
    push.PUSH: Outage("push service", "push service unreachable (%s); pushes stay queued without using an attempt, "
                                      "trying again at most %s s apart"),
}


def discard_session() -> None:
    """Forget the current transaction even if its connection is dead (the pool pings before the next use)."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001  (the connection is gone: nothing to roll back)
        db.session.close()


def beat(wid: str, started_at) -> None:
    """This worker is alive (commits). /healthz reads the newest beat; rows of workers gone a week are pruned."""
    now = now_utc()
    found = db.session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == wid)
                               .values(beat_at=now)).rowcount
    if not found:
        db.session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < now - timedelta(days=7)))
        db.session.add(WorkerHeartbeat(worker_id=wid, started_at=started_at, beat_at=now))
    db.session.commit()


def health(app=None) -> tuple[bool, dict]:
    """For /healthz: has a worker beaten within ``NOTIFICATIONS_WORKER_STALE_SECONDS``?"""
    stale = float((app or current_app).config.get("NOTIFICATIONS_WORKER_STALE_SECONDS", 60))
    last = db.session.scalar(select(func.max(WorkerHeartbeat.beat_at)))
    if last is None:
        return False, {"status": "never seen", "stale_after_seconds": stale}
    age = max(0.0, (now_utc() - last).total_seconds())
    live = db.session.scalar(select(func.count()).select_from(WorkerHeartbeat)
                             .where(WorkerHeartbeat.beat_at >= now_utc() - timedelta(seconds=stale)))
    ok = age <= stale
    return ok, {"status": "running" if ok else "stale", "last_seen_seconds": round(age, 1), "workers": live,
                "stale_after_seconds": stale}


def _reason(exc: BaseException) -> str:
    """The error class and the driver's first line (e.g. "server closed the connection unexpectedly"): says what
    happened without quoting statements or values."""
    first = str(getattr(exc, "orig", None) or "").strip().splitlines()[:1]
    return type(exc).__name__ + (f": {first[0][:160]}" if first else "")


def _collect(in_flight: dict, timeout: float) -> list[tuple[Claimed, sms.SendResult | None]]:
    """Wait up to ``timeout`` for at least one send to finish; their outcomes (no database needed)."""
    if not in_flight:
        time.sleep(timeout)
        return []
    finished, _ = wait(list(in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
    return [(in_flight.pop(f), f.result()) for f in finished]


def run(*, once: bool = False, max_seconds: float | None = None, batch: int = 20, idle_sleep: float = 1.0,
        periodic_every: float | None = None, wid: str | None = None,
        concurrency: int | None = None) -> WorkerStats:
    """Deliver until stopped, running the periodic tasks when due. ``once``: until nothing is due (the periodic
    tasks run once, first). ``max_seconds``: stop after that long. ``periodic_every``: seconds between runs of
    each periodic task (default ``NOTIFICATIONS_PERIODIC_SECONDS``).

    The worker holds only what it is sending: it claims (at most ``batch`` at a time) only as many texts as it has
    free senders, and records each outcome as it arrives, so a worker killed mid-run leaves at most its in-flight
    texts to its lease (those may go out twice) and nothing else. A database or provider outage of any length is
    waited out (logged once, capped back-off); outcomes that arrive meanwhile are kept and recorded when it ends."""
    app = current_app._get_current_object()
    cfg = app.config
    every = periodic_every if periodic_every is not None else float(cfg.get("NOTIFICATIONS_PERIODIC_SECONDS", 60))
    concurrency = max(1, int(concurrency or cfg.get("NOTIFICATIONS_SEND_CONCURRENCY", 8)))
    beat_every = float(cfg.get("NOTIFICATIONS_HEARTBEAT_SECONDS", 5))
    db_cap = float(cfg.get("NOTIFICATIONS_DB_RETRY_CAP_SECONDS", 5))
    provider_cap = float(cfg.get("NOTIFICATIONS_PROVIDER_RETRY_CAP_SECONDS", 60))
    wid = wid or worker_id()
    stats = WorkerStats()
    config = sms.sms_config()
    client = sms.make_client(config) if config else None
    pconfig = push.push_config()
    pusher = push.Sender(pconfig) if pconfig else None
    channels = tuple(c for c, on in ((service.SMS, client), (push.PUSH, pusher)) if on)
    # Each channel has its own number of sends in flight: push services take many at once, Twilio fewer.
    limits = {service.SMS: concurrency,
              push.PUSH: max(1, int(cfg.get("NOTIFICATIONS_PUSH_CONCURRENCY", 32)))}
    pool = ThreadPoolExecutor(sum(limits[c] for c in channels), thread_name_prefix="send") if channels else None
    lease = float(cfg.get("NOTIFICATIONS_LEASE_SECONDS", 30))
    if config and lease < 3 * config.timeout:  # a send may take a connect and a read timeout, then it is recorded
        log.warning("NOTIFICATIONS_LEASE_SECONDS (%s) is short for TWILIO_TIMEOUT_SECONDS (%s): use 3x or more",
                    lease, config.timeout)
    started, started_at = time.monotonic(), now_utc()
    next_run: dict[str, float] = {}
    in_flight: dict = {}  # future -> Claimed
    done: list = []  # outcomes not recorded yet (kept across a database outage)
    next_beat = 0.0
    claim_after = dict.fromkeys(channels, 0.0)  # per channel: backing off while its provider is out of reach
    try:
        while max_seconds is None or time.monotonic() - started < max_seconds:
            claimed = []
            try:
                if done:
                    answered = record_outcomes(done, wid, stats)
                    done = []
                    for channel, ok in answered.items():
                        if ok:
                            PROVIDERS[channel].recovered()
                        else:
                            claim_after[channel] = time.monotonic() + PROVIDERS[channel].failed(sms.UNREACHABLE,
                                                                                                provider_cap)
                if time.monotonic() >= next_beat:
                    beat(wid, started_at)
                    next_beat = time.monotonic() + beat_every
                for name, fn in periodic_tasks(app):
                    if time.monotonic() >= next_run.get(name, 0.0):
                        run_periodic(name, fn, stats)
                        next_run[name] = time.monotonic() + every
                for channel in (c for c in channels if time.monotonic() >= claim_after[c]):
                    free = limits[channel] - sum(1 for m in in_flight.values() if m.channel == channel)
                    if free > 0:
                        got = claim_batch(wid, min(batch, free), (channel,))
                        claimed += got
                        stats.claimed += len(got)
                        in_flight.update({pool.submit(_send_one, m, client, config, pusher): m for m in got})
                DATABASE.recovered()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                discard_session()
                done += _collect(in_flight, DATABASE.failed(_reason(exc), db_cap))
                continue
            if in_flight:
                done += _collect(in_flight, beat_every)
            elif not claimed and not done:
                if once:
                    break
                wait = min(claim_after.values(), default=0.0) - time.monotonic()
                time.sleep(max(0.0, min(idle_sleep, wait)) or idle_sleep)
    finally:
        _finish(in_flight, done, wid, stats, pool)
        if pusher is not None:
            pusher.close()
    return stats


def _finish(in_flight: dict, done: list, wid: str, stats: WorkerStats, pool) -> None:
    """Stopping (or interrupted): let the sends in flight end and record what is known, if the database lets us."""
    if pool is not None:
        pool.shutdown(wait=True)
    done += [(m, f.result()) for f, m in in_flight.items()]
    if done:
        try:
            record_outcomes(done, wid, stats)
        except Exception as exc:  # noqa: BLE001
            log.error("stopping: could not record %d outcome(s) (%s); they come back after their lease", len(done),
                      type(exc).__name__)


class OutboxCollector:
    """Prometheus: how many messages wait in the outbox and how long the oldest has waited (read at scrape time
    from the shared database, so every node reports the cluster's figure)."""

    def __init__(self, app):
        self.app = app

    def collect(self):

        waiting = OutboxMessage.state.in_([OutboxState.pending, OutboxState.sending])
        due = or_(OutboxMessage.state == OutboxState.sending, OutboxMessage.next_attempt_at <= now_utc())
        try:  # messages held for quiet hours or a retry backoff count in the depth, not in the age
            depth = db.session.scalar(select(func.count()).where(waiting))
            oldest = db.session.scalar(select(func.min(OutboxMessage.created_at)).where(waiting, due))
        finally:
            db.session.rollback()
        age = max(0.0, (now_utc() - oldest).total_seconds()) if oldest else 0.0
        yield GaugeMetricFamily("shiftbridge_outbox_depth", "Outbox messages waiting to be sent", value=depth)
        yield GaugeMetricFamily("shiftbridge_outbox_oldest_pending_seconds",
                                "Age of the oldest outbox message waiting to be sent", value=age)
