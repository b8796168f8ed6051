"""The worker outlives database and provider outages and a kill -9; /healthz says when no worker has run lately.

The outage and kill tests run a real ``flask notifications worker`` process (this checkout's code) against the
test's database and the local fake Twilio, and make PostgreSQL really refuse connections to the test's own database.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from core.db import db, now_utc
from notifications import worker
from notifications.models import OutboxMessage, OutboxState, WorkerHeartbeat
from notifications.service import SMS, notify
from tests.notifications.worker_process import Outage, WorkerProcess, wait_until


def _queue(make, n: int, prefix: str) -> list[str]:
    people = [make.user(mobile=f"{prefix}{i:02d}") for i in range(n)]
    numbers = [p.mobile for p in people]
    notify([p.id for p in people], kind="k", text="Cover needed tonight", channels=(SMS,), urgent=True)
    db.session.commit()  # and no transaction left open: on SQLite it would hold the write lock the worker needs
    return numbers


def _states() -> Counter:
    db.session.rollback()  # a fresh snapshot each time...
    counts = Counter(dict(db.session.execute(select(OutboxMessage.state, func.count())
                                             .group_by(OutboxMessage.state)).all()))
    db.session.rollback()  # ...and no transaction left open (on SQLite it holds the write lock)
    return counts


def _all_sent(total: int):
    return lambda: _states().get(OutboxState.sent, 0) == total


def test_the_worker_survives_a_database_outage_and_sends_everything_after_it(make, fake_twilio, engine_name,
                                                                             database_url):
    """Item 1: killed connections and a database refusing connections for a while neither stop the worker nor lose
    a text; it logs the outage once and resumes by itself."""
    if engine_name != "postgresql":
        pytest.skip("a database outage is a PostgreSQL event (ALLOW_CONNECTIONS false + terminated backends)")
    fake_twilio.latency_seconds = 0.05
    before = _queue(make, 30, "+4477009005")
    proc = WorkerProcess(database_url, fake_twilio.url, "--concurrency", "3", "--batch", "5",
                         NOTIFICATIONS_PERIODIC_SECONDS="0.5", NOTIFICATIONS_DB_RETRY_CAP_SECONDS="1")
    outage = Outage(database_url)
    try:
        wait_until(lambda: len(fake_twilio.accepted) >= 5, what="the first texts")
        db.session.remove()
        outage.begin()
        # Down for a while: the worker keeps trying (sends it had started finish; their outcomes wait in memory).
        wait_until(lambda: "database unavailable" in proc.output(), what="the worker to notice the outage")
        accepted_during = len(fake_twilio.accepted)
        time.sleep(3)  # an outage of some length (the worker backs off meanwhile)
        assert proc.alive(), proc.output()[-3000:]
        assert len(fake_twilio.accepted) <= accepted_during + 3  # nothing new is claimed while the database is out
        outage.end()
        after = _queue(make, 10, "+4477009006")  # queued once the database is back
        wait_until(_all_sent(40), timeout=90, what="every text to be sent")
        assert proc.alive(), proc.output()[-3000:]
    finally:
        outage.close()
        output = proc.output()
        proc.close()
    counts = Counter(m["To"] for m in fake_twilio.accepted)
    assert set(counts) == set(before + after)  # none lost
    assert max(counts.values()) == 1  # the outcomes of sends made during the outage were recorded when it ended
    # Logged once for the outage (not once per retry, nor once per periodic task), and once when it ended.
    assert output.count("database unavailable") == 1, output[-3000:]
    assert output.count("database is back") == 1, output[-3000:]
    assert "periodic task" not in output and "Traceback" not in output  # no error per task or per try


def test_kill_9_mid_batch_duplicates_at_most_the_texts_in_flight_and_loses_none(make, fake_twilio, database_url):
    """Item 16: each outcome is recorded as it arrives, and a worker holds only the texts it is sending; after a
    kill -9, at most the texts that were in flight go out twice, none is lost, and texts it had not started are not
    stuck behind its lease."""
    fake_twilio.latency_seconds = 0.2
    numbers = _queue(make, 60, "+4477009007")
    in_flight = 4
    proc = WorkerProcess(database_url, fake_twilio.url, "--concurrency", str(in_flight), "--batch", "20",
                         NOTIFICATIONS_LEASE_SECONDS="6")
    try:
        wait_until(lambda: len(fake_twilio.accepted) >= 14 or not proc.alive(), what="texts to be sent",
                   output=proc.output)
        assert proc.alive(), proc.output()[-3000:]
        proc.kill9()
        states = _states()
        # Only what was in flight is held by the dead worker; the rest is due now, not after its lease.
        assert states.get(OutboxState.sending, 0) <= in_flight, states
        recorded = states.get(OutboxState.sent, 0)
        accepted_at_kill = len(fake_twilio.accepted)
        assert accepted_at_kill - recorded <= in_flight, (accepted_at_kill, recorded)
        second = WorkerProcess(database_url, fake_twilio.url, "--concurrency", str(in_flight), "--batch", "20",
                               NOTIFICATIONS_LEASE_SECONDS="6")
        try:
            wait_until(_all_sent(60), timeout=120, what="every text to be sent")
        finally:
            second.close()
    finally:
        proc.close()
    counts = Counter(m["To"] for m in fake_twilio.accepted)
    assert set(counts) == set(numbers)  # losses: 0
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= in_flight, counts.most_common(8)


def test_a_provider_outage_burns_no_attempts_and_the_texts_go_out_when_it_is_back(app, make, fake_twilio, caplog,
                                                                                   monkeypatch):
    """Item 1 (provider side): while Twilio cannot be reached at all, texts are put back without using up their
    attempts (they would otherwise fail for good after NOTIFICATIONS_MAX_ATTEMPTS), the worker backs off and says
    so once, and sends everything when the provider is back."""
    monkeypatch.setattr(worker.log, "disabled", False)  # alembic's fileConfig (run in-process by the fixtures)
    app.config.update(NOTIFICATIONS_MAX_ATTEMPTS=2, TWILIO_API_BASE_URL="http://127.0.0.1:9",
                      NOTIFICATIONS_PROVIDER_RETRY_CAP_SECONDS=0.2)
    numbers = _queue(make, 3, "+4477009008")
    with caplog.at_level(logging.INFO, logger="notifications.worker"):
        # 6 s: two rounds of claims need ~0.5 s idle; under CI's load (three test processes on two cores) 1.5 s
        # once held only one round.
        stats = worker.run(max_seconds=6, idle_sleep=0.05)
    assert stats.claimed >= 6  # tried again and again...
    rows = list(db.session.scalars(select(OutboxMessage)))
    assert {r.state for r in rows} == {OutboxState.pending} and {r.attempts for r in rows} == {0}  # ...for free
    assert caplog.text.count("SMS provider unreachable") == 1
    app.config["TWILIO_API_BASE_URL"] = fake_twilio.url
    db.session.execute(update(OutboxMessage).values(next_attempt_at=now_utc()))
    db.session.commit()
    with caplog.at_level(logging.INFO, logger="notifications.worker"):
        stats = worker.run(once=True)
    assert stats.sent == 3 and sorted(m["To"] for m in fake_twilio.accepted) == sorted(numbers)
    assert "SMS provider is back" in caplog.text


def test_healthz_says_when_no_worker_has_run_lately(app, client, make, fake_twilio):
    """Item 1: a worker writes a heartbeat; /healthz says whether one ran lately; /healthz/worker answers 503 when
    none has (for the monitor), while /healthz stays 200 for the load balancer as long as the database answers."""
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json["status"] == "degraded" and resp.json["worker"]["status"] == "never seen"
    assert client.get("/healthz/worker").status_code == 503
    worker.run(once=True)
    resp = client.get("/healthz")
    assert resp.json["status"] == "ok" and resp.json["worker"]["status"] == "running", resp.json
    assert client.get("/healthz/worker").status_code == 200
    stale = app.config["NOTIFICATIONS_WORKER_STALE_SECONDS"]
    db.session.execute(update(WorkerHeartbeat).values(beat_at=now_utc() - timedelta(seconds=stale + 5)))
    db.session.commit()
    resp = client.get("/healthz/worker")
    assert resp.status_code == 503 and resp.json["worker"]["status"] == "stale"
    assert resp.json["worker"]["last_seen_seconds"] >= stale
